//! JSON lines from standard input.

use std::io::{BufRead, BufReader};

const READ_BUFFER_BYTES: usize = 256 * 1024;

/// Stdin through our own buffer (not the locked global one, which is not
/// `Send`), so that a reader thread can own it.
pub fn open() -> Box<dyn BufRead + Send> {
    Box::new(BufReader::with_capacity(
        READ_BUFFER_BYTES,
        std::io::stdin(),
    ))
}
