//! Recovery: what the segments on disk say is still pending.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::accumulator::increment_sequence;

use super::entry::Entry;
use super::idset::IdSet;
use super::lock::SpoolLock;
use super::segment::{list_segments, scan_segment_with, truncate_to, Corruption, HEADER_LEN};
use super::SpoolError;

/// A record `send()` accepted whose outcome is not final: the fields of its
/// [`Entry::Record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingRecord {
    pub id: u64,
    pub topic: String,
    pub partition: i32,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// A pending record as recovery keeps it: where it goes, not what it holds
/// (its key, value and headers stay on disk until the feeder reads them
/// back), so that recovering a large spool takes a few dozen bytes per
/// pending record, not the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    pub id: u64,
    /// (Shared by the records of a topic.)
    pub topic: Arc<str>,
    pub partition: i32,
}

/// A batch that got its producer id, epoch and base sequence (an
/// [`Entry::Sequenced`]) and has records still pending: it must be sent
/// again with the same producer id, epoch, base sequence and records (the
/// pending records of `topic`/`partition` with ids in `first_id..=last_id`,
/// in id order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SequencedBatch {
    pub topic: String,
    pub partition: i32,
    pub first_id: u64,
    pub last_id: u64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl SequencedBatch {
    /// The entry that records this batch.
    pub fn to_entry(&self) -> Entry {
        Entry::Sequenced {
            topic: self.topic.clone(),
            partition: self.partition,
            first_id: self.first_id,
            last_id: self.last_id,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
        }
    }

    /// The batch of a `Sequenced` entry; `None` for other entries, and for
    /// an empty id range (first id after the last), which names no records.
    pub fn of(e: &Entry) -> Option<Self> {
        match e {
            Entry::Sequenced { first_id, last_id, .. } if first_id > last_id => None,
            Entry::Sequenced {
                topic,
                partition,
                first_id,
                last_id,
                producer_id,
                producer_epoch,
                base_sequence,
            } => Some(Self {
                topic: topic.clone(),
                partition: *partition,
                first_id: *first_id,
                last_id: *last_id,
                producer_id: *producer_id,
                producer_epoch: *producer_epoch,
                base_sequence: *base_sequence,
            }),
            _ => None,
        }
    }

    /// Whether `other` is of the same partition and shares an id with this.
    fn overlaps(&self, other: &SequencedBatch) -> bool {
        self.partition == other.partition
            && self.topic == other.topic
            && self.first_id <= other.last_id
            && other.first_id <= self.last_id
    }
}

/// The idempotent producer's id and epoch and each partition's next
/// sequence: the fields of an [`Entry::ProducerState`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProducerSnapshot {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// (topic, partition, next sequence).
    pub next_sequences: Vec<(String, i32, i32)>,
}

impl ProducerSnapshot {
    /// The entry that records this snapshot.
    pub fn to_entry(&self) -> Entry {
        Entry::ProducerState {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            next_sequences: self.next_sequences.clone(),
        }
    }
}

/// What the live log tracks of a segment (and recovery hands to
/// [`SpoolLog::open`](super::SpoolLog::open)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentInfo {
    pub first_id: u64,
    pub path: PathBuf,
    /// Its size on disk (after a torn tail was cut).
    pub bytes: u64,
    /// The ids of the pending records whose [`Entry::Record`] is in it.
    pub pending: IdSet,
    /// The smallest and largest id of a record in it (pending or not).
    pub span: Option<(u64, u64)>,
}

/// What the spool holds that has no final outcome yet.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recovered {
    /// Pending records, in id order.
    pub pending: Vec<Pending>,
    /// Batches to resend as they were, in the order of their (latest)
    /// `Sequenced` entries; a later `Sequenced` entry for records an earlier
    /// one covered (the same partition, overlapping ids: a batch sequenced
    /// again, or split) replaces it.
    pub sequenced: Vec<SequencedBatch>,
    /// The latest `ProducerState`, with the next sequences raised by later
    /// `Sequenced` entries of the same producer id and epoch (see
    /// [`Fold`]).
    pub producer: Option<ProducerSnapshot>,
    /// The first id not yet used: past every record id and every segment's
    /// first id (the next segment's first id).
    pub next_id: u64,
    /// Segments other than the last whose scan stopped early: the bytes
    /// from the offset on are lost, and so are their records and outcomes.
    pub corruption: Vec<(PathBuf, Corruption)>,
    /// The last segment's torn tail, if it had one (expected after a crash):
    /// it has been cut off (a segment without an intact header is removed).
    pub torn_tail: Option<(PathBuf, Corruption)>,
    /// The segments kept, oldest first.
    pub segments: Vec<SegmentInfo>,
    /// Pending records written with partition -1 that a `Placed` entry
    /// placed (see [`Folded::placed`]): restated while they are pending.
    pub placed: Vec<(u64, i32)>,
    /// The caller's mark last written (0 if none): see [`Folded::mark`].
    pub mark: u64,
}

