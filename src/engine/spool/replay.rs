//! Replay after a restart: what the previous run's spool holds without a
//! final outcome is fed again before any record of the new run, in id order
//! (send order) per partition, by the feeder thread, which reads it back
//! from the segments as `buffer.memory` allows: a spool of any size is
//! never loaded into memory at once. Records `send` takes meanwhile are
//! spilled behind it.
//!
//! - A batch the previous run had sequenced (a `Sequenced` entry: it may be
//!   in the log already) is rebuilt with the same records, producer id,
//!   epoch and base sequence, so a broker that has it answers
//!   `DUPLICATE_SEQUENCE_NUMBER` (success, written once). It counts as
//!   possibly persisted: if the broker no longer knows the producer id
//!   (`producer.id.expiration.ms` passed, a day by default, or the broker's
//!   state was lost), it is not renumbered under a new id, which could write
//!   it twice: it fails as *possibly persisted* instead.
//! - The other records were never sent: they are fed as spilled records
//!   are, sequenced when drained, continuing the partition's sequence.
//! - The producer id and epoch of the previous run are installed before the
//!   metadata thread starts, with every partition's next sequence (taken by
//!   the partition's queue when it is created, whether or not it has records
//!   to replay), so no InitProducerId replaces them.
//! - Outcomes go to the `on_replayed` callback, if one is set.

use std::collections::HashMap;
use std::sync::Arc;

use super::feeder::{self, Located, Source};
use super::idset::IdSet;
use super::segment::HEADER_LEN;
use super::{Entry, PendingRecord, Recovered, SequencedBatch, Spool};
use crate::engine::accumulator::ReplayRecord;
use crate::engine::clock::now_micros;
use crate::engine::{broker, SharedState};
use crate::error::DeliveryError;
use crate::error::{DeliveryErrorKind, Persistence};
use crate::partitioner::Partitioner;
use crate::protocol::record_batch::Header;
use crate::record::Record;
use crate::RecordMetadata;

/// A record the previous run left in the spool, sent again, with its
/// outcome (see [`ProducerConfigBuilder::on_replayed`](crate::ProducerConfigBuilder::on_replayed)).
#[derive(Debug)]
pub struct Replayed {
    /// The record as it was sent (timestamp included), with the partition
    /// it went to.
    pub record: Record,
    /// Its outcome.
    pub result: Result<RecordMetadata, DeliveryError>,
}

/// The callback replayed records' outcomes go to.
pub(crate) type OnReplayed = Arc<dyn Fn(Replayed) + Send + Sync>;

/// Installs the previous run's producer id (call before any thread of the
/// producer starts).
pub(crate) fn resume_producer(shared: &SharedState, rec: &Recovered) {
    if let Some(p) = rec.producer.as_ref().filter(|p| p.producer_id >= 0) {
        log::info!(
            "spool: resuming producer id {} epoch {} of the previous run",
            p.producer_id,
            p.producer_epoch
        );
        shared.idem.set(p.producer_id, p.producer_epoch);
        // Every partition goes on from its sequence, whether or not it has
        // records to replay: starting one over at 0 under the same id would
        // have the broker answer `DUPLICATE_SEQUENCE_NUMBER` (or
        // `OUT_OF_ORDER_SEQUENCE_NUMBER`) for new records.
        shared.acc.resume_sequences((p.producer_id, p.producer_epoch), p.next_sequences.iter().cloned());
    }
}

/// What the feeder replays: which ids, from which segment on, and which of
/// them to rebuild as sequenced batches. Holds no record.
#[derive(Debug)]
pub(crate) struct ReplayPlan {
    /// The pending ids (below `boundary`).
    pending: IdSet,
    /// The first id of this run: the previous run's segments are the ones
    /// that start below it.
    boundary: u64,
    /// The first segment with a pending record.
    first_segment: u64,
    /// Batches to rebuild as they were.
    sequenced: Vec<SequencedBatch>,
    /// Pending records written with partition -1 that were placed.
    placed: HashMap<u64, i32>,
}

impl ReplayPlan {
    /// The plan for what `rec` holds, from `first_segment` (the first with
    /// a pending record) on, in a log whose first new id is `boundary`.
    pub fn of(rec: &Recovered, boundary: u64, first_segment: u64) -> Self {
        Self {
            pending: rec.pending.iter().map(|r| r.id).collect(),
            boundary,
            first_segment,
            sequenced: rec.sequenced.clone(),
            placed: rec.placed.iter().copied().collect(),
        }
    }

    /// The sequenced batch record `r` belongs to, if any.
    fn batch_of(&self, r: &PendingRecord) -> Option<&SequencedBatch> {
        self.sequenced.iter().find(|b| {
            b.partition == r.partition && b.first_id <= r.id && r.id <= b.last_id && b.topic == r.topic
        })
    }
}

/// A sequenced batch being read back: its records so far.
struct Held {
    batch: SequencedBatch,
    records: Vec<PendingRecord>,
}

