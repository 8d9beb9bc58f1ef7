//! A derived event in the CloudEvents Kafka protocol binding (v1.0.2).
//!
//! The input is the structured CloudEvent JSON that
//! [`runtime::sink::CloudEventEncoder`] writes for files and stdout, so every
//! output carries the same event. For binary mode it is split into
//! attributes and data without re-encoding: the data's bytes, including its
//! key order, are exactly those of the structured form.
//!
//! - binary: each attribute `A` (extensions such as `severity` too) becomes
//!   a header `ce_A`, `datacontenttype` becomes `content-type`, and the
//!   value is the `data` JSON;
//! - structured: the value is the whole event and `content-type` is
//!   `application/cloudevents+json`.

use runtime::decode::members::top_level_members;

use super::error::KafkaConnectorError;

/// `content-type` of a structured-mode message.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";
/// `content-type` of a binary-mode message when the event does not say.
pub const DEFAULT_DATA_CONTENT_TYPE: &str = "application/json";

/// One event, split for the binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEvent<'a> {
    /// Attribute name and value, in the event's order, without `data` and
    /// `datacontenttype`. String values are unquoted; other JSON values
    /// (numbers, booleans) are kept as their JSON text.
    pub attributes: Vec<(String, String)>,
    pub data_content_type: String,
    /// The `data` member's JSON text; `None` for an event without data.
    pub data: Option<&'a [u8]>,
    /// The whole event, without surrounding whitespace.
    pub structured: &'a [u8],
}

impl<'a> CloudEvent<'a> {
    /// Splits the structured JSON of one event (a trailing newline is fine).
    pub fn parse(json: &'a [u8]) -> Result<Self, KafkaConnectorError> {
        let structured = json.trim_ascii();
        // Validates the whole text first, so the scan below may trust it.
        serde_json::from_slice::<serde::de::IgnoredAny>(structured)
            .map_err(|e| KafkaConnectorError::NotCloudEvent(e.to_string()))?;
        let members = top_level_members(structured)
            .ok_or_else(|| KafkaConnectorError::NotCloudEvent("not a JSON object".into()))?;

        let mut attributes = Vec::with_capacity(members.len());
        let mut data = None;
        let mut data_content_type = DEFAULT_DATA_CONTENT_TYPE.to_string();
        for (key, value) in members {
            let key: String = serde_json::from_slice(key)
                .map_err(|e| KafkaConnectorError::NotCloudEvent(e.to_string()))?;
            match key.as_str() {
                "data" => data = Some(value),
                "datacontenttype" => data_content_type = attribute_text(value)?,
                _ => attributes.push((key, attribute_text(value)?)),
            }
        }
        for required in ["specversion", "id", "source", "type"] {
            if !attributes.iter().any(|(name, _)| name == required) {
                return Err(KafkaConnectorError::NotCloudEvent(format!(
                    "no `{required}` attribute"
                )));
            }
        }
        Ok(CloudEvent {
            attributes,
            data_content_type,
            data,
            structured,
        })
    }

    /// The value of attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A string attribute unquoted; any other JSON value as its text.
fn attribute_text(value: &[u8]) -> Result<String, KafkaConnectorError> {
    if value.first() == Some(&b'"') {
        serde_json::from_slice(value).map_err(|e| KafkaConnectorError::NotCloudEvent(e.to_string()))
    } else if value.first() == Some(&b'{') || value.first() == Some(&b'[') {
        Err(KafkaConnectorError::NotCloudEvent(
            "an attribute other than `data` holds an object or array".into(),
        ))
    } else {
        Ok(String::from_utf8_lossy(value).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = concat!(
        r#"{"specversion":"1.0","id":"00ff","source":"eddy/rules/takeover","type":"eddy.account_takeover","#,
        r#""subject":"u\"1","time":"2026-01-01T00:00:01.234Z","datacontenttype":"application/json","#,
        r#""severity":"high","data":{"user_id":"u\"1","z":[1,{"a":"}"}],"amount":null}}"#,
        "\n"
    );

    #[test]
    fn attributes_and_data_are_split_without_re_encoding() {
        let event = CloudEvent::parse(EVENT.as_bytes()).unwrap();
        assert_eq!(
            event.data,
            Some(&br#"{"user_id":"u\"1","z":[1,{"a":"}"}],"amount":null}"#[..])
        );
        assert_eq!(event.data_content_type, "application/json");
        let names: Vec<&str> = event.attributes.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "specversion",
                "id",
                "source",
                "type",
                "subject",
                "time",
                "severity"
            ]
        );
        assert_eq!(event.attribute("subject"), Some("u\"1"));
        assert_eq!(event.structured, EVENT.trim_end().as_bytes());
    }

    #[test]
    fn whitespace_and_non_string_extensions_are_handled() {
        let json = br#" { "specversion" : "1.0" , "id":"1","source":"s","type":"t","n": 5 ,"b":true, "data" : [ 1 , 2 ] } "#;
        let event = CloudEvent::parse(json).unwrap();
        assert_eq!(event.attribute("n"), Some("5"));
        assert_eq!(event.attribute("b"), Some("true"));
        assert_eq!(event.data, Some(&b"[ 1 , 2 ]"[..]));
    }

    #[test]
    fn what_is_not_a_cloud_event_is_refused() {
        for bad in [
            &b"not json"[..],
            b"[1,2]",
            br#"{"id":"1","source":"s","type":"t"}"#,
            br#"{"specversion":"1.0","id":"1","source":"s","type":"t","x":{"a":1}}"#,
        ] {
            assert!(
                CloudEvent::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
