//! Orders derived events for output: by (time, rule index, per-rule
//! sequence), released once the watermark has passed their time, so the
//! output does not depend on how the input was cut into chunks.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use dsl::plan::Millis;
use operators::{DerivedBatch, DerivedMeta};

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
}
