//! The transaction coordinator's state machine, one [`TxnMeta`] per
//! transactional id, as Kafka's `TransactionMetadata` and
//! `TransactionCoordinator` (3.x and 4.x) keep it; no sockets, no logs.
//!
//! States and transitions (Kafka's names, [`MockTxnState`]):
//!
//! ```text
//! Empty ──AddPartitions/AddOffsets──▶ Ongoing ──EndTxn──▶ PrepareCommit ──markers──▶ CompleteCommit
//!   ▲                                   │   └────EndTxn──▶ PrepareAbort  ──markers──▶ CompleteAbort
//!   └──────InitProducerId (epoch + 1)───┼──────────────────────────────────────────────┘
//!                                       └─InitProducerId / timeout: PrepareEpochFence (epoch + 1) ─▶ PrepareAbort
//! ```
//!
//! Kafka writes the markers asynchronously and answers `CONCURRENT_TRANSACTIONS`
//! meanwhile; the mock writes them at once, so its transactions pass through
//! the Prepare states within one request and are never seen there (that
//! error comes only from fault injection). The caller, the cluster state
//! ([`transactions`](super::transactions)), writes the markers a
//! [`Completion`] asks for and applies its offsets.
//!
//! Epochs: every InitProducerId bumps the epoch (a new producer id once it is
//! exhausted, at `i16::MAX - 1`); with KIP-360 (v3+) a producer that sends
//! its current id and epoch gets it bumped, a retry whose answer was lost
//! gets the same epoch again, anything else `PRODUCER_FENCED`. A fence (an
//! InitProducerId meeting an open transaction, or a timeout) bumps the epoch
//! once and aborts with markers at the bumped epoch. Transactions v2
//! (KIP-890 part 2, EndTxn v5 on a cluster with `transaction.version` 2)
//! bump the epoch on every commit and abort; the markers carry the new one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::KafkaCode;

/// Kafka's `transaction.max.timeout.ms` default: 15 minutes.
pub(crate) const DEFAULT_MAX_TIMEOUT_MS: i32 = 900_000;

/// Partitions of Kafka's `__transaction_state` and `__consumer_offsets`
/// (their default `*.num.partitions`): a key's coordinator is the leader of
/// partition `abs(hash(key)) % 50`.
const COORDINATOR_PARTITIONS: i32 = 50;

/// A topic partition, by name.
pub(crate) type TopicPartition = (String, i32);

/// The state of a transaction, with Kafka's names (`TransactionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MockTxnState {
    /// A producer id and epoch and no transaction (after InitProducerId).
    Empty,
    /// Partitions or offsets were added: a transaction is open.
    Ongoing,
    /// Committing: markers being written. Never observed in the mock, which
    /// writes them at once.
    PrepareCommit,
    /// Aborting: markers being written. Never observed in the mock.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted (by the producer, by a fence or by its
    /// timeout).
    CompleteAbort,
}

/// A transaction as its coordinator knows it, for tests
/// ([`MockCluster::transaction`](crate::mock::MockCluster::transaction)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockTransaction {
    /// Where the transaction stands.
    pub state: MockTxnState,
    /// The producer id of the transactional id.
    pub producer_id: i64,
    /// Its current epoch.
    pub producer_epoch: i16,
    /// The partitions in the open transaction, sorted (empty unless
    /// [`MockTxnState::Ongoing`]).
    pub partitions: Vec<(String, i32)>,
    /// The consumer groups whose offsets the open transaction commits
    /// (AddOffsetsToTxn), sorted.
    pub groups: Vec<String>,
    /// The transaction timeout the producer asked for, in milliseconds.
    pub timeout_ms: i32,
}

/// An offset committed for a consumer group
/// ([`MockCluster::committed_offsets`](crate::mock::MockCluster::committed_offsets)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MockCommittedOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The committed offset (the next one to consume).
    pub offset: i64,
    /// The leader epoch sent with it (TxnOffsetCommit v2+), else -1.
    pub leader_epoch: i32,
    /// The metadata string sent with it.
    pub metadata: Option<String>,
}

/// What a coordinator looks after: a transactional id, or a consumer group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CoordinatorKind {
    /// FindCoordinator key type 0.
    Group,
    /// FindCoordinator key type 1.
    Transaction,
}

