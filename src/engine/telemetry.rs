//! Client telemetry (KIP-714): the producer's side of GetTelemetrySubscriptions
//! and PushTelemetry, driven by the metadata thread over its connection (no
//! thread of its own).
//!
//! 1. With `enable.metrics.push` on, once the metadata thread holds a
//!    connection to a broker that advertises GetTelemetrySubscriptions (71)
//!    and PushTelemetry (72), it asks that broker for a subscription. The
//!    first answer assigns the client instance id, kept for the producer's
//!    life. A broker that advertises neither (no client telemetry plugin,
//!    Kafka before 3.7, tansu) is asked nothing; the next connection is
//!    checked again. Telemetry never opens a connection just to find out.
//! 2. A subscription names metric-name prefixes (`requested_metrics`: an
//!    empty list asks for nothing, the empty string or `*` for everything)
//!    and an interval. The first push comes after a random 0.5 to 1.5
//!    intervals (so that producers started together do not push together),
//!    the next ones every interval, each with the subscription's id, the
//!    metrics as OTLP `MetricsData` ([`crate::protocol::otlp`]), compressed
//!    with the first codec the broker accepts that this build has (else
//!    uncompressed). With nothing subscribed, the subscription is fetched
//!    again every interval.
//! 3. Errors, as the KIP and Java's `ClientTelemetryUtils` handle them:
//!    `UNKNOWN_SUBSCRIPTION_ID` and `UNSUPPORTED_COMPRESSION_TYPE` fetch a
//!    new subscription at once; `TELEMETRY_TOO_LARGE` and
//!    `THROTTLING_QUOTA_EXCEEDED` skip to the next interval;
//!    `INVALID_REQUEST`, `INVALID_RECORD` and `UNSUPPORTED_VERSION` stop
//!    telemetry for the producer's life (a bug on one side; retrying would
//!    only repeat it); any other error fetches a new subscription after the
//!    interval. A failed connection retries after the usual backoff.
//! 4. `close` asks for a terminating push (`terminating = true`) with the
//!    final metrics, waiting for it at most its own timeout and
//!    `request.timeout.ms`.
//!
//! The mapping from the producer's metrics snapshot to Kafka's metric names
//! is [`producer_metrics`]: one table, easy to extend.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::connection::{ConnError, Connection};
use super::{backoff, Rng, SharedState};
use crate::error::KafkaCode;
use crate::metrics::{MetricKind as MetricsKind, ProducerMetrics};
use crate::protocol::compression::{compress, Compression};
use crate::protocol::messages::get_telemetry_subscriptions::{
    GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse, NIL_CLIENT_INSTANCE_ID,
};
use crate::protocol::messages::push_telemetry::PushTelemetryRequest;
use crate::protocol::otlp::{
    KeyValue, Metric, MetricKind, MetricsData, NumberDataPoint, NumberValue, Temporality,
};
use crate::protocol::primitives::Uuid;

/// The prefix of every producer metric name (KIP-714: `org.apache.kafka.`,
/// then the group without its `-metrics` suffix, then the metric name, with
/// dashes as dots).
pub(crate) const PREFIX: &str = "org.apache.kafka.producer.";

/// Push interval used when a broker sends none (or nonsense): Java's default
/// `interval.ms` of a client metrics subscription.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// A value of one metric in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    /// A current value (a gauge).
    Gauge(f64),
    /// A count since the producer started (a monotonic sum).
    Total(i64),
}

/// One metric of a snapshot: its name after [`PREFIX`], unit, description,
/// value, and the attributes telling its series apart (`topic`, `node.id`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub name: String,
    pub unit: &'static str,
    pub description: &'static str,
    pub value: Value,
    pub attributes: Vec<(&'static str, String)>,
}

