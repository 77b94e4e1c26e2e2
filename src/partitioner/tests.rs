//! Unit tests of `partitioner`.

use super::sticky::unpack;
use super::*;
use std::collections::HashSet;

/// Java's own vectors: `UtilsTest.testMurmur2` in apache/kafka,
/// clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java.
#[test]
fn murmur2_matches_kafka_utils_test() {
    let cases: &[(&[u8], i32)] = &[
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        (b"abc", 479_470_107),
    ];
    for &(key, want) in cases {
        assert_eq!(murmur2(key), want, "key {:?}", String::from_utf8_lossy(key));
    }
}

/// librdkafka's `unittest_murmur2` in src/rdmurmur2.c (confluentinc/librdkafka),
/// whose `java_murmur2_results` were computed with the Java client. They
/// cover every tail length (0-3 bytes) and the empty key.
#[test]
fn murmur2_matches_librdkafka_java_vectors() {
    let cases: &[(&str, u32)] = &[
        ("kafka", 0xd067_cf64),
        ("giberish123456789", 0x8f55_2b0c),
        ("1234", 0x9fc9_7b14),
        ("234", 0xe7c0_09ca),
        ("34", 0x8739_30da),
        ("4", 0x5a4b_5ca1),
        ("PreAmbleWillBeRemoved,ThePrePartThatIs", 0x7842_4f1c),
        ("reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62_b377),
        ("eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4_e09e),
        ("AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8_b43f),
        ("", 0x106e_08d9),
    ];
    for &(key, want) in cases {
        assert_eq!(murmur2(key.as_bytes()), want as i32, "key {key:?}");
    }
}

/// librdkafka's older `unittest_murmurhashneutral2` (src/rdmurmur2.c) lists
/// Java's *positive* hashes (`Utils.toPositive(murmur2(key))`), which is the
/// value the partition is taken modulo of.
#[test]
fn key_to_partition_uses_positive_hash() {
    let positive: &[(&str, i32)] =
        &[("kafka", 1_348_980_580), ("amqp", 767_747_138), ("giberish123456789", 257_239_820)];
    for &(key, want) in positive {
        assert_eq!(murmur2(key.as_bytes()) & 0x7fff_ffff, want);
        for count in [1, 2, 3, 7, 12, 100, 1000] {
            assert_eq!(partition_for_key(key.as_bytes(), count), want % count, "{key} over {count}");
        }
    }
    // Worked examples: 1348980580 % 7 = 3, 767747138 % 12 = 2.
    assert_eq!(partition_for_key(b"kafka", 7), 3);
    assert_eq!(partition_for_key(b"amqp", 12), 2);
    // A negative hash: "foobar" is -790332482 = 0xd0e47bbe; & 0x7fffffff = 1357151166.
    assert_eq!(partition_for_key(b"foobar", 1000), 166);
}

fn all(n: i32) -> Vec<i32> {
    (0..n).collect()
}

#[test]
fn default_partitioner_hashes_keys_over_all_partitions() {
    let p = DefaultPartitioner::with_seed(100, 1);
    let avail = [1];
    // The key decides, even when its partition has no known leader.
    let got = p.partition("t", Some(b"kafka"), None, Partitions::new(7, &avail));
    assert_eq!(got, 3);
    for i in 0..1000u32 {
        let key = i.to_be_bytes();
        let want = partition_for_key(&key, 13);
        assert_eq!(p.partition("t", Some(&key), Some(b"v"), Partitions::new(13, &all(13))), want);
    }
}

#[test]
fn murmur2_partitioner_puts_null_keys_on_one_partition() {
    let p = Murmur2Partitioner::new();
    let parts = all(10);
    let want = (0x106e_08d9 & 0x7fff_ffff) % 10;
    for _ in 0..10 {
        assert_eq!(p.partition("t", None, Some(b"x"), Partitions::new(10, &parts)), want);
    }
    assert_eq!(p.partition("t", Some(b"kafka"), None, Partitions::new(7, &parts[..7])), 3);
}

/// Sticky: the same partition until `batch_size` bytes were appended, then
/// a different one; deterministic with a seed.
#[test]
fn sticky_switches_after_batch_size_bytes() {
    let parts = all(4);
    let run = |seed| {
        let p = UniformStickyPartitioner::with_seed(100, seed);
        let mut seen = Vec::new();
        for _ in 0..5 {
            let first = p.partition("t", None, None, Partitions::new(4, &parts));
            // 9 appends of 10 bytes: 90 < 100, stays.
            for _ in 0..9 {
                assert_eq!(p.partition("t", Some(b"k"), None, Partitions::new(4, &parts)), first);
                p.on_append("t", first, 10);
            }
            assert_eq!(p.partition("t", None, None, Partitions::new(4, &parts)), first);
            p.on_append("t", first, 10); // 100 bytes: switch on the next record
                                         // The next record switches; the loop's next round starts there.
            let next = p.partition("t", None, None, Partitions::new(4, &parts));
            assert_ne!(next, first);
            seen.push(first);
        }
        seen
    };
    assert_eq!(run(7), run(7), "same seed, same choices");
}

#[test]
fn sticky_state_is_per_topic() {
    let p = UniformStickyPartitioner::with_seed(10, 3);
    let parts = all(50);
    let a = p.partition("a", None, None, Partitions::new(50, &parts));
    let b = p.partition("b", None, None, Partitions::new(50, &parts));
    p.on_append("b", b, 1000);
    assert_eq!(p.partition("a", None, None, Partitions::new(50, &parts)), a);
    assert_ne!(p.partition("b", None, None, Partitions::new(50, &parts)), b);
}

#[test]
fn sticky_ignores_bytes_for_stale_partitions_and_unknown_topics() {
    let p = UniformStickyPartitioner::with_seed(100, 5);
    let parts = all(8);
    p.on_append("never-seen", 0, 1_000_000);
    let cur = p.partition("t", None, None, Partitions::new(8, &parts));
    p.on_append("t", (cur + 1) % 8, 1_000_000);
    p.on_append("t", -1, 1_000_000);
    assert_eq!(p.partition("t", None, None, Partitions::new(8, &parts)), cur);
}

#[test]
fn sticky_prefers_available_partitions() {
    let p = UniformStickyPartitioner::with_seed(1, 11);
    let avail = [2, 5, 7];
    let mut seen = HashSet::new();
    for _ in 0..300 {
        let got = p.partition("t", None, None, Partitions::new(8, &avail));
        assert!(avail.contains(&got), "{got}");
        seen.insert(got);
        p.on_append("t", got, 1);
    }
    assert_eq!(seen.len(), 3, "uniform among available partitions: {seen:?}");

    // The current partition losing its leader forces a switch.
    let p = UniformStickyPartitioner::with_seed(1_000_000, 2);
    let cur = p.partition("t", None, None, Partitions::new(3, &[0, 1, 2]));
    let rest: Vec<i32> = (0..3).filter(|&x| x != cur).collect();
    let next = p.partition("t", None, None, Partitions::new(3, &rest));
    assert_ne!(next, cur);
    assert!(rest.contains(&next));
}

#[test]
fn sticky_with_one_partition_stays_there() {
    let p = DefaultPartitioner::with_seed(1, 9);
    for _ in 0..10 {
        assert_eq!(p.partition("t", None, None, Partitions::new(1, &[0])), 0);
        p.on_append("t", 0, 5);
    }
    // No partition known to be available: choose among all.
    assert_eq!(p.partition("u", None, None, Partitions::new(1, &[])), 0);
}

#[test]
fn sticky_spreads_evenly_over_time() {
    let p = UniformStickyPartitioner::with_seed(10, 99);
    let mut counts = [0u32; 5];
    for _ in 0..50_000 {
        let got = p.partition("t", None, None, Partitions::new(5, &[]));
        counts[got as usize] += 1;
        p.on_append("t", got, 1);
    }
    for c in counts {
        assert!((8_000..12_000).contains(&c), "{counts:?}");
    }
}

#[test]
fn round_robin_walks_available_partitions() {
    let p = RoundRobinPartitioner::new();
    let got: Vec<i32> = (0..6)
        .map(|_| p.partition("t", Some(b"same key"), None, Partitions::new(4, &[0, 1, 2, 3])))
        .collect();
    assert_eq!(got, [0, 1, 2, 3, 0, 1]);
    // Another topic has its own counter; available subsets are walked.
    let got: Vec<i32> = (0..4).map(|_| p.partition("u", None, None, Partitions::new(9, &[3, 8]))).collect();
    assert_eq!(got, [3, 8, 3, 8]);
    // No partition known: all of them.
    let got: Vec<i32> = (0..3).map(|_| p.partition("v", None, None, Partitions::new(3, &[]))).collect();
    assert_eq!(got, [0, 1, 2]);
}

#[test]
fn builtin_names() {
    assert_eq!(Builtin::from_name("murmur2_random"), Some(Builtin::Murmur2Random));
    assert_eq!(Builtin::from_name("DEFAULT"), Some(Builtin::Murmur2Random));
    assert_eq!(Builtin::from_name("murmur2"), Some(Builtin::Murmur2));
    assert_eq!(Builtin::from_name("sticky"), Some(Builtin::UniformSticky));
    assert_eq!(Builtin::from_name("uniform_sticky"), Some(Builtin::UniformSticky));
    assert_eq!(Builtin::from_name("round_robin"), Some(Builtin::RoundRobin));
    for unsupported in ["consistent_random", "consistent", "random", "fnv1a", "fnv1a_random", ""] {
        assert_eq!(Builtin::from_name(unsupported), None);
    }
    for b in [Builtin::Murmur2Random, Builtin::Murmur2, Builtin::UniformSticky, Builtin::RoundRobin] {
        let placer = b.build(16384);
        let got = placer.partitioner().partition("t", Some(b"k"), None, Partitions::new(3, &[0, 1, 2]));
        assert!((0..3).contains(&got));
        let slot = StickySlot::default();
        let (got, counted) =
            placer.partition("t", Some(b"k"), None, Partitions::new(3, &[0, 1, 2]), 10, &slot);
        assert!((0..3).contains(&got));
        // Only the sticky ones count as they choose.
        assert_eq!(counted, matches!(b, Builtin::Murmur2Random | Builtin::UniformSticky), "{b:?}");
    }
}

/// The send path's one-step placement of the built-in sticky partitioners
/// makes the same choices as `partition` followed by `on_append`.
#[test]
fn placing_in_one_step_chooses_as_partition_then_on_append() {
    type Make = fn(u64) -> Placer;
    let makers: [(&str, Make); 2] = [
        ("default", |seed| {
            let p = Arc::new(DefaultPartitioner::with_seed(100, seed));
            Placer { partitioner: p.clone(), sticky: Some(BuiltinSticky::Default(p)) }
        }),
        ("uniform_sticky", |seed| {
            let p = Arc::new(UniformStickyPartitioner::with_seed(100, seed));
            Placer { partitioner: p.clone(), sticky: Some(BuiltinSticky::Uniform(p)) }
        }),
    ];
    for (name, make) in makers {
        let (one_step, two_steps) = (make(7), make(7));
        // As the send path keeps it: beside the topic's metadata, refilled
        // when a new version of the metadata comes (every 100 records here).
        let mut slot = StickySlot::default();
        let mut switches = 0;
        let mut last = None;
        for i in 0..500usize {
            // Availability changes now and then; some records are keyed.
            let available: &[i32] = match i / 100 {
                1 => &[0, 2, 4],
                3 => &[],
                _ => &[0, 1, 2, 3, 4, 5],
            };
            let parts = Partitions::new(6, available);
            let key = (i % 7 == 0).then(|| i.to_be_bytes());
            let bytes = 10 + i % 23;
            if i % 100 == 0 {
                slot = StickySlot::default();
            }
            let (a, counted) =
                one_step.partition("t", key.as_ref().map(|k| &k[..]), None, parts, bytes, &slot);
            assert!(counted);
            let b = two_steps.partitioner().partition("t", key.as_ref().map(|k| &k[..]), None, parts);
            two_steps.partitioner().on_append("t", b, bytes);
            assert_eq!(a, b, "{name}: record {i}");
            switches += usize::from(key.is_none() && last.is_some_and(|l| l != a));
            last = key.is_none().then_some(a).or(last);
        }
        assert!(switches > 20, "{name}: the sticky partition switched only {switches} times");
    }
}

#[test]
fn thread_safety_smoke() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 24_000; // a multiple of 6 per thread
    let sticky: Arc<dyn Partitioner> = Arc::new(DefaultPartitioner::new(1000));
    let rr: Arc<dyn Partitioner> = Arc::new(RoundRobinPartitioner::new());
    let parts = all(6);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (sticky, rr, parts) = (sticky.clone(), rr.clone(), parts.clone());
            std::thread::spawn(move || {
                let mut sticky_counts = [0usize; 6];
                let mut rr_counts = [0usize; 6];
                for i in 0..PER_THREAD {
                    let topic = if i % 2 == 0 { "even" } else { "odd" };
                    let key = (t * PER_THREAD + i).to_be_bytes();
                    let key = (i % 3 == 0).then_some(&key[..]);
                    let p = sticky.partition(topic, key, None, Partitions::new(6, &parts));
                    sticky_counts[p as usize] += 1;
                    sticky.on_append(topic, p, 50);
                    let p = rr.partition("rr", None, None, Partitions::new(6, &parts));
                    rr_counts[p as usize] += 1;
                }
                (sticky_counts, rr_counts)
            })
        })
        .collect();
    let mut sticky_total = [0usize; 6];
    let mut rr_total = [0usize; 6];
    for h in handles {
        let (s, r) = h.join().unwrap();
        for i in 0..6 {
            sticky_total[i] += s[i];
            rr_total[i] += r[i];
        }
    }
    assert_eq!(sticky_total.iter().sum::<usize>(), THREADS * PER_THREAD);
    assert!(sticky_total.iter().all(|&c| c > 0), "{sticky_total:?}");
    // The shared counter hands out each value exactly once.
    assert!(rr_total.iter().all(|&c| c == THREADS * PER_THREAD / 6), "{rr_total:?}");
}

