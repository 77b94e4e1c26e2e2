//! Transactions on the cluster: where the coordinators are, what each
//! transaction API does (the state machine is [`coordinator`](super::coordinator)),
//! the markers an ended transaction writes to its partitions, the offsets a
//! committed one commits, and the transactions that time out.
//!
//! A request for a transactional id (or a group) on a broker that is not its
//! coordinator gets `NOT_COORDINATOR`. The coordinator of a consumer group is
//! placed like that of a transactional id (by the same hash); the mock keeps
//! no group membership, so TxnOffsetCommit accepts any generation and member.

use super::coordinator::{
    Completion, CoordinatorKind, Coordinators, EndOutcome, InitOutcome, MockTransaction, StagedOffset,
    TopicPartition, TxnMeta,
};
use super::{now_ms, ClusterState, Rejection};
use crate::KafkaCode;

/// The first Produce version of transactions v2 (KIP-890 part 2): a
/// transactional batch adds its partition to the transaction.
pub(crate) const PRODUCE_ADDS_PARTITIONS_FROM: i16 = 12;
/// The first Produce version that knows `TRANSACTION_ABORTABLE`.
const PRODUCE_ABORTABLE_FROM: i16 = 11;
/// The first EndTxn version of transactions v2: the epoch is bumped on every
/// commit and abort, and the response carries the new one.
pub(crate) const END_TXN_BUMPS_FROM: i16 = 5;

impl ClusterState {
    pub(crate) fn coordinators(&self) -> &Coordinators {
        &self.coordinators
    }

    pub(crate) fn coordinators_mut(&mut self) -> &mut Coordinators {
        &mut self.coordinators
    }

    fn broker_list(&self) -> Vec<i32> {
        self.brokers.iter().map(|b| b.id).collect()
    }

    /// The coordinator of `key` and its coordinator epoch.
    pub(crate) fn coordinator(&self, kind: CoordinatorKind, key: &str) -> (i32, i32) {
        self.coordinators.locate(kind, key, &self.broker_list())
    }

    /// Moves the coordinator of `key` to `broker`.
    pub(crate) fn move_coordinator(
        &mut self,
        kind: CoordinatorKind,
        key: &str,
        broker: i32,
    ) -> Result<(), Rejection> {
        if !self.has_broker(broker) {
            return Err((KafkaCode::BROKER_NOT_AVAILABLE, format!("no broker {broker} in the cluster")));
        }
        let brokers = self.broker_list();
        self.coordinators.relocate(kind, key, broker, &brokers);
        Ok(())
    }

    /// `NOT_COORDINATOR` unless `broker` coordinates `key`.
    fn check_coordinator(&self, broker: i32, kind: CoordinatorKind, key: &str) -> Result<(), KafkaCode> {
        if self.coordinator(kind, key).0 == broker {
            Ok(())
        } else {
            Err(KafkaCode::NOT_COORDINATOR)
        }
    }

    /// Whether the cluster runs transactions v2 (`transaction.version` >= 2).
    pub(crate) fn transactions_v2(&self) -> bool {
        self.coordinators.transaction_version >= 2
    }

    /// Sets the finalized `transaction.version` (0: none, as Kafka 3.x).
    pub(crate) fn set_transaction_version(&mut self, version: i16) {
        let c = &mut self.coordinators;
        if c.transaction_version != version {
            c.transaction_version = version;
            c.features_epoch = c.features_epoch.max(0) + 1;
        }
    }

    /// What the coordinator of `transactional_id` knows.
    pub(crate) fn transaction(&self, transactional_id: &str) -> Option<MockTransaction> {
        self.coordinators.txns.get(transactional_id).map(TxnMeta::snapshot)
    }

    /// Aborts every open transaction older than its timeout, as Kafka's
    /// coordinator does (every 10 s there; here before each request and
    /// each look at the state): the producer is fenced (epoch + 1) and
    /// markers at the new epoch abort the transaction.
    pub(crate) fn expire_transactions(&mut self, now: i64) {
        let v2 = self.transactions_v2();
        let expired: Vec<String> =
            self.coordinators.txns.iter().filter(|(_, m)| m.expired(now)).map(|(id, _)| id.clone()).collect();
        for id in expired {
            if let Some(meta) = self.coordinators.txns.get_mut(&id) {
                let completion = meta.fence();
                meta.set_bumps_on_end(v2);
                log::info!(
                    "mock: transaction of '{id}' timed out after {} ms; aborted, producer epoch now {}",
                    meta.timeout_ms,
                    meta.producer_epoch
                );
                self.carry_out(&id, &completion);
            }
        }
    }

