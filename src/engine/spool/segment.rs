//! Segment files: append-only logs of [`Entry`] frames behind a small header.
//!
//! ```text
//! segment = header entry*
//! header  = magic "KSSPOOL\0" (8 bytes)
//!           version: u16 BE        (FORMAT_VERSION, 1)
//!           first_id: u64 BE       (the segment's first id; also its file name)
//!           crc: u32 BE            CRC-32C of the 18 bytes before it
//! ```
//!
//! A segment is named `<first id, 20 digits>.spool`, so names sort in the
//! order segments were created. See [`entry`](super::entry) for the entries.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use super::entry::{decode_frame, Entry, Payload, MAX_ENTRY_LEN};
#[cfg(all(feature = "spool-mmap", any(target_os = "linux", target_os = "android")))]
use super::mapped::Sink;
use super::SpoolError;
#[cfg(not(all(feature = "spool-mmap", any(target_os = "linux", target_os = "android"))))]
use buffered::Sink;

/// The file header's magic bytes.
pub(crate) const MAGIC: &[u8; 8] = b"KSSPOOL\0";
/// The format version this code writes and reads.
pub(crate) const FORMAT_VERSION: u16 = 1;
/// Bytes of the file header.
pub(crate) const HEADER_LEN: usize = 8 + 2 + 8 + 4;
/// Segment file names end with this.
const SUFFIX: &str = ".spool";
/// Digits of a segment file name's id.
const ID_DIGITS: usize = 20;

/// The path of the segment that starts at `first_id` in `dir`.
pub(crate) fn segment_path(dir: &Path, first_id: u64) -> PathBuf {
    dir.join(format!("{first_id:0ID_DIGITS$}{SUFFIX}"))
}

/// The first id a segment file name says, if it is one (20 digits + `.spool`).
fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != ID_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The file header of a segment starting at `first_id`.
pub(crate) fn header(first_id: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    h[10..18].copy_from_slice(&first_id.to_be_bytes());
    let crc = crc32c::crc32c(&h[..18]);
    h[18..].copy_from_slice(&crc.to_be_bytes());
    h
}

/// Why a segment's file header is bad.
#[derive(Debug)]
enum HeaderError {
    Truncated(usize),
    Magic,
    Checksum {
        stored: u32,
        computed: u32,
    },
    /// A good header of a format this build does not read.
    Version(u16),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Truncated(n) => write!(f, "truncated file header: {n} of {HEADER_LEN} bytes"),
            Self::Magic => f.write_str("not a spool segment (bad magic)"),
            Self::Checksum { stored, computed } => {
                write!(f, "file header checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            Self::Version(v) => write!(
                f,
                "segment format version {v}, this build reads version {FORMAT_VERSION} (written by a newer kafka-sync?)"
            ),
        }
    }
}

/// Reads a file header: the segment's first id, or why it is not one.
fn read_header(bytes: &[u8]) -> Result<u64, HeaderError> {
    let Some(h) = bytes.first_chunk::<HEADER_LEN>() else {
        return Err(HeaderError::Truncated(bytes.len()));
    };
    if &h[..8] != MAGIC {
        return Err(HeaderError::Magic);
    }
    let stored = u32::from_be_bytes([h[18], h[19], h[20], h[21]]);
    let computed = crc32c::crc32c(&h[..18]);
    if stored != computed {
        return Err(HeaderError::Checksum { stored, computed });
    }
    let version = u16::from_be_bytes([h[8], h[9]]);
    if version != FORMAT_VERSION {
        return Err(HeaderError::Version(version));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&h[10..18]);
    Ok(u64::from_be_bytes(id))
}

