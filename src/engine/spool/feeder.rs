//! The feeder: the thread that moves spilled records from the spool into
//! batches.
//!
//! `send` spills a record (writes it to the spool only, see
//! [`Spool::record`]) when `buffer.memory` has no room for it, or its
//! topic's partitions are not known while the cluster does not answer
//! (partition -1: the feeder chooses one, and writes it down with a
//! `Placed` entry before the record joins a batch). From then on every record is spilled, so that each partition keeps send order,
//! until the feeder has caught up: it reads the spilled records back from
//! the log in id order, waits for each one's topic metadata and for room in
//! `buffer.memory` (this thread blocks, not `send`), appends it to its
//! partition's batch, and points its handle there. So an outage longer than
//! the buffer costs disk, not memory.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::entry::{decode_frame, Entry, FRAME_HEADER_LEN, MAX_ENTRY_LEN};
use super::replay::{self, headers_of, record_of, OnReplayed, Replayed};
use super::segment::{segment_path, HEADER_LEN};
use super::{PendingRecord, SpillRun, Spool};
use crate::delivery::{Callback, Resolution};
use crate::engine::accumulator::{AppendInput, AppendRefused, HeaderBudget, TxnJoin, BATCH_OVERHEAD};
use crate::engine::clock::now_micros;
use crate::engine::metadata::TopicMeta;
use crate::engine::{broker, SharedState};
use crate::error::{DeliveryError, DeliveryErrorKind, Persistence};
use crate::partitioner::{Partitioner, Partitions};
use crate::protocol::record_batch::{record_fields_size, record_size_bound};
use crate::KafkaCode;

/// How long one wait (for work, metadata or memory) lasts before the feeder
/// checks whether it must stop.
const TICK: Duration = Duration::from_millis(200);

/// Where the feeder reads: a segment, and the offset of the next entry.
pub(super) struct Reader {
    segment: u64,
    file: File,
    offset: u64,
    /// The id of the last record fed (the next one to feed follows it).
    last_fed: Option<u64>,
}

/// The feeder thread's body: replays what the previous run left (see
/// [`replay`]), then feeds spilled records until `stop()`
/// holds.
pub(crate) fn run(
    shared: SharedState,
    partitioner: Arc<dyn Partitioner>,
    on_replayed: Option<OnReplayed>,
    stop: impl Fn() -> bool,
) {
    let Some(sp) = shared.spool.as_ref() else { return };
    if let Some(plan) = sp.take_replay_plan() {
        if !replay::replay(&shared, sp, partitioner.as_ref(), on_replayed.as_ref(), plan, &stop) {
            return;
        }
    }
    let mut reader: Option<Reader> = None;
    let mut failures = 0u32;
    while !stop() {
        let Some(run) = sp.wait_spilled(&stop) else { continue };
        let rec = match next_spilled(sp, &mut reader, run) {
            Ok(r) => {
                failures = 0;
                r
            }
            Err(why) => {
                // The records stay in the spool (the next run recovers what
                // is intact); try again, in case it was passing.
                failures += 1;
                if crate::engine::worth_a_warning(failures) {
                    log::error!("spool: cannot read spilled records back: {why}");
                }
                reader = None;
                std::thread::sleep(TICK);
                continue;
            }
        };
        let Some(rec) = rec else {
            // Not written yet as far as this reader sees: look again soon.
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        let id = rec.id;
        if !feed(&shared, sp, partitioner.as_ref(), rec, &stop, Source::Spilled) {
            return;
        }
        if let Some(r) = reader.as_mut() {
            r.last_fed = Some(id);
        }
        sp.fed(id);
    }
}

/// Reads the run's next record; `Ok(None)` if it is not there yet.
fn next_spilled(
    sp: &Spool,
    reader: &mut Option<Reader>,
    run: SpillRun,
) -> Result<Option<PendingRecord>, String> {
    // A new run (or a first one): start at its first record.
    let continues = reader.as_ref().is_some_and(|r| r.last_fed.is_some_and(|id| id + 1 == run.next));
    if !continues {
        let (segment, offset) = run.at;
        *reader = Some(open(sp, segment, offset, run.next.checked_sub(1))?);
    }
    let r = reader.as_mut().expect("opened");
    loop {
        match read_entry(r)? {
            Some(Entry::Record { id, topic, partition, timestamp, key, value, headers, .. })
                if id == run.next =>
            {
                return Ok(Some(PendingRecord { id, topic, partition, timestamp, key, value, headers }));
            }
            Some(Entry::Record { id, .. }) if id > run.next => {
                return Err(format!("spilled record {} is missing (found {id} in its place)", run.next));
            }
            // Records before the run, and the other entries.
            Some(_) => {}
            None => match sp.segment_after(r.segment) {
                Some(next) => *r = open(sp, next, HEADER_LEN as u64, r.last_fed)?,
                None => return Ok(None),
            },
        }
    }
}

/// A reader of `segment` from byte `offset`.
pub(super) fn open(sp: &Spool, segment: u64, offset: u64, last_fed: Option<u64>) -> Result<Reader, String> {
    let path = segment_path(sp.dir(), segment);
    let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Reader { segment, file, offset, last_fed })
}

