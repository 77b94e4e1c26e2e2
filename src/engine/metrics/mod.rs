//! What the engine counts, and the snapshot `Producer::metrics` returns.
//!
//! Two kinds of figures, updated per batch or per request (never per
//! record):
//!
//! - this crate's own lifetime counters and histograms (relaxed atomics):
//!   the fields of [`ProducerMetrics`];
//! - the Java client's windowed sensors ([`sensors`], [`stats`]): its
//!   [`kafka_metrics`](ProducerMetrics::kafka_metrics), per producer, per
//!   topic ([`TopicSensors`], reached through the batch) and per broker
//!   ([`NodeSensors`], held by the broker's I/O thread).
//!
//! [`statistics`] runs the `statistics.interval.ms` thread.

pub(crate) mod histogram;
pub(crate) mod sensors;
pub(crate) mod statistics;
pub(crate) mod stats;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use self::histogram::Histogram;
use self::sensors::{Collector, EventStats, NodeRegistry, ResponseStats, SendStats};
pub(crate) use self::sensors::{NodeSensors, TopicRegistry, TopicSensors};
pub(crate) use self::stats::MetricConfig;
use super::accumulator::{Batch, BATCH_OVERHEAD};
use super::Shared;
use crate::error::{DeliveryError, KafkaCode};
use crate::metrics::defs;
use crate::metrics::ProducerMetrics;

/// The engine's counters.
#[derive(Debug)]
pub(crate) struct Metrics {
    started: Instant,
    cfg: MetricConfig,
    records_acked: AtomicU64,
    records_failed: AtomicU64,
    record_bytes_acked: AtomicU64,
    batches_acked: AtomicU64,
    batches_failed: AtomicU64,
    uncompressed_bytes: AtomicU64,
    compressed_bytes: AtomicU64,
    requests: AtomicU64,
    request_bytes: AtomicU64,
    in_flight: AtomicI64,
    retries: AtomicU64,
    leader_hints: AtomicU64,
    reauthentications: AtomicU64,
    errors: Mutex<BTreeMap<i16, u64>>,
    request_latency: Histogram,
    produce_throttle: Histogram,
    record_latency: Histogram,
    /// Java's sensors, one lock each (see [`sensors`]).
    send: Mutex<SendStats>,
    responses: Mutex<ResponseStats>,
    events: Mutex<EventStats>,
    topics: Arc<TopicRegistry>,
    nodes: NodeRegistry,
    /// When metadata was last refreshed (ms since `started`), -1 before.
    metadata_refreshed: AtomicI64,
}

impl Metrics {
    pub fn new(cfg: MetricConfig) -> Self {
        Self {
            started: Instant::now(),
            cfg,
            records_acked: AtomicU64::new(0),
            records_failed: AtomicU64::new(0),
            record_bytes_acked: AtomicU64::new(0),
            batches_acked: AtomicU64::new(0),
            batches_failed: AtomicU64::new(0),
            uncompressed_bytes: AtomicU64::new(0),
            compressed_bytes: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            request_bytes: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            retries: AtomicU64::new(0),
            leader_hints: AtomicU64::new(0),
            reauthentications: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            request_latency: Histogram::new(),
            produce_throttle: Histogram::new(),
            record_latency: Histogram::new(),
            send: Mutex::new(SendStats::new()),
            responses: Mutex::new(ResponseStats::new()),
            events: Mutex::new(EventStats::new()),
            topics: Arc::new(TopicRegistry::default()),
            nodes: NodeRegistry::default(),
            metadata_refreshed: AtomicI64::new(-1),
        }
    }

    /// The per-topic sensors, for the accumulator to hand to partition queues.
    pub fn topics(&self) -> &Arc<TopicRegistry> {
        &self.topics
    }

    /// Broker `id`'s sensors, for its I/O thread.
    pub fn node(&self, id: i32) -> Arc<NodeSensors> {
        self.nodes.get(id)
    }

    /// `t` on the sensors' clock: milliseconds since the producer started.
    fn ms(&self, t: Instant) -> i64 {
        t.saturating_duration_since(self.started).as_millis() as i64
    }

