//! SaslHandshake (API key 17): the client names the SASL mechanism it wants,
//! the broker answers with the mechanisms its listener has enabled.
//!
//! Versions 0-1, neither flexible (Kafka's schema says this API's version
//! "cannot be easily bumped", KAFKA-9577), so both use request header v1 and
//! response header v0. What each version changes:
//!
//! | version | request | response |
//! |---|---|---|
//! | 0 | mechanism | error, enabled mechanisms |
//! | 1 | same as 0 | same as 0 |
//!
//! The two versions are identical on the wire; they differ in what follows
//! the handshake. After v0 (deprecated in Kafka's schema) the client sends
//! the mechanism's tokens as bare size-prefixed frames, outside the Kafka
//! protocol; after v1 it wraps each token in a
//! [SaslAuthenticate](super::sasl_authenticate) request. The broker answers
//! `UNSUPPORTED_SASL_MECHANISM` (33) with its enabled mechanisms if it does
//! not have the requested one, and `ILLEGAL_SASL_STATE` (34) on a listener or
//! at a point where no handshake is expected.

use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{Decoder, Writer};
use crate::protocol::{api_key, Message, Request, VersionRange};

/// The SaslHandshake request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaslHandshakeRequest {
    /// The SASL mechanism the client chose, e.g. `PLAIN`, `SCRAM-SHA-256`,
    /// `SCRAM-SHA-512`, `OAUTHBEARER` or `GSSAPI`.
    pub mechanism: String,
}

impl SaslHandshakeRequest {
    /// A request for `mechanism`.
    pub fn new(mechanism: impl Into<String>) -> Self {
        Self { mechanism: mechanism.into() }
    }
}

impl Message for SaslHandshakeRequest {
    const API_KEY: i16 = api_key::SASL_HANDSHAKE;
    const VERSIONS: VersionRange = VersionRange::new(0, 1);
    const FLEXIBLE_FROM: i16 = i16::MAX;

    fn encode_body(&self, buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        buf.put_string(&self.mechanism, false)
    }

    fn decode_body(d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        Ok(Self { mechanism: d.string(false)? })
    }
}

impl Request for SaslHandshakeRequest {
    type Response = SaslHandshakeResponse;
}

/// The SaslHandshake response. Every field is present in every version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaslHandshakeResponse {
    /// The error code, or 0: `UNSUPPORTED_SASL_MECHANISM` (33) if the
    /// requested mechanism is not enabled, `ILLEGAL_SASL_STATE` (34) if no
    /// handshake was expected.
    pub error_code: i16,
    /// The mechanisms enabled on the broker's listener.
    pub mechanisms: Vec<String>,
}

impl Message for SaslHandshakeResponse {
    const API_KEY: i16 = api_key::SASL_HANDSHAKE;
    const VERSIONS: VersionRange = VersionRange::new(0, 1);
    const FLEXIBLE_FROM: i16 = i16::MAX;

