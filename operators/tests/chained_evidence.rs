//! Rules reading a derived stream name its events in their evidence by the
//! derived event's id (the contract), never by its sequence number within
//! the upstream rule; and the ids survive snapshots of window and pattern
//! state.

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array};
use dsl::plan::{Millis, Program};
use operators::filter::FilterOperator;
use operators::pattern::PatternOperator;
use operators::schema::stream_schema;
use operators::window::WindowOperator;
use operators::{DerivedBatch, DerivedMeta, Locator, Operator};

const RULES: &str = r#"
stream ev (ts timestamp, user string, n int) time ts

rule up_rule
  from ev
  emit up { user, n }

rule filtered
  from up where n > 0
  emit f_out { user }

rule windowed
  from up
  by user
  window 1000ms
  emit w_out { user, c: count() }

rule paired
  by user
  pattern a: up -> b: up where n > a.n
  within 1s
  emit p_out { user, first: a.n }
"#;

fn program() -> Program {
    let source = dsl::Source {
        name: "chained.eddy".into(),
        text: RULES.into(),
    };
    let (program, diagnostics) = dsl::compile(&[source]);
    program.unwrap_or_else(|| panic!("rules compile: {diagnostics:?}"))
}

fn rule(program: &Program, name: &str) -> usize {
    program.rules.iter().position(|r| r.name == name).unwrap()
}

/// Input events `(ts, user, n)` with offsets (lines) from 1.
fn input(program: &Program, events: &[(Millis, &str, i64)]) -> RecordBatch {
    RecordBatch::try_new(
        stream_schema(program.catalog.stream("ev").unwrap()),
        vec![
            Arc::new(TimestampMillisecondArray::from_iter_values(
                events.iter().map(|e| e.0),
            )),
            Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.1))),
            Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.2))),
            Arc::new(Int64Array::from_iter_values(1..=events.len() as i64)),
            Arc::new(UInt64Array::from_iter_values(
                (1..=events.len() as u64).map(|i| i * 7919),
            )),
        ],
    )
    .unwrap()
}

/// The upstream rule's derived events: one batch, as downstream rules read it.
fn upstream(program: &Program) -> DerivedBatch {
    let events = [
        (10, "a", 1),
        (20, "b", 5),
        (30, "a", 2),
        (40, "b", 6),
        (50, "a", 3),
    ];
    let index = rule(program, "up_rule");
    let mut op = FilterOperator::new(index, &program.rules[index], &program.catalog).unwrap();
    let mut out = Vec::new();
    op.on_batch("ev", &input(program, &events), &mut out)
        .unwrap();
    assert_eq!(out.len(), 1);
    out.remove(0)
}

fn ids(up: &DerivedBatch) -> Vec<String> {
    up.meta.iter().map(|m| m.id.clone()).collect()
}

/// The evidence of every derived event, as ids (panics on an offset).
fn evidence_ids(out: &[DerivedBatch]) -> Vec<Vec<String>> {
    out.iter()
        .flat_map(|b| &b.meta)
        .map(|m: &DerivedMeta| {
            m.evidence
                .iter()
                .map(|e| {
                    assert_eq!(e.stream, "up");
                    match &e.at {
                        Locator::Id(id) => id.clone(),
                        Locator::Offset(o) => panic!("derived event named by offset {o}"),
                    }
                })
                .collect()
        })
        .collect()
}

/// Feeds `up` row by row, moving to an operator restored from a snapshot
/// after each row when `restore` is set, then closes every window.
fn run(
    mut make: impl FnMut() -> Box<dyn Operator>,
    up: &DerivedBatch,
    restore: bool,
) -> Vec<DerivedBatch> {
    let mut op = make();
    let mut out = Vec::new();
    for row in 0..up.data.num_rows() {
        op.on_batch("up", &up.data.slice(row, 1), &mut out).unwrap();
        if restore {
            let bytes = op.snapshot().unwrap();
            op = make();
            op.restore(&bytes).unwrap();
        }
    }
    op.on_watermark(Millis::MAX, &mut out).unwrap();
    out
}

#[test]
fn a_derived_stream_carries_its_events_ids() {
    let program = program();
    let up = upstream(&program);
    let column = up
        .data
        .column_by_name(operators::schema::ID_COLUMN)
        .expect("a derived batch has the id column");
    let column = column.as_any().downcast_ref::<StringArray>().unwrap();
    let in_batch: Vec<String> = column.iter().map(|v| v.unwrap().to_owned()).collect();
    assert_eq!(in_batch, ids(&up));
    // Input streams stay as they were: no id column.
    let input_schema = stream_schema(program.catalog.stream("ev").unwrap());
    assert!(input_schema.index_of(operators::schema::ID_COLUMN).is_err());
}

#[test]
fn a_filter_over_a_derived_stream_names_its_events_by_id() {
    let program = program();
    let up = upstream(&program);
    let index = rule(&program, "filtered");
    let make = || -> Box<dyn Operator> {
        Box::new(FilterOperator::new(index, &program.rules[index], &program.catalog).unwrap())
    };
    let got = evidence_ids(&run(make, &up, false));
    let want: Vec<Vec<String>> = ids(&up).into_iter().map(|id| vec![id]).collect();
    assert_eq!(got, want);
}

#[test]
fn window_evidence_of_a_derived_stream_names_ids_across_restores() {
    let program = program();
    let up = upstream(&program);
    let index = rule(&program, "windowed");
    let make = || -> Box<dyn Operator> {
        Box::new(WindowOperator::new(index, &program.rules[index], &program.catalog).unwrap())
    };
    let id = ids(&up);
    // Keys in order: a (rows 0, 2, 4), then b (rows 1, 3).
    let want = vec![
        vec![id[0].clone(), id[2].clone(), id[4].clone()],
        vec![id[1].clone(), id[3].clone()],
    ];
    assert_eq!(evidence_ids(&run(make, &up, false)), want);
    assert_eq!(evidence_ids(&run(make, &up, true)), want);
}

#[test]
fn pattern_evidence_of_a_derived_stream_names_ids_across_restores() {
    let program = program();
    let up = upstream(&program);
    let index = rule(&program, "paired");
    let make = || -> Box<dyn Operator> {
        Box::new(PatternOperator::new(index, &program.rules[index], &program.catalog).unwrap())
    };
    let id = ids(&up);
    // a: 1 then 2 (rows 0, 2); b: 5 then 6 (rows 1, 3); a's 3 starts afresh.
    let want = vec![
        vec![id[0].clone(), id[2].clone()],
        vec![id[1].clone(), id[3].clone()],
    ];
    assert_eq!(evidence_ids(&run(make, &up, false)), want);
    assert_eq!(evidence_ids(&run(make, &up, true)), want);
}
