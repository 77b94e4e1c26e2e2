//! What a broker thread sends: ready batches drained from the accumulator,
//! sealed (see [`seal`](super::seal)) and written as Produce requests.

use std::sync::Arc;
use std::time::Instant;

use crate::delivery::Resolution;
use crate::engine::accumulator::{Batch, Payload, Readiness};
use crate::engine::clock::now_micros;
use crate::engine::earliest;
use crate::error::{DeliveryError, DeliveryErrorKind, KafkaCode, Persistence};
use crate::protocol::frame::{finish_spliced_frame, start_frame, Splices};
use crate::protocol::header::RequestHeader;
use crate::protocol::messages::produce::{
    encode_produce_request_spliced, ProduceRequest, TopicRef, TOPIC_IDS_FROM,
};
use crate::protocol::primitives::Uuid;
use crate::protocol::{Message, Request};

use super::seal::{fail_unsealable, idle_cores, seal, seal_together, seals_in_parallel};
use super::thread::{BrokerThread, InFlight};
use super::*;

/// One topic's batches in a request: (topic, [(partition, batch bytes)]).
type TopicBatches<'a> = (&'a str, Vec<(i32, &'a [u8])>);

/// The Produce version of one request, as franz-go decides it (`sink.go`):
/// v13 names topics by id (KIP-516), so a request goes at v13 only when the
/// connection negotiated v13 and **every** topic in it has a known id
/// (`ids` yields `None` for a topic without one: its metadata came from a
/// broker answering Metadata below v10, say, one that advertises Produce v13
/// while capping Metadata, franz-go's issue 1312). Otherwise the request goes
/// at v12, which every broker that speaks v13 also speaks (Kafka keeps
/// v3-v13). Below v13 the negotiated version stands.
pub(super) fn produce_version(negotiated: i16, ids: impl IntoIterator<Item = Option<Uuid>>) -> i16 {
    if negotiated < TOPIC_IDS_FROM {
        return negotiated;
    }
    if ids.into_iter().all(|id| id.is_some()) {
        negotiated
    } else {
        TOPIC_IDS_FROM - 1
    }
}

impl BrokerThread {
    /// Drains and writes requests while the pipeline has room. Returns the
    /// next instant a partition becomes ready.
    pub(super) fn send_ready(&mut self, now: Instant) -> Option<Instant> {
        if let Some(t) = self.throttled_until {
            if t > now {
                return Some(t);
            }
            self.throttled_until = None;
        }
        let shared = self.shared.clone();
        let cfg = &shared.cfg;
        let force = shared.acc.flushing() || shared.run.is_closing() || shared.acc.pool.under_pressure();
        let producer = shared.idem.current();
        if cfg.idempotence && producer.is_none() {
            shared.meta.poke();
        }
        let mut next = None;
        let Some(conn) = self.conn.as_ref() else { return next };
        let Some(mut version) = conn.versions().version_of::<ProduceRequest>() else {
            if !self.parts.is_empty() {
                shared.set_fatal(DeliveryError::new(
                    DeliveryErrorKind::Fatal(KafkaCode::UNSUPPORTED_VERSION),
                    Persistence::NotPersisted,
                    format!("broker {} does not support Produce v3 or later", self.id),
                ));
            }
            return next;
        };
        if let Some(t) = &shared.txn {
            // Produce v12+ adds partitions to the transaction implicitly:
            // only with transactions v2 (KIP-890), never behind the
            // coordinator's back.
            if !t.implicit() {
                version = version.min(crate::engine::txn::coordinator::PRODUCE_TXN_V2 - 1);
            }
        }
        // Requests are drained one at a time, each batch sealed as it is
        // drained so that the request is packed by sealed (compressed)
        // sizes; or, for a codec sealed in parallel, as many requests as
        // there are idle cores, packed by uncompressed sizes, sealed
        // together, then written in order.
        let parallel = seals_in_parallel(cfg.compression);
        while self.in_flight.len() < cfg.max_in_flight && !self.parts.is_empty() {
            let group = if parallel { idle_cores().max(1) } else { 1 };
            let mut requests: Vec<Vec<Batch>> = Vec::new();
            while requests.len() < group && self.in_flight.len() + requests.len() < cfg.max_in_flight {
                match self.drain_request(now, force, producer, (!parallel).then_some(version), &mut next) {
                    Some(batches) => requests.push(batches),
                    None => break,
                }
            }
            if requests.is_empty() {
                break;
            }
            // Sealed together if that pays; else each request is sealed
            // right before it is written, so that the broker works on one
            // while the next is compressed. (Without `parallel` they were
            // sealed as they were drained.)
            let together =
                if parallel { seal_together(&shared, self.id, &mut requests, version) } else { None };
            let mut together = together.map(Vec::into_iter);
            for batches in requests {
                let mut ready = Vec::with_capacity(batches.len());
                for mut b in batches {
                    let sealed = match together.as_mut() {
                        Some(results) => results.next().expect("one result per batch"),
                        None if parallel => seal(&shared, self.id, &mut b, version),
                        None => Ok(()),
                    };
                    match sealed {
                        Ok(()) => ready.push(b),
                        Err(e) => fail_unsealable(&shared, b, e),
                    }
                }
                if ready.is_empty() {
                    continue;
                }
                if self.conn.is_none() {
                    // An earlier request's write failed and dropped the
                    // connection: these were never written. Back to their
                    // queues, sealed, for the next connection.
                    for b in ready {
                        shared.acc.requeue(b);
                    }
                    continue;
                }
                self.write_produce(version, ready, now);
            }
            if self.conn.is_none() {
                break;
            }
        }
        next
    }

    /// Drains one request's batches: the ready partitions' head batches, in
    /// turn from where the previous request started, while they fit in
    /// `max.request.size`. With `seal_at` (a Produce version) each is sealed
    /// as it is drained and counts its sealed size (one that cannot be
    /// sealed fails); without, they stay unsealed and count their
    /// uncompressed size. `None` when no batch is ready; `next` learns when
    /// one will be.
    fn drain_request(
        &mut self,
        now: Instant,
        force: bool,
        producer: Option<crate::engine::accumulator::ProducerIdEpoch>,
        seal_at: Option<i16>,
        next: &mut Option<Instant>,
    ) -> Option<Vec<Batch>> {
        let shared = self.shared.clone();
        let mut batches: Vec<Batch> = Vec::new();
        let mut failed = Vec::new();
        // One clock read per request, shared by its batches' records.
        let mut drained_us: Option<i64> = None;
        let mut room = shared.cfg.max_request_size;
        let n = self.parts.len();
        for k in 0..n {
            let q = self.parts[(self.rotate + k) % n];
            match shared.acc.drain(
                q,
                now,
                force,
                &self.policy,
                producer,
                room,
                batches.is_empty(),
                &mut failed,
            ) {
                Ok(mut b) => {
                    if b.drained_us == 0 {
                        b.drained_us = *drained_us.get_or_insert_with(now_micros);
                    }
                    if let Some(version) = seal_at {
                        if let Err(e) = seal(&shared, self.id, &mut b, version) {
                            fail_unsealable(&shared, b, e);
                            continue;
                        }
                    }
                    room = room.saturating_sub(b.estimated_size());
                    batches.push(b);
                }
                Err(Readiness::At(t)) => *next = earliest(*next, Some(t)),
                Err(_) => {}
            }
        }
        self.rotate = self.rotate.wrapping_add(1);
        for b in failed {
            fail_queued(
                &shared,
                b,
                DeliveryErrorKind::Network,
                "the producer id was reset after this batch may have been written; \
                 resending it under the new id could duplicate it",
            );
        }
        (!batches.is_empty()).then_some(batches)
    }

    /// Writes one Produce request of `batches` at the negotiated `version`,
    /// or at v12 when that is v13 and a topic of the request has no known id
    /// (see [`produce_version`]).
    pub(super) fn write_produce(&mut self, negotiated: i16, mut batches: Vec<Batch>, now: Instant) {
        let shared = self.shared.clone();
        let cfg = &shared.cfg;
        let conn = self.conn.as_mut().expect("connected");
        let correlation = conn.next_correlation_id();
        self.buf.clear();
        let mut version = negotiated;
        let mut topic_ids: Vec<(Arc<str>, Uuid)> = Vec::new();
        // The batches stay where they are: the request goes out as
        // `self.buf` with them spliced in, in one vectored write.
        let mut splices = Splices::default();
        let encoded = {
            // Group the batches by topic, keeping first-seen order.
            let mut topics: Vec<TopicBatches<'_>> = Vec::new();
            for b in &batches {
                let t = b.slot_topic();
                let data = match &b.payload {
                    Payload::Sealed(v) => v.as_slice(),
                    _ => unreachable!("sealed before writing"),
                };
                match topics.iter_mut().find(|(n, _)| *n == t) {
                    Some((_, parts)) => parts.push((b.slot.partition(), data)),
                    None => topics.push((t, vec![(b.slot.partition(), data)])),
                }
            }
            if negotiated >= TOPIC_IDS_FROM {
                // The ids as the view knows them now: a refresh after
                // UNKNOWN_TOPIC_ID (a topic deleted and created again) brings
                // the new one for the retry.
                let view = shared.meta.view();
                let known: Vec<Option<(Arc<str>, Uuid)>> = topics
                    .iter()
                    .map(|(t, _)| {
                        view.topics.get(*t).and_then(|m| m.known_id().map(|id| (m.name.clone(), id)))
                    })
                    .collect();
                version = produce_version(negotiated, known.iter().map(|k| k.as_ref().map(|(_, id)| *id)));
                if version >= TOPIC_IDS_FROM {
                    topic_ids = known.into_iter().flatten().collect();
                } else {
                    log::debug!(
                        "Produce v{version} to broker {} instead of v{negotiated}: a topic of the request \
                         has no known topic id",
                        self.id
                    );
                }
            }
            let keys: Vec<TopicRef<'_>> = if version >= TOPIC_IDS_FROM {
                topic_ids.iter().map(|(_, id)| TopicRef::Id(*id)).collect()
            } else {
                topics.iter().map(|(t, _)| TopicRef::Name(t)).collect()
            };
            let at = start_frame(&mut self.buf);
            let header = RequestHeader {
                api_key: ProduceRequest::API_KEY,
                api_version: version,
                correlation_id: correlation,
                client_id: Some(conn.client_id().to_owned()),
            };
            header
                .encode(&mut self.buf, ProduceRequest::request_header_version(version))
                .and_then(|()| {
                    let timeout_ms = cfg.request_timeout.as_millis().min(i32::MAX as u128) as i32;
                    encode_produce_request_spliced(
                        &mut self.buf,
                        version,
                        shared.txn.as_ref().map(|t| t.id.as_str()),
                        cfg.acks,
                        timeout_ms,
                        keys.iter().zip(&topics).map(|(k, (_, p))| (*k, p.iter().copied())),
                        &mut splices,
                    )
                })
                .and_then(|()| finish_spliced_frame(&mut self.buf, at, &splices))
        };
        if let Err(e) = encoded {
            log::error!("could not encode a Produce request: {e}");
            for b in batches {
                shared.acc.finalize(b.queue, b.ordinal);
                let err = DeliveryError::new(DeliveryErrorKind::Network, persistence_of(&b), e.to_string());
                finish(&shared, b, Resolution::Failed(err));
            }
            return;
        }
        if let Some(t) = &shared.txn {
            t.produced();
        }
        if let Some(sp) = &shared.spool {
            // Which batch went under which producer id and sequence, on disk
            // before the request: a restart resends exactly these.
            for b in &batches {
                if let (Some(p), Some(first), Some(last)) =
                    (b.producer, b.spool_ids.first(), b.spool_ids.last())
                {
                    sp.sequenced(
                        b.slot_topic(),
                        b.slot.partition(),
                        *first,
                        *last,
                        b.records,
                        p,
                        b.base_sequence,
                    );
                }
            }
            sp.before_request();
        }
        let frame_len = self.buf.len() + splices.len();
        shared.metrics.request_sent(frame_len);
        self.last_io = now;
        let written = conn.write_frame_vectored(&mut splices.io_slices(&self.buf));
        for b in batches.iter_mut() {
            b.attempts += 1;
            if b.attempts > 1 {
                shared.metrics.retry();
            }
        }
        if let Err(e) = written {
            // Part of the request may have reached the broker: its batches
            // may be in the log. The connection is mid-frame: drop it.
            log::warn!("writing to broker {} failed: {e}", self.id);
            self.in_flight.push_back(InFlight {
                correlation,
                version,
                sent: now,
                deadline: now,
                batches,
                topic_ids,
            });
            self.connection_lost(&format!("write failed: {e}"));
            return;
        }
        shared.metrics.request_written(&batches, frame_len, now, &self.node);
        if cfg.acks == 0 {
            shared.metrics.request_done();
            // No response will come: written is all we will ever know.
            let written_us = now_micros();
            for b in batches {
                shared.acc.finalize(b.queue, b.ordinal);
                let times = b.times(None, written_us);
                finish(&shared, b, Resolution::Acked { base_offset: None, log_append_time: None, times });
            }
            return;
        }
        self.in_flight.push_back(InFlight {
            correlation,
            version,
            sent: now,
            deadline: now + cfg.request_timeout,
            batches,
            topic_ids,
        });
    }
}
