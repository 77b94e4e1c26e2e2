//! Appending a record to its partition's batch: the common case first (the
//! open batch has room, nothing else to do: a small function), then every
//! other case (a transaction to join, a full batch to close, a new batch
//! to open with a buffer and its header's memory, or a refusal).

use super::*;

impl Accumulator {
    /// Appends a record to partition `q`'s open batch, opening a new batch
    /// when it would not fit. The caller reserved `rec.reserved` bytes. `now`
    /// is the creation time for a new batch (`None`: read the clock, only if
    /// a batch is opened); a new batch's header is counted as `rec.header`
    /// says. On `Err` nothing was appended (and the caller still holds its
    /// reservation): intake is closed (the producer is closing), or there
    /// was no room for a new batch's header.
    /// With `callback`, the callback is kept in the batch and no handle is
    /// made.
    pub fn append(
        &self,
        q: QueueRef,
        rec: &AppendInput<'_>,
        now: Option<Instant>,
        callback: Option<Callback>,
    ) -> Result<Appended, AppendRefused> {
        match self.append_to_open(q, rec, callback) {
            Ok(appended) => Ok(appended),
            Err(callback) => self.append_any(q, rec, now, callback),
        }
    }

    /// [`append`](Self::append)'s common case, kept small: partition `q`
    /// has an open batch with room for the record, and there is nothing
    /// else to do (intake open, no transaction to join). Otherwise changes
    /// nothing and hands the callback back.
    #[inline]
    fn append_to_open(
        &self,
        q: QueueRef,
        rec: &AppendInput<'_>,
        callback: Option<Callback>,
    ) -> Result<Appended, Option<Callback>> {
        let mut s = self.stripes[q.stripe as usize].lock();
        if self.closed.load(Ordering::SeqCst) {
            return Err(callback);
        }
        let pq = &mut s.queues[q.slot as usize];
        if rec.txn != TxnJoin::No && pq.txn == TxnMark::Out {
            return Err(callback);
        }
        // (Not empty before it: it had an open batch, so wake only if the
        // record filled the batch.)
        let (handle, wake) = Self::append_to_open_locked(pq, rec, self.batch_size, callback)?;
        s.appended += 1;
        drop(s);
        if matches!(rec.header, HeaderBudget::Prepaid) {
            // Not needed: the record joined an open batch.
            self.pool.release(BATCH_OVERHEAD);
        }
        Ok(Appended { handle, wake, joined_txn: false, waited: Duration::ZERO })
    }

    /// Appends the record to `pq`'s open batch if there is one with room
    /// for it; returns its handle and whether the batch, now exactly full,
    /// was closed (so that it goes without lingering). Otherwise changes
    /// nothing and hands the callback back.
    #[inline(always)]
    fn append_to_open_locked(
        pq: &mut PartitionQueue,
        rec: &AppendInput<'_>,
        batch_size: usize,
        callback: Option<Callback>,
    ) -> Result<(Option<DeliveryHandle>, bool), Option<Callback>> {
        let Some(open) = pq.open.as_mut() else { return Err(callback) };
        let w = open.writer().expect("open batch has a writer");
        if w.size_in_bytes() + w.next_size_from_fields(rec.timestamp, rec.fields) > batch_size {
            return Err(callback);
        }
        let handle = Self::append_locked(open, rec, batch_size, callback);
        open.memory += rec.reserved;
        let full = open.writer().is_some_and(|w| w.size_in_bytes() >= batch_size);
        if full {
            pq.close_open();
        }
        Ok((handle, full))
    }

