//! The record accumulator: lock-striped per-partition batch queues, batch
//! readiness (size, linger, flush, close), and the `buffer.memory` bound.
//!
//! # Layout and locks
//!
//! Every partition the producer knows has one [`PartitionQueue`], living in
//! one of a fixed set of stripes (`parking_lot::Mutex<Stripe>`); its address
//! is a [`QueueRef`] (stripe, slot) that the metadata view hands out. A stripe
//! lock guards the queues in it and nothing else: threads sending to
//! partitions of different stripes never contend, and a broker thread that
//! drains a partition locks only that partition's stripe. Nothing blocks, does
//! I/O, compresses, or runs user code while a stripe lock is held; functions
//! that expect the lock held take `&mut PartitionQueue` (`*_locked`).
//!
//! # A record's way through
//!
//! `append` encodes the record once, straight into the partition's open
//! batch ([`RecordBatchWriter`]); when the next record would not fit in
//! `batch.size`, the open batch is closed into the queue and a new one opens.
//! The partition's broker thread calls `drain_locked` (via `drain`) when the
//! head batch is ready and takes it; it is sealed (producer id, sequence,
//! compression, CRC) outside the lock. A batch that must be retried comes back
//! with `requeue`, inserted by its ordinal so that retries keep send order.
//!
//! # Memory
//!
//! [`MemoryPool`] counts the bytes of every record from `send` until its
//! batch resolves. `send` reserves before it locks anything and blocks (up to
//! `max.block.ms`) while the pool is full, so the records queued in the
//! producer never exceed `buffer.memory`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::metrics::{TopicRegistry, TopicSensors};
use crate::delivery::{BatchSlot, BatchTimes, Callback, DeliveryHandle, RecordInfo, Resolution};
use crate::protocol::record_batch::{Header, RecordBatchWriter};

/// Number of stripes. A power of two comfortably above the number of cores
/// of typical machines, so that concurrent senders rarely share one.
pub(crate) const STRIPES: usize = 64;

/// Size of a record batch's header (everything before the first record).
pub(crate) const BATCH_OVERHEAD: usize = 61;

/// The capacity a new batch buffer starts with (at most): buffers grow on
/// demand up to the batch size, and keep their size when recycled.
pub(crate) const INITIAL_BUFFER: usize = 1 << 10;

/// Most bytes of capacity the recycled-buffer pool keeps (beyond
/// `buffer.memory`, which counts only queued records).
pub(crate) const RECYCLE_LIMIT: usize = 4 << 20;

/// Distance between the ordinals of consecutive batches of a partition. The
/// gap leaves room for the halves of split batches (see [`Batch::split_depth`]).
pub(crate) const ORDINAL_STEP: u128 = 1 << 64;

/// The address of one partition's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct QueueRef {
    pub stripe: u32,
    pub slot: u32,
}

/// A producer id and epoch.
pub(crate) type ProducerIdEpoch = (i64, i16);

/// What a batch holds: records still being appended or waiting to be
/// sealed, or the sealed wire bytes.
#[derive(Debug)]
pub(crate) enum Payload {
    Open(RecordBatchWriter),
    Sealed(Vec<u8>),
    /// Transiently empty while being sealed.
    Empty,
}

/// One record batch for one partition, from its first append until it resolves.
#[derive(Debug)]
pub(crate) struct Batch {
    pub slot: Arc<BatchSlot>,
    pub queue: QueueRef,
    /// Key in the accumulator's incomplete set (for flush).
    pub id: u64,
    pub records: u32,
    pub created: Instant,
    /// `created + delivery.timeout.ms`: the batch resolves by then.
    pub deadline: Instant,
    /// Bytes reserved in the memory pool for this batch.
    pub memory: usize,
    pub payload: Payload,
    /// Requests that carried it so far.
    pub attempts: u32,
    /// Order of creation within the partition; retries keep it. Halves of a
    /// split batch sit between it and the next batch.
    pub ordinal: u128,
    /// How many times the batch's records were split in half.
    pub split_depth: u8,
    /// Whether the handles were already resolved (delivery timeout passed
    /// while in flight); the batch then only awaits its bookkeeping.
    pub resolved: bool,
    /// Producer id/epoch and base sequence, once assigned (idempotence).
    pub producer: Option<ProducerIdEpoch>,
    pub base_sequence: i32,
    /// Whether an earlier attempt may have been written to the log (it was
    /// sent and no definite answer came back).
    pub maybe_persisted: bool,
    /// Not to be sent again before this instant (retry backoff).
    pub retry_at: Option<Instant>,
    /// Retry without backoff: the partition's new leader is known (KIP-951).
    pub retry_now: bool,
    /// When the batch was first taken for a request (microseconds since the
    /// epoch; 0 until then): the end of its records' queue time.
    pub drained_us: i64,
    /// Uncompressed size of the batch, for metrics.
    pub uncompressed: usize,
    /// The topic's metrics (copied from the partition queue: no lookup
    /// when the batch is counted).
    pub topic_metrics: Arc<TopicSensors>,
    /// The spool ids of the batch's records, in record order (empty without
    /// a spool): written as done when the batch's outcome is final.
    pub spool_ids: Vec<u64>,
    /// Callbacks registered at send time (`send_with_callback`), kept here
    /// under the stripe lock the send holds anyway: no handle, no reference
    /// count and no slot lock per record. They run, in record order, before
    /// the slot's own callbacks and before waiters are released.
    pub callbacks: Callbacks,
}

/// The callbacks a batch holds, with their records' facts.
#[derive(Default)]
pub(crate) struct Callbacks(pub Vec<(RecordInfo, Callback)>);

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} callback(s)", self.0.len())
    }
}

impl Batch {
    /// The batch's topic.
    pub fn slot_topic(&self) -> &str {
        self.slot.topic()
    }

    /// The batch's size on the wire as far as it is known: sealed bytes, or
    /// the uncompressed size (an upper bound for compressible data).
    pub fn estimated_size(&self) -> usize {
        match &self.payload {
            Payload::Open(w) => w.size_in_bytes(),
            Payload::Sealed(v) => v.len(),
            Payload::Empty => 0,
        }
    }

    /// Resolves the batch's slot: its callbacks (kept here) first, then the
    /// slot's own, then the waiters.
    pub fn resolve_slot(&mut self, r: Resolution) {
        // A failure carries the batch's clock readings for its records'
        // timings (one clock read per failed batch).
        let r = match r {
            Resolution::Failed(e) if !e.has_batch_times() => {
                Resolution::Failed(e.with_batch_times(self.times(None, crate::record::now_micros())))
            }
            r => r,
        };
        let callbacks = std::mem::take(&mut self.callbacks.0);
        self.slot.resolve_with(r, callbacks);
    }

    /// The batch's clock readings for its records' timings, with the
    /// delivering request's round trip and when the outcome came.
    pub fn times(&self, request: Option<Duration>, done_us: i64) -> BatchTimes {
        BatchTimes { drained_us: self.drained_us, request, attempts: self.attempts, done_us }
    }

    /// The ordinal of the second half when this batch is split.
    pub fn split_ordinal(&self) -> u128 {
        self.ordinal + (1u128 << (63 - u32::from(self.split_depth.min(63))))
    }

