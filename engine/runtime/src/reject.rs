//! Input that could not be used: why, and the line it came from.

use std::fmt;

/// Why an input line went to the dead-letter output. The names are stable:
/// they appear in the dead-letter records and in the summary on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    /// Not a JSON value, or not UTF-8 (anywhere in the line).
    MalformedJson,
    /// A non-nullable field is absent or null.
    MissingField,
    /// A field holds a value of another type (or the line is not an object).
    WrongType,
    /// A timestamp field holds neither an RFC 3339 string nor epoch milliseconds.
    BadTimestamp,
    /// The line is longer than the line-size limit.
    Oversize,
    /// The event is older than its stream's watermark when it arrives.
    Late,
    /// The event's time is further ahead of the wall clock than its stream
    /// allows (`ahead`, default 1d).
    Future,
    /// An object of the line names the same key twice: readers disagree on
    /// which value counts, so none is used.
    DuplicateField,
    /// A message of the event mesh whose envelope is wrong: a CloudEvent
    /// without a required attribute, with data that is not JSON, ...
    BadEnvelope,
    /// Not input but a derived event: its sink (a webhook) refused it, or
    /// could not be reached, after every retry.
    Undeliverable,
}

impl RejectReason {
    pub const ALL: [RejectReason; 10] = [
        RejectReason::MalformedJson,
        RejectReason::MissingField,
        RejectReason::WrongType,
        RejectReason::BadTimestamp,
        RejectReason::Oversize,
        RejectReason::Late,
        RejectReason::Future,
        RejectReason::DuplicateField,
        RejectReason::BadEnvelope,
        RejectReason::Undeliverable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::MalformedJson => "malformed_json",
            RejectReason::MissingField => "missing_field",
            RejectReason::WrongType => "wrong_type",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::Oversize => "oversize",
            RejectReason::Late => "late",
            RejectReason::Future => "future",
            RejectReason::DuplicateField => "duplicate_field",
            RejectReason::BadEnvelope => "bad_envelope",
            RejectReason::Undeliverable => "undeliverable",
        }
    }
}

impl std::str::FromStr for RejectReason {
    type Err = String;

    /// The reason named as [`RejectReason::as_str`] names it.
    fn from_str(name: &str) -> Result<Self, String> {
        RejectReason::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| format!("`{name}` is not a dead-letter reason"))
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rejected input line. The stream and source are known to whoever
/// writes the record, so they are not repeated here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// 1-based line number (or offset) of the event in its source.
    pub line: i64,
    pub reason: RejectReason,
    /// A human message: which field, what was expected.
    pub detail: String,
    /// The raw line, possibly only its beginning (see the dead-letter sink).
    pub raw: Vec<u8>,
}

/// A rejection and the source it was read from (a file, a topic partition),
/// as the dead-letter record names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedRejection {
    pub source: std::sync::Arc<str>,
    pub rejection: Rejection,
    /// For a message of a broker: what a dead-letter topic keeps of it
    /// besides its bytes (`rejection.raw`).
    pub record: Option<SourceRecord>,
}

/// Where a message came from, as a dead-letter topic names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Epoch milliseconds, if the message had a timestamp.
    pub timestamp: Option<i64>,
    pub key: Option<Vec<u8>>,
}
