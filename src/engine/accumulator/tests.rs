//! Unit tests of the accumulator: appends, readiness and linger, draining,
//! retries and splits, the memory pool.

use super::*;
use crate::protocol::record_batch::record_fields_size;

fn policy() -> DrainPolicy {
    DrainPolicy {
        linger: Duration::from_millis(5),
        idempotent: false,
        strict_order: false,
        max_in_flight_per_partition: 5,
    }
}

fn rec(value: &[u8]) -> AppendInput<'_> {
    AppendInput {
        timestamp: 1000,
        key: None,
        value: Some(value),
        headers: &[],
        reserved: 200,
        size: 200,
        fields: record_fields_size(None, Some(value), &[]),
        sent_us: 0,
        txn: TxnJoin::No,
        spool_id: None,
        header: HeaderBudget::Reserve { until: None, on_wait: NO_WAKE },
    }
}

fn acc(batch_size: usize) -> (Accumulator, QueueRef) {
    let a = Accumulator::new(batch_size, 1 << 20, Duration::from_secs(120));
    let q = a.add_partition(&Arc::from("t"), 0);
    (a, q)
}

#[test]
fn a_partition_waits_for_its_transaction_to_include_it() {
    let (a, q) = acc(16384);
    let now = Instant::now();
    let txn = AppendInput { txn: TxnJoin::Explicit, ..rec(b"x") };
    let first = a.append(q, &txn, Some(now), None).unwrap();
    assert!(first.joined_txn, "the first record brings the partition in");
    let second = a.append(q, &txn, Some(now), None).unwrap();
    assert!(!second.joined_txn, "only once per transaction");
    // Forced (flush) or not, nothing goes before AddPartitionsToTxn.
    assert_eq!(a.readiness(q, now, true, &policy(), None), Readiness::Blocked);
    a.with_queue(q, |pq| pq.txn = TxnMark::Added);
    assert_eq!(a.readiness(q, now, true, &policy(), None), Readiness::Ready);
    // The next transaction starts over; v2 joins with the Produce itself.
    a.with_queue(q, |pq| pq.txn = TxnMark::Out);
    let v2 = AppendInput { txn: TxnJoin::Implicit, ..rec(b"y") };
    assert!(a.append(q, &v2, Some(now), None).unwrap().joined_txn);
    assert_eq!(a.with_queue(q, |pq| pq.txn), TxnMark::Added);
    // A record outside transactions never marks it.
    let (a, q) = acc(16384);
    assert!(!a.append(q, &rec(b"z"), Some(now), None).unwrap().joined_txn);
    assert_eq!(a.with_queue(q, |pq| pq.txn), TxnMark::Out);
}

#[test]
fn linger_readiness_with_time_passed_in() {
    let (a, q) = acc(16384);
    let t0 = Instant::now();
    let p = policy();
    assert_eq!(a.readiness(q, t0, false, &p, None), Readiness::Idle);
    let r = a.append(q, &rec(b"hello"), Some(t0), None).unwrap();
    assert!(r.wake, "first record wakes the broker thread");
    assert_eq!(a.readiness(q, t0, false, &p, None), Readiness::At(t0 + Duration::from_millis(5)));
    assert_eq!(a.readiness(q, t0 + Duration::from_millis(4), false, &p, None), Readiness::At(t0 + p.linger));
    assert_eq!(a.readiness(q, t0 + Duration::from_millis(5), false, &p, None), Readiness::Ready);
    assert_eq!(a.readiness(q, t0, true, &p, None), Readiness::Ready, "flush forces");
    let second = a.append(q, &rec(b"world"), Some(t0), None).unwrap();
    assert!(!second.wake, "no wake for a record joining a lingering batch");
    let mut failed = Vec::new();
    let b = a.drain(q, t0 + p.linger, false, &p, None, usize::MAX, true, &mut failed).unwrap();
    assert_eq!(b.records, 2);
    assert_eq!(a.readiness(q, t0 + p.linger, false, &p, None), Readiness::Idle);
}

