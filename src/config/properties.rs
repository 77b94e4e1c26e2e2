//! Property names (canonical, librdkafka aliases, known but unsupported) and
//! the parsers and range checks for their values.

use std::fmt;
use std::time::Duration;

use super::ConfigError;

/// A value set by the user, and the property name it was set under (the
/// canonical name for typed setters).
#[derive(Debug, Clone)]
pub(super) struct Set<T> {
    pub(super) value: T,
    pub(super) key: &'static str,
}

/// Largest Java `int`, the bound of the Java client's `int` properties.
pub(super) const INT_MAX: u64 = i32::MAX as u64;

/// The canonical setting a property name maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
    BootstrapServers,
    ClientId,
    Acks,
    EnableIdempotence,
    Linger,
    BatchSize,
    BufferMemory,
    /// `queue.buffering.max.kbytes`: buffer.memory in KiB.
    BufferMemoryKib,
    MaxBlock,
    MaxInFlight,
    Retries,
    RetryBackoff,
    RetryBackoffMax,
    DeliveryTimeout,
    RequestTimeout,
    Compression,
    CompressionLevel,
    GzipLevel,
    Lz4Level,
    ZstdLevel,
    MaxRequestSize,
    Partitioner,
    MetadataMaxAge,
    MetadataMaxIdle,
    MetadataRecoveryStrategy,
    RebootstrapTrigger,
    ClientDnsLookup,
    AllowAutoCreateTopics,
    EnableMetricsPush,
    ConnectionsMaxIdle,
    ReconnectBackoff,
    ReconnectBackoffMax,
    SetupTimeout,
    SetupTimeoutMax,
    TransactionalId,
    TransactionTimeout,
    Ignored,
}

/// Every accepted property name, canonical names first, then aliases.
pub(super) const PROPERTIES: &[(&str, Key)] = &[
    ("bootstrap.servers", Key::BootstrapServers),
    ("client.id", Key::ClientId),
    ("acks", Key::Acks),
    ("enable.idempotence", Key::EnableIdempotence),
    ("linger.ms", Key::Linger),
    ("batch.size", Key::BatchSize),
    ("buffer.memory", Key::BufferMemory),
    ("max.block.ms", Key::MaxBlock),
    ("max.in.flight.requests.per.connection", Key::MaxInFlight),
    ("retries", Key::Retries),
    ("retry.backoff.ms", Key::RetryBackoff),
    ("retry.backoff.max.ms", Key::RetryBackoffMax),
    ("delivery.timeout.ms", Key::DeliveryTimeout),
    ("request.timeout.ms", Key::RequestTimeout),
    ("compression.type", Key::Compression),
    ("compression.level", Key::CompressionLevel),
    ("compression.gzip.level", Key::GzipLevel),
    ("compression.lz4.level", Key::Lz4Level),
    ("compression.zstd.level", Key::ZstdLevel),
    ("max.request.size", Key::MaxRequestSize),
    ("partitioner", Key::Partitioner),
    ("metadata.max.age.ms", Key::MetadataMaxAge),
    ("metadata.max.idle.ms", Key::MetadataMaxIdle),
    ("metadata.recovery.strategy", Key::MetadataRecoveryStrategy),
    ("metadata.recovery.rebootstrap.trigger.ms", Key::RebootstrapTrigger),
    ("client.dns.lookup", Key::ClientDnsLookup),
    ("allow.auto.create.topics", Key::AllowAutoCreateTopics),
    ("enable.metrics.push", Key::EnableMetricsPush),
    ("connections.max.idle.ms", Key::ConnectionsMaxIdle),
    ("reconnect.backoff.ms", Key::ReconnectBackoff),
    ("reconnect.backoff.max.ms", Key::ReconnectBackoffMax),
    ("socket.connection.setup.timeout.ms", Key::SetupTimeout),
    ("socket.connection.setup.timeout.max.ms", Key::SetupTimeoutMax),
    ("transactional.id", Key::TransactionalId),
    ("transaction.timeout.ms", Key::TransactionTimeout),
    ("key.serializer", Key::Ignored),
    ("value.serializer", Key::Ignored),
    // librdkafka names for the same settings.
    ("metadata.broker.list", Key::BootstrapServers),
    ("request.required.acks", Key::Acks),
    ("queue.buffering.max.ms", Key::Linger),
    ("queue.buffering.max.kbytes", Key::BufferMemoryKib),
    ("max.in.flight", Key::MaxInFlight),
    ("message.send.max.retries", Key::Retries),
    ("message.timeout.ms", Key::DeliveryTimeout),
    ("compression.codec", Key::Compression),
    ("message.max.bytes", Key::MaxRequestSize),
];

