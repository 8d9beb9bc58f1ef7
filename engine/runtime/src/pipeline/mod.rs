//! The synchronous core that drives the operators: admission (late
//! detection), reordering by event time, routing of batches to rules and of
//! derived events to the rules that read them, watermarks, and output order.
//!
//! It does no I/O: a runner pushes decoded batches in and takes ordered
//! derived events out, so a file runner and a Kafka runner can share it.

pub mod output;
pub mod reload;
mod snapshot;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::{Array, BooleanArray, Int64Array, RecordBatch, TimestampMillisecondArray};
use arrow_schema::ArrowError;
use arrow_select::concat::concat_batches;
use arrow_select::filter::filter_record_batch;
use dsl::plan::{Catalog, Millis, Program};
use operators::schema::OFFSET_COLUMN;
use operators::{DerivedBatch, Operator, OperatorError};

pub use output::{OutputBuffer, OutputEvent};
pub use reload::CarryOver;
pub use snapshot::PIPELINE_STATE_ENTRY;

use crate::time::admission::{self, input_clocks};
use crate::time::{ReorderBuffer, Run, SourceProgress, StreamClock};
pub use crate::time::{Untimely, UntimelyEvent};

/// Errors that stop the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("rule `{rule}`: {source}")]
    Operator {
        rule: String,
        #[source]
        source: OperatorError,
    },
    #[error("cannot build rule `{rule}`: {source}")]
    Build {
        rule: String,
        #[source]
        source: OperatorError,
    },
    #[error("reordering events: {0}")]
    Arrow(#[from] ArrowError),
    #[error("stream `{0}` is not an input of this pipeline")]
    NotAnInput(String),
    #[error("stream `{stream}`: batch does not have the in-flight schema: {problem}")]
    BadBatch { stream: String, problem: String },
    #[error("cannot carry the state over to the new rules: {0}")]
    Reload(String),
    #[error("derived events of rule `{0}` feed back into it (rule cycle)")]
    Cycle(String),
    /// The state of `part` (a rule, or [`PIPELINE_STATE_ENTRY`]) could not
    /// be snapshotted or restored.
    #[error("state of `{part}`: {source}")]
    State {
        part: String,
        #[source]
        source: OperatorError,
    },
    #[error("the saved state has no entry for `{0}`")]
    StateMissing(String),
    #[error("the saved state has an entry `{0}` that this program does not have")]
    StateUnknown(String),
    #[error("the saved state has more than one entry for `{0}`")]
    StateDuplicate(String),
}

/// What one push or finish produced.
#[derive(Debug, Default)]
pub struct Progress {
    /// Events refused as late or from the future, not handed to the rules.
    pub untimely: Vec<UntimelyEvent>,
    /// Derived events whose time the watermark has passed, in output order.
    pub ready: Vec<OutputEvent>,
}

struct Rule {
    name: String,
    operator: Box<dyn Operator>,
}

pub struct Pipeline {
    /// Stream names by catalog index.
    stream_names: Vec<Arc<str>>,
    event_columns: EventColumns,
    /// Per catalog stream: `Some` for the inputs of this pipeline.
    clocks: Vec<Option<StreamClock>>,
    reorder: ReorderBuffer,
    rules: Vec<Rule>,
    /// Per catalog stream: the rules fed run by run that read it, in rule order.
    readers: Vec<Arc<[usize]>>,
    /// Rules that read only input streams and whose derived events no rule
    /// reads, with the catalog indices of their inputs. Nothing they do can
    /// affect another rule, so each gets the runs of a release step merged
    /// (consecutive runs of its inputs glued together): fewer, larger
    /// batches, the same events in the same order.
    independent: Vec<(usize, Vec<usize>)>,
    /// Per rule: the catalog index of the stream its derived events form.
    emits: Vec<Option<usize>>,
    output: OutputBuffer,
    /// The last watermark handed to the operators.
    watermark: Millis,
    /// Reads the wall clock for [`admission::admit`].
    wall_clock: fn() -> Millis,
}

