//! The raw Fetch reader of `tests/support/fetch.rs`, checked before other
//! tests rely on it.
//!
//! Against brokers nobody here wrote (tansu, librdkafka's mock cluster): what
//! this crate's idempotent producer wrote comes back exactly (offsets, keys,
//! values, headers, producer id, epoch, sequence) and agrees with librdkafka's
//! consumer; transactions written by librdkafka's own transactional producer
//! come back with their COMMIT and ABORT markers (tansu writes markers,
//! librdkafka's mock does not).
//!
//! Against a scripted fake broker (encoded with kafka-protocol too): what
//! those brokers never do here, such as a Fetch answer cut in the middle of a
//! batch, listed aborted transactions, sequences that wrap, and the ways the
//! reader must fail (a silent broker, a corrupt batch, a broker that never
//! reaches its high watermark, no common Fetch version) rather than return
//! a short log.
//!
//! What the brokers do, as seen here (tansu 0.6.0, librdkafka 2.12's mock):
//! - Fetch v0-v17 (tansu) and v0-v16 (mock): the reader uses v12 with both.
//! - Both report the last stable offset; neither lists aborted transactions
//!   in read_committed answers (so librdkafka's read_committed consumer
//!   delivers aborted records from tansu).
//! - tansu's last stable offset stops at an open transaction; the mock's
//!   equals the high watermark even then, and the mock writes no markers.
//! - tansu answers a 4 MiB `max_bytes` Fetch with whole batches only, up to
//!   a batch past the limit; the mock answers one batch per Fetch. Neither
//!   sends a partial trailing batch, which Kafka does: the fake broker does.
//! - tansu answers a Fetch of an unknown topic with an empty partition and
//!   no error, hence the reader's Metadata check first; the mock answers
//!   flexible Metadata versions (v9+) with a stray trailing byte, hence
//!   Metadata v8.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::metadata_response::{MetadataResponsePartition, MetadataResponseTopic};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse, MetadataRequest, MetadataResponse,
    ProducerId, ResponseHeader,
};
use kafka_protocol::protocol::{
    decode_request_header_from_buffer, Decodable, Encodable, HeaderVersion, StrBytes,
};
use kafka_protocol::records::{Compression as KpCompression, Record as KpRecord, RecordBatchEncoder};
use kafka_protocol::records::{RecordEncodeOptions, TimestampType};
use kafka_sync::protocol::compression::Compression;
use kafka_sync::{Producer, Record};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};
use support::fetch::{fetch_partition, fetch_versions, FetchedPartition, FetchedRecord, MAX_REQUESTS};
use support::proxy::{ChaosProxy, FaultPlan};
use support::{producer, read_to_end, require_broker, ConsumedRecord, RdMock, Tansu};

const READ: Duration = Duration::from_secs(30);
const TXN: Duration = Duration::from_secs(30);

/// What one record was sent with, and where it was acknowledged.
#[derive(Debug, Clone)]
struct Sent {
    /// The producer's tag.
    tag: &'static str,
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Sends `n` records to each of `partitions` with `tag` in their values (null
/// keys, null values and null header values among them) and waits for every
/// acknowledgement.
fn produce(p: &Producer, topic: &str, partitions: &[i32], n: usize, tag: &'static str) -> Vec<Sent> {
    let mut pending = Vec::new();
    for i in 0..n {
        for &partition in partitions {
            let key = (i % 5 != 0).then(|| format!("key-{tag}-{i}").into_bytes());
            let value = (i % 7 != 3).then(|| format!("{tag}:{partition}:{i}").into_bytes());
            let mut headers = vec![(String::from("i"), Some((i as u32).to_be_bytes().to_vec()))];
            if i % 3 == 0 {
                headers.push((String::from("empty"), None));
            }
            let mut r = Record::new(topic.to_owned()).partition(partition);
            if let Some(k) = &key {
                r = r.key_vec(k.clone());
            }
            if let Some(v) = &value {
                r = r.value_vec(v.clone());
            }
            for (k, v) in &headers {
                r = match v {
                    Some(v) => r.header(k.clone(), &v[..]),
                    None => r.null_header(k.clone()),
                };
            }
            let handle = p.send(r).unwrap();
            pending.push((Sent { tag, partition, offset: -1, key, value, headers }, handle));
        }
    }
    pending
        .into_iter()
        .map(|(mut s, h)| {
            let m = h.wait().unwrap_or_else(|e| panic!("{topic}/{}: {e}", s.partition));
            assert_eq!(m.partition(), s.partition);
            s.offset = m.offset().expect("acks=all gives offsets");
            s
        })
        .collect()
}

/// Checks that `got` (one partition, read from offset 0) is exactly `sent`,
/// from non-transactional idempotent producers (`producers` of them, one
/// after the other): offsets from 0 without gaps, contents, one producer id
/// per producer (all different), epoch 0, and sequences from 0 per producer.
fn check_idempotent(got: &FetchedPartition, sent: &[Sent], producers: usize) {
    let mut sent: Vec<&Sent> = sent.iter().collect();
    sent.sort_by_key(|s| s.offset);
    assert_eq!(got.high_watermark, sent.len() as i64, "high watermark");
    assert_eq!(got.last_stable_offset, got.high_watermark, "no transactions: LSO = HW");
    assert!(got.aborted.is_empty(), "aborted {:?}", got.aborted);
    assert_eq!(got.records.len(), sent.len(), "record count");
    let mut pids: HashMap<&str, (i64, i64)> = HashMap::new(); // tag -> (pid, first offset)
    for (r, s) in got.records.iter().zip(&sent) {
        let at = format!("offset {}", s.offset);
        assert_eq!(r.offset, s.offset, "{at}");
        assert_eq!((&r.key, &r.value, &r.headers), (&s.key, &s.value, &s.headers), "{at}");
        assert!(!r.is_control && !r.is_transactional && r.marker().is_none(), "{at}: {r:?}");
        assert_eq!(r.producer_epoch, 0, "{at}");
        let (pid, first) = *pids.entry(s.tag).or_insert((r.producer_id, r.offset));
        assert!(pid >= 0, "{at}: producer id {pid}");
        assert_eq!(r.producer_id, pid, "{at}: one producer id per producer");
        assert_eq!(i64::from(r.sequence), r.offset - first, "{at}: sequence");
    }
    let mut ids: Vec<i64> = pids.values().map(|(pid, _)| *pid).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), producers, "one distinct producer id per producer: {pids:?}");
}

