//! `eddy run --config`, the streaming job, re-keys by itself what its
//! topics' partitions do not split: whole example packs (rules grouping one
//! stream by several fields, patterns across streams, chained rules) over
//! topics whose messages carry random keys give the derived events of the
//! file run, on one to four partitions and on two or three instances.
//!
//! The messages' keys come from a seeded generator and each message goes
//! to the partition of its key, so a partition holds a random share of
//! every user, address and payment; no `key_field` names a field the rules
//! group by, so every grouped stream goes through eddy's internal
//! `<group>-repartition-<stream>-<key path>` topics. Inputs are produced
//! and the sink read back by Python's confluent-kafka. Skips without a
//! broker (and, for several instances, without an S3-protocol server).
//!
//! As in kafka_job.rs, every partition of every input topic ends with
//! sentinel events past the pack's longest `within`, and only derived
//! events before the pack's cutoff are compared.

mod kafka_support;
mod s3_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kafka_support::{Derived, EddyJob, Input, JobTopics, Pack};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Bound on the job producing every expected derived event: each grouped
/// event makes one more trip through the broker than in kafka_job.rs.
const OUTPUT_WAIT: Duration = Duration::from_secs(120);
/// Bound on the instances of a test joining the group and sharing out the
/// partitions.
const JOIN_WAIT: Duration = Duration::from_secs(60);

/// Fields rules of each pack group an input stream by, read straight from
/// the stream: eddy needs a repartition topic for each, as no topic is
/// keyed by any of them.
fn grouped_by(pack: Pack) -> &'static [(&'static str, &'static str)] {
    match pack {
        // account_takeover by user_id (auth, payments); password_spray by
        // ip; unsettled_payment by payment_id (payments, settlements).
        Pack::Fraud => &[
            ("auth", "user_id"),
            ("auth", "ip"),
            ("payments", "user_id"),
            ("payments", "payment_id"),
            ("settlements", "payment_id"),
        ],
        // brute_force, impossible_travel, new_country_login by user_id;
        // password_spray by ip. Not privileges: its one rule also reads
        // derived events, which eddy may bring together in other ways.
        Pack::Security => &[("logins", "user_id"), ("logins", "ip")],
    }
}

/// The `key_field` a test's config declares for `stream`: none, or one no
/// rule groups by, which calls for re-keying just the same.
fn declared_key_field(pack: Pack, stream: &str) -> Option<String> {
    match (pack, stream) {
        (Pack::Security, "privileges") => Some("actor".into()),
        _ => None,
    }
}

/// A pack's data over `partitions` partitions with random keys, the
/// sentinels that end every partition, and the file run of the pack over
/// the same lines (the oracle).
struct RandomlyKeyed {
    /// The data (stream by stream, in file order), then the sentinels.
    inputs: Vec<Input>,
    oracle: kafka_support::FileRun,
    /// The oracle's derived events before the pack's cutoff.
    expected: BTreeMap<String, Derived>,
}

