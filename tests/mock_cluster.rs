//! The mock cluster, driven by a client written here from the wire codec
//! alone: raw TCP, `protocol::frame` to encode requests and decode responses,
//! `record_batch::RecordBatchWriter` to build batches. Loopback only; every
//! socket has a timeout so no test can hang.

#![cfg(feature = "mock")]

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use kafka_sync::mock::{DropPoint, DuplicateAnswer, Malformation, MockCluster};
use kafka_sync::protocol::api_key::{
    ADD_OFFSETS_TO_TXN, ADD_PARTITIONS_TO_TXN, API_VERSIONS, CREATE_TOPICS, END_TXN, FIND_COORDINATOR,
    INIT_PRODUCER_ID, METADATA, PRODUCE, SASL_AUTHENTICATE, SASL_HANDSHAKE, TXN_OFFSET_COMMIT,
};
use kafka_sync::protocol::compression::Compression;
use kafka_sync::protocol::frame::{decode_response, encode_request, finish_frame, start_frame};
use kafka_sync::protocol::header::RequestHeader;
use kafka_sync::protocol::messages::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_sync::protocol::messages::create_topics::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use kafka_sync::protocol::messages::delete_topics::{DeleteTopicState, DeleteTopicsRequest};
use kafka_sync::protocol::messages::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use kafka_sync::protocol::messages::metadata::{MetadataRequest, MetadataRequestTopic, MetadataResponse};
use kafka_sync::protocol::messages::produce::{PartitionProduceData, ProduceRequest, TopicProduceData};
use kafka_sync::protocol::messages::sasl_handshake::SaslHandshakeRequest;
use kafka_sync::protocol::record_batch::{BatchParams, Header};
use kafka_sync::protocol::{Message, VersionRange};
use kafka_sync::KafkaCode;

#[path = "support/raw.rs"]
mod raw;

use raw::*;

// ---- ApiVersions ----------------------------------------------------------

#[test]
fn api_versions_at_every_version_and_the_v0_fallback() {
    let cluster = MockCluster::start(1).unwrap();
    let mut c = Client::to(&cluster, 1);
    for v in 0..=4 {
        let cid = c.send(v, &ApiVersionsRequest::default());
        let frame = c.read().unwrap();
        // The ApiVersions response header is v0 at every version.
        assert_eq!(&frame[..4], &cid.to_be_bytes());
        let resp = ApiVersionsResponse::decode_fallback(&frame[4..], v).unwrap();
        assert_eq!(resp.error_code, 0);
        let range = |k| resp.range_of(k).unwrap();
        assert_eq!(range(PRODUCE), VersionRange::new(3, 13));
        assert_eq!(range(METADATA), VersionRange::new(1, 13));
        assert_eq!(range(API_VERSIONS), VersionRange::new(0, 4));
        assert_eq!(range(CREATE_TOPICS), VersionRange::new(2, 7));
        assert_eq!(range(20), VersionRange::new(1, 6));
        assert_eq!(range(INIT_PRODUCER_ID), VersionRange::new(0, 5));
        // The transaction APIs (tests/mock_transactions.rs).
        assert_eq!(range(FIND_COORDINATOR), VersionRange::new(0, 6));
        assert_eq!(range(ADD_PARTITIONS_TO_TXN), VersionRange::new(0, 5));
        assert_eq!(range(ADD_OFFSETS_TO_TXN), VersionRange::new(0, 4));
        assert_eq!(range(END_TXN), VersionRange::new(0, 5));
        assert_eq!(range(TXN_OFFSET_COMMIT), VersionRange::new(0, 5));
        assert_eq!(resp.api_keys.len(), 11);
        assert_eq!(resp.range_of(SASL_HANDSHAKE), None, "a plaintext mock does not serve SASL");
        assert_eq!(resp.range_of(SASL_AUTHENTICATE), None, "a plaintext mock does not serve SASL");
    }

    // A version the broker does not know: UNSUPPORTED_VERSION in a v0 body.
    let mut buf = Vec::new();
    let at = start_frame(&mut buf);
    RequestHeader {
        api_key: API_VERSIONS,
        api_version: 7,
        correlation_id: 99,
        client_id: Some("new".into()),
    }
    .encode(&mut buf, 2)
    .unwrap();
    ApiVersionsRequest::default().encode_body(&mut buf, 3).unwrap();
    finish_frame(&mut buf, at).unwrap();
    c.stream.write_all(&buf).unwrap();
    let frame = c.read().unwrap();
    assert_eq!(&frame[..4], &99i32.to_be_bytes());
    let resp = ApiVersionsResponse::decode_fallback(&frame[4..], 7).unwrap();
    assert_eq!(resp.error_code, KafkaCode::UNSUPPORTED_VERSION.0);
    assert_eq!(resp.range_of(API_VERSIONS), Some(VersionRange::new(0, 4)));

    // v3+ checks the client software name like Kafka does.
    let bad =
        ApiVersionsRequest { client_software_name: "-bad name".into(), client_software_version: "1".into() };
    assert_eq!(c.call(3, &bad).error_code, KafkaCode::INVALID_REQUEST.0);
    // The connection is still usable.
    assert_eq!(c.call(3, &ApiVersionsRequest::default()).error_code, 0);
}

#[test]
fn narrowed_versions_play_an_older_broker() {
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic("t", 1, 1).unwrap();
    cluster.set_api_versions(PRODUCE, VersionRange::new(3, 9)).unwrap();
    cluster.set_api_versions(API_VERSIONS, VersionRange::new(0, 2)).unwrap();
    let mut c = Client::to(&cluster, 1);
    let cid = c.send(3, &ApiVersionsRequest::default());
    let frame = c.read().unwrap();
    assert_eq!(&frame[..4], &cid.to_be_bytes());
    let resp = ApiVersionsResponse::decode_fallback(&frame[4..], 3).unwrap();
    assert_eq!(resp.error_code, KafkaCode::UNSUPPORTED_VERSION.0);
    assert_eq!(resp.range_of(API_VERSIONS), Some(VersionRange::new(0, 2)));
    let resp = c.call(2, &ApiVersionsRequest::default());
    assert_eq!(resp.range_of(PRODUCE), Some(VersionRange::new(3, 9)));

    let resp = c.call(9, &produce_request(-1, "t", 0, values(1, "a", BatchParams::default())));
    assert_eq!(only(&resp).error_code, 0);
    // A version outside the advertised range closes the connection.
    c.send(10, &produce_request(-1, "t", 0, values(1, "b", BatchParams::default())));
    c.assert_closed();
    assert_eq!(cluster.log_end_offset("t", 0), Some(1));
}

