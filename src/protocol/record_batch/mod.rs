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

#[cfg(any(test, feature = "proptest"))]
use super::compression::Compression;

mod control;
mod decode;
mod header;
mod writer;

pub use control::*;
pub use decode::*;
pub use header::*;
pub use writer::*;

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

/// Proptest strategies for headers, records and whole batches (feature `proptest`).
#[cfg(any(test, feature = "proptest"))]
pub mod strategies;

#[cfg(test)]
mod tests;
