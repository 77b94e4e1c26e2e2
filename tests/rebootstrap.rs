//! Rebootstrap (issue 13 item 3, KIP-899 / KIP-1102) against the crate's mock
//! cluster: every broker comes back on a new address; `bootstrap.servers` is
//! a stable name for the cluster (here a forwarding proxy, as a DNS name or a
//! load balancer would be) that now leads to the new addresses.
#![cfg(feature = "mock")]

#[path = "support/mock.rs"]
mod mock_support;
#[path = "support/proxy.rs"]
mod proxy;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_sync::mock::MockCluster;
use kafka_sync::{DeliveryHandle, Producer, ProducerConfig, Record};
use mock_support::{config, stored};
use proxy::{ChaosProxy, FaultPlan};

fn send(p: &Producer, from: usize, n: usize) -> Vec<DeliveryHandle> {
    (from..from + n).map(|i| p.send(Record::new("rb").value(&format!("r{i}"))).expect("send")).collect()
}

fn setup(rebootstrap: bool) -> (MockCluster, ChaosProxy, Producer) {
    let c = MockCluster::start(2).unwrap();
    c.create_topic("rb", 2, 1).unwrap();
    let bootstrap = ChaosProxy::start(c.broker_address(1).unwrap(), FaultPlan::clean(7)).unwrap();
    let cfg: ProducerConfig = config(&c)
        .bootstrap_servers(bootstrap.addr().to_string())
        .metadata_recovery_rebootstrap(rebootstrap)
        .request_timeout(Duration::from_secs(1))
        .delivery_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let p = Producer::new(cfg).unwrap();
    for h in send(&p, 0, 20) {
        h.wait().unwrap();
    }
    (c, bootstrap, p)
}

#[test]
fn every_broker_on_a_new_address_then_recovers_through_bootstrap() {
    let (c, bootstrap, p) = setup(true);
    let moved = [c.move_broker(1).unwrap(), c.move_broker(2).unwrap()];
    bootstrap.set_upstream(moved[0]);
    let started = Instant::now();
    for h in send(&p, 20, 20) {
        h.wait().unwrap_or_else(|e| panic!("after the move: {e}"));
    }
    eprintln!("recovered in {:?}", started.elapsed());
    p.close(Duration::from_secs(10)).unwrap();
    let values: Vec<String> =
        stored(&c, "rb").into_iter().map(|(_, r)| String::from_utf8(r.value.unwrap()).unwrap()).collect();
    let unique: BTreeSet<&String> = values.iter().collect();
    assert_eq!(values.len(), 40, "nothing lost or duplicated: {values:?}");
    assert_eq!(unique.len(), 40);
}

#[test]
fn without_rebootstrap_the_producer_only_asks_the_brokers_it_knew() {
    let (c, bootstrap, p) = setup(false);
    let moved = [c.move_broker(1).unwrap(), c.move_broker(2).unwrap()];
    bootstrap.set_upstream(moved[0]);
    // The brokers it knew are gone and it does not go back to bootstrap:
    // the records time out (a request written as the broker moved may count
    // as possibly persisted), and nothing new reaches the log.
    for h in send(&p, 20, 5) {
        h.wait().unwrap_err();
    }
    assert_eq!(stored(&c, "rb").len(), 20);
    assert_eq!(
        bootstrap.counts().connections.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "only the first metadata came through bootstrap"
    );
}

/// The known broker still accepts connections but answers nothing: the
/// metadata thread moves on through its candidates to `bootstrap.servers`,
/// which now leads to another cluster (here within a few request timeouts,
/// before `metadata.recovery.rebootstrap.trigger.ms` would force it).
#[test]
fn silent_known_brokers_lead_back_to_bootstrap() {
    let old = MockCluster::start(1).unwrap();
    old.create_topic("rb", 1, 1).unwrap();
    let new = MockCluster::start(1).unwrap();
    new.create_topic("rb", 1, 1).unwrap();
    let bootstrap = ChaosProxy::start(old.broker_address(1).unwrap(), FaultPlan::clean(9)).unwrap();
    let cfg = config(&old)
        .bootstrap_servers(bootstrap.addr().to_string())
        .enable_idempotence(false)
        .request_timeout(Duration::from_millis(500))
        .delivery_timeout(Duration::from_secs(10))
        .metadata_recovery_rebootstrap_trigger(Duration::from_secs(5))
        .build()
        .unwrap();
    let p = Producer::new(cfg).unwrap();
    p.send(Record::new("rb").value("first")).unwrap().wait().unwrap();
    // The old cluster goes silent (connections accepted, nothing answered);
    // the bootstrap name now leads to the new one.
    old.set_response_delay(1, Duration::from_secs(600)).unwrap();
    bootstrap.set_upstream(new.broker_address(1).unwrap());
    let started = Instant::now();
    let m = p.send(Record::new("rb").value("second")).unwrap().wait().unwrap();
    let took = started.elapsed();
    eprintln!("delivered to the new cluster after {took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert_eq!(m.offset(), Some(0));
    assert_eq!(stored(&new, "rb").len(), 1);
    drop(p);
}

/// KIP-1102: a Metadata v13 answer with the top-level error
/// `REBOOTSTRAP_REQUIRED` sends the producer back to `bootstrap.servers`.
#[test]
fn rebootstrap_required_goes_back_to_bootstrap() {
    use kafka_sync::protocol::api_key::METADATA;
    let c = MockCluster::start(1).unwrap();
    c.create_topic("rb", 1, 1).unwrap();
    c.create_topic("rb2", 1, 1).unwrap();
    let bootstrap = ChaosProxy::start(c.broker_address(1).unwrap(), FaultPlan::clean(3)).unwrap();
    let p =
        Producer::new(config(&c).bootstrap_servers(bootstrap.addr().to_string()).build().unwrap()).unwrap();
    p.send(Record::new("rb").value("first")).unwrap().wait().unwrap();
    let connections = || bootstrap.counts().connections.load(std::sync::atomic::Ordering::Relaxed);
    let before = connections();
    c.push_request_errors(METADATA, &[kafka_sync::KafkaCode::REBOOTSTRAP_REQUIRED]);
    // A new topic needs metadata: the first answer says rebootstrap.
    p.send(Record::new("rb2").value("second")).unwrap().wait().unwrap();
    assert!(connections() > before, "no new connection through bootstrap ({before} -> {})", connections());
    assert!(
        c.requests().iter().filter(|r| r.api_key == METADATA).all(|r| r.api_version == 13),
        "Metadata v13 is negotiated with the mock"
    );
}
