//! The broker side of SASL for the mock cluster (feature `sasl`): the
//! listener's mechanisms, users and counters ([`SaslServer`], shared by all
//! connections) and each connection's exchange ([`Session`], owned by its
//! connection thread). What it does is documented on
//! [`MockSecurity`](super::MockSecurity).
//!
//! Hostile input: a client's SASL message is at most [`MAX_AUTH_BYTES`]
//! (frames before authentication at most [`MAX_UNAUTHENTICATED_FRAME`]);
//! parsing never panics and allocates at most what the message holds.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as B64};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use super::security::SaslConfig;
use super::state::Then;
use crate::config::SaslMechanism;
use crate::engine::sasl::scram::{self, server::Credential, ScramHash};
use crate::protocol::api_key;
use crate::protocol::header::RequestHeader;
use crate::protocol::messages::sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use crate::protocol::messages::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use crate::protocol::messages::{RequestBody, ResponseBody};
use crate::KafkaCode;

/// Largest frame a connection may send before it is authenticated (Kafka's
/// `sasl.server.max.receive.size` default).
pub(crate) const MAX_UNAUTHENTICATED_FRAME: usize = 512 * 1024;
/// Largest SASL message (SaslAuthenticate `auth_bytes`) taken from a client:
/// room for a large JWT; PLAIN and SCRAM messages are far smaller.
pub(crate) const MAX_AUTH_BYTES: usize = 64 * 1024;
/// SCRAM iteration count, Kafka's minimum (and the clients' floor).
const SCRAM_ITERATIONS: u32 = scram::MIN_ITERATIONS;
/// Deepest JSON nesting a token's payload may have.
const MAX_JSON_DEPTH: u32 = 32;

/// Counters of the listener (see `SaslStats`).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub authentications: AtomicU64,
    pub reauthentications: AtomicU64,
    pub failed: AtomicU64,
    pub expired: AtomicU64,
}

/// One PLAIN/SCRAM user.
struct User {
    password: String,
    scram256: Option<Credential>,
    scram512: Option<Credential>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("User(<redacted>)")
    }
}

/// The SASL side of the listener, shared by every connection.
#[derive(Debug)]
pub(crate) struct SaslServer {
    mechanisms: Vec<SaslMechanism>,
    users: HashMap<String, User>,
    principals: Vec<String>,
    /// Session lifetime in milliseconds, 0 for none.
    lifetime_ms: AtomicU64,
    pub counters: Counters,
}

fn lifetime_ms(d: Option<Duration>) -> u64 {
    d.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1))
}

impl SaslServer {
    /// Derives the SCRAM credentials of every user for the enabled SCRAM
    /// mechanisms (random salts).
    pub(crate) fn new(c: &SaslConfig) -> io::Result<Self> {
        let salt = || -> io::Result<Vec<u8>> {
            let mut s = vec![0u8; 16];
            getrandom::getrandom(&mut s).map_err(io::Error::other)?;
            Ok(s)
        };
        let mut users = HashMap::new();
        for (name, password) in &c.users {
            let credential = |m: SaslMechanism, hash: ScramHash| -> io::Result<Option<Credential>> {
                Ok(if c.mechanisms.contains(&m) {
                    Some(Credential::new(hash, password, salt()?, SCRAM_ITERATIONS))
                } else {
                    None
                })
            };
            let user = User {
                password: password.clone(),
                scram256: credential(SaslMechanism::ScramSha256, ScramHash::Sha256)?,
                scram512: credential(SaslMechanism::ScramSha512, ScramHash::Sha512)?,
            };
            users.insert(name.clone(), user);
        }
        Ok(Self {
            mechanisms: c.mechanisms.clone(),
            users,
            principals: c.principals.clone(),
            lifetime_ms: AtomicU64::new(lifetime_ms(c.session_lifetime)),
            counters: Counters::default(),
        })
    }

    pub(crate) fn set_session_lifetime(&self, d: Option<Duration>) {
        self.lifetime_ms.store(lifetime_ms(d), Ordering::Relaxed);
    }

