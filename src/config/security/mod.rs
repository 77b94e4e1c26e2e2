//! Security settings: `security.protocol`, TLS (`ssl.*`) and SASL (`sasl.*`),
//! under both the Java client's and librdkafka's names.
//!
//! Everything is checked and loaded when the configuration is built: PEM
//! files are read, keys decrypted and the TLS client configuration made, so
//! that a missing file or a wrong key password is a [`ConfigError`] naming the
//! key, not a connection failure later. Secrets (passwords, private keys,
//! tokens, client secrets) never appear in `Debug` output or in errors.
//!
//! | key | also accepted | meaning |
//! |---|---|---|
//! | `security.protocol` | | `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT`, `SASL_SSL` (any case) |
//! | `ssl.ca.location` | `ssl.truststore.location` with `ssl.truststore.type=PEM` | PEM file of the CAs to trust instead of the system's |
//! | `ssl.ca.pem` | `ssl.truststore.certificates` (with `ssl.truststore.type=PEM`) | the same, inline |
//! | `ssl.endpoint.identification.algorithm` | | `https` (default): check the broker's name; `none` or empty: do not (logged as a warning) |
//! | `enable.ssl.certificate.verification` | | `false` accepts any server certificate (tests only; logged as a warning) |
//! | `ssl.certificate.location`, `ssl.key.location` | `ssl.keystore.location` with `ssl.keystore.type=PEM` (key and chain in one file) | client certificate chain and key (mTLS), PEM |
//! | `ssl.certificate.pem`, `ssl.key.pem` | `ssl.keystore.certificate.chain`, `ssl.keystore.key` (with `ssl.keystore.type=PEM`) | the same, inline |
//! | `ssl.key.password` | `ssl.keystore.password` for a PEM keystore | password of an encrypted PKCS#8 key (`BEGIN ENCRYPTED PRIVATE KEY`) |
//! | `ssl.enabled.protocols` | `ssl.protocol` | `TLSv1.2`, `TLSv1.3` or both (default) |
//! | `sasl.mechanism` | `sasl.mechanisms` | `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, `OAUTHBEARER` (`GSSAPI`, the Java default, is not supported) |
//! | `sasl.username`, `sasl.password` | `sasl.jaas.config` (`PlainLoginModule` / `ScramLoginModule` with `username="..." password="...";`) | credentials for PLAIN and SCRAM |
//! | `sasl.oauthbearer.config` + `enable.sasl.oauthbearer.unsecure.jwt=true` | `sasl.jaas.config` (`OAuthBearerLoginModule` with `unsecuredLoginStringClaim_sub="..."`) | unsecured OAUTHBEARER tokens, for tests |
//!
//! An OAUTHBEARER token provider of the application's own is set with
//! [`ProducerConfigBuilder::oauthbearer_token_provider`](super::ProducerConfigBuilder::oauthbearer_token_provider).
//!
//! JKS and PKCS#12 keystores and truststores are not read: the error says how
//! to convert them to PEM.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

mod jaas;
#[cfg(test)]
mod tests;
#[cfg(feature = "tls")]
mod tls;

use self::jaas::{parse_jaas, Jaas};
use super::properties::Set;
use super::ConfigError;

/// How connections to brokers are made (`security.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecurityProtocol {
    /// Plain TCP, no authentication (the default).
    #[default]
    Plaintext,
    /// TLS, optionally with a client certificate (mTLS).
    Ssl,
    /// SASL authentication over plain TCP.
    SaslPlaintext,
    /// SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Parses Kafka's names, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Plaintext, Self::Ssl, Self::SaslPlaintext, Self::SaslSsl]
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Kafka's name: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether connections use TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A SASL mechanism (`sasl.mechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// `PLAIN`: user name and password in the clear (use it over TLS).
    Plain,
    /// `SCRAM-SHA-256` (RFC 5802, RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
    /// `OAUTHBEARER` (RFC 7628): a bearer token from a token provider.
    OAuthBearer,
}

