//! Transactions (KIP-98): write records to several partitions, and
//! optionally consumer offsets, so that consumers reading with
//! `isolation.level=read_committed` see all of them or none.
//!
//! A producer becomes transactional with `transactional.id`
//! ([`ProducerConfigBuilder::transactional_id`](crate::ProducerConfigBuilder::transactional_id)).
//! Then, as with the Java client:
//!
//! ```no_run
//! use std::time::Duration;
//! use kafka_sync::{Producer, ProducerConfig, Record, TransactionError};
//!
//! let config = ProducerConfig::builder()
//!     .bootstrap_servers("127.0.0.1:9092")
//!     .transactional_id("nightly-load")
//!     .build()?;
//! let producer = Producer::new(config)?;
//! producer.init_transactions(Duration::from_secs(30))?;
//! producer.begin_transaction()?;
//! for line in ["a", "b", "c"] {
//!     producer.send(Record::new("lines").value(line))?;
//! }
//! match producer.commit_transaction(Duration::from_secs(60)) {
//!     Ok(()) => {}
//!     Err(TransactionError::Abortable(why)) => {
//!         eprintln!("not committed: {why}");
//!         producer.abort_transaction(Duration::from_secs(60))?;
//!     }
//!     Err(e) => return Err(e.into()), // fenced, unauthorized, timed out...
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # States
//!
//! `init_transactions` once (it obtains the producer id and epoch for the
//! transactional id, fencing any older producer with the same id and
//! aborting its open transaction); then, in a loop, `begin_transaction`,
//! sends (and [`send_offsets_to_transaction`](crate::Producer::send_offsets_to_transaction)),
//! then `commit_transaction` or `abort_transaction`. Any other order is a
//! [`TransactionError::InvalidState`]: a programming error, reported at
//! once, that changes nothing. A `send` outside a transaction is refused
//! with [`SendErrorKind::Transaction`](crate::SendErrorKind::Transaction).
//!
//! # Errors (KIP-1050's classes)
//!
//! - Retriable errors (a coordinator moving or loading, a lost connection,
//!   `CONCURRENT_TRANSACTIONS`) are retried inside, with `retry.backoff.ms`.
//! - [`TransactionError::Timeout`]: the call's timeout passed; the
//!   operation goes on in the background. Call the same method again to
//!   wait for it (a commit that timed out can only be waited for, not
//!   aborted: its outcome is being decided).
//! - [`TransactionError::Abortable`]: this transaction cannot commit (a
//!   record of it failed, the broker answered `TRANSACTION_ABORTABLE`, a
//!   group error on the offsets). Call `abort_transaction`; the producer
//!   can then run a new transaction, e.g. retry this one.
//! - [`TransactionError::Fatal`]: the producer can do nothing more. Close
//!   it. [`TransactionError::class`] tells a producer fenced by a newer
//!   instance with the same `transactional.id` (application-recoverable:
//!   another instance took over) from a configuration problem
//!   (authorization, transaction timeout, broker version).
//!
//! # Transactions v2 (KIP-890)
//!
//! When the brokers report the finalized feature `transaction.version` at 2
//! or more (Kafka 4.0's default), the producer uses Produce v12 and later,
//! with which a partition joins the transaction with its first batch (no
//! AddPartitionsToTxn round trip), and EndTxn v5, with which every commit or
//! abort bumps the producer epoch. Otherwise it speaks transactions v1, as
//! librdkafka does.
//!
//! # What exactly-once covers
//!
//! A committed transaction's records (and offsets) are in the log exactly
//! once: retries inside it are deduplicated by the idempotent producer, and
//! an aborted transaction's records are hidden from `read_committed`
//! consumers. It does not cover what happens outside Kafka: a side effect
//! of your program, or a consumer reading with `read_uncommitted` (the
//! default of most consumers), which sees aborted records too.

use std::fmt;
use std::time::Duration;

use crate::error::KafkaCode;

