//! The mock cluster's transaction coordinator (KIP-98, KIP-890), driven by a
//! raw client over the crate's own wire codec (`support/raw.rs`), request by
//! request: no producer involved. Loopback only; every socket read has a
//! timeout, so no test can hang.

#![cfg(feature = "mock")]

use std::time::Duration;

use kafka_sync::mock::{DropPoint, MockCluster, MockTxnState};
use kafka_sync::protocol::api_key::{
    ADD_OFFSETS_TO_TXN, ADD_PARTITIONS_TO_TXN, END_TXN, FIND_COORDINATOR, INIT_PRODUCER_ID, TXN_OFFSET_COMMIT,
};
use kafka_sync::protocol::messages::add_offsets_to_txn::AddOffsetsToTxnRequest;
use kafka_sync::protocol::messages::add_partitions_to_txn::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnTopic, AddPartitionsToTxnTopicResult,
    AddPartitionsToTxnTransaction,
};
use kafka_sync::protocol::messages::api_versions::ApiVersionsRequest;
use kafka_sync::protocol::messages::end_txn::{EndTxnRequest, EndTxnResponse};
use kafka_sync::protocol::messages::find_coordinator::{FindCoordinatorRequest, KEY_TYPE_GROUP};
use kafka_sync::protocol::messages::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use kafka_sync::protocol::messages::txn_offset_commit::{
    TxnOffsetCommitRequest, TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    TxnOffsetCommitResponse,
};
use kafka_sync::protocol::record_batch::BatchParams;
use kafka_sync::KafkaCode;

#[path = "support/raw.rs"]
mod raw;

use raw::*;

const TOPIC: &str = "t";

/// A cluster of `brokers` with topic "t" of 3 partitions.
fn cluster(brokers: usize) -> MockCluster {
    let c = MockCluster::start(brokers).expect("start the mock");
    c.create_topic(TOPIC, 3, 1).unwrap();
    c
}

/// A connection to the coordinator of `txn`.
fn coordinator(c: &MockCluster, txn: &str) -> Client {
    Client::to(c, c.transaction_coordinator(txn))
}

/// A connection to the leader of partition `p` of "t".
fn leader(c: &MockCluster, p: i32) -> Client {
    Client::to(c, c.leader(TOPIC, p).unwrap())
}

fn init_request(txn: &str, timeout_ms: i32) -> InitProducerIdRequest {
    InitProducerIdRequest {
        transactional_id: Some(txn.into()),
        transaction_timeout_ms: timeout_ms,
        ..Default::default()
    }
}

/// InitProducerId v4 for `txn` (60 s timeout).
fn init(c: &mut Client, txn: &str) -> InitProducerIdResponse {
    c.call(4, &init_request(txn, 60_000))
}

/// InitProducerId that must succeed: (producer id, epoch).
fn init_ok(c: &mut Client, txn: &str) -> (i64, i16) {
    let r = init(c, txn);
    assert_eq!(KafkaCode(r.error_code), KafkaCode::NONE);
    (r.producer_id, r.producer_epoch)
}

/// Batch parameters of a transactional producer.
fn txn_params(producer: (i64, i16), base_sequence: i32) -> BatchParams {
    BatchParams { is_transactional: true, ..idempotent(producer.0, producer.1, base_sequence) }
}

/// Produces `n` transactional records to t-`p` at `version` for `txn`.
fn produce_txn(
    c: &mut Client,
    version: i16,
    txn: &str,
    p: i32,
    n: usize,
    producer: (i64, i16),
    seq: i32,
) -> (KafkaCode, i64) {
    let mut req = produce_request(-1, TOPIC, p, values(n, txn, txn_params(producer, seq)));
    req.transactional_id = Some(txn.into());
    let resp = c.call(version, &req);
    let r = only(&resp);
    (KafkaCode(r.error_code), r.base_offset)
}

/// The codes of one transaction's AddPartitionsToTxn results, flattened:
/// (topic, partition, code).
fn flat(results: &[AddPartitionsToTxnTopicResult]) -> Vec<(String, i32, KafkaCode)> {
    results
        .iter()
        .flat_map(|t| {
            t.results_by_partition
                .iter()
                .map(|p| (t.name.clone(), p.partition_index, KafkaCode(p.partition_error_code)))
        })
        .collect()
}

/// AddPartitionsToTxn (v0-3) of `partitions` of "t": the code of each.
fn add_partitions(
    c: &mut Client,
    version: i16,
    txn: &str,
    producer: (i64, i16),
    partitions: &[i32],
) -> Vec<KafkaCode> {
    let req = AddPartitionsToTxnRequest {
        transactional_id: txn.into(),
        producer_id: producer.0,
        producer_epoch: producer.1,
        topics: vec![AddPartitionsToTxnTopic { name: TOPIC.into(), partitions: partitions.to_vec() }],
        ..Default::default()
    };
    flat(&c.call(version, &req).results_by_topic).into_iter().map(|(_, _, code)| code).collect()
}

