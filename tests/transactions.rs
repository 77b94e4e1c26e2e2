//! Transactions against the crate's mock cluster, whose coordinator follows
//! Kafka's state machine: markers, the last stable offset, what a
//! `read_committed` reader sees, fencing, timeouts, transactions v2, and a
//! fault on every transaction API. Deterministic and fast; the same
//! behaviours against brokers nobody here wrote are in
//! `interop_transactions.rs`.
#![cfg(feature = "mock")]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_sync::mock::{DropPoint, MockCluster, MockTxnState};
use kafka_sync::protocol::api_key;
use kafka_sync::{
    ConsumerGroupMetadata, DeliveryErrorKind, KafkaCode, OffsetAndMetadata, Persistence, Producer,
    ProducerConfig, Record, SendErrorKind, TransactionError, TransactionErrorClass,
};

const T: Duration = Duration::from_secs(10);

fn producer_with(
    cluster: &MockCluster,
    id: &str,
    tune: impl FnOnce(kafka_sync::ProducerConfigBuilder) -> kafka_sync::ProducerConfigBuilder,
) -> Producer {
    support::init_log();
    let b = ProducerConfig::builder()
        .bootstrap_servers(cluster.bootstrap_servers())
        .transactional_id(id)
        .retry_backoff(Duration::from_millis(10))
        .retry_backoff_max(Duration::from_millis(50))
        .max_block(Duration::from_secs(5));
    Producer::new(tune(b).build().unwrap()).unwrap()
}

fn producer(cluster: &MockCluster, id: &str) -> Producer {
    producer_with(cluster, id, |b| b)
}

fn cluster(brokers: usize, topic: &str, partitions: i32) -> MockCluster {
    let c = MockCluster::start(brokers).unwrap();
    c.create_topic(topic, partitions, 1).unwrap();
    // The input topic whose consumer offsets the transactions commit.
    c.create_topic("in", 2, 1).unwrap();
    c
}

/// Values a read_committed reader sees in `topic`, all partitions.
fn committed_values(c: &MockCluster, topic: &str) -> Vec<String> {
    let mut out: Vec<String> = (0..c.partition_count(topic).unwrap())
        .flat_map(|p| c.records_read_committed(topic, p))
        .map(|r| String::from_utf8(r.value.unwrap()).unwrap())
        .collect();
    out.sort();
    out
}

fn send_n(p: &Producer, topic: &str, prefix: &str, n: usize) -> Vec<kafka_sync::DeliveryHandle> {
    (0..n)
        .map(|i| {
            p.send(Record::new(topic.to_owned()).key(&format!("k{i}")).value(&format!("{prefix}{i:03}")))
                .unwrap()
        })
        .collect()
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:03}")).collect()
}

#[test]
fn committed_records_are_visible_aborted_ones_never() {
    let c = cluster(3, "t", 6);
    let p = producer(&c, "visible");
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", "c", 30);
    p.commit_transaction(T).unwrap();
    // Written and acknowledged, then aborted.
    p.begin_transaction().unwrap();
    for h in send_n(&p, "t", "a", 20) {
        h.wait().unwrap();
    }
    p.abort_transaction(T).unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", "d", 5);
    p.commit_transaction(T).unwrap();
    let mut want = names("c", 30);
    want.extend(names("d", 5));
    assert_eq!(committed_values(&c, "t"), want);
    // Markers: a commit, an abort and a commit where each transaction wrote.
    let mut commits = 0;
    let mut aborts = 0;
    for part in 0..6 {
        for m in c.control_markers("t", part) {
            if m.commit {
                commits += 1;
            } else {
                aborts += 1;
            }
        }
        assert_eq!(c.last_stable_offset("t", part), c.log_end_offset("t", part), "nothing left open");
    }
    assert!(commits >= 6 && aborts >= 1, "{commits} commit and {aborts} abort markers");
    let txn = c.transaction("visible").unwrap();
    assert_eq!(txn.state, MockTxnState::CompleteCommit);
    p.close(T).unwrap();
}

