//! AddPartitionsToTxn (API key 24): add partitions to a producer's ongoing
//! transaction, before producing to them.
//!
//! Versions 0-5. What each version changes:
//!
//! | version | request | response |
//! |---|---|---|
//! | 0 | transactional id, producer id and epoch, topics and partitions | throttle time, an error per partition |
//! | 1 | same as 0 | same as 0 (quota: response sent before throttling) |
//! | 2 | same as 1; the broker may answer `PRODUCER_FENCED` (90) | same as 1 |
//! | 3 | first flexible version | first flexible version |
//! | 4 | batches transactions: `transactions` (with `verify_only`) replaces the v3-and-below fields | top-level error code; results by transaction replace results by topic |
//! | 5 | same as 4; the broker may answer `TRANSACTION_ABORTABLE` (120, KIP-890) | same as 4 |
//!
//! No version defines a tagged field. Versions 3 and below are for clients;
//! 4 and above are sent by brokers to the transaction coordinator (KIP-890
//! verification), which is why this codec decodes them too (for the mock).
//!
//! One struct carries both shapes: the fields Kafka's schema calls
//! `V3AndBelowTransactionalId`, `V3AndBelowProducerId`,
//! `V3AndBelowProducerEpoch` and `V3AndBelowTopics` are
//! [`AddPartitionsToTxnRequest::transactional_id`], `producer_id`,
//! `producer_epoch` and `topics`, and `ResultsByTopicV3AndBelow` is
//! [`AddPartitionsToTxnResponse::results_by_topic`]. Encoding fails with
//! [`EncodeError::FieldNotInVersion`] if a field of the other shape is not at
//! its default, and if the top-level response error code (v4+) is not 0
//! below v4 (Kafka would drop it, the schema marks it ignorable, but then a
//! failed response reads as a success).

use super::{
    check_absent, min_len, min_str, partition_errors, put_partition_errors, put_structs, put_txn_producer,
    structs_of, txn_producer,
};
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{Decoder, Writer};
use crate::protocol::{api_key, Message, Request, VersionRange};

const VERSIONS: VersionRange = VersionRange::new(0, 5);
const FLEXIBLE_FROM: i16 = 3;
/// The first version that batches transactions (brokers only).
pub const BATCHED_FROM: i16 = 4;

/// The AddPartitionsToTxn request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddPartitionsToTxnRequest {
    /// The transactions to add partitions to. Added in v4; any fail to
    /// encode below v4.
    pub transactions: Vec<AddPartitionsToTxnTransaction>,
    /// The transactional id (`V3AndBelowTransactionalId`). v0-3 only: not
    /// empty fails to encode at v4+.
    pub transactional_id: String,
    /// The producer id of the transactional id (`V3AndBelowProducerId`).
    /// v0-3 only: not 0 fails to encode at v4+.
    pub producer_id: i64,
    /// The producer epoch (`V3AndBelowProducerEpoch`). v0-3 only: not 0
    /// fails to encode at v4+.
    pub producer_epoch: i16,
    /// The partitions to add (`V3AndBelowTopics`). v0-3 only: any fail to
    /// encode at v4+.
    pub topics: Vec<AddPartitionsToTxnTopic>,
}

/// One transaction of a batched request (v4+).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddPartitionsToTxnTransaction {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id of the transactional id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// Only check that the partitions are already in the transaction,
    /// without adding them.
    pub verify_only: bool,
    /// The partitions to add (or verify).
    pub topics: Vec<AddPartitionsToTxnTopic>,
}

/// The partitions of one topic to add to a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddPartitionsToTxnTopic {
    /// The topic name.
    pub name: String,
    /// The partition indexes.
    pub partitions: Vec<i32>,
}

fn encode_topics(
    buf: &mut Vec<u8>,
    topics: &[AddPartitionsToTxnTopic],
    flex: bool,
) -> Result<(), EncodeError> {
    put_structs(buf, topics, flex, |buf, t| {
        buf.put_string(&t.name, flex)?;
        buf.put_array_len(t.partitions.len(), flex)?;
        t.partitions.iter().for_each(|p| buf.put_i32(*p));
        Ok(())
    })
}

