//! The byte stream under a [`Connection`](super::connection::Connection):
//! plain TCP, or TLS over TCP (rustls), and the TLS handshake with errors
//! that say what went wrong.
//!
//! A broker thread reads with timeouts: a read that times out in the middle
//! of a TLS record leaves the partial record buffered inside rustls, and the
//! next read continues it, as with plain TCP.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::connection::ConnError;
use crate::config::SecurityConfig;

/// A connected byte stream.
#[derive(Debug)]
pub(crate) enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => &s.sock,
        }
    }

    /// Whether the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }

    /// Writes all of `bufs`, in order, as [`Write::write_all`] writes one
    /// buffer: over plain TCP with vectored writes (`writev`, no copy into
    /// one buffer first), through TLS slice by slice (rustls copies each
    /// into the records it encrypts), then flushed.
    pub fn write_all_vectored(&mut self, mut bufs: &mut [io::IoSlice<'_>]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => {
                while !bufs.is_empty() {
                    match s.write_vectored(bufs) {
                        Ok(0) => {
                            return Err(io::Error::new(
                                io::ErrorKind::WriteZero,
                                "failed to write whole frame",
                            ))
                        }
                        Ok(n) => io::IoSlice::advance_slices(&mut bufs, n),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            // rustls buffers what it encrypts: flush so the frame is on the wire.
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                for b in bufs.iter() {
                    s.write_all(b)?;
                }
                s.flush()
            }
        }
    }

    /// Makes a plain TCP stream into what `security` asks for (a TLS
    /// handshake with `host` when it uses TLS), within `timeout`.
    pub fn secure(
        tcp: TcpStream,
        host: &str,
        addr: &str,
        security: &SecurityConfig,
        timeout: Duration,
    ) -> Result<Stream, ConnError> {
        #[cfg(feature = "tls")]
        if let Some(config) = security.tls() {
            return tls_handshake(tcp, host, addr, config.clone(), timeout);
        }
        let _ = (host, addr, security, timeout);
        Ok(Stream::Plain(tcp))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    /// The whole buffer, flushed through TLS (see
    /// [`write_all_vectored`](Stream::write_all_vectored)).
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.write_all_vectored(&mut [io::IoSlice::new(buf)])
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Whether `bytes` (the start of what a broker sent) look like a TLS record:
/// a plaintext client connected to a TLS listener gets an alert or a
/// handshake record back.
pub(crate) fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [0x15 | 0x16, 0x03, 0x00..=0x04, ..])
}

#[cfg(feature = "tls")]
fn tls_handshake(
    mut tcp: TcpStream,
    host: &str,
    addr: &str,
    config: std::sync::Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<Stream, ConnError> {
    use rustls::pki_types::ServerName;

    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| ConnError::Security(format!("`{host}` is not a valid TLS server name")))?;
    let mut conn = rustls::ClientConnection::new(config, name)
        .map_err(|e| ConnError::Security(format!("TLS setup for {addr} failed: {e}")))?;
    tcp.set_read_timeout(Some(timeout))?;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            return Err(ConnError::Security(describe_handshake_error(host, addr, &e, timeout)));
        }
    }
    tcp.set_read_timeout(None)?;
    log::debug!(
        "TLS with {addr}: {:?}, {:?}",
        conn.protocol_version(),
        conn.negotiated_cipher_suite().map(|s| s.suite())
    );
    Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
}

/// A message for a failed handshake that says which broker, and what to check.
#[cfg(feature = "tls")]
fn describe_handshake_error(host: &str, addr: &str, e: &io::Error, timeout: Duration) -> String {
    use rustls::{CertificateError, Error as TlsError};

    let plaintext_hint = "is it a plaintext listener? check security.protocol";
    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
        return format!("no TLS handshake answer from {addr} within {timeout:?} ({plaintext_hint})");
    }
    if e.kind() == io::ErrorKind::UnexpectedEof || e.kind() == io::ErrorKind::ConnectionReset {
        return format!("{addr} closed the connection during the TLS handshake ({plaintext_hint})");
    }
    let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<TlsError>()) else {
        return format!("TLS handshake with {addr} failed: {e}");
    };
    match tls {
        TlsError::InvalidCertificate(c) => {
            match c {
                CertificateError::NotValidForName => {
                    format!("the certificate of {addr} is not valid for the name `{host}` (hostname verification; \
                         set ssl.endpoint.identification.algorithm=none to skip it)")
                }
                CertificateError::NotValidForNameContext { presented, .. } => format!(
                    "the certificate of {addr} is not valid for the name `{host}`: it names {} \
                 (hostname verification; set ssl.endpoint.identification.algorithm=none to skip it)",
                    if presented.is_empty() {
                        "no host (no subjectAltName)".to_owned()
                    } else {
                        presented.iter().map(|p| subject_alt_name(p)).collect::<Vec<_>>().join(", ")
                    }
                ),
                CertificateError::ExpiredContext { time, not_after } => format!(
                    "the certificate of {addr} has expired: it was valid until {} and it is now {} \
                     (renew the broker's certificate, or check this machine's clock)",
                    utc(not_after.as_secs()),
                    utc(time.as_secs())
                ),
                CertificateError::Expired => format!("the certificate of {addr} has expired"),
                CertificateError::NotValidYetContext { time, not_before } => format!(
                    "the certificate of {addr} is not valid yet: it is valid from {} and it is now {} \
                     (check this machine's clock)",
                    utc(not_before.as_secs()),
                    utc(time.as_secs())
                ),
                CertificateError::NotValidYet => format!("the certificate of {addr} is not valid yet"),
                CertificateError::UnknownIssuer => format!(
                    "the certificate of {addr} is not signed by a trusted CA \
                 (set ssl.ca.location to the CA that signed the broker's certificate)"
                ),
                other => format!("the certificate of {addr} was rejected: {other:?}"),
            }
        }
        TlsError::AlertReceived(alert) => describe_alert(addr, *alert),
        TlsError::InvalidMessage(_)
        | TlsError::InappropriateMessage { .. }
        | TlsError::InappropriateHandshakeMessage { .. } => {
            format!("{addr} did not answer with TLS ({plaintext_hint})")
        }
        other => format!("TLS handshake with {addr} failed: {other}"),
    }
}

