//! `eddy run --config`: the long-lived streaming job on Kafka.
//!
//! One consumer in the group reads every input topic; the partitions it is
//! given are grouped by number into [`task::PartitionTask`]s (partition N
//! of every topic, one pipeline, one checkpoint store). The loop:
//!
//! 1. read a bounded batch of messages (or a rebalance, or a signal);
//! 2. on revocation, checkpoint the revoked tasks and drop them; on
//!    assignment, build tasks from the checkpoint their partitions resumed
//!    from;
//! 3. decode each partition's messages, push them to its task's pipeline,
//!    hand derived events to the sinks and rejected messages to the dead
//!    letter output;
//! 4. every `checkpoint.interval`, a barrier: wait until the sinks have
//!    everything handed to them, store every task's checkpoint, then commit
//!    the offsets they record. Offsets are never committed before the
//!    derived events of the messages before them are acknowledged, and
//!    never without the state that goes with them: after a crash the job
//!    resumes from the last checkpoint and replays what followed, and the
//!    replayed derived events carry the ids they had the first time.
//!
//! Backpressure: the loop hands a batch to the sinks before reading the
//! next one, and a sink with too many unacknowledged messages is waited
//! for, so a slow broker slows consumption instead of growing memory.

mod inputs;
mod outputs;
mod partitioning;
mod resume;
pub mod rules;
mod task;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dsl::plan::Program;
use operators::Limits;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

use crate::checkpoint::CheckpointError;
use crate::config::Config;
use crate::decode::DecodeError;
use crate::kafka::chunk::split_record_number;
use crate::kafka::{
    KafkaConnectorError, KafkaSource, RebalanceEvent, SourceMessage, SourceOptions, TopicPartition,
};
use crate::metrics::Metrics;
use crate::pipeline::{PipelineError, Progress};
use crate::reject::RejectReason;

use inputs::JobInputs;
use outputs::Outputs;
use resume::CheckpointCatalog;
use rules::RuleWatch;
use task::PartitionTask;

pub use rules::JobRules;

/// How long a graceful shutdown may take to drain, checkpoint and commit.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the gauges (open state, watermark lag) are refreshed.
const GAUGE_INTERVAL: Duration = Duration::from_secs(1);

/// How long a checkpoint waits for the broker's high watermarks (consumer lag).
const LAG_TIMEOUT: Duration = Duration::from_secs(1);

/// How long startup waits for a topic's metadata.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors that stop the job. Input problems are never among them: those go
/// to the dead-letter output.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Kafka(#[from] KafkaConnectorError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("writing {name}: {source}")]
    Output {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "stream `{0}` is bound to a file in the config, but other streams read Kafka; \
         run file inputs with `eddy run RULES --input STREAM=PATH`"
    )]
    MixedSources(String),
    #[error("streams `{first}` and `{second}` both read topic `{topic}`; give each its own topic")]
    SharedTopic {
        topic: String,
        first: String,
        second: String,
    },
    #[error("the shutdown did not finish within {0:?}; offsets after the last checkpoint were not committed")]
    DrainTimeout(Duration),
}

/// What a job did, reported when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobSummary {
    pub messages_in: u64,
    pub events_out: u64,
    pub rejected: BTreeMap<RejectReason, u64>,
    pub checkpoints: u64,
}

/// How the job is told to reload its rules or to stop.
pub struct Control<S> {
    /// Completes at SIGTERM or SIGINT.
    pub shutdown: S,
    /// A message per `POST /reload`.
    pub reloads: mpsc::Receiver<()>,
    pub metrics: Arc<Metrics>,
}

