//! Unit tests of `state`.

use super::test_support::cluster;
use super::*;

#[test]
fn software_fields() {
    assert!(valid_software_field("kafka-sync"));
    assert!(valid_software_field("0.1.0"));
    assert!(valid_software_field("a"));
    for bad in ["", "-a", "a-", "a b", "a_b"] {
        assert!(!valid_software_field(bad), "{bad:?}");
    }
}

#[test]
fn init_producer_id_kafka_and_bump_modes() {
    let mut c = cluster(1);
    let req = InitProducerIdRequest::default();
    let a = c.init_producer_id(1, 4, &req, None);
    let b = c.init_producer_id(1, 4, &req, None);
    assert_eq!(
        (a.producer_id, a.producer_epoch, b.producer_id),
        (FIRST_PRODUCER_ID, 0, FIRST_PRODUCER_ID + 1)
    );
    let again = InitProducerIdRequest { producer_id: a.producer_id, producer_epoch: 0, ..Default::default() };
    // Kafka: an idempotent producer gets a new id whatever it sends.
    assert_eq!(c.init_producer_id(1, 4, &again, None).producer_id, FIRST_PRODUCER_ID + 2);
    c.settings.bump_epoch_on_init = true;
    let r = c.init_producer_id(1, 4, &again, None);
    assert_eq!((r.producer_id, r.producer_epoch), (a.producer_id, 1));
    let stale = InitProducerIdRequest { producer_id: a.producer_id, producer_epoch: 5, ..Default::default() };
    assert_eq!(c.init_producer_id(1, 4, &stale, None).error_code, KafkaCode::PRODUCER_FENCED.0);
    assert_eq!(c.init_producer_id(1, 3, &stale, None).error_code, KafkaCode::INVALID_PRODUCER_EPOCH.0);
    let half = InitProducerIdRequest { producer_id: 5, producer_epoch: -1, ..Default::default() };
    assert_eq!(c.init_producer_id(1, 4, &half, None).error_code, KafkaCode::INVALID_REQUEST.0);
    let txn = InitProducerIdRequest { transactional_id: Some("tx".into()), ..Default::default() };
    let t1 = c.init_producer_id(1, 4, &txn, None);
    let t2 = c.init_producer_id(1, 4, &txn, None);
    assert_eq!((t2.producer_id, t2.producer_epoch), (t1.producer_id, 1));
    assert_eq!(c.init_producer_id(1, 4, &req, Some(KafkaCode::COORDINATOR_LOAD_IN_PROGRESS)).producer_id, -1);
}

#[test]
fn plan_takes_injections_in_order() {
    let mut c = cluster(1);
    c.inject(
        api_key::INIT_PRODUCER_ID,
        [Injection::Error(KafkaCode::NOT_COORDINATOR), Injection::Drop(DropPoint::BeforeProcessing)],
    );
    let h = RequestHeader {
        api_key: api_key::INIT_PRODUCER_ID,
        api_version: 4,
        correlation_id: 1,
        client_id: None,
    };
    let inc = Incoming::Request(h, RequestBody::InitProducerId(InitProducerIdRequest::default()));
    let p = c.plan(1, &inc, None);
    match p.reply.unwrap().body {
        ResponseBody::InitProducerId(r) => assert_eq!(r.error_code, KafkaCode::NOT_COORDINATOR.0),
        other => panic!("{other:?}"),
    }
    let p = c.plan(1, &inc, None);
    assert!(p.reply.is_none() && p.then == Then::Close);
    assert!(c.plan(1, &inc, None).reply.is_some());
    assert_eq!(c.request_count(api_key::INIT_PRODUCER_ID), 3);
    assert_eq!(c.next_producer_id, FIRST_PRODUCER_ID + 1, "only the third request got an id");
}

#[test]
fn without_sasl_its_apis_are_neither_advertised_nor_served() {
    let mut c = cluster(1);
    let listed: Vec<i16> = c.advertised_list().iter().map(|k| k.api_key).collect();
    assert!(!listed.contains(&api_key::SASL_HANDSHAKE) && !listed.contains(&api_key::SASL_AUTHENTICATE));
    assert_eq!(listed.len(), API_KEYS.len() - SASL_APIS.len() - TELEMETRY_APIS.len());
    for api in TELEMETRY_APIS {
        assert!(!listed.contains(&api));
        assert_eq!(c.set_advertised(api, VersionRange::new(0, 0)).unwrap_err().0, KafkaCode::INVALID_REQUEST);
    }
    for api in SASL_APIS {
        let e = c.set_advertised(api, VersionRange::new(0, 1)).unwrap_err();
        assert_eq!(e.0, KafkaCode::INVALID_REQUEST);
    }
    let h = RequestHeader {
        api_key: api_key::SASL_HANDSHAKE,
        api_version: 1,
        correlation_id: 1,
        client_id: None,
    };
    let inc = Incoming::Request(h, RequestBody::SaslHandshake(Default::default()));
    let p = c.plan(1, &inc, None);
    assert!(p.reply.is_none() && p.then == Then::Close);
}

#[test]
fn with_sasl_its_apis_are_advertised_and_narrowable() {
    let mut c =
        ClusterState::new(vec![BrokerInfo { id: 1, port: 9092, response_delay: Duration::ZERO }], true);
    let range = |c: &ClusterState, k| c.advertised.get(&k).copied();
    assert_eq!(range(&c, api_key::SASL_HANDSHAKE), Some(VersionRange::new(0, 1)));
    assert_eq!(range(&c, api_key::SASL_AUTHENTICATE), Some(VersionRange::new(0, 2)));
    c.set_advertised(api_key::SASL_AUTHENTICATE, VersionRange::new(0, 0)).unwrap();
    assert_eq!(range(&c, api_key::SASL_AUTHENTICATE), Some(VersionRange::new(0, 0)));
    assert!(c.set_advertised(api_key::SASL_HANDSHAKE, VersionRange::new(0, 2)).is_err());
}

#[test]
fn telemetry_apis_are_advertised_only_with_a_subscription() {
    let mut c = cluster(1);
    let has = |c: &ClusterState, k| c.advertised.contains_key(&k);
    c.set_telemetry(Some(MockTelemetry::default()));
    for api in TELEMETRY_APIS {
        assert!(has(&c, api));
        c.set_advertised(api, VersionRange::new(0, 0)).unwrap();
    }
    let h = RequestHeader {
        api_key: api_key::GET_TELEMETRY_SUBSCRIPTIONS,
        api_version: 0,
        correlation_id: 1,
        client_id: None,
    };
    let inc = Incoming::Request(h, RequestBody::GetTelemetrySubscriptions(Default::default()));
    match c.plan(1, &inc, None).reply.map(|r| r.body) {
        Some(ResponseBody::GetTelemetrySubscriptions(r)) => {
            assert_eq!(r.error_code, 0);
            assert_ne!(r.client_instance_id, [0; 16]);
            assert_eq!(r.requested_metrics, [""]);
        }
        other => panic!("{other:?}"),
    }
    c.set_telemetry(None);
    for api in TELEMETRY_APIS {
        assert!(!has(&c, api));
    }
    assert!(c.plan(1, &inc, None).reply.is_none(), "not served once turned off");
}
