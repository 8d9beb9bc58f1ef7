//! One Arrow value as JSON text, for the `data` of CloudEvents. Timestamps
//! become RFC 3339 strings (UTC, millisecond precision); non-finite floats
//! become `null`; struct fields keep their schema order.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::Array;
use arrow_schema::{DataType, TimeUnit};
use dsl::plan::{Millis, TIME_RANGE};

/// `2026-01-01T00:00:00.000Z`. Always RFC 3339: a time outside the years
/// 0000 to 9999 is written as the nearest end of that range. Input times
/// are refused outside it and durations are bounded, so only the bounds a
/// runtime uses internally (the start and end of time) get there.
pub fn rfc3339_millis(time: Millis) -> String {
    let time = time.clamp(*TIME_RANGE.start(), *TIME_RANGE.end());
    match chrono::DateTime::from_timestamp_millis(time) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => time.to_string(),
    }
}

/// Appends `s` as a JSON string literal.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing a str to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        let _ = serde_json::to_writer(&mut *out, &v);
    } else {
        out.extend_from_slice(b"null");
    }
}

fn write_display(out: &mut Vec<u8>, v: impl std::fmt::Display) {
    out.extend_from_slice(v.to_string().as_bytes());
}

/// Appends the value at `row` of `array` as JSON.
pub fn write_value(out: &mut Vec<u8>, array: &dyn Array, row: usize) {
    if array.is_null(row) {
        out.extend_from_slice(b"null");
        return;
    }
    match array.data_type() {
        DataType::Utf8 => write_str(out, array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => write_str(out, array.as_string::<i64>().value(row)),
        DataType::Utf8View => write_str(out, array.as_string_view().value(row)),
        DataType::Boolean => write_display(out, array.as_boolean().value(row)),
        DataType::Int8 => write_display(out, array.as_primitive::<Int8Type>().value(row)),
        DataType::Int16 => write_display(out, array.as_primitive::<Int16Type>().value(row)),
        DataType::Int32 => write_display(out, array.as_primitive::<Int32Type>().value(row)),
        DataType::Int64 => write_display(out, array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt8 => write_display(out, array.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => write_display(out, array.as_primitive::<UInt16Type>().value(row)),
        DataType::UInt32 => write_display(out, array.as_primitive::<UInt32Type>().value(row)),
        DataType::UInt64 => write_display(out, array.as_primitive::<UInt64Type>().value(row)),
        DataType::Float32 => write_f64(
            out,
            f64::from(array.as_primitive::<Float32Type>().value(row)),
        ),
        DataType::Float64 => write_f64(out, array.as_primitive::<Float64Type>().value(row)),
        DataType::Timestamp(unit, _) => {
            let millis = match unit {
                TimeUnit::Second => array
                    .as_primitive::<TimestampSecondType>()
                    .value(row)
                    .saturating_mul(1000),
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row) / 1000
                }
                TimeUnit::Nanosecond => {
                    array.as_primitive::<TimestampNanosecondType>().value(row) / 1_000_000
                }
            };
            write_str(out, &rfc3339_millis(millis));
        }
        DataType::Struct(fields) => {
            let strukt = array.as_struct();
            out.push(b'{');
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, field.name());
                out.push(b':');
                write_value(out, strukt.column(i).as_ref(), row);
            }
            out.push(b'}');
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            let values = list.value(row);
            out.push(b'[');
            for i in 0..values.len() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, values.as_ref(), i);
            }
            out.push(b']');
        }
        // Types the rule language does not produce.
        _ => out.extend_from_slice(b"null"),
    }
}
