//! One I/O thread per broker: drain ready batches, write Produce requests,
//! read responses, and complete, retry or fail each batch.
//!
//! # The loop
//!
//! A broker thread owns its connection and does blocking writes and blocking
//! reads on it. Each turn it:
//!
//! 1. fails batches whose `delivery.timeout.ms` passed (queued ones as *not
//!    persisted*, unless an earlier attempt was sent; in-flight ones as
//!    *possibly persisted*);
//! 2. drops the connection if the oldest request outlived `request.timeout.ms`
//!    (its batches are retried);
//! 3. (re)connects if it has work, with exponential reconnect backoff;
//! 4. drains ready batches of the partitions it leads, one batch per
//!    partition per request, up to `max.request.size`, and writes requests
//!    while fewer than `max.in.flight.requests.per.connection` are unanswered;
//! 5. waits: for a response (a blocking read whose timeout is the next
//!    instant something else falls due: a linger expiry, a backoff end, a
//!    request or delivery deadline) if requests are in flight, otherwise on
//!    its wake-up condvar until a sender, the metadata thread or such a
//!    deadline wakes it. A blocking read cannot see new records, so while
//!    requests are in flight and the pipeline has room it also looks again
//!    every `linger.ms` (at least 1 ms). Idle (nothing queued, nothing in
//!    flight), it blocks without a timeout: no spinning, no polling.
//!
//! Responses on a connection arrive in request order, so each one answers
//! the oldest in-flight request; a correlation id that does not match is a
//! protocol error and drops the connection.
//!
//! Each request goes at the Produce version negotiated with the broker, with
//! one exception: v13 (KIP-516) names topics by id, so a request with a topic
//! whose id the metadata view does not know goes at v12 instead (see
//! `produce_version`), and its answer is matched to the batches by id at v13,
//! by name below.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::accumulator::{increment_sequence, Batch, DrainPolicy, Payload, QueueRef, Readiness};
use super::connection::{note_trailing_bytes, ConnError, Connection};
use super::metadata::ClusterView;
use super::metrics::NodeSensors;
use super::{backoff, earliest, worth_a_warning, Rng, SharedState};
use crate::delivery::{BatchSlot, BatchTimes, Resolution};
use crate::error::{DeliveryError, DeliveryErrorKind, KafkaCode, Persistence};
use crate::protocol::compression::Compression;
use crate::protocol::frame::{finish_frame, start_frame};
use crate::protocol::header::{RequestHeader, ResponseHeader};
use crate::protocol::messages::produce::{
    encode_produce_request_parts, NodeEndpoint, PartitionProduceResponse, ProduceRequest, ProduceResponse,
    TopicRef, TOPIC_IDS_FROM,
};
use crate::protocol::primitives::{Decoder, Uuid};
use crate::protocol::record_batch::{set_producer_state, BatchParams, RecordBatch, RecordBatchWriter};
use crate::protocol::{Message, Request};
use crate::record::now_micros;

/// Wakes a sleeping broker thread.
#[derive(Debug, Default)]
pub(crate) struct Wakeup {
    pending: Mutex<bool>,
    cond: Condvar,
}

impl Wakeup {
    pub fn notify(&self) {
        let mut p = self.pending.lock();
        *p = true;
        self.cond.notify_one();
    }

    /// Sleeps until notified or `deadline` (`None`: no deadline).
    fn wait_until(&self, deadline: Option<Instant>) {
        let mut p = self.pending.lock();
        if !*p {
            match deadline {
                Some(d) => {
                    self.cond.wait_until(&mut p, d);
                }
                None => self.cond.wait(&mut p),
            }
        }
        *p = false;
    }
}

#[derive(Debug)]
struct Entry {
    wake: Arc<Wakeup>,
    join: Option<JoinHandle<()>>,
}

/// The broker threads, started lazily: when a partition a broker leads first
/// gets data.
#[derive(Debug, Default)]
pub(crate) struct Brokers {
    threads: Mutex<HashMap<i32, Entry>>,
}

impl Brokers {
    /// Wakes every broker thread (metadata changed, flush, close, producer id).
    pub fn wake_all(&self) {
        for e in self.threads.lock().values() {
            e.wake.notify();
        }
    }

    /// Joins every broker thread but the calling one (a `close` from a
    /// callback runs on a broker thread: that thread exits by itself once
    /// the callback returns). Call after `RunState::abort`.
    pub fn join_all(&self) {
        let handles: Vec<_> = self.threads.lock().values_mut().filter_map(|e| e.join.take()).collect();
        let me = std::thread::current().id();
        for h in handles {
            if h.thread().id() == me {
                continue;
            }
            if h.join().is_err() {
                log::error!("a broker thread panicked");
            }
        }
    }

    /// Number of broker threads started.
    pub fn len(&self) -> usize {
        self.threads.lock().len()
    }
}

/// Wakes broker `id`'s thread, starting it if it is not running.
pub(crate) fn wake(shared: &SharedState, id: i32) {
    let mut threads = shared.brokers.threads.lock();
    if let Some(e) = threads.get(&id) {
        e.wake.notify();
        return;
    }
    if shared.run.is_aborting() {
        return;
    }
    let wake = Arc::new(Wakeup::default());
    let t = BrokerThread::new(id, shared.clone(), wake.clone());
    match std::thread::Builder::new().name(format!("kafka-sync-broker-{id}")).spawn(move || t.run()) {
        Ok(join) => {
            log::debug!("started the I/O thread of broker {id}");
            threads.insert(id, Entry { wake, join: Some(join) });
        }
        Err(e) => log::error!("could not start the I/O thread of broker {id}: {e}"),
    }
}

/// After a metadata refresh: wake every running broker thread (they
/// recompute the partitions they lead) and start the threads of leaders
/// whose partitions have queued data.
pub(crate) fn on_metadata(shared: &SharedState, view: &ClusterView) {
    shared.brokers.wake_all();
    let mut leaders: Vec<i32> = view
        .topics
        .values()
        .flat_map(|t| t.partitions.iter())
        .filter(|p| p.leader >= 0)
        .filter(|p| shared.acc.with_queue(p.queue, |q| !q.is_empty() || q.in_flight > 0))
        .map(|p| p.leader)
        .collect();
    leaders.sort_unstable();
    leaders.dedup();
    for id in leaders {
        wake(shared, id);
    }
}

