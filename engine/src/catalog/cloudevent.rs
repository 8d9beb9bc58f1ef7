//! The schemas of a derived event as CloudEvents 1.0 carry it: the whole
//! event (structured mode, JSON lines), its `ce_*` Kafka headers (binary
//! mode), and its `data`: the emitted fields, `evidence` and, for window
//! rules, `window` and `evidence_omitted`. They follow what [`crate::sink::CloudEventEncoder`] writes.

use serde_json::{json, Map, Value};

use super::model::DerivedEvent;
use super::schema::{self, Direction};

/// `datacontenttype` of every derived event.
pub const JSON: &str = "application/json";
/// The component names of the shared parts of every derived event's data.
pub const EVIDENCE_SCHEMA: &str = "eddy.evidence";
pub const WINDOW_SCHEMA: &str = "eddy.window";

/// One CloudEvents attribute of a derived event (besides `data` and
/// `datacontenttype`, which the Kafka binary mode carries differently).
struct Attribute {
    name: &'static str,
    schema: Value,
    required: bool,
}

fn attributes(event: &DerivedEvent) -> Vec<Attribute> {
    let sources: Vec<String> = event
        .producers
        .iter()
        .map(|p| p.cloudevent_source())
        .collect();
    let mut all = vec![
        Attribute {
            name: "specversion",
            schema: json!({ "type": "string", "const": "1.0" }),
            required: true,
        },
        Attribute {
            name: "id",
            schema: json!({
                "type": "string",
                "description": "Deterministic: the same match of the same input gives the same \
                                id, so a consumer can drop the repeats of a replay",
            }),
            required: true,
        },
        Attribute {
            name: "source",
            schema: json!({
                "type": "string",
                "enum": sources,
                "description": "eddy/rules/RULE: the rule that emitted it",
            }),
            required: true,
        },
        Attribute {
            name: "type",
            schema: json!({ "type": "string", "const": event.cloudevent_type() }),
            required: true,
        },
        Attribute {
            name: "time",
            schema: json!({
                "type": "string",
                "format": "date-time",
                "description": "The event time of the match (for a window, its end), RFC 3339 \
                                in UTC with milliseconds",
            }),
            required: true,
        },
    ];
    if event.any_keyed() {
        all.push(Attribute {
            name: "subject",
            schema: json!({
                "type": "string",
                "description": "The rule's key (`by`), its parts joined with `,`",
            }),
            required: event.all_keyed(),
        });
    }
    let severities = event.severities();
    if !severities.is_empty() {
        all.push(Attribute {
            name: "severity",
            schema: json!({
                "type": "string",
                "enum": severities,
                "description": "The rule's `severity` (an extension attribute)",
            }),
            required: event.all_have_severity(),
        });
    }
    all
}

/// The whole CloudEvent, as the structured mode and JSON lines carry it.
pub fn envelope_schema(event: &DerivedEvent) -> Value {
    let component = event.cloudevent_type();
    let mut properties = Map::new();
    let mut required = vec!["data", "datacontenttype"];
    for attribute in attributes(event) {
        if attribute.required {
            required.push(attribute.name);
        }
        properties.insert(attribute.name.into(), attribute.schema);
    }
    properties.insert(
        "datacontenttype".into(),
        json!({ "type": "string", "const": JSON }),
    );
    properties.insert(
        "data".into(),
        json!({ "$ref": format!("#/components/schemas/{component}.data") }),
    );
    let mut schema = schema::object(properties, required);
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "description".into(),
            json!(format!("The `{component}` CloudEvent (specversion 1.0)")),
        );
    }
    schema
}

/// The `ce_*` headers of the Kafka binary mode; every value is a string.
pub fn headers_schema(event: &DerivedEvent) -> Value {
    let mut properties = Map::new();
    let mut required = vec!["content-type".to_string()];
    for attribute in attributes(event) {
        let name = format!("ce_{}", attribute.name);
        if attribute.required {
            required.push(name.clone());
        }
        properties.insert(name, attribute.schema);
    }
    properties.insert(
        "content-type".into(),
        json!({ "type": "string", "const": JSON }),
    );
    schema::object(properties, required.iter().map(String::as_str).collect())
}

/// The emitted fields (always present, null when there is no value),
/// `evidence` and, for window rules, `window` and `evidence_omitted`.
pub fn data_schema(event: &DerivedEvent) -> Value {
    let mut properties: Map<String, Value> = event
        .fields
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                schema::of_type(&f.ty, f.nullable, Direction::Output),
            )
        })
        .collect();
    let mut required: Vec<&str> = event.fields.iter().map(|f| f.name.as_str()).collect();
    properties.insert(
        "evidence".into(),
        json!({
            "type": "array",
            "items": { "$ref": format!("#/components/schemas/{EVIDENCE_SCHEMA}") },
            "description": "The input events behind it, in match order",
        }),
    );
    required.push("evidence");
    if event.any_windowed() {
        // Window evidence lists a window's first events only.
        properties.insert(
            "evidence_omitted".into(),
            json!({
                "type": "integer",
                "minimum": 1,
                "description": "How many events behind it are not in evidence (present only when some are left out)",
            }),
        );
        properties.insert(
            "window".into(),
            json!({ "$ref": format!("#/components/schemas/{WINDOW_SCHEMA}") }),
        );
        if event.all_windowed() {
            required.push("window");
        }
    }
    schema::object(properties, required)
}

pub fn evidence_schema() -> Value {
    let mut properties = Map::new();
    properties.insert(
        "step".into(),
        json!({ "type": "string", "description": "The pattern step that took it (pattern rules only)" }),
    );
    properties.insert(
        "stream".into(),
        json!({ "type": "string", "description": "The stream it was read from" }),
    );
    properties.insert(
        "partition".into(),
        json!({ "type": "integer", "description": "Its Kafka partition (Kafka inputs only)" }),
    );
    properties.insert(
        "offset".into(),
        json!({ "type": "integer", "description": "Its Kafka offset, or its line number in an input file (input streams)" }),
    );
    properties.insert(
        "id".into(),
        json!({ "type": "string", "description": "Its CloudEvent id (derived events read by a chained rule)" }),
    );
    let mut schema = schema::object(properties, vec!["stream"]);
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "description".into(),
            json!("One input event behind a derived event"),
        );
    }
    schema
}

pub fn window_schema() -> Value {
    let bound =
        |what: &str| json!({ "type": "string", "format": "date-time", "description": what });
    let mut properties = Map::new();
    properties.insert("start".into(), bound("The window's start (included)"));
    properties.insert("end".into(), bound("The window's end (excluded)"));
    let mut schema = schema::object(properties, vec!["end", "start"]);
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "description".into(),
            json!("The window of a window rule's event"),
        );
    }
    schema
}
