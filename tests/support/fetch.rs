//! A raw Fetch reader: a partition's log exactly as the broker stores it,
//! transaction control batches (COMMIT/ABORT markers) included, which
//! consumers such as librdkafka's never hand to applications.
//!
//! Requests and responses are encoded and decoded by the `kafka-protocol`
//! crate (generated from Kafka's JSON schemas), record batches by its
//! `RecordBatchDecoder`: nothing of this crate's own codec is used, so what
//! the tests read here is independent of what they test.
//!
//! One plain `TcpStream` to the broker given (single-broker clusters: no
//! leader lookup): ApiVersions v0 (to pick the Fetch version, the highest
//! both sides have up to [`MAX_FETCH_VERSION`]), Metadata (the partition must
//! exist: tansu answers a Fetch of an unknown topic with an empty partition),
//! then Fetch from offset 0 until the end. Every call is bounded by its
//! `timeout` (connect, each read and write) and by [`MAX_REQUESTS`] requests.
//!
//! What the brokers do (tansu 0.6.0, librdkafka 2.12's mock; see
//! tests/fetch_helper.rs): both advertise Fetch up to v16 or v17, so v12 is
//! used; both report the last stable offset (the mock's stays at the high
//! watermark even while a transaction is open); neither lists aborted
//! transactions; only tansu writes transaction markers.
//!
//! Limitation: `kafka-protocol` keeps a record's headers in a map, so a record
//! with the same header key twice comes back with one of them.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerId, FetchRequest, FetchResponse, MetadataRequest, MetadataResponse,
    RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{
    Decodable, Encodable, HeaderVersion, Message, Request, StrBytes, VersionRange,
};
use kafka_protocol::records::RecordBatchDecoder;

/// The most requests one [`fetch_partition`] sends (ApiVersions and Metadata included).
pub const MAX_REQUESTS: usize = 200;

/// The highest Fetch version asked for: v13+ name topics by id only.
pub const MAX_FETCH_VERSION: i16 = 12;

/// The Metadata versions used to check that the partition exists: v4 has
/// `allow_auto_topic_creation`; librdkafka 2.12's mock cluster answers the
/// flexible ones (v9+) with one byte too many, so not those.
const METADATA_VERSIONS: (i16, i16) = (4, 8);

/// `max_bytes` and `partition_max_bytes` of every Fetch request.
pub const FETCH_MAX_BYTES: i32 = 4 << 20;

/// Responses larger than this are refused (a garbled size field).
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// How long the broker may hold a Fetch for `min_bytes` (1) to arrive.
const MAX_WAIT_MS: i32 = 100;

/// Pause before asking again after an empty answer or a retriable error.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Partition errors worth asking again for (the topic or its leader may be
/// settling right after creation): UNKNOWN_TOPIC_OR_PARTITION,
/// LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER, REPLICA_NOT_AVAILABLE,
/// UNKNOWN_LEADER_EPOCH.
const RETRIABLE: [i16; 5] = [3, 5, 6, 9, 74];

/// Bytes of a v2 record batch before its `batchLength` field ends (baseOffset
/// i64, batchLength i32); `batchLength` counts the bytes after it.
const BATCH_LOG_OVERHEAD: usize = 12;

/// One record of the log, data or control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedRecord {
    pub offset: i64,
    /// From a control batch (a transaction marker, for instance).
    pub is_control: bool,
    /// From a transactional batch.
    pub is_transactional: bool,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The batch's base sequence plus the record's offset delta; -1 when the
    /// batch has no sequence.
    pub sequence: i32,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Headers in order (one per key, see the module docs).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl FetchedRecord {
    /// For a control record: `Some(true)` for a COMMIT marker, `Some(false)`
    /// for ABORT (the key is version i16, type i16: 0 abort, 1 commit).
    /// `None` for data records, and for control records of other types or
    /// with a key too short to hold a type.
    pub fn marker(&self) -> Option<bool> {
        if !self.is_control {
            return None;
        }
        match self.key.as_deref()? {
            [_, _, 0, 0, ..] => Some(false),
            [_, _, 0, 1, ..] => Some(true),
            _ => None,
        }
    }
}

