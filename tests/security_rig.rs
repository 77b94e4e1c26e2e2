//! Proves the security test rig (`tests/support/secure.rs`: stunnel, the SASL
//! proxy, certificates made with rcgen) with a client nobody here wrote:
//! librdkafka (`rdkafka`, built with its `ssl` feature) produces records through
//! each chain in front of tansu and reads them back through the same chain.
//!
//! This tests the rig, not kafka-sync's client: if these pass, a kafka-sync
//! TLS/SASL test that fails against the rig points at kafka-sync.
//!
//! - TLS with server verification against the test CA; mTLS, and a client
//!   without a certificate refused; the expired, wrong-host and untrusted server
//!   certificates refused by librdkafka's verification.
//! - SASL_PLAINTEXT with PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER
//!   (librdkafka's unsecured JWT); SASL_SSL with SCRAM-SHA-512.
//! - A wrong password and an unknown user are refused (error 58), and counted.
//! - KIP-368: with a 3 s session lifetime, librdkafka produces for 8 s and
//!   re-authenticates on its connections; no connection is closed for an
//!   expired session.

mod support;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use support::secure::{
    free_port, pairs, ProxyStats, SaslOptions, SaslSslTansu, SaslTansu, ServerCert, Stunnel, TlsOptions,
    TlsTansu, USERS,
};
use support::{read_back_with, require_broker, ConsumedRecord, Tansu};

const RECORDS: usize = 20;
/// Bounds every wait of a round trip (the happy path takes well under a second).
const TIMEOUT: Duration = Duration::from_secs(15);
/// How long a refused client may take to report why.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(10);

/// A delivery report: (key, partition, offset), or the error.
type Report = Result<(Vec<u8>, i32, i64), String>;

/// Delivery reports and client errors of one producer.
#[derive(Default)]
struct Ctx {
    reports: Mutex<Vec<Report>>,
    errors: Mutex<Vec<String>>,
}

impl ClientContext for Ctx {
    fn error(&self, error: KafkaError, reason: &str) {
        self.errors.lock().unwrap().push(format!("{error}: {reason}"));
    }
}

impl ProducerContext for Ctx {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let entry = match result {
            Ok(m) => Ok((m.key().unwrap_or_default().to_vec(), m.partition(), m.offset())),
            Err((e, _)) => Err(e.to_string()),
        };
        self.reports.lock().unwrap().push(entry);
    }
}

fn producer(bootstrap: &str, security: &[(String, String)], message_timeout: Duration) -> BaseProducer<Ctx> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", message_timeout.as_millis().to_string())
        .set("socket.timeout.ms", "10000");
    for (k, v) in security {
        config.set(k, v);
    }
    config.create_with_context(Ctx::default()).expect("create rdkafka producer")
}

fn key(i: usize) -> Vec<u8> {
    format!("key-{i}").into_bytes()
}

fn value(label: &str, i: usize) -> Vec<u8> {
    format!("{label} value {i}").into_bytes()
}

/// Sends records `range` (waiting `gap` between sends), flushes, and returns
/// key -> (partition, offset); panics on any failed delivery.
fn produce(
    label: &str,
    p: &BaseProducer<Ctx>,
    topic: &str,
    range: std::ops::Range<usize>,
    gap: Duration,
) -> BTreeMap<Vec<u8>, (i32, i64)> {
    let n = range.len();
    for i in range {
        let (k, v) = (key(i), value(label, i));
        p.send(BaseRecord::to(topic).key(&k).payload(&v))
            .unwrap_or_else(|(e, _)| panic!("{label}: send {i}: {e}"));
        p.poll(gap);
    }
    p.flush(TIMEOUT).unwrap_or_else(|e| {
        panic!("{label}: flush: {e}; client errors: {:?}", p.context().errors.lock().unwrap())
    });
    let reports = std::mem::take(&mut *p.context().reports.lock().unwrap());
    assert_eq!(reports.len(), n, "{label}: one delivery report per record");
    reports
        .into_iter()
        .map(|r| {
            let (k, part, off) = r.unwrap_or_else(|e| panic!("{label}: delivery failed: {e}"));
            (k, (part, off))
        })
        .collect()
}

