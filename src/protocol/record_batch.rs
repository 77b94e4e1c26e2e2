//! Record batch v2 (magic 2): the producer's hot-path [`RecordBatchWriter`],
//! an owned model ([`RecordBatch`], [`Record`]) with a verifying decoder, and
//! [`BatchHeader`] for reading the fixed header without touching the records.
//!
//! # Layout
//!
//! ```text
//! offset size field
//!      0    8 baseOffset            (the producer writes 0; the broker assigns offsets)
//!      8    4 batchLength           (bytes after this field: partitionLeaderEpoch .. end)
//!     12    4 partitionLeaderEpoch
//!     16    1 magic = 2
//!     17    4 crc                   (CRC-32C over attributes .. end)
//!     21    2 attributes            (bits 0-2 codec, 3 timestamp type, 4 transactional,
//!                                    5 control, 6 delete horizon)
//!     23    4 lastOffsetDelta
//!     27    8 baseTimestamp
//!     35    8 maxTimestamp
//!     43    8 producerId
//!     51    2 producerEpoch
//!     53    4 baseSequence
//!     57    4 recordCount           (never compressed)
//!     61      records               (compressed as a whole when a codec is set)
//! ```
//!
//! Each record: `length varint | attributes i8 | timestampDelta varlong |
//! offsetDelta varint | key (varint length, -1 null) | value (varint length, -1
//! null) | header count varint | headers (key varint length + UTF-8, value
//! varint length, -1 null)`. Varints are zigzag.
//!
//! # Writing on the hot path
//!
//! ```
//! use kafka_sync::protocol::compression::Compression;
//! use kafka_sync::protocol::record_batch::{BatchParams, Header, RecordBatch, RecordBatchWriter};
//!
//! let mut w = RecordBatchWriter::new(Vec::new(), 1_700_000_000_000);
//! let headers = [Header { key: "trace".into(), value: Some(b"42".to_vec()) }];
//! let n = w.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &headers);
//! assert_eq!(n, RecordBatchWriter::record_size(0, 0, Some(b"key"), Some(b"value"), &headers));
//! w.append(1_700_000_000_005, None, Some(b"second"), &[]);
//! assert_eq!(w.record_count(), 2);
//!
//! let batch = w.finish(&BatchParams::default(), Compression::Gzip, None).unwrap();
//! let (decoded, used) = RecordBatch::decode(&batch, 1 << 20).unwrap();
//! assert_eq!(used, batch.len());
//! assert_eq!(decoded.records[1].value.as_deref(), Some(&b"second"[..]));
//! assert_eq!(decoded.max_timestamp, 1_700_000_000_005);
//! ```
//!
//! # Reusing buffers
//!
//! A batch lives in one `Vec<u8>` from the first append to the end of its
//! produce request; to avoid an allocation per batch, recycle it:
//!
//! - [`RecordBatchWriter::new`] takes a buffer and clears it, keeping its
//!   capacity: pass a buffer from a finished batch whose request completed.
//! - [`RecordBatchWriter::finish_with_scratch`] compresses into a second,
//!   caller-owned buffer and swaps: it returns the sealed batch and leaves the
//!   uncompressed buffer in `scratch`, ready for the next writer. Without a
//!   codec it seals in place and leaves `scratch` alone. So a producer thread
//!   that keeps one scratch `Vec` never allocates once buffers have grown to
//!   the batch size.
//! - [`RecordBatchWriter::into_buffer`] abandons a writer and returns its buffer.
//!
//! # Decoding
//!
//! [`RecordBatch::decode`] is strict, as a broker is with what producers send:
//! it verifies the CRC-32C, the magic, `batchLength` against the bytes given,
//! the record count against the bytes that remain (before allocating), every
//! record's length prefix against its content, that offset deltas run 0, 1,
//! 2, ... with `lastOffsetDelta` the last of them, and that nothing trails the
//! last record. Decompression is capped by a `limit`. Batches that log
//! compaction rewrote (offset gaps) are therefore rejected: this decoder is
//! for batches as produced, not for fetched data.
//!
//! # Transaction markers
//!
//! When a transaction ends, each partition it wrote to gets a control batch
//! (attributes transactional and control) holding one record, the marker:
//! [`encode_end_txn_marker_batch`] writes such a batch (for a broker, such as
//! the crate's mock), and [`EndTxnMarker::decode`] / [`EndTxnMarker::from_record`]
//! read the marker of a decoded control batch's record.

use super::compression::{self, Compression};
use super::error::{DecodeError, EncodeError};
use super::primitives::{varint_len, varlong_len, Decoder, Writer, MAX_PREALLOC};

