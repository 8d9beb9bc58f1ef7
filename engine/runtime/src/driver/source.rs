//! What a source is to the driver: something that yields decoded batches
//! of one input stream, with the records it rejected, until it ends.
//!
//! A source does its own reading and decoding (on a thread, or through an
//! async client); the driver only asks for the next [`SourceEvent`]. Adding
//! a connector means implementing [`Source`] for it.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::RecordBatch;
use operators::schema::OFFSET_COLUMN;

use super::RunError;
use crate::reject::{RejectReason, Rejection, SourcedRejection};
use crate::source::Chunk;
use crate::time::LateEvent;

/// One input of the driver.
pub trait Source {
    /// The catalog index of the stream it feeds.
    fn stream(&self) -> usize;

    /// The next event, waiting for it if none is there yet.
    fn next(&mut self) -> Result<SourceEvent, RunError>;

    /// The next event if one is there now; `None` if the source would have
    /// to wait (a live input), so the driver can hand out what it has done
    /// before waiting. Sources that never wait need not override it.
    fn try_next(&mut self) -> Result<Option<SourceEvent>, RunError> {
        self.next().map(Some)
    }
}

/// What a [`Source`] yields.
pub enum SourceEvent {
    Batch(SourceBatch),
    /// The source has nothing more: its stream no longer holds time back.
    End,
}

/// Decoded events of a source's stream, in arrival order.
pub struct SourceBatch {
    /// In the stream's in-flight schema; may be empty.
    pub events: RecordBatch,
    /// The records of this batch that could not be decoded.
    pub rejected: Vec<SourcedRejection>,
    /// Where each row of `events` came from.
    pub origins: Origins,
}

/// Where the rows of a [`SourceBatch`] came from, for the dead-letter
/// records of events the pipeline finds late.
pub enum Origins {
    /// Row `i` is line `chunk_lines[i]` of `chunk`, whose raw bytes are kept.
    Chunk {
        source: Arc<str>,
        chunk: Chunk,
        chunk_lines: Vec<usize>,
    },
    /// Rows are named by their offset column only (their raw record is not
    /// kept past decoding).
    Offsets { source: Arc<str> },
}

impl SourceBatch {
    /// The dead-letter record of `late`, an event of this batch.
    pub fn late_rejection(&self, late: &LateEvent, detail: String) -> SourcedRejection {
        let (source, line, raw) = match &self.origins {
            Origins::Chunk {
                source,
                chunk,
                chunk_lines,
            } => {
                let index = chunk_lines[late.row];
                (
                    source.clone(),
                    chunk.lines[index].0,
                    chunk.line_bytes(index).to_vec(),
                )
            }
            Origins::Offsets { source } => {
                (source.clone(), offset(&self.events, late.row), Vec::new())
            }
        };
        SourcedRejection {
            source,
            rejection: Rejection {
                line,
                reason: RejectReason::Late,
                detail,
                raw,
            },
        }
    }
}

/// The offset (line or row number) of row `row`.
fn offset(batch: &RecordBatch, row: usize) -> i64 {
    batch
        .column_by_name(OFFSET_COLUMN)
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .map_or(0, |offsets| offsets.value(row))
}
