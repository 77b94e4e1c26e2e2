//! The durable spool's settings: `spool.dir`, `spool.max.bytes`,
//! `spool.fsync` (see `engine::spool` for what they buy).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::spool::replay::{OnReplayed, Replayed};

use super::properties::{invalid, out_of_range, parse_u64, Set};
use super::{CallbackSetting, ConfigError, ProducerConfig, ProducerConfigBuilder};

/// The property names handled here.
const KEYS: &[&str] = &["spool.dir", "spool.max.bytes", "spool.fsync"];

/// Default `spool.max.bytes`: 1 GiB.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1 << 30;

/// `key` as one of the settings here, if it is one.
pub(super) fn spool_key(key: &str) -> Option<&'static str> {
    KEYS.iter().find(|k| **k == key).copied()
}

/// When the spool forces what it wrote to disk (`spool.fsync`).
///
/// Whatever the mode, every record is written to the spool file (handed to
/// the operating system) before `send` returns, so a **process** crash
/// loses nothing `send` accepted. The modes differ on a **machine** crash
/// (power loss, kernel panic):
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpoolFsync {
    /// `record`: `send` returns after the record is on disk (`fdatasync`):
    /// a machine crash loses nothing `send` accepted. The slowest.
    Record,
    /// `batch` (the default): the spool is forced to disk before each
    /// Produce request goes out (once per request, not per record), so
    /// every record a broker may have is on disk first. A machine crash
    /// loses records accepted since the last request (they were never
    /// sent, so none is duplicated or half-known).
    #[default]
    Batch,
    /// `none`: left to the operating system (usually within 30 s): a
    /// machine crash may lose records, including ones already delivered
    /// (which are then simply not replayed) and ones not yet sent.
    None,
}

impl SpoolFsync {
    /// The mode named `name` (`record`, `batch`, `none`; any case).
    pub fn from_name(name: &str) -> Option<Self> {
        [("record", Self::Record), ("batch", Self::Batch), ("none", Self::None)]
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, m)| m)
    }
}

impl fmt::Display for SpoolFsync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Record => "record",
            Self::Batch => "batch",
            Self::None => "none",
        })
    }
}

/// The builder's spool settings, as set.
#[derive(Debug, Clone, Default)]
pub(super) struct SpoolSettings {
    dir: Option<Set<PathBuf>>,
    max_bytes: Option<Set<u64>>,
    fsync: Option<Set<SpoolFsync>>,
    on_replayed: CallbackSetting<OnReplayed>,
}

/// The spool settings in effect (`dir` is `None` when the spool is off).
#[derive(Debug, Clone)]
pub(super) struct SpoolConfig {
    dir: Option<PathBuf>,
    max_bytes: u64,
    fsync: SpoolFsync,
    on_replayed: CallbackSetting<OnReplayed>,
}

impl SpoolSettings {
    pub(super) fn apply(&mut self, key: &'static str, value: &str) -> Result<(), ConfigError> {
        match key {
            "spool.dir" => {
                if value.is_empty() {
                    return Err(invalid(key, value, "a directory path"));
                }
                self.dir = Some(Set { value: PathBuf::from(value), key });
            }
            "spool.max.bytes" => self.max_bytes = Some(Set { value: parse_u64(key, value)?, key }),
            _ => {
                let mode = SpoolFsync::from_name(value)
                    .ok_or_else(|| invalid(key, value, "record, batch or none"))?;
                self.fsync = Some(Set { value: mode, key });
            }
        }
        Ok(())
    }

    /// `idempotent`: whether the producer is idempotent (the spool's
    /// restart without duplicates needs it); `transactional`: whether it
    /// has a `transactional.id` (not supported with a spool).
    pub(super) fn build(&self, idempotent: bool, transactional: bool) -> Result<SpoolConfig, ConfigError> {
        if let Some(s) = &self.max_bytes {
            // Room for at least one segment header and a record.
            if s.value < 1 << 20 {
                return Err(out_of_range(s.key, s.value, "at least 1048576 bytes"));
            }
        }
        if let Some(dir) = &self.dir {
            if !idempotent {
                return Err(ConfigError::Conflict {
                    key: dir.key.to_owned(),
                    value: dir.value.display().to_string(),
                    other: "enable.idempotence = false (or acks other than all)".into(),
                    reason: "the spool resends what a crash left unacknowledged under the same producer id \
                             and sequence numbers, so that the broker drops what it already has: that needs \
                             the idempotent producer",
                });
            }
            if transactional {
                return Err(ConfigError::Unsupported {
                    key: dir.key.to_owned(),
                    reason: "a spool with transactional.id: a transaction cannot outlive its producer",
                });
            }
        }
        Ok(SpoolConfig {
            dir: self.dir.as_ref().map(|s| s.value.clone()),
            max_bytes: self.max_bytes.as_ref().map_or(DEFAULT_SPOOL_MAX_BYTES, |s| s.value),
            fsync: self.fsync.as_ref().map_or(SpoolFsync::default(), |s| s.value),
            on_replayed: self.on_replayed.clone(),
        })
    }
}

