//! OAUTHBEARER tokens from an OpenID Connect provider, by the OAuth 2.0
//! client credentials grant (RFC 6749 section 4.4), as Java's
//! `OAuthBearerLoginCallbackHandler` and librdkafka's
//! `sasl.oauthbearer.method=oidc` fetch them (feature `oidc`).
//!
//! A POST to the token endpoint with `grant_type=client_credentials` (and
//! `scope` when set), the client id and secret in HTTP Basic authentication;
//! the JSON answer's `access_token` and `expires_in` make the token, and its
//! principal is the JWT's `sub` claim. The producer asks again once 80% of the
//! token's lifetime has passed (see `TokenSource`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use crate::config::security::Secret;
use crate::config::{OAuthBearerToken, OAuthBearerTokenProvider};

/// Tokens by the client credentials grant.
pub(crate) struct ClientCredentials {
    pub endpoint: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub scope: Option<String>,
    pub extensions: Vec<(String, String)>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// A client for `endpoint`, trusting `roots` (DER certificates) for HTTPS.
    pub fn new(
        endpoint: String,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
        extensions: Vec<(String, String)>,
        roots: Vec<Vec<u8>>,
        timeout: Duration,
    ) -> Self {
        let certs: Vec<ureq::tls::Certificate<'static>> =
            roots.iter().map(|der| ureq::tls::Certificate::from_der(der).to_owned()).collect();
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Self { endpoint, client_id, client_secret, scope, extensions, agent }
    }
}

/// `application/x-www-form-urlencoded` escaping.
fn form_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl OAuthBearerTokenProvider for ClientCredentials {
    fn token(&self) -> Result<OAuthBearerToken, String> {
        let mut body = "grant_type=client_credentials".to_owned();
        if let Some(scope) = &self.scope {
            body.push_str("&scope=");
            body.push_str(&form_escape(scope));
        }
        // RFC 6749 2.3.1: id and secret form-encoded, then Basic.
        let basic = STANDARD.encode(format!(
            "{}:{}",
            form_escape(&self.client_id),
            form_escape(self.client_secret.expose())
        ));
        let endpoint = &self.endpoint;
        let mut resp = self
            .agent
            .post(endpoint)
            .header("Authorization", &format!("Basic {basic}"))
            .header("Accept", "application/json")
            .content_type("application/x-www-form-urlencoded")
            .send(body.as_bytes())
            .map_err(|e| format!("token request to {endpoint} failed: {e}"))?;
        let status = resp.status();
        let text = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| format!("reading the token response of {endpoint}: {e}"))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{endpoint} answered {status} with something that is not JSON: {e}"))?;
        if !status.is_success() {
            let err = json.get("error").and_then(|e| e.as_str()).unwrap_or("no error code");
            let desc = json.get("error_description").and_then(|e| e.as_str()).unwrap_or("");
            return Err(format!("{endpoint} refused client `{}`: {status} {err} {desc}", self.client_id));
        }
        let token = json
            .get("access_token")
            .and_then(|t| t.as_str())
            .ok_or_else(|| format!("the token response of {endpoint} has no access_token"))?
            .to_owned();
        let now = SystemTime::now();
        let claims = jwt_claims(&token);
        let expires_at = match json.get("expires_in").and_then(|e| e.as_f64()) {
            Some(secs) if secs > 0.0 && secs < 1e9 => now + Duration::from_secs_f64(secs),
            _ => claims
                .as_ref()
                .and_then(|c| c.get("exp")?.as_f64())
                .filter(|e| *e > 0.0 && *e < 1e11)
                .map(|e| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(e))
                .ok_or_else(|| format!("the token from {endpoint} says neither expires_in nor exp"))?,
        };
        let principal = claims
            .as_ref()
            .and_then(|c| c.get("sub")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| self.client_id.clone());
        Ok(OAuthBearerToken { value: token, expires_at, principal, extensions: self.extensions.clone() })
    }
}

/// The claims of a JWT, if `token` is one (no signature check: the broker
/// checks it; the client only reads the subject and expiry).
fn jwt_claims(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    /// A one-shot token endpoint: checks the request, answers `answer`.
    fn endpoint(status: &'static str, answer: String) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/token", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let mut s = s;
            write!(s, "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}", answer.len()).unwrap();
            head + &String::from_utf8(body).unwrap()
        });
        (url, h)
    }

    fn client(url: String) -> ClientCredentials {
        ClientCredentials::new(
            url,
            "my client".into(),
            Secret::new("s3cret:&".into()),
            Some("kafka write".into()),
            vec![("logicalCluster".into(), "lkc-1".into())],
            Vec::new(),
            Duration::from_secs(5),
        )
    }

    #[test]
    fn client_credentials_grant() {
        let jwt = format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"sub":"svc-orders","exp":4102444800}"#)
        );
        let (url, h) = endpoint(
            "200 OK",
            format!(r#"{{"access_token":"{jwt}","token_type":"Bearer","expires_in":300}}"#),
        );
        let t = client(url).token().unwrap();
        let request = h.join().unwrap();
        assert!(request.starts_with("POST /token"), "{request}");
        // "my client:s3cret:&", form-escaped then base64.
        let basic = STANDARD.encode("my+client:s3cret%3A%26");
        assert!(request.contains(&format!("Basic {basic}")), "{request}");
        assert!(request.ends_with("grant_type=client_credentials&scope=kafka+write"), "{request}");
        assert_eq!(t.value, jwt);
        assert_eq!(t.principal, "svc-orders");
        let left = t.expires_at.duration_since(SystemTime::now()).unwrap();
        assert!(left > Duration::from_secs(290) && left <= Duration::from_secs(300), "{left:?}");
        assert_eq!(t.extensions.len(), 1);
    }

    #[test]
    fn refusals_are_clear_and_keep_the_secret_out() {
        let (url, h) = endpoint(
            "401 Unauthorized",
            r#"{"error":"invalid_client","error_description":"bad secret"}"#.into(),
        );
        let e = client(url).token().unwrap_err();
        h.join().unwrap();
        assert!(e.contains("invalid_client") && e.contains("my client"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let (url, h) = endpoint("200 OK", r#"{"token_type":"Bearer"}"#.into());
        assert!(client(url).token().unwrap_err().contains("no access_token"));
        h.join().unwrap();
        let e = client("http://127.0.0.1:9/token".into()).token().unwrap_err();
        assert!(e.contains("127.0.0.1:9"), "{e}");
    }
}
