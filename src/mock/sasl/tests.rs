//! Unit tests of `sasl`.

use super::*;
use crate::engine::sasl::scram::ScramClient;

fn server(mechanisms: &[SaslMechanism], lifetime: Option<Duration>) -> Arc<SaslServer> {
    let c = SaslConfig {
        mechanisms: mechanisms.to_vec(),
        users: vec![("alice".into(), "alice-pw".into()), ("b,=b".into(), "pw2".into())],
        principals: Vec::new(),
        session_lifetime: lifetime,
    };
    Arc::new(SaslServer::new(&c).unwrap())
}

fn header(api: i16, version: i16) -> RequestHeader {
    RequestHeader { api_key: api, api_version: version, correlation_id: 1, client_id: None }
}

fn handshake(s: &mut Session, mechanism: &str) -> (SaslHandshakeResponse, Then) {
    let body = RequestBody::SaslHandshake(SaslHandshakeRequest::new(mechanism));
    match s.handle(&header(api_key::SASL_HANDSHAKE, 1), &body, None) {
        (Some(ResponseBody::SaslHandshake(r)), then) => (r, then),
        other => panic!("{other:?}"),
    }
}

fn auth(s: &mut Session, bytes: &[u8]) -> (SaslAuthenticateResponse, Then) {
    let body = RequestBody::SaslAuthenticate(SaslAuthenticateRequest { auth_bytes: bytes.to_vec() });
    match s.handle(&header(api_key::SASL_AUTHENTICATE, 2), &body, None) {
        (Some(ResponseBody::SaslAuthenticate(r)), then) => (r, then),
        other => panic!("{other:?}"),
    }
}

fn token(payload: &str) -> Vec<u8> {
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("n,,\x01auth=Bearer {}.{}.\x01\x01", b.encode(r#"{"alg":"none"}"#), b.encode(payload))
        .into_bytes()
}

#[test]
fn plain_success_failure_and_gating() {
    let srv = server(&[SaslMechanism::Plain], Some(Duration::from_secs(60)));
    let mut s = Session::new(srv.clone());
    let now = Instant::now();
    assert!(s.admit(api_key::API_VERSIONS, now).is_ok());
    assert!(s.admit(api_key::METADATA, now).is_err());
    let (r, then) = handshake(&mut s, "SCRAM-SHA-256");
    assert_eq!((r.error_code, then), (KafkaCode::UNSUPPORTED_SASL_MECHANISM.0, Then::Close));
    assert_eq!(r.mechanisms, ["PLAIN"]);

    let mut s = Session::new(srv.clone());
    assert_eq!(handshake(&mut s, "PLAIN").0.error_code, 0);
    assert!(s.admit(api_key::API_VERSIONS, now).is_err(), "mid-exchange");
    assert_eq!(s.max_frame(100 << 20), MAX_UNAUTHENTICATED_FRAME);
    let (r, then) = auth(&mut s, b"\0alice\0alice-pw");
    assert_eq!((r.error_code, r.session_lifetime_ms, then), (0, 60_000, Then::Continue));
    assert_eq!(s.principal(), Some("alice"));
    assert!(s.admit(api_key::PRODUCE, Instant::now()).is_ok());
    assert_eq!(s.max_frame(100 << 20), 100 << 20);

    let mut s = Session::new(srv.clone());
    handshake(&mut s, "PLAIN");
    let (r, then) = auth(&mut s, b"\0alice\0wrong");
    assert_eq!((r.error_code, then), (KafkaCode::SASL_AUTHENTICATION_FAILED.0, Then::Close));
    let msg = r.error_message.unwrap();
    assert!(msg.contains("`alice`") && !msg.contains("wrong"), "{msg}");
    assert_eq!(srv.counters.authentications.load(Ordering::Relaxed), 1);
    assert_eq!(srv.counters.failed.load(Ordering::Relaxed), 2);
}

#[test]
fn sessions_expire_and_reauthentication_renews_them() {
    let srv = server(&[SaslMechanism::Plain], Some(Duration::from_millis(1)));
    let mut s = Session::new(srv.clone());
    handshake(&mut s, "PLAIN");
    auth(&mut s, b"alice\0alice\0alice-pw");
    let later = Instant::now() + Duration::from_millis(5);
    assert!(s.admit(api_key::SASL_HANDSHAKE, later).is_ok());
    assert!(s.admit(api_key::PRODUCE, later).is_err());
    assert_eq!(srv.counters.expired.load(Ordering::Relaxed), 1);
    srv.set_session_lifetime(Some(Duration::from_secs(60)));
    assert_eq!(handshake(&mut s, "PLAIN").0.error_code, 0);
    let (r, _) = auth(&mut s, b"\0alice\0alice-pw");
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 60_000));
    assert!(s.admit(api_key::PRODUCE, later).is_ok());
    assert_eq!(srv.counters.reauthentications.load(Ordering::Relaxed), 1);
    // Another principal on re-authentication is refused.
    handshake(&mut s, "PLAIN");
    let (r, then) = auth(&mut s, b"\0b,=b\0pw2");
    assert_eq!((r.error_code, then), (KafkaCode::SASL_AUTHENTICATION_FAILED.0, Then::Close));
}

