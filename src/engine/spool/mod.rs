//! The durable spool (issue 15): every record `send` accepts is appended to
//! an on-disk log before `send` returns, and its space is given back once
//! its outcome is final. After a crash, [`recover()`] says what has no final
//! outcome, and which batches already had a producer id, epoch and base
//! sequence, so they are resent as they were and the broker answers
//! `DUPLICATE_SEQUENCE_NUMBER` rather than writing them twice.
//!
//! - [`entry`]: what the log holds ([`Entry`]) and its framing;
//! - [`segment`]: segment files (writer, scanner, truncation, listing);
//!   with the `spool-mmap` feature on Linux, the writer copies entries into
//!   a memory mapping of the file (`mapped`) instead of calling `write(2)`
//!   for each;
//! - [`lock`]: one producer per spool directory;
//! - [`recover()`] and [`SpoolLog`]: recovery and the live log, with
//!   segment rolling and deletion.
//!
//! # The spool directory
//!
//! ```text
//! <dir>/spool.lock                      the lock, with the holder's pid
//! <dir>/00000000000000000000.spool      segments, named by first id
//! <dir>/00000000000000004711.spool
//! ```
//!
//! # File format (version 1)
//!
//! ```text
//! segment  = header entry*
//! header   = "KSSPOOL\0" | version: u16 = 1 | first_id: u64 | crc32c(previous 18 bytes): u32
//! entry    = len: u32 | crc32c(payload): u32 | payload          (1 <= len <= 64 MiB)
//! payload  = kind: u8 | fields                                  (see [`entry`])
//! ```
//!
//! All integers are big-endian. A scan stops at the first entry that is
//! truncated, too long, fails its checksum or does not decode; everything
//! before it is kept. At the end of the last segment that is a torn write
//! (cut off at recovery); anywhere else it is corruption (reported).

pub(crate) mod entry;
pub(crate) mod feeder;
pub(crate) mod fuzz;
mod idset;
mod live;
pub(crate) mod lock;
mod log;
#[cfg(all(feature = "spool-mmap", any(target_os = "linux", target_os = "android")))]
mod mapped;
mod recover;
pub(crate) mod replay;
pub(crate) mod segment;

pub(crate) use live::{Recorded, Refusal, SpillRun, Spool};

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};

pub(crate) use entry::Entry;
pub(crate) use lock::SpoolLock;
pub(crate) use log::{SpoolLog, DEFAULT_SEGMENT_BYTES};
#[cfg(test)]
use recover::Pending;
pub(crate) use recover::{recover, PendingRecord, ProducerSnapshot, Recovered, SequencedBatch};

/// Why the spool could not do something.
#[derive(Debug)]
pub(crate) enum SpoolError {
    /// An I/O error on `path` (a segment, the lock file or the directory).
    Io { path: PathBuf, source: std::io::Error },
    /// Another producer (in this process or another) holds the directory's
    /// lock; `holder` is what it wrote into the lock file (its pid), if read.
    Locked { dir: PathBuf, holder: Option<String> },
    /// Bytes that cannot be what they claim: from [`Entry::decode`] (empty
    /// path, offset in the bytes given), or a segment of a format version
    /// this build does not read.
    Corrupt { path: PathBuf, offset: u64, reason: String },
    /// An entry larger than the format allows (`max` bytes of payload).
    TooLarge { size: u64, max: u64 },
}

impl SpoolError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }
}

impl fmt::Display for SpoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "spool I/O error on {}: {source}", path.display()),
            Self::Locked { dir, holder } => {
                write!(f, "spool directory {} is in use by another producer", dir.display())?;
                match holder {
                    Some(h) => write!(f, " ({h})"),
                    None => Ok(()),
                }
            }
            Self::Corrupt { path, offset, reason } if path.as_os_str().is_empty() => {
                write!(f, "corrupt spool entry at byte {offset}: {reason}")
            }
            Self::Corrupt { path, offset, reason } => {
                write!(f, "spool segment {} is unreadable at byte {offset}: {reason}", path.display())
            }
            Self::TooLarge { size, max } => {
                write!(f, "spool entry of {size} bytes exceeds the maximum of {max} bytes")
            }
        }
    }
}

impl std::error::Error for SpoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
