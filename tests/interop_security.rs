//! kafka-sync's TLS and SASL against implementations nobody here wrote: stunnel
//! (OpenSSL) terminating TLS in front of tansu, and a SASL-terminating proxy
//! whose SCRAM server side is the `scramp` package (`tests/support/secure.rs`,
//! proven with librdkafka alone by `tests/security_rig.rs`). kafka-sync
//! produces with the very settings librdkafka is given (the same property
//! names), and librdkafka reads the records back through the same chain.
//!
//! - TLS with server verification; mTLS with a plain and an encrypted key;
//!   SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER;
//!   SASL_SSL with SCRAM-SHA-512.
//! - Refusals are prompt and say why: expired, wrong-host and untrusted server
//!   certificates; mTLS without a client certificate; a wrong password (and no
//!   tight reconnect loop); a TLS client at a plaintext port and the reverse.
//! - KIP-368: 30 s of production with a 3 s session lifetime: nothing fails, no
//!   connection is closed for an expired session, about one re-authentication
//!   per lifetime per connection.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_sync::{DeliveryErrorKind, DeliveryHandle, Producer, ProducerConfig, Record, SendErrorKind};

use support::secure::{SaslOptions, SaslSslTansu, SaslTansu, ServerCert, TlsOptions, TlsTansu, USERS};
use support::{read_back_with, require_broker, ConsumedRecord, Tansu};

const RECORDS: usize = 50;
const TIMEOUT: Duration = Duration::from_secs(20);

type Settings = Vec<(String, String)>;

fn s(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_owned(), v.into())
}

fn producer(bootstrap: &str, security: &Settings, extra: &[(&str, &str)]) -> Result<Producer, String> {
    let config = ProducerConfig::builder()
        .bootstrap_servers(bootstrap)
        .set_all(security.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .set("linger.ms", "5")
        .set("delivery.timeout.ms", "20000")
        .set("request.timeout.ms", "10000")
        .set_all(extra.iter().copied())
        .build()
        .map_err(|e| e.to_string())?;
    Producer::new(config).map_err(|e| e.to_string())
}

fn key(i: usize) -> Vec<u8> {
    format!("key-{i}").into_bytes()
}

fn value(label: &str, i: usize) -> Vec<u8> {
    format!("{label} value {i}").into_bytes()
}

/// Produces records `0..n` with kafka-sync; returns key -> (partition, offset).
fn produce(label: &str, p: &Producer, topic: &str, n: usize) -> BTreeMap<Vec<u8>, (i32, i64)> {
    let handles: Vec<(Vec<u8>, DeliveryHandle)> = (0..n)
        .map(|i| {
            let r = Record::new(topic.to_owned()).key_vec(key(i)).value_vec(value(label, i));
            (key(i), p.send(r).unwrap_or_else(|e| panic!("{label}: send {i}: {e}")))
        })
        .collect();
    handles
        .into_iter()
        .map(|(k, h)| {
            let m = h.wait().unwrap_or_else(|e| panic!("{label}: delivery failed: {e}"));
            (k, (m.partition(), m.offset().expect("acks=all gives an offset")))
        })
        .collect()
}

fn check(label: &str, delivered: &BTreeMap<Vec<u8>, (i32, i64)>, read: &[ConsumedRecord]) {
    assert_eq!(read.len(), delivered.len(), "{label}: read back {} of {}", read.len(), delivered.len());
    for r in read {
        let k = r.key.clone().expect("keyed record");
        let i: usize = std::str::from_utf8(&k).unwrap().strip_prefix("key-").unwrap().parse().unwrap();
        assert_eq!(delivered.get(&k), Some(&(r.partition, r.offset)), "{label}: key-{i} position");
        assert_eq!(r.value.as_deref(), Some(&value(label, i)[..]), "{label}: key-{i} value");
    }
}

fn topic_of(label: &str) -> String {
    label.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
}

/// kafka-sync produces with `ours`, librdkafka reads back with `theirs`.
fn round_trip(
    label: &str,
    bootstrap: &str,
    ours: &Settings,
    theirs: &Settings,
    create: impl FnOnce(&str) -> Result<(), String>,
) {
    let started = Instant::now();
    let topic = topic_of(label);
    create(&topic).unwrap_or_else(|e| panic!("{label}: create topic: {e}"));
    let p = producer(bootstrap, ours, &[]).unwrap_or_else(|e| panic!("{label}: {e}"));
    let delivered = produce(label, &p, &topic, RECORDS);
    p.close(TIMEOUT).unwrap();
    let extra: Vec<(&str, &str)> = theirs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let read = read_back_with(bootstrap, &topic, RECORDS, TIMEOUT, &extra);
    check(label, &delivered, &read);
    eprintln!(
        "{label}: {RECORDS} records produced by kafka-sync, read back by librdkafka in {:?}",
        started.elapsed()
    );
}

/// kafka-sync with `ours` must be refused promptly: the send (waiting up to
/// `max.block.ms` = 30 s) or its delivery fails within 15 s with an
/// authentication error, not persisted, whose message contains every needle.
fn expect_refused(label: &str, bootstrap: &str, ours: &Settings, needles: &[&str]) -> String {
    let started = Instant::now();
    let p =
        producer(bootstrap, ours, &[("max.block.ms", "30000")]).unwrap_or_else(|e| panic!("{label}: {e}"));
    let message = match p.send(Record::new("refused").key("k").value("v")) {
        Err(e) => match e.kind() {
            SendErrorKind::Authentication(d) => d.to_string(),
            other => panic!("{label}: send refused with {other}, not an authentication error"),
        },
        Ok(h) => match h.wait_timeout(Duration::from_secs(15)) {
            Some(Err(e)) => {
                assert_eq!(e.kind(), &DeliveryErrorKind::Authentication, "{label}: {e}");
                assert!(!e.is_possibly_persisted(), "{label}: {e}");
                e.to_string()
            }
            other => panic!("{label}: expected a prompt authentication failure, got {other:?}"),
        },
    };
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "{label}: refusal took {took:?}");
    for n in needles {
        assert!(message.contains(n), "{label}: {message:?} should contain {n:?}");
    }
    eprintln!("{label}: refused after {took:?}: {message}");
    let _ = p.close(Duration::from_secs(5));
    message
}

