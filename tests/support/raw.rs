//! A minimal Kafka client written from the crate's wire codec alone (raw
//! TCP, `protocol::frame`, `record_batch::RecordBatchWriter`), for the tests
//! that drive the mock cluster request by request. Loopback only; every
//! socket has a timeout so no test can hang.

#![allow(dead_code)]

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use kafka_sync::mock::MockCluster;
use kafka_sync::protocol::compression::Compression;
use kafka_sync::protocol::frame::{decode_response, encode_request, read_frame};
use kafka_sync::protocol::header::ResponseHeader;
use kafka_sync::protocol::messages::init_producer_id::InitProducerIdRequest;
use kafka_sync::protocol::messages::produce::{
    PartitionProduceData, PartitionProduceResponse, ProduceRequest, ProduceResponse, TopicProduceData,
};
use kafka_sync::protocol::record_batch::{BatchParams, Header, RecordBatchWriter};
use kafka_sync::protocol::Request;
use kafka_sync::KafkaCode;

pub const TIMEOUT: Duration = Duration::from_secs(5);
pub const MAX_FRAME: usize = 16 << 20;

/// A minimal Kafka client: one connection, requests answered in order.
pub struct Client {
    pub stream: TcpStream,
    next_correlation_id: i32,
    frame: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect to the mock");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        Client { stream, next_correlation_id: 1, frame: Vec::new() }
    }

    pub fn to(cluster: &MockCluster, broker: i32) -> Client {
        Client::connect(cluster.broker_address(broker).unwrap())
    }

    /// Sends a request; returns its correlation id.
    pub fn send<R: Request>(&mut self, version: i16, req: &R) -> i32 {
        let cid = self.next_correlation_id;
        self.next_correlation_id += 1;
        let mut buf = Vec::new();
        encode_request(&mut buf, cid, Some("mock-test"), version, req).unwrap();
        self.stream.write_all(&buf).unwrap();
        cid
    }

    pub fn read(&mut self) -> io::Result<Vec<u8>> {
        read_frame(&mut self.stream, MAX_FRAME, &mut self.frame)?;
        Ok(self.frame.clone())
    }

    pub fn recv<R: Request>(&mut self, version: i16) -> (ResponseHeader, R::Response) {
        let frame = self.read().expect("a response");
        decode_response::<R>(&frame, version).expect("a decodable response")
    }

    /// Sends a request and reads its response, checking the correlation id.
    pub fn call<R: Request>(&mut self, version: i16, req: &R) -> R::Response {
        let cid = self.send(version, req);
        let (h, resp) = self.recv::<R>(version);
        assert_eq!(h.correlation_id, cid);
        resp
    }

    /// Asserts that the broker closed the connection (EOF or reset, not a timeout).
    pub fn assert_closed(&mut self) {
        match self.read() {
            Ok(f) => panic!("expected the connection to be closed, got a {}-byte frame", f.len()),
            Err(e) => assert!(
                !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut),
                "expected a closed connection, got a timeout: {e}"
            ),
        }
    }

    /// Asserts that nothing arrives within `wait`.
    pub fn assert_silent(&mut self, wait: Duration) {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        match self.read() {
            Ok(f) => panic!("expected silence, got a {}-byte frame", f.len()),
            Err(e) => assert!(matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut), "{e}"),
        }
        self.stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
}

/// A record to write: key, value, headers.
pub type Rec<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, Vec<Header>);

pub fn record_batch(records: &[Rec<'_>], ts: i64, params: BatchParams) -> Vec<u8> {
    batch_with(records, ts, params, Compression::None)
}

pub fn batch_with(records: &[Rec<'_>], ts: i64, params: BatchParams, codec: Compression) -> Vec<u8> {
    let mut w = RecordBatchWriter::new(Vec::new(), ts);
    for (i, (k, v, h)) in records.iter().enumerate() {
        w.append(ts + i as i64, *k, *v, h);
    }
    w.finish(&params, codec, None).unwrap()
}

/// A batch of `n` records with values `"{tag}-{i}"` and no keys.
pub fn values(n: usize, tag: &str, params: BatchParams) -> Vec<u8> {
    let vals: Vec<String> = (0..n).map(|i| format!("{tag}-{i}")).collect();
    let recs: Vec<_> = vals.iter().map(|v| (None, Some(v.as_bytes()), Vec::new())).collect();
    record_batch(&recs, 1_700_000_000_000, params)
}

pub fn idempotent(producer_id: i64, producer_epoch: i16, base_sequence: i32) -> BatchParams {
    BatchParams { producer_id, producer_epoch, base_sequence, ..Default::default() }
}

pub fn produce_request(acks: i16, topic: &str, partition: i32, batch: Vec<u8>) -> ProduceRequest {
    ProduceRequest {
        transactional_id: None,
        acks,
        timeout_ms: 5_000,
        topic_data: vec![TopicProduceData {
            name: topic.into(),
            topic_id: [0; 16],
            partition_data: vec![PartitionProduceData { index: partition, records: Some(batch) }],
        }],
    }
}

pub fn only(resp: &ProduceResponse) -> &PartitionProduceResponse {
    assert_eq!(resp.responses.len(), 1);
    assert_eq!(resp.responses[0].partition_responses.len(), 1);
    &resp.responses[0].partition_responses[0]
}

/// Produces one batch at v12 with acks=-1 and returns (error code, base offset).
pub fn produce(c: &mut Client, topic: &str, partition: i32, batch: Vec<u8>) -> (KafkaCode, i64) {
    let resp = c.call(12, &produce_request(-1, topic, partition, batch));
    let p = only(&resp);
    (KafkaCode(p.error_code), p.base_offset)
}

pub fn init_producer_id(c: &mut Client) -> (i64, i16) {
    let r = c.call(4, &InitProducerIdRequest::default());
    assert_eq!(r.error_code, 0);
    (r.producer_id, r.producer_epoch)
}

pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Writes a raw frame (`payload` after a correct size prefix).
pub fn write_raw(c: &mut Client, payload: &[u8]) {
    let mut buf = (payload.len() as i32).to_be_bytes().to_vec();
    buf.extend_from_slice(payload);
    c.stream.write_all(&buf).unwrap();
}
