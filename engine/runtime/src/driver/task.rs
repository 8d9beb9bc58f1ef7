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

/// Which part of the input a task owns: a partition number, or 0.
pub type TaskId = i32;

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

    /// A task of `program` on one pipeline, its state capped by `limits`.
    pub fn build(program: &Program, inputs: &[&str], limits: &Limits) -> Result<Self, RunError> {
        let mut pipeline = Pipeline::build(program, inputs)?;
        pipeline.set_limits(limits);
        Ok(Task::new(Pipelines::Single(Box::new(pipeline))))
    }

    /// Records of `topic` before `next` have been handed to the pipeline.
    pub fn consumed(&mut self, topic: &str, next: i64) {
        let position = self.positions.entry(topic.to_string()).or_insert(next);
        *position = (*position).max(next);
    }

    /// Input stream `stream` is quiet (or active again): it stops (or
    /// starts again) holding time back.
    pub fn set_idle(&mut self, stream: usize, idle: bool) -> Result<Progress, RunError> {
        Ok(self.pipelines.single_mut()?.set_stream_idle(stream, idle)?)
    }

    /// Takes over the state and positions of `checkpoint` of task `task`.
    pub fn restore(&mut self, task: TaskId, checkpoint: &Checkpoint) -> Result<(), RunError> {
        self.pipelines
            .single_mut()?
            .restore(&checkpoint.operators)?;
        self.positions = checkpoint
            .offsets
            .iter()
            .filter(|o| o.partition == task)
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
        inputs: &[&str],
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
        let mut old = Task::build(&old_program, inputs, limits)?;
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
                partition: task,
                next_offset,
            })
            .collect();
        let pipeline = self.pipelines.single_mut()?;
        checkpoint.watermarks = inputs
            .iter()
            .filter_map(|(stream, name)| {
                Some(StreamWatermark {
                    stream: name.clone(),
                    partition: Some(task),
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
        inputs: &[&str],
        limits: &Limits,
        keep: &[String],
    ) -> Result<PreparedReload, RunError> {
        let mut pipeline = Pipeline::build(program, inputs)?;
        pipeline.set_limits(limits);
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
