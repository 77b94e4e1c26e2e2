//! The Kafka-named metrics against workloads whose counts are known:
//! records and batch bytes per topic (recomputed from the batches the mock
//! stored), errors and retries the mock injected, throttle times it asked
//! for, its own request and connection counts; windowed rates; the
//! Prometheus text (checked by a strict parser); the statistics callback.
#![cfg(feature = "mock")]

#[path = "support/mock.rs"]
mod mock_support;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kafka_sync::mock::MockCluster;
use kafka_sync::protocol::api_key::PRODUCE;
use kafka_sync::protocol::compression::Compression;
use kafka_sync::protocol::record_batch::RecordBatchWriter;
use kafka_sync::{KafkaCode, Producer, ProducerMetrics, Record, SendErrorKind};
use mock_support::{cluster, config, within};

/// A fixed record timestamp: batch sizes then depend only on what is sent.
const TS: i64 = 1_700_000_000_000;

fn warm(p: &Producer, topic: &str) {
    p.send(Record::new(topic.to_owned()).value("warm-up").timestamp(TS)).unwrap().wait().unwrap();
}

fn k(m: &ProducerMetrics, name: &str) -> f64 {
    m.kafka_metric(name).unwrap_or_else(|| panic!("no producer metric {name}"))
}

fn t(m: &ProducerMetrics, topic: &str, name: &str) -> f64 {
    m.topic_metric(topic, name).unwrap_or_else(|| panic!("no metric {name} for topic {topic}"))
}

/// The records the mock stored for `topic` and the bytes of the batches
/// they came in, re-encoded batch by batch: Java's `byte-total` (each
/// batch's size as sent), for uncompressed batches.
fn stored_batches(c: &MockCluster, topic: &str) -> (u64, u64) {
    let (mut records, mut bytes) = (0, 0);
    for p in 0..c.partition_count(topic).unwrap() {
        let mut batches: BTreeMap<i64, RecordBatchWriter> = BTreeMap::new();
        for r in c.records(topic, p) {
            let w = batches
                .entry(r.batch_base_offset)
                .or_insert_with(|| RecordBatchWriter::new(Vec::new(), r.timestamp));
            w.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &r.headers);
            records += 1;
        }
        bytes += batches.values().map(|w| w.size_in_bytes() as u64).sum::<u64>();
    }
    (records, bytes)
}

/// Produce requests each broker received.
fn produce_requests(c: &MockCluster) -> BTreeMap<i32, usize> {
    let mut n = BTreeMap::new();
    for r in c.requests().into_iter().filter(|r| r.api_key == PRODUCE) {
        *n.entry(r.broker).or_insert(0) += 1;
    }
    n
}

