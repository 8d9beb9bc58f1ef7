//! The consumer-group source against a real broker: input produced by
//! Python's confluent-kafka over two partitions, batches with rebalance
//! events, explicit commits, and resuming where the last run committed.
//! Skips without a broker. Every loop is bounded in count and time.

mod kafka_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use engine::checkpoint::SourceOffset;
use engine::config::KafkaConfig;
use engine::kafka::{
    Frontier, KafkaSource, RebalanceEvent, SourceMessage, SourceOptions, TopicPartition,
};

const OPTIONS: SourceOptions = SourceOptions {
    batch_size: 4,
    batch_bytes: 1 << 20,
    batch_wait: Duration::from_millis(200),
    idle_partition_timeout: Duration::from_secs(30),
};

/// Produces `values` with confluent-kafka, alternating partitions 0 and 1.
fn produce(brokers: &str, topic: &str, values: &[&str]) {
    let messages: Vec<serde_json::Value> = values
        .iter()
        .enumerate()
        .map(|(i, value)| serde_json::json!({"partition": (i % 2) as i32, "key": format!("k{i}"), "value": value}))
        .collect();
    let delivered = kafka_support::python(
        kafka_support::PY_PRODUCE,
        &[brokers, topic, &serde_json::to_string(&messages).unwrap()],
    );
    assert_eq!(delivered.trim(), values.len().to_string());
}

/// Reads batches until `count` messages came, or a bounded wait ends.
/// Returns the messages and every rebalance event seen.
async fn read(source: &mut KafkaSource, count: usize) -> (Vec<SourceMessage>, Vec<RebalanceEvent>) {
    let started = Instant::now();
    let mut messages = Vec::new();
    let mut events = Vec::new();
    for _ in 0..1_000 {
        if messages.len() >= count || started.elapsed() > kafka_support::WAIT {
            break;
        }
        let batch = source.next_batch().await.unwrap();
        assert!(batch.messages.len() <= OPTIONS.batch_size);
        events.extend(batch.rebalances);
        messages.extend(batch.messages);
    }
    (messages, events)
}

fn payloads(messages: &[SourceMessage]) -> BTreeSet<String> {
    messages
        .iter()
        .map(|m| String::from_utf8(m.payload.clone()).unwrap())
        .collect()
}

fn group_config(brokers: &str, topic: &str) -> KafkaConfig {
    kafka_support::kafka_config(brokers, &format!("{topic}-group"))
}

