//! What you send and what you get back: [`Record`], [`Header`],
//! [`RecordMetadata`], and the [`Serializer`] trait for typed keys and values.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use crate::protocol::record_batch::Header;

/// Turns a typed key or value into the bytes Kafka stores.
///
/// Implemented for strings (UTF-8), byte slices, vectors and arrays (as is),
/// and integers and floats (big-endian, like Java's `IntegerSerializer`,
/// `LongSerializer`, `ShortSerializer`, `DoubleSerializer`, ...). Implement it
/// for your own types to send them with [`Record::key`] and [`Record::value`].
///
/// ```
/// use kafka_sync::Serializer;
/// let mut out = Vec::new();
/// 258i32.serialize(&mut out);
/// assert_eq!(out, [0, 0, 1, 2]); // what Java's IntegerSerializer writes
/// ```
pub trait Serializer {
    /// Appends the serialized form of `self` to `out`.
    fn serialize(&self, out: &mut Vec<u8>);
}

impl Serializer for str {
    fn serialize(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl Serializer for String {
    fn serialize(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl Serializer for [u8] {
    fn serialize(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl Serializer for Vec<u8> {
    fn serialize(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl<const N: usize> Serializer for [u8; N] {
    fn serialize(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl<T: Serializer + ?Sized> Serializer for &T {
    fn serialize(&self, out: &mut Vec<u8>) {
        (**self).serialize(out);
    }
}

macro_rules! big_endian {
    ($($t:ty),*) => {$(
        impl Serializer for $t {
            fn serialize(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
        }
    )*};
}

big_endian!(i8, i16, i32, i64, i128, u8, u16, u32, u64, u128, f32, f64);

/// A record to send: topic, optional partition, optional key and value
/// (`None` is Kafka's null, distinct from empty), headers and an optional
/// timestamp (milliseconds since the Unix epoch; the producer stamps the send
/// time when it is `None`).
///
/// ```
/// use kafka_sync::Record;
/// let r = Record::new("orders")
///     .key("customer-42")
///     .value(&b"{\"total\": 10}"[..])
///     .header("trace-id", "abc")
///     .timestamp(1_700_000_000_000);
/// assert_eq!(r.key_bytes(), Some(&b"customer-42"[..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The topic. A `&'static str` costs no allocation.
    pub topic: Cow<'static, str>,
    /// The partition, or `None` to let the partitioner choose.
    pub partition: Option<i32>,
    /// The key bytes, or `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// The value bytes, or `None` for a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers, in order; keys may repeat.
    pub headers: Vec<Header>,
    /// Create time in milliseconds since the Unix epoch, or `None` for "now".
    pub timestamp: Option<i64>,
}

impl Record {
    /// A record for `topic` with null key and value, no headers, no timestamp.
    pub fn new(topic: impl Into<Cow<'static, str>>) -> Self {
        Self {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key, serialized with its [`Serializer`].
    pub fn key<K: Serializer + ?Sized>(mut self, key: &K) -> Self {
        let mut b = Vec::new();
        key.serialize(&mut b);
        self.key = Some(b);
        self
    }

    /// Sets the value, serialized with its [`Serializer`].
    pub fn value<V: Serializer + ?Sized>(mut self, value: &V) -> Self {
        let mut b = Vec::new();
        value.serialize(&mut b);
        self.value = Some(b);
        self
    }

    /// Sets the key to already-serialized bytes, without copying them.
    pub fn key_vec(mut self, key: Vec<u8>) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the value to already-serialized bytes, without copying them.
    pub fn value_vec(mut self, value: Vec<u8>) -> Self {
        self.value = Some(value);
        self
    }

    /// Fixes the partition, bypassing the partitioner.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Appends a header whose value is serialized with its [`Serializer`].
    pub fn header<V: Serializer + ?Sized>(mut self, key: impl Into<String>, value: &V) -> Self {
        let mut b = Vec::new();
        value.serialize(&mut b);
        self.headers.push(Header { key: key.into(), value: Some(b) });
        self
    }

    /// Appends a header with a null value.
    pub fn null_header(mut self, key: impl Into<String>) -> Self {
        self.headers.push(Header { key: key.into(), value: None });
        self
    }

    /// Sets the create timestamp, in milliseconds since the Unix epoch.
    pub fn timestamp(mut self, millis: i64) -> Self {
        self.timestamp = Some(millis);
        self
    }

    /// Sets the create timestamp from a `SystemTime`.
    pub fn timestamp_at(self, t: SystemTime) -> Self {
        let ms = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i64,
            Err(e) => -(e.duration().as_millis() as i64),
        };
        self.timestamp(ms)
    }

    /// The key bytes, if any.
    pub fn key_bytes(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// The value bytes, if any.
    pub fn value_bytes(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }
}

/// A record whose bytes are borrowed from the caller: sending it copies the
/// key, value and headers straight into the partition's batch, so a loop
/// that reuses its buffers sends without a heap allocation per record (see
/// [`Producer::send_ref`](crate::Producer::send_ref)). [`Record`] owns its
/// bytes; both go the same way once sent.
///
/// ```
/// use kafka_sync::RecordRef;
///
/// let value = b"{\"total\": 10}";
/// let r = RecordRef::new("orders").key(b"customer-42").value(value).partition(3);
/// assert_eq!(r.value, Some(&value[..]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition, or `None` to let the partitioner choose.
    pub partition: Option<i32>,
    /// The key bytes, or `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// The value bytes, or `None` for a null value (a tombstone).
    pub value: Option<&'a [u8]>,
    /// Headers, in order; keys may repeat.
    pub headers: &'a [Header],
    /// Create time in milliseconds since the Unix epoch, or `None` for "now".
    pub timestamp: Option<i64>,
}

impl<'a> RecordRef<'a> {
    /// A record for `topic` with null key and value, no headers, no timestamp.
    pub fn new(topic: &'a str) -> Self {
        Self { topic, partition: None, key: None, value: None, headers: &[], timestamp: None }
    }

    /// Sets the key.
    pub fn key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: &'a [u8]) -> Self {
        self.value = Some(value);
        self
    }

    /// Sets the partition (otherwise the partitioner chooses).
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the headers.
    pub fn headers(mut self, headers: &'a [Header]) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the create time, in milliseconds since the Unix epoch.
    pub fn timestamp(mut self, millis: i64) -> Self {
        self.timestamp = Some(millis);
        self
    }
}

impl RecordRef<'_> {
    /// An owned copy of this record.
    pub fn to_record(&self) -> Record {
        Record {
            topic: Cow::Owned(self.topic.to_owned()),
            partition: self.partition,
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.map(<[u8]>::to_vec),
            headers: self.headers.to_vec(),
            timestamp: self.timestamp,
        }
    }
}

impl Record {
    /// This record's fields, borrowed.
    pub fn borrowed(&self) -> RecordRef<'_> {
        RecordRef {
            topic: &self.topic,
            partition: self.partition,
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers: &self.headers,
            timestamp: self.timestamp,
        }
    }
}

/// What a successful delivery reports for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) offset: Option<i64>,
    pub(crate) timestamp: i64,
    pub(crate) key_size: Option<usize>,
    pub(crate) value_size: Option<usize>,
    /// When `send` took the record (microseconds since the epoch).
    pub(crate) sent_us: i64,
    pub(crate) times: crate::delivery::BatchTimes,
}

impl RecordMetadata {
    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition the record was written to.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The record's offset in the partition, or `None` where it is unknown:
    /// with `acks=0`, or when the broker reported the batch as a duplicate of
    /// one it already had without saying where.
    pub fn offset(&self) -> Option<i64> {
        self.offset
    }

    /// The record's timestamp: the create time the producer sent, or the
    /// broker's log append time if the topic uses `LogAppendTime`.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The serialized key's size in bytes, or `None` for a null key.
    pub fn serialized_key_size(&self) -> Option<usize> {
        self.key_size
    }

    /// The serialized value's size in bytes, or `None` for a null value.
    pub fn serialized_value_size(&self) -> Option<usize> {
        self.value_size
    }

    /// How long the record waited in the producer before its batch was
    /// first taken for a request (`send` to drain): linger, a full pipeline,
    /// a missing leader. From clock readings shared by the batch: no clock
    /// is read per record for it.
    pub fn queue_time(&self) -> Duration {
        micros_between(self.sent_us, self.times.drained_us)
    }

    /// How long the request that delivered the record's batch took, from
    /// writing it to reading the answer (`None` with `acks=0`).
    pub fn request_time(&self) -> Option<Duration> {
        self.times.request
    }

    /// How many requests carried the record's batch (1 unless it was retried).
    pub fn attempts(&self) -> u32 {
        self.times.attempts
    }

    /// From `send` to the acknowledgement, as the producer saw it (the
    /// system clock, read once when `send` took the record and once per
    /// response).
    pub fn latency(&self) -> Duration {
        micros_between(self.sent_us, self.times.done_us)
    }
}

/// The time from `from` to `to` (microseconds since the epoch), zero if
/// either is unknown (0) or the clock went back.
fn micros_between(from: i64, to: i64) -> Duration {
    if from <= 0 || to <= 0 {
        return Duration::ZERO;
    }
    Duration::from_micros(u64::try_from(to - from).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializers_match_java() {
        let ser = |s: &dyn Fn(&mut Vec<u8>)| {
            let mut v = Vec::new();
            s(&mut v);
            v
        };
        assert_eq!(ser(&|o| 1i64.serialize(o)), [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(ser(&|o| (-2i16).serialize(o)), [0xff, 0xfe]);
        assert_eq!(ser(&|o| 1.5f64.serialize(o)), 1.5f64.to_be_bytes());
        assert_eq!(ser(&|o| "hé".serialize(o)), "hé".as_bytes());
        assert_eq!(ser(&|o| [1u8, 2].serialize(o)), [1, 2]);
    }

    #[test]
    fn builder_sets_fields() {
        let r = Record::new(String::from("t")).key(&7u8).partition(2).null_header("h").timestamp(5);
        assert_eq!(r.key, Some(vec![7]));
        assert_eq!(r.value, None);
        assert_eq!(r.partition, Some(2));
        assert_eq!(r.headers, vec![Header { key: "h".into(), value: None }]);
        assert_eq!(r.timestamp, Some(5));
    }
}
