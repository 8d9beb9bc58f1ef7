//! Derived events as CloudEvents (specversion 1.0), one JSON object per line:
//!
//! ```json
//! {"specversion":"1.0","id":"…","source":"eddy/rules/RULE","type":"eddy.EMIT",
//!  "subject":"KEY","time":"2026-01-01T00:00:00.000Z",
//!  "datacontenttype":"application/json","severity":"high",
//!  "data":{…emitted fields in emit order…,
//!          "evidence":[{"step":"f","stream":"auth","offset":12},
//!                      {"step":"t","stream":"takeover","id":"…"}],
//!          "evidence_omitted":8,
//!          "window":{"start":"…","end":"…"}}}
//! ```
//!
//! `subject` is left out without a key, `severity` without one on the rule,
//! `step` for evidence of non-pattern rules, `evidence_omitted` when the
//! evidence is complete, and `window` for non-window rules. Evidence names
//! an input event by `offset` (with `partition` on Kafka) and a derived
//! event read by a chained rule by its CloudEvent `id`.

use std::ops::Range;

use dsl::plan::Program;
use operators::{Evidence, Locator};

use super::json::{rfc3339_millis, write_str, write_value};
use crate::pipeline::OutputEvent;
use crate::position::split_record_number;

/// What the envelope needs to know of one rule.
#[derive(Debug, Clone)]
struct RuleEnvelope {
    source: String,
    event_type: String,
    severity: Option<String>,
    fields: Vec<String>,
}

/// Encodes derived events of one program.
#[derive(Debug, Clone)]
pub struct CloudEventEncoder {
    rules: Vec<RuleEnvelope>,
    /// Input streams whose evidence offsets are Kafka record numbers, to be
    /// shown as partition and offset (empty for file runs).
    kafka_streams: Vec<String>,
}

impl CloudEventEncoder {
    pub fn new(program: &Program) -> Self {
        let rules = program
            .rules
            .iter()
            .map(|rule| RuleEnvelope {
                source: format!("eddy/rules/{}", rule.name),
                event_type: format!("eddy.{}", rule.emit.name),
                severity: rule.severity.clone(),
                fields: rule.emit.fields.iter().map(|f| f.name.clone()).collect(),
            })
            .collect();
        CloudEventEncoder {
            rules,
            kafka_streams: Vec::new(),
        }
    }

    /// An encoder for a job reading the input streams from Kafka: evidence
    /// of those streams names the partition and offset of its message.
    pub fn for_kafka(program: &Program) -> Self {
        CloudEventEncoder {
            kafka_streams: program
                .catalog
                .streams
                .iter()
                .filter(|s| s.derived_from.is_none())
                .map(|s| s.name.clone())
                .collect(),
            ..CloudEventEncoder::new(program)
        }
    }