impl Recovered {
    /// The pending records of `batch`, in id order.
    #[cfg(test)]
    pub fn records_of<'a>(&'a self, batch: &'a SequencedBatch) -> impl Iterator<Item = &'a Pending> + 'a {
        batch_records(&self.pending, batch)
    }
}

/// The records of `batch` among `pending` (sorted by id).
fn batch_records<'a>(
    pending: &'a [Pending],
    batch: &'a SequencedBatch,
) -> impl Iterator<Item = &'a Pending> + 'a {
    let start = pending.partition_point(|r| r.id < batch.first_id);
    pending[start..]
        .iter()
        .take_while(|r| r.id <= batch.last_id)
        .filter(|r| r.partition == batch.partition && *r.topic == *batch.topic)
}

/// Opens the spool directory `dir` (creating it), takes its lock, scans
/// every segment in order, cuts a torn tail off the last one (with a
/// warning) and zeros off the end of any (quietly: see [`scan_bytes`]), and
/// folds the entries into what is still pending.
///
/// [`scan_bytes`]: super::segment::scan_bytes
pub(crate) fn recover(dir: &Path) -> Result<(SpoolLock, Recovered), SpoolError> {
    std::fs::create_dir_all(dir).map_err(|e| SpoolError::io(dir, e))?;
    let lock = SpoolLock::acquire(dir)?;
    let listed = list_segments(dir)?;
    let mut fold = Fold::default();
    let mut recovered = Recovered::default();
    let mut kept: Vec<(u64, PathBuf, u64)> = Vec::new();
    let mut last_first_id = None;
    for (i, (first_id, path)) in listed.iter().enumerate() {
        last_first_id = Some(*first_id);
        // Folded entry by entry: one segment's bytes in memory at a time,
        // and no record's key, value or headers kept.
        // (A segment without an intact header has no entries, and is not
        // kept: indexes count the kept ones.)
        let index = kept.len();
        let scan = scan_segment_with(path, |e| fold.apply(index, e))?;
        let mut bytes = std::fs::metadata(path).map_err(|e| SpoolError::io(path, e))?.len();
        if let Some(stopped) = scan.stopped {
            if i + 1 == listed.len() {
                log::warn!(
                    "spool segment {}: torn tail at byte {} ({}); cutting it off",
                    path.display(),
                    stopped.offset,
                    stopped.reason
                );
                if scan.valid_len < HEADER_LEN as u64 {
                    std::fs::remove_file(path).map_err(|e| SpoolError::io(path, e))?;
                    recovered.torn_tail = Some((path.clone(), stopped));
                    continue;
                }
                truncate_to(path, scan.valid_len)?;
                bytes = scan.valid_len;
                recovered.torn_tail = Some((path.clone(), stopped));
            } else {
                log::error!(
                    "spool segment {} is corrupt at byte {} ({}); what follows is lost",
                    path.display(),
                    stopped.offset,
                    stopped.reason
                );
                recovered.corruption.push((path.clone(), stopped));
            }
        } else if scan.valid_len < bytes {
            // A zero tail: the part a mapped segment had grown ahead of its
            // entries (or a file system's zero fill). Not damage; cut off so
            // that the segment's size is its entries'.
            log::debug!(
                "spool segment {}: cutting {} zero bytes off its end",
                path.display(),
                bytes - scan.valid_len
            );
            truncate_to(path, scan.valid_len)?;
            bytes = scan.valid_len;
        }
        kept.push((*first_id, path.clone(), bytes));
    }
    let folded = fold.finish(kept.len());
    recovered.segments = kept
        .into_iter()
        .zip(folded.segment_pending.into_iter().zip(folded.segment_spans))
        .map(|((first_id, path, bytes), (pending, span))| SegmentInfo {
            first_id,
            path,
            bytes,
            pending,
            span,
        })
        .collect();
    recovered.pending = folded.pending;
    recovered.sequenced = folded.sequenced;
    recovered.producer = folded.producer;
    recovered.placed = folded.placed;
    recovered.mark = folded.mark;
    recovered.next_id = folded.next_id.max(last_first_id.map_or(0, |id| id.saturating_add(1)));
    Ok((lock, recovered))
}

