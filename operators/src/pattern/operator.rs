//! [`PatternOperator`]: drives the automaton from Arrow batches.
//!
//! Per input batch: every step's local condition is evaluated for the
//! whole batch (DataFusion), then keys; only rows that satisfy some step
//! reach the automaton (an event no step accepts can neither be taken nor
//! kill a candidate), after their kept columns are copied out once.
//! Deadlines fire before every row, as the operator contract asks.

use std::sync::Arc;

use arrow_array::{RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;
use arrow_select::take::take_record_batch;
use dsl::plan::{Catalog, Millis, PatternPlan, RuleKind, RulePlan, StepId};

use super::automaton::{Automaton, EventInput, Match};
use super::capture::{kept_columns, CapturedEvent, EventRef, Projection};
use super::cross::CrossConditions;
use super::matches::MatchRows;
use super::nfa::{Nfa, StepSet};
use super::snapshot;
use crate::derived::DerivedBatch;
use crate::emit::{Emitter, EventColumns};
use crate::error::{OperatorError, Result};
use crate::expr::{evaluate_predicate, lower, FieldLeaves, PhysExpr};
use crate::key::{Key, KeyExtractor};
use crate::limits::{LimitHits, Limits};
use crate::operator::{Operator, StateSize};
use crate::schema::{stream_schema, ID_COLUMN};

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
            inputs
                .iter()
                .map(|i| (i.name.clone(), Arc::clone(i.projection.schema())))
                .collect(),
        )?;
        let emitter = Emitter::new(index, rule, catalog, rows.schema(), &rows.leaves())?;
        let mut automaton = Automaton::new(nfa, plan.within, cross.steps());
        if let Some(steps) = cross.latest_only() {
            automaton = automaton.cross_conditions_read_only_latest(steps);
        }
        Ok(Self {
            automaton,
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

impl std::fmt::Debug for PatternOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inputs: Vec<&str> = self.inputs.iter().map(|i| i.name.as_str()).collect();
        f.debug_struct("PatternOperator")
            .field("inputs", &inputs)
            .field("state", &self.automaton.state_size())
            .finish_non_exhaustive()
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
            let mut columns = kept.get(name).cloned().unwrap_or_default();
            // A derived event's id goes with it into the candidates (and
            // their snapshots): the evidence names it.
            if schema.index_of(ID_COLUMN).is_ok() {
                columns.insert(ID_COLUMN.to_owned());
            }
            let projection = Projection::new(&schema, &columns);
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

    /// The key of each of `rows` (`Some(None)` for rules without `by`),
    /// `None` where the key is null: such events take part in no match.
    fn keys(&self, batch: &RecordBatch, rows: &[u32]) -> Result<Vec<Option<Option<Key>>>> {
        let Some(extractor) = &self.key else {
            return Ok(vec![Some(None); rows.len()]);
        };
        let keys = if rows.len() == batch.num_rows() {
            extractor.keys(batch)?
        } else {
            extractor.keys(&take_record_batch(
                batch,
                &UInt32Array::from(rows.to_vec()),
            )?)?
        };
        Ok(keys.into_iter().map(|k| k.map(Some)).collect())
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
        // Only rows that some step accepts, with a key, reach the automaton.
        let accepted: Vec<u32> = (0..batch.num_rows())
            .filter(|&row| !local[row].is_empty())
            .map(|row| row as u32)
            .collect();
        let (relevant, keys): (Vec<u32>, Vec<Option<Key>>) = accepted
            .iter()
            .zip(input.keys(batch, &accepted)?)
            .filter_map(|(&row, key)| key.map(|k| (row, k)))
            .unzip();
        let kept = Arc::new(input.projection.take(batch, &relevant)?);

        let mut matches = Vec::new();
        let mut next = relevant.iter().zip(keys).enumerate().peekable();
        for (row, local) in local.into_iter().enumerate() {
            let time = events.time(row);
            let Some((kept_row, (_, key))) = next.next_if(|(_, (&r, _))| r as usize == row) else {
                self.automaton.advance_time(time, &mut matches);
                continue;
            };
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
                local,
                payload: Arc::new(event),
            };
            self.automaton
                .on_event(input, &mut self.cross, &mut matches)?;
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

    fn snapshot(&mut self) -> Result<Vec<u8>> {
        snapshot::save(&self.automaton, &self.emitter)
    }

    fn restore(&mut self, state: &[u8]) -> Result<()> {
        let input_rows: Vec<&SchemaRef> =
            self.inputs.iter().map(|i| i.projection.schema()).collect();
        snapshot::restore(state, &mut self.automaton, &mut self.emitter, &input_rows)
    }

    fn state_size(&self) -> StateSize {
        self.automaton.state_size()
    }

    fn set_limits(&mut self, limits: &Limits) {
        self.automaton.set_limits(limits);
    }

    fn limit_hits(&self) -> LimitHits {
        self.automaton.limit_hits()
    }
}
