//! TLS and SASL in front of tansu, from implementations nobody here wrote.
//!
//! tansu 0.6 has no TLS and no working SASL, so the security tests put
//! independent implementations in front of it:
//!
//! - TLS: **stunnel** (Debian's `stunnel4`, OpenSSL), a TLS server that
//!   forwards the plaintext to a port; with [`TlsOptions::require_client_cert`]
//!   it demands a client certificate that chains to the test CA (`CAfile`,
//!   `verifyChain`, `requireCert`).
//! - SASL: `tests/support/sasl_proxy.py`, a proxy that behaves like a Kafka SASL
//!   listener (PLAIN, SCRAM-SHA-256/512 through the PyPI package `scramp`,
//!   OAUTHBEARER with unsecured JWS tokens, KIP-368 re-authentication, sessions
//!   that expire). Its module docstring says exactly what it does.
//! - Certificates: made at test time by [`Certs::generate`] with `rcgen`.
//!
//! The chains, each with tansu advertising the outermost port so that every
//! connection after bootstrap goes through the chain too:
//!
//! - [`TlsTansu`]: client -> stunnel -> tansu (`security.protocol=SSL`)
//! - [`SaslTansu`]: client -> proxy -> tansu (`SASL_PLAINTEXT`)
//! - [`SaslSslTansu`]: client -> stunnel -> proxy -> tansu (`SASL_SSL`)
//!
//! Each kills its processes on drop. When stunnel, the venv's Python or scramp
//! is missing, `start` returns `Err` saying how to get them (`eval "$(.ci/
//! test-env.sh)"`), for [`super::require_broker`]: SKIP locally, fail in CI.
//!
//! ```ignore
//! let Some(chain) = require_broker("t", SaslTansu::start(SaslOptions::default())) else { return };
//! chain.create_topic("t", 1).unwrap();
//! let config = chain.rdkafka_config("SCRAM-SHA-512", "alice", "alice-secret");
//! // ... produce to chain.bootstrap() with `config` ...
//! let records = read_back_with(&chain.bootstrap(), "t", 10, Duration::from_secs(10), &pairs(&config));
//! ```
//!
//! Quirks worth knowing:
//! - stunnel connects upstream only after a TLS handshake completes, so a bare
//!   TCP probe of its port (the startup wait) never reaches tansu or the proxy.
//! - The proxy counts every TCP connection in its stats, including librdkafka's
//!   bootstrap connection, which it keeps open beside the one to broker 111.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

use super::{
    consumer, free_loopback_port, log_dir, partitions_of, run_bounded, tail_of, Tansu, STARTUP_TIMEOUT,
    TOPIC_TIMEOUT,
};

/// What to run when stunnel or the SASL proxy's Python is missing.
pub const ENABLE_SECURE_HINT: &str =
    "(`eval \"$(.ci/test-env.sh)\"` installs stunnel4 and a venv with scramp \
     and exports KAFKA_SYNC_STUNNEL and KAFKA_SYNC_PYTHON)";

/// The SASL proxy script.
pub const SASL_PROXY_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/sasl_proxy.py");

/// The users [`SaslOptions::default`] configures: (user, password).
pub const USERS: [(&str, &str); 2] = [("alice", "alice-secret"), ("bob", "bob-secret")];

/// Every mechanism the proxy implements.
pub const ALL_MECHANISMS: [&str; 4] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// The host name of [`Certs::wrong_host_server`] (the only name in it).
pub const WRONG_HOST: &str = "wrong.example";

/// The common name of the client certificates.
pub const CLIENT_CN: &str = "kafka-sync-test-client";

/// How many times a chain is started again when a port picked as free was taken
/// before its process bound it.
const START_ATTEMPTS: usize = 3;

// ---------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------

/// A PEM file written by [`Certs`]: its path and its contents.
#[derive(Debug, Clone)]
pub struct Pem {
    /// Where the file is (inside [`Certs::dir`]).
    pub path: PathBuf,
    /// The PEM text.
    pub pem: String,
}

/// A certificate and its private key (PKCS#8 PEM, ECDSA P-256).
#[derive(Debug, Clone)]
pub struct CertKey {
    /// The certificate (just the leaf; the CA is separate).
    pub cert: Pem,
    /// The unencrypted private key, `-----BEGIN PRIVATE KEY-----`.
    pub key: Pem,
}

/// Which certificate stunnel presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerCert {
    /// `localhost` and `127.0.0.1`, signed by the test CA, valid 2000-2099.
    #[default]
    Valid,
    /// As `Valid`, but it expired on 2001-01-01.
    Expired,
    /// Signed by the test CA, but only for [`WRONG_HOST`].
    WrongHost,
    /// `localhost` and `127.0.0.1`, signed by the untrusted CA.
    UntrustedCa,
}