/// Byte offset of `baseOffset` in a batch.
pub const BASE_OFFSET_OFFSET: usize = 0;
/// Byte offset of `batchLength`.
pub const BATCH_LENGTH_OFFSET: usize = 8;
/// Byte offset of `partitionLeaderEpoch`.
pub const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
/// Byte offset of `magic`.
pub const MAGIC_OFFSET: usize = 16;
/// Byte offset of `crc`.
pub const CRC_OFFSET: usize = 17;
/// Byte offset of `attributes`, where the CRC-covered range starts.
pub const ATTRIBUTES_OFFSET: usize = 21;
/// Byte offset of `lastOffsetDelta`.
pub const LAST_OFFSET_DELTA_OFFSET: usize = 23;
/// Byte offset of `baseTimestamp`.
pub const BASE_TIMESTAMP_OFFSET: usize = 27;
/// Byte offset of `maxTimestamp`.
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
/// Byte offset of `producerId`.
pub const PRODUCER_ID_OFFSET: usize = 43;
/// Byte offset of `producerEpoch`.
pub const PRODUCER_EPOCH_OFFSET: usize = 51;
/// Byte offset of `baseSequence`.
pub const BASE_SEQUENCE_OFFSET: usize = 53;
/// Byte offset of the record count.
pub const RECORD_COUNT_OFFSET: usize = 57;
/// Size of the batch header; the records start here.
pub const BATCH_HEADER_SIZE: usize = 61;
/// Bytes before `batchLength` starts counting: `baseOffset` and `batchLength`.
pub const LOG_OVERHEAD: usize = 12;
/// Smallest valid `batchLength`: a header with no records.
pub const MIN_BATCH_LENGTH: i32 = (BATCH_HEADER_SIZE - LOG_OVERHEAD) as i32;
/// The record batch format version this module reads and writes.
pub const MAGIC: i8 = 2;
/// Smallest encoded record: length, attributes, timestamp delta, offset delta,
/// key length, value length and header count, one byte each.
pub const MIN_RECORD_SIZE: usize = 7;

/// `producerId` when idempotence is off.
pub const NO_PRODUCER_ID: i64 = -1;
/// `producerEpoch` when idempotence is off.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// `baseSequence` when idempotence is off.
pub const NO_SEQUENCE: i32 = -1;
/// `partitionLeaderEpoch` as producers write it (the broker fills it in).
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// Attribute bits 0-2: the compression codec.
pub const COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit 3: set for log-append time, clear for create time.
pub const TIMESTAMP_TYPE_FLAG: i16 = 0x08;
/// Attribute bit 4: the batch belongs to a transaction.
pub const TRANSACTIONAL_FLAG: i16 = 0x10;
/// Attribute bit 5: a control batch (transaction markers).
pub const CONTROL_FLAG: i16 = 0x20;
/// Attribute bit 6: `baseTimestamp` holds the delete horizon (set by log compaction).
pub const DELETE_HORIZON_FLAG: i16 = 0x40;

/// A record header: a UTF-8 key and an optional value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// The key; keys may repeat within a record.
    pub key: String,
    /// The value, or `None` for a null value.
    pub value: Option<Vec<u8>>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into(), value: Some(value.into()) }
    }
}

/// What a record's timestamps mean: attribute bit 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer (bit clear). Producers always write this.
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch (bit set).
    LogAppendTime,
}

/// The producer state and flags [`RecordBatchWriter::finish`] writes into the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchParams {
    /// The producer id, or [`NO_PRODUCER_ID`] without idempotence.
    pub producer_id: i64,
    /// The producer epoch, or [`NO_PRODUCER_EPOCH`] without idempotence.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or [`NO_SEQUENCE`] without idempotence.
    pub base_sequence: i32,
    /// Whether the batch is part of a transaction.
    pub is_transactional: bool,
    /// The partition leader epoch; producers write [`NO_PARTITION_LEADER_EPOCH`].
    pub partition_leader_epoch: i32,
}

impl Default for BatchParams {
    /// No idempotence, not transactional, leader epoch -1.
    fn default() -> Self {
        Self {
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            is_transactional: false,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        }
    }
}

/// Converts a length to the `i32` the format stores.
///
/// # Panics
/// If `len` exceeds `i32::MAX`: no record that large can be sent, and the
/// producer rejects records above `max.request.size` long before.
#[inline]
fn len_i32(len: usize) -> i32 {
    i32::try_from(len).expect("record field longer than i32::MAX bytes")
}

/// Bytes a nullable varint-length-prefixed field takes.
#[inline]
fn nullable_field_size(b: Option<&[u8]>) -> usize {
    match b {
        Some(b) => varint_len(len_i32(b.len())) + b.len(),
        None => 1,
    }
}

/// Size of a record's body: everything after its length prefix.
fn record_body_size(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    let mut n = 1 // attributes
        + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + nullable_field_size(key)
        + nullable_field_size(value)
        + varint_len(len_i32(headers.len()));
    for h in headers {
        n += varint_len(len_i32(h.key.len())) + h.key.len() + nullable_field_size(h.value.as_deref());
    }
    n
}

#[inline]
fn put_nullable(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            buf.put_varint(len_i32(b.len()));
            buf.extend_from_slice(b);
        }
        None => buf.put_varint(-1),
    }
}

/// Appends one record (length prefix included); returns the bytes written.
fn write_record(
    buf: &mut Vec<u8>,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    let body = record_body_size(timestamp_delta, offset_delta, key, value, headers);
    let body_i32 = len_i32(body);
    let start = buf.len();
    buf.reserve(varint_len(body_i32) + body);
    buf.put_varint(body_i32);
    buf.put_i8(attributes);
    buf.put_varlong(timestamp_delta);
    buf.put_varint(offset_delta);
    put_nullable(buf, key);
    put_nullable(buf, value);
    buf.put_varint(len_i32(headers.len()));
    for h in headers {
        buf.put_varint(len_i32(h.key.len()));
        buf.extend_from_slice(h.key.as_bytes());
        put_nullable(buf, h.value.as_deref());
    }
    let written = buf.len() - start;
    debug_assert_eq!(written, varint_len(body_i32) + body, "record size prediction");
    written
}

