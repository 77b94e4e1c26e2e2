//! Decompression bombs, per codec: inputs that inflate to 1 GiB, decoded with
//! a 1 MiB cap. Each must fail cleanly with `DecompressedTooLarge`, quickly,
//! holding about the cap in memory, both through `decompress` and inside a
//! record batch.
//!
//! The bombs are built cheaply by repeating one compressed unit: gzip members,
//! zstd frames, lz4 blocks within one frame, xerial snappy blocks; all are
//! valid streams that standard decoders would inflate to 1 GiB. A raw snappy
//! block that merely claims 1 GiB is refused from its header.
//!
//! Peak memory is printed when the platform lets the test reset its
//! high-water mark (`/proc/self/clear_refs`); run with `--test-threads=1
//! --nocapture` for meaningful numbers.

use std::time::{Duration, Instant};

use kafka_sync::protocol::compression::{compress, decompress, Compression};
use kafka_sync::protocol::record_batch::{BatchParams, RecordBatch, RecordBatchWriter};
use kafka_sync::protocol::DecodeError;

const GIB: usize = 1 << 30;
const LIMIT: usize = 1 << 20;

/// Repeats `unit` (which inflates to `unit_size` bytes) to inflate to 1 GiB.
fn repeat_to_gib(prefix: &[u8], unit: &[u8], unit_size: usize, suffix: &[u8]) -> Vec<u8> {
    let n = GIB / unit_size;
    let mut out = Vec::with_capacity(prefix.len() + unit.len() * n + suffix.len());
    out.extend_from_slice(prefix);
    for _ in 0..n {
        out.extend_from_slice(unit);
    }
    out.extend_from_slice(suffix);
    out
}

fn gzip_bomb() -> Vec<u8> {
    let unit = 4 << 20;
    let mut member = Vec::new();
    compress(Compression::Gzip, Some(9), &vec![0; unit], &mut member).unwrap();
    repeat_to_gib(&[], &member, unit, &[])
}

fn snappy_bomb() -> Vec<u8> {
    // One Java-sized (32 KiB) xerial block of zeros, repeated.
    let unit = 32 << 10;
    let mut framed = Vec::new();
    compress(Compression::Snappy, None, &vec![0; unit], &mut framed).unwrap();
    repeat_to_gib(&framed[..16], &framed[16..], unit, &[])
}

#[cfg(feature = "lz4")]
fn lz4_bomb() -> Vec<u8> {
    // One frame: header (7 bytes), one 64 KiB block of zeros repeated, end mark.
    let unit = 64 << 10;
    let mut frame = Vec::new();
    compress(Compression::Lz4, None, &vec![0; unit], &mut frame).unwrap();
    let block = &frame[7..frame.len() - 4];
    repeat_to_gib(&frame[..7], block, unit, &[0; 4])
}

#[cfg(feature = "zstd")]
fn zstd_bomb() -> Vec<u8> {
    let unit = 16 << 20;
    let mut frame = Vec::new();
    compress(Compression::Zstd, Some(19), &vec![0; unit], &mut frame).unwrap();
    repeat_to_gib(&[], &frame, unit, &[])
}

fn rss_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `f`, returning how long it took and by how much it raised peak RSS
/// (when the high-water mark can be reset).
fn measure<T>(f: impl FnOnce() -> T) -> (T, Duration, Option<u64>) {
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = rss_kib("VmRSS:");
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    let peak = rss_kib("VmHWM:");
    let grew = match (reset, before, peak) {
        (true, Some(b), Some(p)) => Some(p.saturating_sub(b)),
        _ => None,
    };
    (out, took, grew)
}

fn check_bomb(codec: Compression, bomb: &[u8]) {
    // Through decompress.
    let mut out = Vec::new();
    let (result, took, grew) = measure(|| decompress(codec, bomb, LIMIT, &mut out));
    assert_eq!(result, Err(DecodeError::DecompressedTooLarge { limit: LIMIT }), "{codec}");
    assert!(out.is_empty(), "out is left as it was");
    assert!(out.capacity() <= 2 * LIMIT + (256 << 10), "{codec}: output buffer grew to {}", out.capacity());
    assert!(took < Duration::from_secs(5), "{codec}: took {took:?}");
    println!(
        "{codec}: {} KiB bomb inflating to 1 GiB, cap 1 MiB: {took:?}, peak RSS +{} KiB",
        bomb.len() >> 10,
        grew.map_or("?".into(), |g| g.to_string())
    );

    // Inside a record batch that claims one record.
    let mut batch = RecordBatchWriter::new(Vec::new(), 0)
        .finish(&BatchParams::default(), Compression::None, None)
        .unwrap();
    batch[57..61].copy_from_slice(&1i32.to_be_bytes());
    batch[22] = codec.code() as u8;
    batch.extend_from_slice(bomb);
    let len = (batch.len() - 12) as i32;
    batch[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    let (result, took, _) = measure(|| RecordBatch::decode(&batch, LIMIT));
    assert_eq!(result.unwrap_err(), DecodeError::DecompressedTooLarge { limit: LIMIT }, "{codec} batch");
    assert!(took < Duration::from_secs(5), "{codec} batch: took {took:?}");
}

#[test]
fn gzip_bomb_is_capped() {
    check_bomb(Compression::Gzip, &gzip_bomb());
}

#[test]
fn snappy_bomb_is_capped() {
    check_bomb(Compression::Snappy, &snappy_bomb());
}

#[test]
fn raw_snappy_claiming_a_gib_is_refused_up_front() {
    // Varint 2^30, then a literal: the claim alone is refused.
    let mut raw = vec![0x80, 0x80, 0x80, 0x80, 0x04];
    raw.extend_from_slice(&[0; 64]);
    let (result, took, _) = measure(|| decompress(Compression::Snappy, &raw, LIMIT, &mut Vec::new()));
    assert_eq!(result, Err(DecodeError::DecompressedTooLarge { limit: LIMIT }));
    assert!(took < Duration::from_millis(100));
}

#[cfg(feature = "lz4")]
#[test]
fn lz4_bomb_is_capped() {
    check_bomb(Compression::Lz4, &lz4_bomb());
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_bomb_is_capped() {
    check_bomb(Compression::Zstd, &zstd_bomb());
}

/// A zstd frame that declares a 128 MiB window (zstd's default maximum) and no
/// content size: the decoder reserves the window, but only what it writes
/// before the cap stops it becomes resident.
#[cfg(feature = "zstd")]
#[test]
fn zstd_large_window_bomb_is_capped() {
    use std::io::Write;
    let unit = 16 << 20;
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 19).unwrap();
    enc.window_log(27).unwrap();
    enc.include_contentsize(false).unwrap();
    enc.write_all(&vec![0; unit]).unwrap();
    let frame = enc.finish().unwrap();
    check_bomb(Compression::Zstd, &repeat_to_gib(&[], &frame, unit, &[]));
}