    fn encode_body(&self, buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        buf.put_i16(self.error_code);
        buf.put_array_len(self.mechanisms.len(), false)?;
        for m in &self.mechanisms {
            buf.put_string(m, false)?;
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        let error_code = d.i16()?;
        // Each mechanism is at least its 2-byte length.
        let mechanisms = d.array_of(false, 2, |d| d.string(false))?;
        Ok(Self { error_code, mechanisms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::protocol::strategies::{decode_exact as decode, encode_to_vec as encode};

    #[test]
    fn request_golden_bytes() {
        let req = SaslHandshakeRequest::new("PLAIN");
        let want = [0, 5, b'P', b'L', b'A', b'I', b'N'];
        for v in 0..=1 {
            assert_eq!(encode(&req, v), want, "v{v}");
            assert_eq!(decode::<SaslHandshakeRequest>(&want, v), req, "v{v}");
        }
        let empty = [0, 0];
        assert_eq!(encode(&SaslHandshakeRequest::default(), 1), empty);
        assert_eq!(decode::<SaslHandshakeRequest>(&empty, 0), SaslHandshakeRequest::default());
    }

    #[test]
    fn response_golden_bytes() {
        let resp = SaslHandshakeResponse {
            error_code: 33, // UNSUPPORTED_SASL_MECHANISM
            mechanisms: vec!["PLAIN".into(), "SCRAM-SHA-256".into()],
        };
        #[rustfmt::skip]
        let want: &[u8] = &[
            0, 33,                                  // error_code
            0, 0, 0, 2,                             // mechanisms: 2
            0, 5, b'P', b'L', b'A', b'I', b'N',
            0, 13, b'S', b'C', b'R', b'A', b'M', b'-', b'S', b'H', b'A', b'-', b'2', b'5', b'6',
        ];
        for v in 0..=1 {
            assert_eq!(encode(&resp, v), want, "v{v}");
            assert_eq!(decode::<SaslHandshakeResponse>(want, v), resp, "v{v}");
        }
        let none = [0, 0, 0, 0, 0, 0];
        assert_eq!(encode(&SaslHandshakeResponse::default(), 0), none);
        assert_eq!(decode::<SaslHandshakeResponse>(&none, 1), SaslHandshakeResponse::default());
    }

    #[test]
    fn headers_are_v1_and_v0() {
        for v in 0..=1 {
            assert_eq!(SaslHandshakeRequest::request_header_version(v), 1);
            assert_eq!(SaslHandshakeRequest::response_header_version(v), 0);
        }
    }

    #[test]
    fn negotiated_like_any_other_api() {
        use crate::protocol::messages::api_versions::{ApiVersion, ApiVersionsResponse, NegotiatedVersions};
        use crate::protocol::messages::sasl_authenticate::SaslAuthenticateRequest;
        // What Kafka 3.x advertises, and a broker without SaslAuthenticate.
        let broker = ApiVersionsResponse {
            api_keys: vec![
                ApiVersion { api_key: 17, min_version: 0, max_version: 1 },
                ApiVersion { api_key: 36, min_version: 0, max_version: 2 },
            ],
            ..Default::default()
        };
        let v = NegotiatedVersions::new(&broker);
        assert_eq!(v.version_of::<SaslHandshakeRequest>(), Some(1));
        assert_eq!(v.version_of::<SaslAuthenticateRequest>(), Some(2));
        let old = ApiVersionsResponse { api_keys: broker.api_keys[..1].to_vec(), ..Default::default() };
        assert_eq!(NegotiatedVersions::new(&old).version_of::<SaslAuthenticateRequest>(), None);
    }

    #[test]
    fn hostile_and_truncated_inputs_fail_cleanly() {
        // i32::MAX mechanisms in 4 bytes: refused before allocating.
        let b = [0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 1, b'x', 0];
        assert!(matches!(
            SaslHandshakeResponse::decode(&mut Decoder::new(&b), 1),
            Err(DecodeError::CountTooLarge { count: 0x7fff_ffff, .. })
        ));
        // A null mechanism list, a null mechanism, a null request mechanism.
        let b = [0, 0, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            SaslHandshakeResponse::decode(&mut Decoder::new(&b), 0),
            Err(DecodeError::UnexpectedNull("array"))
        );
        let b = [0, 0, 0, 0, 0, 1, 0xff, 0xff];
        assert_eq!(
            SaslHandshakeResponse::decode(&mut Decoder::new(&b), 0),
            Err(DecodeError::UnexpectedNull("string"))
        );
        assert_eq!(
            SaslHandshakeRequest::decode(&mut Decoder::new(&[0xff, 0xff]), 1),
            Err(DecodeError::UnexpectedNull("string"))
        );
        // A string length of -2, a length past the input, bad UTF-8.
        assert_eq!(
            SaslHandshakeRequest::decode(&mut Decoder::new(&[0xff, 0xfe]), 0),
            Err(DecodeError::NegativeLength(-2))
        );
        assert!(matches!(
            SaslHandshakeRequest::decode(&mut Decoder::new(&[0x7f, 0xff, b'a']), 0),
            Err(DecodeError::Truncated { needed: 0x7fff, remaining: 1 })
        ));
        assert_eq!(
            SaslHandshakeRequest::decode(&mut Decoder::new(&[0, 1, 0xff]), 0),
            Err(DecodeError::InvalidUtf8)
        );
        // Every prefix of real encodings.
        let req = SaslHandshakeRequest::new("SCRAM-SHA-512");
        let resp = SaslHandshakeResponse { error_code: 0, mechanisms: vec!["PLAIN".into(), "GSSAPI".into()] };
        for v in 0..=1 {
            let (req_bytes, resp_bytes) = (encode(&req, v), encode(&resp, v));
            for cut in 0..req_bytes.len() {
                assert!(SaslHandshakeRequest::decode(&mut Decoder::new(&req_bytes[..cut]), v).is_err());
            }
            for cut in 0..resp_bytes.len() {
                assert!(SaslHandshakeResponse::decode(&mut Decoder::new(&resp_bytes[..cut]), v).is_err());
            }
        }
        // Versions outside 0-1.
        assert_eq!(
            SaslHandshakeRequest::decode(&mut Decoder::new(&[0, 0]), 2),
            Err(DecodeError::UnsupportedVersion { api_key: 17, version: 2 })
        );
        assert_eq!(
            req.encode(&mut Vec::new(), -1),
            Err(EncodeError::UnsupportedVersion { api_key: 17, version: -1 })
        );
    }
}

/// Proptest strategies producing SaslHandshake bodies that are valid at a
/// given version (both versions carry every field).
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use crate::protocol::strategies::{compact_string, small_vec};
    use proptest::prelude::*;

    /// Requests valid at `version`: any mechanism name.
    pub fn request(_version: i16) -> impl Strategy<Value = SaslHandshakeRequest> {
        compact_string().prop_map(|mechanism| SaslHandshakeRequest { mechanism })
    }

    /// Responses valid at `version`.
    pub fn response(_version: i16) -> impl Strategy<Value = SaslHandshakeResponse> {
        (any::<i16>(), small_vec(compact_string()))
            .prop_map(|(error_code, mechanisms)| SaslHandshakeResponse { error_code, mechanisms })
    }
}

#[cfg(test)]
crate::protocol::strategies::message_proptests!(
    SaslHandshakeRequest,
    SaslHandshakeResponse,
    super::strategies
);
