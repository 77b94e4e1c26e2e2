//! The spool as the engine uses it: `send` writes each record before it
//! returns, the broker threads write which batch got which producer id and
//! sequence before the Produce request goes out (and force the spool to
//! disk then, with `spool.fsync=batch`), and a batch's records are marked
//! done once its outcome is final.
//!
//! # Lock order
//!
//! `Spool::log` is taken by `send` **before** the stripe lock of the
//! record's partition, and held while the record is appended: record ids
//! then grow in queue order within every partition, which is what a
//! `Sequenced` entry's id range relies on. A spilled record's handle is
//! registered under it too (the registry's lock, a leaf), before the feeder
//! can see the record: registered later, a record fed in between would
//! have its handle report `Closed` although it was delivered. Nothing else
//! is taken under it; the broker threads and the feeder take it alone
//! (never under a stripe lock).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::entry::RecordParts;
use super::replay::ReplayPlan;
use super::segment::HEADER_LEN;
use super::{
    recover, Entry, ProducerSnapshot, Recovered, SpoolError, SpoolLock, SpoolLog, DEFAULT_SEGMENT_BYTES,
};
use crate::config::SpoolFsync;
use crate::delivery::SpillRegistry;
use crate::engine::accumulator::increment_sequence;
use crate::protocol::record_batch::Header;

/// What the live log needs beside the log itself.
#[derive(Debug)]
struct Live {
    log: SpoolLog,
    /// Each partition's next sequence under `producer` (for the snapshot a
    /// segment starts with).
    next: HashMap<(String, i32), i32>,
    producer: Option<(i64, i16)>,
    /// The first write error: the spool refuses records from then on.
    broken: Option<String>,
    /// Spilled records not yet fed to batches: while there are any, every
    /// record `send` accepts is spilled too (so that each partition keeps
    /// send order).
    backlog: Option<SpillRun>,
    /// Set when the producer begins to close: no more records.
    intake_closed: bool,
    /// While the feeder replays what the previous run left (the backlog's
    /// ids below `boundary`, sparse: only the pending ones are fed).
    replay: Option<ReplayProgress>,
}

/// The replay's place in the backlog: the previous run's pending records
/// (ids below `boundary`, `left` of them not fed yet) come first; the
/// records `send` spills meanwhile (ids from `boundary` on, in this run's
/// first segment, `segment`) follow.
#[derive(Debug, Clone, Copy)]
struct ReplayProgress {
    boundary: u64,
    left: u64,
    segment: u64,
}

/// Spilled records not yet fed: ids `next..=last` (every record written in
/// that span spilled), the first of them at `at` (segment first id, byte
/// offset) in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpillRun {
    pub next: u64,
    pub last: u64,
    pub at: (u64, u64),
}

/// The durable spool of one producer.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    fsync: SpoolFsync,
    max_bytes: u64,
    log: Mutex<Live>,
    /// What the previous run left, until the producer resumes its id.
    recovered: Mutex<Option<Recovered>>,
    /// What the feeder replays first, until it takes it.
    plan: Mutex<Option<ReplayPlan>>,
    /// The directory's lock, released by `close` so that another producer
    /// may take the spool over.
    lock: Mutex<Option<SpoolLock>>,
    /// Whether records are being spilled (`Live::backlog` is set): read
    /// without the lock by `send`, to skip waiting for a topic's metadata.
    spilling: AtomicBool,
    /// Signalled (with `log`) when records are spilled, fed, or intake
    /// closes: the feeder and `flush` wait on it.
    changed: Condvar,
    /// Handles and callbacks of spilled records.
    pub registry: Arc<SpillRegistry>,
    /// Topics the cluster said do not exist for a whole max.block.ms while
    /// the feeder waited for them (see `feeder::locate`).
    pub missing_topics: Mutex<HashSet<String>>,
    /// The caller's mark for the records it sends from now on
    /// (`Producer::set_spool_mark`); written with the next record the log
    /// takes if it differs from the mark last written.
    mark: AtomicU64,
}

/// What [`Spool::record`] did with a record.
#[derive(Debug)]
pub(crate) enum Recorded<T, S> {
    /// Written and appended to a batch (what the append returned).
    Appended(T),
    /// Written only (spilled): the feeder appends it later. What the
    /// `spilled` callback returned, run under the lock, before the feeder
    /// can see the record (so that its handle is registered by then).
    Spilled(S),
}

