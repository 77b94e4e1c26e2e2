//! The broker side of client telemetry (KIP-714): GetTelemetrySubscriptions
//! and PushTelemetry, served only once [`MockCluster::set_telemetry`]
//! configures a subscription (like a Kafka broker, which advertises these
//! APIs only with a client telemetry plugin).
//!
//! [`MockCluster::set_telemetry`]: super::MockCluster::set_telemetry

use std::time::Duration;

use crate::protocol::compression::{decompress, Compression};
use crate::protocol::messages::get_telemetry_subscriptions::{
    GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse, NIL_CLIENT_INSTANCE_ID,
};
use crate::protocol::messages::push_telemetry::{PushTelemetryRequest, PushTelemetryResponse};
use crate::protocol::otlp::metric_names;
use crate::protocol::primitives::Uuid;
use crate::KafkaCode;

/// A client metrics subscription the mock hands out (Kafka's
/// `CLIENT_METRICS` config resource, reduced to what the protocol carries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockTelemetry {
    /// Metric-name prefixes to push: empty for none, `""` or `"*"` for all.
    pub requested_metrics: Vec<String>,
    /// How often clients push. Defaults to 1 s (Kafka's default is 5 min).
    pub push_interval: Duration,
    /// Codecs accepted for the payload, in order of preference. Defaults to
    /// zstd, lz4, snappy, gzip, as Kafka lists them.
    pub accepted_compression: Vec<Compression>,
    /// Largest payload accepted, in bytes. Defaults to 1 MiB, as Kafka.
    pub max_bytes: i32,
    /// Whether sums are asked for as deltas. Defaults to `true`, as Kafka.
    pub delta_temporality: bool,
}

impl Default for MockTelemetry {
    fn default() -> Self {
        Self {
            requested_metrics: vec![String::new()],
            push_interval: Duration::from_secs(1),
            accepted_compression: vec![
                Compression::Zstd,
                Compression::Lz4,
                Compression::Snappy,
                Compression::Gzip,
            ],
            max_bytes: 1 << 20,
            delta_temporality: true,
        }
    }
}

impl MockTelemetry {
    /// A subscription to the metrics whose names start with one of `prefixes`.
    pub fn requesting<S: Into<String>>(prefixes: impl IntoIterator<Item = S>) -> Self {
        Self { requested_metrics: prefixes.into_iter().map(Into::into).collect(), ..Self::default() }
    }

    /// The same with another push interval.
    pub fn every(mut self, interval: Duration) -> Self {
        self.push_interval = interval;
        self
    }
}

/// One PushTelemetry request the mock received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryPush {
    /// The broker that received it.
    pub broker: i32,
    /// The client instance id it named.
    pub client_instance_id: Uuid,
    /// The subscription id it named.
    pub subscription_id: i32,
    /// Whether it was the client's terminating push.
    pub terminating: bool,
    /// Its compression type (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub compression_type: i8,
    /// The names of the metrics it carried (empty if it could not be decoded).
    pub metric_names: Vec<String>,
    /// The error code the mock answered with (0 for success).
    pub error_code: i16,
}

/// What the cluster keeps for telemetry.
#[derive(Debug, Default)]
pub(crate) struct TelemetryState {
    pub config: Option<MockTelemetry>,
    /// Changes with every [`MockTelemetry`] set, so that pushes for an older
    /// one get `UNKNOWN_SUBSCRIPTION_ID`.
    subscription_id: i32,
    instances: u64,
    pub subscriptions_served: usize,
    pub pushes: Vec<TelemetryPush>,
}

/// Largest decompressed payload the mock decodes.
const MAX_DECOMPRESSED: usize = 16 << 20;

impl TelemetryState {
    pub fn set(&mut self, config: Option<MockTelemetry>) {
        self.config = config;
        self.subscription_id = self.subscription_id.wrapping_add(1);
    }

    pub fn subscriptions(
        &mut self,
        req: &GetTelemetrySubscriptionsRequest,
        error: Option<KafkaCode>,
        new_id: impl FnOnce(u64) -> Uuid,
    ) -> GetTelemetrySubscriptionsResponse {
        self.subscriptions_served += 1;
        let mut resp = GetTelemetrySubscriptionsResponse::default();
        if let Some(code) = error {
            resp.error_code = code.0;
            return resp;
        }
        let Some(c) = &self.config else {
            resp.error_code = KafkaCode::INVALID_REQUEST.0;
            return resp;
        };
        if req.client_instance_id == NIL_CLIENT_INSTANCE_ID {
            self.instances += 1;
            resp.client_instance_id = new_id(self.instances);
        }
        resp.subscription_id = self.subscription_id;
        resp.accepted_compression_types = c.accepted_compression.iter().map(|c| c.code() as i8).collect();
        resp.push_interval_ms = i32::try_from(c.push_interval.as_millis()).unwrap_or(i32::MAX);
        resp.telemetry_max_bytes = c.max_bytes;
        resp.delta_temporality = c.delta_temporality;
        resp.requested_metrics = c.requested_metrics.clone();
        resp
    }

    pub fn push(
        &mut self,
        broker: i32,
        req: &PushTelemetryRequest,
        error: Option<KafkaCode>,
    ) -> PushTelemetryResponse {
        let names = self.decode(req);
        let code = match (&self.config, error) {
            (_, Some(code)) => code,
            (None, _) => KafkaCode::INVALID_REQUEST,
            (Some(_), _) if req.subscription_id != self.subscription_id => KafkaCode::UNKNOWN_SUBSCRIPTION_ID,
            (Some(c), _) if req.metrics.len() > usize::try_from(c.max_bytes).unwrap_or(0) => {
                KafkaCode::TELEMETRY_TOO_LARGE
            }
            (Some(c), _)
                if req.compression_type != 0
                    && !c
                        .accepted_compression
                        .iter()
                        .any(|a| a.code() == i16::from(req.compression_type)) =>
            {
                KafkaCode::UNSUPPORTED_COMPRESSION_TYPE
            }
            _ if names.is_none() => KafkaCode::INVALID_RECORD,
            _ => KafkaCode::NONE,
        };
        self.pushes.push(TelemetryPush {
            broker,
            client_instance_id: req.client_instance_id,
            subscription_id: req.subscription_id,
            terminating: req.terminating,
            compression_type: req.compression_type,
            metric_names: names.unwrap_or_default(),
            error_code: code.0,
        });
        PushTelemetryResponse { throttle_time_ms: 0, error_code: code.0 }
    }

    /// The metric names in a push, or `None` if it does not decode.
    fn decode(&self, req: &PushTelemetryRequest) -> Option<Vec<String>> {
        let codec = Compression::from_code(i16::from(req.compression_type))?;
        let mut raw = Vec::new();
        decompress(codec, &req.metrics, MAX_DECOMPRESSED, &mut raw).ok()?;
        metric_names(&raw).ok()
    }
}
