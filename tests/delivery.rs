//! Delivery against the crate's mock cluster: content, offsets, keys,
//! headers, timestamps, acks levels, callbacks, futures, flush, metrics.
#![cfg(feature = "mock")]

#[path = "support/mock.rs"]
mod mock_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_sync::partitioner::partition_for_key;
use kafka_sync::{Acks, DeliveryError, Header, Producer, Record, RecordMetadata, RecordRef, SendErrorKind};
use mock_support::{cluster, config, stored};

#[test]
fn keyed_records_with_headers_arrive_intact_at_their_offsets() {
    let c = cluster(3, "orders", 3);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    let mut handles = Vec::new();
    for i in 0..300u32 {
        let r = Record::new("orders")
            .key(&format!("key-{}", i % 17))
            .value(&format!("value-{i}"))
            .header("i", &i)
            .null_header("empty")
            .timestamp(1_700_000_000_000 + i64::from(i));
        handles.push((i, p.send(r).unwrap()));
    }
    let mut acked = Vec::new();
    for (i, h) in handles {
        let m = h.wait().unwrap();
        assert_eq!(m.topic(), "orders");
        assert_eq!(m.timestamp(), 1_700_000_000_000 + i64::from(i));
        let key = format!("key-{}", i % 17);
        // Java-compatible murmur2: the partition Java producers would pick.
        assert_eq!(m.partition(), partition_for_key(key.as_bytes(), 3), "key {key}");
        assert_eq!(m.serialized_key_size(), Some(key.len()));
        acked.push((i, m));
    }
    let all = stored(&c, "orders");
    assert_eq!(all.len(), 300);
    for (i, m) in acked {
        let (_, r) = all
            .iter()
            .find(|(p, r)| *p == m.partition() && Some(r.offset) == m.offset())
            .unwrap_or_else(|| panic!("record {i} not at {:?}", m.offset()));
        assert_eq!(r.value.as_deref(), Some(format!("value-{i}").as_bytes()));
        assert_eq!(r.key.as_deref(), Some(format!("key-{}", i % 17).as_bytes()));
        assert_eq!(
            r.headers,
            vec![
                Header { key: "i".into(), value: Some(i.to_be_bytes().to_vec()) },
                Header { key: "empty".into(), value: None }
            ]
        );
        assert_eq!(r.timestamp, 1_700_000_000_000 + i64::from(i));
    }
    p.close(Duration::from_secs(5)).unwrap();
}

#[test]
fn null_keys_and_values_stay_null_and_spread_sticky() {
    let c = cluster(1, "t", 4);
    let p = Producer::new(config(&c).batch_size(1024).build().unwrap()).unwrap();
    let mut hs: Vec<_> = (0..400).map(|_| p.send(Record::new("t").value(&[7u8; 50])).unwrap()).collect();
    // A tombstone: null key, null value.
    hs.push(p.send(Record::new("t").partition(0)).unwrap());
    let parts: std::collections::BTreeSet<i32> =
        hs.into_iter().map(|h| h.wait().unwrap().partition()).collect();
    assert!(parts.len() > 1, "sticky partitioning moves on after batch.size bytes: {parts:?}");
    let all = stored(&c, "t");
    assert!(
        all.iter().any(|(_, r)| r.key.is_none() && r.value.is_none()),
        "tombstone stored with null value"
    );
    assert!(all.iter().all(|(_, r)| r.key.is_none()));
}

#[test]
fn explicit_partition_wins() {
    let c = cluster(2, "t", 4);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    for part in 0..4 {
        let m = p.send(Record::new("t").key("same").value("v").partition(part)).unwrap().wait().unwrap();
        assert_eq!(m.partition(), part);
        assert_eq!(c.records("t", part).len(), 1);
    }
}

