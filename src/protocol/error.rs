//! Errors of the wire codec.

use std::fmt;

/// Why bytes could not be decoded. Every hostile or corrupt input ends in one
/// of these; no input makes the codec panic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended early: a value needed `needed` bytes, `remaining` were left.
    Truncated {
        /// Bytes the value needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A length or count was negative (other than `-1`, which means null).
    NegativeLength(i64),
    /// An array or section count could not fit in the bytes that remain.
    CountTooLarge {
        /// The count read off the wire.
        count: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A varint ran past its maximum length (5 bytes, 10 for varlongs).
    VarintOverflow,
    /// A string was not valid UTF-8.
    InvalidUtf8,
    /// A null appeared where the schema does not allow one.
    UnexpectedNull(&'static str),
    /// Bytes were left over after a complete message or structure.
    TrailingBytes(usize),
    /// A frame's size prefix exceeded the configured maximum.
    FrameTooLarge {
        /// The size the frame claimed.
        size: i64,
        /// The maximum allowed.
        max: usize,
    },
    /// The API key is not one this codec implements.
    UnknownApiKey(i16),
    /// The version is outside the range this codec implements for the API.
    UnsupportedVersion {
        /// The API key.
        api_key: i16,
        /// The version that was asked for.
        version: i16,
    },
    /// A record batch's stored CRC-32C did not match its contents.
    CrcMismatch {
        /// CRC stored in the batch.
        stored: u32,
        /// CRC computed over the bytes.
        computed: u32,
    },
    /// A decompressed records section would exceed the size cap.
    DecompressedTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// A compressed section could not be decompressed.
    Decompression(String),
    /// A compression codec this build does not include (enable its feature).
    UnsupportedCompression(&'static str),
    /// A value broke a rule of the format (the text says which).
    Invalid(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, remaining } => {
                write!(f, "truncated input: needed {needed} bytes, {remaining} remaining")
            }
            Self::NegativeLength(l) => write!(f, "invalid negative length {l}"),
            Self::CountTooLarge { count, remaining } => {
                write!(f, "count {count} cannot fit in the {remaining} bytes remaining")
            }
            Self::VarintOverflow => f.write_str("varint longer than its maximum encoding"),
            Self::InvalidUtf8 => f.write_str("string is not valid UTF-8"),
            Self::UnexpectedNull(what) => write!(f, "unexpected null {what}"),
            Self::TrailingBytes(n) => write!(f, "{n} unexpected trailing bytes"),
            Self::FrameTooLarge { size, max } => {
                write!(f, "frame size {size} outside the allowed 0..={max}")
            }
            Self::UnknownApiKey(k) => write!(f, "unknown API key {k}"),
            Self::UnsupportedVersion { api_key, version } => {
                write!(f, "unsupported version {version} for API key {api_key}")
            }
            Self::CrcMismatch { stored, computed } => {
                write!(f, "record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            Self::DecompressedTooLarge { limit } => {
                write!(f, "decompressed data exceeds the limit of {limit} bytes")
            }
            Self::Decompression(e) => write!(f, "decompression failed: {e}"),
            Self::UnsupportedCompression(c) => {
                write!(f, "compression codec {c} is not enabled in this build (enable the `{c}` feature)")
            }
            Self::Invalid(what) => write!(f, "invalid data: {what}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// A string, byte array or array is longer than its length prefix can say.
    TooLong {
        /// What kind of value.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// The version is outside the range this codec implements for the API.
    UnsupportedVersion {
        /// The API key.
        api_key: i16,
        /// The version that was asked for.
        version: i16,
    },
    /// A field holds a non-default value that the chosen version cannot carry.
    FieldNotInVersion {
        /// The field.
        field: &'static str,
        /// The version.
        version: i16,
    },
    /// Compressing a records section failed.
    Compression(String),
    /// A compression codec this build does not include (enable its feature).
    UnsupportedCompression(&'static str),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { what, len } => write!(f, "{what} of length {len} is too long to encode"),
            Self::UnsupportedVersion { api_key, version } => {
                write!(f, "unsupported version {version} for API key {api_key}")
            }
            Self::FieldNotInVersion { field, version } => {
                write!(f, "field {field} cannot be sent in version {version}")
            }
            Self::Compression(e) => write!(f, "compression failed: {e}"),
            Self::UnsupportedCompression(c) => {
                write!(f, "compression codec {c} is not enabled in this build (enable the `{c}` feature)")
            }
        }
    }
}

impl std::error::Error for EncodeError {}
