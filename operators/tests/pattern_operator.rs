//! The pattern operator over real Arrow batches (local conditions through
//! DataFusion, keys, evidence, emit) against the reference matcher, with a
//! fixed seed; and its output's independence from batching and from
//! arrival order within the lateness bound.

mod reference;

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array};
use dsl::plan::{
    AggFunc, BinaryOp, Catalog, DataType, EmitField, EmitPlan, Expr, ExprKind, Field, KeyPart,
    KeyPlan, Literal, PatternPlan, RuleKind, RulePlan, StepPlan, StreamPlan,
};
use operators::pattern::PatternOperator;
use operators::schema::stream_schema;
use operators::{DerivedBatch, Operator};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use reference::gen::{events, pattern, to_node};
use reference::{Element, Event, LinearPattern, Millis, RefMatch};

fn config() -> Config {
    Config {
        cases: 300,
        rng_seed: RngSeed::Fixed(0x0edd_0fe7),
        failure_persistence: None,
        ..Config::default()
    }
}

fn field(name: &str, ty: DataType) -> Field {
    Field {
        name: name.into(),
        ty,
        nullable: false,
    }
}

fn catalog() -> Catalog {
    Catalog {
        streams: vec![
            StreamPlan {
                name: "ev".into(),
                fields: vec![
                    field("ts", DataType::Timestamp),
                    field("key", DataType::String),
                    field("letter", DataType::String),
                    field("v", DataType::Int),
                ],
                time_field: "ts".into(),
                lateness: 5,
                ahead: dsl::plan::DEFAULT_AHEAD,
                derived_from: None,
            },
            StreamPlan {
                name: "m".into(),
                fields: vec![
                    field("k", DataType::String),
                    field("firsts", DataType::Int),
                    field("time", DataType::Timestamp),
                ],
                time_field: "time".into(),
                lateness: 0,
                ahead: dsl::plan::DEFAULT_AHEAD,
                derived_from: Some(0),
            },
        ],
    }
}

fn letter_is(letter: char) -> Expr {
    let e = |kind, ty| Expr { kind, ty };
    e(
        ExprKind::Binary {
            op: BinaryOp::Eq,
            left: Box::new(e(ExprKind::Field(vec!["letter".into()]), DataType::String)),
            right: Box::new(e(
                ExprKind::Literal(Literal::String(letter.to_string())),
                DataType::String,
            )),
        },
        DataType::Bool,
    )
}

/// `v == s0.v`: the reference's cross condition.
fn same_v_as_first() -> Expr {
    let e = |kind, ty| Expr { kind, ty };
    e(
        ExprKind::Binary {
            op: BinaryOp::Eq,
            left: Box::new(e(ExprKind::Field(vec!["v".into()]), DataType::Int)),
            right: Box::new(e(
                ExprKind::StepField {
                    step: 0,
                    path: vec!["v".into()],
                },
                DataType::Int,
            )),
        },
        DataType::Bool,
    )
}

/// `by key pattern s0: ev where letter == .. -> ... within W
/// emit m { k: key, firsts: count(s0) }`.
fn rule(pattern: &LinearPattern) -> RulePlan {
    let steps = pattern
        .elements
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (Element::Step { letter, .. } | Element::Not { letter }) = e;
            StepPlan {
                name: format!("s{i}"),
                stream: "ev".into(),
                local: Some(letter_is(*letter)),
                cross: pattern.same_v.contains(&i).then(same_v_as_first),
            }
        })
        .collect();
    RulePlan {
        name: "r".into(),
        severity: None,
        governance: Default::default(),
        kind: RuleKind::Pattern(PatternPlan {
            key: Some(KeyPlan {
                parts: vec![KeyPart {
                    name: "k".into(),
                    ty: DataType::String,
                    per_stream: vec![("ev".into(), vec!["key".into()])],
                }],
            }),
            steps,
            root: to_node(pattern),
            within: pattern.within,
        }),
        emit: EmitPlan {
            name: "m".into(),
            fields: vec![
                EmitField {
                    name: "k".into(),
                    expr: Expr {
                        kind: ExprKind::Key(0),
                        ty: DataType::String,
                    },
                },
                EmitField {
                    name: "firsts".into(),
                    expr: Expr {
                        kind: ExprKind::Aggregate {
                            func: AggFunc::Count,
                            step: Some(0),
                            arg: None,
                        },
                        ty: DataType::Int,
                    },
                },
            ],
        },
        suppress: None,
    }
}

/// Events `range` of `events` as a batch; the offset is the event's index.
fn batch(events: &[Event], indices: &[usize]) -> RecordBatch {
    let schema = stream_schema(&catalog().streams[0]);
    let picked: Vec<&Event> = indices.iter().map(|&i| &events[i]).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampMillisecondArray::from_iter_values(
                picked.iter().map(|e| e.time),
            )),
            Arc::new(StringArray::from_iter_values(
                picked.iter().map(|e| format!("k{}", e.key)),
            )),
            Arc::new(StringArray::from_iter_values(
                picked.iter().map(|e| e.letter.to_string()),
            )),
            Arc::new(Int64Array::from_iter_values(
                picked.iter().map(|e| e.v as i64),
            )),
            Arc::new(Int64Array::from_iter_values(
                indices.iter().map(|&i| i as i64),
            )),
            Arc::new(UInt64Array::from_iter_values(
                indices.iter().map(|&i| 1000 + i as u64),
            )),
        ],
    )
    .expect("batch matches the stream schema")
}

