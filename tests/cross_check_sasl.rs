//! Cross-checks our SaslHandshake and SaslAuthenticate codecs against an
//! independent implementation, the `kafka-protocol` crate, at every version
//! both implement (SaslHandshake 0-1, SaslAuthenticate 0-2).
//!
//! For values from our proptest strategies, in both directions:
//! - ours encodes, theirs decodes, and every field must match;
//! - their struct is built from ours, theirs encodes, the bytes must equal
//!   ours, and ours decodes them back to the original value.

use bytes::Bytes;
use kafka_protocol::messages::{
    SaslAuthenticateRequest as TheirAuthenticateRequest,
    SaslAuthenticateResponse as TheirAuthenticateResponse, SaslHandshakeRequest as TheirHandshakeRequest,
    SaslHandshakeResponse as TheirHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_sync::protocol::messages::sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use kafka_sync::protocol::messages::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_sync::protocol::strategies;
use proptest::prelude::*;

mod kp_util;

use kp_util::prop::*;

// ---- SaslHandshake ------------------------------------------------------

#[test]
fn handshake_request() {
    assert_eq!(versions::<SaslHandshakeRequest, TheirHandshakeRequest>(), 0..=1);
    cross_check(
        strategies::sasl_handshake::request,
        |ours: &SaslHandshakeRequest| {
            TheirHandshakeRequest::default().with_mechanism(StrBytes::from_string(ours.mechanism.clone()))
        },
        |ours, theirs: &TheirHandshakeRequest| {
            prop_assert_eq!(ours.mechanism.as_str(), theirs.mechanism.as_str());
            Ok(())
        },
    );
}

#[test]
fn handshake_response() {
    assert_eq!(versions::<SaslHandshakeResponse, TheirHandshakeResponse>(), 0..=1);
    cross_check(
        strategies::sasl_handshake::response,
        |ours: &SaslHandshakeResponse| {
            TheirHandshakeResponse::default()
                .with_error_code(ours.error_code)
                .with_mechanisms(ours.mechanisms.iter().cloned().map(StrBytes::from_string).collect())
        },
        |ours, theirs: &TheirHandshakeResponse| {
            prop_assert_eq!(ours.error_code, theirs.error_code);
            let theirs_mechanisms: Vec<&str> = theirs.mechanisms.iter().map(|m| m.as_str()).collect();
            prop_assert_eq!(&ours.mechanisms, &theirs_mechanisms);
            Ok(())
        },
    );
}

// ---- SaslAuthenticate ---------------------------------------------------

#[test]
fn authenticate_request() {
    assert_eq!(versions::<SaslAuthenticateRequest, TheirAuthenticateRequest>(), 0..=2);
    cross_check(
        strategies::sasl_authenticate::request,
        |ours: &SaslAuthenticateRequest| {
            TheirAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(&ours.auth_bytes))
        },
        |ours, theirs: &TheirAuthenticateRequest| {
            prop_assert_eq!(&ours.auth_bytes[..], &theirs.auth_bytes[..]);
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}

#[test]
fn authenticate_response() {
    assert_eq!(versions::<SaslAuthenticateResponse, TheirAuthenticateResponse>(), 0..=2);
    cross_check(
        strategies::sasl_authenticate::response,
        |ours: &SaslAuthenticateResponse| {
            TheirAuthenticateResponse::default()
                .with_error_code(ours.error_code)
                .with_error_message(ours.error_message.clone().map(StrBytes::from_string))
                .with_auth_bytes(Bytes::copy_from_slice(&ours.auth_bytes))
                .with_session_lifetime_ms(ours.session_lifetime_ms)
        },
        |ours, theirs: &TheirAuthenticateResponse| {
            prop_assert_eq!(ours.error_code, theirs.error_code);
            prop_assert_eq!(ours.error_message.as_deref(), theirs.error_message.as_ref().map(|m| m.as_str()));
            prop_assert_eq!(&ours.auth_bytes[..], &theirs.auth_bytes[..]);
            prop_assert_eq!(ours.session_lifetime_ms, theirs.session_lifetime_ms);
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}

/// Both encoders drop the session lifetime at v0, where the schema has no
/// such field and marks it ignorable, and write it from v1.
#[test]
fn session_lifetime_is_ignorable_below_v1() {
    let ours = SaslAuthenticateResponse { session_lifetime_ms: 42, ..Default::default() };
    // Their default error message is Some(""), Kafka's default; ours is None.
    let theirs = TheirAuthenticateResponse::default().with_error_message(None).with_session_lifetime_ms(42);
    for v in 0..=2 {
        let (a, b) = (ours_encode(&ours, v), theirs_encode(&theirs, v).unwrap());
        assert_eq!(a, b, "v{v}");
        let back: TheirAuthenticateResponse = theirs_decode(&a, v).unwrap();
        assert_eq!(back.session_lifetime_ms, if v == 0 { 0 } else { 42 }, "v{v}");
    }
}
