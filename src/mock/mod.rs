//! An in-process Kafka cluster for tests and demos, with fault injection
//! (feature `mock`).
//!
//! [`MockCluster::start`] opens one TCP listener per broker on `127.0.0.1`
//! (ephemeral ports) and speaks the Kafka protocol on each, so any Kafka
//! client (this crate's producer, librdkafka, the Java client) can connect to
//! [`MockCluster::bootstrap_servers`] as to a real cluster. Like librdkafka's
//! mock cluster or franz-go's kfake, it exists to test what a producer does
//! when things go wrong: errors, lost connections, slow or silent brokers,
//! leader moves, duplicates, garbage on the wire.
//!
//! # What it speaks
//!
//! | API | versions | notes |
//! |---|---|---|
//! | ApiVersions (18) | 0-4 | newer versions get `UNSUPPORTED_VERSION` in a v0 body, as from Kafka |
//! | Metadata (3) | 1-13 | optional auto-creation ([`MockCluster::set_auto_create_topics`]); an injected `REBOOTSTRAP_REQUIRED` is the top-level error of v13 |
//! | Produce (0) | 3-13 | validation, offsets and idempotence as below; v13 names topics by id (KIP-516) |
//! | InitProducerId (22) | 0-5 | ids from 1000, epoch 0; with a transactional id, the coordinator's (below) |
//! | FindCoordinator (10) | 0-6 | groups (key type 0) and transactional ids (1); v4+ batched |
//! | AddPartitionsToTxn (24) | 0-5 | v0-3 from clients; v4-5 (brokers) batched, `verify_only` checks membership |
//! | AddOffsetsToTxn (25), TxnOffsetCommit (28) | 0-4, 0-5 | offsets committed with the transaction |
//! | EndTxn (26) | 0-5 | markers written at once; v5 answers the bumped epoch under transactions v2 |
//! | CreateTopics (19) | 2-7 | name, partition, replication, assignment and config checks |
//! | DeleteTopics (20) | 1-6 | by name, or by id at v6 |
//! | SaslHandshake (17) | 0-1 | SASL listeners only; v0 closes the connection |
//! | SaslAuthenticate (36) | 0-2 | SASL listeners only; session lifetime from v1 |
//! | GetTelemetrySubscriptions (71), PushTelemetry (72) | 0 | only after [`MockCluster::set_telemetry`] (KIP-714) |
//!
//! Every response is encoded at the request's version with that version's
//! response header. A request the mock cannot decode, of an API it does not
//! implement, or of a version it does not advertise closes the connection
//! (as Kafka does) and is logged through the `log` crate; no input makes the
//! mock panic. Frames are capped at 100 MiB (Kafka's
//! `socket.request.max.bytes`). [`MockCluster::set_api_versions`] narrows
//! the advertised ranges, to play an older broker.
//!
//! Listeners are plain TCP without authentication unless the cluster is
//! started with [`MockCluster::start_secured`]: TLS and mTLS (feature
//! `tls`) and SASL PLAIN, SCRAM and OAUTHBEARER with session expiry and
//! re-authentication (feature `sasl`), as [`MockSecurity`] describes.
//! Without SASL, SaslHandshake and SaslAuthenticate are neither advertised
//! nor served (their requests close the connection). GetTelemetrySubscriptions
//! (71) and PushTelemetry (72) v0 (KIP-714) are advertised and served only
//! after [`MockCluster::set_telemetry`], like a Kafka broker with a client
//! telemetry plugin: the mock hands out the subscription, checks pushes
//! (subscription id, codec, size, an OTLP payload that decodes) and keeps
//! them for [`MockCluster::telemetry_pushes`].
//!
//! Brokers have ids `1..=n`; broker 1 is the controller. Partition `p` of a
//! topic with replication factor `r` is hosted on brokers `p, p+1, ...,
//! p+r-1` (mod n, counted from broker 1), the first being its leader, so
//! leaders spread round-robin. Replication is bookkeeping only: replica and
//! ISR lists in Metadata, one log per partition.
//!
//! # Produce, as a broker does it
//!
//! Per partition, in Kafka's order: at v13, a topic id the cluster does not
//! know (or the nil id): `UNKNOWN_TOPIC_ID`; unknown topic or partition:
//! `UNKNOWN_TOPIC_OR_PARTITION`; this broker is not the leader:
//! `NOT_LEADER_OR_FOLLOWER` (with the current leader from v10); not exactly
//! one batch: `INVALID_RECORD`; batch larger than `max.message.bytes`
//! (default 1048588, Kafka's; [`MockCluster::set_max_message_bytes`], or the
//! topic config of that name): `MESSAGE_TOO_LARGE`; bad CRC, magic, length,
//! record framing or offset deltas: `CORRUPT_MESSAGE`; non-zero base offset,
//! control batch or no records: `INVALID_RECORD`; zstd below v7 or a codec
//! this build lacks: `UNSUPPORTED_COMPRESSION_TYPE`; a transactional batch
//! that does not belong to its transaction (see
//! [below](self#transactions-as-a-coordinator-does-them)). acks outside {0, 1, -1}:
//! `INVALID_REQUIRED_ACKS` for every partition. Accepted batches get offsets
//! from the log end; the response carries the base offset, log append time
//! -1 (or the append time for topics with `message.timestamp.type =
//! LogAppendTime`) and log start offset 0. With `acks = 0` no response is
//! sent, and a request with any error closes the connection (Kafka does this
//! so the client notices).
//!
//! # Idempotence, as a broker does it
//!
//! For each producer id and partition, the mock keeps the producer's epoch and
//! its last 5 batches (first and last sequence, base offset), and checks every
//! batch with a producer id (batches with producer id -1 skip all of this):
//!
//! - Same epoch and exactly the sequence range of a remembered batch: a
//!   **duplicate**. Nothing is appended; the answer carries the original
//!   batch's base offset. Kafka answers `NONE` (success) here, and so does
//!   the mock by default; [`DuplicateAnswer::DuplicateSequenceNumber`] makes
//!   it answer `DUPLICATE_SEQUENCE_NUMBER` with the original offset instead.
//! - Epoch older than the last one seen: `INVALID_PRODUCER_EPOCH` (what Kafka
//!   2.7+ answers; older brokers sent the same code 47).
//! - Newer epoch: must start at sequence 0, else `OUT_OF_ORDER_SEQUENCE_NUMBER`.
//! - Same epoch: the first sequence must be the last one plus 1 (0 after
//!   `i32::MAX`), else `OUT_OF_ORDER_SEQUENCE_NUMBER`.
//! - No state for the producer on this partition: **any** sequence is
//!   accepted, as Kafka 2.5+ does (KIP-360: "accept writes with any sequence
//!   number"). Brokers before 2.5 answered `UNKNOWN_PRODUCER_ID` when the
//!   first sequence was not 0: [`MockCluster::set_legacy_unknown_producer_id`].
//!
//! InitProducerId hands out producer ids 1000, 1001, ... with epoch 0. Like
//! Kafka, a request without a transactional id always gets a new id, even if
//! it carries its current id and epoch (the Java client bumps an idempotent
//! producer's epoch locally); [`MockCluster::set_bump_epoch_on_init`] makes
//! such a request (v3+) bump the epoch of that id instead, as librdkafka's
//! mock does. A transactional id keeps its producer id and gets its epoch
//! bumped on every call, as described next.
//!
//! # Transactions, as a coordinator does them
//!
//! Each transactional id has a coordinator: the broker hosting partition
//! `abs(javaHash(id)) % 50` of an internal topic placed round-robin like
//! every topic (Kafka's `partitionFor` on `__transaction_state`), until
//! [`MockCluster::move_transaction_coordinator`] moves it (and bumps its
//! coordinator epoch). FindCoordinator answers it; InitProducerId,
//! AddPartitionsToTxn, AddOffsetsToTxn and EndTxn sent elsewhere get
//! `NOT_COORDINATOR`. Consumer groups get a coordinator the same way
//! ([`MockCluster::move_group_coordinator`]), where TxnOffsetCommit goes;
//! the mock keeps no group membership, so any generation and member id is
//! accepted. The coordinator follows Kafka's `TransactionCoordinator`
//! ([`MockTxnState`] has its states):
//!
//! - **InitProducerId** with a transactional id: a new id gets a new producer
//!   id at epoch 0, a known one its epoch bumped, which fences the previous
//!   producer (its requests get `PRODUCER_FENCED`, or
//!   `INVALID_PRODUCER_EPOCH` from clients that predate it; its Produce
//!   `INVALID_PRODUCER_EPOCH`). An open transaction is aborted first, with
//!   markers at epoch + 1, and the request answered `CONCURRENT_TRANSACTIONS`
//!   as Kafka does; the retry gets epoch + 2. v3+ with the current producer
//!   id and epoch (KIP-360) bumps it, a retry of that gets the same epoch,
//!   anything else is fenced. A timeout above `transaction.max.timeout.ms`
//!   ([`MockCluster::set_transaction_max_timeout`], 15 minutes) or not
//!   positive: `INVALID_TRANSACTION_TIMEOUT`.
//! - **AddPartitionsToTxn** / **AddOffsetsToTxn** open the transaction or
//!   extend it. A wrong producer id: `INVALID_PRODUCER_ID_MAPPING`; an old
//!   epoch: `PRODUCER_FENCED`; an unknown partition:
//!   `UNKNOWN_TOPIC_OR_PARTITION` and `OPERATION_NOT_ATTEMPTED` for the
//!   others of the request.
//! - **Produce**: the batch that opens its producer's transaction on a
//!   partition must name the transactional id and the partition must be in
//!   the transaction, as Kafka 3.6+ verifies (KIP-890 part 1), else
//!   `TRANSACTION_ABORTABLE` (v11+) or `INVALID_TXN_STATE`; an old epoch
//!   `INVALID_PRODUCER_EPOCH`; a plain batch while its producer's
//!   transaction is open `INVALID_TXN_STATE`.
//! - **TxnOffsetCommit** stages offsets; the group must be in the
//!   transaction (AddOffsetsToTxn); they reach
//!   [`MockCluster::committed_offsets`] when it commits.
//! - **EndTxn** writes a control batch (commit or abort marker, one record)
//!   at the log end of every partition in the transaction, with the
//!   producer id and epoch and the coordinator epoch, and completes at once
//!   (Kafka answers first and writes later; the mock is never seen in the
//!   Prepare states, so `CONCURRENT_TRANSACTIONS` comes only from fault
//!   injection). Nothing open, or the other outcome already reached:
//!   `INVALID_TXN_STATE`; the same EndTxn again after it completed succeeds.
//! - **Timeouts**: a transaction open longer than its timeout is aborted,
//!   its producer fenced with epoch + 1, as Kafka does (there every 10 s;
//!   here before each request and each look at the state through
//!   [`MockCluster::transaction`], [`MockCluster::last_stable_offset`] and
//!   the other transaction accessors).
//! - **Transactions v2** (KIP-890 part 2) once
//!   [`MockCluster::set_transaction_version`] finalizes `transaction.version`
//!   2: ApiVersions advertises it, a transactional Produce v12+ adds its
//!   partition to the transaction (TxnOffsetCommit v5+ its group), and EndTxn
//!   v5+ bumps the epoch on every commit and abort and answers the new
//!   producer id and epoch (markers carry the new epoch; the producer starts
//!   again at sequence 0). Otherwise EndTxn v5 answers -1/-1.
//!
//! Each partition keeps, like Kafka's `ProducerStateManager`, the first
//! offset of each open transaction and an index of aborted ones; its last
//! stable offset is the oldest open transaction's first offset, else the log
//! end. [`MockCluster::records`] lists every data record (markers left out);
//! [`MockCluster::records_read_committed`] what a `read_committed` consumer
//! reads; [`MockCluster::control_markers`],
//! [`MockCluster::aborted_transactions`] and [`MockCluster::transaction`]
//! the rest.
//!
//! # Fault injection
//!
//! All methods take `&self` and may be called from any thread while clients
//! are connected. Faults queued for an API apply to its next requests on
//! **any** broker, in the order they were queued:
//!
//! - [`push_request_errors`](MockCluster::push_request_errors): answer with
//!   these error codes (for the transaction APIs, on every key, partition or
//!   the request's one code).
//! - [`push_errors_after_processing`](MockCluster::push_errors_after_processing):
//!   append first, then answer with these error codes.
//! - [`drop_connection`](MockCluster::drop_connection): close the connection
//!   before processing, or after processing without answering (the
//!   ambiguous case: the data **is** stored).
//! - [`stall`](MockCluster::stall): never answer, keep the connection open.
//! - [`delay_next`](MockCluster::delay_next) and
//!   [`set_response_delay`](MockCluster::set_response_delay): answer late.
//! - [`send_malformed_response`](MockCluster::send_malformed_response):
//!   answer with broken bytes ([`Malformation`]).
//!
//! And for the cluster: [`broker_down`](MockCluster::broker_down) /
//! [`broker_up`](MockCluster::broker_up),
//! [`move_leader`](MockCluster::move_leader). To assert on what a client
//! did: [`request_count`](MockCluster::request_count),
//! [`requests`](MockCluster::requests),
//! [`connection_count`](MockCluster::connection_count),
//! [`records`](MockCluster::records) and
//! [`sasl_stats`](MockCluster::sasl_stats).
//!
//! # Threads
//!
//! One accept thread per broker that is up and one thread per connection,
//! with blocking I/O. [`MockCluster::shutdown`] (or dropping the cluster)
//! stops them all, closes every socket and joins every thread.
//!
//! # Example
//!
//! ```
//! use std::io::Write;
//! use std::net::TcpStream;
//!
//! use kafka_sync::mock::MockCluster;
//! use kafka_sync::protocol::frame::{decode_response, encode_request, read_frame};
//! use kafka_sync::protocol::messages::metadata::MetadataRequest;
//! use kafka_sync::KafkaCode;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = MockCluster::start(3)?;
//! cluster.create_topic("events", 6, 2)?;
//! cluster.push_request_errors(3, &[KafkaCode::LEADER_NOT_AVAILABLE]);
//!
//! // Any Kafka client works; here, raw protocol over TCP.
//! let mut conn = TcpStream::connect(cluster.broker_address(1).unwrap())?;
//! let mut buf = Vec::new();
//! for correlation_id in [1, 2] {
//!     buf.clear();
//!     encode_request(&mut buf, correlation_id, Some("doc"), 12, &MetadataRequest::for_topics(["events"]))?;
//!     conn.write_all(&buf)?;
//!     read_frame(&mut conn, 1 << 20, &mut buf)?;
//!     let (_, meta) = decode_response::<MetadataRequest>(&buf, 12)?;
//!     if correlation_id == 1 {
//!         assert_eq!(meta.topics[0].error_code, KafkaCode::LEADER_NOT_AVAILABLE.0); // injected
//!     } else {
//!         assert_eq!(meta.brokers.len(), 3);
//!         assert_eq!(meta.topics[0].partitions.len(), 6);
//!         assert_eq!(meta.topics[0].partitions[4].replica_nodes, [2, 3]);
//!     }
//! }
//! assert_eq!(cluster.request_count(3), 2);
//! # Ok(())
//! # }
//! ```

