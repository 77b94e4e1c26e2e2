//! The segment writer's file with the `spool-mmap` feature (Linux): entries
//! are copied into a shared, writable memory mapping of the segment file.
//!
//! # Why
//!
//! `send` must not return before its record is in the kernel (the page
//! cache), so that a crash of the process loses nothing; buffering records
//! in user space is not allowed. Through `write(2)` that is a system call
//! per record: measured with `benches/spool.rs` (500,000 x 100 B against
//! tansu), 2.3-2.6 µs of CPU per record with the spool on (1.5 of it in the
//! kernel) against 0.44 with it off, and a fifth of the throughput. A page of
//! a shared mapping *is* the page cache's page, so a `memcpy` into it needs
//! no system call: the record is in the kernel once the copy is done.
//!
//! # How
//!
//! - The file is grown ahead of the entries, by writing zeros with
//!   `pwrite` (64 KiB at first, doubling per growth up to [`MAX_GROWTH`]):
//!   the file system reserves (or allocates) the space then, so a full disk
//!   is an `ENOSPC` error of that write, which fails the writer as a failed
//!   `write` does, instead of a `SIGBUS` at some later copy into a page that
//!   has no block. The price: with `spool.fsync=batch` a sync often writes
//!   zeros that the entries later overwrite, about 1.4x the bytes written to
//!   disk (measured: 116 MB for 500,000 x 100 B against 82 MB through
//!   `write(2)`).
//! - One window of the file is mapped: from the last [`MAP_ALIGN`] boundary
//!   at or before the end of the entries to the end of the file. An entry
//!   that does not fit grows the file (by enough for it, if it is large)
//!   and replaces the window. Remapping costs an `mmap` and a `munmap` per
//!   growth, a few per MiB.
//! - An entry is encoded straight into the window, then its length and
//!   CRC-32C are filled in. Bytes past the entries are zero: an encoding
//!   that did not fit, or was too large, is zeroed again.
//! - Durability: on Linux, `fdatasync` writes back the file's dirty pages
//!   whether `write(2)` or a store through a shared mapping dirtied them
//!   (the first store to a clean page faults and marks it dirty; writeback
//!   write-protects it again), and `msync(MS_SYNC)` is that same
//!   `vfs_fsync_range` call (mm/msync.c). So the writer's `sync` and the
//!   handle of `flushed_handle` need no `msync`. Elsewhere that is not
//!   promised, and this module is not built.
//! - [`finish`](Sink::finish) (a roll, the producer's close, drop) unmaps the
//!   window and cuts the file to the entries' end, so a closed segment has no
//!   zero tail and its size is what the spool counts. After a crash the last
//!   segment ends in zeros; the scan reads them as the end of the segment
//!   and recovery cuts them off.
//!
//! # What can go wrong
//!
//! Memory-mapped bytes can change or vanish under the program. The spool's
//! directory is locked (`spool.lock`), so no other kafka-sync producer, in
//! this process or another, writes or truncates a segment while its writer
//! lives. A program other than kafka-sync that truncates a segment file
//! while it is mapped makes the next copy into the cut-off part raise
//! `SIGBUS`, which kills the process; one that writes into it corrupts the
//! entries (as it would without the mapping).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use memmap2::{MmapMut, MmapOptions};

use super::entry::{seal_frame, Payload, FRAME_HEADER_LEN, MAX_ENTRY_LEN};
use super::segment::AppendError;
use crate::protocol::primitives::Writer;

/// Window offsets are multiples of this: `mmap` wants page-aligned offsets,
/// and 64 KiB is a multiple of every page size Linux uses (4, 16, 64 KiB).
pub(crate) const MAP_ALIGN: u64 = 64 << 10;

/// The first growth of a file, and the least one.
pub(crate) const MIN_GROWTH: u64 = 64 << 10;

/// The most a file grows by at once (unless an entry needs more): the most
/// zeros an active segment holds past its entries. A growth doubles the
/// file up to this, so small segments stay small.
pub(crate) const MAX_GROWTH: u64 = 1 << 20;

/// Zeros to grow a file with, 16 KiB per `pwrite`. The size of these writes
/// sets the size of the page cache's folios for the range (Linux 6.x on
/// ext4 and others): a store through the mapping faults once per folio
/// after each writeback, and dirties the whole folio, which the next
/// `fdatasync` writes. Measured (benches/spool.rs, tansu, 500,000 x 100 B;
/// Linux 6.18, ext4): 4 KiB writes cost `spool.fsync=none` 0.86-0.96 µs of
/// CPU per record (0.4 of it in faults and the kernel), 64 KiB writes 0.62,
/// 16 KiB 0.76-0.84; but with `spool.fsync=record` each record's sync
/// writes a folio: 4.5 KB per record written to disk with 4 KiB (as with
/// `write(2)`), 17 KB with 16 KiB, 68 KB with 64 KiB.
static ZEROS: [u8; 16 << 10] = [0; 16 << 10];

