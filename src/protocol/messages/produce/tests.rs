//! Unit tests of `produce`.

use super::*;

fn sample_request() -> ProduceRequest {
    ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            topic_id: Uuid::default(),
            partition_data: vec![PartitionProduceData { index: 0, records: Some(vec![1, 2, 3]) }],
        }],
    }
}

#[test]
fn v3_request_golden_bytes() {
    #[rustfmt::skip]
    let want: &[u8] = &[
        0xff, 0xff,             // transactional_id: null (int16 -1)
        0xff, 0xff,             // acks: -1
        0x00, 0x00, 0x03, 0xe8, // timeout_ms: 1000
        0x00, 0x00, 0x00, 0x01, // topic_data: 1 element
        0x00, 0x01, b't',       //   name: "t"
        0x00, 0x00, 0x00, 0x01, //   partition_data: 1 element
        0x00, 0x00, 0x00, 0x00, //     index: 0
        0x00, 0x00, 0x00, 0x03, //     records: 3 bytes
        0x01, 0x02, 0x03,
    ];
    let req = sample_request();
    let mut b = Vec::new();
    req.encode(&mut b, 3).unwrap();
    assert_eq!(b, want);
    let mut d = Decoder::new(want);
    assert_eq!(ProduceRequest::decode(&mut d, 3).unwrap(), req);
    d.finish().unwrap();
}

#[test]
fn v9_request_golden_bytes() {
    #[rustfmt::skip]
    let want: &[u8] = &[
        0x04, b't', b'x', b'n', // transactional_id: compact "txn" (3 + 1)
        0xff, 0xff,             // acks: -1
        0x00, 0x00, 0x03, 0xe8, // timeout_ms: 1000
        0x02,                   // topic_data: compact count 1 (1 + 1)
        0x02, b't',             //   name: compact "t"
        0x02,                   //   partition_data: compact count 1
        0x00, 0x00, 0x00, 0x00, //     index: 0
        0x04, 0x01, 0x02, 0x03, //     records: compact 3 bytes (3 + 1)
        0x00,                   //     partition tagged fields: none
        0x00,                   //   topic tagged fields: none
        0x00,                   // request tagged fields: none
    ];
    let req = ProduceRequest { transactional_id: Some("txn".into()), ..sample_request() };
    let mut b = Vec::new();
    req.encode(&mut b, 9).unwrap();
    assert_eq!(b, want);
    let mut d = Decoder::new(want);
    assert_eq!(ProduceRequest::decode(&mut d, 9).unwrap(), req);
    d.finish().unwrap();

    let mut parts = Vec::new();
    let batch: &[u8] = &[1, 2, 3];
    encode_produce_request_parts(&mut parts, 9, Some("txn"), -1, 1000, [("t", [(0, batch)])]).unwrap();
    assert_eq!(parts, want);
}

