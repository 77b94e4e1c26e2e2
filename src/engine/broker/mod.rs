//! One I/O thread per broker: drain ready batches, write Produce requests,
//! read responses, and complete, retry or fail each batch.
//!
//! # The loop
//!
//! A broker thread owns its connection and does blocking writes and blocking
//! reads on it. Each turn it:
//!
//! 1. fails batches whose `delivery.timeout.ms` passed (queued ones as *not
//!    persisted*, unless an earlier attempt was sent; in-flight ones as
//!    *possibly persisted*);
//! 2. drops the connection if the oldest request outlived `request.timeout.ms`
//!    (its batches are retried);
//! 3. (re)connects if it has work, with exponential reconnect backoff;
//! 4. drains ready batches of the partitions it leads, one batch per
//!    partition per request, up to `max.request.size`, seals them
//!    (compression, CRC; gzip batches partly on helper threads when cores
//!    are idle, see `seal`), and writes requests while fewer than
//!    `max.in.flight.requests.per.connection` are unanswered;
//! 5. waits: for a response (a blocking read whose timeout is the next
//!    instant something else falls due: a linger expiry, a backoff end, a
//!    request or delivery deadline) if requests are in flight, otherwise on
//!    its wake-up condvar until a sender, the metadata thread or such a
//!    deadline wakes it. A blocking read cannot see new records, so while
//!    requests are in flight and the pipeline has room it also looks again
//!    every `linger.ms` (at least 1 ms). Idle (nothing queued, nothing in
//!    flight), it blocks without a timeout: no spinning, no polling.
//!
//! Responses on a connection arrive in request order, so each one answers
//! the oldest in-flight request; a correlation id that does not match is a
//! protocol error and drops the connection.
//!
//! Each request goes at the Produce version negotiated with the broker, with
//! one exception: v13 (KIP-516) names topics by id, so a request with a topic
//! whose id the metadata view does not know goes at v12 instead (see
//! `produce_version`), and its answer is matched to the batches by id at v13,
//! by name below.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::accumulator::{Batch, Payload};
use super::metadata::ClusterView;
use super::SharedState;
use crate::delivery::Resolution;
use crate::error::{DeliveryError, DeliveryErrorKind, KafkaCode, Persistence};

mod request;
mod response;
mod seal;
mod thread;

#[cfg(test)]
use request::produce_version;
use thread::BrokerThread;

/// Wakes a sleeping broker thread.
#[derive(Debug, Default)]
pub(crate) struct Wakeup {
    pending: Mutex<bool>,
    cond: Condvar,
}

impl Wakeup {
    pub fn notify(&self) {
        let mut p = self.pending.lock();
        *p = true;
        self.cond.notify_one();
    }

    /// Sleeps until notified or `deadline` (`None`: no deadline).
    fn wait_until(&self, deadline: Option<Instant>) {
        let mut p = self.pending.lock();
        if !*p {
            match deadline {
                Some(d) => {
                    self.cond.wait_until(&mut p, d);
                }
                None => self.cond.wait(&mut p),
            }
        }
        *p = false;
    }
}

#[derive(Debug)]
struct Entry {
    wake: Arc<Wakeup>,
    join: Option<JoinHandle<()>>,
}

/// The broker threads, started lazily: when a partition a broker leads first
/// gets data.
#[derive(Debug, Default)]
pub(crate) struct Brokers {
    threads: Mutex<HashMap<i32, Entry>>,
}

impl Brokers {
    /// Wakes every broker thread (metadata changed, flush, close, producer id).
    pub fn wake_all(&self) {
        for e in self.threads.lock().values() {
            e.wake.notify();
        }
    }

    /// Joins every broker thread but the calling one (a `close` from a
    /// callback runs on a broker thread: that thread exits by itself once
    /// the callback returns). Call after `RunState::abort`.
    pub fn join_all(&self) {
        let handles: Vec<_> = self.threads.lock().values_mut().filter_map(|e| e.join.take()).collect();
        let me = std::thread::current().id();
        for h in handles {
            if h.thread().id() == me {
                continue;
            }
            if h.join().is_err() {
                log::error!("a broker thread panicked");
            }
        }
    }

