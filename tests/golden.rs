//! Golden tests: every example pack runs over its sample data, and the
//! derived events and the dead-letter output equal the checked-in files.
//!
//! A pack is a folder of `examples/` holding `rules.eddy`, `data/STREAM.jsonl`
//! (one file per input stream, named after it) and `expected/`.
//! `EDDY_UPDATE_GOLDEN=1 cargo test --test golden` rewrites the expected files;
//! review the diff before committing it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .canonicalize()
        .unwrap()
}

fn packs() -> Vec<PathBuf> {
    let mut packs: Vec<PathBuf> = fs::read_dir(repo_root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("rules.eddy").is_file())
        .collect();
    packs.sort();
    packs
}

fn inputs(pack: &Path) -> Vec<(String, PathBuf)> {
    let mut inputs: Vec<(String, PathBuf)> = fs::read_dir(pack.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    inputs.sort();
    inputs
}

/// Runs `eddy run` on a pack; returns (derived events, dead letters, exit code).
fn run_pack(pack: &Path, out_dir: &Path, batch_size: Option<usize>) -> (String, String, i32) {
    let output = out_dir.join("derived.jsonl");
    let dead = out_dir.join("dead-letter.jsonl");
    // Paths relative to the repository, so the dead-letter output (which
    // names each input file) is the same in every checkout.
    let root = repo_root();
    let relative = |p: &Path| p.strip_prefix(&root).unwrap().to_path_buf();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eddy"));
    cmd.current_dir(&root);
    cmd.arg("run").arg(relative(&pack.join("rules.eddy")));
    for (stream, path) in inputs(pack) {
        cmd.arg("--input")
            .arg(format!("{stream}={}", relative(&path).display()));
    }
    cmd.arg("--output")
        .arg(&output)
        .arg("--dead-letter")
        .arg(&dead);
    if let Some(n) = batch_size {
        cmd.arg("--batch-size").arg(n.to_string());
    }
    let result = cmd.output().expect("eddy runs");
    let code = result.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 3,
        "eddy run on {} failed with {code}:\n{}",
        pack.display(),
        String::from_utf8_lossy(&result.stderr)
    );
    (
        fs::read_to_string(&output).unwrap(),
        fs::read_to_string(&dead).unwrap_or_default(),
        code,
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eddy-golden-{}-{name}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn compare_or_update(expected: &Path, actual: &str) {
    if std::env::var_os("EDDY_UPDATE_GOLDEN").is_some() {
        fs::create_dir_all(expected.parent().unwrap()).unwrap();
        fs::write(expected, actual).unwrap();
        return;
    }
    let want = fs::read_to_string(expected).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run with EDDY_UPDATE_GOLDEN=1",
            expected.display()
        )
    });
    if want != actual {
        let diff: Vec<String> = want
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (w, a))| w != a)
            .take(3)
            .map(|(i, (w, a))| format!("line {}:\n  expected {w}\n  actual   {a}", i + 1))
            .collect();
        panic!(
            "{} differs ({} expected lines, {} actual):\n{}",
            expected.display(),
            want.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn every_pack_gives_its_expected_output() {
    let packs = packs();
    assert!(packs.len() >= 3, "expected at least three example packs");
    for pack in packs {
        let name = pack.file_name().unwrap().to_string_lossy().into_owned();
        let dir = scratch(&name);
        let (derived, dead, code) = run_pack(&pack, &dir, None);
        assert!(!derived.is_empty(), "{name}: no derived events");
        assert_eq!(
            code, 3,
            "{name}: the sample data holds rejected lines, so the exit code is 3"
        );
        compare_or_update(&pack.join("expected/derived.jsonl"), &derived);
        compare_or_update(&pack.join("expected/dead-letter.jsonl"), &dead);
        fs::remove_dir_all(dir).ok();
    }
}

#[test]
fn output_does_not_depend_on_the_batch_size() {
    for pack in packs() {
        let name = pack.file_name().unwrap().to_string_lossy().into_owned();
        let dir = scratch(&format!("{name}-batches"));
        let (reference, ref_dead, _) = run_pack(&pack, &dir, Some(4096));
        for size in [1, 7, 250] {
            let (derived, dead, _) = run_pack(&pack, &dir, Some(size));
            assert_eq!(
                derived, reference,
                "{name}: batch size {size} changed the derived events"
            );
            assert_eq!(
                dead, ref_dead,
                "{name}: batch size {size} changed the dead letters"
            );
        }
        fs::remove_dir_all(dir).ok();
    }
}

#[test]
fn sample_data_is_what_the_seeded_generator_writes() {
    for pack in packs() {
        let name = pack.file_name().unwrap().to_string_lossy().into_owned();
        let dir = scratch(&format!("{name}-gen"));
        let status = Command::new(env!("CARGO_BIN_EXE_eddy"))
            .args(["generate", &name, "--out"])
            .arg(&dir)
            .status()
            .expect("eddy generate runs");
        assert!(status.success());
        for (stream, path) in inputs(&pack) {
            let generated = fs::read_to_string(dir.join(format!("{stream}.jsonl"))).unwrap();
            assert!(
                generated == fs::read_to_string(&path).unwrap(),
                "{name}/{stream}: checked-in data differs from `eddy generate {name}`"
            );
        }
        fs::remove_dir_all(dir).ok();
    }
}

/// The contract: a derived event read by a chained rule is named in its
/// evidence by the CloudEvent `id` it carries in the output (the fraud
/// pack's `takeover_burst` reads `takeover`).
#[test]
fn chained_evidence_names_upstream_events_by_their_output_id() {
    let pack = repo_root().join("examples/fraud");
    let dir = scratch("fraud-chained");
    let (derived, _, _) = run_pack(&pack, &dir, None);
    fs::remove_dir_all(dir).ok();
    let events: Vec<serde_json::Value> = derived
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let takeover_ids: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "eddy.takeover")
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let chained: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "eddy.takeover_escalation")
        .collect();
    assert!(!chained.is_empty(), "the sample data escalates a takeover");
    for event in chained {
        let evidence = event["data"]["evidence"].as_array().unwrap();
        assert_eq!(evidence.len(), 1, "{event}");
        let cited = &evidence[0];
        assert_eq!(cited["stream"], "takeover", "{event}");
        assert!(cited.get("offset").is_none(), "{event}");
        let id = cited["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id: {event}"));
        assert!(takeover_ids.contains(&id), "{id} is no takeover's id");
    }
}