/// Known Kafka properties that are not implemented, by exact name.
pub(super) const UNSUPPORTED: &[(&str, &str)] = &[
    ("interceptor.classes", "interceptors are Java classes; register a ProducerInterceptor with ProducerConfigBuilder::interceptor"),
    ("partitioner.class", "use the `partitioner` property or ProducerConfigBuilder::partitioner"),
    ("partitioner.ignore.keys", "use `partitioner=uniform_sticky` to ignore keys"),
    ("partitioner.adaptive.partitioning.enable", "adaptive partitioning is not implemented"),
    ("partitioner.availability.timeout.ms", "adaptive partitioning is not implemented"),
    ("security.providers", "Java security providers do not apply: TLS is rustls with ring"),
];

pub(super) fn lookup(key: &str) -> Option<(&'static str, Key)> {
    PROPERTIES.iter().find(|(name, _)| *name == key).copied()
}

pub(super) fn not_a_property(key: &str) -> ConfigError {
    let reason = UNSUPPORTED.iter().find(|(name, _)| *name == key).map(|(_, reason)| *reason);
    match reason {
        Some(reason) => ConfigError::Unsupported { key: key.to_owned(), reason },
        None => ConfigError::UnknownKey { key: key.to_owned() },
    }
}
pub(super) fn value_or<T: Clone>(s: &Option<Set<T>>, default: T) -> T {
    s.as_ref().map_or(default, |s| s.value.clone())
}

pub(super) fn key_or<T>(s: &Option<Set<T>>, default: &'static str) -> &'static str {
    s.as_ref().map_or(default, |s| s.key)
}

pub(super) fn ms(d: Duration) -> String {
    if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} ms", d.as_secs_f64() * 1000.0)
    }
}

pub(super) fn invalid(key: &str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::InvalidValue { key: key.to_owned(), value: value.to_owned(), expected }
}

pub(super) fn out_of_range(key: &str, value: impl fmt::Display, allowed: impl Into<String>) -> ConfigError {
    ConfigError::OutOfRange { key: key.to_owned(), value: value.to_string(), allowed: allowed.into() }
}

pub(super) fn check_size(s: &Option<Set<usize>>, min: usize) -> Result<(), ConfigError> {
    match s {
        Some(s) if s.value < min || s.value as u64 > INT_MAX => {
            Err(out_of_range(s.key, s.value, format!("{min} to {INT_MAX}")))
        }
        _ => Ok(()),
    }
}

pub(super) fn check_ms(s: &Option<Set<Duration>>, min: u64, max: u64) -> Result<(), ConfigError> {
    match s {
        Some(s) if s.value < Duration::from_millis(min) || s.value.as_millis() > u128::from(max) => {
            let allowed =
                if max == u64::MAX { format!("at least {min} ms") } else { format!("{min} to {max} ms") };
            Err(out_of_range(s.key, ms(s.value), allowed))
        }
        _ => Ok(()),
    }
}

