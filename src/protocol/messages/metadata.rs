//! Metadata (API key 3): brokers, topics, partitions and their leaders.
//!
//! Versions 1-13. What each version changes on the wire:
//!
//! | version | request | response |
//! |---|---|---|
//! | 1 | topics may be null ("all topics") | broker rack, controller id, topic `is_internal` |
//! | 2 | same as 1 | cluster id |
//! | 3 | same as 1 | throttle time |
//! | 4 | `allow_auto_topic_creation` | same as 3 |
//! | 5 | same as 4 | partition `offline_replicas` |
//! | 6 | same as 4 | same as 5 (quota: response sent before throttling) |
//! | 7 | same as 4 | partition `leader_epoch` |
//! | 8 | `include_{cluster,topic}_authorized_operations` | topic and cluster authorized operations |
//! | 9 | first flexible version | first flexible version |
//! | 10 | topic id; topic name nullable | topic id |
//! | 11 | `include_cluster_authorized_operations` removed (KIP-700) | cluster authorized operations removed |
//! | 12 | same as 11 | topic name nullable (topics asked for by id that do not exist) |
//! | 13 | same as 11 | top-level `error_code` (KIP-1102: `REBOOTSTRAP_REQUIRED`, 129) |
//!
//! No version in 1-13 defines a tagged field: every tagged-field section is
//! written empty and unknown tags are skipped on decode.
//!
//! # Which topics: null versus empty
//!
//! In every version this codec implements (v1+), a **null** topic list
//! (`topics: None`) asks for all topics of the cluster, and an **empty** list
//! (`Some(vec![])`) asks for none: the response then carries only brokers,
//! cluster id and controller, which is the cheap request to bootstrap or
//! refresh the broker list. (Only v0, not implemented here, read an empty list
//! as "all topics".) A producer should name the topics it produces to: asking
//! for all topics costs the broker and the network in proportion to the
//! cluster's size.
//!
//! # Topic ids
//!
//! The request carries topic ids from v10, but the schema notes that brokers
//! did not implement lookup by id until v12: at v10 and v11 send names and
//! leave the id nil. Response topics carry their id from v10 (nil for a topic
//! asked for by name that does not exist).
//!
//! # Authorized operations
//!
//! Authorized-operation bit fields are only filled in when the request asked
//! for them; otherwise, and in versions that do not carry them, they hold
//! [`AUTHORIZED_OPERATIONS_OMITTED`] (`i32::MIN`).

use super::{min_len, min_str};
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{Decoder, Uuid, Writer};
use crate::protocol::{api_key, Message, Request, VersionRange};

/// The value of an authorized-operations bit field that was not requested or
/// that the version cannot carry (`i32::MIN`, the schema's default).
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// The nil UUID: "no topic id".
pub const NIL_TOPIC_ID: Uuid = [0; 16];

/// The Metadata request.
///
/// [`MetadataRequest::default`] asks for no topics (brokers only);
/// [`MetadataRequest::all_topics`] and [`MetadataRequest::for_topics`] build
/// the other two common requests.
///
/// Encoding fails with [`EncodeError::FieldNotInVersion`] where dropping a
/// field the version cannot carry would change what the broker does: a null
/// topic name below v10, and `allow_auto_topic_creation == false` below v4
/// (older brokers would auto-create the topics, if so configured). A topic id
/// below v10 is dropped when the topic also has a name, and the
/// `include_*_authorized_operations` flags are dropped outside their versions
/// (the response then carries [`AUTHORIZED_OPERATIONS_OMITTED`], so the caller
/// can tell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRequest {
    /// The topics to fetch metadata for: `None` for all topics, an empty list
    /// for none (see the [module docs](self)).
    pub topics: Option<Vec<MetadataRequestTopic>>,
    /// Whether the broker may auto-create requested topics that do not exist,
    /// if it is configured to. Added in v4; defaults to `true`, which is also
    /// what brokers do for v1-v3.
    pub allow_auto_topic_creation: bool,
    /// Whether to include cluster authorized operations. Added in v8, removed
    /// in v11 (KIP-700: use DescribeCluster). Defaults to `false`.
    pub include_cluster_authorized_operations: bool,
    /// Whether to include topic authorized operations. Added in v8. Defaults
    /// to `false`.
    pub include_topic_authorized_operations: bool,
}

