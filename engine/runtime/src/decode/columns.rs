//! Builds the declared columns of a chunk from the values [`read_line`]
//! leaves in a [`Row`]: one pass over each line both checks it and reads
//! it, for streams whose fields are all scalars (nested records go through
//! arrow-json).
//!
//! [`read_line`]: super::validate::read_line

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, SchemaRef};
use dsl::plan::{DataType, Field};

use super::validate::{Cell, Row};

/// One builder per declared field.
pub struct ColumnBuilders {
    columns: Vec<Column>,
}

enum Column {
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Time(TimestampMillisecondBuilder),
}

impl ColumnBuilders {
    /// `None` when a field is not a scalar.
    pub fn new(fields: &[Field], capacity: usize) -> Option<Self> {
        let columns = fields
            .iter()
            .map(|field| {
                Some(match field.ty {
                    DataType::String => {
                        Column::Str(StringBuilder::with_capacity(capacity, capacity * 16))
                    }
                    DataType::Int => Column::Int(Int64Builder::with_capacity(capacity)),
                    DataType::Float => Column::Float(Float64Builder::with_capacity(capacity)),
                    DataType::Bool => Column::Bool(BooleanBuilder::with_capacity(capacity)),
                    DataType::Timestamp => {
                        Column::Time(TimestampMillisecondBuilder::with_capacity(capacity))
                    }
                    DataType::Record(_) | DataType::Null => return None,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ColumnBuilders { columns })
    }

    /// Appends the values of one valid line. A cell that does not fit its
    /// column (which [`read_line`](super::validate::read_line) does not
    /// leave) is appended as null.
    pub fn append(&mut self, row: &Row) {
        for (column, cell) in self.columns.iter_mut().zip(&row.cells) {
            match (column, *cell) {
                (Column::Str(b), Cell::Str(start, end)) => b.append_value(row.str(start, end)),
                (Column::Int(b), Cell::Int(v)) => b.append_value(v),
                (Column::Float(b), Cell::Float(v)) => b.append_value(v),
                (Column::Bool(b), Cell::Bool(v)) => b.append_value(v),
                (Column::Time(b), Cell::Time(v)) => b.append_value(v),
                (Column::Str(b), _) => b.append_null(),
                (Column::Int(b), _) => b.append_null(),
                (Column::Float(b), _) => b.append_null(),
                (Column::Bool(b), _) => b.append_null(),
                (Column::Time(b), _) => b.append_null(),
            }
        }
    }

    /// The rows appended so far, in `declared` (the declared schema).
    pub fn finish(&mut self, declared: &SchemaRef) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|column| -> ArrayRef {
                match column {
                    Column::Str(b) => Arc::new(b.finish()),
                    Column::Int(b) => Arc::new(b.finish()),
                    Column::Float(b) => Arc::new(b.finish()),
                    Column::Bool(b) => Arc::new(b.finish()),
                    Column::Time(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        RecordBatch::try_new(declared.clone(), columns)
    }
}