mod idempotence;
#[cfg(feature = "sasl")]
mod sasl;
mod security;
mod server;
mod state;
mod telemetry;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use self::security::Listener;
pub use self::security::{MockSecurity, SaslStats};
use self::server::{BrokerSlot, Shared};
use self::state::coordinator::CoordinatorKind;
pub use self::state::coordinator::{MockCommittedOffset, MockTransaction, MockTxnState};
pub use self::state::partitions::{MockAbortedTransaction, MockMarker};
use self::state::{now_ms, BrokerInfo, ClusterState, Injection, Rejection};
pub use self::telemetry::{MockTelemetry, TelemetryPush};
use crate::protocol::compression::Compression;
use crate::protocol::frame::DEFAULT_MAX_FRAME;
use crate::protocol::messages::create_topics::{CreatableTopic, CreatableTopicConfig};
use crate::protocol::record_batch::Header;
use crate::protocol::VersionRange;
use crate::KafkaCode;

/// Most brokers one mock cluster may have.
pub const MAX_BROKERS: usize = 64;

/// Where a dropped or stalled request stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropPoint {
    /// Before the broker processes the request: nothing happens (no append,
    /// no producer id handed out).
    BeforeProcessing,
    /// After the broker processed the request (a Produce **is** appended),
    /// but before it answers: the client cannot tell whether it took effect.
    AfterProcessing,
}