#[test]
fn full_batches_are_ready_without_linger() {
    let (a, q) = acc(200);
    let t0 = Instant::now();
    let p = policy();
    let v = [7u8; 60];
    let mut wakes = 0;
    for _ in 0..6 {
        wakes += a.append(q, &rec(&v), Some(t0), None).unwrap().wake as usize;
    }
    // 61-byte header + ~68 bytes per record: two records per batch.
    assert_eq!(a.readiness(q, t0, false, &p, None), Readiness::Ready);
    assert!(wakes >= 3);
    let mut failed = Vec::new();
    let mut counts = Vec::new();
    while let Ok(b) = a.drain(q, t0 + p.linger, false, &p, None, usize::MAX, true, &mut failed) {
        match &b.payload {
            Payload::Open(w) => assert!(w.size_in_bytes() <= 200),
            _ => panic!("unsealed"),
        }
        counts.push(b.records);
    }
    assert_eq!(counts.iter().sum::<u32>(), 6);
    assert!(counts.iter().all(|&c| c == 2), "{counts:?}");
}

#[test]
fn oversize_record_gets_its_own_batch() {
    let (a, q) = acc(100);
    let t0 = Instant::now();
    a.append(q, &rec(b"small"), Some(t0), None).unwrap();
    let big = vec![1u8; 500];
    a.append(q, &rec(&big), Some(t0), None).unwrap();
    let mut failed = Vec::new();
    let p = policy();
    let b1 = a.drain(q, t0, true, &p, None, usize::MAX, true, &mut failed).unwrap();
    let b2 = a.drain(q, t0, true, &p, None, usize::MAX, true, &mut failed).unwrap();
    assert_eq!((b1.records, b2.records), (1, 1));
    assert!(b1.ordinal < b2.ordinal);
}

#[test]
fn retries_keep_order_and_go_alone_when_idempotent() {
    let (a, q) = acc(100);
    let t0 = Instant::now();
    let v = [0u8; 50];
    for _ in 0..3 {
        a.append(q, &rec(&v), Some(t0), None).unwrap();
    }
    let p = DrainPolicy { idempotent: true, ..policy() };
    let pid = Some((7, 0));
    let mut failed = Vec::new();
    assert_eq!(a.readiness(q, t0, true, &p, None), Readiness::Blocked, "no producer id yet");
    let mut b0 = a.drain(q, t0, true, &p, pid, usize::MAX, true, &mut failed).unwrap();
    let mut b1 = a.drain(q, t0, true, &p, pid, usize::MAX, true, &mut failed).unwrap();
    assert_eq!((b0.base_sequence, b1.base_sequence), (0, 1));
    // Both were written in requests.
    b0.attempts = 1;
    b1.attempts = 1;
    assert!(a.is_head_of_line(q, b0.ordinal));
    assert!(!a.is_head_of_line(q, b1.ordinal));
    // b0 fails retriably and comes back; b1 is still in flight.
    a.requeue(b0);
    assert_eq!(a.readiness(q, t0, true, &p, pid), Readiness::Blocked);
    a.requeue(b1);
    let r0 = a.drain(q, t0, true, &p, pid, usize::MAX, true, &mut failed).unwrap();
    assert_eq!(r0.base_sequence, 0, "retries keep their sequence");
    assert_eq!(a.readiness(q, t0, true, &p, pid), Readiness::Blocked, "one retry at a time");
    assert!(a.is_head_of_line(q, r0.ordinal));
    a.finalize(q, r0.ordinal);
    let r1 = a.drain(q, t0, true, &p, pid, usize::MAX, true, &mut failed).unwrap();
    assert_eq!(r1.base_sequence, 1);
    a.finalize(q, r1.ordinal);
    let r2 = a.drain(q, t0, true, &p, pid, usize::MAX, true, &mut failed).unwrap();
    assert_eq!(r2.base_sequence, 2);
    assert!(failed.is_empty());
}

