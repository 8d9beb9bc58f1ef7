//! The pattern operator on rules written in the rule language: the
//! examples of docs/rules.md, `all(...)`, alternation and quantified groups.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use datafusion_common::scalar::ScalarStructBuilder;
use datafusion_common::ScalarValue;
use dsl::plan::{Catalog, Millis, Program};
use dsl::Source;
use operators::derived::{Evidence, Locator};
use operators::pattern::PatternOperator;
use operators::schema::stream_schema;
use operators::{DerivedBatch, Operator};

mod rules_md;
use rules_md::{ACCOUNT_TAKEOVER, STREAMS, UNSETTLED};

const SECOND: Millis = 1000;
const MINUTE: Millis = 60 * SECOND;

fn compile(text: &str) -> Program {
    let source = Source {
        name: "test.eddy".into(),
        text: text.into(),
    };
    let (program, diagnostics) = dsl::compile(&[source]);
    program.unwrap_or_else(|| panic!("rules compile: {diagnostics:?}"))
}

/// Feeds events one at a time, in the order given, with increasing offsets.
struct Harness {
    catalog: Catalog,
    op: PatternOperator,
    out: Vec<DerivedBatch>,
    next_offset: i64,
}

impl Harness {
    /// Rules over the streams of docs/rules.md.
    fn new(rules: &str) -> Self {
        Self::with_streams(&format!("{STREAMS}\n{rules}"))
    }

    /// Streams and rules; the first rule is run.
    fn with_streams(text: &str) -> Self {
        let program = compile(text);
        let op =
            PatternOperator::new(0, &program.rules[0], &program.catalog).expect("pattern compiles");
        Self {
            catalog: program.catalog,
            op,
            out: Vec::new(),
            next_offset: 1,
        }
    }

    /// One event of `stream`: its declared fields in order (time first in
    /// these streams).
    fn event(&mut self, stream: &str, values: Vec<ScalarValue>) -> &mut Self {
        let plan = self.catalog.stream(stream).expect("known stream");
        let schema = stream_schema(plan);
        let mut columns: Vec<ArrayRef> = values
            .into_iter()
            .zip(schema.fields().iter())
            .map(|(v, f)| {
                let array = v.to_array_of_size(1).expect("scalar to array");
                datafusion_common::arrow::compute::cast(&array, f.data_type())
                    .expect("value has the field's type")
            })
            .collect();
        columns.push(Arc::new(Int64Array::from(vec![self.next_offset])));
        columns.push(Arc::new(UInt64Array::from(vec![self.next_offset as u64])));
        self.next_offset += 1;
        let batch = RecordBatch::try_new(schema, columns).expect("event has the stream's shape");
        self.op
            .on_batch(stream, &batch, &mut self.out)
            .expect("batch");
        self
    }

    fn auth(&mut self, ts: Millis, user: &str, kind: &str, ip: &str) -> &mut Self {
        self.event(
            "auth",
            vec![
                ScalarValue::TimestampMillisecond(Some(ts), None),
                s(user),
                s(kind),
                s(ip),
                ScalarValue::Utf8(None),
            ],
        )
    }

    fn payment(&mut self, ts: Millis, id: &str, user: &str, amount: f64) -> &mut Self {
        self.event(
            "payments",
            vec![
                ScalarValue::TimestampMillisecond(Some(ts), None),
                s(id),
                s(user),
                ScalarValue::Float64(Some(amount)),
                s("EUR"),
            ],
        )
    }

    fn settlement(&mut self, ts: Millis, id: &str) -> &mut Self {
        self.event(
            "settlements",
            vec![
                ScalarValue::TimestampMillisecond(Some(ts), None),
                s(id),
                s("ok"),
            ],
        )
    }

    fn watermark(&mut self, time: Millis) -> &mut Self {
        self.op
            .on_watermark(time, &mut self.out)
            .expect("watermark");
        self
    }

    /// Every derived event so far, as (meta, row batch) pairs flattened.
    fn emitted(&self) -> Vec<(dsl::plan::Millis, Option<String>, Vec<Evidence>)> {
        self.out
            .iter()
            .flat_map(|b| {
                b.meta
                    .iter()
                    .map(|m| (m.time, m.key.clone(), m.evidence.clone()))
            })
            .collect()
    }

    fn column(&self, name: &str) -> Vec<ArrayRef> {
        self.out
            .iter()
            .map(|b| {
                Arc::clone(
                    b.data
                        .column(b.data.schema().index_of(name).expect("emitted column")),
                )
            })
            .collect()
    }
}

fn s(v: &str) -> ScalarValue {
    ScalarValue::Utf8(Some(v.into()))
}

fn ev(step: &str, stream: &str, offset: i64) -> Evidence {
    Evidence {
        step: Some(step.into()),
        stream: stream.into(),
        at: Locator::Offset(offset),
    }
}