#[test]
fn misuse_gets_a_clear_error_not_a_hang() {
    let c = cluster(1, "t", 1);
    let p = producer(&c, "misuse");
    let invalid = |r: Result<(), TransactionError>, what: &str| match r {
        Err(e @ TransactionError::InvalidState { .. }) => {
            assert_eq!(e.class(), TransactionErrorClass::InvalidState);
            e.to_string()
        }
        other => panic!("{what}: {other:?}"),
    };
    let started = Instant::now();
    assert!(invalid(p.begin_transaction(), "begin before init").contains("init_transactions"));
    let refused = p.send(Record::new("t").value("x")).unwrap_err();
    assert!(matches!(refused.kind(), SendErrorKind::Transaction(TransactionError::InvalidState { .. })));
    assert!(refused.to_string().contains("begin_transaction"), "{refused}");
    p.init_transactions(T).unwrap();
    invalid(p.init_transactions(T), "init twice");
    invalid(p.commit_transaction(T), "commit without begin");
    invalid(p.abort_transaction(T), "abort without begin");
    let offsets = [OffsetAndMetadata::new("t", 0, 1)];
    invalid(p.send_offsets_to_transaction(&offsets, &ConsumerGroupMetadata::new("g")), "offsets outside");
    p.begin_transaction().unwrap();
    invalid(p.begin_transaction(), "begin twice");
    p.commit_transaction(T).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "misuse answered at once");
    p.close(T).unwrap();
    // A producer without transactional.id.
    let plain =
        Producer::new(ProducerConfig::builder().bootstrap_servers(c.bootstrap_servers()).build().unwrap())
            .unwrap();
    assert!(invalid(plain.init_transactions(T), "not transactional").contains("transactional.id"));
    plain.close(T).unwrap();
}

#[test]
fn a_second_producer_with_the_same_id_fences_the_first() {
    let c = cluster(1, "t", 2);
    let old = producer(&c, "shared-id");
    old.init_transactions(T).unwrap();
    old.begin_transaction().unwrap();
    send_n(&old, "t", "old", 3).into_iter().for_each(|h| drop(h.wait().unwrap()));
    let new = producer(&c, "shared-id");
    new.init_transactions(T).unwrap();
    // The old producer's open transaction was aborted by the new one's init.
    assert!(committed_values(&c, "t").is_empty());
    new.begin_transaction().unwrap();
    send_n(&new, "t", "new", 3);
    new.commit_transaction(T).unwrap();
    let e = old.commit_transaction(T).unwrap_err();
    assert!(e.is_fenced(), "{e:?}");
    assert_eq!(e.class(), TransactionErrorClass::ApplicationRecoverable);
    assert!(matches!(old.begin_transaction(), Err(TransactionError::Fatal(_))));
    let refused = old.send(Record::new("t").value("late")).unwrap_err();
    assert!(matches!(refused.kind(), SendErrorKind::Fatal(_) | SendErrorKind::Transaction(_)), "{refused}");
    assert_eq!(committed_values(&c, "t"), names("new", 3));
    old.close(T).unwrap();
    new.close(T).unwrap();
}