impl Pipeline {
    /// A pipeline over `program` compiled with `operators::build`, reading the
    /// streams named in `inputs`.
    pub fn build(program: &Program, inputs: &[&str]) -> Result<Self, PipelineError> {
        let shared = operators::conditions::SharedConditions::new();
        let operators = program
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                operators::build_sharing(i, rule, &program.catalog, &shared).map_err(|source| {
                    PipelineError::Build {
                        rule: rule.name.clone(),
                        source,
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::with_operators(program, operators, inputs)
    }

    /// A pipeline over given operators, one per rule of `program` in order
    /// (tests hand in fakes).
    pub fn with_operators(
        program: &Program,
        operators: Vec<Box<dyn Operator>>,
        inputs: &[&str],
    ) -> Result<Self, PipelineError> {
        let catalog = &program.catalog;
        let stream_names: Vec<Arc<str>> = catalog
            .streams
            .iter()
            .map(|s| Arc::from(s.name.as_str()))
            .collect();
        let clocks = input_clocks(catalog, inputs)
            .map_err(|unknown| PipelineError::NotAnInput(unknown.to_string()))?;
        let read_by_some_rule =
            |stream: &str| program.rules.iter().any(|r| r.inputs().contains(&stream));
        let mut readers: Vec<Vec<usize>> = vec![Vec::new(); catalog.streams.len()];
        let mut independent = Vec::new();
        for (index, rule) in program.rules.iter().enumerate() {
            let input_indices: Option<Vec<usize>> = rule
                .inputs()
                .iter()
                .map(|s| {
                    catalog
                        .stream_index(s)
                        .filter(|&i| catalog.streams[i].derived_from.is_none())
                })
                .collect();
            match input_indices {
                Some(inputs) if !read_by_some_rule(&rule.emit.name) => {
                    independent.push((index, inputs))
                }
                _ => {
                    for stream in rule.inputs() {
                        if let Some(i) = catalog.stream_index(stream) {
                            readers[i].push(index);
                        }
                    }
                }
            }
        }
        let rules = program
            .rules
            .iter()
            .zip(operators)
            .map(|(plan, operator)| Rule {
                name: plan.name.clone(),
                operator,
            })
            .collect();
        Ok(Pipeline {
            stream_names,
            event_columns: EventColumns::new(catalog),
            clocks,
            reorder: ReorderBuffer::new(),
            rules,
            readers: readers.into_iter().map(Arc::from).collect(),
            independent,
            emits: program
                .rules
                .iter()
                .map(|r| catalog.stream_index(&r.emit.name))
                .collect(),
            output: OutputBuffer::new(program.rules.len()),
            watermark: Millis::MIN,
            wall_clock: admission::wall_clock_now,
        })
    }

    /// Runs only the rules `enabled` names (by rule index): the others are
    /// built, so snapshots and reloads see every rule, but never fed. A
    /// task that holds only part of the program's rules (the job's
    /// repartitioned tasks) derives only their events.
    pub fn enable_only(&mut self, enabled: &[bool]) {
        let on = |rule: &usize| enabled.get(*rule).copied().unwrap_or(false);
        self.independent.retain(|(rule, _)| on(rule));
        for readers in &mut self.readers {
            let kept: Vec<usize> = readers.iter().copied().filter(on).collect();
            *readers = Arc::from(kept);
        }
    }

    /// Replaces the wall clock that decides which events are from the
    /// future: tests fix it, and the workers of a partitioned pipeline,
    /// whose runner already admitted their events, read `Millis::MAX`
    /// (nothing is from the future).
    pub fn set_wall_clock(&mut self, clock: fn() -> Millis) {
        self.wall_clock = clock;
    }

    /// The watermark of input stream `stream` (catalog index), if it is an input.
    pub fn stream_watermark(&self, stream: usize) -> Option<Millis> {
        self.clocks
            .get(stream)?
            .as_ref()
            .map(StreamClock::watermark)
    }

    /// The minimum watermark over the inputs that hold time back (see
    /// [`admission::global_watermark`]).
    pub fn global_watermark(&self) -> Millis {
        admission::global_watermark(&self.clocks, self.watermark)
    }

    /// Lets the source of input stream `stream` drive its watermark (see
    /// [`SourceProgress`]) instead of the stream's own events: for sources
    /// with partitions, where the newest event is not the progress.
    pub fn drive_stream(
        &mut self,
        stream: usize,
        progress: SourceProgress,
    ) -> Result<Progress, PipelineError> {
        let name = self.stream_name(stream);
        let clock = self
            .clocks
            .get_mut(stream)
            .and_then(Option::as_mut)
            .ok_or(PipelineError::NotAnInput(name.to_string()))?;
        clock.drive(progress);
        Ok(Progress {
            untimely: Vec::new(),
            ready: self.advance()?,
        })
    }

    /// Marks input stream `stream` as quiet or active again (see
    /// [`StreamClock::set_idle`]) and releases what that allows.
    pub fn set_stream_idle(
        &mut self,
        stream: usize,
        idle: bool,
    ) -> Result<Progress, PipelineError> {
        let name = self.stream_name(stream);
        self.clocks
            .get_mut(stream)
            .and_then(Option::as_mut)
            .ok_or(PipelineError::NotAnInput(name.to_string()))?
            .set_idle(idle);
        Ok(Progress {
            untimely: Vec::new(),
            ready: self.advance()?,
        })
    }

    /// Events waiting in the reorder buffer.
    pub fn buffered_events(&self) -> usize {
        self.reorder.len()
    }

    /// Derived events waiting for the watermark to pass their time.
    pub fn waiting_output(&self) -> usize {
        self.output.len()
    }

    /// Open operator state per rule, in rule order.
    pub fn rule_states(&self) -> impl Iterator<Item = (&str, operators::StateSize)> + '_ {
        self.rules
            .iter()
            .map(|r| (r.name.as_str(), r.operator.state_size()))
    }

    /// Caps every rule's operator state from now on (see
    /// [`operators::Limits`]); each operator takes the caps of its kind.
    pub fn set_limits(&mut self, limits: &operators::Limits) {
        for rule in &mut self.rules {
            rule.operator.set_limits(limits);
        }
    }

    /// How often the caps bit per rule, in rule order (metrics: counted
    /// since the pipeline was built, not restored from snapshots).
    pub fn limit_hits(&self) -> impl Iterator<Item = (&str, operators::LimitHits)> + '_ {
        self.rules
            .iter()
            .map(|r| (r.name.as_str(), r.operator.limit_hits()))
    }

    /// Open operator state summed over the rules.
    pub fn state_entries(&self) -> usize {
        self.rules
            .iter()
            .map(|r| r.operator.state_size().entries)
            .sum()
    }

    /// Hands in a batch of input stream `stream` (catalog index) in arrival
    /// order and in the in-flight schema. Late events are dropped and
    /// reported; the rest wait for the watermark.
    pub fn push(&mut self, stream: usize, batch: &RecordBatch) -> Result<Progress, PipelineError> {
        let name = self.stream_name(stream);
        let (times, offsets) = self.event_columns.read(stream, &name, batch)?;
        let clock = self
            .clocks
            .get_mut(stream)
            .and_then(Option::as_mut)
            .ok_or_else(|| PipelineError::NotAnInput(name.to_string()))?;

        let now = (self.wall_clock)();
        let (keep, untimely) = admission::admit(clock, self.watermark, times.values(), now);
        let (admitted, admitted_times, admitted_offsets) = if untimely.is_empty() {
            (
                batch.clone(),
                times.values().to_vec(),
                offsets.values().to_vec(),
            )
        } else {
            let mask = BooleanArray::from(keep.clone());
            let pick = |values: &[i64]| -> Vec<i64> {
                values
                    .iter()
                    .zip(&keep)
                    .filter(|(_, k)| **k)
                    .map(|(v, _)| *v)
                    .collect()
            };
            (
                filter_record_batch(batch, &mask)?,
                pick(times.values()),
                pick(offsets.values()),
            )
        };
        self.reorder
            .insert(stream, admitted, &admitted_times, &admitted_offsets);
        let ready = self.advance()?;
        Ok(Progress { untimely, ready })
    }

    /// Input stream `stream` has ended: it no longer holds time back.
    pub fn finish_stream(&mut self, stream: usize) -> Result<Progress, PipelineError> {
        if let Some(clock) = self.clocks.get_mut(stream).and_then(Option::as_mut) {
            clock.finish();
        }
        Ok(Progress {
            untimely: Vec::new(),
            ready: self.advance()?,
        })
    }

    /// All input has ended: releases every waiting event, moves the watermark
    /// to the end of time (windows close, trailing `not` steps fire) and
    /// returns every remaining derived event.
    pub fn finish(&mut self) -> Result<Vec<OutputEvent>, PipelineError> {
        for clock in self.clocks.iter_mut().flatten() {
            clock.finish();
        }
        let runs = self.reorder.release_before(None)?;
        self.process_runs(&runs)?;
        self.hand_watermark(Millis::MAX)?;
        Ok(self.output.take_all())
    }

    /// Releases what the global watermark allows, feeds it to the rules,
    /// moves the operators' watermark, and returns the derived events it passed.
    fn advance(&mut self) -> Result<Vec<OutputEvent>, PipelineError> {
        let watermark = self.global_watermark();
        if watermark <= self.watermark {
            return Ok(Vec::new());
        }
        // At the end of time nothing is held back, not even an event at `Millis::MAX`.
        let bound = (watermark < Millis::MAX).then_some(watermark);
        let runs = self.reorder.release_before(bound)?;
        self.process_runs(&runs)?;
        self.hand_watermark(watermark)?;
        Ok(match bound {
            Some(w) => self.output.take_before(w),
            None => self.output.take_all(),
        })
    }

    fn hand_watermark(&mut self, watermark: Millis) -> Result<(), PipelineError> {
        if watermark <= self.watermark {
            return Ok(());
        }
        self.watermark = watermark;
        for rule in 0..self.rules.len() {
            let mut out = Vec::new();
            let r = &mut self.rules[rule];
            r.operator
                .on_watermark(watermark, &mut out)
                .map_err(|source| PipelineError::Operator {
                    rule: r.name.clone(),
                    source,
                })?;
            self.deliver_all(out, 0)?;
        }
        Ok(())
    }

    /// Feeds the runs released in one step to the rules: run by run to the
    /// rules that take part in chains, merged to the independent ones.
    fn process_runs(&mut self, runs: &[Run]) -> Result<(), PipelineError> {
        for run in runs {
            self.feed(run.stream, &run.batch, 0)?;
        }
        for i in 0..self.independent.len() {
            let rule = self.independent[i].0;
            let relevant: Vec<&Run> = runs
                .iter()
                .filter(|run| self.independent[i].1.contains(&run.stream))
                .collect();
            for group in relevant.chunk_by(|a, b| a.stream == b.stream) {
                let batch = if group.len() == 1 {
                    group[0].batch.clone()
                } else {
                    concat_batches(&group[0].batch.schema(), group.iter().map(|run| &run.batch))?
                };
                let name = self.stream_name(group[0].stream);
                let mut out = Vec::new();
                let r = &mut self.rules[rule];
                r.operator
                    .on_batch(&name, &batch, &mut out)
                    .map_err(|source| PipelineError::Operator {
                        rule: r.name.clone(),
                        source,
                    })?;
                // No rule reads these derived events: straight to the output.
                for derived in out {
                    self.output.add(derived);
                }
            }
        }
        Ok(())
    }

    /// Hands `batch` of stream `stream` to each rule reading it, in rule
    /// order, delivering each rule's derived events before the next rule runs.
    fn feed(
        &mut self,
        stream: usize,
        batch: &RecordBatch,
        depth: usize,
    ) -> Result<(), PipelineError> {
        let Some(readers) = self.readers.get(stream).cloned() else {
            return Ok(());
        };
        if readers.is_empty() {
            return Ok(());
        }
        let name = self.stream_name(stream);
        for &rule in readers.iter() {
            let mut out = Vec::new();
            let r = &mut self.rules[rule];
            r.operator
                .on_batch(&name, batch, &mut out)
                .map_err(|source| PipelineError::Operator {
                    rule: r.name.clone(),
                    source,
                })?;
            self.deliver_all(out, depth)?;
        }
        Ok(())
    }

    /// Derived events go to the rules reading their stream and to the output.
    /// Rules only read rules before them, so the depth is bounded by the rule
    /// count; deeper means a cycle the checker should have refused.
    fn deliver_all(
        &mut self,
        derived: Vec<DerivedBatch>,
        depth: usize,
    ) -> Result<(), PipelineError> {
        for batch in derived {
            if batch.meta.is_empty() && batch.data.num_rows() == 0 {
                continue;
            }
            let emit = self.emits.get(batch.rule).copied().flatten();
            if depth > self.rules.len() {
                return Err(PipelineError::Cycle(
                    self.rules
                        .get(batch.rule)
                        .map(|r| r.name.clone())
                        .unwrap_or_default(),
                ));
            }
            if let Some(emit) = emit {
                self.feed(emit, &batch.data, depth + 1)?;
            }
            self.output.add(batch);
        }
        Ok(())
    }

    fn stream_name(&self, stream: usize) -> Arc<str> {
        self.stream_names
            .get(stream)
            .cloned()
            .unwrap_or_else(|| Arc::from(format!("#{stream}")))
    }
}

/// Per catalog stream: where the event time and the offset are in its
/// in-flight batches.
pub(crate) struct EventColumns(Vec<Option<(usize, usize)>>);

impl EventColumns {
    pub(crate) fn new(catalog: &Catalog) -> Self {
        EventColumns(
            catalog
                .streams
                .iter()
                .map(|stream| {
                    let schema = operators::schema::stream_schema(stream);
                    let time = schema.index_of(&stream.time_field).ok()?;
                    Some((time, schema.index_of(OFFSET_COLUMN).ok()?))
                })
                .collect(),
        )
    }

