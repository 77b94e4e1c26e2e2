//! Choosing the partition of a record that has no explicit partition.
//!
//! A record sent with an explicit partition goes there; the producer checks the
//! partition against the topic's partition count and never asks the
//! partitioner. Every other record is passed to the configured [`Partitioner`]
//! (the `partitioner` property, see [`crate::config`]).
//!
//! # Built-in partitioners
//!
//! | `partitioner` value | type | keyed records | records without a key |
//! |---|---|---|---|
//! | `murmur2_random` (default; alias `default`) | [`DefaultPartitioner`] | murmur2 of the key | uniform sticky |
//! | `murmur2` | [`Murmur2Partitioner`] | murmur2 of the key | murmur2 of the empty key: one fixed partition |
//! | `uniform_sticky` (alias `sticky`) | [`UniformStickyPartitioner`] | uniform sticky, key ignored | uniform sticky |
//! | `round_robin` | [`RoundRobinPartitioner`] | next partition in turn, key ignored | next partition in turn |
//!
//! - **murmur2** is exactly Java's `Utils.murmur2` (seed `0x9747b28c`) and the
//!   partition is `(murmur2(key) & 0x7fffffff) % partition_count`, counted over
//!   *all* partitions of the topic, so a key lands where the Java client and
//!   librdkafka's `murmur2`/`murmur2_random` put it ([`partition_for_key`]).
//! - **Uniform sticky** (KIP-794, the Java 3.3+ built-in behaviour for
//!   records without a key): the producer sticks to one partition until about
//!   `batch.size` bytes were appended to it, then switches to a random other
//!   partition, preferring partitions whose leader is known
//!   ([`Partitions::available`]). KIP-794's *adaptive* part (weighting the choice
//!   by each broker's queue length) is not implemented: the choice is uniform
//!   among the available partitions, and the current partition is excluded so
//!   a switch always moves (Java may pick the same partition again).
//! - **Round-robin** is Java's `RoundRobinPartitioner`: a per-topic counter
//!   walks the available partitions (all partitions when none is known to be
//!   available), ignoring keys.
//!
//! librdkafka's default `consistent_random` (CRC32 of the key) and its
//! `consistent`, `random`, `fnv1a` and `fnv1a_random` partitioners are **not**
//! supported; naming one is a configuration error. Their keyed records would
//! land on different partitions than the Java client's, which is why
//! `murmur2_random` is the default here.
//!
//! # How the producer drives a partitioner
//!
//! For each record without an explicit partition, on the thread calling `send`:
//!
//! 1. `partition(topic, key, value, partitions)` picks the partition, where
//!    `partitions` says how many partitions the topic has and which of them
//!    currently have a known leader. A result outside `0..partitions.count()`
//!    fails that record with an error; it is never clamped.
//! 2. The record is appended to that partition's batch.
//! 3. Only if the append succeeded, `on_append(topic, partition, bytes)` is
//!    called with the number of bytes the record added to its batch (its
//!    encoded size as the accumulator counts it). The producer calls it after
//!    releasing any accumulator lock, and does not call it for records with an
//!    explicit partition.
//!
//! The built-in sticky partitioners, when chosen by name (`murmur2_random`,
//! the default, and `uniform_sticky`), are driven without the trait: the
//! producer chooses the partition and counts the record's bytes in one
//! step, before the append, so a record the append then refuses (a full
//! `buffer.memory`, or closing) is counted too. A built-in passed as an
//! object to [`partitioner`](crate::config::ProducerConfigBuilder::partitioner)
//! is driven through the trait like any other.
//!
//! Many threads call both methods at the same time, so a partitioner must be
//! cheap and thread-safe. The built-ins keep one atomic per topic, found
//! through a per-thread cache of the last topic used (else under a read
//! lock on a per-topic map; the write lock is taken once per topic, the
//! first time it is seen).
//!
//! # Writing your own
//!
//! ```
//! use std::sync::Arc;
//! use kafka_sync::partitioner::{partition_for_key, Partitioner, Partitions};
//!
//! /// Keys starting with "vip:" go to partition 0; other keys are hashed like
//! /// Java does; records without a key go to the first available partition.
//! #[derive(Debug)]
//! struct VipFirst;
//!
//! impl Partitioner for VipFirst {
//!     fn partition(
//!         &self,
//!         _topic: &str,
//!         key: Option<&[u8]>,
//!         _value: Option<&[u8]>,
//!         partitions: Partitions<'_>,
//!     ) -> i32 {
//!         match key {
//!             Some(k) if k.starts_with(b"vip:") => 0,
//!             Some(k) => partition_for_key(k, partitions.count()),
//!             None => partitions.available().first().copied().unwrap_or(0),
//!         }
//!     }
//!     // `on_append` keeps its default (do nothing): this partitioner is not sticky.
//! }
//!
//! let p = VipFirst;
//! assert_eq!(p.partition("orders", Some(b"vip:42"), None, Partitions::new(6, &[0, 1, 2, 3, 4, 5])), 0);
//! assert_eq!(p.partition("orders", None, None, Partitions::new(6, &[2, 5])), 2);
//!
//! let config = kafka_sync::ProducerConfig::builder()
//!     .bootstrap_servers("localhost:9092")
//!     .partitioner(Arc::new(VipFirst))
//!     .build()?;
//! # let _ = config;
//! # Ok::<(), kafka_sync::ConfigError>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

