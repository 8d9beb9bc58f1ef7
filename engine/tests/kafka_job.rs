//! `eddy run --config`, the streaming job, against a real broker: the
//! fraud pack of the rule-language reference over Kafka topics gives the
//! derived events the file run gives. Inputs are produced and the sink
//! topic read back by Python's confluent-kafka (an independent client).
//! Skips without a broker.
//!
//! A streaming job never reaches the end of its input, so every partition
//! ends with sentinel events a day later in event time; only derived events
//! before `SENTINEL_CUTOFF` are compared (see kafka_support).

mod kafka_support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use kafka_support::{Derived, EddyJob, JobConfig, Outgoing};

/// Bound on the job producing every expected derived event.
const OUTPUT_WAIT: Duration = Duration::from_secs(60);

/// One run of rules over the fraud data on Kafka, compared with the file
/// run of the same rules over the same data.
struct FraudOverKafka {
    name: &'static str,
    rules: String,
    /// The input streams the rules read.
    streams: &'static [&'static str],
    partitions: i32,
}

impl FraudOverKafka {
    /// Runs it; returns the file run's events (before the cutoff) so the
    /// caller can check the comparison was not vacuous.
    async fn run(&self) -> Option<BTreeMap<String, Derived>> {
        let brokers = kafka_support::broker()?;
        let scratch = tempfile::tempdir().expect("temp dir");
        let dir = scratch.path();
        let rules = dir.join("rules.eddy");
        std::fs::write(&rules, &self.rules).expect("write rules");

        let mut lines: BTreeMap<&str, Vec<String>> = self
            .streams
            .iter()
            .map(|&s| (s, kafka_support::fraud_lines(s)))
            .collect();
        if self.partitions > 1 {
            drop_late_lines(dir, &rules, &mut lines);
        }
        // (stream, partition, line): data first, then one sentinel per
        // partition, so every partition's time passes every window.
        let mut messages: Vec<(&str, i32, String)> = Vec::new();
        for (&stream, stream_lines) in &lines {
            for line in stream_lines {
                let partition = kafka_support::fraud_key(stream, line)
                    .map_or(0, |key| kafka_support::partition_of(&key, self.partitions));
                messages.push((stream, partition, line.clone()));
            }
            for partition in 0..self.partitions {
                let sentinel = kafka_support::fraud_sentinel(stream, &format!("p{partition}"));
                messages.push((stream, partition, sentinel));
            }
        }
        let oracle = oracle_of(dir, &rules, self.streams, &messages);
        let expected = kafka_support::before(&oracle.events, kafka_support::SENTINEL_CUTOFF);

        let topic_of = |stream: &str| kafka_support::unique(&format!("{}-{stream}", self.name));
        let topics: BTreeMap<&str, String> =
            self.streams.iter().map(|&s| (s, topic_of(s))).collect();
        for topic in topics.values() {
            kafka_support::create_topic(&brokers, topic, self.partitions).await;
        }
        let sink = kafka_support::unique(&format!("{}-alerts", self.name));
        kafka_support::create_topic(&brokers, &sink, 1).await;
        let outgoing: Vec<Outgoing> = messages
            .iter()
            .map(|(stream, partition, line)| Outgoing {
                topic: topics[stream].clone(),
                partition: *partition,
                key: kafka_support::fraud_key(stream, line),
                value: line.clone(),
            })
            .collect();
        kafka_support::produce(&brokers, dir, &outgoing);

        let config = JobConfig {
            brokers: brokers.clone(),
            group: kafka_support::unique(self.name),
            checkpoint_dir: dir.join("checkpoints"),
            streams: topics
                .iter()
                .map(|(s, t)| (s.to_string(), t.clone(), None))
                .collect(),
            sink_topic: sink.clone(),
            sink_mode: "binary",
            dead_letter_topic: None,
            max_message_bytes: None,
        };
        let config_path = dir.join("eddy.toml");
        std::fs::write(&config_path, config.toml()).expect("write config");
        let mut job = EddyJob::start(dir, self.name, &rules, &config_path);
        kafka_support::wait_for_events(
            &brokers,
            &sink,
            1,
            &expected,
            &mut [&mut job],
            OUTPUT_WAIT,
        );
        let stderr = job.terminate();

        let messages = kafka_support::read_all(&brokers, &sink, 1);
        for message in &messages {
            assert_binary_cloudevent(message);
        }
        let got = kafka_support::dedupe(messages.iter().map(Derived::from_binary));
        let got = kafka_support::before(&got, kafka_support::SENTINEL_CUTOFF);
        assert_same_events(&got, &expected, &stderr);
        Some(expected)
    }
}

/// The file run of `messages` (each stream's lines in produce order).
fn oracle_of(
    dir: &std::path::Path,
    rules: &std::path::Path,
    streams: &[&str],
    messages: &[(&str, i32, String)],
) -> kafka_support::FileRun {
    let mut inputs: Vec<(&str, PathBuf)> = Vec::new();
    for &stream in streams {
        let path = dir.join(format!("{stream}.jsonl"));
        let text: String = messages
            .iter()
            .filter(|(s, _, _)| *s == stream)
            .map(|(_, _, line)| format!("{line}\n"))
            .collect();
        std::fs::write(&path, text).expect("write the oracle's input");
        inputs.push((stream, path));
    }
    kafka_support::file_run(dir, rules, &inputs)
}

