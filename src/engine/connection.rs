//! One connection to a broker: socket setup (socket2), TLS when configured
//! ([`transport`](super::transport)), the ApiVersions handshake, SASL
//! authentication and re-authentication ([`sasl`](super::sasl)), correlation
//! ids, framed writes, and frame reads that survive read timeouts.
//!
//! A broker thread does blocking writes and blocking reads on one socket. It
//! reads with a timeout (the next instant it has something else to do), so a
//! read may stop in the middle of a frame; [`Connection`] keeps the partial
//! frame buffered and the next read continues it. A write that fails part way
//! leaves the stream mid-frame: the connection is then unusable, and callers
//! drop it (never reuse a connection after a write error).

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

use super::transport::{looks_like_tls, Stream};
use crate::config::SecurityConfig;
use crate::protocol::frame::{check_frame_size, encode_request, DEFAULT_MAX_FRAME};
use crate::protocol::header::ResponseHeader;
use crate::protocol::messages::api_versions::{
    ApiVersionsRequest, ApiVersionsResponse, NegotiatedVersions, UNSUPPORTED_VERSION,
};
use crate::protocol::primitives::Decoder;
use crate::protocol::{DecodeError, EncodeError, Message, Request};

/// Why a connection operation failed.
#[derive(Debug)]
pub(crate) enum ConnError {
    Io(io::Error),
    Decode(DecodeError),
    Encode(EncodeError),
    /// No answer before the deadline.
    Timeout,
    /// The broker broke the protocol (wrong correlation id, unusable versions).
    Protocol(String),
    /// The connection could not be secured or authenticated: a TLS handshake
    /// or certificate failure, a SASL failure, or a listener that speaks
    /// another `security.protocol`. Retrying soon will not help: records
    /// waiting for this broker fail with it.
    Security(String),
    /// The broker closed a fresh connection without answering ApiVersions:
    /// what a TLS listener does to a plaintext client, or a broker going
    /// down. Callers escalate it to [`ConnError::Security`] after
    /// [`SECURITY_SUSPICION`] attempts in a row.
    ClosedBeforeAnswer(String),
}

/// Fresh connections closed without an answer, in a row, before the
/// producer takes it for a `security.protocol` mismatch.
pub(crate) const SECURITY_SUSPICION: u32 = 3;

impl ConnError {
    /// This error, or a security error if it is the `n`th closed-before-answer in a row.
    pub fn escalate(self, n: u32) -> ConnError {
        match self {
            ConnError::ClosedBeforeAnswer(m) if n >= SECURITY_SUSPICION => {
                ConnError::Security(format!("{m} ({n} connections in a row)"))
            }
            e => e,
        }
    }
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "I/O error: {e}"),
            Self::Decode(e) => write!(f, "undecodable response: {e}"),
            Self::Encode(e) => write!(f, "could not encode request: {e}"),
            Self::Timeout => f.write_str("request timed out"),
            Self::Protocol(m) => write!(f, "protocol error: {m}"),
            Self::Security(m) | Self::ClosedBeforeAnswer(m) => f.write_str(m),
        }
    }
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}
impl From<DecodeError> for ConnError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}
impl From<EncodeError> for ConnError {
    fn from(e: EncodeError) -> Self {
        Self::Encode(e)
    }
}

/// Every open socket of a producer, so that `close` can unblock threads
/// waiting in a read or write by shutting the sockets down.
#[derive(Debug, Default)]
pub(crate) struct SocketRegistry {
    next: AtomicU64,
    sockets: Mutex<HashMap<u64, TcpStream>>,
    closed: AtomicBool,
}

