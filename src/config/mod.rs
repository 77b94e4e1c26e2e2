//! Producer configuration: a typed builder that also takes Kafka property names.
//!
//! Build a [`ProducerConfig`] with typed setters, with Kafka property names
//! (so Java or librdkafka settings can be pasted), or both:
//!
//! ```
//! use std::time::Duration;
//! use kafka_sync::{Acks, ProducerConfig};
//! use kafka_sync::protocol::compression::Compression;
//!
//! let config = ProducerConfig::builder()
//!     .bootstrap_servers("kafka-1:9092,kafka-2:9092")
//!     .linger(Duration::from_millis(20))
//!     .acks(Acks::All)
//!     .compression(Compression::Gzip)
//!     .set("batch.size", "65536")
//!     .set("queue.buffering.max.ms", "10") // librdkafka's name for linger.ms: the last setting wins
//!     .build()?;
//! assert_eq!(config.linger(), Duration::from_millis(10));
//! assert_eq!(config.batch_size(), 65536);
//!
//! let pasted = ProducerConfig::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("acks", "1"),
//!     ("key.serializer", "org.apache.kafka.common.serialization.StringSerializer"),
//! ])?;
//! assert_eq!(pasted.acks(), Acks::Leader);
//! assert!(!pasted.enable_idempotence()); // acks=1 turns the default idempotence off, as in Java
//! # Ok::<(), kafka_sync::ConfigError>(())
//! ```
//!
//! [`ProducerConfigBuilder::set`] does not fail: it records the first error,
//! and [`ProducerConfigBuilder::build`] returns it. Use
//! [`ProducerConfigBuilder::try_set`] to see an error at once (say, to point at
//! one line of a properties file).
//!
//! # Properties
//!
//! Defaults are the Java producer's (Kafka 4.0) unless noted. Times are
//! milliseconds, sizes bytes. Keys are case-sensitive, as in Kafka; values are
//! trimmed, and names in values (`all`, `gzip`, `true`...) are case-insensitive.
//!
//! | key | also accepted (librdkafka) | setter | default |
//! |---|---|---|---|
//! | `bootstrap.servers` | `metadata.broker.list` | [`bootstrap_servers`](ProducerConfigBuilder::bootstrap_servers) | required |
//! | `client.id` | | [`client_id`](ProducerConfigBuilder::client_id) | `kafka-sync` |
//! | `acks` | `request.required.acks` | [`acks`](ProducerConfigBuilder::acks) | `all` |
//! | `enable.idempotence` | | [`enable_idempotence`](ProducerConfigBuilder::enable_idempotence) | `true` |
//! | `linger.ms` | `queue.buffering.max.ms` | [`linger`](ProducerConfigBuilder::linger) | 5 |
//! | `batch.size` | | [`batch_size`](ProducerConfigBuilder::batch_size) | 16384 (batches grow to 1000000 while it is unset, see [`ProducerConfig::max_batch_size`]) |
//! | `buffer.memory` | `queue.buffering.max.kbytes` (in KiB) | [`buffer_memory`](ProducerConfigBuilder::buffer_memory) | 33554432 |
//! | `max.block.ms` | | [`max_block`](ProducerConfigBuilder::max_block) | 60000 |
//! | `max.in.flight.requests.per.connection` | `max.in.flight` | [`max_in_flight`](ProducerConfigBuilder::max_in_flight) | 5 |
//! | `retries` | `message.send.max.retries` | [`retries`](ProducerConfigBuilder::retries) | 2147483647 |
//! | `retry.backoff.ms` | | [`retry_backoff`](ProducerConfigBuilder::retry_backoff) | 100 |
//! | `retry.backoff.max.ms` | | [`retry_backoff_max`](ProducerConfigBuilder::retry_backoff_max) | 1000 |
//! | `delivery.timeout.ms` | `message.timeout.ms` | [`delivery_timeout`](ProducerConfigBuilder::delivery_timeout) | 120000 |
//! | `request.timeout.ms` | | [`request_timeout`](ProducerConfigBuilder::request_timeout) | 30000 |
//! | `compression.type` | `compression.codec` | [`compression`](ProducerConfigBuilder::compression) | `none` |
//! | `compression.level` | | [`compression_level`](ProducerConfigBuilder::compression_level) | codec default |
//! | `compression.gzip.level`, `compression.lz4.level`, `compression.zstd.level` | | (Java's per-codec levels) | codec default |
//! | `max.request.size` | `message.max.bytes` | [`max_request_size`](ProducerConfigBuilder::max_request_size) | 1048576 |
//! | `partitioner` | | [`partitioner`](ProducerConfigBuilder::partitioner) | `murmur2_random` |
//! | `metadata.max.age.ms` | | [`metadata_max_age`](ProducerConfigBuilder::metadata_max_age) | 300000 |
//! | `metadata.max.idle.ms` | | [`metadata_max_idle`](ProducerConfigBuilder::metadata_max_idle) | 300000 |
//! | `metadata.recovery.strategy` | | [`metadata_recovery_rebootstrap`](ProducerConfigBuilder::metadata_recovery_rebootstrap) | `rebootstrap` |
//! | `metadata.recovery.rebootstrap.trigger.ms` | | [`metadata_recovery_rebootstrap_trigger`](ProducerConfigBuilder::metadata_recovery_rebootstrap_trigger) | 300000 |
//! | `client.dns.lookup` | | only `use_all_dns_ips` (every address is tried) | `use_all_dns_ips` |
//! | `allow.auto.create.topics` | | [`allow_auto_create_topics`](ProducerConfigBuilder::allow_auto_create_topics) | `true` |
//! | `enable.metrics.push` | | [`enable_metrics_push`](ProducerConfigBuilder::enable_metrics_push) (KIP-714) | `true` |
//! | `connections.max.idle.ms` | | [`connections_max_idle`](ProducerConfigBuilder::connections_max_idle) | 540000 |
//! | `reconnect.backoff.ms` | | [`reconnect_backoff`](ProducerConfigBuilder::reconnect_backoff) | 50 |
//! | `reconnect.backoff.max.ms` | | [`reconnect_backoff_max`](ProducerConfigBuilder::reconnect_backoff_max) | 1000 |
//! | `socket.connection.setup.timeout.ms` | | [`socket_connection_setup_timeout`](ProducerConfigBuilder::socket_connection_setup_timeout) | 10000 |
//! | `socket.connection.setup.timeout.max.ms` | | [`socket_connection_setup_timeout_max`](ProducerConfigBuilder::socket_connection_setup_timeout_max) | 30000 |
//! | `metrics.num.samples` | | [`metrics_num_samples`](ProducerConfigBuilder::metrics_num_samples) | 2 |
//! | `metrics.sample.window.ms` | | [`metrics_sample_window`](ProducerConfigBuilder::metrics_sample_window) | 30000 |
//! | `statistics.interval.ms` (librdkafka's) | | [`statistics_interval`](ProducerConfigBuilder::statistics_interval), with [`statistics_callback`](ProducerConfigBuilder::statistics_callback) | 0 (off) |
//! | `transactional.id` | | [`transactional_id`](ProducerConfigBuilder::transactional_id) | none |
//! | `transaction.timeout.ms` | | [`transaction_timeout`](ProducerConfigBuilder::transaction_timeout) | 60000 |
//! | `spool.dir` | | [`spool_dir`](ProducerConfigBuilder::spool_dir) | none (no spool) |
//! | `spool.max.bytes` | | [`spool_max_bytes`](ProducerConfigBuilder::spool_max_bytes) | 1073741824 |
//! | `spool.fsync` | | [`spool_fsync`](ProducerConfigBuilder::spool_fsync): `record`, `batch`, `none` | `batch` |
//! | `security.protocol` | | [`security_protocol`](ProducerConfigBuilder::security_protocol) | `PLAINTEXT` |
//! | `ssl.*`, `sasl.*` | both clients' names | see [`security`] | |
//!
//! `key.serializer` and `value.serializer` are accepted and ignored (Rust
//! callers hand the producer bytes). Known Kafka properties this crate does
//! not implement (`sasl.kerberos.*`, `interceptor.classes`,
//! `partitioner.class`, `metric.reporters`, ...) fail with
//! [`ConfigError::Unsupported`]; `metrics.recording.level` is accepted
//! and has no effect (every metric is always recorded); any other
//! key fails with [`ConfigError::UnknownKey`].
//!
//! librdkafka aliases take this crate's (Java's) defaults and units, not
//! librdkafka's: for example `batch.size` defaults to 16384 here, not 1000000.
//!
//! # Rules checked by `build`
//!
//! Each error names the key as it was given (the alias, if one was used).
//!
//! - `bootstrap.servers` is required: a comma-separated list of `host:port`,
//!   IPv6 as `[addr]:port`, an optional `PLAINTEXT://` prefix, port 1-65535.
//!   Empty entries are skipped and repeated ones dropped.
//! - `batch.size` at least 1 (Java accepts 0); `buffer.memory` at least
//!   `batch.size` (Java accepts less, then fails every send); `max.request.size`
//!   at least 1; `max.in.flight.requests.per.connection` at least 1; `int`
//!   properties of the Java client at most 2147483647.
//! - `request.timeout.ms` and `socket.connection.setup.timeout.ms` at least 1.
//! - `delivery.timeout.ms` at least `linger.ms + request.timeout.ms`. As in
//!   Java, this is an error only if `delivery.timeout.ms` was set; a default
//!   delivery timeout is raised to the sum instead.
//! - Backoffs: if both `retry.backoff.ms` and `retry.backoff.max.ms` were set,
//!   the maximum must not be below the base (Java only warns). Otherwise, as in
//!   Java, a base above the maximum gives a constant backoff of the maximum.
//!   The same holds for `socket.connection.setup.timeout(.max).ms`. Setting
//!   `reconnect.backoff.ms` without `reconnect.backoff.max.ms` makes the
//!   maximum equal to the base (Java's rule: constant reconnect backoff).
//! - Compression: `lz4` and `zstd` need the cargo features of the same name
//!   ([`ConfigError::FeatureMissing`]); levels must suit the codec (see
//!   [`ProducerConfigBuilder::compression_level`]).
//! - Idempotence (Java 4.0's rules): it needs `acks=all`, `retries` > 0 and
//!   at most 5 requests in flight. If `enable.idempotence=true` was set
//!   explicitly, `acks` other than `all` or `retries=0` is an error
//!   ([`ConfigError::Conflict`]); if idempotence is only the default, they
//!   silently turn it off (logged at info level). More than 5 in flight is an
//!   error while idempotence stays on, explicit or default (Kafka 4.0,
//!   KAFKA-17927); set `enable.idempotence=false` to allow it. Unlike Java 4.0,
//!   a default idempotence already turned off by `acks` or `retries` does not
//!   also reject more than 5 in flight.
//! - `transactional.id` (not empty) makes idempotence required, as an
//!   explicit `enable.idempotence=true` does: `enable.idempotence=false`,
//!   `acks` other than `all`, `retries=0` or more than 5 in flight are
//!   [`ConfigError::Conflict`]s naming the key. `transaction.timeout.ms`
//!   at least 1.

