//! Ctrl-C: the first SIGINT (or SIGTERM, SIGHUP) asks the command to stop
//! and finish; a second one exits at once.
//!
//! Catching a signal takes `unsafe` code, which this crate forbids itself:
//! the `ctrlc` crate does it, and calls the handler here on a thread of its
//! own (not in the signal handler), where printing and exiting are fine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver};

/// The exit status of a second interruption, which exits without waiting:
/// the shell's 128 + SIGINT.
pub(crate) const EXIT_INTERRUPTED_AGAIN: u8 = 130;

/// Whether the command was interrupted, and a channel that becomes ready
/// when it is (for `select!`).
pub(crate) struct Interrupt {
    flag: Arc<AtomicBool>,
    /// When the first signal came.
    at: Arc<OnceLock<Instant>>,
    ready: Receiver<()>,
}

impl Interrupt {
    /// Installs the handler. At the first signal it prints `first` and sets
    /// the flag; at the next one it prints `again` and exits with
    /// [`EXIT_INTERRUPTED_AGAIN`]. If the handler cannot be installed, the
    /// signals keep their default action (a warning says so).
    pub(crate) fn install(first: String, again: String) -> Self {
        let flag = Arc::new(AtomicBool::new(false));
        let at = Arc::new(OnceLock::new());
        let (tx, ready) = bounded(1);
        let (f, a) = (flag.clone(), at.clone());
        let installed = ctrlc::set_handler(move || {
            a.get_or_init(Instant::now);
            if f.swap(true, Ordering::SeqCst) {
                eprintln!("{again}");
                std::process::exit(i32::from(EXIT_INTERRUPTED_AGAIN));
            }
            eprintln!("{first}");
            let _ = tx.try_send(());
        });
        if let Err(e) = installed {
            log::warn!("cannot catch Ctrl-C ({e}): an interruption ends the command at once");
        }
        Self { flag, at, ready }
    }

    /// Whether a signal came.
    pub(crate) fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// When the first signal came, if one did.
    pub(crate) fn since(&self) -> Option<Instant> {
        self.at.get().copied()
    }

    /// Ready (with one message, taken once) when a signal came.
    pub(crate) fn ready(&self) -> &Receiver<()> {
        &self.ready
    }
}
