//! Unit tests of `partitions`.

use super::super::test_support::{batch, cluster, idem, produce, spec};
use super::*;
use crate::protocol::messages::create_topics::CreatableReplicaAssignment;
use crate::protocol::record_batch::BatchParams;

#[test]
fn topic_names() {
    assert!(validate_topic_name("orders.v1_x-y").is_ok());
    for bad in ["", ".", "..", "a b", "ü", &"x".repeat(250)] {
        assert_eq!(validate_topic_name(bad).unwrap_err().0, KafkaCode::INVALID_TOPIC_EXCEPTION, "{bad:?}");
    }
}

#[test]
fn create_spreads_leaders_round_robin() {
    let mut c = cluster(3);
    c.create_topic(&spec("t", 4, 2), false, false).unwrap();
    let leaders: Vec<_> = (0..4).map(|p| c.leader("t", p).unwrap().0).collect();
    assert_eq!(leaders, [1, 2, 3, 1]);
    assert_eq!(c.partition("t", 2).unwrap().replicas, [3, 1]);
    assert_eq!(
        c.create_topic(&spec("t", 1, 1), false, false).unwrap_err().0,
        KafkaCode::TOPIC_ALREADY_EXISTS
    );
    assert_eq!(c.create_topic(&spec("u", 0, 1), false, false).unwrap_err().0, KafkaCode::INVALID_PARTITIONS);
    assert_eq!(
        c.create_topic(&spec("u", 1, 4), false, false).unwrap_err().0,
        KafkaCode::INVALID_REPLICATION_FACTOR
    );
    assert_eq!(
        c.create_topic(&spec("u", -1, -1), false, false).unwrap_err().0,
        KafkaCode::INVALID_PARTITIONS
    );
    assert_eq!(c.create_topic(&spec("u", -1, -1), true, true).unwrap().1, 1);
    assert!(c.partition_count("u").is_none(), "validate_only creates nothing");
}

#[test]
fn manual_assignments_are_checked() {
    let mut c = cluster(3);
    let mut s = spec("m", -1, -1);
    s.assignments = vec![
        CreatableReplicaAssignment { partition_index: 1, broker_ids: vec![3, 1] },
        CreatableReplicaAssignment { partition_index: 0, broker_ids: vec![2, 3] },
    ];
    assert_eq!(c.create_topic(&s, false, false).unwrap().1, 2);
    assert_eq!(c.leader("m", 0), Some((2, 0)));
    assert_eq!(c.leader("m", 1), Some((3, 0)));
    for bad in
        [vec![(0, vec![9])], vec![(0, vec![1, 1])], vec![(1, vec![1])], vec![(0, vec![1]), (1, vec![1, 2])]]
    {
        let mut s = spec("n", -1, -1);
        s.assignments = bad
            .into_iter()
            .map(|(p, b)| CreatableReplicaAssignment { partition_index: p, broker_ids: b })
            .collect();
        assert_eq!(c.create_topic(&s, false, false).unwrap_err().0, KafkaCode::INVALID_REPLICA_ASSIGNMENT);
    }
}

#[test]
fn produce_validates_and_appends() {
    let mut c = cluster(2);
    c.create_topic(&spec("t", 1, 1), false, false).unwrap();
    let r = produce(&mut c, 1, batch(3, BatchParams::default()));
    assert_eq!((r.error_code, r.base_offset, r.log_start_offset), (0, 0, 0));
    let r = produce(&mut c, 1, batch(2, BatchParams::default()));
    assert_eq!((r.error_code, r.base_offset), (0, 3));
    assert_eq!(c.log_end_offset("t", 0), Some(5));
    assert_eq!(
        produce(&mut c, 2, batch(1, BatchParams::default())).error_code,
        KafkaCode::NOT_LEADER_OR_FOLLOWER.0
    );

    let mut corrupt = batch(1, BatchParams::default());
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert_eq!(produce(&mut c, 1, corrupt).error_code, KafkaCode::CORRUPT_MESSAGE.0);
    let mut two = batch(1, BatchParams::default());
    two.extend(batch(1, BatchParams::default()));
    assert_eq!(produce(&mut c, 1, two).error_code, KafkaCode::INVALID_RECORD.0);
    assert_eq!(produce(&mut c, 1, Vec::new()).error_code, KafkaCode::INVALID_RECORD.0);
    assert_eq!(produce(&mut c, 1, vec![0; 5]).error_code, KafkaCode::CORRUPT_MESSAGE.0);
    let txn = BatchParams { is_transactional: true, ..Default::default() };
    assert_eq!(produce(&mut c, 1, batch(1, txn)).error_code, KafkaCode::INVALID_RECORD.0, "no producer id");
    // Without a transactional id in the request, nothing verifies it.
    let txn = BatchParams { is_transactional: true, ..idem(5, 0, 0) };
    assert_eq!(produce(&mut c, 1, batch(1, txn)).error_code, KafkaCode::INVALID_TXN_STATE.0);
    assert_eq!(c.log_end_offset("t", 0), Some(5), "nothing rejected was appended");

    c.settings.max_message_bytes = 100;
    assert_eq!(
        produce(&mut c, 1, batch(10, BatchParams::default())).error_code,
        KafkaCode::MESSAGE_TOO_LARGE.0
    );
}

