//! TLS listeners and SASL for the mock cluster: the public configuration
//! ([`MockSecurity`]) and counters ([`SaslStats`]), the server side of TLS
//! (rustls, feature `tls`), and the hooks the connection threads use for
//! SASL (the exchange itself is in [`sasl`](super::sasl), feature `sasl`).

use std::fmt;
use std::io;
#[cfg(feature = "sasl")]
use std::sync::atomic::Ordering;
#[cfg(any(feature = "tls", feature = "sasl"))]
use std::sync::Arc;
#[cfg(feature = "sasl")]
use std::time::Duration;

#[cfg(feature = "sasl")]
pub(crate) use super::sasl::{SaslServer, Session};
use super::MockCluster;
#[cfg(feature = "sasl")]
use crate::config::SaslMechanism;
use crate::config::SecurityProtocol;

/// How a mock cluster's listeners are secured: TLS (feature `tls`), SASL
/// (feature `sasl`), both, or neither. Given to
/// [`MockCluster::start_secured`]; [`MockCluster::start`] is the same with
/// `MockSecurity::new()` (plain TCP, no authentication).
///
/// Every broker of the cluster gets the same listener, as one Kafka listener
/// (`SSL`, `SASL_PLAINTEXT` or `SASL_SSL`): [`protocol`](Self::protocol)
/// says what `security.protocol` clients should set. `Debug` shows no
/// password or key.
///
/// # TLS
///
/// [`tls`](Self::tls) takes the brokers' certificate chain and private key
/// (PEM, e.g. made with `rcgen` at test time; clients connect to
/// `127.0.0.1`, so a certificate that should pass hostname verification
/// names that IP address). rustls with the ring provider serves TLS 1.2 and
/// 1.3. [`client_ca`](Self::client_ca) requires client certificates signed
/// by that CA (mTLS): a client without one fails the handshake (TLS 1.3
/// clients learn it from an alert at their first read). A failed handshake
/// closes the connection and is logged at info level.
///
/// # SASL
///
/// [`sasl`](Self::sasl) enables mechanisms (`PLAIN`, `SCRAM-SHA-256`,
/// `SCRAM-SHA-512`, `OAUTHBEARER`), as a Kafka SASL listener does:
///
/// - ApiVersions advertises SaslHandshake (17) v0-1 and SaslAuthenticate
///   (36) v0-2 ([`MockCluster::set_api_versions`] may narrow them; without
///   SASL they are neither advertised nor served). A SaslHandshake v0 (raw
///   tokens after it) closes the connection.
/// - Until a connection authenticates, only ApiVersions (before the
///   handshake), SaslHandshake and SaslAuthenticate are allowed; any other
///   request closes it, as do requests out of turn and frames over 512 KiB
///   (Kafka's `sasl.server.max.receive.size`).
/// - A mechanism that is not enabled gets `UNSUPPORTED_SASL_MECHANISM` with
///   the enabled list, then the connection is closed.
/// - Bad credentials get `SASL_AUTHENTICATION_FAILED` with a message naming
///   the user (never the password or token), then the connection is closed.
/// - PLAIN and SCRAM check the [`user`](Self::user)s' passwords; SCRAM
///   credentials are derived at start (4096 iterations, random salts) and
///   the server proves it knows them (`v=`).
/// - OAUTHBEARER accepts unsecured JWTs (`alg: none`, as Java's and
///   librdkafka's `unsecure.jwt` tokens): the payload's `sub` must be one
///   of the [`oauthbearer_principal`](Self::oauthbearer_principal)s (any,
///   if none were given) and its `exp` (seconds since the epoch) must not
///   have passed. The session lasts no longer than the token.
/// - With a [`session_lifetime`](Self::session_lifetime) (changeable with
///   [`MockCluster::set_session_lifetime`]), SaslAuthenticate v1+ reports
///   it (KIP-368) and a request other than SaslHandshake or
///   SaslAuthenticate arriving after the session expired closes the
///   connection, as Kafka does. A new SaslHandshake + SaslAuthenticate on an
///   authenticated connection re-authenticates it (same mechanism and
///   principal) and starts a new session.
///
/// [`MockCluster::sasl_stats`] counts authentications, re-authentications,
/// failures and connections closed for an expired session.
///
/// ```
/// # #[cfg(feature = "sasl")] {
/// use std::time::Duration;
/// use kafka_sync::mock::{MockCluster, MockSecurity};
/// use kafka_sync::SaslMechanism;
///
/// let security = MockSecurity::new()
///     .sasl(&[SaslMechanism::Plain, SaslMechanism::ScramSha512])
///     .user("alice", "alice-secret")
///     .session_lifetime(Duration::from_secs(1));
/// let cluster = MockCluster::start_secured(1, security).unwrap();
/// assert_eq!(cluster.security_protocol().name(), "SASL_PLAINTEXT");
/// // ... a producer with security.protocol=SASL_PLAINTEXT, sasl.mechanism=PLAIN,
/// // sasl.username=alice, sasl.password=alice-secret
/// # }
/// ```
// The links to the TLS and SASL methods resolve when those features are on.
#[cfg_attr(not(all(feature = "tls", feature = "sasl")), allow(rustdoc::broken_intra_doc_links))]
#[derive(Clone, Default)]
pub struct MockSecurity {
    #[cfg(feature = "tls")]
    tls: Option<(String, String)>,
    #[cfg(feature = "tls")]
    client_ca: Option<String>,
    #[cfg(feature = "sasl")]
    pub(super) sasl: SaslConfig,
}

