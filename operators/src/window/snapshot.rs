//! The window operator's state as a snapshot (see [`crate::state`]).
//!
//! Saved: every open window (key, start, end, evidence, and the partial
//! state of each of its accumulators, stored column-wise: one table per
//! aggregate, one row per window), the deadline index exactly as it is
//! (session deadlines may lag behind their window's end, see
//! `close_until`), and the emitter. The session index and the per-key
//! window counts are not saved: between two calls they are functions of the
//! open windows, so they are rebuilt from them on restore, which also keeps
//! a restored operator's bookkeeping consistent by construction.
//!
//! Taking a snapshot replaces every live accumulator by one rebuilt from
//! the state written (see [`AggregateSpec::take_state`]), so the live
//! operator and one restored from the snapshot continue identically.

use std::collections::{BTreeSet, HashSet};

use datafusion_common::ScalarValue;
use datafusion_expr::Accumulator;
use dsl::plan::{Millis, WindowSpec};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::feed::OpenWindow;
use super::{WindowId, WindowOperator};
use crate::aggregate::AggregateSpec;
use crate::derived::{Evidence, Locator};
use crate::emit::EmitterState;
use crate::error::{OperatorError, Result};
use crate::key::Key;
use crate::state::{KeyTable, StateReader, StateWriter, TableId};

/// A [`WindowOperator`]'s state in a snapshot.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct WindowOperatorState {
    windows: OpenWindowsState,
    deadlines: DeadlinesState,
    emitter: EmitterState,
}

/// The open windows, in `(key, start)` order (so that equal states give
/// equal bytes); entry `i` of every list is window `i`.
#[derive(Debug, Serialize, Deserialize)]
struct OpenWindowsState {
    keys: KeyTable,
    starts: Vec<Millis>,
    ends: Vec<Millis>,
    /// Per aggregate, a table of partial states: row `i` is window `i`'s.
    accumulators: Vec<TableId>,
    /// How many of the evidence entries below are window `i`'s, in order.
    evidence_counts: Vec<u32>,
    /// Offsets (input stream) or ids (derived stream) and hashes of every
    /// window's evidence events, flattened; the list of the other kind is
    /// empty. (Window evidence is always of the rule's stream, with no step.)
    evidence_offsets: Vec<i64>,
    evidence_ids: Vec<String>,
    evidence_hashes: Vec<u64>,
    /// Per window, the events past its listed evidence.
    evidence_omitted: Vec<u64>,
}

/// The deadline index, entry `i` being `(ends[i], keys[i], starts[i])`.
#[derive(Debug, Serialize, Deserialize)]
struct DeadlinesState {
    keys: KeyTable,
    ends: Vec<Millis>,
    starts: Vec<Millis>,
}

impl WindowOperator {
    /// Writes the state to `writer`; rebuilds the live accumulators from
    /// the states written.
    pub(super) fn save_state(&mut self, writer: &mut StateWriter) -> Result<WindowOperatorState> {
        Ok(WindowOperatorState {
            windows: self.save_windows(writer)?,
            deadlines: save_deadlines(&self.deadlines, writer)?,
            emitter: self.emitter.save(writer)?,
        })
    }

    /// Replaces the whole state with a saved one. On an error (a state that
    /// is not one of this rule) the windows are left as they were but the
    /// emitter may be half loaded: discard the operator.
    pub(super) fn load_state(
        &mut self,
        state: WindowOperatorState,
        reader: &StateReader,
    ) -> Result<()> {
        let windows = self.load_windows(state.windows, reader)?;
        let deadlines = load_deadlines(state.deadlines, reader, &windows)?;
        let sessions = self.sessions_of(&windows)?;
        let mut open_per_key: FxHashMap<Option<Key>, usize> = FxHashMap::default();
        for (key, _) in windows.keys() {
            *open_per_key.entry(key.clone()).or_default() += 1;
        }
        // The emitter last: it is loaded in place, the rest swapped in.
        self.emitter.load(state.emitter, reader)?;
        self.windows = windows;
        self.deadlines = deadlines;
        self.sessions = sessions;
        self.open_per_key = open_per_key;
        Ok(())
    }