/// An offset staged by TxnOffsetCommit, committed with the transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StagedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// The end of a transaction, for the cluster state to carry out: a marker
/// on each partition, and (on commit) the staged offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Completion {
    /// The producer id and epoch the markers carry.
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub partitions: Vec<TopicPartition>,
    /// Per group, the offsets to commit (empty on abort).
    pub offsets: Vec<(String, BTreeMap<TopicPartition, StagedOffset>)>,
}

/// What InitProducerId leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InitOutcome {
    /// The producer id and epoch to hand out.
    Ready(i64, i16),
    /// An open transaction was fenced and must be aborted first; Kafka
    /// answers `CONCURRENT_TRANSACTIONS` and the client retries.
    Fenced(Completion),
}

/// What a successful EndTxn leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndOutcome {
    /// The producer id and epoch to answer (EndTxn v5+).
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The markers to write, unless this was a retry of a finished EndTxn.
    pub completion: Option<Completion>,
}

/// Kafka's `TransactionMetadata.isEpochExhausted`: the coordinator keeps
/// `i16::MAX` for itself, to fence.
fn exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// One transactional id's coordinator state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxnMeta {
    pub producer_id: i64,
    /// The producer id before the last rotation, -1 if none.
    previous_producer_id: i64,
    /// -1 until the first InitProducerId completes.
    pub producer_epoch: i16,
    /// The epoch before the last bump by this producer, -1 after a fence
    /// (for InitProducerId retries, KIP-360).
    last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: MockTxnState,
    pub partitions: BTreeSet<TopicPartition>,
    /// Consumer groups added by AddOffsetsToTxn.
    pub groups: BTreeSet<String>,
    /// Offsets staged by TxnOffsetCommit, per group.
    staged: BTreeMap<String, BTreeMap<TopicPartition, StagedOffset>>,
    /// When the open transaction started (ms), -1 if none.
    started_ms: i64,
    /// Whether the last end of a transaction bumped the epoch (transactions
    /// v2): Kafka's `clientTransactionVersion`, which decides what a retried
    /// EndTxn looks like.
    bumps_on_end: bool,
}

impl TxnMeta {
    /// A transactional id seen for the first time, given `producer_id`.
    pub(crate) fn new(producer_id: i64, timeout_ms: i32) -> Self {
        Self {
            producer_id,
            previous_producer_id: -1,
            producer_epoch: -1,
            last_producer_epoch: -1,
            timeout_ms,
            state: MockTxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            staged: BTreeMap::new(),
            started_ms: -1,
            bumps_on_end: false,
        }
    }

    /// What tests see of it.
    pub(crate) fn snapshot(&self) -> MockTransaction {
        MockTransaction {
            state: self.state,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            partitions: self.partitions.iter().cloned().collect(),
            groups: self.groups.iter().cloned().collect(),
            timeout_ms: self.timeout_ms,
        }
    }

    /// Whether an open transaction outlived its timeout at `now_ms`.
    pub(crate) fn expired(&self, now_ms: i64) -> bool {
        self.state == MockTxnState::Ongoing && self.started_ms + i64::from(self.timeout_ms) < now_ms
    }

    /// InitProducerId (Kafka's `prepareInitProducerIdTransit`). `expected`
    /// is the producer id and epoch the request carried (v3+), `next_id`
    /// hands out a new producer id.
    pub(crate) fn init(
        &mut self,
        expected: Option<(i64, i16)>,
        timeout_ms: i32,
        next_id: &mut dyn FnMut() -> i64,
    ) -> Result<InitOutcome, KafkaCode> {
        if let Some((id, epoch)) = expected {
            // A new producer, the current id, or a retry of a rotation.
            let valid = self.producer_epoch == -1
                || id == self.producer_id
                || (id == self.previous_producer_id && exhausted(epoch));
            if !valid {
                return Err(KafkaCode::PRODUCER_FENCED);
            }
        }
        match self.state {
            MockTxnState::PrepareCommit | MockTxnState::PrepareAbort => {
                Err(KafkaCode::CONCURRENT_TRANSACTIONS)
            }
            MockTxnState::Ongoing => Ok(InitOutcome::Fenced(self.fence())),
            MockTxnState::Empty | MockTxnState::CompleteCommit | MockTxnState::CompleteAbort => {
                if exhausted(self.producer_epoch) && expected.is_none_or(|(_, e)| e == self.producer_epoch) {
                    // A new producer id; the old epoch is remembered for a retry.
                    let last = if expected.is_some() { self.producer_epoch } else { -1 };
                    self.previous_producer_id = self.producer_id;
                    self.producer_id = next_id();
                    self.producer_epoch = 0;
                    self.last_producer_epoch = last;
                } else {
                    let bumped = self.producer_epoch + 1;
                    let (epoch, last) = match expected {
                        None => (bumped, -1),
                        Some((_, e)) if self.producer_epoch == -1 || e == self.producer_epoch => {
                            (bumped, self.producer_epoch)
                        }
                        // A retry whose answer was lost: the same epoch again.
                        Some((_, e)) if e == self.last_producer_epoch => {
                            (self.producer_epoch, self.last_producer_epoch)
                        }
                        Some(_) => return Err(KafkaCode::PRODUCER_FENCED),
                    };
                    self.producer_epoch = epoch;
                    self.last_producer_epoch = last;
                }
                self.timeout_ms = timeout_ms;
                self.reset_to_empty();
                Ok(InitOutcome::Ready(self.producer_id, self.producer_epoch))
            }
        }
    }

