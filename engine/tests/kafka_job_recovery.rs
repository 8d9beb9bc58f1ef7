//! The streaming job's checkpoints against a real broker: killed with
//! SIGKILL again and again it loses nothing and writes no derived event
//! twice; two instances of one group split the partitions and
//! hand a stopped instance's state over to the other, sharing a checkpoint
//! directory or, each in its own directory, only Kafka and a bucket of a
//! real S3-protocol server; and an instance that stalls past its session
//! (a zombie) cannot overwrite the state of the partitions' new owner.
//! Inputs are seeded (fixed seeds); the oracle is the file run of the same
//! rules over the same events. Skips without a broker (or S3 server).

mod kafka_support;
mod s3_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kafka_support::{Derived, EddyJob, Input, JobTopics};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Bound on joining the consumer group. After a SIGKILL the broker waits
/// for the dead member's session (6 s) before it rebalances.
const JOIN_WAIT: Duration = Duration::from_secs(60);
/// Bound on the job producing every expected derived event.
const OUTPUT_WAIT: Duration = Duration::from_secs(90);
/// The log line of a task built from a checkpoint.
const RESUMED: &str = "resumed from checkpoint";
const STREAMS: &[&str] = &["auth", "payments"];

/// Where the instances of a test keep their checkpoints.
enum Deployment {
    /// One working directory with the checkpoint directory in it, as
    /// instances on one machine (or sharing NFS) would.
    SharedDirectory,
    /// A working directory each and checkpoints in a bucket: nothing
    /// shared but Kafka and the bucket, as on several machines.
    Bucket { endpoint: String, bucket: String },
}

impl Deployment {
    /// A new bucket on the S3-protocol server at `endpoint`.
    fn bucket(endpoint: String, name: &str) -> Self {
        let bucket = s3_support::new_bucket(&endpoint, name);
        Deployment::Bucket { endpoint, bucket }
    }

    /// The working directory of instance `instance` under `root`.
    fn dir(&self, root: &Path, instance: &str) -> PathBuf {
        let dir = match self {
            Deployment::SharedDirectory => root.to_path_buf(),
            Deployment::Bucket { .. } => root.join(instance),
        };
        std::fs::create_dir_all(&dir).expect("make the working directory");
        dir
    }

    /// `checkpoint.dir` for an instance working in `dir`.
    fn checkpoint(&self, dir: &Path) -> String {
        match self {
            Deployment::SharedDirectory => dir.join("checkpoints").display().to_string(),
            Deployment::Bucket { bucket, .. } => format!("s3://{bucket}/eddy"),
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Deployment::SharedDirectory => Vec::new(),
            Deployment::Bucket { endpoint, .. } => s3_support::eddy_env(endpoint),
        }
    }

    /// Writes the instance's files into `dir` and starts it there.
    fn start(
        &self,
        dir: &Path,
        name: &str,
        brokers: &str,
        group: &str,
        topics: &JobTopics,
    ) -> EddyJob {
        let (rules, config) = write_job_files(dir, brokers, group, topics, &self.checkpoint(dir));
        EddyJob::start_with_env(dir, name, &rules, &config, &self.env())
    }
}

/// A scratch directory, topics of `partitions` partitions and a consumer
/// group, all new, for a test named `name`.
async fn fresh_job(
    brokers: &str,
    name: &str,
    partitions: i32,
) -> (tempfile::TempDir, JobTopics, String) {
    let scratch = tempfile::tempdir().expect("temp dir");
    let topics = JobTopics::create(brokers, name, STREAMS, partitions).await;
    (scratch, topics, kafka_support::unique(name))
}

