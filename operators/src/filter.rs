//! Simple rules (`from S [where C] emit ...`): filter and shape, one
//! derived event per matching input event.

use std::sync::Arc;

use arrow_array::RecordBatch;
use dsl::plan::{Catalog, Millis, RuleKind, RulePlan};

use crate::conditions::{ConditionChain, SharedConditions};
use crate::derived::DerivedBatch;
use crate::emit::{Emitter, EmitterState, EventColumns, MatchInfo};
use crate::error::{OperatorError, Result};
use crate::expr::FieldLeaves;
use crate::operator::{expect_stream, Operator, StateSize};
use crate::schema::stream_schema;
use crate::state::{StateReader, StateWriter};

/// The operator of a simple rule. Stateless except for `suppress`.
#[derive(Debug)]
pub struct FilterOperator {
    stream: String,
    /// The `where` condition.
    condition: ConditionChain,
    events: EventColumns,
    emitter: Emitter,
}

impl FilterOperator {
    /// Compiles rule `index` (a `RuleKind::Simple`).
    pub fn new(index: usize, rule: &RulePlan, catalog: &Catalog) -> Result<Self> {
        Self::sharing(index, rule, catalog, SharedConditions::new())
    }

    /// Compiles rule `index`, sharing the evaluation of conditions with the
    /// other rules built with `shared` (see [`crate::conditions`]).
    pub fn sharing(
        index: usize,
        rule: &RulePlan,
        catalog: &Catalog,
        shared: Arc<SharedConditions>,
    ) -> Result<Self> {
        let RuleKind::Simple(plan) = &rule.kind else {
            return Err(OperatorError::Plan(format!(
                "rule `{}` is not a simple rule",
                rule.name
            )));
        };
        let stream = catalog
            .stream(&plan.stream)
            .ok_or_else(|| OperatorError::Plan(format!("unknown stream `{}`", plan.stream)))?;
        let schema = stream_schema(stream);
        let condition = ConditionChain::new(plan.filter.as_ref(), &schema, &FieldLeaves, shared)?;
        Ok(Self {
            stream: plan.stream.clone(),
            condition,
            events: EventColumns::new(&schema, &stream.time_field)?,
            emitter: Emitter::new(index, rule, catalog, &schema, &FieldLeaves)?,
        })
    }

    /// Emissions dropped by `suppress` so far.
    pub fn suppressed(&self) -> u64 {
        self.emitter.suppressed()
    }
}

impl Operator for FilterOperator {
    fn on_batch(
        &mut self,
        stream: &str,
        batch: &RecordBatch,
        out: &mut Vec<DerivedBatch>,
    ) -> Result<()> {
        expect_stream(&self.stream, stream)?;
        let kept = self.condition.filter(batch)?;
        if kept.num_rows() == 0 {
            return Ok(());
        }
        let rows = self.events.read(&kept)?;
        let matches = (0..kept.num_rows())
            .map(|row| MatchInfo {
                time: rows.time(row),
                key: None,
                evidence: vec![rows.evidence(row, &self.stream, None)],
                evidence_hashes: vec![rows.hash(row)],
                evidence_omitted: 0,
                window: None,
            })
            .collect();
        self.emitter.emit(&kept, matches, out)
    }

    fn on_watermark(&mut self, watermark: Millis, _out: &mut Vec<DerivedBatch>) -> Result<()> {
        self.emitter.advance(watermark);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>> {
        let mut writer = StateWriter::new();
        let state = self.emitter.save(&mut writer)?;
        writer.finish(&state)
    }

    fn restore(&mut self, state: &[u8]) -> Result<()> {
        let (state, reader) = StateReader::open::<EmitterState>(state)?;
        self.emitter.load(state, &reader)
    }

    fn state_size(&self) -> StateSize {
        let keys = self.emitter.suppression_keys();
        StateSize {
            entries: keys,
            keys,
        }
    }
}
