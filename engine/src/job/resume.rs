//! The checkpoints of a job, one series per task, and where an assigned
//! partition resumes.
//!
//! Layout: `<checkpoint.dir>/partition-<N>/checkpoint-<id>.ckpt` for the
//! tasks of the input topics, `<checkpoint.dir>/group-<G>-partition-<N>/…`
//! for those of repartitioned group G (see the job's layout), in a local
//! directory or a bucket. Partition N of every topic a group reads belongs
//! to one task, so one series holds the state of the keys of partition N
//! and the offsets of partition N of each topic. Instances of one group share the
//! storage: when the group moves partition N, its new owner claims the
//! series (see [`CheckpointStore::claim`]), which fences the old owner.
//!
//! The claim is made when a partition is assigned (inside the rebalance
//! callback, to give librdkafka its start offset), and the checkpoint it
//! read is kept until the task is built, so state and offsets always come
//! from the same checkpoint.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::repartition::merge::parse_upstream_position;
use crate::checkpoint::{
    Checkpoint, CheckpointError, CheckpointStore, RuleSet, RulesetFingerprint, Storage,
};
use crate::driver::{task_group, task_id, task_partition, TaskId};
use crate::kafka::{ResumeSource, TopicPartition};

const PARTITION_PREFIX: &str = "partition-";
const GROUP_PREFIX: &str = "group-";

/// The series name of task `task`.
fn series(task: TaskId) -> String {
    match task_group(task) {
        0 => format!("{PARTITION_PREFIX}{task}"),
        group => format!(
            "{GROUP_PREFIX}{group}-{PARTITION_PREFIX}{}",
            task_partition(task)
        ),
    }
}

/// The task whose series is named `name`, if it is one.
fn task_of_series(name: &str) -> Option<TaskId> {
    if let Some(partition) = name.strip_prefix(PARTITION_PREFIX) {
        return partition.parse().ok();
    }
    let (group, partition) = name
        .strip_prefix(GROUP_PREFIX)?
        .split_once(&format!("-{PARTITION_PREFIX}"))?;
    Some(task_id(group.parse().ok()?, partition.parse().ok()?))
}

/// The job's checkpoint storage.
pub struct CheckpointCatalog {
    storage: Arc<dyn Storage>,
    /// Changes when the rules are reloaded: later checkpoints are of the new set.
    rules: Mutex<RuleSet>,
    /// The group of each internal topic (others are the input topics').
    groups: BTreeMap<String, i32>,
    /// The series this instance has claimed, by task.
    owned: Mutex<BTreeMap<TaskId, CheckpointStore>>,
    /// Checkpoints read at assignment, waiting for their task: `None` for a
    /// task without one.
    claimed: Mutex<BTreeMap<TaskId, Option<Checkpoint>>>,
    /// The first error met in the rebalance callback, which cannot return one.
    error: Mutex<Option<CheckpointError>>,
}

