//! The cluster view and the metadata thread.
//!
//! [`ClusterView`] is an immutable snapshot (brokers, and per topic each
//! partition's leader and accumulator queue), replaced whole on every refresh
//! and read through an `Arc`: senders look topics up in it, broker threads
//! derive the partitions they lead from it. A partition's queue is created
//! once, when the partition is first seen, and stays put when its leader
//! moves: the new leader's broker thread simply starts draining it, so a
//! leader change never reorders a partition's batches.
//!
//! The metadata thread refreshes the view on demand (unknown topic, leader
//! errors, connection failures) and every `metadata.max.age.ms`, obtains the
//! idempotent producer id, and fails the overdue batches of partitions that
//! have no leader (no broker thread looks after those).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use super::accumulator::{Accumulator, QueueRef};
use super::connection::{ConnError, Connection};
use super::telemetry::Telemetry;
use super::{backoff, broker, earliest, worth_a_warning, Rng, SharedState};
use crate::error::{DeliveryError, DeliveryErrorKind, KafkaCode, Persistence};
use crate::protocol::messages::init_producer_id::InitProducerIdRequest;
use crate::protocol::messages::metadata::{MetadataRequest, MetadataResponse, NIL_TOPIC_ID};
use crate::protocol::primitives::Uuid;

/// One partition as the producer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionMeta {
    /// Leader broker id, or -1 while there is none.
    pub leader: i32,
    pub leader_epoch: i32,
    pub queue: QueueRef,
}

/// One topic as the producer sees it.
#[derive(Debug)]
pub(crate) struct TopicMeta {
    pub name: Arc<str>,
    /// The topic id from the last Metadata answer (v10+), or nil: the answer
    /// came at a version without ids (or from a broker that sent none).
    /// Produce v13 names the topic by it; without it, requests go at v12.
    pub topic_id: Uuid,
    pub partitions: Vec<PartitionMeta>,
    /// Partitions that currently have a leader, ascending (for partitioners).
    pub available: Vec<i32>,
    /// Set by every send to the topic, cleared by the metadata thread when it
    /// notes the use (`metadata.max.idle.ms`); shared by every version of the
    /// topic's metadata.
    used: Arc<AtomicBool>,
}

impl TopicMeta {
    fn new(name: Arc<str>, topic_id: Uuid, partitions: Vec<PartitionMeta>, used: Arc<AtomicBool>) -> Self {
        let available =
            partitions.iter().enumerate().filter(|(_, p)| p.leader >= 0).map(|(i, _)| i as i32).collect();
        Self { name, topic_id, partitions, available, used }
    }

    /// The topic id, if a Metadata answer (v10+) gave one.
    pub fn known_id(&self) -> Option<Uuid> {
        (self.topic_id != NIL_TOPIC_ID).then_some(self.topic_id)
    }

    /// Notes a send to the topic: a load, and a store only the first time
    /// after the metadata thread looked (no write per record).
    pub fn mark_used(&self) {
        if !self.used.load(Ordering::Relaxed) {
            self.used.store(true, Ordering::Relaxed);
        }
    }
}

/// An immutable snapshot of the cluster.
#[derive(Debug, Default)]
pub(crate) struct ClusterView {
    pub version: u64,
    pub brokers: HashMap<i32, (String, u16)>,
    pub topics: HashMap<Arc<str>, Arc<TopicMeta>>,
    /// The last error the cluster gave for topics it did not describe.
    pub topic_errors: HashMap<Arc<str>, KafkaCode>,
    /// Queues of partitions that no longer exist (the topic shrank, or was
    /// recreated with fewer partitions), with their topic and index: what is
    /// queued there fails (see `MetadataThread::fail_retired`).
    pub retired: Vec<(QueueRef, Arc<str>, i32)>,
}

impl ClusterView {
    /// The queues of the partitions `broker` leads.
    pub fn partitions_led_by(&self, broker: i32) -> Vec<QueueRef> {
        let mut v: Vec<QueueRef> = self
            .topics
            .values()
            .flat_map(|t| t.partitions.iter())
            .filter(|p| p.leader == broker)
            .map(|p| p.queue)
            .collect();
        v.sort_unstable();
        v
    }

    /// The queues of partitions without a usable leader.
    pub fn leaderless(&self) -> Vec<QueueRef> {
        self.topics
            .values()
            .flat_map(|t| t.partitions.iter())
            .filter(|p| p.leader < 0 || !self.brokers.contains_key(&p.leader))
            .map(|p| p.queue)
            .collect()
    }
}

#[derive(Debug, Default)]
struct Control {
    /// Topics the producer has been asked about.
    wanted: HashSet<Arc<str>>,
    /// A refresh was requested and not yet done.
    refresh: bool,
    /// Senders blocked waiting for a topic: refresh (with backoff) until
    /// they have it or give up.
    waiting: usize,
    /// The producer is closing: senders waiting for a topic give up.
    closing: bool,
    stop: bool,
    /// `close` asks for the terminating telemetry push (KIP-714)...
    terminate_telemetry: bool,
    /// ...and the metadata thread says it is done (sent, failed or not needed).
    telemetry_terminated: bool,
    /// The last connection to the cluster failed to be secured or
    /// authenticated (cleared by the next that succeeds): senders waiting
    /// for a topic give up with it instead of waiting for `max.block.ms`.
    security_failure: Option<DeliveryError>,
}

thread_local! {
    /// The last topic this thread looked up: (the id of the `Metadata` it
    /// came from, that view's version, the topic).
    static TOPIC_CACHE: std::cell::RefCell<Option<(u64, u64, Arc<TopicMeta>)>> =
        const { std::cell::RefCell::new(None) };
}

