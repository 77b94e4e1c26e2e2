//! DeleteTopics (API key 20): delete topics, for the admin helper and tests.
//!
//! Versions 1-6. On the wire:
//!
//! - v1: the response adds `throttle_time_ms` (v0 is not implemented).
//! - v2, v3: same as v1 (on a quota violation the broker answers before
//!   throttling; v3 may answer `TOPIC_DELETION_DISABLED`).
//! - v4: first flexible version.
//! - v5: the response adds an error message per topic; the broker may answer
//!   `THROTTLING_QUOTA_EXCEEDED` (KIP-599).
//! - v6: the request names topics by name **or** id
//!   ([`DeleteTopicsRequest::topics`] replaces
//!   [`DeleteTopicsRequest::topic_names`]), and the response carries ids and
//!   may have a null name.
//!
//! [`DeleteTopicsRequest::for_names`] fills the right field for a version.

use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{Decoder, Uuid, Writer};
use crate::protocol::{api_key, Message, Request, VersionRange};

const VERSIONS: VersionRange = VersionRange::new(1, 6);
const FLEXIBLE_FROM: i16 = 4;

/// The DeleteTopics request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteTopicsRequest {
    /// The topics to delete, each by name or id. Added in v6; not sent below
    /// v6 (use [`Self::topic_names`] there).
    pub topics: Vec<DeleteTopicState>,
    /// The names of the topics to delete. v1-v5 only: **not sent at v6**,
    /// where [`Self::topics`] replaces it.
    pub topic_names: Vec<String>,
    /// How long to wait for the deletions to complete, in milliseconds.
    pub timeout_ms: i32,
}

impl DeleteTopicsRequest {
    /// A request deleting the topics `names`, valid at `version`: the names go
    /// in [`Self::topics`] from v6 and in [`Self::topic_names`] below.
    ///
    /// ```
    /// use kafka_sync::protocol::messages::delete_topics::DeleteTopicsRequest;
    /// let r = DeleteTopicsRequest::for_names(["a".to_string()], 30_000, 6);
    /// assert_eq!(r.topics[0].name.as_deref(), Some("a"));
    /// assert!(DeleteTopicsRequest::for_names(["a".to_string()], 30_000, 5).topics.is_empty());
    /// ```
    pub fn for_names(names: impl IntoIterator<Item = String>, timeout_ms: i32, version: i16) -> Self {
        let mut r = Self { timeout_ms, ..Self::default() };
        if version >= 6 {
            r.topics =
                names.into_iter().map(|n| DeleteTopicState { name: Some(n), topic_id: [0; 16] }).collect();
        } else {
            r.topic_names = names.into_iter().collect();
        }
        r
    }
}

/// A topic to delete, by name or by id. v6+.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteTopicState {
    /// The topic name, or `None` to delete by id.
    pub name: Option<String>,
    /// The topic id, or all zero to delete by name.
    pub topic_id: Uuid,
}

impl Message for DeleteTopicsRequest {
    const API_KEY: i16 = api_key::DELETE_TOPICS;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        if version >= 6 {
            buf.put_array_len(self.topics.len(), flex)?;
            for t in &self.topics {
                buf.put_nullable_string(t.name.as_deref(), flex)?;
                buf.put_uuid(&t.topic_id);
                buf.put_empty_tagged_fields();
            }
        } else {
            buf.put_array_len(self.topic_names.len(), flex)?;
            for n in &self.topic_names {
                buf.put_string(n, flex)?;
            }
        }
        buf.put_i32(self.timeout_ms);
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let mut r = Self::default();
        if version >= 6 {
            // name length, topic_id, tagged fields.
            r.topics = d.array_of(flex, 1 + 16 + 1, |d| {
                let t = DeleteTopicState { name: d.nullable_string(flex)?, topic_id: d.uuid()? };
                d.skip_tagged_fields()?;
                Ok(t)
            })?;
        } else {
            r.topic_names = d.array_of(flex, if flex { 1 } else { 2 }, |d| d.string(flex))?;
        }
        r.timeout_ms = d.i32()?;
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(r)
    }
}

impl Request for DeleteTopicsRequest {
    type Response = DeleteTopicsResponse;
}

