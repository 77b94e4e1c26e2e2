//! Glue shared by the `cross_check_*` tests: moving bytes between this crate's
//! codec and kafka-protocol's, and converting between their string and id types.

#![allow(dead_code)]

pub mod prop;

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_sync::protocol::primitives::Uuid;
use kafka_sync::protocol::{Decoder, Message};

/// Encodes `m` at `v` with this crate.
pub fn ours_encode<M: Message>(m: &M, v: i16) -> Vec<u8> {
    let mut buf = Vec::new();
    m.encode(&mut buf, v).expect("our encode");
    buf
}

/// Decodes a whole body at `v` with this crate (no trailing bytes allowed).
pub fn ours_decode<M: Message>(b: &[u8], v: i16) -> M {
    let mut d = Decoder::new(b);
    let m = M::decode(&mut d, v).expect("our decode");
    d.finish().expect("our decode left bytes");
    m
}

/// Encodes `t` at `v` with kafka-protocol.
pub fn theirs_encode<T: Encodable>(t: &T, v: i16) -> Vec<u8> {
    let mut buf = BytesMut::new();
    t.encode(&mut buf, v).expect("their encode");
    buf.to_vec()
}

/// Decodes a whole body at `v` with kafka-protocol (no trailing bytes allowed).
pub fn theirs_decode<T: Decodable>(b: &[u8], v: i16) -> T {
    let mut buf = Bytes::copy_from_slice(b);
    let t = T::decode(&mut buf, v).expect("their decode");
    assert!(buf.is_empty(), "their decode left {} bytes", buf.len());
    t
}

/// A kafka-protocol string.
pub fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// A kafka-protocol nullable string.
pub fn osb(s: &Option<String>) -> Option<StrBytes> {
    s.as_deref().map(sb)
}

/// A kafka-protocol nullable string as ours.
pub fn ostr(s: &Option<StrBytes>) -> Option<&str> {
    s.as_ref().map(|s| s.as_str())
}

/// A kafka-protocol UUID.
pub fn uuid(id: &Uuid) -> uuid::Uuid {
    uuid::Uuid::from_bytes(*id)
}