/// Appends records of one batch straight into a reusable buffer: the
/// producer's hot path. See the [module docs](self) for buffer reuse.
///
/// The buffer holds a reserved 61-byte header followed by uncompressed
/// records; [`finish`](Self::finish) fills the header in, compresses the
/// records if asked, and computes the length and CRC.
#[derive(Debug)]
pub struct RecordBatchWriter {
    buf: Vec<u8>,
    base_timestamp: i64,
    max_timestamp: i64,
    count: i32,
}

impl RecordBatchWriter {
    /// Starts a batch in `buf`, which is cleared (its capacity is kept), with
    /// record timestamps written relative to `base_timestamp` (milliseconds
    /// since the epoch; the producer passes the first record's timestamp).
    pub fn new(mut buf: Vec<u8>, base_timestamp: i64) -> Self {
        buf.clear();
        buf.resize(BATCH_HEADER_SIZE, 0);
        Self { buf, base_timestamp, max_timestamp: base_timestamp, count: 0 }
    }

    /// Appends a record with timestamp `timestamp` (milliseconds since the
    /// epoch), offset delta [`record_count`](Self::record_count), and returns
    /// the bytes appended: exactly [`record_size`](Self::record_size).
    ///
    /// # Panics
    /// If the key, a value or the record is longer than `i32::MAX` bytes, or
    /// the batch already holds `i32::MAX` records.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        assert!(self.count < i32::MAX, "record batch full");
        let delta = timestamp.wrapping_sub(self.base_timestamp);
        let n = write_record(&mut self.buf, 0, delta, self.count, key, value, headers);
        debug_assert_eq!(n, Self::record_size(delta, self.count, key, value, headers));
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        n
    }

    /// Exact bytes [`append`](Self::append) writes for a record with these
    /// deltas and fields (its length prefix included, uncompressed).
    pub fn record_size(
        timestamp_delta: i64,
        offset_delta: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        let body = record_body_size(timestamp_delta, offset_delta, key, value, headers);
        varint_len(len_i32(body)) + body
    }

    /// Exact bytes the next [`append`](Self::append) with these arguments
    /// would write: check it against the batch size limit before appending.
    pub fn next_record_size(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        Self::record_size(timestamp.wrapping_sub(self.base_timestamp), self.count, key, value, headers)
    }

    /// Makes room for `additional` more bytes: grows the buffer by half its
    /// capacity at a time (not by doubling), and never beyond `max_capacity`
    /// unless the record itself needs it. A batch that ends up full wastes at
    /// most a third of its buffer, one that stays small reserves little.
    pub fn reserve(&mut self, additional: usize, max_capacity: usize) {
        let need = self.buf.len() + additional;
        let cap = self.buf.capacity();
        if need <= cap {
            return;
        }
        let target = (cap + cap / 2).min(max_capacity).max(need);
        self.buf.reserve_exact(target - self.buf.len());
    }

    /// Size of the batch so far, uncompressed: header plus records.
    pub fn size_in_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Records appended so far.
    pub fn record_count(&self) -> i32 {
        self.count
    }

    /// The timestamp record timestamps are relative to.
    pub fn base_timestamp(&self) -> i64 {
        self.base_timestamp
    }

    /// The largest timestamp appended so far (the base timestamp if none is larger).
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// Abandons the batch and returns its buffer, for reuse.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// Seals the batch and returns its bytes: fills the header from `params`,
    /// compresses the records with `codec` at `level` (`None`: the codec's
    /// default), then writes `batchLength` and the CRC-32C.
    ///
    /// Allocates the compressed buffer; use
    /// [`finish_with_scratch`](Self::finish_with_scratch) to recycle it.
    ///
    /// Fails only for a codec this build lacks, a level the codec rejects
    /// (validate both with the configuration), or a batch over 2 GiB; the
    /// buffer is dropped then.
    pub fn finish(
        self,
        params: &BatchParams,
        codec: Compression,
        level: Option<i32>,
    ) -> Result<Vec<u8>, EncodeError> {
        self.finish_with_scratch(params, codec, level, &mut Vec::new())
    }

    /// Like [`finish`](Self::finish), compressing into `scratch` instead of
    /// allocating. With a codec, `scratch` is cleared, receives the sealed
    /// batch, and is swapped with the writer's buffer: the sealed batch is
    /// returned and `scratch` then holds the uncompressed records' buffer,
    /// ready to be reused. With [`Compression::None`] the batch is sealed in
    /// place and `scratch` is untouched.
    pub fn finish_with_scratch(
        mut self,
        params: &BatchParams,
        codec: Compression,
        level: Option<i32>,
        scratch: &mut Vec<u8>,
    ) -> Result<Vec<u8>, EncodeError> {
        if codec != Compression::None {
            scratch.clear();
            scratch.extend_from_slice(&self.buf[..BATCH_HEADER_SIZE]);
            compression::compress(codec, level, &self.buf[BATCH_HEADER_SIZE..], scratch)?;
            std::mem::swap(scratch, &mut self.buf);
        }
        self.seal_as(0, codec.code(), params)
    }

    /// Fills the header in (`attributes` plus the transactional flag of
    /// `params`) and seals the buffer as it is.
    fn seal_as(
        mut self,
        base_offset: i64,
        attributes: i16,
        params: &BatchParams,
    ) -> Result<Vec<u8>, EncodeError> {
        let header = BatchHeader {
            base_offset,
            batch_length: 0, // filled in by seal
            partition_leader_epoch: params.partition_leader_epoch,
            magic: MAGIC,
            crc: 0, // filled in by seal
            attributes: attributes | if params.is_transactional { TRANSACTIONAL_FLAG } else { 0 },
            last_offset_delta: self.count - 1,
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: params.producer_id,
            producer_epoch: params.producer_epoch,
            base_sequence: params.base_sequence,
            record_count: self.count,
        };
        seal(&mut self.buf, &header)?;
        Ok(self.buf)
    }
}