/// Writes the rules and the config of a job of `group` over `topics` into
/// `dir`; returns their paths.
fn write_job_files(
    dir: &Path,
    brokers: &str,
    group: &str,
    topics: &JobTopics,
    checkpoint: &str,
) -> (PathBuf, PathBuf) {
    let rules = dir.join("rules.eddy");
    std::fs::write(&rules, kafka_support::user_keyed_rules()).expect("write rules");
    // Structured mode here; kafka_job.rs covers binary mode.
    let mut config = topics.config(brokers, group, dir, "structured");
    config.checkpoint = checkpoint.to_string();
    let config_path = dir.join("eddy.toml");
    std::fs::write(&config_path, config.toml()).expect("write config");
    (rules, config_path)
}

/// Every derived event in the sink, once each by id, before the cutoff;
/// and how many messages the sink held (duplicates included).
fn sink_events(brokers: &str, topics: &JobTopics) -> (BTreeMap<String, Derived>, usize) {
    let messages = kafka_support::read_all(brokers, &topics.sink, 1);
    let events = kafka_support::dedupe(messages.iter().map(Derived::from_message));
    let events = kafka_support::before(&events, kafka_support::SENTINEL_CUTOFF);
    (events, messages.len())
}

#[tokio::test]
async fn kill_dash_nine_loses_nothing() {
    let brokers = require_broker!();
    let scratch = tempfile::tempdir().expect("temp dir");
    let dir = scratch.path();
    let partitions = 2;
    let topics = JobTopics::create(&brokers, "kill9", STREAMS, partitions).await;
    let (rules, config) = write_job_files(
        dir,
        &brokers,
        &kafka_support::unique("kill9"),
        &topics,
        &dir.join("checkpoints").display().to_string(),
    );

    // Six phases of seeded input, about 3,000 events in all; one SIGKILL
    // while each of the first five is being processed.
    let mut rng = StdRng::seed_from_u64(0x0edd_9009);
    let mut clock = kafka_support::GENERATED_START_MS;
    let phases: Vec<Vec<Input>> = (0..6)
        .map(|_| {
            kafka_support::generated_events(&mut rng, 280, &mut clock)
                .iter()
                .map(|event| Input::generated(event, partitions))
                .collect()
        })
        .collect();
    let sentinels = Input::sentinels(STREAMS, partitions);
    let everything: Vec<Input> = phases.iter().flatten().chain(&sentinels).cloned().collect();
    assert!(everything.len() > 2_000, "{} events", everything.len());
    let oracle = kafka_support::oracle(dir, &rules, STREAMS, &everything);
    assert!(oracle.rejected.is_empty(), "{:?}", oracle.rejected);
    let expected = kafka_support::before(&oracle.events, kafka_support::SENTINEL_CUTOFF);
    let kinds = kafka_support::kinds(&expected);
    for kind in ["eddy.large_payment", "eddy.takeover", "eddy.busy_payer"] {
        assert!(
            kinds.contains(kind),
            "the file run has no {kind}: {kinds:?}"
        );
    }

    let mut stderrs = Vec::new();
    for (number, phase) in phases.iter().enumerate().take(5) {
        let mut job = EddyJob::start(dir, &format!("kill9-run{number}"), &rules, &config);
        job.wait_for_log("assigned", 1, JOIN_WAIT);
        topics.produce(&brokers, dir, phase);
        // A seeded moment while the phase is read, checkpointed and emitted.
        std::thread::sleep(Duration::from_millis(rng.random_range(100..1_500)));
        stderrs.push(job.kill_dash_nine());
    }
    let mut last = EddyJob::start(dir, "kill9-final", &rules, &config);
    last.wait_for_log("assigned", 1, JOIN_WAIT);
    topics.produce(&brokers, dir, &phases[5]);
    topics.produce(&brokers, dir, &sentinels);
    kafka_support::wait_for_events(
        &brokers,
        &topics.sink,
        1,
        &expected,
        &mut [&mut last],
        OUTPUT_WAIT,
    );
    stderrs.push(last.terminate());

    let resumed = stderrs.iter().filter(|s| s.contains(RESUMED)).count();
    let (got, messages) = sink_events(&brokers, &topics);
    eprintln!(
        "kill -9: {resumed} of {} runs resumed from a checkpoint; {messages} messages in the sink, {} distinct before the cutoff, {} expected",
        stderrs.len(),
        got.len(),
        expected.len()
    );
    let logs = stderrs.join("\n---\n");
    assert!(
        resumed >= 1,
        "no run resumed from a checkpoint: the kills tested nothing\n{logs}"
    );
    kafka_support::assert_same_events(&got, &expected, &logs);
    // Before any dedupe: each derived event once in the topic.
    assert_no_duplicates(&brokers, &topics, &logs);
}

