//! `kafka-sync`: produce records, measure producer throughput and manage
//! topics from the shell, in the manner of kcat and Kafka's own tools
//! (feature `cli`).
//!
//! ```text
//! kafka-sync produce -b HOST:PORT -t TOPIC [-K SEP] [-H NAME=VALUE]... [-p N] [-z CODEC] [-X KEY=VALUE]... [FILE]...
//! kafka-sync perf    -b HOST:PORT -t TOPIC --num-records N --record-size S [--throughput R] [-X KEY=VALUE]...
//! kafka-sync topic create NAME [--partitions P] [--replication R]
//! kafka-sync topic list [--long]
//! kafka-sync topic delete NAME
//! ```
//!
//! - `produce` sends one record per line of the files (`-` or none: stdin),
//!   waits for every delivery and prints a summary on stderr.
//! - `perf` is `kafka-producer-perf-test`: progress lines every 5 s and the
//!   final line in the Java tool's format, on stdout.
//! - `topic` creates, lists and deletes topics.
//!
//! Without `-b` (or `-X bootstrap.servers=...`), every subcommand runs
//! against an embedded mock cluster (`kafka_sync::mock`) that lives as long
//! as the process, so `perf` works on a machine with no broker.
//!
//! Exit codes: 0 success; 1 a record failed or the cluster refused the
//! operation; 2 bad arguments (including a bad `-X` property).

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use clap::builder::{NonEmptyStringValueParser, PossibleValuesParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use kafka_sync::admin::Admin;
use kafka_sync::mock::MockCluster;
use kafka_sync::{
    DeliveryError, Header, Producer, ProducerConfig, Record, RecordMetadata, RecordRef, SendError,
    SendErrorKind,
};

/// Partitions of the topic created in the embedded mock cluster.
const EMBEDDED_PARTITIONS: i32 = 3;
/// How long `close` may take once every record has its outcome.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the terminal progress line of `produce` is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Distinct failure reasons kept; further ones are counted as "other".
const MAX_REASONS: usize = 20;
/// Latency samples `perf` keeps at most (as the Java tool does).
const MAX_SAMPLES: u64 = 500_000;

const ABOUT: &str = "Produce to Apache Kafka from the shell, measure producer throughput, manage topics.";

const AFTER_HELP: &str = "\
Without -b, every subcommand runs against an embedded mock cluster (one broker, in this \
process, data kept in memory and discarded at exit); `produce` and `perf` create their topic \
there with 3 partitions.

Exit status: 0 success; 1 a record failed or the cluster refused the operation; 2 bad arguments.";

fn main() -> ExitCode {
    let matches = parse_args(); // exits with 2 on bad arguments
    init_logging(matches.get_count("verbose"));
    let (name, sub) = matches.subcommand().expect("a subcommand is required");
    let result = match name {
        "produce" => produce(sub),
        "perf" => perf(sub),
        "topic" => topic(sub),
        _ => unreachable!("clap only accepts known subcommands"),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Usage(msg)) => usage_error(name, &msg),
        Err(Failure::Runtime(msg)) => {
            eprintln!("kafka-sync: {msg}");
            ExitCode::from(1)
        }
    }
}

/// Why a subcommand did not complete.
enum Failure {
    /// Bad arguments found after parsing: printed with the usage, exit 2.
    Usage(String),
    /// Something went wrong at run time: exit 1.
    Runtime(String),
}

/// Parses the command line; on bad arguments, prints the error with the
/// usage of the (sub)command it concerns, and exits with 2.
fn parse_args() -> ArgMatches {
    let args: Vec<OsString> = std::env::args_os().collect();
    let mut cmd = command();
    match cmd.try_get_matches_from_mut(&args) {
        Ok(m) => m,
        Err(mut e) => {
            // clap shows the usage with some errors only (not with a bad value).
            if e.use_stderr()
                && e.kind() != ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                && e.get(ContextKind::Usage).is_none()
            {
                cmd.build();
                let mut sub = &mut cmd;
                for arg in args.iter().skip(1) {
                    let name = arg.to_string_lossy();
                    if sub.find_subcommand(name.as_ref()).is_some() {
                        sub = sub.find_subcommand_mut(name.as_ref()).expect("just found");
                    }
                }
                e.insert(ContextKind::Usage, ContextValue::StyledStr(sub.render_usage()));
            }
            e.exit()
        }
    }
}

