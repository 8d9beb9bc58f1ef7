//! The job's checkpoint storage as the driver's [`TaskStore`]: task N's
//! checkpoints are partition N's.

use std::sync::Arc;

use bucket::{S3Settings, S3Storage};

use super::resume::CheckpointCatalog;
use crate::checkpoint::{
    Checkpoint, CheckpointError, LocalStorage, RuleSet, RulesetFingerprint, Storage,
};
use crate::config::{CheckpointConfig, CheckpointLocation};
use crate::driver::{RunError, TaskId, TaskStore};

/// The storage `checkpoint.dir` names.
pub fn open_storage(config: &CheckpointConfig) -> Result<Arc<dyn Storage>, CheckpointError> {
    Ok(match &config.dir {
        CheckpointLocation::Local(dir) => Arc::new(LocalStorage::open(dir)?),
        CheckpointLocation::S3 { bucket, prefix } => Arc::new(S3Storage::open(&S3Settings {
            bucket: bucket.clone(),
            prefix: prefix.clone(),
            endpoint: config.s3_endpoint.clone(),
            region: config.s3_region.clone(),
            credentials: None,
        })?),
    })
}

pub struct CatalogStore(pub Arc<CheckpointCatalog>);

impl TaskStore for CatalogStore {
    fn load(&mut self, task: TaskId) -> Result<Option<Checkpoint>, RunError> {
        Ok(self.0.take(task)?)
    }

    fn begin(&mut self, task: TaskId) -> Result<Checkpoint, RunError> {
        let rules = self.0.rules();
        let mut checkpoint = Checkpoint::new(self.0.next_id(task)?, rules.fingerprint);
        checkpoint.rules = rules.files;
        Ok(checkpoint)
    }

    fn save(&mut self, task: TaskId, checkpoint: &Checkpoint) -> Result<(), RunError> {
        self.0.save(task, checkpoint)?;
        Ok(())
    }

    fn set_rules(&mut self, rules: RuleSet) {
        self.0.set_rules(rules);
    }

    fn ruleset(&self) -> RulesetFingerprint {
        self.0.ruleset()
    }
}
