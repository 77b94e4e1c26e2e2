//! `send` and its variants: a record's way from the caller through the
//! interceptors, the partitioner and `buffer.memory` (or the spool) into
//! its partition's batch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::delivery::{DeliveryHandle, RecordInfo};
use crate::engine::accumulator::{
    AppendInput, AppendRefused, Appended, HeaderBudget, TxnJoin, BATCH_OVERHEAD,
};
use crate::engine::broker::{self};
use crate::engine::clock::now_micros;
use crate::engine::metadata::{PartitionMeta, TopicMeta};
use crate::engine::spool::{self, Recorded, Spool};
use crate::engine::txn::{SendGuard, Transactions};
use crate::error::{DeliveryError, SendError, SendErrorKind};
use crate::partitioner::{Partitions, Placer};
use crate::protocol::record_batch::{record_fields_size, record_size_bound};
use crate::record::{Record, RecordMetadata, RecordRef};

use super::*;

/// Bytes counted in `buffer.memory` for a registered callback, beside its
/// closure: its entry in the batch's callback list and the allocation's
/// overhead.
const CALLBACK_OVERHEAD: usize = 96;

impl Producer {
    /// Sends a record: blocks at most `max.block.ms` while the topic's
    /// metadata is unknown or `buffer.memory` is full (with `spool.dir`:
    /// while `spool.max.bytes` is used up; a full `buffer.memory` spills the
    /// record to the spool instead), then returns a handle that resolves to
    /// the record's offset or error.
    ///
    /// Order: records sent from one thread to one partition are written in
    /// send order. With idempotence (the default) that holds through
    /// retries; without it, and with `max.in.flight.requests.per.connection`
    /// above 1, a retry can reorder them.
    ///
    /// A refused record is handed back in the [`SendError`]. An accepted
    /// record's handle always resolves: at the latest after
    /// `delivery.timeout.ms`, or when the producer closes. A failure says
    /// whether the record is certainly not in the log or possibly is
    /// ([`DeliveryError::persistence`](crate::DeliveryError::persistence)).
    pub fn send(&self, record: Record) -> Result<DeliveryHandle, SendError<Record>> {
        self.send_handle(record, Some(self.shared.cfg.max_block))
    }

    /// Like [`send`](Self::send), but never blocks: fails with
    /// [`SendErrorKind::UnknownTopic`] if the topic's metadata is not known
    /// yet (a fetch is started) and [`SendErrorKind::BufferFull`] if
    /// `buffer.memory` is full.
    pub fn try_send(&self, record: Record) -> Result<DeliveryHandle, SendError<Record>> {
        self.send_handle(record, None)
    }

    /// Like [`send`](Self::send), blocking at most `timeout` instead of `max.block.ms`.
    pub fn send_timeout(
        &self,
        record: Record,
        timeout: Duration,
    ) -> Result<DeliveryHandle, SendError<Record>> {
        self.send_handle(record, Some(timeout))
    }

    /// `send_inner` for a handle (no callback).
    fn send_handle<R: Sendable>(
        &self,
        record: R,
        wait: Option<Duration>,
    ) -> Result<DeliveryHandle, SendError<R>> {
        self.send_inner(record, wait, 0, None).map(|h| h.expect("no callback: the append made a handle"))
    }

    /// Sends a record and calls `f` with its outcome once it is known.
    ///
    /// `f` runs on one of the producer's threads: usually the I/O thread of
    /// the partition's leader, which cannot send or receive anything else
    /// while `f` runs; the metadata thread, for records of partitions that
    /// have no leader; or the thread calling `close`. So `f` must be quick
    /// and must not block: no `flush`, no `close`, and no blocking `send`
    /// (use [`try_send`](Self::try_send)), or it can deadlock the producer.
    /// A panic in `f` is caught and logged.
    pub fn send_with_callback<F>(&self, record: Record, f: F) -> Result<(), SendError<Record>>
    where
        F: FnOnce(Result<RecordMetadata, DeliveryError>) + Send + 'static,
    {
        // The callback's bookkeeping lives as long as the record is queued:
        // count it in buffer.memory with the record (its box, and its entry
        // in the batch's list).
        let extra = std::mem::size_of::<F>() + CALLBACK_OVERHEAD;
        self.send_inner(record, Some(self.shared.cfg.max_block), extra, Some(Box::new(f)))?;
        Ok(())
    }

