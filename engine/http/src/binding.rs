//! The events a request carries, by its content type (the CloudEvents HTTP
//! protocol binding, and plain JSON):
//!
//! | request | events |
//! |---|---|
//! | `ce-specversion` header (binary mode) | the body, the event's data |
//! | `application/cloudevents+json` (structured) | the CloudEvent's `data` |
//! | `application/cloudevents-batch+json` (batched) | each CloudEvent's `data` |
//! | `application/x-ndjson` | each non-blank line |
//! | `application/json`, or none | the body's object, or each of its array's items |
//!
//! A CloudEvent without a required attribute (`specversion` 1.0, `id`,
//! `source`, `type`), with its data in `data_base64`, or with data that is
//! not JSON is refused here with its reason; whether an event fits its
//! stream is for the caller's check.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

/// The dead-letter reason of a CloudEvent refused for its envelope.
pub const BAD_ENVELOPE: &str = "bad_envelope";
/// The dead-letter reason of a body that is not JSON where JSON is needed.
pub const MALFORMED_JSON: &str = "malformed_json";

const STRUCTURED: &str = "application/cloudevents+json";
const BATCH: &str = "application/cloudevents-batch+json";
const REQUIRED: [&str; 4] = ["specversion", "id", "source", "type"];

/// Something of a request that is not an event: why, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub detail: String,
    pub raw: Vec<u8>,
}

/// One item of a request: an event's JSON, or what was refused.
pub type Envelope = Result<Vec<u8>, Refusal>;

/// The request's content type is none this source reads (`415`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedMedia(pub String);

/// The items of a request with content type `content_type` and body
/// `body`; `header` looks a request header up by its lower-case name.
pub fn envelopes<'h>(
    content_type: Option<&str>,
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
) -> Result<Vec<Envelope>, UnsupportedMedia> {
    let media = content_type
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if header("ce-specversion").is_some() {
        return Ok(vec![binary(&media, header, body)]);
    }
    Ok(match media.as_str() {
        STRUCTURED => vec![structured(body)],
        BATCH => batch(body),
        "application/x-ndjson" | "application/jsonl" | "application/json-lines" => lines(body),
        "" | "application/json" => json(body),
        other => return Err(UnsupportedMedia(other.to_string())),
    })
}

fn refusal(reason: &'static str, detail: impl Into<String>, raw: &[u8]) -> Refusal {
    Refusal {
        reason,
        detail: detail.into(),
        raw: raw.to_vec(),
    }
}

/// Binary mode: the attributes are `ce-*` headers, the body is the data.
fn binary<'h>(media: &str, header: impl Fn(&str) -> Option<&'h str>, body: &[u8]) -> Envelope {
    for attribute in REQUIRED {
        match header(&format!("ce-{attribute}")).map(str::trim) {
            None | Some("") => {
                return Err(refusal(
                    BAD_ENVELOPE,
                    format!("binary-mode CloudEvent without the `ce-{attribute}` header"),
                    body,
                ))
            }
            Some(version) if attribute == "specversion" && version != "1.0" => {
                return Err(refusal(
                    BAD_ENVELOPE,
                    format!("CloudEvents specversion `{version}` is not 1.0"),
                    body,
                ))
            }
            Some(_) => {}
        }
    }
    if !is_json(media) {
        return Err(refusal(
            BAD_ENVELOPE,
            format!("the data's content type `{media}` is not JSON"),
            body,
        ));
    }
    Ok(body.to_vec())
}

fn is_json(media: &str) -> bool {
    media.is_empty() || media == "application/json" || media.ends_with("+json")
}

/// Structured mode: the body is the whole CloudEvent.
fn structured(body: &[u8]) -> Envelope {
    match serde_json::from_slice::<BTreeMap<String, &RawValue>>(body) {
        Ok(attributes) => event_data(&attributes, body),
        Err(error) => Err(refusal(
            MALFORMED_JSON,
            format!("a structured CloudEvent must be a JSON object: {error}"),
            body,
        )),
    }
}

/// The data of a structured CloudEvent whose members are `attributes`.
fn event_data(attributes: &BTreeMap<String, &RawValue>, raw: &[u8]) -> Envelope {
    for name in REQUIRED {
        let value = attributes
            .get(name)
            .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
            .filter(|v| !v.trim().is_empty());
        match value {
            None => {
                return Err(refusal(
                    BAD_ENVELOPE,
                    format!("CloudEvent without a `{name}` string"),
                    raw,
                ))
            }
            Some(version) if name == "specversion" && version != "1.0" => {
                return Err(refusal(
                    BAD_ENVELOPE,
                    format!("CloudEvents specversion `{version}` is not 1.0"),
                    raw,
                ))
            }
            Some(_) => {}
        }
    }
    if attributes.contains_key("data_base64") {
        return Err(refusal(
            BAD_ENVELOPE,
            "CloudEvent data in `data_base64`: events are JSON, give them in `data`",
            raw,
        ));
    }
    if let Some(media) = attributes
        .get("datacontenttype")
        .and_then(|v| serde_json::from_str::<String>(v.get()).ok())
    {
        let media = media
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !is_json(&media) {
            return Err(refusal(
                BAD_ENVELOPE,
                format!("the data's content type `{media}` is not JSON"),
                raw,
            ));
        }
    }
    match attributes.get("data") {
        Some(data) => Ok(data.get().as_bytes().to_vec()),
        None => Err(refusal(BAD_ENVELOPE, "CloudEvent without `data`", raw)),
    }
}