/// A base and a maximum (backoff or timeout), Java-style: both set and
/// contradicting is an error; otherwise a base above the maximum is lowered to
/// it (Java's constant backoff). With `max_follows_base`, a base set without a
/// maximum also becomes the maximum (Java's reconnect backoff rule).
pub(super) fn backoff_pair(
    base: &Option<Set<Duration>>,
    max: &Option<Set<Duration>>,
    default_base: Duration,
    default_max: Duration,
    max_follows_base: bool,
) -> Result<(Duration, Duration), ConfigError> {
    match (base, max) {
        (Some(b), Some(m)) if m.value < b.value => Err(ConfigError::Conflict {
            key: m.key.to_owned(),
            value: ms(m.value),
            other: format!("{} = {}", b.key, ms(b.value)),
            reason: "the maximum must not be below the initial value",
        }),
        (Some(b), None) if max_follows_base => Ok((b.value, b.value)),
        _ => {
            let max = max.as_ref().map_or(default_max, |m| m.value);
            let base = base.as_ref().map_or(default_base, |b| b.value);
            Ok((base.min(max), max))
        }
    }
}

pub(super) fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(invalid(key, value, "true or false"))
    }
}

pub(super) fn parse_u64(key: &str, value: &str) -> Result<u64, ConfigError> {
    value.parse::<u64>().map_err(|_| match value.parse::<i128>() {
        Ok(n) if n < 0 => out_of_range(key, value, "must not be negative"),
        Ok(_) => out_of_range(key, value, format!("at most {}", u64::MAX)),
        Err(_) => invalid(key, value, "a non-negative integer"),
    })
}

pub(super) fn parse_i32(key: &str, value: &str) -> Result<i32, ConfigError> {
    value.parse::<i32>().map_err(|_| match value.parse::<i128>() {
        Ok(_) => out_of_range(key, value, "a 32-bit integer"),
        Err(_) => invalid(key, value, "an integer"),
    })
}

/// Bytes (or KiB with `unit` 1024) as `usize`.
pub(super) fn parse_size(key: &str, value: &str, unit: u64) -> Result<usize, ConfigError> {
    let n = parse_u64(key, value)?;
    n.checked_mul(unit)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| out_of_range(key, value, "too large for this platform"))
}

pub(super) fn parse_ms(key: &str, value: &str) -> Result<Duration, ConfigError> {
    parse_u64(key, value).map(Duration::from_millis)
}

/// Milliseconds, fractions allowed (librdkafka's `queue.buffering.max.ms` is a
/// float).
pub(super) fn parse_fractional_ms(key: &str, value: &str) -> Result<Duration, ConfigError> {
    if let Ok(n) = value.parse::<u64>() {
        return Ok(Duration::from_millis(n));
    }
    match value.parse::<f64>() {
        Ok(f) if f.is_finite() && f >= 0.0 => {
            Duration::try_from_secs_f64(f / 1000.0).map_err(|_| out_of_range(key, value, "too large"))
        }
        Ok(_) => Err(out_of_range(key, value, "must not be negative")),
        Err(_) => Err(invalid(key, value, "milliseconds (a non-negative number)")),
    }
}

/// Parses `bootstrap.servers`.
pub(super) fn parse_servers(key: &'static str, list: &str) -> Result<Vec<(String, u16)>, ConfigError> {
    const EXPECTED: &str = "host:port, [ipv6]:port or PLAINTEXT://host:port";
    let mut servers: Vec<(String, u16)> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = || invalid(key, entry, EXPECTED);
        let address = match entry.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("plaintext") => rest,
            Some(_) => return Err(bad()),
            None => entry,
        };
        let (host, port) = if let Some(rest) = address.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            let port = after.strip_prefix(':').ok_or_else(bad)?;
            let addr = host.split_once('%').map_or(host, |(a, _zone)| a);
            addr.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            (host, port)
        } else {
            let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
            let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
            if host.is_empty() || !host.chars().all(valid_char) {
                return Err(bad());
            }
            (host, port)
        };
        let port = match port.parse::<u16>() {
            Ok(0) | Err(_) => return Err(bad()),
            Ok(p) => p,
        };
        if !servers.iter().any(|(h, p)| h == host && *p == port) {
            servers.push((host.to_owned(), port));
        }
    }
    if servers.is_empty() {
        return Err(ConfigError::Missing { key: "bootstrap.servers" });
    }
    Ok(servers)
}
