//! Operator state as bytes, for checkpoints.
//!
//! A snapshot is a serde structure (encoded with postcard) plus the Arrow
//! data it refers to by index (encoded as Arrow IPC streams): captured
//! events, keys and aggregate states keep their exact Arrow types, and a
//! batch shared by many candidates is written once.
//!
//! An operator writes its state with a [`StateWriter`] and reads it back
//! with a [`StateReader`]; both sides agree on the structure because they
//! are the same operator of the same rule set (the checkpoint store refuses
//! state of another rule set).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{Field, Schema};
use datafusion_common::ScalarValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{OperatorError, Result};
use crate::key::Key;

/// Index of a table (record batch) of a snapshot.
pub type TableId = u32;

/// Where a snapshot's keys are: a table of key components, one row a key.
/// `None` rows stand for the key of rules without `by`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyTable {
    table: TableId,
    /// Per key written: its row in `table`, `None` for no key.
    rows: Vec<Option<u32>>,
}

/// The whole snapshot: the operator's structure and the tables.
#[derive(Serialize, Deserialize)]
struct Envelope {
    root: Vec<u8>,
    tables: Vec<Vec<u8>>,
}

/// Collects the tables of a snapshot while the operator describes its state.
#[derive(Default)]
pub struct StateWriter {
    tables: Vec<RecordBatch>,
    /// Batches already written, by the address of their shared allocation.
    shared: HashMap<usize, TableId>,
}

impl StateWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes `batch` once however often it is referenced: captured events
    /// share the batch they were copied into.
    pub fn shared_batch(&mut self, batch: &Arc<RecordBatch>) -> TableId {
        let address = Arc::as_ptr(batch) as usize;
        if let Some(&id) = self.shared.get(&address) {
            return id;
        }
        let id = self.batch(batch.as_ref().clone());
        self.shared.insert(address, id);
        id
    }

    pub fn batch(&mut self, batch: RecordBatch) -> TableId {
        self.tables.push(batch);
        (self.tables.len() - 1) as TableId
    }

    /// Writes rows of scalars column by column; every row has the types of
    /// the first. Read back with [`StateReader::scalar_rows`].
    pub fn scalar_rows(&mut self, rows: &[Vec<ScalarValue>]) -> Result<TableId> {
        let width = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != width) {
            return Err(OperatorError::State(
                "rows of scalars of different widths".into(),
            ));
        }
        let columns = (0..width)
            .map(|c| ScalarValue::iter_to_array(rows.iter().map(|r| r[c].clone())))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        let batch = batch_of(columns, rows.len())?;
        Ok(self.batch(batch))
    }

    /// Writes keys (all of one rule, so of one shape) as one table.
    pub fn keys<'a>(
        &mut self,
        keys: impl IntoIterator<Item = Option<&'a Key>>,
    ) -> Result<KeyTable> {
        let mut parts = Vec::new();
        let mut rows = Vec::new();
        for key in keys {
            rows.push(key.map(|k| {
                parts.push(k.parts().to_vec());
                (parts.len() - 1) as u32
            }));
        }
        Ok(KeyTable {
            table: self.scalar_rows(&parts)?,
            rows,
        })
    }

    /// The snapshot bytes: `root` describes the state, referring to the
    /// tables written so far by their ids.
    pub fn finish<T: Serialize>(self, root: &T) -> Result<Vec<u8>> {
        let root = postcard::to_allocvec(root).map_err(state_error)?;
        let tables = self
            .tables
            .iter()
            .map(encode_batch)
            .collect::<Result<Vec<_>>>()?;
        postcard::to_allocvec(&Envelope { root, tables }).map_err(state_error)
    }
}

/// The tables of a snapshot being restored.
pub struct StateReader {
    tables: Vec<Arc<RecordBatch>>,
}

