//! The cluster's state and what each API does to it: topics, partition logs,
//! producer states, injected faults and the request log.
//!
//! Everything here is plain data behind one lock (`Shared::state` in
//! [`server`](super::server)); no socket I/O happens while it is held. A
//! connection thread calls [`ClusterState::plan`] once per request, which
//! logs the request, takes the next injected fault of its API, processes it
//! (or not, as the fault says) and returns a [`Plan`]: the response to send
//! and what to do after. The connection thread then sleeps, writes or
//! closes without the lock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::idempotence::{add_sequence, BatchMeta, ProducerStates, Verdict};
use super::security::Session;
use super::telemetry::{MockTelemetry, TelemetryState};
use super::{DropPoint, DuplicateAnswer, Malformation, RequestLogEntry, StoredRecord};
use crate::protocol::compression::Compression;
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::frame::encode_response;
use crate::protocol::header::RequestHeader;
use crate::protocol::messages::api_versions::{ApiVersion, ApiVersionsRequest, ApiVersionsResponse};
use crate::protocol::messages::create_topics::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig, CreatableTopicConfigs,
    CreatableTopicResult, CreateTopicsRequest, CreateTopicsResponse,
};
use crate::protocol::messages::delete_topics::{
    DeletableTopicResult, DeleteTopicsRequest, DeleteTopicsResponse,
};
use crate::protocol::messages::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use crate::protocol::messages::metadata::{
    MetadataBroker, MetadataRequest, MetadataResponse, PartitionMetadata, TopicMetadata,
    AUTHORIZED_OPERATIONS_OMITTED, NIL_TOPIC_ID,
};
use crate::protocol::messages::produce::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceData, PartitionProduceResponse, ProduceRequest,
    ProduceResponse, TopicProduceResponse, TOPIC_IDS_FROM,
};
use crate::protocol::messages::{supported_versions, RequestBody, ResponseBody, API_KEYS};
use crate::protocol::primitives::Uuid;
use crate::protocol::record_batch::{RecordBatch, LOG_OVERHEAD, MIN_BATCH_LENGTH};
use crate::protocol::{api_key, VersionRange};
use crate::KafkaCode;

/// The host every broker listens on and advertises.
pub(crate) const HOST: &str = "127.0.0.1";
/// The cluster id in Metadata responses.
pub(crate) const CLUSTER_ID: &str = "kafka-sync-mock";
/// Kafka's default `message.max.bytes`: 1 MiB plus the 12-byte log overhead.
pub(crate) const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_588;
/// Cap on a compressed batch's records once decompressed (not a Kafka
/// setting: it keeps a hostile batch from exhausting the test's memory).
pub(crate) const DECOMPRESSED_LIMIT: usize = 64 * 1024 * 1024;
/// Most partitions one topic may have (protects the mock from hostile requests).
pub(crate) const MAX_PARTITIONS: i32 = 10_000;
/// Longest topic name Kafka accepts.
const MAX_TOPIC_NAME_LEN: usize = 249;
/// Entries the request log keeps (the oldest are dropped; counts are kept).
pub(crate) const REQUEST_LOG_CAP: usize = 100_000;
/// The first producer id handed out.
pub(crate) const FIRST_PRODUCER_ID: i64 = 1000;
/// APIs served only by a SASL listener. Without SASL the mock neither
/// advertises them nor lets [`ClusterState::set_advertised`] do so, so their
/// requests close the connection like those of any API it does not know.
/// With SASL, the connection's [`Session`] answers them.
const SASL_APIS: [i16; 2] = [api_key::SASL_HANDSHAKE, api_key::SASL_AUTHENTICATE];
/// Client telemetry (KIP-714), advertised and served only while a
/// subscription is configured ([`ClusterState::set_telemetry`]); otherwise
/// their requests close the connection like those of any API it does not
/// know, and [`ClusterState::set_advertised`] refuses them.
const TELEMETRY_APIS: [i16; 2] = [api_key::GET_TELEMETRY_SUBSCRIPTIONS, api_key::PUSH_TELEMETRY];
/// Transactions: the codec implements these APIs, but the mock does not
/// serve them yet. It neither advertises them nor lets
/// [`ClusterState::set_advertised`] do so, so their requests close the
/// connection like those of any API it does not know.
const TXN_APIS: [i16; 5] = [
    api_key::FIND_COORDINATOR,
    api_key::ADD_PARTITIONS_TO_TXN,
    api_key::ADD_OFFSETS_TO_TXN,
    api_key::END_TXN,
    api_key::TXN_OFFSET_COMMIT,
];
/// Topic operations reported when asked (no authorizer: all of them).
/// Bits of READ(3) WRITE(4) CREATE(5) DELETE(6) ALTER(7) DESCRIBE(8)
/// DESCRIBE_CONFIGS(10) ALTER_CONFIGS(11).
const TOPIC_OPERATIONS: i32 = 0b1101_1111_1000;
/// Cluster operations reported when asked (Metadata v8-v10): CREATE(5)
/// ALTER(7) DESCRIBE(8) CLUSTER_ACTION(9) DESCRIBE_CONFIGS(10)
/// ALTER_CONFIGS(11) IDEMPOTENT_WRITE(12).
const CLUSTER_OPERATIONS: i32 = 0b1_1111_1010_0000;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A fault queued for the next request of one API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Injection {
    /// Answer with this error code instead of processing.
    Error(KafkaCode),
    /// Process (a Produce **is** appended), then answer with this error code
    /// for every partition that succeeded, as Kafka does with
    /// `NOT_ENOUGH_REPLICAS_AFTER_APPEND` or an acks=all `REQUEST_TIMED_OUT`.
    ErrorAfterProcessing(KafkaCode),
    /// Close the connection before or after processing, without answering.
    Drop(DropPoint),
    /// Never answer, before or after processing; the connection stays open.
    Stall(DropPoint),
    /// Process at once, answer after this long.
    Delay(Duration),
    /// Process, then send a broken response.
    Malformed(Malformation),
}

/// A request as read off a connection.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A request of an API and version the codec decodes.
    Request(RequestHeader, RequestBody),
    /// An ApiVersions request at a version the codec does not know: answered
    /// with `UNSUPPORTED_VERSION` in a v0 body, like Kafka does.
    UnsupportedApiVersions(RequestHeader),
}

impl Incoming {
    pub(crate) fn header(&self) -> &RequestHeader {
        match self {
            Incoming::Request(h, _) | Incoming::UnsupportedApiVersions(h) => h,
        }
    }
}

/// A response to send: the body, and the request's correlation id and version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub correlation_id: i32,
    /// The version to encode the body at (0 for the ApiVersions fallback).
    pub version: i16,
    pub body: ResponseBody,
}

impl Reply {
    /// Appends the whole size-prefixed response frame, with the response
    /// header version the API uses at this version.
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        use crate::protocol::messages::{
            add_offsets_to_txn, add_partitions_to_txn, create_topics, delete_topics, end_txn,
            find_coordinator, get_telemetry_subscriptions, init_producer_id, metadata, produce,
            push_telemetry, sasl_authenticate, sasl_handshake, txn_offset_commit,
        };
        let (c, v) = (self.correlation_id, self.version);
        match &self.body {
            ResponseBody::Produce(r) => encode_response::<produce::ProduceRequest>(buf, c, v, r),
            ResponseBody::Metadata(r) => encode_response::<metadata::MetadataRequest>(buf, c, v, r),
            ResponseBody::ApiVersions(r) => encode_response::<ApiVersionsRequest>(buf, c, v, r),
            ResponseBody::CreateTopics(r) => {
                encode_response::<create_topics::CreateTopicsRequest>(buf, c, v, r)
            }
            ResponseBody::DeleteTopics(r) => {
                encode_response::<delete_topics::DeleteTopicsRequest>(buf, c, v, r)
            }
            ResponseBody::InitProducerId(r) => {
                encode_response::<init_producer_id::InitProducerIdRequest>(buf, c, v, r)
            }
            ResponseBody::SaslHandshake(r) => {
                encode_response::<sasl_handshake::SaslHandshakeRequest>(buf, c, v, r)
            }
            ResponseBody::SaslAuthenticate(r) => {
                encode_response::<sasl_authenticate::SaslAuthenticateRequest>(buf, c, v, r)
            }
            ResponseBody::GetTelemetrySubscriptions(r) => {
                encode_response::<get_telemetry_subscriptions::GetTelemetrySubscriptionsRequest>(buf, c, v, r)
            }
            ResponseBody::PushTelemetry(r) => {
                encode_response::<push_telemetry::PushTelemetryRequest>(buf, c, v, r)
            }
            ResponseBody::FindCoordinator(r) => {
                encode_response::<find_coordinator::FindCoordinatorRequest>(buf, c, v, r)
            }
            ResponseBody::AddPartitionsToTxn(r) => {
                encode_response::<add_partitions_to_txn::AddPartitionsToTxnRequest>(buf, c, v, r)
            }
            ResponseBody::AddOffsetsToTxn(r) => {
                encode_response::<add_offsets_to_txn::AddOffsetsToTxnRequest>(buf, c, v, r)
            }
            ResponseBody::EndTxn(r) => encode_response::<end_txn::EndTxnRequest>(buf, c, v, r),
            ResponseBody::TxnOffsetCommit(r) => {
                encode_response::<txn_offset_commit::TxnOffsetCommitRequest>(buf, c, v, r)
            }
        }
    }
}

