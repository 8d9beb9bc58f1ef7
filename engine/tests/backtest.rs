//! `eddy backtest` over files the tests write: Parquet (two row groups an
//! hour apart), CSV and JSON lines of the same events. The derived events
//! must be exactly those of `eddy run` over the JSON lines; the time range
//! must reach the Parquet scan; globs read every file; bad rows go to the
//! dead-letter file with their reason.

use std::fs::File;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use serde_json::Value;
use tempfile::TempDir;

mod cli_support;
use cli_support::eddy_in as eddy;

const RULES: &str = r#"
stream payments (
    ts          timestamp,
    payment_id  string,
    user_id     string,
    amount      float
) time ts lateness 5s

rule big_payment
  from payments
  where amount > 100
  emit big { payment_id, amount }

rule busy_user
  from payments
  by user_id
  window 1m
  having count() >= 2
  emit busy { user_id, n: count() }
"#;

/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600_000;
const HOUR: i64 = 3_600_000;

/// One payment: (ms after the hour, id suffix, user, amount).
const HOUR_OF_PAYMENTS: [(i64, &str, &str, f64); 5] = [
    (10_000, "a", "u1", 500.0),
    (20_000, "b", "u1", 50.0),
    (40_000, "c", "u2", 700.5),
    // Same time as `c`: the sort keeps file order for ties.
    (40_000, "d", "u4", 5.0),
    (90_000, "e", "u3", 101.0),
];

struct Payment {
    ts: i64,
    id: String,
    user: &'static str,
    amount: f64,
}