#[test]
fn acks_levels() {
    let c = cluster(1, "t", 1);
    for (acks, offset_known) in [(Acks::All, true), (Acks::Leader, true), (Acks::None, false)] {
        let p = Producer::new(config(&c).acks(acks).enable_idempotence(false).build().unwrap()).unwrap();
        let m = p.send(Record::new("t").value("x")).unwrap().wait().unwrap();
        assert_eq!(m.offset().is_some(), offset_known, "{acks:?}");
        p.close(Duration::from_secs(5)).unwrap();
    }
    // With acks=0 the write happened all the same (the handle resolved when
    // the request was written, so give the broker a moment to append it).
    let t0 = std::time::Instant::now();
    while c.records("t", 0).len() < 3 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(c.records("t", 0).len(), 3);
}

#[test]
fn callbacks_flush_and_metrics() {
    let c = cluster(1, "t", 2);
    let p = Producer::new(config(&c).linger(Duration::from_secs(10)).build().unwrap()).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    for i in 0..100u32 {
        let d = done.clone();
        p.send_with_callback(Record::new("t").key(&i).value("v"), move |r| {
            assert!(r.is_ok());
            d.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    // linger.ms is 10 s: only flush makes them go now.
    p.flush_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 100);
    let m = p.metrics();
    assert_eq!(m.records_sent, 100);
    assert_eq!(m.records_queued, 0);
    assert_eq!(m.buffer_used, 0);
    assert!(m.requests >= 1 && m.batches_sent >= 1);
    assert!(m.avg_records_per_batch > 1.0);
}

#[test]
fn handle_is_a_future() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    let h = p.send(Record::new("t").value("async")).unwrap();
    let m = block_on(h).unwrap();
    assert_eq!(m.offset(), Some(0));
}

/// A minimal executor: polls with a thread-unparking waker.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park_timeout(Duration::from_secs(1)),
        }
    }
}

#[test]
fn every_codec_round_trips_through_the_broker() {
    use kafka_sync::protocol::compression::Compression;
    let c = cluster(1, "t", 1);
    let codecs: Vec<Compression> = Compression::ALL.into_iter().filter(|c| c.is_available()).collect();
    for codec in &codecs {
        let p = Producer::new(config(&c).compression(*codec).build().unwrap()).unwrap();
        let hs: Vec<_> =
            (0..50).map(|i| p.send(Record::new("t").value(&format!("{codec}-{i}"))).unwrap()).collect();
        for h in hs {
            h.wait().unwrap();
        }
    }
    let stored = c.records("t", 0);
    assert_eq!(stored.len(), 50 * codecs.len());
    for codec in &codecs {
        let v: Vec<_> = stored.iter().filter(|r| r.compression == *codec).collect();
        assert_eq!(v.len(), 50, "{codec}");
        assert_eq!(v[7].value.as_deref(), Some(format!("{codec}-7").as_bytes()));
    }
}

#[test]
fn partitions_for_reports_leaders() {
    let c = cluster(3, "t", 5);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    let parts = p.partitions_for("t").unwrap();
    assert_eq!(parts.len(), 5);
    for info in parts {
        assert_eq!(info.leader, c.leader("t", info.partition));
    }
}

#[test]
fn follows_partition_count_changes() {
    let c = cluster(2, "grow", 2);
    let p = Producer::new(config(&c).metadata_max_age(Duration::from_millis(200)).build().unwrap()).unwrap();
    assert_eq!(p.partitions_for("grow").unwrap().len(), 2);
    let e = p.send(Record::new("grow").value("v").partition(3)).unwrap_err();
    assert!(matches!(e.kind(), kafka_sync::SendErrorKind::InvalidPartition { partitions: 2, .. }));
    c.add_partitions("grow", 4).unwrap();
    // The periodic refresh (metadata.max.age.ms) picks the new partitions up.
    let t0 = std::time::Instant::now();
    while p.partitions_for("grow").unwrap().len() < 4 {
        assert!(t0.elapsed() < Duration::from_secs(5), "never saw the new partitions");
        std::thread::sleep(Duration::from_millis(20));
    }
    let m = p.send(Record::new("grow").value("new").partition(3)).unwrap().wait().unwrap();
    assert_eq!((m.partition(), m.offset()), (3, Some(0)));
    assert_eq!(c.records("grow", 3).len(), 1);
    // Keyed records now spread over four partitions, as Java's would.
    let m = p.send(Record::new("grow").key("k").value("v")).unwrap().wait().unwrap();
    assert_eq!(m.partition(), partition_for_key(b"k", 4));
}

