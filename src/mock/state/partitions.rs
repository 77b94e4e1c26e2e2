//! Topics, partitions and their logs, and what Produce does to them:
//! validation, offsets, producer states (see [`idempotence`](super::super::idempotence)).

use super::{now_ms, ClusterState, Rejection, DECOMPRESSED_LIMIT, HOST, MAX_PARTITIONS, MAX_TOPIC_NAME_LEN};
use crate::mock::idempotence::{add_sequence, BatchMeta, ProducerStates, Verdict};
use crate::mock::{DuplicateAnswer, StoredRecord};
use crate::protocol::compression::Compression;
use crate::protocol::error::DecodeError;
use crate::protocol::messages::create_topics::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use crate::protocol::messages::metadata::NIL_TOPIC_ID;
use crate::protocol::messages::produce::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceData, PartitionProduceResponse, ProduceRequest,
    ProduceResponse, TopicProduceResponse, TOPIC_IDS_FROM,
};
use crate::protocol::primitives::Uuid;
use crate::protocol::record_batch::{
    encode_end_txn_marker_batch, ControlRecordType, EndTxnMarker, RecordBatch, LOG_OVERHEAD, MIN_BATCH_LENGTH,
};
use crate::KafkaCode;

/// A transaction marker (control batch) in a partition's log, for tests
/// ([`MockCluster::control_markers`](crate::mock::MockCluster::control_markers)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MockMarker {
    /// The marker's offset.
    pub offset: i64,
    /// The producer id whose transaction it ends.
    pub producer_id: i64,
    /// The epoch it carries (the bumped one after a fence or with
    /// transactions v2).
    pub producer_epoch: i16,
    /// Commit (`true`) or abort.
    pub commit: bool,
    /// The coordinator epoch (bumped by
    /// [`MockCluster::move_transaction_coordinator`](crate::mock::MockCluster::move_transaction_coordinator)).
    pub coordinator_epoch: i32,
}

/// An aborted transaction in a partition's index, as Fetch lists it for
/// read_committed consumers
/// ([`MockCluster::aborted_transactions`](crate::mock::MockCluster::aborted_transactions)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MockAbortedTransaction {
    /// The producer whose records in the range are aborted.
    pub producer_id: i64,
    /// The offset of the transaction's first record here.
    pub first_offset: i64,
    /// The offset of its abort marker.
    pub last_offset: i64,
}

/// One appended batch, offsets assigned.
#[derive(Debug, Clone)]
pub(super) struct StoredBatch {
    /// `base_offset` is the broker-assigned offset of the first record.
    batch: RecordBatch,
    /// The append time, or -1 for create-time topics.
    append_time: i64,
}

#[derive(Debug, Clone)]
pub(super) struct Partition {
    pub(super) leader: i32,
    pub(super) leader_epoch: i32,
    pub(super) replicas: Vec<i32>,
    log: Vec<StoredBatch>,
    log_end_offset: i64,
    producers: ProducerStates,
    /// Aborted transactions, in marker order.
    aborted: Vec<MockAbortedTransaction>,
}

impl Partition {
    fn new(replicas: Vec<i32>) -> Self {
        Self {
            leader: replicas[0],
            leader_epoch: 0,
            replicas,
            log: Vec::new(),
            log_end_offset: 0,
            producers: ProducerStates::default(),
            aborted: Vec::new(),
        }
    }

    /// Kafka's last stable offset: the first offset of the oldest open
    /// transaction, else the high watermark (the log end: the mock does not
    /// replicate).
    fn last_stable_offset(&self) -> i64 {
        self.producers.first_unstable_offset().unwrap_or(self.log_end_offset)
    }