#[test]
fn five_failures_a_success_and_a_transfer_give_one_takeover_counting_five() {
    let mut h = Harness::new(ACCOUNT_TAKEOVER);
    for i in 0..5 {
        h.auth(i * SECOND, "u1", "login_failed", "10.0.0.1");
    }
    // Same ip as the failures: the cross condition `ip != f.ip` skips it.
    h.auth(5 * SECOND, "u1", "login_ok", "10.0.0.1");
    h.auth(6 * SECOND, "u1", "login_ok", "192.168.1.1");
    h.payment(7 * SECOND, "p1", "u1", 5000.0);
    // Another user's events do not mix in.
    h.auth(8 * SECOND, "u2", "login_failed", "10.0.0.2");
    h.watermark(Millis::MAX);

    let emitted = h.emitted();
    assert_eq!(emitted.len(), 1, "one takeover: {emitted:?}");
    let (time, key, evidence) = &emitted[0];
    assert_eq!(*time, 7 * SECOND);
    assert_eq!(key.as_deref(), Some("u1"));
    let mut expected: Vec<Evidence> = (1..=5).map(|o| ev("f", "auth", o)).collect();
    expected.push(ev("s", "auth", 7));
    expected.push(ev("t", "payments", 8));
    assert_eq!(evidence, &expected);

    let failures = h.column("failures");
    assert_eq!(
        failures[0]
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0),
        5
    );
    let new_ip = h.column("new_ip");
    assert_eq!(
        new_ip[0]
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .value(0),
        "192.168.1.1"
    );
    let amount = h.column("amount");
    assert_eq!(
        amount[0]
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .value(0),
        5000.0
    );
    let first_failure = h.column("first_failure");
    let first_failure =
        datafusion_common::arrow::compute::cast(&first_failure[0], &arrow_schema::DataType::Int64)
            .unwrap();
    assert_eq!(
        first_failure
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0),
        0
    );
    assert_eq!(h.op.state_size().entries, 0);
}

#[test]
fn takeover_needs_the_transfer_within_ten_minutes() {
    let mut h = Harness::new(ACCOUNT_TAKEOVER);
    for i in 0..3 {
        h.auth(i * SECOND, "u1", "login_failed", "10.0.0.1");
    }
    h.auth(MINUTE, "u1", "login_ok", "192.168.1.1");
    h.payment(10 * MINUTE + 3 * SECOND, "p1", "u1", 5000.0);
    h.watermark(Millis::MAX);
    assert!(h.emitted().is_empty());
}

#[test]
fn an_unsettled_payment_fires_when_the_watermark_passes_its_deadline() {
    let mut h = Harness::new(UNSETTLED);
    h.payment(0, "p1", "u1", 10.0);
    h.payment(MINUTE, "p2", "u1", 20.0);
    h.settlement(10 * MINUTE, "p1");
    // p2's deadline is 31m: not passed at 31m, passed just after.
    h.watermark(31 * MINUTE);
    assert!(h.emitted().is_empty());
    h.watermark(31 * MINUTE + 1);
    assert_eq!(
        h.emitted(),
        vec![(31 * MINUTE, Some("p2".into()), vec![ev("p", "payments", 2)])]
    );
    let amount = h.column("amount");
    assert_eq!(
        amount[0]
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .value(0),
        20.0
    );
    assert_eq!(h.op.state_size().entries, 0);
    assert_eq!(h.op.state_size().keys, 0);
}

#[test]
fn a_settlement_at_the_deadline_still_counts_and_end_of_input_fires_the_rest() {
    let mut h = Harness::new(UNSETTLED);
    h.payment(0, "p1", "u1", 10.0);
    h.payment(5 * MINUTE, "p2", "u1", 20.0);
    h.settlement(30 * MINUTE, "p1");
    h.watermark(Millis::MAX);
    assert_eq!(
        h.emitted(),
        vec![(35 * MINUTE, Some("p2".into()), vec![ev("p", "payments", 2)])]
    );
}

#[test]
fn all_takes_its_steps_in_any_order() {
    let mut h = Harness::new(
        r#"
rule both
  by user_id
  pattern all(a: auth where kind == "a", b: auth where kind == "b") -> c: auth where kind == "c"
  within 1m
  emit both { user_id, first_a: first(a.ts) }
"#,
    );
    h.auth(0, "u1", "b", "x"); // 1
    h.auth(1, "u1", "a", "x"); // 2
    h.auth(2, "u1", "a", "x"); // 3: a is taken already; starts a candidate
    h.auth(3, "u1", "c", "x"); // 4
    h.auth(4, "u2", "a", "x"); // 5
    h.auth(5, "u2", "c", "x"); // 6: b is missing for u2
    h.watermark(Millis::MAX);
    assert_eq!(
        h.emitted(),
        vec![(
            3,
            Some("u1".into()),
            vec![ev("b", "auth", 1), ev("a", "auth", 2), ev("c", "auth", 4)]
        )]
    );
}