/// Polls `f` every 10 ms for up to `limit`; whether it became true.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn topic_totals_match_the_records_and_batches_sent() {
    within(Duration::from_secs(20), || {
        let c = cluster(2, "a", 3);
        c.create_topic("b", 2, 2).unwrap();
        let p = Producer::new(config(&c).client_id("metrics-test").build().unwrap()).unwrap();
        let t0 = Instant::now();
        let mut handles = Vec::new();
        for i in 0..40 {
            let r = Record::new("a").key(&format!("key-{i}")).value(&"x".repeat(10 + i)).timestamp(TS);
            handles.push(p.send(r).unwrap());
        }
        for i in 0..25 {
            let r = Record::new("b").value(&vec![i as u8; 100 + i]).header("h", "v").timestamp(TS);
            handles.push(p.send(r).unwrap());
        }
        for h in handles {
            h.wait().unwrap();
        }
        p.flush().unwrap();
        let elapsed = t0.elapsed().as_secs_f64();
        let m = p.metrics();

        // Per topic: records, and bytes as Java counts them (batch sizes).
        for (topic, n) in [("a", 40u64), ("b", 25)] {
            let (records, bytes) = stored_batches(&c, topic);
            assert_eq!(records, n);
            assert_eq!(t(&m, topic, "record-send-total"), n as f64, "{topic}");
            assert_eq!(t(&m, topic, "byte-total"), bytes as f64, "{topic}");
            assert_eq!(t(&m, topic, "record-error-total"), 0.0);
            assert_eq!(t(&m, topic, "record-retry-total"), 0.0);
            assert_eq!(t(&m, topic, "compression-rate"), 1.0, "uncompressed");
            // The rate: the total over (time since the first sample + one
            // whole 30 s window): between total / (30 s + elapsed) and total / 30 s.
            let rate = t(&m, topic, "byte-rate");
            assert!(rate * 30.0 <= bytes as f64 + 1e-6, "{rate}");
            assert!(rate * (30.0 + elapsed + 0.002) >= bytes as f64 - 1e-6, "{rate} {elapsed}");
        }
        assert_eq!(m.topic_metric("c", "record-send-total"), None, "no such topic");

        // Per producer.
        assert_eq!(k(&m, "record-send-total"), 65.0);
        assert_eq!(k(&m, "record-error-total"), 0.0);
        assert_eq!(k(&m, "record-retry-total"), 0.0);
        let rate = k(&m, "record-send-rate");
        assert!(rate * 30.0 <= 65.0 + 1e-9 && rate * (30.0 + elapsed + 0.002) >= 65.0 - 1e-9, "{rate}");
        assert_eq!(k(&m, "requests-in-flight"), 0.0);
        assert_eq!(k(&m, "compression-rate-avg"), 1.0);
        let (avg, max) = (k(&m, "batch-size-avg"), k(&m, "batch-size-max"));
        assert!(avg >= 61.0 && max >= avg, "{avg} {max}");
        assert!(k(&m, "records-per-request-avg") >= 1.0);
        assert!(k(&m, "record-queue-time-max") >= k(&m, "record-queue-time-avg"));
        assert!(k(&m, "request-latency-max") >= k(&m, "request-latency-avg"));
        assert!(k(&m, "request-latency-avg") > 0.0);
        assert!(k(&m, "metadata-age") >= 0.0);
        assert_eq!(k(&m, "buffer-available-bytes"), k(&m, "buffer-total-bytes"), "all memory back");
        assert_eq!(k(&m, "buffer-total-bytes"), 32.0 * 1024.0 * 1024.0);
        assert_eq!(k(&m, "waiting-threads"), 0.0);

        // Per broker: the mock's own count of Produce requests.
        let by_broker = produce_requests(&c);
        assert_eq!(by_broker.len(), 2, "{by_broker:?}");
        for (&broker, &n) in &by_broker {
            assert_eq!(m.node_metric(broker, "request-total"), Some(n as f64), "broker {broker}");
            assert_eq!(m.node_metric(broker, "response-total"), Some(n as f64), "broker {broker}");
            let lat = m.node_metric(broker, "request-latency-avg").unwrap();
            assert!(lat > 0.0 && lat <= m.node_metric(broker, "request-latency-max").unwrap());
            assert!(m.node_metric(broker, "outgoing-byte-total").unwrap() > 0.0);
            assert!(m.node_metric(broker, "incoming-byte-total").unwrap() > 0.0);
        }
        let produce_total: usize = by_broker.values().sum();
        assert_eq!(k(&m, "request-total"), produce_total as f64);
        assert_eq!(k(&m, "response-total"), produce_total as f64);
        assert_eq!(k(&m, "request-total"), m.requests as f64, "the crate's own count agrees");
        assert_eq!(k(&m, "outgoing-byte-total"), m.request_bytes as f64);

        // Every metric carries the client id, first.
        for km in m.kafka_metrics() {
            assert_eq!(km.tags[0], ("client-id", "metrics-test".to_owned()), "{km}");
        }
        p.close(Duration::from_secs(5)).unwrap();
    });
}