    /// Appends a transaction marker for `producer_id` at the log end and
    /// closes its transaction here (Kafka's `appendEndTxnMarker`); an abort
    /// of a transaction that wrote data goes into the aborted index.
    fn append_marker(&mut self, producer_id: i64, epoch: i16, commit: bool, coordinator_epoch: i32) {
        let offset = self.log_end_offset;
        let kind = if commit { ControlRecordType::Commit } else { ControlRecordType::Abort };
        let marker = EndTxnMarker { kind, coordinator_epoch };
        let bytes =
            encode_end_txn_marker_batch(producer_id, epoch, offset, self.leader_epoch, now_ms(), &marker);
        let batch = match RecordBatch::decode(&bytes, DECOMPRESSED_LIMIT) {
            Ok((batch, _)) => batch,
            Err(e) => {
                // Cannot happen: the codec decodes what it encodes.
                log::error!("mock: a transaction marker batch does not decode: {e}");
                return;
            }
        };
        self.log_end_offset += 1;
        if let Some(first_offset) = self.producers.end_transaction(producer_id, epoch, coordinator_epoch) {
            if !commit {
                self.aborted.push(MockAbortedTransaction { producer_id, first_offset, last_offset: offset });
            }
        }
        self.log.push(StoredBatch { batch, append_time: -1 });
    }

    /// Whether a data record at `offset` of `producer_id` was aborted.
    fn is_aborted(&self, producer_id: i64, offset: i64) -> bool {
        self.aborted
            .iter()
            .any(|a| a.producer_id == producer_id && (a.first_offset..a.last_offset).contains(&offset))
    }
}

#[derive(Debug, Clone)]
pub(super) struct Topic {
    pub(super) id: Uuid,
    pub(super) partitions: Vec<Partition>,
    /// The topic's `max.message.bytes`, if set.
    pub(super) max_message_bytes: Option<usize>,
    /// `message.timestamp.type=LogAppendTime`.
    pub(super) log_append_time: bool,
}

impl ClusterState {
    // ---- admin, from the test's side -------------------------------------

    /// Creates a topic, checked as CreateTopics checks it. With
    /// `allow_defaults`, -1 partitions or replication mean the broker default (1).
    pub(crate) fn create_topic(
        &mut self,
        spec: &CreatableTopic,
        allow_defaults: bool,
        validate_only: bool,
    ) -> Result<(Uuid, i32, i16), Rejection> {
        validate_topic_name(&spec.name)?;
        if self.topics.contains_key(&spec.name) {
            return Err((KafkaCode::TOPIC_ALREADY_EXISTS, format!("topic '{}' already exists", spec.name)));
        }
        let ids = self.broker_ids();
        let assignment = if spec.assignments.is_empty() {
            let partitions = match spec.num_partitions {
                -1 if allow_defaults => 1,
                p if p <= 0 => {
                    return Err((
                        KafkaCode::INVALID_PARTITIONS,
                        format!("number of partitions {p} must be positive"),
                    ))
                }
                p if p > MAX_PARTITIONS => {
                    return Err((
                        KafkaCode::INVALID_PARTITIONS,
                        format!("number of partitions {p} is above the mock's limit of {MAX_PARTITIONS}"),
                    ))
                }
                p => p,
            };
            let replication = match spec.replication_factor {
                -1 if allow_defaults => 1,
                r if r <= 0 || r as usize > ids.len() => {
                    return Err((
                        KafkaCode::INVALID_REPLICATION_FACTOR,
                        format!("replication factor {r} must be between 1 and the {} brokers", ids.len()),
                    ))
                }
                r => r,
            };
            // Round-robin: partition p's replicas start at broker p (mod n).
            (0..partitions as usize)
                .map(|p| (0..replication as usize).map(|j| ids[(p + j) % ids.len()]).collect())
                .collect()
        } else {
            if spec.num_partitions != -1 || spec.replication_factor != -1 {
                return Err((
                    KafkaCode::INVALID_REQUEST,
                    "with a manual assignment, partitions and replication factor must be -1".into(),
                ));
            }
            manual_assignment(&spec.assignments, &ids)?
        };
        let (max_message_bytes, log_append_time) = parse_topic_configs(&spec.configs)?;
        let partitions = assignment.len() as i32;
        let replication = assignment.first().map_or(0, Vec::len) as i16;
        if validate_only {
            return Ok((NIL_TOPIC_ID, partitions, replication));
        }
        self.topics_created += 1;
        let id = topic_id(self.topics_created);
        let partitions_vec = assignment.into_iter().map(Partition::new).collect();
        self.topics.insert(
            spec.name.clone(),
            Topic { id, partitions: partitions_vec, max_message_bytes, log_append_time },
        );
        Ok((id, partitions, replication))
    }

