//! Windowed aggregation: `from S [where C] [by K] window ... [having H] emit ...`.
//!
//! Per batch: the `where` filter and the key are evaluated for the whole
//! batch, and so are the aggregates' arguments; then rows are walked in
//! (event-time) order and assigned to their windows, and at the end of the
//! batch each window is fed its rows with one `update_batch` per
//! aggregate. Rows are grouped by key and *pane* (for fixed windows, slices
//! of gcd(size, slide) that no window boundary cuts), so a row's windows
//! are looked up once per pane rather than once per row.
//!
//! Firing: a window `[start, end)` fires once event time reaches its end
//! (`end <= watermark`, or `end <= t` before an event at `t` is taken).
//! A session window's end is its last event's time plus the gap. Windows
//! that fire together are emitted in `(end, key, start)` order, keys
//! compared component by component ([`Key`]'s `Ord`), so output order does
//! not depend on how the input was cut into batches.
//!
//! Each fired window makes one row — key parts, then one column per
//! distinct aggregate the `having` and `emit` read — `having` filters
//! those rows and the [`Emitter`] shapes them. The derived event's time is
//! the window's end, its evidence the first [`MAX_EVIDENCE`] events of the
//! window, and `evidence_omitted` counts the others.
//!
//! State is bounded by the open windows: a fired window is dropped, and a
//! key with no open window holds nothing. Events whose key has a null
//! component take part in no window.
//!
//! Checkpoints: `snapshot` and `restore` write and read that state (see
//! the `snapshot` module).
//!
//! Bounds: with [`Limits::max_windows_per_rule`] set, an event that would
//! open a window beyond the cap does not open it (counted in
//! [`LimitHits::windows_refused`]); it still goes to its windows that are
//! open. Windows already open are never dropped early: their aggregates
//! would be wrong. Without the cap nothing changes.

mod assign;
mod feed;
mod snapshot;

use std::collections::BTreeSet;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType as ArrowType, Field as ArrowField, Schema, SchemaRef};
use arrow_select::filter::filter_record_batch;
use datafusion_common::ScalarValue;
use dsl::limits::{windows_per_event, MAX_WINDOWS_PER_EVENT};
use dsl::plan::{Catalog, ExprKind, Millis, RuleKind, RulePlan, WindowSpec};

use self::feed::{OpenWindow, PendingRows};
use self::snapshot::WindowOperatorState;
use crate::aggregate::AggregateSpec;
use crate::derived::DerivedBatch;
use crate::emit::{Emitter, EventColumns, MatchInfo};
use crate::error::{OperatorError, Result};
use crate::expr::{
    distinct_aggregates, evaluate_predicate, filter_batch, lower, ColumnLeaves, FieldLeaves,
    PhysExpr,
};
use crate::key::{Key, KeyExtractor};
use crate::limits::{LimitHits, Limits};
use crate::operator::{expect_stream, Operator, StateSize};
use crate::schema::{arrow_type, stream_schema};
use crate::state::{StateReader, StateWriter};

pub use assign::{hopping, tumbling, Bounds};

/// At most this many events of a window are listed as evidence of its
/// derived event (the first ones, in event-time order); the aggregates
/// still cover every event, and the derived event counts those left out.
pub const MAX_EVIDENCE: usize = 32;

/// Identifies an open window: its key (`None` for rules without `by`) and
/// its start.
type WindowId = (Option<Key>, Millis);

/// A window closed by event time, waiting to be emitted: id, end, state.
type FiredWindow = (WindowId, Millis, OpenWindow);

/// The operator of a window rule.
#[derive(Debug)]
pub struct WindowOperator {
    stream: String,
    spec: WindowSpec,
    /// For fixed windows: the width of the panes no window boundary cuts
    /// (gcd of size and slide). `None` for sessions.
    pane: Option<Millis>,
    filter: Option<PhysExpr>,
    /// `None` for rules without `by`.
    key: Option<KeyExtractor>,
    events: EventColumns,
    aggregates: Vec<AggregateSpec>,
    /// Key parts then aggregate results: the rows `having` and `emit` read.
    row_schema: SchemaRef,
    having: Option<PhysExpr>,
    emitter: Emitter,

