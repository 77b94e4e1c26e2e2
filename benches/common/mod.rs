//! What the benchmarks that run each client in a child process share
//! (`compare.rs`, `spool.rs`): running a child and taking its result line,
//! the child's own CPU time and memory from `/proc/self`, medians, and
//! option parsing. Both include `tests/support` as the crate's `support`
//! module, whose bounded process runner this uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

/// Linux's `USER_HZ`: the unit of the CPU times in `/proc/self/stat` (100 on
/// every mainstream architecture).
const USER_HZ: f64 = 100.0;

/// Runs this benchmark's child (`exe --child ARGS...`), killed after
/// `timeout`, and returns the line it printed that starts with `RESULT `.
/// A child that fails, or prints no such line, is an error with the tail of
/// its stderr.
pub fn run_child(exe: &Path, args: &[String], timeout: Duration) -> Result<String, String> {
    let out = crate::support::run_bounded(Command::new(exe).arg("--child").args(args), timeout)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("RESULT "));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr.trim();
    let mut cut = stderr.len().saturating_sub(1500);
    while !stderr.is_char_boundary(cut) {
        cut += 1;
    }
    let tail = &stderr[cut..];
    match line {
        Some(l) if out.status.success() => Ok(l.to_string()),
        Some(l) => Err(format!("exited with {}: {l}; stderr: {tail}", out.status)),
        None => Err(format!("exited with {} without a result; stderr: {tail}", out.status)),
    }
}

/// This process' user and system CPU seconds so far (all threads, live and
/// exited), from `/proc/self/stat` (in ticks of 10 ms).
pub fn cpu_times() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces; fields after it are plain.
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state): utime is field 14, stime 15.
    let tick = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0) as f64 / USER_HZ;
    (tick(11), tick(12))
}

/// A `/proc/self/status` field in KiB (`VmHWM`: peak RSS, `VmRSS`: now).
pub fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The median of `v` (NaN when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The items of a comma-separated option value, trimmed, empty ones skipped.
pub fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// `KEY=VALUE`, trimmed.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

/// A child run's arguments, `key=value` each: the plain ones, and those
/// whose key starts with one of the prefixes the parent gave (settings it
/// passes through to a client, e.g. `ks.linger.ms=5`).
pub struct ChildArgs {
    plain: BTreeMap<String, String>,
    prefixed: Vec<(&'static str, String, String)>,
}

impl ChildArgs {
    /// Splits `args`; a key under one of `prefixes` goes to
    /// [`take_prefixed`](Self::take_prefixed) without its prefix.
    pub fn parse(args: &[String], prefixes: &[&'static str]) -> Result<ChildArgs, String> {
        let mut out = ChildArgs { plain: BTreeMap::new(), prefixed: Vec::new() };
        for a in args {
            let (k, v) = a.split_once('=').ok_or_else(|| format!("expected key=value, got {a:?}"))?;
            match prefixes.iter().find_map(|p| k.strip_prefix(p).map(|k| (*p, k))) {
                Some((p, k)) => out.prefixed.push((p, k.to_string(), v.to_string())),
                None => {
                    out.plain.insert(k.to_string(), v.to_string());
                }
            }
        }
        Ok(out)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Result<String, String> {
        self.plain.get(key).cloned().ok_or_else(|| format!("missing {key}="))
    }

    /// The value of `key`, a number.
    pub fn num(&self, key: &str) -> Result<u64, String> {
        self.get(key)?.parse().map_err(|e| format!("{key}: {e}"))
    }

    /// The `(key, value)` pairs given under `prefix`, in order.
    pub fn take_prefixed(&self, prefix: &str) -> Vec<(String, String)> {
        self.prefixed
            .iter()
            .filter(|(p, _, _)| *p == prefix)
            .map(|(_, k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// The number `v` given to option `opt` (`_` separators allowed).
pub fn parse_num(opt: &str, v: &str) -> Result<u64, String> {
    v.replace('_', "").parse().map_err(|e| format!("{opt} {v:?}: {e}"))
}

/// The cargo target directory (the parent of `CARGO_TARGET_TMPDIR`).
pub fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().map(Path::to_path_buf).unwrap_or_else(|| tmp.to_path_buf())
}

/// The `main` of a benchmark that re-executes itself for every run:
/// `--child ARGS...` is one run (`child`); anything else is the parent's
/// options (`parse`; `Ok(None)` for `--help`, which prints `usage`), then
/// `parent`. Bad options print `name: why` and the usage, exit code 2.
pub fn main<O>(
    name: &str,
    usage: &str,
    parse: impl FnOnce(&[String]) -> Result<Option<O>, String>,
    parent: impl FnOnce(&O) -> ExitCode,
    child: impl FnOnce(&[String]) -> ExitCode,
) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    match parse(&args) {
        Ok(Some(o)) => parent(&o),
        Ok(None) => {
            print!("{usage}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: {e}\n\n{usage}");
            ExitCode::from(2)
        }
    }
}