/// Prints `msg` with the usage of subcommand `sub`, as clap prints its own
/// errors, and exits with 2.
fn usage_error(sub: &str, msg: &str) -> ! {
    let mut cmd = command();
    cmd.build();
    let sub = cmd.find_subcommand_mut(sub).expect("a known subcommand");
    sub.error(ErrorKind::ValueValidation, msg).exit()
}

// ---- the command line ------------------------------------------------------

fn command() -> Command {
    Command::new("kafka-sync")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .after_help(AFTER_HELP)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(
            Arg::new("bootstrap")
                .short('b')
                .long("bootstrap-server")
                .visible_alias("brokers")
                .value_name("HOST:PORT[,...]")
                .global(true)
                .help("Brokers to bootstrap from (default: an embedded mock cluster)"),
        )
        .arg(
            Arg::new("verbose")
                .short('v')
                .long("verbose")
                .action(ArgAction::Count)
                .global(true)
                .help("Log debug messages to stderr (-vv: trace)"),
        )
        .subcommand(produce_command())
        .subcommand(perf_command())
        .subcommand(topic_command())
}

fn topic_arg() -> Arg {
    Arg::new("topic")
        .short('t')
        .long("topic")
        .value_name("TOPIC")
        .required(true)
        .value_parser(NonEmptyStringValueParser::new())
        .help("Topic to produce to")
}

fn property_arg() -> Arg {
    Arg::new("property")
        .short('X')
        .value_name("KEY=VALUE")
        .action(ArgAction::Append)
        .value_parser(parse_property)
        .help("Set a producer property by its Kafka name (e.g. linger.ms=5, acks=1); repeatable")
}

fn config_file_arg() -> Arg {
    Arg::new("config_file")
        .short('F')
        .long("producer.config")
        .visible_alias("command-config")
        .value_name("FILE")
        .value_parser(value_parser!(PathBuf))
        .help("Read producer properties (KEY=VALUE lines) from a file; -X settings override it")
}

fn produce_command() -> Command {
    Command::new("produce")
        .about("Send one record per input line; wait for every delivery")
        .long_about(
            "Send one record per line of the FILEs (or of stdin: no FILE, or `-`), without the \
             trailing newline, and wait for every delivery. Prints a summary on stderr (and progress, \
             when stderr is a terminal). Exits with 1 if any record failed, naming how many and why.",
        )
        .arg(topic_arg())
        .arg(
            Arg::new("key_separator")
                .short('K')
                .long("key-separator")
                .value_name("SEP")
                .value_parser(parse_separator)
                .help(
                    "Split each line at the first SEP into key and value (\\t, \\n, \\r, \\\\ escapes); \
                     a line without SEP has a null key",
                ),
        )
        .arg(
            Arg::new("header")
                .short('H')
                .long("header")
                .value_name("NAME=VALUE")
                .action(ArgAction::Append)
                .value_parser(parse_header)
                .help("Add a header to every record; repeatable"),
        )
        .arg(
            Arg::new("partition")
                .short('p')
                .long("partition")
                .value_name("N")
                .value_parser(value_parser!(i32).range(0..))
                .help("Send every record to partition N (default: the partitioner chooses)"),
        )
        .arg(compression_arg())
        .arg(property_arg())
        .arg(config_file_arg())
        .arg(
            Arg::new("files")
                .value_name("FILE")
                .action(ArgAction::Append)
                .value_parser(value_parser!(PathBuf))
                .help("Input files, read in order; `-` is stdin (default: stdin)"),
        )
}

fn compression_arg() -> Arg {
    Arg::new("compression")
        .short('z')
        .long("compression")
        .value_name("CODEC")
        .value_parser(PossibleValuesParser::new(["none", "gzip", "snappy", "lz4", "zstd"]))
        .help("Compression codec (compression.type)")
}

