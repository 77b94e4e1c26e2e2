//! A broker thread: its state, its loop, its connection's life, and what
//! it does when requests time out, deliveries expire or the producer
//! closes. What it sends is in `request.rs`, what it reads back in
//! `response.rs`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::delivery::Resolution;
use crate::engine::accumulator::{Batch, DrainPolicy, QueueRef};
use crate::engine::connection::{ConnError, Connection};
use crate::engine::metrics::NodeSensors;
use crate::engine::{backoff, earliest, worth_a_warning, Rng, SharedState};
use crate::error::{DeliveryError, DeliveryErrorKind, KafkaCode, Persistence};
use crate::protocol::primitives::Uuid;

use super::*;

/// A request written and not yet answered.
#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) correlation: i32,
    pub(super) version: i16,
    pub(super) sent: Instant,
    pub(super) deadline: Instant,
    pub(super) batches: Vec<Batch>,
    /// At v13, the id each topic of the request was sent under: the response
    /// names topics by these ids, not by name. Empty below v13.
    pub(super) topic_ids: Vec<(Arc<str>, Uuid)>,
}

pub(super) struct BrokerThread {
    pub(super) id: i32,
    pub(super) shared: SharedState,
    pub(super) wake: Arc<Wakeup>,
    pub(super) conn: Option<Connection>,
    pub(super) connect_failures: u32,
    pub(super) next_connect: Option<Instant>,
    pub(super) in_flight: VecDeque<InFlight>,
    pub(super) parts: Vec<QueueRef>,
    pub(super) parts_version: u64,
    /// Partitions of batches that came back since the last look: if one is
    /// led by another broker now, that broker's thread is woken.
    pub(super) returned: Vec<QueueRef>,
    /// The last write or read on the connection (`connections.max.idle.ms`).
    pub(super) last_io: Instant,
    /// Nothing is sent to this broker before this instant: it asked so with
    /// a Produce response's `throttle_time_ms` (a quota, KIP-219).
    pub(super) throttled_until: Option<Instant>,
    /// The response being handled: its request's round trip, and when it
    /// was read (microseconds since the epoch), for the records' timings.
    pub(super) answer: (Option<Duration>, i64),
    pub(super) rotate: usize,
    pub(super) rng: Rng,
    pub(super) buf: Vec<u8>,
    pub(super) policy: DrainPolicy,
    /// This broker's metrics (`producer-node-metrics`).
    pub(super) node: Arc<NodeSensors>,
}

impl BrokerThread {
    pub(super) fn new(id: i32, shared: SharedState, wake: Arc<Wakeup>) -> Self {
        let cfg = &shared.cfg;
        let policy = DrainPolicy {
            linger: cfg.linger,
            idempotent: cfg.idempotence,
            strict_order: !cfg.idempotence && cfg.max_in_flight == 1,
            max_in_flight_per_partition: cfg.max_in_flight.min(5) as u32,
        };
        let node = shared.metrics.node(id);
        Self {
            id,
            shared,
            wake,
            conn: None,
            connect_failures: 0,
            next_connect: None,
            in_flight: VecDeque::new(),
            parts: Vec::new(),
            parts_version: u64::MAX,
            returned: Vec::new(),
            last_io: Instant::now(),
            throttled_until: None,
            answer: (None, 0),
            rotate: 0,
            rng: Rng::new(),
            buf: Vec::new(),
            policy,
            node,
        }
    }

    pub(super) fn run(mut self) {
        self.shared.mark_engine_thread();
        loop {
            if self.shared.run.is_aborting() {
                self.abort();
                return;
            }
            let now = Instant::now();
            self.refresh_parts();
            if let Some(fatal) = self.shared.run.fatal().cloned() {
                self.fail_all_queued(
                    DeliveryErrorKind::Fatal(fatal.code().unwrap_or(KafkaCode::NONE)),
                    &fatal.to_string(),
                );
            }
            let mut next = self.expire(now);
            self.check_request_timeouts(now);
            next = earliest(next, self.close_if_idle(now));
            if self.conn.is_none() && self.has_work() {
                self.try_connect(now);
            }
            if self.conn.is_some() {
                if self.renew_session(Instant::now()) {
                    next = earliest(next, self.send_ready(Instant::now()));
                }
            } else if self.has_work() {
                next = earliest(next, self.next_connect);
            }
            if !self.in_flight.is_empty() && self.conn.is_some() {
                let oldest = self.in_flight.front().map(|f| f.deadline);
                let mut until = earliest(next, oldest);
                if self.in_flight.len() < self.shared.cfg.max_in_flight {
                    // A blocking read does not notice new records: while the
                    // pipeline has room, look again every linger.ms (at least
                    // 1 ms) so that newly ready batches need not wait for the
                    // next response. Idle threads never do this.
                    let poll = self.shared.cfg.linger.max(Duration::from_millis(1));
                    until = earliest(until, Some(Instant::now() + poll));
                }
                self.read_responses(until);
            } else {
                self.wake.wait_until(next);
            }
        }
    }

