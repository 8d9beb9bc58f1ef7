//! Orders derived events for output: by (time, rule index, per-rule
//! sequence), released once the watermark has passed their time, so the
//! output does not depend on how the input was cut into chunks.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use dsl::plan::Millis;
use operators::state::{StateReader, StateWriter, TableId};
use operators::{DerivedBatch, DerivedMeta, Evidence, Locator, OperatorError};
use serde::{Deserialize, Serialize};

/// One derived event ready for a sink.
#[derive(Debug, Clone)]
pub struct OutputEvent {
    /// Index of the rule in `Program::rules`.
    pub rule: usize,
    /// The rule's derived batch; this event is row `row` of it.
    pub batch: Arc<RecordBatch>,
    pub row: usize,
    pub meta: DerivedMeta,
}

#[derive(Debug, Default)]
pub struct OutputBuffer {
    waiting: BTreeMap<(Millis, usize, u64), OutputEvent>,
    /// Per rule: how many events it has emitted so far.
    sequences: Vec<u64>,
}

impl OutputBuffer {
    pub fn new(rule_count: usize) -> Self {
        OutputBuffer {
            waiting: BTreeMap::new(),
            sequences: vec![0; rule_count],
        }
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    pub fn add(&mut self, derived: DerivedBatch) {
        let rule = derived.rule;
        if rule >= self.sequences.len() {
            self.sequences.resize(rule + 1, 0);
        }
        let batch = Arc::new(derived.data);
        for (row, meta) in derived.meta.into_iter().enumerate() {
            let sequence = self.sequences[rule];
            self.sequences[rule] += 1;
            self.waiting.insert(
                (meta.time, rule, sequence),
                OutputEvent {
                    rule,
                    batch: batch.clone(),
                    row,
                    meta,
                },
            );
        }
    }

    /// Takes over `old`'s waiting events and sequence counters, with old
    /// rule `i` becoming rule `moved[i]`; events of rules not moved are
    /// dropped and counted.
    pub fn take_over(&mut self, old: OutputBuffer, moved: &[Option<usize>]) -> usize {
        let mut dropped = 0;
        for (rule, &sequence) in old.sequences.iter().enumerate() {
            if let Some(&Some(new)) = moved.get(rule) {
                if new >= self.sequences.len() {
                    self.sequences.resize(new + 1, 0);
                }
                self.sequences[new] = sequence;
            }
        }
        for ((time, rule, sequence), mut event) in old.waiting {
            match moved.get(rule).copied().flatten() {
                Some(new) => {
                    event.rule = new;
                    self.waiting.insert((time, new, sequence), event);
                }
                None => dropped += 1,
            }
        }
        dropped
    }

    /// The events earlier than `watermark`, in output order.
    pub fn take_before(&mut self, watermark: Millis) -> Vec<OutputEvent> {
        let later = self.waiting.split_off(&(watermark, 0, 0));
        std::mem::replace(&mut self.waiting, later)
            .into_values()
            .collect()
    }

    /// Every waiting event, in output order.
    pub fn take_all(&mut self) -> Vec<OutputEvent> {
        std::mem::take(&mut self.waiting).into_values().collect()
    }

    /// The state for a snapshot; each derived batch goes to `writer`'s
    /// tables once, however many of its rows wait.
    pub fn save(&self, writer: &mut StateWriter) -> OutputBufferState {
        let events = self
            .waiting
            .iter()
            .map(|(&(_, _, sequence), event)| WaitingEventState {
                rule: event.rule as u32,
                sequence,
                table: writer.shared_batch(&event.batch),
                row: event.row as u32,
                meta: MetaState::of(&event.meta),
            })
            .collect();
        OutputBufferState {
            sequences: self.sequences.clone(),
            events,
        }
    }

    /// Replaces the contents with saved ones, of a buffer with as many rules.
    pub fn load(
        &mut self,
        state: OutputBufferState,
        reader: &StateReader,
    ) -> Result<(), OperatorError> {
        if state.sequences.len() != self.sequences.len() {
            return Err(OperatorError::State(format!(
                "output order of {} rules, but the program has {}",
                state.sequences.len(),
                self.sequences.len()
            )));
        }
        let mut waiting = BTreeMap::new();
        for saved in state.events {
            let rule = saved.rule as usize;
            let batch = reader.batch(saved.table)?;
            let row = saved.row as usize;
            let issued = state.sequences.get(rule).copied().unwrap_or(0);
            if row >= batch.num_rows() || saved.sequence >= issued {
                return Err(OperatorError::State(format!(
                    "a waiting event of rule {rule} (sequence {}, row {row}) is out of range",
                    saved.sequence
                )));
            }
            let meta = saved.meta.into_meta();
            let key = (meta.time, rule, saved.sequence);
            let event = OutputEvent {
                rule,
                batch,
                row,
                meta,
            };
            if waiting.insert(key, event).is_some() {
                return Err(OperatorError::State(format!(
                    "rule {rule} has two waiting events of sequence {}",
                    saved.sequence
                )));
            }
        }
        self.waiting = waiting;
        self.sequences = state.sequences;
        Ok(())
    }
}

/// An [`OutputBuffer`]'s state in a snapshot.
#[derive(Debug, Serialize, Deserialize)]
pub struct OutputBufferState {
    /// Per rule: how many events it has emitted so far.
    sequences: Vec<u64>,
    /// In output order.
    events: Vec<WaitingEventState>,
}

#[derive(Debug, Serialize, Deserialize)]
struct WaitingEventState {
    rule: u32,
    /// The event's sequence within its rule: its place among equal times.
    sequence: u64,
    /// The derived batch it is a row of.
    table: TableId,
    row: u32,
    meta: MetaState,
}

/// [`DerivedMeta`] in a snapshot.
#[derive(Debug, Serialize, Deserialize)]
struct MetaState {
    time: Millis,
    key: Option<String>,
    id: String,
    /// (step, stream, offset or id) of each evidence event.
    evidence: Vec<(Option<String>, String, Locator)>,
    evidence_omitted: u64,
    window: Option<(Millis, Millis)>,
}

impl MetaState {
    fn of(meta: &DerivedMeta) -> Self {
        MetaState {
            time: meta.time,
            key: meta.key.clone(),
            id: meta.id.clone(),
            evidence: meta
                .evidence
                .iter()
                .map(|e| (e.step.clone(), e.stream.clone(), e.at.clone()))
                .collect(),
            evidence_omitted: meta.evidence_omitted,
            window: meta.window,
        }
    }

