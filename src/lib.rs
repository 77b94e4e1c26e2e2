//! kafka-sync: a synchronous, thread-based Apache Kafka producer.
//!
//! For Rust programs without an async runtime (thread-based services, batch
//! jobs, command-line tools) that must write to Kafka: no async, no C
//! library, and a public, fuzzable wire codec ([`protocol`]).
//!
//! # Quick start
//!
//! ```no_run
//! use std::time::Duration;
//! use kafka_sync::{Producer, ProducerConfig, Record};
//!
//! let config = ProducerConfig::builder()
//!     .bootstrap_servers("127.0.0.1:9092")
//!     .set("linger.ms", "10") // Java / librdkafka property names work too
//!     .build()?;
//! let producer = Producer::new(config)?;
//!
//! let handle = producer.send(Record::new("orders").key("customer-42").value("{\"total\": 10}"))?;
//! let meta = handle.wait()?; // blocks until the broker acknowledged the record
//! println!("written to {}-{} at offset {:?}", meta.topic(), meta.partition(), meta.offset());
//!
//! producer.close(Duration::from_secs(10))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Threading model
//!
//! [`Producer`] is `Send + Sync`: share it by reference or in an `Arc` with
//! as many threads as you like. Behind it run:
//!
//! - **one I/O thread per broker** (`kafka-sync-broker-<id>`), started when a
//!   partition that broker leads first gets data. It owns its TCP connection,
//!   does blocking writes and reads, pipelines up to
//!   `max.in.flight.requests.per.connection` requests, and completes, retries
//!   or fails each batch. Idle, it sleeps on a condvar: no CPU.
//! - **one metadata thread** (`kafka-sync-metadata`): finds leaders and
//!   partition counts, refreshes them when they move, and obtains the
//!   idempotent producer id.
//!
//! [`Producer::send`] encodes the record once, straight into its partition's
//! open batch in a lock-striped accumulator (threads sending to partitions in
//! different stripes never contend), and returns a [`DeliveryHandle`]. All
//! records of a batch share one completion slot; resolving a batch is one
//! store and one wake-up.
//!
//! # Delivery semantics
//!
//! Every accepted record's handle resolves **exactly once**, on every path
//! (success, broker error, timeout, close), to one of:
//!
//! - **persisted**: `Ok(RecordMetadata)` with partition and offset (the offset
//!   is `None` with `acks=0`);
//! - **not persisted**: `Err(e)` with `e.persistence() == NotPersisted`: the
//!   record is certainly not in the log (never sent, or rejected);
//! - **possibly persisted**: `Err(e)` with `PossiblyPersisted`: it was sent and
//!   no answer said what happened (a timeout or a lost connection), or an
//!   answer said the leader had appended it before failing
//!   (`NOT_ENOUGH_REPLICAS_AFTER_APPEND`, `REQUEST_TIMED_OUT`,
//!   `KAFKA_STORAGE_ERROR`, `UNKNOWN_SERVER_ERROR`, and `NOT_LEADER_OR_FOLLOWER`
//!   with `acks=all`). Once a batch may be in the log it stays "possibly
//!   persisted" whatever later attempts say, and keeps its producer id and
//!   sequence for good, so the broker can recognise a resend as a duplicate.
//!
//! Every handle resolves at the latest `delivery.timeout.ms` after `send`, or
//! when [`Producer::close`] returns. A record queued for a partition that no
//! longer exists (its topic was recreated with fewer partitions) fails at
//! once with `UNKNOWN_TOPIC_OR_PARTITION` and a message naming the partition.
//!
//! **Flush, close, drop.** As in the Java client, callbacks run before
//! waiters are released: when [`Producer::flush`] returns, the callbacks of
//! every record sent before it have completed; the same holds for `close`
//! and for [`DeliveryHandle::wait`]. A `send` racing `close` either fails
//! with `Closed` or returns a handle that `close` resolves. Dropping the
//! producer closes it (30 s). `close` (or dropping the last `Producer`) on
//! one of the producer's own threads, i.e. inside a callback, closes with a
//! zero timeout instead of waiting for itself: every other thread is joined,
//! every handle still resolves, and the calling thread exits once the
//! callback returns.
//!
//! ```no_run
//! # use kafka_sync::{Producer, ProducerConfig, Record, Persistence};
//! # let producer = Producer::new(ProducerConfig::builder().bootstrap_servers("127.0.0.1:9092").build()?)?;
//! match producer.send(Record::new("t").value("v"))?.wait() {
//!     Ok(m) => println!("offset {:?}", m.offset()),
//!     Err(e) if e.persistence() == Persistence::PossiblyPersisted => println!("unknown: {e}"),
//!     Err(e) => println!("not written: {e}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Ordering.** Records sent to one partition are written in send order.
//! With idempotence (on by default, as in the Java client since 3.0) this
//! holds through retries and leader moves, and a retry never duplicates a
//! record. Without idempotence and with more than one request in flight, a
//! retried batch can land after a later one: set
//! `max.in.flight.requests.per.connection=1` if order matters more than
//! throughput.
//!
//! **Idempotence policy.** `DUPLICATE_SEQUENCE_NUMBER` counts as success. An
//! `OUT_OF_ORDER_SEQUENCE_NUMBER` behind an earlier failed batch is retried
//! in order. At the head of the line, and on `UNKNOWN_PRODUCER_ID`, the
//! producer obtains a new producer id and restarts its sequences (the Java
//! client bumps the epoch instead; not every broker accepts that); batches
//! that might already be in the log are then failed as *possibly persisted*
//! rather than resent, so nothing is ever duplicated.
//!
//! # Batching and the fast path
//!
//! Records of a partition collect in its open batch until `linger.ms`
//! passes or the batch is full. With `batch.size` unset, "full" means
//! [`DEFAULT_MAX_BATCH_SIZE`] (1,000,000 bytes, librdkafka's default): at
//! high rates batches grow large and the broker handles few requests, at low
//! rates they stay small; their buffers grow on demand, so a partition that
//! receives little reserves little. Set `batch.size` for Java's meaning, a
//! hard upper bound (the sticky partitioner switches partition after it
//! either way, 16384 bytes by default).
//!
//! [`Producer::send_ref`] and [`Producer::send_ref_with_callback`] take a
//! [`RecordRef`] whose bytes are borrowed (copied into the batch at once);
//! with a callback that captures nothing, or only `'static` references, a
//! send allocates nothing:
//!
//! ```no_run
//! # use kafka_sync::{Producer, ProducerConfig, RecordRef, RecordMetadata, DeliveryError};
//! use std::io::Write;
//! # let producer = Producer::new(ProducerConfig::builder().bootstrap_servers("127.0.0.1:9092").build()?)?;
//! fn delivered(r: Result<RecordMetadata, DeliveryError>) {
//!     if let Err(e) = r {
//!         eprintln!("not delivered: {e}");
//!     }
//! }
//! let mut line = Vec::new();
//! for i in 0..1_000_000u32 {
//!     line.clear();
//!     write!(line, "event {i}")?; // a reused buffer
//!     producer.send_ref_with_callback(RecordRef::new("events").value(&line), delivered)?;
//! }
//! producer.flush()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Blocking
//!
//! [`Producer::send`] blocks at most `max.block.ms` (default 60 s): while the
//! topic's metadata is unknown, or while `buffer.memory` is full (a hard
//! bound on queued bytes). [`Producer::try_send`] never blocks;
//! [`Producer::send_timeout`] takes its own limit. A [`DeliveryHandle`] can be
//! waited on ([`wait`](DeliveryHandle::wait),
//! [`wait_timeout`](DeliveryHandle::wait_timeout)), polled
//! ([`try_result`](DeliveryHandle::try_result)), or `.await`ed (it implements
//! `Future`, with no runtime dependency).
//!
//! # Errors
//!
//! - [`SendError`]: `send` refused the record (unknown topic, partition out of
//!   range, record too large, buffer full, producer closed); it hands the
//!   record back with [`SendError::into_record`].
//! - [`DeliveryError`]: an accepted record was not delivered. Cheap to clone,
//!   carries the Kafka error code ([`KafkaCode`]) and the persistence.
//! - [`ConfigError`]: a bad setting, naming the key.
//! - [`Error`]: `flush`, `close`, `partitions_for`.
//! - [`TransactionError`]: the transactional calls, by KIP-1050 class
//!   (timeout: call again; abortable: abort the transaction; fatal: close).
//!
//! # Transactions
//!
//! With `transactional.id` set, [`Producer::init_transactions`] once, then
//! [`begin_transaction`](Producer::begin_transaction), sends (and
//! [`send_offsets_to_transaction`](Producer::send_offsets_to_transaction)),
//! [`commit_transaction`](Producer::commit_transaction) or
//! [`abort_transaction`](Producer::abort_transaction): consumers reading with
//! `isolation.level=read_committed` see all of a transaction or none of it.
//! Transactions v2 (KIP-890) is used when the brokers offer it. See
//! [`transaction`] for the states, the error classes and what exactly-once
//! does and does not cover, and `examples/transactions.rs`.
//!
//! # Spool
//!
//! With `spool.dir` ([`ProducerConfigBuilder::spool_dir`]), every record
//! `send` accepts is written to disk before `send` returns and kept until
//! its outcome is final; records wait for the brokers instead of failing at
//! `delivery.timeout.ms`; and a producer started on the directory after a
//! crash resends what is pending, the batches a broker may already have
//! under the same producer id and sequence numbers, so they are written
//! once. They are read back from the spool as `buffer.memory` allows, so a
//! large spool is never loaded at once; their outcomes go to
//! [`ProducerConfigBuilder::on_replayed`].
//! `spool.fsync` ([`SpoolFsync`]) says what survives a machine crash.
//! With the `spool-mmap` feature (Linux), records are copied into a memory
//! mapping of the spool's segment file instead of written with a system
//! call each: about 2.5x the throughput with the spool on (the README's
//! spool benchmark). The spool's directory must then not be truncated by
//! other programs while a producer uses it: a segment cut under its mapping
//! kills the producer with `SIGBUS`.
//!
//! # Logging
//!
//! Through the `log` crate: connections, metadata changes and producer ids at
//! info/debug, retries at debug, failures at warn/error; never a line per
//! record above trace.
//!
//! # Metrics
//!
//! [`Producer::metrics`] returns a [`ProducerMetrics`] snapshot: this
//! crate's own counters and percentiles, and the Java producer's metrics
//! under their Kafka groups, names and tags, computed as Java computes them
//! (windowed rates, averages and maxima over `metrics.num.samples` windows
//! of `metrics.sample.window.ms`): per producer (`record-send-rate`,
//! `record-error-total`, `request-latency-avg`, `buffer-available-bytes`,
//! `produce-throttle-time-max`, ...), per topic (`byte-rate`,
//! `record-send-total`, `compression-rate`, ...) and per broker
//! (`request-latency-avg`, `request-total`, ...). The snapshot renders as
//! Prometheus text with the JMX exporter's names, and a statistics callback
//! (`statistics.interval.ms`, librdkafka's name) receives one periodically
//! on a thread of its own. The [`metrics`] module lists every name.
//!
//! ```no_run
//! # use kafka_sync::{Producer, ProducerConfig};
//! # let producer = Producer::new(ProducerConfig::builder().bootstrap_servers("127.0.0.1:9092").build()?)?;
//! let m = producer.metrics();
//! let rate = m.kafka_metric("record-send-rate");
//! let orders = m.topic_metric("orders", "byte-total");
//! let scrape: String = m.to_prometheus(); // kafka_producer_producer_metrics_record_send_rate{client_id="..."} ...
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The protocol codec
//!
//! [`protocol`] is public: primitives, headers, frames, ApiVersions,
//! Metadata, Produce, InitProducerId, CreateTopics, DeleteTopics,
//! SaslHandshake and SaslAuthenticate requests and responses (encode and
//! decode, both directions), record batch v2 and
//! its compression codecs. Decoders never panic and never allocate more than
//! the input justifies; feature `proptest` exports strategies for every type.
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `lz4` | LZ4 compression (pure-Rust `lz4_flex`) |
//! | `zstd` | zstd compression (`zstd`, the reference C library) |
//! | `proptest` | `protocol::strategies`: proptest strategies for every wire type |
//! | `mock` | `mock::MockCluster`: an in-process Kafka cluster with fault injection |
//! | `cli` | the `kafka-sync` command-line tool (implies `mock`; adds `clap`, which needs Rust 1.85) |
//! | `spool-mmap` | spool segments written through a memory mapping (`memmap2`; Linux; one function of `unsafe` code) |
//!
//! # Command line
//!
//! `cargo install kafka-sync --features cli` installs `kafka-sync`, a tool in
//! the manner of kcat and Kafka's own scripts:
//!
//! ```text
//! kafka-sync produce -b HOST:PORT -t TOPIC [-K SEP] [-H NAME=VALUE]... [-p N] [-z CODEC] [-X KEY=VALUE]... [FILE]...
//! kafka-sync perf -b HOST:PORT -t TOPIC --num-records N --record-size S [--throughput R] [-X KEY=VALUE]...
//! kafka-sync topic create NAME [--partitions P] [--replication R] | topic list | topic delete NAME
//! ```
//!
//! `produce` sends one record per input line and exits with 1 if any
//! failed; `perf` prints what `kafka-producer-perf-test` prints. Without
//! `-b` they run against an embedded mock cluster, so
//! `kafka-sync perf -t test --num-records 1000000 --record-size 100` works on
//! a machine with no broker. `examples/quickstart.rs` is the smallest
//! program to copy (`cargo run --example quickstart --features mock`).

