//! `kafka-sync perf`: `kafka-producer-perf-test`'s measurements and output.

use std::process::ExitCode;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use clap::ArgMatches;
use kafka_sync::{DeliveryError, RecordMetadata, RecordRef};

use crate::settings::{leak_topic, Cluster, Settings};
use crate::tally::{Tally, Ticker};
use crate::{print_line, Failure, CLOSE_TIMEOUT};

/// Latency samples `perf` keeps at most (as the Java tool does).
const MAX_SAMPLES: u64 = 500_000;

pub(crate) fn perf(m: &ArgMatches) -> Result<ExitCode, Failure> {
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
        print_metrics(&metrics);
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
        if self.count.is_multiple_of(self.sampling) {
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

/// The metrics table Kafka's perf tool prints (`ToolsUtils.printMetrics`):
/// `group:name:{tags}`, sorted, padded to the longest, `: value` with three
/// decimals (`NaN` for an average over an empty window, as in Java).
fn print_metrics(metrics: &kafka_sync::ProducerMetrics) {
    let rows: std::collections::BTreeMap<String, f64> = metrics
        .kafka_metrics()
        .iter()
        .map(|m| {
            let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (format!("{}:{}:{{{}}}", m.group, m.name, tags.join(", ")), m.value)
        })
        .collect();
    let width = rows.keys().map(String::len).max().unwrap_or(0);
    print_line("");
    print_line(&format!("{:<width$}   Value", "Metric Name"));
    for (name, value) in rows {
        print_line(&format!("{name:<width$} : {value:.3}"));
    }
}

/// Microseconds to milliseconds.
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

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
