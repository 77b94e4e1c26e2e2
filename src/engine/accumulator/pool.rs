//! The `buffer.memory` bound: bytes reserved from `send` until a batch
//! resolves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// Counts reserved bytes against `buffer.memory`.
#[derive(Debug)]
pub(crate) struct MemoryPool {
    total: usize,
    used: AtomicUsize,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    cond: Condvar,
}

impl MemoryPool {
    pub fn new(total: usize) -> Self {
        Self {
            total,
            used: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cond: Condvar::new(),
        }
    }

    pub fn total(&self) -> usize {
        self.total
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether some sender is blocked waiting for memory (batches should be
    /// sent without waiting for linger, as the Java client does).
    pub fn under_pressure(&self) -> bool {
        self.waiters.load(Ordering::SeqCst) > 0
    }

    /// How many senders are blocked waiting for memory (`waiting-threads`).
    pub fn waiting(&self) -> usize {
        self.waiters.load(Ordering::Relaxed)
    }

    /// Reserves `n` bytes if they are free, without blocking.
    #[inline]
    pub fn try_reserve(&self, n: usize) -> bool {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            if cur.saturating_add(n) > self.total {
                return false;
            }
            match self.used.compare_exchange_weak(cur, cur + n, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(c) => cur = c,
            }
        }
    }

    /// Reserves `n` bytes, blocking until they are free, `deadline` passes
    /// (`None`: do not block) or `cancelled()` is true (checked under the
    /// pool's lock; [`Self::wake_waiters`] makes waiters check it again).
    /// Returns whether the bytes were reserved.
    pub fn reserve(
        &self,
        n: usize,
        deadline: Option<Instant>,
        on_wait: impl Fn(),
        cancelled: impl Fn() -> bool,
    ) -> bool {
        if self.try_reserve(n) {
            return true;
        }
        let Some(deadline) = deadline else { return false };
        let mut g = self.lock.lock();
        self.waiters.fetch_add(1, Ordering::SeqCst);
        // Let the broker threads know: batches now go out without lingering.
        on_wait();
        let ok = loop {
            if self.try_reserve(n) {
                break true;
            }
            if cancelled() {
                break false;
            }
            if self.cond.wait_until(&mut g, deadline).timed_out() {
                break self.try_reserve(n);
            }
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        ok
    }

    /// Counts `n` more bytes without checking the total (records replayed
    /// from the spool, which were accepted by an earlier run).
    pub fn charge(&self, n: usize) {
        self.used.fetch_add(n, Ordering::SeqCst);
    }

    /// Wakes every blocked sender so that it checks its `cancelled` again.
    pub fn wake_waiters(&self) {
        let _g = self.lock.lock();
        self.cond.notify_all();
    }

    /// Returns `n` bytes to the pool and wakes blocked senders.
    pub fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let prev = self.used.fetch_sub(n, Ordering::SeqCst);
        debug_assert!(prev >= n, "memory pool underflow");
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _g = self.lock.lock();
            self.cond.notify_all();
        }
    }
}
