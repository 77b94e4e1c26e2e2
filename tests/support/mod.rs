//! Brokers and an independent reader for the interoperability tests.
//!
//! Integration tests pull this in with `mod support;`. It starts brokers that
//! nobody here wrote and reads back what was produced with a client nobody here
//! wrote:
//!
//! - [`Tansu`]: a `tansu` 0.6.0 broker process (a Kafka-compatible broker in Rust)
//!   with in-memory storage on a free loopback port, killed on drop. The binary is
//!   `$KAFKA_SYNC_TANSU`, else `$HOME/.cache/kafka-sync/bin/tansu`, where
//!   `.ci/tansu.sh` installs it.
//! - [`RdMock`]: librdkafka's mock cluster (through the `rdkafka` crate), with
//!   several brokers and fault injection.
//! - [`read_back`] / [`read_to_end`]: librdkafka's consumer (`BaseConsumer`),
//!   assigned every partition of a topic from offset 0.
//! - [`fetch::fetch_partition`]: one partition's raw log through Fetch
//!   requests made by `kafka-protocol`, transaction markers included (which
//!   consumers never hand to applications), with producer ids and sequences.
//! - [`secure`]: TLS (stunnel) and SASL (`sasl_proxy.py`) in front of tansu,
//!   with certificates made at test time.
//!
//! Every wait here is bounded. A test that cannot get a broker goes through
//! [`require_broker`]: in CI (`CI` set) it fails, elsewhere it prints `SKIP:` and
//! returns.
//!
//! ```ignore
//! mod support;
//! use std::time::Duration;
//!
//! #[test]
//! fn produces_to_tansu() {
//!     let Some(tansu) = support::require_broker("produces_to_tansu", support::Tansu::start()) else {
//!         return;
//!     };
//!     tansu.create_topic("t", 3).unwrap();
//!     // ... produce to tansu.bootstrap() ...
//!     let records = support::read_back(&tansu.bootstrap(), "t", 100, Duration::from_secs(30));
//!     assert_eq!(records.len(), 100);
//! }
//! ```

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod drive;
pub mod fetch;
pub mod history;
pub mod proxy;
pub mod secure;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use kafka_sync::protocol::compression::Compression;
use kafka_sync::{Producer, ProducerConfig};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

/// How long a broker may take to accept connections after it was started.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// How long topic creation (the command and the wait for metadata) may take.
pub const TOPIC_TIMEOUT: Duration = Duration::from_secs(20);

/// The tansu version the tests are written against (its quirks included).
pub const TANSU_VERSION: &str = "0.6.0";

/// The hint printed with every `SKIP:` line.
const ENABLE_HINT: &str = "run `eval \"$(.ci/test-env.sh)\"` (or set KAFKA_SYNC_TANSU) to enable";

// ---------------------------------------------------------------------------
// CI / skip policy
// ---------------------------------------------------------------------------

/// Whether the tests run in CI: `CI` is set to anything but `""`, `0` or `false`.
pub fn in_ci() -> bool {
    match std::env::var("CI") {
        Ok(v) => !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"),
        Err(_) => false,
    }
}

/// Applies the broker policy to a broker that may not have started.
///
/// `Ok(broker)` gives `Some(broker)`. On `Err(why)`: in CI this panics with
/// `why` (a test that needs a broker and has none fails there); elsewhere it
/// prints ``SKIP: <test>: <why>; run `eval "$(.ci/test-env.sh)"` (or set
/// KAFKA_SYNC_TANSU) to enable`` and returns `None`, and the test should return.
pub fn require_broker<T>(test: &str, result: Result<T, String>) -> Option<T> {
    match result {
        Ok(broker) => Some(broker),
        Err(why) if in_ci() => panic!("{test}: no broker in CI (CI is set): {why}"),
        Err(why) => {
            // Written to the process' stderr directly: the test harness captures
            // `eprintln!` and shows it only for failing tests.
            let _ = writeln!(std::io::stderr(), "SKIP: {test}: {why}; {ENABLE_HINT}");
            None
        }
    }
}

// ---------------------------------------------------------------------------
// Small process and network helpers
// ---------------------------------------------------------------------------

/// A directory for logs under the target dir (`CARGO_TARGET_TMPDIR`).
fn log_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kafka-sync-brokers");
    let _ = fs::create_dir_all(&dir);
    dir
}

/// A port on 127.0.0.1 that was free a moment ago. Another process may take it
/// before the broker binds it; [`Tansu::start`] retries on that.
fn free_loopback_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot bind a loopback port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("local_addr: {e}"))
}