#[tokio::test]
async fn a_group_member_reads_both_partitions_commits_and_resumes_after_restart() {
    let brokers = require_broker!();
    let topic = kafka_support::unique("source");
    kafka_support::create_topic(&brokers, &topic, 2).await;
    let first: Vec<String> = (0..10).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
    produce(
        &brokers,
        &topic,
        &first.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let kafka = group_config(&brokers, &topic);

    // First run: everything, in offset order per partition, after the assignment.
    let mut source = KafkaSource::open(&kafka, &[&topic], &[], OPTIONS).unwrap();
    let (messages, events) = read(&mut source, 10).await;
    assert_eq!(messages.len(), 10, "{messages:?}");
    assert_eq!(payloads(&messages), first.iter().cloned().collect());
    let assigned: BTreeSet<TopicPartition> = events
        .iter()
        .filter_map(|e| match e {
            RebalanceEvent::Assigned(p) => Some(p.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        assigned,
        (0..2)
            .map(|partition| TopicPartition {
                topic: topic.clone(),
                partition
            })
            .collect()
    );
    for partition in 0..2 {
        let offsets: Vec<i64> = messages
            .iter()
            .filter(|m| m.partition == partition)
            .map(|m| m.offset)
            .collect();
        assert_eq!(offsets, (0..5).collect::<Vec<_>>());
    }
    assert!(messages
        .iter()
        .all(|m| m.timestamp.is_some() && m.key.is_some()));

    // Progress per partition: the slower partition holds the topic back.
    for message in &messages {
        source.observe_event_time(
            &topic,
            message.partition,
            1_000 * (message.partition as i64 + 1),
        );
    }
    assert_eq!(source.frontier(&topic), Frontier::At(1_000));

    let positions = source.positions();
    let expected: Vec<SourceOffset> = (0..2)
        .map(|partition| SourceOffset {
            topic: topic.clone(),
            partition,
            next_offset: 5,
        })
        .collect();
    assert_eq!(positions, expected);
    source.commit(&positions).unwrap();
    let mut committed = source.committed(Duration::from_secs(10)).unwrap();
    committed.sort();
    assert_eq!(committed, expected);
    drop(source);

    // More input while eddy is down; the restart reads only that.
    let second: Vec<String> = (10..14).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
    produce(
        &brokers,
        &topic,
        &second.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let mut restarted = KafkaSource::open(&kafka, &[&topic], &[], OPTIONS).unwrap();
    let (messages, _) = read(&mut restarted, 4).await;
    assert_eq!(payloads(&messages), second.iter().cloned().collect());
    assert!(messages.iter().all(|m| m.offset >= 5), "{messages:?}");
}

/// Wide messages make short batches: a batch ends at the message that
/// takes it to `batch_bytes`, so the memory of a batch is bounded whatever
/// the width of the messages (each is at most `max_message_bytes`).
#[tokio::test]
async fn batches_are_bounded_in_bytes_as_well_as_messages() {
    let brokers = require_broker!();
    let topic = kafka_support::unique("wide");
    kafka_support::create_topic(&brokers, &topic, 2).await;
    let wide: Vec<String> = (0..8)
        .map(|i| format!(r#"{{"n":{i},"pad":"{}"}}"#, "x".repeat(3_000)))
        .collect();
    produce(
        &brokers,
        &topic,
        &wide.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let options = SourceOptions {
        batch_size: 100,
        batch_bytes: 7_000,
        ..OPTIONS
    };
    let kafka = group_config(&brokers, &topic);
    let mut source = KafkaSource::open(&kafka, &[&topic], &[], options).unwrap();
    let started = Instant::now();
    let mut sizes = Vec::new();
    while sizes.iter().sum::<usize>() < wide.len() && started.elapsed() < kafka_support::WAIT {
        let batch = source.next_batch().await.unwrap();
        if !batch.messages.is_empty() {
            sizes.push(batch.messages.len());
        }
    }
    assert_eq!(sizes.iter().sum::<usize>(), wide.len(), "{sizes:?}");
    assert!(
        sizes.iter().all(|&n| n <= 3),
        "at most 7000 bytes and one message more: {sizes:?}"
    );
}

#[tokio::test]
async fn checkpoint_offsets_win_over_older_committed_ones() {
    let brokers = require_broker!();
    let topic = kafka_support::unique("source-resume");
    kafka_support::create_topic(&brokers, &topic, 2).await;
    let values: Vec<String> = (0..8).map(|i| format!("m{i}")).collect();
    produce(
        &brokers,
        &topic,
        &values.iter().map(String::as_str).collect::<Vec<_>>(),
    );

    // A crash after storing a checkpoint at offsets 3 and 2, before the
    // commit: the group has nothing committed, the checkpoint says where to go.
    let checkpoint = [
        SourceOffset {
            topic: topic.clone(),
            partition: 0,
            next_offset: 3,
        },
        SourceOffset {
            topic: topic.clone(),
            partition: 1,
            next_offset: 2,
        },
    ];
    let kafka = group_config(&brokers, &topic);
    let mut source = KafkaSource::open(&kafka, &[&topic], &checkpoint, OPTIONS).unwrap();
    let (messages, _) = read(&mut source, 3).await;
    let mut read_offsets: Vec<(i32, i64)> =
        messages.iter().map(|m| (m.partition, m.offset)).collect();
    read_offsets.sort();
    assert_eq!(read_offsets, vec![(0, 3), (1, 2), (1, 3)]);
}

/// A two-partition topic holding `v0`..`v5`, and two members of one group
/// subscribed to it.
async fn two_members(brokers: &str, name: &str) -> (String, Vec<String>, KafkaSource, KafkaSource) {
    let topic = kafka_support::unique(name);
    kafka_support::create_topic(brokers, &topic, 2).await;
    let values: Vec<String> = (0..6).map(|i| format!("v{i}")).collect();
    produce(
        brokers,
        &topic,
        &values.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let kafka = group_config(brokers, &topic);
    let a = KafkaSource::open(&kafka, &[&topic], &[], OPTIONS).unwrap();
    let b = KafkaSource::open(&kafka, &[&topic], &[], OPTIONS).unwrap();
    (topic, values, a, b)
}

#[tokio::test]
async fn two_members_of_a_group_split_the_partitions() {
    let brokers = require_broker!();
    let (_, values, mut a, mut b) = two_members(&brokers, "source-split").await;
    let mut seen_a = Vec::new();
    let mut seen_b = Vec::new();
    let started = Instant::now();
    for _ in 0..1_000 {
        if seen_a.len() + seen_b.len() >= 6 && !seen_a.is_empty() && !seen_b.is_empty() {
            break;
        }
        if started.elapsed() > kafka_support::WAIT {
            break;
        }
        let (batch_a, batch_b) = tokio::join!(a.next_batch(), b.next_batch());
        seen_a.extend(batch_a.unwrap().messages);
        seen_b.extend(batch_b.unwrap().messages);
    }
    // Together they read everything (a rebalance may hand a partition over
    // and replay some of it), and in the end each owns one partition.
    assert!(
        !seen_a.is_empty() && !seen_b.is_empty(),
        "a: {seen_a:?} b: {seen_b:?}"
    );
    let mut all = seen_a.clone();
    all.extend(seen_b.iter().cloned());
    assert_eq!(payloads(&all), values.iter().cloned().collect());
    let owned = |source: &KafkaSource| {
        source
            .positions()
            .into_iter()
            .map(|p| p.partition)
            .collect::<Vec<_>>()
    };
    let (owned_a, owned_b) = (owned(&a), owned(&b));
    assert_eq!(owned_a.len(), 1, "a owns {owned_a:?}, b owns {owned_b:?}");
    assert_eq!(owned_b.len(), 1, "a owns {owned_a:?}, b owns {owned_b:?}");
    assert_ne!(owned_a, owned_b);
}

#[tokio::test]
async fn when_a_member_leaves_the_other_takes_over_from_its_commit() {
    let brokers = require_broker!();
    let (topic, _, mut a, mut b) = two_members(&brokers, "source-takeover").await;
    let started = Instant::now();
    let split = |a: &KafkaSource, b: &KafkaSource| {
        a.positions().len() == 1 && b.positions().len() == 1 && a.positions() != b.positions()
    };
    let mut read_by_b = Vec::new();
    for _ in 0..1_000 {
        if split(&a, &b) || started.elapsed() > kafka_support::WAIT {
            break;
        }
        let (batch_a, batch_b) = tokio::join!(a.next_batch(), b.next_batch());
        batch_a.unwrap();
        read_by_b.extend(batch_b.unwrap().messages);
    }
    assert!(
        split(&a, &b),
        "a: {:?} b: {:?}",
        a.positions(),
        b.positions()
    );
    // B commits what it read and leaves the group.
    let b_partition = b.positions()[0].partition;
    let b_positions = b.positions();
    b.commit(&b_positions).unwrap();
    drop(b);

    // A is handed B's partition and resumes it where B committed.
    let took_over = |events: &[RebalanceEvent]| {
        events.iter().any(|e| {
            matches!(e, RebalanceEvent::Assigned(p) if p.iter().any(|tp| tp.partition == b_partition))
        })
    };
    let mut taken_over = Vec::new();
    let mut events = Vec::new();
    let started = Instant::now();
    for _ in 0..1_000 {
        if took_over(&events) || started.elapsed() > kafka_support::WAIT {
            break;
        }
        let batch = a.next_batch().await.unwrap();
        events.extend(batch.rebalances);
        taken_over.extend(batch.messages);
    }
    assert!(took_over(&events), "{events:?}");
    produce(&brokers, &topic, &["w0", "w1"]);
    let (more, _) = read(&mut a, 2).await;
    taken_over.extend(more);
    let from_b: Vec<i64> = taken_over
        .iter()
        .filter(|m| m.partition == b_partition)
        .map(|m| m.offset)
        .collect();
    // Nothing B committed is read again; B's partition continues after it.
    let b_committed = b_positions[0].next_offset;
    assert!(
        from_b.iter().all(|&o| o >= b_committed),
        "{from_b:?} vs {b_committed}"
    );
    assert!(from_b.contains(&b_committed), "{from_b:?}");
}
