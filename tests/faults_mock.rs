//! Fault handling against the crate's own mock cluster: fast, deterministic
//! cases with exact attempt counts. (The same scenarios run against
//! librdkafka's mock cluster in tests/faults.rs.)
#![cfg(feature = "mock")]

#[path = "support/mock.rs"]
mod mock_support;

use std::time::{Duration, Instant};

use kafka_sync::mock::{DropPoint, DuplicateAnswer, Malformation};
use kafka_sync::protocol::api_key::{INIT_PRODUCER_ID, METADATA, PRODUCE};
use kafka_sync::{DeliveryErrorKind, KafkaCode, Persistence, Producer, Record, SendErrorKind};
use mock_support::{cluster, config, stored};

fn warm(p: &Producer, topic: &str) {
    p.send(Record::new(topic.to_owned()).value("warm-up")).unwrap().wait().unwrap();
}

#[test]
fn f1_retriable_errors_then_success_with_exact_attempts() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    warm(&p, "t");
    let before = c.request_count(PRODUCE);
    c.push_request_errors(PRODUCE, &[KafkaCode::NOT_ENOUGH_REPLICAS, KafkaCode::REQUEST_TIMED_OUT]);
    let t0 = Instant::now();
    let m = p.send(Record::new("t").value("x")).unwrap().wait().unwrap();
    assert_eq!(m.offset(), Some(1));
    assert_eq!(c.request_count(PRODUCE) - before, 3, "two failures, one success");
    // Backoff 10 ms then 20 ms, each with +-20% jitter.
    assert!(t0.elapsed() >= Duration::from_millis(24), "{:?}", t0.elapsed());
    assert_eq!(p.metrics().retries, 2);
    assert_eq!(c.records("t", 0).len(), 2);
}

#[test]
fn retries_exhausted_fail_not_persisted() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).enable_idempotence(false).retries(1).build().unwrap()).unwrap();
    warm(&p, "t");
    c.push_request_errors(PRODUCE, &[KafkaCode::NOT_ENOUGH_REPLICAS; 3]);
    let e = p.send(Record::new("t").value("x")).unwrap().wait().unwrap_err();
    assert_eq!(e.code(), Some(KafkaCode::NOT_ENOUGH_REPLICAS));
    assert_eq!(e.persistence(), Persistence::NotPersisted);
}

#[test]
fn non_retriable_error_fails_the_batch_only() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    warm(&p, "t");
    c.push_request_errors(PRODUCE, &[KafkaCode::INVALID_RECORD]);
    let e = p.send(Record::new("t").value("bad")).unwrap().wait().unwrap_err();
    assert_eq!(e.kind(), &DeliveryErrorKind::Broker(KafkaCode::INVALID_RECORD));
    assert_eq!(e.persistence(), Persistence::NotPersisted);
    // The producer goes on (under a new producer id: the failed batch left a sequence gap).
    let m = p.send(Record::new("t").value("good")).unwrap().wait().unwrap();
    assert_eq!(m.offset(), Some(1));
}

#[test]
fn f2_not_leader_moves_to_the_new_leader_in_order() {
    let c = cluster(3, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    let first: Vec<_> = (0..100).map(|i| p.send(Record::new("t").value(&format!("{i}"))).unwrap()).collect();
    for h in first {
        h.wait().unwrap();
    }
    let old = c.leader("t", 0).unwrap();
    let new = c.broker_ids().into_iter().find(|b| *b != old).unwrap();
    c.move_leader("t", 0, new).unwrap();
    let second: Vec<_> =
        (100..200).map(|i| p.send(Record::new("t").value(&format!("{i}"))).unwrap()).collect();
    for h in second {
        h.wait().unwrap();
    }
    let vals: Vec<String> =
        c.records("t", 0).into_iter().map(|r| String::from_utf8(r.value.unwrap()).unwrap()).collect();
    let want: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    assert_eq!(vals, want);
}

#[test]
fn f3_connection_dropped_after_the_broker_appended_is_not_duplicated() {
    for answer in [DuplicateAnswer::Success, DuplicateAnswer::DuplicateSequenceNumber] {
        let c = cluster(1, "t", 1);
        c.set_duplicate_answer(answer);
        let p = Producer::new(config(&c).build().unwrap()).unwrap();
        warm(&p, "t");
        c.drop_connection(PRODUCE, DropPoint::AfterProcessing);
        let m = p.send(Record::new("t").value("once")).unwrap().wait().unwrap();
        // F4: the retry is a duplicate; the broker's answer (NONE or
        // DUPLICATE_SEQUENCE_NUMBER) counts as success, with the original offset.
        assert_eq!(m.offset(), Some(1), "{answer:?}");
        let vals: Vec<_> = c.records("t", 0).into_iter().map(|r| r.value.unwrap()).collect();
        assert_eq!(vals, vec![b"warm-up".to_vec(), b"once".to_vec()], "{answer:?}");
    }
}

#[test]
fn connection_dropped_before_processing_is_retried() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    warm(&p, "t");
    c.drop_connection(PRODUCE, DropPoint::BeforeProcessing);
    let m = p.send(Record::new("t").value("x")).unwrap().wait().unwrap();
    assert_eq!(m.offset(), Some(1));
    assert_eq!(c.records("t", 0).len(), 2);
}

