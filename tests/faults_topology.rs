//! Topology changes while records flow, against brokers nobody here wrote
//! (issue 9: items 3 and 7, and its "Also" section).
//!
//! - `topic_recreated_with_fewer_partitions_against_tansu`: a 6-partition
//!   topic on tansu is deleted and at once recreated with 2 partitions while
//!   a thread sends keyed records (`metadata.max.age.ms` = 500). Proves that
//!   every record resolves within 12 s of its send (`delivery.timeout.ms` is
//!   30 s) and none by delivery timeout; that every record sent 3 s or more
//!   after the recreation is acknowledged, on the partition Java's murmur2
//!   gives its key among 2, and that they cover both; that the producer
//!   stops sending to partitions 2..6 within 1.5 s; and, reading the new
//!   topic back with librdkafka, that of the records sent after the
//!   recreation none acknowledged is lost, none is read twice or out of
//!   order, and none reported *not persisted* is read (the history checker).
//! - `topic_recreated_with_more_partitions_against_tansu`: the same from 2
//!   to 6 partitions; the late records cover all 6 partitions.
//! - `leader_moves_with_requests_in_flight_against_librdkafka_mock`: on
//!   librdkafka's mock cluster (3 brokers), five Produce requests for
//!   partition 0 are in flight to its leader (1 s round trip) when it moves
//!   to another broker, and the producer learns of the move before their
//!   answers come. Proves that every record is acknowledged and read back
//!   exactly once, in send order (history checker over librdkafka's
//!   read-back), and that the first record sent after the move is
//!   acknowledged within 5 s of it (`delivery.timeout.ms` = 30 s): the
//!   completions on the old leader's thread must wake the new leader's
//!   thread, or it sleeps until a delivery deadline.
//!
//! Each test makes all its checks and reports every one that failed. Each
//! bounds its own time and record counts, uses loopback brokers only, and
//! goes through `support::require_broker` (fails in CI, skips elsewhere).
//!
//! Broker behaviour these tests rely on or work around (tansu 0.6.0,
//! librdkafka 2.12's mock):
//! - tansu acknowledges a Produce to a deleted topic, or to a partition the
//!   topic does not have, and keeps the records where no consumer sees
//!   them; records it kept for a deleted topic show up in the topic of the
//!   same name created later, at the offsets its new records get (those
//!   then fail with UNKNOWN_SERVER_ERROR). So the sender holds off, with
//!   nothing in flight, for the millisecond between DeleteTopics and
//!   CreateTopics, and records acknowledged on partitions the recreated
//!   topic does not have are left out of the history (a broker fault the
//!   producer cannot see), after checking they stop soon.
//! - tansu creates an unknown topic (4 partitions) on a Metadata request
//!   that allows it. The producer gets `allow.auto.create.topics=false`
//!   where the crate accepts that property; if the topic reappears between
//!   delete and create, it is deleted again (and, with the property set,
//!   that fails the test).
//! - librdkafka's mock handles a request when it arrives and delays only
//!   the answer by the broker's round-trip time, so the requests in flight
//!   to the old leader were appended and are acknowledged after the move;
//!   it checks no sequences for non-transactional producers.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kafka_sync::admin::{Admin, AdminError};
use kafka_sync::{
    DeliveryError, DeliveryErrorKind, KafkaCode, Persistence, Producer, ProducerConfig,
    ProducerConfigBuilder, Record, RecordMetadata,
};
use support::drive::{reads, value_of};
use support::history::{History, Outcome, Sent};
use support::{read_to_end, require_broker, wait_for_topic, RdMock, Tansu};

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// The producer settings these tests share: short backoffs, bounded waits,
/// a delivery timeout far above every bound the tests assert.
/// Every check of a test, made in full before the test fails, so that one
/// run reports everything that went wrong.
#[derive(Default)]
struct Checks {
    failures: Vec<String>,
}

impl Checks {
    fn check(&mut self, ok: bool, what: String) {
        if !ok {
            eprintln!("FAILED CHECK: {what}");
            self.failures.push(what);
        }
    }

