//! Interoperability: kafka-sync produces to brokers nobody here wrote (tansu,
//! librdkafka's mock cluster) and an independent client (librdkafka's
//! consumer) reads the records back: content, per-partition order, the
//! partition of each key, nothing lost or duplicated.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use kafka_sync::partitioner::partition_for_key;
use kafka_sync::protocol::compression::Compression;
use kafka_sync::{Producer, Record};
use support::{producer, read_to_end, require_broker, ConsumedRecord, RdMock, Tansu};

/// Sends `n` records per thread from `threads` threads: keyed (with headers)
/// when `keyed`, else null keys. Returns (value -> (partition, offset)).
fn produce(p: &Arc<Producer>, topic: &str, threads: u32, n: u32, keyed: bool) -> HashMap<String, (i32, i64)> {
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let p = p.clone();
            let topic = topic.to_owned();
            std::thread::spawn(move || {
                let mut hs = Vec::new();
                for i in 0..n {
                    let value = format!("{t}:{i}");
                    let mut r =
                        Record::new(topic.clone()).value(&value).header("thread", &t).header("seq", &i);
                    if keyed {
                        r = r.key(&format!("key-{}", (t * 7 + i) % 23));
                    }
                    hs.push((value, p.send(r).unwrap()));
                }
                hs.into_iter()
                    .map(|(v, h)| {
                        let m = h.wait().unwrap_or_else(|e| panic!("{v}: {e}"));
                        (v, (m.partition(), m.offset().expect("acks=all gives offsets")))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
}

fn verify(read: &[ConsumedRecord], acked: &HashMap<String, (i32, i64)>, partitions: i32, keyed: bool) {
    assert_eq!(read.len(), acked.len(), "read back exactly what was acknowledged");
    let mut seen = HashSet::new();
    let mut last: HashMap<(i32, u32), u32> = HashMap::new();
    let mut sorted: Vec<&ConsumedRecord> = read.iter().collect();
    sorted.sort_by_key(|r| (r.partition, r.offset));
    for r in sorted {
        let v = String::from_utf8(r.value.clone().unwrap()).unwrap();
        assert!(seen.insert(v.clone()), "duplicate {v}");
        assert_eq!(acked.get(&v), Some(&(r.partition, r.offset)), "{v} read where its handle said");
        let (t, i) = v.split_once(':').unwrap();
        let (t, i): (u32, u32) = (t.parse().unwrap(), i.parse().unwrap());
        assert_eq!(
            r.headers,
            vec![
                ("thread".to_owned(), Some(t.to_be_bytes().to_vec())),
                ("seq".to_owned(), Some(i.to_be_bytes().to_vec()))
            ]
        );
        if keyed {
            let key = r.key.clone().unwrap();
            assert_eq!(key, format!("key-{}", (t * 7 + i) % 23).into_bytes());
            assert_eq!(r.partition, partition_for_key(&key, partitions), "murmur2 placement");
        } else {
            assert!(r.key.is_none());
        }
        if let Some(prev) = last.insert((r.partition, t), i) {
            assert!(i > prev, "thread {t} reordered in partition {}: {prev} then {i}", r.partition);
        }
    }
}

#[test]
fn tansu_keyed_and_unkeyed_every_codec() {
    let Some(tansu) = require_broker("tansu_keyed_and_unkeyed_every_codec", Tansu::start()) else { return };
    for (n, codec) in Compression::ALL.into_iter().filter(|c| c.is_available()).enumerate() {
        for keyed in [true, false] {
            let topic = format!("interop-{codec}-{keyed}");
            tansu.create_topic(&topic, 3).unwrap();
            let p = Arc::new(producer(&tansu.bootstrap(), codec, n % 2 == 0));
            let acked = produce(&p, &topic, 4, 500, keyed);
            let read = read_to_end(&tansu.bootstrap(), &topic, Duration::from_secs(60))
                .unwrap_or_else(|(e, got)| panic!("{topic}: {e} after {} records", got.len()));
            verify(&read, &acked, 3, keyed);
            Arc::try_unwrap(p).unwrap().close(Duration::from_secs(10)).unwrap();
        }
    }
}

#[test]
fn librdkafka_mock_cluster_three_brokers() {
    support::init_log();
    let Some(mock) = require_broker("librdkafka_mock_cluster_three_brokers", RdMock::start(3)) else {
        return;
    };
    for codec in Compression::ALL.into_iter().filter(|c| c.is_available()) {
        let topic = format!("interop-{codec}");
        mock.create_topic(&topic, 6, 3).unwrap();
        let p = Arc::new(producer(&mock.bootstrap(), codec, true));
        let acked = produce(&p, &topic, 4, 500, true);
        let read = read_to_end(&mock.bootstrap(), &topic, Duration::from_secs(60))
            .unwrap_or_else(|(e, got)| panic!("{topic}: {e} after {} records", got.len()));
        verify(&read, &acked, 6, true);
        // One I/O thread per broker that leads a partition: the mock places
        // leaders itself, so count them rather than assume a spread.
        let mut leaders: Vec<i32> =
            p.partitions_for(&topic).unwrap().iter().filter_map(|i| i.leader).collect();
        leaders.sort_unstable();
        leaders.dedup();
        assert!(
            p.broker_threads() >= leaders.len(),
            "{} broker threads for leaders {leaders:?}",
            p.broker_threads()
        );
        Arc::try_unwrap(p).unwrap().close(Duration::from_secs(10)).unwrap();
    }
}

#[test]
fn tansu_eight_threads_idempotent() {
    let Some(tansu) = require_broker("tansu_eight_threads_idempotent", Tansu::start()) else { return };
    tansu.create_topic("threads", 4).unwrap();
    let p = Arc::new(producer(&tansu.bootstrap(), Compression::None, true));
    let acked = produce(&p, "threads", 8, 2500, true);
    let read = read_to_end(&tansu.bootstrap(), "threads", Duration::from_secs(60))
        .unwrap_or_else(|(e, _)| panic!("{e}"));
    verify(&read, &acked, 4, true);
}
