//! Proves the interoperability harness (`tests/support`) with a producer nobody
//! here wrote: librdkafka's `BaseProducer` writes 100 keyed records with headers
//! and timestamps to tansu and to librdkafka's mock cluster, in every
//! compression codec, and `support::read_back` / `support::read_to_end` must
//! return exactly those records at the offsets the producer was told.
//!
//! This tests the harness, not kafka-sync's producer. It also checks that
//! librdkafka's `murmur2_random` partitioner puts every key on the partition
//! that `kafka_sync::partitioner::partition_for_key` computes.

mod support;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use support::{read_back, read_to_end, require_broker, ConsumedRecord, RdMock, Tansu};

const RECORDS: usize = 100;
const PARTITIONS: i32 = 3;
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const TIMEOUT: Duration = Duration::from_secs(30);
/// A fixed create time (2023-11-14T22:13:20Z) so the read-back can be compared.
const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

/// A delivery report: (key, partition, offset), or the error.
type Report = Result<(Vec<u8>, i32, i64), String>;

/// Records each delivery report.
#[derive(Default)]
struct Reports(Mutex<Vec<Report>>);

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let entry = match result {
            Ok(m) => Ok((m.key().unwrap_or_default().to_vec(), m.partition(), m.offset())),
            Err((e, m)) => Err(format!("{:?}: {e}", m.key().map(String::from_utf8_lossy))),
        };
        self.0.lock().unwrap().push(entry);
    }
}

fn key(i: usize) -> Vec<u8> {
    format!("key-{i}").into_bytes()
}

fn value(i: usize) -> Vec<u8> {
    // Repetitive enough that every codec actually compresses it.
    format!("value-{i}-").repeat(10).into_bytes()
}

/// Produces the test records with librdkafka and returns key -> (partition, offset).
fn produce(bootstrap: &str, topic: &str, codec: &str, idempotent: bool) -> BTreeMap<Vec<u8>, (i32, i64)> {
    let producer: BaseProducer<Reports> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .set("compression.type", codec)
        .set("enable.idempotence", if idempotent { "true" } else { "false" })
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "20000")
        .create_with_context(Reports::default())
        .expect("create rdkafka producer");
    for i in 0..RECORDS {
        let (k, v) = (key(i), value(i));
        let headers = OwnedHeaders::new()
            .insert(Header { key: "index", value: Some(&i.to_string()) })
            .insert(Header { key: "null", value: None::<&[u8]> });
        let mut record =
            BaseRecord::to(topic).key(&k).payload(&v).headers(headers).timestamp(BASE_TIMESTAMP + i as i64);
        // The queue holds far more than 100 records; retry only to be safe.
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r)) if Instant::now() < deadline => {
                    eprintln!("send {i}: {e}, retrying");
                    record = r;
                    producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => panic!("send {i}: {e}"),
            }
        }
    }
    producer.flush(TIMEOUT).expect("flush within the timeout");
    let reports = std::mem::take(&mut *producer.context().0.lock().unwrap());
    assert_eq!(reports.len(), RECORDS, "one delivery report per record");
    reports
        .into_iter()
        .map(|r| {
            let (k, p, o) = r.expect("every record delivered");
            (k, (p, o))
        })
        .collect()
}

