//! The job's checkpoint directory as the driver's [`TaskStore`]: task N's
//! checkpoints are partition N's.

use std::sync::Arc;

use super::resume::CheckpointCatalog;
use crate::checkpoint::{Checkpoint, RulesetFingerprint};
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
        Ok(Checkpoint::new(store.next_id(), self.0.ruleset()))
    }

    fn save(&mut self, task: TaskId, checkpoint: &Checkpoint) -> Result<(), RunError> {
        self.0.store(task)?.save(checkpoint)?;
        Ok(())
    }

    fn set_ruleset(&mut self, ruleset: RulesetFingerprint) {
        self.0.set_ruleset(ruleset);
    }
}