/// An append-only segment file `<dir>/<first id, 20 digits>.spool`.
///
/// Without the `spool-mmap` feature appends are buffered;
/// [`flush`](Self::flush) hands them to the OS (`write`). With it (on
/// Linux), an append copies the entry into a shared memory mapping of the
/// file, which is the OS's page cache, so there is nothing to flush (see
/// `mapped.rs`). [`sync`](Self::sync) makes them durable.
/// After a failed write the writer refuses every later append: the file
/// may end in part of an entry, and anything appended after it would be
/// lost at recovery, when the scan stops at the partial entry.
pub(crate) struct SegmentWriter {
    file: Sink,
    path: PathBuf,
    len: u64,
    failed: bool,
}

impl std::fmt::Debug for SegmentWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentWriter").field("path", &self.path).field("len", &self.len).finish()
    }
}

/// Why a [`Sink`] did not append an entry.
#[derive(Debug)]
pub(super) enum AppendError {
    /// The payload has this many bytes, over [`MAX_ENTRY_LEN`]; nothing was
    /// written.
    TooLarge(usize),
    /// Writing failed; part of the entry may be in the file.
    Io(std::io::Error),
}

impl SegmentWriter {
    /// Creates the segment starting at `first_id` in `dir` (which must not
    /// have it yet) and writes its header. The directory is synced so that
    /// the new name survives a crash once the file's data is synced.
    pub fn create(dir: &Path, first_id: u64) -> Result<Self, SpoolError> {
        let path = segment_path(dir, first_id);
        // (Read access too: a shared writable mapping needs it.)
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| SpoolError::io(&path, e))?;
        let mut w = Self { file: Sink::new(file), path, len: 0, failed: false };
        let written = w.file.write_header(&header(first_id));
        w.wrote(written.map(|()| HEADER_LEN as u64).map_err(AppendError::Io))?;
        sync_dir(dir)?;
        Ok(w)
    }

    /// Appends `e` and returns the byte offset it starts at. An entry over
    /// [`MAX_ENTRY_LEN`] is refused with [`SpoolError::TooLarge`] and
    /// nothing is written.
    pub fn append<P: Payload + ?Sized>(&mut self, e: &P) -> Result<u64, SpoolError> {
        self.check()?;
        let at = self.len;
        let written = self.file.append(at, e);
        self.wrote(written).map(|()| at)
    }

    /// Accounts for what an append wrote (its bytes), or fails the writer
    /// on an I/O error.
    fn wrote(&mut self, written: Result<u64, AppendError>) -> Result<(), SpoolError> {
        match written {
            Ok(n) => {
                self.len += n;
                Ok(())
            }
            Err(AppendError::TooLarge(size)) => {
                Err(SpoolError::TooLarge { size: size as u64, max: MAX_ENTRY_LEN as u64 })
            }
            Err(AppendError::Io(e)) => {
                self.failed = true;
                Err(SpoolError::io(&self.path, e))
            }
        }
    }

    fn check(&self) -> Result<(), SpoolError> {
        if self.failed {
            let e =
                std::io::Error::other("an earlier write to this segment failed; it takes no more entries");
            return Err(SpoolError::io(&self.path, e));
        }
        Ok(())
    }

    /// Hands the appended entries to the OS (`write`; with `spool-mmap`
    /// they are there already and this only checks the writer).
    pub fn flush(&mut self) -> Result<(), SpoolError> {
        self.check()?;
        self.file.flush().map_err(|e| {
            self.failed = true;
            SpoolError::io(&self.path, e)
        })
    }

    /// [`flush`](Self::flush), then a second handle on the file, to
    /// `fdatasync` with after the caller released its lock (the sync covers
    /// everything flushed before it, whichever handle it goes through, and
    /// on Linux everything written through a mapping of the file too).
    pub fn flushed_handle(&mut self) -> Result<File, SpoolError> {
        self.flush()?;
        self.file.file().try_clone().map_err(|e| SpoolError::io(&self.path, e))
    }

    /// [`flush`](Self::flush), then `fdatasync` ([`File::sync_data`]).
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        self.flush()?;
        self.file.file().sync_data().map_err(|e| {
            self.failed = true;
            SpoolError::io(&self.path, e)
        })
    }

    /// Ends writing for now: [`flush`](Self::flush)es, and with
    /// `spool-mmap` unmaps the file and cuts it to [`len`](Self::len) (the
    /// space grown ahead of the entries goes). An append after it grows the
    /// file again. Dropping the writer does the same, logging errors.
    pub fn finish(&mut self) -> Result<(), SpoolError> {
        self.flush()?;
        self.file.finish(self.len).map_err(|e| SpoolError::io(&self.path, e))
    }

    /// Bytes of the segment: its header and the entries appended (buffered
    /// ones included; not the space a mapped segment grew ahead of them).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The segment's file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Syncs a directory, so that entries created in it survive a crash. Only