/// A partition's log as one broker served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPartition {
    /// The high watermark of the last Fetch answer.
    pub high_watermark: i64,
    /// The last stable offset of the last Fetch answer (-1 when the broker
    /// does not report one).
    pub last_stable_offset: i64,
    /// Aborted transactions the broker listed, as (producer id, first
    /// offset), in the order first seen, without repeats. Kafka lists them
    /// for read_committed fetches only; tansu 0.6.0 and librdkafka's mock
    /// never do.
    pub aborted: Vec<(i64, i64)>,
    /// Every record from offset 0 in offset order, control records included,
    /// aborted ones included (filtering is the consumer's job).
    pub records: Vec<FetchedRecord>,
}

/// Fetches every record of `topic`/`partition` from offset 0 to the end with
/// `isolation_level` (0 = read_uncommitted, 1 = read_committed), from the
/// broker at `bootstrap` (one "host:port"; the partition's leader).
///
/// The end is the high watermark; for read_committed, the last stable offset
/// when the broker reports one below it (brokers serve nothing past it).
/// At most [`MAX_REQUESTS`] requests and `timeout` in all; `Err` says why it
/// stopped, where, and how many records it had read.
pub fn fetch_partition(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    isolation_level: i8,
    timeout: Duration,
) -> Result<FetchedPartition, String> {
    let what = format!("fetch_partition({bootstrap}, {topic}/{partition}, isolation {isolation_level})");
    if !matches!(isolation_level, 0 | 1) {
        return Err(format!("{what}: isolation level must be 0 or 1"));
    }
    let mut conn = Conn::connect(bootstrap, Instant::now() + timeout).map_err(|e| format!("{what}: {e}"))?;
    let versions = conn.versions().map_err(|e| format!("{what}: {e}"))?;
    let version = versions.fetch;
    // Retriable Metadata errors: the topic may be settling after creation.
    loop {
        match conn.check_partition(versions.metadata, topic, partition) {
            Ok(Ok(())) => break,
            Ok(Err(_)) if conn.left() > RETRY_PAUSE => std::thread::sleep(RETRY_PAUSE),
            Ok(Err(why)) => {
                return Err(format!(
                    "{what}: Metadata v{}: {why}, retried for {timeout:?}",
                    versions.metadata
                ))
            }
            Err(why) => return Err(format!("{what}: Metadata v{}: {why}", versions.metadata)),
        }
    }
    let mut out = FetchedPartition {
        high_watermark: -1,
        last_stable_offset: -1,
        aborted: Vec::new(),
        records: Vec::new(),
    };
    let mut next = 0i64;
    // Why the last answer did not move us on, for the error when the budget runs out.
    let mut waiting = String::new();
    loop {
        let at = format!("{what}: Fetch v{version} at offset {next}");
        let failed =
            |e: String, waiting: &str, read: usize| format!("{at}: {e}{waiting} ({read} records read)");
        let answer = conn.fetch(version, topic, partition, isolation_level, next);
        let p = match answer.map_err(|e| failed(e, &waiting, out.records.len()))? {
            Ok(p) => p,
            Err(code) => {
                waiting = format!("; the last answer had the retriable error code {code}");
                std::thread::sleep(RETRY_PAUSE.min(conn.left()));
                continue;
            }
        };
        out.high_watermark = p.high_watermark;
        out.last_stable_offset = p.last_stable_offset;
        for t in p.aborted {
            if !out.aborted.contains(&t) {
                out.aborted.push(t);
            }
        }
        let end = match (isolation_level, p.last_stable_offset) {
            (1, lso) if lso >= 0 => lso.min(p.high_watermark),
            _ => p.high_watermark,
        };
        let decoded = decode_batches(&p.records, next, &mut out.records);
        let progressed = match decoded.map_err(|e| failed(e, &waiting, out.records.len()))? {
            Some(after) if after > next => {
                next = after;
                true
            }
            // Only batches already read.
            Some(_) => false,
            None if !p.records.is_empty() => {
                let e = format!(
                    "{} bytes of records but no whole batch (one larger than {FETCH_MAX_BYTES} bytes?)",
                    p.records.len()
                );
                return Err(failed(e, &waiting, out.records.len()));
            }
            None => false,
        };
        if next >= end {
            return Ok(out);
        }
        if !progressed {
            // Nothing new below the end yet: ask again.
            waiting = format!("; the last answer had no records from offset {next} (the end is {end})");
            std::thread::sleep(RETRY_PAUSE.min(conn.left()));
        }
    }
}