/// The DeleteTopics response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteTopicsResponse {
    /// How long the request was throttled for a quota violation, in
    /// milliseconds, or zero.
    pub throttle_time_ms: i32,
    /// The result for each topic.
    pub responses: Vec<DeletableTopicResult>,
}

/// The result of deleting one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeletableTopicResult {
    /// The topic name. May be `None` only from v6 (a topic deleted by an
    /// unknown id); encoding `None` below v6 fails with
    /// [`EncodeError::FieldNotInVersion`].
    pub name: Option<String>,
    /// The topic id (all zero if none). Added in v6; not sent below v6.
    pub topic_id: Uuid,
    /// The error code, or 0.
    pub error_code: i16,
    /// The error message, or `None`. Added in v5; not sent below v5.
    pub error_message: Option<String>,
}

/// The smallest encoding of one topic result at `version`.
fn topic_result_min_size(version: i16) -> usize {
    match version {
        ..=3 => 2 + 2,           // name, error_code
        4 => 1 + 2 + 1,          // + tagged fields
        5 => 1 + 2 + 1 + 1,      // + error_message
        _ => 1 + 16 + 2 + 1 + 1, // + topic_id
    }
}

impl Message for DeleteTopicsResponse {
    const API_KEY: i16 = api_key::DELETE_TOPICS;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        buf.put_i32(self.throttle_time_ms);
        buf.put_array_len(self.responses.len(), flex)?;
        for t in &self.responses {
            match (&t.name, version >= 6) {
                (Some(n), _) => buf.put_string(n, flex)?,
                (None, true) => buf.put_nullable_string(None, flex)?,
                (None, false) => {
                    return Err(EncodeError::FieldNotInVersion {
                        field: "DeletableTopicResult.name = null",
                        version,
                    })
                }
            }
            if version >= 6 {
                buf.put_uuid(&t.topic_id);
            }
            buf.put_i16(t.error_code);
            if version >= 5 {
                buf.put_nullable_string(t.error_message.as_deref(), flex)?;
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
        let throttle_time_ms = d.i32()?;
        let responses = d.array_of(flex, topic_result_min_size(version), |d| {
            let name = if version >= 6 { d.nullable_string(flex)? } else { Some(d.string(flex)?) };
            let mut t = DeletableTopicResult { name, ..Default::default() };
            if version >= 6 {
                t.topic_id = d.uuid()?;
            }
            t.error_code = d.i16()?;
            if version >= 5 {
                t.error_message = d.nullable_string(flex)?;
            }
            if flex {
                d.skip_tagged_fields()?;
            }
            Ok(t)
        })?;
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(Self { throttle_time_ms, responses })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_request_golden_bytes() {
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x00, 0x00, 0x00, 0x02, // topic_names: 2
            0x00, 0x01, b'a',
            0x00, 0x02, b'b', b'c',
            0x00, 0x00, 0x75, 0x30, // timeout_ms 30000
        ];
        let req = DeleteTopicsRequest::for_names(["a".into(), "bc".into()], 30_000, 1);
        let mut b = Vec::new();
        req.encode(&mut b, 1).unwrap();
        assert_eq!(b, want);
        let mut d = Decoder::new(want);
        assert_eq!(DeleteTopicsRequest::decode(&mut d, 1).unwrap(), req);
        d.finish().unwrap();
    }

    #[test]
    fn v6_request_golden_bytes() {
        let id: Uuid = [0xab; 16];
        let mut want = vec![
            0x03, // topics: compact 2
            0x02, b'a', // name "a"
        ];
        want.extend_from_slice(&[0; 16]); // topic_id: none
        want.push(0x00); // tagged fields
        want.push(0x00); // name null
        want.extend_from_slice(&id); // topic_id
        want.push(0x00); // tagged fields
        want.extend_from_slice(&[0x00, 0x00, 0x03, 0xe8]); // timeout_ms 1000
        want.push(0x00); // tagged fields
        let req = DeleteTopicsRequest {
            topics: vec![
                DeleteTopicState { name: Some("a".into()), topic_id: [0; 16] },
                DeleteTopicState { name: None, topic_id: id },
            ],
            topic_names: Vec::new(),
            timeout_ms: 1000,
        };
        let mut b = Vec::new();
        req.encode(&mut b, 6).unwrap();
        assert_eq!(b, want);
        let mut d = Decoder::new(&want);
        assert_eq!(DeleteTopicsRequest::decode(&mut d, 6).unwrap(), req);
        d.finish().unwrap();
    }

    #[test]
    fn v3_and_v5_response_golden_bytes() {
        #[rustfmt::skip]
        let v3: &[u8] = &[
            0x00, 0x00, 0x00, 0x00, // throttle_time_ms 0
            0x00, 0x00, 0x00, 0x01, // responses: 1
            0x00, 0x01, b't',       //   name "t"
            0x00, 0x03,             //   error_code 3 (UNKNOWN_TOPIC_OR_PARTITION)
        ];
        #[rustfmt::skip]
        let v5: &[u8] = &[
            0x00, 0x00, 0x00, 0x00, // throttle_time_ms 0
            0x02,                   // responses: compact 1
            0x02, b't',             //   name "t"
            0x00, 0x03,             //   error_code 3
            0x00,                   //   error_message null
            0x00,                   //   tagged fields
            0x00,                   // tagged fields
        ];
        let resp = DeleteTopicsResponse {
            throttle_time_ms: 0,
            responses: vec![DeletableTopicResult {
                name: Some("t".into()),
                error_code: 3,
                ..Default::default()
            }],
        };
        for (v, want) in [(3, v3), (5, v5)] {
            let mut b = Vec::new();
            resp.encode(&mut b, v).unwrap();
            assert_eq!(b, want, "v{v}");
            let mut d = Decoder::new(want);
            assert_eq!(DeleteTopicsResponse::decode(&mut d, v).unwrap(), resp);
            d.finish().unwrap();
        }
    }

    #[test]
    fn null_name_only_from_v6() {
        let resp = DeleteTopicsResponse {
            throttle_time_ms: 0,
            responses: vec![DeletableTopicResult { name: None, topic_id: [1; 16], ..Default::default() }],
        };
        assert!(matches!(resp.encode(&mut Vec::new(), 5), Err(EncodeError::FieldNotInVersion { .. })));
        let mut b = Vec::new();
        resp.encode(&mut b, 6).unwrap();
        assert_eq!(b[5], 0x00); // compact null name
                                // A null name in a v5 body is an error, not a panic.
        let bad = [0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0];
        assert!(DeleteTopicsResponse::decode(&mut Decoder::new(&bad), 5).is_err());
    }
}

/// Proptest strategies producing DeleteTopics bodies that are valid at a
/// given version (fields the version cannot carry hold their defaults).
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use crate::protocol::strategies::{compact_string, nullable_string, small_vec};
    use proptest::prelude::*;