/// A data record as both readers see it: offset, key, value, headers.
type Row = (i64, Option<Vec<u8>>, Option<Vec<u8>>, Vec<(String, Option<Vec<u8>>)>);

/// The data records of `got`.
fn rows(got: &FetchedPartition) -> Vec<Row> {
    let data = got.records.iter().filter(|r| !r.is_control);
    data.map(|r| (r.offset, r.key.clone(), r.value.clone(), r.headers.clone())).collect()
}

/// The records of `partition` in `read` (librdkafka's consumer), in offset order.
fn consumed(read: &[ConsumedRecord], partition: i32) -> Vec<Row> {
    let mut v: Vec<Row> = read
        .iter()
        .filter(|r| r.partition == partition)
        .map(|r| (r.offset, r.key.clone(), r.value.clone(), r.headers.clone()))
        .collect();
    v.sort_by_key(|r| r.0);
    v
}

/// Two idempotent producers, one after the other, to partitions 0 and 1 of a
/// new topic; both partitions fetched read_uncommitted and read_committed,
/// and checked against what was acknowledged and against librdkafka's
/// consumer.
fn idempotent_round_trip(bootstrap: &str, topic: &str, codec: Compression, n: usize) {
    let first = producer(bootstrap, codec, true);
    let mut sent = produce(&first, topic, &[0, 1], n, "first");
    first.close(Duration::from_secs(10)).unwrap();
    let second = producer(bootstrap, codec, true);
    sent.extend(produce(&second, topic, &[0], n / 2, "second"));
    second.close(Duration::from_secs(10)).unwrap();

    let read = read_to_end(bootstrap, topic, READ).unwrap_or_else(|(e, _)| panic!("{topic}: {e}"));
    for partition in [0, 1] {
        let ours: Vec<Sent> = sent.iter().filter(|s| s.partition == partition).cloned().collect();
        let producers = if partition == 0 { 2 } else { 1 };
        for isolation in [0, 1] {
            let got = fetch_partition(bootstrap, topic, partition, isolation, READ)
                .unwrap_or_else(|e| panic!("{codec}: {e}"));
            check_idempotent(&got, &ours, producers);
            assert_eq!(rows(&got), consumed(&read, partition), "{topic}/{partition}: as librdkafka read it");
        }
    }
}

#[test]
fn tansu_idempotent_records_come_back_exactly() {
    let Some(tansu) = require_broker("tansu_idempotent_records_come_back_exactly", Tansu::start()) else {
        return;
    };
    assert_eq!(fetch_versions(&tansu.bootstrap(), READ).unwrap(), ((0, 17), 12), "tansu's Fetch versions");
    for codec in Compression::ALL.into_iter().filter(|c| c.is_available()) {
        let topic = format!("fetch-{codec}");
        tansu.create_topic(&topic, 2).unwrap();
        idempotent_round_trip(&tansu.bootstrap(), &topic, codec, 200);
    }
}

