//! JSON lines from a file.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::SourceError;

/// Read buffer size: large enough that most lines are found in one fill.
const READ_BUFFER_BYTES: usize = 256 * 1024;

pub fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, SourceError> {
    let file = File::open(path).map_err(|source| SourceError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, file)))
}