// ---- Metadata -------------------------------------------------------------

#[test]
fn metadata_at_every_version() {
    let cluster = MockCluster::start(3).unwrap();
    cluster.create_topic("orders", 4, 2).unwrap();
    cluster.create_topic("audit", 1, 3).unwrap();
    let mut c = Client::to(&cluster, 2);
    for v in 1..=12 {
        let resp: MetadataResponse = c.call(v, &MetadataRequest::for_topics(["orders", "missing"]));
        assert_eq!(resp.brokers.len(), 3, "v{v}");
        for (b, id) in resp.brokers.iter().zip(1..) {
            assert_eq!(b.node_id, id);
            assert_eq!(format!("{}:{}", b.host, b.port), cluster.broker_address(id).unwrap().to_string());
        }
        assert_eq!(resp.controller_id, 1);
        assert_eq!(resp.cluster_id.is_some(), v >= 2);
        let orders = &resp.topics[0];
        assert_eq!((orders.error_code, orders.name.as_deref()), (0, Some("orders")));
        assert_eq!(orders.topic_id != [0; 16], v >= 10);
        let leaders: Vec<i32> = orders.partitions.iter().map(|p| p.leader_id).collect();
        assert_eq!(leaders, [1, 2, 3, 1], "round-robin leaders");
        assert_eq!(orders.partitions[2].replica_nodes, [3, 1]);
        assert_eq!(orders.partitions[2].isr_nodes, [3, 1]);
        assert_eq!(orders.partitions[0].leader_epoch, if v >= 7 { 0 } else { -1 });
        let missing = &resp.topics[1];
        assert_eq!(missing.error_code, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION.0);
        assert!(missing.partitions.is_empty());

        let all: MetadataResponse = c.call(v, &MetadataRequest::all_topics());
        let names: Vec<_> = all.topics.iter().map(|t| t.name.clone().unwrap()).collect();
        assert_eq!(names, ["audit", "orders"]);
        let none: MetadataResponse = c.call(v, &MetadataRequest::default());
        assert!(none.topics.is_empty() && none.brokers.len() == 3);
    }

    // By topic id (v12).
    let resp: MetadataResponse = c.call(12, &MetadataRequest::for_topics(["audit"]));
    let id = resp.topics[0].topic_id;
    let by_id = |id| MetadataRequest {
        topics: Some(vec![MetadataRequestTopic { topic_id: id, name: None }]),
        ..MetadataRequest::default()
    };
    let resp: MetadataResponse = c.call(12, &by_id(id));
    assert_eq!(resp.topics[0].name.as_deref(), Some("audit"));
    assert_eq!(resp.topics[0].partitions[0].replica_nodes, [1, 2, 3]);
    let resp: MetadataResponse = c.call(12, &by_id([7; 16]));
    assert_eq!(resp.topics[0].error_code, KafkaCode::UNKNOWN_TOPIC_ID.0);
    assert_eq!(resp.topics[0].name, None);
    // Topic ids are new per topic: delete and re-create.
    cluster.delete_topic("audit").unwrap();
    cluster.create_topic("audit", 1, 1).unwrap();
    let resp: MetadataResponse = c.call(12, &MetadataRequest::for_topics(["audit"]));
    assert_ne!(resp.topics[0].topic_id, id);
}

#[test]
fn metadata_auto_creates_topics_when_asked() {
    let cluster = MockCluster::start(2).unwrap();
    let mut c = Client::to(&cluster, 1);
    let resp: MetadataResponse = c.call(12, &MetadataRequest::for_topics(["auto"]));
    assert_eq!(resp.topics[0].error_code, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION.0);
    assert!(cluster.topics().is_empty(), "off by default");

    cluster.set_auto_create_topics(Some(3));
    let no_auto =
        MetadataRequest { allow_auto_topic_creation: false, ..MetadataRequest::for_topics(["auto"]) };
    let resp: MetadataResponse = c.call(12, &no_auto);
    assert_eq!(resp.topics[0].error_code, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION.0);

    let resp: MetadataResponse = c.call(12, &MetadataRequest::for_topics(["auto", "bad name"]));
    assert_eq!(resp.topics[0].error_code, KafkaCode::LEADER_NOT_AVAILABLE.0);
    assert_eq!(resp.topics[1].error_code, KafkaCode::INVALID_TOPIC_EXCEPTION.0);
    let resp: MetadataResponse = c.call(12, &MetadataRequest::for_topics(["auto"]));
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!(resp.topics[0].partitions.len(), 3);
    assert_eq!(cluster.topics(), ["auto"]);
}

// ---- Produce --------------------------------------------------------------

#[test]
fn produce_assigns_offsets_and_records_read_back() {
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic("t", 2, 1).unwrap();
    let mut c = Client::to(&cluster, 1);
    let headers = vec![Header::new("trace", "abc"), Header { key: "null".into(), value: None }];
    let first = record_batch(
        &[
            (Some(b"k1"), Some(b"v1"), headers.clone()),
            (None, None, Vec::new()),
            (Some(b""), Some(b"v3"), Vec::new()),
        ],
        1_700_000_000_000,
        BatchParams::default(),
    );
    for v in 3..=12 {
        let resp = c.call(v, &produce_request(1, "t", 0, first.clone()));
        let p = only(&resp);
        assert_eq!(p.error_code, 0, "v{v}");
        assert_eq!(p.base_offset, 3 * i64::from(v - 3));
        assert_eq!(p.log_append_time_ms, -1);
        assert_eq!(p.log_start_offset, if v >= 5 { 0 } else { -1 });
    }
    let gz = batch_with(
        &[(Some(b"z"), Some(b"gzipped"), Vec::new())],
        5,
        BatchParams::default(),
        Compression::Gzip,
    );
    assert_eq!(produce(&mut c, "t", 0, gz), (KafkaCode::NONE, 30));
    let snappy =
        batch_with(&[(None, Some(b"snappy"), Vec::new())], 6, BatchParams::default(), Compression::Snappy);
    assert_eq!(produce(&mut c, "t", 1, snappy), (KafkaCode::NONE, 0));

    let recs = cluster.records("t", 0);
    assert_eq!(recs.len(), 31);
    assert_eq!(recs.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..31).collect::<Vec<_>>());
    let r0 = &recs[0];
    assert_eq!((r0.key.as_deref(), r0.value.as_deref()), (Some(&b"k1"[..]), Some(&b"v1"[..])));
    assert_eq!(r0.headers, headers);
    assert_eq!(r0.timestamp, 1_700_000_000_000);
    assert_eq!((r0.producer_id, r0.producer_epoch, r0.sequence), (-1, -1, -1));
    assert_eq!((recs[1].key.as_ref(), recs[1].value.as_ref()), (None, None));
    assert_eq!(recs[1].timestamp, 1_700_000_000_001);
    assert_eq!(recs[2].key.as_deref(), Some(&b""[..]));
    assert_eq!(recs[5].batch_base_offset, 3);
    assert_eq!(recs[30].value.as_deref(), Some(&b"gzipped"[..]));
    assert_eq!(recs[30].compression, Compression::Gzip);
    assert_eq!(cluster.records("t", 1)[0].value.as_deref(), Some(&b"snappy"[..]));
    assert_eq!(cluster.log_end_offset("t", 0), Some(31));
    assert!(cluster.records("t", 2).is_empty() && cluster.records("nope", 0).is_empty());
}