/// Checks what was read back against what was delivered.
fn check(label: &str, delivered: &BTreeMap<Vec<u8>, (i32, i64)>, read: &[ConsumedRecord]) {
    assert_eq!(
        read.len(),
        delivered.len(),
        "{label}: read back {} of {} records",
        read.len(),
        delivered.len()
    );
    for r in read {
        let k = r.key.clone().expect("keyed record");
        let i: usize = std::str::from_utf8(&k).unwrap().strip_prefix("key-").unwrap().parse().unwrap();
        assert_eq!(delivered.get(&k), Some(&(r.partition, r.offset)), "{label}: key-{i} position");
        assert_eq!(r.value.as_deref(), Some(&value(label, i)[..]), "{label}: key-{i} value");
    }
}

/// Produces [`RECORDS`] records to a fresh topic through `bootstrap` with
/// `security`, then reads them back through the same chain.
fn round_trip(
    label: &str,
    bootstrap: &str,
    security: &[(String, String)],
    create_topic: impl FnOnce(&str) -> Result<(), String>,
) {
    let started = Instant::now();
    let topic = label.replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    create_topic(&topic).unwrap_or_else(|e| panic!("{label}: create topic: {e}"));
    let p = producer(bootstrap, security, TIMEOUT);
    let delivered = produce(label, &p, &topic, 0..RECORDS, Duration::ZERO);
    drop(p);
    let read = read_back_with(bootstrap, &topic, RECORDS, TIMEOUT, &pairs(security));
    check(label, &delivered, &read);
    eprintln!("{label}: {RECORDS} records produced and read back in {:?}", started.elapsed());
}

/// A producer with `security` must fail to get anywhere: it reports a client
/// error containing one of `needles` within [`REFUSAL_TIMEOUT`], and the record
/// it sent is not delivered. Returns the matching error.
fn expect_refused(label: &str, bootstrap: &str, security: &[(String, String)], needles: &[&str]) -> String {
    let started = Instant::now();
    let p = producer(bootstrap, security, REFUSAL_TIMEOUT);
    p.send(BaseRecord::to("refused").key("k").payload("v"))
        .unwrap_or_else(|(e, _)| panic!("{label}: send: {e}"));
    let deadline = Instant::now() + REFUSAL_TIMEOUT;
    let found = loop {
        p.poll(Duration::from_millis(50));
        let errors = p.context().errors.lock().unwrap().clone();
        if let Some(e) = errors.iter().find(|e| needles.iter().any(|n| e.contains(n))) {
            break e.clone();
        }
        if Instant::now() >= deadline {
            let distinct: std::collections::BTreeSet<_> = errors.iter().collect();
            panic!("{label}: no client error containing one of {needles:?} within {REFUSAL_TIMEOUT:?}; errors: {distinct:#?}");
        }
    };
    let delivered: Vec<_> =
        p.context().reports.lock().unwrap().iter().filter(|r| r.is_ok()).cloned().collect();
    assert!(delivered.is_empty(), "{label}: a refused client delivered {delivered:?}");
    eprintln!("{label}: refused after {:?}: {found}", started.elapsed());
    found
}

fn stats_of(label: &str, stats: Result<ProxyStats, String>) -> ProxyStats {
    let stats = stats.unwrap_or_else(|e| panic!("{label}: proxy stats: {e}"));
    eprintln!("{label}: proxy stats {stats:?}");
    stats
}

