//! TxnOffsetCommit (API key 28): send consumer offsets to the group
//! coordinator as part of a transaction; they are committed when the
//! transaction commits.
//!
//! Versions 0-5. What each version changes:
//!
//! | version | request | response |
//! |---|---|---|
//! | 0 | transactional id, group id, producer id and epoch, offsets (with metadata) per partition | throttle time, an error per partition |
//! | 1 | same as 0 | same as 0 (quota: response sent before throttling) |
//! | 2 | committed leader epoch per partition | same as 1 |
//! | 3 | first flexible version; group generation id, member id, group instance id (KIP-447) | first flexible version; the broker may answer `ILLEGAL_GENERATION`, `FENCED_INSTANCE_ID`, `UNKNOWN_MEMBER_ID` |
//! | 4 | same as 3; the broker may answer `TRANSACTION_ABORTABLE` (120, KIP-890) | same as 3 |
//! | 5 | same as 4 (transaction protocol v2, KIP-890 part 2) | same as 4 |
//!
//! No version defines a tagged field. Version 5 is in Kafka 4.0's schema
//! (and kafka-protocol 0.18), not in the October 2024 trunk schema that the
//! other versions were checked against; it is identical on the wire to 4.
//! (Later Kafka versions add a v6 that names topics by id; this codec does
//! not implement it.)
//!
//! Encoding below v3 fails with [`EncodeError::FieldNotInVersion`] if the
//! group metadata (`generation_id`, `member_id`, `group_instance_id`) is not
//! at its default: dropping it would skip the broker's fencing of zombie
//! consumers. The committed leader epoch (v2+) is dropped silently below v2,
//! as Kafka's own serializers drop it (the schema marks it ignorable).

use super::{
    check_absent, min_len, min_str, partition_errors, put_partition_errors, put_structs, structs_of,
};
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{Decoder, Writer};
use crate::protocol::{api_key, Message, Request, VersionRange};

const VERSIONS: VersionRange = VersionRange::new(0, 5);
const FLEXIBLE_FROM: i16 = 3;
/// The first version with the committed leader epoch.
pub const LEADER_EPOCH_FROM: i16 = 2;
/// The first version with the group metadata (generation, member, instance).
pub const GROUP_METADATA_FROM: i16 = 3;

/// The TxnOffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The consumer group.
    pub group_id: String,
    /// The producer id of the transactional id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The consumer's group generation, or -1 (the default). Added in v3;
    /// not -1 fails to encode below v3.
    pub generation_id: i32,
    /// The consumer's member id, or empty (the default). Added in v3; not
    /// empty fails to encode below v3.
    pub member_id: String,
    /// The consumer's static group instance id, or `None` (the default).
    /// Added in v3; `Some` fails to encode below v3.
    pub group_instance_id: Option<String>,
    /// The offsets to commit, by topic.
    pub topics: Vec<TxnOffsetCommitRequestTopic>,
}

impl Default for TxnOffsetCommitRequest {
    fn default() -> Self {
        Self {
            transactional_id: String::new(),
            group_id: String::new(),
            producer_id: 0,
            producer_epoch: 0,
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            topics: Vec::new(),
        }
    }
}

/// The offsets to commit in one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnOffsetCommitRequestTopic {
    /// The topic name.
    pub name: String,
    /// The offsets to commit, by partition.
    pub partitions: Vec<TxnOffsetCommitRequestPartition>,
}

/// The offset to commit in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitRequestPartition {
    /// The partition index.
    pub partition_index: i32,
    /// The offset to commit (the next record to consume).
    pub committed_offset: i64,
    /// The leader epoch of the last consumed record, or -1 (the default).
    /// Added in v2; dropped below v2.
    pub committed_leader_epoch: i32,
    /// Metadata to store with the offset, or `None`.
    pub committed_metadata: Option<String>,
}

impl Default for TxnOffsetCommitRequestPartition {
    fn default() -> Self {
        Self { partition_index: 0, committed_offset: 0, committed_leader_epoch: -1, committed_metadata: None }
    }
}

