//! The Java client's sensors: groups of windowed stats recorded together,
//! each behind its own lock (Java's `Sensor.record` is `synchronized` too).
//!
//! Who records what, and how often:
//!
//! - a broker thread, per Produce request written: [`SendStats`] once,
//!   the [`TopicSensors`] of each batch once, its own [`NodeSensors`] once;
//! - a broker thread, per response read: [`ResponseStats`] and its
//!   [`NodeSensors`] once;
//! - retries, failures, splits and blocked senders: [`EventStats`], and the
//!   batch's topic for retries and failures.
//!
//! A topic's sensors are found through an `Arc` the partition queue holds
//! and each of its batches copies (no lookup, no global lock per batch); a
//! broker's through the `Arc` its I/O thread holds. The registries' locks
//! are taken only when a partition or a broker thread is added, and by
//! snapshots.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::stats::{AvgMax, Kind, Meter, MetricConfig, SampledStat};
use crate::metrics::defs::{self, Def};
use crate::metrics::KafkaMetric;

/// Builds the snapshot's list of Kafka metrics, tagging each with the
/// client id (and a topic or node tag).
#[derive(Debug)]
pub(crate) struct Collector {
    client_id: String,
    pub out: Vec<KafkaMetric>,
}

impl Collector {
    pub fn new(client_id: &str) -> Self {
        Self { client_id: client_id.to_owned(), out: Vec::with_capacity(64) }
    }

    /// A producer-level metric.
    pub fn add(&mut self, def: Def, value: f64) {
        self.push(def, None, value);
    }

    /// A topic's or a broker's metric.
    pub fn add_tagged(&mut self, def: Def, tag: (&'static str, &str), value: f64) {
        self.push(def, Some(tag), value);
    }

    fn push(&mut self, def: Def, tag: Option<(&'static str, &str)>, value: f64) {
        let mut tags = Vec::with_capacity(2);
        tags.push(("client-id", self.client_id.clone()));
        if let Some((k, v)) = tag {
            tags.push((k, v.to_owned()));
        }
        self.out.push(KafkaMetric {
            group: def.group,
            name: def.name,
            description: def.help,
            kind: def.kind,
            tags,
            value,
        });
    }
}

/// Producer-level stats recorded when a Produce request is written.
#[derive(Debug)]
pub(crate) struct SendStats {
    pub record_send: Meter,
    pub records_per_request: SampledStat,
    pub batch_size: AvgMax,
    pub queue_time: AvgMax,
    pub compression: SampledStat,
    /// Counts requests (1.0 each).
    pub requests: Meter,
    pub request_size: AvgMax,
    pub outgoing: Meter,
}

impl SendStats {
    pub fn new() -> Self {
        Self {
            record_send: Meter::new(),
            records_per_request: SampledStat::new(Kind::Avg),
            batch_size: AvgMax::new(),
            queue_time: AvgMax::new(),
            compression: SampledStat::new(Kind::Avg),
            requests: Meter::new(),
            request_size: AvgMax::new(),
            outgoing: Meter::new(),
        }
    }
}

/// Producer-level stats recorded when a Produce response is read.
#[derive(Debug)]
pub(crate) struct ResponseStats {
    pub latency: AvgMax,
    pub throttle: AvgMax,
    /// Counts responses (1.0 each).
    pub responses: Meter,
    pub incoming: Meter,
}

impl ResponseStats {
    pub fn new() -> Self {
        Self {
            latency: AvgMax::new(),
            throttle: AvgMax::new(),
            responses: Meter::new(),
            incoming: Meter::new(),
        }
    }
}

/// Producer-level stats of rarer events: retries, failures, splits, and
/// senders blocked for memory.
#[derive(Debug)]
pub(crate) struct EventStats {
    pub retries: Meter,
    pub errors: Meter,
    pub splits: Meter,
    /// Sends refused because `buffer.memory` stayed full.
    pub exhausted: Meter,
    /// Nanoseconds senders waited for memory; its rate per nanosecond is
    /// `bufferpool-wait-ratio`.
    pub buffer_wait: Meter,
    /// Connections established (broker and metadata connections).
    pub connections: Meter,
}

impl EventStats {
    pub fn new() -> Self {
        Self {
            retries: Meter::new(),
            errors: Meter::new(),
            splits: Meter::new(),
            exhausted: Meter::new(),
            buffer_wait: Meter::per(super::stats::Per::Nanosecond),
            connections: Meter::new(),
        }
    }
}

/// One topic's sensors (`producer-topic-metrics`).
pub(crate) struct TopicSensors {
    name: Arc<str>,
    /// Whether anything was recorded: topics with nothing to report stay
    /// out of snapshots (Java registers them at their first request).
    active: AtomicBool,
    stats: Mutex<TopicStats>,
}

impl std::fmt::Debug for TopicSensors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TopicSensors({})", self.name)
    }
}