#[test]
fn coordinator_errors_on_every_api_are_retried() {
    let c = cluster(3, "t", 3);
    c.push_request_errors(api_key::FIND_COORDINATOR, &[KafkaCode::COORDINATOR_NOT_AVAILABLE]);
    c.push_request_errors(
        api_key::INIT_PRODUCER_ID,
        &[
            KafkaCode::COORDINATOR_LOAD_IN_PROGRESS,
            KafkaCode::CONCURRENT_TRANSACTIONS,
            KafkaCode::NOT_COORDINATOR,
        ],
    );
    let p = producer(&c, "retries");
    p.init_transactions(T).unwrap();
    c.push_request_errors(
        api_key::ADD_PARTITIONS_TO_TXN,
        &[
            KafkaCode::CONCURRENT_TRANSACTIONS,
            KafkaCode::NOT_COORDINATOR,
            KafkaCode::COORDINATOR_LOAD_IN_PROGRESS,
        ],
    );
    c.push_request_errors(api_key::ADD_OFFSETS_TO_TXN, &[KafkaCode::COORDINATOR_LOAD_IN_PROGRESS]);
    c.push_request_errors(api_key::TXN_OFFSET_COMMIT, &[KafkaCode::NOT_COORDINATOR]);
    c.push_request_errors(
        api_key::END_TXN,
        &[
            KafkaCode::NOT_COORDINATOR,
            KafkaCode::COORDINATOR_LOAD_IN_PROGRESS,
            KafkaCode::CONCURRENT_TRANSACTIONS,
        ],
    );
    p.begin_transaction().unwrap();
    send_n(&p, "t", "r", 50);
    let group = ConsumerGroupMetadata::new("readers").with_member(3, "member-1");
    p.send_offsets_to_transaction(&[OffsetAndMetadata::new("in", 0, 42)], &group).unwrap();
    p.commit_transaction(T).unwrap();
    assert_eq!(committed_values(&c, "t"), names("r", 50));
    for api in [
        api_key::FIND_COORDINATOR,
        api_key::INIT_PRODUCER_ID,
        api_key::ADD_PARTITIONS_TO_TXN,
        api_key::ADD_OFFSETS_TO_TXN,
        api_key::TXN_OFFSET_COMMIT,
        api_key::END_TXN,
    ] {
        assert_eq!(c.pending_faults(api), 0, "API {api}: every injected error was met and retried");
    }
    assert_eq!(c.request_count(api_key::END_TXN), 4, "three errors, then the commit");
    assert_eq!(c.committed_offsets("readers").len(), 1);
    p.close(T).unwrap();
}

#[test]
fn a_connection_cut_during_commit_still_tells_the_outcome() {
    for when in [DropPoint::BeforeProcessing, DropPoint::AfterProcessing] {
        let c = cluster(1, "t", 2);
        let p = producer_with(&c, "cut", |b| b.request_timeout(Duration::from_secs(2)));
        p.init_transactions(T).unwrap();
        p.begin_transaction().unwrap();
        send_n(&p, "t", "x", 10);
        c.drop_connection(api_key::END_TXN, when);
        p.commit_transaction(T).unwrap_or_else(|e| panic!("{when:?}: {e}"));
        assert_eq!(committed_values(&c, "t"), names("x", 10), "{when:?}");
        let markers: usize = (0..2).map(|part| c.control_markers("t", part).len()).sum();
        let written: usize = (0..2).filter(|&part| !c.records("t", part).is_empty()).count();
        assert_eq!(markers, written, "{when:?}: one commit marker per partition, not two");
        assert!(c.request_count(api_key::END_TXN) >= 2, "{when:?}: EndTxn sent again");
        p.close(T).unwrap();
    }
}

#[test]
fn a_failed_record_makes_the_transaction_abortable() {
    let c = cluster(1, "t", 1);
    let p = producer(&c, "doomed");
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    let ok = p.send(Record::new("t").value("fine")).unwrap();
    ok.wait().unwrap();
    c.push_request_errors(api_key::PRODUCE, &[KafkaCode::INVALID_RECORD]);
    let bad = p.send(Record::new("t").value("rejected")).unwrap();
    let e = bad.wait().unwrap_err();
    assert_eq!(e.code(), Some(KafkaCode::INVALID_RECORD));
    let refused = p.send(Record::new("t").value("after")).unwrap_err();
    assert!(
        matches!(refused.kind(), SendErrorKind::Transaction(TransactionError::Abortable(_))),
        "{refused}"
    );
    let e = p.commit_transaction(T).unwrap_err();
    assert_eq!(e.class(), TransactionErrorClass::Abortable, "{e:?}");
    assert!(e.to_string().contains("INVALID_RECORD"), "{e}");
    p.abort_transaction(T).unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", "retry", 2);
    p.commit_transaction(T).unwrap();
    assert_eq!(committed_values(&c, "t"), names("retry", 2));
    p.close(T).unwrap();
}

