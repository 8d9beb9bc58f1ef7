//! A task: the pipeline of one part of the input (all of a file run's, or
//! partition N of every topic of a job) and how far it has read.

use std::collections::BTreeMap;

use arrow_array::RecordBatch;
use dsl::plan::{Millis, Program};
use operators::Limits;

use super::partitioned::{PartitionError, PartitionedPipeline};
use super::RunError;
use crate::checkpoint::{
    Checkpoint, CheckpointError, RuleSet, RulesetFingerprint, SourceOffset, StreamWatermark,
};
use crate::pipeline::reload::{rule_changes, unchanged_rules, RuleChange};
use crate::pipeline::{OutputEvent, Pipeline, Progress};
use crate::time::SourceProgress;

/// Which part of the input a task owns: a partition number, or 0; in a
/// job with repartitioned rules, a group and a partition (see [`task_id`]).
pub type TaskId = i32;

/// Task ids of one group are `group * TASK_GROUP_STRIDE + partition`.
/// Group 0 is the input topics' own partitions, so there a partition
/// number is its own task id (as in checkpoints written before groups).
pub const TASK_GROUP_STRIDE: TaskId = 1 << 20;

/// The task of partition `partition` in group `group`.
pub fn task_id(group: i32, partition: i32) -> TaskId {
    group * TASK_GROUP_STRIDE + partition
}

/// The group of task `task` (see [`task_id`]).
pub fn task_group(task: TaskId) -> i32 {
    task / TASK_GROUP_STRIDE
}

/// The partition task `task` reads (see [`task_id`]).
pub fn task_partition(task: TaskId) -> i32 {
    task % TASK_GROUP_STRIDE
}

/// Task `task` as logs name it: `partition N`, or `partition N of group G`.
pub fn task_name(task: TaskId) -> String {
    match task_group(task) {
        0 => format!("partition {task}"),
        group => format!("partition {} of group {group}", task_partition(task)),
    }
}

/// What one task runs: the input streams it reads and, per rule index of
/// the program, whether it runs that rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskShape {
    pub inputs: Vec<String>,
    pub rules: Vec<bool>,
}

impl TaskShape {
    /// Every rule of `program` over `inputs`.
    pub fn whole(program: &Program, inputs: &[&str]) -> Self {
        TaskShape {
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            rules: vec![true; program.rules.len()],
        }
    }

    fn input_names(&self) -> Vec<&str> {
        self.inputs.iter().map(String::as_str).collect()
    }

    /// The pipeline of this shape, its state capped by `limits`.
    fn pipeline(&self, program: &Program, limits: &Limits) -> Result<Pipeline, RunError> {
        let mut pipeline = Pipeline::build(program, &self.input_names())?;
        pipeline.set_limits(limits);
        if self.rules.iter().any(|on| !on) {
            pipeline.enable_only(&self.rules);
        }
        Ok(pipeline)
    }
}

/// The pipeline a task drives: one on the driver's thread, or one per
/// worker thread with the keys split between them (`--workers`).
pub enum Pipelines {
    // Boxed to keep the variants alike in size (clippy); one per task.
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

    pub fn push(&mut self, stream: usize, batch: &RecordBatch) -> Result<Progress, RunError> {
        Ok(match self {
            Pipelines::Single(p) => p.push(stream, batch)?,
            Pipelines::Partitioned(p) => p.push(stream, batch)?,
        })
    }

    pub fn finish_stream(&mut self, stream: usize) -> Result<Progress, RunError> {
        Ok(match self {
            Pipelines::Single(p) => p.finish_stream(stream)?,
            Pipelines::Partitioned(p) => p.finish_stream(stream)?,
        })
    }

    pub fn finish(&mut self) -> Result<Vec<OutputEvent>, RunError> {
        Ok(match self {
            Pipelines::Single(p) => p.finish()?,
            Pipelines::Partitioned(p) => p.finish()?,
        })
    }

    /// Derived events done but not handed out yet (see
    /// [`PartitionedPipeline::flush`]).
    pub fn flush(&mut self) -> Result<Vec<OutputEvent>, RunError> {
        Ok(match self {
            Pipelines::Single(_) => Vec::new(),
            Pipelines::Partitioned(p) => p.flush()?,
        })
    }

    pub fn stream_watermark(&self, stream: usize) -> Option<Millis> {
        match self {
            Pipelines::Single(p) => p.stream_watermark(stream),
            Pipelines::Partitioned(p) => p.stream_watermark(stream),
        }
    }

    /// The one pipeline, where a task needs it whole (checkpoints, reload,
    /// idleness, gauges).
    pub fn single(&self) -> Option<&Pipeline> {
        match self {
            Pipelines::Single(p) => Some(p),
            Pipelines::Partitioned(_) => None,
        }
    }

    fn single_mut(&mut self) -> Result<&mut Pipeline, RunError> {
        match self {
            Pipelines::Single(p) => Ok(p),
            Pipelines::Partitioned(_) => Err(PartitionError::NotSingle.into()),
        }
    }
}

/// One task of a run.
pub struct Task {
    pub pipelines: Pipelines,
    /// Per topic (or other named input): the position of the next record
    /// to read, as far as the task has taken records.
    positions: BTreeMap<String, i64>,
}

impl Task {
    pub fn new(pipelines: Pipelines) -> Self {
        Task {
            pipelines,
            positions: BTreeMap::new(),
        }
    }

    /// A task of `program` shaped by `shape` on one pipeline, its state
    /// capped by `limits`.
    pub fn build(program: &Program, shape: &TaskShape, limits: &Limits) -> Result<Self, RunError> {
        let pipeline = shape.pipeline(program, limits)?;
        Ok(Task::new(Pipelines::Single(Box::new(pipeline))))
    }