mod builder;
mod error;
mod metrics;
mod properties;
pub mod security;
mod spool;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::partitioner::{Partitioner, Placer};
use crate::protocol::compression::Compression;

pub use builder::{ProducerConfigBuilder, DEFAULT_MAX_BATCH_SIZE};
pub use error::ConfigError;
pub use security::{
    OAuthBearerToken, OAuthBearerTokenProvider, SaslMechanism, SecurityConfig, SecurityProtocol,
};
pub use spool::{SpoolFsync, DEFAULT_SPOOL_MAX_BYTES};

/// A callback setting (`T`: an `Arc` of a closure), with a `Debug` that does
/// not try to print the closure.
#[derive(Clone)]
struct CallbackSetting<T>(Option<T>);

impl<T> Default for CallbackSetting<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T> fmt::Debug for CallbackSetting<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Some(<callback>)" } else { "None" })
    }
}

/// How many acknowledgements the leader waits for before answering a produce
/// request (the `acks` property).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Acks {
    /// `acks=0`: no response at all; the producer cannot learn of failures and
    /// offsets are unknown.
    None,
    /// `acks=1`: the leader wrote the records to its log; they are lost if it
    /// fails before a follower copied them.
    Leader,
    /// `acks=all` (or `-1`): every in-sync replica has the records. Needed by
    /// the idempotent producer. The default.
    #[default]
    All,
}

