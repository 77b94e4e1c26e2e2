//! GetTelemetrySubscriptions (API key 71, KIP-714): the client asks a broker
//! which of its metrics it should push, how often, and in what form.
//!
//! Version 0 only, flexible. The first request carries the nil client
//! instance id; the broker assigns one in its response, and the client uses
//! it in every later GetTelemetrySubscriptions and
//! [PushTelemetry](super::push_telemetry) request. No field is tagged.

use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{Decoder, Uuid, Writer};
use crate::protocol::{api_key, Message, Request, VersionRange};

/// The nil client instance id: "assign me one".
pub const NIL_CLIENT_INSTANCE_ID: Uuid = [0; 16];

/// The GetTelemetrySubscriptions request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetTelemetrySubscriptionsRequest {
    /// The id the broker assigned to this client instance, or
    /// [`NIL_CLIENT_INSTANCE_ID`] to ask for one.
    pub client_instance_id: Uuid,
}

impl Message for GetTelemetrySubscriptionsRequest {
    const API_KEY: i16 = api_key::GET_TELEMETRY_SUBSCRIPTIONS;
    const VERSIONS: VersionRange = VersionRange::new(0, 0);
    const FLEXIBLE_FROM: i16 = 0;

    fn encode_body(&self, buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        buf.put_uuid(&self.client_instance_id);
        buf.put_empty_tagged_fields();
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        let r = Self { client_instance_id: d.uuid()? };
        d.skip_tagged_fields()?;
        Ok(r)
    }
}

impl Request for GetTelemetrySubscriptionsRequest {
    type Response = GetTelemetrySubscriptionsResponse;
}

/// The GetTelemetrySubscriptions response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetTelemetrySubscriptionsResponse {
    /// Milliseconds the request was throttled for (quota), or 0.
    pub throttle_time_ms: i32,
    /// The error code, or 0.
    pub error_code: i16,
    /// The id assigned to the client if it sent the nil id, else the nil id.
    pub client_instance_id: Uuid,
    /// The id of the current subscription set; PushTelemetry names it.
    pub subscription_id: i32,
    /// Compression types (record batch codes: 1 gzip, 2 snappy, 3 lz4,
    /// 4 zstd) the broker accepts for the pushed metrics, in order of
    /// preference. Uncompressed is always accepted.
    pub accepted_compression_types: Vec<i8>,
    /// Milliseconds between pushes.
    pub push_interval_ms: i32,
    /// The largest metrics payload, in bytes, the broker accepts.
    pub telemetry_max_bytes: i32,
    /// Whether counters are pushed as deltas (`true`) or cumulative values.
    pub delta_temporality: bool,
    /// Prefixes of the metric names to push: an empty list means none, a
    /// list holding the empty string (or `*`) means all.
    pub requested_metrics: Vec<String>,
}

impl Message for GetTelemetrySubscriptionsResponse {
    const API_KEY: i16 = api_key::GET_TELEMETRY_SUBSCRIPTIONS;
    const VERSIONS: VersionRange = VersionRange::new(0, 0);
    const FLEXIBLE_FROM: i16 = 0;

    fn encode_body(&self, buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        buf.put_i32(self.throttle_time_ms);
        buf.put_i16(self.error_code);
        buf.put_uuid(&self.client_instance_id);
        buf.put_i32(self.subscription_id);
        buf.put_array_len(self.accepted_compression_types.len(), true)?;
        for &c in &self.accepted_compression_types {
            buf.put_i8(c);
        }
        buf.put_i32(self.push_interval_ms);
        buf.put_i32(self.telemetry_max_bytes);
        buf.put_bool(self.delta_temporality);
        buf.put_array_len(self.requested_metrics.len(), true)?;
        for m in &self.requested_metrics {
            buf.put_string(m, true)?;
        }
        buf.put_empty_tagged_fields();
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        let r = Self {
            throttle_time_ms: d.i32()?,
            error_code: d.i16()?,
            client_instance_id: d.uuid()?,
            subscription_id: d.i32()?,
            accepted_compression_types: d.array_of(true, 1, Decoder::i8)?,
            push_interval_ms: d.i32()?,
            telemetry_max_bytes: d.i32()?,
            delta_temporality: d.bool()?,
            requested_metrics: d.array_of(true, 1, |d| d.string(true))?,
        };
        d.skip_tagged_fields()?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::protocol::strategies::{decode_exact as decode, encode_to_vec as encode};

    const ID: Uuid = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

    #[test]
    fn request_golden_bytes() {
        let req = GetTelemetrySubscriptionsRequest { client_instance_id: ID };
        let want = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0];
        assert_eq!(encode(&req, 0), want);
        assert_eq!(decode::<GetTelemetrySubscriptionsRequest>(&want, 0), req);
        let nil = GetTelemetrySubscriptionsRequest::default();
        assert_eq!(encode(&nil, 0), [0; 17]);
        // An unknown tagged field (tag 3, two bytes) is skipped.
        let mut tagged = [0u8; 16].to_vec();
        tagged.extend_from_slice(&[1, 3, 2, 0xaa, 0xbb]);
        assert_eq!(decode::<GetTelemetrySubscriptionsRequest>(&tagged, 0), nil);
    }

