//! Runs a program on several worker threads, its keys split between them
//! (`eddy run --workers N`).
//!
//! The runner decides lateness once, with clocks that see every event, so
//! the same events are late whatever the number of workers. It splits the
//! admitted events by key (see [`split`]), hands each worker its share and
//! the new progress of the stream, so every worker's watermark is the
//! runner's, and waits for all of them before the next step. Derived events
//! are merged by (time, rule, key, id): an order that does not depend on
//! how many workers there are.

mod split;
mod worker;

use arrow_array::{BooleanArray, RecordBatch};
use arrow_select::filter::filter_record_batch;
use dsl::plan::{Millis, Program};
use operators::schema::{stream_schema, OFFSET_COLUMN};

use crate::pipeline::{event_columns, LateEvent, OutputEvent, Pipeline, PipelineError, Progress};
use crate::time::admission::{self, input_clocks};
use crate::time::StreamClock;

pub use split::SplitError;
use split::Splitter;
use worker::{Command, Reply, Worker};

/// Errors of the partitioned run.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    #[error("cannot split the rules between workers: {0}")]
    Split(#[from] SplitError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("cannot start a worker thread: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("worker {0} stopped unexpectedly")]
    WorkerLost(usize),
}

/// The [`Pipeline`] interface over `workers` pipelines.
pub struct PartitionedPipeline {
    clocks: Vec<Option<StreamClock>>,
    /// The global watermark of the last step, as [`Pipeline`] keeps it.
    handed: Millis,
    /// Per catalog stream: the columns of its event time and offset.
    event_columns: Vec<(usize, usize)>,
    splitter: Splitter,
    workers: Vec<Worker>,
}

