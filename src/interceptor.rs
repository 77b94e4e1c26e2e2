//! Interceptors: code that sees every record a producer sends and every
//! outcome, as the Java client's `ProducerInterceptor` does: add a trace
//! header, count records per tenant, mirror outcomes to an audit log.
//!
//! Register them with
//! [`ProducerConfigBuilder::interceptor`](crate::ProducerConfigBuilder::interceptor),
//! several in order. For each record, `send` calls every interceptor's
//! [`on_send`](ProducerInterceptor::on_send) in registration order (each sees
//! the record as the previous one left it), then partitions and appends the
//! record as they left it. When the record's outcome is known (acknowledged,
//! failed, or refused by `send`), every interceptor's
//! [`on_acknowledgement`](ProducerInterceptor::on_acknowledgement) runs, before
//! the record's own callback.
//!
//! A panic in an interceptor is caught and logged; the record goes on as if
//! that interceptor had not been called (a panicking `on_send` leaves the
//! record as the interceptors before it left it). With no interceptor
//! registered, none of this costs anything; with one, each record is copied
//! once (into a [`Record`] the interceptors may change) and carries one more
//! callback.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//! use kafka_sync::interceptor::{Outcome, ProducerInterceptor};
//! use kafka_sync::{ProducerConfig, Record};
//!
//! /// Adds a trace header and counts failures.
//! #[derive(Default)]
//! struct Tracing {
//!     failed: AtomicU64,
//! }
//!
//! impl ProducerInterceptor for Tracing {
//!     fn on_send(&self, record: &mut Record) {
//!         record.headers.push(kafka_sync::Header::new("trace-id", b"abc123".to_vec()));
//!     }
//!     fn on_acknowledgement(&self, outcome: Outcome<'_>) {
//!         if !matches!(outcome, Outcome::Acknowledged(_)) {
//!             self.failed.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//! }
//!
//! let config = ProducerConfig::builder()
//!     .bootstrap_servers("localhost:9092")
//!     .interceptor(Arc::new(Tracing::default()))
//!     .build()?;
//! # Ok::<(), kafka_sync::ConfigError>(())
//! ```

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::error::{DeliveryError, SendErrorKind};
use crate::record::{Record, RecordMetadata};

/// What an interceptor learns about a record's outcome.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Outcome<'a> {
    /// The broker acknowledged the record (or it was written, with acks=0).
    Acknowledged(&'a RecordMetadata),
    /// The record was accepted by `send` and then failed.
    Failed {
        /// The record's topic.
        topic: &'a str,
        /// Why it failed, with its timings.
        error: &'a DeliveryError,
    },
    /// `send` refused the record (it never entered the producer).
    Refused {
        /// The record as the interceptors left it.
        record: &'a Record,
        /// Why.
        error: &'a SendErrorKind,
    },
}

/// Sees records as they are sent and their outcomes (Java's
/// `ProducerInterceptor`). Both methods have empty defaults.
///
/// `on_send` runs on the thread calling `send`. `on_acknowledgement` runs
/// where delivery callbacks run: usually a broker's I/O thread, which does
/// nothing else meanwhile, so it must be quick and must not block (no
/// `flush`, no `close`, no blocking `send`).
pub trait ProducerInterceptor: Send + Sync {
    /// Called by `send` before the record is partitioned; may change it
    /// (topic, partition, key, value, headers, timestamp).
    fn on_send(&self, record: &mut Record) {
        let _ = record;
    }

    /// Called once per record with its outcome, before the record's callback.
    fn on_acknowledgement(&self, outcome: Outcome<'_>) {
        let _ = outcome;
    }
}

/// Interceptors as a builder collects them.
#[derive(Clone, Default)]
pub(crate) struct InterceptorList(pub Vec<Arc<dyn ProducerInterceptor>>);

impl fmt::Debug for InterceptorList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} interceptor(s)", self.0.len())
    }
}

/// A producer's interceptors, in registration order.
#[derive(Clone, Default)]
pub(crate) struct Interceptors(Arc<[Arc<dyn ProducerInterceptor>]>);

impl fmt::Debug for Interceptors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Interceptors({})", self.0.len())
    }
}

impl Interceptors {
    pub fn new(list: Vec<Arc<dyn ProducerInterceptor>>) -> Self {
        Self(list.into())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Every interceptor's `on_send`, in order; a panicking one is skipped
    /// (the record stays as the ones before it left it).
    pub fn on_send(&self, record: &mut Record) {
        for (i, ic) in self.0.iter().enumerate() {
            let before = record.clone();
            if catch_unwind(AssertUnwindSafe(|| ic.on_send(record))).is_err() {
                log::error!("interceptor {i} panicked in on_send; the panic was contained");
                *record = before;
            }
        }
    }

    /// Every interceptor's `on_acknowledgement`.
    pub fn acknowledge(&self, outcome: Outcome<'_>) {
        for (i, ic) in self.0.iter().enumerate() {
            if catch_unwind(AssertUnwindSafe(|| ic.on_acknowledgement(outcome))).is_err() {
                log::error!("interceptor {i} panicked in on_acknowledgement; the panic was contained");
            }
        }
    }

    /// [`acknowledge`](Self::acknowledge) for a delivery result.
    pub fn delivered(&self, topic: &str, result: &Result<RecordMetadata, DeliveryError>) {
        match result {
            Ok(m) => self.acknowledge(Outcome::Acknowledged(m)),
            Err(error) => self.acknowledge(Outcome::Failed { topic, error }),
        }
    }
}
