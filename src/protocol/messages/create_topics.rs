//! CreateTopics (API key 19): create topics, for the admin helper and tests.
//!
//! Versions 2-7 (Kafka 4.0 removed 0-1). On the wire:
//!
//! - v3: same as v2; on a quota violation the broker answers before throttling.
//! - v4: same as v3; `num_partitions` and `replication_factor` may be `-1`
//!   (the broker defaults) even without manual assignments (KIP-464).
//! - v5: first flexible version; the response adds the topic's partition
//!   count, replication factor and configs, and the tagged
//!   `topic_config_error_code` (KIP-525).
//! - v6: same as v5; the broker may answer `THROTTLING_QUOTA_EXCEEDED` (KIP-599).
//! - v7: the response adds the new topic's id.
//!
//! Send the request to the controller (any broker forwards it under KRaft).

use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{Decoder, TaggedFields, Uuid, Writer};
use crate::protocol::{api_key, Message, Request, VersionRange};

const VERSIONS: VersionRange = VersionRange::new(2, 7);
const FLEXIBLE_FROM: i16 = 5;

/// The CreateTopics request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicsRequest {
    /// The topics to create.
    pub topics: Vec<CreatableTopic>,
    /// How long to wait for the creation to complete, in milliseconds.
    /// Defaults to 60000.
    pub timeout_ms: i32,
    /// If true, only check that the topics could be created as specified.
    pub validate_only: bool,
}

impl Default for CreateTopicsRequest {
    fn default() -> Self {
        Self { topics: Vec::new(), timeout_ms: 60_000, validate_only: false }
    }
}

/// One topic to create.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreatableTopic {
    /// The topic name.
    pub name: String,
    /// The number of partitions, or `-1` with manual assignments or (v4+) for
    /// the broker's default.
    pub num_partitions: i32,
    /// The number of replicas of each partition, or `-1` with manual
    /// assignments or (v4+) for the broker's default.
    pub replication_factor: i16,
    /// Manual partition assignments, or empty for automatic assignment.
    pub assignments: Vec<CreatableReplicaAssignment>,
    /// Topic configs to set (for example `cleanup.policy`).
    pub configs: Vec<CreatableTopicConfig>,
}

/// The replicas of one partition, for a manual assignment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreatableReplicaAssignment {
    /// The partition index.
    pub partition_index: i32,
    /// The brokers to place the partition's replicas on.
    pub broker_ids: Vec<i32>,
}

/// A topic config to set at creation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreatableTopicConfig {
    /// The config name.
    pub name: String,
    /// The config value, or `None`.
    pub value: Option<String>,
}

