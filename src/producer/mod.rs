//! [`Producer`]: send records, flush, close, inspect.
//!
//! A record's way: [`Producer::send`] looks its topic up in the metadata
//! view (waiting for it if needed), picks the partition (the record's own,
//! or the partitioner's), reserves its size in `buffer.memory`, and appends
//! it to the partition's open batch in the accumulator; the partition
//! leader's broker thread takes it from there (see `engine`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::{Acks, ProducerConfig};
use crate::delivery::Resolution;
use crate::engine::accumulator::Accumulator;
use crate::engine::broker::{self, Brokers};
use crate::engine::connection::SocketRegistry;
use crate::engine::idempotence::Idempotence;
use crate::engine::metadata::{self, Metadata};
use crate::engine::metrics::statistics::Statistics;
use crate::engine::metrics::{self as engine_metrics, MetricConfig, Metrics};
use crate::engine::spool::replay;
use crate::engine::spool::{self, Spool};
use crate::engine::txn::{coordinator, Transactions};
use crate::engine::{EngineConfig, RunState, Shared, SharedState};
use crate::error::{DeliveryError, DeliveryErrorKind, Error, Persistence};
use crate::metrics::ProducerMetrics;
use crate::partitioner::Placer;

mod send;

/// The delivery deadline of a spooled record's batch: none in practice (ten
/// years). With a spool, records wait for the brokers instead of failing at
/// `delivery.timeout.ms`.
const SPOOLED_DEADLINE: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// How long `Drop` lets a producer drain before it fails what is left.
pub const DROP_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// One partition of a topic, as [`Producer::partitions_for`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition index.
    pub partition: i32,
    /// The leader's broker id, or `None` while the partition has no leader.
    pub leader: Option<i32>,
}

/// A Kafka producer: thread-safe (`Send + Sync`), shared by reference or
/// in an `Arc` by as many threads as you like.
///
/// See the crate documentation for the threading model and delivery
/// semantics.
#[derive(Debug)]
pub struct Producer {
    pub(crate) shared: SharedState,
    pub(super) placer: Placer,
    pub(super) interceptors: crate::interceptor::Interceptors,
    pub(super) metadata_thread: Mutex<Option<JoinHandle<()>>>,
    /// The transaction coordinator thread (transactional producers only).
    pub(super) coordinator_thread: Mutex<Option<JoinHandle<()>>>,
    /// The `statistics.interval.ms` thread, if it runs.
    pub(super) statistics: Option<Statistics>,
    /// The spool's feeder thread (with `spool.dir`) and its stop flag.
    pub(super) feeder: Mutex<Option<JoinHandle<()>>>,
    pub(super) feeder_stop: Arc<AtomicBool>,
    pub(super) closed: AtomicBool,
    pub(super) close_lock: Mutex<()>,
}

