//! What a sink topic already holds, for writing each derived event once
//! across a crash.
//!
//! Every derived event goes out with the header [`TASK_HEADER`]: the task
//! (input partition number) that derived it. Each checkpoint records the
//! sink topic's end offsets ([`end_offsets`]). A task restored from a
//! checkpoint replays the input after it and derives the same events
//! again, with the same ids; before it does, [`written_ids`] reads the sink
//! topic from the checkpoint's end offsets and collects the ids the task
//! already wrote, and the sink drops those when they come again.
//!
//! This needs no transactions (the test broker's `read_committed` is not
//! reliable, see the README) and holds for any crash: an event written
//! before the crash is in the topic, or it is not and goes out again. The
//! idempotent producer keeps librdkafka's own retries from writing twice.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rdkafka::client::Client;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::cloudevent::STRUCTURED_CONTENT_TYPE;
use super::error::KafkaConnectorError;
use crate::checkpoint::SourceOffset;
use crate::config::KafkaConfig;

/// The header naming the task that derived an event.
pub const TASK_HEADER: &str = "eddy_task";

/// How long one poll of the read-back waits.
const POLL: Duration = Duration::from_millis(100);

/// How long the read-back goes on polling after the end offsets, for
/// messages a broker served but did not count in them.
const SETTLE: Duration = Duration::from_millis(500);

/// The end offset (the next offset to be written) of every partition of
/// `topic`.
pub fn end_offsets<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<SourceOffset>, KafkaConnectorError> {
    let metadata = client
        .fetch_metadata(Some(topic), timeout)
        .map_err(|source| read_back(topic, source))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut ends = Vec::with_capacity(partitions.len());
    for partition in partitions {
        let (_, high) = client
            .fetch_watermarks(topic, partition, timeout)
            .map_err(|source| read_back(topic, source))?;
        ends.push(SourceOffset {
            topic: topic.to_string(),
            partition,
            next_offset: high,
        });
    }
    Ok(ends)
}

/// The derived events of one task that a sink topic holds after a point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub ids: HashSet<String>,
    /// The latest event time among them (milliseconds): the task derives
    /// its events in time order, so once it derives a later one, none of
    /// these can come again.
    pub last_time: Option<i64>,
}

/// The derived events of task `task` in the sink topics from offsets
/// `from` to their ends now. Fails if the topics cannot be read to their
/// ends within `timeout`.
pub fn written_ids(
    kafka: &KafkaConfig,
    from: &[SourceOffset],
    task: i32,
    timeout: Duration,
) -> Result<Written, KafkaConnectorError> {
    let mut written = Written::default();
    if from.is_empty() {
        return Ok(written);
    }
    let consumer: BaseConsumer =
        super::client::reader(kafka)
            .create()
            .map_err(|source| KafkaConnectorError::Create {
                role: "sink reader",
                source,
            })?;
    let mut assignment = TopicPartitionList::new();
    // Where each partition must be read to: its end offset now.
    let mut remaining: Vec<(String, i32, i64)> = Vec::new();
    for start in from {
        let (_, end) = consumer
            .fetch_watermarks(&start.topic, start.partition, timeout)
            .map_err(|source| read_back(&start.topic, source))?;
        if end > start.next_offset {
            assignment
                .add_partition_offset(
                    &start.topic,
                    start.partition,
                    Offset::Offset(start.next_offset),
                )
                .map_err(|source| read_back(&start.topic, source))?;
            remaining.push((start.topic.clone(), start.partition, end));
        }
    }
    if remaining.is_empty() {
        return Ok(written);
    }
    consumer
        .assign(&assignment)
        .map_err(|source| read_back(&remaining[0].0, source))?;
    let task = task.to_string();
    let topic = remaining[0].0.clone();
    let started = Instant::now();
    let mut last_message = Instant::now();
    loop {
        if started.elapsed() > timeout {
            return Err(KafkaConnectorError::ReadBack {
                topic,
                problem: format!("not read to its end within {timeout:?}"),
            });
        }
        let Some(message) = consumer.poll(POLL) else {
            // Past the end offsets, and nothing more comes: the end. (The
            // test broker, tansu, can report the end of a partition short
            // of a batch just written; what it serves is the truth.)
            if remaining.is_empty() && last_message.elapsed() >= SETTLE {
                break;
            }
            continue;
        };
        last_message = Instant::now();
        let message = message.map_err(|source| read_back(&topic, source))?;
        if header(&message, TASK_HEADER) == Some(task.as_bytes()) {
            if let Some((id, time)) = identify(&message) {
                written.ids.insert(id);
                written.last_time = written.last_time.max(time);
            }
        }
        let (message_topic, partition, offset) =
            (message.topic(), message.partition(), message.offset());
        remaining
            .retain(|(t, p, end)| !(t == message_topic && *p == partition && offset + 1 >= *end));
    }
    Ok(written)
}

/// A derived event's id and time (milliseconds): the `ce_id` and `ce_time`
/// headers (binary mode) or the `id` and `time` members of the structured
/// payload.
fn identify(message: &impl Message) -> Option<(String, Option<i64>)> {
    let millis = |time: &str| {
        chrono::DateTime::parse_from_rfc3339(time)
            .ok()
            .map(|t| t.timestamp_millis())
    };
    if let Some(id) = header(message, "ce_id") {
        let time = header(message, "ce_time")
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(millis);
        return Some((String::from_utf8(id.to_vec()).ok()?, time));
    }
    let structured = header(message, "content-type")
        .is_some_and(|c| c.starts_with(STRUCTURED_CONTENT_TYPE.as_bytes()));
    if !structured {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Identity {
        id: String,
        time: Option<String>,
    }
    let event: Identity = serde_json::from_slice(message.payload()?).ok()?;
    Some((event.id, event.time.as_deref().and_then(millis)))
}

fn header<'m>(message: &'m impl Message, name: &str) -> Option<&'m [u8]> {
    message
        .headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
}

fn read_back(topic: &str, source: rdkafka::error::KafkaError) -> KafkaConnectorError {
    KafkaConnectorError::ReadBack {
        topic: topic.to_string(),
        problem: source.to_string(),
    }
}