#[test]
fn abort_fails_the_records_not_yet_sent_as_not_persisted() {
    let c = cluster(1, "t", 2);
    // The stalled AddPartitionsToTxn holds the coordinator connection until
    // the request timeout; the abort follows it.
    let p = producer_with(&c, "unsent", |b| b.request_timeout(Duration::from_secs(1)));
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    // AddPartitionsToTxn hangs: the records wait for their partitions.
    c.stall(api_key::ADD_PARTITIONS_TO_TXN, DropPoint::BeforeProcessing);
    let handles = send_n(&p, "t", "w", 10);
    std::thread::sleep(Duration::from_millis(100));
    p.abort_transaction(T).unwrap();
    for h in handles {
        let e = h.wait().unwrap_err();
        assert_eq!(e.kind(), &DeliveryErrorKind::TransactionAborted, "{e}");
        assert_eq!(e.persistence(), Persistence::NotPersisted);
    }
    assert!((0..2).all(|part| c.records("t", part).is_empty()), "nothing was written");
    p.close(T).unwrap();
}

#[test]
fn offsets_are_committed_with_the_transaction_only() {
    let c = cluster(1, "out", 1);
    let p = producer(&c, "rpw");
    p.init_transactions(T).unwrap();
    let group = ConsumerGroupMetadata::new("g1").with_member(7, "m-1").with_group_instance_id("i-1");
    p.begin_transaction().unwrap();
    p.send(Record::new("out").value("aborted")).unwrap();
    p.send_offsets_to_transaction(&[OffsetAndMetadata::new("in", 0, 10)], &group).unwrap();
    p.abort_transaction(T).unwrap();
    assert!(c.committed_offsets("g1").is_empty(), "aborted offsets are not committed");
    p.begin_transaction().unwrap();
    p.send(Record::new("out").value("processed")).unwrap();
    let offsets = [
        OffsetAndMetadata::new("in", 0, 10).with_metadata("batch 1").with_leader_epoch(4),
        OffsetAndMetadata::new("in", 1, 3),
    ];
    p.send_offsets_to_transaction(&offsets, &group).unwrap();
    p.commit_transaction(T).unwrap();
    let mut got = c.committed_offsets("g1");
    got.sort_by_key(|o| o.partition);
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].offset, got[0].metadata.as_deref(), got[0].leader_epoch), (10, Some("batch 1"), 4));
    assert_eq!(got[1].offset, 3);
    assert_eq!(committed_values(&c, "out"), vec!["processed".to_owned()]);
    p.close(T).unwrap();
}

#[test]
fn group_errors_on_the_offsets_make_the_transaction_abortable() {
    let c = cluster(1, "out", 1);
    let p = producer(&c, "zombie");
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    c.push_request_errors(api_key::TXN_OFFSET_COMMIT, &[KafkaCode::ILLEGAL_GENERATION]);
    let group = ConsumerGroupMetadata::new("g2").with_member(1, "m");
    let e = p.send_offsets_to_transaction(&[OffsetAndMetadata::new("in", 0, 5)], &group).unwrap_err();
    assert_eq!(e.class(), TransactionErrorClass::Abortable, "{e:?}");
    assert_eq!(e.code(), Some(KafkaCode::ILLEGAL_GENERATION));
    p.abort_transaction(T).unwrap();
    assert!(c.committed_offsets("g2").is_empty());
    p.close(T).unwrap();
}

