//! Metrics: the [`ProducerMetrics`] snapshot, every figure under the Java
//! client's names ([`KafkaMetric`]), Prometheus text, and the statistics
//! callback.
//!
//! [`Producer::metrics`](crate::Producer::metrics) returns a snapshot. Its
//! fields are this crate's own figures (lifetime counts, percentiles); its
//! [`kafka_metrics`](ProducerMetrics::kafka_metrics) are the Java
//! producer's metrics, per producer, per topic and per broker, with the
//! same groups, names, tags and arithmetic, so that dashboards and alerts
//! built for Java producers work unchanged:
//!
//! ```no_run
//! # use kafka_sync::{Producer, ProducerConfig};
//! # let producer = Producer::new(ProducerConfig::builder().bootstrap_servers("127.0.0.1:9092").build()?)?;
//! let m = producer.metrics();
//! println!("{} records/s", m.kafka_metric("record-send-rate").unwrap_or(0.0));
//! println!("{:?} bytes to orders", m.topic_metric("orders", "byte-total"));
//! println!("{:?} ms to broker 1", m.node_metric(1, "request-latency-avg"));
//! for k in m.kafka_metrics() {
//!     // producer-metrics:record-send-total:{client-id=kafka-sync} = 1000
//!     println!("{k}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How the figures are computed
//!
//! As in the Java client (`org.apache.kafka.common.metrics`):
//!
//! - `*-total` metrics are cumulative counts since the producer started
//!   (Prometheus counters).
//! - `*-rate` metrics are a windowed sum divided by the time the window
//!   covers: the last `metrics.num.samples` samples of
//!   `metrics.sample.window.ms` each (2 x 30 s by default), and never less
//!   than `num.samples - 1` whole windows. So a producer that sent 3100
//!   records in its first second reports 100 records/s (3100 / 31 s), and
//!   one that stopped a minute ago reports 0 while its total stays.
//! - `*-avg` and `*-max` are the mean and largest value recorded in the same
//!   window; **NaN** when nothing was recorded in it (as Java reports them).
//! - The rest are gauges read when the snapshot is taken.
//!
//! Times are milliseconds (with a fractional part: Java rounds down to
//! whole milliseconds), sizes are bytes, `bufferpool-wait-time-total` and
//! `bufferpool-wait-time-ns-total` are nanoseconds.
//!
//! The engine updates these figures per batch and per request, never per
//! record, from what the batch already knows (its record count, its size
//! before and after compression, when it was created and drained).
//!
//! # The metrics
//!
//! Every metric is tagged `client-id`. Group `producer-metrics`:
//!
//! | name | what |
//! |---|---|
//! | `record-send-rate`, `record-send-total` | records written in Produce requests (each attempt counts, as in Java) |
//! | `record-retry-rate`, `record-retry-total` | records of batches put back for another attempt |
//! | `record-error-rate`, `record-error-total` | records that failed for good (broker error, timeout, close) |
//! | `record-queue-time-avg`, `-max` | ms from a batch's creation to its (latest) drain into a request |
//! | `request-latency-avg`, `-max` | ms from writing a Produce request to reading its response |
//! | `requests-in-flight` | Produce requests written and not answered |
//! | `batch-size-avg`, `-max` | bytes of each batch as sent (compressed, with its 61-byte header) |
//! | `records-per-request-avg` | records per Produce request |
//! | `compression-rate-avg` | compressed / uncompressed size of the batches' records (1.0 without compression) |
//! | `batch-split-rate`, `batch-split-total` | batches split in two after `MESSAGE_TOO_LARGE` |
//! | `produce-throttle-time-avg`, `-max` | ms brokers asked the producer to hold off (quotas, KIP-219); every response counts |
//! | `metadata-age` | seconds since the last successful metadata refresh (absent before the first) |
//! | `buffer-total-bytes`, `buffer-available-bytes` | `buffer.memory`, and what of it is free |
//! | `waiting-threads` | threads blocked in `send` waiting for buffer memory |
//! | `bufferpool-wait-ratio` | fraction of the window senders spent blocked for memory |
//! | `bufferpool-wait-time-total`, `bufferpool-wait-time-ns-total` | ns senders spent blocked for memory |
//! | `buffer-exhausted-rate`, `buffer-exhausted-total` | sends refused because memory stayed full (`max.block.ms`, or `try_send`) |
//! | `connection-count` | open broker connections (the metadata connection included) |
//! | `connection-creation-rate`, `connection-creation-total` | connections established (broker and metadata) |
//! | `request-rate`, `request-total`, `request-size-avg`, `-max` | Produce requests written, and their size in bytes |
//! | `outgoing-byte-rate`, `outgoing-byte-total` | bytes of Produce requests written |
//! | `response-rate`, `response-total` | Produce responses read |
//! | `incoming-byte-rate`, `incoming-byte-total` | bytes of Produce responses read |
//!
//! Group `producer-topic-metrics`, tags `client-id` and `topic` (for topics
//! with at least one batch sent or failed): `record-send-rate`,
//! `record-send-total`, `byte-rate`, `byte-total` (batch bytes as sent,
//! like `batch-size`), `compression-rate`, `record-retry-rate`,
//! `record-retry-total`, `record-error-rate`, `record-error-total`.
//!
//! Group `producer-node-metrics`, tags `client-id` and `node-id`
//! (`node-<broker id>`, for each broker the producer started an I/O thread
//! for): `request-rate`, `request-total`, `request-size-avg`,
//! `request-size-max`, `outgoing-byte-rate`, `outgoing-byte-total`,
//! `response-rate`, `response-total`, `incoming-byte-rate`,
//! `incoming-byte-total`, `request-latency-avg`, `request-latency-max`.
//!
//! Differences from the Java client: the request, response and byte
//! figures count Produce requests only (Java's network layer counts every
//! request, Metadata and ApiVersions included); `record-error-*` per topic
//! also counts batches that failed before their first request (Java
//! registers a topic's metrics at its first request). Java metrics not
//! reported: `record-size-avg`/`-max` (they would cost a comparison per
//! record), `io-*`, `select-*`, `network-io-*`, authentication and
//! connection creation/close rates, and the transaction timings.
//!
//! # Prometheus
//!
//! [`ProducerMetrics::to_prometheus`] (one producer) and [`prometheus_text`]
//! (several) write the [text exposition format] (version 0.0.4) with the
//! names the Prometheus JMX exporter's usual Kafka rules give: `kafka_producer_`,
//! the group, the name, hyphens as underscores; tags become labels
//! (`client_id`, `topic`, `node_id`).
//!
//! ```text
//! # HELP kafka_producer_producer_topic_metrics_byte_rate The average number of bytes sent per second for a topic.
//! # TYPE kafka_producer_producer_topic_metrics_byte_rate gauge
//! kafka_producer_producer_topic_metrics_byte_rate{client_id="orders-api",topic="orders"} 5093.2
//! ```
//!
//! Serve it from whatever HTTP server the program has; with none, a
//! listener thread is enough:
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::sync::Arc;
//! # use kafka_sync::{Producer, ProducerConfig};
//! # let producer = Arc::new(Producer::new(ProducerConfig::builder().bootstrap_servers("127.0.0.1:9092").build()?)?);
//! let p = producer.clone();
//! std::thread::spawn(move || {
//!     let listener = std::net::TcpListener::bind("0.0.0.0:9464").unwrap();
//!     for conn in listener.incoming() {
//!         let Ok(mut conn) = conn else { continue };
//!         let _ = conn.read(&mut [0u8; 4096]); // the request: any path will do
//!         let body = p.metrics().to_prometheus();
//!         let _ = write!(
//!             conn,
//!             "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
//!             body.len()
//!         );
//!     }
//! });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Statistics callback
//!
//! As librdkafka's `stats_cb`: with `statistics.interval.ms` above 0, a
//! producer thread (`kafka-sync-statistics`, not a broker I/O thread) takes
//! a snapshot every interval and hands it to the callback registered with
//! [`statistics_callback`](crate::ProducerConfigBuilder::statistics_callback).
//! `close` stops and joins that thread. A panic in the callback is caught
//! and logged; the next interval calls it again. Without a callback, the
//! thread logs a one-line summary at debug level (target `kafka_sync::metrics`).
//!
//! ```no_run
//! use std::time::Duration;
//! use kafka_sync::{Producer, ProducerConfig};
//!
//! let config = ProducerConfig::builder()
//!     .bootstrap_servers("127.0.0.1:9092")
//!     .statistics_interval(Duration::from_secs(10)) // or .set("statistics.interval.ms", "10000")
//!     .statistics_callback(|m| {
//!         let rate = m.kafka_metric("record-send-rate").unwrap_or(0.0);
//!         let errors = m.kafka_metric("record-error-total").unwrap_or(0.0);
//!         eprintln!("{rate:.0} records/s, {errors} failed so far");
//!     })
//!     .build()?;
//! let producer = Producer::new(config)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [text exposition format]: https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format