impl Producer {
    /// Starts a producer: validates nothing more (the config is already
    /// valid), starts the metadata thread, and returns at once. Connections
    /// are made in the background; broker threads start when a partition
    /// they lead first gets data.
    pub fn new(config: ProducerConfig) -> Result<Self, Error> {
        check_bootstrap_resolves(config.bootstrap_servers())?;
        let cfg = EngineConfig::from_config(&config);
        let metrics = Metrics::new(cfg.metrics);
        let spool = match config.spool_dir() {
            Some(dir) => Some(
                Spool::open(dir, config.spool_fsync(), config.spool_max_bytes())
                    .map_err(|e| Error::Spool(e.to_string()))?,
            ),
            None => None,
        };
        let recovered = spool.as_ref().and_then(Spool::take_recovered);
        // With a spool, records waiting for a broker do not fail at
        // delivery.timeout.ms: they wait (on disk) until delivered.
        let batch_deadline = if spool.is_some() { SPOOLED_DEADLINE } else { cfg.delivery_timeout };
        let shared = Arc::new(Shared {
            acc: Accumulator::new(cfg.batch_size, cfg.buffer_memory, batch_deadline)
                .with_topic_metrics(metrics.topics().clone()),
            meta: Metadata::new(),
            idem: if config.transactional_id().is_some() {
                Idempotence::transactional()
            } else {
                Idempotence::new(cfg.idempotence)
            },
            brokers: Brokers::default(),
            metrics,
            txn: config
                .transactional_id()
                .map(|id| Transactions::new(id.to_owned(), config.transaction_timeout())),
            spool,
            run: RunState::default(),
            sockets: Arc::new(SocketRegistry::default()),
            cfg,
        });
        if let Some(rec) = recovered {
            // Before the metadata thread can ask for a new producer id. (What
            // the previous run left goes first, before any new record: the
            // feeder replays it, and records sent meanwhile are spilled
            // behind it.)
            replay::resume_producer(&shared, &rec);
        }
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name("kafka-sync-metadata".into())
            .spawn(move || metadata::run(s))
            .map_err(Error::Io)?;
        if shared.cfg.idempotence {
            shared.meta.poke();
        }
        let coordinator_thread = match shared.txn {
            Some(_) => {
                let s = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("kafka-sync-txn".into())
                    .spawn(move || coordinator::run(s));
                match spawned {
                    Ok(h) => Some(h),
                    Err(e) => {
                        // Stop the metadata thread before giving up.
                        shared.run.begin_close();
                        shared.run.abort();
                        shared.meta.stop();
                        let _ = handle.join();
                        return Err(Error::Io(e));
                    }
                }
            }
            None => None,
        };
        let statistics = Statistics::start_for(&shared, &config);
        let feeder_stop = Arc::new(AtomicBool::new(false));
        let feeder = match &shared.spool {
            Some(_) => {
                let (s, p, stop) = (shared.clone(), config.partitioner().clone(), feeder_stop.clone());
                let on_replayed = config.on_replayed().cloned();
                let spawned = std::thread::Builder::new()
                    .name("kafka-sync-spool-feeder".into())
                    .spawn(move || spool::feeder::run(s, p, on_replayed, || stop.load(Ordering::Acquire)));
                match spawned {
                    Ok(h) => Some(h),
                    Err(e) => {
                        log::error!("could not start the spool's feeder thread: {e}; what the previous run left, and records that do not fit in buffer.memory, stay in the spool");
                        None
                    }
                }
            }
            None => None,
        };
        Ok(Self {
            feeder: Mutex::new(feeder),
            feeder_stop,
            placer: config.placer().clone(),
            interceptors: config.interceptors().clone(),
            shared,
            metadata_thread: Mutex::new(Some(handle)),
            coordinator_thread: Mutex::new(coordinator_thread),
            statistics,
            closed: AtomicBool::new(false),
            close_lock: Mutex::new(()),
        })
    }

    /// Sends every queued record now, without waiting for `linger.ms`, and
    /// blocks until every record sent before the call has its outcome.
    /// Without a spool it waits at most `delivery.timeout.ms` (plus a
    /// little): every record is resolved by then. With `spool.dir`, records
    /// wait out an outage instead of failing at `delivery.timeout.ms`, and
    /// `flush` waits for them as long as that takes, as the Java client's
    /// `flush` waits for its records ([`flush_timeout`](Self::flush_timeout)
    /// bounds it).
    pub fn flush(&self) -> Result<(), Error> {
        if self.shared.spool.is_some() {
            return self.flush_timeout(Duration::MAX);
        }
        self.flush_timeout(self.shared.cfg.delivery_timeout + Duration::from_secs(1))
    }

    /// Like [`flush`](Self::flush), giving up after `timeout` with
    /// [`Error::Timeout`] (the records keep going).
    pub fn flush_timeout(&self, timeout: Duration) -> Result<(), Error> {
        if self.flush_until(deadline_after(timeout)) {
            Ok(())
        } else {
            Err(Error::Timeout)
        }
    }

