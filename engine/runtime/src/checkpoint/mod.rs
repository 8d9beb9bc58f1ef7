//! Checkpoints: the operator state, watermarks and source offsets of one
//! consistent point of a run, so a restart resumes exactly there.
//!
//! The runtime takes a checkpoint at a barrier: every derived event caused
//! by input before it has been acknowledged by its sink, the operators'
//! state is snapshotted, and the offsets recorded are those of the next
//! messages to read. Only after the checkpoint is stored are the offsets
//! committed to Kafka; on restart the checkpoint's offsets win over the
//! group's committed ones, so state and input always match.
//!
//! Checkpoints are kept in a [`Storage`]: a local directory
//! ([`LocalStorage`]) or an object store (the `bucket` crate's S3 storage),
//! one series per partition, fenced against writers that lost the
//! partition (see [`CheckpointStore`]).
//!
//! A checkpoint belongs to one rule set (a fingerprint of the rule texts)
//! and one file format version; the [`CheckpointStore`] refuses to write
//! another rule set's. It carries its rule files, so that a restart with
//! other rules can rebuild the pipeline the state came from and carry the
//! unchanged rules' state over, as a reload does.

mod codec;
mod local;
pub mod storage;
mod store;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use local::{LocalStorage, DIR_MODE, FILE_MODE};
pub use storage::{Created, Listing, Storage};
pub use store::{CheckpointStore, DEFAULT_RETAINED};

/// The version of the checkpoint file layout written by this build,
/// operator states included. 2: window state counts the evidence it left
/// out, and evidence of derived events is an id (window state, waiting
/// output); a version 1 checkpoint would not decode, so it is refused.
pub const FORMAT_VERSION: u32 = 2;

/// Identifies a rule set: a hash of the rule texts in order. State saved
/// under one rule set means nothing under another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RulesetFingerprint(String);

impl RulesetFingerprint {
    /// The fingerprint of `texts` (the rule files' contents, in load order).
    /// Each text is length-prefixed, so moving text between files changes it.
    pub fn of<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for text in texts {
            hasher.update(&(text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
        }
        RulesetFingerprint(format!("{:032x}", hasher.digest128()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RulesetFingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One rule file as the checkpointed run read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleFile {
    pub name: String,
    pub text: String,
}

/// The rule files of a run and their fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    pub fingerprint: RulesetFingerprint,
    pub files: Vec<RuleFile>,
}

impl RuleSet {
    /// The rule set of `sources`, in load order.
    pub fn of(sources: &[dsl::Source]) -> Self {
        RuleSet {
            fingerprint: RulesetFingerprint::of(sources.iter().map(|s| s.text.as_str())),
            files: sources
                .iter()
                .map(|s| RuleFile {
                    name: s.name.clone(),
                    text: s.text.clone(),
                })
                .collect(),
        }
    }

    /// The files as the rule compiler takes them.
    pub fn sources(files: &[RuleFile]) -> Vec<dsl::Source> {
        files
            .iter()
            .map(|f| dsl::Source {
                name: f.name.clone(),
                text: f.text.clone(),
            })
            .collect()
    }
}

/// Where to resume one source partition: the offset of the next message
/// to read (Kafka's committed-offset convention).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceOffset {
    pub topic: String,
    pub partition: i32,
    pub next_offset: i64,
}

/// Messages a source handed to the pipeline before a checkpoint but
/// acknowledges to their broker only once the checkpoint is stored (AMQP).
/// Should the run stop in between, the broker delivers them again: the
/// restored source knows them by these identities and skips them. Two
/// messages may share an identity: it is a multiset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unacknowledged {
    /// The source's name for where they came from (`amqp:<queue>`).
    pub channel: String,
    pub identities: Vec<u64>,
}

/// The watermark of one stream, or of one partition of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamWatermark {
    pub stream: String,
    /// `None` for the stream as a whole.
    pub partition: Option<i32>,
    /// Event-time milliseconds.
    pub watermark: i64,
}

/// One rule's operator state, as the operator serialised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorState {
    pub rule: String,
    pub state: Vec<u8>,
}

