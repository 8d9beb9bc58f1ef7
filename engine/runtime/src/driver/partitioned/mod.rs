//! Runs a program on several worker threads, its keys split between them
//! (`eddy run --workers N`).
//!
//! The runner decides lateness once, with clocks that see every event, so
//! the same events are late whatever the number of workers. It splits the
//! admitted events by key (see [`split`]) and hands each worker its share
//! and the new progress of the stream, so every worker's watermark is the
//! runner's. The workers run one step behind the runner: a step's derived
//! events are collected once the next step has been handed out (or on
//! [`PartitionedPipeline::flush`], when no input is waiting), so the
//! workers are busy while the runner reads, splits and writes. Derived
//! events are merged by (time, rule, key, id): an order that does not
//! depend on how many workers there are.

mod split;
mod worker;

use arrow_array::{BooleanArray, RecordBatch};
use arrow_select::filter::filter_record_batch;
use dsl::plan::{Millis, Program};

use crate::pipeline::{EventColumns, OutputEvent, Pipeline, PipelineError, Progress};
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
    /// A worker's clock trails the runner's, so this cannot happen unless
    /// the two disagree: a bug, reported rather than hidden.
    #[error("worker {worker} found {count} events late that the runner admitted")]
    LateOnWorker { worker: usize, count: usize },
    /// Checkpoints, reloads and idle inputs need one pipeline per task.
    #[error("a task on worker threads cannot be checkpointed, reloaded or told its input is idle")]
    NotSingle,
}

/// The [`Pipeline`] interface over `workers` pipelines.
pub struct PartitionedPipeline {
    clocks: Vec<Option<StreamClock>>,
    /// The global watermark of the last step, as [`Pipeline`] keeps it.
    handed: Millis,
    event_columns: EventColumns,
    splitter: Splitter,
    workers: Vec<Worker>,
    /// Every worker has a step whose reply is not collected yet.
    step_in_flight: bool,
    /// Reads the wall clock for [`admission::admit`].
    wall_clock: fn() -> Millis,
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
        let workers = (0..workers.max(1))
            .map(|index| {
                let mut pipeline = Pipeline::build(program, inputs)?;
                // The runner refused the events from the future already, by
                // its own reading of the wall clock.
                pipeline.set_wall_clock(|| Millis::MAX);
                Worker::spawn(index, pipeline).map_err(PartitionError::Spawn)
            })
            .collect::<Result<Vec<_>, PartitionError>>()?;
        Ok(PartitionedPipeline {
            clocks,
            handed: Millis::MIN,
            event_columns: EventColumns::new(&program.catalog),
            splitter,
            workers,
            step_in_flight: false,
            wall_clock: admission::wall_clock_now,
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
        let name = format!("#{stream}");
        let (times, _) = self.event_columns.read(stream, &name, batch)?;
        let clock = self
            .clocks
            .get_mut(stream)
            .and_then(Option::as_mut)
            .ok_or(PipelineError::NotAnInput(name))?;
        let now = (self.wall_clock)();
        let (keep, untimely) = admission::admit(clock, self.handed, times.values(), now);
        let progress = clock.progress();
        let admitted = if untimely.is_empty() {
            batch.clone()
        } else {
            let mask = BooleanArray::from(keep);
            filter_record_batch(batch, &mask).map_err(PipelineError::from)?
        };
        let shares = self.splitter.split(stream, &admitted)?;
        let commands = shares.into_iter().map(|share| Command::Push {
            stream,
            batch: share,
            progress,
        });
        let ready = self.step(commands)?;
        Ok(Progress { untimely, ready })
    }

    /// The derived events of the step in flight, if any: for a runner about
    /// to wait for input, so that what is done is written now.
    pub fn flush(&mut self) -> Result<Vec<OutputEvent>, PartitionError> {
        if !self.step_in_flight {
            return Ok(Vec::new());
        }
        self.step_in_flight = false;
        self.collect()
    }

    /// As [`Pipeline::finish_stream`].
    pub fn finish_stream(&mut self, stream: usize) -> Result<Progress, PartitionError> {
        if let Some(clock) = self.clocks.get_mut(stream).and_then(Option::as_mut) {
            clock.finish();
        }
        let commands = (0..self.workers.len()).map(|_| Command::FinishStream(stream));
        let mut ready = self.step(commands)?;
        ready.extend(self.flush()?);
        Ok(Progress {
            untimely: Vec::new(),
            ready,
        })
    }

    /// As [`Pipeline::finish`].
    pub fn finish(&mut self) -> Result<Vec<OutputEvent>, PartitionError> {
        for clock in self.clocks.iter_mut().flatten() {
            clock.finish();
        }
        let mut ready = self.flush()?;
        for (index, worker) in self.workers.iter().enumerate() {
            if !worker.send(Command::Finish) {
                return Err(PartitionError::WorkerLost(index));
            }
        }
        let mut finished = Vec::new();
        for (index, worker) in self.workers.iter().enumerate() {
            match worker.receive() {
                Some(Ok(Reply::Finished(events))) => finished.extend(events),
                Some(Err(error)) => return Err(error.into()),
                _ => return Err(PartitionError::WorkerLost(index)),
            }
        }
        sort_for_output(&mut finished);
        ready.extend(finished);
        Ok(ready)
    }

    /// Hands each worker its command of a new step, then collects the
    /// previous step's derived events (the new step's come later), and
    /// moves the handed watermark as [`Pipeline`] does after each step.
    fn step(
        &mut self,
        commands: impl Iterator<Item = Command>,
    ) -> Result<Vec<OutputEvent>, PartitionError> {
        for (index, command) in commands.enumerate() {
            if !self.workers[index].send(command) {
                return Err(PartitionError::WorkerLost(index));
            }
        }
        self.handed = self
            .handed
            .max(admission::global_watermark(&self.clocks, self.handed));
        let previous = self.flush()?;
        self.step_in_flight = true;
        Ok(previous)
    }

    /// Every worker's reply to its oldest command, merged.
    fn collect(&self) -> Result<Vec<OutputEvent>, PartitionError> {
        let mut ready = Vec::new();
        for (index, worker) in self.workers.iter().enumerate() {
            match worker.receive() {
                Some(Ok(Reply::Progress(progress))) if progress.untimely.is_empty() => {
                    ready.extend(progress.ready)
                }
                Some(Ok(Reply::Progress(progress))) => {
                    return Err(PartitionError::LateOnWorker {
                        worker: index,
                        count: progress.untimely.len(),
                    })
                }
                Some(Err(error)) => return Err(error.into()),
                _ => return Err(PartitionError::WorkerLost(index)),
            }
        }
        sort_for_output(&mut ready);
        Ok(ready)
    }
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