/// Writes `h` into the first 61 bytes of `batch` (which holds exactly one
/// batch), with `batchLength` from the slice length, then the CRC-32C.
fn seal(batch: &mut [u8], h: &BatchHeader) -> Result<(), EncodeError> {
    debug_assert!(batch.len() >= BATCH_HEADER_SIZE);
    let batch_length = i32::try_from(batch.len() - LOG_OVERHEAD)
        .map_err(|_| EncodeError::TooLong { what: "record batch", len: batch.len() })?;
    let mut head = [0u8; BATCH_HEADER_SIZE];
    let mut at = 0;
    let mut put = |b: &[u8]| {
        head[at..at + b.len()].copy_from_slice(b);
        at += b.len();
    };
    put(&h.base_offset.to_be_bytes());
    put(&batch_length.to_be_bytes());
    put(&h.partition_leader_epoch.to_be_bytes());
    put(&h.magic.to_be_bytes());
    put(&[0; 4]); // crc, computed last
    put(&h.attributes.to_be_bytes());
    put(&h.last_offset_delta.to_be_bytes());
    put(&h.base_timestamp.to_be_bytes());
    put(&h.max_timestamp.to_be_bytes());
    put(&h.producer_id.to_be_bytes());
    put(&h.producer_epoch.to_be_bytes());
    put(&h.base_sequence.to_be_bytes());
    put(&h.record_count.to_be_bytes());
    debug_assert_eq!(at, BATCH_HEADER_SIZE);
    batch[..BATCH_HEADER_SIZE].copy_from_slice(&head);
    write_crc(batch);
    Ok(())
}

/// Computes the CRC-32C over attributes .. end and stores it.
fn write_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
}

/// Rewrites producer id, epoch and base sequence in a sealed batch, and its
/// CRC: used when a batch is retried after the producer epoch was bumped.
///
/// `batch` must be exactly one batch; its CRC is verified before rewriting,
/// so corruption is reported rather than covered by a fresh CRC.
pub fn set_producer_state(
    batch: &mut [u8],
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
) -> Result<(), DecodeError> {
    let h = BatchHeader::read(batch)?;
    if h.total_size() != batch.len() {
        return Err(DecodeError::TrailingBytes(batch.len() - h.total_size()));
    }
    batch[PRODUCER_ID_OFFSET..PRODUCER_EPOCH_OFFSET].copy_from_slice(&producer_id.to_be_bytes());
    batch[PRODUCER_EPOCH_OFFSET..BASE_SEQUENCE_OFFSET].copy_from_slice(&producer_epoch.to_be_bytes());
    batch[BASE_SEQUENCE_OFFSET..RECORD_COUNT_OFFSET].copy_from_slice(&base_sequence.to_be_bytes());
    write_crc(batch);
    Ok(())
}

/// The fixed 61-byte header of a batch, read without decoding the records
/// (e.g. for a broker checking base offset and sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchHeader {
    /// `baseOffset`.
    pub base_offset: i64,
    /// `batchLength`: bytes from `partitionLeaderEpoch` to the end.
    pub batch_length: i32,
    /// `partitionLeaderEpoch`.
    pub partition_leader_epoch: i32,
    /// `magic` (2).
    pub magic: i8,
    /// The stored CRC-32C.
    pub crc: u32,
    /// `attributes`, raw.
    pub attributes: i16,
    /// `lastOffsetDelta`.
    pub last_offset_delta: i32,
    /// `baseTimestamp`.
    pub base_timestamp: i64,
    /// `maxTimestamp`.
    pub max_timestamp: i64,
    /// `producerId`.
    pub producer_id: i64,
    /// `producerEpoch`.
    pub producer_epoch: i16,
    /// `baseSequence`.
    pub base_sequence: i32,
    /// The record count, as stored (not checked against the records).
    pub record_count: i32,
}

impl BatchHeader {
    /// Reads the header of the batch at the start of `bytes`, checking that
    /// `batchLength` is sane and covered by `bytes`, that the magic is 2, and
    /// that the CRC-32C matches. Bytes after the batch are ignored.
    pub fn read(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(bytes);
        let base_offset = d.i64()?;
        let batch_length = d.i32()?;
        if batch_length < 0 {
            return Err(DecodeError::NegativeLength(batch_length.into()));
        }
        if batch_length < MIN_BATCH_LENGTH {
            return Err(DecodeError::Invalid("batchLength shorter than a record batch header"));
        }
        let total = LOG_OVERHEAD + batch_length as usize;
        if total > bytes.len() {
            return Err(DecodeError::Truncated { needed: total, remaining: bytes.len() });
        }
        let partition_leader_epoch = d.i32()?;
        let magic = d.i8()?;
        if magic != MAGIC {
            return Err(DecodeError::Invalid("record batch magic is not 2"));
        }
        let crc = d.u32()?;
        let computed = crc32c::crc32c(&bytes[ATTRIBUTES_OFFSET..total]);
        if computed != crc {
            return Err(DecodeError::CrcMismatch { stored: crc, computed });
        }
        Ok(Self {
            base_offset,
            batch_length,
            partition_leader_epoch,
            magic,
            crc,
            attributes: d.i16()?,
            last_offset_delta: d.i32()?,
            base_timestamp: d.i64()?,
            max_timestamp: d.i64()?,
            producer_id: d.i64()?,
            producer_epoch: d.i16()?,
            base_sequence: d.i32()?,
            record_count: d.i32()?,
        })
    }

