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
use super::metrics::ProducerMetrics;
use super::{backoff, Rng, SharedState};
use crate::error::KafkaCode;
use crate::protocol::compression::{compress, Compression};
use crate::protocol::messages::get_telemetry_subscriptions::{
    GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse, NIL_CLIENT_INSTANCE_ID,
};
use crate::protocol::messages::push_telemetry::PushTelemetryRequest;
use crate::protocol::otlp::{Metric, MetricKind, MetricsData, NumberDataPoint, NumberValue, Temporality};
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

/// One metric of a snapshot: its name after [`PREFIX`], unit, description, value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub name: &'static str,
    pub unit: &'static str,
    pub description: &'static str,
    pub value: Value,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The producer's metrics under Kafka's names (the Java producer's
/// `producer-metrics` group). Only metrics the snapshot has are listed;
/// KIP-714's `record.queue.time.*` and `node.request.latency.*` join when
/// the snapshot measures them.
pub(crate) fn producer_metrics(m: &ProducerMetrics) -> Vec<Sample> {
    let s = |name, unit, description, value| Sample { name, unit, description, value };
    let total = |v: u64| Value::Total(i64::try_from(v).unwrap_or(i64::MAX));
    vec![
        s("record.send.total", "1", "The total number of records sent.", total(m.records_sent)),
        s(
            "record.send.rate",
            "1/s",
            "The average number of records sent per second.",
            Value::Gauge(m.record_send_rate),
        ),
        s(
            "record.error.total",
            "1",
            "The total number of record sends that resulted in errors.",
            total(m.records_failed),
        ),
        s("request.total", "1", "The total number of requests sent.", total(m.requests)),
        s(
            "outgoing.byte.total",
            "By",
            "The total number of outgoing bytes sent to all servers.",
            total(m.request_bytes),
        ),
        s(
            "request.latency.avg",
            "ms",
            "The average request latency in ms.",
            Value::Gauge(ms(m.request_latency_avg)),
        ),
        s(
            "request.latency.max",
            "ms",
            "The maximum request latency in ms.",
            Value::Gauge(ms(m.request_latency_max)),
        ),
        s(
            "produce.throttle.time.avg",
            "ms",
            "The average time in ms a request was throttled by a broker.",
            Value::Gauge(ms(m.produce_throttle_time_avg)),
        ),
        s(
            "produce.throttle.time.max",
            "ms",
            "The maximum time in ms a request was throttled by a broker.",
            Value::Gauge(ms(m.produce_throttle_time_max)),
        ),
        s(
            "batch.size.avg",
            "By",
            "The average number of bytes sent per partition per request.",
            Value::Gauge(m.avg_batch_bytes),
        ),
        s(
            "compression.rate.avg",
            "1",
            "The average compression rate of record batches.",
            Value::Gauge(m.compression_ratio),
        ),
        s(
            "requests.in.flight",
            "1",
            "The current number of in-flight requests awaiting a response.",
            Value::Gauge(m.requests_in_flight as f64),
        ),
        s(
            "buffer.total.bytes",
            "By",
            "The maximum amount of buffer memory the client can use.",
            Value::Gauge(m.buffer_total as f64),
        ),
        s(
            "buffer.available.bytes",
            "By",
            "The total amount of buffer memory that is not being used.",
            Value::Gauge(m.buffer_total.saturating_sub(m.buffer_used) as f64),
        ),
    ]
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
    last_totals: HashMap<&'static str, i64>,
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
        let snapshot = shared.metrics.snapshot(
            shared.acc.pool.used(),
            shared.acc.pool.total(),
            shared.cfg.batch_size,
            shared.idem.generations(),
            shared.acc.records_appended(),
        );
        let now = SystemTime::now();
        let (time, started, last) = (unix_nanos(now), unix_nanos(self.started), unix_nanos(self.last_push));
        let mut metrics = Vec::new();
        for sample in producer_metrics(&snapshot) {
            let name = format!("{PREFIX}{}", sample.name);
            if !requested(&sub.requested, &name) {
                continue;
            }
            let (kind, value, start) = match sample.value {
                Value::Gauge(v) => (MetricKind::Gauge, NumberValue::Double(v), 0),
                Value::Total(v) if sub.delta => {
                    let before = self.last_totals.insert(sample.name, v).unwrap_or(0);
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
                    attributes: Vec::new(),
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

    #[test]
    fn metric_names_are_kafkas() {
        let m = crate::engine::metrics::Metrics::new().snapshot(0, 0, 1, 0, 0);
        let names: Vec<String> = producer_metrics(&m).iter().map(|s| format!("{PREFIX}{}", s.name)).collect();
        for n in &names {
            assert!(n.starts_with("org.apache.kafka.producer."), "{n}");
            assert!(!n.contains('-') && !n.contains(".."), "{n}");
        }
        for want in [
            "org.apache.kafka.producer.produce.throttle.time.avg",
            "org.apache.kafka.producer.produce.throttle.time.max",
            "org.apache.kafka.producer.request.latency.avg",
            "org.apache.kafka.producer.record.send.total",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
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
