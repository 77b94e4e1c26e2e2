//! ApiVersions (API key 18): which versions of which APIs a broker supports.
//!
//! Versions 0-4. Version 3 is the first flexible version and adds the client
//! software name and version; version 4 is identical on the wire to 3.
//! The response header is always v0 so a client can parse it before it knows
//! anything about the broker; a broker that does not support the requested
//! version answers in v0 with `UNSUPPORTED_VERSION` (35) and its own range
//! ([`ApiVersionsResponse::decode_fallback`]).

use crate::protocol::error::{DecodeError, EncodeError};
use crate::protocol::primitives::{Decoder, TaggedFields, Writer};
use crate::protocol::{api_key, messages, Message, Request, VersionRange};

/// The ApiVersions request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionsRequest {
    /// The name of the client software. Added in v3.
    pub client_software_name: String,
    /// The version of the client software. Added in v3.
    pub client_software_version: String,
}

impl Default for ApiVersionsRequest {
    fn default() -> Self {
        Self {
            client_software_name: "kafka-sync".into(),
            client_software_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

impl Message for ApiVersionsRequest {
    const API_KEY: i16 = api_key::API_VERSIONS;
    const VERSIONS: VersionRange = VersionRange::new(0, 4);
    const FLEXIBLE_FROM: i16 = 3;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        if version >= 3 {
            buf.put_string(&self.client_software_name, true)?;
            buf.put_string(&self.client_software_version, true)?;
            buf.put_empty_tagged_fields();
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let mut r = Self { client_software_name: String::new(), client_software_version: String::new() };
        if version >= 3 {
            r.client_software_name = d.string(true)?;
            r.client_software_version = d.string(true)?;
            d.skip_tagged_fields()?;
        }
        Ok(r)
    }
}

impl Request for ApiVersionsRequest {
    type Response = ApiVersionsResponse;

    fn response_header_version(_version: i16) -> i16 {
        0
    }
}

/// One API's supported version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersion {
    /// The API key.
    pub api_key: i16,
    /// The minimum supported version, inclusive.
    pub min_version: i16,
    /// The maximum supported version, inclusive.
    pub max_version: i16,
}

/// A feature the broker supports (tagged field, v3+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportedFeature {
    /// The feature name.
    pub name: String,
    /// Minimum supported version.
    pub min_version: i16,
    /// Maximum supported version.
    pub max_version: i16,
}

/// A cluster-wide finalized feature (tagged field, v3+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalizedFeature {
    /// The feature name.
    pub name: String,
    /// The finalized max version level.
    pub max_version_level: i16,
    /// The finalized min version level.
    pub min_version_level: i16,
}

/// The ApiVersions response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionsResponse {
    /// The top-level error code.
    pub error_code: i16,
    /// The APIs the broker supports.
    pub api_keys: Vec<ApiVersion>,
    /// Throttle time in milliseconds. Added in v1.
    pub throttle_time_ms: i32,
    /// Features the broker supports. Tagged field 0, v3+.
    pub supported_features: Vec<SupportedFeature>,
    /// Epoch of the finalized features, `-1` if unknown. Tagged field 1, v3+.
    pub finalized_features_epoch: i64,
    /// Cluster-wide finalized features. Tagged field 2, v3+.
    pub finalized_features: Vec<FinalizedFeature>,
    /// Whether a KRaft controller is ready for ZK migration. Tagged field 3, v3+.
    pub zk_migration_ready: bool,
}

impl Default for ApiVersionsResponse {
    fn default() -> Self {
        Self {
            error_code: 0,
            api_keys: Vec::new(),
            throttle_time_ms: 0,
            supported_features: Vec::new(),
            finalized_features_epoch: -1,
            finalized_features: Vec::new(),
            zk_migration_ready: false,
        }
    }
}

impl Message for ApiVersionsResponse {
    const API_KEY: i16 = api_key::API_VERSIONS;
    const VERSIONS: VersionRange = VersionRange::new(0, 4);
    const FLEXIBLE_FROM: i16 = 3;

