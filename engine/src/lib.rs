//! The `eddy` application: the command line and its tools, and the
//! streaming job, over the runtime core (`runtime`) and the connectors
//! (`kafka_connector`).
//!
//! - [`cli`]: `eddy check`, `eddy run`, `eddy test`, `eddy explain`,
//!   `eddy catalog`, `eddy backtest`, `eddy generate`, `eddy bench`.
//! - [`job`]: `eddy run --config`, the long-lived job on Kafka.
//! - [`backtest`]: history files through DataFusion into the pipeline.
//! - [`metrics`]: Prometheus metrics, health and reload endpoints.
//! - [`bench`]: `eddy bench`, the end-to-end benchmark harness.
//!
//! The runtime's modules are re-exported under their own names, so that
//! `engine::pipeline` and `runtime::pipeline` are one thing. Nothing below
//! the application depends on it.

pub use kafka_connector as kafka;
pub use runtime::{
    checkpoint, config, decode, driver, error_chain, pipeline, position, reject, runner, sink,
    source, time,
};

pub mod backtest;
pub mod bench;
pub mod catalog;
pub mod cli;
pub mod embedded;
pub mod explain;
pub mod generate;
pub mod job;
pub mod metrics;
pub mod ruletest;
pub mod soak;
