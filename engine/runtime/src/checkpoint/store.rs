//! A series of checkpoints in a [`Storage`]: `<prefix>/checkpoint-<id, 20
//! digits>.ckpt`, ids growing by one. Each checkpoint is created whole or
//! not at all; the newest [`DEFAULT_RETAINED`] are kept, so that if the
//! newest is damaged the one before is still there.
//!
//! # Fencing
//!
//! Several instances may share a storage (a bucket), and one that stalled
//! (a long GC pause, a stopped process) may wake up still believing it
//! owns a partition that the group gave to another instance: a zombie. Its
//! checkpoints must never replace the new owner's. The store makes every
//! write a compare-and-swap on the series:
//!
//! - a writer writes id `n + 1` only, where `n` is the id it last wrote or
//!   claimed, with a create that fails if the id exists;
//! - taking a series over ([`CheckpointStore::claim`]) writes the next id
//!   at once, as a copy of the newest checkpoint (or as an empty one).
//!
//! So after a claim, the old owner's next write meets an id that exists
//! and fails with [`CheckpointError::Fenced`]. (It can succeed only where
//! garbage collection removed that id, which is below the newest, and
//! readers take the newest.)

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::local::LocalStorage;
use super::storage::{join, Created, Storage};
use super::{codec, Checkpoint, CheckpointError, RulesetFingerprint};

/// How many checkpoints a store keeps.
pub const DEFAULT_RETAINED: usize = 2;

/// How often a claim is tried again when another instance claimed the
/// same id first.
const CLAIM_ATTEMPTS: usize = 8;

const PREFIX: &str = "checkpoint-";
const SUFFIX: &str = ".ckpt";

/// The checkpoints of one series (one partition) of one storage.
#[derive(Debug)]
pub struct CheckpointStore {
    storage: Arc<dyn Storage>,
    prefix: String,
    ruleset: RulesetFingerprint,
    retained: usize,
    /// The id this store last wrote or claimed, or else the newest it saw
    /// when opened: the next write is this plus one.
    latest_id: Option<u64>,
}

impl CheckpointStore {
    /// Opens (creating it if needed) the store in local directory `dir`.
    pub fn open(
        dir: impl Into<PathBuf>,
        ruleset: RulesetFingerprint,
    ) -> Result<Self, CheckpointError> {
        Self::in_storage(Arc::new(LocalStorage::open(dir)?), "", ruleset)
    }

    /// Opens the series under `prefix` of `storage` for `ruleset`.
    pub fn in_storage(
        storage: Arc<dyn Storage>,
        prefix: impl Into<String>,
        ruleset: RulesetFingerprint,
    ) -> Result<Self, CheckpointError> {
        let mut store = CheckpointStore {
            storage,
            prefix: prefix.into(),
            ruleset,
            retained: DEFAULT_RETAINED,
            latest_id: None,
        };
        store.latest_id = store.ids()?.last().copied();
        Ok(store)
    }

    /// Keeps `count` checkpoints instead of [`DEFAULT_RETAINED`] (at least one).
    pub fn with_retained(mut self, count: usize) -> Self {
        self.retained = count.max(1);
        self
    }

    /// Where the series is: a directory or a URL.
    pub fn location(&self) -> String {
        self.storage.location(&self.prefix)
    }

    pub fn ruleset(&self) -> &RulesetFingerprint {
        &self.ruleset
    }

    /// Checkpoints from now on are of `ruleset` (the rules were reloaded).
    pub fn set_ruleset(&mut self, ruleset: RulesetFingerprint) {
        self.ruleset = ruleset;
    }

    /// The id the next checkpoint should carry.
    pub fn next_id(&self) -> u64 {
        self.latest_id.map_or(1, |id| id + 1)
    }

