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
//! | `allow.auto.create.topics` | | [`allow_auto_create_topics`](ProducerConfigBuilder::allow_auto_create_topics) | `true` |
//! | `connections.max.idle.ms` | | [`connections_max_idle`](ProducerConfigBuilder::connections_max_idle) | 540000 |
//! | `reconnect.backoff.ms` | | [`reconnect_backoff`](ProducerConfigBuilder::reconnect_backoff) | 50 |
//! | `reconnect.backoff.max.ms` | | [`reconnect_backoff_max`](ProducerConfigBuilder::reconnect_backoff_max) | 1000 |
//! | `socket.connection.setup.timeout.ms` | | [`socket_connection_setup_timeout`](ProducerConfigBuilder::socket_connection_setup_timeout) | 10000 |
//! | `socket.connection.setup.timeout.max.ms` | | [`socket_connection_setup_timeout_max`](ProducerConfigBuilder::socket_connection_setup_timeout_max) | 30000 |
//! | `security.protocol` | | only `PLAINTEXT` | `PLAINTEXT` |
//!
//! `key.serializer` and `value.serializer` are accepted and ignored (Rust
//! callers hand the producer bytes). Known Kafka properties this crate does
//! not implement (`transactional.id`, `ssl.*`, `sasl.*`, `interceptor.classes`,
//! `partitioner.class`, ...) fail with [`ConfigError::Unsupported`]; any other
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

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::partitioner::{Builtin, Partitioner};
use crate::protocol::compression::Compression;

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

/// Why a configuration was rejected. Every variant names the offending key
/// ([`ConfigError::key`]), spelled as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No producer property has this name.
    UnknownKey {
        /// The key as given.
        key: String,
    },
    /// A Kafka property this crate knows but does not implement.
    Unsupported {
        /// The key as given.
        key: String,
        /// What is missing, and what to do instead if anything.
        reason: &'static str,
    },
    /// The value could not be parsed.
    InvalidValue {
        /// The key as given.
        key: String,
        /// The offending value (for `bootstrap.servers`, the offending entry).
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The value parsed but is outside the allowed range.
    OutOfRange {
        /// The key as given.
        key: String,
        /// The value, as given or as the typed setter's value in the property's unit.
        value: String,
        /// The allowed range.
        allowed: String,
    },
    /// A required property was not set.
    Missing {
        /// The required key.
        key: &'static str,
    },
    /// The codec was not compiled into this build of the crate.
    FeatureMissing {
        /// The key as given (`compression.type` or `compression.codec`).
        key: String,
        /// The codec asked for.
        codec: Compression,
        /// The cargo feature of `kafka-sync` that adds it.
        feature: &'static str,
    },
    /// The value contradicts another property.
    Conflict {
        /// The key whose value has to change.
        key: String,
        /// Its value.
        value: String,
        /// The other property (or properties) it contradicts.
        other: String,
        /// Why the two cannot go together.
        reason: &'static str,
    },
}

