//! Replay after a restart: what the previous run's spool holds without a
//! final outcome is queued again before the new producer takes any record,
//! in id order (send order) per partition.
//!
//! - A batch the previous run had sequenced (a `Sequenced` entry: it may be
//!   in the log already) is rebuilt with the same records, producer id,
//!   epoch and base sequence, so a broker that has it answers
//!   `DUPLICATE_SEQUENCE_NUMBER` (success, written once). It counts as
//!   possibly persisted: if the broker no longer knows the producer id
//!   (`producer.id.expiration.ms` passed, a day by default, or the broker's
//!   state was lost), it is not renumbered under a new id, which could write
//!   it twice: it fails as *possibly persisted* instead.
//! - The other records were never sent: they are appended as new records and
//!   sequenced when drained, continuing the partition's sequence.
//! - The producer id and epoch of the previous run are installed before the
//!   metadata thread starts, with every partition's next sequence (taken by
//!   the partition's queue when it is created, whether or not it has records
//!   to replay), so no InitProducerId replaces them.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::{PendingRecord, Recovered, SequencedBatch};
use crate::delivery::DeliveryHandle;
use crate::engine::accumulator::{AppendInput, HeaderBudget, ReplayRecord, TxnJoin};
use crate::engine::{broker, SharedState};
use crate::partitioner::{Partitioner, Partitions};
use crate::protocol::record_batch::{Header, RecordBatchWriter};
use crate::record::{now_micros, Record};

/// A record the previous run left in the spool, queued again, and its
/// handle.
#[derive(Debug)]
pub struct Replayed {
    /// The record as it was sent (timestamp included).
    pub record: Record,
    /// Its outcome.
    pub handle: DeliveryHandle,
}

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

/// Queues what `rec` holds. Waits up to `wait` for each topic's metadata;
/// records of a topic that does not show up stay in the spool for the next
/// run (logged).
pub(crate) fn replay(
    shared: &SharedState,
    rec: Recovered,
    wait: Duration,
    partitioner: &dyn Partitioner,
) -> Vec<Replayed> {
    if rec.pending.is_empty() {
        return Vec::new();
    }
    let deadline = Instant::now() + wait;
    let sent_us = now_micros();
    // The batches to rebuild, by partition, keyed by their first id.
    let mut batches: HashMap<(&str, i32), Vec<&SequencedBatch>> = HashMap::new();
    for b in &rec.sequenced {
        batches.entry((b.topic.as_str(), b.partition)).or_default().push(b);
    }
    let mut out = Vec::with_capacity(rec.pending.len());
    let mut missing = 0usize;
    // The brokers whose threads must look at what was queued (started if
    // need be, as `send` does).
    let mut leaders: HashSet<i32> = HashSet::new();
    let mut topics: Vec<&str> = rec.pending.iter().map(|r| r.topic.as_str()).collect();
    topics.sort_unstable();
    topics.dedup();
    for topic in topics {
        let meta = match shared.meta.wait_topic(topic, Some(deadline)) {
            Ok(t) => t,
            Err(_) => {
                let n = rec.pending.iter().filter(|r| r.topic == topic).count();
                log::error!("spool: topic {topic:?} is unknown; its {n} record(s) stay in the spool");
                missing += n;
                continue;
            }
        };
        // Records of a rebuilt batch, already queued with it.
        let mut queued: HashSet<u64> = HashSet::new();
        for pm in meta.partitions.iter().filter(|pm| pm.leader >= 0) {
            leaders.insert(pm.leader);
        }
        for r in rec.pending.iter().filter(|r| r.topic == topic) {
            if queued.contains(&r.id) {
                continue;
            }
            // A record spilled before its topic's partitions were known (and
            // never fed): placed now, and written down before it is queued.
            let partition = if r.partition >= 0 {
                r.partition
            } else {
                let count = meta.partitions.len() as i32;
                let p = partitioner.partition(
                    topic,
                    r.key.as_deref(),
                    r.value.as_deref(),
                    Partitions::new(count, &meta.available),
                );
                if let Some(sp) = &shared.spool {
                    sp.placed(r.id, p);
                }
                p
            };
            let Some(pm) = meta.partitions.get(usize::try_from(partition).unwrap_or(usize::MAX)) else {
                log::error!("spool: {topic}-{partition} no longer exists; the record stays in the spool");
                missing += 1;
                continue;
            };
            let sequenced = batches
                .get(&(topic, partition))
                .and_then(|bs| bs.iter().find(|b| b.first_id <= r.id && r.id <= b.last_id));
            if let Some(b) = sequenced {
                let members: Vec<&PendingRecord> = rec.records_of(b).collect();
                let parts: Vec<ReplayRecord<'_>> = members
                    .iter()
                    .map(|m| (m.timestamp, m.key.as_deref(), m.value.as_deref(), headers_of(m)))
                    .collect();
                let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
                queued.extend(&ids);
                let handles = shared.acc.push_replayed(
                    pm.queue,
                    &parts,
                    ids,
                    (b.producer_id, b.producer_epoch),
                    b.base_sequence,
                    sent_us,
                );
                for (m, handle) in members.iter().zip(handles) {
                    out.push(Replayed { record: record_of(m), handle });
                }
                continue;
            }
            let headers = headers_of(r);
            let size = RecordBatchWriter::record_size(
                i64::MAX,
                i32::MAX,
                r.key.as_deref(),
                r.value.as_deref(),
                &headers,
            );
            shared.acc.pool.charge(size);
            let input = AppendInput {
                timestamp: r.timestamp,
                key: r.key.as_deref(),
                value: r.value.as_deref(),
                headers: &headers,
                reserved: size,
                size,
                sent_us,
                txn: TxnJoin::No,
                spool_id: Some(r.id),
                header: HeaderBudget::Charge,
            };
            match shared.acc.append(pm.queue, &input, None, None) {
                Ok(a) => out.push(Replayed {
                    record: record_of(r).partition(partition),
                    handle: a.handle.expect("no callback: the append made a handle"),
                }),
                // Closing: it stays in the spool.
                Err(_) => shared.acc.pool.release(size),
            }
        }
    }
    log::info!(
        "spool: {} record(s) of the previous run queued again{}",
        out.len(),
        if missing > 0 { format!(", {missing} left in the spool") } else { String::new() }
    );
    for leader in leaders {
        broker::wake(shared, leader);
    }
    shared.meta.request_refresh();
    out
}

/// A pending record's headers, as the record batch writer takes them.
pub(crate) fn headers_of(r: &PendingRecord) -> Vec<Header> {
    r.headers.iter().map(|(k, v)| Header { key: k.clone(), value: v.clone() }).collect()
}

fn record_of(r: &PendingRecord) -> Record {
    let mut rec = Record::new(r.topic.clone()).partition(r.partition).timestamp(r.timestamp);
    rec.key = r.key.clone();
    rec.value = r.value.clone();
    rec.headers = headers_of(r);
    rec
}