/// A connection to the coordinator of "tx" and a producer whose transaction
/// holds partitions `partitions` of "t".
fn begin(c: &MockCluster, partitions: &[i32]) -> (Client, (i64, i16)) {
    let mut conn = coordinator(c, "tx");
    let producer = init_ok(&mut conn, "tx");
    add_ok(&mut conn, "tx", producer, partitions);
    (conn, producer)
}

/// AddPartitionsToTxn v3 that must succeed.
fn add_ok(c: &mut Client, txn: &str, producer: (i64, i16), partitions: &[i32]) {
    for code in add_partitions(c, 3, txn, producer, partitions) {
        assert_eq!(code, KafkaCode::NONE);
    }
}

fn end_txn(c: &mut Client, version: i16, txn: &str, producer: (i64, i16), commit: bool) -> EndTxnResponse {
    let req = EndTxnRequest {
        transactional_id: txn.into(),
        producer_id: producer.0,
        producer_epoch: producer.1,
        committed: commit,
    };
    c.call(version, &req)
}

/// EndTxn v3: its code.
fn end(c: &mut Client, txn: &str, producer: (i64, i16), commit: bool) -> KafkaCode {
    KafkaCode(end_txn(c, 3, txn, producer, commit).error_code)
}

fn add_offsets(c: &mut Client, version: i16, txn: &str, producer: (i64, i16), group: &str) -> KafkaCode {
    let req = AddOffsetsToTxnRequest {
        transactional_id: txn.into(),
        producer_id: producer.0,
        producer_epoch: producer.1,
        group_id: group.into(),
    };
    KafkaCode(c.call(version, &req).error_code)
}

/// TxnOffsetCommit of `offsets` (topic, partition, offset).
fn commit_offsets(
    c: &mut Client,
    version: i16,
    txn: &str,
    producer: (i64, i16),
    group: &str,
    offsets: &[(&str, i32, i64)],
) -> TxnOffsetCommitResponse {
    let topics = offsets
        .iter()
        .map(|&(topic, partition, offset)| TxnOffsetCommitRequestTopic {
            name: topic.into(),
            partitions: vec![TxnOffsetCommitRequestPartition {
                partition_index: partition,
                committed_offset: offset,
                committed_leader_epoch: -1,
                committed_metadata: Some(format!("m{offset}")),
            }],
        })
        .collect();
    let req = TxnOffsetCommitRequest {
        transactional_id: txn.into(),
        group_id: group.into(),
        producer_id: producer.0,
        producer_epoch: producer.1,
        topics,
        ..Default::default()
    };
    c.call(version, &req)
}

/// The codes of a TxnOffsetCommit answer, in request order.
fn offset_codes(r: &TxnOffsetCommitResponse) -> Vec<KafkaCode> {
    r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| KafkaCode(p.error_code))).collect()
}

/// (offset, producer epoch, commit) of the markers of t-`p`.
fn markers(c: &MockCluster, p: i32) -> Vec<(i64, i16, bool)> {
    c.control_markers(TOPIC, p).iter().map(|m| (m.offset, m.producer_epoch, m.commit)).collect()
}

fn committed_values(c: &MockCluster, p: i32) -> Vec<String> {
    c.records_read_committed(TOPIC, p)
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap_or_default()).unwrap())
        .collect()
}

// ---- InitProducerId and Produce -------------------------------------------

#[test]
fn init_producer_id_fences_and_checks_timeouts() {
    let c = cluster(1);
    let mut conn = coordinator(&c, "tx");
    let (pid, e0) = init_ok(&mut conn, "tx");
    assert_eq!(e0, 0);
    // A second InitProducerId (a new producer instance) bumps the epoch.
    assert_eq!(init_ok(&mut conn, "tx"), (pid, 1));
    // KIP-360: the current id and epoch bump it; a stale epoch is fenced,
    // with the code the version knows.
    let bump = |epoch| InitProducerIdRequest {
        producer_id: pid,
        producer_epoch: epoch,
        ..init_request("tx", 60_000)
    };
    let r = conn.call(4, &bump(1));
    assert_eq!((r.error_code, r.producer_epoch), (0, 2));
    assert_eq!(conn.call(4, &bump(0)).error_code, KafkaCode::PRODUCER_FENCED.0);
    assert_eq!(conn.call(3, &bump(0)).error_code, KafkaCode::INVALID_PRODUCER_EPOCH.0);
    // transaction.max.timeout.ms.
    c.set_transaction_max_timeout(Duration::from_secs(10));
    let r = conn.call(4, &init_request("tx", 10_001));
    assert_eq!((KafkaCode(r.error_code), r.producer_id), (KafkaCode::INVALID_TRANSACTION_TIMEOUT, -1));
    assert_eq!(conn.call(4, &init_request("tx", 0)).error_code, KafkaCode::INVALID_TRANSACTION_TIMEOUT.0);
    assert_eq!(conn.call(4, &init_request("", 1000)).error_code, KafkaCode::INVALID_REQUEST.0);
    let t = c.transaction("tx").unwrap();
    assert_eq!((t.state, t.producer_id, t.producer_epoch), (MockTxnState::Empty, pid, 2));
    assert!(c.transaction("other").is_none());
}