    /// Writes `checkpoint`, then removes the ones beyond the retained
    /// count. Returns where it was written. Fails with
    /// [`CheckpointError::Fenced`] if another writer has taken the series.
    pub fn save(&mut self, checkpoint: &Checkpoint) -> Result<String, CheckpointError> {
        if checkpoint.ruleset != self.ruleset {
            return Err(CheckpointError::WrongRuleset {
                id: checkpoint.id,
                found: checkpoint.ruleset.clone(),
                expected: self.ruleset.clone(),
            });
        }
        if let Some(latest) = self.latest_id.filter(|&latest| checkpoint.id <= latest) {
            return Err(CheckpointError::NotNewer {
                id: checkpoint.id,
                latest,
            });
        }
        let key = self.key(checkpoint.id);
        match self.storage.create(&key, &codec::encode(checkpoint))? {
            Created::Yes => {
                self.latest_id = Some(checkpoint.id);
                self.prune()?;
                Ok(self.storage.location(&key))
            }
            Created::AlreadyExists => Err(CheckpointError::Fenced {
                location: self.storage.location(&key),
                id: checkpoint.id,
            }),
        }
    }

    /// Takes the series over: reads the newest readable checkpoint and
    /// writes a copy of it under the next id (an empty checkpoint if there
    /// is none), so that the previous writer is fenced. Returns the
    /// checkpoint to resume from, if there is one with state.
    pub fn claim(&mut self) -> Result<Option<Checkpoint>, CheckpointError> {
        for _ in 0..CLAIM_ATTEMPTS {
            let ids = self.ids()?;
            let resumed = self.newest_readable(&ids)?;
            let id = ids.last().map_or(1, |newest| newest + 1);
            let claim = match &resumed {
                Some(checkpoint) => Checkpoint {
                    id,
                    ..checkpoint.clone()
                },
                None => Checkpoint::new(id, self.ruleset.clone()),
            };
            if self.storage.create(&self.key(id), &codec::encode(&claim))? == Created::Yes {
                self.latest_id = Some(id);
                self.prune()?;
                return Ok(resumed.filter(|c| !c.is_empty_claim()));
            }
        }
        Err(CheckpointError::ClaimContended {
            location: self.location(),
            attempts: CLAIM_ATTEMPTS,
        })
    }

    /// The newest readable checkpoint, or `None` for an empty store.
    ///
    /// A checkpoint of another format version is refused: the state in it
    /// would be misread. One of another rule set is returned as it is,
    /// with its rule files, for the caller to carry over. A damaged newest
    /// one (which the atomic write makes unlikely, but disks fail) falls
    /// back to the one before, with a warning; replaying from an older
    /// checkpoint is safe, derived events keep their ids. If every one is
    /// damaged, the newest error is returned.
    pub fn load_latest(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        self.newest_readable(&self.ids()?)
    }

    fn newest_readable(&self, ids: &[u64]) -> Result<Option<Checkpoint>, CheckpointError> {
        let mut first_error = None;
        for &id in ids.iter().rev() {
            match self.read(id) {
                Ok(Some(checkpoint)) => return Ok(Some(checkpoint)),
                // Removed since it was listed: by this series' new owner.
                Ok(None) => continue,
                Err(error @ CheckpointError::Corrupt { .. }) => {
                    tracing::warn!("{error}; trying the checkpoint before it");
                    first_error.get_or_insert(error);
                }
                Err(other) => return Err(other),
            }
        }
        first_error.map_or(Ok(None), Err)
    }

    /// Reads and checks checkpoint `id`, if it is there.
    pub fn read(&self, id: u64) -> Result<Option<Checkpoint>, CheckpointError> {
        let key = self.key(id);
        let Some(bytes) = self.storage.read(&key)? else {
            return Ok(None);
        };
        codec::decode(Path::new(&self.storage.location(&key)), &bytes).map(Some)
    }

    /// Ids of the stored checkpoints, oldest first.
    pub fn ids(&self) -> Result<Vec<u64>, CheckpointError> {
        let mut ids: Vec<u64> = self
            .storage
            .list(&self.prefix)?
            .objects
            .iter()
            .filter_map(|name| {
                name.strip_prefix(PREFIX)?
                    .strip_suffix(SUFFIX)?
                    .parse::<u64>()
                    .ok()
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Removes checkpoints beyond the retained count.
    fn prune(&self) -> Result<(), CheckpointError> {
        let ids = self.ids()?;
        let excess = ids.len().saturating_sub(self.retained);
        for &id in &ids[..excess] {
            self.storage.delete(&self.key(id))?;
        }
        Ok(())
    }

    fn key(&self, id: u64) -> String {
        join(&self.prefix, &format!("{PREFIX}{id:020}{SUFFIX}"))
    }
}
