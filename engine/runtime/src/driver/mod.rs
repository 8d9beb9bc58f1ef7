//! The one driver: [`Source`]s in, the [`Pipeline`] (or its partitioned
//! form), [`EventSink`] and [`DeadLetterOutput`] out.
//!
//! ```text
//!  Source ──SourceBatch──▶ admission ─▶ reorder ─▶ operators ─▶ output order ─▶ EventSink
//!  (file, stdin,             │ late                                             (JSON lines,
//!   history scan)            ▼                                                   summary, ...)
//!         rejected ──────▶ DeadLetterOutput
//! ```
//!
//! Each round it takes the next event of the unfinished source whose
//! stream has the lowest watermark (ties: declaration order), which keeps
//! the reorder buffer small and makes the output independent of which
//! input was read first. Late events are worded once, here, for every
//! source. A live source that has nothing yet makes the driver hand out
//! what is done before it waits.

pub mod partitioned;
pub mod sink;
pub mod source;

use std::collections::BTreeMap;
use std::path::PathBuf;

use arrow_array::RecordBatch;
use dsl::plan::{Millis, Program};

use crate::decode::DecodeError;
use crate::pipeline::{OutputEvent, Pipeline, PipelineError, Progress};
use crate::reject::{RejectReason, SourcedRejection};
use crate::sink::json::rfc3339_millis;
use crate::sink::SinkError;
use crate::source::SourceError;

use partitioned::{PartitionError, PartitionedPipeline};
pub use sink::{DeadLetterOutput, EventSink};
pub use source::{Origins, Source, SourceBatch, SourceEvent};

