//! Client telemetry (KIP-714) against the crate's mock cluster: the producer
//! subscribes, pushes the requested metrics (and only those) at the interval
//! the broker asks for, makes a terminating push on close, follows a changed
//! subscription, stops on `INVALID_RECORD`, and sends nothing with
//! `enable.metrics.push=false` or to a broker that does not offer telemetry.
#![cfg(feature = "mock")]

#[path = "support/mock.rs"]
mod mock_support;

use std::time::{Duration, Instant};

use kafka_sync::mock::{MockCluster, MockTelemetry, TelemetryPush};
use kafka_sync::protocol::api_key::{GET_TELEMETRY_SUBSCRIPTIONS, PUSH_TELEMETRY};
use kafka_sync::protocol::compression::Compression;
use kafka_sync::{KafkaCode, Producer, Record};
use mock_support::{cluster, config};

const INTERVAL: Duration = Duration::from_millis(200);

fn send_some(p: &Producer, n: usize) {
    let handles: Vec<_> =
        (0..n).map(|i| p.send(Record::new("t").key(&format!("k{i}")).value("v")).unwrap()).collect();
    for h in handles {
        h.wait().unwrap();
    }
}

/// Waits (at most 10 s) until `pred` holds for the pushes received.
fn wait_for_pushes(
    c: &MockCluster,
    what: &str,
    pred: impl Fn(&[TelemetryPush]) -> bool,
) -> Vec<TelemetryPush> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pushes = c.telemetry_pushes();
        if pred(&pushes) {
            return pushes;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {pushes:#?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn telemetry_requests(c: &MockCluster) -> usize {
    c.request_count(GET_TELEMETRY_SUBSCRIPTIONS) + c.request_count(PUSH_TELEMETRY)
}

#[test]
fn pushes_the_requested_metrics_periodically_and_once_more_on_close() {
    let c = cluster(1, "t", 2);
    let prefixes = ["org.apache.kafka.producer.request.latency.", "org.apache.kafka.producer.record.send."];
    c.set_telemetry(Some(MockTelemetry::requesting(prefixes).every(INTERVAL)));
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    let started = Instant::now();
    send_some(&p, 20);
    let pushes = wait_for_pushes(&c, "3 pushes", |p| p.len() >= 3);
    let elapsed = started.elapsed();
    // Not faster than asked: the first after 0.5-1.5 intervals, then one per interval.
    assert!(elapsed >= INTERVAL * 2, "{} pushes in {elapsed:?}", pushes.len());
    let id = pushes[0].client_instance_id;
    assert_ne!(id, [0; 16], "the broker's client instance id is used");
    for push in &pushes {
        assert_eq!(push.error_code, 0, "{push:?}");
        assert!(!push.terminating);
        assert_eq!(push.client_instance_id, id);
        assert_eq!(push.compression_type, Compression::Zstd.code() as i8, "the broker's first choice");
        assert!(!push.metric_names.is_empty());
        for name in &push.metric_names {
            assert!(prefixes.iter().any(|p| name.starts_with(p)), "{name} was not requested");
        }
        for want in [
            "org.apache.kafka.producer.request.latency.avg",
            "org.apache.kafka.producer.request.latency.max",
            "org.apache.kafka.producer.record.send.total",
            "org.apache.kafka.producer.record.send.rate",
        ] {
            assert!(push.metric_names.iter().any(|n| n == want), "{want} missing from {push:?}");
        }
    }
    assert_eq!(c.telemetry_subscriptions_served(), 1);
    let before_close = c.telemetry_pushes().len();
    p.close(Duration::from_secs(5)).unwrap();
    let pushes = c.telemetry_pushes();
    let last = pushes.last().unwrap();
    assert!(last.terminating, "{last:?}");
    assert_eq!(last.client_instance_id, id);
    assert_eq!(pushes.iter().filter(|p| p.terminating).count(), 1);
    assert!(pushes.len() <= before_close + 2);
}

#[test]
fn nothing_is_sent_with_enable_metrics_push_false() {
    let c = cluster(1, "t", 1);
    c.set_telemetry(Some(MockTelemetry::default().every(Duration::from_millis(50))));
    let p = Producer::new(config(&c).set("enable.metrics.push", "false").build().unwrap()).unwrap();
    send_some(&p, 5);
    std::thread::sleep(Duration::from_millis(300));
    p.close(Duration::from_secs(5)).unwrap();
    assert_eq!(telemetry_requests(&c), 0);
    assert!(c.telemetry_pushes().is_empty());
}

#[test]
fn a_broker_without_telemetry_is_asked_nothing() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    send_some(&p, 5);
    std::thread::sleep(Duration::from_millis(200));
    p.close(Duration::from_secs(5)).unwrap();
    assert_eq!(telemetry_requests(&c), 0);
}

