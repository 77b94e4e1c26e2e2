//! The metrics settings: the Java client's sample windows
//! (`metrics.num.samples`, `metrics.sample.window.ms`) and librdkafka's
//! statistics interval (`statistics.interval.ms`) with its callback.

use std::sync::Arc;
use std::time::Duration;

use super::properties::{check_ms, invalid, ms, out_of_range, parse_ms, parse_u64, value_or, Set, INT_MAX};
use super::{CallbackSetting, ConfigError, ProducerConfig, ProducerConfigBuilder};
use crate::metrics::{ProducerMetrics, StatisticsCallback};

const DEFAULT_NUM_SAMPLES: usize = 2;
const DEFAULT_SAMPLE_WINDOW: Duration = Duration::from_millis(30_000);
/// librdkafka's upper bound for `statistics.interval.ms` (one day).
const MAX_STATISTICS_INTERVAL_MS: u64 = 86_400_000;

/// The property names handled here (the last one known and refused).
const KEYS: &[&str] = &[
    "metrics.num.samples",
    "metrics.sample.window.ms",
    "statistics.interval.ms",
    "metrics.recording.level",
    "metric.reporters",
];

/// `key` as one of the settings here, if it is one.
pub(super) fn metrics_key(key: &str) -> Option<&'static str> {
    KEYS.iter().find(|k| **k == key).copied()
}

/// The builder's metrics settings, as set.
#[derive(Debug, Clone, Default)]
pub(super) struct MetricsSettings {
    num_samples: Option<Set<usize>>,
    sample_window: Option<Set<Duration>>,
    statistics_interval: Option<Set<Duration>>,
    callback: CallbackSetting<StatisticsCallback>,
}

/// The metrics settings in effect.
#[derive(Debug, Clone)]
pub(super) struct MetricsConfig {
    num_samples: usize,
    sample_window: Duration,
    statistics_interval: Duration,
    callback: CallbackSetting<StatisticsCallback>,
}

impl MetricsSettings {
    pub(super) fn apply(&mut self, key: &'static str, value: &str) -> Result<(), ConfigError> {
        match key {
            "metrics.num.samples" => {
                let n = parse_u64(key, value)?;
                let n = usize::try_from(n).map_err(|_| out_of_range(key, value, "1 to 2147483647"))?;
                self.num_samples = Some(Set { value: n, key });
            }
            "metrics.sample.window.ms" => {
                self.sample_window = Some(Set { value: parse_ms(key, value)?, key });
            }
            "statistics.interval.ms" => {
                self.statistics_interval = Some(Set { value: parse_ms(key, value)?, key });
            }
            "metrics.recording.level" => {
                if !["INFO", "DEBUG", "TRACE"].iter().any(|l| l.eq_ignore_ascii_case(value)) {
                    return Err(invalid(key, value, "INFO, DEBUG or TRACE"));
                }
                log::debug!("`metrics.recording.level` has no effect: every metric is always recorded");
            }
            _ => {
                return Err(ConfigError::Unsupported {
                    key: key.to_owned(),
                    reason: "reporters are Java classes; read Producer::metrics, its Prometheus text, \
                             or register a statistics callback",
                })
            }
        }
        Ok(())
    }

    pub(super) fn build(&self) -> Result<MetricsConfig, ConfigError> {
        if let Some(s) = &self.num_samples {
            if s.value < 1 || s.value as u64 > INT_MAX {
                return Err(out_of_range(s.key, s.value, "1 to 2147483647"));
            }
        }
        // (Java allows 0, then divides by it when a rate is read.)
        check_ms(&self.sample_window, 1, i64::MAX as u64)?;
        if let Some(s) = &self.statistics_interval {
            if s.value.as_millis() > u128::from(MAX_STATISTICS_INTERVAL_MS) {
                return Err(out_of_range(s.key, ms(s.value), "0 to 86400000 ms"));
            }
        }
        Ok(MetricsConfig {
            num_samples: value_or(&self.num_samples, DEFAULT_NUM_SAMPLES),
            sample_window: value_or(&self.sample_window, DEFAULT_SAMPLE_WINDOW),
            statistics_interval: value_or(&self.statistics_interval, Duration::ZERO),
            callback: self.callback.clone(),
        })
    }
}

impl ProducerConfigBuilder {
    /// `metrics.num.samples`: how many sample windows the Java-named rates,
    /// averages and maxima cover (see [`crate::metrics`]). At least 1.
    /// Defaults to 2 samples.
    pub fn metrics_num_samples(mut self, samples: usize) -> Self {
        self.metrics.num_samples = Some(Set { value: samples, key: "metrics.num.samples" });
        self
    }

