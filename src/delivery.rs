//! Delivery results: [`DeliveryHandle`] and the per-batch completion slot.
//!
//! Every record appended to a batch shares that batch's one [`BatchSlot`]
//! (an `Arc`), and remembers only its index in the batch: resolving a batch
//! is one store and one `notify_all`, not one allocation and condvar per
//! record. A record's offset is the batch's base offset plus its index.
//!
//! A slot resolves **exactly once** (`BatchSlot::resolve` returns `false`
//! and changes nothing on a second call). As in the Java client, callbacks
//! run *before* waiters are released: when `wait`, `flush` or `close`
//! returns, the callbacks of the records it waited for have run. If a batch is split (the broker said
//! `MESSAGE_TOO_LARGE` for a multi-record batch), its slot resolves to
//! `Split`, pointing each record to the slot of the smaller batch it moved to;
//! handles follow the pointer transparently.
//!
//! Lock rules: `BatchSlot::waiters` guards only the lists of wakers and
//! callbacks; it is never held while a callback runs, a waker is woken, or any
//! other lock is taken.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::DeliveryError;
use crate::record::RecordMetadata;

/// A callback run when a record's delivery resolves.
pub type Callback = Box<dyn FnOnce(Result<RecordMetadata, DeliveryError>) + Send + 'static>;

/// How a batch ended.
#[derive(Debug, Clone)]
pub(crate) enum Resolution {
    /// Written to the log. `base_offset` is `None` with acks=0 or for a
    /// duplicate whose offset the broker did not say; `log_append_time` is
    /// the broker's timestamp when the topic uses LogAppendTime.
    Acked { base_offset: Option<i64>, log_append_time: Option<i64>, times: BatchTimes },
    /// Not delivered.
    Failed(DeliveryError),
    /// Moved to other batches: `(first index, slot, at)` in ascending order
    /// of first index; record `i` moved to the last part whose first index
    /// is `<= i`, at index `i - first + at`. A batch split in smaller ones
    /// (`at` 0), or a spilled record fed to a batch (one part, `at` its index
    /// there).
    Split(Vec<(u32, Arc<BatchSlot>, u32)>),
}

/// Per-record facts kept by handles and callbacks: 32 bytes, copied
/// through the send path's results and kept per record beside callbacks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordInfo {
    pub index: u32,
    /// The key's and the value's sizes, -1 for null (an accepted record's
    /// fields are at most `i32::MAX` bytes: the batch format's limit).
    key_size: i32,
    value_size: i32,
    pub timestamp: i64,
    /// When `send` took the record (microseconds since the epoch).
    pub sent_us: i64,
}

impl RecordInfo {
    pub fn new(index: u32, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>, sent_us: i64) -> Self {
        let size = |b: Option<&[u8]>| b.map_or(-1, |b| i32::try_from(b.len()).unwrap_or(i32::MAX));
        RecordInfo { index, key_size: size(key), value_size: size(value), timestamp, sent_us }
    }

    pub fn key_size(&self) -> Option<usize> {
        usize::try_from(self.key_size).ok()
    }

    pub fn value_size(&self) -> Option<usize> {
        usize::try_from(self.value_size).ok()
    }
}

/// Clock readings shared by the records of a batch, for their lifecycle
/// timings ([`RecordMetadata::queue_time`] and the others): read once per
/// request or response, never per record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BatchTimes {
    /// When the batch was first taken for a request (microseconds since the
    /// epoch; 0 if never).
    pub drained_us: i64,
    /// The delivering request's round trip (`None` with acks=0).
    pub request: Option<Duration>,
    /// Requests that carried the batch.
    pub attempts: u32,
    /// When the outcome became known (microseconds since the epoch).
    pub done_us: i64,
}

#[derive(Default)]
struct Waiters {
    wakers: Vec<Waker>,
    callbacks: Vec<(RecordInfo, Callback)>,
}

/// The completion slot shared by all records of one batch.
pub(crate) struct BatchSlot {
    topic: Arc<str>,
    partition: i32,
    /// Set first, when resolution starts; callbacks registered after this
    /// run on the registering thread.
    result: OnceLock<Resolution>,
    /// Set last, after the callbacks ran: handles, futures and flush see the
    /// result only from then on.
    done: AtomicBool,
    waiters: Mutex<Waiters>,
    cond: Condvar,
}