    fn assert_all(self, test: &str) {
        let n = self.failures.len();
        assert!(n == 0, "{test}: {n} check(s) failed:\n{}", self.failures.join("\n"));
    }
}

fn base_config(bootstrap: &str) -> ProducerConfigBuilder {
    ProducerConfig::builder()
        .bootstrap_servers(bootstrap)
        .linger(Duration::from_millis(5))
        .max_block(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(5))
        .delivery_timeout(DELIVERY_TIMEOUT)
        .retry_backoff(Duration::from_millis(50))
        .retry_backoff_max(Duration::from_millis(500))
        .reconnect_backoff(Duration::from_millis(20))
        .reconnect_backoff_max(Duration::from_millis(200))
}

const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Turns off the producer's topic auto-creation (Java's
/// `allow.auto.create.topics`) if this build of the crate knows the
/// property. Returns the builder and whether the property was accepted.
fn without_auto_create(mut b: ProducerConfigBuilder) -> (ProducerConfigBuilder, bool) {
    match b.try_set("allow.auto.create.topics", "false") {
        Ok(_) => (b, true),
        Err(e) => {
            eprintln!(
                "note: allow.auto.create.topics=false rejected ({e}); the producer may auto-create topics"
            );
            (b, false)
        }
    }
}

/// One record's outcome as its callback saw it.
#[derive(Debug)]
struct Done {
    id: u64,
    sent_at: Instant,
    done_at: Instant,
    result: Result<RecordMetadata, DeliveryError>,
}

/// Outcomes, in the order the callbacks ran.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Done>>>);

