//! The `kafka-sync` binary, run as a user runs it: against its embedded mock
//! cluster (no `-b`), or against a `MockCluster` started here and passed
//! with `-b`, so that what arrived can be read back.
//!
//! Every run is bounded: a child still running after [`LIMIT`] is killed
//! and the test fails.
#![cfg(feature = "cli")]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kafka_sync::mock::{DropPoint, MockCluster, StoredRecord};
use kafka_sync::protocol::api_key;
use kafka_sync::protocol::compression::Compression;
use kafka_sync::Header;
use regex::Regex;

const BIN: &str = env!("CARGO_BIN_EXE_kafka-sync");
const LIMIT: Duration = Duration::from_secs(60);

/// What a run printed and how it ended.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn code(&self) -> i32 {
        self.status.code().expect("exited, not killed by a signal")
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Starts the binary with `args`, its stdin, stdout and stderr piped.
fn start(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kafka-sync")
}

/// Runs the binary with `args` and `stdin`, killing it after [`LIMIT`].
fn run(args: &[&str], stdin: &[u8]) -> Run {
    let started = Instant::now();
    let mut child = start(args);
    let input = stdin.to_vec();
    let mut pipe = child.stdin.take().unwrap();
    let writer = thread::spawn(move || {
        let _ = pipe.write_all(&input); // the child may exit without reading
    });
    let out = reader(&mut child, true);
    let err = reader(&mut child, false);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for kafka-sync") {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kafka-sync {args:?} still running after {LIMIT:?}: killed");
        }
        thread::sleep(Duration::from_millis(10));
    };
    writer.join().unwrap();
    Run { status, stdout: out.join().unwrap(), stderr: err.join().unwrap(), elapsed: started.elapsed() }
}

fn reader(child: &mut Child, stdout: bool) -> thread::JoinHandle<String> {
    let mut pipe: Box<dyn Read + Send> =
        if stdout { Box::new(child.stdout.take().unwrap()) } else { Box::new(child.stderr.take().unwrap()) };
    thread::spawn(move || {
        let mut s = String::new();
        pipe.read_to_string(&mut s).unwrap();
        s
    })
}

fn cluster_with(topic: &str, partitions: i32) -> MockCluster {
    let cluster = MockCluster::start(1).unwrap();
    cluster.create_topic(topic, partitions, 1).unwrap();
    cluster
}

fn all_records(cluster: &MockCluster, topic: &str) -> Vec<StoredRecord> {
    let n = cluster.partition_count(topic).unwrap();
    (0..n).flat_map(|p| cluster.records(topic, p)).collect()
}

fn header(key: &str, value: &str) -> Header {
    Header { key: key.into(), value: Some(value.as_bytes().to_vec()) }
}

// ---- perf ------------------------------------------------------------------

/// The final line of `kafka-producer-perf-test` (Kafka's
/// `ProducerPerformance.Stats.printTotal`): `%d records sent, %f records/sec
/// (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, %d ms 50th, %d ms
/// 95th, %d ms 99th, %d ms 99.9th.`
const TOTAL_LINE: &str = r"^(\d+) records sent, \d+\.\d{6} records/sec \(\d+\.\d{2} MB/sec\), \d+\.\d{2} ms avg latency, \d+\.\d{2} ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99\.9th\.$";

/// Its progress line (`printWindow`): `%d records sent, %.1f records/sec
/// (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.`
const WINDOW_LINE: &str = r"^\d+ records sent, \d+\.\d records/sec \(\d+\.\d{2} MB/sec\), \d+\.\d ms avg latency, \d+\.\d ms max latency\.$";

#[test]
fn perf_on_the_embedded_mock_prints_the_java_tools_final_line() {
    let r = run(&["perf", "-t", "perf-test", "--num-records", "20000", "--record-size", "100"], b"");
    assert_eq!(r.code(), 0, "{r:?}");
    let last = r.stdout.lines().last().expect("a final line");
    let caps = Regex::new(TOTAL_LINE).unwrap().captures(last).unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(&caps[1], "20000", "every record is acknowledged: {r:?}");
    assert!(r.stderr.contains("no -b given: using an embedded mock cluster at 127.0.0.1:"), "{r:?}");
    assert!(r.stderr.contains("(data is not persisted)"), "{r:?}");
}

/// `--print-metrics`: the table Kafka's perf tool prints after the final
/// line (`ToolsUtils.printMetrics`): a header, then `group:name:{tags} :
/// value` sorted by name, values with three decimals; the totals match the run.
#[test]
fn perf_print_metrics_prints_kafkas_metrics_table() {
    let r =
        run(&["perf", "-t", "pm", "--num-records", "5000", "--record-size", "100", "--print-metrics"], b"");
    assert_eq!(r.code(), 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    let header = lines.iter().position(|l| l.starts_with("Metric Name")).unwrap_or_else(|| panic!("{r:?}"));
    assert!(Regex::new(TOTAL_LINE).unwrap().is_match(lines[header - 2]), "{r:?}");
    assert!(lines[header].trim_end().ends_with("   Value"), "{:?}", lines[header]);
    let row = Regex::new(
        r"^(producer-(?:metrics|topic-metrics|node-metrics)):([a-z-]+):\{([^}]*)\} +: (-?\d+\.\d{3}|NaN)$",
    )
    .unwrap();
    let rows = &lines[header + 1..];
    assert!(rows.len() > 40, "{r:?}");
    let mut names = Vec::new();
    for l in rows {
        let caps = row.captures(l).unwrap_or_else(|| panic!("not a metrics row: {l:?}"));
        names.push(format!("{}:{}:{{{}}}", &caps[1], &caps[2], &caps[3]));
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "rows sorted by name");
    let value = |prefix: &str| -> f64 {
        let l = rows.iter().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix}"));
        l.rsplit(": ").next().unwrap().parse().unwrap()
    };
    assert_eq!(value("producer-metrics:record-send-total:{client-id=perf-producer-client}"), 5000.0);
    assert_eq!(
        value("producer-topic-metrics:record-send-total:{client-id=perf-producer-client, topic=pm}"),
        5000.0
    );
    assert_eq!(value("producer-metrics:record-error-total:"), 0.0);
}