impl fmt::Debug for BatchSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchSlot")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("result", &self.resolved())
            .finish()
    }
}

impl BatchSlot {
    pub(crate) fn new(topic: Arc<str>, partition: i32) -> Arc<Self> {
        Arc::new(Self {
            topic,
            partition,
            result: OnceLock::new(),
            done: AtomicBool::new(false),
            waiters: Mutex::new(Waiters::default()),
            cond: Condvar::new(),
        })
    }

    /// The resolution, once callbacks ran.
    fn resolved(&self) -> Option<&Resolution> {
        if self.done.load(Ordering::Acquire) {
            self.result.get()
        } else {
            None
        }
    }

    pub(crate) fn partition(&self) -> i32 {
        self.partition
    }

    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    pub(crate) fn topic_arc(&self) -> Arc<str> {
        self.topic.clone()
    }

    /// Waits until this batch, and every part it was split into, resolved;
    /// `false` if `deadline` passed first.
    pub(crate) fn wait_done(&self, deadline: Option<Instant>) -> bool {
        match self.wait_resolved(deadline) {
            None => false,
            Some(Resolution::Split(parts)) => parts.iter().all(|(_, s, _)| s.wait_done(deadline)),
            Some(_) => true,
        }
    }

    /// Registers `cb` to run when record `info` resolves; runs it now (on the
    /// calling thread) if the batch already resolved.
    pub(crate) fn add_callback(self: &Arc<Self>, info: RecordInfo, cb: Callback) {
        {
            let mut w = self.waiters.lock();
            // Checked under the lock: `resolve` publishes the result before it
            // takes the lock, so either it will see our callback, or we see its result.
            if self.result.get().is_none() {
                w.callbacks.push((info, cb));
                return;
            }
        }
        if let Some(Resolution::Split(parts)) = self.result.get() {
            let (slot, info) = follow_split(parts, info);
            return slot.add_callback(info, cb);
        }
        cb(self.outcome(info));
    }

    /// Resolves the batch (tests; the engine uses `resolve_with`). Returns `false` (and does nothing) if it was already
    /// resolved. Runs callbacks, then wakes waiters, on the calling thread and
    /// without the slot's lock held.
    #[cfg(test)]
    pub(crate) fn resolve(self: &Arc<Self>, r: Resolution) -> bool {
        self.resolve_with(r, Vec::new())
    }

