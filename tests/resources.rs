//! Resource bounds under failure, in a test binary of its own so that the
//! process's memory is this test's: with the broker unreachable for longer
//! than delivery.timeout.ms, every queued record fails with a timeout, `send`
//! blocks at most max.block.ms, and the process memory stays within
//! buffer.memory plus a small constant.
#![cfg(feature = "mock")]

#[path = "support/mock.rs"]
mod mock_support;
#[path = "support/proc_status.rs"]
mod proc_status;

use std::time::{Duration, Instant};

use kafka_sync::{DeliveryErrorKind, Producer, Record, SendErrorKind};
use mock_support::{cluster, config};
use proc_status::rss_bytes;

/// Once with batch.size unset (batches that grow to 1,000,000 bytes), once
/// with Java's 16 KiB batches: the bound holds either way. One test, so the two
/// cases do not run at once in this process.
#[test]
fn unreachable_broker_bounds_memory_blocking_and_lifetime() {
    if rss_bytes().is_none() {
        eprintln!("SKIP: unreachable_broker_bounds_memory_blocking_and_lifetime needs /proc (Linux)");
        return;
    }
    // The default first: its memory is measured from a fresh process.
    bounded(None);
    bounded(Some(16 * 1024));
}

fn bounded(batch_size: Option<usize>) {
    const BUFFER: usize = 32 << 20;
    let rss0 = rss_bytes().unwrap();
    let c = cluster(1, "t", 3);
    let mut cfg = config(&c);
    if let Some(b) = batch_size {
        cfg = cfg.batch_size(b);
    }
    let p = Producer::new(
        cfg.buffer_memory(BUFFER)
            .linger(Duration::from_millis(5))
            .request_timeout(Duration::from_millis(500))
            .delivery_timeout(Duration::from_secs(3))
            .max_block(Duration::from_millis(300))
            .build()
            .unwrap(),
    )
    .unwrap();
    p.send(Record::new("t").value("warm-up")).unwrap().wait().unwrap();
    c.broker_down(1).unwrap();
    let value = vec![b'v'; 1000];
    let mut handles = Vec::new();
    let t0 = Instant::now();
    let mut blocked = None;
    // Fill the buffer: sends go through until buffer.memory is used up.
    for i in 0u64.. {
        let s = Instant::now();
        match p.send(Record::new("t").key(&i).value(&value)) {
            Ok(h) => handles.push(h),
            Err(e) => {
                assert_eq!(e.kind(), &SendErrorKind::BufferFull, "{e}");
                blocked = Some(s.elapsed());
                break;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "the buffer never filled");
    }
    let blocked = blocked.unwrap();
    assert!(
        blocked >= Duration::from_millis(280) && blocked < Duration::from_millis(1500),
        "send blocked {blocked:?}"
    );
    let queued = handles.len();
    assert!(queued * 1000 <= BUFFER && queued * 1000 > BUFFER / 2, "{queued} records queued");
    let m = p.metrics();
    assert!(m.buffer_used <= BUFFER);
    let rss = rss_bytes().unwrap();
    let growth = rss.saturating_sub(rss0);
    eprintln!(
        "batch.size {batch_size:?}: queued {queued} records; RSS {} MiB -> {} MiB (+{} MiB); buffer.memory {} MiB",
        rss0 >> 20,
        rss >> 20,
        growth >> 20,
        BUFFER >> 20
    );
    assert!(
        growth <= BUFFER + (16 << 20),
        "memory grew by {} MiB with buffer.memory {} MiB",
        growth >> 20,
        BUFFER >> 20
    );
    // Every queued record fails with a timeout once delivery.timeout.ms passed.
    for h in handles {
        let r = h.wait_timeout(Duration::from_secs(10)).expect("resolved by delivery.timeout.ms");
        assert_eq!(r.unwrap_err().kind(), &DeliveryErrorKind::Timeout);
    }
    assert!(t0.elapsed() < Duration::from_secs(8));
    assert_eq!(p.metrics().buffer_used, 0, "memory returned");
    let t1 = Instant::now();
    let _ = p.close(Duration::from_secs(2));
    assert!(t1.elapsed() < Duration::from_secs(4));
}