/// Unix can open a directory for this; elsewhere it is a no-op.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| SpoolError::io(dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Where and why a scan stopped before the end of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Corruption {
    /// Byte offset in the segment of the first byte not taken (the header's,
    /// or the entry's that did not decode).
    pub offset: u64,
    /// What was wrong there.
    pub reason: String,
}

/// What a segment holds, front to back, up to the first bad byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentScan {
    /// The intact entries, in order.
    pub entries: Vec<Entry>,
    /// Bytes of the segment that are intact: its header and `entries`
    /// (0 when the header is bad). Zeros after them are not counted.
    pub valid_len: u64,
    /// `None` when every byte was taken, or every byte after `valid_len` is
    /// zero (the clean end of a segment: nothing was written there); else
    /// where and why the scan stopped.
    pub stopped: Option<Corruption>,
}

/// Reads the segment at `path`. I/O errors are `Err`, and so is a header of
/// a format version this build does not read ([`SpoolError::Corrupt`]: the
/// segment is not corrupt, but must not be taken for empty either). Bad
/// bytes end the scan and are in [`SegmentScan::stopped`]; a header whose
/// first id differs from the file name's counts as bad bytes at offset 0.
#[cfg_attr(not(test), allow(dead_code))] // (tests and the fuzz oracle)
pub(crate) fn scan_segment(path: &Path) -> Result<SegmentScan, SpoolError> {
    let mut entries = Vec::new();
    let scan = scan_segment_with(path, |e| entries.push(e))?;
    Ok(SegmentScan { entries, ..scan })
}

/// [`scan_segment`], handing each entry to `take` in order instead of
/// collecting them (the scan's `entries` is empty): the segment's bytes are
/// read into memory, its entries are not kept.
pub(crate) fn scan_segment_with(path: &Path, take: impl FnMut(Entry)) -> Result<SegmentScan, SpoolError> {
    let bytes = fs::read(path).map_err(|e| SpoolError::io(path, e))?;
    let named = path.file_name().and_then(|n| n.to_str()).and_then(parse_name);
    match (read_header(&bytes), named) {
        (Err(e @ HeaderError::Version(_)), _) => {
            Err(SpoolError::Corrupt { path: path.to_path_buf(), offset: 8, reason: e.to_string() })
        }
        (Ok(first), Some(named)) if named != first => Ok(SegmentScan {
            entries: Vec::new(),
            valid_len: 0,
            stopped: Some(Corruption {
                offset: 0,
                reason: format!("the file header says first id {first}, the file name {named}"),
            }),
        }),
        _ => Ok(scan_bytes_with(&bytes, take)),
    }
}

/// [`scan_segment`] over bytes in memory. Never panics; allocates only for
/// entries whose lengths, counts and checksums were found good. Bytes after
/// the last entry that are all zero end the segment cleanly (see
/// [`SegmentScan::stopped`]).
pub(crate) fn scan_bytes(bytes: &[u8]) -> SegmentScan {
    let mut entries = Vec::new();
    let scan = scan_bytes_with(bytes, |e| entries.push(e));
    SegmentScan { entries, ..scan }
}

