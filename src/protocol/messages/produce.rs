//! Produce (API key 0): write record batches to partition leaders.
//!
//! Versions 3-13. Version 3 is the first that carries record batch v2 (magic
//! 2) and the transactional id; Kafka 4.0 removed versions 0-2 (KIP-896) but
//! still advertises them, so this codec never goes below 3. On the wire:
//!
//! - v4: same as v3; the broker may answer `KAFKA_STORAGE_ERROR` (56).
//! - v5: the response adds `log_start_offset`.
//! - v6: same as v5.
//! - v7: same as v6; batches may be zstd-compressed (KIP-110).
//! - v8: the response adds per-record errors and an error message (KIP-467).
//! - v9: first flexible version (compact strings and arrays, tagged fields).
//! - v10: the response adds the tagged fields `current_leader` (per
//!   partition) and `node_endpoints` (KIP-951), so a producer can move to a new
//!   leader after `NOT_LEADER_OR_FOLLOWER` without a metadata round trip.
//! - v11: same as v10; the broker may answer `TRANSACTION_ABORTABLE` (KIP-890).
//! - v12: same as v11 on the wire (KIP-890 part 2: a transactional produce
//!   also adds the partition to the transaction).
//! - v13 (Kafka 4.1, KIP-516): each topic is named by its topic id (a
//!   `uuid`, learned from Metadata v10+) instead of its name, in the request
//!   ([`TopicProduceData::topic_id`]) and the response
//!   ([`TopicProduceResponse::topic_id`]); the name is not sent. A topic id the
//!   broker does not know is answered `UNKNOWN_TOPIC_ID` (100) per partition.
//!
//! Each topic struct has both a `name` and a `topic_id` (the schema's `Name`
//! is versions 0-12, `TopicId` 13+): versions 3-12 write the name and drop
//! the id, version 13 writes the id and drops the name, and decoding leaves
//! the field the version does not carry at its default (empty name, nil id).
//! A client that knows no id for a topic sends that request at v12.
//!
//! The records of each partition are carried as raw record batch bytes
//! ([`PartitionProduceData::records`]); see
//! [`record_batch`](crate::protocol::record_batch) for writing them. The
//! producer's hot path writes a request straight from borrowed batches with
//! [`encode_produce_request_parts`], without building a [`ProduceRequest`].

use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::frame::Splices;
use crate::protocol::primitives::{Decoder, TaggedFields, Uuid, Writer};
use crate::protocol::{api_key, Message, Request, VersionRange};

/// The versions this codec implements for Produce.
const VERSIONS: VersionRange = VersionRange::new(3, 13);
/// The first flexible Produce version.
const FLEXIBLE_FROM: i16 = 9;
/// The first version that names topics by id (KIP-516).
pub const TOPIC_IDS_FROM: i16 = 13;

/// The Produce request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProduceRequest {
    /// The transactional id, or `None` if the producer is not transactional.
    pub transactional_id: Option<String>,
    /// The acknowledgments the leader needs before it answers: `0` none (the
    /// broker sends no response at all), `1` the leader only, `-1` every
    /// in-sync replica.
    pub acks: i16,
    /// How long the broker may wait for the acknowledgments, in milliseconds.
    pub timeout_ms: i32,
    /// The data to write, per topic.
    pub topic_data: Vec<TopicProduceData>,
}

/// The data to write to one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicProduceData {
    /// The topic name. Versions 3-12; not sent from v13 (empty when decoded
    /// at v13).
    pub name: String,
    /// The topic id (all zeros: none). Added in v13, where it replaces the
    /// name; not sent below v13 (nil when decoded below v13).
    pub topic_id: Uuid,
    /// The data to write, per partition.
    pub partition_data: Vec<PartitionProduceData>,
}

/// The data to write to one partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionProduceData {
    /// The partition index.
    pub index: i32,
    /// The records: one or more encoded record batches (v2), or `None` for
    /// null. The codec does not look inside.
    pub records: Option<Vec<u8>>,
}