#[test]
fn alternation_takes_the_first_branch_that_accepts() {
    let mut h = Harness::new(
        r#"
rule either
  by user_id
  pattern x: auth where kind == "x" -> (y: auth where ip == "1" | z: auth where kind == "z")
  within 1m
  emit either { user_id }
"#,
    );
    h.auth(0, "u1", "x", "0");
    h.auth(1, "u1", "z", "1"); // satisfies both branches: the left one wins
    h.auth(2, "u2", "x", "0");
    h.auth(3, "u2", "z", "0");
    h.watermark(Millis::MAX);
    assert_eq!(
        h.emitted(),
        vec![
            (
                1,
                Some("u1".into()),
                vec![ev("x", "auth", 1), ev("y", "auth", 2)]
            ),
            (
                3,
                Some("u2".into()),
                vec![ev("x", "auth", 3), ev("z", "auth", 4)]
            ),
        ]
    );
}

#[test]
fn a_quantified_group_repeats_the_whole_sequence() {
    let mut h = Harness::new(
        r#"
rule twice
  by user_id
  pattern (a: auth where kind == "a" -> b: auth where kind == "b"){2} -> c: auth where kind == "c"
  within 1m
  emit twice { user_id, pairs: count(a) }
"#,
    );
    // u1: one pair only, then c: no match.
    for (i, kind) in ["a", "b", "c"].iter().enumerate() {
        h.auth(i as Millis, "u1", kind, "x");
    }
    // u2: two pairs, then c.
    for (i, kind) in ["a", "b", "a", "b", "c"].iter().enumerate() {
        h.auth(10 + i as Millis, "u2", kind, "x");
    }
    h.watermark(Millis::MAX);
    let emitted = h.emitted();
    assert_eq!(emitted.len(), 1, "{emitted:?}");
    assert_eq!(emitted[0].0, 14);
    assert_eq!(emitted[0].1.as_deref(), Some("u2"));
    let offsets: Vec<i64> = emitted[0]
        .2
        .iter()
        .map(|e| e.at.offset().unwrap())
        .collect();
    assert_eq!(offsets, vec![4, 5, 6, 7, 8]);
    let pairs = h.column("pairs");
    assert_eq!(
        pairs[0]
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0),
        2
    );
}

/// Every pattern rule of the example packs compiles into an operator.
#[test]
fn every_pattern_rule_of_the_example_packs_compiles() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut compiled = 0;
    for pack in std::fs::read_dir(&examples).expect("examples folder") {
        let rules = pack.expect("pack").path().join("rules.eddy");
        let Ok(text) = std::fs::read_to_string(&rules) else {
            continue;
        };
        let source = Source {
            name: rules.display().to_string(),
            text,
        };
        let (program, diagnostics) = dsl::compile(&[source]);
        let program = program.unwrap_or_else(|| panic!("{}: {diagnostics:?}", rules.display()));
        for (index, rule) in program.rules.iter().enumerate() {
            if matches!(rule.kind, dsl::plan::RuleKind::Pattern(_)) {
                PatternOperator::new(index, rule, &program.catalog)
                    .unwrap_or_else(|e| panic!("{}: rule `{}`: {e}", rules.display(), rule.name));
                compiled += 1;
            }
        }
    }
    assert!(compiled > 0, "the example packs have pattern rules");
}

#[test]
fn nested_fields_and_distinct_counts_over_a_step() {
    let mut h = Harness::with_streams(
        r#"
stream logins (
    ts        timestamp,
    user_id   string,
    outcome   string,
    ip        string,
    device (
        os      string,
        agent   string?
    )
) time ts lateness 10s

rule brute_force
  by user_id
  pattern
       fail: logins where outcome == "failure" {3,}
    -> ok:   logins where outcome == "success" and device.os != fail.device.os
  within 5m
  emit brute_force { user_id, failures: count(fail), ips: count_distinct(fail.ip), os: ok.device.os }
"#,
    );
    let login = |h: &mut Harness, ts: Millis, outcome: &str, ip: &str, os: &str| {
        let device = ScalarStructBuilder::new()
            .with_scalar(
                arrow_schema::Field::new("os", arrow_schema::DataType::Utf8, false),
                s(os),
            )
            .with_scalar(
                arrow_schema::Field::new("agent", arrow_schema::DataType::Utf8, true),
                ScalarValue::Utf8(None),
            )
            .build()
            .expect("device record");
        h.event(
            "logins",
            vec![
                ScalarValue::TimestampMillisecond(Some(ts), None),
                s("u1"),
                s(outcome),
                s(ip),
                device,
            ],
        );
    };
    login(&mut h, 0, "failure", "ip1", "linux");
    login(&mut h, 1, "failure", "ip2", "linux");
    login(&mut h, 2, "failure", "ip1", "linux");
    login(&mut h, 3, "failure", "ip3", "linux");
    // The same os as the latest failure: skipped.
    login(&mut h, 4, "success", "ip9", "linux");
    login(&mut h, 5, "success", "ip9", "macos");
    h.watermark(Millis::MAX);
    let emitted = h.emitted();
    assert_eq!(emitted.len(), 1, "{emitted:?}");
    assert_eq!(emitted[0].0, 5);
    let int = |name: &str| {
        h.column(name)[0]
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0)
    };
    assert_eq!(int("failures"), 4);
    assert_eq!(int("ips"), 3);
    let os = h.column("os");
    assert_eq!(
        os[0]
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .value(0),
        "macos"
    );
}