impl Acks {
    /// The value of the produce request's `acks` field: 0, 1 or -1.
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }

    /// Parses a property value: `0`, `1`, `all` or `-1` (case-insensitive).
    pub fn from_name(value: &str) -> Option<Acks> {
        match value.trim() {
            "0" => Some(Acks::None),
            "1" => Some(Acks::Leader),
            "-1" => Some(Acks::All),
            v if v.eq_ignore_ascii_case("all") => Some(Acks::All),
            _ => None,
        }
    }
}

impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        })
    }
}

/// A validated producer configuration. Build one with
/// [`ProducerConfig::builder`] or [`ProducerConfig::from_properties`]; the
/// getters return the values in effect after defaults and Kafka's rules were
/// applied.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    bootstrap_servers: Vec<(String, u16)>,
    client_id: String,
    acks: Acks,
    enable_idempotence: bool,
    linger: Duration,
    batch_size: usize,
    max_batch_size: usize,
    buffer_memory: usize,
    max_block: Duration,
    max_in_flight: usize,
    retries: u32,
    retry_backoff: Duration,
    retry_backoff_max: Duration,
    delivery_timeout: Duration,
    request_timeout: Duration,
    compression: Compression,
    compression_level: Option<i32>,
    max_request_size: usize,
    placer: Placer,
    metadata_max_age: Duration,
    metadata_max_idle: Duration,
    metadata_recovery_rebootstrap: bool,
    metadata_recovery_rebootstrap_trigger: Duration,
    allow_auto_create_topics: bool,
    enable_metrics_push: bool,
    connections_max_idle: Duration,
    reconnect_backoff: Duration,
    reconnect_backoff_max: Duration,
    socket_connection_setup_timeout: Duration,
    socket_connection_setup_timeout_max: Duration,
    transactional_id: Option<String>,
    transaction_timeout: Duration,
    security: SecurityConfig,
    interceptors: crate::interceptor::Interceptors,
    metrics: metrics::MetricsConfig,
    spool: spool::SpoolConfig,
}