    fn session_lifetime(&self) -> Option<Duration> {
        match self.lifetime_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    fn mechanism_names(&self) -> Vec<String> {
        self.mechanisms.iter().map(|m| m.name().to_owned()).collect()
    }
}

/// Where a connection's SASL exchange stands.
#[derive(Debug)]
enum Phase {
    /// No exchange going on: not authenticated yet, or authenticated
    /// (`Session::current` says which).
    Idle,
    /// SaslHandshake done; the first SaslAuthenticate is expected.
    Handshaken(SaslMechanism),
    /// SCRAM: server-first sent; the client-final message is expected.
    ScramFirstSent(Box<ScramExchange>),
}

#[derive(Debug)]
struct ScramExchange {
    mechanism: SaslMechanism,
    user: String,
    /// `c=` the client must send: the base64 of its GS2 header.
    channel_binding: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// One connection's SASL state, owned by its connection thread.
#[derive(Debug)]
pub(crate) struct Session {
    server: Arc<SaslServer>,
    phase: Phase,
    /// The mechanism and principal once authenticated.
    current: Option<(SaslMechanism, String)>,
    /// When the current session expires, if it does.
    expires_at: Option<Instant>,
}

/// What a step of an exchange produced.
type Answer = (Option<ResponseBody>, Then);

impl Session {
    pub(crate) fn new(server: Arc<SaslServer>) -> Self {
        Self { server, phase: Phase::Idle, current: None, expires_at: None }
    }

    /// The principal the connection authenticated as.
    pub(crate) fn principal(&self) -> Option<&str> {
        self.current.as_ref().map(|(_, p)| p.as_str())
    }

    /// The largest frame to read next: Kafka's SASL receive limit until the
    /// connection is authenticated and between exchanges, `authenticated` after.
    pub(crate) fn max_frame(&self, authenticated: usize) -> usize {
        match (&self.phase, &self.current) {
            (Phase::Idle, Some(_)) => authenticated,
            _ => MAX_UNAUTHENTICATED_FRAME.min(authenticated),
        }
    }

    /// Whether a request of `api` may be processed now; `Err` says why the
    /// connection is to be closed instead. SaslHandshake and
    /// SaslAuthenticate always pass (their handler checks the turn).
    pub(crate) fn admit(&mut self, api: i16, now: Instant) -> Result<(), &'static str> {
        if api == api_key::SASL_HANDSHAKE || api == api_key::SASL_AUTHENTICATE {
            return Ok(());
        }
        match (&self.phase, &self.current) {
            (Phase::Idle, None) if api == api_key::API_VERSIONS => Ok(()),
            (Phase::Idle, None) => Err("a request before SASL authentication"),
            (Phase::Idle, Some(_)) => {
                if self.expires_at.is_some_and(|t| now >= t) {
                    self.server.counters.expired.fetch_add(1, Ordering::Relaxed);
                    Err("a request after the SASL session expired (the client did not re-authenticate)")
                } else {
                    Ok(())
                }
            }
            _ => Err("a request in the middle of a SASL exchange"),
        }
    }

    /// Answers a SaslHandshake or SaslAuthenticate request; `injected` is an
    /// error code queued by the test, answered instead of processing.
    pub(crate) fn handle(
        &mut self,
        h: &RequestHeader,
        body: &RequestBody,
        injected: Option<KafkaCode>,
    ) -> Answer {
        match body {
            RequestBody::SaslHandshake(req) => self.handshake(h.api_version, req, injected),
            RequestBody::SaslAuthenticate(req) => self.authenticate(req, injected),
            _ => (None, Then::Close),
        }
    }