#[test]
fn librdkafka_mock_idempotent_records_come_back_exactly() {
    let Some(mock) = require_broker("librdkafka_mock_idempotent_records_come_back_exactly", RdMock::start(1))
    else {
        return;
    };
    assert_eq!(fetch_versions(&mock.bootstrap(), READ).unwrap(), ((0, 16), 12), "the mock's Fetch versions");
    for codec in Compression::ALL.into_iter().filter(|c| c.is_available()) {
        let topic = format!("fetch-{codec}");
        mock.create_topic(&topic, 2, 1).unwrap();
        idempotent_round_trip(&mock.bootstrap(), &topic, codec, 200);
    }
}

/// Without idempotence batches carry producer id -1 and no sequence: every
/// record's sequence is -1, not -1 plus its offset delta.
#[test]
fn tansu_plain_records_have_no_producer_id_nor_sequence() {
    let Some(tansu) = require_broker("tansu_plain_records_have_no_producer_id", Tansu::start()) else {
        return;
    };
    tansu.create_topic("plain", 1).unwrap();
    let p = producer(&tansu.bootstrap(), Compression::None, false);
    let sent = produce(&p, "plain", &[0], 300, "plain");
    p.close(Duration::from_secs(10)).unwrap();
    let got = fetch_partition(&tansu.bootstrap(), "plain", 0, 0, READ).unwrap();
    assert_eq!(got.records.len(), sent.len());
    for (r, s) in got.records.iter().zip(&sent) {
        assert_eq!((r.offset, &r.value), (s.offset, &s.value));
        assert_eq!((r.producer_id, r.producer_epoch, r.sequence), (-1, -1, -1), "offset {}", r.offset);
    }
}

/// More than `max_bytes` (4 MiB) in a partition: several Fetch requests,
/// counted by a (fault-free) proxy in front of tansu, few and bounded.
#[test]
fn tansu_large_partition_takes_several_bounded_fetches() {
    let Some(tansu) = require_broker("tansu_large_partition_takes_several_fetches", Tansu::start()) else {
        return;
    };
    tansu.create_topic("large", 1).unwrap();
    let p = producer(&tansu.bootstrap(), Compression::None, true);
    let value = vec![b'v'; 2000];
    let handles: Vec<_> = (0..5000u32)
        .map(|i| p.send(Record::new("large").partition(0).key(&i).value(&value[..])).unwrap())
        .collect();
    for h in handles {
        h.wait().unwrap();
    }
    p.close(Duration::from_secs(10)).unwrap();

    let upstream: SocketAddr = tansu.bootstrap().parse().unwrap();
    let proxy = ChaosProxy::start(upstream, FaultPlan::clean(1)).unwrap();
    let got = fetch_partition(&proxy.addr().to_string(), "large", 0, 0, READ).unwrap();
    let requests = proxy.counts().requests.load(Ordering::Relaxed);
    assert!((4..=10).contains(&requests), "ApiVersions, Metadata, two Fetches or more, few: {requests}");
    assert_eq!(got.high_watermark, 5000);
    assert_eq!(got.records.len(), 5000);
    for (i, r) in got.records.iter().enumerate() {
        assert_eq!(r.offset, i as i64);
        assert_eq!(r.key.as_deref(), Some(&(i as u32).to_be_bytes()[..]));
        assert_eq!(r.value.as_deref(), Some(&value[..]));
        assert_eq!(r.sequence, i as i32);
    }
}

fn transactional(bootstrap: &str, id: &str) -> ThreadedProducer<DefaultProducerContext> {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", id)
        .set("message.timeout.ms", "30000")
        .create()
        .unwrap();
    p.init_transactions(TXN).unwrap();
    p
}

