//! Tests of the spool's storage layer: the format (round trips, golden
//! bytes), scans of torn, flipped and hostile bytes, recovery, the live
//! log's rolling and deletion, and the lock.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::entry::{encode_framed, RecordParts, FRAME_HEADER_LEN, MAX_ENTRY_LEN};
use super::fuzz::{done, marked, record, sample_entries, sequenced, state};
use super::segment::{
    self, list_segments, scan_bytes, scan_segment, segment_path, SegmentWriter, HEADER_LEN,
};
use super::*;
use crate::protocol::record_batch::Header;

/// A directory under the system's temporary one, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kafka-sync-spool-{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

fn framed(e: &Entry) -> Vec<u8> {
    let mut b = Vec::new();
    e.encode(&mut b);
    b
}

fn samples() -> Vec<Entry> {
    sample_entries()
}

/// A segment's bytes: the header, then `entries`; and the offset where each
/// entry starts, plus the end.
fn segment_bytes(first_id: u64, entries: &[Entry]) -> (Vec<u8>, Vec<usize>) {
    let mut bytes = segment::header(first_id).to_vec();
    let mut starts = Vec::new();
    for e in entries {
        starts.push(bytes.len());
        e.encode(&mut bytes);
    }
    starts.push(bytes.len());
    (bytes, starts)
}

/// Frames a raw payload with its length and a correct CRC.
fn frame_payload(payload: &[u8]) -> Vec<u8> {
    let mut b = (payload.len() as u32).to_be_bytes().to_vec();
    b.extend(crc32c::crc32c(payload).to_be_bytes());
    b.extend(payload);
    b
}

// ---------------------------------------------------------------------------
// The format.

#[test]
fn every_kind_round_trips() {
    for e in samples() {
        let bytes = framed(&e);
        assert_eq!(Entry::decode(&bytes).unwrap(), e);
        // Exactly one entry: a byte more or less is an error.
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Entry::decode(&longer).unwrap_err().to_string().contains("1 bytes after the entry"));
        assert!(Entry::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}

#[test]
fn golden_bytes() {
    #[rustfmt::skip]
    let cases: Vec<(Entry, Vec<u8>)> = vec![
        (
            Entry::Record {
                id: 7,
                topic: "t".into(),
                partition: 2,
                timestamp: 1000,
                key: Some(b"k".to_vec()),
                value: None,
                headers: vec![("h".into(), Some(b"v".to_vec())), ("n".into(), None)],
                mark: None,
            },
            [
                &[0, 0, 0, 58][..],             // length
                &[0x1e, 0x95, 0xe3, 0x09],      // CRC-32C of the payload
                &[1],                           // kind: Record
                &[0, 0, 0, 0, 0, 0, 0, 7],      // id
                &[0, 0, 0, 1, b't'],            // topic
                &[0, 0, 0, 2],                  // partition
                &[0, 0, 0, 0, 0, 0, 0x03, 0xe8],// timestamp
                &[0, 0, 0, 1, b'k'],            // key
                &[0xff, 0xff, 0xff, 0xff],      // value: null
                &[0, 0, 0, 2],                  // 2 headers
                &[0, 0, 0, 1, b'h', 0, 0, 0, 1, b'v'],
                &[0, 0, 0, 1, b'n', 0xff, 0xff, 0xff, 0xff],
            ].concat(),
        ),
        (
            sequenced("t", 2, (5, 9), 1000, 3, 42),
            [
                &[0, 0, 0, 40][..],
                &[0x12, 0x85, 0x48, 0x46],
                &[2],                           // kind: Sequenced
                &[0, 0, 0, 1, b't'],            // topic
                &[0, 0, 0, 2],                  // partition
                &[0, 0, 0, 0, 0, 0, 0, 5],      // first id
                &[0, 0, 0, 0, 0, 0, 0, 9],      // last id
                &[0, 0, 0, 0, 0, 0, 0x03, 0xe8],// producer id
                &[0, 3],                        // epoch
                &[0, 0, 0, 42],                 // base sequence
            ].concat(),
        ),
        (
            done(&[(1, 3), (7, 7)]),
            [
                &[0, 0, 0, 37][..],
                &[0x0d, 0xed, 0x53, 0xef],
                &[3],                           // kind: Done
                &[0, 0, 0, 2],                  // 2 ranges
                &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3],
                &[0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 7],
            ].concat(),
        ),
        (
            state(1000, 3, &[("t", 2, 43)]),
            [
                &[0, 0, 0, 28][..],
                &[0xcc, 0xf8, 0x7f, 0xf9],
                &[4],                           // kind: ProducerState
                &[0, 0, 0, 0, 0, 0, 0x03, 0xe8],// producer id
                &[0, 3],                        // epoch
                &[0, 0, 0, 1],                  // 1 partition
                &[0, 0, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 43],
            ].concat(),
        ),
    ];
    for (entry, bytes) in cases {
        assert_eq!(framed(&entry), bytes, "{entry:?}");
        assert_eq!(Entry::decode(&bytes).unwrap(), entry);
    }
    let header = [&b"KSSPOOL\0"[..], &[0, 1], &[0, 0, 0, 0, 0, 0, 0, 5], &[0xd7, 0x5a, 0x59, 0x4d]].concat();
    assert_eq!(segment::header(5)[..], header[..]);
    assert_eq!(HEADER_LEN, header.len());
}