/// Two instances share four partitions through a bucket; at a seeded moment
/// of each of five phases a seeded one of them is killed, and started again
/// for the next phase. Nothing is lost and nothing is written twice.
#[tokio::test]
async fn kill_dash_nine_across_two_instances_loses_nothing_and_repeats_nothing() {
    let brokers = require_broker!();
    let endpoint = require_s3!();
    let deployment = Deployment::bucket(endpoint, "eddy-kill9-pair");
    let partitions = 4;
    let (scratch, topics, group) = fresh_job(&brokers, "kill9-pair", partitions).await;
    let dir = scratch.path();

    let mut rng = StdRng::seed_from_u64(0x0edd_9090);
    let mut clock = kafka_support::GENERATED_START_MS;
    let phases: Vec<Vec<Input>> = (0..6)
        .map(|_| {
            kafka_support::generated_events(&mut rng, 200, &mut clock)
                .iter()
                .map(|event| Input::generated(event, partitions))
                .collect()
        })
        .collect();
    let sentinels = Input::sentinels(STREAMS, partitions);
    let everything: Vec<Input> = phases.iter().flatten().chain(&sentinels).cloned().collect();
    let (rules, _) = write_job_files(dir, &brokers, &group, &topics, "unused");
    let oracle = kafka_support::oracle(dir, &rules, STREAMS, &everything);
    let expected = kafka_support::before(&oracle.events, kafka_support::SENTINEL_CUTOFF);

    let start = |name: String| {
        deployment.start(
            &deployment.dir(dir, &name),
            &name,
            &brokers,
            &group,
            &topics,
        )
    };
    let mut pair = [start("pair-a0".into()), start("pair-b0".into())];
    let mut logs = Vec::new();
    for (number, phase) in phases.iter().enumerate() {
        wait_until_covered(&mut pair, &topics.inputs["auth"], partitions);
        topics.produce(&brokers, dir, phase);
        if number == phases.len() - 1 {
            break;
        }
        // A seeded moment while the phase is read, checkpointed and emitted.
        std::thread::sleep(Duration::from_millis(rng.random_range(100..1_500)));
        let victim = rng.random_range(0..2);
        let name = format!("pair-{}{}", ["a", "b"][victim], number + 1);
        let killed = std::mem::replace(&mut pair[victim], start(name));
        logs.push(killed.kill_dash_nine());
    }
    topics.produce(&brokers, dir, &sentinels);
    let [mut a, mut b] = pair;
    kafka_support::wait_for_events(
        &brokers,
        &topics.sink,
        1,
        &expected,
        &mut [&mut a, &mut b],
        OUTPUT_WAIT,
    );
    logs.push(a.terminate());
    logs.push(b.terminate());
    let logs = logs.join("\n---\n");
    assert!(
        logs.contains("derived events after its checkpoint are written already"),
        "no restore found its events written already: the kills tested nothing\n{logs}"
    );
    assert_sink_holds(&brokers, &topics, &expected, &logs);
    assert_no_duplicates(&brokers, &topics, &logs);
}

/// Panics unless the sink holds the `expected` derived events (duplicates
/// dropped), with `logs` in the message.
fn assert_sink_holds(
    brokers: &str,
    topics: &JobTopics,
    expected: &BTreeMap<String, Derived>,
    logs: &str,
) {
    let (got, _) = sink_events(brokers, topics);
    kafka_support::assert_same_events(&got, expected, logs);
}

