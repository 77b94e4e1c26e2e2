//! `kafka-sync produce`: one record per input line.
//!
//! Ctrl-C (SIGINT, and SIGTERM or SIGHUP) stops the reading; the records
//! already sent then get [`INTERRUPTED_WAIT`] (or `delivery.timeout.ms`, if
//! shorter) from the signal to be delivered, an open transaction is
//! aborted, and the summary counts what was delivered, what failed and what
//! was never sent; the exit status is 1 if any record read was not
//! delivered, 0 otherwise. A second Ctrl-C exits at once (status 130).

use std::fs::File;
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::ArgMatches;
use crossbeam_channel::select;
use kafka_sync::{DeliveryError, Header, Producer, Record, TransactionError};

use crate::input::{Chunk, Input, Reader};
use crate::interrupt::Interrupt;
use crate::settings::{leak_topic, Cluster, Settings};
use crate::tally::{plural, Tally, Ticker};
use crate::{Failure, CLOSE_TIMEOUT};

/// The most an interrupted `produce` waits, from the signal, for the
/// records it sent (less if `delivery.timeout.ms` is shorter): records
/// without an outcome then fail as not delivered (or, with a spool, stay in
/// it).
const INTERRUPTED_WAIT: Duration = Duration::from_secs(30);

/// How often a flush looks whether it was interrupted.
const FLUSH_SLICE: Duration = Duration::from_millis(100);

/// How often the terminal progress line of `produce` is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// How long one wait for a transaction call lasts; a commit or abort that
/// takes longer is waited for again (its outcome is being decided).
const TXN_WAIT: Duration = Duration::from_secs(60);

/// How many times a transaction call that timed out is waited for again.
const TXN_WAITS: u32 = 5;

/// A load in transactions (`-X transactional.id=ID`): one for the whole
/// input, or one per `--transaction-records N`.
struct Transactions {
    every: Option<u64>,
    /// Records sent in the open transaction.
    open: u64,
    committed: u64,
    transactions: u64,
    aborted: u64,
}

/// Calls `op` until it does not time out (at most [`TXN_WAITS`] times).
fn patiently(mut op: impl FnMut() -> Result<(), TransactionError>) -> Result<(), TransactionError> {
    let mut r = op();
    for _ in 1..TXN_WAITS {
        match r {
            Err(TransactionError::Timeout { .. }) => r = op(),
            _ => break,
        }
    }
    r
}

impl Transactions {
    /// Initializes transactions and begins the first, if the producer is
    /// transactional.
    fn start(producer: &Producer, every: Option<u64>) -> Result<Option<Self>, Failure> {
        if producer.transactional_id().is_none() {
            if every.is_some() {
                return Err(Failure::Usage("--transaction-records needs -X transactional.id=ID".into()));
            }
            return Ok(None);
        }
        let fail = |e: TransactionError| Failure::Runtime(format!("cannot start transactions: {e}"));
        patiently(|| producer.init_transactions(TXN_WAIT)).map_err(fail)?;
        producer.begin_transaction().map_err(fail)?;
        Ok(Some(Self { every, open: 0, committed: 0, transactions: 0, aborted: 0 }))
    }

    /// A record joined the open transaction; commits it when it is full.
    fn sent(&mut self, producer: &Producer) -> Result<(), String> {
        self.open += 1;
        if self.every.is_some_and(|n| self.open >= n) {
            self.commit(producer)?;
            producer.begin_transaction().map_err(|e| format!("cannot begin a transaction: {e}"))?;
        }
        Ok(())
    }

    /// Commits the open transaction; if it cannot commit, aborts it.
    fn commit(&mut self, producer: &Producer) -> Result<(), String> {
        match patiently(|| producer.commit_transaction(TXN_WAIT)) {
            Ok(()) => {
                self.committed += self.open;
                // (An empty transaction, the last one of an exact multiple,
                // costs nothing and is not counted.)
                self.transactions += u64::from(self.open > 0);
                self.open = 0;
                Ok(())
            }
            Err(e) => Err(self.abort(producer, &format!("the transaction could not commit: {e}"), None)),
        }
    }

    /// Aborts the open transaction after `why`, waiting `wait` at most
    /// (`None`: as long as it takes, [`patiently`]); returns the reason to
    /// stop.
    fn abort(&mut self, producer: &Producer, why: &str, wait: Option<Duration>) -> String {
        let n = std::mem::take(&mut self.open);
        self.aborted += n;
        let aborted = match wait {
            Some(wait) => producer.abort_transaction(wait),
            None => patiently(|| producer.abort_transaction(TXN_WAIT)),
        };
        match aborted {
            Ok(()) => format!("{why}; aborted it ({n} record{} not committed)", plural(n)),
            Err(e) => format!("{why}; aborting it failed too: {e}"),
        }
    }
}