/// The shared cluster view and the refresh machinery.
#[derive(Debug)]
pub(crate) struct Metadata {
    /// Unique per producer (never reused), for the per-thread topic cache.
    id: u64,
    view: RwLock<Arc<ClusterView>>,
    version: AtomicU64,
    control: Mutex<Control>,
    /// Wakes the metadata thread.
    wake: Condvar,
    /// Wakes senders waiting for a topic.
    changed: Condvar,
    /// Wakes `close` waiting for the terminating telemetry push.
    telemetry_done: Condvar,
    /// Whether a terminating telemetry push would be sent (there is a
    /// subscription with metrics to push): set by the metadata thread, so
    /// that `close` waits for nothing otherwise.
    telemetry_subscribed: AtomicBool,
    /// Every queue ever created, per topic, indexed by partition: a topic
    /// that shrinks, is recreated, or leaves the view while idle gets the same
    /// queues back, so each partition has exactly one queue for the
    /// producer's life. Used by the metadata thread only (in `apply`).
    queues: Mutex<HashMap<Arc<str>, Vec<QueueRef>>>,
}

/// Most partitions one topic may have here (Kafka's practical limits are far
/// lower): metadata claiming more is rejected, not allocated.
const MAX_PARTITIONS: usize = 1 << 20;

impl Metadata {
    pub fn new() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            view: RwLock::new(Arc::new(ClusterView::default())),
            version: AtomicU64::new(0),
            control: Mutex::new(Control::default()),
            wake: Condvar::new(),
            changed: Condvar::new(),
            telemetry_done: Condvar::new(),
            telemetry_subscribed: AtomicBool::new(false),
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// This producer's unique id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The current snapshot.
    pub fn view(&self) -> Arc<ClusterView> {
        self.view.read().clone()
    }

    /// The version of the current snapshot (cheap; broker threads poll it).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// A topic if it is known.
    pub fn topic(&self, name: &str) -> Option<Arc<TopicMeta>> {
        self.view.read().topics.get(name).cloned()
    }

    /// Runs `f` on topic `name` if it is known, through a per-thread cache of
    /// the last topic looked up (checked against this view's version), so
    /// that a thread sending to one topic takes no lock, hashes nothing and
    /// touches no shared reference count per record.
    pub fn with_topic<R>(&self, name: &str, f: impl FnOnce(&TopicMeta) -> R) -> Option<R> {
        let version = self.version();
        let mut f = Some(f);
        let hit = TOPIC_CACHE.with(|c| {
            let c = c.try_borrow().ok()?;
            let (owner, v, t) = c.as_ref()?;
            if *owner == self.id && *v == version && &*t.name == name {
                f.take().map(|f| f(t))
            } else {
                None
            }
        });
        if hit.is_some() {
            return hit;
        }
        let t = self.topic(name)?;
        TOPIC_CACHE.with(|c| {
            // A partitioner that sends from inside `partition` finds the
            // cache borrowed: it just goes without.
            if let Ok(mut c) = c.try_borrow_mut() {
                *c = Some((self.id, version, t.clone()));
            }
        });
        f.take().map(|f| f(&t))
    }

    /// Asks the metadata thread for a refresh.
    pub fn request_refresh(&self) {
        let mut c = self.control.lock();
        c.refresh = true;
        self.wake.notify_all();
    }

    /// Wakes the metadata thread without asking for a refresh (e.g. a
    /// producer id is needed).
    pub fn poke(&self) {
        let _c = self.control.lock();
        self.wake.notify_all();
    }

    /// Makes senders waiting for a topic give up (the producer is closing);
    /// the thread itself keeps refreshing for the records being drained.
    pub fn begin_close(&self) {
        let mut c = self.control.lock();
        c.closing = true;
        self.changed.notify_all();
    }

    /// Tells the metadata thread to exit.
    pub fn stop(&self) {
        let mut c = self.control.lock();
        c.stop = true;
        self.wake.notify_all();
        self.changed.notify_all();
    }

    /// Asks the metadata thread for the terminating telemetry push (if it
    /// has a subscription) and waits for it until `deadline`.
    pub fn terminate_telemetry(&self, deadline: Instant) {
        if !self.telemetry_subscribed.load(Ordering::Acquire) {
            return;
        }
        let mut c = self.control.lock();
        c.terminate_telemetry = true;
        self.wake.notify_all();
        while !c.telemetry_terminated && !c.stop {
            if self.telemetry_done.wait_until(&mut c, deadline).timed_out() {
                log::debug!("closing without waiting longer for the terminating telemetry push");
                return;
            }
        }
    }

    /// Records that a connection could not be secured or authenticated
    /// (`message` says why); wakes senders waiting for a topic.
    pub fn security_failed(&self, message: &str) {
        let e = DeliveryError::new(DeliveryErrorKind::Authentication, Persistence::NotPersisted, message);
        self.set_security_failure(Some(e));
    }

    /// Records that a connection succeeded (clears a security failure).
    pub fn security_ok(&self) {
        self.set_security_failure(None);
    }

    fn set_security_failure(&self, failure: Option<DeliveryError>) {
        let mut c = self.control.lock();
        let changed = c.security_failure.is_some() != failure.is_some();
        c.security_failure = failure;
        if changed {
            self.changed.notify_all();
        }
    }

    /// The authentication failure of the last connection attempt, if it failed.
    pub fn security_failure(&self) -> Option<DeliveryError> {
        self.control.lock().security_failure.clone()
    }

    /// The topic, waiting until `deadline` (`None`: do not wait) for the
    /// metadata thread to learn it. Err carries the cluster's last error for
    /// the topic, if it gave one.
    pub fn wait_topic(
        &self,
        name: &str,
        deadline: Option<Instant>,
    ) -> Result<Arc<TopicMeta>, Option<KafkaCode>> {
        self.wait_topic_where(name, deadline, |_| true)
    }

