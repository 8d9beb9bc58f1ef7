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
    /// both, keep theirs. `old` is left empty and should be dropped.
    pub fn carry_over_from(
        &mut self,
        old: &mut Pipeline,
        keep: impl Fn(&str) -> bool,
    ) -> Result<CarryOver, PipelineError> {
        let reads = |p: &Pipeline, i: usize| p.clocks.get(i).is_some_and(Option::is_some);
        let streams = self.clocks.len().max(old.clocks.len());
        if (0..streams).any(|i| reads(self, i) != reads(old, i)) {
            return Err(PipelineError::Reload(
                "the new rules read other input streams than the running ones".into(),
            ));
        }
        let mut report = CarryOver::default();
        // Per old rule: its index in the new set, if it keeps its state.
        let mut moved: Vec<Option<usize>> = vec![None; old.rules.len()];
        for (new_index, rule) in self.rules.iter_mut().enumerate() {
            let Some(old_index) = old.rules.iter().position(|r| r.name == rule.name) else {
                continue;
            };
            if !keep(&rule.name) {
                continue;
            }
            let carry = |source: OperatorError| PipelineError::State {
                part: rule.name.clone(),
                source,
            };
            let state = old.rules[old_index].operator.snapshot().map_err(carry)?;
            rule.operator.restore(&state).map_err(carry)?;
            moved[old_index] = Some(new_index);
            report.kept.push(rule.name.clone());
        }
        for (index, clock) in old.clocks.iter().enumerate() {
            if let (Some(slot), Some(clock)) = (self.clocks.get_mut(index), clock) {
                if slot.is_some() {
                    *slot = Some(clock.clone());
                }
            }
        }
        self.reorder = std::mem::take(&mut old.reorder);
        self.watermark = old.watermark;
        report.dropped_output = self
            .output
            .take_over(std::mem::take(&mut old.output), &moved);
        Ok(report)
    }
}