    fn save_windows(&mut self, writer: &mut StateWriter) -> Result<OpenWindowsState> {
        let mut ids: Vec<&WindowId> = self.windows.keys().collect();
        ids.sort();
        let ids: Vec<WindowId> = ids.into_iter().cloned().collect();

        let mut states: Vec<Vec<Vec<ScalarValue>>> =
            vec![Vec::with_capacity(ids.len()); self.aggregates.len()];
        let mut saved = OpenWindowsState {
            keys: writer.keys(ids.iter().map(|(key, _)| key.as_ref()))?,
            starts: Vec::with_capacity(ids.len()),
            ends: Vec::with_capacity(ids.len()),
            accumulators: Vec::with_capacity(self.aggregates.len()),
            evidence_counts: Vec::with_capacity(ids.len()),
            evidence_offsets: Vec::new(),
            evidence_ids: Vec::new(),
            evidence_hashes: Vec::new(),
            evidence_omitted: Vec::with_capacity(ids.len()),
        };
        for id in &ids {
            let window = self.windows.get_mut(id).ok_or_else(|| {
                OperatorError::State("an open window vanished while saving".into())
            })?;
            saved.starts.push(id.1);
            saved.ends.push(window.end);
            for ((spec, acc), column) in self
                .aggregates
                .iter()
                .zip(&mut window.accumulators)
                .zip(&mut states)
            {
                column.push(spec.take_state(acc)?);
            }
            saved.evidence_counts.push(window.evidence.len() as u32);
            saved.evidence_omitted.push(window.evidence_omitted);
            for (evidence, hash) in &window.evidence {
                if evidence.stream != self.stream || evidence.step.is_some() {
                    return Err(OperatorError::State(format!(
                        "window evidence of `{}` in a rule reading `{}`",
                        evidence.stream, self.stream
                    )));
                }
                match (&evidence.at, self.events.has_id()) {
                    (Locator::Offset(offset), false) => saved.evidence_offsets.push(*offset),
                    (Locator::Id(id), true) => saved.evidence_ids.push(id.clone()),
                    _ => {
                        return Err(OperatorError::State(format!(
                            "window evidence of `{}` named the other way than its stream is",
                            self.stream
                        )))
                    }
                }
                saved.evidence_hashes.push(*hash);
            }
        }
        for rows in &states {
            saved.accumulators.push(writer.scalar_rows(rows)?);
        }
        Ok(saved)
    }

    fn load_windows(
        &self,
        saved: OpenWindowsState,
        reader: &StateReader,
    ) -> Result<FxHashMap<WindowId, OpenWindow>> {
        let keys = reader.keys(&saved.keys)?;
        let count = keys.len();
        if [
            saved.starts.len(),
            saved.ends.len(),
            saved.evidence_counts.len(),
            saved.evidence_omitted.len(),
        ]
        .iter()
        .any(|&n| n != count)
        {
            return Err(corrupt("window lists of different lengths"));
        }
        self.check_keys(&keys)?;
        let mut accumulators = self.load_accumulators(&saved.accumulators, count, reader)?;
        let evidence = self.load_evidence(&saved)?;

        let mut windows = FxHashMap::with_capacity_and_hasher(count, Default::default());
        for ((((key, start), end), evidence), evidence_omitted) in keys
            .into_iter()
            .zip(saved.starts)
            .zip(saved.ends)
            .zip(evidence)
            .zip(saved.evidence_omitted)
        {
            let window = OpenWindow {
                end,
                // Window `i` takes the `i`-th accumulator of every aggregate.
                accumulators: accumulators
                    .iter_mut()
                    .map(|column| column.next())
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| corrupt("fewer accumulator states than windows"))?,
                evidence,
                evidence_omitted,
            };
            if windows.insert((key, start), window).is_some() {
                return Err(corrupt("a window saved twice"));
            }
        }
        Ok(windows)
    }

    /// Per aggregate, the accumulators of the `windows` saved windows, in order.
    fn load_accumulators(
        &self,
        tables: &[TableId],
        windows: usize,
        reader: &StateReader,
    ) -> Result<Vec<std::vec::IntoIter<Box<dyn Accumulator>>>> {
        if tables.len() != self.aggregates.len() {
            return Err(corrupt("saved for another number of aggregates"));
        }
        self.aggregates
            .iter()
            .zip(tables)
            .map(|(spec, &table)| {
                let rows = reader.scalar_rows(table)?;
                if rows.len() != windows {
                    return Err(corrupt("accumulator states and windows differ in number"));
                }
                check_state_types(spec, &rows)?;
                let accumulators = rows
                    .iter()
                    .map(|state| spec.from_state(state))
                    .collect::<Result<Vec<_>>>()?;
                Ok(accumulators.into_iter())
            })
            .collect()
    }

    /// Every window's evidence, in window order.
    fn load_evidence(&self, saved: &OpenWindowsState) -> Result<Vec<Vec<(Evidence, u64)>>> {
        let total: u64 = saved.evidence_counts.iter().map(|&n| u64::from(n)).sum();
        let locators: Vec<Locator> = if self.events.has_id() {
            if !saved.evidence_offsets.is_empty() {
                return Err(corrupt("offsets as evidence of a derived stream"));
            }
            saved
                .evidence_ids
                .iter()
                .cloned()
                .map(Locator::Id)
                .collect()
        } else {
            if !saved.evidence_ids.is_empty() {
                return Err(corrupt("ids as evidence of an input stream"));
            }
            saved
                .evidence_offsets
                .iter()
                .copied()
                .map(Locator::Offset)
                .collect()
        };
        if total != locators.len() as u64 || total != saved.evidence_hashes.len() as u64 {
            return Err(corrupt("evidence counts do not match the evidence"));
        }
        let mut entries = locators
            .into_iter()
            .zip(&saved.evidence_hashes)
            .map(|(at, &hash)| {
                let evidence = Evidence {
                    step: None,
                    stream: self.stream.clone(),
                    at,
                };
                (evidence, hash)
            });
        Ok(saved
            .evidence_counts
            .iter()
            .map(|&n| entries.by_ref().take(n as usize).collect())
            .collect())
    }

    /// Keys are present exactly when the rule has `by`.
    fn check_keys(&self, keys: &[Option<Key>]) -> Result<()> {
        if keys.iter().any(|k| k.is_some() != self.key.is_some()) {
            return Err(corrupt("keys saved for a rule with another `by`"));
        }
        Ok(())
    }

    /// For session windows, each key's open session; a key has at most one.
    fn sessions_of(
        &self,
        windows: &FxHashMap<WindowId, OpenWindow>,
    ) -> Result<FxHashMap<Option<Key>, Millis>> {
        let mut sessions = FxHashMap::default();
        if !matches!(self.spec, WindowSpec::Session { .. }) {
            return Ok(sessions);
        }
        for (key, start) in windows.keys() {
            if sessions.insert(key.clone(), *start).is_some() {
                return Err(corrupt("two open sessions of one key"));
            }
        }
        Ok(sessions)
    }
}

