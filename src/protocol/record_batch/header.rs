//! [`BatchHeader`]: the fixed 61-byte header, read and written without
//! touching the records.

use crate::protocol::compression::Compression;
use crate::protocol::error::DecodeError;
use crate::protocol::primitives::Decoder;

use super::*;

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