/// What [`MockSecurity`] says about SASL.
#[cfg(feature = "sasl")]
#[derive(Clone, Default)]
pub(super) struct SaslConfig {
    pub mechanisms: Vec<SaslMechanism>,
    /// (name, password).
    pub users: Vec<(String, String)>,
    pub principals: Vec<String>,
    pub session_lifetime: Option<Duration>,
}

impl fmt::Debug for MockSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("MockSecurity");
        d.field("protocol", &self.protocol());
        #[cfg(feature = "tls")]
        d.field("client_certificates_required", &self.client_ca.is_some());
        #[cfg(feature = "sasl")]
        {
            let users: Vec<&str> = self.sasl.users.iter().map(|(u, _)| u.as_str()).collect();
            d.field("mechanisms", &self.sasl.mechanisms)
                .field("users", &users)
                .field("principals", &self.sasl.principals)
                .field("session_lifetime", &self.sasl.session_lifetime);
        }
        d.finish()
    }
}

impl MockSecurity {
    /// Plain TCP, no authentication: what [`MockCluster::start`] uses.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves TLS with this certificate chain (PEM, the brokers'
    /// certificate first) and private key (PEM: PKCS#8, PKCS#1 or SEC1).
    /// They are parsed by [`MockCluster::start_secured`], which fails with
    /// `InvalidInput` if they are not usable.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, cert_chain_pem: impl Into<String>, key_pem: impl Into<String>) -> Self {
        self.tls = Some((cert_chain_pem.into(), key_pem.into()));
        self
    }

    /// Requires client certificates signed by one of these CAs (PEM): mTLS.
    /// Needs [`tls`](Self::tls).
    #[cfg(feature = "tls")]
    pub fn client_ca(mut self, ca_pem: impl Into<String>) -> Self {
        self.client_ca = Some(ca_pem.into());
        self
    }

    /// Enables SASL with these mechanisms (replacing any enabled before).
    #[cfg(feature = "sasl")]
    pub fn sasl(mut self, mechanisms: &[SaslMechanism]) -> Self {
        self.sasl.mechanisms = mechanisms.to_vec();
        self.sasl.mechanisms.dedup();
        self
    }

    /// Adds a PLAIN and SCRAM user (a later call for the same name replaces
    /// the password).
    #[cfg(feature = "sasl")]
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        let name = name.into();
        self.sasl.users.retain(|(u, _)| *u != name);
        self.sasl.users.push((name, password.into()));
        self
    }

    /// Adds a principal OAUTHBEARER tokens may name (`sub`). With none,
    /// any principal is accepted.
    #[cfg(feature = "sasl")]
    pub fn oauthbearer_principal(mut self, principal: impl Into<String>) -> Self {
        self.sasl.principals.push(principal.into());
        self
    }

    /// Makes SASL sessions expire after `lifetime` (Kafka's
    /// `connections.max.reauth.ms`). Defaults to no expiry (for OAUTHBEARER,
    /// the token's expiry still bounds the session). Rounded down to
    /// milliseconds, at least 1 ms.
    #[cfg(feature = "sasl")]
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.sasl.session_lifetime = Some(lifetime);
        self
    }

    /// The `security.protocol` clients must use: `PLAINTEXT`, `SSL`,
    /// `SASL_PLAINTEXT` or `SASL_SSL`.
    pub fn protocol(&self) -> SecurityProtocol {
        #[cfg(feature = "tls")]
        let tls = self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls = false;
        #[cfg(feature = "sasl")]
        let sasl = !self.sasl.mechanisms.is_empty();
        #[cfg(not(feature = "sasl"))]
        let sasl = false;
        match (tls, sasl) {
            (false, false) => SecurityProtocol::Plaintext,
            (true, false) => SecurityProtocol::Ssl,
            (false, true) => SecurityProtocol::SaslPlaintext,
            (true, true) => SecurityProtocol::SaslSsl,
        }
    }
}