    /// `metrics.sample.window.ms`: the length of one sample window. At least
    /// 1 ms (Java accepts 0). In milliseconds. Defaults to 30000 ms.
    pub fn metrics_sample_window(mut self, window: Duration) -> Self {
        self.metrics.sample_window = Some(Set { value: window, key: "metrics.sample.window.ms" });
        self
    }

    /// `statistics.interval.ms` (librdkafka's name): how often the producer
    /// takes a [`ProducerMetrics`] snapshot for the
    /// [statistics callback](Self::statistics_callback), on a thread of its
    /// own; without a callback the snapshot is summarized in a debug log
    /// line. 0 turns it off. At most 86400000 ms. In milliseconds. Defaults
    /// to 0 ms (off).
    pub fn statistics_interval(mut self, interval: Duration) -> Self {
        self.metrics.statistics_interval = Some(Set { value: interval, key: "statistics.interval.ms" });
        self
    }

    /// Registers the statistics callback (librdkafka's `stats_cb`), called
    /// with a fresh snapshot every `statistics.interval.ms` (which must be
    /// set too: while it is 0 the callback is never called) from the
    /// producer's `kafka-sync-statistics` thread, never from a broker I/O
    /// thread. `close` stops that thread and waits for a call in progress.
    /// A panic in the callback is caught and logged. Do not let it own the
    /// [`Producer`](crate::Producer): the producer owns the callback.
    /// Defaults to none.
    pub fn statistics_callback<F>(mut self, callback: F) -> Self
    where
        F: Fn(&ProducerMetrics) + Send + Sync + 'static,
    {
        self.metrics.callback = CallbackSetting(Some(Arc::new(callback)));
        self
    }
}

impl ProducerConfig {
    /// `metrics.num.samples`: sample windows the windowed metrics cover.
    pub fn metrics_num_samples(&self) -> usize {
        self.metrics.num_samples
    }

    /// `metrics.sample.window.ms`: the length of one sample window.
    pub fn metrics_sample_window(&self) -> Duration {
        self.metrics.sample_window
    }

    /// `statistics.interval.ms`: how often the statistics callback is
    /// called; zero when off.
    pub fn statistics_interval(&self) -> Duration {
        self.metrics.statistics_interval
    }

    /// The statistics callback, if one was registered.
    pub fn statistics_callback(&self) -> Option<&StatisticsCallback> {
        self.metrics.callback.0.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use crate::{ConfigError, ProducerConfig};
    use std::time::Duration;

    fn build(props: &[(&str, &str)]) -> Result<ProducerConfig, ConfigError> {
        ProducerConfig::builder().bootstrap_servers("localhost:9092").set_all(props.iter().copied()).build()
    }

    #[test]
    fn defaults_are_javas_and_librdkafkas() {
        let c = build(&[]).unwrap();
        assert_eq!(c.metrics_num_samples(), 2);
        assert_eq!(c.metrics_sample_window(), Duration::from_secs(30));
        assert_eq!(c.statistics_interval(), Duration::ZERO);
        assert!(c.statistics_callback().is_none());
    }

    #[test]
    fn properties_by_name_and_their_checks() {
        let c = build(&[
            ("metrics.num.samples", "3"),
            ("metrics.sample.window.ms", "1000"),
            ("statistics.interval.ms", "500"),
            ("metrics.recording.level", "debug"),
        ])
        .unwrap();
        assert_eq!(c.metrics_num_samples(), 3);
        assert_eq!(c.metrics_sample_window(), Duration::from_secs(1));
        assert_eq!(c.statistics_interval(), Duration::from_millis(500));
        let key = |r: Result<ProducerConfig, ConfigError>| match r.unwrap_err() {
            ConfigError::OutOfRange { key, .. }
            | ConfigError::InvalidValue { key, .. }
            | ConfigError::Unsupported { key, .. } => key,
            e => panic!("{e:?}"),
        };
        assert_eq!(key(build(&[("metrics.num.samples", "0")])), "metrics.num.samples");
        assert_eq!(key(build(&[("metrics.sample.window.ms", "0")])), "metrics.sample.window.ms");
        assert_eq!(key(build(&[("statistics.interval.ms", "86400001")])), "statistics.interval.ms");
        assert_eq!(key(build(&[("metrics.recording.level", "LOUD")])), "metrics.recording.level");
        assert_eq!(key(build(&[("metric.reporters", "com.example.Reporter")])), "metric.reporters");
    }

    #[test]
    fn callback_is_kept_and_debug_prints() {
        let c = ProducerConfig::builder()
            .bootstrap_servers("localhost:9092")
            .statistics_interval(Duration::from_secs(1))
            .statistics_callback(|_| {})
            .build()
            .unwrap();
        assert!(c.statistics_callback().is_some());
        assert!(format!("{c:?}").contains("Some(<callback>)"));
    }
}
