//! The Java client's windowed statistics (`org.apache.kafka.common.metrics`),
//! ported as they are: [`SampledStat`] (`WindowedSum`, `Avg`, `Max`), its
//! [`Rate`], and [`Meter`] (a rate and a cumulative total).
//!
//! A sampled stat keeps up to `metrics.num.samples + 1` samples. A value is
//! added to the current sample, or to a new one once the current sample is
//! `metrics.sample.window.ms` old. Before a measurement, samples whose last
//! event is `num.samples * window` old are reset. A rate divides the windowed
//! sum by the time since the oldest sample began, counted as at least
//! `num.samples - 1` whole windows (Java's `Rate.windowSize`): right after
//! the start, 100 records in 1 s read 100 / 31 s with the defaults, not
//! 100 / 1 s; long idle stretches are forgotten rather than averaged in.
//!
//! Times are milliseconds on a monotonic clock (`now_ms`: since the
//! producer started); the structs hold no clock and no lock (their owners
//! lock them, as Java's `Sensor.record` is `synchronized`), so they are
//! unit-testable with times passed in. After the first `num.samples + 1`
//! windows nothing allocates.

/// `metrics.num.samples` and `metrics.sample.window.ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MetricConfig {
    /// Samples kept (at least 1).
    pub samples: usize,
    /// Length of one sample's window in milliseconds (at least 1).
    pub window_ms: i64,
}

impl Default for MetricConfig {
    /// Java's defaults: 2 samples of 30 s.
    fn default() -> Self {
        Self { samples: 2, window_ms: 30_000 }
    }
}

/// How a sampled stat folds values into a sample and samples into a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `WindowedSum`: the sum of the values in the window (0 when empty).
    Sum,
    /// `Avg`: the mean of the values in the window (NaN when empty).
    Avg,
    /// `Max`: the largest value in the window (NaN when empty).
    Max,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    value: f64,
    events: u64,
    start_ms: i64,
    last_event_ms: i64,
}

impl Sample {
    fn new(initial: f64, now: i64) -> Self {
        Self { value: initial, events: 0, start_ms: now, last_event_ms: now }
    }
}

/// Java's `SampledStat` with the combine step of `WindowedSum`, `Avg` or `Max`.
#[derive(Debug, Clone)]
pub(crate) struct SampledStat {
    kind: Kind,
    samples: Vec<Sample>,
    current: usize,
}

impl SampledStat {
    pub fn new(kind: Kind) -> Self {
        // Java's capacity: the default sample count plus the overlapping one.
        Self { kind, samples: Vec::with_capacity(3), current: 0 }
    }

    fn initial(&self) -> f64 {
        match self.kind {
            Kind::Sum | Kind::Avg => 0.0,
            Kind::Max => f64::NEG_INFINITY,
        }
    }

    /// `SampledStat.record`.
    pub fn record(&mut self, cfg: &MetricConfig, value: f64, now: i64) {
        if self.samples.is_empty() {
            self.samples.push(Sample::new(self.initial(), now));
        }
        if now - self.samples[self.current].start_ms >= cfg.window_ms {
            self.advance(cfg, now);
        }
        let kind = self.kind;
        let s = &mut self.samples[self.current];
        match kind {
            Kind::Sum | Kind::Avg => s.value += value,
            Kind::Max => s.value = s.value.max(value),
        }
        s.events += 1;
        s.last_event_ms = now;
    }

    fn advance(&mut self, cfg: &MetricConfig, now: i64) {
        // One more than the samples kept: the one overlapping the window's start.
        let max = cfg.samples + 1;
        self.current = (self.current + 1) % max;
        let initial = self.initial();
        if self.current >= self.samples.len() {
            self.samples.push(Sample::new(initial, now));
            self.current = self.samples.len() - 1;
        } else {
            self.samples[self.current] = Sample::new(initial, now);
        }
    }

    /// `purgeObsoleteSamples`: resets samples with no event in the last
    /// `samples * window` (those overlapping the window are kept).
    fn purge(&mut self, cfg: &MetricConfig, now: i64) {
        let expire = (cfg.samples as i64).saturating_mul(cfg.window_ms);
        let initial = self.initial();
        for s in self.samples.iter_mut() {
            if now - s.last_event_ms >= expire {
                *s = Sample::new(initial, now);
            }
        }
    }

