//! `eddy backtest`: replays a stream's history (JSON lines, CSV or Parquet
//! files, read through DataFusion) through the rules, in event-time order,
//! and sums up what the rules derived.
//!
//! - [`source`]: the DataFusion scans, sorted by event time, to batches in
//!   the pipeline's in-flight schema (bad rows become rejections);
//! - [`summary`]: derived events per rule and key, and the run's figures;
//! - [`progress`]: the progress line on stderr;
//! - [`time_range`]: `--from` / `--to`.
//!
//! The loop is the file runner's ([`crate::runner`]): the same
//! [`Pipeline`], the same CloudEvents encoder and dead-letter sink, and the
//! next batch is taken from the stream with the lowest watermark.

pub mod progress;
pub mod source;
pub mod summary;
pub mod time_range;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::RecordBatch;
use dsl::plan::{Millis, Program};
use operators::schema::OFFSET_COLUMN;

use crate::pipeline::{OutputEvent, Pipeline, PipelineError};
use crate::reject::{RejectReason, Rejection};
use crate::runner::{late_detail, RunError};
use crate::sink::{CloudEventEncoder, DeadLetterSink, SinkError};
use crate::time::LateEvent;
use progress::ProgressLine;
use source::{HistoryInput, ReadOptions, SortedSource, SourcedRejection};
use summary::Summary;

/// Errors that stop a backtest.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error(
        "invalid time `{text}`: expected RFC 3339 (2026-01-01T08:00:00Z) or epoch milliseconds"
    )]
    BadTime {
        text: String,
        #[source]
        source: chrono::ParseError,
    },
    #[error("the time range is empty: --from {from} is not before --to {to}")]
    EmptyRange { from: String, to: String },
    #[error(
        "cannot tell the format of `{0}` from its extension; give --format json, csv or parquet"
    )]
    UnknownFormat(String),
    #[error("unknown --format `{0}`; expected one of: {names}", names = source::Format::NAMES)]
    FormatName(String),
    #[error("stream `{stream}`: cannot read {path}")]
    Scan {
        stream: String,
        path: String,
        #[source]
        source: datafusion::error::DataFusionError,
    },
    #[error("--input {0}=-: backtest reads files, not stdin")]
    Stdin(String),
    #[error("no files match {0}")]
    NoFiles(String),
    #[error("cannot convert the rows of {path} to the declared types")]
    Convert {
        path: String,
        #[source]
        source: arrow_schema::ArrowError,
    },
    #[error("cannot start the runtime for DataFusion")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Read(#[from] RunError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// What to replay and where the results go.
#[derive(Debug, Clone)]
pub struct BacktestConfig {
    /// In the catalog's declaration order.
    pub inputs: Vec<HistoryInput>,
    /// Derived events as CloudEvents JSON lines; `None`: only counted.
    pub output: Option<PathBuf>,
    pub dead_letter: PathBuf,
    pub read: ReadOptions,
    /// Show progress even when stderr is not a terminal.
    pub progress: bool,
}

/// One input being replayed.
struct Replay {
    /// Catalog index of the stream.
    stream: usize,
    name: String,
    /// The input's path, as given.
    path: String,
    time_field: String,
    /// `None` once read to the end.
    source: Option<SortedSource>,
}

/// Where derived events go, if anywhere.
struct Output {
    writer: Option<(PathBuf, BufWriter<File>)>,
    encoder: CloudEventEncoder,
    buffer: Vec<u8>,
}

impl Output {
    fn open(program: &Program, path: Option<&PathBuf>) -> Result<Self, SinkError> {
        let writer = match path {
            Some(path) => Some((
                path.clone(),
                BufWriter::new(File::create(path).map_err(|e| SinkError::open(path, e))?),
            )),
            None => None,
        };
        Ok(Output {
            writer,
            encoder: CloudEventEncoder::new(program),
            buffer: Vec::new(),
        })
    }

    /// Counts `events` in `summary` and writes them.
    fn write(&mut self, events: &[OutputEvent], summary: &mut Summary) -> Result<(), SinkError> {
        events.iter().for_each(|e| summary.record(e));
        let Some((path, writer)) = self.writer.as_mut() else {
            return Ok(());
        };
        self.buffer.clear();
        for event in events {
            self.encoder.encode(event, &mut self.buffer);
        }
        writer
            .write_all(&self.buffer)
            .map_err(|e| SinkError::write(path, e))
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        match self.writer.as_mut() {
            Some((path, writer)) => writer.flush().map_err(|e| SinkError::write(path, e)),
            None => Ok(()),
        }
    }
}

