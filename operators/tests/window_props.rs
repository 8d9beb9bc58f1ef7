//! Window rules: tumbling, hopping and session windows over hand-made
//! batches, and a property test against a brute-force reference.

mod window_support;

use dsl::plan::{
    AggFunc, BinaryOp, DataType, Expr, ExprKind, Millis, RuleKind, WindowPlan, WindowSpec,
};
use operators::window::{WindowOperator, MAX_EVIDENCE};
use operators::{DerivedBatch, Operator, StateSize};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use window_support::*;

fn window_rule(spec: WindowSpec, having: Option<Expr>) -> dsl::plan::RulePlan {
    let plan = WindowPlan {
        stream: STREAM.into(),
        filter: None,
        key: Some(by_user()),
        window: spec,
        having,
    };
    rule(
        RuleKind::Window(plan),
        emit(
            "agg",
            vec![("user", key_ref(0)), ("n", count()), ("total", value_sum())],
        ),
        None,
    )
}

fn operator(rule: &dsl::plan::RulePlan) -> WindowOperator {
    WindowOperator::new(0, rule, &catalog(rule)).unwrap()
}

/// (key, window, n, total) of each output.
fn summary(out: &[DerivedBatch]) -> Vec<(String, (Millis, Millis), i64, i64)> {
    flatten(out)
        .iter()
        .map(|o| {
            assert_eq!(
                o.window.unwrap().1,
                o.time,
                "a window's event time is its end"
            );
            (
                o.key.clone().unwrap(),
                o.window.unwrap(),
                o.get("n").parse().unwrap(),
                o.get("total").parse().unwrap(),
            )
        })
        .collect()
}

fn s(v: &str) -> String {
    v.to_owned()
}

#[test]
fn tumbling_windows_fire_before_the_first_event_past_their_end() {
    let r = window_rule(WindowSpec::Tumbling { size: 10 }, None);
    let mut op = operator(&r);
    let mut out = Vec::new();
    let events = [
        event(0, "alice", 1, 1),
        event(3, "bob", 10, 2),
        event(5, "alice", 2, 3),
        event(9, "alice", 4, 4),
    ];
    op.on_batch(STREAM, &batch(&events), &mut out).unwrap();
    assert!(out.is_empty(), "nothing closes before time 10");
    op.on_batch(STREAM, &batch(&[event(12, "alice", 8, 5)]), &mut out)
        .unwrap();
    assert_eq!(
        summary(&out),
        [(s("alice"), (0, 10), 3, 7), (s("bob"), (0, 10), 1, 10)]
    );
    assert_eq!(
        op.state_size(),
        StateSize {
            entries: 1,
            keys: 1
        }
    );

    out.clear();
    op.on_watermark(Millis::MAX, &mut out).unwrap();
    assert_eq!(summary(&out), [(s("alice"), (10, 20), 1, 8)]);
    assert_eq!(op.state_size(), StateSize::default());
    let first = &flatten(&out)[0];
    assert_eq!(
        first.get("__offset"),
        "2",
        "offsets count every emitted event"
    );
    assert_eq!(first.evidence, [5]);
}

#[test]
fn a_window_fires_when_the_watermark_reaches_its_end() {
    let r = window_rule(WindowSpec::Tumbling { size: 10 }, None);
    let mut op = operator(&r);
    let mut out = Vec::new();
    op.on_batch(STREAM, &batch(&[event(-3, "a", 1, 1)]), &mut out)
        .unwrap();
    op.on_watermark(-1, &mut out).unwrap();
    assert!(out.is_empty());
    op.on_watermark(0, &mut out).unwrap();
    assert_eq!(summary(&out), [(s("a"), (-10, 0), 1, 1)]);
}

#[test]
fn hopping_windows_count_an_event_in_every_window_holding_it() {
    let r = window_rule(WindowSpec::Hopping { size: 10, slide: 5 }, None);
    let mut op = operator(&r);
    let mut out = Vec::new();
    op.on_batch(
        STREAM,
        &batch(&[event(2, "a", 1, 1), event(7, "a", 2, 2)]),
        &mut out,
    )
    .unwrap();
    op.on_watermark(Millis::MAX, &mut out).unwrap();
    assert_eq!(
        summary(&out),
        [
            (s("a"), (-5, 5), 1, 1),
            (s("a"), (0, 10), 2, 3),
            (s("a"), (5, 15), 1, 2)
        ]
    );
}

