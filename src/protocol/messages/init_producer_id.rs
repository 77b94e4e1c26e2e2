//! InitProducerId (API key 22). STUB: replaced by the full implementation.

use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::Decoder;
use crate::protocol::{Message, Request, VersionRange};

/// The InitProducerId request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InitProducerIdRequest {}

/// The InitProducerId response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InitProducerIdResponse {}

impl Message for InitProducerIdRequest {
    const API_KEY: i16 = 22;
    const VERSIONS: VersionRange = VersionRange::new(0, 4);
    const FLEXIBLE_FROM: i16 = 2;
    fn encode_body(&self, _buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        Ok(())
    }
    fn decode_body(_d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        Ok(Self {})
    }
}

impl Message for InitProducerIdResponse {
    const API_KEY: i16 = 22;
    const VERSIONS: VersionRange = VersionRange::new(0, 4);
    const FLEXIBLE_FROM: i16 = 2;
    fn encode_body(&self, _buf: &mut Vec<u8>, _version: i16) -> Result<(), EncodeError> {
        Ok(())
    }
    fn decode_body(_d: &mut Decoder<'_>, _version: i16) -> Result<Self, DecodeError> {
        Ok(Self {})
    }
}

impl Request for InitProducerIdRequest {
    type Response = InitProducerIdResponse;
}

/// Proptest strategies. STUB.
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use proptest::prelude::*;
    /// Requests valid at `version`.
    pub fn request(_version: i16) -> impl Strategy<Value = InitProducerIdRequest> {
        Just(InitProducerIdRequest::default())
    }
    /// Responses valid at `version`.
    pub fn response(_version: i16) -> impl Strategy<Value = InitProducerIdResponse> {
        Just(InitProducerIdResponse::default())
    }
}
