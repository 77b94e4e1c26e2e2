//! Bad input gets a clear error and loses nothing: the record is handed back.
#![cfg(feature = "mock")]

#[path = "support/mock.rs"]
mod mock_support;

use std::time::{Duration, Instant};

use kafka_sync::{ConfigError, Producer, ProducerConfig, Record, SendErrorKind};
use mock_support::{cluster, config};

#[test]
fn oversize_record_is_refused_and_handed_back() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).max_request_size(10_000).build().unwrap()).unwrap();
    let big = vec![1u8; 20_000];
    let e = p.send(Record::new("t").key("k").value(&big)).unwrap_err();
    assert!(matches!(e.kind(), SendErrorKind::RecordTooLarge { max: 10_000, .. }), "{e}");
    assert!(e.to_string().contains("larger than the limit"), "{e}");
    let r = e.into_record();
    assert_eq!(r.value.as_deref(), Some(&big[..]));
    // The producer is unaffected.
    p.send(Record::new("t").value("small")).unwrap().wait().unwrap();
}

#[test]
fn record_larger_than_buffer_memory_is_refused() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).batch_size(1024).buffer_memory(4096).build().unwrap()).unwrap();
    let e = p.send(Record::new("t").value(&vec![0u8; 8192])).unwrap_err();
    assert!(matches!(e.kind(), SendErrorKind::RecordTooLarge { max: 4096, .. }), "{e}");
}

#[test]
fn unknown_topic_fails_after_max_block() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).max_block(Duration::from_millis(500)).build().unwrap()).unwrap();
    let t0 = Instant::now();
    let e = p.send(Record::new("no-such-topic").value("v")).unwrap_err();
    let waited = t0.elapsed();
    assert_eq!(e.kind(), &SendErrorKind::UnknownTopic, "{e}");
    assert!(waited >= Duration::from_millis(450) && waited < Duration::from_secs(3), "{waited:?}");
    assert!(e.to_string().contains("max.block.ms"), "{e}");
    assert_eq!(e.into_record().topic, "no-such-topic");
    // try_send never blocks.
    let t0 = Instant::now();
    let e = p.try_send(Record::new("other-missing").value("v")).unwrap_err();
    assert_eq!(e.kind(), &SendErrorKind::UnknownTopic);
    assert!(t0.elapsed() < Duration::from_millis(200));
}

#[test]
fn topic_created_while_waiting_is_found() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).max_block(Duration::from_secs(10)).build().unwrap()).unwrap();
    let c2 = std::sync::Arc::new(c);
    let cc = c2.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        cc.create_topic("late", 2, 1).unwrap();
    });
    let m = p.send(Record::new("late").value("v")).unwrap().wait().unwrap();
    assert_eq!(m.topic(), "late");
    t.join().unwrap();
}

#[test]
fn partition_out_of_range() {
    let c = cluster(1, "t", 3);
    // A partition beyond the known count is waited for (up to max.block.ms)
    // in case the topic just grew, as in Java; a negative one fails at once.
    let p = Producer::new(config(&c).max_block(Duration::from_millis(300)).build().unwrap()).unwrap();
    for bad in [3, 99, -1] {
        let e = p.send(Record::new("t").value("v").partition(bad)).unwrap_err();
        assert_eq!(e.kind(), &SendErrorKind::InvalidPartition { partition: bad, partitions: 3 });
        assert_eq!(e.record().partition, Some(bad));
    }
}

#[test]
fn invalid_topic_names() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    let e = p.send(Record::new("").value("v")).unwrap_err();
    assert_eq!(e.kind(), &SendErrorKind::InvalidTopic);
    let e = p.send(Record::new("x".repeat(250)).value("v")).unwrap_err();
    assert_eq!(e.kind(), &SendErrorKind::InvalidTopic);
}

#[test]
fn send_after_close_is_refused() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    p.close(Duration::from_secs(5)).unwrap();
    let e = p.send(Record::new("t").value("late")).unwrap_err();
    assert_eq!(e.kind(), &SendErrorKind::Closed);
    assert_eq!(e.into_record().value.as_deref(), Some(&b"late"[..]));
    assert!(p.flush_timeout(Duration::from_millis(100)).is_ok(), "nothing left to flush");
    assert!(p.close(Duration::from_secs(1)).is_ok(), "close twice is fine");
}

