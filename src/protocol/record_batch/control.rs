//! Control batches: transaction markers.

use crate::protocol::compression::Compression;
use crate::protocol::error::DecodeError;
use crate::protocol::primitives::Decoder;

use super::*;

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
