//! The command line: the clap definition of every subcommand and the parsers
//! of the values that need checking (`-X`, `-H`, `-K`, `--throughput`).

use std::path::PathBuf;

use clap::builder::{NonEmptyStringValueParser, PossibleValuesParser};
use clap::{value_parser, Arg, ArgAction, Command};
use kafka_sync::{Header, ProducerConfig};

const ABOUT: &str = "Produce to Apache Kafka from the shell, measure producer throughput, manage topics.";

const AFTER_HELP: &str = "\
Without -b, every subcommand runs against an embedded mock cluster (one broker, in this \
process, data kept in memory and discarded at exit); `produce` and `perf` create their topic \
there with 3 partitions.

Exit status: 0 success; 1 a record failed or was not delivered, or the cluster refused the \
operation; 2 bad arguments; 130 interrupted twice (`produce`).";

pub(crate) fn command() -> Command {
    Command::new("kafka-sync")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .after_help(AFTER_HELP)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(
            Arg::new("bootstrap")
                .short('b')
                .long("bootstrap-server")
                .visible_alias("brokers")
                .value_name("HOST:PORT[,...]")
                .global(true)
                .help("Brokers to bootstrap from (default: an embedded mock cluster)"),
        )
        .arg(
            Arg::new("verbose")
                .short('v')
                .long("verbose")
                .action(ArgAction::Count)
                .global(true)
                .help("Log debug messages to stderr (-vv: trace)"),
        )
        .subcommand(produce_command())
        .subcommand(perf_command())
        .subcommand(topic_command())
}

fn topic_arg() -> Arg {
    Arg::new("topic")
        .short('t')
        .long("topic")
        .value_name("TOPIC")
        .required(true)
        .value_parser(NonEmptyStringValueParser::new())
        .help("Topic to produce to")
}

fn property_arg() -> Arg {
    Arg::new("property")
        .short('X')
        .value_name("KEY=VALUE")
        .action(ArgAction::Append)
        .value_parser(parse_property)
        .help("Set a producer property by its Kafka name (e.g. linger.ms=5, acks=1); repeatable")
}

fn config_file_arg() -> Arg {
    Arg::new("config_file")
        .short('F')
        .long("producer.config")
        .visible_alias("command-config")
        .value_name("FILE")
        .value_parser(value_parser!(PathBuf))
        .help("Read producer properties (KEY=VALUE lines) from a file; -X settings override it")
}