    /// Like [`send`](Self::send), for a record whose bytes are borrowed: they
    /// are copied into the batch, so the caller may reuse its buffers at
    /// once. The caller keeps the record, so a refusal's [`SendError`]
    /// carries only the reason (it converts into any `'static` error, e.g.
    /// with `?`).
    pub fn send_ref(&self, record: RecordRef<'_>) -> Result<DeliveryHandle, SendError<()>> {
        let wait = Some(self.shared.cfg.max_block);
        if !self.interceptors.is_empty() {
            return self.send_handle(record, wait).map_err(SendError::forget_record);
        }
        // (Straight to the send path: the record needs no copy to hand back.
        // Through a shared helper that returns a `Result` for both this and
        // `send_ref_with_callback` to map, it took 30-50 more instructions
        // per record, measured with examples/send_path_cost.)
        match self.send_parts(&record, wait, 0, None) {
            Ok(handle) => Ok(handle.expect("no callback: the append made a handle")),
            Err(refused) => Err(refused.into_error(())),
        }
    }

    /// Like [`send_with_callback`](Self::send_with_callback), for a record
    /// whose bytes are borrowed (see [`send_ref`](Self::send_ref)). With a
    /// callback that captures nothing (or only `'static` references), sending
    /// allocates nothing per record.
    pub fn send_ref_with_callback<F>(&self, record: RecordRef<'_>, f: F) -> Result<(), SendError<()>>
    where
        F: FnOnce(Result<RecordMetadata, DeliveryError>) + Send + 'static,
    {
        let extra = std::mem::size_of::<F>() + CALLBACK_OVERHEAD;
        let (wait, callback) =
            (Some(self.shared.cfg.max_block), Some(Box::new(f) as crate::delivery::Callback));
        if !self.interceptors.is_empty() {
            self.send_inner(record, wait, extra, callback).map_err(SendError::forget_record)?;
            return Ok(());
        }
        // (Straight to the send path, as in `send_ref`.)
        match self.send_parts(&record, wait, extra, callback) {
            Ok(_) => Ok(()),
            Err(refused) => Err(refused.into_error(())),
        }
    }

    /// The send path for an owned or a borrowed record: on failure the
    /// record is handed back in the `SendError`.
    fn send_inner<R: Sendable>(
        &self,
        record: R,
        wait: Option<Duration>,
        extra: usize,
        callback: Option<crate::delivery::Callback>,
    ) -> Result<Option<DeliveryHandle>, SendError<R>> {
        if !self.interceptors.is_empty() {
            return self.send_intercepted(record, wait, extra, callback);
        }
        self.send_parts(&record.parts(), wait, extra, callback).map_err(|r| r.into_error(record))
    }

    /// [`send_inner`](Self::send_inner) with interceptors: they see (and may
    /// change) an owned copy of the record, and every outcome. On refusal the
    /// caller's record comes back unchanged.
    #[cold]
    fn send_intercepted<R: Sendable>(
        &self,
        record: R,
        wait: Option<Duration>,
        extra: usize,
        callback: Option<crate::delivery::Callback>,
    ) -> Result<Option<DeliveryHandle>, SendError<R>> {
        let mut owned = record.parts().to_record();
        self.interceptors.on_send(&mut owned);
        let topic: Arc<str> = Arc::from(&*owned.topic);
        let observe = |ics: crate::interceptor::Interceptors, topic: Arc<str>| {
            move |r: &Result<RecordMetadata, DeliveryError>| ics.delivered(&topic, r)
        };
        let callback = callback.map(|cb| {
            let seen = observe(self.interceptors.clone(), topic.clone());
            Box::new(move |r: Result<RecordMetadata, DeliveryError>| {
                seen(&r);
                cb(r)
            }) as crate::delivery::Callback
        });
        match self.send_parts(&owned.borrowed(), wait, extra, callback) {
            Ok(handle) => {
                if let Some(h) = &handle {
                    let seen = observe(self.interceptors.clone(), topic);
                    h.on_outcome(Box::new(move |r| seen(&r)));
                }
                Ok(handle)
            }
            Err(refused) => {
                self.interceptors.acknowledge(crate::interceptor::Outcome::Refused {
                    record: &owned,
                    error: &refused.kind,
                });
                Err(refused.into_error(record))
            }
        }
    }

    /// The send path. `wait` is how long it may block (`None`: not at all);
    /// `extra` bytes of per-record bookkeeping (a callback) are counted in
    /// `buffer.memory` with the record. With `callback`, the callback is
    /// stored in the batch and no handle is returned. Reads the clock once
    /// per record in the common case (its timestamp): deadlines are
    /// computed only when it has to wait. Allocates nothing per record.
    ///
    /// This is the common case, kept short: a producer without a spool or
    /// transactions, a topic this thread has looked up before, memory free
    /// in `buffer.memory`. Anything else goes to
    /// [`send_general`](Self::send_general), before any step with an effect
    /// or, once the partitioner was asked, with its answer.
    #[inline]
    fn send_parts(
        &self,
        record: &RecordRef<'_>,
        wait: Option<Duration>,
        extra: usize,
        callback: Option<crate::delivery::Callback>,
    ) -> Result<Option<DeliveryHandle>, Refused> {
        let shared = &self.shared;
        if shared.txn.is_some()
            || shared.spool.is_some()
            || shared.run.is_closing()
            || shared.run.fatal().is_some()
            || !valid_topic_name(record.topic)
        {
            return self.send_general(record, wait, extra, callback, None);
        }
        let fields = record_fields_size(record.key, record.value, record.headers);
        let size = record_size_bound(fields);
        if size + BATCH_OVERHEAD > self.record_limit() {
            return self.send_general(record, wait, extra, callback, None);
        }
        let looked_up = shared.meta.with_topic(record.topic, |t| self.place(t, record, size));
        let Some(Ok((partition, pm, chosen))) = looked_up else {
            return self.send_general(record, wait, extra, callback, Some(looked_up));
        };
        let reserved = size + extra;
        if !shared.acc.pool.try_reserve(reserved) {
            return self.send_general(record, wait, extra, callback, Some(looked_up));
        }
        let deadline = || deadline_after(wait.unwrap_or_default());
        let on_wait = || shared.brokers.wake_all();
        let header = HeaderBudget::Reserve {
            until: wait.map(|_| &deadline as &dyn Fn() -> Instant),
            on_wait: &on_wait,
        };
        let input = stamped(record, reserved, size, fields, TxnJoin::No, header);
        let appended = shared.acc.append(pm.queue, &input, None, callback);
        self.after_append(appended, record, (partition, pm, chosen), size, reserved, wait, None)
    }

    /// The most bytes a record may take with its batch's header: one
    /// request's worth, and no more than `buffer.memory`.
    #[inline]
    fn record_limit(&self) -> usize {
        self.shared.cfg.max_request_size.min(self.shared.cfg.buffer_memory)
    }

    /// Where a record goes, in this thread's cached view of its topic: its
    /// own partition, or the partitioner's choice for a record of `size`
    /// bytes (counted by a built-in sticky partitioner as it chooses).
    #[inline]
    fn place(&self, t: &TopicMeta, record: &RecordRef<'_>, size: usize) -> Result<Placed, NoPartition> {
        t.mark_used();
        let count = t.partitions.len() as i32;
        if count == 0 {
            return Err(NoPartition::UnknownTopic);
        }
        let (partition, chosen) = match record.partition {
            Some(p) => (p, Chosen::ByCaller),
            None => {
                let (p, counted) = self.placer.partition(
                    record.topic,
                    record.key,
                    record.value,
                    Partitions::new(count, &t.available),
                    size,
                    &t.sticky,
                );
                (p, Chosen::ByPartitioner { counted })
            }
        };
        match t.partitions.get(usize::try_from(partition).unwrap_or(usize::MAX)) {
            Some(pm) => Ok((partition, *pm, chosen)),
            None => Err(NoPartition::Invalid { partition, partitions: count }),
        }
    }

    /// The send path in every case: waits for metadata or memory, spools,
    /// joins transactions, and refuses what it must. `looked_up`: the
    /// topic's lookup in this thread's cache, if
    /// [`send_parts`](Self::send_parts) did it already (and so asked the
    /// partitioner, which must not be asked twice for one record).
    #[inline(never)]
    fn send_general(
        &self,
        record: &RecordRef<'_>,
        wait: Option<Duration>,
        extra: usize,
        callback: Option<crate::delivery::Callback>,
        looked_up: Option<Option<Result<Placed, NoPartition>>>,
    ) -> Result<Option<DeliveryHandle>, Refused> {
        let shared = &self.shared;
        let waited = wait.unwrap_or_default();
        let refuse = |kind| Err(Refused { kind, waited: None });
        // Checked again under the stripe lock when appending (see `close`).
        if shared.run.is_closing() {
            return refuse(SendErrorKind::Closed);
        }
        if let Some(e) = shared.run.fatal() {
            return refuse(SendErrorKind::Fatal(e.clone()));
        }
        if !valid_topic_name(record.topic) {
            return refuse(SendErrorKind::InvalidTopic);
        }
        // A transactional producer appends only inside an open transaction;
        // the guard keeps commit and abort from starting until the record
        // is in its batch (see `engine::txn`).
        let txn = match &shared.txn {
            Some(t) => match t.enter_send() {
                Ok(g) => Some((t, g)),
                Err(e) => return refuse(SendErrorKind::Transaction(e)),
            },
            None => None,
        };
        // Size first: a record that can never be sent fails at once.
        let fields = record_fields_size(record.key, record.value, record.headers);
        let size = record_size_bound(fields);
        let max = self.record_limit();
        if size + BATCH_OVERHEAD > max {
            return refuse(SendErrorKind::RecordTooLarge { size: size + BATCH_OVERHEAD, max });
        }
        // Computed when first needed (a clock read), then kept.
        let deadline_at = std::cell::Cell::new(None);
        let deadline = || match deadline_at.get() {
            Some(d) => d,
            None => {
                let d = deadline_after(waited);
                deadline_at.set(Some(d));
                d
            }
        };
        // The partition: the record's own, or the partitioner's, looked up in
        // this thread's cached view of the topic (no lock in the common case).
        let choose = |t: &TopicMeta| self.place(t, record, size);
        // Whether the cluster said nothing about a topic it does not show
        // (unreachable, or still loading), rather than naming an error.
        let mut unanswered = false;
        let spilling = shared.spool.as_ref().is_some_and(Spool::spilling);
        let looked_up = looked_up.unwrap_or_else(|| shared.meta.with_topic(record.topic, choose));
        let mut chosen = match looked_up {
            Some(r) => r,
            // While the spool spills, a topic not known yet does not hold
            // `send` up: its record is spilled too, its partition chosen when
            // it is fed.
            None if spilling => {
                unanswered = true;
                Err(NoPartition::UnknownTopic)
            }
            None => match shared.meta.wait_topic(record.topic, wait.map(|_| deadline())) {
                Ok(t) => choose(&t),
                Err(code) => {
                    unanswered = code.is_none();
                    Err(NoPartition::UnknownTopic)
                }
            },
        };
        let explicit = record.partition.and_then(|p| usize::try_from(p).ok());
        if let (Err(NoPartition::Invalid { .. }), Some(want), Some(_)) = (&chosen, explicit, wait) {
            // An explicit partition beyond the known count may be new: wait
            // (up to max.block.ms) for metadata that shows it, as Java does.
            if let Ok(t) =
                shared.meta.wait_topic_where(record.topic, Some(deadline()), |t| t.partitions.len() > want)
            {
                chosen = choose(&t);
            }
        }
        let (partition, pm, chosen) = match chosen {
            Ok(c) => c,
            Err(_) if shared.run.is_closing() => return refuse(SendErrorKind::Closed),
            Err(NoPartition::UnknownTopic) if shared.meta.security_failure().is_some() => {
                let e = shared.meta.security_failure().expect("checked");
                // Refused before max.block.ms: report the time actually spent.
                let spent = waited.saturating_sub(deadline().saturating_duration_since(Instant::now()));
                return Err(Refused { kind: SendErrorKind::Authentication(e), waited: Some(spent) });
            }
            Err(NoPartition::UnknownTopic) if unanswered && record.partition.is_none() => {
                if let Some(sp) = &shared.spool {
                    // With a spool, a record for a topic the cluster has not
                    // shown waits on disk until it does.
                    return self.spill_unplaced(sp, record, wait.map(|_| deadline()), callback);
                }
                return Err(Refused { kind: SendErrorKind::UnknownTopic, waited: Some(waited) });
            }
            Err(NoPartition::UnknownTopic) => {
                return Err(Refused { kind: SendErrorKind::UnknownTopic, waited: Some(waited) })
            }
            Err(NoPartition::Invalid { partition, partitions }) => {
                return refuse(SendErrorKind::InvalidPartition { partition, partitions })
            }
        };
        let reserved = size + extra;
        // With a spool, a new batch's header is reserved with the record:
        // the append runs under the spool's lock, where it must not wait.
        let prepaid = if shared.spool.is_some() { BATCH_OVERHEAD } else { 0 };
        let on_wait = || shared.brokers.wake_all();
        let closing = || shared.run.is_closing();
        // With a spool, `send` does not wait for memory: a record that finds
        // none is spilled (written only), and the feeder waits for it.
        let have_memory = shared.acc.pool.try_reserve(reserved + prepaid);
        if !have_memory && shared.spool.is_none() {
            let blocked = wait.map(|_| Instant::now());
            let reserved_ok =
                shared.acc.pool.reserve(reserved + prepaid, wait.map(|_| deadline()), on_wait, closing);
            let waited = blocked.map_or(Duration::ZERO, |t| t.elapsed());
            shared.metrics.buffer_waited(waited, !reserved_ok && !closing());
            if !reserved_ok {
                if closing() {
                    return refuse(SendErrorKind::Closed);
                }
                return Err(Refused { kind: SendErrorKind::BufferFull, waited: Some(waited) });
            }
        }
        let header = HeaderBudget::Reserve {
            until: wait.map(|_| &deadline as &dyn Fn() -> Instant),
            on_wait: &on_wait,
        };
        let joins = txn.as_ref().map_or(TxnJoin::No, |(_, g)| g.join());
        let input = stamped(record, reserved, size, fields, joins, header);
        let (timestamp, sent_us) = (input.timestamp, input.sent_us);
        let appended = match &shared.spool {
            None => shared.acc.append(pm.queue, &input, None, callback),
            Some(sp) => {
                // On disk (handed to the OS, or synced) before `send` returns.
                // The callback goes with the append, or with the spilled
                // record's registration (one of the two).
                let callback = std::cell::Cell::new(callback);
                let spooled = sp.record(
                    record.topic,
                    partition,
                    timestamp,
                    record.key,
                    record.value,
                    record.headers,
                    wait.map(|_| deadline()),
                    |id| {
                        if !have_memory {
                            return None;
                        }
                        let input =
                            AppendInput { spool_id: Some(id), header: HeaderBudget::Prepaid, ..input };
                        Some((id, shared.acc.append(pm.queue, &input, None, callback.take())))
                    },
                    |id| {
                        let topic = shared.acc.with_queue(pm.queue, |pq| pq.topic.clone());
                        register_spilled(
                            sp,
                            id,
                            topic,
                            partition,
                            record,
                            timestamp,
                            sent_us,
                            callback.take(),
                        )
                    },
                );
                let unused = || {
                    if have_memory {
                        shared.acc.pool.release(reserved + prepaid);
                    }
                };
                match spooled {
                    Ok(Recorded::Appended((_, Ok(a)))) => Ok(a),
                    Ok(Recorded::Appended((id, Err(refused)))) => {
                        // Refused after all (closing): not the spool's either.
                        sp.done(&[id]);
                        Err(refused)
                    }
                    Ok(Recorded::Spilled(handle)) => {
                        unused();
                        chosen.appended(&self.placer, record.topic, partition, size);
                        return Ok(handle);
                    }
                    Err(refusal) => {
                        unused();
                        return refuse(refusal_kind(refusal));
                    }
                }
            }
        };
        self.after_append(appended, record, (partition, pm, chosen), size, reserved, wait, txn)
    }

    /// What follows an append: on refusal, gives the record's memory back;
    /// on success, notes a wait for memory and a partition joining the
    /// transaction, wakes the leader's I/O thread if the batch is ready
    /// (or asks for metadata if the partition has no leader), and tells the
    /// partitioner.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn after_append(
        &self,
        appended: Result<Appended, AppendRefused>,
        record: &RecordRef<'_>,
        (partition, pm, chosen): Placed,
        size: usize,
        reserved: usize,
        wait: Option<Duration>,
        txn: Option<(&Transactions, SendGuard<'_>)>,
    ) -> Result<Option<DeliveryHandle>, Refused> {
        let shared = &self.shared;
        let appended = match appended {
            Ok(a) => a,
            Err(refused) => return Err(self.append_refused(refused, reserved, wait)),
        };
        if !appended.waited.is_zero() {
            shared.metrics.buffer_waited(appended.waited, false);
        }
        if appended.joined_txn {
            if let Some((t, g)) = &txn {
                let topic = shared.acc.with_queue(pm.queue, |pq| pq.topic.clone());
                t.joined(pm.queue, &topic, partition, g.join());
            }
        }
        drop(txn);
        if appended.wake {
            if pm.leader >= 0 {
                broker::wake(shared, pm.leader);
            } else {
                shared.meta.request_refresh();
            }
        }
        chosen.appended(&self.placer, record.topic, partition, size);
        Ok(appended.handle)
    }

    /// Gives back the memory of a record the append refused, and says why.
    #[cold]
    fn append_refused(&self, refused: AppendRefused, reserved: usize, wait: Option<Duration>) -> Refused {
        // (A header the append did not use, it gave back.)
        self.shared.acc.pool.release(reserved);
        match refused {
            AppendRefused::Closed => Refused { kind: SendErrorKind::Closed, waited: None },
            AppendRefused::BufferFull => {
                // No room for a new batch's header: refused as the record
                // itself would have been.
                let spent = wait.unwrap_or_default();
                self.shared.metrics.buffer_waited(spent, true);
                Refused { kind: SendErrorKind::BufferFull, waited: Some(spent) }
            }
        }
    }

    /// Spills a record whose topic's partitions are not known (partition
    /// -1): the feeder places it once the cluster shows the topic.
    fn spill_unplaced(
        &self,
        sp: &Spool,
        record: &RecordRef<'_>,
        deadline: Option<Instant>,
        callback: Option<crate::delivery::Callback>,
    ) -> Result<Option<DeliveryHandle>, Refused> {
        let sent_us = now_micros();
        let timestamp = record.timestamp.unwrap_or(sent_us.div_euclid(1000));
        let spilled = sp.record(
            record.topic,
            -1,
            timestamp,
            record.key,
            record.value,
            record.headers,
            deadline,
            |_| None::<()>,
            |id| register_spilled(sp, id, Arc::from(record.topic), -1, record, timestamp, sent_us, callback),
        );
        match spilled {
            Ok(Recorded::Spilled(handle)) => Ok(handle),
            Ok(Recorded::Appended(())) => unreachable!("a record with no partition is spilled"),
            Err(refusal) => Err(Refused { kind: refusal_kind(refusal), waited: None }),
        }
    }
}

/// The record as the accumulator takes it, stamped with the one clock read
/// per record: the send time (for the record's lifecycle timings) and,
/// unless the caller gave one, its timestamp.
#[inline(always)]
fn stamped<'a>(
    record: &RecordRef<'a>,
    reserved: usize,
    size: usize,
    fields: usize,
    txn: TxnJoin,
    header: HeaderBudget<'a>,
) -> AppendInput<'a> {
    let sent_us = now_micros();
    AppendInput {
        timestamp: record.timestamp.unwrap_or(sent_us.div_euclid(1000)),
        key: record.key,
        value: record.value,
        headers: record.headers,
        reserved,
        size,
        fields,
        sent_us,
        txn,
        spool_id: None,
        header,
    }
}

