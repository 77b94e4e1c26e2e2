//! Chaos against a real broker: 200,000 keyed records through a
//! fault-injecting proxy to tansu, which cuts connections at random moments
//! (before a request is forwarded, after it was forwarded but before the
//! response, in the middle of a response), delays some responses and stalls
//! others past request.timeout.ms. With idempotence every anomaly count must
//! be zero; without it, nothing acknowledged may be lost. Bounded in time and
//! faults; the seed is printed, and `KAFKA_SYNC_CHAOS_SEED` replays one.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_sync::{Producer, ProducerConfig};
use support::drive::{after, collect, reads, send};
use support::history::History;
use support::proxy::{ChaosProxy, FaultPlan};
use support::{read_to_end, require_broker, Tansu};

const RECORDS: u64 = 200_000;
const THREADS: u64 = 4;
const PARTITIONS: i32 = 3;

fn seed() -> u64 {
    std::env::var("KAFKA_SYNC_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    })
}

/// Batching for a run: Java's 16 KiB batches (many requests, so the proxy's
/// faults hit often at its base rates), or the defaults (batches that grow
/// to 1 MB: a few hundred requests, so the faults come more often).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Batching {
    Small,
    Defaults,
}

fn run(idempotent: bool, batching: Batching) {
    support::init_log();
    let seed = seed();
    eprintln!(
        "chaos (idempotence {idempotent}, {batching:?} batches): seed {seed} (replay with KAFKA_SYNC_CHAOS_SEED={seed})"
    );
    let name = format!("chaos_idempotence_{idempotent}_{batching:?}");
    let listener = ChaosProxy::bind().unwrap();
    let port = listener.local_addr().unwrap().port();
    let Some(tansu) = require_broker(&name, Tansu::start_advertising(port)) else { return };
    let upstream = format!("127.0.0.1:{}", tansu.port()).parse().unwrap();
    // The broker advertises the proxy: start it (clean) before anything
    // talks to the broker, then turn the faults on.
    let proxy = ChaosProxy::start_on(listener, upstream, FaultPlan::clean(seed)).unwrap();
    let topic = format!("chaos-{idempotent}-{batching:?}").to_lowercase();
    tansu.create_topic(&topic, PARTITIONS).unwrap();
    // Fewer, larger requests at the defaults: higher odds per request.
    let odds = if batching == Batching::Defaults { 4.0 } else { 1.0 };
    let plan = FaultPlan {
        seed,
        cut_before_forward: 0.02 * odds,
        cut_before_response: 0.02 * odds,
        cut_mid_response: 0.02 * odds,
        delay: 0.05 * odds,
        delay_max: Duration::from_millis(50),
        stall: 0.01 * odds,
        stall_for: Duration::from_millis(1200),
        partial_then_stall: 0.0,
        max_faults: 40,
        only_api: None,
    };
    proxy.set_plan(plan);
    let bootstrap = format!("127.0.0.1:{port}");
    let mut config = ProducerConfig::builder();
    if batching == Batching::Small {
        config = config.batch_size(16_384);
    }
    let p = Arc::new(
        Producer::new(
            config
                .bootstrap_servers(&bootstrap)
                .enable_idempotence(idempotent)
                .linger(Duration::from_millis(5))
                .request_timeout(Duration::from_millis(1000))
                .delivery_timeout(Duration::from_secs(60))
                .retry_backoff(Duration::from_millis(20))
                .retry_backoff_max(Duration::from_millis(200))
                .reconnect_backoff(Duration::from_millis(20))
                .reconnect_backoff_max(Duration::from_millis(200))
                .build()
                .unwrap(),
        )
        .unwrap(),
    );
    let t0 = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let p = p.clone();
            let topic = topic.clone();
            std::thread::spawn(move || {
                let mut h = History::new();
                let per = RECORDS / THREADS;
                let mut pending = Vec::new();
                for i in 0..per {
                    let id = t * per + i;
                    pending.push(send(&p, &topic, id, t as u32, i, Some(format!("key-{}", id % 97)), None));
                    if pending.len() >= 20_000 {
                        collect(&mut h, std::mem::take(&mut pending), after(Duration::from_secs(90)));
                    }
                }
                collect(&mut h, pending, after(Duration::from_secs(90)));
                h
            })
        })
        .collect();
    let mut h = History::new();
    for w in workers {
        h.sent.extend(w.join().unwrap().sent);
    }
    let produce_time = t0.elapsed();
    proxy.set_plan(FaultPlan::clean(0));
    let consumed = read_to_end(&bootstrap, &topic, Duration::from_secs(120))
        .unwrap_or_else(|(e, got)| panic!("seed {seed}: read back failed after {}: {e}", got.len()));
    let r = h.check(&reads(&consumed));
    let m = p.metrics();
    eprintln!(
        "chaos (idempotence {idempotent}): {produce_time:?}; {r}; proxy: {}; producer: retries {}, producer ids {}",
        proxy.counts().summary(),
        m.retries,
        m.producer_ids
    );
    assert!(
        proxy.counts().faults() >= 10,
        "seed {seed}: too few faults injected: {}",
        proxy.counts().summary()
    );
    assert_eq!(r.sent, RECORDS as usize);
    assert!(r.unresolved.is_empty(), "seed {seed}: {r}");
    assert!(r.lost.is_empty(), "seed {seed}: {r}");
    if idempotent {
        assert_eq!(r.anomalies(), 0, "seed {seed}: {r}");
    }
    Arc::try_unwrap(p).ok().unwrap().close(Duration::from_secs(10)).unwrap();
}

#[test]
fn chaos_with_idempotence() {
    run(true, Batching::Small);
}

#[test]
fn chaos_without_idempotence() {
    run(false, Batching::Small);
}

/// The same at the producer's default batching (batches up to 1 MB).
#[test]
fn chaos_with_idempotence_at_the_default_batching() {
    run(true, Batching::Defaults);
}