/// The producer's metrics under KIP-714's names, from the Java-named
/// metrics of the snapshot ([`ProducerMetrics::kafka_metrics`]): the group
/// without its `-metrics` suffix and the name with dashes as dots
/// (`producer-metrics:record-queue-time-avg` is
/// `org.apache.kafka.producer.record.queue.time.avg`,
/// `producer-node-metrics:request-latency-avg` is
/// `org.apache.kafka.producer.node.request.latency.avg` with a `node.id`
/// attribute, topic metrics carry a `topic` attribute). Counters are sums,
/// the rest gauges; a gauge with nothing in its window (NaN) is left out.
pub(crate) fn producer_metrics(m: &ProducerMetrics) -> Vec<Sample> {
    m.kafka_metrics()
        .iter()
        .filter_map(|k| {
            let (group, attribute) = match k.group {
                "producer-metrics" => ("", None),
                "producer-topic-metrics" => ("topic.", k.tag("topic").map(|t| ("topic", t.to_owned()))),
                "producer-node-metrics" => {
                    ("node.", k.tag("node-id").map(|n| ("node.id", n.trim_start_matches("node-").to_owned())))
                }
                _ => return None,
            };
            let value = match k.kind {
                MetricsKind::Counter => Value::Total(k.value as i64),
                MetricsKind::Gauge if k.value.is_finite() => Value::Gauge(k.value),
                MetricsKind::Gauge => return None,
            };
            Some(Sample {
                name: format!("{group}{}", k.name.replace('-', ".")),
                unit: unit_of(k.name),
                description: k.description,
                value,
                attributes: attribute.into_iter().collect(),
            })
        })
        .collect()
}

/// The OTLP unit of a metric, from its name.
fn unit_of(name: &str) -> &'static str {
    if name.ends_with("-rate") && !name.starts_with("compression") {
        "1/s"
    } else if name.contains("time-ns") {
        "ns"
    } else if name.contains("latency") || name.contains("time") {
        "ms"
    } else if name.contains("byte") || name.contains("size") {
        "By"
    } else {
        "1"
    }
}

