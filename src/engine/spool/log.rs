//! The live spool log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::entry::{Entry, RecordParts};
use super::idset::{uncovered, IdSet};
use super::recover::{widen, ProducerSnapshot, Recovered, SegmentInfo, SequencedBatch, SequencedSet};
use super::segment::SegmentWriter;
use super::SpoolError;

/// The default `segment_bytes`: 64 MiB.
pub(crate) const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

/// The most ranges one `Done` entry of a preamble holds (16 bytes each).
const PREAMBLE_DONE_RANGES: usize = 1 << 16;

/// The live log: appends to the active segment, rolls to a new one past
/// `segment_bytes`, and deletes a segment once every record in it is done.
///
/// # What lives where
///
/// Each segment starts with a **preamble**, written when it is created
/// (at a roll, and at [`open`](Self::open) after recovery), before any entry
/// of the caller:
///
/// 1. a `ProducerState` with the snapshot last given to
///    [`set_producer_snapshot`](Self::set_producer_snapshot) (or appended),
///    and a `Mark` with the caller's mark, if there is one;
/// 2. a `Placed` entry for every pending record written with partition -1
///    that was placed since, then a `Sequenced` entry for every batch some
///    of whose records are still pending;
/// 3. `Done` entries naming every id, within the id span of each older
///    segment still on disk, that is not pending: the outcomes recorded in
///    segments that may be deleted.
///
/// So the newest segment's preamble and the entries after it say everything
/// the older segments said, except their `Record` entries: an older segment
/// matters only for its records, and once none of them is pending (and it
/// is not the active one) it is deleted, in any order.
///
/// One thing a deleted segment takes along is not restated: the records of
/// batches that are done. At recovery a `Sequenced` entry raises its
/// partition's next sequence by its batch's record count, counted from the
/// `Record` entries; so before deleting, the log appends a `ProducerState`
/// with the current snapshot, and the `Sequenced` entries after it have
/// their records on disk. Then the active segment is synced, so what
/// replaces a deleted segment is on disk before it goes. The old active
/// segment is synced at a roll, so no entry is lost behind a newer durable
/// one.
///
/// # Contract with the caller
///
/// - Ids come from [`next_id`](Self::next_id); a `Record` is appended before
///   any `Sequenced` or `Done` entry naming it (appending them out of order
///   is harmless, but a `Done` before its `Record` is ignored at recovery).
/// - Keep the producer snapshot current with
///   [`set_producer_snapshot`](Self::set_producer_snapshot) (or by appending
///   `ProducerState` entries) whenever sequences are assigned: rolls and
///   deletions write what it was last given, and recovery takes the latest
///   one written as the truth, raised only by the `Sequenced` entries after
///   it.
/// - Mark whole batches done: a batch is resent with all its records.
/// - After an I/O error the active segment takes no more entries, and every
///   later call fails: the spool is broken until the producer restarts.
///
/// An entry whose append fails was not written (or, after a failed write,
/// is cut off at recovery as the last segment's torn tail, since nothing
/// can follow it), with one exception: a `Done` entry is written and applied
/// before the segments it finishes are deleted, so an error from deleting
/// them comes after it (repeating a `Done` is harmless).
#[derive(Debug)]
pub(crate) struct SpoolLog {
    dir: PathBuf,
    segment_bytes: u64,
    active: SegmentWriter,
    /// The active segment's first id, pending ids and id span.
    active_first_id: u64,
    active_pending: IdSet,
    active_span: Option<(u64, u64)>,
    /// Older segments still on disk, oldest first.
    closed: Vec<SegmentInfo>,
    /// Batches some of whose records may be pending (pruned at each roll).
    sequenced: SequencedSet,
    /// Records written with partition -1 and where they went (`Placed`
    /// entries; pruned at each roll).
    placed: BTreeMap<u64, i32>,
    producer: Option<ProducerSnapshot>,
    next_id: u64,
    /// The caller's mark last written (0: none).
    mark: u64,
}