    /// Grows a topic to `count` partitions (as Kafka's CreatePartitions does;
    /// partitions are never removed). New partitions' replicas are assigned
    /// round-robin like those of a new topic, with the topic's replication.
    pub(crate) fn add_partitions(&mut self, name: &str, count: i32) -> Result<(), Rejection> {
        let ids = self.broker_ids();
        let topic = self.topics.get_mut(name).ok_or_else(|| unknown_topic(name))?;
        let have = topic.partitions.len();
        if count as usize <= have || count > MAX_PARTITIONS {
            return Err((
                KafkaCode::INVALID_PARTITIONS,
                format!("topic '{name}' has {have} partitions; cannot change to {count}"),
            ));
        }
        let replication = topic.partitions.first().map_or(1, |p| p.replicas.len());
        for p in have..count as usize {
            let replicas: Vec<i32> = (0..replication).map(|j| ids[(p + j) % ids.len()]).collect();
            topic.partitions.push(Partition::new(replicas));
        }
        Ok(())
    }

    /// Deletes a topic with its records and producer states.
    pub(crate) fn delete_topic(&mut self, name: &str) -> Result<(), Rejection> {
        match self.topics.remove(name) {
            Some(_) => Ok(()),
            None => Err(unknown_topic(name)),
        }
    }

    pub(crate) fn topic_names(&self) -> Vec<String> {
        self.topics.keys().cloned().collect()
    }

    pub(crate) fn partition_count(&self, topic: &str) -> Option<i32> {
        self.topics.get(topic).map(|t| t.partitions.len() as i32)
    }

    pub(super) fn partition(&self, topic: &str, partition: i32) -> Option<&Partition> {
        self.topics.get(topic)?.partitions.get(usize::try_from(partition).ok()?)
    }

    fn partition_mut(&mut self, topic: &str, partition: i32) -> Option<&mut Partition> {
        self.topics.get_mut(topic)?.partitions.get_mut(usize::try_from(partition).ok()?)
    }

    pub(crate) fn leader(&self, topic: &str, partition: i32) -> Option<(i32, i32)> {
        self.partition(topic, partition).map(|p| (p.leader, p.leader_epoch))
    }