    /// Like [`Self::wait_topic`], but waits (refreshing, with backoff) until
    /// the topic is known **and** `until` holds for it, e.g. until it has a
    /// partition a record names. At the deadline, returns the topic as known
    /// then even if `until` does not hold.
    pub fn wait_topic_where(
        &self,
        name: &str,
        deadline: Option<Instant>,
        until: impl Fn(&TopicMeta) -> bool,
    ) -> Result<Arc<TopicMeta>, Option<KafkaCode>> {
        if let Some(t) = self.topic(name).filter(|t| until(t)) {
            return Ok(t);
        }
        let mut c = self.control.lock();
        if !c.wanted.contains(name) {
            c.wanted.insert(Arc::from(name));
        }
        c.refresh = true;
        self.wake.notify_all();
        c.waiting += 1;
        let r = loop {
            let known = self.topic(name);
            if let Some(t) = known.as_ref().filter(|t| until(t)) {
                break Ok(t.clone());
            }
            let give_up = |known: Option<Arc<TopicMeta>>| match known {
                Some(t) => Ok(t),
                None => Err(self.view.read().topic_errors.get(name).copied()),
            };
            if c.stop || c.closing || c.security_failure.is_some() {
                break give_up(known);
            }
            match deadline {
                Some(d) if Instant::now() < d => {
                    // Still not there after a refresh: ask for another (the
                    // metadata thread backs off while senders wait).
                    c.refresh = true;
                    self.wake.notify_all();
                    self.changed.wait_until(&mut c, d);
                }
                _ => break give_up(known),
            }
        };
        c.waiting -= 1;
        r
    }

    /// Publishes a refreshed view built from `resp`, without the topics in
    /// `idle` (`metadata.max.idle.ms`). Returns the new view.
    fn apply(&self, acc: &Accumulator, resp: &MetadataResponse, idle: &[Arc<str>]) -> Arc<ClusterView> {
        let old = self.view();
        let brokers: HashMap<i32, (String, u16)> = resp
            .brokers
            .iter()
            .filter_map(|b| u16::try_from(b.port).ok().map(|port| (b.node_id, (b.host.clone(), port))))
            .collect();
        let mut topics = old.topics.clone();
        for t in idle {
            topics.remove(t);
        }
        let mut topic_errors = HashMap::new();
        let mut all_queues = self.queues.lock();
        for t in &resp.topics {
            let Some(name) = t.name.as_deref() else { continue };
            let code = KafkaCode(t.error_code);
            let prev = old.topics.get(name);
            let name: Arc<str> = prev.map(|p| p.name.clone()).unwrap_or_else(|| Arc::from(name));
            let used = prev.map_or_else(|| Arc::new(AtomicBool::new(false)), |p| p.used.clone());
            if !code.is_ok() {
                topic_errors.insert(name.clone(), code);
                // A topic we knew that vanished (deleted, or a broker's view
                // lagging): keep its queues, without leaders, so records wait
                // for it to come back or for their delivery timeout.
                if let Some(p) = prev {
                    let parts = p.partitions.iter().map(|pm| PartitionMeta { leader: -1, ..*pm }).collect();
                    topics.insert(name.clone(), Arc::new(TopicMeta::new(name, p.topic_id, parts, used)));
                }
                continue;
            }
            // The partitions listed are the topic's partitions: indexes
            // 0..n, each once. Anything else is nonsense (or hostile): keep
            // what we knew rather than allocate by a number off the wire.
            let count = t.partitions.len();
            let mut seen = vec![false; count.min(MAX_PARTITIONS)];
            let valid = count <= MAX_PARTITIONS
                && t.partitions.iter().all(|p| {
                    usize::try_from(p.partition_index)
                        .ok()
                        .and_then(|i| seen.get_mut(i))
                        .is_some_and(|s| !std::mem::replace(s, true))
                });
            if !valid {
                log::error!(
                    "metadata for topic {name} lists {count} partitions whose indexes are not 0..{count}, \
                     each once; ignoring this answer for the topic"
                );
                continue;
            }
            let queues = all_queues.entry(name.clone()).or_default();
            while queues.len() < count {
                queues.push(acc.add_partition(&name, queues.len() as i32));
            }
            let mut parts: Vec<PartitionMeta> = queues[..count]
                .iter()
                .map(|&queue| PartitionMeta { leader: -1, leader_epoch: -1, queue })
                .collect();
            for p in &t.partitions {
                let i = p.partition_index as usize;
                let pm = &mut parts[i];
                // A leader learned from a Produce response (KIP-951) with a
                // newer epoch than this answer's (a lagging broker) stays.
                let known = prev.and_then(|t| t.partitions.get(i)).filter(|k| {
                    k.leader >= 0
                        && k.leader_epoch > p.leader_epoch
                        && p.leader_epoch >= 0
                        && brokers.contains_key(&k.leader)
                });
                match known {
                    Some(k) => {
                        pm.leader = k.leader;
                        pm.leader_epoch = k.leader_epoch;
                    }
                    None => {
                        pm.leader = if brokers.contains_key(&p.leader_id) { p.leader_id } else { -1 };
                        pm.leader_epoch = p.leader_epoch;
                    }
                }
            }
            if let Some(prev) = prev.filter(|p| p.partitions.len() > count) {
                log::warn!(
                    "topic {name} now has {count} partitions (was {}): records queued for the others fail",
                    prev.partitions.len()
                );
            }
            // The id as this answer gives it: nil from a broker answering below
            // Metadata v10 (then Produce falls back to v12 for the topic), a
            // new one for a topic that was deleted and created again.
            topics.insert(name.clone(), Arc::new(TopicMeta::new(name, t.topic_id, parts, used)));
        }
        // Queues beyond each known topic's current partition count.
        let retired = all_queues
            .iter()
            .filter_map(|(name, qs)| topics.get(name).map(|t| (name, qs, t.partitions.len())))
            .flat_map(|(name, qs, n)| {
                qs.iter().enumerate().skip(n).map(move |(i, q)| (*q, name.clone(), i as i32))
            })
            .collect();
        drop(all_queues);
        let version = old.version + 1;
        let view = Arc::new(ClusterView { version, brokers, topics, topic_errors, retired });
        *self.view.write() = view.clone();
        self.version.store(version, Ordering::Release);
        let _c = self.control.lock();
        self.changed.notify_all();
        view
    }