    /// The open writer, if the batch is not sealed yet.
    fn writer(&mut self) -> Option<&mut RecordBatchWriter> {
        match &mut self.payload {
            Payload::Open(w) => Some(w),
            _ => None,
        }
    }
}

/// Sequence bookkeeping of one partition (see `idempotence`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SeqState {
    /// The producer id/epoch the partition's sequences belong to.
    pub producer: Option<ProducerIdEpoch>,
    /// The next base sequence to assign.
    pub next: i32,
}

/// Where a partition stands in the current transaction (transactional
/// producers only; see `engine::txn`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum TxnMark {
    /// Not written to in the current transaction.
    #[default]
    Out,
    /// Written to; the coordinator has not yet confirmed AddPartitionsToTxn,
    /// so its batches must not be sent (the broker would refuse them).
    Pending,
    /// Part of the transaction: added with AddPartitionsToTxn, or joining
    /// implicitly with its first Produce (transactions v2, KIP-890).
    Added,
}

/// How an append takes part in a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnJoin {
    /// Not transactional.
    No,
    /// Transactional: a partition new to the transaction waits for
    /// AddPartitionsToTxn.
    Explicit,
    /// Transactional, transactions v2: the partition joins with its first
    /// Produce request.
    Implicit,
}

/// The batches of one partition.
#[derive(Debug)]
pub(crate) struct PartitionQueue {
    pub topic: Arc<str>,
    pub partition: i32,
    /// The topic's metrics, handed to each new batch.
    metrics: Arc<TopicSensors>,
    /// The batch records are appended to.
    open: Option<Batch>,
    /// Closed batches (full, or back for a retry), in ordinal order.
    queue: VecDeque<Batch>,
    /// Batches of this partition in requests not yet answered.
    pub in_flight: u32,
    next_ordinal: u128,
    /// Ordinals of batches drained at least once and not yet resolved
    /// (in flight or waiting for a retry): the smallest is the head of line.
    outstanding: BTreeSet<u128>,
    pub seq: SeqState,
    /// Where the partition stands in the current transaction.
    pub txn: TxnMark,
    /// Size of the last batch closed here: the next batch's buffer starts
    /// about that big.
    last_batch: usize,
    /// Records in the last batch closed here: the next batch's callback
    /// list starts that long (no regrowth while a busy batch fills).
    last_records: u32,
}

impl PartitionQueue {
    fn new(topic: Arc<str>, partition: i32, metrics: Arc<TopicSensors>) -> Self {
        Self {
            topic,
            partition,
            metrics,
            open: None,
            queue: VecDeque::new(),
            in_flight: 0,
            next_ordinal: 0,
            outstanding: BTreeSet::new(),
            seq: SeqState::default(),
            txn: TxnMark::Out,
            last_batch: 0,
            last_records: 0,
        }
    }

    /// The capacity to give the next batch's buffer: a little more than the
    /// last batch needed, and at least [`INITIAL_BUFFER`].
    fn next_buffer(&self) -> usize {
        (self.last_batch + self.last_batch / 8).max(INITIAL_BUFFER)
    }

    /// Moves the open batch to the queue (it is full, or a record did not fit).
    fn close_open(&mut self) {
        if let Some(b) = self.open.take() {
            self.note_closed(&b);
            self.queue.push_back(b);
        }
    }

    fn note_closed(&mut self, b: &Batch) {
        self.last_batch = b.estimated_size();
        self.last_records = b.records;
    }

    /// Whether nothing is queued (in-flight batches are not counted).
    pub fn is_empty(&self) -> bool {
        self.open.is_none() && self.queue.is_empty()
    }

    fn head(&self) -> Option<&Batch> {
        self.queue.front().or(self.open.as_ref())
    }
}

#[derive(Debug, Default)]
struct Stripe {
    queues: Vec<PartitionQueue>,
    /// Records appended to this stripe's queues, ever (metrics): counted
    /// under the lock the append holds anyway, not in a shared atomic that
    /// every sending thread would write.
    appended: u64,
}

/// A record to append, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppendInput<'a> {
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [Header],
    /// Bytes reserved in the pool for this record (an upper bound of its
    /// encoded size, and its callback's bookkeeping).
    pub reserved: usize,
    /// An upper bound of the record's encoded size (for buffer growth).
    pub size: usize,
    /// When `send` took it (microseconds since the epoch).
    pub sent_us: i64,
    /// Whether (and how) the record belongs to a transaction.
    pub txn: TxnJoin,
    /// The record's id in the spool, if the producer spools.
    pub spool_id: Option<u64>,
    /// How the header of a batch this record opens is counted in the pool.
    pub header: HeaderBudget<'a>,
}

/// How the header of a new batch ([`BATCH_OVERHEAD`] bytes) is counted in
/// the memory pool: `buffer.memory` bounds headers too, so the pool never
/// goes past its total (but for the batches a restart rebuilds from the
/// spool as they were sent, [`Accumulator::push_replayed`]).
#[derive(Clone, Copy)]
pub(crate) enum HeaderBudget<'a> {
    /// Reserved when the batch opens, waiting for free memory until the
    /// instant `until` gives (`None`: not at all; a function, so that the
    /// clock is read only if it comes to waiting) and calling `on_wait`
    /// first (so that broker threads send without lingering); refused as
    /// [`AppendRefused::BufferFull`] if it stays taken.
    Reserve { until: Option<&'a dyn Fn() -> Instant>, on_wait: &'a (dyn Fn() + Sync) },
    /// Reserved by the caller with the record; given back if the record
    /// joins an open batch (a caller that may not wait under a lock).
    Prepaid,
}

impl std::fmt::Debug for HeaderBudget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Reserve { until, .. } => {
                f.debug_struct("Reserve").field("waits", &until.is_some()).finish_non_exhaustive()
            }
            Self::Prepaid => f.write_str("Prepaid"),
        }
    }
}

/// A [`HeaderBudget::Reserve`] callback that does nothing.
#[cfg(test)]
pub(crate) const NO_WAKE: &(dyn Fn() + Sync) = &|| {};

/// Why an append took nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppendRefused {
    /// Intake is closed: `close` began.
    Closed,
    /// The record needed a new batch and `buffer.memory` had no room for its
    /// header in time.
    BufferFull,
}

/// A record of a batch rebuilt from the spool: timestamp, key, value,
/// headers.
pub(crate) type ReplayRecord<'a> = (i64, Option<&'a [u8]>, Option<&'a [u8]>, Vec<Header>);

/// The result of an append.
#[derive(Debug)]
pub(crate) struct Appended {
    /// The record's handle; `None` when a callback was given instead.
    pub handle: Option<DeliveryHandle>,
    /// Whether the leader's broker thread should look at the partition now:
    /// a batch became full, or the partition had nothing queued before.
    pub wake: bool,
    /// Whether this record brought its partition into the current
    /// transaction: the transaction manager must hear of it.
    pub joined_txn: bool,
    /// How long the append waited for memory for a new batch's header
    /// (`buffer.memory` metrics).
    pub waited: Duration,
}

/// The settings the drain logic depends on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrainPolicy {
    pub linger: Duration,
    pub idempotent: bool,
    /// Non-idempotent producers with max.in.flight = 1 keep strict order by
    /// never having two batches of a partition in flight.
    pub strict_order: bool,
    /// Most batches of one partition in flight at once (the broker's
    /// idempotence window is 5).
    pub max_in_flight_per_partition: u32,
}