impl RandomlyKeyed {
    /// Files and scratch in `dir`; keys drawn from `seed`.
    fn new(dir: &Path, pack: Pack, partitions: i32, seed: u64) -> Self {
        let rules = pack.rules();
        let mut lines: BTreeMap<&'static str, Vec<String>> = pack
            .streams()
            .iter()
            .map(|&stream| (stream, pack.lines(stream)))
            .collect();
        if partitions > 1 {
            kafka_support::drop_late_lines(dir, &rules, &mut lines);
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut inputs = Vec::new();
        for (&stream, stream_lines) in &lines {
            for line in stream_lines {
                // A key of its own for every message, broken lines
                // included: it tells nothing about the event.
                let key = format!("k{:016x}", rng.random::<u64>());
                inputs.push(Input {
                    stream,
                    partition: kafka_support::partition_of(&key, partitions),
                    key: Some(key),
                    line: line.clone(),
                });
            }
        }
        let spread: BTreeSet<i32> = inputs.iter().map(|input| input.partition).collect();
        assert_eq!(
            spread.len(),
            partitions as usize,
            "some partition got none of the data"
        );
        inputs.extend(Input::pack_sentinels(pack, partitions));
        let oracle = kafka_support::oracle(dir, &rules, pack.streams(), &inputs);
        let expected = kafka_support::before(&oracle.events, pack.sentinel_cutoff());
        RandomlyKeyed {
            inputs,
            oracle,
            expected,
        }
    }
}

/// Writes the config of one instance of `group` over `topics` into `dir`,
/// its checkpoints in `checkpoint` (a path or a URL); returns its path.
fn write_config(
    dir: &Path,
    brokers: &str,
    group: &str,
    topics: &JobTopics,
    pack: Pack,
    checkpoint: &str,
) -> PathBuf {
    // Structured mode here; kafka_job.rs covers binary mode.
    let mut config = topics.config(brokers, group, dir, "structured");
    config.checkpoint = checkpoint.to_string();
    for (stream, _, key_field) in &mut config.streams {
        *key_field = declared_key_field(pack, stream);
    }
    let path = dir.join("eddy.toml");
    std::fs::write(&path, config.toml()).expect("write config");
    path
}

/// Runs `pack` with random keys (from `seed`) over `partitions` partitions
/// on one instance and compares its sink with the file run. Skips without
/// a broker.
async fn run_on_one_instance(name: &str, pack: Pack, partitions: i32, seed: u64) {
    let brokers = require_broker!();
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = scratch.path();
    let input = RandomlyKeyed::new(dir, pack, partitions, seed);
    assert_oracle_covers_the_pack(name, pack, &input);
    let topics = JobTopics::create(&brokers, name, pack.streams(), partitions).await;
    topics.produce(&brokers, dir, &input.inputs);
    let group = kafka_support::unique(name);
    let checkpoints = dir.join("checkpoints").display().to_string();
    let config = write_config(dir, &brokers, &group, &topics, pack, &checkpoints);
    let mut job = EddyJob::start(dir, name, &pack.rules(), &config);
    kafka_support::wait_for_events(
        &brokers,
        &topics.sink,
        1,
        &input.expected,
        &mut [&mut job],
        OUTPUT_WAIT,
    );
    let stderr = job.terminate();
    assert_sink_holds_once(&brokers, &topics, pack, &input.expected, &stderr);
    if partitions > 1 {
        assert_repartition_topics(&brokers, &group, pack, partitions, &stderr);
    }
}

/// Panics unless the sink holds the `expected` derived events (before the
/// pack's cutoff), each exactly once, with `logs` in the message.
fn assert_sink_holds_once(
    brokers: &str,
    topics: &JobTopics,
    pack: Pack,
    expected: &BTreeMap<String, Derived>,
    logs: &str,
) {
    let messages = kafka_support::read_all(brokers, &topics.sink, 1);
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for message in &messages {
        *copies.entry(Derived::from_message(message).id).or_default() += 1;
    }
    let got = kafka_support::dedupe(messages.iter().map(Derived::from_message));
    let got = kafka_support::before(&got, pack.sentinel_cutoff());
    kafka_support::assert_same_events(&got, expected, logs);
    // Before any dedupe: each derived event once in the topic.
    let twice: Vec<(&String, &usize)> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} of {} derived events in the sink more than once: {:?}\n{logs}",
        twice.len(),
        copies.len(),
        &twice[..twice.len().min(5)]
    );
}

/// Panics unless eddy created a repartition topic of `partitions`
/// partitions for each stream and field the pack's rules group by.
fn assert_repartition_topics(brokers: &str, group: &str, pack: Pack, partitions: i32, logs: &str) {
    for &(stream, key_path) in grouped_by(pack) {
        let topic = kafka_support::repartition_topic(group, stream, key_path);
        assert_eq!(
            kafka_support::topic_partitions(brokers, &topic),
            Some(partitions as usize),
            "no repartition topic `{topic}` of {partitions} partitions\n{logs}"
        );
    }
}

/// Every rule of the fraud pack derives something from its data.
const FRAUD_KINDS: &[&str] = &[
    "eddy.large_payment",
    "eddy.takeover",
    "eddy.takeover_escalation",
    "eddy.unsettled",
    "eddy.password_spray",
];