    /// Like `resolve`, running `first` (callbacks the batch
    /// held, registered under the stripe lock at send time) before the
    /// callbacks registered on the slot through handles.
    pub(crate) fn resolve_with(self: &Arc<Self>, r: Resolution, first: Vec<(RecordInfo, Callback)>) -> bool {
        if self.result.set(r).is_err() {
            debug_assert!(false, "batch slot resolved twice");
            return false;
        }
        // Callbacks registered before the result was set; later ones run on
        // their registering thread (`add_callback` checks under the lock).
        let mut callbacks = first;
        callbacks.append(&mut self.waiters.lock().callbacks);
        if let Some(Resolution::Split(parts)) = self.result.get() {
            // Callbacks move with their records to the smaller batches.
            for (info, cb) in callbacks {
                let (slot, info) = follow_split(parts, info);
                slot.add_callback(info, cb);
            }
        } else {
            self.run_callbacks(callbacks);
        }
        let wakers = {
            let mut g = self.waiters.lock();
            self.done.store(true, Ordering::Release);
            self.cond.notify_all();
            std::mem::take(&mut g.wakers)
        };
        for wk in wakers {
            // A user's waker that panics must not take the I/O thread down.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wk.wake())).is_err() {
                log::error!("a task waker panicked while a delivery resolved; the panic was contained");
            }
        }
        true
    }

    fn run_callbacks(&self, callbacks: Vec<(RecordInfo, Callback)>) {
        for (info, cb) in callbacks {
            let out = self.outcome(info);
            // A panicking callback must not take the I/O thread (and every
            // other record's delivery) down with it.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(out))).is_err() {
                log::error!("a delivery callback panicked; the panic was contained");
            }
        }
    }

    /// The outcome of record `info`. Only call once resolved, and not split
    /// (callbacks of a split batch move to its parts).
    fn outcome(&self, info: RecordInfo) -> Result<RecordMetadata, DeliveryError> {
        match self.result.get() {
            Some(r) => self.metadata(r, info),
            None => unreachable!("outcome of an unresolved slot"),
        }
    }

    fn metadata(&self, r: &Resolution, info: RecordInfo) -> Result<RecordMetadata, DeliveryError> {
        match r {
            Resolution::Acked { base_offset, log_append_time, times } => Ok(RecordMetadata {
                topic: self.topic.clone(),
                partition: self.partition,
                offset: base_offset.map(|b| b + i64::from(info.index)),
                timestamp: log_append_time.unwrap_or(info.timestamp),
                key_size: info.key_size(),
                value_size: info.value_size(),
                sent_us: info.sent_us,
                times: *times,
            }),
            Resolution::Failed(e) => Err(e.for_record(info.sent_us)),
            Resolution::Split(_) => unreachable!("splits are followed by the caller"),
        }
    }

    /// Waits until resolved (callbacks included) or `deadline`; `None` on timeout.
    fn wait_resolved(&self, deadline: Option<Instant>) -> Option<&Resolution> {
        if let Some(r) = self.resolved() {
            return Some(r);
        }
        let mut g = self.waiters.lock();
        loop {
            if let Some(r) = self.resolved() {
                return Some(r);
            }
            match deadline {
                None => self.cond.wait(&mut g),
                Some(d) => {
                    if self.cond.wait_until(&mut g, d).timed_out() {
                        return self.resolved();
                    }
                }
            }
        }
    }

    fn register_waker(&self, waker: &Waker) -> bool {
        let mut g = self.waiters.lock();
        if self.done.load(Ordering::Acquire) {
            return false;
        }
        if !g.wakers.iter().any(|w| w.will_wake(waker)) {
            g.wakers.push(waker.clone());
        }
        true
    }
}

fn follow_split(parts: &[(u32, Arc<BatchSlot>, u32)], info: RecordInfo) -> (Arc<BatchSlot>, RecordInfo) {
    let (first, slot, at) =
        parts.iter().rev().find(|(first, _, _)| *first <= info.index).expect("split parts start at index 0");
    (slot.clone(), RecordInfo { index: info.index - first + at, ..info })
}

/// The pending result of one `send`: resolves exactly once to the record's
/// [`RecordMetadata`] or a [`DeliveryError`].
///
/// Block with [`wait`](Self::wait) or [`wait_timeout`](Self::wait_timeout),
/// poll with [`try_result`](Self::try_result), or `.await` it: it implements
/// [`Future`] with no runtime dependency (the waker is stored beside the
/// condvar and woken by the producer's I/O thread).
///
/// Dropping a handle does not cancel the send.
pub struct DeliveryHandle {
    slot: Arc<BatchSlot>,
    info: RecordInfo,
    /// A spilled record's place in its [`SpillRegistry`]: dropping the
    /// handle before the record is fed lets the registry forget it.
    spill: Option<Box<SpillTicket>>,
}

/// A spilled record's id and the registry that holds its slot.
struct SpillTicket {
    registry: Weak<SpillRegistry>,
    id: u64,
}

impl Drop for DeliveryHandle {
    fn drop(&mut self) {
        if let Some(t) = self.spill.take() {
            if let Some(r) = t.registry.upgrade() {
                r.forget(t.id, &self.slot);
            }
        }
    }
}

impl fmt::Debug for DeliveryHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryHandle")
            .field("topic", &self.slot.topic)
            .field("partition", &self.slot.partition)
            .field("index", &self.info.index)
            .field("done", &self.is_done())
            .finish()
    }
}

impl DeliveryHandle {
    pub(crate) fn new(slot: Arc<BatchSlot>, info: RecordInfo) -> Self {
        Self { slot, info, spill: None }
    }

    /// Where the record is: its batch's slot and its place there.
    pub(crate) fn place(&self) -> (Arc<BatchSlot>, u32) {
        (self.slot.clone(), self.info.index)
    }