fn send_txn(p: &ThreadedProducer<DefaultProducerContext>, topic: &str, values: &[&str]) {
    for v in values {
        p.send(BaseRecord::<str, str>::to(topic).partition(0).key(*v).payload(*v))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    p.flush(TXN).unwrap();
}

/// Checks one data record of librdkafka's transactional producer.
fn check_txn_data(r: &FetchedRecord, offset: i64, value: &str, pid: i64, sequence: i32) {
    let at = format!("offset {offset}: {r:?}");
    assert_eq!(r.offset, offset, "{at}");
    assert!(r.is_transactional && !r.is_control && r.marker().is_none(), "{at}");
    assert_eq!((r.producer_id, r.producer_epoch, r.sequence), (pid, 0, sequence), "{at}");
    assert_eq!(
        (r.key.as_deref(), r.value.as_deref()),
        (Some(value.as_bytes()), Some(value.as_bytes())),
        "{at}"
    );
}

/// Checks a transaction marker: a control record of the transaction's producer.
fn check_marker(r: &FetchedRecord, offset: i64, commit: bool, pid: i64) {
    let at = format!("offset {offset}: {r:?}");
    assert_eq!(r.offset, offset, "{at}");
    assert!(r.is_control && r.is_transactional, "{at}");
    assert_eq!((r.producer_id, r.producer_epoch, r.sequence), (pid, 0, -1), "{at}");
    assert_eq!(r.marker(), Some(commit), "{at}");
    // Key: version 0, type (0 abort, 1 commit).
    assert_eq!(r.key.as_deref(), Some(&[0, 0, 0, u8::from(commit)][..]), "{at}");
}

/// librdkafka's transactional producer commits a transaction, then aborts
/// one: tansu's log has the data records (transactional), a COMMIT marker,
/// more data, an ABORT marker.
#[test]
fn tansu_transaction_markers_from_librdkafka() {
    let Some(tansu) = require_broker("tansu_transaction_markers_from_librdkafka", Tansu::start()) else {
        return;
    };
    tansu.create_topic("txn", 1).unwrap();
    let p = transactional(&tansu.bootstrap(), "fetch-helper-txn");
    p.begin_transaction().unwrap();
    send_txn(&p, "txn", &["c0", "c1", "c2"]);
    p.commit_transaction(TXN).unwrap();
    p.begin_transaction().unwrap();
    send_txn(&p, "txn", &["a0", "a1"]);
    p.abort_transaction(TXN).unwrap();

    for isolation in [0, 1] {
        let got = fetch_partition(&tansu.bootstrap(), "txn", 0, isolation, READ).unwrap();
        assert_eq!((got.high_watermark, got.last_stable_offset), (7, 7), "isolation {isolation}");
        let [c0, c1, c2, commit, a0, a1, abort] = &got.records[..] else {
            panic!("isolation {isolation}: 7 records expected: {:#?}", got.records);
        };
        let pid = c0.producer_id;
        assert!(pid >= 0);
        check_txn_data(c0, 0, "c0", pid, 0);
        check_txn_data(c1, 1, "c1", pid, 1);
        check_txn_data(c2, 2, "c2", pid, 2);
        check_marker(commit, 3, true, pid);
        check_txn_data(a0, 4, "a0", pid, 3);
        check_txn_data(a1, 5, "a1", pid, 4);
        check_marker(abort, 6, false, pid);
        // tansu 0.6.0 lists no aborted transactions, even for read_committed
        // (Kafka would list (pid, 4) there)...
        assert_eq!(got.aborted, [], "isolation {isolation}");
    }
    // ...so librdkafka's read_committed consumer (read_to_end's default)
    // delivers the aborted records too: it agrees with what we read.
    let read = read_to_end(&tansu.bootstrap(), "txn", READ).unwrap_or_else(|(e, _)| panic!("{e}"));
    let values: Vec<(i64, Option<&[u8]>)> = read.iter().map(|r| (r.offset, r.value.as_deref())).collect();
    let expected: Vec<(i64, Option<&[u8]>)> =
        [(0, "c0"), (1, "c1"), (2, "c2"), (4, "a0"), (5, "a1")].map(|(o, v)| (o, Some(v.as_bytes()))).into();
    assert_eq!(values, expected);
}

/// An open transaction: tansu's last stable offset stays at its first
/// offset, read_committed stops there and read_uncommitted reads on; once
/// committed, both read everything.
#[test]
fn tansu_open_transaction_bounds_read_committed() {
    let Some(tansu) = require_broker("tansu_open_transaction_bounds_read_committed", Tansu::start()) else {
        return;
    };
    tansu.create_topic("open", 1).unwrap();
    let plain = producer(&tansu.bootstrap(), Compression::None, true);
    produce(&plain, "open", &[0], 2, "plain");
    plain.close(Duration::from_secs(10)).unwrap();
    let p = transactional(&tansu.bootstrap(), "fetch-helper-open");
    p.begin_transaction().unwrap();
    send_txn(&p, "open", &["o0", "o1", "o2"]);

    let committed = fetch_partition(&tansu.bootstrap(), "open", 0, 1, READ).unwrap();
    assert_eq!((committed.high_watermark, committed.last_stable_offset), (5, 2));
    assert_eq!(committed.records.iter().map(|r| r.offset).collect::<Vec<_>>(), [0, 1]);
    let uncommitted = fetch_partition(&tansu.bootstrap(), "open", 0, 0, READ).unwrap();
    assert_eq!(uncommitted.records.len(), 5);
    let pid = uncommitted.records[2].producer_id;
    for (i, v) in ["o0", "o1", "o2"].into_iter().enumerate() {
        check_txn_data(&uncommitted.records[2 + i], 2 + i as i64, v, pid, i as i32);
    }

    p.commit_transaction(TXN).unwrap();
    for isolation in [0, 1] {
        let got = fetch_partition(&tansu.bootstrap(), "open", 0, isolation, READ).unwrap();
        assert_eq!((got.high_watermark, got.last_stable_offset), (6, 6));
        assert_eq!(got.records.len(), 6);
        check_marker(&got.records[5], 5, true, pid);
    }
}

/// librdkafka's mock takes transactions but writes no markers, and its last
/// stable offset is the high watermark even while a transaction is open:
/// marker tests need tansu.
#[test]
fn librdkafka_mock_transactions_have_no_markers() {
    let Some(mock) = require_broker("librdkafka_mock_transactions_have_no_markers", RdMock::start(1)) else {
        return;
    };
    mock.create_topic("txn", 1, 1).unwrap();
    let p = transactional(&mock.bootstrap(), "fetch-helper-mock-txn");
    p.begin_transaction().unwrap();
    send_txn(&p, "txn", &["c0", "c1", "c2"]);
    let open = fetch_partition(&mock.bootstrap(), "txn", 0, 1, READ).unwrap();
    assert_eq!((open.high_watermark, open.last_stable_offset, open.records.len()), (3, 3, 3));
    p.commit_transaction(TXN).unwrap();
    p.begin_transaction().unwrap();
    send_txn(&p, "txn", &["a0", "a1"]);
    p.abort_transaction(TXN).unwrap();

    for isolation in [0, 1] {
        let got = fetch_partition(&mock.bootstrap(), "txn", 0, isolation, READ).unwrap();
        assert_eq!((got.high_watermark, got.last_stable_offset), (5, 5));
        assert_eq!(got.aborted, []);
        let pid = got.records[0].producer_id;
        let values = ["c0", "c1", "c2", "a0", "a1"];
        assert_eq!(got.records.len(), values.len());
        for (i, (r, v)) in got.records.iter().zip(values).enumerate() {
            check_txn_data(r, i as i64, v, pid, i as i32);
        }
    }
}

/// Failures against a real broker are errors, in bounded time: an unknown
/// topic, an unknown partition, a port nobody listens on, a connection cut
/// in the middle of a response, a response that never comes.
#[test]
fn tansu_failures_are_errors_in_bounded_time() {
    let Some(tansu) = require_broker("tansu_failures_are_errors", Tansu::start()) else { return };
    tansu.create_topic("present", 1).unwrap();
    let p = producer(&tansu.bootstrap(), Compression::None, true);
    produce(&p, "present", &[0], 10, "present");
    p.close(Duration::from_secs(10)).unwrap();
    let short = Duration::from_secs(3);
    let bounded = |what: &str, r: Result<FetchedPartition, String>, started: Instant| -> String {
        let e = r.map(|got| format!("{what}: {got:?}")).expect_err(what);
        assert!(started.elapsed() < short + Duration::from_secs(2), "{what}: took {:?}", started.elapsed());
        e
    };

    let t = Instant::now();
    let e = bounded("unknown topic", fetch_partition(&tansu.bootstrap(), "absent", 0, 0, short), t);
    assert!(e.ends_with("Metadata v8: topic error code 3, retried for 3s"), "{e}");
    let t = Instant::now();
    let e = bounded("unknown partition", fetch_partition(&tansu.bootstrap(), "present", 7, 0, short), t);
    assert!(e.ends_with("Metadata v8: the topic has partitions [0]"), "{e}");

    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let t = Instant::now();
    let e = bounded("closed port", fetch_partition(&closed.to_string(), "present", 0, 0, short), t);
    assert!(e.contains("connect"), "{e}");

    let upstream: SocketAddr = tansu.bootstrap().parse().unwrap();
    let plan = FaultPlan {
        cut_mid_response: 1.0,
        max_faults: 100,
        only_api: Some(ApiKey::Fetch as i16),
        ..FaultPlan::clean(2)
    };
    let proxy = ChaosProxy::start(upstream, plan).unwrap();
    let t = Instant::now();
    let e = bounded("cut response", fetch_partition(&proxy.addr().to_string(), "present", 0, 0, short), t);
    assert!(e.contains("Fetch v12 at offset 0") && e.contains("reading"), "{e}");

    let plan = FaultPlan {
        stall: 1.0,
        stall_for: Duration::from_secs(30),
        max_faults: 100,
        only_api: Some(ApiKey::Fetch as i16),
        ..FaultPlan::clean(3)
    };
    proxy.set_plan(plan);
    let t = Instant::now();
    let e =
        bounded("stalled response", fetch_partition(&proxy.addr().to_string(), "present", 0, 0, short), t);
    assert!(e.contains("Fetch v12 at offset 0"), "{e}");
}

// ---------------------------------------------------------------------------
// A scripted fake broker
// ---------------------------------------------------------------------------

/// One v2 batch of `values` from `base_offset`, encoded by kafka-protocol:
/// producer 7 epoch 3, sequences from `base_sequence` (wrapping as
/// kafka-protocol does: it stores only the base).
fn batch(base_offset: i64, base_sequence: i32, values: &[&str], transactional: bool, control: bool) -> Bytes {
    let records: Vec<KpRecord> = values
        .iter()
        .enumerate()
        .map(|(i, v)| KpRecord {
            transactional,
            control,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: 7,
            producer_epoch: 3,
            timestamp_type: TimestampType::Creation,
            offset: base_offset + i as i64,
            sequence: if control { -1 } else { base_sequence.wrapping_add(i as i32) },
            timestamp: 1_700_000_000_000,
            key: Some(Bytes::copy_from_slice(if control { b"\0\0\0\0" } else { v.as_bytes() })),
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: [(StrBytes::from_static_str("h"), Some(Bytes::copy_from_slice(v.as_bytes())))]
                .into_iter()
                .collect(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: KpCompression::None };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.freeze()
}

/// A fake broker on 127.0.0.1 for one connection: ApiVersions v0 answers
/// Fetch `fetch_versions`; Metadata has every topic asked for, with
/// partition 0; each Fetch is answered by `answer(fetch offset)`
/// (`None`: no answer at all). Records every Fetch's offset and isolation level.
struct Fake {
    addr: SocketAddr,
    fetches: Arc<Mutex<Vec<(i64, i8)>>>,
}

impl Fake {
    fn start(
        fetch_versions: (i16, i16),
        answer: impl Fn(i64) -> Option<PartitionData> + Send + 'static,
    ) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fetches = Arc::new(Mutex::new(Vec::new()));
        let seen = fetches.clone();
        listener.set_nonblocking(true).unwrap();
        thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                    Err(_) => return,
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            loop {
                let mut size = [0u8; 4];
                if stream.read_exact(&mut size).is_err() {
                    return;
                }
                let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
                if stream.read_exact(&mut body).is_err() {
                    return;
                }
                let mut body = Bytes::from(body);
                let header = decode_request_header_from_buffer(&mut body).unwrap();
                let version = header.request_api_version;
                let mut out = BytesMut::new();
                out.extend_from_slice(&[0; 4]);
                let response_header = ResponseHeader::default().with_correlation_id(header.correlation_id);
                if header.request_api_key == ApiKey::ApiVersions as i16 {
                    assert_eq!(version, 0, "the reader asks ApiVersions v0");
                    response_header.encode(&mut out, ApiVersionsResponse::header_version(0)).unwrap();
                    ApiVersionsResponse::default()
                        .with_api_keys(vec![
                            ApiVersion::default()
                                .with_api_key(ApiKey::Fetch as i16)
                                .with_min_version(fetch_versions.0)
                                .with_max_version(fetch_versions.1),
                            ApiVersion::default().with_api_key(ApiKey::Metadata as i16).with_max_version(12),
                            ApiVersion::default()
                                .with_api_key(ApiKey::ApiVersions as i16)
                                .with_max_version(3),
                        ])
                        .encode(&mut out, 0)
                        .unwrap();
                } else if header.request_api_key == ApiKey::Metadata as i16 {
                    // Every topic asked for exists, with partition 0.
                    let request = MetadataRequest::decode(&mut body, version).unwrap();
                    let topics = request.topics.unwrap_or_default().into_iter().map(|t| {
                        MetadataResponseTopic::default().with_name(t.name).with_partitions(vec![
                            MetadataResponsePartition::default()
                                .with_partition_index(0)
                                .with_leader_id(BrokerId(1)),
                        ])
                    });
                    response_header.encode(&mut out, MetadataResponse::header_version(version)).unwrap();
                    MetadataResponse::default()
                        .with_topics(topics.collect())
                        .encode(&mut out, version)
                        .unwrap();
                } else {
                    assert_eq!(header.request_api_key, ApiKey::Fetch as i16);
                    let request = FetchRequest::decode(&mut body, version).unwrap();
                    let topic = &request.topics[0];
                    let offset = topic.partitions[0].fetch_offset;
                    seen.lock().unwrap().push((offset, request.isolation_level));
                    let Some(p) = answer(offset) else { continue };
                    response_header.encode(&mut out, FetchResponse::header_version(version)).unwrap();
                    FetchResponse::default()
                        .with_responses(vec![FetchableTopicResponse::default()
                            .with_topic(topic.topic.clone())
                            .with_partitions(vec![p.with_partition_index(topic.partitions[0].partition)])])
                        .encode(&mut out, version)
                        .unwrap();
                }
                let n = (out.len() - 4) as i32;
                out[..4].copy_from_slice(&n.to_be_bytes());
                if stream.write_all(&out).is_err() {
                    return;
                }
            }
        });
        Fake { addr, fetches }
    }

    fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    fn fetches(&self) -> Vec<(i64, i8)> {
        self.fetches.lock().unwrap().clone()
    }
}