/// Whether `name` (the full metric name) matches the requested prefixes:
/// none for an empty list, all for `""` or `*` in it.
pub(crate) fn requested(prefixes: &[String], name: &str) -> bool {
    prefixes.iter().any(|p| p.is_empty() || p == "*" || name.starts_with(p.as_str()))
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// A subscription the broker handed out.
#[derive(Debug, Clone)]
struct Subscription {
    id: i32,
    requested: Vec<String>,
    interval: Duration,
    codecs: Vec<Compression>,
    max_bytes: usize,
    delta: bool,
}

#[derive(Debug)]
enum State {
    /// `enable.metrics.push=false`, or stopped for good after an error.
    Off,
    /// Fetch a subscription at this time (on the next connection that offers it).
    Subscribe(Instant),
    /// Push at this time.
    Push(Subscription, Instant),
}

/// The telemetry state, owned by the metadata thread.
#[derive(Debug)]
pub(crate) struct Telemetry {
    state: State,
    client_instance_id: Uuid,
    /// When the producer started (start time of cumulative sums).
    started: SystemTime,
    /// The last push (start time of delta sums) and its totals.
    last_push: SystemTime,
    last_totals: HashMap<String, i64>,
    failures: u32,
    /// The terminating push was sent (or there was nothing to send).
    terminated: bool,
}

impl Telemetry {
    pub fn new(enabled: bool, now: Instant) -> Self {
        let started = SystemTime::now();
        Self {
            state: if enabled { State::Subscribe(now) } else { State::Off },
            client_instance_id: NIL_CLIENT_INSTANCE_ID,
            started,
            last_push: started,
            last_totals: HashMap::new(),
            failures: 0,
            terminated: false,
        }
    }

    /// When there is something to do. A subscription is only fetched over
    /// an existing connection (`connected`).
    pub fn due(&self, connected: bool) -> Option<Instant> {
        match &self.state {
            State::Off => None,
            State::Subscribe(at) => connected.then_some(*at),
            State::Push(_, at) => Some(*at),
        }
    }

    /// Does what is due at `now` over `conn`. A connection error is returned
    /// (the caller drops the connection); the retry is already scheduled.
    pub fn run(
        &mut self,
        shared: &SharedState,
        conn: &mut Connection,
        rng: &mut Rng,
        now: Instant,
    ) -> Result<(), ConnError> {
        match &self.state {
            State::Off => Ok(()),
            State::Subscribe(at) if *at <= now => self.subscribe(shared, conn, rng, now),
            State::Push(_, at) if *at <= now => self.push(shared, conn, rng, now, false),
            _ => Ok(()),
        }
    }

    /// Whether a terminating push is worth connecting for.
    pub fn wants_terminating_push(&self) -> bool {
        !self.terminated && matches!(&self.state, State::Push(s, _) if !s.requested.is_empty())
    }

    /// Sends the terminating push (once), ignoring its answer.
    pub fn terminate(
        &mut self,
        shared: &SharedState,
        conn: &mut Connection,
        rng: &mut Rng,
    ) -> Result<(), ConnError> {
        if !self.wants_terminating_push() {
            self.terminated = true;
            return Ok(());
        }
        self.terminated = true;
        self.push(shared, conn, rng, Instant::now(), true)
    }

    /// Marks the terminating push as done without sending it (no connection).
    pub fn give_up_terminating(&mut self) {
        self.terminated = true;
    }

    /// Schedules a retry of what was due after a failure (backoff).
    pub fn retry_later(&mut self, shared: &SharedState, rng: &mut Rng, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        let wait = backoff(shared.cfg.retry_backoff, shared.cfg.retry_backoff_max, self.failures, rng);
        match &mut self.state {
            State::Subscribe(at) | State::Push(_, at) => *at = now + wait,
            State::Off => {}
        }
    }

    fn subscribe(
        &mut self,
        shared: &SharedState,
        conn: &mut Connection,
        rng: &mut Rng,
        now: Instant,
    ) -> Result<(), ConnError> {
        let versions = conn.versions();
        let (Some(v), Some(_)) = (
            versions.version_of::<GetTelemetrySubscriptionsRequest>(),
            versions.version_of::<PushTelemetryRequest>(),
        ) else {
            log::debug!("{} does not offer client telemetry (KIP-714); not pushing metrics", conn.addr());
            // Checked again on the next connection (which may reach another broker).
            self.state = State::Subscribe(now + shared.cfg.metadata_max_age);
            return Ok(());
        };
        let req = GetTelemetrySubscriptionsRequest { client_instance_id: self.client_instance_id };
        let resp = match conn.round_trip(&req, v) {
            Ok(r) => r,
            Err(e) => {
                self.retry_later(shared, rng, now);
                return Err(e);
            }
        };
        self.on_subscription(&resp, shared, rng, now);
        Ok(())
    }

    fn on_subscription(
        &mut self,
        resp: &GetTelemetrySubscriptionsResponse,
        shared: &SharedState,
        rng: &mut Rng,
        now: Instant,
    ) {
        let throttle = Duration::from_millis(resp.throttle_time_ms.max(0) as u64);
        let code = KafkaCode(resp.error_code);
        if !code.is_ok() {
            if matches!(code, KafkaCode::INVALID_REQUEST | KafkaCode::UNSUPPORTED_VERSION) {
                log::warn!("GetTelemetrySubscriptions failed with {code}: not pushing metrics");
                self.state = State::Off;
                return;
            }
            log::debug!("GetTelemetrySubscriptions failed with {code}; asking again later");
            self.retry_later(shared, rng, now + throttle);
            return;
        }
        if self.client_instance_id == NIL_CLIENT_INSTANCE_ID {
            if resp.client_instance_id == NIL_CLIENT_INSTANCE_ID {
                log::debug!("GetTelemetrySubscriptions assigned no client instance id; asking again later");
                self.retry_later(shared, rng, now + throttle);
                return;
            }
            self.client_instance_id = resp.client_instance_id;
        }
        self.failures = 0;
        let interval = match resp.push_interval_ms {
            ms if ms > 0 => Duration::from_millis(ms as u64),
            _ => DEFAULT_INTERVAL,
        };
        let sub = Subscription {
            id: resp.subscription_id,
            requested: resp.requested_metrics.clone(),
            interval,
            codecs: resp
                .accepted_compression_types
                .iter()
                .filter_map(|&c| Compression::from_code(i16::from(c)))
                .filter(|c| *c != Compression::None && c.is_available())
                .collect(),
            max_bytes: usize::try_from(resp.telemetry_max_bytes).unwrap_or(0),
            delta: resp.delta_temporality,
        };
        log::debug!(
            "telemetry subscription {} (client instance {}): {:?} every {:?}",
            sub.id,
            hex(&self.client_instance_id),
            sub.requested,
            sub.interval
        );
        if sub.requested.is_empty() {
            self.state = State::Subscribe(now + interval.max(throttle));
            return;
        }
        // The first push of a subscription: jittered (KIP-714).
        let first = interval.mul_f64(0.5 + rng.next_f64());
        self.state = State::Push(sub, now + first.max(throttle));
    }

    /// The encoded metrics the subscription asks for, at `now`.
    fn payload(&mut self, shared: &SharedState, sub: &Subscription) -> MetricsData {
        let snapshot = super::metrics::snapshot(shared);
        let now = SystemTime::now();
        let (time, started, last) = (unix_nanos(now), unix_nanos(self.started), unix_nanos(self.last_push));
        let mut metrics = Vec::new();
        for sample in producer_metrics(&snapshot) {
            let name = format!("{PREFIX}{}", sample.name);
            let series = sample.attributes.iter().fold(name.clone(), |k, (a, v)| format!("{k}|{a}={v}"));
            let attributes = sample.attributes.iter().map(|(a, v)| KeyValue::string(*a, v.clone())).collect();
            if !requested(&sub.requested, &name) {
                continue;
            }
            let (kind, value, start) = match sample.value {
                Value::Gauge(v) => (MetricKind::Gauge, NumberValue::Double(v), 0),
                Value::Total(v) if sub.delta => {
                    let before = self.last_totals.insert(series, v).unwrap_or(0);
                    let kind = MetricKind::Sum { temporality: Temporality::Delta, monotonic: true };
                    (kind, NumberValue::Int(v.saturating_sub(before)), last)
                }
                Value::Total(v) => {
                    let kind = MetricKind::Sum { temporality: Temporality::Cumulative, monotonic: true };
                    (kind, NumberValue::Int(v), started)
                }
            };
            metrics.push(Metric {
                name,
                description: sample.description.to_owned(),
                unit: sample.unit.to_owned(),
                kind,
                points: vec![NumberDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    value,
                }],
            });
        }
        self.last_push = now;
        MetricsData {
            resource_attributes: Vec::new(),
            scope_name: String::new(),
            scope_version: String::new(),
            metrics,
        }
    }

    fn push(
        &mut self,
        shared: &SharedState,
        conn: &mut Connection,
        rng: &mut Rng,
        now: Instant,
        terminating: bool,
    ) -> Result<(), ConnError> {
        let State::Push(sub, _) = &self.state else { return Ok(()) };
        let sub = sub.clone();
        let Some(v) = conn.versions().version_of::<PushTelemetryRequest>() else {
            // Another broker than the one that subscribed us: start over there.
            self.state = State::Subscribe(now);
            return Ok(());
        };
        let raw = self.payload(shared, &sub).encode();
        let (codec, metrics) = compressed(&sub.codecs, raw);
        if sub.max_bytes > 0 && metrics.len() > sub.max_bytes {
            log::debug!(
                "telemetry push of {} bytes exceeds the broker's {}; skipped",
                metrics.len(),
                sub.max_bytes
            );
            self.state = State::Push(sub.clone(), now + sub.interval);
            return Ok(());
        }
        let req = PushTelemetryRequest {
            client_instance_id: self.client_instance_id,
            subscription_id: sub.id,
            terminating,
            compression_type: codec.code() as i8,
            metrics,
        };
        let resp = match conn.round_trip(&req, v) {
            Ok(r) => r,
            Err(e) => {
                self.retry_later(shared, rng, now);
                return Err(e);
            }
        };
        if terminating {
            return Ok(());
        }
        let throttle = Duration::from_millis(resp.throttle_time_ms.max(0) as u64);
        let code = KafkaCode(resp.error_code);
        let next = now + sub.interval.max(throttle);
        self.state = match code {
            KafkaCode::NONE => {
                self.failures = 0;
                State::Push(sub, next)
            }
            KafkaCode::UNKNOWN_SUBSCRIPTION_ID | KafkaCode::UNSUPPORTED_COMPRESSION_TYPE => {
                log::debug!("PushTelemetry: {code}; fetching a new subscription");
                State::Subscribe(now + throttle)
            }
            KafkaCode::TELEMETRY_TOO_LARGE | KafkaCode::THROTTLING_QUOTA_EXCEEDED => {
                log::debug!("PushTelemetry: {code}; pushing again at the next interval");
                State::Push(sub, next)
            }
            KafkaCode::INVALID_REQUEST | KafkaCode::INVALID_RECORD | KafkaCode::UNSUPPORTED_VERSION => {
                log::warn!("PushTelemetry failed with {code}: not pushing metrics any more");
                State::Off
            }
            _ => {
                log::debug!("PushTelemetry failed with {code}; fetching a new subscription later");
                State::Subscribe(next)
            }
        };
        Ok(())
    }
}