impl Default for MetadataRequest {
    /// No topics: the response carries brokers, cluster id and controller only.
    fn default() -> Self {
        Self {
            topics: Some(Vec::new()),
            allow_auto_topic_creation: true,
            include_cluster_authorized_operations: false,
            include_topic_authorized_operations: false,
        }
    }
}

impl MetadataRequest {
    /// A request for every topic in the cluster (a null topic list).
    pub fn all_topics() -> Self {
        Self { topics: None, ..Self::default() }
    }

    /// A request for the named topics.
    ///
    /// ```
    /// use kafka_sync::protocol::messages::metadata::MetadataRequest;
    /// let req = MetadataRequest::for_topics(["orders", "payments"]);
    /// assert_eq!(req.topics.as_ref().map(Vec::len), Some(2));
    /// ```
    pub fn for_topics<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        let topics = names.into_iter().map(MetadataRequestTopic::named).collect();
        Self { topics: Some(topics), ..Self::default() }
    }
}

/// One topic of a [`MetadataRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRequestTopic {
    /// The topic id, or [`NIL_TOPIC_ID`]. Added in v10 (brokers look topics up
    /// by id from v12).
    pub topic_id: Uuid,
    /// The topic name. Nullable from v10 (for topics asked for by id).
    pub name: Option<String>,
}

impl MetadataRequestTopic {
    /// A topic asked for by name.
    pub fn named(name: impl Into<String>) -> Self {
        Self { topic_id: NIL_TOPIC_ID, name: Some(name.into()) }
    }
}

impl Message for MetadataRequest {
    const API_KEY: i16 = api_key::METADATA;
    const VERSIONS: VersionRange = VersionRange::new(1, 13);
    const FLEXIBLE_FROM: i16 = 9;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        match &self.topics {
            None => buf.put_null_len32(flex),
            Some(topics) => {
                buf.put_array_len(topics.len(), flex)?;
                for t in topics {
                    if version >= 10 {
                        buf.put_uuid(&t.topic_id);
                        buf.put_nullable_string(t.name.as_deref(), flex)?;
                    } else {
                        // A topic id is dropped here: the name still says which topic.
                        let name = t
                            .name
                            .as_deref()
                            .ok_or(EncodeError::FieldNotInVersion { field: "topics.name (null)", version })?;
                        buf.put_string(name, flex)?;
                    }
                    if flex {
                        buf.put_empty_tagged_fields();
                    }
                }
            }
        }
        if version >= 4 {
            buf.put_bool(self.allow_auto_topic_creation);
        } else if !self.allow_auto_topic_creation {
            return Err(EncodeError::FieldNotInVersion { field: "allow_auto_topic_creation", version });
        }
        if (8..=10).contains(&version) {
            buf.put_bool(self.include_cluster_authorized_operations);
        }
        if version >= 8 {
            buf.put_bool(self.include_topic_authorized_operations);
        }
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let mut r = Self::default();
        // Smallest topic: (uuid) + empty or null name + (empty tagged fields).
        let min_topic = if version >= 10 { 16 } else { 0 } + min_str(flex) + usize::from(flex);
        r.topics = d.nullable_array_of(flex, min_topic, |d| {
            let topic_id = if version >= 10 { d.uuid()? } else { NIL_TOPIC_ID };
            let name = if version >= 10 { d.nullable_string(flex)? } else { Some(d.string(flex)?) };
            if flex {
                d.skip_tagged_fields()?;
            }
            Ok(MetadataRequestTopic { topic_id, name })
        })?;
        if version >= 4 {
            r.allow_auto_topic_creation = d.bool()?;
        }
        if (8..=10).contains(&version) {
            r.include_cluster_authorized_operations = d.bool()?;
        }
        if version >= 8 {
            r.include_topic_authorized_operations = d.bool()?;
        }
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(r)
    }
}

impl Request for MetadataRequest {
    type Response = MetadataResponse;
}

/// One broker of a [`MetadataResponse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBroker {
    /// The broker id.
    pub node_id: i32,
    /// The broker's host name.
    pub host: String,
    /// The broker's port.
    pub port: i32,
    /// The broker's rack, or `None` if it has none.
    pub rack: Option<String>,
}

