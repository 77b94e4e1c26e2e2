//! Helpers for producer tests against the crate's own mock cluster
//! (`kafka_sync::mock`): fast and deterministic, for fault cases.

#![allow(dead_code)]

use std::time::Duration;

use kafka_sync::mock::{MockCluster, StoredRecord};
use kafka_sync::{ProducerConfig, ProducerConfigBuilder};

/// A mock cluster with `brokers` brokers and `topic` with `partitions` partitions.
pub fn cluster(brokers: usize, topic: &str, partitions: i32) -> MockCluster {
    let c = MockCluster::start(brokers).expect("start mock cluster");
    c.create_topic(topic, partitions, brokers.min(3) as i16).expect("create topic");
    c
}

/// A config for `c` with timeouts short enough for tests.
pub fn config(c: &MockCluster) -> ProducerConfigBuilder {
    ProducerConfig::builder()
        .bootstrap_servers(c.bootstrap_servers())
        .max_block(Duration::from_secs(10))
        .linger(Duration::from_millis(2))
        .request_timeout(Duration::from_secs(5))
        .delivery_timeout(Duration::from_secs(20))
        .retry_backoff(Duration::from_millis(10))
        .retry_backoff_max(Duration::from_millis(100))
        .reconnect_backoff(Duration::from_millis(10))
        .reconnect_backoff_max(Duration::from_millis(100))
}

/// Every stored record of `topic`, with its partition.
pub fn stored(c: &MockCluster, topic: &str) -> Vec<(i32, StoredRecord)> {
    let n = c.partition_count(topic).unwrap_or(0);
    (0..n).flat_map(|p| c.records(topic, p).into_iter().map(move |r| (p, r))).collect()
}

/// Runs `f` on a thread and fails the test if it takes longer than `limit`.
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| panic!("did not finish within {limit:?}"))
}