/// What the connection does after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    /// Read the next request.
    Continue,
    /// Close the connection (after sending the reply, if any).
    Close,
    /// Never answer again: discard requests until the peer closes.
    Stall,
}

/// What a connection thread does with one request.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The response, or `None` to send nothing.
    pub reply: Option<Reply>,
    /// How long to wait before sending it.
    pub delay: Duration,
    /// How to break it, if it is to be broken.
    pub malformed: Option<Malformation>,
    /// What to do afterwards.
    pub then: Then,
}

impl Plan {
    fn silent(then: Then) -> Self {
        Plan { reply: None, delay: Duration::ZERO, malformed: None, then }
    }
}

/// Cluster-wide behaviour settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub max_message_bytes: usize,
    /// Partition count for topics auto-created by Metadata, or `None` (off).
    pub auto_create_partitions: Option<i32>,
    pub duplicate_answer: DuplicateAnswer,
    /// Brokers before Kafka 2.5: `UNKNOWN_PRODUCER_ID` for an unknown producer
    /// whose first sequence is not 0.
    pub legacy_unknown_producer_id: bool,
    /// InitProducerId with a current id and epoch and no transactional id
    /// bumps the epoch (librdkafka's mock) instead of handing out a new id
    /// (Kafka).
    pub bump_epoch_on_init: bool,
    /// `throttle_time_ms` in every Produce response (a quota, KIP-219).
    pub produce_throttle_ms: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            auto_create_partitions: None,
            duplicate_answer: DuplicateAnswer::Success,
            legacy_unknown_producer_id: false,
            bump_epoch_on_init: false,
            produce_throttle_ms: 0,
        }
    }
}

/// One broker, as the state knows it.
#[derive(Debug, Clone)]
pub(crate) struct BrokerInfo {
    pub id: i32,
    pub port: u16,
    pub response_delay: Duration,
}

/// One appended batch, offsets assigned.
#[derive(Debug, Clone)]
struct StoredBatch {
    /// `base_offset` is the broker-assigned offset of the first record.
    batch: RecordBatch,
    /// The append time, or -1 for create-time topics.
    append_time: i64,
}

#[derive(Debug, Clone)]
struct Partition {
    leader: i32,
    leader_epoch: i32,
    replicas: Vec<i32>,
    log: Vec<StoredBatch>,
    log_end_offset: i64,
    producers: ProducerStates,
}

#[derive(Debug, Clone)]
struct Topic {
    id: Uuid,
    partitions: Vec<Partition>,
    /// The topic's `max.message.bytes`, if set.
    max_message_bytes: Option<usize>,
    /// `message.timestamp.type=LogAppendTime`.
    log_append_time: bool,
}

/// A rejected admin operation: the code a broker would answer, and why.
pub(crate) type Rejection = (KafkaCode, String);

/// Everything the cluster knows. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct ClusterState {
    pub brokers: Vec<BrokerInfo>,
    pub settings: Settings,
    topics: BTreeMap<String, Topic>,
    topics_created: u64,
    next_producer_id: i64,
    /// Current epoch of every producer id handed out.
    producer_epochs: HashMap<i64, i16>,
    /// Producer id of each transactional id.
    transactional_ids: HashMap<String, i64>,
    injected: HashMap<i16, VecDeque<Injection>>,
    log: VecDeque<RequestLogEntry>,
    counts: HashMap<i16, usize>,
    advertised: BTreeMap<i16, VersionRange>,
    /// Whether the listeners speak SASL (and so serve [`SASL_APIS`]).
    sasl: bool,
    /// Client telemetry: the subscription and the pushes received.
    pub(crate) telemetry: TelemetryState,
}

impl ClusterState {
    /// A cluster of `brokers` (id, port), no topics; `sasl`: whether its
    /// listeners authenticate with SASL.
    pub(crate) fn new(brokers: Vec<BrokerInfo>, sasl: bool) -> Self {
        let advertised = API_KEYS
            .iter()
            .filter(|k| sasl || !SASL_APIS.contains(k))
            .filter(|k| !TELEMETRY_APIS.contains(k))
            .filter(|k| !TXN_APIS.contains(k))
            .filter_map(|&k| supported_versions(k).map(|r| (k, r)))
            .collect();
        Self {
            brokers,
            settings: Settings::default(),
            topics: BTreeMap::new(),
            topics_created: 0,
            next_producer_id: FIRST_PRODUCER_ID,
            producer_epochs: HashMap::new(),
            transactional_ids: HashMap::new(),
            injected: HashMap::new(),
            log: VecDeque::new(),
            counts: HashMap::new(),
            advertised,
            sasl,
            telemetry: TelemetryState::default(),
        }
    }

    fn broker_ids(&self) -> Vec<i32> {
        self.brokers.iter().map(|b| b.id).collect()
    }

    /// Broker `id` now listens on `port` (Metadata advertises it).
    pub(crate) fn set_broker_port(&mut self, id: i32, port: u16) {
        if let Some(b) = self.brokers.iter_mut().find(|b| b.id == id) {
            b.port = port;
        }
    }

    pub(crate) fn has_broker(&self, id: i32) -> bool {
        self.brokers.iter().any(|b| b.id == id)
    }

    // ---- admin, from the test's side -------------------------------------

    /// Creates a topic, checked as CreateTopics checks it. With
    /// `allow_defaults`, -1 partitions or replication mean the broker default (1).
    pub(crate) fn create_topic(
        &mut self,
        spec: &CreatableTopic,
        allow_defaults: bool,
        validate_only: bool,
    ) -> Result<(Uuid, i32, i16), Rejection> {
        validate_topic_name(&spec.name)?;
        if self.topics.contains_key(&spec.name) {
            return Err((KafkaCode::TOPIC_ALREADY_EXISTS, format!("topic '{}' already exists", spec.name)));
        }
        let ids = self.broker_ids();
        let assignment = if spec.assignments.is_empty() {
            let partitions = match spec.num_partitions {
                -1 if allow_defaults => 1,
                p if p <= 0 => {
                    return Err((
                        KafkaCode::INVALID_PARTITIONS,
                        format!("number of partitions {p} must be positive"),
                    ))
                }
                p if p > MAX_PARTITIONS => {
                    return Err((
                        KafkaCode::INVALID_PARTITIONS,
                        format!("number of partitions {p} is above the mock's limit of {MAX_PARTITIONS}"),
                    ))
                }
                p => p,
            };
            let replication = match spec.replication_factor {
                -1 if allow_defaults => 1,
                r if r <= 0 || r as usize > ids.len() => {
                    return Err((
                        KafkaCode::INVALID_REPLICATION_FACTOR,
                        format!("replication factor {r} must be between 1 and the {} brokers", ids.len()),
                    ))
                }
                r => r,
            };
            // Round-robin: partition p's replicas start at broker p (mod n).
            (0..partitions as usize)
                .map(|p| (0..replication as usize).map(|j| ids[(p + j) % ids.len()]).collect())
                .collect()
        } else {
            if spec.num_partitions != -1 || spec.replication_factor != -1 {
                return Err((
                    KafkaCode::INVALID_REQUEST,
                    "with a manual assignment, partitions and replication factor must be -1".into(),
                ));
            }
            manual_assignment(&spec.assignments, &ids)?
        };
        let (max_message_bytes, log_append_time) = parse_topic_configs(&spec.configs)?;
        let partitions = assignment.len() as i32;
        let replication = assignment.first().map_or(0, Vec::len) as i16;
        if validate_only {
            return Ok((NIL_TOPIC_ID, partitions, replication));
        }
        self.topics_created += 1;
        let id = topic_id(self.topics_created);
        let partitions_vec = assignment
            .into_iter()
            .map(|replicas: Vec<i32>| Partition {
                leader: replicas[0],
                leader_epoch: 0,
                replicas,
                log: Vec::new(),
                log_end_offset: 0,
                producers: ProducerStates::default(),
            })
            .collect();
        self.topics.insert(
            spec.name.clone(),
            Topic { id, partitions: partitions_vec, max_message_bytes, log_append_time },
        );
        Ok((id, partitions, replication))
    }

    /// Grows a topic to `count` partitions (as Kafka's CreatePartitions does;
    /// partitions are never removed). New partitions' replicas are assigned
    /// round-robin like those of a new topic, with the topic's replication.
    pub(crate) fn add_partitions(&mut self, name: &str, count: i32) -> Result<(), Rejection> {
        let ids = self.broker_ids();
        let topic = self.topics.get_mut(name).ok_or_else(|| unknown_topic(name))?;
        let have = topic.partitions.len();
        if count as usize <= have || count > MAX_PARTITIONS {
            return Err((
                KafkaCode::INVALID_PARTITIONS,
                format!("topic '{name}' has {have} partitions; cannot change to {count}"),
            ));
        }
        let replication = topic.partitions.first().map_or(1, |p| p.replicas.len());
        for p in have..count as usize {
            let replicas: Vec<i32> = (0..replication).map(|j| ids[(p + j) % ids.len()]).collect();
            topic.partitions.push(Partition {
                leader: replicas[0],
                leader_epoch: 0,
                replicas,
                log: Vec::new(),
                log_end_offset: 0,
                producers: ProducerStates::default(),
            });
        }
        Ok(())
    }