#[test]
fn partitions_accessors() {
    let p = Partitions::new(5, &[1, 3]);
    assert_eq!(p.count(), 5);
    assert_eq!(p.available(), &[1, 3]);
    assert!(p.is_available(3));
    assert!(!p.is_available(2));
    assert!(!p.is_available(5));
    let p = Partitions::new(5, &[]);
    assert!(p.is_available(4));
    assert!(!p.is_available(-1));
}

#[test]
#[should_panic(expected = "at least one partition")]
fn partitions_need_a_positive_count() {
    let _ = Partitions::new(0, &[]);
}

#[test]
fn partitioners_are_send_sync() {
    fn check<T: Send + Sync + fmt::Debug>() {}
    check::<DefaultPartitioner>();
    check::<UniformStickyPartitioner>();
    check::<RoundRobinPartitioner>();
    check::<Murmur2Partitioner>();
    check::<Arc<dyn Partitioner>>();
}

/// A sticky slot filled by another partitioner (not the producer's own) is
/// not used: its state belongs to that partitioner.
#[test]
fn a_slot_filled_by_another_partitioner_is_not_used() {
    let make = |seed| {
        let p = Arc::new(UniformStickyPartitioner::with_seed(1000, seed));
        Placer { partitioner: p.clone(), sticky: Some(BuiltinSticky::Uniform(p)) }
    };
    let (first, second) = (make(1), make(2));
    let parts = Partitions::new(6, &[0, 1, 2, 3, 4, 5]);
    let slot = StickySlot::default();
    let (p1, _) = first.partition("t", None, None, parts, 10, &slot);
    // The second partitioner's state starts empty: it chooses on its own, and
    // counting its records leaves the first one's count alone.
    for _ in 0..50 {
        second.partition("t", None, None, parts, 10, &slot);
    }
    let own = StickySlot::default();
    let (again, _) = first.partition("t", None, None, parts, 10, &own);
    assert_eq!(again, p1, "the first partitioner's partition moved");
    let state = slot.0.get().expect("filled");
    assert_eq!(
        unpack(state.1.load(Ordering::Relaxed)),
        (p1 as u32, 20),
        "counted only the first's two records"
    );
}