fn alice() -> (&'static str, &'static str) {
    USERS[0]
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

#[test]
fn tls_with_server_verification() {
    let Some(chain) = require_broker("tls_with_server_verification", TlsTansu::start()) else { return };
    let config = chain.rdkafka_config();
    assert!(config.iter().any(|(k, v)| k == "security.protocol" && v == "ssl"));
    round_trip("tls", &chain.bootstrap(), &config, |t| chain.create_topic(t, 2));
}

#[test]
fn mtls_accepts_the_client_certificate_and_refuses_none_or_an_untrusted_one() {
    let Some(chain) = require_broker("mtls", TlsTansu::start_with(TlsOptions::mtls())) else { return };
    let config = chain.rdkafka_config();
    assert!(config.iter().any(|(k, _)| k == "ssl.certificate.location"));
    round_trip("mtls", &chain.bootstrap(), &config, |t| chain.create_topic(t, 1));

    // The same key, encrypted (PKCS#8, PBES2): what `ssl.key.password` is for.
    let encrypted =
        chain.certs.encrypted_key(&chain.certs.client.key, "key-secret").expect("encrypt the key");
    assert!(encrypted.pem.contains("BEGIN ENCRYPTED PRIVATE KEY"), "{}", encrypted.pem);
    let mut with_encrypted_key: Vec<(String, String)> =
        config.iter().filter(|(k, _)| k != "ssl.key.location").cloned().collect();
    with_encrypted_key.push(("ssl.key.location".into(), encrypted.path.display().to_string()));
    with_encrypted_key.push(("ssl.key.password".into(), "key-secret".into()));
    round_trip("mtls encrypted key", &chain.bootstrap(), &with_encrypted_key, |t| chain.create_topic(t, 1));

    // No client certificate: stunnel ends the handshake.
    let no_cert: Vec<(String, String)> = config
        .iter()
        .filter(|(k, _)| !k.starts_with("ssl.certificate") && !k.starts_with("ssl.key"))
        .cloned()
        .collect();
    // TLS 1.3: the client finishes its side of the handshake, then gets
    // stunnel's "certificate required" alert on its first read.
    let refused = ["certificate required"];
    let stunnel_log = || std::fs::read_to_string(chain.stunnel.log_path()).unwrap_or_default();
    let rejections = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("peer did not return a certificate") || l.contains("Rejected by CERT"))
            .map(String::from)
            .collect()
    };
    expect_refused("mtls without a client certificate", &chain.bootstrap(), &no_cert, &refused);
    let seen = rejections(&stunnel_log()).len();
    assert!(seen > 0, "stunnel logged no rejected client:\n{}", stunnel_log());

    // A client certificate from a CA stunnel does not trust.
    let untrusted: Vec<(String, String)> = no_cert
        .iter()
        .cloned()
        .chain([
            ("ssl.certificate.location".into(), chain.certs.untrusted_client.cert.path.display().to_string()),
            ("ssl.key.location".into(), chain.certs.untrusted_client.key.path.display().to_string()),
        ])
        .collect();
    expect_refused("mtls with an untrusted client certificate", &chain.bootstrap(), &untrusted, &refused);
    // librdkafka's OpenSSL does not even send a certificate whose issuer is
    // not among the CA names in stunnel's CertificateRequest ("peer did not
    // return a certificate"); a client that sends it anyway (openssl s_client,
    // rustls) gets "Rejected by CERT ... unable to get local issuer certificate".
    assert!(rejections(&stunnel_log()).len() > seen, "stunnel logged no rejected client:\n{}", stunnel_log());
}

/// The bad server certificates really are bad, as an independent TLS client
/// (librdkafka with OpenSSL, verifying the host name) sees them: stunnel in
/// front of one tansu with each of them.
#[test]
fn bad_server_certificates_are_refused() {
    let Some(tansu) = require_broker("bad_server_certificates", Tansu::start()) else { return };
    let Some(certs) = require_broker("bad_server_certificates", support::secure::Certs::generate()) else {
        return;
    };
    let config = vec![
        ("security.protocol".to_string(), "ssl".to_string()),
        ("ssl.ca.location".to_string(), certs.ca.path.display().to_string()),
    ];
    // The TLS alert librdkafka (OpenSSL) sends, as stunnel logs it: each
    // certificate is refused for its own reason.
    for (which, alert) in [
        (ServerCert::Expired, "alert certificate expired"),
        (ServerCert::WrongHost, "alert bad certificate"),
        (ServerCert::UntrustedCa, "alert unknown ca"),
    ] {
        let start =
            free_port().and_then(|port| Stunnel::start(port, tansu.port(), certs.server_cert(which), None));
        let Some(stunnel) = require_broker("bad_server_certificates", start) else { return };
        let label = format!("server certificate {which:?}");
        expect_refused(&label, &stunnel.bootstrap(), &config, &["certificate verify failed"]);
        let log = std::fs::read_to_string(stunnel.log_path()).unwrap_or_default();
        let alerts: Vec<&str> = log.lines().filter(|l| l.contains(" alert ")).collect();
        assert!(
            !alerts.is_empty() && alerts.iter().all(|l| l.contains(alert)),
            "{label}: stunnel should log the client's '{alert}', it logged {alerts:#?}"
        );
    }

    // The chain with a bad certificate still creates topics (without
    // verification), for tests that then expect a verifying client to fail.
    let options = TlsOptions { server_cert: ServerCert::Expired, ..TlsOptions::default() };
    let Some(chain) = require_broker("bad_server_certificates", TlsTansu::start_with(options)) else {
        return;
    };
    chain.create_topic("expired", 1).expect("create a topic behind the expired certificate");
    expect_refused(
        "TlsTansu with the expired certificate",
        &chain.bootstrap(),
        &chain.rdkafka_config(),
        &["certificate verify failed"],
    );
}