    /// The flush behind `flush_timeout`: whether every record sent before
    /// the call had its outcome by `deadline`.
    pub(crate) fn flush_until(&self, deadline: Instant) -> bool {
        let shared = &self.shared;
        // Spilled records first: every one sent before the call must be in a
        // batch before the batches are waited for.
        if let Some(sp) = &shared.spool {
            if let Some(last) = sp.last_id() {
                if !sp.wait_fed(last, Some(deadline)) {
                    return false;
                }
            }
        }
        shared.acc.set_flushing(true);
        shared.brokers.wake_all();
        shared.meta.poke();
        let mut ok = true;
        for slot in shared.acc.incomplete() {
            if !slot.wait_done(Some(deadline)) {
                ok = false;
                break;
            }
        }
        shared.acc.set_flushing(false);
        ok
    }

    /// Stops accepting records, sends everything queued, waits for the
    /// outcomes, and joins the producer's threads. Records whose outcome is
    /// not known within `timeout` fail with
    /// [`DeliveryErrorKind::Closed`] (*possibly persisted* if they were
    /// sent), and `close` returns [`Error::Timeout`]; either way every handle
    /// is resolved and every thread joined when it returns. Calling it again
    /// does nothing.
    ///
    /// Called on one of the producer's own threads (from a delivery
    /// callback, or by dropping the last `Producer` there), `close` cannot
    /// wait for that thread: like Java's `close` from its I/O thread, it
    /// closes with a zero timeout, joins every other thread, and the calling
    /// thread resolves what it still holds and exits once the callback
    /// returns.
    pub fn close(&self, timeout: Duration) -> Result<(), Error> {
        let _g = self.close_lock.lock();
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let shared = &self.shared;
        let own_thread = shared.on_engine_thread();
        let timeout = if own_thread {
            log::warn!(
                "close called on the producer's own I/O thread (in a delivery callback): \
                 closing without waiting for records in flight"
            );
            Duration::ZERO
        } else {
            timeout
        };
        let deadline = deadline_after(timeout);
        if let Some(t) = &shared.txn {
            // As Java's Sender does on a graceful close: an open
            // transaction is aborted rather than left to time out.
            t.abort_on_close(shared, deadline, |d| self.flush_until(d));
        }
        shared.run.begin_close();
        let mut drained = true;
        if let Some(sp) = &shared.spool {
            // No more records; those spilled are fed while `timeout` lasts
            // (the rest stay in the spool for the next run).
            sp.close_intake();
            if !sp.wait_fed(u64::MAX, Some(deadline)) {
                drained = false;
                log::warn!(
                    "closing with {} spilled record(s) not yet sent: they stay in the spool",
                    sp.backlog()
                );
            }
            self.stop_feeder();
        }
        // No record joins a queue from here on, and every append already in
        // progress has finished: whatever was accepted is in the set waited
        // on below. A `send` racing this fails with `Closed`. Senders blocked
        // for memory or metadata give up now.
        shared.acc.close_intake();
        shared.acc.pool.wake_waiters();
        shared.meta.begin_close();
        shared.brokers.wake_all();
        shared.meta.poke();
        for slot in shared.acc.incomplete() {
            if !slot.wait_done(Some(deadline)) {
                drained = false;
                break;
            }
        }
        // KIP-714: the last metrics, pushed before the sockets close.
        if shared.cfg.enable_metrics_push && !own_thread {
            shared.meta.terminate_telemetry(deadline.min(Instant::now() + shared.cfg.request_timeout));
        }
        // Stop the threads: they fail whatever is still theirs and exit.
        shared.run.abort();
        shared.sockets.shutdown_all();
        shared.brokers.wake_all();
        shared.meta.stop();
        if let Some(t) = &shared.txn {
            t.poke();
        }
        shared.brokers.join_all();
        if let Some(h) = self.coordinator_thread.lock().take() {
            if h.thread().id() != std::thread::current().id() && h.join().is_err() {
                log::error!("the transaction coordinator thread panicked");
            }
        }
        if let Some(h) = self.metadata_thread.lock().take() {
            if h.thread().id() != std::thread::current().id() && h.join().is_err() {
                log::error!("the metadata thread panicked");
            }
        }
        if let Some(s) = &self.statistics {
            s.stop();
        }
        // Records of partitions no broker thread looked after.
        let mut left = Vec::new();
        shared.acc.take_all(&mut left);
        let why = broker::closed_message(shared, "producer closed before the batch was sent");
        for b in left {
            broker::fail_queued(shared, b, DeliveryErrorKind::Closed, &why);
        }
        if let Some(sp) = &shared.spool {
            // Spilled records never fed: their handles say so; they stay in
            // the spool.
            let why = broker::closed_message(shared, "producer closed before the spilled record was sent");
            for slot in sp.registry.take_all() {
                let e = DeliveryError::new(DeliveryErrorKind::Closed, Persistence::NotPersisted, why.clone());
                slot.resolve_with(Resolution::Failed(e), Vec::new());
            }
            sp.close();
        }
        // (On an engine thread, that thread still resolves what it holds.)
        debug_assert!(own_thread || shared.acc.incomplete_len() == 0, "close left a handle unresolved");
        if drained {
            Ok(())
        } else {
            Err(Error::Timeout)
        }
    }