    /// Records of `topic` before `next` have been handed to the pipeline.
    pub fn consumed(&mut self, topic: &str, next: i64) {
        let position = self.positions.entry(topic.to_string()).or_insert(next);
        *position = (*position).max(next);
    }

    /// Input stream `stream` is quiet (or active again): it stops (or
    /// starts again) holding time back.
    /// A stream the task does not read (a job's task runs only some of
    /// the rules) is no concern of it.
    pub fn set_idle(&mut self, stream: usize, idle: bool) -> Result<Progress, RunError> {
        if self.pipelines.stream_watermark(stream).is_none() {
            return Ok(Progress::default());
        }
        Ok(self.pipelines.single_mut()?.set_stream_idle(stream, idle)?)
    }

    /// A source reports how far input stream `stream` has come (see
    /// [`SourceProgress`]): its watermark follows that from now on.
    pub fn drive(&mut self, stream: usize, progress: SourceProgress) -> Result<Progress, RunError> {
        if self.pipelines.stream_watermark(stream).is_none() {
            return Ok(Progress::default());
        }
        Ok(self
            .pipelines
            .single_mut()?
            .drive_stream(stream, progress)?)
    }

    /// Takes over the state and positions of `checkpoint` of task `task`.
    pub fn restore(&mut self, task: TaskId, checkpoint: &Checkpoint) -> Result<(), RunError> {
        self.pipelines
            .single_mut()?
            .restore(&checkpoint.operators)?;
        self.positions = checkpoint
            .offsets
            .iter()
            .filter(|o| o.partition == task_partition(task))
            .map(|o| (o.topic.clone(), o.next_offset))
            .collect();
        Ok(())
    }

    /// Takes over `checkpoint` of task `task`, written by other rules than
    /// `program`'s, as a reload would: the checkpoint's rules are compiled
    /// and their pipeline restored, then the unchanged rules' state, the
    /// input clocks, the waiting events and the positions move over; changed
    /// and new rules start empty. Returns what became of each rule.
    pub fn restore_across_rules(
        &mut self,
        task: TaskId,
        checkpoint: &Checkpoint,
        program: &Program,
        now: &RulesetFingerprint,
        shape: &TaskShape,
        limits: &Limits,
    ) -> Result<Vec<(String, RuleChange)>, RunError> {
        if checkpoint.rules.is_empty() {
            return Err(CheckpointError::RulesetMismatch {
                id: checkpoint.id,
                found: checkpoint.ruleset.clone(),
                expected: now.clone(),
            }
            .into());
        }
        let sources = RuleSet::sources(&checkpoint.rules);
        let old_program = dsl::compile(&sources).0.ok_or_else(|| {
            RunError::from(CheckpointError::RulesDoNotCompile { id: checkpoint.id })
        })?;
        // The old pipeline is only restored and taken from, never fed.
        let whole = TaskShape::whole(&old_program, &shape.input_names());
        let mut old = Task::build(&old_program, &whole, limits)?;
        old.restore(task, checkpoint)?;
        let keep = unchanged_rules(&old_program, program);
        let running = old.pipelines.single_mut()?;
        let pipeline = self.pipelines.single_mut()?;
        let kept = pipeline.prepare_takeover(running, |rule| keep.iter().any(|k| k == rule))?;
        pipeline.take_over(running, kept);
        self.positions = old.positions;
        Ok(rule_changes(&old_program, program))
    }

    /// Fills `checkpoint` with the state, positions and watermarks of task
    /// `task`, whose input streams are `inputs` (catalog index, name).
    pub fn fill(
        &mut self,
        task: TaskId,
        inputs: &[(usize, String)],
        checkpoint: &mut Checkpoint,
    ) -> Result<(), RunError> {
        checkpoint.offsets = self
            .positions
            .iter()
            .map(|(topic, &next_offset)| SourceOffset {
                topic: topic.clone(),
                partition: task_partition(task),
                next_offset,
            })
            .collect();
        let pipeline = self.pipelines.single_mut()?;
        checkpoint.watermarks = inputs
            .iter()
            .filter_map(|(stream, name)| {
                Some(StreamWatermark {
                    stream: name.clone(),
                    partition: Some(task_partition(task)),
                    watermark: pipeline.stream_watermark(*stream)?,
                })
            })
            .collect();
        checkpoint.operators = pipeline.snapshot()?;
        Ok(())
    }

    /// The pipeline of `program`'s rules for this task, holding the state
    /// of the rules `keep` names; this task goes on unchanged until
    /// [`Task::swap`] hands it over.
    pub fn prepare_reload(
        &mut self,
        program: &Program,
        shape: &TaskShape,
        limits: &Limits,
        keep: &[String],
    ) -> Result<PreparedReload, RunError> {
        let mut pipeline = shape.pipeline(program, limits)?;
        let kept = pipeline
            .prepare_takeover(self.pipelines.single_mut()?, |rule| {
                keep.iter().any(|k| k == rule)
            })
            .map_err(RunError::Pipeline)?;
        Ok(PreparedReload {
            pipeline: Box::new(pipeline),
            kept,
        })
    }

    /// Runs on the prepared pipeline from now on, with this task's input
    /// clocks, waiting events and output moved over.
    pub fn swap(&mut self, mut prepared: PreparedReload) -> Result<(), RunError> {
        prepared
            .pipeline
            .take_over(self.pipelines.single_mut()?, prepared.kept);
        self.pipelines = Pipelines::Single(prepared.pipeline);
        Ok(())
    }
}

/// A task's pipeline for new rules, built and holding its kept state,
/// waiting for every other task's to be built too.
pub struct PreparedReload {
    pipeline: Box<Pipeline>,
    kept: Vec<String>,
}
