//! What a source is to the driver: something that yields decoded batches
//! of one input stream, with the records it rejected, until it ends.
//!
//! A source does its own reading and decoding (on a thread, or through an
//! async client); the driver only asks for the next [`SourceEvent`]. Adding
//! a connector means implementing [`Source`] for it.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::RecordBatch;
use operators::schema::OFFSET_COLUMN;

use super::task::TaskId;
use super::RunError;
use crate::checkpoint::{SourceOffset, Unacknowledged};
use crate::reject::{RejectReason, Rejection, SourceRecord, SourcedRejection};
use crate::source::Chunk;
use crate::time::{SourceProgress, Untimely, UntimelyEvent};

/// One input of the driver.
pub trait Source {
    /// The catalog index of the stream it feeds, for a source of one stream:
    /// the driver reads those in watermark order. `None` for a source of
    /// several streams (a consumer of several topics).
    fn stream(&self) -> Option<usize>;

    /// The next event, waiting for it if none is there yet.
    fn next(&mut self) -> Result<SourceEvent, RunError>;

    /// The next event if one is there now; `None` if the source would have
    /// to wait (a live input), so the driver can hand out what it has done
    /// before waiting. Sources that never wait need not override it.
    fn try_next(&mut self) -> Result<Option<SourceEvent>, RunError> {
        self.next().map(Some)
    }

    /// A barrier is under way: whatever the source itself passed on from
    /// the records handed to the driver so far (records it forwarded to
    /// other topics) must be durable before the checkpoint that covers
    /// them is stored.
    fn barrier(&mut self) -> Result<(), RunError> {
        Ok(())
    }

    /// Messages handed on so far that the source acknowledges to their
    /// broker only at [`Source::commit`]: asked after [`Source::barrier`],
    /// and stored with the checkpoint (see [`Unacknowledged`]).
    fn unacknowledged(&self) -> Vec<Unacknowledged> {
        Vec::new()
    }

    /// Whether the source needs a checkpoint before the next one is due: it
    /// acknowledges messages only at [`Source::commit`], and its broker
    /// stops delivering when too many are unacknowledged.
    fn wants_checkpoint(&self) -> bool {
        false
    }

    /// A checkpoint now covers `positions` (stored with the state that
    /// goes with them): the source may commit them where it reads from.
    fn commit(&mut self, _positions: &[SourceOffset]) -> Result<(), RunError> {
        Ok(())
    }
}

/// What a [`Source`] yields.
pub enum SourceEvent {
    // Boxed: the other variants are small, and a batch is one per chunk.
    Batch(Box<SourceBatch>),
    /// The source has nothing more: its stream no longer holds time back.
    End,
    /// These tasks are now this run's (partitions assigned).
    Assigned(Vec<TaskId>),
    /// These tasks are no longer this run's (partitions revoked): their
    /// state is stored for whoever takes them next.
    Revoked(Vec<TaskId>),
    /// Stream `stream` of task `task` had no input for a while (`idle`),
    /// or has some again: an idle input does not hold time back.
    Idle {
        task: TaskId,
        stream: usize,
        idle: bool,
    },
    /// How far stream `stream` of task `task` has come, as its source
    /// sees it (see [`SourceProgress`]): from now on the stream's
    /// watermark follows these reports rather than its own events.
    Progress {
        task: TaskId,
        stream: usize,
        progress: SourceProgress,
    },
    /// Nothing arrived within the source's wait: the driver looks at its
    /// commands and asks again.
    Quiet,
}

/// Decoded events of one stream, in arrival order.
pub struct SourceBatch {
    /// The task whose input they are (0 for a run without partitions).
    pub task: TaskId,
    /// Catalog index of the stream.
    pub stream: usize,
    /// In the stream's in-flight schema; may be empty.
    pub events: RecordBatch,
    /// The records of this batch that could not be decoded.
    pub rejected: Vec<SourcedRejection>,
    /// Where each row of `events` came from.
    pub origins: Origins,
    /// Read positions the batch takes its task past: (topic, next offset).
    pub consumed: Vec<(String, i64)>,
    /// When its records were read: the latency of what they complete is
    /// measured from here.
    pub received: Option<Instant>,
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
    /// Row `i` is message `messages[chunk_lines[i]]` of a broker.
    Messages {
        source: Arc<str>,
        chunk_lines: Vec<usize>,
        messages: Vec<MessageOrigin>,
    },
}

/// One message of a broker: where it was and its bytes, unchanged.
pub struct MessageOrigin {
    pub record: SourceRecord,
    pub payload: Vec<u8>,
}

impl SourceBatch {
    /// The dead-letter record of `event`, a late or future event of this batch.
    pub fn untimely_rejection(&self, event: &UntimelyEvent, detail: String) -> SourcedRejection {
        let (source, line, raw, record) = match &self.origins {
            Origins::Chunk {
                source,
                chunk,
                chunk_lines,
            } => {
                let index = chunk_lines[event.row];
                (
                    source.clone(),
                    chunk.lines[index].0,
                    chunk.line_bytes(index).to_vec(),
                    None,
                )
            }
            Origins::Offsets { source } => (
                source.clone(),
                offset(&self.events, event.row),
                Vec::new(),
                None,
            ),
            Origins::Messages {
                source,
                chunk_lines,
                messages,
            } => {
                let message = &messages[chunk_lines[event.row]];
                (
                    source.clone(),
                    message.record.offset,
                    message.payload.clone(),
                    Some(message.record.clone()),
                )
            }
        };
        SourcedRejection {
            source,
            rejection: Rejection {
                line,
                reason: match event.kind {
                    Untimely::Late { .. } => RejectReason::Late,
                    Untimely::Future { .. } => RejectReason::Future,
                },
                detail,
                raw,
            },
            record,
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
