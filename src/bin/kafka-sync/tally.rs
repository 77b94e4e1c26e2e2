//! Outcome accounting: delivered and failed records by reason, and a ticker
//! for progress lines.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use kafka_sync::{DeliveryError, DeliveryErrorKind, Record, SendError, SendErrorKind};

use crate::settings::Cluster;

/// Distinct failure reasons kept; further ones are counted as "other".
const MAX_REASONS: usize = 20;

/// Outcomes of the records of one run, updated from the producer's threads.
#[derive(Default)]
pub(crate) struct Tally {
    /// Records acknowledged.
    pub(crate) delivered: AtomicU64,
    /// Key and value bytes of the acknowledged records.
    pub(crate) bytes: AtomicU64,
    /// Records refused by `send` or failed in delivery.
    pub(crate) failed: AtomicU64,
    /// Of `failed`, records `send` refused (they never left the process).
    pub(crate) refused: AtomicU64,
    /// Of `failed`, records that stay in the spool (`spool.dir`) for the
    /// next producer on it.
    pub(crate) kept: AtomicU64,
    /// Failure counts by reason.
    reasons: Mutex<HashMap<String, u64>>,
}

impl Tally {
    pub(crate) fn delivered(&self, bytes: u64) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self, reason: String) {
        self.failed_n(reason, 1);
    }

    /// Counts `n` records that failed for one `reason`.
    pub(crate) fn failed_n(&self, reason: String, n: u64) {
        if n == 0 {
            return;
        }
        self.failed.fetch_add(n, Ordering::Relaxed);
        let mut reasons = self.reasons.lock().unwrap_or_else(PoisonError::into_inner);
        let len = reasons.len();
        match reasons.get_mut(&reason) {
            Some(count) => *count += n,
            None if len < MAX_REASONS => {
                reasons.insert(reason, n);
            }
            None => *reasons.entry("(other reasons)".into()).or_default() += n,
        }
    }

    /// Counts a record that failed in delivery; with a spool (`spooled`),
    /// one that stays in it for the next producer is counted in `kept`.
    pub(crate) fn delivery_failed(&self, e: &DeliveryError, spooled: bool) {
        // What the producer leaves in its spool: the records that failed
        // because it closed, failed as a whole, or could not authenticate.
        if spooled
            && matches!(
                e.kind(),
                DeliveryErrorKind::Closed | DeliveryErrorKind::Fatal(_) | DeliveryErrorKind::Authentication
            )
        {
            self.kept.fetch_add(1, Ordering::Relaxed);
        }
        self.failed(e.to_string());
    }

    /// Counts a record `send` refused. Returns why to stop if no later
    /// record can fare better (unknown topic, producer closed or failed).
    pub(crate) fn refused(&self, e: SendError<Record>, cluster: &Cluster) -> Option<String> {
        self.refused_as(e.to_string(), e.kind(), &e.record().topic, cluster)
    }

    /// [`Self::refused`] for any record type: the error's text and kind, and
    /// the record's topic.
    pub(crate) fn refused_as(
        &self,
        msg: String,
        kind: &SendErrorKind,
        topic: &str,
        cluster: &Cluster,
    ) -> Option<String> {
        self.failed(msg);
        self.refused.fetch_add(1, Ordering::Relaxed);
        let same = "later records would fail the same way";
        match kind {
            SendErrorKind::UnknownTopic => match cluster.embedded {
                Some(_) => Some(same.into()),
                None => Some(format!(
                    "{same} (is the cluster at {} reachable, and does topic {:?} exist?)",
                    cluster.bootstrap, topic
                )),
            },
            SendErrorKind::InvalidTopic
            | SendErrorKind::Closed
            | SendErrorKind::Fatal(_)
            | SendErrorKind::Transaction(_) => Some(same.into()),
            _ => None,
        }
    }

    pub(crate) fn failed_count(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// `kafka-sync: N records failed:` and one line per reason, most
    /// frequent first.
    pub(crate) fn print_failures(&self) {
        self.print_failures_as("failed");
    }

    /// [`Self::print_failures`], with `what` instead of "failed".
    pub(crate) fn print_failures_as(&self, what: &str) {
        let reasons = self.reasons.lock().unwrap_or_else(PoisonError::into_inner);
        let mut reasons: Vec<_> = reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let n = self.failed_count();
        eprintln!("kafka-sync: {n} record{} {what}:", plural(n));
        for (reason, count) in reasons {
            eprintln!("kafka-sync: {count:>8} x {reason}");
        }
    }
}

pub(crate) fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A thread that calls `tick` every `every` until stopped.
pub(crate) struct Ticker {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Ticker {
    pub(crate) fn start(every: Duration, mut tick: impl FnMut() + Send + 'static) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::spawn(move || loop {
            match stopped.recv_timeout(every) {
                Err(RecvTimeoutError::Timeout) => tick(),
                _ => return,
            }
        });
        Self { stop, thread }
    }

    pub(crate) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}
