//! How records travel (private).
//!
//! `Producer::send` (`producer/send.rs`) -> partitioner -> [`accumulator`]
//! (a lock-striped set of per-partition batch queues: `queue.rs`, `batch.rs`,
//! `pool.rs`) -> the [`broker`] I/O thread of the partition's leader (one per
//! broker: `thread.rs`, then `request.rs` drains, seals and writes) ->
//! [`connection`] (socket) -> `broker/response.rs` -> the batch's completion
//! slot -> every `DeliveryHandle` of the batch.
//!
//! Beside them, the [`metadata`] thread keeps the cluster view (leaders,
//! partition counts) fresh and obtains the producer id for
//! [`idempotence`]. The [`spool`] keeps accepted records on disk until
//! their outcome is final: `send` writes each one, the broker threads write
//! which batch got which sequence, and its feeder thread reads back what did
//! not fit in `buffer.memory` (and, after a restart, what the previous run
//! left). The [`clock`] gives `send` its one clock reading per record.
//!
//! Lock order (outermost first): `Brokers::threads` -> a stripe of the
//! accumulator -> `BatchSlot::waiters`. The memory pool's and the metadata
//! view's locks are leaves: nothing else is taken while they are held. So
//! are the metrics' sensor locks (one sensor at a time, except snapshots,
//! which take the producer-level ones in a fixed order). No socket I/O and
//! no user callback runs while a stripe lock is held.

pub(crate) mod accumulator;
pub(crate) mod broker;
pub(crate) mod clock;
pub(crate) mod connection;
pub(crate) mod idempotence;
pub(crate) mod metadata;
pub(crate) mod metrics;
pub(crate) mod sasl;
pub(crate) mod spool;
pub(crate) mod telemetry;
pub(crate) mod transport;
pub(crate) mod txn;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::error::DeliveryError;
use crate::protocol::compression::Compression;

/// Whether two names are equal, as `==` says, without the call into the C
/// library's `memcmp` that `==` on slices makes: the per-thread caches on
/// the send path compare a topic name with the one they hold on every
/// record, and names are short.
#[inline]
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let w8 = |s: &[u8], i: usize| u64::from_ne_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    let w4 = |s: &[u8], i: usize| u32::from_ne_bytes(s[i..i + 4].try_into().expect("4 bytes"));
    let w2 = |s: &[u8], i: usize| u16::from_ne_bytes(s[i..i + 2].try_into().expect("2 bytes"));
    match n {
        0 => true,
        1 => a[0] == b[0],
        // The first and the last word of the size, overlapping when `n` is
        // not twice the word: every byte is in one of them.
        2..=3 => w2(a, 0) == w2(b, 0) && w2(a, n - 2) == w2(b, n - 2),
        4..=7 => w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4),
        _ => {
            let mut i = 0;
            while i + 8 <= n {
                if w8(a, i) != w8(b, i) {
                    return false;
                }
                i += 8;
            }
            w8(a, n - 8) == w8(b, n - 8)
        }
    }
}

/// The settings the engine reads, resolved from `ProducerConfig` once.
#[derive(Debug, Clone)]
pub(crate) struct EngineConfig {
    pub bootstrap: Vec<(String, u16)>,
    pub client_id: String,
    /// 0, 1 or -1 (all).
    pub acks: i16,
    pub idempotence: bool,
    pub linger: Duration,
    /// The most bytes per partition batch (`ProducerConfig::max_batch_size`).
    pub batch_size: usize,
    pub buffer_memory: usize,
    pub max_block: Duration,
    pub max_in_flight: usize,
    pub retries: u32,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    pub delivery_timeout: Duration,
    pub request_timeout: Duration,
    pub compression: Compression,
    pub compression_level: Option<i32>,
    pub max_request_size: usize,
    pub metadata_max_age: Duration,
    pub metadata_max_idle: Duration,
    pub rebootstrap: bool,
    pub rebootstrap_trigger: Duration,
    pub allow_auto_create_topics: bool,
    pub enable_metrics_push: bool,
    pub connections_max_idle: Duration,
    pub reconnect_backoff: Duration,
    pub reconnect_backoff_max: Duration,
    pub connect_timeout: Duration,
    pub connect_timeout_max: Duration,
    pub security: crate::config::SecurityConfig,
    /// `metrics.num.samples` and `metrics.sample.window.ms`.
    pub metrics: metrics::MetricConfig,
}

/// Producer-wide run state shared by every thread.
#[derive(Debug, Default)]
pub(crate) struct RunState {
    /// Set by `close`: intake stops, every queued batch becomes ready.
    closing: AtomicBool,
    /// Set by `close` when its deadline passed: threads fail what is left and exit.
    abort: AtomicBool,
    /// The first fatal error, if any: every later send and batch fails with it.
    fatal: OnceLock<DeliveryError>,
}

impl RunState {
    #[inline]
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }
    pub fn begin_close(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }

    pub fn is_aborting(&self) -> bool {
        self.abort.load(Ordering::Acquire)
    }
    pub fn abort(&self) {
        self.abort.store(true, Ordering::Release);
    }
    #[inline]
    pub fn fatal(&self) -> Option<&DeliveryError> {
        self.fatal.get()
    }
    pub fn set_fatal(&self, e: DeliveryError) {
        if self.fatal.set(e).is_ok() {
            log::error!(
                "producer hit a fatal error: {}",
                self.fatal.get().map(|e| e.to_string()).unwrap_or_default()
            );
        }
    }
}