/// A consumer group's identity, for
/// [`Producer::send_offsets_to_transaction`](crate::Producer::send_offsets_to_transaction):
/// what Java's `consumer.groupMetadata()` returns. This crate has no
/// consumer: fill it from yours. With only a group id (generation -1, no
/// member id), the group coordinator cannot fence a zombie consumer
/// (KIP-447); give the generation and member id when you have them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConsumerGroupMetadata {
    /// The consumer group's id.
    pub group_id: String,
    /// The group generation the consumer is in, or -1 if unknown.
    pub generation_id: i32,
    /// The consumer's member id in the group, or empty if unknown.
    pub member_id: String,
    /// The static member's `group.instance.id` (KIP-345), if any.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Metadata with only the group id: generation -1, no member id.
    pub fn new(group_id: impl Into<String>) -> Self {
        Self {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }

    /// Sets the generation and member id (from the consumer's last join).
    pub fn with_member(mut self, generation_id: i32, member_id: impl Into<String>) -> Self {
        self.generation_id = generation_id;
        self.member_id = member_id.into();
        self
    }

    /// Sets the static member's `group.instance.id`.
    pub fn with_group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.group_instance_id = Some(id.into());
        self
    }
}

/// An offset to commit for one partition within a transaction: by Kafka's
/// convention the offset of the **next** record to consume (the last
/// processed offset + 1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OffsetAndMetadata {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset to commit: the next record to consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record, if known (lets the
    /// broker detect log truncation).
    pub leader_epoch: Option<i32>,
    /// Free text stored with the offset.
    pub metadata: Option<String>,
}

impl OffsetAndMetadata {
    /// An offset for `topic`-`partition`, without leader epoch or metadata.
    pub fn new(topic: impl Into<String>, partition: i32, offset: i64) -> Self {
        Self { topic: topic.into(), partition, offset, leader_epoch: None, metadata: None }
    }

    /// Sets the free-text metadata.
    pub fn with_metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = Some(metadata.into());
        self
    }

    /// Sets the leader epoch of the last consumed record.
    pub fn with_leader_epoch(mut self, epoch: i32) -> Self {
        self.leader_epoch = Some(epoch);
        self
    }
}

/// What failed, for [`TransactionError::Abortable`] and
/// [`TransactionError::Fatal`]: the broker's error code, if one caused it,
/// and what the producer was doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionFailure {
    code: Option<KafkaCode>,
    message: String,
}

impl TransactionFailure {
    pub(crate) fn new(code: Option<KafkaCode>, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// The Kafka error code behind the failure, if a broker sent one.
    pub fn code(&self) -> Option<KafkaCode> {
        self.code
    }

    /// What happened, in words.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TransactionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(c) => write!(f, "{}: {c}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a transactional operation failed. Match on the variant to decide
/// what to do; see the [module documentation](self) for the classes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionError {
    /// The call's timeout passed before the operation finished. It goes on
    /// in the background: call the same method again to wait for its
    /// outcome. KIP-1050: retriable.
    Timeout {
        /// The method that timed out.
        operation: &'static str,
        /// How long it waited.
        waited: Duration,
    },
    /// The call is not allowed now (e.g. `begin_transaction` twice,
    /// `commit_transaction` without a transaction, a `send` outside one,
    /// `abort_transaction` while a commit that timed out is still being
    /// decided). A programming error; nothing changed.
    InvalidState {
        /// The method called.
        operation: &'static str,
        /// The transaction's state at the time (`"ready"`,
        /// `"in transaction"`, ...).
        state: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// The current transaction cannot commit: abort it with
    /// [`abort_transaction`](crate::Producer::abort_transaction); then a
    /// new transaction may begin. KIP-1050: abortable.
    Abortable(TransactionFailure),
    /// The producer cannot go on: fenced by a newer producer with the same
    /// `transactional.id`, not authorized, a transaction timeout the broker
    /// refuses, a broker without transactions, or an unexpected error from
    /// the coordinator. Close the producer; [`class`](Self::class) says
    /// which kind it is.
    Fatal(TransactionFailure),
    /// The producer is closed (or closing).
    Closed,
}

/// KIP-1050's classes of transactional errors, as
/// [`TransactionError::class`] reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransactionErrorClass {
    /// Try again: call the same method again ([`TransactionError::Timeout`]).
    Retriable,
    /// Abort the transaction; the producer can go on.
    Abortable,
    /// The producer is done, because another instance with the same
    /// `transactional.id` took over (`PRODUCER_FENCED`,
    /// `INVALID_PRODUCER_EPOCH`, `TRANSACTION_COORDINATOR_FENCED`, or the
    /// coordinator aborted this producer's transaction on its timeout): the
    /// application decides whether this instance should restart.
    ApplicationRecoverable,
    /// The producer is done, because of how it or the cluster is set up
    /// (authorization, `transaction.timeout.ms` above the broker's maximum,
    /// a broker without transactions): fix the configuration.
    InvalidConfiguration,
    /// The producer is done for another reason, or is closed.
    Fatal,
    /// A method was called in the wrong state ([`TransactionError::InvalidState`]).
    InvalidState,
}

impl TransactionError {
    /// The error's KIP-1050 class.
    pub fn class(&self) -> TransactionErrorClass {
        match self {
            Self::Timeout { .. } => TransactionErrorClass::Retriable,
            Self::InvalidState { .. } => TransactionErrorClass::InvalidState,
            Self::Abortable(_) => TransactionErrorClass::Abortable,
            Self::Closed => TransactionErrorClass::Fatal,
            Self::Fatal(f) => match f.code {
                Some(
                    KafkaCode::PRODUCER_FENCED
                    | KafkaCode::INVALID_PRODUCER_EPOCH
                    | KafkaCode::TRANSACTION_COORDINATOR_FENCED,
                ) => TransactionErrorClass::ApplicationRecoverable,
                Some(
                    KafkaCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                    | KafkaCode::CLUSTER_AUTHORIZATION_FAILED
                    | KafkaCode::INVALID_TRANSACTION_TIMEOUT
                    | KafkaCode::UNSUPPORTED_VERSION
                    | KafkaCode::UNSUPPORTED_FOR_MESSAGE_FORMAT,
                ) => TransactionErrorClass::InvalidConfiguration,
                _ => TransactionErrorClass::Fatal,
            },
        }
    }