#[test]
fn produce_to_many_partitions_in_one_request() {
    let cluster = MockCluster::start(2).unwrap();
    cluster.create_topic("a", 2, 1).unwrap();
    let mut c = Client::to(&cluster, 1);
    let req = ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 1000,
        topic_data: vec![
            TopicProduceData {
                name: "a".into(),
                topic_id: [0; 16],
                partition_data: vec![
                    PartitionProduceData { index: 0, records: Some(values(2, "p0", BatchParams::default())) },
                    PartitionProduceData { index: 1, records: Some(values(1, "p1", BatchParams::default())) },
                    PartitionProduceData { index: 7, records: Some(values(1, "p7", BatchParams::default())) },
                ],
            },
            TopicProduceData {
                name: "b".into(),
                topic_id: [0; 16],
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(values(1, "b", BatchParams::default())),
                }],
            },
        ],
    };
    let resp = c.call(12, &req);
    let codes: Vec<Vec<i16>> =
        resp.responses.iter().map(|t| t.partition_responses.iter().map(|p| p.error_code).collect()).collect();
    assert_eq!(
        codes,
        [
            vec![0, KafkaCode::NOT_LEADER_OR_FOLLOWER.0, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION.0],
            vec![KafkaCode::UNKNOWN_TOPIC_OR_PARTITION.0]
        ]
    );
    // v10+: where the leader is.
    let p1 = &resp.responses[0].partition_responses[1];
    assert_eq!((p1.current_leader.leader_id, p1.current_leader.leader_epoch), (2, 0));
    assert_eq!(resp.node_endpoints.len(), 1);
    assert_eq!(resp.node_endpoints[0].node_id, 2);
    assert_eq!(resp.node_endpoints[0].port, i32::from(cluster.broker_address(2).unwrap().port()));
    assert_eq!(cluster.log_end_offset("a", 0), Some(2));
    assert_eq!(cluster.log_end_offset("a", 1), Some(0));
}

/// v13 (KIP-516): topics named by id, answered by id; an id the cluster does
/// not know is UNKNOWN_TOPIC_ID for each of its partitions, as Kafka answers.
#[test]
fn produce_v13_by_topic_id() {
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic("a", 2, 1).unwrap();
    let mut c = Client::to(&cluster, 1);
    let m: MetadataResponse = c.call(12, &MetadataRequest::for_topics(["a"]));
    let id = m.topics[0].topic_id;
    assert_ne!(id, [0; 16]);
    let data =
        |index, v: &str| PartitionProduceData { index, records: Some(values(1, v, BatchParams::default())) };
    let req = ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 1000,
        topic_data: vec![
            TopicProduceData {
                name: String::new(),
                topic_id: id,
                partition_data: vec![data(0, "x"), data(1, "y")],
            },
            TopicProduceData {
                name: String::new(),
                topic_id: [9; 16],
                partition_data: vec![data(0, "z"), data(3, "w")],
            },
            TopicProduceData { name: String::new(), topic_id: [0; 16], partition_data: vec![data(0, "n")] },
        ],
    };
    let resp = c.call(13, &req);
    let got: Vec<([u8; 16], Vec<i16>)> = resp
        .responses
        .iter()
        .map(|t| (t.topic_id, t.partition_responses.iter().map(|p| p.error_code).collect()))
        .collect();
    let unknown = KafkaCode::UNKNOWN_TOPIC_ID.0;
    assert_eq!(got, [(id, vec![0, 0]), ([9; 16], vec![unknown, unknown]), ([0; 16], vec![unknown])]);
    assert!(resp.responses.iter().all(|t| t.name.is_empty()));
    assert_eq!(cluster.log_end_offset("a", 0), Some(1));
    assert_eq!(cluster.log_end_offset("a", 1), Some(1));
    assert_eq!(cluster.requests().last().map(|r| r.api_version), Some(13));
}

#[test]
fn produce_rejects_what_kafka_rejects() {
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic("t", 1, 1).unwrap();
    cluster.create_topic_with_configs("small", 1, 1, &[("max.message.bytes", "200")]).unwrap();
    let mut c = Client::to(&cluster, 1);

    let mut corrupt = values(3, "x", BatchParams::default());
    let at = corrupt.len() - 2;
    corrupt[at] ^= 0x40;
    assert_eq!(produce(&mut c, "t", 0, corrupt).0, KafkaCode::CORRUPT_MESSAGE);
    let mut wrong_magic = values(1, "x", BatchParams::default());
    wrong_magic[16] = 1;
    assert_eq!(produce(&mut c, "t", 0, wrong_magic).0, KafkaCode::CORRUPT_MESSAGE);
    let truncated = values(3, "x", BatchParams::default());
    assert_eq!(
        produce(&mut c, "t", 0, truncated[..truncated.len() - 1].to_vec()).0,
        KafkaCode::CORRUPT_MESSAGE
    );
    let mut two = values(1, "x", BatchParams::default());
    two.extend(values(1, "y", BatchParams::default()));
    assert_eq!(produce(&mut c, "t", 0, two).0, KafkaCode::INVALID_RECORD);
    assert_eq!(
        produce(&mut c, "t", 0, record_batch(&[], 0, BatchParams::default())).0,
        KafkaCode::INVALID_RECORD
    );

    let big = values(1, &"x".repeat(300), BatchParams::default());
    assert_eq!(produce(&mut c, "small", 0, big.clone()).0, KafkaCode::MESSAGE_TOO_LARGE);
    assert_eq!(produce(&mut c, "t", 0, big.clone()).0, KafkaCode::NONE);
    cluster.set_max_message_bytes(100);
    assert_eq!(produce(&mut c, "t", 0, big).0, KafkaCode::MESSAGE_TOO_LARGE);

    for acks in [2, -2, 5] {
        let resp = c.call(9, &produce_request(acks, "t", 0, values(1, "a", BatchParams::default())));
        assert_eq!(only(&resp).error_code, KafkaCode::INVALID_REQUIRED_ACKS.0);
    }
    assert_eq!(cluster.log_end_offset("t", 0), Some(1), "only the one good batch was appended");
}

