//! Per (producer id, partition) sequence state, enforced the way Kafka
//! brokers enforce it (`ProducerStateManager` / `ProducerAppendInfo`,
//! Kafka 2.5 and later, unchanged through 4.x).
//!
//! For each producer id a partition remembers the producer's epoch and the
//! metadata of its last [`WINDOW`] batches (first and last sequence, base
//! offset, append time). An incoming idempotent batch is checked in this
//! order, as in Kafka's `UnifiedLog.analyzeAndValidateProducerState`:
//!
//! 1. **Duplicate**: same epoch and exactly the sequence range of a batch in
//!    the window: nothing is appended and the original batch's offset is
//!    answered (Kafka answers `NONE`; the mock can be told to answer
//!    `DUPLICATE_SEQUENCE_NUMBER` instead, see
//!    [`DuplicateAnswer`](super::DuplicateAnswer)).
//! 2. **Older epoch** than the one recorded: `INVALID_PRODUCER_EPOCH` (47).
//!    (Kafka 2.7+ throws `InvalidProducerEpochException` here; older brokers
//!    threw `ProducerFencedException`, which also carried code 47 on the wire.)
//! 3. **Newer epoch**: must start at sequence 0, else
//!    `OUT_OF_ORDER_SEQUENCE_NUMBER` (45). The window is cleared.
//! 4. **Same epoch**: the first sequence must follow the last one (`last + 1`,
//!    or 0 after `i32::MAX`), else `OUT_OF_ORDER_SEQUENCE_NUMBER` (45).
//! 5. **No state** for the producer on this partition: any sequence is
//!    accepted. Kafka 2.5+ (KIP-360) does this ("If there is no current
//!    producer epoch ... accept writes with any sequence number"); brokers
//!    before 2.5 answered `UNKNOWN_PRODUCER_ID` (59) for a first sequence
//!    other than 0, which the mock reproduces when asked (`legacy`).
//!
//! Transactions add to the entry, as Kafka's `ProducerStateEntry` does: the
//! first offset of the producer's open transaction on the partition (the last
//! stable offset cannot pass it) and the coordinator epoch of the last
//! transaction marker. A marker ends the open transaction and sets the
//! producer's epoch to its own, forgetting the batches of an older epoch: an
//! entry with no batches then expects sequence 0 at its epoch (Kafka's
//! `checkSequence` with no last sequence).

use std::collections::{HashMap, VecDeque};

use crate::KafkaCode;

/// Batches per producer and partition a broker remembers to detect duplicates
/// (Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
pub(crate) const WINDOW: usize = 5;

/// What a partition remembers about one appended idempotent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchMeta {
    /// Sequence of the batch's first record.
    pub first_seq: i32,
    /// Sequence of the batch's last record.
    pub last_seq: i32,
    /// Offset the broker gave the first record.
    pub base_offset: i64,
    /// The append time answered for the batch (`-1` with create time).
    pub append_time: i64,
}

/// One producer's state on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProducerEntry {
    epoch: i16,
    /// Oldest first; at most [`WINDOW`] long. Empty after a marker moved the
    /// producer to a new epoch.
    window: VecDeque<BatchMeta>,
    /// Offset of the first batch of the producer's open transaction here.
    txn_first_offset: Option<i64>,
    /// Coordinator epoch of the last transaction marker, -1 before one.
    coordinator_epoch: i32,
}

impl ProducerEntry {
    fn new(epoch: i16) -> Self {
        Self { epoch, window: VecDeque::new(), txn_first_offset: None, coordinator_epoch: -1 }
    }

    /// Kafka's `maybeUpdateProducerEpoch`: a new epoch forgets the old batches.
    fn set_epoch(&mut self, epoch: i16) {
        if self.epoch != epoch {
            self.epoch = epoch;
            self.window.clear();
        }
    }
}

/// The verdict on an incoming idempotent batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// In sequence: append it.
    Append,
    /// Already appended: answer with this batch's offset, append nothing.
    Duplicate(BatchMeta),
    /// Refused with this code and explanation.
    Reject(KafkaCode, String),
}

/// The sequence after `last` (Kafka's sequences wrap from `i32::MAX` to 0).
pub(crate) fn next_sequence(last: i32) -> i32 {
    if last == i32::MAX {
        0
    } else {
        last + 1
    }
}

/// The sequence of the record `delta` records after `base`, wrapping like
/// Kafka's `DefaultRecordBatch.incrementSequence`.
pub(crate) fn add_sequence(base: i32, delta: i32) -> i32 {
    let sum = i64::from(base) + i64::from(delta);
    if sum > i64::from(i32::MAX) {
        (sum - i64::from(i32::MAX) - 1) as i32
    } else {
        sum as i32
    }
}

