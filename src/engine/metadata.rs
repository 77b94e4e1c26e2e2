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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use super::accumulator::{Accumulator, QueueRef};
use super::connection::{ConnError, Connection};
use super::{backoff, broker, earliest, Rng, SharedState};
use crate::error::{DeliveryError, DeliveryErrorKind, KafkaCode, Persistence};
use crate::protocol::messages::init_producer_id::InitProducerIdRequest;
use crate::protocol::messages::metadata::{MetadataRequest, MetadataResponse};

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
    pub partitions: Vec<PartitionMeta>,
    /// Partitions that currently have a leader, ascending (for partitioners).
    pub available: Vec<i32>,
}

impl TopicMeta {
    fn new(name: Arc<str>, partitions: Vec<PartitionMeta>) -> Self {
        let available =
            partitions.iter().enumerate().filter(|(_, p)| p.leader >= 0).map(|(i, _)| i as i32).collect();
        Self { name, partitions, available }
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
    stop: bool,
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
}

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
        }
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

    /// Tells the metadata thread to exit.
    pub fn stop(&self) {
        let mut c = self.control.lock();
        c.stop = true;
        self.wake.notify_all();
        self.changed.notify_all();
    }

    /// The topic, waiting until `deadline` (`None`: do not wait) for the
    /// metadata thread to learn it. Err carries the cluster's last error for
    /// the topic, if it gave one.
    pub fn wait_topic(
        &self,
        name: &str,
        deadline: Option<Instant>,
    ) -> Result<Arc<TopicMeta>, Option<KafkaCode>> {
        if let Some(t) = self.topic(name) {
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
            if let Some(t) = self.topic(name) {
                break Ok(t);
            }
            let err = || self.view.read().topic_errors.get(name).copied();
            if c.stop {
                break Err(err());
            }
            match deadline {
                Some(d) if Instant::now() < d => {
                    self.changed.wait_until(&mut c, d);
                }
                _ => break Err(err()),
            }
        };
        c.waiting -= 1;
        r
    }

    /// Publishes a refreshed view built from `resp`. Returns the new view.
    fn apply(&self, acc: &Accumulator, resp: &MetadataResponse) -> Arc<ClusterView> {
        let old = self.view();
        let brokers: HashMap<i32, (String, u16)> = resp
            .brokers
            .iter()
            .filter_map(|b| u16::try_from(b.port).ok().map(|port| (b.node_id, (b.host.clone(), port))))
            .collect();
        let mut topics = old.topics.clone();
        let mut topic_errors = HashMap::new();
        for t in &resp.topics {
            let Some(name) = t.name.as_deref() else { continue };
            let code = KafkaCode(t.error_code);
            let prev = old.topics.get(name);
            let name: Arc<str> = prev.map(|p| p.name.clone()).unwrap_or_else(|| Arc::from(name));
            if !code.is_ok() {
                topic_errors.insert(name.clone(), code);
                // A topic we knew that vanished (deleted, or a broker's view
                // lagging): keep its queues, without leaders, so records wait
                // for it to come back or for their delivery timeout.
                if let Some(p) = prev {
                    let parts = p.partitions.iter().map(|pm| PartitionMeta { leader: -1, ..*pm }).collect();
                    topics.insert(name.clone(), Arc::new(TopicMeta::new(name, parts)));
                }
                continue;
            }
            let count = t.partitions.iter().map(|p| p.partition_index + 1).max().unwrap_or(0).max(0) as usize;
            let count = count.max(prev.map_or(0, |p| p.partitions.len()));
            let mut parts = Vec::with_capacity(count);
            for i in 0..count {
                let queue = match prev.and_then(|p| p.partitions.get(i)) {
                    Some(pm) => pm.queue,
                    None => acc.add_partition(&name, i as i32),
                };
                let (leader, leader_epoch) = t
                    .partitions
                    .iter()
                    .find(|p| p.partition_index == i as i32)
                    .map(|p| (p.leader_id, p.leader_epoch))
                    .unwrap_or((-1, -1));
                let leader = if brokers.contains_key(&leader) { leader } else { -1 };
                parts.push(PartitionMeta { leader, leader_epoch, queue });
            }
            topics.insert(name.clone(), Arc::new(TopicMeta::new(name, parts)));
        }
        let version = old.version + 1;
        let view = Arc::new(ClusterView { version, brokers, topics, topic_errors });
        *self.view.write() = view.clone();
        self.version.store(version, Ordering::Release);
        let _c = self.control.lock();
        self.changed.notify_all();
        view
    }
}