/// Replays the configured inputs through `program`.
pub fn run(program: &Program, config: &BacktestConfig) -> Result<Summary, BacktestError> {
    let started = Instant::now();
    // One thread: the plans have one partition, and the pipeline is
    // synchronous; DataFusion's file reads go to tokio's blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BacktestError::Runtime)?;
    let ctx = source::session(config.read.batch_size);
    let names: Vec<&str> = config.inputs.iter().map(|i| i.stream.as_str()).collect();
    let mut pipeline = Pipeline::build(program, &names)?;
    let mut output = Output::open(program, config.output.as_ref())?;
    let mut dead_letter = DeadLetterSink::new(config.dead_letter.clone(), config.inputs.len());
    let mut summary = Summary::new(program, config.read.range);
    let mut progress = ProgressLine::new(config.progress);
    let mut reached: Option<Millis> = None;

    let mut replays = Vec::with_capacity(config.inputs.len());
    for input in &config.inputs {
        let stream = program
            .catalog
            .stream_index(&input.stream)
            .ok_or_else(|| RunError::UnknownStream(input.stream.clone()))?;
        let plan = &program.catalog.streams[stream];
        let source = runtime.block_on(SortedSource::open(&ctx, plan, input, &config.read))?;
        replays.push(Replay {
            stream,
            name: input.stream.clone(),
            path: input.path.clone(),
            time_field: plan.time_field.clone(),
            source: Some(source),
        });
    }

    // Each round takes one batch of a finite scan, or ends one.
    while let Some(next) = next_replay(&pipeline, &replays) {
        let replay = &mut replays[next];
        let Some(source) = replay.source.as_mut() else {
            break;
        };
        match runtime.block_on(source.next())? {
            Some(batch) => {
                write_rejections(&mut dead_letter, next, &replay.name, &batch.rejected)?;
                let events = &batch.events;
                summary.run.events_in += events.num_rows() as u64;
                let step = pipeline.push(replay.stream, events)?;
                // Sorted input is never late; should the pipeline still
                // refuse events, they are recorded, not lost.
                let lateness = program.catalog.streams[replay.stream].lateness;
                let late = late_rejections(&step.late, events, replay, lateness);
                write_rejections(&mut dead_letter, next, &replay.name, &late)?;
                output.write(&step.ready, &mut summary)?;
                reached = last_time(events, &replay.time_field).or(reached);
                progress.update(summary.run.events_in + dead_letter.total(), reached);
            }
            None => {
                write_rejections(
                    &mut dead_letter,
                    next,
                    &replay.name,
                    &source.take_rejections(),
                )?;
                summary.scan += source.stats();
                replay.source = None;
                let step = pipeline.finish_stream(replay.stream)?;
                output.write(&step.ready, &mut summary)?;
            }
        }
    }
    let rest = pipeline.finish()?;
    output.write(&rest, &mut summary)?;
    output.finish()?;
    dead_letter.finish()?;
    summary.run.rejected = dead_letter.counts().clone();
    if dead_letter.total() > 0 {
        summary.run.dead_letter = Some(dead_letter.path().to_path_buf());
    }
    progress.finish(summary.events_read(), reached);
    summary.wall = started.elapsed();
    Ok(summary)
}

/// Dead-letter records for the events the pipeline found late.
fn late_rejections(
    late: &[LateEvent],
    events: &RecordBatch,
    replay: &Replay,
    lateness: Millis,
) -> Vec<SourcedRejection> {
    late.iter()
        .map(|late| SourcedRejection {
            source: replay.path.clone(),
            rejection: Rejection {
                line: offset(events, late.row),
                reason: RejectReason::Late,
                detail: late_detail(late.time, late.watermark, &replay.name, lateness),
                // The raw line is not kept past decoding.
                raw: Vec::new(),
            },
        })
        .collect()
}

/// The unfinished replay whose stream has the lowest watermark (ties:
/// declaration order), as the file runner picks its next input.
fn next_replay(pipeline: &Pipeline, replays: &[Replay]) -> Option<usize> {
    replays
        .iter()
        .enumerate()
        .filter(|(_, r)| r.source.is_some())
        .min_by_key(|(_, r)| {
            (
                pipeline.stream_watermark(r.stream).unwrap_or(Millis::MIN),
                r.stream,
            )
        })
        .map(|(i, _)| i)
}

fn write_rejections(
    dead_letter: &mut DeadLetterSink,
    index: usize,
    stream: &str,
    rejected: &[SourcedRejection],
) -> Result<(), SinkError> {
    for r in rejected {
        dead_letter.write(index, stream, &r.source, &r.rejection)?;
    }
    Ok(())
}

/// The offset (line or row number) of row `row`.
fn offset(batch: &RecordBatch, row: usize) -> i64 {
    batch
        .column_by_name(OFFSET_COLUMN)
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .map_or(0, |offsets| offsets.value(row))
}

/// The event time of the last row (batches are sorted by it).
fn last_time(batch: &RecordBatch, time_field: &str) -> Option<Millis> {
    let times = batch
        .column_by_name(time_field)?
        .as_primitive_opt::<TimestampMillisecondType>()?;
    (!times.is_empty()).then(|| times.value(times.len() - 1))
}
