//! Cross-checks record batches and codecs against an independent
//! implementation, the `kafka-protocol` crate (0.18, default features: all
//! five codecs; its lz4 is the reference C library through the `lz4` crate).
//!
//! - Batches our writer seals are decoded (CRC included) by theirs, with equal
//!   content, for every codec this build has.
//! - Batches their encoder writes are decoded by ours.
//! - Codec level: our output decodes with their decompressors and theirs with
//!   ours. Their snappy reader accepts xerial framing (when the 16-byte header
//!   matches) or raw snappy; it must read our xerial output, and we must read
//!   raw snappy from `snap::raw`, as librdkafka writes it.

use bytes::{Bytes, BytesMut};
use kafka_protocol::compression::{self as kp_codec, Compressor, Decompressor};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as KpCompression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType as KpTimestampType,
};
use kafka_sync::protocol::compression::{compress, decompress, Compression};
use kafka_sync::protocol::record_batch::{BatchParams, Header, RecordBatch, RecordBatchWriter};
use proptest::prelude::*;

const LIMIT: usize = 1 << 26;

/// A record as a producer hands it over: absolute timestamp.
#[derive(Debug, Clone)]
struct Input {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    /// Unique keys: kafka-protocol keeps headers in a map.
    headers: Vec<Header>,
}

fn kp_codec_of(c: Compression) -> KpCompression {
    match c {
        Compression::None => KpCompression::None,
        Compression::Gzip => KpCompression::Gzip,
        Compression::Snappy => KpCompression::Snappy,
        Compression::Lz4 => KpCompression::Lz4,
        Compression::Zstd => KpCompression::Zstd,
        _ => unreachable!("no other codecs"),
    }
}

fn available() -> Vec<Compression> {
    Compression::ALL.into_iter().filter(|c| c.is_available()).collect()
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..40),
        1 => proptest::collection::vec(any::<u8>(), 200..5000),
        1 => (any::<u8>(), 0usize..100_000).prop_map(|(b, n)| vec![b; n]),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    (
        // Timestamps around now, some far apart (negative deltas included);
        // kafka-protocol adds deltas without wrapping, so stay clear of i64 edges.
        prop_oneof![1_700_000_000_000i64..1_700_000_100_000, 0i64..1i64 << 50],
        proptest::option::of(payload()),
        proptest::option::of(payload()),
        proptest::collection::vec(
            ("[a-z]{0,6}", proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20))),
            0..4,
        ),
    )
        .prop_map(|(timestamp, key, value, headers)| Input {
            timestamp,
            key,
            value,
            headers: headers
                .into_iter()
                .enumerate()
                .map(|(i, (k, value))| Header { key: format!("{i}-{k}"), value })
                .collect(),
        })
}

fn params() -> impl Strategy<Value = BatchParams> {
    prop_oneof![
        Just(BatchParams::default()),
        (0i64..i64::MAX, 0i16..i16::MAX, 0i32..i32::MAX, any::<bool>()).prop_map(|(pid, epoch, seq, txn)| {
            BatchParams {
                producer_id: pid,
                producer_epoch: epoch,
                base_sequence: seq,
                is_transactional: txn,
                ..BatchParams::default()
            }
        }),
    ]
}

fn ours_write(inputs: &[Input], params: &BatchParams, codec: Compression) -> Vec<u8> {
    let mut w = RecordBatchWriter::new(Vec::new(), inputs[0].timestamp);
    for r in inputs {
        w.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &r.headers);
    }
    w.finish(params, codec, None).unwrap()
}

fn kp_headers(h: &[Header]) -> IndexMap<StrBytes, Option<Bytes>> {
    h.iter().map(|h| (StrBytes::from_string(h.key.clone()), h.value.clone().map(Bytes::from))).collect()
}

fn from_kp_headers(h: &IndexMap<StrBytes, Option<Bytes>>) -> Vec<Header> {
    h.iter().map(|(k, v)| Header { key: k.to_string(), value: v.as_ref().map(|v| v.to_vec()) }).collect()
}