mod sticky;
pub(crate) use sticky::StickySlot;
use sticky::{SplitMix64, Sticky};

/// Chooses the partition of records sent without an explicit partition.
///
/// See the [module documentation](self) for when the producer calls each
/// method, and an example. Implementations are shared by every sending thread.
pub trait Partitioner: Send + Sync + fmt::Debug {
    /// Returns the partition for a record of `topic` with this serialized
    /// `key` and `value` (`None` is a null key or value).
    ///
    /// The result must be in `0..partitions.count()`; otherwise the producer
    /// fails the record (it does not clamp or wrap the number). Prefer
    /// partitions in [`Partitions::available`] for records whose placement
    /// does not matter, so they are not held back by a partition without a
    /// leader.
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: Partitions<'_>,
    ) -> i32;

    /// Tells the partitioner that a record it placed on `partition` of `topic`
    /// was appended to that partition's batch, adding `bytes` bytes to it.
    ///
    /// Sticky partitioners count these bytes to know when to switch. Called
    /// after a successful append only, outside accumulator locks, and only for
    /// records whose partition came from [`Partitioner::partition`]. The
    /// default does nothing.
    fn on_append(&self, topic: &str, partition: i32, bytes: usize) {
        let _ = (topic, partition, bytes);
    }
}

/// What a partitioner knows about a topic's partitions when it chooses one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partitions<'a> {
    count: i32,
    available: &'a [i32],
}

impl<'a> Partitions<'a> {
    /// A topic with `count` partitions, of which `available` (sorted ascending,
    /// no duplicates, each in `0..count`) currently have a known leader.
    ///
    /// # Panics
    ///
    /// If `count` is not positive. In debug builds, also if `available` is not
    /// sorted, has duplicates, or holds a partition outside `0..count`.
    #[inline]
    pub fn new(count: i32, available: &'a [i32]) -> Self {
        assert!(count > 0, "a topic has at least one partition, got {count}");
        debug_assert!(
            available.windows(2).all(|w| w[0] < w[1]) && available.iter().all(|&p| (0..count).contains(&p)),
            "available partitions must be sorted, unique and in 0..{count}: {available:?}"
        );
        Partitions { count, available }
    }

    /// The number of partitions of the topic (at least 1); valid partitions are
    /// `0..count`.
    #[inline]
    pub fn count(&self) -> i32 {
        self.count
    }

    /// The partitions whose leader is currently known, sorted ascending. Empty
    /// when no leader is known; then choose among all of `0..count`.
    #[inline]
    pub fn available(&self) -> &'a [i32] {
        self.available
    }

    /// Whether `partition` is in `0..count` and, unless [`Self::available`] is
    /// empty, among the available partitions.
    #[inline]
    pub fn is_available(&self, partition: i32) -> bool {
        // All partitions available (the usual case): no search.
        (0..self.count).contains(&partition)
            && (self.available.is_empty()
                || self.available.len() == self.count as usize
                || self.available.binary_search(&partition).is_ok())
    }
}

/// Java's `Utils.murmur2`: 32-bit MurmurHash2 with seed `0x9747b28c`, as the
/// Java client hashes record keys. Bit-for-bit the same result, as a signed
/// `i32` like Java's `int`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    // Java takes the length as an `int`; keys are far shorter than 2 GiB.
    let mut h = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    // Java's switch falls through from case 3 to case 1.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of a keyed record, as the Java client computes it:
/// `(murmur2(key) & 0x7fffffff) % partition_count`.
///
/// # Panics
///
/// If `partition_count` is not positive.
pub fn partition_for_key(key: &[u8], partition_count: i32) -> i32 {
    assert!(partition_count > 0, "partition count must be positive, got {partition_count}");
    (murmur2(key) & 0x7fff_ffff) % partition_count
}

/// The partitioner built from a `partitioner` property value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    Murmur2Random,
    Murmur2,
    UniformSticky,
    RoundRobin,
}