fn partition_data(high_watermark: i64, records: Bytes) -> PartitionData {
    PartitionData::default()
        .with_high_watermark(high_watermark)
        .with_last_stable_offset(high_watermark)
        .with_records(Some(records))
}

/// A log of batches; `answer(offset, limit)` is what a Kafka broker sends:
/// the batches from the one holding `offset` on, cut at `limit` bytes, so
/// the last one may be partial.
struct Log(Vec<(i64, i64, Bytes)>); // (base offset, last offset, bytes)

impl Log {
    fn high_watermark(&self) -> i64 {
        self.0.last().map_or(0, |b| b.1 + 1)
    }

    fn answer(&self, offset: i64, limit: usize) -> Bytes {
        let mut out = BytesMut::new();
        for (_, last, b) in &self.0 {
            if *last >= offset {
                out.extend_from_slice(b);
            }
        }
        out.truncate(limit);
        out.freeze()
    }
}

/// Kafka cuts a Fetch answer at `max_bytes`, in the middle of a batch: the
/// reader keeps the whole batches, asks again from the partial one, and
/// ends with every record once; it skips the records before its fetch
/// offset in an answer that starts with an earlier batch; it keeps the
/// aborted transactions the broker lists, and reads markers.
#[test]
fn fake_partial_batches_and_aborted_transactions() {
    let log = Arc::new(Log(vec![
        (0, 2, batch(0, 0, &["a", "b", "c"], false, false)),
        (3, 5, batch(3, 3, &["d", "e", "f"], true, false)),
        (6, 6, batch(6, -1, &["marker"], true, true)),
        (7, 9, batch(7, 6, &["g", "h", "i"], false, false)),
    ]));
    let sizes: Vec<usize> = log.0.iter().map(|b| b.2.len()).collect();
    // First answer: batch 0 whole, batch 1 cut after 20 bytes. Later answers:
    // from the batch holding the offset (and the batch before it, as a broker
    // serving from a stale position would), cut two bytes short of the end.
    let first_limit = sizes[0] + 20;
    let (answers, hwm) = (log.clone(), log.high_watermark());
    let fake = Fake::start((4, 12), move |offset| {
        let data = match offset {
            // Batch 0 whole, batch 1 cut.
            0 => answers.answer(0, first_limit),
            // From batch 0 again, as a broker answering from a stale
            // position would, with the last batch two bytes short.
            3 => answers.answer(0, sizes.iter().sum::<usize>() - 2),
            _ => answers.answer(offset, usize::MAX),
        };
        let aborted = AbortedTransaction::default().with_producer_id(ProducerId(7)).with_first_offset(3);
        Some(partition_data(hwm, data).with_aborted_transactions(Some(vec![aborted])))
    });
    let got = fetch_partition(&fake.bootstrap(), "t", 0, 1, READ).unwrap();
    assert_eq!(fake.fetches(), [(0, 1), (3, 1), (7, 1)], "Fetch offsets, isolation");
    assert_eq!((got.high_watermark, got.last_stable_offset), (10, 10));
    assert_eq!(got.aborted, [(7, 3)], "listed in every answer, kept once");
    let offsets: Vec<i64> = got.records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..10).collect::<Vec<_>>());
    let values: Vec<&[u8]> = got.records.iter().map(|r| r.value.as_deref().unwrap()).collect();
    let expected: Vec<&[u8]> =
        ["a", "b", "c", "d", "e", "f", "marker", "g", "h", "i"].iter().map(|v| v.as_bytes()).collect();
    assert_eq!(values, expected);
    let r = &got.records[4];
    assert_eq!(
        (r.is_transactional, r.is_control, r.producer_id, r.producer_epoch, r.sequence),
        (true, false, 7, 3, 4)
    );
    assert_eq!(r.headers, [(String::from("h"), Some(b"e".to_vec()))]);
    let m = &got.records[6];
    assert_eq!((m.is_control, m.marker(), m.sequence), (true, Some(false), -1));
    assert_eq!(got.records[9].sequence, 8);
}