#[test]
fn log_append_time_topics_stamp_records() {
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic_with_configs("lat", 1, 1, &[("message.timestamp.type", "LogAppendTime")]).unwrap();
    let mut c = Client::to(&cluster, 1);
    let before =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let resp = c.call(9, &produce_request(-1, "lat", 0, values(2, "a", BatchParams::default())));
    let p = only(&resp);
    assert!(p.log_append_time_ms >= before, "{} < {before}", p.log_append_time_ms);
    let recs = cluster.records("lat", 0);
    assert!(recs.iter().all(|r| r.timestamp == p.log_append_time_ms));
}

#[test]
fn acks_zero_gets_no_response_and_errors_close_the_connection() {
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic("t", 1, 1).unwrap();
    let mut c = Client::to(&cluster, 1);
    c.send(9, &produce_request(0, "t", 0, values(2, "a", BatchParams::default())));
    // The next response on the connection answers the next request.
    let cid = c.send(12, &MetadataRequest::default());
    let (h, _) = c.recv::<MetadataRequest>(12);
    assert_eq!(h.correlation_id, cid);
    assert_eq!(cluster.log_end_offset("t", 0), Some(2));

    c.send(9, &produce_request(0, "missing", 0, values(1, "a", BatchParams::default())));
    c.assert_closed();
}

// ---- Idempotence ----------------------------------------------------------

