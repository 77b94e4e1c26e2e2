//! Produce (API key 0). STUB: replaced by the full implementation.

use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::Decoder;
use crate::protocol::{Message, Request, VersionRange};

/// The Produce request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProduceRequest {}

/// The Produce response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProduceResponse {}

impl Message for ProduceRequest {
    const API_KEY: i16 = 0;
    const VERSIONS: VersionRange = VersionRange::new(3, 11);
    const FLEXIBLE_FROM: i16 = 9;
    fn encode_body(&self, _buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        Ok(())
    }
    fn decode_body(_d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        Ok(Self {})
    }
}

impl Message for ProduceResponse {
    const API_KEY: i16 = 0;
    const VERSIONS: VersionRange = VersionRange::new(3, 11);
    const FLEXIBLE_FROM: i16 = 9;
    fn encode_body(&self, _buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        Ok(())
    }
    fn decode_body(_d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        Ok(Self {})
    }
}

impl Request for ProduceRequest {
    type Response = ProduceResponse;
}

/// Proptest strategies. STUB.
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use proptest::prelude::*;
    /// Requests valid at `version`.
    pub fn request(_version: i16) -> impl Strategy<Value = ProduceRequest> {
        Just(ProduceRequest::default())
    }
    /// Responses valid at `version`.
    pub fn response(_version: i16) -> impl Strategy<Value = ProduceResponse> {
        Just(ProduceResponse::default())
    }
}
