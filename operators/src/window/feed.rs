//! The state of open windows and how a batch's rows reach it.

use arrow_array::ArrayRef;
use datafusion_expr::Accumulator;
use dsl::plan::Millis;
use rustc_hash::FxHashMap;

use super::{WindowId, MAX_EVIDENCE};
use crate::aggregate::AggregateSpec;
use crate::derived::Evidence;
use crate::emit::EventRows;
use crate::error::{OperatorError, Result};

/// One open window.
#[derive(Debug)]
pub(super) struct OpenWindow {
    /// Exclusive; for a session, last event time + gap.
    pub end: Millis,
    pub accumulators: Vec<Box<dyn Accumulator>>,
    /// The first [`MAX_EVIDENCE`] events, with their hashes (for the id).
    pub evidence: Vec<(Evidence, u64)>,
    /// How many events came after `evidence` was full: the derived event
    /// reports them, as evidence is never cut silently.
    pub evidence_omitted: u64,
}

/// Rows of a batch that fall in the same windows: same key and, for
/// fixed windows, the same pane (a slice of time no window boundary cuts);
/// for sessions, the same session. Identified like a window: `(key, start)`.
pub(super) type GroupId = WindowId;

/// Rows of one batch waiting to be fed to their windows, grouped by
/// [`GroupId`] in first-seen order (rows in event order within a group), so
/// that each window is fed with one `update_batch` per batch and the
/// windows of a row are looked up once per group, not once per row.
#[derive(Default)]
pub(super) struct PendingRows {
    groups: Vec<(Vec<WindowId>, Vec<u32>)>,
    index: FxHashMap<GroupId, usize>,
}

impl PendingRows {
    /// Adds `row` to `group` if the group already has rows in this batch.
    pub fn append(&mut self, group: &GroupId, row: u32) -> bool {
        match self.index.get(group) {
            Some(&g) => {
                self.groups[g].1.push(row);
                true
            }
            None => false,
        }
    }

    /// Starts `group`, whose rows go to `windows`, with `row`.
    pub fn open(&mut self, group: GroupId, windows: Vec<WindowId>, row: u32) {
        self.index.insert(group, self.groups.len());
        self.groups.push((windows, vec![row]));
    }

    /// Starts a group of `row` alone, going to `windows`: no later row
    /// joins it (they look their windows up again).
    pub fn open_alone(&mut self, windows: Vec<WindowId>, row: u32) {
        self.groups.push((windows, vec![row]));
    }

    /// Feeds every group to its windows and empties the list.
    pub fn flush(
        &mut self,
        windows: &mut FxHashMap<WindowId, OpenWindow>,
        aggregates: &[AggregateSpec],
        arguments: &[Vec<ArrayRef>],
        events: &EventRows,
        stream: &str,
    ) -> Result<()> {
        for (ids, rows) in self.groups.drain(..) {
            for id in ids {
                let window = windows.get_mut(&id).ok_or_else(|| {
                    OperatorError::Input("rows pending for a window that is not open".into())
                })?;
                feed(window, &rows, aggregates, arguments, events, stream)?;
            }
        }
        self.index.clear();
        Ok(())
    }
}

fn feed(
    window: &mut OpenWindow,
    rows: &[u32],
    aggregates: &[AggregateSpec],
    arguments: &[Vec<ArrayRef>],
    events: &EventRows,
    stream: &str,
) -> Result<()> {
    for ((spec, acc), args) in aggregates
        .iter()
        .zip(&mut window.accumulators)
        .zip(arguments)
    {
        spec.update_rows(acc.as_mut(), args, rows)?;
    }
    let room = MAX_EVIDENCE.saturating_sub(window.evidence.len());
    let (listed, omitted) = rows.split_at(room.min(rows.len()));
    for &row in listed {
        let row = row as usize;
        window
            .evidence
            .push((events.evidence(row, stream, None), events.hash(row)));
    }
    window.evidence_omitted += omitted.len() as u64;
    Ok(())
}