#[test]
fn borrowed_record_parts_encode_as_the_owned_entry() {
    let mut records: Vec<Entry> =
        samples().into_iter().filter(|e| matches!(e, Entry::Record { .. })).collect();
    records.extend((0..7).map(|id| record(id, "t", id as i32)));
    let dir = TempDir::new("parts");
    let mut w = SegmentWriter::create(&dir, 0).unwrap();
    let mut owned = segment::header(0).to_vec();
    for e in &records {
        let Entry::Record { id, topic, partition, timestamp, key, value, headers, mark } = e else {
            unreachable!()
        };
        let headers: Vec<Header> =
            headers.iter().map(|(k, v)| Header { key: k.clone(), value: v.clone() }).collect();
        let parts = RecordParts {
            id: *id,
            topic,
            partition: *partition,
            timestamp: *timestamp,
            key: key.as_deref(),
            value: value.as_deref(),
            headers: &headers,
            mark: *mark,
        };
        let mut borrowed = Vec::new();
        encode_framed(&parts, &mut borrowed);
        assert_eq!(borrowed, framed(e), "{e:?}");
        w.append(&parts).unwrap();
        e.encode(&mut owned);
    }
    w.finish().unwrap();
    assert!(fs::read(w.path()).unwrap() == owned);
}

#[test]
fn segment_names_sort_by_id() {
    let dir = TempDir::new("names");
    for id in [10, 2, u64::MAX, 0] {
        SegmentWriter::create(&dir, id).unwrap();
    }
    for other in ["spool.lock", "1.spool", "0000000000000000000x.spool", "00000000000000000003.spool.tmp"] {
        fs::write(dir.join(other), b"x").unwrap();
    }
    let listed = list_segments(&dir).unwrap();
    assert_eq!(listed.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [0, 2, 10, u64::MAX]);
    assert_eq!(listed[3].1, dir.join("18446744073709551615.spool"));
    assert_eq!(listed[1].1, segment_path(&dir, 2));
    // A segment of that name exists already: not overwritten.
    assert!(matches!(SegmentWriter::create(&dir, 2), Err(SpoolError::Io { .. })));
}

#[test]
fn writer_offsets_flush_and_sync() {
    let dir = TempDir::new("writer");
    let mut w = SegmentWriter::create(&dir, 3).unwrap();
    assert_eq!(w.len(), HEADER_LEN as u64);
    let entries = samples();
    let (expected, starts) = segment_bytes(3, &entries);
    for (e, start) in entries.iter().zip(&starts) {
        assert_eq!(w.append(e).unwrap(), *start as u64);
    }
    assert_eq!(w.len(), expected.len() as u64);
    w.flush().unwrap();
    // The entries, then (a mapped segment, grown ahead) zeros.
    let on_disk = fs::read(w.path()).unwrap();
    assert_eq!(on_disk[..expected.len()], expected);
    assert!(on_disk[expected.len()..].iter().all(|&b| b == 0));
    w.sync().unwrap();
    let scan = scan_segment(w.path()).unwrap();
    assert_eq!((scan.entries, scan.valid_len, scan.stopped), (entries, expected.len() as u64, None));
    // Finished: exactly the entries.
    w.finish().unwrap();
    assert_eq!(fs::read(w.path()).unwrap(), expected);
}

/// Appends `entries` and checks the file: while writing, everything
/// appended is in it (after `flush`, as `Spool::record` does) however the
/// writer ends (here: never, as in a crash of the process), and finished, the
/// file is exactly the entries.
fn write_and_check(dir: &Path, first_id: u64, entries: &[Entry]) {
    let (expected, starts) = segment_bytes(first_id, entries);
    let mut w = SegmentWriter::create(dir, first_id).unwrap();
    for (e, start) in entries.iter().zip(&starts) {
        assert_eq!(w.append(e).unwrap(), *start as u64);
        w.flush().unwrap();
    }
    w.flush().unwrap();
    assert_eq!(w.len(), expected.len() as u64);
    let path = w.path().to_path_buf();
    let scan = scan_segment(&path).unwrap();
    assert_eq!(scan.stopped, None);
    assert!(scan.entries == entries, "the entries read back differ");
    w.finish().unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), w.len());
    assert!(fs::read(&path).unwrap() == expected);
    // Appending after `finish` grows the file again.
    let more = record(u64::MAX, "after", 0);
    w.append(&more).unwrap();
    w.flush().unwrap();
    let len = w.len();
    drop(w);
    assert_eq!(fs::metadata(&path).unwrap().len(), len);
    assert_eq!(scan_segment(&path).unwrap().entries.last(), Some(&more));

    // A crash: the writer is never dropped (no unmap, no cut).
    let crashed = first_id + 1_000_000;
    let mut w = SegmentWriter::create(dir, crashed).unwrap();
    w.flush().unwrap();
    for e in entries {
        w.append(e).unwrap();
        w.flush().unwrap();
    }
    let (len, path) = (w.len(), w.path().to_path_buf());
    std::mem::forget(w);
    let scan = scan_segment(&path).unwrap();
    assert_eq!((scan.valid_len, scan.stopped), (len, None));
    assert!(scan.entries == entries, "entries lost in the crash");
    let (_lock, r) = recover(dir).unwrap();
    assert!(r.torn_tail.is_none() && r.corruption.is_empty());
    assert_eq!(fs::metadata(&path).unwrap().len(), len);
}

#[test]
fn writes_past_many_growths_and_a_large_entry_read_back() {
    let dir = TempDir::new("growths");
    // Entries of 10 kB and more: 4.5 MB, past several growths of a mapped
    // segment (at most 1 MiB each), with one entry larger than a growth
    // (3 MiB) in the middle and a run of small ones.
    let mut entries: Vec<Entry> = Vec::new();
    for id in 0..450 {
        let mut e = record(id, "t", 0);
        if let Entry::Record { value, .. } = &mut e {
            *value = Some(vec![(id % 251) as u8; 10_000 + id as usize]);
        }
        entries.push(e);
        if id == 200 {
            let mut big = record(10_000, "big", 1);
            if let Entry::Record { value, .. } = &mut big {
                *value = Some(vec![7; 3 << 20]);
            }
            entries.push(big);
            entries.extend((20_000..20_300).map(|id| record(id, "small", 2)));
        }
    }
    #[cfg(all(feature = "spool-mmap", any(target_os = "linux", target_os = "android")))]
    const {
        assert!(3 << 20 > super::mapped::MAX_GROWTH, "the large entry is larger than a growth")
    };
    write_and_check(&dir, 0, &entries);
    // Small segments too (the header alone; a few entries).
    write_and_check(&dir, 7, &[]);
    write_and_check(&dir, 8, &samples());
}

