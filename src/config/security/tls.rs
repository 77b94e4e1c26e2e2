//! Loading certificates and keys, and making the rustls client configuration
//! (feature `tls`).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{invalid, unusable, SecurityBuilder};
use crate::config::ConfigError;

/// What to do with a keystore or truststore type other than PEM.
const CONVERT_KEYSTORE: &str = "JKS and PKCS12 keystores are not read by kafka-sync: convert to PEM \
    (`keytool -importkeystore -srckeystore ks.jks -destkeystore ks.p12 -deststoretype pkcs12`, then \
    `openssl pkcs12 -in ks.p12 -out ks.pem -nodes`) and set ssl.keystore.type=PEM with \
    ssl.keystore.location, or ssl.certificate.location and ssl.key.location";
const CONVERT_TRUSTSTORE: &str = "JKS and PKCS12 truststores are not read by kafka-sync: export the CA \
    certificates as PEM (`keytool -exportcert -rfc -keystore ts.jks -alias CARoot -file ca.pem`, or \
    `openssl pkcs12 -in ts.p12 -nokeys -out ca.pem`) and set ssl.ca.location (or ssl.truststore.type=PEM)";

/// Where a PEM text came from: (key as given, file path or "inline").
struct Source {
    key: &'static str,
    text: Vec<u8>,
}

fn read(b: &SecurityBuilder, file_key: &str, inline_key: &str) -> Result<Option<Source>, ConfigError> {
    if let (Some(f), Some(i)) = (b.get(file_key), b.get(inline_key)) {
        return Err(ConfigError::Conflict {
            key: i.key.to_owned(),
            value: "(set)".into(),
            other: f.key.to_owned(),
            reason: "set the file or the inline PEM, not both",
        });
    }
    if let Some(s) = b.get(inline_key) {
        // Java's inline PEM values may come with escaped newlines from a properties file.
        return Ok(Some(Source { key: s.key, text: s.value.replace("\\n", "\n").into_bytes() }));
    }
    if let Some(s) = b.get(file_key) {
        let text =
            std::fs::read(&s.value).map_err(|e| unusable(s.key, format!("cannot read {}: {e}", s.value)))?;
        return Ok(Some(Source { key: s.key, text }));
    }
    Ok(None)
}

fn store_type(b: &SecurityBuilder, key: &str, convert: &'static str) -> Result<(), ConfigError> {
    match b.get(key) {
        None => Ok(()),
        Some(s) if s.value.eq_ignore_ascii_case("PEM") => Ok(()),
        Some(s) if s.value.eq_ignore_ascii_case("JKS") || s.value.eq_ignore_ascii_case("PKCS12") => {
            Err(ConfigError::Unsupported { key: s.key.to_owned(), reason: convert })
        }
        Some(s) => Err(invalid(s.key, &s.value, "PEM (JKS and PKCS12 are not read)")),
    }
}

fn certificates(src: &Source) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&src.text).collect();
    let certs = certs.map_err(|e| unusable(src.key, format!("not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(unusable(src.key, "no certificate (`-----BEGIN CERTIFICATE-----`) found"));
    }
    Ok(certs)
}

fn private_key(
    src: &Source,
    password: Option<(&'static str, &str)>,
) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let text = String::from_utf8_lossy(&src.text);
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(unusable(
            src.key,
            "the key is encrypted in OpenSSL's legacy PEM format, which kafka-sync does not read: \
             convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out key.p8.pem`",
        ));
    }
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let Some((pkey, password)) = password else {
            return Err(ConfigError::Missing { key: "ssl.key.password" });
        };
        let (_, doc) = pkcs8::SecretDocument::from_pem(&text)
            .map_err(|e| unusable(src.key, format!("not a valid encrypted PKCS#8 key: {e}")))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
            .map_err(|e| unusable(src.key, format!("not a valid encrypted PKCS#8 key: {e}")))?;
        let plain = info.decrypt(password).map_err(|_| {
            unusable(
                pkey,
                format!("cannot decrypt the key of {}: wrong password or unsupported cipher", src.key),
            )
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain.as_bytes().to_vec())));
    }
    PrivateKeyDer::from_pem_slice(&src.text).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => unusable(
            src.key,
            "no private key (`BEGIN PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`) found",
        ),
        e => unusable(src.key, format!("not a valid PEM private key: {e}")),
    })
}