impl ProducerConfig {
    /// A builder with every property at its default.
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder::default()
    }

    /// Builds a configuration from Kafka property names and values, as in a
    /// Java `Properties` file or a librdkafka config. Same as calling
    /// [`ProducerConfigBuilder::set`] for each pair, then `build`.
    pub fn from_properties<I, K, V>(properties: I) -> Result<ProducerConfig, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        ProducerConfig::builder().set_all(properties).build()
    }

    /// The bootstrap brokers as `(host, port)`, in the order given, IPv6
    /// addresses without brackets (ready for `ToSocketAddrs`).
    pub fn bootstrap_servers(&self) -> &[(String, u16)] {
        &self.bootstrap_servers
    }

    /// `client.id`, sent in every request header.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// `acks`.
    pub fn acks(&self) -> Acks {
        self.acks
    }

    /// Whether the producer is idempotent, after Java's rules (an unset
    /// `enable.idempotence` with `acks` other than `all` or `retries=0` turns it off).
    pub fn enable_idempotence(&self) -> bool {
        self.enable_idempotence
    }

    /// `transactional.id`, if the producer is transactional.
    pub fn transactional_id(&self) -> Option<&str> {
        self.transactional_id.as_deref()
    }

    /// `transaction.timeout.ms`: how long the coordinator lets a transaction
    /// stay open before aborting it.
    pub fn transaction_timeout(&self) -> Duration {
        self.transaction_timeout
    }

    /// `linger.ms`: how long a batch that is not full waits for more records.
    pub fn linger(&self) -> Duration {
        self.linger
    }

    /// `batch.size` in bytes: a partition's batch is ready once this full, and
    /// the sticky partitioner switches after about this many bytes.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The most bytes one partition's batch may hold: `batch.size` when it
    /// was set (Java's meaning, an upper bound), otherwise
    /// [`DEFAULT_MAX_BATCH_SIZE`] (librdkafka's and franz-go's default),
    /// capped by `max.request.size`. Batches grow to it while records come
    /// faster than `linger.ms` sends them; their buffers grow on demand, so a
    /// partition that receives little reserves little.
    pub fn max_batch_size(&self) -> usize {
        self.max_batch_size
    }

    /// `buffer.memory` in bytes: the most that records waiting to be sent may
    /// occupy; `send` blocks (up to [`Self::max_block`]) beyond it. A record
    /// larger than this can never be sent.
    pub fn buffer_memory(&self) -> usize {
        self.buffer_memory
    }

    /// `max.block.ms`: the longest `send` blocks for buffer space or metadata.
    /// May be huge (Java users write `Long.MAX_VALUE` for "forever"): add it to
    /// an `Instant` with `checked_add`.
    pub fn max_block(&self) -> Duration {
        self.max_block
    }

    /// `max.in.flight.requests.per.connection`: unanswered produce requests per
    /// broker connection (at most 5 when idempotent).
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// `retries`: how many times a failed batch is retried (within
    /// [`Self::delivery_timeout`]).
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// `retry.backoff.ms`: the first wait before retrying a batch; doubles per
    /// attempt up to [`Self::retry_backoff_max`]. Never above it.
    pub fn retry_backoff(&self) -> Duration {
        self.retry_backoff
    }

    /// `retry.backoff.max.ms`: the longest wait between retries.
    pub fn retry_backoff_max(&self) -> Duration {
        self.retry_backoff_max
    }

    /// `delivery.timeout.ms`: from `send` returning to the record's outcome
    /// being reported, at most this long. At least `linger + request_timeout`.
    pub fn delivery_timeout(&self) -> Duration {
        self.delivery_timeout
    }

    /// `request.timeout.ms`: how long to wait for a response; also sent as the
    /// produce request's broker-side timeout. At most `i32::MAX` ms.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// `compression.type`, available in this build.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The compression level for [`Self::compression`], already checked to
    /// suit it; `None` means the codec's own default.
    pub fn compression_level(&self) -> Option<i32> {
        self.compression_level
    }

    /// `max.request.size` in bytes: the largest produce request, and so the
    /// largest record (as encoded in a batch) that can be sent.
    pub fn max_request_size(&self) -> usize {
        self.max_request_size
    }

    /// The partitioner for records without an explicit partition.
    pub fn partitioner(&self) -> &Arc<dyn Partitioner> {
        self.placer.partitioner()
    }

    /// How the send path drives the partitioner.
    pub(crate) fn placer(&self) -> &Placer {
        &self.placer
    }

    /// `metadata.max.age.ms`: metadata older than this is refreshed even
    /// without errors.
    pub fn metadata_max_age(&self) -> Duration {
        self.metadata_max_age
    }

    /// `metadata.max.idle.ms`: a topic not sent to for this long leaves the
    /// metadata requests (it is fetched again on its next send).
    pub fn metadata_max_idle(&self) -> Duration {
        self.metadata_max_idle
    }

    /// `metadata.recovery.strategy`: whether the producer goes back to
    /// `bootstrap.servers` when no known broker answers (`rebootstrap`).
    pub fn metadata_recovery_rebootstrap(&self) -> bool {
        self.metadata_recovery_rebootstrap
    }

    /// `metadata.recovery.rebootstrap.trigger.ms`.
    pub fn metadata_recovery_rebootstrap_trigger(&self) -> Duration {
        self.metadata_recovery_rebootstrap_trigger
    }

    /// `allow.auto.create.topics`: whether metadata requests let the broker
    /// create a topic it does not know (if its `auto.create.topics.enable` is on).
    pub fn allow_auto_create_topics(&self) -> bool {
        self.allow_auto_create_topics
    }

    /// `enable.metrics.push`: whether the producer pushes the metrics a
    /// broker subscribes it to (KIP-714).
    pub fn enable_metrics_push(&self) -> bool {
        self.enable_metrics_push
    }

    /// `connections.max.idle.ms`: a connection unused for this long is closed
    /// by the producer (before the broker's own idle limit drops it).
    pub fn connections_max_idle(&self) -> Duration {
        self.connections_max_idle
    }

    /// `reconnect.backoff.ms`: the first wait before reconnecting to a broker;
    /// grows per failure up to [`Self::reconnect_backoff_max`]. Never above it.
    pub fn reconnect_backoff(&self) -> Duration {
        self.reconnect_backoff
    }

    /// `reconnect.backoff.max.ms`: the longest wait before reconnecting.
    pub fn reconnect_backoff_max(&self) -> Duration {
        self.reconnect_backoff_max
    }

    /// `socket.connection.setup.timeout.ms`: the first connect timeout; grows
    /// per failure up to [`Self::socket_connection_setup_timeout_max`]. Never above it.
    pub fn socket_connection_setup_timeout(&self) -> Duration {
        self.socket_connection_setup_timeout
    }

    /// `socket.connection.setup.timeout.max.ms`: the longest connect timeout.
    pub fn socket_connection_setup_timeout_max(&self) -> Duration {
        self.socket_connection_setup_timeout_max
    }

    /// How many interceptors are registered.
    pub fn interceptor_count(&self) -> usize {
        self.interceptors.len()
    }

    pub(crate) fn interceptors(&self) -> &crate::interceptor::Interceptors {
        &self.interceptors
    }

    /// `security.protocol` and the TLS and SASL settings.
    pub fn security(&self) -> &SecurityConfig {
        &self.security
    }
}
