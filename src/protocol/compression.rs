//! Compression of a record batch's records section. STUB: codecs to come;
//! the `Compression` enum below is final.

use std::fmt;

/// A record batch compression codec: bits 0-2 of the batch attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Compression {
    /// No compression (attribute code 0).
    #[default]
    None,
    /// gzip (code 1), through flate2.
    Gzip,
    /// snappy (code 2), written with xerial framing like the Java client.
    Snappy,
    /// lz4 (code 3), Kafka's LZ4 frame format. Needs feature `lz4`.
    Lz4,
    /// zstd (code 4); needs Produce v7+. Needs feature `zstd`.
    Zstd,
}

impl Compression {
    /// Every codec, in attribute-code order.
    pub const ALL: [Compression; 5] =
        [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

    /// The attribute code (0-4).
    pub fn code(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    /// The codec for attribute code `code` (bits 0-2 of the attributes).
    pub fn from_code(code: i16) -> Option<Self> {
        Some(match code {
            0 => Self::None,
            1 => Self::Gzip,
            2 => Self::Snappy,
            3 => Self::Lz4,
            4 => Self::Zstd,
            _ => return None,
        })
    }

    /// The Kafka name (`compression.type` value): none, gzip, snappy, lz4, zstd.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }

    /// Parses a Kafka name (`compression.type` value), case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// Whether this build includes the codec (lz4 and zstd are features).
    pub fn is_available(self) -> bool {
        match self {
            Self::Lz4 => cfg!(feature = "lz4"),
            Self::Zstd => cfg!(feature = "zstd"),
            _ => true,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
