//! SaslAuthenticate (API key 36): one round of a SASL exchange, after a
//! [SaslHandshake](super::sasl_handshake) v1 chose the mechanism. The client
//! sends the mechanism's next token, the broker answers with its own (empty
//! when the mechanism has nothing to say, as for `PLAIN`).
//!
//! Versions 0-2. What each version changes:
//!
//! | version | request | response |
//! |---|---|---|
//! | 0 | auth bytes | error, error message, auth bytes |
//! | 1 | same as 0 | session lifetime (KIP-368 re-authentication) |
//! | 2 | first flexible version | first flexible version |
//!
//! No version defines a tagged field.
//!
//! # Secrets
//!
//! The auth bytes carry credentials: a `PLAIN` password in clear, SCRAM
//! proofs, OAUTHBEARER tokens, Kerberos tickets. The [`Debug`] output of
//! [`SaslAuthenticateRequest`] and [`SaslAuthenticateResponse`] therefore
//! shows their length only (`auth_bytes: "<13 bytes>"`), so that logging a
//! request or a decoded body (including through
//! [`RequestBody`](super::RequestBody) and
//! [`ResponseBody`](super::ResponseBody)) cannot leak them. The bytes are
//! not wiped from memory on drop.

use std::fmt;

use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{Decoder, Writer};
use crate::protocol::{api_key, Message, Request, VersionRange};

/// The [`Debug`] form of secret bytes: their length, never their contents.
fn redacted(bytes: &[u8]) -> String {
    format!("<{} bytes>", bytes.len())
}

/// The SaslAuthenticate request.
///
/// Its [`Debug`] output shows the length of `auth_bytes`, not the bytes
/// (see [Secrets](self#secrets)).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SaslAuthenticateRequest {
    /// The client's SASL token, as the mechanism defines it (for `PLAIN`:
    /// `authzid NUL authcid NUL password`). Secret.
    pub auth_bytes: Vec<u8>,
}

impl SaslAuthenticateRequest {
    /// A request carrying `auth_bytes`.
    pub fn new(auth_bytes: impl Into<Vec<u8>>) -> Self {
        Self { auth_bytes: auth_bytes.into() }
    }
}

impl fmt::Debug for SaslAuthenticateRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslAuthenticateRequest").field("auth_bytes", &redacted(&self.auth_bytes)).finish()
    }
}

impl Message for SaslAuthenticateRequest {
    const API_KEY: i16 = api_key::SASL_AUTHENTICATE;
    const VERSIONS: VersionRange = VersionRange::new(0, 2);
    const FLEXIBLE_FROM: i16 = 2;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        buf.put_bytes(&self.auth_bytes, flex)?;
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let r = Self { auth_bytes: d.bytes(flex)?.to_vec() };
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(r)
    }
}

impl Request for SaslAuthenticateRequest {
    type Response = SaslAuthenticateResponse;
}

/// The SaslAuthenticate response.
///
/// Its [`Debug`] output shows the length of `auth_bytes`, not the bytes
/// (see [Secrets](self#secrets)).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SaslAuthenticateResponse {
    /// The error code, or 0: `SASL_AUTHENTICATION_FAILED` (58) for bad
    /// credentials, `ILLEGAL_SASL_STATE` (34) for a request out of turn.
    pub error_code: i16,
    /// The error message, or `None` if there was no error. Kafka's brokers
    /// send `Some("")` on success (the schema's default is the empty
    /// string), so treat an empty message like none.
    pub error_message: Option<String>,
    /// The broker's SASL token, as the mechanism defines it (for SCRAM: the
    /// server-first and server-final messages); empty when the mechanism
    /// sends nothing. Secret.
    pub auth_bytes: Vec<u8>,
    /// Milliseconds after which the session expires and the client must
    /// re-authenticate over the same connection (KIP-368), or 0 for none.
    /// Added in v1; the schema marks it ignorable, so encoding at v0 drops
    /// it (like Kafka's own encoder) and decoding at v0 gives 0.
    pub session_lifetime_ms: i64,
}

impl fmt::Debug for SaslAuthenticateResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslAuthenticateResponse")
            .field("error_code", &self.error_code)
            .field("error_message", &self.error_message)
            .field("auth_bytes", &redacted(&self.auth_bytes))
            .field("session_lifetime_ms", &self.session_lifetime_ms)
            .finish()
    }
}

