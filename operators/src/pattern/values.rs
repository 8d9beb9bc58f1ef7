//! Values read from a candidate's captured events: `f.ip` (the latest
//! event of step `f`) and `count(f)`, `first(f.ts)`, ... (all its events).
//! Cross conditions and `emit` both read them as columns of a small batch;
//! [`StepValues`] computes those columns and tells the lowering where they are.

use arrow_array::RecordBatch;
use arrow_schema::{DataType as ArrowType, Field as ArrowField, SchemaRef};
use datafusion_common::ScalarValue;
use dsl::plan::{Expr, ExprKind, StepId};

use super::automaton::Capture;
use super::capture::EventRef;
use super::nfa::StepSet;
use crate::aggregate::AggregateSpec;
use crate::error::{OperatorError, Result};
use crate::expr::{for_each_leaf, lower, ColumnLeaves, FieldLeaves, PhysExpr};

#[derive(Debug)]
enum Reader {
    /// The latest event of `step`; null when the step took none.
    Latest { step: StepId, value: PhysExpr },
    /// An aggregate over every event of `step`, in the order taken.
    Aggregate { step: StepId, spec: AggregateSpec },
}

#[derive(Debug)]
struct StepLeaf {
    kind: ExprKind,
    reader: Reader,
    field: ArrowField,
}

/// The distinct step-reading leaves of some expressions, as columns named
/// `{prefix}{i}`.
#[derive(Debug)]
pub struct StepValues {
    leaves: Vec<StepLeaf>,
}

impl StepValues {
    /// `step_schemas[s]` is the schema of step `s`'s captured events.
    pub fn new<'a>(
        exprs: impl IntoIterator<Item = &'a Expr>,
        step_schemas: &[SchemaRef],
        prefix: &str,
    ) -> Result<Self> {
        let mut leaves: Vec<StepLeaf> = Vec::new();
        for leaf in all_leaves(exprs) {
            if leaves.iter().any(|l| l.kind == leaf.kind) {
                continue;
            }
            let schema_of = |step: StepId| {
                step_schemas
                    .get(step)
                    .ok_or_else(|| OperatorError::Plan(format!("no step {step}")))
            };
            let (reader, ty) = match &leaf.kind {
                ExprKind::StepField { step, path } => {
                    let schema = schema_of(*step)?;
                    let field = Expr {
                        kind: ExprKind::Field(path.clone()),
                        ty: leaf.ty.clone(),
                    };
                    let value = lower(&field, schema, &FieldLeaves)?;
                    let ty = value.data_type(schema)?;
                    (Reader::Latest { step: *step, value }, ty)
                }
                ExprKind::Aggregate {
                    step: Some(step), ..
                } => {
                    let spec = AggregateSpec::from_leaf(leaf, schema_of(*step)?, &FieldLeaves)?;
                    let ty = spec.output_type().clone();
                    (Reader::Aggregate { step: *step, spec }, ty)
                }
                _ => continue,
            };
            let name = format!("{prefix}{}", leaves.len());
            leaves.push(StepLeaf {
                kind: leaf.kind.clone(),
                reader,
                field: ArrowField::new(name, ty, true),
            });
        }
        Ok(Self { leaves })
    }

    /// The columns, in order.
    pub fn fields(&self) -> impl Iterator<Item = &ArrowField> {
        self.leaves.iter().map(|l| &l.field)
    }

    /// Tells `leaves` which column stands for which leaf.
    pub fn bind(&self, leaves: &mut ColumnLeaves) {
        for l in &self.leaves {
            leaves.push(l.kind.clone(), l.field.name().clone());
        }
    }

    /// When every value is a step field (no aggregate over a step): the
    /// steps whose latest event they read.
    pub fn latest_only(&self) -> Option<StepSet> {
        self.leaves
            .iter()
            .map(|l| match l.reader {
                Reader::Latest { step, .. } => Some(step),
                Reader::Aggregate { .. } => None,
            })
            .collect()
    }

    /// One value per column for a candidate that took `captures`.
    pub fn values(&self, captures: &[Capture<EventRef>]) -> Result<Vec<ScalarValue>> {
        self.leaves.iter().map(|l| l.value(captures)).collect()
    }
}

impl StepLeaf {
    fn value(&self, captures: &[Capture<EventRef>]) -> Result<ScalarValue> {
        match &self.reader {
            Reader::Latest { step, value } => match captures.iter().rev().find(|c| c.step == *step)
            {
                Some(c) => first_value(value, &c.event.as_batch()),
                None => null_of(self.field.data_type()),
            },
            Reader::Aggregate { step, spec } => {
                let mut acc = spec.accumulator()?;
                let events: Vec<&EventRef> = captures
                    .iter()
                    .filter(|c| c.step == *step)
                    .map(|c| &c.event)
                    .collect();
                // Events of one input batch share their rows: feed them in
                // runs, one update per run, in the order taken.
                for run in events.chunk_by(|a, b| a.same_rows(b)) {
                    let rows: Vec<usize> = run.iter().map(|e| e.row()).collect();
                    spec.update(acc.as_mut(), &run[0].rows_at(&rows)?)?;
                }
                spec.evaluate(acc.as_mut())
            }
        }
    }
}

fn first_value(expr: &PhysExpr, batch: &RecordBatch) -> Result<ScalarValue> {
    let array = crate::expr::evaluate(expr.as_ref(), batch)?;
    Ok(ScalarValue::try_from_array(&array, 0)?)
}

fn null_of(ty: &ArrowType) -> Result<ScalarValue> {
    Ok(ScalarValue::try_from(ty)?)
}

/// Every leaf of `exprs`, in text order (aggregate arguments not entered).
fn all_leaves<'a>(exprs: impl IntoIterator<Item = &'a Expr>) -> Vec<&'a Expr> {
    let mut out = Vec::new();
    for expr in exprs {
        for_each_leaf(expr, &mut |leaf| out.push(leaf));
    }
    out
}