#[test]
fn perf_throttles_and_prints_progress_lines() {
    // 2000 records at 4000/s: half a second, with a line every 100 ms.
    let r = run(
        &[
            "perf",
            "-t",
            "slow",
            "--num-records",
            "2000",
            "--record-size",
            "10",
            "--throughput",
            "4000",
            "--reporting-interval",
            "100",
        ],
        b"",
    );
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(r.elapsed >= Duration::from_millis(450), "not throttled: {r:?}");
    let window = Regex::new(WINDOW_LINE).unwrap();
    let lines: Vec<&str> = r.stdout.lines().collect();
    let (last, progress) = lines.split_last().unwrap();
    assert!(progress.len() >= 2, "expected progress lines: {r:?}");
    assert!(progress.iter().all(|l| window.is_match(l)), "{r:?}");
    assert!(Regex::new(TOTAL_LINE).unwrap().is_match(last), "{r:?}");
}

#[test]
fn perf_against_a_given_cluster_writes_the_records_there() {
    let cluster = cluster_with("bench", 2);
    let b = cluster.bootstrap_servers();
    let r = run(
        &["perf", "-b", &b, "-t", "bench", "--num-records", "500", "--record-size", "64", "-X", "acks=1"],
        b"",
    );
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(!r.stderr.contains("embedded"), "{r:?}");
    let records = all_records(&cluster, "bench");
    assert_eq!(records.len(), 500);
    assert!(records.iter().all(|r| r.value.as_ref().is_some_and(|v| v.len() == 64)));
}

// ---- produce ---------------------------------------------------------------

#[test]
fn produce_splits_keys_and_adds_headers() {
    let cluster = cluster_with("orders", 3);
    let b = cluster.bootstrap_servers();
    let input = b"k1:v1\nk2:v:2\nno key here\n\n";
    let r = run(&["produce", "-b", &b, "-t", "orders", "-K", ":", "-H", "trace=abc", "-H", "src=cli"], input);
    assert_eq!(r.code(), 0, "{r:?}");
    // Key and value bytes: 2+2, 2+3, 0+11, 0+0.
    assert!(r.stderr.contains("4 records sent, 0 failed, 20 bytes"), "{r:?}");

    let mut got: Vec<_> = all_records(&cluster, "orders").into_iter().map(|r| (r.key, r.value)).collect();
    got.sort();
    let some = |s: &str| Some(s.as_bytes().to_vec());
    assert_eq!(
        got,
        [(None, some("")), (None, some("no key here")), (some("k1"), some("v1")), (some("k2"), some("v:2"))]
    );
    for rec in all_records(&cluster, "orders") {
        assert_eq!(rec.headers, [header("trace", "abc"), header("src", "cli")]);
    }
}

/// Values a `read_committed` reader of the mock sees in `topic`.
fn committed(cluster: &MockCluster, topic: &str) -> Vec<String> {
    let n = cluster.partition_count(topic).unwrap();
    let mut v: Vec<String> = (0..n)
        .flat_map(|p| cluster.records_read_committed(topic, p))
        .map(|r| String::from_utf8(r.value.unwrap()).unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn a_transactional_load_is_all_or_nothing() {
    let cluster = cluster_with("load", 2);
    let b = cluster.bootstrap_servers();
    let txn = ["produce", "-b", &b, "-t", "load", "-X", "transactional.id=nightly"];
    // The broker rejects one record in delivery: nothing is committed.
    cluster.push_request_errors(0, &[kafka_sync::KafkaCode::INVALID_RECORD]);
    let r = run(&txn, b"a\nb\nc\n");
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(r.stderr.contains("0 records committed in 0 transactions, 3 aborted"), "{r:?}");
    assert!(r.stderr.contains("INVALID_RECORD"), "{r:?}");
    assert!(committed(&cluster, "load").is_empty(), "{:?}", committed(&cluster, "load"));
    // Run again: all of it, once.
    let r = run(&txn, b"a\nb\nc\n");
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(r.stderr.contains("3 records committed in 1 transaction, 0 aborted"), "{r:?}");
    assert_eq!(committed(&cluster, "load"), ["a", "b", "c"]);
    // --transaction-records: earlier transactions stay committed when a
    // later one fails.
    let mut args = txn.to_vec();
    args.extend(["--transaction-records", "2"]);
    let r = run(&args, b"d\ne\nf\ng\n");
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(r.stderr.contains("4 records committed in 2 transactions, 0 aborted"), "{r:?}");
    assert_eq!(committed(&cluster, "load"), ["a", "b", "c", "d", "e", "f", "g"]);
}

#[test]
fn produce_to_a_fixed_partition_keeps_line_order() {
    let cluster = cluster_with("fixed", 3);
    let b = cluster.bootstrap_servers();
    let lines: String = (0..100).map(|i| format!("line {i}\n")).collect();
    let r = run(&["produce", "-b", &b, "-t", "fixed", "-p", "2"], lines.as_bytes());
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(cluster.records("fixed", 0).is_empty() && cluster.records("fixed", 1).is_empty());
    let values: Vec<String> = cluster
        .records("fixed", 2)
        .into_iter()
        .map(|r| String::from_utf8(r.value.unwrap()).unwrap())
        .collect();
    assert_eq!(values, (0..100).map(|i| format!("line {i}")).collect::<Vec<_>>());
}

#[test]
fn produce_compresses_with_gzip() {
    let cluster = cluster_with("zipped", 1);
    let b = cluster.bootstrap_servers();
    let r = run(&["produce", "-b", &b, "-t", "zipped", "-z", "gzip"], b"one\ntwo\nthree\n");
    assert_eq!(r.code(), 0, "{r:?}");
    let records = cluster.records("zipped", 0);
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r.compression == Compression::Gzip), "{records:?}");
    assert_eq!(records[2].value.as_deref(), Some(&b"three"[..]));
}

