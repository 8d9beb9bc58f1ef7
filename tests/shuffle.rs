//! The contract's ordering rule, end to end: delivering a pack's events
//! shuffled within the lateness bound gives exactly the derived events that
//! delivering them in event-time order gives (same ids, same order).
//!
//! The fraud pack's events are used, minus its deliberately broken and late
//! lines, keeping one event per timestamp and stream (with equal times the
//! contract keeps arrival order, so shuffling those may rightly change the
//! output). Arrival order is event time plus a seeded jitter below the
//! lateness (5 s), which never makes an event late. Evidence offsets are
//! line numbers, which a shuffle changes, so they are left out of the
//! comparison; the ids, built from the events' content, must not change.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const LATENESS_MS: i64 = 5_000;
const STREAMS: &[&str] = &["auth", "payments", "settlements"];

fn pack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fraud")
}

/// Event time of a valid line, or None for lines the dead-letter output takes.
fn event_time(line: &str) -> Option<i64> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    match &value["ts"] {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis()),
        _ => None,
    }
}

/// SplitMix64, so the shuffle is the same on every run.
fn jitter(state: &mut u64) -> i64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % LATENESS_MS as u64) as i64
}

/// Writes each stream's usable events, in event-time order or shuffled.
fn write_inputs(dir: &Path, seed: Option<u64>) {
    let dead = fs::read_to_string(pack().join("expected/dead-letter.jsonl")).unwrap();
    let rejected: Vec<String> = dead
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["raw"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut state = seed.unwrap_or(0);
    for stream in STREAMS {
        let text = fs::read_to_string(pack().join(format!("data/{stream}.jsonl"))).unwrap();
        let mut events: Vec<(i64, &str)> = text
            .lines()
            .filter(|l| !rejected.iter().any(|r| r == l))
            .filter_map(|l| event_time(l).map(|t| (t, l)))
            .collect();
        events.sort_by_key(|(t, _)| *t);
        events.dedup_by_key(|(t, _)| *t);
        let mut arrivals: Vec<(i64, usize, &str)> = events
            .iter()
            .enumerate()
            .map(|(i, (t, l))| {
                (
                    if seed.is_some() {
                        t + jitter(&mut state)
                    } else {
                        *t
                    },
                    i,
                    *l,
                )
            })
            .collect();
        arrivals.sort();
        let body: String = arrivals.iter().map(|(_, _, l)| format!("{l}\n")).collect();
        fs::write(dir.join(format!("{stream}.jsonl")), body).unwrap();
    }
}

/// The derived events with each evidence entry's `offset` removed.
fn without_offsets(jsonl: &str) -> Vec<serde_json::Value> {
    jsonl
        .lines()
        .map(|line| {
            let mut event: serde_json::Value = serde_json::from_str(line).unwrap();
            for evidence in event["data"]["evidence"].as_array_mut().unwrap() {
                evidence.as_object_mut().unwrap().remove("offset");
            }
            event
        })
        .collect()
}

fn run(dir: &Path) -> (Vec<serde_json::Value>, i32) {
    let output = dir.join("derived.jsonl");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eddy"));
    cmd.arg("run").arg(pack().join("rules.eddy"));
    for stream in STREAMS {
        cmd.arg("--input").arg(format!(
            "{stream}={}",
            dir.join(format!("{stream}.jsonl")).display()
        ));
    }
    cmd.arg("--output")
        .arg(&output)
        .arg("--dead-letter")
        .arg(dir.join("dead.jsonl"));
    let status = cmd.status().expect("eddy runs");
    (
        without_offsets(&fs::read_to_string(output).unwrap()),
        status.code().unwrap_or(-1),
    )
}

#[test]
fn shuffling_within_lateness_does_not_change_the_derived_events() {
    let root = std::env::temp_dir().join(format!("eddy-shuffle-{}", std::process::id()));
    let sorted_dir = root.join("sorted");
    fs::create_dir_all(&sorted_dir).unwrap();
    write_inputs(&sorted_dir, None);
    let (reference, code) = run(&sorted_dir);
    assert_eq!(code, 0, "sorted input has nothing to reject");
    assert!(reference.len() > 10, "the fraud pack yields derived events");
    for seed in [1, 2, 3] {
        let dir = root.join(format!("seed-{seed}"));
        fs::create_dir_all(&dir).unwrap();
        write_inputs(&dir, Some(seed));
        let (derived, code) = run(&dir);
        assert_eq!(
            code, 0,
            "seed {seed}: a shuffle within lateness made something late"
        );
        assert_eq!(
            derived, reference,
            "seed {seed}: the shuffle changed the derived events"
        );
    }
    fs::remove_dir_all(root).ok();
}
