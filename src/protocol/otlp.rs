//! The OpenTelemetry metrics encoding KIP-714 pushes: a hand-written
//! protobuf encoder for `opentelemetry.proto.metrics.v1.MetricsData`, and a
//! small decoder that lists the metric names in one (for test brokers).
//!
//! Only what a Kafka client sends is modelled: one resource with attributes,
//! one instrumentation scope, and metrics that are gauges or sums of number
//! data points (an `int64` or a `double` each), with start and end times in
//! Unix nanoseconds and attributes as key/values.
//!
//! Field numbers, from `opentelemetry/proto/metrics/v1/metrics.proto`,
//! `common/v1/common.proto` and `resource/v1/resource.proto`:
//!
//! | message | fields |
//! |---|---|
//! | `MetricsData` | 1 `resource_metrics` (repeated) |
//! | `ResourceMetrics` | 1 `resource`, 2 `scope_metrics` (repeated) |
//! | `Resource` | 1 `attributes` (repeated `KeyValue`) |
//! | `ScopeMetrics` | 1 `scope`, 2 `metrics` (repeated) |
//! | `InstrumentationScope` | 1 `name`, 2 `version` |
//! | `Metric` | 1 `name`, 2 `description`, 3 `unit`, 5 `gauge`, 7 `sum` |
//! | `Gauge` | 1 `data_points` (repeated) |
//! | `Sum` | 1 `data_points` (repeated), 2 `aggregation_temporality` (enum), 3 `is_monotonic` |
//! | `NumberDataPoint` | 2 `start_time_unix_nano` (fixed64), 3 `time_unix_nano` (fixed64), 4 `as_double` (double), 6 `as_int` (sfixed64), 7 `attributes` (repeated) |
//! | `KeyValue` | 1 `key`, 2 `value` (`AnyValue`) |
//! | `AnyValue` | 1 `string_value`, 2 `bool_value`, 3 `int_value` (int64), 4 `double_value` |
//!
//! As proto3 encoders do, scalar fields holding their default (0, `false`,
//! the empty string) are left out, except members of a `oneof` (a data
//! point's value, an attribute's value), which are always written.

use crate::protocol::error::DecodeError;

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// A `MetricsData` with one resource and one scope.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsData {
    /// Attributes of the resource (the client), e.g. `client_rack`.
    pub resource_attributes: Vec<KeyValue>,
    /// The instrumentation scope's name (left out when empty).
    pub scope_name: String,
    /// The instrumentation scope's version (left out when empty).
    pub scope_version: String,
    /// The metrics.
    pub metrics: Vec<Metric>,
}

/// An attribute: a key and a value.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: AnyValue,
}

impl KeyValue {
    /// A string-valued attribute.
    pub fn string(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self { key: key.into(), value: AnyValue::String(value.into()) }
    }
}

/// An attribute value (the scalar members of `AnyValue`).
#[derive(Debug, Clone, PartialEq)]
pub enum AnyValue {
    /// `string_value`.
    String(String),
    /// `bool_value`.
    Bool(bool),
    /// `int_value`.
    Int(i64),
    /// `double_value`.
    Double(f64),
}

/// One metric and its data points.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The name, e.g. `org.apache.kafka.producer.request.latency.avg`.
    pub name: String,
    /// A description (left out when empty).
    pub description: String,
    /// The unit, UCUM-style (`ms`, `By`, `1`; left out when empty).
    pub unit: String,
    /// Gauge or sum.
    pub kind: MetricKind,
    /// The data points (one per attribute set).
    pub points: Vec<NumberDataPoint>,
}

/// What kind of metric a [`Metric`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A current value (`Gauge`).
    Gauge,
    /// A sum over time (`Sum`).
    Sum {
        /// Whether each value covers the time since the previous one or
        /// since the start.
        temporality: Temporality,
        /// Whether the sum only grows.
        monotonic: bool,
    },
}

/// `AggregationTemporality`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporality {
    /// `AGGREGATION_TEMPORALITY_DELTA` (1): since the previous point.
    Delta = 1,
    /// `AGGREGATION_TEMPORALITY_CUMULATIVE` (2): since the start time.
    Cumulative = 2,
}