/// Producer states of one partition.
#[derive(Debug, Default, Clone)]
pub(crate) struct ProducerStates {
    entries: HashMap<i64, ProducerEntry>,
}

impl ProducerStates {
    /// Checks an idempotent batch of `producer_id` at `epoch` covering
    /// sequences `first_seq..=last_seq`. `legacy` reproduces brokers before
    /// Kafka 2.5: `UNKNOWN_PRODUCER_ID` for an unknown producer whose first
    /// sequence is not 0.
    pub(crate) fn check(
        &self,
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        last_seq: i32,
        legacy: bool,
    ) -> Verdict {
        let Some(entry) = self.entries.get(&producer_id) else {
            if legacy && first_seq != 0 {
                return Verdict::Reject(
                    KafkaCode::UNKNOWN_PRODUCER_ID,
                    format!("no state for producer {producer_id} and first sequence {first_seq} is not 0"),
                );
            }
            return Verdict::Append;
        };
        if epoch == entry.epoch {
            if let Some(dup) =
                entry.window.iter().find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
            {
                return Verdict::Duplicate(*dup);
            }
        }
        if epoch < entry.epoch {
            return Verdict::Reject(
                KafkaCode::INVALID_PRODUCER_EPOCH,
                format!(
                    "epoch {epoch} of producer {producer_id} is older than the last seen epoch {}",
                    entry.epoch
                ),
            );
        }
        if epoch > entry.epoch {
            if first_seq != 0 {
                return Verdict::Reject(
                    KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
                    format!("new epoch {epoch} of producer {producer_id} must start at sequence 0, not {first_seq}"),
                );
            }
            return Verdict::Append;
        }
        // Same epoch. No batch at this epoch yet (a marker set it): the
        // sequence starts at 0, as after last sequence -1.
        let last = entry.window.back().map_or(-1, |b| b.last_seq);
        if next_sequence(last) == first_seq || (last == -1 && first_seq == 0) {
            Verdict::Append
        } else {
            Verdict::Reject(
                KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
                format!(
                    "out of order sequence for producer {producer_id}: {first_seq} (incoming), {last} (last appended)"
                ),
            )
        }
    }

    /// The first offset of `producer_id`'s open transaction, if it has one.
    pub(crate) fn open_transaction(&self, producer_id: i64) -> Option<i64> {
        self.entries.get(&producer_id).and_then(|e| e.txn_first_offset)
    }

    /// The first offset of the oldest open transaction: the last stable
    /// offset cannot pass it.
    pub(crate) fn first_unstable_offset(&self) -> Option<i64> {
        self.entries.values().filter_map(|e| e.txn_first_offset).min()
    }

    /// Records a transaction marker of `producer_id` at `epoch`: the
    /// producer moves to that epoch and its open transaction ends. Returns
    /// the first offset of that transaction, if data was written in it.
    pub(crate) fn end_transaction(
        &mut self,
        producer_id: i64,
        epoch: i16,
        coordinator_epoch: i32,
    ) -> Option<i64> {
        let entry = self.entries.entry(producer_id).or_insert_with(|| ProducerEntry::new(epoch));
        entry.set_epoch(epoch);
        entry.coordinator_epoch = coordinator_epoch;
        entry.txn_first_offset.take()
    }