/// The entry at the reader's offset, moving past it; `None` at the end of
/// what is written.
pub(super) fn read_entry(r: &mut Reader) -> Result<Option<Entry>, String> {
    let mut head = [0u8; FRAME_HEADER_LEN];
    r.file.seek(SeekFrom::Start(r.offset)).map_err(|e| e.to_string())?;
    if !read_full(&mut r.file, &mut head)? {
        return Ok(None);
    }
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len == 0 {
        // Zeros: nothing written there yet (a memory-mapped segment is
        // grown ahead of its entries, see `spool-mmap`), as at the file's end.
        return Ok(None);
    }
    if len > MAX_ENTRY_LEN {
        return Err(format!("segment {} has an entry of {len} bytes at byte {}", r.segment, r.offset));
    }
    let mut frame = vec![0u8; FRAME_HEADER_LEN + len];
    frame[..FRAME_HEADER_LEN].copy_from_slice(&head);
    if !read_full(&mut r.file, &mut frame[FRAME_HEADER_LEN..])? {
        return Ok(None);
    }
    let (entry, used) = decode_frame(&frame)
        .map_err(|e| format!("segment {} is damaged at byte {}: {e}", r.segment, r.offset))?;
    r.offset += used as u64;
    Ok(Some(entry))
}

/// Fills `buf`; `false` if the file ends first (nothing more is written yet).
fn read_full(f: &mut File, buf: &mut [u8]) -> Result<bool, String> {
    let mut at = 0;
    while at < buf.len() {
        match f.read(&mut buf[at..]) {
            Ok(0) => return Ok(false),
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(true)
}

/// Where a record fed comes from, and so where its outcome goes.
pub(super) enum Source<'a> {
    /// Spilled by `send` in this run: its handle (or callback) is in the
    /// spool's registry.
    Spilled,
    /// Left by the previous run: its outcome goes to the callback, if any.
    Replayed(Option<&'a OnReplayed>),
}

/// What [`locate`] found.
pub(super) enum Located {
    Found(Arc<TopicMeta>),
    /// The cluster says the topic does not exist, for max.block.ms.
    Missing(Option<KafkaCode>),
    /// The feeder must stop.
    Stopped,
}

/// Waits for `topic`'s metadata as long as the cluster does not answer; a
/// topic it says does not exist is `Missing` after max.block.ms, as `send`
/// would fail it, and at once for the records after that while the cluster
/// still says so (a backlog of a deleted topic must not take max.block.ms
/// per record).
pub(super) fn locate(shared: &SharedState, sp: &Spool, topic: &str, stop: &impl Fn() -> bool) -> Located {
    let was_missing = sp.missing_topics.lock().contains(topic);
    // Found missing before: first what the cluster last said, without waiting.
    let mut ask_now = was_missing;
    let started = Instant::now();
    loop {
        if stop() {
            return Located::Stopped;
        }
        let until = if ask_now { Instant::now() } else { Instant::now() + TICK };
        match shared.meta.wait_topic(topic, Some(until)) {
            Ok(t) if !t.partitions.is_empty() => {
                if was_missing {
                    sp.missing_topics.lock().remove(topic);
                }
                return Located::Found(t);
            }
            Err(Some(code)) if ask_now || started.elapsed() >= shared.cfg.max_block => {
                if !was_missing {
                    sp.missing_topics.lock().insert(topic.to_owned());
                }
                return Located::Missing(Some(code));
            }
            _ => ask_now = false,
        }
    }
}

/// Appends a record from the spool to its partition's batch and points its
/// handle there (or gives the batch its callback), or fails it for good
/// (its topic or partition does not exist); `false` if the feeder must stop
/// first (the record stays in the spool).
pub(super) fn feed(
    shared: &SharedState,
    sp: &Spool,
    partitioner: &dyn Partitioner,
    rec: PendingRecord,
    stop: &impl Fn() -> bool,
    source: Source<'_>,
) -> bool {
    let topic = match locate(shared, sp, &rec.topic, stop) {
        Located::Found(t) => t,
        Located::Stopped => return false,
        Located::Missing(code) => {
            let why =
                format!("topic {:?} does not exist ({code:?}); the spilled record was dropped", rec.topic);
            fail(sp, &rec, DeliveryErrorKind::UnknownTopic, why, &source);
            return true;
        }
    };
    let count = topic.partitions.len() as i32;
    // A record spilled before its topic's partitions were known: chosen
    // now, and written down before it joins a batch.
    let (partition, chosen) = if rec.partition >= 0 {
        (rec.partition, false)
    } else {
        let p = partitioner.partition(
            &rec.topic,
            rec.key.as_deref(),
            rec.value.as_deref(),
            Partitions::new(count, &topic.available),
        );
        (p, true)
    };
    let Some(pm) = topic.partitions.get(usize::try_from(partition).unwrap_or(usize::MAX)).copied() else {
        let why = format!(
            "{}-{partition} does not exist ({count} partitions); the spilled record was dropped",
            rec.topic
        );
        fail(sp, &rec, DeliveryErrorKind::UnknownTopic, why, &source);
        return true;
    };
    if chosen {
        sp.placed(rec.id, partition);
    }
    let headers = headers_of(&rec);
    let fields = record_fields_size(rec.key.as_deref(), rec.value.as_deref(), &headers);
    let size = record_size_bound(fields);
    // Room in buffer.memory: this thread waits for it, not `send`.
    let wake = || shared.brokers.wake_all();
    while !shared.acc.pool.reserve(size + BATCH_OVERHEAD, Some(Instant::now() + TICK), wake, stop) {
        if stop() {
            return false;
        }
    }
    let input = AppendInput {
        timestamp: rec.timestamp,
        key: rec.key.as_deref(),
        value: rec.value.as_deref(),
        headers: &headers,
        reserved: size,
        size,
        fields,
        sent_us: now_micros(),
        txn: TxnJoin::No,
        spool_id: Some(rec.id),
        header: HeaderBudget::Prepaid,
    };
    // A replayed record's outcome goes to the callback, with the record.
    let callback = match source {
        Source::Replayed(Some(cb)) => {
            let (cb, mut record) = (cb.clone(), record_of(&rec));
            record.partition = Some(partition);
            Some(Box::new(move |result| cb(Replayed { record, result })) as Callback)
        }
        _ => None,
    };
    let appended = match shared.acc.append(pm.queue, &input, None, callback) {
        Ok(a) => a,
        Err(AppendRefused::Closed | AppendRefused::BufferFull) => {
            // Closing (a prepaid header never runs short): it stays in the
            // spool. The append gave the unused header back.
            shared.acc.pool.release(size);
            return false;
        }
    };
    if chosen {
        partitioner.on_append(&rec.topic, partition, size);
    }
    if let (Source::Spilled, Some(handle)) = (&source, appended.handle) {
        if let Some(slot) = sp.registry.take(rec.id) {
            let (batch, index) = handle.place();
            slot.resolve_with(Resolution::Split(vec![(0, batch, index)]), Vec::new());
        }
    }
    if appended.wake {
        if pm.leader >= 0 {
            broker::wake(shared, pm.leader);
        } else {
            shared.meta.request_refresh();
        }
    }
    true
}

/// Fails record `rec` from the spool for good: its handle (or the replay
/// callback) reports `kind`, and it leaves the spool.
fn fail(sp: &Spool, rec: &PendingRecord, kind: DeliveryErrorKind, why: String, source: &Source<'_>) {
    log::error!("spool: {why}");
    let e = DeliveryError::new(kind, Persistence::NotPersisted, why);
    match source {
        Source::Spilled => {
            if let Some(slot) = sp.registry.take(rec.id) {
                slot.resolve_with(Resolution::Failed(e), Vec::new());
            }
        }
        Source::Replayed(Some(cb)) => cb(Replayed { record: record_of(rec), result: Err(e) }),
        Source::Replayed(None) => {}
    }
    sp.done(&[rec.id]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::spool::fuzz::{record, segment_of};

    /// Zeros after the entries (a mapped segment grown ahead of them) read
    /// as "not written yet", as the end of the file does; an entry written
    /// there later is read then.
    #[test]
    fn zeros_after_the_entries_are_not_written_yet() {
        let path = std::env::temp_dir().join(format!("kafka-sync-feeder-zeros-{}", std::process::id()));
        let mut bytes = segment_of(0, &[record(0, "t", 0)]);
        let end = bytes.len();
        bytes.extend([0; 4096]);
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let mut r = Reader { segment: 0, file, offset: HEADER_LEN as u64, last_fed: None };
        assert_eq!(read_entry(&mut r).unwrap(), Some(record(0, "t", 0)));
        assert_eq!(read_entry(&mut r).unwrap(), None);
        assert_eq!(r.offset, end as u64);
        let mut next = Vec::new();
        record(1, "t", 0).encode(&mut next);
        bytes[end..end + next.len()].copy_from_slice(&next);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_entry(&mut r).unwrap(), Some(record(1, "t", 0)));
        assert_eq!(read_entry(&mut r).unwrap(), None);
        std::fs::remove_file(&path).unwrap();
    }
}