/// The broker's Fetch versions (min, max) from ApiVersions v0, and the one
/// [`fetch_partition`] uses with it.
pub fn fetch_versions(bootstrap: &str, timeout: Duration) -> Result<((i16, i16), i16), String> {
    let mut conn = Conn::connect(bootstrap, Instant::now() + timeout)?;
    conn.versions().map(|v| (v.fetch_range, v.fetch))
}

/// The versions one [`fetch_partition`] uses.
struct Versions {
    /// The broker's Fetch versions (min, max).
    fetch_range: (i16, i16),
    fetch: i16,
    metadata: i16,
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_owned()))
}

/// What one Fetch answered for the partition.
struct PartitionAnswer {
    high_watermark: i64,
    last_stable_offset: i64,
    aborted: Vec<(i64, i64)>,
    records: Bytes,
}

/// Decodes the whole v2 batches of `records` into `out` (records below
/// `from` skipped: a broker may answer with the batch that holds `from`) and
/// returns the offset after the last whole batch, or `None` when there was no
/// whole batch. A trailing partial batch (brokers cut the answer at the byte
/// limit) is left out; the next Fetch starts where it begins.
fn decode_batches(records: &Bytes, from: i64, out: &mut Vec<FetchedRecord>) -> Result<Option<i64>, String> {
    let mut pos = 0;
    let mut after = None;
    while records.len() - pos >= BATCH_LOG_OVERHEAD {
        let base_offset = i64::from_be_bytes(records[pos..pos + 8].try_into().unwrap());
        let length = i32::from_be_bytes(records[pos + 8..pos + 12].try_into().unwrap());
        let length =
            usize::try_from(length).map_err(|_| format!("batch at offset {base_offset}: length {length}"))?;
        let end = pos + BATCH_LOG_OVERHEAD + length;
        if end > records.len() {
            break;
        }
        // partitionLeaderEpoch i32, magic i8, crc u32, attributes i16, lastOffsetDelta i32.
        let header = &records[pos + BATCH_LOG_OVERHEAD..end];
        if header.len() < 15 {
            return Err(format!("batch at offset {base_offset}: {length} bytes is too short"));
        }
        if header[4] != 2 {
            return Err(format!(
                "batch at offset {base_offset}: magic {} (only v2 batches are read)",
                header[4]
            ));
        }
        let last_offset_delta = i32::from_be_bytes(header[11..15].try_into().unwrap());
        let batch = records.slice(pos..end);
        let undecodable = |e: &dyn std::fmt::Display| {
            format!("kafka-protocol cannot decode the batch at offset {base_offset}: {e:#}")
        };
        let base_sequence = match RecordBatchDecoder::decode_batch_info(&mut batch.clone())
            .map_err(|e| undecodable(&e))?[..]
        {
            [ref info] => info.base_sequence,
            ref infos => return Err(format!("batch at offset {base_offset}: {} batch headers", infos.len())),
        };
        let set = RecordBatchDecoder::decode(&mut batch.clone()).map_err(|e| undecodable(&e))?;
        for r in set.records.into_iter().filter(|r| r.offset >= from) {
            if let Some(prev) = out.last() {
                if r.offset <= prev.offset {
                    return Err(format!("offset {} after offset {}", r.offset, prev.offset));
                }
            }
            out.push(FetchedRecord {
                offset: r.offset,
                is_control: r.control,
                is_transactional: r.transactional,
                producer_id: r.producer_id,
                producer_epoch: r.producer_epoch,
                sequence: sequence(base_sequence, r.offset - base_offset),
                key: r.key.map(|k| k.to_vec()),
                value: r.value.map(|v| v.to_vec()),
                headers: r.headers.into_iter().map(|(k, v)| (k.to_string(), v.map(|v| v.to_vec()))).collect(),
            });
        }
        after = Some(base_offset + i64::from(last_offset_delta) + 1);
        pos = end;
    }
    Ok(after)
}

