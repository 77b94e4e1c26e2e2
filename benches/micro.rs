//! Micro benchmarks of the producer's parts, through the public API.
//!
//! ```text
//! cargo bench --all-features --bench micro
//! cargo bench --all-features --bench micro -- contention     # one group (criterion filter)
//! ```
//!
//! - `append/*`: [`RecordBatchWriter::append`] of one record into a reused
//!   buffer (what `send` does under the stripe lock), null key or 16-byte key.
//! - `seal/<codec>`: [`RecordBatchWriter::finish_with_scratch`] of a 64 KiB
//!   batch of 100-byte JSON-like values (the producer's batch sealing: header,
//!   compression, CRC-32C). Throughput in uncompressed bytes; building the
//!   batch is not timed.
//! - `partitioner/*`: Java's murmur2 of a 16-byte key, the default partitioner
//!   (keyed), uniform sticky (null key, with `on_append` as `send` calls it),
//!   round-robin.
//! - `round_trip/send_wait`: one `send` + `DeliveryHandle::wait` against the
//!   crate's in-process `MockCluster` over loopback TCP, `linger.ms=0`: the
//!   latency of resolving a handle, including one produce request.
//! - `contention/send/<threads>` and `contention/send_flush/<threads>`: 1, 2,
//!   4 and 8 threads sending 100-byte records through one `Producer` to a
//!   6-partition topic on a 1-broker `MockCluster`. `send` times only the send
//!   loops (the accumulator and its stripe locks; buffer.memory is large
//!   enough that `send` never waits), `send_flush` adds the final flush: the
//!   whole pipeline, records/s. The mock broker runs in this process and
//!   shares the cores, so `send_flush` is a lower bound.
//! - `send_path/*`: one thread's send loop at the producer's defaults, the
//!   loop's wall time (1 GiB buffer) and, as `send_path/*/cpu`, the sending
//!   thread's CPU time per record (default buffer).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use kafka_sync::mock::MockCluster;
use kafka_sync::partitioner::{
    murmur2, DefaultPartitioner, Partitioner, Partitions, RoundRobinPartitioner, UniformStickyPartitioner,
};
use kafka_sync::protocol::compression::Compression;
use kafka_sync::protocol::record_batch::{BatchParams, RecordBatchWriter};
use kafka_sync::{Acks, Producer, ProducerConfig, Record, RecordRef};

const BASE_TIMESTAMP: i64 = 1_700_000_000_000;
const BATCH_BYTES: usize = 64 * 1024;

/// `n` distinct JSON-like values of `size` bytes (as in benches/compare.rs).
fn values(n: usize, size: usize) -> Vec<Vec<u8>> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|i| {
            let mut v = Vec::new();
            let mut j = 0;
            while v.len() < size {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.extend_from_slice(
                    format!(
                        r#"{{"id":{i},"seq":{j},"user":"u{:05}","amount":{}.{:02},"region":"eu-{}","ok":{}}}"#,
                        x % 100_000,
                        (x >> 20) % 10_000,
                        (x >> 40) % 100,
                        (x >> 50) % 4,
                        x.is_multiple_of(3)
                    )
                    .as_bytes(),
                );
                j += 1;
            }
            v.truncate(size);
            v
        })
        .collect()
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(1));
    let key = *b"customer-0000042";
    for (name, size, keyed) in [("100B", 100, false), ("100B_keyed", 100, true), ("1KiB", 1024, false)] {
        let vals = values(256, size);
        g.bench_function(name, |b| {
            let mut w = Some(RecordBatchWriter::new(Vec::with_capacity(2 * BATCH_BYTES), BASE_TIMESTAMP));
            let mut i = 0usize;
            b.iter(|| {
                let mut writer = w.take().expect("writer");
                if writer.size_in_bytes() >= BATCH_BYTES {
                    writer = RecordBatchWriter::new(writer.into_buffer(), BASE_TIMESTAMP);
                }
                i = i.wrapping_add(1);
                let k = keyed.then_some(&key[..]);
                let n = writer.append(BASE_TIMESTAMP + 1, k, Some(&vals[i % vals.len()]), &[]);
                w = Some(writer);
                black_box(n)
            })
        });
    }
    g.finish();
}

