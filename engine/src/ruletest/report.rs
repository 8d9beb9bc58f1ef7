//! The readable account of a failed case: expected against got, event by
//! event, then the dead-letter records if they were not the expected ones.

use std::fmt::Write;

use serde_json::Value;

use super::compare::{event_name, EventDiff};
use super::format::ExpectedEvent;

/// Lines (indented by two spaces) explaining a mismatch.
pub fn mismatch(
    expected: &[ExpectedEvent],
    got: &[Value],
    diffs: &[EventDiff],
    rejected_expected: &[String],
    rejected: &[Value],
) -> String {
    let mut out = String::new();
    if diffs.iter().any(|d| *d != EventDiff::Same) {
        let _ = writeln!(
            out,
            "  expected {} derived event(s), got {}:",
            expected.len(),
            got.len()
        );
    }
    for (i, diff) in diffs.iter().enumerate() {
        let n = i + 1;
        match diff {
            EventDiff::Same => {
                let _ = writeln!(out, "  event {n}: as expected ({})", expected[i].name);
            }
            EventDiff::Differs(fields) => {
                let _ = writeln!(out, "  event {n}: differs");
                let _ = writeln!(out, "    expected: {}", show_expected(&expected[i]));
                let _ = writeln!(out, "    got:      {}", show_got(&got[i]));
                for field in fields {
                    let found = field.got.as_deref().unwrap_or("nothing (absent)");
                    let _ = writeln!(
                        out,
                        "      {}: expected {}, got {found}",
                        field.key, field.expected
                    );
                }
            }
            EventDiff::Missing => {
                let _ = writeln!(out, "  event {n}: missing");
                let _ = writeln!(out, "    expected: {}", show_expected(&expected[i]));
            }
            EventDiff::Unexpected => {
                let _ = writeln!(out, "  event {n}: not expected");
                let _ = writeln!(out, "    got:      {}", show_got(&got[i]));
            }
        }
    }
    let reasons = rejected_reasons(rejected);
    if reasons != rejected_expected {
        let _ = writeln!(
            out,
            "  rejected input: expected {rejected_expected:?}, got {reasons:?}"
        );
        for record in rejected {
            let _ = writeln!(
                out,
                "    {} line {}: {}: {}",
                record["stream"].as_str().unwrap_or("?"),
                record["line"],
                record["reason"].as_str().unwrap_or("?"),
                record["detail"].as_str().unwrap_or("")
            );
        }
    }
    out
}

/// The reasons of dead-letter records, in order.
pub fn rejected_reasons(rejected: &[Value]) -> Vec<String> {
    rejected
        .iter()
        .map(|r| r["reason"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn show_expected(event: &ExpectedEvent) -> String {
    let mut text = event.name.clone();
    for (name, value) in &event.attributes {
        let _ = write!(text, " {name}={value}");
    }
    let _ = write!(text, " {}", toml::Value::Table(event.data.clone()));
    text
}

/// The event's name, subject and data without its evidence (long, and
/// compared only when the case lists it).
fn show_got(event: &Value) -> String {
    let mut data = event["data"].clone();
    if let Some(fields) = data.as_object_mut() {
        fields.remove("evidence");
    }
    match event["subject"].as_str() {
        Some(subject) => format!("{} subject=\"{subject}\" {data}", event_name(event)),
        None => format!("{} {data}", event_name(event)),
    }
}