#[test]
fn scram_with_the_crate_client_for_both_hashes() {
    let srv = server(&[SaslMechanism::ScramSha256, SaslMechanism::ScramSha512], None);
    for (name, hash) in [("SCRAM-SHA-256", ScramHash::Sha256), ("SCRAM-SHA-512", ScramHash::Sha512)] {
        for (user, password, ok) in
            [("alice", "alice-pw", true), ("b,=b", "pw2", true), ("alice", "no", false)]
        {
            let mut s = Session::new(srv.clone());
            handshake(&mut s, name);
            let mut c = ScramClient::new(hash, user, scram::random_nonce().unwrap());
            let (r, _) = auth(&mut s, &c.first_message());
            assert_eq!(r.error_code, 0, "{:?}", r.error_message);
            let fin = c.final_message(&r.auth_bytes, password).unwrap();
            let (r, then) = auth(&mut s, &fin);
            if ok {
                assert_eq!((r.error_code, then, r.session_lifetime_ms), (0, Then::Continue, 0));
                c.verify_server(&r.auth_bytes).unwrap();
                assert_eq!(s.principal(), Some(user));
            } else {
                assert_eq!((r.error_code, then), (KafkaCode::SASL_AUTHENTICATION_FAILED.0, Then::Close));
                assert!(r.error_message.unwrap().contains("`alice`"));
            }
        }
    }
    // Unknown user, bad messages.
    for first in [
        &b"n,,n=nobody,r=abc"[..],
        b"p=x,,n=alice,r=abc",
        b"n,,r=abc",
        b"n,,n=alice",
        b"\xff",
        b"n,,n=a=ZZ,r=x",
    ] {
        let mut s = Session::new(srv.clone());
        handshake(&mut s, "SCRAM-SHA-256");
        let (r, then) = auth(&mut s, first);
        assert_eq!((r.error_code, then), (KafkaCode::SASL_AUTHENTICATION_FAILED.0, Then::Close), "{first:?}");
    }
    let mut s = Session::new(srv.clone());
    handshake(&mut s, "SCRAM-SHA-512");
    let (r, _) = auth(&mut s, b"n,,n=alice,r=abc");
    let nonce = std::str::from_utf8(&r.auth_bytes).unwrap().split(',').next().unwrap().to_owned();
    for fin in [format!("c=biws,{nonce},p=AAAA"), format!("c=eSws,{nonce},p=AAAA"), "c=biws,r=abc,p=x".into()]
    {
        let mut s2 = Session::new(srv.clone());
        handshake(&mut s2, "SCRAM-SHA-512");
        auth(&mut s2, b"n,,n=alice,r=abc");
        let (r, then) = auth(&mut s2, fin.as_bytes());
        assert_eq!((r.error_code, then), (KafkaCode::SASL_AUTHENTICATION_FAILED.0, Then::Close), "{fin}");
    }
}

