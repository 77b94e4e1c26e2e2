//! Cross-checks the CreateTopics codec against kafka-protocol, an independent
//! implementation generated from Kafka's JSON schemas, at every version both
//! support (2-7 for both).
//!
//! For random bodies valid at each version: ours encodes, theirs decodes, and
//! every field the version carries must match; theirs encodes the same
//! content, ours decodes it back to the original, and both encoders must
//! write identical bytes.

mod kp_util;

use kafka_protocol::messages::create_topics_request as kq;
use kafka_protocol::messages::create_topics_response as kr;
use kafka_protocol::messages::{BrokerId, TopicName};
use kafka_sync::protocol::messages::create_topics::*;
use kafka_sync::protocol::strategies::{create_topics, versions_of};
use kp_util::*;
use proptest::prelude::*;

fn request_to_theirs(m: &CreateTopicsRequest) -> kq::CreateTopicsRequest {
    let mut t = kq::CreateTopicsRequest::default();
    t.timeout_ms = m.timeout_ms;
    t.validate_only = m.validate_only;
    t.topics = m
        .topics
        .iter()
        .map(|o| {
            let mut x = kq::CreatableTopic::default();
            x.name = TopicName(sb(&o.name));
            x.num_partitions = o.num_partitions;
            x.replication_factor = o.replication_factor;
            x.assignments = o
                .assignments
                .iter()
                .map(|a| {
                    let mut y = kq::CreatableReplicaAssignment::default();
                    y.partition_index = a.partition_index;
                    y.broker_ids = a.broker_ids.iter().map(|&b| BrokerId(b)).collect();
                    y
                })
                .collect();
            x.configs = o
                .configs
                .iter()
                .map(|c| {
                    let mut y = kq::CreatableTopicConfig::default();
                    y.name = sb(&c.name);
                    y.value = osb(&c.value);
                    y
                })
                .collect();
            x
        })
        .collect();
    t
}

fn assert_same_request(ours: &CreateTopicsRequest, theirs: &kq::CreateTopicsRequest) {
    assert_eq!(ours.timeout_ms, theirs.timeout_ms);
    assert_eq!(ours.validate_only, theirs.validate_only);
    assert_eq!(ours.topics.len(), theirs.topics.len());
    for (o, t) in ours.topics.iter().zip(&theirs.topics) {
        assert_eq!(o.name, t.name.as_str());
        assert_eq!(o.num_partitions, t.num_partitions);
        assert_eq!(o.replication_factor, t.replication_factor);
        assert_eq!(o.assignments.len(), t.assignments.len());
        for (oa, ta) in o.assignments.iter().zip(&t.assignments) {
            assert_eq!(oa.partition_index, ta.partition_index);
            let ids: Vec<i32> = ta.broker_ids.iter().map(|b| b.0).collect();
            assert_eq!(oa.broker_ids, ids);
        }
        assert_eq!(o.configs.len(), t.configs.len());
        for (oc, tc) in o.configs.iter().zip(&t.configs) {
            assert_eq!(oc.name, tc.name.as_str());
            assert_eq!(oc.value.as_deref(), ostr(&tc.value));
        }
        assert!(t.unknown_tagged_fields.is_empty());
    }
    assert!(theirs.unknown_tagged_fields.is_empty());
}

fn response_to_theirs(m: &CreateTopicsResponse) -> kr::CreateTopicsResponse {
    let mut t = kr::CreateTopicsResponse::default();
    t.throttle_time_ms = m.throttle_time_ms;
    t.topics = m
        .topics
        .iter()
        .map(|o| {
            let mut x = kr::CreatableTopicResult::default();
            x.name = TopicName(sb(&o.name));
            x.topic_id = uuid(&o.topic_id);
            x.error_code = o.error_code;
            x.error_message = osb(&o.error_message);
            x.topic_config_error_code = o.topic_config_error_code;
            x.num_partitions = o.num_partitions;
            x.replication_factor = o.replication_factor;
            x.configs = o.configs.as_ref().map(|cs| {
                cs.iter()
                    .map(|c| {
                        let mut y = kr::CreatableTopicConfigs::default();
                        y.name = sb(&c.name);
                        y.value = osb(&c.value);
                        y.read_only = c.read_only;
                        y.config_source = c.config_source;
                        y.is_sensitive = c.is_sensitive;
                        y
                    })
                    .collect()
            });
            x
        })
        .collect();
    t
}

fn assert_same_response(ours: &CreateTopicsResponse, theirs: &kr::CreateTopicsResponse, v: i16) {
    assert_eq!(ours.throttle_time_ms, theirs.throttle_time_ms);
    assert_eq!(ours.topics.len(), theirs.topics.len());
    for (o, t) in ours.topics.iter().zip(&theirs.topics) {
        assert_eq!(o.name, t.name.as_str());
        assert_eq!(&o.topic_id, t.topic_id.as_bytes());
        assert_eq!(o.error_code, t.error_code);
        assert_eq!(o.error_message.as_deref(), ostr(&t.error_message));
        assert_eq!(o.topic_config_error_code, t.topic_config_error_code);
        assert_eq!(o.num_partitions, t.num_partitions);
        assert_eq!(o.replication_factor, t.replication_factor);
        // Below v5 the configs are not on the wire, and the two defaults
        // differ: `None` here, an empty list there.
        if v >= 5 {
            assert_eq!(o.configs.is_none(), t.configs.is_none());
            for (oc, tc) in o.configs.iter().flatten().zip(t.configs.iter().flatten()) {
                assert_eq!(oc.name, tc.name.as_str());
                assert_eq!(oc.value.as_deref(), ostr(&tc.value));
                assert_eq!(oc.read_only, tc.read_only);
                assert_eq!(oc.config_source, tc.config_source);
                assert_eq!(oc.is_sensitive, tc.is_sensitive);
            }
            assert_eq!(o.configs.as_ref().map(Vec::len), t.configs.as_ref().map(Vec::len));
        }
        assert!(t.unknown_tagged_fields.is_empty());
    }
    assert!(theirs.unknown_tagged_fields.is_empty());
}

proptest! {
    // About 100 cases per version; still well under a second in debug.
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn request_ours_to_theirs_and_back((v, m) in versions_of::<CreateTopicsRequest>().prop_flat_map(|v| (Just(v), create_topics::request(v)))) {
        let ours = ours_encode(&m, v);
        let theirs: kq::CreateTopicsRequest = theirs_decode(&ours, v);
        assert_same_request(&m, &theirs);

        let theirs_bytes = theirs_encode(&request_to_theirs(&m), v);
        prop_assert_eq!(ours_decode::<CreateTopicsRequest>(&theirs_bytes, v), m);
        prop_assert_eq!(theirs_bytes, ours);
    }

    #[test]
    fn response_ours_to_theirs_and_back((v, m) in versions_of::<CreateTopicsResponse>().prop_flat_map(|v| (Just(v), create_topics::response(v)))) {
        let ours = ours_encode(&m, v);
        let theirs: kr::CreateTopicsResponse = theirs_decode(&ours, v);
        assert_same_response(&m, &theirs, v);

        let theirs_bytes = theirs_encode(&response_to_theirs(&m), v);
        prop_assert_eq!(ours_decode::<CreateTopicsResponse>(&theirs_bytes, v), m);
        prop_assert_eq!(theirs_bytes, ours);
    }
}