/// Kafka's sequences wrap from i32::MAX to 0 within a batch
/// (kafka-protocol's decoder would give i32::MIN), and a batch without a
/// base sequence (-1) gives every record -1 (kafka-protocol: -1, 0, 1).
#[test]
fn fake_sequences_like_kafka() {
    let mut records = BytesMut::from(&batch(0, i32::MAX - 1, &["x", "y", "z"], false, false)[..]);
    records.extend_from_slice(&batch(3, -1, &["u", "v", "w"], false, false));
    let records = records.freeze();
    let fake = Fake::start((4, 12), move |_| Some(partition_data(6, records.clone())));
    let got = fetch_partition(&fake.bootstrap(), "t", 0, 0, READ).unwrap();
    let sequences: Vec<i32> = got.records.iter().map(|r| r.sequence).collect();
    assert_eq!(sequences, [i32::MAX - 1, i32::MAX, 0, -1, -1, -1]);
}

/// The reader picks the highest Fetch version at most 12 that the broker and
/// kafka-protocol share, and fails when there is none.
#[test]
fn fake_fetch_version_choice() {
    for (broker, chosen) in
        [((0, 17), Some(12)), ((0, 11), Some(11)), ((4, 4), Some(4)), ((0, 3), None), ((13, 17), None)]
    {
        let fake = Fake::start(broker, |_| Some(partition_data(0, Bytes::new())));
        match (fetch_versions(&fake.bootstrap(), READ), chosen) {
            (Ok((range, v)), Some(c)) => assert_eq!((range, v), (broker, c)),
            (Err(e), None) => assert!(e.contains("no common Fetch version"), "{e}"),
            (got, _) => panic!("broker Fetch {broker:?}: {got:?}"),
        }
        let fake = Fake::start(broker, |_| Some(partition_data(0, Bytes::new())));
        let got = fetch_partition(&fake.bootstrap(), "t", 0, 0, READ);
        assert_eq!(got.is_ok(), chosen.is_some(), "broker Fetch {broker:?}: {got:?}");
    }
}