    /// `SampledStat.measure`: purge, then combine.
    pub fn measure(&mut self, cfg: &MetricConfig, now: i64) -> f64 {
        self.purge(cfg, now);
        let events: u64 = self.samples.iter().map(|s| s.events).sum();
        // (Folded from +0.0: `Sum for f64` starts at -0.0, and a rate of
        // nothing would print as "-0".)
        let sum = || self.samples.iter().fold(0.0, |acc, s| acc + s.value);
        match self.kind {
            Kind::Sum => sum(),
            Kind::Avg if events == 0 => f64::NAN,
            Kind::Avg => sum() / events as f64,
            Kind::Max if events == 0 => f64::NAN,
            Kind::Max => self.samples.iter().map(|s| s.value).fold(f64::NEG_INFINITY, f64::max),
        }
    }

    /// `SampledStat.oldest`: the sample that started first (one is made if
    /// there is none, as Java does).
    fn oldest_start(&mut self, now: i64) -> i64 {
        if self.samples.is_empty() {
            self.samples.push(Sample::new(self.initial(), now));
        }
        self.samples.iter().map(|s| s.start_ms).min().unwrap_or(now)
    }
}

/// The unit a [`Rate`] is per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Per {
    Second,
    /// Per nanosecond of window: with values in nanoseconds, a fraction of
    /// time (`bufferpool-wait-ratio`).
    Nanosecond,
}

/// Java's `Rate` over a `WindowedSum`.
#[derive(Debug, Clone)]
pub(crate) struct Rate {
    stat: SampledStat,
    per: Per,
}

impl Rate {
    pub fn new(per: Per) -> Self {
        Self { stat: SampledStat::new(Kind::Sum), per }
    }

    pub fn record(&mut self, cfg: &MetricConfig, value: f64, now: i64) {
        self.stat.record(cfg, value, now);
    }

    /// `Rate.measure`: the windowed sum over `window_size`.
    pub fn measure(&mut self, cfg: &MetricConfig, now: i64) -> f64 {
        let sum = self.stat.measure(cfg, now);
        let ms = self.window_size(cfg, now) as f64;
        match self.per {
            Per::Second => sum / (ms / 1000.0),
            Per::Nanosecond => sum / (ms * 1_000_000.0),
        }
    }

    /// `Rate.windowSize`: the time since the oldest kept sample began, but
    /// at least `samples - 1` whole windows plus the current part, and at
    /// least 1 ms.
    fn window_size(&mut self, cfg: &MetricConfig, now: i64) -> i64 {
        self.stat.purge(cfg, now);
        let mut elapsed = now - self.stat.oldest_start(now);
        let full = elapsed / cfg.window_ms;
        let min_full = cfg.samples as i64 - 1;
        if full < min_full {
            elapsed = elapsed.saturating_add((min_full - full).saturating_mul(cfg.window_ms));
        }
        elapsed.max(1)
    }
}

/// Java's `Meter`: a [`Rate`] and a cumulative total of the same values.
/// For a count meter (`WindowedCount`) record 1.0 per event.
#[derive(Debug, Clone)]
pub(crate) struct Meter {
    rate: Rate,
    total: f64,
}

impl Meter {
    pub fn new() -> Self {
        Self::per(Per::Second)
    }

    pub fn per(per: Per) -> Self {
        Self { rate: Rate::new(per), total: 0.0 }
    }

    pub fn record(&mut self, cfg: &MetricConfig, value: f64, now: i64) {
        self.rate.record(cfg, value, now);
        self.total += value;
    }

    pub fn rate(&mut self, cfg: &MetricConfig, now: i64) -> f64 {
        self.rate.measure(cfg, now)
    }

    pub fn total(&self) -> f64 {
        self.total
    }
}

/// An `Avg` and a `Max` of the same values (`*-avg`, `*-max`).
#[derive(Debug, Clone)]
pub(crate) struct AvgMax {
    avg: SampledStat,
    max: SampledStat,
}