/// Runs the fraud pack with its `auth` input's second line replaced by
/// `line`; returns (derived events, dead letters).
fn fraud_with_second_auth_line(name: &str, line: &str) -> (String, Vec<serde_json::Value>) {
    let pack = repo_root().join("examples/fraud");
    let dir = scratch(name);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eddy"));
    cmd.arg("run").arg(pack.join("rules.eddy"));
    for (stream, path) in inputs(&pack) {
        let mut text = fs::read_to_string(&path).unwrap();
        if stream == "auth" {
            let mut lines: Vec<&str> = text.lines().collect();
            lines[1] = line;
            text = lines.join("\n") + "\n";
        }
        let copy = dir.join(format!("{stream}.jsonl"));
        fs::write(&copy, text).unwrap();
        cmd.arg("--input")
            .arg(format!("{stream}={}", copy.display()));
    }
    let (output, dead) = (dir.join("derived.jsonl"), dir.join("dead.jsonl"));
    cmd.arg("--output")
        .arg(&output)
        .arg("--dead-letter")
        .arg(&dead);
    let result = cmd.output().expect("eddy runs");
    assert_eq!(
        result.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let dead = fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (fs::read_to_string(&output).unwrap(), dead)
}

/// One event stamped in the far future must not move the watermark: the
/// derived events are those of a run where that line was garbage, and the
/// line goes to the dead letter as `future`. Times RFC 3339 cannot write
/// are `bad_timestamp`.
#[test]
fn one_far_future_event_blinds_nothing() {
    let (baseline, _) = fraud_with_second_auth_line("future-baseline", "{oops");
    assert!(baseline.lines().count() > 40, "the fraud pack fires");
    let cases = [
        (
            r#"{"country":"FR","ip":"203.0.113.36","kind":"login_ok","ts":"9999-12-31T23:59:59.999Z","user_id":"u036"}"#,
            "future",
        ),
        (
            r#"{"country":"FR","ip":"203.0.113.36","kind":"login_ok","ts":"2999-01-01T00:00:00Z","user_id":"u036"}"#,
            "future",
        ),
        (
            r#"{"country":"FR","ip":"203.0.113.36","kind":"login_ok","ts":9223372036854775807,"user_id":"u036"}"#,
            "bad_timestamp",
        ),
        (
            r#"{"country":"FR","ip":"203.0.113.36","kind":"login_ok","ts":-9223372036854775808,"user_id":"u036"}"#,
            "bad_timestamp",
        ),
    ];
    for (index, (line, reason)) in cases.iter().enumerate() {
        let (derived, dead) = fraud_with_second_auth_line(&format!("future-{index}"), line);
        assert!(derived == baseline, "{line}: the derived events changed");
        let record = dead
            .iter()
            .find(|d| d["stream"] == "auth" && d["line"] == 2)
            .unwrap_or_else(|| panic!("{line}: not dead-lettered"));
        assert_eq!(record["reason"], *reason, "{record}");
    }
    for event in baseline.lines() {
        let event: serde_json::Value = serde_json::from_str(event).unwrap();
        let time = event["time"].as_str().expect("time is a string");
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
    }
}