/// The fold of recovery, entry by entry in log order:
///
/// - `Record`: pending, in the segment it was read from (a second `Record`
///   with the same id replaces the first);
/// - `Done`: its ids are no longer pending (ids that are not pending, and
///   empty ranges, are ignored);
/// - `Sequenced` (unless its id range is empty): replaces the earlier batches of its partition whose ids
///   overlap its own; and advances the producer snapshot: with none yet, it
///   starts one for its producer id and epoch; with the same id and epoch,
///   its partition's next sequence becomes `base + count` (count: the
///   pending records of the batch; wrapping after `i32::MAX` like Kafka's)
///   if that is later than what the snapshot says (serial-number order);
///   with another id or epoch it leaves the snapshot alone (a batch
///   sequenced before the id changed, copied to a newer segment);
/// - `ProducerState`: replaces the snapshot;
/// - `Mark`, and a `Record` with a mark: replaces the mark.
///
/// At the end, a batch is kept if at least one of its records is pending.
#[derive(Debug, Default)]
pub(crate) struct Fold {
    /// Pending records by id, with the index of their segment.
    pending: BTreeMap<u64, (Pending, usize)>,
    /// Topic names, shared by their records.
    topics: HashSet<Arc<str>>,
    sequenced: SequencedSet,
    producer: Option<FoldedProducer>,
    next_id: u64,
    /// Smallest and largest record id per segment index.
    spans: Vec<Option<(u64, u64)>>,
    /// Records written with partition -1 and the partition they went to.
    placed: BTreeMap<u64, i32>,
    mark: u64,
}

/// A producer id, epoch and next sequence by (topic, partition).
type FoldedProducer = (i64, i16, BTreeMap<(String, i32), i32>);

/// The result of a [`Fold`].
#[derive(Debug, Default)]
pub(crate) struct Folded {
    pub pending: Vec<Pending>,
    pub sequenced: Vec<SequencedBatch>,
    pub producer: Option<ProducerSnapshot>,
    /// Past every record id.
    pub next_id: u64,
    /// Pending ids per segment index.
    pub segment_pending: Vec<IdSet>,
    /// Smallest and largest record id per segment index.
    pub segment_spans: Vec<Option<(u64, u64)>>,
    /// Pending records written with partition -1, and the partition a
    /// `Placed` entry gave them (already in their `partition`).
    pub placed: Vec<(u64, i32)>,
    /// The caller's mark written last (0 if none): a record's mark comes
    /// with the record, so it is the mark of the last record written.
    pub mark: u64,
}

impl Fold {
    /// Folds in `e`, read from the segment with index `segment`.
    pub fn apply(&mut self, segment: usize, e: Entry) {
        match e {
            Entry::Record { id, topic, partition, mark, .. } => {
                if let Some(mark) = mark {
                    self.mark = mark;
                }
                self.next_id = self.next_id.max(id.saturating_add(1));
                if self.spans.len() <= segment {
                    self.spans.resize(segment + 1, None);
                }
                widen(&mut self.spans[segment], id);
                let topic = match self.topics.get(topic.as_str()) {
                    Some(t) => t.clone(),
                    None => {
                        let t: Arc<str> = topic.into();
                        self.topics.insert(t.clone());
                        t
                    }
                };
                self.pending.insert(id, (Pending { id, topic, partition }, segment));
            }
            Entry::Done { ranges } => {
                for (first, last) in ranges.into_iter().filter(|(first, last)| first <= last) {
                    let ids: Vec<u64> = self.pending.range(first..=last).map(|(&id, _)| id).collect();
                    for id in ids {
                        self.pending.remove(&id);
                    }
                }
            }
            Entry::Sequenced { .. } => {
                if let Some(batch) = SequencedBatch::of(&e) {
                    self.advance_producer(&batch);
                    self.sequenced.insert(batch);
                }
            }
            Entry::ProducerState { producer_id, producer_epoch, next_sequences } => {
                let next = next_sequences.into_iter().map(|(t, p, s)| ((t, p), s)).collect();
                self.producer = Some((producer_id, producer_epoch, next));
            }
            Entry::Placed { id, partition } => {
                // Only a record still unplaced takes it (a repeat, from a
                // preamble, says the same).
                if let Some((r, _)) = self.pending.get_mut(&id).filter(|(r, _)| r.partition < 0) {
                    r.partition = partition;
                    self.placed.insert(id, partition);
                }
            }
            Entry::Mark { mark } => self.mark = mark,
        }
    }

    fn count_pending(&self, b: &SequencedBatch) -> usize {
        self.pending
            .range(b.first_id..=b.last_id)
            .filter(|(_, (r, _))| r.partition == b.partition && *r.topic == *b.topic)
            .count()
    }