#[test]
fn an_entry_over_the_maximum_is_refused_and_not_written() {
    let dir = TempDir::new("too-large");
    let mut w = SegmentWriter::create(&dir, 0).unwrap();
    let mut big = record(1, "t", 0);
    if let Entry::Record { value, .. } = &mut big {
        *value = Some(vec![0; MAX_ENTRY_LEN]);
    }
    let err = w.append(&big).unwrap_err();
    assert!(matches!(err, SpoolError::TooLarge { max, .. } if max == MAX_ENTRY_LEN as u64), "{err}");
    assert_eq!(w.len(), HEADER_LEN as u64);
    // (A mapped segment did not grow for it.)
    assert!(fs::metadata(w.path()).unwrap().len() < 1 << 20);
    // The writer still works.
    w.append(&record(2, "t", 0)).unwrap();
    w.flush().unwrap();
    assert_eq!(scan_segment(w.path()).unwrap().entries, [record(2, "t", 0)]);
}

// ---------------------------------------------------------------------------
// Scans of bad bytes.

#[test]
fn every_truncation_keeps_the_entries_before_the_cut() {
    let entries = samples();
    let (bytes, starts) = segment_bytes(0, &entries);
    for cut in 0..=bytes.len() {
        let scan = scan_bytes(&bytes[..cut]);
        let whole = starts.iter().filter(|&&end| end <= cut).count().saturating_sub(1);
        let expect_valid = if cut < HEADER_LEN { 0 } else { starts[whole] };
        assert_eq!(scan.entries, entries[..if cut < HEADER_LEN { 0 } else { whole }], "cut at {cut}");
        assert_eq!(scan.valid_len, expect_valid as u64, "cut at {cut}");
        if starts.contains(&cut) {
            assert_eq!(scan.stopped, None, "cut at the entry boundary {cut}");
        } else if cut >= HEADER_LEN && bytes[expect_valid..cut].iter().all(|&b| b == 0) {
            // Cut within the zero high bytes of an entry's length: what is
            // left of it is zeros, the clean end of a segment.
            assert_eq!(scan.stopped, None, "cut at {cut}, in a length's leading zeros");
        } else {
            let stopped = scan.stopped.unwrap_or_else(|| panic!("cut at {cut} not reported"));
            assert_eq!(stopped.offset, expect_valid as u64, "cut at {cut}");
            assert!(stopped.reason.contains("truncated"), "cut at {cut}: {}", stopped.reason);
        }
    }
}

#[test]
fn a_flipped_bit_anywhere_keeps_the_intact_prefix() {
    let entries = samples();
    let (bytes, starts) = segment_bytes(9, &entries);
    for i in 0..bytes.len() {
        // The entry the byte belongs to (none: the header).
        let k = starts.iter().rposition(|&s| s <= i).filter(|_| i >= HEADER_LEN);
        for bit in 0..8 {
            let mut bad = bytes.clone();
            bad[i] ^= 1 << bit;
            let scan = scan_bytes(&bad);
            let stopped = scan.stopped.unwrap_or_else(|| panic!("flip of byte {i} bit {bit} not noticed"));
            let (kept, at) = k.map_or((0, 0), |k| (k, starts[k]));
            assert_eq!(scan.entries, entries[..kept], "flip of byte {i} bit {bit}");
            assert_eq!(
                (stopped.offset, scan.valid_len),
                (at as u64, at as u64),
                "flip of byte {i} bit {bit}"
            );
            let reason = &stopped.reason;
            let expected = if k.is_none() {
                ["magic", "checksum", "version"].as_slice()
            } else if i < at + 4 {
                // The length: too long, too short for the data, or zero.
                ["checksum", "truncated", "exceeds", "length 0"].as_slice()
            } else {
                ["checksum"].as_slice()
            };
            assert!(expected.iter().any(|w| reason.contains(w)), "flip of byte {i} bit {bit}: {reason}");
        }
    }
}

#[test]
fn a_zero_filled_tail_reads_as_the_clean_end() {
    let (whole, starts) = segment_bytes(0, &samples()[..2]);
    // Zeros of any length, shorter than a frame header too: nothing was
    // written there.
    for zeros in [1, 7, 8, 4096] {
        let mut bytes = whole.clone();
        bytes.extend(vec![0; zeros]);
        let scan = scan_bytes(&bytes);
        assert_eq!(scan.entries, samples()[..2], "{zeros} zeros");
        assert_eq!((scan.valid_len, scan.stopped), (starts[2] as u64, None), "{zeros} zeros");
    }
    // Zeros right after the header: an empty segment.
    let mut empty = segment::header(5).to_vec();
    empty.extend([0; 100]);
    let scan = scan_bytes(&empty);
    assert_eq!((scan.entries.len(), scan.valid_len, scan.stopped), (0, HEADER_LEN as u64, None));
    // A byte that is not zero after them: damage, at the first zero.
    let mut bytes = whole.clone();
    bytes.extend([0; 4096]);
    bytes.push(1);
    let scan = scan_bytes(&bytes);
    assert_eq!(scan.entries.len(), 2);
    let stopped = scan.stopped.unwrap();
    assert_eq!((stopped.offset, scan.valid_len), (starts[2] as u64, starts[2] as u64));
    assert!(stopped.reason.contains("length 0"), "{}", stopped.reason);
}

