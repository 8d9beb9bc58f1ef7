//! Holds admitted events until the global watermark passes them, then
//! releases them in global order as runs of consecutive same-stream events.
//!
//! The order is (time, stream, offset, slot, row). Each inserted batch is
//! kept as one sorted run of its rows (already sorted when events arrive in
//! order: no sort, no per-event heap push); a release merges the runs by
//! their heads, taking from one run as long as it stays ahead of every
//! other, so in-order input costs a comparison per event and a heap
//! operation per batch.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use arrow_array::{RecordBatch, UInt32Array};
use arrow_schema::ArrowError;
use arrow_select::interleave::interleave_record_batch;
use arrow_select::take::take_record_batch;
use dsl::plan::Millis;
use operators::state::{StateReader, StateWriter, TableId};
use operators::OperatorError;
use serde::{Deserialize, Serialize};

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

/// The waiting rows of one inserted batch, in release order.
#[derive(Debug)]
struct SortedRun {
    stream: usize,
    slot: usize,
    /// (time, offset, row), sorted; rows before `next` are released.
    rows: Vec<(Millis, i64, usize)>,
    next: usize,
}

impl SortedRun {
    fn pending(&self, &(time, offset, row): &(Millis, i64, usize)) -> Pending {
        Pending {
            time,
            stream: self.stream,
            offset,
            slot: self.slot,
            row,
        }
    }

    fn head(&self) -> Option<Pending> {
        self.rows.get(self.next).map(|row| self.pending(row))
    }

    fn waiting(&self) -> impl Iterator<Item = Pending> + '_ {
        self.rows[self.next..].iter().map(|row| self.pending(row))
    }
}

#[derive(Debug, Default)]
pub struct ReorderBuffer {
    /// The runs with rows waiting, by the id in `heads`.
    runs: HashMap<usize, SortedRun>,
    /// Each waiting run's first waiting row, and the run's id.
    heads: BinaryHeap<Reverse<(Pending, usize)>>,
    next_run: usize,
    /// Rows waiting, over every run.
    waiting: usize,
    slots: Vec<Option<Slot>>,
    free_slots: Vec<usize>,
}

