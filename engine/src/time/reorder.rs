//! Holds admitted events until the global watermark passes them, then
//! releases them in global order as runs of consecutive same-stream events.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use arrow_array::RecordBatch;
use arrow_schema::ArrowError;
use arrow_select::interleave::interleave_record_batch;
use dsl::plan::Millis;

/// Consecutive released events of one stream, as one batch.
#[derive(Debug, Clone)]
pub struct Run {
    /// Catalog index of the stream.
    pub stream: usize,
    pub batch: RecordBatch,
}

/// One waiting event; the field order is the release order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    time: Millis,
    stream: usize,
    offset: i64,
    slot: usize,
    row: usize,
}

/// A batch some of whose rows still wait.
#[derive(Debug)]
struct Slot {
    batch: RecordBatch,
    waiting: usize,
}

#[derive(Debug, Default)]
pub struct ReorderBuffer {
    queue: BinaryHeap<Reverse<Pending>>,
    slots: Vec<Option<Slot>>,
    free_slots: Vec<usize>,
}

impl ReorderBuffer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Adds the events of `batch` (of stream `stream`); `times` and `offsets`
    /// are its event-time and offset columns.
    pub fn insert(&mut self, stream: usize, batch: RecordBatch, times: &[Millis], offsets: &[i64]) {
        if batch.num_rows() == 0 {
            return;
        }
        let slot = Slot {
            waiting: batch.num_rows(),
            batch,
        };
        let slot_index = match self.free_slots.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        for (row, (&time, &offset)) in times.iter().zip(offsets).enumerate() {
            self.queue.push(Reverse(Pending {
                time,
                stream,
                offset,
                slot: slot_index,
                row,
            }));
        }
    }

    /// Releases every event earlier than `watermark` (`None`: every event).
    pub fn release_before(&mut self, watermark: Option<Millis>) -> Result<Vec<Run>, ArrowError> {
        let mut released: Vec<Pending> = Vec::new();
        while let Some(Reverse(next)) = self.queue.peek() {
            if watermark.is_some_and(|w| next.time >= w) {
                break;
            }
            released.push(*next);
            self.queue.pop();
        }
        let mut runs = Vec::new();
        for group in released.chunk_by(|a, b| a.stream == b.stream) {
            runs.push(Run {
                stream: group[0].stream,
                batch: self.assemble(group)?,
            });
        }
        for event in &released {
            self.forget(event.slot);
        }
        Ok(runs)
    }

    /// One batch holding the rows of `group`, in order.
    fn assemble(&self, group: &[Pending]) -> Result<RecordBatch, ArrowError> {
        let first = group[0];
        let contiguous = group
            .iter()
            .enumerate()
            .all(|(i, p)| p.slot == first.slot && p.row == first.row + i);
        let batch_of = |slot: usize| {
            self.slots[slot].as_ref().map(|s| &s.batch).ok_or_else(|| {
                ArrowError::InvalidArgumentError("reorder slot already released".into())
            })
        };
        if contiguous {
            // In-order input: a zero-copy slice.
            return Ok(batch_of(first.slot)?.slice(first.row, group.len()));
        }
        let mut slots: Vec<usize> = Vec::new();
        let mut local_of: HashMap<usize, usize> = HashMap::new();
        let mut indices = Vec::with_capacity(group.len());
        for p in group {
            let local = *local_of.entry(p.slot).or_insert_with(|| {
                slots.push(p.slot);
                slots.len() - 1
            });
            indices.push((local, p.row));
        }
        let batches = slots
            .iter()
            .map(|&s| batch_of(s))
            .collect::<Result<Vec<_>, _>>()?;
        interleave_record_batch(&batches, &indices)
    }

    fn forget(&mut self, slot: usize) {
        if let Some(s) = self.slots[slot].as_mut() {
            s.waiting -= 1;
            if s.waiting == 0 {
                self.slots[slot] = None;
                self.free_slots.push(slot);
            }
        }
    }
}