impl Message for TxnOffsetCommitRequest {
    const API_KEY: i16 = api_key::TXN_OFFSET_COMMIT;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        buf.put_string(&self.transactional_id, flex)?;
        buf.put_string(&self.group_id, flex)?;
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        if version >= GROUP_METADATA_FROM {
            buf.put_i32(self.generation_id);
            buf.put_string(&self.member_id, flex)?;
            buf.put_nullable_string(self.group_instance_id.as_deref(), flex)?;
        } else {
            check_absent(self.generation_id == -1, "generation_id", version)?;
            check_absent(self.member_id.is_empty(), "member_id", version)?;
            check_absent(self.group_instance_id.is_none(), "group_instance_id", version)?;
        }
        put_structs(buf, &self.topics, flex, |buf, t| {
            buf.put_string(&t.name, flex)?;
            put_structs(buf, &t.partitions, flex, |buf, p| {
                buf.put_i32(p.partition_index);
                buf.put_i64(p.committed_offset);
                if version >= LEADER_EPOCH_FROM {
                    buf.put_i32(p.committed_leader_epoch);
                }
                buf.put_nullable_string(p.committed_metadata.as_deref(), flex)
            })
        })?;
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let mut r = Self {
            transactional_id: d.string(flex)?,
            group_id: d.string(flex)?,
            producer_id: d.i64()?,
            producer_epoch: d.i16()?,
            ..Self::default()
        };
        if version >= GROUP_METADATA_FROM {
            r.generation_id = d.i32()?;
            r.member_id = d.string(flex)?;
            r.group_instance_id = d.nullable_string(flex)?;
        }
        // partition_index, committed_offset, (committed_leader_epoch), committed_metadata.
        let epoch = if version >= LEADER_EPOCH_FROM { 4 } else { 0 };
        let partition_min = 4 + 8 + epoch + min_str(flex);
        r.topics = structs_of(d, flex, min_str(flex) + min_len(flex), |d| {
            let name = d.string(flex)?;
            let partitions = structs_of(d, flex, partition_min, |d| {
                let mut p = TxnOffsetCommitRequestPartition {
                    partition_index: d.i32()?,
                    committed_offset: d.i64()?,
                    ..Default::default()
                };
                if version >= LEADER_EPOCH_FROM {
                    p.committed_leader_epoch = d.i32()?;
                }
                p.committed_metadata = d.nullable_string(flex)?;
                Ok(p)
            })?;
            Ok(TxnOffsetCommitRequestTopic { name, partitions })
        })?;
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(r)
    }
}

impl Request for TxnOffsetCommitRequest {
    type Response = TxnOffsetCommitResponse;
}

/// The TxnOffsetCommit response. Every field is present in every version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnOffsetCommitResponse {
    /// How long the request was throttled for a quota violation, in
    /// milliseconds, or zero.
    pub throttle_time_ms: i32,
    /// The result of each topic.
    pub topics: Vec<TxnOffsetCommitResponseTopic>,
}

/// The results of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnOffsetCommitResponseTopic {
    /// The topic name.
    pub name: String,
    /// The result of each partition.
    pub partitions: Vec<TxnOffsetCommitResponsePartition>,
}

/// The result of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnOffsetCommitResponsePartition {
    /// The partition index.
    pub partition_index: i32,
    /// The error code, or 0.
    pub error_code: i16,
}

