//! A lock-free latency histogram for the crate's own percentiles
//! (`request_latency_p99`, `record_latency_p99`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency histogram: 4 buckets per power of two of microseconds, so any
/// percentile is reported within about 19% (the bucket's upper bound).
const SUB: u32 = 4;
const BUCKETS: usize = 64 * SUB as usize;

#[derive(Debug)]
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Histogram {
    pub fn new() -> Self {
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

    pub fn record(&self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        self.buckets[Self::index(us)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    pub fn percentile(&self, p: f64) -> Duration {
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

impl Histogram {
    /// The mean of the recorded values.
    pub fn avg(&self) -> Duration {
        let n = self.count.load(Ordering::Relaxed);
        Duration::from_micros(self.sum_us.load(Ordering::Relaxed).checked_div(n).unwrap_or(0))
    }

    /// The largest recorded value.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_us.load(Ordering::Relaxed))
    }
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