    /// Bytes the whole batch takes: `batchLength` plus 12.
    pub fn total_size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    /// The compression codec, or an error for attribute codes 5-7.
    pub fn compression(&self) -> Result<Compression, DecodeError> {
        Compression::from_code(self.attributes & COMPRESSION_MASK)
            .ok_or(DecodeError::Invalid("unknown compression codec in batch attributes"))
    }

    /// The timestamp type (attribute bit 3).
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_FLAG != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch is transactional (attribute bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }

    /// Whether the batch is a control batch (attribute bit 5).
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }

    /// Whether `baseTimestamp` holds a delete horizon (attribute bit 6).
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & DELETE_HORIZON_FLAG != 0
    }

    /// Sequence number of the last record: `baseSequence + lastOffsetDelta`,
    /// wrapping at `i32::MAX` to 0 as Kafka's sequences do; `None` without
    /// idempotence (base sequence -1).
    pub fn last_sequence(&self) -> Option<i32> {
        if self.base_sequence < 0 {
            return None;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        Some(if last > i64::from(i32::MAX) { (last - i64::from(i32::MAX) - 1) as i32 } else { last as i32 })
    }
}

/// One record of a [`RecordBatch`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Record {
    /// Record attributes (unused by Kafka; producers write 0).
    pub attributes: i8,
    /// Timestamp minus the batch's `baseTimestamp`.
    pub timestamp_delta: i64,
    /// Offset minus the batch's `baseOffset`.
    pub offset_delta: i32,
    /// The key, or `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// The value, or `None` for a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// The headers, in order.
    pub headers: Vec<Header>,
}

/// An owned record batch, for decoding, tests and tools. The producer itself
/// writes through [`RecordBatchWriter`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordBatch {
    /// `baseOffset`: 0 from producers, assigned by the broker.
    pub base_offset: i64,
    /// `partitionLeaderEpoch`: -1 from producers.
    pub partition_leader_epoch: i32,
    /// The codec the batch was decoded with. [`RecordBatch::encode`] takes
    /// its codec as an argument instead, so a batch can be re-encoded with
    /// another one.
    pub compression: Compression,
    /// The timestamp type (attribute bit 3).
    pub timestamp_type: TimestampType,
    /// Whether the batch belongs to a transaction (attribute bit 4).
    pub is_transactional: bool,
    /// Whether this is a control batch (attribute bit 5).
    pub is_control: bool,
    /// Whether `base_timestamp` is a delete horizon (attribute bit 6).
    pub has_delete_horizon: bool,
    /// `lastOffsetDelta`: the last record's offset delta.
    pub last_offset_delta: i32,
    /// `baseTimestamp`.
    pub base_timestamp: i64,
    /// `maxTimestamp`.
    pub max_timestamp: i64,
    /// `producerId`, -1 without idempotence.
    pub producer_id: i64,
    /// `producerEpoch`, -1 without idempotence.
    pub producer_epoch: i16,
    /// `baseSequence`, -1 without idempotence.
    pub base_sequence: i32,
    /// The records.
    pub records: Vec<Record>,
}

impl Default for RecordBatch {
    /// An empty batch as a non-idempotent producer would write it.
    fn default() -> Self {
        Self {
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            is_transactional: false,
            is_control: false,
            has_delete_horizon: false,
            last_offset_delta: -1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            records: Vec::new(),
        }
    }
}

impl RecordBatch {
    /// The attributes field these flags and `codec` make.
    fn attributes(&self, codec: Compression) -> i16 {
        let mut a = codec.code();
        if self.timestamp_type == TimestampType::LogAppendTime {
            a |= TIMESTAMP_TYPE_FLAG;
        }
        if self.is_transactional {
            a |= TRANSACTIONAL_FLAG;
        }
        if self.is_control {
            a |= CONTROL_FLAG;
        }
        if self.has_delete_horizon {
            a |= DELETE_HORIZON_FLAG;
        }
        a
    }

    /// Appends the batch to `buf`, its records compressed with `codec` at
    /// `level` (the `compression` field is ignored). Fields are written as
    /// they are, without checks, so tests can build any batch, valid or not.
    pub fn encode(
        &self,
        buf: &mut Vec<u8>,
        codec: Compression,
        level: Option<i32>,
    ) -> Result<(), EncodeError> {
        let count = i32::try_from(self.records.len())
            .map_err(|_| EncodeError::TooLong { what: "records", len: self.records.len() })?;
        let start = buf.len();
        buf.resize(start + BATCH_HEADER_SIZE, 0);
        let mut plain = Vec::new();
        let target = if codec == Compression::None { &mut *buf } else { &mut plain };
        for r in &self.records {
            write_record(
                target,
                r.attributes,
                r.timestamp_delta,
                r.offset_delta,
                r.key.as_deref(),
                r.value.as_deref(),
                &r.headers,
            );
        }
        if codec != Compression::None {
            compression::compress(codec, level, &plain, buf)?;
        }
        let header = BatchHeader {
            base_offset: self.base_offset,
            batch_length: 0,
            partition_leader_epoch: self.partition_leader_epoch,
            magic: MAGIC,
            crc: 0,
            attributes: self.attributes(codec),
            last_offset_delta: self.last_offset_delta,
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            record_count: count,
        };
        seal(&mut buf[start..], &header)
    }