impl Message for CreateTopicsRequest {
    const API_KEY: i16 = api_key::CREATE_TOPICS;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        buf.put_array_len(self.topics.len(), flex)?;
        for t in &self.topics {
            buf.put_string(&t.name, flex)?;
            buf.put_i32(t.num_partitions);
            buf.put_i16(t.replication_factor);
            buf.put_array_len(t.assignments.len(), flex)?;
            for a in &t.assignments {
                buf.put_i32(a.partition_index);
                buf.put_array_len(a.broker_ids.len(), flex)?;
                for id in &a.broker_ids {
                    buf.put_i32(*id);
                }
                if flex {
                    buf.put_empty_tagged_fields();
                }
            }
            buf.put_array_len(t.configs.len(), flex)?;
            for c in &t.configs {
                buf.put_string(&c.name, flex)?;
                buf.put_nullable_string(c.value.as_deref(), flex)?;
                if flex {
                    buf.put_empty_tagged_fields();
                }
            }
            if flex {
                buf.put_empty_tagged_fields();
            }
        }
        buf.put_i32(self.timeout_ms);
        buf.put_bool(self.validate_only);
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        // Smallest encodings: a topic is a name length, i32, i16 and two array
        // counts; an assignment an i32 and an array count; a config two
        // lengths. Classic lengths and counts take 2 or 4 bytes, compact ones 1.
        let topic_min = if flex { 1 + 4 + 2 + 1 + 1 + 1 } else { 2 + 4 + 2 + 4 + 4 };
        let assignment_min = if flex { 4 + 1 + 1 } else { 4 + 4 };
        let config_min = if flex { 1 + 1 + 1 } else { 2 + 2 };
        let topics = d.array_of(flex, topic_min, |d| {
            let name = d.string(flex)?;
            let num_partitions = d.i32()?;
            let replication_factor = d.i16()?;
            let assignments = d.array_of(flex, assignment_min, |d| {
                let partition_index = d.i32()?;
                let broker_ids = d.array_of(flex, 4, Decoder::i32)?;
                if flex {
                    d.skip_tagged_fields()?;
                }
                Ok(CreatableReplicaAssignment { partition_index, broker_ids })
            })?;
            let configs = d.array_of(flex, config_min, |d| {
                let c = CreatableTopicConfig { name: d.string(flex)?, value: d.nullable_string(flex)? };
                if flex {
                    d.skip_tagged_fields()?;
                }
                Ok(c)
            })?;
            if flex {
                d.skip_tagged_fields()?;
            }
            Ok(CreatableTopic { name, num_partitions, replication_factor, assignments, configs })
        })?;
        let timeout_ms = d.i32()?;
        let validate_only = d.bool()?;
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(Self { topics, timeout_ms, validate_only })
    }
}

impl Request for CreateTopicsRequest {
    type Response = CreateTopicsResponse;
}

/// The CreateTopics response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateTopicsResponse {
    /// How long the request was throttled for a quota violation, in
    /// milliseconds, or zero.
    pub throttle_time_ms: i32,
    /// The result for each topic.
    pub topics: Vec<CreatableTopicResult>,
}

/// The result of creating one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatableTopicResult {
    /// The topic name.
    pub name: String,
    /// The new topic's id (all zero if none). Added in v7; not sent below v7.
    pub topic_id: Uuid,
    /// The error code, or 0.
    pub error_code: i16,
    /// The error message, or `None`.
    pub error_message: Option<String>,
    /// The error that kept the broker from returning the topic's configs,
    /// or 0. Tagged field 0, v5+; not sent below v5.
    pub topic_config_error_code: i16,
    /// The topic's partition count, `-1` by default. Added in v5; not sent
    /// below v5.
    pub num_partitions: i32,
    /// The topic's replication factor, `-1` by default. Added in v5; not
    /// sent below v5.
    pub replication_factor: i16,
    /// The topic's configs, or `None` (the default). Added in v5; not sent
    /// below v5.
    pub configs: Option<Vec<CreatableTopicConfigs>>,
}

impl Default for CreatableTopicResult {
    fn default() -> Self {
        Self {
            name: String::new(),
            topic_id: [0; 16],
            error_code: 0,
            error_message: None,
            topic_config_error_code: 0,
            num_partitions: -1,
            replication_factor: -1,
            configs: None,
        }
    }
}

/// One config of a created topic. v5+.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatableTopicConfigs {
    /// The config name.
    pub name: String,
    /// The config value, or `None`.
    pub value: Option<String>,
    /// Whether the config is read-only.
    pub read_only: bool,
    /// Where the value comes from (Kafka's `ConfigSource` codes), `-1` by
    /// default.
    pub config_source: i8,
    /// Whether the config is sensitive (its value is then hidden).
    pub is_sensitive: bool,
}

impl Default for CreatableTopicConfigs {
    fn default() -> Self {
        Self { name: String::new(), value: None, read_only: false, config_source: -1, is_sensitive: false }
    }
}

