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
use kafka_protocol::protocol::{Decodable, Encodable, Message as TheirMessage, StrBytes};
use kafka_sync::protocol::messages::sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use kafka_sync::protocol::messages::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_sync::protocol::{strategies, Decoder, Message};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Cases per version and direction.
const CASES: u32 = 256;

/// Runs `check` on `CASES` values of `strategy(v)` for every version `v` in `versions`.
fn for_each_version<S: Strategy>(
    versions: std::ops::RangeInclusive<i16>,
    strategy: impl Fn(i16) -> S,
    check: impl Fn(i16, S::Value) -> Result<(), TestCaseError>,
) {
    for v in versions {
        let mut runner =
            TestRunner::new(Config { cases: CASES, failure_persistence: None, ..Config::default() });
        if let Err(e) = runner.run(&strategy(v), |value| check(v, value)) {
            panic!("version {v}: {e}");
        }
    }
}

/// The versions both implementations support for our `O` and their `T`
/// (the same API in the same direction).
fn versions<O: Message, T: TheirMessage>() -> std::ops::RangeInclusive<i16> {
    let (ours, theirs) = (O::VERSIONS, T::VERSIONS);
    let (min, max) = (ours.min.max(theirs.min), ours.max.min(theirs.max));
    assert!(min <= max, "no common version");
    min..=max
}

fn ours_encode<M: Message>(m: &M, v: i16) -> Vec<u8> {
    let mut buf = Vec::new();
    m.encode(&mut buf, v).expect("our encoder");
    buf
}

fn ours_decode<M: Message>(bytes: &[u8], v: i16) -> Result<M, TestCaseError> {
    let mut d = Decoder::new(bytes);
    let m = M::decode(&mut d, v).map_err(|e| TestCaseError::fail(format!("our decoder: {e}")))?;
    d.finish().map_err(|e| TestCaseError::fail(format!("our decoder: {e}")))?;
    Ok(m)
}

fn theirs_decode<T: Decodable>(bytes: &[u8], v: i16) -> Result<T, TestCaseError> {
    let mut rest = bytes;
    let t = T::decode(&mut rest, v).map_err(|e| TestCaseError::fail(format!("their decoder: {e}")))?;
    prop_assert!(rest.is_empty(), "their decoder left {} bytes", rest.len());
    Ok(t)
}

fn theirs_encode<T: Encodable>(t: &T, v: i16) -> Result<Vec<u8>, TestCaseError> {
    let mut buf = Vec::new();
    t.encode(&mut buf, v).map_err(|e| TestCaseError::fail(format!("their encoder: {e}")))?;
    Ok(buf)
}

/// Both ways for one message type: ours → theirs (decoded fields match), and
/// theirs (built from ours) → same bytes → ours (equal value).
fn cross_check<O, T, S>(
    strategy: impl Fn(i16) -> S,
    to_theirs: impl Fn(&O) -> T,
    same: impl Fn(&O, &T) -> Result<(), TestCaseError>,
) where
    O: Message,
    T: Decodable + Encodable + TheirMessage,
    S: Strategy<Value = O>,
{
    for_each_version(versions::<O, T>(), &strategy, |v, ours| {
        let theirs: T = theirs_decode(&ours_encode(&ours, v), v)?;
        same(&ours, &theirs)
    });
    for_each_version(versions::<O, T>(), &strategy, |v, ours| {
        let theirs = to_theirs(&ours);
        let bytes = theirs_encode(&theirs, v)?;
        prop_assert_eq!(&bytes, &ours_encode(&ours, v), "same bytes");
        let back: O = ours_decode(&bytes, v)?;
        prop_assert_eq!(&back, &ours);
        same(&back, &theirs)
    });
}

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