    fn handshake(&mut self, version: i16, req: &SaslHandshakeRequest, injected: Option<KafkaCode>) -> Answer {
        let mechanisms = self.server.mechanism_names();
        let answer = |code: KafkaCode, then| {
            let resp = SaslHandshakeResponse { error_code: code.0, mechanisms: mechanisms.clone() };
            (Some(ResponseBody::SaslHandshake(resp)), then)
        };
        if version == 0 {
            // v0 sends the tokens as bare frames, outside the Kafka protocol.
            log::warn!(
                "mock broker: SaslHandshake v0 (raw SASL tokens) is not served; closing the connection"
            );
            return (None, Then::Close);
        }
        if let Some(code) = injected {
            return answer(code, Then::Continue);
        }
        if !matches!(self.phase, Phase::Idle) {
            log::warn!("mock broker: SaslHandshake in the middle of a SASL exchange; closing the connection");
            return (None, Then::Close);
        }
        let Some(mechanism) =
            SaslMechanism::from_name(&req.mechanism).filter(|m| self.server.mechanisms.contains(m))
        else {
            self.server.counters.failed.fetch_add(1, Ordering::Relaxed);
            log::info!(
                "mock broker: SASL mechanism `{}` is not enabled ({}); closing the connection",
                req.mechanism,
                mechanisms.join(", ")
            );
            return answer(KafkaCode::UNSUPPORTED_SASL_MECHANISM, Then::Close);
        };
        if let Some((m, _)) = &self.current {
            if *m != mechanism {
                self.server.counters.failed.fetch_add(1, Ordering::Relaxed);
                log::info!(
                    "mock broker: re-authentication with {mechanism} on a {m} session; closing the connection"
                );
                return answer(KafkaCode::ILLEGAL_SASL_STATE, Then::Close);
            }
        }
        self.phase = Phase::Handshaken(mechanism);
        answer(KafkaCode::NONE, Then::Continue)
    }

    fn authenticate(&mut self, req: &SaslAuthenticateRequest, injected: Option<KafkaCode>) -> Answer {
        if let Some(code) = injected {
            self.phase = Phase::Idle;
            let then =
                if code == KafkaCode::SASL_AUTHENTICATION_FAILED { Then::Close } else { Then::Continue };
            return error_answer(code, format!("injected error {code}"), then);
        }
        let bytes = &req.auth_bytes;
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Idle => {
                log::warn!("mock broker: SaslAuthenticate without a SaslHandshake; closing the connection");
                (None, Then::Close)
            }
            _ if bytes.len() > MAX_AUTH_BYTES => {
                let why = format!("a SASL message of {} bytes (at most {MAX_AUTH_BYTES})", bytes.len());
                self.fail(None, None, why)
            }
            Phase::Handshaken(m @ SaslMechanism::Plain) => match check_plain(bytes, &self.server) {
                Ok(user) => self.succeed(m, user, Vec::new(), None),
                Err((user, why)) => self.fail(Some(m), user.as_deref(), why),
            },
            Phase::Handshaken(m @ (SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512)) => {
                match scram_first(m, bytes, &self.server) {
                    Ok(x) => {
                        let auth_bytes = x.server_first.clone().into_bytes();
                        self.phase = Phase::ScramFirstSent(Box::new(x));
                        ok_answer(auth_bytes, 0)
                    }
                    Err((user, why)) => self.fail(Some(m), user.as_deref(), why),
                }
            }
            Phase::ScramFirstSent(x) => match scram_final(&x, bytes, &self.server) {
                Ok(server_final) => self.succeed(x.mechanism, x.user, server_final.into_bytes(), None),
                Err(why) => self.fail(Some(x.mechanism), Some(&x.user), why),
            },
            Phase::Handshaken(m @ SaslMechanism::OAuthBearer) => {
                match check_oauthbearer(bytes, &self.server.principals, SystemTime::now()) {
                    Ok((sub, remaining)) => self.succeed(m, sub, Vec::new(), Some(remaining)),
                    Err((sub, why)) => self.fail(Some(m), sub.as_deref(), why),
                }
            }
        }
    }

    /// Authenticated as `principal`: starts a session (bounded by
    /// `credential_lifetime`, a token's remaining life) and counts it.
    fn succeed(
        &mut self,
        mechanism: SaslMechanism,
        principal: String,
        auth_bytes: Vec<u8>,
        credential_lifetime: Option<Duration>,
    ) -> Answer {
        let reauth = match &self.current {
            Some((_, old)) if *old != principal => {
                let why = format!("re-authentication as another principal (the connection is `{old}`'s)");
                return self.fail(Some(mechanism), Some(&principal), why);
            }
            Some(_) => true,
            None => false,
        };
        let lifetime = match (self.server.session_lifetime(), credential_lifetime) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .map(|l| l.max(Duration::from_millis(1)));
        self.expires_at = lifetime.map(|l| Instant::now() + l);
        let counter = if reauth {
            &self.server.counters.reauthentications
        } else {
            &self.server.counters.authentications
        };
        counter.fetch_add(1, Ordering::Relaxed);
        log::debug!(
            "mock broker: `{principal}` {} with {mechanism} (session lifetime {lifetime:?})",
            if reauth { "re-authenticated" } else { "authenticated" }
        );
        self.current = Some((mechanism, principal));
        let ms = lifetime.map_or(0, |l| i64::try_from(l.as_millis()).unwrap_or(i64::MAX));
        ok_answer(auth_bytes, ms)
    }

