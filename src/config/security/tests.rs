use super::jaas::parse_jaas;
use super::*;

#[test]
fn jaas_lines_parse_and_errors_hide_values() {
    let j = parse_jaas(
        r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="s3\"cret";"#,
    )
    .unwrap();
    assert!(j.module.ends_with("ScramLoginModule"));
    assert_eq!(j.options["username"], "alice");
    assert_eq!(j.options["password"], "s3\"cret");
    let j = parse_jaas("x.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=bob ;").unwrap();
    assert_eq!(j.options["unsecuredLoginStringClaim_sub"], "bob");
    let e = parse_jaas(r#"x.PlainLoginModule required username="u" password="hunter2""#).unwrap_err();
    assert!(e.contains("final `;`") && !e.contains("hunter2"), "{e}");
    let e = parse_jaas(r#"x.PlainLoginModule required password="hunter2;"#).unwrap_err();
    assert!(!e.contains("hunter2"), "{e}");
    assert!(parse_jaas("x.PlainLoginModule maybe;").is_err());
}

use crate::config::ProducerConfig;

fn build(props: &[(&str, &str)]) -> Result<ProducerConfig, ConfigError> {
    ProducerConfig::builder().bootstrap_servers("localhost:9092").set_all(props.iter().copied()).build()
}

#[test]
fn sasl_settings_from_both_worlds() {
    // librdkafka's names.
    let c = build(&[
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanisms", "PLAIN"),
        ("sasl.username", "alice"),
        ("sasl.password", "hunter2"),
    ])
    .unwrap();
    assert_eq!(c.security().protocol(), SecurityProtocol::SaslPlaintext);
    assert_eq!(c.security().sasl_mechanism(), Some(SaslMechanism::Plain));
    // Java's, pasted from a client.properties.
    let c = build(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        (
            "sasl.jaas.config",
            r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="bob" password="hunter2";"#,
        ),
    ])
    .unwrap();
    let sasl = c.security().sasl().unwrap();
    assert_eq!(sasl.user(), "bob");
    // Secrets stay out of Debug output.
    for text in [format!("{c:?}"), format!("{:?}", c.security())] {
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn sasl_mistakes_name_the_key_and_hide_the_secret() {
    let e = build(&[("security.protocol", "SASL_SSL")]).unwrap_err();
    assert_eq!(e.key(), "sasl.mechanism");
    assert!(e.to_string().contains("GSSAPI"), "{e}");
    let e = build(&[("sasl.mechanism", "GSSAPI")]).unwrap_err();
    assert!(matches!(e, ConfigError::Unsupported { .. }), "{e}");
    let e = build(&[("sasl.kerberos.service.name", "kafka")]).unwrap_err();
    assert!(e.to_string().contains("GSSAPI"), "{e}");
    let e = build(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "u"),
    ])
    .unwrap_err();
    assert_eq!(e, ConfigError::Missing { key: "sasl.password" });
    let e = build(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.jaas.config", r#"x.PlainLoginModule required username="u" password="hunter2""#),
    ])
    .unwrap_err();
    assert_eq!(e.key(), "sasl.jaas.config");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    let e = build(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "OAUTHBEARER"),
        ("sasl.jaas.config", r#"x.PlainLoginModule required username="u" password="hunter2";"#),
    ])
    .unwrap_err();
    assert!(matches!(e, ConfigError::Conflict { .. }), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    let e = build(&[("security.protocol", "TLS")]).unwrap_err();
    assert_eq!(e.key(), "security.protocol");
}

