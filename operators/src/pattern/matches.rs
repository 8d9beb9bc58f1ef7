//! Completed matches as rows for the emitter: one column per step value
//! that `emit` reads (`s.ip`, `count(f)`, `first(f.ts)`), plus the envelope
//! ([`MatchInfo`]: time, key, evidence). Key parts are the emitter's own.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{Field as ArrowField, Schema, SchemaRef};
use datafusion_common::ScalarValue;
use dsl::plan::EmitPlan;

use super::automaton::Match;
use super::capture::{with_row_count, EventRef};
use super::values::StepValues;
use crate::derived::{Evidence, Locator};
use crate::emit::MatchInfo;
use crate::error::{OperatorError, Result};
use crate::expr::ColumnLeaves;
use crate::key::Key;
use crate::schema::ID_COLUMN;

/// Builds the emitter's input rows from matches.
#[derive(Debug)]
pub struct MatchRows {
    values: StepValues,
    schema: SchemaRef,
    /// Names for the evidence: of every step, and of every input stream.
    step_names: Vec<String>,
    input_names: Vec<String>,
    /// Per input, the [`ID_COLUMN`] of its captured rows: derived streams
    /// are named by id in the evidence, input streams (`None`) by offset.
    input_ids: Vec<Option<usize>>,
}

impl MatchRows {
    /// `step_schemas[s]` is the schema of step `s`'s captured events;
    /// `inputs[i]` the name of input `i` and the schema of its captured rows.
    pub fn new(
        emit: &EmitPlan,
        step_schemas: &[SchemaRef],
        step_names: Vec<String>,
        inputs: Vec<(String, SchemaRef)>,
    ) -> Result<Self> {
        let input_ids = inputs
            .iter()
            .map(|(_, schema)| schema.index_of(ID_COLUMN).ok())
            .collect();
        let input_names = inputs.into_iter().map(|(name, _)| name).collect();
        let values = StepValues::new(
            emit.fields.iter().map(|f| &f.expr),
            step_schemas,
            "__match_",
        )?;
        let fields: Vec<ArrowField> = values.fields().cloned().collect();
        Ok(Self {
            values,
            schema: Arc::new(Schema::new(fields)),
            step_names,
            input_names,
            input_ids,
        })
    }

    /// The schema of the rows [`MatchRows::build`] makes.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Where the emit expressions' step leaves are in those rows.
    pub fn leaves(&self) -> ColumnLeaves {
        let mut leaves = ColumnLeaves::new();
        self.values.bind(&mut leaves);
        leaves
    }

    /// One row and one [`MatchInfo`] per match, in order.
    pub fn build(
        &self,
        matches: &[Match<Option<Key>, EventRef>],
    ) -> Result<(RecordBatch, Vec<MatchInfo>)> {
        let per_match = matches
            .iter()
            .map(|m| self.values.values(&m.captures))
            .collect::<Result<Vec<_>>>()?;
        let columns = self
            .values
            .fields()
            .enumerate()
            .map(|(i, field)| -> Result<ArrayRef> {
                let column =
                    ScalarValue::iter_to_array(per_match.iter().map(|row| row[i].clone()))?;
                if column.data_type() == field.data_type() {
                    Ok(column)
                } else {
                    Ok(datafusion_common::arrow::compute::cast(
                        &column,
                        field.data_type(),
                    )?)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let rows = with_row_count(Arc::clone(&self.schema), columns, matches.len())?;
        let infos = matches
            .iter()
            .map(|m| self.info(m))
            .collect::<Result<_>>()?;
        Ok((rows, infos))
    }

    fn info(&self, m: &Match<Option<Key>, EventRef>) -> Result<MatchInfo> {
        let evidence = m
            .captures
            .iter()
            .map(|c| {
                Ok(Evidence {
                    step: self.step_names.get(c.step).cloned(),
                    stream: self
                        .input_names
                        .get(c.event.input)
                        .cloned()
                        .unwrap_or_default(),
                    at: self.locator(&c.event)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(MatchInfo {
            time: m.time,
            key: m.key.clone(),
            evidence,
            evidence_hashes: m.captures.iter().map(|c| c.event.hash).collect(),
            evidence_omitted: 0,
            window: None,
        })
    }

    /// How the evidence names a captured event: by id when its stream is
    /// a derived one.
    fn locator(&self, event: &EventRef) -> Result<Locator> {
        let Some(&Some(column)) = self.input_ids.get(event.input) else {
            return Ok(Locator::Offset(event.offset));
        };
        let ids = event
            .shared_rows()
            .column(column)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| OperatorError::Input(format!("{ID_COLUMN} is not Utf8")))?;
        Ok(Locator::Id(ids.value(event.row()).to_owned()))
    }
}
