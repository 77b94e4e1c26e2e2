//! Cross-checks our transaction codecs (FindCoordinator, AddPartitionsToTxn,
//! AddOffsetsToTxn, TxnOffsetCommit, EndTxn) and transaction marker batches
//! against an independent implementation, the `kafka-protocol` crate, at
//! every version both implement.
//!
//! For values from our proptest strategies, in both directions:
//! - ours encodes, theirs decodes, and every field must match;
//! - their struct is built from ours, theirs encodes, the bytes must equal
//!   ours, and ours decodes them back to the original value.
//!
//! Marker batches: ours must be byte for byte what their record batch
//! encoder writes for the same control record, and their decoder must read
//! ours as a transactional control batch with the marker's key and value.

use bytes::Bytes;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic as TheirTopic, AddPartitionsToTxnTransaction as TheirTransaction,
};
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult as TheirPartitionResult, AddPartitionsToTxnResult as TheirResult,
    AddPartitionsToTxnTopicResult as TheirTopicResult,
};
use kafka_protocol::messages::find_coordinator_response::Coordinator as TheirCoordinator;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition as TheirCommitPartition, TxnOffsetCommitRequestTopic as TheirCommitTopic,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition as TheirCommitResultPartition,
    TxnOffsetCommitResponseTopic as TheirCommitResultTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest as TheirAddOffsetsRequest, AddOffsetsToTxnResponse as TheirAddOffsetsResponse,
    AddPartitionsToTxnRequest as TheirAddPartitionsRequest,
    AddPartitionsToTxnResponse as TheirAddPartitionsResponse, BrokerId, EndTxnMarker as TheirMarkerValue,
    EndTxnRequest as TheirEndTxnRequest, EndTxnResponse as TheirEndTxnResponse,
    FindCoordinatorRequest as TheirFindRequest, FindCoordinatorResponse as TheirFindResponse, GroupId,
    ProducerId, TopicName, TransactionalId, TxnOffsetCommitRequest as TheirCommitRequest,
    TxnOffsetCommitResponse as TheirCommitResponse,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::records::{
    Compression as KpCompression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType as KpTimestampType,
};
use kafka_sync::protocol::messages::add_offsets_to_txn::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use kafka_sync::protocol::messages::add_partitions_to_txn::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, AddPartitionsToTxnTopic,
    AddPartitionsToTxnTopicResult,
};
use kafka_sync::protocol::messages::end_txn::{EndTxnRequest, EndTxnResponse};
use kafka_sync::protocol::messages::find_coordinator::{FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_sync::protocol::messages::txn_offset_commit::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use kafka_sync::protocol::record_batch::{encode_end_txn_marker_batch, ControlRecordType, EndTxnMarker};
use kafka_sync::protocol::strategies;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
mod kp_util;

use kp_util::prop::*;
use kp_util::{osb, ostr, sb};

fn tid(s: &str) -> TransactionalId {
    TransactionalId(sb(s))
}

fn topic_name(s: &str) -> TopicName {
    TopicName(sb(s))
}

fn strs(v: &[StrBytes]) -> Vec<&str> {
    v.iter().map(|s| s.as_str()).collect()
}

/// `$theirs` (a kafka-protocol builder) with the transactional id, producer
/// id and producer epoch of `$ours`.
macro_rules! with_producer {
    ($theirs:expr, $ours:expr) => {
        $theirs
            .with_transactional_id(tid(&$ours.transactional_id))
            .with_producer_id(ProducerId($ours.producer_id))
            .with_producer_epoch($ours.producer_epoch)
    };
}

/// `f` of each of `ours`: their list built from ours.
fn each<O, T>(ours: &[O], f: impl Fn(&O) -> T) -> Vec<T> {
    ours.iter().map(f).collect()
}

/// Equal lengths, and `same` holds for each pair.
fn same_each<O, T>(
    ours: &[O],
    theirs: &[T],
    same: impl Fn(&O, &T) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(ours.len(), theirs.len());
    ours.iter().zip(theirs).try_for_each(|(o, t)| same(o, t))
}

/// The transactional id, producer id and producer epoch most of these
/// requests start with.
fn same_producer(
    ours: (&str, i64, i16),
    theirs: (&TransactionalId, &ProducerId, i16),
) -> Result<(), TestCaseError> {
    prop_assert_eq!(ours, (theirs.0 .0.as_str(), theirs.1 .0, theirs.2));
    Ok(())
}

// ---- FindCoordinator -----------------------------------------------------

#[test]
fn find_coordinator_request() {
    assert_eq!(versions::<FindCoordinatorRequest, TheirFindRequest>(), 0..=6);
    cross_check(
        strategies::find_coordinator::request,
        |ours: &FindCoordinatorRequest| {
            TheirFindRequest::default()
                .with_key(sb(&ours.key))
                .with_key_type(ours.key_type)
                .with_coordinator_keys(ours.coordinator_keys.iter().map(|k| sb(k)).collect())
        },
        |ours, theirs: &TheirFindRequest| {
            prop_assert_eq!(ours.key.as_str(), theirs.key.as_str());
            prop_assert_eq!(ours.key_type, theirs.key_type);
            prop_assert_eq!(&ours.coordinator_keys, &strs(&theirs.coordinator_keys));
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}

#[test]
fn find_coordinator_response() {
    assert_eq!(versions::<FindCoordinatorResponse, TheirFindResponse>(), 0..=6);
    cross_check(
        strategies::find_coordinator::response,
        |ours: &FindCoordinatorResponse| {
            let coordinators = each(&ours.coordinators, |c| {
                TheirCoordinator::default()
                    .with_key(sb(&c.key))
                    .with_node_id(BrokerId(c.node_id))
                    .with_host(sb(&c.host))
                    .with_port(c.port)
                    .with_error_code(c.error_code)
                    .with_error_message(osb(&c.error_message))
            });
            TheirFindResponse::default()
                .with_throttle_time_ms(ours.throttle_time_ms)
                .with_error_code(ours.error_code)
                .with_error_message(osb(&ours.error_message))
                .with_node_id(BrokerId(ours.node_id))
                .with_host(sb(&ours.host))
                .with_port(ours.port)
                .with_coordinators(coordinators)
        },
        |ours, theirs: &TheirFindResponse| {
            prop_assert_eq!(ours.throttle_time_ms, theirs.throttle_time_ms);
            prop_assert_eq!(ours.error_code, theirs.error_code);
            // Where the version has no error message (v0, v4+) theirs
            // decodes Kafka's schema default, "" (Java's too), ours `None`.
            // (A null written as "" would still differ in the bytes.)
            let their_message = ostr(&theirs.error_message);
            if !(ours.error_message.is_none() && their_message == Some("")) {
                prop_assert_eq!(ours.error_message.as_deref(), their_message);
            }
            prop_assert_eq!(
                (ours.node_id, ours.host.as_str(), ours.port),
                (theirs.node_id.0, theirs.host.as_str(), theirs.port)
            );
            same_each(&ours.coordinators, &theirs.coordinators, |o, t| {
                prop_assert_eq!(
                    (o.key.as_str(), o.node_id, o.host.as_str(), o.port, o.error_code),
                    (t.key.as_str(), t.node_id.0, t.host.as_str(), t.port, t.error_code)
                );
                prop_assert_eq!(o.error_message.as_deref(), ostr(&t.error_message));
                Ok(())
            })?;
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}

// ---- AddPartitionsToTxn --------------------------------------------------

fn their_topics(topics: &[AddPartitionsToTxnTopic]) -> Vec<TheirTopic> {
    each(topics, |t| {
        TheirTopic::default().with_name(topic_name(&t.name)).with_partitions(t.partitions.clone())
    })
}

fn same_topics(ours: &[AddPartitionsToTxnTopic], theirs: &[TheirTopic]) -> Result<(), TestCaseError> {
    same_each(ours, theirs, |o, t| {
        prop_assert_eq!(o.name.as_str(), t.name.0.as_str());
        prop_assert_eq!(&o.partitions, &t.partitions);
        Ok(())
    })
}

#[test]
fn add_partitions_to_txn_request() {
    assert_eq!(versions::<AddPartitionsToTxnRequest, TheirAddPartitionsRequest>(), 0..=5);
    cross_check(
        strategies::add_partitions_to_txn::request,
        |ours: &AddPartitionsToTxnRequest| {
            let transactions = each(&ours.transactions, |t| {
                with_producer!(TheirTransaction::default(), t)
                    .with_verify_only(t.verify_only)
                    .with_topics(their_topics(&t.topics))
            });
            TheirAddPartitionsRequest::default()
                .with_transactions(transactions)
                .with_v3_and_below_transactional_id(tid(&ours.transactional_id))
                .with_v3_and_below_producer_id(ProducerId(ours.producer_id))
                .with_v3_and_below_producer_epoch(ours.producer_epoch)
                .with_v3_and_below_topics(their_topics(&ours.topics))
        },
        |ours, theirs: &TheirAddPartitionsRequest| {
            same_producer(
                (&ours.transactional_id, ours.producer_id, ours.producer_epoch),
                (
                    &theirs.v3_and_below_transactional_id,
                    &theirs.v3_and_below_producer_id,
                    theirs.v3_and_below_producer_epoch,
                ),
            )?;
            same_topics(&ours.topics, &theirs.v3_and_below_topics)?;
            same_each(&ours.transactions, &theirs.transactions, |o, t| {
                same_producer(
                    (&o.transactional_id, o.producer_id, o.producer_epoch),
                    (&t.transactional_id, &t.producer_id, t.producer_epoch),
                )?;
                prop_assert_eq!(o.verify_only, t.verify_only);
                same_topics(&o.topics, &t.topics)
            })?;
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}

fn their_topic_results(topics: &[AddPartitionsToTxnTopicResult]) -> Vec<TheirTopicResult> {
    each(topics, |t| {
        let partitions = t
            .results_by_partition
            .iter()
            .map(|p| {
                TheirPartitionResult::default()
                    .with_partition_index(p.partition_index)
                    .with_partition_error_code(p.partition_error_code)
            })
            .collect();
        TheirTopicResult::default().with_name(topic_name(&t.name)).with_results_by_partition(partitions)
    })
}

fn same_topic_results(
    ours: &[AddPartitionsToTxnTopicResult],
    theirs: &[TheirTopicResult],
) -> Result<(), TestCaseError> {
    same_each(ours, theirs, |o, t| {
        prop_assert_eq!(o.name.as_str(), t.name.0.as_str());
        same_each(&o.results_by_partition, &t.results_by_partition, |op, tp| {
            prop_assert_eq!(
                (op.partition_index, op.partition_error_code),
                (tp.partition_index, tp.partition_error_code)
            );
            Ok(())
        })
    })
}

#[test]
fn add_partitions_to_txn_response() {
    assert_eq!(versions::<AddPartitionsToTxnResponse, TheirAddPartitionsResponse>(), 0..=5);
    cross_check(
        strategies::add_partitions_to_txn::response,
        |ours: &AddPartitionsToTxnResponse| {
            let by_txn = each(&ours.results_by_transaction, |r| {
                TheirResult::default()
                    .with_transactional_id(tid(&r.transactional_id))
                    .with_topic_results(their_topic_results(&r.topic_results))
            });
            TheirAddPartitionsResponse::default()
                .with_throttle_time_ms(ours.throttle_time_ms)
                .with_error_code(ours.error_code)
                .with_results_by_transaction(by_txn)
                .with_results_by_topic_v3_and_below(their_topic_results(&ours.results_by_topic))
        },
        |ours, theirs: &TheirAddPartitionsResponse| {
            prop_assert_eq!(
                (ours.throttle_time_ms, ours.error_code),
                (theirs.throttle_time_ms, theirs.error_code)
            );
            same_topic_results(&ours.results_by_topic, &theirs.results_by_topic_v3_and_below)?;
            same_each(&ours.results_by_transaction, &theirs.results_by_transaction, |o, t| {
                prop_assert_eq!(o.transactional_id.as_str(), t.transactional_id.0.as_str());
                same_topic_results(&o.topic_results, &t.topic_results)
            })?;
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}

// ---- AddOffsetsToTxn -----------------------------------------------------

#[test]
fn add_offsets_to_txn_request() {
    assert_eq!(versions::<AddOffsetsToTxnRequest, TheirAddOffsetsRequest>(), 0..=4);
    cross_check(
        strategies::add_offsets_to_txn::request,
        |ours: &AddOffsetsToTxnRequest| {
            with_producer!(TheirAddOffsetsRequest::default(), ours).with_group_id(GroupId(sb(&ours.group_id)))
        },
        |ours, theirs: &TheirAddOffsetsRequest| {
            same_producer(
                (&ours.transactional_id, ours.producer_id, ours.producer_epoch),
                (&theirs.transactional_id, &theirs.producer_id, theirs.producer_epoch),
            )?;
            prop_assert_eq!(ours.group_id.as_str(), theirs.group_id.0.as_str());
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}

#[test]
fn add_offsets_to_txn_response() {
    assert_eq!(versions::<AddOffsetsToTxnResponse, TheirAddOffsetsResponse>(), 0..=4);
    cross_check(
        strategies::add_offsets_to_txn::response,
        |ours: &AddOffsetsToTxnResponse| {
            TheirAddOffsetsResponse::default()
                .with_throttle_time_ms(ours.throttle_time_ms)
                .with_error_code(ours.error_code)
        },
        |ours, theirs: &TheirAddOffsetsResponse| {
            prop_assert_eq!(
                (ours.throttle_time_ms, ours.error_code),
                (theirs.throttle_time_ms, theirs.error_code)
            );
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}

// ---- TxnOffsetCommit -----------------------------------------------------

#[test]
fn txn_offset_commit_request() {
    assert_eq!(versions::<TxnOffsetCommitRequest, TheirCommitRequest>(), 0..=5);
    cross_check(
        strategies::txn_offset_commit::request,
        |ours: &TxnOffsetCommitRequest| {
            let topics = each(&ours.topics, |t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        TheirCommitPartition::default()
                            .with_partition_index(p.partition_index)
                            .with_committed_offset(p.committed_offset)
                            .with_committed_leader_epoch(p.committed_leader_epoch)
                            .with_committed_metadata(osb(&p.committed_metadata))
                    })
                    .collect();
                TheirCommitTopic::default().with_name(topic_name(&t.name)).with_partitions(partitions)
            });
            with_producer!(TheirCommitRequest::default(), ours)
                .with_group_id(GroupId(sb(&ours.group_id)))
                .with_generation_id(ours.generation_id)
                .with_member_id(sb(&ours.member_id))
                .with_group_instance_id(osb(&ours.group_instance_id))
                .with_topics(topics)
        },
        |ours, theirs: &TheirCommitRequest| {
            same_producer(
                (&ours.transactional_id, ours.producer_id, ours.producer_epoch),
                (&theirs.transactional_id, &theirs.producer_id, theirs.producer_epoch),
            )?;
            prop_assert_eq!(ours.group_id.as_str(), theirs.group_id.0.as_str());
            prop_assert_eq!(
                (ours.generation_id, ours.member_id.as_str(), ours.group_instance_id.as_deref()),
                (theirs.generation_id, theirs.member_id.as_str(), ostr(&theirs.group_instance_id))
            );
            same_each(&ours.topics, &theirs.topics, |o, t| {
                prop_assert_eq!(o.name.as_str(), t.name.0.as_str());
                same_each(&o.partitions, &t.partitions, |op, tp| {
                    prop_assert_eq!(
                        (op.partition_index, op.committed_offset, op.committed_leader_epoch),
                        (tp.partition_index, tp.committed_offset, tp.committed_leader_epoch)
                    );
                    prop_assert_eq!(op.committed_metadata.as_deref(), ostr(&tp.committed_metadata));
                    Ok(())
                })
            })?;
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}

#[test]
fn txn_offset_commit_response() {
    assert_eq!(versions::<TxnOffsetCommitResponse, TheirCommitResponse>(), 0..=5);
    cross_check(
        strategies::txn_offset_commit::response,
        |ours: &TxnOffsetCommitResponse| {
            let topics = each(&ours.topics, |t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        TheirCommitResultPartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(p.error_code)
                    })
                    .collect();
                TheirCommitResultTopic::default().with_name(topic_name(&t.name)).with_partitions(partitions)
            });
            TheirCommitResponse::default().with_throttle_time_ms(ours.throttle_time_ms).with_topics(topics)
        },
        |ours, theirs: &TheirCommitResponse| {
            prop_assert_eq!(ours.throttle_time_ms, theirs.throttle_time_ms);
            same_each(&ours.topics, &theirs.topics, |o, t| {
                prop_assert_eq!(o.name.as_str(), t.name.0.as_str());
                same_each(&o.partitions, &t.partitions, |op, tp| {
                    prop_assert_eq!((op.partition_index, op.error_code), (tp.partition_index, tp.error_code));
                    Ok(())
                })
            })?;
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}

// ---- EndTxn --------------------------------------------------------------

#[test]
fn end_txn_request() {
    assert_eq!(versions::<EndTxnRequest, TheirEndTxnRequest>(), 0..=5);
    cross_check(
        strategies::end_txn::request,
        |ours: &EndTxnRequest| {
            with_producer!(TheirEndTxnRequest::default(), ours).with_committed(ours.committed)
        },
        |ours, theirs: &TheirEndTxnRequest| {
            same_producer(
                (&ours.transactional_id, ours.producer_id, ours.producer_epoch),
                (&theirs.transactional_id, &theirs.producer_id, theirs.producer_epoch),
            )?;
            prop_assert_eq!(ours.committed, theirs.committed);
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}

#[test]
fn end_txn_response() {
    assert_eq!(versions::<EndTxnResponse, TheirEndTxnResponse>(), 0..=5);
    cross_check(
        strategies::end_txn::response,
        |ours: &EndTxnResponse| {
            TheirEndTxnResponse::default()
                .with_throttle_time_ms(ours.throttle_time_ms)
                .with_error_code(ours.error_code)
                .with_producer_id(ProducerId(ours.producer_id))
                .with_producer_epoch(ours.producer_epoch)
        },
        |ours, theirs: &TheirEndTxnResponse| {
            prop_assert_eq!(
                (ours.throttle_time_ms, ours.error_code, ours.producer_id, ours.producer_epoch),
                (theirs.throttle_time_ms, theirs.error_code, theirs.producer_id.0, theirs.producer_epoch)
            );
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}

// ---- Transaction marker batches -------------------------------------------

fn marker() -> impl Strategy<Value = EndTxnMarker> {
    (any::<bool>(), any::<i32>()).prop_map(|(commit, coordinator_epoch)| EndTxnMarker {
        kind: if commit { ControlRecordType::Commit } else { ControlRecordType::Abort },
        coordinator_epoch,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn end_txn_marker_batch(
        m in marker(),
        producer_id in 0i64..=i64::MAX,
        producer_epoch in any::<i16>(),
        base_offset in 0i64..1 << 62,
        partition_leader_epoch in any::<i32>(),
        timestamp in any::<i64>(),
    ) {
        let ours = encode_end_txn_marker_batch(
            producer_id, producer_epoch, base_offset, partition_leader_epoch, timestamp, &m,
        );

        // Theirs reads ours as a transactional control batch.
        let mut buf = Bytes::from(ours.clone());
        let set = RecordBatchDecoder::decode(&mut buf).unwrap();
        prop_assert!(buf.is_empty());
        prop_assert_eq!(set.compression, KpCompression::None);
        prop_assert_eq!(set.records.len(), 1);
        let r = &set.records[0];
        prop_assert!(r.control && r.transactional && !r.delete_horizon);
        prop_assert_eq!(r.timestamp_type, KpTimestampType::Creation);
        prop_assert_eq!((r.producer_id, r.producer_epoch, r.sequence), (producer_id, producer_epoch, -1));
        prop_assert_eq!((r.offset, r.timestamp, r.partition_leader_epoch), (base_offset, timestamp, partition_leader_epoch));
        prop_assert!(r.headers.is_empty());
        let key = r.key.clone().unwrap();
        let value = r.value.clone().unwrap();
        prop_assert_eq!(&key[..], &[0, 0, 0, m.kind.id() as u8][..]);
        // Their EndTxnMarker is the value after its i16 version.
        prop_assert_eq!(&value[..2], &[0, 0][..]);
        let theirs = TheirMarkerValue::decode(&mut value.slice(2..), 0).unwrap();
        prop_assert_eq!(theirs.coordinator_epoch, m.coordinator_epoch);
        prop_assert_eq!(EndTxnMarker::decode(&key, &value), Ok(m));

        // Their encoder, given the same control record, writes the same bytes.
        let record = KpRecord {
            transactional: true,
            control: true,
            delete_horizon: false,
            partition_leader_epoch,
            producer_id,
            producer_epoch,
            timestamp_type: KpTimestampType::Creation,
            offset: base_offset,
            sequence: -1,
            timestamp,
            key: Some(Bytes::copy_from_slice(&m.encode_key())),
            value: Some(Bytes::copy_from_slice(&m.encode_value())),
            headers: IndexMap::new(),
        };
        let mut theirs = bytes::BytesMut::new();
        RecordBatchEncoder::encode(&mut theirs, [&record], &RecordEncodeOptions { version: 2, compression: KpCompression::None })
            .unwrap();
        prop_assert_eq!(&theirs[..], &ours[..]);
    }
}