/// One partition of a [`TopicMetadata`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// The partition error, or 0. `LEADER_NOT_AVAILABLE` (5) here means the
    /// leader is being elected: the other fields may be stale.
    pub error_code: i16,
    /// The partition index.
    pub partition_index: i32,
    /// The leader's broker id, or -1 if there is none.
    pub leader_id: i32,
    /// The leader epoch, or -1 if unknown. Added in v7.
    pub leader_epoch: i32,
    /// Every broker that hosts a replica.
    pub replica_nodes: Vec<i32>,
    /// The replicas in sync with the leader.
    pub isr_nodes: Vec<i32>,
    /// The replicas that are offline. Added in v5.
    pub offline_replicas: Vec<i32>,
}

impl Default for PartitionMetadata {
    fn default() -> Self {
        Self {
            error_code: 0,
            partition_index: 0,
            leader_id: -1,
            leader_epoch: -1,
            replica_nodes: Vec::new(),
            isr_nodes: Vec::new(),
            offline_replicas: Vec::new(),
        }
    }
}

/// One topic of a [`MetadataResponse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// The topic error, or 0 (e.g. `UNKNOWN_TOPIC_OR_PARTITION` (3),
    /// `LEADER_NOT_AVAILABLE` (5) while an auto-created topic is being set up,
    /// `TOPIC_AUTHORIZATION_FAILED` (29)).
    pub error_code: i16,
    /// The topic name. Nullable from v12, for topics asked for by id that do
    /// not exist; never null when `error_code` is 0.
    pub name: Option<String>,
    /// The topic id, or [`NIL_TOPIC_ID`] (e.g. a topic asked for by name that
    /// does not exist). Added in v10.
    pub topic_id: Uuid,
    /// Whether the topic is internal (e.g. `__consumer_offsets`). Added in v1.
    pub is_internal: bool,
    /// The topic's partitions.
    pub partitions: Vec<PartitionMetadata>,
    /// Bit field of the operations the client may perform on the topic, or
    /// [`AUTHORIZED_OPERATIONS_OMITTED`]. Added in v8.
    pub topic_authorized_operations: i32,
}

impl Default for TopicMetadata {
    fn default() -> Self {
        Self {
            error_code: 0,
            name: Some(String::new()),
            topic_id: NIL_TOPIC_ID,
            is_internal: false,
            partitions: Vec::new(),
            topic_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
        }
    }
}

/// The Metadata response.
///
/// Encoding fails with [`EncodeError::FieldNotInVersion`] only for a null
/// topic name below v12, which those versions cannot represent; other fields
/// a version cannot carry are dropped (the schema marks them ignorable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponse {
    /// Throttle time in milliseconds, or 0. Added in v3.
    pub throttle_time_ms: i32,
    /// The brokers of the cluster.
    pub brokers: Vec<MetadataBroker>,
    /// The cluster id, or `None`. Added in v2.
    pub cluster_id: Option<String>,
    /// The controller's broker id, or -1. Added in v1.
    pub controller_id: i32,
    /// The topics, one per requested topic (or every topic, for a null list).
    pub topics: Vec<TopicMetadata>,
    /// Bit field of the operations the client may perform on the cluster, or
    /// [`AUTHORIZED_OPERATIONS_OMITTED`]. Versions 8-10 only.
    pub cluster_authorized_operations: i32,
    /// The top-level error code, or 0. Added in v13 (KIP-1102): the broker
    /// answers `REBOOTSTRAP_REQUIRED` (129) when the client should go back to
    /// its bootstrap servers.
    pub error_code: i16,
}

impl Default for MetadataResponse {
    fn default() -> Self {
        Self {
            throttle_time_ms: 0,
            brokers: Vec::new(),
            cluster_id: None,
            controller_id: -1,
            topics: Vec::new(),
            cluster_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
            error_code: 0,
        }
    }
}

fn put_i32_array(buf: &mut Vec<u8>, v: &[i32], flex: bool) -> Result<(), EncodeError> {
    buf.put_array_len(v.len(), flex)?;
    for x in v {
        buf.put_i32(*x);
    }
    Ok(())
}