    /// Authentication failed: counted, answered with
    /// `SASL_AUTHENTICATION_FAILED` naming the user, and the connection closed.
    fn fail(&mut self, mechanism: Option<SaslMechanism>, user: Option<&str>, why: String) -> Answer {
        self.server.counters.failed.fetch_add(1, Ordering::Relaxed);
        let mech = mechanism.map_or(String::new(), |m| format!(" with {m}"));
        let message = match user {
            Some(u) => format!("Authentication failed for `{u}`{mech}: {why}"),
            None => format!("Authentication failed{mech}: {why}"),
        };
        log::info!("mock broker: {message}; closing the connection");
        error_answer(KafkaCode::SASL_AUTHENTICATION_FAILED, message, Then::Close)
    }
}

fn ok_answer(auth_bytes: Vec<u8>, session_lifetime_ms: i64) -> Answer {
    let resp =
        SaslAuthenticateResponse { error_code: 0, error_message: None, auth_bytes, session_lifetime_ms };
    (Some(ResponseBody::SaslAuthenticate(resp)), Then::Continue)
}

fn error_answer(code: KafkaCode, message: String, then: Then) -> Answer {
    let resp = SaslAuthenticateResponse {
        error_code: code.0,
        error_message: Some(message),
        auth_bytes: Vec::new(),
        session_lifetime_ms: 0,
    };
    (Some(ResponseBody::SaslAuthenticate(resp)), then)
}

/// A failed check: the user or principal, if the message named one, and why.
type Refusal = (Option<String>, String);

/// PLAIN (RFC 4616): `authzid NUL user NUL password`.
fn check_plain(bytes: &[u8], server: &SaslServer) -> Result<String, Refusal> {
    let parts: Vec<&[u8]> = bytes.splitn(4, |&b| b == 0).collect();
    let [authzid, user, password] = parts[..] else {
        return Err((None, "the PLAIN message is not `authzid NUL user NUL password`".into()));
    };
    let (Ok(authzid), Ok(user), Ok(password)) =
        (std::str::from_utf8(authzid), std::str::from_utf8(user), std::str::from_utf8(password))
    else {
        return Err((None, "the PLAIN message is not UTF-8".into()));
    };
    if user.is_empty() {
        return Err((None, "empty user name".into()));
    }
    if !authzid.is_empty() && authzid != user {
        return Err((Some(user.into()), "the authorization id is not the user name".into()));
    }
    match server.users.get(user) {
        Some(u) if u.password == password => Ok(user.to_owned()),
        _ => Err((Some(user.into()), "invalid username or password".into())),
    }
}

