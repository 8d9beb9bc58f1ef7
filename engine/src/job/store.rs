//! The job's checkpoint directory as the driver's [`TaskStore`]: task N's
//! checkpoints are partition N's.

use std::sync::Arc;

use super::resume::CheckpointCatalog;
use crate::checkpoint::{Checkpoint, RuleSet, RulesetFingerprint};
use crate::driver::{RunError, TaskId, TaskStore};

pub struct CatalogStore(pub Arc<CheckpointCatalog>);

impl TaskStore for CatalogStore {
    fn load(&mut self, task: TaskId) -> Result<Option<Checkpoint>, RunError> {
        Ok(self.0.take(task)?)
    }

    fn begin(&mut self, task: TaskId) -> Result<Checkpoint, RunError> {
        // Opened afresh: another instance may have written this partition's
        // store since, and ids must keep growing.
        let store = self.0.store(task)?;
        let rules = self.0.rules();
        let mut checkpoint = Checkpoint::new(store.next_id(), rules.fingerprint);
        checkpoint.rules = rules.files;
        Ok(checkpoint)
    }

    fn save(&mut self, task: TaskId, checkpoint: &Checkpoint) -> Result<(), RunError> {
        self.0.store(task)?.save(checkpoint)?;
        Ok(())
    }

    fn set_rules(&mut self, rules: RuleSet) {
        self.0.set_rules(rules);
    }

    fn ruleset(&self) -> RulesetFingerprint {
        self.0.ruleset()
    }
}