#[test]
fn produce_reads_files_in_order_and_dash_is_stdin() {
    let cluster = cluster_with("files", 1);
    let b = cluster.bootstrap_servers();
    let dir = temp_dir("files");
    let (f1, f2) = (dir.join("a.txt"), dir.join("b.txt"));
    std::fs::write(&f1, "a1\na2\n").unwrap();
    std::fs::write(&f2, "b1\nb2-no-newline").unwrap();
    let r = run(
        &["produce", "-b", &b, "-t", "files", f1.to_str().unwrap(), "-", f2.to_str().unwrap()],
        b"stdin\n",
    );
    assert_eq!(r.code(), 0, "{r:?}");
    let values: Vec<Vec<u8>> = cluster.records("files", 0).into_iter().map(|r| r.value.unwrap()).collect();
    assert_eq!(values, [&b"a1"[..], b"a2", b"stdin", b"b1", b"b2-no-newline"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn properties_come_from_a_file_and_x_including_bootstrap_servers() {
    let cluster = cluster_with("props", 1);
    let dir = temp_dir("props");
    let file = dir.join("producer.properties");
    std::fs::write(&file, "# a Java producer config\ncompression.type=snappy\nacks: 1\n").unwrap();
    let bootstrap = format!("bootstrap.servers={}", cluster.bootstrap_servers());
    let r = run(&["produce", "-t", "props", "-F", file.to_str().unwrap(), "-X", &bootstrap], b"v\n");
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(!r.stderr.contains("embedded"), "-X bootstrap.servers counts as -b: {r:?}");
    assert_eq!(cluster.records("props", 0)[0].compression, Compression::Snappy);

    std::fs::write(&file, "no.such.key=1\n").unwrap();
    let r = run(&["produce", "-t", "props", "-F", file.to_str().unwrap()], b"");
    assert_eq!(r.code(), 2, "{r:?}");
    assert!(r.stderr.contains("producer.properties:1: `no.such.key` is not a producer property"), "{r:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn produce_without_b_uses_the_embedded_mock() {
    let r = run(&["produce", "-t", "local"], b"hello\nworld\n");
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(r.stderr.contains("no -b given: using an embedded mock cluster"), "{r:?}");
    assert!(r.stderr.contains("2 records sent, 0 failed, 10 bytes"), "{r:?}");
}

#[test]
fn a_missing_input_file_fails_before_connecting() {
    let r = run(&["produce", "-t", "x", "/no/such/file"], b"");
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(r.stderr.contains("cannot open /no/such/file"), "{r:?}");
    assert!(!r.stderr.contains("embedded"), "{r:?}");
}

// ---- failures --------------------------------------------------------------

#[test]
fn a_partition_out_of_range_fails_every_record_with_exit_1() {
    let cluster = cluster_with("small", 3);
    let b = cluster.bootstrap_servers();
    let r = run(&["produce", "-b", &b, "-t", "small", "-p", "99"], b"a\nb\nc\n");
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(r.stderr.contains("0 records sent, 3 failed"), "{r:?}");
    assert!(r.stderr.contains("3 records failed:"), "{r:?}");
    assert!(
        r.stderr.contains("3 x send failed: partition 99 is out of range: the topic has 3 partitions"),
        "{r:?}"
    );
}

#[test]
fn records_larger_than_max_request_size_fail_and_the_rest_are_sent() {
    let cluster = cluster_with("big", 1);
    let b = cluster.bootstrap_servers();
    let input = format!("small\n{}\nsmall again\n", "x".repeat(2000));
    let r = run(&["produce", "-b", &b, "-t", "big", "-X", "max.request.size=1000"], input.as_bytes());
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(r.stderr.contains("2 records sent, 1 failed"), "{r:?}");
    assert!(r.stderr.contains("1 x send failed: record of "), "{r:?}");
    assert!(r.stderr.contains("larger than the limit of 1000 bytes"), "{r:?}");
    assert_eq!(cluster.records("big", 0).len(), 2);
}

#[test]
fn records_the_broker_rejects_are_counted_by_reason() {
    let cluster = cluster_with("strict", 1);
    cluster.set_max_message_bytes(500);
    let b = cluster.bootstrap_servers();
    let input = format!("ok\n{}\n", "y".repeat(1000));
    // linger.ms=0 and one request in flight: one batch per record, so that
    // only the large one is rejected.
    let r = run(
        &[
            "produce",
            "-b",
            &b,
            "-t",
            "strict",
            "-X",
            "linger.ms=0",
            "-X",
            "max.in.flight.requests.per.connection=1",
        ],
        input.as_bytes(),
    );
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(r.stderr.contains("1 record sent, 1 failed"), "{r:?}");
    assert!(r.stderr.contains("1 x record too large: batch of "), "{r:?}");
    assert!(r.stderr.contains("larger than max.message.bytes 500"), "{r:?}");
}

#[test]
fn an_unreachable_broker_fails_quickly_with_exit_1() {
    let port = unused_port();
    let b = format!("127.0.0.1:{port}");
    let r = run(
        &[
            "produce",
            "-b",
            &b,
            "-t",
            "nowhere",
            "-X",
            "max.block.ms=500",
            "-X",
            "delivery.timeout.ms=1500",
            "-X",
            "request.timeout.ms=1000",
            "-X",
            "linger.ms=0",
        ],
        b"a\nb\nc\n",
    );
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(r.elapsed < Duration::from_secs(10), "{r:?}");
    assert!(r.stderr.contains("0 records sent, 1 failed"), "{r:?}");
    assert!(r.stderr.contains("topic not present in metadata"), "{r:?}");
    assert!(r.stderr.contains(&format!("is the cluster at {b} reachable")), "{r:?}");
}

#[test]
fn perf_against_an_unreachable_broker_fails_quickly_with_exit_1() {
    let b = format!("127.0.0.1:{}", unused_port());
    let r = run(
        &[
            "perf",
            "-b",
            &b,
            "-t",
            "t",
            "--num-records",
            "10",
            "--record-size",
            "10",
            "-X",
            "max.block.ms=500",
        ],
        b"",
    );
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(r.elapsed < Duration::from_secs(10), "{r:?}");
    assert!(r.stdout.starts_with("0 records sent, "), "{r:?}");
}

// ---- interruption (Ctrl-C) and the spool -----------------------------------

/// A child whose stdin stays open (for lines written while it runs) and
/// that can be signalled; killed when dropped if still running, and by
/// [`Live::wait`] after [`LIMIT`].
struct Live {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<thread::JoinHandle<String>>,
    /// What it printed on stderr so far.
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<thread::JoinHandle<()>>,
    started: Instant,
}

impl Live {
    fn spawn(args: &[&str]) -> Live {
        let mut child = start(args);
        let stdin = child.stdin.take();
        let stdout = Some(reader(&mut child, true));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let stderr_reader = Some(thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }));
        Live { child, stdin, stdout, stderr, stderr_reader, started: Instant::now() }
    }

    fn write(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    fn stderr_so_far(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends signal `sig` (`INT`, `TERM`) with kill(1); returns when.
    fn signal(&self, sig: &str) -> Instant {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} failed");
        Instant::now()
    }

    /// Waits for the exit ([`LIMIT`] at most; then kills it and fails).
    fn wait(&mut self) -> Run {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for kafka-sync") {
                break status;
            }
            if self.started.elapsed() > LIMIT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("kafka-sync still running after {LIMIT:?}: killed\n{}", self.stderr_so_far());
            }
            thread::sleep(Duration::from_millis(10));
        };
        drop(self.stdin.take());
        let stdout = self.stdout.take().unwrap().join().unwrap();
        self.stderr_reader.take().unwrap().join().unwrap();
        Run { status, stdout, stderr: self.stderr_so_far(), elapsed: self.started.elapsed() }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `done` every 10 ms for up to 20 s; fails naming `what`.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Values in `topic`, sorted.
fn values(cluster: &MockCluster, topic: &str) -> Vec<String> {
    let mut v: Vec<String> = all_records(cluster, topic)
        .into_iter()
        .map(|r| String::from_utf8(r.value.unwrap()).unwrap())
        .collect();
    v.sort();
    v
}

/// Sends `sig` to `p` and waits for its exit, which must follow the
/// interruption notice and come within `bound` of the signal.
fn interrupt(p: &mut Live, sig: &str, bound: Duration) -> Run {
    let signalled = p.signal(sig);
    let r = p.wait();
    assert!(signalled.elapsed() < bound, "SIG{sig}: still running {bound:?} after it: {r:?}");
    assert!(r.stderr.contains("kafka-sync: interrupted: reading no more input"), "SIG{sig}: {r:?}");
    r
}

/// Whether the interrupted summary says `counts` (`after N input lines: ...`).
fn says_interrupted(r: &Run, counts: &str) -> bool {
    r.stderr.contains(&format!("kafka-sync: interrupted {counts}"))
}

#[test]
fn ctrl_c_stops_reading_and_exits_0_when_everything_read_was_delivered() {
    for sig in ["INT", "TERM"] {
        let topic = format!("intr-{sig}");
        let cluster = cluster_with(&topic, 2);
        let b = cluster.bootstrap_servers();
        let mut p = Live::spawn(&["produce", "-b", &b, "-t", &topic]);
        p.write(b"one\ntwo\nthree\n");
        wait_for("the records", || all_records(&cluster, &topic).len() == 3);
        // The input stays open: only the signal ends the command.
        let r = interrupt(&mut p, sig, Duration::from_secs(10));
        assert_eq!(r.code(), 0, "SIG{sig}: {r:?}");
        let counts = "after 3 input lines: 3 records delivered, 0 failed, 0 never sent, 11 bytes";
        assert!(says_interrupted(&r, counts), "SIG{sig}: {r:?}");
        assert_eq!(values(&cluster, &topic), ["one", "three", "two"]);
    }
}

/// Writes `delivered` to `p` and waits until the broker has those lines;
/// then makes the next Produce request be appended but never answered,
/// writes `unacknowledged`, and waits until the broker has those too
/// (`topic` has one partition, and `linger.ms` keeps them in one request).
fn deliver_then_stall(
    cluster: &MockCluster,
    topic: &str,
    p: &mut Live,
    delivered: &[u8],
    unacknowledged: &[u8],
) {
    let lines = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
    p.write(delivered);
    wait_for("the delivered lines", || all_records(cluster, topic).len() == lines(delivered));
    cluster.stall(api_key::PRODUCE, DropPoint::AfterProcessing);
    p.write(unacknowledged);
    let all = lines(delivered) + lines(unacknowledged);
    wait_for("the unacknowledged lines in the log", || all_records(cluster, topic).len() == all);
}

/// Lines sent to a broker that took them and then went down before
/// answering: interrupted, the command waits `delivery.timeout.ms` (the
/// bound, as it is shorter than 30 s) and exits 1 naming them.
#[test]
fn ctrl_c_with_the_broker_down_exits_1_naming_what_was_not_delivered() {
    let cluster = cluster_with("down", 1);
    let id = cluster.broker_ids()[0];
    let b = cluster.bootstrap_servers();
    let mut p = Live::spawn(&[
        "produce",
        "-b",
        &b,
        "-t",
        "down",
        "-X",
        "linger.ms=50",
        "-X",
        "request.timeout.ms=1000",
        "-X",
        "delivery.timeout.ms=3000",
    ]);
    // c, d, e: appended, never acknowledged; then the broker goes down,
    // so they cannot be acknowledged any more.
    deliver_then_stall(&cluster, "down", &mut p, b"a\nb\n", b"c\nd\ne\n");
    cluster.broker_down(id).unwrap();
    // Bounded by delivery.timeout.ms (3 s), with room for a slow machine.
    let r = interrupt(&mut p, "INT", Duration::from_secs(15));
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(r.stderr.contains("at most 3.0 s"), "{r:?}");
    assert!(
        says_interrupted(&r, "after 5 input lines: 2 records delivered, 3 failed, 0 never sent"),
        "{r:?}"
    );
    assert!(r.stderr.contains("kafka-sync: 3 records failed or refused:"), "{r:?}");
}

/// The bytes of every segment in spool directory `dir`.
fn spool_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().extension().is_some_and(|x| x == "spool") {
            out.extend(std::fs::read(e.path()).unwrap_or_default());
        }
    }
    out
}

