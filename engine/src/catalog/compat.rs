//! The compatibility check: the derived events of a new catalog against a
//! previous catalog document.
//!
//! Consumers of derived events break when an event they read disappears,
//! when a field of its `data` disappears or changes type (nullability and
//! nested record fields included), or when a field becomes required that
//! events already in a topic lack (a new emitted field is always present, so
//! it counts as such). Added events and added optional fields are fine.
//!
//! A breaking change that is intended is declared with `--allow-breaking
//! EVENT` (any change of that event, its removal included) or
//! `--allow-breaking EVENT.FIELD` (changes of that field only).
//!
//! Both documents are read the same way, as JSON values: every
//! `components.messages` entry named `eddy.EVENT` is a derived event, and
//! `components.schemas` entry `eddy.EVENT.data` is the schema of its data.
//! Field types are compared as signatures with local `$ref`s resolved.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

/// The prefix of derived-event message names: the CloudEvents `type`.
const EVENT_PREFIX: &str = "eddy.";
/// How deep `$ref`s and nested records are followed.
const MAX_DEPTH: usize = 16;

/// A document that does not have the parts the check reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(String);

/// The data fields of one derived event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventShape {
    pub fields: BTreeMap<String, FieldShape>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldShape {
    /// The type in words, e.g. `integer | null` or `{start: string (date-time)}`.
    pub signature: String,
    pub required: bool,
}

/// One change that can break a consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    EventRemoved {
        event: String,
    },
    FieldRemoved {
        event: String,
        field: String,
    },
    TypeChanged {
        event: String,
        field: String,
        from: String,
        to: String,
    },
    RequiredFieldAdded {
        event: String,
        field: String,
    },
    BecameRequired {
        event: String,
        field: String,
    },
}

impl Change {
    pub fn event(&self) -> &str {
        match self {
            Change::EventRemoved { event }
            | Change::FieldRemoved { event, .. }
            | Change::TypeChanged { event, .. }
            | Change::RequiredFieldAdded { event, .. }
            | Change::BecameRequired { event, .. } => event,
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            Change::EventRemoved { .. } => None,
            Change::FieldRemoved { field, .. }
            | Change::TypeChanged { field, .. }
            | Change::RequiredFieldAdded { field, .. }
            | Change::BecameRequired { field, .. } => Some(field),
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::EventRemoved { event } => write!(f, "event `{event}` was removed"),
            Change::FieldRemoved { event, field } => {
                write!(f, "event `{event}`: field `{field}` was removed")
            }
            Change::TypeChanged {
                event,
                field,
                from,
                to,
            } => write!(
                f,
                "event `{event}`: field `{field}` changed type from `{from}` to `{to}`"
            ),
            Change::RequiredFieldAdded { event, field } => write!(
                f,
                "event `{event}`: field `{field}` was added as required (events written before lack it)"
            ),
            Change::BecameRequired { event, field } => write!(
                f,
                "event `{event}`: field `{field}` became required (events written before may lack it)"
            ),
        }
    }
}

/// The derived events of a catalog document (parsed YAML or a new
/// document turned into a JSON value), by event name.
pub fn event_shapes(document: &Value) -> Result<BTreeMap<String, EventShape>, Malformed> {
    let components = document
        .get("components")
        .ok_or_else(|| Malformed("it has no `components`".into()))?;
    let messages = components
        .get("messages")
        .and_then(Value::as_object)
        .ok_or_else(|| Malformed("it has no `components.messages`".into()))?;
    let schemas = components.get("schemas").and_then(Value::as_object);
    let mut events = BTreeMap::new();
    for component in messages.keys() {
        let Some(event) = component.strip_prefix(EVENT_PREFIX) else {
            continue;
        };
        let data_name = format!("{component}.data");
        let data = schemas.and_then(|s| s.get(&data_name)).ok_or_else(|| {
            Malformed(format!(
                "message `{component}` has no schema `components.schemas.{data_name}`"
            ))
        })?;
        events.insert(event.to_string(), shape(data, document));
    }
    Ok(events)
}