#[derive(Debug)]
struct TopicStats {
    records: Meter,
    bytes: Meter,
    compression: SampledStat,
    retries: Meter,
    errors: Meter,
}

impl TopicSensors {
    pub fn new(name: Arc<str>) -> Self {
        Self {
            name,
            active: AtomicBool::new(false),
            stats: Mutex::new(TopicStats {
                records: Meter::new(),
                bytes: Meter::new(),
                compression: SampledStat::new(Kind::Avg),
                retries: Meter::new(),
                errors: Meter::new(),
            }),
        }
    }

    fn activate(&self) {
        if !self.active.load(Ordering::Relaxed) {
            self.active.store(true, Ordering::Relaxed);
        }
    }

    /// A batch of `records` records, `bytes` bytes as sent, written in a request.
    pub fn batch_sent(&self, cfg: &MetricConfig, records: u32, bytes: usize, compression: f64, now: i64) {
        self.activate();
        let mut s = self.stats.lock();
        s.records.record(cfg, f64::from(records), now);
        s.bytes.record(cfg, bytes as f64, now);
        s.compression.record(cfg, compression, now);
    }

    /// A batch of `records` records put back for a retry.
    pub fn retried(&self, cfg: &MetricConfig, records: u32, now: i64) {
        self.activate();
        self.stats.lock().retries.record(cfg, f64::from(records), now);
    }

    /// A batch of `records` records failed for good.
    pub fn failed(&self, cfg: &MetricConfig, records: u32, now: i64) {
        self.activate();
        self.stats.lock().errors.record(cfg, f64::from(records), now);
    }

    fn collect(&self, cfg: &MetricConfig, now: i64, c: &mut Collector) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        let mut s = self.stats.lock();
        let tag = ("topic", &*self.name);
        c.add_tagged(defs::TOPIC_RECORD_SEND_RATE, tag, s.records.rate(cfg, now));
        c.add_tagged(defs::TOPIC_RECORD_SEND_TOTAL, tag, s.records.total());
        c.add_tagged(defs::TOPIC_BYTE_RATE, tag, s.bytes.rate(cfg, now));
        c.add_tagged(defs::TOPIC_BYTE_TOTAL, tag, s.bytes.total());
        c.add_tagged(defs::TOPIC_COMPRESSION_RATE, tag, s.compression.measure(cfg, now));
        c.add_tagged(defs::TOPIC_RECORD_RETRY_RATE, tag, s.retries.rate(cfg, now));
        c.add_tagged(defs::TOPIC_RECORD_RETRY_TOTAL, tag, s.retries.total());
        c.add_tagged(defs::TOPIC_RECORD_ERROR_RATE, tag, s.errors.rate(cfg, now));
        c.add_tagged(defs::TOPIC_RECORD_ERROR_TOTAL, tag, s.errors.total());
    }
}

/// Every topic's sensors, by name. Shared by the metrics (for snapshots)
/// and the accumulator (which hands them to new partition queues).
#[derive(Debug, Default)]
pub(crate) struct TopicRegistry {
    topics: Mutex<BTreeMap<Arc<str>, Arc<TopicSensors>>>,
}

impl TopicRegistry {
    /// The sensors of `topic`, made on first use.
    pub fn get(&self, topic: &Arc<str>) -> Arc<TopicSensors> {
        self.topics
            .lock()
            .entry(topic.clone())
            .or_insert_with(|| Arc::new(TopicSensors::new(topic.clone())))
            .clone()
    }