impl SpoolLog {
    /// Continues the spool that [`recover`](super::recover()) read: keeps its
    /// segments until their records are done, and starts a new active
    /// segment, with a preamble (see the type's docs), whose first id is the
    /// next id. Then deletes the recovered segments with no pending record.
    /// `segment_bytes` is the size past which the log rolls
    /// ([`DEFAULT_SEGMENT_BYTES`] is a good one).
    pub fn open(dir: &Path, recovered: &Recovered, segment_bytes: u64) -> Result<Self, SpoolError> {
        let after_last = recovered.segments.last().map_or(0, |s| s.first_id.saturating_add(1));
        // Recovery made `next_id` past the last segment's first id already;
        // a hand-made `Recovered` may not have.
        let first_id = recovered.next_id.max(after_last);
        let mut log = Self {
            dir: dir.to_path_buf(),
            segment_bytes,
            active: SegmentWriter::create(dir, first_id)?,
            active_first_id: first_id,
            active_pending: IdSet::default(),
            active_span: None,
            closed: recovered.segments.clone(),
            sequenced: recovered.sequenced.iter().cloned().collect(),
            placed: recovered.placed.iter().copied().collect(),
            producer: recovered.producer.clone(),
            next_id: first_id,
            mark: recovered.mark,
        };
        log.write_preamble()?;
        log.delete_finished(false)?;
        Ok(log)
    }

    /// Appends `e` to the active segment, rolling first if it is full.
    /// A `Done` entry is applied as [`done`](Self::done) does.
    pub fn append(&mut self, e: &Entry) -> Result<(), SpoolError> {
        self.append_at(e).map(|_| ())
    }

    /// Like [`append`](Self::append), returning where the entry starts: the
    /// first id of its segment and its byte offset there.
    pub fn append_at(&mut self, e: &Entry) -> Result<(u64, u64), SpoolError> {
        if self.active.len() >= self.segment_bytes {
            self.roll()?;
        }
        let at = (self.active_first_id, self.active.append(e)?);
        match e {
            Entry::Record { id, mark, .. } => self.recorded(*id, *mark),
            Entry::Sequenced { .. } => self.sequenced.extend(SequencedBatch::of(e)),
            Entry::Placed { id, partition } => {
                self.placed.insert(*id, *partition);
            }
            Entry::Mark { mark } => self.mark = *mark,
            Entry::Done { ranges } => {
                for &(first, last) in ranges {
                    self.active_pending.remove_range(first, last);
                    for s in &mut self.closed {
                        s.pending.remove_range(first, last);
                    }
                }
                self.delete_finished(true)?;
            }
            Entry::ProducerState { producer_id, producer_epoch, next_sequences } => {
                self.producer = Some(ProducerSnapshot {
                    producer_id: *producer_id,
                    producer_epoch: *producer_epoch,
                    next_sequences: next_sequences.clone(),
                });
            }
        }
        Ok(at)
    }

    /// Like [`append_at`](Self::append_at) for the `Record` entry of
    /// `record`'s fields, encoded from them where they are.
    pub fn append_record(&mut self, record: &RecordParts<'_>) -> Result<(u64, u64), SpoolError> {
        if self.active.len() >= self.segment_bytes {
            self.roll()?;
        }
        let at = (self.active_first_id, self.active.append(record)?);
        self.recorded(record.id, record.mark);
        Ok(at)
    }

    /// Record `id` was appended to the active segment, with the caller's
    /// mark if it changed.
    fn recorded(&mut self, id: u64, mark: Option<u64>) {
        if let Some(mark) = mark {
            self.mark = mark;
        }
        self.active_pending.insert(id);
        widen(&mut self.active_span, id);
        self.next_id = self.next_id.max(id.saturating_add(1));
    }

    /// The first id of the segment after the one whose first id is
    /// `first_id` (`None`: that one is the active segment).
    pub fn segment_after(&self, first_id: u64) -> Option<u64> {
        self.closed.iter().map(|s| s.first_id).chain([self.active_first_id]).find(|&id| id > first_id)
    }

    /// The active segment's first id.
    pub fn active_first_id(&self) -> u64 {
        self.active_first_id
    }

    /// The id the next record will get.
    pub fn peek_next_id(&self) -> u64 {
        self.next_id
    }

    /// Records that the records with ids in `ranges` have a final outcome
    /// (appends a `Done` entry), and deletes the segments this finishes.
    pub fn done(&mut self, ranges: &[(u64, u64)]) -> Result<(), SpoolError> {
        self.append(&Entry::Done { ranges: ranges.to_vec() })
    }

    /// The current producer snapshot: what the next segment's preamble
    /// starts with, and what is written before a segment is deleted.
    pub fn set_producer_snapshot(&mut self, snapshot: ProducerSnapshot) {
        self.producer = Some(snapshot);
    }