impl Message for ProduceRequest {
    const API_KEY: i16 = api_key::PRODUCE;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        buf.put_nullable_string(self.transactional_id.as_deref(), flex)?;
        buf.put_i16(self.acks);
        buf.put_i32(self.timeout_ms);
        buf.put_array_len(self.topic_data.len(), flex)?;
        for t in &self.topic_data {
            if version >= TOPIC_IDS_FROM {
                buf.put_uuid(&t.topic_id);
            } else {
                buf.put_string(&t.name, flex)?;
            }
            buf.put_array_len(t.partition_data.len(), flex)?;
            for p in &t.partition_data {
                buf.put_i32(p.index);
                buf.put_nullable_bytes(p.records.as_deref(), flex)?;
                if flex {
                    buf.put_empty_tagged_fields();
                }
            }
            if flex {
                buf.put_empty_tagged_fields();
            }
        }
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let transactional_id = d.nullable_string(flex)?;
        let acks = d.i16()?;
        let timeout_ms = d.i32()?;
        // A topic is at least a name length (or a topic id) and an array count
        // (+ tagged fields); a partition an index and a records length (+
        // tagged fields).
        let topic_min = topic_min_size(version);
        let partition_min = if flex { 6 } else { 8 };
        let topic_data = d.array_of(flex, topic_min, |d| {
            let (name, topic_id) = topic_key(d, version)?;
            let partition_data = d.array_of(flex, partition_min, |d| {
                let index = d.i32()?;
                let records = d.nullable_bytes(flex)?.map(<[u8]>::to_vec);
                if flex {
                    d.skip_tagged_fields()?;
                }
                Ok(PartitionProduceData { index, records })
            })?;
            if flex {
                d.skip_tagged_fields()?;
            }
            Ok(TopicProduceData { name, topic_id, partition_data })
        })?;
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(Self { transactional_id, acks, timeout_ms, topic_data })
    }
}

impl Request for ProduceRequest {
    type Response = ProduceResponse;
}

/// The smallest encoding of a topic entry (request or response) at
/// `version`: its name length or topic id, an array count, and (flexible)
/// tagged fields.
fn topic_min_size(version: i16) -> usize {
    match version {
        v if v >= TOPIC_IDS_FROM => 16 + 1 + 1,
        v if v >= FLEXIBLE_FROM => 1 + 1 + 1,
        _ => 2 + 4,
    }
}

/// Reads what names a topic entry: its name below v13, its id from v13.
fn topic_key(d: &mut Decoder<'_>, version: i16) -> Result<(String, Uuid), DecodeError> {
    if version >= TOPIC_IDS_FROM {
        Ok((String::new(), d.uuid()?))
    } else {
        Ok((d.string(version >= FLEXIBLE_FROM)?, Uuid::default()))
    }
}

/// How [`encode_produce_request_parts`] names a topic: by name in versions
/// 3-12, by topic id from v13 (KIP-516). `&str`, `&String` and [`Uuid`]
/// convert into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicRef<'a> {
    /// The topic name (versions 3-12).
    Name(&'a str),
    /// The topic id (v13+).
    Id(Uuid),
}

impl<'a> From<&'a str> for TopicRef<'a> {
    fn from(name: &'a str) -> Self {
        TopicRef::Name(name)
    }
}

impl<'a> From<&'a String> for TopicRef<'a> {
    fn from(name: &'a String) -> Self {
        TopicRef::Name(name)
    }
}

impl From<Uuid> for TopicRef<'_> {
    fn from(id: Uuid) -> Self {
        TopicRef::Id(id)
    }
}