pub(crate) mod defs;
mod prometheus;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::KafkaCode;

pub use defs::{NODE_GROUP, PRODUCER_GROUP, TOPIC_GROUP};
pub use prometheus::prometheus_text;

/// The callback of [`statistics_callback`](crate::ProducerConfigBuilder::statistics_callback).
pub type StatisticsCallback = Arc<dyn Fn(&ProducerMetrics) + Send + Sync>;

/// Whether a metric only grows or goes up and down (its Prometheus type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A value read at the time of the snapshot: rates, averages, maxima,
    /// sizes, counts of things open now.
    Gauge,
    /// A cumulative count since the producer started (`*-total`).
    Counter,
}

impl MetricKind {
    /// `gauge` or `counter`, as in a Prometheus `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
        }
    }
}

/// One metric as the Java client names it: group, name, tags, and value.
///
/// JMX shows it as `kafka.producer:type=<group>,<tag>=<value>,...`
/// attribute `<name>`; Kafka's `--print-metrics` as
/// `<group>:<name>:{<tag>=<value>, ...}`, which is its `Display`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KafkaMetric {
    /// `producer-metrics`, `producer-topic-metrics` or `producer-node-metrics`.
    pub group: &'static str,
    /// The metric's name, e.g. `record-send-rate`.
    pub name: &'static str,
    /// What it measures (the Java client's description where it has one).
    pub description: &'static str,
    /// Gauge or counter.
    pub kind: MetricKind,
    /// The tags, in Java's order: `client-id` first, then `topic` or `node-id`.
    pub tags: Vec<(&'static str, String)>,
    /// The value; NaN for an average or maximum with nothing in its window.
    pub value: f64,
}