    /// Moves partition `partition` of `topic` to `leader` (KIP-951: a
    /// Produce response's `CurrentLeader`, with the leader's endpoint from
    /// its `NodeEndpoints` if this view does not know the broker), at once,
    /// without a metadata round trip; only if `epoch` is newer than the
    /// partition's known leader epoch. Returns whether the view changed.
    pub fn apply_leader_hint(
        &self,
        topic: &str,
        partition: i32,
        leader: i32,
        epoch: i32,
        endpoint: Option<(String, u16)>,
    ) -> bool {
        let mut guard = self.view.write();
        let old = guard.clone();
        let Some(t) = old.topics.get(topic) else { return false };
        let Some(pm) = usize::try_from(partition).ok().and_then(|i| t.partitions.get(i)) else {
            return false;
        };
        if epoch <= pm.leader_epoch || leader < 0 || leader == pm.leader {
            return false;
        }
        let mut brokers = old.brokers.clone();
        if let std::collections::hash_map::Entry::Vacant(v) = brokers.entry(leader) {
            match endpoint {
                Some(e) => {
                    v.insert(e);
                }
                None => return false,
            }
        }
        let mut parts = t.partitions.clone();
        parts[partition as usize] = PartitionMeta { leader, leader_epoch: epoch, queue: pm.queue };
        let mut topics = old.topics.clone();
        topics.insert(
            t.name.clone(),
            Arc::new(TopicMeta::new(t.name.clone(), t.topic_id, parts, t.used.clone())),
        );
        let version = old.version + 1;
        *guard = Arc::new(ClusterView {
            version,
            brokers,
            topics,
            topic_errors: old.topic_errors.clone(),
            retired: old.retired.clone(),
        });
        self.version.store(version, Ordering::Release);
        drop(guard);
        log::debug!("{topic}-{partition}: leader {leader} (epoch {epoch}) from a Produce response (KIP-951)");
        true
    }

    /// Forgets `topics` (idle): they leave the metadata requests until a
    /// send asks for them again.
    fn forget_topics(&self, topics: &[Arc<str>]) {
        let mut c = self.control.lock();
        for t in topics {
            c.wanted.remove(t);
        }
    }
}

/// The metadata thread's body.
pub(crate) fn run(shared: SharedState) {
    shared.mark_engine_thread();
    let mut t = MetadataThread {
        conn: None,
        conn_used: Instant::now(),
        next_candidate: 0,
        rng: Rng::new(),
        failures: 0,
        unsettled: 0,
        last_used: HashMap::new(),
        closed_before_answer: 0,
        last_success: Instant::now(),
        rebootstrap_now: false,
        telemetry: Telemetry::new(shared.cfg.enable_metrics_push, Instant::now()),
    };
    t.run(&shared);
}

struct MetadataThread {
    conn: Option<Connection>,
    /// The last round trip on `conn` (`connections.max.idle.ms`).
    conn_used: Instant,
    next_candidate: usize,
    rng: Rng,
    /// Consecutive failed refreshes, for backoff.
    failures: u32,
    /// Consecutive successful refreshes that left something unsettled (a
    /// leaderless partition with records, a sender waiting for a topic): the
    /// next one backs off exponentially, up to `retry.backoff.max.ms`.
    unsettled: u32,
    /// When each topic in the view was last sent to, as far as this thread
    /// noticed (`metadata.max.idle.ms`).
    last_used: HashMap<Arc<str>, Instant>,
    /// Fresh connections closed without an answer, in a row (see
    /// `ConnError::ClosedBeforeAnswer`).
    closed_before_answer: u32,
    /// The last successful metadata refresh (or the start).
    last_success: Instant,
    /// A broker answered `REBOOTSTRAP_REQUIRED`.
    rebootstrap_now: bool,
    /// Client telemetry (KIP-714), run over this thread's connection.
    telemetry: Telemetry,
}

