//! Cross-checks our Metadata codec against an independent implementation,
//! the `kafka-protocol` crate, at every version both implement (1-13).
//!
//! For values from our proptest strategies, in both directions:
//! - ours encodes, theirs decodes, and every field must match;
//! - their struct is built from ours, theirs encodes, the bytes must equal
//!   ours, and ours decodes them back to the original value.

use kafka_protocol::messages::metadata_request::MetadataRequestTopic as TheirRequestTopic;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker as TheirBroker, MetadataResponsePartition as TheirPartition,
    MetadataResponseTopic as TheirTopic,
};
use kafka_protocol::messages::{
    BrokerId, MetadataRequest as TheirRequest, MetadataResponse as TheirResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_sync::protocol::messages::metadata::{
    MetadataBroker, MetadataRequest, MetadataRequestTopic, MetadataResponse, PartitionMetadata, TopicMetadata,
};
use kafka_sync::protocol::{strategies, Decoder, Message};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Cases per version and direction.
const CASES: u32 = 256;

/// Runs `check` on `CASES` values of `strategy(v)` for every version `v` in `versions`.
fn for_each_version<S: Strategy>(
    versions: std::ops::RangeInclusive<i16>,
    strategy: impl Fn(i16) -> S,
    check: impl Fn(i16, S::Value) -> Result<(), TestCaseError>,
) {
    for v in versions {
        let mut runner =
            TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() });
        if let Err(e) = runner.run(&strategy(v), |value| check(v, value)) {
            panic!("version {v}: {e}");
        }
    }
}

fn ours_encode<M: Message>(m: &M, v: i16) -> Vec<u8> {
    let mut buf = Vec::new();
    m.encode(&mut buf, v).expect("our encoder");
    buf
}

fn ours_decode<M: Message>(bytes: &[u8], v: i16) -> Result<M, TestCaseError> {
    let mut d = Decoder::new(bytes);
    let m = M::decode(&mut d, v).map_err(|e| TestCaseError::fail(format!("our decoder: {e}")))?;
    d.finish().map_err(|e| TestCaseError::fail(format!("our decoder: {e}")))?;
    Ok(m)
}

fn theirs_decode<T: Decodable>(bytes: &[u8], v: i16) -> Result<T, TestCaseError> {
    let mut rest = bytes;
    let t = T::decode(&mut rest, v).map_err(|e| TestCaseError::fail(format!("their decoder: {e}")))?;
    prop_assert!(rest.is_empty(), "their decoder left {} bytes", rest.len());
    Ok(t)
}

fn theirs_encode<T: Encodable>(t: &T, v: i16) -> Result<Vec<u8>, TestCaseError> {
    let mut buf = Vec::new();
    t.encode(&mut buf, v).map_err(|e| TestCaseError::fail(format!("their encoder: {e}")))?;
    Ok(buf)
}

fn name_of(n: &Option<TopicName>) -> Option<&str> {
    n.as_ref().map(|n| n.0.as_str())
}

fn str_of(s: &Option<StrBytes>) -> Option<&str> {
    s.as_ref().map(|s| s.as_str())
}

fn their_str(s: &Option<String>) -> Option<StrBytes> {
    s.clone().map(StrBytes::from_string)
}

fn their_name(s: &Option<String>) -> Option<TopicName> {
    their_str(s).map(TopicName)
}

fn ids(v: &[BrokerId]) -> Vec<i32> {
    v.iter().map(|b| b.0).collect()
}

fn their_ids(v: &[i32]) -> Vec<BrokerId> {
    v.iter().copied().map(BrokerId).collect()
}

