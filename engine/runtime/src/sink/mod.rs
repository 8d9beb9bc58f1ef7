//! Sinks: derived events as CloudEvents JSON lines, rejected input as
//! dead-letter JSON lines. The driver sees them through
//! [`crate::driver::EventSink`] and [`crate::driver::DeadLetterOutput`].

pub mod cloudevents;
pub mod dead_letter;
pub mod json;
pub mod lines;

use std::path::{Path, PathBuf};

pub use cloudevents::CloudEventEncoder;
pub use dead_letter::DeadLetterSink;
pub use lines::{CloudEventLines, LineWriter};

/// Errors of the sinks.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot create {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The reader of the output went away (a closed pipe).
    #[error("the output was closed")]
    Closed,
    /// A sink of a connector (a broker) failed.
    #[error(transparent)]
    Connector(Box<dyn std::error::Error + Send + Sync>),
}

impl SinkError {
    pub fn open(path: &Path, source: std::io::Error) -> Self {
        SinkError::Open {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn connector(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        SinkError::Connector(Box::new(error))
    }

    pub fn write(path: &Path, source: std::io::Error) -> Self {
        SinkError::Write {
            path: path.to_path_buf(),
            source,
        }
    }
}