    /// Decodes the batch at the start of `bytes`, returning it and the bytes
    /// it took. `limit` caps the size of a compressed records section once
    /// decompressed. See the [module docs](self) for what is verified.
    pub fn decode(bytes: &[u8], limit: usize) -> Result<(RecordBatch, usize), DecodeError> {
        let h = BatchHeader::read(bytes)?;
        let compression = h.compression()?;
        let count = h.record_count;
        if count < 0 {
            return Err(DecodeError::NegativeLength(count.into()));
        }
        let count = count as usize;
        let total = h.total_size();
        let section = &bytes[BATCH_HEADER_SIZE..total];
        let decompressed;
        let section = if compression == Compression::None {
            section
        } else {
            // Even a compressed section cannot hold fewer than 7 bytes per
            // record once decompressed: refuse absurd counts before inflating.
            if count.saturating_mul(MIN_RECORD_SIZE) > limit {
                return Err(DecodeError::CountTooLarge { count, remaining: limit });
            }
            let mut out = Vec::new();
            compression::decompress(compression, section, limit, &mut out)?;
            decompressed = out;
            &decompressed[..]
        };
        if count.saturating_mul(MIN_RECORD_SIZE) > section.len() {
            return Err(DecodeError::CountTooLarge { count, remaining: section.len() });
        }
        let mut d = Decoder::new(section);
        let mut records = Vec::with_capacity(count.min(MAX_PREALLOC));
        for i in 0..count {
            let r = decode_record(&mut d)?;
            if i64::from(r.offset_delta) != i as i64 {
                return Err(DecodeError::Invalid("record offset deltas are not 0, 1, 2, ..."));
            }
            records.push(r);
        }
        d.finish()?;
        if count > 0 && h.last_offset_delta as i64 != count as i64 - 1 {
            return Err(DecodeError::Invalid("lastOffsetDelta disagrees with the records"));
        }
        let batch = RecordBatch {
            base_offset: h.base_offset,
            partition_leader_epoch: h.partition_leader_epoch,
            compression,
            timestamp_type: h.timestamp_type(),
            is_transactional: h.is_transactional(),
            is_control: h.is_control(),
            has_delete_horizon: h.has_delete_horizon(),
            last_offset_delta: h.last_offset_delta,
            base_timestamp: h.base_timestamp,
            max_timestamp: h.max_timestamp,
            producer_id: h.producer_id,
            producer_epoch: h.producer_epoch,
            base_sequence: h.base_sequence,
            records,
        };
        Ok((batch, total))
    }

    /// Decodes every batch in `bytes` (a `records` field), which must end
    /// exactly at a batch boundary. `limit` applies to each batch.
    pub fn decode_all(mut bytes: &[u8], limit: usize) -> Result<Vec<RecordBatch>, DecodeError> {
        let mut batches = Vec::new();
        while !bytes.is_empty() {
            let (b, used) = Self::decode(bytes, limit)?;
            batches.push(b);
            bytes = &bytes[used..];
        }
        Ok(batches)
    }

    /// The absolute timestamp of `r`, a record of this batch.
    pub fn timestamp_of(&self, r: &Record) -> i64 {
        self.base_timestamp.wrapping_add(r.timestamp_delta)
    }

    /// The absolute offset of `r`, a record of this batch.
    pub fn offset_of(&self, r: &Record) -> i64 {
        self.base_offset.wrapping_add(r.offset_delta.into())
    }
}

/// Reads a nullable varint-length field.
fn nullable_varbytes(d: &mut Decoder<'_>) -> Result<Option<Vec<u8>>, DecodeError> {
    match d.varint()? {
        -1 => Ok(None),
        l if l < -1 => Err(DecodeError::NegativeLength(l.into())),
        l => Ok(Some(d.take(l as usize)?.to_vec())),
    }
}

/// Reads one record, checking its length prefix against its content.
fn decode_record(d: &mut Decoder<'_>) -> Result<Record, DecodeError> {
    let len = d.varint()?;
    if len < 0 {
        return Err(DecodeError::NegativeLength(len.into()));
    }
    let mut r = Decoder::new(d.take(len as usize)?);
    let attributes = r.i8()?;
    let timestamp_delta = r.varlong()?;
    let offset_delta = r.varint()?;
    let key = nullable_varbytes(&mut r)?;
    let value = nullable_varbytes(&mut r)?;
    let n = r.varint()?;
    if n < 0 {
        return Err(DecodeError::NegativeLength(n.into()));
    }
    let n = n as usize;
    // Each header takes at least 2 bytes (key length and value length).
    if n.saturating_mul(2) > r.remaining() {
        return Err(DecodeError::CountTooLarge { count: n, remaining: r.remaining() });
    }
    let mut headers = Vec::with_capacity(n.min(MAX_PREALLOC));
    for _ in 0..n {
        let klen = r.varint()?;
        if klen < 0 {
            return Err(if klen == -1 {
                DecodeError::UnexpectedNull("header key")
            } else {
                DecodeError::NegativeLength(klen.into())
            });
        }
        let key =
            std::str::from_utf8(r.take(klen as usize)?).map_err(|_| DecodeError::InvalidUtf8)?.to_owned();
        let value = nullable_varbytes(&mut r)?;
        headers.push(Header { key, value });
    }
    r.finish()?;
    Ok(Record { attributes, timestamp_delta, offset_delta, key, value, headers })
}