    /// Stops the spool's feeder thread and joins it.
    fn stop_feeder(&self) {
        self.feeder_stop.store(true, Ordering::Release);
        if let Some(sp) = &self.shared.spool {
            sp.poke();
        }
        self.shared.acc.pool.wake_waiters();
        if let Some(h) = self.feeder.lock().take() {
            if h.thread().id() != std::thread::current().id() && h.join().is_err() {
                log::error!("the spool's feeder thread panicked");
            }
        }
    }

    /// The partitions of `topic` and their leaders, waiting at most
    /// `max.block.ms` for the topic's metadata.
    pub fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionInfo>, Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let t = self.shared.meta.wait_topic(topic, Some(deadline_after(self.shared.cfg.max_block))).map_err(
            |_| match self.shared.meta.security_failure() {
                Some(e) => Error::Authentication(e),
                None => Error::UnknownTopic(topic.to_owned()),
            },
        )?;
        Ok(t.partitions
            .iter()
            .enumerate()
            .map(|(i, p)| PartitionInfo { partition: i as i32, leader: (p.leader >= 0).then_some(p.leader) })
            .collect())
    }

    /// A snapshot of the producer's metrics: this crate's figures, and the
    /// Java client's per producer, topic and broker (see [`crate::metrics`]).
    pub fn metrics(&self) -> ProducerMetrics {
        engine_metrics::snapshot(&self.shared)
    }

    /// Bytes the spool takes on disk (`None` without `spool.dir`): records
    /// not yet delivered, and segments not yet given back.
    pub fn spool_disk_bytes(&self) -> Option<u64> {
        self.shared.spool.as_ref().map(Spool::disk_bytes)
    }

    /// Records `send` spilled to the spool (`buffer.memory` was full) that
    /// are not yet in a batch (`None` without `spool.dir`). While it is above
    /// zero, every new record is spilled too, so each partition keeps send
    /// order.
    pub fn spool_backlog(&self) -> Option<u64> {
        self.shared.spool.as_ref().map(Spool::backlog)
    }

    /// The spool's mark (`None` without `spool.dir`): what the caller last
    /// gave [`set_spool_mark`](Self::set_spool_mark), and right after
    /// [`Producer::new`] the mark of the last record the previous run's
    /// spool took (0 if it never had one).
    ///
    /// A mark is how a program that feeds the producer from its own input
    /// resumes after a crash without sending anything twice: before each
    /// record it sets the mark to its position in the input (e.g. lines
    /// taken, counting this one); the mark is written **in the record's
    /// spool entry**, so a restarted run learns exactly how far the spool
    /// got, replays what it holds, and goes on from there. `kafka-sync
    /// produce --spool` does this.
    pub fn spool_mark(&self) -> Option<u64> {
        self.shared.spool.as_ref().map(Spool::mark)
    }

    /// Sets the spool's mark (see [`spool_mark`](Self::spool_mark)): the
    /// records `send` accepts from now on carry it, written with the first
    /// of them. A record `send` refuses does not write it; a mark no record
    /// carried is written by [`close`](Self::close) (so setting 0 before
    /// closing clears it, e.g. when the input is done). Does nothing
    /// without `spool.dir`. Meant for one sending thread: with several, a
    /// record carries whichever mark was set last when the spool took it.
    pub fn set_spool_mark(&self, mark: u64) {
        if let Some(sp) = &self.shared.spool {
            sp.set_mark(mark);
        }
    }

    /// The producer's `transactional.id`, if it is transactional.
    pub fn transactional_id(&self) -> Option<&str> {
        self.shared.txn.as_ref().map(|t| t.id.as_str())
    }

    /// Number of broker I/O threads started so far.
    pub fn broker_threads(&self) -> usize {
        self.shared.brokers.len()
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Acquire) {
            if let Err(e) = self.close(DROP_CLOSE_TIMEOUT) {
                log::warn!("closing the producer on drop: {e}");
            }
        }
    }
}

