//! A pattern operator's snapshot: the automaton's candidates, the events
//! and keys they hold, and the emitter.
//!
//! The automaton is saved with keys and events replaced by numbers: keys
//! index a key table ([`StateWriter::keys`]); events index a list of
//! [`SavedEvent`]s, one per captured event however many candidates took it.
//! The rows an event points into (the kept columns of its input batch,
//! shared by the events of that batch) are written once per batch
//! ([`StateWriter::shared_batch`]), and restored events share them again,
//! so a restored operator holds what the original held, no more.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::SchemaRef;
use serde::{Deserialize, Serialize};

use super::automaton::{Automaton, AutomatonState, InvalidState};
use super::capture::{CapturedEvent, EventRef};
use crate::emit::{Emitter, EmitterState};
use crate::error::{OperatorError, Result};
use crate::key::Key;
use crate::state::{KeyTable, StateReader, StateWriter, TableId};

/// The automaton as the operator runs it.
pub type PatternAutomaton = Automaton<Option<Key>, EventRef>;

/// The root of a pattern operator's snapshot.
#[derive(Debug, Serialize, Deserialize)]
struct PatternState {
    /// Keys are rows of `keys`, events indices into `events`.
    automaton: AutomatonState<u32, u32>,
    keys: KeyTable,
    events: Vec<SavedEvent>,
    emitter: EmitterState,
}

/// One captured event (see [`CapturedEvent`]).
#[derive(Debug, Serialize, Deserialize)]
struct SavedEvent {
    /// The table of the rows it shares with its input batch's events.
    rows: TableId,
    row: u32,
    input: u32,
    offset: i64,
    hash: u64,
}

impl From<InvalidState> for OperatorError {
    fn from(e: InvalidState) -> Self {
        OperatorError::State(e.to_string())
    }
}

/// The snapshot bytes of an operator whose state is `automaton` and
/// `emitter`.
pub fn save(automaton: &PatternAutomaton, emitter: &Emitter) -> Result<Vec<u8>> {
    let mut writer = StateWriter::new();
    let mut keys: Vec<Option<Key>> = Vec::new();
    let mut events = EventTable::default();
    let automaton = automaton.save_with(
        |key| {
            keys.push(key.clone());
            (keys.len() - 1) as u32
        },
        |event| events.id_of(event, &mut writer),
    );
    let state = PatternState {
        automaton,
        keys: writer.keys(keys.iter().map(Option::as_ref))?,
        events: events.saved,
        emitter: emitter.save(&mut writer)?,
    };
    writer.finish(&state)
}

/// Replaces `automaton`'s and `emitter`'s state with the one `bytes` holds.
/// `input_rows[i]` is the schema of the rows captured events of input `i`
/// keep; restored events must have it.
pub fn restore(
    bytes: &[u8],
    automaton: &mut PatternAutomaton,
    emitter: &mut Emitter,
    input_rows: &[&SchemaRef],
) -> Result<()> {
    let (state, reader) = StateReader::open::<PatternState>(bytes)?;
    let events = state
        .events
        .iter()
        .map(|saved| restore_event(saved, &reader, input_rows))
        .collect::<Result<Vec<EventRef>>>()?;
    // Each key is handed out once: a row named twice is a corrupt snapshot.
    let mut keys: Vec<Option<Option<Key>>> =
        reader.keys(&state.keys)?.into_iter().map(Some).collect();
    automaton.load_with(
        state.automaton,
        |row| {
            keys.get_mut(row as usize)
                .and_then(Option::take)
                .ok_or_else(|| OperatorError::State(format!("key {row} missing or reused")))
        },
        |&id| {
            events
                .get(id as usize)
                .cloned()
                .ok_or_else(|| OperatorError::State(format!("no captured event {id}")))
        },
    )?;
    emitter.load(state.emitter, &reader)
}

/// Numbers captured events as they are saved, once each.
#[derive(Default)]
struct EventTable {
    /// By the address of the event's shared allocation.
    ids: HashMap<usize, u32>,
    saved: Vec<SavedEvent>,
}

