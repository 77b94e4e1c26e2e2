//! The entries of the spool log and their framing.
//!
//! ```text
//! entry   = len: u32 BE       bytes of `payload` (1 ..= MAX_ENTRY_LEN)
//!           crc: u32 BE       CRC-32C (Castagnoli) of `payload`
//!           payload           kind: u8, then the kind's fields
//! ```
//!
//! Field types, all big-endian: `u64`/`i64`/`i32`/`i16` fixed width;
//! `string` = u32 length + UTF-8 bytes; `nullable bytes` = u32 length +
//! bytes, or `-1` (`0xffffffff`) for null; `array` = u32 count + elements.
//! Lengths and counts of `2^31` or more are invalid (no entry is that
//! large). Every length and count is checked against the bytes left before
//! anything is allocated for it (the crate's [`Decoder`] does the checks:
//! an array's count times its elements' minimal size must fit).
//!
//! | kind | entry | fields |
//! |---|---|---|
//! | 1 | `Record` | id u64, topic string, partition i32, timestamp i64, key nullable bytes, value nullable bytes, headers array of (key string, value nullable bytes) |
//! | 2 | `Sequenced` | topic string, partition i32, first_id u64, last_id u64, producer_id i64, producer_epoch i16, base_sequence i32 |
//! | 3 | `Done` | ranges array of (first u64, last u64) |
//! | 4 | `ProducerState` | producer_id i64, producer_epoch i16, next_sequences array of (topic string, partition i32, next_sequence i32) |
//! | 5 | `Placed` | id u64, partition i32 |
//! | 6 | `Record` with a mark | the fields of kind 1, then mark u64 |
//! | 7 | `Mark` | mark u64 |
//!
//! Kind 0 is never written and no entry has length 0, so a zero-filled
//! tail (which a file system may leave after a power loss, and a
//! memory-mapped segment leaves after any crash: the part grown but not yet
//! written) holds no entry; the segment scan reads it as the end of the
//! segment. An encoding is canonical: what decodes re-encodes to the same
//! bytes. And every entry the encoder writes decodes, if it is within
//! [`MAX_ENTRY_LEN`]: the decoder checks the format, not the meaning (an id
//! range whose first id is after its last is an empty range, which recovery
//! ignores), so that no entry a producer wrote can hide the entries after
//! it.

use std::fmt;

use crate::protocol::primitives::{Decoder, Writer};
use crate::protocol::record_batch::Header;
use crate::protocol::DecodeError;

use super::SpoolError;

/// Bytes of an entry's frame before its payload: length and CRC.
pub(crate) const FRAME_HEADER_LEN: usize = 8;

/// The largest payload an entry may have: 64 MiB. Records are bounded by
/// `max.request.size` long before this; a larger length is corruption.
pub(crate) const MAX_ENTRY_LEN: usize = 64 << 20;

const KIND_RECORD: u8 = 1;
const KIND_SEQUENCED: u8 = 2;
const KIND_DONE: u8 = 3;
const KIND_PRODUCER_STATE: u8 = 4;
const KIND_PLACED: u8 = 5;
const KIND_MARKED_RECORD: u8 = 6;
const KIND_MARK: u8 = 7;

/// What the spool log holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A record `send()` accepted. `id` is a spool-wide increasing number.
    /// `mark` is the caller's mark (see `Producer::set_spool_mark`) when it
    /// changed with this record: written in the same entry, so that a
    /// restart finds the mark of exactly the records the spool took.
    Record {
        id: u64,
        topic: String,
        partition: i32,
        timestamp: i64,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        headers: Vec<(String, Option<Vec<u8>>)>,
        mark: Option<u64>,
    },
    /// A batch of records (ids `first_id..=last_id`, all of one partition,
    /// consecutive within that partition's sends) got a producer id, epoch
    /// and base sequence; written before the Produce request carrying it.
    Sequenced {
        topic: String,
        partition: i32,
        first_id: u64,
        last_id: u64,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    },
    /// Records whose outcome is final (acknowledged, or failed for good):
    /// the ids in `ranges`, inclusive ranges.
    Done { ranges: Vec<(u64, u64)> },
    /// The idempotent producer's id and epoch and each partition's next
    /// sequence (topic, partition, next sequence), snapshotted.
    ProducerState { producer_id: i64, producer_epoch: i16, next_sequences: Vec<(String, i32, i32)> },
    /// Record `id`, written with partition -1 (spilled before its topic's
    /// partitions were known), went to `partition`; written before the
    /// record is appended to a batch, so before any `Sequenced` entry naming
    /// it.
    Placed { id: u64, partition: i32 },
    /// The caller's mark (see `Producer::set_spool_mark`), written on its
    /// own: restated in each segment's preamble, and at close when it
    /// changed after the last record.
    Mark { mark: u64 },
}

