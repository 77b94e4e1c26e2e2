//! Every metric the producer reports: its Kafka group and name, whether it
//! is a gauge or a counter, and its description (the Java client's text
//! where it has one).

use super::MetricKind;

/// The Java client's group of client-level metrics (JMX
/// `kafka.producer:type=producer-metrics,client-id=...`).
pub const PRODUCER_GROUP: &str = "producer-metrics";
/// The group of per-topic metrics (tag `topic`).
pub const TOPIC_GROUP: &str = "producer-topic-metrics";
/// The group of per-broker metrics (tag `node-id`, `node-<id>`).
pub const NODE_GROUP: &str = "producer-node-metrics";

/// One metric's definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Def {
    pub group: &'static str,
    pub name: &'static str,
    pub kind: MetricKind,
    pub help: &'static str,
}

macro_rules! defs {
    ($($id:ident = $group:ident $kind:ident $name:literal $help:literal;)*) => {
        $(pub(crate) const $id: Def =
            Def { group: $group, name: $name, kind: MetricKind::$kind, help: $help };)*
        /// Every definition, in the order of the snapshot.
        pub(crate) const ALL: &[Def] = &[$($id),*];
    };
}

defs! {
    // Sender (SenderMetricsRegistry).
    RECORD_SEND_RATE = PRODUCER_GROUP Gauge "record-send-rate"
        "The average number of records sent per second.";
    RECORD_SEND_TOTAL = PRODUCER_GROUP Counter "record-send-total"
        "The total number of records sent.";
    RECORD_RETRY_RATE = PRODUCER_GROUP Gauge "record-retry-rate"
        "The average per-second number of retried record sends";
    RECORD_RETRY_TOTAL = PRODUCER_GROUP Counter "record-retry-total"
        "The total number of retried record sends";
    RECORD_ERROR_RATE = PRODUCER_GROUP Gauge "record-error-rate"
        "The average per-second number of record sends that resulted in errors";
    RECORD_ERROR_TOTAL = PRODUCER_GROUP Counter "record-error-total"
        "The total number of record sends that resulted in errors";
    RECORD_QUEUE_TIME_AVG = PRODUCER_GROUP Gauge "record-queue-time-avg"
        "The average time in ms record batches spent in the send buffer.";
    RECORD_QUEUE_TIME_MAX = PRODUCER_GROUP Gauge "record-queue-time-max"
        "The maximum time in ms record batches spent in the send buffer.";
    REQUEST_LATENCY_AVG = PRODUCER_GROUP Gauge "request-latency-avg"
        "The average request latency in ms";
    REQUEST_LATENCY_MAX = PRODUCER_GROUP Gauge "request-latency-max"
        "The maximum request latency in ms";
    REQUESTS_IN_FLIGHT = PRODUCER_GROUP Gauge "requests-in-flight"
        "The current number of in-flight requests awaiting a response.";
    BATCH_SIZE_AVG = PRODUCER_GROUP Gauge "batch-size-avg"
        "The average number of bytes sent per partition per-request.";
    BATCH_SIZE_MAX = PRODUCER_GROUP Gauge "batch-size-max"
        "The max number of bytes sent per partition per-request.";
    RECORDS_PER_REQUEST_AVG = PRODUCER_GROUP Gauge "records-per-request-avg"
        "The average number of records per request.";
    COMPRESSION_RATE_AVG = PRODUCER_GROUP Gauge "compression-rate-avg"
        "The average compression rate of record batches, defined as the average ratio of the \
         compressed batch size over the uncompressed size.";
    BATCH_SPLIT_RATE = PRODUCER_GROUP Gauge "batch-split-rate"
        "The average number of batch splits per second";
    BATCH_SPLIT_TOTAL = PRODUCER_GROUP Counter "batch-split-total"
        "The total number of batch splits";
    PRODUCE_THROTTLE_TIME_AVG = PRODUCER_GROUP Gauge "produce-throttle-time-avg"
        "The average time in ms a request was throttled by a broker";
    PRODUCE_THROTTLE_TIME_MAX = PRODUCER_GROUP Gauge "produce-throttle-time-max"
        "The maximum time in ms a request was throttled by a broker";
    METADATA_AGE = PRODUCER_GROUP Gauge "metadata-age"
        "The age in seconds of the current producer metadata being used.";
    // RecordAccumulator and BufferPool.
    BUFFER_TOTAL_BYTES = PRODUCER_GROUP Gauge "buffer-total-bytes"
        "The maximum amount of buffer memory the client can use (whether or not it is currently used).";
    BUFFER_AVAILABLE_BYTES = PRODUCER_GROUP Gauge "buffer-available-bytes"
        "The total amount of buffer memory that is not being used (either unallocated or in the free list).";
    WAITING_THREADS = PRODUCER_GROUP Gauge "waiting-threads"
        "The number of user threads blocked waiting for buffer memory to enqueue their records";
    BUFFERPOOL_WAIT_RATIO = PRODUCER_GROUP Gauge "bufferpool-wait-ratio"
        "The fraction of time an appender waits for space allocation.";
    BUFFERPOOL_WAIT_TIME_TOTAL = PRODUCER_GROUP Counter "bufferpool-wait-time-total"
        "*Deprecated* The total time an appender waits for space allocation.";
    BUFFERPOOL_WAIT_TIME_NS_TOTAL = PRODUCER_GROUP Counter "bufferpool-wait-time-ns-total"
        "The total time in nanoseconds an appender waits for space allocation.";
    BUFFER_EXHAUSTED_RATE = PRODUCER_GROUP Gauge "buffer-exhausted-rate"
        "The average per-second number of record sends that are dropped due to buffer exhaustion";
    BUFFER_EXHAUSTED_TOTAL = PRODUCER_GROUP Counter "buffer-exhausted-total"
        "The total number of record sends that are dropped due to buffer exhaustion";
    // Network (the Java client's Selector), for Produce requests.
    CONNECTION_COUNT = PRODUCER_GROUP Gauge "connection-count"
        "The current number of active connections.";
    REQUEST_RATE = PRODUCER_GROUP Gauge "request-rate"
        "The number of requests sent per second";
    REQUEST_TOTAL = PRODUCER_GROUP Counter "request-total"
        "The total number of requests sent";
    REQUEST_SIZE_AVG = PRODUCER_GROUP Gauge "request-size-avg"
        "The average size of requests sent.";
    REQUEST_SIZE_MAX = PRODUCER_GROUP Gauge "request-size-max"
        "The maximum size of any request sent.";
    OUTGOING_BYTE_RATE = PRODUCER_GROUP Gauge "outgoing-byte-rate"
        "The number of outgoing bytes sent to all servers per second";
    OUTGOING_BYTE_TOTAL = PRODUCER_GROUP Counter "outgoing-byte-total"
        "The total number of outgoing bytes sent to all servers";
    CONNECTION_CREATION_RATE = PRODUCER_GROUP Gauge "connection-creation-rate"
        "New connections established per second";
    CONNECTION_CREATION_TOTAL = PRODUCER_GROUP Counter "connection-creation-total"
        "The total number of new connections established";
    RESPONSE_RATE = PRODUCER_GROUP Gauge "response-rate"
        "The number of responses received per second";
    RESPONSE_TOTAL = PRODUCER_GROUP Counter "response-total"
        "The total number of responses received";
    INCOMING_BYTE_RATE = PRODUCER_GROUP Gauge "incoming-byte-rate"
        "The number of bytes read off all sockets per second";
    INCOMING_BYTE_TOTAL = PRODUCER_GROUP Counter "incoming-byte-total"
        "The total number of bytes read off all sockets";

    // Per topic.
    TOPIC_RECORD_SEND_RATE = TOPIC_GROUP Gauge "record-send-rate"
        "The average number of records sent per second for a topic.";
    TOPIC_RECORD_SEND_TOTAL = TOPIC_GROUP Counter "record-send-total"
        "The total number of records sent for a topic.";
    TOPIC_BYTE_RATE = TOPIC_GROUP Gauge "byte-rate"
        "The average number of bytes sent per second for a topic.";
    TOPIC_BYTE_TOTAL = TOPIC_GROUP Counter "byte-total"
        "The total number of bytes sent for a topic.";
    TOPIC_COMPRESSION_RATE = TOPIC_GROUP Gauge "compression-rate"
        "The average compression rate of record batches for a topic, defined as the average ratio \
         of the compressed batch size over the uncompressed size.";
    TOPIC_RECORD_RETRY_RATE = TOPIC_GROUP Gauge "record-retry-rate"
        "The average per-second number of retried record sends for a topic";
    TOPIC_RECORD_RETRY_TOTAL = TOPIC_GROUP Counter "record-retry-total"
        "The total number of retried record sends for a topic";
    TOPIC_RECORD_ERROR_RATE = TOPIC_GROUP Gauge "record-error-rate"
        "The average per-second number of record sends that resulted in errors for a topic";
    TOPIC_RECORD_ERROR_TOTAL = TOPIC_GROUP Counter "record-error-total"
        "The total number of record sends that resulted in errors for a topic";

    // Per broker.
    NODE_REQUEST_RATE = NODE_GROUP Gauge "request-rate"
        "The number of requests sent per second";
    NODE_REQUEST_TOTAL = NODE_GROUP Counter "request-total"
        "The total number of requests sent";
    NODE_REQUEST_SIZE_AVG = NODE_GROUP Gauge "request-size-avg"
        "The average size of requests sent.";
    NODE_REQUEST_SIZE_MAX = NODE_GROUP Gauge "request-size-max"
        "The maximum size of any request sent.";
    NODE_OUTGOING_BYTE_RATE = NODE_GROUP Gauge "outgoing-byte-rate"
        "The number of outgoing bytes per second";
    NODE_OUTGOING_BYTE_TOTAL = NODE_GROUP Counter "outgoing-byte-total"
        "The total number of outgoing bytes";
    NODE_RESPONSE_RATE = NODE_GROUP Gauge "response-rate"
        "The number of responses received per second";
    NODE_RESPONSE_TOTAL = NODE_GROUP Counter "response-total"
        "The total number of responses received";
    NODE_INCOMING_BYTE_RATE = NODE_GROUP Gauge "incoming-byte-rate"
        "The number of incoming bytes per second";
    NODE_INCOMING_BYTE_TOTAL = NODE_GROUP Counter "incoming-byte-total"
        "The total number of incoming bytes";
    NODE_REQUEST_LATENCY_AVG = NODE_GROUP Gauge "request-latency-avg"
        "The average request latency in ms of requests to this broker";
    NODE_REQUEST_LATENCY_MAX = NODE_GROUP Gauge "request-latency-max"
        "The maximum request latency in ms of requests to this broker";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_group_and_counters_end_in_total() {
        let mut seen = std::collections::HashSet::new();
        for d in ALL {
            assert!(seen.insert((d.group, d.name)), "{} {}", d.group, d.name);
            assert_eq!(d.kind == MetricKind::Counter, d.name.ends_with("-total"), "{}", d.name);
            assert!(d.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{}", d.name);
        }
    }
}
