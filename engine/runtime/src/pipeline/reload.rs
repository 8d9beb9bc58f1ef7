//! Carrying a pipeline's state over to a pipeline of a new rule set, for a
//! reload without restart.
//!
//! The declared streams must be the same in both rule sets (the caller
//! checks): then the input clocks, the events waiting to be reordered and
//! the watermark move over as they are. Rules the caller keeps (same name,
//! same plan) move their operator state over through a snapshot, since
//! their index, and so the operator built for it, may change; other rules
//! start empty. Derived events waiting for output follow their rule, or are
//! dropped with it.

use operators::OperatorError;

use super::{Pipeline, PipelineError};

/// What a carry-over did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CarryOver {
    /// Rules of the new set that kept their state.
    pub kept: Vec<String>,
    /// Derived events of rules that were not kept, dropped before output.
    pub dropped_output: usize,
}

impl Pipeline {
    /// Takes over `old`'s state; `keep(name)` says which rules, present in
    /// both, keep theirs. `old` is left empty and should be dropped. On an
    /// error `old` is unchanged (see [`Pipeline::prepare_takeover`]).
    pub fn carry_over_from(
        &mut self,
        old: &mut Pipeline,
        keep: impl Fn(&str) -> bool,
    ) -> Result<CarryOver, PipelineError> {
        let kept = self.prepare_takeover(old, keep)?;
        Ok(self.take_over(old, kept))
    }

    /// The fallible half of a carry-over: checks that both pipelines read
    /// the same input streams and copies the state of the rules `keep`
    /// names into this new pipeline. `old` goes on as it was, so a reload
    /// that fails here leaves the running rules running. Returns the names
    /// of the rules whose state was copied.
    pub fn prepare_takeover(
        &mut self,
        old: &mut Pipeline,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, PipelineError> {
        let reads = |p: &Pipeline, i: usize| p.clocks.get(i).is_some_and(Option::is_some);
        let streams = self.clocks.len().max(old.clocks.len());
        if (0..streams).any(|i| reads(self, i) != reads(old, i)) {
            return Err(PipelineError::Reload(
                "the new rules read other input streams than the running ones".into(),
            ));
        }
        let mut kept = Vec::new();
        for rule in &mut self.rules {
            let Some(old_rule) = old.rules.iter_mut().find(|r| r.name == rule.name) else {
                continue;
            };
            if !keep(&rule.name) {
                continue;
            }
            let carry = |source: OperatorError| PipelineError::State {
                part: rule.name.clone(),
                source,
            };
            // A snapshot changes nothing the operator does next.
            let state = old_rule.operator.snapshot().map_err(carry)?;
            rule.operator.restore(&state).map_err(carry)?;
            kept.push(rule.name.clone());
        }
        Ok(kept)
    }

    /// The infallible half: moves the input clocks, the events waiting to
    /// be reordered, the watermark and the derived events waiting for
    /// output of the rules in `kept` from `old`, which is left empty.
    pub fn take_over(&mut self, old: &mut Pipeline, kept: Vec<String>) -> CarryOver {
        // Per old rule: its index in the new set, if it kept its state.
        let moved: Vec<Option<usize>> = old
            .rules
            .iter()
            .map(|r| {
                kept.contains(&r.name)
                    .then(|| self.rules.iter().position(|n| n.name == r.name))
                    .flatten()
            })
            .collect();
        for (index, clock) in old.clocks.iter().enumerate() {
            if let (Some(slot), Some(clock)) = (self.clocks.get_mut(index), clock) {
                if slot.is_some() {
                    *slot = Some(clock.clone());
                }
            }
        }
        self.reorder = std::mem::take(&mut old.reorder);
        self.watermark = old.watermark;
        let dropped_output = self
            .output
            .take_over(std::mem::take(&mut old.output), &moved);
        CarryOver {
            kept,
            dropped_output,
        }
    }
}

/// What a reload or a restart with other rules does to one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleChange {
    /// Same name, same checked plan: keeps its state.
    Kept,
    /// Same name, another plan: starts empty.
    Changed,
    /// Only in the new rules: starts empty.
    Added,
    /// Only in the old rules: its state is dropped.
    Removed,
}

impl RuleChange {
    pub fn describe(self) -> &'static str {
        match self {
            RuleChange::Kept => "unchanged, its state restored",
            RuleChange::Changed => "changed, starts empty",
            RuleChange::Added => "new, starts empty",
            RuleChange::Removed => "removed, its state dropped",
        }
    }
}

/// Every rule of `running` and `new` with what the change does to it: the
/// new rules in their order, then the removed ones.
pub fn rule_changes(
    running: &dsl::plan::Program,
    new: &dsl::plan::Program,
) -> Vec<(String, RuleChange)> {
    let named = |p: &dsl::plan::Program, name: &str| p.rules.iter().any(|r| r.name == name);
    let mut changes: Vec<(String, RuleChange)> = new
        .rules
        .iter()
        .map(|rule| {
            let change = if running.rules.contains(rule) {
                RuleChange::Kept
            } else if named(running, &rule.name) {
                RuleChange::Changed
            } else {
                RuleChange::Added
            };
            (rule.name.clone(), change)
        })
        .collect();
    changes.extend(
        running
            .rules
            .iter()
            .filter(|rule| !named(new, &rule.name))
            .map(|rule| (rule.name.clone(), RuleChange::Removed)),
    );
    changes
}

/// The rules of `new` that are the same as in `running` (same name, same
/// checked plan): on a reload or a restart they keep their state.
pub fn unchanged_rules(running: &dsl::plan::Program, new: &dsl::plan::Program) -> Vec<String> {
    new.rules
        .iter()
        .filter(|rule| running.rules.iter().any(|r| r == *rule))
        .map(|rule| rule.name.clone())
        .collect()
}