#[test]
fn bad_config_names_the_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("linger.ms", "soon", "linger.ms"),
        ("no.such.key", "1", "no.such.key"),
        ("acks", "2", "acks"),
        ("compression.type", "brotli", "compression.type"),
        ("batch.size", "0", "batch.size"),
    ];
    for (k, v, named) in cases {
        let e: ConfigError =
            ProducerConfig::builder().bootstrap_servers("127.0.0.1:9092").set(*k, *v).build().unwrap_err();
        assert_eq!(e.key(), *named, "{e}");
        assert!(e.to_string().contains(named), "{e}");
    }
    let e = ProducerConfig::builder().build().unwrap_err();
    assert_eq!(e.key(), "bootstrap.servers");
    // Inconsistent: idempotence explicitly on with acks=1.
    let e = ProducerConfig::from_properties([
        ("bootstrap.servers", "127.0.0.1:9092"),
        ("enable.idempotence", "true"),
        ("acks", "1"),
    ])
    .unwrap_err();
    assert!(e.key() == "acks" || e.key() == "enable.idempotence", "{e}");
}

#[test]
fn buffer_full_blocks_then_fails_with_try_send_and_send_timeout() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(
        config(&c)
            .batch_size(1024)
            .buffer_memory(8192)
            .linger(Duration::from_millis(1))
            .max_block(Duration::from_millis(300))
            .build()
            .unwrap(),
    )
    .unwrap();
    // Metadata first: try_send does not wait for it.
    assert_eq!(p.partitions_for("t").unwrap().len(), 1);
    // Then the broker stops answering: nothing leaves the buffer any more.
    c.set_response_delay(1, Duration::MAX).unwrap();
    let mut handles = Vec::new();
    let err = loop {
        match p.try_send(Record::new("t").value(&[0u8; 200])) {
            Ok(h) => handles.push(h),
            Err(e) => break e,
        }
        assert!(handles.len() < 100, "buffer.memory must bound the queue");
    };
    assert_eq!(err.kind(), &SendErrorKind::BufferFull);
    let m = p.metrics();
    assert!(m.buffer_used <= 8192, "{}", m.buffer_used);
    let t0 = Instant::now();
    let e = p.send(Record::new("t").value(&[0u8; 200])).unwrap_err();
    assert_eq!(e.kind(), &SendErrorKind::BufferFull);
    let w = t0.elapsed();
    assert!(w >= Duration::from_millis(280) && w < Duration::from_secs(3), "send blocks max.block.ms: {w:?}");
    let t0 = Instant::now();
    let e = p.send_timeout(Record::new("t").value(&[0u8; 200]), Duration::from_millis(50)).unwrap_err();
    assert_eq!(e.kind(), &SendErrorKind::BufferFull);
    assert!(t0.elapsed() < Duration::from_millis(1000));
    // Closing resolves every queued handle.
    let _ = p.close(Duration::from_millis(200));
    for h in handles {
        assert!(h.try_result().is_some(), "every handle resolved by close");
    }
}

/// Issue 13 item 5: a `bootstrap.servers` in which no name resolves fails at
/// `Producer::new`, naming the key and every entry (Java's "No resolvable
/// bootstrap urls"), instead of lookup warnings until `max.block.ms`.
#[test]
fn unresolvable_bootstrap_servers_fail_at_once() {
    let started = std::time::Instant::now();
    let cfg = kafka_sync::ProducerConfig::builder()
        .bootstrap_servers("nosuchhost.invalid:9092,also-missing.invalid:9093")
        .build()
        .unwrap();
    let e = match kafka_sync::Producer::new(cfg) {
        Err(kafka_sync::Error::Config(e)) => e,
        other => panic!("expected a configuration error, got {other:?}"),
    };
    assert_eq!(e.key(), "bootstrap.servers");
    let m = e.to_string();
    assert!(m.contains("nosuchhost.invalid:9092") && m.contains("also-missing.invalid:9093"), "{m}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // One resolvable entry is enough.
    let cfg = kafka_sync::ProducerConfig::builder()
        .bootstrap_servers("nosuchhost.invalid:9092,127.0.0.1:9")
        .build()
        .unwrap();
    kafka_sync::Producer::new(cfg).unwrap().close(std::time::Duration::from_secs(5)).unwrap();
}
