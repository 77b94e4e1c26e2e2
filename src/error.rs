//! Errors: Kafka error codes, why a `send` was refused, why a delivery failed.
//!
//! - [`KafkaCode`] names a broker error code and knows its class (retriable,
//!   needs a metadata refresh, fatal), following the Java client's hierarchy.
//! - [`SendError`] is returned by `send` when the record never entered the
//!   producer; it hands the record back ([`SendError::into_record`]).
//! - [`DeliveryError`] is what a [`DeliveryHandle`](crate::DeliveryHandle)
//!   resolves to when a record that was accepted could not be delivered. It is
//!   cheap to clone (one `Arc`), shared by all records of a batch, and says
//!   whether the record was **not persisted** or **possibly persisted**.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A Kafka protocol error code, as brokers return them.
///
/// ```
/// use kafka_sync::KafkaCode;
/// let c = KafkaCode::NOT_LEADER_OR_FOLLOWER;
/// assert!(c.is_retriable() && c.refreshes_metadata());
/// assert_eq!(c.to_string(), "NOT_LEADER_OR_FOLLOWER (6)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KafkaCode(pub i16);

macro_rules! codes {
    ($($name:ident = $v:expr;)*) => {
        impl KafkaCode {
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($v), ").")]
                pub const $name: KafkaCode = KafkaCode($v);
            )*

            /// The code's name as in the Kafka protocol guide, or `None` if unknown here.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    UNKNOWN_SERVER_ERROR = -1;
    NONE = 0;
    OFFSET_OUT_OF_RANGE = 1;
    CORRUPT_MESSAGE = 2;
    UNKNOWN_TOPIC_OR_PARTITION = 3;
    INVALID_FETCH_SIZE = 4;
    LEADER_NOT_AVAILABLE = 5;
    NOT_LEADER_OR_FOLLOWER = 6;
    REQUEST_TIMED_OUT = 7;
    BROKER_NOT_AVAILABLE = 8;
    REPLICA_NOT_AVAILABLE = 9;
    MESSAGE_TOO_LARGE = 10;
    STALE_CONTROLLER_EPOCH = 11;
    OFFSET_METADATA_TOO_LARGE = 12;
    NETWORK_EXCEPTION = 13;
    COORDINATOR_LOAD_IN_PROGRESS = 14;
    COORDINATOR_NOT_AVAILABLE = 15;
    NOT_COORDINATOR = 16;
    INVALID_TOPIC_EXCEPTION = 17;
    RECORD_LIST_TOO_LARGE = 18;
    NOT_ENOUGH_REPLICAS = 19;
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20;
    INVALID_REQUIRED_ACKS = 21;
    ILLEGAL_GENERATION = 22;
    INCONSISTENT_GROUP_PROTOCOL = 23;
    INVALID_GROUP_ID = 24;
    UNKNOWN_MEMBER_ID = 25;
    INVALID_SESSION_TIMEOUT = 26;
    REBALANCE_IN_PROGRESS = 27;
    INVALID_COMMIT_OFFSET_SIZE = 28;
    TOPIC_AUTHORIZATION_FAILED = 29;
    GROUP_AUTHORIZATION_FAILED = 30;
    CLUSTER_AUTHORIZATION_FAILED = 31;
    INVALID_TIMESTAMP = 32;
    UNSUPPORTED_SASL_MECHANISM = 33;
    ILLEGAL_SASL_STATE = 34;
    UNSUPPORTED_VERSION = 35;
    TOPIC_ALREADY_EXISTS = 36;
    INVALID_PARTITIONS = 37;
    INVALID_REPLICATION_FACTOR = 38;
    INVALID_REPLICA_ASSIGNMENT = 39;
    INVALID_CONFIG = 40;
    NOT_CONTROLLER = 41;
    INVALID_REQUEST = 42;
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43;
    POLICY_VIOLATION = 44;
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45;
    DUPLICATE_SEQUENCE_NUMBER = 46;
    INVALID_PRODUCER_EPOCH = 47;
    INVALID_TXN_STATE = 48;
    INVALID_PRODUCER_ID_MAPPING = 49;
    INVALID_TRANSACTION_TIMEOUT = 50;
    CONCURRENT_TRANSACTIONS = 51;
    TRANSACTION_COORDINATOR_FENCED = 52;
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53;
    SECURITY_DISABLED = 54;
    OPERATION_NOT_ATTEMPTED = 55;
    KAFKA_STORAGE_ERROR = 56;
    LOG_DIR_NOT_FOUND = 57;
    SASL_AUTHENTICATION_FAILED = 58;
    UNKNOWN_PRODUCER_ID = 59;
    REASSIGNMENT_IN_PROGRESS = 60;
    TOPIC_DELETION_DISABLED = 73;
    FENCED_LEADER_EPOCH = 74;
    UNKNOWN_LEADER_EPOCH = 75;
    UNSUPPORTED_COMPRESSION_TYPE = 76;
    STALE_BROKER_EPOCH = 77;
    OFFSET_NOT_AVAILABLE = 78;
    GROUP_ID_NOT_FOUND = 69;
    PREFERRED_LEADER_NOT_AVAILABLE = 80;
    FENCED_INSTANCE_ID = 82;
    UNSTABLE_OFFSET_COMMIT = 88;
    THROTTLING_QUOTA_EXCEEDED = 89;
    PRODUCER_FENCED = 90;
    INVALID_RECORD = 87;
    UNKNOWN_TOPIC_ID = 100;
    INCONSISTENT_TOPIC_ID = 103;
    UNKNOWN_SUBSCRIPTION_ID = 117;
    TELEMETRY_TOO_LARGE = 118;
    TRANSACTION_ABORTABLE = 120;
    REBOOTSTRAP_REQUIRED = 129;
}

