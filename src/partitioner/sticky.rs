//! Uniform sticky partitioning (KIP-794) for the built-in partitioners: one
//! atomic word of state per topic, found through a per-thread cache or the
//! send path's [`StickySlot`], and the random choices of a new partition.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;

use super::Partitions;

/// A topic's sticky state, kept by the send path beside the topic's cached
/// metadata, so that the one per-thread lookup of the topic serves the
/// built-in sticky partitioner too. Empty until the first record of each
/// version of the topic's metadata looks the state up in the partitioner's
/// map; it holds the partitioner's id with the state, and a slot filled by
/// another partitioner is not used.
#[derive(Debug, Default)]
pub(crate) struct StickySlot(pub(super) OnceLock<(u64, Arc<AtomicU64>)>);

/// Uniform sticky state shared by [`DefaultPartitioner`] and
/// [`UniformStickyPartitioner`].
///
/// Each topic has one `AtomicU64`: the current partition in the high 32 bits
/// (`NO_PARTITION` before the first choice) and the bytes appended to it
/// since it was chosen in the low 32 bits (saturating). Choosing and counting
/// are compare-and-swap loops on that word, so two threads racing to switch
/// agree on one new partition, and bytes reported for a partition that is no
/// longer current are dropped.
#[derive(Debug)]
pub(super) struct Sticky {
    /// Unique per instance (never reused), for the per-thread cache.
    id: u64,
    /// Switch after this many bytes (at least 1).
    batch_size: u32,
    topics: RwLock<HashMap<Box<str>, Arc<AtomicU64>>>,
    rng: SplitMix64,
}

/// A cached sticky state: (the `Sticky` instance's id, the topic, its state).
type CachedState = Option<(u64, Box<str>, Arc<AtomicU64>)>;

thread_local! {
    /// The last sticky state this thread used. Saves a lock and a hashed
    /// lookup per record for a thread that keeps sending to one topic.
    static STICKY_CACHE: std::cell::RefCell<CachedState> = const { std::cell::RefCell::new(None) };
}

const NO_PARTITION: u32 = u32::MAX;

pub(super) fn pack(partition: u32, bytes: u32) -> u64 {
    (u64::from(partition) << 32) | u64::from(bytes)
}

pub(super) fn unpack(word: u64) -> (u32, u32) {
    ((word >> 32) as u32, word as u32)
}

impl Sticky {
    pub(super) fn new(batch_size: usize, rng: SplitMix64) -> Self {
        let batch_size = u32::try_from(batch_size).unwrap_or(u32::MAX).max(1);
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Sticky { id, batch_size, topics: RwLock::new(HashMap::new()), rng }
    }

    /// Runs `f` on the topic's state: from this thread's cache (no lock,
    /// no reference count touched), else from the shared map.
    #[inline(always)]
    fn with_state<R>(&self, topic: &str, create: bool, f: impl FnOnce(&AtomicU64) -> R) -> Option<R> {
        let mut f = Some(f);
        let hit = STICKY_CACHE.with(|c| {
            let c = c.try_borrow().ok()?;
            let (id, t, s) = c.as_ref()?;
            if *id == self.id && crate::engine::same_name(t, topic) {
                f.take().map(|f| f(s))
            } else {
                None
            }
        });
        if hit.is_some() {
            return hit;
        }
        let state = self.state(topic, create)?;
        f.take().map(|f| f(&state))
    }

