//! EndTxn (API key 26): commit or abort a producer's ongoing transaction.
//!
//! Versions 0-5. What each version changes:
//!
//! | version | request | response |
//! |---|---|---|
//! | 0 | transactional id, producer id and epoch, commit or abort | throttle time, error |
//! | 1 | same as 0 | same as 0 (quota: response sent before throttling) |
//! | 2 | same as 1; the broker may answer `PRODUCER_FENCED` (90) | same as 1 |
//! | 3 | first flexible version | first flexible version |
//! | 4 | same as 3; the broker may answer `TRANSACTION_ABORTABLE` (120, KIP-890) | same as 3 |
//! | 5 | same as 4 (KIP-890 part 2: the epoch is bumped on every transaction) | the producer id and epoch to use next |
//!
//! No version defines a tagged field. The schema this module follows (Kafka
//! trunk, October 2024) marks v5 of the request "latest version unstable";
//! it belongs to transaction protocol v2 (KIP-890 part 2), which Kafka 4.0
//! ships.
//!
//! The response's producer id and epoch (v5+) are dropped silently below
//! v5, as Kafka's own serializers drop them (the schema marks them
//! ignorable): a client below v5 keeps its epoch.

use super::{put_txn_producer, txn_producer};
use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{Decoder, Writer};
use crate::protocol::{api_key, Message, Request, VersionRange};

const VERSIONS: VersionRange = VersionRange::new(0, 5);
const FLEXIBLE_FROM: i16 = 3;
/// The first version whose response carries the producer id and epoch.
pub const PRODUCER_STATE_FROM: i16 = 5;

/// The EndTxn request. Every field is present in every version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndTxnRequest {
    /// The transactional id whose transaction ends.
    pub transactional_id: String,
    /// The producer id that InitProducerId (or, v5+, the last EndTxn) gave
    /// the transactional id.
    pub producer_id: i64,
    /// The producer epoch, which the coordinator checks to fence zombies.
    pub producer_epoch: i16,
    /// `true` to commit the transaction, `false` to abort it.
    pub committed: bool,
}

impl Message for EndTxnRequest {
    const API_KEY: i16 = api_key::END_TXN;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        put_txn_producer(buf, (&self.transactional_id, self.producer_id, self.producer_epoch), flex)?;
        buf.put_bool(self.committed);
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let (transactional_id, producer_id, producer_epoch) = txn_producer(d, flex)?;
        let r = Self { transactional_id, producer_id, producer_epoch, committed: d.bool()? };
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(r)
    }
}

impl Request for EndTxnRequest {
    type Response = EndTxnResponse;
}

/// The EndTxn response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTxnResponse {
    /// How long the request was throttled for a quota violation, in
    /// milliseconds, or zero.
    pub throttle_time_ms: i32,
    /// The error code, or 0.
    pub error_code: i16,
    /// The producer id for the next transaction, or -1 (the default). Added
    /// in v5; dropped below v5.
    pub producer_id: i64,
    /// The producer epoch for the next transaction, or -1 (the default).
    /// Added in v5; dropped below v5.
    pub producer_epoch: i16,
}

impl Default for EndTxnResponse {
    fn default() -> Self {
        Self { throttle_time_ms: 0, error_code: 0, producer_id: -1, producer_epoch: -1 }
    }
}

