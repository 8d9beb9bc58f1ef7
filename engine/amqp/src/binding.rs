//! The CloudEvents AMQP protocol binding (cloudevents/spec,
//! `bindings/amqp-protocol-binding.md`) over AMQP 0-9-1: application
//! properties become message headers.
//!
//! - Binary mode: each attribute is a header `cloudEvents:<name>`
//!   (`cloudEvents_<name>` is accepted on input too: the binding's
//!   alternative for brokers and APIs where `:` is awkward in names), except
//!   `datacontenttype`, which is the AMQP content-type; the body is the data.
//! - Structured mode: content-type `application/cloudevents+json`, the body
//!   is the whole event in JSON.
//!
//! Both modes set the AMQP message id to the event id, so a consumer can
//! deduplicate redeliveries without opening the body.

use std::fmt;

use serde_json::{Map, Value};

use crate::consumer::Delivery;
use crate::publisher::OutgoingMessage;

/// Header prefix for attributes in binary mode (the one written).
pub const PREFIX: &str = "cloudEvents:";
/// The alternative prefix, accepted on input.
pub const ALT_PREFIX: &str = "cloudEvents_";
/// Content type of a structured event in JSON.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";
/// The attributes every CloudEvent has.
const REQUIRED: [&str; 4] = ["specversion", "id", "source", "type"];

/// An event to publish, borrowed from the caller's encoding of it.
#[derive(Debug, Clone, Copy)]
pub struct CloudEvent<'a> {
    pub id: &'a str,
    /// Attribute names without prefix and their values: id, type, source,
    /// specversion, time, subject, extensions. `datacontenttype`, if here,
    /// is ignored in favour of [`Self::data_content_type`].
    pub attributes: &'a [(String, String)],
    /// The data, encoded as `data_content_type` says.
    pub data: &'a [u8],
    pub data_content_type: &'a str,
    /// The whole event as a JSON object (structured mode's body).
    pub structured: &'a [u8],
}

/// Binary mode: attributes as `cloudEvents:` headers, the data as the body.
pub fn binary(event: &CloudEvent<'_>, routing_key: String) -> OutgoingMessage {
    let headers = event
        .attributes
        .iter()
        .filter(|(name, _)| name != "datacontenttype")
        .map(|(name, value)| (format!("{PREFIX}{name}"), value.clone()))
        .collect();
    OutgoingMessage {
        routing_key,
        body: event.data.to_vec(),
        content_type: (!event.data_content_type.is_empty())
            .then(|| event.data_content_type.to_string()),
        message_id: Some(event.id.to_string()),
        headers,
    }
}

/// Structured mode: the whole event in JSON as the body.
pub fn structured(event: &CloudEvent<'_>, routing_key: String) -> OutgoingMessage {
    OutgoingMessage {
        routing_key,
        body: event.structured.to_vec(),
        content_type: Some(STRUCTURED_CONTENT_TYPE.to_string()),
        message_id: Some(event.id.to_string()),
        headers: Vec::new(),
    }
}

/// The placeholders a routing-key template may use.
const PLACEHOLDERS: [&str; 2] = ["type", "subject"];

/// The routing key for an event: `template` with `{type}` and `{subject}`
/// substituted (a missing subject is empty). The template is assumed
/// checked by [`check_template`]; anything else is kept as written.
pub fn routing_key(template: &str, event_type: &str, subject: Option<&str>) -> String {
    template
        .replace("{type}", event_type)
        .replace("{subject}", subject.unwrap_or(""))
}

/// Refuses a routing-key template with an unknown or unclosed placeholder,
/// at configuration time rather than as odd routing keys at run time.
pub fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(format!(
                "routing key template `{template}`: `}}` without `{{`"
            ));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("routing key template `{template}`: unclosed `{{`"))?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "routing key template `{template}`: unknown placeholder `{{{name}}}` \
                 (known: {{type}}, {{subject}})"
            ));
        }
        rest = &after[close + 1..];
    }
    if template.len() > crate::headers::SHORT_STR_MAX {
        return Err(format!(
            "routing key template is {} bytes; AMQP routing keys are at most {}",
            template.len(),
            crate::headers::SHORT_STR_MAX
        ));
    }
    Ok(())
}

