//! A producer writing to many partitions at a trickle reserves memory for
//! what it holds, not a whole batch per partition up front (in a test binary
//! of its own, so that the process's memory is this test's).
#![cfg(feature = "mock")]

#[path = "support/mock.rs"]
mod mock_support;
#[path = "support/proc_status.rs"]
mod proc_status;

use std::time::Duration;

use kafka_sync::{Producer, Record};
use mock_support::{cluster, config};
use proc_status::{rss_bytes, status_bytes};

/// Heap and data, reserved or touched: what a reservation shows in.
fn data_bytes() -> Option<usize> {
    status_bytes("VmData:")
}

#[test]
fn a_thousand_partitions_at_a_trickle_reserve_little() {
    const PARTITIONS: i32 = 1000;
    if rss_bytes().is_none() {
        eprintln!("SKIP: a_thousand_partitions_at_a_trickle_reserve_little needs /proc (Linux)");
        return;
    }
    let c = cluster(1, "many", PARTITIONS);
    // Defaults (batch.size unset: batches may grow to 1 MB), and a linger
    // long enough that every partition's batch stays open while we look.
    let p = Producer::new(
        config(&c).linger(Duration::from_secs(5)).delivery_timeout(Duration::from_secs(60)).build().unwrap(),
    )
    .unwrap();
    // Warm up (the broker thread and its allocator arena exist before we look).
    p.send(Record::new("many").value("warm-up").partition(0)).unwrap();
    p.flush().unwrap();
    let (rss0, data0) = (rss_bytes().unwrap(), data_bytes().unwrap());
    let handles: Vec<_> = (0..PARTITIONS)
        .map(|part| p.send(Record::new("many").value(&[b'x'; 100]).partition(part)).unwrap())
        .collect();
    let growth = rss_bytes().unwrap().saturating_sub(rss0);
    let reserved = data_bytes().unwrap().saturating_sub(data0);
    eprintln!(
        "{PARTITIONS} open batches of one 100-byte record: RSS +{} KiB, heap +{} KiB",
        growth >> 10,
        reserved >> 10
    );
    // A 16 KiB batch.size reserved per partition would be 16 MiB; a 1 MB
    // batch, 1 GB (of address space, most of it untouched: hence VmData).
    assert!(growth < 8 << 20, "{PARTITIONS} one-record batches took {} KiB", growth >> 10);
    assert!(reserved < 12 << 20, "{PARTITIONS} one-record batches reserved {} KiB", reserved >> 10);
    p.flush().unwrap();
    for h in handles {
        h.wait().unwrap();
    }
}
