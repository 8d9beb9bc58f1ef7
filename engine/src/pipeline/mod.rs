//! The synchronous core that drives the operators: admission (late
//! detection), reordering by event time, routing of batches to rules and of
//! derived events to the rules that read them, watermarks, and output order.
//!
//! It does no I/O: a runner pushes decoded batches in and takes ordered
//! derived events out, so a file runner and a Kafka runner can share it.

pub mod output;

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_schema::ArrowError;
use arrow_select::filter::filter_record_batch;
use dsl::plan::{Millis, Program};
use operators::schema::OFFSET_COLUMN;
use operators::{DerivedBatch, Operator, OperatorError};

pub use output::{OutputBuffer, OutputEvent};

use crate::time::{ReorderBuffer, StreamClock};

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
    #[error("derived events of rule `{0}` feed back into it (rule cycle)")]
    Cycle(String),
}

/// An event rejected as late by [`Pipeline::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LateEvent {
    /// Row of the pushed batch.
    pub row: usize,
    pub time: Millis,
    /// The stream's watermark when the event arrived.
    pub watermark: Millis,
}

/// What one push or finish produced.
#[derive(Debug, Default)]
pub struct Progress {
    pub late: Vec<LateEvent>,
    /// Derived events whose time the watermark has passed, in output order.
    pub ready: Vec<OutputEvent>,
}

struct Rule {
    name: String,
    operator: Box<dyn Operator>,
}

pub struct Pipeline {
    /// Stream names by catalog index.
    stream_names: Vec<String>,
    /// Per catalog stream: the column index of its event time and offset.
    time_columns: Vec<Option<usize>>,
    offset_columns: Vec<Option<usize>>,
    /// Per catalog stream: `Some` for the inputs of this pipeline.
    clocks: Vec<Option<StreamClock>>,
    reorder: ReorderBuffer,
    rules: Vec<Rule>,
    /// Stream name to the rules that read it, in rule order.
    readers: HashMap<String, Vec<usize>>,
    /// Rule index to the name of the stream its derived events form.
    emits: Vec<String>,
    output: OutputBuffer,
    /// The last watermark handed to the operators.
    watermark: Millis,
}