    #[test]
    fn response_golden_bytes() {
        let resp = GetTelemetrySubscriptionsResponse {
            throttle_time_ms: 5,
            error_code: 0,
            client_instance_id: ID,
            subscription_id: -2,
            accepted_compression_types: vec![4, 1],
            push_interval_ms: 30_000,
            telemetry_max_bytes: 1 << 20,
            delta_temporality: true,
            requested_metrics: vec!["org.apache.kafka.producer.".into(), String::new()],
        };
        let mut want = vec![
            0, 0, 0, 5, // throttle_time_ms
            0, 0, // error_code
        ];
        want.extend_from_slice(&ID);
        #[rustfmt::skip]
        want.extend_from_slice(&[
            0xff, 0xff, 0xff, 0xfe, // subscription_id -2
            3, 4, 1,                // accepted_compression_types: compact 2
            0, 0, 0x75, 0x30,       // push_interval_ms 30000
            0, 0x10, 0, 0,          // telemetry_max_bytes 1 MiB
            1,                      // delta_temporality
            3,                      // requested_metrics: compact 2
            27,                     // compact string 26
        ]);
        want.extend_from_slice(b"org.apache.kafka.producer.");
        want.extend_from_slice(&[1, 0]); // "" and the tagged fields
        assert_eq!(encode(&resp, 0), want);
        assert_eq!(decode::<GetTelemetrySubscriptionsResponse>(&want, 0), resp);

        let empty = GetTelemetrySubscriptionsResponse::default();
        let mut want = vec![0; 6 + 16 + 4];
        want.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(encode(&empty, 0), want);
        assert_eq!(decode::<GetTelemetrySubscriptionsResponse>(&want, 0), empty);
    }

    #[test]
    fn hostile_and_truncated_inputs_fail_cleanly() {
        let resp = GetTelemetrySubscriptionsResponse {
            accepted_compression_types: vec![1, 2, 3],
            requested_metrics: vec!["a".into(), "bc".into()],
            ..Default::default()
        };
        let bytes = encode(&resp, 0);
        for cut in 0..bytes.len() {
            assert!(GetTelemetrySubscriptionsResponse::decode(&mut Decoder::new(&bytes[..cut]), 0).is_err());
        }
        for cut in 0..16 {
            assert!(GetTelemetrySubscriptionsRequest::decode(&mut Decoder::new(&[0; 17][..cut]), 0).is_err());
        }
        // A huge array count in a few bytes: refused before allocating.
        let mut huge = vec![0; 26];
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]);
        assert!(matches!(
            GetTelemetrySubscriptionsResponse::decode(&mut Decoder::new(&huge), 0),
            Err(DecodeError::CountTooLarge { .. })
        ));
        // A null array: not allowed by the schema.
        let mut null = vec![0; 26];
        null.push(0);
        assert_eq!(
            GetTelemetrySubscriptionsResponse::decode(&mut Decoder::new(&null), 0),
            Err(DecodeError::UnexpectedNull("array"))
        );
        assert_eq!(
            GetTelemetrySubscriptionsResponse::decode(&mut Decoder::new(&bytes), 1),
            Err(DecodeError::UnsupportedVersion { api_key: 71, version: 1 })
        );
        assert_eq!(
            GetTelemetrySubscriptionsRequest::default().encode(&mut Vec::new(), 1),
            Err(EncodeError::UnsupportedVersion { api_key: 71, version: 1 })
        );
    }

    #[test]
    fn headers_are_flexible() {
        assert_eq!(GetTelemetrySubscriptionsRequest::request_header_version(0), 2);
        assert_eq!(GetTelemetrySubscriptionsRequest::response_header_version(0), 1);
    }
}

/// Proptest strategies producing GetTelemetrySubscriptions bodies.
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use crate::protocol::strategies::{compact_string, small_vec};
    use proptest::prelude::*;

    /// Requests valid at `version` (0).
    pub fn request(_version: i16) -> impl Strategy<Value = GetTelemetrySubscriptionsRequest> {
        any::<Uuid>().prop_map(|client_instance_id| GetTelemetrySubscriptionsRequest { client_instance_id })
    }

    /// Responses valid at `version` (0).
    pub fn response(_version: i16) -> impl Strategy<Value = GetTelemetrySubscriptionsResponse> {
        (
            (any::<i32>(), any::<i16>(), any::<Uuid>(), any::<i32>()),
            small_vec(any::<i8>()),
            (any::<i32>(), any::<i32>(), any::<bool>()),
            small_vec(compact_string()),
        )
            .prop_map(
                |(
                    (throttle_time_ms, error_code, client_instance_id, subscription_id),
                    accepted_compression_types,
                    (push_interval_ms, telemetry_max_bytes, delta_temporality),
                    requested_metrics,
                )| GetTelemetrySubscriptionsResponse {
                    throttle_time_ms,
                    error_code,
                    client_instance_id,
                    subscription_id,
                    accepted_compression_types,
                    push_interval_ms,
                    telemetry_max_bytes,
                    delta_temporality,
                    requested_metrics,
                },
            )
    }
}

#[cfg(test)]
crate::protocol::strategies::message_proptests!(
    GetTelemetrySubscriptionsRequest,
    GetTelemetrySubscriptionsResponse,
    super::strategies
);