impl SocketRegistry {
    fn register(&self, s: &TcpStream) -> Option<u64> {
        let clone = s.try_clone().ok()?;
        let mut g = self.sockets.lock();
        if self.closed.load(Ordering::Acquire) {
            let _ = clone.shutdown(std::net::Shutdown::Both);
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        g.insert(id, clone);
        Some(id)
    }

    fn unregister(&self, id: u64) {
        self.sockets.lock().remove(&id);
    }

    /// How many connections are open (`connection-count`).
    pub fn open(&self) -> usize {
        self.sockets.lock().len()
    }

    /// Shuts every registered socket down, and every socket registered later.
    pub fn shutdown_all(&self) {
        let g = self.sockets.lock();
        self.closed.store(true, Ordering::Release);
        for s in g.values() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Socket and handshake settings.
#[derive(Debug, Clone)]
pub(crate) struct ConnectOptions {
    pub client_id: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_frame: usize,
    pub registry: Option<Arc<SocketRegistry>>,
    pub security: SecurityConfig,
    /// Bounds name resolution (`None`: the system's own limits).
    pub resolve_timeout: Option<Duration>,
}

impl ConnectOptions {
    pub fn new(client_id: String, connect_timeout: Duration, request_timeout: Duration) -> Self {
        Self {
            client_id,
            connect_timeout,
            request_timeout,
            max_frame: DEFAULT_MAX_FRAME,
            registry: None,
            security: SecurityConfig::default(),
            resolve_timeout: None,
        }
    }

    /// Connects with `security` (TLS, SASL).
    pub fn secured(mut self, security: &SecurityConfig) -> Self {
        self.security = security.clone();
        self
    }

    /// Registers the connections made with these options in `r`.
    pub fn registered(mut self, r: &Arc<SocketRegistry>) -> Self {
        self.registry = Some(r.clone());
        self
    }
}

/// Socket buffer sizes: large enough to keep five 1 MiB requests moving
/// without the kernel stalling the writer.
const SEND_BUFFER: usize = 1 << 20;
const RECV_BUFFER: usize = 256 << 10;
const READ_CHUNK: usize = 64 << 10;

/// A connected, handshaken broker connection.
#[derive(Debug)]
pub(crate) struct Connection {
    stream: Stream,
    addr: String,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    read_timeout: Option<Duration>,
    next_correlation: i32,
    versions: NegotiatedVersions,
    opts: ConnectOptions,
    wbuf: Vec<u8>,
    registration: Option<u64>,
    /// When to re-authenticate (KIP-368): between 85% and 95% of the
    /// session lifetime the broker granted.
    reauth_at: Option<Instant>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let (Some(r), Some(id)) = (&self.opts.registry, self.registration) {
            r.unregister(id);
        }
    }
}

impl Connection {
    /// Connects to `host:port` within the connect timeout, then performs the
    /// ApiVersions handshake within the request timeout.
    pub fn connect(host: &str, port: u16, opts: &ConnectOptions) -> Result<Self, ConnError> {
        let addrs = resolve(host, port, opts.resolve_timeout)?;
        let mut last =
            io::Error::new(io::ErrorKind::NotFound, format!("{host}:{port} resolved to no address"));
        let addr = format!("{host}:{port}");
        for sock in addrs {
            match connect_socket(sock, opts.connect_timeout) {
                Ok(tcp) => {
                    let registration = opts.registry.as_ref().and_then(|r| r.register(&tcp));
                    let deregister = || {
                        if let (Some(r), Some(id)) = (&opts.registry, registration) {
                            r.unregister(id);
                        }
                    };
                    let stream = match Stream::secure(tcp, host, &addr, &opts.security, opts.connect_timeout)
                    {
                        Ok(s) => s,
                        Err(e) => {
                            deregister();
                            return Err(e);
                        }
                    };
                    let mut c = Self {
                        stream,
                        addr,
                        rbuf: vec![0; READ_CHUNK],
                        rstart: 0,
                        rend: 0,
                        read_timeout: None,
                        next_correlation: 0,
                        versions: NegotiatedVersions::default(),
                        opts: opts.clone(),
                        wbuf: Vec::new(),
                        registration,
                        reauth_at: None,
                    };
                    c.handshake().map_err(|e| c.explain_handshake_error(e))?;
                    c.authenticate()?;
                    log::debug!("connected to {} (versions {:?})", c.addr, c.versions);
                    return Ok(c);
                }
                Err(e) => last = e,
            }
        }
        Err(ConnError::Io(last))
    }

    /// SASL authentication when configured; schedules re-authentication if
    /// the broker granted a session lifetime.
    fn authenticate(&mut self) -> Result<(), ConnError> {
        let Some(sasl) = self.opts.security.sasl().cloned() else { return Ok(()) };
        self.reauth_at = None;
        let lifetime = super::sasl::authenticate(self, &sasl)?;
        self.reauth_at = lifetime.map(|l| Instant::now() + reauth_delay(l, super::Rng::new().next_f64()));
        Ok(())
    }

    /// Whether the SASL session should be renewed before the next request.
    pub fn reauth_due(&self, now: Instant) -> bool {
        self.reauth_at.is_some_and(|t| now >= t)
    }

    /// Renews the SASL session (KIP-368) on this connection. Nothing may be
    /// in flight. On error the connection must be dropped.
    pub fn reauthenticate(&mut self) -> Result<(), ConnError> {
        log::debug!("re-authenticating to {}", self.addr);
        self.authenticate()
    }

    /// A failed ApiVersions handshake on a fresh connection: say so when the
    /// listener speaks another `security.protocol`.
    fn explain_handshake_error(&self, e: ConnError) -> ConnError {
        let addr = &self.addr;
        if !self.stream.is_tls() && looks_like_tls(&self.rbuf[self.rstart..self.rend]) {
            return ConnError::Security(format!(
                "{addr} answered with TLS: it is a TLS listener (set security.protocol to SSL or SASL_SSL)"
            ));
        }
        if !self.stream.is_tls() && self.rend == 0 {
            if let ConnError::Io(io) = &e {
                use io::ErrorKind::{ConnectionAborted, ConnectionReset, UnexpectedEof};
                if matches!(io.kind(), UnexpectedEof | ConnectionReset | ConnectionAborted) {
                    return ConnError::ClosedBeforeAnswer(format!(
                        "{addr} closed the connection without answering ApiVersions \
                         (is it a TLS listener? then set security.protocol to SSL or SASL_SSL)"
                    ));
                }
            }
        }
        if self.stream.is_tls() {
            #[cfg(feature = "tls")]
            if let ConnError::Io(io) = &e {
                if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    return ConnError::Security(match tls {
                        // TLS 1.3: the broker checks our certificate after
                        // the client's side of the handshake is done.
                        rustls::Error::AlertReceived(alert) => super::transport::describe_alert(addr, *alert),
                        other => format!("TLS with {addr} failed: {other}"),
                    });
                }
            }
        }
        e
    }

    /// `host:port` of the broker.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The versions negotiated with the broker.
    pub fn versions(&self) -> &NegotiatedVersions {
        &self.versions
    }

    fn handshake(&mut self) -> Result<(), ConnError> {
        let ours = ApiVersionsRequest::VERSIONS.max;
        let mut version = ours;
        for _ in 0..3 {
            let deadline = Instant::now() + self.opts.request_timeout;
            let resp: ApiVersionsResponse = {
                let corr = self.send_request(&ApiVersionsRequest::default(), version)?;
                let range = self.read_response_to(corr, deadline)?;
                let mut d = Decoder::new(&self.rbuf[range]);
                ResponseHeader::decode(&mut d, 0)?;
                let body = d.rest();
                match ApiVersionsResponse::decode_fallback(body, version) {
                    Ok(r) => r,
                    // UNSUPPORTED_VERSION with a body that is neither v0 nor
                    // the version asked for (librdkafka's mock cluster writes
                    // such a hybrid): retry at v0, which every broker knows.
                    Err(_) if version > 0 && Decoder::new(body).i16() == Ok(UNSUPPORTED_VERSION) => {
                        version = 0;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            if resp.error_code == UNSUPPORTED_VERSION {
                // The broker answered in v0 with its own ApiVersions range: retry within it.
                let theirs = resp.range_of(ApiVersionsRequest::API_KEY).map(|r| r.max).unwrap_or(0);
                version = theirs.min(ours);
                continue;
            }
            if resp.error_code != 0 {
                return Err(ConnError::Protocol(format!(
                    "ApiVersions failed with error code {}",
                    resp.error_code
                )));
            }
            self.versions = NegotiatedVersions::new(&resp);
            return Ok(());
        }
        Err(ConnError::Protocol("ApiVersions negotiation did not converge".into()))
    }

    /// Encodes and writes request `req` at `version`; returns its correlation id.
    /// On error the connection must be dropped.
    pub fn send_request<R: Request>(&mut self, req: &R, version: i16) -> Result<i32, ConnError> {
        let corr = self.next_correlation;
        self.next_correlation = self.next_correlation.wrapping_add(1) & i32::MAX;
        let mut buf = std::mem::take(&mut self.wbuf);
        buf.clear();
        let r = encode_request(&mut buf, corr, Some(&self.opts.client_id), version, req)
            .map_err(ConnError::from)
            .and_then(|()| self.write_frame(&buf));
        self.wbuf = buf;
        r.map(|()| corr)
    }

    /// Allocates the next correlation id, for a caller that encodes its own frame.
    pub fn next_correlation_id(&mut self) -> i32 {
        let corr = self.next_correlation;
        self.next_correlation = self.next_correlation.wrapping_add(1) & i32::MAX;
        corr
    }

    /// The client id sent in request headers.
    pub fn client_id(&self) -> &str {
        &self.opts.client_id
    }

    /// Writes a complete, size-prefixed frame. On error the connection must be dropped.
    pub fn write_frame(&mut self, frame: &[u8]) -> Result<(), ConnError> {
        self.stream.write_all(frame).map_err(write_error)
    }

    /// Writes a complete, size-prefixed frame given in pieces (see
    /// [`Splices`](crate::protocol::frame::Splices)). On error the
    /// connection must be dropped.
    pub fn write_frame_vectored(&mut self, frame: &mut [io::IoSlice<'_>]) -> Result<(), ConnError> {
        self.stream.write_all_vectored(frame).map_err(write_error)
    }

    /// Sends `req` and waits for its response: for requests made while
    /// nothing else is in flight on this connection (metadata, producer id).
    pub fn round_trip<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response, ConnError> {
        if self.reauth_due(Instant::now()) {
            self.reauthenticate()?;
        }
        self.exchange(req, version)
    }

    /// [`round_trip`](Self::round_trip) without the re-authentication check
    /// (the SASL exchange itself uses it).
    pub fn exchange<R: Request>(&mut self, req: &R, version: i16) -> Result<R::Response, ConnError> {
        let deadline = Instant::now() + self.opts.request_timeout;
        let corr = self.send_request(req, version)?;
        let range = self.read_response_to(corr, deadline)?;
        let mut d = Decoder::new(&self.rbuf[range]);
        ResponseHeader::decode(&mut d, R::response_header_version(version))?;
        let body = R::Response::decode(&mut d, version)?;
        note_trailing_bytes(R::API_KEY, version, d.remaining());
        Ok(body)
    }

    fn read_response_to(&mut self, corr: i32, deadline: Instant) -> Result<Range<usize>, ConnError> {
        let range = self.read_frame(Some(deadline))?.ok_or(ConnError::Timeout)?;
        let got = Decoder::new(&self.rbuf[range.clone()]).i32()?;
        if got != corr {
            return Err(ConnError::Protocol(format!("expected correlation id {corr}, got {got}")));
        }
        Ok(range)
    }

    /// The bytes of a frame returned by [`read_frame`](Self::read_frame).
    pub fn frame(&self, r: Range<usize>) -> &[u8] {
        &self.rbuf[r]
    }

    /// Reads the next complete frame (without its size prefix), waiting until
    /// `deadline` at most (`None`: wait indefinitely). Returns `Ok(None)` on
    /// timeout, keeping any partial frame for the next call. The range is
    /// valid until the next read.
    pub fn read_frame(&mut self, deadline: Option<Instant>) -> Result<Option<Range<usize>>, ConnError> {
        loop {
            if let Some(r) = self.take_buffered_frame()? {
                return Ok(Some(r));
            }
            // Need more bytes: make room, then read with the remaining time.
            self.compact();
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        return Ok(None);
                    }
                    // Round up to whole milliseconds so the timeout is never zero.
                    Some((d - now).max(Duration::from_millis(1)))
                }
            };
            if timeout != self.read_timeout {
                self.stream.set_read_timeout(timeout)?;
                self.read_timeout = timeout;
            }
            match self.stream.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => {
                    return Err(ConnError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "broker closed the connection",
                    )))
                }
                Ok(n) => self.rend += n,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    if deadline.is_some_and(|d| d <= Instant::now()) {
                        return Ok(None);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ConnError::Io(e)),
            }
        }
    }

    /// A complete frame already in the buffer, if there is one.
    fn take_buffered_frame(&mut self) -> Result<Option<Range<usize>>, ConnError> {
        let avail = self.rend - self.rstart;
        if avail < 4 {
            return Ok(None);
        }
        let mut size = [0u8; 4];
        size.copy_from_slice(&self.rbuf[self.rstart..self.rstart + 4]);
        let size = check_frame_size(i32::from_be_bytes(size), self.opts.max_frame)?;
        if avail - 4 < size {
            // Grow only as far as this frame needs; the size was checked.
            let need = self.rstart + 4 + size;
            if need > self.rbuf.len() && self.rstart == 0 {
                self.rbuf.resize(need.max(self.rbuf.len()), 0);
            }
            return Ok(None);
        }
        let start = self.rstart + 4;
        self.rstart = start + size;
        Ok(Some(start..start + size))
    }

    /// Moves unread bytes to the front and makes sure there is room to read.
    fn compact(&mut self) {
        if self.rstart > 0 {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        if self.rend == self.rbuf.len() {
            let grow = self.rbuf.len().max(READ_CHUNK);
            self.rbuf.resize(self.rbuf.len() + grow, 0);
        }
        // Shrink a buffer that grew for one large frame once it is drained.
        if self.rend == 0 && self.rbuf.len() > 4 * READ_CHUNK {
            self.rbuf.truncate(READ_CHUNK);
            self.rbuf.shrink_to_fit();
        }
    }

    /// Closes the socket in both directions (the peer sees EOF at once).
    pub fn shutdown(&self) {
        let _ = self.stream.tcp().shutdown(std::net::Shutdown::Both);
    }
}