    /// Deletes a topic with its records and producer states.
    pub(crate) fn delete_topic(&mut self, name: &str) -> Result<(), Rejection> {
        match self.topics.remove(name) {
            Some(_) => Ok(()),
            None => Err(unknown_topic(name)),
        }
    }

    pub(crate) fn topic_names(&self) -> Vec<String> {
        self.topics.keys().cloned().collect()
    }

    pub(crate) fn partition_count(&self, topic: &str) -> Option<i32> {
        self.topics.get(topic).map(|t| t.partitions.len() as i32)
    }

    fn partition(&self, topic: &str, partition: i32) -> Option<&Partition> {
        self.topics.get(topic)?.partitions.get(usize::try_from(partition).ok()?)
    }

    pub(crate) fn leader(&self, topic: &str, partition: i32) -> Option<(i32, i32)> {
        self.partition(topic, partition).map(|p| (p.leader, p.leader_epoch))
    }

    pub(crate) fn log_end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.partition(topic, partition).map(|p| p.log_end_offset)
    }

    /// Every record of a partition, oldest first.
    pub(crate) fn records(&self, topic: &str, partition: i32) -> Vec<StoredRecord> {
        let Some(p) = self.partition(topic, partition) else { return Vec::new() };
        let mut out = Vec::new();
        for stored in &p.log {
            let b = &stored.batch;
            for r in &b.records {
                out.push(StoredRecord {
                    offset: b.offset_of(r),
                    timestamp: if stored.append_time >= 0 { stored.append_time } else { b.timestamp_of(r) },
                    key: r.key.clone(),
                    value: r.value.clone(),
                    headers: r.headers.clone(),
                    producer_id: b.producer_id,
                    producer_epoch: b.producer_epoch,
                    sequence: if b.base_sequence >= 0 {
                        add_sequence(b.base_sequence, r.offset_delta)
                    } else {
                        -1
                    },
                    batch_base_offset: b.base_offset,
                    compression: b.compression,
                });
            }
        }
        out
    }

    /// Makes `new_leader` the partition's leader and bumps the leader epoch.
    /// A leader outside the replica list joins it, first.
    pub(crate) fn move_leader(
        &mut self,
        topic: &str,
        partition: i32,
        new_leader: i32,
    ) -> Result<i32, Rejection> {
        if !self.has_broker(new_leader) {
            return Err((KafkaCode::BROKER_NOT_AVAILABLE, format!("no broker {new_leader} in the cluster")));
        }
        let p = self
            .topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(usize::try_from(partition).ok()?))
            .ok_or_else(|| unknown_partition(topic, partition))?;
        p.leader = new_leader;
        p.leader_epoch += 1;
        if !p.replicas.contains(&new_leader) {
            p.replicas.insert(0, new_leader);
        }
        Ok(p.leader_epoch)
    }

    pub(crate) fn set_advertised(&mut self, api: i16, range: VersionRange) -> Result<(), Rejection> {
        let Some(codec) = supported_versions(api) else {
            return Err((
                KafkaCode::INVALID_REQUEST,
                format!("API key {api} is not implemented by the mock"),
            ));
        };
        if TXN_APIS.contains(&api) {
            return Err((KafkaCode::INVALID_REQUEST, format!("API key {api} is not served by the mock yet")));
        }
        if TELEMETRY_APIS.contains(&api) && self.telemetry.config.is_none() {
            return Err((
                KafkaCode::INVALID_REQUEST,
                format!(
                    "API key {api} is served only with a telemetry subscription (MockCluster::set_telemetry)"
                ),
            ));
        }
        if SASL_APIS.contains(&api) && !self.sasl {
            return Err((
                KafkaCode::INVALID_REQUEST,
                format!("API key {api} is served only by a SASL listener (MockSecurity::sasl)"),
            ));
        }
        if range.min > range.max || !codec.contains(range.min) || !codec.contains(range.max) {
            return Err((
                KafkaCode::UNSUPPORTED_VERSION,
                format!(
                    "versions {}..={} of API {api} are outside the implemented {}..={}",
                    range.min, range.max, codec.min, codec.max
                ),
            ));
        }
        if api == api_key::API_VERSIONS && range.min != 0 {
            return Err((
                KafkaCode::INVALID_REQUEST,
                "ApiVersions must keep version 0 (the fallback)".into(),
            ));
        }
        self.advertised.insert(api, range);
        Ok(())
    }

    /// Configures client telemetry (`Some`: advertise and serve
    /// GetTelemetrySubscriptions and PushTelemetry v0 with this
    /// subscription, under a new subscription id) or turns it off (`None`).
    pub(crate) fn set_telemetry(&mut self, config: Option<MockTelemetry>) {
        let on = config.is_some();
        self.telemetry.set(config);
        for api in TELEMETRY_APIS {
            if on {
                self.advertised.insert(api, VersionRange::new(0, 0));
            } else {
                self.advertised.remove(&api);
            }
        }
    }

    // ---- fault injection and the request log -----------------------------

    pub(crate) fn inject(&mut self, api: i16, items: impl IntoIterator<Item = Injection>) {
        self.injected.entry(api).or_default().extend(items);
    }

    pub(crate) fn clear_injections(&mut self) {
        self.injected.clear();
    }

    pub(crate) fn pending_injections(&self, api: i16) -> usize {
        self.injected.get(&api).map_or(0, VecDeque::len)
    }

    pub(crate) fn request_count(&self, api: i16) -> usize {
        self.counts.get(&api).copied().unwrap_or(0)
    }

    pub(crate) fn request_log(&self) -> Vec<RequestLogEntry> {
        self.log.iter().cloned().collect()
    }

    pub(crate) fn clear_request_log(&mut self) {
        self.log.clear();
        self.counts.clear();
    }

    // ---- serving requests ------------------------------------------------

    /// Logs a request, takes its API's next injected fault, processes the
    /// request (unless the fault says not to) and says what to send. SASL
    /// requests are answered by the connection's `sasl` session.
    pub(crate) fn plan(&mut self, broker: i32, incoming: &Incoming, sasl: Option<&mut Session>) -> Plan {
        let h = incoming.header();
        if self.log.len() == REQUEST_LOG_CAP {
            self.log.pop_front();
        }
        self.log.push_back(RequestLogEntry {
            broker,
            api_key: h.api_key,
            api_version: h.api_version,
            correlation_id: h.correlation_id,
            client_id: h.client_id.clone(),
        });
        *self.counts.entry(h.api_key).or_insert(0) += 1;

        let mut fallback = matches!(incoming, Incoming::UnsupportedApiVersions(_));
        if let Incoming::Request(h, _) = incoming {
            let advertised = self.advertised.get(&h.api_key).copied();
            if !advertised.is_some_and(|r| r.contains(h.api_version)) {
                if h.api_key == api_key::API_VERSIONS {
                    fallback = true;
                } else {
                    // Kafka closes the connection on a request it cannot parse.
                    log::warn!(
                        "mock broker {broker}: API {} v{} is not advertised; closing the connection",
                        h.api_key,
                        h.api_version
                    );
                    return Plan::silent(Then::Close);
                }
            }
        }

        let injection = self.injected.get_mut(&h.api_key).and_then(VecDeque::pop_front);
        let delay = self.brokers.iter().find(|b| b.id == broker).map_or(Duration::ZERO, |b| b.response_delay);
        let mut error = None;
        let mut plan = Plan { reply: None, delay, malformed: None, then: Then::Continue };
        match injection {
            Some(Injection::Drop(DropPoint::BeforeProcessing)) => return Plan::silent(Then::Close),
            Some(Injection::Stall(DropPoint::BeforeProcessing)) => return Plan::silent(Then::Stall),
            Some(Injection::Error(code)) => error = Some(code),
            Some(Injection::ErrorAfterProcessing(_)) => {}
            Some(Injection::Delay(d)) => plan.delay += d,
            Some(Injection::Malformed(m)) => plan.malformed = Some(m),
            Some(
                Injection::Drop(DropPoint::AfterProcessing) | Injection::Stall(DropPoint::AfterProcessing),
            )
            | None => {}
        }

        let (reply, then) = match incoming {
            Incoming::Request(h, body) if !fallback => self.process(broker, h, body, error, sasl),
            _ => {
                // An ApiVersions version this broker does not speak: the v0
                // answer with UNSUPPORTED_VERSION, whatever was injected.
                let body = ResponseBody::ApiVersions(self.api_versions_fallback());
                (Some(Reply { correlation_id: h.correlation_id, version: 0, body }), Then::Continue)
            }
        };
        plan.reply = reply;
        plan.then = then;
        if let (Some(Injection::ErrorAfterProcessing(code)), Some(r)) = (&injection, plan.reply.as_mut()) {
            if let ResponseBody::Produce(resp) = &mut r.body {
                for p in resp.responses.iter_mut().flat_map(|t| t.partition_responses.iter_mut()) {
                    if p.error_code == 0 {
                        *p = partition_error(p.index, *code, "injected error after the append");
                    }
                }
            }
        }
        match injection {
            Some(Injection::Drop(DropPoint::AfterProcessing)) => Plan::silent(Then::Close),
            Some(Injection::Stall(DropPoint::AfterProcessing)) => Plan::silent(Then::Stall),
            _ => plan,
        }
    }

    /// Processes one request; `error` is an injected error to answer instead.
    fn process(
        &mut self,
        broker: i32,
        h: &RequestHeader,
        body: &RequestBody,
        error: Option<KafkaCode>,
        sasl: Option<&mut Session>,
    ) -> (Option<Reply>, Then) {
        let v = h.api_version;
        let reply =
            |version: i16, body: ResponseBody| Reply { correlation_id: h.correlation_id, version, body };
        match body {
            RequestBody::ApiVersions(req) => {
                let (version, resp) = self.api_versions(v, req, error);
                (Some(reply(version, ResponseBody::ApiVersions(resp))), Then::Continue)
            }
            RequestBody::Metadata(req) => match self.metadata(v, req, error) {
                Ok(resp) => (Some(reply(v, ResponseBody::Metadata(resp))), Then::Continue),
                Err(why) => {
                    log::warn!(
                        "mock broker {broker}: invalid Metadata request: {why}; closing the connection"
                    );
                    (None, Then::Close)
                }
            },
            RequestBody::Produce(req) => {
                let (resp, failed) = self.produce(broker, v, req, error);
                if req.acks == 0 {
                    // No response with acks=0. Kafka closes the connection
                    // when such a request fails, so the client notices and
                    // refreshes its metadata.
                    (None, if failed { Then::Close } else { Then::Continue })
                } else {
                    (Some(reply(v, ResponseBody::Produce(resp))), Then::Continue)
                }
            }
            RequestBody::InitProducerId(req) => (
                Some(reply(v, ResponseBody::InitProducerId(self.init_producer_id(v, req, error)))),
                Then::Continue,
            ),
            RequestBody::CreateTopics(req) => (
                Some(reply(v, ResponseBody::CreateTopics(self.create_topics(v, req, error)))),
                Then::Continue,
            ),
            RequestBody::DeleteTopics(req) => (
                Some(reply(v, ResponseBody::DeleteTopics(self.delete_topics(v, req, error)))),
                Then::Continue,
            ),
            RequestBody::SaslHandshake(_) | RequestBody::SaslAuthenticate(_) => match sasl {
                Some(session) => {
                    let (body, then) = session.handle(h, body, error);
                    (body.map(|b| reply(v, b)), then)
                }
                // Without SASL these APIs are not advertised, so `plan`
                // closes the connection before it gets here; close it here too.
                None => {
                    log::warn!(
                        "mock broker {broker}: API {} is served only by a SASL listener; closing the connection",
                        h.api_key
                    );
                    (None, Then::Close)
                }
            },
            RequestBody::GetTelemetrySubscriptions(req) => {
                let resp = self.telemetry.subscriptions(req, error, |n| topic_id(n ^ 0x7e1e_0000_0000_0000));
                (Some(reply(v, ResponseBody::GetTelemetrySubscriptions(resp))), Then::Continue)
            }
            RequestBody::PushTelemetry(req) => {
                let resp = self.telemetry.push(broker, req, error);
                (Some(reply(v, ResponseBody::PushTelemetry(resp))), Then::Continue)
            }
            // Never advertised (TXN_APIS), so `plan` closes the connection
            // before it gets here; close it here too.
            RequestBody::FindCoordinator(_)
            | RequestBody::AddPartitionsToTxn(_)
            | RequestBody::AddOffsetsToTxn(_)
            | RequestBody::EndTxn(_)
            | RequestBody::TxnOffsetCommit(_) => {
                log::warn!(
                    "mock broker {broker}: API {} is not served by the mock; closing the connection",
                    h.api_key
                );
                (None, Then::Close)
            }
        }
    }

    // ---- ApiVersions -----------------------------------------------------

    fn advertised_list(&self) -> Vec<ApiVersion> {
        self.advertised
            .iter()
            .map(|(&api_key, r)| ApiVersion { api_key, min_version: r.min, max_version: r.max })
            .collect()
    }

    /// The v0 body Kafka answers an ApiVersions request of an unknown version
    /// with: `UNSUPPORTED_VERSION` and the ApiVersions range only.
    fn api_versions_fallback(&self) -> ApiVersionsResponse {
        let range = self.advertised.get(&api_key::API_VERSIONS).copied().unwrap_or(VersionRange::new(0, 0));
        ApiVersionsResponse {
            error_code: KafkaCode::UNSUPPORTED_VERSION.0,
            api_keys: vec![ApiVersion {
                api_key: api_key::API_VERSIONS,
                min_version: range.min,
                max_version: range.max,
            }],
            ..Default::default()
        }
    }

    fn api_versions(
        &self,
        version: i16,
        req: &ApiVersionsRequest,
        error: Option<KafkaCode>,
    ) -> (i16, ApiVersionsResponse) {
        match error {
            Some(KafkaCode::UNSUPPORTED_VERSION) => return (0, self.api_versions_fallback()),
            Some(code) => return (version, ApiVersionsResponse { error_code: code.0, ..Default::default() }),
            None => {}
        }
        if version >= 3
            && !(valid_software_field(&req.client_software_name)
                && valid_software_field(&req.client_software_version))
        {
            // Kafka's `ApiVersionsRequest.isValid`.
            return (
                version,
                ApiVersionsResponse { error_code: KafkaCode::INVALID_REQUEST.0, ..Default::default() },
            );
        }
        (version, ApiVersionsResponse { api_keys: self.advertised_list(), ..Default::default() })
    }

    // ---- Metadata --------------------------------------------------------

    fn describe_topic(name: &str, t: &Topic, include_ops: bool) -> TopicMetadata {
        TopicMetadata {
            error_code: 0,
            name: Some(name.to_owned()),
            topic_id: t.id,
            is_internal: false,
            partitions: t
                .partitions
                .iter()
                .enumerate()
                .map(|(i, p)| PartitionMetadata {
                    error_code: 0,
                    partition_index: i as i32,
                    leader_id: p.leader,
                    leader_epoch: p.leader_epoch,
                    replica_nodes: p.replicas.clone(),
                    isr_nodes: p.replicas.clone(),
                    offline_replicas: Vec::new(),
                })
                .collect(),
            topic_authorized_operations: if include_ops {
                TOPIC_OPERATIONS
            } else {
                AUTHORIZED_OPERATIONS_OMITTED
            },
        }
    }

    fn topic_error(code: KafkaCode, name: Option<String>, id: Uuid) -> TopicMetadata {
        TopicMetadata { error_code: code.0, name, topic_id: id, ..Default::default() }
    }

    fn metadata(
        &mut self,
        version: i16,
        req: &MetadataRequest,
        error: Option<KafkaCode>,
    ) -> Result<MetadataResponse, String> {
        // KIP-1102: an injected REBOOTSTRAP_REQUIRED is the top-level error
        // of a v13+ answer, with no brokers or topics.
        if error == Some(KafkaCode::REBOOTSTRAP_REQUIRED) && version >= 13 {
            return Ok(MetadataResponse {
                error_code: KafkaCode::REBOOTSTRAP_REQUIRED.0,
                ..Default::default()
            });
        }
        let mut resp = MetadataResponse {
            brokers: self
                .brokers
                .iter()
                .map(|b| MetadataBroker {
                    node_id: b.id,
                    host: HOST.to_owned(),
                    port: i32::from(b.port),
                    rack: None,
                })
                .collect(),
            cluster_id: Some(CLUSTER_ID.to_owned()),
            controller_id: self.brokers.first().map_or(-1, |b| b.id),
            ..Default::default()
        };
        if (8..=10).contains(&version) && req.include_cluster_authorized_operations {
            resp.cluster_authorized_operations = CLUSTER_OPERATIONS;
        }
        let include_ops = version >= 8 && req.include_topic_authorized_operations;
        let allow_auto = version < 4 || req.allow_auto_topic_creation;
        let Some(wanted) = &req.topics else {
            for (name, t) in &self.topics {
                resp.topics.push(match error {
                    Some(code) => Self::topic_error(code, Some(name.clone()), t.id),
                    None => Self::describe_topic(name, t, include_ops),
                });
            }
            return Ok(resp);
        };
        for w in wanted {
            let Some(name) = &w.name else {
                if version < 12 {
                    return Err(format!("null topic name at version {version} (topic ids need v12)"));
                }
                let found =
                    self.topics.iter().find(|(_, t)| t.id == w.topic_id && w.topic_id != NIL_TOPIC_ID);
                resp.topics.push(match (error, found) {
                    (Some(code), found) => Self::topic_error(code, found.map(|(n, _)| n.clone()), w.topic_id),
                    (None, Some((n, t))) => Self::describe_topic(n, t, include_ops),
                    (None, None) => Self::topic_error(KafkaCode::UNKNOWN_TOPIC_ID, None, w.topic_id),
                });
                continue;
            };
            if let Some(code) = error {
                let id = self.topics.get(name).map_or(NIL_TOPIC_ID, |t| t.id);
                resp.topics.push(Self::topic_error(code, Some(name.clone()), id));
            } else if let Some(t) = self.topics.get(name) {
                resp.topics.push(Self::describe_topic(name, t, include_ops));
            } else if let Err((code, _)) = validate_topic_name(name) {
                resp.topics.push(Self::topic_error(code, Some(name.clone()), NIL_TOPIC_ID));
            } else if let (Some(partitions), true) = (self.settings.auto_create_partitions, allow_auto) {
                let spec = CreatableTopic {
                    name: name.clone(),
                    num_partitions: partitions,
                    replication_factor: 1,
                    ..Default::default()
                };
                match self.create_topic(&spec, false, false) {
                    // Like Kafka: the request that triggers the creation
                    // hears LEADER_NOT_AVAILABLE; the next one sees the topic.
                    Ok((id, _, _)) => resp.topics.push(Self::topic_error(
                        KafkaCode::LEADER_NOT_AVAILABLE,
                        Some(name.clone()),
                        id,
                    )),
                    Err((code, why)) => {
                        log::warn!("mock: auto-creating topic '{name}' failed: {why}");
                        resp.topics.push(Self::topic_error(code, Some(name.clone()), NIL_TOPIC_ID));
                    }
                }
            } else {
                resp.topics.push(Self::topic_error(
                    KafkaCode::UNKNOWN_TOPIC_OR_PARTITION,
                    Some(name.clone()),
                    NIL_TOPIC_ID,
                ));
            }
        }
        Ok(resp)
    }

    // ---- Produce ---------------------------------------------------------

    /// Answers a Produce request; the flag says whether any partition failed.
    fn produce(
        &mut self,
        broker: i32,
        version: i16,
        req: &ProduceRequest,
        error: Option<KafkaCode>,
    ) -> (ProduceResponse, bool) {
        let acks_valid = (-1..=1).contains(&req.acks);
        let mut resp =
            ProduceResponse { throttle_time_ms: self.settings.produce_throttle_ms, ..Default::default() };
        let mut failed = false;
        let mut new_leaders = Vec::new();
        for t in &req.topic_data {
            // v13 names the topic by id (KIP-516): look it up as Kafka does;
            // an id the cluster does not know (or nil) is UNKNOWN_TOPIC_ID
            // for every partition of the topic.
            let name = if version >= TOPIC_IDS_FROM {
                self.topics
                    .iter()
                    .find(|(_, topic)| topic.id == t.topic_id && t.topic_id != NIL_TOPIC_ID)
                    .map(|(n, _)| n.clone())
            } else {
                Some(t.name.clone())
            };
            // The answer names the topic as the request did (the name below
            // v13, the id from v13; the other field is not encoded).
            let mut tr = TopicProduceResponse {
                name: t.name.clone(),
                topic_id: t.topic_id,
                partition_responses: Vec::new(),
            };
            for p in &t.partition_data {
                let r = if let Some(code) = error {
                    partition_error(p.index, code, "injected error")
                } else if !acks_valid {
                    partition_error(
                        p.index,
                        KafkaCode::INVALID_REQUIRED_ACKS,
                        format!("acks {} is not one of 0, 1, -1", req.acks),
                    )
                } else if let Some(name) = &name {
                    self.produce_partition(broker, version, name, p)
                } else {
                    partition_error(p.index, KafkaCode::UNKNOWN_TOPIC_ID, "unknown topic id")
                };
                failed |= r.error_code != 0;
                if r.current_leader.leader_id >= 0 && !new_leaders.contains(&r.current_leader.leader_id) {
                    new_leaders.push(r.current_leader.leader_id);
                }
                tr.partition_responses.push(r);
            }
            resp.responses.push(tr);
        }
        if version >= 10 {
            resp.node_endpoints = new_leaders
                .iter()
                .filter_map(|id| self.brokers.iter().find(|b| b.id == *id))
                .map(|b| NodeEndpoint {
                    node_id: b.id,
                    host: HOST.to_owned(),
                    port: i32::from(b.port),
                    rack: None,
                })
                .collect();
        }
        (resp, failed)
    }

    fn produce_partition(
        &mut self,
        broker: i32,
        version: i16,
        topic_name: &str,
        data: &PartitionProduceData,
    ) -> PartitionProduceResponse {
        let index = data.index;
        let settings = &self.settings;
        let Some(topic) = self.topics.get_mut(topic_name) else {
            return partition_error(index, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, "unknown topic");
        };
        let max_bytes = topic.max_message_bytes.unwrap_or(settings.max_message_bytes);
        let log_append_time = topic.log_append_time;
        let Some(part) = usize::try_from(index).ok().and_then(|i| topic.partitions.get_mut(i)) else {
            return partition_error(index, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, "unknown partition");
        };
        if part.leader != broker {
            let mut r = partition_error(
                index,
                KafkaCode::NOT_LEADER_OR_FOLLOWER,
                format!("broker {broker} is not the leader; broker {} is", part.leader),
            );
            if version >= 10 {
                r.current_leader =
                    LeaderIdAndEpoch { leader_id: part.leader, leader_epoch: part.leader_epoch };
            }
            return r;
        }
        let mut batch = match validate_batch(data.records.as_deref(), version, max_bytes) {
            Ok(b) => b,
            Err((code, why)) => return partition_error(index, code, why),
        };
        let last_seq = add_sequence(batch.base_sequence, batch.last_offset_delta);
        let append_time = if log_append_time { now_ms() } else { -1 };
        if batch.producer_id >= 0 {
            match part.producers.check(
                batch.producer_id,
                batch.producer_epoch,
                batch.base_sequence,
                last_seq,
                settings.legacy_unknown_producer_id,
            ) {
                Verdict::Append => {}
                Verdict::Duplicate(meta) => {
                    let code = match settings.duplicate_answer {
                        DuplicateAnswer::Success => KafkaCode::NONE,
                        DuplicateAnswer::DuplicateSequenceNumber => KafkaCode::DUPLICATE_SEQUENCE_NUMBER,
                    };
                    return PartitionProduceResponse {
                        index,
                        error_code: code.0,
                        base_offset: meta.base_offset,
                        log_append_time_ms: meta.append_time,
                        log_start_offset: 0,
                        ..Default::default()
                    };
                }
                Verdict::Reject(code, why) => return partition_error(index, code, why),
            }
        }
        let base_offset = part.log_end_offset;
        batch.base_offset = base_offset;
        batch.partition_leader_epoch = part.leader_epoch;
        part.log_end_offset += i64::from(batch.last_offset_delta) + 1;
        if batch.producer_id >= 0 {
            part.producers.append(
                batch.producer_id,
                batch.producer_epoch,
                BatchMeta { first_seq: batch.base_sequence, last_seq, base_offset, append_time },
            );
        }
        part.log.push(StoredBatch { batch, append_time });
        PartitionProduceResponse {
            index,
            error_code: 0,
            base_offset,
            log_append_time_ms: append_time,
            log_start_offset: 0,
            ..Default::default()
        }
    }

    // ---- InitProducerId --------------------------------------------------

    fn new_producer_id(&mut self) -> (i64, i16) {
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        self.producer_epochs.insert(id, 0);
        (id, 0)
    }

    /// Bumps the epoch of `id`, which the client says is at `epoch` (-1: the
    /// client does not know, e.g. a new session of a transactional id).
    fn bump_epoch(&mut self, version: i16, id: i64, epoch: i16) -> Result<(i64, i16), KafkaCode> {
        let Some(current) = self.producer_epochs.get_mut(&id) else {
            return Err(KafkaCode::INVALID_PRODUCER_ID_MAPPING);
        };
        if epoch >= 0 && epoch != *current {
            if epoch == *current - 1 {
                // A retry whose earlier answer was lost: Kafka answers the
                // current epoch again.
                return Ok((id, *current));
            }
            return Err(if version >= 4 {
                KafkaCode::PRODUCER_FENCED
            } else {
                KafkaCode::INVALID_PRODUCER_EPOCH
            });
        }
        if *current >= i16::MAX - 1 {
            // Epoch exhausted: a fresh producer id, as Kafka does.
            return Ok(self.new_producer_id());
        }
        *current += 1;
        Ok((id, *current))
    }

    fn init_producer_id(
        &mut self,
        version: i16,
        req: &InitProducerIdRequest,
        error: Option<KafkaCode>,
    ) -> InitProducerIdResponse {
        let fail = |code: KafkaCode| InitProducerIdResponse {
            error_code: code.0,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        };
        if let Some(code) = error {
            return fail(code);
        }
        let (id, epoch) = (req.producer_id, req.producer_epoch);
        if (id == -1) != (epoch == -1) {
            return fail(KafkaCode::INVALID_REQUEST);
        }
        let result = match req.transactional_id.as_deref() {
            Some("") => Err(KafkaCode::INVALID_REQUEST),
            Some(txn) => match self.transactional_ids.get(txn).copied() {
                Some(current) if id == -1 || id == current => self.bump_epoch(version, current, epoch),
                Some(_) => Err(KafkaCode::INVALID_PRODUCER_ID_MAPPING),
                None => {
                    let (new_id, new_epoch) = self.new_producer_id();
                    self.transactional_ids.insert(txn.to_owned(), new_id);
                    Ok((new_id, new_epoch))
                }
            },
            // Kafka hands an idempotent producer a new id whatever it sends.
            None if self.settings.bump_epoch_on_init && id >= 0 => self.bump_epoch(version, id, epoch),
            None => Ok(self.new_producer_id()),
        };
        match result {
            Ok((producer_id, producer_epoch)) => {
                InitProducerIdResponse { producer_id, producer_epoch, ..Default::default() }
            }
            Err(code) => fail(code),
        }
    }

    // ---- CreateTopics / DeleteTopics -------------------------------------

    fn create_topics(
        &mut self,
        version: i16,
        req: &CreateTopicsRequest,
        error: Option<KafkaCode>,
    ) -> CreateTopicsResponse {
        let mut resp = CreateTopicsResponse::default();
        for t in &req.topics {
            let mut r = CreatableTopicResult { name: t.name.clone(), ..Default::default() };
            let duplicated = req.topics.iter().filter(|o| o.name == t.name).count() > 1;
            let outcome = if let Some(code) = error {
                Err((code, "injected error".to_owned()))
            } else if duplicated {
                Err((KafkaCode::INVALID_REQUEST, format!("topic '{}' appears more than once", t.name)))
            } else {
                self.create_topic(t, version >= 4, req.validate_only)
            };
            match outcome {
                Ok((id, partitions, replication)) => {
                    if version >= 7 {
                        r.topic_id = id;
                    }
                    if version >= 5 {
                        r.num_partitions = partitions;
                        r.replication_factor = replication;
                        r.configs = Some(self.topic_configs(&t.name, &t.configs));
                    }
                }
                Err((code, why)) => {
                    r.error_code = code.0;
                    r.error_message = Some(why);
                }
            }
            resp.topics.push(r);
        }
        resp
    }

    /// The configs a CreateTopics v5+ response lists for a topic.
    fn topic_configs(&self, name: &str, asked: &[CreatableTopicConfig]) -> Vec<CreatableTopicConfigs> {
        const TOPIC_CONFIG: i8 = 1;
        const DEFAULT_CONFIG: i8 = 5;
        let set = |key: &str| asked.iter().any(|c| c.name == key);
        let topic = self.topics.get(name);
        let max = topic.and_then(|t| t.max_message_bytes).unwrap_or(self.settings.max_message_bytes);
        let append = topic.is_some_and(|t| t.log_append_time)
            || asked
                .iter()
                .any(|c| c.name == "message.timestamp.type" && c.value.as_deref() == Some("LogAppendTime"));
        let entry = |key: &str, value: String| CreatableTopicConfigs {
            name: key.to_owned(),
            value: Some(value),
            read_only: false,
            config_source: if set(key) { TOPIC_CONFIG } else { DEFAULT_CONFIG },
            is_sensitive: false,
        };
        vec![
            entry("max.message.bytes", max.to_string()),
            entry("message.timestamp.type", if append { "LogAppendTime" } else { "CreateTime" }.to_owned()),
        ]
    }

    fn delete_topics(
        &mut self,
        version: i16,
        req: &DeleteTopicsRequest,
        error: Option<KafkaCode>,
    ) -> DeleteTopicsResponse {
        let mut resp = DeleteTopicsResponse::default();
        if version >= 6 {
            for t in &req.topics {
                let name = match &t.name {
                    Some(n) => Some(n.clone()),
                    None => self.topics.iter().find(|(_, x)| x.id == t.topic_id).map(|(n, _)| n.clone()),
                };
                let mut r =
                    DeletableTopicResult { name: name.clone(), topic_id: t.topic_id, ..Default::default() };
                let outcome = match (error, &name) {
                    (Some(code), _) => Err((code, "injected error".to_owned())),
                    (None, None) => Err((KafkaCode::UNKNOWN_TOPIC_ID, "unknown topic id".to_owned())),
                    (None, Some(n)) => {
                        let id = self.topics.get(n).map(|x| x.id);
                        self.delete_topic(n).map(|()| id)
                    }
                };
                match outcome {
                    Ok(id) => r.topic_id = id.unwrap_or(t.topic_id),
                    Err((code, why)) => {
                        r.error_code = code.0;
                        r.error_message = Some(why);
                    }
                }
                resp.responses.push(r);
            }
        } else {
            for name in &req.topic_names {
                let outcome = match error {
                    Some(code) => Err((code, "injected error".to_owned())),
                    None => self.delete_topic(name),
                };
                let mut r = DeletableTopicResult { name: Some(name.clone()), ..Default::default() };
                if let Err((code, why)) = outcome {
                    r.error_code = code.0;
                    if version >= 5 {
                        r.error_message = Some(why);
                    }
                }
                resp.responses.push(r);
            }
        }
        resp
    }
}