impl Message for TxnOffsetCommitResponse {
    const API_KEY: i16 = api_key::TXN_OFFSET_COMMIT;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        buf.put_i32(self.throttle_time_ms);
        put_partition_errors(
            buf,
            &self.topics,
            flex,
            |t| (&t.name, &t.partitions),
            |p| (p.partition_index, p.error_code),
        )?;
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let throttle_time_ms = d.i32()?;
        let topics = partition_errors(
            d,
            flex,
            |name, partitions| TxnOffsetCommitResponseTopic { name, partitions },
            |partition_index, error_code| TxnOffsetCommitResponsePartition { partition_index, error_code },
        )?;
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(Self { throttle_time_ms, topics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::strategies::{
        assert_count_too_large, assert_golden, assert_truncations_fail_at_every_version, encode_to_vec,
    };

    fn request() -> TxnOffsetCommitRequest {
        TxnOffsetCommitRequest {
            transactional_id: "tx".into(),
            group_id: "g".into(),
            producer_id: 4000,
            producer_epoch: 2,
            topics: vec![TxnOffsetCommitRequestTopic {
                name: "t".into(),
                partitions: vec![TxnOffsetCommitRequestPartition {
                    partition_index: 1,
                    committed_offset: 300,
                    committed_leader_epoch: 5,
                    committed_metadata: None,
                }],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn v0_and_v2_request_golden_bytes() {
        #[rustfmt::skip]
        let v0 = [
            0, 2, b't', b'x',               // transactional_id "tx"
            0, 1, b'g',                     // group_id "g"
            0, 0, 0, 0, 0, 0, 0x0f, 0xa0,   // producer_id 4000
            0, 2,                           // producer_epoch 2
            0, 0, 0, 1,                     // topics: 1
            0, 1, b't',                     //   name "t"
            0, 0, 0, 1,                     //   partitions: 1
            0, 0, 0, 1,                     //     partition_index 1
            0, 0, 0, 0, 0, 0, 0x01, 0x2c,   //     committed_offset 300
            0xff, 0xff,                     //     committed_metadata null
        ];
        // The leader epoch is dropped below v2 and decodes as -1.
        assert_eq!(encode_to_vec(&request(), 0), v0);
        let mut no_epoch = request();
        no_epoch.topics[0].partitions[0].committed_leader_epoch = -1;
        assert_golden(&no_epoch, 0, &v0);
        assert_golden(&no_epoch, 1, &v0);
        // v2: the same, with committed_leader_epoch 5 between the offset and the metadata.
        let mut v2 = v0.to_vec();
        v2.splice(40..40, [0, 0, 0, 5]);
        assert_golden(&request(), 2, &v2);
    }

    #[test]
    fn v3_and_v5_request_golden_bytes() {
        let mut req = request();
        req.generation_id = 7;
        req.member_id = "m".into();
        req.group_instance_id = Some("i".into());
        req.topics[0].partitions[0].committed_metadata = Some("x".into());
        #[rustfmt::skip]
        let want = [
            3, b't', b'x',                  // transactional_id: compact "tx"
            2, b'g',                        // group_id "g"
            0, 0, 0, 0, 0, 0, 0x0f, 0xa0,   // producer_id 4000
            0, 2,                           // producer_epoch 2
            0, 0, 0, 7,                     // generation_id 7
            2, b'm',                        // member_id "m"
            2, b'i',                        // group_instance_id "i"
            2,                              // topics: compact 1
            2, b't',                        //   name "t"
            2,                              //   partitions: compact 1
            0, 0, 0, 1,                     //     partition_index 1
            0, 0, 0, 0, 0, 0, 0x01, 0x2c,   //     committed_offset 300
            0, 0, 0, 5,                     //     committed_leader_epoch 5
            2, b'x',                        //     committed_metadata "x"
            0,                              //     tagged fields
            0,                              //   tagged fields
            0,                              // tagged fields
        ];
        for v in 3..=5 {
            assert_golden(&req, v, &want);
        }
    }

    #[test]
    fn group_metadata_is_refused_below_v3() {
        let err = |field| Err(EncodeError::FieldNotInVersion { field, version: 2 });
        let generation = TxnOffsetCommitRequest { generation_id: 1, ..request() };
        assert_eq!(generation.encode(&mut Vec::new(), 2), err("generation_id"));
        let member = TxnOffsetCommitRequest { member_id: "m".into(), ..request() };
        assert_eq!(member.encode(&mut Vec::new(), 2), err("member_id"));
        let instance = TxnOffsetCommitRequest { group_instance_id: Some("i".into()), ..request() };
        assert_eq!(instance.encode(&mut Vec::new(), 2), err("group_instance_id"));
        assert!(instance.encode(&mut Vec::new(), 3).is_ok());
    }

    #[test]
    fn response_golden_bytes() {
        let resp = TxnOffsetCommitResponse {
            throttle_time_ms: 3,
            topics: vec![TxnOffsetCommitResponseTopic {
                name: "t".into(),
                partitions: vec![TxnOffsetCommitResponsePartition { partition_index: 1, error_code: 22 }],
            }],
        };
        #[rustfmt::skip]
        let classic = [
            0, 0, 0, 3,                     // throttle_time_ms 3
            0, 0, 0, 1,                     // topics: 1
            0, 1, b't',                     //   name "t"
            0, 0, 0, 1,                     //   partitions: 1
            0, 0, 0, 1,                     //     partition_index 1
            0, 22,                          //     error_code 22 (ILLEGAL_GENERATION)
        ];
        assert_golden(&resp, 0, &classic);
        assert_golden(&resp, 2, &classic);
        #[rustfmt::skip]
        let flexible = [
            0, 0, 0, 3,                     // throttle_time_ms 3
            2,                              // topics: compact 1
            2, b't',                        //   name "t"
            2,                              //   partitions: compact 1
            0, 0, 0, 1,                     //     partition_index 1
            0, 22,                          //     error_code 22
            0,                              //     tagged fields
            0,                              //   tagged fields
            0,                              // tagged fields
        ];
        assert_golden(&resp, 3, &flexible);
        assert_golden(&resp, 5, &flexible);
    }

    #[test]
    fn truncated_and_hostile_input_fails_cleanly() {
        let resp = TxnOffsetCommitResponse {
            throttle_time_ms: 0,
            topics: vec![TxnOffsetCommitResponseTopic {
                name: "t".into(),
                partitions: vec![TxnOffsetCommitResponsePartition::default()],
            }],
        };
        assert_truncations_fail_at_every_version(&request());
        assert_truncations_fail_at_every_version(&resp);
        // A compact topic count of 2^28 in a 5-byte varint.
        let hostile = [0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x01];
        assert_count_too_large::<TxnOffsetCommitResponse>(&hostile, 3);
    }
}

/// Proptest strategies producing TxnOffsetCommit bodies that are valid at a
/// given version (fields the version cannot carry hold their defaults).
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use crate::protocol::strategies::{compact_string, nullable_string, small_vec, txn_producer};
    use proptest::prelude::*;

    /// Requests valid at `version`.
    pub fn request(version: i16) -> impl Strategy<Value = TxnOffsetCommitRequest> {
        let partition = (any::<i32>(), any::<i64>(), any::<i32>(), nullable_string()).prop_map(
            move |(partition_index, committed_offset, epoch, committed_metadata)| {
                TxnOffsetCommitRequestPartition {
                    partition_index,
                    committed_offset,
                    committed_leader_epoch: if version >= LEADER_EPOCH_FROM { epoch } else { -1 },
                    committed_metadata,
                }
            },
        );
        let topic = (compact_string(), small_vec(partition))
            .prop_map(|(name, partitions)| TxnOffsetCommitRequestTopic { name, partitions });
        (
            (txn_producer(), compact_string()),
            (any::<i32>(), compact_string(), nullable_string()),
            small_vec(topic),
        )
            .prop_map(
                move |(
                    ((transactional_id, producer_id, producer_epoch), group_id),
                    (generation_id, member_id, group_instance_id),
                    topics,
                )| {
                    let mut r = TxnOffsetCommitRequest {
                        transactional_id,
                        group_id,
                        producer_id,
                        producer_epoch,
                        topics,
                        ..Default::default()
                    };
                    if version >= GROUP_METADATA_FROM {
                        r.generation_id = generation_id;
                        r.member_id = member_id;
                        r.group_instance_id = group_instance_id;
                    }
                    r
                },
            )
    }

    /// Responses valid at `version` (every version carries every field).
    pub fn response(_version: i16) -> impl Strategy<Value = TxnOffsetCommitResponse> {
        let partition = (any::<i32>(), any::<i16>()).prop_map(|(partition_index, error_code)| {
            TxnOffsetCommitResponsePartition { partition_index, error_code }
        });
        let topic = (compact_string(), small_vec(partition))
            .prop_map(|(name, partitions)| TxnOffsetCommitResponseTopic { name, partitions });
        (any::<i32>(), small_vec(topic))
            .prop_map(|(throttle_time_ms, topics)| TxnOffsetCommitResponse { throttle_time_ms, topics })
    }
}

#[cfg(test)]
crate::protocol::strategies::message_proptests!(
    TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
    super::strategies
);