impl KafkaMetric {
    /// The value of tag `key`, if the metric has it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for KafkaMetric {
    /// `group:name:{tag=value, ...} = value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{{", self.group, self.name)?;
        for (i, (k, v)) in self.tags.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}={v}")?;
        }
        write!(f, "}} = {}", self.value)
    }
}

/// A snapshot of the producer's metrics ([`Producer::metrics`](crate::Producer::metrics)).
///
/// The fields are this crate's own figures; [`kafka_metrics`](Self::kafka_metrics)
/// are the Java client's (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProducerMetrics {
    /// `client.id`, the tag of every Kafka metric.
    pub client_id: String,
    /// Time since the producer started.
    pub uptime: Duration,
    /// Records acknowledged by the broker (or written, with acks=0).
    pub records_sent: u64,
    /// Records whose delivery failed.
    pub records_failed: u64,
    /// Uncompressed record batch bytes acknowledged.
    pub record_bytes_sent: u64,
    /// Records acknowledged per second, averaged over the uptime (Java's
    /// windowed `record-send-rate` is among the [`kafka_metrics`](Self::kafka_metrics)).
    pub record_send_rate: f64,
    /// Records accepted by `send` whose outcome is not known yet.
    pub records_queued: u64,
    /// Batches acknowledged.
    pub batches_sent: u64,
    /// Batches that failed.
    pub batches_failed: u64,
    /// Average uncompressed size of acknowledged batches, in bytes.
    pub avg_batch_bytes: f64,
    /// Average number of records in acknowledged batches.
    pub avg_records_per_batch: f64,
    /// `avg_batch_bytes / batch.size`: how full batches were when sent.
    pub batch_fill_ratio: f64,
    /// Compressed bytes / uncompressed bytes over acknowledged batches (1.0 uncompressed).
    pub compression_ratio: f64,
    /// Produce requests written.
    pub requests: u64,
    /// Bytes of Produce requests written.
    pub request_bytes: u64,
    /// Produce requests written and not yet answered (or failed).
    pub requests_in_flight: u64,
    /// Average Produce round-trip time.
    pub request_latency_avg: Duration,
    /// 99th percentile of Produce round-trip time (within about 19%).
    pub request_latency_p99: Duration,
    /// Longest Produce round-trip time.
    pub request_latency_max: Duration,
    /// Average `throttle_time_ms` of Produce responses since the start
    /// (Java's `produce-throttle-time-avg` is the windowed one): how long
    /// brokers asked the producer to hold off because of a quota (KIP-219).
    pub produce_throttle_time_avg: Duration,
    /// Largest `throttle_time_ms` of a Produce response since the start.
    pub produce_throttle_time_max: Duration,
    /// Average time from a batch's first record to its acknowledgement.
    pub record_latency_avg: Duration,
    /// 99th percentile of that time (within about 19%).
    pub record_latency_p99: Duration,
    /// Bytes of `buffer.memory` in use.
    pub buffer_used: usize,
    /// `buffer.memory`.
    pub buffer_total: usize,
    /// Batch retries (second and later attempts).
    pub retries: u64,
    /// Error codes brokers returned, with counts.
    pub errors: Vec<(KafkaCode, u64)>,
    /// Idempotent producer ids obtained (1 normally; each reset after a
    /// sequence error adds one; 0 without idempotence).
    pub producer_ids: u64,
    /// Partitions moved to a new leader named in a Produce response
    /// (KIP-951), without waiting for a metadata refresh.
    pub leader_hints: u64,
    /// SASL sessions renewed on open connections (KIP-368): the broker
    /// connections' and the metadata connection's.
    pub reauthentications: u64,
    /// The Java client's metrics, producer first, then topics by name,
    /// then brokers by id.
    pub(crate) kafka: Vec<KafkaMetric>,
}

