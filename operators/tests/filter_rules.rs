//! Simple rules: filter, shape, one derived event per matching event.

mod window_support;

use dsl::plan::{BinaryOp, DataType, Expr, ExprKind, Millis, RuleKind, SimplePlan};
use operators::conditions::SharedConditions;
use operators::filter::FilterOperator;
use operators::schema::stream_schema;
use operators::{Evidence, Locator, Operator, StateSize};
use window_support::*;

fn value_over(limit: i64) -> Expr {
    let user_in = Expr {
        kind: ExprKind::InList {
            expr: Box::new(field_ref("user", DataType::String)),
            list: vec![text("a"), text("b")],
            negated: false,
        },
        ty: DataType::Bool,
    };
    binary(
        BinaryOp::And,
        binary(BinaryOp::Gt, field_ref("value", DataType::Int), int(limit)),
        user_in,
    )
}

fn simple_rule(filter: Option<Expr>, suppress: Option<Millis>) -> dsl::plan::RulePlan {
    rule(
        RuleKind::Simple(SimplePlan {
            stream: STREAM.into(),
            filter,
        }),
        emit(
            "big",
            vec![
                ("user", field_ref("user", DataType::String)),
                ("value", field_ref("value", DataType::Int)),
            ],
        ),
        suppress,
    )
}

#[test]
fn emits_one_event_per_matching_row_in_the_derived_schema() {
    let r = simple_rule(Some(value_over(5)), None);
    let catalog = catalog(&r);
    let mut op = FilterOperator::new(0, &r, &catalog).unwrap();
    let mut out = Vec::new();
    let events = [
        event(10, "a", 7, 1),
        event(11, "b", 3, 2),
        event(12, "c", 9, 3),
        Event {
            ts: 13,
            user: None,
            value: 100,
            offset: 4,
        },
        event(14, "b", 6, 5),
    ];
    op.on_batch(STREAM, &batch(&events), &mut out).unwrap();

    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rule, 0);
    assert_eq!(
        out[0].data.schema(),
        stream_schema(catalog.stream("big").unwrap())
    );
    let got = flatten(&out);
    let rows: Vec<(&str, &str, &str, &str)> = got
        .iter()
        .map(|o| {
            (
                o.get("user"),
                o.get("value"),
                o.get("__offset"),
                o.get("time"),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("a", "7", "0", "1970-01-01T00:00:00.010"),
            ("b", "6", "1", "1970-01-01T00:00:00.014")
        ]
    );
    assert_eq!(got[0].time, 10);
    assert_eq!(got[0].key, None);
    assert_eq!(got[0].window, None);
    assert_eq!(
        out[0].meta[1].evidence,
        [Evidence {
            step: None,
            stream: STREAM.into(),
            at: Locator::Offset(5)
        }]
    );

    // Offsets continue across batches.
    out.clear();
    op.on_batch(STREAM, &batch(&[event(20, "a", 50, 6)]), &mut out)
        .unwrap();
    assert_eq!(flatten(&out)[0].get("__offset"), "2");
}

#[test]
fn without_a_condition_every_event_is_emitted() {
    let r = simple_rule(None, None);
    let mut op = FilterOperator::new(0, &r, &catalog(&r)).unwrap();
    let mut out = Vec::new();
    op.on_batch(
        STREAM,
        &batch(&[event(1, "a", 1, 1), event(2, "z", 2, 2)]),
        &mut out,
    )
    .unwrap();
    assert_eq!(flatten(&out).len(), 2);
}

#[test]
fn a_batch_without_matches_emits_nothing() {
    let r = simple_rule(Some(value_over(1000)), None);
    let mut op = FilterOperator::new(0, &r, &catalog(&r)).unwrap();
    let mut out = Vec::new();
    op.on_batch(STREAM, &batch(&[event(1, "a", 1, 1)]), &mut out)
        .unwrap();
    op.on_batch(STREAM, &batch(&[]), &mut out).unwrap();
    assert!(out.is_empty());
}