/// When to renew a session of `lifetime`, for `r` uniform in [0, 1): Java's
/// choice, a random point between 85% and 95% of the lifetime, so that the
/// connections of a producer do not all renew at once.
fn reauth_delay(lifetime: Duration, r: f64) -> Duration {
    lifetime.mul_f64(0.85 + 0.10 * r.clamp(0.0, 1.0))
}

/// Bytes after a completely decoded response body are ignored, as the Java
/// client and librdkafka do (for forward compatibility; librdkafka's own mock
/// cluster writes an extra byte after flexible-version bodies). The public
/// codec (`protocol::frame::decode_response`) stays strict.
pub(crate) fn note_trailing_bytes(api_key: i16, version: i16, n: usize) {
    if n > 0 {
        log::debug!("ignored {n} bytes after the body of an API {api_key} v{version} response");
    }
}

/// Every address `host` resolves to; with `timeout`, a name (not an IP
/// literal) is resolved on a helper thread and given up on after it (the
/// thread finishes on its own).
fn resolve(host: &str, port: u16, timeout: Option<Duration>) -> io::Result<Vec<SocketAddr>> {
    let Some(t) = timeout.filter(|_| host.parse::<std::net::IpAddr>().is_err()) else {
        return Ok((host, port).to_socket_addrs()?.collect());
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_owned();
    std::thread::Builder::new().name("kafka-sync-dns".into()).spawn(move || {
        let _ = tx.send((name.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
    })?;
    match rx.recv_timeout(t) {
        Ok(r) => r,
        Err(_) => {
            Err(io::Error::new(io::ErrorKind::TimedOut, format!("resolving {host} took longer than {t:?}")))
        }
    }
}

fn connect_socket(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nodelay(true)?;
    // Buffer sizes are hints; the kernel may clamp them.
    let _ = socket.set_send_buffer_size(SEND_BUFFER);
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    let _ = socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(Duration::from_secs(60)));
    socket.connect_timeout(&addr.into(), timeout)?;
    let stream: TcpStream = socket.into();
    // Writes block at most this long; a stuck broker then counts as a failed write.
    SockRef::from(&stream).set_write_timeout(Some(timeout.max(Duration::from_secs(1))))?;
    Ok(stream)
}

/// A failed write: a timeout (the socket's send timeout) or another I/O error.
fn write_error(e: io::Error) -> ConnError {
    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
        ConnError::Timeout
    } else {
        ConnError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::encode_response;
    use crate::protocol::messages::api_versions::ApiVersion;
    use std::net::TcpListener;

    /// A one-shot fake broker: answers the handshake, then writes `then` in
    /// two pieces with a pause between them.
    fn fake_broker(then: Vec<u8>, pause: Duration) -> (u16, std::thread::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut frame = Vec::new();
            crate::protocol::frame::read_frame(&mut s, 1 << 20, &mut frame).unwrap();
            let (h, _) = crate::protocol::frame::decode_request(&frame).unwrap();
            let resp = ApiVersionsResponse {
                api_keys: vec![ApiVersion { api_key: 0, min_version: 0, max_version: 11 }],
                ..Default::default()
            };
            let mut out = Vec::new();
            encode_response::<ApiVersionsRequest>(&mut out, h.correlation_id, h.api_version, &resp).unwrap();
            s.write_all(&out).unwrap();
            let mid = then.len() / 2;
            s.write_all(&then[..mid]).unwrap();
            std::thread::sleep(pause);
            s.write_all(&then[mid..]).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        });
        (port, t)
    }

    #[test]
    fn handshake_and_partial_frame_across_timeouts() {
        let frame = [0u8, 0, 0, 6, 0, 0, 0, 9, 0xaa, 0xbb];
        let (port, t) = fake_broker(frame.to_vec(), Duration::from_millis(80));
        let opts = ConnectOptions::new("test".into(), Duration::from_secs(2), Duration::from_secs(2));
        let mut c = Connection::connect("127.0.0.1", port, &opts).unwrap();
        assert_eq!(c.versions().get(0), Some(11));
        // The first half arrives, then a timeout mid-frame: nothing returned, nothing lost.
        let r = c.read_frame(Some(Instant::now() + Duration::from_millis(20))).unwrap();
        assert!(r.is_none());
        let r = c.read_frame(Some(Instant::now() + Duration::from_secs(2))).unwrap().unwrap();
        assert_eq!(c.frame(r), &[0, 0, 0, 9, 0xaa, 0xbb]);
        t.join().unwrap();
    }

    #[test]
    fn oversize_frame_is_an_error_not_an_allocation() {
        let (port, t) = fake_broker(vec![0x7f, 0xff, 0xff, 0xff, 0, 0], Duration::from_millis(1));
        let opts = ConnectOptions::new("test".into(), Duration::from_secs(2), Duration::from_secs(2));
        let mut c = Connection::connect("127.0.0.1", port, &opts).unwrap();
        let e = c.read_frame(Some(Instant::now() + Duration::from_secs(2))).unwrap_err();
        assert!(matches!(e, ConnError::Decode(DecodeError::FrameTooLarge { .. })), "{e}");
        assert!(c.rbuf.len() < 1 << 20);
        t.join().unwrap();
    }

    #[test]
    fn reauthentication_points_spread_over_85_to_95_percent() {
        let l = Duration::from_secs(100);
        let mut rng = crate::engine::Rng::new();
        let points: Vec<f64> = (0..1000).map(|_| reauth_delay(l, rng.next_f64()).as_secs_f64()).collect();
        assert!(points.iter().all(|p| (85.0..=95.0).contains(p)));
        // Spread, not clustered at one end (the old jitter, from the
        // nanoseconds of a fresh Instant's elapsed time, was always ~85.2%).
        assert!(points.iter().any(|p| *p < 86.0) && points.iter().any(|p| *p > 94.0));
        let mean = points.iter().sum::<f64>() / points.len() as f64;
        assert!((89.0..=91.0).contains(&mean), "{mean}");
    }

    #[test]
    fn names_resolve_within_a_bound() {
        let direct = resolve("127.0.0.1", 9, Some(Duration::from_millis(1))).unwrap();
        assert_eq!(direct, vec!["127.0.0.1:9".parse::<SocketAddr>().unwrap()]);
        let named = resolve("localhost", 9, Some(Duration::from_secs(5))).unwrap();
        assert!(named.iter().all(|a| a.port() == 9 && a.ip().is_loopback()), "{named:?}");
        assert!(resolve("nosuchhost.invalid", 9, Some(Duration::from_secs(5))).is_err());
    }

    #[test]
    fn refused_connection_is_an_error() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let opts = ConnectOptions::new("test".into(), Duration::from_millis(500), Duration::from_millis(500));
        assert!(Connection::connect("127.0.0.1", port, &opts).is_err());
    }
}