/// The smallest encoding of one topic result at `version`.
fn topic_result_min_size(version: i16) -> usize {
    if version >= FLEXIBLE_FROM {
        // name, error_code, error_message, num_partitions, replication_factor,
        // configs, tagged fields; plus topic_id from v7.
        let n = 1 + 2 + 1 + 4 + 2 + 1 + 1;
        if version >= 7 {
            n + 16
        } else {
            n
        }
    } else {
        // name, error_code, error_message.
        2 + 2 + 2
    }
}

impl Message for CreateTopicsResponse {
    const API_KEY: i16 = api_key::CREATE_TOPICS;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        buf.put_i32(self.throttle_time_ms);
        buf.put_array_len(self.topics.len(), flex)?;
        for t in &self.topics {
            buf.put_string(&t.name, flex)?;
            if version >= 7 {
                buf.put_uuid(&t.topic_id);
            }
            buf.put_i16(t.error_code);
            buf.put_nullable_string(t.error_message.as_deref(), flex)?;
            if version >= 5 {
                buf.put_i32(t.num_partitions);
                buf.put_i16(t.replication_factor);
                match &t.configs {
                    None => buf.put_null_len32(flex),
                    Some(configs) => {
                        buf.put_array_len(configs.len(), flex)?;
                        for c in configs {
                            buf.put_string(&c.name, flex)?;
                            buf.put_nullable_string(c.value.as_deref(), flex)?;
                            buf.put_bool(c.read_only);
                            buf.put_i8(c.config_source);
                            buf.put_bool(c.is_sensitive);
                            buf.put_empty_tagged_fields();
                        }
                    }
                }
            }
            if flex {
                let mut tags = TaggedFields::new();
                if t.topic_config_error_code != 0 {
                    tags.field(0, |b| b.put_i16(t.topic_config_error_code));
                }
                tags.write(buf);
            }
        }
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let throttle_time_ms = d.i32()?;
        let topics = d.array_of(flex, topic_result_min_size(version), |d| {
            let mut t = CreatableTopicResult { name: d.string(flex)?, ..Default::default() };
            if version >= 7 {
                t.topic_id = d.uuid()?;
            }
            t.error_code = d.i16()?;
            t.error_message = d.nullable_string(flex)?;
            if version >= 5 {
                t.num_partitions = d.i32()?;
                t.replication_factor = d.i16()?;
                // name, value, read_only, config_source, is_sensitive, tagged fields.
                t.configs = d.nullable_array_of(flex, 1 + 1 + 1 + 1 + 1 + 1, |d| {
                    let c = CreatableTopicConfigs {
                        name: d.string(flex)?,
                        value: d.nullable_string(flex)?,
                        read_only: d.bool()?,
                        config_source: d.i8()?,
                        is_sensitive: d.bool()?,
                    };
                    d.skip_tagged_fields()?;
                    Ok(c)
                })?;
            }
            if flex {
                d.tagged_fields(|tag, f| {
                    match tag {
                        0 => t.topic_config_error_code = f.i16()?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
            }
            Ok(t)
        })?;
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(Self { throttle_time_ms, topics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_request() -> CreateTopicsRequest {
        CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t".into(),
                num_partitions: -1,
                replication_factor: -1,
                assignments: vec![CreatableReplicaAssignment { partition_index: 0, broker_ids: vec![1, 2] }],
                configs: vec![CreatableTopicConfig { name: "a".into(), value: None }],
            }],
            timeout_ms: 1000,
            validate_only: true,
        }
    }

    #[test]
    fn v4_request_golden_bytes() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x00, 0x00, 0x00, 0x01, // topics: 1
            0x00, 0x01, b't',       //   name "t"
            0xff, 0xff, 0xff, 0xff, //   num_partitions -1
            0xff, 0xff,             //   replication_factor -1
            0x00, 0x00, 0x00, 0x01, //   assignments: 1
            0x00, 0x00, 0x00, 0x00, //     partition_index 0
            0x00, 0x00, 0x00, 0x02, //     broker_ids: 2
            0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
            0x00, 0x00, 0x00, 0x01, //   configs: 1
            0x00, 0x01, b'a',       //     name "a"
            0xff, 0xff,             //     value null
            0x00, 0x00, 0x03, 0xe8, // timeout_ms 1000
            0x01,                   // validate_only true
        ];
        let req = sample_request();
        let mut b = Vec::new();
        req.encode(&mut b, 4).unwrap();
        assert_eq!(b, want);
        let mut d = Decoder::new(want);
        assert_eq!(CreateTopicsRequest::decode(&mut d, 4).unwrap(), req);
        d.finish().unwrap();
    }