#[test]
fn every_listed_name_is_reported() {
    let c = cluster(1, "t", 1);
    let p = Producer::new(config(&c).build().unwrap()).unwrap();
    warm(&p, "t");
    let m = p.metrics();
    for name in [
        "record-send-rate",
        "record-send-total",
        "record-error-rate",
        "record-error-total",
        "record-retry-rate",
        "record-retry-total",
        "record-queue-time-avg",
        "record-queue-time-max",
        "request-latency-avg",
        "request-latency-max",
        "request-rate",
        "request-total",
        "requests-in-flight",
        "batch-size-avg",
        "batch-size-max",
        "records-per-request-avg",
        "compression-rate-avg",
        "buffer-available-bytes",
        "buffer-total-bytes",
        "bufferpool-wait-time-total",
        "bufferpool-wait-time-ns-total",
        "bufferpool-wait-ratio",
        "produce-throttle-time-avg",
        "produce-throttle-time-max",
        "waiting-threads",
        "connection-count",
    ] {
        assert!(m.kafka_metric(name).is_some(), "{name}");
    }
    for name in [
        "byte-rate",
        "byte-total",
        "record-send-rate",
        "record-send-total",
        "compression-rate",
        "record-retry-rate",
        "record-error-rate",
        "record-error-total",
    ] {
        assert!(m.topic_metric("t", name).is_some(), "{name}");
    }
    for name in [
        "request-latency-avg",
        "request-latency-max",
        "request-rate",
        "request-total",
        "outgoing-byte-rate",
        "incoming-byte-rate",
    ] {
        assert!(m.node_metric(1, name).is_some(), "{name}");
    }
}

#[test]
fn non_retriable_errors_count_for_their_topic() {
    within(Duration::from_secs(20), || {
        let c = cluster(1, "good", 1);
        c.create_topic("bad", 1, 1).unwrap();
        let p = Producer::new(config(&c).build().unwrap()).unwrap();
        warm(&p, "good");
        warm(&p, "bad");
        c.push_request_errors(PRODUCE, &[KafkaCode::INVALID_RECORD; 3]);
        for i in 0..3 {
            let e =
                p.send(Record::new("bad").value(&format!("v{i}")).timestamp(TS)).unwrap().wait().unwrap_err();
            assert_eq!(e.code(), Some(KafkaCode::INVALID_RECORD));
        }
        warm(&p, "good");
        let m = p.metrics();
        assert_eq!(t(&m, "bad", "record-error-total"), 3.0);
        assert_eq!(t(&m, "bad", "record-send-total"), 4.0, "the warm-up and three failed sends");
        assert_eq!(t(&m, "good", "record-error-total"), 0.0);
        assert_eq!(t(&m, "good", "record-send-total"), 2.0);
        assert_eq!(k(&m, "record-error-total"), 3.0);
        assert_eq!(k(&m, "record-retry-total"), 0.0, "not retriable");
        assert_eq!(m.records_failed, 3, "the crate's own count agrees");
        let rate = t(&m, "bad", "record-error-rate");
        assert!(rate > 0.0 && rate * 30.0 <= 3.0 + 1e-9, "{rate}");
    });
}

#[test]
fn retriable_errors_count_every_record_of_the_retried_batch() {
    within(Duration::from_secs(20), || {
        let c = cluster(1, "t", 1);
        // A long linger: the five records below share one batch.
        let p = Producer::new(config(&c).linger(Duration::from_millis(300)).build().unwrap()).unwrap();
        p.partitions_for("t").unwrap();
        c.push_request_errors(PRODUCE, &[KafkaCode::NOT_ENOUGH_REPLICAS, KafkaCode::NOT_ENOUGH_REPLICAS]);
        let handles: Vec<_> =
            (0..5).map(|i| p.send(Record::new("t").value(&format!("r{i}")).timestamp(TS)).unwrap()).collect();
        p.flush().unwrap();
        for h in handles {
            assert_eq!(h.wait().unwrap().attempts(), 3);
        }
        let m = p.metrics();
        assert_eq!(c.request_count(PRODUCE), 3, "two failures, one success");
        assert_eq!(k(&m, "record-retry-total"), 10.0, "5 records, retried twice");
        assert_eq!(t(&m, "t", "record-retry-total"), 10.0);
        assert_eq!(t(&m, "t", "record-send-total"), 15.0, "each attempt counts, as in Java");
        assert_eq!(k(&m, "record-error-total"), 0.0);
        assert_eq!(m.node_metric(1, "request-total"), Some(3.0));
        assert_eq!(k(&m, "records-per-request-avg"), 5.0);
        assert_eq!(m.retries, 2, "the crate's own count is per batch");
        assert!(t(&m, "t", "record-retry-rate") > 0.0);
    });
}

