//! Shared by the Kafka integration tests: find the broker (or skip), make
//! unique topics, and run Python's confluent-kafka as an independent client.
//!
//! The tests run against a real Kafka-protocol broker: `EDDY_KAFKA_BROKERS`,
//! or 127.0.0.1:9092 (`.ci/broker.sh` starts one). Without either they print
//! `skipped: no broker at 127.0.0.1:9092` and pass, so `cargo test` works on
//! a machine without a broker; `.ci/run` starts one, so CI runs them.

#![allow(dead_code)] // each test file uses a different part

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::config::KafkaConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;

pub const DEFAULT_BROKER: &str = "127.0.0.1:9092";
/// Bound on every wait for the broker or for Python.
pub const WAIT: Duration = Duration::from_secs(60);

/// The brokers to test against, or `None` (after printing why) to skip.
pub fn broker() -> Option<String> {
    if let Ok(brokers) = std::env::var("EDDY_KAFKA_BROKERS") {
        if !brokers.trim().is_empty() {
            return Some(brokers);
        }
    }
    let address: SocketAddr = DEFAULT_BROKER.parse().ok()?;
    if TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok() {
        Some(DEFAULT_BROKER.to_string())
    } else {
        eprintln!("skipped: no broker at {DEFAULT_BROKER} (start one with .ci/broker.sh, or set EDDY_KAFKA_BROKERS)");
        None
    }
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
