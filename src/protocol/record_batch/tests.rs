//! Unit tests of record batches: golden bytes, round trips, strict
//! decoding, sealing.

use super::*;
use crate::protocol::compression::Compression;
use crate::protocol::error::{DecodeError, EncodeError};
use proptest::prelude::*;

const LIMIT: usize = 1 << 24;

#[test]
fn crc32c_check_value() {
    // The standard check value of CRC-32C (Castagnoli); plain CRC-32 gives 0xCBF43926.
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
}

/// A two-record batch written out by hand from the spec.
fn golden_bytes() -> Vec<u8> {
    let mut b: Vec<u8> = Vec::new();
    b.extend_from_slice(&[0; 8]); // baseOffset 0
    b.extend_from_slice(&[0, 0, 0, 70]); // batchLength: 82 - 12
    b.extend_from_slice(&[0xff; 4]); // partitionLeaderEpoch -1
    b.push(2); // magic
    b.extend_from_slice(&[0; 4]); // crc, below
    b.extend_from_slice(&[0, 0x10]); // attributes: no codec, create time, transactional
    b.extend_from_slice(&[0, 0, 0, 1]); // lastOffsetDelta 1
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x03, 0xe8]); // baseTimestamp 1000
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x03, 0xea]); // maxTimestamp 1002
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]); // producerId 7
    b.extend_from_slice(&[0, 1]); // producerEpoch 1
    b.extend_from_slice(&[0, 0, 0, 5]); // baseSequence 5
    b.extend_from_slice(&[0, 0, 0, 2]); // 2 records
                                        // Record 0: length 8, attributes 0, ts delta 0, offset delta 0, key "k", value "v", no headers.
    b.extend_from_slice(&[0x10, 0, 0, 0, 0x02, b'k', 0x02, b'v', 0]);
    // Record 1: length 11, attributes 0, ts delta 2, offset delta 1, null key, value "ab",
    // one header "h" with a null value.
    b.extend_from_slice(&[0x16, 0, 0x04, 0x02, 0x01, 0x04, b'a', b'b', 0x02, 0x02, b'h', 0x01]);
    assert_eq!(b.len(), 82);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

