//! Shaping matches into derived events: `emit NAME { fields } [suppress D]`.
//!
//! An [`Emitter`] is compiled once per rule against the schema of the rows
//! its operator hands it (the current event for filters, a row of aggregate
//! results for windows, a row of candidate values for the automaton) and a
//! [`Leaves`] resolver for that schema. The operator then calls
//! [`Emitter::emit`] with a batch of such rows and one [`MatchInfo`] per row.
//!
//! `ExprKind::Key(i)` leaves are resolved by the emitter itself, from
//! [`MatchInfo::key`]; the caller's resolver never sees them.

mod events;

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Int64Array, RecordBatch, RecordBatchOptions, StringArray,
    TimestampMillisecondArray, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType as ArrowType, Field as ArrowField, Schema, SchemaRef};
use arrow_select::take::take_record_batch;
use datafusion_common::ScalarValue;
use dsl::plan::{Catalog, Expr, ExprKind, Millis, RulePlan};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::derived::{derived_id, DerivedBatch, DerivedMeta, Evidence};
use crate::error::{OperatorError, Result};
use crate::expr::{cast_to, column_expr, evaluate, lower, Leaves, PhysExpr};
use crate::key::Key;
use crate::schema::{stream_schema, HASH_COLUMN, ID_COLUMN, OFFSET_COLUMN};
use crate::state::{StateReader, StateWriter};
use crate::suppress::{Suppressor, SuppressorState};

pub use events::{EventColumns, EventRows};

/// What the operator knows about one match (one row of the batch handed
/// to [`Emitter::emit`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MatchInfo {
    /// Event time at which the match completed: the derived event's `time`.
    pub time: Millis,
    /// The partition key; `None` for rules without `by`.
    pub key: Option<Key>,
    /// The input events that made the match, in the order to report them.
    pub evidence: Vec<Evidence>,
    /// The [`crate::schema::HASH_COLUMN`] values of the evidence events:
    /// they make the id (see [`derived_id`]).
    pub evidence_hashes: Vec<u64>,
    /// Events of the match left out of `evidence` (see
    /// [`DerivedMeta::evidence_omitted`]).
    pub evidence_omitted: u64,
    /// `[start, end)` of the window that fired, for window rules.
    pub window: Option<(Millis, Millis)>,
}

/// One emitted field: its output column and how to compute it.
#[derive(Debug)]
enum Column {
    Emitted(PhysExpr),
    Time,
    Offset,
    Hash,
    /// The derived event's id: chained rules name it in their evidence.
    Id,
    /// A field of the derived stream that this rule does not emit (another
    /// rule with the same emit name does): null.
    Absent(ArrowType),
}

/// An [`Emitter`]'s state in a snapshot.
#[derive(Debug, Serialize, Deserialize)]
pub struct EmitterState {
    next_offset: i64,
    suppressor: Option<SuppressorState>,
}

/// Compiled `emit` of one rule, with its suppression state and counters.
#[derive(Debug)]
pub struct Emitter {
    rule_index: usize,
    rule_name: String,
    /// Key parts' Arrow types: the `__key_i` columns appended to the input.
    key_types: Vec<ArrowType>,
    /// Input schema plus the `__key_i` columns.
    eval_schema: SchemaRef,
    output_schema: SchemaRef,
    columns: Vec<Column>,
    suppressor: Option<Suppressor>,
    next_offset: i64,
}

fn key_column_name(i: usize) -> String {
    format!("__key_{i}")
}

/// Resolves `Key(i)` to the emitter's key columns, anything else through
/// the caller's resolver.
struct WithKeys<'a> {
    inner: &'a dyn Leaves,
}

impl Leaves for WithKeys<'_> {
    fn leaf(&self, leaf: &Expr, schema: &Schema) -> Result<PhysExpr> {
        match leaf.kind {
            ExprKind::Key(i) => column_expr(&key_column_name(i), schema),
            _ => self.inner.leaf(leaf, schema),
        }
    }
}

