//! What a broker thread reads back: Produce responses, matched to their
//! requests' batches, which complete, retry, split or fail.

use std::time::{Duration, Instant};

use crate::delivery::{BatchSlot, BatchTimes, Resolution};
use crate::engine::accumulator::{increment_sequence, Batch, Payload};
use crate::engine::backoff;
use crate::engine::clock::now_micros;
use crate::engine::connection::note_trailing_bytes;
use crate::error::{DeliveryError, DeliveryErrorKind, KafkaCode};
use crate::protocol::header::ResponseHeader;
use crate::protocol::messages::produce::{
    NodeEndpoint, PartitionProduceResponse, ProduceRequest, ProduceResponse, TOPIC_IDS_FROM,
};
use crate::protocol::primitives::Decoder;
use crate::protocol::record_batch::{RecordBatch, RecordBatchWriter};
use crate::protocol::{Message, Request};

use super::thread::{BrokerThread, InFlight};
use super::*;

impl BrokerThread {
    /// Reads and handles responses: blocks until `deadline` for the first,
    /// then handles any others already buffered.
    pub(super) fn read_responses(&mut self, deadline: Option<Instant>) {
        let mut deadline = deadline;
        loop {
            let Some(conn) = self.conn.as_mut() else { return };
            let frame = match conn.read_frame(deadline) {
                Ok(None) => return,
                Ok(Some(r)) => r,
                Err(e) => {
                    self.connection_lost(&e.to_string());
                    return;
                }
            };
            let Some(front) = self.in_flight.pop_front() else {
                self.connection_lost("response with no request in flight");
                return;
            };
            // The response's bytes: its frame and its 4-byte size prefix.
            let bytes = frame.len() + 4;
            let decoded = {
                let mut d = Decoder::new(conn.frame(frame));
                ResponseHeader::decode(&mut d, ProduceRequest::response_header_version(front.version))
                    .and_then(|h| {
                        let body = ProduceResponse::decode(&mut d, front.version)?;
                        note_trailing_bytes(ProduceRequest::API_KEY, front.version, d.remaining());
                        Ok((h, body))
                    })
            };
            match decoded {
                Ok((h, body)) if h.correlation_id == front.correlation => {
                    self.last_io = Instant::now();
                    let throttle = Duration::from_millis(u64::try_from(body.throttle_time_ms).unwrap_or(0));
                    self.shared.metrics.produce_throttle(throttle);
                    let rtt = self.last_io.saturating_duration_since(front.sent);
                    self.shared.metrics.response_read(&self.node, rtt, throttle, bytes, self.last_io);
                    if !throttle.is_zero() {
                        // As Java does: no request to this broker until the
                        // throttle time passed (the broker already answered).
                        self.throttled_until = Some(self.last_io + throttle);
                    }
                    self.shared.metrics.request_done();
                    self.shared.metrics.request_latency(rtt);
                    self.answer = (Some(rtt), now_micros());
                    self.handle_response(front, body);
                    self.wake_moved_leaders();
                }
                Ok((h, _)) => {
                    let msg =
                        format!("correlation id {} answered request {}", h.correlation_id, front.correlation);
                    self.in_flight.push_front(front);
                    self.connection_lost(&msg);
                    return;
                }
                Err(e) => {
                    self.in_flight.push_front(front);
                    self.connection_lost(&format!("undecodable Produce response: {e}"));
                    return;
                }
            }
            // Only what is already buffered from here on.
            deadline = Some(Instant::now());
            if self.in_flight.is_empty() {
                return;
            }
        }
    }

    /// KIP-951 (Produce v10+): a partition that answered
    /// `NOT_LEADER_OR_FOLLOWER` or `FENCED_LEADER_EPOCH` names its new leader
    /// (`CurrentLeader`, and the leader's endpoint in `NodeEndpoints`). Move
    /// the partition there now, if the epoch is newer than the one known,
    /// instead of waiting for a metadata round trip. Returns whether it moved.
    pub(super) fn follow_leader_hint(
        &self,
        b: &Batch,
        code: KafkaCode,
        p: &PartitionProduceResponse,
        endpoints: &[NodeEndpoint],
    ) -> bool {
        if code != KafkaCode::NOT_LEADER_OR_FOLLOWER && code != KafkaCode::FENCED_LEADER_EPOCH {
            return false;
        }
        let (leader, epoch) = (p.current_leader.leader_id, p.current_leader.leader_epoch);
        if leader < 0 || leader == self.id {
            return false;
        }
        let endpoint = endpoints
            .iter()
            .find(|e| e.node_id == leader)
            .and_then(|e| u16::try_from(e.port).ok().map(|port| (e.host.clone(), port)));
        let moved =
            self.shared.meta.apply_leader_hint(b.slot_topic(), b.slot.partition(), leader, epoch, endpoint);
        if moved {
            self.shared.metrics.leader_hint();
        }
        moved
    }