    windows: FxHashMap<WindowId, OpenWindow>,
    /// `(end, key, start)` of every open window: what fires next.
    deadlines: BTreeSet<(Millis, Option<Key>, Millis)>,
    /// Session windows only: the start of each key's open session.
    sessions: FxHashMap<Option<Key>, Millis>,
    /// Open windows per key, for [`StateSize::keys`].
    open_per_key: FxHashMap<Option<Key>, usize>,

    /// Configuration and metrics, not state: not in snapshots.
    limits: Limits,
    hits: LimitHits,
}

impl WindowOperator {
    /// Compiles rule `index` (a `RuleKind::Window`).
    pub fn new(index: usize, rule: &RulePlan, catalog: &Catalog) -> Result<Self> {
        let RuleKind::Window(plan) = &rule.kind else {
            return Err(OperatorError::Plan(format!(
                "rule `{}` is not a window rule",
                rule.name
            )));
        };
        validate(&plan.window)?;
        let stream = catalog
            .stream(&plan.stream)
            .ok_or_else(|| OperatorError::Plan(format!("unknown stream `{}`", plan.stream)))?;
        let input_schema = stream_schema(stream);
        let filter = plan
            .filter
            .as_ref()
            .map(|c| lower(c, &input_schema, &FieldLeaves))
            .transpose()?;
        let key = plan
            .key
            .as_ref()
            .map(|k| KeyExtractor::new(k, &plan.stream, &input_schema))
            .transpose()?;

        // Every distinct aggregate of `having` and `emit`, one column each.
        let read_by_rule = plan
            .having
            .iter()
            .chain(rule.emit.fields.iter().map(|f| &f.expr));
        let aggregate_leaves = distinct_aggregates(read_by_rule);
        let aggregates = aggregate_leaves
            .iter()
            .map(|leaf| AggregateSpec::from_leaf(leaf, &input_schema, &FieldLeaves))
            .collect::<Result<Vec<_>>>()?;

        let mut row_fields = Vec::new();
        let mut leaves = ColumnLeaves::new();
        for (i, part) in plan.key.iter().flat_map(|k| &k.parts).enumerate() {
            let name = format!("__window_key_{i}");
            row_fields.push(ArrowField::new(&name, arrow_type(&part.ty), true));
            leaves.push(ExprKind::Key(i), name.clone());
            // A key read by its field name rather than as `Key(i)`.
            if let Some(path) = part.path_in(&plan.stream) {
                leaves.push(ExprKind::Field(path.to_vec()), name);
            }
        }
        for (j, (leaf, spec)) in aggregate_leaves.iter().zip(&aggregates).enumerate() {
            let name = format!("__aggregate_{j}");
            row_fields.push(ArrowField::new(&name, spec.output_type().clone(), true));
            leaves.push(leaf.kind.clone(), name);
        }
        let row_schema = Arc::new(Schema::new(row_fields));
        let having = plan
            .having
            .as_ref()
            .map(|h| lower(h, &row_schema, &leaves))
            .transpose()?;

        Ok(Self {
            stream: plan.stream.clone(),
            spec: plan.window,
            pane: match plan.window {
                WindowSpec::Tumbling { size } => Some(size),
                WindowSpec::Hopping { size, slide } => Some(gcd(size, slide)),
                WindowSpec::Session { .. } => None,
            },
            filter,
            key,
            events: EventColumns::new(&input_schema, &stream.time_field)?,
            aggregates,
            emitter: Emitter::new(index, rule, catalog, &row_schema, &leaves)?,
            row_schema,
            having,
            windows: FxHashMap::default(),
            deadlines: BTreeSet::new(),
            sessions: FxHashMap::default(),
            open_per_key: FxHashMap::default(),
            limits: Limits::default(),
            hits: LimitHits::default(),
        })
    }