    pub(crate) fn log_end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.partition(topic, partition).map(|p| p.log_end_offset)
    }

    /// Every data record of a partition (control batches left out), oldest first.
    pub(crate) fn records(&self, topic: &str, partition: i32) -> Vec<StoredRecord> {
        self.partition(topic, partition).map_or_else(Vec::new, |p| data_records(p, |_, _| true))
    }

    /// What a read_committed consumer reads: the data records below the last
    /// stable offset, without those of aborted transactions.
    pub(crate) fn records_read_committed(&self, topic: &str, partition: i32) -> Vec<StoredRecord> {
        let Some(p) = self.partition(topic, partition) else { return Vec::new() };
        let lso = p.last_stable_offset();
        data_records(p, |b, offset| {
            offset < lso && !(b.is_transactional && p.is_aborted(b.producer_id, offset))
        })
    }

    pub(crate) fn last_stable_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.partition(topic, partition).map(Partition::last_stable_offset)
    }

    /// The transaction markers of a partition, by offset.
    pub(crate) fn control_markers(&self, topic: &str, partition: i32) -> Vec<MockMarker> {
        let Some(p) = self.partition(topic, partition) else { return Vec::new() };
        p.log
            .iter()
            .filter(|s| s.batch.is_control)
            .filter_map(|s| {
                let marker = EndTxnMarker::from_record(s.batch.records.first()?).ok()?;
                Some(MockMarker {
                    offset: s.batch.base_offset,
                    producer_id: s.batch.producer_id,
                    producer_epoch: s.batch.producer_epoch,
                    commit: marker.kind == ControlRecordType::Commit,
                    coordinator_epoch: marker.coordinator_epoch,
                })
            })
            .collect()
    }

    pub(crate) fn aborted_transactions(&self, topic: &str, partition: i32) -> Vec<MockAbortedTransaction> {
        self.partition(topic, partition).map_or_else(Vec::new, |p| p.aborted.clone())
    }

    /// Writes a transaction marker to a partition (nothing if the topic was
    /// deleted meanwhile).
    pub(super) fn write_marker(
        &mut self,
        (topic, partition): &(String, i32),
        producer_id: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) {
        if let Some(p) = self.partition_mut(topic, *partition) {
            p.append_marker(producer_id, epoch, commit, coordinator_epoch);
        }
    }

    /// Makes `new_leader` the partition's leader and bumps the leader epoch.
    /// A leader outside the replica list joins it, first.
    pub(crate) fn move_leader(
        &mut self,
        topic: &str,
        partition: i32,
        new_leader: i32,
    ) -> Result<i32, Rejection> {
        if !self.has_broker(new_leader) {
            return Err((KafkaCode::BROKER_NOT_AVAILABLE, format!("no broker {new_leader} in the cluster")));
        }
        let p = self.partition_mut(topic, partition).ok_or_else(|| unknown_partition(topic, partition))?;
        p.leader = new_leader;
        p.leader_epoch += 1;
        if !p.replicas.contains(&new_leader) {
            p.replicas.insert(0, new_leader);
        }
        Ok(p.leader_epoch)
    }

    // ---- Produce ---------------------------------------------------------

    /// Answers a Produce request; the flag says whether any partition failed.
    pub(super) fn produce(
        &mut self,
        broker: i32,
        version: i16,
        req: &ProduceRequest,
        error: Option<KafkaCode>,
    ) -> (ProduceResponse, bool) {
        let acks_valid = (-1..=1).contains(&req.acks);
        let mut resp =
            ProduceResponse { throttle_time_ms: self.settings.produce_throttle_ms, ..Default::default() };
        let mut failed = false;
        let mut new_leaders = Vec::new();
        for t in &req.topic_data {
            // v13 names the topic by id (KIP-516): look it up as Kafka does;
            // an id the cluster does not know (or nil) is UNKNOWN_TOPIC_ID
            // for every partition of the topic.
            let name = if version >= TOPIC_IDS_FROM {
                self.topics
                    .iter()
                    .find(|(_, topic)| topic.id == t.topic_id && t.topic_id != NIL_TOPIC_ID)
                    .map(|(n, _)| n.clone())
            } else {
                Some(t.name.clone())
            };
            // The answer names the topic as the request did (the name below
            // v13, the id from v13; the other field is not encoded).
            let mut tr = TopicProduceResponse {
                name: t.name.clone(),
                topic_id: t.topic_id,
                partition_responses: Vec::new(),
            };
            for p in &t.partition_data {
                let r = if let Some(code) = error {
                    partition_error(p.index, code, "injected error")
                } else if !acks_valid {
                    partition_error(
                        p.index,
                        KafkaCode::INVALID_REQUIRED_ACKS,
                        format!("acks {} is not one of 0, 1, -1", req.acks),
                    )
                } else if let Some(name) = &name {
                    self.produce_partition(broker, version, req.transactional_id.as_deref(), name, p)
                } else {
                    partition_error(p.index, KafkaCode::UNKNOWN_TOPIC_ID, "unknown topic id")
                };
                failed |= r.error_code != 0;
                if r.current_leader.leader_id >= 0 && !new_leaders.contains(&r.current_leader.leader_id) {
                    new_leaders.push(r.current_leader.leader_id);
                }
                tr.partition_responses.push(r);
            }
            resp.responses.push(tr);
        }
        if version >= 10 {
            resp.node_endpoints = new_leaders
                .iter()
                .filter_map(|id| self.brokers.iter().find(|b| b.id == *id))
                .map(|b| NodeEndpoint {
                    node_id: b.id,
                    host: HOST.to_owned(),
                    port: i32::from(b.port),
                    rack: None,
                })
                .collect();
        }
        (resp, failed)
    }

    /// Appends one partition's batch of a Produce request, checked in
    /// Kafka's order: the partition and its leader, the batch, the
    /// transaction (KIP-890: a transactional batch that opens the producer's
    /// transaction here must belong to its transaction, see
    /// [`verify_transactional_write`](Self::verify_transactional_write)),
    /// then the producer's epoch and sequence.
    pub(super) fn produce_partition(
        &mut self,
        broker: i32,
        version: i16,
        transactional_id: Option<&str>,
        topic_name: &str,
        data: &PartitionProduceData,
    ) -> PartitionProduceResponse {
        let index = data.index;
        let Some(topic) = self.topics.get(topic_name) else {
            return partition_error(index, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, "unknown topic");
        };
        let max_bytes = topic.max_message_bytes.unwrap_or(self.settings.max_message_bytes);
        let log_append_time = topic.log_append_time;
        let Some(part) = usize::try_from(index).ok().and_then(|i| topic.partitions.get(i)) else {
            return partition_error(index, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, "unknown partition");
        };
        if part.leader != broker {
            let mut r = partition_error(
                index,
                KafkaCode::NOT_LEADER_OR_FOLLOWER,
                format!("broker {broker} is not the leader; broker {} is", part.leader),
            );
            if version >= 10 {
                r.current_leader =
                    LeaderIdAndEpoch { leader_id: part.leader, leader_epoch: part.leader_epoch };
            }
            return r;
        }
        let mut batch = match validate_batch(data.records.as_deref(), version, max_bytes) {
            Ok(b) => b,
            Err((code, why)) => return partition_error(index, code, why),
        };
        let (pid, epoch) = (batch.producer_id, batch.producer_epoch);
        if batch.is_transactional {
            if pid < 0 {
                return partition_error(
                    index,
                    KafkaCode::INVALID_RECORD,
                    "a transactional batch needs a producer id",
                );
            }
            // Kafka verifies only the batch that opens the transaction here.
            if part.producers.open_transaction(pid).is_none() {
                let tp = (topic_name.to_owned(), index);
                if let Err((code, why)) =
                    self.verify_transactional_write(version, transactional_id, &tp, pid, epoch)
                {
                    return partition_error(index, code, why);
                }
            }
        }
        let settings = &self.settings;
        let Some(part) = self.topics.get_mut(topic_name).and_then(|t| t.partitions.get_mut(index as usize))
        else {
            return partition_error(index, KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, "unknown partition");
        };
        let last_seq = add_sequence(batch.base_sequence, batch.last_offset_delta);
        let append_time = if log_append_time { now_ms() } else { -1 };
        if pid >= 0 {
            match part.producers.check(
                pid,
                epoch,
                batch.base_sequence,
                last_seq,
                settings.legacy_unknown_producer_id,
            ) {
                Verdict::Append => {}
                Verdict::Duplicate(meta) => {
                    let code = match settings.duplicate_answer {
                        DuplicateAnswer::Success => KafkaCode::NONE,
                        DuplicateAnswer::DuplicateSequenceNumber => KafkaCode::DUPLICATE_SEQUENCE_NUMBER,
                    };
                    return PartitionProduceResponse {
                        index,
                        error_code: code.0,
                        base_offset: meta.base_offset,
                        log_append_time_ms: meta.append_time,
                        log_start_offset: 0,
                        ..Default::default()
                    };
                }
                Verdict::Reject(code, why) => return partition_error(index, code, why),
            }
            if !batch.is_transactional && part.producers.open_transaction(pid).is_some() {
                return partition_error(
                    index,
                    KafkaCode::INVALID_TXN_STATE,
                    format!("expected a transactional write from producer {pid}"),
                );
            }
        }
        let base_offset = part.log_end_offset;
        batch.base_offset = base_offset;
        batch.partition_leader_epoch = part.leader_epoch;
        part.log_end_offset += i64::from(batch.last_offset_delta) + 1;
        if pid >= 0 {
            let meta = BatchMeta { first_seq: batch.base_sequence, last_seq, base_offset, append_time };
            part.producers.append(pid, epoch, meta, batch.is_transactional);
        }
        part.log.push(StoredBatch { batch, append_time });
        PartitionProduceResponse {
            index,
            error_code: 0,
            base_offset,
            log_append_time_ms: append_time,
            log_start_offset: 0,
            ..Default::default()
        }
    }
}