/// A `NumberDataPoint`.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberDataPoint {
    /// Attributes telling this point's series apart (e.g. `node_id`).
    pub attributes: Vec<KeyValue>,
    /// Start of the interval a sum covers, Unix nanoseconds (0 = unset).
    pub start_time_unix_nano: u64,
    /// When the value was taken, Unix nanoseconds.
    pub time_unix_nano: u64,
    /// The value.
    pub value: NumberValue,
}

/// A data point's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NumberValue {
    /// `as_int`.
    Int(i64),
    /// `as_double`.
    Double(f64),
}

// ---- encoding -------------------------------------------------------------

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_tag(buf: &mut Vec<u8>, field: u32, wire_type: u8) {
    put_varint(buf, u64::from(field) << 3 | u64::from(wire_type));
}

fn put_len_field(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_tag(buf, field, LEN);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// A string field, left out when empty (unless `always`).
fn put_string(buf: &mut Vec<u8>, field: u32, s: &str, always: bool) {
    if always || !s.is_empty() {
        put_len_field(buf, field, s.as_bytes());
    }
}

fn put_fixed64(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_tag(buf, field, FIXED64);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// A nested message: encoded into a scratch buffer, then written with its length.
fn put_message(buf: &mut Vec<u8>, field: u32, encode: impl FnOnce(&mut Vec<u8>)) {
    let mut m = Vec::new();
    encode(&mut m);
    put_len_field(buf, field, &m);
}

fn put_key_value(buf: &mut Vec<u8>, field: u32, kv: &KeyValue) {
    put_message(buf, field, |b| {
        put_string(b, 1, &kv.key, false);
        put_message(b, 2, |b| match &kv.value {
            AnyValue::String(s) => put_string(b, 1, s, true),
            AnyValue::Bool(v) => {
                put_tag(b, 2, VARINT);
                put_varint(b, u64::from(*v));
            }
            AnyValue::Int(v) => {
                put_tag(b, 3, VARINT);
                put_varint(b, *v as u64); // int64: two's complement, 10 bytes if negative
            }
            AnyValue::Double(v) => put_fixed64(b, 4, v.to_bits()),
        });
    });
}

fn put_point(buf: &mut Vec<u8>, p: &NumberDataPoint) {
    put_message(buf, 1, |b| {
        if p.start_time_unix_nano != 0 {
            put_fixed64(b, 2, p.start_time_unix_nano);
        }
        if p.time_unix_nano != 0 {
            put_fixed64(b, 3, p.time_unix_nano);
        }
        match p.value {
            NumberValue::Double(v) => put_fixed64(b, 4, v.to_bits()),
            NumberValue::Int(v) => put_fixed64(b, 6, v as u64),
        }
        for kv in &p.attributes {
            put_key_value(b, 7, kv);
        }
    });
}

fn put_metric(buf: &mut Vec<u8>, m: &Metric) {
    put_message(buf, 2, |b| {
        put_string(b, 1, &m.name, false);
        put_string(b, 2, &m.description, false);
        put_string(b, 3, &m.unit, false);
        match m.kind {
            MetricKind::Gauge => put_message(b, 5, |b| m.points.iter().for_each(|p| put_point(b, p))),
            MetricKind::Sum { temporality, monotonic } => put_message(b, 7, |b| {
                m.points.iter().for_each(|p| put_point(b, p));
                put_tag(b, 2, VARINT);
                put_varint(b, temporality as u64);
                if monotonic {
                    put_tag(b, 3, VARINT);
                    put_varint(b, 1);
                }
            }),
        }
    });
}

impl MetricsData {
    /// The protobuf encoding of this `MetricsData`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_message(&mut out, 1, |rm| {
            put_message(rm, 1, |res| {
                self.resource_attributes.iter().for_each(|kv| put_key_value(res, 1, kv))
            });
            put_message(rm, 2, |sm| {
                if !self.scope_name.is_empty() || !self.scope_version.is_empty() {
                    put_message(sm, 1, |s| {
                        put_string(s, 1, &self.scope_name, false);
                        put_string(s, 2, &self.scope_version, false);
                    });
                }
                self.metrics.iter().for_each(|m| put_metric(sm, m));
            });
        });
        out
    }
}