fn decode_topics(d: &mut Decoder<'_>, flex: bool) -> Result<Vec<AddPartitionsToTxnTopic>, DecodeError> {
    structs_of(d, flex, min_str(flex) + min_len(flex), |d| {
        Ok(AddPartitionsToTxnTopic { name: d.string(flex)?, partitions: d.array_of(flex, 4, Decoder::i32)? })
    })
}

impl Message for AddPartitionsToTxnRequest {
    const API_KEY: i16 = api_key::ADD_PARTITIONS_TO_TXN;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        if version >= BATCHED_FROM {
            check_absent(self.transactional_id.is_empty(), "transactional_id", version)?;
            check_absent(self.producer_id == 0, "producer_id", version)?;
            check_absent(self.producer_epoch == 0, "producer_epoch", version)?;
            check_absent(self.topics.is_empty(), "topics", version)?;
            put_structs(buf, &self.transactions, flex, |buf, t| {
                put_txn_producer(buf, (&t.transactional_id, t.producer_id, t.producer_epoch), flex)?;
                buf.put_bool(t.verify_only);
                encode_topics(buf, &t.topics, flex)
            })?;
        } else {
            check_absent(self.transactions.is_empty(), "transactions", version)?;
            put_txn_producer(buf, (&self.transactional_id, self.producer_id, self.producer_epoch), flex)?;
            encode_topics(buf, &self.topics, flex)?;
        }
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let mut r = Self::default();
        if version >= BATCHED_FROM {
            // transactional_id, producer_id, producer_epoch, verify_only, topics.
            r.transactions = structs_of(d, flex, min_str(flex) + 8 + 2 + 1 + min_len(flex), |d| {
                let (transactional_id, producer_id, producer_epoch) = txn_producer(d, flex)?;
                Ok(AddPartitionsToTxnTransaction {
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    verify_only: d.bool()?,
                    topics: decode_topics(d, flex)?,
                })
            })?;
        } else {
            (r.transactional_id, r.producer_id, r.producer_epoch) = txn_producer(d, flex)?;
            r.topics = decode_topics(d, flex)?;
        }
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(r)
    }
}

impl Request for AddPartitionsToTxnRequest {
    type Response = AddPartitionsToTxnResponse;
}

/// The AddPartitionsToTxn response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddPartitionsToTxnResponse {
    /// How long the request was throttled for a quota violation, in
    /// milliseconds, or zero.
    pub throttle_time_ms: i32,
    /// The top-level error code, or 0. Added in v4; not 0 fails to encode
    /// below v4.
    pub error_code: i16,
    /// The results of each transaction. Added in v4; any fail to encode
    /// below v4.
    pub results_by_transaction: Vec<AddPartitionsToTxnResult>,
    /// The results of each topic (`ResultsByTopicV3AndBelow`). v0-3 only:
    /// any fail to encode at v4+.
    pub results_by_topic: Vec<AddPartitionsToTxnTopicResult>,
}

/// The results of one transaction (v4+).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddPartitionsToTxnResult {
    /// The transactional id.
    pub transactional_id: String,
    /// The results of each topic.
    pub topic_results: Vec<AddPartitionsToTxnTopicResult>,
}

/// The results of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddPartitionsToTxnTopicResult {
    /// The topic name.
    pub name: String,
    /// The result of each partition.
    pub results_by_partition: Vec<AddPartitionsToTxnPartitionResult>,
}

/// The result of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddPartitionsToTxnPartitionResult {
    /// The partition index.
    pub partition_index: i32,
    /// The error code, or 0.
    pub partition_error_code: i16,
}

fn encode_topic_results(
    buf: &mut Vec<u8>,
    topics: &[AddPartitionsToTxnTopicResult],
    flex: bool,
) -> Result<(), EncodeError> {
    put_partition_errors(
        buf,
        topics,
        flex,
        |t| (&t.name, &t.results_by_partition),
        |p| (p.partition_index, p.partition_error_code),
    )
}

fn decode_topic_results(
    d: &mut Decoder<'_>,
    flex: bool,
) -> Result<Vec<AddPartitionsToTxnTopicResult>, DecodeError> {
    partition_errors(
        d,
        flex,
        |name, results_by_partition| AddPartitionsToTxnTopicResult { name, results_by_partition },
        |partition_index, partition_error_code| AddPartitionsToTxnPartitionResult {
            partition_index,
            partition_error_code,
        },
    )
}

