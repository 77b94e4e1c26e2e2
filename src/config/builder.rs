//! [`ProducerConfigBuilder`]: typed setters, `set` by Kafka property name, and
//! `build`, which applies defaults and Kafka's rules.

use std::sync::Arc;
use std::time::Duration;

use super::metrics::{metrics_key, MetricsSettings};
use super::properties::*;
use super::security::{is_security_key, OAuthBearerTokenProvider, SecurityBuilder, SecurityProtocol};
use super::spool::{spool_key, SpoolSettings};
use super::{Acks, ConfigError, ProducerConfig};
use crate::partitioner::{Builtin, Partitioner, Placer};
use crate::protocol::compression::Compression;

/// What the `partitioner` setting holds until `build` knows `batch.size`.
#[derive(Debug, Clone)]
enum PartitionerChoice {
    Builtin(Builtin),
    Custom(Arc<dyn Partitioner>),
}

/// Builds a [`ProducerConfig`]; see the [module documentation](crate::config) for the
/// property names and the rules [`build`](Self::build) checks.
///
/// Every setter takes and returns the builder. Typed setters never fail; their
/// values are checked in `build`, like those given by name.
#[derive(Debug, Clone, Default)]
pub struct ProducerConfigBuilder {
    bootstrap_servers: Option<Set<String>>,
    client_id: Option<Set<String>>,
    acks: Option<Set<Acks>>,
    enable_idempotence: Option<Set<bool>>,
    linger: Option<Set<Duration>>,
    batch_size: Option<Set<usize>>,
    buffer_memory: Option<Set<usize>>,
    max_block: Option<Set<Duration>>,
    max_in_flight: Option<Set<usize>>,
    retries: Option<Set<u32>>,
    retry_backoff: Option<Set<Duration>>,
    retry_backoff_max: Option<Set<Duration>>,
    delivery_timeout: Option<Set<Duration>>,
    request_timeout: Option<Set<Duration>>,
    compression: Option<Set<Compression>>,
    compression_level: Option<Set<i32>>,
    gzip_level: Option<Set<i32>>,
    lz4_level: Option<Set<i32>>,
    zstd_level: Option<Set<i32>>,
    max_request_size: Option<Set<usize>>,
    partitioner: Option<Set<PartitionerChoice>>,
    metadata_max_age: Option<Set<Duration>>,
    metadata_max_idle: Option<Set<Duration>>,
    rebootstrap: Option<Set<bool>>,
    rebootstrap_trigger: Option<Set<Duration>>,
    allow_auto_create_topics: Option<Set<bool>>,
    enable_metrics_push: Option<Set<bool>>,
    connections_max_idle: Option<Set<Duration>>,
    reconnect_backoff: Option<Set<Duration>>,
    reconnect_backoff_max: Option<Set<Duration>>,
    socket_connection_setup_timeout: Option<Set<Duration>>,
    socket_connection_setup_timeout_max: Option<Set<Duration>>,
    transactional_id: Option<Set<String>>,
    transaction_timeout: Option<Set<Duration>>,
    /// `security.protocol`, `ssl.*` and `sasl.*`.
    security: SecurityBuilder,
    /// Interceptors, in registration order.
    interceptors: crate::interceptor::InterceptorList,
    /// `metrics.*` and `statistics.interval.ms`, and the statistics callback.
    pub(super) metrics: MetricsSettings,
    /// `spool.*`.
    pub(super) spool: SpoolSettings,
    /// The first error of `set`, reported by `build`.
    error: Option<ConfigError>,
}

/// Defaults (Java producer, Kafka 4.0).
mod default {
    use std::time::Duration;

    pub const CLIENT_ID: &str = "kafka-sync";
    pub const LINGER: Duration = Duration::from_millis(5);
    pub const BATCH_SIZE: usize = 16_384;
    pub const BUFFER_MEMORY: usize = 32 * 1024 * 1024;
    pub const MAX_BLOCK: Duration = Duration::from_millis(60_000);
    pub const MAX_IN_FLIGHT: usize = 5;
    pub const RETRIES: u32 = i32::MAX as u32;
    pub const RETRY_BACKOFF: Duration = Duration::from_millis(100);
    pub const RETRY_BACKOFF_MAX: Duration = Duration::from_millis(1_000);
    pub const DELIVERY_TIMEOUT: Duration = Duration::from_millis(120_000);
    pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(30_000);
    pub const MAX_REQUEST_SIZE: usize = 1024 * 1024;
    pub const METADATA_MAX_AGE: Duration = Duration::from_millis(300_000);
    pub const METADATA_MAX_IDLE: Duration = Duration::from_millis(300_000);
    pub const REBOOTSTRAP_TRIGGER: Duration = Duration::from_millis(300_000);
    pub const CONNECTIONS_MAX_IDLE: Duration = Duration::from_millis(540_000);
    pub const RECONNECT_BACKOFF: Duration = Duration::from_millis(50);
    pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_millis(1_000);
    pub const SETUP_TIMEOUT: Duration = Duration::from_millis(10_000);
    pub const SETUP_TIMEOUT_MAX: Duration = Duration::from_millis(30_000);
    pub const TRANSACTION_TIMEOUT: Duration = Duration::from_millis(60_000);
}

