//! The producer's promises, one test per way they were found broken (issue
//! 9), against the crate's own mock cluster: every record ends in exactly one
//! honest outcome, `flush` and `close` mean what the Java client says, the
//! partition count follows the cluster, and nothing hangs.
#![cfg(feature = "mock")]

#[path = "support/mock.rs"]
mod mock_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use kafka_sync::protocol::api_key::{INIT_PRODUCER_ID, METADATA, PRODUCE};
use kafka_sync::{DeliveryErrorKind, KafkaCode, Persistence, Producer, Record, SendErrorKind};
use mock_support::{cluster, config, stored, within};

fn warm(p: &Producer, topic: &str) {
    p.send(Record::new(topic.to_owned()).value("warm-up")).unwrap().wait().unwrap();
}

fn values(c: &kafka_sync::mock::MockCluster, topic: &str) -> Vec<Vec<u8>> {
    stored(c, topic).into_iter().filter_map(|(_, r)| r.value).collect()
}

/// Item 1: `NOT_ENOUGH_REPLICAS_AFTER_APPEND` and `REQUEST_TIMED_OUT` come
/// after the leader appended the batch: a record that runs out of time
/// after them is *possibly* persisted, never "not persisted" (it is in the log).
#[test]
fn errors_after_the_append_fail_as_possibly_persisted() {
    for idempotence in [true, false] {
        for code in [KafkaCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND, KafkaCode::REQUEST_TIMED_OUT] {
            let c = cluster(1, "t", 1);
            let p = Producer::new(
                config(&c)
                    .enable_idempotence(idempotence)
                    .request_timeout(Duration::from_millis(1000))
                    .delivery_timeout(Duration::from_millis(1500))
                    .build()
                    .unwrap(),
            )
            .unwrap();
            warm(&p, "t");
            c.push_errors_after_processing(PRODUCE, &[code; 200]);
            let e = p.send(Record::new("t").value("x")).unwrap().wait().unwrap_err();
            assert_eq!(
                e.persistence(),
                Persistence::PossiblyPersisted,
                "{code} idempotence={idempotence}: {e}"
            );
            assert!(values(&c, "t").contains(&b"x".to_vec()), "the mock appended it");
            c.clear_faults();
        }
    }
}

/// Item 1, the worse half: a batch that may be in the log must keep its
/// producer id and sequence; renumbered under a new producer id after a
/// reset, the broker cannot recognise the resend and both copies land.
#[test]
fn a_possibly_appended_batch_is_never_renumbered_under_a_new_producer_id() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    warm(&p, "t");
    // The first attempt is appended but answered with code 20; the retry is
    // answered UNKNOWN_PRODUCER_ID, which resets the producer id.
    c.push_errors_after_processing(PRODUCE, &[KafkaCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND]);
    c.push_request_errors(PRODUCE, &[KafkaCode::UNKNOWN_PRODUCER_ID]);
    let r = p.send(Record::new("t").value("once")).unwrap().wait();
    let copies = values(&c, "t").iter().filter(|v| v.as_slice() == b"once").count();
    assert_eq!(copies, 1, "outcome {r:?}");
    match r {
        Ok(_) => {}
        Err(e) => assert_eq!(e.persistence(), Persistence::PossiblyPersisted, "{e}"),
    }
    // The producer goes on under its new id.
    p.send(Record::new("t").value("after")).unwrap().wait().unwrap();
}

