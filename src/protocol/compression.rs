//! Compression of a record batch's records section, in the formats Kafka
//! peers write and read.
//!
//! | codec  | written as | read | levels (`compression.<codec>.level`) |
//! |--------|------------|------|--------------------------------------|
//! | none   | the bytes | the bytes | - |
//! | gzip   | one gzip member (flate2) | one or more concatenated members | 1-9, or -1 for zlib's default (6); default -1 |
//! | snappy | xerial framing, 32 KiB blocks, like the Java client | xerial framing (also concatenated streams) or raw snappy, as librdkafka writes | - |
//! | lz4    | LZ4 frame, 64 KiB independent blocks, no checksums, like the Java client | any LZ4 frame: linked or independent blocks, with or without content size and checksums | 1-17, default 9 (accepted but not used: see below) |
//! | zstd   | one zstd frame with its content size | one or more zstd frames | -131072 to 22, default 3 |
//!
//! lz4 levels: the Java client compresses with lz4's fast compressor at its
//! default level 9 and switches to the high-compression compressor (LZ4HC) for
//! any other level. This crate uses lz4_flex, which only has the fast
//! compressor, so every level produces what Java produces at the default.
//! Levels are still validated so configurations stay portable.
//!
//! [`decompress`] never produces more than its `limit`: it decompresses in
//! chunks and stops with [`DecodeError::DecompressedTooLarge`] as soon as the
//! output would exceed the cap, so a decompression bomb costs memory and time
//! bounded by the cap, not by what the input claims. The decoders' own working
//! memory is bounded too: gzip 32 KiB of window, snappy nothing beyond the
//! output (claimed lengths are checked against the cap before allocating), lz4
//! three blocks of the size the frame declares plus 64 KiB (at most 4 MiB blocks
//! in standard frames, 8 MiB with lz4_flex's extension), zstd the frame's window (at most 128 MiB of address space, zstd's
//! default `windowLogMax`, the same as Kafka's own decoders), of which only the
//! part actually written, at most the cap plus one 128 KiB block, becomes
//! resident.
//!
//! ```
//! use kafka_sync::protocol::compression::{compress, decompress, Compression};
//!
//! let data = b"hello hello hello hello hello hello".repeat(100);
//! let mut packed = Vec::new();
//! compress(Compression::Snappy, None, &data, &mut packed).unwrap();
//! assert_eq!(&packed[..8], b"\x82SNAPPY\0"); // xerial framing, like the Java client
//!
//! let mut back = Vec::new();
//! decompress(Compression::Snappy, &packed, 1 << 20, &mut back).unwrap();
//! assert_eq!(back, data);
//!
//! // A cap below the real size is a clean error.
//! assert!(decompress(Compression::Snappy, &packed, 100, &mut Vec::new()).is_err());
//! ```

use std::fmt;
use std::io::{Read, Write};
use std::ops::RangeInclusive;

