//! The producer against the mock cluster's TLS listeners and SASL (issue 10,
//! item 6): encryption and certificate checks, each SASL mechanism, prompt
//! and clear failures, re-authentication before the session expires, token
//! refresh, and secrets kept out of logs, errors and `Debug` output.
//!
//! Certificates are made at test time with rcgen. Every test is bounded in
//! time. The test binary installs a logger at debug level (for the secrets
//! test) that checks every line any test logs.
#![cfg(all(feature = "mock", feature = "tls", feature = "sasl"))]

#[path = "support/mock.rs"]
mod mock_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_sync::mock::{MockCluster, MockSecurity};
use kafka_sync::protocol::frame::{decode_response, encode_request, read_frame};
use kafka_sync::protocol::messages::api_versions::ApiVersionsRequest;
use kafka_sync::protocol::messages::metadata::MetadataRequest;
use kafka_sync::protocol::messages::sasl_authenticate::SaslAuthenticateRequest;
use kafka_sync::protocol::messages::sasl_handshake::SaslHandshakeRequest;
use kafka_sync::protocol::Request;
use kafka_sync::{
    DeliveryErrorKind, OAuthBearerToken, OAuthBearerTokenProvider, Persistence, Producer, ProducerConfig,
    ProducerConfigBuilder, Record, SaslMechanism, SendErrorKind,
};
use mock_support::{stored, within};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

// ---- secrets and the log --------------------------------------------------

/// Every password in this file contains this marker.
const MARK: &str = "SECRET";
const ALICE_PW: &str = "alice-SECRET-pw";
/// The base64url of `{"alg":"none"}`: every unsecured token starts with it.
const UNSECURED_JWT_HEADER: &str = "eyJhbGciOiJub25lIn0";

/// Checks every log line for secrets; keeps the offending lines.
struct Watch {
    lines: AtomicUsize,
    authenticated_lines: AtomicUsize,
    leaks: Mutex<Vec<String>>,
}

impl log::Log for Watch {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Debug
    }
    fn log(&self, r: &log::Record) {
        let line = format!("{} {}: {}", r.level(), r.target(), r.args());
        self.lines.fetch_add(1, Ordering::Relaxed);
        if line.contains("authenticated to") {
            self.authenticated_lines.fetch_add(1, Ordering::Relaxed);
        }
        if leaks(&line) {
            self.leaks.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

fn leaks(text: &str) -> bool {
    text.contains(MARK) || text.contains(UNSECURED_JWT_HEADER)
}

/// The binary's logger (debug level), installed by the first test that asks.
fn watch() -> &'static Watch {
    static WATCH: Watch = Watch {
        lines: AtomicUsize::new(0),
        authenticated_lines: AtomicUsize::new(0),
        leaks: Mutex::new(Vec::new()),
    };
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&WATCH).expect("no other logger in this binary");
        log::set_max_level(log::LevelFilter::Debug);
    });
    &WATCH
}

// ---- certificates ---------------------------------------------------------

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    /// (certificate PEM, key PEM) for `names`, signed by this CA.
    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose, expired: bool) -> (String, String) {
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("test client"));
        p.extended_key_usages = vec![usage];
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn server(&self, names: &[&str]) -> (String, String) {
        self.issue(names, ExtendedKeyUsagePurpose::ServerAuth, false)
    }
}

fn tls_security(ca: &Ca, names: &[&str]) -> MockSecurity {
    let (cert, key) = ca.server(names);
    MockSecurity::new().tls(cert, key)
}

// ---- producers ------------------------------------------------------------

fn start(security: MockSecurity, brokers: usize, partitions: i32) -> MockCluster {
    watch();
    let c = MockCluster::start_secured(brokers, security).expect("start the mock cluster");
    c.create_topic("t", partitions, 1).unwrap();
    c
}

/// Test timeouts, and `security.protocol` as the cluster wants it.
fn config(c: &MockCluster) -> ProducerConfigBuilder {
    ProducerConfig::builder()
        .bootstrap_servers(c.bootstrap_servers())
        .security_protocol(c.security_protocol())
        .linger(Duration::from_millis(2))
        .max_block(Duration::from_secs(10))
        .request_timeout(Duration::from_secs(5))
        .delivery_timeout(Duration::from_secs(20))
        .retry_backoff(Duration::from_millis(10))
        .retry_backoff_max(Duration::from_millis(100))
        .reconnect_backoff(Duration::from_millis(10))
        .reconnect_backoff_max(Duration::from_millis(100))
}

