//! The owned model ([`RecordBatch`], [`Record`]) and its verifying decoder.

use crate::protocol::compression::{self, Compression};
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{Decoder, MAX_PREALLOC};

use super::*;

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
                record_fields_size(r.key.as_deref(), r.value.as_deref(), &r.headers),
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
    /// decompressed. See the [module docs](super) for what is verified.
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
pub(super) fn nullable_varbytes(d: &mut Decoder<'_>) -> Result<Option<Vec<u8>>, DecodeError> {
    match d.varint()? {
        -1 => Ok(None),
        l if l < -1 => Err(DecodeError::NegativeLength(l.into())),
        l => Ok(Some(d.take(l as usize)?.to_vec())),
    }
}

/// Reads one record, checking its length prefix against its content.
pub(super) fn decode_record(d: &mut Decoder<'_>) -> Result<Record, DecodeError> {
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
