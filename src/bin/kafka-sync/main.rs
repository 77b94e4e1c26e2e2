//! `kafka-sync`: produce records, measure producer throughput and manage
//! topics from the shell, in the manner of kcat and Kafka's own tools
//! (feature `cli`).
//!
//! ```text
//! kafka-sync produce -b HOST:PORT -t TOPIC [-K SEP] [-H NAME=VALUE]... [-p N] [-z CODEC] [--spool DIR] [-X KEY=VALUE]... [FILE]...
//! kafka-sync perf    -b HOST:PORT -t TOPIC --num-records N --record-size S [--throughput R] [-X KEY=VALUE]...
//! kafka-sync topic create NAME [--partitions P] [--replication R]
//! kafka-sync topic list [--long]
//! kafka-sync topic delete NAME
//! ```
//!
//! - `produce` sends one record per line of the files (`-` or none: stdin),
//!   waits for every delivery and prints a summary on stderr. Ctrl-C stops
//!   its reading and bounds its waiting; `--spool DIR` keeps what was not
//!   delivered for the next run (see `produce.rs`).
//! - `perf` is `kafka-producer-perf-test`: progress lines every 5 s and the
//!   final line in the Java tool's format, on stdout.
//! - `topic` creates, lists and deletes topics.
//!
//! Without `-b` (or `-X bootstrap.servers=...`), every subcommand runs
//! against an embedded mock cluster (`kafka_sync::mock`) that lives as long
//! as the process, so `perf` works on a machine with no broker.
//!
//! Exit codes: 0 success; 1 a record failed or was not delivered, or the
//! cluster refused the operation; 2 bad arguments (including a bad `-X`
//! property); 130 `produce` interrupted twice (it exits without waiting).

#![forbid(unsafe_code)]

mod args;
mod input;
mod interrupt;
mod perf;
mod produce;
mod settings;
mod tally;
mod topic;

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::ArgMatches;

use crate::args::command;
use crate::perf::perf;
use crate::produce::produce;
use crate::topic::topic;

/// How long `close` may take once every record has its outcome.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let matches = parse_args(); // exits with 2 on bad arguments
    init_logging(matches.get_count("verbose"));
    let (name, sub) = matches.subcommand().expect("a subcommand is required");
    let result = match name {
        "produce" => produce(sub),
        "perf" => perf(sub),
        "topic" => topic(sub),
        _ => unreachable!("clap only accepts known subcommands"),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Usage(msg)) => usage_error(name, &msg),
        Err(Failure::Runtime(msg)) => {
            eprintln!("kafka-sync: {msg}");
            ExitCode::from(1)
        }
    }
}

/// Why a subcommand did not complete.
pub(crate) enum Failure {
    /// Bad arguments found after parsing: printed with the usage, exit 2.
    Usage(String),
    /// Something went wrong at run time: exit 1.
    Runtime(String),
}

/// Parses the command line; on bad arguments, prints the error with the
/// usage of the (sub)command it concerns, and exits with 2.
fn parse_args() -> ArgMatches {
    let args: Vec<OsString> = std::env::args_os().collect();
    let mut cmd = command();
    match cmd.try_get_matches_from_mut(&args) {
        Ok(m) => m,
        Err(mut e) => {
            // clap shows the usage with some errors only (not with a bad value).
            if e.use_stderr()
                && e.kind() != ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                && e.get(ContextKind::Usage).is_none()
            {
                cmd.build();
                let mut sub = &mut cmd;
                for arg in args.iter().skip(1) {
                    let name = arg.to_string_lossy();
                    if sub.find_subcommand(name.as_ref()).is_some() {
                        sub = sub.find_subcommand_mut(name.as_ref()).expect("just found");
                    }
                }
                e.insert(ContextKind::Usage, ContextValue::StyledStr(sub.render_usage()));
            }
            e.exit()
        }
    }
}

/// Prints `msg` with the usage of subcommand `sub`, as clap prints its own
/// errors, and exits with 2.
fn usage_error(sub: &str, msg: &str) -> ! {
    let mut cmd = command();
    cmd.build();
    let sub = cmd.find_subcommand_mut(sub).expect("a known subcommand");
    sub.error(ErrorKind::ValueValidation, msg).exit()
}

/// A line on stdout; a closed stdout (`| head`) is not an error worth a panic.
pub(crate) fn print_line(line: &str) {
    let _ = writeln!(io::stdout().lock(), "{line}");
}

// ---- logging ---------------------------------------------------------------

/// The library logs through `log`; this prints warnings and errors on
/// stderr, and debug (`-v`) or trace (`-vv`) messages too.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        match record.level() {
            log::Level::Error => eprintln!("kafka-sync: error: {}", record.args()),
            log::Level::Warn => eprintln!("kafka-sync: warning: {}", record.args()),
            level => eprintln!("[{level:<5} {}] {}", record.target(), record.args()),
        }
    }

    fn flush(&self) {}
}

fn init_logging(verbosity: u8) {
    static LOGGER: StderrLogger = StderrLogger;
    let level = match verbosity {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}