    /// Makes every entry appended so far durable (flush + `fdatasync`).
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        self.active.sync()
    }

    /// Hands every entry appended so far to the OS and returns a handle on
    /// the active segment to `fdatasync` outside the caller's lock (older
    /// segments were synced when the log rolled past them).
    pub fn flush_for_sync(&mut self) -> Result<(std::fs::File, std::path::PathBuf), SpoolError> {
        let f = self.active.flushed_handle()?;
        Ok((f, self.active.path().to_path_buf()))
    }

    /// Hands every entry appended so far to the OS.
    pub fn flush(&mut self) -> Result<(), SpoolError> {
        self.active.flush()
    }

    /// Makes every entry appended so far durable and finishes the active
    /// segment ([`SegmentWriter::finish`]: with `spool-mmap`, unmapped and
    /// cut to its entries), before the spool's directory is unlocked. An
    /// append after it still works (the segment grows again).
    pub fn close(&mut self) -> Result<(), SpoolError> {
        self.sync()?;
        self.active.finish()
    }

    /// Bytes of every segment on disk, the active one's buffered bytes included.
    pub fn disk_bytes(&self) -> u64 {
        self.closed.iter().map(|s| s.bytes).sum::<u64>() + self.active.len()
    }

    /// The caller's mark last written (0: none).
    pub fn mark(&self) -> u64 {
        self.mark
    }

    /// Allocates a record id.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = id.saturating_add(1);
        id
    }

    /// Whether some record with an id in `first..=last` is pending.
    fn any_pending(&self, first: u64, last: u64) -> bool {
        self.active_pending.contains_any(first, last)
            || self.closed.iter().any(|s| s.pending.contains_any(first, last))
    }

    /// Closes the active segment (synced and finished) and starts the next,
    /// with a preamble.
    fn roll(&mut self) -> Result<(), SpoolError> {
        self.active.sync()?;
        let first_id = self.next_id.max(self.active_first_id.saturating_add(1));
        let next = SegmentWriter::create(&self.dir, first_id)?;
        self.next_id = first_id;
        let mut old = std::mem::replace(&mut self.active, next);
        if let Err(e) = old.finish() {
            // Synced already; what is left past its entries reads as its end.
            log::warn!("could not finish spool segment {}: {e}", old.path().display());
        }
        self.closed.push(SegmentInfo {
            first_id: self.active_first_id,
            path: old.path().to_path_buf(),
            bytes: old.len(),
            pending: std::mem::take(&mut self.active_pending),
            span: self.active_span.take(),
        });
        self.active_first_id = first_id;
        self.write_preamble()?;
        self.delete_finished(false)
    }

    /// Writes the active segment's preamble (see the type's docs).
    fn write_preamble(&mut self) -> Result<(), SpoolError> {
        if let Some(p) = &self.producer {
            self.active.append(&p.to_entry())?;
        }
        if self.mark != 0 {
            self.active.append(&Entry::Mark { mark: self.mark })?;
        }
        let mut placed = std::mem::take(&mut self.placed);
        placed.retain(|&id, _| self.any_pending(id, id));
        self.placed = placed;
        // Before the `Sequenced` entries: recovery must know a record's
        // partition to count it in its batch.
        for (&id, &partition) in &self.placed {
            self.active.append(&Entry::Placed { id, partition })?;
        }
        let mut sequenced = std::mem::take(&mut self.sequenced);
        sequenced.retain(|b| self.any_pending(b.first_id, b.last_id));
        self.sequenced = sequenced;
        for b in self.sequenced.in_log_order() {
            self.active.append(&b.to_entry())?;
        }
        let done = uncovered(
            self.closed.iter().filter_map(|s| s.span),
            self.closed.iter().map(|s| &s.pending).chain([&self.active_pending]),
        );
        for ranges in done.chunks(PREAMBLE_DONE_RANGES) {
            self.active.append(&Entry::Done { ranges: ranges.to_vec() })?;
        }
        Ok(())
    }

    /// Deletes the closed segments none of whose records is pending, after
    /// appending the producer snapshot (unless `snapshot` is false: a
    /// preamble just did) and syncing the active segment (see the type's
    /// docs).
    fn delete_finished(&mut self, snapshot: bool) -> Result<(), SpoolError> {
        if self.closed.iter().all(|s| !s.pending.is_empty()) {
            return Ok(());
        }
        if let Some(p) = self.producer.as_ref().filter(|_| snapshot) {
            self.active.append(&p.to_entry())?;
        }
        self.active.sync()?;
        let mut result = Ok(());
        self.closed.retain(|s| {
            if !s.pending.is_empty() || result.is_err() {
                return true;
            }
            match std::fs::remove_file(&s.path) {
                Ok(()) => false,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => {
                    result = Err(SpoolError::io(&s.path, e));
                    true
                }
            }
        });
        result
    }

    /// The segments on disk: the closed ones' first ids, then the active one's.
    #[cfg(test)]
    pub fn segment_ids(&self) -> Vec<u64> {
        self.closed.iter().map(|s| s.first_id).chain([self.active_first_id]).collect()
    }
}