/// Whether an event is late depends on the events before it in its
/// partition, and a partition holds a subset of the stream; so with more
/// than one partition the lines the file run finds late are left out (an
/// event on time in the whole stream is on time in its partition, whose
/// watermark can only be lower).
fn drop_late_lines(
    dir: &std::path::Path,
    rules: &std::path::Path,
    lines: &mut BTreeMap<&str, Vec<String>>,
) {
    let messages: Vec<(&str, i32, String)> = lines
        .iter()
        .flat_map(|(&s, ls)| ls.iter().map(move |l| (s, 0, l.clone())))
        .collect();
    let streams: Vec<&str> = lines.keys().copied().collect();
    let oracle = oracle_of(dir, rules, &streams, &messages);
    for record in oracle.rejected.iter().filter(|r| r["reason"] == "late") {
        let stream = record["stream"].as_str().expect("a rejected line's stream");
        let line = record["line"].as_u64().expect("a rejected line's number");
        // Line numbers are 1-based; blank the line, then drop blanks below.
        if let Some(text) = lines
            .get_mut(stream)
            .and_then(|ls| ls.get_mut(line as usize - 1))
        {
            text.clear();
        }
    }
    for stream_lines in lines.values_mut() {
        stream_lines.retain(|l| !l.is_empty());
    }
}

/// The CloudEvents Kafka binding, binary mode: the attributes in `ce_`
/// headers, the data (a JSON object with its evidence) as the value.
fn assert_binary_cloudevent(message: &kafka_support::ReadBack) {
    let h = &message.headers;
    assert_eq!(h.get("ce_specversion").map(String::as_str), Some("1.0"), "{message:?}");
    for attribute in ["ce_id", "ce_type", "ce_time", "ce_source"] {
        assert!(
            h.get(attribute).is_some_and(|v| !v.is_empty()),
            "no {attribute}: {message:?}"
        );
    }
    assert!(h["ce_type"].starts_with("eddy."), "{message:?}");
    assert!(!h.contains_key("ce_data"), "{message:?}");
    let data: serde_json::Value =
        serde_json::from_slice(&message.value()).expect("the value is the JSON data");
    assert!(data["evidence"].is_array(), "the data carries its evidence: {data}");
    assert!(data.get("specversion").is_none(), "not a whole CloudEvent: {data}");
}

/// Equal sets of derived events, or a message naming the differences.
fn assert_same_events(
    got: &BTreeMap<String, Derived>,
    expected: &BTreeMap<String, Derived>,
    stderr: &str,
) {
    let missing: Vec<&Derived> = expected
        .iter()
        .filter(|(id, _)| !got.contains_key(*id))
        .map(|(_, e)| e)
        .collect();
    let extra: Vec<&Derived> = got
        .iter()
        .filter(|(id, _)| !expected.contains_key(*id))
        .map(|(_, e)| e)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "Kafka run vs file run: {} missing, {} extra (of {} expected)\nmissing e.g. {:#?}\nextra e.g. {:#?}\neddy's stderr:\n{stderr}",
        missing.len(),
        extra.len(),
        expected.len(),
        &missing[..missing.len().min(3)],
        &extra[..extra.len().min(3)],
    );
    assert_eq!(got, expected, "same ids, same events");
}

/// The derived event types among `events`, for checking a comparison
/// covered every kind of rule.
fn types(events: &BTreeMap<String, Derived>) -> std::collections::BTreeSet<String> {
    events.values().map(|e| e.kind.clone()).collect()
}

#[tokio::test]
async fn rules_md_examples_over_kafka_match_the_file_run() {
    let text = std::fs::read_to_string(kafka_support::fraud_dir().join("rules.eddy"))
        .expect("rules.eddy");
    let run = FraudOverKafka {
        name: "fraud-1p",
        rules: text,
        streams: &["auth", "payments", "settlements"],
        partitions: 1,
    };
    let Some(expected) = run.run().await else {
        return;
    };
    let kinds = types(&expected);
    for kind in ["eddy.large_payment", "eddy.takeover", "eddy.unsettled"] {
        assert!(kinds.contains(kind), "the file run has no {kind}: {kinds:?}");
    }
}

/// A window rule keyed like the rest of the subset (by user_id).
const BUSY_PAYER: &str = "
rule busy_payer
  from payments
  by user_id
  window 10m
  having count() >= 3
  emit busy_payer { user_id, payments: count(), total: sum(amount) }
";

#[tokio::test]
async fn rules_md_examples_over_three_partitions_match_the_file_run() {
    // Every rule here is keyed by user_id (or keyless per event), and auth
    // and payments are partitioned by user_id: co-partitioned.
    let rules = kafka_support::fraud_rules_subset(
        &[
            "auth",
            "payments",
            "large_payment",
            "account_takeover",
            "takeover_burst",
        ],
        BUSY_PAYER,
    );
    let run = FraudOverKafka {
        name: "fraud-3p",
        rules,
        streams: &["auth", "payments"],
        partitions: 3,
    };
    let Some(expected) = run.run().await else {
        return;
    };
    let kinds = types(&expected);
    for kind in ["eddy.large_payment", "eddy.takeover", "eddy.busy_payer"] {
        assert!(kinds.contains(kind), "the file run has no {kind}: {kinds:?}");
    }
}
