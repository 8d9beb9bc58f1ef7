//! Applying a reload of the rules to the running job.

use super::{rules, Job, JobError};

impl Job {
    /// Reads the rule files again and, if they compile and read the same
    /// streams, swaps the rules in every task: unchanged rules keep their
    /// state, changed and new ones start empty, removed ones drop theirs.
    /// A refused reload is logged and counted; the running rules go on.
    pub(super) async fn reload(&mut self, trigger: &str) -> Result<(), JobError> {
        let new = match rules::recompile(&self.files, &self.program) {
            Ok(new) => new,
            Err(refusal) => {
                tracing::warn!("reload ({trigger}) refused, the running rules go on: {refusal}");
                self.metrics.reload("refused");
                return Ok(());
            }
        };
        if new.ruleset == self.catalog.ruleset() {
            tracing::info!("reload ({trigger}): the rules are unchanged");
            return Ok(());
        }
        let change = rules::describe_change(&self.program, &new.program);
        self.outputs.barrier().await?;
        for task in self.tasks.values_mut() {
            task.reload(&new.program, &self.limits, |name| {
                rules::unchanged(&self.program, &new.program, name)
            })?;
        }
        self.outputs.route(&new.program, &self.config)?;
        self.program = new.program;
        self.catalog.set_ruleset(new.ruleset);
        // At once: the newest checkpoint on disk must be of the running rules,
        // or a restart would refuse it.
        self.checkpoint().await?;
        self.metrics.reload("applied");
        tracing::info!("reloaded the rules ({trigger}): {change}");
        Ok(())
    }
}