impl KafkaCode {
    /// Whether this code means success.
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// Whether a request failing with this code may succeed if retried
    /// (Java's `RetriableException` subclasses, as listed in KAFKA.md).
    pub fn is_retriable(self) -> bool {
        matches!(
            self,
            Self::CORRUPT_MESSAGE
                | Self::UNKNOWN_TOPIC_OR_PARTITION
                | Self::LEADER_NOT_AVAILABLE
                | Self::NOT_LEADER_OR_FOLLOWER
                | Self::REQUEST_TIMED_OUT
                | Self::NETWORK_EXCEPTION
                | Self::COORDINATOR_LOAD_IN_PROGRESS
                | Self::COORDINATOR_NOT_AVAILABLE
                | Self::NOT_COORDINATOR
                | Self::NOT_ENOUGH_REPLICAS
                | Self::NOT_ENOUGH_REPLICAS_AFTER_APPEND
                | Self::CONCURRENT_TRANSACTIONS
                | Self::KAFKA_STORAGE_ERROR
                | Self::FENCED_LEADER_EPOCH
                | Self::UNKNOWN_LEADER_EPOCH
                | Self::THROTTLING_QUOTA_EXCEEDED
                | Self::UNKNOWN_TOPIC_ID
                | Self::OFFSET_NOT_AVAILABLE
                | Self::REPLICA_NOT_AVAILABLE
                | Self::BROKER_NOT_AVAILABLE
        )
    }

    /// Whether this code means the client's view of leaders is stale: refresh
    /// metadata before retrying (Java's `InvalidMetadataException`).
    pub fn refreshes_metadata(self) -> bool {
        matches!(
            self,
            Self::UNKNOWN_TOPIC_OR_PARTITION
                | Self::LEADER_NOT_AVAILABLE
                | Self::NOT_LEADER_OR_FOLLOWER
                | Self::KAFKA_STORAGE_ERROR
                | Self::NETWORK_EXCEPTION
                | Self::FENCED_LEADER_EPOCH
                | Self::UNKNOWN_LEADER_EPOCH
                | Self::UNKNOWN_TOPIC_ID
                | Self::BROKER_NOT_AVAILABLE
                | Self::REPLICA_NOT_AVAILABLE
        )
    }

    /// Whether this code is fatal for the whole producer: no further record
    /// can be delivered (authorization of the cluster, a fenced producer).
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            Self::CLUSTER_AUTHORIZATION_FAILED
                | Self::PRODUCER_FENCED
                | Self::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                | Self::UNSUPPORTED_VERSION
                | Self::INVALID_PRODUCER_EPOCH
        )
    }
}

impl fmt::Display for KafkaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} ({})", self.0),
            None => write!(f, "error code {}", self.0),
        }
    }
}

impl fmt::Debug for KafkaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Whether a record whose delivery failed may be in the log anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Persistence {
    /// The record is certainly not in the log: it was never sent, or the
    /// broker rejected it.
    NotPersisted,
    /// The record may or may not be in the log: it was sent, and no answer
    /// said which (a timeout or lost connection after the request was written).
    PossiblyPersisted,
}

