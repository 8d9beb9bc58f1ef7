//! [`PatternOperator`]: drives the automaton from Arrow batches.
//!
//! Per input batch: every step's local condition is evaluated for the
//! whole batch (DataFusion), then keys; only rows that satisfy some step
//! reach the automaton (an event no step accepts can neither be taken nor
//! kill a candidate), after their kept columns are copied out once.
//! Deadlines fire before every row, as the operator contract asks.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use dsl::plan::{Catalog, Millis, PatternPlan, RuleKind, RulePlan, StepId};

use super::automaton::{Automaton, EventInput, Match};
use super::capture::{kept_columns, CapturedEvent, EventRef, Projection};
use super::cross::CrossConditions;
use super::matches::MatchRows;
use super::nfa::{Nfa, StepSet};
use crate::derived::DerivedBatch;
use crate::emit::{Emitter, EventColumns};
use crate::error::{OperatorError, Result};
use crate::expr::{evaluate_predicate, lower, FieldLeaves, PhysExpr};
use crate::key::{Key, KeyExtractor};
use crate::operator::{Operator, StateSize};
use crate::schema::stream_schema;

/// One stream the pattern reads.
struct Input {
    name: String,
    /// `stream_schema` of the stream: what batches must look like.
    schema: SchemaRef,
    events: EventColumns,
    /// `None` for rules without `by`.
    key: Option<KeyExtractor>,
    /// The steps reading this stream and their local conditions (`None`:
    /// every event of the stream).
    steps: Vec<(StepId, Option<PhysExpr>)>,
    projection: Projection,
}

/// The operator of a pattern rule.
pub struct PatternOperator {
    inputs: Vec<Input>,
    automaton: Automaton<Option<Key>, EventRef>,
    cross: CrossConditions,
    rows: MatchRows,
    emitter: Emitter,
}

impl PatternOperator {
    /// Compiles rule `index` (a `RuleKind::Pattern`).
    pub fn new(index: usize, rule: &RulePlan, catalog: &Catalog) -> Result<Self> {
        let RuleKind::Pattern(plan) = &rule.kind else {
            return Err(OperatorError::Plan(format!(
                "rule `{}` is not a pattern rule",
                rule.name
            )));
        };
        let nfa = Nfa::compile(&plan.root, plan.steps.len())
            .map_err(|e| OperatorError::Plan(format!("pattern of rule `{}`: {e}", rule.name)))?;
        let inputs = compile_inputs(plan, rule, catalog)?;
        let step_schemas: Vec<SchemaRef> = plan
            .steps
            .iter()
            .map(|step| {
                inputs
                    .iter()
                    .find(|i| i.name == step.stream)
                    .map(|i| Arc::clone(i.projection.schema()))
                    .ok_or_else(|| {
                        OperatorError::Plan(format!("step `{}` reads no input", step.name))
                    })
            })
            .collect::<Result<_>>()?;
        let cross = CrossConditions::new(&plan.steps, &step_schemas)?;
        let rows = MatchRows::new(
            &rule.emit,
            &step_schemas,
            plan.steps.iter().map(|s| s.name.clone()).collect(),
            inputs.iter().map(|i| i.name.clone()).collect(),
        )?;
        let emitter = Emitter::new(index, rule, catalog, rows.schema(), &rows.leaves())?;
        Ok(Self {
            automaton: Automaton::new(nfa, plan.within, cross.steps()),
            inputs,
            cross,
            rows,
            emitter,
        })
    }

    /// Emissions dropped by `suppress` so far.
    pub fn suppressed(&self) -> u64 {
        self.emitter.suppressed()
    }

    fn emit(
        &mut self,
        matches: Vec<Match<Option<Key>, EventRef>>,
        out: &mut Vec<DerivedBatch>,
    ) -> Result<()> {
        if matches.is_empty() {
            return Ok(());
        }
        let (rows, infos) = self.rows.build(&matches)?;
        self.emitter.emit(&rows, infos, out)
    }
}