impl Log {
    /// Sends `record` (record `id`) with a callback that logs its outcome.
    /// A record `send` refuses is logged at once with its error.
    fn send(&self, p: &Producer, record: Record, id: u64) -> bool {
        let sent_at = Instant::now();
        let log = self.clone();
        match p.send_with_callback(record, move |result| log.push(id, sent_at, result)) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("send {id} refused: {e}");
                false
            }
        }
    }

    fn push(&self, id: u64, sent_at: Instant, result: Result<RecordMetadata, DeliveryError>) {
        self.0.lock().unwrap().push(Done { id, sent_at, done_at: Instant::now(), result });
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Waits until `n` outcomes were logged or `deadline` passed; returns
    /// how many were logged.
    fn wait_for(&self, n: usize, deadline: Instant) -> usize {
        loop {
            let got = self.len();
            if got >= n || Instant::now() >= deadline {
                return got;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// When the last outcome for which `f` holds was logged.
    fn last_where(&self, f: impl Fn(&Done) -> bool) -> Option<Instant> {
        self.0.lock().unwrap().iter().filter(|d| f(d)).map(|d| d.done_at).max()
    }

    fn take(&self) -> Vec<Done> {
        let mut v = std::mem::take(&mut *self.0.lock().unwrap());
        v.sort_by_key(|d| d.id);
        v
    }
}

/// The outcome in the history checker's terms.
fn outcome(r: &Result<RecordMetadata, DeliveryError>) -> Outcome {
    match r {
        Ok(m) => Outcome::Acked { partition: m.partition(), offset: m.offset() },
        Err(e) if e.persistence() == Persistence::PossiblyPersisted => Outcome::PossiblyPersisted,
        Err(_) => Outcome::NotPersisted,
    }
}

/// The partition Java's default partitioner gives `key` (the crate's murmur2,
/// which `partitioner.rs` checks against Kafka's own test vectors).
fn java_partition(key: &[u8], partitions: i32) -> i32 {
    (kafka_sync::partitioner::murmur2(key) & 0x7fff_ffff) % partitions
}

// ---------------------------------------------------------------------------
// Topic deleted and recreated while records flow (tansu)
// ---------------------------------------------------------------------------

/// How long the sender runs before the deletion, and after the recreation;
/// records sent from `LATE_AFTER` after the recreation on must all be
/// acknowledged.
const BEFORE_DELETE: Duration = Duration::from_millis(1500);
const AFTER_RECREATE: Duration = Duration::from_secs(4);
const LATE_AFTER: Duration = Duration::from_secs(3);
/// One record per this interval, and at most `MAX_RECORDS` records.
const SEND_EVERY: Duration = Duration::from_millis(5);
const MAX_RECORDS: u64 = 3000;
/// The producer's `metadata.max.age.ms`.
const METADATA_MAX_AGE: Duration = Duration::from_millis(500);
/// Every record must resolve within this long of its send: well under the
/// delivery timeout.
const RESOLVE_WITHIN: Duration = Duration::from_secs(12);

fn key_of(id: u64) -> String {
    format!("key-{id}")
}

/// Deletes `topic` and at once creates it again with `partitions`
/// partitions. When the create finds the topic there already (a Metadata
/// request auto-created it in between), deletes it again, at most 5 times.
/// Returns how many times the topic was auto-created.
fn delete_and_recreate(admin: &Admin, topic: &str, partitions: i32) -> u32 {
    let mut auto_created = 0;
    for _ in 0..5 {
        match admin.delete_topic(topic) {
            Ok(()) => {}
            Err(AdminError::Broker { code, .. }) if code == KafkaCode::UNKNOWN_TOPIC_OR_PARTITION => {}
            Err(e) => panic!("delete {topic}: {e}"),
        }
        match admin.create_topic(topic, partitions, 1) {
            Ok(()) => return auto_created,
            Err(AdminError::Broker { code, .. }) if code == KafkaCode::TOPIC_ALREADY_EXISTS => {
                auto_created += 1;
                eprintln!("{topic} exists again right after its deletion (auto-created); deleting it again");
            }
            Err(e) => panic!("create {topic} with {partitions} partitions: {e}"),
        }
    }
    panic!("{topic} was auto-created 5 times in a row between DeleteTopics and CreateTopics");
}

/// Where the sender is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Hold off while the topic is deleted and recreated.
    Paused,
    /// Recreated at this instant.
    Recreated(Instant),
}

/// The scenario of both tansu tests: `from` partitions, deleted and
/// recreated with `to` while a thread sends keyed records.
///
/// The sender holds off for the moment (about a millisecond) between
/// DeleteTopics and CreateTopics, with nothing queued or in flight: tansu
/// 0.6.0 acknowledges a Produce to a deleted topic, and the records it kept
/// then sit in the recreated topic at the offsets its new records get
/// (those fail with UNKNOWN_SERVER_ERROR, or overlap). The producer still
/// has the old partition count when it resumes.
///
/// Every check is made and reported before the test fails, so that one run
/// shows everything that went wrong.
fn recreate_while_sending(test: &str, from: i32, to: i32) {
    support::init_log();
    let Some(tansu) = require_broker(test, Tansu::start()) else { return };
    let topic = format!("recreated-{from}-to-{to}");
    let bootstrap = tansu.bootstrap();
    let admin = Admin::new(&bootstrap).with_timeout(Duration::from_secs(10));
    admin.create_topic(&topic, from, 1).unwrap();
    wait_for_topic(&bootstrap, &topic, from, Duration::from_secs(20)).unwrap();

    let (builder, no_auto_create) =
        without_auto_create(base_config(&bootstrap).metadata_max_age(METADATA_MAX_AGE));
    let p = Arc::new(Producer::new(builder.build().unwrap()).unwrap());
    let log = Log::default();
    let phase = Arc::new(Mutex::new(Phase::Running));

    // The sender: one keyed record every SEND_EVERY (none while paused),
    // until AFTER_RECREATE after the recreation, at most MAX_RECORDS;
    // returns the ids it sent, and when.
    let sender = {
        let (p, log, phase, topic) = (p.clone(), log.clone(), phase.clone(), topic.clone());
        thread::spawn(move || {
            let mut sent = Vec::new();
            let mut next = Instant::now();
            let mut id = 0;
            while id < MAX_RECORDS {
                next += SEND_EVERY;
                match *phase.lock().unwrap() {
                    Phase::Recreated(t) if t.elapsed() >= AFTER_RECREATE => break,
                    Phase::Paused => {
                        thread::sleep(Duration::from_millis(1));
                        next = Instant::now();
                        continue;
                    }
                    _ => {}
                }
                let r = Record::new(topic.clone()).key(&key_of(id)).value_vec(value_of(id, 64));
                let at = Instant::now();
                if log.send(&p, r, id) {
                    sent.push((id, at));
                }
                id += 1;
                thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            sent
        })
    };

    thread::sleep(BEFORE_DELETE);
    *phase.lock().unwrap() = Phase::Paused;
    thread::sleep(SEND_EVERY * 2);
    p.flush_timeout(Duration::from_secs(10)).expect("flush before the deletion");
    let auto_created = delete_and_recreate(&admin, &topic, to);
    let recreated_at = Instant::now();
    *phase.lock().unwrap() = Phase::Recreated(recreated_at);
    let visible = wait_for_topic(&bootstrap, &topic, to, Duration::from_secs(20));
    let sent = sender.join().expect("sender thread");
    visible.unwrap_or_else(|e| panic!("the recreated topic never showed {to} partitions: {e}"));
    let last_send = Instant::now();
    log.wait_for(sent.len(), last_send + RESOLVE_WITHIN);
    let done = log.take();
    let errors_seen = p.metrics().errors;
    // Whatever is left fails now (Closed), so that a failing run ends soon.
    let closed = p.close(Duration::from_secs(2));

    // What happened.
    let resolved: BTreeSet<u64> = done.iter().map(|d| d.id).collect();
    let unresolved: Vec<u64> = sent.iter().map(|(id, _)| *id).filter(|id| !resolved.contains(id)).collect();
    let after: BTreeSet<u64> = sent.iter().filter(|(_, at)| *at >= recreated_at).map(|(id, _)| *id).collect();
    let late: BTreeSet<u64> =
        sent.iter().filter(|(_, at)| *at >= recreated_at + LATE_AFTER).map(|(id, _)| *id).collect();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for d in &done {
        if let Err(e) = &d.result {
            *errors.entry(format!("{:?} ({:?})", e.kind(), e.persistence())).or_default() += 1;
        }
    }
    let slowest = done.iter().map(|d| d.done_at - d.sent_at).max().unwrap_or_default();
    // Where the unresolved records' keys went among the old partitions.
    let mut unresolved_old: BTreeMap<i32, usize> = BTreeMap::new();
    for id in &unresolved {
        *unresolved_old.entry(java_partition(key_of(*id).as_bytes(), from)).or_default() += 1;
    }
    // tansu acknowledges records sent to partitions the topic no longer has
    // (and keeps them where no consumer sees them): the producer may send
    // there until its metadata shows the new count.
    let phantom: Vec<&Done> = done
        .iter()
        .filter(|d| after.contains(&d.id) && d.result.as_ref().is_ok_and(|m| m.partition() >= to))
        .collect();
    let phantom_last = phantom.iter().map(|d| d.sent_at - recreated_at).max();
    eprintln!(
        "{test}: sent {} ({} after the recreation, {} of them {LATE_AFTER:?} or more after), acked {}, \
         failed {} {errors:?}, unresolved {} (by old partition of their key: {unresolved_old:?}); \
         slowest resolution {slowest:?}; {} acknowledged on partitions >= {to}, the last sent \
         {phantom_last:?} after the recreation; auto-created {auto_created} time(s) between delete and \
         create; producer saw errors {errors_seen:?}; close: {closed:?}",
        sent.len(),
        after.len(),
        late.len(),
        done.iter().filter(|d| d.result.is_ok()).count(),
        done.iter().filter(|d| d.result.is_err()).count(),
        unresolved.len(),
        phantom.len(),
    );
    for d in done.iter().filter(|d| d.result.is_err()).take(3) {
        eprintln!("  e.g. record {}: {}", d.id, d.result.as_ref().unwrap_err());
    }

    let mut checks = Checks::default();
    let mut check = |ok: bool, what: String| checks.check(ok, what);
    // Every handle resolves, each well within the delivery timeout, and a
    // failure comes with a reason, not by waiting out delivery.timeout.ms.
    check(
        unresolved.is_empty(),
        format!(
            "{} of {} records unresolved {RESOLVE_WITHIN:?} after the last send (delivery timeout \
             {DELIVERY_TIMEOUT:?}); their keys' partitions among the old {from}: {unresolved_old:?}",
            unresolved.len(),
            sent.len()
        ),
    );
    check(slowest < RESOLVE_WITHIN, format!("a record took {slowest:?} to resolve"));
    let timed_out = done
        .iter()
        .filter(|d| matches!(&d.result, Err(e) if *e.kind() == DeliveryErrorKind::Timeout))
        .count();
    check(timed_out == 0, format!("{timed_out} records failed by delivery timeout, not with a reason"));
    // The producer stops using partitions that are gone once its metadata
    // shows the new count (a refresh every METADATA_MAX_AGE).
    check(
        phantom_last.is_none_or(|t| t < METADATA_MAX_AGE * 3),
        format!("records sent {phantom_last:?} after the recreation went to partitions >= {to}"),
    );
    // Records sent well after the recreation all land, where Java puts them.
    check(late.len() >= 50, format!("only {} records sent {LATE_AFTER:?} after the recreation", late.len()));
    let mut late_partitions = BTreeSet::new();
    let mut late_failed = Vec::new();
    let mut late_misplaced = Vec::new();
    for d in done.iter().filter(|d| late.contains(&d.id)) {
        match &d.result {
            Ok(m) if m.partition() == java_partition(key_of(d.id).as_bytes(), to) => {
                late_partitions.insert(m.partition());
            }
            Ok(m) => late_misplaced.push((d.id, m.partition())),
            Err(e) => late_failed.push(format!("{}: {e}", d.id)),
        }
    }
    let late_unresolved = late.iter().filter(|id| !resolved.contains(id)).count();
    check(
        late_failed.is_empty() && late_unresolved == 0,
        format!(
            "of {} records sent {LATE_AFTER:?} or more after the recreation, {} failed (e.g. {:?}) and \
             {late_unresolved} are unresolved",
            late.len(),
            late_failed.len(),
            late_failed.first()
        ),
    );
    check(
        late_misplaced.is_empty(),
        format!(
            "{} late records not where Java's murmur2 puts their keys among {to} partitions, e.g. \
             (id, partition) {:?}",
            late_misplaced.len(),
            &late_misplaced[..late_misplaced.len().min(5)]
        ),
    );
    check(
        late_partitions == (0..to).collect(),
        format!("late records landed on partitions {late_partitions:?}, not on all of 0..{to}"),
    );
    if no_auto_create {
        check(
            auto_created == 0,
            format!("the deleted topic was auto-created {auto_created} time(s) with allow.auto.create.topics=false"),
        );
    }

    // The new topic holds every record sent after the recreation and
    // acknowledged (but those tansu took for partitions it does not have),
    // once, in send order, and none reported not persisted. Records sent
    // before the deletion went with the old topic.
    let mut h = History::new();
    for d in done.iter().filter(|d| after.contains(&d.id)) {
        let outcome = outcome(&d.result);
        let partition = match outcome {
            Outcome::Acked { partition, .. } if partition >= to => continue,
            Outcome::Acked { partition, .. } => partition,
            _ => -1,
        };
        h.record(Sent { id: d.id, thread: 0, seq: d.id, partition, outcome });
    }
    let consumed = read_to_end(&bootstrap, &topic, Duration::from_secs(60))
        .unwrap_or_else(|(e, got)| panic!("read back failed after {} records: {e}", got.len()));
    let r = h.check(&reads(&consumed));
    eprintln!("{test}: records sent after the recreation, against the new topic: {r}");
    check(r.anomalies() == 0, format!("history: {r}"));
    check(closed.is_ok(), format!("close after every record resolved: {closed:?}"));
    checks.assert_all(test);
}

#[test]
fn topic_recreated_with_fewer_partitions_against_tansu() {
    recreate_while_sending("topic_recreated_with_fewer_partitions_against_tansu", 6, 2);
}

#[test]
fn topic_recreated_with_more_partitions_against_tansu() {
    recreate_while_sending("topic_recreated_with_more_partitions_against_tansu", 2, 6);
}

// ---------------------------------------------------------------------------
// Leader moves with requests in flight (librdkafka's mock cluster)
// ---------------------------------------------------------------------------

#[test]
fn leader_moves_with_requests_in_flight_against_librdkafka_mock() {
    const TEST: &str = "leader_moves_with_requests_in_flight_against_librdkafka_mock";
    const TOPIC: &str = "moves";
    // Broker 1 answers the producer's Metadata requests (first in the
    // bootstrap list) and is never slow. Partition 0 moves from the slow
    // broker 2, with five requests in flight there, to broker 3. Partition 1
    // moves at the same moment from the fast broker 3 to broker 1: its next
    // request is answered NOT_LEADER_OR_FOLLOWER at once, and the refresh
    // that follows shows both moves while partition 0's requests still wait
    // for their answers from broker 2 (those were appended before the move,
    // and are acknowledged). From then on only the completions on broker 2's
    // thread can let broker 3's thread send partition 0's queued records.
    const SLOW: i32 = 2;
    const RTT: Duration = Duration::from_secs(1);
    support::init_log();
    let Some(m) = require_broker(TEST, RdMock::start(3)) else { return };
    m.create_topic(TOPIC, 2, 3).unwrap();
    m.cluster().partition_leader(TOPIC, 0, Some(SLOW)).unwrap();
    m.cluster().partition_leader(TOPIC, 1, Some(3)).unwrap();
    let p = Arc::new(
        Producer::new(
            base_config(&m.bootstrap())
                .max_in_flight(5)
                // A trickle of records that never fills a batch (as with
                // any slow stream), so a new record does not wake a broker
                // thread whose partition already has one queued; and no
                // periodic metadata refresh wakes the broker threads.
                .batch_size(1 << 20)
                .metadata_max_age(Duration::from_secs(60))
                .build()
                .unwrap(),
        )
        .unwrap(),
    );
    for part in 0..2 {
        p.send(Record::new(TOPIC).value("warm-up").partition(part)).unwrap().wait().unwrap();
    }
    assert_eq!(p.partitions_for(TOPIC).unwrap()[0].leader, Some(SLOW));
    m.cluster().broker_round_trip_time(SLOW, RTT).unwrap();

    // The sender: one record to each partition every 10 ms, from 1.5 to
    // 2.5 s before the move until 3 s after it.
    let log = Log::default();
    let moved: Arc<Mutex<Option<Instant>>> = Arc::default();
    let sender = {
        let (p, log, moved) = (p.clone(), log.clone(), moved.clone());
        thread::spawn(move || {
            let mut sent = Vec::new();
            let mut next = Instant::now();
            for n in 0..2000u64 {
                if moved.lock().unwrap().is_some_and(|t| t.elapsed() >= Duration::from_secs(3)) {
                    break;
                }
                for part in 0..2 {
                    let id = 2 * n + part as u64;
                    let r = Record::new(TOPIC).value_vec(value_of(id, 64)).partition(part);
                    if log.send(&p, r, id) {
                        sent.push((id, part));
                    }
                }
                next += Duration::from_millis(10);
                thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            sent
        })
    };
    // Partition 0's requests go out in bursts of five (each answer lets the
    // next one go) once per round trip. Move it mid-way between two bursts,
    // when all five are surely in flight: 100 to 500 ms after the last
    // acknowledgement.
    thread::sleep(Duration::from_millis(1500));
    let phase_deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let last = log.last_where(|d| d.id % 2 == 0 && d.result.is_ok()).map(|t| t.elapsed());
        if last.is_some_and(|t| t >= Duration::from_millis(100) && t <= Duration::from_millis(500)) {
            break;
        }
        assert!(
            Instant::now() < phase_deadline,
            "partition 0's acknowledgements never paused (last {last:?} ago)"
        );
        thread::sleep(Duration::from_millis(5));
    }
    let in_flight_before = p.metrics().requests_in_flight;
    let moved_at = Instant::now();
    m.cluster().partition_leader(TOPIC, 0, Some(3)).unwrap();
    m.cluster().partition_leader(TOPIC, 1, Some(1)).unwrap();
    *moved.lock().unwrap() = Some(moved_at);
    let sent = sender.join().expect("sender thread");
    let logged = log.wait_for(sent.len(), Instant::now() + DELIVERY_TIMEOUT + Duration::from_secs(10));
    m.cluster().broker_round_trip_time(SLOW, Duration::ZERO).unwrap();
    let done = log.take();
    let errors_seen = p.metrics().errors;
    let leader_now = p.partitions_for(TOPIC).unwrap()[0].leader;

    // Partition 0's records sent after the move: only the new leader can
    // acknowledge them.
    let after: Vec<&Done> = done.iter().filter(|d| d.id % 2 == 0 && d.sent_at >= moved_at).collect();
    let first_new = after.iter().filter(|d| d.result.is_ok()).map(|d| d.done_at - moved_at).min();
    let first_resolved = after.iter().map(|d| d.done_at - moved_at).min();
    let failed: Vec<&Done> = done.iter().filter(|d| d.result.is_err()).collect();
    eprintln!(
        "{TEST}: {in_flight_before} requests in flight at the move; sent {} ({} to partition 0 after the \
         move), resolved {logged}, failed {}; the first of those {} resolved {first_resolved:?} after the \
         move, the first acknowledged {first_new:?} after it; partition 0's leader now {leader_now:?}; \
         producer saw errors {errors_seen:?}; leaders learned from Produce responses (KIP-951): {}",
        sent.len(),
        after.len(),
        failed.len(),
        after.len(),
        p.metrics().leader_hints,
    );
    for d in failed.iter().take(3) {
        eprintln!("  e.g. record {}: {}", d.id, d.result.as_ref().unwrap_err());
    }

    let mut checks = Checks::default();
    let mut check = |ok: bool, what: String| checks.check(ok, what);
    check(in_flight_before >= 1, "no request was in flight when the leader moved".into());
    check(logged == sent.len(), format!("{} records unresolved", sent.len() - logged));
    check(!after.is_empty(), "no record was sent to partition 0 after the move".into());
    check(
        first_new.is_some_and(|t| t < Duration::from_secs(5)),
        format!(
            "the new leader acknowledged its first record {first_new:?} after the move (None: none at \
             all; the first of partition 0's {} records sent after the move resolved {first_resolved:?} \
             after it, e.g. {:?}); delivery timeout {DELIVERY_TIMEOUT:?}",
            after.len(),
            after.iter().find(|d| d.result.is_err()).map(|d| d.result.as_ref().unwrap_err().to_string())
        ),
    );
    check(leader_now == Some(3), format!("metadata says partition 0 is led by {leader_now:?}, not 3"));

    // Every record acknowledged and read back once, in send order.
    let mut h = History::new();
    for d in &done {
        let outcome = outcome(&d.result);
        let partition = (d.id % 2) as i32;
        h.record(Sent { id: d.id, thread: 0, seq: d.id, partition, outcome });
    }
    let consumed = read_to_end(&m.bootstrap(), TOPIC, Duration::from_secs(60))
        .unwrap_or_else(|(e, got)| panic!("read back failed after {} records: {e}", got.len()));
    let r = h.check(&reads(&consumed));
    eprintln!("{TEST}: {r}");
    check(r.anomalies() == 0, format!("history: {r}"));
    check(
        r.acked == sent.len() && r.read == sent.len(),
        format!("every record acknowledged and read once: {r}"),
    );
    let closed = p.close(Duration::from_secs(5));
    check(closed.is_ok(), format!("close: {closed:?}"));
    checks.assert_all(TEST);
}
