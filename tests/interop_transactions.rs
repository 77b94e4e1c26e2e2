//! Transactions against brokers nobody here wrote: tansu (its coordinator
//! writes commit/abort markers and fences a second producer with the same
//! transactional id) and librdkafka's mock cluster (coordinator errors and
//! moves; no markers, no fencing).

mod support;

use std::time::Duration;

use kafka_sync::{Producer, ProducerConfig, Record, TransactionError, TransactionErrorClass};
use rdkafka::mocking::MockCoordinator;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr::*};
use support::fetch::{fetch_partition, FetchedRecord};
use support::{read_to_end, require_broker, RdMock, Tansu};

fn txn_producer(bootstrap: &str, id: &str) -> Producer {
    let cfg = ProducerConfig::builder()
        .bootstrap_servers(bootstrap)
        .transactional_id(id)
        .max_block(Duration::from_secs(20))
        .delivery_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    Producer::new(cfg).unwrap()
}

const T: Duration = Duration::from_secs(30);

#[test]
fn tansu_commit_and_abort() {
    support::init_log();
    let Some(tansu) = require_broker("tansu_commit_and_abort", Tansu::start()) else { return };
    tansu.create_topic("txn", 3).unwrap();
    let p = txn_producer(&tansu.bootstrap(), "loader-1");
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    let handles: Vec<_> = (0..30)
        .map(|i| p.send(Record::new("txn").key(&format!("k{i}")).value(&format!("c{i}"))).unwrap())
        .collect();
    p.commit_transaction(T).unwrap();
    for h in handles {
        h.wait().unwrap();
    }
    p.begin_transaction().unwrap();
    // Written to the log (acknowledged), then aborted: the abort markers
    // hide them from read_committed readers.
    let written: Vec<_> = (0..10)
        .map(|i| p.send(Record::new("txn").key(&format!("k{i}")).value(&format!("a{i}"))).unwrap())
        .collect();
    for h in written {
        h.wait().unwrap();
    }
    p.abort_transaction(T).unwrap();
    p.begin_transaction().unwrap();
    p.send(Record::new("txn").value("last")).unwrap().wait().unwrap();
    p.commit_transaction(T).unwrap();
    // A send outside a transaction is refused with a clear error.
    let e = p.send(Record::new("txn").value("outside")).unwrap_err();
    assert!(
        matches!(e.kind(), kafka_sync::SendErrorKind::Transaction(TransactionError::InvalidState { .. })),
        "{e}"
    );
    p.close(T).unwrap();
    // Markers, read raw (librdkafka never shows them): every partition that
    // got records in a transaction ends each transaction with a marker of
    // the right kind, written by this producer.
    let mut ends = Vec::new();
    for partition in 0..3 {
        let log = fetch_partition(&tansu.bootstrap(), "txn", partition, 0, T).unwrap();
        assert!(log.records.iter().all(|r| r.is_transactional), "all sent in transactions");
        let pids: std::collections::HashSet<i64> = log.records.iter().map(|r| r.producer_id).collect();
        assert_eq!(pids.len(), 1, "one producer id for data and markers: {pids:?}");
        for (commit, values) in transactions_of(&log.records) {
            assert!(!values.is_empty(), "a marker only where the transaction wrote");
            let want = if commit { ['c', 'l'] } else { ['a', 'a'] };
            assert!(values.iter().all(|v| v.starts_with(want)), "{commit}: {values:?}");
            ends.push(commit);
        }
    }
    assert!(ends.contains(&false) && ends.iter().filter(|c| **c).count() >= 3, "{ends:?}");
    let read = read_to_end(&tansu.bootstrap(), "txn", Duration::from_secs(30))
        .unwrap_or_else(|(e, _)| panic!("{e}"));
    let values: Vec<String> =
        read.iter().map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap()).collect();
    assert_eq!(values.iter().filter(|v| v.starts_with('c')).count(), 30, "{values:?}");
    assert!(values.contains(&"last".to_owned()));
}

