//! Unit tests of `mock`.

use super::*;

#[test]
fn cluster_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<MockCluster>();
}

#[test]
fn start_rejects_bad_sizes() {
    assert_eq!(MockCluster::start(0).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    assert_eq!(MockCluster::start(MAX_BROKERS + 1).unwrap_err().kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn unknown_brokers_are_errors() {
    let c = MockCluster::start(1).unwrap();
    assert!(matches!(c.broker_down(5), Err(MockError::UnknownBroker(5))));
    assert!(matches!(c.set_response_delay(0, Duration::ZERO), Err(MockError::UnknownBroker(0))));
    c.create_topic("t", 1, 1).unwrap();
    assert!(matches!(c.move_leader("t", 0, 2), Err(MockError::UnknownBroker(2))));
    assert_eq!(c.move_leader("t", 3, 1).unwrap_err().code(), Some(KafkaCode::UNKNOWN_TOPIC_OR_PARTITION));
    assert!(c.broker_address(1).is_some() && c.broker_address(2).is_none());
}

#[test]
fn shutdown_is_idempotent_and_refuses_connections() {
    let c = MockCluster::start(2).unwrap();
    c.create_topic("t", 1, 1).unwrap();
    let addr = c.broker_address(2).unwrap();
    let _conn = std::net::TcpStream::connect(addr).unwrap();
    c.shutdown();
    c.shutdown();
    assert!(std::net::TcpStream::connect(addr).is_err());
    assert!(!c.is_broker_up(1));
    assert!(matches!(c.broker_up(1), Err(MockError::Io(_))));
    assert!(!c.is_broker_up(1));
    assert_eq!(c.topics(), ["t"]);
}
