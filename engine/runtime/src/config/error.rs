//! Config errors: each names where (file and line:column, or the
//! environment variable), which key, and what is wrong.

use std::fmt;
use std::path::PathBuf;

/// A 1-based line and column in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The line and column of byte `offset` of `text`.
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location { line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A problem in the file: `eddy.toml:7:8: sinks.takeover.mode: …`.
    #[error("{}", render_invalid(origin, location, key, message))]
    Invalid {
        /// The file name as given, or `<config>` for text without a file.
        origin: String,
        location: Option<Location>,
        /// The dotted key, empty for a syntax error.
        key: String,
        message: String,
    },
    /// A problem in an environment override: `EDDY_CHECKPOINT_INTERVAL: …`.
    #[error("{var}: {message}")]
    Env { var: String, message: String },
}

fn render_invalid(origin: &str, location: &Option<Location>, key: &str, message: &str) -> String {
    let mut out = origin.to_string();
    if let Some(location) = location {
        out.push_str(&format!(":{location}"));
    }
    out.push_str(": ");
    if !key.is_empty() {
        out.push_str(key);
        out.push_str(": ");
    }
    out.push_str(message);
    out
}

impl ConfigError {
    /// The dotted key an `Invalid` error is about.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(
            Location::of_offset(text, 0),
            Location { line: 1, column: 1 }
        );
        assert_eq!(
            Location::of_offset(text, 11),
            Location { line: 2, column: 6 }
        );
        assert_eq!(
            Location::of_offset(text, 999),
            Location { line: 3, column: 1 }
        );
    }
}