/// SASL counters of a mock cluster, from [`MockCluster::sasl_stats`]. All
/// zero (and no principals) without SASL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SaslStats {
    /// Successful first authentications of a connection.
    pub authentications: u64,
    /// Successful re-authentications of an authenticated connection (KIP-368).
    pub reauthentications: u64,
    /// Failed authentications and re-authentications (bad credentials or
    /// token, unknown user, unsupported mechanism, a malformed exchange).
    pub failed_authentications: u64,
    /// Connections closed because a request arrived after their session expired.
    pub expired_sessions_closed: u64,
    /// `(broker id, principal)` of every open authenticated connection.
    pub principals: Vec<(i32, String)>,
}

/// The listener configuration every connection of the cluster gets, made
/// from a [`MockSecurity`] at start.
#[derive(Debug, Default)]
pub(crate) struct Listener {
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ServerConfig>>,
    #[cfg(feature = "sasl")]
    pub sasl: Option<Arc<SaslServer>>,
    protocol: SecurityProtocol,
}

/// An `InvalidInput` error about the mock's security settings.
#[cfg(any(feature = "tls", feature = "sasl"))]
fn invalid(what: impl fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("mock cluster security: {what}"))
}

impl Listener {
    /// Checks `s`, parses its certificates and derives its credentials.
    pub(crate) fn build(s: &MockSecurity) -> io::Result<Self> {
        #[allow(unused_mut, clippy::needless_update)] // the rest exists with feature `tls` or `sasl`
        let mut l = Listener { protocol: s.protocol(), ..Listener::default() };
        #[cfg(feature = "tls")]
        {
            match (&s.tls, &s.client_ca) {
                (Some((chain, key)), ca) => l.tls = Some(server_config(chain, key, ca.as_deref())?),
                (None, Some(_)) => return Err(invalid("a client CA needs TLS (MockSecurity::tls)")),
                (None, None) => {}
            }
        }
        #[cfg(feature = "sasl")]
        {
            let c = &s.sasl;
            if !c.mechanisms.is_empty() {
                l.sasl = Some(Arc::new(SaslServer::new(c)?));
            } else if !c.users.is_empty() || !c.principals.is_empty() || c.session_lifetime.is_some() {
                return Err(invalid(
                    "users, principals or a session lifetime need SASL (MockSecurity::sasl)",
                ));
            }
        }
        Ok(l)
    }

    /// The `security.protocol` of the listener.
    pub(crate) fn protocol(&self) -> SecurityProtocol {
        self.protocol
    }

    /// Whether connections authenticate with SASL.
    pub(crate) fn sasl_enabled(&self) -> bool {
        self.protocol.uses_sasl()
    }

    /// A new connection's SASL state, when SASL is on.
    pub(crate) fn session(&self) -> Option<Session> {
        #[cfg(feature = "sasl")]
        {
            self.sasl.as_ref().map(|s| Session::new(Arc::clone(s)))
        }
        #[cfg(not(feature = "sasl"))]
        {
            None
        }
    }
}

/// Without the `sasl` feature there is never a SASL session: this type has
/// no values, and its methods cannot be called.
#[cfg(not(feature = "sasl"))]
#[derive(Debug)]
pub(crate) enum Session {}

#[cfg(not(feature = "sasl"))]
impl Session {
    pub(crate) fn admit(&mut self, _api: i16, _now: std::time::Instant) -> Result<(), &'static str> {
        match *self {}
    }

    pub(crate) fn max_frame(&self, _authenticated: usize) -> usize {
        match *self {}
    }

    pub(crate) fn handle(
        &mut self,
        _h: &crate::protocol::header::RequestHeader,
        _body: &crate::protocol::messages::RequestBody,
        _injected: Option<crate::KafkaCode>,
    ) -> (Option<crate::protocol::messages::ResponseBody>, super::state::Then) {
        match *self {}
    }

    pub(crate) fn principal(&self) -> Option<&str> {
        match *self {}
    }
}