#[test]
fn produce_throttle_times_are_those_the_broker_sent() {
    within(Duration::from_secs(20), || {
        let c = cluster(1, "t", 1);
        c.set_produce_throttle(Duration::from_millis(40));
        let p = Producer::new(config(&c).build().unwrap()).unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            warm(&p, "t");
        }
        // The producer held off for the throttle time between requests.
        assert!(t0.elapsed() >= Duration::from_millis(80), "{:?}", t0.elapsed());
        let m = p.metrics();
        assert_eq!(k(&m, "produce-throttle-time-max"), 40.0);
        assert_eq!(k(&m, "produce-throttle-time-avg"), 40.0, "every response was throttled");
        c.set_produce_throttle(Duration::ZERO);
        warm(&p, "t");
        let m = p.metrics();
        assert_eq!(k(&m, "produce-throttle-time-max"), 40.0);
        assert_eq!(k(&m, "produce-throttle-time-avg"), 30.0, "(40 * 3 + 0) / 4");
    });
}

#[test]
fn rates_cover_the_sample_windows_not_the_uptime() {
    within(Duration::from_secs(20), || {
        let c = cluster(1, "t", 1);
        // Two samples of 500 ms (`metrics.num.samples` by its Java name).
        let config =
            config(&c).set("metrics.num.samples", "2").metrics_sample_window(Duration::from_millis(500));
        let p = Producer::new(config.build().unwrap()).unwrap();
        p.partitions_for("t").unwrap();
        // Uptime no longer matters: only the windows do.
        thread::sleep(Duration::from_millis(300));
        let t0 = Instant::now();
        for _ in 0..20 {
            warm(&p, "t");
        }
        let elapsed = t0.elapsed().as_secs_f64();
        let m = p.metrics();
        let rate = k(&m, "record-send-rate");
        assert_eq!(k(&m, "record-send-total"), 20.0);
        if elapsed < 0.5 {
            // Less than a window since the first record: the span counted is
            // what passed plus one whole window (num.samples - 1).
            assert!(rate * 0.5 <= 20.0 + 1e-9 && rate * (0.5 + elapsed + 0.002) >= 20.0 - 1e-9, "{rate}");
        } else {
            // A slow machine: records may have left the window already.
            assert!(rate > 0.0 && rate * 0.5 <= 20.0 + 1e-9, "{rate}");
        }
        assert!(m.record_send_rate > 0.0, "the crate's own rate is over the uptime");
        // num.samples * window after the last record, the windows are empty:
        // rates are 0, averages NaN, totals stay.
        thread::sleep(Duration::from_millis(1100));
        let m = p.metrics();
        assert_eq!(k(&m, "record-send-rate"), 0.0);
        assert_eq!(k(&m, "record-send-total"), 20.0);
        assert_eq!(t(&m, "t", "byte-rate"), 0.0);
        assert!(k(&m, "request-latency-avg").is_nan());
        assert!(k(&m, "batch-size-max").is_nan());
        assert!(m.node_metric(1, "request-latency-avg").unwrap().is_nan());
        assert_eq!(m.node_metric(1, "request-total"), Some(20.0));
    });
}

#[test]
fn waiting_threads_and_buffer_wait_while_memory_is_full() {
    within(Duration::from_secs(20), || {
        let c = cluster(1, "t", 1);
        let config = config(&c).batch_size(1024).buffer_memory(4096).max_block(Duration::from_secs(10));
        let p = Arc::new(Producer::new(config.build().unwrap()).unwrap());
        warm(&p, "t");
        // Answers come late: memory stays in use meanwhile.
        c.set_response_delay(1, Duration::from_millis(300)).unwrap();
        let value = vec![7u8; 400];
        let mut handles = Vec::new();
        let refused = loop {
            match p.try_send(Record::new("t").value(&value).timestamp(TS)) {
                Ok(h) => handles.push(h),
                Err(e) => break e,
            }
        };
        assert_eq!(refused.kind(), &SendErrorKind::BufferFull);
        assert!(handles.len() >= 4, "{}", handles.len());
        let m = p.metrics();
        assert!(k(&m, "buffer-available-bytes") < 500.0, "{}", k(&m, "buffer-available-bytes"));
        assert_eq!(k(&m, "buffer-exhausted-total"), 1.0, "the refused try_send");

        let p2 = p.clone();
        let blocked = thread::spawn(move || {
            p2.send(Record::new("t").value(&[1u8; 400]).timestamp(TS)).map(|h| h.wait())
        });
        let seen =
            eventually(Duration::from_secs(2), || p.metrics().kafka_metric("waiting-threads") == Some(1.0));
        assert!(seen, "the blocked sender is counted");
        blocked.join().unwrap().unwrap().unwrap();
        c.set_response_delay(1, Duration::ZERO).unwrap();
        for h in handles {
            h.wait().unwrap();
        }
        p.flush().unwrap();
        let m = p.metrics();
        assert_eq!(k(&m, "waiting-threads"), 0.0);
        let waited = k(&m, "bufferpool-wait-time-ns-total");
        assert!(waited > 1e6, "blocked for more than a millisecond: {waited} ns");
        assert_eq!(k(&m, "bufferpool-wait-time-total"), waited, "Java's deprecated name, also in ns");
        let ratio = k(&m, "bufferpool-wait-ratio");
        assert!(ratio > 0.0 && ratio < 1.0, "{ratio}");
        assert_eq!(k(&m, "buffer-exhausted-total"), 1.0, "the blocking send got its memory");
        assert_eq!(k(&m, "buffer-total-bytes"), 4096.0);
        assert_eq!(k(&m, "buffer-available-bytes"), 4096.0, "all memory back after flush");
    });
}