fn shape(data: &Value, document: &Value) -> EventShape {
    let data = resolve(data, document, 0);
    let required = required_names(data);
    let fields = data
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| {
            properties
                .iter()
                .map(|(name, schema)| {
                    let field = FieldShape {
                        signature: signature(schema, document, 0),
                        required: required.contains(name.as_str()),
                    };
                    (name.clone(), field)
                })
                .collect()
        })
        .unwrap_or_default();
    EventShape { fields }
}

fn required_names(schema: &Value) -> BTreeSet<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Follows a local `$ref` (`#/a/b`) to what it names; anything else is
/// returned as is.
fn resolve<'a>(schema: &'a Value, document: &'a Value, depth: usize) -> &'a Value {
    let target = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| document.pointer(pointer));
    match target {
        Some(target) if depth < MAX_DEPTH => resolve(target, document, depth + 1),
        _ => schema,
    }
}

/// The type of `schema` in words: `$ref`s resolved, `type` lists and
/// `oneOf`/`anyOf` alternatives joined with ` | ` (null last), string
/// formats in brackets, objects as `{name: type, optional?: type}`, arrays
/// as `array of T`.
pub fn signature(schema: &Value, document: &Value, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return "…".into();
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = resolve(schema, document, depth);
        if std::ptr::eq(target, schema) {
            return reference.to_string();
        }
        return signature(target, document, depth + 1);
    }
    for combinator in ["oneOf", "anyOf"] {
        if let Some(alternatives) = schema.get(combinator).and_then(Value::as_array) {
            let parts = alternatives
                .iter()
                .map(|a| signature(a, document, depth + 1))
                .collect();
            return joined(parts);
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(ty)) => vec![ty.as_str()],
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).collect(),
        _ => return "any".into(),
    };
    let parts = types
        .into_iter()
        .map(|ty| match ty {
            "object" => object_signature(schema, document, depth),
            "array" => match schema.get("items") {
                Some(items) => format!("array of {}", signature(items, document, depth + 1)),
                None => "array".into(),
            },
            "string" => match schema.get("format").and_then(Value::as_str) {
                Some(format) => format!("string ({format})"),
                None => "string".into(),
            },
            other => other.to_string(),
        })
        .collect();
    joined(parts)
}

fn object_signature(schema: &Value, document: &Value, depth: usize) -> String {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return "object".into();
    };
    let required = required_names(schema);
    let mut fields: Vec<String> = properties
        .iter()
        .map(|(name, field)| {
            let optional = if required.contains(name.as_str()) {
                ""
            } else {
                "?"
            };
            format!(
                "{name}{optional}: {}",
                signature(field, document, depth + 1)
            )
        })
        .collect();
    fields.sort();
    format!("{{{}}}", fields.join(", "))
}

/// Alternatives sorted, `null` last, joined with ` | `.
fn joined(mut parts: Vec<String>) -> String {
    parts.sort_by_key(|p| (p == "null", p.clone()));
    parts.dedup();
    parts.join(" | ")
}

/// Every change from `previous` to `current` that can break a consumer, in
/// event and field order.
pub fn breaking_changes(
    previous: &BTreeMap<String, EventShape>,
    current: &BTreeMap<String, EventShape>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for (event, old) in previous {
        let Some(new) = current.get(event) else {
            changes.push(Change::EventRemoved {
                event: event.clone(),
            });
            continue;
        };
        let names: BTreeSet<&String> = old.fields.keys().chain(new.fields.keys()).collect();
        for field in names {
            let change = match (old.fields.get(field), new.fields.get(field)) {
                (Some(_), None) => Some(Change::FieldRemoved {
                    event: event.clone(),
                    field: field.clone(),
                }),
                (Some(o), Some(n)) if o.signature != n.signature => Some(Change::TypeChanged {
                    event: event.clone(),
                    field: field.clone(),
                    from: o.signature.clone(),
                    to: n.signature.clone(),
                }),
                (Some(o), Some(n)) if n.required && !o.required => Some(Change::BecameRequired {
                    event: event.clone(),
                    field: field.clone(),
                }),
                (None, Some(n)) if n.required => Some(Change::RequiredFieldAdded {
                    event: event.clone(),
                    field: field.clone(),
                }),
                _ => None,
            };
            changes.extend(change);
        }
    }
    changes
}

