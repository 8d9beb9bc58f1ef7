//! The job's input as a driver [`Source`]: the consumer group's messages,
//! decoded per partition and topic; partition assignments and revocations
//! as task changes (partition N of every input topic is task N, partition N
//! of the internal topics of group G is task N of group G, see
//! [`super::layout`]); and partitions quiet for the idle timeout as idle
//! streams, so they stop holding time back.
//!
//! Events of streams that are re-keyed are forwarded to their internal
//! topics as they are read; what the internal topics deliver is merged
//! per task ([`super::repartition`]) before it is decoded like any input.
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
use super::repartition::merge::parse_upstream_position;
use super::repartition::{Merged, ReadTo, Repartition};
use super::resume::CheckpointCatalog;
use super::{JobError, LAG_TIMEOUT};
use crate::checkpoint::SourceOffset;
use crate::driver::{
    task_group, task_partition, MessageOrigin, Origins, RunError, Source, SourceBatch, SourceEvent,
    TaskId,
};
use crate::kafka::{
    KafkaConnectorError, KafkaSource, RebalanceEvent, SourceMessage, TopicPartition,
};
use crate::metrics::Metrics;
use crate::position::split_record_number;
use crate::reject::{Rejection, SourceRecord, SourcedRejection};
use crate::time::admission::wall_clock_now;
use crate::time::SourceProgress;

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
    repartition: Repartition,
}

/// What the driver asks of the consumer, and where the answer goes.
enum Request {
    /// Commit these positions (a checkpoint covers them).
    Commit(
        Vec<SourceOffset>,
        oneshot::Sender<Result<(), KafkaConnectorError>>,
    ),
    /// Make what was forwarded durable (a barrier).
    Flush(oneshot::Sender<Result<(), KafkaConnectorError>>),
}

/// The driver's side of the consumer.
pub struct KafkaInput {
    runtime: Handle,
    events: mpsc::Receiver<Result<SourceEvent, JobError>>,
    requests: mpsc::Sender<Request>,
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
        repartition: Repartition,
        settings: InputSettings,
    ) -> Self {
        let (events, received) = mpsc::channel(settings.capacity.max(1));
        let (requests, requested) = mpsc::channel(1);
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
            repartition,
        };
        runtime.spawn(consumer.run(events, requested));
        KafkaInput {
            runtime,
            events: received,
            requests,
        }
    }
}

