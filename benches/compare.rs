//! kafka-sync against librdkafka, on the same broker, in the same run.
//!
//! ```text
//! cargo bench --all-features --bench compare                 # full run (about 5 minutes on 2 cores)
//! cargo bench --all-features --bench compare -- --quick      # smoke run (seconds)
//! cargo bench --all-features --bench compare -- --brokers tansu --sizes 100 --codecs none,zstd --reps 5
//! cargo bench --all-features --bench compare -- --help
//! # the transactional workload (issue 11): transactions of 1000 records
//! cargo bench --all-features --bench compare -- --brokers tansu --sizes 100,1024 --codecs none --transactional 1000 --defaults
//! cargo bench --all-features --bench compare -- --quick --brokers tansu --transactional 1000   # its smoke run
//! ```
//!
//! tansu comes from `$KAFKA_SYNC_TANSU` or the cache `.ci/tansu.sh` fills
//! (`KAFKA_SYNC_TANSU="$(.ci/tansu.sh)"`); without it the tansu rows are
//! skipped (in CI, with `CI` set, the run fails instead).
//!
//! The table is printed as markdown and written to `target/bench/compare.md`
//! (`target/bench/compare-quick.md` with `--quick`; in general
//! `compare[-txn][-defaults][-quick].md`, after `--transactional`,
//! `--defaults` and `--quick`, unless `--out` says otherwise).
//!
//! # What runs
//!
//! For every broker (a tansu 0.6.0 process the bench starts, and librdkafka's
//! mock cluster with 3 brokers hosted in this process) and every workload
//! (value size x codec), the same records go through two clients:
//!
//! - **kafka-sync**: `Producer::send_ref_with_callback` for every record,
//!   the value borrowed from the pool and, for untimed records, a callback
//!   that captures nothing (so no allocation per record, as on librdkafka's
//!   side); `send` blocks while `buffer.memory` is full; then `flush`;
//! - **librdkafka** (2.12, through `rdkafka`'s `BaseProducer`): `send`; on
//!   `QueueFull`, `poll(10 ms)` and retry; `poll(0)` after every 1000th send
//!   (as librdkafka's own `rdkafka_performance` does; `--rd-poll-every N` to
//!   change: measured here, polling after every send costs librdkafka about
//!   20% of its throughput, every 10th to 1000th send all do about the
//!   same); `flush` at the end. The delivery callback of a
//!   `ProducerContext` sees every record (the opaque is a sample index, so
//!   there is no allocation per record on this side).
//! - optionally **kafka-sync-nocb** (`--clients kafka-sync,kafka-sync-nocb,librdkafka`):
//!   kafka-sync with `send` and the handle dropped for untimed records, to
//!   show what a callback per record costs.
//!
//! Each client runs in a child process (this binary, re-executed with
//! `--child`), so the CPU time and peak RSS it reports are its own: user+sys
//! from `/proc/self/stat` (from before the producer is created to after it is
//! closed) and `VmHWM` from `/proc/self/status`. The broker runs elsewhere
//! (tansu: its own process; the mock cluster: this parent process). A fresh
//! broker is started per workload and each client run gets a fresh topic, so
//! neither client inherits the other's log. The order of the two clients
//! alternates from one workload (and repetition) to the next.
//!
//! Settings, identical for both clients (see `Settings`): acks=all,
//! idempotence on, `linger.ms`, `batch.size` (librdkafka's `batch.size` is
//! also bytes per partition batch; `batch.num.messages` is raised so the byte
//! limit is the one that binds), at most 5 requests in flight,
//! `max.request.size` / `message.max.bytes` 1 MiB, the buffer limit
//! (`buffer.memory` vs `queue.buffering.max.kbytes`, with
//! `queue.buffering.max.messages` raised so bytes bind), the codec at its
//! default level. Topics have 3 partitions; records have **null keys** (the
//! usual throughput test): kafka-sync places them with the uniform sticky
//! partitioner (switching after `batch.size` bytes), librdkafka with its
//! sticky partitioning for null keys (`sticky.partitioning.linger.ms`,
//! default twice `linger.ms`). Values are JSON-like text with varying fields
//! (compressible about 2-4x, not all zeros), from a pool of 4096 distinct
//! values.
//!
//! # What is reported
//!
//! Per client: records/s and MB/s (value bytes, 10^6 bytes, from the first
//! send until every delivery report ran; before that, each client sends one
//! warm-up record and waits for it, so connections, metadata and the
//! producer id are in place for both), CPU seconds per million records,
//! peak RSS, and p50/p99 delivery latency (from the call to `send`, including
//! any wait for buffer space, to the delivery report; every 10th record is
//! timed); then the ratio kafka-sync / librdkafka for each. Delivery errors
//! are counted and must be 0. Each number is the median over `--reps`
//! repetitions (default 3). `--rd-set KEY=VALUE` and `--ks-set KEY=VALUE`
//! add settings to one client (the table header lists them).
//!
//! The machine matters: on 2 cores the client, its I/O threads and the broker
//! share the CPU, and librdkafka's numbers move more from run to run than
//! kafka-sync's (more threads to schedule); repetitions and alternation are
//! there for that.
//!
//! # The transactional workload (`--transactional N`)
//!
//! Both clients get a `transactional.id` (unique per run: topic, parent pid
//! and time) and `transaction.timeout.ms` = 60000 (both defaults, set
//! explicitly), and a delivery timeout of 60 s (librdkafka lowers
//! `message.timeout.ms` to the transaction timeout by itself; kafka-sync's
//! `delivery.timeout.ms` is set to match). Before the clock starts, each
//! calls `init_transactions` and sends its warm-up record inside a committed
//! transaction. Timed: `begin_transaction`, N sends (as above), and
//! `commit_transaction`, until all records are sent (the last transaction
//! may be shorter); the commits are in the time and the CPU. A commit sends
//! what `linger.ms` holds back at once, waits for every record of the
//! transaction and then ends it with EndTxn. Any transactional error fails
//! the run, naming the transaction and the call; delivery errors must be 0
//! as always. The header of the table names the workload and N;
//! `--defaults`, `--clients`, `--rate` and the rest combine with it.
//!
//! librdkafka's commit needs the application to serve delivery reports
//! while it flushes (rdkafka's producer takes them as events), and rdkafka's
//! `BaseProducer::commit_transaction` does that with rdkafka's `flush`,
//! which polls in 100 ms slices that each last the full 100 ms: every
//! transaction then took at least 100 ms (a smoke run, transactions of 1000
//! on tansu: 9,800 records/s for librdkafka, 376,000 for kafka-sync).
//! That is the binding, not librdkafka, so here a second thread polls the
//! event queue while the clock runs and a commit is librdkafka's own
//! `rd_kafka_flush` (linger.ms skipped while it waits, as inside
//! `rd_kafka_commit_transaction`), then `commit_transaction`, whose flush
//! then finds nothing left. The main thread still polls every
//! `--rd-poll-every` sends. Differences left: that extra thread
//! (librdkafka's event API needs it, kafka-sync does not); the partitioners
//! (kafka-sync's sticky partitioner moves on after `batch.size` bytes, so a
//! transaction of 1000 x 100 B, 100 KB, spans more than one partition;
//! librdkafka's moves on after `sticky.partitioning.linger.ms`, 10 ms, and
//! in a smoke run with `debug=eos` kept one partition per transaction, its
//! batches sent one after the other); and librdkafka waits about 1 ms (its
//! register-partitions timer) before AddPartitionsToTxn. On tansu 0.6 both
//! clients speak transactions v1 (AddPartitionsToTxn, then Produce, then
//! EndTxn).
//!
//! Brokers: tansu runs transactions (its coordinator writes the markers).
//! librdkafka's mock cluster runs them thinly: its coordinator checks the
//! producer id and answers AddPartitionsToTxn and EndTxn, but writes no
//! markers. Both clients work against it, so its rows stay (the table says
//! so); they measure the clients' side of transactions only.