impl Message for SaslAuthenticateResponse {
    const API_KEY: i16 = api_key::SASL_AUTHENTICATE;
    const VERSIONS: VersionRange = VersionRange::new(0, 2);
    const FLEXIBLE_FROM: i16 = 2;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        buf.put_i16(self.error_code);
        buf.put_nullable_string(self.error_message.as_deref(), flex)?;
        buf.put_bytes(&self.auth_bytes, flex)?;
        if version >= 1 {
            buf.put_i64(self.session_lifetime_ms);
        }
        if flex {
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let mut r = Self {
            error_code: d.i16()?,
            error_message: d.nullable_string(flex)?,
            auth_bytes: d.bytes(flex)?.to_vec(),
            session_lifetime_ms: 0,
        };
        if version >= 1 {
            r.session_lifetime_ms = d.i64()?;
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

    use crate::protocol::messages::{RequestBody, ResponseBody};
    use crate::protocol::strategies::{decode_exact as decode, encode_to_vec as encode};

    /// SASL/PLAIN's token for user `alice`, password `secret`.
    const PLAIN: &[u8] = b"\0alice\0secret";

    #[test]
    fn request_golden_bytes() {
        let req = SaslAuthenticateRequest::new(PLAIN);
        #[rustfmt::skip]
        let classic: &[u8] = &[
            0, 0, 0, 13, // auth_bytes: 13
            0, b'a', b'l', b'i', b'c', b'e', 0, b's', b'e', b'c', b'r', b'e', b't',
        ];
        for v in 0..=1 {
            assert_eq!(encode(&req, v), classic, "v{v}");
            assert_eq!(decode::<SaslAuthenticateRequest>(classic, v), req, "v{v}");
        }
        #[rustfmt::skip]
        let flexible: &[u8] = &[
            14, // auth_bytes: compact 13
            0, b'a', b'l', b'i', b'c', b'e', 0, b's', b'e', b'c', b'r', b'e', b't',
            0, // tagged fields
        ];
        assert_eq!(encode(&req, 2), flexible);
        assert_eq!(decode::<SaslAuthenticateRequest>(flexible, 2), req);

        let empty = SaslAuthenticateRequest::default();
        assert_eq!(encode(&empty, 0), [0, 0, 0, 0]);
        assert_eq!(decode::<SaslAuthenticateRequest>(&[0, 0, 0, 0], 1), empty);
        assert_eq!(encode(&empty, 2), [1, 0]);
        assert_eq!(decode::<SaslAuthenticateRequest>(&[1, 0], 2), empty);
        // An unknown tagged field (tag 0, one byte) is skipped.
        assert_eq!(decode::<SaslAuthenticateRequest>(&[1, 1, 0, 1, 0x42], 2), empty);
    }

    #[test]
    fn response_golden_bytes() {
        // A SCRAM server-final message and a one-hour session.
        let ok = SaslAuthenticateResponse {
            error_code: 0,
            error_message: None,
            auth_bytes: b"v=AQID".to_vec(),
            session_lifetime_ms: 3_600_000,
        };
        #[rustfmt::skip]
        let v0: &[u8] = &[
            0, 0,                               // error_code
            0xff, 0xff,                         // error_message: null
            0, 0, 0, 6, b'v', b'=', b'A', b'Q', b'I', b'D', // auth_bytes
        ];
        #[rustfmt::skip]
        let v1: &[u8] = &[
            0, 0,
            0xff, 0xff,
            0, 0, 0, 6, b'v', b'=', b'A', b'Q', b'I', b'D',
            0, 0, 0, 0, 0, 0x36, 0xee, 0x80,    // session_lifetime_ms 3600000
        ];
        #[rustfmt::skip]
        let v2: &[u8] = &[
            0, 0,
            0,                                  // error_message: compact null
            7, b'v', b'=', b'A', b'Q', b'I', b'D', // auth_bytes: compact 6
            0, 0, 0, 0, 0, 0x36, 0xee, 0x80,
            0,                                  // tagged fields
        ];
        assert_eq!(encode(&ok, 1), v1);
        assert_eq!(decode::<SaslAuthenticateResponse>(v1, 1), ok);
        assert_eq!(encode(&ok, 2), v2);
        assert_eq!(decode::<SaslAuthenticateResponse>(v2, 2), ok);
        // v0 has no session lifetime: dropped on encode, 0 on decode.
        assert_eq!(encode(&ok, 0), v0);
        let ok_v0 = SaslAuthenticateResponse { session_lifetime_ms: 0, ..ok.clone() };
        assert_eq!(decode::<SaslAuthenticateResponse>(v0, 0), ok_v0);

        let failed = SaslAuthenticateResponse {
            error_code: 58, // SASL_AUTHENTICATION_FAILED
            error_message: Some("bad password".into()),
            auth_bytes: Vec::new(),
            session_lifetime_ms: 0,
        };
        #[rustfmt::skip]
        let v0: &[u8] = &[
            0, 58,
            0, 12, b'b', b'a', b'd', b' ', b'p', b'a', b's', b's', b'w', b'o', b'r', b'd',
            0, 0, 0, 0,                         // auth_bytes: empty
        ];
        #[rustfmt::skip]
        let v2: &[u8] = &[
            0, 58,
            13, b'b', b'a', b'd', b' ', b'p', b'a', b's', b's', b'w', b'o', b'r', b'd',
            1,                                  // auth_bytes: compact empty
            0, 0, 0, 0, 0, 0, 0, 0,             // session_lifetime_ms 0
            0,
        ];
        assert_eq!(encode(&failed, 0), v0);
        assert_eq!(decode::<SaslAuthenticateResponse>(v0, 0), failed);
        assert_eq!(encode(&failed, 2), v2);
        assert_eq!(decode::<SaslAuthenticateResponse>(v2, 2), failed);
        // What a Kafka broker sends on success: an empty, not a null, message.
        let kafka_ok = SaslAuthenticateResponse { error_message: Some(String::new()), ..Default::default() };
        let want = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(encode(&kafka_ok, 1), want);
        assert_eq!(decode::<SaslAuthenticateResponse>(&want, 1), kafka_ok);
        assert_eq!(encode(&kafka_ok, 2), [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

        // An unknown tagged field is skipped.
        let mut tagged = v2[..v2.len() - 1].to_vec();
        tagged.extend_from_slice(&[1, 5, 2, 0xaa, 0xbb]);
        assert_eq!(decode::<SaslAuthenticateResponse>(&tagged, 2), failed);
    }

    #[test]
    fn headers_follow_flexibility() {
        assert_eq!(SaslAuthenticateRequest::request_header_version(1), 1);
        assert_eq!(SaslAuthenticateRequest::response_header_version(1), 0);
        assert_eq!(SaslAuthenticateRequest::request_header_version(2), 2);
        assert_eq!(SaslAuthenticateRequest::response_header_version(2), 1);
    }

    #[test]
    fn debug_does_not_show_auth_bytes() {
        let password = "hunter2-s3cret";
        let token = format!("\0alice\0{password}").into_bytes();
        let req = SaslAuthenticateRequest::new(token.clone());
        let resp = SaslAuthenticateResponse {
            error_code: 0,
            error_message: None,
            auth_bytes: token.clone(),
            session_lifetime_ms: 5,
        };
        assert_eq!(format!("{req:?}"), r#"SaslAuthenticateRequest { auth_bytes: "<21 bytes>" }"#);
        assert_eq!(
            format!("{resp:?}"),
            r#"SaslAuthenticateResponse { error_code: 0, error_message: None, auth_bytes: "<21 bytes>", session_lifetime_ms: 5 }"#
        );
        // Neither as text nor as the numbers a derived Debug would print, in
        // any form, nor through the dispatching enums.
        let as_numbers = format!("{:?}", &token[7..11]); // "[104, 117, 110, 116]"
        let as_numbers = &as_numbers[1..as_numbers.len() - 1];
        for text in [
            format!("{req:?}"),
            format!("{req:#?}"),
            format!("{resp:?}"),
            format!("{resp:#?}"),
            format!("{:?}", RequestBody::SaslAuthenticate(req.clone())),
            format!("{:#?}", ResponseBody::SaslAuthenticate(resp.clone())),
        ] {
            assert!(!text.contains(password) && !text.contains("hunter"), "{text}");
            assert!(!text.contains(as_numbers) && !text.contains("104"), "{text}");
            assert!(text.contains("<21 bytes>"), "{text}");
        }
    }

    #[test]
    fn hostile_and_truncated_inputs_fail_cleanly() {
        // A length of i32::MAX (classic) or u32::MAX - 1 (compact) in a few
        // bytes: refused before allocating.
        assert!(matches!(
            SaslAuthenticateRequest::decode(&mut Decoder::new(&[0x7f, 0xff, 0xff, 0xff, 1, 2]), 0),
            Err(DecodeError::Truncated { needed: 0x7fff_ffff, remaining: 2 })
        ));
        assert!(matches!(
            SaslAuthenticateRequest::decode(&mut Decoder::new(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0]), 2),
            Err(DecodeError::Truncated { remaining: 1, .. })
        ));
        assert!(matches!(
            SaslAuthenticateResponse::decode(
                &mut Decoder::new(&[0, 0, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff]),
                1
            ),
            Err(DecodeError::Truncated { needed: 0x7fff_ffff, remaining: 0 })
        ));
        // A varint that never ends.
        assert_eq!(
            SaslAuthenticateRequest::decode(&mut Decoder::new(&[0xff; 6]), 2),
            Err(DecodeError::VarintOverflow)
        );
        // Null auth bytes: not allowed by the schema.
        assert_eq!(
            SaslAuthenticateRequest::decode(&mut Decoder::new(&[0xff, 0xff, 0xff, 0xff]), 1),
            Err(DecodeError::UnexpectedNull("bytes"))
        );
        assert_eq!(
            SaslAuthenticateRequest::decode(&mut Decoder::new(&[0, 0]), 2),
            Err(DecodeError::UnexpectedNull("bytes"))
        );
        assert_eq!(
            SaslAuthenticateResponse::decode(&mut Decoder::new(&[0, 0, 0, 0]), 2),
            Err(DecodeError::UnexpectedNull("bytes"))
        );
        // Negative lengths other than -1, an error message that is not UTF-8.
        assert_eq!(
            SaslAuthenticateRequest::decode(&mut Decoder::new(&[0xff, 0xff, 0xff, 0xfe]), 0),
            Err(DecodeError::NegativeLength(-2))
        );
        assert_eq!(
            SaslAuthenticateResponse::decode(&mut Decoder::new(&[0, 0, 0x80, 0x00, 0, 0, 0, 0]), 0),
            Err(DecodeError::NegativeLength(-32768))
        );
        assert_eq!(
            SaslAuthenticateResponse::decode(&mut Decoder::new(&[0, 0, 2, 0xc3, 1, 0]), 2),
            Err(DecodeError::InvalidUtf8)
        );
        // Every prefix of real encodings.
        let req = SaslAuthenticateRequest::new(PLAIN);
        let resp = SaslAuthenticateResponse {
            error_code: 58,
            error_message: Some("no".into()),
            auth_bytes: b"r=nonce".to_vec(),
            session_lifetime_ms: 1,
        };
        for v in 0..=2 {
            let (req_bytes, resp_bytes) = (encode(&req, v), encode(&resp, v));
            for cut in 0..req_bytes.len() {
                assert!(SaslAuthenticateRequest::decode(&mut Decoder::new(&req_bytes[..cut]), v).is_err());
            }
            for cut in 0..resp_bytes.len() {
                assert!(SaslAuthenticateResponse::decode(&mut Decoder::new(&resp_bytes[..cut]), v).is_err());
            }
        }
        // Versions outside 0-2.
        assert_eq!(
            SaslAuthenticateResponse::decode(&mut Decoder::new(&[0; 16]), 3),
            Err(DecodeError::UnsupportedVersion { api_key: 36, version: 3 })
        );
        assert_eq!(
            req.encode(&mut Vec::new(), 3),
            Err(EncodeError::UnsupportedVersion { api_key: 36, version: 3 })
        );
    }
}

/// Proptest strategies producing SaslAuthenticate bodies that are valid at a
/// given version (fields the version cannot carry hold their defaults).
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use crate::protocol::strategies::{bytes, nullable_string};
    use proptest::prelude::*;

    /// Requests valid at `version` (every version carries every field).
    pub fn request(_version: i16) -> impl Strategy<Value = SaslAuthenticateRequest> {
        bytes().prop_map(|auth_bytes| SaslAuthenticateRequest { auth_bytes })
    }

    /// Responses valid at `version`: `session_lifetime_ms` is 0 below v1.
    pub fn response(version: i16) -> impl Strategy<Value = SaslAuthenticateResponse> {
        (any::<i16>(), nullable_string(), bytes(), any::<i64>()).prop_map(
            move |(error_code, error_message, auth_bytes, lifetime)| SaslAuthenticateResponse {
                error_code,
                error_message,
                auth_bytes,
                session_lifetime_ms: if version >= 1 { lifetime } else { 0 },
            },
        )
    }
}

#[cfg(test)]
crate::protocol::strategies::message_proptests!(
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    super::strategies
);
