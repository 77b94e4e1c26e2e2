//! Produce v13 (Kafka 4.1, KIP-516) against the crate's mock cluster: topics
//! named by their topic id when the broker speaks v13 and the producer knows
//! every id of a request, v12 otherwise (franz-go's fallback), and
//! `UNKNOWN_TOPIC_ID` handled like a stale topic (refresh metadata, retry).
#![cfg(feature = "mock")]

#[path = "support/mock.rs"]
mod mock_support;

use kafka_sync::mock::MockCluster;
use kafka_sync::protocol::api_key::{METADATA, PRODUCE};
use kafka_sync::protocol::VersionRange;
use kafka_sync::{KafkaCode, Producer, Record};
use mock_support::{cluster, config};

/// The versions of every Produce request the mock received, oldest first.
fn produce_versions(c: &MockCluster) -> Vec<i16> {
    c.requests().into_iter().filter(|r| r.api_key == PRODUCE).map(|r| r.api_version).collect()
}

/// Sends `n` records to each of `topics`, round-robin, and waits for all.
fn send_all(p: &Producer, topics: &[&str], n: usize) {
    let handles: Vec<_> = (0..n)
        .flat_map(|i| topics.iter().map(move |t| (i, *t)))
        .map(|(i, t)| {
            p.send(Record::new(t.to_owned()).key(&format!("k{i}")).value(&format!("{t}-{i}"))).unwrap()
        })
        .collect();
    for h in handles {
        h.wait().unwrap();
    }
}

/// Every value stored in `topic`, sorted.
fn values(c: &MockCluster, topic: &str) -> Vec<String> {
    let mut v: Vec<String> = mock_support::stored(c, topic)
        .into_iter()
        .map(|(_, r)| String::from_utf8(r.value.unwrap()).unwrap())
        .collect();
    v.sort();
    v
}

fn expected(topic: &str, n: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..n).map(|i| format!("{topic}-{i}")).collect();
    v.sort();
    v
}

#[test]
fn records_go_by_topic_id_at_v13_and_read_back() {
    let c = cluster(3, "a", 3);
    c.create_topic("b", 2, 2).unwrap();
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    send_all(&p, &["a", "b"], 200);
    assert_eq!(values(&c, "a"), expected("a", 200));
    assert_eq!(values(&c, "b"), expected("b", 200));
    let versions = produce_versions(&c);
    assert!(!versions.is_empty());
    assert!(versions.iter().all(|v| *v == 13), "{versions:?}");
}

/// A broker that advertises Produce v13 but answers Metadata below v10 gives
/// no topic ids (franz-go's issue 1312): every request falls back to v12,
/// by name, and still delivers.
#[test]
fn topics_without_ids_fall_back_to_v12() {
    let c = cluster(3, "a", 3);
    c.create_topic("b", 2, 2).unwrap();
    c.set_api_versions(METADATA, VersionRange::new(1, 9)).unwrap();
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    send_all(&p, &["a", "b"], 100);
    assert_eq!(values(&c, "a"), expected("a", 100));
    assert_eq!(values(&c, "b"), expected("b", 100));
    let versions = produce_versions(&c);
    assert!(!versions.is_empty());
    assert!(versions.iter().all(|v| *v == 12), "{versions:?}");
    assert!(c.requests().iter().filter(|r| r.api_key == METADATA).all(|r| r.api_version == 9));
}

#[test]
fn unknown_topic_id_once_is_retried_and_delivered_once() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    p.send(Record::new("t").value("warm-up")).unwrap().wait().unwrap();
    let (produces, metadata) = (c.request_count(PRODUCE), c.request_count(METADATA));
    c.push_request_errors(PRODUCE, &[KafkaCode::UNKNOWN_TOPIC_ID]);
    let m = p.send(Record::new("t").value("once")).unwrap().wait().unwrap();
    assert_eq!(m.offset(), Some(1));
    assert_eq!(m.attempts(), 2);
    assert_eq!(c.request_count(PRODUCE) - produces, 2, "one UNKNOWN_TOPIC_ID, one success");
    assert!(c.request_count(METADATA) > metadata, "UNKNOWN_TOPIC_ID refreshes the metadata");
    let vals: Vec<_> = c.records("t", 0).into_iter().map(|r| r.value.unwrap()).collect();
    assert_eq!(vals, [b"warm-up".to_vec(), b"once".to_vec()]);
    assert!(produce_versions(&c).iter().all(|v| *v == 13));
}

/// The real-world `UNKNOWN_TOPIC_ID`: the topic was deleted and created again
/// under the same name, so the id the producer holds names nothing. The
/// broker answers it per partition; the refresh brings the new id, and the
/// retry lands in the new topic.
#[test]
fn a_recreated_topic_is_found_under_its_new_id() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    p.send(Record::new("t").value("old")).unwrap().wait().unwrap();
    c.delete_topic("t").unwrap();
    c.create_topic("t", 1, 1).unwrap();
    let produces = c.request_count(PRODUCE);
    let m = p.send(Record::new("t").value("new")).unwrap().wait().unwrap();
    assert_eq!(m.offset(), Some(0), "the first record of the new topic");
    assert!(m.attempts() >= 2, "the first attempt used the old id");
    assert!(c.request_count(PRODUCE) - produces >= 2);
    let vals: Vec<_> = c.records("t", 0).into_iter().map(|r| r.value.unwrap()).collect();
    assert_eq!(vals, [b"new".to_vec()]);
    assert!(produce_versions(&c).iter().all(|v| *v == 13));
}

#[test]
fn a_broker_capped_at_v12_gets_v12() {
    let c = cluster(1, "t", 2);
    c.set_api_versions(PRODUCE, VersionRange::new(3, 12)).unwrap();
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    send_all(&p, &["t"], 100);
    assert_eq!(values(&c, "t"), expected("t", 100));
    let versions = produce_versions(&c);
    assert!(!versions.is_empty());
    assert!(versions.iter().all(|v| *v == 12), "{versions:?}");
}
