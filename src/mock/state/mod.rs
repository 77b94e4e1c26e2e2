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
//!
//! The topics, their partitions' logs and Produce live in [`partitions`];
//! the transaction coordinator's state machine in [`coordinator`], and what
//! the transaction APIs do to the cluster in [`transactions`].

pub(crate) mod coordinator;
pub(crate) mod partitions;
mod transactions;
mod txn_requests;

use self::coordinator::Coordinators;
use self::partitions::{partition_error, topic_id, validate_topic_name, Topic};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::security::Session;
use super::telemetry::{MockTelemetry, TelemetryState};
use super::{DropPoint, DuplicateAnswer, Malformation, RequestLogEntry};
use crate::protocol::error::EncodeError;
use crate::protocol::frame::{finish_frame, start_frame};
use crate::protocol::header::{RequestHeader, ResponseHeader};
use crate::protocol::messages::api_versions::{
    ApiVersion, ApiVersionsRequest, ApiVersionsResponse, FinalizedFeature, SupportedFeature,
};
use crate::protocol::messages::create_topics::{
    CreatableTopic, CreatableTopicConfig, CreatableTopicConfigs, CreatableTopicResult, CreateTopicsRequest,
    CreateTopicsResponse,
};
use crate::protocol::messages::delete_topics::{
    DeletableTopicResult, DeleteTopicsRequest, DeleteTopicsResponse,
};
use crate::protocol::messages::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use crate::protocol::messages::metadata::{
    MetadataBroker, MetadataRequest, MetadataResponse, PartitionMetadata, TopicMetadata,
    AUTHORIZED_OPERATIONS_OMITTED, NIL_TOPIC_ID,
};
use crate::protocol::messages::{supported_versions, RequestBody, ResponseBody, API_KEYS};
use crate::protocol::primitives::Uuid;
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
/// The feature KIP-890 finalizes to turn on transactions v2.
const TRANSACTION_VERSION: &str = "transaction.version";
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
        let (api_key, version) = (self.body.api_key(), self.version);
        // Every body's API is one the codec knows, so this cannot fail.
        let header_version = RequestBody::response_header_version(api_key, version)
            .map_err(|_| EncodeError::UnsupportedVersion { api_key, version })?;
        let at = start_frame(buf);
        ResponseHeader { correlation_id: self.correlation_id }.encode(buf, header_version);
        self.body.encode(buf, version)?;
        finish_frame(buf, at)
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
    /// Current epoch of every producer id handed out without a
    /// transactional id (for [`Settings::bump_epoch_on_init`]).
    producer_epochs: HashMap<i64, i16>,
    /// Transactions, committed group offsets, coordinator placement.
    coordinators: Coordinators,
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
            .filter_map(|&k| supported_versions(k).map(|r| (k, r)))
            .collect();
        Self {
            brokers,
            settings: Settings::default(),
            topics: BTreeMap::new(),
            topics_created: 0,
            next_producer_id: FIRST_PRODUCER_ID,
            producer_epochs: HashMap::new(),
            coordinators: Coordinators::default(),
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

    pub(crate) fn set_advertised(&mut self, api: i16, range: VersionRange) -> Result<(), Rejection> {
        let Some(codec) = supported_versions(api) else {
            return Err((
                KafkaCode::INVALID_REQUEST,
                format!("API key {api} is not implemented by the mock"),
            ));
        };
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
        self.expire_transactions(now_ms());

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
            match &mut r.body {
                ResponseBody::Produce(resp) => {
                    for p in resp.responses.iter_mut().flat_map(|t| t.partition_responses.iter_mut()) {
                        if p.error_code == 0 {
                            *p = partition_error(p.index, *code, "injected error after the append");
                        }
                    }
                }
                body => txn_requests::fail_after_processing(body, *code),
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
                Some(reply(v, ResponseBody::InitProducerId(self.init_producer_id(broker, v, req, error)))),
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
            RequestBody::FindCoordinator(req) => (
                Some(reply(v, ResponseBody::FindCoordinator(self.find_coordinator(v, req, error)))),
                Then::Continue,
            ),
            RequestBody::AddPartitionsToTxn(req) => {
                let resp = self.add_partitions_to_txn(broker, v, req, error);
                (Some(reply(v, ResponseBody::AddPartitionsToTxn(resp))), Then::Continue)
            }
            RequestBody::AddOffsetsToTxn(req) => {
                let resp = self.add_offsets_to_txn(broker, v, req, error);
                (Some(reply(v, ResponseBody::AddOffsetsToTxn(resp))), Then::Continue)
            }
            RequestBody::EndTxn(req) => {
                (Some(reply(v, ResponseBody::EndTxn(self.end_txn(broker, v, req, error)))), Then::Continue)
            }
            RequestBody::TxnOffsetCommit(req) => {
                let resp = self.txn_offset_commit(broker, v, req, error);
                (Some(reply(v, ResponseBody::TxnOffsetCommit(resp))), Then::Continue)
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
        let mut resp = ApiVersionsResponse { api_keys: self.advertised_list(), ..Default::default() };
        let tv = self.coordinators.transaction_version;
        if tv >= 1 {
            // A Kafka 4.x cluster: `transaction.version` supported and
            // finalized (KIP-890); 3.x brokers know no such feature.
            resp.supported_features =
                vec![SupportedFeature { name: TRANSACTION_VERSION.into(), min_version: 0, max_version: 2 }];
            resp.finalized_features_epoch = self.coordinators.features_epoch;
            resp.finalized_features = vec![FinalizedFeature {
                name: TRANSACTION_VERSION.into(),
                max_version_level: tv,
                min_version_level: tv,
            }];
        }
        (version, resp)
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

    // ---- InitProducerId --------------------------------------------------

    fn new_producer_id(&mut self) -> (i64, i16) {
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        self.producer_epochs.insert(id, 0);
        (id, 0)
    }

    /// Bumps the epoch of `id` (an idempotent producer, in librdkafka's
    /// mode), which the client says is at `epoch`.
    fn bump_epoch(&mut self, id: i64, epoch: i16) -> Result<(i64, i16), KafkaCode> {
        let Some(current) = self.producer_epochs.get_mut(&id) else {
            return Err(KafkaCode::INVALID_PRODUCER_ID_MAPPING);
        };
        if epoch >= 0 && epoch != *current {
            if epoch == *current - 1 {
                // A retry whose earlier answer was lost: Kafka answers the
                // current epoch again.
                return Ok((id, *current));
            }
            return Err(KafkaCode::PRODUCER_FENCED);
        }
        if *current >= i16::MAX - 1 {
            // Epoch exhausted: a fresh producer id, as Kafka does.
            return Ok(self.new_producer_id());
        }
        *current += 1;
        Ok((id, *current))
    }

    /// InitProducerId; with a transactional id, the coordinator's (see
    /// [`transactions`]).
    fn init_producer_id(
        &mut self,
        broker: i32,
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
        let expected = (id >= 0).then_some((id, epoch));
        let result = match req.transactional_id.as_deref() {
            Some(txn) => self.init_transactional(broker, txn, req.transaction_timeout_ms, expected),
            // Kafka hands an idempotent producer a new id whatever it sends.
            None if self.settings.bump_epoch_on_init && id >= 0 => self.bump_epoch(id, epoch),
            None => Ok(self.new_producer_id()),
        };
        match result {
            Ok((producer_id, producer_epoch)) => {
                InitProducerIdResponse { producer_id, producer_epoch, ..Default::default() }
            }
            // Clients before v4 do not know PRODUCER_FENCED (Kafka's KafkaApis).
            Err(KafkaCode::PRODUCER_FENCED) if version < 4 => fail(KafkaCode::INVALID_PRODUCER_EPOCH),
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

/// Helpers for the unit tests of the state's modules.
#[cfg(test)]
pub(super) mod test_support {
    use std::time::Duration;

    use super::{BrokerInfo, ClusterState};
    use crate::protocol::compression::Compression;
    use crate::protocol::messages::create_topics::CreatableTopic;
    use crate::protocol::messages::produce::{PartitionProduceData, PartitionProduceResponse};
    use crate::protocol::record_batch::{BatchParams, Header, RecordBatchWriter};

    pub(crate) fn cluster(n: i32) -> ClusterState {
        ClusterState::new(
            (1..=n)
                .map(|id| BrokerInfo { id, port: 9000 + id as u16, response_delay: Duration::ZERO })
                .collect(),
            false,
        )
    }

    pub(crate) fn spec(name: &str, partitions: i32, replication: i16) -> CreatableTopic {
        CreatableTopic {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: replication,
            ..Default::default()
        }
    }

    pub(crate) fn batch(n: usize, params: BatchParams) -> Vec<u8> {
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

    pub(crate) fn idem(pid: i64, epoch: i16, seq: i32) -> BatchParams {
        BatchParams { producer_id: pid, producer_epoch: epoch, base_sequence: seq, ..Default::default() }
    }

    pub(crate) fn produce(c: &mut ClusterState, broker: i32, records: Vec<u8>) -> PartitionProduceResponse {
        let data = PartitionProduceData { index: 0, records: Some(records) };
        c.produce_partition(broker, 9, None, "t", &data)
    }
}

#[cfg(test)]
mod tests;