/// `raw` compressed with the first of `codecs` that works, or uncompressed.
fn compressed(codecs: &[Compression], raw: Vec<u8>) -> (Compression, Vec<u8>) {
    for &c in codecs {
        let mut out = Vec::new();
        if compress(c, None, &raw, &mut out).is_ok() {
            return (c, out);
        }
    }
    (Compression::None, raw)
}

fn hex(id: &Uuid) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_prefixes_follow_the_kip() {
        let name = "org.apache.kafka.producer.request.latency.avg";
        assert!(!requested(&[], name), "an empty list asks for nothing");
        assert!(requested(&[String::new()], name), "the empty string asks for everything");
        assert!(requested(&["*".into()], name));
        assert!(requested(&["org.apache.kafka.producer.request.".into()], name));
        assert!(requested(&["x".into(), "org.apache.kafka.producer".into()], name));
        assert!(!requested(&["org.apache.kafka.consumer.".into()], name));
        assert!(!requested(&["org.apache.kafka.producer.request.latency.avgx".into()], name));
    }

    #[cfg(feature = "mock")]
    #[test]
    fn metric_names_are_kafkas() {
        let c = crate::mock::MockCluster::start(1).unwrap();
        c.create_topic("t", 1, 1).unwrap();
        let cfg = crate::ProducerConfig::builder().bootstrap_servers(c.bootstrap_servers()).build().unwrap();
        let p = crate::Producer::new(cfg).unwrap();
        for i in 0..10 {
            p.send(crate::Record::new("t").value(&format!("v{i}"))).unwrap().wait().unwrap();
        }
        let samples = producer_metrics(&p.metrics());
        let names: Vec<String> = samples.iter().map(|s| format!("{PREFIX}{}", s.name)).collect();
        for n in &names {
            assert!(n.starts_with("org.apache.kafka.producer."), "{n}");
            assert!(!n.contains('-') && !n.contains(".."), "{n}");
        }
        let find = |name: &str| samples.iter().find(|s| format!("{PREFIX}{}", s.name) == name);
        for want in [
            "org.apache.kafka.producer.produce.throttle.time.avg",
            "org.apache.kafka.producer.request.latency.avg",
            "org.apache.kafka.producer.record.queue.time.avg",
        ] {
            assert!(matches!(find(want).map(|s| s.value), Some(Value::Gauge(_))), "{want} in {names:?}");
        }
        assert_eq!(
            find("org.apache.kafka.producer.record.send.total").map(|s| s.value),
            Some(Value::Total(10))
        );
        let topic = find("org.apache.kafka.producer.topic.record.send.total").expect("per topic");
        assert_eq!(topic.attributes, vec![("topic", "t".to_owned())]);
        let node = find("org.apache.kafka.producer.node.request.latency.avg").expect("per node");
        assert_eq!(node.attributes, vec![("node.id", "1".to_owned())]);
        assert_eq!(node.unit, "ms");
        let series: std::collections::HashSet<_> = samples.iter().map(|s| (&s.name, &s.attributes)).collect();
        assert_eq!(series.len(), samples.len());
    }

    #[test]
    fn compression_falls_back_to_none() {
        let raw = vec![7u8; 1000];
        let (c, out) = compressed(&[], raw.clone());
        assert_eq!((c, &out), (Compression::None, &raw));
        let (c, out) = compressed(&[Compression::Gzip], raw.clone());
        assert_eq!(c, Compression::Gzip);
        assert!(out.len() < raw.len());
    }
}
