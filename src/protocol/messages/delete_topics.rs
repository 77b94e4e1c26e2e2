//! DeleteTopics (API key 20). STUB: replaced by the full implementation.

use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::Decoder;
use crate::protocol::{Message, Request, VersionRange};

/// The DeleteTopics request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteTopicsRequest {}

/// The DeleteTopics response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteTopicsResponse {}

impl Message for DeleteTopicsRequest {
    const API_KEY: i16 = 20;
    const VERSIONS: VersionRange = VersionRange::new(1, 6);
    const FLEXIBLE_FROM: i16 = 4;
    fn encode_body(&self, _buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        Ok(())
    }
    fn decode_body(_d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        Ok(Self {})
    }
}

impl Message for DeleteTopicsResponse {
    const API_KEY: i16 = 20;
    const VERSIONS: VersionRange = VersionRange::new(1, 6);
    const FLEXIBLE_FROM: i16 = 4;
    fn encode_body(&self, _buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        Ok(())
    }
    fn decode_body(_d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        Ok(Self {})
    }
}

impl Request for DeleteTopicsRequest {
    type Response = DeleteTopicsResponse;
}

/// Proptest strategies. STUB.
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use proptest::prelude::*;
    /// Requests valid at `version`.
    pub fn request(_version: i16) -> impl Strategy<Value = DeleteTopicsRequest> {
        Just(DeleteTopicsRequest::default())
    }
    /// Responses valid at `version`.
    pub fn response(_version: i16) -> impl Strategy<Value = DeleteTopicsResponse> {
        Just(DeleteTopicsResponse::default())
    }
}
