//! The checkpoints of a job, one series per partition number, and where an
//! assigned partition resumes.
//!
//! Layout: `<checkpoint.dir>/partition-<N>/checkpoint-<id>.ckpt`, in a local
//! directory or a bucket. Partition N of every input topic belongs to one
//! task, so one series holds the state of the keys of partition N and the
//! offsets of partition N of each topic. Instances of one group share the
//! storage: when the group moves partition N, its new owner claims the
//! series (see [`CheckpointStore::claim`]), which fences the old owner.
//!
//! The claim is made when a partition is assigned (inside the rebalance
//! callback, to give librdkafka its start offset), and the checkpoint it
//! read is kept until the task is built, so state and offsets always come
//! from the same checkpoint.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::checkpoint::{
    Checkpoint, CheckpointError, CheckpointStore, RuleSet, RulesetFingerprint, Storage,
};
use crate::kafka::{ResumeSource, TopicPartition};

const PARTITION_PREFIX: &str = "partition-";

/// The job's checkpoint storage.
pub struct CheckpointCatalog {
    storage: Arc<dyn Storage>,
    /// Changes when the rules are reloaded: later checkpoints are of the new set.
    rules: Mutex<RuleSet>,
    /// The series this instance has claimed, by partition number.
    owned: Mutex<BTreeMap<i32, CheckpointStore>>,
    /// Checkpoints read at assignment, waiting for their task: `None` for a
    /// partition without one.
    claimed: Mutex<BTreeMap<i32, Option<Checkpoint>>>,
    /// The first error met in the rebalance callback, which cannot return one.
    error: Mutex<Option<CheckpointError>>,
}