impl MetadataThread {
    fn run(&mut self, shared: &SharedState) {
        let cfg = &shared.cfg;
        let mut last_refresh: Option<Instant> = None;
        let mut retry_at: Option<Instant> = None;
        loop {
            // Outside the control lock: failing batches runs user callbacks.
            let leaderless_next = self.expire_leaderless(shared, Instant::now());
            self.fail_retired(shared);
            let idle_conn_at = self.close_if_idle(shared, Instant::now());
            // Decide what to do, or sleep until there is something.
            let (do_refresh, do_pid, wanted) = {
                let mut c = shared.meta.control.lock();
                loop {
                    if c.stop {
                        c.telemetry_terminated = true;
                        shared.meta.telemetry_done.notify_all();
                        return;
                    }
                    if c.terminate_telemetry && !c.telemetry_terminated {
                        drop(c);
                        self.terminating_push(shared);
                        c = shared.meta.control.lock();
                        c.telemetry_terminated = true;
                        shared.meta.telemetry_done.notify_all();
                        continue;
                    }
                    let now = Instant::now();
                    let telemetry_at =
                        if c.terminate_telemetry { None } else { self.telemetry.due(self.conn.is_some()) };
                    if telemetry_at.is_some_and(|t| t <= now) {
                        drop(c);
                        self.run_telemetry(shared);
                        c = shared.meta.control.lock();
                        continue;
                    }
                    let backoff_over = retry_at.is_none_or(|t| t <= now);
                    let due = last_refresh.is_some_and(|t| now >= t + cfg.metadata_max_age);
                    let leaderless = has_pending_leaderless(shared);
                    let refresh = (c.refresh || due || c.waiting > 0 || (leaderless && !c.wanted.is_empty()))
                        && backoff_over;
                    let pid = shared.idem.needs_producer_id() && backoff_over && shared.run.fatal().is_none();
                    if refresh || pid {
                        let r = refresh && !c.wanted.is_empty();
                        if r {
                            c.refresh = false;
                        }
                        break (r, pid, c.wanted.iter().cloned().collect::<Vec<_>>());
                    }
                    // Sleep until the next thing that can become due.
                    let mut until = last_refresh.map(|t| t + cfg.metadata_max_age);
                    until = earliest(until, retry_at.filter(|t| *t > now));
                    until = earliest(until, leaderless_next);
                    until = earliest(until, idle_conn_at);
                    until = earliest(until, telemetry_at);
                    match until {
                        Some(d) => {
                            // Back to the top (expiry) once a deadline passes.
                            if shared.meta.wake.wait_until(&mut c, d).timed_out() {
                                break (false, false, Vec::new());
                            }
                        }
                        None => shared.meta.wake.wait(&mut c),
                    }
                }
            };
            if !do_refresh && !do_pid {
                continue;
            }
            let mut ok = true;
            if do_refresh {
                match self.refresh(shared, &wanted) {
                    Ok(()) => {
                        last_refresh = Some(Instant::now());
                        self.last_success = Instant::now();
                        shared.metrics.metadata_refreshed();
                    }
                    Err(e) => {
                        let n = self.failures + 1;
                        if shared.run.is_closing() {
                            log::debug!("metadata refresh failed while closing: {e}");
                        } else if worth_a_warning(n) {
                            log::warn!("metadata refresh failed ({n} time(s) in a row): {e}");
                        } else {
                            log::debug!("metadata refresh failed ({n} time(s) in a row): {e}");
                        }
                        shared.meta.control.lock().refresh = true;
                        ok = false;
                        if self.rebootstrap_due(shared) {
                            // Connected, but no metadata for the trigger time:
                            // start over from the bootstrap servers.
                            self.conn = None;
                        }
                    }
                }
            }
            if ok && do_pid && shared.idem.needs_producer_id() {
                if let Err(e) = self.init_producer_id(shared) {
                    let n = self.failures + 1;
                    if shared.run.is_closing() {
                        log::debug!("InitProducerId failed while closing: {e}");
                    } else if worth_a_warning(n) {
                        log::warn!("InitProducerId failed ({n} time(s) in a row): {e}");
                    } else {
                        log::debug!("InitProducerId failed ({n} time(s) in a row): {e}");
                    }
                    ok = false;
                }
            }
            let now = Instant::now();
            if ok {
                self.failures = 0;
                // Something still unsettled (a leaderless partition holding
                // records, a sender waiting for a topic): refresh again, but
                // back off exponentially rather than ask every retry.backoff.ms.
                let unsettled = has_pending_leaderless(shared) || shared.meta.control.lock().waiting > 0;
                self.unsettled = if unsettled { self.unsettled.saturating_add(1) } else { 0 };
                let wait = if unsettled {
                    backoff(cfg.retry_backoff, cfg.retry_backoff_max, self.unsettled - 1, &mut self.rng)
                } else {
                    cfg.retry_backoff
                };
                retry_at = Some(now + wait);
            } else {
                self.failures += 1;
                retry_at = Some(
                    now + backoff(cfg.retry_backoff, cfg.retry_backoff_max, self.failures, &mut self.rng),
                );
            }
        }
    }

    /// Runs the telemetry step that is due (connecting only for a push).
    fn run_telemetry(&mut self, shared: &SharedState) {
        let now = Instant::now();
        if self.conn.is_none() {
            if let Err(e) = self.connection(shared) {
                log::debug!("no connection for the telemetry push: {e}");
                self.telemetry.retry_later(shared, &mut self.rng, now);
                return;
            }
        }
        let Some(conn) = self.conn.as_mut() else { return };
        match self.telemetry.run(shared, conn, &mut self.rng, now) {
            Ok(()) => self.conn_used = Instant::now(),
            Err(e) => {
                log::debug!("telemetry request failed: {e}");
                self.conn = None;
            }
        }
        shared.meta.telemetry_subscribed.store(self.telemetry.wants_terminating_push(), Ordering::Release);
    }

    /// The terminating telemetry push, while closing: over the current
    /// connection or a new one (bounded like every connection made while
    /// closing); failures are only logged.
    fn terminating_push(&mut self, shared: &SharedState) {
        if !self.telemetry.wants_terminating_push() {
            self.telemetry.give_up_terminating();
            return;
        }
        if self.conn.is_none() {
            if let Err(e) = self.connection(shared) {
                log::debug!("no connection for the terminating telemetry push: {e}");
                self.telemetry.give_up_terminating();
                return;
            }
        }
        let Some(conn) = self.conn.as_mut() else { return };
        if let Err(e) = self.telemetry.terminate(shared, conn, &mut self.rng) {
            log::debug!("terminating telemetry push failed: {e}");
            self.conn = None;
        }
    }

    /// Closes the metadata connection when unused for
    /// `connections.max.idle.ms`; returns when it would become idle.
    fn close_if_idle(&mut self, shared: &SharedState, now: Instant) -> Option<Instant> {
        self.conn.as_ref()?;
        let idle_at = self.conn_used + shared.cfg.connections_max_idle;
        if idle_at > now {
            return Some(idle_at);
        }
        if let Some(c) = self.conn.take() {
            log::debug!("closing the idle metadata connection to {}", c.addr());
            c.shutdown();
        }
        None
    }