impl Message for AddPartitionsToTxnResponse {
    const API_KEY: i16 = api_key::ADD_PARTITIONS_TO_TXN;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        buf.put_i32(self.throttle_time_ms);
        if version >= BATCHED_FROM {
            check_absent(self.results_by_topic.is_empty(), "results_by_topic", version)?;
            buf.put_i16(self.error_code);
            put_structs(buf, &self.results_by_transaction, flex, |buf, t| {
                buf.put_string(&t.transactional_id, flex)?;
                encode_topic_results(buf, &t.topic_results, flex)
            })?;
        } else {
            check_absent(self.error_code == 0, "error_code", version)?;
            check_absent(self.results_by_transaction.is_empty(), "results_by_transaction", version)?;
            encode_topic_results(buf, &self.results_by_topic, flex)?;
        }
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let mut r = Self { throttle_time_ms: d.i32()?, ..Self::default() };
        if version >= BATCHED_FROM {
            r.error_code = d.i16()?;
            r.results_by_transaction = structs_of(d, flex, min_str(flex) + min_len(flex), |d| {
                Ok(AddPartitionsToTxnResult {
                    transactional_id: d.string(flex)?,
                    topic_results: decode_topic_results(d, flex)?,
                })
            })?;
        } else {
            r.results_by_topic = decode_topic_results(d, flex)?;
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
    use crate::protocol::strategies::{assert_count_too_large, assert_golden, assert_truncations_fail};

    fn client_request() -> AddPartitionsToTxnRequest {
        AddPartitionsToTxnRequest {
            transactional_id: "tx".into(),
            producer_id: 0x0102,
            producer_epoch: 3,
            topics: vec![AddPartitionsToTxnTopic { name: "t".into(), partitions: vec![0, 7] }],
            ..Default::default()
        }
    }

    #[test]
    fn v0_and_v2_request_golden_bytes() {
        #[rustfmt::skip]
        let want = [
            0, 2, b't', b'x',           // transactional_id "tx"
            0, 0, 0, 0, 0, 0, 1, 2,     // producer_id 0x0102
            0, 3,                       // producer_epoch 3
            0, 0, 0, 1,                 // topics: 1
            0, 1, b't',                 //   name "t"
            0, 0, 0, 2,                 //   partitions: 2
            0, 0, 0, 0, 0, 0, 0, 7,     //     0, 7
        ];
        assert_golden(&client_request(), 0, &want);
        assert_golden(&client_request(), 2, &want);
    }

    #[test]
    fn v3_request_golden_bytes() {
        #[rustfmt::skip]
        let want = [
            3, b't', b'x',              // transactional_id: compact "tx"
            0, 0, 0, 0, 0, 0, 1, 2,     // producer_id
            0, 3,                       // producer_epoch
            2,                          // topics: compact 1
            2, b't',                    //   name "t"
            3,                          //   partitions: compact 2
            0, 0, 0, 0, 0, 0, 0, 7,     //     0, 7
            0,                          //   tagged fields
            0,                          // tagged fields
        ];
        assert_golden(&client_request(), 3, &want);
    }

    #[test]
    fn v4_and_v5_request_golden_bytes() {
        #[rustfmt::skip]
        let want = [
            2,                          // transactions: compact 1
            3, b't', b'x',              //   transactional_id "tx"
            0, 0, 0, 0, 0, 0, 1, 2,     //   producer_id
            0, 3,                       //   producer_epoch
            1,                          //   verify_only true
            2,                          //   topics: compact 1
            2, b't',                    //     name "t"
            2,                          //     partitions: compact 1
            0, 0, 0, 7,                 //       7
            0,                          //     tagged fields
            0,                          //   tagged fields
            0,                          // tagged fields
        ];
        let req = AddPartitionsToTxnRequest {
            transactions: vec![AddPartitionsToTxnTransaction {
                transactional_id: "tx".into(),
                producer_id: 0x0102,
                producer_epoch: 3,
                verify_only: true,
                topics: vec![AddPartitionsToTxnTopic { name: "t".into(), partitions: vec![7] }],
            }],
            ..Default::default()
        };
        assert_golden(&req, 4, &want);
        assert_golden(&req, 5, &want);
    }

    fn topic_results() -> Vec<AddPartitionsToTxnTopicResult> {
        vec![AddPartitionsToTxnTopicResult {
            name: "t".into(),
            results_by_partition: vec![AddPartitionsToTxnPartitionResult {
                partition_index: 1,
                partition_error_code: 48, // INVALID_TXN_STATE
            }],
        }]
    }

    #[test]
    fn v0_and_v3_response_golden_bytes() {
        let resp = AddPartitionsToTxnResponse {
            throttle_time_ms: 9,
            results_by_topic: topic_results(),
            ..Default::default()
        };
        #[rustfmt::skip]
        let classic = [
            0, 0, 0, 9,                 // throttle_time_ms 9
            0, 0, 0, 1,                 // results_by_topic: 1
            0, 1, b't',                 //   name "t"
            0, 0, 0, 1,                 //   results_by_partition: 1
            0, 0, 0, 1,                 //     partition_index 1
            0, 48,                      //     partition_error_code 48
        ];
        assert_golden(&resp, 0, &classic);
        #[rustfmt::skip]
        let flexible = [
            0, 0, 0, 9,                 // throttle_time_ms 9
            2,                          // results_by_topic: compact 1
            2, b't',                    //   name "t"
            2,                          //   results_by_partition: compact 1
            0, 0, 0, 1,                 //     partition_index 1
            0, 48,                      //     partition_error_code 48
            0,                          //     tagged fields
            0,                          //   tagged fields
            0,                          // tagged fields
        ];
        assert_golden(&resp, 3, &flexible);
    }

    #[test]
    fn v5_response_golden_bytes() {
        let resp = AddPartitionsToTxnResponse {
            throttle_time_ms: 0,
            error_code: 0,
            results_by_transaction: vec![AddPartitionsToTxnResult {
                transactional_id: "tx".into(),
                topic_results: topic_results(),
            }],
            ..Default::default()
        };
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 0,                 // throttle_time_ms 0
            0, 0,                       // error_code 0
            2,                          // results_by_transaction: compact 1
            3, b't', b'x',              //   transactional_id "tx"
            2,                          //   topic_results: compact 1
            2, b't',                    //     name "t"
            2,                          //     results_by_partition: compact 1
            0, 0, 0, 1,                 //       partition_index 1
            0, 48,                      //       partition_error_code 48
            0,                          //       tagged fields
            0,                          //     tagged fields
            0,                          //   tagged fields
            0,                          // tagged fields
        ];
        assert_golden(&resp, 4, &want);
        assert_golden(&resp, 5, &want);
    }

