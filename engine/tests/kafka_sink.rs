//! The Kafka sink's CloudEvents, read back by Python's confluent-kafka so
//! the wire format is checked by someone else's code. Skips without a broker.

mod kafka_support;

use std::collections::HashSet;
use std::time::Duration;

use engine::config::CloudEventMode;
use engine::kafka::written::written_ids;
use engine::kafka::KafkaSink;

/// A derived event as the CloudEvents encoder writes it for files.
const TAKEOVER: &str = concat!(
    r#"{"specversion":"1.0","id":"7f3a","source":"eddy/rules/account_takeover","type":"eddy.takeover","#,
    r#""subject":"u1","time":"2026-01-01T00:00:01.234Z","datacontenttype":"application/json","#,
    r#""severity":"high","data":{"user_id":"u1","amount":12000.5,"failures":3,"#,
    r#""evidence":[{"step":"f","stream":"auth","offset":12}]}}"#,
    "\n"
);
const TAKEOVER_DATA: &str = r#"{"user_id":"u1","amount":12000.5,"failures":3,"evidence":[{"step":"f","stream":"auth","offset":12}]}"#;

const LARGE_PAYMENT: &str = r#"{"specversion":"1.0","id":"8b01","source":"eddy/rules/large_payment","type":"eddy.large_payment","time":"2026-01-01T00:00:02.000Z","datacontenttype":"application/json","data":{"payment_id":"p9","evidence":[]}}"#;

#[tokio::test]
async fn binary_mode_puts_attributes_in_ce_headers_and_data_in_the_value() {
    let brokers = require_broker!();
    let topic = kafka_support::unique("sink-binary");
    kafka_support::create_topic(&brokers, &topic, 1).await;

    let kafka = kafka_support::kafka_config(&brokers, "unused");
    let mut sink = KafkaSink::new(&kafka, &topic, CloudEventMode::Binary).unwrap();
    sink.send(Some("u1"), TAKEOVER.as_bytes()).await.unwrap();
    sink.send(None, LARGE_PAYMENT.as_bytes()).await.unwrap();
    assert_eq!(sink.unacknowledged(), 2);
    let delivered = sink.wait_for_acks().await.unwrap();
    assert_eq!(delivered.len(), 2);
    assert_eq!(sink.unacknowledged(), 0);

    let messages = kafka_support::read_back(&brokers, &topic, 1, 2);
    assert_eq!(messages.len(), 2, "{messages:?}");
    let takeover = &messages[0];
    assert_eq!(takeover.key.as_deref(), Some("u1"));
    assert_eq!(String::from_utf8(takeover.value()).unwrap(), TAKEOVER_DATA);
    let h = &takeover.headers;
    assert_eq!(h["ce_specversion"], "1.0");
    assert_eq!(h["ce_id"], "7f3a");
    assert_eq!(h["ce_source"], "eddy/rules/account_takeover");
    assert_eq!(h["ce_type"], "eddy.takeover");
    assert_eq!(h["ce_time"], "2026-01-01T00:00:01.234Z");
    assert_eq!(h["ce_subject"], "u1");
    assert_eq!(h["ce_severity"], "high");
    assert_eq!(h["content-type"], "application/json");
    assert!(!h.contains_key("ce_data"));
    assert!(!h.contains_key("ce_datacontenttype"));

    let payment = &messages[1];
    assert_eq!(payment.key, None);
    assert!(!payment.headers.contains_key("ce_subject"));
    assert_eq!(
        String::from_utf8(payment.value()).unwrap(),
        r#"{"payment_id":"p9","evidence":[]}"#
    );
    // Delivery reports name where the broker put each event.
    assert_eq!(
        delivered.iter().map(|d| d.offset).collect::<Vec<_>>(),
        messages.iter().map(|m| m.offset).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn structured_mode_puts_the_whole_event_in_the_value() {
    let brokers = require_broker!();
    let topic = kafka_support::unique("sink-structured");
    kafka_support::create_topic(&brokers, &topic, 1).await;

    let kafka = kafka_support::kafka_config(&brokers, "unused");
    let mut sink = KafkaSink::new(&kafka, &topic, CloudEventMode::Structured).unwrap();
    sink.send(Some("u1"), TAKEOVER.as_bytes()).await.unwrap();
    sink.wait_for_acks().await.unwrap();

    let messages = kafka_support::read_back(&brokers, &topic, 1, 1);
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert_eq!(message.key.as_deref(), Some("u1"));
    assert_eq!(
        message.headers.get("content-type").map(String::as_str),
        Some("application/cloudevents+json")
    );
    assert!(message.headers.keys().all(|k| !k.starts_with("ce_")));
    assert_eq!(
        String::from_utf8(message.value()).unwrap(),
        TAKEOVER.trim_end()
    );
}

/// A program of one rule and one derived event of it, built by hand (the
/// encoder only reads the rule's name, emit name, severity and fields).
fn takeover_output() -> (dsl::plan::Program, engine::pipeline::OutputEvent) {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use dsl::plan::{
        Catalog, EmitField, EmitPlan, Expr, ExprKind, Literal, Program, RuleKind, RulePlan,
        SimplePlan,
    };
    use operators::{DerivedMeta, Evidence, Locator};

    let field = |name: &str| EmitField {
        name: name.into(),
        expr: Expr {
            kind: ExprKind::Literal(Literal::Null),
            ty: dsl::plan::DataType::Null,
        },
    };
    let program = Program {
        catalog: Catalog::default(),
        rules: vec![RulePlan {
            name: "account_takeover".into(),
            severity: Some("high".into()),
            governance: Default::default(),
            kind: RuleKind::Simple(SimplePlan {
                stream: "auth".into(),
                filter: None,
            }),
            emit: EmitPlan {
                name: "takeover".into(),
                fields: vec![field("user_id"), field("failures")],
            },
            suppress: None,
        }],
    };
    let schema = Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new("failures", DataType::Int64, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["u1"])),
        Arc::new(Int64Array::from(vec![3])),
    ];
    let event = engine::pipeline::OutputEvent {
        rule: 0,
        batch: Arc::new(RecordBatch::try_new(Arc::new(schema), columns).unwrap()),
        row: 0,
        meta: DerivedMeta {
            time: 1_767_225_601_234,
            key: Some("u1".into()),
            id: "00ff".into(),
            evidence: vec![Evidence {
                step: Some("f".into()),
                stream: "auth".into(),
                at: Locator::Offset(3),
            }],
            evidence_omitted: 0,
            window: None,
        },
    };
    (program, event)
}