impl SaslMechanism {
    /// Parses Kafka's names, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Plain, Self::ScramSha256, Self::ScramSha512, Self::OAuthBearer]
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    /// The name sent in SaslHandshake: `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An OAUTHBEARER token, as a [`OAuthBearerTokenProvider`] returns it.
/// `Debug` does not show the token.
#[derive(Clone)]
pub struct OAuthBearerToken {
    /// The token itself (for example a JWT), sent to the broker.
    pub value: String,
    /// When the token stops being valid. The producer asks its provider for
    /// a new one once 80% of the time from issue to expiry has passed.
    pub expires_at: SystemTime,
    /// The principal the token names (for logs and errors).
    pub principal: String,
    /// SASL extensions sent with the token (RFC 7628 section 3.1), as
    /// `key=value` pairs.
    pub extensions: Vec<(String, String)>,
}

impl fmt::Debug for OAuthBearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerToken")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("principal", &self.principal)
            .field("extensions", &self.extensions.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish()
    }
}

/// Supplies OAUTHBEARER tokens: implement it to fetch tokens from your
/// identity provider. It is called (from a producer thread, never
/// concurrently with itself for one producer) when a connection
/// authenticates and no cached token is fresh enough: at the first connection
/// and again once 80% of the cached token's lifetime has passed.
pub trait OAuthBearerTokenProvider: Send + Sync {
    /// A fresh token, or why there is none (the message is logged and
    /// reported to records that fail for lack of a connection; it must not
    /// contain secrets).
    fn token(&self) -> Result<OAuthBearerToken, String>;
}

/// A password or key material: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    #[cfg(feature = "oidc")]
    pub fn new(s: String) -> Self {
        Self(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The credentials of a SASL mechanism.
#[derive(Clone)]
pub(crate) enum SaslCredentials {
    /// PLAIN and SCRAM.
    Password { username: String, password: Secret },
    /// OAUTHBEARER.
    Token(Arc<TokenSource>),
}

/// A token provider and its last token: the provider is asked again once
/// 80% of the cached token's lifetime has passed (or when it expired).
pub(crate) struct TokenSource {
    provider: Arc<dyn OAuthBearerTokenProvider>,
    cached: parking_lot::Mutex<Option<(OAuthBearerToken, SystemTime)>>,
}

impl TokenSource {
    fn new(provider: Arc<dyn OAuthBearerTokenProvider>) -> Self {
        Self { provider, cached: parking_lot::Mutex::new(None) }
    }

    /// A token fresh enough to authenticate with.
    pub fn current(&self) -> Result<OAuthBearerToken, String> {
        let now = SystemTime::now();
        let mut cached = self.cached.lock();
        if let Some((token, fetched)) = cached.as_ref() {
            let life = token.expires_at.duration_since(*fetched).unwrap_or_default();
            let refresh_at = *fetched + life.mul_f64(0.8);
            if now < refresh_at {
                return Ok(token.clone());
            }
        }
        let token = self.provider.token()?;
        if token.expires_at <= now {
            return Err(format!(
                "the token provider returned a token for `{}` that has already expired",
                token.principal
            ));
        }
        *cached = Some((token.clone(), now));
        Ok(token)
    }
}

impl fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::Token(_) => f.write_str("TokenProvider"),
        }
    }
}

/// A validated SASL setup.
#[derive(Debug, Clone)]
pub(crate) struct SaslSettings {
    pub mechanism: SaslMechanism,
    pub credentials: SaslCredentials,
}

impl SaslSettings {
    /// The user name or principal, for messages.
    pub fn user(&self) -> String {
        match &self.credentials {
            SaslCredentials::Password { username, .. } => username.clone(),
            // Known once the provider gave a token.
            SaslCredentials::Token(_) => String::new(),
        }
    }
}

/// Validated security settings; see the [module documentation](self).
/// `Debug` shows no secret.
#[derive(Clone, Default)]
pub struct SecurityConfig {
    protocol: SecurityProtocol,
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ClientConfig>>,
    verify_hostname: bool,
    sasl: Option<SaslSettings>,
}

impl fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SecurityConfig");
        d.field("protocol", &self.protocol);
        if self.protocol.uses_tls() {
            d.field("verify_hostname", &self.verify_hostname);
        }
        d.field("sasl", &self.sasl).finish()
    }
}

impl SecurityConfig {
    /// `security.protocol`.
    pub fn protocol(&self) -> SecurityProtocol {
        self.protocol
    }

