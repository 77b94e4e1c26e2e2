//! `kafka-sync produce`: one record per input line.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::ArgMatches;
use kafka_sync::{Header, Producer, Record, TransactionError};

use crate::settings::{leak_topic, Cluster, Settings};
use crate::tally::{finish, plural, Tally, Ticker};
use crate::Failure;

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
            Err(e) => Err(self.abort(producer, &format!("the transaction could not commit: {e}"))),
        }
    }

    /// Aborts the open transaction after `why`; returns the reason to stop.
    fn abort(&mut self, producer: &Producer, why: &str) -> String {
        let n = std::mem::take(&mut self.open);
        self.aborted += n;
        match patiently(|| producer.abort_transaction(TXN_WAIT)) {
            Ok(()) => format!("{why}; aborted it ({n} record{} not committed)", plural(n)),
            Err(e) => format!("{why}; aborting it failed too: {e}"),
        }
    }
}

/// An input of `produce`.
enum Input {
    Stdin,
    File(PathBuf, File),
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

    let cluster = Cluster::connect(settings.bootstrap.as_deref(), Some(topic))?;
    let producer = settings.producer(&cluster)?;
    // A partition the topic does not have: `send` would wait max.block.ms per
    // record for metadata showing it (Java's semantics, for topics that just
    // grew); a command-line load fails each record at once instead.
    let fail_fast = partition.is_some_and(|p| {
        producer.partitions_for(topic).is_ok_and(|parts| usize::try_from(p).is_ok_and(|p| p >= parts.len()))
    });
    let mut txn = Transactions::start(&producer, m.get_one::<u64>("transaction_records").copied())?;
    let tally = Arc::new(Tally::default());
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

    let mut stopped: Option<String> = None;
    let mut read: u64 = 0;
    let mut line = Vec::new();
    'inputs: for input in inputs {
        let (name, mut reader): (String, Box<dyn BufRead>) = match input {
            Input::Stdin => ("stdin".into(), Box::new(io::stdin().lock())),
            Input::File(path, file) => (path.display().to_string(), Box::new(BufReader::new(file))),
        };
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    stopped = Some(format!("cannot read {name}: {e}"));
                    break 'inputs;
                }
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            read += 1;
            let mut record = Record::new(topic);
            match separator.as_deref().and_then(|sep| find(&line, sep).map(|at| (at, sep.len()))) {
                Some((at, len)) => {
                    record = record.key_vec(line[..at].to_vec()).value_vec(line[at + len..].to_vec());
                }
                None => record = record.value_vec(line.clone()),
            }
            record.headers.clone_from(&headers);
            if let Some(p) = partition {
                record = record.partition(p);
            }
            let bytes =
                (record.key.as_ref().map_or(0, Vec::len) + record.value.as_ref().map_or(0, Vec::len)) as u64;
            let t = tally.clone();
            let on_result = move |result: Result<_, kafka_sync::DeliveryError>| match result {
                Ok(_) => t.delivered(bytes),
                Err(e) => t.failed(e.to_string()),
            };
            let sent = if fail_fast {
                producer.try_send(record).map(|h| on_result(h.wait()))
            } else {
                producer.send_with_callback(record, on_result)
            };
            match sent {
                Ok(()) => {
                    if let Some(t) = txn.as_mut() {
                        if let Err(why) = t.sent(&producer) {
                            stopped = Some(format!("stopped at input record {read}: {why}"));
                            break 'inputs;
                        }
                    }
                }
                Err(e) => {
                    let why = e.to_string();
                    let reason = tally.refused(e, &cluster);
                    // In a transactional load any refusal ends it: all or nothing.
                    if let Some(reason) = reason.or(txn.as_ref().map(|_| why)) {
                        stopped = Some(format!("stopped at input record {read}: {reason}"));
                        break 'inputs;
                    }
                }
            }
        }
    }
    // The open transaction: committed if every record so far went well,
    // aborted if the load stopped (all or nothing).
    if let Some(t) = txn.as_mut() {
        let end = match &stopped {
            Some(why) if t.open > 0 => Err(t.abort(&producer, why)),
            Some(_) => Ok(()),
            None => t.commit(&producer),
        };
        if let Err(why) = end {
            stopped = Some(why);
        }
    }
    finish(producer);
    let elapsed = started.elapsed();
    if let Some(p) = progress {
        p.stop();
        eprint!("\r\x1b[K");
    }

    let delivered = tally.delivered.load(Ordering::Relaxed);
    let failed = tally.failed_count();
    eprintln!(
        "kafka-sync: {delivered} record{} sent, {failed} failed, {} bytes, {:.3} s",
        plural(delivered),
        tally.bytes.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
    );
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
        tally.print_failures();
    }
    if let Some(why) = &stopped {
        eprintln!("kafka-sync: {why}");
    }
    drop(cluster);
    let aborted = txn.as_ref().is_some_and(|t| t.aborted > 0);
    Ok(if failed > 0 || stopped.is_some() || aborted { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