/// Appends a Produce request body at `version` written straight from borrowed
/// parts, without building a [`ProduceRequest`]: the producer's hot path.
///
/// `topics` yields `(topic, partitions)` and each `partitions` yields
/// `(partition index, record batch bytes)`; both must know their length up
/// front ([`ExactSizeIterator`]), since array counts come first on the wire.
/// A topic is named by a [`TopicRef`]: its name (`&str`) in versions 3-12,
/// its id ([`Uuid`]) from v13. The bytes written are exactly those
/// [`ProduceRequest::encode`] writes for the same content (with every
/// `records` non-null).
///
/// # Errors
/// [`EncodeError::UnsupportedVersion`] outside versions 3-13,
/// [`EncodeError::FieldNotInVersion`] for a topic named by id below v13 or by
/// name from v13 (the version cannot say which topic is meant), and
/// [`EncodeError::TooLong`] for a name or batch too long for its length
/// prefix. On error, `buf` may hold part of the body.
///
/// # Example
///
/// ```
/// use kafka_sync::protocol::messages::produce::{encode_produce_request_parts, ProduceRequest};
/// use kafka_sync::protocol::{Decoder, Message};
///
/// let batch: &[u8] = &[0xde, 0xad]; // in practice, an encoded record batch
/// let topics: &[(&str, &[(i32, &[u8])])] = &[("events", &[(0, batch), (3, batch)])];
/// let mut buf = Vec::new();
/// encode_produce_request_parts(
///     &mut buf,
///     11,
///     None,
///     -1,
///     30_000,
///     topics.iter().map(|(name, parts)| (*name, parts.iter().copied())),
/// )
/// .unwrap();
///
/// let req = ProduceRequest::decode(&mut Decoder::new(&buf), 11).unwrap();
/// assert_eq!(req.topic_data[0].partition_data[1].index, 3);
///
/// // v13 names the topic by its id (from Metadata v10+).
/// let id = [7; 16];
/// buf.clear();
/// encode_produce_request_parts(&mut buf, 13, None, -1, 30_000, [(id, [(0, batch)])]).unwrap();
/// let req = ProduceRequest::decode(&mut Decoder::new(&buf), 13).unwrap();
/// assert_eq!(req.topic_data[0].topic_id, id);
/// ```
pub fn encode_produce_request_parts<'a, T, K, P, B>(
    buf: &mut Vec<u8>,
    version: i16,
    transactional_id: Option<&str>,
    acks: i16,
    timeout_ms: i32,
    topics: T,
) -> Result<(), EncodeError>
where
    T: IntoIterator<Item = (K, P)>,
    T::IntoIter: ExactSizeIterator,
    K: Into<TopicRef<'a>>,
    P: IntoIterator<Item = (i32, B)>,
    P::IntoIter: ExactSizeIterator,
    B: AsRef<[u8]>,
{
    encode_parts_with(buf, version, transactional_id, acks, timeout_ms, topics, |buf, records, flex| {
        buf.put_bytes(records.as_ref(), flex)
    })
}