/// Fails when no `bootstrap.servers` entry resolves to an address, as Java's
/// "No resolvable bootstrap urls" does: a typo in the host name is reported
/// at once instead of as lookup failures until `max.block.ms`.
fn check_bootstrap_resolves(servers: &[(String, u16)]) -> Result<(), Error> {
    use std::net::ToSocketAddrs;
    let mut why = Vec::new();
    for (host, port) in servers {
        match (host.as_str(), *port).to_socket_addrs() {
            Ok(mut addrs) => {
                if addrs.next().is_some() {
                    return Ok(());
                }
                why.push(format!("{host}:{port}: no address"));
            }
            Err(e) => why.push(format!("{host}:{port}: {e}")),
        }
    }
    Err(Error::Config(crate::config::ConfigError::Unusable {
        key: "bootstrap.servers".into(),
        reason: format!("no resolvable bootstrap address ({})", why.join("; ")),
    }))
}

/// `now + d`, saturating far in the future for huge durations (Java users
/// write `Long.MAX_VALUE` milliseconds).
pub(super) fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

impl EngineConfig {
    /// Resolves the settings the engine needs.
    pub(crate) fn from_config(c: &ProducerConfig) -> Self {
        Self {
            bootstrap: c.bootstrap_servers().to_vec(),
            client_id: c.client_id().to_owned(),
            acks: match c.acks() {
                Acks::None => 0,
                Acks::Leader => 1,
                Acks::All => -1,
            },
            idempotence: c.enable_idempotence(),
            linger: c.linger(),
            batch_size: c.max_batch_size(),
            buffer_memory: c.buffer_memory(),
            max_block: c.max_block(),
            max_in_flight: c.max_in_flight(),
            retries: c.retries(),
            retry_backoff: c.retry_backoff(),
            retry_backoff_max: c.retry_backoff_max(),
            delivery_timeout: c.delivery_timeout(),
            request_timeout: c.request_timeout(),
            compression: c.compression(),
            compression_level: c.compression_level(),
            max_request_size: c.max_request_size(),
            metadata_max_age: c.metadata_max_age(),
            metadata_max_idle: c.metadata_max_idle(),
            rebootstrap: c.metadata_recovery_rebootstrap(),
            rebootstrap_trigger: c.metadata_recovery_rebootstrap_trigger(),
            allow_auto_create_topics: c.allow_auto_create_topics(),
            enable_metrics_push: c.enable_metrics_push(),
            connections_max_idle: c.connections_max_idle(),
            reconnect_backoff: c.reconnect_backoff(),
            reconnect_backoff_max: c.reconnect_backoff_max(),
            connect_timeout: c.socket_connection_setup_timeout(),
            connect_timeout_max: c.socket_connection_setup_timeout_max(),
            security: c.security().clone(),
            metrics: MetricConfig {
                samples: c.metrics_num_samples(),
                window_ms: i64::try_from(c.metrics_sample_window().as_millis()).unwrap_or(i64::MAX),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::DeliveryHandle;

    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}

    #[test]
    fn thread_safety() {
        assert_send_sync::<Producer>();
        assert_send::<DeliveryHandle>();
        assert_send_sync::<DeliveryError>();
    }
}