impl ReorderBuffer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.waiting
    }

    pub fn is_empty(&self) -> bool {
        self.waiting == 0
    }

    /// Adds the rows of `slot` as a run; `rows` is (time, offset, row).
    fn add_run(&mut self, stream: usize, slot: usize, mut rows: Vec<(Millis, i64, usize)>) {
        if !rows.is_sorted() {
            rows.sort_unstable();
        }
        let run = SortedRun {
            stream,
            slot,
            rows,
            next: 0,
        };
        let Some(head) = run.head() else {
            return;
        };
        self.waiting += run.rows.len();
        let id = self.next_run;
        self.next_run += 1;
        self.heads.push(Reverse((head, id)));
        self.runs.insert(id, run);
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
        let rows = times
            .iter()
            .zip(offsets)
            .enumerate()
            .map(|(row, (&time, &offset))| (time, offset, row))
            .collect();
        self.add_run(stream, slot_index, rows);
    }

    /// Releases every event earlier than `watermark` (`None`: every event).
    pub fn release_before(&mut self, watermark: Option<Millis>) -> Result<Vec<Run>, ArrowError> {
        let mut released: Vec<Pending> = Vec::new();
        while let Some(Reverse((head, id))) = self.heads.peek().copied() {
            if watermark.is_some_and(|w| head.time >= w) {
                break;
            }
            self.heads.pop();
            // The other runs' smallest head: this run goes first up to it.
            let bound = self.heads.peek().map(|Reverse((other, _))| *other);
            let Some(run) = self.runs.get_mut(&id) else {
                continue;
            };
            while let Some(next) = run.head() {
                let passed = watermark.is_some_and(|w| next.time >= w);
                if passed || bound.is_some_and(|b| next >= b) {
                    break;
                }
                released.push(next);
                run.next += 1;
            }
            match run.head() {
                Some(next) => self.heads.push(Reverse((next, id))),
                None => {
                    self.runs.remove(&id);
                }
            }
        }
        self.waiting -= released.len();
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

    /// The state for a snapshot: per slot, only its waiting rows go to
    /// `writer`'s tables. Slot numbers and the free list are kept as they
    /// are, because the slot breaks ties between events of equal time,
    /// stream and offset.
    pub fn save(&self, writer: &mut StateWriter) -> Result<ReorderState, OperatorError> {
        let mut waiting: BTreeMap<usize, Vec<Pending>> = BTreeMap::new();
        for pending in self.runs.values().flat_map(SortedRun::waiting) {
            waiting.entry(pending.slot).or_default().push(pending);
        }
        let mut slots = Vec::with_capacity(waiting.len());
        for (slot, mut pending) in waiting {
            pending.sort_by_key(|p| p.row);
            let batch = self
                .slots
                .get(slot)
                .and_then(Option::as_ref)
                .map(|s| &s.batch)
                .ok_or_else(|| {
                    OperatorError::State(format!("reorder slot {slot} is not in use"))
                })?;
            let compacted = if pending.len() == batch.num_rows() {
                batch.clone()
            } else {
                let rows = UInt32Array::from_iter_values(pending.iter().map(|p| p.row as u32));
                take_record_batch(batch, &rows)?
            };
            slots.push(SlotState {
                slot: slot as u32,
                stream: pending[0].stream as u32,
                table: writer.batch(compacted),
                times: pending.iter().map(|p| p.time).collect(),
                offsets: pending.iter().map(|p| p.offset).collect(),
            });
        }
        Ok(ReorderState {
            slot_count: self.slots.len() as u32,
            free_slots: self.free_slots.iter().map(|&s| s as u32).collect(),
            slots,
        })
    }

    /// Replaces the contents with saved ones. `check_batch` vets each
    /// restored batch for its stream (the caller knows the schemas), so a
    /// corrupt snapshot is refused here rather than failing an operator.
    pub fn load(
        &mut self,
        state: ReorderState,
        reader: &StateReader,
        check_batch: impl Fn(usize, &RecordBatch) -> Result<(), String>,
    ) -> Result<(), OperatorError> {
        let slot_count = state.slot_count as usize;
        if state.free_slots.len() + state.slots.len() != slot_count {
            return Err(OperatorError::State(format!(
                "{slot_count} reorder slots, but {} free and {} in use",
                state.free_slots.len(),
                state.slots.len()
            )));
        }
        let mut taken = vec![false; slot_count];
        let mut take = |slot: u32| match taken.get_mut(slot as usize) {
            Some(used) if !*used => {
                *used = true;
                Ok(slot as usize)
            }
            _ => Err(OperatorError::State(format!(
                "reorder slot {slot} is out of range or twice"
            ))),
        };
        let free_slots = state
            .free_slots
            .iter()
            .map(|&s| take(s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut slots: Vec<Option<Slot>> = (0..slot_count).map(|_| None).collect();
        let mut restored = ReorderBuffer::default();
        for saved in state.slots {
            let slot = take(saved.slot)?;
            let stream = saved.stream as usize;
            let batch = reader.batch(saved.table)?.as_ref().clone();
            let rows = batch.num_rows();
            if rows == 0 || saved.times.len() != rows || saved.offsets.len() != rows {
                return Err(OperatorError::State(format!(
                    "reorder slot {slot}: {rows} rows, {} times, {} offsets",
                    saved.times.len(),
                    saved.offsets.len()
                )));
            }
            check_batch(stream, &batch).map_err(|problem| {
                OperatorError::State(format!("reorder slot {slot} (stream {stream}): {problem}"))
            })?;
            let waiting = saved
                .times
                .iter()
                .zip(&saved.offsets)
                .enumerate()
                .map(|(row, (&time, &offset))| (time, offset, row))
                .collect();
            restored.add_run(stream, slot, waiting);
            slots[slot] = Some(Slot {
                batch,
                waiting: rows,
            });
        }
        restored.slots = slots;
        restored.free_slots = free_slots;
        *self = restored;
        Ok(())
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

/// A [`ReorderBuffer`]'s state in a snapshot.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReorderState {
    /// How many slot numbers exist, free or in use.
    slot_count: u32,
    /// The free list, in order (the last is reused first).
    free_slots: Vec<u32>,
    slots: Vec<SlotState>,
}

/// One slot in use: its waiting rows, compacted in their original order.
#[derive(Debug, Serialize, Deserialize)]
struct SlotState {
    slot: u32,
    /// Catalog index of the stream of the slot's events.
    stream: u32,
    table: TableId,
    /// Per row of `table`: its event time and offset (the release order).
    times: Vec<Millis>,
    offsets: Vec<i64>,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array};

    use super::*;

    fn batch(values: &[i64]) -> RecordBatch {
        let column: ArrayRef = Arc::new(Int64Array::from(values.to_vec()));
        RecordBatch::try_from_iter([("v", column)]).unwrap()
    }

    fn accept(_: usize, _: &RecordBatch) -> Result<(), String> {
        Ok(())
    }

    fn round_trip(buffer: &ReorderBuffer) -> Result<ReorderBuffer, OperatorError> {
        let mut writer = StateWriter::new();
        let state = buffer.save(&mut writer)?;
        let bytes = writer.finish(&state)?;
        let (state, reader) = StateReader::open::<ReorderState>(&bytes)?;
        let mut restored = ReorderBuffer::new();
        restored.load(state, &reader, accept)?;
        Ok(restored)
    }

    fn released(buffer: &mut ReorderBuffer) -> Vec<(usize, Vec<RecordBatch>)> {
        buffer
            .release_before(None)
            .unwrap()
            .into_iter()
            .map(|run| (run.stream, vec![run.batch]))
            .collect()
    }

    #[test]
    fn a_restored_buffer_keeps_slots_and_releases_the_same_runs() {
        let mut buffer = ReorderBuffer::new();
        buffer.insert(0, batch(&[1, 2, 3]), &[10, 30, 20], &[1, 2, 3]);
        buffer.insert(1, batch(&[4, 5]), &[5, 40], &[1, 2]);
        buffer.insert(0, batch(&[6]), &[20], &[3]);
        buffer.release_before(Some(15)).unwrap();
        let mut restored = round_trip(&buffer).unwrap();
        assert_eq!(restored.len(), buffer.len());
        assert_eq!(restored.free_slots, buffer.free_slots);
        // Slot 0 kept only its waiting rows, in their order.
        assert_eq!(restored.slots[0].as_ref().unwrap().batch, batch(&[2, 3]));
        // A new batch takes the same free slot in both.
        for b in [&mut buffer, &mut restored] {
            b.insert(1, batch(&[7]), &[20], &[0]);
        }
        assert_eq!(released(&mut restored), released(&mut buffer));
    }

    #[test]
    fn inconsistent_slots_are_refused() {
        let mut buffer = ReorderBuffer::new();
        buffer.insert(0, batch(&[1, 2]), &[10, 20], &[1, 2]);
        buffer.insert(0, batch(&[3]), &[30], &[3]);
        let mut writer = StateWriter::new();
        let state = buffer.save(&mut writer).unwrap();
        let bytes = writer.finish(&state).unwrap();
        let load = |change: &dyn Fn(&mut ReorderState)| {
            let (mut state, reader) = StateReader::open::<ReorderState>(&bytes).unwrap();
            change(&mut state);
            ReorderBuffer::new().load(state, &reader, accept)
        };
        assert!(load(&|_| {}).is_ok());
        assert!(load(&|s| s.slot_count = 5).is_err());
        assert!(load(&|s| s.slots[1].slot = 0).is_err());
        assert!(load(&|s| s.slots[1].slot = 9).is_err());
        assert!(load(&|s| s.slots[0].times.pop().map(drop).unwrap_or(())).is_err());
        assert!(load(&|s| s.slots[0].table = 7).is_err());
        let refuse = |_: usize, _: &RecordBatch| Err("no".to_string());
        let (state, reader) = StateReader::open::<ReorderState>(&bytes).unwrap();
        assert!(ReorderBuffer::new().load(state, &reader, refuse).is_err());
    }

    /// One step of a property test: insert a batch of a stream (its rows'
    /// times), or release before a watermark (`None`: everything).
    #[derive(Debug, Clone)]
    enum Step {
        Insert { stream: usize, times: Vec<Millis> },
        Release(Option<Millis>),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            3 => (0..3usize, proptest::collection::vec(0..50i64, 0..12))
                .prop_map(|(stream, times)| Step::Insert { stream, times }),
            1 => proptest::option::of(0..60i64).prop_map(Step::Release),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 512,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_0e0d),
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Against a model that sorts everything waiting by (time, stream,
        /// offset) at each release (offsets are unique per stream, as line
        /// numbers are); a snapshot round trip at every release changes
        /// nothing.
        #[test]
        fn releases_in_global_order_like_a_full_sort(steps in proptest::collection::vec(step(), 1..40)) {
            let mut buffer = ReorderBuffer::new();
            let mut model: Vec<(Millis, usize, i64)> = Vec::new();
            let mut next_offset = [0i64; 3];
            for step in steps {
                match step {
                    Step::Insert { stream, times } => {
                        let offsets: Vec<i64> = times
                            .iter()
                            .map(|_| {
                                next_offset[stream] += 1;
                                next_offset[stream]
                            })
                            .collect();
                        model.extend(times.iter().zip(&offsets).map(|(&t, &o)| (t, stream, o)));
                        buffer.insert(stream, batch(&offsets), &times, &offsets);
                    }
                    Step::Release(watermark) => {
                        buffer = round_trip(&buffer).unwrap();
                        model.sort_unstable();
                        let cut = model.partition_point(|&(t, _, _)| watermark.is_none_or(|w| t < w));
                        let expected: Vec<(usize, i64)> =
                            model.drain(..cut).map(|(_, s, o)| (s, o)).collect();
                        let got: Vec<(usize, i64)> = buffer
                            .release_before(watermark)
                            .unwrap()
                            .iter()
                            .flat_map(|run| {
                                let values = run.batch.column(0).as_any()
                                    .downcast_ref::<Int64Array>().unwrap().values().to_vec();
                                values.into_iter().map(move |v| (run.stream, v))
                            })
                            .collect();
                        proptest::prop_assert_eq!(got, expected);
                        proptest::prop_assert_eq!(buffer.len(), model.len());
                    }
                }
            }
        }
    }
}
