//! PushTelemetry (API key 72, KIP-714): the client pushes the metrics a
//! [GetTelemetrySubscriptions](super::get_telemetry_subscriptions) response
//! asked for, encoded as an OpenTelemetry `MetricsData` protobuf, possibly
//! compressed with one of the codecs the broker accepts.
//!
//! Version 0 only, flexible. No field is tagged.

use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{Decoder, Uuid, Writer};
use crate::protocol::{api_key, Message, Request, VersionRange};

/// The PushTelemetry request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushTelemetryRequest {
    /// The id the broker assigned to this client instance.
    pub client_instance_id: Uuid,
    /// The subscription the metrics answer.
    pub subscription_id: i32,
    /// Whether this is the client's last push (it is closing).
    pub terminating: bool,
    /// The codec of `metrics` (record batch codes: 0 none, 1 gzip,
    /// 2 snappy, 3 lz4, 4 zstd).
    pub compression_type: i8,
    /// The metrics: an OpenTelemetry `MetricsData` (v1) protobuf, compressed
    /// with `compression_type`.
    pub metrics: Vec<u8>,
}

impl Message for PushTelemetryRequest {
    const API_KEY: i16 = api_key::PUSH_TELEMETRY;
    const VERSIONS: VersionRange = VersionRange::new(0, 0);
    const FLEXIBLE_FROM: i16 = 0;

    fn encode_body(&self, buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        buf.put_uuid(&self.client_instance_id);
        buf.put_i32(self.subscription_id);
        buf.put_bool(self.terminating);
        buf.put_i8(self.compression_type);
        buf.put_bytes(&self.metrics, true)?;
        buf.put_empty_tagged_fields();
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        let r = Self {
            client_instance_id: d.uuid()?,
            subscription_id: d.i32()?,
            terminating: d.bool()?,
            compression_type: d.i8()?,
            metrics: d.bytes(true)?.to_vec(),
        };
        d.skip_tagged_fields()?;
        Ok(r)
    }
}

impl Request for PushTelemetryRequest {
    type Response = PushTelemetryResponse;
}

/// The PushTelemetry response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushTelemetryResponse {
    /// Milliseconds the request was throttled for (quota), or 0.
    pub throttle_time_ms: i32,
    /// The error code, or 0: `UNKNOWN_SUBSCRIPTION_ID` (117) and
    /// `UNSUPPORTED_COMPRESSION_TYPE` (76) ask for a new subscription,
    /// `INVALID_RECORD` (87) and `TELEMETRY_TOO_LARGE` (118) reject one push,
    /// `THROTTLING_QUOTA_EXCEEDED` (89) asks the client to slow down.
    pub error_code: i16,
}

impl Message for PushTelemetryResponse {
    const API_KEY: i16 = api_key::PUSH_TELEMETRY;
    const VERSIONS: VersionRange = VersionRange::new(0, 0);
    const FLEXIBLE_FROM: i16 = 0;

    fn encode_body(&self, buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        buf.put_i32(self.throttle_time_ms);
        buf.put_i16(self.error_code);
        buf.put_empty_tagged_fields();
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        let r = Self { throttle_time_ms: d.i32()?, error_code: d.i16()? };
        d.skip_tagged_fields()?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::protocol::strategies::{decode_exact as decode, encode_to_vec as encode};

    #[test]
    fn request_golden_bytes() {
        let req = PushTelemetryRequest {
            client_instance_id: [0xab; 16],
            subscription_id: 7,
            terminating: true,
            compression_type: 4,
            metrics: vec![0x0a, 0x00],
        };
        let mut want = vec![0xab; 16];
        #[rustfmt::skip]
        want.extend_from_slice(&[
            0, 0, 0, 7, // subscription_id
            1,          // terminating
            4,          // compression_type zstd
            3, 0x0a, 0, // metrics: compact 2
            0,          // tagged fields
        ]);
        assert_eq!(encode(&req, 0), want);
        assert_eq!(decode::<PushTelemetryRequest>(&want, 0), req);
        let empty = PushTelemetryRequest::default();
        let mut want = vec![0; 22];
        want.extend_from_slice(&[1, 0]);
        assert_eq!(encode(&empty, 0), want);
        assert_eq!(decode::<PushTelemetryRequest>(&want, 0), empty);
    }

    #[test]
    fn response_golden_bytes() {
        let resp = PushTelemetryResponse { throttle_time_ms: 1000, error_code: 117 };
        let want = [0, 0, 0x03, 0xe8, 0, 117, 0];
        assert_eq!(encode(&resp, 0), want);
        assert_eq!(decode::<PushTelemetryResponse>(&want, 0), resp);
        // An unknown tagged field is skipped.
        assert_eq!(decode::<PushTelemetryResponse>(&[0, 0, 0x03, 0xe8, 0, 117, 1, 9, 1, 0], 0), resp);
    }

    #[test]
    fn hostile_and_truncated_inputs_fail_cleanly() {
        let req = PushTelemetryRequest { metrics: vec![1; 40], ..Default::default() };
        let bytes = encode(&req, 0);
        for cut in 0..bytes.len() {
            assert!(PushTelemetryRequest::decode(&mut Decoder::new(&bytes[..cut]), 0).is_err());
        }
        // A payload length far beyond the bytes that remain.
        let mut huge = vec![0; 22];
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0]);
        assert!(matches!(
            PushTelemetryRequest::decode(&mut Decoder::new(&huge), 0),
            Err(DecodeError::Truncated { .. })
        ));
        // Null metrics: not allowed by the schema.
        let mut null = vec![0; 22];
        null.extend_from_slice(&[0, 0]);
        assert_eq!(
            PushTelemetryRequest::decode(&mut Decoder::new(&null), 0),
            Err(DecodeError::UnexpectedNull("bytes"))
        );
        for cut in 0..6 {
            assert!(PushTelemetryResponse::decode(&mut Decoder::new(&[0; 7][..cut]), 0).is_err());
        }
        assert_eq!(
            PushTelemetryResponse::decode(&mut Decoder::new(&[0; 7]), 1),
            Err(DecodeError::UnsupportedVersion { api_key: 72, version: 1 })
        );
    }
}

/// Proptest strategies producing PushTelemetry bodies.
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use crate::protocol::strategies::bytes;
    use proptest::prelude::*;

    /// Requests valid at `version` (0).
    pub fn request(_version: i16) -> impl Strategy<Value = PushTelemetryRequest> {
        (any::<Uuid>(), any::<i32>(), any::<bool>(), any::<i8>(), bytes()).prop_map(
            |(client_instance_id, subscription_id, terminating, compression_type, metrics)| {
                PushTelemetryRequest {
                    client_instance_id,
                    subscription_id,
                    terminating,
                    compression_type,
                    metrics,
                }
            },
        )
    }

    /// Responses valid at `version` (0).
    pub fn response(_version: i16) -> impl Strategy<Value = PushTelemetryResponse> {
        (any::<i32>(), any::<i16>())
            .prop_map(|(throttle_time_ms, error_code)| PushTelemetryResponse { throttle_time_ms, error_code })
    }
}

#[cfg(test)]
crate::protocol::strategies::message_proptests!(
    PushTelemetryRequest,
    PushTelemetryResponse,
    super::strategies
);