#[test]
fn tansu_fences_an_older_producer_with_the_same_id() {
    support::init_log();
    let Some(tansu) = require_broker("tansu_fences_an_older_producer_with_the_same_id", Tansu::start())
    else {
        return;
    };
    tansu.create_topic("fence", 2).unwrap();
    let old = txn_producer(&tansu.bootstrap(), "fenced-id");
    old.init_transactions(T).unwrap();
    old.begin_transaction().unwrap();
    old.send(Record::new("fence").value("old-1")).unwrap().wait().unwrap();
    // A second instance takes over: the old one's open transaction is
    // aborted and the old producer is fenced.
    let new = txn_producer(&tansu.bootstrap(), "fenced-id");
    new.init_transactions(T).unwrap();
    new.begin_transaction().unwrap();
    new.send(Record::new("fence").value("new-1")).unwrap().wait().unwrap();
    new.commit_transaction(T).unwrap();
    // The old producer learns it was fenced from its next Produce (tansu
    // drops the connection on an EndTxn with a stale epoch rather than
    // answering it, so the Produce is where the error code comes back).
    let lost = old.send(Record::new("fence").value("old-2")).unwrap().wait().unwrap_err();
    assert!(
        matches!(
            lost.code(),
            Some(kafka_sync::KafkaCode::PRODUCER_FENCED | kafka_sync::KafkaCode::INVALID_PRODUCER_EPOCH)
        ),
        "{lost}"
    );
    let e = old.commit_transaction(T).unwrap_err();
    assert!(matches!(e, TransactionError::Fatal(_)), "{e:?}");
    assert!(e.is_fenced(), "{e:?}");
    assert_eq!(e.class(), kafka_sync::TransactionErrorClass::ApplicationRecoverable);
    // Fatal from now on: everything fails at once with the same error.
    assert!(matches!(old.begin_transaction(), Err(TransactionError::Fatal(_))));
    assert!(old.send(Record::new("fence").value("old-3")).is_err());
    old.close(T).unwrap();
    new.close(T).unwrap();
}

#[test]
fn tansu_many_transactions_in_a_row_over_several_partitions() {
    support::init_log();
    let Some(tansu) = require_broker("tansu_many_transactions_in_a_row", Tansu::start()) else { return };
    tansu.create_topic("many-a", 4).unwrap();
    tansu.create_topic("many-b", 2).unwrap();
    let p = txn_producer(&tansu.bootstrap(), "many");
    p.init_transactions(T).unwrap();
    let mut committed = 0;
    for t in 0..20 {
        p.begin_transaction().unwrap();
        for i in 0..50 {
            let topic = if i % 3 == 0 { "many-b" } else { "many-a" };
            p.send(Record::new(topic).value(&format!("{t}-{i}"))).unwrap();
        }
        if t % 4 == 3 {
            p.abort_transaction(T).unwrap();
        } else {
            p.commit_transaction(T).unwrap();
            committed += 50;
        }
    }
    p.close(T).unwrap();
    let a = read_to_end(&tansu.bootstrap(), "many-a", T).unwrap_or_else(|(e, _)| panic!("{e}"));
    let b = read_to_end(&tansu.bootstrap(), "many-b", T).unwrap_or_else(|(e, _)| panic!("{e}"));
    // tansu does not hide aborted records from read_committed readers:
    // count the committed transactions' records.
    let committed_read = a
        .iter()
        .chain(&b)
        .filter(|r| {
            let v = String::from_utf8(r.value.clone().unwrap()).unwrap();
            let t: u32 = v.split('-').next().unwrap().parse().unwrap();
            t % 4 != 3
        })
        .count();
    assert_eq!(committed_read, committed);
}

/// The data records of a partition's log grouped by the marker that ended
/// them: (commit?, values). Panics on records after the last marker.
fn transactions_of(log: &[FetchedRecord]) -> Vec<(bool, Vec<String>)> {
    let mut out = Vec::new();
    let mut open = Vec::new();
    for r in log {
        match r.marker() {
            Some(commit) => out.push((commit, std::mem::take(&mut open))),
            None => open.push(String::from_utf8(r.value.clone().unwrap_or_default()).unwrap()),
        }
    }
    assert!(open.is_empty(), "records after the last marker: {open:?}");
    out
}