    /// Whether one more window may open under `max_windows_per_rule`;
    /// counts the refusal when not.
    fn may_open_window(&mut self) -> bool {
        // `deadlines` holds one entry per window not yet closed (closed
        // ones wait in `windows` only until the end of the batch).
        let open = self.deadlines.len();
        match self.limits.max_windows_per_rule {
            Some(cap) if open >= cap => {
                self.hits.windows_refused += 1;
                false
            }
            _ => true,
        }
    }

    /// Emissions dropped by `suppress` so far.
    pub fn suppressed(&self) -> u64 {
        self.emitter.suppressed()
    }

    /// Closes every window ending at or before `time`, in `(end, key,
    /// start)` order, onto `closing`. Closed windows stay in `windows`
    /// (no later event can reach them) until [`WindowOperator::emit_closed`]
    /// takes them, so rows assigned earlier in the batch can still be fed
    /// to them first.
    fn close_until(&mut self, time: Millis, closing: &mut Vec<(Millis, WindowId)>) {
        while let Some(first) = self.deadlines.first() {
            if first.0 > time {
                break;
            }
            let Some((deadline, key, start)) = self.deadlines.pop_first() else {
                break;
            };
            let id = (key, start);
            let Some(window) = self.windows.get(&id) else {
                continue;
            };
            if window.end > deadline {
                // A session extended since this deadline was set: its
                // deadline moves (lazily, instead of on every event).
                self.deadlines.insert((window.end, id.0, id.1));
                continue;
            }
            self.close(&id);
            closing.push((deadline, id));
        }
    }

    /// Emits the windows `close_until` closed, in that order, and drops them.
    fn emit_closed(
        &mut self,
        closing: Vec<(Millis, WindowId)>,
        out: &mut Vec<DerivedBatch>,
    ) -> Result<()> {
        let fired = closing
            .into_iter()
            .filter_map(|(end, id)| {
                let window = self.windows.remove(&id)?;
                Some((id, end, window))
            })
            .collect();
        self.emit_fired(fired, out)
    }