    /// Runs `cb` with the record's outcome once it is known (now, on this
    /// thread, if it already is), whatever happens to the handle.
    pub(crate) fn on_outcome(&self, cb: Callback) {
        self.slot.add_callback(self.info, cb);
    }

    /// The partition the record was assigned to at send time; -1 for a
    /// record spilled to the spool before its topic's partitions were known
    /// (its [`RecordMetadata`] has the partition it went to).
    pub fn partition(&self) -> i32 {
        self.slot.partition
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.slot.topic
    }

    /// Follows splits as far as they are resolved; the slot and record info
    /// that currently decide this record's outcome.
    fn current(&self) -> (Arc<BatchSlot>, RecordInfo) {
        let mut slot = self.slot.clone();
        let mut info = self.info;
        while let Some(Resolution::Split(parts)) = slot.resolved() {
            let (s, i) = follow_split(parts, info);
            slot = s;
            info = i;
        }
        (slot, info)
    }

    /// The one blocking core: waits until resolved or `deadline`.
    fn wait_until(&self, deadline: Option<Instant>) -> Option<Result<RecordMetadata, DeliveryError>> {
        loop {
            let (slot, info) = self.current();
            match slot.wait_resolved(deadline)? {
                Resolution::Split(_) => continue,
                r => return Some(slot.metadata(r, info)),
            }
        }
    }

    /// Blocks until the record's outcome is known.
    ///
    /// Every handle resolves: at the latest when `delivery.timeout.ms` passes
    /// after the send, or when the producer is closed.
    pub fn wait(self) -> Result<RecordMetadata, DeliveryError> {
        self.wait_until(None).expect("no deadline")
    }

    /// Blocks for at most `timeout`; `None` if the outcome is not known by then
    /// (the handle stays usable).
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<RecordMetadata, DeliveryError>> {
        self.wait_until(Some(Instant::now() + timeout))
    }

    /// The outcome if it is known, without blocking.
    pub fn try_result(&self) -> Option<Result<RecordMetadata, DeliveryError>> {
        let (slot, info) = self.current();
        match slot.resolved()? {
            Resolution::Split(_) => None,
            r => Some(slot.metadata(r, info)),
        }
    }

    /// Whether the outcome is known.
    pub fn is_done(&self) -> bool {
        let (slot, _) = self.current();
        matches!(slot.resolved(), Some(r) if !matches!(r, Resolution::Split(_)))
    }
}

impl Future for DeliveryHandle {
    type Output = Result<RecordMetadata, DeliveryError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            if let Some(r) = self.try_result() {
                return Poll::Ready(r);
            }
            let (slot, _) = self.current();
            if slot.register_waker(cx.waker()) {
                return Poll::Pending;
            }
            // Resolved between the check and the registration: look again.
        }
    }
}

/// The outcomes of spilled records: records `send` wrote to the spool
/// only (`buffer.memory` was full, or the spool was catching up), fed to
/// batches later by the spool's feeder.
///
/// A spilled record gets a slot of its own; when it is fed, the slot
/// resolves to [`Resolution::Split`] with one part, its place in the batch
/// that took it, and its handle and callback follow. The registry holds a
/// slot only while someone can observe the outcome: a handle that is
/// dropped unresolved, with no callback registered, takes its slot out, so
/// an outage that spills millions of records costs memory only for the
/// handles the caller keeps (and the callbacks it gave).
#[derive(Debug, Default)]
pub(crate) struct SpillRegistry {
    slots: Mutex<HashMap<u64, Arc<BatchSlot>>>,
}

impl SpillRegistry {
    /// Registers spilled record `id` (`info.index` 0): returns its handle, or
    /// with `callback`, keeps the callback and returns `None`.
    pub(crate) fn register(
        self: &Arc<Self>,
        id: u64,
        topic: Arc<str>,
        partition: i32,
        info: RecordInfo,
        callback: Option<Callback>,
    ) -> Option<DeliveryHandle> {
        let slot = BatchSlot::new(topic, partition);
        let handle = match callback {
            Some(cb) => {
                slot.add_callback(info, cb);
                None
            }
            None => Some(DeliveryHandle {
                slot: slot.clone(),
                info,
                spill: Some(Box::new(SpillTicket { registry: Arc::downgrade(self), id })),
            }),
        };
        self.slots.lock().insert(id, slot);
        handle
    }