/// Checks what was read back against what was produced and where it landed.
fn check(label: &str, delivered: &BTreeMap<Vec<u8>, (i32, i64)>, read: &[ConsumedRecord]) {
    assert_eq!(read.len(), RECORDS, "{label}: read back {} records, want {RECORDS}", read.len());
    let mut seen = BTreeMap::new();
    for r in read {
        let k = r.key.clone().expect("keyed record");
        let i: usize = std::str::from_utf8(&k).unwrap().strip_prefix("key-").unwrap().parse().unwrap();
        assert!(seen.insert(k.clone(), (r.partition, r.offset)).is_none(), "{label}: key-{i} read twice");
        assert_eq!(delivered.get(&k), Some(&(r.partition, r.offset)), "{label}: key-{i} position");
        assert_eq!(r.value.as_deref(), Some(&value(i)[..]), "{label}: key-{i} value");
        assert_eq!(
            r.headers,
            vec![("index".to_string(), Some(i.to_string().into_bytes())), ("null".to_string(), None)],
            "{label}: key-{i} headers"
        );
        assert_eq!(r.timestamp, Some(BASE_TIMESTAMP + i as i64), "{label}: key-{i} timestamp");
        assert_eq!(
            r.partition,
            kafka_sync::partitioner::partition_for_key(&k, PARTITIONS),
            "{label}: key-{i}: librdkafka's murmur2_random and kafka-sync's murmur2 disagree"
        );
    }
    // Per partition: offsets 0..n with no gaps, in the order the records were sent.
    let mut by_partition: BTreeMap<i32, Vec<(i64, usize)>> = BTreeMap::new();
    for r in read {
        let i: usize = std::str::from_utf8(r.key.as_ref().unwrap())
            .unwrap()
            .strip_prefix("key-")
            .unwrap()
            .parse()
            .unwrap();
        by_partition.entry(r.partition).or_default().push((r.offset, i));
    }
    for (p, mut recs) in by_partition {
        recs.sort();
        let offsets: Vec<i64> = recs.iter().map(|(o, _)| *o).collect();
        assert_eq!(offsets, (0..recs.len() as i64).collect::<Vec<_>>(), "{label}: partition {p} offsets");
        assert!(recs.windows(2).all(|w| w[0].1 < w[1].1), "{label}: partition {p} out of send order");
    }
}

/// Produces to a fresh topic per codec and reads back with both helpers.
fn round_trips(label: &str, bootstrap: &str, create_topic: impl Fn(&str) -> Result<(), String>) {
    for (n, codec) in CODECS.iter().enumerate() {
        let idempotent = n % 2 == 0;
        let topic = format!("smoke-{codec}");
        let label = format!("{label} {codec} idempotent={idempotent}");
        create_topic(&topic).unwrap_or_else(|e| panic!("{label}: {e}"));
        let delivered = produce(bootstrap, &topic, codec, idempotent);
        check(&label, &delivered, &read_back(bootstrap, &topic, RECORDS, TIMEOUT));
        let all = read_to_end(bootstrap, &topic, TIMEOUT).unwrap_or_else(|(e, _)| panic!("{label}: {e}"));
        check(&format!("{label} read_to_end"), &delivered, &all);
    }
}

#[test]
fn harness_round_trips_through_tansu() {
    let Some(tansu) = require_broker("harness_round_trips_through_tansu", Tansu::start()) else {
        return;
    };
    round_trips("tansu", &tansu.bootstrap(), |t| tansu.create_topic(t, PARTITIONS));
}

#[test]
fn harness_round_trips_through_librdkafka_mock() {
    // The mock cluster is compiled into the test binary: failing to start it is
    // a failure everywhere, not a reason to skip.
    let mock = RdMock::start(3).expect("start librdkafka's mock cluster");
    round_trips("rdkafka mock", &mock.bootstrap(), |t| mock.create_topic(t, PARTITIONS, 3));
}

#[test]
fn read_back_times_out_with_what_it_has() {
    let mock = RdMock::start(1).expect("start librdkafka's mock cluster");
    mock.create_topic("empty", 2, 1).unwrap();
    let started = Instant::now();
    let read = read_back(&mock.bootstrap(), "empty", 1, Duration::from_secs(2));
    assert!(read.is_empty());
    assert!(started.elapsed() < Duration::from_secs(10), "read_back overran its timeout");
    let all = read_to_end(&mock.bootstrap(), "empty", Duration::from_secs(10)).expect("empty topic");
    assert!(all.is_empty());
}

#[test]
fn require_broker_passes_a_started_broker_through() {
    assert_eq!(require_broker("t", Ok::<_, String>(7)), Some(7));
}
