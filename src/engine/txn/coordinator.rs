//! The coordinator thread: talks to the transaction coordinator (and, for
//! `send_offsets_to_transaction`, the group coordinator) on behalf of the
//! transaction manager, one request at a time.
//!
//! Every operation is retried until it succeeds, fails for good, or the
//! producer closes: retriable errors (`COORDINATOR_LOAD_IN_PROGRESS`,
//! `CONCURRENT_TRANSACTIONS`, a lost connection, a request timeout) after
//! `retry.backoff.ms` (growing to `retry.backoff.max.ms`), and
//! `NOT_COORDINATOR` / `COORDINATOR_NOT_AVAILABLE` after finding the
//! coordinator again. An EndTxn whose answer was lost is sent again: the
//! coordinator answers a repeated EndTxn with the outcome it already
//! decided, so the caller always learns whether the transaction committed.

use std::time::Instant;

use super::{Job, Op, Transactions, TxnPartition};
use crate::engine::accumulator::QueueRef;
use crate::engine::connection::{ConnError, Connection};
use crate::engine::{backoff, Rng, SharedState};
use crate::error::KafkaCode;
use crate::protocol::messages::add_offsets_to_txn::AddOffsetsToTxnRequest;
use crate::protocol::messages::add_partitions_to_txn::{AddPartitionsToTxnRequest, AddPartitionsToTxnTopic};
use crate::protocol::messages::end_txn::EndTxnRequest;
use crate::protocol::messages::find_coordinator::FindCoordinatorRequest;
use crate::protocol::messages::init_producer_id::InitProducerIdRequest;
use crate::protocol::messages::produce::ProduceRequest;
use crate::protocol::messages::txn_offset_commit::{
    TxnOffsetCommitRequest, TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use crate::protocol::Request;
use crate::transaction::{ConsumerGroupMetadata, OffsetAndMetadata, TransactionError};

/// FindCoordinator key types.
const KEY_GROUP: i8 = 0;
const KEY_TRANSACTION: i8 = 1;

/// The highest AddPartitionsToTxn version a client sends: v4 and later are
/// for brokers (KIP-890 verification).
const ADD_PARTITIONS_CLIENT_MAX: i16 = 3;

/// EndTxn v5 returns the bumped producer id and epoch (transactions v2).
const END_TXN_V2: i16 = 5;

/// Produce v12: a partition joins the transaction implicitly (KIP-890 part 2).
pub(crate) const PRODUCE_TXN_V2: i16 = 12;

/// The finalized feature that switches transactions v2 on.
const TRANSACTION_VERSION: &str = "transaction.version";

/// How one attempt ended.
enum Attempt<T> {
    Done(T),
    /// Try again after the backoff.
    Retry(String),
    /// The coordinator moved or is unknown: find it again, then retry.
    Rediscover(String),
    /// Give up with this error.
    Fail(TransactionError),
}

use Attempt::{Done, Fail, Rediscover, Retry};

/// A connection to a coordinator, and which node it is.
struct Node {
    id: i32,
    conn: Connection,
}

/// The coordinator thread's connections and retry state.
struct Coordinator {
    /// The transaction coordinator.
    txn: Option<Node>,
    /// The group coordinator of `group_id`.
    group: Option<(String, Node)>,
    rng: Rng,
    /// Connection failures in a row (the setup timeout grows with them).
    failures: u32,
}

/// The coordinator thread's body.
pub(crate) fn run(shared: SharedState) {
    shared.mark_engine_thread();
    let Some(txn) = shared.txn.as_ref() else { return };
    let mut c = Coordinator { txn: None, group: None, rng: Rng::new(), failures: 0 };
    while let Some(job) = txn.next_job(&shared) {
        match job {
            Job::Op(id, op) => {
                let r = c.perform(&shared, txn, &op);
                if let Err(e) = &r {
                    log::warn!("transactional producer {:?}: {op:?} failed: {e}", txn.id);
                }
                txn.finish_op(&shared, id, &op, r);
            }
            Job::AddPartitions(parts) => c.add_partitions(&shared, txn, &parts),
        }
    }
    log::debug!("coordinator thread of {:?} exits", txn.id);
}

impl Coordinator {
    fn perform(&mut self, shared: &SharedState, txn: &Transactions, op: &Op) -> Result<(), TransactionError> {
        match op {
            Op::Init => self.init_producer_id(shared, txn, None),
            Op::AddOffsets { group, offsets } => self.add_offsets(shared, txn, group, offsets),
            Op::End { commit } => self.end(shared, txn, *commit),
        }
    }

    /// Runs `attempt` until it is done or fails, backing off between tries.
    /// Stops with `Closed` when the producer's threads must stop, and when
    /// `keep_going` turns false.
    fn retrying<T>(
        &mut self,
        shared: &SharedState,
        txn: &Transactions,
        what: &str,
        keep_going: impl Fn() -> bool,
        mut attempt: impl FnMut(&mut Self, &SharedState) -> Attempt<T>,
    ) -> Result<T, TransactionError> {
        let mut tries = 0u32;
        loop {
            if shared.run.is_aborting() || !keep_going() {
                return Err(TransactionError::Closed);
            }
            if let Some(e) = shared.run.fatal() {
                return Err(TransactionError::fatal(e.code(), e.message().to_owned()));
            }
            let why = match attempt(self, shared) {
                Done(t) => return Ok(t),
                Fail(e) => return Err(e),
                Retry(why) => why,
                Rediscover(why) => {
                    self.txn = None;
                    why
                }
            };
            tries += 1;
            if crate::engine::worth_a_warning(tries) {
                log::warn!(
                    "transactional producer {:?}: {what} failed ({tries} time(s) in a row): {why}",
                    txn.id
                );
            } else {
                log::debug!(
                    "transactional producer {:?}: {what} failed ({tries} time(s) in a row): {why}",
                    txn.id
                );
            }
            let pause =
                backoff(shared.cfg.retry_backoff, shared.cfg.retry_backoff_max, tries - 1, &mut self.rng);
            txn.pause(pause);
        }
    }

    // ---- connections ----

    /// A connection to any broker (for FindCoordinator): the known brokers,
    /// then the bootstrap servers.
    fn any_broker(&mut self, shared: &SharedState) -> Result<Connection, String> {
        let view = shared.meta.view();
        let mut ids: Vec<i32> = view.brokers.keys().copied().collect();
        ids.sort_unstable();
        let mut candidates: Vec<(String, u16)> = ids.iter().map(|id| view.brokers[id].clone()).collect();
        candidates.extend(shared.cfg.bootstrap.iter().cloned());
        let start = (self.rng.next_u64() % candidates.len().max(1) as u64) as usize;
        let mut last = String::from("no broker to ask");
        for k in 0..candidates.len() {
            let (host, port) = &candidates[(start + k) % candidates.len()];
            match self.connect(shared, host, *port) {
                Ok(c) => return Ok(c),
                Err(e) => last = format!("{host}:{port}: {e}"),
            }
        }
        Err(last)
    }

    fn connect(&mut self, shared: &SharedState, host: &str, port: u16) -> Result<Connection, ConnError> {
        let opts = shared.connect_options(self.failures, &mut self.rng);
        match Connection::connect(host, port, &opts) {
            Ok(c) => {
                self.failures = 0;
                shared.metrics.connection_created();
                Ok(c)
            }
            Err(e) => {
                self.failures += 1;
                Err(e)
            }
        }
    }

    /// Asks any broker for the coordinator of `key`.
    fn find(&mut self, shared: &SharedState, key: &str, key_type: i8) -> Attempt<Node> {
        let mut any = match self.any_broker(shared) {
            Ok(c) => c,
            Err(e) => return Retry(format!("FindCoordinator: no broker reachable ({e})")),
        };
        let Some(version) = any.versions().version_of::<FindCoordinatorRequest>() else {
            return Fail(TransactionError::fatal(
                Some(KafkaCode::UNSUPPORTED_VERSION),
                "the broker does not support FindCoordinator, which transactions need",
            ));
        };
        let req = find_request(key, key_type, version);
        let resp = match any.round_trip(&req, version) {
            Ok(r) => r,
            Err(e) => return Retry(format!("FindCoordinator: {e}")),
        };
        // v4+ answer per key; older versions at the top level.
        let (code, node_id, host, port) = match resp.coordinators.first() {
            Some(c) if version >= 4 => (KafkaCode(c.error_code), c.node_id, c.host.clone(), c.port),
            _ => (KafkaCode(resp.error_code), resp.node_id, resp.host.clone(), resp.port),
        };
        if !code.is_ok() {
            return match code {
                KafkaCode::COORDINATOR_NOT_AVAILABLE
                | KafkaCode::COORDINATOR_LOAD_IN_PROGRESS
                | KafkaCode::NOT_COORDINATOR => Retry(format!("FindCoordinator: {code}")),
                KafkaCode::GROUP_AUTHORIZATION_FAILED => Fail(TransactionError::abortable(
                    Some(code),
                    format!("FindCoordinator for group {key:?}"),
                )),
                _ => Fail(TransactionError::fatal(Some(code), format!("FindCoordinator for {key:?}"))),
            };
        }
        let Ok(port) = u16::try_from(port) else {
            return Retry(format!("FindCoordinator answered an invalid port {port}"));
        };
        // The broker asked is often the coordinator itself.
        if any.addr() == format!("{host}:{port}") {
            log::debug!("coordinator of {key:?} is broker {node_id} ({host}:{port})");
            return Done(Node { id: node_id, conn: any });
        }
        match self.connect(shared, &host, port) {
            Ok(conn) => {
                log::debug!("coordinator of {key:?} is broker {node_id} ({host}:{port})");
                Done(Node { id: node_id, conn })
            }
            Err(e) => Retry(format!("connecting to coordinator {node_id} ({host}:{port}): {e}")),
        }
    }

    /// The transaction coordinator's connection, found and connected if needed.
    fn txn_conn(&mut self, shared: &SharedState, txn: &Transactions) -> Attempt<&mut Connection> {
        if self.txn.is_none() {
            match self.find(shared, &txn.id, KEY_TRANSACTION) {
                Done(n) => self.txn = Some(n),
                Retry(w) | Rediscover(w) => return Retry(w),
                Fail(e) => return Fail(e),
            }
        }
        let node = self.txn.as_mut().expect("found above");
        if node.conn.reauth_due(Instant::now()) {
            if let Err(e) = node.conn.reauthenticate() {
                self.txn = None;
                return Retry(format!("re-authenticating to the coordinator: {e}"));
            }
            shared.metrics.reauthenticated();
        }
        Done(&mut self.txn.as_mut().expect("found above").conn)
    }

    /// One request to the transaction coordinator: `Ok(None)` if the
    /// broker does not support `R`; a lost connection is dropped (and
    /// reported as retriable).
    fn txn_request<R: Request>(
        &mut self,
        shared: &SharedState,
        txn: &Transactions,
        max_version: i16,
        build: impl FnOnce(i16) -> R,
    ) -> Attempt<(i16, R::Response)> {
        let conn = match self.txn_conn(shared, txn) {
            Done(c) => c,
            Retry(w) | Rediscover(w) => return Retry(w),
            Fail(e) => return Fail(e),
        };
        let Some(version) = conn.versions().version_of::<R>().map(|v| v.min(max_version)) else {
            return Fail(TransactionError::fatal(
                Some(KafkaCode::UNSUPPORTED_VERSION),
                format!("the transaction coordinator does not support API {}", R::API_KEY),
            ));
        };
        let req = build(version);
        match conn.round_trip(&req, version) {
            Ok(resp) => Done((version, resp)),
            Err(e) => {
                let node = self.txn.take().map(|n| n.id).unwrap_or(-1);
                Retry(format!("request to coordinator {node}: {e}"))
            }
        }
    }

    // ---- operations ----

    /// InitProducerId with the transactional id; `bump` is the current
    /// producer id and epoch to bump (KIP-360) instead of a fresh start.
    fn init_producer_id(
        &mut self,
        shared: &SharedState,
        txn: &Transactions,
        bump: Option<(i64, i16)>,
    ) -> Result<(), TransactionError> {
        let what = if bump.is_some() { "InitProducerId (epoch bump)" } else { "InitProducerId" };
        let (pid, epoch, v2) = self.retrying(shared, txn, what, || true, |c, shared| {
            let attempt = c.txn_request(shared, txn, i16::MAX, |_| InitProducerIdRequest {
                transactional_id: Some(txn.id.clone()),
                transaction_timeout_ms: txn.timeout_ms,
                producer_id: bump.map_or(-1, |b| b.0),
                producer_epoch: bump.map_or(-1, |b| b.1),
            });
            let (version, resp) = match attempt {
                Done(r) => r,
                Retry(w) => return Retry(w),
                Rediscover(w) => return Rediscover(w),
                Fail(e) => return Fail(e),
            };
            if bump.is_some() && version < 3 {
                return Fail(TransactionError::fatal(
                    Some(KafkaCode::UNSUPPORTED_VERSION),
                    "the transaction coordinator cannot bump the producer epoch (InitProducerId v3+, Kafka 2.5+), \
                     which recovering from this transaction's failure needs",
                ));
            }
            let code = KafkaCode(resp.error_code);
            match classify(code, what) {
                None => {
                    let v2 = c.txn.as_ref().is_some_and(|n| speaks_v2(&n.conn));
                    Done((resp.producer_id, resp.producer_epoch, v2))
                }
                Some(a) => a,
            }
        })?;
        shared.idem.set(pid, epoch);
        txn.set_implicit(v2);
        log::info!(
            "transactional producer {:?}: producer id {pid}, epoch {epoch}, transactions v{}",
            txn.id,
            if v2 { 2 } else { 1 }
        );
        shared.brokers.wake_all();
        Ok(())
    }

    /// AddPartitionsToTxn for partitions that joined the transaction.
    fn add_partitions(&mut self, shared: &SharedState, txn: &Transactions, parts: &[TxnPartition]) {
        let Some((pid, epoch)) = shared.idem.installed() else { return };
        let mut left: Vec<TxnPartition> = parts.to_vec();
        let r = self.retrying(
            shared,
            txn,
            "AddPartitionsToTxn",
            || txn.still_adding(),
            |c, shared| {
                let attempt =
                    c.txn_request(shared, txn, ADD_PARTITIONS_CLIENT_MAX, |_| AddPartitionsToTxnRequest {
                        transactional_id: txn.id.clone(),
                        producer_id: pid,
                        producer_epoch: epoch,
                        topics: group_by_topic(&left),
                        ..Default::default()
                    });
                let (_, resp) = match attempt {
                    Done(r) => r,
                    Retry(w) => return Retry(w),
                    Rediscover(w) => return Rediscover(w),
                    Fail(e) => return Fail(e),
                };
                let mut confirmed: Vec<QueueRef> = Vec::new();
                let mut retry: Option<Attempt<()>> = None;
                for t in &resp.results_by_topic {
                    for p in &t.results_by_partition {
                        let Some(part) =
                            left.iter().find(|l| *l.topic == *t.name && l.partition == p.partition_index)
                        else {
                            continue;
                        };
                        let code = KafkaCode(p.partition_error_code);
                        if code.is_ok() {
                            confirmed.push(part.queue);
                            continue;
                        }
                        let what = format!("AddPartitionsToTxn for {}-{}", t.name, p.partition_index);
                        match classify_add_partition(code, &what) {
                            Fail(e) => return Fail(e),
                            other => {
                                // The worst wins: rediscover over retry.
                                if !matches!(retry, Some(Rediscover(_))) {
                                    retry = Some(other);
                                }
                            }
                        }
                    }
                }
                if !confirmed.is_empty() {
                    txn.added(shared, &confirmed);
                    left.retain(|l| !confirmed.contains(&l.queue));
                }
                match retry {
                    _ if left.is_empty() => Done(()),
                    Some(Rediscover(w)) => Rediscover(w),
                    Some(Retry(w)) => Retry(w),
                    _ => Retry("AddPartitionsToTxn left partitions without an answer".into()),
                }
            },
        );
        if let Err(e) = r {
            if matches!(e, TransactionError::Fatal(_)) {
                txn.finish_op_free(shared, e);
            } else if !matches!(e, TransactionError::Closed) {
                txn.make_abortable(shared, e);
            }
        }
    }

    /// AddOffsetsToTxn (transactions v1), then TxnOffsetCommit to the group
    /// coordinator.
    fn add_offsets(
        &mut self,
        shared: &SharedState,
        txn: &Transactions,
        group: &ConsumerGroupMetadata,
        offsets: &[OffsetAndMetadata],
    ) -> Result<(), TransactionError> {
        let (pid, epoch) = shared.idem.installed().ok_or(TransactionError::Closed)?;
        if !txn.implicit.load(std::sync::atomic::Ordering::Acquire) {
            self.retrying(
                shared,
                txn,
                "AddOffsetsToTxn",
                || txn.still_adding(),
                |c, shared| {
                    let attempt = c.txn_request(shared, txn, i16::MAX, |_| AddOffsetsToTxnRequest {
                        transactional_id: txn.id.clone(),
                        producer_id: pid,
                        producer_epoch: epoch,
                        group_id: group.group_id.clone(),
                    });
                    match attempt {
                        Done((_, resp)) => match classify(KafkaCode(resp.error_code), "AddOffsetsToTxn") {
                            None => Done(()),
                            Some(a) => a,
                        },
                        Retry(w) => Retry(w),
                        Rediscover(w) => Rediscover(w),
                        Fail(e) => Fail(e),
                    }
                },
            )?;
        }
        txn.offsets_added();
        let mut left: Vec<OffsetAndMetadata> = offsets.to_vec();
        self.retrying(
            shared,
            txn,
            "TxnOffsetCommit",
            || txn.still_adding(),
            |c, shared| {
                let conn = match c.group_conn(shared, &group.group_id) {
                    Done(conn) => conn,
                    Retry(w) | Rediscover(w) => return Retry(w),
                    Fail(e) => return Fail(e),
                };
                let Some(version) = conn.versions().version_of::<TxnOffsetCommitRequest>() else {
                    return Fail(TransactionError::fatal(
                        Some(KafkaCode::UNSUPPORTED_VERSION),
                        "the group coordinator does not support TxnOffsetCommit",
                    ));
                };
                let req = txn_offset_commit(txn, pid, epoch, group, &left, version);
                let resp = match conn.round_trip(&req, version) {
                    Ok(r) => r,
                    Err(e) => {
                        c.group = None;
                        return Retry(format!("TxnOffsetCommit: {e}"));
                    }
                };
                let mut outcome: Option<Attempt<()>> = None;
                let mut committed = Vec::new();
                for t in &resp.topics {
                    for p in &t.partitions {
                        let code = KafkaCode(p.error_code);
                        if code.is_ok() {
                            committed.push((t.name.clone(), p.partition_index));
                            continue;
                        }
                        let what = format!("TxnOffsetCommit for {}-{}", t.name, p.partition_index);
                        match classify_offset_commit(code, &what) {
                            Fail(e) => return Fail(e),
                            Rediscover(w) => {
                                c.group = None;
                                outcome = Some(Retry(w));
                            }
                            other => outcome = Some(other),
                        }
                    }
                }
                left.retain(|o| !committed.iter().any(|(t, p)| *t == o.topic && *p == o.partition));
                match outcome {
                    _ if left.is_empty() => Done(()),
                    Some(a) => a,
                    None => Retry("TxnOffsetCommit left partitions without an answer".into()),
                }
            },
        )
    }

    /// The group coordinator's connection for `group_id`.
    fn group_conn(&mut self, shared: &SharedState, group_id: &str) -> Attempt<&mut Connection> {
        if self.group.as_ref().is_none_or(|(g, _)| g != group_id) {
            match self.find(shared, group_id, KEY_GROUP) {
                Done(n) => self.group = Some((group_id.to_owned(), n)),
                Retry(w) | Rediscover(w) => return Retry(w),
                Fail(e) => return Fail(e),
            }
        }
        Done(&mut self.group.as_mut().expect("found above").1.conn)
    }

    /// EndTxn, retried until the coordinator answers; then, after an abort
    /// that broke sequence numbers, the epoch bump (transactions v1).
    fn end(
        &mut self,
        shared: &SharedState,
        txn: &Transactions,
        commit: bool,
    ) -> Result<(), TransactionError> {
        let (started, bump) = txn.end_needs();
        let current = shared.idem.installed().ok_or(TransactionError::Closed)?;
        let what = if commit { "EndTxn (commit)" } else { "EndTxn (abort)" };
        let mut next = None;
        if started {
            next = self.retrying(
                shared,
                txn,
                what,
                || true,
                |c, shared| {
                    let attempt = c.txn_request(shared, txn, i16::MAX, |_| EndTxnRequest {
                        transactional_id: txn.id.clone(),
                        producer_id: current.0,
                        producer_epoch: current.1,
                        committed: commit,
                    });
                    let (version, resp) = match attempt {
                        Done(r) => r,
                        Retry(w) => return Retry(w),
                        Rediscover(w) => return Rediscover(w),
                        Fail(e) => return Fail(e),
                    };
                    match classify(KafkaCode(resp.error_code), what) {
                        None if version >= END_TXN_V2 && resp.producer_id >= 0 => {
                            Done(Some((resp.producer_id, resp.producer_epoch)))
                        }
                        None => Done(None),
                        Some(a) => a,
                    }
                },
            )?;
        }
        match next {
            // Transactions v2: every EndTxn bumps the epoch; sequences restart.
            Some((pid, epoch)) => shared.idem.set(pid, epoch),
            None if bump => self.init_producer_id(shared, txn, Some(current))?,
            None => {}
        }
        log::debug!("transactional producer {:?}: {what} done", txn.id);
        Ok(())
    }
}

impl Transactions {
    /// A fatal error outside an operation (from AddPartitionsToTxn): the
    /// phase becomes `Fatal` and the producer fails.
    fn finish_op_free(&self, shared: &SharedState, e: TransactionError) {
        let id = {
            let mut s = self.state.lock();
            let id = s.next_op;
            s.next_op += 1;
            id
        };
        self.finish_op(shared, id, &Op::End { commit: false }, Err(e));
    }
}

/// Whether the broker of `conn` runs transactions v2: the finalized
/// feature `transaction.version` is 2 or more, and it speaks EndTxn v5 and
/// Produce v12 (Java's rule).
fn speaks_v2(conn: &Connection) -> bool {
    let v = conn.versions();
    v.finalized(TRANSACTION_VERSION).is_some_and(|level| level >= 2)
        && v.version_of::<EndTxnRequest>().is_some_and(|e| e >= END_TXN_V2)
        && v.version_of::<ProduceRequest>().is_some_and(|p| p >= PRODUCE_TXN_V2)
}

/// The FindCoordinator request for one key: batched (`coordinator_keys`)
/// from v4, the single `key` before.
fn find_request(key: &str, key_type: i8, version: i16) -> FindCoordinatorRequest {
    if version >= 4 {
        FindCoordinatorRequest { key: String::new(), key_type, coordinator_keys: vec![key.to_owned()] }
    } else {
        FindCoordinatorRequest { key: key.to_owned(), key_type, coordinator_keys: Vec::new() }
    }
}

/// The partitions of `parts`, grouped by topic (first-seen order).
fn group_by_topic(parts: &[TxnPartition]) -> Vec<AddPartitionsToTxnTopic> {
    let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
    for p in parts {
        match topics.iter_mut().find(|t| *t.name == *p.topic) {
            Some(t) => t.partitions.push(p.partition),
            None => topics
                .push(AddPartitionsToTxnTopic { name: p.topic.to_string(), partitions: vec![p.partition] }),
        }
    }
    topics
}

fn txn_offset_commit(
    txn: &Transactions,
    pid: i64,
    epoch: i16,
    group: &ConsumerGroupMetadata,
    offsets: &[OffsetAndMetadata],
    version: i16,
) -> TxnOffsetCommitRequest {
    let mut topics: Vec<TxnOffsetCommitRequestTopic> = Vec::new();
    for o in offsets {
        let p = TxnOffsetCommitRequestPartition {
            partition_index: o.partition,
            committed_offset: o.offset,
            committed_leader_epoch: if version >= 2 { o.leader_epoch.unwrap_or(-1) } else { -1 },
            committed_metadata: o.metadata.clone(),
        };
        match topics.iter_mut().find(|t| t.name == o.topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(TxnOffsetCommitRequestTopic { name: o.topic.clone(), partitions: vec![p] }),
        }
    }
    // Group metadata exists from v3 (KIP-447); older brokers get the group id only.
    let member = version >= 3;
    TxnOffsetCommitRequest {
        transactional_id: txn.id.clone(),
        group_id: group.group_id.clone(),
        producer_id: pid,
        producer_epoch: epoch,
        generation_id: if member { group.generation_id } else { -1 },
        member_id: if member { group.member_id.clone() } else { String::new() },
        group_instance_id: if member { group.group_instance_id.clone() } else { None },
        topics,
    }
}

/// What to do with an error code from the transaction coordinator
/// (InitProducerId, AddOffsetsToTxn, EndTxn); `None` for success.
fn classify<T>(code: KafkaCode, what: &str) -> Option<Attempt<T>> {
    Some(match code {
        KafkaCode::NONE => return None,
        KafkaCode::NOT_COORDINATOR | KafkaCode::COORDINATOR_NOT_AVAILABLE => {
            Rediscover(format!("{what}: {code}"))
        }
        KafkaCode::COORDINATOR_LOAD_IN_PROGRESS
        | KafkaCode::CONCURRENT_TRANSACTIONS
        | KafkaCode::REQUEST_TIMED_OUT
        | KafkaCode::NETWORK_EXCEPTION => Retry(format!("{what}: {code}")),
        KafkaCode::TRANSACTION_ABORTABLE
        | KafkaCode::UNKNOWN_PRODUCER_ID
        | KafkaCode::INVALID_PRODUCER_ID_MAPPING => {
            Fail(TransactionError::abortable(Some(code), what.to_owned()))
        }
        KafkaCode::GROUP_AUTHORIZATION_FAILED => {
            Fail(TransactionError::abortable(Some(code), what.to_owned()))
        }
        _ => Fail(TransactionError::fatal(Some(code), what.to_owned())),
    })
}

/// AddPartitionsToTxn's per-partition codes: as [`classify`], except that
/// an unknown partition or one not attempted (because another failed) is
/// retried, and a topic the producer may not write makes the transaction
/// abortable.
fn classify_add_partition(code: KafkaCode, what: &str) -> Attempt<()> {
    match code {
        KafkaCode::UNKNOWN_TOPIC_OR_PARTITION | KafkaCode::OPERATION_NOT_ATTEMPTED => {
            Retry(format!("{what}: {code}"))
        }
        KafkaCode::TOPIC_AUTHORIZATION_FAILED => {
            Fail(TransactionError::abortable(Some(code), what.to_owned()))
        }
        _ => classify(code, what).unwrap_or(Done(())),
    }
}

/// TxnOffsetCommit's per-partition codes: group membership problems make
/// the transaction abortable (the consumer was fenced: Java's
/// `CommitFailedException`).
fn classify_offset_commit(code: KafkaCode, what: &str) -> Attempt<()> {
    match code {
        KafkaCode::UNKNOWN_TOPIC_OR_PARTITION | KafkaCode::UNSTABLE_OFFSET_COMMIT => {
            Retry(format!("{what}: {code}"))
        }
        KafkaCode::UNKNOWN_MEMBER_ID
        | KafkaCode::ILLEGAL_GENERATION
        | KafkaCode::FENCED_INSTANCE_ID
        | KafkaCode::REBALANCE_IN_PROGRESS
        | KafkaCode::TOPIC_AUTHORIZATION_FAILED => {
            Fail(TransactionError::abortable(Some(code), what.to_owned()))
        }
        _ => classify(code, what).unwrap_or(Done(())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinator_errors_are_classified_as_kip_1050_says() {
        assert!(classify::<()>(KafkaCode::NONE, "x").is_none());
        for c in [14, 51, 7, 13] {
            assert!(matches!(classify::<()>(KafkaCode(c), "x"), Some(Retry(_))), "{c}");
        }
        for c in [15, 16] {
            assert!(matches!(classify::<()>(KafkaCode(c), "x"), Some(Rediscover(_))), "{c}");
        }
        for c in [120, 59, 49, 30] {
            assert!(
                matches!(classify::<()>(KafkaCode(c), "x"), Some(Fail(TransactionError::Abortable(_)))),
                "{c}"
            );
        }
        for c in [90, 47, 53, 50, 48, -1] {
            assert!(
                matches!(classify::<()>(KafkaCode(c), "x"), Some(Fail(TransactionError::Fatal(_)))),
                "{c}"
            );
        }
        assert!(matches!(classify_add_partition(KafkaCode(55), "x"), Retry(_)));
        assert!(matches!(classify_add_partition(KafkaCode(29), "x"), Fail(TransactionError::Abortable(_))));
        assert!(matches!(classify_add_partition(KafkaCode(90), "x"), Fail(TransactionError::Fatal(_))));
        assert!(matches!(classify_offset_commit(KafkaCode(22), "x"), Fail(TransactionError::Abortable(_))));
        assert!(matches!(classify_offset_commit(KafkaCode(16), "x"), Rediscover(_)));
    }

    #[test]
    fn find_coordinator_puts_the_key_where_the_version_wants_it() {
        let old = find_request("tx", KEY_TRANSACTION, 3);
        assert_eq!((old.key.as_str(), old.coordinator_keys.len()), ("tx", 0));
        let new = find_request("tx", KEY_TRANSACTION, 4);
        assert_eq!((new.key.as_str(), new.coordinator_keys.as_slice()), ("", &["tx".to_owned()][..]));
    }
}