/// Runs `cmd` to completion, killing it after `timeout`. Stdout and stderr are
/// captured (read on their own threads, so a chatty child cannot block).
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    let mut out_pipe = child.stdout.take().expect("piped stdout");
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(|e| format!("waiting for {what}: {e}"))? {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} did not finish within {timeout:?}"));
            }
            None => thread::sleep(Duration::from_millis(20)),
        }
    };
    Ok(Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

/// The last `max` bytes of a file, lossily as text, for error messages.
fn tail_of(path: &Path, max: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::from("<no log>");
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

// ---------------------------------------------------------------------------
// tansu
// ---------------------------------------------------------------------------

/// Where the tansu binary is: `$KAFKA_SYNC_TANSU`, else the cache `.ci/tansu.sh`
/// installs into (`$KAFKA_SYNC_CACHE/bin/tansu`, by default
/// `$HOME/.cache/kafka-sync/bin/tansu`).
pub fn tansu_path() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("KAFKA_SYNC_TANSU").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("KAFKA_SYNC_TANSU={} is not a file", p.display()))
        };
    }
    let cache = match std::env::var_os("KAFKA_SYNC_CACHE").filter(|p| !p.is_empty()) {
        Some(c) => PathBuf::from(c),
        None => {
            let home = std::env::var_os("HOME").ok_or("tansu not found: KAFKA_SYNC_TANSU and HOME unset")?;
            Path::new(&home).join(".cache/kafka-sync")
        }
    };
    let p = cache.join("bin/tansu");
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!("tansu not found at {} and KAFKA_SYNC_TANSU unset", p.display()))
    }
}

/// A running tansu broker (single node, in-memory storage) on 127.0.0.1.
///
/// Dropping it kills the process and reaps it. If the dropping thread is
/// panicking, the tail of the broker's log is printed to stderr.
///
/// What tansu 0.6.0 does, as seen from librdkafka 2.12 here:
/// - ApiVersions advertises Produce v0-v11, Metadata v0-v12, InitProducerId
///   v0-v5, CreateTopics v0-v7, DeleteTopics v0-v6, ApiVersions v0-v4.
/// - One broker, node id 111; no replication.
/// - Metadata with `allow_auto_topic_creation` creates an unknown topic (with 4
///   partitions); create topics explicitly to control the count.
/// - ListOffsets(latest) answers the base offset of the last batch + 1 instead of
///   the high watermark; Fetch answers carry the right high watermark (see
///   [`read_to_end`]).
/// - `tansu topic create` of an existing topic exits 1 ("Topic with this name
///   already exists"), so [`Tansu::create_topic`] returns `Err` then.
#[derive(Debug)]
pub struct Tansu {
    child: Child,
    port: u16,
    binary: PathBuf,
    log: PathBuf,
}

