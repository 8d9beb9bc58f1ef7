//! Shared by the Kafka integration tests: find the broker (or skip), make
//! unique topics, and run Python's confluent-kafka as an independent client.
//!
//! The tests run against a real Kafka-protocol broker: `EDDY_KAFKA_BROKERS`,
//! or 127.0.0.1:9092 (`.ci/broker.sh` starts one). Without either they print
//! `skipped: no broker at 127.0.0.1:9092` and pass, so `cargo test` works on
//! a machine without a broker; under CI (`CI=true`) or with
//! `EDDY_REQUIRE_KAFKA=1` they fail instead, so a broker that did not start
//! cannot turn the Kafka tests green. `.ci/run` starts one.

#![allow(dead_code)] // each test file uses a different part

// Each support is self-contained, so a test file using both loads this twice.
#[allow(clippy::duplicate_mod)]
#[path = "../ci_support/mod.rs"]
mod ci_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::config::KafkaConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;

pub const DEFAULT_BROKER: &str = "127.0.0.1:9092";
/// Bound on every wait for the broker or for Python.
pub const WAIT: Duration = Duration::from_secs(60);

/// The brokers to test against, or `None` (after printing why) to skip.
/// Panics instead of skipping where a broker is required (see
/// [`broker_required`]).
pub fn broker() -> Option<String> {
    if let Ok(brokers) = std::env::var("EDDY_KAFKA_BROKERS") {
        if !brokers.trim().is_empty() {
            return Some(brokers);
        }
    }
    broker_at(DEFAULT_BROKER, broker_required())
}

/// `address` if a broker answers there; else `None`, or a panic when
/// `required`.
pub fn broker_at(address: &str, required: bool) -> Option<String> {
    let answers = address
        .parse::<SocketAddr>()
        .is_ok_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok());
    if answers {
        return Some(address.to_string());
    }
    assert!(
        !required,
        "no broker at {address}, and CI or EDDY_REQUIRE_KAFKA requires one \
         (start one with .ci/broker.sh, or set EDDY_KAFKA_BROKERS)"
    );
    eprintln!(
        "skipped: no broker at {address} (start one with .ci/broker.sh, or set EDDY_KAFKA_BROKERS)"
    );
    None
}

/// Whether a missing broker fails the tests: under CI (`CI=true`, as CI
/// services set it) or when `EDDY_REQUIRE_KAFKA=1`.
pub fn broker_required() -> bool {
    ci_support::server_required("EDDY_REQUIRE_KAFKA")
}

/// Returns from the test when there is no broker.
#[macro_export]
macro_rules! require_broker {
    () => {
        match kafka_support::broker() {
            Some(brokers) => brokers,
            None => return,
        }
    };
}

/// A topic name no other test run uses.
pub fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("eddy-test-{name}-{}-{nanos}", std::process::id())
}

/// The `[kafka]` config of a test: short group timeouts, so joining a
/// group takes seconds rather than the default ~25 s.
pub fn kafka_config(brokers: &str, group: &str) -> KafkaConfig {
    let mut kafka = KafkaConfig {
        brokers: brokers.to_string(),
        group_id: group.to_string(),
        ..KafkaConfig::default()
    };
    kafka
        .client
        .insert("session.timeout.ms".into(), "6000".into());
    kafka
        .client
        .insert("max.poll.interval.ms".into(), "10000".into());
    kafka
}

pub async fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create topic");
    for result in results {
        result.expect("topic created");
    }
}

/// Runs a Python script with confluent-kafka, bounded by [`WAIT`]; returns
/// its stdout. Panics with its stderr when it fails.
pub fn python(script: &str, args: &[&str]) -> String {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    // Drained while it runs: a full pipe would block it forever.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for python3") {
            break status;
        }
        if started.elapsed() > WAIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("python3 did not finish within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = stdout.join().expect("python3 stdout");
    let stderr = stderr.join().expect("python3 stderr");
    assert!(
        status.success(),
        "python3 failed ({status}); is confluent-kafka installed (.ci/broker.sh installs it)?\n{stderr}"
    );
    stdout
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// Reads `count` messages from partitions `0..partitions` of `topic` from
/// the beginning with confluent-kafka (no group), as JSON:
/// `[{"partition","offset","key","value_hex","headers":{name: text}}]`.
pub const PY_READ: &str = r#"
import json, sys, time
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
brokers, topic, partitions, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
consumer = Consumer({"bootstrap.servers": brokers, "group.id": "eddy-test-reader",
                     "enable.auto.commit": False})
consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
out, deadline = [], time.time() + 30
while len(out) < count and time.time() < deadline:
    m = consumer.poll(0.5)
    if m is None:
        continue
    if m.error():
        print(m.error(), file=sys.stderr)
        continue
    out.append({"partition": m.partition(), "offset": m.offset(),
                "key": None if m.key() is None else m.key().decode("utf-8", "replace"),
                "value_hex": (m.value() or b"").hex(),
                "headers": {k: (v or b"").decode("utf-8", "replace") for k, v in (m.headers() or [])}})
consumer.close()
print(json.dumps(out))
"#;

/// Produces messages with confluent-kafka: argv[3] is a JSON list of
/// `{"partition", "key", "value"}`; prints how many were delivered.
pub const PY_PRODUCE: &str = r#"
import json, sys
from confluent_kafka import Producer
brokers, topic, messages = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
producer = Producer({"bootstrap.servers": brokers})
delivered = []
def report(err, msg):
    if err is not None:
        print(err, file=sys.stderr)
    else:
        delivered.append(msg.offset())
for m in messages:
    producer.produce(topic, key=m["key"], value=m["value"], partition=m["partition"], on_delivery=report)
producer.flush(20)
print(len(delivered))
"#;

/// One message as [`PY_READ`] returns it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ReadBack {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value_hex: String,
    pub headers: std::collections::BTreeMap<String, String>,
}

impl ReadBack {
    pub fn value(&self) -> Vec<u8> {
        (0..self.value_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&self.value_hex[i..i + 2], 16).expect("hex"))
            .collect()
    }
}

