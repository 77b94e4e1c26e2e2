//! The Kafka wire protocol: a public, documented codec.
//!
//! This module is what the producer speaks to brokers, and it is public so
//! that users can fuzz and property-test the Kafka protocol with it, or build
//! their own tools and test brokers on top of it.
//!
//! - [`primitives`]: integers, varints, (compact) strings, bytes, arrays,
//!   tagged fields, UUIDs; [`primitives::Decoder`] checks every length against
//!   the bytes that remain before it allocates.
//! - [`header`] and [`frame`]: request/response headers and size-prefixed frames.
//! - [`messages`]: one module per API, each with request encode **and** decode
//!   and response encode **and** decode, at every version listed in its
//!   [`Message::VERSIONS`].
//! - [`record_batch`]: record batch v2 (magic 2) writer and verifying decoder,
//!   and transaction markers (control batches).
//! - [`compression`]: none, gzip, snappy (xerial framing), lz4 (Kafka frame), zstd.
//! - [`otlp`]: the OpenTelemetry metrics protobuf that KIP-714 telemetry pushes.
//!
//! # Example: an ApiVersions round trip
//!
//! ```
//! use kafka_sync::protocol::frame::{decode_response, encode_request, encode_response};
//! use kafka_sync::protocol::messages::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
//! use kafka_sync::protocol::messages::api_versions::ApiVersion;
//!
//! let mut wire = Vec::new();
//! let req = ApiVersionsRequest::default();
//! encode_request(&mut wire, 7, Some("my-app"), 3, &req).unwrap();
//! assert_eq!(&wire[4..6], &[0, 18]); // after the size prefix: API key 18
//!
//! let resp = ApiVersionsResponse {
//!     api_keys: vec![ApiVersion { api_key: 0, min_version: 0, max_version: 11 }],
//!     ..Default::default()
//! };
//! let mut out = Vec::new();
//! encode_response::<ApiVersionsRequest>(&mut out, 7, 3, &resp).unwrap();
//! let (header, decoded) = decode_response::<ApiVersionsRequest>(&out[4..], 3).unwrap();
//! assert_eq!(header.correlation_id, 7);
//! assert_eq!(decoded, resp);
//! ```

pub mod compression;
pub mod error;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod header;
pub mod messages;
pub mod otlp;
pub mod primitives;
pub mod record_batch;
#[cfg(any(test, feature = "proptest"))]
pub mod strategies;

pub use error::{DecodeError, EncodeError};
pub use primitives::{Decoder, Writer};

use std::fmt::Debug;

/// API keys of the messages this codec implements.
pub mod api_key {
    /// Produce.
    pub const PRODUCE: i16 = 0;
    /// Metadata.
    pub const METADATA: i16 = 3;
    /// FindCoordinator.
    pub const FIND_COORDINATOR: i16 = 10;
    /// SaslHandshake.
    pub const SASL_HANDSHAKE: i16 = 17;
    /// ApiVersions.
    pub const API_VERSIONS: i16 = 18;
    /// CreateTopics.
    pub const CREATE_TOPICS: i16 = 19;
    /// DeleteTopics.
    pub const DELETE_TOPICS: i16 = 20;
    /// InitProducerId.
    pub const INIT_PRODUCER_ID: i16 = 22;
    /// AddPartitionsToTxn.
    pub const ADD_PARTITIONS_TO_TXN: i16 = 24;
    /// AddOffsetsToTxn.
    pub const ADD_OFFSETS_TO_TXN: i16 = 25;
    /// EndTxn.
    pub const END_TXN: i16 = 26;
    /// TxnOffsetCommit.
    pub const TXN_OFFSET_COMMIT: i16 = 28;
    /// SaslAuthenticate.
    pub const SASL_AUTHENTICATE: i16 = 36;
    /// GetTelemetrySubscriptions (KIP-714).
    pub const GET_TELEMETRY_SUBSCRIPTIONS: i16 = 71;
    /// PushTelemetry (KIP-714).
    pub const PUSH_TELEMETRY: i16 = 72;
}

/// An inclusive range of versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    /// Lowest version, inclusive.
    pub min: i16,
    /// Highest version, inclusive.
    pub max: i16,
}

impl VersionRange {
    /// The range `min..=max`.
    pub const fn new(min: i16, max: i16) -> Self {
        Self { min, max }
    }

    /// Whether `v` is in the range.
    pub const fn contains(&self, v: i16) -> bool {
        v >= self.min && v <= self.max
    }

    /// The highest version in both ranges, if they overlap.
    pub fn highest_common(&self, other: VersionRange) -> Option<i16> {
        let max = self.max.min(other.max);
        (max >= self.min.max(other.min)).then_some(max)
    }
}

/// A request or response body of one API: encodes to and decodes from the
/// wire at any version in [`Message::VERSIONS`].
///
/// Fields a version does not carry are skipped on encode (they should hold
/// their default) and set to their default on decode.
pub trait Message: Sized + Clone + PartialEq + Debug {
    /// The API key.
    const API_KEY: i16;
    /// The versions this codec implements.
    const VERSIONS: VersionRange;
    /// The first flexible version (compact types and tagged fields), or
    /// `i16::MAX` if none is.
    const FLEXIBLE_FROM: i16;

    /// Writes the body at `version`, which the caller has checked is in range.
    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError>;

    /// Reads the body at `version`, which the caller has checked is in range.
    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError>;

    /// Whether `version` is a flexible version.
    fn is_flexible(version: i16) -> bool {
        version >= Self::FLEXIBLE_FROM
    }

    /// Appends the body at `version`, after checking that it is supported.
    fn encode(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        if !Self::VERSIONS.contains(version) {
            return Err(EncodeError::UnsupportedVersion { api_key: Self::API_KEY, version });
        }
        self.encode_body(buf, version)
    }

    /// Reads the body at `version`, after checking that it is supported. Does
    /// not check for trailing bytes: the frame decoders do.
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        if !Self::VERSIONS.contains(version) {
            return Err(DecodeError::UnsupportedVersion { api_key: Self::API_KEY, version });
        }
        Self::decode_body(d, version)
    }
}

/// A request body, tied to the type of its response.
pub trait Request: Message {
    /// The response body type.
    type Response: Message;

    /// The request header version used with `version` (2 if flexible, else 1).
    fn request_header_version(version: i16) -> i16 {
        if Self::is_flexible(version) {
            2
        } else {
            1
        }
    }

    /// The response header version used with `version` (1 if flexible, else
    /// 0). ApiVersions overrides this: its response header is always v0.
    fn response_header_version(version: i16) -> i16 {
        if Self::is_flexible(version) {
            1
        } else {
            0
        }
    }
}