    /// The SASL mechanism, when the protocol uses SASL.
    pub fn sasl_mechanism(&self) -> Option<SaslMechanism> {
        self.sasl.as_ref().map(|s| s.mechanism)
    }

    /// Whether TLS checks that the broker's certificate names the host
    /// connected to (`ssl.endpoint.identification.algorithm`).
    pub fn verifies_hostname(&self) -> bool {
        self.verify_hostname
    }

    pub(crate) fn sasl(&self) -> Option<&SaslSettings> {
        self.sasl.as_ref()
    }

    #[cfg(feature = "tls")]
    pub(crate) fn tls(&self) -> Option<&Arc<rustls::ClientConfig>> {
        self.tls.as_ref()
    }
}

/// Every security property name; the second item is the canonical name
/// the value is stored under.
const NAMES: &[(&str, &str)] = &[
    ("security.protocol", "security.protocol"),
    ("ssl.ca.location", "ssl.ca.location"),
    ("ssl.ca.pem", "ssl.ca.pem"),
    ("ssl.truststore.type", "ssl.truststore.type"),
    ("ssl.truststore.location", "ssl.truststore.location"),
    ("ssl.truststore.certificates", "ssl.truststore.certificates"),
    ("ssl.truststore.password", "ssl.truststore.password"),
    ("ssl.endpoint.identification.algorithm", "ssl.endpoint.identification.algorithm"),
    ("enable.ssl.certificate.verification", "enable.ssl.certificate.verification"),
    ("ssl.certificate.location", "ssl.certificate.location"),
    ("ssl.certificate.pem", "ssl.certificate.pem"),
    ("ssl.key.location", "ssl.key.location"),
    ("ssl.key.pem", "ssl.key.pem"),
    ("ssl.key.password", "ssl.key.password"),
    ("ssl.keystore.type", "ssl.keystore.type"),
    ("ssl.keystore.location", "ssl.keystore.location"),
    ("ssl.keystore.password", "ssl.keystore.password"),
    ("ssl.keystore.certificate.chain", "ssl.keystore.certificate.chain"),
    ("ssl.keystore.key", "ssl.keystore.key"),
    ("ssl.enabled.protocols", "ssl.enabled.protocols"),
    ("ssl.protocol", "ssl.protocol"),
    ("sasl.mechanism", "sasl.mechanism"),
    ("sasl.mechanisms", "sasl.mechanism"),
    ("sasl.username", "sasl.username"),
    ("sasl.password", "sasl.password"),
    ("sasl.jaas.config", "sasl.jaas.config"),
    ("sasl.oauthbearer.config", "sasl.oauthbearer.config"),
    ("enable.sasl.oauthbearer.unsecure.jwt", "enable.sasl.oauthbearer.unsecure.jwt"),
    ("sasl.oauthbearer.method", "sasl.oauthbearer.method"),
    ("sasl.oauthbearer.client.id", "sasl.oauthbearer.client.id"),
    ("sasl.oauthbearer.client.secret", "sasl.oauthbearer.client.secret"),
    ("sasl.oauthbearer.token.endpoint.url", "sasl.oauthbearer.token.endpoint.url"),
    ("sasl.oauthbearer.scope", "sasl.oauthbearer.scope"),
    ("sasl.oauthbearer.extensions", "sasl.oauthbearer.extensions"),
    ("sasl.login.callback.handler.class", "sasl.login.callback.handler.class"),
    ("https.ca.location", "https.ca.location"),
    ("https.ca.pem", "https.ca.pem"),
];

/// Keys whose values are secrets: errors never repeat them.
const SECRET_KEYS: &[&str] = &[
    "ssl.key.pem",
    "ssl.key.password",
    "ssl.keystore.key",
    "ssl.keystore.password",
    "ssl.truststore.password",
    "sasl.password",
    "sasl.jaas.config",
    "sasl.oauthbearer.client.secret",
];