#[test]
fn recovery_cuts_a_zero_tail_quietly() {
    let dir = TempDir::new("zero-tail");
    let entries = [record(0, "a", 0), record(1, "a", 1)];
    let first = write_segment(&dir, 0, &entries[..1]);
    let last = write_segment(&dir, 1, &entries[1..]);
    let lens: Vec<u64> = [&first, &last].iter().map(|p| fs::metadata(p).unwrap().len()).collect();
    for p in [&first, &last] {
        let f = fs::OpenOptions::new().write(true).open(p).unwrap();
        f.set_len(fs::metadata(p).unwrap().len() + 70_000).unwrap();
    }
    let (_lock, r) = recover(&dir).unwrap();
    assert!(r.torn_tail.is_none() && r.corruption.is_empty());
    assert_eq!(pending_ids(&r), [0, 1]);
    // Both cut to their entries, and counted so.
    let now: Vec<u64> = [&first, &last].iter().map(|p| fs::metadata(p).unwrap().len()).collect();
    assert_eq!(now, lens);
    assert_eq!(r.segments.iter().map(|s| s.bytes).collect::<Vec<_>>(), lens);
}

/// Lengths and counts are checked against the bytes present before anything
/// is allocated: the decoder takes every length from the crate's
/// [`Decoder`](crate::protocol::Decoder), whose counts must fit the bytes
/// left at their elements' minimal size, and a frame's length is checked
/// against [`MAX_ENTRY_LEN`] and the input before its payload is looked at.
/// So a hostile length fails fast, with a reason that says which.
#[test]
fn hostile_lengths_and_counts_fail_before_allocating() {
    let header = segment::header(0).to_vec();
    let stop = |tail: &[u8]| {
        let scan = scan_bytes(&[&header[..], tail].concat());
        assert!(scan.entries.is_empty());
        scan.stopped.unwrap().reason
    };
    // Frame lengths.
    assert!(stop(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1]).contains("exceeds the maximum"));
    let max = (MAX_ENTRY_LEN as u32).to_be_bytes();
    assert!(stop(&[&max[..], &[0, 0, 0, 0, 1, 2, 3]].concat()).contains("truncated entry"));
    assert!(stop(&[0, 0, 0, 5]).contains("truncated entry: needs 8 bytes, 4 left"));

    // Counts and lengths inside payloads with valid checksums.
    let fields = |payload: &[u8]| stop(&frame_payload(payload));
    let mut payload = vec![3]; // Done
    payload.extend(0x7fff_ffffu32.to_be_bytes());
    payload.extend([0; 16]);
    let reason = fields(&payload);
    assert!(reason.contains("count 2147483647 cannot fit in the 16 bytes"), "{reason}");
    payload[1..5].copy_from_slice(&2u32.to_be_bytes()); // 2 ranges, 1 present
    assert!(fields(&payload).contains("count 2 cannot fit in the 16 bytes"));
    payload[1..5].copy_from_slice(&u32::MAX.to_be_bytes()); // -1
    assert!(fields(&payload).contains("unexpected null array"));

    let mut rec = framed(&record(6, "t", 0))[FRAME_HEADER_LEN..].to_vec();
    // Id 6 has two headers: ("trace", [1, 2]) in 15 bytes, ("n", null) in 9.
    let headers_at = rec.len() - 4 - 15 - 9;
    assert_eq!(rec[headers_at..headers_at + 4], [0, 0, 0, 2]);
    rec[headers_at..headers_at + 4].copy_from_slice(&0x1000_0000u32.to_be_bytes());
    assert!(fields(&rec).contains("count 268435456 cannot fit"), "{}", fields(&rec));
    let mut rec = framed(&record(6, "t", 0))[FRAME_HEADER_LEN..].to_vec();
    rec[9..13].copy_from_slice(&0x7fff_fff0u32.to_be_bytes()); // topic length
    assert!(fields(&rec).contains("truncated input: needed 2147483632 bytes"), "{}", fields(&rec));
    rec[9..13].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    assert!(fields(&rec).contains("negative length"), "{}", fields(&rec));

    // Everything else a payload can get wrong.
    assert!(fields(&[9]).contains("unknown entry kind 9"));
    assert!(fields(&[0]).contains("unknown entry kind 0"));
    let mut seq = framed(&sequenced("t", 0, (4, 5), 1, 0, 0))[FRAME_HEADER_LEN..].to_vec();
    seq.push(0);
    assert!(fields(&seq).contains("1 unexpected trailing bytes"));
    let mut bad_utf8 = framed(&state(1, 0, &[("é", 0, 0)]))[FRAME_HEADER_LEN..].to_vec();
    let at = bad_utf8.len() - 8 - 2;
    bad_utf8[at] = 0xff;
    assert!(fields(&bad_utf8).contains("UTF-8"));
}

#[test]
fn bad_headers() {
    let dir = TempDir::new("headers");
    let (good, _) = segment_bytes(4, &samples()[..1]);
    // Renamed: the header's id does not match the name.
    let path = segment_path(&dir, 5);
    fs::write(&path, &good).unwrap();
    let scan = scan_segment(&path).unwrap();
    assert!(scan.entries.is_empty() && scan.valid_len == 0);
    assert!(scan.stopped.unwrap().reason.contains("says first id 4, the file name 5"));
    // A later format version: an error, not an empty segment.
    let mut newer = good.clone();
    newer[8..10].copy_from_slice(&2u16.to_be_bytes());
    let crc = crc32c::crc32c(&newer[..18]);
    newer[18..22].copy_from_slice(&crc.to_be_bytes());
    let path = segment_path(&dir, 4);
    fs::write(&path, &newer).unwrap();
    let err = scan_segment(&path).unwrap_err();
    assert!(matches!(err, SpoolError::Corrupt { offset: 8, .. }), "{err}");
    assert!(err.to_string().contains("format version 2"), "{err}");
    assert!(scan_bytes(&newer).stopped.unwrap().reason.contains("version 2"));
    assert!(scan_bytes(b"KSSPOOL").stopped.unwrap().reason.contains("truncated file header: 7 of 22"));
    assert!(scan_bytes(b"not a spool segment at all").stopped.unwrap().reason.contains("bad magic"));
}

