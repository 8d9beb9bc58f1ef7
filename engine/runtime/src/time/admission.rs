//! Admission: which events of a batch are late or from the future, and the global watermark
//! the input streams' clocks give. The pipeline admits the events it is
//! handed; the partitioned runner admits them once, before splitting them
//! between its workers, so that lateness does not depend on the split.

use dsl::plan::{Catalog, Millis};

use super::clock::Admission;
use super::StreamClock;

/// An event [`admit`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UntimelyEvent {
    /// Row of the batch.
    pub row: usize,
    pub time: Millis,
    pub kind: Untimely,
}

/// Why an event was refused, with the bound it broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untimely {
    /// Earlier than `watermark`, the stream's watermark when it arrived.
    Late { watermark: Millis },
    /// Later than `limit`, the wall clock when it arrived plus the stream's
    /// `ahead`.
    Future { limit: Millis },
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
        let stream = &catalog.streams[index];
        clocks[index] = Some(StreamClock::new(stream.lateness, stream.ahead));
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
/// order when the wall clock reads `now`, given the watermark already
/// `handed` on: whether each row is admitted, and the refused ones.
pub fn admit(
    clock: &mut StreamClock,
    handed: Millis,
    times: &[Millis],
    now: Millis,
) -> (Vec<bool>, Vec<UntimelyEvent>) {
    let mut refused = Vec::new();
    let mut keep = Vec::with_capacity(times.len());
    for (row, &time) in times.iter().enumerate() {
        // The events after `handed` were promised to the operators, whatever
        // the stream's own clock says (a source back from idleness).
        let watermark = clock.watermark().max(handed);
        let kind = if time < handed {
            Some(Untimely::Late { watermark })
        } else {
            match clock.admit(time, now) {
                Admission::OnTime => None,
                Admission::Late => Some(Untimely::Late { watermark }),
                Admission::Future => Some(Untimely::Future {
                    limit: clock.future_limit(now),
                }),
            }
        };
        if let Some(kind) = kind {
            refused.push(UntimelyEvent { row, time, kind });
        }
        keep.push(kind.is_none());
    }
    (keep, refused)
}

/// The wall clock in epoch milliseconds, as admission reads it.
pub fn wall_clock_now() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
        })
}
