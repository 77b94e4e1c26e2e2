//! Interceptors (issue 14 item 2, Java's `ProducerInterceptor`) against the
//! crate's mock cluster: order, rewriting, every outcome exactly once and
//! before the record's callback, refusals, contained panics.
#![cfg(feature = "mock")]

#[path = "support/mock.rs"]
mod mock_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_sync::interceptor::{Outcome, ProducerInterceptor};
use kafka_sync::protocol::api_key::PRODUCE;
use kafka_sync::{Header, KafkaCode, Producer, Record, RecordRef, SendErrorKind};
use mock_support::{cluster, config, stored};

/// Adds header `name`, and logs what it sees.
struct Tagger {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

impl ProducerInterceptor for Tagger {
    fn on_send(&self, record: &mut Record) {
        let seen: Vec<&str> = record.headers.iter().map(|h| h.key.as_str()).collect();
        self.log.lock().unwrap().push(format!("{} send saw {seen:?}", self.name));
        record.headers.push(Header::new(self.name, b"1".to_vec()));
    }

    fn on_acknowledgement(&self, outcome: Outcome<'_>) {
        let what = match outcome {
            Outcome::Acknowledged(m) => format!("ack {}@{:?}", m.topic(), m.offset()),
            Outcome::Failed { topic, error } => format!("failed {topic}: {:?}", error.kind()),
            Outcome::Refused { record, error } => format!("refused {}: {error}", record.topic),
            _ => "other".into(),
        };
        self.log.lock().unwrap().push(format!("{} {what}", self.name));
    }
}

fn taggers(log: &Arc<Mutex<Vec<String>>>) -> [Arc<dyn ProducerInterceptor>; 2] {
    [Arc::new(Tagger { name: "a", log: log.clone() }), Arc::new(Tagger { name: "b", log: log.clone() })]
}

#[test]
fn interceptors_run_in_order_and_see_every_outcome_once_before_the_callback() {
    let c = cluster(1, "ic", 1);
    let log = Arc::new(Mutex::new(Vec::new()));
    let [a, b] = taggers(&log);
    let p = Producer::new(config(&c).interceptor(a).interceptor(b).build().unwrap()).unwrap();

    // Through a handle, a callback and a borrowed record.
    p.send(Record::new("ic").value("one")).unwrap().wait().unwrap();
    let cb_log = log.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    p.send_with_callback(Record::new("ic").value("two"), move |r| {
        cb_log.lock().unwrap().push(format!("callback ok={}", r.is_ok()));
        tx.send(()).unwrap();
    })
    .unwrap();
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    p.send_ref(RecordRef::new("ic").value(b"three")).unwrap().wait().unwrap();
    p.flush().unwrap();

    let log = log.lock().unwrap().clone();
    let expected = [
        "a send saw []",
        "b send saw [\"a\"]",
        "a ack ic@Some(0)",
        "b ack ic@Some(0)",
        "a send saw []",
        "b send saw [\"a\"]",
        "a ack ic@Some(1)",
        "b ack ic@Some(1)",
        "callback ok=true",
        "a send saw []",
        "b send saw [\"a\"]",
        "a ack ic@Some(2)",
        "b ack ic@Some(2)",
    ];
    assert_eq!(log, expected);
    // The records carry both headers, in order.
    for (_, r) in stored(&c, "ic") {
        let keys: Vec<&str> = r.headers.iter().map(|h| h.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
    }
}

#[test]
fn failures_and_refusals_reach_the_interceptors() {
    let c = cluster(1, "icf", 1);
    let log = Arc::new(Mutex::new(Vec::new()));
    let [a, _] = taggers(&log);
    let p = Producer::new(config(&c).retries(0).max_request_size(10_000).interceptor(a).build().unwrap())
        .unwrap();
    p.send(Record::new("icf").value("warm-up")).unwrap().wait().unwrap();
    log.lock().unwrap().clear();

    c.push_request_errors(PRODUCE, &[KafkaCode::INVALID_RECORD]);
    let e = p.send(Record::new("icf").value("bad")).unwrap().wait().unwrap_err();
    assert_eq!(e.code(), Some(KafkaCode::INVALID_RECORD));
    // Refused by send: the caller gets its own record back, without the header.
    let big = Record::new("icf").value_vec(vec![0; 20_000]);
    let refused = p.send(big.clone()).unwrap_err();
    assert!(matches!(refused.kind(), SendErrorKind::RecordTooLarge { .. }));
    assert_eq!(refused.into_record(), big);

    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(log[1], "a failed icf: Broker(INVALID_RECORD (87))");
    assert!(log[3].starts_with("a refused icf: record of"), "{log:?}");
}

/// Panics in on_send and on_acknowledgement; counts the calls.
#[derive(Default)]
struct Panicky {
    calls: AtomicUsize,
}

impl ProducerInterceptor for Panicky {
    fn on_send(&self, record: &mut Record) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        record.topic = "nowhere".into();
        panic!("on_send broke");
    }
    fn on_acknowledgement(&self, _: Outcome<'_>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        panic!("on_acknowledgement broke");
    }
}

/// Moves every record to another topic.
struct Redirect;

impl ProducerInterceptor for Redirect {
    fn on_send(&self, record: &mut Record) {
        record.topic = "moved".into();
    }
}

#[test]
fn panics_are_contained_and_records_can_be_redirected() {
    let c = cluster(1, "icp", 1);
    c.create_topic("moved", 1, 1).unwrap();
    let panicky = Arc::new(Panicky::default());
    let p = Producer::new(
        config(&c).interceptor(panicky.clone()).interceptor(Arc::new(Redirect)).build().unwrap(),
    )
    .unwrap();
    for i in 0..5 {
        let m = p.send(Record::new("icp").value(&format!("v{i}"))).unwrap().wait().unwrap();
        // The panicking on_send's change was rolled back; Redirect's stayed.
        assert_eq!(m.topic(), "moved");
    }
    p.flush().unwrap();
    assert_eq!(panicky.calls.load(Ordering::Relaxed), 10, "on_send and on_acknowledgement, 5 records each");
    assert_eq!(stored(&c, "moved").len(), 5);
    assert!(stored(&c, "icp").is_empty());
}