fn alice() -> (&'static str, &'static str) {
    USERS[0]
}

fn ours_tls(chain: &TlsTansu) -> Settings {
    let mut c =
        vec![s("security.protocol", "SSL"), s("ssl.ca.location", chain.certs.ca.path.display().to_string())];
    if chain.options.require_client_cert {
        c.push(s("ssl.certificate.location", chain.certs.client.cert.path.display().to_string()));
        c.push(s("ssl.key.location", chain.certs.client.key.path.display().to_string()));
    }
    c
}

#[test]
fn tls_with_server_verification() {
    let Some(chain) = require_broker("tls_with_server_verification", TlsTansu::start()) else { return };
    // Our own settings, and librdkafka's exact list, both work for kafka-sync.
    round_trip("tls", &chain.bootstrap(), &ours_tls(&chain), &chain.rdkafka_config(), |t| {
        chain.create_topic(t, 3)
    });
    round_trip(
        "tls-rdkafka-settings",
        &chain.bootstrap(),
        &chain.rdkafka_config(),
        &chain.rdkafka_config(),
        |t| chain.create_topic(t, 1),
    );
}

#[test]
fn mtls_with_plain_and_encrypted_keys() {
    let Some(chain) = require_broker("mtls", TlsTansu::start_with(TlsOptions::mtls())) else { return };
    round_trip("mtls", &chain.bootstrap(), &ours_tls(&chain), &chain.rdkafka_config(), |t| {
        chain.create_topic(t, 2)
    });

    // The key encrypted (PKCS#8, by openssl), with ssl.key.password.
    let encrypted = chain.certs.encrypted_key(&chain.certs.client.key, "k3y-pass").expect("encrypt the key");
    let mut ours = ours_tls(&chain);
    ours.retain(|(k, _)| k != "ssl.key.location");
    ours.push(s("ssl.key.location", encrypted.path.display().to_string()));
    ours.push(s("ssl.key.password", "k3y-pass"));
    round_trip("mtls-encrypted-key", &chain.bootstrap(), &ours, &chain.rdkafka_config(), |t| {
        chain.create_topic(t, 1)
    });

    // Without a client certificate: stunnel refuses the handshake.
    let mut none = ours_tls(&chain);
    none.retain(|(k, _)| !k.starts_with("ssl.certificate") && !k.starts_with("ssl.key"));
    expect_refused("mtls without a client certificate", &chain.bootstrap(), &none, &["client certificate"]);
}