// ---------------------------------------------------------------------------
// SASL
// ---------------------------------------------------------------------------

#[test]
fn sasl_plaintext_with_every_mechanism() {
    let Some(chain) = require_broker("sasl_plaintext", SaslTansu::start(SaslOptions::default())) else {
        return;
    };
    let (user, password) = alice();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] {
        let config = chain.rdkafka_config(mechanism, user, password);
        round_trip(&format!("sasl_plaintext {mechanism}"), &chain.bootstrap(), &config, |t| {
            chain.create_topic(t, 2)
        });
    }
    let stats = stats_of("sasl_plaintext", chain.stats());
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] {
        assert!(
            stats.authentications_by_mechanism.get(mechanism).copied().unwrap_or(0) >= 2,
            "{mechanism}: a producer and a consumer authenticated: {stats:?}"
        );
    }
    assert_eq!(stats.failed_authentications, 0, "{stats:?}");
    assert_eq!(stats.reauthentications, 0, "no session lifetime, no re-authentication: {stats:?}");
}

#[test]
fn sasl_ssl_with_scram_sha_512() {
    let Some(chain) = require_broker(
        "sasl_ssl",
        SaslSslTansu::start(SaslOptions::with_mechanisms(&["SCRAM-SHA-512"]), TlsOptions::default()),
    ) else {
        return;
    };
    let (user, password) = alice();
    let config = chain.rdkafka_config("SCRAM-SHA-512", user, password);
    assert!(config.iter().any(|(k, v)| k == "security.protocol" && v == "sasl_ssl"));
    round_trip("sasl_ssl SCRAM-SHA-512", &chain.bootstrap(), &config, |t| chain.create_topic(t, 2));
    let stats = stats_of("sasl_ssl", chain.stats());
    assert!(stats.authentications_by_mechanism.get("SCRAM-SHA-512").copied().unwrap_or(0) >= 2, "{stats:?}");
    assert_eq!(stats.failed_authentications, 0, "{stats:?}");
}

#[test]
fn wrong_credentials_are_refused() {
    let Some(chain) = require_broker("wrong_credentials", SaslTansu::start(SaslOptions::default())) else {
        return;
    };
    let (user, _) = alice();
    let mut refusals = 0;
    for (mechanism, user, password) in [
        ("SCRAM-SHA-256", user, "not-the-password"),
        ("PLAIN", user, "not-the-password"),
        ("SCRAM-SHA-512", "mallory", "whatever"),
    ] {
        let label = format!("{mechanism} as {user}");
        let config = chain.rdkafka_config(mechanism, user, password);
        let error = expect_refused(&label, &chain.bootstrap(), &config, &["Authentication failed"]);
        assert!(error.contains(&format!("'{user}'")), "{label}: the error names the user: {error}");
        refusals += 1;
    }
    let stats = stats_of("wrong_credentials", chain.stats());
    assert!(stats.failed_authentications >= refusals, "{stats:?}");
    assert_eq!(stats.authentications, 0, "nobody got in: {stats:?}");
}

