//! Rows of a CSV or Parquet scan to events in flight: each declared field is
//! cast to its declared type, and a row whose required field is missing, or
//! whose value does not convert, becomes a rejection with its reason (as
//! `eddy run` rejects such JSON lines) instead of failing the scan.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt64Array};
use arrow_schema::{ArrowError, DataType as ArrowType, SchemaRef};
use datafusion::arrow::compute::kernels::cast::{cast_with_options, CastOptions};
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::compute::{filter, is_not_null};
use dsl::plan::{DataType, StreamPlan};
use operators::schema::{arrow_type, stream_schema};
use xxhash_rust::xxh3::xxh3_64;

use super::columnar::{ROW_COLUMN, TIME_COLUMN};
use crate::decode::validate::type_name;
use crate::reject::{RejectReason, Rejection};
use crate::sink::json::{write_str, write_value};

/// Casts that give null where a value does not convert (found afterwards).
const LENIENT: CastOptions<'static> = CastOptions {
    safe: true,
    format_options: datafusion::arrow::util::display::FormatOptions::new(),
};

/// Accepted events and the rejected rows of one batch.
pub(super) struct Conformed {
    pub events: RecordBatch,
    pub rejected: Vec<Rejection>,
}

/// Converts the batches of one stream.
pub(super) struct Conformer {
    stream: StreamPlan,
    in_flight: SchemaRef,
    time_index: usize,
}

impl Conformer {
    pub fn new(stream: &StreamPlan) -> Self {
        Conformer {
            time_index: stream
                .fields
                .iter()
                .position(|f| f.name == stream.time_field)
                .unwrap_or(usize::MAX),
            in_flight: stream_schema(stream),
            stream: stream.clone(),
        }
    }

    pub fn conform(&self, batch: &RecordBatch) -> Result<Conformed, ArrowError> {
        let missing = |name: &str| ArrowError::SchemaError(format!("no column `{name}`"));
        let raw: Vec<ArrayRef> = self
            .stream
            .fields
            .iter()
            .map(|f| {
                batch
                    .column_by_name(&f.name)
                    .cloned()
                    .ok_or_else(|| missing(&f.name))
            })
            .collect::<Result<_, _>>()?;
        let time = batch
            .column_by_name(TIME_COLUMN)
            .ok_or_else(|| missing(TIME_COLUMN))?;
        let rows = cast_with_options(
            batch
                .column_by_name(ROW_COLUMN)
                .ok_or_else(|| missing(ROW_COLUMN))?,
            &ArrowType::Int64,
            &LENIENT,
        )?;
        let rows = rows.as_primitive::<arrow_array::types::Int64Type>();

        let converted: Vec<ArrayRef> = self
            .stream
            .fields
            .iter()
            .zip(&raw)
            .enumerate()
            .map(|(i, (field, raw))| {
                if i == self.time_index {
                    Ok(time.clone())
                } else {
                    to_declared(raw, &arrow_type(&field.ty))
                }
            })
            .collect::<Result<_, _>>()?;

        let mut rejected = Vec::new();
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|row| match self.problem(&raw, &converted, row) {
                None => Some(true),
                Some((reason, detail)) => {
                    rejected.push(Rejection {
                        line: rows.value(row),
                        reason,
                        detail,
                        raw: row_json(&self.stream, &raw, row),
                    });
                    Some(false)
                }
            })
            .collect();

        let mut columns = converted
            .iter()
            .map(|c| filter(c.as_ref(), &keep))
            .collect::<Result<Vec<_>, _>>()?;
        let offsets = filter(rows, &keep)?;
        let hashes: UInt64Array = (0..batch.num_rows())
            .filter(|&row| keep.value(row))
            .map(|row| xxh3_64(&row_json(&self.stream, &converted, row)))
            .collect::<Vec<_>>()
            .into();
        columns.push(offsets);
        columns.push(Arc::new(hashes));
        let events = RecordBatch::try_new(self.in_flight.clone(), columns)?;
        Ok(Conformed { events, rejected })
    }

    /// Why row `row` cannot be used, if it cannot: the first field found
    /// missing or not converted.
    fn problem(
        &self,
        raw: &[ArrayRef],
        converted: &[ArrayRef],
        row: usize,
    ) -> Option<(RejectReason, String)> {
        for (i, field) in self.stream.fields.iter().enumerate() {
            if converted[i].is_valid(row) {
                continue;
            }
            if has_value(raw[i].as_ref(), row) {
                let mut shown = Vec::new();
                write_value(&mut shown, raw[i].as_ref(), row);
                let shown = String::from_utf8_lossy(&shown);
                return Some(match field.ty {
                    DataType::Timestamp => (
                        RejectReason::BadTimestamp,
                        format!(
                            "field `{}`: {shown} is not an RFC 3339 timestamp or epoch milliseconds",
                            field.name
                        ),
                    ),
                    ref ty => (
                        RejectReason::WrongType,
                        format!(
                            "field `{}`: expected {}, found {shown}",
                            field.name,
                            type_name(ty)
                        ),
                    ),
                });
            }
            if i == self.time_index {
                return Some((
                    RejectReason::MissingField,
                    format!("the event-time field `{}` is missing", field.name),
                ));
            }
            if !field.nullable {
                return Some((
                    RejectReason::MissingField,
                    format!("required field `{}` is missing", field.name),
                ));
            }
        }
        None
    }
}

/// A value is there: not null, and not an empty CSV cell.
fn has_value(array: &dyn Array, row: usize) -> bool {
    if array.is_null(row) {
        return false;
    }
    match array.data_type() {
        ArrowType::Utf8 => !array.as_string::<i32>().value(row).is_empty(),
        ArrowType::LargeUtf8 => !array.as_string::<i64>().value(row).is_empty(),
        ArrowType::Utf8View => !array.as_string_view().value(row).is_empty(),
        _ => true,
    }
}