fn same_request(ours: &MetadataRequest, theirs: &TheirRequest) -> Result<(), TestCaseError> {
    match (&ours.topics, &theirs.topics) {
        (None, None) => {}
        (Some(o), Some(t)) => {
            prop_assert_eq!(o.len(), t.len());
            for (o, t) in o.iter().zip(t) {
                prop_assert_eq!(&o.topic_id, t.topic_id.as_bytes());
                prop_assert_eq!(o.name.as_deref(), name_of(&t.name));
                prop_assert!(t.unknown_tagged_fields.is_empty());
            }
        }
        (o, t) => prop_assert!(false, "topics: ours {:?}, theirs {:?}", o, t),
    }
    prop_assert_eq!(ours.allow_auto_topic_creation, theirs.allow_auto_topic_creation);
    prop_assert_eq!(ours.include_cluster_authorized_operations, theirs.include_cluster_authorized_operations);
    prop_assert_eq!(ours.include_topic_authorized_operations, theirs.include_topic_authorized_operations);
    prop_assert!(theirs.unknown_tagged_fields.is_empty());
    Ok(())
}

fn their_request(ours: &MetadataRequest) -> TheirRequest {
    let mut t = TheirRequest::default();
    t.topics = ours.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|o: &MetadataRequestTopic| {
                let mut tt = TheirRequestTopic::default();
                tt.topic_id = uuid::Uuid::from_bytes(o.topic_id);
                tt.name = their_name(&o.name);
                tt
            })
            .collect()
    });
    t.allow_auto_topic_creation = ours.allow_auto_topic_creation;
    t.include_cluster_authorized_operations = ours.include_cluster_authorized_operations;
    t.include_topic_authorized_operations = ours.include_topic_authorized_operations;
    t
}

fn same_partition(o: &PartitionMetadata, t: &TheirPartition) -> Result<(), TestCaseError> {
    prop_assert_eq!(o.error_code, t.error_code);
    prop_assert_eq!(o.partition_index, t.partition_index);
    prop_assert_eq!(o.leader_id, t.leader_id.0);
    prop_assert_eq!(o.leader_epoch, t.leader_epoch);
    prop_assert_eq!(&o.replica_nodes, &ids(&t.replica_nodes));
    prop_assert_eq!(&o.isr_nodes, &ids(&t.isr_nodes));
    prop_assert_eq!(&o.offline_replicas, &ids(&t.offline_replicas));
    prop_assert!(t.unknown_tagged_fields.is_empty());
    Ok(())
}

fn same_topic(o: &TopicMetadata, t: &TheirTopic) -> Result<(), TestCaseError> {
    prop_assert_eq!(o.error_code, t.error_code);
    prop_assert_eq!(o.name.as_deref(), name_of(&t.name));
    prop_assert_eq!(&o.topic_id, t.topic_id.as_bytes());
    prop_assert_eq!(o.is_internal, t.is_internal);
    prop_assert_eq!(o.partitions.len(), t.partitions.len());
    for (o, t) in o.partitions.iter().zip(&t.partitions) {
        same_partition(o, t)?;
    }
    prop_assert_eq!(o.topic_authorized_operations, t.topic_authorized_operations);
    prop_assert!(t.unknown_tagged_fields.is_empty());
    Ok(())
}

fn same_broker(o: &MetadataBroker, t: &TheirBroker) -> Result<(), TestCaseError> {
    prop_assert_eq!(o.node_id, t.node_id.0);
    prop_assert_eq!(o.host.as_str(), t.host.as_str());
    prop_assert_eq!(o.port, t.port);
    prop_assert_eq!(o.rack.as_deref(), str_of(&t.rack));
    prop_assert!(t.unknown_tagged_fields.is_empty());
    Ok(())
}

fn same_response(ours: &MetadataResponse, theirs: &TheirResponse) -> Result<(), TestCaseError> {
    prop_assert_eq!(ours.throttle_time_ms, theirs.throttle_time_ms);
    prop_assert_eq!(ours.brokers.len(), theirs.brokers.len());
    for (o, t) in ours.brokers.iter().zip(&theirs.brokers) {
        same_broker(o, t)?;
    }
    prop_assert_eq!(ours.cluster_id.as_deref(), str_of(&theirs.cluster_id));
    prop_assert_eq!(ours.controller_id, theirs.controller_id.0);
    prop_assert_eq!(ours.topics.len(), theirs.topics.len());
    for (o, t) in ours.topics.iter().zip(&theirs.topics) {
        same_topic(o, t)?;
    }
    prop_assert_eq!(ours.cluster_authorized_operations, theirs.cluster_authorized_operations);
    prop_assert_eq!(ours.error_code, theirs.error_code);
    prop_assert!(theirs.unknown_tagged_fields.is_empty());
    Ok(())
}

