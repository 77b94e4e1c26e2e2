//! [`ConfigError`]: why a configuration was rejected, naming the key.

use std::fmt;

use crate::protocol::compression::Compression;

/// Why a configuration was rejected. Every variant names the offending key
/// ([`ConfigError::key`]), spelled as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No producer property has this name.
    UnknownKey {
        /// The key as given.
        key: String,
    },
    /// A Kafka property this crate knows but does not implement.
    Unsupported {
        /// The key as given.
        key: String,
        /// What is missing, and what to do instead if anything.
        reason: &'static str,
    },
    /// The value could not be parsed.
    InvalidValue {
        /// The key as given.
        key: String,
        /// The offending value (for `bootstrap.servers`, the offending entry).
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The value parsed but is outside the allowed range.
    OutOfRange {
        /// The key as given.
        key: String,
        /// The value, as given or as the typed setter's value in the property's unit.
        value: String,
        /// The allowed range.
        allowed: String,
    },
    /// A required property was not set.
    Missing {
        /// The required key.
        key: &'static str,
    },
    /// The codec was not compiled into this build of the crate.
    FeatureMissing {
        /// The key as given (`compression.type` or `compression.codec`).
        key: String,
        /// The codec asked for.
        codec: Compression,
        /// The cargo feature of `kafka-sync` that adds it.
        feature: &'static str,
    },
    /// The value parsed, but what it names cannot be used: a file that cannot
    /// be read, a certificate or key that does not parse, a wrong key password.
    Unusable {
        /// The key as given.
        key: String,
        /// What is wrong (never containing a secret).
        reason: String,
    },
    /// The value needs a cargo feature of `kafka-sync` that this build lacks.
    NeedsFeature {
        /// The key as given.
        key: String,
        /// The value asked for.
        value: String,
        /// The cargo feature that adds it.
        feature: &'static str,
    },
    /// The value contradicts another property.
    Conflict {
        /// The key whose value has to change.
        key: String,
        /// Its value.
        value: String,
        /// The other property (or properties) it contradicts.
        other: String,
        /// Why the two cannot go together.
        reason: &'static str,
    },
}

impl ConfigError {
    /// The offending property, as the user spelled it.
    pub fn key(&self) -> &str {
        match self {
            ConfigError::UnknownKey { key }
            | ConfigError::Unsupported { key, .. }
            | ConfigError::InvalidValue { key, .. }
            | ConfigError::OutOfRange { key, .. }
            | ConfigError::FeatureMissing { key, .. }
            | ConfigError::Conflict { key, .. }
            | ConfigError::Unusable { key, .. }
            | ConfigError::NeedsFeature { key, .. } => key,
            ConfigError::Missing { key } => key,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownKey { key } => write!(f, "`{key}` is not a producer property"),
            ConfigError::Unsupported { key, reason } => {
                write!(f, "`{key}` is not supported by kafka-sync: {reason}")
            }
            ConfigError::InvalidValue { key, value, expected } => {
                write!(f, "invalid value {value:?} for `{key}`: expected {expected}")
            }
            ConfigError::OutOfRange { key, value, allowed } => {
                write!(f, "`{key}` = {value} is out of range: {allowed}")
            }
            ConfigError::Missing { key } => write!(f, "`{key}` is required"),
            ConfigError::FeatureMissing { key, codec, feature } => {
                write!(f, "`{key}` = {codec} needs kafka-sync built with the cargo feature `{feature}`")
            }
            ConfigError::Unusable { key, reason } => write!(f, "`{key}`: {reason}"),
            ConfigError::NeedsFeature { key, value, feature } => {
                write!(f, "`{key}` = {value} needs kafka-sync built with the cargo feature `{feature}`")
            }
            ConfigError::Conflict { key, value, other, reason } => {
                write!(f, "`{key}` = {value} conflicts with {other}: {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}