pub fn read_back(brokers: &str, topic: &str, partitions: i32, count: usize) -> Vec<ReadBack> {
    let out = python(
        PY_READ,
        &[brokers, topic, &partitions.to_string(), &count.to_string()],
    );
    serde_json::from_str(out.trim()).expect("python's JSON")
}

// ---------------------------------------------------------------------------
// The streaming job (`eddy run --config`): produce inputs, run eddy as a
// child process, read its outputs back, and compare with the file run.
// ---------------------------------------------------------------------------

/// How often the bounded waits below look again.
pub const POLL: Duration = Duration::from_millis(250);

/// One message to produce: to `partition` of `topic`, with `value` as is
/// (any bytes that are valid UTF-8; broken JSON included on purpose).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outgoing {
    pub topic: String,
    pub partition: i32,
    pub key: Option<String>,
    pub value: String,
}

/// Produces the JSON lines of file argv[2] (one [`Outgoing`] each) with
/// confluent-kafka, in file order, and prints how many were delivered.
/// `message.max.bytes` is raised so the oversize tests can send 10 MB.
/// A file rather than argv: argv strings are limited to 128 KiB each.
pub const PY_PRODUCE_FILE: &str = r#"
import json, sys
from confluent_kafka import Producer
brokers, path = sys.argv[1], sys.argv[2]
producer = Producer({"bootstrap.servers": brokers, "message.max.bytes": 20000000,
                     "enable.idempotence": True})
delivered, failed = [0], []
def report(err, msg):
    if err is not None:
        failed.append(str(err))
    else:
        delivered[0] += 1
with open(path, encoding="utf-8") as lines:
    for line in lines:
        m = json.loads(line)
        while True:
            try:
                producer.produce(m["topic"], key=m["key"], value=m["value"].encode("utf-8"),
                                 partition=m["partition"], on_delivery=report)
                break
            except BufferError:
                producer.poll(0.1)
producer.flush(30)
if failed:
    print(failed[:5], file=sys.stderr)
print(delivered[0])
"#;

/// Produces `messages` in order (order is kept within a partition) and
/// asserts that every one was delivered. `scratch` holds the hand-over file.
pub fn produce(brokers: &str, scratch: &Path, messages: &[Outgoing]) {
    let path = scratch.join(format!("produce-{}.jsonl", unique("batch")));
    let mut text = String::new();
    for message in messages {
        text.push_str(&serde_json::to_string(message).expect("JSON of a message"));
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write the messages to produce");
    let delivered = python(
        PY_PRODUCE_FILE,
        &[brokers, path.to_str().expect("UTF-8 path")],
    );
    assert_eq!(
        delivered.trim(),
        messages.len().to_string(),
        "every message delivered"
    );
    let _ = std::fs::remove_file(path);
}

/// Reads every message of partitions `0..argv[3]` of topic argv[2]: until
/// nothing new came for 2 s (bounded: 30 s in all), in the shape of
/// [`PY_READ`]. Not up to the high watermark: the test broker (tansu)
/// reports one that lags what it holds (seen: 20 of 58 messages).
pub const PY_READ_ALL: &str = r#"
import json, sys, time
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
brokers, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
consumer = Consumer({"bootstrap.servers": brokers, "group.id": "eddy-test-reader",
                     "enable.auto.commit": False, "fetch.max.bytes": 100000000,
                     "max.partition.fetch.bytes": 100000000})
consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
out, deadline, last_new = [], time.time() + 30, time.time()
while time.time() < deadline and time.time() - last_new < 2:
    m = consumer.poll(0.2)
    if m is None:
        continue
    if m.error():
        print(m.error(), file=sys.stderr)
        continue
    last_new = time.time()
    out.append({"partition": m.partition(), "offset": m.offset(),
                "key": None if m.key() is None else m.key().decode("utf-8", "replace"),
                "value_hex": (m.value() or b"").hex(),
                "headers": {k: (v or b"").decode("utf-8", "replace") for k, v in (m.headers() or [])}})
consumer.close()
print(json.dumps(out))
"#;

/// Every message in `topic` now, read by confluent-kafka.
pub fn read_all(brokers: &str, topic: &str, partitions: i32) -> Vec<ReadBack> {
    let out = python(PY_READ_ALL, &[brokers, topic, &partitions.to_string()]);
    serde_json::from_str(out.trim()).expect("python's JSON")
}

/// A derived event as compared between runs: everything but the evidence,
/// whose offsets are line numbers in a file run and record numbers on Kafka.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Derived {
    pub id: String,
    pub kind: String,
    pub time: String,
    pub subject: Option<String>,
    /// `data` without `evidence`, as canonical JSON text.
    pub data: String,
}

impl Derived {
    /// From a CloudEvent in JSON (a file run's line, or a structured-mode
    /// Kafka value).
    pub fn from_cloudevent(event: &serde_json::Value) -> Derived {
        let text = |name: &str| event[name].as_str().map(str::to_string);
        Derived {
            id: text("id").expect("a CloudEvent has an id"),
            kind: text("type").expect("a CloudEvent has a type"),
            time: text("time").expect("a derived event has a time"),
            subject: text("subject"),
            data: without_evidence(&event["data"]),
        }
    }

    /// From a binary-mode Kafka message: attributes in `ce_` headers, the
    /// data as the value.
    pub fn from_binary(message: &ReadBack) -> Derived {
        let header = |name: &str| message.headers.get(name).cloned();
        let data: serde_json::Value =
            serde_json::from_slice(&message.value()).expect("binary mode: the value is JSON data");
        Derived {
            id: header("ce_id").expect("ce_id header"),
            kind: header("ce_type").expect("ce_type header"),
            time: header("ce_time").expect("ce_time header"),
            subject: header("ce_subject"),
            data: without_evidence(&data),
        }
    }

    /// From a message of a sink topic in either mode.
    pub fn from_message(message: &ReadBack) -> Derived {
        if message.headers.contains_key("ce_id") {
            Derived::from_binary(message)
        } else {
            let event: serde_json::Value = serde_json::from_slice(&message.value())
                .expect("structured mode: the value is a CloudEvent");
            Derived::from_cloudevent(&event)
        }
    }
}

