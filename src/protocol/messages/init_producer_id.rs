//! InitProducerId (API key 22): obtain a producer id and epoch for
//! idempotent or transactional producing.
//!
//! Versions 0-5. What each version changes:
//!
//! | version | request | response |
//! |---|---|---|
//! | 0 | transactional id, transaction timeout | throttle time, error, producer id, epoch |
//! | 1 | same as 0 | same as 0 (quota: response sent before throttling) |
//! | 2 | first flexible version | first flexible version |
//! | 3 | current producer id and epoch (KIP-360 epoch bump) | same as 2 |
//! | 4 | same as 3; the broker may answer `PRODUCER_FENCED` (90) | same as 3 |
//! | 5 | same as 4; the broker may answer `TRANSACTION_ABORTABLE` (120, KIP-890) | same as 4 |
//!
//! Versions 4 and 5 are identical on the wire to 3: they only tell the broker
//! which error codes the client understands. (Version 6, KIP-939 two-phase
//! commit, adds `enable_2pc` and `keep_prepared_txn` to the request and the
//! ongoing transaction's producer id and epoch to the response; this codec
//! does not implement it.) No version defines a tagged field.
//!
//! An idempotent producer without transactions sends a null transactional id
//! to any broker; the transaction timeout is then ignored. From v3, sending
//! the current producer id and epoch instead of -1/-1 asks the broker to bump
//! the epoch of that producer (KIP-360) rather than allocate a new id.

use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{Decoder, Writer};
use crate::protocol::{api_key, Message, Request, VersionRange};

/// The InitProducerId request.
///
/// Encoding below v3 fails with [`EncodeError::FieldNotInVersion`] if
/// `producer_id` or `producer_epoch` is not -1: dropping them would turn an
/// epoch bump of an existing producer into a request for a new producer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdRequest {
    /// The transactional id, or `None` for an idempotent producer without
    /// transactions.
    pub transactional_id: Option<String>,
    /// Milliseconds the transaction coordinator waits before aborting an idle
    /// transaction of this producer; only meaningful with a transactional id.
    /// Defaults to 60000 (the Java client's `transaction.timeout.ms`).
    pub transaction_timeout_ms: i32,
    /// The current producer id, to bump its epoch, or -1. Added in v3.
    pub producer_id: i64,
    /// The current producer epoch, checked by the broker against its own, or
    /// -1. Added in v3.
    pub producer_epoch: i16,
}

impl Default for InitProducerIdRequest {
    /// An idempotent producer without transactions asking for a new id.
    fn default() -> Self {
        Self { transactional_id: None, transaction_timeout_ms: 60_000, producer_id: -1, producer_epoch: -1 }
    }
}

impl Message for InitProducerIdRequest {
    const API_KEY: i16 = api_key::INIT_PRODUCER_ID;
    const VERSIONS: VersionRange = VersionRange::new(0, 5);
    const FLEXIBLE_FROM: i16 = 2;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        buf.put_nullable_string(self.transactional_id.as_deref(), flex)?;
        buf.put_i32(self.transaction_timeout_ms);
        if version >= 3 {
            buf.put_i64(self.producer_id);
            buf.put_i16(self.producer_epoch);
        } else if self.producer_id != -1 {
            return Err(EncodeError::FieldNotInVersion { field: "producer_id", version });
        } else if self.producer_epoch != -1 {
            return Err(EncodeError::FieldNotInVersion { field: "producer_epoch", version });
        }
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let mut r = Self {
            transactional_id: d.nullable_string(flex)?,
            transaction_timeout_ms: d.i32()?,
            ..Self::default()
        };
        if version >= 3 {
            r.producer_id = d.i64()?;
            r.producer_epoch = d.i16()?;
        }
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(r)
    }
}

impl Request for InitProducerIdRequest {
    type Response = InitProducerIdResponse;
}

/// The InitProducerId response. Every field is present in every version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    /// Throttle time in milliseconds, or 0.
    pub throttle_time_ms: i32,
    /// The error code, or 0.
    pub error_code: i16,
    /// The producer id, or -1 on error.
    pub producer_id: i64,
    /// The epoch of the producer id.
    pub producer_epoch: i16,
}

impl Default for InitProducerIdResponse {
    fn default() -> Self {
        Self { throttle_time_ms: 0, error_code: 0, producer_id: -1, producer_epoch: 0 }
    }
}

