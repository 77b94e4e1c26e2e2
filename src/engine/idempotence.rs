//! Idempotence: the producer id and epoch, and the policy for sequence
//! errors.
//!
//! # The policy
//!
//! - The metadata thread obtains a producer id with InitProducerId before
//!   the first batch is sent; until then no partition drains.
//! - Each partition numbers its batches from 0 (accumulator `SeqState`),
//!   assigned when a batch is first drained, in queue order. A retried batch
//!   keeps its sequence and goes out alone, after every batch before it came
//!   back, so the broker sees sequences in order.
//! - `DUPLICATE_SEQUENCE_NUMBER`: the broker already has the batch; success.
//! - `OUT_OF_ORDER_SEQUENCE_NUMBER` on a batch that is **not** the oldest
//!   unresolved one of its partition: an earlier batch failed and left a gap;
//!   retry once the earlier one is resolved (it is retriable here).
//! - `OUT_OF_ORDER_SEQUENCE_NUMBER` at the head of the line, and
//!   `UNKNOWN_PRODUCER_ID`: the broker's state for this producer no longer
//!   matches ours. Like the Java client (KIP-360) we recover instead of
//!   failing the producer, but we do it with a **new producer id** rather
//!   than an epoch bump, because not every broker accepts a bump (tansu
//!   rejects it): [`Idempotence::request_reset`]. Every partition then
//!   restarts its sequences at 0 under the new id once its in-flight batches
//!   have come back. Batches that may already be in the log (an earlier
//!   attempt was sent and never answered) are **not** resent under the new id,
//!   which could duplicate them: they fail as *possibly persisted*. The others
//!   are re-sequenced and sent.
//! - A batch that fails for good after it got a sequence (a non-retriable
//!   error, or its delivery timeout passing while it was in flight) leaves a
//!   gap or an unknown sequence behind: that also resets the producer id, so
//!   the same sequence is never used for different data.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::accumulator::ProducerIdEpoch;

#[derive(Debug, Default)]
struct State {
    current: Option<ProducerIdEpoch>,
    /// A new producer id is wanted (the current one, if any, is not used for
    /// new sequences any more).
    reset_requested: bool,
}

/// The producer id and epoch, shared by every broker thread.
#[derive(Debug)]
pub(crate) struct Idempotence {
    enabled: bool,
    /// A transactional producer's id comes from the coordinator thread
    /// (InitProducerId with its transactional id), never the metadata thread.
    transactional: bool,
    state: Mutex<State>,
    /// How many producer ids were obtained (metrics, tests).
    generations: AtomicU64,
}

impl Idempotence {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            transactional: false,
            state: Mutex::new(State::default()),
            generations: AtomicU64::new(0),
        }
    }

    /// For a transactional producer: the id is obtained by the transaction
    /// manager, not the metadata thread.
    pub fn transactional() -> Self {
        Self { transactional: true, ..Self::new(true) }
    }

    /// The installed producer id and epoch, even while a reset is wanted
    /// (the transaction manager ends the transaction under it).
    pub fn installed(&self) -> Option<ProducerIdEpoch> {
        self.state.lock().current
    }

    /// The producer id/epoch to sequence new batches with; `None` while one
    /// is being obtained (or idempotence is off).
    pub fn current(&self) -> Option<ProducerIdEpoch> {
        if !self.enabled {
            return None;
        }
        let s = self.state.lock();
        if s.reset_requested {
            None
        } else {
            s.current
        }
    }

    /// Whether the metadata thread should send InitProducerId.
    pub fn needs_producer_id(&self) -> bool {
        if !self.enabled || self.transactional {
            return false;
        }
        let s = self.state.lock();
        s.current.is_none() || s.reset_requested
    }

    /// Asks for a new producer id because `stale` can no longer be used.
    /// Ignored if the id was already replaced since.
    pub fn request_reset(&self, stale: Option<ProducerIdEpoch>) {
        let mut s = self.state.lock();
        if stale.is_none() || s.current == stale {
            if !s.reset_requested {
                log::info!("resetting the idempotent producer id (was {:?})", s.current);
            }
            s.reset_requested = true;
        }
    }

    /// Installs a producer id obtained from the broker.
    pub fn set(&self, pid: i64, epoch: i16) {
        let mut s = self.state.lock();
        let same_id = s.current.is_some_and(|(p, _)| p == pid);
        s.current = Some((pid, epoch));
        s.reset_requested = false;
        self.generations.fetch_add(1, Ordering::Relaxed);
        if same_id {
            // An epoch bump (every transaction, with transactions v2).
            log::debug!("producer id {pid}, epoch {epoch}");
        } else {
            log::info!("idempotent producer id {pid}, epoch {epoch}");
        }
    }

    /// How many producer ids have been installed.
    pub fn generations(&self) -> u64 {
        self.generations.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_only_replaces_the_stale_id() {
        let i = Idempotence::new(true);
        assert!(i.needs_producer_id());
        assert_eq!(i.current(), None);
        i.set(5, 0);
        assert_eq!(i.current(), Some((5, 0)));
        i.request_reset(Some((4, 0)));
        assert_eq!(i.current(), Some((5, 0)), "a reset for an older id is ignored");
        i.request_reset(Some((5, 0)));
        assert_eq!(i.current(), None);
        assert!(i.needs_producer_id());
        i.set(6, 0);
        assert_eq!(i.current(), Some((6, 0)));
        assert_eq!(i.generations(), 2);
    }

    #[test]
    fn disabled_never_asks() {
        let i = Idempotence::new(false);
        assert!(!i.needs_producer_id());
        assert_eq!(i.current(), None);
    }
}