/// `array` as `target`, null where a value does not convert. Text becomes a
/// timestamp as epoch milliseconds or else as an RFC 3339 time, the two
/// shapes eddy accepts in JSON.
fn to_declared(array: &ArrayRef, target: &ArrowType) -> Result<ArrayRef, ArrowError> {
    if array.data_type() == target {
        return Ok(array.clone());
    }
    let text = matches!(
        array.data_type(),
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View
    );
    if text && matches!(target, ArrowType::Timestamp(..)) {
        let number = cast_with_options(array, &ArrowType::Int64, &LENIENT)?;
        let as_millis = cast_with_options(&number, target, &LENIENT)?;
        let as_time = cast_with_options(array, target, &LENIENT)?;
        return zip(&is_not_null(&as_millis)?, &as_millis, &as_time);
    }
    cast_with_options(array, target, &LENIENT)
}

/// The row as one compact JSON object: declared fields in declaration
/// order, null ones left out, timestamps as RFC 3339 with milliseconds.
/// Its xxh3 hash is the event's `__hash`, so a JSON line written the same
/// way gives the same derived-event ids through `eddy run`.
fn row_json(stream: &StreamPlan, columns: &[ArrayRef], row: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(b'{');
    let mut first = true;
    for (field, column) in stream.fields.iter().zip(columns) {
        if column.is_null(row) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(&mut out, &field.name);
        out.push(b':');
        write_value(&mut out, column.as_ref(), row);
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{Field as ArrowField, Schema};

    fn stream() -> StreamPlan {
        let source =
            "stream payments (ts timestamp, id string, amount float, note string?) time ts";
        let (program, diagnostics) = dsl::compile(&[dsl::Source {
            name: "t.eddy".into(),
            text: format!("{source}\nrule r from payments emit big {{ id }}"),
        }]);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        program.unwrap().catalog.stream("payments").unwrap().clone()
    }

    /// A CSV-shaped batch: every field as text, then the plan's time and row.
    fn text_batch(rows: &[[Option<&str>; 4]], times: &[Option<i64>]) -> RecordBatch {
        let mut fields: Vec<ArrowField> = ["ts", "id", "amount", "note"]
            .iter()
            .map(|n| ArrowField::new(*n, ArrowType::Utf8, true))
            .collect();
        fields.push(ArrowField::new(
            TIME_COLUMN,
            super::super::millis_type(),
            true,
        ));
        fields.push(ArrowField::new(ROW_COLUMN, ArrowType::UInt64, false));
        let mut columns: Vec<ArrayRef> = (0..4)
            .map(|c| Arc::new(rows.iter().map(|r| r[c]).collect::<StringArray>()) as ArrayRef)
            .collect();
        columns.push(Arc::new(arrow_array::TimestampMillisecondArray::from(
            times.to_vec(),
        )));
        columns.push(Arc::new(UInt64Array::from_iter_values(
            (1..=rows.len() as u64).map(|r| r * 10),
        )));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    #[test]
    fn good_rows_are_cast_and_hashed_as_their_json_line() {
        let batch = text_batch(
            &[[Some("1000"), Some("p1"), Some("12.5"), None]],
            &[Some(1000)],
        );
        let conformed = Conformer::new(&stream()).conform(&batch).unwrap();
        assert!(conformed.rejected.is_empty());
        let events = conformed.events;
        assert_eq!(events.num_rows(), 1);
        assert_eq!(
            events
                .column(2)
                .as_primitive::<arrow_array::types::Float64Type>()
                .value(0),
            12.5
        );
        let offsets = events
            .column(4)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(offsets.value(0), 10);
        let line = br#"{"ts":"1970-01-01T00:00:01.000Z","id":"p1","amount":12.5}"#;
        let hashes = events
            .column(5)
            .as_primitive::<arrow_array::types::UInt64Type>();
        assert_eq!(hashes.value(0), xxh3_64(line));
    }

    #[test]
    fn bad_rows_are_rejected_with_their_reason() {
        let batch = text_batch(
            &[
                [Some("1000"), Some("p1"), Some("lots"), None],
                [Some("1000"), Some("p2"), None, None],
                [Some("soon"), Some("p3"), Some("1"), None],
                [None, Some("p4"), Some("1"), None],
                [Some("2000"), Some("p5"), Some("2"), Some("ok")],
            ],
            &[Some(1000), Some(1000), None, None, Some(2000)],
        );
        let conformed = Conformer::new(&stream()).conform(&batch).unwrap();
        assert_eq!(conformed.events.num_rows(), 1);
        let reasons: Vec<(i64, RejectReason, &str)> = conformed
            .rejected
            .iter()
            .map(|r| (r.line, r.reason, r.detail.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (
                    10,
                    RejectReason::WrongType,
                    "field `amount`: expected a number, found \"lots\""
                ),
                (
                    20,
                    RejectReason::MissingField,
                    "required field `amount` is missing"
                ),
                (
                    30,
                    RejectReason::BadTimestamp,
                    "field `ts`: \"soon\" is not an RFC 3339 timestamp or epoch milliseconds"
                ),
                (
                    40,
                    RejectReason::MissingField,
                    "the event-time field `ts` is missing"
                ),
            ]
        );
        assert_eq!(
            String::from_utf8(conformed.rejected[0].raw.clone()).unwrap(),
            r#"{"ts":"1000","id":"p1","amount":"lots"}"#
        );
    }
}
