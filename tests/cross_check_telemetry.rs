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
use kafka_protocol::protocol::StrBytes;
use kafka_sync::protocol::messages::get_telemetry_subscriptions::{
    GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse,
};
use kafka_sync::protocol::messages::push_telemetry::{PushTelemetryRequest, PushTelemetryResponse};
use kafka_sync::protocol::strategies;
use proptest::prelude::*;
use uuid::Uuid;
mod kp_util;

use kp_util::prop::*;

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
