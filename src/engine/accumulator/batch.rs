//! A record batch from its first append until it resolves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ProducerIdEpoch, QueueRef};
use crate::delivery::{BatchSlot, BatchTimes, Callback, RecordInfo, Resolution};
use crate::engine::metrics::TopicSensors;
use crate::protocol::record_batch::RecordBatchWriter;

/// What a batch holds: records still being appended or waiting to be
/// sealed, or the sealed wire bytes.
#[derive(Debug)]
pub(crate) enum Payload {
    Open(RecordBatchWriter),
    Sealed(Vec<u8>),
    /// Transiently empty while being sealed.
    Empty,
}

/// One record batch for one partition, from its first append until it resolves.
#[derive(Debug)]
pub(crate) struct Batch {
    pub slot: Arc<BatchSlot>,
    pub queue: QueueRef,
    /// Key in the accumulator's incomplete set (for flush).
    pub id: u64,
    pub records: u32,
    pub created: Instant,
    /// `created + delivery.timeout.ms`: the batch resolves by then.
    pub deadline: Instant,
    /// Bytes reserved in the memory pool for this batch.
    pub memory: usize,
    pub payload: Payload,
    /// Requests that carried it so far.
    pub attempts: u32,
    /// Order of creation within the partition; retries keep it. Halves of a
    /// split batch sit between it and the next batch.
    pub ordinal: u128,
    /// How many times the batch's records were split in half.
    pub split_depth: u8,
    /// Whether the handles were already resolved (delivery timeout passed
    /// while in flight); the batch then only awaits its bookkeeping.
    pub resolved: bool,
    /// Producer id/epoch and base sequence, once assigned (idempotence).
    pub producer: Option<ProducerIdEpoch>,
    pub base_sequence: i32,
    /// Whether an earlier attempt may have been written to the log (it was
    /// sent and no definite answer came back).
    pub maybe_persisted: bool,
    /// Not to be sent again before this instant (retry backoff).
    pub retry_at: Option<Instant>,
    /// Retry without backoff: the partition's new leader is known (KIP-951).
    pub retry_now: bool,
    /// When the batch was first taken for a request (microseconds since the
    /// epoch; 0 until then): the end of its records' queue time.
    pub drained_us: i64,
    /// Uncompressed size of the batch, for metrics.
    pub uncompressed: usize,
    /// The topic's metrics (copied from the partition queue: no lookup
    /// when the batch is counted).
    pub topic_metrics: Arc<TopicSensors>,
    /// The spool ids of the batch's records, in record order (empty without
    /// a spool): written as done when the batch's outcome is final.
    pub spool_ids: Vec<u64>,
    /// Callbacks registered at send time (`send_with_callback`), kept here
    /// under the stripe lock the send holds anyway: no handle, no reference
    /// count and no slot lock per record. They run, in record order, before
    /// the slot's own callbacks and before waiters are released.
    pub callbacks: Callbacks,
}

/// The callbacks a batch holds, with their records' facts.
#[derive(Default)]
pub(crate) struct Callbacks(pub Vec<(RecordInfo, Callback)>);

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} callback(s)", self.0.len())
    }
}

impl Batch {
    /// The batch's topic.
    pub fn slot_topic(&self) -> &str {
        self.slot.topic()
    }

    /// The batch's size on the wire as far as it is known: sealed bytes, or
    /// the uncompressed size (an upper bound for compressible data).
    pub fn estimated_size(&self) -> usize {
        match &self.payload {
            Payload::Open(w) => w.size_in_bytes(),
            Payload::Sealed(v) => v.len(),
            Payload::Empty => 0,
        }
    }

    /// Resolves the batch's slot: its callbacks (kept here) first, then the
    /// slot's own, then the waiters.
    pub fn resolve_slot(&mut self, r: Resolution) {
        // A failure carries the batch's clock readings for its records'
        // timings (one clock read per failed batch).
        let r = match r {
            Resolution::Failed(e) if !e.has_batch_times() => {
                Resolution::Failed(e.with_batch_times(self.times(None, crate::engine::clock::now_micros())))
            }
            r => r,
        };
        let callbacks = std::mem::take(&mut self.callbacks.0);
        self.slot.resolve_with(r, callbacks);
    }

    /// The batch's clock readings for its records' timings, with the
    /// delivering request's round trip and when the outcome came.
    pub fn times(&self, request: Option<Duration>, done_us: i64) -> BatchTimes {
        BatchTimes { drained_us: self.drained_us, request, attempts: self.attempts, done_us }
    }

    /// The ordinal of the second half when this batch is split.
    pub fn split_ordinal(&self) -> u128 {
        self.ordinal + (1u128 << (63 - u32::from(self.split_depth.min(63))))
    }

    /// The open writer, if the batch is not sealed yet.
    pub(super) fn writer(&mut self) -> Option<&mut RecordBatchWriter> {
        match &mut self.payload {
            Payload::Open(w) => Some(w),
            _ => None,
        }
    }
}