#[test]
fn idempotent_produce_duplicates_and_sequence_errors() {
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic("t", 2, 1).unwrap();
    let mut c = Client::to(&cluster, 1);
    for v in 0..=5 {
        let r: InitProducerIdResponse = c.call(v, &InitProducerIdRequest::default());
        assert_eq!((r.error_code, r.producer_id, r.producer_epoch), (0, 1000 + i64::from(v), 0));
    }
    let (pid, epoch) = init_producer_id(&mut c);
    assert_eq!((pid, epoch), (1006, 0));

    let b0 = values(3, "a", idempotent(pid, 0, 0));
    let b1 = values(2, "b", idempotent(pid, 0, 3));
    assert_eq!(produce(&mut c, "t", 0, b0.clone()), (KafkaCode::NONE, 0));
    assert_eq!(produce(&mut c, "t", 0, b1.clone()), (KafkaCode::NONE, 3));
    // The same batches again: duplicates, answered with their original offsets
    // and NONE, as Kafka does.
    assert_eq!(produce(&mut c, "t", 0, b0.clone()), (KafkaCode::NONE, 0));
    assert_eq!(produce(&mut c, "t", 0, b1.clone()), (KafkaCode::NONE, 3));
    cluster.set_duplicate_answer(DuplicateAnswer::DuplicateSequenceNumber);
    assert_eq!(produce(&mut c, "t", 0, b0), (KafkaCode::DUPLICATE_SEQUENCE_NUMBER, 0));
    assert_eq!(produce(&mut c, "t", 0, b1), (KafkaCode::DUPLICATE_SEQUENCE_NUMBER, 3));
    assert_eq!(cluster.log_end_offset("t", 0), Some(5), "duplicates are not appended");

    // A gap, and a batch overlapping the last one: out of order.
    assert_eq!(
        produce(&mut c, "t", 0, values(1, "c", idempotent(pid, 0, 6))).0,
        KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(
        produce(&mut c, "t", 0, values(2, "c", idempotent(pid, 0, 4))).0,
        KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(produce(&mut c, "t", 0, values(1, "c", idempotent(pid, 0, 5))), (KafkaCode::NONE, 5));

    // Sequences are per partition: partition 1 starts at 0, or anywhere (no state yet).
    assert_eq!(produce(&mut c, "t", 1, values(1, "p1", idempotent(pid, 0, 40))), (KafkaCode::NONE, 0));
    assert_eq!(produce(&mut c, "t", 1, values(1, "p1", idempotent(pid, 0, 41))), (KafkaCode::NONE, 1));

    // A new epoch must start at 0; then the old epoch is fenced.
    assert_eq!(
        produce(&mut c, "t", 0, values(1, "d", idempotent(pid, 1, 6))).0,
        KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(produce(&mut c, "t", 0, values(1, "d", idempotent(pid, 1, 0))), (KafkaCode::NONE, 6));
    assert_eq!(
        produce(&mut c, "t", 0, values(1, "e", idempotent(pid, 0, 6))).0,
        KafkaCode::INVALID_PRODUCER_EPOCH
    );

    let recs = cluster.records("t", 0);
    let seqs: Vec<(i16, i32)> = recs.iter().map(|r| (r.producer_epoch, r.sequence)).collect();
    assert_eq!(seqs, [(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 0)]);
    assert!(recs.iter().all(|r| r.producer_id == pid));
}

#[test]
fn the_window_holds_five_batches() {
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic("t", 1, 1).unwrap();
    let mut c = Client::to(&cluster, 1);
    let (pid, _) = init_producer_id(&mut c);
    let batches: Vec<Vec<u8>> = (0..6).map(|i| values(1, &format!("w{i}"), idempotent(pid, 0, i))).collect();
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(produce(&mut c, "t", 0, b.clone()), (KafkaCode::NONE, i as i64));
    }
    for (i, b) in batches.iter().enumerate().skip(1) {
        assert_eq!(
            produce(&mut c, "t", 0, b.clone()),
            (KafkaCode::NONE, i as i64),
            "batch {i} is in the window"
        );
    }
    assert_eq!(produce(&mut c, "t", 0, batches[0].clone()).0, KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(cluster.log_end_offset("t", 0), Some(6));
}

#[test]
fn unknown_producer_modern_and_legacy() {
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic("t", 2, 1).unwrap();
    let mut c = Client::to(&cluster, 1);
    // Kafka 2.5+: no state for the producer, any sequence goes.
    assert_eq!(produce(&mut c, "t", 0, values(1, "a", idempotent(77, 0, 999))), (KafkaCode::NONE, 0));
    cluster.set_legacy_unknown_producer_id(true);
    assert_eq!(
        produce(&mut c, "t", 1, values(1, "a", idempotent(77, 0, 999))).0,
        KafkaCode::UNKNOWN_PRODUCER_ID
    );
    assert_eq!(produce(&mut c, "t", 1, values(1, "a", idempotent(77, 0, 0))), (KafkaCode::NONE, 0));
}

#[test]
fn init_producer_id_epoch_bumps() {
    let cluster = MockCluster::start(1).unwrap();
    let mut c = Client::to(&cluster, 1);
    let (pid, _) = init_producer_id(&mut c);
    let bump = InitProducerIdRequest { producer_id: pid, producer_epoch: 0, ..Default::default() };
    // Kafka: a new id.
    let r = c.call(4, &bump);
    assert_eq!((r.producer_id, r.producer_epoch), (pid + 1, 0));
    cluster.set_bump_epoch_on_init(true);
    let r = c.call(4, &bump);
    assert_eq!((r.error_code, r.producer_id, r.producer_epoch), (0, pid, 1));
    // The same request again (its answer lost): Kafka answers the current epoch.
    let r = c.call(4, &bump);
    assert_eq!((r.error_code, r.producer_id, r.producer_epoch), (0, pid, 1));
    let stale = InitProducerIdRequest { producer_id: pid, producer_epoch: 7, ..Default::default() };
    assert_eq!(c.call(5, &stale).error_code, KafkaCode::PRODUCER_FENCED.0);
    assert_eq!(c.call(3, &stale).error_code, KafkaCode::INVALID_PRODUCER_EPOCH.0);
    let unknown = InitProducerIdRequest { producer_id: 5, producer_epoch: 0, ..Default::default() };
    assert_eq!(c.call(4, &unknown).error_code, KafkaCode::INVALID_PRODUCER_ID_MAPPING.0);
}

// ---- Leaders --------------------------------------------------------------

#[test]
fn not_leader_after_move_leader() {
    let cluster = MockCluster::start(3).unwrap();
    cluster.create_topic("t", 1, 2).unwrap();
    let mut b1 = Client::to(&cluster, 1);
    let mut b3 = Client::to(&cluster, 3);
    assert_eq!(produce(&mut b1, "t", 0, values(1, "a", BatchParams::default())), (KafkaCode::NONE, 0));
    cluster.move_leader("t", 0, 3).unwrap();
    assert_eq!((cluster.leader("t", 0), cluster.leader_epoch("t", 0)), (Some(3), Some(1)));

    let resp = b1.call(12, &produce_request(-1, "t", 0, values(1, "b", BatchParams::default())));
    let p = only(&resp);
    assert_eq!(p.error_code, KafkaCode::NOT_LEADER_OR_FOLLOWER.0);
    assert_eq!((p.current_leader.leader_id, p.current_leader.leader_epoch), (3, 1));
    let resp = b1.call(9, &produce_request(-1, "t", 0, values(1, "b", BatchParams::default())));
    assert_eq!(only(&resp).current_leader.leader_id, -1, "no current_leader below v10");

    let meta: MetadataResponse = b1.call(12, &MetadataRequest::for_topics(["t"]));
    let p = &meta.topics[0].partitions[0];
    assert_eq!((p.leader_id, p.leader_epoch), (3, 1));
    assert_eq!(p.replica_nodes, [3, 1, 2]);
    assert_eq!(produce(&mut b3, "t", 0, values(1, "b", BatchParams::default())), (KafkaCode::NONE, 1));
}

// ---- Fault injection ------------------------------------------------------

#[test]
fn injected_errors_come_in_order_then_success() {
    let cluster = MockCluster::start(2).unwrap();
    cluster.create_topic("t", 2, 1).unwrap();
    cluster.push_request_errors(PRODUCE, &[KafkaCode::NOT_ENOUGH_REPLICAS, KafkaCode::REQUEST_TIMED_OUT]);
    cluster.push_request_errors(METADATA, &[KafkaCode::LEADER_NOT_AVAILABLE]);
    cluster.push_request_errors(INIT_PRODUCER_ID, &[KafkaCode::COORDINATOR_LOAD_IN_PROGRESS]);
    cluster.push_request_errors(CREATE_TOPICS, &[KafkaCode::NOT_CONTROLLER]);
    assert_eq!(cluster.pending_faults(PRODUCE), 2);

    let mut b1 = Client::to(&cluster, 1);
    let mut b2 = Client::to(&cluster, 2);
    // Errors apply on any broker, in order, to every partition of the request.
    let both = ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            topic_id: [0; 16],
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(values(1, "x", BatchParams::default())),
            }],
        }],
    };
    let r = b1.call(11, &both);
    assert_eq!(only(&r).error_code, KafkaCode::NOT_ENOUGH_REPLICAS.0);
    assert_eq!(only(&r).base_offset, -1);
    assert_eq!(
        produce(&mut b2, "t", 1, values(1, "x", BatchParams::default())).0,
        KafkaCode::REQUEST_TIMED_OUT
    );
    assert_eq!(produce(&mut b1, "t", 0, values(1, "x", BatchParams::default())), (KafkaCode::NONE, 0));
    assert_eq!(cluster.log_end_offset("t", 0), Some(1));
    assert_eq!(cluster.log_end_offset("t", 1), Some(0));
    assert_eq!(cluster.request_count(PRODUCE), 3);
    assert_eq!(cluster.pending_faults(PRODUCE), 0);

    let m: MetadataResponse = b1.call(12, &MetadataRequest::for_topics(["t"]));
    assert_eq!(m.topics[0].error_code, KafkaCode::LEADER_NOT_AVAILABLE.0);
    let m: MetadataResponse = b1.call(12, &MetadataRequest::for_topics(["t"]));
    assert_eq!(m.topics[0].error_code, 0);

    let r: InitProducerIdResponse = b2.call(4, &InitProducerIdRequest::default());
    assert_eq!((r.error_code, r.producer_id), (KafkaCode::COORDINATOR_LOAD_IN_PROGRESS.0, -1));
    assert_eq!(init_producer_id(&mut b2).0, 1000, "the failed request handed out no id");

    let create = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: "new".into(),
            num_partitions: 1,
            replication_factor: 1,
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(b1.call(7, &create).topics[0].error_code, KafkaCode::NOT_CONTROLLER.0);
    assert_eq!(b1.call(7, &create).topics[0].error_code, 0);

    cluster.push_request_errors(PRODUCE, &[KafkaCode::KAFKA_STORAGE_ERROR]);
    cluster.clear_faults();
    assert_eq!(produce(&mut b1, "t", 0, values(1, "y", BatchParams::default())).0, KafkaCode::NONE);
}

