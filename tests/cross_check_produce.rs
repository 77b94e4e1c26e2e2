//! Cross-checks the Produce codec against kafka-protocol, an independent
//! implementation generated from Kafka's JSON schemas, at every version both
//! support (both: 3-13; v13 names topics by id, KIP-516).
//!
//! For random bodies valid at each version: ours encodes, theirs decodes, and
//! every field must match; theirs encodes the same content, ours decodes it
//! back to the original, and both encoders must write identical bytes.

mod kp_util;

use kafka_protocol::messages::produce_request as kq;
use kafka_protocol::messages::produce_response as kr;
use kafka_protocol::messages::{BrokerId, TopicName, TransactionalId};
use kafka_sync::protocol::messages::produce::*;
use kafka_sync::protocol::strategies::{produce, versions_of};
use kp_util::*;
use proptest::prelude::*;

fn request_to_theirs(m: &ProduceRequest) -> kq::ProduceRequest {
    let mut t = kq::ProduceRequest::default();
    t.transactional_id = m.transactional_id.as_deref().map(|s| TransactionalId(sb(s)));
    t.acks = m.acks;
    t.timeout_ms = m.timeout_ms;
    t.topic_data = m
        .topic_data
        .iter()
        .map(|td| {
            let mut x = kq::TopicProduceData::default();
            x.name = TopicName(sb(&td.name));
            x.topic_id = uuid(&td.topic_id);
            x.partition_data = td
                .partition_data
                .iter()
                .map(|p| {
                    let mut y = kq::PartitionProduceData::default();
                    y.index = p.index;
                    y.records = p.records.clone().map(Into::into);
                    y
                })
                .collect();
            x
        })
        .collect();
    t
}

fn assert_same_request(ours: &ProduceRequest, theirs: &kq::ProduceRequest) {
    assert_eq!(ours.transactional_id.as_deref(), theirs.transactional_id.as_ref().map(|s| s.as_str()));
    assert_eq!(ours.acks, theirs.acks);
    assert_eq!(ours.timeout_ms, theirs.timeout_ms);
    assert_eq!(ours.topic_data.len(), theirs.topic_data.len());
    for (o, t) in ours.topic_data.iter().zip(&theirs.topic_data) {
        assert_eq!(o.name, t.name.as_str());
        assert_eq!(o.topic_id, *t.topic_id.as_bytes());
        assert_eq!(o.partition_data.len(), t.partition_data.len());
        for (op, tp) in o.partition_data.iter().zip(&t.partition_data) {
            assert_eq!(op.index, tp.index);
            assert_eq!(op.records.as_deref(), tp.records.as_deref());
        }
        assert!(t.unknown_tagged_fields.is_empty());
    }
    assert!(theirs.unknown_tagged_fields.is_empty());
}

fn response_to_theirs(m: &ProduceResponse) -> kr::ProduceResponse {
    let mut t = kr::ProduceResponse::default();
    t.throttle_time_ms = m.throttle_time_ms;
    t.responses = m
        .responses
        .iter()
        .map(|tr| {
            let mut x = kr::TopicProduceResponse::default();
            x.name = TopicName(sb(&tr.name));
            x.topic_id = uuid(&tr.topic_id);
            x.partition_responses = tr
                .partition_responses
                .iter()
                .map(|p| {
                    let mut y = kr::PartitionProduceResponse::default();
                    y.index = p.index;
                    y.error_code = p.error_code;
                    y.base_offset = p.base_offset;
                    y.log_append_time_ms = p.log_append_time_ms;
                    y.log_start_offset = p.log_start_offset;
                    y.record_errors = p
                        .record_errors
                        .iter()
                        .map(|e| {
                            let mut z = kr::BatchIndexAndErrorMessage::default();
                            z.batch_index = e.batch_index;
                            z.batch_index_error_message = osb(&e.batch_index_error_message);
                            z
                        })
                        .collect();
                    y.error_message = osb(&p.error_message);
                    y.current_leader.leader_id = BrokerId(p.current_leader.leader_id);
                    y.current_leader.leader_epoch = p.current_leader.leader_epoch;
                    y
                })
                .collect();
            x
        })
        .collect();
    t.node_endpoints = m
        .node_endpoints
        .iter()
        .map(|n| {
            let mut e = kr::NodeEndpoint::default();
            e.node_id = BrokerId(n.node_id);
            e.host = sb(&n.host);
            e.port = n.port;
            e.rack = osb(&n.rack);
            e
        })
        .collect();
    t
}

