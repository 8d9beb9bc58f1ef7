//! One partition task: the pipeline over partition N of every input topic,
//! its read positions, and when each input last had a message.
//!
//! Keys are partitioned alike in every input topic, so all the state of a
//! key lives in one task; a task moves between instances whole, through
//! its checkpoint. Each of its streams reads exactly one partition, so its
//! clock runs on the partition's own events, as a file's would; a
//! partition without messages for the idle timeout stops holding time back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dsl::plan::Program;
use operators::Limits;

use super::resume::CheckpointCatalog;
use super::JobError;
use crate::checkpoint::{Checkpoint, SourceOffset, StreamWatermark};
use crate::pipeline::{CarryOver, Pipeline, Progress};

/// When an input of the task last had a message.
#[derive(Debug, Clone)]
struct Activity {
    stream: usize,
    name: String,
    last_message: Instant,
    idle: bool,
}

/// What a task's checkpoint stored.
pub struct Stored {
    /// The positions to commit once every task's checkpoint is stored.
    pub offsets: Vec<SourceOffset>,
    pub state_bytes: u64,
}

pub struct PartitionTask {
    partition: i32,
    pipeline: Pipeline,
    /// Per topic: the offset of the next message to read, once known.
    positions: BTreeMap<String, i64>,
    /// Per input of the job, in the job's input order.
    activity: Vec<Activity>,
}

impl PartitionTask {
    /// A fresh task for partition `partition`: `inputs` are (catalog
    /// index, name) of the job's input streams.
    pub fn new(
        program: &Program,
        inputs: &[(usize, &str)],
        partition: i32,
        limits: &Limits,
        now: Instant,
    ) -> Result<Self, JobError> {
        let names: Vec<&str> = inputs.iter().map(|(_, name)| *name).collect();
        let mut pipeline = Pipeline::build(program, &names)?;
        pipeline.set_limits(limits);
        Ok(PartitionTask {
            partition,
            pipeline,
            positions: BTreeMap::new(),
            activity: inputs
                .iter()
                .map(|&(stream, name)| Activity {
                    stream,
                    name: name.to_string(),
                    last_message: now,
                    idle: false,
                })
                .collect(),
        })
    }

    pub fn pipeline(&mut self) -> &mut Pipeline {
        &mut self.pipeline
    }

    pub fn pipeline_ref(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Replaces the pipeline by one of `program`, carrying the state over
    /// (see [`Pipeline::carry_over_from`]); `keep(rule)` names the rules that
    /// keep their state.
    pub fn reload(
        &mut self,
        program: &Program,
        limits: &Limits,
        keep: impl Fn(&str) -> bool,
    ) -> Result<CarryOver, JobError> {
        let names: Vec<&str> = self.activity.iter().map(|a| a.name.as_str()).collect();
        let mut pipeline = Pipeline::build(program, &names)?;
        pipeline.set_limits(limits);
        let report = pipeline.carry_over_from(&mut self.pipeline, keep)?;
        self.pipeline = pipeline;
        Ok(report)
    }

    /// Takes over the state and positions of `checkpoint`.
    pub fn restore(&mut self, checkpoint: &Checkpoint) -> Result<(), JobError> {
        self.pipeline.restore(&checkpoint.operators)?;
        self.positions = checkpoint
            .offsets
            .iter()
            .filter(|o| o.partition == self.partition)
            .map(|o| (o.topic.clone(), o.next_offset))
            .collect();
        Ok(())
    }

    /// Messages up to `offset` of `topic` have been handed to the pipeline.
    pub fn consumed(&mut self, topic: &str, offset: i64) {
        let next = self
            .positions
            .entry(topic.to_string())
            .or_insert(offset + 1);
        *next = (*next).max(offset + 1);
    }

    /// Input `input` had a message at `now`: it holds time back again.
    pub fn active(&mut self, input: usize, now: Instant) -> Result<Progress, JobError> {
        let Some(activity) = self.activity.get_mut(input) else {
            return Ok(Progress::default());
        };
        activity.last_message = now;
        if !activity.idle {
            return Ok(Progress::default());
        }
        activity.idle = false;
        Ok(self.pipeline.set_stream_idle(activity.stream, false)?)
    }

    /// Inputs quiet for `timeout` stop holding time back.
    pub fn idle_check(&mut self, now: Instant, timeout: Duration) -> Result<Progress, JobError> {
        let mut progress = Progress::default();
        for activity in &mut self.activity {
            if activity.idle || now.saturating_duration_since(activity.last_message) < timeout {
                continue;
            }
            activity.idle = true;
            let step = self.pipeline.set_stream_idle(activity.stream, true)?;
            progress.ready.extend(step.ready);
        }
        Ok(progress)
    }

    /// Stores the task's state and positions as the next checkpoint of its
    /// partition; returns the positions to commit.
    pub fn checkpoint(&mut self, catalog: &CheckpointCatalog) -> Result<Stored, JobError> {
        // Opened afresh: another instance may have written this partition's
        // store since this task was built, and ids must keep growing.
        let mut store = catalog.store(self.partition)?;
        let mut checkpoint = Checkpoint::new(store.next_id(), catalog.ruleset());
        checkpoint.offsets = self
            .positions
            .iter()
            .map(|(topic, &next_offset)| SourceOffset {
                topic: topic.clone(),
                partition: self.partition,
                next_offset,
            })
            .collect();
        checkpoint.watermarks = self
            .activity
            .iter()
            .filter_map(|a| {
                Some(StreamWatermark {
                    stream: a.name.clone(),
                    partition: Some(self.partition),
                    watermark: self.pipeline.stream_watermark(a.stream)?,
                })
            })
            .collect();
        checkpoint.operators = self.pipeline.snapshot()?;
        store.save(&checkpoint)?;
        Ok(Stored {
            state_bytes: checkpoint
                .operators
                .iter()
                .map(|o| o.state.len() as u64)
                .sum(),
            offsets: checkpoint.offsets,
        })
    }
}