#[test]
fn bad_server_certificates_fail_with_the_reason() {
    for (which, needles) in [
        (ServerCert::Expired, &["expired"][..]),
        (ServerCert::WrongHost, &["not valid for the name `127.0.0.1`", "wrong.example"][..]),
        (ServerCert::UntrustedCa, &["not signed by a trusted CA", "ssl.ca.location"][..]),
    ] {
        let options = TlsOptions { server_cert: which, ..TlsOptions::default() };
        let Some(chain) = require_broker("bad_server_certificates", TlsTansu::start_with(options)) else {
            return;
        };
        let bootstrap = chain.bootstrap();
        let m =
            expect_refused(&format!("server certificate {which:?}"), &bootstrap, &ours_tls(&chain), needles);
        assert!(m.contains(&bootstrap), "names the broker: {m}");
        if which == ServerCert::WrongHost {
            // Hostname verification off: the chain (from the trusted CA) is enough.
            let mut off = ours_tls(&chain);
            off.push(s("ssl.endpoint.identification.algorithm", "none"));
            round_trip("wrong-host-without-hostname-check", &bootstrap, &off, &off, |t| {
                chain.create_topic(t, 1)
            });
        }
    }
}

#[test]
fn wrong_security_protocol_is_named() {
    let Some(chain) = require_broker("wrong_security_protocol", TlsTansu::start()) else { return };
    // Plaintext client at the TLS port.
    expect_refused(
        "plaintext client at a TLS listener",
        &chain.bootstrap(),
        &Vec::new(),
        &["TLS listener", "SSL"],
    );
    // TLS client at the plaintext port (tansu itself).
    let Some(tansu) = require_broker("wrong_security_protocol", Tansu::start()) else { return };
    expect_refused(
        "TLS client at a plaintext listener",
        &tansu.bootstrap(),
        &ours_tls(&chain),
        &["plaintext listener", "security.protocol"],
    );
}

#[test]
fn sasl_plaintext_with_every_mechanism() {
    let Some(chain) = require_broker("sasl_plaintext", SaslTansu::start(SaslOptions::default())) else {
        return;
    };
    let (user, password) = alice();
    for mech in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] {
        let mut settings = vec![s("security.protocol", "SASL_PLAINTEXT")];
        settings.extend(
            chain.rdkafka_config(mech, user, password).into_iter().filter(|(k, _)| k != "security.protocol"),
        );
        let before = chain.stats().map(|st| st.authentications).unwrap_or(0);
        round_trip(&format!("sasl-{mech}"), &chain.bootstrap(), &settings, &settings, |t| {
            chain.create_topic(t, 2)
        });
        let after = chain.stats().expect("proxy stats").authentications;
        assert!(after > before, "{mech}: the proxy saw no authentication");
    }
    // Java's client.properties form, pasted.
    let jaas = vec![
        s("security.protocol", "SASL_PLAINTEXT"),
        s("sasl.mechanism", "SCRAM-SHA-512"),
        s(
            "sasl.jaas.config",
            format!(
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{password}";"#
            ),
        ),
    ];
    let theirs = chain.rdkafka_config("SCRAM-SHA-512", user, password);
    round_trip("sasl-java-jaas", &chain.bootstrap(), &jaas, &theirs, |t| chain.create_topic(t, 1));
}

#[test]
fn sasl_ssl_with_scram_sha_512() {
    let Some(chain) =
        require_broker("sasl_ssl", SaslSslTansu::start(SaslOptions::default(), TlsOptions::default()))
    else {
        return;
    };
    let (user, password) = alice();
    let settings = chain.rdkafka_config("SCRAM-SHA-512", user, password);
    round_trip("sasl-ssl-scram-512", &chain.bootstrap(), &settings, &settings, |t| chain.create_topic(t, 3));
}

