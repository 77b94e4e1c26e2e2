//! Unit tests of the cluster view and the metadata thread's pure parts.

use super::*;
use crate::protocol::messages::metadata::{MetadataBroker, PartitionMetadata, TopicMetadata};
use std::time::Duration;

fn response(topic: &str, indexes: &[i32]) -> MetadataResponse {
    MetadataResponse {
        brokers: vec![MetadataBroker { node_id: 1, host: "127.0.0.1".into(), port: 9092, rack: None }],
        topics: vec![TopicMetadata {
            name: Some(topic.into()),
            partitions: indexes
                .iter()
                .map(|&i| PartitionMetadata { partition_index: i, leader_id: 1, ..Default::default() })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn count(m: &Metadata, topic: &str) -> Option<usize> {
    m.topic(topic).map(|t| t.partitions.len())
}

#[test]
fn partition_count_follows_the_cluster_down_and_up() {
    let (m, acc) = (Metadata::new(), Accumulator::new(1024, 1 << 20, Duration::from_secs(1)));
    m.apply(&acc, &response("t", &[0, 1, 2, 3, 4, 5]), &[]);
    let q5 = m.topic("t").unwrap().partitions[5].queue;
    let view = m.apply(&acc, &response("t", &[1, 0]), &[]);
    assert_eq!(count(&m, "t"), Some(2), "the count shrinks with the topic");
    let retired: Vec<i32> = view.retired.iter().map(|(_, _, p)| *p).collect();
    assert_eq!(retired.len(), 4);
    assert!(retired.iter().all(|p| (2..6).contains(p)), "{retired:?}");
    let view = m.apply(&acc, &response("t", &[0, 1, 2, 3, 4, 5, 6, 7]), &[]);
    assert_eq!(count(&m, "t"), Some(8));
    assert!(view.retired.is_empty());
    assert_eq!(
        m.topic("t").unwrap().partitions[5].queue,
        q5,
        "a partition that comes back gets its queue back"
    );
}

#[test]
fn a_topic_listed_without_partitions_is_known_with_none() {
    let (m, acc) = (Metadata::new(), Accumulator::new(1024, 1 << 20, Duration::from_secs(1)));
    m.apply(&acc, &response("t", &[]), &[]);
    assert_eq!(count(&m, "t"), Some(0));
    m.apply(&acc, &response("t", &[0, 1]), &[]);
    assert_eq!(count(&m, "t"), Some(2));
}

#[test]
fn nonsense_partition_indexes_are_rejected_without_allocating() {
    let (m, acc) = (Metadata::new(), Accumulator::new(1024, 1 << 20, Duration::from_secs(1)));
    for bad in [vec![100_000_000], vec![i32::MAX], vec![-1], vec![0, 0], vec![0, 2]] {
        m.apply(&acc, &response("t", &bad), &[]);
        assert_eq!(count(&m, "t"), None, "{bad:?} accepted");
    }
    assert!(m.queues.lock().get("t").is_none_or(|q| q.is_empty()), "queues allocated for nonsense");
    // Known topic: a nonsense answer keeps what was known.
    m.apply(&acc, &response("t", &[0, 1]), &[]);
    m.apply(&acc, &response("t", &[0, 1_000_000_000]), &[]);
    assert_eq!(count(&m, "t"), Some(2));
}

#[test]
fn leader_hints_move_a_partition_only_forward() {
    let (m, acc) = (Metadata::new(), Accumulator::new(1024, 1 << 20, Duration::from_secs(1)));
    let mut r = response("t", &[0]);
    r.topics[0].partitions[0].leader_epoch = 5;
    m.apply(&acc, &r, &[]);
    let leader = |m: &Metadata| {
        let p = m.topic("t").unwrap().partitions[0];
        (p.leader, p.leader_epoch)
    };
    assert!(!m.apply_leader_hint("t", 0, 2, 4, Some(("h".into(), 1))), "an older epoch is ignored");
    assert!(!m.apply_leader_hint("t", 0, 2, 6, None), "an unknown broker needs its endpoint");
    assert!(!m.apply_leader_hint("t", 7, 2, 6, Some(("h".into(), 1))), "no such partition");
    assert!(m.apply_leader_hint("t", 0, 2, 6, Some(("h2".into(), 9092))));
    assert_eq!(leader(&m), (2, 6));
    assert_eq!(m.view().brokers[&2], ("h2".to_string(), 9092));
    // A lagging metadata answer (epoch 5) does not move it back.
    m.apply(&acc, &r, &[]);
    assert_eq!(leader(&m), (1, 5), "broker 2 is not in that answer's broker list");
    let mut r2 = r.clone();
    r2.brokers.push(MetadataBroker { node_id: 2, host: "h2".into(), port: 9092, rack: None });
    assert!(m.apply_leader_hint("t", 0, 2, 6, Some(("h2".into(), 9092))));
    m.apply(&acc, &r2, &[]);
    assert_eq!(leader(&m), (2, 6), "the newer epoch from the hint stays");
}

#[test]
fn topic_ids_follow_the_answers() {
    let (m, acc) = (Metadata::new(), Accumulator::new(1024, 1 << 20, Duration::from_secs(1)));
    let mut r = response("t", &[0]);
    r.topics[0].topic_id = [7; 16];
    m.apply(&acc, &r, &[]);
    assert_eq!(m.topic("t").unwrap().known_id(), Some([7; 16]));
    // A leader hint keeps it.
    assert!(m.apply_leader_hint("t", 0, 2, 1, Some(("h".into(), 1))));
    assert_eq!(m.topic("t").unwrap().known_id(), Some([7; 16]));
    // The topic gone for a while (an error): kept, leaderless.
    let mut gone = r.clone();
    gone.topics[0].error_code = KafkaCode::UNKNOWN_TOPIC_OR_PARTITION.0;
    gone.topics[0].topic_id = NIL_TOPIC_ID;
    m.apply(&acc, &gone, &[]);
    assert_eq!(m.topic("t").unwrap().known_id(), Some([7; 16]));
    // Created again: a new id.
    r.topics[0].topic_id = [8; 16];
    m.apply(&acc, &r, &[]);
    assert_eq!(m.topic("t").unwrap().known_id(), Some([8; 16]));
    // An answer below Metadata v10 carries none: Produce falls back to v12.
    m.apply(&acc, &response("t", &[0]), &[]);
    assert_eq!(m.topic("t").unwrap().known_id(), None);
}

#[test]
fn idle_topics_leave_the_view_and_keep_their_queues() {
    let (m, acc) = (Metadata::new(), Accumulator::new(1024, 1 << 20, Duration::from_secs(1)));
    m.apply(&acc, &response("t", &[0]), &[]);
    let q = m.topic("t").unwrap().partitions[0].queue;
    m.apply(&acc, &MetadataResponse::default(), &[Arc::from("t")]);
    assert_eq!(count(&m, "t"), None);
    m.apply(&acc, &response("t", &[0]), &[]);
    assert_eq!(m.topic("t").unwrap().partitions[0].queue, q);
}