fn without_evidence(data: &serde_json::Value) -> String {
    let mut data = data.clone();
    if let Some(fields) = data.as_object_mut() {
        fields.remove("evidence");
    }
    // serde_json's maps are sorted, so equal data gives equal text.
    data.to_string()
}

/// The derived events of a run, once each, by id. Panics if one id comes
/// with two different events: a replay must reproduce events exactly.
pub fn dedupe(events: impl IntoIterator<Item = Derived>) -> BTreeMap<String, Derived> {
    let mut by_id: BTreeMap<String, Derived> = BTreeMap::new();
    for event in events {
        if let Some(seen) = by_id.get(&event.id) {
            assert_eq!(seen, &event, "one id, two different derived events");
        } else {
            by_id.insert(event.id.clone(), event);
        }
    }
    by_id
}

/// Keeps the events a streaming job must have emitted by now: those before
/// `cutoff` (an RFC 3339 UTC time in eddy's millisecond format, which
/// orders as text).
pub fn before(events: &BTreeMap<String, Derived>, cutoff: &str) -> BTreeMap<String, Derived> {
    events
        .iter()
        .filter(|(_, e)| e.time.as_str() < cutoff)
        .map(|(id, e)| (id.clone(), e.clone()))
        .collect()
}

/// `millis` since the epoch in eddy's CloudEvent time format.
pub fn rfc3339_millis(millis: i64) -> String {
    let days = millis.div_euclid(86_400_000);
    let ms_of_day = millis.rem_euclid(86_400_000);
    // Civil-from-days (Howard Hinnant's algorithm), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    )
}

/// What a file run of the same rules over the same input gives: the oracle.
pub struct FileRun {
    pub events: BTreeMap<String, Derived>,
    /// The file run's dead-letter records (`line`, `reason`, `stream`, ...).
    pub rejected: Vec<serde_json::Value>,
}

/// Runs `eddy run RULES --input STREAM=PATH ... --output` in `dir`.
pub fn file_run(dir: &Path, rules: &Path, inputs: &[(&str, PathBuf)]) -> FileRun {
    let output = dir.join(format!("{}.oracle.jsonl", unique("file-run")));
    let dead_letter = output.with_extension("dead-letter.jsonl");
    let mut command = Command::new(env!("CARGO_BIN_EXE_eddy"));
    command.current_dir(dir).arg("run").arg(rules);
    for (stream, path) in inputs {
        command
            .arg("--input")
            .arg(format!("{stream}={}", path.display()));
    }
    let out = command
        .arg("--output")
        .arg(&output)
        .arg("--dead-letter")
        .arg(&dead_letter)
        .output()
        .expect("eddy runs");
    // 0: clean; 3: some input went to the dead letter, as the examples intend.
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "the file run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json_lines = |path: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    };
    FileRun {
        events: dedupe(json_lines(&output).iter().map(Derived::from_cloudevent)),
        rejected: json_lines(&dead_letter),
    }
}

/// The settings of an `eddy.toml` for a test job; `toml()` writes it.
pub struct JobConfig {
    pub brokers: String,
    pub group: String,
    /// `checkpoint.dir`: a path or a URL.
    pub checkpoint: String,
    /// `(stream, topic, key_field)`.
    pub streams: Vec<(String, String, Option<String>)>,
    /// The `[sinks."*"]` topic and CloudEvents mode.
    pub sink_topic: String,
    pub sink_mode: &'static str,
    pub dead_letter_topic: Option<String>,
}

impl JobConfig {
    pub fn toml(&self) -> String {
        let mut text = format!(
            concat!(
                // Long enough that a burst produced to several topics after
                // a quiet spell (the consumer delivers one topic's messages
                // before another's) does not find a partition idle and make
                // the others' older events late; every partition ends with
                // a sentinel, so no test waits for idleness.
                "idle_partition_timeout = \"20s\"\n",
                "[kafka]\nbrokers = \"{brokers}\"\ngroup_id = \"{group}\"\n",
                "batch_wait = \"50ms\"\n",
                // Without these, group joins on the test broker take minutes.
                "[kafka.client]\n\"session.timeout.ms\" = \"6000\"\n",
                "\"max.poll.interval.ms\" = \"10000\"\n",
                "[checkpoint]\ndir = \"{dir}\"\ninterval = \"500ms\"\n",
                "[sinks.\"*\"]\ntype = \"kafka\"\ntopic = \"{sink}\"\nmode = \"{mode}\"\n",
            ),
            brokers = self.brokers,
            group = self.group,
            dir = self.checkpoint,
            sink = self.sink_topic,
            mode = self.sink_mode,
        );
        for (stream, topic, key_field) in &self.streams {
            text.push_str(&format!("[streams.{stream}]\ntopic = \"{topic}\"\n"));
            if let Some(field) = key_field {
                text.push_str(&format!("key_field = \"{field}\"\n"));
            }
        }
        if let Some(topic) = &self.dead_letter_topic {
            text.push_str(&format!(
                "[dead_letter]\ntype = \"kafka\"\ntopic = \"{topic}\"\n"
            ));
        }
        text
    }
}

/// `eddy run RULES --config CONFIG` as a child process, its stderr in a
/// file (read for log lines and for failure messages).
pub struct EddyJob {
    pub name: String,
    child: Child,
    stderr_path: PathBuf,
}

/// Bound on a graceful stop: eddy's own drain bound (30 s) plus slack.
pub const STOP_WAIT: Duration = Duration::from_secs(45);

impl EddyJob {
    /// Starts eddy in `dir`; `name` tells instances and restarts apart in
    /// file names and messages.
    pub fn start(dir: &Path, name: &str, rules: &Path, config: &Path) -> EddyJob {
        EddyJob::start_with_env(dir, name, rules, config, &[])
    }