#[test]
fn connection_count_is_the_clusters() {
    within(Duration::from_secs(20), || {
        let c = cluster(2, "t", 2);
        let p = Producer::new(config(&c).build().unwrap()).unwrap();
        for partition in 0..2 {
            p.send(Record::new("t").value("x").partition(partition)).unwrap().wait().unwrap();
        }
        let (mut ours, mut theirs) = (0.0, 0);
        let agreed = eventually(Duration::from_secs(3), || {
            ours = k(&p.metrics(), "connection-count");
            theirs = c.connection_count(1) + c.connection_count(2);
            ours == theirs as f64
        });
        assert!(agreed, "producer {ours}, cluster {theirs}");
        assert!(ours >= 2.0, "one connection per leader at least: {ours}");
        // Every open connection was a creation; dropping one makes another.
        let created = k(&p.metrics(), "connection-creation-total");
        assert!(created >= ours, "{created} created, {ours} open");
        assert!(k(&p.metrics(), "connection-creation-rate") > 0.0);
        c.broker_down(2).unwrap();
        c.broker_up(2).unwrap();
        p.send(Record::new("t").value("y").partition(1)).unwrap().wait().unwrap();
        assert!(k(&p.metrics(), "connection-creation-total") > created, "the reconnection counts");
        p.close(Duration::from_secs(5)).unwrap();
        assert_eq!(k(&p.metrics(), "connection-count"), 0.0, "closed");
    });
}

#[test]
fn compression_rate_and_bytes_of_compressed_batches() {
    within(Duration::from_secs(20), || {
        let c = cluster(1, "t", 1);
        let p = Producer::new(config(&c).compression(Compression::Gzip).build().unwrap()).unwrap();
        let handles: Vec<_> = (0..50)
            .map(|_| p.send(Record::new("t").value(&"abcd".repeat(100)).timestamp(TS)).unwrap())
            .collect();
        for h in handles {
            h.wait().unwrap();
        }
        let m = p.metrics();
        let (records, uncompressed) = stored_batches(&c, "t");
        assert_eq!(records, 50);
        let sent = t(&m, "t", "byte-total");
        assert!(sent < uncompressed as f64 / 4.0, "{sent} of {uncompressed}");
        let rate = t(&m, "t", "compression-rate");
        assert!(rate > 0.0 && rate < 0.25, "{rate}");
        assert_eq!(k(&m, "compression-rate-avg"), rate, "one topic");
    });
}