impl ConfigError {
    /// The offending property, as the user spelled it.
    pub fn key(&self) -> &str {
        match self {
            ConfigError::UnknownKey { key }
            | ConfigError::Unsupported { key, .. }
            | ConfigError::InvalidValue { key, .. }
            | ConfigError::OutOfRange { key, .. }
            | ConfigError::FeatureMissing { key, .. }
            | ConfigError::Conflict { key, .. } => key,
            ConfigError::Missing { key } => key,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownKey { key } => write!(f, "`{key}` is not a producer property"),
            ConfigError::Unsupported { key, reason } => {
                write!(f, "`{key}` is not supported by kafka-sync: {reason}")
            }
            ConfigError::InvalidValue { key, value, expected } => {
                write!(f, "invalid value {value:?} for `{key}`: expected {expected}")
            }
            ConfigError::OutOfRange { key, value, allowed } => {
                write!(f, "`{key}` = {value} is out of range: {allowed}")
            }
            ConfigError::Missing { key } => write!(f, "`{key}` is required"),
            ConfigError::FeatureMissing { key, codec, feature } => {
                write!(f, "`{key}` = {codec} needs kafka-sync built with the cargo feature `{feature}`")
            }
            ConfigError::Conflict { key, value, other, reason } => {
                write!(f, "`{key}` = {value} conflicts with {other}: {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

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
    partitioner: Arc<dyn Partitioner>,
    metadata_max_age: Duration,
    metadata_max_idle: Duration,
    allow_auto_create_topics: bool,
    connections_max_idle: Duration,
    reconnect_backoff: Duration,
    reconnect_backoff_max: Duration,
    socket_connection_setup_timeout: Duration,
    socket_connection_setup_timeout_max: Duration,
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
        &self.partitioner
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

    /// `allow.auto.create.topics`: whether metadata requests let the broker
    /// create a topic it does not know (if its `auto.create.topics.enable` is on).
    pub fn allow_auto_create_topics(&self) -> bool {
        self.allow_auto_create_topics
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
}

/// The canonical setting a property name maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    BootstrapServers,
    ClientId,
    Acks,
    EnableIdempotence,
    Linger,
    BatchSize,
    BufferMemory,
    /// `queue.buffering.max.kbytes`: buffer.memory in KiB.
    BufferMemoryKib,
    MaxBlock,
    MaxInFlight,
    Retries,
    RetryBackoff,
    RetryBackoffMax,
    DeliveryTimeout,
    RequestTimeout,
    Compression,
    CompressionLevel,
    GzipLevel,
    Lz4Level,
    ZstdLevel,
    MaxRequestSize,
    Partitioner,
    MetadataMaxAge,
    MetadataMaxIdle,
    AllowAutoCreateTopics,
    ConnectionsMaxIdle,
    ReconnectBackoff,
    ReconnectBackoffMax,
    SetupTimeout,
    SetupTimeoutMax,
    SecurityProtocol,
    Ignored,
}

/// Every accepted property name, canonical names first, then aliases.
const PROPERTIES: &[(&str, Key)] = &[
    ("bootstrap.servers", Key::BootstrapServers),
    ("client.id", Key::ClientId),
    ("acks", Key::Acks),
    ("enable.idempotence", Key::EnableIdempotence),
    ("linger.ms", Key::Linger),
    ("batch.size", Key::BatchSize),
    ("buffer.memory", Key::BufferMemory),
    ("max.block.ms", Key::MaxBlock),
    ("max.in.flight.requests.per.connection", Key::MaxInFlight),
    ("retries", Key::Retries),
    ("retry.backoff.ms", Key::RetryBackoff),
    ("retry.backoff.max.ms", Key::RetryBackoffMax),
    ("delivery.timeout.ms", Key::DeliveryTimeout),
    ("request.timeout.ms", Key::RequestTimeout),
    ("compression.type", Key::Compression),
    ("compression.level", Key::CompressionLevel),
    ("compression.gzip.level", Key::GzipLevel),
    ("compression.lz4.level", Key::Lz4Level),
    ("compression.zstd.level", Key::ZstdLevel),
    ("max.request.size", Key::MaxRequestSize),
    ("partitioner", Key::Partitioner),
    ("metadata.max.age.ms", Key::MetadataMaxAge),
    ("metadata.max.idle.ms", Key::MetadataMaxIdle),
    ("allow.auto.create.topics", Key::AllowAutoCreateTopics),
    ("connections.max.idle.ms", Key::ConnectionsMaxIdle),
    ("reconnect.backoff.ms", Key::ReconnectBackoff),
    ("reconnect.backoff.max.ms", Key::ReconnectBackoffMax),
    ("socket.connection.setup.timeout.ms", Key::SetupTimeout),
    ("socket.connection.setup.timeout.max.ms", Key::SetupTimeoutMax),
    ("security.protocol", Key::SecurityProtocol),
    ("key.serializer", Key::Ignored),
    ("value.serializer", Key::Ignored),
    // librdkafka names for the same settings.
    ("metadata.broker.list", Key::BootstrapServers),
    ("request.required.acks", Key::Acks),
    ("queue.buffering.max.ms", Key::Linger),
    ("queue.buffering.max.kbytes", Key::BufferMemoryKib),
    ("max.in.flight", Key::MaxInFlight),
    ("message.send.max.retries", Key::Retries),
    ("message.timeout.ms", Key::DeliveryTimeout),
    ("compression.codec", Key::Compression),
    ("message.max.bytes", Key::MaxRequestSize),
];

/// Known Kafka properties that are not implemented, by exact name.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("transactional.id", "transactions are not implemented"),
    ("transaction.timeout.ms", "transactions are not implemented"),
    ("interceptor.classes", "interceptors are Java classes; wrap the producer instead"),
    ("partitioner.class", "use the `partitioner` property or ProducerConfigBuilder::partitioner"),
    ("partitioner.ignore.keys", "use `partitioner=uniform_sticky` to ignore keys"),
    ("partitioner.adaptive.partitioning.enable", "adaptive partitioning is not implemented"),
    ("partitioner.availability.timeout.ms", "adaptive partitioning is not implemented"),
    ("security.providers", "TLS and SASL are not implemented"),
];

/// Known Kafka property families that are not implemented, by prefix.
const UNSUPPORTED_PREFIXES: &[(&str, &str)] =
    &[("ssl.", "TLS is not implemented"), ("sasl.", "SASL is not implemented")];

fn lookup(key: &str) -> Option<(&'static str, Key)> {
    PROPERTIES.iter().find(|(name, _)| *name == key).copied()
}

fn not_a_property(key: &str) -> ConfigError {
    let reason = UNSUPPORTED
        .iter()
        .find(|(name, _)| *name == key)
        .or_else(|| UNSUPPORTED_PREFIXES.iter().find(|(prefix, _)| key.starts_with(prefix)))
        .map(|(_, reason)| *reason);
    match reason {
        Some(reason) => ConfigError::Unsupported { key: key.to_owned(), reason },
        None => ConfigError::UnknownKey { key: key.to_owned() },
    }
}

/// A value set by the user, and the property name it was set under (the
/// canonical name for typed setters).
#[derive(Debug, Clone)]
struct Set<T> {
    value: T,
    key: &'static str,
}

/// What the `partitioner` setting holds until `build` knows `batch.size`.
#[derive(Debug, Clone)]
enum PartitionerChoice {
    Builtin(Builtin),
    Custom(Arc<dyn Partitioner>),
}

/// Builds a [`ProducerConfig`]; see the [module documentation](self) for the
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
    allow_auto_create_topics: Option<Set<bool>>,
    connections_max_idle: Option<Set<Duration>>,
    reconnect_backoff: Option<Set<Duration>>,
    reconnect_backoff_max: Option<Set<Duration>>,
    socket_connection_setup_timeout: Option<Set<Duration>>,
    socket_connection_setup_timeout_max: Option<Set<Duration>>,
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
    pub const CONNECTIONS_MAX_IDLE: Duration = Duration::from_millis(540_000);
    pub const RECONNECT_BACKOFF: Duration = Duration::from_millis(50);
    pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_millis(1_000);
    pub const SETUP_TIMEOUT: Duration = Duration::from_millis(10_000);
    pub const SETUP_TIMEOUT_MAX: Duration = Duration::from_millis(30_000);
}

/// The most bytes a partition's batch grows to when `batch.size` is not set:
/// librdkafka's and franz-go's default (1,000,000 bytes), a little under the
/// broker's default `message.max.bytes` (1 MiB + 12).
pub const DEFAULT_MAX_BATCH_SIZE: usize = 1_000_000;

/// The most idempotence allows in flight: the broker remembers the last 5
/// batches per producer and partition.
const MAX_IN_FLIGHT_IDEMPOTENT: usize = 5;
/// Largest Java `int`, the bound of the Java client's `int` properties.
const INT_MAX: u64 = i32::MAX as u64;

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

    /// `allow.auto.create.topics`: whether the producer's metadata requests
    /// allow the broker to create a topic it does not know (the broker must
    /// also have `auto.create.topics.enable`). Turn it off so that a deleted
    /// topic is not recreated by a producer still sending to it.
    /// Defaults to `true`, as in Java.
    pub fn allow_auto_create_topics(mut self, allow: bool) -> Self {
        self.allow_auto_create_topics = set("allow.auto.create.topics", allow);
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

    /// Sets a property by its Kafka name (see the [module documentation](self)
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
            Key::AllowAutoCreateTopics => self.allow_auto_create_topics = set(name, parse_bool(name, value)?),
            Key::ConnectionsMaxIdle => self.connections_max_idle = set(name, parse_ms(name, value)?),
            Key::ReconnectBackoff => self.reconnect_backoff = set(name, parse_ms(name, value)?),
            Key::ReconnectBackoffMax => self.reconnect_backoff_max = set(name, parse_ms(name, value)?),
            Key::SetupTimeout => self.socket_connection_setup_timeout = set(name, parse_ms(name, value)?),
            Key::SetupTimeoutMax => {
                self.socket_connection_setup_timeout_max = set(name, parse_ms(name, value)?)
            }
            Key::SecurityProtocol => {
                if !value.eq_ignore_ascii_case("plaintext") {
                    return Err(ConfigError::Unsupported {
                        key: name.to_owned(),
                        reason: "only PLAINTEXT is implemented (no TLS or SASL)",
                    });
                }
            }
            Key::Ignored => log::debug!("ignoring `{name}`: records are serialized by the caller"),
        }
        Ok(())
    }

