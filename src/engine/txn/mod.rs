//! The transaction manager: the state machine behind
//! `Producer::{init,begin,commit,abort}_transaction` and
//! `send_offsets_to_transaction`, and what the send path and the broker
//! threads tell it. The requests themselves (FindCoordinator,
//! InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit,
//! EndTxn) go out on the [`coordinator`] thread.
//!
//! # States
//!
//! ```text
//! Uninitialized -init-> Initializing --> Ready -begin-> InTransaction
//!   InTransaction -commit-> Committing --> Ready
//!   InTransaction | AbortableError -abort-> Aborting --> Ready
//!   InTransaction | Committing -(a record, AddPartitions or offsets failed)-> AbortableError
//!   any -(fenced, unauthorized, ...)-> Fatal
//! ```
//!
//! A user call that needs the coordinator posts an [`Op`] and waits for its
//! outcome up to its timeout; if the timeout passes the operation goes on,
//! and calling the same method again waits for the same outcome (Java's
//! contract). The phase changes when the coordinator thread finishes the
//! operation, whether anybody still waits or not.
//!
//! # Which records belong to the transaction
//!
//! `send` holds a [`SendGuard`] from its state check until its record is
//! in a batch, and `commit`/`abort` close intake (`open`) and then wait
//! until no guard is held: a record is either in the transaction's flush
//! or refused, never appended behind a commit. A partition's first record
//! of the transaction marks its queue (`TxnMark`): in transactions v1 the
//! queue holds its batches until AddPartitionsToTxn confirms the partition;
//! in v2 the first Produce adds it.
//!
//! # Failures
//!
//! A record that fails while the transaction is open makes the transaction
//! abortable (Java's `Sender` does the same); its batches not yet sent fail
//! at once with `TransactionAborted` (nothing is sent in a transaction that
//! cannot commit), so `commit`'s flush ends and reports the error. A batch
//! that failed after it got a sequence number leaves the partition's
//! numbering broken: the abort then bumps the epoch (InitProducerId with
//! the current id and epoch, KIP-360; in transactions v2 every EndTxn bumps
//! it anyway). Fencing and authorization errors are fatal for the producer.
//!
//! # Locks
//!
//! `state` is a leaf: no other lock is taken while it is held, and it is
//! never held across I/O or a wait for records. Queue marks are changed
//! under their stripe lock after `state` is released.

pub(crate) mod coordinator;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::accumulator::{QueueRef, TxnJoin, TxnMark};
use super::broker;
use super::SharedState;
use crate::error::{DeliveryError, DeliveryErrorKind, KafkaCode, Persistence};
use crate::transaction::{ConsumerGroupMetadata, OffsetAndMetadata, TransactionError};

/// Where the transactional producer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Uninitialized,
    Initializing,
    Ready,
    InTransaction,
    Committing,
    Aborting,
    AbortableError,
    Fatal,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Uninitialized => "uninitialized",
            Phase::Initializing => "initializing",
            Phase::Ready => "ready",
            Phase::InTransaction => "in transaction",
            Phase::Committing => "committing",
            Phase::Aborting => "aborting",
            Phase::AbortableError => "abortable error",
            Phase::Fatal => "fatal error",
        }
    }
}

/// An operation for the coordinator thread.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// InitProducerId with the transactional id.
    Init,
    /// AddOffsetsToTxn, then TxnOffsetCommit to the group coordinator.
    AddOffsets { group: ConsumerGroupMetadata, offsets: Vec<OffsetAndMetadata> },
    /// EndTxn (and the epoch bump an abort may need).
    End { commit: bool },
}

/// Which operation a user call waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Init,
    AddOffsets,
    Commit,
    Abort,
}

impl Op {
    fn kind(&self) -> OpKind {
        match self {
            Op::Init => OpKind::Init,
            Op::AddOffsets { .. } => OpKind::AddOffsets,
            Op::End { commit: true } => OpKind::Commit,
            Op::End { commit: false } => OpKind::Abort,
        }
    }
}

