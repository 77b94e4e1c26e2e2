//! What one `send` costs the calling thread: a loop of `send_ref` (or, with
//! `cb`, `send_ref_with_callback`) of 100-byte values to a 6-partition topic
//! on the embedded mock cluster, at the producer's defaults with a 1 GiB
//! `buffer.memory` (so that the loop never waits for memory).
//!
//! ```sh
//! cargo run --release --features mock --example send_path_cost -- 2000000       # send_ref
//! cargo run --release --features mock --example send_path_cost -- 2000000 cb    # with a callback
//! ```
//!
//! It prints the loop's wall time and the sending thread's own CPU time per
//! record (from `/proc/thread-self/schedstat`, Linux; elsewhere only the
//! wall time). The mock broker runs in the same process and shares the
//! cores, so the wall time is noisy; the CPU time is the send path's.
//!
//! The loop is its own function, `send_loop`, so that an instruction
//! counter can measure it alone, deterministically (unlike this kind of
//! machine's clocks):
//!
//! ```sh
//! cargo build --release --features mock --example send_path_cost
//! valgrind --tool=callgrind --toggle-collect='*send_loop*' target/release/examples/send_path_cost 100000
//! callgrind_annotate --inclusive=yes callgrind.out.*
//! ```
//!
//! The instructions it reports cover `send_loop`'s 101,000 records (1,000
//! of warm-up, then the number given).

use std::time::{Duration, Instant};

use kafka_sync::mock::MockCluster;
use kafka_sync::{DeliveryError, Producer, ProducerConfig, RecordMetadata, RecordRef};

/// Sends `n` records, cycling through `values`.
#[inline(never)]
fn send_loop(producer: &Producer, values: &[Vec<u8>], n: usize, with_callback: bool) {
    fn ignore(_: Result<RecordMetadata, DeliveryError>) {}
    for i in 0..n {
        let record = RecordRef::new("cost").value(&values[i % values.len()]);
        if with_callback {
            producer.send_ref_with_callback(record, ignore).expect("send");
        } else {
            drop(producer.send_ref(record).expect("send"));
        }
    }
}

/// The calling thread's CPU time in nanoseconds, where Linux tells it.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = match args.next() {
        Some(s) => s.parse().map_err(|e| format!("records: {e}"))?,
        None => 1_000_000,
    };
    let with_callback = args.next().as_deref() == Some("cb");
    // 1024 distinct JSON-like values of 100 bytes.
    let values: Vec<Vec<u8>> = (0..1024)
        .map(|i| {
            let mut v =
                format!(r#"{{"id":{i},"user":"u{:05}","pad":"{}"}}"#, i * 7919 % 100_000, "x".repeat(80))
                    .into_bytes();
            v.truncate(100);
            v
        })
        .collect();
    let cluster = MockCluster::start(1)?;
    cluster.create_topic("cost", 6, 1)?;
    let config = ProducerConfig::builder()
        .bootstrap_servers(cluster.bootstrap_servers())
        .buffer_memory(1 << 30)
        .build()?;
    let producer = Producer::new(config)?;
    producer.partitions_for("cost")?;
    // Warm-up: connections, metadata, the producer id, this thread's caches.
    send_loop(&producer, &values, 1000, with_callback);
    producer.flush_timeout(Duration::from_secs(60))?;

    let (start, cpu_start) = (Instant::now(), thread_cpu_ns());
    send_loop(&producer, &values, n, with_callback);
    let (wall, cpu_end) = (start.elapsed(), thread_cpu_ns());
    let per_record = |ns: f64| ns / n.max(1) as f64;
    let api = if with_callback { "send_ref_with_callback" } else { "send_ref" };
    match cpu_start.zip(cpu_end) {
        Some((a, b)) => println!(
            "{api}: {n} records of 100 B, {:.1} ns per record of wall time, {:.1} ns of the sending thread's CPU time",
            per_record(wall.as_nanos() as f64),
            per_record(b.saturating_sub(a) as f64)
        ),
        None => println!("{api}: {n} records of 100 B, {:.1} ns per record of wall time", per_record(wall.as_nanos() as f64)),
    }
    producer.flush_timeout(Duration::from_secs(120))?;
    producer.close(Duration::from_secs(10))?;
    cluster.shutdown();
    Ok(())
}