    #[test]
    fn the_other_shape_is_refused() {
        let err = |field, version| Err(EncodeError::FieldNotInVersion { field, version });
        assert_eq!(client_request().encode(&mut Vec::new(), 4), err("transactional_id", 4));
        let topics_only = AddPartitionsToTxnRequest { topics: client_request().topics, ..Default::default() };
        assert_eq!(topics_only.encode(&mut Vec::new(), 5), err("topics", 5));
        let pid_only = AddPartitionsToTxnRequest { producer_id: 1, ..Default::default() };
        assert_eq!(pid_only.encode(&mut Vec::new(), 4), err("producer_id", 4));
        let epoch_only = AddPartitionsToTxnRequest { producer_epoch: 1, ..Default::default() };
        assert_eq!(epoch_only.encode(&mut Vec::new(), 4), err("producer_epoch", 4));
        let batched =
            AddPartitionsToTxnRequest { transactions: vec![Default::default()], ..Default::default() };
        assert_eq!(batched.encode(&mut Vec::new(), 3), err("transactions", 3));

        let by_topic = AddPartitionsToTxnResponse { results_by_topic: topic_results(), ..Default::default() };
        assert_eq!(by_topic.encode(&mut Vec::new(), 4), err("results_by_topic", 4));
        let failed = AddPartitionsToTxnResponse { error_code: 51, ..Default::default() };
        assert_eq!(failed.encode(&mut Vec::new(), 3), err("error_code", 3));
        let by_txn = AddPartitionsToTxnResponse {
            results_by_transaction: vec![Default::default()],
            ..Default::default()
        };
        assert_eq!(by_txn.encode(&mut Vec::new(), 2), err("results_by_transaction", 2));
    }