/// `saslname` of RFC 5802 back to a name: `=2C` is `,`, `=3D` is `=`.
fn unescape_saslname(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// SCRAM client-first-message: `gs2-header client-first-bare`, with
/// `gs2-header = ("n" | "y") "," ["a=" authzid] ","` and `client-first-bare
/// = "n=" user ",r=" nonce ["," extensions]`. Returns the exchange with the
/// server-first-message to send.
fn scram_first(
    mechanism: SaslMechanism,
    bytes: &[u8],
    server: &SaslServer,
) -> Result<ScramExchange, Refusal> {
    let refuse = |why: &str| (None, format!("bad SCRAM client-first-message: {why}"));
    let text = std::str::from_utf8(bytes).map_err(|_| refuse("not UTF-8"))?;
    let (flag, rest) = text.split_once(',').ok_or_else(|| refuse("no GS2 header"))?;
    if flag != "n" && flag != "y" {
        return Err(refuse("channel binding is not supported"));
    }
    let (authzid, bare) = rest.split_once(',').ok_or_else(|| refuse("no GS2 header"))?;
    let gs2 = &text[..text.len() - bare.len()];
    let mut attrs = bare.split(',');
    let user = attrs
        .next()
        .and_then(|a| a.strip_prefix("n="))
        .and_then(unescape_saslname)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| refuse("no user name (n=)"))?;
    let client_nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b)))
        .ok_or_else(|| (Some(user.clone()), "bad SCRAM client-first-message: no nonce (r=)".to_owned()))?;
    if bare.split(',').any(|a| a.starts_with("m=")) {
        return Err((Some(user), "bad SCRAM client-first-message: mandatory extension (m=)".into()));
    }
    if let Some(a) = authzid.strip_prefix("a=") {
        if unescape_saslname(a).as_deref() != Some(user.as_str()) {
            return Err((Some(user), "the authorization id is not the user name".into()));
        }
    } else if !authzid.is_empty() {
        return Err(refuse("bad authorization id"));
    }
    let credential = match mechanism {
        SaslMechanism::ScramSha256 => server.users.get(&user).and_then(|u| u.scram256.as_ref()),
        _ => server.users.get(&user).and_then(|u| u.scram512.as_ref()),
    };
    let Some(credential) = credential else {
        // Kafka does not tell unknown users from wrong passwords.
        return Err((Some(user), "invalid credentials".into()));
    };
    let server_nonce = scram::random_nonce().map_err(|e| (Some(user.clone()), e))?;
    let nonce = format!("{client_nonce}{server_nonce}");
    let server_first = format!("r={nonce},s={},i={}", credential.salt_b64(), credential.iterations);
    Ok(ScramExchange {
        mechanism,
        channel_binding: B64.encode(gs2),
        client_first_bare: bare.to_owned(),
        server_first,
        nonce,
        user,
    })
}

/// SCRAM client-final-message: `c=<gs2 b64>,r=<nonce>,p=<proof>`. Returns
/// the server-final-message (`v=...`).
fn scram_final(x: &ScramExchange, bytes: &[u8], server: &SaslServer) -> Result<String, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the client-final-message is not UTF-8".to_owned())?;
    let mut attrs = text.split(',');
    if attrs.next().and_then(|a| a.strip_prefix("c=")) != Some(x.channel_binding.as_str()) {
        return Err("the client-final-message's channel binding (c=) does not match".into());
    }
    if attrs.next().and_then(|a| a.strip_prefix("r=")) != Some(x.nonce.as_str()) {
        return Err("the client-final-message's nonce (r=) does not match".into());
    }
    let user = server.users.get(&x.user);
    let credential = match x.mechanism {
        SaslMechanism::ScramSha256 => user.and_then(|u| u.scram256.as_ref()),
        _ => user.and_then(|u| u.scram512.as_ref()),
    }
    .ok_or_else(|| "invalid credentials".to_owned())?;
    credential.verify(&x.client_first_bare, &x.server_first, text).map_err(|e| {
        if e == "invalid credentials" {
            e
        } else {
            format!("invalid credentials ({e})")
        }
    })
}

/// OAUTHBEARER (RFC 7628): `gs2-header \x01 auth=Bearer <token> \x01
/// (key=value \x01)* \x01`, with an unsecured JWT. Returns the token's
/// principal and remaining lifetime.
fn check_oauthbearer(
    bytes: &[u8],
    principals: &[String],
    now: SystemTime,
) -> Result<(String, Duration), Refusal> {
    let refuse = |why: &str| (None, format!("bad OAUTHBEARER message: {why}"));
    let text = std::str::from_utf8(bytes).map_err(|_| refuse("not UTF-8"))?;
    let body = text.strip_suffix("\x01\x01").ok_or_else(|| refuse("it does not end with \\x01\\x01"))?;
    let mut parts = body.split('\x01');
    let gs2 = parts.next().unwrap_or("");
    if !(gs2.starts_with("n,") || gs2.starts_with("y,")) || !gs2.ends_with(',') {
        return Err(refuse("bad GS2 header"));
    }
    let mut auth = None;
    for kv in parts {
        let (k, v) = kv.split_once('=').ok_or_else(|| refuse("a key-value pair without `=`"))?;
        if k == "auth" {
            auth = Some(v);
        }
    }
    let auth = auth.ok_or_else(|| refuse("no auth="))?;
    let token = match auth.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(refuse("auth= is not `Bearer <token>`")),
    };
    let (sub, exp) = token_claims(token).map_err(|why| (None, format!("bad token: {why}")))?;
    let sub = sub.ok_or_else(|| (None, "bad token: no `sub` claim".to_owned()))?;
    if !principals.is_empty() && !principals.contains(&sub) {
        return Err((Some(sub), "unknown principal".into()));
    }
    let exp = exp.ok_or_else(|| (Some(sub.clone()), "bad token: no `exp` claim".to_owned()))?;
    let now = now.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    if exp <= now {
        return Err((Some(sub), format!("the token expired {:.3} s ago", now - exp)));
    }
    // Finite and positive: `exp - now` is a valid duration unless absurdly far away.
    let remaining = Duration::try_from_secs_f64(exp - now).unwrap_or(Duration::MAX);
    Ok((sub, remaining))
}