    fn reset_to_empty(&mut self) {
        self.state = MockTxnState::Empty;
        self.partitions.clear();
        self.groups.clear();
        self.staged.clear();
        self.started_ms = -1;
        self.bumps_on_end = false;
    }

    /// Fences the producer of an open transaction (Kafka's
    /// `prepareFenceProducerEpoch`, then the abort): the epoch is bumped
    /// once and the transaction aborts with markers at that epoch. The
    /// caller says with [`set_bumps_on_end`](Self::set_bumps_on_end) whether
    /// the cluster runs transactions v2.
    pub(crate) fn fence(&mut self) -> Completion {
        debug_assert_eq!(self.state, MockTxnState::Ongoing);
        self.producer_epoch = self.producer_epoch.saturating_add(1);
        self.last_producer_epoch = -1;
        self.complete(false)
    }

    /// Records whether the last end bumped the epoch (see the field).
    pub(crate) fn set_bumps_on_end(&mut self, on: bool) {
        self.bumps_on_end = on;
    }

    /// Kafka's checks before AddPartitionsToTxn, AddOffsetsToTxn and the
    /// verification of a transactional Produce or TxnOffsetCommit.
    pub(crate) fn check_producer(&self, producer_id: i64, epoch: i16) -> Result<(), KafkaCode> {
        if producer_id != self.producer_id {
            Err(KafkaCode::INVALID_PRODUCER_ID_MAPPING)
        } else if epoch != self.producer_epoch {
            Err(KafkaCode::PRODUCER_FENCED)
        } else if matches!(self.state, MockTxnState::PrepareCommit | MockTxnState::PrepareAbort) {
            Err(KafkaCode::CONCURRENT_TRANSACTIONS)
        } else {
            Ok(())
        }
    }

    /// AddPartitionsToTxn and AddOffsetsToTxn (a group stands for its
    /// `__consumer_offsets` partition): opens the transaction if none is open.
    pub(crate) fn add(
        &mut self,
        producer_id: i64,
        epoch: i16,
        partitions: &[TopicPartition],
        groups: &[String],
        now_ms: i64,
    ) -> Result<(), KafkaCode> {
        self.check_producer(producer_id, epoch)?;
        if self.state != MockTxnState::Ongoing {
            self.state = MockTxnState::Ongoing;
            self.started_ms = now_ms;
            self.bumps_on_end = false;
        }
        self.partitions.extend(partitions.iter().cloned());
        self.groups.extend(groups.iter().cloned());
        Ok(())
    }

    /// Stages offsets of `group` (TxnOffsetCommit), committed with the
    /// transaction. The caller checked that the group is in it.
    pub(crate) fn stage_offsets(
        &mut self,
        group: &str,
        offsets: impl IntoIterator<Item = (TopicPartition, StagedOffset)>,
    ) {
        self.staged.entry(group.to_owned()).or_default().extend(offsets);
    }

