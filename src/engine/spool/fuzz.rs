//! The spool's fuzz target body and seeds, reached through
//! `kafka_sync::protocol::fuzzing::spool_segment` (the spool itself is
//! engine-private).

use super::entry::{Entry, FRAME_HEADER_LEN, MAX_ENTRY_LEN};
use super::recover::Fold;
use super::segment::{self, scan_bytes, HEADER_LEN, MAGIC};

/// Scans `data` as a segment with [`scan_bytes`] and checks what it says,
/// then again after making the header and every frame's CRC-32C consistent
/// (so that mutations get past the checksums to the field decoders):
///
/// - the scan stops exactly where its intact prefix ends, with a reason,
///   and only if bytes other than a zero tail are left or the header is bad;
/// - the header and the decoded entries re-encode to exactly that prefix,
///   and each entry decodes alone ([`Entry::decode`]) to itself;
/// - the recovery fold takes the entries without panicking, and what it
///   leaves pending is consistent (records in id order, each kept batch
///   with a pending record of its own).
pub(crate) fn check_segment(data: &[u8]) {
    check_scan(data);
    if let Some(fixed) = with_valid_checksums(data) {
        check_scan(&fixed);
    }
}

fn check_scan(data: &[u8]) {
    let scan = scan_bytes(data);
    let valid = usize::try_from(scan.valid_len).expect("valid_len fits the input");
    assert!(valid <= data.len(), "valid_len {valid} past the input's {}", data.len());
    match &scan.stopped {
        Some(c) => {
            assert_eq!(c.offset, scan.valid_len, "stopped elsewhere than at the end of the intact prefix");
            assert!(!c.reason.is_empty(), "no reason for the stop");
        }
        None => assert!(data[valid..].iter().all(|&b| b == 0), "not stopped, yet non-zero bytes are left"),
    }
    if valid < HEADER_LEN {
        assert!(valid == 0 && scan.entries.is_empty() && scan.stopped.is_some(), "a bad header was taken");
        return;
    }
    let mut again = data[..HEADER_LEN].to_vec();
    for e in &scan.entries {
        let start = again.len();
        e.encode(&mut again);
        let back = Entry::decode(&again[start..]).unwrap_or_else(|err| panic!("{err}: {e:?}"));
        assert_eq!(&back, e, "entry round trip");
    }
    assert!(again == data[..valid], "the entries do not re-encode to the bytes they came from");

    let mut fold = Fold::default();
    for e in scan.entries {
        fold.apply(0, e);
    }
    let folded = fold.finish(1);
    assert!(folded.pending.windows(2).all(|w| w[0].id < w[1].id), "pending records out of id order");
    let ids: Vec<u64> = folded.pending.iter().map(|r| r.id).collect();
    let in_set: Vec<u64> =
        folded.segment_pending[0].ranges().flat_map(|(a, b)| a..=b).take(ids.len() + 1).collect();
    assert_eq!(in_set, ids, "the segment's pending set differs from the pending records");
    for b in &folded.sequenced {
        let has = folded.pending.iter().any(|r| {
            (b.first_id..=b.last_id).contains(&r.id) && r.partition == b.partition && *r.topic == *b.topic
        });
        assert!(has, "a kept batch without a pending record: {b:?}");
    }
}