/// `sub` and `exp` of a JWT's payload (its signature is not checked: the
/// mock takes unsecured tokens).
fn token_claims(token: &str) -> Result<(Option<String>, Option<f64>), String> {
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT (header.payload.signature)".into());
    };
    let b64url = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let json = b64url.decode(payload).map_err(|_| "the payload is not base64url".to_owned())?;
    let mut p = Json { b: &json, i: 0 };
    let claims = p.claims()?;
    Ok(claims)
}

/// Just enough JSON to read a JWT payload's `sub` and `exp`: the top-level
/// object is walked, other values skipped (nesting bounded).
struct Json<'a> {
    b: &'a [u8],
    i: usize,
}

impl Json<'_> {
    fn ws(&mut self) {
        while self.b.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("JSON: expected `{}` at byte {}", c as char, self.i))
        }
    }

    fn claims(&mut self) -> Result<(Option<String>, Option<f64>), String> {
        let (mut sub, mut exp) = (None, None);
        self.eat(b'{')?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                let key = self.string()?;
                self.eat(b':')?;
                self.ws();
                match (key.as_str(), self.peek()) {
                    ("sub", Some(b'"')) => sub = Some(self.string()?),
                    ("exp", Some(b'-' | b'0'..=b'9')) => exp = Some(self.number()?),
                    _ => self.skip_value(1)?,
                }
                self.ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(format!("JSON: expected `,` or `}}` at byte {}", self.i)),
                }
            }
        }
        self.ws();
        if self.i != self.b.len() {
            return Err("JSON: bytes after the object".into());
        }
        Ok((sub, exp))
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let c = self.peek().ok_or("JSON: unterminated string")?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or("JSON: unterminated string")?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = self.b.get(self.i..self.i + 4).ok_or("JSON: short \\u escape")?;
                            let hex = std::str::from_utf8(hex).map_err(|_| "JSON: bad \\u escape")?;
                            let v = u32::from_str_radix(hex, 16).map_err(|_| "JSON: bad \\u escape")?;
                            self.i += 4;
                            // Surrogates (pairs included) become U+FFFD: names
                            // outside the BMP are not worth more code here.
                            char::from_u32(v).unwrap_or('\u{fffd}')
                        }
                        _ => return Err("JSON: bad escape".into()),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err("JSON: control character in a string".into()),
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| "JSON: a string is not UTF-8".into())
    }

    fn number(&mut self) -> Result<f64, String> {
        let start = self.i;
        while self.peek().is_some_and(|c| matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) {
            self.i += 1;
        }
        std::str::from_utf8(&self.b[start..self.i])
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|n| n.is_finite())
            .ok_or_else(|| format!("JSON: bad number at byte {start}"))
    }

    fn skip_value(&mut self, depth: u32) -> Result<(), String> {
        if depth > MAX_JSON_DEPTH {
            return Err("JSON: nested too deeply".into());
        }
        self.ws();
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            Some(open @ (b'{' | b'[')) => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                self.ws();
                if self.peek() == Some(close) {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    if open == b'{' {
                        self.ws();
                        self.string()?;
                        self.eat(b':')?;
                    }
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(c) if c == close => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(format!("JSON: unterminated value at byte {}", self.i)),
                    }
                }
            }
            _ => {
                for word in [&b"true"[..], b"false", b"null"] {
                    if self.b[self.i..].starts_with(word) {
                        self.i += word.len();
                        return Ok(());
                    }
                }
                Err(format!("JSON: unexpected input at byte {}", self.i))
            }
        }
    }
}

#[cfg(test)]
mod tests;
