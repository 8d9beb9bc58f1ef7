//! Checkpoints in a local directory, one file each:
//! `checkpoint-<id, 20 digits>.ckpt`. A file is written under a temporary
//! name, fsynced, renamed into place and the directory fsynced, so a crash
//! leaves either the whole new file or none (a leftover temporary file is
//! ignored and removed by the next save). The newest [`DEFAULT_RETAINED`]
//! are kept: if the newest is damaged, the one before is still there.
//!
//! Checkpoints hold what the rules keep of events (user ids, IP addresses):
//! the directory is made 0700 and the files 0600, whatever the umask, so
//! that only the user running eddy can read them.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{codec, Checkpoint, CheckpointError, RulesetFingerprint};

/// How many checkpoints a store keeps.
pub const DEFAULT_RETAINED: usize = 2;

const PREFIX: &str = "checkpoint-";
const SUFFIX: &str = ".ckpt";
const TEMP_PREFIX: &str = ".tmp-checkpoint-";

/// The mode of the store's directory: the owner's only.
pub const DIR_MODE: u32 = 0o700;
/// The mode of a checkpoint file: read and written by the owner only.
pub const FILE_MODE: u32 = 0o600;

/// A directory of checkpoints of one rule set.
#[derive(Debug)]
pub struct CheckpointStore {
    dir: PathBuf,
    ruleset: RulesetFingerprint,
    retained: usize,
    /// The newest id on disk, so ids only grow.
    latest_id: Option<u64>,
}

impl CheckpointStore {
    /// Opens (creating it if needed) the store in `dir` for `ruleset`.
    pub fn open(
        dir: impl Into<PathBuf>,
        ruleset: RulesetFingerprint,
    ) -> Result<Self, CheckpointError> {
        let dir = dir.into();
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&dir)
            .map_err(|source| io(&dir, source))?;
        // The umask may have taken bits off the mode above, and a directory
        // that was already there may be open to others: set it outright.
        fs::set_permissions(&dir, Permissions::from_mode(DIR_MODE))
            .map_err(|source| io(&dir, source))?;
        let latest_id = list(&dir)?.last().map(|(id, _)| *id);
        Ok(CheckpointStore {
            dir,
            ruleset,
            retained: DEFAULT_RETAINED,
            latest_id,
        })
    }

    /// Keeps `count` checkpoints instead of [`DEFAULT_RETAINED`] (at least one).
    pub fn with_retained(mut self, count: usize) -> Self {
        self.retained = count.max(1);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn ruleset(&self) -> &RulesetFingerprint {
        &self.ruleset
    }

    /// The id the next checkpoint should carry.
    pub fn next_id(&self) -> u64 {
        self.latest_id.map_or(1, |id| id + 1)
    }

    /// Writes `checkpoint` atomically and durably, then removes the ones
    /// beyond the retained count. Returns the file written.
    pub fn save(&mut self, checkpoint: &Checkpoint) -> Result<PathBuf, CheckpointError> {
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
        let bytes = codec::encode(checkpoint);
        let temp = self.dir.join(format!("{TEMP_PREFIX}{:020}", checkpoint.id));
        let path = self.dir.join(file_name(checkpoint.id));
        write_synced(&temp, &bytes)?;
        fs::rename(&temp, &path).map_err(|source| io(&path, source))?;
        sync_dir(&self.dir)?;
        self.latest_id = Some(checkpoint.id);
        self.prune()?;
        Ok(path)
    }

    /// The newest readable checkpoint, or `None` for an empty store.
    ///
    /// A checkpoint of another format version is refused: the state in it
    /// would be misread. One of another rule set is returned as it is,
    /// with its rule files, for the caller to carry over. A damaged newest file (which the atomic
    /// write makes unlikely, but disks fail) falls back to the one before,
    /// with a warning; replaying from an older checkpoint is safe, derived
    /// events keep their ids. If every file is damaged, the newest error is
    /// returned.
    pub fn load_latest(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        let mut first_error = None;
        for (_, path) in list(&self.dir)?.into_iter().rev() {
            match self.read(&path) {
                Ok(checkpoint) => return Ok(Some(checkpoint)),
                Err(error @ CheckpointError::Corrupt { .. }) => {
                    tracing::warn!("{error}; trying the checkpoint before it");
                    first_error.get_or_insert(error);
                }
                Err(other) => return Err(other),
            }
        }
        first_error.map_or(Ok(None), Err)
    }

    /// Reads and checks one checkpoint file.
    pub fn read(&self, path: &Path) -> Result<Checkpoint, CheckpointError> {
        let bytes = fs::read(path).map_err(|source| io(path, source))?;
        codec::decode(path, &bytes)
    }

    /// Ids of the stored checkpoints, oldest first.
    pub fn ids(&self) -> Result<Vec<u64>, CheckpointError> {
        Ok(list(&self.dir)?.into_iter().map(|(id, _)| id).collect())
    }

    /// Removes checkpoints beyond the retained count and leftover temporary files.
    fn prune(&self) -> Result<(), CheckpointError> {
        let stored = list(&self.dir)?;
        let excess = stored.len().saturating_sub(self.retained);
        for (_, path) in stored.into_iter().take(excess) {
            fs::remove_file(&path).map_err(|source| io(&path, source))?;
        }
        let entries = fs::read_dir(&self.dir).map_err(|source| io(&self.dir, source))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                // Another writer's temporary file is not ours to fail on.
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}

fn file_name(id: u64) -> String {
    format!("{PREFIX}{id:020}{SUFFIX}")
}

/// The checkpoint files of `dir` by id, oldest first; other files are ignored.
fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, CheckpointError> {
    let entries = fs::read_dir(dir).map_err(|source| io(dir, source))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| io(dir, source))?;
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        found.push((id, entry.path()));
    }
    found.sort();
    Ok(found)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|source| io(path, source))?;
    // As for the directory: the mode of `open` is only used for a new file,
    // and then less the umask.
    file.set_permissions(Permissions::from_mode(FILE_MODE))
        .map_err(|source| io(path, source))?;
    file.write_all(bytes).map_err(|source| io(path, source))?;
    file.sync_all().map_err(|source| io(path, source))
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), CheckpointError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| io(dir, source))
}

fn io(path: &Path, source: std::io::Error) -> CheckpointError {
    CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}
