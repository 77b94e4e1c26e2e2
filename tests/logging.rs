//! What the producer logs when a broker stays unreachable: the first failure
//! and then a line with a count now and then, not a warning per attempt (a
//! test binary of its own: it installs the process' logger).
#![cfg(feature = "mock")]

#[path = "support/mock.rs"]
mod mock_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kafka_sync::{Producer, Record};
use mock_support::{cluster, config};

static WARNINGS: AtomicUsize = AtomicUsize::new(0);
static CONNECT_FAILURES_LOGGED: AtomicUsize = AtomicUsize::new(0);

struct Counter;

impl log::Log for Counter {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record) {
        if r.level() <= log::Level::Warn && r.target().starts_with("kafka_sync") {
            WARNINGS.fetch_add(1, Ordering::SeqCst);
            if r.args().to_string().contains("connecting to broker") {
                CONNECT_FAILURES_LOGGED.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    fn flush(&self) {}
}

#[test]
fn an_unreachable_broker_is_logged_once_with_a_count_not_per_attempt() {
    static LOGGER: Counter = Counter;
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    let c = cluster(1, "t", 1);
    let p = Producer::new(
        config(&c)
            .reconnect_backoff(Duration::from_millis(10))
            .reconnect_backoff_max(Duration::from_millis(20))
            .retry_backoff(Duration::from_millis(10))
            .retry_backoff_max(Duration::from_millis(20))
            .delivery_timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    )
    .unwrap();
    p.send(Record::new("t").value("warm-up")).unwrap().wait().unwrap();
    c.broker_down(1).unwrap();
    let h = p.send(Record::new("t").value("waits")).unwrap();
    // About 100 connection attempts at 10-20 ms apart.
    std::thread::sleep(Duration::from_millis(2000));
    let connect = CONNECT_FAILURES_LOGGED.load(Ordering::SeqCst);
    let all = WARNINGS.load(Ordering::SeqCst);
    eprintln!("warnings in 2 s: {all} ({connect} about connecting)");
    assert!((1..=4).contains(&connect), "{connect} connection-failure warnings for one unreachable broker");
    assert!(all <= 12, "{all} warnings in 2 s");
    c.broker_up(1).unwrap();
    h.wait_timeout(Duration::from_secs(10)).expect("delivered once the broker is back").unwrap();
}