/// A segment file written through a memory mapping (see the module docs).
pub(crate) struct Sink {
    file: File,
    /// The window: the file's bytes `map_at..map_at + map.len()`.
    map: Option<MmapMut>,
    map_at: u64,
    /// The file's length: zeros from the end of the entries up to here.
    allocated: u64,
    /// The end of the entries (what [`finish`](Self::finish) and drop cut
    /// the file to).
    end: u64,
}

impl Sink {
    /// A writer of `file`, which is new (empty).
    pub fn new(file: File) -> Self {
        Self { file, map: None, map_at: 0, allocated: 0, end: 0 }
    }

    /// Writes the file header at the start.
    pub fn write_header(&mut self, header: &[u8]) -> io::Result<()> {
        self.reserve(0, header.len() as u64)?[..header.len()].copy_from_slice(header);
        self.end = header.len() as u64;
        Ok(())
    }

    /// Appends `e` at byte `at` (the end of the entries): its bytes.
    pub fn append<P: Payload + ?Sized>(&mut self, at: u64, e: &P) -> Result<u64, AppendError> {
        let mut w = SliceWriter::new(self.room(at));
        e.encode_payload(&mut w);
        let (total, fitted, dirty) = (w.pos, w.fits, w.dirty);
        let payload = total.saturating_sub(FRAME_HEADER_LEN);
        if payload > MAX_ENTRY_LEN || !fitted {
            // Back to zeros: nothing past the entries but zeros (what a
            // crash leaves must read as the segment's end).
            self.room(at)[..dirty].fill(0);
            if payload > MAX_ENTRY_LEN {
                return Err(AppendError::TooLarge(payload));
            }
            let room = self.reserve(at, total as u64).map_err(AppendError::Io)?;
            let mut w = SliceWriter::new(room);
            e.encode_payload(&mut w);
            debug_assert!(w.fits && w.pos == total, "an entry encodes to the same bytes twice");
        }
        seal_frame(&mut self.room(at)[..total]);
        self.end = at + total as u64;
        Ok(total as u64)
    }

    /// The window from byte `at` on (empty if it is not in the window).
    fn room(&mut self, at: u64) -> &mut [u8] {
        let Some(map) = self.map.as_mut() else {
            return &mut [];
        };
        match at.checked_sub(self.map_at).and_then(|o| usize::try_from(o).ok()) {
            Some(o) if o <= map.len() => &mut map[o..],
            _ => &mut [],
        }
    }

    /// The window from byte `at` on, with at least `n` bytes: grows the file
    /// and maps a new window if need be.
    fn reserve(&mut self, at: u64, n: u64) -> io::Result<&mut [u8]> {
        let need = at.checked_add(n).ok_or_else(|| io::Error::other("segment offset overflow"))?;
        if (self.room(at).len() as u64) < n {
            // The old window goes first: the new one covers its end.
            self.map = None;
            if need > self.allocated {
                let growth = self.allocated.clamp(MIN_GROWTH, MAX_GROWTH);
                let to = need.max(self.allocated + growth).next_multiple_of(MAP_ALIGN);
                self.grow(to)?;
            }
            let map_at = at - at % MAP_ALIGN;
            let len = usize::try_from(self.allocated - map_at)
                .map_err(|_| io::Error::other("segment window too large for the address space"))?;
            self.map = Some(map_window(&self.file, map_at, len)?);
            self.map_at = map_at;
        }
        Ok(self.room(at))
    }

    /// Grows the file to `to` bytes by writing zeros (so that its blocks
    /// are allocated now: a full disk is an error here, not a `SIGBUS` later).
    fn grow(&mut self, to: u64) -> io::Result<()> {
        while self.allocated < to {
            let n = (to - self.allocated).min(ZEROS.len() as u64) as usize;
            self.file.write_all_at(&ZEROS[..n], self.allocated)?;
            self.allocated += n as u64;
        }
        Ok(())
    }

    /// Nothing to hand over: a copy into the mapping is in the page cache.
    pub fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// The file, to sync (see the module docs: `fdatasync` covers the
    /// mapping's pages).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Unmaps the window and cuts the file to `len` bytes, the end of the
    /// entries. A later append grows it again.
    pub fn finish(&mut self, len: u64) -> io::Result<()> {
        self.map = None;
        if self.allocated != len {
            self.file.set_len(len)?;
            self.allocated = len;
        }
        Ok(())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Err(e) = self.finish(self.end) {
            log::warn!(
                "could not cut a spool segment to its {} bytes: {e} (the zeros after them read as its end)",
                self.end
            );
        }
    }
}