/// How [`MockCluster::send_malformed_response`] breaks a response. The
/// request is processed normally first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Malformation {
    /// A well-formed response with a correlation id that matches no request
    /// in flight (the real one plus 2^30). The connection stays open.
    WrongCorrelationId,
    /// A complete frame whose body is cut in half (the size prefix agrees
    /// with the shorter frame): it cannot be decoded. The connection stays open.
    TruncatedBody,
    /// A complete frame with the right correlation id and every body byte
    /// set to `0xff`. The connection stays open.
    Garbage,
    /// Half a frame: the size prefix promises more bytes than follow, then
    /// the connection is closed.
    ShortFrame,
    /// A size prefix of `i32::MAX` (a client must refuse it without trying
    /// to read that much), then the connection is closed.
    HugeSizePrefix,
}

/// What a duplicate idempotent batch is answered with (see the
/// [module docs](self#idempotence-as-a-broker-does-it)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DuplicateAnswer {
    /// `NONE` with the original batch's offset: what Kafka brokers (and
    /// librdkafka's mock) answer for a batch in the 5-batch window. The default.
    #[default]
    Success,
    /// `DUPLICATE_SEQUENCE_NUMBER` with the original batch's offset, to test
    /// that a client treats it as success.
    DuplicateSequenceNumber,
}

