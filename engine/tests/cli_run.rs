//! `eddy run` over small files and stdin: CloudEvents on stdout, rejected
//! lines in the dead-letter file, the summary on stderr, and exit codes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

mod cli_support;
use cli_support::eddy_in;

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eddy-cli-run-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const RULES: &str = r#"
stream payments (
    ts          timestamp,
    payment_id  string,
    user_id     string,
    amount      float
) time ts lateness 5s

stream logins (
    ts       timestamp,
    user_id  string
) time ts lateness 5s

rule big_payment
  severity high
  from payments
  where amount > 100
  emit big { payment_id, amount }

rule busy_user
  from payments
  by user_id
  window 1m
  having count() >= 2
  emit busy { user_id, n: count() }

rule login_then_pay
  by user_id
  pattern l: logins -> p: payments
  within 10m
  emit login_pay { user_id, paid: p.amount }
"#;

const PAYMENTS: &str = r#"{"ts":"2026-01-01T00:00:10Z","payment_id":"p1","user_id":"u1","amount":500.0}
{"ts":"2026-01-01T00:00:20Z","payment_id":"p2","user_id":"u1","amount":50}
{"ts":"2026-01-01T00:00:40Z","payment_id":"p3","user_id":"u2","amount":700.5}
{"ts":"2026-01-01T00:00:38Z","payment_id":"p4","user_id":"u2","amount":900}
{"ts":"2026-01-01T00:01:30Z","payment_id":"p5","user_id":"u3","amount":101}
"#;

const LOGINS: &str = r#"{"ts":"2026-01-01T00:00:05Z","user_id":"u1"}
{"ts":"2026-01-01T00:00:30Z","user_id":"u2"}
"#;

/// Writes the rules and inputs; `extra_payments` is appended to the payments.
fn setup(test: &str, extra_payments: &str) -> PathBuf {
    let dir = scratch(test);
    std::fs::write(dir.join("rules.eddy"), RULES).unwrap();
    std::fs::write(
        dir.join("payments.jsonl"),
        format!("{PAYMENTS}{extra_payments}"),
    )
    .unwrap();
    std::fs::write(dir.join("logins.jsonl"), LOGINS).unwrap();
    dir
}

fn lines(text: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(text)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

const STANDARD_ARGS: &[&str] = &[
    "run",
    "rules.eddy",
    "--input",
    "payments=payments.jsonl",
    "--input",
    "logins=logins.jsonl",
];

#[test]
fn clean_input_gives_cloudevents_and_exit_0() {
    let dir = setup("clean", "");
    let out = eddy_in(&dir, STANDARD_ARGS);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !dir.join("eddy-dead-letter.jsonl").exists(),
        "no dead letter without rejections"
    );
    let events = lines(&out.stdout);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    // Ordered by event time, then rule order.
    assert_eq!(
        types,
        vec![
            "eddy.big",       // p1 at 00:00:10
            "eddy.login_pay", // u1 login then p1 at 00:00:10
            "eddy.big",       // p4 at 00:00:38 (out of order, within the lateness)
            "eddy.login_pay", // u2 login then p4 at 00:00:38
            "eddy.big",       // p3 at 00:00:40
            "eddy.busy",      // u1 and u2 windows [0, 1m)
            "eddy.busy",
            "eddy.big", // p5 at 00:01:30
        ]
    );
    let big = &events[0];
    assert_eq!(big["specversion"], "1.0");
    assert_eq!(big["source"], "eddy/rules/big_payment");
    assert_eq!(big["severity"], "high");
    assert_eq!(big["time"], "2026-01-01T00:00:10.000Z");
    assert_eq!(big["datacontenttype"], "application/json");
    assert_eq!(big["data"]["payment_id"], "p1");
    assert_eq!(big["data"]["amount"], 500.0);
    assert_eq!(big["data"]["evidence"][0]["stream"], "payments");
    assert_eq!(big["data"]["evidence"][0]["offset"], 1);
    assert!(big.get("subject").is_none(), "no key, no subject");
    let busy = &events[5];
    assert_eq!(busy["subject"], "u1");
    assert_eq!(busy["data"]["n"], 2);
    assert_eq!(busy["data"]["window"]["start"], "2026-01-01T00:00:00.000Z");
    assert_eq!(busy["data"]["window"]["end"], "2026-01-01T00:01:00.000Z");
    let ids: std::collections::BTreeSet<&str> =
        events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "ids are distinct");

    let again = eddy_in(&dir, STANDARD_ARGS);
    assert_eq!(
        again.stdout, out.stdout,
        "the same input gives the same output, ids included"
    );
}