/// [`encode_produce_request_parts`] without copying the record batches:
/// `buf` gets every byte of the body but theirs, and `splices` each batch
/// at its place (the broker thread writes the request with one vectored
/// write). `buf` with `splices` inserted is exactly what
/// `encode_produce_request_parts` writes.
pub(crate) fn encode_produce_request_spliced<'a, 'b, T, K, P>(
    buf: &mut Vec<u8>,
    version: i16,
    transactional_id: Option<&str>,
    acks: i16,
    timeout_ms: i32,
    topics: T,
    splices: &mut Splices<'b>,
) -> Result<(), EncodeError>
where
    T: IntoIterator<Item = (K, P)>,
    T::IntoIter: ExactSizeIterator,
    K: Into<TopicRef<'a>>,
    P: IntoIterator<Item = (i32, &'b [u8])>,
    P::IntoIter: ExactSizeIterator,
{
    encode_parts_with(buf, version, transactional_id, acks, timeout_ms, topics, |buf, records, flex| {
        buf.put_len32(records.len(), flex, "bytes")?;
        splices.push(buf.len(), records);
        Ok(())
    })
}

/// The Produce body, each partition's `records` written by `put_records`.
fn encode_parts_with<'a, T, K, P, B>(
    buf: &mut Vec<u8>,
    version: i16,
    transactional_id: Option<&str>,
    acks: i16,
    timeout_ms: i32,
    topics: T,
    mut put_records: impl FnMut(&mut Vec<u8>, B, bool) -> Result<(), EncodeError>,
) -> Result<(), EncodeError>
where
    T: IntoIterator<Item = (K, P)>,
    T::IntoIter: ExactSizeIterator,
    K: Into<TopicRef<'a>>,
    P: IntoIterator<Item = (i32, B)>,
    P::IntoIter: ExactSizeIterator,
{
    if !VERSIONS.contains(version) {
        return Err(EncodeError::UnsupportedVersion { api_key: api_key::PRODUCE, version });
    }
    let flex = version >= FLEXIBLE_FROM;
    buf.put_nullable_string(transactional_id, flex)?;
    buf.put_i16(acks);
    buf.put_i32(timeout_ms);
    let topics = topics.into_iter();
    buf.put_array_len(topics.len(), flex)?;
    for (topic, partitions) in topics {
        match (topic.into(), version >= TOPIC_IDS_FROM) {
            (TopicRef::Id(id), true) => buf.put_uuid(&id),
            (TopicRef::Name(name), false) => buf.put_string(name, flex)?,
            (TopicRef::Name(_), true) => {
                return Err(EncodeError::FieldNotInVersion { field: "topic_data.name", version })
            }
            (TopicRef::Id(_), false) => {
                return Err(EncodeError::FieldNotInVersion { field: "topic_data.topic_id", version })
            }
        }
        let partitions = partitions.into_iter();
        buf.put_array_len(partitions.len(), flex)?;
        for (index, records) in partitions {
            buf.put_i32(index);
            put_records(buf, records, flex)?;
            if flex {
                buf.put_empty_tagged_fields();
            }
        }
        if flex {
            buf.put_empty_tagged_fields();
        }
    }
    if flex {
        buf.put_empty_tagged_fields();
    }
    Ok(())
}

/// The Produce response.
///
/// A request sent with `acks = 0` gets no response at all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProduceResponse {
    /// The results, per topic.
    pub responses: Vec<TopicProduceResponse>,
    /// How long the request was throttled for a quota violation, in
    /// milliseconds, or zero.
    pub throttle_time_ms: i32,
    /// Endpoints of the new leaders named in
    /// [`PartitionProduceResponse::current_leader`] of partitions that
    /// answered `NOT_LEADER_OR_FOLLOWER`. Tagged field 0, v10+; not sent
    /// below v10.
    pub node_endpoints: Vec<NodeEndpoint>,
}

/// The results for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicProduceResponse {
    /// The topic name. Versions 3-12; not sent from v13 (empty when decoded
    /// at v13).
    pub name: String,
    /// The topic id, as the request named the topic. Added in v13, where it
    /// replaces the name; not sent below v13 (nil when decoded below v13).
    pub topic_id: Uuid,
    /// The results, per partition.
    pub partition_responses: Vec<PartitionProduceResponse>,
}

/// The result for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionProduceResponse {
    /// The partition index.
    pub index: i32,
    /// The error code, or 0.
    pub error_code: i16,
    /// The offset the broker gave the first record of the batch.
    pub base_offset: i64,
    /// The time the broker appended the batch, if the topic uses
    /// `LogAppendTime`; `-1` (the default) with `CreateTime`.
    pub log_append_time_ms: i64,
    /// The log start offset of the partition, `-1` by default. Added in v5;
    /// not sent below v5.
    pub log_start_offset: i64,
    /// The records that made the broker drop the batch, by index in the
    /// batch. Added in v8; not sent below v8.
    pub record_errors: Vec<BatchIndexAndErrorMessage>,
    /// A message summarizing why the batch was dropped, or `None`. Added in
    /// v8; not sent below v8.
    pub error_message: Option<String>,
    /// The leader the producer should use from now on; `-1`/`-1` (the default)
    /// when unknown. Tagged field 0, v10+; not sent below v10.
    pub current_leader: LeaderIdAndEpoch,
}