    #[test]
    fn truncated_and_hostile_input_fails_cleanly() {
        for v in 0..=3 {
            assert_truncations_fail(&client_request(), v);
            let resp = AddPartitionsToTxnResponse { results_by_topic: topic_results(), ..Default::default() };
            assert_truncations_fail(&resp, v);
        }
        let batched = AddPartitionsToTxnRequest {
            transactions: vec![AddPartitionsToTxnTransaction {
                topics: client_request().topics,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_truncations_fail(&batched, 5);
        // 2^31 - 1 partitions announced in a 4-byte array count.
        #[rustfmt::skip]
        let hostile = [
            0, 0,                       // transactional_id ""
            0, 0, 0, 0, 0, 0, 0, 0,     // producer_id 0
            0, 0,                       // producer_epoch 0
            0, 0, 0, 1,                 // topics: 1
            0, 0,                       //   name ""
            0x7f, 0xff, 0xff, 0xff,     //   partitions: i32::MAX
        ];
        assert_count_too_large::<AddPartitionsToTxnRequest>(&hostile, 0);
    }
}

/// Proptest strategies producing AddPartitionsToTxn bodies that are valid at
/// a given version (fields the version cannot carry hold their defaults).
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use crate::protocol::strategies::{compact_string, small_vec, txn_producer};
    use proptest::prelude::*;

    fn topic() -> impl Strategy<Value = AddPartitionsToTxnTopic> {
        (compact_string(), small_vec(any::<i32>()))
            .prop_map(|(name, partitions)| AddPartitionsToTxnTopic { name, partitions })
    }

    /// Requests valid at `version`.
    pub fn request(version: i16) -> impl Strategy<Value = AddPartitionsToTxnRequest> {
        let transaction = (txn_producer(), any::<bool>(), small_vec(topic())).prop_map(
            |((transactional_id, producer_id, producer_epoch), verify_only, topics)| {
                AddPartitionsToTxnTransaction {
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    verify_only,
                    topics,
                }
            },
        );
        (small_vec(transaction), txn_producer(), small_vec(topic())).prop_map(
            move |(transactions, (transactional_id, producer_id, producer_epoch), topics)| {
                if version >= BATCHED_FROM {
                    AddPartitionsToTxnRequest { transactions, ..Default::default() }
                } else {
                    AddPartitionsToTxnRequest {
                        transactions: Vec::new(),
                        transactional_id,
                        producer_id,
                        producer_epoch,
                        topics,
                    }
                }
            },
        )
    }

    fn topic_result() -> impl Strategy<Value = AddPartitionsToTxnTopicResult> {
        let partition = (any::<i32>(), any::<i16>()).prop_map(|(partition_index, partition_error_code)| {
            AddPartitionsToTxnPartitionResult { partition_index, partition_error_code }
        });
        (compact_string(), small_vec(partition)).prop_map(|(name, results_by_partition)| {
            AddPartitionsToTxnTopicResult { name, results_by_partition }
        })
    }

    /// Responses valid at `version`.
    pub fn response(version: i16) -> impl Strategy<Value = AddPartitionsToTxnResponse> {
        let result =
            (compact_string(), small_vec(topic_result())).prop_map(|(transactional_id, topic_results)| {
                AddPartitionsToTxnResult { transactional_id, topic_results }
            });
        (any::<i32>(), any::<i16>(), small_vec(result), small_vec(topic_result())).prop_map(
            move |(throttle_time_ms, error_code, results_by_transaction, results_by_topic)| {
                if version >= BATCHED_FROM {
                    AddPartitionsToTxnResponse {
                        throttle_time_ms,
                        error_code,
                        results_by_transaction,
                        results_by_topic: Vec::new(),
                    }
                } else {
                    AddPartitionsToTxnResponse { throttle_time_ms, results_by_topic, ..Default::default() }
                }
            },
        )
    }
}

#[cfg(test)]
crate::protocol::strategies::message_proptests!(
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse,
    super::strategies
);