/// Certificates for the TLS tests, made by `rcgen` and written as PEM files to
/// a fresh temporary directory (removed on drop). All keys are ECDSA P-256.
#[derive(Debug)]
pub struct Certs {
    /// The directory holding every file below.
    pub dir: PathBuf,
    /// The test CA's certificate: the trust anchor (`ssl.ca.location`).
    pub ca: Pem,
    /// Server certificate for `localhost` and IP `127.0.0.1`, signed by `ca`.
    pub server: CertKey,
    /// Client certificate (CN [`CLIENT_CN`], extended key usage clientAuth),
    /// signed by `ca`: what mTLS accepts.
    pub client: CertKey,
    /// A server certificate like `server` that expired on 2001-01-01.
    pub expired_server: CertKey,
    /// A server certificate signed by `ca` for [`WRONG_HOST`] only.
    pub wrong_host_server: CertKey,
    /// A second CA nobody trusts.
    pub untrusted_ca: Pem,
    /// A server certificate for `localhost` and `127.0.0.1` signed by `untrusted_ca`.
    pub untrusted_server: CertKey,
    /// A client certificate signed by `untrusted_ca` (mTLS must refuse it).
    pub untrusted_client: CertKey,
}

fn write_pem(dir: &Path, name: &str, pem: String) -> Result<Pem, String> {
    let path = dir.join(name);
    fs::write(&path, &pem).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    #[cfg(unix)]
    if name.ends_with(".key") {
        // Private keys readable by their owner only (stunnel warns otherwise).
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot chmod {}: {e}", path.display()))?;
    }
    Ok(Pem { path, pem })
}

fn rcgen_err(what: &str) -> impl Fn(rcgen::Error) -> String + '_ {
    move |e| format!("rcgen: {what}: {e}")
}

/// A CA: its certificate and key pair.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn make_ca(common_name: &str) -> Result<Ca, String> {
    let key = KeyPair::generate().map_err(rcgen_err("CA key"))?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_err("CA params"))?;
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.distinguished_name.push(DnType::OrganizationName, "kafka-sync tests");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2099, 12, 31);
    let cert = params.self_signed(&key).map_err(rcgen_err("CA certificate"))?;
    Ok(Ca { cert, key })
}