/// Maps the file's bytes `offset..offset + len` (`offset` a multiple of
/// [`MAP_ALIGN`]), shared and writable.
///
/// The crate denies `unsafe` code; this is one of the two places allowed
/// (the other reads the CPU's time-stamp counter, src/engine/clock.rs). Measured reason
/// (benches/spool.rs, see the module docs): the mapping removes the
/// `write(2)` per record that made the spool cost 2-2.6 µs of CPU per
/// record and four fifths of the throughput.
#[allow(unsafe_code)]
fn map_window(file: &File, offset: u64, len: usize) -> io::Result<MmapMut> {
    // SAFETY: `map_mut` is unsafe because the mapped bytes may change or
    // vanish under the program, and Rust treats the `&mut [u8]` it hands out
    // as exclusively ours. Here the file is a segment this writer created
    // (`create_new`) in a spool directory locked by its `spool.lock`: no
    // other kafka-sync producer, in this process or another, opens it for
    // writing or truncates it while the writer lives (recovery, which cuts
    // segments, runs under the lock, before any writer exists). The range
    // lies within the file: `reserve` wrote its zeros first, and the file
    // only shrinks in `finish`, after this mapping is dropped. Only another
    // program could break this, by truncating the file (a later copy into
    // the cut-off part raises SIGBUS) or writing into it (corrupt entries,
    // as without the mapping); the feature's docs say so.
    unsafe { MmapOptions::new().offset(offset).len(len).map_mut(file) }
}

/// A [`Writer`] into a slice that counts on past its end: what does not fit
/// is not written, but `pos` still says how many bytes the whole encoding
/// takes. The first [`FRAME_HEADER_LEN`] bytes are left for the frame's
/// length and CRC.
struct SliceWriter<'a> {
    buf: &'a mut [u8],
    /// Bytes the encoding took so far (frame header included).
    pos: usize,
    /// Whether every byte so far was written.
    fits: bool,
    /// The end of the bytes written into `buf` (what an encoding that did
    /// not fit leaves, to zero again).
    dirty: usize,
}

impl<'a> SliceWriter<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        let fits = buf.len() >= FRAME_HEADER_LEN;
        Self { buf, pos: FRAME_HEADER_LEN, fits, dirty: 0 }
    }
}

impl Writer for SliceWriter<'_> {
    #[inline]
    fn put_slice(&mut self, b: &[u8]) {
        let end = self.pos.saturating_add(b.len());
        if self.fits {
            match self.buf.get_mut(self.pos..end) {
                Some(dst) => {
                    dst.copy_from_slice(b);
                    self.dirty = end;
                }
                None => self.fits = false,
            }
        }
        self.pos = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::spool::fuzz::record;

    /// A full disk is an error of the growth's `write` (here `/dev/full`,
    /// where every write fails with `ENOSPC`), before anything is mapped.
    #[test]
    fn a_full_disk_is_an_error_not_a_signal() {
        let Ok(file) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/full") else {
            eprintln!("SKIP: no /dev/full");
            return;
        };
        let mut sink = Sink::new(file);
        let e = sink.write_header(&[1; 22]).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28), "{e}"); // ENOSPC
        match sink.append(22, &record(1, "t", 0)) {
            Err(AppendError::Io(e)) => assert_eq!(e.raw_os_error(), Some(28), "{e}"),
            other => panic!("{other:?}"),
        }
        assert!(sink.map.is_none());
    }

    #[test]
    fn growth_doubles_up_to_the_maximum_and_windows_are_aligned() {
        let dir = std::env::temp_dir().join(format!("kafka-sync-mapped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("growth");
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path);
        let mut sink = Sink::new(file.unwrap());
        sink.write_header(&[1; 22]).unwrap();
        let mut at = 22;
        let mut sizes = vec![sink.allocated];
        while at < 5 << 20 {
            at += sink.append(at, &record(at, "t", 0)).unwrap();
            if sizes.last() != Some(&sink.allocated) {
                sizes.push(sink.allocated);
            }
            assert_eq!(sink.map_at % MAP_ALIGN, 0);
        }
        let k = 1 << 10;
        assert_eq!(sizes[..7], [64 * k, 128 * k, 256 * k, 512 * k, 1024 * k, 2048 * k, 3072 * k]);
        sink.finish(at).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), at);
        drop(sink);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
