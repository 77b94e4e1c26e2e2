//! Client telemetry (KIP-714) against librdkafka's mock cluster, the broker
//! side nobody here wrote: it hands out a subscription for the metrics set
//! with `rd_kafka_mock_telemetry_set_requested_metrics` at the interval set
//! with `rd_kafka_mock_telemetry_set_push_interval`, and decodes every push
//! (decompressing it first): a payload it cannot decode aborts the process,
//! so a passing test means librdkafka read every push we made.
//!
//! `rdkafka` does not wrap those settings nor request tracking, so the test
//! calls them through `rdkafka-sys` on the mock cluster that a librdkafka
//! client creates for `test.mock.num.brokers` (that client itself pushes
//! nothing: `enable.metrics.push=false`).

use std::ffi::{c_char, CString};
use std::time::{Duration, Instant};

use kafka_sync::protocol::api_key::{GET_TELEMETRY_SUBSCRIPTIONS, PUSH_TELEMETRY};
use kafka_sync::{Producer, ProducerConfig, Record};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer as _};
use rdkafka_sys as rd;

/// The API keys of the requests the mock cluster tracked, in order.
///
/// # Safety
/// `mc` must be a live mock cluster with request tracking started.
unsafe fn tracked(mc: *mut rd::rd_kafka_mock_cluster_t) -> Vec<i16> {
    let mut n = 0usize;
    let reqs = rd::rd_kafka_mock_get_requests(mc, &mut n);
    if reqs.is_null() {
        return Vec::new();
    }
    let keys = (0..n).map(|i| rd::rd_kafka_mock_request_api_key(*reqs.add(i))).collect();
    rd::rd_kafka_mock_request_destroy_array(reqs, n);
    keys
}

fn count(keys: &[i16], api: i16) -> usize {
    keys.iter().filter(|k| **k == api).count()
}

#[test]
fn librdkafkas_mock_cluster_accepts_our_pushes() {
    let holder: BaseProducer = ClientConfig::new()
        .set("test.mock.num.brokers", "1")
        .set("enable.metrics.push", "false")
        .create()
        .expect("librdkafka client with a mock cluster");
    let mock = holder.client().mock_cluster().expect("the client's mock cluster");
    mock.create_topic("t", 1, 1).expect("create topic");
    let bootstrap = mock.bootstrap_servers();
    // SAFETY: the handle is live for the whole test (`holder` outlives every use).
    let mc = unsafe { rd::rd_kafka_handle_mock_cluster(holder.client().native_ptr()) };
    assert!(!mc.is_null());
    let prefixes = [CString::new("org.apache.kafka.producer.").unwrap()];
    let mut ptrs: Vec<*mut c_char> = prefixes.iter().map(|s| s.as_ptr().cast_mut()).collect();
    // SAFETY: `ptrs` holds valid NUL-terminated strings that live past the
    // call (librdkafka copies them); `mc` is live.
    unsafe {
        assert_eq!(
            rd::rd_kafka_mock_telemetry_set_requested_metrics(mc, ptrs.as_mut_ptr(), ptrs.len()),
            rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
        );
        assert_eq!(
            rd::rd_kafka_mock_telemetry_set_push_interval(mc, 300),
            rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
        );
        rd::rd_kafka_mock_start_request_tracking(mc);
    }

    let config = ProducerConfig::builder()
        .bootstrap_servers(bootstrap)
        .linger(Duration::from_millis(2))
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let p = Producer::new(config).unwrap();
    let handles: Vec<_> =
        (0..20).map(|i| p.send(Record::new("t").value(&format!("v{i}"))).unwrap()).collect();
    for h in handles {
        h.wait().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    // SAFETY (here and below): `mc` is live and tracking.
    while count(&unsafe { tracked(mc) }, PUSH_TELEMETRY) < 2 {
        assert!(Instant::now() < deadline, "no pushes: {:?}", unsafe { tracked(mc) });
        std::thread::sleep(Duration::from_millis(50));
    }
    p.close(Duration::from_secs(5)).unwrap();
    let keys = unsafe { tracked(mc) };
    // One subscription (every push was accepted: an error would have made
    // the producer subscribe again or stop), then the pushes, the last one
    // the terminating push of `close`.
    assert_eq!(count(&keys, GET_TELEMETRY_SUBSCRIPTIONS), 1, "{keys:?}");
    assert!(count(&keys, PUSH_TELEMETRY) >= 3, "{keys:?}");
    assert_eq!(
        keys.iter().rev().find(|k| [GET_TELEMETRY_SUBSCRIPTIONS, PUSH_TELEMETRY].contains(k)),
        Some(&PUSH_TELEMETRY)
    );
    drop(mock);
    drop(holder);
}