/// The feeder's first task: feeds the pending records of the previous run,
/// reading its segments front to back, then hands over to the records
/// spilled meanwhile ([`Spool::replay_done`]). `false` if it had to stop
/// first (closing): what it did not feed stays in the spool.
pub(crate) fn replay(
    shared: &SharedState,
    sp: &Spool,
    partitioner: &dyn Partitioner,
    on_replayed: Option<&OnReplayed>,
    plan: ReplayPlan,
    stop: &impl Fn() -> bool,
) -> bool {
    let mut held: Vec<Held> = Vec::new();
    let mut segment = Some(plan.first_segment).filter(|&s| s < plan.boundary);
    while let Some(seg) = segment {
        let mut reader = match feeder::open(sp, seg, HEADER_LEN as u64, None) {
            Ok(r) => Some(r),
            Err(why) => {
                // Deleted (nothing pending in it) or unreadable.
                log::debug!("spool: replay skips segment {seg}: {why}");
                None
            }
        };
        while let Some(r) = reader.as_mut() {
            if stop() {
                return false;
            }
            let entry = match feeder::read_entry(r) {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(why) => {
                    // Recovery reported this damage, and what follows it in
                    // the segment is lost.
                    log::error!("spool: replay: {why}; the rest of that segment is skipped");
                    break;
                }
            };
            let Entry::Record { id, topic, partition, timestamp, key, value, headers, .. } = entry else {
                continue;
            };
            if !plan.pending.contains_any(id, id) {
                continue;
            }
            let partition = match plan.placed.get(&id) {
                Some(&p) if partition < 0 => p,
                _ => partition,
            };
            let rec = PendingRecord { id, topic, partition, timestamp, key, value, headers };
            // Batches whose records all came (ids in order): queued first.
            if !push_held(shared, sp, on_replayed, &mut held, |b| b.last_id < id, stop) {
                return false;
            }
            if let Some(b) = plan.batch_of(&rec) {
                let last = b.last_id;
                match held.iter_mut().find(|h| h.batch == *b) {
                    Some(h) => h.records.push(rec),
                    None => held.push(Held { batch: b.clone(), records: vec![rec] }),
                }
                if id == last && !push_held(shared, sp, on_replayed, &mut held, |b| b.last_id == id, stop) {
                    return false;
                }
                continue;
            }
            if !feeder::feed(shared, sp, partitioner, rec, stop, Source::Replayed(on_replayed)) {
                return false;
            }
            sp.replay_fed();
        }
        segment = sp.segment_after(seg).filter(|&s| s < plan.boundary);
    }
    if !push_held(shared, sp, on_replayed, &mut held, |_| true, stop) {
        return false;
    }
    sp.replay_done();
    shared.meta.request_refresh();
    true
}

/// Queues the held batches `done` selects, rebuilt with their producer id,
/// epoch and base sequence; `false` if the feeder must stop first.
fn push_held(
    shared: &SharedState,
    sp: &Spool,
    on_replayed: Option<&OnReplayed>,
    held: &mut Vec<Held>,
    done: impl Fn(&SequencedBatch) -> bool,
    stop: &impl Fn() -> bool,
) -> bool {
    while let Some(i) = held.iter().position(|h| done(&h.batch)) {
        let h = held.remove(i);
        let b = &h.batch;
        let meta = match feeder::locate(shared, sp, &b.topic, stop) {
            Located::Found(t) => t,
            Located::Stopped => return false,
            Located::Missing(code) => {
                let why = format!(
                    "topic {:?} does not exist ({code:?}); {} replayed record(s) were dropped",
                    b.topic,
                    h.records.len()
                );
                fail_all(sp, on_replayed, h.records, &why);
                continue;
            }
        };
        let Some(pm) = meta.partitions.get(usize::try_from(b.partition).unwrap_or(usize::MAX)).copied()
        else {
            let why =
                format!("{}-{} does not exist; the replayed records were dropped", b.topic, b.partition);
            fail_all(sp, on_replayed, h.records, &why);
            continue;
        };
        let parts: Vec<ReplayRecord<'_>> = h
            .records
            .iter()
            .map(|m| (m.timestamp, m.key.as_deref(), m.value.as_deref(), headers_of(m)))
            .collect();
        let ids: Vec<u64> = h.records.iter().map(|m| m.id).collect();
        let handles = shared.acc.push_replayed(
            pm.queue,
            &parts,
            ids,
            (b.producer_id, b.producer_epoch),
            b.base_sequence,
            now_micros(),
        );
        for (m, handle) in h.records.iter().zip(handles) {
            if let Some(cb) = on_replayed {
                let (cb, record) = (cb.clone(), record_of(m));
                handle.on_outcome(Box::new(move |result| cb(Replayed { record, result })));
            }
            sp.replay_fed();
        }
        if pm.leader >= 0 {
            broker::wake(shared, pm.leader);
        } else {
            shared.meta.request_refresh();
        }
    }
    true
}

/// Fails replayed records for good (possibly persisted: they were sent).
fn fail_all(sp: &Spool, on_replayed: Option<&OnReplayed>, records: Vec<PendingRecord>, why: &str) {
    log::error!("spool: {why}");
    let ids: Vec<u64> = records.iter().map(|r| r.id).collect();
    for r in records {
        if let Some(cb) = on_replayed {
            let e = DeliveryError::new(DeliveryErrorKind::UnknownTopic, Persistence::PossiblyPersisted, why);
            cb(Replayed { record: record_of(&r), result: Err(e) });
        }
        sp.replay_fed();
    }
    sp.done(&ids);
}

/// A pending record's headers, as the record batch writer takes them.
pub(crate) fn headers_of(r: &PendingRecord) -> Vec<Header> {
    r.headers.iter().map(|(k, v)| Header { key: k.clone(), value: v.clone() }).collect()
}

/// The record `r` is, as a [`Record`] with its partition.
pub(crate) fn record_of(r: &PendingRecord) -> Record {
    let mut rec = Record::new(r.topic.clone()).partition(r.partition).timestamp(r.timestamp);
    rec.key = r.key.clone();
    rec.value = r.value.clone();
    rec.headers = headers_of(r);
    rec
}