#[test]
fn transactional_produce_needs_the_partition_in_the_transaction() {
    let c = cluster(1);
    let mut conn = coordinator(&c, "tx");
    let producer = init_ok(&mut conn, "tx");
    // Kafka's verification (KIP-890 part 1): refused, with the code each
    // Produce version knows; v12 adds nothing on a transactions v1 cluster.
    assert_eq!(produce_txn(&mut conn, 10, "tx", 0, 1, producer, 0).0, KafkaCode::INVALID_TXN_STATE);
    assert_eq!(produce_txn(&mut conn, 11, "tx", 0, 1, producer, 0).0, KafkaCode::TRANSACTION_ABORTABLE);
    assert_eq!(produce_txn(&mut conn, 12, "tx", 0, 1, producer, 0).0, KafkaCode::TRANSACTION_ABORTABLE);
    // No transactional id in the request, or one the coordinator does not know.
    let (code, _) = produce(&mut conn, TOPIC, 0, values(1, "x", txn_params(producer, 0)));
    assert_eq!(code, KafkaCode::INVALID_TXN_STATE);
    assert_eq!(
        produce_txn(&mut conn, 11, "nope", 0, 1, producer, 0).0,
        KafkaCode::INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(c.log_end_offset(TOPIC, 0), Some(0));
}

#[test]
fn api_versions_advertise_transaction_version_only_when_set() {
    let c = cluster(1);
    let mut conn = Client::to(&c, 1);
    let r = conn.call(3, &ApiVersionsRequest::default());
    assert!(r.finalized_features.is_empty() && r.supported_features.is_empty(), "Kafka 3.x: no such feature");
    for api in [10, 24, 25, 26, 28] {
        assert!(r.api_keys.iter().any(|k| k.api_key == api), "API {api} advertised");
    }
    c.set_transaction_version(2);
    let r = conn.call(3, &ApiVersionsRequest::default());
    let f = &r.finalized_features[0];
    assert_eq!((f.name.as_str(), f.min_version_level, f.max_version_level), ("transaction.version", 2, 2));
    let s = &r.supported_features[0];
    assert_eq!((s.name.as_str(), s.min_version, s.max_version), ("transaction.version", 0, 2));
    assert!(r.finalized_features_epoch >= 0);
    // v0-2 carry no features.
    assert!(conn.call(2, &ApiVersionsRequest::default()).finalized_features.is_empty());
}

// ---- commit, abort, markers, read_committed -------------------------------

#[test]
fn commit_writes_markers_and_moves_the_last_stable_offset() {
    let c = cluster(3);
    let (mut coord, producer) = begin(&c, &[0, 1]);
    let t = c.transaction("tx").unwrap();
    assert_eq!((t.state, t.partitions.len()), (MockTxnState::Ongoing, 2));
    // Some plain data first, then the transaction's.
    let (mut l0, mut l1) = (leader(&c, 0), leader(&c, 1));
    assert_eq!(produce(&mut l0, TOPIC, 0, values(2, "plain", BatchParams::default())).0, KafkaCode::NONE);
    assert_eq!(produce_txn(&mut l0, 11, "tx", 0, 3, producer, 0), (KafkaCode::NONE, 2));
    assert_eq!(produce_txn(&mut l0, 11, "tx", 0, 1, producer, 3), (KafkaCode::NONE, 5));
    assert_eq!(produce_txn(&mut l1, 11, "tx", 1, 2, producer, 0), (KafkaCode::NONE, 0));
    assert_eq!(c.last_stable_offset(TOPIC, 0), Some(2), "the open transaction holds it");
    assert_eq!(committed_values(&c, 0), ["plain-0", "plain-1"]);
    assert_eq!(c.records(TOPIC, 0).len(), 6, "read_uncommitted sees it all");

    assert_eq!(end(&mut coord, "tx", producer, true), KafkaCode::NONE);
    assert_eq!(markers(&c, 0), [(6, producer.1, true)]);
    assert_eq!(markers(&c, 1), [(2, producer.1, true)]);
    assert!(markers(&c, 2).is_empty(), "not in the transaction");
    assert_eq!(c.last_stable_offset(TOPIC, 0), Some(7));
    assert_eq!(c.records_read_committed(TOPIC, 0).len(), 6);
    assert_eq!(committed_values(&c, 1), ["tx-0", "tx-1"]);
    assert!(c.records(TOPIC, 0).iter().all(|r| r.offset != 6), "markers are not records");
    assert!(c.aborted_transactions(TOPIC, 0).is_empty());
    let m = c.control_markers(TOPIC, 0)[0];
    assert_eq!((m.producer_id, m.coordinator_epoch), (producer.0, 0));
    let t = c.transaction("tx").unwrap();
    assert_eq!((t.state, t.partitions.len()), (MockTxnState::CompleteCommit, 0));

    // The next transaction goes on with the same epoch and sequences (v1).
    add_ok(&mut coord, "tx", producer, &[0]);
    assert_eq!(produce_txn(&mut l0, 11, "tx", 0, 1, producer, 4), (KafkaCode::NONE, 7));
    assert_eq!(c.last_stable_offset(TOPIC, 0), Some(7));
}

#[test]
fn abort_writes_markers_and_hides_the_records_from_read_committed() {
    let c = cluster(1);
    let (mut conn, producer) = begin(&c, &[0]);
    produce_txn(&mut conn, 11, "tx", 0, 3, producer, 0);
    assert_eq!(end(&mut conn, "tx", producer, false), KafkaCode::NONE);
    assert_eq!(markers(&c, 0), [(3, producer.1, false)]);
    assert_eq!(c.last_stable_offset(TOPIC, 0), Some(4));
    assert!(c.records_read_committed(TOPIC, 0).is_empty());
    let aborted = c.aborted_transactions(TOPIC, 0);
    assert_eq!((aborted[0].producer_id, aborted[0].first_offset, aborted[0].last_offset), (producer.0, 0, 3));
    // A committed transaction after it is visible; the aborted one stays hidden.
    add_ok(&mut conn, "tx", producer, &[0]);
    produce_txn(&mut conn, 11, "tx", 0, 2, producer, 3);
    assert_eq!(end(&mut conn, "tx", producer, true), KafkaCode::NONE);
    assert_eq!(c.records_read_committed(TOPIC, 0).iter().map(|r| r.offset).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(c.transaction("tx").unwrap().state, MockTxnState::CompleteCommit);
}

#[test]
fn end_txn_retries_and_invalid_states() {
    let c = cluster(1);
    let mut conn = coordinator(&c, "tx");
    let producer = init_ok(&mut conn, "tx");
    assert_eq!(end(&mut conn, "tx", producer, true), KafkaCode::INVALID_TXN_STATE, "nothing open");
    assert_eq!(end(&mut conn, "other", producer, true), KafkaCode::INVALID_PRODUCER_ID_MAPPING);
    assert_eq!(end(&mut conn, "tx", (producer.0 + 1, 0), true), KafkaCode::INVALID_PRODUCER_ID_MAPPING);
    add_ok(&mut conn, "tx", producer, &[0]);
    assert_eq!(end(&mut conn, "tx", producer, true), KafkaCode::NONE);
    // The retry of an EndTxn that went through succeeds and writes nothing.
    assert_eq!(end(&mut conn, "tx", producer, true), KafkaCode::NONE);
    assert_eq!(markers(&c, 0).len(), 1);
    assert_eq!(end(&mut conn, "tx", producer, false), KafkaCode::INVALID_TXN_STATE, "abort after commit");
    add_ok(&mut conn, "tx", producer, &[0]);
    assert_eq!(end(&mut conn, "tx", producer, false), KafkaCode::NONE);
    assert_eq!(end(&mut conn, "tx", producer, true), KafkaCode::INVALID_TXN_STATE, "commit after abort");
    assert_eq!(end(&mut conn, "tx", producer, false), KafkaCode::NONE);
    assert_eq!(markers(&c, 0).len(), 2);
    // AddPartitionsToTxn: unknown partitions fail the request, the others
    // are not attempted.
    let codes = add_partitions(&mut conn, 3, "tx", producer, &[0, 9]);
    assert_eq!(codes, [KafkaCode::OPERATION_NOT_ATTEMPTED, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION]);
    assert_eq!(c.transaction("tx").unwrap().state, MockTxnState::CompleteAbort, "nothing added");
    assert_eq!(
        add_partitions(&mut conn, 3, "nope", producer, &[0]),
        [KafkaCode::INVALID_PRODUCER_ID_MAPPING]
    );
}

// ---- fencing and timeouts ---------------------------------------------------

#[test]
fn a_second_init_producer_id_fences_the_first_producer() {
    let c = cluster(1);
    let (mut old, first) = begin(&c, &[0]);
    let mut new = coordinator(&c, "tx");
    produce_txn(&mut old, 11, "tx", 0, 2, first, 0);
    // The new instance: the open transaction is aborted at epoch + 1 and
    // the request answered CONCURRENT_TRANSACTIONS; its retry gets epoch + 2.
    assert_eq!(KafkaCode(init(&mut new, "tx").error_code), KafkaCode::CONCURRENT_TRANSACTIONS);
    assert_eq!(markers(&c, 0), [(2, first.1 + 1, false)]);
    assert!(c.records_read_committed(TOPIC, 0).is_empty());
    let second = init_ok(&mut new, "tx");
    assert_eq!(second, (first.0, first.1 + 2));
    // The old producer is fenced everywhere, with the codes of each version.
    assert_eq!(produce_txn(&mut old, 11, "tx", 0, 1, first, 2).0, KafkaCode::INVALID_PRODUCER_EPOCH);
    assert_eq!(add_partitions(&mut old, 2, "tx", first, &[1]), [KafkaCode::PRODUCER_FENCED]);
    assert_eq!(add_partitions(&mut old, 1, "tx", first, &[1]), [KafkaCode::INVALID_PRODUCER_EPOCH]);
    assert_eq!(add_offsets(&mut old, 2, "tx", first, "g"), KafkaCode::PRODUCER_FENCED);
    assert_eq!(end(&mut old, "tx", first, true), KafkaCode::PRODUCER_FENCED);
    assert_eq!(
        KafkaCode(end_txn(&mut old, 1, "tx", first, false).error_code),
        KafkaCode::INVALID_PRODUCER_EPOCH
    );
    // The new one works, its sequences from 0.
    add_ok(&mut new, "tx", second, &[0]);
    assert_eq!(produce_txn(&mut new, 11, "tx", 0, 1, second, 0).0, KafkaCode::NONE);
    assert_eq!(end(&mut new, "tx", second, true), KafkaCode::NONE);
    assert_eq!(committed_values(&c, 0), ["tx-0"]);
}

#[test]
fn a_transaction_past_its_timeout_is_aborted_and_its_producer_fenced() {
    let c = cluster(1);
    let mut conn = coordinator(&c, "tx");
    let r = conn.call(4, &init_request("tx", 1_000));
    let producer = (r.producer_id, r.producer_epoch);
    add_ok(&mut conn, "tx", producer, &[0, 1]);
    produce_txn(&mut conn, 11, "tx", 0, 2, producer, 0);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(c.transaction("tx").unwrap().state, MockTxnState::Ongoing, "not yet");
    wait_until("the transaction times out", || {
        c.transaction("tx").unwrap().state == MockTxnState::CompleteAbort
    });
    assert_eq!(c.transaction("tx").unwrap().producer_epoch, producer.1 + 1);
    assert_eq!(markers(&c, 0), [(2, producer.1 + 1, false)]);
    assert_eq!(markers(&c, 1), [(0, producer.1 + 1, false)]);
    assert_eq!(c.last_stable_offset(TOPIC, 0), Some(3));
    assert!(c.records_read_committed(TOPIC, 0).is_empty());
    assert_eq!(produce_txn(&mut conn, 11, "tx", 0, 1, producer, 2).0, KafkaCode::INVALID_PRODUCER_EPOCH);
    assert_eq!(end(&mut conn, "tx", producer, true), KafkaCode::PRODUCER_FENCED);
}

// ---- transactions v2 ----------------------------------------------------------

#[test]
fn transactions_v2_add_partitions_implicitly_and_bump_the_epoch_on_end() {
    let c = cluster(1);
    // On a v1 cluster EndTxn v5 answers -1/-1 and bumps nothing.
    let (mut conn, producer) = begin(&c, &[0]);
    let r = end_txn(&mut conn, 5, "tx", producer, true);
    assert_eq!((r.error_code, r.producer_id, r.producer_epoch), (0, -1, -1));

    c.set_transaction_version(2);
    let (pid, e) = init_ok(&mut conn, "tx");
    // Produce v12 adds the partition; v11 does not.
    assert_eq!(produce_txn(&mut conn, 11, "tx", 1, 1, (pid, e), 0).0, KafkaCode::TRANSACTION_ABORTABLE);
    assert_eq!(produce_txn(&mut conn, 12, "tx", 1, 2, (pid, e), 0), (KafkaCode::NONE, 0));
    assert_eq!(c.transaction("tx").unwrap().partitions, [(TOPIC.to_owned(), 1)]);
    // EndTxn v5 bumps the epoch and answers it; the markers carry it.
    let r = end_txn(&mut conn, 5, "tx", (pid, e), true);
    assert_eq!((r.error_code, r.producer_id, r.producer_epoch), (0, pid, e + 1));
    assert_eq!(markers(&c, 1), [(2, e + 1, true)]);
    // Its retry (the old epoch) is answered the same; the old epoch is fenced elsewhere.
    let r = end_txn(&mut conn, 5, "tx", (pid, e), true);
    assert_eq!((r.error_code, r.producer_epoch), (0, e + 1));
    assert_eq!(produce_txn(&mut conn, 12, "tx", 1, 1, (pid, e), 2).0, KafkaCode::INVALID_PRODUCER_EPOCH);
    // The new epoch starts its sequences at 0.
    assert_eq!(
        produce_txn(&mut conn, 12, "tx", 1, 1, (pid, e + 1), 2).0,
        KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(produce_txn(&mut conn, 12, "tx", 1, 1, (pid, e + 1), 0), (KafkaCode::NONE, 3));
    let r = end_txn(&mut conn, 5, "tx", (pid, e + 1), false);
    assert_eq!((r.producer_id, r.producer_epoch), (pid, e + 2));
    assert_eq!(committed_values(&c, 1), ["tx-0", "tx-1"]);
}

// ---- coordinators ---------------------------------------------------------------

#[test]
fn find_coordinator_and_not_coordinator_after_a_move() {
    let c = cluster(3);
    let home = c.transaction_coordinator("tx");
    let mut any = Client::to(&c, 1);
    for version in [1, 3] {
        let r = any.call(version, &FindCoordinatorRequest::transaction("tx", version));
        assert_eq!(
            (r.error_code, r.node_id, r.port),
            (0, home, i32::from(c.broker_address(home).unwrap().port()))
        );
    }
    let r = any.call(4, &FindCoordinatorRequest::transaction("tx", 4));
    assert_eq!((r.coordinators[0].key.as_str(), r.coordinators[0].node_id), ("tx", home));
    let group = FindCoordinatorRequest { key: "g".into(), key_type: KEY_TYPE_GROUP, ..Default::default() };
    assert_eq!(any.call(2, &group).node_id, c.group_coordinator("g"));
    let share =
        FindCoordinatorRequest { coordinator_keys: vec!["s".into()], key_type: 2, ..Default::default() };
    assert_eq!(any.call(6, &share).coordinators[0].error_code, KafkaCode::INVALID_REQUEST.0);

    let (mut old, producer) = begin(&c, &[0]);
    let away = if home == 3 { 1 } else { home + 1 };
    c.move_transaction_coordinator("tx", away).unwrap();
    let r = any.call(3, &FindCoordinatorRequest::transaction("tx", 3));
    assert_eq!(r.node_id, away);
    // The old coordinator refuses; the new one has the transaction.
    assert_eq!(KafkaCode(init(&mut old, "tx").error_code), KafkaCode::NOT_COORDINATOR);
    assert_eq!(add_partitions(&mut old, 3, "tx", producer, &[1]), [KafkaCode::NOT_COORDINATOR]);
    assert_eq!(end(&mut old, "tx", producer, true), KafkaCode::NOT_COORDINATOR);
    let mut new = Client::to(&c, away);
    add_ok(&mut new, "tx", producer, &[1]);
    assert_eq!(end(&mut new, "tx", producer, true), KafkaCode::NONE);
    assert_eq!(c.control_markers(TOPIC, 0)[0].coordinator_epoch, 1, "bumped by the move");
    assert!(c.move_transaction_coordinator("tx", 9).is_err());
}

// ---- offsets in transactions --------------------------------------------------

#[test]
fn offsets_are_committed_only_when_the_transaction_commits() {
    let c = cluster(3);
    let mut coord = coordinator(&c, "tx");
    let mut groups = Client::to(&c, c.group_coordinator("g"));
    let producer = init_ok(&mut coord, "tx");
    // Without AddOffsetsToTxn the group is not in the transaction.
    let r = commit_offsets(&mut groups, 4, "tx", producer, "g", &[("in", 0, 5)]);
    assert_eq!(offset_codes(&r), [KafkaCode::UNKNOWN_TOPIC_OR_PARTITION], "no topic 'in' yet");
    c.create_topic("in", 2, 1).unwrap();
    let r = commit_offsets(&mut groups, 4, "tx", producer, "g", &[("in", 0, 5)]);
    assert_eq!(offset_codes(&r), [KafkaCode::TRANSACTION_ABORTABLE]);
    let r = commit_offsets(&mut groups, 3, "tx", producer, "g", &[("in", 0, 5)]);
    assert_eq!(offset_codes(&r), [KafkaCode::INVALID_TXN_STATE]);

    // Aborted: nothing committed.
    assert_eq!(add_offsets(&mut coord, 3, "tx", producer, "g"), KafkaCode::NONE);
    assert_eq!(c.transaction("tx").unwrap().groups, ["g"]);
    let r = commit_offsets(&mut groups, 3, "tx", producer, "g", &[("in", 0, 5), ("in", 1, 7), ("in", 9, 1)]);
    assert_eq!(offset_codes(&r), [KafkaCode::NONE, KafkaCode::NONE, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION]);
    assert_eq!(end(&mut coord, "tx", producer, false), KafkaCode::NONE);
    assert!(c.committed_offsets("g").is_empty());

    // Committed: there.
    assert_eq!(add_offsets(&mut coord, 3, "tx", producer, "g"), KafkaCode::NONE);
    commit_offsets(&mut groups, 3, "tx", producer, "g", &[("in", 0, 8)]);
    assert!(c.committed_offsets("g").is_empty(), "not before the commit");
    assert_eq!(end(&mut coord, "tx", producer, true), KafkaCode::NONE);
    let committed = c.committed_offsets("g");
    assert_eq!(committed.len(), 1);
    let o = &committed[0];
    assert_eq!((o.topic.as_str(), o.partition, o.offset, o.metadata.as_deref()), ("in", 0, 8, Some("m8")));
    assert!(c.committed_offsets("other").is_empty());

    // The wrong coordinator, and a fenced producer.
    let away = if c.group_coordinator("g") == 1 { 2 } else { 1 };
    let r = commit_offsets(&mut Client::to(&c, away), 3, "tx", producer, "g", &[("in", 0, 9)]);
    assert_eq!(offset_codes(&r), [KafkaCode::NOT_COORDINATOR]);
    let r = commit_offsets(&mut groups, 3, "tx", (producer.0, producer.1 + 1), "g", &[("in", 0, 9)]);
    assert_eq!(offset_codes(&r), [KafkaCode::INVALID_PRODUCER_EPOCH]);

    // Transactions v2: TxnOffsetCommit v5 adds the group itself.
    c.set_transaction_version(2);
    let producer = init_ok(&mut coord, "tx");
    let r = commit_offsets(&mut groups, 5, "tx", producer, "g", &[("in", 1, 3)]);
    assert_eq!(offset_codes(&r), [KafkaCode::NONE]);
    assert_eq!(end_txn(&mut coord, 5, "tx", producer, true).error_code, 0);
    assert_eq!(c.committed_offsets("g").iter().map(|o| o.offset).collect::<Vec<_>>(), [8, 3]);
}

#[test]
fn add_partitions_v4_batches_and_verifies() {
    let c = cluster(1);
    let mut conn = Client::to(&c, 1);
    let a = init_ok(&mut conn, "a");
    let b = init_ok(&mut conn, "b");
    add_ok(&mut conn, "a", a, &[0]);
    let txn = |id: &str, producer: (i64, i16), verify_only| AddPartitionsToTxnTransaction {
        transactional_id: id.into(),
        producer_id: producer.0,
        producer_epoch: producer.1,
        verify_only,
        topics: vec![AddPartitionsToTxnTopic { name: TOPIC.into(), partitions: vec![0, 1] }],
    };
    let req = AddPartitionsToTxnRequest {
        transactions: vec![txn("a", a, true), txn("b", b, false), txn("c", b, true)],
        ..Default::default()
    };
    let r = conn.call(4, &req);
    assert_eq!(r.error_code, 0);
    let codes: Vec<Vec<KafkaCode>> = r
        .results_by_transaction
        .iter()
        .map(|t| flat(&t.topic_results).into_iter().map(|(_, _, code)| code).collect())
        .collect();
    assert_eq!(
        codes,
        [
            vec![KafkaCode::NONE, KafkaCode::TRANSACTION_ABORTABLE],
            vec![KafkaCode::NONE, KafkaCode::NONE],
            vec![KafkaCode::INVALID_PRODUCER_ID_MAPPING; 2],
        ]
    );
    assert_eq!(c.transaction("a").unwrap().partitions.len(), 1, "verify_only adds nothing");
    assert_eq!(c.transaction("b").unwrap().partitions.len(), 2);
}

// ---- fault injection ----------------------------------------------------------

#[test]
fn injected_errors_reach_every_transaction_api() {
    let c = cluster(1);
    let mut conn = Client::to(&c, 1);
    for api in [
        FIND_COORDINATOR,
        INIT_PRODUCER_ID,
        ADD_PARTITIONS_TO_TXN,
        ADD_OFFSETS_TO_TXN,
        END_TXN,
        TXN_OFFSET_COMMIT,
    ] {
        c.push_request_errors(api, &[KafkaCode::COORDINATOR_LOAD_IN_PROGRESS]);
    }
    let load = KafkaCode::COORDINATOR_LOAD_IN_PROGRESS;
    assert_eq!(KafkaCode(conn.call(3, &FindCoordinatorRequest::transaction("tx", 3)).error_code), load);
    let r = conn.call(4, &FindCoordinatorRequest::transaction("tx", 4));
    assert_eq!(r.coordinators[0].error_code, 0, "one error per request");
    assert_eq!(KafkaCode(init(&mut conn, "tx").error_code), load);
    assert!(c.transaction("tx").is_none(), "not processed");
    let producer = init_ok(&mut conn, "tx");
    assert_eq!(add_partitions(&mut conn, 3, "tx", producer, &[0, 1]), [load, load]);
    assert_eq!(add_offsets(&mut conn, 3, "tx", producer, "g"), load);
    assert_eq!(c.transaction("tx").unwrap().state, MockTxnState::Empty);
    add_ok(&mut conn, "tx", producer, &[0]);
    assert_eq!(add_offsets(&mut conn, 3, "tx", producer, "g"), KafkaCode::NONE);
    let r = commit_offsets(&mut conn, 3, "tx", producer, "g", &[(TOPIC, 0, 1)]);
    assert_eq!(offset_codes(&r), [load]);
    // CONCURRENT_TRANSACTIONS, what Kafka answers while markers are written.
    c.push_request_errors(END_TXN, &[KafkaCode::CONCURRENT_TRANSACTIONS]);
    assert_eq!(end(&mut conn, "tx", producer, true), load);
    assert_eq!(end(&mut conn, "tx", producer, true), KafkaCode::CONCURRENT_TRANSACTIONS);
    assert!(markers(&c, 0).is_empty());
    assert_eq!(end(&mut conn, "tx", producer, true), KafkaCode::NONE);
    assert_eq!(markers(&c, 0).len(), 1);
    assert_eq!(c.pending_faults(END_TXN), 0);
}

#[test]
fn lost_end_txn_answers_and_slow_coordinators() {
    let c = cluster(1);
    let (mut conn, producer) = begin(&c, &[0]);
    // Dropped before processing: nothing happened.
    c.drop_connection(END_TXN, DropPoint::BeforeProcessing);
    let req = EndTxnRequest {
        transactional_id: "tx".into(),
        producer_id: producer.0,
        producer_epoch: producer.1,
        committed: true,
    };
    conn.send(3, &req);
    conn.assert_closed();
    assert_eq!(c.transaction("tx").unwrap().state, MockTxnState::Ongoing);
    // Dropped after processing: committed, and the retry says so.
    c.drop_connection(END_TXN, DropPoint::AfterProcessing);
    let mut conn = Client::to(&c, 1);
    conn.send(3, &req);
    conn.assert_closed();
    assert_eq!(c.transaction("tx").unwrap().state, MockTxnState::CompleteCommit);
    let mut conn = Client::to(&c, 1);
    assert_eq!(end(&mut conn, "tx", producer, true), KafkaCode::NONE);
    assert_eq!(markers(&c, 0).len(), 1);
    // An error after processing: the same, with an answer.
    add_ok(&mut conn, "tx", producer, &[0]);
    c.push_errors_after_processing(END_TXN, &[KafkaCode::REQUEST_TIMED_OUT]);
    assert_eq!(end(&mut conn, "tx", producer, false), KafkaCode::REQUEST_TIMED_OUT);
    assert_eq!(markers(&c, 0).len(), 2);
    assert_eq!(end(&mut conn, "tx", producer, false), KafkaCode::NONE);
    // Delayed, then stalled.
    c.delay_next(ADD_PARTITIONS_TO_TXN, Duration::from_millis(150));
    let started = std::time::Instant::now();
    add_ok(&mut conn, "tx", producer, &[0]);
    assert!(started.elapsed() >= Duration::from_millis(150));
    c.stall(FIND_COORDINATOR, DropPoint::BeforeProcessing);
    conn.send(3, &FindCoordinatorRequest::transaction("tx", 3));
    conn.assert_silent(Duration::from_millis(200));
}
