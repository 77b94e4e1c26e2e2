//! AddOffsetsToTxn (API key 25): tell the transaction coordinator that the
//! transaction will commit consumer offsets of a group (before
//! TxnOffsetCommit sends them to the group coordinator).
//!
//! Versions 0-4. What each version changes:
//!
//! | version | request | response |
//! |---|---|---|
//! | 0 | transactional id, producer id and epoch, group id | throttle time, error |
//! | 1 | same as 0 | same as 0 (quota: response sent before throttling) |
//! | 2 | same as 1; the broker may answer `PRODUCER_FENCED` (90) | same as 1 |
//! | 3 | first flexible version | first flexible version |
//! | 4 | same as 3; the broker may answer `TRANSACTION_ABORTABLE` (120, KIP-890) | same as 3 |
//!
//! Every field is in every version; no version defines a tagged field.

use super::{put_txn_producer, txn_producer};
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{Decoder, Writer};
use crate::protocol::{api_key, Message, Request, VersionRange};

const VERSIONS: VersionRange = VersionRange::new(0, 4);
const FLEXIBLE_FROM: i16 = 3;

/// The AddOffsetsToTxn request. Every field is present in every version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddOffsetsToTxnRequest {
    /// The transactional id of the ongoing transaction.
    pub transactional_id: String,
    /// The producer id that InitProducerId gave the transactional id.
    pub producer_id: i64,
    /// The producer epoch, which the coordinator checks to fence zombies.
    pub producer_epoch: i16,
    /// The consumer group whose offsets the transaction will commit.
    pub group_id: String,
}

impl Message for AddOffsetsToTxnRequest {
    const API_KEY: i16 = api_key::ADD_OFFSETS_TO_TXN;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        put_txn_producer(buf, (&self.transactional_id, self.producer_id, self.producer_epoch), flex)?;
        buf.put_string(&self.group_id, flex)?;
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let (transactional_id, producer_id, producer_epoch) = txn_producer(d, flex)?;
        let r = Self { transactional_id, producer_id, producer_epoch, group_id: d.string(flex)? };
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(r)
    }
}

impl Request for AddOffsetsToTxnRequest {
    type Response = AddOffsetsToTxnResponse;
}

/// The AddOffsetsToTxn response. Every field is present in every version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddOffsetsToTxnResponse {
    /// How long the request was throttled for a quota violation, in
    /// milliseconds, or zero.
    pub throttle_time_ms: i32,
    /// The error code, or 0.
    pub error_code: i16,
}

impl Message for AddOffsetsToTxnResponse {
    const API_KEY: i16 = api_key::ADD_OFFSETS_TO_TXN;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        buf.put_i32(self.throttle_time_ms);
        buf.put_i16(self.error_code);
        if Self::is_flexible(version) {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let r = Self { throttle_time_ms: d.i32()?, error_code: d.i16()? };
        if Self::is_flexible(version) {
            d.skip_tagged_fields()?;
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::strategies::{assert_golden, assert_truncations_fail_at_every_version};

    fn request() -> AddOffsetsToTxnRequest {
        AddOffsetsToTxnRequest {
            transactional_id: "tx".into(),
            producer_id: 4000,
            producer_epoch: 2,
            group_id: "g".into(),
        }
    }

    #[test]
    fn request_golden_bytes() {
        #[rustfmt::skip]
        let classic = [
            0, 2, b't', b'x',               // transactional_id "tx"
            0, 0, 0, 0, 0, 0, 0x0f, 0xa0,   // producer_id 4000
            0, 2,                           // producer_epoch 2
            0, 1, b'g',                     // group_id "g"
        ];
        assert_golden(&request(), 0, &classic);
        assert_golden(&request(), 2, &classic);
        #[rustfmt::skip]
        let flexible = [
            3, b't', b'x',                  // transactional_id: compact "tx"
            0, 0, 0, 0, 0, 0, 0x0f, 0xa0,   // producer_id 4000
            0, 2,                           // producer_epoch 2
            2, b'g',                        // group_id: compact "g"
            0,                              // tagged fields
        ];
        assert_golden(&request(), 3, &flexible);
        assert_golden(&request(), 4, &flexible);
    }

    #[test]
    fn response_golden_bytes() {
        let resp = AddOffsetsToTxnResponse { throttle_time_ms: 1, error_code: 47 }; // INVALID_PRODUCER_EPOCH
        let classic = [0, 0, 0, 1, 0, 47];
        assert_golden(&resp, 0, &classic);
        assert_golden(&resp, 2, &classic);
        let flexible = [0, 0, 0, 1, 0, 47, 0]; // ... and empty tagged fields
        assert_golden(&resp, 3, &flexible);
        assert_golden(&resp, 4, &flexible);
    }

    #[test]
    fn truncated_input_fails_cleanly() {
        assert_truncations_fail_at_every_version(&request());
        assert_truncations_fail_at_every_version(&AddOffsetsToTxnResponse {
            throttle_time_ms: 1,
            error_code: 2,
        });
    }
}

/// Proptest strategies producing AddOffsetsToTxn bodies (every field exists
/// at every version).
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use crate::protocol::strategies::{compact_string, txn_producer};
    use proptest::prelude::*;

    /// Requests valid at `version` (every version carries every field).
    pub fn request(_version: i16) -> impl Strategy<Value = AddOffsetsToTxnRequest> {
        (txn_producer(), compact_string()).prop_map(
            |((transactional_id, producer_id, producer_epoch), group_id)| AddOffsetsToTxnRequest {
                transactional_id,
                producer_id,
                producer_epoch,
                group_id,
            },
        )
    }

    /// Responses valid at `version` (every version carries every field).
    pub fn response(_version: i16) -> impl Strategy<Value = AddOffsetsToTxnResponse> {
        (any::<i32>(), any::<i16>()).prop_map(|(throttle_time_ms, error_code)| AddOffsetsToTxnResponse {
            throttle_time_ms,
            error_code,
        })
    }
}

#[cfg(test)]
crate::protocol::strategies::message_proptests!(
    AddOffsetsToTxnRequest,
    AddOffsetsToTxnResponse,
    super::strategies
);
