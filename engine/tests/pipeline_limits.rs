//! Limits through the pipeline: `set_limits` reaches every rule's operator
//! and `limit_hits` reports what each cap did, per rule.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array,
};
use dsl::plan::Program;
use engine::pipeline::Pipeline;
use operators::schema::stream_schema;
use operators::{LimitHits, Limits};

const RULES: &str = r#"
stream ev (
    ts      timestamp,
    k       string,
    letter  string
) time ts lateness 0s

rule pairs by k
  pattern a: ev where letter == "a" -> b: ev where letter == "b"
  within 1s
  emit pair { k }

rule counts from ev by k window 10ms emit counted { k, n: count() }
"#;

fn compile() -> Program {
    let source = dsl::Source {
        name: "limits.eddy".into(),
        text: RULES.into(),
    };
    let (program, diagnostics) = dsl::compile(&[source]);
    program.unwrap_or_else(|| panic!("rules compile: {diagnostics:?}"))
}

/// Ten `a` of `k0`, then one event of each of `k1`..`k3`, all in [0, 10).
fn input(program: &Program) -> RecordBatch {
    let keys: Vec<String> = (0..13).map(|i| format!("k{}", i.max(9) - 9)).collect();
    let offsets = 0..keys.len() as i64;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from_iter_values(
            (0..keys.len() as i64).map(|i| i / 2),
        )),
        Arc::new(StringArray::from_iter_values(&keys)),
        Arc::new(StringArray::from_iter_values(keys.iter().map(|_| "a"))),
        Arc::new(Int64Array::from_iter_values(offsets.clone())),
        Arc::new(UInt64Array::from_iter_values(
            offsets.map(|o| xxhash_rust::xxh3::xxh3_64(&o.to_le_bytes())),
        )),
    ];
    RecordBatch::try_new(
        stream_schema(program.catalog.stream("ev").unwrap()),
        columns,
    )
    .unwrap()
}

fn run(limits: Option<&Limits>) -> (Pipeline, usize) {
    let program = compile();
    let mut pipeline = Pipeline::build(&program, &["ev"]).unwrap();
    if let Some(limits) = limits {
        pipeline.set_limits(limits);
    }
    let stream = program.catalog.stream_index("ev").unwrap();
    let released = pipeline.push(stream, &input(&program)).unwrap().ready.len();
    let derived = released + pipeline.finish().unwrap().len();
    (pipeline, derived)
}

#[test]
fn every_rule_takes_the_caps_of_its_kind_and_reports_its_hits() {
    let (pipeline, derived) = run(Some(&Limits {
        max_candidates_per_key: Some(2),
        max_candidates_per_rule: None,
        max_windows_per_rule: Some(3),
    }));
    let hits: Vec<(&str, LimitHits)> = pipeline.limit_hits().collect();
    assert_eq!(
        hits,
        [
            (
                "pairs",
                LimitHits {
                    candidates_evicted: 8,
                    ..LimitHits::default()
                }
            ),
            (
                "counts",
                LimitHits {
                    windows_refused: 1,
                    ..LimitHits::default()
                }
            ),
        ]
    );
    assert_eq!(derived, 3, "windows of k0, k1 and k2; k3 refused");

    let (pipeline, derived) = run(None);
    assert!(pipeline.limit_hits().all(|(_, hits)| hits.is_empty()));
    assert_eq!(derived, 4);
}