#[test]
fn drop_before_processing_stores_nothing() {
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic("t", 1, 1).unwrap();
    let mut c = Client::to(&cluster, 1);
    let (pid, _) = init_producer_id(&mut c);
    cluster.drop_connection(PRODUCE, DropPoint::BeforeProcessing);
    let batch = values(2, "a", idempotent(pid, 0, 0));
    c.send(12, &produce_request(-1, "t", 0, batch.clone()));
    c.assert_closed();
    assert_eq!(cluster.log_end_offset("t", 0), Some(0));
    let mut c = Client::to(&cluster, 1);
    assert_eq!(produce(&mut c, "t", 0, batch), (KafkaCode::NONE, 0));
    assert_eq!(cluster.records("t", 0).len(), 2);
}

#[test]
fn drop_after_processing_stores_the_data_and_the_retry_is_a_duplicate() {
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic("t", 1, 1).unwrap();
    let mut c = Client::to(&cluster, 1);
    let (pid, _) = init_producer_id(&mut c);
    assert_eq!(produce(&mut c, "t", 0, values(1, "first", idempotent(pid, 0, 0))), (KafkaCode::NONE, 0));

    cluster.drop_connection(PRODUCE, DropPoint::AfterProcessing);
    let batch = values(3, "ambiguous", idempotent(pid, 0, 1));
    c.send(12, &produce_request(-1, "t", 0, batch.clone()));
    c.assert_closed();
    // The classic ambiguous case: no answer, yet the data IS stored.
    assert_eq!(cluster.log_end_offset("t", 0), Some(4));

    let mut c = Client::to(&cluster, 1);
    assert_eq!(
        produce(&mut c, "t", 0, batch),
        (KafkaCode::NONE, 1),
        "retry answered with the original offset"
    );
    assert_eq!(cluster.log_end_offset("t", 0), Some(4), "and not appended twice");
    assert_eq!(cluster.request_count(PRODUCE), 3);

    // Any API can be dropped.
    cluster.drop_connection(INIT_PRODUCER_ID, DropPoint::AfterProcessing);
    c.send(4, &InitProducerIdRequest::default());
    c.assert_closed();
    let mut c = Client::to(&cluster, 1);
    assert_eq!(init_producer_id(&mut c).0, pid + 2, "the dropped request did hand out an id");
}

#[test]
fn response_delays_per_broker_and_per_request() {
    let cluster = MockCluster::start(2).unwrap();
    let mut b1 = Client::to(&cluster, 1);
    let mut b2 = Client::to(&cluster, 2);
    // Generous margins: the test machine may be busy.
    let delay = Duration::from_millis(800);
    cluster.set_response_delay(1, delay).unwrap();
    let t = Instant::now();
    b1.call(12, &MetadataRequest::default());
    assert!(t.elapsed() >= delay, "{:?}", t.elapsed());
    let t = Instant::now();
    b2.call(12, &MetadataRequest::default());
    assert!(t.elapsed() < delay, "broker 2 is not delayed");
    cluster.set_response_delay(1, Duration::ZERO).unwrap();

    cluster.create_topic("t", 1, 1).unwrap();
    cluster.delay_next(PRODUCE, delay);
    let t = Instant::now();
    let cid = b1.send(12, &produce_request(-1, "t", 0, values(1, "late", BatchParams::default())));
    // Processed at once, answered late.
    wait_until("the delayed batch is stored", || cluster.log_end_offset("t", 0) == Some(1));
    assert!(t.elapsed() < delay);
    let (h, resp) = b1.recv::<ProduceRequest>(12);
    assert_eq!((h.correlation_id, only(&resp).error_code), (cid, 0));
    assert!(t.elapsed() >= delay);
    // Only the next request was delayed.
    let t = Instant::now();
    produce(&mut b1, "t", 0, values(1, "prompt", BatchParams::default()));
    assert!(t.elapsed() < delay);
}

#[test]
fn stalled_requests_are_never_answered() {
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic("t", 1, 1).unwrap();
    let mut c = Client::to(&cluster, 1);
    cluster.stall(PRODUCE, DropPoint::AfterProcessing);
    c.send(12, &produce_request(-1, "t", 0, values(1, "a", BatchParams::default())));
    c.assert_silent(Duration::from_millis(300));
    assert_eq!(cluster.log_end_offset("t", 0), Some(1), "processed, never answered");
    // Nothing more is answered on that connection.
    c.send(12, &MetadataRequest::default());
    c.assert_silent(Duration::from_millis(200));
    // The client gives up and reconnects: a fresh connection works.
    drop(c);
    let mut c = Client::to(&cluster, 1);
    cluster.stall(PRODUCE, DropPoint::BeforeProcessing);
    c.send(12, &produce_request(-1, "t", 0, values(1, "b", BatchParams::default())));
    c.assert_silent(Duration::from_millis(200));
    assert_eq!(cluster.log_end_offset("t", 0), Some(1), "not processed");
    wait_until("the first stalled connection is gone", || cluster.connection_count(1) == 1);

    // A broker that never answers: a huge response delay, cut short by shutdown.
    cluster.set_response_delay(1, Duration::MAX).unwrap();
    let mut d = Client::to(&cluster, 1);
    d.send(12, &MetadataRequest::default());
    d.assert_silent(Duration::from_millis(200));
    let t = Instant::now();
    cluster.shutdown();
    assert!(t.elapsed() < Duration::from_secs(2), "shutdown waited {:?}", t.elapsed());
    d.assert_closed();
}

