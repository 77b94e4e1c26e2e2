//! A fault-injecting TCP proxy that understands Kafka framing.
//!
//! It sits between a client and one broker on loopback and, per request,
//! decides (from a seeded random sequence) to forward it cleanly or to:
//! cut the connection before forwarding it, forward it and cut before the
//! response, cut in the middle of the response, delay the response, or stall
//! the response past the client's request timeout (then cut). Faults are
//! bounded in number; counters say what was injected.
//!
//! Kafka answers requests in order on a connection, so the fate chosen for
//! each forwarded request is queued and applied to the matching response.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Forward request and response untouched.
    Forward,
    /// Close the connection instead of forwarding the request.
    CutBeforeForward,
    /// Forward the request, then close the connection instead of forwarding the response.
    CutBeforeResponse,
    /// Forward the request and half the response, then close.
    CutMidResponse,
    /// Forward both, holding the response back this long.
    Delay(Duration),
    /// Forward the request; hold the response this long (past the client's
    /// request timeout), then close without forwarding it.
    Stall(Duration),
    /// Forward only the first half of the request (the broker sees a frame
    /// that never completes), stay silent this long, then close.
    PartialThenStall(Duration),
}

/// Probabilities (per request) of each fault, and bounds.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub seed: u64,
    pub cut_before_forward: f64,
    pub cut_before_response: f64,
    pub cut_mid_response: f64,
    pub delay: f64,
    pub delay_max: Duration,
    pub stall: f64,
    pub stall_for: Duration,
    pub partial_then_stall: f64,
    /// Stop injecting after this many faults (delays not counted).
    pub max_faults: u64,
    /// Only requests of this API key are subject to faults (None: all but
    /// ApiVersions, so connections can always be established).
    pub only_api: Option<i16>,
}

impl FaultPlan {
    /// No faults at all.
    pub fn clean(seed: u64) -> Self {
        Self {
            seed,
            cut_before_forward: 0.0,
            cut_before_response: 0.0,
            cut_mid_response: 0.0,
            delay: 0.0,
            delay_max: Duration::ZERO,
            stall: 0.0,
            stall_for: Duration::ZERO,
            partial_then_stall: 0.0,
            max_faults: 0,
            only_api: None,
        }
    }
}

/// Counts of what the proxy did.
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub connections: AtomicU64,
    pub requests: AtomicU64,
    pub cut_before_forward: AtomicU64,
    pub cut_before_response: AtomicU64,
    pub cut_mid_response: AtomicU64,
    pub delayed: AtomicU64,
    pub stalled: AtomicU64,
    pub partial: AtomicU64,
}

impl FaultCounts {
    pub fn faults(&self) -> u64 {
        self.cut_before_forward.load(Ordering::Relaxed)
            + self.cut_before_response.load(Ordering::Relaxed)
            + self.cut_mid_response.load(Ordering::Relaxed)
            + self.stalled.load(Ordering::Relaxed)
            + self.partial.load(Ordering::Relaxed)
    }

    pub fn summary(&self) -> String {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "connections {}, requests {}, cut before forward {}, cut before response {}, cut mid-response {}, delayed {}, stalled {}, partial requests {}",
            l(&self.connections),
            l(&self.requests),
            l(&self.cut_before_forward),
            l(&self.cut_before_response),
            l(&self.cut_mid_response),
            l(&self.delayed),
            l(&self.stalled),
            l(&self.partial)
        )
    }
}

struct Rng(u64);
impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Shared {
    plan: Mutex<(FaultPlan, Rng, u64)>,
    counts: FaultCounts,
    stop: AtomicBool,
    upstream: Mutex<SocketAddr>,
    sockets: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn fate(&self, api_key: i16) -> Fate {
        let mut g = self.plan.lock();
        let (plan, rng, faults) = &mut *g;
        let subject = match plan.only_api {
            Some(k) => k == api_key,
            None => api_key != 18,
        };
        if !subject || *faults >= plan.max_faults {
            return Fate::Forward;
        }
        let x = rng.next_f64();
        let mut acc = 0.0;
        let mut pick = |p: f64| {
            acc += p;
            x < acc
        };
        let f = if pick(plan.cut_before_forward) {
            Fate::CutBeforeForward
        } else if pick(plan.cut_before_response) {
            Fate::CutBeforeResponse
        } else if pick(plan.cut_mid_response) {
            Fate::CutMidResponse
        } else if pick(plan.stall) {
            Fate::Stall(plan.stall_for)
        } else if pick(plan.partial_then_stall) {
            Fate::PartialThenStall(plan.stall_for)
        } else if pick(plan.delay) {
            let ms = (rng.next_f64() * plan.delay_max.as_millis() as f64) as u64;
            Fate::Delay(Duration::from_millis(ms))
        } else {
            Fate::Forward
        };
        if !matches!(f, Fate::Forward | Fate::Delay(_)) {
            *faults += 1;
        }
        f
    }
}