/// One request a broker received (and could decode).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestLogEntry {
    /// The broker that received it.
    pub broker: i32,
    /// Its API key (see [`protocol::api_key`](crate::protocol::api_key)).
    pub api_key: i16,
    /// Its version.
    pub api_version: i16,
    /// Its correlation id.
    pub correlation_id: i32,
    /// The client id in its header.
    pub client_id: Option<String>,
}

/// A record as stored in a partition's log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoredRecord {
    /// The offset the broker assigned.
    pub offset: i64,
    /// The record's timestamp (milliseconds since the epoch): the producer's
    /// create time, or the broker's append time for a `LogAppendTime` topic.
    pub timestamp: i64,
    /// The key, or `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// The value, or `None` for a null value.
    pub value: Option<Vec<u8>>,
    /// The headers, in order.
    pub headers: Vec<Header>,
    /// The batch's producer id, -1 without idempotence.
    pub producer_id: i64,
    /// The batch's producer epoch, -1 without idempotence.
    pub producer_epoch: i16,
    /// This record's sequence number (the batch's base sequence plus its
    /// offset delta, wrapping), -1 without idempotence.
    pub sequence: i32,
    /// The offset of the first record of the batch this record came in.
    pub batch_base_offset: i64,
    /// The codec the batch was compressed with.
    pub compression: Compression,
    /// Whether the batch was transactional (attribute bit 4): the record
    /// belongs to a transaction, committed, aborted or still open (see
    /// [`MockCluster::records_read_committed`]).
    pub is_transactional: bool,
}

/// Why an operation on a [`MockCluster`] was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum MockError {
    /// There is no broker with this id.
    UnknownBroker(i32),
    /// What a Kafka broker would answer a client asking the same (e.g.
    /// `TOPIC_ALREADY_EXISTS` for [`MockCluster::create_topic`]).
    Rejected {
        /// The Kafka error code.
        code: KafkaCode,
        /// Why.
        message: String,
    },
    /// A socket operation failed (binding a listener again in
    /// [`MockCluster::broker_up`]).
    Io(io::Error),
}

impl MockError {
    /// The Kafka error code, for [`MockError::Rejected`].
    pub fn code(&self) -> Option<KafkaCode> {
        match self {
            MockError::Rejected { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<Rejection> for MockError {
    fn from((code, message): Rejection) -> Self {
        MockError::Rejected { code, message }
    }
}

impl fmt::Display for MockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MockError::UnknownBroker(id) => write!(f, "no broker {id} in the mock cluster"),
            MockError::Rejected { code, message } => write!(f, "{code}: {message}"),
            MockError::Io(e) => write!(f, "mock cluster I/O error: {e}"),
        }
    }
}

impl std::error::Error for MockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MockError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// An in-process Kafka cluster. See the [module docs](self).
///
/// `Send + Sync`: share it by reference (or in an `Arc`) between the test
/// and helper threads. Dropping it shuts it down.
pub struct MockCluster {
    shared: Arc<Shared>,
}

impl fmt::Debug for MockCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockCluster")
            .field("bootstrap_servers", &self.bootstrap_servers())
            .field("stopped", &self.shared.stopping())
            .finish_non_exhaustive()
    }
}

impl MockCluster {
    /// Starts a cluster of `brokers` brokers (ids `1..=brokers`), each
    /// listening on its own ephemeral port of `127.0.0.1`, with no topics.
    ///
    /// Fails with `InvalidInput` for 0 or more than [`MAX_BROKERS`] brokers,
    /// or with the error of binding a listener or starting a thread.
    ///
    /// ```
    /// let cluster = kafka_sync::mock::MockCluster::start(2).unwrap();
    /// assert_eq!(cluster.broker_ids(), [1, 2]);
    /// assert_eq!(cluster.bootstrap_servers().split(',').count(), 2);
    /// ```
    pub fn start(brokers: usize) -> io::Result<MockCluster> {
        Self::start_with(brokers, Listener::default())
    }