/// What went wrong with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryErrorKind {
    /// The broker answered with a non-retriable error code, or a retriable
    /// one after retries were exhausted.
    Broker(KafkaCode),
    /// `delivery.timeout.ms` passed before the record's outcome was known.
    Timeout,
    /// The producer was closed before the record could be delivered.
    Closed,
    /// The producer hit a fatal error (e.g. fenced, or cluster authorization
    /// failed); every record not yet delivered fails with it.
    Fatal(KafkaCode),
    /// The topic did not appear in metadata within `max.block.ms`.
    UnknownTopic,
    /// The record (or its batch, unsplittable) exceeds what the broker accepts.
    RecordTooLarge,
    /// A connection or protocol failure that retries could not get past.
    Network,
    /// The connection to the broker could not be secured or authenticated:
    /// SASL authentication failed, the broker's TLS certificate was rejected
    /// (untrusted, expired, wrong name), the broker refused ours, or the
    /// listener speaks another `security.protocol`. The message says which.
    Authentication,
    /// The record's transaction was aborted before the record was sent:
    /// by [`Producer::abort_transaction`](crate::Producer::abort_transaction),
    /// or because another part of the transaction failed. Its
    /// [`persistence`](DeliveryError::persistence) says whether an earlier
    /// attempt may have reached the log; even then, consumers reading with
    /// `isolation.level=read_committed` never see it.
    TransactionAborted,
}

#[derive(Debug)]
struct DeliveryErrorInner {
    kind: DeliveryErrorKind,
    persistence: Persistence,
    message: String,
}

/// Why an accepted record was not delivered. Cheap to clone (one `Arc`
/// and the record's timings): every record of a failed batch shares the
/// error, and each has its own timings ([`queue_time`](Self::queue_time),
/// [`latency`](Self::latency), ...), as [`RecordMetadata`](crate::RecordMetadata) has.
#[derive(Debug, Clone)]
pub struct DeliveryError {
    inner: Arc<DeliveryErrorInner>,
    /// When `send` took the record (microseconds since the epoch; 0 for an
    /// error not about one record, such as a fatal error `send` reports).
    sent_us: i64,
    times: crate::delivery::BatchTimes,
}

impl DeliveryError {
    /// A new error.
    pub fn new(kind: DeliveryErrorKind, persistence: Persistence, message: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(DeliveryErrorInner { kind, persistence, message: message.into() }),
            sent_us: 0,
            times: crate::delivery::BatchTimes::default(),
        }
    }

    /// The error with its batch's clock readings (when the batch failed).
    pub(crate) fn with_batch_times(mut self, times: crate::delivery::BatchTimes) -> Self {
        self.times = times;
        self
    }

    /// Whether [`with_batch_times`](Self::with_batch_times) was applied.
    pub(crate) fn has_batch_times(&self) -> bool {
        self.times.done_us > 0
    }

    /// The error as record `sent_us` sees it.
    pub(crate) fn for_record(&self, sent_us: i64) -> Self {
        Self { sent_us, ..self.clone() }
    }

    /// How long the record waited in the producer before its batch was
    /// first taken for a request; `None` if it never was (it failed while
    /// queued: expired, leaderless, the producer closed...) or the error is
    /// not about one record.
    pub fn queue_time(&self) -> Option<Duration> {
        (self.sent_us > 0 && self.times.drained_us > 0).then(|| micros(self.sent_us, self.times.drained_us))
    }

    /// The round trip of the request whose answer failed the batch, when a
    /// broker's error answer did (`None` for timeouts, lost connections and
    /// failures before any request).
    pub fn request_time(&self) -> Option<Duration> {
        self.times.request
    }

    /// How many requests carried the record's batch before it failed (0 if
    /// it was never sent).
    pub fn attempts(&self) -> u32 {
        self.times.attempts
    }

    /// From `send` to the failure; `None` if the error is not about one
    /// record.
    pub fn latency(&self) -> Option<Duration> {
        (self.sent_us > 0 && self.times.done_us > 0).then(|| micros(self.sent_us, self.times.done_us))
    }

    /// What went wrong.
    pub fn kind(&self) -> &DeliveryErrorKind {
        &self.inner.kind
    }

    /// The Kafka error code, where a broker supplied one.
    pub fn code(&self) -> Option<KafkaCode> {
        match self.inner.kind {
            DeliveryErrorKind::Broker(c) | DeliveryErrorKind::Fatal(c) => Some(c),
            _ => None,
        }
    }

    /// Whether the record is certainly not in the log, or may be.
    pub fn persistence(&self) -> Persistence {
        self.inner.persistence
    }

    /// Shorthand for `persistence() == Persistence::PossiblyPersisted`.
    pub fn is_possibly_persisted(&self) -> bool {
        self.inner.persistence == Persistence::PossiblyPersisted
    }

    /// The human-readable detail.
    pub fn message(&self) -> &str {
        &self.inner.message
    }
}