#[test]
fn wrong_password_fails_promptly_without_a_tight_loop() {
    let Some(chain) = require_broker("wrong_password", SaslTansu::start(SaslOptions::default())) else {
        return;
    };
    let (user, _) = alice();
    chain.create_topic("refused", 1).expect("create topic");
    for mech in ["PLAIN", "SCRAM-SHA-512"] {
        let settings = chain.rdkafka_config(mech, user, "not-the-password");
        let mut settings: Settings = settings;
        settings.push(s("security.protocol", "SASL_PLAINTEXT"));
        let m =
            expect_refused(&format!("wrong password ({mech})"), &chain.bootstrap(), &settings, &[user, mech]);
        assert!(!m.contains("not-the-password"), "the password leaked into {m:?}");
    }
    // A producer left running against a wrong password retries with the
    // reconnect backoff (50 ms doubling to 1 s), not in a tight loop.
    let settings = {
        let mut v = chain.rdkafka_config("SCRAM-SHA-256", user, "still-wrong");
        v.push(s("security.protocol", "SASL_PLAINTEXT"));
        v
    };
    let before = chain.stats().expect("stats").failed_authentications;
    let p = producer(&chain.bootstrap(), &settings, &[("max.block.ms", "3000")]).unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let _ = p.send(Record::new("refused").value("v"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let failed = chain.stats().expect("stats").failed_authentications - before;
    let _ = p.close(Duration::from_secs(5));
    eprintln!("wrong password: {failed} failed authentications in 4 s");
    assert!((1..=40).contains(&failed), "{failed} failed authentications in 4 s: a tight loop?");
}

#[test]
fn reauthenticates_for_thirty_seconds_without_a_failure() {
    let options = SaslOptions::with_session_lifetime(3000);
    let Some(chain) = require_broker("reauthentication", SaslTansu::start(options)) else { return };
    let (user, password) = alice();
    let mut settings = chain.rdkafka_config("SCRAM-SHA-512", user, password);
    settings.push(s("security.protocol", "SASL_PLAINTEXT"));
    chain.create_topic("reauth", 2).expect("create topic");
    let p = producer(&chain.bootstrap(), &settings, &[]).unwrap();
    let started = Instant::now();
    let mut handles = Vec::new();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(30) {
        for _ in 0..20 {
            handles.push(
                p.send(Record::new("reauth").key_vec(key(i)).value_vec(value("reauth", i))).expect("send"),
            );
            i += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut failed = Vec::new();
    let mut delivered = BTreeMap::new();
    for (n, h) in handles.into_iter().enumerate() {
        match h.wait() {
            Ok(m) => {
                delivered.insert(key(n), (m.partition(), m.offset().expect("acks=all gives an offset")));
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    let metrics = p.metrics();
    p.close(TIMEOUT).unwrap();
    let stats = chain.stats().expect("proxy stats");
    eprintln!(
        "reauthentication: {i} records, metrics {} re-authentications, proxy {stats:?}",
        metrics.reauthentications
    );
    assert!(failed.is_empty(), "{} records failed, e.g. {:?}", failed.len(), &failed[..failed.len().min(3)]);
    assert_eq!(stats.expired_session_closes, 0, "connections were closed for an expired session");
    // The broker connection(s) that lived the whole run re-authenticated
    // about every 2.55-2.85 s (85-95% of 3 s): 10-12 times in 30 s.
    let long_lived: Vec<u64> =
        stats.reauthentications_per_connection.values().copied().filter(|n| *n >= 5).collect();
    assert!(!long_lived.is_empty(), "no connection re-authenticated repeatedly: {stats:?}");
    for n in &long_lived {
        assert!((8..=16).contains(n), "{n} re-authentications on one connection in 30 s: {stats:?}");
    }
    assert!(
        metrics.reauthentications >= 8,
        "producer metrics: {} re-authentications",
        metrics.reauthentications
    );
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let read = read_back_with(&chain.bootstrap(), "reauth", i, Duration::from_secs(60), &extra);
    check("reauth", &delivered, &read);
}
