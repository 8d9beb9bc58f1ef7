//! The per-event columns every operator reads besides the declared fields.

use arrow_array::{Array, Int64Array, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType as ArrowType, Schema};
use dsl::plan::Millis;

use super::arrow_cast;
use crate::derived::{Evidence, Locator};
use crate::error::{OperatorError, Result};
use crate::schema::{HASH_COLUMN, ID_COLUMN, OFFSET_COLUMN};

/// The columns of an input event that operators read besides its fields:
/// event time, [`OFFSET_COLUMN`], [`HASH_COLUMN`] and, for derived
/// streams, [`ID_COLUMN`]. Compiled once per input stream;
/// [`EventColumns::read`] once per batch.
#[derive(Debug, Clone)]
pub struct EventColumns {
    time: usize,
    offset: usize,
    hash: usize,
    /// `None` for input streams: their evidence names offsets.
    id: Option<usize>,
}

impl EventColumns {
    /// For batches of `schema` (a `stream_schema`) whose event time is `time_field`.
    pub fn new(schema: &Schema, time_field: &str) -> Result<Self> {
        Ok(Self {
            time: schema.index_of(time_field)?,
            offset: schema.index_of(OFFSET_COLUMN)?,
            hash: schema.index_of(HASH_COLUMN)?,
            id: schema.index_of(ID_COLUMN).ok(),
        })
    }

    /// Whether the stream is a derived one, whose evidence names ids.
    pub fn has_id(&self) -> bool {
        self.id.is_some()
    }

    /// The batch's time, offset and hash columns, typed.
    pub fn read(&self, batch: &RecordBatch) -> Result<EventRows> {
        let time = arrow_cast(batch.column(self.time), &ArrowType::Int64)?;
        let time = time
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| OperatorError::Input("event time is not a timestamp".into()))?
            .clone();
        if time.null_count() > 0 {
            return Err(OperatorError::Input("an event has no event time".into()));
        }
        let offset = batch
            .column(self.offset)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| OperatorError::Input(format!("{OFFSET_COLUMN} is not Int64")))?
            .clone();
        let hash = batch
            .column(self.hash)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| OperatorError::Input(format!("{HASH_COLUMN} is not UInt64")))?
            .clone();
        let id = self
            .id
            .map(|column| {
                batch
                    .column(column)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .cloned()
                    .ok_or_else(|| OperatorError::Input(format!("{ID_COLUMN} is not Utf8")))
            })
            .transpose()?;
        Ok(EventRows {
            time,
            offset,
            hash,
            id,
        })
    }
}

/// Time, offset and hash of the events of one batch.
#[derive(Debug, Clone)]
pub struct EventRows {
    time: Int64Array,
    offset: Int64Array,
    hash: UInt64Array,
    id: Option<StringArray>,
}

impl EventRows {
    pub fn len(&self) -> usize {
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    /// Event time of row `row`.
    pub fn time(&self, row: usize) -> Millis {
        self.time.value(row)
    }

    /// Event times of all rows (sorted, per the operator contract).
    pub fn times(&self) -> &[Millis] {
        self.time.values()
    }

    pub fn offset(&self, row: usize) -> i64 {
        self.offset.value(row)
    }

    pub fn hash(&self, row: usize) -> u64 {
        self.hash.value(row)
    }

    /// How evidence names row `row`: by id for a derived stream, else by offset.
    pub fn locator(&self, row: usize) -> Locator {
        match &self.id {
            Some(ids) => Locator::Id(ids.value(row).to_owned()),
            None => Locator::Offset(self.offset(row)),
        }
    }

    /// The evidence entry naming row `row` of `stream`, taken by `step`.
    pub fn evidence(&self, row: usize, stream: &str, step: Option<&str>) -> Evidence {
        Evidence {
            step: step.map(str::to_owned),
            stream: stream.to_owned(),
            at: self.locator(row),
        }
    }
}