pub(crate) fn produce(m: &ArgMatches) -> Result<ExitCode, Failure> {
    let topic = leak_topic(m);
    let settings = Settings::from_matches(m, "kafka-sync")?;
    let separator = m.get_one::<Vec<u8>>("key_separator").cloned();
    let headers: Vec<Header> = m.get_many::<Header>("header").into_iter().flatten().cloned().collect();
    let partition = m.get_one::<i32>("partition").copied();
    // Open every input first: a missing file fails before anything connects.
    let mut inputs = Vec::new();
    for path in m.get_many::<PathBuf>("files").into_iter().flatten() {
        if path.as_os_str() == "-" {
            inputs.push(Input::Stdin);
        } else {
            let file = File::open(path)
                .map_err(|e| Failure::Runtime(format!("cannot open {}: {e}", path.display())))?;
            inputs.push(Input::File(path.clone(), file));
        }
    }
    if inputs.is_empty() {
        inputs.push(Input::Stdin);
    }

    let stop = Stop::install(&settings);
    let cluster = Cluster::connect(settings.bootstrap.as_deref(), Some(topic))?;
    let tally = Arc::new(Tally::default());
    let spooled = settings.spool.is_some();
    // What an earlier run left in the spool is sent first, ahead of any
    // input (read back from the spool as memory allows): its outcomes are
    // counted with the others.
    let resent = Arc::new(Resent::default());
    let producer = {
        let (t, r) = (tally.clone(), resent.clone());
        settings.producer_with(&cluster, move |b| {
            b.on_replayed(move |rep| match rep.result {
                Ok(_) => {
                    t.delivered(record_bytes(&rep.record));
                    r.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    t.delivery_failed(&e, true);
                    r.failed.fetch_add(1, Ordering::Relaxed);
                }
            })
        })?
    };
    let to_resend = producer.spool_backlog().unwrap_or(0);
    if to_resend > 0 {
        eprintln!(
            "kafka-sync: {to_resend} record{} left in the spool by an earlier run: resending",
            plural(to_resend)
        );
    }
    // A partition the topic does not have: `send` would wait max.block.ms per
    // record for metadata showing it (Java's semantics, for topics that just
    // grew); a command-line load fails each record at once instead.
    let fail_fast = partition.is_some_and(|p| {
        producer.partitions_for(topic).is_ok_and(|parts| usize::try_from(p).is_ok_and(|p| p >= parts.len()))
    });
    let mut txn = Transactions::start(&producer, m.get_one::<u64>("transaction_records").copied())?;
    let started = Instant::now();
    let progress = io::stderr().is_terminal().then(|| {
        let t = tally.clone();
        Ticker::start(PROGRESS_EVERY, move || {
            eprint!(
                "\r\x1b[Kkafka-sync: {} sent, {} failed",
                t.delivered.load(Ordering::Relaxed),
                t.failed.load(Ordering::Relaxed),
            );
        })
    });

    let (chunks, lines_read) = Reader::start(inputs)
        .map_err(|e| Failure::Runtime(format!("cannot start reading the input: {e}")))?;
    let mut stopped: Option<String> = None;
    // With a spool: the input lines an earlier run took, by the mark the
    // spool keeps with each record (each line's record carries its line
    // number), skipped so that a load resumes instead of starting over.
    let skip = producer.spool_mark().unwrap_or(0);
    if skip > 0 {
        eprintln!(
            "kafka-sync: the spool says an earlier run took input lines 1-{skip}: going on from line {}",
            skip + 1
        );
    }
    // Input lines read (skipped ones included), handed to `send` (accepted
    // or refused), and accepted.
    let mut position: u64 = 0;
    let mut handed: u64 = 0;
    let mut accepted: u64 = 0;
    'read: while !stop.interrupted() {
        let chunk = select! {
            recv(chunks) -> chunk => chunk,
            recv(stop.ready()) -> _ => break 'read,
        };
        let lines = match chunk {
            Ok(Chunk::Lines(lines)) => lines,
            Ok(Chunk::Failed(why)) => {
                stopped = Some(why);
                break;
            }
            Err(_) => break, // the end of the input
        };
        for line in lines {
            if stop.interrupted() {
                break 'read;
            }
            position += 1;
            if position <= skip {
                continue;
            }
            handed += 1;
            if spooled {
                producer.set_spool_mark(position);
            }
            let mut record = Record::new(topic);
            match separator.as_deref().and_then(|sep| find(&line, sep).map(|at| (at, sep.len()))) {
                Some((at, len)) => {
                    record = record.key_vec(line[..at].to_vec()).value_vec(line[at + len..].to_vec());
                }
                None => record = record.value_vec(line),
            }
            record.headers.clone_from(&headers);
            if let Some(p) = partition {
                record = record.partition(p);
            }
            let bytes = record_bytes(&record);
            let t = tally.clone();
            let on_result = move |result: Result<_, DeliveryError>| match result {
                Ok(_) => t.delivered(bytes),
                Err(e) => t.delivery_failed(&e, spooled),
            };
            let sent = if fail_fast {
                producer.try_send(record).map(|h| on_result(h.wait()))
            } else {
                producer.send_with_callback(record, on_result)
            };
            match sent {
                Ok(()) => {
                    accepted += 1;
                    if let Some(t) = txn.as_mut() {
                        if let Err(why) = t.sent(&producer) {
                            stopped = Some(format!("stopped at input record {handed}: {why}"));
                            break 'read;
                        }
                    }
                }
                Err(e) => {
                    let why = e.to_string();
                    let reason = tally.refused(e, &cluster);
                    // In a transactional load any refusal ends it: all or nothing.
                    if let Some(reason) = reason.or(txn.as_ref().map(|_| why)) {
                        stopped = Some(format!("stopped at input record {handed}: {reason}"));
                        break 'read;
                    }
                }
            }
        }
    }
    // No more input: the reading thread ends at its next hand-over (or
    // stays blocked in a read until the process exits).
    drop(chunks);
    // The open transaction: committed if every record so far went well,
    // aborted if the load stopped or was interrupted (all or nothing).
    if let Some(t) = txn.as_mut() {
        let end = match &stopped {
            Some(why) if t.open > 0 => Err(t.abort(&producer, why, None)),
            Some(_) => Ok(()),
            None if stop.interrupted() && t.open > 0 => {
                Err(t.abort(&producer, "interrupted", Some(stop.left())))
            }
            None if stop.interrupted() => Ok(()),
            None => t.commit(&producer),
        };
        if let Err(why) = end {
            stopped = Some(why);
        }
    }
    let flushed = stop.flush(&producer);
    if !flushed && !stop.interrupted() {
        log::warn!("flush: records without an outcome after {:.1} s", stop.normal.as_secs_f64());
    }
    // Mark and input disagree: the input is not the one the mark counts.
    let short = position < skip && !stop.interrupted() && stopped.is_none();
    if short {
        eprintln!(
            "kafka-sync: the input ended at line {position}, before line {} where the earlier run stopped: \
             nothing of it was sent (a different input? remove the spool's directory to start over)",
            skip + 1
        );
    }
    // The load is complete (the whole input read, every outcome final): the
    // next run starts a new one, from its input's first line.
    if spooled && flushed && !short && !stop.interrupted() && stopped.is_none() {
        producer.set_spool_mark(0);
    }
    // Unflushed with a spool, or interrupted: what is left stays in the
    // spool, or fails as not delivered, without waiting more.
    let close_wait =
        if flushed || (!spooled && !stop.interrupted()) { CLOSE_TIMEOUT } else { Duration::ZERO };
    match producer.close(close_wait) {
        Err(e) if close_wait > Duration::ZERO => log::warn!("close: {e}"),
        _ => {}
    }
    // Every handle is resolved once `close` returns; replayed records the
    // producer had no time to send have no outcome: they stay in the spool.
    let resent_delivered = resent.delivered.load(Ordering::Relaxed);
    let mut resent_failed = resent.failed.load(Ordering::Relaxed);
    let unsent_replayed = to_resend.saturating_sub(resent_delivered + resent_failed);
    tally.failed_n("not sent before the producer closed (it stays in the spool)".into(), unsent_replayed);
    tally.kept.fetch_add(unsent_replayed, Ordering::Relaxed);
    resent_failed += unsent_replayed;
    let elapsed = started.elapsed();
    if let Some(p) = progress {
        p.stop();
        eprint!("\r\x1b[K");
    }

    let delivered = tally.delivered.load(Ordering::Relaxed);
    let bytes = tally.bytes.load(Ordering::Relaxed);
    let failed = tally.failed_count();
    let refused = tally.refused.load(Ordering::Relaxed);
    let interrupted = stop.interrupted();
    // Lines read from the input but never handed to `send` (the reading
    // thread's lead when the command stopped).
    let unsent = if interrupted { lines_read.get().saturating_sub(handed) } else { 0 };
    if interrupted {
        eprintln!(
            "kafka-sync: interrupted after {handed} input line{}: {delivered} record{} delivered, {} failed, {} \
             never sent, {bytes} bytes, {:.3} s",
            plural(handed),
            plural(delivered),
            failed - refused,
            refused + unsent,
            elapsed.as_secs_f64(),
        );
    } else {
        eprintln!(
            "kafka-sync: {delivered} record{} sent, {failed} failed, {bytes} bytes, {:.3} s",
            plural(delivered),
            elapsed.as_secs_f64(),
        );
    }
    if to_resend > 0 {
        eprintln!(
            "kafka-sync: of the {to_resend} record{} resent from the spool: {resent_delivered} delivered, \
             {resent_failed} failed",
            plural(to_resend)
        );
    }
    if let Some(t) = &txn {
        eprintln!(
            "kafka-sync: {} record{} committed in {} transaction{}, {} aborted",
            t.committed,
            plural(t.committed),
            t.transactions,
            plural(t.transactions),
            t.aborted
        );
    }
    if failed > 0 {
        if interrupted {
            tally.print_failures_as("failed or refused");
        } else {
            tally.print_failures();
        }
    }
    if let Some(why) = &stopped {
        eprintln!("kafka-sync: {why}");
    }
    if let Some(dir) = &settings.spool {
        let kept = tally.kept.load(Ordering::Relaxed);
        if kept > 0 {
            eprintln!(
                "kafka-sync: {kept} record{} not delivered stay{} in the spool {}: the next `kafka-sync \
                 produce --spool {}` sends them first",
                plural(kept),
                if kept == 1 { "s" } else { "" },
                dir.display(),
                dir.display(),
            );
        }
        if interrupted && position == 0 {
            eprintln!("kafka-sync: no input line was taken: give a new run all of the input");
        } else if interrupted {
            eprintln!(
                "kafka-sync: input lines 1-{position} were taken ({accepted} accepted by this run); run the \
                 command again with the same input to go on from line {}",
                position + 1,
            );
        }
    }
    drop(cluster);
    let aborted = txn.as_ref().is_some_and(|t| t.aborted > 0);
    let not_delivered = failed + unsent;
    Ok(if not_delivered > 0 || stopped.is_some() || aborted { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Outcomes of the records an earlier run left in the spool.
#[derive(Default)]
struct Resent {
    delivered: AtomicU64,
    failed: AtomicU64,
}

/// Key and value bytes of a record.
fn record_bytes(record: &Record) -> u64 {
    (record.key.as_ref().map_or(0, Vec::len) + record.value.as_ref().map_or(0, Vec::len)) as u64
}

/// Ctrl-C while `produce` runs: stops the reading, bounds the waiting.
struct Stop {
    interrupt: Interrupt,
    /// The most an interrupted command waits for what it sent.
    bound: Duration,
    /// The flush of an uninterrupted run: `Producer::flush`'s own bound.
    normal: Duration,
}

impl Stop {
    fn install(settings: &Settings) -> Self {
        let bound = INTERRUPTED_WAIT.min(settings.delivery_timeout);
        // Over the progress line, if there is one.
        let clear = if io::stderr().is_terminal() { "\r\x1b[K" } else { "" };
        let first = format!(
            "{clear}kafka-sync: interrupted: reading no more input; finishing what was sent (at most {:.1} s; \
             interrupt again to exit at once)",
            bound.as_secs_f64()
        );
        let again = match &settings.spool {
            Some(dir) => format!(
                "{clear}kafka-sync: interrupted again: exiting now; records not delivered stay in the spool {}",
                dir.display()
            ),
            None => format!(
                "{clear}kafka-sync: interrupted again: exiting now; records in flight may or may not be delivered"
            ),
        };
        Self {
            interrupt: Interrupt::install(first, again),
            bound,
            normal: settings.delivery_timeout + Duration::from_secs(1),
        }
    }

    fn interrupted(&self) -> bool {
        self.interrupt.is_set()
    }

    fn ready(&self) -> &crossbeam_channel::Receiver<()> {
        self.interrupt.ready()
    }

    /// When an interrupted command stops waiting; `None` if not interrupted.
    fn deadline(&self) -> Option<Instant> {
        self.interrupt.since().map(|at| at + self.bound)
    }

    /// The time left to wait after an interruption.
    fn left(&self) -> Duration {
        self.deadline().map_or(self.bound, |d| d.saturating_duration_since(Instant::now()))
    }

    /// Flushes: until every record has its outcome, for `normal` at most,
    /// or until the deadline of an interruption (which may come meanwhile).
    /// Whether every record has its outcome.
    fn flush(&self, producer: &Producer) -> bool {
        let normal_end = Instant::now() + self.normal;
        loop {
            let now = Instant::now();
            let end = match self.deadline() {
                Some(d) => d,
                None => normal_end,
            };
            if now >= end {
                return producer.flush_timeout(Duration::ZERO).is_ok();
            }
            if producer.flush_timeout(FLUSH_SLICE.min(end - now)).is_ok() {
                return true;
            }
        }
    }
}
/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
