//! One module per Kafka API: request and response bodies, each encodable and
//! decodable at every version the module lists.
//!
//! [`RequestBody`] and [`ResponseBody`] dispatch on an API key and version
//! read off the wire, for brokers (the crate's mock), fuzzers and tools.

pub mod api_versions;
pub mod create_topics;
pub mod delete_topics;
pub mod get_telemetry_subscriptions;
pub mod init_producer_id;
pub mod metadata;
pub mod produce;
pub mod push_telemetry;
pub mod sasl_authenticate;
pub mod sasl_handshake;

use super::error::{DecodeError, EncodeError};
use super::primitives::Decoder;
use super::{Message, Request};

macro_rules! apis {
    ($($variant:ident => $req:ty, $resp:ty;)*) => {
        /// A decoded request body of any API this codec implements.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum RequestBody {
            $(
                #[doc = concat!("A `", stringify!($variant), "` request.")]
                $variant($req),
            )*
        }

        /// A decoded response body of any API this codec implements.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum ResponseBody {
            $(
                #[doc = concat!("A `", stringify!($variant), "` response.")]
                $variant($resp),
            )*
        }

        impl RequestBody {
            /// Decodes the body of API `api_key` at `version`.
            pub fn decode(api_key: i16, version: i16, d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                match api_key {
                    $(<$req as Message>::API_KEY => Ok(Self::$variant(<$req>::decode(d, version)?)),)*
                    k => Err(DecodeError::UnknownApiKey(k)),
                }
            }

            /// Appends the body at `version`.
            pub fn encode(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
                match self {
                    $(Self::$variant(m) => m.encode(buf, version),)*
                }
            }

            /// The API key of this body.
            pub fn api_key(&self) -> i16 {
                match self {
                    $(Self::$variant(_) => <$req as Message>::API_KEY,)*
                }
            }

            /// The request header version API `api_key` uses at `version`.
            pub fn request_header_version(api_key: i16, version: i16) -> Result<i16, DecodeError> {
                match api_key {
                    $(<$req as Message>::API_KEY => Ok(<$req as Request>::request_header_version(version)),)*
                    k => Err(DecodeError::UnknownApiKey(k)),
                }
            }

            /// The response header version API `api_key` uses at `version`.
            pub fn response_header_version(api_key: i16, version: i16) -> Result<i16, DecodeError> {
                match api_key {
                    $(<$req as Message>::API_KEY => Ok(<$req as Request>::response_header_version(version)),)*
                    k => Err(DecodeError::UnknownApiKey(k)),
                }
            }
        }

        impl ResponseBody {
            /// Decodes the response body of API `api_key` at `version`.
            pub fn decode(api_key: i16, version: i16, d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
                match api_key {
                    $(<$req as Message>::API_KEY => Ok(Self::$variant(<$resp>::decode(d, version)?)),)*
                    k => Err(DecodeError::UnknownApiKey(k)),
                }
            }

            /// Appends the body at `version`.
            pub fn encode(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
                match self {
                    $(Self::$variant(m) => m.encode(buf, version),)*
                }
            }

            /// The API key of this body.
            pub fn api_key(&self) -> i16 {
                match self {
                    $(Self::$variant(_) => <$resp as Message>::API_KEY,)*
                }
            }
        }

        /// The version range this codec implements for `api_key`, if any.
        pub fn supported_versions(api_key: i16) -> Option<super::VersionRange> {
            match api_key {
                $(<$req as Message>::API_KEY => Some(<$req as Message>::VERSIONS),)*
                _ => None,
            }
        }

        /// Every API key this codec implements.
        pub const API_KEYS: &[i16] = &[$(<$req as Message>::API_KEY),*];
    };
}

apis! {
    Produce => produce::ProduceRequest, produce::ProduceResponse;
    Metadata => metadata::MetadataRequest, metadata::MetadataResponse;
    ApiVersions => api_versions::ApiVersionsRequest, api_versions::ApiVersionsResponse;
    CreateTopics => create_topics::CreateTopicsRequest, create_topics::CreateTopicsResponse;
    DeleteTopics => delete_topics::DeleteTopicsRequest, delete_topics::DeleteTopicsResponse;
    InitProducerId => init_producer_id::InitProducerIdRequest, init_producer_id::InitProducerIdResponse;
    SaslHandshake => sasl_handshake::SaslHandshakeRequest, sasl_handshake::SaslHandshakeResponse;
    SaslAuthenticate => sasl_authenticate::SaslAuthenticateRequest, sasl_authenticate::SaslAuthenticateResponse;
    GetTelemetrySubscriptions => get_telemetry_subscriptions::GetTelemetrySubscriptionsRequest, get_telemetry_subscriptions::GetTelemetrySubscriptionsResponse;
    PushTelemetry => push_telemetry::PushTelemetryRequest, push_telemetry::PushTelemetryResponse;
}