/// Why the spool refused a record.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// `spool.max.bytes` stayed used up for the whole wait.
    Full(u64),
    /// The spool cannot be written.
    Broken(String),
    /// The producer is closing.
    Closed,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`: takes its lock and reads what
    /// a previous run left (see [`Spool::take_recovered`]).
    pub fn open(dir: &Path, fsync: SpoolFsync, max_bytes: u64) -> Result<Self, SpoolError> {
        let (lock, recovered) = recover(dir)?;
        for (path, c) in &recovered.corruption {
            log::error!(
                "spool segment {} is damaged at byte {}: {}; the records after it are lost",
                path.display(),
                c.offset,
                c.reason
            );
        }
        if let Some((path, c)) = &recovered.torn_tail {
            log::warn!(
                "spool segment {} ended in a torn write at byte {} ({}); cut there, the records before it are kept",
                path.display(),
                c.offset,
                c.reason
            );
        }
        // Segments small enough that several fit in spool.max.bytes: space
        // comes back a segment at a time.
        let segment_bytes = DEFAULT_SEGMENT_BYTES.min(max_bytes / 4).max(64 << 10);
        let log = SpoolLog::open(dir, &recovered, segment_bytes)?;
        let recovered_mark = recovered.mark;
        let (producer, next) = match &recovered.producer {
            Some(p) => (
                Some((p.producer_id, p.producer_epoch)),
                p.next_sequences.iter().map(|(t, part, n)| ((t.clone(), *part), *n)).collect(),
            ),
            None => (None, HashMap::new()),
        };
        // What the previous run left is fed first, by the feeder, read back
        // from its segments as memory allows: records `send` takes meanwhile
        // are spilled behind it (each partition keeps send order).
        let (backlog, replay) =
            match (recovered.pending.first(), recovered.segments.iter().find(|s| !s.pending.is_empty())) {
                (Some(first), Some(segment)) => {
                    log::info!(
                        "spool {}: {} record(s) left by the previous run will be sent first",
                        dir.display(),
                        recovered.pending.len()
                    );
                    let boundary = log.peek_next_id();
                    (
                        Some(SpillRun {
                            next: first.id,
                            last: boundary - 1,
                            at: (segment.first_id, HEADER_LEN as u64),
                        }),
                        Some(ReplayProgress {
                            boundary,
                            left: recovered.pending.len() as u64,
                            segment: log.active_first_id(),
                        }),
                    )
                }
                _ => (None, None),
            };
        let plan = replay.zip(backlog).map(|(r, run)| ReplayPlan::of(&recovered, r.boundary, run.at.0));
        Ok(Self {
            dir: dir.to_path_buf(),
            fsync,
            max_bytes,
            log: Mutex::new(Live {
                log,
                next,
                producer,
                broken: None,
                backlog,
                intake_closed: false,
                replay,
            }),
            spilling: AtomicBool::new(backlog.is_some()),
            recovered: Mutex::new(Some(recovered)),
            plan: Mutex::new(plan),
            lock: Mutex::new(Some(lock)),
            changed: Condvar::new(),
            registry: Arc::default(),
            mark: AtomicU64::new(recovered_mark),
            missing_topics: Mutex::default(),
        })
    }

    /// What the previous run left (once).
    pub fn take_recovered(&self) -> Option<Recovered> {
        self.recovered.lock().take()
    }

    /// What the feeder replays before the records this run spills (once).
    pub fn take_replay_plan(&self) -> Option<ReplayPlan> {
        self.plan.lock().take()
    }

    /// One more replayed record was fed (or failed for good).
    pub fn replay_fed(&self) {
        if let Some(r) = self.log.lock().replay.as_mut() {
            r.left = r.left.saturating_sub(1);
        }
    }

    /// The replay is over: the records spilled meanwhile are fed next, or,
    /// if there are none, records are no longer spilled.
    pub fn replay_done(&self) {
        let mut live = self.log.lock();
        let Some(r) = live.replay.take() else { return };
        live.backlog = match live.backlog {
            Some(run) if run.last >= r.boundary => {
                Some(SpillRun { next: r.boundary, last: run.last, at: (r.segment, HEADER_LEN as u64) })
            }
            _ => None,
        };
        if live.backlog.is_none() {
            self.spilling.store(false, Ordering::Release);
        }
        self.changed.notify_all();
    }

    /// Bytes the spool takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.log.lock().log.disk_bytes()
    }

    /// Writes a record `send` accepted, then runs `append` with its id while
    /// the log is still locked (see the lock order), unless records are
    /// being spilled: then, or if `append` returns `None` (no room in
    /// `buffer.memory`), the record is spilled (the feeder appends it later)
    /// and `spilled` runs with its id, still under the lock.
    /// Waits up to `deadline` (`None`: not at all) while `spool.max.bytes` is
    /// used up. `partition` is -1 for a record whose topic's partitions are
    /// not known yet: it is spilled, and placed when fed ([`Self::placed`]).
    #[allow(clippy::too_many_arguments)]
    pub fn record<T, S>(
        &self,
        topic: &str,
        partition: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        deadline: Option<Instant>,
        append: impl FnOnce(u64) -> Option<T>,
        spilled: impl FnOnce(u64) -> S,
    ) -> Result<Recorded<T, S>, Refusal> {
        let size = (topic.len() + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len)) as u64
            + headers
                .iter()
                .map(|h| (h.key.len() + h.value.as_ref().map_or(0, Vec::len) + 8) as u64)
                .sum::<u64>()
            + 64;
        let mut live = self.log.lock();
        loop {
            if live.intake_closed {
                return Err(Refusal::Closed);
            }
            if let Some(why) = &live.broken {
                return Err(Refusal::Broken(why.clone()));
            }
            if live.log.disk_bytes() + size <= self.max_bytes {
                break;
            }
            match deadline {
                Some(d) if Instant::now() < d => {
                    drop(live);
                    // Space comes back as records are done (broker threads).
                    std::thread::sleep(Duration::from_millis(5));
                    live = self.log.lock();
                }
                _ => return Err(Refusal::Full(self.max_bytes)),
            }
        }
        let id = live.log.next_id();
        let mark = self.mark.load(Ordering::Relaxed);
        // Encoded from the caller's fields, not copied into an `Entry` first.
        let entry = RecordParts {
            id,
            topic,
            partition,
            timestamp,
            key,
            value,
            headers,
            mark: (mark != live.log.mark()).then_some(mark),
        };
        // Handed to the operating system before `send` returns: a process
        // crash loses nothing. With `record`, also on disk, synced after the
        // lock is released (concurrent senders' syncs then overlap).
        let written = live.log.append_record(&entry).and_then(|at| match self.fsync {
            SpoolFsync::Record => live.log.flush_for_sync().map(|s| (at, Some(s))),
            _ => live.log.flush().map(|()| (at, None)),
        });
        let (at, to_sync) = match written {
            Ok(s) => s,
            Err(e) => {
                let why = e.to_string();
                log::error!("the spool cannot be written, records are refused from now on: {why}");
                live.broken = Some(why.clone());
                return Err(Refusal::Broken(why));
            }
        };
        let appended = match live.backlog.as_mut() {
            Some(run) => {
                run.last = id;
                // (Registered before the feeder can see the record.)
                Recorded::Spilled(spilled(id))
            }
            // A topic whose partitions are not known yet: the feeder
            // chooses (and writes a `Placed` entry).
            None if partition < 0 => {
                self.start_spilling(&mut live, id, at);
                Recorded::Spilled(spilled(id))
            }
            None => match append(id) {
                Some(t) => Recorded::Appended(t),
                None => {
                    self.start_spilling(&mut live, id, at);
                    Recorded::Spilled(spilled(id))
                }
            },
        };
        drop(live);
        if let Some((file, path)) = to_sync {
            if let Err(e) = file.sync_data() {
                let why = SpoolError::io(&path, e).to_string();
                log::error!("the spool cannot be written, records are refused from now on: {why}");
                self.log.lock().broken = Some(why);
                // The record is queued already: it goes out, but it was not
                // on disk when `send` returned (logged).
            }
        }
        Ok(appended)
    }

    fn start_spilling(&self, live: &mut Live, id: u64, at: (u64, u64)) {
        log::info!(
            "spool: buffer.memory is full or a topic is not known yet; records go to the spool only until it catches up"
        );
        live.backlog = Some(SpillRun { next: id, last: id, at });
        self.spilling.store(true, Ordering::Release);
        self.changed.notify_all();
    }

    /// Whether records are being spilled.
    pub fn spilling(&self) -> bool {
        self.spilling.load(Ordering::Acquire)
    }

    /// Record `id`, written with partition -1, goes to `partition`: written
    /// (and handed to the OS) before the record joins a batch, so that a
    /// restart counts it in the right partition's batches.
    pub fn placed(&self, id: u64, partition: i32) {
        let mut live = self.log.lock();
        if let Err(e) = live.log.append(&Entry::Placed { id, partition }).and_then(|()| live.log.flush()) {
            log::error!("could not write a spilled record's partition to the spool: {e}");
        }
    }

    /// Spilled records not yet fed.
    pub fn backlog(&self) -> u64 {
        let live = self.log.lock();
        match (live.backlog, live.replay) {
            (Some(run), Some(r)) => r.left + (run.last + 1).saturating_sub(r.boundary),
            (Some(run), None) => run.last + 1 - run.next,
            (None, _) => 0,
        }
    }

    /// The spilled records not yet fed, waiting for some as long as it
    /// takes; `None` once `stop()` holds (checked whenever the feeder is
    /// woken: whoever makes it hold then calls [`poke`](Self::poke)).
    pub fn wait_spilled(&self, stop: impl Fn() -> bool) -> Option<SpillRun> {
        let mut live = self.log.lock();
        loop {
            if stop() {
                return None;
            }
            if let Some(run) = live.backlog {
                return Some(run);
            }
            self.changed.wait(&mut live);
        }
    }

    /// Spilled record `id` (the run's next) was fed to a batch, or failed
    /// for good. When it was the last one, records are no longer spilled.
    pub fn fed(&self, id: u64) {
        let mut live = self.log.lock();
        if let Some(run) = live.backlog.as_mut() {
            debug_assert_eq!(run.next, id, "spilled records are fed in order");
            run.next = id + 1;
            if run.next > run.last {
                live.backlog = None;
                self.spilling.store(false, Ordering::Release);
            }
        }
        self.changed.notify_all();
    }

    /// Waits until every record spilled with an id up to `through` was fed,
    /// or `deadline` passes (`false`).
    pub fn wait_fed(&self, through: u64, deadline: Option<Instant>) -> bool {
        let mut live = self.log.lock();
        loop {
            match live.backlog {
                Some(run) if run.next <= through => {}
                _ => return true,
            }
            match deadline {
                Some(d) => {
                    if self.changed.wait_until(&mut live, d).timed_out() {
                        return live.backlog.is_none_or(|run| run.next > through);
                    }
                }
                None => self.changed.wait(&mut live),
            }
        }
    }

    /// The id of the last record written (`None`: none yet).
    pub fn last_id(&self) -> Option<u64> {
        self.log.lock().log.peek_next_id().checked_sub(1)
    }

    /// The segment after the one starting at id `first_id`, if any.
    pub fn segment_after(&self, first_id: u64) -> Option<u64> {
        self.log.lock().log.segment_after(first_id)
    }

    /// The spool's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// No record is accepted from now on (the producer begins to close);
    /// wakes the feeder and `flush` waiters.
    pub fn close_intake(&self) {
        self.log.lock().intake_closed = true;
        self.changed.notify_all();
    }

    /// Wakes whoever waits on the spool (the feeder, to see it must stop).
    pub fn poke(&self) {
        let _g = self.log.lock();
        self.changed.notify_all();
    }

    /// A batch of `records` records (spool ids `first..=last`) of
    /// `topic`-`partition` got producer id, epoch and base sequence: written
    /// before the Produce request carrying it.
    #[allow(clippy::too_many_arguments)]
    pub fn sequenced(
        &self,
        topic: &str,
        partition: i32,
        first: u64,
        last: u64,
        records: u32,
        producer: (i64, i16),
        base_sequence: i32,
    ) {
        let mut live = self.log.lock();
        let entry = Entry::Sequenced {
            topic: topic.to_owned(),
            partition,
            first_id: first,
            last_id: last,
            producer_id: producer.0,
            producer_epoch: producer.1,
            base_sequence,
        };
        if live.producer == Some(producer) {
            let next = increment_sequence(base_sequence, records as i32);
            let slot = live.next.entry((topic.to_owned(), partition)).or_insert(next);
            // Retries resend lower sequences; keep the highest.
            if next > *slot || (*slot > i32::MAX / 2 && next < i32::MAX / 2) {
                *slot = next;
            }
            let snapshot = snapshot_of(&live);
            live.log.set_producer_snapshot(snapshot);
        }
        if let Err(e) = live.log.append(&entry) {
            // Not fatal for delivery: only a crash before this batch is
            // done would resend it under a fresh sequence (a possible
            // duplicate); say so loudly.
            log::error!("could not write a batch's sequence to the spool: {e}");
        }
    }

    /// The producer id changed (a new id or epoch): sequences restart.
    pub fn producer(&self, producer_id: i64, producer_epoch: i16) {
        let mut live = self.log.lock();
        if live.producer == Some((producer_id, producer_epoch)) {
            return;
        }
        live.producer = Some((producer_id, producer_epoch));
        live.next.clear();
        let snapshot = snapshot_of(&live);
        let entry = snapshot.to_entry();
        live.log.set_producer_snapshot(snapshot);
        if let Err(e) = live.log.append(&entry).and_then(|()| live.log.flush()) {
            log::error!("could not write the producer id to the spool: {e}");
        }
    }

    /// Before a Produce request goes out: with `spool.fsync=batch` or
    /// `record`, forces everything written so far (the request's `Sequenced`
    /// entries included) to disk, so that a restart after a machine crash
    /// resends what the broker may have under the same sequence numbers. The
    /// sync runs after the log's lock is released: `send` does not wait for
    /// it.
    pub fn before_request(&self) {
        if self.fsync == SpoolFsync::None {
            return;
        }
        let handle = self.log.lock().log.flush_for_sync();
        match handle.and_then(|(file, path)| file.sync_data().map_err(|e| SpoolError::io(&path, e))) {
            Ok(()) => {}
            Err(e) => log::error!("could not force the spool to disk: {e}"),
        }
    }

    /// The records with these ids have their final outcome.
    pub fn done(&self, ids: &[u64]) {
        if ids.is_empty() {
            return;
        }
        let ranges = ranges_of(ids);
        let mut live = self.log.lock();
        if let Err(e) = live.log.done(&ranges) {
            log::error!("could not mark {} record(s) done in the spool: {e}", ids.len());
        }
    }

    /// The caller's mark: the one given last to [`set_mark`](Self::set_mark),
    /// or at start the one the previous run wrote last.
    pub fn mark(&self) -> u64 {
        self.mark.load(Ordering::Relaxed)
    }

    /// The records accepted from now on carry `mark` (written with the
    /// first of them, in its entry); [`close`](Self::close) writes it if no
    /// record did.
    pub fn set_mark(&self, mark: u64) {
        self.mark.store(mark, Ordering::Relaxed);
    }

    /// Forces everything to disk and releases the directory (on close):
    /// nothing is written after this. A mark set after the last record is
    /// written first.
    pub fn close(&self) {
        let mut live = self.log.lock();
        let mark = self.mark.load(Ordering::Relaxed);
        if live.broken.is_none() && mark != live.log.mark() {
            if let Err(e) = live.log.append(&Entry::Mark { mark }) {
                log::warn!("could not write the spool mark on close: {e}");
            }
        }
        if let Err(e) = live.log.close() {
            log::warn!("could not force the spool to disk on close: {e}");
        }
        live.broken = Some("the producer is closed".into());
        self.lock.lock().take();
    }
}

fn snapshot_of(live: &Live) -> ProducerSnapshot {
    let (producer_id, producer_epoch) = live.producer.unwrap_or((-1, -1));
    let mut next_sequences: Vec<(String, i32, i32)> =
        live.next.iter().map(|((t, p), n)| (t.clone(), *p, *n)).collect();
    next_sequences.sort();
    ProducerSnapshot { producer_id, producer_epoch, next_sequences }
}

/// `ids` (increasing) as inclusive ranges of consecutive ids.
pub(crate) fn ranges_of(ids: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &id in ids {
        match out.last_mut() {
            Some((_, hi)) if *hi + 1 == id => *hi = id,
            _ => out.push((id, id)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_ranges() {
        assert_eq!(ranges_of(&[1, 2, 3, 7, 9, 10]), vec![(1, 3), (7, 7), (9, 10)]);
        assert!(ranges_of(&[]).is_empty());
    }
}