/// Runs `rules` as configured until `control.shutdown` completes, then
/// drains, checkpoints and commits. Reloads the rules on SIGHUP, on a
/// message of `control.reloads`, and when a rule file changes.
pub async fn run(
    rules: JobRules,
    config: &Config,
    control: Control<impl Future<Output = ()>>,
) -> Result<JobSummary, JobError> {
    let Control {
        shutdown,
        mut reloads,
        metrics,
    } = control;
    let mut watch = RuleWatch::new(&rules.files);
    let mut job = Job::start(rules, config, metrics)?;
    let mut hangups = hangup_signals();
    tokio::pin!(shutdown);
    let mut last_checkpoint = Instant::now();
    let mut last_gauges = Instant::now();
    loop {
        let batch = tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(()) = reloads.recv() => {
                job.reload("POST /reload").await?;
                continue;
            }
            Some(()) = next_hangup(&mut hangups) => {
                job.reload("SIGHUP").await?;
                continue;
            }
            batch = job.source.next_batch() => batch?,
        };
        if let Some(error) = job.catalog.take_error() {
            return Err(error.into());
        }
        let received = Instant::now();
        for event in &batch.rebalances {
            job.rebalance(event).await?;
        }
        job.process(&batch.messages, received).await?;
        job.idle_check().await?;
        if last_checkpoint.elapsed() >= config.checkpoint.interval {
            job.checkpoint().await?;
            last_checkpoint = Instant::now();
        }
        if last_gauges.elapsed() >= GAUGE_INTERVAL {
            job.refresh_gauges();
            last_gauges = Instant::now();
            if watch.changed() {
                job.reload("a rule file changed").await?;
            }
        }
    }
    job.metrics.set_ready(false);
    tracing::info!("shutting down: draining, checkpointing, committing");
    tokio::time::timeout(DRAIN_TIMEOUT, job.checkpoint())
        .await
        .map_err(|_| JobError::DrainTimeout(DRAIN_TIMEOUT))??;
    Ok(job.summary())
}

/// SIGHUP as a stream; `None` where it cannot be listened to.
fn hangup_signals() -> Option<Signal> {
    signal(SignalKind::hangup())
        .map_err(|e| tracing::warn!("no reload on SIGHUP: {e}"))
        .ok()
}

async fn next_hangup(signals: &mut Option<Signal>) -> Option<()> {
    match signals {
        Some(signals) => signals.recv().await,
        None => std::future::pending().await,
    }
}

struct Job {
    program: Program,
    /// The rule files, read again at a reload.
    files: Vec<PathBuf>,
    config: Config,
    inputs: JobInputs,
    catalog: Arc<CheckpointCatalog>,
    source: KafkaSource,
    outputs: Outputs,
    tasks: BTreeMap<i32, PartitionTask>,
    max_message_bytes: usize,
    idle_timeout: Duration,
    limits: Limits,
    messages_in: u64,
    checkpoints: u64,
    metrics: Arc<Metrics>,
}

impl Job {
    fn start(rules: JobRules, config: &Config, metrics: Arc<Metrics>) -> Result<Self, JobError> {
        let JobRules {
            files,
            program,
            ruleset,
        } = rules;
        let inputs = JobInputs::new(&program, config)?;
        let catalog = Arc::new(CheckpointCatalog::open(&config.checkpoint.dir, ruleset)?);
        let outputs = Outputs::open(&program, config)?;
        let source = KafkaSource::open_resuming(
            &config.kafka,
            &inputs.topics(),
            catalog.clone(),
            SourceOptions::from_config(config),
        )?;
        let partitioned = |stream: &str| {
            inputs.inputs.iter().any(|i| {
                i.name == stream
                    && source
                        .partition_count(&i.topic, METADATA_TIMEOUT)
                        .is_some_and(|n| n > 1)
            })
        };
        for note in partitioning::notes(&program, config, partitioned) {
            tracing::warn!("{note}");
        }
        tracing::info!(
            "eddy job: group `{}` on {}, reading {}; writing {}; checkpoints in {}",
            config.kafka.group_id,
            config.kafka.brokers,
            inputs.topics().join(", "),
            outputs.describe().join(", "),
            config.checkpoint.dir.display(),
        );
        Ok(Job {
            program,
            files,
            config: config.clone(),
            inputs,
            catalog,
            source,
            outputs,
            tasks: BTreeMap::new(),
            max_message_bytes: config.max_message_bytes.get(),
            idle_timeout: config.idle_partition_timeout,
            limits: Limits {
                max_candidates_per_key: Some(config.limits.max_candidates_per_key.get()),
                max_candidates_per_rule: Some(config.limits.max_candidates_per_rule.get()),
                max_windows_per_rule: Some(config.limits.max_windows_per_rule.get()),
            },
            messages_in: 0,
            checkpoints: 0,
            metrics,
        })
    }