    /// Writes the markers of an ended transaction to its partitions (at
    /// their log ends, with the coordinator's epoch) and, on commit, commits
    /// its staged offsets.
    fn carry_out(&mut self, transactional_id: &str, c: &Completion) {
        let (_, coordinator_epoch) = self.coordinator(CoordinatorKind::Transaction, transactional_id);
        for tp in &c.partitions {
            self.write_marker(tp, c.producer_id, c.producer_epoch, c.commit, coordinator_epoch);
        }
        for (group, offsets) in &c.offsets {
            self.coordinators.commit_offsets(group.clone(), offsets.clone());
        }
    }

    /// Hands out a new producer id.
    fn take_producer_id(next: &mut i64) -> i64 {
        let id = *next;
        *next += 1;
        id
    }

    /// InitProducerId with a transactional id (Kafka's
    /// `handleInitProducerId`): a new id gets a new producer id at epoch 0,
    /// a known one its epoch bumped; an open transaction is aborted first
    /// and the request answered `CONCURRENT_TRANSACTIONS` (the client
    /// retries). `expected`: the producer id and epoch sent (v3+).
    pub(super) fn init_transactional(
        &mut self,
        broker: i32,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), KafkaCode> {
        if transactional_id.is_empty() {
            return Err(KafkaCode::INVALID_REQUEST);
        }
        if timeout_ms <= 0 || timeout_ms > self.coordinators.max_timeout_ms {
            return Err(KafkaCode::INVALID_TRANSACTION_TIMEOUT);
        }
        self.check_coordinator(broker, CoordinatorKind::Transaction, transactional_id)?;
        let v2 = self.transactions_v2();
        let next = &mut self.next_producer_id;
        let meta = self
            .coordinators
            .txns
            .entry(transactional_id.to_owned())
            .or_insert_with(|| TxnMeta::new(Self::take_producer_id(next), timeout_ms));
        match meta.init(expected, timeout_ms, &mut || Self::take_producer_id(next))? {
            InitOutcome::Ready(id, epoch) => Ok((id, epoch)),
            InitOutcome::Fenced(completion) => {
                meta.set_bumps_on_end(v2);
                self.carry_out(transactional_id, &completion);
                Err(KafkaCode::CONCURRENT_TRANSACTIONS)
            }
        }
    }

    /// The transaction of `transactional_id`, or `INVALID_PRODUCER_ID_MAPPING`.
    fn txn_mut(&mut self, transactional_id: &str) -> Result<&mut TxnMeta, KafkaCode> {
        self.coordinators.txns.get_mut(transactional_id).ok_or(KafkaCode::INVALID_PRODUCER_ID_MAPPING)
    }

    /// AddPartitionsToTxn (v0-3, and v4+ without `verify_only`) and
    /// AddOffsetsToTxn, on the coordinator `broker`: adds `partitions` and
    /// `groups` to the transaction. The topics were checked by the caller.
    pub(super) fn add_to_transaction(
        &mut self,
        broker: i32,
        transactional_id: &str,
        (producer_id, epoch): (i64, i16),
        partitions: &[TopicPartition],
        groups: &[String],
    ) -> Result<(), KafkaCode> {
        if transactional_id.is_empty() {
            return Err(KafkaCode::INVALID_REQUEST);
        }
        self.check_coordinator(broker, CoordinatorKind::Transaction, transactional_id)?;
        self.txn_mut(transactional_id)?.add(producer_id, epoch, partitions, groups, now_ms())
    }

    /// AddPartitionsToTxn v4+ with `verify_only` (Kafka's
    /// `handleVerifyPartitionsInTransaction`): per partition, `NONE` if it
    /// is in the transaction, else `TRANSACTION_ABORTABLE`.
    pub(super) fn verify_in_transaction(
        &mut self,
        broker: i32,
        transactional_id: &str,
        (producer_id, epoch): (i64, i16),
        partitions: &[TopicPartition],
    ) -> Result<Vec<KafkaCode>, KafkaCode> {
        self.check_coordinator(broker, CoordinatorKind::Transaction, transactional_id)?;
        let meta = self.txn_mut(transactional_id)?;
        meta.check_producer(producer_id, epoch)?;
        Ok(partitions
            .iter()
            .map(|tp| {
                if meta.partitions.contains(tp) {
                    KafkaCode::NONE
                } else {
                    KafkaCode::TRANSACTION_ABORTABLE
                }
            })
            .collect())
    }