impl Message for InitProducerIdResponse {
    const API_KEY: i16 = api_key::INIT_PRODUCER_ID;
    const VERSIONS: VersionRange = VersionRange::new(0, 5);
    const FLEXIBLE_FROM: i16 = 2;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        buf.put_i32(self.throttle_time_ms);
        buf.put_i16(self.error_code);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        if Self::is_flexible(version) {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let r = Self {
            throttle_time_ms: d.i32()?,
            error_code: d.i16()?,
            producer_id: d.i64()?,
            producer_epoch: d.i16()?,
        };
        if Self::is_flexible(version) {
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
    fn v0_request_golden_bytes() {
        let idempotent = InitProducerIdRequest { transaction_timeout_ms: 1000, ..Default::default() };
        let want = [0xff, 0xff, 0, 0, 0x03, 0xe8]; // null string, 1000
        assert_eq!(encode(&idempotent, 0), want);
        assert_eq!(decode::<InitProducerIdRequest>(&want, 1), idempotent);
        let txn = InitProducerIdRequest { transactional_id: Some("tx".into()), ..Default::default() };
        let want = [0, 2, b't', b'x', 0, 0, 0xea, 0x60]; // "tx", 60000
        assert_eq!(encode(&txn, 1), want);
        assert_eq!(decode::<InitProducerIdRequest>(&want, 0), txn);
    }

    #[test]
    fn v2_and_v4_request_golden_bytes() {
        let req = InitProducerIdRequest {
            transactional_id: Some("tx".into()),
            transaction_timeout_ms: 1,
            ..Default::default()
        };
        let want = [3, b't', b'x', 0, 0, 0, 1, 0];
        assert_eq!(encode(&req, 2), want);
        assert_eq!(decode::<InitProducerIdRequest>(&want, 2), req);

        let bump = InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 1,
            producer_id: 0x0102_0304_0506_0708,
            producer_epoch: 9,
        };
        #[rustfmt::skip]
        let want = [
            0,                      // transactional_id: compact null
            0, 0, 0, 1,             // transaction_timeout_ms
            1, 2, 3, 4, 5, 6, 7, 8, // producer_id
            0, 9,                   // producer_epoch
            0,                      // tagged fields
        ];
        for v in 3..=5 {
            assert_eq!(encode(&bump, v), want, "v{v}");
            assert_eq!(decode::<InitProducerIdRequest>(&want, v), bump);
        }
    }

    #[test]
    fn epoch_bump_is_refused_below_v3() {
        let bump = InitProducerIdRequest { producer_id: 5, producer_epoch: 1, ..Default::default() };
        assert_eq!(
            bump.encode(&mut Vec::new(), 2),
            Err(EncodeError::FieldNotInVersion { field: "producer_id", version: 2 })
        );
        let epoch_only = InitProducerIdRequest { producer_epoch: 1, ..Default::default() };
        assert_eq!(
            epoch_only.encode(&mut Vec::new(), 0),
            Err(EncodeError::FieldNotInVersion { field: "producer_epoch", version: 0 })
        );
        assert!(bump.encode(&mut Vec::new(), 3).is_ok());
    }

    #[test]
    fn response_golden_bytes() {
        let resp = InitProducerIdResponse {
            throttle_time_ms: 2,
            error_code: 0,
            producer_id: 4000,
            producer_epoch: 0x0102,
        };
        #[rustfmt::skip]
        let classic = [
            0, 0, 0, 2,                     // throttle_time_ms
            0, 0,                           // error_code
            0, 0, 0, 0, 0, 0, 0x0f, 0xa0,   // producer_id 4000
            1, 2,                           // producer_epoch
        ];
        assert_eq!(encode(&resp, 0), classic);
        assert_eq!(decode::<InitProducerIdResponse>(&classic, 1), resp);
        let mut flexible = classic.to_vec();
        flexible.push(0); // tagged fields
        assert_eq!(encode(&resp, 5), flexible);
        assert_eq!(decode::<InitProducerIdResponse>(&flexible, 2), resp);
        // An unknown tagged field (tag 0, one byte) is skipped.
        let mut tagged = classic.to_vec();
        tagged.extend_from_slice(&[1, 0, 1, 0x42]);
        assert_eq!(decode::<InitProducerIdResponse>(&tagged, 4), resp);
    }

    #[test]
    fn truncated_input_fails_cleanly() {
        let req = InitProducerIdRequest { transactional_id: Some("t".into()), ..Default::default() };
        for v in 0..=5 {
            let full = encode(&req, v);
            for cut in 0..full.len() {
                assert!(InitProducerIdRequest::decode(&mut Decoder::new(&full[..cut]), v).is_err());
            }
        }
        // A classic string length of -2.
        assert_eq!(
            InitProducerIdRequest::decode(&mut Decoder::new(&[0xff, 0xfe, 0, 0, 0, 0]), 0),
            Err(DecodeError::NegativeLength(-2))
        );
    }
}

/// Proptest strategies producing InitProducerId bodies that are valid at a
/// given version (fields the version cannot carry hold their defaults).
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use crate::protocol::strategies::nullable_string;
    use proptest::prelude::*;

    /// Requests valid at `version`.
    pub fn request(version: i16) -> impl Strategy<Value = InitProducerIdRequest> {
        (nullable_string(), any::<i32>(), any::<i64>(), any::<i16>()).prop_map(
            move |(transactional_id, transaction_timeout_ms, producer_id, producer_epoch)| {
                if version >= 3 {
                    InitProducerIdRequest {
                        transactional_id,
                        transaction_timeout_ms,
                        producer_id,
                        producer_epoch,
                    }
                } else {
                    InitProducerIdRequest {
                        transactional_id,
                        transaction_timeout_ms,
                        ..InitProducerIdRequest::default()
                    }
                }
            },
        )
    }

    /// Responses valid at `version` (every version carries every field).
    pub fn response(_version: i16) -> impl Strategy<Value = InitProducerIdResponse> {
        (any::<i32>(), any::<i16>(), any::<i64>(), any::<i16>()).prop_map(
            |(throttle_time_ms, error_code, producer_id, producer_epoch)| InitProducerIdResponse {
                throttle_time_ms,
                error_code,
                producer_id,
                producer_epoch,
            },
        )
    }
}

#[cfg(test)]
crate::protocol::strategies::message_proptests!(
    InitProducerIdRequest,
    InitProducerIdResponse,
    super::strategies
);
