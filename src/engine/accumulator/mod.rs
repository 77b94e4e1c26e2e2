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

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::metrics::TopicRegistry;
use crate::delivery::{BatchSlot, Callback, DeliveryHandle, RecordInfo};
use crate::protocol::record_batch::{record_fields_size, Header, RecordBatchWriter};

mod append;
mod batch;
mod pool;
mod queue;

pub(crate) use batch::{Batch, Callbacks, Payload};
pub(crate) use pool::MemoryPool;
pub(crate) use queue::{readiness, DrainPolicy, PartitionQueue, Readiness, SeqState, TxnJoin, TxnMark};

/// Number of stripes. A power of two comfortably above the number of cores
/// of typical machines, so that concurrent senders rarely share one.
pub(crate) const STRIPES: usize = 64;

/// Size of a record batch's header (everything before the first record).
pub(crate) const BATCH_OVERHEAD: usize = 61;

/// The capacity a new batch buffer starts with (at most): buffers grow on
/// demand up to the batch size, and keep their size when recycled.
pub(crate) const INITIAL_BUFFER: usize = 1 << 10;

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
    /// Its key, value and headers' encoded size
    /// ([`record_fields_size`]).
    pub fields: usize,
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
    /// Most bytes of capacity the recycled-buffer pool keeps: `buffer.memory`
    /// (see [`recycle`](Self::recycle)).
    recycle_limit: usize,
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
            recycle_limit: buffer_memory,
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
    /// ordinary-sized buffers only, up to `buffer.memory` bytes of capacity
    /// in all, as Java's `BufferPool` keeps its free buffers within
    /// `buffer.memory`. Since [`take_buffer`](Self::take_buffer) allocates
    /// only when the pool is empty, the buffers allocated (in use and
    /// pooled) never add up to more than were ever in use at once, and
    /// batch buffers are not handed back to the allocator to be asked for
    /// again moments later. Measured (librdkafka's mock, 1 KiB zstd
    /// values, 32 MiB `buffer.memory`): a 4 MiB pool let the process' peak
    /// RSS reach 63-78 MiB as glibc's per-thread arenas kept the freed
    /// megabyte buffers; a pool as large as `buffer.memory` kept it at
    /// 51-53 MiB.
    pub fn recycle(&self, mut buf: Vec<u8>) {
        let cap = buf.capacity();
        if cap == 0 || cap > 2 * self.batch_size.max(BATCH_OVERHEAD) {
            return;
        }
        buf.clear();
        let mut g = self.buffers.lock();
        if g.1 + cap <= self.recycle_limit {
            g.1 += cap;
            g.0.push(buf);
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
            let fields = record_fields_size(*key, *value, headers);
            w.reserve(w.next_size_from_fields(*ts, fields), usize::MAX);
            w.append_sized(*ts, *key, *value, headers, fields);
            infos.push(RecordInfo::new(i as u32, *ts, *key, *value, sent_us));
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
mod tests;
