//! The checkpoints of a job, one store per partition number, and where an
//! assigned partition resumes.
//!
//! Layout: `<checkpoint.dir>/partition-<N>/checkpoint-<id>.ckpt`. Partition
//! N of every input topic belongs to one task, so one store holds the
//! state of the keys of partition N and the offsets of partition N of each
//! topic. Instances of one group share the directory: when the group moves
//! partition N, its new owner reads the checkpoint the old one left.
//!
//! The checkpoint read when a partition is assigned (inside the rebalance
//! callback, to give librdkafka its start offset) is kept until the task
//! is built, so state and offsets always come from the same checkpoint,
//! even if another instance writes a newer one in between.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::checkpoint::{
    Checkpoint, CheckpointError, CheckpointStore, RuleSet, RulesetFingerprint,
};
use crate::kafka::{ResumeSource, TopicPartition};

const PARTITION_PREFIX: &str = "partition-";

/// The job's checkpoint directory.
pub struct CheckpointCatalog {
    root: PathBuf,
    /// Changes when the rules are reloaded: later checkpoints are of the new set.
    rules: Mutex<RuleSet>,
    /// Checkpoints read at assignment, waiting for their task: `None` for a
    /// partition without one.
    claimed: Mutex<BTreeMap<i32, Option<Checkpoint>>>,
    /// The first error met in the rebalance callback, which cannot return one.
    error: Mutex<Option<CheckpointError>>,
}

impl CheckpointCatalog {
    /// Opens `root` for `rules`, refusing it at once if any partition's
    /// newest checkpoint cannot be read. A checkpoint of other rules is
    /// carried over when its task is built (see
    /// `runtime::driver::Task::restore_across_rules`).
    pub fn open(root: &Path, rules: RuleSet) -> Result<Self, CheckpointError> {
        let catalog = CheckpointCatalog {
            root: root.to_path_buf(),
            rules: Mutex::new(rules),
            claimed: Mutex::new(BTreeMap::new()),
            error: Mutex::new(None),
        };
        for partition in catalog.partitions_on_disk()? {
            catalog.store(partition)?.load_latest()?;
        }
        Ok(catalog)
    }

    pub fn ruleset(&self) -> RulesetFingerprint {
        lock(&self.rules).fingerprint.clone()
    }

    pub fn rules(&self) -> RuleSet {
        lock(&self.rules).clone()
    }

    /// The rules were reloaded: checkpoints from now on are of `rules`.
    pub fn set_rules(&self, rules: RuleSet) {
        *lock(&self.rules) = rules;
    }

    /// The store of partition number `partition`.
    pub fn store(&self, partition: i32) -> Result<CheckpointStore, CheckpointError> {
        CheckpointStore::open(
            self.root.join(format!("{PARTITION_PREFIX}{partition}")),
            self.ruleset(),
        )
    }

    /// The checkpoint to build partition `partition`'s task from: the one
    /// read when it was assigned, or else the newest on disk.
    pub fn take(&self, partition: i32) -> Result<Option<Checkpoint>, CheckpointError> {
        if let Some(claimed) = lock(&self.claimed).remove(&partition) {
            return Ok(claimed);
        }
        self.store(partition)?.load_latest()
    }

    /// An error met while resuming partitions in the rebalance callback.
    pub fn take_error(&self) -> Option<CheckpointError> {
        lock(&self.error).take()
    }

    fn partitions_on_disk(&self) -> Result<Vec<i32>, CheckpointError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: self.root.clone(),
                    source,
                })
            }
        };
        let mut partitions: Vec<i32> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_prefix(PARTITION_PREFIX)?
                    .parse()
                    .ok()
            })
            .collect();
        partitions.sort_unstable();
        Ok(partitions)
    }
}

impl ResumeSource for CheckpointCatalog {
    fn resume_offsets(&self, partitions: &[TopicPartition]) -> Vec<(TopicPartition, i64)> {
        let mut numbers: Vec<i32> = partitions.iter().map(|p| p.partition).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let mut offsets = Vec::new();
        for number in numbers {
            let checkpoint = match self.store(number).and_then(|s| s.load_latest()) {
                Ok(checkpoint) => checkpoint,
                Err(error) => {
                    lock(&self.error).get_or_insert(error);
                    continue;
                }
            };
            if let Some(checkpoint) = &checkpoint {
                offsets.extend(
                    partitions
                        .iter()
                        .filter(|p| p.partition == number)
                        .filter_map(|p| {
                            let offset = checkpoint.offset_of(&p.topic, p.partition)?;
                            Some((p.clone(), offset))
                        }),
                );
            }
            lock(&self.claimed).insert(number, checkpoint);
        }
        offsets
    }
}

/// A panic elsewhere must not stop rebalancing.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::SourceOffset;

    fn checkpoint_with(store: &mut CheckpointStore, topic: &str, next_offset: i64) -> u64 {
        let mut checkpoint = Checkpoint::new(store.next_id(), store.ruleset().clone());
        checkpoint.offsets.push(SourceOffset {
            topic: topic.into(),
            partition: 3,
            next_offset,
        });
        store.save(&checkpoint).unwrap();
        checkpoint.id
    }

    fn partition(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    #[test]
    fn state_and_offsets_come_from_the_checkpoint_read_at_assignment() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = CheckpointCatalog::open(dir.path(), rules("rules")).unwrap();
        let mut store = catalog.store(3).unwrap();
        let first = checkpoint_with(&mut store, "auth", 40);

        let offsets = catalog.resume_offsets(&[partition("auth", 3), partition("payments", 3)]);
        assert_eq!(offsets, vec![(partition("auth", 3), 40)]);
        // Another instance writes a newer checkpoint before the task is built.
        checkpoint_with(&mut store, "auth", 90);
        assert_eq!(catalog.take(3).unwrap().map(|c| c.id), Some(first));
        // Without a claim, the newest on disk.
        assert_eq!(
            catalog.take(3).unwrap().map(|c| c.offset_of("auth", 3)),
            Some(Some(90))
        );
        assert_eq!(catalog.take(4).unwrap(), None);
    }

    fn rules(text: &str) -> RuleSet {
        RuleSet::of(&[dsl::Source {
            name: "r.eddy".into(),
            text: text.into(),
        }])
    }

    #[test]
    fn a_checkpoint_of_another_rule_set_is_opened_for_carrying_over() {
        let dir = tempfile::tempdir().unwrap();
        let old = CheckpointCatalog::open(dir.path(), rules("old")).unwrap();
        checkpoint_with(&mut old.store(3).unwrap(), "auth", 1);
        let new = CheckpointCatalog::open(dir.path(), rules("new")).unwrap();
        let taken = new.take(3).unwrap().unwrap();
        assert_eq!(taken.ruleset, rules("old").fingerprint);
        // Written from now on: the new rules'.
        assert_eq!(new.store(3).unwrap().ruleset(), &rules("new").fingerprint);
    }
}