impl Emitter {
    /// Compiles the emit of rule `rule_index` (`rule`) for rows of
    /// `input_schema`, whose leaves `leaves` resolves. The output schema is
    /// `stream_schema` of the catalog stream named like the emit.
    pub fn new(
        rule_index: usize,
        rule: &RulePlan,
        catalog: &Catalog,
        input_schema: &SchemaRef,
        leaves: &dyn Leaves,
    ) -> Result<Self> {
        let stream = catalog.stream(&rule.emit.name).ok_or_else(|| {
            OperatorError::Plan(format!(
                "no derived stream `{}` in the catalog",
                rule.emit.name
            ))
        })?;
        let output_schema = stream_schema(stream);

        let key_types: Vec<ArrowType> = rule
            .key()
            .map(|k| {
                k.parts
                    .iter()
                    .map(|p| crate::schema::arrow_type(&p.ty))
                    .collect()
            })
            .unwrap_or_default();
        let mut eval_fields: Vec<ArrowField> = input_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        for (i, ty) in key_types.iter().enumerate() {
            eval_fields.push(ArrowField::new(key_column_name(i), ty.clone(), true));
        }
        let eval_schema = Arc::new(Schema::new(eval_fields));

        let resolver = WithKeys { inner: leaves };
        let columns = output_schema
            .fields()
            .iter()
            .map(|field| {
                let name = field.name().as_str();
                Ok(match name {
                    OFFSET_COLUMN => Column::Offset,
                    HASH_COLUMN => Column::Hash,
                    ID_COLUMN => Column::Id,
                    // The event time of a derived event is the match's.
                    _ if name == stream.time_field => Column::Time,
                    _ => match rule.emit.fields.iter().find(|f| f.name == name) {
                        Some(emitted) => {
                            let expr = lower(&emitted.expr, &eval_schema, &resolver)?;
                            Column::Emitted(cast_to(expr, field.data_type(), &eval_schema)?)
                        }
                        None => Column::Absent(field.data_type().clone()),
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;

        Ok(Self {
            rule_index,
            rule_name: rule.name.clone(),
            key_types,
            eval_schema,
            output_schema,
            columns,
            suppressor: rule.suppress.map(Suppressor::new),
            next_offset: 0,
        })
    }

    /// The schema of the derived batches this emitter makes.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    /// Emissions dropped by `suppress` so far.
    pub fn suppressed(&self) -> u64 {
        self.suppressor.as_ref().map_or(0, Suppressor::dropped)
    }

    /// Derived events emitted so far (the next `__offset`).
    pub fn emitted(&self) -> i64 {
        self.next_offset
    }

    /// Keys held by suppression state.
    pub fn suppression_keys(&self) -> usize {
        self.suppressor.as_ref().map_or(0, Suppressor::len)
    }

    /// The emitter's state for a snapshot (sequence and suppression).
    pub fn save(&self, writer: &mut StateWriter) -> Result<EmitterState> {
        Ok(EmitterState {
            next_offset: self.next_offset,
            suppressor: self
                .suppressor
                .as_ref()
                .map(|s| s.save(writer))
                .transpose()?,
        })
    }

    /// Replaces the state with a saved one.
    pub fn load(&mut self, state: EmitterState, reader: &StateReader) -> Result<()> {
        self.next_offset = state.next_offset;
        match (&mut self.suppressor, state.suppressor) {
            (Some(suppressor), Some(saved)) => suppressor.load(saved, reader),
            (None, None) => Ok(()),
            _ => Err(OperatorError::State(format!(
                "rule `{}`: saved suppression state does not match the rule",
                self.rule_name
            ))),
        }
    }

    /// Event time reached `time` (a watermark): expire suppression state.
    pub fn advance(&mut self, time: Millis) {
        if let Some(s) = &mut self.suppressor {
            s.advance(time);
        }
    }

    /// Emits one derived event per row of `input` (`matches[i]` describes
    /// row `i`), minus those `suppress` drops, as one [`DerivedBatch`]
    /// appended to `out` (nothing when every row was dropped).
    pub fn emit(
        &mut self,
        input: &RecordBatch,
        matches: Vec<MatchInfo>,
        out: &mut Vec<DerivedBatch>,
    ) -> Result<()> {
        if matches.len() != input.num_rows() {
            return Err(OperatorError::Input(format!(
                "{} matches for {} rows",
                matches.len(),
                input.num_rows()
            )));
        }
        let (input, matches) = self.suppress(input, matches)?;
        if matches.is_empty() {
            return Ok(());
        }
        let eval_batch = self.with_key_columns(&input, &matches)?;
        let rows = matches.len();

        let ids: Vec<String> = matches
            .iter()
            .map(|m| {
                derived_id(
                    &self.rule_name,
                    m.key.as_ref().map(Key::display),
                    m.time,
                    &m.evidence_hashes,
                )
            })
            .collect();
        let first_offset = self.next_offset;
        self.next_offset += rows as i64;

        let arrays = self
            .columns
            .iter()
            .map(|column| -> Result<ArrayRef> {
                Ok(match column {
                    Column::Emitted(expr) => evaluate(expr.as_ref(), &eval_batch)?,
                    Column::Time => Arc::new(TimestampMillisecondArray::from_iter_values(
                        matches.iter().map(|m| m.time),
                    )),
                    Column::Offset => Arc::new(Int64Array::from_iter_values(
                        first_offset..first_offset + rows as i64,
                    )),
                    Column::Hash => Arc::new(UInt64Array::from_iter_values(
                        ids.iter().map(|id| xxh3_64(id.as_bytes())),
                    )),
                    Column::Id => Arc::new(StringArray::from_iter_values(&ids)),
                    Column::Absent(ty) => arrow_array::new_null_array(ty, rows),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let data = with_row_count(Arc::clone(&self.output_schema), arrays, rows)?;

        let meta = matches
            .into_iter()
            .zip(ids)
            .map(|(m, id)| DerivedMeta {
                time: m.time,
                key: m.key.as_ref().map(|k| k.display().to_owned()),
                id,
                evidence: m.evidence,
                evidence_omitted: m.evidence_omitted,
                window: m.window,
            })
            .collect();
        out.push(DerivedBatch {
            rule: self.rule_index,
            data,
            meta,
        });
        Ok(())
    }

    /// Applies `suppress`: the rows and matches that go out.
    fn suppress(
        &mut self,
        input: &RecordBatch,
        matches: Vec<MatchInfo>,
    ) -> Result<(RecordBatch, Vec<MatchInfo>)> {
        let Some(suppressor) = &mut self.suppressor else {
            return Ok((input.clone(), matches));
        };
        let mut kept_rows: Vec<u32> = Vec::with_capacity(matches.len());
        let mut kept = Vec::with_capacity(matches.len());
        for (row, m) in matches.into_iter().enumerate() {
            if suppressor.admit(m.key.as_ref(), m.time) {
                kept_rows.push(row as u32);
                kept.push(m);
            }
        }
        if kept.len() == input.num_rows() {
            return Ok((input.clone(), kept));
        }
        let rows = take_record_batch(input, &UInt32Array::from(kept_rows))?;
        Ok((rows, kept))
    }

    /// `input` plus one `__key_i` column per key part, from the matches.
    fn with_key_columns(&self, input: &RecordBatch, matches: &[MatchInfo]) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = input.columns().to_vec();
        for (i, ty) in self.key_types.iter().enumerate() {
            let null = ScalarValue::try_from(ty)?;
            let values = matches.iter().map(|m| {
                m.key
                    .as_ref()
                    .and_then(|k| k.parts().get(i))
                    .cloned()
                    .unwrap_or_else(|| null.clone())
            });
            let array = if matches.is_empty() {
                arrow_array::new_empty_array(ty)
            } else {
                ScalarValue::iter_to_array(values)?
            };
            columns.push(if array.data_type() == ty {
                array
            } else {
                arrow_cast(&array, ty)?
            });
        }
        // `emit e { }` in a rule without `by` reads no column and adds no
        // key: the batch has no column but still one row per match.
        with_row_count(Arc::clone(&self.eval_schema), columns, input.num_rows())
    }
}

/// A batch of `rows` rows that may have no column: `RecordBatch::try_new`
/// refuses an empty column list because it cannot tell the row count.
fn with_row_count(schema: SchemaRef, columns: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

fn arrow_cast(array: &ArrayRef, to: &ArrowType) -> Result<ArrayRef> {
    Ok(datafusion_common::arrow::compute::cast(array, to)?)
}
