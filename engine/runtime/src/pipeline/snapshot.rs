//! Checkpointing a [`Pipeline`]: one state entry per rule (its operator's
//! snapshot) plus one for the pipeline itself: the input clocks, the events
//! waiting in the reorder buffer, the derived events waiting for output, and
//! the watermark handed to the operators.
//!
//! Restoring into a freshly built pipeline of the same program and inputs
//! and continuing gives exactly the derived events the original would have.

use std::collections::HashMap;

use arrow_array::RecordBatch;
use dsl::plan::Millis;
use operators::state::{StateReader, StateWriter};
use operators::OperatorError;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::output::OutputBufferState;
use super::{OutputBuffer, Pipeline, PipelineError};
use crate::checkpoint::OperatorState;
use crate::time::{ReorderBuffer, ReorderState, StreamClockState};

/// The name of the entry holding the pipeline's own state. Rule names are
/// identifiers, so no rule can be called this.
pub const PIPELINE_STATE_ENTRY: &str = "@pipeline";

/// The pipeline's own state in a snapshot.
#[derive(Debug, Serialize, Deserialize)]
struct PipelineState {
    /// The last watermark handed to the operators.
    watermark: Millis,
    /// Per catalog stream: the clock of the inputs.
    clocks: Vec<Option<StreamClockState>>,
    reorder: ReorderState,
    output: OutputBufferState,
}

impl Pipeline {
    /// The whole state: one entry per rule, named after it, in rule order,
    /// then [`PIPELINE_STATE_ENTRY`]. Taking it changes nothing the pipeline
    /// does next.
    pub fn snapshot(&mut self) -> Result<Vec<OperatorState>, PipelineError> {
        let mut states = Vec::with_capacity(self.rules.len() + 1);
        for rule in &mut self.rules {
            let state = rule
                .operator
                .snapshot()
                .map_err(|source| PipelineError::State {
                    part: rule.name.clone(),
                    source,
                })?;
            states.push(OperatorState {
                rule: rule.name.clone(),
                state,
            });
        }
        states.push(OperatorState {
            rule: PIPELINE_STATE_ENTRY.to_string(),
            state: self.save_own().map_err(own_state_error)?,
        });
        Ok(states)
    }

    /// Replaces the state of this freshly built pipeline with `states`, a
    /// [`Pipeline::snapshot`] of a pipeline of the same program and inputs.
    /// Every rule needs its entry, and no other entry may be there. On an
    /// error the pipeline may be partly restored: build a new one.
    pub fn restore(&mut self, states: &[OperatorState]) -> Result<(), PipelineError> {
        let mut entries: HashMap<&str, &[u8]> = HashMap::with_capacity(states.len());
        for entry in states {
            if entries
                .insert(entry.rule.as_str(), entry.state.as_slice())
                .is_some()
            {
                return Err(PipelineError::StateDuplicate(entry.rule.clone()));
            }
        }
        let mut take = |name: &str| {
            entries
                .remove(name)
                .ok_or_else(|| PipelineError::StateMissing(name.to_string()))
        };
        let own = take(PIPELINE_STATE_ENTRY)?;
        let rule_states = self
            .rules
            .iter()
            .map(|rule| take(&rule.name))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(unknown) = states
            .iter()
            .find(|s| entries.contains_key(s.rule.as_str()))
        {
            return Err(PipelineError::StateUnknown(unknown.rule.clone()));
        }

        // The pipeline's own state is checked as a whole before any of it
        // is applied; the operators' checks are their own.
        self.load_own(own).map_err(own_state_error)?;
        for (rule, state) in self.rules.iter_mut().zip(rule_states) {
            rule.operator
                .restore(state)
                .map_err(|source| PipelineError::State {
                    part: rule.name.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    fn save_own(&self) -> Result<Vec<u8>, OperatorError> {
        let mut writer = StateWriter::new();
        let state = PipelineState {
            watermark: self.watermark,
            clocks: self
                .clocks
                .iter()
                .map(|clock| clock.as_ref().map(|c| c.save()))
                .collect(),
            reorder: self.reorder.save(&mut writer)?,
            output: self.output.save(&mut writer),
        };
        writer.finish(&state).map(seal)
    }

    fn load_own(&mut self, bytes: &[u8]) -> Result<(), OperatorError> {
        let (state, reader) = StateReader::open::<PipelineState>(unseal(bytes)?)?;
        if state.clocks.len() != self.clocks.len() {
            return Err(OperatorError::State(format!(
                "clocks of {} streams, but the program has {}",
                state.clocks.len(),
                self.clocks.len()
            )));
        }
        let mut clocks = self.clocks.clone();
        for (stream, (clock, saved)) in clocks.iter_mut().zip(state.clocks).enumerate() {
            match (clock, saved) {
                (Some(clock), Some(saved)) => clock.load(saved),
                (None, None) => {}
                (clock, _) => {
                    return Err(OperatorError::State(format!(
                        "stream `{}` is {} input here but {} in the saved state",
                        self.stream_name(stream),
                        if clock.is_some() { "an" } else { "not an" },
                        if clock.is_some() { "not" } else { "one" },
                    )))
                }
            }
        }
        let mut reorder = ReorderBuffer::new();
        reorder.load(state.reorder, &reader, |stream, batch| {
            self.check_waiting_batch(stream, batch)
        })?;
        let mut output = OutputBuffer::new(self.rules.len());
        output.load(state.output, &reader)?;

        self.clocks = clocks;
        self.reorder = reorder;
        self.output = output;
        self.watermark = state.watermark;
        Ok(())
    }

    /// A restored reorder batch must be what [`Pipeline::push`] would have
    /// admitted: of an input stream, with its time and offset columns.
    fn check_waiting_batch(&self, stream: usize, batch: &RecordBatch) -> Result<(), String> {
        if !matches!(self.clocks.get(stream), Some(Some(_))) {
            return Err("not an input stream".into());
        }
        let name = self.stream_name(stream);
        self.event_columns
            .read(stream, &name, batch)
            .map(|_| ())
            .map_err(|error| error.to_string())
    }
}

/// Appends an xxh3-64 of `bytes`. The Arrow IPC reader panics on some
/// corrupt input instead of failing, so corruption is caught before the
/// tables are decoded.
fn seal(mut bytes: Vec<u8>) -> Vec<u8> {
    let checksum = xxh3_64(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

/// The bytes [`seal`] was given, if the checksum matches.
fn unseal(sealed: &[u8]) -> Result<&[u8], OperatorError> {
    let corrupt = || OperatorError::State("the pipeline state is corrupt (checksum)".into());
    let split = sealed.len().checked_sub(8).ok_or_else(corrupt)?;
    let (bytes, checksum) = sealed.split_at(split);
    if checksum != xxh3_64(bytes).to_le_bytes() {
        return Err(corrupt());
    }
    Ok(bytes)
}

fn own_state_error(source: OperatorError) -> PipelineError {
    PipelineError::State {
        part: PIPELINE_STATE_ENTRY.to_string(),
        source,
    }
}