    /// The topic's state from the shared map (and into this thread's cache).
    fn state(&self, topic: &str, create: bool) -> Option<Arc<AtomicU64>> {
        let found = self.topics.read().get(topic).cloned();
        let state = match found {
            Some(s) => s,
            None if create => self
                .topics
                .write()
                .entry(topic.into())
                .or_insert_with(|| Arc::new(AtomicU64::new(pack(NO_PARTITION, 0))))
                .clone(),
            None => return None,
        };
        STICKY_CACHE.with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                *c = Some((self.id, topic.into(), state.clone()));
            }
        });
        Some(state)
    }

    pub(super) fn partition(&self, topic: &str, partitions: Partitions<'_>) -> i32 {
        self.with_state(topic, true, |state| self.choose(state, partitions, 0)).expect("created on demand")
    }

    /// The topic's partition for a record adding `bytes` to it (0: choose
    /// only, the bytes come later through [`on_append`](Self::on_append)):
    /// the current one while it has taken fewer than `batch_size` bytes and
    /// is available, else a random other one, the bytes counted in the same
    /// compare-and-swap.
    #[inline(always)]
    fn choose(&self, state: &AtomicU64, partitions: Partitions<'_>, bytes: usize) -> i32 {
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        let mut word = state.load(Ordering::Relaxed);
        loop {
            let (current, so_far) = unpack(word);
            let current = i32::try_from(current).ok();
            let (chosen, new) = match current {
                Some(p) if so_far < self.batch_size && partitions.is_available(p) => {
                    if bytes == 0 {
                        return p; // nothing to count
                    }
                    (p, pack(p as u32, so_far.saturating_add(bytes)))
                }
                _ => {
                    let next = choose_other(&self.rng, partitions, current);
                    (next, pack(next as u32, bytes))
                }
            };
            match state.compare_exchange_weak(word, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return chosen,
                // Another thread switched or counted first: look again.
                Err(actual) => word = actual,
            }
        }
    }

    /// Runs `f` on the topic's state as `slot` holds it, filling the slot
    /// from the map on first use.
    #[inline(always)]
    pub(super) fn with_slot_state<R>(
        &self,
        topic: &str,
        slot: &StickySlot,
        f: impl FnOnce(&AtomicU64) -> R,
    ) -> R {
        if let Some((id, state)) = slot.0.get() {
            if *id == self.id {
                return f(state);
            }
        }
        self.with_slot_state_slow(topic, slot, f)
    }

    #[cold]
    fn with_slot_state_slow<R>(&self, topic: &str, slot: &StickySlot, f: impl FnOnce(&AtomicU64) -> R) -> R {
        let state = self.state(topic, true).expect("created on demand");
        match slot.0.get_or_init(|| (self.id, state.clone())) {
            (id, state) if *id == self.id => f(state),
            // Another partitioner's slot (not the producer's own): the map.
            _ => f(&state),
        }
    }

    /// [`partition`](Self::partition) and [`on_append`](Self::on_append)
    /// of a record of `bytes` bytes in one update of the topic's state,
    /// found through `slot`.
    #[inline(always)]
    pub(super) fn place(
        &self,
        topic: &str,
        partitions: Partitions<'_>,
        bytes: usize,
        slot: &StickySlot,
    ) -> i32 {
        self.with_slot_state(
            topic,
            slot,
            #[inline(always)]
            |state| self.choose(state, partitions, bytes),
        )
    }

    pub(super) fn on_append(&self, topic: &str, partition: i32, bytes: usize) {
        self.with_state(topic, false, |state| Self::count(state, partition, bytes));
    }

    /// Adds `bytes` to the state's count if `partition` is still current.
    pub(super) fn count(state: &AtomicU64, partition: i32, bytes: usize) {
        let Ok(partition) = u32::try_from(partition) else { return };
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        let mut word = state.load(Ordering::Relaxed);
        loop {
            let (current, so_far) = unpack(word);
            if current != partition {
                return; // the record went to a partition we already switched away from
            }
            let new = pack(current, so_far.saturating_add(bytes));
            match state.compare_exchange_weak(word, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }
}

/// A random partition among the available ones (all when none is known),
/// other than `exclude` whenever there is another to pick.
fn choose_other(rng: &SplitMix64, partitions: Partitions<'_>, exclude: Option<i32>) -> i32 {
    let available = partitions.available();
    if available.is_empty() {
        let n = partitions.count() as usize;
        match exclude.filter(|&e| (0..partitions.count()).contains(&e)) {
            Some(e) if n > 1 => {
                let r = rng.below(n - 1) as i32;
                if r >= e {
                    r + 1
                } else {
                    r
                }
            }
            _ => rng.below(n) as i32,
        }
    } else {
        let n = available.len();
        match exclude.and_then(|e| available.binary_search(&e).ok()) {
            Some(i) if n > 1 => {
                let r = rng.below(n - 1);
                available[if r >= i { r + 1 } else { r }]
            }
            _ => available[rng.below(n)],
        }
    }
}

/// SplitMix64 over an atomic counter: lock-free, shared by all threads, and
/// reproducible from a seed when used from one thread.
#[derive(Debug)]
pub(super) struct SplitMix64 {
    state: AtomicU64,
}

impl SplitMix64 {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

    pub(super) fn new(seed: u64) -> Self {
        SplitMix64 { state: AtomicU64::new(seed) }
    }

    /// Seeded from std's randomly keyed hasher, the clock, the thread id and a
    /// process-wide counter, so two partitioners never share a sequence.
    pub(super) fn from_entropy() -> Self {
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        let mut h = RandomState::new().build_hasher();
        INSTANCES.fetch_add(1, Ordering::Relaxed).hash(&mut h);
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0).hash(&mut h);
        std::thread::current().id().hash(&mut h);
        Self::new(h.finish())
    }

    fn next_u64(&self) -> u64 {
        let mut z = self.state.fetch_add(Self::GAMMA, Ordering::Relaxed).wrapping_add(Self::GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0), by multiply-shift (Lemire).
    fn below(&self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}
