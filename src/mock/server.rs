//! Sockets and threads: one accept thread per broker that is up, one thread
//! per connection, all joined on shutdown.
//!
//! # Locks
//!
//! - `Shared::state` guards the [`ClusterState`]: taken once per request by
//!   the connection thread (to plan the answer) and by the test's calls.
//!   Never held during socket I/O or sleeps.
//! - `Shared::conns` guards the connection registry. Held only to add,
//!   shut down or reap entries; never together with `state`.
//! - `ConnCtl::principal` holds a connection's SASL principal: set by its
//!   thread alone, read under `conns` by `Shared::principals`.
//! - `Shared::wake_lock` pairs with `Shared::wake`, the condvar that
//!   interrupts response delays when a connection is closed or the cluster
//!   stops. Held only around the wait and the notify.
//!
//! # Stopping
//!
//! A blocked `accept` is woken by setting the broker's `listening` flag to
//! false and connecting to the listener once: the accept thread sees the
//! flag, drops the listener (new connections are then refused) and exits.
//! A blocked connection read or write is woken by `shutdown(Both)` on a
//! clone of its socket, which the registry keeps for that purpose (under TLS
//! too: the TLS stream owns the socket, the registry a clone of it).
//!
//! # Security
//!
//! A TLS listener's connection thread runs the TLS handshake first
//! (`security::tls_accept`); [`serve`] then reads and writes through
//! whichever stream it got. On a SASL listener each connection thread owns a
//! [`Session`]: it admits or refuses each request before the state sees it
//! (unauthenticated, expired), caps the frame size until the connection is
//! authenticated, and answers SaslHandshake and SaslAuthenticate when
//! [`ClusterState::plan`] hands them to it.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::security::{Listener, Session};
use super::state::{ClusterState, Incoming, Then};
use super::Malformation;
use crate::protocol::error::DecodeError;
use crate::protocol::frame::{decode_request, read_frame};
use crate::protocol::header::RequestHeader;
use crate::protocol::messages::api_versions::ApiVersionsRequest;
use crate::protocol::primitives::Decoder;
use crate::protocol::{api_key, Message};

/// How long a response write may block before the connection is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// One broker's listener slot.
#[derive(Debug)]
pub(crate) struct BrokerSlot {
    pub id: i32,
    /// `broker_up` binds the same port again; `move_broker` changes it.
    addr: Mutex<SocketAddr>,
    /// Whether the accept thread should keep accepting.
    listening: AtomicBool,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl BrokerSlot {
    pub(crate) fn new(id: i32, addr: SocketAddr) -> Self {
        Self { id, addr: Mutex::new(addr), listening: AtomicBool::new(false), accept: Mutex::new(None) }
    }

    /// The address the broker listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        *self.addr.lock()
    }

    /// Records a new listening address (the listener is bound by the caller).
    pub(crate) fn set_addr(&self, addr: SocketAddr) {
        *self.addr.lock() = addr;
    }

    pub(crate) fn is_listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }
}

/// What the registry keeps of a connection to stop it from outside.
#[derive(Debug)]
struct ConnCtl {
    /// A clone of the connection's socket, for `shutdown`.
    stream: TcpStream,
    /// Set when the owner closed the connection (broker down, shutdown).
    closed: AtomicBool,
    /// Set by the connection thread as it exits.
    finished: AtomicBool,
    /// The SASL principal the connection authenticated as.
    principal: Mutex<Option<String>>,
}