fn perf_command() -> Command {
    Command::new("perf")
        .about("Measure producer throughput and latency, like kafka-producer-perf-test")
        .long_about(
            "Send --num-records records of --record-size random bytes (uppercase letters) as fast as \
             possible or at --throughput records/s, and print on stdout what kafka-producer-perf-test \
             prints: a line per reporting interval and a final line with the average, maximum and \
             percentile latencies (time from send to acknowledgement, per record).",
        )
        .arg(topic_arg())
        .arg(
            Arg::new("num_records")
                .long("num-records")
                .value_name("N")
                .required(true)
                .value_parser(value_parser!(u64).range(1..))
                .help("Number of records to send"),
        )
        .arg(
            Arg::new("record_size")
                .long("record-size")
                .value_name("BYTES")
                .required(true)
                .value_parser(value_parser!(u32).range(1..))
                .help("Size of each record's value, in bytes"),
        )
        .arg(
            Arg::new("throughput")
                .long("throughput")
                .value_name("RECORDS/S")
                .default_value("-1")
                .allow_negative_numbers(true)
                .value_parser(parse_throughput)
                .help("Send at most this many records per second; -1: no limit"),
        )
        .arg(
            Arg::new("reporting_interval")
                .long("reporting-interval")
                .value_name("MS")
                .default_value("5000")
                .value_parser(value_parser!(u64).range(1..))
                .help("Milliseconds between progress lines"),
        )
        .arg(
            Arg::new("print_metrics")
                .long("print-metrics")
                .action(ArgAction::SetTrue)
                .help("Print the producer's metrics at the end"),
        )
        .arg(compression_arg())
        .arg(property_arg())
        .arg(
            Arg::new("producer_props")
                .long("producer-props")
                .value_name("KEY=VALUE")
                .num_args(1..)
                .action(ArgAction::Append)
                .value_parser(parse_property)
                .help("Producer properties, as kafka-producer-perf-test takes them (same as -X)"),
        )
        .arg(config_file_arg())
}

fn topic_command() -> Command {
    let name =
        || Arg::new("name").value_name("NAME").required(true).value_parser(NonEmptyStringValueParser::new());
    Command::new("topic")
        .about("Create, list or delete topics")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("create")
                .about("Create a topic")
                .arg(name().help("Topic name"))
                .arg(property_arg())
                .arg(config_file_arg())
                .arg(
                    Arg::new("partitions")
                        .long("partitions")
                        .value_name("P")
                        .value_parser(value_parser!(i32).range(1..))
                        .help("Number of partitions (default: the broker's num.partitions)"),
                )
                .arg(
                    Arg::new("replication")
                        .long("replication")
                        .visible_alias("replication-factor")
                        .value_name("R")
                        .value_parser(value_parser!(i16).range(1..))
                        .help("Replication factor (default: the broker's default.replication.factor)"),
                ),
        )
        .subcommand(
            Command::new("list")
                .about("List topics, one name per line")
                .arg(
                    Arg::new("long")
                        .short('l')
                        .long("long")
                        .action(ArgAction::SetTrue)
                        .help("Also print partition counts and mark internal topics"),
                )
                .arg(property_arg())
                .arg(config_file_arg()),
        )
        .subcommand(
            Command::new("delete")
                .about("Delete a topic")
                .arg(name().help("Topic name"))
                .arg(property_arg())
                .arg(config_file_arg()),
        )
}

/// `KEY=VALUE`, with the key checked against the producer's properties.
fn parse_property(s: &str) -> Result<(String, String), String> {
    let (key, value) = s.split_once('=').ok_or("expected KEY=VALUE")?;
    let key = key.trim();
    if key.is_empty() {
        return Err("expected KEY=VALUE, with a non-empty KEY".into());
    }
    ProducerConfig::builder().try_set(key, value).map_err(|e| e.to_string())?;
    Ok((key.to_owned(), value.to_owned()))
}

fn parse_header(s: &str) -> Result<Header, String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => {
            Ok(Header { key: name.to_owned(), value: Some(value.as_bytes().to_vec()) })
        }
        _ => Err("expected NAME=VALUE, with a non-empty NAME".into()),
    }
}

fn parse_separator(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut b = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            continue;
        }
        out.push(match chars.next() {
            Some('t') => b'\t',
            Some('n') => b'\n',
            Some('r') => b'\r',
            Some('\\') => b'\\',
            Some(other) => return Err(format!("unknown escape \\{other} (known: \\t \\n \\r \\\\)")),
            None => return Err("a trailing \\ escapes nothing".into()),
        });
    }
    if out.is_empty() {
        return Err("the separator must not be empty".into());
    }
    Ok(out)
}