impl Tansu {
    /// Starts a broker on a free loopback port and waits (at most
    /// [`STARTUP_TIMEOUT`]) until it accepts connections.
    ///
    /// Runs `tansu broker --storage-engine=memory://tansu/
    /// --listener-url=tcp://127.0.0.1:PORT
    /// --advertised-listener-url=tcp://127.0.0.1:PORT --cluster-id=...`, logging
    /// to a file under the target dir ([`Tansu::log_path`]).
    pub fn start() -> Result<Tansu, String> {
        let binary = tansu_path()?;
        check_tansu_version(&binary)?;
        // The port is free when picked, but another process may bind it before
        // tansu does; then tansu exits at once and we try another port.
        let mut last_err = String::new();
        for _ in 0..3 {
            match Self::start_on(&binary, free_loopback_port()?, None) {
                Ok(t) => return Ok(t),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    /// Like [`Tansu::start`], but the broker advertises `127.0.0.1:advertised`
    /// (a proxy in front of it) in metadata, so that every connection a
    /// client makes after bootstrap goes through that port.
    pub fn start_advertising(advertised: u16) -> Result<Tansu, String> {
        let binary = tansu_path()?;
        check_tansu_version(&binary)?;
        let mut last_err = String::new();
        for _ in 0..3 {
            match Self::start_on(&binary, free_loopback_port()?, Some(advertised)) {
                Ok(t) => return Ok(t),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    fn start_on(binary: &Path, port: u16, advertised: Option<u16>) -> Result<Tansu, String> {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let log = log_dir().join(format!("tansu-{}-{n}-{port}.log", std::process::id()));
        let log_file = File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let log_err = log_file.try_clone().map_err(|e| format!("cannot dup log file: {e}"))?;
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised_url = format!("tcp://127.0.0.1:{}", advertised.unwrap_or(port));
        let mut cmd = Command::new(binary);
        cmd.arg("broker")
            .arg("--storage-engine=memory://tansu/")
            .arg(format!("--listener-url={url}"))
            .arg(format!("--advertised-listener-url={advertised_url}"))
            .arg(format!("--cluster-id=kafka-sync-test-{port}"))
            // tansu reads its settings from these too; flags win, but an OTLP
            // endpoint in the environment would make it export telemetry.
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("SCHEMA_REGISTRY")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err);
        let child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut tansu = Tansu { child, port, binary: binary.to_path_buf(), log };
        tansu.wait_until_accepting(STARTUP_TIMEOUT)?;
        Ok(tansu)
    }

    fn wait_until_accepting(&mut self, timeout: Duration) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "tansu exited with {status} before accepting connections on {addr}; log {}:\n{}",
                    self.log.display(),
                    tail_of(&self.log, 4000)
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "tansu did not accept connections on {addr} within {timeout:?}; log {}:\n{}",
                    self.log.display(),
                    tail_of(&self.log, 4000)
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's log file (stdout and stderr).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Creates a topic with `tansu topic create NAME --partitions N --broker
    /// tcp://127.0.0.1:PORT` (tansu has no replication: one replica), then waits
    /// until metadata shows all its partitions with a leader.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), String> {
        let started = Instant::now();
        let out = run_bounded(
            Command::new(&self.binary)
                .args(["topic", "create", name])
                .arg(format!("--partitions={partitions}"))
                .arg(format!("--broker=tcp://127.0.0.1:{}", self.port))
                .env("NO_COLOR", "1"),
            TOPIC_TIMEOUT,
        )?;
        if !out.status.success() {
            return Err(format!(
                "tansu topic create {name} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        wait_for_topic(&self.bootstrap(), name, partitions, TOPIC_TIMEOUT.saturating_sub(started.elapsed()))
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- tansu on port {} (log {}), last lines:\n{}\n---",
                self.port,
                self.log.display(),
                tail_of(&self.log, 4000)
            );
        }
    }
}

fn check_tansu_version(binary: &Path) -> Result<(), String> {
    let out = run_bounded(Command::new(binary).arg("--version"), Duration::from_secs(10))?;
    let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if got == format!("tansu {TANSU_VERSION}") {
        Ok(())
    } else {
        Err(format!("{} --version says {got:?}, the tests need tansu {TANSU_VERSION}", binary.display()))
    }
}

// ---------------------------------------------------------------------------
// This crate's producer
// ---------------------------------------------------------------------------

/// This crate's producer for the interoperability tests: `codec`, idempotent
/// or not, a 5 ms linger, 20 s `max_block`, 60 s `delivery_timeout`.
pub fn producer(bootstrap: &str, codec: Compression, idempotent: bool) -> Producer {
    let cfg = ProducerConfig::builder()
        .bootstrap_servers(bootstrap)
        .compression(codec)
        .enable_idempotence(idempotent)
        .linger(Duration::from_millis(5))
        .max_block(Duration::from_secs(20))
        .delivery_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    Producer::new(cfg).unwrap()
}

// ---------------------------------------------------------------------------
// librdkafka's mock cluster
// ---------------------------------------------------------------------------

/// librdkafka's mock cluster: `n` brokers on 127.0.0.1 ephemeral ports, run by
/// librdkafka threads inside the test process. Stopped on drop.
///
/// [`RdMock::cluster`] gives the `rdkafka` handle for fault injection
/// (`request_errors`, `partition_leader`, `broker_down`/`broker_up`,
/// `broker_round_trip_time`, ...). Broker ids are `1..=n`. The mock does not
/// implement CreateTopics: create topics with [`RdMock::create_topic`]; it
/// auto-creates unknown topics on Metadata requests that allow it.
pub struct RdMock {
    cluster: MockCluster<'static, DefaultProducerContext>,
    brokers: i32,
}

impl std::fmt::Debug for RdMock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdMock")
            .field("brokers", &self.brokers)
            .field("bootstrap", &self.bootstrap())
            .finish()
    }
}

impl RdMock {
    /// Starts a mock cluster with `brokers` brokers (3 is typical).
    pub fn start(brokers: i32) -> Result<RdMock, String> {
        let cluster = MockCluster::new(brokers).map_err(|e| format!("librdkafka mock cluster: {e}"))?;
        Ok(RdMock { cluster, brokers })
    }

    /// The brokers' `127.0.0.1:PORT` list, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// How many brokers the cluster has (ids `1..=n`).
    pub fn brokers(&self) -> i32 {
        self.brokers
    }

    /// Creates a topic (`replication` at most the broker count), then waits
    /// until metadata shows all its partitions with a leader.
    pub fn create_topic(&self, name: &str, partitions: i32, replication: i32) -> Result<(), String> {
        self.cluster
            .create_topic(name, partitions, replication)
            .map_err(|e| format!("mock create_topic({name}, {partitions}, {replication}): {e}"))?;
        wait_for_topic(&self.bootstrap(), name, partitions, TOPIC_TIMEOUT)
    }

    /// The underlying `rdkafka` mock cluster, for fault injection.
    pub fn cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }
}

// ---------------------------------------------------------------------------
// Reading back with librdkafka
// ---------------------------------------------------------------------------

/// One record as librdkafka's consumer read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// The partition it was read from.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// The key; `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// The value; `None` for a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// The headers in order: key and value (`None` for a null value).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// The timestamp in milliseconds since the epoch: the create time, or the
    /// log append time when the topic uses it; `None` if absent.
    pub timestamp: Option<i64>,
}

/// A consumer that is assigned partitions by hand and never joins its group
/// nor commits: librdkafka needs a `group.id` for `assign`, but with manual
/// assignment and no commits it only looks up the coordinator, which works
/// with brokers whose group support is limited.
fn consumer(bootstrap: &str, extra: &[(&str, &str)]) -> Result<BaseConsumer, String> {
    static CONSUMERS: AtomicUsize = AtomicUsize::new(0);
    let group =
        format!("kafka-sync-read-back-{}-{}", std::process::id(), CONSUMERS.fetch_add(1, Ordering::Relaxed));
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .set("socket.timeout.ms", "10000")
        .set("topic.metadata.refresh.interval.ms", "1000");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config.create().map_err(|e| format!("cannot create rdkafka consumer for {bootstrap}: {e}"))
}

/// The topic's partition ids from metadata, once all `expected` (if given)
/// exist and have a leader. Retries until `deadline`.
fn partitions_of(
    consumer: &BaseConsumer,
    topic: &str,
    expected: Option<i32>,
    deadline: Instant,
) -> Result<Vec<i32>, String> {
    let mut last;
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        match consumer.fetch_metadata(Some(topic), left.min(Duration::from_secs(5))) {
            Ok(md) => match md.topics().iter().find(|t| t.name() == topic) {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                    let ready = t.partitions().iter().all(|p| p.error().is_none() && p.leader() >= 0);
                    let ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
                    match expected {
                        Some(n) if ids.len() != n as usize => {
                            last = format!("metadata shows {} partitions, want {n}", ids.len())
                        }
                        _ if !ready => last = String::from("some partitions have no leader yet"),
                        _ => return Ok(ids),
                    }
                }
                Some(t) => last = format!("topic error {:?}", t.error()),
                None => last = String::from("topic missing from metadata"),
            },
            Err(e) => last = format!("metadata request failed: {e}"),
        }
        if Instant::now() >= deadline {
            return Err(format!("topic {topic}: {last}"));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (at most `timeout`) until `topic` has `partitions` partitions with a
/// leader in the metadata of the cluster at `bootstrap`.
pub fn wait_for_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<(), String> {
    let c = consumer(bootstrap, &[])?;
    partitions_of(&c, topic, Some(partitions), Instant::now() + timeout).map(|_| ())
}

fn to_record(m: &rdkafka::message::BorrowedMessage<'_>) -> ConsumedRecord {
    let headers = m
        .headers()
        .map(|hs| hs.iter().map(|h| (h.key.to_string(), h.value.map(|v| v.to_vec()))).collect())
        .unwrap_or_default();
    ConsumedRecord {
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(|k| k.to_vec()),
        value: m.payload().map(|v| v.to_vec()),
        headers,
        timestamp: m.timestamp().to_millis(),
    }
}

/// Reads `topic` from offset 0 of every partition with librdkafka's consumer
/// until `expected_count` records arrived or `timeout` passed, and returns them
/// (fewer on timeout; a note goes to stderr). Records of one partition come in
/// offset order; partitions interleave.
///
/// The consumer uses librdkafka's default `isolation.level=read_committed`;
/// see [`read_back_with`] to change that or any other setting.
pub fn read_back(
    bootstrap: &str,
    topic: &str,
    expected_count: usize,
    timeout: Duration,
) -> Vec<ConsumedRecord> {
    read_back_with(bootstrap, topic, expected_count, timeout, &[])
}

/// [`read_back`] with extra librdkafka consumer settings, such as
/// `("isolation.level", "read_uncommitted")`.
pub fn read_back_with(
    bootstrap: &str,
    topic: &str,
    expected_count: usize,
    timeout: Duration,
    extra: &[(&str, &str)],
) -> Vec<ConsumedRecord> {
    let deadline = Instant::now() + timeout;
    let c = match consumer(bootstrap, extra) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("read_back({topic}): {e}");
            return Vec::new();
        }
    };
    if let Err(e) = assign_from_start(&c, topic, deadline) {
        eprintln!("read_back({topic}): {e}");
        return Vec::new();
    }
    let mut out = Vec::with_capacity(expected_count);
    let mut last_err = None;
    while out.len() < expected_count {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            eprintln!(
                "read_back({topic}): {} of {expected_count} records within {timeout:?}{}",
                out.len(),
                last_err.map(|e| format!("; last consumer error: {e}")).unwrap_or_default()
            );
            break;
        }
        match c.poll(left.min(Duration::from_millis(200))) {
            Some(Ok(m)) => out.push(to_record(&m)),
            Some(Err(e)) => last_err = Some(e),
            None => {}
        }
    }
    out
}

