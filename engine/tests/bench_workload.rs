//! The benchmark workload: `eddy generate bench` is deterministic and has
//! the documented shape, and `eddy bench` runs every workload and prints
//! figures a script can read, with derived-event counts that agree with the
//! data. No timing is asserted: speed is measured, not tested.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn scratch(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("eddy-bench-workload-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn eddy(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "eddy {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn generate(dir: &Path, seed: &str, users: &str) -> Vec<u8> {
    let out = dir.to_str().unwrap();
    eddy(&[
        "generate", "bench", "--out", out, "--events", "5000", "--seed", seed, "--users", users,
    ]);
    std::fs::read(dir.join("auth.jsonl")).unwrap()
}

fn events(text: &[u8]) -> Vec<Value> {
    text.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect()
}

#[test]
fn the_generator_is_deterministic() {
    let dir = scratch("deterministic");
    let first = generate(&dir.join("a"), "7", "100");
    let again = generate(&dir.join("b"), "7", "100");
    let other = generate(&dir.join("c"), "8", "100");
    assert_eq!(first, again, "same seed, same bytes");
    assert_ne!(first, other, "another seed, other data");
}

#[test]
fn the_generator_follows_the_specified_distribution() {
    let dir = scratch("distribution");
    let events = events(&generate(&dir, "42", "100"));
    assert_eq!(events.len(), 5000);

    let mut types: HashMap<&str, usize> = HashMap::new();
    let mut users = std::collections::HashSet::new();
    for (i, event) in events.iter().enumerate() {
        // One event per millisecond, in order, from 2026-01-01.
        assert_eq!(event["ts"].as_i64(), Some(1_767_225_600_000 + i as i64));
        let user = event["user"].as_str().unwrap();
        let k: u64 = user.strip_prefix('u').unwrap().parse().unwrap();
        assert!(k < 100, "user {user} out of range");
        users.insert(k);
        *types.entry(event["type"].as_str().unwrap()).or_default() += 1;
        let amount = event["amount"].as_f64().unwrap();
        assert!((1.0..=5000.0).contains(&amount), "amount {amount}");
    }
    assert_eq!(users.len(), 100, "5000 draws reach every one of 100 users");
    let share = |t: &str| types.get(t).copied().unwrap_or(0) as f64 / 5000.0;
    assert!((share("login_failed") - 0.80).abs() < 0.03, "{types:?}");
    assert!((share("login_ok") - 0.15).abs() < 0.03, "{types:?}");
    assert!((share("transfer") - 0.05).abs() < 0.02, "{types:?}");
    assert_eq!(types.len(), 3, "{types:?}");
}

/// The rows of the table whose header starts with `first_column`, as
/// column name -> cell.
fn table(stdout: &str, first_column: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = stdout
        .lines()
        .skip_while(|line| line.split_whitespace().next() != Some(first_column));
    let header: Vec<&str> = lines
        .next()
        .expect("table header")
        .split_whitespace()
        .collect();
    lines
        .take_while(|line| !line.trim().is_empty() && !line.contains('='))
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(cells.len(), header.len(), "row `{line}`");
            header
                .iter()
                .zip(cells)
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect()
        })
        .collect()
}

fn number(row: &BTreeMap<String, String>, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column} = {} is not a number", row[column]))
}

/// F and W derived events counted straight from the data.
fn expected_counts(data: &Path) -> (u64, u64) {
    let events = events(&std::fs::read(data).unwrap());
    let large_transfers = events
        .iter()
        .filter(|e| e["type"] == "transfer" && e["amount"].as_f64().unwrap() > 4000.0)
        .count() as u64;
    let mut failures: HashMap<(String, i64), u64> = HashMap::new();
    for e in events.iter().filter(|e| e["type"] == "login_failed") {
        let minute = e["ts"].as_i64().unwrap() / 60_000;
        *failures
            .entry((e["user"].as_str().unwrap().to_string(), minute))
            .or_default() += 1;
    }
    let bursts = failures.values().filter(|&&n| n >= 5).count() as u64;
    (large_transfers, bursts)
}