impl EventTable {
    fn id_of(&mut self, event: &EventRef, writer: &mut StateWriter) -> u32 {
        let address = Arc::as_ptr(event) as usize;
        if let Some(&id) = self.ids.get(&address) {
            return id;
        }
        let id = self.saved.len() as u32;
        self.saved.push(SavedEvent {
            rows: writer.shared_batch(event.shared_rows()),
            row: event.row() as u32,
            input: event.input as u32,
            offset: event.offset,
            hash: event.hash,
        });
        self.ids.insert(address, id);
        id
    }
}

fn restore_event(
    saved: &SavedEvent,
    reader: &StateReader,
    input_rows: &[&SchemaRef],
) -> Result<EventRef> {
    let rows = reader.batch(saved.rows)?;
    let input = saved.input as usize;
    let schema = input_rows
        .get(input)
        .ok_or_else(|| OperatorError::State(format!("a captured event of input {input}")))?;
    // Cross conditions and emit read the rows by the columns of the input.
    if rows.schema().fields() != schema.fields() {
        return Err(OperatorError::State(format!(
            "captured rows of input {input} with other columns than it keeps"
        )));
    }
    let row = saved.row as usize;
    if row >= rows.num_rows() {
        return Err(OperatorError::State(format!(
            "captured row {row} of {} rows",
            rows.num_rows()
        )));
    }
    Ok(Arc::new(CapturedEvent::new(
        rows,
        row,
        input,
        saved.offset,
        saved.hash,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, RecordBatch};

    fn rows(values: Vec<i64>) -> Arc<RecordBatch> {
        let column: ArrayRef = Arc::new(Int64Array::from(values));
        Arc::new(RecordBatch::try_from_iter([("v", column)]).unwrap())
    }

    #[test]
    fn events_and_their_rows_are_written_once_and_shared_again() {
        let batch = rows(vec![1, 2, 3]);
        let first: EventRef = Arc::new(CapturedEvent::new(Arc::clone(&batch), 0, 0, 10, 100));
        let second: EventRef = Arc::new(CapturedEvent::new(Arc::clone(&batch), 2, 0, 12, 102));
        let mut writer = StateWriter::new();
        let mut table = EventTable::default();
        let ids = [&first, &second, &first].map(|e| table.id_of(e, &mut writer));
        assert_eq!(ids, [0, 1, 0], "an event taken twice is saved once");
        let bytes = writer.finish(&table.saved).unwrap();

        let (saved, reader) = StateReader::open::<Vec<SavedEvent>>(&bytes).unwrap();
        let schema = batch.schema();
        let restored = saved
            .iter()
            .map(|s| restore_event(s, &reader, &[&schema]))
            .collect::<Result<Vec<_>>>()
            .unwrap();
        assert!(restored[0].same_rows(&restored[1]), "rows shared again");
        assert_eq!(restored[1].as_batch(), second.as_batch());
        assert_eq!((restored[1].offset, restored[1].hash), (12, 102));
    }

    #[test]
    fn events_that_do_not_fit_the_inputs_are_refused() {
        let batch = rows(vec![1]);
        let event: EventRef = Arc::new(CapturedEvent::new(Arc::clone(&batch), 0, 0, 0, 0));
        let mut writer = StateWriter::new();
        let mut table = EventTable::default();
        table.id_of(&event, &mut writer);
        let mut saved = table.saved;
        saved.push(SavedEvent { row: 5, ..saved[0] });
        saved.push(SavedEvent {
            input: 1,
            ..saved[0]
        });
        let bytes = writer.finish(&saved).unwrap();

        let (saved, reader) = StateReader::open::<Vec<SavedEvent>>(&bytes).unwrap();
        let schema = batch.schema();
        let other = Arc::new(arrow_schema::Schema::empty());
        assert!(restore_event(&saved[0], &reader, &[&schema]).is_ok());
        assert!(
            restore_event(&saved[0], &reader, &[&other]).is_err(),
            "other columns"
        );
        assert!(
            restore_event(&saved[1], &reader, &[&schema]).is_err(),
            "no such row"
        );
        assert!(
            restore_event(&saved[2], &reader, &[&schema]).is_err(),
            "no such input"
        );
    }
}