#[test]
fn null_records_golden_bytes() {
    let req = ProduceRequest {
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            topic_id: Uuid::default(),
            partition_data: vec![PartitionProduceData { index: 1, records: None }],
        }],
        ..sample_request()
    };
    let mut b = Vec::new();
    req.encode(&mut b, 3).unwrap();
    assert_eq!(&b[b.len() - 8..], &[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
    let mut b = Vec::new();
    req.encode(&mut b, 9).unwrap();
    assert_eq!(&b[b.len() - 8..], &[0, 0, 0, 1, 0x00, 0, 0, 0]);
}

#[test]
fn v8_response_golden_bytes() {
    #[rustfmt::skip]
    let want: &[u8] = &[
        0x00, 0x00, 0x00, 0x01,                         // responses: 1
        0x00, 0x01, b't',                               //   name "t"
        0x00, 0x00, 0x00, 0x01,                         //   partition_responses: 1
        0x00, 0x00, 0x00, 0x02,                         //     index 2
        0x00, 0x57,                                     //     error_code 87 (INVALID_RECORD)
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //     base_offset -1
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //     log_append_time_ms -1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, //     log_start_offset 5
        0x00, 0x00, 0x00, 0x01,                         //     record_errors: 1
        0x00, 0x00, 0x00, 0x04,                         //       batch_index 4
        0xff, 0xff,                                     //       batch_index_error_message null
        0x00, 0x02, b'n', b'o',                         //     error_message "no"
        0x00, 0x00, 0x00, 0x0a,                         // throttle_time_ms 10
    ];
    let resp = ProduceResponse {
        responses: vec![TopicProduceResponse {
            name: "t".into(),
            topic_id: Uuid::default(),
            partition_responses: vec![PartitionProduceResponse {
                index: 2,
                error_code: 87,
                base_offset: -1,
                log_append_time_ms: -1,
                log_start_offset: 5,
                record_errors: vec![BatchIndexAndErrorMessage {
                    batch_index: 4,
                    batch_index_error_message: None,
                }],
                error_message: Some("no".into()),
                current_leader: LeaderIdAndEpoch::default(),
            }],
        }],
        throttle_time_ms: 10,
        node_endpoints: Vec::new(),
    };
    let mut b = Vec::new();
    resp.encode(&mut b, 8).unwrap();
    assert_eq!(b, want);
    let mut d = Decoder::new(want);
    assert_eq!(ProduceResponse::decode(&mut d, 8).unwrap(), resp);
    d.finish().unwrap();
}

#[test]
fn v10_response_golden_bytes() {
    #[rustfmt::skip]
    let want: &[u8] = &[
        0x02,                                           // responses: compact 1
        0x02, b't',                                     //   name "t"
        0x02,                                           //   partition_responses: compact 1
        0x00, 0x00, 0x00, 0x00,                         //     index 0
        0x00, 0x06,                                     //     error_code 6 (NOT_LEADER_OR_FOLLOWER)
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //     base_offset -1
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //     log_append_time_ms -1
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //     log_start_offset -1
        0x01,                                           //     record_errors: compact 0
        0x00,                                           //     error_message: null
        0x01,                                           //     tagged fields: 1
        0x00, 0x09,                                     //       tag 0 (current_leader), 9 bytes
        0x00, 0x00, 0x00, 0x02,                         //         leader_id 2
        0x00, 0x00, 0x00, 0x07,                         //         leader_epoch 7
        0x00,                                           //         its tagged fields
        0x00,                                           //   topic tagged fields
        0x00, 0x00, 0x00, 0x00,                         // throttle_time_ms 0
        0x01,                                           // tagged fields: 1
        0x00, 0x0d,                                     //   tag 0 (node_endpoints), 13 bytes
        0x02,                                           //     compact 1 endpoint
        0x00, 0x00, 0x00, 0x02,                         //       node_id 2
        0x02, b'h',                                     //       host "h"
        0x00, 0x00, 0x23, 0x84,                         //       port 9092
        0x00,                                           //       rack null
        0x00,                                           //       its tagged fields
    ];
    let resp = ProduceResponse {
        responses: vec![TopicProduceResponse {
            name: "t".into(),
            topic_id: Uuid::default(),
            partition_responses: vec![PartitionProduceResponse {
                index: 0,
                error_code: 6,
                base_offset: -1,
                current_leader: LeaderIdAndEpoch { leader_id: 2, leader_epoch: 7 },
                ..Default::default()
            }],
        }],
        throttle_time_ms: 0,
        node_endpoints: vec![NodeEndpoint { node_id: 2, host: "h".into(), port: 9092, rack: None }],
    };
    let mut b = Vec::new();
    resp.encode(&mut b, 10).unwrap();
    assert_eq!(b, want);
    let mut d = Decoder::new(want);
    assert_eq!(ProduceResponse::decode(&mut d, 10).unwrap(), resp);
    d.finish().unwrap();

    // At v9 tag 0 means nothing yet: it is skipped, and encoding drops it.
    let mut d = Decoder::new(want);
    let v9 = ProduceResponse::decode(&mut d, 9).unwrap();
    d.finish().unwrap();
    assert_eq!(v9.node_endpoints, Vec::new());
    assert_eq!(v9.responses[0].partition_responses[0].current_leader, LeaderIdAndEpoch::default());
    let mut b = Vec::new();
    resp.encode(&mut b, 9).unwrap();
    assert_eq!(b.len(), want.len() - 11 - 15);
}

/// v13 (KIP-516): the topic id takes the name's place; the bytes follow
/// `ProduceRequest.json` (`Name` versions 0-12, `TopicId` uuid 13+).
#[test]
fn v13_request_golden_bytes() {
    let id: Uuid = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4d, 0xef, 0x80, 1, 2, 3, 4, 5, 6, 7];
    #[rustfmt::skip]
    let want: &[u8] = &[
        0x00,                   // transactional_id: compact null
        0xff, 0xff,             // acks: -1
        0x00, 0x00, 0x03, 0xe8, // timeout_ms: 1000
        0x02,                   // topic_data: compact count 1
        0x12, 0x34, 0x56, 0x78, //   topic_id (16 bytes, no name)
        0x9a, 0xbc, 0x4d, 0xef,
        0x80, 0x01, 0x02, 0x03,
        0x04, 0x05, 0x06, 0x07,
        0x02,                   //   partition_data: compact count 1
        0x00, 0x00, 0x00, 0x00, //     index: 0
        0x04, 0x01, 0x02, 0x03, //     records: compact 3 bytes
        0x00,                   //     partition tagged fields: none
        0x00,                   //   topic tagged fields: none
        0x00,                   // request tagged fields: none
    ];
    let mut req = sample_request();
    req.topic_data[0].name = String::new();
    req.topic_data[0].topic_id = id;
    let mut b = Vec::new();
    req.encode(&mut b, 13).unwrap();
    assert_eq!(b, want);
    let mut d = Decoder::new(want);
    assert_eq!(ProduceRequest::decode(&mut d, 13).unwrap(), req);
    d.finish().unwrap();

    // The name is dropped at v13, the id below it.
    let both = ProduceRequest {
        topic_data: vec![TopicProduceData { topic_id: id, ..sample_request().topic_data[0].clone() }],
        ..sample_request()
    };
    let mut b = Vec::new();
    both.encode(&mut b, 13).unwrap();
    assert_eq!(b, want);
    let mut b12 = Vec::new();
    both.encode(&mut b12, 12).unwrap();
    let mut plain = Vec::new();
    sample_request().encode(&mut plain, 12).unwrap();
    assert_eq!(b12, plain);

    let batch: &[u8] = &[1, 2, 3];
    let mut parts = Vec::new();
    encode_produce_request_parts(&mut parts, 13, None, -1, 1000, [(id, [(0, batch)])]).unwrap();
    assert_eq!(parts, want);
    // A name cannot be sent at v13, nor an id below it.
    assert_eq!(
        encode_produce_request_parts(&mut Vec::new(), 13, None, -1, 1000, [("t", [(0, batch)])]),
        Err(EncodeError::FieldNotInVersion { field: "topic_data.name", version: 13 })
    );
    assert_eq!(
        encode_produce_request_parts(&mut Vec::new(), 12, None, -1, 1000, [(id, [(0, batch)])]),
        Err(EncodeError::FieldNotInVersion { field: "topic_data.topic_id", version: 12 })
    );
}