    /// EndTxn from the client (Kafka's `endTransaction`). `bump`: the
    /// request is transactions v2 (EndTxn v5+ on a `transaction.version` 2
    /// cluster), so the epoch is bumped. Errors are Kafka's: unknown
    /// producer id `INVALID_PRODUCER_ID_MAPPING`, stale epoch
    /// `PRODUCER_FENCED`, nothing to end or the other outcome already
    /// reached `INVALID_TXN_STATE`.
    pub(crate) fn end(
        &mut self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        bump: bool,
        next_id: &mut dyn FnMut() -> i64,
    ) -> Result<EndOutcome, KafkaCode> {
        use MockTxnState::*;
        let v2 = self.bumps_on_end;
        let retry_on_overflow = v2
            && self.previous_producer_id == producer_id
            && epoch == i16::MAX - 1
            && self.producer_epoch == 0;
        let retry_on_bump = v2 && i32::from(self.producer_epoch) == i32::from(epoch) + 1;
        let valid_epoch = if v2 {
            match self.state {
                Ongoing | Empty => epoch == self.producer_epoch,
                PrepareCommit | PrepareAbort => retry_on_bump,
                CompleteCommit | CompleteAbort => retry_on_bump || retry_on_overflow,
            }
        } else {
            epoch == self.producer_epoch
        };
        if self.producer_id != producer_id && !retry_on_overflow {
            return Err(KafkaCode::INVALID_PRODUCER_ID_MAPPING);
        }
        if !valid_epoch {
            return Err(KafkaCode::PRODUCER_FENCED);
        }
        let done = || {
            Ok(EndOutcome {
                producer_id: self.producer_id,
                producer_epoch: self.producer_epoch,
                completion: None,
            })
        };
        match (self.state, commit) {
            (Ongoing, _) => {
                let rotated_id = if bump && exhausted(self.producer_epoch) { Some(next_id()) } else { None };
                if bump {
                    self.last_producer_epoch = self.producer_epoch;
                    self.producer_epoch += 1;
                }
                let completion = self.complete(commit);
                self.bumps_on_end = bump;
                if let Some(id) = rotated_id {
                    self.previous_producer_id = self.producer_id;
                    self.producer_id = id;
                    self.producer_epoch = 0;
                }
                if bump {
                    // Kafka's `prepareComplete` records the epoch the
                    // markers carried as the last one.
                    self.last_producer_epoch = completion.producer_epoch;
                }
                Ok(EndOutcome {
                    producer_id: self.producer_id,
                    producer_epoch: self.producer_epoch,
                    completion: Some(completion),
                })
            }
            // A retry of an EndTxn that went through: the same answer.
            (CompleteCommit, true) | (CompleteAbort, false) => done(),
            (PrepareCommit, true) | (PrepareAbort, false) => Err(KafkaCode::CONCURRENT_TRANSACTIONS),
            _ => Err(KafkaCode::INVALID_TXN_STATE),
        }
    }

    /// Ends the open transaction at the current producer id and epoch.
    fn complete(&mut self, commit: bool) -> Completion {
        let offsets = std::mem::take(&mut self.staged);
        let completion = Completion {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            commit,
            partitions: std::mem::take(&mut self.partitions).into_iter().collect(),
            offsets: if commit { offsets.into_iter().collect() } else { Vec::new() },
        };
        self.groups.clear();
        self.state = if commit { MockTxnState::CompleteCommit } else { MockTxnState::CompleteAbort };
        completion
    }
}

/// Kafka's `Utils.abs(key.hashCode) % partitions`, with Java's
/// `String.hashCode` (over UTF-16 code units).
pub(crate) fn coordinator_partition(key: &str) -> i32 {
    let hash = key.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % COORDINATOR_PARTITIONS
}

/// Every transactional id's state, the consumer groups' committed offsets,
/// and where each coordinator is.
#[derive(Debug)]
pub(crate) struct Coordinators {
    pub txns: BTreeMap<String, TxnMeta>,
    /// Per group, the committed offsets.
    pub committed: BTreeMap<String, BTreeMap<TopicPartition, StagedOffset>>,
    /// Coordinators moved by the test: broker and coordinator epoch.
    moved: HashMap<(CoordinatorKind, String), (i32, i32)>,
    /// `transaction.max.timeout.ms`.
    pub max_timeout_ms: i32,
    /// The finalized `transaction.version` (0: none, as Kafka 3.x).
    pub transaction_version: i16,
    /// Bumped whenever the finalized features change (ApiVersions v3+).
    pub features_epoch: i64,
}

impl Default for Coordinators {
    fn default() -> Self {
        Self {
            txns: BTreeMap::new(),
            committed: BTreeMap::new(),
            moved: HashMap::new(),
            max_timeout_ms: DEFAULT_MAX_TIMEOUT_MS,
            transaction_version: 0,
            features_epoch: -1,
        }
    }
}

