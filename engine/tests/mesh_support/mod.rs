//! Shared by the event-mesh tests (`http_source`, `amqp_job`): the fraud
//! pack with its sentinels and its file run (the oracle), a job's output
//! file read back, and a job's listening address.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::kafka_support::{self, Derived, EddyJob, FileRun, Input};

/// The fraud pack's streams.
pub const STREAMS: [&str; 3] = ["auth", "payments", "settlements"];

/// The fraud pack's lines per stream, broken ones included, each stream
/// ending with a sentinel a day later so that every window closes.
pub fn fraud_inputs() -> BTreeMap<&'static str, Vec<String>> {
    STREAMS
        .iter()
        .map(|&stream| {
            let mut lines = kafka_support::fraud_lines(stream);
            lines.push(kafka_support::fraud_sentinel(stream, "mesh"));
            (stream, lines)
        })
        .collect()
}

/// The file run of the fraud rules over `inputs`.
pub fn oracle(dir: &Path, rules: &Path, inputs: &BTreeMap<&'static str, Vec<String>>) -> FileRun {
    let inputs: Vec<Input> = inputs
        .iter()
        .flat_map(|(&stream, lines)| {
            lines.iter().map(move |line| Input {
                stream,
                partition: 0,
                key: None,
                line: line.clone(),
            })
        })
        .collect();
    kafka_support::oracle(dir, rules, &STREAMS, &inputs)
}

/// A test of the fraud pack in a scratch directory: its rules, its input
/// (with sentinels) and the file run of them.
pub struct FraudCase {
    scratch: tempfile::TempDir,
    pub rules: std::path::PathBuf,
    pub inputs: BTreeMap<&'static str, Vec<String>>,
    pub oracle: FileRun,
    /// The file run's derived events a live job must have emitted.
    pub expected: BTreeMap<String, Derived>,
}

impl FraudCase {
    pub fn new() -> FraudCase {
        let scratch = tempfile::tempdir().expect("temp dir");
        let rules = kafka_support::fraud_dir().join("rules.eddy");
        let inputs = fraud_inputs();
        let oracle = oracle(scratch.path(), &rules, &inputs);
        let expected = expected(&oracle);
        assert!(expected.len() > 20, "{} derived events", expected.len());
        FraudCase {
            scratch,
            rules,
            inputs,
            oracle,
            expected,
        }
    }

    pub fn dir(&self) -> &Path {
        self.scratch.path()
    }

    /// Part `index` of `parts` of every stream's input, in order.
    pub fn part(&self, index: usize, parts: usize) -> BTreeMap<&'static str, Vec<String>> {
        self.inputs
            .iter()
            .map(|(&stream, lines)| {
                let size = lines.len().div_ceil(parts);
                let end = (size * (index + 1)).min(lines.len());
                (stream, lines[(size * index).min(end)..end].to_vec())
            })
            .collect()
    }
}

/// The file run's derived events a live job must have emitted.
pub fn expected(oracle: &FileRun) -> BTreeMap<String, Derived> {
    kafka_support::before(&oracle.events, kafka_support::SENTINEL_CUTOFF)
}

/// The derived events in a job's CloudEvents JSON-lines output, by id.
pub fn read_output(path: &Path) -> BTreeMap<String, Derived> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    kafka_support::dedupe(
        text.lines()
            // A line being written when the file was read is not whole yet.
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .map(|event| Derived::from_cloudevent(&event)),
    )
}

/// The dead-letter records in a job's dead-letter file.
pub fn read_dead_letters(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Waits (bounded by `timeout`) until `output` holds every event of
/// `expected`, checking that `job` keeps running.
pub fn wait_for_output(
    output: &Path,
    expected: &BTreeMap<String, Derived>,
    job: &mut EddyJob,
    timeout: Duration,
) {
    let started = Instant::now();
    loop {
        let got = read_output(output);
        let missing = expected.keys().filter(|id| !got.contains_key(*id)).count();
        if missing == 0 {
            return;
        }
        job.assert_running();
        assert!(
            started.elapsed() < timeout,
            "{missing} of {} expected derived events not in {} after {timeout:?}:\n{}",
            expected.len(),
            output.display(),
            job.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The address of the job's HTTP source, from its log (`listen` ends in
/// `:0`, so the system picked the port).
pub fn listening_address(job: &mut EddyJob) -> String {
    job.wait_for_log("http source: listening on ", 1, Duration::from_secs(30));
    let stderr = job.stderr();
    let line = stderr
        .lines()
        .find(|l| l.contains("http source: listening on "))
        .expect("the line waited for");
    let rest = &line[line.find("listening on ").expect("in the line") + "listening on ".len()..];
    rest.split_whitespace()
        .next()
        .expect("an address after `listening on`")
        .to_string()
}

/// `(reason, raw)` of each dead-letter record, sorted: what two runs must
/// agree on (their sources and line numbers differ).
pub fn reasons_and_raw(records: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["reason"].as_str().unwrap_or_default().to_string(),
                r["raw"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}
