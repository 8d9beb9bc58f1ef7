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
//! The input is cut into tasks (all of a file run is task 0; a job's task
//! N is partition N of every topic), each with its own pipeline. Each round
//! the driver first looks at its [`Control`] (checkpoint, reload, stop),
//! then takes the next event of the unfinished source whose stream has the
//! lowest watermark (ties: declaration order), which keeps the reorder
//! buffer small and makes the output independent of which input was read
//! first. Late events are worded once, here, for every source. A live
//! source that has nothing yet makes the driver hand out what is done
//! before it waits.
//!
//! A barrier (every [`Driver::checkpoint_every`], and at a stop) flushes
//! the sinks (written, synced, acknowledged), stores every task's state
//! with its read positions, and only then tells the sources those
//! positions are covered, so a source never commits past what the sinks
//! have.

pub mod hooks;
pub mod partitioned;
pub mod sink;
pub mod source;
pub mod task;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dsl::plan::{Millis, Program, StreamPlan};
use operators::Limits;

use crate::checkpoint::{Checkpoint, CheckpointError, SourceOffset, Unacknowledged};
use crate::decode::DecodeError;
use crate::pipeline::reload::{rule_changes, unchanged_rules};
use crate::pipeline::{OutputEvent, PipelineError, Progress};
use crate::reject::RejectReason;
use crate::sink::json::rfc3339_millis;
use crate::sink::SinkError;
use crate::source::SourceError;
use crate::time::{Untimely, UntimelyEvent};

pub use hooks::{Command, Control, Never, Observer, Quiet, Reload, TaskShapes, TaskStore};
use partitioned::PartitionError;
pub use sink::{DeadLetterOutput, EventSink};
pub use source::{MessageOrigin, Origins, Source, SourceBatch, SourceEvent};
pub use task::{
    task_group, task_id, task_name, task_partition, Pipelines, Task, TaskId, TaskShape,
    TASK_GROUP_STRIDE,
};

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
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
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

/// The driver of one run over finite or live sources.
pub struct Driver<'r> {
    program: Program,
    /// Input streams of the program: (catalog index, name).
    inputs: Vec<(usize, String)>,
    workers: usize,
    limits: Option<Limits>,
    /// Tasks are made when a source assigns them, not task 0 up front.
    tasks_on_demand: bool,
    tasks: BTreeMap<TaskId, Task>,
    /// Tasks whose checkpoints another instance has claimed (see
    /// [`CheckpointError::Fenced`]): dropped, and their input discarded
    /// until the source assigns them to this run again.
    fenced: BTreeSet<TaskId>,
    events: &'r mut dyn EventSink,
    dead_letter: &'r mut dyn DeadLetterOutput,
    store: Option<&'r mut dyn TaskStore>,
    /// Which rules each task runs; `None`: every task runs every rule.
    shapes: Option<&'r dyn TaskShapes>,
    observer: &'r mut dyn Observer,
    control: &'r mut dyn Control,
    /// Time between the end of one barrier and the next.
    checkpoint_interval: Option<Duration>,
    /// Time between two [`Observer::refresh`] calls.
    refresh_interval: Option<Duration>,
    summary: RunSummary,
}

impl<'r> Driver<'r> {
    /// A driver of `program`'s rules writing to `events` and `dead_letter`:
    /// one task on one pipeline, no checkpoints, no commands, until told
    /// otherwise.
    pub fn new(
        program: &Program,
        events: &'r mut dyn EventSink,
        dead_letter: &'r mut dyn DeadLetterOutput,
    ) -> Self {
        Driver {
            program: program.clone(),
            inputs: program
                .input_streams()
                .map(|(index, stream)| (index, stream.name.clone()))
                .collect(),
            workers: 1,
            limits: None,
            tasks_on_demand: false,
            tasks: BTreeMap::new(),
            fenced: BTreeSet::new(),
            events,
            dead_letter,
            store: None,
            shapes: None,
            // Zero-sized: leaking them allocates nothing.
            observer: Box::leak(Box::new(Quiet)),
            control: Box::leak(Box::new(Never)),
            checkpoint_interval: None,
            refresh_interval: None,
            summary: RunSummary::default(),
        }
    }