    /// The event times and offsets of `batch`, of stream `stream` (named
    /// `name` in errors), as [`Pipeline::push`] requires them.
    pub(crate) fn read<'b>(
        &self,
        stream: usize,
        name: &str,
        batch: &'b RecordBatch,
    ) -> Result<(&'b TimestampMillisecondArray, &'b Int64Array), PipelineError> {
        let (time_col, offset_col) = self
            .0
            .get(stream)
            .copied()
            .flatten()
            .ok_or_else(|| PipelineError::NotAnInput(name.to_string()))?;
        event_columns(batch, time_col, offset_col).map_err(|problem| PipelineError::BadBatch {
            stream: name.to_string(),
            problem,
        })
    }
}

/// The event-time and offset columns of a batch of an input stream, as
/// [`Pipeline::push`] requires them; otherwise what is wrong.
fn event_columns(
    batch: &RecordBatch,
    time_col: usize,
    offset_col: usize,
) -> Result<(&TimestampMillisecondArray, &Int64Array), String> {
    let times = batch
        .columns()
        .get(time_col)
        .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
        .ok_or("no millisecond timestamp column for the event time")?;
    if times.null_count() > 0 {
        return Err("the event-time column has nulls".into());
    }
    let offsets = batch
        .columns()
        .get(offset_col)
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .ok_or_else(|| format!("no Int64 `{OFFSET_COLUMN}` column"))?;
    Ok((times, offsets))
}
