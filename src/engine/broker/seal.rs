//! Sealing drained batches: producer id, sequence, compression, CRC. A
//! broker thread seals the batches of the requests it is about to write;
//! gzip batches, whose compressor is slower than everything else on a
//! record's path, are sealed on helper threads too when cores are idle.

use crate::delivery::Resolution;
use crate::engine::accumulator::{Batch, Payload};
use crate::error::{DeliveryError, DeliveryErrorKind, KafkaCode, Persistence};
use crate::protocol::compression::Compression;
use crate::protocol::record_batch::{set_producer_state, BatchParams};

use super::{finish, SharedState};

/// Seals a drained batch (producer id, sequence, compression, CRC).
pub(super) fn seal(shared: &SharedState, broker: i32, b: &mut Batch, version: i16) -> Result<(), String> {
    let cfg = &shared.cfg;
    if cfg.compression == Compression::Zstd && version < 7 {
        return Err(format!("zstd needs Produce v7, broker {} supports v{version}", broker));
    }
    match std::mem::replace(&mut b.payload, Payload::Empty) {
        Payload::Open(w) => {
            b.uncompressed = w.size_in_bytes();
            let (producer_id, producer_epoch) = b.producer.unwrap_or((-1, -1));
            let params = BatchParams {
                producer_id,
                producer_epoch,
                base_sequence: b.base_sequence,
                is_transactional: shared.txn.is_some(),
                ..BatchParams::default()
            };
            let bytes = if cfg.compression == Compression::None {
                w.finish(&params, cfg.compression, cfg.compression_level)
            } else {
                // Compress into a recycled buffer and recycle the
                // uncompressed one: no allocation per batch.
                let mut scratch = shared.acc.take_buffer(w.size_in_bytes());
                let r = w.finish_with_scratch(&params, cfg.compression, cfg.compression_level, &mut scratch);
                shared.acc.recycle(scratch);
                r
            }
            .map_err(|e| e.to_string())?;
            b.payload = Payload::Sealed(bytes);
        }
        Payload::Sealed(mut bytes) => {
            // A retry: it may have been re-sequenced under a new producer id.
            if let Some((pid, epoch)) = b.producer {
                set_producer_state(&mut bytes, pid, epoch, b.base_sequence).map_err(|e| e.to_string())?;
            }
            b.payload = Payload::Sealed(bytes);
        }
        Payload::Empty => return Err("batch has no payload".into()),
    }
    Ok(())
}

/// Fails a batch that could not be sealed (its codec needs a newer Produce
/// version, or the compressor failed): it was never sent.
pub(super) fn fail_unsealable(shared: &SharedState, b: Batch, why: String) {
    shared.acc.finalize(b.queue, b.ordinal);
    let err = DeliveryError::new(
        DeliveryErrorKind::Broker(KafkaCode::UNSUPPORTED_COMPRESSION_TYPE),
        Persistence::NotPersisted,
        why,
    );
    finish(shared, b, Resolution::Failed(err));
}

/// Compressed bytes to seal in one go below which batches are sealed on
/// the broker thread alone: a helper thread's start (tens of microseconds)
/// is paid back only by milliseconds of compression.
const PARALLEL_SEAL_MIN: usize = 256 << 10;