#[test]
fn produce_idempotence_and_duplicates() {
    let mut c = cluster(1);
    c.create_topic(&spec("t", 1, 1), false, false).unwrap();
    assert_eq!(produce(&mut c, 1, batch(2, idem(7, 0, 0))).base_offset, 0);
    assert_eq!(produce(&mut c, 1, batch(1, BatchParams::default())).base_offset, 2);
    assert_eq!(produce(&mut c, 1, batch(3, idem(7, 0, 2))).base_offset, 3);
    let dup = produce(&mut c, 1, batch(2, idem(7, 0, 0)));
    assert_eq!((dup.error_code, dup.base_offset), (0, 0));
    c.settings.duplicate_answer = DuplicateAnswer::DuplicateSequenceNumber;
    let dup = produce(&mut c, 1, batch(3, idem(7, 0, 2)));
    assert_eq!((dup.error_code, dup.base_offset), (KafkaCode::DUPLICATE_SEQUENCE_NUMBER.0, 3));
    assert_eq!(
        produce(&mut c, 1, batch(1, idem(7, 0, 9))).error_code,
        KafkaCode::OUT_OF_ORDER_SEQUENCE_NUMBER.0
    );
    assert_eq!(c.log_end_offset("t", 0), Some(6));
    let recs = c.records("t", 0);
    assert_eq!(recs.iter().map(|r| r.sequence).collect::<Vec<_>>(), [0, 1, -1, 2, 3, 4]);
    assert_eq!(recs[4].offset, 4);
    assert_eq!(recs[4].batch_base_offset, 3);
    assert_eq!(recs[1].timestamp, 1_001);
}

#[test]
fn topic_ids_are_unique_and_v4_shaped() {
    let a = topic_id(1);
    let b = topic_id(2);
    assert_ne!(a, b);
    assert_ne!(a, NIL_TOPIC_ID);
    assert_eq!(a[6] >> 4, 4);
}

#[test]
fn markers_end_transactions_move_the_lso_and_fill_the_aborted_index() {
    let mut c = cluster(1);
    c.create_topic(&spec("t", 1, 1), false, false).unwrap();
    fn part(c: &mut ClusterState) -> &mut Partition {
        c.partition_mut("t", 0).unwrap()
    }
    let txn = |pid, seq| BatchParams { is_transactional: true, ..idem(pid, 0, seq) };
    // Write straight to the log: the coordinator's checks are tested elsewhere.
    let append = |c: &mut ClusterState, params: BatchParams| {
        let p = part(c);
        let mut b = RecordBatch::decode(&batch(2, params), DECOMPRESSED_LIMIT).unwrap().0;
        b.base_offset = p.log_end_offset;
        let meta = BatchMeta {
            first_seq: b.base_sequence,
            last_seq: b.base_sequence + 1,
            base_offset: b.base_offset,
            append_time: -1,
        };
        p.producers.append(b.producer_id, 0, meta, b.is_transactional);
        p.log_end_offset += 2;
        p.log.push(StoredBatch { batch: b, append_time: -1 });
    };
    append(&mut c, idem(1, 0, 0)); // 0-1, plain
    append(&mut c, txn(2, 0)); // 2-3, producer 2
    append(&mut c, txn(3, 0)); // 4-5, producer 3
    assert_eq!(c.last_stable_offset("t", 0), Some(2));
    assert_eq!(c.records_read_committed("t", 0).len(), 2);
    part(&mut c).append_marker(2, 0, false, 7); // 6: abort producer 2
    assert_eq!(c.last_stable_offset("t", 0), Some(4));
    part(&mut c).append_marker(3, 0, true, 7); // 7: commit producer 3
    assert_eq!(c.last_stable_offset("t", 0), Some(8));
    let committed: Vec<i64> = c.records_read_committed("t", 0).iter().map(|r| r.offset).collect();
    assert_eq!(committed, [0, 1, 4, 5]);
    assert_eq!(c.records("t", 0).len(), 6, "markers are not records");
    assert!(c.records("t", 0)[2].is_transactional);
    let markers = c.control_markers("t", 0);
    assert_eq!(
        markers.iter().map(|m| (m.offset, m.producer_id, m.commit)).collect::<Vec<_>>(),
        [(6, 2, false), (7, 3, true)]
    );
    assert_eq!(markers[0].coordinator_epoch, 7);
    assert_eq!(
        c.aborted_transactions("t", 0),
        [MockAbortedTransaction { producer_id: 2, first_offset: 2, last_offset: 6 }]
    );
    // The control batch is what Kafka writes.
    let stored = &part(&mut c).log[3].batch;
    assert!(stored.is_control && stored.is_transactional);
    assert_eq!(stored.records[0].key.as_deref(), Some(&[0, 0, 0, 0][..]));
    assert_eq!(stored.records[0].value.as_deref(), Some(&[0, 0, 0, 0, 0, 7][..]));
    // A marker for a producer with nothing here goes in the log but not the index.
    part(&mut c).append_marker(9, 0, false, 7);
    assert_eq!(c.aborted_transactions("t", 0).len(), 1);
    assert_eq!(c.log_end_offset("t", 0), Some(9));
}