    fn advance_producer(&mut self, b: &SequencedBatch) {
        let count = i32::try_from(self.count_pending(b)).unwrap_or(i32::MAX);
        let after = increment_sequence(b.base_sequence, count);
        let (id, epoch, next) =
            self.producer.get_or_insert_with(|| (b.producer_id, b.producer_epoch, BTreeMap::new()));
        if (*id, *epoch) != (b.producer_id, b.producer_epoch) {
            return;
        }
        let seq = next.entry((b.topic.clone(), b.partition)).or_insert(after);
        if sequence_after(after, *seq) {
            *seq = after;
        }
    }

    /// The pending state, with `segments` segments.
    pub fn finish(self, segments: usize) -> Folded {
        let mut segment_pending = vec![IdSet::default(); segments];
        let mut pending = Vec::with_capacity(self.pending.len());
        for (id, (r, segment)) in self.pending {
            if let Some(s) = segment_pending.get_mut(segment) {
                s.insert(id);
            }
            pending.push(r);
        }
        let mut sequenced = self.sequenced;
        sequenced.retain(|b| batch_records(&pending, b).next().is_some());
        let mut segment_spans = self.spans;
        segment_spans.resize(segments, None);
        let producer = self.producer.map(|(producer_id, producer_epoch, next)| ProducerSnapshot {
            producer_id,
            producer_epoch,
            next_sequences: next.into_iter().map(|((t, p), s)| (t, p, s)).collect(),
        });
        let placed = self
            .placed
            .into_iter()
            .filter(|(id, _)| pending.binary_search_by_key(id, |r| r.id).is_ok())
            .collect();
        Folded {
            pending,
            sequenced: sequenced.in_log_order(),
            producer,
            next_id: self.next_id,
            segment_pending,
            segment_spans,
            placed,
            mark: self.mark,
        }
    }
}

/// Whether sequence `a` comes after `b`, in serial-number order over
/// Kafka's wrapping sequences (0 ..= `i32::MAX`): `a` is up to 2^30 ahead.
fn sequence_after(a: i32, b: i32) -> bool {
    let d = (i64::from(a) - i64::from(b)).rem_euclid(1 << 31);
    d > 0 && d < 1 << 30
}

/// Widens `span` to hold `id`.
pub(crate) fn widen(span: &mut Option<(u64, u64)>, id: u64) {
    *span = Some(span.map_or((id, id), |(lo, hi)| (lo.min(id), hi.max(id))));
}

/// The batches of [`Entry::Sequenced`] entries, where a later batch
/// replaces the earlier ones of its partition whose ids overlap its own (a
/// batch sequenced again, or split), so those of one partition never
/// overlap.
#[derive(Debug, Clone, Default)]
pub(crate) struct SequencedSet {
    /// By (topic, partition, first id), with the order they came in.
    batches: BTreeMap<(String, i32, u64), (u64, SequencedBatch)>,
    added: u64,
}

impl SequencedSet {
    pub fn insert(&mut self, b: SequencedBatch) {
        // Sorted by first id, a partition's disjoint batches have ascending
        // last ids too: walk back from the last one that starts at or before
        // `b.last_id` while they reach `b.first_id`.
        let overlapping: Vec<_> = self
            .batches
            .range((b.topic.clone(), b.partition, 0)..=(b.topic.clone(), b.partition, b.last_id))
            .rev()
            .take_while(|(_, (_, s))| s.overlaps(&b))
            .map(|(k, _)| k.clone())
            .collect();
        for k in overlapping {
            self.batches.remove(&k);
        }
        self.added += 1;
        self.batches.insert((b.topic.clone(), b.partition, b.first_id), (self.added, b));
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&SequencedBatch) -> bool) {
        self.batches.retain(|_, (_, b)| keep(b));
    }

    /// The batches, in the order they were added.
    pub fn in_log_order(&self) -> Vec<SequencedBatch> {
        let mut v: Vec<&(u64, SequencedBatch)> = self.batches.values().collect();
        v.sort_by_key(|(at, _)| *at);
        v.into_iter().map(|(_, b)| b.clone()).collect()
    }
}

impl Extend<SequencedBatch> for SequencedSet {
    fn extend<I: IntoIterator<Item = SequencedBatch>>(&mut self, iter: I) {
        for b in iter {
            self.insert(b);
        }
    }
}

impl FromIterator<SequencedBatch> for SequencedSet {
    fn from_iter<I: IntoIterator<Item = SequencedBatch>>(iter: I) -> Self {
        let mut s = Self::default();
        s.extend(iter);
        s
    }
}