#[test]
fn statistics_callback_runs_on_its_thread_and_stops_at_close() {
    within(Duration::from_secs(20), || {
        let c = cluster(1, "t", 1);
        // (The calling thread's name, record-send-total) per call.
        type Calls = Mutex<Vec<(Option<String>, f64)>>;
        let calls: Arc<Calls> = Arc::default();
        let seen = calls.clone();
        let config = config(&c).set("statistics.interval.ms", "50").statistics_callback(move |m| {
            let n = {
                let mut calls = seen.lock().unwrap();
                let name = thread::current().name().map(str::to_owned);
                calls.push((name, m.kafka_metric("record-send-total").unwrap_or(-1.0)));
                calls.len()
            };
            if n == 2 {
                panic!("a statistics callback that panics once");
            }
        });
        let p = Producer::new(config.build().unwrap()).unwrap();
        for _ in 0..5 {
            warm(&p, "t");
        }
        assert!(eventually(Duration::from_secs(5), || calls.lock().unwrap().len() >= 4), "called on and on");
        p.close(Duration::from_secs(5)).unwrap();
        let n = calls.lock().unwrap().len();
        thread::sleep(Duration::from_millis(200));
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), n, "no call after close");
        assert!(calls.iter().all(|(name, _)| name.as_deref() == Some("kafka-sync-statistics")), "{calls:?}");
        assert_eq!(calls.last().unwrap().1, 5.0, "a fresh snapshot each time");

        // Without a callback the thread only logs; close still stops it.
        let p = Producer::new(
            mock_support::config(&c).statistics_interval(Duration::from_millis(10)).build().unwrap(),
        )
        .unwrap();
        warm(&p, "t");
        thread::sleep(Duration::from_millis(50));
        let t0 = Instant::now();
        p.close(Duration::from_secs(5)).unwrap();
        assert!(t0.elapsed() < Duration::from_secs(2));
    });
}

#[test]
fn prometheus_text_is_well_formed() {
    within(Duration::from_secs(20), || {
        let c = cluster(2, "a", 2);
        let topic_b = "b.q-2";
        c.create_topic(topic_b, 1, 1).unwrap();
        let client = "kafka \"sync\" \\ test";
        let p = Producer::new(config(&c).client_id(client).build().unwrap()).unwrap();
        for i in 0..10 {
            p.send(Record::new("a").value(&format!("v{i}")).timestamp(TS)).unwrap();
        }
        p.send(Record::new(topic_b.to_owned()).value("v").timestamp(TS)).unwrap();
        p.flush().unwrap();
        let m = p.metrics();
        let text = m.to_prometheus();
        let families = parse_exposition(&text);

        // One family per (group, name), in order, each with one sample per
        // producer, topic or broker.
        assert_eq!(families.iter().map(|f| f.samples.len()).sum::<usize>(), m.kafka_metrics().len());
        let family =
            |name: &str| families.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("{name}"));
        let f = family("kafka_producer_producer_metrics_record_send_total");
        assert_eq!(f.kind, "counter");
        assert_eq!(f.help, "The total number of records sent.");
        assert_eq!(f.samples, [(vec![("client_id".to_owned(), client.to_owned())], 11.0)]);
        let f = family("kafka_producer_producer_topic_metrics_record_send_total");
        let a = f.samples.iter().find(|(l, _)| l.contains(&("topic".to_owned(), "a".to_owned()))).unwrap();
        assert_eq!(a.0[0], ("client_id".to_owned(), client.to_owned()), "client_id first");
        assert_eq!(a.1, 10.0);
        assert!(f
            .samples
            .iter()
            .any(|(l, v)| l.contains(&("topic".to_owned(), topic_b.to_owned())) && *v == 1.0));
        let f = family("kafka_producer_producer_node_metrics_request_latency_avg");
        assert_eq!(f.kind, "gauge");
        assert!(f.samples.iter().any(|(l, _)| l.contains(&("node_id".to_owned(), "node-1".to_owned()))));
        assert_eq!(family("kafka_producer_producer_topic_metrics_byte_rate").kind, "gauge");
        // Every family's value agrees with the snapshot.
        for km in m.kafka_metrics() {
            let name = format!("kafka_producer_{}_{}", km.group, km.name).replace('-', "_");
            let f = family(&name);
            let labels: Vec<(String, String)> =
                km.tags.iter().map(|(k, v)| (k.replace('-', "_"), v.clone())).collect();
            let (_, v) = f.samples.iter().find(|(l, _)| *l == labels).unwrap_or_else(|| panic!("{km}"));
            assert!(v == &km.value || (v.is_nan() && km.value.is_nan()), "{km}: {v}");
        }
        // Two producers in one text: families stay contiguous.
        let q = Producer::new(config(&c).client_id("other").build().unwrap()).unwrap();
        let both = kafka_sync::metrics::prometheus_text(&[m.clone(), q.metrics()]);
        let families = parse_exposition(&both);
        assert_eq!(
            family_of(&families, "kafka_producer_producer_metrics_record_send_total").samples.len(),
            2
        );
    });
}

