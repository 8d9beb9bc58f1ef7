//! Input from Kafka topics in a consumer group, in bounded batches of raw
//! messages (decoding is the pipeline's job).
//!
//! How the runtime drives it:
//!
//! 1. [`KafkaSource::open`] with the offsets of the restored checkpoint;
//! 2. loop on [`KafkaSource::next_batch`]: act on its `rebalances` first
//!    (restore or flush state of those partitions), then decode its
//!    `messages` and push them to the pipeline, reporting each event's
//!    time back with [`KafkaSource::observe_event_time`]; the stream's
//!    watermark follows [`KafkaSource::frontier`];
//! 3. at a checkpoint barrier: wait for the sinks' acks, store the
//!    checkpoint with [`KafkaSource::positions`], then
//!    [`KafkaSource::commit`] those positions.
//!
//! Offsets are never committed automatically or per message.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dsl::plan::Millis;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::context::{RebalanceEvent, RebalanceRecorder, ResumeSource, TopicPartition};
use super::error::KafkaConnectorError;
use super::watermark::{Frontier, PartitionClocks};
use crate::checkpoint::SourceOffset;
use crate::config::KafkaConfig;

/// One consumed message, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMessage {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The Kafka message timestamp in epoch milliseconds, if it has one.
    pub timestamp: Option<Millis>,
    pub key: Option<Vec<u8>>,
    /// The value; empty for a tombstone (a message without one).
    pub payload: Vec<u8>,
    /// The message's headers, in order (values of null headers empty).
    pub headers: Vec<(String, Vec<u8>)>,
}

/// What one [`KafkaSource::next_batch`] call read.
#[derive(Debug, Default)]
pub struct SourceBatch {
    /// Partition changes that happened before `messages`: act on them first.
    pub rebalances: Vec<RebalanceEvent>,
    /// In arrival order; in offset order within a partition.
    pub messages: Vec<SourceMessage>,
}

impl SourceBatch {
    pub fn is_empty(&self) -> bool {
        self.rebalances.is_empty() && self.messages.is_empty()
    }
}

/// How the source cuts batches and judges idleness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceOptions {
    /// Most messages per batch.
    pub batch_size: usize,
    /// Most payload bytes per batch: a batch ends after the message that
    /// reaches it, so wide messages make short batches.
    pub batch_bytes: usize,
    /// How long a batch waits for its first message, and then to fill.
    pub batch_wait: Duration,
    /// A partition without messages for this long stops holding time back.
    pub idle_partition_timeout: Duration,
}

impl SourceOptions {
    pub fn from_config(config: &crate::config::Config) -> Self {
        SourceOptions {
            batch_size: config.kafka.batch_size.get(),
            batch_bytes: config.max_chunk_bytes.get(),
            batch_wait: config.kafka.batch_wait,
            idle_partition_timeout: config.idle_partition_timeout,
        }
    }
}

/// A consumer-group member reading some topics.
pub struct KafkaSource {
    consumer: StreamConsumer<RebalanceRecorder>,
    options: SourceOptions,
    /// Next offset to read per owned partition, from the messages handed out.
    positions: BTreeMap<TopicPartition, i64>,
    clocks: HashMap<String, PartitionClocks>,
    /// A message read after a rebalance event: it goes in the next batch,
    /// after the event.
    carried: Option<SourceMessage>,
}

impl KafkaSource {
    /// Joins `kafka.group_id` and subscribes to `topics`. Partitions listed
    /// in `resume` start at those offsets when assigned; others at the
    /// group's committed offset, or the earliest one.
    pub fn open(
        kafka: &KafkaConfig,
        topics: &[&str],
        resume: &[SourceOffset],
        options: SourceOptions,
    ) -> Result<Self, KafkaConnectorError> {
        let context = RebalanceRecorder::default();
        for offset in resume {
            context.set_resume_offset(
                TopicPartition {
                    topic: offset.topic.clone(),
                    partition: offset.partition,
                },
                offset.next_offset,
            );
        }
        Self::open_with(kafka, topics, context, options)
    }

    /// Like [`KafkaSource::open`], with assigned partitions resuming where
    /// `resume` says, asked at each assignment.
    pub fn open_resuming(
        kafka: &KafkaConfig,
        topics: &[&str],
        resume: Arc<dyn ResumeSource>,
        options: SourceOptions,
    ) -> Result<Self, KafkaConnectorError> {
        Self::open_with(
            kafka,
            topics,
            RebalanceRecorder::with_resume_source(resume),
            options,
        )
    }