    async fn rebalance(&mut self, event: &RebalanceEvent) -> Result<(), JobError> {
        match event {
            RebalanceEvent::Assigned(partitions) => {
                for number in partition_numbers(partitions) {
                    if self.tasks.contains_key(&number) {
                        continue;
                    }
                    let task = self.build_task(number)?;
                    self.tasks.insert(number, task);
                }
                tracing::info!("assigned {}", describe(partitions));
            }
            RebalanceEvent::Revoked(partitions) => {
                let numbers = partition_numbers(partitions);
                self.hand_back(&numbers).await?;
                tracing::info!("revoked {}", describe(partitions));
            }
            RebalanceEvent::Failed(problem) => {
                tracing::warn!("consumer group: {problem}; handing back every partition");
                let numbers: Vec<i32> = self.tasks.keys().copied().collect();
                self.hand_back(&numbers).await?;
            }
        }
        self.metrics.set_partitions(self.tasks.len());
        self.metrics.set_ready(!self.tasks.is_empty());
        Ok(())
    }

    fn build_task(&self, number: i32) -> Result<PartitionTask, JobError> {
        let inputs: Vec<(usize, &str)> = self
            .inputs
            .inputs
            .iter()
            .map(|i| (i.stream, i.name.as_str()))
            .collect();
        let mut task =
            PartitionTask::new(&self.program, &inputs, number, &self.limits, Instant::now())?;
        if let Some(checkpoint) = self.catalog.take(number)? {
            task.restore(&checkpoint)?;
            tracing::info!(
                "partition {number}: resumed from checkpoint {}",
                checkpoint.id
            );
        }
        Ok(task)
    }

    /// Checkpoints the tasks of partitions this instance no longer owns, so
    /// their next owner resumes from their latest state, and drops them.
    async fn hand_back(&mut self, numbers: &[i32]) -> Result<(), JobError> {
        if !numbers.iter().any(|n| self.tasks.contains_key(n)) {
            return Ok(());
        }
        self.outputs.barrier().await?;
        for number in numbers {
            if let Some(mut task) = self.tasks.remove(number) {
                task.checkpoint(&self.catalog)?;
            }
        }
        self.checkpoints += 1;
        Ok(())
    }

