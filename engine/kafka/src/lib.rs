//! Kafka through rdkafka: a consumer-group source, a CloudEvents sink and a
//! dead-letter producer, all with explicit acknowledgement so the runtime
//! commits source offsets only after everything before them is written.
//!
//! - [`source`]: raw messages in bounded batches, rebalance events,
//!   per-partition progress with idle partitions, explicit commits.
//! - [`sink`]: derived events as CloudEvents (binary or structured mode).
//! - [`dead_letter`]: rejected messages unchanged, with `eddy_*` headers.
//! - [`cloudevent`]: the CloudEvents Kafka protocol binding.
//! - [`watermark`]: event-time progress over partitions.
//! - [`chunk`]: source batches as decoder chunks, with record numbers.
//! - [`written`]: what a sink topic holds, so a replay writes nothing twice.
//! - [`client`]: librdkafka properties from the config.
//!
//! The `cloudevents-sdk` crate's rdkafka binding is not used: its 0.9
//! release pins rdkafka 0.38 with the cmake build (no cmake here, and a
//! second librdkafka), and the binding is small enough to write down.
//!
//! It builds on the runtime core (`runtime`) and must not depend on the
//! `eddy` application.

// The runtime's modules under their names in this crate's paths.
use runtime::{checkpoint, config, pipeline, position, reject};

pub mod ack;
pub mod chunk;
pub mod client;
pub mod cloudevent;
pub mod context;
pub mod dead_letter;
pub mod error;
pub mod sink;
pub mod source;
pub mod topics;
pub mod watermark;
pub mod written;

pub use ack::{AckedProducer, Delivered, Outgoing, DEFAULT_QUEUE_TIMEOUT};
pub use context::{RebalanceEvent, ResumeSource, TopicPartition};
pub use dead_letter::{KafkaDeadLetter, RejectedMessage};
pub use error::KafkaConnectorError;
pub use sink::KafkaSink;
pub use source::{KafkaSource, SourceBatch, SourceMessage, SourceOptions};
pub use watermark::{Frontier, PartitionClocks};