/// A leaf certificate signed by `ca`.
fn make_leaf(
    ca: &Ca,
    common_name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    expired: bool,
) -> Result<(String, String), String> {
    let key = KeyPair::generate().map_err(rcgen_err("leaf key"))?;
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).map_err(rcgen_err("leaf params"))?;
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.distinguished_name.push(DnType::OrganizationName, "kafka-sync tests");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    } else {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2099, 12, 31);
    }
    let cert = params.signed_by(&key, &ca.cert, &ca.key).map_err(rcgen_err("leaf certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl Certs {
    /// Makes every certificate and writes them to a new temporary directory.
    pub fn generate() -> Result<Certs, String> {
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kafka-sync-certs-{}-{}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let pair = |name: &str, (cert, key): (String, String)| -> Result<CertKey, String> {
            Ok(CertKey {
                cert: write_pem(&dir, &format!("{name}.pem"), cert)?,
                key: write_pem(&dir, &format!("{name}.key"), key)?,
            })
        };
        let server_names = ["localhost", "127.0.0.1"];
        let ca = make_ca("kafka-sync test CA")?;
        let other = make_ca("kafka-sync untrusted CA")?;
        let server_auth = ExtendedKeyUsagePurpose::ServerAuth;
        let client_auth = ExtendedKeyUsagePurpose::ClientAuth;
        Ok(Certs {
            ca: write_pem(&dir, "ca.pem", ca.cert.pem())?,
            server: pair("server", make_leaf(&ca, "localhost", &server_names, server_auth.clone(), false)?)?,
            client: pair("client", make_leaf(&ca, CLIENT_CN, &[], client_auth.clone(), false)?)?,
            expired_server: pair(
                "expired-server",
                make_leaf(&ca, "localhost", &server_names, server_auth.clone(), true)?,
            )?,
            wrong_host_server: pair(
                "wrong-host-server",
                make_leaf(&ca, WRONG_HOST, &[WRONG_HOST], server_auth.clone(), false)?,
            )?,
            untrusted_ca: write_pem(&dir, "untrusted-ca.pem", other.cert.pem())?,
            untrusted_server: pair(
                "untrusted-server",
                make_leaf(&other, "localhost", &server_names, server_auth, false)?,
            )?,
            untrusted_client: pair(
                "untrusted-client",
                make_leaf(&other, CLIENT_CN, &[], client_auth, false)?,
            )?,
            dir,
        })
    }

    /// The server certificate `which` names.
    pub fn server_cert(&self, which: ServerCert) -> &CertKey {
        match which {
            ServerCert::Valid => &self.server,
            ServerCert::Expired => &self.expired_server,
            ServerCert::WrongHost => &self.wrong_host_server,
            ServerCert::UntrustedCa => &self.untrusted_server,
        }
    }

    /// Writes `key` encrypted with `password` as PKCS#8 (PBES2, AES-256-CBC,
    /// PBKDF2 with HMAC-SHA256; `-----BEGIN ENCRYPTED PRIVATE KEY-----`), the
    /// form `ssl.key.password` decrypts. Made by the `openssl` command line tool
    /// (Debian's `openssl`, which .ci/test-env.sh installs), not by rcgen,
    /// which cannot encrypt keys.
    pub fn encrypted_key(&self, key: &Pem, password: &str) -> Result<Pem, String> {
        let stem = key.path.file_stem().and_then(|s| s.to_str()).unwrap_or("key");
        let out = self.dir.join(format!("{stem}.encrypted.key"));
        let result = run_bounded(
            Command::new("openssl")
                .args(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256", "-in"])
                .arg(&key.path)
                .arg("-out")
                .arg(&out)
                .arg("-passout")
                .arg(format!("pass:{password}")),
            Duration::from_secs(20),
        )
        .map_err(|e| format!("{e} {ENABLE_SECURE_HINT}"))?;
        if !result.status.success() {
            return Err(format!(
                "openssl pkcs8 failed ({}): {}",
                result.status,
                String::from_utf8_lossy(&result.stderr)
            ));
        }
        let pem = fs::read_to_string(&out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
        Ok(Pem { path: out, pem })
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        if !thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------
// Finding the tools
// ---------------------------------------------------------------------------

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).filter(|p| !p.is_empty()).map(PathBuf::from)
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).flat_map(|dir| names.iter().map(move |n| dir.join(n))).find(|p| p.is_file())
}

/// The stunnel binary: `$KAFKA_SYNC_STUNNEL`, else `stunnel4` or `stunnel` on
/// the `PATH`.
pub fn stunnel_path() -> Result<PathBuf, String> {
    if let Some(p) = env_path("KAFKA_SYNC_STUNNEL") {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("KAFKA_SYNC_STUNNEL={} is not a file {ENABLE_SECURE_HINT}", p.display()))
        };
    }
    on_path(&["stunnel4", "stunnel"]).ok_or_else(|| {
        format!("stunnel not found (KAFKA_SYNC_STUNNEL unset, none on PATH) {ENABLE_SECURE_HINT}")
    })
}

/// The Python that runs the SASL proxy, checked to import `scramp`:
/// `$KAFKA_SYNC_PYTHON`, else the venv .ci/test-env.sh makes
/// (`$KAFKA_SYNC_CACHE/venv/bin/python`, by default under
/// `$HOME/.cache/kafka-sync`). Checked once per test process.
pub fn proxy_python() -> Result<PathBuf, String> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let python = match env_path("KAFKA_SYNC_PYTHON") {
                Some(p) => p,
                None => {
                    let cache = env_path("KAFKA_SYNC_CACHE")
                        .or_else(|| env_path("HOME").map(|h| h.join(".cache/kafka-sync")))
                        .ok_or_else(|| format!("KAFKA_SYNC_PYTHON and HOME unset {ENABLE_SECURE_HINT}"))?;
                    cache.join("venv/bin/python")
                }
            };
            if !python.is_file() {
                return Err(format!(
                    "no Python for the SASL proxy at {} (KAFKA_SYNC_PYTHON unset or wrong) {ENABLE_SECURE_HINT}",
                    python.display()
                ));
            }
            let out = run_bounded(Command::new(&python).args(["-c", "import scramp"]), Duration::from_secs(20))?;
            if !out.status.success() {
                return Err(format!(
                    "{} cannot import scramp ({}) {ENABLE_SECURE_HINT}",
                    python.display(),
                    String::from_utf8_lossy(&out.stderr).lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").trim()
                ));
            }
            Ok(python)
        })
        .clone()
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// A child process with a log file, killed and reaped on drop (the log's tail
/// is printed if the dropping thread panics).
#[derive(Debug)]
struct Process {
    what: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(what: String, cmd: &mut Command, log: PathBuf) -> Result<Process, String> {
        let out = File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| format!("cannot dup log file: {e}"))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {what} ({cmd:?}): {e}"))?;
        Ok(Process { what, child, log })
    }

    /// Waits (at most [`STARTUP_TIMEOUT`]) until `ready()` holds; fails early if
    /// the process exits.
    fn wait_until(&mut self, what_for: &str, mut ready: impl FnMut() -> bool) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited with {status} before {what_for}; log {}:\n{}",
                    self.what,
                    self.log.display(),
                    tail_of(&self.log, 4000)
                ));
            }
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not get to {what_for} within {STARTUP_TIMEOUT:?}; log {}:\n{}",
                    self.what,
                    self.log.display(),
                    tail_of(&self.log, 4000)
                ));
            }
            thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- {} (log {}), last lines:\n{}\n---",
                self.what,
                self.log.display(),
                tail_of(&self.log, 4000)
            );
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago (for [`Stunnel::start`] and
/// [`SaslProxy::start`] in front of a broker of your own).
pub fn free_port() -> Result<u16, String> {
    free_loopback_port()
}

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_millis(200)).is_ok()
}