    async fn process(
        &mut self,
        messages: &[SourceMessage],
        received: Instant,
    ) -> Result<(), JobError> {
        if messages.is_empty() {
            return Ok(());
        }
        self.messages_in += messages.len() as u64;
        let now = Instant::now();
        let mut by_partition: BTreeMap<i32, Vec<SourceMessage>> = BTreeMap::new();
        for message in messages {
            by_partition
                .entry(message.partition)
                .or_default()
                .push(message.clone());
        }
        for (number, messages) in by_partition {
            if !self.tasks.contains_key(&number) {
                // Messages come after their assignment; be safe all the same.
                let task = self.build_task(number)?;
                self.tasks.insert(number, task);
            }
            let chunks = self.inputs.decode(&messages, self.max_message_bytes)?;
            for chunk in chunks {
                let input = &self.inputs.inputs[chunk.input];
                let (stream, name, topic) = (input.stream, input.name.clone(), input.topic.clone());
                self.metrics
                    .events_in(&name, chunk.decoded.batch.num_rows() as u64);
                for rejection in &chunk.decoded.rejects {
                    let (_, offset) = split_record_number(rejection.line);
                    if let Some(message) = chunk.messages.get(&offset) {
                        self.metrics.rejected(rejection.reason);
                        self.outputs
                            .reject(&name, message, rejection.reason, &rejection.detail)
                            .await?;
                    }
                }
                log_rejections(
                    &topic,
                    number,
                    chunk.decoded.rejects.iter().map(|r| r.reason),
                );
                let Some(task) = self.tasks.get_mut(&number) else {
                    continue;
                };
                let woke = task.active(chunk.input, now)?;
                let progress = task.pipeline().push(stream, &chunk.decoded.batch)?;
                for message in chunk.messages.values() {
                    task.consumed(&message.topic, message.offset);
                }
                self.emit(woke, None).await?;
                for late in &progress.late {
                    let Some(&line) = chunk.decoded.chunk_lines.get(late.row) else {
                        continue;
                    };
                    let (_, offset) = split_record_number(chunk.chunk.lines[line].0);
                    if let Some(message) = chunk.messages.get(&offset) {
                        let detail = format!(
                            "event time {} ms is before the watermark {} ms of stream `{name}`",
                            late.time, late.watermark
                        );
                        self.metrics.rejected(RejectReason::Late);
                        self.metrics.late(&name);
                        self.outputs
                            .reject(&name, message, RejectReason::Late, &detail)
                            .await?;
                    }
                }
                log_rejections(
                    &topic,
                    number,
                    progress.late.iter().map(|_| RejectReason::Late),
                );
                let ready = Progress {
                    late: Vec::new(),
                    ready: progress.ready,
                };
                self.emit(ready, Some(received)).await?;
            }
        }
        Ok(())
    }

    async fn idle_check(&mut self) -> Result<(), JobError> {
        let now = Instant::now();
        let mut ready = Vec::new();
        for task in self.tasks.values_mut() {
            ready.push(task.idle_check(now, self.idle_timeout)?);
        }
        for progress in ready {
            self.emit(progress, None).await?;
        }
        Ok(())
    }

    /// Hands derived events to the sinks; `received`: when the messages
    /// that completed them were read (`None` when time passing did).
    async fn emit(
        &mut self,
        progress: Progress,
        received: Option<Instant>,
    ) -> Result<(), JobError> {
        for event in &progress.ready {
            self.outputs.emit(event).await?;
            if let Some(rule) = self.program.rules.get(event.rule) {
                self.metrics.derived(&rule.name);
            }
        }
        if let Some(received) = received.filter(|_| !progress.ready.is_empty()) {
            let took = received.elapsed();
            for _ in &progress.ready {
                self.metrics.latency(took);
            }
        }
        Ok(())
    }

    /// Open state per rule and watermark lag per stream, over the tasks.
    fn refresh_gauges(&self) {
        let mut open: BTreeMap<String, i64> = BTreeMap::new();
        let mut lag: BTreeMap<String, f64> = BTreeMap::new();
        let mut hits: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
        let now_ms = chrono::Utc::now().timestamp_millis();
        for task in self.tasks.values() {
            for (rule, size) in task.pipeline_ref().rule_states() {
                *open.entry(rule.to_string()).or_default() += size.entries as i64;
            }
            for (rule, hit) in task.pipeline_ref().limit_hits() {
                for (limit, count) in [
                    ("max_candidates_per_key", hit.candidates_evicted),
                    ("max_candidates_per_rule", hit.candidates_refused),
                    ("max_windows_per_rule", hit.windows_refused),
                ] {
                    *hits.entry((rule.to_string(), limit)).or_default() += count;
                }
            }
            for input in &self.inputs.inputs {
                let Some(watermark) = task.pipeline_ref().stream_watermark(input.stream) else {
                    continue;
                };
                if watermark == dsl::plan::Millis::MIN {
                    continue;
                }
                let seconds = now_ms.saturating_sub(watermark) as f64 / 1000.0;
                let entry = lag.entry(input.name.clone()).or_insert(seconds);
                *entry = entry.max(seconds);
            }
        }
        self.metrics.set_open_state(open);
        self.metrics.set_limit_hits(hits);
        self.metrics.set_watermark_lag(lag);
    }

