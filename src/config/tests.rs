use super::properties::INT_MAX;
use super::*;
use crate::partitioner::Partitions;

fn base() -> ProducerConfigBuilder {
    ProducerConfig::builder().bootstrap_servers("localhost:9092")
}

fn build(props: &[(&str, &str)]) -> Result<ProducerConfig, ConfigError> {
    base().set_all(props.iter().copied()).build()
}

fn err(props: &[(&str, &str)]) -> ConfigError {
    build(props).expect_err("should be rejected")
}

#[test]
fn defaults_match_java_4_0() {
    let c = base().build().unwrap();
    assert_eq!(c.bootstrap_servers(), &[("localhost".to_owned(), 9092)]);
    assert_eq!(c.client_id(), "kafka-sync");
    assert_eq!(c.acks(), Acks::All);
    assert!(c.enable_idempotence());
    assert_eq!(c.linger(), Duration::from_millis(5));
    assert_eq!(c.batch_size(), 16_384);
    assert_eq!(c.buffer_memory(), 33_554_432);
    assert_eq!(c.max_block(), Duration::from_millis(60_000));
    assert_eq!(c.max_in_flight(), 5);
    assert_eq!(c.retries(), 2_147_483_647);
    assert_eq!(c.retry_backoff(), Duration::from_millis(100));
    assert_eq!(c.retry_backoff_max(), Duration::from_millis(1_000));
    assert_eq!(c.delivery_timeout(), Duration::from_millis(120_000));
    assert_eq!(c.request_timeout(), Duration::from_millis(30_000));
    assert_eq!(c.compression(), Compression::None);
    assert_eq!(c.compression_level(), None);
    assert_eq!(c.max_request_size(), 1_048_576);
    assert_eq!(c.metadata_max_age(), Duration::from_millis(300_000));
    assert_eq!(c.reconnect_backoff(), Duration::from_millis(50));
    assert_eq!(c.reconnect_backoff_max(), Duration::from_millis(1_000));
    assert_eq!(c.socket_connection_setup_timeout(), Duration::from_millis(10_000));
    assert_eq!(c.socket_connection_setup_timeout_max(), Duration::from_millis(30_000));
    assert!(format!("{:?}", c.partitioner()).contains("DefaultPartitioner"));
}

#[test]
fn every_key_parses() {
    let c = ProducerConfig::from_properties([
        ("bootstrap.servers", "a:1, b:2"),
        ("client.id", "app"),
        ("acks", "1"),
        ("enable.idempotence", "false"),
        ("linger.ms", "7"),
        ("batch.size", "1000"),
        ("buffer.memory", "2000"),
        ("max.block.ms", "3"),
        ("max.in.flight.requests.per.connection", "9"),
        ("retries", "4"),
        ("retry.backoff.ms", "11"),
        ("retry.backoff.max.ms", "12"),
        ("delivery.timeout.ms", "200000"),
        ("request.timeout.ms", "40000"),
        ("compression.type", "gzip"),
        ("compression.level", "6"),
        ("max.request.size", "5000"),
        ("partitioner", "round_robin"),
        ("metadata.max.age.ms", "13"),
        ("reconnect.backoff.ms", "14"),
        ("reconnect.backoff.max.ms", "15"),
        ("socket.connection.setup.timeout.ms", "16"),
        ("socket.connection.setup.timeout.max.ms", "17"),
        ("security.protocol", "plaintext"),
        ("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer"),
        ("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer"),
    ])
    .unwrap();
    assert_eq!(c.bootstrap_servers(), &[("a".to_owned(), 1), ("b".to_owned(), 2)]);
    assert_eq!(c.client_id(), "app");
    assert_eq!(c.acks(), Acks::Leader);
    assert!(!c.enable_idempotence());
    assert_eq!(c.linger(), Duration::from_millis(7));
    assert_eq!(c.batch_size(), 1000);
    assert_eq!(c.buffer_memory(), 2000);
    assert_eq!(c.max_block(), Duration::from_millis(3));
    assert_eq!(c.max_in_flight(), 9);
    assert_eq!(c.retries(), 4);
    assert_eq!(c.retry_backoff(), Duration::from_millis(11));
    assert_eq!(c.retry_backoff_max(), Duration::from_millis(12));
    assert_eq!(c.delivery_timeout(), Duration::from_millis(200_000));
    assert_eq!(c.request_timeout(), Duration::from_millis(40_000));
    assert_eq!(c.compression(), Compression::Gzip);
    assert_eq!(c.compression_level(), Some(6));
    assert_eq!(c.max_request_size(), 5000);
    assert!(format!("{:?}", c.partitioner()).contains("RoundRobin"));
    assert_eq!(c.metadata_max_age(), Duration::from_millis(13));
    assert_eq!(c.reconnect_backoff(), Duration::from_millis(14));
    assert_eq!(c.reconnect_backoff_max(), Duration::from_millis(15));
    assert_eq!(c.socket_connection_setup_timeout(), Duration::from_millis(16));
    assert_eq!(c.socket_connection_setup_timeout_max(), Duration::from_millis(17));
}

