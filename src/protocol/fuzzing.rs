//! Fuzz target bodies, public for the fuzz crate (`fuzz/`) and the tests
//! (`tests/fuzz_corpus.rs`); not a stable API.
//!
//! Each function takes arbitrary bytes and feeds them to one family of
//! decoders. The contract: **no input makes them panic, except a real bug**.
//! Decode errors are expected and ignored; what decodes is checked against
//! oracles, and a panic means one of these failed:
//!
//! - round trip: a value decoded from hostile bytes, re-encoded at the same
//!   version (with the same codec), decodes to an equal value, consuming
//!   every byte, and re-encodes to the same bytes again;
//! - transaction markers: the marker of a control batch's record, when it
//!   decodes, re-encodes (alone and as a whole marker batch) to the same marker;
//! - documented limits: decompression never returns more than its cap and
//!   leaves its output untouched on error; a batch header's size is covered by
//!   the input; [`set_producer_state`](record_batch::set_producer_state) changes only the fields it names.
//!
//! Encoding errors are not panics: the encoders may reject values the
//! decoders accept (e.g. lengths over `i32::MAX`), which is not a bug.
//!
//! One body is not of the wire codec: [`spool_segment`], for the segment
//! files of the producer's durable spool, whose code is engine-private.

use super::compression::{self, Compression};
use super::frame;
use super::messages::{self, RequestBody, ResponseBody};
use super::primitives::Decoder;
use super::record_batch::{
    self, BatchHeader, EndTxnMarker, RecordBatch, ATTRIBUTES_OFFSET, BATCH_HEADER_SIZE, CRC_OFFSET,
};

/// Cap on decompressed data in these bodies: 1 MiB, small enough that a
/// decompression bomb costs little per execution.
pub const LIMIT: usize = 1 << 20;

/// Maps the first four bytes of `data` (big-endian `i16` API key, `i16`
/// version) onto an implemented API key and version, so that most inputs hit
/// a real decoder: a key or version the codec implements is kept as it is
/// (so real encodings prefixed with their key and version select
/// themselves), anything else is mapped into range. Returns the key, the
/// version and the rest of the input; `None` if `data` is shorter than 4 bytes.
pub fn select_api(data: &[u8]) -> Option<(i16, i16, &[u8])> {
    let (head, rest) = (data.get(..4)?, &data[4..]);
    let raw_key = i16::from_be_bytes([head[0], head[1]]);
    let raw_version = i16::from_be_bytes([head[2], head[3]]);
    let keys = messages::API_KEYS;
    let api_key =
        if keys.contains(&raw_key) { raw_key } else { keys[usize::from(raw_key as u16) % keys.len()] };
    let range = messages::supported_versions(api_key)?;
    let version = if range.contains(raw_version) {
        raw_version
    } else {
        let span = (range.max - range.min + 1) as u16;
        range.min + (raw_version as u16 % span) as i16
    };
    Some((api_key, version, rest))
}

/// Response bodies: API key and version from the first 4 bytes (see
/// [`select_api`]), then [`ResponseBody::decode`] over the rest, with the
/// round-trip oracle for what decodes.
pub fn decode_response(data: &[u8]) {
    let Some((api_key, version, body)) = select_api(data) else { return };
    let mut d = Decoder::new(body);
    let Ok(first) = ResponseBody::decode(api_key, version, &mut d) else { return };
    assert_eq!(first.api_key(), api_key, "decoded the wrong API");

    let mut wire = Vec::new();
    if first.encode(&mut wire, version).is_err() {
        return;
    }
    let mut d = Decoder::new(&wire);
    let second = match ResponseBody::decode(api_key, version, &mut d) {
        Ok(b) => b,
        Err(e) => panic!("re-encoded response (key {api_key} v{version}) does not decode: {e}\n{first:?}"),
    };
    assert_eq!(d.remaining(), 0, "re-encoded response (key {api_key} v{version}) has trailing bytes");
    assert_eq!(first, second, "response round trip (key {api_key} v{version})");
    let mut again = Vec::new();
    second.encode(&mut again, version).expect("a value that encoded once encodes again");
    assert_eq!(wire, again, "response encoding is not deterministic (key {api_key} v{version})");
}