impl Default for PartitionProduceResponse {
    fn default() -> Self {
        Self {
            index: 0,
            error_code: 0,
            base_offset: 0,
            log_append_time_ms: -1,
            log_start_offset: -1,
            record_errors: Vec::new(),
            error_message: None,
            current_leader: LeaderIdAndEpoch::default(),
        }
    }
}

/// A record that made the broker drop its batch. Added in v8.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchIndexAndErrorMessage {
    /// The index of the record in its batch.
    pub batch_index: i32,
    /// Why the record was rejected, or `None`.
    pub batch_index_error_message: Option<String>,
}

/// A partition's current leader and its epoch. v10+.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderIdAndEpoch {
    /// The id of the leader broker, or `-1` if unknown.
    pub leader_id: i32,
    /// The latest known leader epoch, or `-1`.
    pub leader_epoch: i32,
}

impl Default for LeaderIdAndEpoch {
    fn default() -> Self {
        Self { leader_id: -1, leader_epoch: -1 }
    }
}

/// How to reach a broker. v10+.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeEndpoint {
    /// The broker id.
    pub node_id: i32,
    /// The broker's host name.
    pub host: String,
    /// The broker's port.
    pub port: i32,
    /// The broker's rack, or `None`.
    pub rack: Option<String>,
}

/// The smallest encoding of one partition response at `version`, for
/// checking array counts before allocating.
fn partition_response_min_size(version: i16) -> usize {
    // index, error_code, base_offset, log_append_time_ms.
    let mut n = 4 + 2 + 8 + 8;
    if version >= 5 {
        n += 8;
    }
    if version >= FLEXIBLE_FROM {
        // record_errors count, error_message length, tagged fields.
        n += 3;
    } else if version >= 8 {
        n += 4 + 2;
    }
    n
}