    /// [`EddyJob::start`] with more environment variables.
    pub fn start_with_env(
        dir: &Path,
        name: &str,
        rules: &Path,
        config: &Path,
        env: &[(&str, String)],
    ) -> EddyJob {
        let stderr_path = dir.join(format!("{name}.stderr.log"));
        let stderr = std::fs::File::create(&stderr_path).expect("create the stderr file");
        let child = Command::new(env!("CARGO_BIN_EXE_eddy"))
            .current_dir(dir)
            .arg("run")
            .arg(rules)
            .arg("--config")
            .arg(config)
            // EDDY_LOG=debug in the test's environment shows checkpoints.
            .env(
                "EDDY_LOG",
                std::env::var("EDDY_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("eddy starts");
        EddyJob {
            name: name.to_string(),
            child,
            stderr_path,
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Panics (with its stderr) if eddy has exited: it should run until
    /// told to stop.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("poll eddy") {
            panic!("{} exited early ({status}):\n{}", self.name, self.stderr());
        }
    }

    /// Waits (bounded by `timeout`) until stderr holds `needle` at least
    /// `count` times; panics with stderr if it does not, or if eddy exits.
    pub fn wait_for_log(&mut self, needle: &str, count: usize, timeout: Duration) {
        self.wait_for_log_since(0, needle, count, timeout);
    }

    /// Where stderr ends now, for [`EddyJob::wait_for_log_since`].
    pub fn log_mark(&self) -> usize {
        self.stderr().len()
    }

    /// Like [`EddyJob::wait_for_log`], counting only what was logged after
    /// `mark`.
    pub fn wait_for_log_since(
        &mut self,
        mark: usize,
        needle: &str,
        count: usize,
        timeout: Duration,
    ) {
        let started = Instant::now();
        loop {
            let stderr = self.stderr();
            if stderr
                .get(mark..)
                .unwrap_or_default()
                .matches(needle)
                .count()
                >= count
            {
                return;
            }
            self.assert_running();
            assert!(
                started.elapsed() < timeout,
                "{}: no {count}x `{needle}` in stderr within {timeout:?}:\n{stderr}",
                self.name,
            );
            std::thread::sleep(POLL);
        }
    }

    /// SIGTERM, then waits (bounded) for a clean exit; returns stderr.
    pub fn terminate(mut self) -> String {
        self.assert_running();
        self.signal("-TERM");
        let status = self.wait_bounded(STOP_WAIT);
        let stderr = self.stderr();
        assert!(
            status.success(),
            "{} did not stop cleanly on SIGTERM ({status}):\n{stderr}",
            self.name
        );
        stderr
    }

    /// Waits (bounded by `timeout`) for eddy to exit by itself; returns its
    /// exit code and stderr.
    pub fn exit(mut self, timeout: Duration) -> (Option<i32>, String) {
        let status = self.wait_bounded(timeout);
        (status.code(), self.stderr())
    }

    /// SIGSTOP: the process stalls as in a long pause, its sessions expire.
    pub fn pause(&mut self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`EddyJob::pause`]: a zombie wakes up.
    pub fn resume(&mut self) {
        self.signal("-CONT");
    }

    /// Whether eddy is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("poll eddy").is_none()
    }

    fn signal(&mut self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill {signal} {pid}");
    }

    /// SIGKILL: no drain, no checkpoint, no commit. Returns stderr.
    pub fn kill_dash_nine(mut self) -> String {
        self.assert_running();
        self.child.kill().expect("kill -9 eddy");
        self.wait_bounded(STOP_WAIT);
        self.stderr()
    }

    fn wait_bounded(&mut self, timeout: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for eddy") {
                return status;
            }
            if started.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not exit within {timeout:?}:\n{}",
                    self.name,
                    self.stderr()
                );
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for EddyJob {
    /// A failing test must not leave eddy running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Writes `config` to `dir`/eddy.toml, starts a job `name` of `rules` on
/// it and waits (bounded by `timeout`) until its sink holds `expected`.
pub fn start_until_derived(
    dir: &Path,
    name: &str,
    rules: &Path,
    config: &JobConfig,
    expected: &BTreeMap<String, Derived>,
    timeout: Duration,
) -> EddyJob {
    let config_path = dir.join("eddy.toml");
    std::fs::write(&config_path, config.toml()).expect("write config");
    let mut job = EddyJob::start(dir, name, rules, &config_path);
    wait_for_events(
        &config.brokers,
        &config.sink_topic,
        1,
        expected,
        &mut [&mut job],
        timeout,
    );
    job
}

/// Reads `topic` until it holds every id of `expected` (bounded by
/// `timeout`), checking that the `jobs` keep running; returns everything
/// read. Panics naming what is missing, with the jobs' stderr.
pub fn wait_for_events(
    brokers: &str,
    topic: &str,
    partitions: i32,
    expected: &BTreeMap<String, Derived>,
    jobs: &mut [&mut EddyJob],
    timeout: Duration,
) -> Vec<ReadBack> {
    let started = Instant::now();
    loop {
        let messages = read_all(brokers, topic, partitions);
        let seen: BTreeSet<String> = messages
            .iter()
            .map(|m| Derived::from_message(m).id)
            .collect();
        let missing: Vec<&Derived> = expected
            .iter()
            .filter(|(id, _)| !seen.contains(*id))
            .map(|(_, event)| event)
            .collect();
        if missing.is_empty() {
            return messages;
        }
        for job in jobs.iter_mut() {
            job.assert_running();
        }
        if started.elapsed() > timeout {
            let logs: Vec<String> = jobs
                .iter()
                .map(|j| format!("--- {} ---\n{}", j.name, j.stderr()))
                .collect();
            let mut missing_kinds: BTreeMap<&str, usize> = BTreeMap::new();
            for event in &missing {
                *missing_kinds.entry(&event.kind).or_default() += 1;
            }
            panic!(
                "{} of {} expected derived events not in `{topic}` after {timeout:?} ({} read); \
                 missing by type {missing_kinds:?}, e.g. {:#?}\n{}",
                missing.len(),
                expected.len(),
                messages.len(),
                &missing[..missing.len().min(3)],
                logs.join("\n")
            );
        }
        std::thread::sleep(POLL * 4);
    }
}

/// The partition of `key` among `partitions`: a fixed hash (FNV-1a), so
/// every topic places a key in the same partition (co-partitioning) and
/// runs are repeatable.
pub fn partition_of(key: &str, partitions: i32) -> i32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % partitions.unsigned_abs() as u64) as i32
}