#[test]
fn callbacks_may_try_send_and_a_panicking_one_is_contained() {
    let c = cluster(1, "t", 1);
    let p = Arc::new(Producer::new(config(&c).build().unwrap()).unwrap());
    p.partitions_for("t").unwrap();
    // A panic in one callback does not take the I/O thread down.
    p.send_with_callback(Record::new("t").value("boom"), |_| panic!("callback panics on purpose")).unwrap();
    // A callback may send (without blocking: try_send), e.g. to chain records.
    let chained = Arc::new(std::sync::Mutex::new(None));
    let (p2, slot) = (p.clone(), chained.clone());
    p.send_with_callback(Record::new("t").value("first"), move |r| {
        assert!(r.is_ok());
        *slot.lock().unwrap() =
            Some(p2.try_send(Record::new("t").value("second")).map_err(|e| e.to_string()));
    })
    .unwrap();
    p.flush_timeout(Duration::from_secs(10)).unwrap();
    let second = chained.lock().unwrap().take().expect("the callback ran before flush returned");
    second.expect("try_send from a callback").wait().unwrap();
    let values: Vec<_> = c.records("t", 0).into_iter().map(|r| r.value.unwrap()).collect();
    assert_eq!(values, vec![b"boom".to_vec(), b"first".to_vec(), b"second".to_vec()]);
    // The producer still works after the panic.
    p.send(Record::new("t").value("after")).unwrap().wait().unwrap();
}

/// Borrowed records (`send_ref`, `send_ref_with_callback`) arrive intact,
/// with their headers, keys and partitions; a buffer reused between sends
/// does not change what was sent; a callback that captures nothing runs once
/// per record; a refusal says why.
#[test]
fn borrowed_records_arrive_intact() {
    static DELIVERED: AtomicUsize = AtomicUsize::new(0);
    fn delivered(r: Result<RecordMetadata, DeliveryError>) {
        r.unwrap();
        DELIVERED.fetch_add(1, Ordering::SeqCst);
    }
    let c = cluster(1, "b", 2);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    let headers = [Header::new("h", b"v".to_vec())];
    let mut buf = Vec::new();
    for i in 0..100u32 {
        buf.clear();
        buf.extend_from_slice(format!("value-{i}").as_bytes());
        let key = format!("key-{i}");
        let r =
            RecordRef::new("b").key(key.as_bytes()).value(&buf).headers(&headers).partition((i % 2) as i32);
        if i % 2 == 0 {
            p.send_ref_with_callback(r, delivered).unwrap();
        } else {
            let m = p.send_ref(r).unwrap().wait().unwrap();
            assert_eq!(m.partition(), 1);
        }
    }
    p.flush().unwrap();
    assert_eq!(DELIVERED.load(Ordering::SeqCst), 50);
    let mut got: Vec<(i32, String, String)> = stored(&c, "b")
        .into_iter()
        .map(|(part, r)| {
            assert_eq!(r.headers, headers.to_vec());
            (part, String::from_utf8(r.key.unwrap()).unwrap(), String::from_utf8(r.value.unwrap()).unwrap())
        })
        .collect();
    got.sort_by_key(|(_, k, _)| k.trim_start_matches("key-").parse::<u32>().unwrap());
    let want: Vec<(i32, String, String)> =
        (0..100u32).map(|i| ((i % 2) as i32, format!("key-{i}"), format!("value-{i}"))).collect();
    assert_eq!(got, want);
    let e = p.send_ref(RecordRef::new("b").value(b"x").partition(-1)).unwrap_err();
    assert!(matches!(e.kind(), SendErrorKind::InvalidPartition { partition: -1, .. }), "{e}");
}