    /// The Kafka error code behind the error, if a broker sent one.
    pub fn code(&self) -> Option<KafkaCode> {
        match self {
            Self::Abortable(f) | Self::Fatal(f) => f.code,
            _ => None,
        }
    }

    /// Whether another producer with the same `transactional.id` fenced
    /// this one.
    pub fn is_fenced(&self) -> bool {
        matches!(self.code(), Some(KafkaCode::PRODUCER_FENCED | KafkaCode::INVALID_PRODUCER_EPOCH))
    }

    pub(crate) fn abortable(code: Option<KafkaCode>, message: impl Into<String>) -> Self {
        Self::Abortable(TransactionFailure::new(code, message))
    }

    pub(crate) fn fatal(code: Option<KafkaCode>, message: impl Into<String>) -> Self {
        Self::Fatal(TransactionFailure::new(code, message))
    }
}

impl fmt::Display for TransactionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout { operation, waited } => write!(
                f,
                "{operation} did not finish within {} ms; it goes on in the background: \
                 call {operation} again to wait for it",
                waited.as_millis()
            ),
            Self::InvalidState { operation, state, hint } => {
                write!(f, "cannot call {operation} in transaction state \"{state}\": {hint}")
            }
            Self::Abortable(why) => write!(f, "the transaction must be aborted: {why}"),
            Self::Fatal(why) => write!(f, "the transactional producer cannot go on: {why}"),
            Self::Closed => f.write_str("the producer is closed"),
        }
    }
}

impl std::error::Error for TransactionError {}

impl crate::Producer {
    /// The transaction manager, or the error for a producer without
    /// `transactional.id`.
    fn transactions(
        &self,
        operation: &'static str,
    ) -> Result<&crate::engine::txn::Transactions, TransactionError> {
        self.shared.txn.as_ref().ok_or(TransactionError::InvalidState {
            operation,
            state: "not transactional",
            hint: "set transactional.id to use transactions",
        })
    }

    /// Prepares the producer for transactions; call it once, before the
    /// first [`begin_transaction`](Self::begin_transaction). Finds the
    /// transaction coordinator and obtains the producer id and epoch for
    /// `transactional.id`: any older producer with the same id is fenced
    /// from then on, and a transaction it left open is aborted (or, if it
    /// was committing, completed) first.
    ///
    /// Blocks up to `timeout`; on [`TransactionError::Timeout`] the work goes
    /// on in the background and calling `init_transactions` again waits for
    /// it.
    pub fn init_transactions(&self, timeout: Duration) -> Result<(), TransactionError> {
        self.transactions("init_transactions")?.init(&self.shared, timeout)
    }

