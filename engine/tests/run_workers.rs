//! `eddy run --workers N`: the keys split between pipelines on N threads
//! give the same derived events and the same dead letters as one pipeline,
//! in an order that does not depend on N; rules that cannot be split are
//! refused with the reason.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

mod cli_support;
use cli_support::eddy_in as eddy;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The benchmark events (one per millisecond, 2,000 users, so keys repeat).
fn bench_events(dir: &Path, events: usize) -> PathBuf {
    let out = eddy(
        dir,
        &[
            "generate",
            "bench",
            "--events",
            &events.to_string(),
            "--users",
            "2000",
            "--seed",
            "7",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("auth.jsonl")
}

/// Runs `rules` over `auth` with `workers`; returns the derived events and
/// the dead letters.
fn run(dir: &Path, rules: &[PathBuf], auth: &Path, workers: usize) -> (String, String) {
    let output = dir.join(format!("derived-{workers}.jsonl"));
    let dead = dir.join(format!("dead-{workers}.jsonl"));
    let mut args: Vec<String> = vec!["run".into()];
    args.extend(rules.iter().map(|r| r.display().to_string()));
    args.extend([
        "--input".into(),
        format!("auth={}", auth.display()),
        "--workers".into(),
        workers.to_string(),
        "--batch-size".into(),
        "1000".into(),
        "--output".into(),
        output.display().to_string(),
        "--dead-letter".into(),
        dead.display().to_string(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = eddy(dir, &args);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "--workers {workers}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        fs::read_to_string(output).unwrap(),
        fs::read_to_string(dead).unwrap_or_default(),
    )
}

fn sorted_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

/// Checks the contract for one set of rules: the same derived events and
/// dead letters with 1, 2 and 3 workers, in one order for 2 and 3.
fn assert_independent_of_workers(dir: &Path, rules: &[PathBuf], auth: &Path) -> usize {
    let (one, one_dead) = run(dir, rules, auth, 1);
    let (two, two_dead) = run(dir, rules, auth, 2);
    let (three, three_dead) = run(dir, rules, auth, 3);
    assert!(!one.is_empty(), "the rules derive nothing: a vacuous test");
    assert_eq!(sorted_lines(&two), sorted_lines(&one), "2 workers vs 1");
    assert_eq!(three, two, "3 workers vs 2: the order must not depend on N");
    assert_eq!(two_dead, one_dead, "dead letters, 2 workers vs 1");
    assert_eq!(three_dead, one_dead, "dead letters, 3 workers vs 1");
    one.lines().count()
}

#[test]
fn pattern_window_and_filter_rules_derive_the_same_events_on_any_number_of_workers() {
    let temp = TempDir::new().unwrap();
    let dir = temp.path();
    let auth = bench_events(dir, 40_000);
    let rules = repo().join("benches/rules");
    for set in [
        vec!["stream.eddy", "p.eddy"],
        vec!["stream.eddy", "w.eddy"],
        // Keyed and stateless rules in one program.
        vec!["stream.eddy", "p.eddy", "w.eddy", "f.eddy"],
    ] {
        let paths: Vec<PathBuf> = set.iter().map(|f| rules.join(f)).collect();
        let derived = assert_independent_of_workers(dir, &paths, &auth);
        assert!(derived > 10, "{set:?}: only {derived} derived events");
    }
}

#[test]
fn late_events_are_decided_once_for_all_workers() {
    let temp = TempDir::new().unwrap();
    let dir = temp.path();
    let auth = bench_events(dir, 20_000);
    // Every 50th event arrives 300 ms after its time: with a lateness of
    // 100 ms some of these are late, depending on the events of *all* keys
    // before them, which no single worker sees.
    let lines: Vec<String> = fs::read_to_string(&auth)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let mut delayed = Vec::with_capacity(lines.len());
    let mut held = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if i % 50 == 0 {
            held.push((i + 300, line.clone()));
        } else {
            delayed.push(line.clone());
        }
        while held.first().is_some_and(|(due, _)| *due <= i) {
            delayed.push(held.remove(0).1);
        }
    }
    delayed.extend(held.into_iter().map(|(_, line)| line));
    let shuffled = dir.join("auth-delayed.jsonl");
    fs::write(&shuffled, delayed.join("\n") + "\n").unwrap();
    let stream = fs::read_to_string(repo().join("benches/rules/stream.eddy"))
        .unwrap()
        .replace("lateness 0s", "lateness 100ms");
    let stream_path = dir.join("stream.eddy");
    fs::write(&stream_path, stream).unwrap();
    let rules = vec![stream_path, repo().join("benches/rules/w.eddy")];
    assert_independent_of_workers(dir, &rules, &shuffled);
    let (_, dead) = run(dir, &rules, &shuffled, 2);
    assert!(
        dead.lines().count() > 100,
        "expected many late events, got {}",
        dead.lines().count()
    );
}

#[test]
fn rules_grouping_a_stream_by_different_keys_are_refused() {
    let temp = TempDir::new().unwrap();
    let dir = temp.path();
    let fraud = repo().join("examples/fraud");
    let out = eddy(
        &fraud,
        &[
            "run",
            "rules.eddy",
            "--input",
            "payments=data/payments.jsonl",
            "--input",
            "auth=data/auth.jsonl",
            "--input",
            "settlements=data/settlements.jsonl",
            "--workers",
            "2",
            "--output",
            &dir.join("out.jsonl").display().to_string(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("stream `payments` is grouped by different keys")
            && stderr.contains("unsettled_payment"),
        "{stderr}"
    );
}

#[test]
fn a_live_input_gets_its_derived_events_without_waiting_for_more_input() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    use std::time::Duration;

    let rules = repo().join("benches/rules");
    let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .arg("run")
        .arg(rules.join("stream.eddy"))
        .arg(rules.join("p.eddy"))
        .arg(rules.join("f.eddy"))
        .args(["--input", "auth=-", "--workers", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A large transfer (F matches it), then a later event that moves the
    // watermark past it; stdin stays open.
    let lines = [
        r#"{"ts":1767225600000,"user":"u1","type":"transfer","amount":4500.0}"#,
        r#"{"ts":1767225600001,"user":"u2","type":"login_ok","amount":1.0}"#,
    ];
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = tx.send(first);
    });
    let first = rx.recv_timeout(Duration::from_secs(30));
    drop(stdin);
    let _ = child.wait();
    let first = first.expect("the derived event came while the input stayed open");
    assert!(first.contains("large_transfer"), "{first}");
}

/// `suppress` on a rule without `by` is state of one key: split between
/// workers it would emit once per worker, so it is refused, and one worker
/// emits it once.
#[test]
fn suppress_without_by_is_refused_and_one_worker_emits_once() {
    let temp = TempDir::new().unwrap();
    let dir = temp.path();
    fs::write(
        dir.join("rules.eddy"),
        "stream s1 ( ts timestamp, v int ) time ts\n\
         rule o from s1 emit o { v } suppress 1s\n",
    )
    .unwrap();
    fs::write(
        dir.join("s1.jsonl"),
        "{\"ts\":1000,\"v\":1}\n{\"ts\":1500,\"v\":2}\n",
    )
    .unwrap();
    let run_with = |workers: &str| {
        eddy(
            dir,
            &[
                "run",
                "rules.eddy",
                "--input",
                "s1=s1.jsonl",
                "--workers",
                workers,
                "--output",
                "out.jsonl",
            ],
        )
    };
    let one = run_with("1");
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    assert_eq!(
        fs::read_to_string(dir.join("out.jsonl"))
            .unwrap()
            .lines()
            .count(),
        1
    );
    for workers in ["2", "3"] {
        let out = run_with(workers);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{workers} workers: {stderr}");
        assert!(
            stderr.contains("rule `o` keeps state over `s1` without `by`"),
            "{stderr}"
        );
    }
}