#[test]
fn bench_runs_every_workload_and_prints_parseable_figures() {
    let dir = scratch("bench");
    let output = eddy(&[
        "bench",
        "--events",
        "20000",
        "--workload",
        "all",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8(output.stdout).unwrap();

    let decode = table(&stdout, "data");
    assert_eq!(decode.len(), 2, "{stdout}");
    for row in &decode {
        assert_eq!(number(row, "events"), 20000.0);
        assert!(number(row, "events/s") > 0.0);
    }

    let throughput = table(&stdout, "workload");
    let labels: Vec<&str> = throughput.iter().map(|r| r["workload"].as_str()).collect();
    assert_eq!(
        labels,
        ["F", "P", "P-2w", "W", "P-1M", "F-1M", "F-r1", "F-r10", "F-r100"],
        "{stdout}"
    );
    for row in &throughput {
        assert_eq!(number(row, "events"), 20000.0);
        for column in ["wall_s", "events/s", "x_decode", "cpu_s", "peak_rss_mb"] {
            assert!(number(row, column) > 0.0, "{column} in {row:?}");
        }
    }
    let derived = |label: &str| {
        let row = throughput.iter().find(|r| r["workload"] == label).unwrap();
        number(row, "derived") as u64
    };
    let (large_transfers, bursts) = expected_counts(&dir.join("auth-n20000-u10000-s42/auth.jsonl"));
    assert_eq!(derived("F"), large_transfers);
    assert_eq!(derived("W"), bursts);
    assert!(large_transfers > 0 && bursts > 0);
    assert_eq!(
        derived("P-2w"),
        derived("P"),
        "two workers, the same matches"
    );
    // Rule i of F-rN watches user `u<i>`.
    let data = events(&std::fs::read(dir.join("auth-n20000-u10000-s42/auth.jsonl")).unwrap());
    for (label, rules) in [("F-r1", 1), ("F-r10", 10), ("F-r100", 100)] {
        let watched = data
            .iter()
            .filter(|e| e["type"] == "transfer" && e["amount"].as_f64().unwrap() > 4000.0)
            .filter(|e| e["user"].as_str().unwrap()[1..].parse::<u32>().unwrap() < rules)
            .count() as u64;
        assert_eq!(derived(label), watched, "{label}");
    }
    for prefix in ["workers: P-2w/P=", "rules: F-r1/F-r1=1.00 F-r10/F-r1="] {
        assert!(
            stdout.lines().any(|l| l.starts_with(prefix)),
            "no `{prefix}` line:\n{stdout}"
        );
    }

    let state = stdout
        .lines()
        .find_map(|line| line.strip_prefix("state: "))
        .expect("a state line");
    let state: BTreeMap<&str, &str> = state
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .collect();
    assert!(
        state["peak_candidates"].parse::<u64>().unwrap() > 0,
        "{state:?}"
    );
    assert!(
        state["bytes_per_candidate"].parse::<f64>().is_ok(),
        "{state:?}"
    );

    // Streaming the same file on stdin gives the same derived events as
    // running it from the file.
    let latency = table(
        &stdout[stdout.find("streaming latency").unwrap()..],
        "workload",
    );
    let labels: Vec<&str> = latency.iter().map(|r| r["workload"].as_str()).collect();
    assert_eq!(labels, ["F", "P"], "{stdout}");
    for row in &latency {
        assert_eq!(number(row, "derived") as u64, derived(&row["workload"]));
        if number(row, "derived") > 0.0 {
            let p50 = number(row, "p50_us");
            assert!(p50 > 0.0 && p50 <= number(row, "p99_us"));
            assert!(number(row, "p99_us") <= number(row, "max_us"));
        }
    }
}