#[cfg(feature = "sasl")]
#[test]
fn unsecured_oauthbearer_tokens() {
    use base64::Engine;
    let e = build(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "OAUTHBEARER"),
        ("sasl.oauthbearer.config", "principal=alice"),
    ])
    .unwrap_err();
    assert_eq!(e.key(), "sasl.oauthbearer.config");
    let c = build(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "OAUTHBEARER"),
        ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
        ("sasl.oauthbearer.config", "principal=alice lifeSeconds=60 extension_traceId=1"),
    ])
    .unwrap();
    let SaslCredentials::Token(source) = &c.security().sasl().unwrap().credentials else { panic!() };
    let token = source.current().unwrap();
    assert_eq!(token.principal, "alice");
    assert_eq!(token.extensions, vec![("traceId".to_owned(), "1".to_owned())]);
    let parts: Vec<&str> = token.value.split('.').collect();
    assert_eq!(parts.len(), 3);
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
    let payload = String::from_utf8(payload).unwrap();
    assert!(payload.contains(r#""sub":"alice""#), "{payload}");
    // Whole seconds, never in the future (the scramp-based test proxy refused
    // a rounded-up fractional `iat` as issued in the future).
    let iat: u64 =
        payload.split("\"iat\":").nth(1).unwrap().split([',', '}']).next().unwrap().parse().unwrap();
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    assert!(iat <= now, "iat {iat} is after now {now}");
    assert!(!format!("{token:?}").contains(parts[1]), "Debug hides the token");
    // Cached until 80% of its lifetime.
    assert_eq!(source.current().unwrap().value, token.value);
    // Java's JAAS form.
    build(&[
        ("security.protocol", "SASL_SSL"),
        ("ssl.ca.pem", TEST_CA_PLACEHOLDER),
        ("sasl.mechanism", "OAUTHBEARER"),
        (
            "sasl.jaas.config",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"bob\";",
        ),
    ])
    .map(drop)
    .unwrap_or_else(|e| assert_eq!(e.key(), "ssl.ca.pem", "{e}"));
}

/// Not a certificate: building with it must fail on `ssl.ca.pem`, after
/// the SASL settings parsed.
#[cfg(feature = "sasl")]
const TEST_CA_PLACEHOLDER: &str = "not a certificate";

#[cfg(feature = "tls")]
mod tls {
    use super::*;

    struct Pki {
        dir: std::path::PathBuf,
        ca: String,
    }

    fn pki(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("kafka-sync-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let client_key = rcgen::KeyPair::generate().unwrap();
        let client = rcgen::CertificateParams::new(vec!["client".to_owned()])
            .unwrap()
            .signed_by(&client_key, &ca_cert, &ca_key)
            .unwrap();
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.join("client.pem"), client.pem()).unwrap();
        std::fs::write(dir.join("client.key"), client_key.serialize_pem()).unwrap();
        std::fs::write(dir.join("both.pem"), format!("{}{}", client_key.serialize_pem(), client.pem()))
            .unwrap();
        Pki { dir, ca: ca_cert.pem() }
    }

    impl Pki {
        fn path(&self, f: &str) -> String {
            self.dir.join(f).display().to_string()
        }
    }

    #[test]
    fn tls_settings_load_at_build_time() {
        let p = pki("load");
        let c = build(&[("security.protocol", "ssl"), ("ssl.ca.location", &p.path("ca.pem"))]).unwrap();
        assert!(c.security().tls().is_some() && c.security().verifies_hostname());
        // mTLS, librdkafka's names and Java's PEM keystore.
        build(&[
            ("security.protocol", "SSL"),
            ("ssl.ca.pem", &p.ca),
            ("ssl.certificate.location", &p.path("client.pem")),
            ("ssl.key.location", &p.path("client.key")),
            ("ssl.endpoint.identification.algorithm", ""),
        ])
        .unwrap();
        build(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", &p.path("ca.pem")),
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", &p.path("both.pem")),
        ])
        .unwrap();
        // A PEM store without ssl.*.type (Java would take it for JKS) is read as PEM.
        build(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.location", &p.path("ca.pem")),
            ("ssl.keystore.location", &p.path("both.pem")),
        ])
        .unwrap();
        let d = format!("{:?}", build(&[("security.protocol", "SSL"), ("ssl.ca.pem", &p.ca)]).unwrap());
        assert!(!d.contains("BEGIN"), "{d}");
    }

    /// Extra properties, the key the error must name, text it must contain.
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);

    #[test]
    fn tls_mistakes_name_the_key() {
        let p = pki("mistakes");
        let missing = p.path("nope.pem");
        let (client_key, client_pem, ca_pem) = (p.path("client.key"), p.path("client.pem"), p.path("ca.pem"));
        let (jks, p12) = (p.path("ts.jks"), p.path("ks.p12"));
        std::fs::write(&jks, [0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]).unwrap();
        std::fs::write(&p12, [0x30, 0x82, 0x01, 0x00]).unwrap();
        let cases: Vec<Case> = vec![
            (vec![("ssl.ca.location", &missing)], "ssl.ca.location", "cannot read"),
            (vec![("ssl.ca.location", &client_key)], "ssl.ca.location", "no certificate"),
            (vec![("ssl.truststore.location", "/x/ts.jks")], "ssl.truststore.location", "cannot read"),
            (vec![("ssl.truststore.location", &jks)], "ssl.truststore.location", "is a JKS store"),
            (vec![("ssl.keystore.location", &p12)], "ssl.keystore.location", "is a PKCS#12 store"),
            (
                vec![("ssl.keystore.type", "PKCS12"), ("ssl.keystore.location", "/x/ks.p12")],
                "ssl.keystore.type",
                "openssl pkcs12",
            ),
            (vec![("ssl.certificate.location", &client_pem)], "ssl.certificate.location", "private key"),
            (
                vec![("ssl.certificate.location", &client_pem), ("ssl.key.location", &ca_pem)],
                "ssl.key.location",
                "no private key",
            ),
            (vec![("ssl.enabled.protocols", "TLSv1.1")], "ssl.enabled.protocols", "TLSv1.2"),
            (
                vec![("ssl.endpoint.identification.algorithm", "ldap")],
                "ssl.endpoint.identification.algorithm",
                "https",
            ),
            (vec![("ssl.cipher.suites", "X")], "ssl.cipher.suites", "rustls"),
            (vec![("ssl.ca.pem", "x"), ("ssl.ca.location", "y")], "ssl.ca.pem", "not both"),
        ];
        for (extra, key, text) in cases {
            let mut props = vec![("security.protocol", "SSL")];
            if !extra.iter().any(|(k, _)| k.starts_with("ssl.ca.") || k.starts_with("ssl.truststore.")) {
                props.push(("ssl.ca.pem", p.ca.as_str()));
            }
            props.extend(extra);
            let e = build(&props).unwrap_err();
            assert_eq!(e.key(), key, "{e}");
            assert!(e.to_string().contains(text), "{key}: {e}");
        }
    }

    #[test]
    fn encrypted_keys_need_the_right_password() {
        use pkcs8::der::pem::LineEnding;
        let p = pki("encrypted");
        let key = rcgen::KeyPair::generate().unwrap();
        let doc = pkcs8::PrivateKeyInfo::try_from(key.serialized_der()).unwrap();
        // What `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes: PBES2 with
        // PBKDF2-SHA256 (2048 rounds) and AES-256-CBC. (pkcs8's default,
        // scrypt, takes 40 s in a debug build.)
        let params =
            pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"saltsalt", &[7; 16]).unwrap();
        let enc = doc
            .encrypt_with_params(params, "s3cret")
            .unwrap()
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .unwrap();
        std::fs::write(p.dir.join("enc.key"), enc.as_str()).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["c".to_owned()]).unwrap().self_signed(&key).unwrap();
        std::fs::write(p.dir.join("enc.pem"), cert.pem()).unwrap();
        let base = |pw: Option<&str>| {
            let mut props = vec![
                ("security.protocol".to_owned(), "SSL".to_owned()),
                ("ssl.ca.pem".to_owned(), p.ca.clone()),
                ("ssl.certificate.location".to_owned(), p.path("enc.pem")),
                ("ssl.key.location".to_owned(), p.path("enc.key")),
            ];
            if let Some(pw) = pw {
                props.push(("ssl.key.password".to_owned(), pw.to_owned()));
            }
            ProducerConfig::builder().bootstrap_servers("localhost:9092").set_all(props).build()
        };
        base(Some("s3cret")).unwrap();
        let e = base(Some("wrong-pw")).unwrap_err();
        assert_eq!(e.key(), "ssl.key.password", "{e}");
        assert!(!e.to_string().contains("wrong-pw"), "{e}");
        assert_eq!(base(None).unwrap_err(), ConfigError::Missing { key: "ssl.key.password" });
    }
}