    /// EndTxn on the coordinator `broker`. Transactions v2 (EndTxn v5+ on a
    /// `transaction.version` 2 cluster) bump the epoch and answer the new
    /// producer id and epoch; otherwise the answer carries -1/-1.
    pub(super) fn end_transaction(
        &mut self,
        broker: i32,
        version: i16,
        transactional_id: &str,
        (producer_id, epoch): (i64, i16),
        commit: bool,
    ) -> Result<(i64, i16), KafkaCode> {
        if transactional_id.is_empty() {
            return Err(KafkaCode::INVALID_REQUEST);
        }
        self.check_coordinator(broker, CoordinatorKind::Transaction, transactional_id)?;
        let bump = version >= END_TXN_BUMPS_FROM && self.transactions_v2();
        let next = &mut self.next_producer_id;
        let meta =
            self.coordinators.txns.get_mut(transactional_id).ok_or(KafkaCode::INVALID_PRODUCER_ID_MAPPING)?;
        let EndOutcome { producer_id, producer_epoch, completion } =
            meta.end(producer_id, epoch, commit, bump, &mut || Self::take_producer_id(next))?;
        if let Some(c) = completion {
            self.carry_out(transactional_id, &c);
        }
        Ok(if bump { (producer_id, producer_epoch) } else { (-1, -1) })
    }

    /// Checks a transactional write (a batch opening the producer's
    /// transaction on a partition, or a TxnOffsetCommit) against the
    /// transaction, as Kafka's `AddPartitionsToTxnManager` verification
    /// (KIP-890 part 1) does: in the transaction, fine; not in it, added if
    /// `may_add` (transactions v2), else refused. The codes are those a
    /// Produce answer carries; the caller maps them for older versions.
    fn check_transactional_write(
        &mut self,
        transactional_id: Option<&str>,
        (producer_id, epoch): (i64, i16),
        partition: Option<&TopicPartition>,
        group: Option<&str>,
        may_add: bool,
    ) -> Result<(), (KafkaCode, String)> {
        let Some(txn) = transactional_id else {
            return Err((
                KafkaCode::INVALID_TXN_STATE,
                "record was not part of an ongoing transaction".into(),
            ));
        };
        let meta = self.txn_mut(txn).map_err(|c| (c, format!("unknown transactional id '{txn}'")))?;
        meta.check_producer(producer_id, epoch).map_err(|c| match c {
            // Producers expect this one here.
            KafkaCode::PRODUCER_FENCED => (
                KafkaCode::INVALID_PRODUCER_EPOCH,
                format!("epoch {epoch} of producer {producer_id} is not the current {}", meta.producer_epoch),
            ),
            c => (c, format!("the transaction of '{txn}' cannot take the write")),
        })?;
        let member = partition.is_some_and(|tp| meta.partitions.contains(tp))
            || group.is_some_and(|g| meta.groups.contains(g));
        if member {
            return Ok(());
        }
        if may_add {
            let partitions: Vec<TopicPartition> = partition.cloned().into_iter().collect();
            let groups: Vec<String> = group.map(str::to_owned).into_iter().collect();
            return meta
                .add(producer_id, epoch, &partitions, &groups, now_ms())
                .map_err(|c| (c, "cannot add".into()));
        }
        Err((KafkaCode::TRANSACTION_ABORTABLE, "partition was not added to the transaction".into()))
    }

    /// Stages TxnOffsetCommit offsets of `group` in the transaction, after
    /// the check [`check_transactional_write`](Self::check_transactional_write)
    /// makes of every transactional write. The caller checked the group's
    /// coordinator and the partitions.
    pub(super) fn stage_offsets(
        &mut self,
        transactional_id: &str,
        producer: (i64, i16),
        group: &str,
        may_add: bool,
        offsets: Vec<(TopicPartition, StagedOffset)>,
    ) -> Result<(), KafkaCode> {
        self.check_transactional_write(Some(transactional_id), producer, None, Some(group), may_add)
            .map_err(|(code, _)| code)?;
        self.txn_mut(transactional_id)?.stage_offsets(group, offsets);
        Ok(())
    }