/// Why a partition cannot send right now, or when it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// The head batch can be drained now.
    Ready,
    /// Nothing to send before this instant (linger or backoff).
    At(Instant),
    /// Waiting on something else (an in-flight batch, a producer id).
    Blocked,
    /// Nothing queued.
    Idle,
    /// The head batch does not fit in what is left of the request.
    NoRoom,
}

/// Decides whether partition `q`'s head batch can be sent at `now`.
/// `force` is set during flush, close, or when senders wait for memory;
/// `producer` is the current producer id/epoch (`None` while one is being
/// obtained). Pure function of its inputs, so readiness and linger are
/// unit-testable without sleeping.
pub(crate) fn readiness(
    q: &PartitionQueue,
    now: Instant,
    force: bool,
    policy: &DrainPolicy,
    producer: Option<ProducerIdEpoch>,
) -> Readiness {
    let Some(head) = q.head() else { return Readiness::Idle };
    if q.txn == TxnMark::Pending {
        // Not in the transaction yet (AddPartitionsToTxn under way).
        return Readiness::Blocked;
    }
    if policy.idempotent {
        let Some(p) = producer else { return Readiness::Blocked };
        // Sequences restart under a new producer id only after every batch
        // sent under the old one has come back.
        if q.seq.producer.is_some_and(|cur| cur != p) && q.in_flight > 0 {
            return Readiness::Blocked;
        }
        if q.in_flight >= policy.max_in_flight_per_partition {
            return Readiness::Blocked;
        }
        // A retried batch goes out alone, after everything before it came back.
        if head.attempts > 0 && q.in_flight > 0 {
            return Readiness::Blocked;
        }
    } else if policy.strict_order && q.in_flight > 0 {
        return Readiness::Blocked;
    }
    if let Some(t) = head.retry_at {
        if t > now {
            return Readiness::At(t);
        }
    }
    if !q.queue.is_empty() || force {
        return Readiness::Ready;
    }
    // Only the open batch is queued: it goes when linger.ms has passed.
    let due = head.created + policy.linger;
    if due <= now {
        Readiness::Ready
    } else {
        Readiness::At(due)
    }
}

/// Counts reserved bytes against `buffer.memory`.
#[derive(Debug)]
pub(crate) struct MemoryPool {
    total: usize,
    used: AtomicUsize,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    cond: Condvar,
}

impl MemoryPool {
    pub fn new(total: usize) -> Self {
        Self {
            total,
            used: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cond: Condvar::new(),
        }
    }

    pub fn total(&self) -> usize {
        self.total
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether some sender is blocked waiting for memory (batches should be
    /// sent without waiting for linger, as the Java client does).
    pub fn under_pressure(&self) -> bool {
        self.waiters.load(Ordering::SeqCst) > 0
    }

    /// How many senders are blocked waiting for memory (`waiting-threads`).
    pub fn waiting(&self) -> usize {
        self.waiters.load(Ordering::Relaxed)
    }

    /// Reserves `n` bytes if they are free, without blocking.
    pub fn try_reserve(&self, n: usize) -> bool {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            if cur.saturating_add(n) > self.total {
                return false;
            }
            match self.used.compare_exchange_weak(cur, cur + n, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(c) => cur = c,
            }
        }
    }

    /// Reserves `n` bytes, blocking until they are free, `deadline` passes
    /// (`None`: do not block) or `cancelled()` is true (checked under the
    /// pool's lock; [`Self::wake_waiters`] makes waiters check it again).
    /// Returns whether the bytes were reserved.
    pub fn reserve(
        &self,
        n: usize,
        deadline: Option<Instant>,
        on_wait: impl Fn(),
        cancelled: impl Fn() -> bool,
    ) -> bool {
        if self.try_reserve(n) {
            return true;
        }
        let Some(deadline) = deadline else { return false };
        let mut g = self.lock.lock();
        self.waiters.fetch_add(1, Ordering::SeqCst);
        // Let the broker threads know: batches now go out without lingering.
        on_wait();
        let ok = loop {
            if self.try_reserve(n) {
                break true;
            }
            if cancelled() {
                break false;
            }
            if self.cond.wait_until(&mut g, deadline).timed_out() {
                break self.try_reserve(n);
            }
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        ok
    }

    /// Counts `n` more bytes without checking the total (records replayed
    /// from the spool, which were accepted by an earlier run).
    pub fn charge(&self, n: usize) {
        self.used.fetch_add(n, Ordering::SeqCst);
    }

    /// Wakes every blocked sender so that it checks its `cancelled` again.
    pub fn wake_waiters(&self) {
        let _g = self.lock.lock();
        self.cond.notify_all();
    }

    /// Returns `n` bytes to the pool and wakes blocked senders.
    pub fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let prev = self.used.fetch_sub(n, Ordering::SeqCst);
        debug_assert!(prev >= n, "memory pool underflow");
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _g = self.lock.lock();
            self.cond.notify_all();
        }
    }
}

/// The next sequences a restart from the spool resumes, by topic and
/// partition, and the producer id and epoch they belong to.
type ResumedSequences = (ProducerIdEpoch, HashMap<(String, i32), i32>);

/// The accumulator.
#[derive(Debug)]
pub(crate) struct Accumulator {
    stripes: Box<[Mutex<Stripe>]>,
    pub pool: MemoryPool,
    /// Recycled batch buffers, and their total capacity.
    buffers: Mutex<(Vec<Vec<u8>>, usize)>,
    /// Batches not yet resolved, for `flush`.
    incomplete: Mutex<HashMap<u64, Arc<BatchSlot>>>,
    next_batch_id: AtomicU64,
    /// Flushes in progress: while non-zero every batch is ready at once.
    flushes: AtomicUsize,
    /// Set by `close`: `append` refuses records from then on (checked under
    /// the stripe lock, so no record joins a queue that `take_all` emptied).
    closed: AtomicBool,
    batch_size: usize,
    delivery_timeout: Duration,
    /// Where new partition queues find their topic's metrics.
    topic_metrics: Arc<TopicRegistry>,
    /// The sequences a restart from the spool resumes, by topic and
    /// partition, under the previous run's producer id and epoch: each
    /// partition's queue takes its own when it is created.
    resumed: Mutex<Option<ResumedSequences>>,
}

