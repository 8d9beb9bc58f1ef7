//! Runs a program over finite inputs (files, stdin) to a JSON-lines output.
//!
//! Threads, not tokio: one reader thread per input reads and decodes chunks
//! and hands them over a bounded channel (two chunks in flight, so memory
//! stays bounded and decoding overlaps with the pipeline). The calling
//! thread drives the synchronous [`Pipeline`] and writes the output and the
//! dead-letter file. It pulls the next chunk from the unfinished input with
//! the lowest watermark, which keeps the reorder buffer small.

pub mod partitioned;
mod reader;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError};

use arrow_array::RecordBatch;
use dsl::plan::{Millis, Program};

use crate::decode::DecodeError;
use crate::pipeline::{OutputEvent, Pipeline, PipelineError, Progress};
use crate::reject::{RejectReason, Rejection};
use crate::sink::json::rfc3339_millis;
use crate::sink::{CloudEventEncoder, DeadLetterSink, SinkError};
use crate::source::{InputLocation, SourceError, DEFAULT_MAX_LINE_BYTES};

use partitioned::{PartitionError, PartitionedPipeline};
use reader::{spawn_reader, ReaderMessage};

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
    Sink(#[from] SinkError),
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
}

/// One input: a declared stream and where to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    pub stream: String,
    pub location: InputLocation,
}

/// Where derived events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    Stdout,
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub inputs: Vec<InputSpec>,
    pub output: OutputTarget,
    pub dead_letter: PathBuf,
    /// Lines per chunk.
    pub batch_size: usize,
    pub max_line_bytes: usize,
    /// Pipelines on their own threads, the keys split between them; 1: the
    /// pipeline runs on the calling thread.
    pub workers: usize,
}