/// Security properties this crate knows and does not implement.
const NOT_IMPLEMENTED: &[(&str, &str)] = &[
    ("sasl.kerberos.", "GSSAPI (Kerberos) is not supported; use PLAIN, SCRAM or OAUTHBEARER"),
    (
        "ssl.cipher.suites",
        "the cipher suites are rustls' defaults (TLS 1.2 ECDHE with AES-GCM or ChaCha20, and TLS 1.3)",
    ),
    ("ssl.curves.list", "the key exchange groups are rustls' defaults"),
    ("ssl.sigalgs.list", "the signature algorithms are rustls' defaults"),
    ("ssl.engine.", "OpenSSL engines do not apply: TLS is rustls"),
    ("ssl.providers", "OpenSSL providers do not apply: TLS is rustls"),
    ("ssl.crl.location", "certificate revocation lists are not checked"),
    ("ssl.ca.certificate.stores", "Windows certificate stores are not read; use ssl.ca.location"),
    ("ssl.keymanager.algorithm", "Java key managers do not apply"),
    ("ssl.trustmanager.algorithm", "Java trust managers do not apply"),
    ("ssl.secure.random.implementation", "randomness comes from the operating system"),
    ("ssl.engine.factory.class", "Java classes do not apply"),
    ("sasl.login.", "Java login classes do not apply; see the sasl.* properties kafka-sync supports"),
    ("sasl.client.callback.handler.class", "Java classes do not apply"),
    ("sasl.oauthbearer.", "this OAUTHBEARER property is not implemented; see the sasl.oauthbearer.* properties kafka-sync supports, or implement OAuthBearerTokenProvider"),
    ("ssl.", "this TLS property is not implemented"),
    ("sasl.", "this SASL property is not implemented"),
];

/// Whether `key` is a security property (known, or in the `ssl.`/`sasl.` families).
pub(super) fn is_security_key(key: &str) -> bool {
    NAMES.iter().any(|(n, _)| *n == key) || key.starts_with("ssl.") || key.starts_with("sasl.")
}

/// The raw security settings, as given; checked by [`SecurityBuilder::build`].
#[derive(Clone, Default)]
pub(super) struct SecurityBuilder {
    values: BTreeMap<&'static str, Set<String>>,
    provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
}

impl fmt::Debug for SecurityBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.values.values().map(|s| s.key).collect();
        f.debug_struct("SecurityBuilder")
            .field("keys", &keys)
            .field("provider", &self.provider.is_some())
            .finish()
    }
}

fn redacted(key: &str, value: &str) -> String {
    if SECRET_KEYS.contains(&key) {
        "<redacted>".to_owned()
    } else {
        value.to_owned()
    }
}

fn invalid(key: &str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::InvalidValue { key: key.to_owned(), value: redacted(key, value), expected }
}

fn unusable(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Unusable { key: key.to_owned(), reason: reason.into() }
}

impl SecurityBuilder {
    /// Records a security property; parses what can be parsed at once.
    pub fn apply(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let Some(&(name, canonical)) = NAMES.iter().find(|(n, _)| *n == key) else {
            let reason = NOT_IMPLEMENTED
                .iter()
                .find(|(prefix, _)| key.starts_with(prefix))
                .map_or("this security property is not implemented", |(_, r)| r);
            return Err(ConfigError::Unsupported { key: key.to_owned(), reason });
        };
        match canonical {
            "security.protocol" => {
                SecurityProtocol::from_name(value)
                    .ok_or_else(|| invalid(name, value, "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"))?;
            }
            "sasl.mechanism" => {
                if value.eq_ignore_ascii_case("GSSAPI") {
                    return Err(ConfigError::Unsupported {
                        key: name.to_owned(),
                        reason: "GSSAPI (Kerberos) is not supported; use PLAIN, SCRAM-SHA-256, \
                                 SCRAM-SHA-512 or OAUTHBEARER",
                    });
                }
                SaslMechanism::from_name(value).ok_or_else(|| {
                    invalid(name, value, "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER")
                })?;
            }
            "enable.ssl.certificate.verification" | "enable.sasl.oauthbearer.unsecure.jwt" => {
                super::properties::parse_bool(name, value)?;
            }
            "sasl.oauthbearer.method"
                if !value.eq_ignore_ascii_case("default") && !value.eq_ignore_ascii_case("oidc") =>
            {
                return Err(invalid(name, value, "default or oidc"));
            }
            "sasl.login.callback.handler.class" if !value.ends_with(".OAuthBearerLoginCallbackHandler") => {
                return Err(ConfigError::Unsupported {
                    key: name.to_owned(),
                    reason: "Java classes do not apply; only Kafka's OAuthBearerLoginCallbackHandler \
                                 (OIDC client credentials) is recognized",
                });
            }
            _ => {}
        }
        self.values.insert(canonical, Set { value: value.to_owned(), key: name });
        Ok(())
    }

