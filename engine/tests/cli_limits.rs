//! Issue 11: whatever `eddy run` would refuse or die on, `eddy check`
//! refuses first, with the limit's code on stderr and exit code 1; and an
//! empty `emit` (a legitimate alert) runs.

use std::path::PathBuf;

use serde_json::Value;

mod cli_support;
use cli_support::eddy_in;

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eddy-cli-limits-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const STREAMS: &str = "
stream payments (
    ts          timestamp,
    payment_id  string,
    user_id     string,
    amount      float,
    currency    string
) time ts lateness 5s
";

#[test]
fn check_refuses_what_run_would_refuse() {
    let steps: Vec<String> = (0..65).map(|i| format!("s{i}: payments")).collect();
    let cases = [
        (
            "regex",
            "E0505",
            "rule r\n  from payments where matches(currency, \"(a+\")\n  emit e { payment_id }\n"
                .to_string(),
        ),
        (
            "regex_size",
            "E0506",
            "rule r\n  from payments where matches(currency, \"((a{100}){100}){100}\")\n  emit e { payment_id }\n"
                .to_string(),
        ),
        (
            "quantifier",
            "E0501",
            "rule r\n  by user_id\n  pattern f: payments{1000000} -> g: payments\n  within 10m\n  emit e { user_id }\n"
                .to_string(),
        ),
        (
            "steps",
            "E0502",
            format!(
                "rule r\n  by user_id\n  pattern {}\n  within 10m\n  emit e {{ user_id }}\n",
                steps.join(" -> ")
            ),
        ),
        (
            "states",
            "E0503",
            "rule r\n  by user_id\n  pattern (f: payments{1000}){1000}\n  within 10m\n  emit e { user_id }\n"
                .to_string(),
        ),
        (
            "optional_only",
            "E0422",
            "rule r\n  by user_id\n  pattern f: payments?\n  within 10m\n  emit e { user_id }\n"
                .to_string(),
        ),
        (
            "windows",
            "E0504",
            "rule r\n  from payments\n  by user_id\n  window 30d every 1ms\n  emit e { user_id, n: count() }\n"
                .to_string(),
        ),
    ];
    for (name, code, rule) in cases {
        let dir = scratch(name);
        std::fs::write(dir.join("rules.eddy"), format!("{STREAMS}\n{rule}")).unwrap();
        let out = eddy_in(&dir, &["check", "rules.eddy"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(code), "{name}: expected {code} in {stderr}");
    }
}

#[test]
fn a_pattern_rule_without_by_may_emit_no_field() {
    let dir = scratch("empty_emit");
    std::fs::write(
        dir.join("rules.eddy"),
        format!("{STREAMS}\nrule hit\n  pattern p: payments -> q: payments\n  within 10m\n  emit hit {{ }}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("payments.jsonl"),
        concat!(
            r#"{"ts":"2026-01-01T00:00:10Z","payment_id":"p1","user_id":"u1","amount":5,"currency":"EUR"}"#,
            "\n",
            r#"{"ts":"2026-01-01T00:00:20Z","payment_id":"p2","user_id":"u1","amount":6,"currency":"EUR"}"#,
            "\n",
        ),
    )
    .unwrap();
    let check = eddy_in(&dir, &["check", "rules.eddy"]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let out = eddy_in(
        &dir,
        &["run", "rules.eddy", "--input", "payments=payments.jsonl"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "eddy.hit");
}