#[test]
fn typed_setters() {
    let c = base()
        .client_id("typed")
        .acks(Acks::None)
        .enable_idempotence(false)
        .linger(Duration::from_micros(500))
        .batch_size(100)
        .buffer_memory(100)
        .max_block(Duration::from_secs(1))
        .max_in_flight(1)
        .retries(0)
        .retry_backoff(Duration::from_millis(1))
        .retry_backoff_max(Duration::from_millis(2))
        .delivery_timeout(Duration::from_secs(60))
        .request_timeout(Duration::from_secs(10))
        .compression(Compression::Snappy)
        .compression_level(0)
        .max_request_size(100)
        .partitioner(Arc::new(crate::partitioner::Murmur2Partitioner::new()))
        .metadata_max_age(Duration::from_secs(2))
        .reconnect_backoff(Duration::from_millis(3))
        .reconnect_backoff_max(Duration::from_millis(4))
        .socket_connection_setup_timeout(Duration::from_millis(5))
        .socket_connection_setup_timeout_max(Duration::from_millis(6))
        .build()
        .unwrap();
    assert_eq!(c.client_id(), "typed");
    assert_eq!(c.acks(), Acks::None);
    assert_eq!(c.linger(), Duration::from_micros(500));
    assert_eq!(c.retries(), 0);
    assert_eq!(c.compression(), Compression::Snappy);
    assert_eq!(c.compression_level(), None);
    assert!(format!("{:?}", c.partitioner()).contains("Murmur2Partitioner"));
    assert_eq!(c.socket_connection_setup_timeout_max(), Duration::from_millis(6));
}

#[test]
fn librdkafka_aliases() {
    let c = ProducerConfig::from_properties([
        ("metadata.broker.list", "broker:9093"),
        ("request.required.acks", "all"),
        ("queue.buffering.max.ms", "0.5"),
        ("queue.buffering.max.kbytes", "1024"),
        ("max.in.flight", "3"),
        ("message.send.max.retries", "10"),
        ("message.timeout.ms", "60000"),
        ("compression.codec", "snappy"),
        ("message.max.bytes", "2000000"),
    ])
    .unwrap();
    assert_eq!(c.bootstrap_servers(), &[("broker".to_owned(), 9093)]);
    assert_eq!(c.acks(), Acks::All);
    assert_eq!(c.linger(), Duration::from_micros(500));
    assert_eq!(c.buffer_memory(), 1024 * 1024);
    assert_eq!(c.max_in_flight(), 3);
    assert_eq!(c.retries(), 10);
    assert_eq!(c.delivery_timeout(), Duration::from_millis(60_000));
    assert_eq!(c.compression(), Compression::Snappy);
    assert_eq!(c.max_request_size(), 2_000_000);
    assert!(c.enable_idempotence());
}