#[test]
fn session_windows_close_a_gap_after_their_last_event() {
    let r = window_rule(WindowSpec::Session { gap: 10 }, None);
    let mut op = operator(&r);
    let mut out = Vec::new();
    let events = [
        event(0, "a", 1, 1),
        event(5, "a", 1, 2),
        event(14, "a", 1, 3),
        event(20, "b", 5, 4),
    ];
    op.on_batch(STREAM, &batch(&events), &mut out).unwrap();
    assert!(out.is_empty());
    // 24 = 14 + 10: the first session of `a` closes; `b`'s runs to 30.
    op.on_batch(STREAM, &batch(&[event(24, "a", 7, 5)]), &mut out)
        .unwrap();
    assert_eq!(summary(&out), [(s("a"), (0, 24), 3, 3)]);
    out.clear();
    op.on_watermark(Millis::MAX, &mut out).unwrap();
    assert_eq!(
        summary(&out),
        [(s("b"), (20, 30), 1, 5), (s("a"), (24, 34), 1, 7)]
    );
}

#[test]
fn having_filters_fired_windows() {
    let at_least_two = Expr {
        kind: ExprKind::Binary {
            op: BinaryOp::GtEq,
            left: Box::new(count()),
            right: Box::new(int(2)),
        },
        ty: DataType::Bool,
    };
    let r = window_rule(WindowSpec::Tumbling { size: 10 }, Some(at_least_two));
    let mut op = operator(&r);
    let mut out = Vec::new();
    let events = [
        event(1, "a", 1, 1),
        event(2, "b", 1, 2),
        event(3, "a", 1, 3),
    ];
    op.on_batch(STREAM, &batch(&events), &mut out).unwrap();
    op.on_watermark(Millis::MAX, &mut out).unwrap();
    assert_eq!(summary(&out), [(s("a"), (0, 10), 2, 2)]);
    assert_eq!(flatten(&out)[0].evidence, [1, 3]);
}

#[test]
fn evidence_lists_at_most_the_first_events_of_a_window() {
    let r = window_rule(WindowSpec::Tumbling { size: 1000 }, None);
    let mut op = operator(&r);
    let mut out = Vec::new();
    let events: Vec<_> = (0..100).map(|i| event(i, "a", 1, i + 1)).collect();
    op.on_batch(STREAM, &batch(&events), &mut out).unwrap();
    op.on_watermark(Millis::MAX, &mut out).unwrap();
    let o = &flatten(&out)[0];
    assert_eq!(o.get("n"), "100");
    assert_eq!(o.evidence, (1..=MAX_EVIDENCE as i64).collect::<Vec<_>>());
    assert_eq!(o.evidence_omitted, 100 - MAX_EVIDENCE as u64);
}

#[test]
fn evidence_left_out_is_counted_across_batches_and_per_window() {
    // Hopping 20 every 10: the events at 10..20 are in two windows, each
    // counting its own omissions; a window within the cap omits nothing.
    let r = window_rule(
        WindowSpec::Hopping {
            size: 20,
            slide: 10,
        },
        None,
    );
    let mut op = operator(&r);
    let mut out = Vec::new();
    let mut offset = 0;
    let mut next = |ts| {
        offset += 1;
        event(ts, "a", 1, offset)
    };
    let first: Vec<_> = (0..30).map(|_| next(5)).collect();
    let second: Vec<_> = (0..25).map(|_| next(15)).collect();
    op.on_batch(STREAM, &batch(&first), &mut out).unwrap();
    op.on_batch(STREAM, &batch(&second), &mut out).unwrap();
    op.on_watermark(Millis::MAX, &mut out).unwrap();
    let got: Vec<_> = flatten(&out)
        .iter()
        .map(|o| (o.window.unwrap(), o.evidence.len(), o.evidence_omitted))
        .collect();
    assert_eq!(
        got,
        [
            ((-10, 10), 30, 0),
            ((0, 20), MAX_EVIDENCE, 55 - MAX_EVIDENCE as u64),
            ((10, 30), 25, 0),
        ]
    );
}

#[test]
fn events_without_a_key_take_part_in_no_window() {
    let r = window_rule(WindowSpec::Tumbling { size: 10 }, None);
    let mut op = operator(&r);
    let mut out = Vec::new();
    let mut nameless = event(1, "x", 1, 1);
    nameless.user = None;
    op.on_batch(STREAM, &batch(&[nameless, event(2, "a", 1, 2)]), &mut out)
        .unwrap();
    op.on_watermark(Millis::MAX, &mut out).unwrap();
    assert_eq!(summary(&out), [(s("a"), (0, 10), 1, 1)]);
}