#[test]
fn oauthbearer_checks_sub_and_exp() {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let good =
        token(&format!(r#"{{"iat":1,"sub":"svc","scope":["a",{{"b":null}}],"exp":{:.3}}}"#, secs + 10.0));
    let (sub, left) = check_oauthbearer(&good, &[], now).unwrap();
    assert_eq!(sub, "svc");
    assert!(left > Duration::from_secs(9) && left <= Duration::from_millis(10_001), "{left:?}");
    let e = check_oauthbearer(&good, &["other".into()], now).unwrap_err();
    assert_eq!(e.0.as_deref(), Some("svc"));
    let expired = token(&format!(r#"{{"sub":"svc","exp":{}}}"#, secs - 1.0));
    assert!(check_oauthbearer(&expired, &[], now).unwrap_err().1.contains("expired"));
    for bad in [
        token(r#"{"sub":"svc"}"#),
        token(r#"{"exp":99999999999}"#),
        token("not json"),
        token(r#"{"sub":"svc","exp":1e999}"#),
        token(&format!("{}{}", "[".repeat(100), "]".repeat(100))),
        token(&format!(r#"{{"x":{}1{}}}"#, "[".repeat(100), "]".repeat(100))),
        token(r#"{"sub":"a\ud800","exp":99999999999} x"#),
        b"n,,\x01auth=Bearer abc\x01\x01".to_vec(),
        b"n,,\x01auth=Basic abc\x01\x01".to_vec(),
        b"\x01".to_vec(),
        vec![0xff; 10],
    ] {
        assert!(check_oauthbearer(&bad, &[], now).is_err(), "{:?}", String::from_utf8_lossy(&bad));
    }
    let escaped = token(r#"{"sub":"a\"\\\/\u00e9\ud83d","exp":99999999999,"n":[true,false,null,-1.5e3]}"#);
    assert_eq!(check_oauthbearer(&escaped, &[], now).unwrap().0, "a\"\\/\u{e9}\u{fffd}");
}

#[test]
fn oauthbearer_session_is_bounded_by_the_token() {
    let srv = server(&[SaslMechanism::OAuthBearer], Some(Duration::from_secs(3600)));
    let mut s = Session::new(srv);
    handshake(&mut s, "OAUTHBEARER");
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let (r, _) = auth(&mut s, &token(&format!(r#"{{"sub":"svc","exp":{:.3}}}"#, secs + 5.0)));
    assert_eq!(r.error_code, 0);
    assert!((4000..=5000).contains(&r.session_lifetime_ms), "{}", r.session_lifetime_ms);
}

#[test]
fn out_of_turn_and_oversized_requests_close() {
    let srv = server(&[SaslMechanism::Plain], None);
    let mut s = Session::new(srv.clone());
    let body = RequestBody::SaslAuthenticate(SaslAuthenticateRequest { auth_bytes: vec![0] });
    assert_eq!(s.handle(&header(api_key::SASL_AUTHENTICATE, 1), &body, None), (None, Then::Close));
    let mut s = Session::new(srv.clone());
    let hs = RequestBody::SaslHandshake(SaslHandshakeRequest::new("PLAIN"));
    assert_eq!(s.handle(&header(api_key::SASL_HANDSHAKE, 0), &hs, None), (None, Then::Close));
    handshake(&mut s, "PLAIN");
    assert_eq!(s.handle(&header(api_key::SASL_HANDSHAKE, 1), &hs, None), (None, Then::Close));
    let mut s = Session::new(srv);
    handshake(&mut s, "PLAIN");
    let (r, then) = auth(&mut s, &vec![b'a'; MAX_AUTH_BYTES + 1]);
    assert_eq!((r.error_code, then), (KafkaCode::SASL_AUTHENTICATION_FAILED.0, Then::Close));
}

/// Random and mutated messages at every step of every mechanism: an
/// answer or a close, never a panic.
#[test]
fn hostile_messages_never_panic() {
    let srv = server(
        &[SaslMechanism::Plain, SaslMechanism::ScramSha256, SaslMechanism::OAuthBearer],
        Some(Duration::from_secs(1)),
    );
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let seeds: Vec<Vec<u8>> = vec![
        b"\0alice\0alice-pw".to_vec(),
        b"n,,n=alice,r=abc".to_vec(),
        b"c=biws,r=abc,p=dGVzdA==".to_vec(),
        token(&format!(r#"{{"sub":"svc","exp":{},"a":[1,{{"b":"\u00e9"}}]}}"#, secs + 60)),
    ];
    for i in 0..3000 {
        let mut msg = seeds[i % seeds.len()].clone();
        match next() % 4 {
            0 => msg = (0..next() % 80).map(|_| next() as u8).collect(),
            1 if !msg.is_empty() => {
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % msg.len();
                    msg[at] = next() as u8;
                }
            }
            2 => msg.truncate((next() as usize) % (msg.len() + 1)),
            _ => {}
        }
        for mechanism in ["PLAIN", "SCRAM-SHA-256", "OAUTHBEARER"] {
            let mut s = Session::new(srv.clone());
            handshake(&mut s, mechanism);
            let body = RequestBody::SaslAuthenticate(SaslAuthenticateRequest { auth_bytes: msg.clone() });
            let h = header(api_key::SASL_AUTHENTICATE, 2);
            let (_, then) = s.handle(&h, &body, None);
            if then == Then::Continue && mechanism == "SCRAM-SHA-256" && s.principal().is_none() {
                // Past the first SCRAM step: a hostile final message too.
                let _ = s.handle(&h, &body, None);
            }
        }
        let _ = token_claims(std::str::from_utf8(&msg).unwrap_or(""));
    }
}

#[test]
fn saslname_unescaping() {
    assert_eq!(unescape_saslname("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
    for bad in ["=", "=2", "=2c", "a=ZZ", "x=\u{e9}"] {
        assert_eq!(unescape_saslname(bad), None, "{bad}");
    }
}