/// Every rule of the security pack derives something from its data.
const SECURITY_KINDS: &[&str] = &[
    "eddy.brute_force",
    "eddy.password_spray",
    "eddy.impossible_travel",
    "eddy.new_country_login",
    "eddy.privilege_escalation",
];

/// Panics unless the comparison of run `name` covers every rule of `pack`:
/// each derives something before the cutoff in the file run. For the
/// security pack also: the sentinels derived nothing and closed every match
/// (all the file run's events are before the cutoff), and the nested
/// device.os is in the output.
fn assert_oracle_covers_the_pack(name: &str, pack: Pack, run: &RandomlyKeyed) {
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for event in run.expected.values() {
        *by_kind.entry(&event.kind).or_default() += 1;
    }
    eprintln!(
        "{name}: {} inputs, {} derived events expected {by_kind:?}",
        run.inputs.len(),
        run.expected.len()
    );
    let kinds = match pack {
        Pack::Fraud => FRAUD_KINDS,
        Pack::Security => SECURITY_KINDS,
    };
    for kind in kinds {
        assert!(
            by_kind.contains_key(kind),
            "the file run has no {kind}: {by_kind:?}"
        );
    }
    if pack == Pack::Security {
        assert_eq!(
            run.expected.len(),
            run.oracle.events.len(),
            "file-run events at or after the cutoff {}: the sentinels derived something",
            kafka_support::SECURITY_SENTINEL_CUTOFF
        );
        assert!(
            run.expected
                .values()
                .any(|e| e.kind == "eddy.new_country_login" && e.data.contains(r#""os":"#)),
            "no new_country_login with its device.os: {:#?}",
            run.expected
        );
    }
}

/// One partition needs no re-keying: the baseline of the tests below.
#[tokio::test]
async fn the_fraud_pack_with_random_keys_on_one_partition_matches_the_file_run() {
    run_on_one_instance("rekey-fraud-1p", Pack::Fraud, 1, 0x0edd_7e01).await;
}

#[tokio::test]
async fn the_fraud_pack_with_random_keys_on_three_partitions_matches_the_file_run() {
    run_on_one_instance("rekey-fraud-3p", Pack::Fraud, 3, 0x0edd_7e03).await;
}

#[tokio::test]
async fn the_fraud_pack_with_random_keys_on_four_partitions_matches_the_file_run() {
    run_on_one_instance("rekey-fraud-4p", Pack::Fraud, 4, 0x0edd_7e04).await;
}

/// One partition needs no re-keying: the baseline of the test below.
#[tokio::test]
async fn the_security_pack_with_random_keys_on_one_partition_matches_the_file_run() {
    run_on_one_instance("rekey-security-1p", Pack::Security, 1, 0x0edd_5e01).await;
}

#[tokio::test]
async fn the_security_pack_with_random_keys_on_four_partitions_matches_the_file_run() {
    run_on_one_instance("rekey-security-4p", Pack::Security, 4, 0x0edd_5e04).await;
}

/// Logins grouped by user and by address, privileges by user, a pattern
/// over derived events (privilege_escalation after new_country_login), and
/// a nested field (device.os) that must survive the re-keying.
#[tokio::test]
async fn the_security_pack_with_random_keys_on_three_partitions_matches_the_file_run() {
    run_on_one_instance("rekey-security-3p", Pack::Security, 3, 0x0edd_5e03).await;
}

/// The security sentinels come late enough: the cutoff is their time less
/// the pack's lateness (10s) and longest `within` (7d), and every event of
/// the data is before it, so each of its matches is over by the sentinels.
#[test]
fn the_security_sentinels_close_every_match_of_the_data() {
    let sentinel: i64 = 1_767_960_000_000;
    assert_eq!(
        format!("{}Z", &kafka_support::rfc3339_millis(sentinel)[..19]),
        kafka_support::SECURITY_SENTINEL_TIME
    );
    let lateness = 10_000;
    let longest_within = 7 * 86_400_000;
    assert_eq!(
        kafka_support::rfc3339_millis(sentinel - lateness - longest_within),
        kafka_support::SECURITY_SENTINEL_CUTOFF
    );
    let rules = std::fs::read_to_string(Pack::Security.rules()).expect("rules.eddy");
    assert_eq!(rules.matches("lateness 10s").count(), 2, "{rules}");
    assert!(rules.contains("within 7d"), "{rules}");
    let mut checked = 0;
    for &stream in Pack::Security.streams() {
        for line in Pack::Security.lines(stream) {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let Some(ts) = event["ts"].as_str() else {
                continue;
            };
            // RFC 3339 UTC times of one shape up to the seconds order as text.
            assert!(
                ts < kafka_support::SECURITY_SENTINEL_CUTOFF,
                "{stream}: {ts} is not before the cutoff"
            );
            checked += 1;
        }
    }
    assert!(checked > 1_800, "{checked} event times checked");
}

// ---------------------------------------------------------------------------
// Several instances: each in a directory of its own, checkpoints in a
// bucket, nothing shared but Kafka and the bucket.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn two_instances_repartition_the_fraud_pack_without_losing_or_repeating_events() {
    run_on_instances("rekey-pair", Pack::Fraud, 2, 0x0edd_7e22).await;
}

#[tokio::test]
async fn three_instances_repartition_the_fraud_pack_without_losing_or_repeating_events() {
    run_on_instances("rekey-trio", Pack::Fraud, 3, 0x0edd_7e33).await;
}

/// The security pack's chain (new_country_login, then privilege_escalation
/// over its derived events) runs on one task of one instance, fed by the
/// input partitions of both.
#[tokio::test]
async fn two_instances_repartition_the_security_pack_without_losing_or_repeating_events() {
    run_on_instances("rekey-sec-pair", Pack::Security, 2, 0x0edd_5e22).await;
}

/// `instances` instances of one group run `pack` over four randomly keyed
/// partitions: each gets a share of every input topic, so an event is
/// often re-keyed to a partition another instance runs. The sink holds the
/// file run's derived events, each once.
async fn run_on_instances(name: &str, pack: Pack, instances: usize, seed: u64) {
    let brokers = require_broker!();
    let endpoint = require_s3!();
    let bucket = s3_support::new_bucket(&endpoint, name);
    let partitions = 4;
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = scratch.path();
    let input = RandomlyKeyed::new(dir, pack, partitions, seed);
    assert_oracle_covers_the_pack(name, pack, &input);
    let topics = JobTopics::create(&brokers, name, pack.streams(), partitions).await;
    let group = kafka_support::unique(name);

    let mut jobs: Vec<EddyJob> = (0..instances)
        .map(|n| {
            let instance = format!("{name}-{n}");
            let home = dir.join(&instance);
            std::fs::create_dir_all(&home).expect("make the working directory");
            let checkpoint = format!("s3://{bucket}/eddy");
            let config = write_config(&home, &brokers, &group, &topics, pack, &checkpoint);
            let job = EddyJob::start_with_env(
                &home,
                &instance,
                &pack.rules(),
                &config,
                &s3_support::eddy_env(&endpoint),
            );
            // One at a time into the group: the test broker copes better.
            std::thread::sleep(Duration::from_millis(200));
            job
        })
        .collect();
    let first_input = &topics.inputs[pack.streams()[0]];
    kafka_support::wait_until_shared(&mut jobs, first_input, partitions, JOIN_WAIT);
    topics.produce(&brokers, dir, &input.inputs);
    let mut running: Vec<&mut EddyJob> = jobs.iter_mut().collect();
    kafka_support::wait_for_events(
        &brokers,
        &topics.sink,
        1,
        &input.expected,
        &mut running,
        OUTPUT_WAIT,
    );
    // The first to join likely leads the group; it leaves last (see
    // kafka_job_recovery.rs on the test broker and departing leaders).
    let logs: Vec<String> = jobs.into_iter().rev().map(EddyJob::terminate).collect();
    let logs = logs.join("\n---\n");
    assert_sink_holds_once(&brokers, &topics, pack, &input.expected, &logs);
    assert_repartition_topics(&brokers, &group, pack, partitions, &logs);
}