/// A consistent point of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Increases with every checkpoint of a store.
    pub id: u64,
    pub ruleset: RulesetFingerprint,
    pub offsets: Vec<SourceOffset>,
    pub watermarks: Vec<StreamWatermark>,
    pub operators: Vec<OperatorState>,
    /// The rule files the state was made by (empty in checkpoints written
    /// before eddy kept them).
    pub rules: Vec<RuleFile>,
    /// The end offsets of the sink topics when the checkpoint was taken:
    /// where a restored task looks for the events it derived after it, so
    /// as not to write them twice (empty for sinks that cannot be read back).
    pub outputs: Vec<SourceOffset>,
    /// Messages covered by this checkpoint but maybe not yet acknowledged
    /// to their broker (see [`Unacknowledged`]).
    pub unacknowledged: Vec<Unacknowledged>,
}

impl Checkpoint {
    /// An empty checkpoint `id` of `ruleset`, to be filled in.
    pub fn new(id: u64, ruleset: RulesetFingerprint) -> Self {
        Checkpoint {
            id,
            ruleset,
            offsets: Vec::new(),
            watermarks: Vec::new(),
            operators: Vec::new(),
            rules: Vec::new(),
            outputs: Vec::new(),
            unacknowledged: Vec::new(),
        }
    }

    /// Reads a checkpoint file's bytes, as [`CheckpointStore`] does; `path`
    /// names the file in errors. A checkpoint that fails any check (magic,
    /// version, checksum, lengths, metadata) is an error, never a panic.
    pub fn decode(path: &std::path::Path, bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        codec::decode(path, bytes)
    }

    /// The file bytes of this checkpoint.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// The next offset to read of `topic`/`partition`, if recorded.
    pub fn offset_of(&self, topic: &str, partition: i32) -> Option<i64> {
        self.offsets
            .iter()
            .find(|o| o.topic == topic && o.partition == partition)
            .map(|o| o.next_offset)
    }

    /// Whether this is the empty checkpoint a claim writes to a series that
    /// had none: every real one holds the pipeline's own state.
    pub fn is_empty_claim(&self) -> bool {
        self.operators.is_empty()
    }

    /// The saved state of rule `rule`, if any.
    pub fn state_of(&self, rule: &str) -> Option<&[u8]> {
        self.operators
            .iter()
            .find(|o| o.rule == rule)
            .map(|o| o.state.as_slice())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "checkpoint {id} belongs to a different rule set (its fingerprint {found}, \
         the rules now give {expected}) and was written by an eddy that did not \
         keep its rules, so the unchanged rules' state cannot be told apart; \
         run the rules it was written with, or remove the checkpoint directory \
         (or set another `checkpoint.dir`) to start afresh"
    )]
    RulesetMismatch {
        id: u64,
        found: RulesetFingerprint,
        expected: RulesetFingerprint,
    },
    #[error(
        "checkpoint {id} was written by rules that this eddy cannot compile (their \
         text is in the checkpoint's metadata); run the eddy that wrote it, or remove \
         the checkpoint directory to start afresh"
    )]
    RulesDoNotCompile { id: u64 },
    #[error("checkpoint storage {location}: {source}")]
    Remote {
        location: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "checkpoint {id} at {location} was written by another instance, which has taken \
         this partition over: this instance no longer owns its state and leaves it alone"
    )]
    Fenced { location: String, id: u64 },
    #[error("could not take over the checkpoints at {location}: other instances claimed them {attempts} times in a row")]
    ClaimContended { location: String, attempts: usize },
    #[error("checkpoint {path} has format version {found}; this eddy reads version {supported}")]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("checkpoint {path} is corrupt: {problem}")]
    Corrupt { path: PathBuf, problem: String },
    #[error("checkpoint {id} is not newer than the latest stored one ({latest})")]
    NotNewer { id: u64, latest: u64 },
    #[error("checkpoint {id} is of rule set {found}, the store is of {expected}")]
    WrongRuleset {
        id: u64,
        found: RulesetFingerprint,
        expected: RulesetFingerprint,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_depends_on_text_and_split() {
        let a = RulesetFingerprint::of(["rule a", "rule b"]);
        assert_eq!(a, RulesetFingerprint::of(["rule a", "rule b"]));
        assert_ne!(a, RulesetFingerprint::of(["rule a", "rule c"]));
        assert_ne!(a, RulesetFingerprint::of(["rule arule b"]));
        assert_eq!(a.as_str().len(), 32);
    }
}
