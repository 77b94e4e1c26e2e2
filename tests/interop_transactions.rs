//! Transactions against brokers nobody here wrote: tansu (its coordinator
//! writes commit/abort markers and fences a second producer with the same
//! transactional id) and librdkafka's mock cluster (coordinator errors and
//! moves; no markers, no fencing).

mod support;

use std::time::Duration;

use kafka_sync::{Producer, ProducerConfig, Record, TransactionError};
use support::{read_to_end, require_broker, Tansu};

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
    for i in 0..10 {
        p.send(Record::new("txn").key(&format!("k{i}")).value(&format!("a{i}"))).unwrap();
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