fn golden_model() -> RecordBatch {
    RecordBatch {
        is_transactional: true,
        last_offset_delta: 1,
        base_timestamp: 1000,
        max_timestamp: 1002,
        producer_id: 7,
        producer_epoch: 1,
        base_sequence: 5,
        records: vec![
            Record { key: Some(b"k".to_vec()), value: Some(b"v".to_vec()), ..Default::default() },
            Record {
                timestamp_delta: 2,
                offset_delta: 1,
                value: Some(b"ab".to_vec()),
                headers: vec![Header { key: "h".into(), value: None }],
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

const GOLDEN_PARAMS: BatchParams = BatchParams {
    producer_id: 7,
    producer_epoch: 1,
    base_sequence: 5,
    is_transactional: true,
    partition_leader_epoch: -1,
};

#[test]
fn writer_produces_golden_bytes() {
    let mut w = RecordBatchWriter::new(vec![1, 2, 3], 1000);
    assert_eq!(w.size_in_bytes(), BATCH_HEADER_SIZE);
    assert_eq!(w.append(1000, Some(b"k"), Some(b"v"), &[]), 9);
    let h = [Header { key: "h".into(), value: None }];
    assert_eq!(w.next_record_size(1002, None, Some(b"ab"), &h), 12);
    assert_eq!(w.append(1002, None, Some(b"ab"), &h), 12);
    assert_eq!(
        (w.record_count(), w.size_in_bytes(), w.base_timestamp(), w.max_timestamp()),
        (2, 82, 1000, 1002)
    );
    let bytes = w.finish(&GOLDEN_PARAMS, Compression::None, None).unwrap();
    assert_eq!(bytes, golden_bytes());
}

#[test]
fn model_encodes_and_decodes_golden_bytes() {
    let mut buf = vec![9]; // encode appends
    golden_model().encode(&mut buf, Compression::None, None).unwrap();
    assert_eq!(&buf[1..], &golden_bytes()[..]);
    let (b, used) = RecordBatch::decode(&golden_bytes(), LIMIT).unwrap();
    assert_eq!(used, 82);
    assert_eq!(b, golden_model());
    assert_eq!(b.timestamp_of(&b.records[1]), 1002);
    assert_eq!(b.offset_of(&b.records[1]), 1);
    let h = BatchHeader::read(&golden_bytes()).unwrap();
    assert_eq!(h.total_size(), 82);
    assert_eq!(h.last_sequence(), Some(6));
    assert!(h.is_transactional() && !h.is_control() && !h.has_delete_horizon());
    assert_eq!(h.compression(), Ok(Compression::None));
}

#[test]
fn last_sequence_wraps_like_kafka() {
    let mut h = BatchHeader::read(&golden_bytes()).unwrap();
    h.base_sequence = i32::MAX;
    h.last_offset_delta = 2;
    assert_eq!(h.last_sequence(), Some(1));
    h.base_sequence = -1;
    assert_eq!(h.last_sequence(), None);
}

#[test]
fn set_producer_state_rewrites_and_reseals() {
    let mut bytes = golden_bytes();
    set_producer_state(&mut bytes, 99, 4, 1000).unwrap();
    let (b, _) = RecordBatch::decode(&bytes, LIMIT).unwrap();
    assert_eq!((b.producer_id, b.producer_epoch, b.base_sequence), (99, 4, 1000));
    assert_eq!(b.records, golden_model().records);
    // Corruption is reported, not covered by a fresh CRC.
    let mut bad = golden_bytes();
    bad[70] ^= 1;
    assert!(matches!(set_producer_state(&mut bad, 1, 1, 1), Err(DecodeError::CrcMismatch { .. })));
    // Exactly one batch.
    let mut two = golden_bytes();
    two.push(0);
    assert_eq!(set_producer_state(&mut two, 1, 1, 1), Err(DecodeError::TrailingBytes(1)));
}

#[test]
fn empty_batch_from_writer() {
    let bytes = RecordBatchWriter::new(Vec::new(), 5)
        .finish(&BatchParams::default(), Compression::None, None)
        .unwrap();
    let (b, _) = RecordBatch::decode(&bytes, LIMIT).unwrap();
    assert_eq!(b, RecordBatch { base_timestamp: 5, max_timestamp: 5, ..Default::default() });
}

/// Writes `model`'s records through a writer, as a producer would.
fn write_like_producer(model: &RecordBatch, buf: Vec<u8>, scratch: &mut Vec<u8>) -> Vec<u8> {
    let mut w = RecordBatchWriter::new(buf, model.base_timestamp);
    let mut expected_size = BATCH_HEADER_SIZE;
    for r in &model.records {
        let ts = model.base_timestamp.wrapping_add(r.timestamp_delta);
        let predicted = w.next_record_size(ts, r.key.as_deref(), r.value.as_deref(), &r.headers);
        let n = w.append(ts, r.key.as_deref(), r.value.as_deref(), &r.headers);
        assert_eq!(n, predicted);
        expected_size += n;
        assert_eq!(w.size_in_bytes(), expected_size);
    }
    let params = BatchParams {
        producer_id: model.producer_id,
        producer_epoch: model.producer_epoch,
        base_sequence: model.base_sequence,
        is_transactional: model.is_transactional,
        partition_leader_epoch: model.partition_leader_epoch,
    };
    w.finish_with_scratch(&params, model.compression, None, scratch).unwrap()
}

/// What a writer makes of `model`: the fields it cannot set normalised.
fn as_written(model: &RecordBatch) -> RecordBatch {
    let mut m = model.clone();
    m.base_offset = 0;
    m.timestamp_type = TimestampType::CreateTime;
    m.is_control = false;
    m.has_delete_horizon = false;
    m.last_offset_delta = m.records.len() as i32 - 1;
    m.max_timestamp = m
        .records
        .iter()
        .map(|r| m.base_timestamp.wrapping_add(r.timestamp_delta))
        .fold(m.base_timestamp, i64::max);
    for r in &mut m.records {
        r.attributes = 0;
    }
    m
}

proptest! {
    #[test]
    fn model_round_trips(batch in strategies::batch()) {
        let mut buf = Vec::new();
        batch.encode(&mut buf, batch.compression, None).unwrap();
        let (back, used) = RecordBatch::decode(&buf, LIMIT).unwrap();
        prop_assert_eq!(used, buf.len());
        prop_assert_eq!(&back, &batch);
        // Two batches back to back.
        let mut two = buf.clone();
        two.extend_from_slice(&buf);
        prop_assert_eq!(RecordBatch::decode_all(&two, LIMIT).unwrap(), vec![batch.clone(), batch]);
    }

    #[test]
    fn writer_agrees_with_model(batch in strategies::batch()) {
        let expected = as_written(&batch);
        let mut scratch = Vec::new();
        let bytes = write_like_producer(&batch, Vec::new(), &mut scratch);
        let (back, used) = RecordBatch::decode(&bytes, LIMIT).unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(&back, &expected);
        // Byte for byte what the model encodes.
        let mut model_bytes = Vec::new();
        expected.encode(&mut model_bytes, batch.compression, None).unwrap();
        prop_assert_eq!(&bytes, &model_bytes);
        // Recycled buffers (dirty, any capacity) give the same bytes.
        let mut scratch2 = vec![7u8; 100];
        let again = write_like_producer(&batch, scratch, &mut scratch2);
        prop_assert_eq!(&again, &bytes);
        let again = write_like_producer(&batch, bytes.clone(), &mut scratch2);
        prop_assert_eq!(&again, &bytes);
    }

    #[test]
    fn record_size_is_exact(r in strategies::record(0), off in any::<i32>()) {
        let mut buf = Vec::new();
        let fields = record_fields_size(r.key.as_deref(), r.value.as_deref(), &r.headers);
        let n = write_record(&mut buf, r.attributes, r.timestamp_delta, off, r.key.as_deref(), r.value.as_deref(), &r.headers, fields);
        prop_assert_eq!(n, buf.len());
        prop_assert_eq!(n, RecordBatchWriter::record_size(r.timestamp_delta, off, r.key.as_deref(), r.value.as_deref(), &r.headers));
    }

    /// Mutated batches (with the CRC fixed up so decoding goes past it)
    /// decode or fail cleanly, never panic.
    #[test]
    fn mutations_never_panic(
        batch in strategies::batch(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buf = Vec::new();
        batch.encode(&mut buf, batch.compression, None).unwrap();
        for (i, v) in edits {
            let i = i.index(buf.len());
            buf[i] = v;
        }
        if buf.len() >= BATCH_HEADER_SIZE {
            write_crc(&mut buf);
        }
        let _ = RecordBatch::decode(&buf, LIMIT);
        let _ = RecordBatch::decode(&buf[..cut.index(buf.len())], LIMIT);
    }
}

/// Golden bytes edited by `f`, then resealed (length and CRC).
fn edited(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = golden_bytes();
    f(&mut b);
    let len = (b.len() - LOG_OVERHEAD) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    write_crc(&mut b);
    b
}

fn decode_err(bytes: &[u8]) -> DecodeError {
    RecordBatch::decode(bytes, LIMIT).unwrap_err()
}

#[test]
fn hostile_header_fields() {
    // i32::MAX records in 21 bytes, uncompressed and compressed.
    let b = edited(|b| b[57..61].copy_from_slice(&i32::MAX.to_be_bytes()));
    assert!(matches!(decode_err(&b), DecodeError::CountTooLarge { .. }));
    let mut gz = Vec::new();
    RecordBatch { records: golden_model().records, ..golden_model() }
        .encode(&mut gz, Compression::Gzip, None)
        .unwrap();
    gz[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    write_crc(&mut gz);
    assert!(matches!(decode_err(&gz), DecodeError::CountTooLarge { .. }));
    // Negative record count.
    let b = edited(|b| b[57..61].copy_from_slice(&(-2i32).to_be_bytes()));
    assert_eq!(decode_err(&b), DecodeError::NegativeLength(-2));
    // Count larger than the records.
    let b = edited(|b| b[57..61].copy_from_slice(&3i32.to_be_bytes()));
    assert!(matches!(decode_err(&b), DecodeError::Truncated { .. }));
    // Count smaller: trailing bytes in the records section.
    let b = edited(|b| b[57..61].copy_from_slice(&1i32.to_be_bytes()));
    assert_eq!(decode_err(&b), DecodeError::TrailingBytes(12));
    // Negative, tiny and too large batchLength.
    let mut b = golden_bytes();
    b[8..12].copy_from_slice(&(-1i32).to_be_bytes());
    assert_eq!(decode_err(&b), DecodeError::NegativeLength(-1));
    b[8..12].copy_from_slice(&48i32.to_be_bytes());
    assert!(matches!(decode_err(&b), DecodeError::Invalid(_)));
    b[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(decode_err(&b), DecodeError::Truncated { .. }));
    // Magic 1 and unknown codecs.
    let b = edited(|b| b[16] = 1);
    assert!(matches!(decode_err(&b), DecodeError::Invalid(_)));
    for code in 5..8 {
        let b = edited(|b| b[22] = code);
        assert!(matches!(decode_err(&b), DecodeError::Invalid(_)));
    }
    // lastOffsetDelta disagreeing with the records.
    let b = edited(|b| b[23..27].copy_from_slice(&5i32.to_be_bytes()));
    assert!(matches!(decode_err(&b), DecodeError::Invalid(_)));
}

#[test]
fn bad_crc_in_every_covered_byte() {
    let good = golden_bytes();
    for i in ATTRIBUTES_OFFSET..good.len() {
        let mut b = good.clone();
        b[i] ^= 0x01;
        assert!(matches!(decode_err(&b), DecodeError::CrcMismatch { .. }), "byte {i}");
    }
    for i in CRC_OFFSET..ATTRIBUTES_OFFSET {
        let mut b = good.clone();
        b[i] ^= 0x80;
        assert!(matches!(decode_err(&b), DecodeError::CrcMismatch { .. }), "byte {i}");
    }
}

#[test]
fn truncated_anywhere() {
    let good = golden_bytes();
    for cut in 0..good.len() {
        assert!(matches!(decode_err(&good[..cut]), DecodeError::Truncated { .. }), "cut {cut}");
    }
    let mut two = good.clone();
    two.extend_from_slice(&good[..40]);
    assert!(RecordBatch::decode_all(&two, LIMIT).is_err());
    assert_eq!(RecordBatch::decode_all(&[], LIMIT).unwrap(), vec![]);
}

#[test]
fn hostile_records() {
    // Records start at 61; record 0 is 9 bytes, record 1 starts at 70.
    // Record length prefix too long, too short, negative, overflowing.
    let b = edited(|b| b[61] = 0x12); // 9 instead of 8: the record swallows a byte
    assert_eq!(decode_err(&b), DecodeError::TrailingBytes(1));
    let b = edited(|b| b[61] = 0x0e); // 7 instead of 8: the header count falls outside
    assert!(matches!(decode_err(&b), DecodeError::Truncated { .. }));
    let b = edited(|b| b[61] = 0x01);
    assert_eq!(decode_err(&b), DecodeError::NegativeLength(-1));
    let b = edited(|b| b.splice(61..62, [0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).for_each(drop));
    assert_eq!(decode_err(&b), DecodeError::VarintOverflow);
    // A record whose content is shorter than its prefix says: trailing bytes in the record.
    let b = edited(|b| {
        b[61] = 0x12; // 9
        b.insert(70, 0xAA);
    });
    assert_eq!(decode_err(&b), DecodeError::TrailingBytes(1));
    // Varlong timestamp overflow.
    let b = edited(|b| b.splice(63..64, [0xff; 11]).for_each(drop));
    assert!(matches!(decode_err(&b), DecodeError::VarintOverflow | DecodeError::Truncated { .. }));
    // Key length -2, and longer than the record.
    let b = edited(|b| b[65] = 0x03);
    assert_eq!(decode_err(&b), DecodeError::NegativeLength(-2));
    let b = edited(|b| b[65] = 0x40);
    assert!(matches!(decode_err(&b), DecodeError::Truncated { .. }));
    // Offset deltas 0, 0.
    let b = edited(|b| b[73] = 0);
    assert!(matches!(decode_err(&b), DecodeError::Invalid(_)));
    // Record 1 (at 70): header count at 78, header key length at 79, key at 80.
    // Header count huge, header key null, header key not UTF-8.
    let b = edited(|b| b[78] = 0x7e);
    assert!(matches!(decode_err(&b), DecodeError::CountTooLarge { .. }));
    let b = edited(|b| {
        b[79] = 0x01; // key length -1
        b.remove(80);
        b[70] = 0x14; // record length 10
    });
    assert_eq!(decode_err(&b), DecodeError::UnexpectedNull("header key"));
    let b = edited(|b| b[80] = 0xff);
    assert_eq!(decode_err(&b), DecodeError::InvalidUtf8);
    // A record with a 1 GiB value claim.
    let b = edited(|b| b.splice(67..68, [0x80, 0x80, 0x80, 0x80, 0x08]).for_each(drop));
    assert!(matches!(decode_err(&b), DecodeError::Truncated { .. }));
}

/// A commit marker batch written out by hand from the layout above and
/// Kafka's `MemoryRecords.withEndTransactionMarker`; the CRC was computed
/// separately (bitwise CRC-32C, polynomial 0x82F63B78).
#[rustfmt::skip]
const COMMIT_MARKER_BATCH: [u8; 78] = [
    0, 0, 0, 0, 0, 0, 0, 42,                // baseOffset 42
    0, 0, 0, 66,                            // batchLength 78 - 12
    0, 0, 0, 7,                             // partitionLeaderEpoch 7
    2,                                      // magic
    0xc4, 0xa7, 0x46, 0x6f,                 // crc
    0, 0x30,                                // attributes: transactional | control
    0, 0, 0, 0,                             // lastOffsetDelta 0
    0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0,  // baseTimestamp 1_700_000_000_000
    0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0,  // maxTimestamp, the same
    0, 0, 0, 0, 0, 0, 0x0f, 0xa0,           // producerId 4000
    0, 2,                                   // producerEpoch 2
    0xff, 0xff, 0xff, 0xff,                 // baseSequence -1
    0, 0, 0, 1,                             // 1 record
    0x20,                                   // record length 16
    0,                                      //   attributes
    0,                                      //   timestampDelta 0
    0,                                      //   offsetDelta 0
    0x08, 0, 0, 0, 1,                       //   key: 4 bytes, version 0, type 1 (commit)
    0x0c, 0, 0, 0, 0, 0, 5,                 //   value: 6 bytes, version 0, coordinator_epoch 5
    0,                                      //   no headers
];

const TS: i64 = 1_700_000_000_000;

#[test]
fn end_txn_marker_batch_golden_bytes() {
    let commit = EndTxnMarker { kind: ControlRecordType::Commit, coordinator_epoch: 5 };
    assert_eq!(encode_end_txn_marker_batch(4000, 2, 42, 7, TS, &commit), COMMIT_MARKER_BATCH);
    let (b, used) = RecordBatch::decode(&COMMIT_MARKER_BATCH, LIMIT).unwrap();
    assert_eq!(used, END_TXN_MARKER_BATCH_SIZE);
    assert!(b.is_control && b.is_transactional);
    assert_eq!(
        (b.base_offset, b.partition_leader_epoch, b.producer_id, b.producer_epoch, b.base_sequence),
        (42, 7, 4000, 2, -1)
    );
    assert_eq!((b.base_timestamp, b.max_timestamp, b.last_offset_delta), (TS, TS, 0));
    assert_eq!(b.records.len(), 1);
    assert_eq!(b.timestamp_of(&b.records[0]), TS);
    assert_eq!(EndTxnMarker::from_record(&b.records[0]), Ok(commit));

    // An abort with coordinator epoch -1: only the type, the epoch and the CRC change.
    let abort = EndTxnMarker { kind: ControlRecordType::Abort, coordinator_epoch: -1 };
    let mut want = COMMIT_MARKER_BATCH;
    want[17..21].copy_from_slice(&[0xd7, 0x3c, 0xe0, 0x46]);
    want[69] = 0;
    want[71..77].copy_from_slice(&[0, 0, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(encode_end_txn_marker_batch(4000, 2, 42, 7, TS, &abort), want);
    assert_eq!(abort.encode_key(), [0, 0, 0, 0]);
    assert_eq!(abort.encode_value(), [0, 0, 0xff, 0xff, 0xff, 0xff]);
}

#[test]
fn end_txn_marker_decode_follows_kafka() {
    let commit = EndTxnMarker { kind: ControlRecordType::Commit, coordinator_epoch: 0x0102_0304 };
    let (key, value) = (commit.encode_key(), commit.encode_value());
    assert_eq!(key, [0, 0, 0, 1]);
    assert_eq!(value, [0, 0, 1, 2, 3, 4]);
    assert_eq!(EndTxnMarker::decode(&key, &value), Ok(commit));
    // Short key or value.
    for cut in 0..4 {
        assert_eq!(
            EndTxnMarker::decode(&key[..cut], &value),
            Err(DecodeError::Truncated { needed: 4, remaining: cut })
        );
    }
    for cut in 0..6 {
        assert_eq!(
            EndTxnMarker::decode(&key, &value[..cut]),
            Err(DecodeError::Truncated { needed: 6, remaining: cut })
        );
    }
    // Negative versions are corruption.
    assert!(matches!(EndTxnMarker::decode(&[0xff, 0xff, 0, 1], &value), Err(DecodeError::Invalid(_))));
    assert!(matches!(EndTxnMarker::decode(&key, &[0x80, 0, 1, 2, 3, 4]), Err(DecodeError::Invalid(_))));
    // Control types other than abort and commit (KRaft's 2-6, unknown ones).
    for t in [2, 6, 7, -1, i16::MAX] {
        let [a, b] = i16::to_be_bytes(t);
        assert!(matches!(EndTxnMarker::decode(&[0, 0, a, b], &value), Err(DecodeError::Invalid(_))), "{t}");
    }
    // Later versions are read as version 0, trailing bytes ignored (Kafka does both).
    assert_eq!(EndTxnMarker::decode(&[0, 3, 0, 1, 9, 9], &[0, 1, 1, 2, 3, 4, 5]), Ok(commit));
    // Null key or value in a record.
    let record = Record { key: None, value: Some(value.to_vec()), ..Default::default() };
    assert_eq!(EndTxnMarker::from_record(&record), Err(DecodeError::UnexpectedNull("control record key")));
    let record = Record { key: Some(key.to_vec()), value: None, ..Default::default() };
    assert!(matches!(EndTxnMarker::from_record(&record), Err(DecodeError::UnexpectedNull(_))));
    assert_eq!(ControlRecordType::from_id(ControlRecordType::Abort.id()), Some(ControlRecordType::Abort));
}

#[test]
fn compressed_section_cap() {
    let batch = RecordBatch {
        last_offset_delta: 0,
        records: vec![Record { value: Some(vec![0; 100_000]), ..Default::default() }],
        ..Default::default()
    };
    for codec in Compression::ALL.into_iter().filter(|c| c.is_available() && *c != Compression::None) {
        let mut buf = Vec::new();
        batch.encode(&mut buf, codec, None).unwrap();
        assert!(buf.len() < 10_000, "{codec} compresses");
        assert_eq!(RecordBatch::decode(&buf, 100_100).unwrap().0.records, batch.records);
        assert_eq!(
            RecordBatch::decode(&buf, 50_000).unwrap_err(),
            DecodeError::DecompressedTooLarge { limit: 50_000 }
        );
    }
}

#[test]
fn unavailable_codec_is_reported() {
    for codec in Compression::ALL.into_iter().filter(|c| !c.is_available()) {
        let w = RecordBatchWriter::new(Vec::new(), 0);
        assert_eq!(
            w.finish(&BatchParams::default(), codec, None),
            Err(EncodeError::UnsupportedCompression(codec.name()))
        );
        let b = edited(|b| b[22] = codec.code() as u8);
        assert_eq!(decode_err(&b), DecodeError::UnsupportedCompression(codec.name()));
    }
}