/// Resolves a batch, returns its memory, recycles its buffer, counts it.
/// The caller has already done the queue's in-flight bookkeeping.
pub(crate) fn finish(shared: &SharedState, mut batch: Batch, r: Resolution) {
    // A batch already resolved (its delivery timeout passed in flight) was
    // counted then; only its resources are left to return.
    if !batch.resolved {
        match &r {
            Resolution::Acked { .. } => shared.metrics.batch_acked(&batch),
            Resolution::Failed(e) => shared.metrics.batch_failed(&batch, e),
            Resolution::Split(_) => {}
        }
    }
    // Memory first, so that whoever the resolution wakes (a waiter, a
    // blocked sender) sees it returned.
    shared.acc.pool.release(batch.memory);
    match std::mem::replace(&mut batch.payload, Payload::Empty) {
        Payload::Open(w) => shared.acc.recycle(w.into_buffer()),
        Payload::Sealed(b) => shared.acc.recycle(b),
        Payload::Empty => {}
    }
    if let Some(sp) = &shared.spool {
        if spool_final(&r) {
            sp.done(&batch.spool_ids);
        }
    }
    if !batch.resolved {
        batch.resolved = true;
        if let (Some(t), Resolution::Failed(e)) = (&shared.txn, &r) {
            // A failed record dooms its transaction (before its callbacks
            // run, so a callback that aborts sees the transaction failed).
            t.batch_failed(shared, e);
        }
        batch.resolve_slot(r);
    }
    // Only now, after the callbacks ran, does the batch leave the set that
    // `flush` and `close` wait on: a flush that starts while the callbacks
    // run still finds the batch there and waits for them (Java's contract).
    shared.acc.forget(batch.id);
}

/// Whether a batch's outcome lets its records leave the spool: acknowledged,
/// or refused for good by a broker. Records that fail because the producer
/// closed, failed as a whole (fatal) or could not authenticate stay in the
/// spool, and the next producer on it sends them; a split batch's records
/// live on in its halves.
fn spool_final(r: &Resolution) -> bool {
    match r {
        Resolution::Acked { .. } => true,
        Resolution::Split(_) => false,
        Resolution::Failed(e) => !matches!(
            e.kind(),
            DeliveryErrorKind::Closed | DeliveryErrorKind::Fatal(_) | DeliveryErrorKind::Authentication
        ),
    }
}

/// Whether a Produce error can come **after** the leader appended the batch
/// to its log, so that the batch may be there although the answer is an
/// error (librdkafka's `MSG_POSSIBLY_PERSISTED`; the broker side is
/// `DelayedProduce` and `UnifiedLog.append`):
///
/// - `REQUEST_TIMED_OUT` (7): acks=all replication did not finish in
///   `timeout_ms`; the broker sets it only for partitions it appended.
/// - `NOT_ENOUGH_REPLICAS_AFTER_APPEND` (20): appended (even committed),
///   then the in-sync replicas fell below `min.insync.replicas`.
/// - `NOT_LEADER_OR_FOLLOWER` (6) with acks=all: leadership moved while the
///   appended batch waited for replication; the new leader may have it.
/// - `KAFKA_STORAGE_ERROR` (56) and `UNKNOWN_SERVER_ERROR` (-1): the failure
///   can strike after the log end offset moved.
/// - `NETWORK_EXCEPTION` (13, also what a lost connection is reported as):
///   the request was sent and no answer came.
/// - Any code this crate does not know.
///
/// Codes that reject a batch before the append (`NOT_ENOUGH_REPLICAS`,
/// `CORRUPT_MESSAGE`, `MESSAGE_TOO_LARGE`, `INVALID_RECORD`, sequence and
/// epoch errors, authorization...) do not: for those the batch's earlier
/// attempts decide. The flag is sticky: once set, a batch is never reported
/// "not persisted", and never renumbered under a new producer id (see
/// `idempotence.rs`).
pub(crate) fn possibly_appended(code: KafkaCode, acks: i16) -> bool {
    match code {
        KafkaCode::REQUEST_TIMED_OUT
        | KafkaCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND
        | KafkaCode::KAFKA_STORAGE_ERROR
        | KafkaCode::UNKNOWN_SERVER_ERROR
        | KafkaCode::NETWORK_EXCEPTION => true,
        KafkaCode::NOT_LEADER_OR_FOLLOWER => acks == -1,
        c => c.name().is_none(),
    }
}

/// The persistence of a batch that fails now.
fn persistence_of(b: &Batch) -> Persistence {
    if b.maybe_persisted {
        Persistence::PossiblyPersisted
    } else {
        Persistence::NotPersisted
    }
}

/// Fails a queued (not in-flight) batch whose delivery timeout passed.
pub(crate) fn fail_expired(shared: &SharedState, b: Batch) {
    let e = DeliveryError::new(
        DeliveryErrorKind::Timeout,
        persistence_of(&b),
        format!(
            "delivery.timeout.ms ({} ms) passed for {} record(s) of {}-{} after {} attempt(s)",
            shared.cfg.delivery_timeout.as_millis(),
            b.records,
            b.slot_topic(),
            b.slot.partition(),
            b.attempts
        ),
    );
    if b.producer.is_some() {
        // It held a sequence: the partition's numbering now has a gap.
        shared.sequence_broken(b.producer);
    }
    finish(shared, b, Resolution::Failed(e));
}

/// Fails a queued batch with `kind` (close, fatal error).
pub(crate) fn fail_queued(shared: &SharedState, b: Batch, kind: DeliveryErrorKind, msg: &str) {
    let e = DeliveryError::new(kind, persistence_of(&b), msg);
    finish(shared, b, Resolution::Failed(e));
}