/// A small, fast, non-cryptographic random source (splitmix64) for jitter and
/// sticky partition choice; seeded from the clock and a counter.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new() -> Self {
        use std::sync::atomic::AtomicU64;
        static COUNTER: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Self(t ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Exponential backoff with jitter (KIP-580): `base * 2^attempt`, capped at
/// `max`, then multiplied by a random factor in [0.8, 1.2] (and capped again).
pub(crate) fn backoff(base: Duration, max: Duration, attempt: u32, rng: &mut Rng) -> Duration {
    let exp = base.as_secs_f64() * 2f64.powi(attempt.min(31) as i32);
    let capped = exp.min(max.as_secs_f64().max(base.as_secs_f64()));
    let jittered = capped * (0.8 + 0.4 * rng.next_f64());
    Duration::from_secs_f64(jittered.min(max.as_secs_f64().max(base.as_secs_f64())))
}

/// Whether the `n`th failure in a row (from 1) of the same kind deserves a
/// warning: the first, then the 10th, 100th, 1000th...; the others go to
/// the debug level, so an unreachable broker is not a warning per attempt.
pub(crate) fn worth_a_warning(n: u32) -> bool {
    n == 1 || (n >= 10 && 10u32.pow(n.ilog10()) == n)
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Shared handles every engine thread holds.
pub(crate) type SharedState = Arc<Shared>;

/// Everything the producer's threads share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub cfg: EngineConfig,
    pub run: RunState,
    pub acc: accumulator::Accumulator,
    pub meta: metadata::Metadata,
    pub idem: idempotence::Idempotence,
    pub brokers: broker::Brokers,
    pub metrics: metrics::Metrics,
    /// The transaction manager, for a producer with `transactional.id`.
    pub txn: Option<txn::Transactions>,
    /// The durable spool, for a producer with `spool.dir`.
    pub spool: Option<spool::Spool>,
    /// Every open socket, so `close` can interrupt blocked reads.
    pub sockets: Arc<connection::SocketRegistry>,
}

thread_local! {
    /// The id (`Metadata::id`) of the producer whose engine thread this is,
    /// if it is one: `close` called there (from a callback) must not wait
    /// for, or join, the thread it runs on.
    static ENGINE_THREAD: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

impl Shared {
    /// Marks the calling thread as one of this producer's engine threads.
    pub fn mark_engine_thread(&self) {
        ENGINE_THREAD.with(|c| c.set(Some(self.meta.id())));
    }

    /// Whether the calling thread is one of this producer's engine threads
    /// (a broker I/O thread or the metadata thread).
    pub fn on_engine_thread(&self) -> bool {
        ENGINE_THREAD.with(|c| c.get() == Some(self.meta.id()))
    }

    /// Records a fatal error and wakes every thread, so that queued batches
    /// fail now rather than at their delivery deadline.
    pub fn set_fatal(&self, e: DeliveryError) {
        self.run.set_fatal(e);
        self.brokers.wake_all();
        self.meta.poke();
    }

    /// A batch that held a sequence number under `stale` failed or may be
    /// lost: the partition's numbering is broken. An idempotent producer
    /// gets a new producer id; a transactional one must abort the
    /// transaction, which bumps the epoch.
    pub fn sequence_broken(self: &Arc<Self>, stale: Option<accumulator::ProducerIdEpoch>) {
        self.idem.request_reset(stale);
        if let Some(t) = &self.txn {
            t.sequence_broken(self);
        }
    }

    /// Connection settings for an attempt after `failures` failed ones in a
    /// row: the setup timeout grows from `socket.connection.setup.timeout.ms`
    /// exponentially (with jitter) up to `socket.connection.setup.timeout.max.ms`,
    /// as in Java. While closing, connecting and resolving names are bounded
    /// by 1 s, so a thread stuck connecting cannot hold `close` up for long.
    pub fn connect_options(&self, failures: u32, rng: &mut Rng) -> connection::ConnectOptions {
        let mut t = backoff(self.cfg.connect_timeout, self.cfg.connect_timeout_max, failures, rng);
        let mut resolve = None;
        if self.run.is_closing() {
            t = t.min(Duration::from_secs(1));
            resolve = Some(Duration::from_secs(1));
        }
        let mut o = connection::ConnectOptions::new(self.cfg.client_id.clone(), t, self.cfg.request_timeout)
            .registered(&self.sockets)
            .secured(&self.cfg.security);
        o.resolve_timeout = resolve;
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// `same_name` says what `==` says, for names of every length
        /// around its 8-byte steps and for names one byte apart.
        #[test]
        fn same_name_is_equality(a in "[a-c.é]{0,20}", b in "[a-c.é]{0,20}", at in 0usize..24) {
            proptest::prop_assert_eq!(same_name(&a, &b), a == b);
            proptest::prop_assert!(same_name(&a, &a.clone()));
            if at < a.len() {
                let mut c = a.clone().into_bytes();
                c[at] ^= 1;
                if let Ok(c) = String::from_utf8(c) {
                    proptest::prop_assert!(!same_name(&a, &c));
                }
            }
        }
    }

    #[test]
    fn repeated_failures_warn_at_powers_of_ten() {
        let warned: Vec<u32> = (1..=2000).filter(|&n| worth_a_warning(n)).collect();
        assert_eq!(warned, [1, 10, 100, 1000]);
    }

    #[test]
    fn backoff_grows_within_bounds() {
        let mut rng = Rng::new();
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        for attempt in 0..20 {
            for _ in 0..50 {
                let d = backoff(base, max, attempt, &mut rng);
                let ideal = (100.0 * 2f64.powi(attempt as i32)).min(1000.0);
                let ms = d.as_secs_f64() * 1000.0;
                assert!(
                    ms >= ideal * 0.8 - 1e-6 && ms <= (ideal * 1.2).min(1000.0) + 1e-6,
                    "{attempt}: {ms}"
                );
            }
        }
    }
}