fn assert_same_response(ours: &ProduceResponse, theirs: &kr::ProduceResponse) {
    assert_eq!(ours.throttle_time_ms, theirs.throttle_time_ms);
    assert_eq!(ours.responses.len(), theirs.responses.len());
    for (o, t) in ours.responses.iter().zip(&theirs.responses) {
        assert_eq!(o.name, t.name.as_str());
        assert_eq!(o.topic_id, *t.topic_id.as_bytes());
        assert_eq!(o.partition_responses.len(), t.partition_responses.len());
        for (op, tp) in o.partition_responses.iter().zip(&t.partition_responses) {
            assert_eq!(op.index, tp.index);
            assert_eq!(op.error_code, tp.error_code);
            assert_eq!(op.base_offset, tp.base_offset);
            assert_eq!(op.log_append_time_ms, tp.log_append_time_ms);
            assert_eq!(op.log_start_offset, tp.log_start_offset);
            assert_eq!(op.record_errors.len(), tp.record_errors.len());
            for (oe, te) in op.record_errors.iter().zip(&tp.record_errors) {
                assert_eq!(oe.batch_index, te.batch_index);
                assert_eq!(oe.batch_index_error_message.as_deref(), ostr(&te.batch_index_error_message));
            }
            assert_eq!(op.error_message.as_deref(), ostr(&tp.error_message));
            assert_eq!(op.current_leader.leader_id, tp.current_leader.leader_id.0);
            assert_eq!(op.current_leader.leader_epoch, tp.current_leader.leader_epoch);
            assert!(tp.unknown_tagged_fields.is_empty());
        }
    }
    assert_eq!(ours.node_endpoints.len(), theirs.node_endpoints.len());
    for (o, t) in ours.node_endpoints.iter().zip(&theirs.node_endpoints) {
        assert_eq!(o.node_id, t.node_id.0);
        assert_eq!(o.host, t.host.as_str());
        assert_eq!(o.port, t.port);
        assert_eq!(o.rack.as_deref(), ostr(&t.rack));
    }
    assert!(theirs.unknown_tagged_fields.is_empty());
}

proptest! {
    // About 100 cases per version; still well under a second in debug.
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn request_ours_to_theirs_and_back((v, m) in versions_of::<ProduceRequest>().prop_flat_map(|v| (Just(v), produce::request(v)))) {
        let ours = ours_encode(&m, v);
        let theirs: kq::ProduceRequest = theirs_decode(&ours, v);
        assert_same_request(&m, &theirs);

        let theirs_bytes = theirs_encode(&request_to_theirs(&m), v);
        prop_assert_eq!(ours_decode::<ProduceRequest>(&theirs_bytes, v), m);
        prop_assert_eq!(theirs_bytes, ours);
    }

    /// The hot-path encoder, read by the independent decoder.
    #[test]
    fn parts_encoder_read_by_theirs((v, m) in versions_of::<ProduceRequest>().prop_flat_map(|v| (Just(v), produce::request(v)))) {
        let mut buf = Vec::new();
        encode_produce_request_parts(
            &mut buf,
            v,
            m.transactional_id.as_deref(),
            m.acks,
            m.timeout_ms,
            m.topic_data.iter().map(|t| {
                let key = if v >= 13 { TopicRef::Id(t.topic_id) } else { TopicRef::Name(&t.name) };
                (key, t.partition_data.iter().map(|p| (p.index, p.records.clone().unwrap_or_default())))
            }),
        )
        .unwrap();
        let theirs: kq::ProduceRequest = theirs_decode(&buf, v);
        let mut want = m.clone();
        for p in want.topic_data.iter_mut().flat_map(|t| t.partition_data.iter_mut()) {
            p.records.get_or_insert_with(Vec::new);
        }
        assert_same_request(&want, &theirs);
    }

    #[test]
    fn response_ours_to_theirs_and_back((v, m) in versions_of::<ProduceResponse>().prop_flat_map(|v| (Just(v), produce::response(v)))) {
        let ours = ours_encode(&m, v);
        let theirs: kr::ProduceResponse = theirs_decode(&ours, v);
        assert_same_response(&m, &theirs);

        let theirs_bytes = theirs_encode(&response_to_theirs(&m), v);
        prop_assert_eq!(ours_decode::<ProduceResponse>(&theirs_bytes, v), m);
        prop_assert_eq!(theirs_bytes, ours);
    }
}

/// v13 (KIP-516) explicitly, both ways: the topic id takes the name's place,
/// and a name set beside the id is not sent by either encoder.
#[test]
fn v13_names_topics_by_id_both_ways() {
    let id = [0x5a; 16];
    let m = ProduceResponse {
        responses: vec![TopicProduceResponse {
            name: String::new(),
            topic_id: id,
            partition_responses: vec![PartitionProduceResponse {
                index: 2,
                error_code: 100,
                ..Default::default()
            }],
        }],
        ..Default::default()
    };
    let ours = ours_encode(&m, 13);
    let theirs: kr::ProduceResponse = theirs_decode(&ours, 13);
    assert_eq!(*theirs.responses[0].topic_id.as_bytes(), id);
    assert_eq!(theirs.responses[0].name.as_str(), "");
    assert_eq!(ours_decode::<ProduceResponse>(&theirs_encode(&response_to_theirs(&m), 13), 13), m);

    let req = ProduceRequest {
        acks: -1,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "dropped-at-v13".into(),
            topic_id: id,
            partition_data: vec![PartitionProduceData { index: 0, records: Some(vec![1, 2, 3]) }],
        }],
        ..Default::default()
    };
    let ours = ours_encode(&req, 13);
    assert_eq!(ours, theirs_encode(&request_to_theirs(&req), 13));
    let theirs: kq::ProduceRequest = theirs_decode(&ours, 13);
    assert_eq!(*theirs.topic_data[0].topic_id.as_bytes(), id);
    assert_eq!(theirs.topic_data[0].name.as_str(), "");
    let back = ours_decode::<ProduceRequest>(&ours, 13);
    assert_eq!((back.topic_data[0].name.as_str(), back.topic_data[0].topic_id), ("", id));
    // At v12 the same value carries the name and not the id.
    let theirs: kq::ProduceRequest = theirs_decode(&ours_encode(&req, 12), 12);
    assert_eq!(theirs.topic_data[0].name.as_str(), "dropped-at-v13");
    assert!(theirs.topic_data[0].topic_id.is_nil());
}
