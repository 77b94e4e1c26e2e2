//! Cross-checks the DeleteTopics codec against kafka-protocol, an independent
//! implementation generated from Kafka's JSON schemas, at every version both
//! support (1-6 for both).
//!
//! For random bodies valid at each version: ours encodes, theirs decodes, and
//! every field must match; theirs encodes the same content, ours decodes it
//! back to the original, and both encoders must write identical bytes.

mod kp_util;

use kafka_protocol::messages::delete_topics_request as kq;
use kafka_protocol::messages::delete_topics_response as kr;
use kafka_protocol::messages::TopicName;
use kafka_sync::protocol::messages::delete_topics::*;
use kafka_sync::protocol::strategies::{delete_topics, versions_of};
use kp_util::*;
use proptest::prelude::*;

fn request_to_theirs(m: &DeleteTopicsRequest) -> kq::DeleteTopicsRequest {
    let mut t = kq::DeleteTopicsRequest::default();
    t.timeout_ms = m.timeout_ms;
    t.topic_names = m.topic_names.iter().map(|n| TopicName(sb(n))).collect();
    t.topics = m
        .topics
        .iter()
        .map(|o| {
            let mut x = kq::DeleteTopicState::default();
            x.name = o.name.as_deref().map(|n| TopicName(sb(n)));
            x.topic_id = uuid(&o.topic_id);
            x
        })
        .collect();
    t
}

fn assert_same_request(ours: &DeleteTopicsRequest, theirs: &kq::DeleteTopicsRequest) {
    assert_eq!(ours.timeout_ms, theirs.timeout_ms);
    let names: Vec<&str> = theirs.topic_names.iter().map(|n| n.as_str()).collect();
    assert_eq!(ours.topic_names, names);
    assert_eq!(ours.topics.len(), theirs.topics.len());
    for (o, t) in ours.topics.iter().zip(&theirs.topics) {
        assert_eq!(o.name.as_deref(), t.name.as_ref().map(|n| n.as_str()));
        assert_eq!(&o.topic_id, t.topic_id.as_bytes());
        assert!(t.unknown_tagged_fields.is_empty());
    }
    assert!(theirs.unknown_tagged_fields.is_empty());
}

fn response_to_theirs(m: &DeleteTopicsResponse) -> kr::DeleteTopicsResponse {
    let mut t = kr::DeleteTopicsResponse::default();
    t.throttle_time_ms = m.throttle_time_ms;
    t.responses = m
        .responses
        .iter()
        .map(|o| {
            let mut x = kr::DeletableTopicResult::default();
            x.name = o.name.as_deref().map(|n| TopicName(sb(n)));
            x.topic_id = uuid(&o.topic_id);
            x.error_code = o.error_code;
            x.error_message = osb(&o.error_message);
            x
        })
        .collect();
    t
}

fn assert_same_response(ours: &DeleteTopicsResponse, theirs: &kr::DeleteTopicsResponse) {
    assert_eq!(ours.throttle_time_ms, theirs.throttle_time_ms);
    assert_eq!(ours.responses.len(), theirs.responses.len());
    for (o, t) in ours.responses.iter().zip(&theirs.responses) {
        assert_eq!(o.name.as_deref(), t.name.as_ref().map(|n| n.as_str()));
        assert_eq!(&o.topic_id, t.topic_id.as_bytes());
        assert_eq!(o.error_code, t.error_code);
        assert_eq!(o.error_message.as_deref(), ostr(&t.error_message));
        assert!(t.unknown_tagged_fields.is_empty());
    }
    assert!(theirs.unknown_tagged_fields.is_empty());
}

proptest! {
    // About 100 cases per version; still well under a second in debug.
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn request_ours_to_theirs_and_back((v, m) in versions_of::<DeleteTopicsRequest>().prop_flat_map(|v| (Just(v), delete_topics::request(v)))) {
        let ours = ours_encode(&m, v);
        let theirs: kq::DeleteTopicsRequest = theirs_decode(&ours, v);
        assert_same_request(&m, &theirs);

        let theirs_bytes = theirs_encode(&request_to_theirs(&m), v);
        prop_assert_eq!(ours_decode::<DeleteTopicsRequest>(&theirs_bytes, v), m);
        prop_assert_eq!(theirs_bytes, ours);
    }

    #[test]
    fn response_ours_to_theirs_and_back((v, m) in versions_of::<DeleteTopicsResponse>().prop_flat_map(|v| (Just(v), delete_topics::response(v)))) {
        let ours = ours_encode(&m, v);
        let theirs: kr::DeleteTopicsResponse = theirs_decode(&ours, v);
        assert_same_response(&m, &theirs);

        let theirs_bytes = theirs_encode(&response_to_theirs(&m), v);
        prop_assert_eq!(ours_decode::<DeleteTopicsResponse>(&theirs_bytes, v), m);
        prop_assert_eq!(theirs_bytes, ours);
    }
}