/// The declared breaking changes: `EVENT` or `EVENT.FIELD`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowances {
    declared: Vec<String>,
}

impl Allowances {
    pub fn new(declared: &[String]) -> Self {
        Allowances {
            declared: declared.to_vec(),
        }
    }

    /// The declaration that allows `change`, if any.
    pub fn allowing(&self, change: &Change) -> Option<&str> {
        self.declared
            .iter()
            .find(|d| Self::covers(d, change))
            .map(String::as_str)
    }

    /// Declarations that allow none of `changes`: probably stale.
    pub fn unused<'a>(&'a self, changes: &[Change]) -> Vec<&'a str> {
        self.declared
            .iter()
            .filter(|d| !changes.iter().any(|c| Self::covers(d, c)))
            .map(String::as_str)
            .collect()
    }

    fn covers(declared: &str, change: &Change) -> bool {
        match declared.split_once('.') {
            None => declared == change.event(),
            Some((event, field)) => event == change.event() && change.field() == Some(field),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn document(data: Value) -> Value {
        json!({
            "components": {
                "messages": { "eddy.alert": {}, "input": {} },
                "schemas": {
                    "eddy.alert.data": data,
                    "eddy.window": {
                        "type": "object",
                        "properties": { "start": { "type": "string", "format": "date-time" } },
                        "required": ["start"],
                    },
                },
            }
        })
    }

    fn shapes(data: Value) -> BTreeMap<String, EventShape> {
        event_shapes(&document(data)).unwrap()
    }

    #[test]
    fn signatures_resolve_references_and_put_null_last() {
        let shapes = shapes(json!({
            "type": "object",
            "properties": {
                "n": { "type": ["null", "integer"] },
                "window": { "$ref": "#/components/schemas/eddy.window" },
                "ts": { "oneOf": [{ "type": "integer" }, { "type": "string", "format": "date-time" }] },
            },
            "required": ["n"],
        }));
        let fields = &shapes["alert"].fields;
        assert_eq!(fields["n"].signature, "integer | null");
        assert!(fields["n"].required);
        assert_eq!(fields["window"].signature, "{start: string (date-time)}");
        assert!(!fields["window"].required);
        assert_eq!(fields["ts"].signature, "integer | string (date-time)");
    }

    #[test]
    fn removals_type_changes_and_new_required_fields_break() {
        let old = shapes(json!({
            "type": "object",
            "properties": { "a": { "type": "integer" }, "b": { "type": "string" } },
            "required": ["a", "b"],
        }));
        let new = shapes(json!({
            "type": "object",
            "properties": {
                "a": { "type": "number" },
                "c": { "type": "string" },
                "d": { "type": "string" },
            },
            "required": ["a", "c"],
        }));
        let lines: Vec<String> = breaking_changes(&old, &new)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "event `alert`: field `a` changed type from `integer` to `number`",
                "event `alert`: field `b` was removed",
                "event `alert`: field `c` was added as required (events written before lack it)",
            ]
        );
        assert_eq!(
            breaking_changes(&old, &BTreeMap::new()),
            [Change::EventRemoved {
                event: "alert".into()
            }]
        );
        assert!(breaking_changes(&BTreeMap::new(), &new).is_empty());
    }

    #[test]
    fn allowances_name_an_event_or_one_field() {
        let change = Change::FieldRemoved {
            event: "alert".into(),
            field: "b".into(),
        };
        let allow =
            |d: &[&str]| Allowances::new(&d.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(allow(&["alert"]).allowing(&change), Some("alert"));
        assert_eq!(allow(&["alert.b"]).allowing(&change), Some("alert.b"));
        assert_eq!(allow(&["alert.a", "other"]).allowing(&change), None);
        assert_eq!(
            allow(&["alert.a", "alert.b"]).unused(std::slice::from_ref(&change)),
            ["alert.a"]
        );
    }

    #[test]
    fn a_document_without_messages_is_refused() {
        assert!(event_shapes(&json!({ "asyncapi": "3.0.0" })).is_err());
    }
}