    /// Topics not sent to for `metadata.max.idle.ms` and holding no records:
    /// they leave the metadata requests (and the view) until sent to again.
    fn idle_topics(&mut self, shared: &SharedState, now: Instant) -> Vec<Arc<str>> {
        let view = shared.meta.view();
        self.last_used.retain(|name, _| view.topics.contains_key(name));
        let mut idle = Vec::new();
        for (name, t) in &view.topics {
            let last = self.last_used.entry(name.clone()).or_insert(now);
            if t.used.swap(false, Ordering::Relaxed) {
                *last = now;
            }
            if now.duration_since(*last) >= shared.cfg.metadata_max_idle {
                let busy = t
                    .partitions
                    .iter()
                    .any(|p| shared.acc.with_queue(p.queue, |q| !q.is_empty() || q.in_flight > 0));
                if !busy {
                    idle.push(name.clone());
                }
            }
        }
        if !idle.is_empty() {
            log::debug!("dropping idle topics from the metadata requests: {idle:?}");
            for t in &idle {
                self.last_used.remove(t);
            }
            shared.meta.forget_topics(&idle);
        }
        idle
    }

    /// Whether metadata has failed for `metadata.recovery.rebootstrap.trigger.ms`.
    fn rebootstrap_due(&self, shared: &SharedState) -> bool {
        shared.cfg.rebootstrap
            && (self.rebootstrap_now
                || (self.failures > 0 && self.last_success.elapsed() >= shared.cfg.rebootstrap_trigger))
    }