    /// Requests valid at `version`.
    pub fn request(version: i16) -> impl Strategy<Value = DeleteTopicsRequest> {
        let state = (nullable_string(), any::<Uuid>())
            .prop_map(|(name, topic_id)| DeleteTopicState { name, topic_id });
        (small_vec(state), small_vec(compact_string()), any::<i32>()).prop_map(
            move |(topics, names, timeout_ms)| {
                if version >= 6 {
                    DeleteTopicsRequest { topics, topic_names: Vec::new(), timeout_ms }
                } else {
                    DeleteTopicsRequest { topics: Vec::new(), topic_names: names, timeout_ms }
                }
            },
        )
    }

    /// Responses valid at `version`.
    pub fn response(version: i16) -> impl Strategy<Value = DeleteTopicsResponse> {
        let result = (nullable_string(), compact_string(), any::<Uuid>(), any::<i16>(), nullable_string())
            .prop_map(move |(maybe_name, name, topic_id, error_code, error_message)| {
                let mut t = DeletableTopicResult { name: Some(name), error_code, ..Default::default() };
                if version >= 5 {
                    t.error_message = error_message;
                }
                if version >= 6 {
                    t.name = maybe_name;
                    t.topic_id = topic_id;
                }
                t
            });
        (any::<i32>(), small_vec(result))
            .prop_map(|(throttle_time_ms, responses)| DeleteTopicsResponse { throttle_time_ms, responses })
    }
}

#[cfg(test)]
crate::protocol::strategies::message_proptests!(DeleteTopicsRequest, DeleteTopicsResponse, super::strategies);