/// Panics if the sink holds any derived event twice.
fn assert_no_duplicates(brokers: &str, topics: &JobTopics, logs: &str) {
    let all = kafka_support::read_all(brokers, &topics.sink, 1);
    let mut seen = BTreeMap::new();
    for message in &all {
        *seen.entry(Derived::from_message(message).id).or_insert(0) += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} of {} events in the sink more than once: {twice:?}\n{logs}",
        twice.len(),
        seen.len()
    );
}

/// Partition numbers of `stderr`'s most recent `assigned` line.
fn last_assignment(stderr: &str, topic: &str) -> std::collections::BTreeSet<i32> {
    let last = stderr
        .lines()
        .rev()
        .find(|l| l.contains("assigned "))
        .unwrap_or_default();
    kafka_support::assigned_partitions(last, topic)
}

#[tokio::test]
async fn two_instances_split_partitions_and_hand_over_state() {
    let brokers = require_broker!();
    hand_over(&brokers, Deployment::SharedDirectory).await;
}

#[tokio::test]
async fn instances_sharing_only_kafka_and_a_bucket_hand_over_state() {
    let brokers = require_broker!();
    let endpoint = require_s3!();
    hand_over(&brokers, Deployment::bucket(endpoint, "eddy-handover")).await;
}

/// Seeded takeovers whose first halves (failed logins, a login from a new
/// address) go in before an instance stops and whose second halves (the
/// payment) after; every input and the file run's derived events.
struct SplitTakeovers {
    before_stop: Vec<Input>,
    after_stop: Vec<Input>,
    expected: BTreeMap<String, Derived>,
}