fn produce_command() -> Command {
    Command::new("produce")
        .about("Send one record per input line; wait for every delivery")
        .long_about(
            "Send one record per line of the FILEs (or of stdin: no FILE, or `-`), without the \
             trailing newline, and wait for every delivery. Prints a summary on stderr (and progress, \
             when stderr is a terminal). Exits with 1 if any record failed, naming how many and why. \
             With `-X transactional.id=ID` the input is written in transactions (one, or one per \
             --transaction-records N): if a record of a transaction fails, that transaction is aborted, \
             nothing more is read, and the exit status is 1.

Ctrl-C (SIGINT; also SIGTERM, SIGHUP) stops the reading of the input (a send waiting for buffer \
space or metadata returns first, within max.block.ms). The records already sent then get up to 30 s \
from the signal (or delivery.timeout.ms, if shorter) to be delivered; an open transaction is \
aborted. The summary says after how many input lines the command stopped and how \
many records were delivered, failed, and never sent (refused by the producer, or read but not \
sent); input not read is not counted. The exit status is 1 if any record read was not delivered, \
0 if all were. A second Ctrl-C exits at once, with status 130, without a summary.

With --spool DIR, records not delivered stay in DIR, and the next `produce --spool DIR` sends \
them first. Spooled records do not fail at delivery.timeout.ms: at the end of the input the command \
waits that long for them, then leaves the rest in DIR (exit status 1). Each record's spool entry \
carries its input line number, so an interrupted (or crashed) load resumes: run the same command \
with the same input again, and it skips the input lines the spool already took. Once a load has \
read all of its input and every record has its outcome, the next run starts from line 1.",
        )
        .arg(topic_arg())
        .arg(
            Arg::new("key_separator")
                .short('K')
                .long("key-separator")
                .value_name("SEP")
                .value_parser(parse_separator)
                .help(
                    "Split each line at the first SEP into key and value (\\t, \\n, \\r, \\\\ escapes); \
                     a line without SEP has a null key",
                ),
        )
        .arg(
            Arg::new("header")
                .short('H')
                .long("header")
                .value_name("NAME=VALUE")
                .action(ArgAction::Append)
                .value_parser(parse_header)
                .help("Add a header to every record; repeatable"),
        )
        .arg(
            Arg::new("partition")
                .short('p')
                .long("partition")
                .value_name("N")
                .value_parser(value_parser!(i32).range(0..))
                .help("Send every record to partition N (default: the partitioner chooses)"),
        )
        .arg(
            Arg::new("transaction_records")
                .long("transaction-records")
                .value_name("N")
                .value_parser(value_parser!(u64).range(1..))
                .help(
                    "With -X transactional.id=ID: commit a transaction every N records (default: the whole \
                     input is one transaction, so a load is all or nothing)",
                ),
        )
        .arg(
            Arg::new("spool")
                .long("spool")
                .value_name("DIR")
                .value_parser(value_parser!(PathBuf))
                .help(
                    "Keep every record accepted in a durable spool in DIR (spool.dir) until it is delivered: \
                     records not delivered when the command ends (brokers down, Ctrl-C) stay there, and the next \
                     `produce --spool DIR` resends them first, without duplicates. An interrupted or crashed load \
                     resumes: run it again with the same input, and the input lines the spool already took are \
                     skipped (each record's spool entry carries its line number); once a load is complete and \
                     delivered, the next run starts from line 1. \
                     Needs idempotence; not with transactional.id; one command per DIR at a time. Durability: \
                     -X spool.fsync=record|batch|none (default batch); size: -X spool.max.bytes",
                ),
        )
        .arg(compression_arg())
        .arg(property_arg())
        .arg(config_file_arg())
        .arg(
            Arg::new("files")
                .value_name("FILE")
                .action(ArgAction::Append)
                .value_parser(value_parser!(PathBuf))
                .help("Input files, read in order; `-` is stdin (default: stdin)"),
        )
}

fn compression_arg() -> Arg {
    Arg::new("compression")
        .short('z')
        .long("compression")
        .value_name("CODEC")
        .value_parser(PossibleValuesParser::new(["none", "gzip", "snappy", "lz4", "zstd"]))
        .help("Compression codec (compression.type)")
}

fn perf_command() -> Command {
    Command::new("perf")
        .about("Measure producer throughput and latency, like kafka-producer-perf-test")
        .long_about(
            "Send --num-records records of --record-size random bytes (uppercase letters) as fast as \
             possible or at --throughput records/s, and print on stdout what kafka-producer-perf-test \
             prints: a line per reporting interval and a final line with the average, maximum and \
             percentile latencies (time from send to acknowledgement, per record).",
        )
        .arg(topic_arg())
        .arg(
            Arg::new("num_records")
                .long("num-records")
                .value_name("N")
                .required(true)
                .value_parser(value_parser!(u64).range(1..))
                .help("Number of records to send"),
        )
        .arg(
            Arg::new("record_size")
                .long("record-size")
                .value_name("BYTES")
                .required(true)
                .value_parser(value_parser!(u32).range(1..))
                .help("Size of each record's value, in bytes"),
        )
        .arg(
            Arg::new("throughput")
                .long("throughput")
                .value_name("RECORDS/S")
                .default_value("-1")
                .allow_negative_numbers(true)
                .value_parser(parse_throughput)
                .help("Send at most this many records per second; -1: no limit"),
        )
        .arg(
            Arg::new("reporting_interval")
                .long("reporting-interval")
                .value_name("MS")
                .default_value("5000")
                .value_parser(value_parser!(u64).range(1..))
                .help("Milliseconds between progress lines"),
        )
        .arg(
            Arg::new("print_metrics")
                .long("print-metrics")
                .action(ArgAction::SetTrue)
                .help("Print the producer's metrics at the end"),
        )
        .arg(compression_arg())
        .arg(property_arg())
        .arg(
            Arg::new("producer_props")
                .long("producer-props")
                .value_name("KEY=VALUE")
                .num_args(1..)
                .action(ArgAction::Append)
                .value_parser(parse_property)
                .help("Producer properties, as kafka-producer-perf-test takes them (same as -X)"),
        )
        .arg(config_file_arg())
}

