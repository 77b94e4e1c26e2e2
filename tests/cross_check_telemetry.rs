//! Cross-checks our GetTelemetrySubscriptions and PushTelemetry codecs
//! (KIP-714) against an independent implementation, the `kafka-protocol`
//! crate, at every version both implement (v0 for both).
//!
//! For values from our proptest strategies, in both directions:
//! - ours encodes, theirs decodes, and every field must match;
//! - their struct is built from ours, theirs encodes, the bytes must equal
//!   ours, and ours decodes them back to the original value.

use bytes::Bytes;
use kafka_protocol::messages::{
    GetTelemetrySubscriptionsRequest as TheirGetRequest,
    GetTelemetrySubscriptionsResponse as TheirGetResponse, PushTelemetryRequest as TheirPushRequest,
    PushTelemetryResponse as TheirPushResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, Message as TheirMessage, StrBytes};
use kafka_sync::protocol::messages::get_telemetry_subscriptions::{
    GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse,
};
use kafka_sync::protocol::messages::push_telemetry::{PushTelemetryRequest, PushTelemetryResponse};
use kafka_sync::protocol::{strategies, Decoder, Message};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use uuid::Uuid;
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

// ---- GetTelemetrySubscriptions ------------------------------------------

#[test]
fn get_telemetry_subscriptions_request() {
    assert_eq!(versions::<GetTelemetrySubscriptionsRequest, TheirGetRequest>(), 0..=0);
    cross_check(
        strategies::get_telemetry_subscriptions::request,
        |ours: &GetTelemetrySubscriptionsRequest| {
            TheirGetRequest::default().with_client_instance_id(Uuid::from_bytes(ours.client_instance_id))
        },
        |ours, theirs: &TheirGetRequest| {
            prop_assert_eq!(&ours.client_instance_id, theirs.client_instance_id.as_bytes());
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}

#[test]
fn get_telemetry_subscriptions_response() {
    assert_eq!(versions::<GetTelemetrySubscriptionsResponse, TheirGetResponse>(), 0..=0);
    cross_check(
        strategies::get_telemetry_subscriptions::response,
        |ours: &GetTelemetrySubscriptionsResponse| {
            TheirGetResponse::default()
                .with_throttle_time_ms(ours.throttle_time_ms)
                .with_error_code(ours.error_code)
                .with_client_instance_id(Uuid::from_bytes(ours.client_instance_id))
                .with_subscription_id(ours.subscription_id)
                .with_accepted_compression_types(ours.accepted_compression_types.clone())
                .with_push_interval_ms(ours.push_interval_ms)
                .with_telemetry_max_bytes(ours.telemetry_max_bytes)
                .with_delta_temporality(ours.delta_temporality)
                .with_requested_metrics(
                    ours.requested_metrics.iter().cloned().map(StrBytes::from_string).collect(),
                )
        },
        |ours, theirs: &TheirGetResponse| {
            prop_assert_eq!(ours.throttle_time_ms, theirs.throttle_time_ms);
            prop_assert_eq!(ours.error_code, theirs.error_code);
            prop_assert_eq!(&ours.client_instance_id, theirs.client_instance_id.as_bytes());
            prop_assert_eq!(ours.subscription_id, theirs.subscription_id);
            prop_assert_eq!(&ours.accepted_compression_types, &theirs.accepted_compression_types);
            prop_assert_eq!(ours.push_interval_ms, theirs.push_interval_ms);
            prop_assert_eq!(ours.telemetry_max_bytes, theirs.telemetry_max_bytes);
            prop_assert_eq!(ours.delta_temporality, theirs.delta_temporality);
            let theirs_metrics: Vec<&str> = theirs.requested_metrics.iter().map(|m| m.as_str()).collect();
            prop_assert_eq!(&ours.requested_metrics, &theirs_metrics);
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}

// ---- PushTelemetry -------------------------------------------------------

#[test]
fn push_telemetry_request() {
    assert_eq!(versions::<PushTelemetryRequest, TheirPushRequest>(), 0..=0);
    cross_check(
        strategies::push_telemetry::request,
        |ours: &PushTelemetryRequest| {
            TheirPushRequest::default()
                .with_client_instance_id(Uuid::from_bytes(ours.client_instance_id))
                .with_subscription_id(ours.subscription_id)
                .with_terminating(ours.terminating)
                .with_compression_type(ours.compression_type)
                .with_metrics(Bytes::copy_from_slice(&ours.metrics))
        },
        |ours, theirs: &TheirPushRequest| {
            prop_assert_eq!(&ours.client_instance_id, theirs.client_instance_id.as_bytes());
            prop_assert_eq!(ours.subscription_id, theirs.subscription_id);
            prop_assert_eq!(ours.terminating, theirs.terminating);
            prop_assert_eq!(ours.compression_type, theirs.compression_type);
            prop_assert_eq!(&ours.metrics[..], &theirs.metrics[..]);
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}

#[test]
fn push_telemetry_response() {
    assert_eq!(versions::<PushTelemetryResponse, TheirPushResponse>(), 0..=0);
    cross_check(
        strategies::push_telemetry::response,
        |ours: &PushTelemetryResponse| {
            TheirPushResponse::default()
                .with_throttle_time_ms(ours.throttle_time_ms)
                .with_error_code(ours.error_code)
        },
        |ours, theirs: &TheirPushResponse| {
            prop_assert_eq!(ours.throttle_time_ms, theirs.throttle_time_ms);
            prop_assert_eq!(ours.error_code, theirs.error_code);
            prop_assert!(theirs.unknown_tagged_fields.is_empty());
            Ok(())
        },
    );
}