/// A partition written to in the current transaction.
#[derive(Debug, Clone)]
pub(crate) struct TxnPartition {
    pub queue: QueueRef,
    pub topic: Arc<str>,
    pub partition: i32,
    /// Confirmed by AddPartitionsToTxn (or joined implicitly, v2).
    pub added: bool,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// The operation posted for the coordinator thread, not yet taken.
    op: Option<(u64, Op)>,
    /// The operation the user's call waits for (kept across timeouts, so a
    /// second call resumes the wait).
    awaited: Option<(u64, OpKind)>,
    /// The outcome of the last finished operation.
    done: Option<(u64, Result<(), TransactionError>)>,
    next_op: u64,
    /// Partitions of the current transaction.
    partitions: Vec<TxnPartition>,
    /// Whether the coordinator knows of the transaction (a partition or
    /// offsets were added): only then does it need an EndTxn.
    started: bool,
    /// The error that made the transaction abortable, or the producer fail.
    error: Option<TransactionError>,
    /// A batch failed after it got a sequence number: the abort must bump
    /// the epoch so that sequences can restart.
    epoch_bump: bool,
    /// Whether the transaction's unsent batches were failed already.
    undrained_failed: bool,
    /// Whether `commit` finished its flush (a resumed commit skips it).
    commit_flushed: bool,
}

/// The transaction manager, shared by the producer's threads.
#[derive(Debug)]
pub(crate) struct Transactions {
    pub id: String,
    pub timeout_ms: i32,
    state: Mutex<State>,
    /// Signalled on every state change: wakes the coordinator thread and
    /// the user calls waiting for an outcome.
    changed: Condvar,
    /// `send` calls between their state check and their append.
    sending: AtomicUsize,
    /// Whether `send` may append: the phase is `InTransaction`.
    open: AtomicBool,
    /// Transactions v2: partitions join with their first Produce.
    implicit: AtomicBool,
    /// A Produce request of the current transaction was written (v2: the
    /// coordinator may know of the transaction, so it needs an EndTxn).
    produced: AtomicBool,
}

/// Held by a `send` from its state check until its record is appended.
#[derive(Debug)]
pub(crate) struct SendGuard<'a>(&'a Transactions);

impl Drop for SendGuard<'_> {
    fn drop(&mut self) {
        self.0.sending.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SendGuard<'_> {
    /// How the guarded record takes part in the transaction.
    pub fn join(&self) -> TxnJoin {
        if self.0.implicit.load(Ordering::Acquire) {
            TxnJoin::Implicit
        } else {
            TxnJoin::Explicit
        }
    }
}

fn invalid(operation: &'static str, phase: Phase, hint: &'static str) -> TransactionError {
    TransactionError::InvalidState { operation, state: phase.name(), hint }
}

impl Transactions {
    pub fn new(id: String, timeout: Duration) -> Self {
        Self {
            id,
            timeout_ms: i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
            state: Mutex::new(State {
                phase: Phase::Uninitialized,
                op: None,
                awaited: None,
                done: None,
                next_op: 1,
                partitions: Vec::new(),
                started: false,
                error: None,
                epoch_bump: false,
                undrained_failed: false,
                commit_flushed: false,
            }),
            changed: Condvar::new(),
            sending: AtomicUsize::new(0),
            open: AtomicBool::new(false),
            implicit: AtomicBool::new(false),
            produced: AtomicBool::new(false),
        }
    }

    /// Whether transactions v2 is on (Produce v12+ may carry new partitions).
    pub fn implicit(&self) -> bool {
        self.implicit.load(Ordering::Acquire)
    }

    /// Wakes the coordinator thread and waiting calls (close, new work).
    pub fn poke(&self) {
        self.changed.notify_all();
    }

    // ---- the send path ----

