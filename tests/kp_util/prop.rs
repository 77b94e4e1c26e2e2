//! Property-based cross-check helpers for the newer `cross_check_*` tests:
//! values from our proptest strategies go through our codec and
//! kafka-protocol's in both directions, failing as proptest cases.

use kafka_protocol::protocol::{Decodable, Encodable, Message as TheirMessage};
use kafka_sync::protocol::{Decoder, Message};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Cases per version and direction.
pub const CASES: u32 = 256;

/// Runs `check` on `CASES` values of `strategy(v)` for every version `v` in `versions`.
pub fn for_each_version<S: Strategy>(
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
pub fn versions<O: Message, T: TheirMessage>() -> std::ops::RangeInclusive<i16> {
    let (ours, theirs) = (O::VERSIONS, T::VERSIONS);
    let (min, max) = (ours.min.max(theirs.min), ours.max.min(theirs.max));
    assert!(min <= max, "no common version");
    min..=max
}

pub fn ours_encode<M: Message>(m: &M, v: i16) -> Vec<u8> {
    let mut buf = Vec::new();
    m.encode(&mut buf, v).expect("our encoder");
    buf
}

pub fn ours_decode<M: Message>(bytes: &[u8], v: i16) -> Result<M, TestCaseError> {
    let mut d = Decoder::new(bytes);
    let m = M::decode(&mut d, v).map_err(|e| TestCaseError::fail(format!("our decoder: {e}")))?;
    d.finish().map_err(|e| TestCaseError::fail(format!("our decoder: {e}")))?;
    Ok(m)
}

pub fn theirs_decode<T: Decodable>(bytes: &[u8], v: i16) -> Result<T, TestCaseError> {
    let mut rest = bytes;
    let t = T::decode(&mut rest, v).map_err(|e| TestCaseError::fail(format!("their decoder: {e}")))?;
    prop_assert!(rest.is_empty(), "their decoder left {} bytes", rest.len());
    Ok(t)
}

pub fn theirs_encode<T: Encodable>(t: &T, v: i16) -> Result<Vec<u8>, TestCaseError> {
    let mut buf = Vec::new();
    t.encode(&mut buf, v).map_err(|e| TestCaseError::fail(format!("their encoder: {e}")))?;
    Ok(buf)
}

/// Both ways for one message type: ours → theirs (decoded fields match), and
/// theirs (built from ours) → same bytes → ours (equal value).
pub fn cross_check<O, T, S>(
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