#[test]
fn names_parse_in_any_case() {
    assert_eq!(SecurityProtocol::from_name("sasl_ssl"), Some(SecurityProtocol::SaslSsl));
    assert_eq!(SecurityProtocol::from_name("Ssl"), Some(SecurityProtocol::Ssl));
    assert_eq!(SaslMechanism::from_name("scram-sha-512"), Some(SaslMechanism::ScramSha512));
    assert_eq!(SaslMechanism::from_name("GSSAPI"), None);
}

#[cfg(feature = "oidc")]
#[test]
fn oidc_settings_from_both_worlds() {
    let base = [("security.protocol", "SASL_PLAINTEXT"), ("sasl.mechanism", "OAUTHBEARER")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut p = base.to_vec();
        p.extend_from_slice(extra);
        build(&p)
    };
    let e = with(&[("sasl.oauthbearer.method", "oidc")]).unwrap_err();
    assert_eq!(e, ConfigError::Missing { key: "sasl.oauthbearer.token.endpoint.url" });
    let e = with(&[("sasl.oauthbearer.method", "oidc"), ("sasl.oauthbearer.token.endpoint.url", "ftp://x")])
        .unwrap_err();
    assert_eq!(e.key(), "sasl.oauthbearer.token.endpoint.url");
    let e = with(&[
        ("sasl.oauthbearer.method", "oidc"),
        ("sasl.oauthbearer.token.endpoint.url", "https://idp.example/token"),
        ("sasl.oauthbearer.client.id", "id"),
    ])
    .unwrap_err();
    assert_eq!(e, ConfigError::Missing { key: "sasl.oauthbearer.client.secret" });
    // librdkafka's names.
    let c = with(&[
        ("sasl.oauthbearer.method", "OIDC"),
        ("sasl.oauthbearer.token.endpoint.url", "https://idp.example/token"),
        ("sasl.oauthbearer.client.id", "id"),
        ("sasl.oauthbearer.client.secret", "hunter2"),
        ("sasl.oauthbearer.scope", "kafka"),
        ("sasl.oauthbearer.extensions", "logicalCluster=lkc-1,identityPoolId=pool-2"),
    ])
    .unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
    // Java's.
    with(&[
        (
            "sasl.login.callback.handler.class",
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
        ),
        ("sasl.oauthbearer.token.endpoint.url", "https://idp.example/token"),
        (
            "sasl.jaas.config",
            r#"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required clientId="id" clientSecret="hunter2" scope="kafka";"#,
        ),
    ])
    .unwrap();
    let e = with(&[("sasl.login.callback.handler.class", "com.example.Mine")]).unwrap_err();
    assert!(matches!(e, ConfigError::Unsupported { .. }), "{e}");
    let e = with(&[("sasl.oauthbearer.method", "magic")]).unwrap_err();
    assert_eq!(e.key(), "sasl.oauthbearer.method");
}
