//! The metadata thread: refreshes the cluster view (on demand and every
//! `metadata.max.age.ms`), rebootstraps, obtains the idempotent producer
//! id, pushes telemetry, and fails the overdue batches of partitions without
//! a leader.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::connection::{ConnError, Connection};
use crate::engine::telemetry::Telemetry;
use crate::engine::{backoff, broker, earliest, worth_a_warning, Rng, SharedState};
use crate::error::{DeliveryError, DeliveryErrorKind, KafkaCode, Persistence};
use crate::protocol::messages::init_producer_id::InitProducerIdRequest;
use crate::protocol::messages::metadata::MetadataRequest;

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