    /// The input streams, by name, when not every stream a rule reads is
    /// given (a test run).
    pub fn inputs(mut self, names: &[&str]) -> Self {
        self.inputs = names
            .iter()
            .filter_map(|name| Some((self.program.catalog.stream_index(name)?, name.to_string())))
            .collect();
        self
    }

    /// Task 0 on `workers` threads, its keys split between them.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Caps on every task's operator state.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Tasks come and go as the sources assign and revoke them.
    pub fn tasks_on_demand(mut self) -> Self {
        self.tasks_on_demand = true;
        self
    }

    /// Tasks resume from `store` and checkpoint into it.
    pub fn checkpoints(mut self, store: &'r mut dyn TaskStore) -> Self {
        self.store = Some(store);
        self
    }

    /// Tasks run the rules `shapes` gives them, not the whole program.
    pub fn shapes(mut self, shapes: &'r dyn TaskShapes) -> Self {
        self.shapes = Some(shapes);
        self
    }

    pub fn observer(mut self, observer: &'r mut dyn Observer) -> Self {
        self.observer = observer;
        self
    }

    pub fn control(mut self, control: &'r mut dyn Control) -> Self {
        self.control = control;
        self
    }

    /// A barrier `interval` after the end of the last one.
    pub fn checkpoint_every(mut self, interval: Duration) -> Self {
        self.checkpoint_interval = Some(interval);
        self
    }

    /// [`Observer::refresh`] every `interval`.
    pub fn refresh_every(mut self, interval: Duration) -> Self {
        self.refresh_interval = Some(interval);
        self
    }