fn check_theirs_match(theirs: &[KpRecord], inputs: &[Input], params: &BatchParams) {
    assert_eq!(theirs.len(), inputs.len());
    for (i, (t, r)) in theirs.iter().zip(inputs).enumerate() {
        assert_eq!(t.offset, i as i64);
        assert_eq!(t.timestamp, r.timestamp);
        assert_eq!(t.timestamp_type, KpTimestampType::Creation);
        assert_eq!(t.key.as_deref(), r.key.as_deref());
        assert_eq!(t.value.as_deref(), r.value.as_deref());
        assert_eq!(from_kp_headers(&t.headers), r.headers);
        assert_eq!(t.producer_id, params.producer_id);
        assert_eq!(t.producer_epoch, params.producer_epoch);
        assert_eq!(t.sequence, params.base_sequence.wrapping_add(i as i32));
        assert_eq!(t.transactional, params.is_transactional);
        assert!(!t.control);
        assert_eq!(t.partition_leader_epoch, -1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Our writer's batches, every codec we have, decode with kafka-protocol
    /// (which verifies the CRC-32C) to the same records.
    #[test]
    fn ours_decode_with_theirs(
        inputs in proptest::collection::vec(input(), 1..8),
        params in params(),
        codec in proptest::sample::select(available()),
    ) {
        let bytes = ours_write(&inputs, &params, codec);
        let mut buf = Bytes::from(bytes.clone());
        let set = RecordBatchDecoder::decode(&mut buf).unwrap();
        prop_assert!(buf.is_empty());
        prop_assert_eq!(set.version, 2);
        prop_assert_eq!(set.compression, kp_codec_of(codec));
        check_theirs_match(&set.records, &inputs, &params);

        // A records field with two batches.
        let mut two = bytes.clone();
        two.extend_from_slice(&ours_write(&inputs[..1], &params, codec));
        let sets = RecordBatchDecoder::decode_all(&mut Bytes::from(two)).unwrap();
        prop_assert_eq!(sets.len(), 2);
        check_theirs_match(&sets[1].records, &inputs[..1], &params);

        // Their header-only reader agrees on the fields.
        let info = RecordBatchDecoder::decode_batch_info(&mut Bytes::from(bytes)).unwrap();
        prop_assert_eq!(info[0].record_count, inputs.len() as i32);
        prop_assert_eq!(info[0].base_sequence, params.base_sequence);
        prop_assert_eq!(info[0].min_timestamp, inputs[0].timestamp);
    }

    /// kafka-protocol's batches, every codec, decode with ours.
    #[test]
    fn theirs_decode_with_ours(
        inputs in proptest::collection::vec(input(), 1..8),
        params in params(),
        codec in proptest::sample::select(Compression::ALL.to_vec()),
    ) {
        let records: Vec<KpRecord> = inputs
            .iter()
            .enumerate()
            .map(|(i, r)| KpRecord {
                transactional: params.is_transactional,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: params.producer_id,
                producer_epoch: params.producer_epoch,
                timestamp_type: KpTimestampType::Creation,
                offset: i as i64,
                sequence: params.base_sequence.wrapping_add(i as i32),
                timestamp: r.timestamp,
                key: r.key.clone().map(Bytes::from),
                value: r.value.clone().map(Bytes::from),
                headers: kp_headers(&r.headers),
            })
            .collect();
        let mut buf = BytesMut::new();
        RecordBatchEncoder::encode(&mut buf, &records, &RecordEncodeOptions { version: 2, compression: kp_codec_of(codec) })
            .unwrap();
        let result = RecordBatch::decode_all(&buf, LIMIT);
        if !codec.is_available() {
            prop_assert!(result.is_err());
            return Ok(());
        }
        let batches = result.unwrap();
        prop_assert_eq!(batches.len(), 1);
        let b = &batches[0];
        prop_assert_eq!(b.compression, codec);
        prop_assert_eq!(b.records.len(), inputs.len());
        prop_assert_eq!((b.producer_id, b.producer_epoch, b.base_sequence), (params.producer_id, params.producer_epoch, params.base_sequence));
        prop_assert_eq!(b.is_transactional, params.is_transactional);
        prop_assert_eq!(b.max_timestamp, inputs.iter().map(|r| r.timestamp).max().unwrap());
        for (r, want) in b.records.iter().zip(&inputs) {
            prop_assert_eq!(b.timestamp_of(r), want.timestamp);
            prop_assert_eq!(&r.key, &want.key);
            prop_assert_eq!(&r.value, &want.value);
            prop_assert_eq!(&r.headers, &want.headers);
        }
    }

    /// Codec level, both directions, with inputs that span several lz4
    /// (64 KiB) and xerial (32 KiB) blocks.
    #[test]
    fn codecs_interoperate(
        data in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..3000),
            (proptest::collection::vec(any::<u8>(), 1..300), 1usize..1000)
                .prop_map(|(unit, n)| unit.repeat(n)),
        ],
        codec in proptest::sample::select(available()),
    ) {
        let mut ours = Vec::new();
        compress(codec, None, &data, &mut ours).unwrap();
        prop_assert_eq!(&kp_decompress(codec, &ours), &data);
        let theirs = kp_compress(codec, &data);
        let mut back = Vec::new();
        decompress(codec, &theirs, data.len(), &mut back).unwrap();
        prop_assert_eq!(&back, &data);
    }
}