    /// [`append`](Self::append) in every case: joins a transaction, closes
    /// a full batch, opens a new one (taking a buffer and counting its
    /// header), or refuses the record.
    fn append_any(
        &self,
        q: QueueRef,
        rec: &AppendInput<'_>,
        now: Option<Instant>,
        callback: Option<Callback>,
    ) -> Result<Appended, AppendRefused> {
        let mut callback = callback;
        // Take a buffer before locking, in case a new batch is needed.
        let mut spare: Option<Vec<u8>> = None;
        // Whether an earlier pass of the loop closed a full batch.
        let mut closed_one = false;
        let mut counted = false;
        let mut joined_txn = false;
        // Whether a new batch's header is counted in the pool already (by
        // the caller, or by an earlier pass that waited for it); given back
        // if the record joins an open batch after all.
        let mut header = matches!(rec.header, HeaderBudget::Prepaid);
        let mut waited = Duration::ZERO;
        let unused_header = |header: bool| {
            if header {
                self.pool.release(BATCH_OVERHEAD);
            }
        };
        loop {
            let mut s = self.stripes[q.stripe as usize].lock();
            if self.closed.load(Ordering::SeqCst) {
                drop(s);
                if let Some(buf) = spare.take() {
                    self.recycle(buf);
                }
                unused_header(header);
                return Err(AppendRefused::Closed);
            }
            if !counted {
                // (Once, though a pass that needs a buffer goes round twice.)
                s.appended += 1;
                counted = true;
            }
            let pq = &mut s.queues[q.slot as usize];
            // (Sticky: a pass that went round for a buffer already marked it.)
            if rec.txn != TxnJoin::No && pq.txn == TxnMark::Out {
                joined_txn = true;
                pq.txn = if rec.txn == TxnJoin::Implicit { TxnMark::Added } else { TxnMark::Pending };
            }
            let was_empty = pq.is_empty();
            let mut wake = was_empty || closed_one;
            match Self::append_to_open_locked(pq, rec, self.batch_size, callback.take()) {
                Ok((handle, filled)) => {
                    drop(s);
                    unused_header(header);
                    return Ok(Appended { handle, wake: wake || filled, joined_txn, waited });
                }
                Err(cb) => callback = cb,
            }
            if pq.open.is_some() {
                // Does not fit: close the open batch, it is ready to go.
                pq.close_open();
                closed_one = true;
                wake = true;
            }
            // Open a new batch (needs a buffer: get one without the lock held).
            let Some(buf) = spare.take() else {
                let want = pq.next_buffer();
                drop(s);
                spare = Some(self.take_buffer(want));
                continue;
            };
            if !header {
                match rec.header {
                    _ if self.pool.try_reserve(BATCH_OVERHEAD) => {}
                    HeaderBudget::Reserve { until, on_wait } => {
                        // Wait without the lock; the queue may change meanwhile.
                        drop(s);
                        let closed = || self.closed.load(Ordering::SeqCst);
                        let t0 = Instant::now();
                        let got = until.is_some_and(|until| {
                            self.pool.reserve(BATCH_OVERHEAD, Some(until()), on_wait, closed)
                        });
                        waited += t0.elapsed();
                        if !got {
                            self.recycle(buf);
                            return Err(if closed() {
                                AppendRefused::Closed
                            } else {
                                AppendRefused::BufferFull
                            });
                        }
                        header = true;
                        spare = Some(buf);
                        continue;
                    }
                    HeaderBudget::Prepaid => unreachable!("a prepaid header is counted"),
                }
                // (Counted now; this pass opens the batch that takes it.)
            }
            let id = self.next_batch_id.fetch_add(1, Ordering::Relaxed);
            let slot = BatchSlot::new(pq.topic.clone(), pq.partition);
            let ordinal = pq.next_ordinal;
            pq.next_ordinal += ORDINAL_STEP;
            let now = now.unwrap_or_else(Instant::now);
            let mut batch = Batch {
                slot: slot.clone(),
                queue: q,
                id,
                records: 0,
                created: now,
                deadline: now + self.delivery_timeout,
                // The batch's header is reserved when the batch opens (one
                // pool update per batch, not a reservation and a refund per
                // record).
                memory: rec.reserved + BATCH_OVERHEAD,
                payload: Payload::Open(RecordBatchWriter::new(buf, rec.timestamp)),
                attempts: 0,
                ordinal,
                split_depth: 0,
                resolved: false,
                producer: None,
                base_sequence: -1,
                maybe_persisted: false,
                retry_at: None,
                retry_now: false,
                drained_us: 0,
                uncompressed: 0,
                topic_metrics: pq.metrics.clone(),
                spool_ids: Vec::new(),
                callbacks: Callbacks(if callback.is_some() {
                    Vec::with_capacity(pq.last_records as usize)
                } else {
                    Vec::new()
                }),
            };
            let handle = Self::append_locked(&mut batch, rec, self.batch_size, callback.take());
            let full = batch.writer().is_some_and(|w| w.size_in_bytes() >= self.batch_size);
            if full {
                pq.queue.push_back(batch);
                wake = true;
            } else {
                pq.open = Some(batch);
            }
            // Leaf lock under the stripe lock (see the lock order in engine/mod.rs).
            self.incomplete.lock().insert(id, slot);
            return Ok(Appended { handle, wake, joined_txn, waited });
        }
    }

    fn append_locked(
        batch: &mut Batch,
        rec: &AppendInput<'_>,
        max_batch: usize,
        callback: Option<Callback>,
    ) -> Option<DeliveryHandle> {
        if let Some(id) = rec.spool_id {
            batch.spool_ids.push(id);
        }
        let w = batch.writer().expect("open batch has a writer");
        w.reserve(rec.size, max_batch);
        let index = w.record_count() as u32;
        w.append_sized(rec.timestamp, rec.key, rec.value, rec.headers, rec.fields);
        batch.records += 1;
        let info = RecordInfo::new(index, rec.timestamp, rec.key, rec.value, rec.sent_us);
        match callback {
            Some(cb) => {
                batch.callbacks.0.push((info, cb));
                None
            }
            None => Some(DeliveryHandle::new(batch.slot.clone(), info)),
        }
    }
}
