//! FindCoordinator (API key 10): which broker coordinates a consumer group,
//! a transactional id or a share group.
//!
//! Versions 0-6. What each version changes:
//!
//! | version | request | response |
//! |---|---|---|
//! | 0 | key (a group id) | error, node id, host, port |
//! | 1 | key type (0 group, 1 transaction) | throttle time, error message |
//! | 2 | same as 1 | same as 1 (quota: response sent before throttling) |
//! | 3 | first flexible version | first flexible version |
//! | 4 | `coordinator_keys` replaces `key` (batching, KIP-699) | `coordinators` replaces the single coordinator |
//! | 5 | same as 4; the broker may answer `TRANSACTION_ABORTABLE` (120, KIP-890) | same as 4 |
//! | 6 | same as 5; key type 2, share groups (KIP-932) | same as 5 |
//!
//! No version defines a tagged field. A transactional producer needs v1 or
//! later (v0 has no key type, so it can only look up groups):
//! [`FindCoordinatorRequest::transaction`] puts the transactional id in the
//! field its version carries.
//!
//! Encoding fails with [`EncodeError::FieldNotInVersion`] when a field that
//! says which coordinator (request keys, key type; response error, node,
//! host, port, coordinators) is set at a version that cannot carry it. The
//! throttle time (v1+) and the error message (v1-3) are dropped silently
//! outside their versions, as Kafka's own serializers drop them (the schema
//! marks them ignorable).

use super::{check_absent, min_str, put_structs, structs_of};
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{Decoder, Writer};
use crate::protocol::{api_key, Message, Request, VersionRange};

const VERSIONS: VersionRange = VersionRange::new(0, 6);
const FLEXIBLE_FROM: i16 = 3;
/// The first version that batches keys (`coordinator_keys`, `coordinators`).
pub const BATCHED_FROM: i16 = 4;

/// [`FindCoordinatorRequest::key_type`] of a consumer group (the default).
pub const KEY_TYPE_GROUP: i8 = 0;
/// [`FindCoordinatorRequest::key_type`] of a transactional id (v1+).
pub const KEY_TYPE_TRANSACTION: i8 = 1;
/// [`FindCoordinatorRequest::key_type`] of a share group (v6+, KIP-932).
pub const KEY_TYPE_SHARE: i8 = 2;

/// The FindCoordinator request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindCoordinatorRequest {
    /// The coordinator key: a group id or a transactional id. v0-3 only:
    /// encoding a non-empty key at v4+ fails (use
    /// [`Self::coordinator_keys`] there).
    pub key: String,
    /// What the keys are: [`KEY_TYPE_GROUP`] (the default),
    /// [`KEY_TYPE_TRANSACTION`] or [`KEY_TYPE_SHARE`]. Added in v1; encoding
    /// a type other than group at v0 fails.
    pub key_type: i8,
    /// The coordinator keys. Added in v4 (replacing [`Self::key`]); encoding
    /// any below v4 fails.
    pub coordinator_keys: Vec<String>,
}

impl FindCoordinatorRequest {
    /// A request for the coordinator of transactional id `id`, valid at
    /// `version` 1 or later: the id goes in [`Self::key`] below v4 and in
    /// [`Self::coordinator_keys`] from v4. (At v0, which has no key type,
    /// the request fails to encode.)
    ///
    /// ```
    /// use kafka_sync::protocol::messages::find_coordinator::{FindCoordinatorRequest, KEY_TYPE_TRANSACTION};
    /// let r = FindCoordinatorRequest::transaction("tx-1", 3);
    /// assert_eq!((r.key.as_str(), r.key_type), ("tx-1", KEY_TYPE_TRANSACTION));
    /// assert_eq!(FindCoordinatorRequest::transaction("tx-1", 4).coordinator_keys, ["tx-1"]);
    /// ```
    pub fn transaction(id: &str, version: i16) -> Self {
        let mut r = Self { key_type: KEY_TYPE_TRANSACTION, ..Self::default() };
        if version >= BATCHED_FROM {
            r.coordinator_keys.push(id.to_owned());
        } else {
            r.key = id.to_owned();
        }
        r
    }
}