    pub fn collect(&self, cfg: &MetricConfig, now: i64, c: &mut Collector) {
        let topics: Vec<Arc<TopicSensors>> = self.topics.lock().values().cloned().collect();
        for t in topics {
            t.collect(cfg, now, c);
        }
    }
}

/// One broker's sensors (`producer-node-metrics`), recorded by its I/O thread.
#[derive(Debug)]
pub(crate) struct NodeSensors {
    tag: String,
    stats: Mutex<NodeStats>,
}

#[derive(Debug)]
struct NodeStats {
    requests: Meter,
    request_size: AvgMax,
    outgoing: Meter,
    responses: Meter,
    incoming: Meter,
    latency: AvgMax,
}

impl NodeSensors {
    fn new(id: i32) -> Self {
        Self {
            tag: format!("node-{id}"),
            stats: Mutex::new(NodeStats {
                requests: Meter::new(),
                request_size: AvgMax::new(),
                outgoing: Meter::new(),
                responses: Meter::new(),
                incoming: Meter::new(),
                latency: AvgMax::new(),
            }),
        }
    }

    /// A request of `bytes` bytes (size prefix included) written.
    pub fn request_sent(&self, cfg: &MetricConfig, bytes: usize, now: i64) {
        let mut s = self.stats.lock();
        s.requests.record(cfg, 1.0, now);
        s.request_size.record(cfg, bytes as f64, now);
        s.outgoing.record(cfg, bytes as f64, now);
    }

    /// A response of `bytes` bytes read, `latency_ms` after its request.
    pub fn response_read(&self, cfg: &MetricConfig, bytes: usize, latency_ms: f64, now: i64) {
        let mut s = self.stats.lock();
        s.responses.record(cfg, 1.0, now);
        s.incoming.record(cfg, bytes as f64, now);
        s.latency.record(cfg, latency_ms, now);
    }

    fn collect(&self, cfg: &MetricConfig, now: i64, c: &mut Collector) {
        let mut s = self.stats.lock();
        let tag = ("node-id", self.tag.as_str());
        c.add_tagged(defs::NODE_REQUEST_RATE, tag, s.requests.rate(cfg, now));
        c.add_tagged(defs::NODE_REQUEST_TOTAL, tag, s.requests.total());
        c.add_tagged(defs::NODE_REQUEST_SIZE_AVG, tag, s.request_size.avg(cfg, now));
        c.add_tagged(defs::NODE_REQUEST_SIZE_MAX, tag, s.request_size.max(cfg, now));
        c.add_tagged(defs::NODE_OUTGOING_BYTE_RATE, tag, s.outgoing.rate(cfg, now));
        c.add_tagged(defs::NODE_OUTGOING_BYTE_TOTAL, tag, s.outgoing.total());
        c.add_tagged(defs::NODE_RESPONSE_RATE, tag, s.responses.rate(cfg, now));
        c.add_tagged(defs::NODE_RESPONSE_TOTAL, tag, s.responses.total());
        c.add_tagged(defs::NODE_INCOMING_BYTE_RATE, tag, s.incoming.rate(cfg, now));
        c.add_tagged(defs::NODE_INCOMING_BYTE_TOTAL, tag, s.incoming.total());
        c.add_tagged(defs::NODE_REQUEST_LATENCY_AVG, tag, s.latency.avg(cfg, now));
        c.add_tagged(defs::NODE_REQUEST_LATENCY_MAX, tag, s.latency.max(cfg, now));
    }
}

/// Every broker's sensors, by id.
#[derive(Debug, Default)]
pub(crate) struct NodeRegistry {
    nodes: Mutex<BTreeMap<i32, Arc<NodeSensors>>>,
}

impl NodeRegistry {
    /// The sensors of broker `id`, made on first use.
    pub fn get(&self, id: i32) -> Arc<NodeSensors> {
        self.nodes.lock().entry(id).or_insert_with(|| Arc::new(NodeSensors::new(id))).clone()
    }

    pub fn collect(&self, cfg: &MetricConfig, now: i64, c: &mut Collector) {
        let nodes: Vec<Arc<NodeSensors>> = self.nodes.lock().values().cloned().collect();
        for n in nodes {
            n.collect(cfg, now, c);
        }
    }
}
