//! Admission: which events of a batch are late, and the global watermark
//! the input streams' clocks give. The pipeline admits the events it is
//! handed; the partitioned runner admits them once, before splitting them
//! between its workers, so that lateness does not depend on the split.

use dsl::plan::{Catalog, Millis};

use super::StreamClock;

/// An event found late by [`admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LateEvent {
    /// Row of the batch.
    pub row: usize,
    pub time: Millis,
    /// The stream's watermark when the event arrived.
    pub watermark: Millis,
}

/// One clock per catalog stream: `Some` for the streams named in `inputs`.
/// `Err` names an input the catalog does not declare.
pub fn input_clocks<'a>(
    catalog: &Catalog,
    inputs: &[&'a str],
) -> Result<Vec<Option<StreamClock>>, &'a str> {
    let mut clocks: Vec<Option<StreamClock>> = vec![None; catalog.streams.len()];
    for &input in inputs {
        let index = catalog.stream_index(input).ok_or(input)?;
        clocks[index] = Some(StreamClock::new(catalog.streams[index].lateness));
    }
    Ok(clocks)
}

/// The minimum watermark over the clocks that hold time back (finished
/// ones count as the end of time, idle ones not at all), never before
/// `handed`, the watermark already handed on. While every input is idle,
/// time goes as far as the furthest of them has come: an idle input holds
/// nothing back, and what the last active one sent before going quiet must
/// not wait for data that may never come.
pub fn global_watermark(clocks: &[Option<StreamClock>], handed: Millis) -> Millis {
    let mut holding = clocks
        .iter()
        .flatten()
        .filter_map(StreamClock::holds_back)
        .peekable();
    if holding.peek().is_none() && clocks.iter().flatten().next().is_some() {
        let furthest = clocks.iter().flatten().map(StreamClock::watermark).max();
        return furthest.unwrap_or(Millis::MIN).max(handed);
    }
    holding.min().unwrap_or(Millis::MAX)
}

/// Admits the events of one batch of `clock`'s stream, arriving in row
/// order, given the watermark already `handed` on: whether each row is
/// admitted, and the late ones.
pub fn admit(
    clock: &mut StreamClock,
    handed: Millis,
    times: &[Millis],
) -> (Vec<bool>, Vec<LateEvent>) {
    let mut late = Vec::new();
    let mut keep = Vec::with_capacity(times.len());
    for (row, &time) in times.iter().enumerate() {
        // The events after `handed` were promised to the operators, whatever
        // the stream's own clock says (a source back from idleness).
        let watermark = clock.watermark().max(handed);
        let admitted = time >= handed && clock.admit(time);
        if !admitted {
            late.push(LateEvent {
                row,
                time,
                watermark,
            });
        }
        keep.push(admitted);
    }
    (keep, late)
}
