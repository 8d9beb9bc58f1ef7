//! JSON Schemas (the AsyncAPI Schema dialect, a superset of draft 07) for
//! the rule language's types, as eddy reads them and as it writes them.
//!
//! | type        | input (what eddy accepts)                     | output (what eddy writes)  |
//! |-------------|-----------------------------------------------|----------------------------|
//! | `string`    | string                                        | string                     |
//! | `int`       | integer (64-bit)                              | integer                    |
//! | `float`     | number                                        | number                     |
//! | `bool`      | boolean                                       | boolean                    |
//! | `timestamp` | RFC 3339 string **or** integer epoch millis   | RFC 3339 string (UTC, ms)  |
//! | record      | object                                        | object                     |
//!
//! A nullable field allows `null` as well (`type: [T, 'null']`).

use dsl::plan::{DataType, Field};
use serde_json::{json, Map, Value};

/// Which side of eddy a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Input events: what the decoder accepts.
    Input,
    /// Derived events: what the CloudEvent encoder writes.
    Output,
}

/// The schema of a value of `ty`.
pub fn of_type(ty: &DataType, nullable: bool, direction: Direction) -> Value {
    let schema = match ty {
        DataType::String => json!({ "type": "string" }),
        DataType::Int => json!({ "type": "integer", "format": "int64" }),
        DataType::Float => json!({ "type": "number", "format": "double" }),
        DataType::Bool => json!({ "type": "boolean" }),
        DataType::Timestamp => return timestamp(nullable, direction),
        DataType::Record(fields) => record(fields, direction),
        DataType::Null => return json!({ "type": "null" }),
    };
    if nullable {
        or_null(schema)
    } else {
        schema
    }
}

/// An object with `fields` as properties. Input records require their
/// non-nullable fields; output records always carry every field.
pub fn record(fields: &[Field], direction: Direction) -> Value {
    let properties: Map<String, Value> = fields
        .iter()
        .map(|f| (f.name.clone(), of_type(&f.ty, f.nullable, direction)))
        .collect();
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| direction == Direction::Output || !f.nullable)
        .map(|f| f.name.as_str())
        .collect();
    object(properties, required)
}

/// `{type: object, properties, required}`, `required` sorted and left out
/// when empty.
pub fn object(properties: Map<String, Value>, mut required: Vec<&str>) -> Value {
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        required.sort_unstable();
        required.dedup();
        schema.insert("required".into(), json!(required));
    }
    Value::Object(schema)
}

fn timestamp(nullable: bool, direction: Direction) -> Value {
    let rfc3339 = json!({
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339",
    });
    match direction {
        Direction::Output => {
            let written = json!({
                "type": "string",
                "format": "date-time",
                "description": "RFC 3339 in UTC with milliseconds",
            });
            if nullable {
                or_null(written)
            } else {
                written
            }
        }
        Direction::Input => {
            let mut shapes = vec![
                rfc3339,
                json!({
                    "type": "integer",
                    "format": "int64",
                    "description": "milliseconds since the Unix epoch",
                }),
            ];
            if nullable {
                shapes.push(json!({ "type": "null" }));
            }
            json!({ "oneOf": shapes })
        }
    }
}

/// `{type: T}` to `{type: [T, 'null']}`.
fn or_null(mut schema: Value) -> Value {
    if let Some(ty) = schema.get_mut("type") {
        if let Value::String(name) = ty {
            *ty = json!([name.clone(), "null"]);
        }
    }
    schema
}

/// `value` with every object's keys in sorted order, whatever serde_json's
/// map keeps, so documents do not depend on its `preserve_order` feature.
pub fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, ty: DataType, nullable: bool) -> Field {
        Field {
            name: name.into(),
            ty,
            nullable,
        }
    }

    #[test]
    fn timestamps_are_read_in_two_shapes_and_written_in_one() {
        let input = of_type(&DataType::Timestamp, false, Direction::Input);
        let shapes = input["oneOf"].as_array().unwrap();
        assert_eq!(shapes[0]["format"], "date-time");
        assert_eq!(shapes[1]["type"], "integer");
        let output = of_type(&DataType::Timestamp, true, Direction::Output);
        assert_eq!(output["type"], json!(["string", "null"]));
        assert_eq!(output["format"], "date-time");
    }

    #[test]
    fn input_records_require_only_non_nullable_fields() {
        let fields = [
            field("os", DataType::String, false),
            field("model", DataType::String, true),
        ];
        let input = record(&fields, Direction::Input);
        assert_eq!(input["required"], json!(["os"]));
        assert_eq!(
            input["properties"]["model"]["type"],
            json!(["string", "null"])
        );
        let output = record(&fields, Direction::Output);
        assert_eq!(output["required"], json!(["model", "os"]));
    }
}