/// Seals every batch of `requests` (see [`seal`]) with helper threads
/// sealing some of them meanwhile, up to one per idle core, and returns the
/// results in batch order; or seals nothing and returns `None` when that
/// does not pay: less than [`PARALLEL_SEAL_MIN`] bytes to compress, fewer
/// than two batches to compress, or no idle core. A broker thread alone
/// compresses at one core's speed, which bounds a gzip workload's
/// throughput while other cores idle (librdkafka compresses on its broker
/// thread too, Java on the threads that call `send`).
pub(super) fn seal_together(
    shared: &SharedState,
    broker: i32,
    requests: &mut [Vec<Batch>],
    version: i16,
) -> Option<Vec<Result<(), String>>> {
    let mut batches: Vec<&mut Batch> = requests.iter_mut().flatten().collect();
    let to_compress = |b: &Batch| match &b.payload {
        Payload::Open(w) if seals_in_parallel(shared.cfg.compression) => w.size_in_bytes(),
        _ => 0,
    };
    let sizes: Vec<usize> = batches.iter().map(|b| to_compress(b)).collect();
    let work: usize = sizes.iter().sum();
    let wanted = sizes.iter().filter(|&&n| n > 0).count().saturating_sub(1);
    if wanted == 0 || work < PARALLEL_SEAL_MIN {
        return None;
    }
    // Helpers only for cores that no other thread is compressing on: with
    // several broker threads compressing at once, they are the parallelism.
    let _busy = Sealing::enter(1);
    let helpers = wanted.min(idle_cores());
    if helpers == 0 {
        return None;
    }
    let _helping = Sealing::enter(helpers);
    // Largest first, each to the least loaded worker (worker 0 is this
    // thread).
    let mut order: Vec<usize> = (0..batches.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let mut load = vec![0usize; helpers + 1];
    let mut assigned = vec![0usize; batches.len()];
    for i in order {
        let w = (0..load.len()).min_by_key(|&w| load[w]).unwrap_or(0);
        load[w] += sizes[i].max(1);
        assigned[i] = w;
    }
    // Each share behind a lock of its own, so that a share whose thread
    // cannot start is still there for this thread to seal.
    let shares: Vec<parking_lot::Mutex<Vec<(usize, &mut Batch)>>> =
        (0..=helpers).map(|_| parking_lot::Mutex::new(Vec::new())).collect();
    for (i, b) in batches.drain(..).enumerate() {
        shares[assigned[i]].lock().push((i, b));
    }
    let seal_share = |share: &parking_lot::Mutex<Vec<(usize, &mut Batch)>>| {
        let taken = std::mem::take(&mut *share.lock());
        taken.into_iter().map(|(i, b)| (i, seal(shared, broker, b, version))).collect::<Vec<_>>()
    };
    #[cfg(test)]
    SEALED_BESIDE.fetch_add(
        shares[1..].iter().map(|s| s.lock().len()).sum::<usize>(),
        std::sync::atomic::Ordering::Relaxed,
    );
    let mut results: Vec<Result<(), String>> = (0..sizes.len()).map(|_| Ok(())).collect();
    std::thread::scope(|s| {
        let spawned: Vec<_> = shares[1..]
            .iter()
            .map(|share| {
                std::thread::Builder::new()
                    .name(format!("kafka-sync-seal-{broker}"))
                    .spawn_scoped(s, || seal_share(share))
            })
            .collect();
        let mut done = seal_share(&shares[0]);
        for (h, share) in spawned.into_iter().zip(&shares[1..]) {
            match h {
                Ok(h) => match h.join() {
                    Ok(r) => done.extend(r),
                    Err(p) => std::panic::resume_unwind(p),
                },
                Err(e) => {
                    log::warn!("cannot start a thread to seal batches on: {e}");
                    done.extend(seal_share(share));
                }
            }
        }
        for (i, r) in done {
            results[i] = r;
        }
    });
    Some(results)
}

/// Whether batches compressed with `codec` are worth sealing on helper
/// threads: gzip only, the one codec whose compressor is slower than the
/// rest of the record's path on every workload measured. Measured with the
/// comparison benchmark at the defaults (tansu, one broker, so one broker
/// thread compresses everything; kafka-sync alone, alternating builds):
/// gzip 100 B 544-619 K -> 717-758 K records/s, 1 KiB 67-68 K -> 88-96 K;
/// lz4 and zstd gained nothing measurable (the two cores were already busy
/// with tansu and the sending thread), and zstd's peak RSS grew by 10-18
/// MiB (a compression context per helper thread). With zstd's contexts
/// shared by threads through a pool, the RSS stayed, but records/s on tansu
/// still did not rise (245-254 K against 254-316 K for 1 KiB values) and
/// the CPU per record went up.
pub(super) fn seals_in_parallel(codec: Compression) -> bool {
    codec == Compression::Gzip
}

/// Threads of this process compressing batches at least
/// [`PARALLEL_SEAL_MIN`] bytes at a time, broker threads and helpers: a
/// count taken while alive.
struct Sealing(usize);

/// How many threads [`Sealing`] counts now.
static SEALING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Sealing {
    /// Counts `n` more threads until dropped.
    fn enter(n: usize) -> Self {
        SEALING.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        Sealing(n)
    }
}

impl Drop for Sealing {
    fn drop(&mut self) {
        SEALING.fetch_sub(self.0, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Batches given to helper threads to seal, for tests to see that they were.
#[cfg(test)]
pub(super) static SEALED_BESIDE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Cores no thread of this process is compressing on (see [`Sealing`]).
pub(super) fn idle_cores() -> usize {
    cores().saturating_sub(SEALING.load(std::sync::atomic::Ordering::Relaxed))
}

/// The number of cores this process may use (at least 1), read once.
pub(super) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}
