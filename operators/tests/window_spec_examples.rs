//! The window and simple-rule examples of the language guide
//! (docs/rules.md), compiled from their text and run on hand-made events.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt64Array,
};
use datafusion_common::arrow::util::display::array_value_to_string;
use dsl::plan::{Millis, Program};
use operators::schema::stream_schema;
use operators::{build, DerivedBatch, Operator};

const RULES: &str = r#"
stream auth (
    ts       timestamp,
    user_id  string,
    kind     string,
    ip       string,
    country  string?
) time ts lateness 5s

stream payments (
    ts          timestamp,
    payment_id  string,
    user_id     string,
    amount      float,
    currency    string
) time ts lateness 5s

rule large_payment
  from payments
  where amount > 10000 and currency in ("EUR", "USD")
  emit large_payment { payment_id, user_id, amount }

rule password_spray
  from auth where kind == "login_failed"
  by ip
  window 5m every 1m
  having count() >= 20 and count_distinct(user_id) >= 5
  emit password_spray { ip, attempts: count(), users: count_distinct(user_id) }
"#;

fn program() -> Program {
    let (program, diagnostics) = dsl::compile(&[dsl::Source {
        name: "rules.eddy".into(),
        text: RULES.into(),
    }]);
    program.unwrap_or_else(|| panic!("the guide's rules compile: {diagnostics:?}"))
}

fn operator(program: &Program, name: &str) -> (usize, Box<dyn Operator>) {
    let index = program.rules.iter().position(|r| r.name == name).unwrap();
    (
        index,
        build(index, &program.rules[index], &program.catalog).unwrap(),
    )
}

fn columns_of(program: &Program, stream: &str, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(
        stream_schema(program.catalog.stream(stream).unwrap()),
        columns,
    )
    .unwrap()
}

fn hidden(offsets: impl Iterator<Item = i64> + Clone) -> [ArrayRef; 2] {
    [
        Arc::new(Int64Array::from_iter_values(offsets.clone())),
        Arc::new(UInt64Array::from_iter_values(
            offsets.map(|o| o as u64 * 7919),
        )),
    ]
}

/// Rows of every derived batch as `name=value` strings, visible columns only.
fn rows(out: &[DerivedBatch]) -> Vec<String> {
    let mut lines = Vec::new();
    for b in out {
        for row in 0..b.data.num_rows() {
            let cells: Vec<String> = b
                .data
                .schema()
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| !f.name().starts_with("__"))
                .map(|(c, f)| {
                    format!(
                        "{}={}",
                        f.name(),
                        array_value_to_string(b.data.column(c), row).unwrap()
                    )
                })
                .collect();
            lines.push(cells.join(" "));
        }
    }
    lines
}

#[test]
fn large_payment_filters_and_shapes() {
    let program = program();
    let (index, mut op) = operator(&program, "large_payment");
    let amounts = [20000.0, 5.0, 15000.0, 12000.0];
    let currencies = ["EUR", "EUR", "GBP", "USD"];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from(vec![
            1000, 2000, 3000, 4000,
        ])),
        Arc::new(StringArray::from(vec!["p1", "p2", "p3", "p4"])),
        Arc::new(StringArray::from(vec!["u1", "u2", "u3", "u4"])),
        Arc::new(Float64Array::from(amounts.to_vec())),
        Arc::new(StringArray::from(currencies.to_vec())),
    ];
    columns.extend(hidden(1..5));
    let mut out = Vec::new();
    op.on_batch(
        "payments",
        &columns_of(&program, "payments", columns),
        &mut out,
    )
    .unwrap();
    assert_eq!(out[0].rule, index);
    assert_eq!(
        rows(&out),
        [
            "payment_id=p1 user_id=u1 amount=20000.0 time=1970-01-01T00:00:01",
            "payment_id=p4 user_id=u4 amount=12000.0 time=1970-01-01T00:00:04"
        ]
    );
}

