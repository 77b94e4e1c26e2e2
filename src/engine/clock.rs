//! The wall clock in microseconds, read once per record by `send` (the
//! record's timestamp and its send time), without a system clock read per
//! record.
//!
//! `SystemTime::now()` and the conversion to microseconds cost about 37 ns
//! here (a vDSO `clock_gettime` on a KVM guest, then the `Duration`
//! arithmetic): about 17% of the send thread's time in the `send_path`
//! benchmark. On x86_64 with an invariant time-stamp counter (the CPU says
//! so), each thread reads the system clock at most once per millisecond
//! instead and interpolates between readings with the TSC (10 ns):
//!
//! - **accurate**: anchors and interpolation are in nanoseconds, so a value
//!   is off the system clock by the TSC rate's error over at most 1 ms (the
//!   rate is measured against the system clock over at least 1 ms: well
//!   under a microsecond), not by a truncated microsecond; a step of the
//!   system clock shows within 1 ms;
//! - **monotonic per thread**: a value is never less than the thread's
//!   previous one (a TSC that goes backwards, say on another core, or
//!   jumps, makes the thread read the system clock again);
//! - elsewhere (other architectures, no invariant TSC), every call reads
//!   the system clock.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How long a thread interpolates from one system clock reading, in
/// nanoseconds.
const SPAN_NS: u64 = 1_000_000;

/// Microseconds since the Unix epoch, from the system clock (0 before the
/// epoch).
pub(crate) fn system_micros() -> i64 {
    // Seconds and microseconds apart: `as_micros` goes through u128.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64 * 1_000_000 + i64::from(d.subsec_micros()))
}

/// Nanoseconds since the Unix epoch, from the system clock (0 before the
/// epoch; `i64` lasts until 2262).
fn system_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64 * 1_000_000_000 + i64::from(d.subsec_nanos()))
}

/// Microseconds since the Unix epoch (see the [module docs](self)).
#[inline]
pub(crate) fn now_micros() -> i64 {
    tsc::now_micros()
}

#[cfg(target_arch = "x86_64")]
mod tsc {
    use super::*;
    use std::sync::OnceLock;

    /// Nanoseconds per TSC tick in 32.32 fixed point, as last measured
    /// against the system clock (0: not measured yet). Shared by threads.
    pub(super) static SCALE: AtomicU64 = AtomicU64::new(0);

    /// Ticks between the two TSC reads around a system clock reading beyond
    /// which the pair is not trusted (the thread was preempted in between):
    /// 30 us at 3 GHz.
    const PAIR_TICKS: u64 = 100_000;

    /// A thread's last trusted system clock reading and its TSC.
    #[derive(Clone, Copy)]
    struct Anchor {
        /// The TSC at the reading (0: none).
        tsc: u64,
        /// The reading, in nanoseconds.
        ns: i64,
        /// Ticks to interpolate from it: [`SPAN_NS`] at the known rate (0
        /// while the rate is not known, or the anchor is not trusted).
        span: u64,
        /// The largest value returned, in microseconds (for monotonicity).
        last: i64,
    }

    thread_local! {
        static ANCHOR: Cell<Anchor> = const { Cell::new(Anchor { tsc: 0, ns: 0, span: 0, last: i64::MIN }) };
    }

    /// Whether the TSC ticks at a constant rate in every power state
    /// ("invariant TSC": CPUID leaf 0x8000_0007, EDX bit 8).
    pub(super) fn invariant() -> bool {
        static INVARIANT: OnceLock<bool> = OnceLock::new();
        *INVARIANT.get_or_init(|| {
            // SAFETY: CPUID is part of the x86_64 baseline; it reads
            // processor information and touches no memory. (A safe
            // function in recent Rust; the block keeps older ones building.)
            #[allow(unsafe_code, unused_unsafe)]
            let edx = unsafe {
                let max = std::arch::x86_64::__cpuid(0x8000_0000).eax;
                if max >= 0x8000_0007 {
                    std::arch::x86_64::__cpuid(0x8000_0007).edx
                } else {
                    0
                }
            };
            edx & (1 << 8) != 0
        })
    }

    #[inline]
    fn rdtsc() -> u64 {
        // SAFETY: RDTSC is part of the x86_64 baseline; it reads the
        // time-stamp counter and touches no memory: the intrinsic is
        // declared unsafe, as `core::arch` intrinsics were, with no
        // precondition to uphold. The measured reason is in the module
        // docs (10 ns against 37 ns for the system clock, per record).
        #[allow(unsafe_code)]
        unsafe {
            std::arch::x86_64::_rdtsc()
        }
    }

    #[inline]
    pub(super) fn now_micros() -> i64 {
        ANCHOR.with(|cell| {
            let a = cell.get();
            if a.span != 0 {
                let ticks = rdtsc().wrapping_sub(a.tsc);
                if ticks < a.span {
                    let scale = SCALE.load(Ordering::Relaxed);
                    // (ticks < 1 ms of ticks: the product fits in u128.)
                    let ns = a.ns + ((u128::from(ticks) * u128::from(scale)) >> 32) as i64;
                    return monotonic(cell, a, ns.div_euclid(1000));
                }
            }
            reanchor(cell, a)
        })
    }