impl Message for FindCoordinatorRequest {
    const API_KEY: i16 = api_key::FIND_COORDINATOR;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        if version < BATCHED_FROM {
            check_absent(self.coordinator_keys.is_empty(), "coordinator_keys", version)?;
            buf.put_string(&self.key, flex)?;
        } else {
            check_absent(self.key.is_empty(), "key", version)?;
        }
        if version >= 1 {
            buf.put_i8(self.key_type);
        } else {
            check_absent(self.key_type == KEY_TYPE_GROUP, "key_type", version)?;
        }
        if version >= BATCHED_FROM {
            buf.put_array_len(self.coordinator_keys.len(), flex)?;
            for k in &self.coordinator_keys {
                buf.put_string(k, flex)?;
            }
        }
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let mut r = Self::default();
        if version < BATCHED_FROM {
            r.key = d.string(flex)?;
        }
        if version >= 1 {
            r.key_type = d.i8()?;
        }
        if version >= BATCHED_FROM {
            r.coordinator_keys = d.array_of(flex, min_str(flex), |d| d.string(flex))?;
        }
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(r)
    }
}

impl Request for FindCoordinatorRequest {
    type Response = FindCoordinatorResponse;
}

/// The FindCoordinator response: one coordinator in its top-level fields
/// (v0-3) or one per key in [`Self::coordinators`] (v4+).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FindCoordinatorResponse {
    /// How long the request was throttled for a quota violation, in
    /// milliseconds, or zero. Added in v1; dropped at v0.
    pub throttle_time_ms: i32,
    /// The error code, or 0. v0-3 only: a non-zero code fails to encode at v4+.
    pub error_code: i16,
    /// The error message, or `None`. v1-3 only; dropped elsewhere.
    pub error_message: Option<String>,
    /// The coordinator's broker id. v0-3 only: non-zero fails to encode at v4+.
    pub node_id: i32,
    /// The coordinator's host. v0-3 only: non-empty fails to encode at v4+.
    pub host: String,
    /// The coordinator's port. v0-3 only: non-zero fails to encode at v4+.
    pub port: i32,
    /// The coordinator of each key asked for. Added in v4; any fail to
    /// encode below v4.
    pub coordinators: Vec<Coordinator>,
}

/// The coordinator of one key (v4+).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Coordinator {
    /// The coordinator key, as asked for.
    pub key: String,
    /// The coordinator's broker id.
    pub node_id: i32,
    /// The coordinator's host.
    pub host: String,
    /// The coordinator's port.
    pub port: i32,
    /// The error code, or 0.
    pub error_code: i16,
    /// The error message, or `None`.
    pub error_message: Option<String>,
}