/// The rustls server configuration: TLS 1.2 and 1.3 with ring, optionally
/// requiring client certificates signed by `client_ca`.
#[cfg(feature = "tls")]
fn server_config(chain: &str, key: &str, client_ca: Option<&str>) -> io::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use rustls::server::WebPkiClientVerifier;

    let certs = |pem: &str, what: &str| -> io::Result<Vec<CertificateDer<'static>>> {
        let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format_args!("the {what} is not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(invalid(format_args!("the {what} holds no certificate")));
        }
        Ok(certs)
    };
    let chain = certs(chain, "certificate chain")?;
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|e| invalid(format_args!("no usable private key in the key PEM: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(invalid)?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(ca, "client CA")? {
                roots.add(c).map_err(|e| invalid(format_args!("unusable client CA: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| invalid(format_args!("client certificate verifier: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| invalid(format_args!("the certificate and key do not make a TLS server: {e}")))?;
    Ok(Arc::new(config))
}

/// How long a TLS handshake may take before the connection is dropped.
#[cfg(feature = "tls")]
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs the server side of a TLS handshake on a freshly accepted socket.
/// On failure rustls has sent the client an alert where it could.
#[cfg(feature = "tls")]
pub(crate) fn tls_accept(
    config: &Arc<rustls::ServerConfig>,
    mut tcp: std::net::TcpStream,
) -> io::Result<rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>> {
    let mut conn = rustls::ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
    tcp.set_read_timeout(Some(TLS_HANDSHAKE_TIMEOUT))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    // TLS 1.3 session tickets may still be queued: send them now.
    while conn.wants_write() {
        conn.write_tls(&mut tcp)?;
    }
    tcp.set_read_timeout(None)?;
    Ok(rustls::StreamOwned::new(conn, tcp))
}

impl MockCluster {
    /// Starts a cluster of `brokers` brokers like [`start`](Self::start),
    /// with listeners secured as `security` says (TLS, SASL: see
    /// [`MockSecurity`]).
    ///
    /// Fails with `InvalidInput` for a bad broker count or unusable
    /// settings (PEM that does not parse, a client CA without TLS, users
    /// without SASL), or with the error of binding a listener or starting a
    /// thread.
    pub fn start_secured(brokers: usize, security: MockSecurity) -> io::Result<MockCluster> {
        Self::start_with(brokers, Listener::build(&security)?)
    }

    /// The `security.protocol` clients of this cluster must use.
    pub fn security_protocol(&self) -> SecurityProtocol {
        self.shared.security.protocol()
    }

    /// Changes the SASL session lifetime (`None`: sessions do not expire)
    /// for authentications from now on; sessions already granted keep their
    /// expiry. Does nothing on a cluster without SASL.
    #[cfg(feature = "sasl")]
    pub fn set_session_lifetime(&self, lifetime: Option<Duration>) {
        if let Some(s) = &self.shared.security.sasl {
            s.set_session_lifetime(lifetime);
        }
    }

    /// The SASL counters, and the principal of every open authenticated
    /// connection.
    pub fn sasl_stats(&self) -> SaslStats {
        #[allow(unused_mut)]
        let mut stats = SaslStats { principals: self.shared.principals(), ..SaslStats::default() };
        #[cfg(feature = "sasl")]
        if let Some(s) = &self.shared.security.sasl {
            let c = &s.counters;
            stats.authentications = c.authentications.load(Ordering::Relaxed);
            stats.reauthentications = c.reauthentications.load(Ordering::Relaxed);
            stats.failed_authentications = c.failed.load(Ordering::Relaxed);
            stats.expired_sessions_closed = c.expired.load(Ordering::Relaxed);
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_follows_the_settings() {
        assert_eq!(MockSecurity::new().protocol(), SecurityProtocol::Plaintext);
        #[cfg(feature = "sasl")]
        {
            let s = MockSecurity::new().sasl(&[SaslMechanism::Plain]).user("u", "hunter2");
            assert_eq!(s.protocol(), SecurityProtocol::SaslPlaintext);
            let debug = format!("{s:?}");
            assert!(!debug.contains("hunter2") && debug.contains("\"u\""), "{debug}");
            let e = Listener::build(&MockSecurity::new().user("u", "p")).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        }
        #[cfg(feature = "tls")]
        {
            let e = Listener::build(&MockSecurity::new().tls("nope", "nope")).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
            let e = Listener::build(&MockSecurity::new().client_ca("x")).unwrap_err();
            assert!(e.to_string().contains("needs TLS"), "{e}");
        }
    }

    #[test]
    fn plaintext_cluster_has_no_sasl_stats() {
        let c = MockCluster::start_secured(1, MockSecurity::new()).unwrap();
        assert_eq!(c.security_protocol(), SecurityProtocol::Plaintext);
        assert_eq!(c.sasl_stats(), SaslStats::default());
    }
}