#[test]
fn last_setting_wins_across_aliases_and_setters() {
    let c = base().set("linger.ms", "1").set("queue.buffering.max.ms", "2").build().unwrap();
    assert_eq!(c.linger(), Duration::from_millis(2));
    let c = base().set("linger.ms", "1").linger(Duration::from_millis(3)).build().unwrap();
    assert_eq!(c.linger(), Duration::from_millis(3));
    let c = base().linger(Duration::from_millis(3)).set("linger.ms", "4").build().unwrap();
    assert_eq!(c.linger(), Duration::from_millis(4));
}

#[test]
fn acks_values() {
    for (v, want) in
        [("0", Acks::None), ("1", Acks::Leader), ("all", Acks::All), ("ALL", Acks::All), ("-1", Acks::All)]
    {
        assert_eq!(Acks::from_name(v), Some(want));
    }
    assert_eq!(Acks::None.as_i16(), 0);
    assert_eq!(Acks::Leader.as_i16(), 1);
    assert_eq!(Acks::All.as_i16(), -1);
    assert_eq!(Acks::All.to_string(), "all");
    assert_eq!(err(&[("acks", "2")]).key(), "acks");
    assert_eq!(err(&[("request.required.acks", "many")]).key(), "request.required.acks");
}

#[test]
fn unknown_and_unsupported_keys() {
    let e = err(&[("linger", "5")]);
    assert_eq!(e, ConfigError::UnknownKey { key: "linger".into() });
    assert_eq!(e.to_string(), "`linger` is not a producer property");
    let e = err(&[("partitioner.class", "x")]);
    assert!(matches!(e, ConfigError::Unsupported { .. }));
    assert_eq!(e.key(), "partitioner.class");
    assert!(matches!(err(&[("ssl.engine.id", "x")]), ConfigError::Unsupported { .. }));
    assert!(matches!(err(&[("sasl.mechanism", "GSSAPI")]), ConfigError::Unsupported { .. }));
    let e = err(&[("security.protocol", "TLS")]);
    assert!(matches!(e, ConfigError::InvalidValue { .. }));
    assert_eq!(e.key(), "security.protocol");
    // Keys are case-sensitive, like Kafka's.
    assert_eq!(err(&[("Linger.ms", "5")]).key(), "Linger.ms");
    // The first error wins; later good settings do not hide it.
    let e = base().set("nope", "1").set("also.nope", "2").build().unwrap_err();
    assert_eq!(e.key(), "nope");
}

#[test]
fn try_set_reports_at_once() {
    let mut b = base();
    assert_eq!(b.try_set("linger.ms", "x").unwrap_err().key(), "linger.ms");
    b.try_set("linger.ms", "9").unwrap().try_set("acks", "1").unwrap();
    let c = b.build().unwrap();
    assert_eq!(c.linger(), Duration::from_millis(9));
    assert_eq!(c.acks(), Acks::Leader);
}

#[test]
fn unparsable_values_name_the_key() {
    for (key, value) in [
        ("enable.idempotence", "yes"),
        ("linger.ms", "soon"),
        ("batch.size", "16k"),
        ("buffer.memory", "1.5"),
        ("max.block.ms", ""),
        ("max.in.flight.requests.per.connection", "five"),
        ("retries", "x"),
        ("retry.backoff.ms", "1s"),
        ("retry.backoff.max.ms", "1s"),
        ("delivery.timeout.ms", "2m"),
        ("request.timeout.ms", "30s"),
        ("compression.type", "brotli"),
        ("compression.level", "max"),
        ("compression.gzip.level", "max"),
        ("compression.lz4.level", "max"),
        ("compression.zstd.level", "max"),
        ("max.request.size", "1MB"),
        ("partitioner", "consistent_random"),
        ("metadata.max.age.ms", "x"),
        ("reconnect.backoff.ms", "x"),
        ("reconnect.backoff.max.ms", "x"),
        ("socket.connection.setup.timeout.ms", "x"),
        ("socket.connection.setup.timeout.max.ms", "x"),
        ("queue.buffering.max.kbytes", "x"),
    ] {
        let e = err(&[(key, value)]);
        assert!(matches!(e, ConfigError::InvalidValue { .. }), "{key}={value}: {e:?}");
        assert_eq!(e.key(), key);
        assert!(e.to_string().contains(key), "{e}");
    }
}