#[test]
fn f7_out_of_order_sequence_at_the_head_resets_the_producer_id() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    warm(&p, "t");
    let pids_before = c.request_count(INIT_PRODUCER_ID);
    c.push_request_errors(PRODUCE, &[KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER]);
    let m = p.send(Record::new("t").value("x")).unwrap().wait().unwrap();
    assert_eq!(m.offset(), Some(1));
    assert_eq!(c.request_count(INIT_PRODUCER_ID) - pids_before, 1, "one new producer id");
    let recs = c.records("t", 0);
    assert_eq!(recs.len(), 2);
    assert_ne!(recs[0].producer_id, recs[1].producer_id);
    assert_eq!(recs[1].sequence, 0, "sequences restart under the new id");
}

#[test]
fn f8_unknown_producer_id_resets_and_delivers_once() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    warm(&p, "t");
    c.push_request_errors(PRODUCE, &[KafkaCode::UNKNOWN_PRODUCER_ID]);
    let m = p.send(Record::new("t").value("x")).unwrap().wait().unwrap();
    assert_eq!(m.offset(), Some(1));
    assert_eq!(c.records("t", 0).len(), 2);
}

#[test]
fn f11_message_too_large_splits_the_batch() {
    let c = cluster(1, "t", 1);
    let p =
        Producer::new(config(&c).batch_size(64 * 1024).linger(Duration::from_millis(50)).build().unwrap())
            .unwrap();
    warm(&p, "t");
    // Batches of ~40 KiB will be too large; single records (~1 KiB) fit.
    c.set_max_message_bytes(6000);
    let hs: Vec<_> = (0..40)
        .map(|i| p.send(Record::new("t").value(&format!("{i:04}{}", "x".repeat(1000)))).unwrap())
        .collect();
    let offsets: Vec<i64> = hs.into_iter().map(|h| h.wait().unwrap().offset().unwrap()).collect();
    assert_eq!(offsets, (1..=40).collect::<Vec<i64>>(), "split halves keep order and each record's offset");
    let vals: Vec<String> = c
        .records("t", 0)
        .into_iter()
        .skip(1)
        .map(|r| String::from_utf8(r.value.unwrap()[..4].to_vec()).unwrap())
        .collect();
    assert_eq!(vals, (0..40).map(|i| format!("{i:04}")).collect::<Vec<_>>());
}

#[test]
fn a_single_record_too_large_for_the_broker_fails_clearly() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    warm(&p, "t");
    c.set_max_message_bytes(500);
    let e = p.send(Record::new("t").value(&vec![0u8; 2000])).unwrap().wait().unwrap_err();
    assert_eq!(e.kind(), &DeliveryErrorKind::RecordTooLarge);
    assert_eq!(e.persistence(), Persistence::NotPersisted);
}

#[test]
fn f12_stalled_request_times_out_and_is_retried_without_duplicates() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).request_timeout(Duration::from_millis(500)).build().unwrap()).unwrap();
    warm(&p, "t");
    c.stall(PRODUCE, DropPoint::AfterProcessing);
    let t0 = Instant::now();
    let m = p.send(Record::new("t").value("x")).unwrap().wait().unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(450));
    assert_eq!(m.offset(), Some(1));
    assert_eq!(c.records("t", 0).len(), 2, "appended once although sent twice");
}

#[test]
fn malformed_responses_drop_the_connection_and_retry() {
    for how in [
        Malformation::WrongCorrelationId,
        Malformation::TruncatedBody,
        Malformation::Garbage,
        Malformation::ShortFrame,
        Malformation::HugeSizePrefix,
    ] {
        let c = cluster(1, "t", 1);
        let p = Producer::new(config(&c).build().unwrap()).unwrap();
        warm(&p, "t");
        c.send_malformed_response(PRODUCE, how);
        let m = p.send(Record::new("t").value("x")).unwrap().wait().unwrap();
        assert_eq!(m.offset(), Some(1), "{how:?}");
        assert_eq!(c.records("t", 0).len(), 2, "{how:?}: no duplicate");
    }
}