fn topic_command() -> Command {
    let name =
        || Arg::new("name").value_name("NAME").required(true).value_parser(NonEmptyStringValueParser::new());
    Command::new("topic")
        .about("Create, list or delete topics")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("create")
                .about("Create a topic")
                .arg(name().help("Topic name"))
                .arg(property_arg())
                .arg(config_file_arg())
                .arg(
                    Arg::new("partitions")
                        .long("partitions")
                        .value_name("P")
                        .value_parser(value_parser!(i32).range(1..))
                        .help("Number of partitions (default: the broker's num.partitions)"),
                )
                .arg(
                    Arg::new("replication")
                        .long("replication")
                        .visible_alias("replication-factor")
                        .value_name("R")
                        .value_parser(value_parser!(i16).range(1..))
                        .help("Replication factor (default: the broker's default.replication.factor)"),
                ),
        )
        .subcommand(
            Command::new("list")
                .about("List topics, one name per line")
                .arg(
                    Arg::new("long")
                        .short('l')
                        .long("long")
                        .action(ArgAction::SetTrue)
                        .help("Also print partition counts and mark internal topics"),
                )
                .arg(property_arg())
                .arg(config_file_arg()),
        )
        .subcommand(
            Command::new("delete")
                .about("Delete a topic")
                .arg(name().help("Topic name"))
                .arg(property_arg())
                .arg(config_file_arg()),
        )
}

/// `KEY=VALUE`, with the key checked against the producer's properties.
fn parse_property(s: &str) -> Result<(String, String), String> {
    let (key, value) = s.split_once('=').ok_or("expected KEY=VALUE")?;
    let key = key.trim();
    if key.is_empty() {
        return Err("expected KEY=VALUE, with a non-empty KEY".into());
    }
    ProducerConfig::builder().try_set(key, value).map_err(|e| e.to_string())?;
    Ok((key.to_owned(), value.to_owned()))
}

fn parse_header(s: &str) -> Result<Header, String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => {
            Ok(Header { key: name.to_owned(), value: Some(value.as_bytes().to_vec()) })
        }
        _ => Err("expected NAME=VALUE, with a non-empty NAME".into()),
    }
}

fn parse_separator(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut b = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            continue;
        }
        out.push(match chars.next() {
            Some('t') => b'\t',
            Some('n') => b'\n',
            Some('r') => b'\r',
            Some('\\') => b'\\',
            Some(other) => return Err(format!("unknown escape \\{other} (known: \\t \\n \\r \\\\)")),
            None => return Err("a trailing \\ escapes nothing".into()),
        });
    }
    if out.is_empty() {
        return Err("the separator must not be empty".into());
    }
    Ok(out)
}

/// Records per second; `None` for no limit (any negative value, like the Java tool).
fn parse_throughput(s: &str) -> Result<Option<f64>, String> {
    let r: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if r.is_nan() || r == 0.0 {
        return Err("expected a positive rate, or -1 for no limit".into());
    }
    Ok((r > 0.0).then_some(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn separators_unescape() {
        assert_eq!(parse_separator("\\t").unwrap(), b"\t");
        assert_eq!(parse_separator("::").unwrap(), b"::");
        assert_eq!(parse_separator("a\\\\b").unwrap(), b"a\\b");
        assert!(parse_separator("\\q").is_err());
        assert!(parse_separator("\\").is_err());
    }

    #[test]
    fn properties_are_checked_by_key() {
        assert_eq!(parse_property("linger.ms=5").unwrap(), ("linger.ms".into(), "5".into()));
        assert!(parse_property("no.such.key=1").unwrap_err().contains("no.such.key"));
        assert!(parse_property("linger.ms").is_err());
    }

    #[test]
    fn throughput_minus_one_means_no_limit() {
        assert_eq!(parse_throughput("-1").unwrap(), None);
        assert_eq!(parse_throughput("250.5").unwrap(), Some(250.5));
        assert!(parse_throughput("0").is_err());
        assert!(parse_throughput("fast").is_err());
    }
}