    /// KIP-368: when the SASL session is due for renewal, write nothing more,
    /// let the requests in flight finish, then re-authenticate on the same
    /// connection. A connection with nothing to send renews its session when
    /// work arrives (the broker checks the session only when a request
    /// comes), not while idle or closing. Returns whether requests may be
    /// written now.
    pub(super) fn renew_session(&mut self, now: Instant) -> bool {
        if !self.conn.as_ref().is_some_and(|c| c.reauth_due(now)) {
            return self.conn.is_some();
        }
        if !self.in_flight.is_empty() {
            return false;
        }
        if !self.has_work() {
            // Nothing to write; the append that brings work wakes this
            // thread, which then renews the session before writing it.
            return false;
        }
        let Some(conn) = self.conn.as_mut() else { return false };
        match conn.reauthenticate() {
            Ok(()) => {
                self.shared.metrics.reauthenticated();
                self.last_io = Instant::now();
                true
            }
            Err(e) => {
                self.connection_lost(&format!("re-authentication failed: {e}"));
                false
            }
        }
    }

    /// Closes the connection when nothing was written or read on it for
    /// `connections.max.idle.ms` (before the broker's own idle limit drops
    /// it under a request). Returns when it would become idle.
    pub(super) fn close_if_idle(&mut self, now: Instant) -> Option<Instant> {
        if self.conn.is_none() || !self.in_flight.is_empty() {
            return None;
        }
        let idle_at = self.last_io + self.shared.cfg.connections_max_idle;
        if idle_at > now {
            return Some(idle_at);
        }
        if let Some(c) = self.conn.take() {
            log::debug!(
                "closing the idle connection to broker {} ({}): connections.max.idle.ms passed",
                self.id,
                c.addr()
            );
            c.shutdown();
        }
        None
    }

    /// Wakes the current leaders of partitions whose batches came back here
    /// after their leadership moved to another broker: that broker's thread
    /// may be waiting for them (a partition's retries and sequences wait for
    /// its in-flight batches), and nothing else would wake it.
    pub(super) fn wake_moved_leaders(&mut self) {
        if self.returned.is_empty() {
            return;
        }
        self.refresh_parts();
        let mut moved = std::mem::take(&mut self.returned);
        moved.retain(|q| self.parts.binary_search(q).is_err());
        if moved.is_empty() {
            return;
        }
        moved.sort_unstable();
        moved.dedup();
        let view = self.shared.meta.view();
        let mut leaders: Vec<i32> = view
            .topics
            .values()
            .flat_map(|t| t.partitions.iter())
            .filter(|p| p.leader >= 0 && p.leader != self.id && moved.binary_search(&p.queue).is_ok())
            .map(|p| p.leader)
            .collect();
        leaders.sort_unstable();
        leaders.dedup();
        for id in leaders {
            wake(&self.shared, id);
        }
    }

    pub(super) fn refresh_parts(&mut self) {
        let v = self.shared.meta.version();
        if v != self.parts_version {
            self.parts = self.shared.meta.view().partitions_led_by(self.id);
            self.parts_version = v;
        }
    }

    pub(super) fn has_work(&self) -> bool {
        !self.in_flight.is_empty()
            || self.parts.iter().any(|q| self.shared.acc.with_queue(*q, |pq| !pq.is_empty()))
    }

    pub(super) fn try_connect(&mut self, now: Instant) {
        if self.next_connect.is_some_and(|t| t > now) {
            return;
        }
        let view = self.shared.meta.view();
        let Some((host, port)) = view.brokers.get(&self.id).cloned() else { return };
        let shared = self.shared.clone();
        let cfg = &shared.cfg;
        let opts = shared.connect_options(self.connect_failures, &mut self.rng);
        match Connection::connect(&host, port, &opts).map_err(|e| e.escalate(self.connect_failures + 1)) {
            Ok(c) => {
                match self.connect_failures {
                    0 => log::info!("connected to broker {} at {host}:{port}", self.id),
                    n => log::info!(
                        "connected to broker {} at {host}:{port} after {n} failed attempt(s)",
                        self.id
                    ),
                }
                self.conn = Some(c);
                self.last_io = Instant::now();
                self.connect_failures = 0;
                self.next_connect = None;
                self.shared.meta.security_ok();
                self.shared.metrics.connection_created();
            }
            Err(e) => {
                if let ConnError::Security(m) = &e {
                    // Retrying soon will not help: fail what waits for this
                    // broker now (keep trying, with the reconnect backoff).
                    self.shared.meta.security_failed(m);
                    let msg = format!("broker {}: {m}", self.id);
                    self.fail_all_queued(DeliveryErrorKind::Authentication, &msg);
                }
                let wait = backoff(
                    cfg.reconnect_backoff,
                    cfg.reconnect_backoff_max,
                    self.connect_failures,
                    &mut self.rng,
                );
                self.connect_failures += 1;
                let n = self.connect_failures;
                let level = if worth_a_warning(n) { log::Level::Warn } else { log::Level::Debug };
                log::log!(
                    level,
                    "connecting to broker {} at {host}:{port} failed ({n} attempt(s) in a row): {e}; \
                     retrying in {wait:?}",
                    self.id
                );
                self.next_connect = Some(Instant::now() + wait);
                self.shared.meta.request_refresh();
            }
        }
    }