/// What a control record marks: the `type` of its key. Only the two
/// transaction markers are modelled; Kafka's other control types (KRaft's
/// leader change, snapshot header and footer, kraft version and voters,
/// types 2-6) never appear in a partition a producer writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// Type 0: the transaction was aborted.
    Abort,
    /// Type 1: the transaction was committed.
    Commit,
}

impl ControlRecordType {
    /// The type id on the wire: 0 for abort, 1 for commit.
    pub const fn id(self) -> i16 {
        match self {
            Self::Abort => 0,
            Self::Commit => 1,
        }
    }

    /// The transaction marker type of wire id `id`, or `None` for any other
    /// control type.
    pub const fn from_id(id: i16) -> Option<Self> {
        match id {
            0 => Some(Self::Abort),
            1 => Some(Self::Commit),
            _ => None,
        }
    }
}

/// Size of a control record key: `version: i16`, `type: i16`.
pub const CONTROL_RECORD_KEY_SIZE: usize = 4;
/// Size of an end-transaction marker value: `version: i16`, `coordinator_epoch: i32`.
pub const END_TXN_MARKER_VALUE_SIZE: usize = 6;
/// Size of a whole marker batch, as [`encode_end_txn_marker_batch`] writes it:
/// the header and one 17-byte record.
pub const END_TXN_MARKER_BATCH_SIZE: usize = 78;

/// A transaction marker (Kafka's `EndTransactionMarker`): the single record of
/// the control batch that the transaction coordinator has each partition
/// leader append when a transaction commits or aborts.
///
/// On the wire the record's key is `version: i16 = 0, type: i16`
/// ([`ControlRecordType`]) and its value `version: i16 = 0,
/// coordinator_epoch: i32`. [`EndTxnMarker::decode`] reads them as Kafka
/// does (`ControlRecordType.parseTypeId`, `EndTransactionMarker.deserializeValue`):
/// input shorter than 4 (key) or 6 (value) bytes, a negative version or a
/// type other than abort or commit is an error; a version above 0 is read
/// as version 0 and bytes after the known fields are ignored, since later
/// versions may only append fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTxnMarker {
    /// Commit or abort.
    pub kind: ControlRecordType,
    /// The epoch of the transaction coordinator that wrote the marker.
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    /// The record key: version 0, then the type.
    pub fn encode_key(&self) -> [u8; CONTROL_RECORD_KEY_SIZE] {
        let t = self.kind.id().to_be_bytes();
        [0, 0, t[0], t[1]]
    }

    /// The record value: version 0, then the coordinator epoch.
    pub fn encode_value(&self) -> [u8; END_TXN_MARKER_VALUE_SIZE] {
        let e = self.coordinator_epoch.to_be_bytes();
        [0, 0, e[0], e[1], e[2], e[3]]
    }

    /// Reads a marker from a control record's key and value (see the type's
    /// docs for what is accepted).
    pub fn decode(key: &[u8], value: &[u8]) -> Result<Self, DecodeError> {
        let mut k = Decoder::new(key);
        if k.remaining() < CONTROL_RECORD_KEY_SIZE {
            return Err(DecodeError::Truncated { needed: CONTROL_RECORD_KEY_SIZE, remaining: k.remaining() });
        }
        if k.i16()? < 0 {
            return Err(DecodeError::Invalid("negative control record key version"));
        }
        let kind = ControlRecordType::from_id(k.i16()?)
            .ok_or(DecodeError::Invalid("control record type is not a transaction marker"))?;
        let mut v = Decoder::new(value);
        if v.remaining() < END_TXN_MARKER_VALUE_SIZE {
            return Err(DecodeError::Truncated {
                needed: END_TXN_MARKER_VALUE_SIZE,
                remaining: v.remaining(),
            });
        }
        if v.i16()? < 0 {
            return Err(DecodeError::Invalid("negative transaction marker version"));
        }
        Ok(Self { kind, coordinator_epoch: v.i32()? })
    }

    /// Reads the marker of `record`, a control batch's record; a null key or
    /// value is an error.
    pub fn from_record(record: &Record) -> Result<Self, DecodeError> {
        let key = record.key.as_deref().ok_or(DecodeError::UnexpectedNull("control record key"))?;
        let value = record.value.as_deref().ok_or(DecodeError::UnexpectedNull("transaction marker value"))?;
        Self::decode(key, value)
    }
}

/// A whole record batch holding the transaction marker `marker`, as a
/// partition leader appends it (Kafka's `MemoryRecords.withEndTransactionMarker`):
/// magic 2, no compression, create time, attributes transactional and
/// control, `baseSequence` -1, one record at offset delta 0 whose timestamp
/// (and the batch's base and max timestamps) is `timestamp_ms`, CRC filled
/// in. `producer_id` must be a real producer id (Kafka refuses -1).
///
/// ```
/// use kafka_sync::protocol::record_batch::{
///     encode_end_txn_marker_batch, ControlRecordType, EndTxnMarker, RecordBatch,
/// };
/// let marker = EndTxnMarker { kind: ControlRecordType::Commit, coordinator_epoch: 3 };
/// let batch = encode_end_txn_marker_batch(4000, 1, 42, 0, 1_700_000_000_000, &marker);
/// let (decoded, _) = RecordBatch::decode(&batch, 1 << 20).unwrap();
/// assert!(decoded.is_control && decoded.is_transactional);
/// assert_eq!(EndTxnMarker::from_record(&decoded.records[0]), Ok(marker));
/// ```
pub fn encode_end_txn_marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    base_offset: i64,
    partition_leader_epoch: i32,
    timestamp_ms: i64,
    marker: &EndTxnMarker,
) -> Vec<u8> {
    let mut w = RecordBatchWriter::new(Vec::with_capacity(END_TXN_MARKER_BATCH_SIZE), timestamp_ms);
    w.append(timestamp_ms, Some(&marker.encode_key()), Some(&marker.encode_value()), &[]);
    let params = BatchParams {
        producer_id,
        producer_epoch,
        base_sequence: NO_SEQUENCE,
        is_transactional: true,
        partition_leader_epoch,
    };
    let batch = w
        .seal_as(base_offset, Compression::None.code() | CONTROL_FLAG, &params)
        .expect("a 78-byte uncompressed batch seals");
    debug_assert_eq!(batch.len(), END_TXN_MARKER_BATCH_SIZE);
    batch
}