    pub fn batch_acked(&self, b: &Batch) {
        self.records_acked.fetch_add(u64::from(b.records), Ordering::Relaxed);
        self.batches_acked.fetch_add(1, Ordering::Relaxed);
        self.record_bytes_acked.fetch_add(b.uncompressed as u64, Ordering::Relaxed);
        self.uncompressed_bytes.fetch_add(b.uncompressed as u64, Ordering::Relaxed);
        self.compressed_bytes.fetch_add(b.estimated_size() as u64, Ordering::Relaxed);
        self.record_latency.record(b.created.elapsed());
    }

    /// A batch failed for good (`record-error-*`).
    pub fn batch_failed(&self, b: &Batch, _e: &DeliveryError) {
        self.records_failed.fetch_add(u64::from(b.records), Ordering::Relaxed);
        self.batches_failed.fetch_add(1, Ordering::Relaxed);
        let now = self.ms(Instant::now());
        self.events.lock().errors.record(&self.cfg, f64::from(b.records), now);
        b.topic_metrics.failed(&self.cfg, b.records, now);
    }

    /// A batch goes back to its queue for another attempt (`record-retry-*`).
    pub fn batch_retried(&self, b: &Batch, now: Instant) {
        let now = self.ms(now);
        self.events.lock().retries.record(&self.cfg, f64::from(b.records), now);
        b.topic_metrics.retried(&self.cfg, b.records, now);
    }

    /// A broker or metadata connection was established.
    pub fn connection_created(&self) {
        let now = self.ms(Instant::now());
        self.events.lock().connections.record(&self.cfg, 1.0, now);
    }

    /// A batch was split in two after `MESSAGE_TOO_LARGE`.
    pub fn batch_split(&self) {
        let now = self.ms(Instant::now());
        self.events.lock().splits.record(&self.cfg, 1.0, now);
    }

    /// A sender blocked `waited` for `buffer.memory`; `refused` if it gave
    /// up (or could not wait: `try_send`).
    pub fn buffer_waited(&self, waited: Duration, refused: bool) {
        let now = self.ms(Instant::now());
        let mut e = self.events.lock();
        if !waited.is_zero() {
            e.buffer_wait.record(&self.cfg, waited.as_nanos() as f64, now);
        }
        if refused {
            e.exhausted.record(&self.cfg, 1.0, now);
        }
    }

    pub fn metadata_refreshed(&self) {
        self.metadata_refreshed.store(self.ms(Instant::now()), Ordering::Relaxed);
    }