    /// A connection to any broker: the current one, or the next candidate
    /// (known brokers first, then the bootstrap servers).
    fn connection(&mut self, shared: &SharedState) -> Result<&mut Connection, ConnError> {
        if self.conn.is_none() {
            let view = shared.meta.view();
            let mut candidates: Vec<(String, u16)> = {
                let mut ids: Vec<_> = view.brokers.keys().copied().collect();
                ids.sort_unstable();
                ids.iter().map(|id| view.brokers[id].clone()).collect()
            };
            // KIP-899: with `metadata.recovery.strategy=rebootstrap` the
            // bootstrap servers (their names resolved again) follow the known
            // brokers; with `none` they serve only until the first metadata.
            // KIP-1102: after `rebootstrap.trigger.ms` without metadata, they
            // come first.
            if shared.cfg.rebootstrap || candidates.is_empty() {
                let bootstrap = shared.cfg.bootstrap.iter().cloned();
                if self.rebootstrap_due(shared) {
                    log::info!(
                        "rebootstrapping from {:?} (the broker asked for it, or no metadata for {:?})",
                        shared.cfg.bootstrap,
                        self.last_success.elapsed()
                    );
                    candidates = bootstrap.chain(candidates).collect();
                    self.next_candidate = 0;
                    self.last_success = Instant::now();
                    self.rebootstrap_now = false;
                } else {
                    candidates.extend(bootstrap);
                }
            }
            let opts = shared.connect_options(self.failures, &mut self.rng);
            let mut last = None;
            for _ in 0..candidates.len() {
                let (host, port) = &candidates[self.next_candidate % candidates.len()];
                self.next_candidate = self.next_candidate.wrapping_add(1);
                let attempt = Connection::connect(host, *port, &opts);
                if matches!(attempt, Err(ConnError::ClosedBeforeAnswer(_))) {
                    self.closed_before_answer += 1;
                } else {
                    self.closed_before_answer = 0;
                }
                match attempt.map_err(|e| e.escalate(self.closed_before_answer)) {
                    Ok(c) => {
                        self.conn = Some(c);
                        self.conn_used = Instant::now();
                        shared.meta.security_ok();
                        shared.metrics.connection_created();
                        break;
                    }
                    Err(ConnError::Security(m)) => {
                        log::debug!("metadata connection to {host}:{port} failed: {m}");
                        shared.meta.security_failed(&m);
                        last = Some(ConnError::Security(m));
                    }
                    Err(e) => {
                        log::debug!("metadata connection to {host}:{port} failed: {e}");
                        last = Some(e);
                    }
                }
            }
            if self.conn.is_none() {
                return Err(last.unwrap_or_else(|| ConnError::Protocol("no broker to connect to".into())));
            }
        }
        let conn = self.conn.as_mut().expect("connected above");
        // KIP-368, here rather than inside `round_trip`, to count it like
        // the broker threads do.
        if conn.reauth_due(Instant::now()) {
            if let Err(e) = conn.reauthenticate() {
                self.conn = None;
                return Err(e);
            }
            shared.metrics.reauthenticated();
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    fn refresh(&mut self, shared: &SharedState, wanted: &[Arc<str>]) -> Result<(), ConnError> {
        let idle = self.idle_topics(shared, Instant::now());
        let wanted: Vec<&Arc<str>> = wanted.iter().filter(|t| !idle.contains(t)).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let conn = self.connection(shared)?;
        let Some(version) = conn.versions().version_of::<MetadataRequest>() else {
            self.conn = None;
            return Err(ConnError::Protocol("broker supports no Metadata version we implement".into()));
        };
        let mut req = MetadataRequest::for_topics(wanted.iter().map(|t| t.to_string()));
        req.allow_auto_topic_creation = shared.cfg.allow_auto_create_topics;
        let resp = match conn.round_trip(&req, version) {
            Ok(r) => r,
            Err(e) => {
                self.conn = None;
                return Err(e);
            }
        };
        self.conn_used = Instant::now();
        if resp.error_code != 0 {
            let code = KafkaCode(resp.error_code);
            self.conn = None;
            if code == KafkaCode::REBOOTSTRAP_REQUIRED && shared.cfg.rebootstrap {
                // KIP-1102: the cluster asks for it: the next connection
                // goes to the bootstrap servers first.
                log::info!("the broker answered {code}: rebootstrapping from {:?}", shared.cfg.bootstrap);
                self.rebootstrap_now = true;
            }
            return Err(ConnError::Protocol(format!("Metadata failed with {code}")));
        }
        let view = shared.meta.apply(&shared.acc, &resp, &idle);
        log::debug!(
            "metadata v{}: {} brokers, {} topics",
            view.version,
            view.brokers.len(),
            view.topics.len()
        );
        // Start or wake the broker threads of leaders with queued data.
        broker::on_metadata(shared, &view);
        Ok(())
    }

    fn init_producer_id(&mut self, shared: &SharedState) -> Result<(), ConnError> {
        let conn = self.connection(shared)?;
        let Some(version) = conn.versions().version_of::<InitProducerIdRequest>() else {
            let e = DeliveryError::new(
                DeliveryErrorKind::Fatal(KafkaCode::UNSUPPORTED_VERSION),
                Persistence::NotPersisted,
                "the broker does not support InitProducerId, which idempotence needs; \
                 set enable.idempotence=false",
            );
            shared.set_fatal(e);
            return Ok(());
        };
        let req = InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: -1,
            ..Default::default()
        };
        let resp = match conn.round_trip(&req, version) {
            Ok(r) => r,
            Err(e) => {
                self.conn = None;
                return Err(e);
            }
        };
        self.conn_used = Instant::now();
        let code = KafkaCode(resp.error_code);
        if code.is_ok() {
            shared.idem.set(resp.producer_id, resp.producer_epoch);
            if let Some(sp) = &shared.spool {
                sp.producer(resp.producer_id, resp.producer_epoch);
            }
            shared.brokers.wake_all();
            Ok(())
        } else if code.is_retriable() {
            Err(ConnError::Protocol(format!("InitProducerId: {code}")))
        } else {
            shared.set_fatal(DeliveryError::new(
                DeliveryErrorKind::Fatal(code),
                Persistence::NotPersisted,
                "InitProducerId failed",
            ));
            Ok(())
        }
    }

    /// Fails overdue batches of partitions without a leader; returns when
    /// the next of their deadlines falls.
    fn expire_leaderless(&self, shared: &SharedState, now: Instant) -> Option<Instant> {
        let view = shared.meta.view();
        let mut next = None;
        let mut expired = Vec::new();
        // After a fatal error nothing can be delivered: fail it all now.
        let fatal = shared.run.fatal().cloned();
        for q in view.leaderless() {
            shared.acc.take_expired(q, now, fatal.is_some(), &mut expired);
            next = earliest(next, shared.acc.next_deadline(q));
        }
        if let Some(f) = fatal {
            let kind = DeliveryErrorKind::Fatal(f.code().unwrap_or(KafkaCode::NONE));
            for b in expired {
                broker::fail_queued(shared, b, kind.clone(), &f.to_string());
            }
            return None;
        }
        for b in expired {
            broker::fail_expired(shared, b);
        }
        // Wake slightly after the deadline so the batch is overdue by then.
        next.map(|t| t + Duration::from_millis(1))
    }

    /// Fails what is queued for partitions that no longer exist (the topic
    /// has fewer partitions now). A batch of such a partition still in
    /// flight comes back (answered, or with its connection) and is queued
    /// again; the refresh its error asks for brings it here.
    fn fail_retired(&self, shared: &SharedState) {
        let view = shared.meta.view();
        for (q, topic, partition) in &view.retired {
            let mut gone = Vec::new();
            shared.acc.take_expired(*q, Instant::now(), true, &mut gone);
            if gone.is_empty() {
                continue;
            }
            let count = view.topics.get(topic).map_or(0, |t| t.partitions.len());
            let msg = format!(
                "partition {topic}-{partition} no longer exists: the topic has {count} partition(s) now"
            );
            for b in gone {
                broker::fail_queued(
                    shared,
                    b,
                    DeliveryErrorKind::Broker(KafkaCode::UNKNOWN_TOPIC_OR_PARTITION),
                    &msg,
                );
            }
        }
    }
}

/// Whether a partition without a leader holds records (then the metadata is
/// refreshed until it gets one, with backoff).
fn has_pending_leaderless(shared: &SharedState) -> bool {
    shared
        .meta
        .view()
        .leaderless()
        .into_iter()
        .any(|q| shared.acc.with_queue(q, |pq| !pq.is_empty() || pq.in_flight > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::metadata::{MetadataBroker, PartitionMetadata, TopicMetadata};

    fn response(topic: &str, indexes: &[i32]) -> MetadataResponse {
        MetadataResponse {
            brokers: vec![MetadataBroker { node_id: 1, host: "127.0.0.1".into(), port: 9092, rack: None }],
            topics: vec![TopicMetadata {
                name: Some(topic.into()),
                partitions: indexes
                    .iter()
                    .map(|&i| PartitionMetadata { partition_index: i, leader_id: 1, ..Default::default() })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn count(m: &Metadata, topic: &str) -> Option<usize> {
        m.topic(topic).map(|t| t.partitions.len())
    }

    #[test]
    fn partition_count_follows_the_cluster_down_and_up() {
        let (m, acc) = (Metadata::new(), Accumulator::new(1024, 1 << 20, Duration::from_secs(1)));
        m.apply(&acc, &response("t", &[0, 1, 2, 3, 4, 5]), &[]);
        let q5 = m.topic("t").unwrap().partitions[5].queue;
        let view = m.apply(&acc, &response("t", &[1, 0]), &[]);
        assert_eq!(count(&m, "t"), Some(2), "the count shrinks with the topic");
        let retired: Vec<i32> = view.retired.iter().map(|(_, _, p)| *p).collect();
        assert_eq!(retired.len(), 4);
        assert!(retired.iter().all(|p| (2..6).contains(p)), "{retired:?}");
        let view = m.apply(&acc, &response("t", &[0, 1, 2, 3, 4, 5, 6, 7]), &[]);
        assert_eq!(count(&m, "t"), Some(8));
        assert!(view.retired.is_empty());
        assert_eq!(
            m.topic("t").unwrap().partitions[5].queue,
            q5,
            "a partition that comes back gets its queue back"
        );
    }

    #[test]
    fn a_topic_listed_without_partitions_is_known_with_none() {
        let (m, acc) = (Metadata::new(), Accumulator::new(1024, 1 << 20, Duration::from_secs(1)));
        m.apply(&acc, &response("t", &[]), &[]);
        assert_eq!(count(&m, "t"), Some(0));
        m.apply(&acc, &response("t", &[0, 1]), &[]);
        assert_eq!(count(&m, "t"), Some(2));
    }

    #[test]
    fn nonsense_partition_indexes_are_rejected_without_allocating() {
        let (m, acc) = (Metadata::new(), Accumulator::new(1024, 1 << 20, Duration::from_secs(1)));
        for bad in [vec![100_000_000], vec![i32::MAX], vec![-1], vec![0, 0], vec![0, 2]] {
            m.apply(&acc, &response("t", &bad), &[]);
            assert_eq!(count(&m, "t"), None, "{bad:?} accepted");
        }
        assert!(m.queues.lock().get("t").is_none_or(|q| q.is_empty()), "queues allocated for nonsense");
        // Known topic: a nonsense answer keeps what was known.
        m.apply(&acc, &response("t", &[0, 1]), &[]);
        m.apply(&acc, &response("t", &[0, 1_000_000_000]), &[]);
        assert_eq!(count(&m, "t"), Some(2));
    }

    #[test]
    fn leader_hints_move_a_partition_only_forward() {
        let (m, acc) = (Metadata::new(), Accumulator::new(1024, 1 << 20, Duration::from_secs(1)));
        let mut r = response("t", &[0]);
        r.topics[0].partitions[0].leader_epoch = 5;
        m.apply(&acc, &r, &[]);
        let leader = |m: &Metadata| {
            let p = m.topic("t").unwrap().partitions[0];
            (p.leader, p.leader_epoch)
        };
        assert!(!m.apply_leader_hint("t", 0, 2, 4, Some(("h".into(), 1))), "an older epoch is ignored");
        assert!(!m.apply_leader_hint("t", 0, 2, 6, None), "an unknown broker needs its endpoint");
        assert!(!m.apply_leader_hint("t", 7, 2, 6, Some(("h".into(), 1))), "no such partition");
        assert!(m.apply_leader_hint("t", 0, 2, 6, Some(("h2".into(), 9092))));
        assert_eq!(leader(&m), (2, 6));
        assert_eq!(m.view().brokers[&2], ("h2".to_string(), 9092));
        // A lagging metadata answer (epoch 5) does not move it back.
        m.apply(&acc, &r, &[]);
        assert_eq!(leader(&m), (1, 5), "broker 2 is not in that answer's broker list");
        let mut r2 = r.clone();
        r2.brokers.push(MetadataBroker { node_id: 2, host: "h2".into(), port: 9092, rack: None });
        assert!(m.apply_leader_hint("t", 0, 2, 6, Some(("h2".into(), 9092))));
        m.apply(&acc, &r2, &[]);
        assert_eq!(leader(&m), (2, 6), "the newer epoch from the hint stays");
    }

    #[test]
    fn topic_ids_follow_the_answers() {
        let (m, acc) = (Metadata::new(), Accumulator::new(1024, 1 << 20, Duration::from_secs(1)));
        let mut r = response("t", &[0]);
        r.topics[0].topic_id = [7; 16];
        m.apply(&acc, &r, &[]);
        assert_eq!(m.topic("t").unwrap().known_id(), Some([7; 16]));
        // A leader hint keeps it.
        assert!(m.apply_leader_hint("t", 0, 2, 1, Some(("h".into(), 1))));
        assert_eq!(m.topic("t").unwrap().known_id(), Some([7; 16]));
        // The topic gone for a while (an error): kept, leaderless.
        let mut gone = r.clone();
        gone.topics[0].error_code = KafkaCode::UNKNOWN_TOPIC_OR_PARTITION.0;
        gone.topics[0].topic_id = NIL_TOPIC_ID;
        m.apply(&acc, &gone, &[]);
        assert_eq!(m.topic("t").unwrap().known_id(), Some([7; 16]));
        // Created again: a new id.
        r.topics[0].topic_id = [8; 16];
        m.apply(&acc, &r, &[]);
        assert_eq!(m.topic("t").unwrap().known_id(), Some([8; 16]));
        // An answer below Metadata v10 carries none: Produce falls back to v12.
        m.apply(&acc, &response("t", &[0]), &[]);
        assert_eq!(m.topic("t").unwrap().known_id(), None);
    }

    #[test]
    fn idle_topics_leave_the_view_and_keep_their_queues() {
        let (m, acc) = (Metadata::new(), Accumulator::new(1024, 1 << 20, Duration::from_secs(1)));
        m.apply(&acc, &response("t", &[0]), &[]);
        let q = m.topic("t").unwrap().partitions[0].queue;
        m.apply(&acc, &MetadataResponse::default(), &[Arc::from("t")]);
        assert_eq!(count(&m, "t"), None);
        m.apply(&acc, &response("t", &[0]), &[]);
        assert_eq!(m.topic("t").unwrap().partitions[0].queue, q);
    }
}