    /// Number of broker threads started.
    pub fn len(&self) -> usize {
        self.threads.lock().len()
    }
}

/// Wakes broker `id`'s thread, starting it if it is not running.
pub(crate) fn wake(shared: &SharedState, id: i32) {
    let mut threads = shared.brokers.threads.lock();
    if let Some(e) = threads.get(&id) {
        e.wake.notify();
        return;
    }
    if shared.run.is_aborting() {
        return;
    }
    let wake = Arc::new(Wakeup::default());
    let t = BrokerThread::new(id, shared.clone(), wake.clone());
    match std::thread::Builder::new().name(format!("kafka-sync-broker-{id}")).spawn(move || t.run()) {
        Ok(join) => {
            log::debug!("started the I/O thread of broker {id}");
            threads.insert(id, Entry { wake, join: Some(join) });
        }
        Err(e) => log::error!("could not start the I/O thread of broker {id}: {e}"),
    }
}

/// After a metadata refresh: wake every running broker thread (they
/// recompute the partitions they lead) and start the threads of leaders
/// whose partitions have queued data.
pub(crate) fn on_metadata(shared: &SharedState, view: &ClusterView) {
    shared.brokers.wake_all();
    let mut leaders: Vec<i32> = view
        .topics
        .values()
        .flat_map(|t| t.partitions.iter())
        .filter(|p| p.leader >= 0)
        .filter(|p| shared.acc.with_queue(p.queue, |q| !q.is_empty() || q.in_flight > 0))
        .map(|p| p.leader)
        .collect();
    leaders.sort_unstable();
    leaders.dedup();
    for id in leaders {
        wake(shared, id);
    }
}

/// Resolves a batch, returns its memory, recycles its buffer, counts it.
/// The caller has already done the queue's in-flight bookkeeping.
pub(crate) fn finish(shared: &SharedState, mut batch: Batch, r: Resolution) {
    // A batch already resolved (its delivery timeout passed in flight) was
    // counted then; only its resources are left to return.
    if !batch.resolved {
        match &r {
            Resolution::Acked { .. } => shared.metrics.batch_acked(&batch),
            Resolution::Failed(e) => shared.metrics.batch_failed(&batch, e),
            Resolution::Split(_) => {}
        }
    }
    // Memory first, so that whoever the resolution wakes (a waiter, a
    // blocked sender) sees it returned.
    shared.acc.pool.release(batch.memory);
    match std::mem::replace(&mut batch.payload, Payload::Empty) {
        Payload::Open(w) => shared.acc.recycle(w.into_buffer()),
        Payload::Sealed(b) => shared.acc.recycle(b),
        Payload::Empty => {}
    }
    if let Some(sp) = &shared.spool {
        if spool_final(&r) {
            sp.done(&batch.spool_ids);
        }
    }
    if !batch.resolved {
        batch.resolved = true;
        if let (Some(t), Resolution::Failed(e)) = (&shared.txn, &r) {
            // A failed record dooms its transaction (before its callbacks
            // run, so a callback that aborts sees the transaction failed).
            t.batch_failed(shared, e);
        }
        batch.resolve_slot(r);
    }
    // Only now, after the callbacks ran, does the batch leave the set that
    // `flush` and `close` wait on: a flush that starts while the callbacks
    // run still finds the batch there and waits for them (Java's contract).
    shared.acc.forget(batch.id);
}

/// Whether a batch's outcome lets its records leave the spool: acknowledged,
/// or refused for good by a broker. Records that fail because the producer
/// closed, failed as a whole (fatal) or could not authenticate stay in the
/// spool, and the next producer on it sends them; a split batch's records
/// live on in its halves.
fn spool_final(r: &Resolution) -> bool {
    match r {
        Resolution::Acked { .. } => true,
        Resolution::Split(_) => false,
        Resolution::Failed(e) => !matches!(
            e.kind(),
            DeliveryErrorKind::Closed | DeliveryErrorKind::Fatal(_) | DeliveryErrorKind::Authentication
        ),
    }
}

