//! Where checkpoint files live: a flat namespace of immutable objects
//! under `/`-separated keys, as both a local directory and an object store
//! (S3 and its kin) provide it.
//!
//! Four operations are all a [`super::CheckpointStore`] needs, and the one
//! that matters is [`Storage::create`]: an object is written whole or not
//! at all, and only if no object has that key. Checkpoint ids grow by one,
//! so two writers of one partition's series meet on the same key and one
//! of them learns it has been fenced (see the store's documentation).

use std::fmt::Debug;

use super::CheckpointError;

/// What [`Storage::create`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Yes,
    /// An object had the key already; it was left as it was.
    AlreadyExists,
}

/// The objects directly under a key prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Names (the last key segment) of the objects.
    pub objects: Vec<String>,
    /// Names of the sub-prefixes ("directories").
    pub prefixes: Vec<String>,
}

/// Immutable objects under `/`-separated keys relative to the storage's root.
pub trait Storage: Send + Sync + Debug {
    /// The objects and sub-prefixes directly under `prefix` (`""` for the
    /// root); an absent prefix lists nothing.
    fn list(&self, prefix: &str) -> Result<Listing, CheckpointError>;
    /// The bytes of object `key`, or `None` if there is none.
    fn read(&self, key: &str) -> Result<Option<Vec<u8>>, CheckpointError>;
    /// Writes object `key` atomically and durably, if no object has the key.
    fn create(&self, key: &str, bytes: &[u8]) -> Result<Created, CheckpointError>;
    /// Removes object `key`; an absent one is not an error.
    fn delete(&self, key: &str) -> Result<(), CheckpointError>;
    /// Where `key` is, for messages: a path or a URL.
    fn location(&self, key: &str) -> String;
}

/// `prefix` and `name` joined by one `/` (`name` alone for an empty prefix).
pub fn join(prefix: &str, name: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}