fn i32_array(d: &mut Decoder<'_>, flex: bool) -> Result<Vec<i32>, DecodeError> {
    d.array_of(flex, 4, Decoder::i32)
}

impl Message for MetadataResponse {
    const API_KEY: i16 = api_key::METADATA;
    const VERSIONS: VersionRange = VersionRange::new(1, 13);
    const FLEXIBLE_FROM: i16 = 9;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        if version >= 3 {
            buf.put_i32(self.throttle_time_ms);
        }
        buf.put_array_len(self.brokers.len(), flex)?;
        for b in &self.brokers {
            buf.put_i32(b.node_id);
            buf.put_string(&b.host, flex)?;
            buf.put_i32(b.port);
            buf.put_nullable_string(b.rack.as_deref(), flex)?;
            if flex {
                buf.put_empty_tagged_fields();
            }
        }
        if version >= 2 {
            buf.put_nullable_string(self.cluster_id.as_deref(), flex)?;
        }
        buf.put_i32(self.controller_id);
        buf.put_array_len(self.topics.len(), flex)?;
        for t in &self.topics {
            buf.put_i16(t.error_code);
            if version >= 12 {
                buf.put_nullable_string(t.name.as_deref(), flex)?;
            } else {
                let name = t
                    .name
                    .as_deref()
                    .ok_or(EncodeError::FieldNotInVersion { field: "topics.name (null)", version })?;
                buf.put_string(name, flex)?;
            }
            if version >= 10 {
                buf.put_uuid(&t.topic_id);
            }
            buf.put_bool(t.is_internal);
            buf.put_array_len(t.partitions.len(), flex)?;
            for p in &t.partitions {
                buf.put_i16(p.error_code);
                buf.put_i32(p.partition_index);
                buf.put_i32(p.leader_id);
                if version >= 7 {
                    buf.put_i32(p.leader_epoch);
                }
                put_i32_array(buf, &p.replica_nodes, flex)?;
                put_i32_array(buf, &p.isr_nodes, flex)?;
                if version >= 5 {
                    put_i32_array(buf, &p.offline_replicas, flex)?;
                }
                if flex {
                    buf.put_empty_tagged_fields();
                }
            }
            if version >= 8 {
                buf.put_i32(t.topic_authorized_operations);
            }
            if flex {
                buf.put_empty_tagged_fields();
            }
        }
        if (8..=10).contains(&version) {
            buf.put_i32(self.cluster_authorized_operations);
        }
        if version >= 13 {
            buf.put_i16(self.error_code);
        } else if self.error_code != 0 {
            return Err(EncodeError::FieldNotInVersion { field: "error_code", version });
        }
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let tags = usize::from(flex);
        let mut r = Self::default();
        if version >= 3 {
            r.throttle_time_ms = d.i32()?;
        }
        // node id, host, port, rack, tagged fields.
        let min_broker = 4 + min_str(flex) + 4 + min_str(flex) + tags;
        r.brokers = d.array_of(flex, min_broker, |d| {
            let b = MetadataBroker {
                node_id: d.i32()?,
                host: d.string(flex)?,
                port: d.i32()?,
                rack: d.nullable_string(flex)?,
            };
            if flex {
                d.skip_tagged_fields()?;
            }
            Ok(b)
        })?;
        if version >= 2 {
            r.cluster_id = d.nullable_string(flex)?;
        }
        r.controller_id = d.i32()?;
        // error, index, leader, (epoch), replicas, isr, (offline), tagged fields.
        let min_partition = 2
            + 4
            + 4
            + if version >= 7 { 4 } else { 0 }
            + 2 * min_len(flex)
            + if version >= 5 { min_len(flex) } else { 0 }
            + tags;
        // error, name, (id), internal, partitions, (operations), tagged fields.
        let min_topic = 2
            + min_str(flex)
            + if version >= 10 { 16 } else { 0 }
            + 1
            + min_len(flex)
            + if version >= 8 { 4 } else { 0 }
            + tags;
        r.topics = d.array_of(flex, min_topic, |d| {
            let mut t = TopicMetadata { error_code: d.i16()?, ..TopicMetadata::default() };
            t.name = if version >= 12 { d.nullable_string(flex)? } else { Some(d.string(flex)?) };
            if version >= 10 {
                t.topic_id = d.uuid()?;
            }
            t.is_internal = d.bool()?;
            t.partitions = d.array_of(flex, min_partition, |d| {
                let mut p = PartitionMetadata {
                    error_code: d.i16()?,
                    partition_index: d.i32()?,
                    leader_id: d.i32()?,
                    ..PartitionMetadata::default()
                };
                if version >= 7 {
                    p.leader_epoch = d.i32()?;
                }
                p.replica_nodes = i32_array(d, flex)?;
                p.isr_nodes = i32_array(d, flex)?;
                if version >= 5 {
                    p.offline_replicas = i32_array(d, flex)?;
                }
                if flex {
                    d.skip_tagged_fields()?;
                }
                Ok(p)
            })?;
            if version >= 8 {
                t.topic_authorized_operations = d.i32()?;
            }
            if flex {
                d.skip_tagged_fields()?;
            }
            Ok(t)
        })?;
        if (8..=10).contains(&version) {
            r.cluster_authorized_operations = d.i32()?;
        }
        if version >= 13 {
            r.error_code = d.i16()?;
        }
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::protocol::strategies::{decode_exact as decode, encode_to_vec as encode};