// `unsafe` code is denied everywhere but in two places, each with its
// measured reason: reading the CPU's time-stamp counter (src/engine/clock.rs: the
// one clock read per record, 10 ns instead of 37), and, with the
// `spool-mmap` feature, mapping a spool segment into memory
// (src/engine/spool/mapped.rs).
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod admin;
pub mod config;
mod delivery;
mod engine;
mod error;
pub mod interceptor;
pub mod metrics;
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub mod mock;
pub mod partitioner;
mod producer;
pub mod protocol;
mod record;
pub mod transaction;

pub use config::{
    Acks, ConfigError, OAuthBearerToken, OAuthBearerTokenProvider, ProducerConfig, ProducerConfigBuilder,
    SaslMechanism, SecurityProtocol, SpoolFsync, DEFAULT_MAX_BATCH_SIZE,
};
pub use delivery::{Callback, DeliveryHandle};
pub use engine::spool::replay::Replayed;
pub use error::{DeliveryError, DeliveryErrorKind, Error, KafkaCode, Persistence, SendError, SendErrorKind};
pub use metrics::{KafkaMetric, ProducerMetrics};
pub use partitioner::{Partitioner, Partitions};
pub use producer::{PartitionInfo, Producer, DROP_CLOSE_TIMEOUT};
pub use record::{Header, Record, RecordMetadata, RecordRef, Serializer};
pub use transaction::{ConsumerGroupMetadata, OffsetAndMetadata, TransactionError, TransactionErrorClass};