fn compile_inputs(plan: &PatternPlan, rule: &RulePlan, catalog: &Catalog) -> Result<Vec<Input>> {
    let kept = kept_columns(plan, &rule.emit);
    rule.inputs()
        .into_iter()
        .map(|name| {
            let stream = catalog
                .stream(name)
                .ok_or_else(|| OperatorError::Plan(format!("unknown stream `{name}`")))?;
            let schema = stream_schema(stream);
            let key = plan
                .key
                .as_ref()
                .map(|k| KeyExtractor::new(k, name, &schema))
                .transpose()?;
            let steps = plan
                .steps
                .iter()
                .enumerate()
                .filter(|(_, s)| s.stream == name)
                .map(|(id, s)| {
                    Ok((
                        id,
                        s.local
                            .as_ref()
                            .map(|c| lower(c, &schema, &FieldLeaves))
                            .transpose()?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            let projection = Projection::new(&schema, &kept.get(name).cloned().unwrap_or_default());
            Ok(Input {
                name: name.to_owned(),
                events: EventColumns::new(&schema, &stream.time_field)?,
                schema,
                key,
                steps,
                projection,
            })
        })
        .collect()
}

impl Input {
    /// Per row: the steps whose local condition holds.
    fn local_steps(&self, batch: &RecordBatch) -> Result<Vec<StepSet>> {
        let mut sets = vec![StepSet::EMPTY; batch.num_rows()];
        for (step, condition) in &self.steps {
            match condition {
                None => sets.iter_mut().for_each(|s| s.insert(*step)),
                Some(condition) => {
                    let mask = evaluate_predicate(condition.as_ref(), batch)?;
                    for (row, set) in sets.iter_mut().enumerate() {
                        if mask.value(row) {
                            set.insert(*step);
                        }
                    }
                }
            }
        }
        Ok(sets)
    }

    /// Per row: the key (`Some(None)` for rules without `by`), `None` for
    /// rows whose key is null: they take part in no match.
    fn keys(&self, batch: &RecordBatch) -> Result<Vec<Option<Option<Key>>>> {
        Ok(match &self.key {
            Some(extractor) => extractor
                .keys(batch)?
                .into_iter()
                .map(|k| k.map(Some))
                .collect(),
            None => vec![Some(None); batch.num_rows()],
        })
    }
}

impl Operator for PatternOperator {
    fn on_batch(
        &mut self,
        stream: &str,
        batch: &RecordBatch,
        out: &mut Vec<DerivedBatch>,
    ) -> Result<()> {
        let input_index = self
            .inputs
            .iter()
            .position(|i| i.name == stream)
            .ok_or_else(|| {
                OperatorError::Input(format!(
                    "a batch of `{stream}`, which this rule does not read"
                ))
            })?;
        let input = &self.inputs[input_index];
        if batch.num_columns() != input.schema.fields().len() {
            return Err(OperatorError::Input(format!(
                "a batch of `{stream}` with {} columns, expected {}",
                batch.num_columns(),
                input.schema.fields().len()
            )));
        }
        let events = input.events.read(batch)?;
        let local = input.local_steps(batch)?;
        let keys = input.keys(batch)?;
        // Rows some step accepts, with a key: the only ones the automaton sees.
        let relevant: Vec<u32> = (0..batch.num_rows())
            .filter(|&row| !local[row].is_empty() && keys[row].is_some())
            .map(|row| row as u32)
            .collect();
        let kept = Arc::new(input.projection.take(batch, &relevant)?);

        let mut matches = Vec::new();
        let mut next_relevant = relevant.iter().copied().enumerate().peekable();
        for (row, key) in keys.into_iter().enumerate() {
            let time = events.time(row);
            match (next_relevant.peek(), key) {
                (Some(&(kept_row, r)), Some(key)) if r as usize == row => {
                    next_relevant.next();
                    let event = CapturedEvent::new(
                        Arc::clone(&kept),
                        kept_row,
                        input_index,
                        events.offset(row),
                        events.hash(row),
                    );
                    let input = EventInput {
                        key,
                        time,
                        local: local[row],
                        payload: Arc::new(event),
                    };
                    self.automaton
                        .on_event(input, &mut self.cross, &mut matches)?;
                }
                _ => self.automaton.advance_time(time, &mut matches),
            }
        }
        self.emit(matches, out)
    }

    fn on_watermark(&mut self, watermark: Millis, out: &mut Vec<DerivedBatch>) -> Result<()> {
        let mut matches = Vec::new();
        self.automaton.advance_time(watermark, &mut matches);
        self.emit(matches, out)?;
        self.emitter.advance(watermark);
        Ok(())
    }

    fn state_size(&self) -> StateSize {
        self.automaton.state_size()
    }
}