#[path = "../tests/support/mod.rs"]
mod support;

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use common::{cpu_times, key_value, list, median, parse_num, status_kib, target_dir, ChildArgs};
use kafka_sync::protocol::compression::Compression;

/// How often a record's delivery latency is measured: every `SAMPLE_EVERY`th.
const SAMPLE_EVERY: u64 = 10;
/// Distinct values in the payload pool.
const POOL: usize = 4096;
/// The longest one client run may take, process start to exit.
const CHILD_TIMEOUT: Duration = Duration::from_secs(600);
/// The longest the warm-up record (sent and awaited before the clock
/// starts) may take.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a client's final flush may take.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(180);
/// Partitions per topic.
const PARTITIONS: i32 = 3;
/// `transaction.timeout.ms` for both clients in the transactional workload
/// (both clients' default, set explicitly); also their delivery timeout
/// there (`delivery.timeout.ms` / `message.timeout.ms`: librdkafka caps the
/// latter at the transaction timeout).
const TXN_TIMEOUT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    common::main("compare", USAGE, Options::parse, parent, child::main)
}

const USAGE: &str = "\
usage: cargo bench --all-features --bench compare -- [OPTIONS]

  --quick               smoke run: 200000 records of 100 bytes, codecs none and lz4
  --brokers LIST        tansu,rdmock (default both); also tansu-tls: tansu behind
                        stunnel, both clients over TLS with server verification
  --sizes LIST          value sizes in bytes (default 100,1024)
  --codecs LIST         none,gzip,snappy,lz4,zstd (default all available)
  --clients LIST        kafka-sync,librdkafka (default both); also kafka-sync-nocb:
                        kafka-sync without a callback per record
  --records N           records per run (default 1000000 for values up to 100 bytes,
                        300000 above)
  --reps N              runs per client and workload; medians are reported (default 3;
                        1 with --quick)
  --linger-ms N         linger.ms for both clients (default 5)
  --batch-size N        batch.size in bytes for both clients (default 65536)
  --buffer-memory N     buffer.memory / queue.buffering.max.kbytes*1024 (default 33554432)
  --defaults            each client at its own defaults for batching and buffering (no
                        batch.size, buffer.memory or queue.buffering.* set; writes
                        target/bench/compare-defaults.md); linger.ms, acks=all and
                        idempotence are still set
  --transactional N     the transactional workload: both clients with a transactional.id,
                        N records per transaction (begin, N sends, commit; the time includes
                        the commits); writes target/bench/compare-txn.md (-txn-defaults
                        with --defaults)
  --out PATH            where the markdown goes (default target/bench/compare.md;
                        target/bench/compare-quick.md with --quick)
  --rd-poll-every N     librdkafka: poll(0) after every N sends (default 1000, as rdkafka_performance)
  --rate N              pace both clients at N records/s (latency at a fixed load; default: as
                        fast as they go)
  --rd-set KEY=VALUE    an extra librdkafka property (repeatable), applied last
  --ks-set KEY=VALUE    an extra kafka-sync property (repeatable), applied last
";

// ---------------------------------------------------------------------------
// Settings and options
// ---------------------------------------------------------------------------

/// What one client run does; passed to the child as `key=value` arguments.
#[derive(Debug, Clone)]
struct Settings {
    bootstrap: String,
    topic: String,
    records: u64,
    size: usize,
    codec: Compression,
    linger_ms: u64,
    batch_size: usize,
    buffer_memory: usize,
    /// librdkafka: `poll(0)` after every this many sends.
    rd_poll_every: u64,
    /// Records per second to pace sends at (0: as fast as possible).
    rate: u64,
    /// Records per transaction (`--transactional`; 0: no transactions).
    txn_records: u64,
    /// The `transactional.id`, unique per run (empty without transactions).
    transactional_id: String,
    /// Extra librdkafka properties (`--rd-set`), applied last.
    rd_extra: Vec<(String, String)>,
    /// Extra kafka-sync properties (`--ks-set`), applied last.
    ks_extra: Vec<(String, String)>,
}

impl Settings {
    fn to_args(&self) -> Vec<String> {
        let extra = |prefix: &str, kv: &[(String, String)]| -> Vec<String> {
            kv.iter().map(|(k, v)| format!("{prefix}{k}={v}")).collect()
        };
        let mut args = vec![
            format!("bootstrap={}", self.bootstrap),
            format!("topic={}", self.topic),
            format!("records={}", self.records),
            format!("size={}", self.size),
            format!("codec={}", self.codec.name()),
            format!("linger_ms={}", self.linger_ms),
            format!("batch_size={}", self.batch_size),
            format!("buffer_memory={}", self.buffer_memory),
            format!("rd_poll_every={}", self.rd_poll_every),
            format!("rate={}", self.rate),
            format!("txn_records={}", self.txn_records),
            format!("transactional_id={}", self.transactional_id),
        ];
        args.extend(extra("rd.", &self.rd_extra));
        args.extend(extra("ks.", &self.ks_extra));
        args
    }

    /// Whether record `i` is the first of a transaction.
    fn begins_txn(&self, i: u64) -> bool {
        self.txn_records > 0 && i.is_multiple_of(self.txn_records)
    }

    /// Whether record `i` is the last of a transaction (the last record of
    /// the run ends the last, maybe shorter, transaction).
    fn ends_txn(&self, i: u64) -> bool {
        self.txn_records > 0 && ((i + 1).is_multiple_of(self.txn_records) || i + 1 == self.records)
    }

    /// A transactional call that failed while record `i` was due: which
    /// transaction, which call, why.
    fn txn_failed(&self, i: u64, call: &str, e: impl std::fmt::Display) -> String {
        format!(
            "transaction {} of {} (records {}..): {call} failed: {e}",
            i / self.txn_records + 1,
            self.records.div_ceil(self.txn_records),
            i - i % self.txn_records
        )
    }