#[test]
fn negative_and_out_of_range_values_name_the_key() {
    for (key, value) in [
        ("linger.ms", "-1"),
        ("batch.size", "-1"),
        ("batch.size", "0"),
        ("batch.size", "2147483648"),
        ("buffer.memory", "-5"),
        ("max.block.ms", "-1"),
        ("max.in.flight.requests.per.connection", "0"),
        ("retries", "-1"),
        ("retries", "2147483648"),
        ("request.timeout.ms", "0"),
        ("request.timeout.ms", "2147483648"),
        ("delivery.timeout.ms", "2147483648"),
        ("max.request.size", "0"),
        ("socket.connection.setup.timeout.ms", "0"),
        ("socket.connection.setup.timeout.max.ms", "0"),
        ("compression.level", "99999999999"),
        ("message.max.bytes", "0"),
    ] {
        let e = err(&[(key, value)]);
        assert!(matches!(e, ConfigError::OutOfRange { .. }), "{key}={value}: {e:?}");
        assert_eq!(e.key(), key, "{e}");
    }
    let e = base().batch_size(0).build().unwrap_err();
    assert_eq!(e.key(), "batch.size");
    assert_eq!(e.to_string(), "`batch.size` = 0 is out of range: 1 to 2147483647");
    assert_eq!(base().request_timeout(Duration::ZERO).build().unwrap_err().key(), "request.timeout.ms");
    assert_eq!(base().retries(u32::MAX).build().unwrap_err().key(), "retries");
    assert_eq!(base().max_in_flight(0).build().unwrap_err().key(), "max.in.flight.requests.per.connection");
}

#[test]
fn buffer_memory_must_hold_a_batch() {
    let e = err(&[("batch.size", "1000"), ("buffer.memory", "999")]);
    assert_eq!(e.key(), "buffer.memory");
    assert!(e.to_string().contains("batch.size"), "{e}");
    let e = err(&[("batch.size", "2000"), ("queue.buffering.max.kbytes", "1")]);
    assert_eq!(e.key(), "queue.buffering.max.kbytes");
    build(&[("batch.size", "1000"), ("buffer.memory", "1000")]).unwrap();
}

#[test]
fn bootstrap_servers_forms() {
    let c = build(&[(
        "bootstrap.servers",
        " a.example.com:9092 ,[::1]:9093,PLAINTEXT://b_1:1,,127.0.0.1:65535,a.example.com:9092,[fe80::1%eth0]:7",
    )])
    .unwrap();
    let want: Vec<(String, u16)> =
        [("a.example.com", 9092), ("::1", 9093), ("b_1", 1), ("127.0.0.1", 65535), ("fe80::1%eth0", 7)]
            .iter()
            .map(|&(h, p)| (h.to_owned(), p))
            .collect();
    assert_eq!(c.bootstrap_servers(), want.as_slice());
}

#[test]
fn bootstrap_servers_errors() {
    let e = ProducerConfig::builder().build().unwrap_err();
    assert_eq!(e, ConfigError::Missing { key: "bootstrap.servers" });
    assert_eq!(e.to_string(), "`bootstrap.servers` is required");
    assert_eq!(
        ProducerConfig::builder().bootstrap_servers(" , ").build().unwrap_err().key(),
        "bootstrap.servers"
    );
    for bad in [
        "localhost",
        "localhost:",
        "localhost:0",
        "localhost:65536",
        "localhost:port",
        ":9092",
        "::1:9092",
        "[::1]",
        "[::1:9092",
        "[not-ipv6]:9092",
        "SSL://host:9093",
        "host name:9092",
        "a:1,b",
    ] {
        let e = ProducerConfig::builder().bootstrap_servers(bad).build().unwrap_err();
        assert!(matches!(e, ConfigError::InvalidValue { .. }), "{bad}: {e:?}");
        assert_eq!(e.key(), "bootstrap.servers");
    }
    let e = ProducerConfig::from_properties([("metadata.broker.list", "x")]).unwrap_err();
    assert_eq!(e.key(), "metadata.broker.list");
}