    /// The check of a transactional Produce batch that opens its producer's
    /// transaction on `partition` (see [`Self::check_transactional_write`]),
    /// with the codes Kafka's `ReplicaManager` answers at `version`.
    pub(super) fn verify_transactional_write(
        &mut self,
        version: i16,
        transactional_id: Option<&str>,
        partition: &TopicPartition,
        producer_id: i64,
        epoch: i16,
    ) -> Result<(), (KafkaCode, String)> {
        let may_add = version >= PRODUCE_ADDS_PARTITIONS_FROM && self.transactions_v2();
        self.check_transactional_write(transactional_id, (producer_id, epoch), Some(partition), None, may_add)
            .map_err(|(code, why)| match code {
                KafkaCode::TRANSACTION_ABORTABLE if version < PRODUCE_ABORTABLE_FROM => {
                    (KafkaCode::INVALID_TXN_STATE, why)
                }
                // Retriable for the coordinator; older clients would not
                // retry it, so Kafka answers NOT_ENOUGH_REPLICAS.
                KafkaCode::CONCURRENT_TRANSACTIONS if version < PRODUCE_ADDS_PARTITIONS_FROM => (
                    KafkaCode::NOT_ENOUGH_REPLICAS,
                    format!("unable to verify the partition has been added to the transaction: {why}"),
                ),
                _ => (code, why),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{batch, cluster, idem, spec};
    use super::*;
    use crate::mock::MockTxnState;
    use crate::protocol::messages::produce::PartitionProduceData;
    use crate::protocol::record_batch::BatchParams;

    fn txn(pid: i64, epoch: i16, seq: i32) -> BatchParams {
        BatchParams { is_transactional: true, ..idem(pid, epoch, seq) }
    }

    /// Produces `n` records to t-`p` at `version` for transactional id "tx".
    fn produce(c: &mut ClusterState, version: i16, p: i32, params: BatchParams) -> KafkaCode {
        let data = PartitionProduceData { index: p, records: Some(batch(2, params)) };
        let leader = c.leader("t", p).unwrap().0;
        KafkaCode(c.produce_partition(leader, version, Some("tx"), "t", &data).error_code)
    }

    fn tp(p: i32) -> TopicPartition {
        ("t".to_owned(), p)
    }

    #[test]
    fn a_transaction_from_init_to_commit_and_abort() {
        let mut c = cluster(2);
        c.create_topic(&spec("t", 2, 1), false, false).unwrap();
        let home = c.coordinator(CoordinatorKind::Transaction, "tx").0;
        let away = 3 - home;
        assert_eq!(c.init_transactional(away, "tx", 1000, None), Err(KafkaCode::NOT_COORDINATOR));
        assert_eq!(c.init_transactional(home, "tx", 0, None), Err(KafkaCode::INVALID_TRANSACTION_TIMEOUT));
        let (pid, epoch) = c.init_transactional(home, "tx", 60_000, None).unwrap();
        // Not added: refused as Kafka's verification refuses it, by version.
        assert_eq!(produce(&mut c, 10, 0, txn(pid, epoch, 0)), KafkaCode::INVALID_TXN_STATE);
        assert_eq!(produce(&mut c, 11, 0, txn(pid, epoch, 0)), KafkaCode::TRANSACTION_ABORTABLE);
        assert_eq!(
            produce(&mut c, 12, 0, txn(pid, epoch, 0)),
            KafkaCode::TRANSACTION_ABORTABLE,
            "v1 cluster"
        );
        c.add_to_transaction(home, "tx", (pid, epoch), &[tp(0), tp(1)], &[]).unwrap();
        assert_eq!(produce(&mut c, 9, 0, txn(pid, epoch, 0)), KafkaCode::NONE);
        assert_eq!(
            produce(&mut c, 9, 0, idem(pid, epoch, 2)),
            KafkaCode::INVALID_TXN_STATE,
            "not transactional"
        );
        assert_eq!(produce(&mut c, 9, 1, txn(pid, epoch + 1, 0)), KafkaCode::INVALID_PRODUCER_EPOCH);
        assert_eq!(c.last_stable_offset("t", 0), Some(0));
        assert_eq!(c.end_transaction(home, 3, "tx", (pid, epoch), true), Ok((-1, -1)));
        assert_eq!(c.control_markers("t", 0).len(), 1);
        assert_eq!(c.control_markers("t", 1).len(), 1, "a marker even where nothing was written");
        assert_eq!((c.last_stable_offset("t", 0), c.records_read_committed("t", 0).len()), (Some(3), 2));
        assert_eq!(c.end_transaction(home, 3, "tx", (pid, epoch), true), Ok((-1, -1)), "a retry");
        assert_eq!(c.end_transaction(home, 3, "tx", (pid, epoch), false), Err(KafkaCode::INVALID_TXN_STATE));
        // The next transaction, aborted; sequences go on at the same epoch.
        c.add_to_transaction(home, "tx", (pid, epoch), &[tp(0)], &[]).unwrap();
        assert_eq!(produce(&mut c, 9, 0, txn(pid, epoch, 2)), KafkaCode::NONE);
        c.end_transaction(home, 3, "tx", (pid, epoch), false).unwrap();
        assert_eq!(c.records_read_committed("t", 0).len(), 2);
        assert_eq!(c.aborted_transactions("t", 0).len(), 1);
        assert_eq!(c.transaction("tx").unwrap().state, MockTxnState::CompleteAbort);
    }

    #[test]
    fn fences_timeouts_and_transactions_v2() {
        let mut c = cluster(1);
        c.create_topic(&spec("t", 1, 1), false, false).unwrap();
        let (pid, e0) = c.init_transactional(1, "tx", 60_000, None).unwrap();
        c.add_to_transaction(1, "tx", (pid, e0), &[tp(0)], &[]).unwrap();
        assert_eq!(produce(&mut c, 9, 0, txn(pid, e0, 0)), KafkaCode::NONE);
        // A second producer: the open transaction is aborted at epoch + 1
        // (CONCURRENT_TRANSACTIONS), its retry gets epoch + 2.
        assert_eq!(c.init_transactional(1, "tx", 60_000, None), Err(KafkaCode::CONCURRENT_TRANSACTIONS));
        let marker = c.control_markers("t", 0)[0];
        assert_eq!((marker.producer_epoch, marker.commit), (e0 + 1, false));
        assert_eq!(c.init_transactional(1, "tx", 1, None), Ok((pid, e0 + 2)));
        assert_eq!(produce(&mut c, 9, 0, txn(pid, e0, 2)), KafkaCode::INVALID_PRODUCER_EPOCH);
        // A timeout aborts and fences the same way.
        c.add_to_transaction(1, "tx", (pid, e0 + 2), &[tp(0)], &[]).unwrap();
        c.expire_transactions(now_ms() + 2);
        let t = c.transaction("tx").unwrap();
        assert_eq!((t.state, t.producer_epoch), (MockTxnState::CompleteAbort, e0 + 3));
        assert_eq!(c.end_transaction(1, 3, "tx", (pid, e0 + 2), false), Err(KafkaCode::PRODUCER_FENCED));
        // Transactions v2: Produce v12 adds the partition, EndTxn v5 bumps.
        c.set_transaction_version(2);
        let (pid, e) = c.init_transactional(1, "tx", 60_000, None).unwrap();
        assert_eq!(produce(&mut c, 11, 0, txn(pid, e, 0)), KafkaCode::TRANSACTION_ABORTABLE);
        assert_eq!(produce(&mut c, 12, 0, txn(pid, e, 0)), KafkaCode::NONE);
        assert_eq!(c.transaction("tx").unwrap().partitions, [tp(0)]);
        assert_eq!(c.end_transaction(1, 5, "tx", (pid, e), true), Ok((pid, e + 1)));
        assert_eq!(c.control_markers("t", 0).last().unwrap().producer_epoch, e + 1);
        assert_eq!(c.end_transaction(1, 5, "tx", (pid, e), true), Ok((pid, e + 1)), "a retry");
        // The new epoch starts at sequence 0.
        assert_eq!(produce(&mut c, 12, 0, txn(pid, e + 1, 2)), KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
        assert_eq!(produce(&mut c, 12, 0, txn(pid, e + 1, 0)), KafkaCode::NONE);
        // EndTxn below v5 keeps transactions v1 semantics.
        assert_eq!(c.end_transaction(1, 4, "tx", (pid, e + 1), false), Ok((-1, -1)));
        assert_eq!(c.transaction("tx").unwrap().producer_epoch, e + 1);
    }
}