    #[test]
    fn v1_request_golden_bytes() {
        let req = MetadataRequest::for_topics(["ab"]);
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 1,       // topics: int32 count 1
            0, 2, b'a', b'b', // name: int16 length 2
        ];
        assert_eq!(encode(&req, 1), want);
        assert_eq!(decode::<MetadataRequest>(&want, 1), req);
        // Null topic list: "all topics".
        assert_eq!(encode(&MetadataRequest::all_topics(), 1), [0xff, 0xff, 0xff, 0xff]);
        // Empty topic list: "no topics".
        assert_eq!(encode(&MetadataRequest::default(), 3), [0, 0, 0, 0]);
    }

    #[test]
    fn v8_request_golden_bytes() {
        let req = MetadataRequest {
            topics: None,
            allow_auto_topic_creation: false,
            include_cluster_authorized_operations: true,
            include_topic_authorized_operations: false,
        };
        let want = [0xff, 0xff, 0xff, 0xff, 0, 1, 0];
        assert_eq!(encode(&req, 8), want);
        assert_eq!(decode::<MetadataRequest>(&want, 8), req);
    }

    #[test]
    fn v12_request_golden_bytes() {
        let id: Uuid = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
        let req = MetadataRequest {
            topics: Some(vec![
                MetadataRequestTopic { topic_id: id, name: Some("ab".into()) },
                MetadataRequestTopic { topic_id: id, name: None },
            ]),
            allow_auto_topic_creation: true,
            include_cluster_authorized_operations: false,
            include_topic_authorized_operations: true,
        };
        #[rustfmt::skip]
        let want = [
            3,                                                  // topics: compact count 2 + 1
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, // topic_id
            3, b'a', b'b',                                      // name: compact length 2 + 1
            0,                                                  // topic tagged fields
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, // topic_id
            0,                                                  // name: compact null
            0,                                                  // topic tagged fields
            1,                                                  // allow_auto_topic_creation
            1,                                                  // include_topic_authorized_operations
            0,                                                  // tagged fields
        ];
        assert_eq!(encode(&req, 12), want);
        assert_eq!(decode::<MetadataRequest>(&want, 12), req);
        // v9: flexible, no topic id; null topics is a compact 0.
        assert_eq!(encode(&MetadataRequest::all_topics(), 9), [0, 1, 0, 0, 0]);
    }

    #[test]
    fn request_fields_that_change_meaning_are_refused() {
        let no_auto = MetadataRequest { allow_auto_topic_creation: false, ..Default::default() };
        assert_eq!(
            no_auto.encode(&mut Vec::new(), 3),
            Err(EncodeError::FieldNotInVersion { field: "allow_auto_topic_creation", version: 3 })
        );
        assert!(no_auto.encode(&mut Vec::new(), 4).is_ok());
        let by_id = MetadataRequest {
            topics: Some(vec![MetadataRequestTopic { topic_id: [7; 16], name: None }]),
            ..Default::default()
        };
        assert!(matches!(
            by_id.encode(&mut Vec::new(), 9),
            Err(EncodeError::FieldNotInVersion { version: 9, .. })
        ));
        assert!(by_id.encode(&mut Vec::new(), 10).is_ok());
        // A topic id next to a name is dropped below v10.
        let both = MetadataRequest {
            topics: Some(vec![MetadataRequestTopic { topic_id: [7; 16], name: Some("t".into()) }]),
            ..Default::default()
        };
        assert_eq!(decode::<MetadataRequest>(&encode(&both, 9), 9), MetadataRequest::for_topics(["t"]));
        // Authorized-operation flags are dropped outside their versions.
        let ops = MetadataRequest {
            include_cluster_authorized_operations: true,
            include_topic_authorized_operations: true,
            ..Default::default()
        };
        assert_eq!(encode(&ops, 7), encode(&MetadataRequest::default(), 7));
        assert!(!decode::<MetadataRequest>(&encode(&ops, 11), 11).include_cluster_authorized_operations);
    }

    #[test]
    fn v1_response_golden_bytes() {
        let resp = MetadataResponse {
            brokers: vec![MetadataBroker { node_id: 1, host: "h".into(), port: 9092, rack: None }],
            controller_id: 1,
            topics: vec![TopicMetadata {
                error_code: 0,
                name: Some("t".into()),
                is_internal: false,
                partitions: vec![PartitionMetadata {
                    error_code: 0,
                    partition_index: 0,
                    leader_id: 1,
                    replica_nodes: vec![1],
                    isr_nodes: vec![1],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 1,           // brokers: count 1
            0, 0, 0, 1,           //   node_id 1
            0, 1, b'h',           //   host "h"
            0, 0, 0x23, 0x84,     //   port 9092
            0xff, 0xff,           //   rack null
            0, 0, 0, 1,           // controller_id 1
            0, 0, 0, 1,           // topics: count 1
            0, 0,                 //   error_code
            0, 1, b't',           //   name "t"
            0,                    //   is_internal
            0, 0, 0, 1,           //   partitions: count 1
            0, 0,                 //     error_code
            0, 0, 0, 0,           //     partition_index 0
            0, 0, 0, 1,           //     leader_id 1
            0, 0, 0, 1, 0, 0, 0, 1, // replica_nodes [1]
            0, 0, 0, 1, 0, 0, 0, 1, // isr_nodes [1]
        ];
        assert_eq!(encode(&resp, 1), want);
        assert_eq!(decode::<MetadataResponse>(&want, 1), resp);
    }

    #[test]
    fn v12_response_golden_bytes() {
        let id: Uuid = [0xaa; 16];
        let resp = MetadataResponse {
            throttle_time_ms: 5,
            brokers: vec![MetadataBroker { node_id: 2, host: "h".into(), port: 1, rack: Some("r".into()) }],
            cluster_id: Some("c".into()),
            controller_id: 2,
            topics: vec![
                TopicMetadata {
                    error_code: 0,
                    name: Some("t".into()),
                    topic_id: id,
                    is_internal: true,
                    partitions: vec![PartitionMetadata {
                        error_code: 0,
                        partition_index: 3,
                        leader_id: 2,
                        leader_epoch: 7,
                        replica_nodes: vec![2],
                        isr_nodes: vec![],
                        offline_replicas: vec![2],
                    }],
                    topic_authorized_operations: 0x0f,
                },
                TopicMetadata { error_code: 100, name: None, ..Default::default() },
            ],
            ..Default::default()
        };
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 5,           // throttle_time_ms 5
            2,                    // brokers: compact count 1 + 1
            0, 0, 0, 2,           //   node_id 2
            2, b'h',              //   host "h"
            0, 0, 0, 1,           //   port 1
            2, b'r',              //   rack "r"
            0,                    //   tagged fields
            2, b'c',              // cluster_id "c"
            0, 0, 0, 2,           // controller_id 2
            3,                    // topics: compact count 2 + 1
            0, 0,                 //   error_code 0
            2, b't',              //   name "t"
            0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
            0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, // topic_id
            1,                    //   is_internal
            2,                    //   partitions: compact count 1 + 1
            0, 0,                 //     error_code
            0, 0, 0, 3,           //     partition_index 3
            0, 0, 0, 2,           //     leader_id 2
            0, 0, 0, 7,           //     leader_epoch 7
            2, 0, 0, 0, 2,        //     replica_nodes [2]
            1,                    //     isr_nodes []
            2, 0, 0, 0, 2,        //     offline_replicas [2]
            0,                    //     tagged fields
            0, 0, 0, 0x0f,        //   topic_authorized_operations
            0,                    //   tagged fields
            0, 100,               //   error_code 100 (UNKNOWN_TOPIC_ID)
            0,                    //   name null
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // topic_id nil
            0,                    //   is_internal
            1,                    //   partitions []
            0x80, 0, 0, 0,        //   topic_authorized_operations omitted
            0,                    //   tagged fields
            0,                    // tagged fields (no cluster_authorized_operations in v11+)
        ];
        assert_eq!(encode(&resp, 12), want);
        assert_eq!(decode::<MetadataResponse>(&want, 12), resp);
        // A null name cannot be sent below v12.
        assert!(matches!(
            resp.encode(&mut Vec::new(), 11),
            Err(EncodeError::FieldNotInVersion { version: 11, .. })
        ));
    }

    #[test]
    fn v13_golden_top_level_error() {
        // KIP-1102: a broker that wants the client to rebootstrap.
        let resp = MetadataResponse { controller_id: 1, error_code: 129, ..Default::default() };
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 0,           // throttle_time_ms
            1,                    // brokers: compact count 0 + 1
            0,                    // cluster_id null
            0, 0, 0, 1,           // controller_id 1
            1,                    // topics: compact count 0 + 1
            0, 129,               // error_code 129 (REBOOTSTRAP_REQUIRED)
            0,                    // tagged fields
        ];
        assert_eq!(encode(&resp, 13), want);
        assert_eq!(decode::<MetadataResponse>(&want, 13), resp);
        // No top-level error field below v13.
        assert!(matches!(
            resp.encode(&mut Vec::new(), 12),
            Err(EncodeError::FieldNotInVersion { field: "error_code", version: 12 })
        ));
        let ok = MetadataResponse { error_code: 0, ..resp };
        assert_eq!(
            &encode(&ok, 12)[..],
            &want[..want.len() - 3].iter().chain(&[0]).copied().collect::<Vec<u8>>()[..]
        );
    }

    #[test]
    fn unknown_tagged_fields_are_skipped() {
        // v9 request, null topics, auto-create, two flags, then one unknown
        // tagged field (tag 9, 2 bytes).
        let b = [0, 1, 0, 0, 1, 9, 2, 0xde, 0xad];
        assert_eq!(decode::<MetadataRequest>(&b, 9), MetadataRequest::all_topics());
    }

    #[test]
    fn hostile_counts_are_rejected() {
        // A response claiming i32::MAX brokers in a handful of bytes.
        let b = [0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(matches!(
            MetadataResponse::decode(&mut Decoder::new(&b), 3),
            Err(DecodeError::CountTooLarge { .. })
        ));
        // A compact replica count of u32::MAX - 1.
        #[rustfmt::skip]
        let b = [
            0, 0, 0, 0,       // throttle_time_ms
            1,                // no brokers
            0,                // cluster_id null
            0, 0, 0, 0,       // controller_id
            2,                // one topic
            0, 0, 2, b't', 0, // error, name "t", is_internal
            2,                // one partition
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // error, index, leader, epoch
            0xfe, 0xff, 0xff, 0xff, 0x0f, // replica count u32::MAX - 2
        ];
        assert!(matches!(
            MetadataResponse::decode(&mut Decoder::new(&b), 9),
            Err(DecodeError::CountTooLarge { .. })
        ));
        // Every truncation of a valid body fails cleanly.
        let mut full = Vec::new();
        let resp = MetadataResponse {
            brokers: vec![MetadataBroker { node_id: 1, host: "h".into(), port: 1, rack: None }],
            topics: vec![TopicMetadata {
                name: Some("t".into()),
                partitions: vec![PartitionMetadata { replica_nodes: vec![1, 2], ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        };
        for v in MetadataResponse::VERSIONS.min..=MetadataResponse::VERSIONS.max {
            full.clear();
            resp.encode(&mut full, v).unwrap();
            for cut in 0..full.len() {
                assert!(
                    MetadataResponse::decode(&mut Decoder::new(&full[..cut]), v).is_err(),
                    "v{v} cut {cut}"
                );
            }
        }
    }
}

/// Proptest strategies producing Metadata bodies that are valid at a given
/// version (fields the version cannot carry hold their defaults).
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use crate::protocol::strategies::{compact_string, nullable_string, small_vec};
    use proptest::prelude::*;

    fn uuid() -> impl Strategy<Value = Uuid> {
        any::<Uuid>()
    }

    /// Requests valid at `version`.
    pub fn request(version: i16) -> impl Strategy<Value = MetadataRequest> {
        let topic = (uuid(), nullable_string(), compact_string()).prop_map(move |(id, nullable, name)| {
            if version >= 10 {
                MetadataRequestTopic { topic_id: id, name: nullable }
            } else {
                MetadataRequestTopic { topic_id: NIL_TOPIC_ID, name: Some(name) }
            }
        });
        (proptest::option::of(small_vec(topic)), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            move |(topics, auto, cluster_ops, topic_ops)| MetadataRequest {
                topics,
                allow_auto_topic_creation: version < 4 || auto,
                include_cluster_authorized_operations: (8..=10).contains(&version) && cluster_ops,
                include_topic_authorized_operations: version >= 8 && topic_ops,
            },
        )
    }

    fn partition(version: i16) -> impl Strategy<Value = PartitionMetadata> {
        (
            (any::<i16>(), any::<i32>(), any::<i32>(), any::<i32>()),
            small_vec(any::<i32>()),
            small_vec(any::<i32>()),
            small_vec(any::<i32>()),
        )
            .prop_map(
                move |((error_code, partition_index, leader_id, epoch), replicas, isr, offline)| {
                    PartitionMetadata {
                        error_code,
                        partition_index,
                        leader_id,
                        leader_epoch: if version >= 7 { epoch } else { -1 },
                        replica_nodes: replicas,
                        isr_nodes: isr,
                        offline_replicas: if version >= 5 { offline } else { Vec::new() },
                    }
                },
            )
    }

    fn topic(version: i16) -> impl Strategy<Value = TopicMetadata> {
        (
            (any::<i16>(), nullable_string(), compact_string(), uuid(), any::<bool>()),
            small_vec(partition(version)),
            any::<i32>(),
        )
            .prop_map(move |((error_code, nullable, name, id, internal), partitions, ops)| {
                TopicMetadata {
                    error_code,
                    name: if version >= 12 { nullable } else { Some(name) },
                    topic_id: if version >= 10 { id } else { NIL_TOPIC_ID },
                    is_internal: internal,
                    partitions,
                    topic_authorized_operations: if version >= 8 {
                        ops
                    } else {
                        AUTHORIZED_OPERATIONS_OMITTED
                    },
                }
            })
    }

    /// Responses valid at `version`.
    pub fn response(version: i16) -> impl Strategy<Value = MetadataResponse> {
        let broker = (any::<i32>(), compact_string(), any::<i32>(), nullable_string())
            .prop_map(|(node_id, host, port, rack)| MetadataBroker { node_id, host, port, rack });
        (
            any::<i32>(),
            small_vec(broker),
            nullable_string(),
            any::<i32>(),
            small_vec(topic(version)),
            any::<i32>(),
            any::<i16>(),
        )
            .prop_map(
                move |(throttle, brokers, cluster_id, controller_id, topics, cluster_ops, error_code)| {
                    MetadataResponse {
                        throttle_time_ms: if version >= 3 { throttle } else { 0 },
                        brokers,
                        cluster_id: if version >= 2 { cluster_id } else { None },
                        controller_id,
                        topics,
                        cluster_authorized_operations: if (8..=10).contains(&version) {
                            cluster_ops
                        } else {
                            AUTHORIZED_OPERATIONS_OMITTED
                        },
                        error_code: if version >= 13 { error_code } else { 0 },
                    }
                },
            )
    }
}

#[cfg(test)]
crate::protocol::strategies::message_proptests!(MetadataRequest, MetadataResponse, super::strategies);