impl CheckpointCatalog {
    /// Opens `storage` for `rules`, refusing it at once if any partition's
    /// newest checkpoint cannot be read. A checkpoint of other rules is
    /// carried over when its task is built (see
    /// `runtime::driver::Task::restore_across_rules`).
    pub fn open(storage: Arc<dyn Storage>, rules: RuleSet) -> Result<Self, CheckpointError> {
        let catalog = CheckpointCatalog {
            storage,
            rules: Mutex::new(rules),
            owned: Mutex::new(BTreeMap::new()),
            claimed: Mutex::new(BTreeMap::new()),
            error: Mutex::new(None),
        };
        for partition in catalog.partitions_stored()? {
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
        for store in lock(&self.owned).values_mut() {
            store.set_ruleset(rules.fingerprint.clone());
        }
        *lock(&self.rules) = rules;
    }

    /// The series of partition number `partition`, as it is in storage.
    pub fn store(&self, partition: i32) -> Result<CheckpointStore, CheckpointError> {
        CheckpointStore::in_storage(
            Arc::clone(&self.storage),
            format!("{PARTITION_PREFIX}{partition}"),
            self.ruleset(),
        )
    }

    /// The checkpoint to build partition `partition`'s task from: the one
    /// read when it was claimed at assignment, or else claimed now.
    pub fn take(&self, partition: i32) -> Result<Option<Checkpoint>, CheckpointError> {
        if let Some(claimed) = lock(&self.claimed).remove(&partition) {
            return Ok(claimed);
        }
        self.claim(partition)
    }

    /// The id of partition `partition`'s next checkpoint. Fails with
    /// [`CheckpointError::Fenced`] for a partition this instance has not
    /// claimed, or lost: only a new assignment claims it again.
    pub fn next_id(&self, partition: i32) -> Result<u64, CheckpointError> {
        match lock(&self.owned).get(&partition) {
            Some(store) => Ok(store.next_id()),
            None => Err(self.not_owned(partition)),
        }
    }

    /// Writes partition `partition`'s checkpoint; fails with
    /// [`CheckpointError::Fenced`] if another instance has claimed it since.
    pub fn save(&self, partition: i32, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let mut owned = lock(&self.owned);
        let Some(store) = owned.get_mut(&partition) else {
            return Err(self.not_owned(partition));
        };
        let saved = store.save(checkpoint);
        if matches!(saved, Err(CheckpointError::Fenced { .. })) {
            owned.remove(&partition);
        }
        saved.map(|_| ())
    }

    fn not_owned(&self, partition: i32) -> CheckpointError {
        let series = format!("{PARTITION_PREFIX}{partition}");
        CheckpointError::Fenced {
            location: self.storage.location(&series),
            id: self.store(partition).map_or(0, |s| s.next_id()),
        }
    }

    /// An error met while resuming partitions in the rebalance callback.
    pub fn take_error(&self) -> Option<CheckpointError> {
        lock(&self.error).take()
    }

    fn claim(&self, partition: i32) -> Result<Option<Checkpoint>, CheckpointError> {
        let mut store = self.store(partition)?;
        let resumed = store.claim()?;
        lock(&self.owned).insert(partition, store);
        Ok(resumed)
    }

    fn partitions_stored(&self) -> Result<Vec<i32>, CheckpointError> {
        let mut partitions: Vec<i32> = self
            .storage
            .list("")?
            .prefixes
            .iter()
            .filter_map(|name| name.strip_prefix(PARTITION_PREFIX)?.parse().ok())
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
            let checkpoint = match self.claim(number) {
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
    use crate::checkpoint::{LocalStorage, OperatorState, SourceOffset};

    fn rules(text: &str) -> RuleSet {
        RuleSet::of(&[dsl::Source {
            name: "r.eddy".into(),
            text: text.into(),
        }])
    }

    fn partition(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// Saves a checkpoint of partition 3 with `auth`'s next offset.
    fn save(catalog: &CheckpointCatalog, next_offset: i64) -> Result<u64, CheckpointError> {
        let mut checkpoint = Checkpoint::new(catalog.next_id(3)?, catalog.ruleset());
        checkpoint.offsets.push(SourceOffset {
            topic: "auth".into(),
            partition: 3,
            next_offset,
        });
        checkpoint.operators.push(OperatorState {
            rule: "r".into(),
            state: vec![1],
        });
        catalog.save(3, &checkpoint)?;
        Ok(checkpoint.id)
    }

    #[test]
    fn a_new_owner_resumes_from_the_newest_checkpoint_and_fences_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(LocalStorage::open(dir.path()).unwrap());
        let old = CheckpointCatalog::open(Arc::clone(&storage), rules("rules")).unwrap();
        assert_eq!(old.take(3).unwrap(), None);
        save(&old, 40).unwrap();

        let new = CheckpointCatalog::open(storage, rules("rules")).unwrap();
        let offsets = new.resume_offsets(&[partition("auth", 3), partition("payments", 3)]);
        assert_eq!(offsets, vec![(partition("auth", 3), 40)]);
        let resumed = new.take(3).unwrap().unwrap();
        assert_eq!(resumed.offset_of("auth", 3), Some(40));

        // The old owner wakes up and checkpoints: refused, and for good.
        let error = save(&old, 90).unwrap_err();
        assert!(matches!(error, CheckpointError::Fenced { .. }), "{error:?}");
        assert!(matches!(
            save(&old, 91).unwrap_err(),
            CheckpointError::Fenced { .. }
        ));
        // The new owner's series goes on, and is what the next owner reads.
        save(&new, 50).unwrap();
        let newest = new.store(3).unwrap().load_latest().unwrap().unwrap();
        assert_eq!(newest.offset_of("auth", 3), Some(50));
    }

    #[test]
    fn a_checkpoint_of_another_rule_set_is_opened_for_carrying_over() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(LocalStorage::open(dir.path()).unwrap());
        let old = CheckpointCatalog::open(Arc::clone(&storage), rules("old")).unwrap();
        // Only a claimed partition is written.
        assert!(matches!(save(&old, 1), Err(CheckpointError::Fenced { .. })));
        old.take(3).unwrap();
        save(&old, 1).unwrap();
        let new = CheckpointCatalog::open(storage, rules("new")).unwrap();
        let taken = new.take(3).unwrap().unwrap();
        assert_eq!(taken.ruleset, rules("old").fingerprint);
        // Written from now on: the new rules'.
        save(&new, 2).unwrap();
        let newest = new.store(3).unwrap().load_latest().unwrap().unwrap();
        assert_eq!(newest.ruleset, rules("new").fingerprint);
    }
}