static STARTED: AtomicUsize = AtomicUsize::new(0);

/// A fresh file name in the support log dir.
fn log_file(kind: &str, port: u16, ext: &str) -> PathBuf {
    let n = STARTED.fetch_add(1, Ordering::Relaxed);
    log_dir().join(format!("{kind}-{}-{n}-{port}.{ext}", std::process::id()))
}

// ---------------------------------------------------------------------------
// stunnel
// ---------------------------------------------------------------------------

/// What stunnel presents and demands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// The certificate stunnel presents. Defaults to [`ServerCert::Valid`].
    pub server_cert: ServerCert,
    /// Demand a client certificate signed by the test CA (mTLS: stunnel's
    /// `CAfile` = the CA, `verifyChain = yes`, `requireCert = yes`). A client
    /// without one, or with [`Certs::untrusted_client`], fails the handshake.
    /// Defaults to false.
    pub require_client_cert: bool,
}

impl TlsOptions {
    /// mTLS with the valid server certificate.
    pub fn mtls() -> TlsOptions {
        TlsOptions { require_client_cert: true, ..TlsOptions::default() }
    }
}

/// A stunnel TLS server on 127.0.0.1 forwarding to a local port. Foreground,
/// logging (level info) to a file in the support log dir; killed on drop.
#[derive(Debug)]
pub struct Stunnel {
    process: Process,
    port: u16,
    upstream: u16,
    conf: PathBuf,
}

impl Stunnel {
    /// Starts stunnel on `port` (TLS) forwarding to `127.0.0.1:upstream`,
    /// presenting `cert`; with `client_ca`, a client certificate that chains to
    /// it is required. Waits (at most [`STARTUP_TIMEOUT`]) until the port accepts.
    pub fn start(
        port: u16,
        upstream: u16,
        cert: &CertKey,
        client_ca: Option<&Path>,
    ) -> Result<Stunnel, String> {
        let binary = stunnel_path()?;
        let log = log_file("stunnel", port, "log");
        let conf = log.with_extension("conf");
        let mut text = format!(
            "; kafka-sync test TLS front ({})\n\
             foreground = yes\n\
             pid =\n\
             syslog = no\n\
             debug = info\n\
             \n\
             [kafka]\n\
             accept = 127.0.0.1:{port}\n\
             connect = 127.0.0.1:{upstream}\n\
             cert = {}\n\
             key = {}\n\
             ; Kafka's request/response traffic is latency-bound: no Nagle on either side.\n\
             socket = l:TCP_NODELAY=1\n\
             socket = r:TCP_NODELAY=1\n\
             ; close promptly when either side does (each close logs a harmless\n\
             ; \"TIMEOUTclose exceeded\" at level 3)\n\
             TIMEOUTclose = 0\n",
            file!(),
            cert.cert.path.display(),
            cert.key.path.display(),
        );
        if let Some(ca) = client_ca {
            text.push_str(&format!(
                "; mTLS: a client certificate that chains to this CA is required\n\
                 CAfile = {}\n\
                 verifyChain = yes\n\
                 requireCert = yes\n",
                ca.display()
            ));
        }
        fs::write(&conf, text).map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
        let mut process = Process::spawn(
            format!("stunnel on port {port} -> {upstream}"),
            Command::new(&binary).arg(&conf),
            log,
        )?;
        process.wait_until("accepting connections", || accepts(port))?;
        Ok(Stunnel { process, port, upstream, conf })
    }