    /// Forgets the bookkeeping of a window that is no longer open.
    fn close(&mut self, (key, start): &WindowId) {
        if self.sessions.get(key) == Some(start) {
            self.sessions.remove(key);
        }
        if let Some(count) = self.open_per_key.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                self.open_per_key.remove(key);
            }
        }
    }

    /// One output row per fired window; `having` filters, the emitter emits.
    fn emit_fired(&mut self, fired: Vec<FiredWindow>, out: &mut Vec<DerivedBatch>) -> Result<()> {
        if fired.is_empty() {
            return Ok(());
        }
        let key_parts = self.row_schema.fields().len() - self.aggregates.len();
        let mut columns: Vec<Vec<ScalarValue>> =
            vec![Vec::with_capacity(fired.len()); self.row_schema.fields().len()];
        let mut matches = Vec::with_capacity(fired.len());
        for ((key, start), end, mut window) in fired {
            for (i, column) in columns.iter_mut().take(key_parts).enumerate() {
                let part = key.as_ref().and_then(|k| k.parts().get(i)).cloned();
                column.push(match part {
                    Some(value) => value,
                    None => ScalarValue::try_from(self.row_schema.field(i).data_type())?,
                });
            }
            for (j, spec) in self.aggregates.iter().enumerate() {
                columns[key_parts + j].push(spec.evaluate(window.accumulators[j].as_mut())?);
            }
            let (evidence, evidence_hashes) = window.evidence.into_iter().unzip();
            matches.push(MatchInfo {
                time: end,
                key,
                evidence,
                evidence_hashes,
                evidence_omitted: window.evidence_omitted,
                window: Some((start, end)),
            });
        }
        let arrays = columns
            .into_iter()
            .zip(self.row_schema.fields())
            .map(|(values, field)| scalars_to_array(values, field.data_type()))
            .collect::<Result<Vec<_>>>()?;
        let rows = RecordBatch::try_new(Arc::clone(&self.row_schema), arrays)?;
        let (rows, matches) = match &self.having {
            None => (rows, matches),
            Some(having) => {
                let mask = evaluate_predicate(having.as_ref(), &rows)?;
                let kept = matches
                    .into_iter()
                    .zip(mask.values().iter())
                    .filter_map(|(m, keep)| keep.then_some(m))
                    .collect::<Vec<_>>();
                (filter_record_batch(&rows, &mask)?, kept)
            }
        };
        if matches.is_empty() {
            return Ok(());
        }
        self.emitter.emit(&rows, matches, out)
    }

    /// The windows an event of `key` at `ts` goes to, opening them as
    /// needed, and whether they are all of its windows (`false` when the
    /// window cap refused to open some).
    fn windows_for(&mut self, key: &Option<Key>, ts: Millis) -> Result<(Vec<WindowId>, bool)> {
        let bounds: Vec<Bounds> = match self.spec {
            WindowSpec::Tumbling { size } => vec![tumbling(ts, size)],
            WindowSpec::Hopping { size, slide } => hopping(ts, size, slide).collect(),
            WindowSpec::Session { gap } => {
                let end = ts.saturating_add(gap);
                match self.sessions.get(key) {
                    // Open sessions end after `ts` (those ending at or before
                    // it fired before this event): extend.
                    Some(&start) => {
                        let id = (key.clone(), start);
                        if let Some(window) = self.windows.get_mut(&id) {
                            // The deadline entry catches up when it comes
                            // due (see `close_until`).
                            window.end = end;
                        }
                        return Ok((vec![id], true));
                    }
                    // Opened below (unless the cap refuses it).
                    None => vec![(ts, end)],
                }
            }
        };
        let mut ids = Vec::with_capacity(bounds.len());
        let mut complete = true;
        for (start, end) in bounds {
            let id = (key.clone(), start);
            if !self.windows.contains_key(&id) {
                if !self.may_open_window() {
                    complete = false;
                    continue;
                }
                if let WindowSpec::Session { .. } = self.spec {
                    self.sessions.insert(key.clone(), start);
                }
                let accumulators = self
                    .aggregates
                    .iter()
                    .map(AggregateSpec::accumulator)
                    .collect::<Result<Vec<_>>>()?;
                self.windows.insert(
                    id.clone(),
                    OpenWindow {
                        end,
                        accumulators,
                        evidence: Vec::new(),
                        evidence_omitted: 0,
                    },
                );
                self.deadlines.insert((end, key.clone(), start));
                *self.open_per_key.entry(key.clone()).or_default() += 1;
            }
            ids.push(id);
        }
        Ok((ids, complete))
    }
}

