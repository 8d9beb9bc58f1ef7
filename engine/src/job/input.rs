//! The job's input as a driver [`Source`]: the consumer group's messages,
//! decoded per partition and topic; partition assignments and revocations
//! as task changes (partition N of every topic is task N); and partitions
//! quiet for the idle timeout as idle streams, so they stop holding time
//! back.
//!
//! The consumer runs as a task of the job's runtime and hands decoded
//! events over a channel of `channel_capacity` events: consuming and
//! decoding overlap with the pipeline, and a slow pipeline or sink slows
//! consumption instead of growing a queue. The consumer keeps polling the
//! group while the driver is busy (a barrier, a slow sink), so it is not
//! thrown out of the group for polling too seldom. Commits go to it over a
//! second channel.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use super::inputs::{DecodedChunk, JobInputs};
use super::resume::CheckpointCatalog;
use super::{JobError, LAG_TIMEOUT};
use crate::checkpoint::SourceOffset;
use crate::driver::{MessageOrigin, Origins, RunError, Source, SourceBatch, SourceEvent, TaskId};
use crate::kafka::{
    KafkaConnectorError, KafkaSource, RebalanceEvent, SourceMessage, TopicPartition,
};
use crate::metrics::Metrics;
use crate::position::split_record_number;
use crate::reject::{Rejection, SourceRecord, SourcedRejection};

/// When an input of a task last had a message.
struct Activity {
    last_message: Instant,
    idle: bool,
}

/// The consumer of the job, on the job's runtime.
struct Consumer {
    source: KafkaSource,
    inputs: JobInputs,
    catalog: Arc<CheckpointCatalog>,
    metrics: Arc<Metrics>,
    max_message_bytes: usize,
    idle_timeout: Duration,
    /// Per (task, input index).
    activity: BTreeMap<(TaskId, usize), Activity>,
    /// Events of the last consumer batch not handed out yet, in order.
    pending: VecDeque<SourceEvent>,
    /// Messages read, for the job's summary.
    messages_in: Arc<AtomicU64>,
}

/// A commit the driver asks for, and where the answer goes.
type CommitRequest = (
    Vec<SourceOffset>,
    oneshot::Sender<Result<(), KafkaConnectorError>>,
);

/// The driver's side of the consumer.
pub struct KafkaInput {
    runtime: Handle,
    events: mpsc::Receiver<Result<SourceEvent, JobError>>,
    commits: mpsc::Sender<CommitRequest>,
}

/// How a [`KafkaInput`] is set up.
pub struct InputSettings {
    pub max_message_bytes: usize,
    pub idle_timeout: Duration,
    pub messages_in: Arc<AtomicU64>,
    /// Decoded events in flight between the consumer and the driver.
    pub capacity: usize,
}

impl KafkaInput {
    /// Starts the consumer on `runtime`.
    pub fn spawn(
        runtime: Handle,
        source: KafkaSource,
        inputs: JobInputs,
        catalog: Arc<CheckpointCatalog>,
        metrics: Arc<Metrics>,
        settings: InputSettings,
    ) -> Self {
        let (events, received) = mpsc::channel(settings.capacity.max(1));
        let (commits, requests) = mpsc::channel(1);
        let consumer = Consumer {
            source,
            inputs,
            catalog,
            metrics,
            max_message_bytes: settings.max_message_bytes,
            idle_timeout: settings.idle_timeout,
            activity: BTreeMap::new(),
            pending: VecDeque::new(),
            messages_in: settings.messages_in,
        };
        runtime.spawn(consumer.run(events, requests));
        KafkaInput {
            runtime,
            events: received,
            commits,
        }
    }
}