impl Coordinators {
    /// The coordinator of `key` among `brokers` and its coordinator epoch:
    /// where the test moved it, else the broker hosting partition
    /// `coordinator_partition(key)` of a 50-partition internal topic placed
    /// round-robin like every topic of the mock, at epoch 0.
    pub(crate) fn locate(&self, kind: CoordinatorKind, key: &str, brokers: &[i32]) -> (i32, i32) {
        if let Some(&moved) = self.moved.get(&(kind, key.to_owned())) {
            return moved;
        }
        let n = brokers.len().max(1);
        (brokers.get(coordinator_partition(key) as usize % n).copied().unwrap_or(-1), 0)
    }

    /// Moves the coordinator of `key` to `broker`, bumping its epoch.
    pub(crate) fn relocate(&mut self, kind: CoordinatorKind, key: &str, broker: i32, brokers: &[i32]) {
        let (_, epoch) = self.locate(kind, key, brokers);
        self.moved.insert((kind, key.to_owned()), (broker, epoch + 1));
    }

    /// Commits offsets of `group`.
    pub(crate) fn commit_offsets(&mut self, group: String, offsets: BTreeMap<TopicPartition, StagedOffset>) {
        self.committed.entry(group).or_default().extend(offsets);
    }

    /// The committed offsets of `group`, sorted by partition.
    pub(crate) fn committed_offsets(&self, group: &str) -> Vec<MockCommittedOffset> {
        self.committed
            .get(group)
            .into_iter()
            .flatten()
            .map(|((topic, partition), o)| MockCommittedOffset {
                topic: topic.clone(),
                partition: *partition,
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: o.metadata.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> impl FnMut() -> i64 {
        let mut next = 2000;
        move || {
            next += 1;
            next
        }
    }

    fn ready(meta: &mut TxnMeta, expected: Option<(i64, i16)>) -> (i64, i16) {
        match meta.init(expected, 60_000, &mut ids()).unwrap() {
            InitOutcome::Ready(id, epoch) => (id, epoch),
            other => panic!("{other:?}"),
        }
    }

    fn tp(t: &str, p: i32) -> TopicPartition {
        (t.to_owned(), p)
    }

    #[test]
    fn init_bumps_and_kip_360_retries() {
        let mut m = TxnMeta::new(7, 60_000);
        assert_eq!(ready(&mut m, None), (7, 0));
        assert_eq!(ready(&mut m, None), (7, 1));
        // KIP-360: the current id and epoch bump it; the same request
        // again (its answer lost) gets the same epoch; an older one is fenced.
        assert_eq!(ready(&mut m, Some((7, 1))), (7, 2));
        assert_eq!(ready(&mut m, Some((7, 1))), (7, 2));
        assert_eq!(m.init(Some((7, 0)), 1, &mut ids()), Err(KafkaCode::PRODUCER_FENCED));
        assert_eq!(m.init(Some((8, 2)), 1, &mut ids()), Err(KafkaCode::PRODUCER_FENCED));
        // Exhausted: a new producer id at epoch 0.
        m.producer_epoch = i16::MAX - 1;
        assert_eq!(ready(&mut m, Some((7, i16::MAX - 1))), (2001, 0));
        // Its retry (the old id, an exhausted epoch) is no fence.
        assert!(m.init(Some((7, i16::MAX - 1)), 1, &mut ids()).is_ok());
    }

    #[test]
    fn commit_abort_and_idempotent_retries_v1() {
        let mut m = TxnMeta::new(7, 60_000);
        ready(&mut m, None);
        assert_eq!(m.end(7, 0, true, false, &mut ids()), Err(KafkaCode::INVALID_TXN_STATE), "nothing open");
        m.add(7, 0, &[tp("a", 0), tp("b", 1)], &["g".into()], 100).unwrap();
        m.stage_offsets("g", [(tp("in", 0), StagedOffset { offset: 5, leader_epoch: -1, metadata: None })]);
        assert_eq!(m.state, MockTxnState::Ongoing);
        assert_eq!(m.add(7, 1, &[], &[], 0), Err(KafkaCode::PRODUCER_FENCED));
        assert_eq!(m.add(8, 0, &[], &[], 0), Err(KafkaCode::INVALID_PRODUCER_ID_MAPPING));
        let out = m.end(7, 0, true, false, &mut ids()).unwrap();
        let c = out.completion.unwrap();
        assert_eq!((c.producer_id, c.producer_epoch, c.commit), (7, 0, true));
        assert_eq!(c.partitions, [tp("a", 0), tp("b", 1)]);
        assert_eq!(c.offsets.len(), 1);
        assert_eq!((m.state, m.partitions.len(), m.groups.len()), (MockTxnState::CompleteCommit, 0, 0));
        // A retry: success, no markers; the other outcome: INVALID_TXN_STATE.
        assert_eq!(m.end(7, 0, true, false, &mut ids()).unwrap().completion, None);
        assert_eq!(m.end(7, 0, false, false, &mut ids()), Err(KafkaCode::INVALID_TXN_STATE));
        assert_eq!(m.end(7, 1, true, false, &mut ids()), Err(KafkaCode::PRODUCER_FENCED));
        // Abort drops the staged offsets.
        m.add(7, 0, &[tp("a", 0)], &["g".into()], 200).unwrap();
        m.stage_offsets("g", [(tp("in", 0), StagedOffset { offset: 9, leader_epoch: -1, metadata: None })]);
        let c = m.end(7, 0, false, false, &mut ids()).unwrap().completion.unwrap();
        assert!(!c.commit && c.offsets.is_empty());
        assert_eq!(m.end(7, 0, true, false, &mut ids()), Err(KafkaCode::INVALID_TXN_STATE));
    }

    #[test]
    fn v2_bumps_the_epoch_on_every_end() {
        let mut m = TxnMeta::new(7, 60_000);
        ready(&mut m, None);
        m.add(7, 0, &[tp("a", 0)], &[], 0).unwrap();
        let out = m.end(7, 0, true, true, &mut ids()).unwrap();
        assert_eq!((out.producer_id, out.producer_epoch), (7, 1));
        assert_eq!(out.completion.unwrap().producer_epoch, 1, "markers carry the new epoch");
        // A retry with the old epoch is recognised; the new epoch is not a retry.
        let again = m.end(7, 0, true, true, &mut ids()).unwrap();
        assert_eq!((again.producer_epoch, again.completion), (1, None));
        assert_eq!(m.end(7, 1, true, true, &mut ids()), Err(KafkaCode::PRODUCER_FENCED));
        m.add(7, 1, &[tp("a", 0)], &[], 0).unwrap();
        assert_eq!(m.end(7, 1, false, true, &mut ids()).unwrap().producer_epoch, 2);
        // Epoch overflow: a new producer id at epoch 0; the retry knows it.
        m.producer_epoch = i16::MAX - 1;
        m.add(7, i16::MAX - 1, &[tp("a", 0)], &[], 0).unwrap();
        let out = m.end(7, i16::MAX - 1, true, true, &mut ids()).unwrap();
        assert_eq!((out.producer_id, out.producer_epoch), (2001, 0));
        assert_eq!(out.completion.unwrap().producer_epoch, i16::MAX);
        assert!(m.end(7, i16::MAX - 1, true, true, &mut ids()).unwrap().completion.is_none());
    }

    #[test]
    fn init_fences_an_open_transaction_and_timeouts_expire() {
        let mut m = TxnMeta::new(7, 1_000);
        assert_eq!(m.init(None, 1_000, &mut ids()), Ok(InitOutcome::Ready(7, 0)));
        m.add(7, 0, &[tp("a", 0)], &[], 10_000).unwrap();
        assert!(!m.expired(11_000) && m.expired(11_001));
        match m.init(None, 1_000, &mut ids()).unwrap() {
            InitOutcome::Fenced(c) => {
                assert_eq!((c.producer_epoch, c.commit, c.partitions.len()), (1, false, 1))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m.state, MockTxnState::CompleteAbort);
        assert!(!m.expired(i64::MAX));
        // The client retries and gets the next epoch; the old producer is fenced.
        assert_eq!(ready(&mut m, None), (7, 2));
        assert_eq!(m.add(7, 0, &[tp("a", 0)], &[], 0), Err(KafkaCode::PRODUCER_FENCED));
    }

    #[test]
    fn coordinators_hash_like_kafka_and_move() {
        // Java: "txn".hashCode() == 115306, and 115306 % 50 == 6.
        assert_eq!(coordinator_partition("txn"), 6);
        assert_eq!(coordinator_partition(""), 0);
        let mut c = Coordinators::default();
        let brokers = [1, 2, 3];
        assert_eq!(c.locate(CoordinatorKind::Transaction, "txn", &brokers), (1, 0));
        c.relocate(CoordinatorKind::Transaction, "txn", 3, &brokers);
        assert_eq!(c.locate(CoordinatorKind::Transaction, "txn", &brokers), (3, 1));
        assert_eq!(c.locate(CoordinatorKind::Group, "txn", &brokers), (1, 0), "groups apart");
    }
}