    /// Applies defaults and Kafka's rules, and checks every value; see the
    /// [module documentation](self) for the rules. Returns the first error
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

        let acks = value_or(&self.acks, Acks::All);
        let enable_idempotence = self.resolve_idempotence(acks, retries, max_in_flight)?;

        let partitioner = match self.partitioner.map(|s| s.value) {
            Some(PartitionerChoice::Custom(p)) => p,
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
            partitioner,
            metadata_max_age: value_or(&self.metadata_max_age, default::METADATA_MAX_AGE),
            metadata_max_idle,
            allow_auto_create_topics: value_or(&self.allow_auto_create_topics, true),
            connections_max_idle: value_or(&self.connections_max_idle, default::CONNECTIONS_MAX_IDLE),
            reconnect_backoff,
            reconnect_backoff_max,
            socket_connection_setup_timeout,
            socket_connection_setup_timeout_max,
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
        let explicit = self.enable_idempotence.as_ref();
        let mut enabled = explicit.is_none_or(|s| s.value);
        if !enabled {
            return Ok(false);
        }
        let conflict = |key: &'static str, value: String, reason| ConfigError::Conflict {
            key: key.to_owned(),
            value,
            other: format!("{} = true", explicit.map_or("enable.idempotence", |s| s.key)),
            reason,
        };
        if retries == 0 {
            let key = key_or(&self.retries, "retries");
            if explicit.is_some() {
                return Err(conflict(key, "0".into(), "the idempotent producer needs retries > 0"));
            }
            log::info!("idempotence disabled because {key} is 0");
            enabled = false;
        }
        if acks != Acks::All {
            let key = key_or(&self.acks, "acks");
            if explicit.is_some() {
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

fn value_or<T: Clone>(s: &Option<Set<T>>, default: T) -> T {
    s.as_ref().map_or(default, |s| s.value.clone())
}

fn key_or<T>(s: &Option<Set<T>>, default: &'static str) -> &'static str {
    s.as_ref().map_or(default, |s| s.key)
}

fn ms(d: Duration) -> String {
    if d.subsec_nanos() % 1_000_000 == 0 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} ms", d.as_secs_f64() * 1000.0)
    }
}

fn invalid(key: &str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::InvalidValue { key: key.to_owned(), value: value.to_owned(), expected }
}

fn out_of_range(key: &str, value: impl fmt::Display, allowed: impl Into<String>) -> ConfigError {
    ConfigError::OutOfRange { key: key.to_owned(), value: value.to_string(), allowed: allowed.into() }
}

fn check_size(s: &Option<Set<usize>>, min: usize) -> Result<(), ConfigError> {
    match s {
        Some(s) if s.value < min || s.value as u64 > INT_MAX => {
            Err(out_of_range(s.key, s.value, format!("{min} to {INT_MAX}")))
        }
        _ => Ok(()),
    }
}

fn check_ms(s: &Option<Set<Duration>>, min: u64, max: u64) -> Result<(), ConfigError> {
    match s {
        Some(s) if s.value < Duration::from_millis(min) || s.value.as_millis() > u128::from(max) => {
            let allowed =
                if max == u64::MAX { format!("at least {min} ms") } else { format!("{min} to {max} ms") };
            Err(out_of_range(s.key, ms(s.value), allowed))
        }
        _ => Ok(()),
    }
}

/// A base and a maximum (backoff or timeout), Java-style: both set and
/// contradicting is an error; otherwise a base above the maximum is lowered to
/// it (Java's constant backoff). With `max_follows_base`, a base set without a
/// maximum also becomes the maximum (Java's reconnect backoff rule).
fn backoff_pair(
    base: &Option<Set<Duration>>,
    max: &Option<Set<Duration>>,
    default_base: Duration,
    default_max: Duration,
    max_follows_base: bool,
) -> Result<(Duration, Duration), ConfigError> {
    match (base, max) {
        (Some(b), Some(m)) if m.value < b.value => Err(ConfigError::Conflict {
            key: m.key.to_owned(),
            value: ms(m.value),
            other: format!("{} = {}", b.key, ms(b.value)),
            reason: "the maximum must not be below the initial value",
        }),
        (Some(b), None) if max_follows_base => Ok((b.value, b.value)),
        _ => {
            let max = max.as_ref().map_or(default_max, |m| m.value);
            let base = base.as_ref().map_or(default_base, |b| b.value);
            Ok((base.min(max), max))
        }
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(invalid(key, value, "true or false"))
    }
}

fn parse_u64(key: &str, value: &str) -> Result<u64, ConfigError> {
    value.parse::<u64>().map_err(|_| match value.parse::<i128>() {
        Ok(n) if n < 0 => out_of_range(key, value, "must not be negative"),
        Ok(_) => out_of_range(key, value, format!("at most {}", u64::MAX)),
        Err(_) => invalid(key, value, "a non-negative integer"),
    })
}

fn parse_i32(key: &str, value: &str) -> Result<i32, ConfigError> {
    value.parse::<i32>().map_err(|_| match value.parse::<i128>() {
        Ok(_) => out_of_range(key, value, "a 32-bit integer"),
        Err(_) => invalid(key, value, "an integer"),
    })
}

/// Bytes (or KiB with `unit` 1024) as `usize`.
fn parse_size(key: &str, value: &str, unit: u64) -> Result<usize, ConfigError> {
    let n = parse_u64(key, value)?;
    n.checked_mul(unit)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| out_of_range(key, value, "too large for this platform"))
}

fn parse_ms(key: &str, value: &str) -> Result<Duration, ConfigError> {
    parse_u64(key, value).map(Duration::from_millis)
}

/// Milliseconds, fractions allowed (librdkafka's `queue.buffering.max.ms` is a
/// float).
fn parse_fractional_ms(key: &str, value: &str) -> Result<Duration, ConfigError> {
    if let Ok(n) = value.parse::<u64>() {
        return Ok(Duration::from_millis(n));
    }
    match value.parse::<f64>() {
        Ok(f) if f.is_finite() && f >= 0.0 => {
            Duration::try_from_secs_f64(f / 1000.0).map_err(|_| out_of_range(key, value, "too large"))
        }
        Ok(_) => Err(out_of_range(key, value, "must not be negative")),
        Err(_) => Err(invalid(key, value, "milliseconds (a non-negative number)")),
    }
}

/// Parses `bootstrap.servers`.
fn parse_servers(key: &'static str, list: &str) -> Result<Vec<(String, u16)>, ConfigError> {
    const EXPECTED: &str = "host:port, [ipv6]:port or PLAINTEXT://host:port";
    let mut servers: Vec<(String, u16)> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = || invalid(key, entry, EXPECTED);
        let address = match entry.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("plaintext") => rest,
            Some(_) => return Err(bad()),
            None => entry,
        };
        let (host, port) = if let Some(rest) = address.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            let port = after.strip_prefix(':').ok_or_else(bad)?;
            let addr = host.split_once('%').map_or(host, |(a, _zone)| a);
            addr.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            (host, port)
        } else {
            let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
            let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
            if host.is_empty() || !host.chars().all(valid_char) {
                return Err(bad());
            }
            (host, port)
        };
        let port = match port.parse::<u16>() {
            Ok(0) | Err(_) => return Err(bad()),
            Ok(p) => p,
        };
        if !servers.iter().any(|(h, p)| h == host && *p == port) {
            servers.push((host.to_owned(), port));
        }
    }
    if servers.is_empty() {
        return Err(ConfigError::Missing { key: "bootstrap.servers" });
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partitioner::Partitions;

    fn base() -> ProducerConfigBuilder {
        ProducerConfig::builder().bootstrap_servers("localhost:9092")
    }

    fn build(props: &[(&str, &str)]) -> Result<ProducerConfig, ConfigError> {
        base().set_all(props.iter().copied()).build()
    }

    fn err(props: &[(&str, &str)]) -> ConfigError {
        build(props).expect_err("should be rejected")
    }

    #[test]
    fn defaults_match_java_4_0() {
        let c = base().build().unwrap();
        assert_eq!(c.bootstrap_servers(), &[("localhost".to_owned(), 9092)]);
        assert_eq!(c.client_id(), "kafka-sync");
        assert_eq!(c.acks(), Acks::All);
        assert!(c.enable_idempotence());
        assert_eq!(c.linger(), Duration::from_millis(5));
        assert_eq!(c.batch_size(), 16_384);
        assert_eq!(c.buffer_memory(), 33_554_432);
        assert_eq!(c.max_block(), Duration::from_millis(60_000));
        assert_eq!(c.max_in_flight(), 5);
        assert_eq!(c.retries(), 2_147_483_647);
        assert_eq!(c.retry_backoff(), Duration::from_millis(100));
        assert_eq!(c.retry_backoff_max(), Duration::from_millis(1_000));
        assert_eq!(c.delivery_timeout(), Duration::from_millis(120_000));
        assert_eq!(c.request_timeout(), Duration::from_millis(30_000));
        assert_eq!(c.compression(), Compression::None);
        assert_eq!(c.compression_level(), None);
        assert_eq!(c.max_request_size(), 1_048_576);
        assert_eq!(c.metadata_max_age(), Duration::from_millis(300_000));
        assert_eq!(c.reconnect_backoff(), Duration::from_millis(50));
        assert_eq!(c.reconnect_backoff_max(), Duration::from_millis(1_000));
        assert_eq!(c.socket_connection_setup_timeout(), Duration::from_millis(10_000));
        assert_eq!(c.socket_connection_setup_timeout_max(), Duration::from_millis(30_000));
        assert!(format!("{:?}", c.partitioner()).contains("DefaultPartitioner"));
    }

    #[test]
    fn every_key_parses() {
        let c = ProducerConfig::from_properties([
            ("bootstrap.servers", "a:1, b:2"),
            ("client.id", "app"),
            ("acks", "1"),
            ("enable.idempotence", "false"),
            ("linger.ms", "7"),
            ("batch.size", "1000"),
            ("buffer.memory", "2000"),
            ("max.block.ms", "3"),
            ("max.in.flight.requests.per.connection", "9"),
            ("retries", "4"),
            ("retry.backoff.ms", "11"),
            ("retry.backoff.max.ms", "12"),
            ("delivery.timeout.ms", "200000"),
            ("request.timeout.ms", "40000"),
            ("compression.type", "gzip"),
            ("compression.level", "6"),
            ("max.request.size", "5000"),
            ("partitioner", "round_robin"),
            ("metadata.max.age.ms", "13"),
            ("reconnect.backoff.ms", "14"),
            ("reconnect.backoff.max.ms", "15"),
            ("socket.connection.setup.timeout.ms", "16"),
            ("socket.connection.setup.timeout.max.ms", "17"),
            ("security.protocol", "plaintext"),
            ("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer"),
            ("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer"),
        ])
        .unwrap();
        assert_eq!(c.bootstrap_servers(), &[("a".to_owned(), 1), ("b".to_owned(), 2)]);
        assert_eq!(c.client_id(), "app");
        assert_eq!(c.acks(), Acks::Leader);
        assert!(!c.enable_idempotence());
        assert_eq!(c.linger(), Duration::from_millis(7));
        assert_eq!(c.batch_size(), 1000);
        assert_eq!(c.buffer_memory(), 2000);
        assert_eq!(c.max_block(), Duration::from_millis(3));
        assert_eq!(c.max_in_flight(), 9);
        assert_eq!(c.retries(), 4);
        assert_eq!(c.retry_backoff(), Duration::from_millis(11));
        assert_eq!(c.retry_backoff_max(), Duration::from_millis(12));
        assert_eq!(c.delivery_timeout(), Duration::from_millis(200_000));
        assert_eq!(c.request_timeout(), Duration::from_millis(40_000));
        assert_eq!(c.compression(), Compression::Gzip);
        assert_eq!(c.compression_level(), Some(6));
        assert_eq!(c.max_request_size(), 5000);
        assert!(format!("{:?}", c.partitioner()).contains("RoundRobin"));
        assert_eq!(c.metadata_max_age(), Duration::from_millis(13));
        assert_eq!(c.reconnect_backoff(), Duration::from_millis(14));
        assert_eq!(c.reconnect_backoff_max(), Duration::from_millis(15));
        assert_eq!(c.socket_connection_setup_timeout(), Duration::from_millis(16));
        assert_eq!(c.socket_connection_setup_timeout_max(), Duration::from_millis(17));
    }

    #[test]
    fn typed_setters() {
        let c = base()
            .client_id("typed")
            .acks(Acks::None)
            .enable_idempotence(false)
            .linger(Duration::from_micros(500))
            .batch_size(100)
            .buffer_memory(100)
            .max_block(Duration::from_secs(1))
            .max_in_flight(1)
            .retries(0)
            .retry_backoff(Duration::from_millis(1))
            .retry_backoff_max(Duration::from_millis(2))
            .delivery_timeout(Duration::from_secs(60))
            .request_timeout(Duration::from_secs(10))
            .compression(Compression::Snappy)
            .compression_level(0)
            .max_request_size(100)
            .partitioner(Arc::new(crate::partitioner::Murmur2Partitioner::new()))
            .metadata_max_age(Duration::from_secs(2))
            .reconnect_backoff(Duration::from_millis(3))
            .reconnect_backoff_max(Duration::from_millis(4))
            .socket_connection_setup_timeout(Duration::from_millis(5))
            .socket_connection_setup_timeout_max(Duration::from_millis(6))
            .build()
            .unwrap();
        assert_eq!(c.client_id(), "typed");
        assert_eq!(c.acks(), Acks::None);
        assert_eq!(c.linger(), Duration::from_micros(500));
        assert_eq!(c.retries(), 0);
        assert_eq!(c.compression(), Compression::Snappy);
        assert_eq!(c.compression_level(), None);
        assert!(format!("{:?}", c.partitioner()).contains("Murmur2Partitioner"));
        assert_eq!(c.socket_connection_setup_timeout_max(), Duration::from_millis(6));
    }

    #[test]
    fn librdkafka_aliases() {
        let c = ProducerConfig::from_properties([
            ("metadata.broker.list", "broker:9093"),
            ("request.required.acks", "all"),
            ("queue.buffering.max.ms", "0.5"),
            ("queue.buffering.max.kbytes", "1024"),
            ("max.in.flight", "3"),
            ("message.send.max.retries", "10"),
            ("message.timeout.ms", "60000"),
            ("compression.codec", "snappy"),
            ("message.max.bytes", "2000000"),
        ])
        .unwrap();
        assert_eq!(c.bootstrap_servers(), &[("broker".to_owned(), 9093)]);
        assert_eq!(c.acks(), Acks::All);
        assert_eq!(c.linger(), Duration::from_micros(500));
        assert_eq!(c.buffer_memory(), 1024 * 1024);
        assert_eq!(c.max_in_flight(), 3);
        assert_eq!(c.retries(), 10);
        assert_eq!(c.delivery_timeout(), Duration::from_millis(60_000));
        assert_eq!(c.compression(), Compression::Snappy);
        assert_eq!(c.max_request_size(), 2_000_000);
        assert!(c.enable_idempotence());
    }

    #[test]
    fn last_setting_wins_across_aliases_and_setters() {
        let c = base().set("linger.ms", "1").set("queue.buffering.max.ms", "2").build().unwrap();
        assert_eq!(c.linger(), Duration::from_millis(2));
        let c = base().set("linger.ms", "1").linger(Duration::from_millis(3)).build().unwrap();
        assert_eq!(c.linger(), Duration::from_millis(3));
        let c = base().linger(Duration::from_millis(3)).set("linger.ms", "4").build().unwrap();
        assert_eq!(c.linger(), Duration::from_millis(4));
    }

    #[test]
    fn acks_values() {
        for (v, want) in [
            ("0", Acks::None),
            ("1", Acks::Leader),
            ("all", Acks::All),
            ("ALL", Acks::All),
            ("-1", Acks::All),
        ] {
            assert_eq!(Acks::from_name(v), Some(want));
        }
        assert_eq!(Acks::None.as_i16(), 0);
        assert_eq!(Acks::Leader.as_i16(), 1);
        assert_eq!(Acks::All.as_i16(), -1);
        assert_eq!(Acks::All.to_string(), "all");
        assert_eq!(err(&[("acks", "2")]).key(), "acks");
        assert_eq!(err(&[("request.required.acks", "many")]).key(), "request.required.acks");
    }

    #[test]
    fn unknown_and_unsupported_keys() {
        let e = err(&[("linger", "5")]);
        assert_eq!(e, ConfigError::UnknownKey { key: "linger".into() });
        assert_eq!(e.to_string(), "`linger` is not a producer property");
        let e = err(&[("transactional.id", "tx")]);
        assert!(matches!(e, ConfigError::Unsupported { .. }));
        assert_eq!(e.key(), "transactional.id");
        assert_eq!(err(&[("ssl.keystore.location", "/x")]).key(), "ssl.keystore.location");
        assert!(matches!(err(&[("sasl.mechanism", "PLAIN")]), ConfigError::Unsupported { .. }));
        let e = err(&[("security.protocol", "SSL")]);
        assert!(matches!(e, ConfigError::Unsupported { .. }));
        assert_eq!(e.key(), "security.protocol");
        // Keys are case-sensitive, like Kafka's.
        assert_eq!(err(&[("Linger.ms", "5")]).key(), "Linger.ms");
        // The first error wins; later good settings do not hide it.
        let e = base().set("nope", "1").set("also.nope", "2").build().unwrap_err();
        assert_eq!(e.key(), "nope");
    }

    #[test]
    fn try_set_reports_at_once() {
        let mut b = base();
        assert_eq!(b.try_set("linger.ms", "x").unwrap_err().key(), "linger.ms");
        b.try_set("linger.ms", "9").unwrap().try_set("acks", "1").unwrap();
        let c = b.build().unwrap();
        assert_eq!(c.linger(), Duration::from_millis(9));
        assert_eq!(c.acks(), Acks::Leader);
    }

    #[test]
    fn unparsable_values_name_the_key() {
        for (key, value) in [
            ("enable.idempotence", "yes"),
            ("linger.ms", "soon"),
            ("batch.size", "16k"),
            ("buffer.memory", "1.5"),
            ("max.block.ms", ""),
            ("max.in.flight.requests.per.connection", "five"),
            ("retries", "x"),
            ("retry.backoff.ms", "1s"),
            ("retry.backoff.max.ms", "1s"),
            ("delivery.timeout.ms", "2m"),
            ("request.timeout.ms", "30s"),
            ("compression.type", "brotli"),
            ("compression.level", "max"),
            ("compression.gzip.level", "max"),
            ("compression.lz4.level", "max"),
            ("compression.zstd.level", "max"),
            ("max.request.size", "1MB"),
            ("partitioner", "consistent_random"),
            ("metadata.max.age.ms", "x"),
            ("reconnect.backoff.ms", "x"),
            ("reconnect.backoff.max.ms", "x"),
            ("socket.connection.setup.timeout.ms", "x"),
            ("socket.connection.setup.timeout.max.ms", "x"),
            ("queue.buffering.max.kbytes", "x"),
        ] {
            let e = err(&[(key, value)]);
            assert!(matches!(e, ConfigError::InvalidValue { .. }), "{key}={value}: {e:?}");
            assert_eq!(e.key(), key);
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn negative_and_out_of_range_values_name_the_key() {
        for (key, value) in [
            ("linger.ms", "-1"),
            ("batch.size", "-1"),
            ("batch.size", "0"),
            ("batch.size", "2147483648"),
            ("buffer.memory", "-5"),
            ("max.block.ms", "-1"),
            ("max.in.flight.requests.per.connection", "0"),
            ("retries", "-1"),
            ("retries", "2147483648"),
            ("request.timeout.ms", "0"),
            ("request.timeout.ms", "2147483648"),
            ("delivery.timeout.ms", "2147483648"),
            ("max.request.size", "0"),
            ("socket.connection.setup.timeout.ms", "0"),
            ("socket.connection.setup.timeout.max.ms", "0"),
            ("compression.level", "99999999999"),
            ("message.max.bytes", "0"),
        ] {
            let e = err(&[(key, value)]);
            assert!(matches!(e, ConfigError::OutOfRange { .. }), "{key}={value}: {e:?}");
            assert_eq!(e.key(), key, "{e}");
        }
        let e = base().batch_size(0).build().unwrap_err();
        assert_eq!(e.key(), "batch.size");
        assert_eq!(e.to_string(), "`batch.size` = 0 is out of range: 1 to 2147483647");
        assert_eq!(base().request_timeout(Duration::ZERO).build().unwrap_err().key(), "request.timeout.ms");
        assert_eq!(base().retries(u32::MAX).build().unwrap_err().key(), "retries");
        assert_eq!(
            base().max_in_flight(0).build().unwrap_err().key(),
            "max.in.flight.requests.per.connection"
        );
    }

    #[test]
    fn buffer_memory_must_hold_a_batch() {
        let e = err(&[("batch.size", "1000"), ("buffer.memory", "999")]);
        assert_eq!(e.key(), "buffer.memory");
        assert!(e.to_string().contains("batch.size"), "{e}");
        let e = err(&[("batch.size", "2000"), ("queue.buffering.max.kbytes", "1")]);
        assert_eq!(e.key(), "queue.buffering.max.kbytes");
        build(&[("batch.size", "1000"), ("buffer.memory", "1000")]).unwrap();
    }

    #[test]
    fn bootstrap_servers_forms() {
        let c = build(&[(
            "bootstrap.servers",
            " a.example.com:9092 ,[::1]:9093,PLAINTEXT://b_1:1,,127.0.0.1:65535,a.example.com:9092,[fe80::1%eth0]:7",
        )])
        .unwrap();
        let want: Vec<(String, u16)> =
            [("a.example.com", 9092), ("::1", 9093), ("b_1", 1), ("127.0.0.1", 65535), ("fe80::1%eth0", 7)]
                .iter()
                .map(|&(h, p)| (h.to_owned(), p))
                .collect();
        assert_eq!(c.bootstrap_servers(), want.as_slice());
    }

    #[test]
    fn bootstrap_servers_errors() {
        let e = ProducerConfig::builder().build().unwrap_err();
        assert_eq!(e, ConfigError::Missing { key: "bootstrap.servers" });
        assert_eq!(e.to_string(), "`bootstrap.servers` is required");
        assert_eq!(
            ProducerConfig::builder().bootstrap_servers(" , ").build().unwrap_err().key(),
            "bootstrap.servers"
        );
        for bad in [
            "localhost",
            "localhost:",
            "localhost:0",
            "localhost:65536",
            "localhost:port",
            ":9092",
            "::1:9092",
            "[::1]",
            "[::1:9092",
            "[not-ipv6]:9092",
            "SSL://host:9093",
            "host name:9092",
            "a:1,b",
        ] {
            let e = ProducerConfig::builder().bootstrap_servers(bad).build().unwrap_err();
            assert!(matches!(e, ConfigError::InvalidValue { .. }), "{bad}: {e:?}");
            assert_eq!(e.key(), "bootstrap.servers");
        }
        let e = ProducerConfig::from_properties([("metadata.broker.list", "x")]).unwrap_err();
        assert_eq!(e.key(), "metadata.broker.list");
    }

    #[test]
    fn delivery_timeout_rule() {
        // Explicit and too small: error naming the key as given.
        let e = err(&[("delivery.timeout.ms", "30000")]);
        assert!(matches!(e, ConfigError::Conflict { .. }), "{e:?}");
        assert_eq!(e.key(), "delivery.timeout.ms");
        assert!(e.to_string().contains("linger.ms + request.timeout.ms = 30005 ms"), "{e}");
        assert_eq!(err(&[("message.timeout.ms", "0")]).key(), "message.timeout.ms");
        // Exactly the sum is fine.
        let c = build(&[("delivery.timeout.ms", "30005")]).unwrap();
        assert_eq!(c.delivery_timeout(), Duration::from_millis(30_005));
        // Default and too small: raised to the sum, as Java does.
        let c = build(&[("request.timeout.ms", "200000"), ("linger.ms", "100")]).unwrap();
        assert_eq!(c.delivery_timeout(), Duration::from_millis(200_100));
        // The sum is capped at i32::MAX ms, like Java's.
        let c = build(&[("linger.ms", "9223372036854775807")]).unwrap();
        assert_eq!(c.delivery_timeout(), Duration::from_millis(INT_MAX));
    }

    #[test]
    fn backoff_rules() {
        let e = err(&[("retry.backoff.ms", "500"), ("retry.backoff.max.ms", "200")]);
        assert!(matches!(e, ConfigError::Conflict { .. }));
        assert_eq!(e.key(), "retry.backoff.max.ms");
        assert!(e.to_string().contains("retry.backoff.ms = 500 ms"), "{e}");
        // Only the base set, above the default maximum: Java's constant backoff of the maximum.
        let c = build(&[("retry.backoff.ms", "2000")]).unwrap();
        assert_eq!(
            (c.retry_backoff(), c.retry_backoff_max()),
            (Duration::from_secs(1), Duration::from_secs(1))
        );
        // Only the maximum set, below the default base.
        let c = build(&[("retry.backoff.max.ms", "20")]).unwrap();
        assert_eq!(c.retry_backoff(), Duration::from_millis(20));
        // Reconnect: the base alone also sets the maximum (Java's rule).
        let c = build(&[("reconnect.backoff.ms", "5000")]).unwrap();
        assert_eq!(c.reconnect_backoff_max(), Duration::from_secs(5));
        let c = build(&[("reconnect.backoff.ms", "10")]).unwrap();
        assert_eq!(c.reconnect_backoff_max(), Duration::from_millis(10));
        let e = err(&[("reconnect.backoff.ms", "10"), ("reconnect.backoff.max.ms", "5")]);
        assert_eq!(e.key(), "reconnect.backoff.max.ms");
        let e = err(&[
            ("socket.connection.setup.timeout.ms", "10"),
            ("socket.connection.setup.timeout.max.ms", "5"),
        ]);
        assert_eq!(e.key(), "socket.connection.setup.timeout.max.ms");
        let c = build(&[("socket.connection.setup.timeout.ms", "60000")]).unwrap();
        assert_eq!(c.socket_connection_setup_timeout(), Duration::from_secs(30));
    }

    #[test]
    fn compression_codecs_and_features() {
        for name in ["none", "gzip", "snappy", "GZIP"] {
            build(&[("compression.type", name)]).unwrap();
        }
        for (name, feature, available) in
            [("lz4", "lz4", cfg!(feature = "lz4")), ("zstd", "zstd", cfg!(feature = "zstd"))]
        {
            let r = build(&[("compression.codec", name)]);
            if available {
                assert_eq!(r.unwrap().compression().name(), name);
            } else {
                let e = r.unwrap_err();
                assert!(matches!(e, ConfigError::FeatureMissing { feature: f, .. } if f == feature), "{e:?}");
                assert_eq!(e.key(), "compression.codec");
                assert!(e.to_string().contains(&format!("cargo feature `{feature}`")), "{e}");
            }
        }
    }

    #[test]
    fn compression_levels() {
        let level = |props: &[(&str, &str)]| build(props).map(|c| c.compression_level());
        assert_eq!(level(&[("compression.type", "gzip"), ("compression.level", "9")]), Ok(Some(9)));
        assert_eq!(level(&[("compression.type", "gzip"), ("compression.level", "0")]), Ok(Some(0)));
        assert_eq!(level(&[("compression.type", "gzip"), ("compression.level", "-1")]), Ok(None));
        assert_eq!(
            level(&[("compression.type", "gzip"), ("compression.level", "10")]).unwrap_err().key(),
            "compression.level"
        );
        assert_eq!(level(&[("compression.type", "snappy"), ("compression.level", "0")]), Ok(None));
        assert_eq!(
            level(&[("compression.type", "snappy"), ("compression.level", "3")]).unwrap_err().key(),
            "compression.level"
        );
        assert_eq!(level(&[("compression.level", "1")]).unwrap_err().key(), "compression.level");
        // Java's per-codec keys: validated whatever the codec, used for their own codec, winning.
        assert_eq!(level(&[("compression.gzip.level", "3")]), Ok(None));
        assert_eq!(
            level(&[
                ("compression.type", "gzip"),
                ("compression.gzip.level", "3"),
                ("compression.level", "5")
            ]),
            Ok(Some(3))
        );
        assert_eq!(level(&[("compression.type", "gzip"), ("compression.gzip.level", "-1")]), Ok(None));
        assert_eq!(level(&[("compression.gzip.level", "0")]).unwrap_err().key(), "compression.gzip.level");
        assert_eq!(level(&[("compression.lz4.level", "0")]).unwrap_err().key(), "compression.lz4.level");
        assert_eq!(level(&[("compression.lz4.level", "18")]).unwrap_err().key(), "compression.lz4.level");
        assert_eq!(level(&[("compression.zstd.level", "23")]).unwrap_err().key(), "compression.zstd.level");
        assert_eq!(
            level(&[("compression.zstd.level", "-131073")]).unwrap_err().key(),
            "compression.zstd.level"
        );
        assert_eq!(level(&[("compression.zstd.level", "-131072")]), Ok(None));
        if cfg!(feature = "zstd") {
            assert_eq!(
                level(&[("compression.type", "zstd"), ("compression.zstd.level", "-1")]),
                Ok(Some(-1))
            );
            assert_eq!(level(&[("compression.type", "zstd"), ("compression.level", "-1")]), Ok(None));
            assert_eq!(level(&[("compression.type", "zstd"), ("compression.level", "19")]), Ok(Some(19)));
        }
        if cfg!(feature = "lz4") {
            assert_eq!(level(&[("compression.type", "lz4"), ("compression.lz4.level", "9")]), Ok(Some(9)));
            assert_eq!(
                level(&[("compression.type", "lz4"), ("compression.level", "18")]).unwrap_err().key(),
                "compression.level"
            );
        }
        let e = base().compression(Compression::Gzip).compression_level(12).build().unwrap_err();
        assert_eq!(
            e.to_string(),
            "`compression.level` = 12 is out of range: 0 to 9 for gzip, or -1 for the default"
        );
    }

    #[test]
    fn idempotence_default_is_disabled_by_conflicts() {
        let c = build(&[("acks", "1")]).unwrap();
        assert!(!c.enable_idempotence());
        let c = build(&[("acks", "0")]).unwrap();
        assert!(!c.enable_idempotence());
        let c = build(&[("retries", "0")]).unwrap();
        assert!(!c.enable_idempotence());
        // Already off: more than 5 in flight is then allowed (Java 4.0 would still refuse).
        let c = build(&[("acks", "1"), ("max.in.flight.requests.per.connection", "10")]).unwrap();
        assert_eq!(c.max_in_flight(), 10);
        // Explicitly off.
        let c = build(&[("enable.idempotence", "false"), ("max.in.flight", "10")]).unwrap();
        assert!(!c.enable_idempotence());
        assert_eq!(c.max_in_flight(), 10);
        // Default on with more than 5 in flight: error, as in Kafka 4.0.
        let e = err(&[("max.in.flight.requests.per.connection", "6")]);
        assert!(matches!(e, ConfigError::Conflict { .. }), "{e:?}");
        assert_eq!(e.key(), "max.in.flight.requests.per.connection");
        assert!(e.to_string().contains("enable.idempotence=false"), "{e}");
        assert_eq!(err(&[("max.in.flight", "6")]).key(), "max.in.flight");
    }

    #[test]
    fn idempotence_explicit_conflicts_are_errors() {
        let on = ("enable.idempotence", "true");
        let e = err(&[on, ("acks", "1")]);
        assert_eq!(e.key(), "acks");
        assert_eq!(
            e.to_string(),
            "`acks` = 1 conflicts with enable.idempotence = true: the idempotent producer needs acks=all"
        );
        assert_eq!(err(&[on, ("request.required.acks", "0")]).key(), "request.required.acks");
        assert_eq!(err(&[on, ("retries", "0")]).key(), "retries");
        assert_eq!(err(&[on, ("message.send.max.retries", "0")]).key(), "message.send.max.retries");
        assert_eq!(
            err(&[on, ("max.in.flight.requests.per.connection", "6")]).key(),
            "max.in.flight.requests.per.connection"
        );
        let e = base().enable_idempotence(true).acks(Acks::Leader).build().unwrap_err();
        assert_eq!(e.key(), "acks");
        let c = build(&[on, ("max.in.flight.requests.per.connection", "5"), ("retries", "1")]).unwrap();
        assert!(c.enable_idempotence());
    }

    #[test]
    fn partitioner_by_name_uses_batch_size() {
        for (name, debug) in [
            ("murmur2_random", "DefaultPartitioner"),
            ("default", "DefaultPartitioner"),
            ("murmur2", "Murmur2Partitioner"),
            ("sticky", "UniformStickyPartitioner"),
            ("uniform_sticky", "UniformStickyPartitioner"),
            ("round_robin", "RoundRobinPartitioner"),
        ] {
            let c = build(&[("partitioner", name)]).unwrap();
            assert!(format!("{:?}", c.partitioner()).contains(debug), "{name}");
        }
        // The sticky threshold is batch.size: 3 records of 40 bytes with batch.size 100.
        let c = build(&[("partitioner", "uniform_sticky"), ("batch.size", "100")]).unwrap();
        let p = c.partitioner();
        let parts = [0, 1, 2, 3];
        let first = p.partition("t", None, None, Partitions::new(4, &parts));
        p.on_append("t", first, 40);
        p.on_append("t", first, 40);
        assert_eq!(p.partition("t", None, None, Partitions::new(4, &parts)), first);
        p.on_append("t", first, 40);
        assert_ne!(p.partition("t", None, None, Partitions::new(4, &parts)), first);
        let e = err(&[("partitioner", "consistent_random")]);
        assert!(e.to_string().contains("consistent_random"), "{e}");
    }

    #[test]
    fn error_display_and_key_for_every_variant() {
        let cases = [
            (ConfigError::UnknownKey { key: "k".into() }, "`k` is not a producer property"),
            (
                ConfigError::Unsupported { key: "k".into(), reason: "why" },
                "`k` is not supported by kafka-sync: why",
            ),
            (
                ConfigError::InvalidValue { key: "k".into(), value: "v".into(), expected: "e" },
                "invalid value \"v\" for `k`: expected e",
            ),
            (
                ConfigError::OutOfRange { key: "k".into(), value: "1".into(), allowed: "2 to 3".into() },
                "`k` = 1 is out of range: 2 to 3",
            ),
            (ConfigError::Missing { key: "k" }, "`k` is required"),
            (
                ConfigError::FeatureMissing { key: "k".into(), codec: Compression::Zstd, feature: "zstd" },
                "`k` = zstd needs kafka-sync built with the cargo feature `zstd`",
            ),
            (
                ConfigError::Conflict { key: "k".into(), value: "1".into(), other: "o".into(), reason: "r" },
                "`k` = 1 conflicts with o: r",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.key(), "k");
            assert_eq!(e.to_string(), text);
        }
    }

    #[test]
    fn config_is_clone_debug_send_sync() {
        fn check<T: Clone + fmt::Debug + Send + Sync + 'static>() {}
        check::<ProducerConfig>();
        check::<ProducerConfigBuilder>();
        check::<ConfigError>();
        let c = base().build().unwrap();
        let d = c.clone();
        assert!(Arc::ptr_eq(c.partitioner(), d.partitioner()), "clones share the partitioner's state");
    }
}
