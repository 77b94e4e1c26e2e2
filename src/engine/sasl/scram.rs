//! The client side of SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677),
//! as Kafka uses it: no channel binding (`n,,`), no authorization id, the
//! password used as its UTF-8 bytes (Kafka does not apply SASLprep).
//!
//! The primitives (SHA-2, HMAC, PBKDF2) are RustCrypto's; the nonce comes from
//! the operating system's randomness.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's bounds on the iteration count (`ScramMechanism`): a broker asking
/// for more is refused rather than let it make the client spin.
pub(crate) const MIN_ITERATIONS: u32 = 4096;
pub(crate) const MAX_ITERATIONS: u32 = 16384;

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
        match self {
            ScramHash::Sha256 => run::<Hmac<Sha256>>(key, parts),
            ScramHash::Sha512 => run::<Hmac<Sha512>>(key, parts),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// Hi() of RFC 5802: PBKDF2 with HMAC of this hash.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            ScramHash::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// A SCRAM exchange in progress on the client side.
pub(crate) struct ScramClient {
    hash: ScramHash,
    nonce: String,
    first_bare: String,
    /// Set by `final_message`: the signature the server must prove.
    server_signature: Option<Vec<u8>>,
}

/// `saslname` of RFC 5802: `=` and `,` escaped.
fn escape(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// A nonce of 24 random bytes, base64 (printable, no `,`).
pub(crate) fn random_nonce() -> Result<String, String> {
    let mut raw = [0u8; 24];
    getrandom::getrandom(&mut raw).map_err(|e| format!("no randomness for the SCRAM nonce: {e}"))?;
    Ok(B64.encode(raw))
}

impl ScramClient {
    /// Starts an exchange for `user` with a client nonce.
    pub fn new(hash: ScramHash, user: &str, nonce: String) -> Self {
        let first_bare = format!("n={},r={nonce}", escape(user));
        Self { hash, nonce, first_bare, server_signature: None }
    }

    /// The client-first-message.
    pub fn first_message(&self) -> Vec<u8> {
        format!("n,,{}", self.first_bare).into_bytes()
    }

    /// Checks the server-first-message and returns the client-final-message.
    pub fn final_message(&mut self, server_first: &[u8], password: &str) -> Result<Vec<u8>, String> {
        let server_first = std::str::from_utf8(server_first)
            .map_err(|_| "the server's first SCRAM message is not UTF-8".to_owned())?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for (i, attr) in server_first.split(',').enumerate() {
            match attr.split_once('=') {
                Some(("m", _)) if i == 0 => return Err("the server asks for a SCRAM extension (m=)".into()),
                Some(("e", err)) => return Err(format!("the server refused: {err}")),
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err("the server's first SCRAM message lacks r=, s= or i=".into());
        };
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the server's SCRAM nonce does not extend ours".into());
        }
        let salt = B64.decode(salt).map_err(|_| "the server's SCRAM salt is not base64".to_owned())?;
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| "the server's SCRAM iteration count is not a number".to_owned())?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!(
                "the server asks for {iterations} SCRAM iterations, outside Kafka's {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            ));
        }
        let salted = self.hash.salted_password(password.as_bytes(), &salt, iterations);
        let client_key = self.hash.hmac(&salted, &[b"Client Key"]);
        let stored_key = self.hash.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message =
            [self.first_bare.as_bytes(), b",", server_first.as_bytes(), b",", without_proof.as_bytes()];
        let client_signature = self.hash.hmac(&stored_key, &auth_message);
        let proof: Vec<u8> = client_key.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
        let server_key = self.hash.hmac(&salted, &[b"Server Key"]);
        self.server_signature = Some(self.hash.hmac(&server_key, &auth_message));
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks the server-final-message: the server must prove it knows the
    /// password too.
    pub fn verify_server(&self, server_final: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| "the server's final SCRAM message is not UTF-8".to_owned())?;
        let first = text.split(',').next().unwrap_or("");
        if let Some(err) = first.strip_prefix("e=") {
            return Err(format!("the server refused: {err}"));
        }
        let Some(v) = first.strip_prefix("v=") else {
            return Err("the server's final SCRAM message has no signature (v=)".into());
        };
        let got = B64.decode(v).map_err(|_| "the server's SCRAM signature is not base64".to_owned())?;
        let want = self.server_signature.as_ref().ok_or("SCRAM exchange out of order")?;
        // Constant time is not needed on the client (the secret is ours), but costs nothing.
        if got.len() != want.len() || got.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0 {
            return Err("the server's SCRAM signature is wrong: it does not know the password \
                        (or something altered the exchange)"
                .into());
        }
        Ok(())
    }
}

/// The server side, for the crate's mock cluster: (stored key, server key,
/// salt, iterations) from a password, as a broker stores SCRAM credentials.
#[cfg(feature = "mock")]
pub(crate) mod server {
    use super::*;

    /// A SCRAM credential as a broker stores it.
    #[derive(Debug, Clone)]
    pub(crate) struct Credential {
        pub hash: ScramHash,
        pub salt: Vec<u8>,
        pub iterations: u32,
        pub stored_key: Vec<u8>,
        pub server_key: Vec<u8>,
    }

    impl Credential {
        pub fn new(hash: ScramHash, password: &str, salt: Vec<u8>, iterations: u32) -> Self {
            let salted = hash.salted_password(password.as_bytes(), &salt, iterations);
            let client_key = hash.hmac(&salted, &[b"Client Key"]);
            Self {
                hash,
                stored_key: hash.hash(&client_key),
                server_key: hash.hmac(&salted, &[b"Server Key"]),
                salt,
                iterations,
            }
        }

        /// Verifies the client's final message against the exchange so far;
        /// returns the server-final-message (`v=...`) or why it failed.
        pub fn verify(
            &self,
            client_first_bare: &str,
            server_first: &str,
            client_final: &str,
        ) -> Result<String, String> {
            let (without_proof, proof) = client_final
                .rsplit_once(",p=")
                .ok_or_else(|| "client-final-message has no proof".to_owned())?;
            let proof = B64.decode(proof).map_err(|_| "proof is not base64".to_owned())?;
            let auth =
                [client_first_bare.as_bytes(), b",", server_first.as_bytes(), b",", without_proof.as_bytes()];
            let client_signature = self.hash.hmac(&self.stored_key, &auth);
            if proof.len() != client_signature.len() {
                return Err("invalid proof".into());
            }
            let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
            if self.hash.hash(&client_key) != self.stored_key {
                return Err("invalid credentials".into());
            }
            Ok(format!("v={}", B64.encode(self.hash.hmac(&self.server_key, &auth))))
        }

        /// The salt, base64.
        pub fn salt_b64(&self) -> String {
            B64.encode(&self.salt)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: the SCRAM-SHA-256 example exchange.
    #[test]
    fn rfc7677_example() {
        let mut c = ScramClient::new(ScramHash::Sha256, "user", "rOprNGfwEbeRWgbNEkqO".into());
        assert_eq!(c.first_message(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first =
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let fin = c.final_message(server_first, "pencil").unwrap();
        assert_eq!(
            String::from_utf8(fin).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.verify_server(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
        let e = c.verify_server(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap_err();
        assert!(e.contains("signature is wrong"), "{e}");
        assert!(c.verify_server(b"e=invalid-proof").unwrap_err().contains("invalid-proof"));
    }

    #[test]
    fn hostile_server_first_messages_are_refused() {
        let mut c = ScramClient::new(ScramHash::Sha512, "u,=x", "abc".into());
        assert_eq!(c.first_message(), b"n,,n=u=2C=3Dx,r=abc");
        for bad in [
            &b"r=xyz,s=QUJD,i=4096"[..],   // nonce not ours
            b"r=abc,s=QUJD,i=4096",        // nonce not extended
            b"r=abcd,s=!!,i=4096",         // salt not base64
            b"r=abcd,s=QUJD,i=99999999",   // too many iterations
            b"r=abcd,s=QUJD,i=1",          // too few
            b"r=abcd,s=QUJD",              // no count
            b"m=ext,r=abcd,s=QUJD,i=4096", // mandatory extension
            b"\xff\xfe",                   // not UTF-8
        ] {
            assert!(c.final_message(bad, "pw").is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[cfg(feature = "mock")]
    #[test]
    fn client_and_mock_server_agree_for_both_hashes() {
        for hash in [ScramHash::Sha256, ScramHash::Sha512] {
            let cred = server::Credential::new(hash, "secret", b"salty".to_vec(), 4096);
            let mut c = ScramClient::new(hash, "alice", random_nonce().unwrap());
            let first = String::from_utf8(c.first_message()).unwrap();
            let bare = first.strip_prefix("n,,").unwrap();
            let nonce = bare.split_once(",r=").unwrap().1;
            let server_first = format!("r={nonce}srv,s={},i=4096", cred.salt_b64());
            let fin = String::from_utf8(c.final_message(server_first.as_bytes(), "secret").unwrap()).unwrap();
            let server_final = cred.verify(bare, &server_first, &fin).unwrap();
            c.verify_server(server_final.as_bytes()).unwrap();
            // A wrong password fails on the server.
            let mut c = ScramClient::new(hash, "alice", "n1".into());
            let server_first = format!("r=n1srv,s={},i=4096", cred.salt_b64());
            let fin = String::from_utf8(c.final_message(server_first.as_bytes(), "wrong").unwrap()).unwrap();
            assert!(cred.verify("n=alice,r=n1", &server_first, &fin).is_err());
        }
    }
}