/// A message for a TLS alert from the broker, during the handshake or (TLS
/// 1.3 checks the client's certificate after the client finished its part)
/// at the first read.
#[cfg(feature = "tls")]
pub(crate) fn describe_alert(addr: &str, alert: rustls::AlertDescription) -> String {
    use rustls::AlertDescription as A;
    match alert {
        A::CertificateRequired => format!(
            "{addr} requires a client certificate (mTLS) and none was sent: set ssl.certificate.location \
             and ssl.key.location (or ssl.keystore.location with ssl.keystore.type=PEM)"
        ),
        A::BadCertificate
        | A::UnknownCA
        | A::CertificateUnknown
        | A::CertificateExpired
        | A::CertificateRevoked
        | A::UnsupportedCertificate
        | A::DecryptError
        | A::AccessDenied => format!(
            "{addr} rejected our client certificate (TLS alert {alert:?}): is it signed by a CA the broker \
             trusts, still valid, and made for client authentication? see ssl.certificate.location and \
             ssl.key.location"
        ),
        A::HandshakeFailure => format!(
            "{addr} refused the TLS handshake (alert HandshakeFailure): no cipher suite or key exchange in \
             common, or the broker requires a client certificate (see ssl.certificate.location and \
             ssl.key.location)"
        ),
        A::ProtocolVersion => {
            format!("{addr} refused the TLS handshake: no TLS version in common (see ssl.enabled.protocols)")
        }
        other => format!("{addr} refused the TLS connection with alert {other:?}"),
    }
}

/// A subject alternative name as rustls reports it (`DnsName("host")`,
/// `IpAddress(1.2.3.4)`), as the name alone.
#[cfg(feature = "tls")]
fn subject_alt_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|r| r.strip_suffix("\")"))
        .or_else(|| presented.strip_prefix("IpAddress(").and_then(|r| r.strip_suffix(')')))
        .unwrap_or(presented)
}

/// `secs` since the Unix epoch as `YYYY-MM-DD hh:mm:ss UTC` (proleptic
/// Gregorian calendar; Howard Hinnant's `civil_from_days`).
#[cfg(feature = "tls")]
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod write_tests {
    use super::*;

    /// A frame in many pieces, larger than the socket buffers, against a
    /// reader that takes it in small reads: the vectored writes come back
    /// short and continue where they stopped.
    #[test]
    fn vectored_writes_continue_after_short_writes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let pieces: Vec<Vec<u8>> = (0..64u32)
            .map(|i| (0..(1000 + 9973 * i as usize)).map(|j| (j as u32 ^ i) as u8).collect())
            .collect();
        let expected: Vec<u8> = pieces.concat();
        let total = expected.len();
        let reader = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::with_capacity(total);
            let mut chunk = [0u8; 4096];
            while got.len() < total {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "closed after {} of {total} bytes", got.len());
                got.extend_from_slice(&chunk[..n]);
            }
            got
        });
        let tcp = TcpStream::connect(addr).unwrap();
        socket2::SockRef::from(&tcp).set_send_buffer_size(4096).unwrap();
        let mut stream = Stream::Plain(tcp);
        let mut slices: Vec<io::IoSlice<'_>> = pieces.iter().map(|p| io::IoSlice::new(p)).collect();
        stream.write_all_vectored(&mut slices).unwrap();
        assert!(total > 16 << 20, "{total}");
        assert!(reader.join().unwrap() == expected, "the bytes arrived changed or out of order");
    }
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::*;

    #[test]
    fn dates_and_names_in_messages() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_609_459_200), "2021-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
        assert_eq!(utc(4_102_444_799), "2099-12-31 23:59:59 UTC");
        assert_eq!(subject_alt_name("DnsName(\"kafka.example\")"), "kafka.example");
        assert_eq!(subject_alt_name("IpAddress(10.0.0.1)"), "10.0.0.1");
        assert_eq!(subject_alt_name("DirectoryName"), "DirectoryName");
    }

    #[test]
    fn tls_records_are_recognized() {
        assert!(looks_like_tls(&[0x15, 0x03, 0x03, 0x00, 0x02]));
        assert!(looks_like_tls(&[0x16, 0x03, 0x01]));
        assert!(!looks_like_tls(&[0x00, 0x00, 0x00, 0x10]));
    }
}