#[test]
fn an_empty_subscription_pushes_nothing_and_is_asked_for_again() {
    let c = cluster(1, "t", 1);
    c.set_telemetry(Some(MockTelemetry::requesting(Vec::<String>::new()).every(Duration::from_millis(100))));
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    send_some(&p, 5);
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.telemetry_subscriptions_served() < 3 {
        assert!(Instant::now() < deadline, "the subscription was not asked for again");
        std::thread::sleep(Duration::from_millis(20));
    }
    p.close(Duration::from_secs(5)).unwrap();
    assert!(c.telemetry_pushes().is_empty(), "{:?}", c.telemetry_pushes());
}

#[test]
fn a_new_subscription_is_fetched_after_unknown_subscription_id() {
    let c = cluster(1, "t", 1);
    c.set_telemetry(Some(
        MockTelemetry::requesting(["org.apache.kafka.producer.request.latency."]).every(INTERVAL),
    ));
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    send_some(&p, 5);
    wait_for_pushes(&c, "a first push", |p| !p.is_empty());
    // The operator changes the subscription: the next push names the old
    // id, is refused, and the producer subscribes again.
    c.set_telemetry(Some(
        MockTelemetry::requesting(["org.apache.kafka.producer.produce.throttle."]).every(INTERVAL),
    ));
    let pushes = wait_for_pushes(&c, "a push of the new subscription", |p| {
        p.iter().any(|p| p.error_code == 0 && p.metric_names.iter().any(|n| n.contains("throttle")))
    });
    assert!(pushes.iter().any(|p| p.error_code == KafkaCode::UNKNOWN_SUBSCRIPTION_ID.0), "{pushes:#?}");
    let new = pushes.iter().rfind(|p| p.error_code == 0).unwrap();
    assert!(new.metric_names.iter().all(|n| n.starts_with("org.apache.kafka.producer.produce.throttle.")));
    assert_eq!(new.client_instance_id, pushes[0].client_instance_id, "the instance id is kept");
    assert!(c.telemetry_subscriptions_served() >= 2);
    p.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn compression_follows_the_broker_and_invalid_record_stops_pushing() {
    let c = cluster(1, "t", 1);
    c.set_telemetry(Some(MockTelemetry {
        accepted_compression: vec![Compression::Gzip],
        ..MockTelemetry::default().every(Duration::from_millis(100))
    }));
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    send_some(&p, 5);
    let pushes = wait_for_pushes(&c, "a push", |p| !p.is_empty());
    assert_eq!(pushes[0].compression_type, Compression::Gzip.code() as i8);
    assert!(pushes[0].metric_names.len() >= 10, "everything was requested: {:?}", pushes[0].metric_names);
    c.push_request_errors(PUSH_TELEMETRY, &[KafkaCode::INVALID_RECORD]);
    wait_for_pushes(&c, "the refused push", |p| {
        p.iter().any(|p| p.error_code == KafkaCode::INVALID_RECORD.0)
    });
    let n = c.telemetry_pushes().len();
    std::thread::sleep(Duration::from_millis(500));
    p.close(Duration::from_secs(5)).unwrap();
    assert_eq!(c.telemetry_pushes().len(), n, "no push after INVALID_RECORD, not even a terminating one");
}

#[test]
fn uncompressed_when_the_broker_accepts_no_codec() {
    let c = cluster(1, "t", 1);
    c.set_telemetry(Some(MockTelemetry {
        accepted_compression: vec![],
        ..MockTelemetry::default().every(Duration::from_millis(100))
    }));
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    send_some(&p, 1);
    let pushes = wait_for_pushes(&c, "a push", |p| !p.is_empty());
    assert_eq!(pushes[0].compression_type, 0);
    assert_eq!(pushes[0].error_code, 0);
    p.close(Duration::from_secs(5)).unwrap();
}