fn save_deadlines(
    deadlines: &BTreeSet<(Millis, Option<Key>, Millis)>,
    writer: &mut StateWriter,
) -> Result<DeadlinesState> {
    Ok(DeadlinesState {
        keys: writer.keys(deadlines.iter().map(|(_, key, _)| key.as_ref()))?,
        ends: deadlines.iter().map(|&(end, _, _)| end).collect(),
        starts: deadlines.iter().map(|&(_, _, start)| start).collect(),
    })
}

/// The deadline index; it must hold one entry per open window, due no
/// later than the window's end (the invariant `close_until` relies on to
/// fire every window).
fn load_deadlines(
    saved: DeadlinesState,
    reader: &StateReader,
    windows: &FxHashMap<WindowId, OpenWindow>,
) -> Result<BTreeSet<(Millis, Option<Key>, Millis)>> {
    let keys = reader.keys(&saved.keys)?;
    if keys.len() != saved.ends.len() || keys.len() != saved.starts.len() {
        return Err(corrupt("deadline lists of different lengths"));
    }
    let mut covered = HashSet::with_capacity(keys.len());
    let mut deadlines = BTreeSet::new();
    for ((key, end), start) in keys.into_iter().zip(saved.ends).zip(saved.starts) {
        let id = (key, start);
        let window = windows
            .get(&id)
            .ok_or_else(|| corrupt("a deadline of a window that is not open"))?;
        if end > window.end || !covered.insert(id.clone()) {
            return Err(corrupt("deadlines out of step with their windows"));
        }
        deadlines.insert((end, id.0, id.1));
    }
    if covered.len() != windows.len() {
        return Err(corrupt("an open window without a deadline"));
    }
    Ok(deadlines)
}

/// Restored states must have the types `merge_batch` expects.
fn check_state_types(spec: &AggregateSpec, rows: &[Vec<ScalarValue>]) -> Result<()> {
    let expected = spec.state_types()?;
    let fits = |row: &Vec<ScalarValue>| {
        row.len() == expected.len() && row.iter().zip(&expected).all(|(v, t)| &v.data_type() == t)
    };
    if rows.iter().all(fits) {
        Ok(())
    } else {
        Err(corrupt("aggregate states of another type"))
    }
}

fn corrupt(what: &str) -> OperatorError {
    OperatorError::State(format!("window state: {what}"))
}