#[test]
fn with_a_spool_what_an_interrupted_run_did_not_deliver_is_sent_by_the_next() {
    let cluster = cluster_with("kept", 1);
    let id = cluster.broker_ids()[0];
    let b = cluster.bootstrap_servers();
    let dir = temp_dir("spool");
    let spool = dir.join("spool");
    let spool = spool.to_str().unwrap();
    let args = [
        "produce",
        "-b",
        &b,
        "-t",
        "kept",
        "--spool",
        spool,
        "-X",
        "linger.ms=50",
        "-X",
        "request.timeout.ms=1000",
        "-X",
        "delivery.timeout.ms=2000",
    ];
    let mut p = Live::spawn(&args);
    // c, d, e: appended by the broker, never acknowledged.
    deliver_then_stall(&cluster, "kept", &mut p, b"rec-a\nrec-b\n", b"rec-c\nrec-d\nrec-e\n");
    cluster.broker_down(id).unwrap();
    // f, g: accepted (written to the spool, which holds values as they
    // are), never sent.
    p.write(b"rec-f\nrec-g\n");
    let path = std::path::Path::new(spool);
    wait_for("f and g in the spool", || {
        let bytes = spool_bytes(path);
        [&b"rec-f"[..], b"rec-g"].iter().all(|v| bytes.windows(v.len()).any(|w| w == *v))
    });
    let r = interrupt(&mut p, "INT", Duration::from_secs(15));
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(
        says_interrupted(&r, "after 7 input lines: 2 records delivered, 5 failed, 0 never sent"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains(&format!("kafka-sync: 5 records not delivered stay in the spool {spool}")),
        "{r:?}"
    );
    assert!(r.stderr.contains("input lines 1-7 were taken (7 accepted by this run)"), "{r:?}");
    assert!(r.stderr.contains("same input to go on from line 8"), "{r:?}");

    // The broker is back: a run with no input sends what the spool holds,
    // each record once (c, d and e are in the log already: the broker
    // recognizes their producer id and sequence numbers).
    cluster.broker_up(id).unwrap();
    let r = run(&args, b"");
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(
        r.stderr.contains("kafka-sync: 5 records left in the spool by an earlier run: resending"),
        "{r:?}"
    );
    assert!(r.stderr.contains("kafka-sync: 5 records sent, 0 failed, 25 bytes"), "{r:?}");
    assert!(r.stderr.contains("of the 5 records resent from the spool: 5 delivered, 0 failed"), "{r:?}");
    assert_eq!(values(&cluster, "kept"), ["rec-a", "rec-b", "rec-c", "rec-d", "rec-e", "rec-f", "rec-g"]);
    // Nothing is left for a third run.
    let r = run(&args, b"");
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(!r.stderr.contains("left in the spool"), "{r:?}");
    assert_eq!(all_records(&cluster, "kept").len(), 7);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A load killed with SIGKILL, run again with the same input: the lines
/// the spool took are skipped (the spool keeps each record's line number),
/// what it held is resent, and every line ends up in the topic once. Once
/// that load is complete, the next one starts from its first line.
#[test]
fn a_killed_load_run_again_on_the_same_input_sends_each_line_once() {
    let cluster = cluster_with("resume", 1);
    let id = cluster.broker_ids()[0];
    let b = cluster.bootstrap_servers();
    let dir = temp_dir("resume");
    let spool = dir.join("spool");
    let spool = spool.to_str().unwrap();
    let args = ["produce", "-b", &b, "-t", "resume", "--spool", spool, "-X", "request.timeout.ms=1000"];
    let input: Vec<String> = (1..=10).map(|i| format!("line-{i:02}")).collect();
    let text = |lines: &[String]| lines.iter().map(|l| format!("{l}\n")).collect::<String>();

    let mut p = Live::spawn(&args);
    // Lines 1-4 delivered; then the broker goes down and lines 5-7 are
    // only in the spool when the process is killed.
    p.write(text(&input[..4]).as_bytes());
    wait_for("lines 1-4", || all_records(&cluster, "resume").len() == 4);
    cluster.broker_down(id).unwrap();
    p.write(text(&input[4..7]).as_bytes());
    let path = std::path::Path::new(spool);
    wait_for("line 7 in the spool", || spool_bytes(path).windows(7).any(|w| w == b"line-07"));
    p.signal("KILL");
    let r = p.wait();
    assert!(!r.status.success(), "{r:?}");

    cluster.broker_up(id).unwrap();
    let r = run(&args, text(&input).as_bytes());
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(r.stderr.contains("took input lines 1-7: going on from line 8"), "{r:?}");
    // (Lines 5-7 at least: 1-4 too if their acknowledgement was not
    // written down before the kill.)
    assert!(r.stderr.contains("left in the spool by an earlier run: resending"), "{r:?}");
    assert_eq!(values(&cluster, "resume"), input);

    // Complete and delivered: a new load starts from line 1.
    let next: Vec<String> = (1..=3).map(|i| format!("next-{i}")).collect();
    let r = run(&args, text(&next).as_bytes());
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(!r.stderr.contains("going on from line"), "{r:?}");
    let mut all = [input.clone(), next].concat();
    all.sort();
    assert_eq!(values(&cluster, "resume"), all);
    std::fs::remove_dir_all(dir).unwrap();
}

/// An interrupted load's mark outlives its records: a run with the same
/// input after everything the spool held was delivered still skips what the
/// first one took; a shorter input is not sent, and says so.
#[test]
fn ctrl_c_then_the_same_input_goes_on_where_the_load_stopped() {
    let cluster = cluster_with("resume-int", 2);
    let b = cluster.bootstrap_servers();
    let dir = temp_dir("resume-int");
    let spool = dir.join("spool");
    let spool = spool.to_str().unwrap();
    let args = ["produce", "-b", &b, "-t", "resume-int", "--spool", spool];
    let mut p = Live::spawn(&args);
    p.write(b"a\nb\nc\n");
    wait_for("a, b, c", || all_records(&cluster, "resume-int").len() == 3);
    let r = interrupt(&mut p, "INT", Duration::from_secs(10));
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(r.stderr.contains("same input to go on from line 4"), "{r:?}");
    // A different, shorter input: nothing sent, and the mark stays.
    let r = run(&args, b"x\n");
    assert!(r.stderr.contains("the input ended at line 1, before line 4"), "{r:?}");
    let r = run(&args, b"a\nb\nc\nd\ne\n");
    assert_eq!(r.code(), 0, "{r:?}");
    assert!(r.stderr.contains("took input lines 1-3: going on from line 4"), "{r:?}");
    assert!(r.stderr.contains("kafka-sync: 2 records sent"), "{r:?}");
    assert_eq!(values(&cluster, "resume-int"), ["a", "b", "c", "d", "e"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn ctrl_c_aborts_the_open_transaction() {
    let cluster = cluster_with("txn-intr", 2);
    let b = cluster.bootstrap_servers();
    let mut p = Live::spawn(&["produce", "-b", &b, "-t", "txn-intr", "-X", "transactional.id=interrupted"]);
    p.write(b"x\ny\nz\n");
    wait_for("the records, not committed", || all_records(&cluster, "txn-intr").len() == 3);
    let r = interrupt(&mut p, "INT", Duration::from_secs(10));
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(says_interrupted(&r, "after 3 input lines"), "{r:?}");
    assert!(r.stderr.contains("kafka-sync: 0 records committed in 0 transactions, 3 aborted"), "{r:?}");
    assert!(r.stderr.contains("kafka-sync: interrupted; aborted it (3 records not committed)"), "{r:?}");
    assert!(committed(&cluster, "txn-intr").is_empty(), "{:?}", committed(&cluster, "txn-intr"));
}

#[test]
fn a_second_ctrl_c_exits_at_once_with_130() {
    let cluster = cluster_with("impatient", 1);
    let b = cluster.bootstrap_servers();
    let mut p = Live::spawn(&["produce", "-b", &b, "-t", "impatient", "-X", "linger.ms=0"]);
    // The second record is appended, never answered: the first Ctrl-C
    // would wait 30 s for it.
    deliver_then_stall(&cluster, "impatient", &mut p, b"first\n", b"second\n");
    p.signal("INT");
    wait_for("the first interruption", || p.stderr_so_far().contains("interrupted: reading no more input"));
    let again = p.signal("INT");
    let r = p.wait();
    assert_eq!(r.code(), 130, "{r:?}");
    assert!(again.elapsed() < Duration::from_secs(5), "{r:?}");
    assert!(r.stderr.contains("kafka-sync: interrupted again: exiting now"), "{r:?}");
}

// ---- usage errors ----------------------------------------------------------

#[test]
fn an_unknown_flag_exits_2_with_usage() {
    let r = run(&["produce", "-t", "x", "--frobnicate"], b"");
    assert_eq!(r.code(), 2, "{r:?}");
    assert!(r.stderr.contains("unexpected argument '--frobnicate'"), "{r:?}");
    assert!(r.stderr.contains("Usage: kafka-sync produce"), "{r:?}");
}

#[test]
fn usage_errors_exit_2() {
    for (args, says) in [
        (&["produce"][..], "--topic <TOPIC>"),
        (&["frob"][..], "unrecognized subcommand 'frob'"),
        (&["perf", "-t", "x", "--num-records", "many", "--record-size", "1"][..], "invalid value 'many'"),
        (&["perf", "-t", "x", "--num-records", "1"][..], "--record-size <BYTES>"),
        (&["produce", "-t", "x", "-p"][..], "a value is required for '--partition <N>'"),
        (&["produce", "-t", "x", "-z", "brotli"][..], "invalid value 'brotli'"),
        (&["produce", "-t", "x", "-H", "novalue"][..], "expected NAME=VALUE"),
        (&["topic", "create"][..], "<NAME>"),
        (
            &["perf", "-t", "x", "--num-records", "1", "--record-size", "1", "--throughput", "0"][..],
            "-1 for no limit",
        ),
    ] {
        let r = run(args, b"");
        assert_eq!(r.code(), 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains(says), "{args:?} should say {says:?}: {r:?}");
        assert!(r.stderr.contains("Usage: kafka-sync"), "{args:?}: {r:?}");
    }
}

#[test]
fn a_bad_property_exits_2_naming_the_key() {
    let r = run(&["produce", "-t", "x", "-X", "no.such.key=1"], b"a\n");
    assert_eq!(r.code(), 2, "{r:?}");
    assert!(r.stderr.contains("`no.such.key` is not a producer property"), "{r:?}");
    assert!(r.stderr.contains("Usage: kafka-sync produce"), "{r:?}");

    // Consistency checks run before anything starts, too.
    let r =
        run(&["perf", "-t", "x", "--num-records", "1", "--record-size", "1", "-X", "buffer.memory=10"], b"");
    assert_eq!(r.code(), 2, "{r:?}");
    assert!(r.stderr.contains("`buffer.memory` = 10 is out of range"), "{r:?}");
    assert!(!r.stderr.contains("embedded"), "{r:?}");
}

#[test]
fn help_exits_0_on_stdout() {
    let r = run(&["--help"], b"");
    assert_eq!(r.code(), 0, "{r:?}");
    for sub in ["produce", "perf", "topic"] {
        assert!(r.stdout.contains(sub), "{r:?}");
    }
}

// ---- topic -----------------------------------------------------------------

#[test]
fn topic_create_list_delete() {
    let cluster = MockCluster::start(3).unwrap();
    let b = cluster.bootstrap_servers();

    let r = run(&["topic", "create", "events", "--partitions", "6", "--replication", "2", "-b", &b], b"");
    assert_eq!(r.code(), 0, "{r:?}");
    assert_eq!(r.stdout, "Created topic events.\n");
    assert_eq!(cluster.partition_count("events"), Some(6));

    let r = run(&["-b", &b, "topic", "create", "audit"], b""); // broker defaults
    assert_eq!(r.code(), 0, "{r:?}");

    let r = run(&["-b", &b, "topic", "list"], b"");
    assert_eq!(r.code(), 0, "{r:?}");
    assert_eq!(r.stdout, "audit\nevents\n");
    let r = run(&["-b", &b, "topic", "list", "--long"], b"");
    assert!(r.stdout.contains("events\t6 partitions\n"), "{r:?}");

    let r = run(&["-b", &b, "topic", "create", "events", "--partitions", "1"], b"");
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(r.stderr.contains("cannot create topic \"events\""), "{r:?}");
    assert!(r.stderr.contains("TOPIC_ALREADY_EXISTS"), "{r:?}");

    let r = run(&["-b", &b, "topic", "delete", "events"], b"");
    assert_eq!(r.code(), 0, "{r:?}");
    assert_eq!(r.stdout, "Deleted topic events.\n");
    assert_eq!(cluster.topics(), ["audit"]);

    let r = run(&["-b", &b, "topic", "delete", "events"], b"");
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(r.stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"), "{r:?}");
}

#[test]
fn topic_list_against_an_unreachable_broker_exits_1() {
    let b = format!("127.0.0.1:{}", unused_port());
    let r = run(&["-b", &b, "topic", "list"], b"");
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(r.stderr.contains("cannot list topics: no broker reachable"), "{r:?}");
}

// ---- helpers ---------------------------------------------------------------

/// A port nothing listens on (bound, then released).
fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kafka-sync-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The CLI against tansu, a broker nobody here wrote; what it produced is
/// read back with librdkafka's consumer.
#[path = "support/mod.rs"]
mod support;

mod against_tansu {
    use super::*;

    #[test]
    fn produce_perf_and_topics_against_tansu() {
        let Some(tansu) =
            support::require_broker("produce_perf_and_topics_against_tansu", support::Tansu::start())
        else {
            return;
        };
        let b = tansu.bootstrap();
        // topic create / list / delete
        let r = run(&["-b", &b, "topic", "create", "cli-t", "--partitions", "3", "--replication", "1"], b"");
        assert_eq!(r.code(), 0, "{r:?}");
        let r = run(&["-b", &b, "topic", "list"], b"");
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(r.stdout.lines().any(|l| l.trim().starts_with("cli-t")), "{r:?}");
        let r = run(&["-b", &b, "topic", "create", "cli-t", "--partitions", "3"], b"");
        assert_eq!(r.code(), 1, "creating it twice fails: {r:?}");
        assert!(r.stderr.contains("TOPIC_ALREADY_EXISTS"), "{r:?}");
        // produce: keys, headers, then read back independently
        let input = b"k1:one\nk2:two\nk3:three\nk1:four\n";
        let r =
            run(&["-b", &b, "produce", "-t", "cli-t", "-K", ":", "-H", "source=cli", "-z", "gzip"], input);
        assert_eq!(r.code(), 0, "{r:?}");
        let got = support::read_back(&b, "cli-t", 4, Duration::from_secs(30));
        assert_eq!(got.len(), 4);
        let mut pairs: Vec<(String, String)> = got
            .iter()
            .map(|c| {
                assert_eq!(c.headers, vec![("source".to_owned(), Some(b"cli".to_vec()))]);
                let key = String::from_utf8(c.key.clone().unwrap()).unwrap();
                let part = kafka_sync::partitioner::partition_for_key(key.as_bytes(), 3);
                assert_eq!(c.partition, part, "murmur2 placement of {key}");
                (key, String::from_utf8(c.value.clone().unwrap()).unwrap())
            })
            .collect();
        pairs.sort();
        assert_eq!(
            pairs,
            vec![
                ("k1".into(), "four".into()),
                ("k1".into(), "one".into()),
                ("k2".into(), "two".into()),
                ("k3".into(), "three".into())
            ]
        );
        // perf: the Java tool's final line
        let r =
            run(&["-b", &b, "perf", "-t", "cli-perf", "--num-records", "20000", "--record-size", "100"], b"");
        assert_eq!(r.code(), 0, "{r:?}");
        let re = Regex::new(r"^20000 records sent, [0-9.]+ records/sec \([0-9.]+ MB/sec\), [0-9.]+ ms avg latency, [0-9.]+ ms max latency, [0-9]+ ms 50th, [0-9]+ ms 95th, [0-9]+ ms 99th, [0-9]+ ms 99.9th\.$").unwrap();
        assert!(r.stdout.lines().any(|l| re.is_match(l)), "{r:?}");
        // a failure: partition out of range -> exit 1 naming why
        let r = run(&["-b", &b, "produce", "-t", "cli-t", "-p", "99"], b"x\ny\n");
        assert_eq!(r.code(), 1, "{r:?}");
        assert!(r.stderr.contains("2 failed") || r.stderr.contains("partition"), "{r:?}");
        let r = run(&["-b", &b, "topic", "delete", "cli-t"], b"");
        assert_eq!(r.code(), 0, "{r:?}");
    }

    #[test]
    fn transactional_loads_against_tansu() {
        let Some(tansu) =
            support::require_broker("transactional_loads_against_tansu", support::Tansu::start())
        else {
            return;
        };
        let b = tansu.bootstrap();
        tansu.create_topic("cli-txn", 2).unwrap();
        let input: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let txn = ["-X", "transactional.id=cli-load"];
        let mut args = vec!["-b", &b, "produce", "-t", "cli-txn", "--transaction-records", "30"];
        args.extend(txn);
        let r = run(&args, input.as_bytes());
        assert_eq!(r.code(), 0, "{r:?}");
        assert!(r.stderr.contains("100 records committed in 4 transactions, 0 aborted"), "{r:?}");
        let got = support::read_back(&b, "cli-txn", 100, Duration::from_secs(30));
        assert_eq!(got.len(), 100);
        // A record that cannot be sent ends the load, and its transaction
        // is aborted: nothing of it is committed.
        let big = "x".repeat(2000);
        let input = format!("a\nb\nc\n{big}\nd\n");
        let mut args = vec!["-b", &b, "produce", "-t", "cli-txn", "-X", "max.request.size=1000"];
        args.extend(txn);
        let r = run(&args, input.as_bytes());
        assert_eq!(r.code(), 1, "{r:?}");
        assert!(r.stderr.contains("0 records committed in 0 transactions, 3 aborted"), "{r:?}");
        assert!(r.stderr.contains("stopped at input record 4"), "{r:?}");
        // Without transactional.id, --transaction-records is a usage error.
        let r = run(&["-b", &b, "produce", "-t", "cli-txn", "--transaction-records", "5"], b"x\n");
        assert_eq!(r.code(), 2, "{r:?}");
    }
}