    /// [`start`](Self::start) and [`start_secured`](Self::start_secured).
    fn start_with(brokers: usize, security: Listener) -> io::Result<MockCluster> {
        if brokers == 0 || brokers > MAX_BROKERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a mock cluster has 1 to {MAX_BROKERS} brokers, not {brokers}"),
            ));
        }
        let listeners = (0..brokers)
            .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .collect::<io::Result<Vec<_>>>()?;
        let mut slots = Vec::with_capacity(brokers);
        let mut infos = Vec::with_capacity(brokers);
        for (i, l) in listeners.iter().enumerate() {
            let addr = l.local_addr()?;
            let id = i as i32 + 1;
            slots.push(BrokerSlot::new(id, addr));
            infos.push(BrokerInfo { id, port: addr.port(), response_delay: Duration::ZERO });
        }
        let state = ClusterState::new(infos, security.sasl_enabled());
        let shared = Arc::new(Shared::new(state, slots, DEFAULT_MAX_FRAME, security));
        // From here on, an error drops `cluster`, which stops what started.
        let cluster = MockCluster { shared };
        for (idx, l) in listeners.into_iter().enumerate() {
            server::start_listener(&cluster.shared, idx, l)?;
        }
        Ok(cluster)
    }

    /// The `bootstrap.servers` string: `"127.0.0.1:p1,127.0.0.1:p2,..."`,
    /// every broker in id order.
    pub fn bootstrap_servers(&self) -> String {
        self.shared.brokers.iter().map(|b| b.addr().to_string()).collect::<Vec<_>>().join(",")
    }

    /// The broker ids, `1..=n`.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.shared.brokers.iter().map(|b| b.id).collect()
    }

    /// The address broker `id` listens on (it keeps it across
    /// [`broker_down`](Self::broker_down) and [`broker_up`](Self::broker_up)).
    pub fn broker_address(&self, id: i32) -> Option<SocketAddr> {
        self.slot(id).ok().map(|i| self.shared.brokers[i].addr())
    }

    fn slot(&self, id: i32) -> Result<usize, MockError> {
        self.shared.brokers.iter().position(|b| b.id == id).ok_or(MockError::UnknownBroker(id))
    }

    // ---- topics ----------------------------------------------------------

    /// Creates a topic of `partitions` partitions, each with `replication`
    /// replicas (at most the broker count), leaders spread round-robin (see
    /// the [module docs](self)).
    ///
    /// Fails as CreateTopics would: `INVALID_TOPIC_EXCEPTION`,
    /// `TOPIC_ALREADY_EXISTS`, `INVALID_PARTITIONS`, `INVALID_REPLICATION_FACTOR`.
    ///
    /// ```
    /// # let cluster = kafka_sync::mock::MockCluster::start(3).unwrap();
    /// cluster.create_topic("orders", 3, 2).unwrap();
    /// assert_eq!(cluster.leader("orders", 1), Some(2));
    /// let err = cluster.create_topic("orders", 1, 1).unwrap_err();
    /// assert_eq!(err.code(), Some(kafka_sync::KafkaCode::TOPIC_ALREADY_EXISTS));
    /// ```
    pub fn create_topic(&self, name: &str, partitions: i32, replication: i16) -> Result<(), MockError> {
        self.create_topic_with_configs(name, partitions, replication, &[])
    }

    /// Like [`create_topic`](Self::create_topic), with topic configs. The mock
    /// honours `max.message.bytes` and `message.timestamp.type`
    /// (`CreateTime` or `LogAppendTime`) and accepts and ignores others.
    ///
    /// ```
    /// # let cluster = kafka_sync::mock::MockCluster::start(1).unwrap();
    /// cluster.create_topic_with_configs("audit", 1, 1, &[("message.timestamp.type", "LogAppendTime")]).unwrap();
    /// ```
    pub fn create_topic_with_configs(
        &self,
        name: &str,
        partitions: i32,
        replication: i16,
        configs: &[(&str, &str)],
    ) -> Result<(), MockError> {
        let spec = CreatableTopic {
            name: name.to_owned(),
            num_partitions: partitions,
            replication_factor: replication,
            assignments: Vec::new(),
            configs: configs
                .iter()
                .map(|(k, v)| CreatableTopicConfig { name: (*k).to_owned(), value: Some((*v).to_owned()) })
                .collect(),
        };
        self.shared.state.lock().create_topic(&spec, false, false)?;
        Ok(())
    }

    /// Grows `name` to `count` partitions, as Kafka's CreatePartitions does
    /// (partitions are never removed). Fails with `INVALID_PARTITIONS` unless
    /// `count` is larger than the current count.
    pub fn add_partitions(&self, name: &str, count: i32) -> Result<(), MockError> {
        Ok(self.shared.state.lock().add_partitions(name, count)?)
    }

    /// Deletes a topic, its records and its producer states. Fails with
    /// `UNKNOWN_TOPIC_OR_PARTITION` if there is no such topic.
    pub fn delete_topic(&self, name: &str) -> Result<(), MockError> {
        Ok(self.shared.state.lock().delete_topic(name)?)
    }

    /// The topic names, sorted.
    pub fn topics(&self) -> Vec<String> {
        self.shared.state.lock().topic_names()
    }

    /// The number of partitions of `topic`, if it exists.
    pub fn partition_count(&self, topic: &str) -> Option<i32> {
        self.shared.state.lock().partition_count(topic)
    }

    /// The leader of a partition, if it exists.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.shared.state.lock().leader(topic, partition).map(|(l, _)| l)
    }

    /// The leader epoch of a partition (0 at creation, bumped by every
    /// [`move_leader`](Self::move_leader)), if it exists.
    pub fn leader_epoch(&self, topic: &str, partition: i32) -> Option<i32> {
        self.shared.state.lock().leader(topic, partition).map(|(_, e)| e)
    }

    /// The offset the next record of a partition will get, if it exists.
    pub fn log_end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.shared.state.lock().log_end_offset(topic, partition)
    }

    /// Every record of a partition, by offset; empty for an unknown partition.
    ///
    /// ```
    /// # let cluster = kafka_sync::mock::MockCluster::start(1).unwrap();
    /// cluster.create_topic("t", 1, 1).unwrap();
    /// assert!(cluster.records("t", 0).is_empty());
    /// ```
    pub fn records(&self, topic: &str, partition: i32) -> Vec<StoredRecord> {
        self.shared.state.lock().records(topic, partition)
    }

    /// Makes `new_leader` the leader of a partition and bumps its leader
    /// epoch. Produce requests to the old leader then fail with
    /// `NOT_LEADER_OR_FOLLOWER` and Metadata shows the new leader. A broker
    /// that was not a replica becomes the first one.
    pub fn move_leader(&self, topic: &str, partition: i32, new_leader: i32) -> Result<(), MockError> {
        self.slot(new_leader)?;
        self.shared.state.lock().move_leader(topic, partition, new_leader)?;
        Ok(())
    }

    // ---- transactions ----------------------------------------------------

    /// The state, after aborting the transactions that timed out (see the
    /// [module docs](self#transactions-as-a-coordinator-does-them)).
    fn settled(&self) -> parking_lot::MutexGuard<'_, ClusterState> {
        let mut st = self.shared.state.lock();
        st.expire_transactions(now_ms());
        st
    }

    /// What a `read_committed` consumer reads from a partition: the data
    /// records below the [last stable offset](Self::last_stable_offset),
    /// without those of aborted transactions; empty for an unknown partition.
    ///
    /// ```
    /// # let cluster = kafka_sync::mock::MockCluster::start(1).unwrap();
    /// cluster.create_topic("t", 1, 1).unwrap();
    /// assert!(cluster.records_read_committed("t", 0).is_empty());
    /// assert_eq!(cluster.last_stable_offset("t", 0), Some(0));
    /// ```
    pub fn records_read_committed(&self, topic: &str, partition: i32) -> Vec<StoredRecord> {
        self.settled().records_read_committed(topic, partition)
    }

    /// A partition's last stable offset: the first offset of its oldest open
    /// transaction, else its log end offset. `None` for an unknown partition.
    pub fn last_stable_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.settled().last_stable_offset(topic, partition)
    }

    /// The transaction markers (control batches) in a partition's log, by
    /// offset. [`records`](Self::records) leaves them out.
    pub fn control_markers(&self, topic: &str, partition: i32) -> Vec<MockMarker> {
        self.settled().control_markers(topic, partition)
    }

    /// A partition's aborted-transactions index: per aborted transaction
    /// that wrote to it, the producer id, its first offset and the offset of
    /// its abort marker (what Fetch lists for `read_committed` consumers).
    pub fn aborted_transactions(&self, topic: &str, partition: i32) -> Vec<MockAbortedTransaction> {
        self.settled().aborted_transactions(topic, partition)
    }

    /// What the coordinator knows of `transactional_id`, if it has seen it
    /// (transactions that timed out are aborted first).
    pub fn transaction(&self, transactional_id: &str) -> Option<MockTransaction> {
        self.settled().transaction(transactional_id)
    }

    /// The offsets committed for consumer group `group_id` by committed
    /// transactions (TxnOffsetCommit), sorted by topic and partition.
    pub fn committed_offsets(&self, group_id: &str) -> Vec<MockCommittedOffset> {
        self.settled().coordinators().committed_offsets(group_id)
    }

    /// The broker coordinating `transactional_id` (FindCoordinator key type 1).
    pub fn transaction_coordinator(&self, transactional_id: &str) -> i32 {
        self.shared.state.lock().coordinator(CoordinatorKind::Transaction, transactional_id).0
    }

    /// The broker coordinating consumer group `group_id` (FindCoordinator key
    /// type 0), where TxnOffsetCommit goes.
    pub fn group_coordinator(&self, group_id: &str) -> i32 {
        self.shared.state.lock().coordinator(CoordinatorKind::Group, group_id).0
    }

    /// Makes `broker` the coordinator of `transactional_id`, as when the
    /// leader of its `__transaction_state` partition moves: the coordinator
    /// epoch (in later markers) is bumped, FindCoordinator answers `broker`,
    /// and the transaction requests on the old coordinator get
    /// `NOT_COORDINATOR`. The transaction's state moves along.
    ///
    /// ```
    /// # let cluster = kafka_sync::mock::MockCluster::start(3).unwrap();
    /// cluster.move_transaction_coordinator("txn-1", 3).unwrap();
    /// assert_eq!(cluster.transaction_coordinator("txn-1"), 3);
    /// assert!(cluster.move_transaction_coordinator("txn-1", 4).is_err());
    /// ```
    pub fn move_transaction_coordinator(&self, transactional_id: &str, broker: i32) -> Result<(), MockError> {
        self.slot(broker)?;
        Ok(self.shared.state.lock().move_coordinator(
            CoordinatorKind::Transaction,
            transactional_id,
            broker,
        )?)
    }

    /// Makes `broker` the coordinator of consumer group `group_id` (see
    /// [`move_transaction_coordinator`](Self::move_transaction_coordinator)).
    pub fn move_group_coordinator(&self, group_id: &str, broker: i32) -> Result<(), MockError> {
        self.slot(broker)?;
        Ok(self.shared.state.lock().move_coordinator(CoordinatorKind::Group, group_id, broker)?)
    }

    /// Sets the cluster's finalized `transaction.version` feature (KIP-890,
    /// Kafka 4.0). 0, the default, plays Kafka 3.x: no `transaction.version`
    /// in ApiVersions, transactions v1. From 1 ApiVersions (v3+) advertises
    /// the feature as supported (0-2) and finalized at `version`. From 2,
    /// transactions v2: a transactional Produce v12+ adds its partition to
    /// the transaction, and EndTxn v5+ bumps the producer epoch and answers
    /// the new one.
    pub fn set_transaction_version(&self, version: i16) {
        self.shared.state.lock().set_transaction_version(version.clamp(0, 2));
    }

    /// Sets `transaction.max.timeout.ms`: InitProducerId asking for a longer
    /// transaction timeout gets `INVALID_TRANSACTION_TIMEOUT`. Defaults to
    /// 15 minutes, Kafka's default.
    pub fn set_transaction_max_timeout(&self, max: Duration) {
        self.shared.state.lock().coordinators_mut().max_timeout_ms =
            i32::try_from(max.as_millis()).unwrap_or(i32::MAX);
    }

    // ---- settings --------------------------------------------------------

    /// Makes Metadata create unknown topics it is asked for by name (when the
    /// request allows it: always below v4, per its flag from v4), with
    /// `partitions` partitions and replication 1; `None` turns this off (the
    /// default). Like Kafka, the request that triggers the creation is
    /// answered `LEADER_NOT_AVAILABLE` for that topic; later ones see it.
    pub fn set_auto_create_topics(&self, partitions: Option<i32>) {
        self.shared.state.lock().settings.auto_create_partitions = partitions.map(|p| p.max(1));
    }

    /// Configures client telemetry (KIP-714). `Some`: every broker
    /// advertises and serves GetTelemetrySubscriptions and PushTelemetry v0,
    /// handing out this subscription under a new subscription id (pushes
    /// naming an older one get `UNKNOWN_SUBSCRIPTION_ID`). `None` (the
    /// default): neither API is advertised, as on a Kafka broker without a
    /// client telemetry plugin.
    ///
    /// ```
    /// # let cluster = kafka_sync::mock::MockCluster::start(1).unwrap();
    /// use kafka_sync::mock::MockTelemetry;
    /// use std::time::Duration;
    /// cluster.set_telemetry(Some(
    ///     MockTelemetry::requesting(["org.apache.kafka.producer."]).every(Duration::from_millis(200)),
    /// ));
    /// assert!(cluster.telemetry_pushes().is_empty());
    /// ```
    pub fn set_telemetry(&self, config: Option<MockTelemetry>) {
        self.shared.state.lock().set_telemetry(config);
    }

    /// The PushTelemetry requests received so far, oldest first, with the
    /// metric names their OTLP payloads carried.
    pub fn telemetry_pushes(&self) -> Vec<TelemetryPush> {
        self.shared.state.lock().telemetry.pushes.clone()
    }

    /// GetTelemetrySubscriptions requests answered so far.
    pub fn telemetry_subscriptions_served(&self) -> usize {
        self.shared.state.lock().telemetry.subscriptions_served
    }

    /// Sets the cluster's `message.max.bytes`: the largest record batch, in
    /// bytes including its 12-byte log overhead, a Produce may carry (topic
    /// configs `max.message.bytes` override it). Defaults to 1048588, Kafka's
    /// default (1 MiB plus the overhead).
    pub fn set_max_message_bytes(&self, bytes: usize) {
        self.shared.state.lock().settings.max_message_bytes = bytes;
    }

    /// Makes every Produce response carry `throttle_time_ms` (as a broker
    /// enforcing a quota does, KIP-219: it answers at once and expects the
    /// client to send nothing more to it for that long). Zero turns it off.
    pub fn set_produce_throttle(&self, throttle: Duration) {
        self.shared.state.lock().settings.produce_throttle_ms =
            i32::try_from(throttle.as_millis()).unwrap_or(i32::MAX);
    }

    /// Sets what a duplicate idempotent batch is answered with. Defaults to
    /// [`DuplicateAnswer::Success`], what Kafka answers.
    pub fn set_duplicate_answer(&self, answer: DuplicateAnswer) {
        self.shared.state.lock().settings.duplicate_answer = answer;
    }

    /// Plays a broker older than Kafka 2.5: a producer the partition has no
    /// state for gets `UNKNOWN_PRODUCER_ID` unless its first sequence is 0
    /// (newer brokers accept any sequence). Defaults to `false`.
    pub fn set_legacy_unknown_producer_id(&self, on: bool) {
        self.shared.state.lock().settings.legacy_unknown_producer_id = on;
    }

    /// Makes InitProducerId (v3+) without a transactional id, carrying a
    /// producer id and epoch the mock handed out, bump that epoch (as
    /// librdkafka's mock does) instead of handing out a new id (as Kafka
    /// does). A stale epoch is then `PRODUCER_FENCED` (v4+) or
    /// `INVALID_PRODUCER_EPOCH`, an id the mock never handed out
    /// `INVALID_PRODUCER_ID_MAPPING`. Defaults to `false`.
    pub fn set_bump_epoch_on_init(&self, on: bool) {
        self.shared.state.lock().settings.bump_epoch_on_init = on;
    }

    /// Narrows the versions of `api_key` the brokers advertise and accept, to
    /// play an older broker. `range` must lie within what the mock
    /// implements (see the [module docs](self)); ApiVersions must keep v0;
    /// SaslHandshake and SaslAuthenticate only on a SASL cluster.
    /// A request outside the range closes the connection, except ApiVersions,
    /// which gets the v0 `UNSUPPORTED_VERSION` answer.
    ///
    /// ```
    /// # let cluster = kafka_sync::mock::MockCluster::start(1).unwrap();
    /// use kafka_sync::protocol::VersionRange;
    /// // Kafka 2.8 speaks Produce up to v9.
    /// cluster.set_api_versions(0, VersionRange::new(3, 9)).unwrap();
    /// assert!(cluster.set_api_versions(0, VersionRange::new(0, 9)).is_err());
    /// ```
    pub fn set_api_versions(&self, api_key: i16, range: VersionRange) -> Result<(), MockError> {
        Ok(self.shared.state.lock().set_advertised(api_key, range)?)
    }

    // ---- fault injection -------------------------------------------------

    /// Makes the next `errors.len()` requests of `api_key`, on any broker,
    /// fail with these codes, in order, without being processed. Where the
    /// code goes: Produce, every partition of the request (nothing is
    /// appended); Metadata, every topic asked for (every topic, for a request
    /// of all topics); InitProducerId, its error code (no id is handed out);
    /// CreateTopics and DeleteTopics, every topic; ApiVersions, its error code
    /// (`UNSUPPORTED_VERSION` gives the v0 fallback answer); SaslHandshake and
    /// SaslAuthenticate, their error code (`SASL_AUTHENTICATION_FAILED` closes);
    /// FindCoordinator, every key; AddPartitionsToTxn and TxnOffsetCommit,
    /// every partition; AddOffsetsToTxn and EndTxn, their error code (e.g.
    /// `CONCURRENT_TRANSACTIONS`, which Kafka answers while it still writes
    /// the markers of the previous EndTxn).
    ///
    /// ```
    /// # let cluster = kafka_sync::mock::MockCluster::start(1).unwrap();
    /// use kafka_sync::KafkaCode;
    /// cluster.push_request_errors(0, &[KafkaCode::NOT_ENOUGH_REPLICAS, KafkaCode::REQUEST_TIMED_OUT]);
    /// ```
    pub fn push_request_errors(&self, api_key: i16, errors: &[KafkaCode]) {
        self.shared.state.lock().inject(api_key, errors.iter().map(|&c| Injection::Error(c)));
    }

    /// Queues error codes for the next requests of `api_key`, like
    /// [`push_request_errors`](Self::push_request_errors), but each request
    /// is **processed first**: a Produce is appended, then answered with the
    /// code for every partition that took it. This is what Kafka does with
    /// `NOT_ENOUGH_REPLICAS_AFTER_APPEND`, or `REQUEST_TIMED_OUT` when
    /// acks=all replication does not finish in time: the data is in the log
    /// although the answer is an error. InitProducerId and the transaction
    /// APIs take effect (an id handed out, a transaction ended and its
    /// markers written) and are answered with the code, as when a
    /// coordinator's answer is lost; other APIs are answered normally.
    pub fn push_errors_after_processing(&self, api_key: i16, errors: &[KafkaCode]) {
        self.shared.state.lock().inject(api_key, errors.iter().map(|c| Injection::ErrorAfterProcessing(*c)));
    }

    /// Makes the next request of `api_key`, on any broker, lose its
    /// connection, before or after being processed (see [`DropPoint`]).
    pub fn drop_connection(&self, api_key: i16, when: DropPoint) {
        self.shared.state.lock().inject(api_key, [Injection::Drop(when)]);
    }

    /// Makes the next request of `api_key`, on any broker, never be answered,
    /// processed or not (see [`DropPoint`]). The connection stays open but
    /// answers nothing more (later requests on it are read and discarded),
    /// like a hung broker, until the client closes it or the broker goes
    /// down: a client's request timeout must fire.
    pub fn stall(&self, api_key: i16, when: DropPoint) {
        self.shared.state.lock().inject(api_key, [Injection::Stall(when)]);
    }

    /// Makes the next request of `api_key`, on any broker, be processed at
    /// once but answered after `delay` (plus the broker's response delay).
    pub fn delay_next(&self, api_key: i16, delay: Duration) {
        self.shared.state.lock().inject(api_key, [Injection::Delay(delay)]);
    }

    /// Makes the next request of `api_key`, on any broker, be processed and
    /// then answered with a response broken as `how` says.
    pub fn send_malformed_response(&self, api_key: i16, how: Malformation) {
        self.shared.state.lock().inject(api_key, [Injection::Malformed(how)]);
    }

    /// Faults queued for `api_key` and not yet used.
    pub fn pending_faults(&self, api_key: i16) -> usize {
        self.shared.state.lock().pending_injections(api_key)
    }

    /// Forgets every queued fault (errors, drops, stalls, delays, malformed
    /// responses) of every API. Broker delays and brokers that are down stay.
    pub fn clear_faults(&self) {
        self.shared.state.lock().clear_injections();
    }

    /// Delays every response of broker `id` by `delay` (the request is still
    /// processed at once); `Duration::ZERO` turns it off. A very long delay
    /// makes a broker that never answers. A delay is cut short when the
    /// connection closes.
    pub fn set_response_delay(&self, id: i32, delay: Duration) -> Result<(), MockError> {
        self.slot(id)?;
        let mut st = self.shared.state.lock();
        if let Some(b) = st.brokers.iter_mut().find(|b| b.id == id) {
            b.response_delay = delay;
        }
        Ok(())
    }

    /// Takes broker `id` down, like a crash: closes its listener (new
    /// connections are refused) and every connection to it. Requests it was
    /// processing may still be appended. Metadata from other brokers still
    /// lists it and its partitions keep it as leader until
    /// [`move_leader`](Self::move_leader) moves them.
    pub fn broker_down(&self, id: i32) -> Result<(), MockError> {
        let idx = self.slot(id)?;
        server::stop_listener(&self.shared, idx);
        self.shared.close_connections(Some(id));
        Ok(())
    }

    /// Brings broker `id` back up on the same address. Does nothing if it is
    /// up. Fails with [`MockError::Io`] if the port cannot be bound again
    /// (another process took it meanwhile) or the cluster was shut down.
    pub fn broker_up(&self, id: i32) -> Result<(), MockError> {
        let idx = self.slot(id)?;
        let slot = &self.shared.brokers[idx];
        if slot.is_listening() {
            return Ok(());
        }
        if self.shared.stopping() {
            return Err(MockError::Io(io::Error::new(
                io::ErrorKind::NotConnected,
                "the mock cluster is shut down",
            )));
        }
        let listener = TcpListener::bind(slot.addr()).map_err(MockError::Io)?;
        server::start_listener(&self.shared, idx, listener).map_err(MockError::Io)
    }

    /// Restarts broker `id` on a new port of `127.0.0.1`, as a broker that
    /// came back on another address: its connections close, the old port is
    /// released, and Metadata answers advertise the new port from now on.
    /// Returns the new address.
    pub fn move_broker(&self, id: i32) -> Result<SocketAddr, MockError> {
        let idx = self.slot(id)?;
        server::stop_listener(&self.shared, idx);
        self.shared.close_connections(Some(id));
        if self.shared.stopping() {
            return Err(MockError::Io(io::Error::new(
                io::ErrorKind::NotConnected,
                "the mock cluster is shut down",
            )));
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(MockError::Io)?;
        let addr = listener.local_addr().map_err(MockError::Io)?;
        self.shared.brokers[idx].set_addr(addr);
        self.shared.state.lock().set_broker_port(id, addr.port());
        server::start_listener(&self.shared, idx, listener).map_err(MockError::Io)?;
        Ok(addr)
    }

    /// Whether broker `id` is up (accepting connections).
    pub fn is_broker_up(&self, id: i32) -> bool {
        self.slot(id).is_ok_and(|i| self.shared.brokers[i].is_listening())
    }

    // ---- observing -------------------------------------------------------

    /// How many requests of `api_key` the brokers received (and decoded)
    /// since the start or the last [`clear_request_log`](Self::clear_request_log),
    /// including those answered with an injected fault.
    pub fn request_count(&self, api_key: i16) -> usize {
        self.shared.state.lock().request_count(api_key)
    }

    /// The requests the brokers received, oldest first (the last 100000).
    pub fn requests(&self) -> Vec<RequestLogEntry> {
        self.shared.state.lock().request_log()
    }

    /// Empties the request log and resets the counts.
    pub fn clear_request_log(&self) {
        self.shared.state.lock().clear_request_log();
    }

    /// How many client connections broker `id` has open.
    pub fn connection_count(&self, id: i32) -> usize {
        self.shared.connection_count(id)
    }

    // ---- stopping --------------------------------------------------------

    /// Stops the cluster: closes every listener and connection and joins
    /// every thread. Idempotent; dropping the cluster does it too. Afterwards
    /// the brokers stay down ([`broker_up`](Self::broker_up) fails) and the
    /// topics and records can still be read.
    pub fn shutdown(&self) {
        server::shutdown(&self.shared);
    }
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests;