#[test]
fn broker_down_past_delivery_timeout_fails_every_record_in_time() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(
        config(&c)
            .linger(Duration::from_millis(5))
            .request_timeout(Duration::from_millis(300))
            .delivery_timeout(Duration::from_millis(1500))
            .max_block(Duration::from_millis(200))
            .build()
            .unwrap(),
    )
    .unwrap();
    warm(&p, "t");
    c.broker_down(1).unwrap();
    let t0 = Instant::now();
    let hs: Vec<_> = (0..100).map(|i| p.send(Record::new("t").key(&i).value("v")).unwrap()).collect();
    for h in hs {
        let e = h.wait_timeout(Duration::from_secs(5)).expect("resolved by delivery.timeout.ms").unwrap_err();
        assert_eq!(e.kind(), &DeliveryErrorKind::Timeout, "{e}");
    }
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(1400) && took < Duration::from_millis(3000), "{took:?}");
    // Unknown topics still fail within max.block.ms while the cluster is away.
    let t0 = Instant::now();
    let e = p.send(Record::new("other").value("v")).unwrap_err();
    assert_eq!(e.kind(), &SendErrorKind::UnknownTopic);
    assert!(t0.elapsed() < Duration::from_secs(1));
    // And when the broker is back, sending works again.
    c.broker_up(1).unwrap();
    let m = p.send(Record::new("t").value("back")).unwrap().wait().unwrap();
    assert!(m.offset().is_some());
    assert_eq!(stored(&c, "t").len(), 2);
}

#[test]
fn fatal_error_stops_the_producer() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    warm(&p, "t");
    c.push_request_errors(PRODUCE, &[KafkaCode::CLUSTER_AUTHORIZATION_FAILED]);
    let e = p.send(Record::new("t").value("x")).unwrap().wait().unwrap_err();
    assert_eq!(e.kind(), &DeliveryErrorKind::Fatal(KafkaCode::CLUSTER_AUTHORIZATION_FAILED));
    let e = p.send(Record::new("t").value("y")).unwrap_err();
    assert!(matches!(e.kind(), SendErrorKind::Fatal(_)), "{e}");
}

/// Sends one record after the partition's leader moved while every Metadata
/// answer comes 3 s late; returns how long it took and the producer's
/// leader-hint count.
fn after_a_leader_move_with_slow_metadata(produce_max: Option<i16>) -> (Duration, u64) {
    let c = cluster(3, "t", 1);
    if let Some(max) = produce_max {
        c.set_api_versions(PRODUCE, kafka_sync::protocol::VersionRange::new(3, max)).unwrap();
    }
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    warm(&p, "t");
    let old = c.leader("t", 0).unwrap();
    let new = c.broker_ids().into_iter().find(|b| *b != old).unwrap();
    c.move_leader("t", 0, new).unwrap();
    for _ in 0..50 {
        c.delay_next(METADATA, Duration::from_secs(3));
    }
    let t0 = Instant::now();
    let m = p.send(Record::new("t").value("moved")).unwrap().wait().unwrap();
    let took = t0.elapsed();
    assert_eq!(m.offset(), Some(1));
    let hints = p.metrics().leader_hints;
    c.clear_faults();
    (took, hints)
}

/// KIP-951: a `NOT_LEADER_OR_FOLLOWER` answer to Produce v10+ names the new
/// leader (`CurrentLeader`, `NodeEndpoints`); the producer moves the
/// partition there at once instead of waiting for a metadata round trip. With
/// Produce v9 (no such fields) the same record waits for the slow metadata.
#[test]
fn kip951_the_new_leader_from_the_produce_response() {
    let (with, hints) = after_a_leader_move_with_slow_metadata(None);
    let (without, no_hints) = after_a_leader_move_with_slow_metadata(Some(9));
    eprintln!("leader move to first acknowledgement: {with:?} with KIP-951, {without:?} with Produce v9");
    assert_eq!((hints, no_hints), (1, 0));
    assert!(with < Duration::from_millis(1500), "{with:?}");
    assert!(without >= Duration::from_millis(2500), "{without:?}");
}

/// KIP-219: a Produce response's `throttle_time_ms` holds further requests
/// to that broker back for that long, and shows in the metrics.
#[test]
fn kip219_a_throttled_broker_gets_nothing_until_the_throttle_passed() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    warm(&p, "t");
    c.set_produce_throttle(Duration::from_millis(400));
    let before = c.request_count(PRODUCE);
    p.send(Record::new("t").value("first")).unwrap().wait().unwrap();
    let t0 = Instant::now();
    let second = p.send(Record::new("t").value("second")).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(c.request_count(PRODUCE) - before, 1, "a request went to the throttled broker");
    second.wait().unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(350), "{:?}", t0.elapsed());
    let m = p.metrics();
    assert_eq!(m.produce_throttle_time_max, Duration::from_millis(400));
    assert!(m.produce_throttle_time_avg > Duration::ZERO);
    c.set_produce_throttle(Duration::ZERO);
}