// ---------------------------------------------------------------------------
// Recovery.

/// Writes a segment of `entries` into `dir`, synced.
fn write_segment(dir: &Path, first_id: u64, entries: &[Entry]) -> PathBuf {
    let mut w = SegmentWriter::create(dir, first_id).unwrap();
    for e in entries {
        w.append(e).unwrap();
    }
    w.sync().unwrap();
    w.path().to_path_buf()
}

fn pending_ids(r: &Recovered) -> Vec<u64> {
    r.pending.iter().map(|p| p.id).collect()
}

fn batch(topic: &str, partition: i32, ids: (u64, u64), pid: i64, epoch: i16, base: i32) -> SequencedBatch {
    SequencedBatch::of(&sequenced(topic, partition, ids, pid, epoch, base)).unwrap()
}

/// Three segments: `Done` entries naming records of earlier segments,
/// batches sequenced, a producer state, and a torn tail in the last.
fn three_segments(dir: &Path) -> (PathBuf, u64) {
    write_segment(
        dir,
        0,
        &[
            record(0, "a", 0),
            record(1, "a", 0),
            record(2, "b", 0),
            state(9, 1, &[("a", 0, 0), ("c", 0, 17)]),
            sequenced("a", 0, (0, 1), 9, 1, 0),
        ],
    );
    write_segment(
        dir,
        3,
        &[
            record(3, "a", 0),
            record(4, "b", 0),
            done(&[(0, 1)]), // records of segment 0
            sequenced("b", 0, (2, 4), 9, 1, 0),
            sequenced("a", 0, (3, 3), 9, 1, 2),
        ],
    );
    let last = write_segment(dir, 5, &[record(5, "a", 0), done(&[(3, 3)]), record(6, "a", 0)]);
    // Tear the last entry (record 6) in the middle.
    let len = fs::metadata(&last).unwrap().len();
    let torn_at = len - framed(&record(6, "a", 0)).len() as u64;
    fs::OpenOptions::new().write(true).open(&last).unwrap().set_len(len - 5).unwrap();
    (last, torn_at)
}

#[test]
fn recovery_folds_three_segments_and_cuts_a_torn_tail() {
    let dir = TempDir::new("recover3");
    let (last, torn_at) = three_segments(&dir);
    let (_lock, r) = recover(&dir).unwrap();

    assert_eq!(pending_ids(&r), [2, 4, 5]);
    assert_eq!(r.pending[0], Pending { id: 2, topic: "b".into(), partition: 0 });
    // (a,0,0..=1) and (a,0,3..=3) are done; (b,0,2..=4) has 2 and 4 pending.
    assert_eq!(r.sequenced, [batch("b", 0, (2, 4), 9, 1, 0)]);
    assert_eq!(r.records_of(&r.sequenced[0]).map(|p| p.id).collect::<Vec<_>>(), [2, 4]);
    // a-0: 0 from the state, then 0 + 2 and 2 + 1; b-0: 0 + 2; c-0 as stated.
    let p = r.producer.clone().unwrap();
    assert_eq!((p.producer_id, p.producer_epoch), (9, 1));
    assert_eq!(p.next_sequences, [("a".into(), 0, 3), ("b".into(), 0, 2), ("c".into(), 0, 17)]);
    assert_eq!(r.next_id, 6);
    assert!(r.corruption.is_empty());
    let (torn, c) = r.torn_tail.clone().unwrap();
    assert_eq!((torn.as_path(), c.offset), (last.as_path(), torn_at));
    assert!(c.reason.contains("truncated entry"), "{}", c.reason);
    // The tail is cut off on disk.
    assert_eq!(fs::metadata(&last).unwrap().len(), torn_at);
    assert_eq!(scan_segment(&last).unwrap().stopped, None);
    let spans: Vec<_> = r.segments.iter().map(|s| (s.first_id, s.span, s.pending.ids())).collect();
    assert_eq!(spans, [(0, Some((0, 2)), vec![2]), (3, Some((3, 4)), vec![4]), (5, Some((5, 5)), vec![5])]);
}

#[test]
fn deleted_segments_take_nothing_still_needed_with_them() {
    let dir = TempDir::new("restate");
    three_segments(&dir);
    let (lock, r) = recover(&dir).unwrap();
    let mut log = SpoolLog::open(&dir, &r, DEFAULT_SEGMENT_BYTES).unwrap();
    assert_eq!(log.segment_ids(), [0, 3, 5, 6]);
    // Segment 3 goes: it held the Done of records 0 and 1 of segment 0 and
    // the only Sequenced entry of (b,0,2..=4), which the new segment's
    // preamble says again.
    log.done(&[(4, 4)]).unwrap();
    assert_eq!(log.segment_ids(), [0, 5, 6]);
    assert!(!segment_path(&dir, 3).exists());
    drop((log, lock));

    let (lock, r) = recover(&dir).unwrap();
    assert_eq!(pending_ids(&r), [2, 5]);
    assert_eq!(r.sequenced, [batch("b", 0, (2, 4), 9, 1, 0)]);
    assert_eq!(r.records_of(&r.sequenced[0]).count(), 1);
    let p = r.producer.clone().unwrap();
    assert_eq!(p.next_sequences, [("a".into(), 0, 3), ("b".into(), 0, 2), ("c".into(), 0, 17)]);
    assert_eq!(r.next_id, 7, "past the segment that open started");
    assert!(r.torn_tail.is_none() && r.corruption.is_empty());

    let mut log = SpoolLog::open(&dir, &r, DEFAULT_SEGMENT_BYTES).unwrap();
    assert_eq!(log.next_id(), 7);
    // Segment 6 held only a preamble: nothing pending, deleted at open.
    assert_eq!(log.segment_ids(), [0, 5, 7]);
    log.done(&[(0, 10)]).unwrap();
    assert_eq!(log.segment_ids(), [7]);
    drop((log, lock));
    let (_lock, r) = recover(&dir).unwrap();
    assert!(r.pending.is_empty() && r.sequenced.is_empty());
    assert_eq!(list_segments(&dir).unwrap().len(), 1);
}

