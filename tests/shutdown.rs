//! flush and close: with records queued and in flight, within their
//! timeouts, resolving every handle.
#![cfg(feature = "mock")]

#[path = "support/mock.rs"]
mod mock_support;

use std::time::{Duration, Instant};

use kafka_sync::{DeliveryErrorKind, Persistence, Producer, Record};
use mock_support::{cluster, config, stored};

#[test]
fn close_drains_queued_records() {
    let c = cluster(1, "t", 2);
    // Linger is long: only close makes the records go.
    let p = Producer::new(config(&c).linger(Duration::from_secs(5)).build().unwrap()).unwrap();
    let hs: Vec<_> = (0..1000).map(|i| p.send(Record::new("t").key(&i).value("v")).unwrap()).collect();
    let t0 = Instant::now();
    p.close(Duration::from_secs(10)).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(3), "close does not wait for linger");
    for h in hs {
        assert!(h.try_result().expect("resolved by close").is_ok());
    }
    assert_eq!(stored(&c, "t").len(), 1000);
}

#[test]
fn close_with_an_unresponsive_broker_returns_in_time_and_resolves_everything() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).linger(Duration::from_millis(1)).build().unwrap()).unwrap();
    p.send(Record::new("t").value("warm-up")).unwrap().wait().unwrap();
    // From now on requests are taken and never answered: in flight forever.
    c.set_response_delay(1, Duration::MAX).unwrap();
    let hs: Vec<_> = (0..200).map(|i| p.send(Record::new("t").key(&i).value("v")).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    let r = p.close(Duration::from_millis(500));
    let took = t0.elapsed();
    assert!(r.is_err(), "close reports that it gave up");
    assert!(took < Duration::from_millis(2500), "close returns within its timeout (plus joining): {took:?}");
    let mut possibly = 0;
    for h in hs {
        let e = h.try_result().expect("every handle resolved").unwrap_err();
        assert_eq!(e.kind(), &DeliveryErrorKind::Closed);
        if e.persistence() == Persistence::PossiblyPersisted {
            possibly += 1;
        }
    }
    assert!(possibly > 0, "records in flight are reported possibly persisted");
}

#[test]
fn drop_closes() {
    let c = cluster(1, "t", 1);
    let hs: Vec<_> = {
        let p = Producer::new(config(&c).linger(Duration::from_secs(5)).build().unwrap()).unwrap();
        (0..10).map(|i| p.send(Record::new("t").key(&i).value("v")).unwrap()).collect()
    };
    for h in hs {
        assert!(h.try_result().expect("resolved by drop").is_ok());
    }
    assert_eq!(c.records("t", 0).len(), 10);
}

#[test]
fn flush_timeout_gives_up_without_losing_records() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    p.send(Record::new("t").value("warm-up")).unwrap().wait().unwrap();
    c.set_response_delay(1, Duration::from_millis(800)).unwrap();
    let h = p.send(Record::new("t").value("slow")).unwrap();
    assert!(p.flush_timeout(Duration::from_millis(100)).is_err());
    // The record keeps going and arrives.
    assert!(h.wait().is_ok());
    p.flush().unwrap();
}