/// Partition numbers from eddy's `assigned TOPIC/N, ...` log lines.
pub fn assigned_partitions(stderr: &str, topic: &str) -> BTreeSet<i32> {
    let prefix = format!("{topic}/");
    stderr
        .lines()
        .filter_map(|line| line.split_once("assigned ").map(|(_, rest)| rest))
        .flat_map(|rest| rest.split(", "))
        .filter_map(|part| part.trim().strip_prefix(&prefix))
        .filter_map(|number| number.parse().ok())
        .collect()
}

/// Waits (bounded) until every job runs some of the `partitions`
/// partitions of `topic`, together all of them, and no rebalance is under
/// way.
pub fn wait_until_shared(jobs: &mut [EddyJob], topic: &str, partitions: i32, wait: Duration) {
    let started = std::time::Instant::now();
    loop {
        let shares: Vec<BTreeSet<i32>> = jobs
            .iter()
            .map(|job| last_assignment(&job.stderr(), topic))
            .collect();
        let covered: BTreeSet<i32> = shares.iter().flatten().copied().collect();
        let settled = jobs.iter().all(|job| {
            let log = job.stderr();
            log.rfind("assigned ") > log.rfind("revoked ")
        });
        if settled
            && covered.len() == partitions as usize
            && shares.iter().all(|share| !share.is_empty())
        {
            return;
        }
        for job in jobs.iter_mut() {
            job.assert_running();
        }
        assert!(
            started.elapsed() < wait,
            "partitions of `{topic}` not shared out: {shares:?}\n{}",
            jobs.iter()
                .map(|job| format!("--- {} ---\n{}", job.name, job.stderr()))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Partition numbers of `topic` in `stderr`'s most recent `assigned` line
/// naming it (lines naming only internal topics are passed over).
pub fn last_assignment(stderr: &str, topic: &str) -> BTreeSet<i32> {
    let named = format!("{topic}/");
    let last = stderr
        .lines()
        .rev()
        .find(|line| line.contains("assigned ") && line.contains(&named))
        .unwrap_or_default();
    assigned_partitions(last, topic)
}

// ---------------------------------------------------------------------------
// The fraud pack (examples/fraud) as the tests' rules and data.
// ---------------------------------------------------------------------------

/// examples/fraud/, where the rule-language reference's examples live.
pub fn fraud_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/fraud")
}

/// The lines of examples/fraud/data/STREAM.jsonl, broken ones included.
pub fn fraud_lines(stream: &str) -> Vec<String> {
    let path = fraud_dir().join("data").join(format!("{stream}.jsonl"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::to_string)
        .collect()
}

/// The fraud pack reduced to the named `stream` and `rule` items (comments
/// go with the item before them), so a test can run a consistently keyed
/// subset. `extra` is appended (rules of the test's own).
pub fn fraud_rules_subset(keep: &[&str], extra: &str) -> String {
    let text = std::fs::read_to_string(fraud_dir().join("rules.eddy")).expect("rules.eddy");
    let mut items: Vec<String> = vec![String::new()];
    for line in text.lines() {
        if line.starts_with("stream ") || line.starts_with("rule ") {
            items.push(String::new());
        }
        let item = items.last_mut().expect("at least one item");
        item.push_str(line);
        item.push('\n');
    }
    let name_of = |item: &str| {
        item.split_whitespace()
            .nth(1)
            .map(|n| n.trim_end_matches('(').to_string())
    };
    let mut kept: String = items
        .iter()
        .filter(|item| {
            let first = item.split_whitespace().next().unwrap_or_default();
            (first == "stream" || first == "rule")
                && name_of(item).is_some_and(|n| keep.contains(&n.as_str()))
        })
        .cloned()
        .collect();
    kept.push_str(extra);
    kept
}

/// The event time of the sentinels: a day after the fraud data (which ends
/// 2026-01-01 ~10:20), so every window and `within` of the rules closes.
pub const SENTINEL_TIME: &str = "2026-01-02T12:00:00Z";
/// Derived events before this must have been emitted once the sentinels
/// are read: SENTINEL_TIME - lateness (5s) - longest `within` (30m).
pub const SENTINEL_CUTOFF: &str = "2026-01-02T11:29:55.000Z";

/// A sentinel event of a fraud-pack stream: late in event time and
/// matching no rule condition (no failed login, no amount, no settlement
/// of a real payment). `tag` keeps the sentinels of partitions apart.
pub fn fraud_sentinel(stream: &str, tag: &str) -> String {
    match stream {
        "auth" => format!(
            r#"{{"ts":"{SENTINEL_TIME}","user_id":"sentinel-{tag}","kind":"sentinel","ip":"0.0.0.0"}}"#
        ),
        "payments" => format!(
            r#"{{"ts":"{SENTINEL_TIME}","payment_id":"sentinel-{tag}","user_id":"sentinel-{tag}","amount":0,"currency":"XXX"}}"#
        ),
        "settlements" => format!(
            r#"{{"ts":"{SENTINEL_TIME}","payment_id":"sentinel-{tag}","status":"sentinel"}}"#
        ),
        other => panic!("no sentinel for stream `{other}`"),
    }
}

/// The field the tests key (and partition) a fraud-pack stream by.
pub fn fraud_key_field(stream: &str) -> &'static str {
    if stream == "settlements" {
        "payment_id"
    } else {
        "user_id"
    }
}

/// A line's value of [`fraud_key_field`]
/// (`None` for lines that are not JSON objects with that string field).
pub fn fraud_key(stream: &str, line: &str) -> Option<String> {
    let field = fraud_key_field(stream);
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    value.get(field)?.as_str().map(str::to_string)
}

/// A window rule keyed like the rest of [`user_keyed_rules`].
const BUSY_PAYER: &str = "
rule busy_payer
  from payments
  by user_id
  window 10m
  having count() >= 3
  emit busy_payer { user_id, payments: count(), total: sum(amount) }
";

/// The fraud-pack rules that any number of partitions runs like a file:
/// each is keyed by user_id (or looks at one event at a time), and the
/// tests partition auth and payments by user_id (co-partitioned). A filter,
/// a pattern, a chained rule, and a window rule of the tests' own.
pub fn user_keyed_rules() -> String {
    fraud_rules_subset(
        &[
            "auth",
            "payments",
            "large_payment",
            "account_takeover",
            "takeover_burst",
        ],
        BUSY_PAYER,
    )
}

/// One generated input event of [`user_keyed_rules`].
#[derive(Debug, Clone)]
pub struct Generated {
    pub stream: &'static str,
    pub user: String,
    pub line: String,
}

/// Where generated event times start: 2026-01-01T00:00:00Z, a day and more
/// before [`SENTINEL_TIME`].
pub const GENERATED_START_MS: i64 = 1_767_225_600_000;

/// Generates `episodes` episodes of auth and payments events from a fixed
/// seed, in event-time order, from `*clock_ms` on (which it advances, so a
/// second call continues the first). An episode is a payment (sometimes a
/// large one), a login, or a takeover attempt: 2 to 5 failed logins, a
/// login from a new address, a payment; three failures or more make a
/// takeover. Every event of a user goes to the partition of its user.
pub fn generated_events(
    rng: &mut impl rand::Rng,
    episodes: usize,
    clock_ms: &mut i64,
) -> Vec<Generated> {
    let mut events = Vec::new();
    for _ in 0..episodes {
        let user = format!("g{:02}", rng.random_range(0..24));
        let mut tick = |rng: &mut dyn rand::RngCore| {
            *clock_ms += i64::from(rand::Rng::random_range(rng, 200..1500u32));
            rfc3339_millis(*clock_ms)
        };
        let login = |ts: String, kind: &str, ip: &str| Generated {
            stream: "auth",
            user: user.clone(),
            line: format!(
                r#"{{"ts":"{ts}","user_id":"{user}","kind":"{kind}","ip":"{ip}","country":"FR"}}"#
            ),
        };
        let payment = |ts: String, id: u64, amount: f64, currency: &str| Generated {
            stream: "payments",
            user: user.clone(),
            line: format!(
                r#"{{"ts":"{ts}","payment_id":"q{id:016x}","user_id":"{user}","amount":{amount:.2},"currency":"{currency}"}}"#
            ),
        };
        let home_ip = format!("198.51.100.{}", user[1..].parse::<u8>().unwrap_or(0));
        match rng.random_range(0..10) {
            0..=4 => {
                let large = rng.random_bool(0.1);
                let amount = if large {
                    rng.random_range(10_001.0..60_000.0)
                } else {
                    rng.random_range(5.0..3_000.0)
                };
                let currency = ["EUR", "USD", "GBP"][rng.random_range(0..3)];
                let (ts, id) = (tick(rng), rng.random());
                events.push(payment(ts, id, amount, currency));
            }
            5..=7 => events.push(login(tick(rng), "login_ok", &home_ip)),
            _ => {
                let attacker = format!("203.0.113.{}", rng.random_range(1..250));
                for _ in 0..rng.random_range(2..=5) {
                    events.push(login(tick(rng), "login_failed", &attacker));
                }
                // From yet another address: `s.ip != f.ip` in the pattern.
                let new_ip = format!("192.0.2.{}", rng.random_range(1..250));
                events.push(login(tick(rng), "login_ok", &new_ip));
                let amount = rng.random_range(500.0..8_000.0);
                let (ts, id) = (tick(rng), rng.random());
                events.push(payment(ts, id, amount, "EUR"));
            }
        }
    }
    events
}

// ---------------------------------------------------------------------------
// One test job's topics, inputs, config and oracle.
// ---------------------------------------------------------------------------

/// One input message: a line of `stream` for `partition`.
#[derive(Debug, Clone)]
pub struct Input {
    pub stream: &'static str,
    pub partition: i32,
    pub key: Option<String>,
    pub line: String,
}

impl Input {
    /// A generated event, in the partition of its user among `partitions`.
    pub fn generated(event: &Generated, partitions: i32) -> Input {
        Input {
            stream: event.stream,
            partition: partition_of(&event.user, partitions),
            key: Some(event.user.clone()),
            line: event.line.clone(),
        }
    }

    /// One sentinel per stream and partition (see [`fraud_sentinel`]).
    pub fn sentinels(streams: &[&'static str], partitions: i32) -> Vec<Input> {
        let mut sentinels = Vec::new();
        for &stream in streams {
            for partition in 0..partitions {
                sentinels.push(Input {
                    stream,
                    partition,
                    key: None,
                    line: fraud_sentinel(stream, &format!("p{partition}")),
                });
            }
        }
        sentinels
    }

    /// One sentinel per stream of `pack` and partition (see
    /// [`Pack::sentinel`]), so every partition of every input topic reads
    /// past the pack's cutoff.
    pub fn pack_sentinels(pack: Pack, partitions: i32) -> Vec<Input> {
        let mut sentinels = Vec::new();
        for &stream in pack.streams() {
            for partition in 0..partitions {
                sentinels.push(Input {
                    stream,
                    partition,
                    key: None,
                    line: pack.sentinel(stream, &format!("p{partition}")),
                });
            }
        }
        sentinels
    }
}

/// The topics of one test job, all with unique names.
pub struct JobTopics {
    pub partitions: i32,
    /// Input topic by stream.
    pub inputs: BTreeMap<&'static str, String>,
    /// `[sinks."*"]`, one partition.
    pub sink: String,
    pub dead_letter: String,
}

impl JobTopics {
    /// Creates the input topics (`partitions` each), the sink and the
    /// dead-letter topic (one partition each).
    pub async fn create(
        brokers: &str,
        name: &str,
        streams: &[&'static str],
        partitions: i32,
    ) -> JobTopics {
        let inputs: BTreeMap<&'static str, String> = streams
            .iter()
            .map(|&s| (s, unique(&format!("{name}-{s}"))))
            .collect();
        for topic in inputs.values() {
            create_topic(brokers, topic, partitions).await;
        }
        let sink = unique(&format!("{name}-alerts"));
        let dead_letter = unique(&format!("{name}-dead-letter"));
        create_topic(brokers, &sink, 1).await;
        create_topic(brokers, &dead_letter, 1).await;
        JobTopics {
            partitions,
            inputs,
            sink,
            dead_letter,
        }
    }

    /// Produces `inputs` to their streams' topics, in order.
    pub fn produce(&self, brokers: &str, scratch: &Path, inputs: &[Input]) {
        let outgoing: Vec<Outgoing> = inputs
            .iter()
            .map(|input| Outgoing {
                topic: self.inputs[input.stream].clone(),
                partition: input.partition,
                key: input.key.clone(),
                value: input.line.clone(),
            })
            .collect();
        produce(brokers, scratch, &outgoing);
    }

    /// A job config reading these topics and writing to the sink in
    /// `sink_mode`; rejected input to the dead-letter topic.
    pub fn config(
        &self,
        brokers: &str,
        group: &str,
        checkpoint_dir: &Path,
        sink_mode: &'static str,
    ) -> JobConfig {
        JobConfig {
            brokers: brokers.to_string(),
            group: group.to_string(),
            checkpoint: checkpoint_dir.display().to_string(),
            streams: self
                .inputs
                .iter()
                .map(|(s, t)| {
                    (
                        s.to_string(),
                        t.clone(),
                        Some(fraud_key_field(s).to_string()),
                    )
                })
                .collect(),
            sink_topic: self.sink.clone(),
            sink_mode,
            dead_letter_topic: Some(self.dead_letter.clone()),
        }
    }
}

/// The file run of `inputs` (each stream's lines in the order given, the
/// partitions ignored): the oracle.
pub fn oracle(dir: &Path, rules: &Path, streams: &[&str], inputs: &[Input]) -> FileRun {
    let mut files: Vec<(&str, PathBuf)> = Vec::new();
    for &stream in streams {
        let path = dir.join(format!("{}.jsonl", unique(stream)));
        let text: String = inputs
            .iter()
            .filter(|input| input.stream == stream)
            .map(|input| format!("{}\n", input.line))
            .collect();
        std::fs::write(&path, text).expect("write the oracle's input");
        files.push((stream, path));
    }
    file_run(dir, rules, &files)
}

/// Equal sets of derived events, or a message naming the differences.
/// `context` (e.g. eddy's stderr) is printed on failure.
pub fn assert_same_events(
    got: &BTreeMap<String, Derived>,
    expected: &BTreeMap<String, Derived>,
    context: &str,
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
        "Kafka run vs file run: {} missing, {} extra (of {} expected)\nmissing e.g. {:#?}\nextra e.g. {:#?}\n{context}",
        missing.len(),
        extra.len(),
        expected.len(),
        &missing[..missing.len().min(3)],
        &extra[..extra.len().min(3)],
    );
    let differing: Vec<(&Derived, &Derived)> = expected
        .iter()
        .filter_map(|(id, want)| got.get(id).map(|have| (have, want)))
        .filter(|(have, want)| have != want)
        .collect();
    let beyond_rounding: Vec<&(&Derived, &Derived)> = differing
        .iter()
        .filter(|(have, want)| !same_but_rounding(have, want))
        .collect();
    assert!(
        beyond_rounding.is_empty(),
        "{} events with the same id differ, e.g. (Kafka, file) {:#?}\n{context}",
        beyond_rounding.len(),
        &beyond_rounding[..beyond_rounding.len().min(3)]
    );
    // Kept apart from the check above so that a failure here says plainly
    // that only the last digits of floating-point results differ (a sum
    // added up in another order), which the language promises not to do.
    // Seen for `sum` of a window: it depends on where batches split the
    // input (a file run with --batch-size 1, 7 or 8192 differs too).
    assert!(
        differing.is_empty(),
        "{} of {} derived events differ from the file run only in the last digits of \
         floating-point values (the same events must give the same output on a file or on \
         Kafka; a window's sum depends on batch boundaries), e.g. (Kafka, file) {:#?}",
        differing.len(),
        expected.len(),
        &differing[..differing.len().min(3)]
    );
}

/// Equal events but for numbers that agree to 12 significant digits.
fn same_but_rounding(a: &Derived, b: &Derived) -> bool {
    fn close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value;
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                _ => x == y,
            },
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(v, w)| close(v, w))
            }
            _ => a == b,
        }
    }
    let data = |d: &Derived| serde_json::from_str::<serde_json::Value>(&d.data).ok();
    (&a.id, &a.kind, &a.time, &a.subject) == (&b.id, &b.kind, &b.time, &b.subject)
        && matches!((data(a), data(b)), (Some(x), Some(y)) if close(&x, &y))
}