/// A record written with partition -1 (spilled before its topic's
/// partitions were known) counts in the partition its `Placed` entry names,
/// and the `Placed` entry is restated while the record is pending, so a
/// deleted segment does not take it along.
#[test]
fn placed_records_count_in_their_partition_across_deletions() {
    let dir = TempDir::new("placed");
    write_segment(
        &dir,
        0,
        &[
            state(9, 0, &[]),
            record(0, "t", -1),
            record(1, "t", 1),
            Entry::Placed { id: 0, partition: 1 },
            sequenced("t", 1, (0, 1), 9, 0, 0),
        ],
    );
    write_segment(&dir, 2, &[record(2, "t", 0), Entry::Placed { id: 2, partition: 3 }]);
    let (lock, r) = recover(&dir).unwrap();
    assert_eq!(r.pending[0].partition, 1, "placed");
    assert_eq!(r.pending[2].partition, 0, "a placed record keeps its partition");
    assert_eq!(r.records_of(&r.sequenced[0]).map(|p| p.id).collect::<Vec<_>>(), [0, 1]);
    let p = r.producer.clone().unwrap();
    assert_eq!(p.next_sequences, [("t".into(), 1, 2)], "both records counted");
    assert_eq!(r.placed, [(0, 1)]);
    // Every segment rolls past: the preambles say where record 0 went.
    let mut log = SpoolLog::open(&dir, &r, 1).unwrap();
    log.append(&record(3, "t", 0)).unwrap();
    log.done(&[(1, 3)]).unwrap();
    assert_eq!(log.segment_ids().first(), Some(&0), "record 0 is pending");
    drop((log, lock));
    // Segment 0 (with the Record entry) stays; the Placed entry it held is
    // restated in the newest segment too.
    let newest = *list_segments(&dir).unwrap().last().map(|(id, _)| id).unwrap();
    let scan = scan_segment(&segment_path(&dir, newest)).unwrap();
    assert!(scan.entries.contains(&Entry::Placed { id: 0, partition: 1 }), "{:?}", scan.entries);
    let (_lock, r) = recover(&dir).unwrap();
    assert_eq!((pending_ids(&r), r.pending[0].partition), (vec![0], 1));
    assert_eq!(r.records_of(&r.sequenced[0]).count(), 1);
}

/// The caller's mark is the one written last, with a record or on its own,
/// and the preambles restate it, so it outlives the segments of the records
/// that carried it.
#[test]
fn the_mark_survives_rolls_deletions_and_restarts() {
    let dir = TempDir::new("mark");
    write_segment(&dir, 0, &[record(0, "t", 0), marked(record(1, "t", 0), 5), record(2, "t", 0)]);
    let (lock, r) = recover(&dir).unwrap();
    assert_eq!(r.mark, 5, "a record's mark; the record after it has none");
    // Every append rolls; every record is done: only the newest segment
    // stays, and its preamble carries the mark.
    let mut log = SpoolLog::open(&dir, &r, 1).unwrap();
    assert_eq!(log.mark(), 5);
    log.append(&marked(record(3, "t", 0), 9)).unwrap();
    log.done(&[(0, 3)]).unwrap();
    log.append(&state(1, 0, &[])).unwrap();
    assert_eq!(log.segment_ids().len(), 1, "{:?}", log.segment_ids());
    drop((log, lock));
    let (lock, r) = recover(&dir).unwrap();
    assert_eq!((r.mark, r.pending.len()), (9, 0));
    let mut log = SpoolLog::open(&dir, &r, 64 << 10).unwrap();
    log.append(&Entry::Mark { mark: 0 }).unwrap();
    log.sync().unwrap();
    drop((log, lock));
    assert_eq!(recover(&dir).unwrap().1.mark, 0, "cleared");
}

#[test]
fn corruption_in_an_earlier_segment_keeps_its_prefix_and_later_segments() {
    let dir = TempDir::new("corrupt");
    let first = write_segment(&dir, 0, &[record(0, "a", 0), record(1, "a", 0), record(2, "a", 0)]);
    write_segment(&dir, 3, &[record(3, "a", 0), done(&[(0, 0)])]);
    // Flip a byte of record 1's payload.
    let mut bytes = fs::read(&first).unwrap();
    let at = HEADER_LEN + framed(&record(0, "a", 0)).len();
    bytes[at + FRAME_HEADER_LEN + 3] ^= 0x40;
    fs::write(&first, &bytes).unwrap();

    let (_lock, r) = recover(&dir).unwrap();
    assert_eq!(pending_ids(&r), [3], "record 0 done; 1 and 2 lost behind the corruption");
    assert_eq!(r.corruption.len(), 1);
    let (path, c) = &r.corruption[0];
    assert_eq!((path, c.offset), (&first, at as u64));
    assert!(c.reason.contains("checksum mismatch"), "{}", c.reason);
    assert!(r.torn_tail.is_none());
    // Not cut: only the last segment's tail is.
    assert_eq!(fs::read(&first).unwrap(), bytes);
}