/// The proxy. Stops (closing every connection) on drop.
pub struct ChaosProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl ChaosProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream`.
    ///
    /// A single-broker test makes the broker advertise the proxy's address
    /// (bind the listener first with [`ChaosProxy::bind`]), so that every
    /// connection the client makes after bootstrap goes through the proxy.
    pub fn start(upstream: SocketAddr, plan: FaultPlan) -> io::Result<Self> {
        Self::start_on(TcpListener::bind("127.0.0.1:0")?, upstream, plan)
    }

    /// Binds the proxy's listening socket now, to learn its port before the
    /// broker behind it starts.
    pub fn bind() -> io::Result<TcpListener> {
        TcpListener::bind("127.0.0.1:0")
    }

    /// Starts a proxy on an already bound listener.
    pub fn start_on(listener: TcpListener, upstream: SocketAddr, plan: FaultPlan) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let seed = plan.seed;
        let shared = Arc::new(Shared {
            plan: Mutex::new((plan, Rng(seed), 0)),
            counts: FaultCounts::default(),
            stop: AtomicBool::new(false),
            upstream: Mutex::new(upstream),
            sockets: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let accept = std::thread::Builder::new().name("chaos-accept".into()).spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::Acquire) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let s2 = s.clone();
                let _ =
                    std::thread::Builder::new().name("chaos-conn".into()).spawn(move || serve(s2, client));
            }
        })?;
        Ok(Self { addr, shared, accept: Some(accept) })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the proxy did so far.
    pub fn counts(&self) -> &FaultCounts {
        &self.shared.counts
    }

    /// Replaces the fault plan (the fault budget restarts).
    pub fn set_plan(&self, plan: FaultPlan) {
        let seed = plan.seed;
        *self.shared.plan.lock() = (plan, Rng(seed), 0);
    }

    /// Sends new connections to `upstream` (open ones stay where they are),
    /// as a bootstrap name whose address changed.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *self.shared.upstream.lock() = upstream;
    }

    /// Closes every open connection now.
    pub fn cut_all(&self) {
        for s in self.shared.sockets.lock().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.cut_all();
        // Unblock accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn read_frame(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut size = [0u8; 4];
    r.read_exact(&mut size)?;
    let n = i32::from_be_bytes(size);
    if !(0..=(128 << 20)).contains(&n) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad frame size"));
    }
    let mut buf = vec![0u8; 4 + n as usize];
    buf[..4].copy_from_slice(&size);
    r.read_exact(&mut buf[4..])?;
    Ok(buf)
}

fn serve(s: Arc<Shared>, client: TcpStream) {
    let to = *s.upstream.lock();
    let Ok(upstream) = TcpStream::connect_timeout(&to, Duration::from_secs(5)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    s.counts.connections.fetch_add(1, Ordering::Relaxed);
    {
        let mut socks = s.sockets.lock();
        if let (Ok(a), Ok(b)) = (client.try_clone(), upstream.try_clone()) {
            socks.push(a);
            socks.push(b);
        }
    }
    let close_both = {
        let c = client.try_clone().ok().map(Arc::new);
        let u = upstream.try_clone().ok().map(Arc::new);
        move || {
            if let Some(c) = &c {
                let _ = c.shutdown(Shutdown::Both);
            }
            if let Some(u) = &u {
                let _ = u.shutdown(Shutdown::Both);
            }
        }
    };
    let (tx, rx) = crossbeam_channel::unbounded::<Fate>();
    // Responses: upstream -> client, applying each request's fate.
    let (mut up_r, mut cl_w) = match (upstream.try_clone(), client.try_clone()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return,
    };
    let s2 = s.clone();
    let close2 = close_both.clone();
    let responder = std::thread::spawn(move || {
        while let Ok(frame) = read_frame(&mut up_r) {
            let fate = rx.recv().unwrap_or(Fate::Forward);
            match fate {
                Fate::Forward => {}
                Fate::Delay(d) => {
                    s2.counts.delayed.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(d);
                }
                Fate::CutBeforeResponse => {
                    s2.counts.cut_before_response.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Fate::CutMidResponse => {
                    s2.counts.cut_mid_response.fetch_add(1, Ordering::Relaxed);
                    let _ = cl_w.write_all(&frame[..frame.len() / 2]);
                    let _ = cl_w.flush();
                    break;
                }
                Fate::Stall(d) => {
                    s2.counts.stalled.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(d);
                    break;
                }
                Fate::CutBeforeForward | Fate::PartialThenStall(_) => unreachable!("never queued"),
            }
            if cl_w.write_all(&frame).is_err() {
                break;
            }
        }
        close2();
    });
    // Requests: client -> upstream.
    let (mut cl_r, mut up_w) = (client, upstream);
    while let Ok(frame) = read_frame(&mut cl_r) {
        s.counts.requests.fetch_add(1, Ordering::Relaxed);
        let api_key =
            i16::from_be_bytes([frame.get(4).copied().unwrap_or(0), frame.get(5).copied().unwrap_or(0)]);
        let fate = s.fate(api_key);
        if fate == Fate::CutBeforeForward {
            s.counts.cut_before_forward.fetch_add(1, Ordering::Relaxed);
            break;
        }
        if let Fate::PartialThenStall(d) = fate {
            s.counts.partial.fetch_add(1, Ordering::Relaxed);
            let _ = up_w.write_all(&frame[..frame.len() / 2]);
            std::thread::sleep(d);
            break;
        }
        if up_w.write_all(&frame).is_err() {
            break;
        }
        if tx.send(fate).is_err() {
            break;
        }
    }
    close_both();
    let _ = responder.join();
}