#[test]
fn rejected_lines_go_to_the_dead_letter_file_and_exit_3() {
    let extra = concat!(
        "{\"ts\":\"2026-01-01T00:00:01Z\",\"payment_id\":\"late\",\"user_id\":\"u9\",\"amount\":1}\n",
        "{not json\n",
        "{\"ts\":\"2026-01-01T00:02:00Z\",\"payment_id\":\"p9\",\"user_id\":\"u9\"}\n",
        "{\"ts\":\"2026-01-01T00:02:00Z\",\"payment_id\":7,\"user_id\":\"u9\",\"amount\":1}\n",
        "{\"ts\":\"soon\",\"payment_id\":\"p9\",\"user_id\":\"u9\",\"amount\":1}\n",
    );
    let dir = setup("rejects", extra);
    let out = eddy_in(&dir, STANDARD_ARGS);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let dead = lines(&std::fs::read(dir.join("eddy-dead-letter.jsonl")).unwrap());
    let mut got: Vec<(i64, String)> = dead
        .iter()
        .map(|d| {
            (
                d["line"].as_i64().unwrap(),
                d["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let expected: Vec<(i64, String)> = [
        (6, "late"),
        (7, "malformed_json"),
        (8, "missing_field"),
        (9, "wrong_type"),
        (10, "bad_timestamp"),
    ]
    .iter()
    .map(|(l, r)| (*l, r.to_string()))
    .collect();
    assert_eq!(got, expected);
    for record in &dead {
        assert_eq!(record["stream"], "payments");
        assert_eq!(record["source"], "payments.jsonl");
        assert!(!record["detail"].as_str().unwrap().is_empty());
        assert!(!record["raw"].as_str().unwrap().is_empty());
    }
    for reason in [
        "late",
        "malformed_json",
        "missing_field",
        "wrong_type",
        "bad_timestamp",
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(&format!("1 input line rejected as {reason}"))),
            "{stderr}"
        );
    }
    // The good events still flow.
    assert_eq!(lines(&out.stdout).len(), 8);
}

#[test]
fn output_file_puts_the_dead_letter_next_to_it() {
    let dir = setup("output", "{oops\n");
    let out = eddy_in(
        &dir,
        &[STANDARD_ARGS, &["--output", "alerts.jsonl"]].concat(),
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert_eq!(
        lines(&std::fs::read(dir.join("alerts.jsonl")).unwrap()).len(),
        8
    );
    assert_eq!(
        lines(&std::fs::read(dir.join("alerts.dead-letter.jsonl")).unwrap()).len(),
        1
    );

    let out = eddy_in(
        &dir,
        &[STANDARD_ARGS, &["--dead-letter", "bad.jsonl"]].concat(),
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        lines(&std::fs::read(dir.join("bad.jsonl")).unwrap()).len(),
        1
    );
}

/// The standard run in `dir` with `option value`, its dead letters in
/// `dl-VALUE.jsonl`; it must exit 3 (some input rejected). Returns stdout
/// and the dead letters.
fn run_with_option(dir: &Path, option: &str, value: &str) -> (Vec<u8>, Vec<u8>) {
    let mut args: Vec<String> = STANDARD_ARGS.iter().map(|s| s.to_string()).collect();
    args.extend([
        option.into(),
        value.into(),
        "--dead-letter".into(),
        format!("dl-{value}.jsonl"),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = eddy_in(dir, &refs);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.stdout,
        std::fs::read(dir.join(format!("dl-{value}.jsonl"))).unwrap(),
    )
}

#[test]
fn output_and_dead_letters_are_the_same_for_any_batch_size() {
    let dir = setup("batches", "{bad\n{\"ts\":\"2026-01-01T00:00:01Z\",\"payment_id\":\"late\",\"user_id\":\"u9\",\"amount\":1}\n");
    std::fs::write(
        dir.join("logins.jsonl"),
        format!("{LOGINS}[]\n{{\"ts\":1}}\n"),
    )
    .unwrap();
    let run = |size: &str| run_with_option(&dir, "--batch-size", size);
    let (reference, reference_dead) = run("1000");
    assert_eq!(lines(&reference_dead).len(), 4);
    for size in ["1", "2", "7"] {
        let (out, dead) = run(size);
        assert_eq!(out, reference, "batch size {size}");
        assert_eq!(dead, reference_dead, "batch size {size}");
    }
}

#[test]
fn output_and_dead_letters_are_the_same_for_any_chunk_byte_limit() {
    let dir = setup("chunk-bytes", "{bad\n{\"ts\":\"2026-01-01T00:00:01Z\",\"payment_id\":\"late\",\"user_id\":\"u9\",\"amount\":1}\n");
    let run = |bytes: &str| run_with_option(&dir, "--max-chunk-bytes", bytes);
    let (reference, reference_dead) = run("16777216");
    assert!(!reference.is_empty());
    // From one line per chunk (every line is wider than 1 byte) upwards.
    for bytes in ["1", "150", "1000"] {
        let (out, dead) = run(bytes);
        assert_eq!(out, reference, "chunk bytes {bytes}");
        assert_eq!(dead, reference_dead, "chunk bytes {bytes}");
    }
}

#[test]
fn stdin_is_an_input() {
    let dir = setup("stdin", "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .current_dir(&dir)
        .args([
            "run",
            "rules.eddy",
            "--input",
            "payments=-",
            "--input",
            "logins=logins.jsonl",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PAYMENTS.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, eddy_in(&dir, STANDARD_ARGS).stdout);
}

#[test]
fn a_stream_without_input_is_an_error_naming_it() {
    let dir = setup("missing-input", "");
    let out = eddy_in(
        &dir,
        &["run", "rules.eddy", "--input", "payments=payments.jsonl"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`logins`"), "{stderr}");
}

#[test]
fn an_unknown_input_stream_gets_a_did_you_mean() {
    let dir = setup("unknown-input", "");
    let out = eddy_in(
        &dir,
        &[STANDARD_ARGS, &["--input", "paymnts=payments.jsonl"]].concat(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("did you mean `payments`"), "{stderr}");
}

#[test]
fn a_missing_input_file_exits_2_naming_it() {
    let dir = setup("missing-file", "");
    let out = eddy_in(
        &dir,
        &[
            "run",
            "rules.eddy",
            "--input",
            "payments=nope.jsonl",
            "--input",
            "logins=logins.jsonl",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nope.jsonl"), "{stderr}");
}

#[test]
fn rule_errors_stop_the_run_with_exit_1() {
    let dir = setup("rule-errors", "");
    std::fs::write(
        dir.join("rules.eddy"),
        format!("{RULES}\nrule broken from nowhere emit x {{ a }}\n"),
    )
    .unwrap();
    let out = eddy_in(&dir, STANDARD_ARGS);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn lines_over_the_size_limit_are_dead_lettered_as_oversize() {
    let long = format!(
        "{{\"ts\":\"2026-01-01T00:02:00Z\",\"payment_id\":\"{}\",\"user_id\":\"u\",\"amount\":1}}\n",
        "x".repeat(400)
    );
    let dir = setup("oversize", &long);
    let out = eddy_in(
        &dir,
        &[STANDARD_ARGS, &["--max-line-bytes", "300"]].concat(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("1 input line rejected as oversize"),
        "{stderr}"
    );
    let dead = lines(&std::fs::read(dir.join("eddy-dead-letter.jsonl")).unwrap());
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["reason"], "oversize");
    assert_eq!(dead[0]["line"], 6);
    assert_eq!(lines(&out.stdout).len(), 8, "the other lines flow");
}

#[test]
fn a_config_binding_every_stream_to_a_file_runs_them_like_input_flags() {
    let dir = scratch("config-files");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = root.join("examples/fraud/data");
    let config = format!(
        "rules = [{rules:?}]\n\
         [streams.auth]\ntype = \"file\"\npath = {auth:?}\n\
         [streams.payments]\ntype = \"file\"\npath = {payments:?}\n\
         [streams.settlements]\ntype = \"file\"\npath = {settlements:?}\n\
         [sinks.\"*\"]\ntype = \"file\"\npath = \"alerts.jsonl\"\n\
         [dead_letter]\ntype = \"file\"\npath = \"rejected.jsonl\"\n",
        rules = root.join("examples/fraud/rules.eddy"),
        auth = data.join("auth.jsonl"),
        payments = data.join("payments.jsonl"),
        settlements = data.join("settlements.jsonl"),
    );
    std::fs::write(dir.join("eddy.toml"), config).unwrap();
    let out = eddy_in(&dir, &["run", "--config", "eddy.toml"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected =
        std::fs::read_to_string(root.join("examples/fraud/expected/derived.jsonl")).unwrap();
    let got = std::fs::read_to_string(dir.join("alerts.jsonl")).unwrap();
    assert_eq!(got, expected);
    let rejected = std::fs::read_to_string(dir.join("rejected.jsonl")).unwrap();
    assert_eq!(rejected.lines().count(), 8);
}