#[test]
fn every_aggregate_function_has_the_checker_type() {
    let value = || field_ref("value", DataType::Int);
    let plan = WindowPlan {
        stream: STREAM.into(),
        filter: None,
        key: None,
        window: WindowSpec::Tumbling { size: 100 },
        having: None,
    };
    let fields = vec![
        ("n", count()),
        (
            "users",
            agg(
                AggFunc::CountDistinct,
                Some(field_ref("user", DataType::String)),
                DataType::Int,
            ),
        ),
        ("total", value_sum()),
        ("mean", agg(AggFunc::Avg, Some(value()), DataType::Float)),
        ("low", agg(AggFunc::Min, Some(value()), DataType::Int)),
        ("high", agg(AggFunc::Max, Some(value()), DataType::Int)),
        ("first", agg(AggFunc::First, Some(value()), DataType::Int)),
        ("last", agg(AggFunc::Last, Some(value()), DataType::Int)),
        (
            "median",
            agg(AggFunc::Percentile(0.5), Some(value()), DataType::Float),
        ),
    ];
    let r = rule(RuleKind::Window(plan), emit("stats", fields), None);
    let mut op = WindowOperator::new(0, &r, &catalog(&r)).unwrap();
    let mut out = Vec::new();
    let events = [
        event(1, "a", 4, 1),
        event(2, "b", 1, 2),
        event(3, "a", 10, 3),
        event(4, "c", 3, 4),
    ];
    // Two batches: accumulators carry over.
    op.on_batch(STREAM, &batch(&events[..1]), &mut out).unwrap();
    op.on_batch(STREAM, &batch(&events[1..]), &mut out).unwrap();
    op.on_watermark(Millis::MAX, &mut out).unwrap();
    let o = &flatten(&out)[0];
    assert_eq!(o.key, None);
    let got: Vec<(&str, &str)> = o
        .data
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .take(9)
        .collect();
    assert_eq!(
        got,
        [
            ("n", "4"),
            ("users", "3"),
            ("total", "18"),
            ("mean", "4.5"),
            ("low", "1"),
            ("high", "10"),
            ("first", "4"),
            ("last", "3"),
            ("median", "3.5"),
        ]
    );
    let schema = out[0].data.schema();
    assert_eq!(
        schema.field_with_name("mean").unwrap().data_type(),
        &arrow_schema::DataType::Float64
    );
    assert_eq!(
        schema.field_with_name("users").unwrap().data_type(),
        &arrow_schema::DataType::Int64
    );
}

// ---- property: the operator agrees with a brute-force reference ----

/// (key, start, end, count, sum, evidence) of every window, in firing order.
type Expected = Vec<(String, Millis, Millis, i64, i64, Vec<i64>)>;

/// Brute force: for every key, the events of every window, straight from
/// the definitions.
fn reference(events: &[Event], spec: WindowSpec) -> Expected {
    let mut keys: Vec<String> = events.iter().filter_map(|e| e.user.clone()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for key in &keys {
        let mine: Vec<&Event> = events
            .iter()
            .filter(|e| e.user.as_ref() == Some(key))
            .collect();
        let mut windows: Vec<(Millis, Millis, Vec<&Event>)> = Vec::new();
        match spec {
            WindowSpec::Tumbling { size } => windows_from_starts(&mine, size, size, &mut windows),
            WindowSpec::Hopping { size, slide } => {
                windows_from_starts(&mine, size, slide, &mut windows)
            }
            WindowSpec::Session { gap } => {
                for e in &mine {
                    match windows.last_mut() {
                        Some((_, end, members)) if e.ts < *end => {
                            members.push(e);
                            *end = e.ts + gap;
                        }
                        _ => windows.push((e.ts, e.ts + gap, vec![e])),
                    }
                }
            }
        }
        for (start, end, members) in windows {
            let evidence = members
                .iter()
                .take(MAX_EVIDENCE)
                .map(|e| e.offset)
                .collect();
            let sum = members.iter().map(|e| e.value).sum();
            out.push((key.clone(), start, end, members.len() as i64, sum, evidence));
        }
    }
    out.sort_by(|a, b| (a.2, &a.0, a.1).cmp(&(b.2, &b.0, b.1)));
    out
}

/// Every window `[k*slide, k*slide + size)` holding at least one event.
fn windows_from_starts<'e>(
    events: &[&'e Event],
    size: Millis,
    slide: Millis,
    out: &mut Vec<(Millis, Millis, Vec<&'e Event>)>,
) {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return;
    };
    let mut k = (first.ts - size).div_euclid(slide);
    while k * slide <= last.ts {
        let (start, end) = (k * slide, k * slide + size);
        let members: Vec<&Event> = events
            .iter()
            .copied()
            .filter(|e| start <= e.ts && e.ts < end)
            .collect();
        if !members.is_empty() {
            out.push((start, end, members));
        }
        k += 1;
    }
}

/// Runs the rule over `events` cut at `cuts`, with a watermark after
/// every batch when `watermarks` (at the next batch's first time).
fn run(
    spec: WindowSpec,
    events: &[Event],
    cuts: &[usize],
    watermarks: bool,
) -> Vec<window_support::Out> {
    let r = window_rule(spec, None);
    let mut op = operator(&r);
    let mut out = Vec::new();
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (events.len() + 1)).collect();
    bounds.push(0);
    bounds.push(events.len());
    bounds.sort();
    bounds.dedup();
    for pair in bounds.windows(2) {
        op.on_batch(STREAM, &batch(&events[pair[0]..pair[1]]), &mut out)
            .unwrap();
        if watermarks {
            if let Some(next) = events.get(pair[1]) {
                op.on_watermark(next.ts, &mut out).unwrap();
            }
        }
    }
    op.on_watermark(Millis::MAX, &mut out).unwrap();
    assert_eq!(
        op.state_size(),
        StateSize::default(),
        "every window fired and was dropped"
    );
    flatten(&out)
}

