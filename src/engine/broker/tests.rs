//! Unit tests of the broker threads' pure parts.

use super::*;

#[test]
fn v13_only_when_every_topic_has_an_id() {
    let id = Some([1; 16]);
    assert_eq!(produce_version(13, [id, id]), 13);
    assert_eq!(produce_version(13, [id, None]), 12, "one topic without an id: the request goes at v12");
    assert_eq!(produce_version(13, [None]), 12);
    assert_eq!(produce_version(13, []), 13);
    // Below v13 the negotiated version stands, ids or not.
    assert_eq!(produce_version(12, [None]), 12);
    assert_eq!(produce_version(11, [id]), 11);
    assert_eq!(produce_version(3, [None]), 3);
}

#[test]
fn unknown_topic_id_is_rejected_before_the_append() {
    // Not "possibly persisted": the broker found no topic to append to.
    assert!(!possibly_appended(KafkaCode::UNKNOWN_TOPIC_ID, -1));
}