#[test]
fn a_last_segment_without_a_whole_header_is_removed() {
    let dir = TempDir::new("torn-header");
    write_segment(&dir, 0, &[record(0, "a", 0)]);
    let torn = segment_path(&dir, 1);
    fs::write(&torn, &segment::header(1)[..10]).unwrap();
    let (_lock, r) = recover(&dir).unwrap();
    assert_eq!(pending_ids(&r), [0]);
    assert!(r.torn_tail.unwrap().1.reason.contains("truncated file header"));
    assert!(!torn.exists());
    assert_eq!(r.segments.len(), 1);
    assert_eq!(r.next_id, 2, "past the removed segment's first id too");
}

#[test]
fn sequenced_again_replaces_and_sequences_wrap() {
    let dir = TempDir::new("resequence");
    write_segment(
        &dir,
        0,
        &[
            record(0, "a", 0),
            record(1, "b", 0),
            record(2, "a", 0),
            record(3, "a", 0),
            sequenced("a", 0, (0, 3), 5, 0, i32::MAX - 1),
            // The batch split in two and sequenced again under a new epoch.
            state(5, 1, &[]),
            sequenced("a", 0, (0, 0), 5, 1, 0),
            sequenced("a", 0, (2, 3), 5, 1, 1),
            // An older epoch's batch (as a preamble copies it): no effect on
            // the snapshot.
            sequenced("b", 0, (1, 1), 5, 0, 100),
            // Empty ranges (first id after the last) name no records, and
            // still read back: nothing a producer writes hides what follows.
            sequenced("a", 0, (3, 0), 5, 1, 50),
            done(&[(3, 2), (u64::MAX, 0)]),
            record(4, "a", 0),
        ],
    );
    let (_lock, r) = recover(&dir).unwrap();
    assert_eq!(
        r.sequenced,
        [batch("a", 0, (0, 0), 5, 1, 0), batch("a", 0, (2, 3), 5, 1, 1), batch("b", 0, (1, 1), 5, 0, 100)]
    );
    assert_eq!(r.producer.clone().unwrap().next_sequences, [("a".into(), 0, 3)]);
    assert_eq!(pending_ids(&r), [0, 1, 2, 3, 4]);

    // Without a ProducerState, the first batch starts the snapshot; the
    // next sequence wraps from i32::MAX to 0 like Kafka's.
    let dir = TempDir::new("wrap");
    write_segment(
        &dir,
        0,
        &[
            record(0, "a", 0),
            record(1, "a", 0),
            record(2, "a", 0),
            sequenced("a", 0, (0, 2), 5, 0, i32::MAX - 1),
            // An old copy (lower sequence) does not move it back.
            sequenced("a", 0, (0, 0), 5, 0, i32::MAX - 1),
        ],
    );
    let (_lock, r) = recover(&dir).unwrap();
    let p = r.producer.unwrap();
    assert_eq!((p.producer_id, p.producer_epoch, p.next_sequences), (5, 0, vec![("a".into(), 0, 1)]));
}

// ---------------------------------------------------------------------------
// The live log.

/// A pending record id's entry, as the model keeps it.
type Model = BTreeMap<u64, Entry>;

fn check_recovers(dir: &Path, model: &Model) -> (SpoolLock, Recovered) {
    let (lock, r) = recover(dir).unwrap();
    // Recovery keeps where each pending record goes; its bytes are read
    // back from the segments (as the feeder does).
    let ids: BTreeSet<u64> = r.pending.iter().map(|p| p.id).collect();
    let mut on_disk = BTreeMap::new();
    for (_, path) in list_segments(dir).unwrap() {
        for e in scan_segment(&path).unwrap().entries {
            if let Entry::Record { id, .. } = &e {
                if ids.contains(id) {
                    on_disk.insert(*id, e);
                }
            }
        }
    }
    let wanted: Vec<(u64, String, i32)> = model
        .values()
        .filter_map(|e| match e {
            Entry::Record { id, topic, partition, .. } => Some((*id, topic.clone(), *partition)),
            _ => None,
        })
        .collect();
    let got: Vec<(u64, String, i32)> =
        r.pending.iter().map(|p| (p.id, p.topic.to_string(), p.partition)).collect();
    assert_eq!(got, wanted);
    assert_eq!(on_disk.into_values().collect::<Vec<_>>(), model.values().cloned().collect::<Vec<_>>());
    assert!(r.torn_tail.is_none() && r.corruption.is_empty());
    (lock, r)
}

#[test]
fn rolls_and_deletes_finished_segments() {
    let dir = TempDir::new("roll");
    let (lock, r) = recover(&dir).unwrap();
    assert_eq!((r.next_id, r.segments.len()), (0, 0));
    let mut log = SpoolLog::open(&dir, &r, 400).unwrap();
    let mut model = Model::new();
    for _ in 0..40 {
        let id = log.next_id();
        let e = record(id, "t", (id % 3) as i32);
        log.append(&e).unwrap();
        model.insert(id, e);
    }
    let ids = log.segment_ids();
    assert!(ids.len() >= 5, "{ids:?}");
    // Every segment but the last holds about 400 bytes. The closed ones
    // are exactly their entries on disk; the active one's entries are
    // counted (a mapped segment has grown ahead of them).
    log.flush().unwrap();
    let segments = list_segments(&dir).unwrap();
    let (active, closed) = segments.split_last().unwrap();
    let mut on_disk = scan_segment(&active.1).unwrap().valid_len;
    for (_, p) in closed {
        let len = fs::metadata(p).unwrap().len();
        assert_eq!(len, scan_segment(p).unwrap().valid_len, "{}", p.display());
        on_disk += len;
    }
    assert_eq!(log.disk_bytes(), on_disk);
    for (id, path) in &list_segments(&dir).unwrap()[..ids.len() - 1] {
        let len = fs::metadata(path).unwrap().len();
        assert!((400..400 + 120).contains(&len), "segment {id}: {len} bytes");
    }

    // Records finishing out of order: a segment goes when its last one does.
    let first_segments = ids[..2].to_vec();
    log.done(&[(0, 4), (8, 12)]).unwrap();
    assert_eq!(log.segment_ids()[..2], first_segments[..]);
    log.done(&[(5, 7)]).unwrap();
    assert!(!log.segment_ids().contains(&first_segments[0]));
    for id in (0..=12).rev() {
        model.remove(&id);
    }
    assert!(log.disk_bytes() < on_disk);
    drop((log, lock));
    check_recovers(&dir, &model);
}