/// Batched mode: a JSON array of structured CloudEvents.
fn batch(body: &[u8]) -> Vec<Envelope> {
    match serde_json::from_slice::<Vec<&RawValue>>(body) {
        Ok(items) => items
            .iter()
            .map(|item| {
                let raw = item.get().as_bytes();
                match serde_json::from_str::<BTreeMap<String, &RawValue>>(item.get()) {
                    Ok(attributes) => event_data(&attributes, raw),
                    Err(_) => Err(refusal(
                        BAD_ENVELOPE,
                        "an item of a CloudEvents batch is not a JSON object",
                        raw,
                    )),
                }
            })
            .collect(),
        Err(error) => vec![Err(refusal(
            MALFORMED_JSON,
            format!("a CloudEvents batch must be a JSON array: {error}"),
            body,
        ))],
    }
}

/// JSON lines: an event per non-blank line.
fn lines(body: &[u8]) -> Vec<Envelope> {
    body.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(|line| Ok(line.to_vec()))
        .collect()
}

/// Plain JSON: one event, or an array of them. Anything else is taken as
/// one event, which the stream's check then refuses as it would any line.
fn json(body: &[u8]) -> Vec<Envelope> {
    let trimmed = body.trim_ascii_start();
    if trimmed.starts_with(b"[") {
        if let Ok(items) = serde_json::from_slice::<Vec<&RawValue>>(body) {
            return items
                .iter()
                .map(|item| Ok(item.get().as_bytes().to_vec()))
                .collect();
        }
    }
    vec![Ok(body.to_vec())]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_headers(_: &str) -> Option<&'static str> {
        None
    }

    fn events(content_type: &str, body: &str) -> Vec<Envelope> {
        envelopes(Some(content_type), no_headers, body.as_bytes()).expect("a known type")
    }

    fn ok(text: &str) -> Envelope {
        Ok(text.as_bytes().to_vec())
    }

    #[test]
    fn binary_mode_takes_the_body_when_the_attributes_are_there() {
        let headers = |name: &str| match name {
            "ce-specversion" => Some("1.0"),
            "ce-id" => Some("1"),
            "ce-source" => Some("/bank"),
            "ce-type" => Some("payment"),
            _ => None,
        };
        let body = br#"{"amount":5}"#;
        assert_eq!(
            envelopes(Some("application/json"), headers, body).unwrap(),
            vec![ok(r#"{"amount":5}"#)]
        );
        let no_type = |name: &str| {
            if name == "ce-type" {
                None
            } else {
                headers(name)
            }
        };
        let refused = envelopes(Some("application/json"), no_type, body).unwrap();
        let reason = refused[0].as_ref().unwrap_err();
        assert_eq!(reason.reason, BAD_ENVELOPE);
        assert!(reason.detail.contains("ce-type"), "{}", reason.detail);
        let text = envelopes(Some("text/plain"), headers, body).unwrap();
        assert!(text[0].as_ref().unwrap_err().detail.contains("text/plain"));
    }

    #[test]
    fn structured_mode_takes_the_data_and_checks_the_envelope() {
        let event = r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"a":1.50}}"#;
        assert_eq!(
            events("application/cloudevents+json; charset=utf-8", event),
            vec![ok(r#"{"a":1.50}"#)],
            "the data's bytes are kept as they were sent"
        );
        let cases = [
            (
                r#"{"id":"1","source":"/s","type":"t","data":{}}"#,
                "specversion",
            ),
            (
                r#"{"specversion":"0.3","id":"1","source":"/s","type":"t","data":{}}"#,
                "0.3",
            ),
            (
                r#"{"specversion":"1.0","id":"1","source":"/s","type":"t"}"#,
                "without `data`",
            ),
            (
                r#"{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"e30="}"#,
                "data_base64",
            ),
        ];
        for (body, expected) in cases {
            let refused = events(STRUCTURED, body);
            let refusal = refused[0].as_ref().unwrap_err();
            assert!(
                refusal.detail.contains(expected),
                "{body}: {}",
                refusal.detail
            );
            assert_eq!(refusal.raw, body.as_bytes());
        }
        assert_eq!(
            events(STRUCTURED, "{oops")[0].as_ref().unwrap_err().reason,
            MALFORMED_JSON
        );
    }

    #[test]
    fn a_batch_refuses_its_bad_items_alone() {
        let body = r#"[
            {"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"n":1}},
            {"specversion":"1.0","source":"/s","type":"t","data":{"n":2}},
            7,
            {"specversion":"1.0","id":"3","source":"/s","type":"t","data":{"n":3}}
        ]"#;
        let items = events(BATCH, body);
        assert_eq!(items.len(), 4);
        assert_eq!(items[0], ok(r#"{"n":1}"#));
        assert!(items[1].as_ref().unwrap_err().detail.contains("`id`"));
        assert_eq!(items[2].as_ref().unwrap_err().raw, b"7");
        assert_eq!(items[3], ok(r#"{"n":3}"#));
        assert_eq!(events(BATCH, r#"{"not":"an array"}"#).len(), 1);
    }

    #[test]
    fn json_and_json_lines_bodies() {
        assert_eq!(
            events("application/json", r#"{"a":1}"#),
            vec![ok(r#"{"a":1}"#)]
        );
        assert_eq!(
            events("application/json", r#" [{"a":1}, {"a":2}] "#),
            vec![ok(r#"{"a":1}"#), ok(r#"{"a":2}"#)]
        );
        assert_eq!(events("application/json", "{nope"), vec![ok("{nope")]);
        assert_eq!(
            events("application/x-ndjson", "{\"a\":1}\r\n\n  \n{\"a\":2}"),
            vec![ok(r#"{"a":1}"#), ok(r#"{"a":2}"#)]
        );
        assert_eq!(
            envelopes(Some("text/csv"), no_headers, b"a,b"),
            Err(UnsupportedMedia("text/csv".into()))
        );
    }
}