#[test]
fn a_batch_of_another_stream_is_an_input_error() {
    let r = simple_rule(None, None);
    let mut op = FilterOperator::new(0, &r, &catalog(&r)).unwrap();
    let err = op.on_batch("other", &batch(&[event(1, "a", 1, 1)]), &mut Vec::new());
    assert!(matches!(err, Err(operators::OperatorError::Input(_))));
}

#[test]
fn suppression_drops_repeats_and_forgets_after_the_period() {
    let r = simple_rule(None, Some(10));
    let mut op = FilterOperator::new(0, &r, &catalog(&r)).unwrap();
    let mut out = Vec::new();
    let events: Vec<Event> = [0, 5, 10, 15, 19]
        .iter()
        .enumerate()
        .map(|(i, &t)| event(t, "a", 1, i as i64))
        .collect();
    op.on_batch(STREAM, &batch(&events), &mut out).unwrap();
    let times: Vec<Millis> = flatten(&out).iter().map(|o| o.time).collect();
    assert_eq!(times, [0, 10]);
    assert_eq!(op.suppressed(), 3);
    assert_eq!(
        op.state_size(),
        StateSize {
            entries: 1,
            keys: 1
        }
    );
    // Suppressed events do not consume offsets.
    assert_eq!(flatten(&out)[1].get("__offset"), "1");

    op.on_watermark(20, &mut out).unwrap();
    assert_eq!(op.state_size(), StateSize::default());
}

fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
    Expr {
        kind: ExprKind::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        },
        ty: DataType::Bool,
    }
}

/// `value > 5 and user == "<user>"`, or `value > 5` alone.
fn over_five_for(user: Option<&str>) -> Expr {
    let over = binary(BinaryOp::Gt, field_ref("value", DataType::Int), int(5));
    match user {
        Some(user) => binary(
            BinaryOp::And,
            over,
            binary(
                BinaryOp::Eq,
                field_ref("user", DataType::String),
                text(user),
            ),
        ),
        None => over,
    }
}

#[test]
fn rules_sharing_the_start_of_their_condition_keep_what_each_would_alone() {
    let rules: Vec<_> = [Some("a"), Some("b"), None, Some("a")]
        .into_iter()
        .map(|user| simple_rule(Some(over_five_for(user)), None))
        .collect();
    let shared = SharedConditions::new();
    let mut sharing: Vec<FilterOperator> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| FilterOperator::sharing(i, r, &catalog(r), shared.clone()).unwrap())
        .collect();
    let mut alone: Vec<FilterOperator> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| FilterOperator::new(i, r, &catalog(r)).unwrap())
        .collect();
    let first = batch(&[
        event(10, "a", 7, 1),
        event(11, "b", 9, 2),
        event(12, "a", 3, 3),
        Event {
            ts: 13,
            user: None,
            value: 100,
            offset: 4,
        },
        event(14, "b", 6, 5),
    ]);
    // The same values in another batch: nothing kept for the first may be
    // taken for it; then the first batch again.
    let second = batch(&[
        event(20, "b", 7, 6),
        event(21, "a", 9, 7),
        event(22, "b", 3, 8),
        event(23, "a", 1, 9),
        event(24, "a", 6, 10),
    ]);
    let expected_users = [
        vec!["a"],
        vec!["b", "b"],
        vec!["a", "b", "", "b"],
        vec!["a"],
    ];
    for (round, input) in [&first, &second, &first].into_iter().enumerate() {
        for (i, (shared_op, alone_op)) in sharing.iter_mut().zip(&mut alone).enumerate() {
            let (mut with, mut without) = (Vec::new(), Vec::new());
            shared_op
                .on_batch(STREAM, &input.clone(), &mut with)
                .unwrap();
            alone_op.on_batch(STREAM, input, &mut without).unwrap();
            let (with, without) = (flatten(&with), flatten(&without));
            assert_eq!(with, without, "round {round}, rule {i}");
            if round == 0 {
                let users: Vec<&str> = with.iter().map(|o| o.get("user")).collect();
                assert_eq!(users, expected_users[i], "rule {i}");
            }
        }
    }
}