/// Errors that stop a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Sink(SinkError),
    #[error(transparent)]
    Partitioned(#[from] PartitionError),
    #[error("stream `{0}` is not declared")]
    UnknownStream(String),
    #[error("the reader of {0} stopped unexpectedly")]
    ReaderLost(String),
    #[error("cannot start a reader thread: {0}")]
    Spawn(std::io::Error),
    /// The reader of stdout went away (`eddy run ... | head`): not a failure
    /// of eddy, so the CLI stops quietly.
    #[error("the output was closed")]
    OutputClosed,
    /// A source of another kind failed (a history scan, a broker).
    #[error("{0}")]
    Connector(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<SinkError> for RunError {
    fn from(error: SinkError) -> Self {
        match error {
            SinkError::Closed => RunError::OutputClosed,
            other => RunError::Sink(other),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub events_in: u64,
    pub events_out: u64,
    pub rejected: BTreeMap<RejectReason, u64>,
    pub dead_letter: Option<PathBuf>,
}

impl RunSummary {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// The pipeline a run drives: one on this thread, or one per worker.
pub enum Pipelines {
    // Boxed to keep the variants alike in size (clippy); one per run.
    Single(Box<Pipeline>),
    Partitioned(PartitionedPipeline),
}

impl Pipelines {
    /// `workers` > 1: the keys split between that many worker threads.
    pub fn build(program: &Program, inputs: &[&str], workers: usize) -> Result<Self, RunError> {
        Ok(if workers > 1 {
            Pipelines::Partitioned(PartitionedPipeline::build(program, inputs, workers)?)
        } else {
            Pipelines::Single(Box::new(Pipeline::build(program, inputs)?))
        })
    }

    fn push(&mut self, stream: usize, batch: &RecordBatch) -> Result<Progress, RunError> {
        Ok(match self {
            Pipelines::Single(p) => p.push(stream, batch)?,
            Pipelines::Partitioned(p) => p.push(stream, batch)?,
        })
    }

    fn finish_stream(&mut self, stream: usize) -> Result<Progress, RunError> {
        Ok(match self {
            Pipelines::Single(p) => p.finish_stream(stream)?,
            Pipelines::Partitioned(p) => p.finish_stream(stream)?,
        })
    }

    fn finish(&mut self) -> Result<Vec<OutputEvent>, RunError> {
        Ok(match self {
            Pipelines::Single(p) => p.finish()?,
            Pipelines::Partitioned(p) => p.finish()?,
        })
    }

    /// Derived events done but not handed out yet (see
    /// [`PartitionedPipeline::flush`]).
    fn flush(&mut self) -> Result<Vec<OutputEvent>, RunError> {
        Ok(match self {
            Pipelines::Single(_) => Vec::new(),
            Pipelines::Partitioned(p) => p.flush()?,
        })
    }

    fn stream_watermark(&self, stream: usize) -> Option<Millis> {
        match self {
            Pipelines::Single(p) => p.stream_watermark(stream),
            Pipelines::Partitioned(p) => p.stream_watermark(stream),
        }
    }
}

/// The driver of one run over finite or live sources.
pub struct Driver<'r> {
    program: &'r Program,
    pipelines: Pipelines,
    events: &'r mut dyn EventSink,
    dead_letter: &'r mut dyn DeadLetterOutput,
    summary: RunSummary,
}

impl<'r> Driver<'r> {
    pub fn new(
        program: &'r Program,
        pipelines: Pipelines,
        events: &'r mut dyn EventSink,
        dead_letter: &'r mut dyn DeadLetterOutput,
    ) -> Self {
        Driver {
            program,
            pipelines,
            events,
            dead_letter,
            summary: RunSummary::default(),
        }
    }

    /// Runs `sources` to their end, then moves time to its end (open windows
    /// close, trailing `not` steps fire) and flushes the sinks.
    pub fn run(mut self, sources: &mut [Box<dyn Source + '_>]) -> Result<RunSummary, RunError> {
        let mut live = vec![true; sources.len()];
        // Each round takes one event of a source; sources end.
        while let Some(next) = self.next_input(sources, &live) {
            let source = &mut sources[next];
            let event = match source.try_next()? {
                Some(event) => event,
                None => {
                    // A live input has nothing yet: what is done goes out
                    // before the wait.
                    let done = self.pipelines.flush()?;
                    self.write_events(&done, true)?;
                    source.next()?
                }
            };
            let stream = source.stream();
            match event {
                SourceEvent::Batch(batch) => self.ingest(next, stream, batch)?,
                SourceEvent::End => {
                    live[next] = false;
                    let progress = self.pipelines.finish_stream(stream)?;
                    self.write_events(&progress.ready, false)?;
                }
            }
        }
        let rest = self.pipelines.finish()?;
        self.write_events(&rest, false)?;
        self.events.flush()?;
        self.dead_letter.finish()?;
        Ok(self.summary)
    }

    /// Pushes a batch of source `input` (feeding catalog stream `stream`),
    /// sends its rejected and late records to the dead letter and the
    /// derived events it completed to the sink.
    fn ingest(&mut self, input: usize, stream: usize, batch: SourceBatch) -> Result<(), RunError> {
        let plan = &self.program.catalog.streams[stream];
        let progress = if batch.events.num_rows() > 0 {
            self.summary.events_in += batch.events.num_rows() as u64;
            self.pipelines.push(stream, &batch.events)?
        } else {
            Progress::default()
        };
        let late = progress.late.iter().map(|late| {
            let detail = late_detail(late.time, late.watermark, &plan.name, plan.lateness);
            batch.late_rejection(late, detail)
        });
        let late: Vec<SourcedRejection> = late.collect();
        let in_line_order = matches!(batch.origins, Origins::Chunk { .. });
        let mut rejections = batch.rejected;
        rejections.extend(late);
        if in_line_order {
            // Lines of one chunk: in line order, so that the dead letters of
            // a stream do not depend on the chunk size. (Other sources hand
            // their rejections over in their own order, e.g. a sorted scan.)
            rejections.sort_by_key(|r| r.rejection.line);
        }
        for rejected in &rejections {
            *self
                .summary
                .rejected
                .entry(rejected.rejection.reason)
                .or_default() += 1;
            self.dead_letter.reject(input, &plan.name, rejected)?;
        }
        // A reader of a live output (a pipe from stdin) sees each batch's
        // derived events now, not when a buffer fills.
        self.write_events(&progress.ready, true)
    }

    fn write_events(&mut self, events: &[OutputEvent], flush: bool) -> Result<(), RunError> {
        if events.is_empty() {
            return Ok(());
        }
        self.summary.events_out += events.len() as u64;
        self.events.write(events)?;
        if flush {
            self.events.flush()?;
        }
        Ok(())
    }

    /// The unfinished source with the lowest watermark (ties: declaration
    /// order of their streams).
    fn next_input(&self, sources: &[Box<dyn Source + '_>], live: &[bool]) -> Option<usize> {
        sources
            .iter()
            .enumerate()
            .filter(|(i, _)| live[*i])
            .min_by_key(|(_, source)| {
                let stream = source.stream();
                (
                    self.pipelines
                        .stream_watermark(stream)
                        .unwrap_or(Millis::MIN),
                    stream,
                )
            })
            .map(|(i, _)| i)
    }
}

/// The dead-letter detail of a late event, the same for every source.
pub fn late_detail(time: Millis, watermark: Millis, stream: &str, lateness: Millis) -> String {
    format!(
        "event time {} is before the watermark {} of stream `{stream}` (lateness {})",
        rfc3339_millis(time),
        rfc3339_millis(watermark),
        dsl::plan::rule_duration(lateness)
    )
}
