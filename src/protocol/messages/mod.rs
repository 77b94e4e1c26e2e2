//! One module per Kafka API: request and response bodies, each encodable and
//! decodable at every version the module lists.
//!
//! [`RequestBody`] and [`ResponseBody`] dispatch on an API key and version
//! read off the wire, for brokers (the crate's mock), fuzzers and tools.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod api_versions;
pub mod create_topics;
pub mod delete_topics;
pub mod end_txn;
pub mod find_coordinator;
pub mod get_telemetry_subscriptions;
pub mod init_producer_id;
pub mod metadata;
pub mod produce;
pub mod push_telemetry;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod txn_offset_commit;

use super::error::{DecodeError, EncodeError};
use super::primitives::{Decoder, Writer};
use super::{Message, Request};

/// Bytes an array length takes at least: `int32` classic, one varint byte compact.
pub(crate) const fn min_len(flex: bool) -> usize {
    if flex {
        1
    } else {
        4
    }
}

/// Bytes a (nullable) string takes at least: `int16` classic, one varint byte compact.
pub(crate) const fn min_str(flex: bool) -> usize {
    if flex {
        1
    } else {
        2
    }
}

/// Writes `items` as an array of structs: the count, then each item as `f`
/// writes its fields, followed in flexible versions by an empty tagged-field
/// section.
pub(crate) fn put_structs<T>(
    buf: &mut Vec<u8>,
    items: &[T],
    flex: bool,
    mut f: impl FnMut(&mut Vec<u8>, &T) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    buf.put_array_len(items.len(), flex)?;
    for item in items {
        f(buf, item)?;
        if flex {
            buf.put_empty_tagged_fields();
        }
    }
    Ok(())
}

/// Reads an array of structs written by [`put_structs`]: `f` reads each
/// struct's fields, and in flexible versions its tagged fields are skipped.
/// `min_fields` is the smallest encoding of one struct's fields (the
/// tagged-field section is added here), which bounds the count.
pub(crate) fn structs_of<'a, T>(
    d: &mut Decoder<'a>,
    flex: bool,
    min_fields: usize,
    mut f: impl FnMut(&mut Decoder<'a>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    d.array_of(flex, min_fields + usize::from(flex), |d| {
        let item = f(d)?;
        if flex {
            d.skip_tagged_fields()?;
        }
        Ok(item)
    })
}

/// Writes the transactional id, producer id and producer epoch that most
/// transaction requests start with.
pub(crate) fn put_txn_producer(
    buf: &mut Vec<u8>,
    (transactional_id, producer_id, producer_epoch): (&str, i64, i16),
    flex: bool,
) -> Result<(), EncodeError> {
    buf.put_string(transactional_id, flex)?;
    buf.put_i64(producer_id);
    buf.put_i16(producer_epoch);
    Ok(())
}

/// Reads what [`put_txn_producer`] writes.
pub(crate) fn txn_producer(d: &mut Decoder<'_>, flex: bool) -> Result<(String, i64, i16), DecodeError> {
    Ok((d.string(flex)?, d.i64()?, d.i16()?))
}

/// Writes the shape several responses share: topics by name, each with an
/// error code per partition. `topic` gives a topic's name and partitions,
/// `partition` a partition's index and error code.
pub(crate) fn put_partition_errors<T, P>(
    buf: &mut Vec<u8>,
    topics: &[T],
    flex: bool,
    topic: impl for<'t> Fn(&'t T) -> (&'t str, &'t [P]),
    partition: impl Fn(&P) -> (i32, i16),
) -> Result<(), EncodeError> {
    put_structs(buf, topics, flex, |buf, t| {
        let (name, partitions) = topic(t);
        buf.put_string(name, flex)?;
        put_structs(buf, partitions, flex, |buf, p| {
            let (index, error_code) = partition(p);
            buf.put_i32(index);
            buf.put_i16(error_code);
            Ok(())
        })
    })
}

/// Reads what [`put_partition_errors`] writes: `topic` builds a topic from
/// its name and partitions, `partition` a partition from its index and error
/// code.
pub(crate) fn partition_errors<T, P>(
    d: &mut Decoder<'_>,
    flex: bool,
    topic: impl Fn(String, Vec<P>) -> T,
    partition: impl Fn(i32, i16) -> P,
) -> Result<Vec<T>, DecodeError> {
    structs_of(d, flex, min_str(flex) + min_len(flex), |d| {
        let name = d.string(flex)?;
        let partitions = structs_of(d, flex, 4 + 2, |d| Ok(partition(d.i32()?, d.i16()?)))?;
        Ok(topic(name, partitions))
    })
}

/// `Ok` if `is_default`, else [`EncodeError::FieldNotInVersion`]: for a
/// field that `version` cannot carry and that must not be dropped silently.
pub(crate) fn check_absent(is_default: bool, field: &'static str, version: i16) -> Result<(), EncodeError> {
    if is_default {
        Ok(())
    } else {
        Err(EncodeError::FieldNotInVersion { field, version })
    }
}

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
    FindCoordinator => find_coordinator::FindCoordinatorRequest, find_coordinator::FindCoordinatorResponse;
    AddPartitionsToTxn => add_partitions_to_txn::AddPartitionsToTxnRequest, add_partitions_to_txn::AddPartitionsToTxnResponse;
    AddOffsetsToTxn => add_offsets_to_txn::AddOffsetsToTxnRequest, add_offsets_to_txn::AddOffsetsToTxnResponse;
    EndTxn => end_txn::EndTxnRequest, end_txn::EndTxnResponse;
    TxnOffsetCommit => txn_offset_commit::TxnOffsetCommitRequest, txn_offset_commit::TxnOffsetCommitResponse;
    SaslHandshake => sasl_handshake::SaslHandshakeRequest, sasl_handshake::SaslHandshakeResponse;
    SaslAuthenticate => sasl_authenticate::SaslAuthenticateRequest, sasl_authenticate::SaslAuthenticateResponse;
    GetTelemetrySubscriptions => get_telemetry_subscriptions::GetTelemetrySubscriptionsRequest, get_telemetry_subscriptions::GetTelemetrySubscriptionsResponse;
    PushTelemetry => push_telemetry::PushTelemetryRequest, push_telemetry::PushTelemetryResponse;
}