impl Consumer {
    /// Reads batches and hands their events to the driver until the driver
    /// goes away or the consumer fails; commits what it is asked to.
    async fn run(
        mut self,
        events: mpsc::Sender<Result<SourceEvent, JobError>>,
        mut requests: mpsc::Receiver<Request>,
    ) {
        loop {
            while let Ok(request) = requests.try_recv() {
                self.serve(request).await;
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
                        Some(request) = requests.recv() => self.serve(request).await,
                    }
                }
            }
            if failed {
                return;
            }
        }
    }

    async fn serve(&mut self, request: Request) {
        match request {
            Request::Commit(positions, reply) => self.commit(&positions, reply),
            Request::Flush(reply) => {
                let flushed = match self.repartition.forwarder.as_mut() {
                    Some(forwarder) => forwarder.flush().await,
                    None => Ok(()),
                };
                // The driver waits for the answer; gone, it has stopped.
                let _ = reply.send(flushed);
            }
        }
    }

    fn commit(
        &mut self,
        positions: &[SourceOffset],
        reply: oneshot::Sender<Result<(), KafkaConnectorError>>,
    ) {
        // Upstream positions of the internal topics are checkpoint state,
        // not offsets of any topic.
        let offsets: Vec<SourceOffset> = positions
            .iter()
            .filter(|p| parse_upstream_position(&p.topic).is_none())
            .cloned()
            .collect();
        let committed = self.source.commit(&offsets);
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
            self.rebalance(event, received).await?;
        }
        self.messages(&batch.messages, received).await?;
        self.idle_check(Instant::now());
        if let Some(forwarder) = self.repartition.forwarder.as_mut() {
            forwarder.markers(Instant::now()).await?;
        }
        Ok(())
    }

    /// The inputs (indices into `self.inputs`) task `task` reads: every
    /// input for a task of the input topics, its group's streams for others.
    fn task_inputs(&self, task: TaskId) -> Vec<usize> {
        let group = task_group(task);
        let streams = usize::try_from(group)
            .ok()
            .and_then(|g| self.repartition.layout.groups.get(g))
            .map(|g| &g.streams);
        (0..self.inputs.inputs.len())
            .filter(|&i| {
                group == 0 || streams.is_some_and(|s| s.contains(&self.inputs.inputs[i].stream))
            })
            .collect()
    }

    fn tasks_of(&self, partitions: &[TopicPartition]) -> Vec<TaskId> {
        partitions
            .iter()
            .map(|p| self.repartition.task_of(&p.topic, p.partition))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// What was forwarded is durable before revoked partitions' state is
    /// handed back, and their upstream state is dropped.
    async fn hand_back(&mut self, tasks: &[TaskId]) -> Result<(), JobError> {
        if let Some(forwarder) = self.repartition.forwarder.as_mut() {
            forwarder.flush().await?;
            for &task in tasks.iter().filter(|&&t| task_group(t) == 0) {
                forwarder.revoke(task);
            }
        }
        for &task in tasks {
            self.repartition.upstreams.forget(task);
        }
        self.activity.retain(|(task, _), _| !tasks.contains(task));
        Ok(())
    }

    async fn rebalance(&mut self, event: &RebalanceEvent, now: Instant) -> Result<(), JobError> {
        match event {
            RebalanceEvent::Assigned(partitions) => {
                let tasks = self.tasks_of(partitions);
                for &task in &tasks {
                    for input in self.task_inputs(task) {
                        self.activity.entry((task, input)).or_insert(Activity {
                            last_message: now,
                            idle: false,
                        });
                    }
                    if task_group(task) != 0 {
                        let positions = self.catalog.upstream_positions(task);
                        self.repartition.upstreams.resume(task, &positions);
                    }
                }
                tracing::info!("assigned {}", describe(partitions));
                self.pending.push_back(SourceEvent::Assigned(tasks.clone()));
                // A merged stream's clock follows its upstream tasks from
                // the start: its own events interleave several input
                // partitions, so their newest time says nothing.
                for task in tasks.into_iter().filter(|&t| task_group(t) != 0) {
                    for input in self.task_inputs(task) {
                        self.pending.push_back(SourceEvent::Progress {
                            task,
                            stream: self.inputs.inputs[input].stream,
                            progress: SourceProgress::Unknown,
                        });
                    }
                }
            }
            RebalanceEvent::Revoked(partitions) => {
                let tasks = self.tasks_of(partitions);
                self.hand_back(&tasks).await?;
                tracing::info!("revoked {}", describe(partitions));
                self.pending.push_back(SourceEvent::Revoked(tasks));
            }
            RebalanceEvent::Failed(problem) => {
                tracing::warn!("consumer group: {problem}; handing back every partition");
                let tasks: Vec<TaskId> = self
                    .activity
                    .keys()
                    .map(|(t, _)| *t)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                self.hand_back(&tasks).await?;
                self.pending.push_back(SourceEvent::Revoked(tasks));
            }
        }
        Ok(())
    }

    /// Decodes `messages` per task, in task order.
    async fn messages(
        &mut self,
        messages: &[SourceMessage],
        received: Instant,
    ) -> Result<(), JobError> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut by_task: BTreeMap<TaskId, Vec<SourceMessage>> = BTreeMap::new();
        for message in messages {
            by_task
                .entry(self.repartition.task_of(&message.topic, message.partition))
                .or_default()
                .push(message.clone());
        }
        for (task, messages) in by_task {
            if task_group(task) == 0 {
                self.messages_in
                    .fetch_add(messages.len() as u64, Ordering::Relaxed);
                self.input_messages(task, &messages, received).await?;
            } else {
                self.merged_messages(task, &messages, received)?;
            }
        }
        for (task, stream, progress) in self.repartition.upstreams.changed() {
            self.pending.push_back(SourceEvent::Progress {
                task,
                stream,
                progress,
            });
        }
        Ok(())
    }

    /// Messages of the input topics: decoded for the task's own rules,
    /// and forwarded where a stream is re-keyed.
    async fn input_messages(
        &mut self,
        task: TaskId,
        messages: &[SourceMessage],
        received: Instant,
    ) -> Result<(), JobError> {
        let chunks = self.inputs.decode(messages, self.max_message_bytes)?;
        for chunk in chunks {
            // Nothing of the inputs (their decoders are not `Sync`) is
            // held across the forwarding's awaits.
            let (stream, topic, time_field) = {
                let input = &self.inputs.inputs[chunk.input];
                (input.stream, input.topic.clone(), input.time_field.clone())
            };
            if let Some(forwarder) = self.repartition.forwarder.as_mut() {
                if forwarder.forwards(stream) {
                    let events = chunk.accepted(&time_field);
                    forwarder
                        .forward(stream, task, &events, wall_clock_now())
                        .await?;
                }
            }
            self.active(task, chunk.input, received);
            // Rejected records and read positions go to the task even when
            // none of its rules reads the events.
            let own = self.repartition.layout.groups[0].streams.contains(&stream);
            let mut batch = source_batch(task, stream, &topic, chunk, received);
            if !own {
                batch.events = batch.events.slice(0, 0);
            }
            self.pending.push_back(SourceEvent::Batch(Box::new(batch)));
        }
        Ok(())
    }

    /// Messages of the internal topics of a repartitioned task: markers
    /// and replays are taken note of, the rest decoded as the input
    /// messages they carry (so dead letters name where they came from).
    fn merged_messages(
        &mut self,
        task: TaskId,
        messages: &[SourceMessage],
        received: Instant,
    ) -> Result<(), JobError> {
        let Merged { read, carried } = self.repartition.merge(task, messages, &self.inputs);
        let mut chunks: BTreeMap<usize, DecodedChunk<'_>> = self
            .inputs
            .decode(&carried, self.max_message_bytes)?
            .into_iter()
            .map(|chunk| (chunk.input, chunk))
            .collect();
        for (
            topic,
            ReadTo {
                stream,
                input,
                next,
            },
        ) in read
        {
            self.active(task, input, received);
            let mut consumed = vec![(topic.clone(), next)];
            consumed.extend(self.repartition.upstreams.positions(task, &topic));
            let mut batch = match chunks.remove(&input) {
                Some(chunk) => source_batch(task, stream, &topic, chunk, received),
                None => SourceBatch {
                    task,
                    stream,
                    events: self.inputs.empty_batch(input),
                    rejected: Vec::new(),
                    origins: Origins::Offsets {
                        source: Arc::from(topic.as_str()),
                    },
                    consumed: Vec::new(),
                    received: Some(received),
                },
            };
            batch.consumed = consumed;
            self.pending.push_back(SourceEvent::Batch(Box::new(batch)));
        }
        Ok(())
    }

    /// Input `input` of task `task` had a message: it is not idle.
    fn active(&mut self, task: TaskId, input: usize, received: Instant) {
        let activity = self.activity.entry((task, input)).or_insert(Activity {
            last_message: received,
            idle: false,
        });
        activity.last_message = received;
        if std::mem::replace(&mut activity.idle, false) {
            self.pending.push_back(SourceEvent::Idle {
                task,
                stream: self.inputs.inputs[input].stream,
                idle: false,
            });
        }
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
            let stream = self.inputs.inputs[input].stream;
            if task_group(task) == 0 {
                if let Some(forwarder) = self.repartition.forwarder.as_mut() {
                    forwarder.set_idle(stream, task, true);
                }
            }
            self.pending.push_back(SourceEvent::Idle {
                task,
                stream,
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

    fn barrier(&mut self) -> Result<(), RunError> {
        let (reply, answer) = oneshot::channel();
        self.ask(Request::Flush(reply), answer)
    }

    fn commit(&mut self, positions: &[SourceOffset]) -> Result<(), RunError> {
        let (reply, answer) = oneshot::channel();
        self.ask(Request::Commit(positions.to_vec(), reply), answer)
    }
}

impl KafkaInput {
    /// Sends `request` to the consumer and waits for its `answer`.
    fn ask(
        &mut self,
        request: Request,
        answer: oneshot::Receiver<Result<(), KafkaConnectorError>>,
    ) -> Result<(), RunError> {
        let lost = || RunError::ReaderLost("the Kafka consumer".into());
        self.runtime
            .block_on(self.requests.send(request))
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
    let source: Arc<str> = Arc::from(format!("{topic}/{}", task_partition(task)));
    let origin = |record_number: i64| -> MessageOrigin {
        let (partition, offset) = split_record_number(record_number);
        match chunk.messages.get(&record_number) {
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
        .values()
        .map(|m| m.offset)
        .max()
        .map(|last| vec![(topic.to_string(), last + 1)])
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

fn describe(partitions: &[TopicPartition]) -> String {
    partitions
        .iter()
        .map(|p| format!("{}/{}", p.topic, p.partition))
        .collect::<Vec<_>>()
        .join(", ")
}