    /// Takes the slot of spilled record `id`, to resolve; `None` if nobody
    /// can observe its outcome.
    pub(crate) fn take(&self, id: u64) -> Option<Arc<BatchSlot>> {
        self.slots.lock().remove(&id)
    }

    /// Takes every slot (when the producer closes).
    pub(crate) fn take_all(&self) -> Vec<Arc<BatchSlot>> {
        self.slots.lock().drain().map(|(_, s)| s).collect()
    }

    /// A handle of `id` was dropped: forget the slot unless it resolved or
    /// a callback waits on it.
    fn forget(&self, id: u64, slot: &Arc<BatchSlot>) {
        let mut g = self.slots.lock();
        let unobserved = || slot.result.get().is_none() && slot.waiters.lock().callbacks.is_empty();
        if g.get(&id).is_some_and(|s| Arc::ptr_eq(s, slot)) && unobserved() {
            g.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{DeliveryErrorKind, Persistence};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    fn info(index: u32) -> RecordInfo {
        RecordInfo::new(index, 100 + i64::from(index), Some(b"k"), None, 0)
    }

    #[test]
    fn offsets_are_base_plus_index() {
        let slot = BatchSlot::new("t".into(), 3);
        let hs: Vec<_> = (0..3).map(|i| DeliveryHandle::new(slot.clone(), info(i))).collect();
        assert!(hs[0].try_result().is_none());
        assert!(slot.resolve(Resolution::Acked {
            base_offset: Some(40),
            log_append_time: None,
            times: BatchTimes::default()
        }));
        for (i, h) in hs.into_iter().enumerate() {
            let m = h.wait().unwrap();
            assert_eq!(m.offset(), Some(40 + i as i64));
            assert_eq!(m.partition(), 3);
            assert_eq!(m.timestamp(), 100 + i as i64);
        }
    }

    #[test]
    fn resolves_exactly_once() {
        let slot = BatchSlot::new("t".into(), 0);
        assert!(slot.resolve(Resolution::Acked {
            base_offset: None,
            log_append_time: Some(9),
            times: BatchTimes::default()
        }));
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            slot.resolve(Resolution::Acked {
                base_offset: Some(1),
                log_append_time: None,
                times: BatchTimes::default(),
            })
        }));
        // Debug builds assert; release builds refuse quietly. Either way the first result stands.
        if let Ok(r) = again {
            assert!(!r);
        }
        let h = DeliveryHandle::new(slot, info(0));
        assert_eq!(h.wait().unwrap().timestamp(), 9);
    }

    #[test]
    fn wait_timeout_then_cross_thread_resolve() {
        let slot = BatchSlot::new("t".into(), 0);
        let h = DeliveryHandle::new(slot.clone(), info(0));
        assert!(h.wait_timeout(Duration::from_millis(10)).is_none());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            slot.resolve(Resolution::Failed(DeliveryError::new(
                DeliveryErrorKind::Timeout,
                Persistence::PossiblyPersisted,
                "",
            )));
        });
        let e = h.wait().unwrap_err();
        assert!(e.is_possibly_persisted());
        t.join().unwrap();
    }

    #[test]
    fn callbacks_run_once_even_when_added_late() {
        let n = Arc::new(AtomicUsize::new(0));
        let slot = BatchSlot::new("t".into(), 0);
        let n1 = n.clone();
        slot.add_callback(
            info(0),
            Box::new(move |r| {
                assert!(r.is_ok());
                n1.fetch_add(1, Ordering::SeqCst);
            }),
        );
        slot.resolve(Resolution::Acked {
            base_offset: Some(0),
            log_append_time: None,
            times: BatchTimes::default(),
        });
        let n2 = n.clone();
        slot.add_callback(
            info(1),
            Box::new(move |r| {
                assert_eq!(r.unwrap().offset(), Some(1));
                n2.fetch_add(1, Ordering::SeqCst);
            }),
        );
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn split_is_followed() {
        let slot = BatchSlot::new("t".into(), 0);
        let h3 = DeliveryHandle::new(slot.clone(), info(3));
        let h1 = DeliveryHandle::new(slot.clone(), info(1));
        let a = BatchSlot::new("t".into(), 0);
        let b = BatchSlot::new("t".into(), 0);
        slot.resolve(Resolution::Split(vec![(0, a.clone(), 0), (2, b.clone(), 0)]));
        assert!(!h3.is_done());
        b.resolve(Resolution::Acked {
            base_offset: Some(100),
            log_append_time: None,
            times: BatchTimes::default(),
        });
        assert_eq!(h3.try_result().unwrap().unwrap().offset(), Some(101));
        assert!(h1.try_result().is_none());
        a.resolve(Resolution::Acked {
            base_offset: Some(50),
            log_append_time: None,
            times: BatchTimes::default(),
        });
        assert_eq!(h1.wait().unwrap().offset(), Some(51));
    }

    #[test]
    fn spilled_records_follow_their_batch_and_are_forgotten_when_unobserved() {
        let reg = Arc::new(SpillRegistry::default());
        let kept = reg.register(1, "t".into(), 0, info(0), None).unwrap();
        let dropped = reg.register(2, "t".into(), 0, info(0), None).unwrap();
        let n = Arc::new(AtomicUsize::new(0));
        let n1 = n.clone();
        let cb: Callback = Box::new(move |r| {
            assert_eq!(r.unwrap().offset(), Some(17));
            n1.fetch_add(1, Ordering::SeqCst);
        });
        assert!(reg.register(3, "t".into(), 0, info(0), Some(cb)).is_none());
        // A dropped handle with no callback leaves nothing behind.
        drop(dropped);
        assert!(reg.take(2).is_none());
        // Fed: the records sit at indexes 5 and 7 of a batch.
        let batch = BatchSlot::new("t".into(), 0);
        reg.take(1).unwrap().resolve(Resolution::Split(vec![(0, batch.clone(), 5)]));
        reg.take(3).unwrap().resolve(Resolution::Split(vec![(0, batch.clone(), 7)]));
        assert!(!kept.is_done());
        batch.resolve(Resolution::Acked {
            base_offset: Some(10),
            log_append_time: None,
            times: BatchTimes::default(),
        });
        assert_eq!(kept.wait().unwrap().offset(), Some(15));
        assert_eq!(n.load(Ordering::SeqCst), 1, "the callback ran, at its place in the batch");
        assert!(reg.take_all().is_empty());
    }

    #[test]
    fn split_moves_callbacks() {
        let n = Arc::new(AtomicUsize::new(0));
        let slot = BatchSlot::new("t".into(), 0);
        let n1 = n.clone();
        slot.add_callback(
            info(2),
            Box::new(move |r| {
                assert_eq!(r.unwrap().offset(), Some(10));
                n1.fetch_add(1, Ordering::SeqCst);
            }),
        );
        let a = BatchSlot::new("t".into(), 0);
        let b = BatchSlot::new("t".into(), 0);
        slot.resolve(Resolution::Split(vec![(0, a.clone(), 0), (2, b.clone(), 0)]));
        assert_eq!(n.load(Ordering::SeqCst), 0);
        a.resolve(Resolution::Acked {
            base_offset: Some(0),
            log_append_time: None,
            times: BatchTimes::default(),
        });
        assert_eq!(n.load(Ordering::SeqCst), 0);
        b.resolve(Resolution::Acked {
            base_offset: Some(10),
            log_append_time: None,
            times: BatchTimes::default(),
        });
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    struct CountWaker(AtomicUsize);
    impl Wake for CountWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn future_is_woken() {
        let slot = BatchSlot::new("t".into(), 0);
        let mut h = DeliveryHandle::new(slot.clone(), info(0));
        let cw = Arc::new(CountWaker(AtomicUsize::new(0)));
        let waker = Waker::from(cw.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut h).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut h).poll(&mut cx).is_pending());
        slot.resolve(Resolution::Acked {
            base_offset: Some(7),
            log_append_time: None,
            times: BatchTimes::default(),
        });
        assert_eq!(cw.0.load(Ordering::SeqCst), 1, "one registration, one wake");
        match Pin::new(&mut h).poll(&mut cx) {
            Poll::Ready(Ok(m)) => assert_eq!(m.offset(), Some(7)),
            other => panic!("{other:?}"),
        }
    }
}