#[tokio::test]
async fn a_pipeline_output_event_goes_out_keyed_with_the_file_sinks_data() {
    let brokers = require_broker!();
    let topic = kafka_support::unique("sink-output");
    kafka_support::create_topic(&brokers, &topic, 1).await;
    let (program, event) = takeover_output();
    let encoder = engine::sink::CloudEventEncoder::new(&program);

    let kafka = kafka_support::kafka_config(&brokers, "unused");
    let mut sink = KafkaSink::new(&kafka, &topic, CloudEventMode::Binary).unwrap();
    sink.send_output(&encoder, &event, Some(3)).await.unwrap();
    sink.wait_for_acks().await.unwrap();

    let mut line = Vec::new();
    encoder.encode(&event, &mut line);
    let file_event: serde_json::Value = serde_json::from_slice(&line).unwrap();
    let messages = kafka_support::read_back(&brokers, &topic, 1, 1);
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    assert_eq!(message.key.as_deref(), Some("u1"));
    assert_eq!(message.headers["ce_id"], "00ff");
    assert_eq!(message.headers["ce_type"], "eddy.takeover");
    assert_eq!(message.headers["ce_source"], "eddy/rules/account_takeover");
    // The task that derived it, for reading the topic back after a restore.
    assert_eq!(message.headers["eddy_task"], "3");
    let data: serde_json::Value = serde_json::from_slice(&message.value()).unwrap();
    assert_eq!(data, file_event["data"]);
}

/// What a restored task finds already written: the ids of its own events
/// after a recorded position, in binary and structured mode alike.
#[tokio::test]
async fn a_task_s_events_after_a_position_are_read_back() {
    let brokers = require_broker!();
    let topic = kafka_support::unique("sink-written");
    kafka_support::create_topic(&brokers, &topic, 2).await;
    let (program, event) = takeover_output();
    let encoder = engine::sink::CloudEventEncoder::new(&program);
    let kafka = kafka_support::kafka_config(&brokers, "written");
    let mut binary = KafkaSink::new(&kafka, &topic, CloudEventMode::Binary).unwrap();
    let mut structured = KafkaSink::new(&kafka, &topic, CloudEventMode::Structured).unwrap();
    let with_id = |id: &str| {
        let mut event = event.clone();
        event.meta.id = id.into();
        event
    };

    binary
        .send_output(&encoder, &with_id("before"), Some(3))
        .await
        .unwrap();
    binary.wait_for_acks().await.unwrap();
    let from = binary.end_offsets(Duration::from_secs(10)).unwrap();
    assert_eq!(from.len(), 2, "{from:?}");
    for (structured_mode, id, task) in [
        (false, "b3", Some(3)),
        (true, "s3", Some(3)),
        (false, "b5", Some(5)),
        (true, "untagged", None),
    ] {
        let sink = if structured_mode {
            &mut structured
        } else {
            &mut binary
        };
        sink.send_output(&encoder, &with_id(id), task)
            .await
            .unwrap();
        sink.wait_for_acks().await.unwrap();
    }

    let read = |task| {
        written_ids(&kafka, &from, task, Duration::from_secs(30))
            .unwrap()
            .ids
    };
    let ids = |list: &[&str]| list.iter().map(|id| id.to_string()).collect::<HashSet<_>>();
    assert_eq!(read(3), ids(&["b3", "s3"]));
    assert_eq!(read(5), ids(&["b5"]));
    assert_eq!(read(7), ids(&[]));
    // From where the topic ends now: nothing.
    let now = binary.end_offsets(Duration::from_secs(10)).unwrap();
    let none = written_ids(&kafka, &now, 3, Duration::from_secs(30)).unwrap();
    assert_eq!((none.ids, none.last_time), (ids(&[]), None));
    // The events' own time, for knowing when a replay has passed them.
    let three = written_ids(&kafka, &from, 3, Duration::from_secs(30)).unwrap();
    assert_eq!(three.last_time, Some(event.meta.time));
}
