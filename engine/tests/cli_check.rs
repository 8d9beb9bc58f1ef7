//! `eddy check`: exit codes and diagnostics on stderr.

use std::path::PathBuf;
use std::process::{Command, Output};

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eddy-cli-check-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn eddy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .output()
        .unwrap()
}

const STREAMS: &str = "
stream payments (
    ts          timestamp,
    payment_id  string,
    amount      float
) time ts lateness 5s
";

#[test]
fn valid_rules_exit_0() {
    let dir = scratch("valid");
    let rules = dir.join("rules.eddy");
    let text = format!("{STREAMS}\nrule big\n  from payments\n  where amount > 100\n  emit big {{ payment_id, amount }}\n");
    std::fs::write(&rules, text).unwrap();
    let out = eddy(&["check", rules.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_example_packs_check_clean() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for pack in ["fraud", "security", "iot"] {
        let rules = root.join(pack).join("rules.eddy");
        let out = eddy(&["check", rules.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{pack}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn rule_errors_exit_1_with_rendered_diagnostics() {
    let dir = scratch("errors");
    let rules = dir.join("rules.eddy");
    let text = format!("{STREAMS}\nrule big\n  from paymentz\n  emit big {{ payment_id }}\n");
    std::fs::write(&rules, text).unwrap();
    let out = eddy(&["check", rules.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error"), "{stderr}");
    assert!(
        stderr.contains("rules.eddy"),
        "the diagnostic names the file: {stderr}"
    );
}

#[test]
fn streams_declared_in_one_file_are_visible_in_another() {
    let dir = scratch("multi");
    let streams = dir.join("streams.eddy");
    let rules = dir.join("rules.eddy");
    std::fs::write(&streams, STREAMS).unwrap();
    std::fs::write(
        &rules,
        "rule big\n  from payments\n  emit big { payment_id }\n",
    )
    .unwrap();
    let out = eddy(&["check", streams.to_str().unwrap(), rules.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unreadable_rule_file_exits_2_naming_the_path() {
    let dir = scratch("missing");
    let missing = dir.join("nope.eddy");
    let out = eddy(&["check", missing.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nope.eddy"), "{stderr}");
}

#[test]
fn no_rule_files_is_a_usage_error() {
    let out = eddy(&["check"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A restricted rule whose events the config routes to a sink not cleared
/// for them: `eddy check --config` and the job's startup refuse it (exit
/// 2), naming the rule, the sink and the fix; cleared, both accept it.
#[test]
fn a_restricted_event_routed_to_an_uncleared_sink_is_refused() {
    let dir = scratch("governance");
    let rules = dir.join("rules.eddy");
    let text = format!(
        "{STREAMS}\nrule big\n  owner \"fraud-ops\"\n  classification restricted\n  \
         from payments\n  where amount > 100\n  emit big {{ payment_id, amount }}\n"
    );
    std::fs::write(&rules, text).unwrap();
    let data = dir.join("payments.jsonl");
    std::fs::write(
        &data,
        "{\"ts\":\"2026-01-01T00:00:00Z\",\"payment_id\":\"p1\",\"amount\":500.0}\n",
    )
    .unwrap();
    let config = dir.join("eddy.toml");
    let write_config = |accepts: &str| {
        std::fs::write(
            &config,
            format!(
                "rules = [\"{}\"]\n\n[streams.payments]\ntype = \"file\"\npath = \"{}\"\n\n\
                 [sinks.\"*\"]\ntype = \"file\"\npath = \"{}\"\n{accepts}",
                rules.display(),
                data.display(),
                dir.join("out.jsonl").display()
            ),
        )
        .unwrap()
    };
    let config_arg = config.to_str().unwrap();
    let check_and_run = [
        ["check", "--config", config_arg],
        ["run", "--config", config_arg],
    ];
    let in_dir = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_eddy"))
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    write_config("");
    for args in check_and_run {
        let out = in_dir(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("rule `big` emits restricted events (`big`)")
                && stderr.contains("sink `*`")
                && stderr.contains("accepts only public and internal")
                && stderr.contains("[sinks.big] with accepts = [\"restricted\"]"),
            "{args:?}: {stderr}"
        );
    }

    write_config("accepts = [\"internal\", \"restricted\"]\n");
    for args in check_and_run {
        let out = in_dir(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let written = std::fs::read_to_string(dir.join("out.jsonl")).unwrap();
    assert!(written.contains("\"p1\""), "{written}");

    write_config("accepts = [\"secret\"]\n");
    let out = eddy(&["check", "--config", config_arg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown classification `secret`"),
        "{stderr}"
    );
}