    /// Sets the security protocol (typed setter).
    pub fn set_protocol(&mut self, p: SecurityProtocol) {
        self.values.insert("security.protocol", Set { value: p.name().to_owned(), key: "security.protocol" });
    }

    /// Sets the OAUTHBEARER token provider (typed setter).
    pub fn set_provider(&mut self, p: Arc<dyn OAuthBearerTokenProvider>) {
        self.provider = Some(p);
    }

    fn get(&self, canonical: &str) -> Option<&Set<String>> {
        self.values.get(canonical)
    }

    /// Checks the settings and loads what they name.
    pub fn build(&self) -> Result<SecurityConfig, ConfigError> {
        let protocol = self
            .get("security.protocol")
            .and_then(|s| SecurityProtocol::from_name(&s.value))
            .unwrap_or_default();
        let verify_hostname = match self.get("ssl.endpoint.identification.algorithm") {
            None => true,
            Some(s) if s.value.eq_ignore_ascii_case("https") => true,
            Some(s) if s.value.is_empty() || s.value.eq_ignore_ascii_case("none") => false,
            Some(s) => return Err(invalid(s.key, &s.value, "https, none or empty")),
        };
        let mut config = SecurityConfig { protocol, verify_hostname, ..SecurityConfig::default() };
        if protocol.uses_tls() {
            #[cfg(feature = "tls")]
            {
                config.tls = Some(tls::client_config(self, verify_hostname)?);
            }
            #[cfg(not(feature = "tls"))]
            {
                return Err(ConfigError::NeedsFeature {
                    key: "security.protocol".into(),
                    value: protocol.name().into(),
                    feature: "tls",
                });
            }
        }
        if protocol.uses_sasl() {
            config.sasl = Some(self.sasl()?);
        }
        Ok(config)
    }

