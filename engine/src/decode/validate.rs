//! Checks one JSON line against a stream's declared fields and says why it
//! is unusable. This is stricter than arrow-json, which would turn `"12"`
//! into the int 12, truncate `1.5` into an int, and accept timestamps
//! in non-RFC 3339 shapes; eddy rejects all of those.

use dsl::plan::{DataType, Field};
use serde_json::Value;

use crate::reject::RejectReason;

/// A line that cannot be decoded: the reason and a message naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub reason: RejectReason,
    pub detail: String,
}

impl Invalid {
    fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Invalid {
            reason,
            detail: detail.into(),
        }
    }
}

/// Checks `line` against `fields`. `time_field` must be present even if it
/// was declared nullable: an event without a time cannot be placed.
pub fn check_line(line: &[u8], fields: &[Field], time_field: &str) -> Result<(), Invalid> {
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| Invalid::new(RejectReason::MalformedJson, format!("not valid JSON: {e}")))?;
    let Value::Object(object) = &value else {
        return Err(Invalid::new(
            RejectReason::WrongType,
            format!("expected a JSON object, found {}", kind_of(&value)),
        ));
    };
    if object.get(time_field).is_none_or(Value::is_null) {
        return Err(Invalid::new(
            RejectReason::MissingField,
            format!("the event-time field `{time_field}` is missing or null"),
        ));
    }
    check_fields(object, fields, "")
}

fn check_fields(
    object: &serde_json::Map<String, Value>,
    fields: &[Field],
    prefix: &str,
) -> Result<(), Invalid> {
    for field in fields {
        let path = format!("{prefix}{}", field.name);
        match object.get(&field.name) {
            None | Some(Value::Null) if field.nullable => {}
            None => {
                return Err(Invalid::new(
                    RejectReason::MissingField,
                    format!("required field `{path}` is missing"),
                ))
            }
            Some(Value::Null) => {
                return Err(Invalid::new(
                    RejectReason::MissingField,
                    format!("required field `{path}` is null"),
                ))
            }
            Some(value) => check_value(value, &field.ty, &path)?,
        }
    }
    Ok(())
}

fn check_value(value: &Value, ty: &DataType, path: &str) -> Result<(), Invalid> {
    let ok = match ty {
        DataType::String => value.is_string(),
        DataType::Int => value.is_i64() || value.as_u64().is_some_and(|u| i64::try_from(u).is_ok()),
        DataType::Float => value.is_number(),
        DataType::Bool => value.is_boolean(),
        DataType::Null => true,
        DataType::Timestamp => return check_timestamp(value, path),
        DataType::Record(fields) => match value {
            Value::Object(inner) => return check_fields(inner, fields, &format!("{path}.")),
            _ => false,
        },
    };
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            RejectReason::WrongType,
            format!(
                "field `{path}`: expected {}, found {}",
                type_name(ty),
                kind_of(value)
            ),
        ))
    }
}

/// RFC 3339 strings and integer epoch milliseconds.
fn check_timestamp(value: &Value, path: &str) -> Result<(), Invalid> {
    match value {
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|_| ())
            .map_err(|e| {
                Invalid::new(
                    RejectReason::BadTimestamp,
                    format!("field `{path}`: {s:?} is not an RFC 3339 timestamp ({e})"),
                )
            }),
        Value::Number(n) if n.is_i64() => Ok(()),
        other => Err(Invalid::new(
            RejectReason::BadTimestamp,
            format!(
                "field `{path}`: expected an RFC 3339 string or integer epoch milliseconds, found {}",
                kind_of(other)
            ),
        )),
    }
}

fn type_name(ty: &DataType) -> &'static str {
    match ty {
        DataType::String => "a string",
        DataType::Int => "an integer",
        DataType::Float => "a number",
        DataType::Bool => "a boolean",
        DataType::Timestamp => "a timestamp",
        DataType::Record(_) => "an object",
        DataType::Null => "null",
    }
}

fn kind_of(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}
