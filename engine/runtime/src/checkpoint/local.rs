//! [`Storage`] in a local directory (the embedded default, and a directory
//! shared over NFS).
//!
//! An object is written under a temporary name, fsynced, then hard-linked
//! to its key: `link` fails if the key exists, which makes the create
//! conditional, and a crash leaves either the whole object or none (a
//! leftover temporary file starts with [`TEMP_PREFIX`]). The directory is
//! fsynced after the link so the new name survives a power cut.
//!
//! Checkpoints hold what the rules keep of events (user ids, IP addresses):
//! directories are made 0700 and files 0600, whatever the umask, so that
//! only the user running eddy can read them.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::storage::{Created, Listing, Storage};
use super::CheckpointError;

/// The mode of the store's directories: the owner's only.
pub const DIR_MODE: u32 = 0o700;
/// The mode of a checkpoint file: read and written by the owner only.
pub const FILE_MODE: u32 = 0o600;
/// Names of files being written; never listed as objects.
pub const TEMP_PREFIX: &str = ".tmp-";

/// A temporary file this old was left by a crash: no write takes so long.
const STALE_TEMP_AGE: Duration = Duration::from_secs(600);

/// A directory of objects; keys are paths relative to it.
#[derive(Debug)]
pub struct LocalStorage {
    root: PathBuf,
    /// Makes temporary names unique between the threads of one process.
    writes: AtomicU64,
}

impl LocalStorage {
    /// Creates `root` (0700) if needed, and sets the mode of one that is
    /// there already: the umask may have taken bits off, and a directory
    /// made by hand may be open to others.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, CheckpointError> {
        let root = root.into();
        make_private_dir(&root)?;
        Ok(LocalStorage {
            root,
            writes: AtomicU64::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

impl Storage for LocalStorage {
    fn list(&self, prefix: &str) -> Result<Listing, CheckpointError> {
        let dir = self.path(prefix);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Listing::default()),
            Err(source) => return Err(io(&dir, source)),
        };
        let mut listing = Listing::default();
        for entry in entries {
            let entry = entry.map_err(|source| io(&dir, source))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let is_dir = entry
                .file_type()
                .map_err(|source| io(&entry.path(), source))?
                .is_dir();
            if is_dir {
                listing.prefixes.push(name);
            } else {
                listing.objects.push(name);
            }
        }
        listing.objects.sort();
        listing.prefixes.sort();
        Ok(listing)
    }

    fn read(&self, key: &str) -> Result<Option<Vec<u8>>, CheckpointError> {
        let path = self.path(key);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(source) => Err(io(&path, source)),
        }
    }

    fn create(&self, key: &str, bytes: &[u8]) -> Result<Created, CheckpointError> {
        let path = self.path(key);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        make_private_dir(&dir)?;
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let temp = dir.join(format!(
            "{TEMP_PREFIX}{}-{}-{name}",
            std::process::id(),
            self.writes.fetch_add(1, Ordering::Relaxed)
        ));
        write_synced(&temp, bytes)?;
        let linked = fs::hard_link(&temp, &path);
        // The temporary name goes whatever the link did.
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => {
                sync_dir(&dir)?;
                remove_stale_temps(&dir);
                Ok(Created::Yes)
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(Created::AlreadyExists),
            Err(source) => Err(io(&path, source)),
        }
    }

    fn delete(&self, key: &str) -> Result<(), CheckpointError> {
        let path = self.path(key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(source) => Err(io(&path, source)),
        }
    }

    fn location(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }
}

/// Removes temporary files a crashed writer left in `dir`. Only old ones:
/// a younger one may be another process's write in progress.
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|at| at.elapsed().is_ok_and(|age| age > STALE_TEMP_AGE));
        if stale {
            // Another cleaner may have been first.
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn make_private_dir(dir: &Path) -> Result<(), CheckpointError> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|source| io(dir, source))?;
    fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)).map_err(|source| io(dir, source))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|source| io(path, source))?;
    // As for directories: the mode of `open` is only used for a new file,
    // and then less the umask.
    file.set_permissions(Permissions::from_mode(FILE_MODE))
        .map_err(|source| io(path, source))?;
    file.write_all(bytes).map_err(|source| io(path, source))?;
    file.sync_all().map_err(|source| io(path, source))
}

/// Makes a new name in `dir` durable.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_writes_only_where_no_object_is() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalStorage::open(dir.path().join("root")).unwrap();
        assert_eq!(storage.create("p/a", b"one").unwrap(), Created::Yes);
        assert_eq!(
            storage.create("p/a", b"two").unwrap(),
            Created::AlreadyExists
        );
        assert_eq!(storage.read("p/a").unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(storage.read("p/b").unwrap(), None);
        let root = storage.list("").unwrap();
        assert_eq!(root.prefixes, vec!["p".to_string()]);
        // No temporary file is left behind.
        assert_eq!(storage.list("p").unwrap().objects, vec!["a".to_string()]);
        storage.delete("p/a").unwrap();
        storage.delete("p/a").unwrap();
        assert_eq!(storage.list("p").unwrap(), Listing::default());
        assert_eq!(storage.list("absent").unwrap(), Listing::default());
    }
}