    pub fn request_sent(&self, bytes: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.request_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A Produce request of `bytes` bytes carrying `batches` was written to
    /// broker `node` (Java's `updateProduceRequestMetrics` and the network
    /// layer's request counts). `now` is when they were drained. One lock
    /// for the producer's sensors, one per batch for its topic's, one for
    /// the broker's.
    pub fn request_written(&self, batches: &[Batch], bytes: usize, now: Instant, node: &NodeSensors) {
        let cfg = &self.cfg;
        let now_ms = self.ms(now);
        let mut records = 0u32;
        {
            let mut s = self.send.lock();
            for b in batches {
                let size = b.estimated_size();
                s.batch_size.record(cfg, size as f64, now_ms);
                let queued = now.saturating_duration_since(b.created).as_secs_f64() * 1000.0;
                s.queue_time.record(cfg, queued, now_ms);
                s.compression.record(cfg, compression_rate(b), now_ms);
                records += b.records;
            }
            s.records_per_request.record(cfg, f64::from(records), now_ms);
            s.record_send.record(cfg, f64::from(records), now_ms);
            s.requests.record(cfg, 1.0, now_ms);
            s.request_size.record(cfg, bytes as f64, now_ms);
            s.outgoing.record(cfg, bytes as f64, now_ms);
        }
        for b in batches {
            b.topic_metrics.batch_sent(cfg, b.records, b.estimated_size(), compression_rate(b), now_ms);
        }
        node.request_sent(cfg, bytes, now_ms);
    }

    /// A Produce response of `bytes` bytes (size prefix included) from
    /// broker `node` was read at `now`, `rtt` after its request was written.
    pub fn response_read(
        &self,
        node: &NodeSensors,
        rtt: Duration,
        throttle: Duration,
        bytes: usize,
        now: Instant,
    ) {
        let cfg = &self.cfg;
        let now_ms = self.ms(now);
        let latency = rtt.as_secs_f64() * 1000.0;
        {
            let mut r = self.responses.lock();
            r.latency.record(cfg, latency, now_ms);
            r.throttle.record(cfg, throttle.as_secs_f64() * 1000.0, now_ms);
            r.responses.record(cfg, 1.0, now_ms);
            r.incoming.record(cfg, bytes as f64, now_ms);
        }
        node.response_read(cfg, bytes, latency, now_ms);
    }

    pub fn request_done(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn request_latency(&self, d: Duration) {
        self.request_latency.record(d);
    }

    /// A Produce response's `throttle_time_ms` (zero included: Java's
    /// `produce-throttle-time-avg` averages over every response).
    pub fn produce_throttle(&self, d: Duration) {
        self.produce_throttle.record(d);
    }

    pub fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn leader_hint(&self) {
        self.leader_hints.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reauthenticated(&self) {
        self.reauthentications.fetch_add(1, Ordering::Relaxed);
    }

    pub fn error(&self, code: KafkaCode) {
        *self.errors.lock().entry(code.0).or_insert(0) += 1;
    }
}

/// Java's compression rate of a sent batch: compressed over uncompressed
/// size of its records, the batch header left out of both
/// (`MemoryRecordsBuilder.actualCompressionRatio`).
fn compression_rate(b: &Batch) -> f64 {
    let (sent, plain) = (b.estimated_size(), b.uncompressed);
    if plain > BATCH_OVERHEAD && sent >= BATCH_OVERHEAD {
        (sent - BATCH_OVERHEAD) as f64 / (plain - BATCH_OVERHEAD) as f64
    } else {
        1.0
    }
}

/// A snapshot of everything: what `Producer::metrics` returns and the
/// statistics thread hands to its callback.
pub(crate) fn snapshot(shared: &Shared) -> ProducerMetrics {
    let m = &shared.metrics;
    let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let now = Instant::now();
    let elapsed = now.saturating_duration_since(m.started);
    let (buffer_used, buffer_total) = (shared.acc.pool.used(), shared.acc.pool.total());
    let acked = r(&m.records_acked);
    let batches = r(&m.batches_acked);
    let unc = r(&m.uncompressed_bytes);
    let comp = r(&m.compressed_bytes);
    let failed = r(&m.records_failed);
    let avg_batch = if batches > 0 { unc as f64 / batches as f64 } else { 0.0 };
    let in_flight = m.in_flight.load(Ordering::Relaxed).max(0) as u64;
    ProducerMetrics {
        client_id: shared.cfg.client_id.clone(),
        uptime: elapsed,
        records_sent: acked,
        records_failed: failed,
        record_bytes_sent: r(&m.record_bytes_acked),
        record_send_rate: acked as f64 / elapsed.as_secs_f64().max(1e-9),
        records_queued: shared.acc.records_appended().saturating_sub(acked + failed),
        batches_sent: batches,
        batches_failed: r(&m.batches_failed),
        avg_batch_bytes: avg_batch,
        avg_records_per_batch: if batches > 0 { acked as f64 / batches as f64 } else { 0.0 },
        batch_fill_ratio: avg_batch / shared.cfg.batch_size.max(1) as f64,
        compression_ratio: if unc > 0 { comp as f64 / unc as f64 } else { 1.0 },
        requests: r(&m.requests),
        request_bytes: r(&m.request_bytes),
        requests_in_flight: in_flight,
        request_latency_avg: m.request_latency.avg(),
        request_latency_p99: m.request_latency.percentile(0.99),
        request_latency_max: m.request_latency.max(),
        produce_throttle_time_avg: m.produce_throttle.avg(),
        produce_throttle_time_max: m.produce_throttle.max(),
        record_latency_avg: m.record_latency.avg(),
        record_latency_p99: m.record_latency.percentile(0.99),
        buffer_used,
        buffer_total,
        retries: r(&m.retries),
        errors: m.errors.lock().iter().map(|(c, n)| (KafkaCode(*c), *n)).collect(),
        producer_ids: shared.idem.generations(),
        leader_hints: r(&m.leader_hints),
        reauthentications: r(&m.reauthentications),
        kafka: kafka_metrics(shared, now, in_flight),
    }
}

/// The Java client's metrics, in the order of `metrics::defs::ALL`.
fn kafka_metrics(shared: &Shared, now: Instant, in_flight: u64) -> Vec<crate::metrics::KafkaMetric> {
    let m = &shared.metrics;
    let cfg = &m.cfg;
    let t = m.ms(now);
    let pool = &shared.acc.pool;
    let mut c = Collector::new(&shared.cfg.client_id);
    {
        // The recording paths take one of these at a time, so holding all
        // three (in this order) cannot deadlock.
        let (mut send, mut events, mut responses) = (m.send.lock(), m.events.lock(), m.responses.lock());
        c.add(defs::RECORD_SEND_RATE, send.record_send.rate(cfg, t));
        c.add(defs::RECORD_SEND_TOTAL, send.record_send.total());
        c.add(defs::RECORD_RETRY_RATE, events.retries.rate(cfg, t));
        c.add(defs::RECORD_RETRY_TOTAL, events.retries.total());
        c.add(defs::RECORD_ERROR_RATE, events.errors.rate(cfg, t));
        c.add(defs::RECORD_ERROR_TOTAL, events.errors.total());
        c.add(defs::RECORD_QUEUE_TIME_AVG, send.queue_time.avg(cfg, t));
        c.add(defs::RECORD_QUEUE_TIME_MAX, send.queue_time.max(cfg, t));
        c.add(defs::REQUEST_LATENCY_AVG, responses.latency.avg(cfg, t));
        c.add(defs::REQUEST_LATENCY_MAX, responses.latency.max(cfg, t));
        c.add(defs::REQUESTS_IN_FLIGHT, in_flight as f64);
        c.add(defs::BATCH_SIZE_AVG, send.batch_size.avg(cfg, t));
        c.add(defs::BATCH_SIZE_MAX, send.batch_size.max(cfg, t));
        c.add(defs::RECORDS_PER_REQUEST_AVG, send.records_per_request.measure(cfg, t));
        c.add(defs::COMPRESSION_RATE_AVG, send.compression.measure(cfg, t));
        c.add(defs::BATCH_SPLIT_RATE, events.splits.rate(cfg, t));
        c.add(defs::BATCH_SPLIT_TOTAL, events.splits.total());
        c.add(defs::CONNECTION_CREATION_RATE, events.connections.rate(cfg, t));
        c.add(defs::CONNECTION_CREATION_TOTAL, events.connections.total());
        c.add(defs::PRODUCE_THROTTLE_TIME_AVG, responses.throttle.avg(cfg, t));
        c.add(defs::PRODUCE_THROTTLE_TIME_MAX, responses.throttle.max(cfg, t));
        let refreshed = m.metadata_refreshed.load(Ordering::Relaxed);
        if refreshed >= 0 {
            c.add(defs::METADATA_AGE, (t - refreshed).max(0) as f64 / 1000.0);
        }
        c.add(defs::BUFFER_TOTAL_BYTES, pool.total() as f64);
        c.add(defs::BUFFER_AVAILABLE_BYTES, pool.total().saturating_sub(pool.used()) as f64);
        c.add(defs::WAITING_THREADS, pool.waiting() as f64);
        c.add(defs::BUFFERPOOL_WAIT_RATIO, events.buffer_wait.rate(cfg, t));
        c.add(defs::BUFFERPOOL_WAIT_TIME_TOTAL, events.buffer_wait.total());
        c.add(defs::BUFFERPOOL_WAIT_TIME_NS_TOTAL, events.buffer_wait.total());
        c.add(defs::BUFFER_EXHAUSTED_RATE, events.exhausted.rate(cfg, t));
        c.add(defs::BUFFER_EXHAUSTED_TOTAL, events.exhausted.total());
        c.add(defs::CONNECTION_COUNT, shared.sockets.open() as f64);
        c.add(defs::REQUEST_RATE, send.requests.rate(cfg, t));
        c.add(defs::REQUEST_TOTAL, send.requests.total());
        c.add(defs::REQUEST_SIZE_AVG, send.request_size.avg(cfg, t));
        c.add(defs::REQUEST_SIZE_MAX, send.request_size.max(cfg, t));
        c.add(defs::OUTGOING_BYTE_RATE, send.outgoing.rate(cfg, t));
        c.add(defs::OUTGOING_BYTE_TOTAL, send.outgoing.total());
        c.add(defs::RESPONSE_RATE, responses.responses.rate(cfg, t));
        c.add(defs::RESPONSE_TOTAL, responses.responses.total());
        c.add(defs::INCOMING_BYTE_RATE, responses.incoming.rate(cfg, t));
        c.add(defs::INCOMING_BYTE_TOTAL, responses.incoming.total());
    }
    m.topics.collect(cfg, t, &mut c);
    m.nodes.collect(cfg, t, &mut c);
    c.out
}
