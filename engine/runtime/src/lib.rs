//! eddy's runtime core: everything between a source's bytes and a sink's
//! bytes that does not depend on a particular connector.
//!
//! - [`source`]: JSON lines from files and stdin, in numbered chunks.
//! - [`decode`]: chunks to Arrow batches, bad lines to rejections.
//! - [`time`]: watermarks, late events, the reorder buffer.
//! - [`pipeline`]: the synchronous core that drives the operators.
//! - [`sink`]: CloudEvents output and the dead-letter file.
//! - [`driver`]: the one loop from [`driver::Source`]s through the
//!   pipeline to [`driver::EventSink`] and [`driver::DeadLetterOutput`].
//! - [`runner`]: `eddy run` over files and stdin, on the driver.
//! - [`checkpoint`]: the durable form of a pipeline's state and positions.
//! - [`config`]: the one config file of a job.
//! - [`position`]: where an event came from (a line, a Kafka record).
//!
//! It must not depend on rdkafka, on DataFusion's SQL or Parquet layers,
//! or on the command line: connectors (Kafka) and the `eddy` application
//! sit above it, so it builds and tests on its own.

pub mod checkpoint;
pub mod config;
pub mod decode;
pub mod driver;
pub mod error_chain;
pub mod pipeline;
pub mod position;
pub mod reject;
pub mod runner;
pub mod sink;
pub mod source;
pub mod time;