/// `data` with a good header (magic, version 1, CRC) and each whole frame's
/// CRC-32C recomputed, frame by frame as far as the lengths allow; `None`
/// if shorter than a header.
fn with_valid_checksums(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < HEADER_LEN {
        return None;
    }
    let mut fixed = data.to_vec();
    let first_id = u64::from_be_bytes(fixed[10..18].try_into().ok()?);
    fixed[..HEADER_LEN].copy_from_slice(&segment::header(first_id));
    debug_assert_eq!(&fixed[..8], MAGIC);
    let mut at = HEADER_LEN;
    while let Some(head) = fixed.get(at..at + FRAME_HEADER_LEN) {
        let len = u32::from_be_bytes(head[..4].try_into().ok()?) as usize;
        let end = at + FRAME_HEADER_LEN + len;
        if len == 0 || len > MAX_ENTRY_LEN || end > fixed.len() {
            break;
        }
        let crc = crc32c::crc32c(&fixed[at + FRAME_HEADER_LEN..end]);
        fixed[at + 4..at + 8].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
    Some(fixed)
}

/// How far a scan of `data` gets: the intact entries and why it stopped.
pub(crate) fn scan_summary(data: &[u8]) -> (usize, Option<String>) {
    let scan = scan_bytes(data);
    (scan.entries.len(), scan.stopped.map(|c| format!("at byte {}: {}", c.offset, c.reason)))
}

pub(crate) fn record(id: u64, topic: &str, partition: i32) -> Entry {
    Entry::Record {
        id,
        topic: topic.into(),
        partition,
        timestamp: 1_700_000_000_000 + id as i64,
        key: id.is_multiple_of(2).then(|| format!("key-{id}").into_bytes()),
        value: Some(format!("value {id}").into_bytes()),
        headers: if id.is_multiple_of(3) {
            vec![("trace".into(), Some(vec![1, 2])), ("n".into(), None)]
        } else {
            vec![]
        },
        mark: None,
    }
}

/// `record` with its `mark` set.
pub(crate) fn marked(mut record: Entry, mark: u64) -> Entry {
    if let Entry::Record { mark: m, .. } = &mut record {
        *m = Some(mark);
    }
    record
}

pub(crate) fn sequenced(
    topic: &str,
    partition: i32,
    ids: (u64, u64),
    pid: i64,
    epoch: i16,
    base: i32,
) -> Entry {
    Entry::Sequenced {
        topic: topic.into(),
        partition,
        first_id: ids.0,
        last_id: ids.1,
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: base,
    }
}

pub(crate) fn state(pid: i64, epoch: i16, next: &[(&str, i32, i32)]) -> Entry {
    Entry::ProducerState {
        producer_id: pid,
        producer_epoch: epoch,
        next_sequences: next.iter().map(|&(t, p, s)| (t.to_owned(), p, s)).collect(),
    }
}

pub(crate) fn done(ranges: &[(u64, u64)]) -> Entry {
    Entry::Done { ranges: ranges.to_vec() }
}

/// One entry of every kind, with the corner cases of each field.
pub(crate) fn sample_entries() -> Vec<Entry> {
    vec![
        record(0, "orders", 0),
        record(3, "", -1),
        Entry::Record {
            id: u64::MAX,
            topic: "ünïcödé".into(),
            partition: i32::MAX,
            timestamp: i64::MIN,
            key: Some(vec![]),
            value: None,
            headers: vec![(String::new(), Some(vec![])), ("h".into(), None)],
            mark: Some(u64::MAX),
        },
        marked(record(7, "orders", 1), 0),
        sequenced("orders", 7, (0, u64::MAX), i64::MAX, i16::MIN, i32::MAX),
        sequenced("", 0, (5, 5), -1, -1, -1),
        done(&[]),
        done(&[(0, 0), (3, 9), (10, u64::MAX)]),
        state(-1, -1, &[]),
        state(42, 7, &[("orders", 0, 0), ("orders", 1, i32::MAX), ("other", -1, 5)]),
        Entry::Placed { id: 3, partition: 2 },
        Entry::Placed { id: u64::MAX, partition: i32::MIN },
        Entry::Mark { mark: 0 },
        Entry::Mark { mark: u64::MAX },
    ]
}

/// A segment's bytes: the header, then `entries`.
pub(crate) fn segment_of(first_id: u64, entries: &[Entry]) -> Vec<u8> {
    let mut bytes = segment::header(first_id).to_vec();
    for e in entries {
        e.encode(&mut bytes);
    }
    bytes
}

/// The seed corpus of the `spool_segment` fuzz target: (file name, bytes).
/// Names of segments a scan does not take whole contain `-torn-`,
/// `-corrupt-` or `-bad-` (a tail of zeros is taken: it is the segment's
/// clean end).
pub(crate) fn seeds() -> Vec<(String, Vec<u8>)> {
    let samples = sample_entries();
    // A live log's life: records of three partitions, batches sequenced,
    // outcomes, and a roll's preamble.
    let mut life = vec![state(4242, 0, &[])];
    for id in 100..112 {
        life.push(record(id, "events", (id % 3) as i32));
    }
    life.push(sequenced("events", 0, (102, 111), 4242, 0, 0));
    life.push(sequenced("events", 1, (100, 109), 4242, 0, 0));
    life.push(done(&[(100, 100), (103, 103), (106, 106), (109, 109)]));
    life.push(state(4242, 0, &[("events", 0, 4), ("events", 1, 4)]));
    let preamble = vec![
        state(4242, 0, &[("events", 0, 4)]),
        sequenced("events", 2, (101, 110), 4242, 0, 0),
        done(&[(0, 99)]),
    ];

    let mut seeds: Vec<(String, Vec<u8>)> = vec![
        ("seed-empty".into(), segment_of(0, &[])),
        ("seed-samples".into(), segment_of(0, &samples)),
        ("seed-life".into(), segment_of(100, &life)),
        ("seed-preamble".into(), segment_of(112, &preamble)),
    ];
    for (i, e) in samples.iter().enumerate() {
        seeds.push((
            format!("seed-{i}-{}", e.kind_name().to_lowercase()),
            segment_of(i as u64, std::slice::from_ref(e)),
        ));
    }
    let whole = segment_of(100, &life);
    for cut in [HEADER_LEN - 3, HEADER_LEN + 5, HEADER_LEN + 40, whole.len() - 7] {
        seeds.push((format!("seed-life-torn-at-{cut}"), whole[..cut].to_vec()));
    }
    let mut zero = segment_of(0, &samples[..3]);
    zero.extend([0; 64]);
    seeds.push(("seed-samples-then-zeros".into(), zero.clone()));
    zero.push(1);
    seeds.push(("seed-samples-zeros-corrupt-by-a-last-byte".into(), zero));
    let mut flipped = whole.clone();
    flipped[HEADER_LEN + 60] ^= 0x10;
    seeds.push(("seed-life-corrupt-middle".into(), flipped));
    let mut bad = whole;
    bad[3] = b'X';
    seeds.push(("seed-life-bad-magic".into(), bad));
    seeds
}
