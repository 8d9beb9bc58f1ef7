//! The two-minute soak: `eddy soak` runs the fraud pack over a generated
//! stream with 5% bad lines, far-future and late events, at a fixed rate
//! with event time sped up 60 times (two hours of event time, four times
//! the longest rule window), and resident memory, open state and watermark
//! lag must level off. Asserts the trend, never a speed.

use std::collections::BTreeSet;
use std::process::Command;

use engine::soak::{levels_off, CSV_HEADER};

#[test]
fn memory_state_and_lag_level_off_under_hostile_input() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args([
            "soak",
            "--duration",
            "2m",
            "--rate",
            "2000",
            "--speedup",
            "60",
            "--sample",
            "5s",
            "--out",
        ])
        .arg(out.path())
        .output()
        .expect("eddy soak runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");

    let csv = std::fs::read_to_string(out.path().join("samples.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(CSV_HEADER));
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert!(rows.len() >= 18, "a sample every 5 s for 2 min: {rows:?}");
    let column = |i: usize| rows.iter().map(|r| r[i]).collect::<Vec<f64>>();
    assert!(
        levels_off(&column(1), 0.2),
        "resident memory: {:?}",
        column(1)
    );
    assert!(levels_off(&column(2), 0.2), "open state: {:?}", column(2));
    assert!(
        levels_off(&column(4), 0.5),
        "watermark lag: {:?}",
        column(4)
    );
    assert!(column(2).iter().any(|&v| v > 0.0), "the rules hold state");

    // Every kind of hostile line was met, counted and dead-lettered.
    let dead = std::fs::read_to_string(out.path().join("dead-letter.jsonl")).unwrap();
    let reasons: BTreeSet<String> = dead
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for reason in [
        "malformed_json",
        "wrong_type",
        "missing_field",
        "duplicate_field",
        "late",
        "future",
    ] {
        assert!(reasons.contains(reason), "no {reason} in {reasons:?}");
    }
    let derived = std::fs::read_to_string(out.path().join("derived.jsonl")).unwrap();
    assert!(derived.lines().count() > 100, "the rules fire");
    let png = std::fs::read(out.path().join("soak.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
}