/// The derived event types among `events`, to check that a comparison
/// covered every kind of rule.
pub fn kinds(events: &BTreeMap<String, Derived>) -> BTreeSet<String> {
    events.values().map(|e| e.kind.clone()).collect()
}

/// Prints the offsets group argv[2] committed for partitions `0..argv[4]`
/// of topic argv[3], as JSON `{"partition": offset}` (-1001: none yet).
pub const PY_COMMITTED: &str = r#"
import json, sys
from confluent_kafka import Consumer, TopicPartition
brokers, group, topic, partitions = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
consumer = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False})
committed = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
consumer.close()
print(json.dumps({str(tp.partition): tp.offset for tp in committed}))
"#;

/// Waits (bounded by `timeout`) until `group` has committed at least
/// `wanted[partition]` for each partition of `topic`: everything before
/// that is in a checkpoint. Checks that `jobs` keep running meanwhile.
pub fn wait_for_commits(
    brokers: &str,
    group: &str,
    topic: &str,
    wanted: &BTreeMap<i32, i64>,
    jobs: &mut [&mut EddyJob],
    timeout: Duration,
) {
    let partitions = wanted.keys().max().map_or(0, |p| p + 1).to_string();
    let started = Instant::now();
    loop {
        let out = python(PY_COMMITTED, &[brokers, group, topic, &partitions]);
        let committed: BTreeMap<String, i64> =
            serde_json::from_str(out.trim()).expect("python's JSON");
        let behind: Vec<(i32, i64, i64)> = wanted
            .iter()
            .map(|(p, w)| (*p, *w, committed.get(&p.to_string()).copied().unwrap_or(-1)))
            .filter(|(_, w, c)| c < w)
            .collect();
        if behind.is_empty() {
            return;
        }
        for job in jobs.iter_mut() {
            job.assert_running();
        }
        assert!(
            started.elapsed() < timeout,
            "{topic}: (partition, wanted, committed) {behind:?} after {timeout:?}"
        );
        std::thread::sleep(POLL * 2);
    }
}

