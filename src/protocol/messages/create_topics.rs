//! CreateTopics (API key 19). STUB: replaced by the full implementation.

use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::Decoder;
use crate::protocol::{Message, Request, VersionRange};

/// The CreateTopics request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateTopicsRequest {}

/// The CreateTopics response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateTopicsResponse {}

impl Message for CreateTopicsRequest {
    const API_KEY: i16 = 19;
    const VERSIONS: VersionRange = VersionRange::new(2, 7);
    const FLEXIBLE_FROM: i16 = 5;
    fn encode_body(&self, _buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        Ok(())
    }
    fn decode_body(_d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        Ok(Self {})
    }
}

impl Message for CreateTopicsResponse {
    const API_KEY: i16 = 19;
    const VERSIONS: VersionRange = VersionRange::new(2, 7);
    const FLEXIBLE_FROM: i16 = 5;
    fn encode_body(&self, _buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        Ok(())
    }
    fn decode_body(_d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        Ok(Self {})
    }
}

impl Request for CreateTopicsRequest {
    type Response = CreateTopicsResponse;
}

/// Proptest strategies. STUB.
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use proptest::prelude::*;
    /// Requests valid at `version`.
    pub fn request(_version: i16) -> impl Strategy<Value = CreateTopicsRequest> {
        Just(CreateTopicsRequest::default())
    }
    /// Responses valid at `version`.
    pub fn response(_version: i16) -> impl Strategy<Value = CreateTopicsResponse> {
        Just(CreateTopicsResponse::default())
    }
}
