//! What a long-lived run adds to the driver: commands from outside
//! ([`Control`]), durable task state ([`TaskStore`]) and what it reports
//! as it goes ([`Observer`]). A finite run uses none of them: [`Never`],
//! no store, [`Quiet`].

use std::collections::BTreeMap;
use std::time::Duration;

use dsl::plan::Program;

use super::task::{Task, TaskId, TaskShape};
use super::RunError;
use crate::checkpoint::{Checkpoint, RuleSet, RulesetFingerprint};
use crate::pipeline::reload::RuleChange;
use crate::reject::RejectReason;

/// What the driver is told to do between two source events. (Barriers
/// and gauges come at the driver's own intervals, measured from the end
/// of the last one, so a slow barrier never queues up the next.)
pub enum Command {
    /// Swap the rules, keeping the state of the rules `keep` names.
    Reload(Box<Reload>),
    /// Take a last checkpoint and stop (the input does not end: a stream).
    Stop,
}

/// A new rule set, compiled and checked by whoever sends it.
pub struct Reload {
    pub program: Program,
    pub rules: RuleSet,
    /// What asked for it (`SIGHUP`, a file change), for the log.
    pub trigger: String,
}

/// Where commands come from.
pub trait Control {
    /// A command, if one is waiting; never blocks.
    fn poll(&mut self) -> Option<Command>;
}

/// No commands: a finite run.
pub struct Never;

impl Control for Never {
    fn poll(&mut self) -> Option<Command> {
        None
    }
}

/// Which rules each task runs over which inputs, where not every task runs
/// the whole program (the job's repartitioned rules run on tasks of their
/// own, see the job's layout).
pub trait TaskShapes {
    /// The shape of task `task` under `program` (the running rules, or
    /// the ones a reload brings).
    fn shape(&self, program: &Program, task: TaskId) -> TaskShape;
}

/// Durable state of tasks, one checkpoint series per task.
pub trait TaskStore {
    /// The checkpoint to resume task `task` from, if there is one.
    fn load(&mut self, task: TaskId) -> Result<Option<Checkpoint>, RunError>;
    /// A new, empty checkpoint of task `task` (its id and rule set set).
    fn begin(&mut self, task: TaskId) -> Result<Checkpoint, RunError>;
    fn save(&mut self, task: TaskId, checkpoint: &Checkpoint) -> Result<(), RunError>;
    /// Checkpoints from now on are of `rules` (the rules were reloaded).
    fn set_rules(&mut self, rules: RuleSet);
    /// The rule set checkpoints are written for now.
    fn ruleset(&self) -> RulesetFingerprint;
}

/// What the driver reports as it goes (metrics, logs); every method does
/// nothing unless overridden.
pub trait Observer {
    fn events_in(&mut self, _stream: &str, _count: u64) {}
    /// One record rejected, with its reason.
    fn rejected(&mut self, _stream: &str, _reason: RejectReason) {}
    /// Once per batch that had rejections: the count per reason.
    fn rejected_batch(&mut self, _source: &str, _counts: &BTreeMap<RejectReason, usize>) {}
    fn derived(&mut self, _rule: &str) {}
    /// `events` derived events went out `took` after their input was read.
    fn latency(&mut self, _took: Duration, _events: u64) {}
    /// A task was built: `resumed_from` names the checkpoint it restored.
    fn task_started(&mut self, _task: TaskId, _resumed_from: Option<u64>) {}
    /// Task `task` resumed from checkpoint `from`, written by other rules:
    /// what became of each rule (see [`RuleChange`]).
    fn task_resumed_across_rules(
        &mut self,
        _task: TaskId,
        _from: u64,
        _changes: &[(String, RuleChange)],
    ) {
    }
    /// Another instance has claimed task `task`'s checkpoints (it was
    /// given the task, perhaps while this run stalled): the task was
    /// dropped without storing its state.
    fn task_fenced(&mut self, _task: TaskId) {}
    /// The tasks changed (assigned or revoked): how many there are now.
    fn tasks_changed(&mut self, _count: usize) {}
    fn checkpointed(&mut self, _tasks: &[TaskId], _took: Duration, _bytes: u64) {}
    /// A reload was applied: what became of each rule (see [`RuleChange`]).
    fn reloaded(&mut self, _trigger: &str, _changes: &[(String, RuleChange)]) {}
    /// A reload the driver could not apply: the running rules go on.
    fn reload_refused(&mut self, _trigger: &str, _error: &RunError) {}
    fn refresh(&mut self, _program: &Program, _tasks: &BTreeMap<TaskId, Task>) {}
}

/// Reports nothing.
pub struct Quiet;

impl Observer for Quiet {}