#[test]
fn broker_down_and_up() {
    let cluster = MockCluster::start(2).unwrap();
    cluster.create_topic("t", 2, 1).unwrap();
    let addr = cluster.broker_address(2).unwrap();
    let mut b2 = Client::to(&cluster, 2);
    b2.call(12, &MetadataRequest::default());
    wait_until("broker 2 sees one connection", || cluster.connection_count(2) == 1);

    cluster.broker_down(2).unwrap();
    assert!(!cluster.is_broker_up(2) && cluster.is_broker_up(1));
    b2.assert_closed();
    assert!(TcpStream::connect_timeout(&addr, TIMEOUT).is_err(), "connections are refused");
    wait_until("broker 2's connections are gone", || cluster.connection_count(2) == 0);

    // Broker 1 still lists broker 2 and its leadership, like a crashed broker.
    let mut b1 = Client::to(&cluster, 1);
    let m: MetadataResponse = b1.call(12, &MetadataRequest::for_topics(["t"]));
    assert_eq!(m.brokers.len(), 2);
    assert_eq!(m.topics[0].partitions[1].leader_id, 2);
    cluster.broker_down(2).unwrap(); // idempotent

    cluster.broker_up(2).unwrap();
    cluster.broker_up(2).unwrap(); // idempotent
    assert_eq!(cluster.broker_address(2), Some(addr));
    let mut b2 = Client::connect(addr);
    assert_eq!(produce(&mut b2, "t", 1, values(1, "back", BatchParams::default())), (KafkaCode::NONE, 0));
}

#[test]
fn malformed_responses() {
    let cluster = MockCluster::start(1).unwrap();
    let mut c = Client::to(&cluster, 1);

    cluster.send_malformed_response(METADATA, Malformation::WrongCorrelationId);
    let cid = c.send(12, &MetadataRequest::default());
    let (h, _) = c.recv::<MetadataRequest>(12);
    assert_ne!(h.correlation_id, cid);

    for how in [Malformation::TruncatedBody, Malformation::Garbage] {
        cluster.send_malformed_response(METADATA, how);
        c.send(12, &MetadataRequest::default());
        let frame = c.read().expect("a complete frame");
        assert!(decode_response::<MetadataRequest>(&frame, 12).is_err(), "{how:?} decoded");
    }
    // The connection stays usable after those.
    c.call(12, &MetadataRequest::default());

    cluster.send_malformed_response(METADATA, Malformation::ShortFrame);
    c.send(12, &MetadataRequest::default());
    assert_eq!(c.read().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);

    let mut c = Client::to(&cluster, 1);
    cluster.send_malformed_response(API_VERSIONS, Malformation::HugeSizePrefix);
    c.send(3, &ApiVersionsRequest::default());
    assert_eq!(c.read().unwrap_err().kind(), io::ErrorKind::InvalidData, "the max-frame guard fires");
    // Each fault was used once.
    let mut c = Client::to(&cluster, 1);
    c.call(3, &ApiVersionsRequest::default());
}

// ---- Admin APIs -----------------------------------------------------------

#[test]
fn create_and_delete_topics_over_the_wire() {
    let cluster = MockCluster::start(3).unwrap();
    let mut c = Client::to(&cluster, 1);
    let topic = |name: &str, p: i32, r: i16| CreatableTopic {
        name: name.into(),
        num_partitions: p,
        replication_factor: r,
        ..Default::default()
    };
    let req = CreateTopicsRequest {
        topics: vec![
            topic("a", 3, 2),
            topic("b", -1, -1),
            topic("bad/name", 1, 1),
            topic("c", 1, 4),
            topic("d", 0, 1),
            CreatableTopic {
                configs: vec![CreatableTopicConfig {
                    name: "max.message.bytes".into(),
                    value: Some("x".into()),
                }],
                ..topic("e", 1, 1)
            },
        ],
        ..Default::default()
    };
    let resp = c.call(7, &req);
    let codes: Vec<i16> = resp.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        [
            0,
            0,
            KafkaCode::INVALID_TOPIC_EXCEPTION.0,
            KafkaCode::INVALID_REPLICATION_FACTOR.0,
            KafkaCode::INVALID_PARTITIONS.0,
            KafkaCode::INVALID_CONFIG.0
        ]
    );
    assert_eq!((resp.topics[0].num_partitions, resp.topics[0].replication_factor), (3, 2));
    assert_eq!((resp.topics[1].num_partitions, resp.topics[1].replication_factor), (1, 1));
    assert_ne!(resp.topics[0].topic_id, [0; 16]);
    assert!(resp.topics[2].error_message.is_some());
    assert_eq!(cluster.topics(), ["a", "b"]);
    // v2-v3: -1 needs a manual assignment; the name now exists.
    let resp = c.call(
        2,
        &CreateTopicsRequest { topics: vec![topic("f", -1, -1), topic("a", 1, 1)], ..Default::default() },
    );
    assert_eq!(resp.topics[0].error_code, KafkaCode::INVALID_PARTITIONS.0);
    assert_eq!(resp.topics[1].error_code, KafkaCode::TOPIC_ALREADY_EXISTS.0);
    let only_check =
        CreateTopicsRequest { topics: vec![topic("g", 2, 1)], validate_only: true, ..Default::default() };
    assert_eq!(c.call(5, &only_check).topics[0].error_code, 0);
    assert_eq!(cluster.topics(), ["a", "b"], "validate_only creates nothing");

    let resp = c.call(5, &DeleteTopicsRequest::for_names(["a".to_string(), "zz".to_string()], 1000, 5));
    let codes: Vec<i16> = resp.responses.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, [0, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION.0]);
    let m: MetadataResponse = c.call(12, &MetadataRequest::for_topics(["b"]));
    let id = m.topics[0].topic_id;
    let by_id = DeleteTopicsRequest {
        topics: vec![
            DeleteTopicState { name: None, topic_id: id },
            DeleteTopicState { name: None, topic_id: [9; 16] },
        ],
        ..Default::default()
    };
    let resp = c.call(6, &by_id);
    assert_eq!(resp.responses[0].error_code, 0);
    assert_eq!(resp.responses[0].name.as_deref(), Some("b"));
    assert_eq!(resp.responses[1].error_code, KafkaCode::UNKNOWN_TOPIC_ID.0);
    assert!(cluster.topics().is_empty());
}