// ---------------------------------------------------------------------------
// Whole example packs (fraud, security) as the tests' rules and data.
// ---------------------------------------------------------------------------

/// An example pack run whole: its rules, every stream it reads, its data
/// files as they are, and sentinels that close all of its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pack {
    /// examples/fraud: auth, payments, settlements; lateness 5s, longest
    /// `within` 30m.
    Fraud,
    /// examples/security: logins (with the nested `device`), privileges;
    /// lateness 10s, longest `within` 7d (new_country_login).
    Security,
}

/// The event time of the security pack's sentinels: eight days after its
/// data (2026-01-01 06:00 to 09:00), so new_country_login's `within 7d`
/// closes for every event of the data.
pub const SECURITY_SENTINEL_TIME: &str = "2026-01-09T12:00:00Z";
/// Derived events before this must have been emitted once the security
/// sentinels are read: SECURITY_SENTINEL_TIME - lateness (10s) - longest
/// `within` (7d).
pub const SECURITY_SENTINEL_CUTOFF: &str = "2026-01-02T11:59:50.000Z";

impl Pack {
    pub fn dir(self) -> PathBuf {
        match self {
            Pack::Fraud => fraud_dir(),
            Pack::Security => Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/security"),
        }
    }

    pub fn rules(self) -> PathBuf {
        self.dir().join("rules.eddy")
    }