/// A partition response carrying an error (offsets -1, as Kafka sends them).
fn partition_error(index: i32, code: KafkaCode, why: impl Into<String>) -> PartitionProduceResponse {
    PartitionProduceResponse {
        index,
        error_code: code.0,
        base_offset: -1,
        log_append_time_ms: -1,
        log_start_offset: -1,
        error_message: Some(why.into()),
        ..Default::default()
    }
}

fn unknown_topic(name: &str) -> Rejection {
    (KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, format!("unknown topic '{name}'"))
}

fn unknown_partition(topic: &str, partition: i32) -> Rejection {
    (KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, format!("unknown partition {topic}-{partition}"))
}

/// Checks a partition's `records` as a Kafka broker checks what a producer
/// sends (`ProduceRequest.validateRecords`, `UnifiedLog.analyzeAndValidateRecords`,
/// `LogValidator`), in the same order, and decodes the one batch.
pub(crate) fn validate_batch(
    records: Option<&[u8]>,
    version: i16,
    max_message_bytes: usize,
) -> Result<RecordBatch, Rejection> {
    let bytes = match records {
        None | Some([]) => {
            return Err((
                KafkaCode::INVALID_RECORD,
                "a produce request must carry exactly one record batch".into(),
            ))
        }
        Some(b) => b,
    };
    if bytes.len() < LOG_OVERHEAD {
        return Err((
            KafkaCode::CORRUPT_MESSAGE,
            format!("{} bytes cannot hold a record batch", bytes.len()),
        ));
    }
    let batch_length = i32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if batch_length < MIN_BATCH_LENGTH {
        return Err((KafkaCode::CORRUPT_MESSAGE, format!("batch length {batch_length} is too small")));
    }
    let size = LOG_OVERHEAD + batch_length as usize;
    if size > bytes.len() {
        return Err((
            KafkaCode::CORRUPT_MESSAGE,
            format!("batch claims {size} bytes but only {} were sent", bytes.len()),
        ));
    }
    if size > max_message_bytes {
        return Err((
            KafkaCode::MESSAGE_TOO_LARGE,
            format!("batch of {size} bytes is larger than max.message.bytes {max_message_bytes}"),
        ));
    }
    let (batch, used) = RecordBatch::decode(bytes, DECOMPRESSED_LIMIT).map_err(|e| match e {
        DecodeError::UnsupportedCompression(_) => (KafkaCode::UNSUPPORTED_COMPRESSION_TYPE, e.to_string()),
        e => (KafkaCode::CORRUPT_MESSAGE, format!("corrupt record batch: {e}")),
    })?;
    if used != bytes.len() {
        return Err((
            KafkaCode::INVALID_RECORD,
            "a produce request must carry exactly one record batch".into(),
        ));
    }
    if batch.base_offset != 0 {
        return Err((
            KafkaCode::INVALID_RECORD,
            format!("batch base offset must be 0, not {}", batch.base_offset),
        ));
    }
    if batch.is_control {
        return Err((KafkaCode::INVALID_RECORD, "clients may not send control batches".into()));
    }
    if batch.records.is_empty() {
        return Err((KafkaCode::INVALID_RECORD, "record batch has no records".into()));
    }
    if batch.compression == Compression::Zstd && version < 7 {
        return Err((KafkaCode::UNSUPPORTED_COMPRESSION_TYPE, "zstd needs Produce v7 or later".into()));
    }
    if batch.is_transactional {
        // The mock implements no transaction APIs, so no partition can have
        // been added to a transaction (Kafka 3.6+ answers this too).
        return Err((KafkaCode::INVALID_TXN_STATE, "transactions are not supported by the mock".into()));
    }
    Ok(batch)
}