#[test]
fn delivery_timeout_rule() {
    // Explicit and too small: error naming the key as given.
    let e = err(&[("delivery.timeout.ms", "30000")]);
    assert!(matches!(e, ConfigError::Conflict { .. }), "{e:?}");
    assert_eq!(e.key(), "delivery.timeout.ms");
    assert!(e.to_string().contains("linger.ms + request.timeout.ms = 30005 ms"), "{e}");
    assert_eq!(err(&[("message.timeout.ms", "0")]).key(), "message.timeout.ms");
    // Exactly the sum is fine.
    let c = build(&[("delivery.timeout.ms", "30005")]).unwrap();
    assert_eq!(c.delivery_timeout(), Duration::from_millis(30_005));
    // Default and too small: raised to the sum, as Java does.
    let c = build(&[("request.timeout.ms", "200000"), ("linger.ms", "100")]).unwrap();
    assert_eq!(c.delivery_timeout(), Duration::from_millis(200_100));
    // The sum is capped at i32::MAX ms, like Java's.
    let c = build(&[("linger.ms", "9223372036854775807")]).unwrap();
    assert_eq!(c.delivery_timeout(), Duration::from_millis(INT_MAX));
}

#[test]
fn backoff_rules() {
    let e = err(&[("retry.backoff.ms", "500"), ("retry.backoff.max.ms", "200")]);
    assert!(matches!(e, ConfigError::Conflict { .. }));
    assert_eq!(e.key(), "retry.backoff.max.ms");
    assert!(e.to_string().contains("retry.backoff.ms = 500 ms"), "{e}");
    // Only the base set, above the default maximum: Java's constant backoff of the maximum.
    let c = build(&[("retry.backoff.ms", "2000")]).unwrap();
    assert_eq!((c.retry_backoff(), c.retry_backoff_max()), (Duration::from_secs(1), Duration::from_secs(1)));
    // Only the maximum set, below the default base.
    let c = build(&[("retry.backoff.max.ms", "20")]).unwrap();
    assert_eq!(c.retry_backoff(), Duration::from_millis(20));
    // Reconnect: the base alone also sets the maximum (Java's rule).
    let c = build(&[("reconnect.backoff.ms", "5000")]).unwrap();
    assert_eq!(c.reconnect_backoff_max(), Duration::from_secs(5));
    let c = build(&[("reconnect.backoff.ms", "10")]).unwrap();
    assert_eq!(c.reconnect_backoff_max(), Duration::from_millis(10));
    let e = err(&[("reconnect.backoff.ms", "10"), ("reconnect.backoff.max.ms", "5")]);
    assert_eq!(e.key(), "reconnect.backoff.max.ms");
    let e =
        err(&[("socket.connection.setup.timeout.ms", "10"), ("socket.connection.setup.timeout.max.ms", "5")]);
    assert_eq!(e.key(), "socket.connection.setup.timeout.max.ms");
    let c = build(&[("socket.connection.setup.timeout.ms", "60000")]).unwrap();
    assert_eq!(c.socket_connection_setup_timeout(), Duration::from_secs(30));
}

#[test]
fn compression_codecs_and_features() {
    for name in ["none", "gzip", "snappy", "GZIP"] {
        build(&[("compression.type", name)]).unwrap();
    }
    for (name, feature, available) in
        [("lz4", "lz4", cfg!(feature = "lz4")), ("zstd", "zstd", cfg!(feature = "zstd"))]
    {
        let r = build(&[("compression.codec", name)]);
        if available {
            assert_eq!(r.unwrap().compression().name(), name);
        } else {
            let e = r.unwrap_err();
            assert!(matches!(e, ConfigError::FeatureMissing { feature: f, .. } if f == feature), "{e:?}");
            assert_eq!(e.key(), "compression.codec");
            assert!(e.to_string().contains(&format!("cargo feature `{feature}`")), "{e}");
        }
    }
}