/// A match as the operator reports it, in the reference's terms.
fn from_derived(out: &[DerivedBatch]) -> Vec<RefMatch> {
    let mut matches = Vec::new();
    for b in out {
        let firsts = b
            .data
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("firsts is an int");
        for (row, meta) in b.meta.iter().enumerate() {
            let key = meta
                .key
                .as_deref()
                .and_then(|k| k.strip_prefix('k'))
                .expect("keyed");
            let taken: Vec<(usize, usize)> = meta
                .evidence
                .iter()
                .map(|e| {
                    let step = e
                        .step
                        .as_deref()
                        .and_then(|s| s.strip_prefix('s'))
                        .expect("a step");
                    (
                        step.parse().expect("step number"),
                        e.at.offset().unwrap() as usize,
                    )
                })
                .collect();
            let count_of_first = taken.iter().filter(|(s, _)| *s == 0).count();
            assert_eq!(
                firsts.value(row) as usize,
                count_of_first,
                "count(s0) is emitted"
            );
            matches.push(RefMatch {
                time: meta.time,
                key: key.parse().expect("key number"),
                taken,
            });
        }
    }
    matches
}

/// Runs the operator over `events` cut into batches at `cuts` (sorted
/// indices), with a watermark at the first time of every batch after the
/// first, then the end of input.
/// Returns the matches and the derived events' ids.
fn run_operator(
    pattern: &LinearPattern,
    events: &[Event],
    cuts: &[usize],
) -> (Vec<RefMatch>, Vec<String>) {
    let mut op = PatternOperator::new(0, &rule(pattern), &catalog()).expect("rule compiles");
    let mut out = Vec::new();
    let mut bounds: Vec<usize> = cuts
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < events.len())
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    bounds.insert(0, 0);
    bounds.push(events.len());
    for w in bounds.windows(2) {
        if w[0] == w[1] {
            continue;
        }
        if w[0] > 0 {
            op.on_watermark(events[w[0]].time, &mut out)
                .expect("watermark");
        }
        let indices: Vec<usize> = (w[0]..w[1]).collect();
        op.on_batch("ev", &batch(events, &indices), &mut out)
            .expect("batch");
    }
    op.on_watermark(Millis::MAX, &mut out)
        .expect("end of input");
    assert_eq!(
        op.state_size().entries,
        0,
        "end of input leaves no candidate"
    );
    let ids = out
        .iter()
        .flat_map(|b| b.meta.iter().map(|m| m.id.clone()))
        .collect();
    (from_derived(&out), ids)
}

/// The engine's rule: a stable sort by event time (ties keep arrival order).
fn engine_order(arrived: &[Event]) -> Vec<Event> {
    let mut sorted = arrived.to_vec();
    sorted.sort_by_key(|e| e.time);
    sorted
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn operator_emits_what_the_reference_emits(
        pattern in pattern(),
        events in events(),
        cuts in prop::collection::vec(0usize..40, 0..6),
    ) {
        let expected = reference::run(&pattern, &events);
        let (by_cuts, ids_by_cuts) = run_operator(&pattern, &events, &cuts);
        prop_assert_eq!(by_cuts, expected.clone());
        // One event per batch: the same matches, the same ids.
        let singles: Vec<usize> = (0..events.len()).collect();
        let (by_singles, ids_by_singles) = run_operator(&pattern, &events, &singles);
        prop_assert_eq!(by_singles, expected);
        prop_assert_eq!(ids_by_singles, ids_by_cuts);
    }

    #[test]
    fn arrival_order_within_lateness_does_not_change_the_output(
        pattern in pattern(),
        gaps in prop::collection::vec(
            (1i64..4, 0u8..3, prop::sample::select(reference::gen::LETTERS.to_vec()), 0u8..2),
            0..40,
        ),
        jitter in prop::collection::vec(0i64..=5, 40),
    ) {
        // Distinct times, so the engine's order is fully determined by time.
        let mut time = 0;
        let in_order: Vec<Event> = gaps
            .into_iter()
            .map(|(gap, key, letter, v)| {
                time += gap;
                Event { time, key, letter, v }
            })
            .collect();
        // Arrival order: each event delayed by at most the lateness (5).
        let mut arrived = in_order.clone();
        arrived.sort_by_key(|e| e.time + jitter[(e.time as usize) % jitter.len()]);
        let resorted = engine_order(&arrived);
        prop_assert_eq!(&resorted, &in_order);
        prop_assert_eq!(
            run_operator(&pattern, &resorted, &[3, 7]),
            run_operator(&pattern, &in_order, &[])
        );
    }
}