impl Operator for WindowOperator {
    fn on_batch(
        &mut self,
        stream: &str,
        batch: &RecordBatch,
        out: &mut Vec<DerivedBatch>,
    ) -> Result<()> {
        expect_stream(&self.stream, stream)?;
        let batch = filter_batch(self.filter.as_ref(), batch)?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        // Per row: `Some(key)` to aggregate under (`Some(None)` without
        // `by`), `None` when a key component is null (no window).
        let keys: Vec<Option<Option<Key>>> = match &self.key {
            Some(extractor) => extractor
                .keys(&batch)?
                .into_iter()
                .map(|k| k.map(Some))
                .collect(),
            None => vec![Some(None); batch.num_rows()],
        };
        let events = self.events.read(&batch)?;
        let arguments = self
            .aggregates
            .iter()
            .map(|a| a.arguments(&batch))
            .collect::<Result<Vec<_>>>()?;

        let mut pending = PendingRows::default();
        let mut closing = Vec::new();
        for (row, key) in keys.into_iter().enumerate() {
            let ts = events.time(row);
            // Before the event: close what ends at or before its time.
            if self.deadlines.first().is_some_and(|d| d.0 <= ts) {
                self.close_until(ts, &mut closing);
            }
            let Some(key) = key else {
                continue;
            };
            let row = row as u32;
            match self.pane {
                // Fixed windows: rows of one pane share their windows.
                Some(pane) => {
                    let group = (key, ts.div_euclid(pane) * pane);
                    if !pending.append(&group, row) {
                        match self.windows_for(&group.0, ts)? {
                            (windows, true) => pending.open(group, windows, row),
                            // The next row of the pane asks again: a
                            // window may have closed and made room.
                            (windows, false) => pending.open_alone(windows, row),
                        }
                    }
                }
                // Sessions: every event extends its session.
                None => {
                    let (windows, _) = self.windows_for(&key, ts)?;
                    if let Some(session) = windows.first().cloned() {
                        if !pending.append(&session, row) {
                            pending.open(session, windows, row);
                        }
                    }
                }
            }
        }
        // Rows reach their windows (closed ones included) a window at a
        // time, then everything that closed during the batch is emitted.
        pending.flush(
            &mut self.windows,
            &self.aggregates,
            &arguments,
            &events,
            &self.stream,
        )?;
        self.emit_closed(closing, out)
    }

    fn on_watermark(&mut self, watermark: Millis, out: &mut Vec<DerivedBatch>) -> Result<()> {
        let mut closing = Vec::new();
        self.close_until(watermark, &mut closing);
        self.emit_closed(closing, out)?;
        self.emitter.advance(watermark);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>> {
        let mut writer = StateWriter::new();
        let state = self.save_state(&mut writer)?;
        writer.finish(&state)
    }

    fn restore(&mut self, state: &[u8]) -> Result<()> {
        let (state, reader) = StateReader::open::<WindowOperatorState>(state)?;
        self.load_state(state, &reader)
    }

    fn state_size(&self) -> StateSize {
        StateSize {
            entries: self.windows.len(),
            keys: self.open_per_key.len(),
        }
    }

    fn set_limits(&mut self, limits: &Limits) {
        self.limits = *limits;
    }

    fn limit_hits(&self) -> LimitHits {
        self.hits
    }
}

fn gcd(a: Millis, b: Millis) -> Millis {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn validate(spec: &WindowSpec) -> Result<()> {
    let positive = match *spec {
        WindowSpec::Tumbling { size } => size > 0,
        WindowSpec::Hopping { size, slide } => size > 0 && slide > 0,
        WindowSpec::Session { gap } => gap > 0,
    };
    if !positive {
        return Err(OperatorError::Plan(format!(
            "window durations must be positive: {spec:?}"
        )));
    }
    // `windows_for` allocates one entry per window an event belongs to:
    // never let the rule text size that without the bound (`eddy check`
    // refuses the same rules, E0504).
    if let WindowSpec::Hopping { size, slide } = *spec {
        let per_event = windows_per_event(size, slide);
        if per_event > MAX_WINDOWS_PER_EVENT {
            return Err(OperatorError::Plan(format!(
                "`window every` puts each event in {per_event} windows; at most {MAX_WINDOWS_PER_EVENT} are supported"
            )));
        }
    }
    Ok(())
}

fn scalars_to_array(values: Vec<ScalarValue>, ty: &ArrowType) -> Result<ArrayRef> {
    if values.is_empty() {
        return Ok(arrow_array::new_empty_array(ty));
    }
    let array = ScalarValue::iter_to_array(values)?;
    if array.data_type() == ty {
        Ok(array)
    } else {
        Ok(datafusion_common::arrow::compute::cast(&array, ty)?)
    }
}