impl Consumer {
    /// Reads batches and hands their events to the driver until the driver
    /// goes away or the consumer fails; commits what it is asked to.
    async fn run(
        mut self,
        events: mpsc::Sender<Result<SourceEvent, JobError>>,
        mut commits: mpsc::Receiver<CommitRequest>,
    ) {
        loop {
            while let Ok(request) = commits.try_recv() {
                self.commit(request);
            }
            let next = self.next_events().await;
            let failed = next.is_err();
            let batch: Vec<Result<SourceEvent, JobError>> = match next {
                // Quiet when nothing came: the driver gets a round to carry
                // out what is due (a barrier, a stop) at every batch wait.
                Ok(()) if self.pending.is_empty() => vec![Ok(SourceEvent::Quiet)],
                Ok(()) => self.pending.drain(..).map(Ok).collect(),
                Err(error) => vec![Err(error)],
            };
            for event in batch {
                // A full channel waits for the driver, which may itself be
                // waiting for a commit: serve commits meanwhile.
                loop {
                    tokio::select! {
                        permit = events.reserve() => {
                            let Ok(permit) = permit else { return };
                            permit.send(event);
                            break;
                        }
                        Some(request) = commits.recv() => self.commit(request),
                    }
                }
            }
            if failed {
                return;
            }
        }
    }

    fn commit(&mut self, (positions, reply): CommitRequest) {
        let committed = self.source.commit(&positions);
        let measure = committed.is_ok();
        // The driver waits for the answer, not for the lag.
        let _ = reply.send(committed);
        if measure {
            self.metrics.set_consumer_lag(self.source.lag(LAG_TIMEOUT));
        }
    }

    /// One batch of the consumer as driver events, in `pending`.
    async fn next_events(&mut self) -> Result<(), JobError> {
        let batch = self.source.next_batch().await?;
        if let Some(error) = self.catalog.take_error() {
            return Err(error.into());
        }
        let received = Instant::now();
        for event in &batch.rebalances {
            self.rebalance(event, received);
        }
        self.messages(&batch.messages, received)?;
        self.idle_check(Instant::now());
        Ok(())
    }

    fn rebalance(&mut self, event: &RebalanceEvent, now: Instant) {
        match event {
            RebalanceEvent::Assigned(partitions) => {
                let tasks = partition_numbers(partitions);
                for &task in &tasks {
                    for input in 0..self.inputs.inputs.len() {
                        self.activity.entry((task, input)).or_insert(Activity {
                            last_message: now,
                            idle: false,
                        });
                    }
                }
                tracing::info!("assigned {}", describe(partitions));
                self.pending.push_back(SourceEvent::Assigned(tasks));
            }
            RebalanceEvent::Revoked(partitions) => {
                let tasks = partition_numbers(partitions);
                self.activity.retain(|(task, _), _| !tasks.contains(task));
                tracing::info!("revoked {}", describe(partitions));
                self.pending.push_back(SourceEvent::Revoked(tasks));
            }
            RebalanceEvent::Failed(problem) => {
                tracing::warn!("consumer group: {problem}; handing back every partition");
                let tasks: BTreeSet<TaskId> = self.activity.keys().map(|(t, _)| *t).collect();
                self.activity.clear();
                self.pending
                    .push_back(SourceEvent::Revoked(tasks.into_iter().collect()));
            }
        }
    }

    /// Decodes `messages` per partition, in partition order.
    fn messages(&mut self, messages: &[SourceMessage], received: Instant) -> Result<(), JobError> {
        if messages.is_empty() {
            return Ok(());
        }
        self.messages_in
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        let mut by_partition: BTreeMap<TaskId, Vec<SourceMessage>> = BTreeMap::new();
        for message in messages {
            by_partition
                .entry(message.partition)
                .or_default()
                .push(message.clone());
        }
        for (task, messages) in by_partition {
            let chunks = self.inputs.decode(&messages, self.max_message_bytes)?;
            for chunk in chunks {
                let stream = self.inputs.inputs[chunk.input].stream;
                let activity = self
                    .activity
                    .entry((task, chunk.input))
                    .or_insert(Activity {
                        last_message: received,
                        idle: false,
                    });
                activity.last_message = received;
                if std::mem::replace(&mut activity.idle, false) {
                    self.pending.push_back(SourceEvent::Idle {
                        task,
                        stream,
                        idle: false,
                    });
                }
                let topic = &self.inputs.inputs[chunk.input].topic;
                let batch = source_batch(task, stream, topic, chunk, received);
                self.pending.push_back(SourceEvent::Batch(Box::new(batch)));
            }
        }
        Ok(())
    }

    /// Inputs of a task quiet for the idle timeout stop holding time back.
    fn idle_check(&mut self, now: Instant) {
        for (&(task, input), activity) in &mut self.activity {
            if activity.idle
                || now.saturating_duration_since(activity.last_message) < self.idle_timeout
            {
                continue;
            }
            activity.idle = true;
            self.pending.push_back(SourceEvent::Idle {
                task,
                stream: self.inputs.inputs[input].stream,
                idle: true,
            });
        }
    }
}

