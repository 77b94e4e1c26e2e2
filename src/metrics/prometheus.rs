//! The Prometheus text exposition format (version 0.0.4) of the Kafka
//! metrics, named as the Prometheus JMX exporter's usual Kafka client rules
//! name them:
//!
//! ```yaml
//! lowercaseOutputName: true
//! rules:
//!   - pattern: kafka.producer<type=(.+), client-id=(.+), (.+)=(.+)><>(.+)
//!     name: kafka_producer_$1_$5
//!     labels: { client_id: "$2", $3: "$4" }
//!   - pattern: kafka.producer<type=(.+), client-id=(.+)><>(.+)
//!     name: kafka_producer_$1_$3
//!     labels: { client_id: "$2" }
//! ```
//!
//! with the exporter's sanitizing: every character outside `[a-zA-Z0-9_:]`
//! of a name (outside `[a-zA-Z0-9_]` of a label name) becomes `_`.

use std::collections::HashMap;
use std::fmt::Write;

use super::defs::ALL;
use super::{KafkaMetric, ProducerMetrics};

/// The Kafka metrics of `snapshots` (one per producer, say) in the
/// Prometheus text exposition format, version 0.0.4: for each metric
/// family a `# HELP` and a `# TYPE` line (`gauge`, or `counter` for
/// `*-total`), then one sample per producer, topic or broker, families in
/// the order of [`ProducerMetrics::kafka_metrics`]. Serve it with
/// `Content-Type: text/plain; version=0.0.4`.
///
/// ```no_run
/// # use kafka_sync::{Producer, ProducerConfig};
/// # let config = || ProducerConfig::builder().bootstrap_servers("127.0.0.1:9092").build();
/// let orders = Producer::new(config()?)?;
/// let audit = Producer::new(config()?)?;
/// let body = kafka_sync::metrics::prometheus_text(&[orders.metrics(), audit.metrics()]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn prometheus_text<'a>(snapshots: impl IntoIterator<Item = &'a ProducerMetrics>) -> String {
    let mut families: HashMap<(&str, &str), Vec<&KafkaMetric>> = HashMap::new();
    for s in snapshots {
        for m in s.kafka_metrics() {
            families.entry((m.group, m.name)).or_default().push(m);
        }
    }
    let mut out = String::new();
    for def in ALL {
        let Some(samples) = families.get(&(def.group, def.name)) else { continue };
        let name = metric_name(def.group, def.name);
        out.push_str("# HELP ");
        out.push_str(&name);
        out.push(' ');
        escape_help(&mut out, def.help);
        out.push('\n');
        let _ = writeln!(out, "# TYPE {name} {}", def.kind.as_str());
        for m in samples {
            out.push_str(&name);
            if !m.tags.is_empty() {
                out.push('{');
                for (i, (k, v)) in m.tags.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_sanitized(&mut out, k, false);
                    out.push_str("=\"");
                    escape_label_value(&mut out, v);
                    out.push('"');
                }
                out.push('}');
            }
            out.push(' ');
            push_value(&mut out, m.value);
            out.push('\n');
        }
    }
    out
}

/// `kafka_producer_<group>_<name>`, sanitized and lowercased.
fn metric_name(group: &str, name: &str) -> String {
    let mut s = String::with_capacity(16 + group.len() + name.len());
    s.push_str("kafka_producer_");
    push_sanitized(&mut s, group, true);
    s.push('_');
    push_sanitized(&mut s, name, true);
    s
}

/// Lowercases, and replaces what a metric name (`colons`) or label name
/// may not hold by `_`.
fn push_sanitized(out: &mut String, s: &str, colons: bool) {
    out.extend(s.chars().map(|c| match c {
        'a'..='z' | '0'..='9' | '_' => c,
        'A'..='Z' => c.to_ascii_lowercase(),
        ':' if colons => c,
        _ => '_',
    }));
}

fn escape_help(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_label_value(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::defs::{NODE_REQUEST_LATENCY_AVG, RECORD_SEND_TOTAL, TOPIC_BYTE_RATE};

    fn metric(def: crate::metrics::defs::Def, tags: &[(&'static str, &str)], value: f64) -> KafkaMetric {
        KafkaMetric {
            group: def.group,
            name: def.name,
            description: def.help,
            kind: def.kind,
            tags: tags.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            value,
        }
    }

    fn snapshot(client: &str, kafka: Vec<KafkaMetric>) -> ProducerMetrics {
        ProducerMetrics {
            client_id: client.into(),
            uptime: Default::default(),
            records_sent: 0,
            records_failed: 0,
            record_bytes_sent: 0,
            record_send_rate: 0.0,
            records_queued: 0,
            batches_sent: 0,
            batches_failed: 0,
            avg_batch_bytes: 0.0,
            avg_records_per_batch: 0.0,
            batch_fill_ratio: 0.0,
            compression_ratio: 1.0,
            requests: 0,
            request_bytes: 0,
            requests_in_flight: 0,
            request_latency_avg: Default::default(),
            request_latency_p99: Default::default(),
            request_latency_max: Default::default(),
            produce_throttle_time_avg: Default::default(),
            produce_throttle_time_max: Default::default(),
            record_latency_avg: Default::default(),
            record_latency_p99: Default::default(),
            buffer_used: 0,
            buffer_total: 0,
            retries: 0,
            errors: Vec::new(),
            producer_ids: 0,
            leader_hints: 0,
            reauthentications: 0,
            kafka,
        }
    }

    #[test]
    fn names_labels_escaping_and_special_values() {
        let a = snapshot(
            "a",
            vec![
                metric(RECORD_SEND_TOTAL, &[("client-id", "a")], 12.0),
                metric(TOPIC_BYTE_RATE, &[("client-id", "a"), ("topic", "t\"1\\\n")], 0.5),
                metric(NODE_REQUEST_LATENCY_AVG, &[("client-id", "a"), ("node-id", "node-1")], f64::NAN),
            ],
        );
        let b = snapshot("b", vec![metric(RECORD_SEND_TOTAL, &[("client-id", "b")], f64::INFINITY)]);
        let text = prometheus_text([&a, &b]);
        let expected = "\
# HELP kafka_producer_producer_metrics_record_send_total The total number of records sent.
# TYPE kafka_producer_producer_metrics_record_send_total counter
kafka_producer_producer_metrics_record_send_total{client_id=\"a\"} 12
kafka_producer_producer_metrics_record_send_total{client_id=\"b\"} +Inf
# HELP kafka_producer_producer_topic_metrics_byte_rate The average number of bytes sent per second for a topic.
# TYPE kafka_producer_producer_topic_metrics_byte_rate gauge
kafka_producer_producer_topic_metrics_byte_rate{client_id=\"a\",topic=\"t\\\"1\\\\\\n\"} 0.5
# HELP kafka_producer_producer_node_metrics_request_latency_avg The average request latency in ms of requests to this broker
# TYPE kafka_producer_producer_node_metrics_request_latency_avg gauge
kafka_producer_producer_node_metrics_request_latency_avg{client_id=\"a\",node_id=\"node-1\"} NaN
";
        assert_eq!(text, expected);
    }

    #[test]
    fn help_text_escapes_backslashes_and_newlines() {
        let mut s = String::new();
        escape_help(&mut s, "a\\b\nc\"d");
        assert_eq!(s, "a\\\\b\\nc\"d");
    }
}