    fn encode_body(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError> {
        let flex = Self::is_flexible(version);
        buf.put_i16(self.error_code);
        buf.put_array_len(self.api_keys.len(), flex)?;
        for k in &self.api_keys {
            buf.put_i16(k.api_key);
            buf.put_i16(k.min_version);
            buf.put_i16(k.max_version);
            if flex {
                buf.put_empty_tagged_fields();
            }
        }
        if version >= 1 {
            buf.put_i32(self.throttle_time_ms);
        }
        if flex {
            let mut tags = TaggedFields::new();
            if !self.supported_features.is_empty() {
                tags.try_field(0, |b| {
                    b.put_array_len(self.supported_features.len(), true)?;
                    for f in &self.supported_features {
                        b.put_string(&f.name, true)?;
                        b.put_i16(f.min_version);
                        b.put_i16(f.max_version);
                        b.put_empty_tagged_fields();
                    }
                    Ok(())
                })?;
            }
            if self.finalized_features_epoch != -1 {
                tags.field(1, |b| b.put_i64(self.finalized_features_epoch));
            }
            if !self.finalized_features.is_empty() {
                tags.try_field(2, |b| {
                    b.put_array_len(self.finalized_features.len(), true)?;
                    for f in &self.finalized_features {
                        b.put_string(&f.name, true)?;
                        b.put_i16(f.max_version_level);
                        b.put_i16(f.min_version_level);
                        b.put_empty_tagged_fields();
                    }
                    Ok(())
                })?;
            }
            if self.zk_migration_ready {
                tags.field(3, |b| b.put_bool(true));
            }
            tags.write(buf);
        }
        Ok(())
    }

    fn decode_body(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flex = Self::is_flexible(version);
        let mut r = Self { error_code: d.i16()?, ..Self::default() };
        // Each element is at least 6 bytes (+1 tagged-field byte when flexible).
        r.api_keys = d.array_of(flex, 6 + usize::from(flex), |d| {
            let k = ApiVersion { api_key: d.i16()?, min_version: d.i16()?, max_version: d.i16()? };
            if flex {
                d.skip_tagged_fields()?;
            }
            Ok(k)
        })?;
        if version >= 1 {
            r.throttle_time_ms = d.i32()?;
        }
        if flex {
            d.tagged_fields(|tag, f| {
                match tag {
                    0 => {
                        r.supported_features = f.array_of(true, 6, |f| {
                            let s = SupportedFeature {
                                name: f.string(true)?,
                                min_version: f.i16()?,
                                max_version: f.i16()?,
                            };
                            f.skip_tagged_fields()?;
                            Ok(s)
                        })?
                    }
                    1 => r.finalized_features_epoch = f.i64()?,
                    2 => {
                        r.finalized_features = f.array_of(true, 6, |f| {
                            let s = FinalizedFeature {
                                name: f.string(true)?,
                                max_version_level: f.i16()?,
                                min_version_level: f.i16()?,
                            };
                            f.skip_tagged_fields()?;
                            Ok(s)
                        })?
                    }
                    3 => r.zk_migration_ready = f.bool()?,
                    _ => return Ok(false),
                }
                Ok(true)
            })?;
        }
        Ok(r)
    }
}

/// `UNSUPPORTED_VERSION`: the error a broker answers an ApiVersions request
/// of a version it does not know with, in a v0 body.
pub const UNSUPPORTED_VERSION: i16 = 35;

impl ApiVersionsResponse {
    /// Decodes a response body to a request sent at `version`, handling the
    /// fallback brokers use for versions they do not know: the body is then a
    /// v0 body with error `UNSUPPORTED_VERSION` and the broker's own
    /// ApiVersions range, and the client should retry at a version in it.
    /// Checks that no bytes trail the body.
    pub fn decode_fallback(body: &[u8], version: i16) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(body);
        let parsed = Self::decode(&mut d, version).and_then(|r| d.finish().map(|()| r));
        match parsed {
            Ok(r) => Ok(r),
            Err(e) => {
                let code = Decoder::new(body).i16();
                if version > 0 && code == Ok(UNSUPPORTED_VERSION) {
                    let mut d = Decoder::new(body);
                    let r = Self::decode(&mut d, 0)?;
                    d.finish()?;
                    Ok(r)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The broker's version range for `api_key`, if it lists it.
    pub fn range_of(&self, api_key: i16) -> Option<VersionRange> {
        self.api_keys
            .iter()
            .find(|k| k.api_key == api_key)
            .map(|k| VersionRange::new(k.min_version, k.max_version))
    }
}

/// The versions negotiated with one broker: per API, the highest version both
/// this codec and the broker support.
///
/// ```
/// use kafka_sync::protocol::messages::api_versions::{ApiVersion, ApiVersionsResponse, NegotiatedVersions};
/// use kafka_sync::protocol::messages::produce::ProduceRequest;
///
/// // A Kafka 4.0 broker still advertises Produce v0-v12 but rejects v0-v2.
/// let broker = ApiVersionsResponse {
///     api_keys: vec![ApiVersion { api_key: 0, min_version: 0, max_version: 12 }],
///     ..Default::default()
/// };
/// let v = NegotiatedVersions::new(&broker);
/// assert!(v.version_of::<ProduceRequest>().unwrap() >= 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NegotiatedVersions {
    /// (api key, version) pairs, for the APIs both sides support.
    versions: Vec<(i16, i16)>,
    /// The broker's finalized features: (name, max version level).
    features: Vec<(String, i16)>,
}

impl NegotiatedVersions {
    /// Negotiates against a broker's ApiVersions response.
    ///
    /// Produce is never negotiated below v3 (the first with record batch v2),
    /// whatever the broker advertises: this codec's Produce range starts at 3.
    pub fn new(broker: &ApiVersionsResponse) -> Self {
        let versions = messages::API_KEYS
            .iter()
            .filter_map(|&k| {
                let ours = messages::supported_versions(k)?;
                let theirs = broker.range_of(k)?;
                ours.highest_common(theirs).map(|v| (k, v))
            })
            .collect();
        let features =
            broker.finalized_features.iter().map(|f| (f.name.clone(), f.max_version_level)).collect();
        Self { versions, features }
    }

    /// The finalized (cluster-wide) max version level of feature `name`
    /// (e.g. `transaction.version`), if the broker reported it (ApiVersions v3+).
    pub fn finalized(&self, name: &str) -> Option<i16> {
        self.features.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// The negotiated version of API `api_key`, if both sides support one.
    pub fn get(&self, api_key: i16) -> Option<i16> {
        self.versions.iter().find(|(k, _)| *k == api_key).map(|(_, v)| *v)
    }

    /// The negotiated version for request type `R`, if both sides support one.
    pub fn version_of<R: Request>(&self) -> Option<i16> {
        self.get(R::API_KEY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_request_golden_bytes() {
        let req =
            ApiVersionsRequest { client_software_name: "ks".into(), client_software_version: "1".into() };
        let mut b = Vec::new();
        req.encode(&mut b, 3).unwrap();
        assert_eq!(b, [3, b'k', b's', 2, b'1', 0]);
        let mut b = Vec::new();
        req.encode(&mut b, 2).unwrap();
        assert!(b.is_empty());
    }

    #[test]
    fn v0_fallback_after_unsupported_version() {
        // What a broker that only knows ApiVersions v0-v2 answers a v3 request with.
        let v0 = ApiVersionsResponse {
            error_code: UNSUPPORTED_VERSION,
            api_keys: vec![ApiVersion { api_key: 18, min_version: 0, max_version: 2 }],
            ..Default::default()
        };
        let mut b = Vec::new();
        v0.encode(&mut b, 0).unwrap();
        let r = ApiVersionsResponse::decode_fallback(&b, 3).unwrap();
        assert_eq!(r, v0);
    }

    #[test]
    fn negotiation_never_picks_produce_below_3() {
        let broker = ApiVersionsResponse {
            api_keys: vec![
                ApiVersion { api_key: 0, min_version: 0, max_version: 2 },
                ApiVersion { api_key: 3, min_version: 0, max_version: 100 },
            ],
            ..Default::default()
        };
        let v = NegotiatedVersions::new(&broker);
        assert_eq!(v.get(api_key::PRODUCE), None);
        assert_eq!(v.get(api_key::METADATA), Some(messages::supported_versions(3).unwrap().max));
        assert_eq!(v.get(api_key::INIT_PRODUCER_ID), None);
    }
}

/// Proptest strategies producing ApiVersions bodies that are valid at a given
/// version (fields the version cannot carry hold their defaults).
#[cfg(any(test, feature = "proptest"))]
pub mod strategies {
    use super::*;
    use crate::protocol::strategies::{compact_string, small_vec};
    use proptest::prelude::*;

    /// Requests valid at `version`.
    pub fn request(version: i16) -> impl Strategy<Value = ApiVersionsRequest> {
        (compact_string(), compact_string()).prop_map(move |(n, v)| {
            if version >= 3 {
                ApiVersionsRequest { client_software_name: n, client_software_version: v }
            } else {
                ApiVersionsRequest {
                    client_software_name: String::new(),
                    client_software_version: String::new(),
                }
            }
        })
    }

    /// Responses valid at `version`.
    pub fn response(version: i16) -> impl Strategy<Value = ApiVersionsResponse> {
        let key = (any::<i16>(), any::<i16>(), any::<i16>()).prop_map(|(k, a, b)| ApiVersion {
            api_key: k,
            min_version: a,
            max_version: b,
        });
        let sf = (compact_string(), any::<i16>(), any::<i16>())
            .prop_map(|(name, min_version, max_version)| SupportedFeature { name, min_version, max_version });
        let ff = (compact_string(), any::<i16>(), any::<i16>()).prop_map(
            |(name, max_version_level, min_version_level)| FinalizedFeature {
                name,
                max_version_level,
                min_version_level,
            },
        );
        (
            any::<i16>(),
            small_vec(key),
            any::<i32>(),
            small_vec(sf),
            any::<i64>(),
            small_vec(ff),
            any::<bool>(),
        )
            .prop_map(move |(error_code, api_keys, throttle, sf, epoch, ff, zk)| {
                let mut r = ApiVersionsResponse { error_code, api_keys, ..Default::default() };
                if version >= 1 {
                    r.throttle_time_ms = throttle;
                }
                if version >= 3 {
                    r.supported_features = sf;
                    r.finalized_features_epoch = epoch;
                    r.finalized_features = ff;
                    r.zk_migration_ready = zk;
                }
                r
            })
    }
}

#[cfg(test)]
crate::protocol::strategies::message_proptests!(ApiVersionsRequest, ApiVersionsResponse, super::strategies);