    /// Appends one CloudEvent and a newline to `out`; returns the byte
    /// range of its `data` member's value in `out` (what the binary mode of
    /// the Kafka binding sends as the message value).
    pub fn encode(&self, event: &OutputEvent, out: &mut Vec<u8>) -> Range<usize> {
        let mut fallback = None;
        let rule = self.envelope(event.rule, &mut fallback);
        let meta = &event.meta;
        out.extend_from_slice(b"{\"specversion\":\"1.0\",\"id\":");
        write_str(out, &meta.id);
        out.extend_from_slice(b",\"source\":");
        write_str(out, &rule.source);
        out.extend_from_slice(b",\"type\":");
        write_str(out, &rule.event_type);
        if let Some(key) = &meta.key {
            out.extend_from_slice(b",\"subject\":");
            write_str(out, key);
        }
        out.extend_from_slice(b",\"time\":");
        write_str(out, &rfc3339_millis(meta.time));
        out.extend_from_slice(b",\"datacontenttype\":\"application/json\"");
        if let Some(severity) = &rule.severity {
            out.extend_from_slice(b",\"severity\":");
            write_str(out, severity);
        }
        out.extend_from_slice(b",\"data\":");
        let data_start = out.len();
        out.push(b'{');
        let schema = event.batch.schema();
        for name in &rule.fields {
            write_str(out, name);
            out.push(b':');
            match schema.index_of(name) {
                Ok(column) => write_value(out, event.batch.column(column).as_ref(), event.row),
                Err(_) => out.extend_from_slice(b"null"),
            }
            out.push(b',');
        }
        out.extend_from_slice(b"\"evidence\":[");
        for (i, evidence) in meta.evidence.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'{');
            if let Some(step) = &evidence.step {
                out.extend_from_slice(b"\"step\":");
                write_str(out, step);
                out.push(b',');
            }
            out.extend_from_slice(b"\"stream\":");
            write_str(out, &evidence.stream);
            self.write_locator(evidence, out);
            out.push(b'}');
        }
        out.push(b']');
        // Evidence is never cut silently: say how much a limit left out.
        if meta.evidence_omitted > 0 {
            out.extend_from_slice(
                format!(",\"evidence_omitted\":{}", meta.evidence_omitted).as_bytes(),
            );
        }
        if let Some((start, end)) = meta.window {
            out.extend_from_slice(b",\"window\":{\"start\":");
            write_str(out, &rfc3339_millis(start));
            out.extend_from_slice(b",\"end\":");
            write_str(out, &rfc3339_millis(end));
            out.push(b'}');
        }
        out.push(b'}');
        let data = data_start..out.len();
        out.extend_from_slice(b"}\n");
        data
    }

    /// The context attributes of `event` as [`encode`](Self::encode)
    /// writes them, in the same order, without `data` and
    /// `datacontenttype`: (name, unquoted value).
    pub fn attributes(&self, event: &OutputEvent) -> Vec<(&'static str, String)> {
        let mut fallback = None;
        let rule = self.envelope(event.rule, &mut fallback);
        let meta = &event.meta;
        let mut attributes = vec![
            ("specversion", "1.0".to_string()),
            ("id", meta.id.clone()),
            ("source", rule.source.clone()),
            ("type", rule.event_type.clone()),
        ];
        if let Some(key) = &meta.key {
            attributes.push(("subject", key.clone()));
        }
        attributes.push(("time", rfc3339_millis(meta.time)));
        if let Some(severity) = &rule.severity {
            attributes.push(("severity", severity.clone()));
        }
        attributes
    }

    /// The envelope of rule `rule`; `fallback` holds a made-up one for a
    /// rule index the program does not have.
    fn envelope<'e>(
        &'e self,
        rule: usize,
        fallback: &'e mut Option<RuleEnvelope>,
    ) -> &'e RuleEnvelope {
        match self.rules.get(rule) {
            Some(envelope) => envelope,
            None => fallback.insert(RuleEnvelope {
                source: format!("eddy/rules/#{rule}"),
                event_type: "eddy.unknown".into(),
                severity: None,
                fields: Vec::new(),
            }),
        }
    }

    /// Where an evidence event is: its partition and offset (Kafka), its
    /// line (files), or, for a derived event, its id.
    fn write_locator(&self, evidence: &Evidence, out: &mut Vec<u8>) {
        match &evidence.at {
            Locator::Id(id) => {
                out.extend_from_slice(b",\"id\":");
                write_str(out, id);
            }
            Locator::Offset(offset) if self.kafka_streams.contains(&evidence.stream) => {
                let (partition, offset) = split_record_number(*offset);
                out.extend_from_slice(
                    format!(",\"partition\":{partition},\"offset\":{offset}").as_bytes(),
                );
            }
            Locator::Offset(offset) => {
                out.extend_from_slice(format!(",\"offset\":{offset}").as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    };
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    use dsl::plan::{
        Catalog, EmitField, EmitPlan, Expr, ExprKind, Literal, RuleKind, RulePlan, SimplePlan,
    };
    use operators::DerivedMeta;

    use super::*;

    fn program(severity: Option<&str>) -> Program {
        let field = |name: &str| EmitField {
            name: name.into(),
            expr: Expr {
                kind: ExprKind::Literal(Literal::Null),
                ty: dsl::plan::DataType::Null,
            },
        };
        Program {
            catalog: Catalog::default(),
            rules: vec![RulePlan {
                name: "takeover".into(),
                severity: severity.map(String::from),
                governance: Default::default(),
                kind: RuleKind::Simple(SimplePlan {
                    stream: "auth".into(),
                    filter: None,
                }),
                emit: EmitPlan {
                    name: "account_takeover".into(),
                    fields: vec![
                        field("user_id"),
                        field("amount"),
                        field("first"),
                        field("failures"),
                    ],
                },
                suppress: None,
            }],
        }
    }

    fn event(key: Option<&str>, window: Option<(i64, i64)>) -> OutputEvent {
        let schema = Schema::new(vec![
            // Column order differs from emit order on purpose.
            Field::new("failures", DataType::Int64, false),
            Field::new("user_id", DataType::Utf8, false),
            Field::new("amount", DataType::Float64, true),
            Field::new(
                "first",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![5])),
            Arc::new(StringArray::from(vec!["u\"1"])),
            Arc::new(Float64Array::from(vec![None])),
            Arc::new(TimestampMillisecondArray::from(vec![1_767_225_600_000])),
        ];
        OutputEvent {
            rule: 0,
            batch: Arc::new(RecordBatch::try_new(Arc::new(schema), columns).unwrap()),
            row: 0,
            meta: DerivedMeta {
                time: 1_767_225_601_234,
                key: key.map(String::from),
                id: "00ff".into(),
                evidence: vec![Evidence {
                    step: Some("f".into()),
                    stream: "auth".into(),
                    at: Locator::Offset(3),
                }],
                evidence_omitted: 0,
                window,
            },
        }
    }

    fn encode(program: &Program, event: &OutputEvent) -> String {
        let mut out = Vec::new();
        CloudEventEncoder::new(program).encode(event, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_full_envelope_keeps_its_key_order() {
        let text = encode(
            &program(Some("high")),
            &event(Some("u1"), Some((0, 60_000))),
        );
        assert_eq!(
            text,
            concat!(
                r#"{"specversion":"1.0","id":"00ff","source":"eddy/rules/takeover","type":"eddy.account_takeover","#,
                r#""subject":"u1","time":"2026-01-01T00:00:01.234Z","datacontenttype":"application/json","#,
                r#""severity":"high","data":{"user_id":"u\"1","amount":null,"first":"2026-01-01T00:00:00.000Z","#,
                r#""failures":5,"evidence":[{"step":"f","stream":"auth","offset":3}],"#,
                r#""window":{"start":"1970-01-01T00:00:00.000Z","end":"1970-01-01T00:01:00.000Z"}}}"#,
                "\n"
            )
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["data"]["failures"], 5);
    }

    #[test]
    fn optional_attributes_are_left_out() {
        let text = encode(&program(None), &event(None, None));
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        let object = parsed.as_object().unwrap();
        assert!(!object.contains_key("subject"));
        assert!(!object.contains_key("severity"));
        assert!(!parsed["data"].as_object().unwrap().contains_key("window"));
        assert!(!parsed["data"]
            .as_object()
            .unwrap()
            .contains_key("evidence_omitted"));
    }

    #[test]
    fn a_derived_event_in_evidence_is_named_by_its_id() {
        let mut event = event(Some("u1"), None);
        event.meta.evidence.push(Evidence {
            step: Some("t".into()),
            stream: "takeover".into(),
            at: Locator::Id("0123456789abcdef0123456789abcdef".into()),
        });
        let text = encode(&program(None), &event);
        assert!(
            text.contains(concat!(
                r#""evidence":[{"step":"f","stream":"auth","offset":3},"#,
                r#"{"step":"t","stream":"takeover","id":"0123456789abcdef0123456789abcdef"}]"#
            )),
            "{text}"
        );
    }

    #[test]
    fn evidence_left_out_is_counted_after_the_evidence() {
        let mut event = event(Some("u1"), Some((0, 60_000)));
        event.meta.evidence_omitted = 68;
        let text = encode(&program(None), &event);
        assert!(
            text.contains(r#""offset":3}],"evidence_omitted":68,"window":"#),
            "{text}"
        );
    }
}