#[test]
fn transactions_v2_bump_the_epoch_every_time_and_add_partitions_implicitly() {
    let c = cluster(2, "t", 4);
    c.set_transaction_version(2);
    let p = producer(&c, "v2");
    p.init_transactions(T).unwrap();
    let mut epochs = Vec::new();
    for round in 0..4 {
        p.begin_transaction().unwrap();
        let handles = send_n(&p, "t", &format!("r{round}-"), 20);
        if round == 2 {
            // Written, then aborted (an abort of records never sent would
            // need no EndTxn at all).
            handles.into_iter().for_each(|h| drop(h.wait().unwrap()));
            p.abort_transaction(T).unwrap();
        } else {
            p.commit_transaction(T).unwrap();
        }
        epochs.push(c.transaction("v2").unwrap().producer_epoch);
    }
    assert!(epochs.windows(2).all(|w| w[1] == w[0] + 1), "every end bumps the epoch: {epochs:?}");
    assert_eq!(c.request_count(api_key::ADD_PARTITIONS_TO_TXN), 0, "partitions join with Produce v12+");
    let produce_versions: Vec<i16> =
        c.requests().iter().filter(|r| r.api_key == api_key::PRODUCE).map(|r| r.api_version).collect();
    assert!(
        !produce_versions.is_empty() && produce_versions.iter().all(|&v| v >= 12),
        "{produce_versions:?}"
    );
    let mut want = names("r0-", 20);
    want.extend(names("r1-", 20));
    want.extend(names("r3-", 20));
    want.sort();
    assert_eq!(committed_values(&c, "t"), want);
    // Offsets without AddOffsetsToTxn in v2.
    p.begin_transaction().unwrap();
    p.send_offsets_to_transaction(&[OffsetAndMetadata::new("in", 0, 1)], &ConsumerGroupMetadata::new("g"))
        .unwrap();
    p.commit_transaction(T).unwrap();
    assert_eq!(c.request_count(api_key::ADD_OFFSETS_TO_TXN), 0);
    assert_eq!(c.committed_offsets("g").len(), 1);
    p.close(T).unwrap();
}

#[test]
fn transactions_v1_never_use_produce_v12_for_new_partitions() {
    let c = cluster(1, "t", 2);
    let p = producer(&c, "v1");
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", "x", 10);
    p.commit_transaction(T).unwrap();
    let versions: Vec<i16> =
        c.requests().iter().filter(|r| r.api_key == api_key::PRODUCE).map(|r| r.api_version).collect();
    assert!(versions.iter().all(|&v| v <= 11), "{versions:?}");
    assert!(c.request_count(api_key::ADD_PARTITIONS_TO_TXN) >= 1);
    p.close(T).unwrap();
}

#[test]
fn the_coordinator_aborts_a_transaction_open_past_its_timeout() {
    let c = cluster(1, "t", 1);
    let p = producer_with(&c, "slow", |b| b.transaction_timeout(Duration::from_millis(500)));
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", "late", 3).into_iter().for_each(|h| drop(h.wait().unwrap()));
    std::thread::sleep(Duration::from_millis(1500));
    let e = p.commit_transaction(T).unwrap_err();
    assert!(e.is_fenced(), "the coordinator bumped the epoch when it aborted: {e:?}");
    assert!(committed_values(&c, "t").is_empty());
    assert_eq!(c.transaction("slow").unwrap().state, MockTxnState::CompleteAbort);
    p.close(T).unwrap();
}

#[test]
fn close_aborts_an_open_transaction() {
    let c = cluster(1, "t", 1);
    let p = producer(&c, "closing");
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    send_n(&p, "t", "x", 5).into_iter().for_each(|h| drop(h.wait().unwrap()));
    p.close(T).unwrap();
    assert_eq!(c.transaction("closing").unwrap().state, MockTxnState::CompleteAbort);
    assert!(committed_values(&c, "t").is_empty());
}

#[test]
fn many_threads_many_transactions_exactly_once() {
    let c = cluster(3, "t", 6);
    let p = Arc::new(producer(&c, "threads"));
    p.init_transactions(T).unwrap();
    let mut committed = 0;
    for round in 0..10 {
        p.begin_transaction().unwrap();
        let workers: Vec<_> = (0..4)
            .map(|t| {
                let p = p.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        p.send(Record::new("t").key(&format!("{t}")).value(&format!("{round}-{t}-{i}")))
                            .unwrap();
                    }
                })
            })
            .collect();
        workers.into_iter().for_each(|w| w.join().unwrap());
        p.commit_transaction(T).unwrap();
        committed += 200;
    }
    let values = committed_values(&c, "t");
    assert_eq!(values.len(), committed);
    let unique: std::collections::HashSet<_> = values.iter().collect();
    assert_eq!(unique.len(), committed, "no duplicates");
    Arc::try_unwrap(p).unwrap().close(T).unwrap();
}