    pub(super) fn handle_response(&mut self, f: InFlight, resp: ProduceResponse) {
        let now = Instant::now();
        for b in f.batches {
            let topic = b.slot_topic();
            // v13 answers name topics by the ids the request used.
            let sent_id = f.topic_ids.iter().find(|(n, _)| **n == *topic).map(|(_, id)| *id);
            let part = resp
                .responses
                .iter()
                .filter(|t| match sent_id {
                    Some(id) if f.version >= TOPIC_IDS_FROM => t.topic_id == id,
                    _ => t.name == topic,
                })
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == b.slot.partition());
            match part {
                Some(p) => {
                    let code = KafkaCode(p.error_code);
                    let msg = p.error_message.clone().or_else(|| {
                        p.record_errors.first().map(|r| {
                            format!(
                                "record {}: {}",
                                r.batch_index,
                                r.batch_index_error_message.as_deref().unwrap_or("rejected")
                            )
                        })
                    });
                    let lat = (p.log_append_time_ms >= 0).then_some(p.log_append_time_ms);
                    let mut b = b;
                    if self.follow_leader_hint(&b, code, p, &resp.node_endpoints) {
                        // The new leader is known: retry there at once.
                        b.retry_now = true;
                    }
                    self.complete(b, code, p.base_offset, lat, msg.unwrap_or_default(), now);
                }
                None => {
                    // The broker left the partition out: treat it like a lost
                    // answer (retry; the batch may be in the log).
                    let mut b = b;
                    b.maybe_persisted = true;
                    self.complete(
                        b,
                        KafkaCode::NETWORK_EXCEPTION,
                        -1,
                        None,
                        "partition missing from the response".into(),
                        now,
                    );
                }
            }
        }
    }

    /// Decides a batch's fate from its partition's error code.
    pub(super) fn complete(
        &mut self,
        mut b: Batch,
        code: KafkaCode,
        base_offset: i64,
        log_append_time: Option<i64>,
        msg: String,
        now: Instant,
    ) {
        let shared = self.shared.clone();
        let cfg = &shared.cfg;
        self.returned.push(b.queue);
        if b.resolved {
            // Its delivery timeout already failed it while in flight; only
            // the bookkeeping is left, whatever the answer.
            shared.acc.finalize(b.queue, b.ordinal);
            let times = BatchTimes::default();
            finish(&shared, b, Resolution::Acked { base_offset: None, log_append_time: None, times });
            return;
        }
        let ok = code.is_ok() || (cfg.idempotence && code == KafkaCode::DUPLICATE_SEQUENCE_NUMBER);
        if ok {
            shared.acc.finalize(b.queue, b.ordinal);
            let base_offset = (base_offset >= 0).then_some(base_offset);
            let times = b.times(self.answer.0, self.answer.1);
            finish(&shared, b, Resolution::Acked { base_offset, log_append_time, times });
            return;
        }
        shared.metrics.error(code);
        if possibly_appended(code, cfg.acks) {
            b.maybe_persisted = true;
        }
        if code == KafkaCode::MESSAGE_TOO_LARGE && b.records > 1 {
            self.split(b);
            return;
        }
        if code.is_fatal() {
            let e = DeliveryError::new(DeliveryErrorKind::Fatal(code), persistence_of(&b), msg);
            shared.set_fatal(e.clone());
            shared.acc.finalize(b.queue, b.ordinal);
            finish(&shared, b, Resolution::Failed(e));
            return;
        }
        let sequence_error = cfg.idempotence
            && (code == KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER || code == KafkaCode::UNKNOWN_PRODUCER_ID);
        if sequence_error
            && (code == KafkaCode::UNKNOWN_PRODUCER_ID || shared.acc.is_head_of_line(b.queue, b.ordinal))
        {
            // The broker's idempotence state does not match ours: start
            // over under a new producer id (see idempotence.rs).
            shared.sequence_broken(b.producer);
            shared.meta.poke();
        }
        if code.is_retriable() || sequence_error {
            if code.refreshes_metadata() {
                shared.meta.request_refresh();
            }
            if b.attempts <= cfg.retries && now < b.deadline {
                b.retry_at = if std::mem::take(&mut b.retry_now) {
                    None
                } else {
                    Some(
                        now + backoff(
                            cfg.retry_backoff,
                            cfg.retry_backoff_max,
                            b.attempts - 1,
                            &mut self.rng,
                        ),
                    )
                };
                log::debug!("retrying a batch of {}-{} after {code}", b.slot_topic(), b.slot.partition());
                shared.metrics.batch_retried(&b, now);
                shared.acc.requeue(b);
                return;
            }
        }
        // Fails for good.
        let kind = if code == KafkaCode::MESSAGE_TOO_LARGE || code == KafkaCode::RECORD_LIST_TOO_LARGE {
            DeliveryErrorKind::RecordTooLarge
        } else {
            DeliveryErrorKind::Broker(code)
        };
        if b.producer.is_some() {
            shared.sequence_broken(b.producer);
        }
        // The answer that failed it: its round trip is the record's request time.
        let e = DeliveryError::new(kind, persistence_of(&b), msg)
            .with_batch_times(b.times(self.answer.0, self.answer.1));
        shared.acc.finalize(b.queue, b.ordinal);
        finish(&shared, b, Resolution::Failed(e));
    }

    /// Splits a batch the broker found too large into two halves that keep
    /// its place in the partition (and its sequence range), and retries them.
    pub(super) fn split(&mut self, mut b: Batch) {
        let shared = self.shared.clone();
        let decoded = match &b.payload {
            Payload::Sealed(bytes) => RecordBatch::decode(bytes, 2 * shared.cfg.max_request_size + (1 << 20)),
            _ => unreachable!("in-flight batches are sealed"),
        };
        let batch = match decoded {
            Ok((batch, _)) => batch,
            Err(e) => {
                shared.acc.finalize(b.queue, b.ordinal);
                let err =
                    DeliveryError::new(DeliveryErrorKind::RecordTooLarge, persistence_of(&b), e.to_string());
                finish(&shared, b, Resolution::Failed(err));
                return;
            }
        };
        let half = batch.records.len().div_ceil(2);
        let mut parts = Vec::new();
        let mut slots = Vec::new();
        let mut memory_left = b.memory;
        for (i, chunk) in batch.records.chunks(half).enumerate() {
            let first = (i * half) as u32;
            let ts0 = batch.base_timestamp + chunk[0].timestamp_delta;
            let mut w = RecordBatchWriter::new(Vec::new(), ts0);
            for r in chunk {
                w.append(
                    batch.base_timestamp + r.timestamp_delta,
                    r.key.as_deref(),
                    r.value.as_deref(),
                    &r.headers,
                );
            }
            let slot = BatchSlot::new(b.slot.topic_arc(), b.slot.partition());
            let memory = if i == 0 { b.memory / 2 } else { memory_left };
            memory_left -= memory;
            // The second half starts `first` sequences later, wrapping from
            // i32::MAX to 0 as the broker counts.
            let base_sequence =
                if b.producer.is_some() { increment_sequence(b.base_sequence, first as i32) } else { -1 };
            slots.push((first, slot.clone(), 0));
            parts.push(Batch {
                slot,
                queue: b.queue,
                id: 0,
                records: chunk.len() as u32,
                created: b.created,
                deadline: b.deadline,
                memory,
                payload: Payload::Open(w),
                attempts: b.attempts,
                // The halves take the original's place: its ordinal for
                // the first, halfway to the next batch's for the second.
                ordinal: if i == 0 { b.ordinal } else { b.split_ordinal() },
                split_depth: b.split_depth + 1,
                producer: b.producer,
                base_sequence,
                maybe_persisted: b.maybe_persisted,
                retry_at: None,
                uncompressed: 0,
                topic_metrics: b.topic_metrics.clone(),
                resolved: false,
                spool_ids: b
                    .spool_ids
                    .get(first as usize..first as usize + chunk.len())
                    .map(<[u64]>::to_vec)
                    .unwrap_or_default(),
                callbacks: Default::default(),
                retry_now: false,
                drained_us: b.drained_us,
            });
        }
        log::info!(
            "splitting a batch of {} records for {}-{} after MESSAGE_TOO_LARGE",
            b.records,
            b.slot_topic(),
            b.slot.partition()
        );
        shared.metrics.batch_split();
        // The batch's callbacks follow their records to the halves.
        b.resolve_slot(Resolution::Split(slots));
        b.resolved = true;
        b.memory = 0;
        shared.acc.requeue_split(b, parts);
    }
}