fn family_of<'a>(families: &'a [Family], name: &str) -> &'a Family {
    families.iter().find(|f| f.name == name).unwrap()
}

#[derive(Debug)]
struct Family {
    name: String,
    help: String,
    kind: String,
    samples: Vec<(Vec<(String, String)>, f64)>,
}

/// A strict parser of the text exposition format as written here: each
/// family is `# HELP`, `# TYPE` (counter or gauge), then its samples, and
/// appears once; names and label names are valid; label values are quoted
/// with only `\\`, `\"` and `\n` escapes; values are floats, `NaN` or
/// `+Inf`/`-Inf`; no timestamps, no blank lines, a final newline.
fn parse_exposition(text: &str) -> Vec<Family> {
    assert!(text.ends_with('\n'), "ends with a newline");
    let mut families: Vec<Family> = Vec::new();
    let mut names = HashSet::new();
    for line in text.lines() {
        assert!(!line.is_empty(), "no blank lines");
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(valid_name(name, true), "{name}");
            assert!(names.insert(name.to_owned()), "family {name} declared twice");
            if let Some(last) = families.last() {
                assert!(!last.samples.is_empty(), "family {} has no samples", last.name);
            }
            families.push(Family {
                name: name.into(),
                help: unescape(help, false),
                kind: String::new(),
                samples: vec![],
            });
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let f = families.last_mut().expect("TYPE after HELP");
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert_eq!(name, f.name, "TYPE follows its HELP");
            assert!(f.kind.is_empty() && f.samples.is_empty(), "one TYPE, before the samples");
            assert!(kind == "counter" || kind == "gauge", "{kind}");
            f.kind = kind.into();
        } else {
            assert!(!line.starts_with('#'), "unexpected comment: {line}");
            let f = families.last_mut().expect("a sample after its HELP and TYPE");
            assert!(!f.kind.is_empty(), "TYPE before the samples");
            let (name, rest) = match line.find(['{', ' ']) {
                Some(i) => line.split_at(i),
                None => panic!("no value: {line}"),
            };
            assert_eq!(name, f.name, "sample of its family: {line}");
            let (labels, value) = parse_labels(rest);
            let value =
                value.strip_prefix(' ').unwrap_or_else(|| panic!("one space before the value: {line}"));
            let v = match value {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => {
                    assert!(v.chars().all(|c| c.is_ascii_digit() || ".eE+-".contains(c)), "value {v}");
                    v.parse().unwrap_or_else(|_| panic!("value {v}"))
                }
            };
            assert!(!f.samples.iter().any(|(l, _)| *l == labels), "duplicate sample: {line}");
            f.samples.push((labels, v));
        }
    }
    if let Some(last) = families.last() {
        assert!(!last.samples.is_empty());
    }
    families
}

fn valid_name(s: &str, colons: bool) -> bool {
    let ok = |c: char, first: bool| {
        c.is_ascii_alphabetic() || c == '_' || (colons && c == ':') || (!first && c.is_ascii_digit())
    };
    s.chars().next().is_some_and(|c| ok(c, true)) && s.chars().all(|c| ok(c, false))
}

/// `{name="value",...}` (or nothing) at the start of `s`; returns the
/// labels and what follows.
fn parse_labels(s: &str) -> (Vec<(String, String)>, &str) {
    let Some(mut rest) = s.strip_prefix('{') else { return (vec![], s) };
    let mut labels = Vec::new();
    loop {
        let (name, after) = rest.split_once("=\"").expect("label=\"value\"");
        assert!(valid_name(name, false), "label name {name}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("closing quote") {
                (_, '\\') => match chars.next().expect("escape").1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    c => panic!("bad escape \\{c}"),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.push((name.to_owned(), value));
        rest = &after[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else {
            let r = rest.strip_prefix('}').expect("} after the labels");
            return (labels, r);
        }
    }
}

fn unescape(s: &str, quotes: bool) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next().expect("escape") {
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                '"' if quotes => out.push('"'),
                c => panic!("bad escape \\{c}"),
            },
            c => out.push(c),
        }
    }
    out
}