impl StateReader {
    /// Decodes snapshot bytes into the operator's structure and its tables.
    pub fn open<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, StateReader)> {
        let envelope: Envelope = postcard::from_bytes(bytes).map_err(state_error)?;
        let root = postcard::from_bytes(&envelope.root).map_err(state_error)?;
        let tables = envelope
            .tables
            .iter()
            .map(|bytes| decode_batch(bytes).map(Arc::new))
            .collect::<Result<_>>()?;
        Ok((root, StateReader { tables }))
    }

    /// Table `id`; the same `Arc` for every call, so captured events that
    /// shared a batch before the snapshot share it again.
    pub fn batch(&self, id: TableId) -> Result<Arc<RecordBatch>> {
        self.tables
            .get(id as usize)
            .cloned()
            .ok_or_else(|| OperatorError::State(format!("no table {id} in the snapshot")))
    }

    /// The rows [`StateWriter::scalar_rows`] wrote as table `id`.
    pub fn scalar_rows(&self, id: TableId) -> Result<Vec<Vec<ScalarValue>>> {
        let batch = self.batch(id)?;
        (0..batch.num_rows())
            .map(|row| {
                batch
                    .columns()
                    .iter()
                    .map(|column| ScalarValue::try_from_array(column, row))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(OperatorError::from)
            })
            .collect()
    }

    /// The keys [`StateWriter::keys`] wrote, in the order written.
    pub fn keys(&self, table: &KeyTable) -> Result<Vec<Option<Key>>> {
        let parts = self.scalar_rows(table.table)?;
        table
            .rows
            .iter()
            .map(|row| {
                row.map(|r| {
                    parts.get(r as usize).cloned().map(Key::new).ok_or_else(|| {
                        OperatorError::State(format!("no key row {r} in the snapshot"))
                    })
                })
                .transpose()
            })
            .collect()
    }
}

/// A batch of `columns` named `c0, c1, ...`, with `rows` rows even when
/// there are no columns.
fn batch_of(columns: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
        .collect();
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &options,
    )?)
}

fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut writer = StreamWriter::try_new(&mut bytes, batch.schema_ref())?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    // IPC cannot carry the row count of a batch without columns.
    bytes.extend_from_slice(&(batch.num_rows() as u64).to_le_bytes());
    // The IPC reader trusts lengths it reads: a damaged table must be caught
    // before it gets there (it may panic or try to allocate without bound).
    let checksum = xxh3_64(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    Ok(bytes)
}

fn decode_batch(bytes: &[u8]) -> Result<RecordBatch> {
    let truncated = || OperatorError::State("a truncated table".into());
    let (body, checksum) = bytes.split_at(bytes.len().checked_sub(8).ok_or_else(truncated)?);
    if u64::from_le_bytes(checksum.try_into().unwrap_or_default()) != xxh3_64(body) {
        return Err(OperatorError::State(
            "a damaged table (checksum mismatch)".into(),
        ));
    }
    let split = body.len().checked_sub(8).ok_or_else(truncated)?;
    let (ipc, rows) = body.split_at(split);
    let rows = u64::from_le_bytes(rows.try_into().unwrap_or_default()) as usize;
    let mut reader = StreamReader::try_new(ipc, None)?;
    let schema = reader.schema();
    let batch = match reader.next() {
        Some(batch) => batch?,
        None => RecordBatch::new_empty(schema),
    };
    if batch.num_columns() == 0 {
        return batch_of(Vec::new(), rows);
    }
    Ok(batch)
}

fn state_error(e: postcard::Error) -> OperatorError {
    OperatorError::State(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};

    #[test]
    fn structure_tables_and_keys_round_trip() {
        let batch = Arc::new(
            RecordBatch::try_from_iter([
                ("a", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
                ("b", Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef),
            ])
            .unwrap(),
        );
        let key = Key::new(vec![
            ScalarValue::Utf8(Some("u1".into())),
            ScalarValue::Int64(Some(7)),
        ]);
        let mut writer = StateWriter::new();
        let first = writer.shared_batch(&batch);
        let again = writer.shared_batch(&batch);
        assert_eq!(first, again);
        let keys = writer.keys([Some(&key), None]).unwrap();
        let empty = writer.scalar_rows(&[vec![], vec![]]).unwrap();
        let bytes = writer
            .finish(&(first, keys, empty, "root".to_string()))
            .unwrap();

        let ((first, keys, empty, label), reader): ((TableId, KeyTable, TableId, String), _) =
            StateReader::open(&bytes).unwrap();
        assert_eq!(label, "root");
        assert_eq!(reader.batch(first).unwrap().as_ref(), batch.as_ref());
        assert_eq!(reader.keys(&keys).unwrap(), vec![Some(key), None]);
        assert_eq!(
            reader.scalar_rows(empty).unwrap(),
            vec![Vec::<ScalarValue>::new(); 2]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(StateReader::open::<u64>(b"\xff\xff\xff").is_err());
        assert!(decode_batch(b"short").is_err());
        let mut table = encode_batch(&RecordBatch::new_empty(Arc::new(Schema::empty()))).unwrap();
        assert!(decode_batch(&table).is_ok());
        table[0] ^= 1;
        assert!(decode_batch(&table).is_err());
    }
}