    /// The TLS port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The plaintext port it forwards to.
    pub fn upstream(&self) -> u16 {
        self.upstream
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// stunnel's log file.
    pub fn log_path(&self) -> &Path {
        &self.process.log
    }

    /// The configuration file it was started with.
    pub fn conf_path(&self) -> &Path {
        &self.conf
    }
}

// ---------------------------------------------------------------------------
// The SASL proxy
// ---------------------------------------------------------------------------

/// How the SASL proxy authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslOptions {
    /// (user, password) pairs for PLAIN and SCRAM. Defaults to [`USERS`].
    pub users: Vec<(String, String)>,
    /// The enabled mechanisms, in the order the SaslHandshake response lists
    /// them. Defaults to [`ALL_MECHANISMS`].
    pub mechanisms: Vec<String>,
    /// The session lifetime reported in SaslAuthenticate v1+ responses, after
    /// which a request other than a re-authentication closes the connection.
    /// Defaults to `None`: sessions never expire (OAUTHBEARER sessions still
    /// end with their token).
    pub session_lifetime_ms: Option<u64>,
}

impl Default for SaslOptions {
    fn default() -> Self {
        SaslOptions {
            users: USERS.iter().map(|(u, p)| (u.to_string(), p.to_string())).collect(),
            mechanisms: ALL_MECHANISMS.iter().map(|m| m.to_string()).collect(),
            session_lifetime_ms: None,
        }
    }
}

impl SaslOptions {
    /// The defaults with a session lifetime.
    pub fn with_session_lifetime(ms: u64) -> SaslOptions {
        SaslOptions { session_lifetime_ms: Some(ms), ..SaslOptions::default() }
    }

    /// The defaults with only these mechanisms enabled.
    pub fn with_mechanisms(mechanisms: &[&str]) -> SaslOptions {
        SaslOptions {
            mechanisms: mechanisms.iter().map(|m| m.to_string()).collect(),
            ..SaslOptions::default()
        }
    }
}

/// What the proxy counted (its stats file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// TCP connections accepted.
    pub connections: u64,
    /// Connections still open.
    pub open_connections: u64,
    /// Successful first authentications.
    pub authentications: u64,
    /// Successful first authentications per mechanism.
    pub authentications_by_mechanism: BTreeMap<String, u64>,
    /// Successful re-authentications (KIP-368), all connections.
    pub reauthentications: u64,
    /// Re-authentications per connection id (connections with none are absent).
    pub reauthentications_per_connection: BTreeMap<u64, u64>,
    /// Failed authentications and re-authentications (error 58 or 33 sent).
    pub failed_authentications: u64,
    /// Connections closed because a request arrived after the session expired.
    pub expired_session_closes: u64,
}

/// The SASL proxy (`tests/support/sasl_proxy.py`) on 127.0.0.1, run by
/// [`proxy_python`]; killed on drop.
#[derive(Debug)]
pub struct SaslProxy {
    process: Process,
    port: u16,
    upstream: u16,
    stats: PathBuf,
}