#[test]
fn v13_response_golden_bytes() {
    let id: Uuid = [0xfe; 16];
    #[rustfmt::skip]
    let want: &[u8] = &[
        0x02,                                           // responses: compact 1
        0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, //   topic_id (no name)
        0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe,
        0x02,                                           //   partition_responses: compact 1
        0x00, 0x00, 0x00, 0x01,                         //     index 1
        0x00, 0x64,                                     //     error_code 100 (UNKNOWN_TOPIC_ID)
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //     base_offset -1
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //     log_append_time_ms -1
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //     log_start_offset -1
        0x01,                                           //     record_errors: compact 0
        0x00,                                           //     error_message: null
        0x00,                                           //     tagged fields: none
        0x00,                                           //   topic tagged fields
        0x00, 0x00, 0x00, 0x00,                         // throttle_time_ms 0
        0x00,                                           // tagged fields: none
    ];
    let resp = ProduceResponse {
        responses: vec![TopicProduceResponse {
            name: String::new(),
            topic_id: id,
            partition_responses: vec![PartitionProduceResponse {
                index: 1,
                error_code: 100,
                base_offset: -1,
                ..Default::default()
            }],
        }],
        throttle_time_ms: 0,
        node_endpoints: Vec::new(),
    };
    let mut b = Vec::new();
    resp.encode(&mut b, 13).unwrap();
    assert_eq!(b, want);
    let mut d = Decoder::new(want);
    assert_eq!(ProduceResponse::decode(&mut d, 13).unwrap(), resp);
    d.finish().unwrap();
}

#[test]
fn unknown_tagged_fields_are_skipped() {
    // v12 request whose top-level section carries an unknown tag 7.
    let mut b = Vec::new();
    ProduceRequest::default().encode(&mut b, 12).unwrap();
    assert_eq!(b, [0, 0, 0, 0, 0, 0, 0, 1, 0]);
    b.pop();
    b.extend_from_slice(&[1, 7, 2, 0xab, 0xcd]);
    let mut d = Decoder::new(&b);
    assert_eq!(ProduceRequest::decode(&mut d, 12).unwrap(), ProduceRequest::default());
    d.finish().unwrap();
}

#[test]
fn hostile_counts_fail_cleanly() {
    // Classic: i32::MAX topics in a few bytes.
    let b = [0xff, 0xff, 0, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0];
    assert!(ProduceRequest::decode(&mut Decoder::new(&b), 3).is_err());
    // Flexible: a huge compact count of partition responses.
    let b = [2, 2, b't', 0xff, 0xff, 0xff, 0xff, 0x0f];
    assert!(ProduceResponse::decode(&mut Decoder::new(&b), 11).is_err());
    // v13: a huge compact count of topics, each at least 18 bytes.
    let b = [0, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f];
    assert!(matches!(
        ProduceRequest::decode(&mut Decoder::new(&b), 13),
        Err(DecodeError::CountTooLarge { .. })
    ));
    // Versions outside 3..=13 are refused both ways.
    assert!(ProduceRequest::default().encode(&mut Vec::new(), 2).is_err());
    assert!(ProduceRequest::default().encode(&mut Vec::new(), 14).is_err());
    assert!(ProduceResponse::decode(&mut Decoder::new(&[]), 14).is_err());
    let batch: &[u8] = &[];
    assert!(encode_produce_request_parts(&mut Vec::new(), 2, None, 1, 0, [("t", [(0, batch)])]).is_err());
}

#[test]
fn truncated_inputs_never_panic() {
    let mut req = ProduceRequest { transactional_id: Some("x".into()), ..sample_request() };
    req.topic_data[0].topic_id = [9; 16];
    for v in [3, 9, 13] {
        let mut b = Vec::new();
        req.encode(&mut b, v).unwrap();
        for cut in 0..b.len() {
            assert!(ProduceRequest::decode(&mut Decoder::new(&b[..cut]), v).is_err(), "v{v} cut {cut}");
        }
    }
}