/// Proptest strategies for headers, records and whole batches (feature `proptest`).
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use proptest::prelude::*;

    /// Every codec this build includes.
    pub fn codec() -> impl Strategy<Value = Compression> {
        let available: Vec<Compression> = Compression::ALL.into_iter().filter(|c| c.is_available()).collect();
        proptest::sample::select(available)
    }

    /// Byte strings: mostly short, sometimes long enough for multi-byte
    /// lengths, sometimes repetitive (so codecs actually compress).
    pub fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => proptest::collection::vec(any::<u8>(), 0..32),
            1 => proptest::collection::vec(any::<u8>(), 100..3000),
            1 => (any::<u8>(), 0usize..5000).prop_map(|(b, n)| vec![b; n]),
        ]
    }

    /// Headers: short Unicode keys, null or non-null values.
    pub fn header() -> impl Strategy<Value = Header> {
        (".{0,12}", proptest::option::of(proptest::collection::vec(any::<u8>(), 0..24)))
            .prop_map(|(key, value)| Header { key, value })
    }

    /// Timestamp deltas: small, negative, or anywhere in `i64`.
    pub fn timestamp_delta() -> impl Strategy<Value = i64> {
        prop_oneof![3 => 0i64..10_000, 1 => -10_000i64..0, 1 => any::<i64>()]
    }

    /// A record at `offset_delta`: null or non-null keys and values, 0 to 3 headers.
    pub fn record(offset_delta: i32) -> impl Strategy<Value = Record> {
        (
            prop_oneof![3 => Just(0i8), 1 => any::<i8>()],
            timestamp_delta(),
            proptest::option::of(payload()),
            proptest::option::of(payload()),
            proptest::collection::vec(header(), 0..4),
        )
            .prop_map(move |(attributes, timestamp_delta, key, value, headers)| Record {
                attributes,
                timestamp_delta,
                offset_delta,
                key,
                value,
                headers,
            })
    }

    /// 0 to `max` records with offset deltas 0, 1, 2, ...
    pub fn records(max: usize) -> impl Strategy<Value = Vec<Record>> {
        (0..=max).prop_flat_map(|n| (0..n as i32).map(record).collect::<Vec<_>>())
    }

    /// Valid batches (as the decoder accepts them) with `codec` and any
    /// header fields and flags.
    pub fn batch_with(codec: Compression) -> impl Strategy<Value = RecordBatch> {
        (
            records(6),
            (any::<i64>(), any::<i32>(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
            (any::<i64>(), any::<i64>(), any::<i64>(), any::<i16>(), any::<i32>()),
            any::<i32>(),
        )
            .prop_map(
                move |(
                    records,
                    (
                        base_offset,
                        partition_leader_epoch,
                        log_append,
                        is_transactional,
                        is_control,
                        has_delete_horizon,
                    ),
                    (base_timestamp, max_timestamp, producer_id, producer_epoch, base_sequence),
                    empty_last_delta,
                )| {
                    // An empty batch may keep any lastOffsetDelta (log compaction does).
                    let last_offset_delta =
                        if records.is_empty() { empty_last_delta } else { records.len() as i32 - 1 };
                    RecordBatch {
                        base_offset,
                        partition_leader_epoch,
                        compression: codec,
                        timestamp_type: if log_append {
                            TimestampType::LogAppendTime
                        } else {
                            TimestampType::CreateTime
                        },
                        is_transactional,
                        is_control,
                        has_delete_horizon,
                        last_offset_delta,
                        base_timestamp,
                        max_timestamp,
                        producer_id,
                        producer_epoch,
                        base_sequence,
                        records,
                    }
                },
            )
    }

    /// Valid batches with any available codec.
    pub fn batch() -> impl Strategy<Value = RecordBatch> {
        codec().prop_flat_map(batch_with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            let n = write_record(&mut buf, r.attributes, r.timestamp_delta, off, r.key.as_deref(), r.value.as_deref(), &r.headers);
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
            assert!(
                matches!(EndTxnMarker::decode(&[0, 0, a, b], &value), Err(DecodeError::Invalid(_))),
                "{t}"
            );
        }
        // Later versions are read as version 0, trailing bytes ignored (Kafka does both).
        assert_eq!(EndTxnMarker::decode(&[0, 3, 0, 1, 9, 9], &[0, 1, 1, 2, 3, 4, 5]), Ok(commit));
        // Null key or value in a record.
        let record = Record { key: None, value: Some(value.to_vec()), ..Default::default() };
        assert_eq!(
            EndTxnMarker::from_record(&record),
            Err(DecodeError::UnexpectedNull("control record key"))
        );
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
}