impl Message for FindCoordinatorResponse {
    const API_KEY: i16 = api_key::FIND_COORDINATOR;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        if version >= 1 {
            buf.put_i32(self.throttle_time_ms);
        }
        if version < BATCHED_FROM {
            check_absent(self.coordinators.is_empty(), "coordinators", version)?;
            buf.put_i16(self.error_code);
            if version >= 1 {
                buf.put_nullable_string(self.error_message.as_deref(), flex)?;
            }
            buf.put_i32(self.node_id);
            buf.put_string(&self.host, flex)?;
            buf.put_i32(self.port);
        } else {
            check_absent(self.error_code == 0, "error_code", version)?;
            check_absent(self.node_id == 0, "node_id", version)?;
            check_absent(self.host.is_empty(), "host", version)?;
            check_absent(self.port == 0, "port", version)?;
            put_structs(buf, &self.coordinators, flex, |buf, c| {
                buf.put_string(&c.key, flex)?;
                buf.put_i32(c.node_id);
                buf.put_string(&c.host, flex)?;
                buf.put_i32(c.port);
                buf.put_i16(c.error_code);
                buf.put_nullable_string(c.error_message.as_deref(), flex)
            })?;
        }
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let mut r = Self::default();
        if version >= 1 {
            r.throttle_time_ms = d.i32()?;
        }
        if version < BATCHED_FROM {
            r.error_code = d.i16()?;
            if version >= 1 {
                r.error_message = d.nullable_string(flex)?;
            }
            r.node_id = d.i32()?;
            r.host = d.string(flex)?;
            r.port = d.i32()?;
        } else {
            // key, node_id, host, port, error_code, error_message.
            let min = min_str(flex) + 4 + min_str(flex) + 4 + 2 + min_str(flex);
            r.coordinators = structs_of(d, flex, min, |d| {
                Ok(Coordinator {
                    key: d.string(flex)?,
                    node_id: d.i32()?,
                    host: d.string(flex)?,
                    port: d.i32()?,
                    error_code: d.i16()?,
                    error_message: d.nullable_string(flex)?,
                })
            })?;
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

    #[test]
    fn v0_to_v3_golden_bytes() {
        assert_golden(&FindCoordinatorRequest { key: "g".into(), ..Default::default() }, 0, &[0, 1, b'g']);
        #[rustfmt::skip]
        let classic = [
            0, 2, b't', b'x',   // key "tx"
            1,                  // key_type 1 (transaction)
        ];
        assert_golden(&FindCoordinatorRequest::transaction("tx", 1), 1, &classic);
        assert_golden(&FindCoordinatorRequest::transaction("tx", 2), 2, &classic);
        #[rustfmt::skip]
        let flexible = [
            3, b't', b'x',      // key: compact "tx"
            1,                  // key_type 1
            0,                  // tagged fields
        ];
        assert_golden(&FindCoordinatorRequest::transaction("tx", 3), 3, &flexible);

        let mut resp = FindCoordinatorResponse {
            error_code: 15, // COORDINATOR_NOT_AVAILABLE
            node_id: 2,
            host: "h1".into(),
            port: 9092,
            ..Default::default()
        };
        #[rustfmt::skip]
        let v0 = [
            0, 15,              // error_code 15
            0, 0, 0, 2,         // node_id 2
            0, 2, b'h', b'1',   // host "h1"
            0, 0, 0x23, 0x84,   // port 9092
        ];
        assert_golden(&resp, 0, &v0);
        resp.throttle_time_ms = 7;
        #[rustfmt::skip]
        let v3 = [
            0, 0, 0, 7,         // throttle_time_ms 7
            0, 15,              // error_code 15
            0,                  // error_message: compact null
            0, 0, 0, 2,         // node_id 2
            3, b'h', b'1',      // host: compact "h1"
            0, 0, 0x23, 0x84,   // port 9092
            0,                  // tagged fields
        ];
        assert_golden(&resp, 3, &v3);
    }

    #[test]
    fn v4_and_v6_batched_golden_bytes() {
        #[rustfmt::skip]
        let want = [
            1,                  // key_type 1
            3,                  // coordinator_keys: compact 2
            2, b'a',            //   "a"
            2, b'b',            //   "b"
            0,                  // tagged fields
        ];
        let req = FindCoordinatorRequest {
            key_type: KEY_TYPE_TRANSACTION,
            coordinator_keys: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        assert_golden(&req, 4, &want);
        assert_golden(&req, 6, &want);
        assert_eq!(FindCoordinatorRequest::transaction("a", 6).coordinator_keys, ["a"]);

        #[rustfmt::skip]
        let want = [
            0, 0, 0, 0,         // throttle_time_ms 0
            2,                  // coordinators: compact 1
            2, b'a',            //   key "a"
            0, 0, 0, 3,         //   node_id 3
            2, b'h',            //   host "h"
            0, 0, 0x23, 0x84,   //   port 9092
            0, 51,              //   error_code 51 (CONCURRENT_TRANSACTIONS)
            2, b'x',            //   error_message "x"
            0,                  //   tagged fields
            0,                  // tagged fields
        ];
        let resp = FindCoordinatorResponse {
            coordinators: vec![Coordinator {
                key: "a".into(),
                node_id: 3,
                host: "h".into(),
                port: 9092,
                error_code: 51,
                error_message: Some("x".into()),
            }],
            ..Default::default()
        };
        assert_golden(&resp, 4, &want);
        assert_golden(&resp, 6, &want);
    }

    #[test]
    fn fields_outside_their_versions_are_refused() {
        let err = |field, version| Err(EncodeError::FieldNotInVersion { field, version });
        let txn = FindCoordinatorRequest::transaction("tx", 3);
        assert_eq!(txn.encode(&mut Vec::new(), 0), err("key_type", 0));
        assert_eq!(txn.encode(&mut Vec::new(), 4), err("key", 4));
        let batched = FindCoordinatorRequest::transaction("tx", 4);
        assert_eq!(batched.encode(&mut Vec::new(), 3), err("coordinator_keys", 3));

        let resp = |f: fn(&mut FindCoordinatorResponse)| {
            let mut r = FindCoordinatorResponse::default();
            f(&mut r);
            r
        };
        assert_eq!(resp(|r| r.node_id = 1).encode(&mut Vec::new(), 4), err("node_id", 4));
        assert_eq!(resp(|r| r.error_code = 15).encode(&mut Vec::new(), 5), err("error_code", 5));
        assert_eq!(resp(|r| r.host = "h".into()).encode(&mut Vec::new(), 6), err("host", 6));
        assert_eq!(resp(|r| r.port = 1).encode(&mut Vec::new(), 4), err("port", 4));
        let many = resp(|r| r.coordinators.push(Coordinator::default()));
        assert_eq!(many.encode(&mut Vec::new(), 3), err("coordinators", 3));

        // Ignorable fields are dropped: throttle time at v0, error message at v0 and v4+.
        let chatty = resp(|r| {
            r.throttle_time_ms = 5;
            r.error_message = Some("m".into());
        });
        assert_eq!(chatty.encode(&mut Vec::new(), 0), Ok(()));
        assert_eq!(chatty.encode(&mut Vec::new(), 4), Ok(()));
    }

    #[test]
    fn truncated_and_hostile_input_fails_cleanly() {
        assert_truncations_fail(&FindCoordinatorRequest { key: "g".into(), ..Default::default() }, 0);
        for v in 1..=6 {
            assert_truncations_fail(&FindCoordinatorRequest::transaction("tx", v), v);
        }
        let one = FindCoordinatorResponse {
            error_message: Some("m".into()),
            host: "h".into(),
            ..Default::default()
        };
        for v in 0..=3 {
            assert_truncations_fail(&one, v);
        }
        let many =
            FindCoordinatorResponse { coordinators: vec![Coordinator::default()], ..Default::default() };
        assert_truncations_fail(&many, 5);
        // A coordinator count of 2^28 in 5 bytes.
        let hostile = [0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x01];
        assert_count_too_large::<FindCoordinatorResponse>(&hostile, 4);
    }
}

/// Proptest strategies producing FindCoordinator bodies that are valid at a
/// given version (fields the version cannot carry hold their defaults).
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use crate::protocol::strategies::{compact_string, nullable_string, small_vec};
    use proptest::prelude::*;

    /// Requests valid at `version`.
    pub fn request(version: i16) -> impl Strategy<Value = FindCoordinatorRequest> {
        (compact_string(), any::<i8>(), small_vec(compact_string())).prop_map(
            move |(key, key_type, coordinator_keys)| {
                let mut r = FindCoordinatorRequest::default();
                if version >= 1 {
                    r.key_type = key_type;
                }
                if version >= BATCHED_FROM {
                    r.coordinator_keys = coordinator_keys;
                } else {
                    r.key = key;
                }
                r
            },
        )
    }

    /// Responses valid at `version`.
    pub fn response(version: i16) -> impl Strategy<Value = FindCoordinatorResponse> {
        let coordinator =
            (compact_string(), any::<i32>(), compact_string(), any::<i32>(), any::<i16>(), nullable_string())
                .prop_map(|(key, node_id, host, port, error_code, error_message)| Coordinator {
                    key,
                    node_id,
                    host,
                    port,
                    error_code,
                    error_message,
                });
        (
            any::<i32>(),
            (any::<i16>(), nullable_string(), any::<i32>(), compact_string(), any::<i32>()),
            small_vec(coordinator),
        )
            .prop_map(
                move |(throttle_time_ms, (error_code, error_message, node_id, host, port), coordinators)| {
                    let mut r = FindCoordinatorResponse::default();
                    if version >= 1 {
                        r.throttle_time_ms = throttle_time_ms;
                    }
                    if version >= BATCHED_FROM {
                        r.coordinators = coordinators;
                    } else {
                        r.error_code = error_code;
                        r.node_id = node_id;
                        r.host = host;
                        r.port = port;
                        if version >= 1 {
                            r.error_message = error_message;
                        }
                    }
                    r
                },
            )
    }
}

#[cfg(test)]
crate::protocol::strategies::message_proptests!(
    FindCoordinatorRequest,
    FindCoordinatorResponse,
    super::strategies
);
