//! A history checker in the manner of Jepsen's Kafka analyses.
//!
//! Record every send (an id carried in the record's value, its key, the
//! partition, and the outcome its handle reported), read the topic back with
//! an independent consumer, then [`History::check`] reports:
//!
//! - **lost**: acknowledged, never read;
//! - **duplicated**: read at more than one offset;
//! - **reordered**: two records sent (by one thread) to one partition, in
//!   that order, both acknowledged, read in the other order;
//! - **g1a**: reported failed as *not persisted*, yet read;
//! - **unresolved**: handles that never resolved;
//! - **offset mismatches**: acknowledged at one offset, read at another.
//!
//! Records reported *possibly persisted* may or may not be read, but never twice.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt;

/// What a handle reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged at this partition and offset (offset None with acks=0).
    Acked { partition: i32, offset: Option<i64> },
    /// Failed, certainly not in the log.
    NotPersisted,
    /// Failed, may be in the log.
    PossiblyPersisted,
    /// Never resolved.
    Unresolved,
}

/// One send.
#[derive(Debug, Clone)]
pub struct Sent {
    pub id: u64,
    /// The sending thread's id and the send's index on that thread.
    pub thread: u32,
    pub seq: u64,
    pub partition: i32,
    pub outcome: Outcome,
}

/// One record read back.
#[derive(Debug, Clone)]
pub struct Read {
    pub id: u64,
    pub partition: i32,
    pub offset: i64,
}

/// The anomalies found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub sent: usize,
    pub acked: usize,
    pub read: usize,
    pub lost: Vec<u64>,
    pub duplicated: Vec<u64>,
    pub reordered: Vec<(u64, u64)>,
    pub g1a: Vec<u64>,
    pub unresolved: Vec<u64>,
    pub offset_mismatch: Vec<u64>,
    pub possibly_persisted: usize,
    pub possibly_persisted_read: usize,
    pub unknown_read: Vec<u64>,
}

impl Report {
    /// The four Jepsen anomalies plus unresolved handles and offset mismatches.
    pub fn anomalies(&self) -> usize {
        self.lost.len()
            + self.duplicated.len()
            + self.reordered.len()
            + self.g1a.len()
            + self.unresolved.len()
            + self.offset_mismatch.len()
            + self.unknown_read.len()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |v: &[u64]| {
            let head: Vec<_> = v.iter().take(5).collect();
            format!("{} {:?}", v.len(), head)
        };
        write!(
            f,
            "sent {}, acked {}, read {}, possibly persisted {} (read {}); lost {}, duplicated {}, reordered {} {:?}, g1a {}, unresolved {}, offset mismatch {}, unknown read {}",
            self.sent,
            self.acked,
            self.read,
            self.possibly_persisted,
            self.possibly_persisted_read,
            s(&self.lost),
            s(&self.duplicated),
            self.reordered.len(),
            self.reordered.iter().take(3).collect::<Vec<_>>(),
            s(&self.g1a),
            s(&self.unresolved),
            s(&self.offset_mismatch),
            s(&self.unknown_read),
        )
    }
}

/// The recorded sends.
#[derive(Debug, Default)]
pub struct History {
    pub sent: Vec<Sent>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record(&mut self, s: Sent) {
        self.sent.push(s);
    }

    /// Checks the history against what was read back.
    pub fn check(&self, reads: &[Read]) -> Report {
        let mut r = Report { sent: self.sent.len(), read: reads.len(), ..Default::default() };
        let by_id: HashMap<u64, &Sent> = self.sent.iter().map(|s| (s.id, s)).collect();
        let mut seen: HashMap<u64, Vec<&Read>> = HashMap::new();
        for rd in reads {
            seen.entry(rd.id).or_default().push(rd);
        }
        for (id, v) in &seen {
            if v.len() > 1 {
                r.duplicated.push(*id);
            }
            if !by_id.contains_key(id) {
                r.unknown_read.push(*id);
            }
        }
        for s in &self.sent {
            let got = seen.get(&s.id);
            match &s.outcome {
                Outcome::Acked { partition, offset } => {
                    r.acked += 1;
                    match got {
                        None => r.lost.push(s.id),
                        Some(v) => {
                            if let Some(o) = offset {
                                if !v.iter().any(|rd| rd.offset == *o && rd.partition == *partition) {
                                    r.offset_mismatch.push(s.id);
                                }
                            }
                        }
                    }
                }
                Outcome::NotPersisted => {
                    if got.is_some() {
                        r.g1a.push(s.id);
                    }
                }
                Outcome::PossiblyPersisted => {
                    r.possibly_persisted += 1;
                    if got.is_some() {
                        r.possibly_persisted_read += 1;
                    }
                }
                Outcome::Unresolved => r.unresolved.push(s.id),
            }
        }
        // Reordering: per (thread, partition), acknowledged sends in send
        // order must be read at increasing offsets.
        let mut streams: HashMap<(u32, i32), Vec<&Sent>> = HashMap::new();
        for s in &self.sent {
            if matches!(s.outcome, Outcome::Acked { .. }) {
                streams.entry((s.thread, s.partition)).or_default().push(s);
            }
        }
        for v in streams.values_mut() {
            v.sort_by_key(|s| s.seq);
            let mut prev: Option<(u64, i64)> = None;
            for s in v.iter() {
                let Some(first) = seen.get(&s.id).and_then(|v| v.iter().map(|r| r.offset).min()) else {
                    continue;
                };
                if let Some((pid, po)) = prev {
                    if first < po {
                        r.reordered.push((pid, s.id));
                    }
                }
                prev = Some((s.id, first));
            }
        }
        r.lost.sort_unstable();
        r.duplicated.sort_unstable();
        r.g1a.sort_unstable();
        r.unresolved.sort_unstable();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(id: u64, seq: u64, outcome: Outcome) -> Sent {
        Sent { id, thread: 0, seq, partition: 0, outcome }
    }

    #[test]
    fn finds_each_anomaly() {
        let mut h = History::new();
        h.record(sent(1, 0, Outcome::Acked { partition: 0, offset: Some(0) }));
        h.record(sent(2, 1, Outcome::Acked { partition: 0, offset: Some(1) }));
        h.record(sent(3, 2, Outcome::Acked { partition: 0, offset: None }));
        h.record(sent(4, 3, Outcome::NotPersisted));
        h.record(sent(5, 4, Outcome::PossiblyPersisted));
        h.record(sent(6, 5, Outcome::Unresolved));
        let reads = vec![
            Read { id: 2, partition: 0, offset: 0 },
            Read { id: 1, partition: 0, offset: 1 },
            Read { id: 1, partition: 0, offset: 2 },
            Read { id: 4, partition: 0, offset: 3 },
            Read { id: 5, partition: 0, offset: 4 },
        ];
        let r = h.check(&reads);
        assert_eq!(r.lost, vec![3]);
        assert_eq!(r.duplicated, vec![1]);
        assert_eq!(r.g1a, vec![4]);
        assert_eq!(r.unresolved, vec![6]);
        assert_eq!(r.reordered, vec![(1, 2)]);
        assert_eq!(r.offset_mismatch.len(), 2);
        assert_eq!(r.possibly_persisted_read, 1);
    }

    #[test]
    fn clean_history_has_no_anomalies() {
        let mut h = History::new();
        let mut reads = Vec::new();
        for i in 0..10 {
            h.record(sent(i, i, Outcome::Acked { partition: 0, offset: Some(i as i64) }));
            reads.push(Read { id: i, partition: 0, offset: i as i64 });
        }
        assert_eq!(h.check(&reads).anomalies(), 0);
    }
}
