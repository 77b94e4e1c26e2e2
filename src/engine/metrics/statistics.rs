//! The `statistics.interval.ms` thread (`kafka-sync-statistics`): every
//! interval it takes a snapshot and hands it to the user's callback, or
//! logs a summary at debug level when there is none. Not a broker I/O
//! thread, so a slow callback delays nothing but the next snapshot.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::snapshot;
use crate::config::ProducerConfig;
use crate::engine::SharedState;
use crate::metrics::{ProducerMetrics, StatisticsCallback};

/// The running statistics thread; [`Statistics::stop`] ends and joins it.
#[derive(Debug)]
pub(crate) struct Statistics {
    signal: Arc<Signal>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Signal {
    stopped: Mutex<bool>,
    cond: Condvar,
}

impl Statistics {
    /// Starts the thread if `config` asks for one (`statistics.interval.ms`
    /// above 0). If the thread cannot be started the producer goes on
    /// without it (logged as an error).
    pub fn start_for(shared: &SharedState, config: &ProducerConfig) -> Option<Self> {
        let interval = config.statistics_interval();
        let callback = config.statistics_callback().cloned();
        if interval.is_zero() {
            if callback.is_some() {
                log::warn!(
                    "a statistics callback is registered but statistics.interval.ms is 0: it will not be called"
                );
            }
            return None;
        }
        match Self::start(shared.clone(), interval, callback) {
            Ok(s) => Some(s),
            Err(e) => {
                log::error!("could not start the statistics thread: {e}");
                None
            }
        }
    }

    /// Starts the thread: a snapshot every `interval` (not zero), to
    /// `callback` if there is one.
    pub fn start(
        shared: SharedState,
        interval: Duration,
        callback: Option<StatisticsCallback>,
    ) -> std::io::Result<Self> {
        let signal = Arc::new(Signal::default());
        let s = signal.clone();
        let handle = std::thread::Builder::new()
            .name("kafka-sync-statistics".into())
            .spawn(move || run(&shared, interval, callback.as_deref(), &s))?;
        Ok(Self { signal, handle: Mutex::new(Some(handle)) })
    }

    /// Stops the thread and joins it, unless called on it (a callback that
    /// closes the producer): that thread then ends when the callback returns.
    pub fn stop(&self) {
        *self.signal.stopped.lock() = true;
        self.signal.cond.notify_all();
        if let Some(h) = self.handle.lock().take() {
            if h.thread().id() != std::thread::current().id() && h.join().is_err() {
                log::error!("the statistics thread panicked");
            }
        }
    }
}

fn run(
    shared: &SharedState,
    interval: Duration,
    callback: Option<&(dyn Fn(&ProducerMetrics) + Send + Sync)>,
    signal: &Signal,
) {
    let mut next = Instant::now() + interval;
    loop {
        {
            let mut stopped = signal.stopped.lock();
            while !*stopped && Instant::now() < next {
                signal.cond.wait_until(&mut stopped, next);
            }
            if *stopped {
                return;
            }
        }
        let m = snapshot(shared);
        match callback {
            Some(f) => {
                if catch_unwind(AssertUnwindSafe(|| f(&m))).is_err() {
                    log::error!("the statistics callback panicked; the panic was contained");
                }
            }
            None => log::debug!(target: "kafka_sync::metrics", "{}", summary(&m)),
        }
        // Keep to the interval's grid; after a slow callback, skip what passed.
        next += interval;
        let now = Instant::now();
        if next <= now {
            next = now + interval;
        }
    }
}

/// One line with the figures people look at first.
fn summary(m: &ProducerMetrics) -> String {
    let k = |name: &str| m.kafka_metric(name).unwrap_or(f64::NAN);
    format!(
        "statistics of {}: record-send-rate {:.1}/s, record-send-total {}, record-retry-total {}, \
         record-error-total {}, request-latency-avg {:.2} ms, requests-in-flight {}, \
         buffer-available-bytes {}, waiting-threads {}, connection-count {}",
        m.client_id,
        k("record-send-rate"),
        k("record-send-total"),
        k("record-retry-total"),
        k("record-error-total"),
        k("request-latency-avg"),
        k("requests-in-flight"),
        k("buffer-available-bytes"),
        k("waiting-threads"),
        k("connection-count"),
    )
}