// ---- Observing ------------------------------------------------------------

#[test]
fn request_log_records_every_request() {
    let cluster = MockCluster::start(2).unwrap();
    let mut b1 = Client::to(&cluster, 1);
    let mut b2 = Client::to(&cluster, 2);
    b1.call(3, &ApiVersionsRequest::default());
    b2.call(9, &MetadataRequest::default());
    cluster.push_request_errors(METADATA, &[KafkaCode::UNKNOWN_SERVER_ERROR]);
    b2.call(12, &MetadataRequest::default());
    let log = cluster.requests();
    let summary: Vec<(i32, i16, i16, i32)> =
        log.iter().map(|e| (e.broker, e.api_key, e.api_version, e.correlation_id)).collect();
    assert_eq!(summary, [(1, API_VERSIONS, 3, 1), (2, METADATA, 9, 1), (2, METADATA, 12, 2)]);
    assert!(log.iter().all(|e| e.client_id.as_deref() == Some("mock-test")));
    assert_eq!(cluster.request_count(METADATA), 2);
    cluster.clear_request_log();
    assert_eq!(cluster.request_count(METADATA), 0);
    assert!(cluster.requests().is_empty());
}

#[test]
fn concurrent_producers_get_contiguous_offsets() {
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic("t", 1, 1).unwrap();
    thread::scope(|s| {
        for t in 0..4 {
            let cluster = &cluster;
            s.spawn(move || {
                let mut c = Client::to(cluster, 1);
                let (pid, _) = init_producer_id(&mut c);
                for i in 0..25 {
                    let (code, _) =
                        produce(&mut c, "t", 0, values(2, &format!("{t}-{i}"), idempotent(pid, 0, i * 2)));
                    assert_eq!(code, KafkaCode::NONE);
                }
            });
        }
    });
    let recs = cluster.records("t", 0);
    assert_eq!(recs.len(), 200);
    assert!(recs.iter().enumerate().all(|(i, r)| r.offset == i as i64));
    // Each producer's records are in its own order.
    for pid in 1000..1004 {
        let seqs: Vec<i32> = recs.iter().filter(|r| r.producer_id == pid).map(|r| r.sequence).collect();
        assert_eq!(seqs, (0..50).collect::<Vec<_>>());
    }
}

// ---- Hostile input --------------------------------------------------------

#[test]
fn hostile_input_closes_the_connection_and_the_mock_survives() {
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic("t", 1, 1).unwrap();
    let addr = cluster.broker_address(1).unwrap();

    // Unknown API key, truncated header, huge size prefix, negative size,
    // unsupported Produce version, trailing bytes after a valid body, an API
    // a plaintext listener does not serve (SaslHandshake; tests/mock_security.rs
    // covers the SASL listener).
    let cases: Vec<Vec<u8>> = vec![
        vec![0, 1, 0, 0, 0, 0, 0, 1, 0xff, 0xff],
        vec![0, 3],
        vec![0x7f, 0xff, 0xff, 0xff],
        vec![0xff, 0xff, 0xff, 0xfe],
        vec![0, 0, 0, 2, 0, 0, 0, 1, 0, 0],
        {
            let mut b = Vec::new();
            encode_request(&mut b, 1, None, 12, &MetadataRequest::default()).unwrap();
            b.push(0);
            b.split_off(4)
        },
        {
            let mut b = Vec::new();
            encode_request(&mut b, 1, None, 1, &SaslHandshakeRequest::new("PLAIN")).unwrap();
            b.split_off(4)
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let mut c = Client::connect(addr);
        if i == 2 || i == 3 {
            c.stream.write_all(case).unwrap();
        } else {
            write_raw(&mut c, case);
        }
        c.assert_closed();
    }

    // Random frames: deterministic xorshift, some starting with real API keys.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..200 {
        let len = (next() % 200) as usize;
        let mut payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if payload.len() >= 4 {
            let keys = [
                PRODUCE,
                METADATA,
                API_VERSIONS,
                CREATE_TOPICS,
                20,
                INIT_PRODUCER_ID,
                SASL_HANDSHAKE,
                SASL_AUTHENTICATE,
            ];
            payload[..2].copy_from_slice(&keys[i % keys.len()].to_be_bytes());
            payload[2..4].copy_from_slice(&((next() % 14) as i16).to_be_bytes());
        }
        let mut c = Client::connect(addr);
        c.stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        write_raw(&mut c, &payload);
        // Either an answer (a lucky valid request) or a closed connection.
        let _ = c.read();
    }
    // Produce with a batch that lies about its record count.
    let mut batch = values(2, "x", BatchParams::default());
    batch[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    let mut c = Client::connect(addr);
    assert_eq!(produce(&mut c, "t", 0, batch).0, KafkaCode::CORRUPT_MESSAGE);

    let mut c = Client::connect(addr);
    assert_eq!(c.call(3, &ApiVersionsRequest::default()).error_code, 0);
    assert_eq!(
        produce(&mut c, "t", 0, values(1, "still here", BatchParams::default())),
        (KafkaCode::NONE, 0)
    );
}

#[test]
fn dropping_the_cluster_stops_everything() {
    let cluster = MockCluster::start(3).unwrap();
    let addrs: Vec<SocketAddr> =
        cluster.broker_ids().iter().map(|&id| cluster.broker_address(id).unwrap()).collect();
    assert_eq!(
        cluster.bootstrap_servers(),
        addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",")
    );
    let mut clients: Vec<Client> = addrs.iter().map(|a| Client::connect(*a)).collect();
    cluster.stall(METADATA, DropPoint::BeforeProcessing);
    clients[0].send(12, &MetadataRequest::default());
    cluster.delay_next(API_VERSIONS, Duration::from_secs(60));
    clients[1].send(3, &ApiVersionsRequest::default());
    thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    drop(cluster);
    assert!(t.elapsed() < Duration::from_secs(2), "drop waited {:?}", t.elapsed());
    for c in &mut clients {
        c.assert_closed();
    }
    for a in addrs {
        assert!(TcpStream::connect_timeout(&a, TIMEOUT).is_err());
    }
}