fn their_response(ours: &MetadataResponse) -> TheirResponse {
    let mut t = TheirResponse::default();
    t.throttle_time_ms = ours.throttle_time_ms;
    t.brokers = ours
        .brokers
        .iter()
        .map(|o| {
            let mut b = TheirBroker::default();
            b.node_id = BrokerId(o.node_id);
            b.host = StrBytes::from_string(o.host.clone());
            b.port = o.port;
            b.rack = their_str(&o.rack);
            b
        })
        .collect();
    t.cluster_id = their_str(&ours.cluster_id);
    t.controller_id = BrokerId(ours.controller_id);
    t.topics = ours
        .topics
        .iter()
        .map(|o| {
            let mut tt = TheirTopic::default();
            tt.error_code = o.error_code;
            tt.name = their_name(&o.name);
            tt.topic_id = uuid::Uuid::from_bytes(o.topic_id);
            tt.is_internal = o.is_internal;
            tt.partitions = o
                .partitions
                .iter()
                .map(|o| {
                    let mut p = TheirPartition::default();
                    p.error_code = o.error_code;
                    p.partition_index = o.partition_index;
                    p.leader_id = BrokerId(o.leader_id);
                    p.leader_epoch = o.leader_epoch;
                    p.replica_nodes = their_ids(&o.replica_nodes);
                    p.isr_nodes = their_ids(&o.isr_nodes);
                    p.offline_replicas = their_ids(&o.offline_replicas);
                    p
                })
                .collect();
            tt.topic_authorized_operations = o.topic_authorized_operations;
            tt
        })
        .collect();
    t.cluster_authorized_operations = ours.cluster_authorized_operations;
    t.error_code = ours.error_code;
    t
}

/// The versions both implementations support.
fn versions() -> std::ops::RangeInclusive<i16> {
    let ours = MetadataRequest::VERSIONS;
    assert_eq!(ours, MetadataResponse::VERSIONS);
    // kafka-protocol 0.18 implements Metadata v0-v13.
    ours.min.max(0)..=ours.max.min(13)
}

#[test]
fn request_ours_to_theirs() {
    for_each_version(versions(), strategies::metadata::request, |v, ours| {
        let theirs: TheirRequest = theirs_decode(&ours_encode(&ours, v), v)?;
        same_request(&ours, &theirs)
    });
}

#[test]
fn request_theirs_to_ours() {
    for_each_version(versions(), strategies::metadata::request, |v, ours| {
        let theirs = their_request(&ours);
        let bytes = theirs_encode(&theirs, v)?;
        prop_assert_eq!(&bytes, &ours_encode(&ours, v), "same bytes");
        let back: MetadataRequest = ours_decode(&bytes, v)?;
        prop_assert_eq!(&back, &ours);
        same_request(&back, &theirs)
    });
}

#[test]
fn response_ours_to_theirs() {
    for_each_version(versions(), strategies::metadata::response, |v, ours| {
        let theirs: TheirResponse = theirs_decode(&ours_encode(&ours, v), v)?;
        same_response(&ours, &theirs)
    });
}

#[test]
fn response_theirs_to_ours() {
    for_each_version(versions(), strategies::metadata::response, |v, ours| {
        let theirs = their_response(&ours);
        let bytes = theirs_encode(&theirs, v)?;
        prop_assert_eq!(&bytes, &ours_encode(&ours, v), "same bytes");
        let back: MetadataResponse = ours_decode(&bytes, v)?;
        prop_assert_eq!(&back, &ours);
        same_response(&back, &theirs)
    });
}
