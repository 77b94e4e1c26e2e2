//! Record batch encoding and decoding, per codec, against a peer in the same
//! run (`kafka-protocol` 0.18, an independent Rust implementation).
//!
//! Each iteration builds one batch of [`RECORDS`] records with null keys and
//! 100-byte JSON-like values (varying numbers, so somewhat compressible, like
//! `kafka-producer-perf-test` payloads but not all zeros):
//!
//! - `encode_records/<codec>/kafka-sync`: appends into a [`RecordBatchWriter`]
//!   that reuses its buffer and seals it with `finish_with_scratch`, as the
//!   producer's hot path does. Throughput in records.
//! - `encode_bytes/<codec>/kafka-sync`: the same, throughput in value bytes
//!   (100 per record), so criterion prints MB/s.
//! - `.../kafka-protocol`: `RecordBatchEncoder::encode` over records built
//!   beforehand (their construction is not timed, which favours the peer).
//! - `decode_records/<codec>`: [`RecordBatch::decode`] of the sealed batch, as
//!   the mock broker and tests decode what the producer sends.
//!
//! Run (lz4 and zstd are features):
//!
//! ```text
//! cargo bench --all-features --bench record_batch -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression as KpCompression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType as KpTimestampType,
};
use kafka_sync::protocol::compression::Compression;
use kafka_sync::protocol::record_batch::{BatchParams, RecordBatch, RecordBatchWriter};

/// Records per batch: about 108 KiB uncompressed, between Kafka's default
/// `batch.size` (16 KiB) and the larger batches high-throughput producers use.
const RECORDS: usize = 1000;
/// Bytes per value.
const VALUE_SIZE: usize = 100;
const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

/// `n` distinct 100-byte JSON-like values with varying numbers.
fn values(n: usize) -> Vec<Vec<u8>> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut v = format!(
                r#"{{"id":{i},"user":"u{:05}","amount":{}.{:02},"region":"eu-{}","ok":{}"#,
                x % 100_000,
                (x >> 20) % 10_000,
                (x >> 40) % 100,
                (x >> 50) % 4,
                x.is_multiple_of(3)
            )
            .into_bytes();
            v.resize(VALUE_SIZE - 1, b' ');
            v.push(b'}');
            v
        })
        .collect()
}

fn codecs() -> Vec<Compression> {
    Compression::ALL.into_iter().filter(|c| c.is_available()).collect()
}

fn kp_codec(c: Compression) -> KpCompression {
    match c {
        Compression::None => KpCompression::None,
        Compression::Gzip => KpCompression::Gzip,
        Compression::Snappy => KpCompression::Snappy,
        Compression::Lz4 => KpCompression::Lz4,
        Compression::Zstd => KpCompression::Zstd,
        _ => unreachable!("no other codecs"),
    }
}

/// Writes and seals one batch, recycling `buf` and `scratch` like the producer.
fn encode_ours(values: &[Vec<u8>], codec: Compression, buf: &mut Vec<u8>, scratch: &mut Vec<u8>) -> usize {
    let mut w = RecordBatchWriter::new(std::mem::take(buf), BASE_TIMESTAMP);
    for (i, v) in values.iter().enumerate() {
        w.append(BASE_TIMESTAMP + (i as i64 >> 4), None, Some(v), &[]);
    }
    let sealed = w.finish_with_scratch(&BatchParams::default(), codec, None, scratch).expect("seal");
    let len = sealed.len();
    *buf = sealed;
    len
}

fn kp_records(values: &[Vec<u8>]) -> Vec<KpRecord> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| KpRecord {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: KpTimestampType::Creation,
            offset: i as i64,
            // kafka-protocol starts a new batch wherever `offset - sequence`
            // changes, so sequence -1 on every record would make one batch per
            // record: number them to get a single batch, like ours.
            sequence: i as i32,
            timestamp: BASE_TIMESTAMP + (i as i64 >> 4),
            key: None,
            value: Some(Bytes::from(v.clone())),
            headers: IndexMap::new(),
        })
        .collect()
}

fn encode_theirs(records: &[KpRecord], codec: Compression, buf: &mut BytesMut) -> usize {
    buf.clear();
    let options = RecordEncodeOptions { version: 2, compression: kp_codec(codec) };
    RecordBatchEncoder::encode(buf, records, &options).expect("kafka-protocol encode");
    buf.len()
}

fn bench_encode(c: &mut Criterion) {
    let values = values(RECORDS);
    let theirs = kp_records(&values);
    // Print each codec's batch size once, for the compression ratio.
    for codec in codecs() {
        let (mut buf, mut scratch) = (Vec::new(), Vec::new());
        let ours = encode_ours(&values, codec, &mut buf, &mut scratch);
        let mut peer_buf = BytesMut::new();
        let peer = encode_theirs(&theirs, codec, &mut peer_buf);
        let peer_batches = RecordBatchDecoder::decode_batch_info(&mut peer_buf.freeze()).expect("peer batch");
        assert_eq!(peer_batches.len(), 1, "kafka-protocol wrote one batch");
        eprintln!(
            "{codec}: {RECORDS} x {VALUE_SIZE}-byte values -> {ours} bytes (kafka-protocol: {peer} bytes)"
        );
    }

    let groups = [
        ("encode_records", Throughput::Elements(RECORDS as u64)),
        ("encode_bytes", Throughput::Bytes((RECORDS * VALUE_SIZE) as u64)),
    ];
    for (name, throughput) in groups {
        let mut g = c.benchmark_group(name);
        g.throughput(throughput);
        for codec in codecs() {
            let (mut buf, mut scratch) = (Vec::new(), Vec::new());
            g.bench_function(BenchmarkId::new(codec.name(), "kafka-sync"), |b| {
                b.iter(|| encode_ours(black_box(&values), codec, &mut buf, &mut scratch))
            });
            let mut out = BytesMut::new();
            g.bench_function(BenchmarkId::new(codec.name(), "kafka-protocol"), |b| {
                b.iter(|| encode_theirs(black_box(&theirs), codec, &mut out))
            });
        }
        g.finish();
    }
}

fn bench_decode(c: &mut Criterion) {
    let values = values(RECORDS);
    let mut g = c.benchmark_group("decode_records");
    g.throughput(Throughput::Elements(RECORDS as u64));
    for codec in codecs() {
        let mut buf = Vec::new();
        encode_ours(&values, codec, &mut buf, &mut Vec::new());
        g.bench_function(codec.name(), |b| {
            b.iter(|| RecordBatch::decode(black_box(&buf), 1 << 24).expect("decode").0.records.len())
        });
    }
    g.finish();
}

criterion_group!(benches, bench_encode, bench_decode);
criterion_main!(benches);