/// Reads every record of `topic` from offset 0 until librdkafka reports the
/// end of every partition, or `timeout` passes (`Err` then, with what it got).
/// Unlike [`read_back`], it sees records beyond an expected count, so
/// duplicates show up.
///
/// The end is librdkafka's partition EOF (`enable.partition.eof`), which it
/// raises when a Fetch answer leaves it at the partition's high watermark.
/// The high watermark from ListOffsets is not used: tansu 0.6.0 answers
/// ListOffsets(latest) with the base offset of the last batch + 1, not the last
/// offset + 1 (its Fetch answers carry the right one).
pub fn read_to_end(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<ConsumedRecord>, (String, Vec<ConsumedRecord>)> {
    let deadline = Instant::now() + timeout;
    let c = consumer(bootstrap, &[("enable.partition.eof", "true")]).map_err(|e| (e, Vec::new()))?;
    let partitions = assign_from_start(&c, topic, deadline).map_err(|e| (e, Vec::new()))?;
    let mut at_end = BTreeSet::new();
    let mut out = Vec::new();
    let mut last_err = None;
    while at_end.len() < partitions.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let why = format!(
                "read_to_end({topic}): reached the end of partitions {at_end:?} of {partitions:?} \
                 within {timeout:?} ({} records){}",
                out.len(),
                last_err.map(|e| format!("; last consumer error: {e}")).unwrap_or_default()
            );
            return Err((why, out));
        }
        match c.poll(left.min(Duration::from_millis(200))) {
            Some(Ok(m)) => {
                // A record after an EOF: more arrived; that partition is not done.
                at_end.remove(&m.partition());
                out.push(to_record(&m));
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => last_err = Some(e),
            None => {}
        }
    }
    Ok(out)
}