#[test]
fn password_spray_fires_once_per_hopping_window_over_the_threshold() {
    const MINUTE: Millis = 60_000;
    let program = program();
    let (_, mut op) = operator(&program, "password_spray");
    // From 10.0.0.1: 24 failures over 6 users in the minute [10m, 11m);
    // from 10.0.0.2: 30 failures by one user (too few users); successes
    // are filtered out.
    let mut ts = Vec::new();
    let mut users = Vec::new();
    let mut kinds = Vec::new();
    let mut ips = Vec::new();
    for i in 0..24 {
        ts.push(10 * MINUTE + i * 1000);
        users.push(format!("user{}", i % 6));
        kinds.push("login_failed");
        ips.push("10.0.0.1");
        ts.push(10 * MINUTE + i * 1000 + 500);
        users.push("admin".to_string());
        kinds.push(if i < 20 { "login_failed" } else { "login_ok" });
        ips.push("10.0.0.2");
    }
    let n = ts.len();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from(ts)),
        Arc::new(StringArray::from(users)),
        Arc::new(StringArray::from(kinds)),
        Arc::new(StringArray::from(ips)),
        Arc::new(StringArray::from(vec![None::<&str>; n])),
    ];
    columns.extend(hidden(1..n as i64 + 1));
    let mut out = Vec::new();
    op.on_batch("auth", &columns_of(&program, "auth", columns), &mut out)
        .unwrap();
    assert!(out.is_empty());
    op.on_watermark(Millis::MAX, &mut out).unwrap();

    // The five 5-minute windows starting at 6m..10m all hold the burst.
    let expected: Vec<String> = (11..=15)
        .map(|end| format!("ip=10.0.0.1 attempts=24 users=6 time=1970-01-01T00:{end}:00"))
        .collect();
    assert_eq!(rows(&out), expected);
    let windows: Vec<_> = out
        .iter()
        .flat_map(|b| b.meta.iter().map(|m| m.window.unwrap()))
        .collect();
    assert_eq!(windows[0], (6 * MINUTE, 11 * MINUTE));
    assert_eq!(op.state_size(), operators::StateSize::default());
}

const IOT_RULES: &str = r#"
stream requests (
    ts           timestamp,
    service      string,
    status       int,
    latency_ms   float,
    path         string
) time ts lateness 5s

rule error_burst
  severity high
  from requests where status >= 500
  by service
  window 1m
  having count() >= 10
  emit error_burst {
    service,
    errors: count(),
    p95_latency_ms: p95(latency_ms),
    worst_path: last(path)
  }
"#;

#[test]
fn error_burst_reports_percentile_and_last_value() {
    let (program, diagnostics) = dsl::compile(&[dsl::Source {
        name: "iot.eddy".into(),
        text: IOT_RULES.into(),
    }]);
    let program = program.unwrap_or_else(|| panic!("compiles: {diagnostics:?}"));
    let (_, mut op) = operator(&program, "error_burst");
    // `api`: 20 errors with latencies 1..=20 ms and 5 successes; `web`:
    // 3 errors (under the threshold).
    let mut requests: Vec<(Millis, &str, i64, f64, String)> = Vec::new();
    for i in 0..20 {
        requests.push((i * 100, "api", 503, (i + 1) as f64, format!("/p{i}")));
    }
    for i in 0..5 {
        requests.push((2000 + i, "api", 200, 1000.0, "/ok".into()));
    }
    for i in 0..3 {
        requests.push((3000 + i, "web", 500, 5.0, "/w".into()));
    }
    requests.sort_by_key(|r| r.0);
    let n = requests.len();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from_iter_values(
            requests.iter().map(|r| r.0),
        )),
        Arc::new(StringArray::from_iter_values(requests.iter().map(|r| r.1))),
        Arc::new(Int64Array::from_iter_values(requests.iter().map(|r| r.2))),
        Arc::new(Float64Array::from_iter_values(requests.iter().map(|r| r.3))),
        Arc::new(StringArray::from_iter_values(
            requests.iter().map(|r| r.4.clone()),
        )),
    ];
    columns.extend(hidden(1..n as i64 + 1));
    let mut out = Vec::new();
    op.on_batch(
        "requests",
        &columns_of(&program, "requests", columns),
        &mut out,
    )
    .unwrap();
    op.on_watermark(Millis::MAX, &mut out).unwrap();
    // p95 of 1..=20 with linear interpolation: 1 + 0.95 * 19 = 19.05.
    assert_eq!(
        rows(&out),
        ["service=api errors=20 p95_latency_ms=19.05 worst_path=/p19 time=1970-01-01T00:01:00"]
    );
}