    /// Runs `sources` until they end (then moves time to its end: open
    /// windows close, trailing `not` steps fire, and the sinks are
    /// finished) or until [`Command::Stop`] (then takes a last checkpoint).
    pub fn run(mut self, sources: &mut [Box<dyn Source + '_>]) -> Result<RunSummary, RunError> {
        if !self.tasks_on_demand {
            let names: Vec<&str> = self.inputs.iter().map(|(_, n)| n.as_str()).collect();
            let mut pipelines = Pipelines::build(&self.program, &names, self.workers)?;
            if let (Pipelines::Single(pipeline), Some(limits)) = (&mut pipelines, &self.limits) {
                pipeline.set_limits(limits);
            }
            self.tasks.insert(0, Task::new(pipelines));
        }
        let mut live = vec![true; sources.len()];
        let mut last_checkpoint = Instant::now();
        let mut last_refresh = Instant::now();
        let due =
            |last: Instant, every: Option<Duration>| every.is_some_and(|e| last.elapsed() >= e);
        // Each round carries out what is due or takes one event of a
        // source; finite sources end, live ones run until told to stop.
        loop {
            match self.control.poll() {
                Some(Command::Stop) => {
                    self.checkpoint(sources)?;
                    return Ok(self.summary);
                }
                Some(Command::Reload(reload)) => {
                    self.reload(*reload, sources)?;
                    last_checkpoint = Instant::now();
                }
                None => {}
            }
            if due(last_refresh, self.refresh_interval) {
                self.observer.refresh(&self.program, &self.tasks);
                last_refresh = Instant::now();
            }
            let wanted = self.store.is_some() && sources.iter().any(|s| s.wants_checkpoint());
            if wanted || due(last_checkpoint, self.checkpoint_interval) {
                self.checkpoint(sources)?;
                last_checkpoint = Instant::now();
            }
            let Some(next) = self.next_input(sources, &live) else {
                break;
            };
            let source = &mut sources[next];
            let event = match source.try_next()? {
                Some(event) => event,
                None => {
                    // A live input has nothing yet: what is done goes out
                    // before the wait.
                    self.flush_tasks()?;
                    source.next()?
                }
            };
            let stream = source.stream();
            match event {
                SourceEvent::Batch(batch) => self.ingest(next, *batch)?,
                SourceEvent::End => {
                    live[next] = false;
                    if let Some(stream) = stream {
                        self.end_stream(stream)?;
                    }
                }
                SourceEvent::Assigned(tasks) => {
                    for task in tasks {
                        self.fenced.remove(&task);
                        self.live_task(task)?;
                    }
                    self.observer.tasks_changed(self.tasks.len());
                }
                SourceEvent::Revoked(tasks) => self.hand_back(&tasks)?,
                SourceEvent::Idle { task, stream, idle } => {
                    let Some(built) = self.live_task(task)? else {
                        continue;
                    };
                    let progress = built.set_idle(stream, idle)?;
                    self.write_events(Some(task), &progress.ready, None)?;
                }
                SourceEvent::Progress {
                    task,
                    stream,
                    progress,
                } => {
                    let Some(built) = self.live_task(task)? else {
                        continue;
                    };
                    let progress = built.drive(stream, progress)?;
                    self.write_events(Some(task), &progress.ready, None)?;
                }
                SourceEvent::Quiet => {}
            }
        }
        let mut rest = Vec::new();
        for task in self.tasks.values_mut() {
            rest.extend(task.pipelines.finish()?);
        }
        self.write_events(None, &rest, None)?;
        self.events.barrier()?;
        self.dead_letter.finish()?;
        Ok(self.summary)
    }

    /// Task `task` as [`Driver::task`] gives it, or `None` if it is fenced
    /// off (see [`Driver::fence`]), or was as it was built.
    fn live_task(&mut self, task: TaskId) -> Result<Option<&mut Task>, RunError> {
        if self.fenced.contains(&task) {
            return Ok(None);
        }
        match self.task(task) {
            Ok(task) => Ok(Some(task)),
            Err(error) if is_fenced(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Task `task`, built (and restored from the store) if it is new.
    fn task(&mut self, task: TaskId) -> Result<&mut Task, RunError> {
        if !self.tasks.contains_key(&task) {
            let shape = self.shape(&self.program, task);
            let limits = self.limits.unwrap_or_default();
            let mut built = Task::build(&self.program, &shape, &limits)?;
            let mut resumed_from = None;
            if let Some(store) = self.store.as_mut() {
                if let Some(checkpoint) = store.load(task)? {
                    let now = store.ruleset();
                    if checkpoint.ruleset == now {
                        built.restore(task, &checkpoint)?;
                    } else {
                        let changes = built.restore_across_rules(
                            task,
                            &checkpoint,
                            &self.program,
                            &now,
                            &shape,
                            &limits,
                        )?;
                        self.observer
                            .task_resumed_across_rules(task, checkpoint.id, &changes);
                    }
                    self.events.resume(task, &checkpoint.outputs)?;
                    resumed_from = Some(checkpoint.id);
                } else {
                    // A first checkpoint before any input, so that what
                    // the task derives is always after a checkpoint that
                    // records where the sinks ended.
                    let outputs = self.events.positions()?;
                    if let Err(error) = store_task(
                        &mut **store,
                        task,
                        &mut built,
                        &self.inputs,
                        (&outputs, &[]),
                    ) {
                        if is_fenced(&error) {
                            self.fence(task);
                        }
                        return Err(error);
                    }
                }
            }
            self.observer.task_started(task, resumed_from);
            self.tasks.insert(task, built);
        }
        self.tasks
            .get_mut(&task)
            .ok_or_else(|| RunError::UnknownStream(format!("task {task}")))
    }

    /// Pushes a batch of source `input` to its task, sends its rejected and
    /// late records to the dead letter and the derived events it completed
    /// to the sink.
    fn ingest(&mut self, input: usize, batch: SourceBatch) -> Result<(), RunError> {
        let stream = batch.stream;
        let Some(task) = self.live_task(batch.task)? else {
            return Ok(());
        };
        for (topic, next) in &batch.consumed {
            task.consumed(topic, *next);
        }
        let progress = if batch.events.num_rows() > 0 {
            task.pipelines.push(stream, &batch.events)?
        } else {
            Progress::default()
        };
        let plan = &self.program.catalog.streams[stream];
        if batch.events.num_rows() > 0 {
            let rows = batch.events.num_rows() as u64;
            self.summary.events_in += rows;
            self.observer.events_in(&plan.name, rows);
        }
        let untimely: Vec<_> = progress
            .untimely
            .iter()
            .map(|event| batch.untimely_rejection(event, untimely_detail(event, plan)))
            .collect();
        let in_line_order = matches!(batch.origins, Origins::Chunk { .. });
        let mut rejections = batch.rejected;
        rejections.extend(untimely);
        if in_line_order {
            // Lines of one chunk: in line order, so that the dead letters of
            // a stream do not depend on the chunk size. (Other sources hand
            // their rejections over in their own order, e.g. a sorted scan.)
            rejections.sort_by_key(|r| r.rejection.line);
        }
        let mut counts: BTreeMap<RejectReason, usize> = BTreeMap::new();
        for rejected in &rejections {
            let reason = rejected.rejection.reason;
            *self.summary.rejected.entry(reason).or_default() += 1;
            *counts.entry(reason).or_default() += 1;
            self.observer.rejected(&plan.name, reason);
            self.dead_letter.reject(input, &plan.name, rejected)?;
        }
        if let Some(first) = rejections.first() {
            self.observer.rejected_batch(&first.source, &counts);
        }
        // A reader of a live output (a pipe from stdin) sees each batch's
        // derived events now, not when a buffer fills.
        self.write_events(Some(batch.task), &progress.ready, batch.received)?;
        if !progress.ready.is_empty() {
            self.events.flush()?;
        }
        Ok(())
    }

    /// Stream `stream` has ended in every task.
    fn end_stream(&mut self, stream: usize) -> Result<(), RunError> {
        let mut ready = Vec::new();
        for (&id, task) in &mut self.tasks {
            ready.push((id, task.pipelines.finish_stream(stream)?.ready));
        }
        for (id, events) in ready {
            self.write_events(Some(id), &events, None)?;
        }
        Ok(())
    }

    /// Derived events the tasks' workers have done, written and flushed.
    fn flush_tasks(&mut self) -> Result<(), RunError> {
        let mut done = Vec::new();
        for (&id, task) in &mut self.tasks {
            done.push((id, task.pipelines.flush()?));
        }
        let mut any = false;
        for (id, events) in done {
            any |= !events.is_empty();
            self.write_events(Some(id), &events, None)?;
        }
        if any {
            self.events.flush()?;
        }
        Ok(())
    }

    /// Writes the derived events of task `task` (`None`: of several).
    fn write_events(
        &mut self,
        task: Option<TaskId>,
        events: &[OutputEvent],
        received: Option<Instant>,
    ) -> Result<(), RunError> {
        if events.is_empty() {
            return Ok(());
        }
        self.summary.events_out += events.len() as u64;
        self.events.write_from(task, events)?;
        for event in events {
            if let Some(rule) = self.program.rules.get(event.rule) {
                self.observer.derived(&rule.name);
            }
        }
        if let Some(received) = received {
            self.observer
                .latency(received.elapsed(), events.len() as u64);
        }
        Ok(())
    }

    /// The sinks have everything handed to them so far, durably.
    fn barrier(&mut self) -> Result<(), RunError> {
        self.events.barrier()?;
        self.dead_letter.flush()?;
        Ok(())
    }

    /// Which rules task `task` runs under `program`, over which inputs.
    fn shape(&self, program: &Program, task: TaskId) -> TaskShape {
        match self.shapes {
            Some(shapes) => shapes.shape(program, task),
            None => {
                let names: Vec<&str> = self.inputs.iter().map(|(_, n)| n.as_str()).collect();
                TaskShape::whole(program, &names)
            }
        }
    }

    /// A barrier, then every task's state stored with its positions, then
    /// the sources told the positions are covered.
    fn checkpoint(&mut self, sources: &mut [Box<dyn Source + '_>]) -> Result<(), RunError> {
        let started = Instant::now();
        for source in sources.iter_mut() {
            source.barrier()?;
        }
        let unacknowledged: Vec<Unacknowledged> =
            sources.iter().flat_map(|s| s.unacknowledged()).collect();
        self.barrier()?;
        let Some(store) = self.store.as_mut() else {
            return Ok(());
        };
        if self.tasks.is_empty() {
            return Ok(());
        }
        let outputs = self.events.positions()?;
        let mut positions = Vec::new();
        let mut bytes = 0;
        let mut fenced = Vec::new();
        for (&id, task) in &mut self.tasks {
            let outputs = self
                .events
                .replaying_from(id)
                .unwrap_or_else(|| outputs.clone());
            let stored = store_task(
                &mut **store,
                id,
                task,
                &self.inputs,
                (&outputs, &unacknowledged),
            );
            let checkpoint = match stored {
                Ok(checkpoint) => checkpoint,
                Err(error) if is_fenced(&error) => {
                    fenced.push(id);
                    continue;
                }
                Err(error) => return Err(error),
            };
            bytes += checkpoint
                .operators
                .iter()
                .map(|o| o.state.len() as u64)
                .sum::<u64>();
            positions.extend(checkpoint.offsets);
        }
        for source in sources.iter_mut() {
            source.commit(&positions)?;
        }
        for id in fenced {
            self.tasks.remove(&id);
            self.fence(id);
        }
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        self.observer.checkpointed(&ids, started.elapsed(), bytes);
        Ok(())
    }

    /// Task `id` belongs to another instance now: its input is discarded
    /// (the new owner reads it) until it is assigned to this run again.
    fn fence(&mut self, id: TaskId) {
        self.fenced.insert(id);
        self.observer.task_fenced(id);
        self.observer.tasks_changed(self.tasks.len());
    }

    /// Stores the state of tasks this run no longer owns, so their next
    /// owner resumes from it, and drops them.
    fn hand_back(&mut self, tasks: &[TaskId]) -> Result<(), RunError> {
        if tasks.iter().any(|t| self.tasks.contains_key(t)) {
            self.barrier()?;
            let outputs = self.events.positions()?;
            for id in tasks {
                let Some(mut task) = self.tasks.remove(id) else {
                    continue;
                };
                if let Some(store) = self.store.as_mut() {
                    let outputs = self
                        .events
                        .replaying_from(*id)
                        .unwrap_or_else(|| outputs.clone());
                    // If the new owner claimed the task before its state
                    // was handed back, it resumes from the checkpoint
                    // before and replays what followed.
                    match store_task(&mut **store, *id, &mut task, &self.inputs, (&outputs, &[])) {
                        Err(error) if is_fenced(&error) => self.fence(*id),
                        other => {
                            other?;
                        }
                    }
                }
            }
        }
        self.observer.tasks_changed(self.tasks.len());
        Ok(())
    }

    /// Swaps the rules in every task (see [`Reload`]), then checkpoints at
    /// once: the newest checkpoint must be of the running rules. Every
    /// task's new pipeline is built (and the unchanged rules' state copied
    /// into it) before any is swapped in: if one cannot be, the reload is
    /// refused and the running rules go on everywhere.
    fn reload(
        &mut self,
        reload: Reload,
        sources: &mut [Box<dyn Source + '_>],
    ) -> Result<(), RunError> {
        self.barrier()?;
        let limits = self.limits.unwrap_or_default();
        let keep = unchanged_rules(&self.program, &reload.program);
        let mut prepared = Vec::with_capacity(self.tasks.len());
        let shapes: Vec<(TaskId, TaskShape)> = self
            .tasks
            .keys()
            .map(|&id| (id, self.shape(&reload.program, id)))
            .collect();
        for (id, shape) in shapes {
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            match task.prepare_reload(&reload.program, &shape, &limits, &keep) {
                Ok(ready) => prepared.push((id, ready)),
                Err(error) => {
                    self.observer.reload_refused(&reload.trigger, &error);
                    return Ok(());
                }
            }
        }
        if let Err(error) = self.events.set_program(&reload.program) {
            self.observer
                .reload_refused(&reload.trigger, &RunError::from(error));
            return Ok(());
        }
        for (id, ready) in prepared {
            if let Some(task) = self.tasks.get_mut(&id) {
                task.swap(ready)?;
            }
        }
        let changes = rule_changes(&self.program, &reload.program);
        self.program = reload.program;
        if let Some(store) = self.store.as_mut() {
            store.set_rules(reload.rules);
        }
        self.checkpoint(sources)?;
        self.observer.reloaded(&reload.trigger, &changes);
        Ok(())
    }

    /// The unfinished source of one stream with the lowest watermark (ties:
    /// declaration order of their streams); a source of several streams
    /// comes first.
    fn next_input(&self, sources: &[Box<dyn Source + '_>], live: &[bool]) -> Option<usize> {
        let watermark = |stream: usize| {
            self.tasks
                .values()
                .filter_map(|t| t.pipelines.stream_watermark(stream))
                .min()
                .unwrap_or(Millis::MIN)
        };
        sources
            .iter()
            .enumerate()
            .filter(|(i, _)| live[*i])
            .min_by_key(|(_, source)| match source.stream() {
                Some(stream) => (watermark(stream), stream),
                None => (Millis::MIN, 0),
            })
            .map(|(i, _)| i)
    }
}

/// The dead-letter detail of a late or future event of stream `plan`, the
/// same for every source.
pub fn untimely_detail(event: &UntimelyEvent, plan: &StreamPlan) -> String {
    let stream = &plan.name;
    match event.kind {
        Untimely::Late { watermark } => format!(
            "event time {} is before the watermark {} of stream `{stream}` (lateness {})",
            rfc3339_millis(event.time),
            rfc3339_millis(watermark),
            dsl::plan::rule_duration(plan.lateness)
        ),
        Untimely::Future { limit } => format!(
            "event time {} is after {}, the wall clock plus the {} that stream `{stream}` \
             allows ahead of it (`ahead`)",
            rfc3339_millis(event.time),
            rfc3339_millis(limit),
            dsl::plan::rule_duration(plan.ahead)
        ),
    }
}

/// Stores task `id`'s checkpoint, with the sinks' `outputs` and the
/// sources' `unacknowledged` messages.
fn store_task(
    store: &mut dyn TaskStore,
    id: TaskId,
    task: &mut Task,
    inputs: &[(usize, String)],
    (outputs, unacknowledged): (&[SourceOffset], &[Unacknowledged]),
) -> Result<Checkpoint, RunError> {
    let mut checkpoint = store.begin(id)?;
    task.fill(id, inputs, &mut checkpoint)?;
    checkpoint.outputs = outputs.to_vec();
    checkpoint.unacknowledged = unacknowledged.to_vec();
    store.save(id, &checkpoint)?;
    Ok(checkpoint)
}

/// Whether `error` says another instance has claimed a task's checkpoints
/// (the store fenced this run off).
fn is_fenced(error: &RunError) -> bool {
    matches!(error, RunError::Checkpoint(CheckpointError::Fenced { .. }))
}