impl ConnCtl {
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

#[derive(Debug)]
struct ConnEntry {
    broker: i32,
    ctl: Arc<ConnCtl>,
    handle: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Connections {
    next_id: u64,
    entries: HashMap<u64, ConnEntry>,
}

/// State shared by the [`MockCluster`](super::MockCluster) handle and every
/// thread. See the [module docs](self) for the locks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub state: Mutex<ClusterState>,
    pub brokers: Vec<BrokerSlot>,
    pub max_frame: usize,
    /// TLS and SASL settings of every listener.
    pub security: Listener,
    stopping: AtomicBool,
    conns: Mutex<Connections>,
    wake_lock: Mutex<()>,
    wake: Condvar,
}

impl Shared {
    pub(crate) fn new(
        state: ClusterState,
        brokers: Vec<BrokerSlot>,
        max_frame: usize,
        security: Listener,
    ) -> Self {
        Self {
            state: Mutex::new(state),
            brokers,
            max_frame,
            security,
            stopping: AtomicBool::new(false),
            conns: Mutex::new(Connections::default()),
            wake_lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn wake_sleepers(&self) {
        let _g = self.wake_lock.lock();
        self.wake.notify_all();
    }

    /// Sleeps for `d` unless the connection is closed or the cluster stops
    /// first; returns whether the connection should carry on.
    fn sleep(&self, ctl: &ConnCtl, d: Duration) -> bool {
        let deadline = Instant::now().checked_add(d);
        let mut g = self.wake_lock.lock();
        loop {
            if self.stopping() || ctl.closed.load(Ordering::SeqCst) {
                return false;
            }
            match deadline {
                Some(at) => {
                    if Instant::now() >= at {
                        return true;
                    }
                    self.wake.wait_until(&mut g, at);
                }
                None => self.wake.wait(&mut g),
            }
        }
    }

    /// Live connections to broker `id`.
    pub(crate) fn connection_count(&self, id: i32) -> usize {
        let conns = self.conns.lock();
        conns.entries.values().filter(|e| e.broker == id && !e.ctl.finished.load(Ordering::SeqCst)).count()
    }

    /// `(broker, principal)` of every live authenticated connection, sorted.
    pub(crate) fn principals(&self) -> Vec<(i32, String)> {
        let conns = self.conns.lock();
        let mut out: Vec<(i32, String)> = conns
            .entries
            .values()
            .filter(|e| !e.ctl.finished.load(Ordering::SeqCst))
            .filter_map(|e| e.ctl.principal.lock().clone().map(|p| (e.broker, p)))
            .collect();
        out.sort();
        out
    }

    /// Closes every connection to broker `id`, or to every broker.
    pub(crate) fn close_connections(&self, id: Option<i32>) {
        {
            let conns = self.conns.lock();
            for e in conns.entries.values() {
                if id.is_none_or(|id| e.broker == id) {
                    e.ctl.close();
                }
            }
        }
        self.wake_sleepers();
    }
}

/// Starts accepting on `listener` for broker slot `idx`. Fails once the
/// cluster is shutting down: checked under the slot's lock, which
/// [`stop_listener`] also takes after `stopping` is set, so a listener is
/// either refused here or stopped there.
pub(crate) fn start_listener(shared: &Arc<Shared>, idx: usize, listener: TcpListener) -> io::Result<()> {
    let slot = &shared.brokers[idx];
    let mut accept = slot.accept.lock();
    if shared.stopping() {
        return Err(io::Error::new(io::ErrorKind::NotConnected, "the mock cluster is shut down"));
    }
    slot.listening.store(true, Ordering::SeqCst);
    let s = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name(format!("kafka-mock-accept-{}", slot.id))
        .spawn(move || accept_loop(s, idx, listener));
    match spawned {
        Ok(h) => {
            *accept = Some(h);
            Ok(())
        }
        Err(e) => {
            slot.listening.store(false, Ordering::SeqCst);
            Err(e)
        }
    }
}

/// Stops broker slot `idx`'s accept thread and closes its listener, so new
/// connections are refused. Existing connections are left alone.
pub(crate) fn stop_listener(shared: &Shared, idx: usize) {
    let slot = &shared.brokers[idx];
    let mut accept = slot.accept.lock();
    if !slot.listening.swap(false, Ordering::SeqCst) {
        return;
    }
    // Wake the blocked accept; it sees `listening == false` and exits.
    if let Err(e) = TcpStream::connect_timeout(&slot.addr(), Duration::from_secs(5)) {
        log::warn!("mock broker {}: could not wake the accept thread: {e}", slot.id);
    }
    if let Some(h) = accept.take() {
        let _ = h.join();
    }
}

fn accept_loop(shared: Arc<Shared>, idx: usize, listener: TcpListener) {
    let slot = &shared.brokers[idx];
    log::debug!("mock broker {} listening on {}", slot.id, slot.addr());
    loop {
        let accepted = listener.accept();
        if !slot.listening.load(Ordering::SeqCst) || shared.stopping() {
            break;
        }
        match accepted {
            Ok((stream, peer)) => spawn_connection(&shared, slot.id, stream, peer),
            Err(e) => {
                log::warn!("mock broker {}: accept failed: {e}", slot.id);
                // E.g. out of file descriptors: do not spin.
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
    log::debug!("mock broker {} stopped listening", slot.id);
}

fn spawn_connection(shared: &Arc<Shared>, broker: i32, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let ctl = match stream.try_clone() {
        Ok(clone) => Arc::new(ConnCtl {
            stream: clone,
            closed: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            principal: Mutex::new(None),
        }),
        Err(e) => {
            log::warn!("mock broker {broker}: dropping connection from {peer}: {e}");
            return;
        }
    };
    let mut reaped = Vec::new();
    {
        let mut conns = shared.conns.lock();
        // Reap finished connections so a long run does not pile them up.
        let done: Vec<u64> = conns
            .entries
            .iter()
            .filter(|(_, e)| e.ctl.finished.load(Ordering::SeqCst))
            .map(|(k, _)| *k)
            .collect();
        for k in done {
            if let Some(h) = conns.entries.remove(&k).and_then(|e| e.handle) {
                reaped.push(h);
            }
        }
        conns.next_id += 1;
        let id = conns.next_id;
        let (s, c) = (Arc::clone(shared), Arc::clone(&ctl));
        let spawned = thread::Builder::new()
            .name(format!("kafka-mock-conn-{broker}-{id}"))
            .spawn(move || connection(s, broker, stream, c));
        match spawned {
            Ok(h) => {
                log::debug!("mock broker {broker}: connection {id} from {peer}");
                conns.entries.insert(id, ConnEntry { broker, ctl, handle: Some(h) });
            }
            Err(e) => log::warn!("mock broker {broker}: cannot start a connection thread: {e}"),
        }
    }
    for h in reaped {
        let _ = h.join();
    }
}

/// Joins every connection thread; call after closing them all.
pub(crate) fn join_connections(shared: &Shared) {
    let entries: Vec<ConnEntry> = shared.conns.lock().entries.drain().map(|(_, e)| e).collect();
    for e in entries {
        e.ctl.close();
        if let Some(h) = e.handle {
            let _ = h.join();
        }
    }
}

/// Stops the whole cluster: listeners, connections, threads. Only the first
/// call does anything.
pub(crate) fn shutdown(shared: &Shared) {
    if shared.stopping.swap(true, Ordering::SeqCst) {
        return;
    }
    for idx in 0..shared.brokers.len() {
        stop_listener(shared, idx);
    }
    shared.close_connections(None);
    join_connections(shared);
}

/// Reads a request frame into something the state can answer.
fn parse(frame: &[u8]) -> Result<Incoming, DecodeError> {
    let (api, version) = RequestHeader::peek_api(frame)?;
    if api == api_key::API_VERSIONS && version > ApiVersionsRequest::VERSIONS.max {
        // Like Kafka: read only the header of an ApiVersions request of a
        // version it does not know (its body may have any shape), then answer
        // in v0. Header v2 is what versions 3+ use; a client that sends v1
        // still has its correlation id in the same place.
        let header = RequestHeader::decode(&mut Decoder::new(frame), 2)
            .or_else(|_| RequestHeader::decode(&mut Decoder::new(frame), 1))?;
        return Ok(Incoming::UnsupportedApiVersions(header));
    }
    let (header, body) = decode_request(frame)?;
    Ok(Incoming::Request(header, body))
}

/// Breaks an encoded response frame as asked; returns whether to close the
/// connection after writing it.
fn malform(frame: &mut Vec<u8>, how: Malformation) -> bool {
    // Every response frame holds a size, a correlation id and a body of at
    // least one byte.
    debug_assert!(frame.len() > 8);
    let payload = frame.len() - 4;
    match how {
        Malformation::WrongCorrelationId => {
            let c = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
            frame[4..8].copy_from_slice(&c.wrapping_add(0x4000_0000).to_be_bytes());
            false
        }
        Malformation::TruncatedBody => {
            let keep = 4 + (payload - 4) / 2;
            frame.truncate(4 + keep);
            frame[..4].copy_from_slice(&(keep as i32).to_be_bytes());
            false
        }
        Malformation::Garbage => {
            frame[8..].fill(0xff);
            false
        }
        Malformation::ShortFrame => {
            frame.truncate(4 + payload / 2);
            true
        }
        Malformation::HugeSizePrefix => {
            frame[..4].copy_from_slice(&i32::MAX.to_be_bytes());
            true
        }
    }
}

/// A connection's thread: the TLS handshake on a TLS listener, then [`serve`].
fn connection(shared: Arc<Shared>, broker: i32, stream: TcpStream, ctl: Arc<ConnCtl>) {
    // The plain stream, unless TLS took it over (and served it).
    #[cfg(feature = "tls")]
    let plain = match &shared.security.tls {
        Some(config) => {
            match super::security::tls_accept(config, stream) {
                Ok(tls) => serve(&shared, broker, tls, &ctl),
                Err(e) => {
                    log::info!("mock broker {broker}: TLS handshake failed ({e}); closing the connection")
                }
            }
            None
        }
        None => Some(stream),
    };
    #[cfg(not(feature = "tls"))]
    let plain = Some(stream);
    if let Some(stream) = plain {
        serve(&shared, broker, stream, &ctl);
    }
    let _ = ctl.stream.shutdown(Shutdown::Both);
    ctl.finished.store(true, Ordering::SeqCst);
}

/// Serves one connection: read a request, admit it (SASL), plan, (sleep,)
/// answer, repeat.
fn serve(shared: &Shared, broker: i32, mut stream: impl Read + Write, ctl: &ConnCtl) {
    let mut frame = Vec::new();
    let mut out = Vec::new();
    let mut session: Option<Session> = shared.security.session();
    loop {
        let max_frame = session.as_ref().map_or(shared.max_frame, |s| s.max_frame(shared.max_frame));
        if let Err(e) = read_frame(&mut stream, max_frame, &mut frame) {
            if e.kind() == io::ErrorKind::UnexpectedEof || ctl.closed.load(Ordering::SeqCst) {
                log::debug!("mock broker {broker}: connection closed: {e}");
            } else {
                log::warn!("mock broker {broker}: closing the connection: {e}");
            }
            break;
        }
        if shared.stopping() || ctl.closed.load(Ordering::SeqCst) {
            break;
        }
        let incoming = match parse(&frame) {
            Ok(i) => i,
            Err(e) => {
                log::warn!("mock broker {broker}: undecodable request ({e}); closing the connection");
                break;
            }
        };
        let api = incoming.header().api_key;
        if let Some(s) = session.as_mut() {
            if let Err(why) = s.admit(api, Instant::now()) {
                log::info!("mock broker {broker}: {why} (API {api}); closing the connection");
                break;
            }
        }
        let plan = shared.state.lock().plan(broker, &incoming, session.as_mut());
        if let Some(s) = session.as_ref().filter(|_| is_sasl(api)) {
            let mut p = ctl.principal.lock();
            if p.as_deref() != s.principal() {
                *p = s.principal().map(str::to_owned);
            }
        }
        if let Some(reply) = plan.reply {
            if !plan.delay.is_zero() && !shared.sleep(ctl, plan.delay) {
                break;
            }
            out.clear();
            if let Err(e) = reply.encode(&mut out) {
                log::error!("mock broker {broker}: cannot encode a response ({e}); closing the connection");
                break;
            }
            let close = plan.malformed.is_some_and(|m| malform(&mut out, m));
            if let Err(e) = stream.write_all(&out).and_then(|()| stream.flush()) {
                log::debug!("mock broker {broker}: writing a response failed: {e}");
                break;
            }
            if close {
                break;
            }
        }
        match plan.then {
            Then::Continue => {}
            Then::Close => break,
            Then::Stall => {
                // Never answer again; read and discard until the peer goes.
                while read_frame(&mut stream, max_frame, &mut frame).is_ok()
                    && !shared.stopping()
                    && !ctl.closed.load(Ordering::SeqCst)
                {}
                break;
            }
        }
    }
}

fn is_sasl(api: i16) -> bool {
    api == api_key::SASL_HANDSHAKE || api == api_key::SASL_AUTHENTICATE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body_len: usize) -> Vec<u8> {
        let mut f = ((4 + body_len) as i32).to_be_bytes().to_vec();
        f.extend_from_slice(&7i32.to_be_bytes());
        f.extend(std::iter::repeat_n(1u8, body_len));
        f
    }

    #[test]
    fn malformations() {
        let mut f = frame(10);
        assert!(!malform(&mut f, Malformation::WrongCorrelationId));
        assert_ne!(&f[4..8], &7i32.to_be_bytes());

        let mut f = frame(10);
        assert!(!malform(&mut f, Malformation::TruncatedBody));
        assert_eq!(f.len(), 4 + 4 + 5);
        assert_eq!(i32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize, f.len() - 4);
        assert_eq!(&f[4..8], &7i32.to_be_bytes());

        let mut f = frame(3);
        assert!(!malform(&mut f, Malformation::Garbage));
        assert_eq!(&f[8..], &[0xff; 3]);

        let mut f = frame(10);
        assert!(malform(&mut f, Malformation::ShortFrame));
        assert!(i32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize > f.len() - 4);

        let mut f = frame(1);
        assert!(malform(&mut f, Malformation::HugeSizePrefix));
        assert_eq!(&f[..4], &i32::MAX.to_be_bytes());
    }

    #[test]
    fn parse_rejects_garbage_and_falls_back_for_new_api_versions() {
        assert!(parse(&[0, 1]).is_err());
        assert!(parse(&[0, 99, 0, 0, 0, 0, 0, 1, 0xff, 0xff]).is_err(), "unknown API key");
        // ApiVersions v9, header v2 with client id "x" and no tags, any body.
        let f = [0, 18, 0, 9, 0, 0, 0, 5, 0, 1, b'x', 0, 0xde, 0xad];
        match parse(&f).unwrap() {
            Incoming::UnsupportedApiVersions(h) => assert_eq!((h.correlation_id, h.api_version), (5, 9)),
            other => panic!("{other:?}"),
        }
    }
}
