//! The transaction APIs on the wire: FindCoordinator (10),
//! AddPartitionsToTxn (24), AddOffsetsToTxn (25), EndTxn (26) and
//! TxnOffsetCommit (28), each read at its version, carried out by
//! [`transactions`](super::transactions), answered in that version's shape
//! and codes (`PRODUCER_FENCED` is `INVALID_PRODUCER_EPOCH` for the clients
//! that predate it, as Kafka's `KafkaApis` does). An injected error
//! (`push_request_errors`) is the answer for every key, partition or the
//! whole request, and nothing is processed.

use super::coordinator::{CoordinatorKind, StagedOffset, TopicPartition};
use super::{ClusterState, HOST};
use crate::protocol::messages::add_offsets_to_txn::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use crate::protocol::messages::add_partitions_to_txn::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse,
    AddPartitionsToTxnResult, AddPartitionsToTxnTopic, AddPartitionsToTxnTopicResult,
    BATCHED_FROM as ADD_PARTITIONS_BATCHED_FROM,
};
use crate::protocol::messages::end_txn::{EndTxnRequest, EndTxnResponse};
use crate::protocol::messages::find_coordinator::{
    Coordinator, FindCoordinatorRequest, FindCoordinatorResponse, BATCHED_FROM as FIND_BATCHED_FROM,
    KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION,
};
use crate::protocol::messages::init_producer_id::InitProducerIdResponse;
use crate::protocol::messages::txn_offset_commit::{
    TxnOffsetCommitRequest, TxnOffsetCommitResponse, TxnOffsetCommitResponsePartition,
    TxnOffsetCommitResponseTopic,
};
use crate::protocol::messages::ResponseBody;
use crate::KafkaCode;

/// The first versions that know `PRODUCER_FENCED` (Kafka sends
/// `INVALID_PRODUCER_EPOCH` below).
const ADD_PARTITIONS_FENCED_FROM: i16 = 2;
const ADD_OFFSETS_FENCED_FROM: i16 = 2;
const END_TXN_FENCED_FROM: i16 = 2;
/// The first TxnOffsetCommit version that knows `TRANSACTION_ABORTABLE`.
const TXN_OFFSET_COMMIT_ABORTABLE_FROM: i16 = 4;
/// The first TxnOffsetCommit version of transactions v2: the group joins
/// the transaction without AddOffsetsToTxn.
const TXN_OFFSET_COMMIT_ADDS_FROM: i16 = 5;

/// `PRODUCER_FENCED` as a client of `version` understands it.
fn fenced_for(code: KafkaCode, version: i16, fenced_from: i16) -> KafkaCode {
    if code == KafkaCode::PRODUCER_FENCED && version < fenced_from {
        KafkaCode::INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}

/// Puts an error injected after processing (`push_errors_after_processing`)
/// where a transaction API's answer carries its codes, as a coordinator that
/// did the work but lost the answer (e.g. `REQUEST_TIMED_OUT`): on every
/// successful key or partition, or on the whole answer (InitProducerId too).
/// Other APIs' answers are left alone.
pub(super) fn fail_after_processing(body: &mut ResponseBody, code: KafkaCode) {
    let set = |c: &mut i16| {
        if *c == 0 {
            *c = code.0;
        }
    };
    match body {
        ResponseBody::InitProducerId(r) if r.error_code == 0 => {
            *r = InitProducerIdResponse { error_code: code.0, producer_id: -1, producer_epoch: -1, ..*r };
        }
        ResponseBody::FindCoordinator(r) => {
            set(&mut r.error_code);
            r.coordinators.iter_mut().for_each(|c| set(&mut c.error_code));
        }
        ResponseBody::AddPartitionsToTxn(r) => r
            .results_by_topic
            .iter_mut()
            .chain(r.results_by_transaction.iter_mut().flat_map(|t| t.topic_results.iter_mut()))
            .flat_map(|t| t.results_by_partition.iter_mut())
            .for_each(|p| set(&mut p.partition_error_code)),
        ResponseBody::AddOffsetsToTxn(r) => set(&mut r.error_code),
        ResponseBody::EndTxn(r) if r.error_code == 0 => {
            *r = EndTxnResponse { error_code: code.0, producer_id: -1, producer_epoch: -1, ..*r };
        }
        ResponseBody::TxnOffsetCommit(r) => {
            r.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()).for_each(|p| set(&mut p.error_code))
        }
        _ => {}
    }
}

/// The results of one topic: `code` gives each partition's.
fn topic_result(
    name: &str,
    partitions: &[i32],
    mut code: impl FnMut(i32) -> KafkaCode,
) -> AddPartitionsToTxnTopicResult {
    AddPartitionsToTxnTopicResult {
        name: name.to_owned(),
        results_by_partition: partitions
            .iter()
            .map(|&p| AddPartitionsToTxnPartitionResult {
                partition_index: p,
                partition_error_code: code(p).0,
            })
            .collect(),
    }
}