fn values(c: &MockCluster) -> Vec<String> {
    let mut v: Vec<String> = stored(c, "t")
        .into_iter()
        .map(|(_, r)| String::from_utf8(r.value.unwrap_or_default()).unwrap())
        .collect();
    v.sort();
    v
}

/// Sends `n` records, waits for them and checks the cluster stored them.
fn produce_and_read_back(c: &MockCluster, b: ProducerConfigBuilder, n: usize) -> Producer {
    let p = Producer::new(b.build().unwrap()).unwrap();
    let before = values(c).len();
    let handles: Vec<_> =
        (0..n).map(|i| p.send(Record::new("t").value(&format!("r{i:04}"))).unwrap()).collect();
    for h in handles {
        h.wait_timeout(Duration::from_secs(10)).expect("delivered in time").expect("delivered");
    }
    let got = values(c);
    assert_eq!(got.len(), before + n);
    for i in 0..n {
        assert!(got.contains(&format!("r{i:04}")), "r{i:04} is missing");
    }
    p
}

/// The authentication failure of the first record: from `send` (refused) or
/// its handle (failed, not persisted). Returns the message and how long it took.
fn first_failure(b: ProducerConfigBuilder) -> (String, Duration) {
    let p = Producer::new(b.build().unwrap()).unwrap();
    let t0 = Instant::now();
    let msg = match p.send(Record::new("t").value("x")) {
        Err(e) => match e.kind() {
            SendErrorKind::Authentication(d) => {
                assert_eq!(d.persistence(), Persistence::NotPersisted);
                e.to_string()
            }
            other => panic!("send failed with {other:?}, not an authentication error: {e}"),
        },
        Ok(h) => {
            let e = h.wait_timeout(Duration::from_secs(40)).expect("an outcome").expect_err("must fail");
            assert_eq!(e.kind(), &DeliveryErrorKind::Authentication, "{e}");
            assert_eq!(e.persistence(), Persistence::NotPersisted, "{e}");
            e.to_string()
        }
    };
    let took = t0.elapsed();
    assert!(!leaks(&msg), "a secret in the error: {msg}");
    if let Some(ms) = msg.split("(waited ").nth(1).and_then(|r| r.split(" ms)").next()) {
        let ms: u128 = ms.parse().unwrap();
        assert!(ms <= took.as_millis() + 5, "claims to have waited {ms} ms, took {took:?}: {msg}");
    }
    (msg, took)
}

fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "`{p}` is not in: {msg}");
    }
}

// ---- TLS ------------------------------------------------------------------

#[test]
fn tls_produce_and_read_back() {
    within(Duration::from_secs(20), || {
        let ca = Ca::new("test CA");
        let c = start(tls_security(&ca, &["127.0.0.1"]), 2, 2);
        assert_eq!(c.security_protocol().name(), "SSL");
        produce_and_read_back(&c, config(&c).set("ssl.ca.pem", ca.pem()), 50);
    });
}

#[test]
fn tls_hostname_mismatch_names_the_host() {
    within(Duration::from_secs(20), || {
        let ca = Ca::new("test CA");
        let c = start(tls_security(&ca, &["kafka.other.example"]), 1, 1);
        let (msg, took) =
            first_failure(config(&c).max_block(Duration::from_secs(30)).set("ssl.ca.pem", ca.pem()));
        eprintln!("hostname mismatch ({took:?}): {msg}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_mentions(
            &msg,
            &["127.0.0.1", "not valid for the name `127.0.0.1`: it names kafka.other.example"],
        );
    });
}

#[test]
fn tls_hostname_verification_can_be_turned_off() {
    within(Duration::from_secs(20), || {
        let ca = Ca::new("test CA");
        let c = start(tls_security(&ca, &["kafka.other.example"]), 1, 1);
        let b = config(&c).set("ssl.ca.pem", ca.pem()).set("ssl.endpoint.identification.algorithm", "none");
        produce_and_read_back(&c, b, 5);
    });
}