/// Microseconds from `from` to `to`, zero if the clock went back.
fn micros(from: i64, to: i64) -> Duration {
    Duration::from_micros(u64::try_from(to - from).unwrap_or(0))
}

impl Eq for DeliveryError {}

impl PartialEq for DeliveryError {
    fn eq(&self, other: &Self) -> bool {
        self.inner.kind == other.inner.kind
            && self.inner.persistence == other.inner.persistence
            && self.inner.message == other.inner.message
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.inner.kind {
            DeliveryErrorKind::Broker(c) => format!("broker error {c}"),
            DeliveryErrorKind::Timeout => "delivery timed out".into(),
            DeliveryErrorKind::Closed => "producer closed".into(),
            DeliveryErrorKind::Fatal(c) => format!("fatal producer error {c}"),
            DeliveryErrorKind::UnknownTopic => "unknown topic".into(),
            DeliveryErrorKind::RecordTooLarge => "record too large".into(),
            DeliveryErrorKind::Network => "network error".into(),
            DeliveryErrorKind::Authentication => "authentication failed".into(),
            DeliveryErrorKind::TransactionAborted => "transaction aborted".into(),
        };
        let p = match self.inner.persistence {
            Persistence::NotPersisted => "not persisted",
            Persistence::PossiblyPersisted => "possibly persisted",
        };
        if self.inner.message.is_empty() {
            write!(f, "{what} ({p})")
        } else {
            write!(f, "{what}: {} ({p})", self.inner.message)
        }
    }
}

impl std::error::Error for DeliveryError {}

/// Why `send` refused a record. The record never entered the producer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendErrorKind {
    /// `buffer.memory` stayed full for the whole wait (`max.block.ms`, or the
    /// `send_timeout` duration; immediately for `try_send`).
    BufferFull,
    /// The topic's metadata did not arrive within the wait: the topic does not
    /// exist (and was not auto-created) or the cluster is unreachable.
    UnknownTopic,
    /// The record's partition is outside the topic's partition count.
    InvalidPartition {
        /// The partition asked for.
        partition: i32,
        /// The topic's partition count.
        partitions: i32,
    },
    /// The serialized record is larger than `max.request.size` or `buffer.memory`.
    RecordTooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit it exceeds.
        max: usize,
    },
    /// The producer is closing or closed.
    Closed,
    /// The producer hit a fatal error earlier; it accepts nothing more.
    Fatal(DeliveryError),
    /// The topic name is empty or otherwise not a valid Kafka topic name.
    InvalidTopic,
    /// Connections to the cluster fail to authenticate or to be secured (the
    /// error says why); the record was refused without waiting for
    /// `max.block.ms`. The producer keeps retrying with the reconnect
    /// backoff, so a later send can succeed once the cause is fixed.
    Authentication(DeliveryError),
    /// A transactional producer takes records only inside a transaction that
    /// can still commit: this one has no transaction open (call
    /// [`Producer::begin_transaction`](crate::Producer::begin_transaction)),
    /// is committing or aborting, or its transaction failed (the error says
    /// why; abort it).
    Transaction(crate::transaction::TransactionError),
    /// The spool (`spool.dir`) holds `spool.max.bytes` and kept holding it
    /// for the whole wait: the brokers have not taken enough of it yet.
    SpoolFull {
        /// `spool.max.bytes`.
        max_bytes: u64,
    },
    /// The spool cannot be written (the message says why: disk full, I/O
    /// error); records are refused rather than accepted without it.
    Spool(String),
}

impl fmt::Display for SendErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferFull => f.write_str("buffer.memory is full and stayed full for the whole wait"),
            Self::UnknownTopic => f.write_str("topic not present in metadata within the wait (max.block.ms)"),
            Self::InvalidPartition { partition, partitions } => {
                write!(f, "partition {partition} is out of range: the topic has {partitions} partitions")
            }
            Self::RecordTooLarge { size, max } => {
                write!(f, "record of {size} bytes is larger than the limit of {max} bytes")
            }
            Self::Closed => f.write_str("producer is closed"),
            Self::Fatal(e) => write!(f, "producer failed earlier: {e}"),
            Self::InvalidTopic => f.write_str("invalid topic name"),
            Self::Authentication(e) => write!(f, "cannot connect to the cluster: {e}"),
            Self::Transaction(e) => write!(f, "{e}"),
            Self::SpoolFull { max_bytes } => {
                write!(
                    f,
                    "the spool is full: it holds spool.max.bytes ({max_bytes} bytes) of undelivered records"
                )
            }
            Self::Spool(why) => write!(f, "the spool cannot be written: {why}"),
        }
    }
}