/// [`scan_bytes`], handing each entry to `take` (the scan's `entries` is
/// empty).
pub(crate) fn scan_bytes_with(bytes: &[u8], mut take: impl FnMut(Entry)) -> SegmentScan {
    let mut scan = SegmentScan { entries: Vec::new(), valid_len: 0, stopped: None };
    if let Err(e) = read_header(bytes) {
        scan.stopped = Some(Corruption { offset: 0, reason: e.to_string() });
        return scan;
    }
    let mut at = HEADER_LEN;
    while at < bytes.len() {
        match decode_frame(&bytes[at..]) {
            Ok((entry, used)) => {
                take(entry);
                at += used;
            }
            // Nothing but zeros from here on: nothing was written there
            // (a mapped segment grown ahead of its entries, or a file
            // system's zero fill after a power loss). No entry starts with
            // a zero length, so no entry is lost by ending here.
            Err(_) if bytes[at..].iter().all(|&b| b == 0) => break,
            Err(e) => {
                scan.stopped = Some(Corruption { offset: at as u64, reason: e.to_string() });
                break;
            }
        }
    }
    scan.valid_len = at as u64;
    scan
}

/// Cuts the segment at `path` to its first `valid_len` bytes (a torn tail
/// after a crash) and syncs it, before anything is appended again.
pub(crate) fn truncate_to(path: &Path, valid_len: u64) -> Result<(), SpoolError> {
    let f = OpenOptions::new().write(true).open(path).map_err(|e| SpoolError::io(path, e))?;
    f.set_len(valid_len).and_then(|()| f.sync_all()).map_err(|e| SpoolError::io(path, e))
}

/// The segments in `dir`, sorted by first id; other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, SpoolError> {
    let mut segments = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| SpoolError::io(dir, e))? {
        let e = e.map_err(|e| SpoolError::io(dir, e))?;
        if let Some(id) = e.file_name().to_str().and_then(parse_name) {
            segments.push((id, e.path()));
        }
    }
    segments.sort();
    Ok(segments)
}

/// The segment writer's file without the `spool-mmap` feature: a
/// [`BufWriter`](std::io::BufWriter), flushed by the caller.
#[cfg(not(all(feature = "spool-mmap", any(target_os = "linux", target_os = "android"))))]
mod buffered {
    use std::fs::File;
    use std::io::{BufWriter, Write};

    use super::super::entry::{encode_framed, Payload, FRAME_HEADER_LEN, MAX_ENTRY_LEN};
    use super::AppendError;

    /// Buffer of a segment writer.
    const WRITE_BUFFER: usize = 64 << 10;

    pub(crate) struct Sink {
        file: BufWriter<File>,
        /// An entry is encoded here, then written.
        scratch: Vec<u8>,
    }

    impl Sink {
        pub fn new(file: File) -> Self {
            Self { file: BufWriter::with_capacity(WRITE_BUFFER, file), scratch: Vec::new() }
        }

        pub fn write_header(&mut self, header: &[u8]) -> std::io::Result<()> {
            self.file.write_all(header)
        }

        /// Appends `e` (buffered): its bytes.
        pub fn append<P: Payload + ?Sized>(&mut self, _at: u64, e: &P) -> Result<u64, AppendError> {
            let mut buf = std::mem::take(&mut self.scratch);
            buf.clear();
            encode_framed(e, &mut buf);
            let payload = buf.len() - FRAME_HEADER_LEN;
            let result = if payload > MAX_ENTRY_LEN {
                Err(AppendError::TooLarge(payload))
            } else {
                self.file.write_all(&buf).map(|()| buf.len() as u64).map_err(AppendError::Io)
            };
            // Keep a moderate buffer around for the next entry, not a huge one.
            if buf.capacity() <= WRITE_BUFFER {
                self.scratch = buf;
            }
            result
        }

        pub fn flush(&mut self) -> std::io::Result<()> {
            self.file.flush()
        }

        pub fn file(&self) -> &File {
            self.file.get_ref()
        }

        /// Nothing to do beyond [`flush`](Self::flush), which the writer did.
        pub fn finish(&mut self, _len: u64) -> std::io::Result<()> {
            Ok(())
        }
    }
}