/// Per-record lifecycle timings, from clock readings the batch shares: the
/// wait in the producer (linger), the delivering request's round trip, the
/// attempts, and the total from `send` to acknowledgement.
#[test]
fn records_report_their_lifecycle_timings() {
    use kafka_sync::protocol::api_key::PRODUCE;
    let c = cluster(1, "lt", 1);
    let p = Producer::new(config(&c).linger(Duration::from_millis(60)).build().unwrap()).unwrap();
    p.send(Record::new("lt").value("warm-up")).unwrap().wait().unwrap();
    c.delay_next(PRODUCE, Duration::from_millis(150));
    let m = p.send(Record::new("lt").value("slow")).unwrap().wait().unwrap();
    assert_eq!(m.attempts(), 1);
    assert!(m.queue_time() >= Duration::from_millis(50), "{:?}", m.queue_time());
    let request = m.request_time().unwrap();
    assert!(request >= Duration::from_millis(140), "{request:?}");
    assert!(m.latency() >= m.queue_time() + request - Duration::from_millis(5), "{m:?}");
    assert!(m.latency() < Duration::from_secs(5), "{m:?}");
    c.push_request_errors(PRODUCE, &[kafka_sync::KafkaCode::NOT_ENOUGH_REPLICAS]);
    let m = p.send(Record::new("lt").value("retried")).unwrap().wait().unwrap();
    assert_eq!(m.attempts(), 2);
}

/// Issue 14 item 1: a failed record tells how long it queued, how long the
/// failing answer took, how many requests carried it, and its time to the
/// failure; a record that failed while queued says it was never sent.
#[test]
fn failed_records_report_their_lifecycle_timings() {
    use kafka_sync::protocol::api_key::PRODUCE;
    let c = cluster(1, "ft", 1);
    let p = Producer::new(config(&c).linger(Duration::from_millis(40)).retries(0).build().unwrap()).unwrap();
    p.send(Record::new("ft").value("warm-up")).unwrap().wait().unwrap();
    c.set_response_delay(1, Duration::from_millis(120)).unwrap();
    c.push_request_errors(PRODUCE, &[kafka_sync::KafkaCode::INVALID_RECORD]);
    let e = p.send(Record::new("ft").value("refused")).unwrap().wait().unwrap_err();
    c.set_response_delay(1, Duration::ZERO).unwrap();
    assert_eq!(e.attempts(), 1, "{e:?}");
    let queued = e.queue_time().expect("the batch was sent");
    assert!(queued >= Duration::from_millis(30), "{queued:?}");
    let request = e.request_time().expect("a broker's answer failed it");
    assert!(request >= Duration::from_millis(110), "{request:?}");
    let latency = e.latency().expect("a record's error");
    assert!(latency >= queued + request - Duration::from_millis(5), "{e:?}");
    assert!(latency < Duration::from_secs(5), "{e:?}");

    // Never sent: the only broker is down until the delivery timeout.
    let p = Producer::new(
        config(&c)
            .linger(Duration::ZERO)
            .request_timeout(Duration::from_millis(200))
            .delivery_timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    )
    .unwrap();
    p.partitions_for("ft").unwrap();
    c.broker_down(1).unwrap();
    let e = p.send(Record::new("ft").value("stranded")).unwrap().wait().unwrap_err();
    assert_eq!(e.attempts(), 0, "{e:?}");
    assert_eq!(e.queue_time(), None, "{e:?}");
    assert_eq!(e.request_time(), None, "{e:?}");
    let latency = e.latency().expect("a record's error");
    assert!(latency >= Duration::from_millis(250) && latency < Duration::from_secs(5), "{e:?}");
    c.broker_up(1).unwrap();
}
