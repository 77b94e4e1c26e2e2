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
    /// Oldest first; at most [`WINDOW`] long.
    window: VecDeque<BatchMeta>,
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
        // Same epoch. An entry is only created by an append, so the window is
        // never empty here.
        match entry.window.back() {
            Some(last) if next_sequence(last.last_seq) == first_seq => Verdict::Append,
            Some(last) => Verdict::Reject(
                KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
                format!(
                    "out of order sequence for producer {producer_id}: {first_seq} (incoming), {} (last appended)",
                    last.last_seq
                ),
            ),
            None => Verdict::Append,
        }
    }

    /// Records an appended batch that [`check`](Self::check) accepted.
    pub(crate) fn append(&mut self, producer_id: i64, epoch: i16, meta: BatchMeta) {
        let entry = self
            .entries
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry { epoch, window: VecDeque::new() });
        if entry.epoch != epoch {
            // Kafka's `maybeUpdateProducerEpoch`: a new epoch forgets the old batches.
            entry.epoch = epoch;
            entry.window.clear();
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
        s.append(1, 0, meta(0, 4, 100));
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
            s.append(1, 0, meta(i * 2, i * 2 + 1, i64::from(i) * 10));
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
        s.append(1, 3, meta(0, 0, 0));
        assert_eq!(code(s.check(1, 2, 1, 1, false)), KafkaCode::INVALID_PRODUCER_EPOCH);
        // Even a batch that would be a duplicate at its epoch is fenced.
        assert_eq!(code(s.check(1, 2, 0, 0, false)), KafkaCode::INVALID_PRODUCER_EPOCH);
        assert_eq!(code(s.check(1, 4, 1, 1, false)), KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
        assert_eq!(s.check(1, 4, 0, 0, false), Verdict::Append);
        s.append(1, 4, meta(0, 0, 1));
        // The old epoch's batch is forgotten: (0, 0) now means epoch 4's batch.
        assert_eq!(s.check(1, 4, 0, 0, false), Verdict::Duplicate(meta(0, 0, 1)));
        assert_eq!(s.check(1, 4, 1, 1, false), Verdict::Append);
        // Other producers are independent.
        assert_eq!(s.check(2, 0, 9, 9, false), Verdict::Append);
    }

    #[test]
    fn sequence_wraps_at_i32_max() {
        let mut s = ProducerStates::default();
        s.append(1, 0, meta(i32::MAX - 1, i32::MAX, 0));
        assert_eq!(s.check(1, 0, 0, 3, false), Verdict::Append);
        assert_eq!(code(s.check(1, 0, 1, 3, false)), KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
    }
}