impl Message for ProduceResponse {
    const API_KEY: i16 = api_key::PRODUCE;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        buf.put_array_len(self.responses.len(), flex)?;
        for t in &self.responses {
            if version >= TOPIC_IDS_FROM {
                buf.put_uuid(&t.topic_id);
            } else {
                buf.put_string(&t.name, flex)?;
            }
            buf.put_array_len(t.partition_responses.len(), flex)?;
            for p in &t.partition_responses {
                buf.put_i32(p.index);
                buf.put_i16(p.error_code);
                buf.put_i64(p.base_offset);
                buf.put_i64(p.log_append_time_ms);
                if version >= 5 {
                    buf.put_i64(p.log_start_offset);
                }
                if version >= 8 {
                    buf.put_array_len(p.record_errors.len(), flex)?;
                    for e in &p.record_errors {
                        buf.put_i32(e.batch_index);
                        buf.put_nullable_string(e.batch_index_error_message.as_deref(), flex)?;
                        if flex {
                            buf.put_empty_tagged_fields();
                        }
                    }
                    buf.put_nullable_string(p.error_message.as_deref(), flex)?;
                }
                if flex {
                    let mut tags = TaggedFields::new();
                    if version >= 10 && p.current_leader != LeaderIdAndEpoch::default() {
                        tags.field(0, |b| {
                            b.put_i32(p.current_leader.leader_id);
                            b.put_i32(p.current_leader.leader_epoch);
                            b.put_empty_tagged_fields();
                        });
                    }
                    tags.write(buf);
                }
            }
            if flex {
                buf.put_empty_tagged_fields();
            }
        }
        buf.put_i32(self.throttle_time_ms);
        if flex {
            let mut tags = TaggedFields::new();
            if version >= 10 && !self.node_endpoints.is_empty() {
                tags.try_field(0, |b| {
                    b.put_array_len(self.node_endpoints.len(), true)?;
                    for n in &self.node_endpoints {
                        b.put_i32(n.node_id);
                        b.put_string(&n.host, true)?;
                        b.put_i32(n.port);
                        b.put_nullable_string(n.rack.as_deref(), true)?;
                        b.put_empty_tagged_fields();
                    }
                    Ok(())
                })?;
            }
            tags.write(buf);
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let responses = d.array_of(flex, topic_min_size(version), |d| {
            let (name, topic_id) = topic_key(d, version)?;
            let partition_responses = d.array_of(flex, partition_response_min_size(version), |d| {
                let mut p = PartitionProduceResponse {
                    index: d.i32()?,
                    error_code: d.i16()?,
                    base_offset: d.i64()?,
                    log_append_time_ms: d.i64()?,
                    ..Default::default()
                };
                if version >= 5 {
                    p.log_start_offset = d.i64()?;
                }
                if version >= 8 {
                    // batch_index and a message length: 4 + 2 classic, 4 + 1 + 1
                    // (tagged fields) flexible.
                    p.record_errors = d.array_of(flex, 6, |d| {
                        let e = BatchIndexAndErrorMessage {
                            batch_index: d.i32()?,
                            batch_index_error_message: d.nullable_string(flex)?,
                        };
                        if flex {
                            d.skip_tagged_fields()?;
                        }
                        Ok(e)
                    })?;
                    p.error_message = d.nullable_string(flex)?;
                }
                if flex {
                    d.tagged_fields(|tag, f| {
                        match tag {
                            0 if version >= 10 => {
                                p.current_leader =
                                    LeaderIdAndEpoch { leader_id: f.i32()?, leader_epoch: f.i32()? };
                                f.skip_tagged_fields()?;
                            }
                            _ => return Ok(false),
                        }
                        Ok(true)
                    })?;
                }
                Ok(p)
            })?;
            if flex {
                d.skip_tagged_fields()?;
            }
            Ok(TopicProduceResponse { name, topic_id, partition_responses })
        })?;
        let mut r = Self { responses, throttle_time_ms: d.i32()?, node_endpoints: Vec::new() };
        if flex {
            d.tagged_fields(|tag, f| {
                match tag {
                    0 if version >= 10 => {
                        // node_id, host length, port, rack length, tagged fields.
                        r.node_endpoints = f.array_of(true, 11, |f| {
                            let n = NodeEndpoint {
                                node_id: f.i32()?,
                                host: f.string(true)?,
                                port: f.i32()?,
                                rack: f.nullable_string(true)?,
                            };
                            f.skip_tagged_fields()?;
                            Ok(n)
                        })?
                    }
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests;

/// Proptest strategies producing Produce bodies that are valid at a given
/// version (fields the version cannot carry hold their defaults).
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use crate::protocol::strategies::{bytes, compact_string, nullable_string, small_vec};
    use proptest::prelude::*;

    /// What names a topic at `version`: a name below v13 (nil id), an id
    /// from v13 (empty name; sometimes nil, which the wire can carry).
    fn topic_key(version: i16) -> BoxedStrategy<(String, Uuid)> {
        if version >= TOPIC_IDS_FROM {
            prop_oneof![1 => Just(Uuid::default()), 9 => any::<Uuid>()]
                .prop_map(|id| (String::new(), id))
                .boxed()
        } else {
            compact_string().prop_map(|name| (name, Uuid::default())).boxed()
        }
    }

    /// Requests valid at `version`.
    pub fn request(version: i16) -> impl Strategy<Value = ProduceRequest> {
        let partition = (any::<i32>(), proptest::option::of(bytes()))
            .prop_map(|(index, records)| PartitionProduceData { index, records });
        let topic =
            (topic_key(version), small_vec(partition)).prop_map(|((name, topic_id), partition_data)| {
                TopicProduceData { name, topic_id, partition_data }
            });
        (nullable_string(), any::<i16>(), any::<i32>(), small_vec(topic)).prop_map(
            |(transactional_id, acks, timeout_ms, topic_data)| ProduceRequest {
                transactional_id,
                acks,
                timeout_ms,
                topic_data,
            },
        )
    }

    /// Responses valid at `version`.
    pub fn response(version: i16) -> impl Strategy<Value = ProduceResponse> {
        let record_error = (any::<i32>(), nullable_string()).prop_map(|(batch_index, m)| {
            BatchIndexAndErrorMessage { batch_index, batch_index_error_message: m }
        });
        let leader = (any::<i32>(), any::<i32>())
            .prop_map(|(leader_id, leader_epoch)| LeaderIdAndEpoch { leader_id, leader_epoch });
        let partition = (
            (any::<i32>(), any::<i16>(), any::<i64>(), any::<i64>(), any::<i64>()),
            small_vec(record_error),
            nullable_string(),
            prop_oneof![Just(LeaderIdAndEpoch::default()), leader],
        )
            .prop_map(move |((index, error_code, base_offset, append, start), errs, msg, leader)| {
                let mut p = PartitionProduceResponse {
                    index,
                    error_code,
                    base_offset,
                    log_append_time_ms: append,
                    ..Default::default()
                };
                if version >= 5 {
                    p.log_start_offset = start;
                }
                if version >= 8 {
                    p.record_errors = errs;
                    p.error_message = msg;
                }
                if version >= 10 {
                    p.current_leader = leader;
                }
                p
            });
        let topic =
            (topic_key(version), small_vec(partition)).prop_map(|((name, topic_id), partition_responses)| {
                TopicProduceResponse { name, topic_id, partition_responses }
            });
        let endpoint = (any::<i32>(), compact_string(), any::<i32>(), nullable_string())
            .prop_map(|(node_id, host, port, rack)| NodeEndpoint { node_id, host, port, rack });
        (small_vec(topic), any::<i32>(), small_vec(endpoint)).prop_map(move |(responses, throttle, nodes)| {
            ProduceResponse {
                responses,
                throttle_time_ms: throttle,
                node_endpoints: if version >= 10 { nodes } else { Vec::new() },
            }
        })
    }
}

#[cfg(test)]
crate::protocol::strategies::message_proptests!(ProduceRequest, ProduceResponse, super::strategies);

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::protocol::strategies::versions_of;
    use proptest::prelude::*;

    proptest! {


        /// The hot-path encoder writes exactly what the owned encoder writes.
        #[test]
        fn parts_encoder_matches_owned((v, mut m) in versions_of::<ProduceRequest>().prop_flat_map(|v| (Just(v), strategies::request(v)))) {
            // The parts encoder takes non-null batches, as a producer always has.
            for p in m.topic_data.iter_mut().flat_map(|t| t.partition_data.iter_mut()) {
                p.records.get_or_insert_with(Vec::new);
            }
            let mut owned = Vec::new();
            m.encode(&mut owned, v).unwrap();
            let topics = || m.topic_data.iter().map(move |t| {
                let key = if v >= TOPIC_IDS_FROM { TopicRef::Id(t.topic_id) } else { TopicRef::Name(&t.name) };
                (key, t.partition_data.iter().map(|p| (p.index, p.records.as_deref().unwrap_or_default())))
            });
            let mut parts = Vec::new();
            encode_produce_request_parts(
                &mut parts,
                v,
                m.transactional_id.as_deref(),
                m.acks,
                m.timeout_ms,
                topics(),
            )
            .unwrap();
            prop_assert_eq!(&parts, &owned);
            // The spliced encoder writes the same bytes, the batches left in place.
            let mut rest = Vec::new();
            let mut splices = Splices::default();
            encode_produce_request_spliced(
                &mut rest,
                v,
                m.transactional_id.as_deref(),
                m.acks,
                m.timeout_ms,
                topics(),
                &mut splices,
            )
            .unwrap();
            prop_assert_eq!(rest.len() + splices.len(), owned.len());
            prop_assert_eq!(splices.assemble(&rest), owned);
        }

    }
}