/// Whether `topic` has a length Kafka accepts for a topic name (1 to 249
/// bytes; the broker checks its characters).
#[inline]
fn valid_topic_name(topic: &str) -> bool {
    (1..=249).contains(&topic.len())
}

/// A record the send path takes: owned or borrowed.
trait Sendable {
    fn parts(&self) -> RecordRef<'_>;
}

impl Sendable for Record {
    fn parts(&self) -> RecordRef<'_> {
        self.borrowed()
    }
}

impl Sendable for RecordRef<'_> {
    fn parts(&self) -> RecordRef<'_> {
        *self
    }
}

/// Why the send path refused a record, and how long it may have waited.
struct Refused {
    kind: SendErrorKind,
    waited: Option<Duration>,
}

impl Refused {
    /// The `SendError` handing `record` back.
    fn into_error<R>(self, record: R) -> SendError<R> {
        let e = SendError::new(self.kind, record);
        match self.waited {
            Some(d) => e.waited(d),
            None => e,
        }
    }
}

/// Why no partition was chosen for a record: a small type, so that the
/// common `Ok` path does not move a whole [`SendErrorKind`] around.
#[derive(Debug, Clone, Copy)]
enum NoPartition {
    /// The topic has no partitions the producer knows of.
    UnknownTopic,
    /// The record names a partition the topic does not have.
    Invalid { partition: i32, partitions: i32 },
}

