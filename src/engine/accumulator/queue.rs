//! A partition's queue of batches, and when its head batch may be sent.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Batch, ProducerIdEpoch, INITIAL_BUFFER};
use crate::engine::metrics::TopicSensors;

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
    pub(super) metrics: Arc<TopicSensors>,
    /// The batch records are appended to.
    pub(super) open: Option<Batch>,
    /// Closed batches (full, or back for a retry), in ordinal order.
    pub(super) queue: VecDeque<Batch>,
    /// Batches of this partition in requests not yet answered.
    pub in_flight: u32,
    pub(super) next_ordinal: u128,
    /// Ordinals of batches drained at least once and not yet resolved
    /// (in flight or waiting for a retry): the smallest is the head of line.
    pub(super) outstanding: BTreeSet<u128>,
    pub seq: SeqState,
    /// Where the partition stands in the current transaction.
    pub txn: TxnMark,
    /// Size of the last batch closed here: the next batch's buffer starts
    /// about that big.
    pub(super) last_batch: usize,
    /// Records in the last batch closed here: the next batch's callback
    /// list starts that long (no regrowth while a busy batch fills).
    pub(super) last_records: u32,
}

impl PartitionQueue {
    pub(super) fn new(topic: Arc<str>, partition: i32, metrics: Arc<TopicSensors>) -> Self {
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
    pub(super) fn next_buffer(&self) -> usize {
        (self.last_batch + self.last_batch / 8).max(INITIAL_BUFFER)
    }

    /// Moves the open batch to the queue (it is full, or a record did not fit).
    pub(super) fn close_open(&mut self) {
        if let Some(b) = self.open.take() {
            self.note_closed(&b);
            self.queue.push_back(b);
        }
    }

    pub(super) fn note_closed(&mut self, b: &Batch) {
        self.last_batch = b.estimated_size();
        self.last_records = b.records;
    }

    /// Whether nothing is queued (in-flight batches are not counted).
    pub fn is_empty(&self) -> bool {
        self.open.is_none() && self.queue.is_empty()
    }

    pub(super) fn head(&self) -> Option<&Batch> {
        self.queue.front().or(self.open.as_ref())
    }
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