    /// Records an appended batch that [`check`](Self::check) accepted; a
    /// transactional one opens a transaction unless one is open.
    pub(crate) fn append(&mut self, producer_id: i64, epoch: i16, meta: BatchMeta, transactional: bool) {
        let entry = self.entries.entry(producer_id).or_insert_with(|| ProducerEntry::new(epoch));
        entry.set_epoch(epoch);
        if transactional && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(meta.base_offset);
        }
        if entry.window.len() == WINDOW {
            entry.window.pop_front();
        }
        entry.window.push_back(meta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(first: i32, last: i32, offset: i64) -> BatchMeta {
        BatchMeta { first_seq: first, last_seq: last, base_offset: offset, append_time: -1 }
    }

    fn code(v: Verdict) -> KafkaCode {
        match v {
            Verdict::Reject(c, _) => c,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn sequences_wrap() {
        assert_eq!(next_sequence(i32::MAX), 0);
        assert_eq!(next_sequence(4), 5);
        assert_eq!(add_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(add_sequence(7, 2), 9);
    }

    #[test]
    fn unknown_producer_accepts_any_sequence_unless_legacy() {
        let s = ProducerStates::default();
        assert_eq!(s.check(1, 0, 0, 4, false), Verdict::Append);
        assert_eq!(s.check(1, 0, 17, 20, false), Verdict::Append);
        assert_eq!(s.check(1, 0, 0, 4, true), Verdict::Append);
        assert_eq!(code(s.check(1, 0, 17, 20, true)), KafkaCode::UNKNOWN_PRODUCER_ID);
    }

    #[test]
    fn in_order_duplicate_and_out_of_order() {
        let mut s = ProducerStates::default();
        s.append(1, 0, meta(0, 4, 100), false);
        assert_eq!(s.check(1, 0, 5, 9, false), Verdict::Append);
        assert_eq!(s.check(1, 0, 0, 4, false), Verdict::Duplicate(meta(0, 4, 100)));
        assert_eq!(code(s.check(1, 0, 6, 9, false)), KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
        // A partial overlap is not a duplicate.
        assert_eq!(code(s.check(1, 0, 0, 3, false)), KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
    }

    #[test]
    fn window_keeps_the_last_five_batches() {
        let mut s = ProducerStates::default();
        for i in 0..6 {
            s.append(1, 0, meta(i * 2, i * 2 + 1, i64::from(i) * 10), false);
        }
        // Batch 0 fell out of the window: now merely out of order.
        assert_eq!(code(s.check(1, 0, 0, 1, false)), KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
        for i in 1..6 {
            assert_eq!(
                s.check(1, 0, i * 2, i * 2 + 1, false),
                Verdict::Duplicate(meta(i * 2, i * 2 + 1, i64::from(i) * 10))
            );
        }
        assert_eq!(s.check(1, 0, 12, 12, false), Verdict::Append);
    }

    #[test]
    fn epochs() {
        let mut s = ProducerStates::default();
        s.append(1, 3, meta(0, 0, 0), false);
        assert_eq!(code(s.check(1, 2, 1, 1, false)), KafkaCode::INVALID_PRODUCER_EPOCH);
        // Even a batch that would be a duplicate at its epoch is fenced.
        assert_eq!(code(s.check(1, 2, 0, 0, false)), KafkaCode::INVALID_PRODUCER_EPOCH);
        assert_eq!(code(s.check(1, 4, 1, 1, false)), KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
        assert_eq!(s.check(1, 4, 0, 0, false), Verdict::Append);
        s.append(1, 4, meta(0, 0, 1), false);
        // The old epoch's batch is forgotten: (0, 0) now means epoch 4's batch.
        assert_eq!(s.check(1, 4, 0, 0, false), Verdict::Duplicate(meta(0, 0, 1)));
        assert_eq!(s.check(1, 4, 1, 1, false), Verdict::Append);
        // Other producers are independent.
        assert_eq!(s.check(2, 0, 9, 9, false), Verdict::Append);
    }

    #[test]
    fn sequence_wraps_at_i32_max() {
        let mut s = ProducerStates::default();
        s.append(1, 0, meta(i32::MAX - 1, i32::MAX, 0), false);
        assert_eq!(s.check(1, 0, 0, 3, false), Verdict::Append);
        assert_eq!(code(s.check(1, 0, 1, 3, false)), KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
    }

    #[test]
    fn transactions_and_markers() {
        let mut s = ProducerStates::default();
        assert_eq!(s.first_unstable_offset(), None);
        s.append(1, 0, meta(0, 1, 10), true);
        s.append(1, 0, meta(2, 2, 12), true);
        s.append(2, 0, meta(0, 0, 11), false);
        assert_eq!((s.open_transaction(1), s.open_transaction(2)), (Some(10), None));
        assert_eq!(s.first_unstable_offset(), Some(10));
        // A marker at the same epoch (transactions v1) keeps the sequences.
        assert_eq!(s.end_transaction(1, 0, 0), Some(10));
        assert_eq!(s.first_unstable_offset(), None);
        assert_eq!(s.check(1, 0, 3, 3, false), Verdict::Append);
        // A marker at a new epoch (a fence, or transactions v2): sequence 0 only.
        assert_eq!(s.end_transaction(1, 1, 0), None, "no data in this transaction");
        assert_eq!(code(s.check(1, 1, 3, 3, false)), KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
        assert_eq!(code(s.check(1, 0, 3, 3, false)), KafkaCode::INVALID_PRODUCER_EPOCH);
        assert_eq!(s.check(1, 1, 0, 4, false), Verdict::Append);
        // A producer known only from a marker.
        s.end_transaction(3, 5, 0);
        assert_eq!(code(s.check(3, 5, 7, 7, false)), KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
        assert_eq!(code(s.check(3, 4, 0, 0, false)), KafkaCode::INVALID_PRODUCER_EPOCH);
    }
}
