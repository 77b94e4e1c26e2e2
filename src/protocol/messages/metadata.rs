//! Metadata (API key 3). STUB: replaced by the full implementation.

use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::Decoder;
use crate::protocol::{Message, Request, VersionRange};

/// The Metadata request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataRequest {}

/// The Metadata response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataResponse {}

impl Message for MetadataRequest {
    const API_KEY: i16 = 3;
    const VERSIONS: VersionRange = VersionRange::new(1, 12);
    const FLEXIBLE_FROM: i16 = 9;
    fn encode_body(&self, _buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        Ok(())
    }
    fn decode_body(_d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        Ok(Self {})
    }
}

impl Message for MetadataResponse {
    const API_KEY: i16 = 3;
    const VERSIONS: VersionRange = VersionRange::new(1, 12);
    const FLEXIBLE_FROM: i16 = 9;
    fn encode_body(&self, _buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        Ok(())
    }
    fn decode_body(_d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        Ok(Self {})
    }
}

impl Request for MetadataRequest {
    type Response = MetadataResponse;
}

/// Proptest strategies. STUB.
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use proptest::prelude::*;
    /// Requests valid at `version`.
    pub fn request(_version: i16) -> impl Strategy<Value = MetadataRequest> {
        Just(MetadataRequest::default())
    }
    /// Responses valid at `version`.
    pub fn response(_version: i16) -> impl Strategy<Value = MetadataResponse> {
        Just(MetadataResponse::default())
    }
}