    fn into_meta(self) -> DerivedMeta {
        DerivedMeta {
            time: self.time,
            key: self.key,
            id: self.id,
            evidence: self
                .evidence
                .into_iter()
                .map(|(step, stream, at)| Evidence { step, stream, at })
                .collect(),
            evidence_omitted: self.evidence_omitted,
            window: self.window,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array};

    use super::*;

    fn derived(rule: usize, times: &[Millis]) -> DerivedBatch {
        let column: ArrayRef = Arc::new(Int64Array::from(times.to_vec()));
        DerivedBatch {
            rule,
            data: RecordBatch::try_from_iter([("t", column)]).unwrap(),
            meta: times
                .iter()
                .map(|&time| DerivedMeta {
                    time,
                    key: Some("k".into()),
                    id: format!("id-{rule}-{time}"),
                    evidence: vec![
                        Evidence {
                            step: Some("s".into()),
                            stream: "in".into(),
                            at: Locator::Offset(time),
                        },
                        Evidence {
                            step: Some("u".into()),
                            stream: "up".into(),
                            at: Locator::Id(format!("up-{time}")),
                        },
                    ],
                    evidence_omitted: time as u64,
                    window: Some((time - 5, time)),
                })
                .collect(),
        }
    }

    fn saved(buffer: &OutputBuffer) -> Vec<u8> {
        let mut writer = StateWriter::new();
        let state = buffer.save(&mut writer);
        writer.finish(&state).unwrap()
    }

    fn summary(events: &[OutputEvent]) -> Vec<(usize, usize, DerivedMeta)> {
        events
            .iter()
            .map(|e| (e.rule, e.row, e.meta.clone()))
            .collect()
    }

    #[test]
    fn a_restored_buffer_releases_the_same_events_sharing_batches() {
        let mut buffer = OutputBuffer::new(2);
        buffer.add(derived(1, &[10, 20, 20]));
        buffer.add(derived(0, &[20, 5]));
        let (state, reader) = StateReader::open::<OutputBufferState>(&saved(&buffer)).unwrap();
        let mut restored = OutputBuffer::new(2);
        restored.load(state, &reader).unwrap();
        // In output order: rule 0's 5, rule 1's 10, rule 0's 20, rule 1's 20s.
        let batches: Vec<&Arc<RecordBatch>> = restored.waiting.values().map(|e| &e.batch).collect();
        assert!(Arc::ptr_eq(batches[1], batches[3]) && Arc::ptr_eq(batches[1], batches[4]));
        assert!(!Arc::ptr_eq(batches[0], batches[1]));
        for b in [&mut buffer, &mut restored] {
            b.add(derived(0, &[20]));
        }
        assert_eq!(summary(&restored.take_all()), summary(&buffer.take_all()));
    }

    #[test]
    fn a_buffer_of_another_rule_count_is_refused() {
        let mut buffer = OutputBuffer::new(2);
        buffer.add(derived(1, &[10]));
        let (state, reader) = StateReader::open::<OutputBufferState>(&saved(&buffer)).unwrap();
        assert!(OutputBuffer::new(1).load(state, &reader).is_err());
    }
}