#[test]
fn compression_levels() {
    let level = |props: &[(&str, &str)]| build(props).map(|c| c.compression_level());
    assert_eq!(level(&[("compression.type", "gzip"), ("compression.level", "9")]), Ok(Some(9)));
    assert_eq!(level(&[("compression.type", "gzip"), ("compression.level", "0")]), Ok(Some(0)));
    assert_eq!(level(&[("compression.type", "gzip"), ("compression.level", "-1")]), Ok(None));
    assert_eq!(
        level(&[("compression.type", "gzip"), ("compression.level", "10")]).unwrap_err().key(),
        "compression.level"
    );
    assert_eq!(level(&[("compression.type", "snappy"), ("compression.level", "0")]), Ok(None));
    assert_eq!(
        level(&[("compression.type", "snappy"), ("compression.level", "3")]).unwrap_err().key(),
        "compression.level"
    );
    assert_eq!(level(&[("compression.level", "1")]).unwrap_err().key(), "compression.level");
    // Java's per-codec keys: validated whatever the codec, used for their own codec, winning.
    assert_eq!(level(&[("compression.gzip.level", "3")]), Ok(None));
    assert_eq!(
        level(&[("compression.type", "gzip"), ("compression.gzip.level", "3"), ("compression.level", "5")]),
        Ok(Some(3))
    );
    assert_eq!(level(&[("compression.type", "gzip"), ("compression.gzip.level", "-1")]), Ok(None));
    assert_eq!(level(&[("compression.gzip.level", "0")]).unwrap_err().key(), "compression.gzip.level");
    assert_eq!(level(&[("compression.lz4.level", "0")]).unwrap_err().key(), "compression.lz4.level");
    assert_eq!(level(&[("compression.lz4.level", "18")]).unwrap_err().key(), "compression.lz4.level");
    assert_eq!(level(&[("compression.zstd.level", "23")]).unwrap_err().key(), "compression.zstd.level");
    assert_eq!(level(&[("compression.zstd.level", "-131073")]).unwrap_err().key(), "compression.zstd.level");
    assert_eq!(level(&[("compression.zstd.level", "-131072")]), Ok(None));
    if cfg!(feature = "zstd") {
        assert_eq!(level(&[("compression.type", "zstd"), ("compression.zstd.level", "-1")]), Ok(Some(-1)));
        assert_eq!(level(&[("compression.type", "zstd"), ("compression.level", "-1")]), Ok(None));
        assert_eq!(level(&[("compression.type", "zstd"), ("compression.level", "19")]), Ok(Some(19)));
    }
    if cfg!(feature = "lz4") {
        assert_eq!(level(&[("compression.type", "lz4"), ("compression.lz4.level", "9")]), Ok(Some(9)));
        assert_eq!(
            level(&[("compression.type", "lz4"), ("compression.level", "18")]).unwrap_err().key(),
            "compression.level"
        );
    }
    let e = base().compression(Compression::Gzip).compression_level(12).build().unwrap_err();
    assert_eq!(
        e.to_string(),
        "`compression.level` = 12 is out of range: 0 to 9 for gzip, or -1 for the default"
    );
}

#[test]
fn idempotence_default_is_disabled_by_conflicts() {
    let c = build(&[("acks", "1")]).unwrap();
    assert!(!c.enable_idempotence());
    let c = build(&[("acks", "0")]).unwrap();
    assert!(!c.enable_idempotence());
    let c = build(&[("retries", "0")]).unwrap();
    assert!(!c.enable_idempotence());
    // Already off: more than 5 in flight is then allowed (Java 4.0 would still refuse).
    let c = build(&[("acks", "1"), ("max.in.flight.requests.per.connection", "10")]).unwrap();
    assert_eq!(c.max_in_flight(), 10);
    // Explicitly off.
    let c = build(&[("enable.idempotence", "false"), ("max.in.flight", "10")]).unwrap();
    assert!(!c.enable_idempotence());
    assert_eq!(c.max_in_flight(), 10);
    // Default on with more than 5 in flight: error, as in Kafka 4.0.
    let e = err(&[("max.in.flight.requests.per.connection", "6")]);
    assert!(matches!(e, ConfigError::Conflict { .. }), "{e:?}");
    assert_eq!(e.key(), "max.in.flight.requests.per.connection");
    assert!(e.to_string().contains("enable.idempotence=false"), "{e}");
    assert_eq!(err(&[("max.in.flight", "6")]).key(), "max.in.flight");
}

