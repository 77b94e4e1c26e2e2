//! The input of `produce`, read by a thread of its own, so that the command
//! can stop waiting for input (Ctrl-C) while a read blocks on a pipe or a
//! terminal that has nothing to say.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{bounded, Receiver, Sender};

/// Most lines handed over at once.
const CHUNK_LINES: usize = 1024;

/// Chunks read ahead of the sending loop.
const CHUNKS_AHEAD: usize = 2;

/// Read buffer of each input.
const READ_BUFFER: usize = 64 << 10;

/// An input of `produce`, opened.
pub(crate) enum Input {
    Stdin,
    File(PathBuf, File),
}

/// What the reading thread hands over.
pub(crate) enum Chunk {
    /// Lines, without their trailing newline, in input order.
    Lines(Vec<Vec<u8>>),
    /// Reading failed: nothing more follows.
    Failed(String),
}

/// The reading thread: [`Reader::start`] returns the channel of its
/// chunks, which ends (disconnects) at the end of the last input, after a
/// [`Chunk::Failed`], or when the receiver is dropped, and its count of
/// lines read.
pub(crate) struct Reader;

/// Lines the reading thread has read so far, whether handed over or not.
pub(crate) struct LinesRead(Arc<AtomicU64>);

impl LinesRead {
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Reader {
    /// Starts reading `inputs` in order.
    pub(crate) fn start(inputs: Vec<Input>) -> io::Result<(Receiver<Chunk>, LinesRead)> {
        let (tx, chunks) = bounded(CHUNKS_AHEAD);
        let read = Arc::new(AtomicU64::new(0));
        let counter = read.clone();
        // Not joined: after an interruption it may be blocked in a read that
        // never returns; the process ends without it.
        thread::Builder::new()
            .name("kafka-sync-input".into())
            .spawn(move || read_all(inputs, &tx, &counter))?;
        Ok((chunks, LinesRead(read)))
    }
}

fn read_all(inputs: Vec<Input>, tx: &Sender<Chunk>, read: &AtomicU64) {
    for input in inputs {
        let (name, source): (String, Box<dyn Read + Send>) = match input {
            Input::Stdin => ("stdin".into(), Box::new(io::stdin())),
            Input::File(path, file) => (path.display().to_string(), Box::new(file)),
        };
        let mut reader = BufReader::with_capacity(READ_BUFFER, source);
        let mut chunk = Vec::new();
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    let _ = send(tx, &mut chunk);
                    let _ = tx.send(Chunk::Failed(format!("cannot read {name}: {e}")));
                    return;
                }
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            chunk.push(line);
            read.fetch_add(1, Ordering::SeqCst);
            // Hand over what there is before a read that may block (nothing
            // buffered), so that lines typed or piped slowly go at once.
            if (chunk.len() >= CHUNK_LINES || reader.buffer().is_empty()) && !send(tx, &mut chunk) {
                return;
            }
        }
        if !send(tx, &mut chunk) {
            return;
        }
    }
}

/// Sends `chunk` (if not empty) and empties it; false if nobody listens.
fn send(tx: &Sender<Chunk>, chunk: &mut Vec<Vec<u8>>) -> bool {
    chunk.is_empty() || tx.send(Chunk::Lines(std::mem::take(chunk))).is_ok()
}
