//! Sources: where JSON lines come from (a file, stdin), read in chunks of
//! line-numbered lines with a limit on the size of one line.

pub mod file;
pub mod lines;
pub mod reader;
pub mod stamp;
pub mod stdin;

use std::io::BufRead;
use std::path::{Path, PathBuf};

pub use lines::{Chunk, LineReader, DEFAULT_MAX_CHUNK_BYTES, DEFAULT_MAX_LINE_BYTES};

/// Errors of the sources.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {name}: {source}")]
    Read {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where one input stream is read from: a file path, or `-` for stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputLocation {
    Stdin,
    File(PathBuf),
    /// Text built into the binary (the embedded example pack), with the
    /// name to show for it.
    Embedded {
        name: &'static str,
        text: &'static str,
    },
}

impl InputLocation {
    pub fn parse(text: &str) -> Self {
        if text == "-" {
            InputLocation::Stdin
        } else {
            InputLocation::File(PathBuf::from(text))
        }
    }

    /// The name shown in messages and in dead-letter records.
    pub fn display_name(&self) -> String {
        match self {
            InputLocation::Stdin => "-".to_string(),
            InputLocation::File(p) => p.display().to_string(),
            InputLocation::Embedded { name, .. } => name.to_string(),
        }
    }

    pub fn open(&self) -> Result<Box<dyn BufRead + Send>, SourceError> {
        match self {
            InputLocation::Stdin => Ok(stdin::open()),
            InputLocation::File(p) => file::open(Path::new(p)),
            InputLocation::Embedded { text, .. } => {
                Ok(Box::new(std::io::Cursor::new(text.as_bytes())))
            }
        }
    }
}