    /// Starts a transaction: from now until
    /// [`commit_transaction`](Self::commit_transaction) or
    /// [`abort_transaction`](Self::abort_transaction), every record sent
    /// belongs to it. Does no I/O.
    pub fn begin_transaction(&self) -> Result<(), TransactionError> {
        self.transactions("begin_transaction")?.begin(&self.shared)
    }

    /// Adds consumer offsets to the current transaction: they are committed
    /// for `group` if and only if the transaction commits (the
    /// read-process-write pattern). `offsets` are the next records to
    /// consume. Blocks until the coordinators acknowledged them, up to
    /// `max.block.ms`.
    ///
    /// Transactions v1 sends AddOffsetsToTxn to the transaction coordinator,
    /// then TxnOffsetCommit to the group coordinator; v2 only the latter.
    pub fn send_offsets_to_transaction(
        &self,
        offsets: &[OffsetAndMetadata],
        group: &ConsumerGroupMetadata,
    ) -> Result<(), TransactionError> {
        let txn = self.transactions("send_offsets_to_transaction")?;
        txn.send_offsets(&self.shared, offsets.to_vec(), group.clone(), self.shared.cfg.max_block)
    }

    /// Commits the current transaction: first sends every queued record and
    /// waits for all of them (as [`flush`](Self::flush) does), then asks the
    /// coordinator to commit. Returns once the commit is decided: the
    /// transaction's records and offsets are then visible to
    /// `read_committed` consumers.
    ///
    /// If a record of the transaction failed, nothing is committed and the
    /// error is [`TransactionError::Abortable`]: call
    /// [`abort_transaction`](Self::abort_transaction). On
    /// [`TransactionError::Timeout`], call `commit_transaction` again to
    /// learn the outcome; a lost answer from the coordinator is asked again
    /// until it comes, so the outcome is always known.
    pub fn commit_transaction(&self, timeout: Duration) -> Result<(), TransactionError> {
        let txn = self.transactions("commit_transaction")?;
        txn.commit(&self.shared, timeout, |deadline| self.flush_until(deadline))
    }

    /// Aborts the current transaction: records not yet sent fail at once
    /// with [`DeliveryErrorKind::TransactionAborted`](crate::DeliveryErrorKind::TransactionAborted),
    /// records in flight are waited for, then the coordinator writes abort
    /// markers, so `read_committed` consumers never see any of it. The
    /// producer can then begin a new transaction.
    ///
    /// Blocks up to `timeout`; on [`TransactionError::Timeout`], call it again.
    pub fn abort_transaction(&self, timeout: Duration) -> Result<(), TransactionError> {
        let txn = self.transactions("abort_transaction")?;
        txn.abort(&self.shared, timeout, |deadline| self.flush_until(deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_kip_1050() {
        let fatal = |c| TransactionError::fatal(Some(KafkaCode(c)), "x").class();
        assert_eq!(fatal(90), TransactionErrorClass::ApplicationRecoverable);
        assert_eq!(fatal(47), TransactionErrorClass::ApplicationRecoverable);
        assert_eq!(fatal(53), TransactionErrorClass::InvalidConfiguration);
        assert_eq!(fatal(50), TransactionErrorClass::InvalidConfiguration);
        assert_eq!(fatal(48), TransactionErrorClass::Fatal);
        let abortable = TransactionError::abortable(Some(KafkaCode::TRANSACTION_ABORTABLE), "produce");
        assert_eq!(abortable.class(), TransactionErrorClass::Abortable);
        assert_eq!(abortable.code(), Some(KafkaCode(120)));
        assert_eq!(
            abortable.to_string(),
            "the transaction must be aborted: produce: TRANSACTION_ABORTABLE (120)"
        );
        let t =
            TransactionError::Timeout { operation: "commit_transaction", waited: Duration::from_millis(5) };
        assert_eq!(t.class(), TransactionErrorClass::Retriable);
        assert!(t.to_string().contains("call commit_transaction again"), "{t}");
        assert!(TransactionError::fatal(Some(KafkaCode::PRODUCER_FENCED), "init").is_fenced());
    }
}