#[test]
fn new_producer_id_resequences_and_fails_ambiguous_batches() {
    let (a, q) = acc(100);
    let t0 = Instant::now();
    let v = [0u8; 50];
    for _ in 0..3 {
        a.append(q, &rec(&v), Some(t0), None).unwrap();
    }
    let p = DrainPolicy { idempotent: true, ..policy() };
    let mut failed = Vec::new();
    let mut b0 = a.drain(q, t0, true, &p, Some((1, 0)), usize::MAX, true, &mut failed).unwrap();
    let b1 = a.drain(q, t0, true, &p, Some((1, 0)), usize::MAX, true, &mut failed).unwrap();
    b0.maybe_persisted = true; // e.g. its connection dropped after the write
    a.requeue(b0);
    a.requeue(b1);
    // The producer id was reset.
    let n = a.drain(q, t0, true, &p, Some((2, 0)), usize::MAX, true, &mut failed).unwrap();
    assert_eq!(failed.len(), 1, "the possibly persisted batch cannot be resent");
    assert_eq!(failed[0].ordinal, 0);
    assert_eq!(n.ordinal, ORDINAL_STEP);
    assert_eq!((n.base_sequence, n.producer), (0, Some((2, 0))));
}

#[test]
fn a_batch_failed_at_a_producer_id_change_leaves_the_head_of_line() {
    let (a, q) = acc(100);
    let t0 = Instant::now();
    let v = [0u8; 50];
    for _ in 0..2 {
        a.append(q, &rec(&v), Some(t0), None).unwrap();
    }
    let p = DrainPolicy { idempotent: true, ..policy() };
    let mut failed = Vec::new();
    let mut b0 = a.drain(q, t0, true, &p, Some((1, 0)), usize::MAX, true, &mut failed).unwrap();
    b0.maybe_persisted = true;
    a.requeue(b0);
    // New producer id: b0 fails (possibly persisted), b1 is sent under it.
    let b1 = a.drain(q, t0, true, &p, Some((2, 0)), usize::MAX, true, &mut failed).unwrap();
    assert_eq!(failed.len(), 1);
    assert!(
        a.is_head_of_line(q, b1.ordinal),
        "a batch that left the partition still counts as the head of line"
    );
}

#[test]
fn closed_intake_refuses_appends() {
    let (a, q) = acc(100);
    assert!(a.append(q, &rec(b"x"), None, None).is_ok());
    a.close_intake();
    assert!(a.append(q, &rec(b"y"), None, None).is_err());
    let mut all = Vec::new();
    a.take_all(&mut all);
    assert_eq!(all.iter().map(|b| b.records).sum::<u32>(), 1);
}

#[test]
fn strict_order_without_idempotence() {
    let (a, q) = acc(100);
    let t0 = Instant::now();
    let v = [0u8; 50];
    for _ in 0..2 {
        a.append(q, &rec(&v), Some(t0), None).unwrap();
    }
    let p = DrainPolicy { strict_order: true, ..policy() };
    let mut failed = Vec::new();
    let b = a.drain(q, t0, true, &p, None, usize::MAX, true, &mut failed).unwrap();
    assert_eq!(a.readiness(q, t0, true, &p, None), Readiness::Blocked);
    a.finalize(q, b.ordinal);
    assert_eq!(a.readiness(q, t0, true, &p, None), Readiness::Ready);
}

#[test]
fn expiry_takes_only_overdue_queued_batches() {
    let a = Accumulator::new(100, 1 << 20, Duration::from_millis(50));
    let q = a.add_partition(&Arc::from("t"), 0);
    let t0 = Instant::now();
    a.append(q, &rec(b"x"), Some(t0), None).unwrap();
    a.append(q, &rec(b"y"), Some(t0 + Duration::from_millis(30)), None).unwrap();
    let mut out = Vec::new();
    a.take_expired(q, t0 + Duration::from_millis(49), false, &mut out);
    assert!(out.is_empty());
    a.take_expired(q, t0 + Duration::from_millis(50), false, &mut out);
    assert_eq!(out.len(), 1, "the open batch was created at t0");
}