    fn from_args(args: &[String]) -> Result<Settings, String> {
        let a = ChildArgs::parse(args, &["rd.", "ks."])?;
        let (get, num) = (|k: &str| a.get(k), |k: &str| a.num(k));
        Ok(Settings {
            bootstrap: get("bootstrap")?,
            topic: get("topic")?,
            records: num("records")?,
            size: num("size")? as usize,
            codec: Compression::from_name(&get("codec")?).ok_or("unknown codec")?,
            linger_ms: num("linger_ms")?,
            batch_size: num("batch_size")? as usize,
            buffer_memory: num("buffer_memory")? as usize,
            rd_poll_every: num("rd_poll_every")?.max(1),
            rate: num("rate")?,
            txn_records: num("txn_records")?,
            transactional_id: get("transactional_id")?,
            rd_extra: a.take_prefixed("rd."),
            ks_extra: a.take_prefixed("ks."),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Broker {
    Tansu,
    RdMock,
    /// tansu behind stunnel (TLS 1.3): both clients pay for TLS.
    TansuTls,
}

impl Broker {
    fn name(self) -> &'static str {
        match self {
            Broker::Tansu => "tansu",
            Broker::RdMock => "rdmock",
            Broker::TansuTls => "tansu-tls",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Broker::Tansu => "tansu 0.6 (1 broker, separate process)",
            Broker::RdMock => "librdkafka mock (3 brokers, in the parent)",
            Broker::TansuTls => "tansu 0.6 behind stunnel (TLS, server verification; both clients encrypt)",
        }
    }
}

/// The transactional workload on librdkafka's mock cluster, for the table
/// and the log.
const RDMOCK_TXN_NOTE: &str =
    "librdkafka's mock cluster runs transactions thinly: its coordinator checks the \
     producer id and answers AddPartitionsToTxn and EndTxn but writes no commit markers, so the rdmock rows \
     measure the clients' side of transactions only (tansu writes the markers).";

/// The clients a run compares by default.
const CLIENTS: [&str; 2] = ["kafka-sync", "librdkafka"];
/// Every client `--clients` accepts: `kafka-sync-nocb` is kafka-sync without
/// a callback per record (handles dropped; outcomes from its metrics).
const ALL_CLIENTS: [&str; 3] = ["kafka-sync", "librdkafka", "kafka-sync-nocb"];

#[derive(Debug)]
struct Options {
    brokers: Vec<Broker>,
    sizes: Vec<usize>,
    codecs: Vec<Compression>,
    clients: Vec<&'static str>,
    records: Option<u64>,
    reps: usize,
    linger_ms: u64,
    batch_size: usize,
    buffer_memory: usize,
    out: PathBuf,
    quick: bool,
    rd_poll_every: u64,
    rate: u64,
    /// Records per transaction (`--transactional N`); 0: no transactions.
    transactional: u64,
    rd_extra: Vec<(String, String)>,
    ks_extra: Vec<(String, String)>,
}

impl Options {
    /// `Ok(None)` for `--help`.
    fn parse(args: &[String]) -> Result<Option<Options>, String> {
        let available: Vec<Compression> = Compression::ALL.into_iter().filter(|c| c.is_available()).collect();
        let mut o = Options {
            brokers: vec![Broker::Tansu, Broker::RdMock],
            sizes: vec![100, 1024],
            codecs: available.clone(),
            clients: CLIENTS.to_vec(),
            records: None,
            reps: 3,
            linger_ms: 5,
            batch_size: 65_536,
            buffer_memory: 32 * 1024 * 1024,
            out: target_dir().join("bench/compare.md"),
            quick: false,
            rd_poll_every: 1000,
            rate: 0,
            transactional: 0,
            rd_extra: Vec::new(),
            ks_extra: Vec::new(),
        };
        let mut explicit_codecs = false;
        let mut explicit_sizes = false;
        let mut explicit_reps = false;
        let mut explicit_out = false;
        let mut explicit_defaults = false;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || it.next().cloned().ok_or_else(|| format!("{a} needs a value"));
            match a.as_str() {
                // cargo bench passes --bench to harness=false targets.
                "--bench" => {}
                "-h" | "--help" => return Ok(None),
                "--quick" => o.quick = true,
                "--brokers" => {
                    o.brokers = list(&value()?)
                        .map(|b| match b {
                            "tansu" => Ok(Broker::Tansu),
                            "tansu-tls" => Ok(Broker::TansuTls),
                            "rdmock" | "mock" => Ok(Broker::RdMock),
                            _ => Err(format!("unknown broker {b:?} (tansu, rdmock, tansu-tls)")),
                        })
                        .collect::<Result<_, _>>()?
                }
                "--sizes" => {
                    explicit_sizes = true;
                    o.sizes = list(&value()?)
                        .map(|s| s.parse().map_err(|e| format!("--sizes {s:?}: {e}")))
                        .collect::<Result<_, _>>()?
                }
                "--codecs" => {
                    explicit_codecs = true;
                    o.codecs = list(&value()?)
                        .map(|c| {
                            let codec =
                                Compression::from_name(c).ok_or_else(|| format!("unknown codec {c:?}"))?;
                            if codec.is_available() {
                                Ok(codec)
                            } else {
                                Err(format!("codec {c} needs its feature: use --all-features"))
                            }
                        })
                        .collect::<Result<_, _>>()?
                }
                "--clients" => {
                    o.clients = list(&value()?)
                        .map(|c| {
                            ALL_CLIENTS.iter().find(|k| **k == c).copied().ok_or_else(|| {
                                format!("unknown client {c:?} (kafka-sync, librdkafka, kafka-sync-nocb)")
                            })
                        })
                        .collect::<Result<_, _>>()?
                }
                "--records" => o.records = Some(parse_num(a, &value()?)?),
                "--reps" => {
                    explicit_reps = true;
                    o.reps = parse_num(a, &value()?)?.max(1) as usize
                }
                "--linger-ms" => o.linger_ms = parse_num(a, &value()?)?,
                "--batch-size" => o.batch_size = parse_num(a, &value()?)? as usize,
                "--defaults" => {
                    o.batch_size = 0;
                    o.buffer_memory = 0;
                    explicit_defaults = true;
                }
                "--buffer-memory" => o.buffer_memory = parse_num(a, &value()?)? as usize,
                "--out" => {
                    explicit_out = true;
                    o.out = PathBuf::from(value()?)
                }
                "--rd-poll-every" => o.rd_poll_every = parse_num(a, &value()?)?.max(1),
                "--rate" => o.rate = parse_num(a, &value()?)?,
                "--transactional" => {
                    o.transactional = parse_num(a, &value()?)?;
                    if o.transactional == 0 {
                        return Err("--transactional needs at least 1 record per transaction".into());
                    }
                }
                "--rd-set" => o.rd_extra.push(key_value(&value()?)?),
                "--ks-set" => o.ks_extra.push(key_value(&value()?)?),
                other if other.starts_with('-') => return Err(format!("unknown option {other}")),
                // A positional argument (cargo bench passes filters through):
                // ignored, the options above pick workloads.
                _ => {}
            }
        }
        if o.quick {
            if !explicit_sizes {
                o.sizes = vec![100];
            }
            if !explicit_codecs {
                o.codecs =
                    [Compression::None, Compression::Lz4].into_iter().filter(|c| c.is_available()).collect();
            }
            o.records.get_or_insert(200_000);
            if !explicit_reps {
                o.reps = 1;
            }
        }
        if !explicit_out {
            // compare[-txn][-defaults][-quick].md: one file per kind of table.
            let name = format!(
                "bench/compare{}{}{}.md",
                if o.transactional > 0 { "-txn" } else { "" },
                if explicit_defaults { "-defaults" } else { "" },
                if o.quick { "-quick" } else { "" }
            );
            o.out = target_dir().join(name);
        }
        if o.brokers.is_empty() || o.sizes.is_empty() || o.codecs.is_empty() || o.clients.is_empty() {
            return Err("nothing to run".into());
        }
        Ok(Some(o))
    }

    fn records_for(&self, size: usize) -> u64 {
        self.records.unwrap_or(if size <= 100 { 1_000_000 } else { 300_000 })
    }
}

/// Milliseconds since the Unix epoch.
fn unix_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

// ---------------------------------------------------------------------------
// What a child reports
// ---------------------------------------------------------------------------

/// One client run's measurements, as the child prints them (one line of
/// flat JSON after `RESULT `).
#[derive(Debug, Clone, Default)]
struct RunResult {
    client: String,
    records: u64,
    value_bytes: u64,
    delivered: u64,
    errors: u64,
    /// First send to last delivery report.
    elapsed_s: f64,
    cpu_user_s: f64,
    cpu_sys_s: f64,
    rss_start_kib: u64,
    rss_peak_kib: u64,
    latency_samples: u64,
    p50_us: u64,
    p99_us: u64,
    p999_us: u64,
    /// Times `send` was refused with QueueFull (librdkafka only).
    queue_full: u64,
    first_error: String,
}

impl RunResult {
    fn to_line(&self) -> String {
        format!(
            "RESULT {{\"client\":\"{}\",\"records\":{},\"value_bytes\":{},\"delivered\":{},\"errors\":{},\
             \"elapsed_s\":{:.6},\"cpu_user_s\":{:.2},\"cpu_sys_s\":{:.2},\"rss_start_kib\":{},\
             \"rss_peak_kib\":{},\"latency_samples\":{},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"queue_full\":{},\
             \"first_error\":\"{}\"}}",
            self.client,
            self.records,
            self.value_bytes,
            self.delivered,
            self.errors,
            self.elapsed_s,
            self.cpu_user_s,
            self.cpu_sys_s,
            self.rss_start_kib,
            self.rss_peak_kib,
            self.latency_samples,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.queue_full,
            self.first_error.replace(['"', '\\', '\n'], "'"),
        )
    }

    /// Parses what [`to_line`](Self::to_line) wrote: flat JSON with string
    /// values free of quotes and backslashes.
    fn parse(line: &str) -> Result<RunResult, String> {
        let body = line
            .strip_prefix("RESULT ")
            .and_then(|l| l.trim().strip_prefix('{'))
            .and_then(|l| l.strip_suffix('}'))
            .ok_or_else(|| format!("not a result line: {line:?}"))?;
        let mut m = BTreeMap::new();
        let mut rest = body;
        while !rest.is_empty() {
            let rest_k = rest.strip_prefix('"').ok_or("expected a key")?;
            let (k, after) = rest_k.split_once("\":").ok_or("expected \"key\":")?;
            let (v, after) = if let Some(s) = after.strip_prefix('"') {
                let (v, a) = s.split_once('"').ok_or("unterminated string")?;
                (v, a)
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            m.insert(k, v);
            rest = after.strip_prefix(',').unwrap_or(after);
        }
        let s = |k: &str| m.get(k).copied().ok_or_else(|| format!("missing {k}"));
        let u = |k: &str| -> Result<u64, String> { s(k)?.parse().map_err(|e| format!("{k}: {e}")) };
        let f = |k: &str| -> Result<f64, String> { s(k)?.parse().map_err(|e| format!("{k}: {e}")) };
        Ok(RunResult {
            client: s("client")?.to_string(),
            records: u("records")?,
            value_bytes: u("value_bytes")?,
            delivered: u("delivered")?,
            errors: u("errors")?,
            elapsed_s: f("elapsed_s")?,
            cpu_user_s: f("cpu_user_s")?,
            cpu_sys_s: f("cpu_sys_s")?,
            rss_start_kib: u("rss_start_kib")?,
            rss_peak_kib: u("rss_peak_kib")?,
            latency_samples: u("latency_samples")?,
            p50_us: u("p50_us")?,
            p99_us: u("p99_us")?,
            p999_us: u("p999_us")?,
            queue_full: u("queue_full")?,
            first_error: s("first_error")?.to_string(),
        })
    }

    fn records_per_s(&self) -> f64 {
        self.records as f64 / self.elapsed_s
    }
    fn mb_per_s(&self) -> f64 {
        self.value_bytes as f64 / 1e6 / self.elapsed_s
    }
    fn cpu_s_per_m(&self) -> f64 {
        (self.cpu_user_s + self.cpu_sys_s) / (self.records as f64 / 1e6)
    }
    fn rss_mib(&self) -> f64 {
        self.rss_peak_kib as f64 / 1024.0
    }
}

// ---------------------------------------------------------------------------
// The parent: brokers, children, table
// ---------------------------------------------------------------------------

/// A broker for one workload, stopped on drop.
enum RunningBroker {
    Tansu(support::Tansu),
    RdMock(support::RdMock),
    TansuTls(Box<support::secure::TlsTansu>),
}

impl RunningBroker {
    fn start(b: Broker) -> Result<RunningBroker, String> {
        match b {
            Broker::Tansu => support::Tansu::start().map(RunningBroker::Tansu),
            Broker::RdMock => support::RdMock::start(3).map(RunningBroker::RdMock),
            Broker::TansuTls => {
                support::secure::TlsTansu::start().map(|t| RunningBroker::TansuTls(Box::new(t)))
            }
        }
    }
    fn bootstrap(&self) -> String {
        match self {
            RunningBroker::Tansu(t) => t.bootstrap(),
            RunningBroker::RdMock(m) => m.bootstrap(),
            RunningBroker::TansuTls(t) => t.bootstrap(),
        }
    }
    fn create_topic(&self, name: &str) -> Result<(), String> {
        match self {
            RunningBroker::Tansu(t) => t.create_topic(name, PARTITIONS),
            RunningBroker::RdMock(m) => m.create_topic(name, PARTITIONS, 3),
            RunningBroker::TansuTls(t) => t.create_topic(name, PARTITIONS),
        }
    }
    /// Connection settings both clients need (the same property names for
    /// both): TLS with the test CA for `tansu-tls`.
    fn security(&self) -> Vec<(String, String)> {
        match self {
            RunningBroker::TansuTls(t) => t.rdkafka_config(),
            _ => Vec::new(),
        }
    }
}

/// One row of the table: a broker, a workload, and each client's runs.
#[derive(Debug)]
struct Row {
    broker: Broker,
    size: usize,
    codec: Compression,
    records: u64,
    runs: BTreeMap<&'static str, Vec<RunResult>>,
    failures: Vec<String>,
}

fn parent(o: &Options) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("compare: cannot find this executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let (_, rd_version) = rdkafka::util::get_rdkafka_version();
    eprintln!(
        "compare: kafka-sync {} vs librdkafka {rd_version}; brokers {:?}, sizes {:?}, codecs {:?}, reps {}",
        env!("CARGO_PKG_VERSION"),
        o.brokers.iter().map(|b| b.name()).collect::<Vec<_>>(),
        o.sizes,
        o.codecs.iter().map(|c| c.name()).collect::<Vec<_>>(),
        o.reps
    );
    if o.transactional > 0 {
        eprintln!("compare: transactional workload, {} records per transaction", o.transactional);
        if o.brokers.contains(&Broker::RdMock) {
            eprintln!("compare: note: {RDMOCK_TXN_NOTE}");
        }
    }
    let mut rows = Vec::new();
    let mut turn = 0usize;
    let mut skipped = Vec::new();
    for &broker in &o.brokers {
        for &size in &o.sizes {
            for &codec in &o.codecs {
                let records = o.records_for(size);
                let mut row =
                    Row { broker, size, codec, records, runs: BTreeMap::new(), failures: Vec::new() };
                // A fresh broker per workload: bounded memory, no inherited log.
                let running = match RunningBroker::start(broker) {
                    Ok(r) => r,
                    Err(e) => {
                        let why = format!("{}: cannot start: {e}", broker.name());
                        eprintln!("compare: SKIP {why}");
                        if support::in_ci() {
                            eprintln!("compare: CI is set, failing");
                            return ExitCode::FAILURE;
                        }
                        skipped.push(why);
                        break;
                    }
                };
                for rep in 0..o.reps {
                    // Alternate who goes first, so drift hits both clients.
                    let mut order = o.clients.clone();
                    if turn % 2 == 1 {
                        order.reverse();
                    }
                    turn += 1;
                    for client in order {
                        let topic = format!("bench-{client}-{size}-{}-{rep}", codec.name());
                        // Unique per run: a run never inherits (or fences) another's
                        // producer id and epoch, even against a long-lived broker.
                        let transactional_id = if o.transactional > 0 {
                            format!("{topic}-{}-{}", std::process::id(), unix_ms())
                        } else {
                            String::new()
                        };
                        let settings = Settings {
                            bootstrap: running.bootstrap(),
                            topic: topic.clone(),
                            records,
                            size,
                            codec,
                            linger_ms: o.linger_ms,
                            batch_size: o.batch_size,
                            buffer_memory: o.buffer_memory,
                            rd_poll_every: o.rd_poll_every,
                            rate: o.rate,
                            txn_records: o.transactional,
                            transactional_id,
                            rd_extra: running.security().into_iter().chain(o.rd_extra.clone()).collect(),
                            ks_extra: running.security().into_iter().chain(o.ks_extra.clone()).collect(),
                        };
                        let outcome =
                            running.create_topic(&topic).and_then(|()| run_child(&exe, client, &settings));
                        match outcome {
                            Ok(r) => {
                                eprintln!(
                                    "  {:>6} {:>5} B {:>6} {:<10}  {:>10.0} rec/s  {:>7.1} MB/s  {:>5.2} CPU s/M  \
                                     {:>6.1} MiB  p50 {:>7.1} ms  p99 {:>7.1} ms  errors {}",
                                    broker.name(),
                                    size,
                                    codec.name(),
                                    client,
                                    r.records_per_s(),
                                    r.mb_per_s(),
                                    r.cpu_s_per_m(),
                                    r.rss_mib(),
                                    r.p50_us as f64 / 1e3,
                                    r.p99_us as f64 / 1e3,
                                    r.errors
                                );
                                row.runs.entry(client).or_default().push(r);
                            }
                            Err(e) => {
                                eprintln!(
                                    "  {} {size} B {} {client}: FAILED: {e}",
                                    broker.name(),
                                    codec.name()
                                );
                                row.failures.push(format!("{client}: {e}"));
                            }
                        }
                    }
                }
                drop(running);
                rows.push(row);
            }
        }
    }
    let md = render(o, &rows, &skipped, &rd_version, started.elapsed());
    println!("\n{md}");
    if let Some(dir) = o.out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&o.out, &md) {
        Ok(()) => eprintln!("compare: table written to {}", o.out.display()),
        Err(e) => eprintln!("compare: cannot write {}: {e}", o.out.display()),
    }
    let bad = rows.iter().any(|r| {
        !r.failures.is_empty() || r.runs.values().flatten().any(|x| x.errors > 0 || x.delivered != x.records)
    });
    if bad {
        eprintln!("compare: some runs failed or had delivery errors (see the table)");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs one client in a child process and parses its result line.
fn run_child(exe: &Path, client: &str, s: &Settings) -> Result<RunResult, String> {
    let args: Vec<String> = std::iter::once(client.to_string()).chain(s.to_args()).collect();
    common::run_child(exe, &args, CHILD_TIMEOUT).and_then(|l| RunResult::parse(&l))
}

/// The medians over repetitions of the numbers in the table.
#[derive(Debug, Clone, Copy)]
struct Summary {
    rps: f64,
    mbps: f64,
    cpu_per_m: f64,
    rss_mib: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    errors: u64,
    missing: u64,
}

fn summarize(runs: &[RunResult]) -> Summary {
    let m = |f: &dyn Fn(&RunResult) -> f64| median(runs.iter().map(f).collect());
    Summary {
        rps: m(&|r| r.records_per_s()),
        mbps: m(&|r| r.mb_per_s()),
        cpu_per_m: m(&|r| r.cpu_s_per_m()),
        rss_mib: m(&|r| r.rss_mib()),
        p50_ms: m(&|r| r.p50_us as f64 / 1e3),
        p99_ms: m(&|r| r.p99_us as f64 / 1e3),
        p999_ms: m(&|r| r.p999_us as f64 / 1e3),
        errors: runs.iter().map(|r| r.errors).sum(),
        missing: runs.iter().map(|r| r.records - r.delivered.min(r.records)).sum(),
    }
}

fn render(o: &Options, rows: &[Row], skipped: &[String], rd_version: &str, took: Duration) -> String {
    let mut s = String::new();
    if o.transactional > 0 {
        let _ = writeln!(
            s,
            "### kafka-sync vs librdkafka {rd_version}: transactional workload, {} records per transaction\n",
            o.transactional
        );
        let _ = writeln!(
            s,
            "Transactional workload: both clients with a `transactional.id` (unique per run), \
             transaction.timeout.ms={0} and a delivery timeout of {0} ms; `init_transactions` and the \
             warm-up record, in a committed transaction, before the clock; then `begin_transaction`, \
             {1} sends, `commit_transaction` (which sends what linger.ms holds back at once, waits for \
             every record of the transaction, then commits), until all records are sent: the time and \
             the CPU include the commits. librdkafka: rd_kafka_flush, then `commit_transaction`, \
             with a second thread polling its event queue during the timed loop.\n",
            TXN_TIMEOUT.as_millis(),
            o.transactional
        );
    } else {
        let _ = writeln!(s, "### kafka-sync vs librdkafka {rd_version}\n");
    }
    let _ = writeln!(
        s,
        "acks=all, idempotence on, linger.ms={}, {}, 3 partitions, null keys, \
         JSON-like values; kafka-sync: a callback per record; librdkafka: delivery report per record, \
         poll(0) every 1000 sends. {} rep(s), medians; {} cores; {:.0} s in all. \
         CPU = the client process' user+sys per million records; latency = send to delivery report \
         (every {SAMPLE_EVERY}th record). ratio = kafka-sync / librdkafka (> 1 is better for kafka-sync \
         in records/s and MB/s, < 1 is better for CPU, RSS and latency).\n",
        o.linger_ms,
        if o.batch_size == 0 {
            "batching and buffering at each client's defaults".to_string()
        } else {
            format!("batch.size={}, buffer {} MiB", o.batch_size, o.buffer_memory / (1024 * 1024))
        },
        o.reps,
        thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        took.as_secs_f64()
    );
    let mut extra = Vec::new();
    if o.rate > 0 {
        extra.push(format!("both clients paced at {} records/s", o.rate));
    }
    if o.rd_poll_every != 1000 {
        extra.push(format!("librdkafka polls every {} sends", o.rd_poll_every));
    }
    extra.extend(o.rd_extra.iter().map(|(k, v)| format!("librdkafka {k}={v}")));
    extra.extend(o.ks_extra.iter().map(|(k, v)| format!("kafka-sync {k}={v}")));
    if !extra.is_empty() {
        let _ = writeln!(s, "Extra settings: {}.\n", extra.join(", "));
    }
    let _ = writeln!(
        s,
        "| broker | value | codec | records | client | records/s | MB/s | CPU s / M rec | peak RSS MiB | p50 ms | p99 ms | p99.9 ms | errors |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let mut sums = BTreeMap::new();
        for (client, runs) in &r.runs {
            sums.insert(*client, summarize(runs));
        }
        for client in &o.clients {
            let Some(x) = sums.get(client) else {
                let _ = writeln!(
                    s,
                    "| {} | {} B | {} | {} | {client} | failed | | | | | | | |",
                    r.broker.name(),
                    r.size,
                    r.codec.name(),
                    r.records
                );
                continue;
            };
            let errs = if x.missing > 0 {
                format!("{} ({} missing)", x.errors, x.missing)
            } else {
                x.errors.to_string()
            };
            let _ = writeln!(
                s,
                "| {} | {} B | {} | {} | {client} | {:.0} | {:.1} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {errs} |",
                r.broker.name(),
                r.size,
                r.codec.name(),
                r.records,
                x.rps,
                x.mbps,
                x.cpu_per_m,
                x.rss_mib,
                x.p50_ms,
                x.p99_ms,
                x.p999_ms
            );
        }
        if let (Some(k), Some(l)) = (sums.get("kafka-sync"), sums.get("librdkafka")) {
            let _ = writeln!(
                s,
                "| | | | | **ratio** | **{:.2}** | **{:.2}** | **{:.2}** | **{:.2}** | **{:.2}** | **{:.2}** | **{:.2}** | |",
                k.rps / l.rps,
                k.mbps / l.mbps,
                k.cpu_per_m / l.cpu_per_m,
                k.rss_mib / l.rss_mib,
                k.p50_ms / l.p50_ms,
                k.p99_ms / l.p99_ms,
                k.p999_ms / l.p999_ms
            );
        }
    }
    let _ = writeln!(s, "\nBrokers: {}.", o.brokers.iter().map(|b| b.label()).collect::<Vec<_>>().join("; "));
    if o.transactional > 0 && o.brokers.contains(&Broker::RdMock) {
        let _ = writeln!(s, "\n{RDMOCK_TXN_NOTE}");
    }
    // The targets the project set itself (reported, not asserted).
    // kafka-sync's buffer.memory defaults to 32 MiB.
    let buffer = if o.buffer_memory == 0 { 32 << 20 } else { o.buffer_memory };
    let rss_limit = buffer as f64 / (1024.0 * 1024.0) + 32.0;
    let mut t = String::new();
    for r in rows {
        let (Some(k), Some(l)) = (r.runs.get("kafka-sync"), r.runs.get("librdkafka")) else { continue };
        let (k, l) = (summarize(k), summarize(l));
        let w = format!("{} {} B {}", r.broker.name(), r.size, r.codec.name());
        let mark = |ok: bool| if ok { "met" } else { "**not met**" };
        // Issue 12's targets, for every workload: at least 1.5x librdkafka's
        // records/s, at most 1/3 of its CPU per record.
        let x = k.rps / l.rps;
        let _ = writeln!(t, "- {w}: records/s >= 1.5x librdkafka: {x:.2}x, {}", mark(x >= 1.5));
        let c = k.cpu_per_m / l.cpu_per_m;
        let _ =
            writeln!(t, "- {w}: CPU per record <= 1/3 of librdkafka's: {c:.2}x, {}", mark(c <= 1.0 / 3.0));
        let _ = writeln!(
            t,
            "- {w}: peak RSS <= buffer.memory + 32 MiB ({rss_limit:.0} MiB): {:.1} MiB, {}",
            k.rss_mib,
            mark(k.rss_mib <= rss_limit)
        );
    }
    if !t.is_empty() {
        let _ = writeln!(s, "\nTargets (kafka-sync):\n\n{t}");
    }
    for r in rows {
        for f in &r.failures {
            let _ = writeln!(s, "- FAILED {} {} B {}: {f}", r.broker.name(), r.size, r.codec.name());
        }
    }
    for k in skipped {
        let _ = writeln!(s, "- SKIPPED {k}");
    }
    s
}

// ---------------------------------------------------------------------------
// The child: one client, one run
// ---------------------------------------------------------------------------

mod child {
    use super::*;

    use std::sync::atomic::{AtomicBool, AtomicU64};

    use kafka_sync::{Acks, Producer, ProducerConfig, Record, RecordRef};
    use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
    use rdkafka::ClientContext;

    pub fn main(args: &[String]) -> ExitCode {
        let Some((client, rest)) = args.split_first() else {
            eprintln!("--child needs a client");
            return ExitCode::from(2);
        };
        let settings = match Settings::from_args(rest) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("--child: {e}");
                return ExitCode::from(2);
            }
        };
        let outcome = match client.as_str() {
            "kafka-sync" => run_kafka_sync(&settings, true),
            "kafka-sync-nocb" => run_kafka_sync(&settings, false),
            "librdkafka" => run_librdkafka(&settings),
            other => Err(format!("unknown client {other}")),
        };
        match outcome {
            Ok(mut r) => {
                r.client = client.clone();
                println!("{}", r.to_line());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{client}: {e}");
                ExitCode::FAILURE
            }
        }
    }

    /// Counters shared with delivery callbacks. Leaked, so callbacks need no
    /// reference counting (the process ends after one run).
    struct Stats {
        ok: AtomicU64,
        errors: AtomicU64,
        first_error: parking_lot::Mutex<Option<String>>,
        /// The base of `sent_ns`.
        epoch: Instant,
        /// Send time of sample i in ns after `epoch` (librdkafka's opaque
        /// carries only the index).
        sent_ns: Vec<AtomicU64>,
        /// Latency of sample i in ns; 0 until measured.
        latency_ns: Vec<AtomicU64>,
    }

    impl Stats {
        fn leak(records: u64) -> &'static Stats {
            let samples = records.div_ceil(SAMPLE_EVERY) as usize;
            Box::leak(Box::new(Stats {
                ok: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                first_error: parking_lot::Mutex::new(None),
                epoch: Instant::now(),
                sent_ns: (0..samples).map(|_| AtomicU64::new(0)).collect(),
                latency_ns: (0..samples).map(|_| AtomicU64::new(0)).collect(),
            }))
        }
        fn now_ns(&self) -> u64 {
            self.epoch.elapsed().as_nanos() as u64
        }
        fn error(&self, e: String) {
            self.errors.fetch_add(1, Ordering::Relaxed);
            self.first_error.lock().get_or_insert(e);
        }
        fn done(&self) -> u64 {
            self.ok.load(Ordering::Acquire) + self.errors.load(Ordering::Acquire)
        }
        /// Waits until `n` delivery reports ran (flush may return just before
        /// the last callbacks finish).
        fn wait_done(&self, n: u64, timeout: Duration) -> Result<(), String> {
            let deadline = Instant::now() + timeout;
            while self.done() < n {
                if Instant::now() >= deadline {
                    return Err(format!("{} of {n} delivery reports after {timeout:?}", self.done()));
                }
                thread::sleep(Duration::from_micros(200));
            }
            Ok(())
        }
        fn percentiles(&self) -> (u64, u64, u64, u64) {
            let mut v: Vec<u64> =
                self.latency_ns.iter().map(|a| a.load(Ordering::Relaxed)).filter(|&x| x > 0).collect();
            v.sort_unstable();
            let at = |q: f64| -> u64 {
                if v.is_empty() {
                    0
                } else {
                    v[((v.len() - 1) as f64 * q).round() as usize] / 1000
                }
            };
            (v.len() as u64, at(0.50), at(0.99), at(0.999))
        }
    }

    /// With a `rate` (records/s), sleeps until record `i` is due, when that is
    /// at least 200 us away (the average rate stays exact either way).
    fn pace(start: Instant, i: u64, rate: u64) {
        if rate == 0 {
            return;
        }
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        let now = Instant::now();
        if due > now + Duration::from_micros(200) {
            thread::sleep(due - now);
        }
    }

    /// `n` distinct JSON-like values of exactly `size` bytes with varying
    /// fields: compressible, but not trivially.
    fn payloads(n: usize, size: usize) -> Vec<Vec<u8>> {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..n)
            .map(|i| {
                let mut v = Vec::with_capacity(size + 128);
                let mut j = 0;
                while v.len() < size {
                    let r = next();
                    let _ = write!(
                        Bytes(&mut v),
                        r#"{{"id":{i},"seq":{j},"user":"u{:05}","amount":{}.{:02},"region":"eu-{}","ok":{}}}"#,
                        r % 100_000,
                        (r >> 20) % 10_000,
                        (r >> 40) % 100,
                        (r >> 50) % 4,
                        r % 3 == 0
                    );
                    j += 1;
                }
                v.truncate(size);
                v
            })
            .collect()
    }

