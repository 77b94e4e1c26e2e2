//! Many threads, one producer: everything arrives once, and each thread's
//! records to a partition keep their order.
#![cfg(feature = "mock")]

#[path = "support/mock.rs"]
mod mock_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_sync::{Producer, Record};
use mock_support::{cluster, config, stored, within};

#[test]
fn eight_threads_share_one_producer() {
    const THREADS: u32 = 8;
    const PER_THREAD: u32 = 5000;
    let c = cluster(3, "t", 6);
    let p = Arc::new(Producer::new(config(&c).build().unwrap()).unwrap());
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                let mut hs = Vec::with_capacity(PER_THREAD as usize);
                for i in 0..PER_THREAD {
                    // A few keys per thread, so each thread feeds several partitions.
                    let key = format!("t{t}-k{}", i % 5);
                    let value = format!("{t}:{i}");
                    hs.push(p.send(Record::new("t").key(&key).value(&value)).unwrap());
                }
                hs.into_iter().filter_map(|h| h.wait().ok()).count()
            })
        })
        .collect();
    let delivered: usize =
        within(Duration::from_secs(60), move || workers.into_iter().map(|w| w.join().unwrap()).sum());
    assert_eq!(delivered, (THREADS * PER_THREAD) as usize);
    let all = stored(&c, "t");
    assert_eq!(all.len(), (THREADS * PER_THREAD) as usize, "nothing lost or duplicated");
    // Per partition, in offset order, each thread's sequence numbers increase.
    let mut last: HashMap<(i32, u32), u32> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    let mut sorted = all;
    sorted.sort_by_key(|(p, r)| (*p, r.offset));
    for (part, r) in sorted {
        let v = String::from_utf8(r.value.unwrap()).unwrap();
        let (t, i) = v.split_once(':').unwrap();
        let (t, i): (u32, u32) = (t.parse().unwrap(), i.parse().unwrap());
        assert!(seen.insert((t, i)), "duplicate {t}:{i}");
        if let Some(prev) = last.insert((part, t), i) {
            assert!(i > prev, "thread {t} reordered in partition {part}: {prev} then {i}");
        }
    }
    let m = p.metrics();
    assert_eq!(m.records_sent, u64::from(THREADS * PER_THREAD));
    Arc::try_unwrap(p).unwrap().close(Duration::from_secs(5)).unwrap();
}