impl Pipeline {
    /// A pipeline over `program` compiled with `operators::build`, reading the
    /// streams named in `inputs`.
    pub fn build(program: &Program, inputs: &[&str]) -> Result<Self, PipelineError> {
        let operators = program
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| {
                operators::build(i, rule, &program.catalog).map_err(|source| PipelineError::Build {
                    rule: rule.name.clone(),
                    source,
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
        let stream_names: Vec<String> = catalog.streams.iter().map(|s| s.name.clone()).collect();
        let mut clocks: Vec<Option<StreamClock>> = vec![None; catalog.streams.len()];
        for input in inputs {
            let index = catalog
                .stream_index(input)
                .ok_or_else(|| PipelineError::NotAnInput(input.to_string()))?;
            clocks[index] = Some(StreamClock::new(catalog.streams[index].lateness));
        }
        let mut time_columns = Vec::with_capacity(catalog.streams.len());
        let mut offset_columns = Vec::with_capacity(catalog.streams.len());
        for stream in &catalog.streams {
            let schema = operators::schema::stream_schema(stream);
            time_columns.push(schema.index_of(&stream.time_field).ok());
            offset_columns.push(schema.index_of(OFFSET_COLUMN).ok());
        }
        let mut readers: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, rule) in program.rules.iter().enumerate() {
            for stream in rule.inputs() {
                readers.entry(stream.to_string()).or_default().push(index);
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
            time_columns,
            offset_columns,
            clocks,
            reorder: ReorderBuffer::new(),
            rules,
            readers,
            emits: program.rules.iter().map(|r| r.emit.name.clone()).collect(),
            output: OutputBuffer::new(program.rules.len()),
            watermark: Millis::MIN,
        })
    }

    /// The watermark of input stream `stream` (catalog index), if it is an input.
    pub fn stream_watermark(&self, stream: usize) -> Option<Millis> {
        self.clocks.get(stream)?.as_ref().map(StreamClock::watermark)
    }

    /// The minimum watermark over the inputs (finished ones count as the end of time).
    pub fn global_watermark(&self) -> Millis {
        self.clocks
            .iter()
            .flatten()
            .map(StreamClock::watermark)
            .min()
            .unwrap_or(Millis::MAX)
    }

    /// Events waiting in the reorder buffer.
    pub fn buffered_events(&self) -> usize {
        self.reorder.len()
    }

    /// Open operator state summed over the rules.
    pub fn state_entries(&self) -> usize {
        self.rules.iter().map(|r| r.operator.state_size().entries).sum()
    }

    /// Hands in a batch of input stream `stream` (catalog index) in arrival
    /// order and in the in-flight schema. Late events are dropped and
    /// reported; the rest wait for the watermark.
    pub fn push(&mut self, stream: usize, batch: &RecordBatch) -> Result<Progress, PipelineError> {
        let name = self.stream_name(stream);
        let (time_col, offset_col) = match (
            self.time_columns.get(stream).copied().flatten(),
            self.offset_columns.get(stream).copied().flatten(),
        ) {
            (Some(t), Some(o)) => (t, o),
            _ => return Err(PipelineError::NotAnInput(name)),
        };
        let bad = |problem: String| PipelineError::BadBatch {
            stream: name.clone(),
            problem,
        };
        let times = batch
            .columns()
            .get(time_col)
            .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
            .ok_or_else(|| bad("no millisecond timestamp column for the event time".into()))?;
        if times.null_count() > 0 {
            return Err(bad("the event-time column has nulls".into()));
        }
        let offsets = batch
            .columns()
            .get(offset_col)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or_else(|| bad(format!("no Int64 `{OFFSET_COLUMN}` column")))?;
        let clock = self
            .clocks
            .get_mut(stream)
            .and_then(Option::as_mut)
            .ok_or_else(|| PipelineError::NotAnInput(name.clone()))?;

        let mut late = Vec::new();
        let mut keep = Vec::with_capacity(batch.num_rows());
        for (row, &time) in times.values().iter().enumerate() {
            let watermark = clock.watermark();
            let admitted = clock.admit(time);
            if !admitted {
                late.push(LateEvent { row, time, watermark });
            }
            keep.push(admitted);
        }
        let (admitted, admitted_times, admitted_offsets) = if late.is_empty() {
            (batch.clone(), times.values().to_vec(), offsets.values().to_vec())
        } else {
            let mask = BooleanArray::from(keep.clone());
            let pick = |values: &[i64]| -> Vec<i64> {
                values.iter().zip(&keep).filter(|(_, k)| **k).map(|(v, _)| *v).collect()
            };
            (
                filter_record_batch(batch, &mask)?,
                pick(times.values()),
                pick(offsets.values()),
            )
        };
        self.reorder.insert(stream, admitted, &admitted_times, &admitted_offsets);
        let ready = self.advance()?;
        Ok(Progress { late, ready })
    }

    /// Input stream `stream` has ended: it no longer holds time back.
    pub fn finish_stream(&mut self, stream: usize) -> Result<Progress, PipelineError> {
        if let Some(clock) = self.clocks.get_mut(stream).and_then(Option::as_mut) {
            clock.finish();
        }
        Ok(Progress {
            late: Vec::new(),
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
        for run in runs {
            self.process_run(run.stream, &run.batch)?;
        }
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
        for run in runs {
            self.process_run(run.stream, &run.batch)?;
        }
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

    /// Feeds a released run of input stream `stream` to every rule reading it.
    fn process_run(&mut self, stream: usize, batch: &RecordBatch) -> Result<(), PipelineError> {
        let name = self.stream_name(stream);
        self.feed(&name, batch, 0)
    }

    /// Hands `batch` of stream `name` to each rule reading it, in rule order,
    /// delivering each rule's derived events before the next rule runs.
    fn feed(&mut self, name: &str, batch: &RecordBatch, depth: usize) -> Result<(), PipelineError> {
        let Some(readers) = self.readers.get(name).cloned() else {
            return Ok(());
        };
        for rule in readers {
            let mut out = Vec::new();
            let r = &mut self.rules[rule];
            r.operator
                .on_batch(name, batch, &mut out)
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
    fn deliver_all(&mut self, derived: Vec<DerivedBatch>, depth: usize) -> Result<(), PipelineError> {
        for batch in derived {
            if batch.meta.is_empty() && batch.data.num_rows() == 0 {
                continue;
            }
            let emit = self.emits.get(batch.rule).cloned().unwrap_or_default();
            if depth > self.rules.len() {
                return Err(PipelineError::Cycle(
                    self.rules.get(batch.rule).map(|r| r.name.clone()).unwrap_or_default(),
                ));
            }
            self.feed(&emit, &batch.data, depth + 1)?;
            self.output.add(batch);
        }
        Ok(())
    }

    fn stream_name(&self, stream: usize) -> String {
        self.stream_names.get(stream).cloned().unwrap_or_else(|| format!("#{stream}"))
    }
}