#[test]
fn tansu_abort_then_commit_leaves_markers_in_order() {
    support::init_log();
    let Some(tansu) = require_broker("tansu_abort_then_commit_leaves_markers_in_order", Tansu::start())
    else {
        return;
    };
    tansu.create_topic("order", 1).unwrap();
    let p = txn_producer(&tansu.bootstrap(), "order");
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    p.send(Record::new("order").value("ok-1")).unwrap().wait().unwrap();
    p.abort_transaction(T).unwrap();
    p.begin_transaction().unwrap();
    p.send(Record::new("order").value("ok-2")).unwrap().wait().unwrap();
    p.commit_transaction(T).unwrap();
    // A transaction that wrote nothing needs no marker.
    p.begin_transaction().unwrap();
    p.commit_transaction(T).unwrap();
    p.close(T).unwrap();
    let log = fetch_partition(&tansu.bootstrap(), "order", 0, 0, T).unwrap();
    assert_eq!(
        transactions_of(&log.records),
        vec![(false, vec!["ok-1".into()]), (true, vec!["ok-2".into()])]
    );
    // The data record of the aborted transaction (offset 0) and of the
    // committed one (offset 2), each followed by its marker.
    assert_eq!(log.records.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
}

fn rd_producer(bootstrap: &str, id: &str) -> Producer {
    let cfg = ProducerConfig::builder()
        .bootstrap_servers(bootstrap)
        .transactional_id(id)
        .max_block(Duration::from_secs(20))
        .delivery_timeout(Duration::from_secs(60))
        .retry_backoff(Duration::from_millis(20))
        .build()
        .unwrap();
    Producer::new(cfg).unwrap()
}

#[test]
fn librdkafka_mock_coordinator_errors_and_moves_are_retried() {
    support::init_log();
    let Some(mock) = require_broker("librdkafka_mock_coordinator_errors", RdMock::start(3)) else { return };
    mock.create_topic("coord", 6, 3).unwrap();
    let c = mock.cluster();
    c.coordinator(MockCoordinator::Transaction("coord-id".into()), 1).unwrap();
    c.request_errors(
        RDKafkaApiKey::FindCoordinator,
        &[RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE],
    );
    c.request_errors(
        RDKafkaApiKey::InitProducerId,
        &[RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_NOT_COORDINATOR],
    );
    let p = rd_producer(&mock.bootstrap(), "coord-id");
    p.init_transactions(T).unwrap();
    let mut sent = 0;
    for round in 0..3 {
        match round {
            0 => c.request_errors(
                RDKafkaApiKey::AddPartitionsToTxn,
                &[RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE],
            ),
            1 => c.request_errors(
                RDKafkaApiKey::EndTxn,
                &[
                    RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                    RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                    RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS,
                ],
            ),
            _ => {}
        }
        p.begin_transaction().unwrap();
        for i in 0..100 {
            p.send(Record::new("coord").key(&format!("k{i}")).value(&format!("{round}-{i}"))).unwrap();
            sent += 1;
        }
        if round == 2 {
            // The coordinator moves mid-transaction: the old one answers
            // NOT_COORDINATOR, the producer finds the new one.
            c.coordinator(MockCoordinator::Transaction("coord-id".into()), 3).unwrap();
        }
        p.commit_transaction(T).unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    p.close(T).unwrap();
    let read = read_to_end(&mock.bootstrap(), "coord", T).unwrap_or_else(|(e, _)| panic!("{e}"));
    assert_eq!(read.len(), sent, "every committed record once");
}

#[test]
fn librdkafka_mock_fatal_and_abortable_coordinator_answers() {
    support::init_log();
    let Some(mock) = require_broker("librdkafka_mock_fatal_and_abortable", RdMock::start(1)) else { return };
    mock.create_topic("classes", 2, 1).unwrap();
    let c = mock.cluster();
    // Not authorized for the transactional id: fatal, a configuration matter.
    c.request_errors(
        RDKafkaApiKey::InitProducerId,
        &[RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED],
    );
    let p = rd_producer(&mock.bootstrap(), "unauthorized");
    let e = p.init_transactions(T).unwrap_err();
    assert!(matches!(e, TransactionError::Fatal(_)), "{e:?}");
    assert_eq!(e.class(), TransactionErrorClass::InvalidConfiguration);
    assert!(matches!(p.begin_transaction(), Err(TransactionError::Fatal(_))));
    p.close(T).unwrap();
    // An abortable answer to the commit (UNKNOWN_PRODUCER_ID; librdkafka 2.12
    // has no TRANSACTION_ABORTABLE): abort, then the next one commits.
    let p = rd_producer(&mock.bootstrap(), "abortable");
    p.init_transactions(T).unwrap();
    p.begin_transaction().unwrap();
    p.send(Record::new("classes").value("first")).unwrap();
    c.request_errors(RDKafkaApiKey::EndTxn, &[RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID]);
    let e = p.commit_transaction(T).unwrap_err();
    assert_eq!(e.class(), TransactionErrorClass::Abortable, "{e:?}");
    // Committing again is refused until the transaction is aborted.
    assert!(matches!(p.commit_transaction(T), Err(TransactionError::Abortable(_))));
    p.abort_transaction(T).unwrap();
    p.begin_transaction().unwrap();
    p.send(Record::new("classes").value("second")).unwrap();
    p.commit_transaction(T).unwrap();
    p.close(T).unwrap();
}