/// Assigns every partition of `topic` from the beginning; returns their ids.
fn assign_from_start(c: &BaseConsumer, topic: &str, deadline: Instant) -> Result<Vec<i32>, String> {
    let partitions = partitions_of(c, topic, None, deadline)?;
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .map_err(|e| format!("assign {topic}/{p}: {e}"))?;
    }
    c.assign(&tpl).map_err(|e| format!("assign {topic}: {e}"))?;
    Ok(partitions)
}

/// Sends the library's `log` output to stderr when `KAFKA_SYNC_LOG` is set
/// (`error`, `warn`, `info`, `debug` or `trace`). Call at the start of a test.
pub fn init_log() {
    struct L(log::LevelFilter);
    impl log::Log for L {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= self.0
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!(
                    "[{:?} {} {}] {}",
                    std::thread::current().name().unwrap_or("?"),
                    r.level(),
                    r.target(),
                    r.args()
                );
            }
        }
        fn flush(&self) {}
    }
    let Ok(level) = std::env::var("KAFKA_SYNC_LOG") else { return };
    let level = level.parse().unwrap_or(log::LevelFilter::Debug);
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let logger: &'static L = Box::leak(Box::new(L(level)));
        let _ = log::set_logger(logger).map(|()| log::set_max_level(level));
    });
}