    /// Reads the system clock, measures the TSC's rate over the thread's
    /// previous anchor, and anchors there.
    #[cold]
    fn reanchor(cell: &Cell<Anchor>, mut a: Anchor) -> i64 {
        if !invariant() {
            return monotonic(cell, a, system_micros());
        }
        let t0 = rdtsc();
        let ns = system_nanos();
        let t1 = rdtsc();
        if t1.wrapping_sub(t0) > PAIR_TICKS {
            // Preempted between the reads: use the reading, trust no pair.
            a.span = 0;
            return monotonic(cell, a, ns.div_euclid(1000));
        }
        let t = t0 + (t1 - t0) / 2;
        let ticks = t.wrapping_sub(a.tsc);
        let elapsed = ns.saturating_sub(a.ns);
        if a.tsc != 0
            && ticks < u64::MAX / 2
            && elapsed < SPAN_NS as i64
            && SCALE.load(Ordering::Relaxed) == 0
        {
            // No rate yet: keep the older anchor, to measure over a span.
            a.span = 0;
            return monotonic(cell, a, ns.div_euclid(1000));
        }
        if a.tsc != 0
            && ticks > 0
            && ticks < u64::MAX / 2
            && (SPAN_NS as i64..60_000_000_000).contains(&elapsed)
        {
            let measured = (u128::from(elapsed as u64) << 32) / u128::from(ticks);
            // A TSC between 100 MHz and 100 GHz: 10 to 0.01 ns per tick.
            if ((1u128 << 32) / 100..=10u128 << 32).contains(&measured) {
                SCALE.store(measured as u64, Ordering::Relaxed);
            }
        }
        let scale = SCALE.load(Ordering::Relaxed);
        a.tsc = t;
        a.ns = ns;
        a.span = if scale == 0 { 0 } else { ((u128::from(SPAN_NS) << 32) / u128::from(scale)) as u64 };
        monotonic(cell, a, ns.div_euclid(1000))
    }

    /// Stores the anchor and returns `us`, or the thread's previous value
    /// if that is larger.
    #[inline]
    fn monotonic(cell: &Cell<Anchor>, mut a: Anchor, us: i64) -> i64 {
        let us = us.max(a.last);
        a.last = us;
        cell.set(a);
        us
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod tsc {
    use super::*;

    thread_local! {
        static LAST: Cell<i64> = const { Cell::new(i64::MIN) };
    }

    pub(super) fn invariant() -> bool {
        false
    }

    #[inline]
    pub(super) fn now_micros() -> i64 {
        LAST.with(|last| {
            let us = system_micros().max(last.get());
            last.set(us);
            us
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Every value is within 1 ms of the system clock read just before and
    /// after it, over busy stretches and sleeps of many lengths, and never
    /// less than the one before.
    #[test]
    fn stays_within_a_millisecond_of_the_system_clock_and_never_goes_back() {
        let mut prev = i64::MIN;
        let mut worst = 0i64;
        let mut reads = 0u64;
        let mut off_by_more_than_2us = 0u64;
        for round in 0..60u64 {
            let busy = Instant::now() + Duration::from_micros(200 + round * 97 % 3000);
            while Instant::now() < busy {
                let before = system_micros();
                let t = now_micros();
                let after = system_micros();
                assert!(t >= prev, "went back: {t} after {prev}");
                prev = t;
                let off = (before - t).max(t - after).max(0);
                worst = worst.max(off);
                off_by_more_than_2us += u64::from(off > 2);
                reads += 1;
            }
            std::thread::sleep(Duration::from_micros(round * 331 % 2500));
        }
        assert!(reads > 1000, "only {reads} reads");
        assert!(worst <= 250, "{worst} us away from the system clock");
        // Anchors in nanoseconds: no truncated microsecond behind.
        assert!(
            off_by_more_than_2us * 100 <= reads,
            "{off_by_more_than_2us} of {reads} reads more than 2 us off"
        );
    }

    /// Threads share the measured rate but keep their own anchors, and each
    /// stays within a millisecond of the system clock.
    #[test]
    fn threads_each_stay_close() {
        let worst: Vec<i64> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    let end = Instant::now() + Duration::from_millis(30);
                    let mut worst = 0;
                    while Instant::now() < end {
                        let before = system_micros();
                        let t = now_micros();
                        let after = system_micros();
                        worst = (before - t).max(t - after).max(worst);
                    }
                    worst
                })
            })
            .map(|h| h.join().unwrap())
            .collect();
        assert!(worst.iter().all(|&w| w <= 250), "{worst:?}");
    }

    /// Where the TSC is invariant (this machine, and CI's), the rate gets
    /// measured, so the tests above check interpolated values.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_rate_is_measured_where_the_tsc_is_invariant() {
        if !tsc::invariant() {
            println!("SKIP: no invariant TSC here; every read is a system clock read");
            return;
        }
        let _ = now_micros();
        std::thread::sleep(Duration::from_millis(3));
        let _ = now_micros();
        assert_ne!(tsc::SCALE.load(Ordering::Relaxed), 0);
    }
}