pub(super) fn client_config(
    b: &SecurityBuilder,
    verify_hostname: bool,
) -> Result<Arc<rustls::ClientConfig>, ConfigError> {
    store_type(b, "ssl.truststore.type", CONVERT_TRUSTSTORE)?;
    store_type(b, "ssl.keystore.type", CONVERT_KEYSTORE)?;
    // Java's stores default to JKS and librdkafka's keystore is PKCS#12: a
    // location without `ssl.*.type` is read when the file is PEM, and
    // refused with the conversion steps (naming what was found) otherwise.
    for (location, kind, convert) in [
        ("ssl.truststore.location", "ssl.truststore.type", CONVERT_TRUSTSTORE),
        ("ssl.keystore.location", "ssl.keystore.type", CONVERT_KEYSTORE),
    ] {
        let Some(s) = b.get(location) else { continue };
        if b.get(kind).is_some_and(|t| t.value.eq_ignore_ascii_case("PEM")) {
            continue;
        }
        let found = match std::fs::read(&s.value) {
            Err(e) => return Err(unusable(s.key, format!("cannot read {}: {e}", s.value))),
            Ok(bytes) => match bytes.as_slice() {
                [0xfe, 0xed, 0xfe, 0xed, ..] => "a JKS store",
                [0x30, ..] => "a PKCS#12 store",
                text if String::from_utf8_lossy(&text[..text.len().min(4096)]).contains("-----BEGIN") => {
                    continue
                }
                _ => "neither PEM, JKS nor PKCS#12",
            },
        };
        return Err(unusable(s.key, format!("{} is {found}. {convert}", s.value)));
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        match b.get("ssl.enabled.protocols").or_else(|| b.get("ssl.protocol")) {
            None => vec![&rustls::version::TLS13, &rustls::version::TLS12],
            Some(s) => {
                let mut v = Vec::new();
                for p in s.value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    match p {
                        _ if p.eq_ignore_ascii_case("TLSv1.3") => v.push(&rustls::version::TLS13),
                        _ if p.eq_ignore_ascii_case("TLSv1.2") => v.push(&rustls::version::TLS12),
                        _ if p.eq_ignore_ascii_case("TLS") && s.key == "ssl.protocol" => {
                            v.extend([&rustls::version::TLS13, &rustls::version::TLS12])
                        }
                        _ => return Err(invalid(s.key, &s.value, "TLSv1.2 and/or TLSv1.3")),
                    }
                }
                if v.is_empty() {
                    return Err(invalid(s.key, &s.value, "TLSv1.2 and/or TLSv1.3"));
                }
                v
            }
        };
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| unusable("ssl.enabled.protocols", e.to_string()))?;

    let verify =
        b.get("enable.ssl.certificate.verification").is_none_or(|s| !s.value.eq_ignore_ascii_case("false"));
    let verifier: Arc<dyn ServerCertVerifier> = if !verify {
        log::warn!(
            "enable.ssl.certificate.verification=false: broker certificates are NOT verified; \
             anyone on the path can impersonate the brokers"
        );
        Arc::new(AcceptAny(provider.clone()))
    } else {
        let roots = roots(b)?;
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| unusable("ssl.ca.location", e.to_string()))?;
        if verify_hostname {
            webpki
        } else {
            log::warn!(
                "ssl.endpoint.identification.algorithm is off: broker certificates are verified \
                 but not matched against the broker's host name"
            );
            Arc::new(AnyName(webpki))
        }
    };
    let builder = builder.dangerous().with_custom_certificate_verifier(verifier);

    let chain = read(b, "ssl.certificate.location", "ssl.certificate.pem")?.or(read(
        b,
        "ssl.keystore.location",
        "ssl.keystore.certificate.chain",
    )?);
    let key =
        read(b, "ssl.key.location", "ssl.key.pem")?.or(read(b, "ssl.keystore.location", "ssl.keystore.key")?);
    let password = b.get("ssl.key.password").or_else(|| b.get("ssl.keystore.password"));
    let config = match (chain, key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(c), Some(k)) => {
            let chain = certificates(&c)?;
            let key = private_key(&k, password.map(|p| (p.key, p.value.as_str())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| unusable(k.key, format!("the key does not suit the certificate: {e}")))?
        }
        (Some(c), None) => {
            return Err(ConfigError::Conflict {
                key: c.key.to_owned(),
                value: "(set)".into(),
                other: "ssl.key.location".into(),
                reason: "a client certificate needs its private key",
            })
        }
        (None, Some(k)) => {
            return Err(ConfigError::Conflict {
                key: k.key.to_owned(),
                value: "(set)".into(),
                other: "ssl.certificate.location".into(),
                reason: "a client key needs its certificate",
            })
        }
    };
    Ok(Arc::new(config))
}

/// The CAs for the OIDC token endpoint: `https.ca.location` /
/// `https.ca.pem` (librdkafka's names), or the system's, as DER.
#[cfg(feature = "oidc")]
pub(super) fn https_roots(b: &SecurityBuilder) -> Result<Vec<Vec<u8>>, ConfigError> {
    if let Some(src) = read(b, "https.ca.location", "https.ca.pem")? {
        return Ok(certificates(&src)?.into_iter().map(|c| c.to_vec()).collect());
    }
    let found = rustls_native_certs::load_native_certs();
    Ok(found.certs.into_iter().map(|c| c.to_vec()).collect())
}

/// The configured CAs, or the system's.
fn roots(b: &SecurityBuilder) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    let configured = match read(b, "ssl.ca.location", "ssl.ca.pem")? {
        Some(s) => Some(s),
        None => read(b, "ssl.truststore.location", "ssl.truststore.certificates")?,
    };
    if let Some(src) = configured {
        for cert in certificates(&src)? {
            roots.add(cert).map_err(|e| unusable(src.key, format!("not a usable CA certificate: {e}")))?;
        }
        return Ok(roots);
    }
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        log::debug!("reading the system's root certificates: {e}");
    }
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(unusable(
            "ssl.ca.location",
            "no system root certificates found (install ca-certificates, or set ssl.ca.location)",
        ));
    }
    Ok(roots)
}

/// Verifies the chain, ignoring the name (`ssl.endpoint.identification.algorithm=none`).
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Accepts any certificate (`enable.ssl.certificate.verification=false`);
/// handshake signatures are still checked.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