impl Accumulator {
    pub fn new(batch_size: usize, buffer_memory: usize, delivery_timeout: Duration) -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(Stripe::default())).collect(),
            pool: MemoryPool::new(buffer_memory),
            buffers: Mutex::new((Vec::new(), 0)),
            incomplete: Mutex::new(HashMap::new()),
            next_batch_id: AtomicU64::new(0),
            flushes: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            batch_size,
            delivery_timeout,
            topic_metrics: Arc::default(),
            resumed: Mutex::new(None),
        }
    }

    /// Takes the topics' metrics from `registry` (the producer's).
    pub fn with_topic_metrics(mut self, registry: Arc<TopicRegistry>) -> Self {
        self.topic_metrics = registry;
        self
    }

    /// Creates the queue of a newly discovered partition. Called by the
    /// metadata thread only, so that each partition gets exactly one queue.
    pub fn add_partition(&self, topic: &Arc<str>, partition: i32) -> QueueRef {
        let stripe = stripe_of(topic, partition);
        let metrics = self.topic_metrics.get(topic);
        let mut queue = PartitionQueue::new(topic.clone(), partition, metrics);
        if let Some((producer, next)) = self.resumed.lock().as_mut() {
            if let Some(next) = next.remove(&(topic.to_string(), partition)) {
                queue.seq = SeqState { producer: Some(*producer), next };
            }
        }
        let mut s = self.stripes[stripe].lock();
        s.queues.push(queue);
        QueueRef { stripe: stripe as u32, slot: (s.queues.len() - 1) as u32 }
    }

    /// Runs `f` with partition `q`'s queue locked.
    pub fn with_queue<T>(&self, q: QueueRef, f: impl FnOnce(&mut PartitionQueue) -> T) -> T {
        let mut s = self.stripes[q.stripe as usize].lock();
        f(&mut s.queues[q.slot as usize])
    }

    /// Records appended so far (every stripe's count; locks each in turn).
    pub fn records_appended(&self) -> u64 {
        self.stripes.iter().map(|s| s.lock().appended).sum()
    }

    /// Stops intake: every later `append` returns `None`. When this returns,
    /// no append that started earlier is still in progress: each stripe is
    /// locked once after the flag is set, so an append either finished
    /// (its batch is in the incomplete set, for `close` to wait on) or will
    /// see the flag (the check is under the stripe lock).
    pub fn close_intake(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for s in self.stripes.iter() {
            drop(s.lock());
        }
    }

    /// Whether a flush is in progress.
    pub fn flushing(&self) -> bool {
        self.flushes.load(Ordering::Acquire) > 0
    }

    /// Marks the start (`true`) or end (`false`) of a flush.
    pub fn set_flushing(&self, on: bool) {
        if on {
            self.flushes.fetch_add(1, Ordering::AcqRel);
        } else {
            self.flushes.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// A buffer for a new batch (or a compressed one) of about `want`
    /// bytes: recycled if one is free, else new. Batches ask for the size of
    /// their partition's previous batch (see `PartitionQueue::next_buffer`),
    /// so a busy partition gets a buffer of the right size at once and one
    /// that gets a record now and then does not reserve a whole `batch.size`
    /// (up to 1 MB) for it; buffers grow as records are appended.
    pub fn take_buffer(&self, want: usize) -> Vec<u8> {
        let want = want.clamp(BATCH_OVERHEAD, self.batch_size);
        let mut g = self.buffers.lock();
        match g.0.pop() {
            Some(mut b) => {
                g.1 -= b.capacity();
                drop(g);
                // A recycled compressed buffer may be small: size it once
                // now rather than growing it by doubling while appending.
                b.reserve(want);
                b
            }
            None => Vec::with_capacity(want),
        }
    }

    /// Gives a sealed batch's buffer back for reuse. The pool keeps
    /// ordinary-sized buffers only, up to [`RECYCLE_LIMIT`] bytes in all.
    pub fn recycle(&self, mut buf: Vec<u8>) {
        let cap = buf.capacity();
        if cap == 0 || cap > 2 * self.batch_size.max(BATCH_OVERHEAD) {
            return;
        }
        buf.clear();
        let mut g = self.buffers.lock();
        if g.1 + cap <= RECYCLE_LIMIT {
            g.1 += cap;
            g.0.push(buf);
        }
    }

    /// Appends a record to partition `q`'s open batch, opening a new batch
    /// when it would not fit. The caller reserved `rec.reserved` bytes. `now`
    /// is the creation time for a new batch (`None`: read the clock, only if
    /// a batch is opened); a new batch's header is counted as `rec.header`
    /// says. On `Err` nothing was appended (and the caller still holds its
    /// reservation): intake is closed (the producer is closing), or there
    /// was no room for a new batch's header.
    /// With `callback`, the callback is kept in the batch and no handle is
    /// made.
    pub fn append(
        &self,
        q: QueueRef,
        rec: &AppendInput<'_>,
        now: Option<Instant>,
        callback: Option<Callback>,
    ) -> Result<Appended, AppendRefused> {
        let mut callback = callback;
        // Take a buffer before locking, in case a new batch is needed.
        let mut spare: Option<Vec<u8>> = None;
        // Whether an earlier pass of the loop closed a full batch.
        let mut closed_one = false;
        let mut counted = false;
        let mut joined_txn = false;
        // Whether a new batch's header is counted in the pool already (by
        // the caller, or by an earlier pass that waited for it); given back
        // if the record joins an open batch after all.
        let mut header = matches!(rec.header, HeaderBudget::Prepaid);
        let mut waited = Duration::ZERO;
        let unused_header = |header: bool| {
            if header {
                self.pool.release(BATCH_OVERHEAD);
            }
        };
        loop {
            let mut s = self.stripes[q.stripe as usize].lock();
            if self.closed.load(Ordering::SeqCst) {
                drop(s);
                if let Some(buf) = spare.take() {
                    self.recycle(buf);
                }
                unused_header(header);
                return Err(AppendRefused::Closed);
            }
            if !counted {
                // (Once, though a pass that needs a buffer goes round twice.)
                s.appended += 1;
                counted = true;
            }
            let pq = &mut s.queues[q.slot as usize];
            // (Sticky: a pass that went round for a buffer already marked it.)
            if rec.txn != TxnJoin::No && pq.txn == TxnMark::Out {
                joined_txn = true;
                pq.txn = if rec.txn == TxnJoin::Implicit { TxnMark::Added } else { TxnMark::Pending };
            }
            let was_empty = pq.is_empty();
            let mut wake = was_empty || closed_one;
            if let Some(open) = pq.open.as_mut() {
                let w = open.writer().expect("open batch has a writer");
                let size = RecordBatchWriter::record_size(
                    rec.timestamp.wrapping_sub(w.base_timestamp()),
                    w.record_count(),
                    rec.key,
                    rec.value,
                    rec.headers,
                );
                if w.size_in_bytes() + size <= self.batch_size {
                    let handle = Self::append_locked(open, rec, self.batch_size, callback.take());
                    open.memory += rec.reserved;
                    if open.writer().is_some_and(|w| w.size_in_bytes() >= self.batch_size) {
                        // Exactly full: close it now so it goes without lingering.
                        pq.close_open();
                        wake = true;
                    }
                    drop(s);
                    unused_header(header);
                    return Ok(Appended { handle, wake, joined_txn, waited });
                }
                // Does not fit: close the open batch, it is ready to go.
                pq.close_open();
                closed_one = true;
                wake = true;
            }
            // Open a new batch (needs a buffer: get one without the lock held).
            let Some(buf) = spare.take() else {
                let want = pq.next_buffer();
                drop(s);
                spare = Some(self.take_buffer(want));
                continue;
            };
            if !header {
                match rec.header {
                    _ if self.pool.try_reserve(BATCH_OVERHEAD) => {}
                    HeaderBudget::Reserve { until, on_wait } => {
                        // Wait without the lock; the queue may change meanwhile.
                        drop(s);
                        let closed = || self.closed.load(Ordering::SeqCst);
                        let t0 = Instant::now();
                        let got = until.is_some_and(|until| {
                            self.pool.reserve(BATCH_OVERHEAD, Some(until()), on_wait, closed)
                        });
                        waited += t0.elapsed();
                        if !got {
                            self.recycle(buf);
                            return Err(if closed() {
                                AppendRefused::Closed
                            } else {
                                AppendRefused::BufferFull
                            });
                        }
                        header = true;
                        spare = Some(buf);
                        continue;
                    }
                    HeaderBudget::Prepaid => unreachable!("a prepaid header is counted"),
                }
                // (Counted now; this pass opens the batch that takes it.)
            }
            let id = self.next_batch_id.fetch_add(1, Ordering::Relaxed);
            let slot = BatchSlot::new(pq.topic.clone(), pq.partition);
            let ordinal = pq.next_ordinal;
            pq.next_ordinal += ORDINAL_STEP;
            let now = now.unwrap_or_else(Instant::now);
            let mut batch = Batch {
                slot: slot.clone(),
                queue: q,
                id,
                records: 0,
                created: now,
                deadline: now + self.delivery_timeout,
                // The batch's header is reserved when the batch opens (one
                // pool update per batch, not a reservation and a refund per
                // record).
                memory: rec.reserved + BATCH_OVERHEAD,
                payload: Payload::Open(RecordBatchWriter::new(buf, rec.timestamp)),
                attempts: 0,
                ordinal,
                split_depth: 0,
                resolved: false,
                producer: None,
                base_sequence: -1,
                maybe_persisted: false,
                retry_at: None,
                retry_now: false,
                drained_us: 0,
                uncompressed: 0,
                topic_metrics: pq.metrics.clone(),
                spool_ids: Vec::new(),
                callbacks: Callbacks(if callback.is_some() {
                    Vec::with_capacity(pq.last_records as usize)
                } else {
                    Vec::new()
                }),
            };
            let handle = Self::append_locked(&mut batch, rec, self.batch_size, callback.take());
            let full = batch.writer().is_some_and(|w| w.size_in_bytes() >= self.batch_size);
            if full {
                pq.queue.push_back(batch);
                wake = true;
            } else {
                pq.open = Some(batch);
            }
            // Leaf lock under the stripe lock (see the lock order in engine/mod.rs).
            self.incomplete.lock().insert(id, slot);
            return Ok(Appended { handle, wake, joined_txn, waited });
        }
    }

    fn append_locked(
        batch: &mut Batch,
        rec: &AppendInput<'_>,
        max_batch: usize,
        callback: Option<Callback>,
    ) -> Option<DeliveryHandle> {
        if let Some(id) = rec.spool_id {
            batch.spool_ids.push(id);
        }
        let w = batch.writer().expect("open batch has a writer");
        w.reserve(rec.size, max_batch);
        let index = w.record_count() as u32;
        w.append(rec.timestamp, rec.key, rec.value, rec.headers);
        batch.records += 1;
        let info = RecordInfo {
            index,
            timestamp: rec.timestamp,
            key_size: rec.key.map(<[u8]>::len),
            value_size: rec.value.map(<[u8]>::len),
            sent_us: rec.sent_us,
        };
        match callback {
            Some(cb) => {
                batch.callbacks.0.push((info, cb));
                None
            }
            None => Some(DeliveryHandle::new(batch.slot.clone(), info)),
        }
    }

    /// Readiness of partition `q` (see [`readiness`]).
    #[cfg(test)]
    pub fn readiness(
        &self,
        q: QueueRef,
        now: Instant,
        force: bool,
        policy: &DrainPolicy,
        producer: Option<ProducerIdEpoch>,
    ) -> Readiness {
        self.with_queue(q, |pq| readiness(pq, now, force, policy, producer))
    }

    /// Takes partition `q`'s head batch if it is ready and, unless it is the
    /// request's `first` batch, fits in `room` bytes; assigns its producer id
    /// and sequence (idempotence) under the lock so that sequences follow
    /// queue order. Batches that can no longer be sent safely (possibly
    /// persisted under an old producer id) are returned in `failed`. The
    /// returned batch is counted as in flight.
    #[allow(clippy::too_many_arguments)]
    pub fn drain(
        &self,
        q: QueueRef,
        now: Instant,
        force: bool,
        policy: &DrainPolicy,
        producer: Option<ProducerIdEpoch>,
        room: usize,
        first: bool,
        failed: &mut Vec<Batch>,
    ) -> Result<Batch, Readiness> {
        self.with_queue(q, |pq| {
            if !first && pq.head().is_some_and(|b| b.estimated_size() > room) {
                return Err(Readiness::NoRoom);
            }
            drain_locked(pq, now, force, policy, producer, failed)
        })
    }

    /// Queues a batch rebuilt from the spool after a restart: `records`
    /// (timestamp, key, value, headers) with the spool ids `spool_ids`, sent
    /// before under `producer` from `base_sequence`. It goes behind what the
    /// partition has queued, keeps that producer id and sequence (so a broker
    /// that has it answers `DUPLICATE_SEQUENCE_NUMBER`), counts as possibly
    /// persisted, and moves the partition's next sequence past it. Returns
    /// one handle per record.
    pub fn push_replayed(
        &self,
        q: QueueRef,
        records: &[ReplayRecord<'_>],
        spool_ids: Vec<u64>,
        producer: ProducerIdEpoch,
        base_sequence: i32,
        sent_us: i64,
    ) -> Vec<DeliveryHandle> {
        let Some(first) = records.first() else { return Vec::new() };
        let mut w = RecordBatchWriter::new(self.take_buffer(INITIAL_BUFFER), first.0);
        let mut infos = Vec::with_capacity(records.len());
        for (i, (ts, key, value, headers)) in records.iter().enumerate() {
            let size =
                RecordBatchWriter::record_size(ts.wrapping_sub(first.0), i as i32, *key, *value, headers);
            w.reserve(size, usize::MAX);
            w.append(*ts, *key, *value, headers);
            infos.push(RecordInfo {
                index: i as u32,
                timestamp: *ts,
                key_size: key.map(<[u8]>::len),
                value_size: value.map(<[u8]>::len),
                sent_us,
            });
        }
        let memory = w.size_in_bytes() + BATCH_OVERHEAD;
        let id = self.next_batch_id.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let next = increment_sequence(base_sequence, records.len() as i32);
        let mut s = self.stripes[q.stripe as usize].lock();
        let pq = &mut s.queues[q.slot as usize];
        let slot = BatchSlot::new(pq.topic.clone(), pq.partition);
        pq.close_open();
        let ordinal = pq.next_ordinal;
        pq.next_ordinal += ORDINAL_STEP;
        if pq.seq.producer != Some(producer) {
            pq.seq = SeqState { producer: Some(producer), next };
        } else if next > pq.seq.next {
            pq.seq.next = next;
        }
        pq.queue.push_back(Batch {
            slot: slot.clone(),
            queue: q,
            id,
            records: records.len() as u32,
            created: now,
            deadline: now + self.delivery_timeout,
            memory,
            payload: Payload::Open(w),
            attempts: 0,
            ordinal,
            split_depth: 0,
            resolved: false,
            producer: Some(producer),
            base_sequence,
            maybe_persisted: true,
            retry_at: None,
            retry_now: false,
            drained_us: 0,
            uncompressed: 0,
            topic_metrics: pq.metrics.clone(),
            spool_ids,
            callbacks: Callbacks::default(),
        });
        self.incomplete.lock().insert(id, slot.clone());
        drop(s);
        self.pool.charge(memory);
        infos.into_iter().map(|info| DeliveryHandle::new(slot.clone(), info)).collect()
    }

    /// Sets the next sequence of partitions under `producer` (a restart from
    /// the spool's producer snapshot): each partition's queue starts from its
    /// own when it is created. Call before any queue is created; a partition
    /// not named starts from 0.
    pub fn resume_sequences(
        &self,
        producer: ProducerIdEpoch,
        next: impl IntoIterator<Item = (String, i32, i32)>,
    ) {
        let next = next.into_iter().map(|(t, p, n)| ((t, p), n)).collect();
        *self.resumed.lock() = Some((producer, next));
    }

    /// Puts an in-flight batch back for a retry, in ordinal order ahead of
    /// newer batches. It stays outstanding (see [`Self::is_head_of_line`]).
    pub fn requeue(&self, batch: Batch) {
        let q = batch.queue;
        self.with_queue(q, |pq| {
            pq.in_flight = pq.in_flight.saturating_sub(1);
            insert_by_ordinal(&mut pq.queue, batch);
        });
    }

    /// Replaces an in-flight batch by the halves it was split into; they
    /// take its place in the queue (and its sequence range).
    pub fn requeue_split(&self, orig: Batch, parts: Vec<Batch>) {
        let q = orig.queue;
        let mut parts = parts;
        {
            let mut inc = self.incomplete.lock();
            inc.remove(&orig.id);
            for p in parts.iter_mut() {
                p.id = self.next_batch_id.fetch_add(1, Ordering::Relaxed);
                inc.insert(p.id, p.slot.clone());
            }
        }
        self.with_queue(q, |pq| {
            pq.in_flight = pq.in_flight.saturating_sub(1);
            pq.outstanding.remove(&orig.ordinal);
            for p in parts {
                pq.outstanding.insert(p.ordinal);
                insert_by_ordinal(&mut pq.queue, p);
            }
        });
    }

    /// Records that an in-flight batch of `q` came back for good (acked or failed).
    pub fn finalize(&self, q: QueueRef, ordinal: u128) {
        self.with_queue(q, |pq| {
            pq.in_flight = pq.in_flight.saturating_sub(1);
            pq.outstanding.remove(&ordinal);
        });
    }

    /// Removes a resolved batch from the incomplete set (for `flush`). Call
    /// only after its slot resolved and its callbacks ran: `flush` must not
    /// miss a batch whose callbacks are still running.
    pub fn forget(&self, id: u64) {
        self.incomplete.lock().remove(&id);
    }

    /// Whether no batch of `q` older than `ordinal` is unresolved.
    pub fn is_head_of_line(&self, q: QueueRef, ordinal: u128) -> bool {
        self.with_queue(q, |pq| pq.outstanding.first().is_none_or(|&o| o >= ordinal))
    }

    /// Takes every queued (not in-flight) batch of `q` whose delivery
    /// deadline has passed, or all of them if `all`.
    pub fn take_expired(&self, q: QueueRef, now: Instant, all: bool, out: &mut Vec<Batch>) {
        self.with_queue(q, |pq| {
            while pq.queue.front().is_some_and(|b| all || b.deadline <= now) {
                let b = pq.queue.pop_front().expect("front exists");
                pq.outstanding.remove(&b.ordinal);
                out.push(b);
            }
            if pq.queue.is_empty() && pq.open.as_ref().is_some_and(|b| all || b.deadline <= now) {
                out.extend(pq.open.take());
            }
        });
    }

    /// The earliest delivery deadline among `q`'s queued batches.
    pub fn next_deadline(&self, q: QueueRef) -> Option<Instant> {
        self.with_queue(q, |pq| pq.head().map(|b| b.deadline))
    }

    /// Every batch not yet resolved, for `flush`.
    pub fn incomplete(&self) -> Vec<Arc<BatchSlot>> {
        self.incomplete.lock().values().cloned().collect()
    }

    /// Number of batches not yet resolved.
    pub fn incomplete_len(&self) -> usize {
        self.incomplete.lock().len()
    }

    /// Takes every queued (not in flight) batch of every partition: used when
    /// the producer aborts (close deadline passed, fatal error).
    pub fn take_all(&self, out: &mut Vec<Batch>) {
        for s in self.stripes.iter() {
            let mut s = s.lock();
            for pq in s.queues.iter_mut() {
                for b in pq.queue.drain(..) {
                    pq.outstanding.remove(&b.ordinal);
                    out.push(b);
                }
                out.extend(pq.open.take());
            }
        }
    }
}

/// `drain` with the stripe lock held.
fn drain_locked(
    pq: &mut PartitionQueue,
    now: Instant,
    force: bool,
    policy: &DrainPolicy,
    producer: Option<ProducerIdEpoch>,
    failed: &mut Vec<Batch>,
) -> Result<Batch, Readiness> {
    match readiness(pq, now, force, policy, producer) {
        Readiness::Ready => {}
        other => return Err(other),
    }
    if policy.idempotent {
        let p = producer.expect("readiness checked the producer id");
        if pq.seq.producer != Some(p) {
            // First batch under this producer id (in_flight is 0: readiness
            // checked). Sequences restart at 0. Batches sequenced under the
            // old id that may be in the log cannot be resent under the new
            // one without risking a duplicate: they fail as possibly
            // persisted. The others are re-sequenced below, in order.
            pq.seq = SeqState { producer: Some(p), next: 0 };
            let mut kept = VecDeque::with_capacity(pq.queue.len());
            for mut b in pq.queue.drain(..) {
                if b.producer.is_some() && b.producer != Some(p) {
                    if b.maybe_persisted {
                        // It leaves the partition for good: it must not
                        // stay the head of line of batches after it.
                        pq.outstanding.remove(&b.ordinal);
                        failed.push(b);
                        continue;
                    }
                    b.producer = None;
                    b.base_sequence = -1;
                }
                kept.push_back(b);
            }
            pq.queue = kept;
            if pq.head().is_none() {
                return Err(Readiness::Idle);
            }
        }
    }
    let mut batch = match pq.queue.pop_front() {
        Some(b) => b,
        None => {
            let b = pq.open.take().expect("readiness saw a head batch");
            pq.note_closed(&b);
            b
        }
    };
    if policy.idempotent && batch.producer.is_none() {
        batch.producer = producer;
        batch.base_sequence = pq.seq.next;
        pq.seq.next = increment_sequence(pq.seq.next, batch.records as i32);
    }
    pq.in_flight += 1;
    pq.outstanding.insert(batch.ordinal);
    Ok(batch)
}

/// Inserts `batch` before the first queued batch with a larger ordinal.
fn insert_by_ordinal(queue: &mut VecDeque<Batch>, batch: Batch) {
    let at = queue.iter().position(|b| b.ordinal > batch.ordinal).unwrap_or(queue.len());
    queue.insert(at, batch);
}

/// Advances a sequence number by `n`, wrapping from `i32::MAX` to 0 as the
/// broker does.
pub(crate) fn increment_sequence(seq: i32, n: i32) -> i32 {
    if seq > i32::MAX - n {
        n - (i32::MAX - seq) - 1
    } else {
        seq + n
    }
}

/// The stripe of a partition: a hash of topic and partition.
fn stripe_of(topic: &str, partition: i32) -> usize {
    // FNV-1a: stable and cheap; only spread matters.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in topic.as_bytes().iter().chain(&partition.to_le_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h as usize) % STRIPES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> DrainPolicy {
        DrainPolicy {
            linger: Duration::from_millis(5),
            idempotent: false,
            strict_order: false,
            max_in_flight_per_partition: 5,
        }
    }

    fn rec(value: &[u8]) -> AppendInput<'_> {
        AppendInput {
            timestamp: 1000,
            key: None,
            value: Some(value),
            headers: &[],
            reserved: 200,
            size: 200,
            sent_us: 0,
            txn: TxnJoin::No,
            spool_id: None,
            header: HeaderBudget::Reserve { until: None, on_wait: NO_WAKE },
        }
    }

    fn acc(batch_size: usize) -> (Accumulator, QueueRef) {
        let a = Accumulator::new(batch_size, 1 << 20, Duration::from_secs(120));
        let q = a.add_partition(&Arc::from("t"), 0);
        (a, q)
    }

    #[test]
    fn a_partition_waits_for_its_transaction_to_include_it() {
        let (a, q) = acc(16384);
        let now = Instant::now();
        let txn = AppendInput { txn: TxnJoin::Explicit, ..rec(b"x") };
        let first = a.append(q, &txn, Some(now), None).unwrap();
        assert!(first.joined_txn, "the first record brings the partition in");
        let second = a.append(q, &txn, Some(now), None).unwrap();
        assert!(!second.joined_txn, "only once per transaction");
        // Forced (flush) or not, nothing goes before AddPartitionsToTxn.
        assert_eq!(a.readiness(q, now, true, &policy(), None), Readiness::Blocked);
        a.with_queue(q, |pq| pq.txn = TxnMark::Added);
        assert_eq!(a.readiness(q, now, true, &policy(), None), Readiness::Ready);
        // The next transaction starts over; v2 joins with the Produce itself.
        a.with_queue(q, |pq| pq.txn = TxnMark::Out);
        let v2 = AppendInput { txn: TxnJoin::Implicit, ..rec(b"y") };
        assert!(a.append(q, &v2, Some(now), None).unwrap().joined_txn);
        assert_eq!(a.with_queue(q, |pq| pq.txn), TxnMark::Added);
        // A record outside transactions never marks it.
        let (a, q) = acc(16384);
        assert!(!a.append(q, &rec(b"z"), Some(now), None).unwrap().joined_txn);
        assert_eq!(a.with_queue(q, |pq| pq.txn), TxnMark::Out);
    }

    #[test]
    fn linger_readiness_with_time_passed_in() {
        let (a, q) = acc(16384);
        let t0 = Instant::now();
        let p = policy();
        assert_eq!(a.readiness(q, t0, false, &p, None), Readiness::Idle);
        let r = a.append(q, &rec(b"hello"), Some(t0), None).unwrap();
        assert!(r.wake, "first record wakes the broker thread");
        assert_eq!(a.readiness(q, t0, false, &p, None), Readiness::At(t0 + Duration::from_millis(5)));
        assert_eq!(
            a.readiness(q, t0 + Duration::from_millis(4), false, &p, None),
            Readiness::At(t0 + p.linger)
        );
        assert_eq!(a.readiness(q, t0 + Duration::from_millis(5), false, &p, None), Readiness::Ready);
        assert_eq!(a.readiness(q, t0, true, &p, None), Readiness::Ready, "flush forces");
        let second = a.append(q, &rec(b"world"), Some(t0), None).unwrap();
        assert!(!second.wake, "no wake for a record joining a lingering batch");
        let mut failed = Vec::new();
        let b = a.drain(q, t0 + p.linger, false, &p, None, usize::MAX, true, &mut failed).unwrap();
        assert_eq!(b.records, 2);
        assert_eq!(a.readiness(q, t0 + p.linger, false, &p, None), Readiness::Idle);
    }

    #[test]
    fn full_batches_are_ready_without_linger() {
        let (a, q) = acc(200);
        let t0 = Instant::now();
        let p = policy();
        let v = [7u8; 60];
        let mut wakes = 0;
        for _ in 0..6 {
            wakes += a.append(q, &rec(&v), Some(t0), None).unwrap().wake as usize;
        }
        // 61-byte header + ~68 bytes per record: two records per batch.
        assert_eq!(a.readiness(q, t0, false, &p, None), Readiness::Ready);
        assert!(wakes >= 3);
        let mut failed = Vec::new();
        let mut counts = Vec::new();
        while let Ok(b) = a.drain(q, t0 + p.linger, false, &p, None, usize::MAX, true, &mut failed) {
            match &b.payload {
                Payload::Open(w) => assert!(w.size_in_bytes() <= 200),
                _ => panic!("unsealed"),
            }
            counts.push(b.records);
        }
        assert_eq!(counts.iter().sum::<u32>(), 6);
        assert!(counts.iter().all(|&c| c == 2), "{counts:?}");
    }

    #[test]
    fn oversize_record_gets_its_own_batch() {
        let (a, q) = acc(100);
        let t0 = Instant::now();
        a.append(q, &rec(b"small"), Some(t0), None).unwrap();
        let big = vec![1u8; 500];
        a.append(q, &rec(&big), Some(t0), None).unwrap();
        let mut failed = Vec::new();
        let p = policy();
        let b1 = a.drain(q, t0, true, &p, None, usize::MAX, true, &mut failed).unwrap();
        let b2 = a.drain(q, t0, true, &p, None, usize::MAX, true, &mut failed).unwrap();
        assert_eq!((b1.records, b2.records), (1, 1));
        assert!(b1.ordinal < b2.ordinal);
    }

    #[test]
    fn retries_keep_order_and_go_alone_when_idempotent() {
        let (a, q) = acc(100);
        let t0 = Instant::now();
        let v = [0u8; 50];
        for _ in 0..3 {
            a.append(q, &rec(&v), Some(t0), None).unwrap();
        }
        let p = DrainPolicy { idempotent: true, ..policy() };
        let pid = Some((7, 0));
        let mut failed = Vec::new();
        assert_eq!(a.readiness(q, t0, true, &p, None), Readiness::Blocked, "no producer id yet");
        let mut b0 = a.drain(q, t0, true, &p, pid, usize::MAX, true, &mut failed).unwrap();
        let mut b1 = a.drain(q, t0, true, &p, pid, usize::MAX, true, &mut failed).unwrap();
        assert_eq!((b0.base_sequence, b1.base_sequence), (0, 1));
        // Both were written in requests.
        b0.attempts = 1;
        b1.attempts = 1;
        assert!(a.is_head_of_line(q, b0.ordinal));
        assert!(!a.is_head_of_line(q, b1.ordinal));
        // b0 fails retriably and comes back; b1 is still in flight.
        a.requeue(b0);
        assert_eq!(a.readiness(q, t0, true, &p, pid), Readiness::Blocked);
        a.requeue(b1);
        let r0 = a.drain(q, t0, true, &p, pid, usize::MAX, true, &mut failed).unwrap();
        assert_eq!(r0.base_sequence, 0, "retries keep their sequence");
        assert_eq!(a.readiness(q, t0, true, &p, pid), Readiness::Blocked, "one retry at a time");
        assert!(a.is_head_of_line(q, r0.ordinal));
        a.finalize(q, r0.ordinal);
        let r1 = a.drain(q, t0, true, &p, pid, usize::MAX, true, &mut failed).unwrap();
        assert_eq!(r1.base_sequence, 1);
        a.finalize(q, r1.ordinal);
        let r2 = a.drain(q, t0, true, &p, pid, usize::MAX, true, &mut failed).unwrap();
        assert_eq!(r2.base_sequence, 2);
        assert!(failed.is_empty());
    }

    #[test]
    fn new_producer_id_resequences_and_fails_ambiguous_batches() {
        let (a, q) = acc(100);
        let t0 = Instant::now();
        let v = [0u8; 50];
        for _ in 0..3 {
            a.append(q, &rec(&v), Some(t0), None).unwrap();
        }
        let p = DrainPolicy { idempotent: true, ..policy() };
        let mut failed = Vec::new();
        let mut b0 = a.drain(q, t0, true, &p, Some((1, 0)), usize::MAX, true, &mut failed).unwrap();
        let b1 = a.drain(q, t0, true, &p, Some((1, 0)), usize::MAX, true, &mut failed).unwrap();
        b0.maybe_persisted = true; // e.g. its connection dropped after the write
        a.requeue(b0);
        a.requeue(b1);
        // The producer id was reset.
        let n = a.drain(q, t0, true, &p, Some((2, 0)), usize::MAX, true, &mut failed).unwrap();
        assert_eq!(failed.len(), 1, "the possibly persisted batch cannot be resent");
        assert_eq!(failed[0].ordinal, 0);
        assert_eq!(n.ordinal, ORDINAL_STEP);
        assert_eq!((n.base_sequence, n.producer), (0, Some((2, 0))));
    }

    #[test]
    fn a_batch_failed_at_a_producer_id_change_leaves_the_head_of_line() {
        let (a, q) = acc(100);
        let t0 = Instant::now();
        let v = [0u8; 50];
        for _ in 0..2 {
            a.append(q, &rec(&v), Some(t0), None).unwrap();
        }
        let p = DrainPolicy { idempotent: true, ..policy() };
        let mut failed = Vec::new();
        let mut b0 = a.drain(q, t0, true, &p, Some((1, 0)), usize::MAX, true, &mut failed).unwrap();
        b0.maybe_persisted = true;
        a.requeue(b0);
        // New producer id: b0 fails (possibly persisted), b1 is sent under it.
        let b1 = a.drain(q, t0, true, &p, Some((2, 0)), usize::MAX, true, &mut failed).unwrap();
        assert_eq!(failed.len(), 1);
        assert!(
            a.is_head_of_line(q, b1.ordinal),
            "a batch that left the partition still counts as the head of line"
        );
    }

    #[test]
    fn closed_intake_refuses_appends() {
        let (a, q) = acc(100);
        assert!(a.append(q, &rec(b"x"), None, None).is_ok());
        a.close_intake();
        assert!(a.append(q, &rec(b"y"), None, None).is_err());
        let mut all = Vec::new();
        a.take_all(&mut all);
        assert_eq!(all.iter().map(|b| b.records).sum::<u32>(), 1);
    }

    #[test]
    fn strict_order_without_idempotence() {
        let (a, q) = acc(100);
        let t0 = Instant::now();
        let v = [0u8; 50];
        for _ in 0..2 {
            a.append(q, &rec(&v), Some(t0), None).unwrap();
        }
        let p = DrainPolicy { strict_order: true, ..policy() };
        let mut failed = Vec::new();
        let b = a.drain(q, t0, true, &p, None, usize::MAX, true, &mut failed).unwrap();
        assert_eq!(a.readiness(q, t0, true, &p, None), Readiness::Blocked);
        a.finalize(q, b.ordinal);
        assert_eq!(a.readiness(q, t0, true, &p, None), Readiness::Ready);
    }

    #[test]
    fn expiry_takes_only_overdue_queued_batches() {
        let a = Accumulator::new(100, 1 << 20, Duration::from_millis(50));
        let q = a.add_partition(&Arc::from("t"), 0);
        let t0 = Instant::now();
        a.append(q, &rec(b"x"), Some(t0), None).unwrap();
        a.append(q, &rec(b"y"), Some(t0 + Duration::from_millis(30)), None).unwrap();
        let mut out = Vec::new();
        a.take_expired(q, t0 + Duration::from_millis(49), false, &mut out);
        assert!(out.is_empty());
        a.take_expired(q, t0 + Duration::from_millis(50), false, &mut out);
        assert_eq!(out.len(), 1, "the open batch was created at t0");
    }

    #[test]
    fn a_new_batch_header_never_takes_the_pool_past_its_total() {
        // Room for a record's reservation, not for its batch's header too.
        let a = Accumulator::new(16384, 250, Duration::from_secs(120));
        let q = a.add_partition(&Arc::from("t"), 0);
        assert!(a.pool.try_reserve(200), "as send does");
        let r = a.append(q, &rec(b"x"), None, None);
        assert!(a.pool.used() <= 250, "used {} of 250", a.pool.used());
        assert!(matches!(r, Err(AppendRefused::BufferFull)), "{r:?}");
        // With a deadline, it waits for the header's bytes to come back.
        let wait = AppendInput {
            header: HeaderBudget::Reserve {
                until: Some(&|| Instant::now() + Duration::from_secs(5)),
                on_wait: NO_WAKE,
            },
            ..rec(b"x")
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                a.pool.release(50);
            });
            a.append(q, &wait, None, None).unwrap();
        });
        assert_eq!(a.pool.used(), 150 + BATCH_OVERHEAD);
        // A record joining the open batch needs no header.
        assert!(a.pool.try_reserve(30));
        a.append(q, &rec(b"y"), None, None).unwrap();
        assert_eq!(a.pool.used(), 180 + BATCH_OVERHEAD);
        // Prepaid: the header comes with the record's reservation, and is
        // given back when the record joins an open batch.
        a.pool.charge(BATCH_OVERHEAD);
        a.append(q, &AppendInput { header: HeaderBudget::Prepaid, ..rec(b"z") }, None, None).unwrap();
        assert_eq!(a.pool.used(), 180 + BATCH_OVERHEAD);
    }

    #[test]
    fn memory_pool_bounds_and_wakes() {
        let pool = Arc::new(MemoryPool::new(100));
        assert!(pool.try_reserve(60));
        assert!(!pool.try_reserve(60));
        let t0 = Instant::now();
        assert!(!pool.reserve(60, Some(t0 + Duration::from_millis(20)), || {}, || false));
        assert!(t0.elapsed() >= Duration::from_millis(20));
        let p2 = pool.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            p2.release(60);
        });
        assert!(pool.reserve(60, Some(Instant::now() + Duration::from_secs(5)), || {}, || false));
        t.join().unwrap();
        assert_eq!(pool.used(), 60);
    }

    #[test]
    fn sequence_wraps_like_the_broker() {
        assert_eq!(increment_sequence(0, 5), 5);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        // The second half of a batch split across the wrap (what `split` in
        // broker.rs computes): 0, where `wrapping_add` gave i32::MIN.
        assert_eq!(increment_sequence(i32::MAX - 1, 2), 0);
        assert_ne!((i32::MAX - 1).wrapping_add(2), 0);
    }
}