#[test]
fn idempotence_explicit_conflicts_are_errors() {
    let on = ("enable.idempotence", "true");
    let e = err(&[on, ("acks", "1")]);
    assert_eq!(e.key(), "acks");
    assert_eq!(
        e.to_string(),
        "`acks` = 1 conflicts with enable.idempotence = true: the idempotent producer needs acks=all"
    );
    assert_eq!(err(&[on, ("request.required.acks", "0")]).key(), "request.required.acks");
    assert_eq!(err(&[on, ("retries", "0")]).key(), "retries");
    assert_eq!(err(&[on, ("message.send.max.retries", "0")]).key(), "message.send.max.retries");
    assert_eq!(
        err(&[on, ("max.in.flight.requests.per.connection", "6")]).key(),
        "max.in.flight.requests.per.connection"
    );
    let e = base().enable_idempotence(true).acks(Acks::Leader).build().unwrap_err();
    assert_eq!(e.key(), "acks");
    let c = build(&[on, ("max.in.flight.requests.per.connection", "5"), ("retries", "1")]).unwrap();
    assert!(c.enable_idempotence());
}

#[test]
fn partitioner_by_name_uses_batch_size() {
    for (name, debug) in [
        ("murmur2_random", "DefaultPartitioner"),
        ("default", "DefaultPartitioner"),
        ("murmur2", "Murmur2Partitioner"),
        ("sticky", "UniformStickyPartitioner"),
        ("uniform_sticky", "UniformStickyPartitioner"),
        ("round_robin", "RoundRobinPartitioner"),
    ] {
        let c = build(&[("partitioner", name)]).unwrap();
        assert!(format!("{:?}", c.partitioner()).contains(debug), "{name}");
    }
    // The sticky threshold is batch.size: 3 records of 40 bytes with batch.size 100.
    let c = build(&[("partitioner", "uniform_sticky"), ("batch.size", "100")]).unwrap();
    let p = c.partitioner();
    let parts = [0, 1, 2, 3];
    let first = p.partition("t", None, None, Partitions::new(4, &parts));
    p.on_append("t", first, 40);
    p.on_append("t", first, 40);
    assert_eq!(p.partition("t", None, None, Partitions::new(4, &parts)), first);
    p.on_append("t", first, 40);
    assert_ne!(p.partition("t", None, None, Partitions::new(4, &parts)), first);
    let e = err(&[("partitioner", "consistent_random")]);
    assert!(e.to_string().contains("consistent_random"), "{e}");
}

#[test]
fn error_display_and_key_for_every_variant() {
    let cases = [
        (ConfigError::UnknownKey { key: "k".into() }, "`k` is not a producer property"),
        (
            ConfigError::Unsupported { key: "k".into(), reason: "why" },
            "`k` is not supported by kafka-sync: why",
        ),
        (
            ConfigError::InvalidValue { key: "k".into(), value: "v".into(), expected: "e" },
            "invalid value \"v\" for `k`: expected e",
        ),
        (
            ConfigError::OutOfRange { key: "k".into(), value: "1".into(), allowed: "2 to 3".into() },
            "`k` = 1 is out of range: 2 to 3",
        ),
        (ConfigError::Missing { key: "k" }, "`k` is required"),
        (
            ConfigError::FeatureMissing { key: "k".into(), codec: Compression::Zstd, feature: "zstd" },
            "`k` = zstd needs kafka-sync built with the cargo feature `zstd`",
        ),
        (
            ConfigError::Conflict { key: "k".into(), value: "1".into(), other: "o".into(), reason: "r" },
            "`k` = 1 conflicts with o: r",
        ),
    ];
    for (e, text) in cases {
        assert_eq!(e.key(), "k");
        assert_eq!(e.to_string(), text);
    }
}

