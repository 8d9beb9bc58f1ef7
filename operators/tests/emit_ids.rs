//! The emitter: deterministic ids, keys in emitted fields, suppression per
//! key, the exact derived schema.

mod window_support;

use std::sync::Arc;

use arrow_array::{Float64Array, RecordBatch};
use arrow_schema::{DataType as ArrowType, Field as ArrowField, Schema};
use datafusion_common::ScalarValue;
use dsl::plan::{DataType, Expr, ExprKind, Millis, RuleKind, WindowPlan, WindowSpec};
use operators::derived::derived_id;
use operators::emit::{Emitter, MatchInfo};
use operators::expr::ColumnLeaves;
use operators::key::Key;
use operators::schema::stream_schema;
use operators::{DerivedBatch, Evidence, Locator};
use window_support::*;

/// A keyed rule emitting `{ user: <key>, score: <input column "score"> }`.
fn keyed_rule(suppress: Option<Millis>) -> dsl::plan::RulePlan {
    let plan = WindowPlan {
        stream: STREAM.into(),
        filter: None,
        key: Some(by_user()),
        window: WindowSpec::Tumbling { size: 10 },
        having: None,
    };
    let score = Expr {
        kind: ExprKind::Field(vec!["score".into()]),
        ty: DataType::Float,
    };
    rule(
        RuleKind::Window(plan),
        emit("scored", vec![("user", key_ref(0)), ("score", score)]),
        suppress,
    )
}

fn input(scores: &[f64]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![ArrowField::new(
        "score",
        ArrowType::Float64,
        true,
    )]));
    RecordBatch::try_new(schema, vec![Arc::new(Float64Array::from(scores.to_vec()))]).unwrap()
}

fn emitter(rule: &dsl::plan::RulePlan) -> Emitter {
    let schema = input(&[]).schema();
    Emitter::new(
        3,
        rule,
        &catalog(rule),
        &schema,
        &ColumnLeaves::new().with_fields(),
    )
    .unwrap()
}

fn user(name: &str) -> Key {
    Key::new(vec![ScalarValue::Utf8(Some(name.into()))])
}

fn info(time: Millis, key: &str, offsets: &[i64]) -> MatchInfo {
    MatchInfo {
        time,
        key: Some(user(key)),
        evidence: offsets
            .iter()
            .map(|&o| Evidence {
                step: Some("f".into()),
                stream: STREAM.into(),
                at: Locator::Offset(o),
            })
            .collect(),
        evidence_hashes: offsets.iter().map(|&o| event_hash(o)).collect(),
        evidence_omitted: 0,
        window: None,
    }
}

fn emit_all(e: &mut Emitter, scores: &[f64], matches: Vec<MatchInfo>) -> Vec<DerivedBatch> {
    let mut out = Vec::new();
    e.emit(&input(scores), matches, &mut out).unwrap();
    out
}

#[test]
fn ids_are_deterministic_and_built_from_rule_key_time_and_evidence() {
    let r = keyed_rule(None);
    let matches = || {
        vec![
            info(100, "alice", &[1, 2]),
            info(100, "bob", &[1, 2]),
            info(101, "alice", &[1, 2]),
        ]
    };
    let first = flatten(&emit_all(&mut emitter(&r), &[1.0, 2.0, 3.0], matches()));
    let again = flatten(&emit_all(&mut emitter(&r), &[1.0, 2.0, 3.0], matches()));
    assert_eq!(first, again);
    assert_eq!(
        first[0].id,
        derived_id("r", Some("alice"), 100, &[event_hash(1), event_hash(2)])
    );
    // Key and time both enter the id.
    assert_ne!(first[0].id, first[1].id);
    assert_ne!(first[0].id, first[2].id);
    // Other evidence, other id.
    let other = flatten(&emit_all(
        &mut emitter(&r),
        &[1.0],
        vec![info(100, "alice", &[1, 3])],
    ));
    assert_ne!(first[0].id, other[0].id);
    // `__hash` is the xxh3-64 of the id.
    assert_eq!(
        first[0].get("__hash"),
        xxhash_rust::xxh3::xxh3_64(first[0].id.as_bytes()).to_string()
    );
}

#[test]
fn emitted_fields_read_the_key_and_the_input_row() {
    let r = keyed_rule(None);
    let mut e = emitter(&r);
    let out = emit_all(
        &mut e,
        &[0.5, 1.5],
        vec![info(7, "alice", &[4]), info(8, "bob", &[5])],
    );
    assert_eq!(out[0].rule, 3);
    assert_eq!(
        out[0].data.schema(),
        stream_schema(catalog(&r).stream("scored").unwrap())
    );
    let rows: Vec<(String, String, Option<String>)> = flatten(&out)
        .iter()
        .map(|o| {
            (
                o.get("user").to_owned(),
                o.get("score").to_owned(),
                o.key.clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("alice".into(), "0.5".into(), Some("alice".into())),
            ("bob".into(), "1.5".into(), Some("bob".into()))
        ]
    );
    assert_eq!(
        out[0].meta[0].evidence[0].step.as_deref(),
        Some("f"),
        "evidence is passed through"
    );
    assert_eq!(e.emitted(), 2);
}

#[test]
fn suppression_is_per_key_and_counted() {
    let r = keyed_rule(Some(10));
    let mut e = emitter(&r);
    let matches = vec![
        info(0, "alice", &[1]),
        info(3, "bob", &[2]),
        info(5, "alice", &[3]),
        info(12, "alice", &[4]),
    ];
    let out = flatten(&emit_all(&mut e, &[1.0, 2.0, 3.0, 4.0], matches));
    let kept: Vec<(Millis, &str, &str)> = out
        .iter()
        .map(|o| (o.time, o.get("user"), o.get("score")))
        .collect();
    assert_eq!(
        kept,
        [(0, "alice", "1.0"), (3, "bob", "2.0"), (12, "alice", "4.0")]
    );
    assert_eq!(
        out.iter().map(|o| o.get("__offset")).collect::<Vec<_>>(),
        ["0", "1", "2"]
    );
    assert_eq!(e.suppressed(), 1);
    assert_eq!(e.suppression_keys(), 2);
    e.advance(13);
    assert_eq!(e.suppression_keys(), 1, "bob's period ended at 13");
    e.advance(22);
    assert_eq!(e.suppression_keys(), 0);
}

#[test]
fn a_fully_suppressed_batch_emits_nothing() {
    let r = keyed_rule(Some(10));
    let mut e = emitter(&r);
    emit_all(&mut e, &[1.0], vec![info(0, "alice", &[1])]);
    assert!(emit_all(&mut e, &[2.0], vec![info(1, "alice", &[2])]).is_empty());
}

#[test]
fn one_match_per_row_is_required() {
    let r = keyed_rule(None);
    let mut e = emitter(&r);
    let err = e.emit(
        &input(&[1.0, 2.0]),
        vec![info(0, "a", &[1])],
        &mut Vec::new(),
    );
    assert!(matches!(err, Err(operators::OperatorError::Input(_))));
}