/// Whether a Produce error can come **after** the leader appended the batch
/// to its log, so that the batch may be there although the answer is an
/// error (librdkafka's `MSG_POSSIBLY_PERSISTED`; the broker side is
/// `DelayedProduce` and `UnifiedLog.append`):
///
/// - `REQUEST_TIMED_OUT` (7): acks=all replication did not finish in
///   `timeout_ms`; the broker sets it only for partitions it appended.
/// - `NOT_ENOUGH_REPLICAS_AFTER_APPEND` (20): appended (even committed),
///   then the in-sync replicas fell below `min.insync.replicas`.
/// - `NOT_LEADER_OR_FOLLOWER` (6) with acks=all: leadership moved while the
///   appended batch waited for replication; the new leader may have it.
/// - `KAFKA_STORAGE_ERROR` (56) and `UNKNOWN_SERVER_ERROR` (-1): the failure
///   can strike after the log end offset moved.
/// - `NETWORK_EXCEPTION` (13, also what a lost connection is reported as):
///   the request was sent and no answer came.
/// - Any code this crate does not know.
///
/// Codes that reject a batch before the append (`NOT_ENOUGH_REPLICAS`,
/// `CORRUPT_MESSAGE`, `MESSAGE_TOO_LARGE`, `INVALID_RECORD`, sequence and
/// epoch errors, authorization...) do not: for those the batch's earlier
/// attempts decide. The flag is sticky: once set, a batch is never reported
/// "not persisted", and never renumbered under a new producer id (see
/// `idempotence.rs`).
pub(crate) fn possibly_appended(code: KafkaCode, acks: i16) -> bool {
    match code {
        KafkaCode::REQUEST_TIMED_OUT
        | KafkaCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND
        | KafkaCode::KAFKA_STORAGE_ERROR
        | KafkaCode::UNKNOWN_SERVER_ERROR
        | KafkaCode::NETWORK_EXCEPTION => true,
        KafkaCode::NOT_LEADER_OR_FOLLOWER => acks == -1,
        c => c.name().is_none(),
    }
}

/// The persistence of a batch that fails now.
fn persistence_of(b: &Batch) -> Persistence {
    if b.maybe_persisted {
        Persistence::PossiblyPersisted
    } else {
        Persistence::NotPersisted
    }
}

/// Fails a queued (not in-flight) batch whose delivery timeout passed.
pub(crate) fn fail_expired(shared: &SharedState, b: Batch) {
    let e = DeliveryError::new(
        DeliveryErrorKind::Timeout,
        persistence_of(&b),
        format!(
            "delivery.timeout.ms ({} ms) passed for {} record(s) of {}-{} after {} attempt(s)",
            shared.cfg.delivery_timeout.as_millis(),
            b.records,
            b.slot_topic(),
            b.slot.partition(),
            b.attempts
        ),
    );
    if b.producer.is_some() {
        // It held a sequence: the partition's numbering now has a gap.
        shared.sequence_broken(b.producer);
    }
    finish(shared, b, Resolution::Failed(e));
}

/// Fails a queued batch with `kind` (close, fatal error).
pub(crate) fn fail_queued(shared: &SharedState, b: Batch, kind: DeliveryErrorKind, msg: &str) {
    let e = DeliveryError::new(kind, persistence_of(&b), msg);
    finish(shared, b, Resolution::Failed(e));
}

/// The message of a record failing because the producer closed: with a
/// spool, it says the record is not lost.
pub(crate) fn closed_message(shared: &SharedState, why: &str) -> String {
    if shared.spool.is_some() {
        format!("{why}; the record stays in the spool, and the next producer started on it sends it")
    } else {
        why.to_owned()
    }
}

#[cfg(test)]
mod tests;