impl PartitionedPipeline {
    pub fn build(
        program: &Program,
        inputs: &[&str],
        workers: usize,
    ) -> Result<Self, PartitionError> {
        let clocks = input_clocks(&program.catalog, inputs)
            .map_err(|unknown| PipelineError::NotAnInput(unknown.to_string()))?;
        let input_indices: Vec<usize> = clocks
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|_| i))
            .collect();
        let splitter = Splitter::new(program, &input_indices, workers.max(1))?;
        let event_columns = program
            .catalog
            .streams
            .iter()
            .map(|stream| {
                let schema = stream_schema(stream);
                let column = |name: &str| schema.index_of(name).unwrap_or(usize::MAX);
                (column(&stream.time_field), column(OFFSET_COLUMN))
            })
            .collect();
        let workers = (0..workers.max(1))
            .map(|index| {
                let pipeline = Pipeline::build(program, inputs)?;
                Worker::spawn(index, pipeline).map_err(PartitionError::Spawn)
            })
            .collect::<Result<Vec<_>, PartitionError>>()?;
        Ok(PartitionedPipeline {
            clocks,
            handed: Millis::MIN,
            event_columns,
            splitter,
            workers,
        })
    }

    /// The watermark of input stream `stream`, as [`Pipeline::stream_watermark`].
    pub fn stream_watermark(&self, stream: usize) -> Option<Millis> {
        self.clocks
            .get(stream)?
            .as_ref()
            .map(StreamClock::watermark)
    }

    /// As [`Pipeline::push`]: a batch of input stream `stream` in the
    /// in-flight schema, in arrival order.
    pub fn push(&mut self, stream: usize, batch: &RecordBatch) -> Result<Progress, PartitionError> {
        let not_an_input = || PipelineError::NotAnInput(format!("#{stream}"));
        let &(time_col, offset_col) = self.event_columns.get(stream).ok_or_else(not_an_input)?;
        let (times, _) = event_columns(batch, time_col, offset_col).map_err(|problem| {
            PipelineError::BadBatch {
                stream: format!("#{stream}"),
                problem,
            }
        })?;
        let clock = self
            .clocks
            .get_mut(stream)
            .and_then(Option::as_mut)
            .ok_or_else(not_an_input)?;
        let (keep, late) = admission::admit(clock, self.handed, times.values());
        let progress = clock.progress();
        let (admitted, admitted_rows) = if late.is_empty() {
            (batch.clone(), (0..batch.num_rows()).collect())
        } else {
            let rows: Vec<usize> = (0..keep.len()).filter(|&row| keep[row]).collect();
            let mask = BooleanArray::from(keep);
            (
                filter_record_batch(batch, &mask).map_err(PipelineError::from)?,
                rows,
            )
        };
        let shares = self.splitter.split(stream, &admitted)?;
        let mut worker_rows = Vec::with_capacity(shares.len());
        for (index, (share, rows)) in shares.into_iter().enumerate() {
            let command = Command::Push {
                stream,
                batch: share,
                progress,
            };
            if !self.workers[index].send(command) {
                return Err(PartitionError::WorkerLost(index));
            }
            worker_rows.push(rows);
        }
        let mut merged = self.collect_progress()?;
        // The workers' clocks trail the runner's, so they find nothing late
        // that the runner admitted; should one do so, its rows still count.
        let mut all_late = late;
        for (worker, worker_late) in merged.late.drain(..) {
            all_late.extend(worker_late.into_iter().map(|late| LateEvent {
                row: admitted_rows[worker_rows[worker][late.row]],
                ..late
            }));
        }
        all_late.sort_by_key(|late| late.row);
        self.step();
        Ok(Progress {
            late: all_late,
            ready: merged.ready,
        })
    }

    /// As [`Pipeline::finish_stream`].
    pub fn finish_stream(&mut self, stream: usize) -> Result<Progress, PartitionError> {
        if let Some(clock) = self.clocks.get_mut(stream).and_then(Option::as_mut) {
            clock.finish();
        }
        for (index, worker) in self.workers.iter().enumerate() {
            if !worker.send(Command::FinishStream(stream)) {
                return Err(PartitionError::WorkerLost(index));
            }
        }
        let merged = self.collect_progress()?;
        self.step();
        Ok(Progress {
            late: Vec::new(),
            ready: merged.ready,
        })
    }

    /// As [`Pipeline::finish`].
    pub fn finish(&mut self) -> Result<Vec<OutputEvent>, PartitionError> {
        for clock in self.clocks.iter_mut().flatten() {
            clock.finish();
        }
        for (index, worker) in self.workers.iter().enumerate() {
            if !worker.send(Command::Finish) {
                return Err(PartitionError::WorkerLost(index));
            }
        }
        let mut ready = Vec::new();
        for (index, worker) in self.workers.iter().enumerate() {
            match worker.receive() {
                Some(Ok(Reply::Finished(events))) => ready.extend(events),
                Some(Err(error)) => return Err(error.into()),
                _ => return Err(PartitionError::WorkerLost(index)),
            }
        }
        sort_for_output(&mut ready);
        Ok(ready)
    }

    /// Moves the handed watermark as [`Pipeline`] does after each step.
    fn step(&mut self) {
        self.handed = self
            .handed
            .max(admission::global_watermark(&self.clocks, self.handed));
    }

    /// Every worker's reply to the step's command: the derived events
    /// merged, and the late rows per worker.
    fn collect_progress(&self) -> Result<Merged, PartitionError> {
        let mut merged = Merged::default();
        for (index, worker) in self.workers.iter().enumerate() {
            match worker.receive() {
                Some(Ok(Reply::Progress(progress))) => {
                    merged.ready.extend(progress.ready);
                    if !progress.late.is_empty() {
                        merged.late.push((index, progress.late));
                    }
                }
                Some(Err(error)) => return Err(error.into()),
                _ => return Err(PartitionError::WorkerLost(index)),
            }
        }
        sort_for_output(&mut merged.ready);
        Ok(merged)
    }
}

#[derive(Default)]
struct Merged {
    ready: Vec<OutputEvent>,
    late: Vec<(usize, Vec<LateEvent>)>,
}

/// Each worker's events are in (time, rule) order already; the key and the
/// id order those of one time and rule the same way for any split (a key's
/// events all come from one worker, so the sort, being stable, keeps their
/// emission order where the ids are equal).
fn sort_for_output(events: &mut [OutputEvent]) {
    events.sort_by(|a, b| {
        (a.meta.time, a.rule, &a.meta.key, &a.meta.id).cmp(&(
            b.meta.time,
            b.rule,
            &b.meta.key,
            &b.meta.id,
        ))
    });
}