impl SaslProxy {
    /// Starts the proxy on `port` in front of `127.0.0.1:upstream` and waits (at
    /// most [`STARTUP_TIMEOUT`]) until it listens (it writes its stats file then).
    pub fn start(port: u16, upstream: u16, options: &SaslOptions) -> Result<SaslProxy, String> {
        let python = proxy_python()?;
        let log = log_file("sasl-proxy", port, "log");
        let stats = log.with_extension("stats.json");
        let _ = fs::remove_file(&stats);
        let mut cmd = Command::new(&python);
        cmd.arg(SASL_PROXY_SCRIPT)
            .arg(format!("--listen={port}"))
            .arg(format!("--upstream=127.0.0.1:{upstream}"))
            .arg(format!("--mechanisms={}", options.mechanisms.join(",")))
            .arg(format!("--stats={}", stats.display()))
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        for (user, password) in &options.users {
            cmd.arg(format!("--user={user}:{password}"));
        }
        if let Some(ms) = options.session_lifetime_ms {
            cmd.arg(format!("--session-lifetime-ms={ms}"));
        }
        let mut process =
            Process::spawn(format!("sasl_proxy.py on port {port} -> {upstream}"), &mut cmd, log)?;
        process.wait_until("listening (stats file written)", || read_stats(&stats).is_ok())?;
        Ok(SaslProxy { process, port, upstream, stats })
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker port it forwards to.
    pub fn upstream(&self) -> u16 {
        self.upstream
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The proxy's log file (stderr).
    pub fn log_path(&self) -> &Path {
        &self.process.log
    }

    /// The proxy's stats file (JSON).
    pub fn stats_path(&self) -> &Path {
        &self.stats
    }

    /// The counters as of now.
    pub fn stats(&self) -> Result<ProxyStats, String> {
        read_stats(&self.stats)
    }
}

fn read_stats(path: &Path) -> Result<ProxyStats, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let json = Json::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let Json::Obj(map) = &json else { return Err(format!("{}: not a JSON object", path.display())) };
    let num = |key: &str| -> Result<u64, String> {
        match map.get(key) {
            Some(Json::Num(n)) if *n >= 0.0 => Ok(*n as u64),
            other => Err(format!("{}: {key} is {other:?}, not a count", path.display())),
        }
    };
    let counts = |key: &str| -> Result<BTreeMap<String, u64>, String> {
        match map.get(key) {
            Some(Json::Obj(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Json::Num(n) => Ok((k.clone(), *n as u64)),
                    other => Err(format!("{}: {key}.{k} is {other:?}", path.display())),
                })
                .collect(),
            other => Err(format!("{}: {key} is {other:?}, not an object", path.display())),
        }
    };
    Ok(ProxyStats {
        connections: num("connections")?,
        open_connections: num("open_connections")?,
        authentications: num("authentications")?,
        authentications_by_mechanism: counts("authentications_by_mechanism")?,
        reauthentications: num("reauthentications")?,
        reauthentications_per_connection: counts("reauthentications_per_connection")?
            .into_iter()
            .map(|(k, v)| k.parse().map(|k| (k, v)).map_err(|_| format!("connection id {k:?}")))
            .collect::<Result<_, _>>()?,
        failed_authentications: num("failed_authentications")?,
        expired_session_closes: num("expired_session_closes")?,
    })
}

/// Just enough JSON for the proxy's stats file.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    fn parse(text: &str) -> Result<Json, String> {
        let mut p = JsonParser { s: text.as_bytes(), i: 0 };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing characters at byte {}", p.i));
        }
        Ok(v)
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut map = BTreeMap::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(map));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.eat(b':')?;
                    map.insert(key, self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(map));
                        }
                        _ => return Err(format!("expected ',' or '}}' at byte {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("expected ',' or ']' at byte {}", self.i)),
                    }
                }
            }
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Json::Bool(true))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Json::Bool(false))
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(Json::Null)
            }
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(self.s[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.i += 1;
                }
                std::str::from_utf8(&self.s[start..self.i])
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .map(Json::Num)
                    .ok_or_else(|| format!("bad value at byte {start}"))
            }
            None => Err(String::from("unexpected end of JSON")),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.s.get(self.i) != Some(&b'"') {
            return Err(format!("expected a string at byte {}", self.i));
        }
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = std::str::from_utf8(&self.s[self.i..]).map_err(|e| e.to_string())?;
            let mut chars = rest.char_indices();
            let Some((_, c)) = chars.next() else { return Err(String::from("unterminated string")) };
            self.i += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let esc = *self.s.get(self.i).ok_or("unterminated escape")?;
                    self.i += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => {
                            let hex = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
                            let code = u32::from_str_radix(std::str::from_utf8(hex).unwrap_or("x"), 16)
                                .map_err(|_| "bad \\u escape")?;
                            self.i += 4;
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        _ => return Err(format!("bad escape at byte {}", self.i)),
                    }
                }
                c => out.push(c),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// librdkafka settings
// ---------------------------------------------------------------------------

