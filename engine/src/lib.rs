//! eddy's runtime: sources and sinks, event time and watermarks, the
//! pipeline and the CLI.
//!
//! - [`source`]: JSON lines from files and stdin, in numbered chunks.
//! - [`decode`]: chunks to Arrow batches, bad lines to rejections.
//! - [`time`]: watermarks, late events, the reorder buffer.
//! - [`pipeline`]: the synchronous core that drives the operators.
//! - [`sink`]: CloudEvents output and the dead-letter file.
//! - [`runner`]: files and stdin through the pipeline, on threads.
//! - [`cli`]: `eddy check`, `eddy run`, `eddy generate`.
//! - [`bench`]: `eddy bench`, the end-to-end benchmark harness.

pub mod backtest;
pub mod bench;
pub mod catalog;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod decode;
pub mod embedded;
pub mod error_chain;
pub mod explain;
pub mod generate;
pub mod job;
pub mod kafka;
pub mod metrics;
pub mod pipeline;
pub mod reject;
pub mod ruletest;
pub mod runner;
pub mod sink;
pub mod source;
pub mod time;