/// The most bytes a partition's batch grows to when `batch.size` is not set:
/// librdkafka's and franz-go's default (1,000,000 bytes), a little under the
/// broker's default `message.max.bytes` (1 MiB + 12).
pub const DEFAULT_MAX_BATCH_SIZE: usize = 1_000_000;

/// The most idempotence allows in flight: the broker remembers the last 5
/// batches per producer and partition.
const MAX_IN_FLIGHT_IDEMPOTENT: usize = 5;

fn set<T>(key: &'static str, value: T) -> Option<Set<T>> {
    Some(Set { value, key })
}

impl ProducerConfigBuilder {
    /// `bootstrap.servers`: brokers to fetch the cluster's metadata from, as
    /// comma-separated `host:port` (IPv6 as `[addr]:port`); the producer then
    /// connects to the leaders it learns of. One reachable broker is enough;
    /// list several in case one is down. `PLAINTEXT://` prefixes are accepted.
    /// Defaults to nothing: it is required, and `build` fails without it.
    pub fn bootstrap_servers(mut self, servers: impl AsRef<str>) -> Self {
        self.bootstrap_servers = set("bootstrap.servers", servers.as_ref().to_owned());
        self
    }

    /// `client.id`: a name sent in every request header, for broker logs and
    /// quotas. Defaults to `kafka-sync` (Java uses `producer-N`).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = set("client.id", id.into());
        self
    }

    /// `acks`: acknowledgements to wait for; see [`Acks`]. Anything but
    /// [`Acks::All`] turns a default idempotence off. Defaults to [`Acks::All`].
    pub fn acks(mut self, acks: Acks) -> Self {
        self.acks = set("acks", acks);
        self
    }

    /// `enable.idempotence`: number each partition's batches so retries
    /// cannot duplicate or reorder records (needs `acks=all`, `retries` > 0,
    /// at most 5 in flight). Setting it to `true` explicitly makes conflicting
    /// settings errors instead of silently turning it off. Defaults to `true`.
    pub fn enable_idempotence(mut self, enable: bool) -> Self {
        self.enable_idempotence = set("enable.idempotence", enable);
        self
    }

    /// `transactional.id`: makes the producer transactional (see
    /// [`Producer::init_transactions`](crate::Producer::init_transactions)).
    /// The id names the producer across restarts: a new producer with the
    /// same id fences the old one and aborts its open transaction. Implies
    /// idempotence, so `enable.idempotence=false`, `acks` other than `all`,
    /// `retries=0` or more than 5 requests in flight are errors. Not empty.
    /// Defaults to none (not transactional).
    pub fn transactional_id(mut self, id: impl Into<String>) -> Self {
        self.transactional_id = set("transactional.id", id.into());
        self
    }

    /// `transaction.timeout.ms`: how long the transaction coordinator lets a
    /// transaction stay open before it aborts it (and fences this producer's
    /// epoch). The broker caps it at its `transaction.max.timeout.ms` (15
    /// minutes by default) and refuses larger values at `init_transactions`.
    /// In milliseconds, at least 1, at most 2147483647. Only meaningful with
    /// `transactional.id`. Defaults to 60000 ms.
    pub fn transaction_timeout(mut self, timeout: Duration) -> Self {
        self.transaction_timeout = set("transaction.timeout.ms", timeout);
        self
    }

    /// `linger.ms`: how long a batch that is not full waits for more records
    /// before it is sent. By name, in milliseconds; fractions such as `0.5` are
    /// accepted (librdkafka allows them). Defaults to 5 ms (Kafka 4.0, KIP-1030).
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = set("linger.ms", linger);
        self
    }

    /// `batch.size`: bytes per partition batch; a full batch is sent at once,
    /// and unkeyed records switch partition after about this many bytes.
    /// At least 1, at most 2147483647. Defaults to 16384 bytes for the
    /// partitioner's switch; **when not set, batches may grow beyond it**, up
    /// to [`DEFAULT_MAX_BATCH_SIZE`] (1,000,000 bytes, librdkafka's default),
    /// while records arrive faster than `linger.ms` sends them: fewer, larger
    /// requests for the broker at high rates, the same small batches at low
    /// rates. Set it to make it a hard upper bound, as in Java.
    pub fn batch_size(mut self, bytes: usize) -> Self {
        self.batch_size = set("batch.size", bytes);
        self
    }

    /// `buffer.memory`: bytes that records waiting to be sent may occupy;
    /// `send` blocks up to `max.block.ms` when it is used up. At least
    /// `batch.size`. By name also `queue.buffering.max.kbytes`, in KiB.
    /// Defaults to 33554432 bytes (32 MiB).
    pub fn buffer_memory(mut self, bytes: usize) -> Self {
        self.buffer_memory = set("buffer.memory", bytes);
        self
    }

    /// `max.block.ms`: the longest `send` blocks waiting for buffer space or
    /// for the topic's metadata. In milliseconds. Defaults to 60000 ms.
    pub fn max_block(mut self, max_block: Duration) -> Self {
        self.max_block = set("max.block.ms", max_block);
        self
    }

    /// `max.in.flight.requests.per.connection`: unanswered produce requests per
    /// broker connection. At least 1; at most 5 while idempotence is on.
    /// Defaults to 5 requests.
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = set("max.in.flight.requests.per.connection", requests);
        self
    }

    /// `retries`: how many times a batch that failed with a retriable error
    /// is sent again; `delivery.timeout.ms` usually ends retrying first. 0
    /// turns a default idempotence off. At most 2147483647. Defaults to
    /// 2147483647 retries.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = set("retries", retries);
        self
    }

    /// `retry.backoff.ms`: the wait before the first retry of a batch; it
    /// doubles per attempt (with jitter) up to `retry.backoff.max.ms`. In
    /// milliseconds. Defaults to 100 ms.
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = set("retry.backoff.ms", backoff);
        self
    }

    /// `retry.backoff.max.ms`: the longest wait between retries. In
    /// milliseconds. Defaults to 1000 ms.
    pub fn retry_backoff_max(mut self, backoff: Duration) -> Self {
        self.retry_backoff_max = set("retry.backoff.max.ms", backoff);
        self
    }

    /// `delivery.timeout.ms`: the longest from `send` returning to the record's
    /// outcome (waiting, sending, retries). At least `linger.ms +
    /// request.timeout.ms`, at most 2147483647 ms. In milliseconds. Defaults to
    /// 120000 ms.
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout = set("delivery.timeout.ms", timeout);
        self
    }

    /// `request.timeout.ms`: how long to wait for a broker's response before
    /// retrying; also the produce request's broker-side timeout. 1 to
    /// 2147483647 ms. In milliseconds. Defaults to 30000 ms.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = set("request.timeout.ms", timeout);
        self
    }

    /// `compression.type`: the codec for record batches: `none`, `gzip`,
    /// `snappy`, `lz4` (cargo feature `lz4`) or `zstd` (cargo feature `zstd`).
    /// Defaults to [`Compression::None`].
    pub fn compression(mut self, codec: Compression) -> Self {
        self.compression = set("compression.type", codec);
        self
    }

    /// `compression.level` (librdkafka's name): the level for the chosen
    /// codec; -1 means the codec's default. Allowed: gzip 0-9, lz4 0-17, zstd
    /// -131072 to 22, none and snappy only 0. Java's `compression.gzip.level`
    /// (1-9 or -1), `compression.lz4.level` (1-17) and `compression.zstd.level`
    /// (-131072 to 22, where -1 is a real zstd level) are accepted by name;
    /// the one for the chosen codec wins over `compression.level`. A codec may
    /// not distinguish every level. Defaults to -1 (the codec's default).
    pub fn compression_level(mut self, level: i32) -> Self {
        self.compression_level = set("compression.level", level);
        self
    }

    /// `max.request.size`: the largest produce request in bytes, so also the
    /// largest record. At least 1, at most 2147483647. Defaults to 1048576
    /// bytes (1 MiB).
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = set("max.request.size", bytes);
        self
    }

    /// A custom partitioner for records without an explicit partition (see
    /// [`crate::partitioner`]). By name, `partitioner` takes `murmur2_random`,
    /// `murmur2`, `uniform_sticky` (`sticky`) or `round_robin`. Defaults to
    /// `murmur2_random`: Java-compatible murmur2 for keys, uniform sticky for
    /// records without a key ([`DefaultPartitioner`](crate::partitioner::DefaultPartitioner)).
    pub fn partitioner(mut self, partitioner: Arc<dyn Partitioner>) -> Self {
        self.partitioner = set("partitioner", PartitionerChoice::Custom(partitioner));
        self
    }

    /// `metadata.max.age.ms`: metadata older than this is refreshed even if no
    /// error suggested a change. In milliseconds. Defaults to 300000 ms (5 min).
    pub fn metadata_max_age(mut self, age: Duration) -> Self {
        self.metadata_max_age = set("metadata.max.age.ms", age);
        self
    }

    /// `metadata.max.idle.ms`: a topic the producer has not sent to for this
    /// long is dropped from its metadata requests; its next send fetches it
    /// again (waiting up to `max.block.ms`). At least 5000 ms, as in Java.
    /// In milliseconds. Defaults to 300000 ms (5 min).
    pub fn metadata_max_idle(mut self, idle: Duration) -> Self {
        self.metadata_max_idle = set("metadata.max.idle.ms", idle);
        self
    }

    /// `metadata.recovery.strategy` (KIP-899): with `true` (`rebootstrap`,
    /// the default as in Java 4.0 and librdkafka 2.11), when no known broker
    /// answers, the producer goes back to `bootstrap.servers`, resolving the
    /// names again; with `false` (`none`) it only ever asks the brokers it
    /// learned of.
    pub fn metadata_recovery_rebootstrap(mut self, on: bool) -> Self {
        self.rebootstrap = set("metadata.recovery.strategy", on);
        self
    }

    /// `metadata.recovery.rebootstrap.trigger.ms` (KIP-1102): when metadata
    /// could not be refreshed for this long, the producer rebootstraps even
    /// if some known broker still accepts connections. Defaults to 300000 ms.
    pub fn metadata_recovery_rebootstrap_trigger(mut self, after: Duration) -> Self {
        self.rebootstrap_trigger = set("metadata.recovery.rebootstrap.trigger.ms", after);
        self
    }

    /// `allow.auto.create.topics`: whether the producer's metadata requests
    /// allow the broker to create a topic it does not know (the broker must
    /// also have `auto.create.topics.enable`). Turn it off so that a deleted
    /// topic is not recreated by a producer still sending to it.
    /// Defaults to `true`, as in Java.
    pub fn allow_auto_create_topics(mut self, allow: bool) -> Self {
        self.allow_auto_create_topics = set("allow.auto.create.topics", allow);
        self
    }

    /// `enable.metrics.push`: whether the producer pushes its metrics to a
    /// broker that asks for them (client telemetry, KIP-714): it asks one
    /// broker for a subscription (GetTelemetrySubscriptions), then pushes
    /// the metrics the cluster's client metrics subscriptions name at the
    /// interval they set (PushTelemetry), and a last time while closing.
    /// Brokers without a client telemetry plugin, and older ones, are never
    /// asked. Defaults to `true`, as in Java and librdkafka.
    pub fn enable_metrics_push(mut self, enable: bool) -> Self {
        self.enable_metrics_push = set("enable.metrics.push", enable);
        self
    }

    /// `connections.max.idle.ms`: a broker connection with nothing sent or
    /// received for this long is closed by the producer, so that it is not
    /// used after the broker's own idle limit (`connections.max.idle.ms` on
    /// the broker, 600000 ms by default) dropped it. In milliseconds.
    /// Defaults to 540000 ms (9 min), as in Java.
    pub fn connections_max_idle(mut self, idle: Duration) -> Self {
        self.connections_max_idle = set("connections.max.idle.ms", idle);
        self
    }

    /// `reconnect.backoff.ms`: the wait before reconnecting to a broker after a
    /// failure; grows per consecutive failure up to `reconnect.backoff.max.ms`.
    /// In milliseconds. Defaults to 50 ms.
    pub fn reconnect_backoff(mut self, backoff: Duration) -> Self {
        self.reconnect_backoff = set("reconnect.backoff.ms", backoff);
        self
    }

    /// `reconnect.backoff.max.ms`: the longest wait before reconnecting. In
    /// milliseconds. Defaults to 1000 ms, or to `reconnect.backoff.ms` when only
    /// that was set.
    pub fn reconnect_backoff_max(mut self, backoff: Duration) -> Self {
        self.reconnect_backoff_max = set("reconnect.backoff.max.ms", backoff);
        self
    }

    /// `socket.connection.setup.timeout.ms`: how long a TCP connect may take;
    /// grows per consecutive failure up to
    /// `socket.connection.setup.timeout.max.ms`. At least 1 ms. In
    /// milliseconds. Defaults to 10000 ms.
    pub fn socket_connection_setup_timeout(mut self, timeout: Duration) -> Self {
        self.socket_connection_setup_timeout = set("socket.connection.setup.timeout.ms", timeout);
        self
    }

    /// `socket.connection.setup.timeout.max.ms`: the longest connect timeout.
    /// In milliseconds. Defaults to 30000 ms.
    pub fn socket_connection_setup_timeout_max(mut self, timeout: Duration) -> Self {
        self.socket_connection_setup_timeout_max = set("socket.connection.setup.timeout.max.ms", timeout);
        self
    }

    /// `security.protocol`: plain TCP (the default), TLS, SASL, or SASL over
    /// TLS. The TLS and SASL settings themselves are set by their Kafka names
    /// with [`set`](Self::set); see [`security`](super::security).
    pub fn security_protocol(mut self, protocol: SecurityProtocol) -> Self {
        self.security.set_protocol(protocol);
        self
    }

    /// Adds an interceptor (Java's `ProducerInterceptor`): it sees every
    /// record `send` takes, may change it, and sees every outcome. Several
    /// run in the order they were added; see [`interceptor`](crate::interceptor).
    pub fn interceptor(mut self, interceptor: Arc<dyn crate::interceptor::ProducerInterceptor>) -> Self {
        self.interceptors.0.push(interceptor);
        self
    }

    /// The source of OAUTHBEARER tokens (with `sasl.mechanism=OAUTHBEARER`):
    /// called when a connection authenticates and the cached token has used
    /// 80% of its lifetime. Takes precedence over unsecured-token settings.
    pub fn oauthbearer_token_provider(mut self, provider: Arc<dyn OAuthBearerTokenProvider>) -> Self {
        self.security.set_provider(provider);
        self
    }

    /// Sets a property by its Kafka name (see the [module documentation](crate::config)
    /// for names and aliases). Never fails here: the first error is kept and
    /// returned by [`build`](Self::build). Later settings of the same property
    /// (under any of its names, or by a typed setter) replace earlier ones.
    pub fn set(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        if let Err(e) = self.apply(key.as_ref().trim(), value.as_ref().trim()) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Like [`set`](Self::set), but reports an unknown key or unparsable value
    /// at once (range and consistency checks still wait for `build`).
    pub fn try_set(
        &mut self,
        key: impl AsRef<str>,
        value: impl AsRef<str>,
    ) -> Result<&mut Self, ConfigError> {
        self.apply(key.as_ref().trim(), value.as_ref().trim())?;
        Ok(self)
    }

    /// Calls [`set`](Self::set) for each `(key, value)`.
    pub fn set_all<I, K, V>(self, properties: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        properties.into_iter().fold(self, |b, (k, v)| b.set(k, v))
    }

    fn apply(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        if is_security_key(key) {
            return self.security.apply(key, value);
        }
        if let Some(key) = metrics_key(key) {
            return self.metrics.apply(key, value);
        }
        if let Some(key) = spool_key(key) {
            return self.spool.apply(key, value);
        }
        let Some((name, k)) = lookup(key) else { return Err(not_a_property(key)) };
        match k {
            Key::BootstrapServers => self.bootstrap_servers = set(name, value.to_owned()),
            Key::ClientId => self.client_id = set(name, value.to_owned()),
            Key::Acks => {
                let acks = Acks::from_name(value).ok_or_else(|| invalid(name, value, "0, 1, all or -1"))?;
                self.acks = set(name, acks);
            }
            Key::EnableIdempotence => self.enable_idempotence = set(name, parse_bool(name, value)?),
            Key::Linger => self.linger = set(name, parse_fractional_ms(name, value)?),
            Key::BatchSize => self.batch_size = set(name, parse_size(name, value, 1)?),
            Key::BufferMemory => self.buffer_memory = set(name, parse_size(name, value, 1)?),
            Key::BufferMemoryKib => self.buffer_memory = set(name, parse_size(name, value, 1024)?),
            Key::MaxBlock => self.max_block = set(name, parse_ms(name, value)?),
            Key::MaxInFlight => self.max_in_flight = set(name, parse_size(name, value, 1)?),
            Key::Retries => {
                let n = parse_u64(name, value)?;
                let n = u32::try_from(n).map_err(|_| out_of_range(name, value, "at most 2147483647"))?;
                self.retries = set(name, n);
            }
            Key::RetryBackoff => self.retry_backoff = set(name, parse_ms(name, value)?),
            Key::RetryBackoffMax => self.retry_backoff_max = set(name, parse_ms(name, value)?),
            Key::DeliveryTimeout => self.delivery_timeout = set(name, parse_ms(name, value)?),
            Key::RequestTimeout => self.request_timeout = set(name, parse_ms(name, value)?),
            Key::Compression => {
                let codec = Compression::from_name(value)
                    .ok_or_else(|| invalid(name, value, "none, gzip, snappy, lz4 or zstd"))?;
                self.compression = set(name, codec);
            }
            Key::CompressionLevel => self.compression_level = set(name, parse_i32(name, value)?),
            Key::GzipLevel => self.gzip_level = set(name, parse_i32(name, value)?),
            Key::Lz4Level => self.lz4_level = set(name, parse_i32(name, value)?),
            Key::ZstdLevel => self.zstd_level = set(name, parse_i32(name, value)?),
            Key::MaxRequestSize => self.max_request_size = set(name, parse_size(name, value, 1)?),
            Key::Partitioner => {
                let builtin = Builtin::from_name(value).ok_or_else(|| {
                    invalid(
                        name,
                        value,
                        "murmur2_random, murmur2, uniform_sticky, sticky or round_robin \
                         (librdkafka's consistent_random, consistent, random and fnv1a are not supported)",
                    )
                })?;
                self.partitioner = set(name, PartitionerChoice::Builtin(builtin));
            }
            Key::MetadataMaxAge => self.metadata_max_age = set(name, parse_ms(name, value)?),
            Key::MetadataMaxIdle => self.metadata_max_idle = set(name, parse_ms(name, value)?),
            Key::MetadataRecoveryStrategy => {
                let on = if value.eq_ignore_ascii_case("rebootstrap") {
                    true
                } else if value.eq_ignore_ascii_case("none") {
                    false
                } else {
                    return Err(invalid(name, value, "rebootstrap or none"));
                };
                self.rebootstrap = set(name, on);
            }
            Key::RebootstrapTrigger => self.rebootstrap_trigger = set(name, parse_ms(name, value)?),
            Key::ClientDnsLookup => {
                // Every address a name resolves to is tried in turn (Java's
                // default since 3.0); the bootstrap-only canonical form is
                // a Kerberos matter, not supported.
                if !value.eq_ignore_ascii_case("use_all_dns_ips") {
                    return Err(ConfigError::Unsupported {
                        key: name.to_owned(),
                        reason:
                            "only use_all_dns_ips (the default: every address a name resolves to is tried)",
                    });
                }
            }
            Key::AllowAutoCreateTopics => self.allow_auto_create_topics = set(name, parse_bool(name, value)?),
            Key::TransactionalId => self.transactional_id = set(name, value.to_owned()),
            Key::TransactionTimeout => self.transaction_timeout = set(name, parse_ms(name, value)?),
            Key::EnableMetricsPush => self.enable_metrics_push = set(name, parse_bool(name, value)?),
            Key::ConnectionsMaxIdle => self.connections_max_idle = set(name, parse_ms(name, value)?),
            Key::ReconnectBackoff => self.reconnect_backoff = set(name, parse_ms(name, value)?),
            Key::ReconnectBackoffMax => self.reconnect_backoff_max = set(name, parse_ms(name, value)?),
            Key::SetupTimeout => self.socket_connection_setup_timeout = set(name, parse_ms(name, value)?),
            Key::SetupTimeoutMax => {
                self.socket_connection_setup_timeout_max = set(name, parse_ms(name, value)?)
            }
            Key::Ignored => log::debug!("ignoring `{name}`: records are serialized by the caller"),
        }
        Ok(())
    }

    /// Applies defaults and Kafka's rules, and checks every value; see the
    /// [module documentation](crate::config) for the rules. Returns the first error
    /// of [`set`](Self::set), if any, before checking anything else.
    pub fn build(self) -> Result<ProducerConfig, ConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }

        let bootstrap_servers = match &self.bootstrap_servers {
            Some(s) => parse_servers(s.key, &s.value)?,
            None => return Err(ConfigError::Missing { key: "bootstrap.servers" }),
        };

        let batch_size = value_or(&self.batch_size, default::BATCH_SIZE);
        check_size(&self.batch_size, 1)?;
        // (max.request.size is checked below; the cap uses its value as given.)
        let max_batch_size = match &self.batch_size {
            Some(s) => s.value,
            None => DEFAULT_MAX_BATCH_SIZE
                .min(value_or(&self.max_request_size, default::MAX_REQUEST_SIZE))
                .max(batch_size),
        };
        let buffer_memory = value_or(&self.buffer_memory, default::BUFFER_MEMORY);
        if buffer_memory < batch_size {
            let key = key_or(&self.buffer_memory, "buffer.memory");
            return Err(ConfigError::OutOfRange {
                key: key.to_owned(),
                value: buffer_memory.to_string(),
                allowed: format!("at least batch.size ({batch_size} bytes)"),
            });
        }
        let max_request_size = value_or(&self.max_request_size, default::MAX_REQUEST_SIZE);
        check_size(&self.max_request_size, 1)?;
        let max_in_flight = value_or(&self.max_in_flight, default::MAX_IN_FLIGHT);
        check_size(&self.max_in_flight, 1)?;
        let retries = value_or(&self.retries, default::RETRIES);
        if let Some(s) = &self.retries {
            if u64::from(s.value) > INT_MAX {
                return Err(out_of_range(s.key, s.value, "at most 2147483647"));
            }
        }

        let linger = value_or(&self.linger, default::LINGER);
        let request_timeout = value_or(&self.request_timeout, default::REQUEST_TIMEOUT);
        check_ms(&self.request_timeout, 1, INT_MAX)?;
        check_ms(&self.delivery_timeout, 0, INT_MAX)?;
        let min_delivery = linger.saturating_add(request_timeout).min(Duration::from_millis(INT_MAX));
        let delivery_timeout = match &self.delivery_timeout {
            Some(s) if s.value < min_delivery => {
                return Err(ConfigError::Conflict {
                    key: s.key.to_owned(),
                    value: ms(s.value),
                    other: format!("linger.ms + request.timeout.ms = {}", ms(min_delivery)),
                    reason: "a record could expire before its first request timed out",
                });
            }
            Some(s) => s.value,
            None => default::DELIVERY_TIMEOUT.max(min_delivery),
        };

        let (retry_backoff, retry_backoff_max) = backoff_pair(
            &self.retry_backoff,
            &self.retry_backoff_max,
            default::RETRY_BACKOFF,
            default::RETRY_BACKOFF_MAX,
            false,
        )?;
        let (reconnect_backoff, reconnect_backoff_max) = backoff_pair(
            &self.reconnect_backoff,
            &self.reconnect_backoff_max,
            default::RECONNECT_BACKOFF,
            default::RECONNECT_BACKOFF_MAX,
            true,
        )?;
        check_ms(&self.metadata_max_idle, 5000, INT_MAX)?;
        let metadata_max_idle = value_or(&self.metadata_max_idle, default::METADATA_MAX_IDLE);
        check_ms(&self.rebootstrap_trigger, 0, INT_MAX)?;
        check_ms(&self.connections_max_idle, 1, u64::MAX)?;
        check_ms(&self.socket_connection_setup_timeout, 1, u64::MAX)?;
        let (socket_connection_setup_timeout, socket_connection_setup_timeout_max) = backoff_pair(
            &self.socket_connection_setup_timeout,
            &self.socket_connection_setup_timeout_max,
            default::SETUP_TIMEOUT,
            default::SETUP_TIMEOUT_MAX,
            false,
        )?;
        check_ms(&self.socket_connection_setup_timeout_max, 1, u64::MAX)?;

        let compression = value_or(&self.compression, Compression::None);
        if !compression.is_available() {
            let feature = match compression {
                Compression::Zstd => "zstd",
                _ => "lz4",
            };
            return Err(ConfigError::FeatureMissing {
                key: key_or(&self.compression, "compression.type").to_owned(),
                codec: compression,
                feature,
            });
        }
        let compression_level = self.resolve_compression_level(compression)?;

        let security = self.security.build()?;
        let metrics = self.metrics.build()?;
        let acks = value_or(&self.acks, Acks::All);
        let enable_idempotence = self.resolve_idempotence(acks, retries, max_in_flight)?;
        check_ms(&self.transaction_timeout, 1, INT_MAX)?;
        let transactional_id = match self.transactional_id.as_ref() {
            Some(s) if s.value.is_empty() => {
                return Err(invalid(s.key, "", "a non-empty transactional id"));
            }
            Some(s) => Some(s.value.clone()),
            None => None,
        };
        let spool = self.spool.build(enable_idempotence, transactional_id.is_some())?;

        let placer = match self.partitioner.map(|s| s.value) {
            Some(PartitionerChoice::Custom(p)) => Placer::custom(p),
            Some(PartitionerChoice::Builtin(b)) => b.build(batch_size),
            None => Builtin::Murmur2Random.build(batch_size),
        };

        Ok(ProducerConfig {
            bootstrap_servers,
            client_id: self.client_id.map_or_else(|| default::CLIENT_ID.to_owned(), |s| s.value),
            acks,
            enable_idempotence,
            linger,
            batch_size,
            max_batch_size,
            buffer_memory,
            max_block: value_or(&self.max_block, default::MAX_BLOCK),
            max_in_flight,
            retries,
            retry_backoff,
            retry_backoff_max,
            delivery_timeout,
            request_timeout,
            compression,
            compression_level,
            max_request_size,
            placer,
            metadata_max_age: value_or(&self.metadata_max_age, default::METADATA_MAX_AGE),
            metadata_max_idle,
            metadata_recovery_rebootstrap: value_or(&self.rebootstrap, true),
            metadata_recovery_rebootstrap_trigger: value_or(
                &self.rebootstrap_trigger,
                default::REBOOTSTRAP_TRIGGER,
            ),
            allow_auto_create_topics: value_or(&self.allow_auto_create_topics, true),
            enable_metrics_push: value_or(&self.enable_metrics_push, true),
            connections_max_idle: value_or(&self.connections_max_idle, default::CONNECTIONS_MAX_IDLE),
            reconnect_backoff,
            reconnect_backoff_max,
            socket_connection_setup_timeout,
            socket_connection_setup_timeout_max,
            transactional_id,
            transaction_timeout: value_or(&self.transaction_timeout, default::TRANSACTION_TIMEOUT),
            security,
            interceptors: crate::interceptor::Interceptors::new(self.interceptors.0),
            metrics,
            spool,
        })
    }

    /// Java's rules (`ProducerConfig.postProcessAndValidateIdempotenceConfigs`,
    /// Kafka 4.0): conflicts are errors when idempotence was set explicitly,
    /// and turn it off when it was only the default; too many in flight is an
    /// error whenever it stays on.
    fn resolve_idempotence(
        &self,
        acks: Acks,
        retries: u32,
        max_in_flight: usize,
    ) -> Result<bool, ConfigError> {
        // A transactional id requires idempotence, as an explicit
        // `enable.idempotence=true` does: conflicts are errors naming it.
        let txn = self.transactional_id.as_ref();
        if let (Some(t), Some(off)) = (txn, self.enable_idempotence.as_ref().filter(|s| !s.value)) {
            return Err(ConfigError::Conflict {
                key: off.key.to_owned(),
                value: "false".into(),
                other: format!("{} = {}", t.key, t.value),
                reason: "a transactional producer is idempotent",
            });
        }
        let explicit = self.enable_idempotence.as_ref().filter(|s| s.value);
        let strict = explicit.is_some() || txn.is_some();
        let mut enabled = self.enable_idempotence.as_ref().is_none_or(|s| s.value);
        if !enabled {
            return Ok(false);
        }
        let other = match (explicit, txn) {
            (Some(e), _) => format!("{} = true", e.key),
            (None, Some(t)) => format!("{} = {}", t.key, t.value),
            (None, None) => "enable.idempotence = true".to_owned(),
        };
        let conflict = |key: &'static str, value: String, reason| ConfigError::Conflict {
            key: key.to_owned(),
            value,
            other: other.clone(),
            reason,
        };
        if retries == 0 {
            let key = key_or(&self.retries, "retries");
            if strict {
                return Err(conflict(key, "0".into(), "the idempotent producer needs retries > 0"));
            }
            log::info!("idempotence disabled because {key} is 0");
            enabled = false;
        }
        if acks != Acks::All {
            let key = key_or(&self.acks, "acks");
            if strict {
                return Err(conflict(key, acks.to_string(), "the idempotent producer needs acks=all"));
            }
            log::info!("idempotence disabled because {key} is {acks}, not all");
            enabled = false;
        }
        if enabled && max_in_flight > MAX_IN_FLIGHT_IDEMPOTENT {
            let key = key_or(&self.max_in_flight, "max.in.flight.requests.per.connection");
            return Err(conflict(
                key,
                max_in_flight.to_string(),
                "the idempotent producer allows at most 5 requests in flight \
                 (idempotence is on by default; set enable.idempotence=false for more)",
            ));
        }
        Ok(enabled)
    }

    /// The level for `codec`: its Java per-codec key if set, else
    /// `compression.level`; each checked against the codec's range.
    fn resolve_compression_level(&self, codec: Compression) -> Result<Option<i32>, ConfigError> {
        // Java validates its per-codec keys whatever the codec.
        let java = [
            (&self.gzip_level, Compression::Gzip, "1 to 9, or -1 for the default"),
            (&self.lz4_level, Compression::Lz4, "1 to 17"),
            (&self.zstd_level, Compression::Zstd, "-131072 to 22"),
        ];
        let mut chosen = None;
        for (setting, for_codec, allowed) in java {
            let Some(s) = setting else { continue };
            let ok = match for_codec {
                Compression::Gzip => s.value == -1 || (1..=9).contains(&s.value),
                Compression::Lz4 => (1..=17).contains(&s.value),
                _ => (-131_072..=22).contains(&s.value),
            };
            if !ok {
                return Err(out_of_range(s.key, s.value, allowed));
            }
            if for_codec == codec {
                chosen = Some(if codec == Compression::Gzip && s.value == -1 { None } else { Some(s.value) });
            }
        }
        if let Some(level) = chosen {
            return Ok(level);
        }
        let Some(s) = &self.compression_level else { return Ok(None) };
        if s.value == -1 {
            return Ok(None);
        }
        let (ok, allowed) = match codec {
            Compression::Gzip => ((0..=9).contains(&s.value), "0 to 9 for gzip, or -1 for the default"),
            Compression::Lz4 => ((0..=17).contains(&s.value), "0 to 17 for lz4, or -1 for the default"),
            Compression::Zstd => {
                ((-131_072..=22).contains(&s.value), "-131072 to 22 for zstd, or -1 for the default")
            }
            _ => (s.value == 0, "only 0 or -1 without a codec that has levels"),
        };
        if !ok {
            return Err(out_of_range(s.key, s.value, allowed));
        }
        Ok(match codec {
            Compression::Gzip | Compression::Lz4 | Compression::Zstd => Some(s.value),
            _ => None,
        })
    }
}