/// The metadata thread's body.
pub(crate) fn run(shared: SharedState) {
    let mut t = MetadataThread { conn: None, next_candidate: 0, rng: Rng::new(), failures: 0 };
    t.run(&shared);
}

struct MetadataThread {
    conn: Option<Connection>,
    next_candidate: usize,
    rng: Rng,
    /// Consecutive failed refreshes, for backoff.
    failures: u32,
}

impl MetadataThread {
    fn run(&mut self, shared: &SharedState) {
        let cfg = &shared.cfg;
        let mut last_refresh: Option<Instant> = None;
        let mut retry_at: Option<Instant> = None;
        loop {
            // Outside the control lock: failing batches runs user callbacks.
            let leaderless_next = self.expire_leaderless(shared, Instant::now());
            // Decide what to do, or sleep until there is something.
            let (do_refresh, do_pid, wanted) = {
                let mut c = shared.meta.control.lock();
                loop {
                    if c.stop {
                        return;
                    }
                    let now = Instant::now();
                    let backoff_over = retry_at.is_none_or(|t| t <= now);
                    let due = last_refresh.is_some_and(|t| now >= t + cfg.metadata_max_age);
                    let leaderless = !shared.meta.view().leaderless().is_empty();
                    let refresh = (c.refresh || due || c.waiting > 0 || (leaderless && !c.wanted.is_empty()))
                        && backoff_over;
                    let pid = shared.idem.needs_producer_id() && backoff_over;
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
                    Ok(()) => last_refresh = Some(Instant::now()),
                    Err(e) => {
                        if shared.run.is_closing() {
                            log::debug!("metadata refresh failed while closing: {e}");
                        } else {
                            log::warn!("metadata refresh failed: {e}");
                        }
                        shared.meta.control.lock().refresh = true;
                        ok = false;
                    }
                }
            }
            if ok && do_pid && shared.idem.needs_producer_id() {
                if let Err(e) = self.init_producer_id(shared) {
                    if shared.run.is_closing() {
                        log::debug!("InitProducerId failed while closing: {e}");
                    } else {
                        log::warn!("InitProducerId failed: {e}");
                    }
                    ok = false;
                }
            }
            if ok {
                self.failures = 0;
                // Leaderless partitions: refresh again after a backoff, not at once.
                retry_at = Some(Instant::now() + cfg.retry_backoff);
            } else {
                self.failures += 1;
                retry_at = Some(
                    Instant::now()
                        + backoff(cfg.retry_backoff, cfg.retry_backoff_max, self.failures, &mut self.rng),
                );
            }
        }
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
            candidates.extend(shared.cfg.bootstrap.iter().cloned());
            let opts = shared.connect_options();
            let mut last = None;
            for _ in 0..candidates.len() {
                let (host, port) = &candidates[self.next_candidate % candidates.len()];
                self.next_candidate = self.next_candidate.wrapping_add(1);
                match Connection::connect(host, *port, &opts) {
                    Ok(c) => {
                        self.conn = Some(c);
                        break;
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
        Ok(self.conn.as_mut().expect("connected above"))
    }

    fn refresh(&mut self, shared: &SharedState, wanted: &[Arc<str>]) -> Result<(), ConnError> {
        let conn = self.connection(shared)?;
        let Some(version) = conn.versions().version_of::<MetadataRequest>() else {
            self.conn = None;
            return Err(ConnError::Protocol("broker supports no Metadata version we implement".into()));
        };
        let mut req = MetadataRequest::for_topics(wanted.iter().map(|t| t.to_string()));
        req.allow_auto_topic_creation = true;
        let resp = match conn.round_trip(&req, version) {
            Ok(r) => r,
            Err(e) => {
                self.conn = None;
                return Err(e);
            }
        };
        let view = shared.meta.apply(&shared.acc, &resp);
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
            shared.run.set_fatal(e);
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
        let code = KafkaCode(resp.error_code);
        if code.is_ok() {
            shared.idem.set(resp.producer_id, resp.producer_epoch);
            shared.brokers.wake_all();
            Ok(())
        } else if code.is_retriable() {
            Err(ConnError::Protocol(format!("InitProducerId: {code}")))
        } else {
            shared.run.set_fatal(DeliveryError::new(
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
        for q in view.leaderless() {
            shared.acc.take_expired(q, now, false, &mut expired);
            next = earliest(next, shared.acc.next_deadline(q));
        }
        for b in expired {
            broker::fail_expired(shared, b);
        }
        // Wake slightly after the deadline so the batch is overdue by then.
        next.map(|t| t + Duration::from_millis(1))
    }
}