/// The data records of `p` whose batch and offset `keep` accepts, oldest first.
fn data_records(p: &Partition, keep: impl Fn(&RecordBatch, i64) -> bool) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    for stored in p.log.iter().filter(|s| !s.batch.is_control) {
        let b = &stored.batch;
        for r in b.records.iter().filter(|r| keep(b, b.offset_of(r))) {
            out.push(StoredRecord {
                offset: b.offset_of(r),
                timestamp: if stored.append_time >= 0 { stored.append_time } else { b.timestamp_of(r) },
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r.headers.clone(),
                producer_id: b.producer_id,
                producer_epoch: b.producer_epoch,
                sequence: if b.base_sequence >= 0 {
                    add_sequence(b.base_sequence, r.offset_delta)
                } else {
                    -1
                },
                batch_base_offset: b.base_offset,
                compression: b.compression,
                is_transactional: b.is_transactional,
            });
        }
    }
    out
}

/// A partition response carrying an error (offsets -1, as Kafka sends them).
pub(super) fn partition_error(
    index: i32,
    code: KafkaCode,
    why: impl Into<String>,
) -> PartitionProduceResponse {
    PartitionProduceResponse {
        index,
        error_code: code.0,
        base_offset: -1,
        log_append_time_ms: -1,
        log_start_offset: -1,
        error_message: Some(why.into()),
        ..Default::default()
    }
}

