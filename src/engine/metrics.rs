//! Counters the engine updates with relaxed atomics, and the public snapshot
//! [`ProducerMetrics`] that `Producer::metrics` returns.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::accumulator::Batch;
use crate::error::{DeliveryError, KafkaCode};

/// Latency histogram: 4 buckets per power of two of microseconds, so any
/// percentile is reported within about 19% (the bucket's upper bound).
const SUB: u32 = 4;
const BUCKETS: usize = 64 * SUB as usize;

#[derive(Debug)]
struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }

    fn index(us: u64) -> usize {
        let v = us.max(1);
        if v < 4 {
            // Values below 4 get a bucket each.
            return v as usize;
        }
        let msb = 63 - v.leading_zeros();
        // The two bits below the most significant one pick the sub-bucket.
        let sub = (v >> (msb - 2)) & (u64::from(SUB) - 1);
        ((msb * SUB) as usize + sub as usize).min(BUCKETS - 1)
    }

    /// The largest value that falls in bucket `i`.
    fn upper(i: usize) -> u64 {
        let msb = (i as u32) / SUB;
        if msb < 2 {
            // Buckets 0-3 hold the values 0-3; 4-7 are unused.
            return (i as u64).min(3);
        }
        let sub = u64::from((i as u32) % SUB);
        ((4 + sub + 1) << (msb - 2)).saturating_sub(1)
    }

    fn record(&self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        self.buckets[Self::index(us)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    fn percentile(&self, p: f64) -> Duration {
        let n = self.count.load(Ordering::Relaxed);
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = ((p * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                let max = self.max_us.load(Ordering::Relaxed);
                return Duration::from_micros(Self::upper(i).min(max));
            }
        }
        Duration::from_micros(self.max_us.load(Ordering::Relaxed))
    }
}

/// The engine's counters.
#[derive(Debug)]
pub(crate) struct Metrics {
    started: Instant,
    records_acked: AtomicU64,
    records_failed: AtomicU64,
    record_bytes_acked: AtomicU64,
    batches_acked: AtomicU64,
    batches_failed: AtomicU64,
    uncompressed_bytes: AtomicU64,
    compressed_bytes: AtomicU64,
    requests: AtomicU64,
    request_bytes: AtomicU64,
    in_flight: AtomicI64,
    retries: AtomicU64,
    leader_hints: AtomicU64,
    reauthentications: AtomicU64,
    errors: Mutex<BTreeMap<i16, u64>>,
    request_latency: Histogram,
    produce_throttle: Histogram,
    record_latency: Histogram,
}

impl Metrics {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            records_acked: AtomicU64::new(0),
            records_failed: AtomicU64::new(0),
            record_bytes_acked: AtomicU64::new(0),
            batches_acked: AtomicU64::new(0),
            batches_failed: AtomicU64::new(0),
            uncompressed_bytes: AtomicU64::new(0),
            compressed_bytes: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            request_bytes: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            retries: AtomicU64::new(0),
            leader_hints: AtomicU64::new(0),
            reauthentications: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            request_latency: Histogram::new(),
            produce_throttle: Histogram::new(),
            record_latency: Histogram::new(),
        }
    }

    pub fn batch_acked(&self, b: &Batch) {
        self.records_acked.fetch_add(u64::from(b.records), Ordering::Relaxed);
        self.batches_acked.fetch_add(1, Ordering::Relaxed);
        self.record_bytes_acked.fetch_add(b.uncompressed as u64, Ordering::Relaxed);
        self.uncompressed_bytes.fetch_add(b.uncompressed as u64, Ordering::Relaxed);
        self.compressed_bytes.fetch_add(b.estimated_size() as u64, Ordering::Relaxed);
        self.record_latency.record(b.created.elapsed());
    }

    pub fn batch_failed(&self, b: &Batch, _e: &DeliveryError) {
        self.records_failed.fetch_add(u64::from(b.records), Ordering::Relaxed);
        self.batches_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_sent(&self, bytes: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.request_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_done(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn request_latency(&self, d: Duration) {
        self.request_latency.record(d);
    }

    /// A Produce response's `throttle_time_ms` (zero included: Java's
    /// `produce-throttle-time-avg` averages over every response).
    pub fn produce_throttle(&self, d: Duration) {
        self.produce_throttle.record(d);
    }

    pub fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn leader_hint(&self) {
        self.leader_hints.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reauthenticated(&self) {
        self.reauthentications.fetch_add(1, Ordering::Relaxed);
    }

    pub fn error(&self, code: KafkaCode) {
        *self.errors.lock().entry(code.0).or_insert(0) += 1;
    }

    pub fn snapshot(
        &self,
        buffer_used: usize,
        buffer_total: usize,
        batch_size: usize,
        producer_ids: u64,
        appended: u64,
    ) -> ProducerMetrics {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let elapsed = self.started.elapsed();
        let acked = r(&self.records_acked);
        let batches = r(&self.batches_acked);
        let unc = r(&self.uncompressed_bytes);
        let comp = r(&self.compressed_bytes);
        let failed = r(&self.records_failed);
        let avg_batch = if batches > 0 { unc as f64 / batches as f64 } else { 0.0 };
        ProducerMetrics {
            uptime: elapsed,
            records_sent: acked,
            records_failed: failed,
            record_bytes_sent: r(&self.record_bytes_acked),
            record_send_rate: acked as f64 / elapsed.as_secs_f64().max(1e-9),
            records_queued: appended.saturating_sub(acked + failed),
            batches_sent: batches,
            batches_failed: r(&self.batches_failed),
            avg_batch_bytes: avg_batch,
            avg_records_per_batch: if batches > 0 { acked as f64 / batches as f64 } else { 0.0 },
            batch_fill_ratio: avg_batch / batch_size.max(1) as f64,
            compression_ratio: if unc > 0 { comp as f64 / unc as f64 } else { 1.0 },
            requests: r(&self.requests),
            request_bytes: r(&self.request_bytes),
            requests_in_flight: self.in_flight.load(Ordering::Relaxed).max(0) as u64,
            request_latency_avg: avg(&self.request_latency),
            request_latency_p99: self.request_latency.percentile(0.99),
            request_latency_max: Duration::from_micros(r(&self.request_latency.max_us)),
            produce_throttle_time_avg: avg(&self.produce_throttle),
            produce_throttle_time_max: Duration::from_micros(r(&self.produce_throttle.max_us)),
            record_latency_avg: avg(&self.record_latency),
            record_latency_p99: self.record_latency.percentile(0.99),
            buffer_used,
            buffer_total,
            retries: r(&self.retries),
            errors: self.errors.lock().iter().map(|(c, n)| (KafkaCode(*c), *n)).collect(),
            producer_ids,
            leader_hints: r(&self.leader_hints),
            reauthentications: r(&self.reauthentications),
        }
    }
}

fn avg(h: &Histogram) -> Duration {
    let n = h.count.load(Ordering::Relaxed);
    Duration::from_micros(h.sum_us.load(Ordering::Relaxed).checked_div(n).unwrap_or(0))
}

/// A snapshot of the producer's metrics ([`Producer::metrics`](crate::Producer::metrics)).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProducerMetrics {
    /// Time since the producer started.
    pub uptime: Duration,
    /// Records acknowledged by the broker (or written, with acks=0).
    pub records_sent: u64,
    /// Records whose delivery failed.
    pub records_failed: u64,
    /// Uncompressed record batch bytes acknowledged.
    pub record_bytes_sent: u64,
    /// Records acknowledged per second, averaged over the uptime.
    pub record_send_rate: f64,
    /// Records accepted by `send` whose outcome is not known yet.
    pub records_queued: u64,
    /// Batches acknowledged.
    pub batches_sent: u64,
    /// Batches that failed.
    pub batches_failed: u64,
    /// Average uncompressed size of acknowledged batches, in bytes.
    pub avg_batch_bytes: f64,
    /// Average number of records in acknowledged batches.
    pub avg_records_per_batch: f64,
    /// `avg_batch_bytes / batch.size`: how full batches were when sent.
    pub batch_fill_ratio: f64,
    /// Compressed bytes / uncompressed bytes over acknowledged batches (1.0 uncompressed).
    pub compression_ratio: f64,
    /// Produce requests written.
    pub requests: u64,
    /// Bytes of Produce requests written.
    pub request_bytes: u64,
    /// Produce requests written and not yet answered (or failed).
    pub requests_in_flight: u64,
    /// Average Produce round-trip time.
    pub request_latency_avg: Duration,
    /// 99th percentile of Produce round-trip time (within about 19%).
    pub request_latency_p99: Duration,
    /// Longest Produce round-trip time.
    pub request_latency_max: Duration,
    /// Average `throttle_time_ms` of Produce responses (Java's
    /// `produce-throttle-time-avg`): how long brokers asked the producer to
    /// hold off because of a quota (KIP-219).
    pub produce_throttle_time_avg: Duration,
    /// Largest `throttle_time_ms` of a Produce response
    /// (`produce-throttle-time-max`).
    pub produce_throttle_time_max: Duration,
    /// Average time from a batch's first record to its acknowledgement.
    pub record_latency_avg: Duration,
    /// 99th percentile of that time (within about 19%).
    pub record_latency_p99: Duration,
    /// Bytes of `buffer.memory` in use.
    pub buffer_used: usize,
    /// `buffer.memory`.
    pub buffer_total: usize,
    /// Batch retries (second and later attempts).
    pub retries: u64,
    /// Error codes brokers returned, with counts.
    pub errors: Vec<(KafkaCode, u64)>,
    /// Idempotent producer ids obtained (1 normally; each reset after a
    /// sequence error adds one; 0 without idempotence).
    pub producer_ids: u64,
    /// Partitions moved to a new leader named in a Produce response
    /// (KIP-951), without waiting for a metadata refresh.
    pub leader_hints: u64,
    /// SASL sessions renewed on open connections (KIP-368): the broker
    /// connections' and the metadata connection's.
    pub reauthentications: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_percentiles_within_a_bucket() {
        let h = Histogram::new();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.percentile(0.5).as_micros() as f64;
        let p99 = h.percentile(0.99).as_micros() as f64;
        assert!((500.0..=500.0 * 1.26).contains(&p50), "{p50}");
        assert!((990.0..=1000.0).contains(&p99), "{p99}");
        assert_eq!(h.percentile(1.0), Duration::from_micros(1000));
    }

    #[test]
    fn bucket_bounds_are_monotonic() {
        let mut last = 0;
        for i in 0..BUCKETS - 1 {
            let u = Histogram::upper(i);
            assert!(u >= last, "{i}");
            last = u;
        }
        for v in [1u64, 2, 3, 4, 5, 7, 8, 100, 12345, 1 << 40] {
            assert!(Histogram::upper(Histogram::index(v)) >= v, "{v}");
        }
    }
}