/// Two hours of the same pattern: per hour three payments over 100 and one
/// user (u1) paying twice within a minute, so 4 derived events per hour.
fn payments() -> Vec<Payment> {
    (0..2)
        .flat_map(|hour| {
            HOUR_OF_PAYMENTS
                .iter()
                .map(move |(offset, suffix, user, amount)| Payment {
                    ts: START + hour * HOUR + offset,
                    id: format!("p{hour}{suffix}"),
                    user,
                    amount: *amount,
                })
        })
        .collect()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Compact JSON in declaration order, timestamps with milliseconds: the
/// shape whose hash a backtest gives rows of CSV and Parquet files.
fn json_line(p: &Payment) -> String {
    format!(
        r#"{{"ts":"{}","payment_id":"{}","user_id":"{}","amount":{:?}}}"#,
        rfc3339(p.ts),
        p.id,
        p.user,
        p.amount
    )
}

fn write_json(path: &Path, payments: &[Payment]) {
    let text: String = payments.iter().map(|p| json_line(p) + "\n").collect();
    std::fs::write(path, text).unwrap();
}

fn write_csv(path: &Path, payments: &[Payment], extra_rows: &str) {
    let mut text = String::from("ts,payment_id,user_id,amount\n");
    for p in payments {
        text.push_str(&format!(
            "{},{},{},{:?}\n",
            rfc3339(p.ts),
            p.id,
            p.user,
            p.amount
        ));
    }
    text.push_str(extra_rows);
    std::fs::write(path, text).unwrap();
}

/// One row group per slice of `groups`.
fn write_parquet(path: &Path, groups: &[&[Payment]]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("payment_id", DataType::Utf8, false),
        Field::new("user_id", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    let mut writer =
        ArrowWriter::try_new(File::create(path).unwrap(), schema.clone(), None).unwrap();
    for group in groups {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMillisecondArray::from_iter_values(
                group.iter().map(|p| p.ts),
            )),
            Arc::new(StringArray::from_iter_values(
                group.iter().map(|p| p.id.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(group.iter().map(|p| p.user))),
            Arc::new(Float64Array::from_iter_values(
                group.iter().map(|p| p.amount),
            )),
        ];
        writer
            .write(&RecordBatch::try_new(schema.clone(), columns).unwrap())
            .unwrap();
        // Closes the row group: the next one starts an hour later.
        writer.flush().unwrap();
    }
    writer.close().unwrap();
}

/// A fresh folder with the rules, removed when dropped.
fn scratch() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.eddy"), RULES).unwrap();
    dir
}

fn backtest(dir: &Path, input: &str, extra: &[&str]) -> Output {
    let mut args = vec!["backtest", "rules.eddy", "--input", input];
    args.extend_from_slice(extra);
    eddy(dir, &args)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The value after `label` on its summary line.
fn summary_value(output: &Output, label: &str) -> String {
    let text = stdout(output);
    let line = text
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` in the summary:\n{text}"));
    line[label.len()..].trim().to_string()
}

/// (derived, first match, last match) of `rule` in the summary.
fn rule_row(output: &Output, rule: &str) -> (u64, String, String) {
    let text = stdout(output);
    let cells: Vec<&str> = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(rule))
        .unwrap_or_else(|| panic!("no rule `{rule}` in the summary:\n{text}"))
        .split_whitespace()
        .collect();
    (cells[1].parse().unwrap(), cells[2].into(), cells[3].into())
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `eddy run` over events.jsonl, written to run.jsonl, with `extra` arguments.
fn eddy_run_json(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "rules.eddy",
        "--input",
        "payments=events.jsonl",
        "--output",
        "run.jsonl",
    ];
    args.extend_from_slice(extra);
    eddy(dir, &args)
}

/// `eddy run` over events.jsonl: the derived events it writes.
fn run_over_json(dir: &Path) -> String {
    assert_ok(&eddy_run_json(dir, &[]));
    read(&dir.join("run.jsonl"))
}

#[test]
fn json_csv_and_parquet_give_exactly_what_eddy_run_gives() {
    let temp = scratch();
    let dir = temp.path();
    let all = payments();
    write_json(&dir.join("events.jsonl"), &all);
    write_csv(&dir.join("events.csv"), &all, "");
    write_parquet(&dir.join("events.parquet"), &[&all[..5], &all[5..]]);
    let expected = run_over_json(dir);
    // 3 big payments and 1 busy user per hour.
    assert_eq!(expected.lines().count(), 8);

    for file in ["events.jsonl", "events.csv", "events.parquet"] {
        let out = format!("{file}.derived.jsonl");
        let output = backtest(dir, &format!("payments={file}"), &["--output", &out]);
        assert_ok(&output);
        assert_eq!(read(&dir.join(&out)), expected, "{file}");

        assert_eq!(summary_value(&output, "events read"), "10", "{file}");
        assert_eq!(summary_value(&output, "events processed"), "10", "{file}");
        assert_eq!(summary_value(&output, "events rejected"), "0", "{file}");
        assert_eq!(summary_value(&output, "derived events"), "8", "{file}");
        assert_eq!(
            rule_row(&output, "big_payment"),
            (
                6,
                "2026-01-01T00:00:10.000Z".into(),
                "2026-01-01T01:01:30.000Z".into()
            ),
            "{file}"
        );
        // A window's event is at its end.
        assert_eq!(
            rule_row(&output, "busy_user"),
            (
                2,
                "2026-01-01T00:01:00.000Z".into(),
                "2026-01-01T01:01:00.000Z".into()
            ),
            "{file}"
        );
        let text = stdout(&output);
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("busy_user ") && l.contains("u1"))
            .collect();
        assert_eq!(keys.len(), 1, "{text}");
        assert_eq!(
            keys[0].split_whitespace().collect::<Vec<_>>(),
            ["busy_user", "u1", "2"]
        );
    }
}

#[test]
fn the_time_range_prunes_a_parquet_row_group() {
    let temp = scratch();
    let dir = temp.path();
    let all = payments();
    write_parquet(&dir.join("events.parquet"), &[&all[..5], &all[5..]]);

    let second_hour = backtest(
        dir,
        "payments=events.parquet",
        &["--from", "2026-01-01T01:00:00Z", "--output", "late.jsonl"],
    );
    assert_ok(&second_hour);
    assert_eq!(summary_value(&second_hour, "events read"), "5");
    assert_eq!(summary_value(&second_hour, "row groups pruned"), "1 of 2");
    assert_eq!(summary_value(&second_hour, "derived events"), "4");
    let derived = read(&dir.join("late.jsonl"));
    let ids: Vec<String> = derived
        .lines()
        .filter_map(|l| {
            let event: Value = serde_json::from_str(l).unwrap();
            event["data"]["payment_id"].as_str().map(String::from)
        })
        .collect();
    assert_eq!(ids, ["p1a", "p1c", "p1e"]);

    // `--to` is exclusive: the first hour, up to the second's first event.
    let first_hour = backtest(
        dir,
        "payments=events.parquet",
        &["--to", &(START + HOUR + 10_000).to_string()],
    );
    assert_ok(&first_hour);
    assert_eq!(summary_value(&first_hour, "events read"), "5");
    assert_eq!(summary_value(&first_hour, "row groups pruned"), "1 of 2");
    assert_eq!(
        rule_row(&first_hour, "big_payment").2,
        "2026-01-01T00:01:30.000Z"
    );
}

#[test]
fn a_glob_reads_every_file_in_path_order() {
    let temp = scratch();
    let dir = temp.path();
    let all = payments();
    write_json(&dir.join("events.jsonl"), &all);
    let expected = run_over_json(dir);
    std::fs::create_dir_all(dir.join("parts")).unwrap();
    write_parquet(&dir.join("parts/1.parquet"), &[&all[..5]]);
    write_parquet(&dir.join("parts/2.parquet"), &[&all[5..]]);
    write_json(&dir.join("parts/1.jsonl"), &all[..5]);
    write_json(&dir.join("parts/2.jsonl"), &all[5..]);

    // Offsets go on counting across files, so evidence and ids match the
    // run over the one file.
    for glob in ["parts/*.parquet", "parts/*.jsonl"] {
        let output = backtest(
            dir,
            &format!("payments={glob}"),
            &["--output", "glob.jsonl"],
        );
        assert_ok(&output);
        assert_eq!(summary_value(&output, "events read"), "10", "{glob}");
        assert_eq!(read(&dir.join("glob.jsonl")), expected, "{glob}");
    }
}

#[test]
fn dead_letters_of_a_glob_name_their_own_file_and_line() {
    let temp = scratch();
    let dir = temp.path();
    let all = payments();
    std::fs::create_dir_all(dir.join("parts")).unwrap();
    let part = |payments: &[Payment], bad_after: usize| -> String {
        let mut lines: Vec<String> = payments.iter().map(json_line).collect();
        lines.insert(bad_after, "not json at all".into());
        lines.iter().map(|l| format!("{l}\n")).collect()
    };
    std::fs::write(dir.join("parts/1.jsonl"), part(&all[..5], 5)).unwrap();
    std::fs::write(dir.join("parts/2.jsonl"), part(&all[5..], 1)).unwrap();
    let output = backtest(
        dir,
        "payments=parts/*.jsonl",
        &["--dead-letter", "bad.jsonl"],
    );
    assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
    let seen: Vec<(String, i64)> = read(&dir.join("bad.jsonl"))
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|r| {
            let source = r["source"].as_str().unwrap();
            let file = source.rsplit('/').take(2).collect::<Vec<_>>();
            (
                format!("{}/{}", file[1], file[0]),
                r["line"].as_i64().unwrap(),
            )
        })
        .collect();
    // Line 6 of the first file, line 2 of the second.
    assert_eq!(
        seen,
        [
            ("parts/1.jsonl".to_string(), 6),
            ("parts/2.jsonl".to_string(), 2)
        ]
    );
}

#[test]
fn bad_rows_go_to_the_dead_letter_with_their_reason() {
    let temp = scratch();
    let dir = temp.path();
    let all = payments();
    write_csv(
        &dir.join("events.csv"),
        &all[..5],
        "2026-01-01T00:02:00.000Z,px1,u9,lots\n\
         2026-01-01T00:02:01.000Z,px2,u9,\n\
         soon,px3,u9,1.0\n",
    );
    let output = backtest(dir, "payments=events.csv", &["--dead-letter", "bad.jsonl"]);
    assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
    assert_eq!(summary_value(&output, "events read"), "8");
    assert_eq!(summary_value(&output, "events processed"), "5");
    assert_eq!(
        summary_value(&output, "events rejected"),
        "3 (missing_field 1, wrong_type 1, bad_timestamp 1)"
    );
    let records: Vec<Value> = read(&dir.join("bad.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(&str, i64, &str)> = records
        .iter()
        .map(|r| {
            (
                r["reason"].as_str().unwrap(),
                r["line"].as_i64().unwrap(),
                r["stream"].as_str().unwrap(),
            )
        })
        .collect();
    // Rows without a time sort first; lines are data rows, 1-based.
    assert_eq!(
        seen,
        [
            ("bad_timestamp", 8, "payments"),
            ("wrong_type", 6, "payments"),
            ("missing_field", 7, "payments"),
        ]
    );
    assert_eq!(
        records[1]["detail"],
        "field `amount`: expected a number, found \"lots\""
    );
    assert_eq!(
        records[1]["raw"],
        r#"{"ts":"2026-01-01T00:02:00.000Z","payment_id":"px1","user_id":"u9","amount":"lots"}"#
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("1 input line rejected as wrong_type"),
        "{stderr}"
    );

    // JSON lines are decoded as `eddy run` decodes them: same records.
    let mut lines: String = all[..5].iter().map(|p| json_line(p) + "\n").collect();
    lines.push_str("not json at all\n");
    lines.push_str(r#"{"ts":"2026-01-01T00:03:00Z","payment_id":"px4","user_id":"u9"}"#);
    lines.push('\n');
    std::fs::write(dir.join("events.jsonl"), lines).unwrap();
    let run = eddy_run_json(dir, &["--dead-letter", "run-bad.jsonl"]);
    assert_eq!(run.status.code(), Some(3));
    let output = backtest(
        dir,
        "payments=events.jsonl",
        &["--output", "bt.jsonl", "--dead-letter", "bt-bad.jsonl"],
    );
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        read(&dir.join("bt-bad.jsonl")),
        read(&dir.join("run-bad.jsonl"))
    );
    assert_eq!(read(&dir.join("bt.jsonl")), read(&dir.join("run.jsonl")));
    assert_eq!(
        summary_value(&output, "events rejected"),
        "2 (malformed_json 1, missing_field 1)"
    );
}

#[test]
fn progress_goes_to_stderr_when_asked_for() {
    let temp = scratch();
    let dir = temp.path();
    write_json(&dir.join("events.jsonl"), &payments());
    let output = backtest(dir, "payments=events.jsonl", &["--progress"]);
    assert_ok(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The last update, always shown: every event and the last event time.
    assert!(
        stderr.contains("eddy: 10 events, ")
            && stderr.contains("event time 2026-01-01T01:01:30.000Z"),
        "{stderr}"
    );
    // Not a terminal and not asked for: quiet.
    let quiet = backtest(dir, "payments=events.jsonl", &[]);
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("events/s"));
}

#[test]
fn usage_errors_name_the_problem() {
    let temp = scratch();
    let dir = temp.path();
    std::fs::write(dir.join("events.txt"), "").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--input", "payments=events.txt"],
            "cannot tell the format",
        ),
        (
            &["--input", "payments=events.txt", "--format", "avro"],
            "unknown --format",
        ),
        (&["--input", "payments=missing/*.parquet"], "payments"),
        (
            &[
                "--input",
                "payments=events.txt",
                "--from",
                "2026-01-02T00:00:00Z",
                "--to",
                "2026-01-01T00:00:00Z",
            ],
            "time range is empty",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["backtest", "rules.eddy"];
        all.extend_from_slice(args);
        let output = eddy(dir, &all);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