/// A record's partition, its metadata, and who chose it.
type Placed = (i32, PartitionMeta, Chosen);

/// Who chose a record's partition.
#[derive(Debug, Clone, Copy)]
enum Chosen {
    /// The record named it.
    ByCaller,
    /// The partitioner; `counted`: it counted the record's bytes already.
    ByPartitioner { counted: bool },
}

impl Chosen {
    /// After a successful append (or spill): tells the partitioner, if it
    /// chose the partition and has not counted the bytes yet.
    #[inline]
    fn appended(self, placer: &Placer, topic: &str, partition: i32, bytes: usize) {
        if let Chosen::ByPartitioner { counted: false } = self {
            placer.partitioner().on_append(topic, partition, bytes);
        }
    }
}

/// What `send` reports for a record the spool refused.
fn refusal_kind(r: spool::Refusal) -> SendErrorKind {
    match r {
        spool::Refusal::Full(max_bytes) => SendErrorKind::SpoolFull { max_bytes },
        spool::Refusal::Broken(why) => SendErrorKind::Spool(why),
        spool::Refusal::Closed => SendErrorKind::Closed,
    }
}

/// The handle (or, with `callback`, nothing: the callback is kept) of a
/// record spilled to the spool with id `id`.
#[allow(clippy::too_many_arguments)]
fn register_spilled(
    sp: &Spool,
    id: u64,
    topic: Arc<str>,
    partition: i32,
    record: &RecordRef<'_>,
    timestamp: i64,
    sent_us: i64,
    callback: Option<crate::delivery::Callback>,
) -> Option<DeliveryHandle> {
    let info = RecordInfo::new(0, timestamp, record.key, record.value, sent_us);
    sp.registry.register(id, topic, partition, info, callback)
}