/// Borrows owned settings as the `(&str, &str)` pairs [`super::read_back_with`]
/// takes.
pub fn pairs(config: &[(String, String)]) -> Vec<(&str, &str)> {
    config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn setting(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

/// librdkafka's TLS settings: trust `ca` (and verify the host name, which
/// librdkafka does by default).
pub fn rdkafka_tls_config(ca: &Path) -> Vec<(String, String)> {
    vec![setting("ssl.ca.location", ca.display().to_string())]
}

/// librdkafka's SASL settings for `mechanism`. OAUTHBEARER uses librdkafka's
/// unsecured JWT builder with `user` as the principal (the password is unused).
pub fn rdkafka_sasl_config(mechanism: &str, user: &str, password: &str) -> Vec<(String, String)> {
    let mut config = vec![setting("sasl.mechanism", mechanism)];
    if mechanism == "OAUTHBEARER" {
        config.push(setting("enable.sasl.oauthbearer.unsecure.jwt", "true"));
        config.push(setting("sasl.oauthbearer.config", format!("principal={user}")));
    } else {
        config.push(setting("sasl.username", user));
        config.push(setting("sasl.password", password));
    }
    config
}

// ---------------------------------------------------------------------------
// Chains in front of tansu
// ---------------------------------------------------------------------------

/// Creates `topic` with `tansu topic create` against tansu's own (plaintext)
/// port, then waits until metadata fetched through the chain (`bootstrap` with
/// `config`) shows its partitions with a leader.
fn create_topic_through(
    tansu: &Tansu,
    bootstrap: &str,
    config: &[(String, String)],
    topic: &str,
    partitions: i32,
) -> Result<(), String> {
    let started = Instant::now();
    let out = run_bounded(
        Command::new(&tansu.binary)
            .args(["topic", "create", topic])
            .arg(format!("--partitions={partitions}"))
            .arg(format!("--broker=tcp://127.0.0.1:{}", tansu.port()))
            .env("NO_COLOR", "1"),
        TOPIC_TIMEOUT,
    )?;
    if !out.status.success() {
        return Err(format!(
            "tansu topic create {topic} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let c = consumer(bootstrap, &pairs(config))?;
    let deadline = Instant::now() + TOPIC_TIMEOUT.saturating_sub(started.elapsed());
    partitions_of(&c, topic, Some(partitions), deadline).map(|_| ())
}

/// Picks a free port for the outermost process, starts tansu advertising it,
/// then `front` (given tansu's port and the picked port). Tries again with
/// another port when a process could not bind the one picked.
fn start_chain<T>(mut front: impl FnMut(&Tansu, u16) -> Result<T, String>) -> Result<(Tansu, T), String> {
    let mut last = String::new();
    for _ in 0..START_ATTEMPTS {
        let port = free_loopback_port()?;
        let tansu = Tansu::start_advertising(port)?;
        match front(&tansu, port) {
            Ok(t) => return Ok((tansu, t)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// client -> stunnel (TLS) -> tansu, tansu advertising stunnel's port.
///
/// Fields drop in order: stunnel, tansu, then the certificates.
#[derive(Debug)]
pub struct TlsTansu {
    /// The TLS front.
    pub stunnel: Stunnel,
    /// The broker behind it (its own port is plaintext).
    pub tansu: Tansu,
    /// The certificates; stunnel presents `certs.server_cert(options.server_cert)`.
    pub certs: Certs,
    /// How stunnel was configured.
    pub options: TlsOptions,
}

impl TlsTansu {
    /// TLS with the valid server certificate, no client certificate required.
    pub fn start() -> Result<TlsTansu, String> {
        Self::start_with(TlsOptions::default())
    }

    /// TLS as `options` say, with fresh certificates.
    pub fn start_with(options: TlsOptions) -> Result<TlsTansu, String> {
        stunnel_path()?;
        let certs = Certs::generate()?;
        let (tansu, stunnel) = start_chain(|tansu, port| {
            let client_ca = options.require_client_cert.then_some(certs.ca.path.as_path());
            Stunnel::start(port, tansu.port(), certs.server_cert(options.server_cert), client_ca)
        })?;
        Ok(TlsTansu { stunnel, tansu, certs, options })
    }

    /// stunnel's `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.stunnel.bootstrap()
    }

    /// librdkafka settings that connect: `security.protocol=ssl`, the test CA,
    /// and with mTLS the client certificate and key.
    pub fn rdkafka_config(&self) -> Vec<(String, String)> {
        let mut config = vec![setting("security.protocol", "ssl")];
        config.extend(rdkafka_tls_config(&self.certs.ca.path));
        if self.options.require_client_cert {
            config
                .push(setting("ssl.certificate.location", self.certs.client.cert.path.display().to_string()));
            config.push(setting("ssl.key.location", self.certs.client.key.path.display().to_string()));
        }
        config
    }

    /// Creates a topic, then waits until it shows through TLS (with
    /// [`TlsTansu::rdkafka_config`]; with a bad server certificate, without
    /// verifying it).
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<(), String> {
        let mut config = self.rdkafka_config();
        config.extend(skip_verification_unless_valid(self.options.server_cert));
        create_topic_through(&self.tansu, &self.bootstrap(), &config, topic, partitions)
    }
}

/// client -> SASL proxy -> tansu (`SASL_PLAINTEXT`), tansu advertising the
/// proxy's port.
#[derive(Debug)]
pub struct SaslTansu {
    /// The SASL front.
    pub proxy: SaslProxy,
    /// The broker behind it.
    pub tansu: Tansu,
    /// How the proxy was configured.
    pub options: SaslOptions,
}

impl SaslTansu {
    /// Starts the chain with the proxy configured by `options`.
    pub fn start(options: SaslOptions) -> Result<SaslTansu, String> {
        proxy_python()?;
        let (tansu, proxy) = start_chain(|tansu, port| SaslProxy::start(port, tansu.port(), &options))?;
        Ok(SaslTansu { proxy, tansu, options })
    }

    /// The proxy's `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.proxy.bootstrap()
    }

    /// The proxy's counters.
    pub fn stats(&self) -> Result<ProxyStats, String> {
        self.proxy.stats()
    }

    /// librdkafka settings for `security.protocol=sasl_plaintext` with
    /// `mechanism` and these credentials.
    pub fn rdkafka_config(&self, mechanism: &str, user: &str, password: &str) -> Vec<(String, String)> {
        let mut config = vec![setting("security.protocol", "sasl_plaintext")];
        config.extend(rdkafka_sasl_config(mechanism, user, password));
        config
    }

    /// Creates a topic, then waits until it shows through the proxy,
    /// authenticating as the first user with the first mechanism enabled.
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<(), String> {
        let (mechanism, user, password) = default_login(&self.options)?;
        let config = self.rdkafka_config(&mechanism, &user, &password);
        create_topic_through(&self.tansu, &self.bootstrap(), &config, topic, partitions)
    }
}

fn default_login(options: &SaslOptions) -> Result<(String, String, String), String> {
    let mechanism = options.mechanisms.first().ok_or("the proxy has no mechanism enabled")?;
    let (user, password) = options.users.first().cloned().unwrap_or_else(|| ("alice".into(), String::new()));
    Ok((mechanism.clone(), user, password))
}

/// client -> stunnel (TLS) -> SASL proxy -> tansu (`SASL_SSL`), tansu
/// advertising stunnel's port.
#[derive(Debug)]
pub struct SaslSslTansu {
    /// The TLS front.
    pub stunnel: Stunnel,
    /// The SASL proxy behind stunnel.
    pub proxy: SaslProxy,
    /// The broker behind the proxy.
    pub tansu: Tansu,
    /// The certificates; stunnel presents `certs.server_cert(tls.server_cert)`.
    pub certs: Certs,
    /// How the proxy was configured.
    pub options: SaslOptions,
    /// How stunnel was configured.
    pub tls: TlsOptions,
}

impl SaslSslTansu {
    /// Starts the chain: stunnel as `tls` says, the proxy as `options` say.
    pub fn start(options: SaslOptions, tls: TlsOptions) -> Result<SaslSslTansu, String> {
        stunnel_path()?;
        proxy_python()?;
        let certs = Certs::generate()?;
        let (tansu, (proxy, stunnel)) = start_chain(|tansu, port| {
            let proxy = SaslProxy::start(free_loopback_port()?, tansu.port(), &options)?;
            let client_ca = tls.require_client_cert.then_some(certs.ca.path.as_path());
            let stunnel = Stunnel::start(port, proxy.port(), certs.server_cert(tls.server_cert), client_ca)?;
            Ok((proxy, stunnel))
        })?;
        Ok(SaslSslTansu { stunnel, proxy, tansu, certs, options, tls })
    }

    /// stunnel's `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.stunnel.bootstrap()
    }

    /// The proxy's counters.
    pub fn stats(&self) -> Result<ProxyStats, String> {
        self.proxy.stats()
    }

    /// librdkafka settings for `security.protocol=sasl_ssl` with the test CA
    /// (and the client certificate under mTLS), `mechanism` and these
    /// credentials.
    pub fn rdkafka_config(&self, mechanism: &str, user: &str, password: &str) -> Vec<(String, String)> {
        let mut config = vec![setting("security.protocol", "sasl_ssl")];
        config.extend(rdkafka_tls_config(&self.certs.ca.path));
        if self.tls.require_client_cert {
            config
                .push(setting("ssl.certificate.location", self.certs.client.cert.path.display().to_string()));
            config.push(setting("ssl.key.location", self.certs.client.key.path.display().to_string()));
        }
        config.extend(rdkafka_sasl_config(mechanism, user, password));
        config
    }

    /// Creates a topic, then waits until it shows through the whole chain,
    /// authenticating as the first user with the first mechanism enabled
    /// (with a bad server certificate, without verifying it).
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<(), String> {
        let (mechanism, user, password) = default_login(&self.options)?;
        let mut config = self.rdkafka_config(&mechanism, &user, &password);
        config.extend(skip_verification_unless_valid(self.tls.server_cert));
        create_topic_through(&self.tansu, &self.bootstrap(), &config, topic, partitions)
    }
}

/// librdkafka settings that accept `which` server certificate when it is not
/// the valid one (for the chains' own topic creation only).
fn skip_verification_unless_valid(which: ServerCert) -> Vec<(String, String)> {
    if which == ServerCert::Valid {
        return Vec::new();
    }
    vec![
        setting("enable.ssl.certificate.verification", "false"),
        setting("ssl.endpoint.identification.algorithm", "none"),
    ]
}
