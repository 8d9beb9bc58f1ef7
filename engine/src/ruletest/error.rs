//! Why a test file cannot be used: each error names the file and, where it
//! is known, the line.

use std::path::PathBuf;

use crate::config::Location;

#[derive(Debug, thiserror::Error)]
pub enum TestFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `tests/a.test.toml:7:1: case `x` names no rule files`.
    #[error("{}{}: {message}", path.display(), location.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        location: Option<Location>,
        message: String,
    },
    #[error("no test files (*.test.toml) under {0}")]
    NoTests(PathBuf),
    #[error("temporary files of a case: {0}")]
    Scratch(#[source] std::io::Error),
}

impl TestFileError {
    /// A problem at `line` of the test file at `path`.
    pub fn at_line(path: &std::path::Path, line: usize, message: impl Into<String>) -> Self {
        TestFileError::Invalid {
            path: path.to_path_buf(),
            location: Some(Location { line, column: 1 }),
            message: message.into(),
        }
    }
}
