//! The events candidates take, kept small: only the columns that cross
//! conditions and `emit` read are copied out of the input batch, so a
//! long-lived candidate pins neither whole input batches nor unread columns.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions, UInt32Array};
use arrow_schema::{Schema, SchemaRef};
use arrow_select::take::take;
use dsl::plan::{EmitPlan, Expr, ExprKind, PatternPlan};

use crate::error::Result;
use crate::expr::for_each_leaf;

/// The columns of one input stream that captured events keep.
#[derive(Debug, Clone)]
pub struct Projection {
    /// Indices into the stream's batch schema.
    indices: Vec<usize>,
    schema: SchemaRef,
}

impl Projection {
    /// Keeps the top-level columns of `stream_schema` named in `columns`,
    /// in schema order.
    pub fn new(stream_schema: &Schema, columns: &BTreeSet<String>) -> Self {
        let indices: Vec<usize> = stream_schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| columns.contains(f.name()))
            .map(|(i, _)| i)
            .collect();
        let schema = Arc::new(
            stream_schema
                .project(&indices)
                .unwrap_or_else(|_| Schema::empty()),
        );
        Self { indices, schema }
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The kept columns of `rows` of `batch`, copied into a new batch.
    pub fn take(&self, batch: &RecordBatch, rows: &[u32]) -> Result<RecordBatch> {
        let indices = UInt32Array::from(rows.to_vec());
        let columns = self
            .indices
            .iter()
            .map(|&i| take(batch.column(i).as_ref(), &indices, None))
            .collect::<Result<Vec<_>, _>>()?;
        with_row_count(Arc::clone(&self.schema), columns, rows.len())
    }
}

/// A batch that may have no column (a stream none of whose fields is
/// read still has events to count).
pub fn with_row_count(
    schema: SchemaRef,
    columns: Vec<ArrayRef>,
    rows: usize,
) -> Result<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

/// One input event as a candidate keeps it.
#[derive(Debug)]
pub struct CapturedEvent {
    /// The event's kept columns are row `row` of `rows` (shared by the
    /// events of one input batch that some step's condition accepted).
    rows: Arc<RecordBatch>,
    row: usize,
    /// Index of the event's stream among the operator's inputs.
    pub input: usize,
    /// [`crate::schema::OFFSET_COLUMN`]: the evidence names it.
    pub offset: i64,
    /// [`crate::schema::HASH_COLUMN`]: derived-event ids are built from it.
    pub hash: u64,
}

/// Captured events are shared by every candidate that takes them.
pub type EventRef = Arc<CapturedEvent>;

impl CapturedEvent {
    pub fn new(rows: Arc<RecordBatch>, row: usize, input: usize, offset: i64, hash: u64) -> Self {
        Self {
            rows,
            row,
            input,
            offset,
            hash,
        }
    }

    /// The event's kept columns as a one-row batch (zero-copy).
    pub fn as_batch(&self) -> RecordBatch {
        self.rows.slice(self.row, 1)
    }

    /// The rows the event shares with the other events of its input batch.
    pub fn shared_rows(&self) -> &Arc<RecordBatch> {
        &self.rows
    }

    /// The event's row in the rows it shares with other events.
    pub fn row(&self) -> usize {
        self.row
    }

    /// Whether `other` shares this event's rows (came in the same batch).
    pub fn same_rows(&self, other: &CapturedEvent) -> bool {
        Arc::ptr_eq(&self.rows, &other.rows)
    }

    /// Rows `rows` of the shared rows, in that order: one contiguous
    /// ascending run is sliced, anything else copied.
    pub fn rows_at(&self, rows: &[usize]) -> Result<RecordBatch> {
        if let (Some(&first), Some(&last)) = (rows.first(), rows.last()) {
            if last + 1 - first == rows.len() && rows.windows(2).all(|w| w[1] == w[0] + 1) {
                return Ok(self.rows.slice(first, rows.len()));
            }
        }
        let indices = UInt32Array::from_iter_values(rows.iter().map(|&r| r as u32));
        let columns = self
            .rows
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &indices, None))
            .collect::<Result<Vec<_>, _>>()?;
        with_row_count(self.rows.schema(), columns, rows.len())
    }
}

/// For every stream a pattern reads, the top-level columns its captured
/// events must keep: the fields read by cross conditions (of the current
/// event and of earlier steps) and by `emit` (step fields, aggregate
/// arguments).
pub fn kept_columns(plan: &PatternPlan, emit: &EmitPlan) -> HashMap<String, BTreeSet<String>> {
    let mut out: HashMap<String, BTreeSet<String>> = HashMap::new();
    let stream_of = |step: usize| plan.steps.get(step).map(|s| s.stream.clone());
    let mut visit = |expr: &Expr, current: Option<String>| {
        for_each_leaf(expr, &mut |leaf| match &leaf.kind {
            ExprKind::Field(path) => {
                if let (Some(stream), Some(first)) = (&current, path.first()) {
                    out.entry(stream.clone()).or_default().insert(first.clone());
                }
            }
            ExprKind::StepField { step, path } => {
                if let (Some(stream), Some(first)) = (stream_of(*step), path.first()) {
                    out.entry(stream).or_default().insert(first.clone());
                }
            }
            ExprKind::Aggregate {
                step: Some(step),
                arg: Some(arg),
                ..
            } => {
                if let Some(stream) = stream_of(*step) {
                    for_each_leaf(arg, &mut |inner| {
                        if let ExprKind::Field(path) = &inner.kind {
                            if let Some(first) = path.first() {
                                out.entry(stream.clone()).or_default().insert(first.clone());
                            }
                        }
                    });
                }
            }
            _ => {}
        });
    };
    for step in &plan.steps {
        if let Some(cross) = &step.cross {
            visit(cross, Some(step.stream.clone()));
        }
    }
    for field in &emit.fields {
        visit(&field.expr, None);
    }
    out
}