/// Why bytes are not a valid entry; becomes a [`Corruption`](super::segment::Corruption)
/// reason or a [`SpoolError::Corrupt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Fewer bytes than the frame needs: a torn write, if at the end of the
    /// last segment.
    Truncated { needed: usize, remaining: usize },
    /// A length of zero (no kind byte), e.g. a zero-filled tail.
    Empty,
    /// A length over [`MAX_ENTRY_LEN`].
    TooLong(u32),
    /// The payload does not match its CRC.
    Checksum { stored: u32, computed: u32 },
    /// The kind byte is not one of the seven.
    UnknownKind(u8),
    /// The payload's fields do not decode (or leave bytes over).
    Fields { kind: &'static str, error: DecodeError },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, remaining } => {
                write!(f, "truncated entry: needs {needed} bytes, {remaining} left")
            }
            Self::Empty => f.write_str("entry of length 0 (a zero-filled tail?)"),
            Self::TooLong(len) => {
                write!(f, "entry length {len} exceeds the maximum of {MAX_ENTRY_LEN} bytes")
            }
            Self::Checksum { stored, computed } => {
                write!(f, "entry checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            Self::UnknownKind(k) => write!(f, "unknown entry kind {k}"),
            Self::Fields { kind, error } => write!(f, "undecodable {kind} entry: {error}"),
        }
    }
}

impl Entry {
    /// The kind's name, for messages.
    #[cfg_attr(not(test), allow(dead_code))] // (tests and the fuzz oracle)
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Record { .. } => "Record",
            Self::Sequenced { .. } => "Sequenced",
            Self::Done { .. } => "Done",
            Self::ProducerState { .. } => "ProducerState",
            Self::Placed { .. } => "Placed",
            Self::Mark { .. } => "Mark",
        }
    }

    /// Appends the framed entry (length, CRC-32C, payload) to `out`.
    ///
    /// Lengths that do not fit the format (a field of 2 GiB or more) are
    /// written clamped, so the entry is longer than [`MAX_ENTRY_LEN`] and
    /// [`SegmentWriter::append`](super::segment::SegmentWriter::append)
    /// refuses it; nothing smaller is ever clamped.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_framed(self, out);
    }

    /// Decodes exactly one framed entry: `bytes` must be its length, CRC
    /// and payload and nothing more. Bad bytes are a
    /// [`SpoolError::Corrupt`] with an empty path and the offset in `bytes`
    /// where the entry starts (0).
    #[cfg_attr(not(test), allow(dead_code))] // (tests and the fuzz oracle)
    pub fn decode(bytes: &[u8]) -> Result<Entry, SpoolError> {
        let corrupt = |reason: String| SpoolError::Corrupt { path: Default::default(), offset: 0, reason };
        let (entry, used) = decode_frame(bytes).map_err(|e| corrupt(e.to_string()))?;
        if used != bytes.len() {
            return Err(corrupt(format!("{} bytes after the entry", bytes.len() - used)));
        }
        Ok(entry)
    }
}

/// What can be appended to a segment as one entry: an [`Entry`], or a
/// record's fields borrowed from the caller ([`RecordParts`]).
pub(crate) trait Payload {
    /// Writes the entry's payload (kind byte and fields, no frame).
    fn encode_payload<W: Writer>(&self, out: &mut W);
}

