//! What operators produce: derived events, as Arrow rows plus the metadata
//! the CloudEvent envelope needs.

use arrow_array::RecordBatch;
use dsl::plan::Millis;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

/// One event that made a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The pattern step that took the event; `None` for simple and window rules.
    pub step: Option<String>,
    pub stream: String,
    pub at: Locator,
}

/// How evidence names its event (the contract): an input event by where it
/// was read, a derived event by its CloudEvent `id` (its sequence number
/// within the rule that emitted it would mean nothing to a consumer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Locator {
    /// An input event's [`crate::schema::OFFSET_COLUMN`] value: a file's
    /// 1-based line, or a Kafka record number.
    Offset(i64),
    /// A derived event's [`crate::schema::ID_COLUMN`] value.
    Id(String),
}

impl Locator {
    /// The offset of an input event; `None` for a derived one.
    pub fn offset(&self) -> Option<i64> {
        match self {
            Locator::Offset(offset) => Some(*offset),
            Locator::Id(_) => None,
        }
    }
}

/// The envelope of one derived event.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedMeta {
    /// Event time at which the match completed.
    pub time: Millis,
    /// The partition key, components joined with `,`; `None` without `by`.
    pub key: Option<String>,
    /// Deterministic: see [`derived_id`].
    pub id: String,
    pub evidence: Vec<Evidence>,
    /// Events that made the match but are not in `evidence` because a limit
    /// applied (window rules list their first events only): the contract
    /// forbids truncating evidence silently. 0 when nothing was left out.
    pub evidence_omitted: u64,
    /// For window rules: `[start, end)` of the window that fired.
    pub window: Option<(Millis, Millis)>,
}

/// Derived events of one rule, in emission order.
#[derive(Debug, Clone)]
pub struct DerivedBatch {
    /// Index of the rule in `Program::rules`.
    pub rule: usize,
    /// One row per derived event, in the schema of the rule's derived stream
    /// (`operators::schema::stream_schema` of its `StreamPlan`): the emitted
    /// fields, `time`, then the hidden columns (`__offset` is the event's
    /// sequence number within the rule, `__hash` a hash of its id, `__id`
    /// its id). Other rules read it as it is.
    pub data: RecordBatch,
    /// One per row of `data`.
    pub meta: Vec<DerivedMeta>,
}

/// The id of a derived event: the same rule, key, completion time and
/// evidence (by content hash, not position) always give the same id, so a
/// consumer can drop duplicates after a replay. 32 hex digits.
pub fn derived_id(rule: &str, key: Option<&str>, time: Millis, evidence_hashes: &[u64]) -> String {
    let mut h = Xxh3::new();
    h.update(rule.as_bytes());
    h.update(&[0]);
    if let Some(k) = key {
        h.update(k.as_bytes());
    }
    h.update(&[0]);
    h.update(&time.to_le_bytes());
    for e in evidence_hashes {
        h.update(&e.to_le_bytes());
    }
    format!("{:032x}", h.digest128())
}