fn seal(c: &mut Criterion) {
    let mut g = c.benchmark_group("seal");
    let vals = values(1024, 100);
    let build = || {
        let mut w = RecordBatchWriter::new(Vec::with_capacity(2 * BATCH_BYTES), BASE_TIMESTAMP);
        let mut i = 0;
        while w.size_in_bytes() + 120 <= BATCH_BYTES {
            w.append(BASE_TIMESTAMP + (i as i64 % 7), None, Some(&vals[i % vals.len()]), &[]);
            i += 1;
        }
        w
    };
    let uncompressed = build().size_in_bytes() as u64;
    g.throughput(Throughput::Bytes(uncompressed));
    let params =
        BatchParams { producer_id: 1000, producer_epoch: 0, base_sequence: 0, ..BatchParams::default() };
    for codec in Compression::ALL.into_iter().filter(|c| c.is_available()) {
        g.bench_function(BenchmarkId::from_parameter(codec.name()), |b| {
            let mut scratch = Vec::with_capacity(2 * BATCH_BYTES);
            b.iter_batched(
                build,
                |w| {
                    let sealed = w.finish_with_scratch(&params, codec, None, &mut scratch).expect("seal");
                    black_box(sealed.len())
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn partitioners(c: &mut Criterion) {
    let mut g = c.benchmark_group("partitioner");
    g.throughput(Throughput::Elements(1));
    let keys: Vec<Vec<u8>> = (0..1024).map(|i| format!("customer-{i:07}").into_bytes()).collect();
    let available = [0, 1, 2, 3, 4, 5];
    let parts = Partitions::new(6, &available);
    let value = [b'x'; 100];
    g.bench_function("murmur2_16B", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(murmur2(&keys[i % keys.len()]))
        })
    });
    let default = DefaultPartitioner::new(16_384);
    g.bench_function("default_keyed", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(default.partition("t", Some(&keys[i % keys.len()]), Some(&value), parts))
        })
    });
    let sticky = UniformStickyPartitioner::new(16_384);
    g.bench_function("sticky_null_key", |b| {
        b.iter(|| {
            let p = sticky.partition("t", None, Some(&value), parts);
            sticky.on_append("t", p, 110);
            black_box(p)
        })
    });
    let rr = RoundRobinPartitioner::new();
    g.bench_function("round_robin", |b| b.iter(|| black_box(rr.partition("t", None, Some(&value), parts))));
    g.finish();
}

/// A mock cluster with one broker and `topic` with `partitions` partitions,
/// and a producer for it.
fn mock_producer(topic: &str, partitions: i32, linger: Duration) -> (MockCluster, Producer) {
    let cluster = MockCluster::start(1).expect("mock cluster");
    cluster.create_topic(topic, partitions, 1).expect("create topic");
    let config = ProducerConfig::builder()
        .bootstrap_servers(cluster.bootstrap_servers())
        .acks(Acks::All)
        .linger(linger)
        .batch_size(BATCH_BYTES)
        .buffer_memory(512 * 1024 * 1024)
        .build()
        .expect("config");
    let producer = Producer::new(config).expect("producer");
    producer.partitions_for(topic).expect("metadata");
    (cluster, producer)
}

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("round_trip");
    let (cluster, producer) = mock_producer("rt", 1, Duration::ZERO);
    let value = [b'x'; 100];
    g.bench_function("send_wait", |b| {
        b.iter(|| {
            let h = producer.send(Record::new("rt").value(&value)).expect("send");
            black_box(h.wait().expect("delivered").offset())
        })
    });
    g.finish();
    producer.close(Duration::from_secs(10)).expect("close");
    cluster.shutdown();
}