/// Kafka's topic name rule: 1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub(crate) fn validate_topic_name(name: &str) -> Result<(), Rejection> {
    let bad =
        |why: &str| Err((KafkaCode::INVALID_TOPIC_EXCEPTION, format!("invalid topic name '{name}': {why}")));
    if name.is_empty() {
        return bad("empty");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return bad("longer than 249 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return bad("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// Kafka's rule for the client software name and version (ApiVersions v3+):
/// `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn valid_software_field(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
        }
        _ => false,
    }
}

/// Validates a manual replica assignment: partitions 0..n each once, known
/// brokers, no broker twice in a partition, the same replica count everywhere.
fn manual_assignment(
    assignments: &[CreatableReplicaAssignment],
    ids: &[i32],
) -> Result<Vec<Vec<i32>>, Rejection> {
    let bad = |why: String| Err((KafkaCode::INVALID_REPLICA_ASSIGNMENT, why));
    if assignments.len() > MAX_PARTITIONS as usize {
        return Err((KafkaCode::INVALID_PARTITIONS, format!("more than {MAX_PARTITIONS} partitions")));
    }
    let mut out = vec![Vec::new(); assignments.len()];
    for a in assignments {
        let Some(slot) = usize::try_from(a.partition_index).ok().and_then(|i| out.get_mut(i)) else {
            return bad(format!("partition {} is outside 0..{}", a.partition_index, assignments.len()));
        };
        if !slot.is_empty() {
            return bad(format!("partition {} is assigned twice", a.partition_index));
        }
        if a.broker_ids.is_empty() {
            return bad(format!("partition {} has no replicas", a.partition_index));
        }
        for (i, b) in a.broker_ids.iter().enumerate() {
            if !ids.contains(b) {
                return bad(format!("partition {}: unknown broker {b}", a.partition_index));
            }
            if a.broker_ids[..i].contains(b) {
                return bad(format!("partition {}: broker {b} appears twice", a.partition_index));
            }
        }
        slot.clone_from(&a.broker_ids);
    }
    if out.iter().any(|r| r.len() != out[0].len()) {
        return bad("all partitions must have the same number of replicas".into());
    }
    Ok(out)
}