    #[test]
    fn v5_request_golden_bytes() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x02,                   // topics: compact 1
            0x02, b't',             //   name "t"
            0xff, 0xff, 0xff, 0xff, //   num_partitions -1
            0xff, 0xff,             //   replication_factor -1
            0x02,                   //   assignments: compact 1
            0x00, 0x00, 0x00, 0x00, //     partition_index 0
            0x03,                   //     broker_ids: compact 2
            0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
            0x00,                   //     tagged fields
            0x02,                   //   configs: compact 1
            0x02, b'a',             //     name "a"
            0x00,                   //     value null
            0x00,                   //     tagged fields
            0x00,                   //   tagged fields
            0x00, 0x00, 0x03, 0xe8, // timeout_ms 1000
            0x01,                   // validate_only true
            0x00,                   // tagged fields
        ];
        let req = sample_request();
        let mut b = Vec::new();
        req.encode(&mut b, 5).unwrap();
        assert_eq!(b, want);
        let mut d = Decoder::new(want);
        assert_eq!(CreateTopicsRequest::decode(&mut d, 5).unwrap(), req);
        d.finish().unwrap();
    }

    #[test]
    fn v2_response_golden_bytes() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x00, 0x00, 0x00, 0x05, // throttle_time_ms 5
            0x00, 0x00, 0x00, 0x01, // topics: 1
            0x00, 0x01, b't',       //   name "t"
            0x00, 0x24,             //   error_code 36 (TOPIC_ALREADY_EXISTS)
            0x00, 0x01, b'x',       //   error_message "x"
        ];
        let resp = CreateTopicsResponse {
            throttle_time_ms: 5,
            topics: vec![CreatableTopicResult {
                name: "t".into(),
                error_code: 36,
                error_message: Some("x".into()),
                ..Default::default()
            }],
        };
        let mut b = Vec::new();
        resp.encode(&mut b, 2).unwrap();
        assert_eq!(b, want);
        let mut d = Decoder::new(want);
        assert_eq!(CreateTopicsResponse::decode(&mut d, 2).unwrap(), resp);
        d.finish().unwrap();
    }

    #[test]
    fn v7_response_golden_bytes() {
        let id: Uuid = [0x11; 16];
        #[rustfmt::skip]
        let mut want: Vec<u8> = vec![
            0x00, 0x00, 0x00, 0x00, // throttle_time_ms 0
            0x02,                   // topics: compact 1
            0x02, b't',             //   name "t"
        ];
        want.extend_from_slice(&id); //   topic_id
        #[rustfmt::skip]
        want.extend_from_slice(&[
            0x00, 0x00,             //   error_code 0
            0x00,                   //   error_message null
            0x00, 0x00, 0x00, 0x03, //   num_partitions 3
            0x00, 0x01,             //   replication_factor 1
            0x02,                   //   configs: compact 1
            0x02, b'k',             //     name "k"
            0x02, b'v',             //     value "v"
            0x00,                   //     read_only false
            0x05,                   //     config_source 5 (DEFAULT_CONFIG)
            0x01,                   //     is_sensitive true
            0x00,                   //     tagged fields
            0x01,                   //   tagged fields: 1
            0x00, 0x02, 0x00, 0x1d, //     tag 0 (topic_config_error_code), 2 bytes: 29
            0x00,                   // tagged fields
        ]);
        let resp = CreateTopicsResponse {
            throttle_time_ms: 0,
            topics: vec![CreatableTopicResult {
                name: "t".into(),
                topic_id: id,
                error_code: 0,
                error_message: None,
                topic_config_error_code: 29,
                num_partitions: 3,
                replication_factor: 1,
                configs: Some(vec![CreatableTopicConfigs {
                    name: "k".into(),
                    value: Some("v".into()),
                    read_only: false,
                    config_source: 5,
                    is_sensitive: true,
                }]),
            }],
        };
        let mut b = Vec::new();
        resp.encode(&mut b, 7).unwrap();
        assert_eq!(b, want);
        let mut d = Decoder::new(&want);
        assert_eq!(CreateTopicsResponse::decode(&mut d, 7).unwrap(), resp);
        d.finish().unwrap();
    }

    #[test]
    fn hostile_and_truncated_inputs_fail_cleanly() {
        let b = [0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff];
        assert!(CreateTopicsResponse::decode(&mut Decoder::new(&b), 4).is_err());
        let mut b = Vec::new();
        sample_request().encode(&mut b, 5).unwrap();
        for cut in 0..b.len() {
            assert!(CreateTopicsRequest::decode(&mut Decoder::new(&b[..cut]), 5).is_err());
        }
    }
}