impl Payload for Entry {
    fn encode_payload<W: Writer>(&self, out: &mut W) {
        match self {
            Self::Record { id, topic, partition, timestamp, key, value, headers, mark } => put_record(
                out,
                RecordParts {
                    id: *id,
                    topic,
                    partition: *partition,
                    timestamp: *timestamp,
                    key: key.as_deref(),
                    value: value.as_deref(),
                    headers: &[],
                    mark: *mark,
                },
                headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())),
            ),
            Self::Sequenced {
                topic,
                partition,
                first_id,
                last_id,
                producer_id,
                producer_epoch,
                base_sequence,
            } => {
                out.put_slice(&[KIND_SEQUENCED]);
                put_str(out, topic);
                out.put_i32(*partition);
                put_u64(out, *first_id);
                put_u64(out, *last_id);
                out.put_i64(*producer_id);
                out.put_i16(*producer_epoch);
                out.put_i32(*base_sequence);
            }
            Self::Done { ranges } => {
                out.put_slice(&[KIND_DONE]);
                out.put_u32(len_u32(ranges.len()));
                for (first, last) in ranges {
                    put_u64(out, *first);
                    put_u64(out, *last);
                }
            }
            Self::ProducerState { producer_id, producer_epoch, next_sequences } => {
                out.put_slice(&[KIND_PRODUCER_STATE]);
                out.put_i64(*producer_id);
                out.put_i16(*producer_epoch);
                out.put_u32(len_u32(next_sequences.len()));
                for (topic, partition, next) in next_sequences {
                    put_str(out, topic);
                    out.put_i32(*partition);
                    out.put_i32(*next);
                }
            }
            Self::Placed { id, partition } => {
                out.put_slice(&[KIND_PLACED]);
                put_u64(out, *id);
                out.put_i32(*partition);
            }
            Self::Mark { mark } => {
                out.put_slice(&[KIND_MARK]);
                put_u64(out, *mark);
            }
        }
    }
}

/// A `Record` entry's fields, borrowed from `send`'s record: encodes to the
/// same bytes as the [`Entry::Record`] with these fields, without copying
/// them into one first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordParts<'a> {
    pub id: u64,
    pub topic: &'a str,
    pub partition: i32,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [Header],
    /// The caller's mark, if it changed with this record.
    pub mark: Option<u64>,
}

impl Payload for RecordParts<'_> {
    fn encode_payload<W: Writer>(&self, out: &mut W) {
        put_record(out, *self, self.headers.iter().map(|h| (h.key.as_str(), h.value.as_deref())));
    }
}

/// A `Record` payload: the one encoding of both [`Entry::Record`] and
/// [`RecordParts`] (`r`'s fields, but its headers from `headers`).
fn put_record<'a, W: Writer>(
    out: &mut W,
    r: RecordParts<'_>,
    headers: impl ExactSizeIterator<Item = (&'a str, Option<&'a [u8]>)>,
) {
    out.put_slice(&[if r.mark.is_some() { KIND_MARKED_RECORD } else { KIND_RECORD }]);
    put_u64(out, r.id);
    put_str(out, r.topic);
    out.put_i32(r.partition);
    out.put_i64(r.timestamp);
    put_nullable(out, r.key);
    put_nullable(out, r.value);
    out.put_u32(len_u32(headers.len()));
    for (k, v) in headers {
        put_str(out, k);
        put_nullable(out, v);
    }
    if let Some(mark) = r.mark {
        put_u64(out, mark);
    }
}

/// Appends `e` framed (length, CRC-32C, payload) to `out`; the length is
/// clamped as [`Entry::encode`] says.
pub(crate) fn encode_framed<P: Payload + ?Sized>(e: &P, out: &mut Vec<u8>) {
    let start = out.len();
    out.put_u32(0); // length, filled in below
    out.put_u32(0); // CRC, filled in below
    e.encode_payload(out);
    let frame = seal_frame(&mut out[start..]);
    debug_assert!(frame.is_some());
}

/// Fills in the length and CRC-32C of the frame in `frame`, whose payload
/// follows its first [`FRAME_HEADER_LEN`] bytes; returns the payload's
/// length (`None`: `frame` is shorter than a frame header).
pub(crate) fn seal_frame(frame: &mut [u8]) -> Option<usize> {
    let (head, payload) = frame.split_first_chunk_mut::<FRAME_HEADER_LEN>()?;
    head[..4].copy_from_slice(&len_u32(payload.len()).to_be_bytes());
    head[4..].copy_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    Some(payload.len())
}

/// Decodes the framed entry at the start of `bytes`: the entry and the
/// bytes it took. Allocates nothing before the length is checked against
/// [`MAX_ENTRY_LEN`] and the bytes present, and the CRC against the payload.
pub(crate) fn decode_frame(bytes: &[u8]) -> Result<(Entry, usize), FrameError> {
    let Some((head, rest)) = bytes.split_first_chunk::<FRAME_HEADER_LEN>() else {
        return Err(FrameError::Truncated { needed: FRAME_HEADER_LEN, remaining: bytes.len() });
    };
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let stored = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len as usize > MAX_ENTRY_LEN {
        return Err(FrameError::TooLong(len));
    }
    let Some(payload) = rest.get(..len as usize) else {
        return Err(FrameError::Truncated {
            needed: FRAME_HEADER_LEN + len as usize,
            remaining: bytes.len(),
        });
    };
    let computed = crc32c::crc32c(payload);
    if computed != stored {
        return Err(FrameError::Checksum { stored, computed });
    }
    Ok((decode_payload(payload)?, FRAME_HEADER_LEN + payload.len()))
}