    fn open_with(
        kafka: &KafkaConfig,
        topics: &[&str],
        context: RebalanceRecorder,
        options: SourceOptions,
    ) -> Result<Self, KafkaConnectorError> {
        let consumer: StreamConsumer<RebalanceRecorder> = super::client::consumer(kafka)
            .create_with_context(context)
            .map_err(|source| KafkaConnectorError::Create {
                role: "consumer",
                source,
            })?;
        consumer
            .subscribe(topics)
            .map_err(|source| KafkaConnectorError::Subscribe {
                topics: topics.join(", "),
                source,
            })?;
        let clocks = topics
            .iter()
            .map(|t| {
                (
                    t.to_string(),
                    PartitionClocks::new(options.idle_partition_timeout),
                )
            })
            .collect();
        Ok(KafkaSource {
            consumer,
            options: SourceOptions {
                batch_size: options.batch_size.max(1),
                ..options
            },
            positions: BTreeMap::new(),
            clocks,
            carried: None,
        })
    }

    /// The next batch: up to `batch_size` messages and about `batch_bytes`
    /// of payload, collected for at most `batch_wait`. It ends early at a rebalance, so events and messages
    /// keep their order. An empty batch means nothing arrived: time to
    /// check idleness and checkpoints.
    pub async fn next_batch(&mut self) -> Result<SourceBatch, KafkaConnectorError> {
        let mut batch = SourceBatch {
            rebalances: self.take_rebalances(),
            messages: Vec::new(),
        };
        if let Some(message) = self.carried.take() {
            self.note(&message);
            batch.messages.push(message);
        }
        let deadline = tokio::time::Instant::now() + self.options.batch_wait;
        let mut bytes: usize = batch.messages.iter().map(|m| m.payload.len()).sum();
        while batch.messages.len() < self.options.batch_size && bytes < self.options.batch_bytes {
            let received = match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Err(_elapsed) => break,
                Ok(Ok(message)) => owned(&message),
                Ok(Err(error)) => {
                    self.check_fatal(error)?;
                    // An error can come back at once, again and again:
                    // the deadline bounds this loop, not the timer.
                    if tokio::time::Instant::now() >= deadline {
                        break;
                    }
                    continue;
                }
            };
            if self.consumer.context().has_events() {
                // The rebalance came before this message: both wait for the
                // next batch, the event first.
                self.carried = Some(received);
                break;
            }
            self.note(&received);
            bytes += received.payload.len();
            batch.messages.push(received);
        }
        Ok(batch)
    }

    /// Reports the event time of a decoded event (or the message timestamp,
    /// when the stream's time is Kafka's) for the partition's progress.
    pub fn observe_event_time(&mut self, topic: &str, partition: i32, time: Millis) {
        if let Some(clocks) = self.clocks.get_mut(topic) {
            clocks.observe(partition, time, Instant::now());
        }
    }

    /// How far the events of `topic` have come over its active partitions.
    pub fn frontier(&self, topic: &str) -> Frontier {
        self.clocks
            .get(topic)
            .map_or(Frontier::Idle, |c| c.frontier(Instant::now()))
    }

    /// The per-partition progress of `topic`, for checkpoints.
    pub fn partition_clocks(&self, topic: &str) -> Option<&PartitionClocks> {
        self.clocks.get(topic)
    }

    /// Where each owned partition resumes after the messages handed out so
    /// far: what a checkpoint taken now records.
    pub fn positions(&self) -> Vec<SourceOffset> {
        self.positions
            .iter()
            .map(|(tp, &next_offset)| SourceOffset {
                topic: tp.topic.clone(),
                partition: tp.partition,
                next_offset,
            })
            .collect()
    }

    /// Commits `offsets` (next offsets to read) to the group, synchronously.
    /// Call it only after the checkpoint holding them is stored and every
    /// derived event before them is acknowledged. Partitions no longer
    /// owned are skipped: their new owner has taken over.
    pub fn commit(&mut self, offsets: &[SourceOffset]) -> Result<(), KafkaConnectorError> {
        let mut tpl = TopicPartitionList::new();
        for offset in offsets {
            let partition = TopicPartition {
                topic: offset.topic.clone(),
                partition: offset.partition,
            };
            if !self.positions.contains_key(&partition) {
                continue;
            }
            tpl.add_partition_offset(
                &offset.topic,
                offset.partition,
                Offset::Offset(offset.next_offset),
            )
            .map_err(KafkaConnectorError::Commit)?;
            self.consumer
                .context()
                .set_resume_offset(partition, offset.next_offset);
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        match self.consumer.commit(&tpl, CommitMode::Sync) {
            // A rebalance began since the batch was read: the group refuses
            // commits of the old generation. The checkpoint with these
            // offsets is stored, and whoever owns a partition next resumes
            // from its checkpoint, so the group's offsets may lag behind.
            Err(KafkaError::ConsumerCommit(code)) if is_rebalance(code) => {
                tracing::warn!(
                    "offsets not committed, the group is rebalancing ({code}); the checkpoint \
                     holds them"
                );
                Ok(())
            }
            other => other.map_err(KafkaConnectorError::Commit),
        }
    }

    /// The offsets the group has committed for the partitions owned now.
    pub fn committed(&self, timeout: Duration) -> Result<Vec<SourceOffset>, KafkaConnectorError> {
        let tpl = self
            .consumer
            .committed(timeout)
            .map_err(KafkaConnectorError::Commit)?;
        Ok(tpl
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(next_offset) => Some(SourceOffset {
                    topic: e.topic().to_string(),
                    partition: e.partition(),
                    next_offset,
                }),
                _ => None,
            })
            .collect())
    }

    /// Messages not read yet per topic, over the owned partitions whose
    /// high watermark the broker reports within `timeout`.
    pub fn lag(&self, timeout: Duration) -> BTreeMap<String, i64> {
        let mut lag: BTreeMap<String, i64> = BTreeMap::new();
        for (tp, &position) in &self.positions {
            if let Ok((_low, high)) =
                self.consumer
                    .fetch_watermarks(&tp.topic, tp.partition, timeout)
            {
                *lag.entry(tp.topic.clone()).or_default() += (high - position).max(0);
            }
        }
        lag
    }

    /// How many partitions `topic` has, if the broker knows the topic.
    pub fn partition_count(&self, topic: &str, timeout: Duration) -> Option<usize> {
        let metadata = self.consumer.fetch_metadata(Some(topic), timeout).ok()?;
        let topic = metadata.topics().iter().find(|t| t.name() == topic)?;
        (topic.error().is_none()).then_some(topic.partitions().len())
    }

    /// Drains the rebalance events and updates positions and clocks.
    fn take_rebalances(&mut self) -> Vec<RebalanceEvent> {
        let events = self.consumer.context().take_events();
        let now = Instant::now();
        for event in &events {
            match event {
                RebalanceEvent::Assigned(partitions) => {
                    for tp in partitions {
                        if let Some(offset) = self.consumer.context().resume_offset(tp) {
                            self.positions.insert(tp.clone(), offset);
                        }
                        if let Some(clocks) = self.clocks.get_mut(&tp.topic) {
                            clocks.assign(tp.partition, now);
                        }
                    }
                }
                RebalanceEvent::Revoked(partitions) => {
                    for tp in partitions {
                        self.positions.remove(tp);
                        if let Some(clocks) = self.clocks.get_mut(&tp.topic) {
                            clocks.revoke(tp.partition);
                        }
                    }
                }
                RebalanceEvent::Failed(problem) => {
                    tracing::warn!("consumer group: {problem}");
                    self.positions.clear();
                    for clocks in self.clocks.values_mut() {
                        *clocks = PartitionClocks::new(self.options.idle_partition_timeout);
                    }
                }
            }
        }
        events
    }

    /// A message is handed out: its partition moves on and is active.
    fn note(&mut self, message: &SourceMessage) {
        self.positions.insert(
            TopicPartition {
                topic: message.topic.clone(),
                partition: message.partition,
            },
            message.offset + 1,
        );
        if let Some(clocks) = self.clocks.get_mut(&message.topic) {
            clocks.touch(message.partition, Instant::now());
        }
    }

    /// librdkafka reports transient trouble (a broker restarting, a topic
    /// not created yet) as errors and recovers by itself; only a fatal
    /// client error stops the source.
    fn check_fatal(&self, error: rdkafka::error::KafkaError) -> Result<(), KafkaConnectorError> {
        if let Some((_code, reason)) = self.consumer.client().fatal_error() {
            tracing::error!("fatal consumer error: {reason}");
            return Err(KafkaConnectorError::Consume(error));
        }
        tracing::warn!("consumer: {error}");
        Ok(())
    }
}

fn owned(message: &rdkafka::message::BorrowedMessage<'_>) -> SourceMessage {
    SourceMessage {
        topic: message.topic().to_string(),
        partition: message.partition(),
        offset: message.offset(),
        timestamp: message.timestamp().to_millis(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        headers: message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| {
                        (
                            h.key.to_string(),
                            h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Commit errors that mean the group moved on to another generation.
fn is_rebalance(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::IllegalGeneration
            | RDKafkaErrorCode::RebalanceInProgress
            | RDKafkaErrorCode::UnknownMemberId
            | RDKafkaErrorCode::FencedInstanceId
    )
}
