//! Cross-checks our InitProducerId codec against an independent
//! implementation, the `kafka-protocol` crate, at every version both
//! implement (0-5).
//!
//! For values from our proptest strategies, in both directions:
//! - ours encodes, theirs decodes, and every field must match;
//! - their struct is built from ours, theirs encodes, the bytes must equal
//!   ours, and ours decodes them back to the original value.

use kafka_protocol::messages::{
    InitProducerIdRequest as TheirRequest, InitProducerIdResponse as TheirResponse, ProducerId,
    TransactionalId,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_sync::protocol::messages::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
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

fn same_request(ours: &InitProducerIdRequest, theirs: &TheirRequest) -> Result<(), TestCaseError> {
    prop_assert_eq!(ours.transactional_id.as_deref(), theirs.transactional_id.as_ref().map(|t| t.0.as_str()));
    prop_assert_eq!(ours.transaction_timeout_ms, theirs.transaction_timeout_ms);
    prop_assert_eq!(ours.producer_id, theirs.producer_id.0);
    prop_assert_eq!(ours.producer_epoch, theirs.producer_epoch);
    // v6-only fields (KIP-939), which we do not implement, stay at their defaults.
    prop_assert!(!theirs.enable_2_pc && !theirs.keep_prepared_txn);
    prop_assert!(theirs.unknown_tagged_fields.is_empty());
    Ok(())
}

fn their_request(ours: &InitProducerIdRequest) -> TheirRequest {
    let mut t = TheirRequest::default();
    t.transactional_id = ours.transactional_id.clone().map(|s| TransactionalId(StrBytes::from_string(s)));
    t.transaction_timeout_ms = ours.transaction_timeout_ms;
    t.producer_id = ProducerId(ours.producer_id);
    t.producer_epoch = ours.producer_epoch;
    t
}

fn same_response(ours: &InitProducerIdResponse, theirs: &TheirResponse) -> Result<(), TestCaseError> {
    prop_assert_eq!(ours.throttle_time_ms, theirs.throttle_time_ms);
    prop_assert_eq!(ours.error_code, theirs.error_code);
    prop_assert_eq!(ours.producer_id, theirs.producer_id.0);
    prop_assert_eq!(ours.producer_epoch, theirs.producer_epoch);
    prop_assert_eq!(theirs.ongoing_txn_producer_id.0, -1);
    prop_assert_eq!(theirs.ongoing_txn_producer_epoch, -1);
    prop_assert!(theirs.unknown_tagged_fields.is_empty());
    Ok(())
}

fn their_response(ours: &InitProducerIdResponse) -> TheirResponse {
    let mut t = TheirResponse::default();
    t.throttle_time_ms = ours.throttle_time_ms;
    t.error_code = ours.error_code;
    t.producer_id = ProducerId(ours.producer_id);
    t.producer_epoch = ours.producer_epoch;
    t
}

/// The versions both implementations support.
fn versions() -> std::ops::RangeInclusive<i16> {
    let ours = InitProducerIdRequest::VERSIONS;
    assert_eq!(ours, InitProducerIdResponse::VERSIONS);
    // kafka-protocol 0.18 implements the request at v0-v5 and the response at v0-v6.
    ours.min.max(0)..=ours.max.min(5)
}

#[test]
fn request_ours_to_theirs() {
    for_each_version(versions(), strategies::init_producer_id::request, |v, ours| {
        let theirs: TheirRequest = theirs_decode(&ours_encode(&ours, v), v)?;
        same_request(&ours, &theirs)
    });
}

#[test]
fn request_theirs_to_ours() {
    for_each_version(versions(), strategies::init_producer_id::request, |v, ours| {
        let theirs = their_request(&ours);
        let bytes = theirs_encode(&theirs, v)?;
        prop_assert_eq!(&bytes, &ours_encode(&ours, v), "same bytes");
        let back: InitProducerIdRequest = ours_decode(&bytes, v)?;
        prop_assert_eq!(&back, &ours);
        same_request(&back, &theirs)
    });
}

#[test]
fn response_ours_to_theirs() {
    for_each_version(versions(), strategies::init_producer_id::response, |v, ours| {
        let theirs: TheirResponse = theirs_decode(&ours_encode(&ours, v), v)?;
        same_response(&ours, &theirs)
    });
}

#[test]
fn response_theirs_to_ours() {
    for_each_version(versions(), strategies::init_producer_id::response, |v, ours| {
        let theirs = their_response(&ours);
        let bytes = theirs_encode(&theirs, v)?;
        prop_assert_eq!(&bytes, &ours_encode(&ours, v), "same bytes");
        let back: InitProducerIdResponse = ours_decode(&bytes, v)?;
        prop_assert_eq!(&back, &ours);
        same_response(&back, &theirs)
    });
}
