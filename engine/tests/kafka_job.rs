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
use std::time::Duration;

use kafka_support::{Derived, Input, JobTopics};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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
    /// caller can check the comparison was not vacuous, or `None` without
    /// a broker.
    async fn run(&self) -> Option<BTreeMap<String, Derived>> {
        let brokers = kafka_support::broker()?;
        let scratch = tempfile::tempdir().expect("temp dir");
        let dir = scratch.path();
        let rules = dir.join("rules.eddy");
        std::fs::write(&rules, &self.rules).expect("write rules");

        let mut lines: BTreeMap<&'static str, Vec<String>> = self
            .streams
            .iter()
            .map(|&s| (s, kafka_support::fraud_lines(s)))
            .collect();
        if self.partitions > 1 {
            kafka_support::drop_late_lines(dir, &rules, &mut lines);
        }
        // Lines without a key (broken ones) go to partition 0.
        let mut inputs: Vec<Input> = lines
            .iter()
            .flat_map(|(&stream, stream_lines)| {
                stream_lines.iter().map(move |line| {
                    let key = kafka_support::fraud_key(stream, line);
                    Input {
                        stream,
                        partition: key
                            .as_deref()
                            .map_or(0, |k| kafka_support::partition_of(k, self.partitions)),
                        key,
                        line: line.clone(),
                    }
                })
            })
            .collect();
        inputs.extend(Input::sentinels(self.streams, self.partitions));
        let oracle = kafka_support::oracle(dir, &rules, self.streams, &inputs);
        let expected = kafka_support::before(&oracle.events, kafka_support::SENTINEL_CUTOFF);

        let topics = JobTopics::create(&brokers, self.name, self.streams, self.partitions).await;
        topics.produce(&brokers, dir, &inputs);
        let group = kafka_support::unique(self.name);
        let config = topics.config(&brokers, &group, &dir.join("checkpoints"), "binary");
        let job = kafka_support::start_until_derived(
            dir,
            self.name,
            &rules,
            &config,
            &expected,
            OUTPUT_WAIT,
        );
        let stderr = job.terminate();

        let messages = kafka_support::read_all(&brokers, &topics.sink, 1);
        for message in &messages {
            assert_binary_cloudevent(message);
        }
        let got = kafka_support::dedupe(messages.iter().map(Derived::from_binary));
        let got = kafka_support::before(&got, kafka_support::SENTINEL_CUTOFF);
        kafka_support::assert_same_events(&got, &expected, &format!("eddy's stderr:\n{stderr}"));
        Some(expected)
    }
}

/// The CloudEvents Kafka binding, binary mode: the attributes in `ce_`
/// headers, the data (a JSON object with its evidence) as the value.
fn assert_binary_cloudevent(message: &kafka_support::ReadBack) {
    let h = &message.headers;
    assert_eq!(
        h.get("ce_specversion").map(String::as_str),
        Some("1.0"),
        "{message:?}"
    );
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
    assert!(
        data["evidence"].is_array(),
        "the data carries its evidence: {data}"
    );
    assert!(
        data.get("specversion").is_none(),
        "not a whole CloudEvent: {data}"
    );
}

#[tokio::test]
async fn rules_md_examples_over_kafka_match_the_file_run() {
    let text =
        std::fs::read_to_string(kafka_support::fraud_dir().join("rules.eddy")).expect("rules.eddy");
    let run = FraudOverKafka {
        name: "fraud-1p",
        rules: text,
        streams: &["auth", "payments", "settlements"],
        partitions: 1,
    };
    let Some(expected) = run.run().await else {
        return;
    };
    let kinds = kafka_support::kinds(&expected);
    for kind in [
        "eddy.large_payment",
        "eddy.takeover",
        "eddy.takeover_escalation",
        "eddy.unsettled",
        "eddy.password_spray",
    ] {
        assert!(
            kinds.contains(kind),
            "the file run has no {kind}: {kinds:?}"
        );
    }
}

#[tokio::test]
async fn rules_md_examples_over_three_partitions_match_the_file_run() {
    let run = FraudOverKafka {
        name: "fraud-3p",
        rules: kafka_support::user_keyed_rules(),
        streams: &["auth", "payments"],
        partitions: 3,
    };
    let Some(expected) = run.run().await else {
        return;
    };
    let kinds = kafka_support::kinds(&expected);
    for kind in ["eddy.large_payment", "eddy.takeover", "eddy.busy_payer"] {
        assert!(
            kinds.contains(kind),
            "the file run has no {kind}: {kinds:?}"
        );
    }
}