    fn sasl(&self) -> Result<SaslSettings, ConfigError> {
        let jaas = match self.get("sasl.jaas.config") {
            Some(s) => Some(parse_jaas(&s.value).map_err(|e| unusable(s.key, e))?),
            None => None,
        };
        let mechanism = match self.get("sasl.mechanism") {
            Some(s) => SaslMechanism::from_name(&s.value).expect("checked in apply"),
            None => {
                return Err(ConfigError::Unsupported {
                    key: "sasl.mechanism".into(),
                    reason: "the default mechanism, GSSAPI (Kerberos), is not supported: set \
                             sasl.mechanism to PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
                })
            }
        };
        let jaas_kind_ok = |want: &[&str]| -> Result<(), ConfigError> {
            match &jaas {
                Some(j) if !want.iter().any(|w| j.module.ends_with(w)) => Err(ConfigError::Conflict {
                    key: "sasl.jaas.config".into(),
                    value: j.module.clone(),
                    other: format!("sasl.mechanism = {mechanism}"),
                    reason: "the login module does not match the mechanism",
                }),
                _ => Ok(()),
            }
        };
        let credentials = match mechanism {
            SaslMechanism::Plain | SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                if mechanism != SaslMechanism::Plain && !cfg!(feature = "sasl") {
                    return Err(ConfigError::NeedsFeature {
                        key: self.get("sasl.mechanism").map_or("sasl.mechanism", |s| s.key).to_owned(),
                        value: mechanism.name().into(),
                        feature: "sasl",
                    });
                }
                jaas_kind_ok(&["PlainLoginModule", "ScramLoginModule"])?;
                let from_jaas = |k: &str| jaas.as_ref().and_then(|j| j.options.get(k).cloned());
                let username = self
                    .get("sasl.username")
                    .map(|s| s.value.clone())
                    .or_else(|| from_jaas("username"))
                    .ok_or(ConfigError::Missing { key: "sasl.username" })?;
                let password = self
                    .get("sasl.password")
                    .map(|s| s.value.clone())
                    .or_else(|| from_jaas("password"))
                    .ok_or(ConfigError::Missing { key: "sasl.password" })?;
                SaslCredentials::Password { username, password: Secret(password) }
            }
            SaslMechanism::OAuthBearer => {
                jaas_kind_ok(&["OAuthBearerLoginModule"])?;
                let provider = match &self.provider {
                    Some(p) => p.clone(),
                    None if self.uses_oidc() => self.oidc_provider(jaas.as_ref())?,
                    None => self.unsecured_provider(jaas.as_ref())?,
                };
                SaslCredentials::Token(Arc::new(TokenSource::new(provider)))
            }
        };
        Ok(SaslSettings { mechanism, credentials })
    }

    /// Whether OAUTHBEARER tokens come from an OIDC token endpoint: librdkafka's
    /// `sasl.oauthbearer.method=oidc`, or Java's login callback handler.
    fn uses_oidc(&self) -> bool {
        self.get("sasl.oauthbearer.method").is_some_and(|m| m.value.eq_ignore_ascii_case("oidc"))
            || self.get("sasl.login.callback.handler.class").is_some()
    }

    /// The OIDC client credentials provider (feature `oidc`).
    fn oidc_provider(&self, jaas: Option<&Jaas>) -> Result<Arc<dyn OAuthBearerTokenProvider>, ConfigError> {
        let from_jaas = |k: &str| jaas.and_then(|j| j.options.get(k).cloned());
        let setting = |key: &'static str, jaas_key: &str| -> Option<String> {
            self.get(key).map(|s| s.value.clone()).or_else(|| from_jaas(jaas_key))
        };
        let endpoint = self
            .get("sasl.oauthbearer.token.endpoint.url")
            .map(|s| s.value.clone())
            .ok_or(ConfigError::Missing { key: "sasl.oauthbearer.token.endpoint.url" })?;
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(invalid(
                "sasl.oauthbearer.token.endpoint.url",
                &endpoint,
                "an http:// or https:// URL",
            ));
        }
        let client_id = setting("sasl.oauthbearer.client.id", "clientId")
            .ok_or(ConfigError::Missing { key: "sasl.oauthbearer.client.id" })?;
        let secret = setting("sasl.oauthbearer.client.secret", "clientSecret")
            .ok_or(ConfigError::Missing { key: "sasl.oauthbearer.client.secret" })?;
        let scope = setting("sasl.oauthbearer.scope", "scope").filter(|s| !s.is_empty());
        let mut extensions = Vec::new();
        if let Some(s) = self.get("sasl.oauthbearer.extensions") {
            for pair in s.value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, v) =
                    pair.split_once('=').ok_or_else(|| invalid(s.key, &s.value, "key=value,key=value"))?;
                extensions.push((k.to_owned(), v.to_owned()));
            }
        }
        if let Some(j) = jaas {
            for (k, v) in &j.options {
                if let Some(name) = k.strip_prefix("extension_") {
                    extensions.push((name.to_owned(), v.clone()));
                }
            }
        }
        #[cfg(feature = "oidc")]
        {
            let roots = tls::https_roots(self)?;
            Ok(Arc::new(crate::engine::sasl::oidc::ClientCredentials::new(
                endpoint,
                client_id,
                Secret::new(secret),
                scope,
                extensions,
                roots,
                Duration::from_secs(30),
            )))
        }
        #[cfg(not(feature = "oidc"))]
        {
            let _ = (client_id, secret, scope, extensions);
            Err(ConfigError::NeedsFeature {
                key: "sasl.oauthbearer.method".into(),
                value: "oidc".into(),
                feature: "oidc",
            })
        }
    }

    /// Java's and librdkafka's unsecured OAUTHBEARER tokens (for tests).
    fn unsecured_provider(
        &self,
        jaas: Option<&Jaas>,
    ) -> Result<Arc<dyn OAuthBearerTokenProvider>, ConfigError> {
        let mut claims = UnsecuredClaims::default();
        if let Some(j) = jaas {
            for (k, v) in &j.options {
                if k == "unsecuredLoginStringClaim_sub" {
                    claims.principal = Some(v.clone());
                } else if k == "unsecuredLoginLifetimeSeconds" {
                    let secs = v.parse::<u64>().map_err(|_| {
                        unusable(
                            "sasl.jaas.config",
                            "unsecuredLoginLifetimeSeconds must be a number of seconds",
                        )
                    })?;
                    claims.lifetime = Duration::from_secs(secs);
                } else if let Some(name) = k.strip_prefix("unsecuredLoginExtension_") {
                    claims.extensions.push((name.to_owned(), v.clone()));
                } else if let Some(name) = k.strip_prefix("unsecuredLoginStringClaim_") {
                    claims.claims.push((name.to_owned(), v.clone()));
                }
            }
        }
        if let Some(s) = self.get("sasl.oauthbearer.config") {
            let enabled = self
                .get("enable.sasl.oauthbearer.unsecure.jwt")
                .is_some_and(|e| e.value.eq_ignore_ascii_case("true"));
            if !enabled {
                return Err(ConfigError::Conflict {
                    key: s.key.into(),
                    value: s.value.clone(),
                    other: "enable.sasl.oauthbearer.unsecure.jwt".into(),
                    reason: "unsecured tokens must be enabled explicitly \
                             (enable.sasl.oauthbearer.unsecure.jwt=true), as in librdkafka",
                });
            }
            for part in s.value.split_whitespace() {
                let (k, v) = part.split_once('=').ok_or_else(|| {
                    invalid(
                        s.key,
                        &s.value,
                        "space-separated principal=..., lifeSeconds=..., scope=..., extension_NAME=...",
                    )
                })?;
                match k {
                    "principal" => claims.principal = Some(v.to_owned()),
                    "lifeSeconds" => {
                        let secs = v
                            .parse::<u64>()
                            .map_err(|_| invalid(s.key, &s.value, "lifeSeconds=<seconds>"))?;
                        claims.lifetime = Duration::from_secs(secs);
                    }
                    "scope" => claims.claims.push(("scope".into(), v.to_owned())),
                    "principalClaimName" => {}
                    _ => match k.strip_prefix("extension_") {
                        Some(name) => claims.extensions.push((name.to_owned(), v.to_owned())),
                        None => {
                            return Err(invalid(
                                s.key,
                                &s.value,
                                "principal=..., lifeSeconds=..., scope=... or extension_NAME=...",
                            ))
                        }
                    },
                }
            }
        }
        if claims.principal.is_none() {
            return Err(ConfigError::Missing { key: "sasl.oauthbearer.config" });
        }
        #[cfg(feature = "sasl")]
        {
            Ok(Arc::new(claims))
        }
        #[cfg(not(feature = "sasl"))]
        {
            Err(ConfigError::NeedsFeature {
                key: "sasl.mechanism".into(),
                value: "OAUTHBEARER with unsecured tokens".into(),
                feature: "sasl",
            })
        }
    }
}