impl ProducerConfigBuilder {
    /// `spool.dir`: a directory where every record `send` accepts is written
    /// before `send` returns, and kept until its outcome is final. A
    /// producer started on a directory that holds records (left by a crash,
    /// or by a `close` that timed out) sends them first, resending those a
    /// broker may already have under the same producer id and sequence
    /// numbers, so they are not written twice. With a spool, `send` does not
    /// wait for `buffer.memory`: a record that finds it full is written to
    /// the spool only and fed into a batch later (see
    /// [`Producer::spool_backlog`](crate::Producer::spool_backlog)). One
    /// producer per directory (a lock file). Needs idempotence. With the
    /// `spool-mmap` feature the spool's files are memory-mapped: no other
    /// program may truncate them while the producer runs (it would die of
    /// `SIGBUS`). Defaults to none (no spool).
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spool.dir = Some(Set { value: dir.into(), key: "spool.dir" });
        self
    }

    /// `spool.max.bytes`: the most disk space the spool takes; `send` waits
    /// (up to `max.block.ms`) for space, then refuses the record. At least
    /// 1 MiB. In bytes. Defaults to 1073741824 (1 GiB).
    pub fn spool_max_bytes(mut self, bytes: u64) -> Self {
        self.spool.max_bytes = Some(Set { value: bytes, key: "spool.max.bytes" });
        self
    }

    /// `spool.fsync`: when the spool is forced to disk; see [`SpoolFsync`].
    /// Defaults to [`SpoolFsync::Batch`].
    pub fn spool_fsync(mut self, mode: SpoolFsync) -> Self {
        self.spool.fsync = Some(Set { value: mode, key: "spool.fsync" });
        self
    }

    /// With `spool.dir`: runs `callback` with the outcome of each record a
    /// previous run left in the spool, once it is known. Those records are
    /// sent first, read back from the spool as `buffer.memory` allows (a
    /// large spool is never loaded into memory at once), so no handle is
    /// returned for them: this is how to learn that one failed. Runs on a
    /// producer thread (the feeder's, or a broker thread's), like a send
    /// callback: keep it short. A record still in the spool when the
    /// producer closes (not yet read back) gets no call: the next run sends
    /// it ([`Producer::spool_backlog`](crate::Producer::spool_backlog) says
    /// how many are left). Defaults to none (failures are only logged).
    pub fn on_replayed<F>(mut self, callback: F) -> Self
    where
        F: Fn(Replayed) + Send + Sync + 'static,
    {
        self.spool.on_replayed = CallbackSetting(Some(Arc::new(callback)));
        self
    }
}

impl ProducerConfig {
    /// `spool.dir`, if the producer spools.
    pub fn spool_dir(&self) -> Option<&std::path::Path> {
        self.spool.dir.as_deref()
    }

    /// `spool.max.bytes`.
    pub fn spool_max_bytes(&self) -> u64 {
        self.spool.max_bytes
    }

    /// `spool.fsync`.
    pub fn spool_fsync(&self) -> SpoolFsync {
        self.spool.fsync
    }

    /// The callback for replayed records' outcomes.
    pub(crate) fn on_replayed(&self) -> Option<&OnReplayed> {
        self.spool.on_replayed.0.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(props: &[(&str, &str)]) -> Result<ProducerConfig, ConfigError> {
        ProducerConfig::builder().bootstrap_servers("localhost:9092").set_all(props.iter().copied()).build()
    }

    #[test]
    fn off_by_default_and_by_name() {
        let c = build(&[]).unwrap();
        assert_eq!((c.spool_dir(), c.spool_max_bytes(), c.spool_fsync()), (None, 1 << 30, SpoolFsync::Batch));
        let c = build(&[("spool.dir", "/tmp/s"), ("spool.max.bytes", "2097152"), ("spool.fsync", "RECORD")])
            .unwrap();
        assert_eq!(c.spool_dir(), Some(std::path::Path::new("/tmp/s")));
        assert_eq!((c.spool_max_bytes(), c.spool_fsync()), (2 << 20, SpoolFsync::Record));
    }

    #[test]
    fn bad_settings_name_the_key() {
        let key = |props: &[(&str, &str)]| build(props).unwrap_err().key().to_owned();
        assert_eq!(key(&[("spool.fsync", "sometimes")]), "spool.fsync");
        assert_eq!(key(&[("spool.dir", "")]), "spool.dir");
        assert_eq!(key(&[("spool.max.bytes", "1000")]), "spool.max.bytes");
        assert_eq!(key(&[("spool.dir", "/tmp/s"), ("enable.idempotence", "false")]), "spool.dir");
        assert_eq!(key(&[("spool.dir", "/tmp/s"), ("transactional.id", "t")]), "spool.dir");
    }
}