impl ProducerMetrics {
    /// Every metric under the Java client's group, name and tags: the
    /// producer's, then each topic's (by name), then each broker's (by id).
    /// See the [module documentation](self) for the list.
    pub fn kafka_metrics(&self) -> &[KafkaMetric] {
        &self.kafka
    }

    /// The value of producer-level metric `name` (group `producer-metrics`),
    /// e.g. `record-send-rate`.
    pub fn kafka_metric(&self, name: &str) -> Option<f64> {
        self.find(PRODUCER_GROUP, name, None)
    }

    /// The value of metric `name` of `topic` (group `producer-topic-metrics`),
    /// e.g. `byte-total`; `None` also for a topic nothing was sent to.
    pub fn topic_metric(&self, topic: &str, name: &str) -> Option<f64> {
        self.find(TOPIC_GROUP, name, Some(("topic", topic)))
    }

    /// The value of metric `name` of broker `node_id` (group
    /// `producer-node-metrics`, tag `node-id=node-<node_id>`), e.g.
    /// `request-latency-avg`.
    pub fn node_metric(&self, node_id: i32, name: &str) -> Option<f64> {
        let tag = format!("node-{node_id}");
        self.find(NODE_GROUP, name, Some(("node-id", &tag)))
    }

    fn find(&self, group: &str, name: &str, tag: Option<(&str, &str)>) -> Option<f64> {
        self.kafka
            .iter()
            .find(|m| m.group == group && m.name == name && tag.is_none_or(|(k, v)| m.tag(k) == Some(v)))
            .map(|m| m.value)
    }

    /// The Kafka metrics in the Prometheus text exposition format (see the
    /// [module documentation](self#prometheus)); for several producers in
    /// one scrape, use [`prometheus_text`].
    pub fn to_prometheus(&self) -> String {
        prometheus_text([self])
    }
}
