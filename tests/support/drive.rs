//! Drives a producer for the fault and chaos tests: sends records whose
//! values carry an id, records every outcome in a [`History`], and turns
//! records read back into [`Read`]s.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use kafka_sync::{DeliveryHandle, Persistence, Producer, Record};

use super::history::{History, Outcome, Read, Sent};
use super::ConsumedRecord;

/// A send in progress.
pub struct Pending {
    pub id: u64,
    pub thread: u32,
    pub seq: u64,
    pub handle: DeliveryHandle,
}

/// The value of record `id` (the id first, then padding to `size` bytes).
pub fn value_of(id: u64, size: usize) -> Vec<u8> {
    let mut v = format!("id:{id}:").into_bytes();
    while v.len() < size {
        v.push(b'.');
    }
    v
}

/// The id in a value written by [`value_of`].
pub fn id_of(value: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(value).ok()?;
    s.strip_prefix("id:")?.split(':').next()?.parse().ok()
}

/// Sends record `id` (keyed by `key` if given, to `partition` if given).
pub fn send(
    p: &Producer,
    topic: &str,
    id: u64,
    thread: u32,
    seq: u64,
    key: Option<String>,
    partition: Option<i32>,
) -> Pending {
    let mut r = Record::new(topic.to_owned()).value_vec(value_of(id, 64));
    if let Some(k) = key {
        r = r.key(&k);
    }
    if let Some(part) = partition {
        r = r.partition(part);
    }
    let handle = p.send(r).unwrap_or_else(|e| panic!("send {id}: {e}"));
    Pending { id, thread, seq, handle }
}

/// Waits for every pending send until `deadline` and records the outcomes.
/// Returns how many were still unresolved at the deadline.
pub fn collect(h: &mut History, pending: Vec<Pending>, deadline: Instant) -> usize {
    let mut unresolved = 0;
    for p in pending {
        let left = deadline.saturating_duration_since(Instant::now());
        let partition = p.handle.partition();
        let outcome = match p.handle.wait_timeout(left) {
            None => {
                unresolved += 1;
                Outcome::Unresolved
            }
            Some(Ok(m)) => Outcome::Acked { partition: m.partition(), offset: m.offset() },
            Some(Err(e)) if e.persistence() == Persistence::PossiblyPersisted => Outcome::PossiblyPersisted,
            Some(Err(_)) => Outcome::NotPersisted,
        };
        h.record(Sent { id: p.id, thread: p.thread, seq: p.seq, partition, outcome });
    }
    unresolved
}

/// Records read back, as the checker sees them.
pub fn reads(consumed: &[ConsumedRecord]) -> Vec<Read> {
    consumed
        .iter()
        .filter_map(|c| {
            Some(Read { id: id_of(c.value.as_deref()?)?, partition: c.partition, offset: c.offset })
        })
        .collect()
}

/// A deadline `d` from now.
pub fn after(d: Duration) -> Instant {
    Instant::now() + d
}