/// Reads the topic configs the mock honours: `max.message.bytes` and
/// `message.timestamp.type`. Other names are accepted and ignored.
fn parse_topic_configs(configs: &[CreatableTopicConfig]) -> Result<(Option<usize>, bool), Rejection> {
    let mut max = None;
    let mut append_time = false;
    for c in configs {
        let value = c.value.as_deref();
        match c.name.as_str() {
            "max.message.bytes" => match value.and_then(|v| v.parse::<usize>().ok()) {
                Some(v) if v <= i32::MAX as usize => max = Some(v),
                _ => return Err((KafkaCode::INVALID_CONFIG, format!("invalid max.message.bytes {value:?}"))),
            },
            "message.timestamp.type" => match value {
                Some("CreateTime") => append_time = false,
                Some("LogAppendTime") => append_time = true,
                _ => {
                    return Err((
                        KafkaCode::INVALID_CONFIG,
                        format!("invalid message.timestamp.type {value:?}"),
                    ))
                }
            },
            _ => {}
        }
    }
    Ok((max, append_time))
}

/// A topic id for the `n`th topic created: unique in the cluster, shaped like
/// a version-4 UUID.
fn topic_id(n: u64) -> Uuid {
    // splitmix64, twice, so ids look random but are reproducible.
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&mix(n).to_be_bytes());
    id[8..].copy_from_slice(&n.to_be_bytes());
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::record_batch::{BatchParams, Header, RecordBatchWriter};

    fn cluster(n: i32) -> ClusterState {
        ClusterState::new(
            (1..=n)
                .map(|id| BrokerInfo { id, port: 9000 + id as u16, response_delay: Duration::ZERO })
                .collect(),
            false,
        )
    }

    fn spec(name: &str, partitions: i32, replication: i16) -> CreatableTopic {
        CreatableTopic {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: replication,
            ..Default::default()
        }
    }

    fn batch(n: usize, params: BatchParams) -> Vec<u8> {
        let mut w = RecordBatchWriter::new(Vec::new(), 1_000);
        for i in 0..n {
            w.append(
                1_000 + i as i64,
                Some(b"k"),
                Some(format!("v{i}").as_bytes()),
                &[Header::new("h", "x")],
            );
        }
        w.finish(&params, Compression::None, None).unwrap()
    }

    fn idem(pid: i64, epoch: i16, seq: i32) -> BatchParams {
        BatchParams { producer_id: pid, producer_epoch: epoch, base_sequence: seq, ..Default::default() }
    }

    fn produce(c: &mut ClusterState, broker: i32, records: Vec<u8>) -> PartitionProduceResponse {
        let data = PartitionProduceData { index: 0, records: Some(records) };
        c.produce_partition(broker, 9, "t", &data)
    }

    #[test]
    fn topic_names() {
        assert!(validate_topic_name("orders.v1_x-y").is_ok());
        for bad in ["", ".", "..", "a b", "ü", &"x".repeat(250)] {
            assert_eq!(
                validate_topic_name(bad).unwrap_err().0,
                KafkaCode::INVALID_TOPIC_EXCEPTION,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn software_fields() {
        assert!(valid_software_field("kafka-sync"));
        assert!(valid_software_field("0.1.0"));
        assert!(valid_software_field("a"));
        for bad in ["", "-a", "a-", "a b", "a_b"] {
            assert!(!valid_software_field(bad), "{bad:?}");
        }
    }

    #[test]
    fn create_spreads_leaders_round_robin() {
        let mut c = cluster(3);
        c.create_topic(&spec("t", 4, 2), false, false).unwrap();
        let leaders: Vec<_> = (0..4).map(|p| c.leader("t", p).unwrap().0).collect();
        assert_eq!(leaders, [1, 2, 3, 1]);
        assert_eq!(c.partition("t", 2).unwrap().replicas, [3, 1]);
        assert_eq!(
            c.create_topic(&spec("t", 1, 1), false, false).unwrap_err().0,
            KafkaCode::TOPIC_ALREADY_EXISTS
        );
        assert_eq!(
            c.create_topic(&spec("u", 0, 1), false, false).unwrap_err().0,
            KafkaCode::INVALID_PARTITIONS
        );
        assert_eq!(
            c.create_topic(&spec("u", 1, 4), false, false).unwrap_err().0,
            KafkaCode::INVALID_REPLICATION_FACTOR
        );
        assert_eq!(
            c.create_topic(&spec("u", -1, -1), false, false).unwrap_err().0,
            KafkaCode::INVALID_PARTITIONS
        );
        assert_eq!(c.create_topic(&spec("u", -1, -1), true, true).unwrap().1, 1);
        assert!(c.partition_count("u").is_none(), "validate_only creates nothing");
    }

    #[test]
    fn manual_assignments_are_checked() {
        let mut c = cluster(3);
        let mut s = spec("m", -1, -1);
        s.assignments = vec![
            CreatableReplicaAssignment { partition_index: 1, broker_ids: vec![3, 1] },
            CreatableReplicaAssignment { partition_index: 0, broker_ids: vec![2, 3] },
        ];
        assert_eq!(c.create_topic(&s, false, false).unwrap().1, 2);
        assert_eq!(c.leader("m", 0), Some((2, 0)));
        assert_eq!(c.leader("m", 1), Some((3, 0)));
        for bad in [
            vec![(0, vec![9])],
            vec![(0, vec![1, 1])],
            vec![(1, vec![1])],
            vec![(0, vec![1]), (1, vec![1, 2])],
        ] {
            let mut s = spec("n", -1, -1);
            s.assignments = bad
                .into_iter()
                .map(|(p, b)| CreatableReplicaAssignment { partition_index: p, broker_ids: b })
                .collect();
            assert_eq!(
                c.create_topic(&s, false, false).unwrap_err().0,
                KafkaCode::INVALID_REPLICA_ASSIGNMENT
            );
        }
    }

    #[test]
    fn produce_validates_and_appends() {
        let mut c = cluster(2);
        c.create_topic(&spec("t", 1, 1), false, false).unwrap();
        let r = produce(&mut c, 1, batch(3, BatchParams::default()));
        assert_eq!((r.error_code, r.base_offset, r.log_start_offset), (0, 0, 0));
        let r = produce(&mut c, 1, batch(2, BatchParams::default()));
        assert_eq!((r.error_code, r.base_offset), (0, 3));
        assert_eq!(c.log_end_offset("t", 0), Some(5));
        assert_eq!(
            produce(&mut c, 2, batch(1, BatchParams::default())).error_code,
            KafkaCode::NOT_LEADER_OR_FOLLOWER.0
        );

        let mut corrupt = batch(1, BatchParams::default());
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert_eq!(produce(&mut c, 1, corrupt).error_code, KafkaCode::CORRUPT_MESSAGE.0);
        let mut two = batch(1, BatchParams::default());
        two.extend(batch(1, BatchParams::default()));
        assert_eq!(produce(&mut c, 1, two).error_code, KafkaCode::INVALID_RECORD.0);
        assert_eq!(produce(&mut c, 1, Vec::new()).error_code, KafkaCode::INVALID_RECORD.0);
        assert_eq!(produce(&mut c, 1, vec![0; 5]).error_code, KafkaCode::CORRUPT_MESSAGE.0);
        let txn = BatchParams { is_transactional: true, ..Default::default() };
        assert_eq!(produce(&mut c, 1, batch(1, txn)).error_code, KafkaCode::INVALID_TXN_STATE.0);
        assert_eq!(c.log_end_offset("t", 0), Some(5), "nothing rejected was appended");

        c.settings.max_message_bytes = 100;
        assert_eq!(
            produce(&mut c, 1, batch(10, BatchParams::default())).error_code,
            KafkaCode::MESSAGE_TOO_LARGE.0
        );
    }

    #[test]
    fn produce_idempotence_and_duplicates() {
        let mut c = cluster(1);
        c.create_topic(&spec("t", 1, 1), false, false).unwrap();
        assert_eq!(produce(&mut c, 1, batch(2, idem(7, 0, 0))).base_offset, 0);
        assert_eq!(produce(&mut c, 1, batch(1, BatchParams::default())).base_offset, 2);
        assert_eq!(produce(&mut c, 1, batch(3, idem(7, 0, 2))).base_offset, 3);
        let dup = produce(&mut c, 1, batch(2, idem(7, 0, 0)));
        assert_eq!((dup.error_code, dup.base_offset), (0, 0));
        c.settings.duplicate_answer = DuplicateAnswer::DuplicateSequenceNumber;
        let dup = produce(&mut c, 1, batch(3, idem(7, 0, 2)));
        assert_eq!((dup.error_code, dup.base_offset), (KafkaCode::DUPLICATE_SEQUENCE_NUMBER.0, 3));
        assert_eq!(
            produce(&mut c, 1, batch(1, idem(7, 0, 9))).error_code,
            KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER.0
        );
        assert_eq!(c.log_end_offset("t", 0), Some(6));
        let recs = c.records("t", 0);
        assert_eq!(recs.iter().map(|r| r.sequence).collect::<Vec<_>>(), [0, 1, -1, 2, 3, 4]);
        assert_eq!(recs[4].offset, 4);
        assert_eq!(recs[4].batch_base_offset, 3);
        assert_eq!(recs[1].timestamp, 1_001);
    }

    #[test]
    fn init_producer_id_kafka_and_bump_modes() {
        let mut c = cluster(1);
        let req = InitProducerIdRequest::default();
        let a = c.init_producer_id(4, &req, None);
        let b = c.init_producer_id(4, &req, None);
        assert_eq!(
            (a.producer_id, a.producer_epoch, b.producer_id),
            (FIRST_PRODUCER_ID, 0, FIRST_PRODUCER_ID + 1)
        );
        let again =
            InitProducerIdRequest { producer_id: a.producer_id, producer_epoch: 0, ..Default::default() };
        // Kafka: an idempotent producer gets a new id whatever it sends.
        assert_eq!(c.init_producer_id(4, &again, None).producer_id, FIRST_PRODUCER_ID + 2);
        c.settings.bump_epoch_on_init = true;
        let r = c.init_producer_id(4, &again, None);
        assert_eq!((r.producer_id, r.producer_epoch), (a.producer_id, 1));
        let stale =
            InitProducerIdRequest { producer_id: a.producer_id, producer_epoch: 5, ..Default::default() };
        assert_eq!(c.init_producer_id(4, &stale, None).error_code, KafkaCode::PRODUCER_FENCED.0);
        assert_eq!(c.init_producer_id(3, &stale, None).error_code, KafkaCode::INVALID_PRODUCER_EPOCH.0);
        let half = InitProducerIdRequest { producer_id: 5, producer_epoch: -1, ..Default::default() };
        assert_eq!(c.init_producer_id(4, &half, None).error_code, KafkaCode::INVALID_REQUEST.0);
        let txn = InitProducerIdRequest { transactional_id: Some("tx".into()), ..Default::default() };
        let t1 = c.init_producer_id(4, &txn, None);
        let t2 = c.init_producer_id(4, &txn, None);
        assert_eq!((t2.producer_id, t2.producer_epoch), (t1.producer_id, 1));
        assert_eq!(
            c.init_producer_id(4, &req, Some(KafkaCode::COORDINATOR_LOAD_IN_PROGRESS)).producer_id,
            -1
        );
    }

    #[test]
    fn plan_takes_injections_in_order() {
        let mut c = cluster(1);
        c.inject(
            api_key::INIT_PRODUCER_ID,
            [Injection::Error(KafkaCode::NOT_COORDINATOR), Injection::Drop(DropPoint::BeforeProcessing)],
        );
        let h = RequestHeader {
            api_key: api_key::INIT_PRODUCER_ID,
            api_version: 4,
            correlation_id: 1,
            client_id: None,
        };
        let inc = Incoming::Request(h, RequestBody::InitProducerId(InitProducerIdRequest::default()));
        let p = c.plan(1, &inc, None);
        match p.reply.unwrap().body {
            ResponseBody::InitProducerId(r) => assert_eq!(r.error_code, KafkaCode::NOT_COORDINATOR.0),
            other => panic!("{other:?}"),
        }
        let p = c.plan(1, &inc, None);
        assert!(p.reply.is_none() && p.then == Then::Close);
        assert!(c.plan(1, &inc, None).reply.is_some());
        assert_eq!(c.request_count(api_key::INIT_PRODUCER_ID), 3);
        assert_eq!(c.next_producer_id, FIRST_PRODUCER_ID + 1, "only the third request got an id");
    }

    #[test]
    fn without_sasl_its_apis_are_neither_advertised_nor_served() {
        let mut c = cluster(1);
        let listed: Vec<i16> = c.advertised_list().iter().map(|k| k.api_key).collect();
        assert!(!listed.contains(&api_key::SASL_HANDSHAKE) && !listed.contains(&api_key::SASL_AUTHENTICATE));
        assert_eq!(listed.len(), API_KEYS.len() - SASL_APIS.len() - TELEMETRY_APIS.len() - TXN_APIS.len());
        for api in TXN_APIS {
            assert!(!listed.contains(&api));
            let e = c.set_advertised(api, supported_versions(api).unwrap()).unwrap_err();
            assert_eq!(e.0, KafkaCode::INVALID_REQUEST);
        }
        for api in TELEMETRY_APIS {
            assert!(!listed.contains(&api));
            assert_eq!(
                c.set_advertised(api, VersionRange::new(0, 0)).unwrap_err().0,
                KafkaCode::INVALID_REQUEST
            );
        }
        for api in SASL_APIS {
            let e = c.set_advertised(api, VersionRange::new(0, 1)).unwrap_err();
            assert_eq!(e.0, KafkaCode::INVALID_REQUEST);
        }
        let h = RequestHeader {
            api_key: api_key::SASL_HANDSHAKE,
            api_version: 1,
            correlation_id: 1,
            client_id: None,
        };
        let inc = Incoming::Request(h, RequestBody::SaslHandshake(Default::default()));
        let p = c.plan(1, &inc, None);
        assert!(p.reply.is_none() && p.then == Then::Close);
    }

    #[test]
    fn with_sasl_its_apis_are_advertised_and_narrowable() {
        let mut c =
            ClusterState::new(vec![BrokerInfo { id: 1, port: 9092, response_delay: Duration::ZERO }], true);
        let range = |c: &ClusterState, k| c.advertised.get(&k).copied();
        assert_eq!(range(&c, api_key::SASL_HANDSHAKE), Some(VersionRange::new(0, 1)));
        assert_eq!(range(&c, api_key::SASL_AUTHENTICATE), Some(VersionRange::new(0, 2)));
        c.set_advertised(api_key::SASL_AUTHENTICATE, VersionRange::new(0, 0)).unwrap();
        assert_eq!(range(&c, api_key::SASL_AUTHENTICATE), Some(VersionRange::new(0, 0)));
        assert!(c.set_advertised(api_key::SASL_HANDSHAKE, VersionRange::new(0, 2)).is_err());
    }

    #[test]
    fn telemetry_apis_are_advertised_only_with_a_subscription() {
        let mut c = cluster(1);
        let has = |c: &ClusterState, k| c.advertised.contains_key(&k);
        c.set_telemetry(Some(MockTelemetry::default()));
        for api in TELEMETRY_APIS {
            assert!(has(&c, api));
            c.set_advertised(api, VersionRange::new(0, 0)).unwrap();
        }
        let h = RequestHeader {
            api_key: api_key::GET_TELEMETRY_SUBSCRIPTIONS,
            api_version: 0,
            correlation_id: 1,
            client_id: None,
        };
        let inc = Incoming::Request(h, RequestBody::GetTelemetrySubscriptions(Default::default()));
        match c.plan(1, &inc, None).reply.map(|r| r.body) {
            Some(ResponseBody::GetTelemetrySubscriptions(r)) => {
                assert_eq!(r.error_code, 0);
                assert_ne!(r.client_instance_id, [0; 16]);
                assert_eq!(r.requested_metrics, [""]);
            }
            other => panic!("{other:?}"),
        }
        c.set_telemetry(None);
        for api in TELEMETRY_APIS {
            assert!(!has(&c, api));
        }
        assert!(c.plan(1, &inc, None).reply.is_none(), "not served once turned off");
    }

    #[test]
    fn topic_ids_are_unique_and_v4_shaped() {
        let a = topic_id(1);
        let b = topic_id(2);
        assert_ne!(a, b);
        assert_ne!(a, NIL_TOPIC_ID);
        assert_eq!(a[6] >> 4, 4);
    }
}
