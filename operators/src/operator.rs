//! The one interface the engine drives every rule through.

use arrow_array::RecordBatch;
use dsl::plan::Millis;

use crate::derived::DerivedBatch;
use crate::error::Result;
use crate::limits::{LimitHits, Limits};

/// A compiled rule: synchronous, stateful, no I/O.
///
/// The engine calls it with batches in event-time order across all of the
/// rule's inputs (ties keep arrival order), and with watermarks between them.
pub trait Operator: Send {
    /// `batch` holds events of `stream` (one of the rule's inputs, in the
    /// schema `schema::stream_schema` gives), sorted by event time, none
    /// earlier than any event or watermark handed in before. Before each
    /// event, the operator fires what closes before that event's time
    /// (as `on_watermark` would), then processes the event.
    fn on_batch(
        &mut self,
        stream: &str,
        batch: &RecordBatch,
        out: &mut Vec<DerivedBatch>,
    ) -> Result<()>;

    /// No event earlier than `watermark` will come: fire windows that end at
    /// or before it and trailing `not` steps whose deadline is before it.
    /// `Millis::MAX` at the end of a finite input.
    fn on_watermark(&mut self, watermark: Millis, out: &mut Vec<DerivedBatch>) -> Result<()>;

    /// The operator's whole state as bytes, for a checkpoint (see
    /// [`crate::state`]). Taking it does not change what the operator does
    /// next: an operator restored from it behaves exactly like this one.
    fn snapshot(&mut self) -> Result<Vec<u8>>;

    /// Replaces the state of this freshly built operator with `state`, a
    /// `snapshot` of an operator of the same rule.
    fn restore(&mut self, state: &[u8]) -> Result<()>;

    /// Open state, for metrics and tests: (open candidates or windows, keys holding state).
    fn state_size(&self) -> StateSize;

    /// Caps this operator's open state from now on (see [`Limits`]).
    /// Operators whose state needs no cap ignore it.
    fn set_limits(&mut self, _limits: &Limits) {}

    /// How often the caps bit since the operator was built (metrics: not
    /// part of snapshots, so not carried over a restore).
    fn limit_hits(&self) -> LimitHits {
        LimitHits::default()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateSize {
    pub entries: usize,
    pub keys: usize,
}

/// Refuses a batch of a stream a single-input operator does not read.
pub(crate) fn expect_stream(expected: &str, got: &str) -> Result<()> {
    if expected == got {
        return Ok(());
    }
    Err(crate::error::OperatorError::Input(format!(
        "a batch of `{got}` for a rule reading `{expected}`"
    )))
}