    /// Admits a `send` into the current transaction, or says why not.
    pub fn enter_send(&self) -> Result<SendGuard<'_>, TransactionError> {
        self.sending.fetch_add(1, Ordering::SeqCst);
        let guard = SendGuard(self);
        if self.open.load(Ordering::SeqCst) {
            return Ok(guard);
        }
        drop(guard);
        let s = self.state.lock();
        Err(match (&s.error, s.phase) {
            (Some(e), Phase::AbortableError | Phase::Fatal) => e.clone(),
            (_, p) => invalid(
                "send",
                p,
                "a transactional producer sends only between begin_transaction and \
                 commit_transaction or abort_transaction",
            ),
        })
    }

    /// A record brought partition `queue` into the transaction.
    pub fn joined(&self, queue: QueueRef, topic: &Arc<str>, partition: i32, join: TxnJoin) {
        let implicit = join == TxnJoin::Implicit;
        let mut s = self.state.lock();
        s.partitions.push(TxnPartition { queue, topic: topic.clone(), partition, added: implicit });
        if !implicit {
            drop(s);
            self.changed.notify_all();
        }
    }

    /// Waits until no `send` is between its state check and its append.
    fn wait_for_senders(&self) {
        let mut spins = 0u32;
        while self.sending.load(Ordering::SeqCst) != 0 {
            spins += 1;
            if spins < 100 {
                std::thread::yield_now();
            } else {
                // A send blocked for memory or metadata (up to max.block.ms).
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    // ---- what the broker threads report ----

    /// A Produce request carrying the transaction's records is being
    /// written: with transactions v2 this is what starts the transaction at
    /// the coordinator (a record never sent needs no EndTxn).
    pub fn produced(&self) {
        if !self.produced.load(Ordering::Relaxed) {
            self.produced.store(true, Ordering::SeqCst);
        }
    }

    /// A record batch failed for good: the transaction can no longer commit.
    pub fn batch_failed(&self, shared: &SharedState, e: &DeliveryError) {
        if matches!(e.kind(), DeliveryErrorKind::TransactionAborted | DeliveryErrorKind::Closed) {
            return;
        }
        let cause =
            TransactionError::abortable(e.code(), format!("a record of the transaction failed ({e})"));
        self.make_abortable(shared, cause);
    }

    /// A batch that held a sequence number failed or may be lost: the
    /// partition's numbering is broken until the epoch is bumped.
    pub fn sequence_broken(&self, shared: &SharedState) {
        self.state.lock().epoch_bump = true;
        let cause = TransactionError::abortable(
            None,
            "a batch failed after it got a sequence number; the producer epoch must be bumped",
        );
        self.make_abortable(shared, cause);
    }

    /// Moves an open or committing transaction to `AbortableError` and fails
    /// its unsent batches. Does nothing in other phases.
    fn make_abortable(&self, shared: &SharedState, cause: TransactionError) {
        let parts = {
            let mut s = self.state.lock();
            if s.phase == Phase::AbortableError && s.error.as_ref().is_some_and(|e| e.code().is_none()) {
                // A broken sequence number was reported first; the batch
                // failure behind it says more.
                if cause.code().is_some() {
                    s.error = Some(cause);
                }
                return;
            }
            if !matches!(s.phase, Phase::InTransaction | Phase::Committing) {
                return;
            }
            log::warn!("transaction of {:?} must be aborted: {cause}", self.id);
            s.phase = Phase::AbortableError;
            self.open.store(false, Ordering::SeqCst);
            s.error = Some(cause.clone());
            s.undrained_failed = true;
            s.partitions.clone()
        };
        self.changed.notify_all();
        fail_undrained(shared, &parts, &cause.to_string());
    }

    /// The producer hit a fatal error (recorded in `shared.run`).
    fn fatal_from_run(&self, shared: &SharedState) -> Option<TransactionError> {
        let e = shared.run.fatal()?;
        Some(TransactionError::fatal(e.code(), e.message().to_owned()))
    }

    // ---- the user's calls ----

    /// Fails at once if the producer is closed or failed.
    fn check_alive(&self, shared: &SharedState, s: &mut State) -> Result<(), TransactionError> {
        if s.phase == Phase::Fatal {
            return Err(s.error.clone().unwrap_or(TransactionError::Closed));
        }
        if let Some(e) = self.fatal_from_run(shared) {
            s.phase = Phase::Fatal;
            self.open.store(false, Ordering::SeqCst);
            s.error = Some(e.clone());
            return Err(e);
        }
        if shared.run.is_closing() {
            return Err(TransactionError::Closed);
        }
        Ok(())
    }

    /// Posts `op` for the coordinator thread (unless the call resumes one).
    fn post(&self, s: &mut State, op: Op) {
        let id = s.next_op;
        s.next_op += 1;
        s.awaited = Some((id, op.kind()));
        s.op = Some((id, op));
        self.changed.notify_all();
    }

    /// Waits for the awaited operation's outcome until `deadline`.
    fn wait_op(
        &self,
        shared: &SharedState,
        mut s: MutexGuard<'_, State>,
        operation: &'static str,
        started: Instant,
        deadline: Instant,
    ) -> Result<(), TransactionError> {
        let Some((id, _)) = s.awaited else { return Ok(()) };
        loop {
            if let Some((done, r)) = &s.done {
                if *done == id {
                    let r = r.clone();
                    s.awaited = None;
                    return r;
                }
            }
            if shared.run.is_aborting() {
                return Err(TransactionError::Closed);
            }
            if Instant::now() >= deadline {
                return Err(TransactionError::Timeout { operation, waited: started.elapsed() });
            }
            self.changed.wait_until(&mut s, deadline.min(Instant::now() + Duration::from_millis(200)));
        }
    }

    /// `init_transactions`.
    pub fn init(&self, shared: &SharedState, timeout: Duration) -> Result<(), TransactionError> {
        let started = Instant::now();
        let deadline = deadline_after(started, timeout);
        let mut s = self.state.lock();
        self.check_alive(shared, &mut s)?;
        match s.phase {
            Phase::Uninitialized => {
                s.phase = Phase::Initializing;
                self.post(&mut s, Op::Init);
            }
            Phase::Initializing => {
                if s.awaited.is_none() {
                    self.post(&mut s, Op::Init);
                }
            }
            p => {
                return Err(invalid(
                    "init_transactions",
                    p,
                    "init_transactions is called once, before the first transaction",
                ))
            }
        }
        self.wait_op(shared, s, "init_transactions", started, deadline)
    }

    /// `begin_transaction`.
    pub fn begin(&self, shared: &SharedState) -> Result<(), TransactionError> {
        let mut s = self.state.lock();
        self.check_alive(shared, &mut s)?;
        match s.phase {
            Phase::Ready => {
                s.phase = Phase::InTransaction;
                s.error = None;
                s.started = false;
                s.undrained_failed = false;
                s.commit_flushed = false;
                self.open.store(true, Ordering::SeqCst);
                Ok(())
            }
            Phase::Uninitialized | Phase::Initializing => Err(invalid(
                "begin_transaction",
                s.phase,
                "call init_transactions first (and wait for it to succeed)",
            )),
            Phase::AbortableError => Err(invalid(
                "begin_transaction",
                s.phase,
                "the current transaction failed: call abort_transaction first",
            )),
            p => Err(invalid(
                "begin_transaction",
                p,
                "a transaction is already in progress: commit or abort it first",
            )),
        }
    }

    /// `send_offsets_to_transaction`.
    pub fn send_offsets(
        &self,
        shared: &SharedState,
        offsets: Vec<OffsetAndMetadata>,
        group: ConsumerGroupMetadata,
        timeout: Duration,
    ) -> Result<(), TransactionError> {
        let started = Instant::now();
        let deadline = deadline_after(started, timeout);
        let mut s = self.state.lock();
        self.check_alive(shared, &mut s)?;
        match s.phase {
            Phase::InTransaction if s.awaited.is_some_and(|(_, k)| k == OpKind::AddOffsets) => {}
            Phase::InTransaction => self.post(&mut s, Op::AddOffsets { group, offsets }),
            Phase::AbortableError => return Err(s.error.clone().expect("abortable error recorded")),
            p => {
                return Err(invalid(
                    "send_offsets_to_transaction",
                    p,
                    "offsets are sent inside a transaction: call begin_transaction first",
                ))
            }
        }
        self.wait_op(shared, s, "send_offsets_to_transaction", started, deadline)
    }

    /// `commit_transaction`: flushes with `flush` (which waits for every
    /// record sent so far, up to its deadline), then EndTxn(commit).
    pub fn commit(
        &self,
        shared: &SharedState,
        timeout: Duration,
        flush: impl FnOnce(Instant) -> bool,
    ) -> Result<(), TransactionError> {
        let started = Instant::now();
        let deadline = deadline_after(started, timeout);
        {
            let mut s = self.state.lock();
            self.check_alive(shared, &mut s)?;
            match s.phase {
                Phase::InTransaction if s.awaited.is_some_and(|(_, k)| k == OpKind::AddOffsets) => {
                    // Offsets from a send_offsets_to_transaction that timed
                    // out are still being sent: they belong to this commit.
                    self.wait_op(shared, s, "commit_transaction", started, deadline)?;
                    return self.commit(shared, deadline.saturating_duration_since(Instant::now()), flush);
                }
                Phase::InTransaction => {
                    s.phase = Phase::Committing;
                    self.open.store(false, Ordering::SeqCst);
                }
                Phase::Committing => {}
                Phase::AbortableError => return Err(s.error.clone().expect("abortable error recorded")),
                Phase::Aborting => {
                    return Err(invalid(
                        "commit_transaction",
                        Phase::Aborting,
                        "the transaction is being aborted: call abort_transaction to wait for it",
                    ))
                }
                p => {
                    return Err(invalid(
                        "commit_transaction",
                        p,
                        "no transaction is in progress: call begin_transaction first",
                    ))
                }
            }
            if s.commit_flushed {
                return self.wait_op(shared, s, "commit_transaction", started, deadline);
            }
        }
        let end = End { commit: true, operation: "commit_transaction", started, deadline };
        self.flush_then_end(shared, end, || {}, flush)
    }

    /// The second half of `commit` and `abort`: waits until no `send` is
    /// appending, runs `before_flush`, flushes until the deadline, then
    /// posts EndTxn (unless a resumed call already did) and waits for it.
    fn flush_then_end(
        &self,
        shared: &SharedState,
        end: End,
        before_flush: impl FnOnce(),
        flush: impl FnOnce(Instant) -> bool,
    ) -> Result<(), TransactionError> {
        self.wait_for_senders();
        before_flush();
        if !flush(end.deadline) {
            return Err(TransactionError::Timeout {
                operation: end.operation,
                waited: end.started.elapsed(),
            });
        }
        let phase = if end.commit { Phase::Committing } else { Phase::Aborting };
        let mut s = self.state.lock();
        if s.phase != phase {
            // A record that failed during the flush made the commit
            // abortable; or the producer failed meanwhile.
            self.check_alive(shared, &mut s)?;
            return Err(s.error.clone().unwrap_or(TransactionError::Closed));
        }
        if end.commit {
            s.commit_flushed = true;
        }
        let kind = if end.commit { OpKind::Commit } else { OpKind::Abort };
        if s.awaited.is_none_or(|(_, k)| k != kind) {
            self.post(&mut s, Op::End { commit: end.commit });
        }
        self.wait_op(shared, s, end.operation, end.started, end.deadline)
    }

    /// `abort_transaction`: fails the records not yet sent, waits for those
    /// in flight (with `flush`), then EndTxn(abort).
    pub fn abort(
        &self,
        shared: &SharedState,
        timeout: Duration,
        flush: impl FnOnce(Instant) -> bool,
    ) -> Result<(), TransactionError> {
        let started = Instant::now();
        let deadline = deadline_after(started, timeout);
        let parts = {
            let mut s = self.state.lock();
            if s.phase == Phase::Fatal || shared.run.fatal().is_some() {
                return self.check_alive(shared, &mut s);
            }
            if shared.run.is_aborting() {
                return Err(TransactionError::Closed);
            }
            match s.phase {
                Phase::InTransaction | Phase::AbortableError => {
                    s.phase = Phase::Aborting;
                    self.open.store(false, Ordering::SeqCst);
                }
                Phase::Aborting => {
                    if s.awaited.is_some_and(|(_, k)| k == OpKind::Abort) {
                        return self.wait_op(shared, s, "abort_transaction", started, deadline);
                    }
                }
                Phase::Committing => {
                    return Err(invalid(
                        "abort_transaction",
                        Phase::Committing,
                        "a commit is under way (it timed out): call commit_transaction again to learn its outcome",
                    ))
                }
                p => {
                    return Err(invalid(
                        "abort_transaction",
                        p,
                        "no transaction is in progress",
                    ))
                }
            }
            let first = !s.undrained_failed;
            s.undrained_failed = true;
            first.then(|| s.partitions.clone())
        };
        let end = End { commit: false, operation: "abort_transaction", started, deadline };
        let fail_unsent = || {
            if let Some(parts) = parts {
                fail_undrained(shared, &parts, "abort_transaction was called");
            }
        };
        self.flush_then_end(shared, end, fail_unsent, flush)
    }

    /// Aborts an open transaction while the producer closes (as Java's
    /// `Sender` does on a graceful close), bounded by `deadline`.
    pub fn abort_on_close(
        &self,
        shared: &SharedState,
        deadline: Instant,
        flush: impl FnOnce(Instant) -> bool,
    ) {
        let phase = self.state.lock().phase;
        if matches!(phase, Phase::InTransaction | Phase::AbortableError | Phase::Aborting) {
            log::info!("aborting the open transaction of {:?} because the producer closes", self.id);
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(e) = self.abort(shared, left, flush) {
                log::warn!("could not abort the transaction of {:?} while closing: {e}", self.id);
            }
        }
    }

    // ---- the coordinator thread's side ----

    /// The next job for the coordinator thread; `None` when it should exit.
    fn next_job(&self, shared: &SharedState) -> Option<Job> {
        let mut s = self.state.lock();
        loop {
            if shared.run.is_aborting() {
                return None;
            }
            if let Some((id, op)) = s.op.take() {
                return Some(Job::Op(id, op));
            }
            let adding = matches!(s.phase, Phase::InTransaction | Phase::Committing);
            if adding && s.partitions.iter().any(|p| !p.added) {
                let parts: Vec<TxnPartition> = s.partitions.iter().filter(|p| !p.added).cloned().collect();
                return Some(Job::AddPartitions(parts));
            }
            self.changed.wait_for(&mut s, Duration::from_millis(500));
        }
    }

    /// Whether AddPartitionsToTxn is still wanted (the transaction neither
    /// ended nor failed).
    fn still_adding(&self) -> bool {
        matches!(self.state.lock().phase, Phase::InTransaction | Phase::Committing)
    }

    /// Waits up to `d` on the state condvar (woken early by close and new work).
    fn pause(&self, d: Duration) {
        let mut s = self.state.lock();
        self.changed.wait_for(&mut s, d);
    }

    /// AddPartitionsToTxn confirmed these partitions: their batches may go.
    fn added(&self, shared: &SharedState, confirmed: &[QueueRef]) {
        {
            let mut s = self.state.lock();
            s.started = true;
            for p in s.partitions.iter_mut() {
                if confirmed.contains(&p.queue) {
                    p.added = true;
                }
            }
        }
        for &q in confirmed {
            shared.acc.with_queue(q, |pq| {
                if pq.txn == TxnMark::Pending {
                    pq.txn = TxnMark::Added;
                }
            });
        }
        shared.brokers.wake_all();
    }

    /// Whether the coordinator knows of the transaction, and whether the
    /// abort must bump the epoch.
    fn end_needs(&self) -> (bool, bool) {
        let s = self.state.lock();
        (s.started || self.produced.load(Ordering::SeqCst), s.epoch_bump)
    }

    /// Offsets were added (AddOffsetsToTxn): the transaction needs an EndTxn.
    fn offsets_added(&self) {
        self.state.lock().started = true;
    }

    /// Transactions v2 is on (or off) for this producer.
    fn set_implicit(&self, on: bool) {
        self.implicit.store(on, Ordering::Release);
    }

    /// Records the outcome of operation `id` and moves the phase on.
    fn finish_op(&self, shared: &SharedState, id: u64, op: &Op, r: Result<(), TransactionError>) {
        let mut reset = Vec::new();
        let mut fatal = None;
        let mut abortable_parts = None;
        {
            let mut s = self.state.lock();
            match (&r, op) {
                (Err(e @ TransactionError::Fatal(_)), _) => {
                    s.phase = Phase::Fatal;
                    s.error = Some(e.clone());
                    fatal = Some(e.clone());
                }
                (Err(TransactionError::Closed), _) => {}
                (Ok(()), Op::Init) => s.phase = Phase::Ready,
                (Err(_), Op::Init) => s.phase = Phase::Uninitialized,
                (Ok(()), Op::End { .. }) => {
                    self.produced.store(false, Ordering::SeqCst);
                    s.phase = Phase::Ready;
                    s.error = None;
                    s.epoch_bump = false;
                    s.started = false;
                    reset = std::mem::take(&mut s.partitions);
                }
                (Err(e), Op::End { commit: true }) => {
                    s.phase = Phase::AbortableError;
                    s.error = Some(e.clone());
                }
                (Err(_), Op::End { commit: false }) => {}
                (Ok(()), Op::AddOffsets { .. }) => {}
                (Err(e), Op::AddOffsets { .. }) => {
                    if s.phase == Phase::InTransaction {
                        s.phase = Phase::AbortableError;
                        s.error = Some(e.clone());
                        s.undrained_failed = true;
                        abortable_parts = Some((s.partitions.clone(), e.to_string()));
                    }
                }
            }
            if s.phase != Phase::InTransaction {
                self.open.store(false, Ordering::SeqCst);
            }
            s.done = Some((id, r));
        }
        for p in &reset {
            shared.acc.with_queue(p.queue, |pq| pq.txn = TxnMark::Out);
        }
        if let Some((parts, why)) = abortable_parts {
            fail_undrained(shared, &parts, &why);
        }
        if let Some(TransactionError::Fatal(f)) = fatal {
            let code = f.code().unwrap_or(KafkaCode::UNKNOWN_SERVER_ERROR);
            shared.set_fatal(DeliveryError::new(
                DeliveryErrorKind::Fatal(code),
                Persistence::NotPersisted,
                format!("transactional producer {:?}: {}", self.id, f.message()),
            ));
        }
        self.changed.notify_all();
    }
}

/// Which end of a transaction a user call asked for, and its time frame.
#[derive(Debug, Clone, Copy)]
struct End {
    commit: bool,
    operation: &'static str,
    started: Instant,
    deadline: Instant,
}

/// Work for the coordinator thread.
#[derive(Debug)]
enum Job {
    Op(u64, Op),
    AddPartitions(Vec<TxnPartition>),
}

/// Fails the batches of `parts` that were not sent yet (queued, or held
/// back until their partition is added) with `TransactionAborted`.
fn fail_undrained(shared: &SharedState, parts: &[TxnPartition], why: &str) {
    let mut taken = Vec::new();
    let now = Instant::now();
    for p in parts {
        shared.acc.take_expired(p.queue, now, true, &mut taken);
    }
    let msg = format!("the transaction was aborted before the record was sent: {why}");
    for b in taken {
        if b.producer.is_some() {
            // It held a sequence (waiting for a retry): the numbering has a gap.
            if let Some(t) = &shared.txn {
                t.state.lock().epoch_bump = true;
            }
        }
        broker::fail_queued(shared, b, DeliveryErrorKind::TransactionAborted, &msg);
    }
}

/// `now + d`, saturating far in the future.
fn deadline_after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}