#[test]
fn tls_untrusted_ca_says_so() {
    within(Duration::from_secs(20), || {
        let (ca, other) = (Ca::new("broker CA"), Ca::new("another CA"));
        let c = start(tls_security(&ca, &["127.0.0.1"]), 1, 1);
        let (msg, took) =
            first_failure(config(&c).max_block(Duration::from_secs(30)).set("ssl.ca.pem", other.pem()));
        eprintln!("untrusted CA ({took:?}): {msg}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_mentions(&msg, &["127.0.0.1", "not signed by a trusted CA", "ssl.ca.location"]);
    });
}

#[test]
fn tls_expired_certificate_says_expired() {
    within(Duration::from_secs(20), || {
        let ca = Ca::new("test CA");
        let (cert, key) = ca.issue(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth, true);
        let c = start(MockSecurity::new().tls(cert, key), 1, 1);
        let (msg, took) =
            first_failure(config(&c).max_block(Duration::from_secs(30)).set("ssl.ca.pem", ca.pem()));
        eprintln!("expired ({took:?}): {msg}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_mentions(&msg, &["127.0.0.1", "has expired", "valid until 2021-01-01 00:00:00 UTC"]);
    });
}

#[test]
fn mtls_without_a_client_certificate_or_with_an_untrusted_one_says_so() {
    within(Duration::from_secs(20), || {
        let (ca, clients, strangers) = (Ca::new("broker CA"), Ca::new("client CA"), Ca::new("stranger CA"));
        let c = start(tls_security(&ca, &["127.0.0.1"]).client_ca(clients.pem()), 1, 1);
        // TLS 1.2 refuses during the handshake, TLS 1.3 after it (the client
        // learns at its first read).
        for version in ["TLSv1.2", "TLSv1.3"] {
            let b = config(&c)
                .max_block(Duration::from_secs(30))
                .set("ssl.ca.pem", ca.pem())
                .set("ssl.enabled.protocols", version);
            let (msg, took) = first_failure(b.clone());
            eprintln!("mTLS, {version}, no client certificate ({took:?}): {msg}");
            assert!(took < Duration::from_secs(5), "{took:?}");
            assert_mentions(
                &msg,
                &["127.0.0.1", "requires a client certificate", "ssl.certificate.location"],
            );

            let (cert, key) = strangers.issue(&[], ExtendedKeyUsagePurpose::ClientAuth, false);
            let (msg, took) = first_failure(b.set("ssl.certificate.pem", cert).set("ssl.key.pem", key));
            eprintln!("mTLS, {version}, untrusted client certificate ({took:?}): {msg}");
            assert!(took < Duration::from_secs(5), "{took:?}");
            assert_mentions(&msg, &["127.0.0.1", "rejected our client certificate", "signed by a CA"]);
        }
    });
}

#[test]
fn mtls_with_a_client_certificate_works() {
    within(Duration::from_secs(20), || {
        let (ca, clients) = (Ca::new("broker CA"), Ca::new("client CA"));
        let c = start(tls_security(&ca, &["127.0.0.1"]).client_ca(clients.pem()), 1, 1);
        let (cert, key) = clients.issue(&[], ExtendedKeyUsagePurpose::ClientAuth, false);
        let b =
            config(&c).set("ssl.ca.pem", ca.pem()).set("ssl.certificate.pem", cert).set("ssl.key.pem", key);
        produce_and_read_back(&c, b, 10);
    });
}

#[test]
fn tls_and_plaintext_at_each_others_ports_say_which() {
    within(Duration::from_secs(20), || {
        let ca = Ca::new("test CA");
        let plain = start(MockSecurity::new(), 1, 1);
        let b = config(&plain)
            .max_block(Duration::from_secs(30))
            .set("security.protocol", "SSL")
            .set("ssl.ca.pem", ca.pem());
        let (msg, took) = first_failure(b);
        eprintln!("TLS client, plaintext port ({took:?}): {msg}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_mentions(&msg, &["127.0.0.1", "plaintext listener", "security.protocol"]);

        let tls = start(tls_security(&ca, &["127.0.0.1"]), 1, 1);
        let b = config(&tls).max_block(Duration::from_secs(30)).set("security.protocol", "PLAINTEXT");
        let (msg, took) = first_failure(b);
        eprintln!("plaintext client, TLS port ({took:?}): {msg}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_mentions(&msg, &["127.0.0.1", "TLS listener", "security.protocol"]);
    });
}

// ---- SASL -----------------------------------------------------------------

fn sasl_security(mechanisms: &[SaslMechanism]) -> MockSecurity {
    MockSecurity::new().sasl(mechanisms).user("alice", ALICE_PW).user("bob", "bob-SECRET-pw")
}

fn with_password(
    b: ProducerConfigBuilder,
    mechanism: &str,
    user: &str,
    password: &str,
) -> ProducerConfigBuilder {
    b.set("sasl.mechanism", mechanism).set("sasl.username", user).set("sasl.password", password)
}

#[test]
fn sasl_plain() {
    within(Duration::from_secs(20), || {
        let c = start(sasl_security(&[SaslMechanism::Plain]), 2, 2);
        assert_eq!(c.security_protocol().name(), "SASL_PLAINTEXT");
        let p = produce_and_read_back(&c, with_password(config(&c), "PLAIN", "alice", ALICE_PW), 20);
        let stats = c.sasl_stats();
        assert!(stats.authentications >= 2, "{stats:?}");
        assert_eq!(stats.failed_authentications, 0, "{stats:?}");
        assert!(
            !stats.principals.is_empty() && stats.principals.iter().all(|(_, u)| u == "alice"),
            "{stats:?}"
        );
        drop(p);
    });
}

#[test]
fn sasl_scram_sha_256_and_512() {
    within(Duration::from_secs(30), || {
        let c = start(sasl_security(&[SaslMechanism::ScramSha256, SaslMechanism::ScramSha512]), 1, 1);
        for m in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
            produce_and_read_back(&c, with_password(config(&c), m, "bob", "bob-SECRET-pw"), 10);
        }
        // The Java way to give the credentials.
        let jaas = format!(
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"{ALICE_PW}\";"
        );
        produce_and_read_back(
            &c,
            config(&c).set("sasl.mechanism", "SCRAM-SHA-512").set("sasl.jaas.config", jaas),
            5,
        );
        assert_eq!(c.sasl_stats().failed_authentications, 0);
    });
}

#[test]
fn sasl_ssl_with_scram_sha_512() {
    within(Duration::from_secs(30), || {
        let ca = Ca::new("test CA");
        let security = sasl_security(&[SaslMechanism::ScramSha512]);
        let (cert, key) = ca.server(&["127.0.0.1"]);
        let c = start(security.tls(cert, key), 2, 2);
        assert_eq!(c.security_protocol().name(), "SASL_SSL");
        let b = with_password(config(&c), "SCRAM-SHA-512", "alice", ALICE_PW).set("ssl.ca.pem", ca.pem());
        produce_and_read_back(&c, b, 20);
        let stats = c.sasl_stats();
        assert!(stats.authentications >= 2 && stats.failed_authentications == 0, "{stats:?}");
    });
}

#[test]
fn sasl_oauthbearer_unsecured_tokens() {
    within(Duration::from_secs(20), || {
        let c = start(
            MockSecurity::new().sasl(&[SaslMechanism::OAuthBearer]).oauthbearer_principal("svc-a"),
            1,
            1,
        );
        let b = config(&c)
            .set("sasl.mechanism", "OAUTHBEARER")
            .set("enable.sasl.oauthbearer.unsecure.jwt", "true")
            .set("sasl.oauthbearer.config", "principal=svc-a lifeSeconds=60 scope=write");
        let p = produce_and_read_back(&c, b, 10);
        assert!(c.sasl_stats().principals.iter().any(|(_, p)| p == "svc-a"));
        drop(p);

        // A principal the cluster does not know.
        let b = config(&c)
            .max_block(Duration::from_secs(30))
            .set("sasl.mechanism", "OAUTHBEARER")
            .set("enable.sasl.oauthbearer.unsecure.jwt", "true")
            .set("sasl.oauthbearer.config", "principal=mallory");
        let (msg, took) = first_failure(b);
        eprintln!("unknown principal ({took:?}): {msg}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_mentions(&msg, &["mallory", "127.0.0.1", "OAUTHBEARER"]);
    });
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// An application's token provider: unsecured JWTs living `lifetime`; it
/// records when it was called.
struct Provider {
    principal: String,
    lifetime: Duration,
    calls: Mutex<Vec<Instant>>,
}

impl Provider {
    fn new(principal: &str, lifetime: Duration) -> Arc<Provider> {
        Arc::new(Provider { principal: principal.into(), lifetime, calls: Mutex::new(Vec::new()) })
    }
}

impl OAuthBearerTokenProvider for Provider {
    fn token(&self) -> Result<OAuthBearerToken, String> {
        self.calls.lock().unwrap().push(Instant::now());
        let now = SystemTime::now();
        let exp = (now + self.lifetime).duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
        let payload = format!(r#"{{"sub":"{}","exp":{exp:.3},"note":"{MARK}"}}"#, self.principal);
        let value = format!("{}.{}.", b64url(br#"{"alg":"none"}"#), b64url(payload.as_bytes()));
        Ok(OAuthBearerToken {
            value,
            expires_at: now + self.lifetime,
            principal: self.principal.clone(),
            extensions: vec![("traceId".into(), "42".into())],
        })
    }
}

#[test]
fn sasl_oauthbearer_with_an_application_token_provider() {
    within(Duration::from_secs(20), || {
        let c = start(MockSecurity::new().sasl(&[SaslMechanism::OAuthBearer]), 1, 1);
        let provider = Provider::new("svc-b", Duration::from_secs(600));
        let b = config(&c).set("sasl.mechanism", "OAUTHBEARER").oauthbearer_token_provider(provider.clone());
        let p = produce_and_read_back(&c, b, 10);
        assert_eq!(provider.calls.lock().unwrap().len(), 1, "one token for every connection while fresh");
        assert!(c.sasl_stats().principals.iter().any(|(_, p)| p == "svc-b"));
        drop(p);
    });
}

#[test]
fn token_provider_is_asked_again_at_80_percent_of_the_token_lifetime() {
    within(Duration::from_secs(20), || {
        let c = start(MockSecurity::new().sasl(&[SaslMechanism::OAuthBearer]), 1, 1);
        // Sessions of 300 ms: the connection re-authenticates every 255-285
        // ms, taking the cached token until 80% of its 2 s have passed.
        c.set_session_lifetime(Some(Duration::from_millis(300)));
        let provider = Provider::new("svc-c", Duration::from_secs(2));
        let p = Producer::new(
            config(&c)
                .set("sasl.mechanism", "OAUTHBEARER")
                .oauthbearer_token_provider(provider.clone())
                .build()
                .unwrap(),
        )
        .unwrap();
        let end = Instant::now() + Duration::from_millis(2600);
        let mut handles = Vec::new();
        while Instant::now() < end {
            handles.push(p.send(Record::new("t").value("x")).unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
        for h in handles {
            h.wait_timeout(Duration::from_secs(10)).expect("outcome").expect("delivered");
        }
        let calls = provider.calls.lock().unwrap().clone();
        let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
        eprintln!("token provider calls: {}, gaps {gaps:?}; {:?}", calls.len(), c.sasl_stats());
        assert!(calls.len() >= 2, "the provider was not asked again: {calls:?}");
        assert!(
            gaps[0] >= Duration::from_millis(1550) && gaps[0] <= Duration::from_millis(2000),
            "asked again after {:?}, not at ~1.6 s",
            gaps[0]
        );
        let stats = c.sasl_stats();
        assert_eq!((stats.failed_authentications, stats.expired_sessions_closed), (0, 0), "{stats:?}");
    });
}

// ---- failures: prompt, clear, not in a loop --------------------------------

#[test]
fn wrong_password_fails_promptly_naming_user_and_broker() {
    within(Duration::from_secs(30), || {
        for m in ["PLAIN", "SCRAM-SHA-256"] {
            let c = start(sasl_security(&[SaslMechanism::Plain, SaslMechanism::ScramSha256]), 1, 1);
            let b = with_password(config(&c).max_block(Duration::from_secs(30)), m, "alice", "wrong-SECRET");
            let (msg, took) = first_failure(b);
            eprintln!("{m}, wrong password ({took:?}): {msg}");
            assert!(took < Duration::from_secs(5), "{m}: {took:?}");
            let addr = c.broker_address(1).unwrap().to_string();
            assert_mentions(&msg, &["`alice`", &addr, m]);
            assert!(c.sasl_stats().failed_authentications >= 1);
        }
    });
}

#[test]
fn authentication_failures_are_retried_with_backoff_not_in_a_loop() {
    within(Duration::from_secs(30), || {
        let c = start(sasl_security(&[SaslMechanism::Plain]), 2, 2);
        let b = with_password(config(&c), "PLAIN", "alice", "wrong-SECRET")
            .max_block(Duration::from_secs(30))
            .delivery_timeout(Duration::from_secs(60))
            .retry_backoff(Duration::from_millis(100))
            .retry_backoff_max(Duration::from_millis(1000))
            .reconnect_backoff(Duration::from_millis(100))
            .reconnect_backoff_max(Duration::from_millis(1000));
        let p = Producer::new(b.build().unwrap()).unwrap();
        let _ = p.send(Record::new("t").value("x"));
        let first = c.sasl_stats().failed_authentications;
        let handshakes = c.request_count(kafka_sync::protocol::api_key::SASL_HANDSHAKE);
        std::thread::sleep(Duration::from_secs(2));
        let failed = c.sasl_stats().failed_authentications - first;
        let more_handshakes = c.request_count(kafka_sync::protocol::api_key::SASL_HANDSHAKE) - handshakes;
        eprintln!(
            "in 2 s after the first failure: {failed} failed authentications, {more_handshakes} handshakes"
        );
        // Exponential backoff from 100 ms to 1 s: ~5 attempts in 2 s per
        // connecting thread (two bootstrap servers per metadata attempt).
        assert!(failed <= 16, "{failed} authentication failures in 2 s: a tight loop");
        assert!(failed >= 1, "the producer stopped retrying");
    });
}

#[test]
fn unsupported_mechanism_lists_the_enabled_ones() {
    within(Duration::from_secs(20), || {
        let c = start(sasl_security(&[SaslMechanism::ScramSha512, SaslMechanism::OAuthBearer]), 1, 1);
        let b = with_password(config(&c).max_block(Duration::from_secs(30)), "PLAIN", "alice", ALICE_PW);
        let (msg, took) = first_failure(b);
        eprintln!("unsupported mechanism ({took:?}): {msg}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_mentions(&msg, &["PLAIN", "SCRAM-SHA-512, OAUTHBEARER", "127.0.0.1"]);
    });
}

// ---- re-authentication and expiry -----------------------------------------

#[test]
fn reauthentication_keeps_records_flowing_without_reconnects() {
    within(Duration::from_secs(30), || {
        let c = start(
            sasl_security(&[SaslMechanism::ScramSha256]).session_lifetime(Duration::from_secs(1)),
            2,
            2,
        );
        // Metadata every 1.5 s: the metadata connection re-authenticates too.
        let b = with_password(config(&c), "SCRAM-SHA-256", "alice", ALICE_PW)
            .enable_idempotence(true)
            .metadata_max_age(Duration::from_millis(1500));
        let p = Producer::new(b.build().unwrap()).unwrap();
        p.send(Record::new("t").value("warm-up").partition(0)).unwrap().wait().unwrap();
        p.send(Record::new("t").value("warm-up").partition(1)).unwrap().wait().unwrap();
        let start_stats = c.sasl_stats();
        let t0 = Instant::now();
        let mut handles = Vec::new();
        let mut i = 0u32;
        while t0.elapsed() < Duration::from_secs(5) {
            // Both partitions, so both broker connections stay busy.
            handles.push(p.send(Record::new("t").value(&format!("v{i}")).partition((i % 2) as i32)).unwrap());
            i += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        let failed = handles
            .into_iter()
            .filter(|h| !matches!(h.wait_timeout(Duration::from_secs(10)), Some(Ok(_))))
            .count();
        let stats = c.sasl_stats();
        let reauths = stats.reauthentications - start_stats.reauthentications;
        let metrics = p.metrics();
        eprintln!("{i} records in 5 s; {stats:?}; producer reauthentications {}", metrics.reauthentications);
        assert_eq!(failed, 0, "records failed across re-authentications");
        assert_eq!(stats.expired_sessions_closed, 0, "a connection was closed for an expired session");
        assert_eq!(
            stats.authentications, start_stats.authentications,
            "reconnected instead of re-authenticating"
        );
        assert_eq!(stats.failed_authentications, 0);
        // Two producing connections re-authenticating every 0.85-0.95 s
        // (about 5 each in 5 s), and the metadata connection at its
        // refreshes every 1.5 s (about 3).
        assert!((9..=18).contains(&reauths), "{reauths} re-authentications in 5 s on 3 connections");
        assert_eq!(metrics.reauthentications, stats.reauthentications, "the producer's count disagrees");
        assert_eq!(values(&c).len() as u32, i + 2, "every record stored once");
    });
}

/// A raw client: frames in and out.
struct Raw {
    s: TcpStream,
    corr: i32,
    buf: Vec<u8>,
}

impl Raw {
    fn connect(c: &MockCluster) -> Raw {
        let s = TcpStream::connect(c.broker_address(1).unwrap()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Raw { s, corr: 0, buf: Vec::new() }
    }

    fn send<R: Request>(&mut self, version: i16, req: &R) {
        self.corr += 1;
        let mut out = Vec::new();
        encode_request(&mut out, self.corr, Some("raw"), version, req).unwrap();
        self.s.write_all(&out).unwrap();
    }

    fn call<R: Request>(&mut self, version: i16, req: &R) -> R::Response {
        self.send(version, req);
        read_frame(&mut self.s, 1 << 20, &mut self.buf).unwrap();
        decode_response::<R>(&self.buf, version).unwrap().1
    }

    fn authenticate(&mut self) -> i64 {
        assert_eq!(self.call(1, &SaslHandshakeRequest::new("PLAIN")).error_code, 0);
        let auth = format!("\0alice\0{ALICE_PW}").into_bytes();
        let r = self.call(2, &SaslAuthenticateRequest { auth_bytes: auth });
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        r.session_lifetime_ms
    }

    fn assert_closed(&mut self) {
        let mut b = [0u8; 1];
        match self.s.read(&mut b) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("connection not closed: {other:?}"),
        }
    }
}

#[test]
fn expired_sessions_are_closed_unless_the_client_reauthenticates() {
    within(Duration::from_secs(20), || {
        let c =
            start(sasl_security(&[SaslMechanism::Plain]).session_lifetime(Duration::from_millis(300)), 1, 1);
        let meta = MetadataRequest::for_topics(["t"]);

        // Nothing but ApiVersions and SASL before authentication.
        let mut raw = Raw::connect(&c);
        let versions = raw.call(3, &ApiVersionsRequest::default());
        assert!(versions.range_of(17).is_some() && versions.range_of(36).is_some());
        raw.send(12, &meta);
        raw.assert_closed();

        // An authenticated client that lets its session expire.
        let mut raw = Raw::connect(&c);
        assert_eq!(raw.authenticate(), 300);
        assert_eq!(raw.call(12, &meta).topics.len(), 1);
        std::thread::sleep(Duration::from_millis(400));
        raw.send(12, &meta);
        raw.assert_closed();
        assert_eq!(c.sasl_stats().expired_sessions_closed, 1);

        // One that re-authenticates after expiry: a new session.
        let mut raw = Raw::connect(&c);
        raw.authenticate();
        std::thread::sleep(Duration::from_millis(400));
        c.set_session_lifetime(Some(Duration::from_secs(60)));
        assert_eq!(raw.authenticate(), 60_000);
        assert_eq!(raw.call(12, &meta).topics.len(), 1);
        let stats = c.sasl_stats();
        assert_eq!((stats.expired_sessions_closed, stats.reauthentications), (1, 1), "{stats:?}");
        assert_eq!(stats.principals, [(1, "alice".to_owned())]);

        // Without a session lifetime sessions do not expire.
        c.set_session_lifetime(None);
        let mut raw = Raw::connect(&c);
        assert_eq!(raw.authenticate(), 0);
    });
}

// ---- secrets --------------------------------------------------------------

#[test]
fn secrets_stay_out_of_logs_errors_and_debug_output() {
    within(Duration::from_secs(30), || {
        let w = watch();
        let c = start(sasl_security(&[SaslMechanism::ScramSha512, SaslMechanism::OAuthBearer]), 1, 1);
        // A good run with a password and one with tokens.
        let b = with_password(config(&c), "SCRAM-SHA-512", "alice", ALICE_PW);
        let debug = format!("{:?}", b.clone().build().unwrap());
        assert!(!leaks(&debug) && debug.contains("alice"), "{debug}");
        produce_and_read_back(&c, b, 3);
        let provider = Provider::new("svc-d", Duration::from_secs(600));
        let b = config(&c).set("sasl.mechanism", "OAUTHBEARER").oauthbearer_token_provider(provider);
        let debug = format!("{:?}", b.clone().build().unwrap());
        assert!(!leaks(&debug), "{debug}");
        produce_and_read_back(&c, b, 3);
        let b = config(&c)
            .set("sasl.mechanism", "OAUTHBEARER")
            .set("enable.sasl.oauthbearer.unsecure.jwt", "true")
            .set("sasl.oauthbearer.config", "principal=svc-e");
        produce_and_read_back(&c, b, 3);
        // A failed run.
        let b = with_password(
            config(&c).max_block(Duration::from_secs(5)),
            "SCRAM-SHA-512",
            "alice",
            "bad-SECRET",
        );
        let debug = format!("{:?}", b.clone().build().unwrap());
        assert!(!leaks(&debug), "{debug}");
        let (msg, _) = first_failure(b);
        assert!(!leaks(&msg), "{msg}");
        let mut b = config(&c).set("sasl.mechanism", "PLAIN").set("sasl.username", "alice");
        b = b
            .set("sasl.jaas.config", format!("PlainLoginModule required username=\"a\" password=\"{MARK}\""));
        let debug = format!("{b:?}");
        assert!(!leaks(&debug), "{debug}");

        assert!(w.authenticated_lines.load(Ordering::Relaxed) > 0, "the logger saw no debug lines");
        let leaked = w.leaks.lock().unwrap().clone();
        assert!(leaked.is_empty(), "secrets in the log:\n{}", leaked.join("\n"));
        eprintln!("{} log lines checked", w.lines.load(Ordering::Relaxed));
    });
}

/// A token endpoint on loopback for the OIDC client credentials grant: checks
/// the grant and the client's Basic credentials, answers unsecured JWTs for
/// `sub` living `lifetime_s`, and counts the requests.
fn token_endpoint(sub: &'static str, lifetime_s: u64) -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/oauth2/token", listener.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers and the small form body arrive in one or two reads.
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req);
                if text.contains("\r\n\r\n") && text.ends_with("grant_type=client_credentials&scope=kafka") {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&req).into_owned();
            // "svc:s3cret" in Basic authentication.
            let authorized = text.contains("Basic c3ZjOnMzY3JldA==");
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
            let jwt = format!(
                "{}.{}.",
                b64url(br#"{"alg":"none"}"#),
                b64url(format!(r#"{{"sub":"{sub}","iat":{now},"exp":{}}}"#, now + lifetime_s).as_bytes())
            );
            let (status, body) = if authorized {
                count.fetch_add(1, Ordering::SeqCst);
                (
                    "200 OK",
                    format!(r#"{{"access_token":"{jwt}","token_type":"Bearer","expires_in":{lifetime_s}}}"#),
                )
            } else {
                ("401 Unauthorized", r#"{"error":"invalid_client"}"#.to_owned())
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, served)
}

/// OAUTHBEARER tokens from an OIDC token endpoint (feature `oidc`), end to
/// end: the producer fetches a token by the client credentials grant and
/// authenticates with it; a wrong client secret fails promptly, naming the
/// client and the endpoint's answer.
#[cfg(feature = "oidc")]
#[test]
fn sasl_oauthbearer_with_oidc_client_credentials() {
    within(Duration::from_secs(20), || {
        let c = start(
            MockSecurity::new().sasl(&[SaslMechanism::OAuthBearer]).oauthbearer_principal("svc-oidc"),
            1,
            1,
        );
        let (url, served) = token_endpoint("svc-oidc", 300);
        let b = config(&c)
            .set("sasl.mechanism", "OAUTHBEARER")
            .set("sasl.oauthbearer.method", "oidc")
            .set("sasl.oauthbearer.token.endpoint.url", &url)
            .set("sasl.oauthbearer.client.id", "svc")
            .set("sasl.oauthbearer.client.secret", "s3cret")
            .set("sasl.oauthbearer.scope", "kafka");
        let p = produce_and_read_back(&c, b, 10);
        assert!(c.sasl_stats().principals.iter().any(|(_, p)| p == "svc-oidc"));
        assert!(served.load(Ordering::SeqCst) >= 1);
        drop(p);

        let b = config(&c)
            .max_block(Duration::from_secs(30))
            .set("sasl.mechanism", "OAUTHBEARER")
            .set("sasl.oauthbearer.method", "oidc")
            .set("sasl.oauthbearer.token.endpoint.url", &url)
            .set("sasl.oauthbearer.client.id", "svc")
            .set("sasl.oauthbearer.client.secret", "wrong")
            .set("sasl.oauthbearer.scope", "kafka");
        let (msg, took) = first_failure(b);
        eprintln!("wrong client secret ({took:?}): {msg}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_mentions(&msg, &["invalid_client", "svc", "OAUTHBEARER"]);
        assert!(!msg.contains("wrong"), "the secret leaked: {msg}");
    });
}