/// Item 2: when `flush` returns, every callback of the records sent before
/// it has run (Java's contract), even when flush starts while a batch's
/// callbacks are still running.
#[test]
fn flush_returns_after_the_callbacks() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    for round in 1..=5 {
        for i in 0..40 {
            let d = done.clone();
            p.send_with_callback(Record::new("t").value(&format!("{round}-{i}")), move |r| {
                r.unwrap();
                // Slow callbacks: flush starts while they run.
                std::thread::sleep(Duration::from_millis(2));
                d.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        std::thread::sleep(Duration::from_millis(30));
        p.flush().unwrap();
        assert_eq!(done.load(Ordering::SeqCst), round * 40, "round {round}: flush returned before callbacks");
    }
}

/// Item 3: a topic recreated with fewer partitions is followed; records
/// queued for a partition that no longer exists fail with a clear error.
#[test]
fn a_topic_recreated_with_fewer_partitions_is_followed() {
    let c = cluster(1, "t", 6);
    let p = Producer::new(config(&c).metadata_max_age(Duration::from_millis(300)).build().unwrap()).unwrap();
    for k in 0..30 {
        p.send(Record::new("t").key(&format!("k{k}")).value("before")).unwrap().wait().unwrap();
    }
    c.delete_topic("t").unwrap();
    // Queued while the topic is gone, for partitions that will not come back.
    let orphans: Vec<_> =
        (4..6).map(|part| p.send(Record::new("t").value("orphan").partition(part)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(400));
    c.create_topic("t", 2, 1).unwrap();
    let t0 = Instant::now();
    for h in orphans {
        let e = h
            .wait_timeout(Duration::from_secs(5))
            .expect("a record for a vanished partition hangs")
            .unwrap_err();
        assert_eq!(e.persistence(), Persistence::NotPersisted);
        assert!(e.message().contains("partition"), "unclear error: {e}");
    }
    assert!(t0.elapsed() < Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1000));
    let handles: Vec<_> =
        (0..100).map(|k| p.send(Record::new("t").key(&format!("k{k}")).value("after")).unwrap()).collect();
    for h in handles {
        let m = h.wait_timeout(Duration::from_secs(5)).expect("record stuck on a phantom partition").unwrap();
        assert!(m.partition() < 2, "{m:?}");
    }
    assert_eq!(p.partitions_for("t").unwrap().len(), 2);
}

/// Item 4: dropping the last `Producer` inside a callback (on the producer's
/// own I/O thread) neither hangs nor panics; every handle still resolves.
#[test]
fn dropping_the_last_producer_inside_a_callback() {
    let c = cluster(1, "t", 1);
    let p = Arc::new(Producer::new(config(&c).build().unwrap()).unwrap());
    warm(&p, "t");
    c.delay_next(PRODUCE, Duration::from_millis(200));
    let (tx, rx) = mpsc::channel();
    let last = p.clone();
    p.send_with_callback(Record::new("t").value("a"), move |r| {
        drop(last);
        tx.send(r.is_ok()).unwrap();
    })
    .unwrap();
    let other = p.send(Record::new("t").value("b")).unwrap();
    drop(p);
    let ok = rx.recv_timeout(Duration::from_secs(10)).expect("the callback that dropped the producer hung");
    assert!(ok);
    let r = other.wait_timeout(Duration::from_secs(5)).expect("a handle was left unresolved");
    // Closed with a zero timeout: delivered, or failed as closed.
    if let Err(e) = r {
        assert_eq!(e.kind(), &DeliveryErrorKind::Closed, "{e}");
    }
}

/// Item 5: a `send` blocked (buffer full) while `close` runs either fails
/// with `Closed` or returns a handle that resolves: never a handle that hangs.
/// The buffer is held by records of a partition without a leader, which only
/// `close` itself fails (after it stopped the threads), so the blocked sender
/// gets its memory at the last moment.
#[test]
fn send_blocked_while_close_runs_never_leaves_a_hanging_handle() {
    let c = cluster(1, "t", 1);
    let p = Arc::new(
        Producer::new(
            config(&c)
                .batch_size(1024)
                .buffer_memory(4096)
                .max_block(Duration::from_secs(5))
                .build()
                .unwrap(),
        )
        .unwrap(),
    );
    warm(&p, "t");
    c.delete_topic("t").unwrap();
    let mut held = vec![p.send(Record::new("t").value("x").partition(0)).unwrap()];
    // The producer learns the topic is gone: its partition has no leader now.
    std::thread::sleep(Duration::from_millis(500));
    while let Ok(h) = p.try_send(Record::new("t").value(&vec![0u8; 200]).partition(0)) {
        held.push(h);
    }
    let sender = {
        let p = p.clone();
        std::thread::spawn(move || p.send(Record::new("t").value(&vec![1u8; 200]).partition(0)))
    };
    std::thread::sleep(Duration::from_millis(100));
    let _ = p.close(Duration::from_millis(300));
    let r = within(Duration::from_secs(10), move || sender.join().unwrap());
    match r {
        Err(e) => assert!(matches!(e.kind(), SendErrorKind::Closed | SendErrorKind::BufferFull), "{e}"),
        Ok(h) => assert!(
            h.wait_timeout(Duration::from_secs(3)).is_some(),
            "a send accepted during close never resolved"
        ),
    }
    for h in held {
        assert!(h.wait_timeout(Duration::from_secs(3)).is_some());
    }
}

/// Item 7: when a partition's leader moves while requests to the old leader
/// are in flight, the new leader's thread is woken when they come back, not
/// at a delivery deadline. The old leader's answers are successes (it took
/// the data before the move), so nothing else triggers a refresh or a wake.
#[test]
fn leader_move_with_requests_in_flight_wakes_the_new_leader() {
    let c = cluster(3, "t", 1);
    c.create_topic("other", 1, 1).unwrap();
    let p = Producer::new(config(&c).delivery_timeout(Duration::from_secs(20)).build().unwrap()).unwrap();
    warm(&p, "t");
    let old = c.leader("t", 0).unwrap();
    let new = c.broker_ids().into_iter().find(|b| *b != old).unwrap();
    // The refresh trigger below goes to the old leader too: nothing but the
    // old leader's completions can wake the new leader's thread.
    c.move_leader("other", 0, old).unwrap();
    c.set_response_delay(old, Duration::from_millis(200)).unwrap();
    let t0 = Instant::now();
    // Five requests in flight to the old leader (the most per partition),
    // more batches queued behind them.
    let mut handles = Vec::new();
    for i in 0..60 {
        handles.push(p.send(Record::new("t").value(&format!("{i}"))).unwrap());
        std::thread::sleep(Duration::from_millis(2));
    }
    c.move_leader("t", 0, new).unwrap();
    // A send to a topic the producer does not know yet makes it refresh its
    // metadata: it learns the new leader while the old one's answers are due.
    p.send(Record::new("other").value("refresh")).unwrap().wait().unwrap();
    for h in handles {
        h.wait_timeout(Duration::from_secs(10)).expect("stuck after the leader moved").unwrap();
    }
    assert!(t0.elapsed() < Duration::from_secs(6), "{:?}", t0.elapsed());
    let vals: Vec<String> =
        c.records("t", 0).into_iter().skip(1).map(|r| String::from_utf8(r.value.unwrap()).unwrap()).collect();
    assert_eq!(vals, (0..60).map(|i| i.to_string()).collect::<Vec<_>>());
}

/// Item 9: with `allow.auto.create.topics=false` a producer still holding
/// records for a deleted topic does not recreate it, and refreshes back off.
#[test]
fn a_deleted_topic_is_not_recreated_and_refreshes_back_off() {
    let c = cluster(1, "t", 1);
    c.set_auto_create_topics(Some(1));
    let p = Producer::new(
        config(&c)
            .allow_auto_create_topics(false)
            .retry_backoff(Duration::from_millis(10))
            .retry_backoff_max(Duration::from_millis(200))
            .delivery_timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    )
    .unwrap();
    warm(&p, "t");
    c.delete_topic("t").unwrap();
    let h = p.send(Record::new("t").value("queued")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let before = c.request_count(METADATA);
    std::thread::sleep(Duration::from_millis(2000));
    let refreshes = c.request_count(METADATA) - before;
    assert!(!c.topics().contains(&"t".to_string()), "the producer recreated the deleted topic");
    // Every 10 ms would be ~200; backing off to 200 ms gives ~10-15.
    assert!(refreshes <= 40, "{refreshes} metadata requests in 2 s");
    assert!(!h.is_done());
    drop(p);
}

/// Item 9: a topic not sent to for `metadata.max.idle.ms` leaves the
/// metadata requests (so it is not auto-created again once deleted).
#[test]
fn idle_topics_leave_the_metadata_requests() {
    let c = cluster(1, "busy", 1);
    c.create_topic("idle", 1, 1).unwrap();
    c.set_auto_create_topics(Some(1));
    let p = Producer::new(
        config(&c)
            .metadata_max_age(Duration::from_millis(200))
            .metadata_max_idle(Duration::from_millis(5000))
            .build()
            .unwrap(),
    )
    .unwrap();
    warm(&p, "idle");
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(6000) {
        p.send(Record::new("busy").value("x")).unwrap().wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    c.delete_topic("idle").unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        !c.topics().contains(&"idle".to_string()),
        "an idle topic was still requested (and auto-created)"
    );
    // Sending to it again fetches it again.
    c.create_topic("idle", 1, 1).unwrap();
    p.send(Record::new("idle").value("back")).unwrap().wait().unwrap();
}

/// Item 10: a panic in a user's `Waker` is contained; the I/O thread goes on.
#[test]
fn a_panicking_waker_does_not_kill_the_io_thread() {
    use std::future::Future;
    use std::task::{Context, Wake, Waker};
    struct Panics;
    impl Wake for Panics {
        fn wake(self: Arc<Self>) {
            panic!("waker panics");
        }
    }
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    warm(&p, "t");
    c.delay_next(PRODUCE, Duration::from_millis(100));
    let mut h = p.send(Record::new("t").value("x")).unwrap();
    let waker = Waker::from(Arc::new(Panics));
    let mut cx = Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut h).poll(&mut cx).is_pending());
    std::thread::sleep(Duration::from_millis(300));
    let m = p.send(Record::new("t").value("y")).unwrap().wait_timeout(Duration::from_secs(5));
    assert!(m.is_some_and(|r| r.is_ok()), "the broker thread died with the waker's panic");
}

/// Item 10: idle connections are closed after `connections.max.idle.ms`,
/// and the next send reconnects.
#[test]
fn idle_connections_are_closed() {
    let c = cluster(1, "t", 1);
    let p =
        Producer::new(config(&c).connections_max_idle(Duration::from_millis(300)).build().unwrap()).unwrap();
    warm(&p, "t");
    let leader = c.leader("t", 0).unwrap();
    assert!(c.connection_count(leader) >= 1);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(c.connection_count(leader), 0, "idle connections were kept");
    p.send(Record::new("t").value("again")).unwrap().wait().unwrap();
}

/// Item 10: an explicit partition beyond the known count waits (up to
/// `max.block.ms`) for metadata that shows it, as in Java.
#[test]
fn an_explicit_new_partition_waits_for_metadata() {
    let c = cluster(1, "t", 2);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    warm(&p, "t");
    c.add_partitions("t", 4).unwrap();
    let m = p.send(Record::new("t").value("x").partition(3)).unwrap().wait().unwrap();
    assert_eq!(m.partition(), 3);
    // Still refused, after max.block.ms, for a partition that does not exist.
    let p2 = Producer::new(config(&c).max_block(Duration::from_millis(300)).build().unwrap()).unwrap();
    warm(&p2, "t");
    let e = p2.send(Record::new("t").value("x").partition(9)).unwrap_err();
    assert!(matches!(e.kind(), SendErrorKind::InvalidPartition { partition: 9, partitions: 4 }), "{e}");
}

/// Item 10: a fatal InitProducerId error fails queued records at once, not
/// at their delivery deadline.
#[test]
fn a_fatal_init_producer_id_error_fails_queued_records_promptly() {
    let c = cluster(1, "t", 1);
    // Retriable failures first, so that the record is queued (and its broker
    // thread asleep, waiting for a producer id) when the fatal answer comes.
    c.push_request_errors(
        INIT_PRODUCER_ID,
        &[
            KafkaCode::COORDINATOR_LOAD_IN_PROGRESS,
            KafkaCode::COORDINATOR_LOAD_IN_PROGRESS,
            KafkaCode::COORDINATOR_LOAD_IN_PROGRESS,
            KafkaCode::CLUSTER_AUTHORIZATION_FAILED,
        ],
    );
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    match p.send(Record::new("t").value("x")) {
        Ok(h) => {
            let r = h
                .wait_timeout(Duration::from_secs(3))
                .expect("queued record waited for its delivery deadline");
            let e = r.unwrap_err();
            assert_eq!(e.kind(), &DeliveryErrorKind::Fatal(KafkaCode::CLUSTER_AUTHORIZATION_FAILED), "{e}");
        }
        Err(e) => assert!(matches!(e.kind(), SendErrorKind::Fatal(_)), "{e}"),
    }
}