#[test]
fn config_is_clone_debug_send_sync() {
    fn check<T: Clone + fmt::Debug + Send + Sync + 'static>() {}
    check::<ProducerConfig>();
    check::<ProducerConfigBuilder>();
    check::<ConfigError>();
    let c = base().build().unwrap();
    let d = c.clone();
    assert!(Arc::ptr_eq(c.partitioner(), d.partitioner()), "clones share the partitioner's state");
}

#[test]
fn metadata_recovery_and_dns_settings() {
    let c = base().build().unwrap();
    assert!(c.metadata_recovery_rebootstrap());
    assert_eq!(c.metadata_recovery_rebootstrap_trigger(), Duration::from_millis(300_000));
    let c = build(&[
        ("metadata.recovery.strategy", "NONE"),
        ("metadata.recovery.rebootstrap.trigger.ms", "1000"),
        ("client.dns.lookup", "use_all_dns_ips"),
    ])
    .unwrap();
    assert!(!c.metadata_recovery_rebootstrap());
    assert_eq!(c.metadata_recovery_rebootstrap_trigger(), Duration::from_millis(1000));
    assert_eq!(err(&[("metadata.recovery.strategy", "retry")]).key(), "metadata.recovery.strategy");
    let e = err(&[("client.dns.lookup", "resolve_canonical_bootstrap_servers_only")]);
    assert!(matches!(e, ConfigError::Unsupported { .. }), "{e}");
}

#[test]
fn enable_metrics_push() {
    assert!(base().build().unwrap().enable_metrics_push(), "on by default, as in Java");
    assert!(!build(&[("enable.metrics.push", "false")]).unwrap().enable_metrics_push());
    assert!(build(&[("enable.metrics.push", "true")]).unwrap().enable_metrics_push());
    assert!(!base().enable_metrics_push(false).build().unwrap().enable_metrics_push());
    assert!(err(&[("enable.metrics.push", "maybe")]).to_string().contains("enable.metrics.push"));
}

#[test]
fn transactional_id_requires_idempotence() {
    let c = base().set("transactional.id", "loader").build().unwrap();
    assert_eq!(c.transactional_id(), Some("loader"));
    assert!(c.enable_idempotence());
    assert_eq!(c.transaction_timeout(), Duration::from_millis(60_000));
    let c = base().set("transactional.id", "t").set("transaction.timeout.ms", "900000").build().unwrap();
    assert_eq!(c.transaction_timeout(), Duration::from_secs(900));
    assert_eq!(base().build().unwrap().transactional_id(), None);
    // Conflicts are errors naming the key, never a silent downgrade.
    for (key, value) in [
        ("enable.idempotence", "false"),
        ("acks", "1"),
        ("request.required.acks", "0"),
        ("retries", "0"),
        ("max.in.flight.requests.per.connection", "6"),
    ] {
        let e = err(&[("transactional.id", "t"), (key, value)]);
        assert!(matches!(e, ConfigError::Conflict { .. }), "{key}: {e:?}");
        assert_eq!(e.key(), key);
        assert!(e.to_string().contains("transactional.id"), "{e}");
    }
    assert_eq!(err(&[("transactional.id", "")]).key(), "transactional.id");
    assert_eq!(
        err(&[("transactional.id", "t"), ("transaction.timeout.ms", "0")]).key(),
        "transaction.timeout.ms"
    );
    let typed = ProducerConfig::builder()
        .bootstrap_servers("127.0.0.1:9092")
        .transactional_id("t")
        .acks(Acks::Leader)
        .build()
        .unwrap_err();
    assert_eq!(typed.key(), "acks");
}
