//! The spool directory's lock: one producer per directory.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::SpoolError;

/// The lock file's name in the spool directory.
pub(crate) const LOCK_FILE: &str = "spool.lock";

/// An exclusive lock on `<dir>/spool.lock`, held until dropped.
///
/// It is an OS file lock ([`File::try_lock`]: `flock` on Unix,
/// `LockFileEx` on Windows), so it goes away with the process that held it,
/// however that process ended: a crash leaves nothing to clean up. The lock
/// belongs to the open file, so a second producer in the same process is
/// refused just like another process. The holder writes its process id
/// into the file, for the error message of whoever is refused.
#[derive(Debug)]
pub(crate) struct SpoolLock {
    // Held for its lock; closing the file releases it.
    _file: File,
}

impl SpoolLock {
    /// Takes the lock of the spool directory `dir` (which must exist), or
    /// fails with [`SpoolError::Locked`] at once if someone holds it.
    pub fn acquire(dir: &Path) -> Result<Self, SpoolError> {
        let path = dir.join(LOCK_FILE);
        // Not truncated on open: the holder's pid stays readable until we
        // hold the lock.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| SpoolError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let holder = match file.read_to_string(&mut holder) {
                    Ok(_) if !holder.trim().is_empty() => Some(holder.trim().to_owned()),
                    _ => None,
                };
                return Err(SpoolError::Locked { dir: dir.to_path_buf(), holder });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(SpoolError::io(&path, e)),
        }
        // Best effort: the pid is only for messages.
        let pid = format!("pid {}\n", std::process::id());
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(pid.as_bytes()));
        Ok(Self { _file: file })
    }
}