/// KIP-368: the proxy reports a 3 s session lifetime; librdkafka (2.x)
/// re-authenticates at 90% of it on every connection while producing for 8 s.
/// A connection that sent a request after its session expired would be closed
/// and counted.
#[test]
fn librdkafka_reauthenticates_before_the_session_expires() {
    const LIFETIME_MS: u64 = 3000;
    const PRODUCE_FOR: Duration = Duration::from_secs(8);
    const GAP: Duration = Duration::from_millis(100);
    let Some(chain) =
        require_broker("reauthentication", SaslTansu::start(SaslOptions::with_session_lifetime(LIFETIME_MS)))
    else {
        return;
    };
    let setup = Instant::now();
    let (user, password) = alice();
    let config = chain.rdkafka_config("SCRAM-SHA-256", user, password);
    let topic = "reauth";
    chain.create_topic(topic, 1).unwrap();
    eprintln!("reauth: topic created in {:?}", setup.elapsed());
    let before = stats_of("reauthentication before", chain.stats());

    let started = Instant::now();
    let p = producer(&chain.bootstrap(), &config, TIMEOUT);
    let mut delivered = BTreeMap::new();
    let mut sent = 0;
    while started.elapsed() < PRODUCE_FOR {
        // In small batches, flushing each, so every batch is acknowledged.
        delivered.extend(produce("reauth", &p, topic, sent..sent + 10, GAP));
        sent += 10;
    }
    let after_producing = stats_of("reauthentication after producing", chain.stats());
    drop(p);
    assert_eq!(delivered.len(), sent);
    let reading = Instant::now();
    let read = read_back_with(&chain.bootstrap(), topic, sent, TIMEOUT, &pairs(&config));
    check("reauth", &delivered, &read);
    eprintln!("reauth: read back in {:?}", reading.elapsed());

    let reauths = after_producing.reauthentications - before.reauthentications;
    let most = after_producing.reauthentications_per_connection.values().copied().max().unwrap_or(0);
    assert!(
        most >= 2,
        "librdkafka re-authenticated at most {most} times on one connection in {PRODUCE_FOR:?} \
         with a {LIFETIME_MS} ms session: {after_producing:?}"
    );
    assert_eq!(after_producing.expired_session_closes, 0, "a session expired: {after_producing:?}");
    assert_eq!(after_producing.failed_authentications, 0, "{after_producing:?}");
    // Re-authentication kept the connection: the producer opened its two once
    // (librdkafka closes the bootstrap one after the first metadata; broker
    // 111's is the one that re-authenticates).
    let opened = after_producing.connections - before.connections;
    assert!(opened <= 2, "the producer opened {opened} connections (reconnects?): {after_producing:?}");
    eprintln!(
        "reauth: {sent} records in {:?}, {reauths} re-authentications on {opened} connections",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// The proxy's wire formats, decoded by an independent codec
// ---------------------------------------------------------------------------

mod wire {
    //! A bare Kafka client on a socket: requests encoded and responses decoded
    //! by the `kafka-protocol` crate (generated from Kafka's JSON schemas), for
    //! the versions and paths librdkafka does not use (ApiVersions v0-v4,
    //! SaslAuthenticate v0 and v2, SaslHandshake v0, acks=0 Produce).

    use std::io::{ErrorKind, Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    use bytes::{Buf, Bytes, BytesMut};
    use kafka_protocol::messages::{RequestHeader, ResponseHeader};
    use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

    pub struct Wire {
        stream: TcpStream,
        correlation_id: i32,
    }

    impl Wire {
        pub fn connect(port: u16) -> Wire {
            let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the proxy");
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            Wire { stream, correlation_id: 0 }
        }

        /// Sends `request` at `version`; returns its correlation id.
        pub fn send<R: Request>(&mut self, request: &R, version: i16) -> i32 {
            self.correlation_id += 1;
            let header = RequestHeader::default()
                .with_request_api_key(R::KEY)
                .with_request_api_version(version)
                .with_correlation_id(self.correlation_id)
                .with_client_id(Some(StrBytes::from_static_str("security-rig")));
            let mut buf = BytesMut::new();
            header.encode(&mut buf, R::header_version(version)).expect("encode header");
            request.encode(&mut buf, version).expect("encode request");
            let mut frame = (buf.len() as i32).to_be_bytes().to_vec();
            frame.extend_from_slice(&buf);
            self.stream.write_all(&frame).expect("write request");
            self.correlation_id
        }

        /// Reads the response to the last request, decoded at `version`; every
        /// byte of it must be consumed.
        pub fn recv<R: Request>(&mut self, version: i16) -> R::Response {
            let mut size = [0u8; 4];
            self.stream.read_exact(&mut size).expect("read response size");
            let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
            self.stream.read_exact(&mut body).expect("read response");
            let mut bytes = Bytes::from(body);
            let header = ResponseHeader::decode(&mut bytes, R::Response::header_version(version))
                .expect("decode header");
            assert_eq!(header.correlation_id, self.correlation_id, "correlation id");
            let response = R::Response::decode(&mut bytes, version).expect("decode response");
            assert_eq!(bytes.remaining(), 0, "key {} v{version}: trailing bytes in the response", R::KEY);
            response
        }

        pub fn call<R: Request>(&mut self, request: &R, version: i16) -> R::Response {
            self.send(request, version);
            self.recv::<R>(version)
        }

        /// Whether the proxy closed the connection (EOF or reset within 5 s,
        /// without sending anything).
        pub fn closed(&mut self) -> bool {
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut buf = [0u8; 64];
            loop {
                match self.stream.read(&mut buf) {
                    Ok(0) => return true,
                    Ok(n) => panic!("expected the connection closed, got {n} bytes"),
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        if Instant::now() >= deadline {
                            return false;
                        }
                    }
                    Err(e) => panic!("reading: {e}"),
                }
            }
        }
    }
}

#[test]
fn proxy_wire_formats_decode_with_kafka_protocol() {
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{
        ApiVersionsRequest, MetadataRequest, ProduceRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
        TopicName,
    };
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    use wire::Wire;

    const LIFETIME_MS: u64 = 1000;
    let options = SaslOptions {
        mechanisms: vec!["PLAIN".into(), "SCRAM-SHA-256".into(), "OAUTHBEARER".into()],
        ..SaslOptions::with_session_lifetime(LIFETIME_MS)
    };
    let Some(chain) = require_broker("proxy_wire_formats", SaslTansu::start(options)) else { return };
    let port = chain.proxy.port();
    let (user, password) = alice();
    let plain = |password: &str| Bytes::from(format!("\0{user}\0{password}").into_bytes());
    let handshake =
        |m: &'static str| SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(m));
    let software = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("security-rig"))
        .with_client_software_version(StrBytes::from_static_str("1"));

    // ApiVersions v0-v4 (v3+ flexible), one connection each (Kafka allows one
    // successful ApiVersions before SaslHandshake): SASL APIs advertised, and
    // the broker's own APIs kept.
    for version in 0..=4 {
        let mut w = Wire::connect(port);
        let r = w.call(&software, version);
        assert_eq!(r.error_code, 0, "ApiVersions v{version}");
        let find =
            |key: i16| r.api_keys.iter().find(|k| k.api_key == key).map(|k| (k.min_version, k.max_version));
        assert_eq!(find(17), Some((0, 1)), "ApiVersions v{version}: SaslHandshake");
        assert_eq!(find(36), Some((0, 2)), "ApiVersions v{version}: SaslAuthenticate");
        assert!(
            find(0).is_some() && find(3).is_some(),
            "ApiVersions v{version}: tansu's Produce and Metadata"
        );
        let mut keys: Vec<i16> = r.api_keys.iter().map(|k| k.api_key).collect();
        keys.dedup();
        assert_eq!(keys.len(), r.api_keys.len(), "ApiVersions v{version}: each key once, in order");
        // A second ApiVersions before authenticating closes the connection, as in Kafka.
        w.send(&software, version);
        assert!(w.closed(), "a second ApiVersions");
    }

    // Before authentication, anything but 17/18/36 closes the connection.
    let mut w = Wire::connect(port);
    w.send(&MetadataRequest::default(), 1);
    assert!(w.closed(), "Metadata before authentication");

    // An unknown mechanism: error 33 with the enabled ones, then closed.
    let mut w = Wire::connect(port);
    let r = w.call(&handshake("GSSAPI"), 1);
    assert_eq!(r.error_code, 33);
    let enabled: Vec<String> = r.mechanisms.iter().map(|m| m.to_string()).collect();
    assert_eq!(enabled, ["PLAIN", "SCRAM-SHA-256", "OAUTHBEARER"]);
    assert!(w.closed(), "after UNSUPPORTED_SASL_MECHANISM");

    // SaslHandshake v0 (raw tokens) is not supported: closed.
    let mut w = Wire::connect(port);
    w.send(&handshake("PLAIN"), 0);
    assert!(w.closed(), "SaslHandshake v0");

    // A wrong password over SaslAuthenticate v0: error 58 naming the user, closed.
    let mut w = Wire::connect(port);
    assert_eq!(w.call(&handshake("PLAIN"), 1).error_code, 0);
    let r = w.call(&SaslAuthenticateRequest::default().with_auth_bytes(plain("wrong")), 0);
    assert_eq!(r.error_code, 58);
    let message = r.error_message.map(|m| m.to_string()).unwrap_or_default();
    assert!(message.contains(&format!("'{user}'")), "{message}");
    assert!(w.closed(), "after SASL_AUTHENTICATION_FAILED");

    // OAUTHBEARER (RFC 7628) with an expired unsecured token: the error comes
    // back as a challenge, the client answers %x01, then error 58 and closed.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let bearer = |exp: f64| {
        let token = format!(
            "{}.{}.",
            base64url(br#"{"alg":"none"}"#),
            base64url(format!(r#"{{"sub":"{user}","iat":{},"exp":{exp}}}"#, now.floor() - 1.0).as_bytes())
        );
        Bytes::from(format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes())
    };
    let mut w = Wire::connect(port);
    assert_eq!(w.call(&handshake("OAUTHBEARER"), 1).error_code, 0);
    let r = w.call(&SaslAuthenticateRequest::default().with_auth_bytes(bearer(now - 10.0)), 1);
    assert_eq!((r.error_code, &r.auth_bytes[..]), (0, &br#"{"status":"invalid_token"}"#[..]), "{r:?}");
    let r = w.call(&SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\x01")), 1);
    assert_eq!(r.error_code, 58, "{r:?}");
    let message = r.error_message.map(|m| m.to_string()).unwrap_or_default();
    assert!(message.contains("invalid_token") && message.contains(&format!("'{user}'")), "{message}");
    assert!(w.closed(), "after the failed OAUTHBEARER exchange");
    // A valid token that expires in half a second: the session ends with it.
    let mut w = Wire::connect(port);
    assert_eq!(w.call(&handshake("OAUTHBEARER"), 1).error_code, 0);
    let r = w.call(&SaslAuthenticateRequest::default().with_auth_bytes(bearer(now + 0.5)), 1);
    assert_eq!(r.error_code, 0, "{r:?}");
    assert!(
        r.session_lifetime_ms > 0 && r.session_lifetime_ms <= 500,
        "the token's remaining lifetime, below the configured {LIFETIME_MS} ms: {r:?}"
    );

    // The full exchange with SaslAuthenticate v2 (flexible), a forwarded
    // Metadata, an acks=0 Produce v9 (flexible header, no response), then
    // re-authentication (which must not wait for a response to the Produce).
    chain.create_topic("wire", 1).unwrap();
    let mut w = Wire::connect(port);
    assert_eq!(w.call(&software, 3).error_code, 0);
    assert_eq!(w.call(&handshake("PLAIN"), 1).error_code, 0);
    let r = w.call(&SaslAuthenticateRequest::default().with_auth_bytes(plain(password)), 2);
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, LIFETIME_MS as i64), "{r:?}");
    let md = w.call(&MetadataRequest::default(), 1);
    assert_eq!(
        md.brokers.iter().map(|b| b.port).collect::<Vec<_>>(),
        vec![port as i32],
        "tansu advertises the proxy"
    );
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: Some(Bytes::from_static(b"acks0")),
        value: Some(Bytes::from_static(b"no response")),
        headers: Default::default(),
    };
    let mut batch = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut batch,
        &[record],
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )
    .unwrap();
    let produce = ProduceRequest::default().with_acks(0).with_timeout_ms(5000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("wire")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch.freeze()))]),
    ]);
    w.send(&produce, 9);
    assert_eq!(w.call(&handshake("PLAIN"), 1).error_code, 0, "re-authentication handshake");
    let r = w.call(&SaslAuthenticateRequest::default().with_auth_bytes(plain(password)), 1);
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, LIFETIME_MS as i64), "{r:?}");
    w.call(&MetadataRequest::default(), 1);
    // Past the session's end, a request other than a re-authentication closes it.
    std::thread::sleep(Duration::from_millis(LIFETIME_MS + 300));
    w.send(&MetadataRequest::default(), 1);
    assert!(w.closed(), "a request after the session expired");

    let stats = stats_of("proxy_wire_formats", chain.stats());
    assert_eq!(stats.expired_session_closes, 1, "{stats:?}");
    assert!(stats.reauthentications_per_connection.values().any(|&n| n == 1), "{stats:?}");
    assert_eq!(stats.failed_authentications, 3, "GSSAPI, the wrong password, the expired token: {stats:?}");
    let (_, password) = alice();
    let config = chain.rdkafka_config("PLAIN", user, password);
    let read = read_back_with(&chain.bootstrap(), "wire", 1, TIMEOUT, &pairs(&config));
    assert_eq!(read.len(), 1, "the acks=0 record reached tansu");
    assert_eq!(read[0].value.as_deref(), Some(&b"no response"[..]));
}

/// Base64url without padding (RFC 4648 section 5), for JWS segments.
fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn base64url_matches_rfc_4648() {
    // RFC 4648 section 10, in the URL alphabet and without padding.
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg"),
        ("fo", "Zm8"),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg"),
        ("fooba", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64url(plain.as_bytes()), encoded);
    }
    assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
}