fn decode_payload(payload: &[u8]) -> Result<Entry, FrameError> {
    let (&kind, fields) = payload.split_first().ok_or(FrameError::Empty)?;
    let mut d = Decoder::new(fields);
    let (name, decoded) = match kind {
        KIND_RECORD => ("Record", record(&mut d, false)),
        KIND_MARKED_RECORD => ("Record", record(&mut d, true)),
        KIND_MARK => ("Mark", get_u64(&mut d).map(|mark| Entry::Mark { mark })),
        KIND_SEQUENCED => ("Sequenced", sequenced(&mut d)),
        KIND_DONE => ("Done", done(&mut d)),
        KIND_PRODUCER_STATE => ("ProducerState", producer_state(&mut d)),
        KIND_PLACED => {
            ("Placed", get_u64(&mut d).and_then(|id| Ok(Entry::Placed { id, partition: d.i32()? })))
        }
        other => return Err(FrameError::UnknownKind(other)),
    };
    decoded.and_then(|e| d.finish().map(|()| e)).map_err(|error| FrameError::Fields { kind: name, error })
}

/// Minimal encoded sizes of array elements, for the count checks.
const MIN_HEADER_LEN: usize = 4 + 4; // key length, value length
const MIN_RANGE_LEN: usize = 8 + 8;
const MIN_NEXT_SEQUENCE_LEN: usize = 4 + 4 + 4; // topic length, partition, sequence

fn record(d: &mut Decoder<'_>, marked: bool) -> Result<Entry, DecodeError> {
    Ok(Entry::Record {
        id: get_u64(d)?,
        topic: string(d)?,
        partition: d.i32()?,
        timestamp: d.i64()?,
        key: d.nullable_bytes(false)?.map(<[u8]>::to_vec),
        value: d.nullable_bytes(false)?.map(<[u8]>::to_vec),
        headers: d.array_of(false, MIN_HEADER_LEN, |d| {
            Ok((string(d)?, d.nullable_bytes(false)?.map(<[u8]>::to_vec)))
        })?,
        mark: if marked { Some(get_u64(d)?) } else { None },
    })
}

fn sequenced(d: &mut Decoder<'_>) -> Result<Entry, DecodeError> {
    Ok(Entry::Sequenced {
        topic: string(d)?,
        partition: d.i32()?,
        first_id: get_u64(d)?,
        last_id: get_u64(d)?,
        producer_id: d.i64()?,
        producer_epoch: d.i16()?,
        base_sequence: d.i32()?,
    })
}

fn done(d: &mut Decoder<'_>) -> Result<Entry, DecodeError> {
    Ok(Entry::Done { ranges: d.array_of(false, MIN_RANGE_LEN, |d| Ok((get_u64(d)?, get_u64(d)?)))? })
}

fn producer_state(d: &mut Decoder<'_>) -> Result<Entry, DecodeError> {
    Ok(Entry::ProducerState {
        producer_id: d.i64()?,
        producer_epoch: d.i16()?,
        next_sequences: d.array_of(false, MIN_NEXT_SEQUENCE_LEN, |d| Ok((string(d)?, d.i32()?, d.i32()?)))?,
    })
}

/// A non-null string: u32 length (checked against the bytes left) + UTF-8.
fn string(d: &mut Decoder<'_>) -> Result<String, DecodeError> {
    let b = d.bytes(false)?;
    std::str::from_utf8(b).map(str::to_owned).map_err(|_| DecodeError::InvalidUtf8)
}

/// The primitives have no unsigned 64-bit form: ids are written as the
/// same 8 big-endian bytes an `i64` is.
fn get_u64(d: &mut Decoder<'_>) -> Result<u64, DecodeError> {
    d.i64().map(|v| v as u64)
}

fn put_u64<W: Writer>(out: &mut W, v: u64) {
    out.put_i64(v as i64);
}

/// `n` as a u32 length; clamped (see [`Entry::encode`]).
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn put_str<W: Writer>(out: &mut W, s: &str) {
    out.put_u32(len_u32(s.len()));
    out.put_slice(s.as_bytes());
}

fn put_nullable<W: Writer>(out: &mut W, b: Option<&[u8]>) {
    match b {
        Some(b) => {
            out.put_u32(len_u32(b.len()));
            out.put_slice(b);
        }
        None => out.put_i32(-1),
    }
}