/// A refused `send`: why, and the record, handed back.
pub struct SendError<R> {
    kind: SendErrorKind,
    // Boxed: keeps `Result<DeliveryHandle, SendError<Record>>` small; the
    // allocation happens only on the error path.
    record: Box<R>,
    waited: Option<Duration>,
}

impl<R> SendError<R> {
    pub(crate) fn new(kind: SendErrorKind, record: R) -> Self {
        Self { kind, record: Box::new(record), waited: None }
    }

    pub(crate) fn waited(mut self, d: Duration) -> Self {
        self.waited = Some(d);
        self
    }

    /// Why the record was refused.
    pub fn kind(&self) -> &SendErrorKind {
        &self.kind
    }

    /// The record, handed back unchanged.
    pub fn into_record(self) -> R {
        *self.record
    }

    /// The record, by reference.
    pub fn record(&self) -> &R {
        &self.record
    }

    /// The same error without the record (for borrowed records, which the
    /// caller still holds: `SendError<()>` converts into a `'static` error).
    pub(crate) fn forget_record(self) -> SendError<()> {
        SendError { kind: self.kind, record: Box::new(()), waited: self.waited }
    }
}

impl<R> fmt::Debug for SendError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError").field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl<R> fmt::Display for SendError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "send failed: {}", self.kind)?;
        if let Some(w) = self.waited {
            write!(f, " (waited {} ms)", w.as_millis())?;
        }
        Ok(())
    }
}

impl<R> std::error::Error for SendError<R> {}

/// Errors of producer-level operations other than `send`: building a producer,
/// `flush`, `close`, `partitions_for`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration was rejected.
    Config(crate::config::ConfigError),
    /// The operation did not finish within its timeout.
    Timeout,
    /// The producer is closed.
    Closed,
    /// The topic is unknown to the cluster (or the cluster unreachable) within `max.block.ms`.
    UnknownTopic(String),
    /// A fatal producer error.
    Fatal(DeliveryError),
    /// Connections to the cluster fail to authenticate or to be secured.
    Authentication(DeliveryError),
    /// An I/O error (e.g. spawning a thread).
    Io(std::io::Error),
    /// The spool (`spool.dir`) could not be opened: another producer holds
    /// it, or it cannot be read or written (the message says which).
    Spool(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "invalid configuration: {e}"),
            Self::Timeout => f.write_str("operation timed out"),
            Self::Closed => f.write_str("producer is closed"),
            Self::UnknownTopic(t) => write!(f, "topic {t:?} not found in metadata within max.block.ms"),
            Self::Fatal(e) => write!(f, "fatal producer error: {e}"),
            Self::Authentication(e) => write!(f, "cannot connect to the cluster: {e}"),
            Self::Io(e) => write!(f, "I/O error: {e}"),
            Self::Spool(why) => write!(f, "cannot open the spool: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Config(e) => Some(e),
            Self::Fatal(e) | Self::Authentication(e) => Some(e),
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::config::ConfigError> for Error {
    fn from(e: crate::config::ConfigError) -> Self {
        Self::Config(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_kafka_md() {
        // UNKNOWN_TOPIC_ID (100, Produce v13): like UNKNOWN_TOPIC_OR_PARTITION,
        // the topic (id) is stale: refresh metadata, retry.
        for c in [6, 5, 3, 56, 13, 74, 100] {
            assert!(KafkaCode(c).is_retriable() && KafkaCode(c).refreshes_metadata(), "{c}");
        }
        for c in [7, 19, 20, 2, 51, 16, 14] {
            assert!(KafkaCode(c).is_retriable() && !KafkaCode(c).refreshes_metadata(), "{c}");
        }
        for c in [10, 18, 87, 21, 32, 29, -1] {
            assert!(!KafkaCode(c).is_retriable() && !KafkaCode(c).is_fatal(), "{c}");
        }
        for c in [31, 90, 53, 35] {
            assert!(KafkaCode(c).is_fatal(), "{c}");
        }
    }

    #[test]
    fn delivery_error_display() {
        let e = DeliveryError::new(
            DeliveryErrorKind::Broker(KafkaCode::MESSAGE_TOO_LARGE),
            Persistence::NotPersisted,
            "batch of 2 MiB",
        );
        assert_eq!(e.to_string(), "broker error MESSAGE_TOO_LARGE (10): batch of 2 MiB (not persisted)");
        assert_eq!(e.code(), Some(KafkaCode(10)));
        assert_eq!(e.clone(), e);
    }
}
