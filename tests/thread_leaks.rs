//! No thread leaks: after close, the producer's threads are gone. (Its own
//! test binary, so other tests' producers cannot interfere.)
#![cfg(feature = "mock")]

#[path = "support/mock.rs"]
mod mock_support;

use std::time::Duration;

use kafka_sync::{Producer, Record};
use mock_support::{cluster, config};

fn producer_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
                .filter(|n| n.starts_with("kafka-sync-"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn close_joins_every_thread() {
    if !std::path::Path::new("/proc/self/task").exists() {
        eprintln!("SKIP: close_joins_every_thread needs /proc (Linux)");
        return;
    }
    let c = cluster(3, "t", 6);
    assert_eq!(producer_threads(), 0);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    let hs: Vec<_> = (0..600).map(|i| p.send(Record::new("t").key(&i).value("v")).unwrap()).collect();
    for h in hs {
        h.wait().unwrap();
    }
    // Metadata thread + one I/O thread per broker leading a partition.
    assert_eq!(p.broker_threads(), 3);
    assert_eq!(producer_threads(), 4);
    p.close(Duration::from_secs(5)).unwrap();
    // A joined thread can stay listed in /proc for a moment: `join` returns
    // when the kernel clears the thread's id, a little before it removes the
    // task. A leaked thread stays; give the kernel up to 2 s.
    let t0 = std::time::Instant::now();
    while producer_threads() > 0 && t0.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(producer_threads(), 0, "threads joined");
}
