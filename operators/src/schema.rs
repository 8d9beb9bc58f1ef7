//! Arrow schemas of streams, and the hidden columns every batch in flight carries.

use std::sync::Arc;

use arrow_schema::{
    DataType as ArrowType, Field as ArrowField, Fields, Schema, SchemaRef, TimeUnit,
};
use dsl::plan::{DataType, Field, StreamPlan};

/// Where an event came from: the 1-based line of a file, or a Kafka offset.
/// Int64. Evidence in derived events names it.
pub const OFFSET_COLUMN: &str = "__offset";
/// The CloudEvent `id` of a derived event. Utf8. Only derived streams have
/// it: evidence names a derived event by its id (the contract), and input
/// streams, the hot path, carry nothing more.
pub const ID_COLUMN: &str = "__id";
/// A hash of the event's raw bytes (xxh3-64). UInt64. Derived-event ids are
/// built from these, so the same events give the same id wherever they were read.
pub const HASH_COLUMN: &str = "__hash";

/// The Arrow type of a rule-language type. Timestamps are milliseconds, UTC.
pub fn arrow_type(ty: &DataType) -> ArrowType {
    match ty {
        DataType::String => ArrowType::Utf8,
        DataType::Int => ArrowType::Int64,
        DataType::Float => ArrowType::Float64,
        DataType::Bool => ArrowType::Boolean,
        DataType::Timestamp => ArrowType::Timestamp(TimeUnit::Millisecond, None),
        DataType::Record(fields) => ArrowType::Struct(arrow_fields(fields)),
        DataType::Null => ArrowType::Null,
    }
}

pub fn arrow_field(f: &Field) -> ArrowField {
    ArrowField::new(&f.name, arrow_type(&f.ty), f.nullable)
}

fn arrow_fields(fields: &[Field]) -> Fields {
    fields.iter().map(arrow_field).collect()
}

/// The declared fields only: what JSON is decoded against.
pub fn declared_schema(stream: &StreamPlan) -> SchemaRef {
    Arc::new(Schema::new(arrow_fields(&stream.fields)))
}

/// The schema of a batch in flight: declared fields, then the hidden
/// [`OFFSET_COLUMN`] and [`HASH_COLUMN`], and for derived streams [`ID_COLUMN`].
pub fn stream_schema(stream: &StreamPlan) -> SchemaRef {
    let mut fields: Vec<ArrowField> = stream.fields.iter().map(arrow_field).collect();
    fields.push(ArrowField::new(OFFSET_COLUMN, ArrowType::Int64, false));
    fields.push(ArrowField::new(HASH_COLUMN, ArrowType::UInt64, false));
    if stream.derived_from.is_some() {
        fields.push(ArrowField::new(ID_COLUMN, ArrowType::Utf8, false));
    }
    Arc::new(Schema::new(fields))
}