impl Message for EndTxnResponse {
    const API_KEY: i16 = api_key::END_TXN;
    const VERSIONS: VersionRange = VERSIONS;
    const FLEXIBLE_FROM: i16 = FLEXIBLE_FROM;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        buf.put_i32(self.throttle_time_ms);
        buf.put_i16(self.error_code);
        if version >= PRODUCER_STATE_FROM {
            buf.put_i64(self.producer_id);
            buf.put_i16(self.producer_epoch);
        }
        if Self::is_flexible(version) {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let mut r = Self { throttle_time_ms: d.i32()?, error_code: d.i16()?, ..Self::default() };
        if version >= PRODUCER_STATE_FROM {
            r.producer_id = d.i64()?;
            r.producer_epoch = d.i16()?;
        }
        if Self::is_flexible(version) {
            d.skip_tagged_fields()?;
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::strategies::{
        assert_golden, assert_truncations_fail_at_every_version, encode_to_vec,
    };

    fn commit() -> EndTxnRequest {
        EndTxnRequest { transactional_id: "tx".into(), producer_id: 4000, producer_epoch: 2, committed: true }
    }

    #[test]
    fn request_golden_bytes() {
        #[rustfmt::skip]
        let classic = [
            0, 2, b't', b'x',               // transactional_id "tx"
            0, 0, 0, 0, 0, 0, 0x0f, 0xa0,   // producer_id 4000
            0, 2,                           // producer_epoch 2
            1,                              // committed true
        ];
        assert_golden(&commit(), 0, &classic);
        assert_golden(&commit(), 2, &classic);
        #[rustfmt::skip]
        let flexible = [
            3, b't', b'x',                  // transactional_id: compact "tx"
            0, 0, 0, 0, 0, 0, 0x0f, 0xa0,   // producer_id 4000
            0, 2,                           // producer_epoch 2
            0,                              // committed false (abort)
            0,                              // tagged fields
        ];
        let abort = EndTxnRequest { committed: false, ..commit() };
        assert_golden(&abort, 3, &flexible);
        assert_golden(&abort, 5, &flexible);
    }

    #[test]
    fn response_golden_bytes() {
        let resp = EndTxnResponse { throttle_time_ms: 1, error_code: 48, ..Default::default() }; // INVALID_TXN_STATE
        assert_golden(&resp, 0, &[0, 0, 0, 1, 0, 48]);
        assert_golden(&resp, 4, &[0, 0, 0, 1, 0, 48, 0]);
        let bumped = EndTxnResponse { producer_id: 4000, producer_epoch: 3, ..resp };
        #[rustfmt::skip]
        let want = [
            0, 0, 0, 1,                     // throttle_time_ms 1
            0, 48,                          // error_code 48
            0, 0, 0, 0, 0, 0, 0x0f, 0xa0,   // producer_id 4000
            0, 3,                           // producer_epoch 3
            0,                              // tagged fields
        ];
        assert_golden(&bumped, 5, &want);
        // Below v5 the producer state is dropped; it decodes as -1.
        assert_eq!(encode_to_vec(&bumped, 4), encode_to_vec(&resp, 4));
    }

    #[test]
    fn truncated_input_fails_cleanly() {
        assert_truncations_fail_at_every_version(&commit());
        assert_truncations_fail_at_every_version(&EndTxnResponse::default());
    }
}

/// Proptest strategies producing EndTxn bodies that are valid at a given
/// version (fields the version cannot carry hold their defaults).
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use crate::protocol::strategies::txn_producer;
    use proptest::prelude::*;

    /// Requests valid at `version` (every version carries every field).
    pub fn request(_version: i16) -> impl Strategy<Value = EndTxnRequest> {
        (txn_producer(), any::<bool>()).prop_map(
            |((transactional_id, producer_id, producer_epoch), committed)| EndTxnRequest {
                transactional_id,
                producer_id,
                producer_epoch,
                committed,
            },
        )
    }

    /// Responses valid at `version`.
    pub fn response(version: i16) -> impl Strategy<Value = EndTxnResponse> {
        (any::<i32>(), any::<i16>(), any::<i64>(), any::<i16>()).prop_map(
            move |(throttle_time_ms, error_code, producer_id, producer_epoch)| {
                let mut r = EndTxnResponse { throttle_time_ms, error_code, ..Default::default() };
                if version >= PRODUCER_STATE_FROM {
                    r.producer_id = producer_id;
                    r.producer_epoch = producer_epoch;
                }
                r
            },
        )
    }
}

#[cfg(test)]
crate::protocol::strategies::message_proptests!(EndTxnRequest, EndTxnResponse, super::strategies);