    /// Every input stream the pack's rules read.
    pub fn streams(self) -> &'static [&'static str] {
        match self {
            Pack::Fraud => &["auth", "payments", "settlements"],
            Pack::Security => &["logins", "privileges"],
        }
    }

    /// The lines of the pack's data/STREAM.jsonl, broken ones included.
    pub fn lines(self, stream: &str) -> Vec<String> {
        let path = self.dir().join("data").join(format!("{stream}.jsonl"));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// A sentinel event of `stream`: after the data by more than the
    /// pack's lateness and longest `within`, and matching no rule
    /// condition, so it closes every window and pattern of the data and
    /// derives nothing before the cutoff. `tag` keeps sentinels apart.
    pub fn sentinel(self, stream: &str, tag: &str) -> String {
        match (self, stream) {
            (Pack::Fraud, _) => fraud_sentinel(stream, tag),
            // No "success" or "failure": no pattern step or window of the
            // pack takes it.
            (Pack::Security, "logins") => format!(
                r#"{{"ts":"{SECURITY_SENTINEL_TIME}","user_id":"sentinel-{tag}","outcome":"sentinel","ip":"0.0.0.0","country":"XX","device":{{"os":"sentinel"}}}}"#
            ),
            // No "grant_role": privilege_escalation's second step never
            // takes it.
            (Pack::Security, "privileges") => format!(
                r#"{{"ts":"{SECURITY_SENTINEL_TIME}","user_id":"sentinel-{tag}","action":"sentinel","role":"sentinel","actor":"sentinel-{tag}"}}"#
            ),
            (pack, other) => panic!("no sentinel for stream `{other}` of {pack:?}"),
        }
    }

    /// Derived events before this (text in eddy's time format) must have
    /// been emitted once every partition has read its sentinel.
    pub fn sentinel_cutoff(self) -> &'static str {
        match self {
            Pack::Fraud => SENTINEL_CUTOFF,
            Pack::Security => SECURITY_SENTINEL_CUTOFF,
        }
    }
}

/// Whether an event is late depends on the events before it in its
/// partition, and a partition holds a subset of the stream; so with more
/// than one partition the lines the file run finds late are left out (an
/// event on time in the whole stream is on time in its partition, whose
/// watermark can only be lower).
pub fn drop_late_lines(dir: &Path, rules: &Path, lines: &mut BTreeMap<&'static str, Vec<String>>) {
    let inputs: Vec<Input> = lines
        .iter()
        .flat_map(|(&stream, stream_lines)| {
            stream_lines.iter().map(move |line| Input {
                stream,
                partition: 0,
                key: None,
                line: line.clone(),
            })
        })
        .collect();
    let streams: Vec<&str> = lines.keys().copied().collect();
    let oracle = oracle(dir, rules, &streams, &inputs);
    let late = oracle.rejected.iter().filter(|r| r["reason"] == "late");
    for record in late {
        let stream = record["stream"].as_str().expect("a rejected line's stream");
        let line = record["line"].as_u64().expect("a rejected line's number");
        // Line numbers are 1-based. Blanked here, dropped below, so the
        // numbers of the other late lines still hold meanwhile.
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

/// How many partitions `topic` has, or `None` if the broker does not know
/// it. Asks for the metadata of every topic: asking for one by name may
/// make a broker that auto-creates topics create it.
pub fn topic_partitions(brokers: &str, topic: &str) -> Option<usize> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("metadata client");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("the broker's metadata");
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len())
}

/// The internal topic eddy re-keys `stream` through for rules grouping it
/// by `key_path` (`device.os` for a nested field): named after the job's
/// consumer group, so jobs never share one.
pub fn repartition_topic(group: &str, stream: &str, key_path: &str) -> String {
    format!("{group}-repartition-{stream}-{key_path}")
}