impl Builtin {
    /// Parses a `partitioner` value (case-insensitive).
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "murmur2_random" | "default" => Self::Murmur2Random,
            "murmur2" => Self::Murmur2,
            "uniform_sticky" | "sticky" => Self::UniformSticky,
            "round_robin" => Self::RoundRobin,
            _ => return None,
        })
    }

    /// Builds it; sticky partitioners switch after `batch_size` bytes.
    pub(crate) fn build(self, batch_size: usize) -> Placer {
        match self {
            Self::Murmur2Random => {
                let p = Arc::new(DefaultPartitioner::new(batch_size));
                Placer { partitioner: p.clone(), sticky: Some(BuiltinSticky::Default(p)) }
            }
            Self::Murmur2 => Placer::custom(Arc::new(Murmur2Partitioner::new())),
            Self::UniformSticky => {
                let p = Arc::new(UniformStickyPartitioner::new(batch_size));
                Placer { partitioner: p.clone(), sticky: Some(BuiltinSticky::Uniform(p)) }
            }
            Self::RoundRobin => Placer::custom(Arc::new(RoundRobinPartitioner::new())),
        }
    }
}

/// How the producer's send path drives the configured partitioner.
///
/// Any partitioner is driven through the [`Partitioner`] trait: `partition`,
/// then `on_append` after a successful append. The built-in sticky ones
/// ([`DefaultPartitioner`], [`UniformStickyPartitioner`]) built from the
/// `partitioner` property are also reachable directly, so that choosing the
/// partition and counting the record's bytes are one lookup of the topic's
/// sticky state and one atomic update, not two of each. They count the bytes
/// when choosing, before the append: a record the append then refuses
/// (`buffer.memory` full, or closing) is counted too, which can only bring
/// the next switch a record earlier.
#[derive(Debug, Clone)]
pub(crate) struct Placer {
    partitioner: Arc<dyn Partitioner>,
    /// The same object as `partitioner`, when it is a built-in sticky one.
    sticky: Option<BuiltinSticky>,
}

#[derive(Debug, Clone)]
enum BuiltinSticky {
    Default(Arc<DefaultPartitioner>),
    Uniform(Arc<UniformStickyPartitioner>),
}

impl Placer {
    /// An application's partitioner (or a built-in one that is not sticky).
    pub(crate) fn custom(partitioner: Arc<dyn Partitioner>) -> Self {
        Placer { partitioner, sticky: None }
    }

    /// The partitioner, for the places that drive it through the trait.
    pub(crate) fn partitioner(&self) -> &Arc<dyn Partitioner> {
        &self.partitioner
    }

    /// Chooses the partition of a record that adds `bytes` to its batch.
    /// Returns it, and whether the bytes are counted already (a built-in
    /// sticky partitioner); if not, the caller calls the partitioner's
    /// [`on_append`](Partitioner::on_append) after a successful append.
    /// `slot`: where the caller keeps the topic's sticky state beside its
    /// cached metadata (see [`StickySlot`]).
    #[inline]
    pub(crate) fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: Partitions<'_>,
        bytes: usize,
        slot: &StickySlot,
    ) -> (i32, bool) {
        match &self.sticky {
            Some(BuiltinSticky::Default(d)) => (d.place(topic, key, partitions, bytes, slot), true),
            Some(BuiltinSticky::Uniform(u)) => (u.sticky.place(topic, partitions, bytes, slot), true),
            None => (self.partitioner.partition(topic, key, value, partitions), false),
        }
    }
}

/// The default partitioner (`murmur2_random`): Java's built-in behaviour.
///
/// Keyed records go to [`partition_for_key`] over all partitions; records
/// without a key use uniform sticky partitioning (see
/// [`UniformStickyPartitioner`]), switching after about `batch_size` bytes.
#[derive(Debug)]
pub struct DefaultPartitioner {
    sticky: Sticky,
}

impl DefaultPartitioner {
    /// Switches the sticky partition of unkeyed records after `batch_size`
    /// bytes (the producer passes `batch.size`). Random choices are seeded
    /// from the clock, the thread and a process-wide counter.
    pub fn new(batch_size: usize) -> Self {
        DefaultPartitioner { sticky: Sticky::new(batch_size, SplitMix64::from_entropy()) }
    }

    /// Like [`Self::new`] with a fixed seed, so a single thread's sequence of
    /// choices is reproducible (for tests).
    pub fn with_seed(batch_size: usize, seed: u64) -> Self {
        DefaultPartitioner { sticky: Sticky::new(batch_size, SplitMix64::new(seed)) }
    }

    /// `partition` and `on_append` in one step (see [`Placer`]).
    #[inline(always)]
    fn place(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        partitions: Partitions<'_>,
        bytes: usize,
        slot: &StickySlot,
    ) -> i32 {
        match key {
            Some(key) => {
                let p = partition_for_key(key, partitions.count());
                self.sticky.with_slot_state(topic, slot, |state| Sticky::count(state, p, bytes));
                p
            }
            None => self.sticky.place(topic, partitions, bytes, slot),
        }
    }
}

