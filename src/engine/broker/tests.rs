//! Unit tests of the broker threads' pure parts.

use super::*;

#[test]
fn v13_only_when_every_topic_has_an_id() {
    let id = Some([1; 16]);
    assert_eq!(produce_version(13, [id, id]), 13);
    assert_eq!(produce_version(13, [id, None]), 12, "one topic without an id: the request goes at v12");
    assert_eq!(produce_version(13, [None]), 12);
    assert_eq!(produce_version(13, []), 13);
    // Below v13 the negotiated version stands, ids or not.
    assert_eq!(produce_version(12, [None]), 12);
    assert_eq!(produce_version(11, [id]), 11);
    assert_eq!(produce_version(3, [None]), 3);
}

#[test]
fn unknown_topic_id_is_rejected_before_the_append() {
    // Not "possibly persisted": the broker found no topic to append to.
    assert!(!possibly_appended(KafkaCode::UNKNOWN_TOPIC_ID, -1));
}

/// gzip batches sealed two at a time, one of them on a helper thread,
/// arrive whole, in order, each record once.
#[cfg(feature = "mock")]
#[test]
fn gzip_batches_sealed_on_a_helper_thread_arrive_whole_and_in_order() {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use crate::mock::MockCluster;
    use crate::protocol::compression::Compression;
    use crate::{Producer, ProducerConfig, RecordRef};

    if seal::cores() < 2 {
        eprintln!("SKIP: one core: batches are sealed on the broker thread alone");
        return;
    }
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic("gz", 3, 1).unwrap();
    // Nothing is ready before `flush` (a long linger, batches below the
    // 1 MB default): then three batches of about 850 KB are, two requests'
    // worth of which are drained and sealed together.
    let config = ProducerConfig::builder()
        .bootstrap_servers(cluster.bootstrap_servers())
        .compression(Compression::Gzip)
        .linger(Duration::from_secs(30))
        .build()
        .unwrap();
    let p = Producer::new(config).unwrap();
    let value = |i: usize| format!("{{\"i\":{i:08},\"pad\":\"{}\"}}", "x".repeat(i % 64)).into_bytes();
    const PER_PARTITION: usize = 10_000;
    let before = seal::SEALED_BESIDE.load(Ordering::Relaxed);
    let mut handles = Vec::new();
    for i in 0..3 * PER_PARTITION {
        let v = value(i);
        let r = RecordRef::new("gz").partition((i % 3) as i32).value(&v);
        handles.push(p.send_ref(r).unwrap());
    }
    p.flush().unwrap();
    for h in handles {
        h.wait().unwrap();
    }
    assert!(seal::SEALED_BESIDE.load(Ordering::Relaxed) > before, "no batch was sealed on a helper thread");
    for partition in 0..3 {
        let stored = cluster.records("gz", partition as i32);
        assert_eq!(stored.len(), PER_PARTITION, "partition {partition}");
        for (k, r) in stored.iter().enumerate() {
            assert_eq!(r.offset, k as i64);
            assert_eq!(r.value.as_deref(), Some(value(3 * k + partition).as_slice()), "offset {k}");
        }
    }
    p.close(Duration::from_secs(10)).unwrap();
}