/// Sends `iters` records from `threads` threads through one producer;
/// returns the time spent in the send loops and the time including the
/// final flush.
fn send_from_threads(
    producer: &Arc<Producer>,
    threads: usize,
    iters: u64,
    vals: &Arc<Vec<Vec<u8>>>,
) -> (Duration, Duration) {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let p = producer.clone();
            let vals = vals.clone();
            let n = iters / threads as u64 + u64::from((t as u64) < iters % threads as u64);
            std::thread::spawn(move || {
                for i in 0..n {
                    let v = &vals[(i as usize + t * 7) % vals.len()];
                    drop(p.send(Record::new("contention").value(v)).expect("send"));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("sender");
    }
    let sent = start.elapsed();
    producer.flush_timeout(Duration::from_secs(120)).expect("flush");
    (sent, start.elapsed())
}

fn contention(c: &mut Criterion) {
    let mut g = c.benchmark_group("contention");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    let vals = Arc::new(values(1024, 100));
    for threads in [1usize, 2, 4, 8] {
        for (name, with_flush) in [("send", false), ("send_flush", true)] {
            // A fresh cluster per case: the mock keeps every record.
            let (cluster, producer) = mock_producer("contention", 6, Duration::from_millis(5));
            let producer = Arc::new(producer);
            g.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &threads| {
                b.iter_custom(|iters| {
                    let (sent, total) = send_from_threads(&producer, threads, iters, &vals);
                    if with_flush {
                        total
                    } else {
                        sent
                    }
                })
            });
            producer.close(Duration::from_secs(30)).expect("close");
            cluster.shutdown();
        }
    }
    g.finish();
}

/// CPU time of the calling thread (user and system), from the scheduler's
/// own count in nanoseconds (Linux; zero elsewhere).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// The library's send path alone, one thread: `send_ref` with the handle
/// dropped, and `send_ref_with_callback` with a callback that captures
/// nothing; 100-byte values borrowed from a pool, null keys, 6 partitions.
/// Only the send loop is timed (the records are flushed after it): its wall
/// time with a 1 GiB `buffer.memory` (the loop never waits, and the queue
/// grows into fresh memory), and, as `*/cpu`, the sending thread's own CPU
/// time at the default `buffer.memory` (what `send` costs the caller's
/// thread, without the time the in-process mock broker takes from it on
/// the shared cores).
fn send_path(c: &mut Criterion) {
    fn ignore(_: Result<kafka_sync::RecordMetadata, kafka_sync::DeliveryError>) {}
    let mut g = c.benchmark_group("send_path");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(2));
    let vals = values(1024, 100);
    for name in ["send_ref", "send_ref_with_callback", "send_ref/cpu", "send_ref_with_callback/cpu"] {
        let cpu = name.ends_with("/cpu");
        let with_callback = name.starts_with("send_ref_with_callback");
        // The producer's defaults (linger.ms 5, batch.size unset); for wall
        // time, a buffer large enough that the timed loop never waits.
        let cluster = MockCluster::start(1).expect("mock cluster");
        cluster.create_topic("path", 6, 1).expect("create topic");
        let mut config = ProducerConfig::builder().bootstrap_servers(cluster.bootstrap_servers());
        if !cpu {
            config = config.buffer_memory(1 << 30);
        }
        let config = config.build().expect("config");
        let producer = Producer::new(config).expect("producer");
        producer.partitions_for("path").expect("metadata");
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let cpu_start = thread_cpu();
                for i in 0..iters {
                    let r = RecordRef::new("path").value(&vals[i as usize % vals.len()]);
                    if with_callback {
                        producer.send_ref_with_callback(r, ignore).expect("send");
                    } else {
                        drop(producer.send_ref(r).expect("send"));
                    }
                }
                let sent = if cpu { thread_cpu().saturating_sub(cpu_start) } else { start.elapsed() };
                producer.flush_timeout(Duration::from_secs(120)).expect("flush");
                sent
            })
        });
        producer.close(Duration::from_secs(30)).expect("close");
        cluster.shutdown();
    }
    g.finish();
}

criterion_group!(benches, append, seal, partitioners, round_trip, send_path, contention);
criterion_main!(benches);