impl RunConfig {
    pub fn new(inputs: Vec<InputSpec>, output: OutputTarget, dead_letter: PathBuf) -> Self {
        RunConfig {
            inputs,
            output,
            dead_letter,
            batch_size: 8192,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            workers: 1,
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

/// One input being read.
struct LiveInput {
    stream: usize,
    name: String,
    source: String,
    messages: Option<Receiver<ReaderMessage>>,
}

/// Runs `program` over the configured inputs.
pub fn run(program: &Program, config: &RunConfig) -> Result<RunSummary, RunError> {
    let input_names: Vec<&str> = config.inputs.iter().map(|i| i.stream.as_str()).collect();
    let mut pipeline = Driver::build(program, &input_names, config.workers)?;
    let mut output = open_output(&config.output)?;
    let encoder = CloudEventEncoder::new(program);
    let mut dead_letter = DeadLetterSink::new(config.dead_letter.clone(), config.inputs.len());
    let mut summary = RunSummary::default();

    let mut inputs = Vec::with_capacity(config.inputs.len());
    for spec in &config.inputs {
        let stream = program
            .catalog
            .stream_index(&spec.stream)
            .ok_or_else(|| RunError::UnknownStream(spec.stream.clone()))?;
        let plan = program.catalog.streams[stream].clone();
        let messages = spawn_reader(
            plan,
            spec.location.clone(),
            config.batch_size,
            config.max_line_bytes,
        )
        .map_err(RunError::Spawn)?;
        inputs.push(LiveInput {
            stream,
            name: spec.stream.clone(),
            source: spec.location.display_name(),
            messages: Some(messages),
        });
    }

    let mut encoded = Vec::new();
    // Each round takes one message from a reader; readers send finitely many.
    while let Some(next) = next_input(&pipeline, &inputs) {
        let input = &mut inputs[next];
        let lost = || RunError::ReaderLost(input.source.clone());
        let messages = input.messages.as_ref().ok_or_else(lost)?;
        let message = match messages.try_recv() {
            Ok(message) => message,
            Err(TryRecvError::Empty) => {
                // Nothing has arrived yet: what the pipeline has done goes
                // out before the wait (a live input must not hold it back).
                let done = pipeline.flush()?;
                write_events(&done, &encoder, &mut encoded, &mut output, &mut summary)?;
                if !done.is_empty() {
                    output.flush()?;
                }
                messages.recv().map_err(|_| lost())?
            }
            Err(TryRecvError::Disconnected) => return Err(lost()),
        };
        match message {
            ReaderMessage::Chunk { chunk, decoded } => {
                summary.events_in += decoded.batch.num_rows() as u64;
                let progress = pipeline.push(input.stream, &decoded.batch)?;
                let lateness = program.catalog.streams[input.stream].lateness;
                let late = progress.late.iter().map(|late| {
                    let line_index = decoded.chunk_lines[late.row];
                    Rejection {
                        line: chunk.lines[line_index].0,
                        reason: RejectReason::Late,
                        detail: late_detail(late.time, late.watermark, &input.name, lateness),
                        raw: chunk.line_bytes(line_index).to_vec(),
                    }
                });
                // In line order, so that the dead letters of a stream do not
                // depend on the chunk size.
                let mut rejections: Vec<Rejection> =
                    decoded.rejects.iter().cloned().chain(late).collect();
                rejections.sort_by_key(|r| r.line);
                for rejection in &rejections {
                    dead_letter.write(next, &input.name, &input.source, rejection)?;
                }
                write_events(
                    &progress.ready,
                    &encoder,
                    &mut encoded,
                    &mut output,
                    &mut summary,
                )?;
                // A reader of a live output (a pipe from stdin) sees each
                // chunk's derived events now, not when the buffer fills; at
                // one write per chunk this costs a file run nothing.
                if !progress.ready.is_empty() {
                    output.flush()?;
                }
            }
            ReaderMessage::Failed(error) => return Err(error),
            ReaderMessage::End => {
                input.messages = None;
                let progress = pipeline.finish_stream(input.stream)?;
                write_events(
                    &progress.ready,
                    &encoder,
                    &mut encoded,
                    &mut output,
                    &mut summary,
                )?;
            }
        }
    }
    let rest = pipeline.finish()?;
    write_events(&rest, &encoder, &mut encoded, &mut output, &mut summary)?;
    output.flush()?;
    dead_letter.finish()?;
    summary.rejected = dead_letter.counts().clone();
    if dead_letter.total() > 0 {
        summary.dead_letter = Some(dead_letter.path().to_path_buf());
    }
    Ok(summary)
}

/// The pipeline a run drives: one on this thread, or one per worker.
enum Driver {
    // Boxed to keep the variants alike in size (clippy); one per run.
    Single(Box<Pipeline>),
    Partitioned(PartitionedPipeline),
}

impl Driver {
    fn build(program: &Program, inputs: &[&str], workers: usize) -> Result<Self, RunError> {
        Ok(if workers > 1 {
            Driver::Partitioned(PartitionedPipeline::build(program, inputs, workers)?)
        } else {
            Driver::Single(Box::new(Pipeline::build(program, inputs)?))
        })
    }

    fn push(&mut self, stream: usize, batch: &RecordBatch) -> Result<Progress, RunError> {
        Ok(match self {
            Driver::Single(p) => p.push(stream, batch)?,
            Driver::Partitioned(p) => p.push(stream, batch)?,
        })
    }

    fn finish_stream(&mut self, stream: usize) -> Result<Progress, RunError> {
        Ok(match self {
            Driver::Single(p) => p.finish_stream(stream)?,
            Driver::Partitioned(p) => p.finish_stream(stream)?,
        })
    }

    fn finish(&mut self) -> Result<Vec<OutputEvent>, RunError> {
        Ok(match self {
            Driver::Single(p) => p.finish()?,
            Driver::Partitioned(p) => p.finish()?,
        })
    }

    /// Derived events done but not handed out yet (see
    /// [`PartitionedPipeline::flush`]).
    fn flush(&mut self) -> Result<Vec<OutputEvent>, RunError> {
        Ok(match self {
            Driver::Single(_) => Vec::new(),
            Driver::Partitioned(p) => p.flush()?,
        })
    }

    fn stream_watermark(&self, stream: usize) -> Option<Millis> {
        match self {
            Driver::Single(p) => p.stream_watermark(stream),
            Driver::Partitioned(p) => p.stream_watermark(stream),
        }
    }
}

/// The unfinished input with the lowest watermark (ties: declaration order).
fn next_input(pipeline: &Driver, inputs: &[LiveInput]) -> Option<usize> {
    inputs
        .iter()
        .enumerate()
        .filter(|(_, input)| input.messages.is_some())
        .min_by_key(|(_, input)| {
            (
                pipeline
                    .stream_watermark(input.stream)
                    .unwrap_or(Millis::MIN),
                input.stream,
            )
        })
        .map(|(i, _)| i)
}

pub(crate) fn late_detail(
    time: Millis,
    watermark: Millis,
    stream: &str,
    lateness: Millis,
) -> String {
    format!(
        "event time {} is before the watermark {} of stream `{stream}` (lateness {})",
        rfc3339_millis(time),
        rfc3339_millis(watermark),
        dsl::plan::rule_duration(lateness)
    )
}

/// The output, with the path to name in errors.
struct Output {
    writer: Box<dyn Write>,
    name: PathBuf,
}

impl Output {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), RunError> {
        let result = self.writer.write_all(bytes);
        self.check(result)
    }

    fn flush(&mut self) -> Result<(), RunError> {
        let result = self.writer.flush();
        self.check(result)
    }

    fn check(&self, result: std::io::Result<()>) -> Result<(), RunError> {
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(RunError::OutputClosed),
            Err(e) => Err(SinkError::write(&self.name, e).into()),
        }
    }
}

fn open_output(target: &OutputTarget) -> Result<Output, SinkError> {
    Ok(match target {
        OutputTarget::Stdout => Output {
            writer: Box::new(BufWriter::new(std::io::stdout())),
            name: PathBuf::from("<stdout>"),
        },
        OutputTarget::File(path) => Output {
            writer: Box::new(BufWriter::new(
                File::create(path).map_err(|e| SinkError::open(path, e))?,
            )),
            name: path.clone(),
        },
    })
}

fn write_events(
    events: &[OutputEvent],
    encoder: &CloudEventEncoder,
    buffer: &mut Vec<u8>,
    output: &mut Output,
    summary: &mut RunSummary,
) -> Result<(), RunError> {
    if events.is_empty() {
        return Ok(());
    }
    buffer.clear();
    for event in events {
        encoder.encode(event, buffer);
    }
    summary.events_out += events.len() as u64;
    output.write_all(buffer)
}