    /// The connection broke (or must be dropped): every in-flight batch may
    /// or may not be in the log; retry them all.
    pub(super) fn connection_lost(&mut self, why: &str) {
        if let Some(c) = self.conn.take() {
            log::warn!("connection to broker {} ({}) lost: {why}", self.id, c.addr());
            c.shutdown();
        }
        let cfg = &self.shared.cfg;
        self.next_connect = Some(
            Instant::now() + backoff(cfg.reconnect_backoff, cfg.reconnect_backoff_max, 0, &mut self.rng),
        );
        self.shared.meta.request_refresh();
        let now = Instant::now();
        let flights: Vec<InFlight> = self.in_flight.drain(..).collect();
        for f in flights {
            self.shared.metrics.request_done();
            for mut b in f.batches {
                b.maybe_persisted = true;
                self.complete(
                    b,
                    KafkaCode::NETWORK_EXCEPTION,
                    -1,
                    None,
                    format!("connection lost: {why}"),
                    now,
                );
            }
        }
        self.wake_moved_leaders();
    }

    pub(super) fn check_request_timeouts(&mut self, now: Instant) {
        if self.in_flight.front().is_some_and(|f| f.deadline <= now) {
            let ms = self.shared.cfg.request_timeout.as_millis();
            self.connection_lost(&format!("no response within request.timeout.ms ({ms} ms)"));
        }
    }

    /// Fails overdue batches; returns the next delivery deadline.
    pub(super) fn expire(&mut self, now: Instant) -> Option<Instant> {
        let shared = self.shared.clone();
        let mut expired = Vec::new();
        let mut next = None;
        for &q in &self.parts {
            shared.acc.take_expired(q, now, false, &mut expired);
            next = earliest(next, shared.acc.next_deadline(q));
        }
        for b in expired {
            fail_expired(&shared, b);
        }
        // In flight: the outcome is unknown; resolve the handles now (the
        // response, if it comes, only finishes the bookkeeping).
        for f in self.in_flight.iter_mut() {
            for b in f.batches.iter_mut() {
                if b.resolved {
                    continue;
                }
                if b.deadline <= now {
                    let e = DeliveryError::new(
                        DeliveryErrorKind::Timeout,
                        Persistence::PossiblyPersisted,
                        format!(
                            "delivery.timeout.ms ({} ms) passed while the batch was in flight",
                            shared.cfg.delivery_timeout.as_millis()
                        ),
                    );
                    shared.metrics.batch_failed(b, &e);
                    b.resolve_slot(Resolution::Failed(e));
                    b.resolved = true;
                    if b.producer.is_some() {
                        shared.sequence_broken(b.producer);
                    }
                } else {
                    next = earliest(next, Some(b.deadline));
                }
            }
        }
        // Wake just after the deadline so the batch is overdue by then.
        next.map(|t| t + Duration::from_millis(1))
    }

    pub(super) fn fail_all_queued(&mut self, kind: DeliveryErrorKind, msg: &str) {
        let mut v = Vec::new();
        for &q in &self.parts {
            self.shared.acc.take_expired(q, Instant::now(), true, &mut v);
        }
        for b in v {
            fail_queued(&self.shared, b, kind.clone(), msg);
        }
    }

    /// `close` gave up: fail what is left and exit.
    pub(super) fn abort(&mut self) {
        let shared = self.shared.clone();
        if let Some(c) = self.conn.take() {
            c.shutdown();
        }
        for f in self.in_flight.drain(..) {
            shared.metrics.request_done();
            for b in f.batches {
                shared.acc.finalize(b.queue, b.ordinal);
                let e = DeliveryError::new(
                    DeliveryErrorKind::Closed,
                    Persistence::PossiblyPersisted,
                    closed_message(&shared, "producer closed while the batch was in flight"),
                );
                finish(&shared, b, Resolution::Failed(e));
            }
        }
        // Everything still queued anywhere: a batch requeued by a response
        // handled after this thread stopped leading its partition is not in
        // `parts` any more.
        let mut left = Vec::new();
        shared.acc.take_all(&mut left);
        let why = closed_message(&shared, "producer closed before the batch was sent");
        for b in left {
            fail_queued(&shared, b, DeliveryErrorKind::Closed, &why);
        }
    }
}