    /// `fmt::Write` into a byte vector.
    struct Bytes<'a>(&'a mut Vec<u8>);
    impl std::fmt::Write for Bytes<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.extend_from_slice(s.as_bytes());
            Ok(())
        }
    }

    struct Measure {
        cpu0: (f64, f64),
        rss_start_kib: u64,
    }

    impl Measure {
        fn start() -> Measure {
            Measure { cpu0: cpu_times(), rss_start_kib: status_kib("VmRSS") }
        }
        fn finish(self, s: &Settings, stats: &Stats, elapsed: Duration, queue_full: u64) -> RunResult {
            let cpu1 = cpu_times();
            let (samples, p50, p99, p999) = stats.percentiles();
            RunResult {
                client: String::new(),
                records: s.records,
                value_bytes: s.records * s.size as u64,
                delivered: stats.ok.load(Ordering::Acquire),
                errors: stats.errors.load(Ordering::Acquire),
                elapsed_s: elapsed.as_secs_f64(),
                cpu_user_s: cpu1.0 - self.cpu0.0,
                cpu_sys_s: cpu1.1 - self.cpu0.1,
                rss_start_kib: self.rss_start_kib,
                rss_peak_kib: status_kib("VmHWM"),
                latency_samples: samples,
                p50_us: p50,
                p99_us: p99,
                p999_us: p999,
                queue_full,
                first_error: stats.first_error.lock().clone().unwrap_or_default(),
            }
        }
    }

    /// kafka-sync. With `callbacks`, every record gets a delivery callback
    /// (like librdkafka's delivery report); without, only the timed records
    /// do, the others' handles are dropped and the outcome counts come from
    /// `Producer::metrics` after `close` (client `kafka-sync-nocb`).
    fn run_kafka_sync(s: &Settings, callbacks: bool) -> Result<RunResult, String> {
        let pool = payloads(POOL, s.size);
        let stats = Stats::leak(s.records);
        let topic: &'static str = Box::leak(s.topic.clone().into_boxed_str());
        let m = Measure::start();
        let mut config = ProducerConfig::builder()
            .bootstrap_servers(&s.bootstrap)
            .acks(Acks::All)
            .enable_idempotence(true)
            .linger(Duration::from_millis(s.linger_ms))
            .max_in_flight(5)
            .max_request_size(1024 * 1024)
            .compression(s.codec)
            .max_block(Duration::from_secs(60));
        let txn = s.txn_records > 0;
        if txn {
            config = config
                .transactional_id(&s.transactional_id)
                .transaction_timeout(TXN_TIMEOUT)
                .delivery_timeout(TXN_TIMEOUT);
        }
        let config = config
            .set_all(defaults_mode_props(s))
            .set_all(s.ks_extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .build()
            .map_err(|e| format!("config: {e}"))?;
        let producer = Producer::new(config).map_err(|e| format!("producer: {e}"))?;
        // Transactional: the producer id and epoch for the transactional id,
        // and the warm-up record in a committed transaction.
        if txn {
            producer.init_transactions(WARM_UP_TIMEOUT).map_err(|e| format!("init_transactions: {e}"))?;
            producer.begin_transaction().map_err(|e| format!("warm-up begin_transaction: {e}"))?;
        }
        // Warm up as for librdkafka: one record delivered (connections,
        // metadata, producer id) before the clock starts.
        producer
            .send(Record::new(topic).value(&pool[0]))
            .map_err(|e| format!("warm-up send: {e}"))?
            .wait_timeout(WARM_UP_TIMEOUT)
            .ok_or("warm-up record not delivered in time")?
            .map_err(|e| format!("warm-up record: {e}"))?;
        if txn {
            producer
                .commit_transaction(WARM_UP_TIMEOUT)
                .map_err(|e| format!("warm-up commit_transaction: {e}"))?;
        }
        // The untimed records' callback captures nothing (the statistics are
        // in a static), so it is stored without an allocation, as
        // librdkafka's delivery report carries only an integer opaque; the
        // values are borrowed from the pool (`send_ref`), as librdkafka's
        // `BaseRecord` borrows its payload.
        KS_STATS.get_or_init(|| stats);
        fn delivered(result: Result<kafka_sync::RecordMetadata, kafka_sync::DeliveryError>) {
            let stats = KS_STATS.get().expect("set before the first send");
            match result {
                Ok(_) => {
                    stats.ok.fetch_add(1, Ordering::Release);
                }
                Err(e) => stats.error(e.to_string()),
            }
        }
        let start = Instant::now();
        for i in 0..s.records {
            pace(start, i, s.rate);
            if s.begins_txn(i) {
                producer.begin_transaction().map_err(|e| s.txn_failed(i, "begin_transaction", e))?;
            }
            let record = RecordRef::new(topic).value(&pool[(i % POOL as u64) as usize]);
            let sample = (i % SAMPLE_EVERY == 0).then(|| ((i / SAMPLE_EVERY) as usize, Instant::now()));
            let sent = match sample {
                None if !callbacks => producer.send_ref(record).map(drop),
                None => producer.send_ref_with_callback(record, delivered),
                Some((idx, t0)) => producer.send_ref_with_callback(record, move |result| {
                    delivered(result);
                    stats.latency_ns[idx].store((t0.elapsed().as_nanos() as u64).max(1), Ordering::Relaxed);
                }),
            };
            sent.map_err(|e| format!("send {i}: {e}"))?;
            if s.ends_txn(i) {
                // Sends what is queued without waiting for linger.ms, waits
                // for every record of the transaction, then EndTxn.
                producer
                    .commit_transaction(FLUSH_TIMEOUT)
                    .map_err(|e| s.txn_failed(i, "commit_transaction", e))?;
            }
        }
        producer.flush_timeout(FLUSH_TIMEOUT).map_err(|e| format!("flush: {e}"))?;
        if callbacks {
            stats.wait_done(s.records, Duration::from_secs(10))?;
        }
        let elapsed = start.elapsed();
        producer.close(Duration::from_secs(30)).map_err(|e| format!("close: {e}"))?;
        if !callbacks {
            let metrics = producer.metrics();
            stats.ok.store(metrics.records_sent, Ordering::Release);
            stats.errors.store(metrics.records_failed, Ordering::Release);
        }
        drop(producer);
        Ok(m.finish(s, stats, elapsed, 0))
    }

    /// kafka-sync's statistics, for its delivery callback.
    static KS_STATS: std::sync::OnceLock<&'static Stats> = std::sync::OnceLock::new();

    /// librdkafka's delivery reports land here (on the thread that polls).
    struct Ctx {
        stats: &'static Stats,
        /// The warm-up record's outcome, once known.
        warm_up: parking_lot::Mutex<Option<Result<(), String>>>,
    }

    /// The opaque of librdkafka's warm-up record.
    const WARM_UP: usize = usize::MAX;

    impl ClientContext for Ctx {
        /// librdkafka's log lines (warnings, and `--rd-set debug=...`) to stderr,
        /// which the parent shows when a run fails.
        fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
            let t = self.stats.epoch.elapsed().as_secs_f64();
            eprintln!("{t:9.6} librdkafka {level:?} {fac}: {message}");
        }
    }

    impl ProducerContext for Ctx {
        /// 0: not timed; i + 1: latency sample i; [`WARM_UP`]: the warm-up record.
        type DeliveryOpaque = usize;

        fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
            let st = self.stats;
            if opaque == WARM_UP {
                let outcome = match result {
                    Ok(_) => Ok(()),
                    Err((e, _)) => Err(e.to_string()),
                };
                *self.warm_up.lock() = Some(outcome);
                return;
            }
            match result {
                Ok(_) => {
                    st.ok.fetch_add(1, Ordering::Release);
                }
                Err((e, _)) => st.error(e.to_string()),
            }
            if opaque > 0 {
                let idx = opaque - 1;
                let sent = st.sent_ns[idx].load(Ordering::Relaxed);
                st.latency_ns[idx].store(st.now_ns().saturating_sub(sent).max(1), Ordering::Relaxed);
            }
        }
    }

    /// kafka-sync's batch.size and buffer.memory, unless `--defaults` (0).
    fn defaults_mode_props(s: &Settings) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if s.batch_size > 0 {
            v.push(("batch.size", s.batch_size.to_string()));
        }
        if s.buffer_memory > 0 {
            v.push(("buffer.memory", s.buffer_memory.to_string()));
        }
        v
    }

    fn run_librdkafka(s: &Settings) -> Result<RunResult, String> {
        let pool = payloads(POOL, s.size);
        let stats = Stats::leak(s.records);
        let m = Measure::start();
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &s.bootstrap)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", s.linger_ms.to_string())
            .set("max.in.flight.requests.per.connection", "5")
            .set("message.max.bytes", (1024 * 1024).to_string())
            .set("compression.codec", s.codec.name());
        let txn = s.txn_records > 0;
        if txn {
            let ms = TXN_TIMEOUT.as_millis().to_string();
            config
                .set("transactional.id", &s.transactional_id)
                .set("transaction.timeout.ms", &ms)
                // librdkafka's default with a transactional.id: at most the
                // transaction timeout (set here to say so).
                .set("message.timeout.ms", &ms);
        }
        if s.batch_size > 0 {
            config
                .set("batch.size", s.batch_size.to_string())
                // Let bytes (batch.size) bind, not the message count (default 10000).
                .set("batch.num.messages", "1000000");
        }
        if s.buffer_memory > 0 {
            config
                .set("queue.buffering.max.kbytes", (s.buffer_memory / 1024).to_string())
                // Let bytes bind, not the message count (default 100000).
                .set("queue.buffering.max.messages", "2147483647");
        }
        for (k, v) in &s.rd_extra {
            config.set(k, v);
        }
        // rdkafka sets librdkafka's log level from the `log` crate's (off here).
        let debug = s.rd_extra.iter().any(|(k, _)| k == "debug");
        config.set_log_level(if debug { RDKafkaLogLevel::Debug } else { RDKafkaLogLevel::Warning });
        let producer: BaseProducer<Ctx> = config
            .create_with_context(Ctx { stats, warm_up: parking_lot::Mutex::new(None) })
            .map_err(|e| format!("producer: {e}"))?;
        if txn {
            producer.init_transactions(WARM_UP_TIMEOUT).map_err(|e| format!("init_transactions: {e}"))?;
            producer.begin_transaction().map_err(|e| format!("warm-up begin_transaction: {e}"))?;
        }
        // Warm up: one record delivered (connections, metadata, producer id)
        // before the clock starts; librdkafka gets its producer id
        // asynchronously, and records sent before it wait for it.
        producer
            .send(BaseRecord::<(), [u8], usize>::with_opaque_to(&s.topic, WARM_UP).payload(&pool[0]))
            .map_err(|(e, _)| format!("warm-up send: {e}"))?;
        let deadline = Instant::now() + WARM_UP_TIMEOUT;
        loop {
            producer.poll(Duration::from_millis(10));
            if let Some(outcome) = producer.context().warm_up.lock().take() {
                outcome.map_err(|e| format!("warm-up record: {e}"))?;
                break;
            }
            if Instant::now() >= deadline {
                return Err("warm-up record not delivered in time".into());
            }
        }
        if txn {
            // Delivered and reported already: nothing left to flush.
            producer
                .commit_transaction(WARM_UP_TIMEOUT)
                .map_err(|e| format!("warm-up commit_transaction: {e}"))?;
        }
        // Transactional: a second thread serves the event queue while the
        // clock runs, so that librdkafka's flush before a commit ends when
        // the last delivery report is in (see `SERVE_SLICE`).
        let serving = AtomicBool::new(txn);
        let (elapsed, queue_full) = thread::scope(|scope| {
            if txn {
                scope.spawn(|| {
                    while serving.load(Ordering::Acquire) {
                        producer.poll(SERVE_SLICE);
                    }
                });
            }
            let outcome = librdkafka_timed(s, &producer, &pool, stats);
            serving.store(false, Ordering::Release);
            outcome
        })?;
        drop(producer);
        Ok(m.finish(s, stats, elapsed, queue_full))
    }

    /// How long the serving thread's `BaseProducer::poll` lasts. rdkafka's
    /// `poll(t)` returns only after `t` (it handles events as they come
    /// meanwhile) and its last millisecond is a busy loop (librdkafka's
    /// timeouts are whole milliseconds, the remainder rounds to 0): a long
    /// slice keeps that under 0.2% of the time; the thread ends at most one
    /// slice after the clock stops.
    const SERVE_SLICE: Duration = Duration::from_millis(500);

    /// librdkafka's timed loop: the records sent, every delivery report in
    /// (and every transaction committed). Returns the time it took and the
    /// number of `QueueFull` refusals.
    fn librdkafka_timed(
        s: &Settings,
        producer: &BaseProducer<Ctx>,
        pool: &[Vec<u8>],
        stats: &Stats,
    ) -> Result<(Duration, u64), String> {
        let start = Instant::now();
        let mut queue_full = 0u64;
        for i in 0..s.records {
            pace(start, i, s.rate);
            if s.begins_txn(i) {
                producer.begin_transaction().map_err(|e| s.txn_failed(i, "begin_transaction", e))?;
            }
            let value = &pool[(i % POOL as u64) as usize];
            let opaque = if i % SAMPLE_EVERY == 0 {
                let idx = (i / SAMPLE_EVERY) as usize;
                stats.sent_ns[idx].store(stats.now_ns(), Ordering::Relaxed);
                idx + 1
            } else {
                0
            };
            let mut record = BaseRecord::<(), [u8], usize>::with_opaque_to(&s.topic, opaque).payload(value);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        queue_full += 1;
                        record = r;
                        producer.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => return Err(format!("send {i}: {e}")),
                }
            }
            if (i + 1) % s.rd_poll_every == 0 {
                producer.poll(Duration::ZERO);
            }
            if s.ends_txn(i) {
                // rd_kafka_commit_transaction flushes first, but under
                // rdkafka's `commit_transaction` that flush is rdkafka's
                // `flush`: rd_kafka_flush without waiting, then
                // `poll(100 ms)`, which returns only after the 100 ms, so
                // every commit would take at least 100 ms (measured: 9,800
                // records/s with transactions of 1000). librdkafka's own
                // flush, with the serving thread taking the delivery
                // reports, is what a C program gets; the commit then finds
                // nothing to flush.
                rd_flush(producer, FLUSH_TIMEOUT).map_err(|e| s.txn_failed(i, "rd_kafka_flush", e))?;
                producer
                    .commit_transaction(FLUSH_TIMEOUT)
                    .map_err(|e| s.txn_failed(i, "commit_transaction", e))?;
            }
        }
        producer.flush(FLUSH_TIMEOUT).map_err(|e| format!("flush: {e}"))?;
        stats.wait_done(s.records, Duration::from_secs(10))?;
        Ok((start.elapsed(), queue_full))
    }

    /// librdkafka's `rd_kafka_flush`: sends what linger.ms holds back at once
    /// and waits until every message's delivery report was served (by
    /// another thread: rdkafka's producer takes reports as events).
    fn rd_flush(producer: &BaseProducer<Ctx>, timeout: Duration) -> Result<(), String> {
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: the handle is valid while `producer` is borrowed.
        let err = unsafe { rdkafka_sys::rd_kafka_flush(producer.client().native_ptr(), ms) };
        match RDKafkaErrorCode::from(err) {
            RDKafkaErrorCode::NoError => Ok(()),
            code => Err(format!("{code} ({} messages not delivered)", producer.in_flight_count())),
        }
    }
}