#[test]
fn a_new_batch_header_never_takes_the_pool_past_its_total() {
    // Room for a record's reservation, not for its batch's header too.
    let a = Accumulator::new(16384, 250, Duration::from_secs(120));
    let q = a.add_partition(&Arc::from("t"), 0);
    assert!(a.pool.try_reserve(200), "as send does");
    let r = a.append(q, &rec(b"x"), None, None);
    assert!(a.pool.used() <= 250, "used {} of 250", a.pool.used());
    assert!(matches!(r, Err(AppendRefused::BufferFull)), "{r:?}");
    // With a deadline, it waits for the header's bytes to come back.
    let wait = AppendInput {
        header: HeaderBudget::Reserve {
            until: Some(&|| Instant::now() + Duration::from_secs(5)),
            on_wait: NO_WAKE,
        },
        ..rec(b"x")
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            a.pool.release(50);
        });
        a.append(q, &wait, None, None).unwrap();
    });
    assert_eq!(a.pool.used(), 150 + BATCH_OVERHEAD);
    // A record joining the open batch needs no header.
    assert!(a.pool.try_reserve(30));
    a.append(q, &rec(b"y"), None, None).unwrap();
    assert_eq!(a.pool.used(), 180 + BATCH_OVERHEAD);
    // Prepaid: the header comes with the record's reservation, and is
    // given back when the record joins an open batch.
    a.pool.charge(BATCH_OVERHEAD);
    a.append(q, &AppendInput { header: HeaderBudget::Prepaid, ..rec(b"z") }, None, None).unwrap();
    assert_eq!(a.pool.used(), 180 + BATCH_OVERHEAD);
}

#[test]
fn memory_pool_bounds_and_wakes() {
    let pool = Arc::new(MemoryPool::new(100));
    assert!(pool.try_reserve(60));
    assert!(!pool.try_reserve(60));
    let t0 = Instant::now();
    assert!(!pool.reserve(60, Some(t0 + Duration::from_millis(20)), || {}, || false));
    assert!(t0.elapsed() >= Duration::from_millis(20));
    let p2 = pool.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        p2.release(60);
    });
    assert!(pool.reserve(60, Some(Instant::now() + Duration::from_secs(5)), || {}, || false));
    t.join().unwrap();
    assert_eq!(pool.used(), 60);
}

#[test]
fn sequence_wraps_like_the_broker() {
    assert_eq!(increment_sequence(0, 5), 5);
    assert_eq!(increment_sequence(i32::MAX, 1), 0);
    assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
    // The second half of a batch split across the wrap (what `split` in
    // the broker thread computes): 0, where `wrapping_add` gave i32::MIN.
    assert_eq!(increment_sequence(i32::MAX - 1, 2), 0);
    assert_ne!((i32::MAX - 1).wrapping_add(2), 0);
}

#[test]
fn recycled_buffers_are_kept_up_to_buffer_memory_and_reused_first() {
    const MIB: usize = 1 << 20;
    let a = Accumulator::new(MIB, 16 * MIB, Duration::from_secs(120));
    for _ in 0..20 {
        a.recycle(Vec::with_capacity(MIB));
    }
    {
        let pooled = a.buffers.lock();
        assert_eq!((pooled.0.len(), pooled.1), (16, 16 * MIB), "kept up to buffer.memory, no more");
    }
    // Too large to be an ordinary batch buffer: not kept.
    a.recycle(Vec::with_capacity(3 * MIB));
    assert_eq!(a.buffers.lock().0.len(), 16);
    // A new batch takes a pooled buffer before anything is allocated.
    let b = a.take_buffer(1024);
    assert_eq!(b.capacity(), MIB);
    let pooled = a.buffers.lock();
    assert_eq!((pooled.0.len(), pooled.1), (15, 15 * MIB));
}
