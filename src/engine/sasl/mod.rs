//! SASL authentication of a broker connection: SaslHandshake (v1), then the
//! mechanism's SaslAuthenticate round trips, and re-authentication before the
//! session the broker granted expires (KIP-368).
//!
//! Mechanisms: PLAIN, SCRAM-SHA-256/512 ([`scram`], feature `sasl`) and
//! OAUTHBEARER (RFC 7628, tokens from the configured provider). Every failure
//! is a [`ConnError::Security`] naming the broker, the user and the mechanism;
//! no message carries a password or token.

#[cfg(feature = "oidc")]
pub(crate) mod oidc;
#[cfg(feature = "sasl")]
pub(crate) mod scram;

use std::time::Duration;

use super::connection::{ConnError, Connection};
use crate::config::security::{SaslCredentials, SaslSettings};
use crate::config::SaslMechanism;
use crate::error::KafkaCode;
use crate::protocol::messages::sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use crate::protocol::messages::sasl_handshake::SaslHandshakeRequest;

/// `UNSUPPORTED_SASL_MECHANISM`.
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;

/// Authenticates `conn` (whose ApiVersions handshake is done, with nothing in
/// flight). Returns the session lifetime the broker granted, if any.
pub(crate) fn authenticate(
    conn: &mut Connection,
    sasl: &SaslSettings,
) -> Result<Option<Duration>, ConnError> {
    let addr = conn.addr().to_owned();
    let mechanism = sasl.mechanism;
    let fail = |what: String| ConnError::Security(format!("SASL {mechanism} with {addr}: {what}"));
    let Some(hv) = conn.versions().version_of::<SaslHandshakeRequest>() else {
        return Err(fail(
            "the broker offers no SaslHandshake v1 or later (is it a SASL listener? check security.protocol)"
                .into(),
        ));
    };
    let Some(av) = conn.versions().version_of::<SaslAuthenticateRequest>() else {
        return Err(fail("the broker offers no SaslAuthenticate (Kafka 1.0 or later is needed)".into()));
    };
    let resp = conn.exchange(&SaslHandshakeRequest { mechanism: mechanism.name().to_owned() }, hv)?;
    match resp.error_code {
        0 => {}
        UNSUPPORTED_SASL_MECHANISM => {
            return Err(fail(format!(
                "the broker does not enable {mechanism}; it enables {}",
                if resp.mechanisms.is_empty() { "none".to_owned() } else { resp.mechanisms.join(", ") }
            )))
        }
        code => return Err(fail(format!("SaslHandshake failed: {}", describe(code)))),
    }
    let mut exchange = Exchange { conn, version: av, lifetime: None, user: sasl.user() };
    let outcome = match (&sasl.credentials, mechanism) {
        (SaslCredentials::Password { username, password }, SaslMechanism::Plain) => {
            let mut msg = Vec::with_capacity(username.len() + password.expose().len() + 2);
            msg.push(0);
            msg.extend_from_slice(username.as_bytes());
            msg.push(0);
            msg.extend_from_slice(password.expose().as_bytes());
            exchange.step(msg).map(drop)
        }
        #[cfg(feature = "sasl")]
        (
            SaslCredentials::Password { username, password },
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512,
        ) => {
            use scram::{ScramClient, ScramHash};
            let hash =
                if mechanism == SaslMechanism::ScramSha256 { ScramHash::Sha256 } else { ScramHash::Sha512 };
            (|| {
                let nonce = scram::random_nonce().map_err(Step::Client)?;
                let mut client = ScramClient::new(hash, username, nonce);
                let server_first = exchange.step(client.first_message())?;
                let fin = client.final_message(&server_first, password.expose()).map_err(Step::Client)?;
                let server_final = exchange.step(fin)?;
                client.verify_server(&server_final).map_err(Step::Client)
            })()
        }
        (SaslCredentials::Token(source), SaslMechanism::OAuthBearer) => (|| {
            let token = source
                .current()
                .map_err(|e| Step::Client(format!("no token from the token provider: {e}")))?;
            exchange.user = token.principal.clone();
            let mut msg = format!("n,,\x01auth=Bearer {}\x01", token.value);
            for (k, v) in &token.extensions {
                msg.push_str(&format!("{k}={v}\x01"));
            }
            msg.push('\x01');
            let challenge = exchange.step(msg.into_bytes())?;
            if !challenge.is_empty() {
                // RFC 7628 3.2.2: the server sent an error; answer with a
                // single %x01, and the broker then fails the authentication.
                let detail = String::from_utf8_lossy(&challenge).into_owned();
                return match exchange.step(vec![1]) {
                    Err(e) => Err(e),
                    Ok(_) => Err(Step::Server(format!("the broker rejected the token: {detail}"))),
                };
            }
            Ok(())
        })(),
        (_, m) => Err(Step::Client(format!("{m} is not built into this kafka-sync (cargo feature `sasl`)"))),
    };
    let user = exchange.user.clone();
    let lifetime = exchange.lifetime;
    match outcome {
        Ok(()) => {
            log::debug!(
                "authenticated to {addr} as `{user}` with {mechanism} (session lifetime {lifetime:?})"
            );
            Ok(lifetime)
        }
        Err(Step::Conn(e)) => Err(e),
        Err(Step::Server(m) | Step::Client(m)) if user.is_empty() => {
            Err(fail(format!("authentication failed: {m}")))
        }
        Err(Step::Server(m) | Step::Client(m)) => {
            Err(fail(format!("authentication of `{user}` failed: {m}")))
        }
    }
}

/// Why a step of an exchange failed.
enum Step {
    /// The connection failed.
    Conn(ConnError),
    /// The broker refused (its message).
    Server(String),
    /// We refused the broker's answer, or could not build ours.
    Client(String),
}

impl From<ConnError> for Step {
    fn from(e: ConnError) -> Self {
        Step::Conn(e)
    }
}

/// SaslAuthenticate round trips on one connection.
struct Exchange<'a> {
    conn: &'a mut Connection,
    version: i16,
    lifetime: Option<Duration>,
    user: String,
}

impl Exchange<'_> {
    /// Sends `bytes`; returns the broker's answer bytes.
    fn step(&mut self, bytes: Vec<u8>) -> Result<Vec<u8>, Step> {
        let resp: SaslAuthenticateResponse =
            self.conn.exchange(&SaslAuthenticateRequest { auth_bytes: bytes }, self.version)?;
        if resp.error_code != 0 {
            let msg =
                resp.error_message.filter(|m| !m.is_empty()).unwrap_or_else(|| describe(resp.error_code));
            return Err(Step::Server(msg));
        }
        if resp.session_lifetime_ms > 0 {
            self.lifetime = Some(Duration::from_millis(resp.session_lifetime_ms as u64));
        }
        Ok(resp.auth_bytes)
    }
}

fn describe(code: i16) -> String {
    KafkaCode(code).to_string()
}
