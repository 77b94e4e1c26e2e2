//! Proptest strategies for every wire type (feature `proptest`).
//!
//! Each message module has a `strategies` submodule with `request(version)`
//! and `response(version)` strategies that produce bodies valid at that
//! version; they are re-exported here by API name. Use them to property-test
//! code built on the codec:
//!
//! ```
//! use kafka_sync::protocol::strategies;
//! use kafka_sync::protocol::{Decoder, Message};
//! use proptest::prelude::*;
//!
//! proptest!(|(req in strategies::api_versions::request(3))| {
//!     let mut buf = Vec::new();
//!     req.encode(&mut buf, 3).unwrap();
//!     let back = Message::decode(&mut Decoder::new(&buf), 3).unwrap();
//!     prop_assert_eq!(req, back);
//! });
//! ```

use proptest::prelude::*;

use super::primitives::Decoder;
use super::Message;

pub use super::messages::add_offsets_to_txn::strategies as add_offsets_to_txn;
pub use super::messages::add_partitions_to_txn::strategies as add_partitions_to_txn;
pub use super::messages::api_versions::strategies as api_versions;
pub use super::messages::create_topics::strategies as create_topics;
pub use super::messages::delete_topics::strategies as delete_topics;
pub use super::messages::end_txn::strategies as end_txn;
pub use super::messages::find_coordinator::strategies as find_coordinator;
pub use super::messages::get_telemetry_subscriptions::strategies as get_telemetry_subscriptions;
pub use super::messages::init_producer_id::strategies as init_producer_id;
pub use super::messages::metadata::strategies as metadata;
pub use super::messages::produce::strategies as produce;
pub use super::messages::push_telemetry::strategies as push_telemetry;
pub use super::messages::sasl_authenticate::strategies as sasl_authenticate;
pub use super::messages::sasl_handshake::strategies as sasl_handshake;
pub use super::messages::txn_offset_commit::strategies as txn_offset_commit;
pub use super::record_batch::strategies as record_batch;

/// Every version this codec implements for `M`.
pub fn versions_of<M: Message>() -> impl Strategy<Value = i16> {
    M::VERSIONS.min..=M::VERSIONS.max
}

/// Short strings (0 to 20 chars, any Unicode).
pub fn compact_string() -> impl Strategy<Value = String> {
    ".{0,20}"
}

/// Optional short strings.
pub fn nullable_string() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(compact_string())
}

/// A transactional id, producer id and producer epoch: the fields most
/// transaction requests start with.
pub fn txn_producer() -> impl Strategy<Value = (String, i64, i16)> {
    (compact_string(), any::<i64>(), any::<i16>())
}

/// Vectors of 0 to 4 elements: enough to exercise arrays without slow cases.
pub fn small_vec<S: Strategy>(s: S) -> impl Strategy<Value = Vec<S::Value>> {
    proptest::collection::vec(s, 0..4)
}

/// Short byte strings (0 to 64 bytes).
pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..64)
}

/// Encodes `m` at `version`, decodes it back, and asserts that the result is
/// equal and that the decoder consumed every byte.
///
/// # Panics
/// On any difference: it is an assertion for tests.
pub fn assert_round_trip<M: Message>(m: &M, version: i16) {
    let back: M = decode_exact(&encode_to_vec(m, version), version);
    assert_eq!(&back, m, "round trip at version {version}");
}

/// Encodes `m` at `version` into a new vector.
///
/// # Panics
/// If encoding fails: it is a helper for tests.
pub fn encode_to_vec<M: Message>(m: &M, version: i16) -> Vec<u8> {
    let mut buf = Vec::new();
    m.encode(&mut buf, version).expect("encode");
    buf
}

/// Decodes a whole `M` at `version` from `bytes`, with no trailing bytes.
///
/// # Panics
/// If decoding fails or bytes are left over: it is a helper for tests.
pub fn decode_exact<M: Message>(bytes: &[u8], version: i16) -> M {
    let mut d = Decoder::new(bytes);
    let m = M::decode(&mut d, version).expect("decode");
    d.finish().expect("no trailing bytes");
    m
}

/// Asserts that `m` encodes at `version` to exactly `bytes`, and that
/// `bytes` decode at `version` back to `m`, consuming every byte: for golden
/// bytes written out by hand from the spec.
///
/// # Panics
/// On any difference: it is an assertion for tests.
pub fn assert_golden<M: Message>(m: &M, version: i16, bytes: &[u8]) {
    assert_eq!(encode_to_vec(m, version), bytes, "encoding at version {version}");
    assert_eq!(&decode_exact::<M>(bytes, version), m, "decoding at version {version}");
}

/// Asserts that no proper prefix of `m`'s encoding at `version` decodes.
///
/// # Panics
/// If one does: it is an assertion for tests.
pub fn assert_truncations_fail<M: Message>(m: &M, version: i16) {
    let full = encode_to_vec(m, version);
    for cut in 0..full.len() {
        let r = M::decode(&mut Decoder::new(&full[..cut]), version);
        assert!(r.is_err(), "the first {cut} of {} bytes decoded at version {version}: {r:?}", full.len());
    }
}

/// [`assert_truncations_fail`] at every version this codec implements for `M`.
///
/// # Panics
/// If a prefix decodes: it is an assertion for tests.
pub fn assert_truncations_fail_at_every_version<M: Message>(m: &M) {
    for version in M::VERSIONS.min..=M::VERSIONS.max {
        assert_truncations_fail(m, version);
    }
}

/// Asserts that decoding `bytes` at `version` fails with
/// [`DecodeError::CountTooLarge`](super::DecodeError::CountTooLarge): for an
/// array count that the input cannot hold.
///
/// # Panics
/// If it does not: it is an assertion for tests.
pub fn assert_count_too_large<M: Message>(bytes: &[u8], version: i16) {
    let r = M::decode(&mut Decoder::new(bytes), version);
    assert!(matches!(r, Err(super::DecodeError::CountTooLarge { .. })), "{r:?}");
}

/// Property tests every message module runs: requests and responses
/// round-trip at every version, and arbitrary bytes never make a decoder
/// panic. `$strategies` is the module with `request(version)` and
/// `response(version)`.
#[cfg(test)]
macro_rules! message_proptests {
    ($req:ty, $resp:ty, $strategies:path) => {
        #[cfg(test)]
        mod message_proptests {
            use super::*;
            use crate::protocol::primitives::Decoder;
            use crate::protocol::strategies::{assert_round_trip, versions_of};
            use crate::protocol::Message;
            use proptest::prelude::*;
            use $strategies as strategies;

            proptest! {
                #[test]
                fn request_round_trips((v, m) in versions_of::<$req>().prop_flat_map(|v| (Just(v), strategies::request(v)))) {
                    assert_round_trip(&m, v);
                }

                #[test]
                fn response_round_trips((v, m) in versions_of::<$resp>().prop_flat_map(|v| (Just(v), strategies::response(v)))) {
                    assert_round_trip(&m, v);
                }

                /// Any bytes: decoding fails or succeeds, never panics.
                #[test]
                fn decoders_never_panic(v in versions_of::<$resp>(), b in proptest::collection::vec(any::<u8>(), 0..256)) {
                    let _ = <$req>::decode(&mut Decoder::new(&b), v);
                    let _ = <$resp>::decode(&mut Decoder::new(&b), v);
                }
            }
        }
    };
}
#[cfg(test)]
pub(crate) use message_proptests;