/// Proptest strategies producing CreateTopics bodies that are valid at a
/// given version (fields the version cannot carry hold their defaults).
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use crate::protocol::strategies::{compact_string, nullable_string, small_vec};
    use proptest::prelude::*;

    /// Requests valid at `version` (every field exists at every version).
    pub fn request(_version: i16) -> impl Strategy<Value = CreateTopicsRequest> {
        let assignment = (any::<i32>(), small_vec(any::<i32>())).prop_map(|(partition_index, broker_ids)| {
            CreatableReplicaAssignment { partition_index, broker_ids }
        });
        let config = (compact_string(), nullable_string())
            .prop_map(|(name, value)| CreatableTopicConfig { name, value });
        let topic =
            (compact_string(), any::<i32>(), any::<i16>(), small_vec(assignment), small_vec(config))
                .prop_map(|(name, num_partitions, replication_factor, assignments, configs)| {
                    CreatableTopic { name, num_partitions, replication_factor, assignments, configs }
                });
        (small_vec(topic), any::<i32>(), any::<bool>()).prop_map(|(topics, timeout_ms, validate_only)| {
            CreateTopicsRequest { topics, timeout_ms, validate_only }
        })
    }

    /// Responses valid at `version`.
    pub fn response(version: i16) -> impl Strategy<Value = CreateTopicsResponse> {
        let config = (compact_string(), nullable_string(), any::<bool>(), any::<i8>(), any::<bool>())
            .prop_map(|(name, value, read_only, config_source, is_sensitive)| CreatableTopicConfigs {
                name,
                value,
                read_only,
                config_source,
                is_sensitive,
            });
        let topic = (
            (compact_string(), any::<Uuid>(), any::<i16>(), nullable_string()),
            (any::<i16>(), any::<i32>(), any::<i16>(), proptest::option::of(small_vec(config))),
        )
            .prop_map(
                move |((name, id, error_code, error_message), (cfg_err, parts, rf, configs))| {
                    let mut t =
                        CreatableTopicResult { name, error_code, error_message, ..Default::default() };
                    if version >= 5 {
                        t.topic_config_error_code = cfg_err;
                        t.num_partitions = parts;
                        t.replication_factor = rf;
                        t.configs = configs;
                    }
                    if version >= 7 {
                        t.topic_id = id;
                    }
                    t
                },
            );
        (any::<i32>(), small_vec(topic))
            .prop_map(|(throttle_time_ms, topics)| CreateTopicsResponse { throttle_time_ms, topics })
    }
}

#[cfg(test)]
crate::protocol::strategies::message_proptests!(CreateTopicsRequest, CreateTopicsResponse, super::strategies);