fn kp_decompress(codec: Compression, input: &[u8]) -> Vec<u8> {
    let mut buf = Bytes::copy_from_slice(input);
    let take = |b: &mut Bytes| Ok(b.to_vec());
    match codec {
        Compression::None => input.to_vec(),
        Compression::Gzip => kp_codec::Gzip::decompress(&mut buf, take).unwrap(),
        Compression::Snappy => kp_codec::Snappy::decompress(&mut buf, take).unwrap(),
        Compression::Lz4 => kp_codec::Lz4::decompress(&mut buf, take).unwrap(),
        Compression::Zstd => kp_codec::Zstd::decompress(&mut buf, take).unwrap(),
        _ => unreachable!(),
    }
}

fn kp_compress(codec: Compression, input: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    let fill = |b: &mut BytesMut| {
        b.extend_from_slice(input);
        Ok(())
    };
    match codec {
        Compression::None => return input.to_vec(),
        Compression::Gzip => kp_codec::Gzip::compress(&mut out, fill).unwrap(),
        Compression::Snappy => kp_codec::Snappy::compress(&mut out, fill).unwrap(),
        Compression::Lz4 => kp_codec::Lz4::compress(&mut out, fill).unwrap(),
        Compression::Zstd => kp_codec::Zstd::compress(&mut out, fill).unwrap(),
        _ => unreachable!(),
    }
    out.to_vec()
}

/// Our snappy output is xerial-framed, and their raw-or-xerial reader reads it
/// as xerial (a raw reader would fail on the magic).
#[test]
fn our_xerial_snappy_reads_with_their_reader() {
    let data = b"snappy block ".repeat(10_000); // 130 KB: five 32 KiB blocks
    let mut ours = Vec::new();
    compress(Compression::Snappy, None, &data, &mut ours).unwrap();
    assert_eq!(&ours[..8], b"\x82SNAPPY\x00");
    assert_eq!(kp_decompress(Compression::Snappy, &ours), data);
    assert!(snap::raw::Decoder::new().decompress_vec(&ours).is_err(), "xerial is not raw snappy");
    // Byte for byte what kafka-protocol (which follows the Java client) writes.
    assert_eq!(ours, kp_compress(Compression::Snappy, &data));
}

/// Raw snappy, as librdkafka writes it, reads with ours.
#[test]
fn raw_snappy_reads_with_ours() {
    for data in [b"x".to_vec(), b"raw snappy ".repeat(20_000), (0..=255u8).cycle().take(100_000).collect()] {
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let mut back = Vec::new();
        decompress(Compression::Snappy, &raw, data.len(), &mut back).unwrap();
        assert_eq!(back, data);
        // And a raw-snappy batch (as librdkafka sends it) decodes.
        let mut w = RecordBatchWriter::new(Vec::new(), 0);
        w.append(0, None, Some(&data), &[]);
        let plain = w.finish(&BatchParams::default(), Compression::None, None).unwrap();
        let mut batch = plain[..61].to_vec();
        batch.extend_from_slice(&snap::raw::Encoder::new().compress_vec(&plain[61..]).unwrap());
        batch[22] = 2; // snappy
        let len = (batch.len() - 12) as i32;
        batch[8..12].copy_from_slice(&len.to_be_bytes());
        let crc = crc32c::crc32c(&batch[21..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
        let (b, _) = RecordBatch::decode(&batch, LIMIT).unwrap();
        assert_eq!(b.records[0].value.as_deref(), Some(&data[..]));
    }
}