/// Request frames (header and body, without the size prefix) through
/// [`frame::decode_request`], with the round-trip oracle; the record batches
/// of a decoded Produce request go through [`decode_record_batch`] too, as a
/// broker would decode them, and the OTLP payload of a PushTelemetry request
/// through [`otlp::metric_names`](super::otlp::metric_names).
pub fn decode_request(data: &[u8]) {
    let Ok((header, body)) = frame::decode_request(data) else { return };
    let (api_key, version) = (header.api_key, header.api_version);
    assert_eq!(body.api_key(), api_key, "decoded the wrong API");
    let header_version = RequestBody::request_header_version(api_key, version)
        .expect("the header of a decoded request has a known API key");

    let mut wire = Vec::new();
    if header.encode(&mut wire, header_version).is_err() || body.encode(&mut wire, version).is_err() {
        return;
    }
    let (header2, body2) = match frame::decode_request(&wire) {
        Ok(r) => r,
        Err(e) => panic!("re-encoded request (key {api_key} v{version}) does not decode: {e}\n{body:?}"),
    };
    assert_eq!(header, header2, "request header round trip (key {api_key} v{version})");
    assert_eq!(body, body2, "request round trip (key {api_key} v{version})");
    let mut again = Vec::new();
    header2.encode(&mut again, header_version).expect("a header that encoded once encodes again");
    body2.encode(&mut again, version).expect("a body that encoded once encodes again");
    assert_eq!(wire, again, "request encoding is not deterministic (key {api_key} v{version})");

    if let RequestBody::Produce(p) = &body {
        for records in p.topic_data.iter().flat_map(|t| &t.partition_data).filter_map(|p| p.records.as_ref())
        {
            decode_record_batch(records);
        }
    }
    // A PushTelemetry payload goes through the OTLP metric-name decoder, as
    // the mock broker decodes it (decompressed first, capped at LIMIT).
    if let RequestBody::PushTelemetry(p) = &body {
        let mut raw = Vec::new();
        let codec = Compression::from_code(i16::from(p.compression_type));
        if codec.is_some_and(|c| compression::decompress(c, &p.metrics, LIMIT, &mut raw).is_ok()) {
            let _ = super::otlp::metric_names(&raw);
        }
    }
}

/// Record batches and the codecs under them: [`BatchHeader::read`],
/// [`RecordBatch::decode`] and [`RecordBatch::decode_all`] (capped at
/// [`LIMIT`]) over the input as it is, then again after making the first
/// batch's `batchLength`, magic and CRC-32C consistent with the input (so that
/// mutated records and compressed sections get past the checksum), and
/// [`compression::decompress`] with each codec over the input. What decodes
/// is re-encoded with its codec and must decode to the same batch.
pub fn decode_record_batch(data: &[u8]) {
    check_batches(data);
    if let Some(fixed) = with_valid_crc(data) {
        check_batches(&fixed);
    }
    for codec in Compression::ALL {
        check_decompress(codec, data);
    }
}

