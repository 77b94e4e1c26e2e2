//! Writing a batch: [`RecordBatchWriter`] appends records in place, then
//! seals the header, compression and CRC-32C.

use crate::protocol::compression::{self, Compression};
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{varint_len, varlong_len, zigzag32, zigzag64, Writer};

use super::*;

/// Converts a length to the `i32` the format stores.
///
/// # Panics
/// If `len` exceeds `i32::MAX`: no record that large can be sent, and the
/// producer rejects records above `max.request.size` long before.
#[inline]
pub(super) fn len_i32(len: usize) -> i32 {
    i32::try_from(len).expect("record field longer than i32::MAX bytes")
}

/// Bytes a nullable varint-length-prefixed field takes.
#[inline]
pub(super) fn nullable_field_size(b: Option<&[u8]>) -> usize {
    match b {
        Some(b) => varint_len(len_i32(b.len())) + b.len(),
        None => 1,
    }
}

/// Bytes a record's key, value and headers take as written: the part of
/// its body that does not depend on where in a batch it goes. The producer
/// computes it once per record (see [`RecordBatchWriter::append_sized`]).
#[inline]
pub(crate) fn record_fields_size(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
    let mut n = nullable_field_size(key) + nullable_field_size(value) + varint_len(len_i32(headers.len()));
    for h in headers {
        n += varint_len(len_i32(h.key.len())) + h.key.len() + nullable_field_size(h.value.as_deref());
    }
    n
}

/// The most bytes a record with [`record_fields_size`] `fields` can take in
/// any batch (whatever its timestamp and offset deltas).
#[inline]
pub(crate) fn record_size_bound(fields: usize) -> usize {
    sized_record(fields, i64::MAX, i32::MAX)
}

/// Exact bytes a record with [`record_fields_size`] `fields` and these
/// deltas takes, its length prefix included.
#[inline]
fn sized_record(fields: usize, timestamp_delta: i64, offset_delta: i32) -> usize {
    let body = body_size(fields, timestamp_delta, offset_delta);
    varint_len(len_i32(body)) + body
}

/// A record body's size from its [`record_fields_size`] and its deltas.
#[inline]
fn body_size(fields: usize, timestamp_delta: i64, offset_delta: i32) -> usize {
    1 // attributes
        + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + fields
}

#[inline]
pub(super) fn put_nullable(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            buf.put_varint(len_i32(b.len()));
            buf.extend_from_slice(b);
        }
        None => buf.put_varint(-1),
    }
}

/// Appends one record (length prefix included) whose
/// [`record_fields_size`] is `fields`; returns the bytes written.
///
/// The varints before the key, and those before the value, are encoded
/// into an array on the stack and copied into the buffer in one piece:
/// pushing them onto the `Vec` byte by byte checked its capacity for every
/// byte and took about as many instructions as the rest of the record.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) fn write_record(
    buf: &mut Vec<u8>,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
    fields: usize,
) -> usize {
    let body = body_size(fields, timestamp_delta, offset_delta);
    let body_i32 = len_i32(body);
    let start = buf.len();
    buf.reserve(varint_len(body_i32) + body);
    // At most 5 + 1 + 10 + 5 + 5 bytes up to the key's length, then at most
    // 5 more for the value's when the key is null.
    let mut head = [0u8; VARINTS];
    let mut n = put_uvarint_at(&mut head, 0, zigzag32(body_i32).into());
    head[n] = attributes as u8;
    n = put_uvarint_at(&mut head, n + 1, zigzag64(timestamp_delta));
    n = put_uvarint_at(&mut head, n, zigzag32(offset_delta).into());
    n = put_uvarint_at(&mut head, n, zigzag32(key.map_or(-1, |k| len_i32(k.len()))).into());
    if let Some(k) = key {
        put_head(buf, &head, n);
        buf.extend_from_slice(k);
        n = 0;
    }
    n = put_uvarint_at(&mut head, n, zigzag32(value.map_or(-1, |v| len_i32(v.len()))).into());
    put_head(buf, &head, n);
    if let Some(v) = value {
        buf.extend_from_slice(v);
    }
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

/// The room [`write_record`] encodes a record's leading varints in.
const VARINTS: usize = 32;

/// Writes `v` as an unsigned varint at `out[at..]`; returns where it ends.
#[inline(always)]
fn put_uvarint_at(out: &mut [u8; VARINTS], mut at: usize, mut v: u64) -> usize {
    while v >= 0x80 {
        out[at] = (v as u8) | 0x80;
        v >>= 7;
        at += 1;
    }
    out[at] = v as u8;
    at + 1
}

/// Appends `head[..n]`: as a copy of the whole fixed-size array, cut back
/// to `n` bytes, when the buffer has room for it (a couple of vector
/// stores instead of a call to `memcpy` for a few bytes).
#[inline(always)]
fn put_head(buf: &mut Vec<u8>, head: &[u8; VARINTS], n: usize) {
    let len = buf.len();
    if buf.capacity() - len >= VARINTS {
        buf.extend_from_slice(head);
        buf.truncate(len + n);
    } else {
        buf.extend_from_slice(&head[..n]);
    }
}

/// Appends records of one batch straight into a reusable buffer: the
/// producer's hot path. See the [module docs](super) for buffer reuse.
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
        self.append_sized(timestamp, key, value, headers, record_fields_size(key, value, headers))
    }

    /// [`append`](Self::append) for a record whose
    /// [`record_fields_size`] the caller computed (the producer does once
    /// per record, for its size checks too); `fields` must be that size.
    pub(crate) fn append_sized(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        fields: usize,
    ) -> usize {
        assert!(self.count < i32::MAX, "record batch full");
        debug_assert_eq!(fields, record_fields_size(key, value, headers));
        let delta = timestamp.wrapping_sub(self.base_timestamp);
        let n = write_record(&mut self.buf, 0, delta, self.count, key, value, headers, fields);
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        n
    }

    /// Exact bytes [`append_sized`](Self::append_sized) would write next
    /// for a record with timestamp `timestamp` and [`record_fields_size`]
    /// `fields`.
    pub(crate) fn next_size_from_fields(&self, timestamp: i64, fields: usize) -> usize {
        sized_record(fields, timestamp.wrapping_sub(self.base_timestamp), self.count)
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
        sized_record(record_fields_size(key, value, headers), timestamp_delta, offset_delta)
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
        self.next_size_from_fields(timestamp, record_fields_size(key, value, headers))
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
    pub(super) fn seal_as(
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
pub(super) fn seal(batch: &mut [u8], h: &BatchHeader) -> Result<(), EncodeError> {
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
pub(super) fn write_crc(batch: &mut [u8]) {
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