/// Records per second; `None` for no limit (any negative value, like the Java tool).
fn parse_throughput(s: &str) -> Result<Option<f64>, String> {
    let r: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if r.is_nan() || r == 0.0 {
        return Err("expected a positive rate, or -1 for no limit".into());
    }
    Ok((r > 0.0).then_some(r))
}

// ---- logging ---------------------------------------------------------------

/// The library logs through `log`; this prints warnings and errors on
/// stderr, and debug (`-v`) or trace (`-vv`) messages too.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        match record.level() {
            log::Level::Error => eprintln!("kafka-sync: error: {}", record.args()),
            log::Level::Warn => eprintln!("kafka-sync: warning: {}", record.args()),
            level => eprintln!("[{level:<5} {}] {}", record.target(), record.args()),
        }
    }

    fn flush(&self) {}
}

fn init_logging(verbosity: u8) {
    static LOGGER: StderrLogger = StderrLogger;
    let level = match verbosity {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

// ---- cluster and producer settings -----------------------------------------

/// The producer properties of `produce` and `perf`, in the order they apply:
/// the config file, then `-X` (and `--producer-props`), then `-z`.
struct Settings {
    properties: Vec<(String, String)>,
    bootstrap: Option<String>,
}

impl Settings {
    /// Reads and checks the settings: any error is a usage error, found
    /// before anything starts.
    fn from_matches(m: &ArgMatches, client_id: &str) -> Result<Self, Failure> {
        let mut properties = vec![("client.id".to_owned(), client_id.to_owned())];
        if let Ok(Some(path)) = m.try_get_one::<PathBuf>("config_file") {
            properties.extend(read_properties_file(path)?);
        }
        for id in ["property", "producer_props"] {
            if let Ok(Some(values)) = m.try_get_many::<(String, String)>(id) {
                properties.extend(values.cloned());
            }
        }
        if let Ok(Some(codec)) = m.try_get_one::<String>("compression") {
            properties.push(("compression.type".into(), codec.clone()));
        }
        let bootstrap = m.get_one::<String>("bootstrap").cloned().or_else(|| {
            properties
                .iter()
                .rev()
                .find(|(k, _)| k == "bootstrap.servers" || k == "metadata.broker.list")
                .map(|(_, v)| v.clone())
        });
        let settings = Self { properties, bootstrap };
        // Range and consistency checks happen in `build`: run them now, with
        // a stand-in address if the embedded cluster will provide the real one.
        settings.config(settings.bootstrap.as_deref().unwrap_or("127.0.0.1:9092"))?;
        Ok(settings)
    }

    fn config(&self, bootstrap: &str) -> Result<ProducerConfig, Failure> {
        ProducerConfig::builder()
            .set_all(self.properties.iter().map(|(k, v)| (k, v)))
            .bootstrap_servers(bootstrap)
            .build()
            .map_err(|e| Failure::Usage(format!("invalid producer configuration: {e}")))
    }

    fn producer(&self, cluster: &Cluster) -> Result<Producer, Failure> {
        let config = self.config(&cluster.bootstrap)?;
        Producer::new(config).map_err(|e| Failure::Runtime(format!("cannot start the producer: {e}")))
    }
}

/// Java-style properties: `KEY=VALUE` (or `KEY: VALUE`) lines; `#` and `!`
/// start comments.
fn read_properties_file(path: &PathBuf) -> Result<Vec<(String, String)>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (k, v) = line.split_once(['=', ':']).ok_or_else(|| {
            Failure::Usage(format!("{}:{}: expected KEY=VALUE, found {line:?}", path.display(), n + 1))
        })?;
        let (k, v) = (k.trim(), v.trim());
        ProducerConfig::builder()
            .try_set(k, v)
            .map_err(|e| Failure::Usage(format!("{}:{}: {e}", path.display(), n + 1)))?;
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

/// The cluster to talk to: the one named by `-b`, or an embedded mock that
/// lives as long as this value.
struct Cluster {
    bootstrap: String,
    embedded: Option<MockCluster>,
}

impl Cluster {
    /// Uses `bootstrap`, or starts an embedded mock cluster (and creates
    /// `topic` in it) if there is none.
    fn connect(bootstrap: Option<&str>, topic: Option<&str>) -> Result<Self, Failure> {
        if let Some(b) = bootstrap {
            return Ok(Self { bootstrap: b.to_owned(), embedded: None });
        }
        let mock = MockCluster::start(1)
            .map_err(|e| Failure::Runtime(format!("cannot start the embedded mock cluster: {e}")))?;
        if let Some(t) = topic {
            mock.create_topic(t, EMBEDDED_PARTITIONS, 1)
                .map_err(|e| Failure::Runtime(format!("cannot create topic {t:?}: {e}")))?;
        }
        let bootstrap = mock.bootstrap_servers();
        eprintln!(
            "kafka-sync: no -b given: using an embedded mock cluster at {bootstrap} (data is not persisted)"
        );
        Ok(Self { bootstrap, embedded: Some(mock) })
    }
}

/// A `&'static str` for the topic, so that every `Record::new` is free.
fn leak_topic(m: &ArgMatches) -> &'static str {
    Box::leak(m.get_one::<String>("topic").expect("required").clone().into_boxed_str())
}

// ---- outcome accounting ----------------------------------------------------

/// Outcomes of the records of one run, updated from the producer's threads.
#[derive(Default)]
struct Tally {
    /// Records acknowledged.
    delivered: AtomicU64,
    /// Key and value bytes of the acknowledged records.
    bytes: AtomicU64,
    /// Records refused by `send` or failed in delivery.
    failed: AtomicU64,
    /// Failure counts by reason.
    reasons: Mutex<HashMap<String, u64>>,
}

impl Tally {
    fn delivered(&self, bytes: u64) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn failed(&self, reason: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut reasons = self.reasons.lock().unwrap_or_else(PoisonError::into_inner);
        let len = reasons.len();
        match reasons.get_mut(&reason) {
            Some(n) => *n += 1,
            None if len < MAX_REASONS => {
                reasons.insert(reason, 1);
            }
            None => *reasons.entry("(other reasons)".into()).or_default() += 1,
        }
    }

    /// Counts a record `send` refused. Returns why to stop if no later
    /// record can fare better (unknown topic, producer closed or failed).
    fn refused(&self, e: SendError<Record>, cluster: &Cluster) -> Option<String> {
        self.refused_as(e.to_string(), e.kind(), &e.record().topic, cluster)
    }

    /// [`Self::refused`] for any record type: the error's text and kind, and
    /// the record's topic.
    fn refused_as(
        &self,
        msg: String,
        kind: &SendErrorKind,
        topic: &str,
        cluster: &Cluster,
    ) -> Option<String> {
        self.failed(msg);
        let same = "later records would fail the same way";
        match kind {
            SendErrorKind::UnknownTopic => match cluster.embedded {
                Some(_) => Some(same.into()),
                None => Some(format!(
                    "{same} (is the cluster at {} reachable, and does topic {:?} exist?)",
                    cluster.bootstrap, topic
                )),
            },
            SendErrorKind::InvalidTopic | SendErrorKind::Closed | SendErrorKind::Fatal(_) => {
                Some(same.into())
            }
            _ => None,
        }
    }

    fn failed_count(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// `kafka-sync: N records failed:` and one line per reason, most
    /// frequent first.
    fn print_failures(&self) {
        let reasons = self.reasons.lock().unwrap_or_else(PoisonError::into_inner);
        let mut reasons: Vec<_> = reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let n = self.failed_count();
        eprintln!("kafka-sync: {n} record{} failed:", plural(n));
        for (reason, count) in reasons {
            eprintln!("kafka-sync: {count:>8} x {reason}");
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A thread that calls `tick` every `every` until stopped.
struct Ticker {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Ticker {
    fn start(every: Duration, mut tick: impl FnMut() + Send + 'static) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::spawn(move || loop {
            match stopped.recv_timeout(every) {
                Err(RecvTimeoutError::Timeout) => tick(),
                _ => return,
            }
        });
        Self { stop, thread }
    }

    fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

/// Flushes and closes, logging what goes wrong: every record's outcome is
/// known, and every callback has run, when `close` returns, whatever it
/// returns.
fn finish(producer: Producer) {
    if let Err(e) = producer.flush() {
        log::warn!("flush: {e}");
    }
    if let Err(e) = producer.close(CLOSE_TIMEOUT) {
        log::warn!("close: {e}");
    }
}

// ---- produce ---------------------------------------------------------------

/// An input of `produce`.
enum Input {
    Stdin,
    File(PathBuf, File),
}

fn produce(m: &ArgMatches) -> Result<ExitCode, Failure> {
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
            if let Err(e) = sent {
                if let Some(reason) = tally.refused(e, &cluster) {
                    stopped = Some(format!("stopped at input record {read}: {reason}"));
                    break 'inputs;
                }
            }
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
    if failed > 0 {
        tally.print_failures();
    }
    if let Some(why) = &stopped {
        eprintln!("kafka-sync: {why}");
    }
    drop(cluster);
    Ok(if failed > 0 || stopped.is_some() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---- perf ------------------------------------------------------------------

fn perf(m: &ArgMatches) -> Result<ExitCode, Failure> {
    let topic = leak_topic(m);
    let settings = Settings::from_matches(m, "perf-producer-client")?;
    let num_records = *m.get_one::<u64>("num_records").expect("required");
    let record_size = *m.get_one::<u32>("record_size").expect("required") as usize;
    let throughput = *m.get_one::<Option<f64>>("throughput").expect("has a default");
    let interval = Duration::from_millis(*m.get_one::<u64>("reporting_interval").expect("has a default"));

    let cluster = Cluster::connect(settings.bootstrap.as_deref(), Some(topic))?;
    let producer = settings.producer(&cluster)?;
    // One `perf` per process: its statistics live in a static, so the
    // delivery callback captures nothing (a zero-sized closure is stored
    // without an allocation), and payloads are borrowed windows of one
    // buffer (as Kafka's tool reuses its payload): nothing is allocated per
    // record.
    let stats: &'static PerfStats = PERF_STATS.get_or_init(|| PerfStats {
        stats: Mutex::new(Stats::new(num_records)),
        tally: Tally::default(),
        record_size: record_size as u64,
    });
    let reporter = Ticker::start(interval, move || {
        if let Some(line) = stats.lock().window_line() {
            print_line(&line);
        }
    });
    let mut payloads = Payloads::new(record_size);
    let start = Instant::now();
    stats.lock().restart(start);
    let mut stopped = None;
    for i in 0..num_records {
        let sent =
            producer.send_ref_with_callback(RecordRef::new(topic).value(payloads.next()), perf_delivered);
        if let Err(e) = sent {
            if let Some(reason) = stats.tally.refused_as(e.to_string(), e.kind(), topic, &cluster) {
                stopped = Some(format!("stopped after {i} records: {reason}"));
                break;
            }
        }
        if let Some(rate) = throughput {
            pace(start, i + 1, rate);
        }
    }
    // Every record's outcome, then the numbers, as the Java tool does. Only
    // `close` guarantees that every callback has run (it joins the threads
    // that run them; `flush` returns once the records are resolved, which
    // can be just before their callbacks run).
    if let Err(e) = producer.flush() {
        log::warn!("flush: {e}");
    }
    let elapsed = start.elapsed();
    reporter.stop();
    let metrics = m.get_flag("print_metrics").then(|| producer.metrics());
    if let Err(e) = producer.close(CLOSE_TIMEOUT) {
        log::warn!("close: {e}");
    }
    print_line(&stats.lock().total_line(elapsed));
    if let Some(metrics) = metrics {
        print_line(&format!("{metrics:#?}"));
    }
    let failed = stats.tally.failed_count();
    if failed > 0 {
        stats.tally.print_failures();
    }
    if let Some(why) = &stopped {
        eprintln!("kafka-sync: {why}");
    }
    drop(cluster);
    Ok(if failed > 0 || stopped.is_some() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// A line on stdout; a closed stdout (`| head`) is not an error worth a panic.
fn print_line(line: &str) {
    let _ = writeln!(io::stdout().lock(), "{line}");
}

/// Sleeps until `sent` records are due at `rate` records/s since `start`,
/// if that is at least a millisecond away (shorter sleeps cost more than
/// they pace; the average rate stays exact either way).
fn pace(start: Instant, sent: u64, rate: f64) {
    let due = start + Duration::from_secs_f64(sent as f64 / rate);
    let now = Instant::now();
    if due > now + Duration::from_millis(1) {
        thread::sleep(due - now);
    }
}

/// Payloads of random uppercase letters (as the Java tool sends): windows
/// at pseudo-random offsets of one random buffer, so that making a payload
/// costs one copy.
struct Payloads {
    buf: Vec<u8>,
    size: usize,
    rng: u64,
}

impl Payloads {
    const SPREAD: usize = 4096;

    fn new(size: usize) -> Self {
        let mut p = Self { buf: Vec::with_capacity(size + Self::SPREAD), size, rng: 0x9E37_79B9_7F4A_7C15 };
        for _ in 0..size + Self::SPREAD {
            let r = p.next_random();
            p.buf.push(b'A' + (r % 26) as u8);
        }
        p
    }

    /// xorshift64*: fast, and good enough for payloads.
    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn next(&mut self) -> &[u8] {
        let at = (self.next_random() >> 32) as usize % Self::SPREAD;
        &self.buf[at..at + self.size]
    }
}

/// What the delivery callbacks of `perf` update.
struct PerfStats {
    stats: Mutex<Stats>,
    tally: Tally,
    record_size: u64,
}

/// The statistics of this process' `perf` run (see `perf`).
static PERF_STATS: OnceLock<PerfStats> = OnceLock::new();

/// `perf`'s delivery callback. The latency (send to acknowledgement) is the
/// producer's own per-record timing, taken from clock readings it shares
/// per request: no clock is read here.
fn perf_delivered(result: Result<RecordMetadata, DeliveryError>) {
    let Some(s) = PERF_STATS.get() else { return };
    match result {
        Ok(m) => s.lock().record(m.latency(), s.record_size),
        Err(e) => s.tally.failed(e.to_string()),
    }
}

impl PerfStats {
    fn lock(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Latency and throughput of acknowledged records, over the whole run and
/// the current reporting window, as in Kafka's `ProducerPerformance.Stats`:
/// latencies in microseconds, every `sampling`-th one kept for percentiles.
struct Stats {
    start: Instant,
    count: u64,
    bytes: u64,
    total_latency: u64,
    max_latency: u64,
    window_start: Instant,
    window_count: u64,
    window_bytes: u64,
    window_total_latency: u64,
    window_max_latency: u64,
    sampling: u64,
    samples: Vec<u32>,
}

impl Stats {
    fn new(num_records: u64) -> Self {
        let sampling = num_records / num_records.min(MAX_SAMPLES);
        let now = Instant::now();
        Self {
            start: now,
            count: 0,
            bytes: 0,
            total_latency: 0,
            max_latency: 0,
            window_start: now,
            window_count: 0,
            window_bytes: 0,
            window_total_latency: 0,
            window_max_latency: 0,
            sampling,
            samples: Vec::with_capacity((num_records / sampling + 1) as usize),
        }
    }

    fn restart(&mut self, now: Instant) {
        self.start = now;
        self.window_start = now;
    }

    fn record(&mut self, latency: Duration, bytes: u64) {
        let us = latency.as_micros().min(u32::MAX as u128) as u64;
        if self.count % self.sampling == 0 {
            self.samples.push(us as u32);
        }
        self.count += 1;
        self.bytes += bytes;
        self.total_latency += us;
        self.max_latency = self.max_latency.max(us);
        self.window_count += 1;
        self.window_bytes += bytes;
        self.window_total_latency += us;
        self.window_max_latency = self.window_max_latency.max(us);
    }

    /// The Java tool's window line, and a new window; `None` if no record
    /// completed in this one.
    fn window_line(&mut self) -> Option<String> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.window_start).as_secs_f64();
        let line = (self.window_count > 0).then(|| {
            format!(
                "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
                self.window_count,
                self.window_count as f64 / elapsed,
                self.window_bytes as f64 / elapsed / (1024.0 * 1024.0),
                ms(self.window_total_latency) / self.window_count as f64,
                ms(self.window_max_latency),
            )
        });
        self.window_start = now;
        self.window_count = 0;
        self.window_bytes = 0;
        self.window_total_latency = 0;
        self.window_max_latency = 0;
        line
    }

    /// The Java tool's final line (`printTotal`), to the same format.
    fn total_line(&mut self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        self.samples.sort_unstable();
        let percentile = |p: f64| -> u64 {
            let n = self.samples.len();
            if n == 0 {
                return 0;
            }
            u64::from(self.samples[((p * n as f64) as usize).min(n - 1)]) / 1000
        };
        let avg = if self.count == 0 { 0.0 } else { ms(self.total_latency) / self.count as f64 };
        format!(
            "{} records sent, {:.6} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, \
             {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            self.count as f64 / secs,
            self.bytes as f64 / secs / (1024.0 * 1024.0),
            avg,
            ms(self.max_latency),
            percentile(0.5),
            percentile(0.95),
            percentile(0.99),
            percentile(0.999),
        )
    }
}

/// Microseconds to milliseconds.
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

// ---- topic -----------------------------------------------------------------

fn topic(m: &ArgMatches) -> Result<ExitCode, Failure> {
    let (action, sub) = m.subcommand().expect("a topic subcommand is required");
    // The connection settings (security.protocol, ssl.*, sasl.*) come from
    // -X and -F (alias --command-config, as kafka-topics.sh names it).
    let settings = Settings::from_matches(sub, "kafka-sync-admin")?;
    let cluster = Cluster::connect(settings.bootstrap.as_deref(), None)?;
    let admin = Admin::from_config(&settings.config(&cluster.bootstrap)?);
    match action {
        "create" => {
            let name = sub.get_one::<String>("name").expect("required");
            let partitions = sub.get_one::<i32>("partitions").copied().unwrap_or(-1);
            let replication = sub.get_one::<i16>("replication").copied().unwrap_or(-1);
            admin
                .create_topic(name, partitions, replication)
                .map_err(|e| Failure::Runtime(format!("cannot create topic {name:?}: {e}")))?;
            print_line(&format!("Created topic {name}."));
        }
        "list" => {
            let topics =
                admin.list_topics().map_err(|e| Failure::Runtime(format!("cannot list topics: {e}")))?;
            let long = sub.get_flag("long");
            for t in topics {
                if long {
                    let internal = if t.internal { "\tinternal" } else { "" };
                    print_line(&format!("{}\t{} partitions{internal}", t.name, t.partitions));
                } else {
                    print_line(&t.name);
                }
            }
        }
        "delete" => {
            let name = sub.get_one::<String>("name").expect("required");
            admin
                .delete_topic(name)
                .map_err(|e| Failure::Runtime(format!("cannot delete topic {name:?}: {e}")))?;
            print_line(&format!("Deleted topic {name}."));
        }
        _ => unreachable!("clap only accepts known subcommands"),
    }
    drop(cluster);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn separators_unescape() {
        assert_eq!(parse_separator("\\t").unwrap(), b"\t");
        assert_eq!(parse_separator("::").unwrap(), b"::");
        assert_eq!(parse_separator("a\\\\b").unwrap(), b"a\\b");
        assert!(parse_separator("\\q").is_err());
        assert!(parse_separator("\\").is_err());
    }

    #[test]
    fn properties_are_checked_by_key() {
        assert_eq!(parse_property("linger.ms=5").unwrap(), ("linger.ms".into(), "5".into()));
        assert!(parse_property("no.such.key=1").unwrap_err().contains("no.such.key"));
        assert!(parse_property("linger.ms").is_err());
    }

    #[test]
    fn throughput_minus_one_means_no_limit() {
        assert_eq!(parse_throughput("-1").unwrap(), None);
        assert_eq!(parse_throughput("250.5").unwrap(), Some(250.5));
        assert!(parse_throughput("0").is_err());
        assert!(parse_throughput("fast").is_err());
    }

    #[test]
    fn percentiles_as_in_the_java_tool() {
        let mut s = Stats::new(1000);
        for ms in 1..=1000u64 {
            s.record(Duration::from_millis(ms), 10);
        }
        let line = s.total_line(Duration::from_secs(1));
        assert!(
            line.starts_with("1000 records sent, 1000.000000 records/sec (0.01 MB/sec), 500.50 ms avg latency, 1000.00 ms max latency, 501 ms 50th, 951 ms 95th, 991 ms 99th, 1000 ms 99.9th."),
            "{line}"
        );
    }

    #[test]
    fn payloads_are_uppercase_letters_of_the_size_asked() {
        let mut p = Payloads::new(100);
        let a = p.next().to_vec();
        let b = p.next().to_vec();
        assert_eq!(a.len(), 100);
        assert!(a.iter().all(u8::is_ascii_uppercase));
        assert_ne!(a, b);
    }
}
