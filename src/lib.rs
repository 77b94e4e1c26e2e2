//! kafka-sync: a synchronous, thread-based Apache Kafka producer.
//!
//! The crate is being built; today it provides the wire codec,
//! [`protocol`], a public and documented module for encoding, decoding,
//! fuzzing and property-testing the Kafka protocol.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod config;
mod delivery;
mod error;
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub mod mock;
pub mod partitioner;
pub mod protocol;
mod record;

pub use config::{Acks, ConfigError, ProducerConfig, ProducerConfigBuilder};
pub use delivery::{Callback, DeliveryHandle};
pub use error::{DeliveryError, DeliveryErrorKind, Error, KafkaCode, Persistence, SendError, SendErrorKind};
pub use partitioner::{Partitioner, Partitions};
pub use record::{Header, Record, RecordMetadata, Serializer};