fn unknown_topic(name: &str) -> Rejection {
    (KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, format!("unknown topic '{name}'"))
}

fn unknown_partition(topic: &str, partition: i32) -> Rejection {
    (KafkaCode::UNKNOWN_TOPIC_OR_PARTITION, format!("unknown partition {topic}-{partition}"))
}

/// Checks a partition's `records` as a Kafka broker checks what a producer
/// sends (`ProduceRequest.validateRecords`, `UnifiedLog.analyzeAndValidateRecords`,
/// `LogValidator`), in the same order, and decodes the one batch.
pub(super) fn validate_batch(
    records: Option<&[u8]>,
    version: i16,
    max_message_bytes: usize,
) -> Result<RecordBatch, Rejection> {
    let bytes = match records {
        None | Some([]) => {
            return Err((
                KafkaCode::INVALID_RECORD,
                "a produce request must carry exactly one record batch".into(),
            ))
        }
        Some(b) => b,
    };
    if bytes.len() < LOG_OVERHEAD {
        return Err((
            KafkaCode::CORRUPT_MESSAGE,
            format!("{} bytes cannot hold a record batch", bytes.len()),
        ));
    }
    let batch_length = i32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if batch_length < MIN_BATCH_LENGTH {
        return Err((KafkaCode::CORRUPT_MESSAGE, format!("batch length {batch_length} is too small")));
    }
    let size = LOG_OVERHEAD + batch_length as usize;
    if size > bytes.len() {
        return Err((
            KafkaCode::CORRUPT_MESSAGE,
            format!("batch claims {size} bytes but only {} were sent", bytes.len()),
        ));
    }
    if size > max_message_bytes {
        return Err((
            KafkaCode::MESSAGE_TOO_LARGE,
            format!("batch of {size} bytes is larger than max.message.bytes {max_message_bytes}"),
        ));
    }
    let (batch, used) = RecordBatch::decode(bytes, DECOMPRESSED_LIMIT).map_err(|e| match e {
        DecodeError::UnsupportedCompression(_) => (KafkaCode::UNSUPPORTED_COMPRESSION_TYPE, e.to_string()),
        e => (KafkaCode::CORRUPT_MESSAGE, format!("corrupt record batch: {e}")),
    })?;
    if used != bytes.len() {
        return Err((
            KafkaCode::INVALID_RECORD,
            "a produce request must carry exactly one record batch".into(),
        ));
    }
    if batch.base_offset != 0 {
        return Err((
            KafkaCode::INVALID_RECORD,
            format!("batch base offset must be 0, not {}", batch.base_offset),
        ));
    }
    if batch.is_control {
        return Err((KafkaCode::INVALID_RECORD, "clients may not send control batches".into()));
    }
    if batch.records.is_empty() {
        return Err((KafkaCode::INVALID_RECORD, "record batch has no records".into()));
    }
    if batch.compression == Compression::Zstd && version < 7 {
        return Err((KafkaCode::UNSUPPORTED_COMPRESSION_TYPE, "zstd needs Produce v7 or later".into()));
    }
    Ok(batch)
}

