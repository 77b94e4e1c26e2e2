//! Proptest strategies for headers, records and whole batches (feature `proptest`).

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