/// A record's sequence: the batch's base sequence plus its offset delta,
/// wrapping from `i32::MAX` to 0 as Kafka's do; -1 when the batch has none.
fn sequence(base_sequence: i32, offset_delta: i64) -> i32 {
    if base_sequence < 0 {
        return -1;
    }
    ((i64::from(base_sequence) + offset_delta) % (i64::from(i32::MAX) + 1)) as i32
}

/// A connection to one broker, with the request budget and deadline of one
/// [`fetch_partition`] call.
struct Conn {
    stream: TcpStream,
    deadline: Instant,
    requests: usize,
    correlation_id: i32,
}

impl Conn {
    fn connect(bootstrap: &str, deadline: Instant) -> Result<Conn, String> {
        if bootstrap.contains(',') {
            return Err(String::from("one broker \"host:port\" expected, not a list"));
        }
        let addrs: Vec<SocketAddr> =
            bootstrap.to_socket_addrs().map_err(|e| format!("cannot resolve {bootstrap}: {e}"))?.collect();
        let mut last = format!("{bootstrap} resolves to no address");
        for addr in addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match TcpStream::connect_timeout(&addr, left) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(Conn { stream, deadline, requests: 0, correlation_id: 0 });
                }
                Err(e) => last = format!("cannot connect to {addr}: {e}"),
            }
        }
        Err(last)
    }

    /// Time left before the deadline.
    fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Sends `request` at `version` and reads its response, within the
    /// deadline and the request budget.
    fn call<R: Request>(&mut self, request: &R, version: i16) -> Result<R::Response, String> {
        let key = ApiKey::try_from(R::KEY).map_err(|_| format!("unknown API key {}", R::KEY))?;
        let name = format!("{key:?} v{version}");
        if self.requests >= MAX_REQUESTS {
            return Err(format!("{MAX_REQUESTS} requests sent, not done"));
        }
        self.requests += 1;
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("kafka-sync-tests-fetch")));
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0; 4]);
        header
            .encode(&mut buf, R::header_version(version))
            .map_err(|e| format!("encoding the {name} header: {e}"))?;
        request.encode(&mut buf, version).map_err(|e| format!("encoding {name}: {e}"))?;
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        self.io(|s| s.write_all(&buf)).map_err(|e| format!("sending {name}: {e}"))?;

        let mut size = [0u8; 4];
        self.io(|s| s.read_exact(&mut size)).map_err(|e| format!("reading the {name} response size: {e}"))?;
        let size = i32::from_be_bytes(size);
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s <= MAX_RESPONSE_BYTES)
            .ok_or_else(|| format!("{name} response size {size}"))?;
        let mut body = vec![0u8; size];
        self.io(|s| s.read_exact(&mut body)).map_err(|e| format!("reading the {name} response: {e}"))?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .map_err(|e| format!("decoding the {name} response header: {e:#}"))?;
        if header.correlation_id != self.correlation_id {
            return Err(format!(
                "{name}: correlation id {} for {}",
                header.correlation_id, self.correlation_id
            ));
        }
        let response = R::Response::decode(&mut body, version)
            .map_err(|e| format!("decoding the {name} response: {e:#}"))?;
        if body.has_remaining() {
            return Err(format!("{name} response: {} bytes left after decoding", body.remaining()));
        }
        Ok(response)
    }

    /// Runs one socket operation with the time left as its timeout.
    fn io(&mut self, op: impl FnOnce(&mut TcpStream) -> std::io::Result<()>) -> Result<(), String> {
        let left = self.left();
        if left.is_zero() {
            return Err(String::from("timed out"));
        }
        self.stream.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        self.stream.set_write_timeout(Some(left)).map_err(|e| e.to_string())?;
        op(&mut self.stream).map_err(|e| match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => format!("timed out ({e})"),
            _ => e.to_string(),
        })
    }

    /// Asks ApiVersions v0 and picks the highest Fetch version the broker and
    /// kafka-protocol share, at most [`MAX_FETCH_VERSION`], and a Metadata
    /// version (in [`METADATA_VERSIONS`]). Returns the broker's Fetch versions too.
    fn versions(&mut self) -> Result<Versions, String> {
        let r = self.call(&ApiVersionsRequest::default(), 0)?;
        if r.error_code != 0 {
            return Err(format!("ApiVersions v0: error code {}", r.error_code));
        }
        let pick = |key: i16, ours: VersionRange, (least, most): (i16, i16)| {
            let name = ApiKey::try_from(key).map(|k| format!("{k:?}")).unwrap_or_default();
            let theirs = r
                .api_keys
                .iter()
                .find(|k| k.api_key == key)
                .ok_or_else(|| format!("the broker does not advertise {name}"))?;
            let (min, max) =
                (theirs.min_version.max(ours.min).max(least), theirs.max_version.min(ours.max).min(most));
            if min > max {
                return Err(format!(
                    "no common {name} version: the broker has v{}-v{}, kafka-protocol v{}-v{}, we use v{least}-v{most}",
                    theirs.min_version, theirs.max_version, ours.min, ours.max
                ));
            }
            Ok(((theirs.min_version, theirs.max_version), max))
        };
        let (fetch_range, fetch) = pick(FetchRequest::KEY, FetchRequest::VERSIONS, (0, MAX_FETCH_VERSION))?;
        let (_, metadata) = pick(MetadataRequest::KEY, MetadataRequest::VERSIONS, METADATA_VERSIONS)?;
        Ok(Versions { fetch_range, fetch, metadata })
    }

    /// Checks with Metadata (no auto-creation) that the broker has
    /// `topic`/`partition`: some brokers answer a Fetch of an unknown topic
    /// with an empty partition. `Ok(Err(why))` for a retriable error.
    fn check_partition(
        &mut self,
        version: i16,
        topic: &str,
        partition: i32,
    ) -> Result<Result<(), String>, String> {
        let request = MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(topic_name(topic)))]))
            .with_allow_auto_topic_creation(false);
        let response: MetadataResponse = self.call(&request, version)?;
        let mut found =
            response.topics.into_iter().filter(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(topic));
        let t = found.next().ok_or("the Metadata answer has no such topic")?;
        if RETRIABLE.contains(&t.error_code) {
            return Ok(Err(format!("topic error code {}", t.error_code)));
        }
        if t.error_code != 0 {
            return Err(format!("topic error code {}", t.error_code));
        }
        if !t.partitions.iter().any(|p| p.partition_index == partition) {
            let ids: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
            return Err(format!("the topic has partitions {ids:?}"));
        }
        Ok(Ok(()))
    }

    /// One Fetch of `partition` from `offset`; `Ok(Err(code))` on a retriable
    /// partition error.
    fn fetch(
        &mut self,
        version: i16,
        topic: &str,
        partition: i32,
        isolation_level: i8,
        offset: i64,
    ) -> Result<Result<PartitionAnswer, i16>, String> {
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(MAX_WAIT_MS)
            .with_min_bytes(1)
            .with_max_bytes(FETCH_MAX_BYTES)
            .with_isolation_level(isolation_level)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default().with_topic(topic_name(topic)).with_partitions(vec![
                FetchPartition::default()
                    .with_partition(partition)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(offset)
                    .with_last_fetched_epoch(-1)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(FETCH_MAX_BYTES),
            ])]);
        let response: FetchResponse = self.call(&request, version)?;
        if response.error_code != 0 {
            return Err(format!("Fetch error code {}", response.error_code));
        }
        let mut found = response
            .responses
            .into_iter()
            .filter(|t| t.topic.0.as_str() == topic)
            .flat_map(|t| t.partitions)
            .filter(|p| p.partition_index == partition);
        let p = found.next().ok_or("the Fetch answer has no data for the partition")?;
        if found.next().is_some() {
            return Err(String::from("the Fetch answer has the partition twice"));
        }
        if RETRIABLE.contains(&p.error_code) {
            return Ok(Err(p.error_code));
        }
        if p.error_code != 0 {
            return Err(format!("partition error code {}", p.error_code));
        }
        Ok(Ok(PartitionAnswer {
            high_watermark: p.high_watermark,
            last_stable_offset: p.last_stable_offset,
            aborted: p
                .aborted_transactions
                .unwrap_or_default()
                .into_iter()
                .map(|a| (a.producer_id.0, a.first_offset))
                .collect(),
            records: p.records.unwrap_or_default(),
        }))
    }
}
