//! Comparing the derived events of a run with the expected ones, position
//! by position. An expected event lists some fields; only those are
//! compared, tables as subsets (recursively), arrays element by element.
//! Numbers compare by value (`3` equals `3.0`) and timestamps by instant
//! (`2026-01-01T08:00:00Z` equals `2026-01-01T08:00:00.000Z`).

use chrono::DateTime;
use serde_json::Value;

use super::format::ExpectedEvent;

/// The comparison of the event at one position.
#[derive(Debug, Clone, PartialEq)]
pub enum EventDiff {
    Same,
    /// Both exist but differ: the differing fields, as dotted keys.
    Differs(Vec<FieldDiff>),
    /// Expected, but the run derived fewer events.
    Missing,
    /// Derived, but not expected.
    Unexpected,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldDiff {
    /// `type`, `subject`, `data.failures`, `data.evidence.0.offset`.
    pub key: String,
    /// TOML text of the expected value.
    pub expected: String,
    /// JSON text of the value found, `None` when absent.
    pub got: Option<String>,
}

/// One [`EventDiff`] per position of the longer of the two lists.
pub fn compare(expected: &[ExpectedEvent], got: &[Value]) -> Vec<EventDiff> {
    (0..expected.len().max(got.len()))
        .map(|i| match (expected.get(i), got.get(i)) {
            (Some(e), Some(g)) => {
                let fields = event_diffs(e, g);
                if fields.is_empty() {
                    EventDiff::Same
                } else {
                    EventDiff::Differs(fields)
                }
            }
            (Some(_), None) => EventDiff::Missing,
            _ => EventDiff::Unexpected,
        })
        .collect()
}

/// The emitted name of a CloudEvent (`type` without `eddy.`).
pub fn event_name(event: &Value) -> &str {
    let kind = event["type"].as_str().unwrap_or("");
    kind.strip_prefix("eddy.").unwrap_or(kind)
}

fn event_diffs(expected: &ExpectedEvent, got: &Value) -> Vec<FieldDiff> {
    let mut diffs = Vec::new();
    let name = event_name(got);
    if name != expected.name {
        diffs.push(FieldDiff {
            key: "type".into(),
            expected: format!("{:?}", expected.name),
            got: Some(format!("{name:?}")),
        });
    }
    for (attribute, value) in &expected.attributes {
        value_diffs(attribute, value, got.get(*attribute), &mut diffs);
    }
    for (key, value) in &expected.data {
        value_diffs(
            &format!("data.{key}"),
            value,
            got["data"].get(key),
            &mut diffs,
        );
    }
    diffs
}

/// Pushes a diff for every place where `got` does not match `expected`.
fn value_diffs(key: &str, expected: &toml::Value, got: Option<&Value>, out: &mut Vec<FieldDiff>) {
    match (expected, got) {
        (toml::Value::Table(table), Some(Value::Object(_))) => {
            for (k, v) in table {
                value_diffs(&format!("{key}.{k}"), v, got.and_then(|g| g.get(k)), out);
            }
        }
        (toml::Value::Array(items), Some(Value::Array(values))) if items.len() == values.len() => {
            for (i, (item, value)) in items.iter().zip(values).enumerate() {
                value_diffs(&format!("{key}.{i}"), item, Some(value), out);
            }
        }
        (_, Some(value)) if scalar_matches(expected, value) => {}
        _ => out.push(FieldDiff {
            key: key.to_string(),
            expected: expected.to_string(),
            got: got.map(Value::to_string),
        }),
    }
}

fn scalar_matches(expected: &toml::Value, got: &Value) -> bool {
    match (expected, got) {
        (toml::Value::String(e), Value::String(g)) => e == g || same_instant(e, g),
        (toml::Value::Datetime(e), Value::String(g)) => same_instant(&e.to_string(), g),
        (toml::Value::Integer(e), Value::Number(g)) => {
            g.as_i64() == Some(*e) || g.as_f64() == Some(*e as f64)
        }
        (toml::Value::Float(e), Value::Number(g)) => g.as_f64() == Some(*e),
        (toml::Value::Boolean(e), Value::Bool(g)) => e == g,
        _ => false,
    }
}

fn same_instant(a: &str, b: &str) -> bool {
    match (
        DateTime::parse_from_rfc3339(a),
        DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expected(text: &str) -> ExpectedEvent {
        #[derive(serde::Deserialize)]
        struct Wrapper {
            data: toml::Table,
        }
        let wrapper: Wrapper = toml::from_str(text).unwrap();
        ExpectedEvent {
            name: "takeover".into(),
            data: wrapper.data,
            attributes: vec![("subject", toml::Value::String("u1".into()))],
        }
    }

    fn event(failures: i64) -> Value {
        json!({"type": "eddy.takeover", "subject": "u1", "data": {
            "failures": failures, "amount": 2000.0, "first": "2026-01-01T08:00:00.000Z",
            "evidence": [{"step": "f", "offset": 3}]}})
    }

    #[test]
    fn listed_fields_are_compared_by_value() {
        let e = expected(
            "data = { failures = 3.0, amount = 2000, first = 2026-01-01T08:00:00Z, \
             evidence = [{ offset = 3 }] }",
        );
        assert_eq!(
            compare(std::slice::from_ref(&e), &[event(3)]),
            vec![EventDiff::Same]
        );
        assert_eq!(
            compare(&[e], &[event(4)]),
            vec![EventDiff::Differs(vec![FieldDiff {
                key: "data.failures".into(),
                expected: "3.0".into(),
                got: Some("4".into()),
            }])]
        );
    }

    #[test]
    fn extra_and_missing_events_are_reported_by_position() {
        let e = expected("data = {}");
        assert_eq!(
            compare(std::slice::from_ref(&e), &[event(3), event(4)]),
            vec![EventDiff::Same, EventDiff::Unexpected]
        );
        assert_eq!(
            compare(&[e.clone(), e], &[event(3)]),
            vec![EventDiff::Same, EventDiff::Missing]
        );
    }
}