/// Where a broker is required (CI), a missing one fails the Kafka tests
/// instead of letting them pass as skipped.
#[test]
#[should_panic(expected = "requires one")]
fn a_missing_broker_fails_the_kafka_tests_where_one_is_required() {
    // Port 1 on loopback: nothing listens there.
    kafka_support::broker_at("127.0.0.1:1", true);
}

#[test]
fn a_missing_broker_skips_the_kafka_tests_where_none_is_required() {
    assert_eq!(kafka_support::broker_at("127.0.0.1:1", false), None);
}

/// A rule grouping a two-partition topic by a field its messages are not
/// keyed by (spray: by ip, the topic keyed by user) would see only part of
/// each address's events in a partition: eddy re-keys the stream through
/// an internal topic of as many partitions, `<group>-repartition-auth-ip`,
/// and derives what the file run derives.
#[tokio::test]
async fn a_program_grouping_by_another_field_is_repartitioned() {
    let brokers = require_broker!();
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = scratch.path();
    let partitions = 2;
    let rules = dir.join("rules.eddy");
    std::fs::write(
        &rules,
        "stream auth ( ts timestamp, user_id string, ip string ) time ts\n\
         rule spray from auth by ip window 1m emit spray { ip, n: count() }\n",
    )
    .expect("write rules");
    let mut inputs = logins_from_shared_addresses(partitions);
    inputs.extend(Input::sentinels(&["auth"], partitions));
    let oracle = kafka_support::oracle(dir, &rules, &["auth"], &inputs);
    assert!(oracle.rejected.is_empty(), "{:?}", oracle.rejected);
    let expected = kafka_support::before(&oracle.events, kafka_support::SENTINEL_CUTOFF);
    assert!(expected.len() > 20, "{} derived events", expected.len());
    // Not vacuous: each partition alone counts only its own users' logins.
    let per_partition: BTreeMap<String, Derived> = (0..partitions)
        .flat_map(|partition| {
            let own: Vec<Input> = inputs
                .iter()
                .filter(|input| input.partition == partition)
                .cloned()
                .collect();
            kafka_support::oracle(dir, &rules, &["auth"], &own).events
        })
        .collect();
    assert_ne!(
        kafka_support::before(&per_partition, kafka_support::SENTINEL_CUTOFF),
        expected,
        "the partitions alone derive what the whole stream does: the test needs no repartitioning"
    );

    let topics = JobTopics::create(&brokers, "spray-by-ip", &["auth"], partitions).await;
    topics.produce(&brokers, dir, &inputs);
    let group = kafka_support::unique("spray-by-ip");
    let config = topics.config(&brokers, &group, &dir.join("cp"), "structured");
    // True of these messages, and not the field the rule groups by.
    assert_eq!(config.streams[0].2.as_deref(), Some("user_id"));
    let job = kafka_support::start_until_derived(
        dir,
        "spray-by-ip",
        &rules,
        &config,
        &expected,
        OUTPUT_WAIT,
    );
    let stderr = job.terminate();

    let messages = kafka_support::read_all(&brokers, &topics.sink, 1);
    let got = kafka_support::dedupe(messages.iter().map(Derived::from_message));
    let got = kafka_support::before(&got, kafka_support::SENTINEL_CUTOFF);
    kafka_support::assert_same_events(&got, &expected, &format!("eddy's stderr:\n{stderr}"));
    let repartition = kafka_support::repartition_topic(&group, "auth", "ip");
    assert_eq!(
        kafka_support::topic_partitions(&brokers, &repartition),
        Some(partitions as usize),
        "`{repartition}` with {partitions} partitions\n{stderr}"
    );
}

/// Seeded logins of 16 users from 4 shared addresses, one every 3 s for
/// 10 minutes, each in the partition of its user: most minutes of an
/// address hold logins of users of both partitions.
fn logins_from_shared_addresses(partitions: i32) -> Vec<Input> {
    let mut rng = StdRng::seed_from_u64(0x0edd_5b1a);
    (0..200)
        .map(|n: i64| {
            let user = format!("u{:02}", rng.random_range(0..16));
            let ip = format!("203.0.113.{}", rng.random_range(1..=4));
            let ts = kafka_support::rfc3339_millis(kafka_support::GENERATED_START_MS + n * 3_000);
            Input {
                stream: "auth",
                partition: kafka_support::partition_of(&user, partitions),
                key: Some(user.clone()),
                line: format!(r#"{{"ts":"{ts}","user_id":"{user}","ip":"{ip}"}}"#),
            }
        })
        .collect()
}