    /// The barrier: sinks acknowledged, every task's checkpoint stored,
    /// then the offsets committed.
    async fn checkpoint(&mut self) -> Result<(), JobError> {
        let started = Instant::now();
        self.outputs.barrier().await?;
        if self.tasks.is_empty() {
            return Ok(());
        }
        let mut offsets = Vec::new();
        let mut bytes = 0;
        for task in self.tasks.values_mut() {
            let stored = task.checkpoint(&self.catalog)?;
            offsets.extend(stored.offsets);
            bytes += stored.state_bytes;
        }
        self.source.commit(&offsets)?;
        self.checkpoints += 1;
        self.metrics.checkpoint(started.elapsed(), bytes);
        self.metrics.set_consumer_lag(self.source.lag(LAG_TIMEOUT));
        tracing::info!(
            "checkpoint of partitions {:?} stored and committed: {bytes} bytes of state in {} ms",
            self.tasks.keys().collect::<Vec<_>>(),
            started.elapsed().as_millis()
        );
        Ok(())
    }

    /// Reads the rule files again and, if they compile and read the same
    /// streams, swaps the rules in every task: unchanged rules keep their
    /// state, changed and new ones start empty, removed ones drop theirs.
    /// A refused reload is logged and counted; the running rules go on.
    async fn reload(&mut self, trigger: &str) -> Result<(), JobError> {
        let new = match rules::recompile(&self.files, &self.program) {
            Ok(new) => new,
            Err(refusal) => {
                tracing::warn!("reload ({trigger}) refused, the running rules go on: {refusal}");
                self.metrics.reload("refused");
                return Ok(());
            }
        };
        if new.ruleset == self.catalog.ruleset() {
            tracing::info!("reload ({trigger}): the rules are unchanged");
            return Ok(());
        }
        let change = rules::describe_change(&self.program, &new.program);
        self.outputs.barrier().await?;
        for task in self.tasks.values_mut() {
            task.reload(&new.program, &self.limits, |name| {
                rules::unchanged(&self.program, &new.program, name)
            })?;
        }
        self.outputs.route(&new.program, &self.config)?;
        self.program = new.program;
        self.catalog.set_ruleset(new.ruleset);
        // At once: the newest checkpoint on disk must be of the running rules,
        // or a restart would refuse it.
        self.checkpoint().await?;
        self.metrics.reload("applied");
        tracing::info!("reloaded the rules ({trigger}): {change}");
        Ok(())
    }

    fn summary(&self) -> JobSummary {
        JobSummary {
            messages_in: self.messages_in,
            events_out: self.outputs.events_out(),
            rejected: self.outputs.rejected().clone(),
            checkpoints: self.checkpoints,
        }
    }
}

/// One log line per batch with rejected messages, never one per message.
fn log_rejections(topic: &str, partition: i32, reasons: impl Iterator<Item = RejectReason>) {
    let mut counts: BTreeMap<RejectReason, usize> = BTreeMap::new();
    for reason in reasons {
        *counts.entry(reason).or_default() += 1;
    }
    if counts.is_empty() {
        return;
    }
    let total: usize = counts.values().sum();
    let by_reason: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    tracing::warn!(
        "{topic}/{partition}: {total} messages rejected ({}) and sent to the dead-letter output",
        by_reason.join(", ")
    );
}

fn partition_numbers(partitions: &[TopicPartition]) -> Vec<i32> {
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