/// Why a delivery is not an event this connector accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeError {
    pub reason: String,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for EnvelopeError {}

fn refuse(reason: impl Into<String>) -> EnvelopeError {
    EnvelopeError {
        reason: reason.into(),
    }
}

/// The JSON event the stream decodes from `delivery`:
/// - a binary CloudEvent (any header with a CloudEvents prefix): its data,
///   the body, which must be a JSON object; `specversion`, `id`, `source`
///   and `type` headers are required;
/// - a structured CloudEvent (content type `application/cloudevents+json`):
///   its `data` member, which must be a JSON object (`data_base64` is
///   refused);
/// - otherwise the body as it is: the event itself, in plain JSON (checked
///   by the stream's decoder, not here).
pub fn event_data(delivery: &Delivery) -> Result<Vec<u8>, EnvelopeError> {
    let is_binary = delivery
        .headers
        .iter()
        .any(|(name, _)| name.starts_with(PREFIX) || name.starts_with(ALT_PREFIX));
    if is_binary {
        return binary_data(delivery);
    }
    let content_type = delivery
        .content_type
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if content_type.starts_with("application/cloudevents-batch") {
        return Err(refuse(
            "batched CloudEvents (application/cloudevents-batch+json) are not supported: \
             publish one event per message",
        ));
    }
    if content_type.starts_with("application/cloudevents") {
        if !content_type.starts_with("application/cloudevents+json") {
            return Err(refuse(format!(
                "structured CloudEvent in an unsupported format `{content_type}`: \
                 only application/cloudevents+json is"
            )));
        }
        return structured_data(&delivery.payload);
    }
    Ok(delivery.payload.clone())
}

fn binary_data(delivery: &Delivery) -> Result<Vec<u8>, EnvelopeError> {
    let attribute = |name: &str| {
        delivery.headers.iter().find_map(|(header, value)| {
            let bare = header
                .strip_prefix(PREFIX)
                .or_else(|| header.strip_prefix(ALT_PREFIX))?;
            (bare == name).then_some(value.as_str())
        })
    };
    for name in REQUIRED {
        if attribute(name).is_none_or(str::is_empty) {
            return Err(refuse(format!(
                "binary CloudEvent without `{PREFIX}{name}`"
            )));
        }
    }
    match serde_json::from_slice::<Value>(&delivery.payload) {
        Ok(Value::Object(_)) => Ok(delivery.payload.clone()),
        Ok(other) => Err(refuse(format!(
            "binary CloudEvent whose data is a JSON {}, not an object",
            kind(&other)
        ))),
        Err(e) => Err(refuse(format!(
            "binary CloudEvent whose data is not JSON (content type {}): {e}",
            delivery.content_type.as_deref().unwrap_or("unset")
        ))),
    }
}