/// Kafka's topic name rule: 1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub(super) fn validate_topic_name(name: &str) -> Result<(), Rejection> {
    let bad =
        |why: &str| Err((KafkaCode::INVALID_TOPIC_EXCEPTION, format!("invalid topic name '{name}': {why}")));
    if name.is_empty() {
        return bad("empty");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return bad("longer than 249 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return bad("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// Validates a manual replica assignment: partitions 0..n each once, known
/// brokers, no broker twice in a partition, the same replica count everywhere.
fn manual_assignment(
    assignments: &[CreatableReplicaAssignment],
    ids: &[i32],
) -> Result<Vec<Vec<i32>>, Rejection> {
    let bad = |why: String| Err((KafkaCode::INVALID_REPLICA_ASSIGNMENT, why));
    if assignments.len() > MAX_PARTITIONS as usize {
        return Err((KafkaCode::INVALID_PARTITIONS, format!("more than {MAX_PARTITIONS} partitions")));
    }
    let mut out = vec![Vec::new(); assignments.len()];
    for a in assignments {
        let Some(slot) = usize::try_from(a.partition_index).ok().and_then(|i| out.get_mut(i)) else {
            return bad(format!("partition {} is outside 0..{}", a.partition_index, assignments.len()));
        };
        if !slot.is_empty() {
            return bad(format!("partition {} is assigned twice", a.partition_index));
        }
        if a.broker_ids.is_empty() {
            return bad(format!("partition {} has no replicas", a.partition_index));
        }
        for (i, b) in a.broker_ids.iter().enumerate() {
            if !ids.contains(b) {
                return bad(format!("partition {}: unknown broker {b}", a.partition_index));
            }
            if a.broker_ids[..i].contains(b) {
                return bad(format!("partition {}: broker {b} appears twice", a.partition_index));
            }
        }
        slot.clone_from(&a.broker_ids);
    }
    if out.iter().any(|r| r.len() != out[0].len()) {
        return bad("all partitions must have the same number of replicas".into());
    }
    Ok(out)
}

/// Reads the topic configs the mock honours: `max.message.bytes` and
/// `message.timestamp.type`. Other names are accepted and ignored.
fn parse_topic_configs(configs: &[CreatableTopicConfig]) -> Result<(Option<usize>, bool), Rejection> {
    let mut max = None;
    let mut append_time = false;
    for c in configs {
        let value = c.value.as_deref();
        match c.name.as_str() {
            "max.message.bytes" => match value.and_then(|v| v.parse::<usize>().ok()) {
                Some(v) if v <= i32::MAX as usize => max = Some(v),
                _ => return Err((KafkaCode::INVALID_CONFIG, format!("invalid max.message.bytes {value:?}"))),
            },
            "message.timestamp.type" => match value {
                Some("CreateTime") => append_time = false,
                Some("LogAppendTime") => append_time = true,
                _ => {
                    return Err((
                        KafkaCode::INVALID_CONFIG,
                        format!("invalid message.timestamp.type {value:?}"),
                    ))
                }
            },
            _ => {}
        }
    }
    Ok((max, append_time))
}

/// A topic id for the `n`th topic created: unique in the cluster, shaped like
/// a version-4 UUID.
pub(super) fn topic_id(n: u64) -> Uuid {
    // splitmix64, twice, so ids look random but are reproducible.
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&mix(n).to_be_bytes());
    id[8..].copy_from_slice(&n.to_be_bytes());
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

#[cfg(test)]
mod tests;