/// The claims of an unsecured token (`alg: none`), as Java's
/// `OAuthBearerUnsecuredLoginCallbackHandler` and librdkafka's
/// `enable.sasl.oauthbearer.unsecure.jwt` make them.
#[derive(Debug, Clone)]
struct UnsecuredClaims {
    principal: Option<String>,
    lifetime: Duration,
    claims: Vec<(String, String)>,
    extensions: Vec<(String, String)>,
}

impl Default for UnsecuredClaims {
    fn default() -> Self {
        // Java's and librdkafka's default lifetime: one hour.
        Self {
            principal: None,
            lifetime: Duration::from_secs(3600),
            claims: Vec::new(),
            extensions: Vec::new(),
        }
    }
}

#[cfg(feature = "sasl")]
impl OAuthBearerTokenProvider for UnsecuredClaims {
    fn token(&self) -> Result<OAuthBearerToken, String> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let principal = self.principal.clone().unwrap_or_default();
        let now = SystemTime::now();
        // Whole seconds, rounded down (as librdkafka writes them): a rounded-up
        // `iat` would be in the future for a broker that checks at once.
        let iat = now.duration_since(SystemTime::UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
        let exp = iat + self.lifetime.as_secs().max(1);
        let mut payload = format!("{{\"sub\":{},\"iat\":{iat},\"exp\":{exp}", json_string(&principal));
        for (k, v) in &self.claims {
            payload.push_str(&format!(",{}:{}", json_string(k), json_string(v)));
        }
        payload.push('}');
        let value = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(payload.as_bytes())
        );
        Ok(OAuthBearerToken {
            value,
            expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(exp),
            principal,
            extensions: self.extensions.clone(),
        })
    }
}

#[cfg(feature = "sasl")]
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