use super::error::{DecodeError, EncodeError};

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
        let (lz4, zstd) = (cfg!(feature = "lz4"), cfg!(feature = "zstd"));
        match self {
            Self::Lz4 => lz4,
            Self::Zstd => zstd,
            Self::None | Self::Gzip | Self::Snappy => true,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The levels Kafka accepts for `codec` (`compression.gzip.level`,
/// `compression.lz4.level`, `compression.zstd.level`), or `None` for codecs
/// without levels (none, snappy). gzip also accepts -1, which is outside the
/// range: see [`valid_level`].
pub fn level_range(codec: Compression) -> Option<RangeInclusive<i32>> {
    match codec {
        Compression::Gzip => Some(1..=9),
        Compression::Lz4 => Some(1..=17),
        Compression::Zstd => Some(ZSTD_MIN_LEVEL..=ZSTD_MAX_LEVEL),
        Compression::None | Compression::Snappy => None,
    }
}

/// The level Kafka uses for `codec` when none is configured: gzip -1 (zlib's
/// default, which is level 6), lz4 9, zstd 3; `None` for codecs without levels.
pub fn default_level(codec: Compression) -> Option<i32> {
    match codec {
        Compression::Gzip => Some(GZIP_DEFAULT_LEVEL),
        Compression::Lz4 => Some(LZ4_DEFAULT_LEVEL),
        Compression::Zstd => Some(ZSTD_DEFAULT_LEVEL),
        Compression::None | Compression::Snappy => None,
    }
}

/// Whether Kafka accepts `level` for `codec`, as the Java client validates
/// `compression.<codec>.level`. Always `false` for none and snappy, which have
/// no levels.
pub fn valid_level(codec: Compression, level: i32) -> bool {
    if codec == Compression::Gzip && level == GZIP_DEFAULT_LEVEL {
        return true;
    }
    level_range(codec).is_some_and(|r| r.contains(&level))
}

/// gzip's default level: -1, zlib's `Z_DEFAULT_COMPRESSION` (level 6).
pub const GZIP_DEFAULT_LEVEL: i32 = -1;
/// lz4's default level in Kafka (the level at which Java uses the fast compressor).
pub const LZ4_DEFAULT_LEVEL: i32 = 9;
/// zstd's default level.
pub const ZSTD_DEFAULT_LEVEL: i32 = 3;
/// zstd's lowest level (`ZSTD_minCLevel()`, `-ZSTD_TARGETLENGTH_MAX`).
pub const ZSTD_MIN_LEVEL: i32 = -(1 << 17);
/// zstd's highest level (`ZSTD_maxCLevel()`).
pub const ZSTD_MAX_LEVEL: i32 = 22;

/// The 8-byte magic that starts a xerial-framed snappy stream.
pub const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// The full 16-byte xerial header the Java client writes: magic, version 1,
/// compatible version 1 (big-endian `int32`s).
pub const XERIAL_HEADER: [u8; 16] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1];
/// Uncompressed size of each xerial block, as the Java client writes them.
pub const XERIAL_BLOCK_SIZE: usize = 32 * 1024;

/// Appends `input` compressed with `codec` to `out`.
///
/// `level` is the codec's level (see [`valid_level`]), `None` for its default;
/// codecs without levels ignore it. Fails with
/// [`EncodeError::UnsupportedCompression`] for lz4 and zstd when their feature
/// is disabled, and with [`EncodeError::Compression`] for a level the codec
/// does not accept. On error, `out` may hold a partial result past its
/// original length.
pub fn compress(
    codec: Compression,
    level: Option<i32>,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if let Some(l) = level {
        if level_range(codec).is_some() && !valid_level(codec, l) {
            return Err(EncodeError::Compression(format!("invalid {codec} compression level {l}")));
        }
    }
    match codec {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => gzip_compress(level, input, out),
        Compression::Snappy => snappy_compress(input, out),
        Compression::Lz4 => lz4_compress(input, out),
        Compression::Zstd => zstd_compress(level, input, out),
    }
}

/// Appends `input` decompressed with `codec` to `out`, producing at most
/// `limit` bytes.
///
/// Output beyond `limit` fails with [`DecodeError::DecompressedTooLarge`],
/// detected as soon as the decoder produces the first byte past the cap.
/// Corrupt input fails with [`DecodeError::Decompression`]; lz4 and zstd
/// without their feature with [`DecodeError::UnsupportedCompression`]. On
/// error, `out` is left as it was.
pub fn decompress(
    codec: Compression,
    input: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let start = out.len();
    let result = match codec {
        Compression::None => {
            if input.len() > limit {
                Err(DecodeError::DecompressedTooLarge { limit })
            } else {
                out.extend_from_slice(input);
                Ok(())
            }
        }
        Compression::Gzip => read_capped(flate2::bufread::MultiGzDecoder::new(input), limit, out),
        Compression::Snappy => snappy_decompress(input, limit, out),
        Compression::Lz4 => lz4_decompress(input, limit, out),
        Compression::Zstd => zstd_decompress(input, limit, out),
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Bytes each read from a streaming decoder asks for.
const READ_CHUNK: usize = 64 * 1024;

/// Reads `r` to its end into `out`, failing once more than `limit` bytes came out.
fn read_capped(mut r: impl Read, limit: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let start = out.len();
    loop {
        let produced = out.len() - start;
        // Ask for at most one byte past the cap: getting it proves the cap is exceeded.
        let want = READ_CHUNK.min(limit - produced + 1);
        let len = out.len();
        out.resize(len + want, 0);
        let n = match r.read(&mut out[len..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
            Err(e) => {
                out.truncate(len);
                return Err(DecodeError::Decompression(e.to_string()));
            }
        };
        out.truncate(len + n);
        if n == 0 {
            return Ok(());
        }
        if out.len() - start > limit {
            return Err(DecodeError::DecompressedTooLarge { limit });
        }
    }
}

fn io_encode_error(e: std::io::Error) -> EncodeError {
    EncodeError::Compression(e.to_string())
}

fn gzip_compress(level: Option<i32>, input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let level = match level {
        Some(l) if l != GZIP_DEFAULT_LEVEL => flate2::Compression::new(l as u32),
        _ => flate2::Compression::default(),
    };
    let mut enc = flate2::write::GzEncoder::new(out, level);
    enc.write_all(input).map_err(io_encode_error)?;
    enc.finish().map_err(io_encode_error)?;
    Ok(())
}

fn snappy_compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.extend_from_slice(&XERIAL_HEADER);
    let mut enc = snap::raw::Encoder::new();
    for block in input.chunks(XERIAL_BLOCK_SIZE) {
        let len_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let data_at = out.len();
        out.resize(data_at + snap::raw::max_compress_len(block.len()), 0);
        let n =
            enc.compress(block, &mut out[data_at..]).map_err(|e| EncodeError::Compression(e.to_string()))?;
        out.truncate(data_at + n);
        // n <= max_compress_len(32 KiB), far below i32::MAX.
        out[len_at..data_at].copy_from_slice(&(n as u32).to_be_bytes());
    }
    Ok(())
}

fn snappy_decompress(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let mut dec = snap::raw::Decoder::new();
    if !input.starts_with(&XERIAL_MAGIC) {
        // Not xerial-framed: one raw snappy block, as librdkafka writes it.
        return snappy_block(&mut dec, input, limit, limit, out);
    }
    let start = out.len();
    let mut rest = input;
    while !rest.is_empty() {
        if rest.starts_with(&XERIAL_MAGIC) {
            // A stream header, first or of a concatenated stream.
            if rest.len() < XERIAL_HEADER.len() {
                return Err(DecodeError::Decompression("truncated xerial snappy header".into()));
            }
            let version = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
            if version < 1 {
                return Err(DecodeError::Decompression(format!(
                    "unsupported xerial snappy version {version}"
                )));
            }
            rest = &rest[XERIAL_HEADER.len()..];
            continue;
        }
        if rest.len() < 4 {
            return Err(DecodeError::Decompression("truncated xerial snappy block length".into()));
        }
        let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        rest = &rest[4..];
        let len = usize::try_from(len).map_err(|_| DecodeError::NegativeLength(len.into()))?;
        if len > rest.len() {
            return Err(DecodeError::Decompression(format!(
                "xerial snappy block of {len} bytes but only {} remain",
                rest.len()
            )));
        }
        let (block, tail) = rest.split_at(len);
        let budget = limit - (out.len() - start);
        snappy_block(&mut dec, block, budget, limit, out)?;
        rest = tail;
    }
    Ok(())
}

/// Appends one raw snappy block, after checking its claimed length against
/// `budget`, what remains of the overall `limit`.
fn snappy_block(
    dec: &mut snap::raw::Decoder,
    block: &[u8],
    budget: usize,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let n = snap::raw::decompress_len(block).map_err(|e| DecodeError::Decompression(e.to_string()))?;
    if n > budget {
        return Err(DecodeError::DecompressedTooLarge { limit });
    }
    let at = out.len();
    out.resize(at + n, 0);
    let written =
        dec.decompress(block, &mut out[at..]).map_err(|e| DecodeError::Decompression(e.to_string()))?;
    out.truncate(at + written);
    Ok(())
}

#[cfg(feature = "lz4")]
fn lz4_compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    // What Java's Lz4BlockOutputStream writes: an LZ4 frame of 64 KiB
    // independent blocks, no block or content checksum, no content size; a
    // block that does not shrink is stored as it is (the size's high bit
    // set). Written block by block straight into `out`: lz4_flex's
    // FrameEncoder copies the input into its own block buffer and each
    // compressed block out of another, which took 1.6 ms for a 1 MB batch
    // against 1.2 ms this way.
    out.extend_from_slice(&LZ4_FRAME_HEADER);
    for block in input.chunks(LZ4_BLOCK_SIZE) {
        let at = out.len();
        out.resize(at + 4 + lz4_flex::block::get_maximum_output_size(block.len()), 0);
        let n = lz4_flex::block::compress_into(block, &mut out[at + 4..])
            .map_err(|e| EncodeError::Compression(e.to_string()))?;
        let size = if n < block.len() {
            out.truncate(at + 4 + n);
            n as u32
        } else {
            out.truncate(at + 4);
            out.extend_from_slice(block);
            block.len() as u32 | LZ4_UNCOMPRESSED_BLOCK
        };
        out[at..at + 4].copy_from_slice(&size.to_le_bytes());
    }
    out.extend_from_slice(&0u32.to_le_bytes()); // end mark
    Ok(())
}

/// An LZ4 frame's header as Java writes it: the magic number; FLG 0x60
/// (version 01, independent blocks, no checksums, no content size); BD 0x40
/// (64 KiB blocks); the descriptor's checksum (the second byte of the
/// XXH32 of FLG and BD).
#[cfg(feature = "lz4")]
const LZ4_FRAME_HEADER: [u8; 7] = [0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82];

/// The uncompressed size of an LZ4 block (BD 0x40).
#[cfg(feature = "lz4")]
const LZ4_BLOCK_SIZE: usize = 64 * 1024;

/// A block size's flag for a block stored uncompressed.
#[cfg(feature = "lz4")]
const LZ4_UNCOMPRESSED_BLOCK: u32 = 1 << 31;

#[cfg(not(feature = "lz4"))]
fn lz4_compress(_input: &[u8], _out: &mut Vec<u8>) -> Result<(), EncodeError> {
    Err(EncodeError::UnsupportedCompression("lz4"))
}

#[cfg(feature = "lz4")]
fn lz4_decompress(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    read_capped(lz4_flex::frame::FrameDecoder::new(input), limit, out)
}

#[cfg(not(feature = "lz4"))]
fn lz4_decompress(_input: &[u8], _limit: usize, _out: &mut Vec<u8>) -> Result<(), DecodeError> {
    Err(DecodeError::UnsupportedCompression("lz4"))
}

/// One frame in one call (`ZSTD_compress2`), with a compression context
/// kept per thread (the I/O threads compress): no context allocated and
/// freed per batch. The frame goes straight into `out`'s spare capacity,
/// reserved but not zero-filled, so only the pages zstd writes are
/// touched. The frame carries its content size (the input's size is known),
/// which also lets zstd shrink the window for small batches, saving the
/// reader memory.
#[cfg(feature = "zstd")]
fn zstd_compress(level: Option<i32>, input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    use std::cell::RefCell;
    use zstd::zstd_safe::{CCtx, CParameter};
    thread_local! {
        static CONTEXT: RefCell<Option<(i32, CCtx<'static>)>> = const { RefCell::new(None) };
    }
    let zstd_error = |code| EncodeError::Compression(zstd::zstd_safe::get_error_name(code).to_string());
    let level = level.unwrap_or(ZSTD_DEFAULT_LEVEL);
    CONTEXT.with(|cell| {
        let mut kept = cell.borrow_mut();
        let cctx = match &mut *kept {
            Some((l, c)) if *l == level => c,
            other => {
                let mut c = CCtx::try_create()
                    .ok_or_else(|| EncodeError::Compression("zstd: cannot create a context".into()))?;
                c.set_parameter(CParameter::CompressionLevel(level)).map_err(zstd_error)?;
                &mut other.insert((level, c)).1
            }
        };
        let start = out.len();
        out.reserve(zstd::zstd_safe::compress_bound(input.len()));
        let mut at = std::io::Cursor::new(&mut *out);
        at.set_position(start as u64);
        match cctx.compress2(&mut at, input) {
            Ok(_) => Ok(()),
            Err(code) => {
                // A failed call leaves the context mid-frame: start afresh.
                *kept = None;
                out.truncate(start);
                Err(zstd_error(code))
            }
        }
    })
}

#[cfg(not(feature = "zstd"))]
fn zstd_compress(_level: Option<i32>, _input: &[u8], _out: &mut Vec<u8>) -> Result<(), EncodeError> {
    Err(EncodeError::UnsupportedCompression("zstd"))
}

#[cfg(feature = "zstd")]
fn zstd_decompress(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let dec = zstd::stream::read::Decoder::with_buffer(input)
        .map_err(|e| DecodeError::Decompression(e.to_string()))?;
    read_capped(dec, limit, out)
}

#[cfg(not(feature = "zstd"))]
fn zstd_decompress(_input: &[u8], _limit: usize, _out: &mut Vec<u8>) -> Result<(), DecodeError> {
    Err(DecodeError::UnsupportedCompression("zstd"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn available() -> Vec<Compression> {
        Compression::ALL.into_iter().filter(|c| c.is_available()).collect()
    }

    fn round_trip(codec: Compression, level: Option<i32>, data: &[u8]) {
        let mut packed = vec![0xAA]; // compress appends
        compress(codec, level, data, &mut packed).unwrap();
        assert_eq!(packed[0], 0xAA);
        let mut back = vec![0xBB]; // decompress appends
        decompress(codec, &packed[1..], data.len(), &mut back).unwrap();
        assert_eq!(&back[1..], data, "{codec} level {level:?}");
        if !data.is_empty() {
            let mut short = vec![0xCC];
            let err = decompress(codec, &packed[1..], data.len() - 1, &mut short).unwrap_err();
            assert_eq!(err, DecodeError::DecompressedTooLarge { limit: data.len() - 1 }, "{codec}");
            assert_eq!(short, [0xCC], "out is left as it was on error");
        }
    }

    proptest! {
        #[test]
        fn every_codec_round_trips(
            codec in proptest::sample::select(available()),
            data in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..2000),
                (any::<u8>(), 0usize..200_000).prop_map(|(b, n)| vec![b; n]),
            ],
        ) {
            round_trip(codec, None, &data);
        }
    }

    #[test]
    fn every_level_works() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8 ^ (i / 1000) as u8).collect();
        for codec in available() {
            if let Some(r) = level_range(codec) {
                let levels: Vec<i32> = if codec == Compression::Zstd {
                    vec![ZSTD_MIN_LEVEL, -5, 0, 1, 3, 19, 22]
                } else {
                    r.collect()
                };
                for l in levels {
                    round_trip(codec, Some(l), &data);
                }
            }
        }
        round_trip(Compression::Gzip, Some(-1), &data);
    }

    #[test]
    fn levels_as_kafka_validates_them() {
        assert!(valid_level(Compression::Gzip, -1));
        assert!(valid_level(Compression::Gzip, 1) && valid_level(Compression::Gzip, 9));
        assert!(!valid_level(Compression::Gzip, 0) && !valid_level(Compression::Gzip, 10));
        assert!(valid_level(Compression::Lz4, 1) && valid_level(Compression::Lz4, 17));
        assert!(!valid_level(Compression::Lz4, 0) && !valid_level(Compression::Lz4, 18));
        assert!(valid_level(Compression::Zstd, -131072) && valid_level(Compression::Zstd, 22));
        assert!(!valid_level(Compression::Zstd, -131073) && !valid_level(Compression::Zstd, 23));
        assert!(!valid_level(Compression::None, 1) && !valid_level(Compression::Snappy, 1));
        assert_eq!(default_level(Compression::Gzip), Some(-1));
        assert_eq!(default_level(Compression::Lz4), Some(9));
        assert_eq!(default_level(Compression::Zstd), Some(3));
        assert_eq!(default_level(Compression::Snappy), None);
        for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
            assert!(valid_level(codec, default_level(codec).unwrap()));
        }
        let err = compress(Compression::Gzip, Some(10), b"x", &mut Vec::new()).unwrap_err();
        assert!(matches!(err, EncodeError::Compression(_)));
        // Codecs without levels ignore them.
        compress(Compression::Snappy, Some(100), b"x", &mut Vec::new()).unwrap();
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_level_bounds_match_the_library() {
        assert_eq!(ZSTD_MIN_LEVEL, zstd::zstd_safe::min_c_level());
        assert_eq!(ZSTD_MAX_LEVEL, zstd::zstd_safe::max_c_level());
        assert_eq!(ZSTD_DEFAULT_LEVEL, zstd::DEFAULT_COMPRESSION_LEVEL);
    }

    #[test]
    fn snappy_writes_java_xerial_framing() {
        // 70000 bytes: blocks of 32768, 32768 and 4464 uncompressed bytes.
        let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let mut out = Vec::new();
        compress(Compression::Snappy, None, &data, &mut out).unwrap();
        assert_eq!(&out[..16], &[0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
        let mut rest = &out[16..];
        let mut sizes = Vec::new();
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let block = &rest[4..4 + len];
            sizes.push(snap::raw::decompress_len(block).unwrap());
            rest = &rest[4 + len..];
        }
        assert_eq!(sizes, [32768, 32768, 4464]);
        // Empty input: just the header.
        let mut empty = Vec::new();
        compress(Compression::Snappy, None, b"", &mut empty).unwrap();
        assert_eq!(empty, XERIAL_HEADER);
        let mut back = Vec::new();
        decompress(Compression::Snappy, &empty, 0, &mut back).unwrap();
        assert!(back.is_empty());
    }

    #[test]
    fn snappy_reads_raw_and_concatenated_xerial() {
        let data = b"raw snappy as librdkafka writes it, raw snappy as librdkafka writes it".repeat(50);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let mut back = Vec::new();
        decompress(Compression::Snappy, &raw, data.len(), &mut back).unwrap();
        assert_eq!(back, data);

        let mut two = Vec::new();
        compress(Compression::Snappy, None, b"first ", &mut two).unwrap();
        compress(Compression::Snappy, None, b"second", &mut two).unwrap();
        let mut back = Vec::new();
        decompress(Compression::Snappy, &two, 100, &mut back).unwrap();
        assert_eq!(back, b"first second");
    }

    #[test]
    fn snappy_rejects_lying_xerial_blocks() {
        let mut out = XERIAL_HEADER.to_vec();
        out.extend_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(
            decompress(Compression::Snappy, &out, 100, &mut Vec::new()),
            Err(DecodeError::NegativeLength(-5))
        );
        let mut out = XERIAL_HEADER.to_vec();
        out.extend_from_slice(&100i32.to_be_bytes());
        out.extend_from_slice(&[0; 10]);
        assert!(matches!(
            decompress(Compression::Snappy, &out, 100, &mut Vec::new()),
            Err(DecodeError::Decompression(_))
        ));
        // A block claiming 1 GiB is refused before anything is allocated.
        let mut claim = Vec::new();
        let mut v = 1u32 << 30;
        while v >= 0x80 {
            claim.push(v as u8 | 0x80);
            v >>= 7;
        }
        claim.push(v as u8);
        claim.extend_from_slice(&[0; 8]);
        let mut framed = XERIAL_HEADER.to_vec();
        framed.extend_from_slice(&(claim.len() as i32).to_be_bytes());
        framed.extend_from_slice(&claim);
        for input in [&claim[..], &framed[..]] {
            assert_eq!(
                decompress(Compression::Snappy, input, 1 << 20, &mut Vec::new()),
                Err(DecodeError::DecompressedTooLarge { limit: 1 << 20 })
            );
        }
        // Truncated header.
        assert!(decompress(Compression::Snappy, &XERIAL_HEADER[..12], 100, &mut Vec::new()).is_err());
        assert!(decompress(Compression::Snappy, b"", 100, &mut Vec::new()).is_err());
    }

    #[test]
    fn gzip_reads_concatenated_members() {
        let mut two = Vec::new();
        compress(Compression::Gzip, None, b"one ", &mut two).unwrap();
        compress(Compression::Gzip, Some(9), b"two", &mut two).unwrap();
        let mut back = Vec::new();
        decompress(Compression::Gzip, &two, 100, &mut back).unwrap();
        assert_eq!(back, b"one two");
        assert!(decompress(Compression::Gzip, &two[..two.len() - 3], 100, &mut Vec::new()).is_err());
    }

    #[cfg(feature = "lz4")]
    #[test]
    fn lz4_writes_java_frame_header() {
        let mut out = Vec::new();
        compress(Compression::Lz4, None, b"hello lz4", &mut out).unwrap();
        // Magic (LE), FLG = version 1 + independent blocks, BD = 64 KiB, header checksum.
        assert_eq!(&out[..7], &[0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]);
        // End mark and no content checksum.
        assert_eq!(&out[out.len() - 4..], &[0, 0, 0, 0]);
    }

    /// Blocks are written one by one: compressible ones compressed, the
    /// others stored (size's high bit set), and lz4_flex's own frame reader
    /// (which checks the header checksum) reads them all back.
    #[cfg(feature = "lz4")]
    #[test]
    fn lz4_frames_of_several_blocks_read_back_with_lz4_flex() {
        use std::io::Read;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let noise: Vec<u8> = (0..150_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let text: Vec<u8> = b"{\"id\":1,\"ok\":true}".iter().copied().cycle().take(150_000).collect();
        for data in [noise.clone(), text, [noise, b"tail".to_vec()].concat()] {
            let mut out = Vec::new();
            compress(Compression::Lz4, None, &data, &mut out).unwrap();
            let mut back = Vec::new();
            lz4_flex::frame::FrameDecoder::new(&out[..]).read_to_end(&mut back).unwrap();
            assert_eq!(back, data);
            // Block sizes: the first block's size field follows the header.
            let first = u32::from_le_bytes(out[7..11].try_into().unwrap());
            let stored = first & (1 << 31) != 0;
            assert_eq!(stored, data[0] != b'{', "noise is stored, text compressed");
        }
    }

    #[cfg(feature = "lz4")]
    #[test]
    fn lz4_reads_linked_blocks_sizes_and_checksums() {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
        let data: Vec<u8> = (0..300_000u32).map(|i| (i / 3 % 200) as u8).collect();
        for (mode, size, checksums, content_size) in [
            (BlockMode::Linked, BlockSize::Max64KB, true, true),
            (BlockMode::Linked, BlockSize::Max256KB, false, false),
            (BlockMode::Independent, BlockSize::Max4MB, true, true),
            (BlockMode::Independent, BlockSize::Max1MB, false, true),
        ] {
            let info = FrameInfo::new()
                .block_mode(mode)
                .block_size(size)
                .block_checksums(checksums)
                .content_checksum(checksums)
                .content_size(content_size.then_some(data.len() as u64));
            let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
            enc.write_all(&data).unwrap();
            let frame = enc.finish().unwrap();
            let mut back = Vec::new();
            decompress(Compression::Lz4, &frame, data.len(), &mut back).unwrap();
            assert_eq!(back, data);
            if checksums {
                let mut bad = frame.clone();
                let n = bad.len();
                bad[n - 1] ^= 1; // content checksum
                assert!(decompress(Compression::Lz4, &bad, data.len(), &mut Vec::new()).is_err());
            }
        }
    }

    #[cfg(not(feature = "lz4"))]
    #[test]
    fn lz4_without_feature_is_unsupported() {
        assert_eq!(
            compress(Compression::Lz4, None, b"x", &mut Vec::new()),
            Err(EncodeError::UnsupportedCompression("lz4"))
        );
        assert_eq!(
            decompress(Compression::Lz4, b"x", 9, &mut Vec::new()),
            Err(DecodeError::UnsupportedCompression("lz4"))
        );
    }

    #[cfg(not(feature = "zstd"))]
    #[test]
    fn zstd_without_feature_is_unsupported() {
        assert_eq!(
            compress(Compression::Zstd, None, b"x", &mut Vec::new()),
            Err(EncodeError::UnsupportedCompression("zstd"))
        );
        assert_eq!(
            decompress(Compression::Zstd, b"x", 9, &mut Vec::new()),
            Err(DecodeError::UnsupportedCompression("zstd"))
        );
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        let data = b"some data some data some data some data".repeat(20);
        for codec in available() {
            let mut packed = Vec::new();
            compress(codec, None, &data, &mut packed).unwrap();
            for cut in [0, 1, packed.len() / 2, packed.len() - 1] {
                let _ = decompress(codec, &packed[..cut], 1 << 20, &mut Vec::new());
            }
            for i in 0..packed.len() {
                let mut bad = packed.clone();
                bad[i] ^= 0x55;
                let mut out = Vec::new();
                if decompress(codec, &bad, 1 << 20, &mut out).is_err() {
                    assert!(out.is_empty());
                }
            }
        }
    }
}