impl AvgMax {
    pub fn new() -> Self {
        Self { avg: SampledStat::new(Kind::Avg), max: SampledStat::new(Kind::Max) }
    }

    pub fn record(&mut self, cfg: &MetricConfig, value: f64, now: i64) {
        self.avg.record(cfg, value, now);
        self.max.record(cfg, value, now);
    }

    pub fn avg(&mut self, cfg: &MetricConfig, now: i64) -> f64 {
        self.avg.measure(cfg, now)
    }

    pub fn max(&mut self, cfg: &MetricConfig, now: i64) -> f64 {
        self.max.measure(cfg, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: MetricConfig = MetricConfig { samples: 2, window_ms: 30_000 };

    #[test]
    fn rate_counts_at_least_one_whole_window_at_first() {
        // Java's RateTest/MetricsTest: 100 records in the first second read
        // as 100 over (1 s + one whole window), not over 1 s.
        let mut r = Rate::new(Per::Second);
        for i in 0..100 {
            r.record(&CFG, 1.0, i * 10);
        }
        let v = r.measure(&CFG, 1000);
        assert!((v - 100.0 / 31.0).abs() < 1e-9, "{v}");
        // Later, once a whole window has passed, the real span counts.
        let v = r.measure(&CFG, 40_000);
        assert!((v - 100.0 / 40.0).abs() < 1e-9, "{v}");
    }

    #[test]
    fn rate_forgets_what_left_the_window() {
        let mut m = Meter::new();
        m.record(&CFG, 50.0, 0);
        m.record(&CFG, 50.0, 10);
        // 60 s after the last event both samples are obsolete.
        assert_eq!(m.rate(&CFG, 60_010), 0.0);
        assert_eq!(m.total(), 100.0, "the total stays");
        m.record(&CFG, 30.0, 61_000);
        let v = m.rate(&CFG, 62_000);
        // The purged sample restarted at 60 010: the oldest start.
        assert!((v - 30.0 / (1.990 + 30.0)).abs() < 1e-9, "{v}");
    }

    #[test]
    fn samples_rotate_and_keep_the_overlapping_one() {
        let mut s = SampledStat::new(Kind::Sum);
        s.record(&CFG, 1.0, 0); // sample 0 [0, 30 s)
        s.record(&CFG, 2.0, 30_000); // sample 1
        s.record(&CFG, 4.0, 60_000); // sample 2 (the third: num.samples + 1)
                                     // Sample 0's last event is num.samples * window old: purged.
        assert_eq!(s.measure(&CFG, 60_000), 6.0);
        s.record(&CFG, 8.0, 90_000); // wraps to sample 0
        assert_eq!(s.samples.len(), 3);
        assert_eq!(s.measure(&CFG, 90_000), 12.0);
    }

    #[test]
    fn huge_windows_do_not_overflow() {
        let cfg = MetricConfig { samples: 1 << 30, window_ms: i64::MAX };
        let mut m = Meter::new();
        m.record(&cfg, 1.0, 0);
        assert!(m.rate(&cfg, 10) >= 0.0);
    }

    #[test]
    fn an_empty_rate_is_positive_zero() {
        let mut m = Meter::new();
        let v = m.rate(&CFG, 5);
        assert!(v == 0.0 && v.is_sign_positive(), "{v}");
    }

    #[test]
    fn avg_and_max_are_nan_when_empty() {
        let mut a = AvgMax::new();
        assert!(a.avg(&CFG, 0).is_nan());
        assert!(a.max(&CFG, 0).is_nan());
        a.record(&CFG, 3.0, 0);
        a.record(&CFG, 5.0, 1);
        assert_eq!((a.avg(&CFG, 2), a.max(&CFG, 2)), (4.0, 5.0));
        assert!(a.avg(&CFG, 70_000).is_nan(), "purged");
    }

    #[test]
    fn nanosecond_rate_is_a_fraction_of_time() {
        let mut m = Meter::per(Per::Nanosecond);
        // 15 s of waiting, measured at once: the window counts as one whole
        // window (30 s).
        m.record(&CFG, 15e9, 30_000);
        let v = m.rate(&CFG, 30_000);
        assert!((v - 15.0 / 30.0).abs() < 1e-9, "{v}");
    }
}