impl Partitioner for DefaultPartitioner {
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: Partitions<'_>,
    ) -> i32 {
        match key {
            Some(key) => partition_for_key(key, partitions.count()),
            None => self.sticky.partition(topic, partitions),
        }
    }

    fn on_append(&self, topic: &str, partition: i32, bytes: usize) {
        // Keyed records that land on the sticky partition count too: they
        // fill the same batch. (Java counts only the unkeyed ones.)
        self.sticky.on_append(topic, partition, bytes);
    }
}

/// `murmur2`: librdkafka's Java-compatible hash partitioner. Keyed records go
/// to [`partition_for_key`]; records without a key are hashed as an empty key,
/// so they all land on one partition (`murmur2(b"")` picks it). Not sticky.
#[derive(Debug, Default, Clone, Copy)]
pub struct Murmur2Partitioner;

impl Murmur2Partitioner {
    /// The partitioner; it has no state.
    pub fn new() -> Self {
        Murmur2Partitioner
    }
}

impl Partitioner for Murmur2Partitioner {
    fn partition(
        &self,
        _topic: &str,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: Partitions<'_>,
    ) -> i32 {
        partition_for_key(key.unwrap_or(&[]), partitions.count())
    }
}

/// `uniform_sticky`: every record, keyed or not, goes to the topic's current
/// sticky partition (KIP-794, like Java's `partitioner.ignore.keys=true`).
///
/// The sticky partition is picked at random among the available partitions
/// and kept until about `batch_size` bytes were appended to it
/// ([`Partitioner::on_append`]), or until it is no longer available; then the
/// next record picks another one at random, never the same one when another
/// is available. Not adaptive: the choice ignores how loaded each broker is.
///
/// Per topic, the state is one atomic word (partition and bytes so far) in a
/// map behind a read-mostly lock; no lock is held while choosing.
#[derive(Debug)]
pub struct UniformStickyPartitioner {
    sticky: Sticky,
}

impl UniformStickyPartitioner {
    /// Switches partition after `batch_size` bytes (the producer passes
    /// `batch.size`). Random choices are seeded from the clock, the thread and
    /// a process-wide counter.
    pub fn new(batch_size: usize) -> Self {
        UniformStickyPartitioner { sticky: Sticky::new(batch_size, SplitMix64::from_entropy()) }
    }

    /// Like [`Self::new`] with a fixed seed, so a single thread's sequence of
    /// choices is reproducible (for tests).
    pub fn with_seed(batch_size: usize, seed: u64) -> Self {
        UniformStickyPartitioner { sticky: Sticky::new(batch_size, SplitMix64::new(seed)) }
    }
}

impl Partitioner for UniformStickyPartitioner {
    fn partition(
        &self,
        topic: &str,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: Partitions<'_>,
    ) -> i32 {
        self.sticky.partition(topic, partitions)
    }

    fn on_append(&self, topic: &str, partition: i32, bytes: usize) {
        self.sticky.on_append(topic, partition, bytes);
    }
}

/// `round_robin`: Java's `RoundRobinPartitioner`. A per-topic counter walks the
/// available partitions in order (all partitions when none is known to be
/// available), ignoring keys. Spreads records evenly, but makes small batches.
#[derive(Debug, Default)]
pub struct RoundRobinPartitioner {
    /// Next counter value per topic.
    counters: RwLock<HashMap<Box<str>, AtomicU32>>,
}

impl RoundRobinPartitioner {
    /// A partitioner whose topics all start at their first partition.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Partitioner for RoundRobinPartitioner {
    fn partition(
        &self,
        topic: &str,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        partitions: Partitions<'_>,
    ) -> i32 {
        let n = with_topic_state(
            &self.counters,
            topic,
            || AtomicU32::new(0),
            |c| c.fetch_add(1, Ordering::Relaxed),
        );
        let available = partitions.available();
        if available.is_empty() {
            (n % partitions.count() as u32) as i32
        } else {
            available[n as usize % available.len()]
        }
    }
}

/// Runs `f` on `topic`'s entry of `map`, creating it with `init` on first use.
///
/// The common case holds only the read lock; the write lock is taken once per
/// topic to insert its entry.
fn with_topic_state<S, R>(
    map: &RwLock<HashMap<Box<str>, S>>,
    topic: &str,
    init: impl FnOnce() -> S,
    f: impl Fn(&S) -> R,
) -> R {
    if let Some(state) = map.read().get(topic) {
        return f(state);
    }
    let mut write = map.write();
    let state = write.entry(topic.into()).or_insert_with(init);
    f(state)
}

#[cfg(test)]
mod tests;