/// `data` with the first batch's `batchLength` covering all of `data`, the
/// magic set to 2 and a correct CRC-32C; `None` if too short or too long.
fn with_valid_crc(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < BATCH_HEADER_SIZE {
        return None;
    }
    let batch_length = i32::try_from(data.len() - record_batch::LOG_OVERHEAD).ok()?;
    let mut fixed = data.to_vec();
    fixed[record_batch::BATCH_LENGTH_OFFSET..record_batch::PARTITION_LEADER_EPOCH_OFFSET]
        .copy_from_slice(&batch_length.to_be_bytes());
    fixed[record_batch::MAGIC_OFFSET] = record_batch::MAGIC as u8;
    let crc = crc32c::crc32c(&fixed[ATTRIBUTES_OFFSET..]);
    fixed[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
    Some(fixed)
}

fn check_batches(data: &[u8]) {
    if let Ok(h) = BatchHeader::read(data) {
        check_header(data, &h);
    }
    if let Ok((batch, used)) = RecordBatch::decode(data, LIMIT) {
        let h = BatchHeader::read(data).expect("a batch that decodes has a readable header");
        assert_eq!(used, h.total_size(), "decode used a different size than the header says");
        assert_eq!(batch.records.len(), h.record_count as usize, "record count");
        check_batch_round_trip(&batch);
        check_markers(&batch);
    }
    if let Ok(batches) = RecordBatch::decode_all(data, LIMIT) {
        for b in &batches {
            check_batch_round_trip(b);
        }
    }
}

/// The transaction markers of a control batch: what decodes re-encodes to
/// the same marker, alone and as a whole marker batch with the same header
/// fields.
fn check_markers(batch: &RecordBatch) {
    if !batch.is_control {
        return;
    }
    for r in &batch.records {
        let Ok(m) = EndTxnMarker::from_record(r) else { continue };
        assert_eq!(EndTxnMarker::decode(&m.encode_key(), &m.encode_value()), Ok(m), "marker round trip");
        let ts = batch.timestamp_of(r);
        let bytes = record_batch::encode_end_txn_marker_batch(
            batch.producer_id,
            batch.producer_epoch,
            batch.base_offset,
            batch.partition_leader_epoch,
            ts,
            &m,
        );
        let (back, _) = RecordBatch::decode(&bytes, LIMIT).expect("a marker batch decodes");
        assert!(back.is_control && back.is_transactional && back.records.len() == 1);
        assert_eq!(
            (back.producer_id, back.producer_epoch, back.base_offset),
            (batch.producer_id, batch.producer_epoch, batch.base_offset)
        );
        assert_eq!(back.timestamp_of(&back.records[0]), ts);
        assert_eq!(EndTxnMarker::from_record(&back.records[0]), Ok(m), "marker batch round trip");
    }
}

/// Oracles for a header that [`BatchHeader::read`] accepted.
fn check_header(data: &[u8], h: &BatchHeader) {
    let total = h.total_size();
    assert!(total >= BATCH_HEADER_SIZE && total <= data.len(), "header size {total} of {}", data.len());
    assert_eq!(h.magic, record_batch::MAGIC);
    let _ = (h.compression(), h.timestamp_type(), h.last_sequence());

    // set_producer_state rewrites exactly the producer fields and a valid CRC.
    let mut batch = data[..total].to_vec();
    let (pid, epoch, seq) = (h.producer_id ^ 0x5a5a, h.producer_epoch.wrapping_add(1), h.base_sequence ^ 7);
    record_batch::set_producer_state(&mut batch, pid, epoch, seq)
        .expect("set_producer_state on a valid batch");
    let after = BatchHeader::read(&batch).expect("a batch with rewritten producer state reads back");
    let expected =
        BatchHeader { producer_id: pid, producer_epoch: epoch, base_sequence: seq, crc: after.crc, ..*h };
    assert_eq!(after, expected, "set_producer_state changed other fields");
    assert_eq!(
        &batch[ATTRIBUTES_OFFSET..record_batch::PRODUCER_ID_OFFSET],
        &data[ATTRIBUTES_OFFSET..record_batch::PRODUCER_ID_OFFSET]
    );
    assert_eq!(&batch[record_batch::RECORD_COUNT_OFFSET..], &data[record_batch::RECORD_COUNT_OFFSET..total]);
}

/// Re-encodes `batch` with its own codec; the result must decode to an equal batch.
fn check_batch_round_trip(batch: &RecordBatch) {
    let mut wire = Vec::new();
    if batch.encode(&mut wire, batch.compression, None).is_err() {
        return;
    }
    let (back, used) = match RecordBatch::decode(&wire, LIMIT) {
        Ok(r) => r,
        // Re-encoded records are never longer than the ones decoded (varints
        // become minimal), so not even the cap may be hit.
        Err(e) => panic!("re-encoded batch ({}) does not decode: {e}\n{batch:?}", batch.compression),
    };
    assert_eq!(used, wire.len(), "re-encoded batch has trailing bytes");
    assert_eq!(back.records, batch.records, "records round trip ({})", batch.compression);
    assert_eq!(&back, batch, "batch round trip ({})", batch.compression);
}

/// Decompresses `data` with `codec` into a buffer that already holds a
/// prefix: the output must stay under the cap, and the buffer must be left
/// as it was on error. What decompresses is compressed again and must
/// decompress to the same bytes.
fn check_decompress(codec: Compression, data: &[u8]) {
    const PREFIX: &[u8] = b"prefix";
    let mut out = PREFIX.to_vec();
    match compression::decompress(codec, data, LIMIT, &mut out) {
        Err(_) => assert_eq!(out, PREFIX, "{codec}: decompress changed its output on error"),
        Ok(()) => {
            assert!(out.starts_with(PREFIX), "{codec}: decompress overwrote its output");
            let plain = &out[PREFIX.len()..];
            assert!(plain.len() <= LIMIT, "{codec}: {} bytes past the cap of {LIMIT}", plain.len());
            let mut packed = Vec::new();
            if compression::compress(codec, None, plain, &mut packed).is_err() {
                return;
            }
            let mut back = Vec::new();
            compression::decompress(codec, &packed, LIMIT, &mut back)
                .unwrap_or_else(|e| panic!("{codec}: own compressed output does not decompress: {e}"));
            assert!(back == plain, "{codec}: compression round trip differs");
        }
    }
}

/// Segment files of the producer's durable spool (engine-private; see
/// `src/engine/spool/`): the scan over the input as it is, and again after
/// making the file header and each frame's CRC-32C consistent. The scan
/// must stop exactly where its intact prefix ends, with a reason; the
/// header and decoded entries must re-encode to exactly that prefix; and the
/// recovery fold must take the entries and leave a consistent result.
pub fn spool_segment(data: &[u8]) {
    crate::engine::spool::fuzz::check_segment(data);
}

/// How far a scan of `data` as a spool segment gets: the number of intact
/// entries, and where and why it stopped (`None`: the whole input is a
/// valid segment).
pub fn spool_segment_scan(data: &[u8]) -> (usize, Option<String>) {
    crate::engine::spool::fuzz::scan_summary(data)
}

/// The seed corpus of [`spool_segment`], as (file name, bytes): valid
/// segments of every entry kind and of a live log's life, and torn, zero-
/// filled, corrupt and bad-header ones (their names say which).
pub fn spool_segment_seeds() -> Vec<(String, Vec<u8>)> {
    crate::engine::spool::fuzz::seeds()
}