impl ClusterState {
    /// FindCoordinator: the broker coordinating each key (type 0, a group;
    /// 1, a transactional id). Other key types (share groups): `INVALID_REQUEST`.
    pub(super) fn find_coordinator(
        &self,
        version: i16,
        req: &FindCoordinatorRequest,
        error: Option<KafkaCode>,
    ) -> FindCoordinatorResponse {
        let locate = |key: &str| -> Result<i32, KafkaCode> {
            if let Some(code) = error {
                return Err(code);
            }
            let kind = match req.key_type {
                KEY_TYPE_GROUP => CoordinatorKind::Group,
                KEY_TYPE_TRANSACTION => CoordinatorKind::Transaction,
                _ => return Err(KafkaCode::INVALID_REQUEST),
            };
            Ok(self.coordinator(kind, key).0)
        };
        let endpoint = |id: i32| {
            let port = self.brokers.iter().find(|b| b.id == id).map_or(-1, |b| i32::from(b.port));
            (HOST.to_owned(), port)
        };
        if version < FIND_BATCHED_FROM {
            return match locate(&req.key) {
                Ok(node_id) => {
                    let (host, port) = endpoint(node_id);
                    FindCoordinatorResponse { node_id, host, port, ..Default::default() }
                }
                Err(code) => FindCoordinatorResponse {
                    error_code: code.0,
                    error_message: (version >= 1).then(|| format!("{code}")),
                    node_id: -1,
                    port: -1,
                    ..Default::default()
                },
            };
        }
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|key| match locate(key) {
                Ok(node_id) => {
                    let (host, port) = endpoint(node_id);
                    Coordinator { key: key.clone(), node_id, host, port, ..Default::default() }
                }
                Err(code) => Coordinator {
                    key: key.clone(),
                    node_id: -1,
                    port: -1,
                    error_code: code.0,
                    error_message: Some(format!("{code}")),
                    ..Default::default()
                },
            })
            .collect();
        FindCoordinatorResponse { coordinators, ..Default::default() }
    }

    /// AddPartitionsToTxn: v0-3 (clients) one transaction, answered by
    /// topic; v4+ (brokers) several, each added or, with `verify_only`,
    /// checked (per partition `NONE` or `TRANSACTION_ABORTABLE`). A
    /// transaction with an unknown partition adds nothing: those get
    /// `UNKNOWN_TOPIC_OR_PARTITION`, the others `OPERATION_NOT_ATTEMPTED`.
    pub(super) fn add_partitions_to_txn(
        &mut self,
        broker: i32,
        version: i16,
        req: &AddPartitionsToTxnRequest,
        error: Option<KafkaCode>,
    ) -> AddPartitionsToTxnResponse {
        if version < ADD_PARTITIONS_BATCHED_FROM {
            let id = (req.producer_id, req.producer_epoch);
            let results =
                self.add_partitions_of(broker, version, &req.transactional_id, id, false, &req.topics, error);
            return AddPartitionsToTxnResponse { results_by_topic: results, ..Default::default() };
        }
        let results_by_transaction = req
            .transactions
            .iter()
            .map(|t| AddPartitionsToTxnResult {
                transactional_id: t.transactional_id.clone(),
                topic_results: self.add_partitions_of(
                    broker,
                    version,
                    &t.transactional_id,
                    (t.producer_id, t.producer_epoch),
                    t.verify_only,
                    &t.topics,
                    error,
                ),
            })
            .collect();
        AddPartitionsToTxnResponse { results_by_transaction, ..Default::default() }
    }

    /// One transaction of an AddPartitionsToTxn request.
    #[allow(clippy::too_many_arguments)]
    fn add_partitions_of(
        &mut self,
        broker: i32,
        version: i16,
        transactional_id: &str,
        producer: (i64, i16),
        verify_only: bool,
        topics: &[AddPartitionsToTxnTopic],
        error: Option<KafkaCode>,
    ) -> Vec<AddPartitionsToTxnTopicResult> {
        let all = |code: KafkaCode| -> Vec<AddPartitionsToTxnTopicResult> {
            topics.iter().map(|t| topic_result(&t.name, &t.partitions, |_| code)).collect()
        };
        if let Some(code) = error {
            return all(code);
        }
        let known = |t: &AddPartitionsToTxnTopic, p: i32| self.partition(&t.name, p).is_some();
        if topics.iter().any(|t| t.partitions.iter().any(|&p| !known(t, p))) {
            return topics
                .iter()
                .map(|t| {
                    topic_result(&t.name, &t.partitions, |p| {
                        if known(t, p) {
                            KafkaCode::OPERATION_NOT_ATTEMPTED
                        } else {
                            KafkaCode::UNKNOWN_TOPIC_OR_PARTITION
                        }
                    })
                })
                .collect();
        }
        let partitions: Vec<TopicPartition> =
            topics.iter().flat_map(|t| t.partitions.iter().map(|&p| (t.name.clone(), p))).collect();
        if verify_only {
            return match self.verify_in_transaction(broker, transactional_id, producer, &partitions) {
                Ok(codes) => {
                    let mut codes = codes.into_iter();
                    topics
                        .iter()
                        .map(|t| {
                            topic_result(&t.name, &t.partitions, |_| codes.next().unwrap_or(KafkaCode::NONE))
                        })
                        .collect()
                }
                Err(code) => all(code),
            };
        }
        let code = match self.add_to_transaction(broker, transactional_id, producer, &partitions, &[]) {
            Ok(()) => KafkaCode::NONE,
            Err(code) => fenced_for(code, version, ADD_PARTITIONS_FENCED_FROM),
        };
        all(code)
    }

    /// AddOffsetsToTxn: adds the group (its offsets partition) to the transaction.
    pub(super) fn add_offsets_to_txn(
        &mut self,
        broker: i32,
        version: i16,
        req: &AddOffsetsToTxnRequest,
        error: Option<KafkaCode>,
    ) -> AddOffsetsToTxnResponse {
        let code = error.unwrap_or_else(|| {
            let producer = (req.producer_id, req.producer_epoch);
            match self.add_to_transaction(
                broker,
                &req.transactional_id,
                producer,
                &[],
                std::slice::from_ref(&req.group_id),
            ) {
                Ok(()) => KafkaCode::NONE,
                Err(code) => fenced_for(code, version, ADD_OFFSETS_FENCED_FROM),
            }
        });
        AddOffsetsToTxnResponse { error_code: code.0, ..Default::default() }
    }

    /// EndTxn: commits or aborts, markers written at once. From v5 the
    /// answer carries the producer id and epoch (bumped with transactions
    /// v2, else -1/-1).
    pub(super) fn end_txn(
        &mut self,
        broker: i32,
        version: i16,
        req: &EndTxnRequest,
        error: Option<KafkaCode>,
    ) -> EndTxnResponse {
        let producer = (req.producer_id, req.producer_epoch);
        let result = match error {
            Some(code) => Err(code),
            None => self.end_transaction(broker, version, &req.transactional_id, producer, req.committed),
        };
        let (code, (producer_id, producer_epoch)) = match result {
            Ok(ids) => (KafkaCode::NONE, ids),
            Err(code) => (fenced_for(code, version, END_TXN_FENCED_FROM), (-1, -1)),
        };
        EndTxnResponse { error_code: code.0, producer_id, producer_epoch, ..Default::default() }
    }

    /// TxnOffsetCommit, on the group's coordinator: stages the offsets in
    /// the transaction, committed when it commits. Unknown partitions get
    /// `UNKNOWN_TOPIC_OR_PARTITION`; a group not in the transaction
    /// `TRANSACTION_ABORTABLE` (v4+) or `INVALID_TXN_STATE`, unless
    /// transactions v2 add it (v5+).
    pub(super) fn txn_offset_commit(
        &mut self,
        broker: i32,
        version: i16,
        req: &TxnOffsetCommitRequest,
        error: Option<KafkaCode>,
    ) -> TxnOffsetCommitResponse {
        let mut valid: Vec<(TopicPartition, StagedOffset)> = Vec::new();
        let mut codes: Vec<Vec<KafkaCode>> = Vec::new();
        for t in &req.topics {
            codes.push(
                t.partitions
                    .iter()
                    .map(|p| {
                        if self.partition(&t.name, p.partition_index).is_none() {
                            return KafkaCode::UNKNOWN_TOPIC_OR_PARTITION;
                        }
                        let staged = StagedOffset {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: p.committed_metadata.clone(),
                        };
                        valid.push(((t.name.clone(), p.partition_index), staged));
                        KafkaCode::NONE
                    })
                    .collect(),
            );
        }
        let outcome = match error {
            Some(code) => Err(code),
            None if valid.is_empty() => Ok(()),
            None => self.stage_txn_offsets(broker, version, req, valid),
        };
        let topics = req
            .topics
            .iter()
            .zip(codes)
            .map(|(t, codes)| TxnOffsetCommitResponseTopic {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .zip(codes)
                    .map(|(p, code)| TxnOffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        error_code: match (&outcome, error) {
                            (_, Some(injected)) => injected.0,
                            (Err(e), None) if code == KafkaCode::NONE => e.0,
                            _ => code.0,
                        },
                    })
                    .collect(),
            })
            .collect();
        TxnOffsetCommitResponse { topics, ..Default::default() }
    }

    /// The checks of a TxnOffsetCommit and the staging of its offsets.
    fn stage_txn_offsets(
        &mut self,
        broker: i32,
        version: i16,
        req: &TxnOffsetCommitRequest,
        offsets: Vec<(TopicPartition, StagedOffset)>,
    ) -> Result<(), KafkaCode> {
        if self.coordinator(CoordinatorKind::Group, &req.group_id).0 != broker {
            return Err(KafkaCode::NOT_COORDINATOR);
        }
        let may_add = version >= TXN_OFFSET_COMMIT_ADDS_FROM && self.transactions_v2();
        let producer = (req.producer_id, req.producer_epoch);
        self.stage_offsets(&req.transactional_id, producer, &req.group_id, may_add, offsets).map_err(|code| {
            if code == KafkaCode::TRANSACTION_ABORTABLE && version < TXN_OFFSET_COMMIT_ABORTABLE_FROM {
                KafkaCode::INVALID_TXN_STATE
            } else {
                code
            }
        })
    }
}