/// Random appends, sequencing, outcomes and restarts against a model of
/// what is pending; after each restart, recovery must say exactly that, and
/// no closed segment on disk may be without a pending record.
#[test]
fn random_operations_recover_what_is_pending() {
    let dir = TempDir::new("model");
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut model = Model::new();
    // The last batch sequenced per partition, and the producer's sequences.
    let mut sequences: BTreeMap<i32, i32> = BTreeMap::new();
    let (mut lock, mut r) = recover(&dir).unwrap();
    let mut log = SpoolLog::open(&dir, &r, 1500).unwrap();
    let mut unsequenced: BTreeMap<i32, Vec<u64>> = BTreeMap::new();
    let mut batches: Vec<(SequencedBatch, Vec<u64>)> = Vec::new();
    let (mut restarts, mut deletions) = (0, 0);
    for step in 0..3000 {
        match next(20) {
            0..=9 => {
                let id = log.next_id();
                let partition = next(3) as i32;
                let e = record(id, "t", partition);
                log.append(&e).unwrap();
                model.insert(id, e);
                unsequenced.entry(partition).or_default().push(id);
            }
            10..=13 => {
                // Sequence what a partition has.
                let partition = next(3) as i32;
                let ids = unsequenced.remove(&partition).unwrap_or_default();
                if let (Some(&first), Some(&last)) = (ids.first(), ids.last()) {
                    let seq = sequences.entry(partition).or_insert(0);
                    let b = batch("t", partition, (first, last), 77, 0, *seq);
                    *seq += ids.len() as i32;
                    log.append(&b.to_entry()).unwrap();
                    batches.push((b, ids));
                    let snapshot = ProducerSnapshot {
                        producer_id: 77,
                        producer_epoch: 0,
                        next_sequences: sequences.iter().map(|(&p, &s)| ("t".into(), p, s)).collect(),
                    };
                    log.set_producer_snapshot(snapshot);
                }
            }
            14..=18 if !batches.is_empty() => {
                // A batch completes (not always the oldest).
                let (_, ids) = batches.remove(next(batches.len().min(3) as u64) as usize);
                let ranges: Vec<(u64, u64)> = ids.iter().map(|&id| (id, id)).collect();
                let before = log.segment_ids().len();
                log.done(&ranges).unwrap();
                deletions += before.saturating_sub(log.segment_ids().len());
                for id in ids {
                    model.remove(&id);
                }
            }
            19 => {
                // Restart.
                restarts += 1;
                log.sync().unwrap();
                drop((log, lock));
                (lock, r) = check_recovers(&dir, &model);
                let mut expected: Vec<SequencedBatch> = batches.iter().map(|(b, _)| b.clone()).collect();
                expected.sort_by_key(|b| b.first_id);
                let mut got = r.sequenced.clone();
                got.sort_by_key(|b| b.first_id);
                assert_eq!(got, expected, "step {step}");
                for (b, ids) in &batches {
                    assert_eq!(r.records_of(b).map(|p| p.id).collect::<Vec<_>>(), *ids);
                }
                if let Some(p) = &r.producer {
                    let got: BTreeMap<i32, i32> = p.next_sequences.iter().map(|(_, p, s)| (*p, *s)).collect();
                    assert_eq!(got, sequences, "step {step}");
                }
                log = SpoolLog::open(&dir, &r, 1500).unwrap();
            }
            _ => {}
        }
    }
    assert!(restarts > 100 && deletions > 100, "{restarts} restarts, {deletions} segments deleted");
    log.sync().unwrap();
    drop((log, lock));
    let (_lock, r) = check_recovers(&dir, &model);
    // Only segments with pending records are left, and the last one.
    for s in &r.segments[..r.segments.len() - 1] {
        assert!(!s.pending.is_empty(), "segment {} has nothing pending", s.first_id);
    }
}

// ---------------------------------------------------------------------------
// The lock.

#[test]
fn one_producer_per_directory() {
    let dir = TempDir::new("lock");
    let lock = SpoolLock::acquire(&dir).unwrap();
    let err = SpoolLock::acquire(&dir).unwrap_err();
    match &err {
        SpoolError::Locked { dir: d, holder } => {
            assert_eq!(d.as_path(), &*dir);
            assert_eq!(holder.as_deref(), Some(format!("pid {}", std::process::id()).as_str()));
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&dir.display().to_string()) && msg.contains("in use"), "{msg}");
    // recover takes the same lock.
    assert!(matches!(recover(&dir), Err(SpoolError::Locked { .. })));
    drop(lock);
    let (_lock, r) = recover(&dir).unwrap();
    assert!(r.pending.is_empty());
    assert!(matches!(SpoolLock::acquire(&dir), Err(SpoolError::Locked { .. })));
}

#[test]
fn error_messages() {
    let io = SpoolError::io(Path::new("/x/0.spool"), std::io::Error::other("disk on fire"));
    assert_eq!(io.to_string(), "spool I/O error on /x/0.spool: disk on fire");
    assert!(std::error::Error::source(&io).is_some());
    let locked = SpoolError::Locked { dir: "/var/spool/k".into(), holder: None };
    assert_eq!(locked.to_string(), "spool directory /var/spool/k is in use by another producer");
    let e = Entry::decode(&[0, 0, 0, 1, 0, 0, 0, 0, 1]).unwrap_err();
    assert!(e.to_string().starts_with("corrupt spool entry at byte 0: entry checksum mismatch"), "{e}");
}