impl CheckpointCatalog {
    /// Opens `storage` for `rules`, refusing it at once if any partition's
    /// newest checkpoint cannot be read. A checkpoint of other rules is
    /// carried over when its task is built (see
    /// `runtime::driver::Task::restore_across_rules`).
    /// `groups`: the group of each internal topic the job reads.
    pub fn open(
        storage: Arc<dyn Storage>,
        rules: RuleSet,
        groups: BTreeMap<String, i32>,
    ) -> Result<Self, CheckpointError> {
        let catalog = CheckpointCatalog {
            storage,
            rules: Mutex::new(rules),
            groups,
            owned: Mutex::new(BTreeMap::new()),
            claimed: Mutex::new(BTreeMap::new()),
            error: Mutex::new(None),
        };
        for task in catalog.tasks_stored()? {
            catalog.store(task)?.load_latest()?;
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

    /// The series of task `task`, as it is in storage.
    pub fn store(&self, task: TaskId) -> Result<CheckpointStore, CheckpointError> {
        CheckpointStore::in_storage(Arc::clone(&self.storage), series(task), self.ruleset())
    }

    /// The task partition `partition` of its topic belongs to.
    pub fn task_of(&self, partition: &TopicPartition) -> TaskId {
        let group = self.groups.get(&partition.topic).copied().unwrap_or(0);
        task_id(group, partition.partition)
    }

    /// The upstream positions (see `repartition::merge`) of the checkpoint
    /// task `task` was claimed with at assignment, if any.
    pub fn upstream_positions(&self, task: TaskId) -> Vec<(String, i64)> {
        lock(&self.claimed)
            .get(&task)
            .and_then(Option::as_ref)
            .map(|checkpoint| {
                checkpoint
                    .offsets
                    .iter()
                    .filter(|o| parse_upstream_position(&o.topic).is_some())
                    .map(|o| (o.topic.clone(), o.next_offset))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The checkpoint to build task `task` from: the one
    /// read when it was claimed at assignment, or else claimed now.
    pub fn take(&self, task: TaskId) -> Result<Option<Checkpoint>, CheckpointError> {
        if let Some(claimed) = lock(&self.claimed).remove(&task) {
            return Ok(claimed);
        }
        self.claim(task)
    }

    /// Claims task `task`'s series now, for a source that must know where
    /// it resumes before the task is built (the event mesh's): the
    /// checkpoint read, which the task is then built from.
    pub fn claim_ahead(&self, task: TaskId) -> Result<Option<Checkpoint>, CheckpointError> {
        let checkpoint = self.claim(task)?;
        lock(&self.claimed).insert(task, checkpoint.clone());
        Ok(checkpoint)
    }

    /// The id of task `task`'s next checkpoint. Fails with
    /// [`CheckpointError::Fenced`] for a task this instance has not
    /// claimed, or lost: only a new assignment claims it again.
    pub fn next_id(&self, task: TaskId) -> Result<u64, CheckpointError> {
        match lock(&self.owned).get(&task) {
            Some(store) => Ok(store.next_id()),
            None => Err(self.not_owned(task)),
        }
    }

    /// Writes task `task`'s checkpoint; fails with
    /// [`CheckpointError::Fenced`] if another instance has claimed it since.
    pub fn save(&self, task: TaskId, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let mut owned = lock(&self.owned);
        let Some(store) = owned.get_mut(&task) else {
            return Err(self.not_owned(task));
        };
        let saved = store.save(checkpoint);
        if matches!(saved, Err(CheckpointError::Fenced { .. })) {
            owned.remove(&task);
        }
        saved.map(|_| ())
    }

    fn not_owned(&self, task: TaskId) -> CheckpointError {
        CheckpointError::Fenced {
            location: self.storage.location(&series(task)),
            id: self.store(task).map_or(0, |s| s.next_id()),
        }
    }

    /// An error met while resuming partitions in the rebalance callback.
    pub fn take_error(&self) -> Option<CheckpointError> {
        lock(&self.error).take()
    }

    fn claim(&self, task: TaskId) -> Result<Option<Checkpoint>, CheckpointError> {
        let mut store = self.store(task)?;
        let resumed = store.claim()?;
        lock(&self.owned).insert(task, store);
        Ok(resumed)
    }

    fn tasks_stored(&self) -> Result<Vec<TaskId>, CheckpointError> {
        let mut tasks: Vec<TaskId> = self
            .storage
            .list("")?
            .prefixes
            .iter()
            .filter_map(|name| task_of_series(name))
            .collect();
        tasks.sort_unstable();
        Ok(tasks)
    }
}

impl ResumeSource for CheckpointCatalog {
    fn resume_offsets(&self, partitions: &[TopicPartition]) -> Vec<(TopicPartition, i64)> {
        let mut tasks: Vec<TaskId> = partitions.iter().map(|p| self.task_of(p)).collect();
        tasks.sort_unstable();
        tasks.dedup();
        let mut offsets = Vec::new();
        for task in tasks {
            let checkpoint = match self.claim(task) {
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
                        .filter(|p| self.task_of(p) == task)
                        .filter_map(|p| {
                            let offset = checkpoint.offset_of(&p.topic, p.partition)?;
                            Some((p.clone(), offset))
                        }),
                );
            }
            lock(&self.claimed).insert(task, checkpoint);
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
        let old =
            CheckpointCatalog::open(Arc::clone(&storage), rules("rules"), BTreeMap::new()).unwrap();
        assert_eq!(old.take(3).unwrap(), None);
        save(&old, 40).unwrap();

        let new = CheckpointCatalog::open(storage, rules("rules"), BTreeMap::new()).unwrap();
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
    fn tasks_of_repartitioned_groups_have_series_of_their_own() {
        for task in [0, 7, task_id(1, 0), task_id(3, 11)] {
            assert_eq!(task_of_series(&series(task)), Some(task));
        }
        assert_eq!(series(task_id(2, 5)), "group-2-partition-5");
        assert_eq!(series(4), "partition-4");
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(LocalStorage::open(dir.path()).unwrap());
        let groups = BTreeMap::from([("g-repartition-auth-ip".to_string(), 1)]);
        let catalog = CheckpointCatalog::open(storage, rules("rules"), groups).unwrap();
        assert_eq!(
            catalog.task_of(&partition("g-repartition-auth-ip", 2)),
            task_id(1, 2)
        );
        assert_eq!(catalog.task_of(&partition("auth", 2)), 2);
    }

    #[test]
    fn a_checkpoint_of_another_rule_set_is_opened_for_carrying_over() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(LocalStorage::open(dir.path()).unwrap());
        let old =
            CheckpointCatalog::open(Arc::clone(&storage), rules("old"), BTreeMap::new()).unwrap();
        // Only a claimed partition is written.
        assert!(matches!(save(&old, 1), Err(CheckpointError::Fenced { .. })));
        old.take(3).unwrap();
        save(&old, 1).unwrap();
        let new = CheckpointCatalog::open(storage, rules("new"), BTreeMap::new()).unwrap();
        let taken = new.take(3).unwrap().unwrap();
        assert_eq!(taken.ruleset, rules("old").fingerprint);
        // Written from now on: the new rules'.
        save(&new, 2).unwrap();
        let newest = new.store(3).unwrap().load_latest().unwrap().unwrap();
        assert_eq!(newest.ruleset, rules("new").fingerprint);
    }
}