// ---- decoding (metric names only) ----------------------------------------

/// Reads one protobuf field at a time from a message's bytes.
struct Fields<'a> {
    rest: &'a [u8],
}

/// A field's value as the wire type carries it.
enum Value<'a> {
    /// A varint, a fixed64 or a fixed32: skipped by the name lister.
    Scalar,
    /// A length-delimited field.
    Bytes(&'a [u8]),
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for i in 0..10 {
            let (&b, rest) =
                self.rest.split_first().ok_or(DecodeError::Truncated { needed: 1, remaining: 0 })?;
            self.rest = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::VarintOverflow)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], DecodeError> {
        let remaining = self.rest.len();
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= remaining)
            .ok_or(DecodeError::Truncated { needed: usize::try_from(n).unwrap_or(usize::MAX), remaining })?;
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    /// The next field number and value, or `None` at the end.
    fn next_field(&mut self) -> Result<Option<(u64, Value<'a>)>, DecodeError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let (field, value) = match (key >> 3, (key & 7) as u8) {
            (0, _) => return Err(DecodeError::Invalid("protobuf field number 0")),
            (f, VARINT) => (f, self.varint().map(|_| Value::Scalar)?),
            (f, FIXED64) => (f, self.take(8).map(|_| Value::Scalar)?),
            (f, LEN) => {
                let n = self.varint()?;
                (f, Value::Bytes(self.take(n)?))
            }
            (f, FIXED32) => (f, self.take(4).map(|_| Value::Scalar)?),
            _ => return Err(DecodeError::Invalid("protobuf wire type")),
        };
        Ok(Some((field, value)))
    }

    /// Calls `f` with the bytes of every length-delimited field `field`.
    fn each_message(
        bytes: &'a [u8],
        field: u64,
        mut f: impl FnMut(&'a [u8]) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let mut fields = Fields { rest: bytes };
        while let Some((n, v)) = fields.next_field()? {
            match v {
                Value::Bytes(b) if n == field => f(b)?,
                _ if n == field => return Err(DecodeError::Invalid("protobuf field of the wrong wire type")),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The names of the metrics in an encoded `MetricsData`, in order, across
/// every resource and scope. Other fields are checked for well-formed wire
/// encoding and skipped. Hostile input gives an error, never a panic.
///
/// ```
/// use kafka_sync::protocol::otlp::{metric_names, Metric, MetricKind, MetricsData, NumberDataPoint, NumberValue};
/// let data = MetricsData {
///     metrics: vec![Metric {
///         name: "org.apache.kafka.producer.request.latency.avg".into(),
///         description: String::new(),
///         unit: "ms".into(),
///         kind: MetricKind::Gauge,
///         points: vec![NumberDataPoint {
///             attributes: vec![],
///             start_time_unix_nano: 0,
///             time_unix_nano: 1,
///             value: NumberValue::Double(2.5),
///         }],
///     }],
///     ..Default::default()
/// };
/// assert_eq!(metric_names(&data.encode()).unwrap(), ["org.apache.kafka.producer.request.latency.avg"]);
/// ```
pub fn metric_names(bytes: &[u8]) -> Result<Vec<String>, DecodeError> {
    let mut names = Vec::new();
    Fields::each_message(bytes, 1, |resource_metrics| {
        Fields::each_message(resource_metrics, 2, |scope_metrics| {
            Fields::each_message(scope_metrics, 2, |metric| {
                let mut name = String::new();
                Fields::each_message(metric, 1, |n| {
                    name = std::str::from_utf8(n).map_err(|_| DecodeError::InvalidUtf8)?.to_owned();
                    Ok(())
                })?;
                names.push(name);
                Ok(())
            })
        })
    })?;
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    /// The opentelemetry-proto messages, declared by hand for prost from
    /// `metrics.proto`, `common.proto` and `resource.proto`: an independent
    /// decoder for what [`MetricsData::encode`] writes.
    #[allow(clippy::enum_variant_names)] // the names opentelemetry-proto gives them
    mod pb {
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct MetricsData {
            #[prost(message, repeated, tag = "1")]
            pub resource_metrics: Vec<ResourceMetrics>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct ResourceMetrics {
            #[prost(message, optional, tag = "1")]
            pub resource: Option<Resource>,
            #[prost(message, repeated, tag = "2")]
            pub scope_metrics: Vec<ScopeMetrics>,
            #[prost(string, tag = "3")]
            pub schema_url: String,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Resource {
            #[prost(message, repeated, tag = "1")]
            pub attributes: Vec<KeyValue>,
            #[prost(uint32, tag = "2")]
            pub dropped_attributes_count: u32,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct ScopeMetrics {
            #[prost(message, optional, tag = "1")]
            pub scope: Option<InstrumentationScope>,
            #[prost(message, repeated, tag = "2")]
            pub metrics: Vec<Metric>,
            #[prost(string, tag = "3")]
            pub schema_url: String,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct InstrumentationScope {
            #[prost(string, tag = "1")]
            pub name: String,
            #[prost(string, tag = "2")]
            pub version: String,
            #[prost(message, repeated, tag = "3")]
            pub attributes: Vec<KeyValue>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Metric {
            #[prost(string, tag = "1")]
            pub name: String,
            #[prost(string, tag = "2")]
            pub description: String,
            #[prost(string, tag = "3")]
            pub unit: String,
            #[prost(oneof = "Data", tags = "5, 7, 9, 10, 11")]
            pub data: Option<Data>,
        }
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Data {
            #[prost(message, tag = "5")]
            Gauge(Gauge),
            #[prost(message, tag = "7")]
            Sum(Sum),
            #[prost(bytes, tag = "9")]
            Histogram(Vec<u8>),
            #[prost(bytes, tag = "10")]
            ExponentialHistogram(Vec<u8>),
            #[prost(bytes, tag = "11")]
            Summary(Vec<u8>),
        }
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Gauge {
            #[prost(message, repeated, tag = "1")]
            pub data_points: Vec<NumberDataPoint>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Sum {
            #[prost(message, repeated, tag = "1")]
            pub data_points: Vec<NumberDataPoint>,
            #[prost(int32, tag = "2")]
            pub aggregation_temporality: i32,
            #[prost(bool, tag = "3")]
            pub is_monotonic: bool,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct NumberDataPoint {
            // Declared in tag order (prost writes in declaration order).
            #[prost(fixed64, tag = "2")]
            pub start_time_unix_nano: u64,
            #[prost(fixed64, tag = "3")]
            pub time_unix_nano: u64,
            #[prost(oneof = "Value", tags = "4, 6")]
            pub value: Option<Value>,
            #[prost(message, repeated, tag = "7")]
            pub attributes: Vec<KeyValue>,
            #[prost(uint32, tag = "8")]
            pub flags: u32,
        }
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            #[prost(double, tag = "4")]
            AsDouble(f64),
            #[prost(sfixed64, tag = "6")]
            AsInt(i64),
        }
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct KeyValue {
            #[prost(string, tag = "1")]
            pub key: String,
            #[prost(message, optional, tag = "2")]
            pub value: Option<AnyValue>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct AnyValue {
            #[prost(oneof = "Any", tags = "1, 2, 3, 4")]
            pub value: Option<Any>,
        }
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Any {
            #[prost(string, tag = "1")]
            StringValue(String),
            #[prost(bool, tag = "2")]
            BoolValue(bool),
            #[prost(int64, tag = "3")]
            IntValue(i64),
            #[prost(double, tag = "4")]
            DoubleValue(f64),
        }
    }

    fn point(value: NumberValue, attributes: Vec<KeyValue>) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            start_time_unix_nano: 1_000,
            time_unix_nano: 1_700_000_000_123_456_789,
            value,
        }
    }

    fn sample() -> MetricsData {
        MetricsData {
            resource_attributes: vec![
                KeyValue::string("client_rack", "rack-1"),
                KeyValue { key: "b".into(), value: AnyValue::Bool(true) },
                KeyValue { key: "i".into(), value: AnyValue::Int(-5) },
                KeyValue { key: "d".into(), value: AnyValue::Double(0.25) },
            ],
            scope_name: "kafka-sync".into(),
            scope_version: "1.2.3".into(),
            metrics: vec![
                Metric {
                    name: "org.apache.kafka.producer.node.request.latency.avg".into(),
                    description: "The average request latency in ms for a node.".into(),
                    unit: "ms".into(),
                    kind: MetricKind::Gauge,
                    points: vec![
                        point(NumberValue::Double(3.5), vec![KeyValue::string("node_id", "1")]),
                        point(NumberValue::Double(-0.0), vec![KeyValue::string("node_id", "2")]),
                    ],
                },
                Metric {
                    name: "org.apache.kafka.producer.record.send.total".into(),
                    description: String::new(),
                    unit: String::new(),
                    kind: MetricKind::Sum { temporality: Temporality::Delta, monotonic: true },
                    points: vec![point(NumberValue::Int(i64::MIN), vec![])],
                },
                Metric {
                    name: "x".into(),
                    description: String::new(),
                    unit: "1".into(),
                    kind: MetricKind::Sum { temporality: Temporality::Cumulative, monotonic: false },
                    points: vec![point(NumberValue::Int(0), vec![])],
                },
            ],
        }
    }

    fn to_pb(kv: &KeyValue) -> pb::KeyValue {
        pb::KeyValue {
            key: kv.key.clone(),
            value: Some(pb::AnyValue {
                value: Some(match &kv.value {
                    AnyValue::String(s) => pb::Any::StringValue(s.clone()),
                    AnyValue::Bool(b) => pb::Any::BoolValue(*b),
                    AnyValue::Int(i) => pb::Any::IntValue(*i),
                    AnyValue::Double(d) => pb::Any::DoubleValue(*d),
                }),
            }),
        }
    }

    fn point_to_pb(p: &NumberDataPoint) -> pb::NumberDataPoint {
        pb::NumberDataPoint {
            attributes: p.attributes.iter().map(to_pb).collect(),
            start_time_unix_nano: p.start_time_unix_nano,
            time_unix_nano: p.time_unix_nano,
            value: Some(match p.value {
                NumberValue::Int(i) => pb::Value::AsInt(i),
                NumberValue::Double(d) => pb::Value::AsDouble(d),
            }),
            flags: 0,
        }
    }

    /// What prost should decode `data` to.
    fn expected(data: &MetricsData) -> pb::MetricsData {
        let scope = (!data.scope_name.is_empty() || !data.scope_version.is_empty()).then(|| {
            pb::InstrumentationScope {
                name: data.scope_name.clone(),
                version: data.scope_version.clone(),
                attributes: vec![],
            }
        });
        let metrics = data
            .metrics
            .iter()
            .map(|m| {
                let data_points = m.points.iter().map(point_to_pb).collect();
                pb::Metric {
                    name: m.name.clone(),
                    description: m.description.clone(),
                    unit: m.unit.clone(),
                    data: Some(match m.kind {
                        MetricKind::Gauge => pb::Data::Gauge(pb::Gauge { data_points }),
                        MetricKind::Sum { temporality, monotonic } => pb::Data::Sum(pb::Sum {
                            data_points,
                            aggregation_temporality: temporality as i32,
                            is_monotonic: monotonic,
                        }),
                    }),
                }
            })
            .collect();
        pb::MetricsData {
            resource_metrics: vec![pb::ResourceMetrics {
                resource: Some(pb::Resource {
                    attributes: data.resource_attributes.iter().map(to_pb).collect(),
                    dropped_attributes_count: 0,
                }),
                scope_metrics: vec![pb::ScopeMetrics { scope, metrics, schema_url: String::new() }],
                schema_url: String::new(),
            }],
        }
    }

    #[test]
    fn prost_decodes_what_we_encode() {
        for data in [sample(), MetricsData::default()] {
            let bytes = data.encode();
            let decoded = pb::MetricsData::decode(&bytes[..]).expect("prost decodes");
            assert_eq!(decoded, expected(&data));
            // And prost writes the very same bytes (same field order, same
            // omission of defaults), so the encoding is canonical.
            assert_eq!(expected(&data).encode_to_vec(), bytes);
            assert_eq!(
                metric_names(&bytes).unwrap(),
                data.metrics.iter().map(|m| m.name.clone()).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn golden_bytes() {
        let data = MetricsData {
            resource_attributes: vec![KeyValue::string("k", "v")],
            scope_name: String::new(),
            scope_version: String::new(),
            metrics: vec![Metric {
                name: "m".into(),
                description: String::new(),
                unit: String::new(),
                kind: MetricKind::Sum { temporality: Temporality::Cumulative, monotonic: true },
                points: vec![NumberDataPoint {
                    attributes: vec![],
                    start_time_unix_nano: 0,
                    time_unix_nano: 2,
                    value: NumberValue::Int(-1),
                }],
            }],
        };
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x0a, 45,                               // MetricsData.resource_metrics (1, LEN)
              0x0a, 10,                             // ResourceMetrics.resource (1, LEN)
                0x0a, 8,                            // Resource.attributes (1, LEN)
                  0x0a, 1, b'k',                    // KeyValue.key
                  0x12, 3, 0x0a, 1, b'v',           // KeyValue.value: AnyValue.string_value
              0x12, 31,                             // ResourceMetrics.scope_metrics (2, LEN)
                0x12, 29,                           // ScopeMetrics.metrics (2, LEN)
                  0x0a, 1, b'm',                    // Metric.name
                  0x3a, 24,                         // Metric.sum (7, LEN)
                    0x0a, 18,                       // Sum.data_points (1, LEN)
                      0x19, 2, 0, 0, 0, 0, 0, 0, 0, // time_unix_nano (3, I64) = 2
                      0x31, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // as_int (6, I64) = -1
                    0x10, 2,                        // aggregation_temporality CUMULATIVE
                    0x18, 1,                        // is_monotonic
        ];
        assert_eq!(data.encode(), want);
        assert_eq!(MetricsData::default().encode(), [0x0a, 4, 0x0a, 0, 0x12, 0]);
    }

    #[test]
    fn metric_names_rejects_hostile_input_without_panicking() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            // Every prefix either fails or lists a prefix of the names.
            if let Ok(names) = metric_names(&bytes[..cut]) {
                assert!(names.len() <= 3);
            }
        }
        assert!(metric_names(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
        assert!(metric_names(&[0x0a; 11]).is_err());
        assert_eq!(metric_names(&[0x08]), Err(DecodeError::Truncated { needed: 1, remaining: 0 }));
        assert_eq!(metric_names(&[0x0b]), Err(DecodeError::Invalid("protobuf wire type")));
        assert_eq!(metric_names(&[0x00, 0x00]), Err(DecodeError::Invalid("protobuf field number 0")));
        assert_eq!(
            metric_names(&[0x08, 0x01]),
            Err(DecodeError::Invalid("protobuf field of the wrong wire type"))
        );
        assert_eq!(
            metric_names(&[0x0a, 2, 0x12, 2]),
            Err(DecodeError::Truncated { needed: 2, remaining: 0 })
        );
        assert_eq!(
            metric_names(&[0x0a, 5, 0x12, 3, 0x12, 1, 0xff]),
            Err(DecodeError::Truncated { needed: 1, remaining: 0 })
        );
        assert_eq!(metric_names(&[0x0a, 7, 0x12, 5, 0x12, 3, 0x0a, 1, 0xff]), Err(DecodeError::InvalidUtf8));
        assert_eq!(metric_names(&[]), Ok(vec![]));
        // Arbitrary bytes.
        let mut x = 0x1234_5678_u32;
        for len in 0..2000 {
            let junk: Vec<u8> = (0..len % 97)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = metric_names(&junk);
        }
    }
}
