//! Cross conditions: the parts of a step's condition that read earlier
//! steps (`ip != f.ip`, `amount > 2 * avg(p.amount)`). They depend on the
//! candidate, so they are evaluated per candidate, over a one-row batch
//! made of the offered event's kept columns plus the candidate's step values.

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_schema::{Field as ArrowField, Schema, SchemaRef};
use dsl::plan::{StepId, StepPlan};

use super::automaton::{Capture, CrossCondition};
use super::capture::{with_row_count, EventRef};
use super::nfa::StepSet;
use super::values::StepValues;
use crate::error::{OperatorError, Result};
use crate::expr::{evaluate_predicate, lower, ColumnLeaves, PhysExpr};

#[derive(Debug)]
struct StepCross {
    predicate: PhysExpr,
    /// The event's kept columns, then the step values.
    schema: SchemaRef,
    values: StepValues,
}

/// The compiled cross conditions of a pattern's steps.
#[derive(Debug)]
pub struct CrossConditions {
    per_step: Vec<Option<StepCross>>,
}

impl CrossConditions {
    /// `step_schemas[s]` is the schema of step `s`'s captured events.
    pub fn new(steps: &[StepPlan], step_schemas: &[SchemaRef]) -> Result<Self> {
        let per_step = steps
            .iter()
            .enumerate()
            .map(|(s, step)| {
                let Some(cross) = &step.cross else {
                    return Ok(None);
                };
                let values = StepValues::new([cross], step_schemas, "__cross_")?;
                let event_schema = step_schemas
                    .get(s)
                    .ok_or_else(|| OperatorError::Plan(format!("no schema for step {s}")))?;
                let fields: Vec<ArrowField> = event_schema
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .chain(values.fields().cloned())
                    .collect();
                let schema = Arc::new(Schema::new(fields));
                let mut leaves = ColumnLeaves::new().with_fields();
                values.bind(&mut leaves);
                let predicate = lower(cross, &schema, &leaves)?;
                Ok(Some(StepCross {
                    predicate,
                    schema,
                    values,
                }))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { per_step })
    }

    /// When no cross condition aggregates over a step: the steps whose
    /// latest event they read (see
    /// [`super::automaton::Automaton::cross_conditions_read_only_latest`]).
    pub fn latest_only(&self) -> Option<StepSet> {
        let mut steps = StepSet::EMPTY;
        for cross in self.per_step.iter().flatten() {
            steps = steps.union(cross.values.latest_only()?);
        }
        Some(steps)
    }

    /// The steps that have a cross condition.
    pub fn steps(&self) -> StepSet {
        self.per_step
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .map(|(s, _)| s)
            .collect()
    }
}

impl CrossCondition<EventRef> for CrossConditions {
    type Error = OperatorError;

    fn holds(
        &mut self,
        step: StepId,
        captures: &[Capture<EventRef>],
        event: &EventRef,
    ) -> Result<bool> {
        let Some(Some(cross)) = self.per_step.get(step) else {
            return Ok(true);
        };
        let mut columns: Vec<ArrayRef> = event.as_batch().columns().to_vec();
        for value in cross.values.values(captures)? {
            columns.push(value.to_array_of_size(1)?);
        }
        let batch = with_row_count(Arc::clone(&cross.schema), columns, 1)?;
        Ok(evaluate_predicate(cross.predicate.as_ref(), &batch)?.value(0))
    }
}
