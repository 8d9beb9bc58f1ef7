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
//! Each input is a driver [`Source`] over its DataFusion scan, so the loop,
//! the late-event records, the CloudEvents output and the dead letters are
//! `eddy run`'s ([`runtime::driver`]).

pub mod progress;
pub mod source;
pub mod summary;
pub mod time_range;

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::RecordBatch;
use dsl::plan::{Millis, Program};

use crate::driver::{Driver, EventSink, RunError, Source, SourceEvent};
use crate::pipeline::{OutputEvent, PipelineError};
use crate::sink::{CloudEventEncoder, CloudEventLines, DeadLetterSink, LineWriter, SinkError};
use progress::ProgressLine;
use source::{HistoryInput, ReadOptions, ScanStats, SortedSource};
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

/// The history of one stream as a driver [`Source`]: DataFusion's scan,
/// polled on the backtest's runtime.
struct HistorySource<'a> {
    runtime: &'a tokio::runtime::Runtime,
    /// Catalog index of the stream.
    stream: usize,
    time_field: String,
    scan: SortedSource,
    /// Shared with the other inputs: the progress line and the scans' stats.
    shared: &'a RefCell<Shared>,
    ended: bool,
}

/// What the inputs of one backtest report together.
struct Shared {
    progress: ProgressLine,
    /// Rows read so far (events and rejected rows), over every input.
    rows: u64,
    /// The newest event time read so far.
    reached: Option<Millis>,
    scan: ScanStats,
}

impl Source for HistorySource<'_> {
    fn stream(&self) -> Option<usize> {
        Some(self.stream)
    }

    fn next(&mut self) -> Result<SourceEvent, RunError> {
        if self.ended {
            return Ok(SourceEvent::End);
        }
        let next = self
            .runtime
            .block_on(self.scan.next())
            .map_err(|e| RunError::Connector(Box::new(e)))?;
        let mut shared = self.shared.borrow_mut();
        let batch = match next {
            Some(batch) => batch,
            None => {
                // Rejections not handed out with a batch come last (all of
                // them when nothing was in the time range).
                self.ended = true;
                shared.scan += self.scan.stats();
                let rejected = self.scan.take_rejections();
                if rejected.is_empty() {
                    return Ok(SourceEvent::End);
                }
                self.scan.empty_batch(rejected)
            }
        };
        shared.rows += (batch.events.num_rows() + batch.rejected.len()) as u64;
        shared.reached = last_time(&batch.events, &self.time_field).or(shared.reached);
        let (rows, reached) = (shared.rows, shared.reached);
        shared.progress.update(rows, reached);
        Ok(SourceEvent::Batch(Box::new(batch)))
    }
}

/// Derived events to the summary, and to the output file if there is one.
struct Recorded<'s> {
    summary: &'s mut Summary,
    out: Option<CloudEventLines>,
}

impl EventSink for Recorded<'_> {
    fn write(&mut self, events: &[OutputEvent]) -> Result<(), SinkError> {
        events.iter().for_each(|e| self.summary.record(e));
        match self.out.as_mut() {
            Some(out) => out.write(events),
            None => Ok(()),
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        match self.out.as_mut() {
            Some(out) => out.flush(),
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
    let shared = RefCell::new(Shared {
        progress: ProgressLine::new(config.progress),
        rows: 0,
        reached: None,
        scan: ScanStats::default(),
    });
    let mut sources: Vec<Box<dyn Source + '_>> = Vec::with_capacity(config.inputs.len());
    for input in &config.inputs {
        let stream = program
            .catalog
            .stream_index(&input.stream)
            .ok_or_else(|| RunError::UnknownStream(input.stream.clone()))?;
        let plan = &program.catalog.streams[stream];
        let scan = runtime.block_on(SortedSource::open(&ctx, stream, plan, input, &config.read))?;
        sources.push(Box::new(HistorySource {
            runtime: &runtime,
            stream,
            time_field: plan.time_field.clone(),
            scan,
            shared: &shared,
            ended: false,
        }));
    }
    let out = match &config.output {
        Some(path) => Some(CloudEventLines::new(
            CloudEventEncoder::new(program),
            LineWriter::create(path)?,
        )),
        None => None,
    };
    let mut summary = Summary::new(program, config.read.range);
    let mut dead_letter = DeadLetterSink::new(config.dead_letter.clone(), config.inputs.len());
    let mut events = Recorded {
        summary: &mut summary,
        out,
    };
    let run = Driver::new(program, &mut events, &mut dead_letter)
        .inputs(&names)
        .run(&mut sources)?;
    drop(sources);
    summary.run = run;
    if dead_letter.total() > 0 {
        summary.run.dead_letter = Some(dead_letter.path().to_path_buf());
    }
    let shared = shared.into_inner();
    summary.scan = shared.scan;
    let mut progress = shared.progress;
    progress.finish(summary.events_read(), shared.reached);
    summary.wall = started.elapsed();
    Ok(summary)
}

/// The event time of the last row (batches are sorted by it).
fn last_time(batch: &RecordBatch, time_field: &str) -> Option<Millis> {
    let times = batch
        .column_by_name(time_field)?
        .as_primitive_opt::<TimestampMillisecondType>()?;
    (!times.is_empty()).then(|| times.value(times.len() - 1))
}