/// One topic's batches in a request: (topic, [(partition, batch bytes)]).
type TopicBatches<'a> = (&'a str, Vec<(i32, &'a [u8])>);

/// The Produce version of one request, as franz-go decides it (`sink.go`):
/// v13 names topics by id (KIP-516), so a request goes at v13 only when the
/// connection negotiated v13 and **every** topic in it has a known id
/// (`ids` yields `None` for a topic without one: its metadata came from a
/// broker answering Metadata below v10, say, one that advertises Produce v13
/// while capping Metadata, franz-go's issue 1312). Otherwise the request goes
/// at v12, which every broker that speaks v13 also speaks (Kafka keeps
/// v3-v13). Below v13 the negotiated version stands.
fn produce_version(negotiated: i16, ids: impl IntoIterator<Item = Option<Uuid>>) -> i16 {
    if negotiated < TOPIC_IDS_FROM {
        return negotiated;
    }
    if ids.into_iter().all(|id| id.is_some()) {
        negotiated
    } else {
        TOPIC_IDS_FROM - 1
    }
}

/// A request written and not yet answered.
#[derive(Debug)]
struct InFlight {
    correlation: i32,
    version: i16,
    sent: Instant,
    deadline: Instant,
    batches: Vec<Batch>,
    /// At v13, the id each topic of the request was sent under: the response
    /// names topics by these ids, not by name. Empty below v13.
    topic_ids: Vec<(Arc<str>, Uuid)>,
}

struct BrokerThread {
    id: i32,
    shared: SharedState,
    wake: Arc<Wakeup>,
    conn: Option<Connection>,
    connect_failures: u32,
    next_connect: Option<Instant>,
    in_flight: VecDeque<InFlight>,
    parts: Vec<QueueRef>,
    parts_version: u64,
    /// Partitions of batches that came back since the last look: if one is
    /// led by another broker now, that broker's thread is woken.
    returned: Vec<QueueRef>,
    /// The last write or read on the connection (`connections.max.idle.ms`).
    last_io: Instant,
    /// Nothing is sent to this broker before this instant: it asked so with
    /// a Produce response's `throttle_time_ms` (a quota, KIP-219).
    throttled_until: Option<Instant>,
    /// The response being handled: its request's round trip, and when it
    /// was read (microseconds since the epoch), for the records' timings.
    answer: (Option<Duration>, i64),
    rotate: usize,
    rng: Rng,
    buf: Vec<u8>,
    policy: DrainPolicy,
    /// This broker's metrics (`producer-node-metrics`).
    node: Arc<NodeSensors>,
}

impl BrokerThread {
    fn new(id: i32, shared: SharedState, wake: Arc<Wakeup>) -> Self {
        let cfg = &shared.cfg;
        let policy = DrainPolicy {
            linger: cfg.linger,
            idempotent: cfg.idempotence,
            strict_order: !cfg.idempotence && cfg.max_in_flight == 1,
            max_in_flight_per_partition: cfg.max_in_flight.min(5) as u32,
        };
        let node = shared.metrics.node(id);
        Self {
            id,
            shared,
            wake,
            conn: None,
            connect_failures: 0,
            next_connect: None,
            in_flight: VecDeque::new(),
            parts: Vec::new(),
            parts_version: u64::MAX,
            returned: Vec::new(),
            last_io: Instant::now(),
            throttled_until: None,
            answer: (None, 0),
            rotate: 0,
            rng: Rng::new(),
            buf: Vec::new(),
            policy,
            node,
        }
    }

    fn run(mut self) {
        self.shared.mark_engine_thread();
        loop {
            if self.shared.run.is_aborting() {
                self.abort();
                return;
            }
            let now = Instant::now();
            self.refresh_parts();
            if let Some(fatal) = self.shared.run.fatal().cloned() {
                self.fail_all_queued(
                    DeliveryErrorKind::Fatal(fatal.code().unwrap_or(KafkaCode::NONE)),
                    &fatal.to_string(),
                );
            }
            let mut next = self.expire(now);
            self.check_request_timeouts(now);
            next = earliest(next, self.close_if_idle(now));
            if self.conn.is_none() && self.has_work() {
                self.try_connect(now);
            }
            if self.conn.is_some() {
                if self.renew_session(Instant::now()) {
                    next = earliest(next, self.send_ready(Instant::now()));
                }
            } else if self.has_work() {
                next = earliest(next, self.next_connect);
            }
            if !self.in_flight.is_empty() && self.conn.is_some() {
                let oldest = self.in_flight.front().map(|f| f.deadline);
                let mut until = earliest(next, oldest);
                if self.in_flight.len() < self.shared.cfg.max_in_flight {
                    // A blocking read does not notice new records: while the
                    // pipeline has room, look again every linger.ms (at least
                    // 1 ms) so that newly ready batches need not wait for the
                    // next response. Idle threads never do this.
                    let poll = self.shared.cfg.linger.max(Duration::from_millis(1));
                    until = earliest(until, Some(Instant::now() + poll));
                }
                self.read_responses(until);
            } else {
                self.wake.wait_until(next);
            }
        }
    }

    /// KIP-368: when the SASL session is due for renewal, write nothing more,
    /// let the requests in flight finish, then re-authenticate on the same
    /// connection. A connection with nothing to send renews its session when
    /// work arrives (the broker checks the session only when a request
    /// comes), not while idle or closing. Returns whether requests may be
    /// written now.
    fn renew_session(&mut self, now: Instant) -> bool {
        if !self.conn.as_ref().is_some_and(|c| c.reauth_due(now)) {
            return self.conn.is_some();
        }
        if !self.in_flight.is_empty() {
            return false;
        }
        if !self.has_work() {
            // Nothing to write; the append that brings work wakes this
            // thread, which then renews the session before writing it.
            return false;
        }
        let Some(conn) = self.conn.as_mut() else { return false };
        match conn.reauthenticate() {
            Ok(()) => {
                self.shared.metrics.reauthenticated();
                self.last_io = Instant::now();
                true
            }
            Err(e) => {
                self.connection_lost(&format!("re-authentication failed: {e}"));
                false
            }
        }
    }

    /// Closes the connection when nothing was written or read on it for
    /// `connections.max.idle.ms` (before the broker's own idle limit drops
    /// it under a request). Returns when it would become idle.
    fn close_if_idle(&mut self, now: Instant) -> Option<Instant> {
        if self.conn.is_none() || !self.in_flight.is_empty() {
            return None;
        }
        let idle_at = self.last_io + self.shared.cfg.connections_max_idle;
        if idle_at > now {
            return Some(idle_at);
        }
        if let Some(c) = self.conn.take() {
            log::debug!(
                "closing the idle connection to broker {} ({}): connections.max.idle.ms passed",
                self.id,
                c.addr()
            );
            c.shutdown();
        }
        None
    }

    /// Wakes the current leaders of partitions whose batches came back here
    /// after their leadership moved to another broker: that broker's thread
    /// may be waiting for them (a partition's retries and sequences wait for
    /// its in-flight batches), and nothing else would wake it.
    fn wake_moved_leaders(&mut self) {
        if self.returned.is_empty() {
            return;
        }
        self.refresh_parts();
        let mut moved = std::mem::take(&mut self.returned);
        moved.retain(|q| self.parts.binary_search(q).is_err());
        if moved.is_empty() {
            return;
        }
        moved.sort_unstable();
        moved.dedup();
        let view = self.shared.meta.view();
        let mut leaders: Vec<i32> = view
            .topics
            .values()
            .flat_map(|t| t.partitions.iter())
            .filter(|p| p.leader >= 0 && p.leader != self.id && moved.binary_search(&p.queue).is_ok())
            .map(|p| p.leader)
            .collect();
        leaders.sort_unstable();
        leaders.dedup();
        for id in leaders {
            wake(&self.shared, id);
        }
    }

    fn refresh_parts(&mut self) {
        let v = self.shared.meta.version();
        if v != self.parts_version {
            self.parts = self.shared.meta.view().partitions_led_by(self.id);
            self.parts_version = v;
        }
    }

    fn has_work(&self) -> bool {
        !self.in_flight.is_empty()
            || self.parts.iter().any(|q| self.shared.acc.with_queue(*q, |pq| !pq.is_empty()))
    }

    fn try_connect(&mut self, now: Instant) {
        if self.next_connect.is_some_and(|t| t > now) {
            return;
        }
        let view = self.shared.meta.view();
        let Some((host, port)) = view.brokers.get(&self.id).cloned() else { return };
        let shared = self.shared.clone();
        let cfg = &shared.cfg;
        let opts = shared.connect_options(self.connect_failures, &mut self.rng);
        match Connection::connect(&host, port, &opts).map_err(|e| e.escalate(self.connect_failures + 1)) {
            Ok(c) => {
                match self.connect_failures {
                    0 => log::info!("connected to broker {} at {host}:{port}", self.id),
                    n => log::info!(
                        "connected to broker {} at {host}:{port} after {n} failed attempt(s)",
                        self.id
                    ),
                }
                self.conn = Some(c);
                self.last_io = Instant::now();
                self.connect_failures = 0;
                self.next_connect = None;
                self.shared.meta.security_ok();
                self.shared.metrics.connection_created();
            }
            Err(e) => {
                if let ConnError::Security(m) = &e {
                    // Retrying soon will not help: fail what waits for this
                    // broker now (keep trying, with the reconnect backoff).
                    self.shared.meta.security_failed(m);
                    let msg = format!("broker {}: {m}", self.id);
                    self.fail_all_queued(DeliveryErrorKind::Authentication, &msg);
                }
                let wait = backoff(
                    cfg.reconnect_backoff,
                    cfg.reconnect_backoff_max,
                    self.connect_failures,
                    &mut self.rng,
                );
                self.connect_failures += 1;
                let n = self.connect_failures;
                let level = if worth_a_warning(n) { log::Level::Warn } else { log::Level::Debug };
                log::log!(
                    level,
                    "connecting to broker {} at {host}:{port} failed ({n} attempt(s) in a row): {e}; \
                     retrying in {wait:?}",
                    self.id
                );
                self.next_connect = Some(Instant::now() + wait);
                self.shared.meta.request_refresh();
            }
        }
    }

    /// Drains and writes requests while the pipeline has room. Returns the
    /// next instant a partition becomes ready.
    fn send_ready(&mut self, now: Instant) -> Option<Instant> {
        if let Some(t) = self.throttled_until {
            if t > now {
                return Some(t);
            }
            self.throttled_until = None;
        }
        let shared = self.shared.clone();
        let cfg = &shared.cfg;
        let force = shared.acc.flushing() || shared.run.is_closing() || shared.acc.pool.under_pressure();
        let producer = shared.idem.current();
        if cfg.idempotence && producer.is_none() {
            shared.meta.poke();
        }
        let mut next = None;
        while self.in_flight.len() < cfg.max_in_flight && !self.parts.is_empty() {
            let Some(conn) = self.conn.as_ref() else { break };
            let Some(mut version) = conn.versions().version_of::<ProduceRequest>() else {
                shared.set_fatal(DeliveryError::new(
                    DeliveryErrorKind::Fatal(KafkaCode::UNSUPPORTED_VERSION),
                    Persistence::NotPersisted,
                    format!("broker {} does not support Produce v3 or later", self.id),
                ));
                break;
            };
            if let Some(t) = &shared.txn {
                // Produce v12+ adds partitions to the transaction implicitly:
                // only with transactions v2 (KIP-890), never behind the
                // coordinator's back.
                if !t.implicit() {
                    version = version.min(crate::engine::txn::coordinator::PRODUCE_TXN_V2 - 1);
                }
            }
            let mut batches: Vec<Batch> = Vec::new();
            let mut failed = Vec::new();
            // One clock read per request, shared by its batches' records.
            let mut drained_us: Option<i64> = None;
            let mut room = cfg.max_request_size;
            let n = self.parts.len();
            for k in 0..n {
                let q = self.parts[(self.rotate + k) % n];
                match shared.acc.drain(
                    q,
                    now,
                    force,
                    &self.policy,
                    producer,
                    room,
                    batches.is_empty(),
                    &mut failed,
                ) {
                    Ok(mut b) => {
                        if b.drained_us == 0 {
                            b.drained_us = *drained_us.get_or_insert_with(now_micros);
                        }
                        if let Err(e) = self.seal(&mut b, version) {
                            shared.acc.finalize(b.queue, b.ordinal);
                            let err = DeliveryError::new(
                                DeliveryErrorKind::Broker(KafkaCode::UNSUPPORTED_COMPRESSION_TYPE),
                                Persistence::NotPersisted,
                                e,
                            );
                            finish(&shared, b, Resolution::Failed(err));
                            continue;
                        }
                        room = room.saturating_sub(b.estimated_size());
                        batches.push(b);
                    }
                    Err(Readiness::At(t)) => next = earliest(next, Some(t)),
                    Err(_) => {}
                }
            }
            self.rotate = self.rotate.wrapping_add(1);
            for b in failed {
                fail_queued(
                    &shared,
                    b,
                    DeliveryErrorKind::Network,
                    "the producer id was reset after this batch may have been written; \
                     resending it under the new id could duplicate it",
                );
            }
            if batches.is_empty() {
                break;
            }
            self.write_produce(version, batches, now);
        }
        next
    }

    /// Seals a drained batch (producer id, sequence, compression, CRC).
    fn seal(&mut self, b: &mut Batch, version: i16) -> Result<(), String> {
        let cfg = &self.shared.cfg;
        if cfg.compression == Compression::Zstd && version < 7 {
            return Err(format!("zstd needs Produce v7, broker {} supports v{version}", self.id));
        }
        match std::mem::replace(&mut b.payload, Payload::Empty) {
            Payload::Open(w) => {
                b.uncompressed = w.size_in_bytes();
                let (producer_id, producer_epoch) = b.producer.unwrap_or((-1, -1));
                let params = BatchParams {
                    producer_id,
                    producer_epoch,
                    base_sequence: b.base_sequence,
                    is_transactional: self.shared.txn.is_some(),
                    ..BatchParams::default()
                };
                let bytes = if cfg.compression == Compression::None {
                    w.finish(&params, cfg.compression, cfg.compression_level)
                } else {
                    // Compress into a recycled buffer and recycle the
                    // uncompressed one: no allocation per batch.
                    let mut scratch = self.shared.acc.take_buffer(w.size_in_bytes());
                    let r =
                        w.finish_with_scratch(&params, cfg.compression, cfg.compression_level, &mut scratch);
                    self.shared.acc.recycle(scratch);
                    r
                }
                .map_err(|e| e.to_string())?;
                b.payload = Payload::Sealed(bytes);
            }
            Payload::Sealed(mut bytes) => {
                // A retry: it may have been re-sequenced under a new producer id.
                if let Some((pid, epoch)) = b.producer {
                    set_producer_state(&mut bytes, pid, epoch, b.base_sequence).map_err(|e| e.to_string())?;
                }
                b.payload = Payload::Sealed(bytes);
            }
            Payload::Empty => return Err("batch has no payload".into()),
        }
        Ok(())
    }

    /// Writes one Produce request of `batches` at the negotiated `version`,
    /// or at v12 when that is v13 and a topic of the request has no known id
    /// (see [`produce_version`]).
    fn write_produce(&mut self, negotiated: i16, mut batches: Vec<Batch>, now: Instant) {
        let shared = self.shared.clone();
        let cfg = &shared.cfg;
        let conn = self.conn.as_mut().expect("connected");
        let correlation = conn.next_correlation_id();
        self.buf.clear();
        let mut version = negotiated;
        let mut topic_ids: Vec<(Arc<str>, Uuid)> = Vec::new();
        let encoded = {
            // Group the batches by topic, keeping first-seen order.
            let mut topics: Vec<TopicBatches<'_>> = Vec::new();
            for b in &batches {
                let t = b.slot_topic();
                let data = match &b.payload {
                    Payload::Sealed(v) => v.as_slice(),
                    _ => unreachable!("sealed before writing"),
                };
                match topics.iter_mut().find(|(n, _)| *n == t) {
                    Some((_, parts)) => parts.push((b.slot.partition(), data)),
                    None => topics.push((t, vec![(b.slot.partition(), data)])),
                }
            }
            if negotiated >= TOPIC_IDS_FROM {
                // The ids as the view knows them now: a refresh after
                // UNKNOWN_TOPIC_ID (a topic deleted and created again) brings
                // the new one for the retry.
                let view = shared.meta.view();
                let known: Vec<Option<(Arc<str>, Uuid)>> = topics
                    .iter()
                    .map(|(t, _)| {
                        view.topics.get(*t).and_then(|m| m.known_id().map(|id| (m.name.clone(), id)))
                    })
                    .collect();
                version = produce_version(negotiated, known.iter().map(|k| k.as_ref().map(|(_, id)| *id)));
                if version >= TOPIC_IDS_FROM {
                    topic_ids = known.into_iter().flatten().collect();
                } else {
                    log::debug!(
                        "Produce v{version} to broker {} instead of v{negotiated}: a topic of the request \
                         has no known topic id",
                        self.id
                    );
                }
            }
            let keys: Vec<TopicRef<'_>> = if version >= TOPIC_IDS_FROM {
                topic_ids.iter().map(|(_, id)| TopicRef::Id(*id)).collect()
            } else {
                topics.iter().map(|(t, _)| TopicRef::Name(t)).collect()
            };
            let at = start_frame(&mut self.buf);
            let header = RequestHeader {
                api_key: ProduceRequest::API_KEY,
                api_version: version,
                correlation_id: correlation,
                client_id: Some(conn.client_id().to_owned()),
            };
            header
                .encode(&mut self.buf, ProduceRequest::request_header_version(version))
                .and_then(|()| {
                    let timeout_ms = cfg.request_timeout.as_millis().min(i32::MAX as u128) as i32;
                    encode_produce_request_parts(
                        &mut self.buf,
                        version,
                        shared.txn.as_ref().map(|t| t.id.as_str()),
                        cfg.acks,
                        timeout_ms,
                        keys.iter().zip(&topics).map(|(k, (_, p))| (*k, p.iter().copied())),
                    )
                })
                .and_then(|()| finish_frame(&mut self.buf, at))
        };
        if let Err(e) = encoded {
            log::error!("could not encode a Produce request: {e}");
            for b in batches {
                shared.acc.finalize(b.queue, b.ordinal);
                let err = DeliveryError::new(DeliveryErrorKind::Network, persistence_of(&b), e.to_string());
                finish(&shared, b, Resolution::Failed(err));
            }
            return;
        }
        if let Some(t) = &shared.txn {
            t.produced();
        }
        if let Some(sp) = &shared.spool {
            // Which batch went under which producer id and sequence, on disk
            // before the request: a restart resends exactly these.
            for b in &batches {
                if let (Some(p), Some(first), Some(last)) =
                    (b.producer, b.spool_ids.first(), b.spool_ids.last())
                {
                    sp.sequenced(
                        b.slot_topic(),
                        b.slot.partition(),
                        *first,
                        *last,
                        b.records,
                        p,
                        b.base_sequence,
                    );
                }
            }
            sp.before_request();
        }
        for b in batches.iter_mut() {
            b.attempts += 1;
            if b.attempts > 1 {
                shared.metrics.retry();
            }
        }
        shared.metrics.request_sent(self.buf.len());
        self.last_io = now;
        if let Err(e) = conn.write_frame(&self.buf) {
            // Part of the request may have reached the broker: its batches
            // may be in the log. The connection is mid-frame: drop it.
            log::warn!("writing to broker {} failed: {e}", self.id);
            self.in_flight.push_back(InFlight {
                correlation,
                version,
                sent: now,
                deadline: now,
                batches,
                topic_ids,
            });
            self.connection_lost(&format!("write failed: {e}"));
            return;
        }
        shared.metrics.request_written(&batches, self.buf.len(), now, &self.node);
        if cfg.acks == 0 {
            shared.metrics.request_done();
            // No response will come: written is all we will ever know.
            let written_us = now_micros();
            for b in batches {
                shared.acc.finalize(b.queue, b.ordinal);
                let times = b.times(None, written_us);
                finish(&shared, b, Resolution::Acked { base_offset: None, log_append_time: None, times });
            }
            return;
        }
        self.in_flight.push_back(InFlight {
            correlation,
            version,
            sent: now,
            deadline: now + cfg.request_timeout,
            batches,
            topic_ids,
        });
    }

    /// Reads and handles responses: blocks until `deadline` for the first,
    /// then handles any others already buffered.
    fn read_responses(&mut self, deadline: Option<Instant>) {
        let mut deadline = deadline;
        loop {
            let Some(conn) = self.conn.as_mut() else { return };
            let frame = match conn.read_frame(deadline) {
                Ok(None) => return,
                Ok(Some(r)) => r,
                Err(e) => {
                    self.connection_lost(&e.to_string());
                    return;
                }
            };
            let Some(front) = self.in_flight.pop_front() else {
                self.connection_lost("response with no request in flight");
                return;
            };
            // The response's bytes: its frame and its 4-byte size prefix.
            let bytes = frame.len() + 4;
            let decoded = {
                let mut d = Decoder::new(conn.frame(frame));
                ResponseHeader::decode(&mut d, ProduceRequest::response_header_version(front.version))
                    .and_then(|h| {
                        let body = ProduceResponse::decode(&mut d, front.version)?;
                        note_trailing_bytes(ProduceRequest::API_KEY, front.version, d.remaining());
                        Ok((h, body))
                    })
            };
            match decoded {
                Ok((h, body)) if h.correlation_id == front.correlation => {
                    self.last_io = Instant::now();
                    let throttle = Duration::from_millis(u64::try_from(body.throttle_time_ms).unwrap_or(0));
                    self.shared.metrics.produce_throttle(throttle);
                    let rtt = self.last_io.saturating_duration_since(front.sent);
                    self.shared.metrics.response_read(&self.node, rtt, throttle, bytes, self.last_io);
                    if !throttle.is_zero() {
                        // As Java does: no request to this broker until the
                        // throttle time passed (the broker already answered).
                        self.throttled_until = Some(self.last_io + throttle);
                    }
                    self.shared.metrics.request_done();
                    self.shared.metrics.request_latency(rtt);
                    self.answer = (Some(rtt), now_micros());
                    self.handle_response(front, body);
                    self.wake_moved_leaders();
                }
                Ok((h, _)) => {
                    let msg =
                        format!("correlation id {} answered request {}", h.correlation_id, front.correlation);
                    self.in_flight.push_front(front);
                    self.connection_lost(&msg);
                    return;
                }
                Err(e) => {
                    self.in_flight.push_front(front);
                    self.connection_lost(&format!("undecodable Produce response: {e}"));
                    return;
                }
            }
            // Only what is already buffered from here on.
            deadline = Some(Instant::now());
            if self.in_flight.is_empty() {
                return;
            }
        }
    }

    /// KIP-951 (Produce v10+): a partition that answered
    /// `NOT_LEADER_OR_FOLLOWER` or `FENCED_LEADER_EPOCH` names its new leader
    /// (`CurrentLeader`, and the leader's endpoint in `NodeEndpoints`). Move
    /// the partition there now, if the epoch is newer than the one known,
    /// instead of waiting for a metadata round trip. Returns whether it moved.
    fn follow_leader_hint(
        &self,
        b: &Batch,
        code: KafkaCode,
        p: &PartitionProduceResponse,
        endpoints: &[NodeEndpoint],
    ) -> bool {
        if code != KafkaCode::NOT_LEADER_OR_FOLLOWER && code != KafkaCode::FENCED_LEADER_EPOCH {
            return false;
        }
        let (leader, epoch) = (p.current_leader.leader_id, p.current_leader.leader_epoch);
        if leader < 0 || leader == self.id {
            return false;
        }
        let endpoint = endpoints
            .iter()
            .find(|e| e.node_id == leader)
            .and_then(|e| u16::try_from(e.port).ok().map(|port| (e.host.clone(), port)));
        let moved =
            self.shared.meta.apply_leader_hint(b.slot_topic(), b.slot.partition(), leader, epoch, endpoint);
        if moved {
            self.shared.metrics.leader_hint();
        }
        moved
    }

    fn handle_response(&mut self, f: InFlight, resp: ProduceResponse) {
        let now = Instant::now();
        for b in f.batches {
            let topic = b.slot_topic();
            // v13 answers name topics by the ids the request used.
            let sent_id = f.topic_ids.iter().find(|(n, _)| **n == *topic).map(|(_, id)| *id);
            let part = resp
                .responses
                .iter()
                .filter(|t| match sent_id {
                    Some(id) if f.version >= TOPIC_IDS_FROM => t.topic_id == id,
                    _ => t.name == topic,
                })
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == b.slot.partition());
            match part {
                Some(p) => {
                    let code = KafkaCode(p.error_code);
                    let msg = p.error_message.clone().or_else(|| {
                        p.record_errors.first().map(|r| {
                            format!(
                                "record {}: {}",
                                r.batch_index,
                                r.batch_index_error_message.as_deref().unwrap_or("rejected")
                            )
                        })
                    });
                    let lat = (p.log_append_time_ms >= 0).then_some(p.log_append_time_ms);
                    let mut b = b;
                    if self.follow_leader_hint(&b, code, p, &resp.node_endpoints) {
                        // The new leader is known: retry there at once.
                        b.retry_now = true;
                    }
                    self.complete(b, code, p.base_offset, lat, msg.unwrap_or_default(), now);
                }
                None => {
                    // The broker left the partition out: treat it like a lost
                    // answer (retry; the batch may be in the log).
                    let mut b = b;
                    b.maybe_persisted = true;
                    self.complete(
                        b,
                        KafkaCode::NETWORK_EXCEPTION,
                        -1,
                        None,
                        "partition missing from the response".into(),
                        now,
                    );
                }
            }
        }
    }

    /// Decides a batch's fate from its partition's error code.
    fn complete(
        &mut self,
        mut b: Batch,
        code: KafkaCode,
        base_offset: i64,
        log_append_time: Option<i64>,
        msg: String,
        now: Instant,
    ) {
        let shared = self.shared.clone();
        let cfg = &shared.cfg;
        self.returned.push(b.queue);
        if b.resolved {
            // Its delivery timeout already failed it while in flight; only
            // the bookkeeping is left, whatever the answer.
            shared.acc.finalize(b.queue, b.ordinal);
            let times = BatchTimes::default();
            finish(&shared, b, Resolution::Acked { base_offset: None, log_append_time: None, times });
            return;
        }
        let ok = code.is_ok() || (cfg.idempotence && code == KafkaCode::DUPLICATE_SEQUENCE_NUMBER);
        if ok {
            shared.acc.finalize(b.queue, b.ordinal);
            let base_offset = (base_offset >= 0).then_some(base_offset);
            let times = b.times(self.answer.0, self.answer.1);
            finish(&shared, b, Resolution::Acked { base_offset, log_append_time, times });
            return;
        }
        shared.metrics.error(code);
        if possibly_appended(code, cfg.acks) {
            b.maybe_persisted = true;
        }
        if code == KafkaCode::MESSAGE_TOO_LARGE && b.records > 1 {
            self.split(b);
            return;
        }
        if code.is_fatal() {
            let e = DeliveryError::new(DeliveryErrorKind::Fatal(code), persistence_of(&b), msg);
            shared.set_fatal(e.clone());
            shared.acc.finalize(b.queue, b.ordinal);
            finish(&shared, b, Resolution::Failed(e));
            return;
        }
        let sequence_error = cfg.idempotence
            && (code == KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER || code == KafkaCode::UNKNOWN_PRODUCER_ID);
        if sequence_error
            && (code == KafkaCode::UNKNOWN_PRODUCER_ID || shared.acc.is_head_of_line(b.queue, b.ordinal))
        {
            // The broker's idempotence state does not match ours: start
            // over under a new producer id (see idempotence.rs).
            shared.sequence_broken(b.producer);
            shared.meta.poke();
        }
        if code.is_retriable() || sequence_error {
            if code.refreshes_metadata() {
                shared.meta.request_refresh();
            }
            if b.attempts <= cfg.retries && now < b.deadline {
                b.retry_at = if std::mem::take(&mut b.retry_now) {
                    None
                } else {
                    Some(
                        now + backoff(
                            cfg.retry_backoff,
                            cfg.retry_backoff_max,
                            b.attempts - 1,
                            &mut self.rng,
                        ),
                    )
                };
                log::debug!("retrying a batch of {}-{} after {code}", b.slot_topic(), b.slot.partition());
                shared.metrics.batch_retried(&b, now);
                shared.acc.requeue(b);
                return;
            }
        }
        // Fails for good.
        let kind = if code == KafkaCode::MESSAGE_TOO_LARGE || code == KafkaCode::RECORD_LIST_TOO_LARGE {
            DeliveryErrorKind::RecordTooLarge
        } else {
            DeliveryErrorKind::Broker(code)
        };
        if b.producer.is_some() {
            shared.sequence_broken(b.producer);
        }
        // The answer that failed it: its round trip is the record's request time.
        let e = DeliveryError::new(kind, persistence_of(&b), msg)
            .with_batch_times(b.times(self.answer.0, self.answer.1));
        shared.acc.finalize(b.queue, b.ordinal);
        finish(&shared, b, Resolution::Failed(e));
    }

    /// Splits a batch the broker found too large into two halves that keep
    /// its place in the partition (and its sequence range), and retries them.
    fn split(&mut self, mut b: Batch) {
        let shared = self.shared.clone();
        let decoded = match &b.payload {
            Payload::Sealed(bytes) => RecordBatch::decode(bytes, 2 * shared.cfg.max_request_size + (1 << 20)),
            _ => unreachable!("in-flight batches are sealed"),
        };
        let batch = match decoded {
            Ok((batch, _)) => batch,
            Err(e) => {
                shared.acc.finalize(b.queue, b.ordinal);
                let err =
                    DeliveryError::new(DeliveryErrorKind::RecordTooLarge, persistence_of(&b), e.to_string());
                finish(&shared, b, Resolution::Failed(err));
                return;
            }
        };
        let half = batch.records.len().div_ceil(2);
        let mut parts = Vec::new();
        let mut slots = Vec::new();
        let mut memory_left = b.memory;
        for (i, chunk) in batch.records.chunks(half).enumerate() {
            let first = (i * half) as u32;
            let ts0 = batch.base_timestamp + chunk[0].timestamp_delta;
            let mut w = RecordBatchWriter::new(Vec::new(), ts0);
            for r in chunk {
                w.append(
                    batch.base_timestamp + r.timestamp_delta,
                    r.key.as_deref(),
                    r.value.as_deref(),
                    &r.headers,
                );
            }
            let slot = BatchSlot::new(b.slot.topic_arc(), b.slot.partition());
            let memory = if i == 0 { b.memory / 2 } else { memory_left };
            memory_left -= memory;
            // The second half starts `first` sequences later, wrapping from
            // i32::MAX to 0 as the broker counts.
            let base_sequence =
                if b.producer.is_some() { increment_sequence(b.base_sequence, first as i32) } else { -1 };
            slots.push((first, slot.clone(), 0));
            parts.push(Batch {
                slot,
                queue: b.queue,
                id: 0,
                records: chunk.len() as u32,
                created: b.created,
                deadline: b.deadline,
                memory,
                payload: Payload::Open(w),
                attempts: b.attempts,
                // The halves take the original's place: its ordinal for
                // the first, halfway to the next batch's for the second.
                ordinal: if i == 0 { b.ordinal } else { b.split_ordinal() },
                split_depth: b.split_depth + 1,
                producer: b.producer,
                base_sequence,
                maybe_persisted: b.maybe_persisted,
                retry_at: None,
                uncompressed: 0,
                topic_metrics: b.topic_metrics.clone(),
                resolved: false,
                spool_ids: b
                    .spool_ids
                    .get(first as usize..first as usize + chunk.len())
                    .map(<[u64]>::to_vec)
                    .unwrap_or_default(),
                callbacks: Default::default(),
                retry_now: false,
                drained_us: b.drained_us,
            });
        }
        log::info!(
            "splitting a batch of {} records for {}-{} after MESSAGE_TOO_LARGE",
            b.records,
            b.slot_topic(),
            b.slot.partition()
        );
        shared.metrics.batch_split();
        // The batch's callbacks follow their records to the halves.
        b.resolve_slot(Resolution::Split(slots));
        b.resolved = true;
        b.memory = 0;
        shared.acc.requeue_split(b, parts);
    }

    /// The connection broke (or must be dropped): every in-flight batch may
    /// or may not be in the log; retry them all.
    fn connection_lost(&mut self, why: &str) {
        if let Some(c) = self.conn.take() {
            log::warn!("connection to broker {} ({}) lost: {why}", self.id, c.addr());
            c.shutdown();
        }
        let cfg = &self.shared.cfg;
        self.next_connect = Some(
            Instant::now() + backoff(cfg.reconnect_backoff, cfg.reconnect_backoff_max, 0, &mut self.rng),
        );
        self.shared.meta.request_refresh();
        let now = Instant::now();
        let flights: Vec<InFlight> = self.in_flight.drain(..).collect();
        for f in flights {
            self.shared.metrics.request_done();
            for mut b in f.batches {
                b.maybe_persisted = true;
                self.complete(
                    b,
                    KafkaCode::NETWORK_EXCEPTION,
                    -1,
                    None,
                    format!("connection lost: {why}"),
                    now,
                );
            }
        }
        self.wake_moved_leaders();
    }

    fn check_request_timeouts(&mut self, now: Instant) {
        if self.in_flight.front().is_some_and(|f| f.deadline <= now) {
            let ms = self.shared.cfg.request_timeout.as_millis();
            self.connection_lost(&format!("no response within request.timeout.ms ({ms} ms)"));
        }
    }

    /// Fails overdue batches; returns the next delivery deadline.
    fn expire(&mut self, now: Instant) -> Option<Instant> {
        let shared = self.shared.clone();
        let mut expired = Vec::new();
        let mut next = None;
        for &q in &self.parts {
            shared.acc.take_expired(q, now, false, &mut expired);
            next = earliest(next, shared.acc.next_deadline(q));
        }
        for b in expired {
            fail_expired(&shared, b);
        }
        // In flight: the outcome is unknown; resolve the handles now (the
        // response, if it comes, only finishes the bookkeeping).
        for f in self.in_flight.iter_mut() {
            for b in f.batches.iter_mut() {
                if b.resolved {
                    continue;
                }
                if b.deadline <= now {
                    let e = DeliveryError::new(
                        DeliveryErrorKind::Timeout,
                        Persistence::PossiblyPersisted,
                        format!(
                            "delivery.timeout.ms ({} ms) passed while the batch was in flight",
                            shared.cfg.delivery_timeout.as_millis()
                        ),
                    );
                    shared.metrics.batch_failed(b, &e);
                    b.resolve_slot(Resolution::Failed(e));
                    b.resolved = true;
                    if b.producer.is_some() {
                        shared.sequence_broken(b.producer);
                    }
                } else {
                    next = earliest(next, Some(b.deadline));
                }
            }
        }
        // Wake just after the deadline so the batch is overdue by then.
        next.map(|t| t + Duration::from_millis(1))
    }

    fn fail_all_queued(&mut self, kind: DeliveryErrorKind, msg: &str) {
        let mut v = Vec::new();
        for &q in &self.parts {
            self.shared.acc.take_expired(q, Instant::now(), true, &mut v);
        }
        for b in v {
            fail_queued(&self.shared, b, kind.clone(), msg);
        }
    }

    /// `close` gave up: fail what is left and exit.
    fn abort(&mut self) {
        let shared = self.shared.clone();
        if let Some(c) = self.conn.take() {
            c.shutdown();
        }
        for f in self.in_flight.drain(..) {
            shared.metrics.request_done();
            for b in f.batches {
                shared.acc.finalize(b.queue, b.ordinal);
                let e = DeliveryError::new(
                    DeliveryErrorKind::Closed,
                    Persistence::PossiblyPersisted,
                    closed_message(&shared, "producer closed while the batch was in flight"),
                );
                finish(&shared, b, Resolution::Failed(e));
            }
        }
        // Everything still queued anywhere: a batch requeued by a response
        // handled after this thread stopped leading its partition is not in
        // `parts` any more.
        let mut left = Vec::new();
        shared.acc.take_all(&mut left);
        let why = closed_message(&shared, "producer closed before the batch was sent");
        for b in left {
            fail_queued(&shared, b, DeliveryErrorKind::Closed, &why);
        }
    }
}

/// The message of a record failing because the producer closed: with a
/// spool, it says the record is not lost.
pub(crate) fn closed_message(shared: &SharedState, why: &str) -> String {
    if shared.spool.is_some() {
        format!("{why}; the record stays in the spool, and the next producer started on it sends it")
    } else {
        why.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v13_only_when_every_topic_has_an_id() {
        let id = Some([1; 16]);
        assert_eq!(produce_version(13, [id, id]), 13);
        assert_eq!(produce_version(13, [id, None]), 12, "one topic without an id: the request goes at v12");
        assert_eq!(produce_version(13, [None]), 12);
        assert_eq!(produce_version(13, []), 13);
        // Below v13 the negotiated version stands, ids or not.
        assert_eq!(produce_version(12, [None]), 12);
        assert_eq!(produce_version(11, [id]), 11);
        assert_eq!(produce_version(3, [None]), 3);
    }

    #[test]
    fn unknown_topic_id_is_rejected_before_the_append() {
        // Not "possibly persisted": the broker found no topic to append to.
        assert!(!possibly_appended(KafkaCode::UNKNOWN_TOPIC_ID, -1));
    }
}