impl Source for KafkaInput {
    fn stream(&self) -> Option<usize> {
        None
    }

    fn next(&mut self) -> Result<SourceEvent, RunError> {
        match self.runtime.block_on(self.events.recv()) {
            Some(Ok(event)) => Ok(event),
            Some(Err(error)) => Err(connector(error)),
            None => Err(RunError::ReaderLost("the Kafka consumer".into())),
        }
    }

    fn try_next(&mut self) -> Result<Option<SourceEvent>, RunError> {
        match self.events.try_recv() {
            Ok(Ok(event)) => Ok(Some(event)),
            Ok(Err(error)) => Err(connector(error)),
            Err(mpsc::error::TryRecvError::Empty) => Ok(None),
            Err(mpsc::error::TryRecvError::Disconnected) => {
                Err(RunError::ReaderLost("the Kafka consumer".into()))
            }
        }
    }

    fn commit(&mut self, positions: &[SourceOffset]) -> Result<(), RunError> {
        let (reply, answer) = oneshot::channel();
        let lost = || RunError::ReaderLost("the Kafka consumer".into());
        self.runtime
            .block_on(self.commits.send((positions.to_vec(), reply)))
            .map_err(|_| lost())?;
        self.runtime
            .block_on(answer)
            .map_err(|_| lost())?
            .map_err(connector)
    }
}

/// The driver's batch of one decoded chunk of partition `task` of `topic`.
fn source_batch(
    task: TaskId,
    stream: usize,
    topic: &str,
    chunk: DecodedChunk<'_>,
    received: Instant,
) -> SourceBatch {
    let source: Arc<str> = Arc::from(format!("{topic}/{task}"));
    let origin = |record_number: i64| -> MessageOrigin {
        let (partition, offset) = split_record_number(record_number);
        match chunk.messages.get(&offset) {
            Some(message) => MessageOrigin {
                record: record_of(message),
                payload: message.payload.clone(),
            },
            // Every record of a chunk is one of its messages; should one
            // not be, its record still names where it was.
            None => MessageOrigin {
                record: SourceRecord {
                    topic: topic.to_string(),
                    partition,
                    offset,
                    timestamp: None,
                    key: None,
                },
                payload: Vec::new(),
            },
        }
    };
    // Dead letters carry the message unchanged and name its offset.
    let rejected = chunk
        .decoded
        .rejects
        .iter()
        .map(|rejection| {
            let origin = origin(rejection.line);
            SourcedRejection {
                source: source.clone(),
                rejection: Rejection {
                    line: origin.record.offset,
                    reason: rejection.reason,
                    detail: rejection.detail.clone(),
                    raw: origin.payload,
                },
                record: Some(origin.record),
            }
        })
        .collect();
    let messages = chunk.chunk.lines.iter().map(|(n, _)| origin(*n)).collect();
    let consumed = chunk
        .messages
        .keys()
        .next_back()
        .map(|&last| vec![(topic.to_string(), last + 1)])
        .unwrap_or_default();
    SourceBatch {
        task,
        stream,
        events: chunk.decoded.batch,
        rejected,
        origins: Origins::Messages {
            source,
            chunk_lines: chunk.decoded.chunk_lines,
            messages,
        },
        consumed,
        received: Some(received),
    }
}

fn record_of(message: &SourceMessage) -> SourceRecord {
    SourceRecord {
        topic: message.topic.clone(),
        partition: message.partition,
        offset: message.offset,
        timestamp: message.timestamp,
        key: message.key.clone(),
    }
}

fn connector(error: impl std::error::Error + Send + Sync + 'static) -> RunError {
    RunError::Connector(Box::new(error))
}

fn partition_numbers(partitions: &[TopicPartition]) -> Vec<TaskId> {
    partitions
        .iter()
        .map(|p| p.partition)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn describe(partitions: &[TopicPartition]) -> String {
    partitions
        .iter()
        .map(|p| format!("{}/{}", p.topic, p.partition))
        .collect::<Vec<_>>()
        .join(", ")
}