/// A broker that never reaches its high watermark: the reader stops after
/// MAX_REQUESTS requests (one record per answer, so no pauses), with an error.
#[test]
fn fake_request_budget_ends_a_fetch_that_never_finishes() {
    let fake = Fake::start((4, 12), |offset| {
        Some(partition_data(1_000_000, batch(offset, offset as i32, &["r"], false, false)))
    });
    let e = fetch_partition(&fake.bootstrap(), "t", 0, 0, READ).expect_err("a log that never ends");
    assert!(e.contains(&format!("{MAX_REQUESTS} requests")), "{e}");
    assert_eq!(fake.fetches().len(), MAX_REQUESTS - 2, "ApiVersions, Metadata and the Fetches");
}

/// Broken brokers are errors, never a short log: no answer, a corrupt
/// batch, a batch of an old format, nothing new below the high watermark,
/// a partition error.
#[test]
fn fake_broken_brokers_are_errors() {
    let short = Duration::from_secs(2);
    let check = |what: &str, fake: Fake, timeout: Duration, expect: &str| {
        let t = Instant::now();
        let e = fetch_partition(&fake.bootstrap(), "t", 0, 0, timeout).expect_err(what);
        assert!(t.elapsed() < timeout + Duration::from_secs(2), "{what}: took {:?}", t.elapsed());
        assert!(e.contains(expect), "{what}: {e}");
    };
    check("silent", Fake::start((4, 12), |_| None), short, "timed out");

    let mut corrupt = BytesMut::from(&batch(0, 0, &["a", "b"], false, false)[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    let corrupt = corrupt.freeze();
    let fake = Fake::start((4, 12), move |_| Some(partition_data(2, corrupt.clone())));
    check("corrupt", fake, READ, "Cyclic redundancy check failed");

    let mut old = BytesMut::from(&batch(0, 0, &["a"], false, false)[..]);
    old[16] = 1;
    let old = old.freeze();
    let fake = Fake::start((4, 12), move |_| Some(partition_data(1, old.clone())));
    check("magic 1", fake, READ, "magic 1");

    let fake = Fake::start((4, 12), |_| Some(partition_data(5, Bytes::new())));
    check("stuck", fake, short, "no records from offset 0 (the end is 5)");

    let big = batch(0, 0, &["a", "b", "c"], false, false);
    let fake = Fake::start((4, 12), move |_| Some(partition_data(3, big.slice(..big.len() - 1))));
    check("only a partial batch", fake, READ, "no whole batch");

    let fake = Fake::start((4, 12), |_| Some(partition_data(0, Bytes::new()).with_error_code(1)));
    check("offset out of range", fake, READ, "partition error code 1");

    let fake = Fake::start((4, 12), |_| Some(partition_data(0, Bytes::new()).with_error_code(6)));
    check("not leader, retried", fake, short, "retriable error code 6");
}