impl SplitTakeovers {
    fn new(dir: &Path, brokers: &str, topics: &JobTopics, partitions: i32, users: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(0x0edd_4a4d);
        let mut clock = kafka_support::GENERATED_START_MS;
        let background = kafka_support::generated_events(&mut rng, 120, &mut clock);
        let users: Vec<String> = (0..users).map(|u| format!("g{u:02}")).collect();
        let mut first_half = Vec::new();
        let mut second_half = Vec::new();
        for (n, user) in users.iter().enumerate() {
            for _ in 0..3 {
                clock += 1_000;
                first_half.push(auth_line(
                    user,
                    clock,
                    "login_failed",
                    &format!("203.0.113.{n}"),
                ));
            }
            clock += 1_000;
            first_half.push(auth_line(user, clock, "login_ok", &format!("192.0.2.{n}")));
        }
        for (n, user) in users.iter().enumerate() {
            clock += 1_000;
            let line = format!(
                r#"{{"ts":{clock},"payment_id":"h{n:03}","user_id":"{user}","amount":{}.50,"currency":"EUR"}}"#,
                2_000 + 300 * n
            );
            second_half.push((user.clone(), "payments", line));
        }
        let as_inputs = |events: &[(String, &'static str, String)]| -> Vec<Input> {
            events
                .iter()
                .map(|(user, stream, line)| Input {
                    stream,
                    partition: kafka_support::partition_of(user, partitions),
                    key: Some(user.clone()),
                    line: line.clone(),
                })
                .collect()
        };
        let mut before_stop: Vec<Input> = background
            .iter()
            .map(|event| Input::generated(event, partitions))
            .collect();
        before_stop.extend(as_inputs(&first_half));
        let mut after_stop = as_inputs(&second_half);
        after_stop.extend(Input::sentinels(STREAMS, partitions));
        let everything: Vec<Input> = before_stop.iter().chain(&after_stop).cloned().collect();
        let (rules, _) = write_job_files(dir, brokers, "oracle", topics, "unused");
        let oracle = kafka_support::oracle(dir, &rules, STREAMS, &everything);
        let expected = kafka_support::before(&oracle.events, kafka_support::SENTINEL_CUTOFF);
        let takeovers = expected
            .values()
            .filter(|e| e.kind == "eddy.takeover")
            .count();
        assert!(
            takeovers >= users.len(),
            "{takeovers} takeovers in the file run"
        );
        SplitTakeovers {
            before_stop,
            after_stop,
            expected,
        }
    }

    /// How many auth messages of `partitions` go in before the stop, by
    /// partition: once they are committed, their state is in a checkpoint.
    fn auth_ends_before_stop(&self, partitions: &BTreeSet<i32>) -> BTreeMap<i32, i64> {
        let mut ends = messages_per_partition(&self.before_stop, "auth");
        ends.retain(|partition, _| partitions.contains(partition));
        ends
    }
}

/// Two instances split four partitions; B stops once its share of the
/// takeovers' first halves is checkpointed, and A, given B's partitions,
/// completes them from B's state.
async fn hand_over(brokers: &str, deployment: Deployment) {
    let partitions = 4;
    let (scratch, topics, group) = fresh_job(brokers, "handover", partitions).await;
    let dir = scratch.path();
    let auth_topic = &topics.inputs["auth"];
    let takeovers = SplitTakeovers::new(dir, brokers, &topics, partitions, 24);

    let mut a = deployment.start(
        &deployment.dir(dir, "a"),
        "instance-a",
        brokers,
        &group,
        &topics,
    );
    a.wait_for_log("assigned", 1, JOIN_WAIT);
    let mut b = deployment.start(
        &deployment.dir(dir, "b"),
        "instance-b",
        brokers,
        &group,
        &topics,
    );
    b.wait_for_log("assigned", 1, JOIN_WAIT);
    // A gets its share of the new assignment after B's.
    a.wait_for_log("assigned", 2, JOIN_WAIT);
    let of_a = last_assignment(&a.stderr(), auth_topic);
    let of_b = last_assignment(&b.stderr(), auth_topic);
    assert!(
        !of_b.is_empty() && of_a.is_disjoint(&of_b) && of_a.len() + of_b.len() == 4,
        "not split: A has {of_a:?}, B has {of_b:?}\n--- A ---\n{}\n--- B ---\n{}",
        a.stderr(),
        b.stderr()
    );

    topics.produce(brokers, dir, &takeovers.before_stop);
    // Once B has committed the end of its auth partitions, its checkpoint
    // holds the first halves of its users' takeovers (nothing is emitted
    // for them yet, so the sink cannot tell).
    kafka_support::wait_for_commits(
        brokers,
        &group,
        auth_topic,
        &takeovers.auth_ends_before_stop(&of_b),
        &mut [&mut a, &mut b],
        OUTPUT_WAIT,
    );
    let mark = a.log_mark();
    let b_stderr = b.terminate();
    // B's partitions move to A with the state B checkpointed as it stopped.
    for partition in &of_b {
        a.wait_for_log_since(
            mark,
            &format!("partition {partition}: {RESUMED}"),
            1,
            JOIN_WAIT,
        );
    }

    topics.produce(brokers, dir, &takeovers.after_stop);
    kafka_support::wait_for_events(
        brokers,
        &topics.sink,
        1,
        &takeovers.expected,
        &mut [&mut a],
        OUTPUT_WAIT,
    );
    let a_stderr = a.terminate();
    assert_sink_holds(
        brokers,
        &topics,
        &takeovers.expected,
        &format!("--- A ---\n{a_stderr}\n--- B ---\n{b_stderr}"),
    );
}

/// A stalls (SIGSTOP) past its session with the takeovers' first halves
/// checkpointed; B takes every partition over from A's checkpoints; A wakes
/// up (SIGCONT) still believing it owns them, and is fenced: B's state is
/// intact and completes every takeover.
#[tokio::test]
async fn a_zombie_instance_cannot_overwrite_the_new_owner_s_state() {
    let brokers = require_broker!();
    let endpoint = require_s3!();
    let deployment = Deployment::bucket(endpoint, "eddy-zombie");
    let partitions = 2;
    let (scratch, topics, group) = fresh_job(&brokers, "zombie", partitions).await;
    let dir = scratch.path();
    let auth_topic = &topics.inputs["auth"];
    let takeovers = SplitTakeovers::new(dir, &brokers, &topics, partitions, 12);

    let mut a = deployment.start(
        &deployment.dir(dir, "a"),
        "zombie-a",
        &brokers,
        &group,
        &topics,
    );
    a.wait_for_log("assigned", 1, JOIN_WAIT);
    topics.produce(&brokers, dir, &takeovers.before_stop);
    let all: BTreeSet<i32> = (0..partitions).collect();
    kafka_support::wait_for_commits(
        &brokers,
        &group,
        auth_topic,
        &takeovers.auth_ends_before_stop(&all),
        &mut [&mut a],
        OUTPUT_WAIT,
    );
    a.pause();
    let mut b = deployment.start(
        &deployment.dir(dir, "b"),
        "zombie-b",
        &brokers,
        &group,
        &topics,
    );
    // The group gives B everything once A's session (6 s) has expired.
    for partition in &all {
        b.wait_for_log(&format!("partition {partition}: {RESUMED}"), 1, JOIN_WAIT);
    }
    let mark = b.log_mark();
    a.resume();
    // A's next checkpoint (every 500 ms) meets B's claim: A drops the
    // partitions without writing.
    a.wait_for_log(
        "has taken its checkpoints over",
        partitions as usize,
        JOIN_WAIT,
    );

    topics.produce(&brokers, dir, &takeovers.after_stop);
    kafka_support::wait_for_events(
        &brokers,
        &topics.sink,
        1,
        &takeovers.expected,
        &mut [&mut b],
        OUTPUT_WAIT,
    );
    // B goes on checkpointing after A woke up.
    b.wait_for_log_since(mark, "stored and committed", 1, JOIN_WAIT);
    let a_stderr = a.terminate();
    let b_stderr = b.terminate();
    assert_sink_holds(
        &brokers,
        &topics,
        &takeovers.expected,
        &format!("--- A ---\n{a_stderr}\n--- B ---\n{b_stderr}"),
    );
}

/// Arroyo's restore-at-another-parallelism check, on a bucket: two
/// instances run four partitions and stop, one instance resumes all four
/// and stops, three resume them. The sink holds the file run's derived
/// events, each once.
///
/// Each round stops once its input is checkpointed and committed, with
/// SIGKILL: the test broker (tansu) mishandles members that leave a group
/// gracefully. After the leader leaves, a member that joins is never given
/// an assignment (JoinGroup names the departed leader, SyncGroup answers
/// "rebalance in progress" for good; seen in 6 of 14 runs), while members
/// whose session expires are replaced correctly. Graceful hand-over is
/// covered by the tests above.
#[tokio::test]
async fn state_moves_between_two_one_and_three_instances() {
    let brokers = require_broker!();
    let endpoint = require_s3!();
    let deployment = Deployment::bucket(endpoint, "eddy-rescale");
    let partitions = 4;
    let (scratch, topics, group) = fresh_job(&brokers, "rescale", partitions).await;
    let dir = scratch.path();

    let mut rng = StdRng::seed_from_u64(0x0edd_5ca1);
    let mut clock = kafka_support::GENERATED_START_MS;
    let phases: Vec<Vec<Input>> = (0..3)
        .map(|_| {
            kafka_support::generated_events(&mut rng, 300, &mut clock)
                .iter()
                .map(|event| Input::generated(event, partitions))
                .collect()
        })
        .collect();
    let sentinels = Input::sentinels(STREAMS, partitions);
    let everything: Vec<Input> = phases.iter().flatten().chain(&sentinels).cloned().collect();
    let (rules, _) = write_job_files(dir, &brokers, &group, &topics, "unused");
    let oracle = kafka_support::oracle(dir, &rules, STREAMS, &everything);
    let expected = kafka_support::before(&oracle.events, kafka_support::SENTINEL_CUTOFF);
    assert!(expected.len() > 20, "{} derived events", expected.len());

    let mut produced: Vec<Input> = Vec::new();
    let mut logs = Vec::new();
    for (round, instances) in [2, 1, 3].into_iter().enumerate() {
        let mut jobs: Vec<EddyJob> = (0..instances)
            .map(|n| {
                let name = format!("rescale-{round}-{n}");
                let job = deployment.start(
                    &deployment.dir(dir, &name),
                    &name,
                    &brokers,
                    &group,
                    &topics,
                );
                std::thread::sleep(Duration::from_millis(200));
                job
            })
            .collect();
        // Every partition is running somewhere before the input goes in.
        wait_until_covered(&mut jobs, &topics.inputs["auth"], partitions);
        let phase = &phases[round];
        topics.produce(&brokers, dir, phase);
        produced.extend(phase.iter().cloned());
        let mut running: Vec<&mut EddyJob> = jobs.iter_mut().collect();
        if round < 2 {
            for stream in STREAMS {
                kafka_support::wait_for_commits(
                    &brokers,
                    &group,
                    &topics.inputs[*stream],
                    &messages_per_partition(&produced, stream),
                    &mut running,
                    OUTPUT_WAIT,
                );
            }
        } else {
            topics.produce(&brokers, dir, &sentinels);
            kafka_support::wait_for_events(
                &brokers,
                &topics.sink,
                1,
                &expected,
                &mut running,
                OUTPUT_WAIT,
            );
        }
        logs.extend(jobs.into_iter().map(EddyJob::kill_dash_nine));
    }
    let logs = logs.join("\n---\n");
    assert_sink_holds(&brokers, &topics, &expected, &logs);
    assert_no_duplicates(&brokers, &topics, &logs);
}

/// Waits (bounded) until `jobs` together run every one of `partitions`
/// partitions of `topic` and no rebalance is under way.
fn wait_until_covered(jobs: &mut [EddyJob], topic: &str, partitions: i32) {
    let covered = |jobs: &[EddyJob]| -> BTreeSet<i32> {
        jobs.iter()
            .flat_map(|job| last_assignment(&job.stderr(), topic))
            .collect()
    };
    let started = std::time::Instant::now();
    while covered(jobs).len() < partitions as usize || !settled(jobs) {
        for job in jobs.iter_mut() {
            job.assert_running();
        }
        assert!(
            started.elapsed() < JOIN_WAIT,
            "partitions not all assigned:\n{}",
            jobs.iter()
                .map(|job| job.stderr())
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether every job's last rebalance is over: its newest `assigned` line
/// comes after its newest `revoked` one.
fn settled(jobs: &mut [EddyJob]) -> bool {
    jobs.iter().all(|job| {
        let log = job.stderr();
        log.rfind("assigned ") > log.rfind("revoked ")
    })
}

/// How many messages of `stream` are in each partition of `inputs`.
fn messages_per_partition(inputs: &[Input], stream: &str) -> BTreeMap<i32, i64> {
    let mut counts = BTreeMap::new();
    for input in inputs.iter().filter(|i| i.stream == stream) {
        *counts.entry(input.partition).or_default() += 1;
    }
    counts
}

/// One auth event of `user`: (user, stream, line).
fn auth_line(user: &str, time_ms: i64, kind: &str, ip: &str) -> (String, &'static str, String) {
    let ts = kafka_support::rfc3339_millis(time_ms);
    (
        user.to_string(),
        "auth",
        format!(r#"{{"ts":"{ts}","user_id":"{user}","kind":"{kind}","ip":"{ip}"}}"#),
    )
}