fn spec_strategy() -> impl Strategy<Value = WindowSpec> {
    prop_oneof![
        (1i64..40).prop_map(|size| WindowSpec::Tumbling { size }),
        (1i64..40, 1i64..40).prop_map(|(size, slide)| WindowSpec::Hopping { size, slide }),
        (1i64..40).prop_map(|gap| WindowSpec::Session { gap }),
    ]
}

fn events_strategy() -> impl Strategy<Value = Vec<Event>> {
    (
        -100i64..100,
        prop::collection::vec((0i64..15, 0usize..4, -5i64..20), 0..80),
    )
        .prop_map(|(base, raw)| {
            let mut ts = base;
            raw.into_iter()
                .enumerate()
                .map(|(i, (dt, user, value))| {
                    ts += dt;
                    let user = ["a", "b", "c"].get(user).map(|u| u.to_string()); // 3 = no key
                    Event {
                        ts,
                        user,
                        value,
                        offset: i as i64 + 1,
                    }
                })
                .collect()
        })
}

proptest! {
    #![proptest_config(Config {
        cases: 96,
        rng_seed: RngSeed::Fixed(0xedd7_5eed),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn windows_match_the_reference_however_the_input_is_cut(
        spec in spec_strategy(),
        events in events_strategy(),
        cuts in prop::collection::vec(0usize..100, 0..6),
    ) {
        let whole = run(spec, &events, &[], false);
        let got: Expected = whole
            .iter()
            .map(|o| {
                let (start, end) = o.window.unwrap();
                (o.key.clone().unwrap(), start, end, o.get("n").parse().unwrap(), o.get("total").parse().unwrap(), o.evidence.clone())
            })
            .collect();
        prop_assert_eq!(&got, &reference(&events, spec));
        // Same derived events (ids and offsets included) whatever the cuts
        // and watermarks.
        prop_assert_eq!(&run(spec, &events, &cuts, false), &whole);
        prop_assert_eq!(&run(spec, &events, &cuts, true), &whole);
    }
}

#[test]
fn open_state_stays_bounded_over_a_long_run() {
    // 20 keys, one event per millisecond for 20 000 ms, hopping windows of
    // 100 every 50: at any time each key has at most 2 open windows (3
    // right at a boundary, before the old one fires).
    let r = window_rule(
        WindowSpec::Hopping {
            size: 100,
            slide: 50,
        },
        None,
    );
    let mut op = operator(&r);
    let mut out = Vec::new();
    let mut most = StateSize::default();
    for chunk in 0..200 {
        let events: Vec<Event> = (0..100)
            .map(|i| {
                let t = chunk * 100 + i;
                event(t, &format!("k{}", t % 20), 1, t + 1)
            })
            .collect();
        op.on_batch(STREAM, &batch(&events), &mut out).unwrap();
        op.on_watermark(chunk * 100 + 100, &mut out).unwrap();
        let now = op.state_size();
        most.entries = most.entries.max(now.entries);
        most.keys = most.keys.max(now.keys);
    }
    assert!(most.entries <= 20 * 3, "{most:?}");
    assert!(most.keys <= 20);
    // The windows ending by 20 000 fired: starts -50 to 19 900, 400 per key.
    let fired = flatten(&out).len();
    op.on_watermark(Millis::MAX, &mut Vec::new()).unwrap();
    assert_eq!(fired, 20 * 400);
    assert_eq!(op.state_size(), StateSize::default());
}