fn structured_data(body: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let event: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(event)) => event,
        Ok(other) => {
            return Err(refuse(format!(
                "structured CloudEvent that is a JSON {}, not an object",
                kind(&other)
            )))
        }
        Err(e) => {
            return Err(refuse(format!(
                "structured CloudEvent that is not JSON: {e}"
            )))
        }
    };
    for name in REQUIRED {
        match event.get(name) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(other) => {
                return Err(refuse(format!(
                    "structured CloudEvent whose `{name}` is not a non-empty string but {other}"
                )))
            }
            None => return Err(refuse(format!("structured CloudEvent without `{name}`"))),
        }
    }
    if event.contains_key("data_base64") {
        return Err(refuse(
            "structured CloudEvent with `data_base64`: binary data is not supported, \
             the data must be a JSON object in `data`",
        ));
    }
    match event.get("data") {
        Some(data @ Value::Object(_)) => {
            Ok(serde_json::to_vec(data).expect("a JSON value serializes"))
        }
        Some(other) => Err(refuse(format!(
            "structured CloudEvent whose `data` is a JSON {}, not an object",
            kind(other)
        ))),
        None => Err(refuse("structured CloudEvent without `data`")),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes() -> Vec<(String, String)> {
        [
            ("specversion", "1.0"),
            ("id", "e-1"),
            ("source", "/orders"),
            ("type", "order.created"),
            ("time", "2024-05-01T10:00:00Z"),
            ("subject", "o-7"),
            ("datacontenttype", "application/json"),
            ("tenant", "acme"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
    }

    const DATA: &[u8] = br#"{"amount":12.5}"#;
    const STRUCTURED: &[u8] = br#"{"specversion":"1.0","id":"e-1","source":"/orders","type":"order.created","data":{"amount":12.5}}"#;

    fn event(attributes: &[(String, String)]) -> CloudEvent<'_> {
        CloudEvent {
            id: "e-1",
            attributes,
            data: DATA,
            data_content_type: "application/json",
            structured: STRUCTURED,
        }
    }

    fn delivery(message: OutgoingMessage) -> Delivery {
        let mut headers = message.headers;
        headers.sort();
        Delivery {
            tag: 1,
            redelivered: false,
            identity: 0,
            payload: message.body,
            content_type: message.content_type,
            headers,
            message_id: message.message_id,
        }
    }

    fn header<'a>(m: &'a OutgoingMessage, name: &str) -> Option<&'a str> {
        m.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn binary_encoding() {
        let attributes = attributes();
        let m = binary(&event(&attributes), "orders.created".into());
        assert_eq!(m.routing_key, "orders.created");
        assert_eq!(m.body, DATA);
        assert_eq!(m.content_type.as_deref(), Some("application/json"));
        assert_eq!(m.message_id.as_deref(), Some("e-1"));
        assert_eq!(header(&m, "cloudEvents:id"), Some("e-1"));
        assert_eq!(header(&m, "cloudEvents:type"), Some("order.created"));
        assert_eq!(header(&m, "cloudEvents:source"), Some("/orders"));
        assert_eq!(header(&m, "cloudEvents:specversion"), Some("1.0"));
        assert_eq!(header(&m, "cloudEvents:time"), Some("2024-05-01T10:00:00Z"));
        assert_eq!(header(&m, "cloudEvents:subject"), Some("o-7"));
        assert_eq!(header(&m, "cloudEvents:tenant"), Some("acme"));
        // datacontenttype is the content type, not a header.
        assert_eq!(header(&m, "cloudEvents:datacontenttype"), None);
        assert_eq!(m.headers.len(), 7);
    }

    #[test]
    fn structured_encoding() {
        let attributes = attributes();
        let m = structured(&event(&attributes), "k".into());
        assert_eq!(m.body, STRUCTURED);
        assert_eq!(m.content_type.as_deref(), Some(STRUCTURED_CONTENT_TYPE));
        assert_eq!(m.message_id.as_deref(), Some("e-1"));
        assert!(m.headers.is_empty());
    }

    #[test]
    fn both_modes_decode_to_the_data() {
        let attributes = attributes();
        let expected: Value = serde_json::from_slice(DATA).unwrap();
        for m in [
            binary(&event(&attributes), "k".into()),
            structured(&event(&attributes), "k".into()),
        ] {
            let data = event_data(&delivery(m)).unwrap();
            assert_eq!(serde_json::from_slice::<Value>(&data).unwrap(), expected);
        }
    }

    #[test]
    fn plain_json_is_the_event_itself() {
        let d = delivery(OutgoingMessage {
            body: br#"{"kind":"plain"}"#.to_vec(),
            content_type: Some("application/json".into()),
            ..Default::default()
        });
        assert_eq!(event_data(&d).unwrap(), br#"{"kind":"plain"}"#);
        let no_type = delivery(OutgoingMessage {
            body: b"[1]".to_vec(),
            ..Default::default()
        });
        assert_eq!(event_data(&no_type).unwrap(), b"[1]");
    }

    #[test]
    fn binary_underscore_prefix_is_accepted() {
        let headers = ["specversion", "id", "source", "type"]
            .iter()
            .map(|n| (format!("cloudEvents_{n}"), "x".to_string()))
            .collect();
        let d = delivery(OutgoingMessage {
            body: DATA.to_vec(),
            headers,
            ..Default::default()
        });
        assert_eq!(event_data(&d).unwrap(), DATA);
    }

    fn refusal(d: Delivery) -> String {
        event_data(&d).unwrap_err().to_string()
    }

    #[test]
    fn binary_refusals() {
        for missing in REQUIRED {
            let attributes: Vec<_> = attributes()
                .into_iter()
                .filter(|(n, _)| n != missing)
                .collect();
            let m = binary(&event(&attributes), "k".into());
            assert_eq!(
                refusal(delivery(m)),
                format!("binary CloudEvent without `cloudEvents:{missing}`")
            );
        }
        let attributes = attributes();
        let mut m = binary(&event(&attributes), "k".into());
        m.body = b"[1,2]".to_vec();
        assert_eq!(
            refusal(delivery(m.clone())),
            "binary CloudEvent whose data is a JSON array, not an object"
        );
        m.body = b"hello".to_vec();
        m.content_type = Some("text/plain".into());
        let reason = refusal(delivery(m));
        assert!(
            reason
                .starts_with("binary CloudEvent whose data is not JSON (content type text/plain)"),
            "{reason}"
        );
    }

    fn structured_delivery(body: &str) -> Delivery {
        delivery(OutgoingMessage {
            body: body.as_bytes().to_vec(),
            content_type: Some("application/cloudevents+json".into()),
            ..Default::default()
        })
    }

    #[test]
    fn structured_refusals() {
        let cases = [
            (
                "[]",
                "structured CloudEvent that is a JSON array, not an object",
            ),
            (
                r#"{"id":"1","source":"s","type":"t","data":{}}"#,
                "structured CloudEvent without `specversion`",
            ),
            (
                r#"{"specversion":"1.0","id":7,"source":"s","type":"t","data":{}}"#,
                "structured CloudEvent whose `id` is not a non-empty string but 7",
            ),
            (
                r#"{"specversion":"1.0","id":"1","source":"s","type":"t"}"#,
                "structured CloudEvent without `data`",
            ),
            (
                r#"{"specversion":"1.0","id":"1","source":"s","type":"t","data":"x"}"#,
                "structured CloudEvent whose `data` is a JSON string, not an object",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(refusal(structured_delivery(body)), expected, "{body}");
        }
        let base64 = refusal(structured_delivery(
            r#"{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"AA=="}"#,
        ));
        assert!(base64.contains("`data_base64`"), "{base64}");
        assert!(
            refusal(structured_delivery("{")).starts_with("structured CloudEvent that is not JSON")
        );
    }

    #[test]
    fn other_cloudevent_formats_are_refused() {
        let mut d = structured_delivery("[]");
        d.content_type = Some("application/cloudevents-batch+json".into());
        assert!(refusal(d.clone()).contains("batched CloudEvents"));
        d.content_type = Some("application/cloudevents+avro".into());
        assert!(refusal(d).contains("unsupported format"));
    }

    #[test]
    fn routing_keys() {
        assert_eq!(
            routing_key("events.{type}.{subject}", "order.created", Some("o-7")),
            "events.order.created.o-7"
        );
        assert_eq!(routing_key("{type}.{subject}", "t", None), "t.");
        assert_eq!(routing_key("fixed", "t", None), "fixed");
    }

    #[test]
    fn templates() {
        assert!(check_template("events.{type}.{subject}").is_ok());
        assert!(check_template("fixed").is_ok());
        assert!(check_template("").is_ok());
        let unknown = check_template("events.{kind}").unwrap_err();
        assert!(
            unknown.contains("unknown placeholder `{kind}`"),
            "{unknown}"
        );
        assert!(check_template("a.{type").unwrap_err().contains("unclosed"));
        assert!(check_template("a}").unwrap_err().contains("without"));
        assert!(check_template(&"x".repeat(300))
            .unwrap_err()
            .contains("at most 255"));
    }
}
