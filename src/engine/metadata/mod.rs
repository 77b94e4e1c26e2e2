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

use crate::partitioner::StickySlot;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex, RwLock};

use super::accumulator::{Accumulator, QueueRef};
use crate::error::{DeliveryError, DeliveryErrorKind, KafkaCode, Persistence};
use crate::protocol::messages::metadata::{MetadataResponse, NIL_TOPIC_ID};
use crate::protocol::primitives::Uuid;

mod thread;

pub(crate) use thread::run;

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
    /// The built-in sticky partitioner's state for this topic, found once
    /// per version of the topic's metadata (see `partitioner::StickySlot`).
    pub sticky: StickySlot,
}

impl TopicMeta {
    fn new(name: Arc<str>, topic_id: Uuid, partitions: Vec<PartitionMeta>, used: Arc<AtomicBool>) -> Self {
        let available =
            partitions.iter().enumerate().filter(|(_, p)| p.leader >= 0).map(|(i, _)| i as i32).collect();
        Self { name, topic_id, partitions, available, used, sticky: StickySlot::default() }
    }

    /// The topic id, if a Metadata answer (v10+) gave one.
    pub fn known_id(&self) -> Option<Uuid> {
        (self.topic_id != NIL_TOPIC_ID).then_some(self.topic_id)
    }

    /// Notes a send to the topic: a load, and a store only the first time
    /// after the metadata thread looked (no write per record).
    #[inline]
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
    #[inline]
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
    #[inline(always)]
    pub fn with_topic<R>(&self, name: &str, f: impl FnOnce(&TopicMeta) -> R) -> Option<R> {
        let version = self.version();
        let mut f = Some(f);
        let hit = TOPIC_CACHE.with(|c| {
            let c = c.try_borrow().ok()?;
            let (owner, v, t) = c.as_ref()?;
            if *owner == self.id && *v == version && crate::engine::same_name(&t.name, name) {
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

#[cfg(test)]
mod tests;
