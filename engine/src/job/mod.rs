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

mod gauges;
mod ingest;
mod inputs;
mod outputs;
mod partitioning;
mod partitions;
mod reloading;
mod resume;
pub mod rules;
mod task;

use std::collections::BTreeMap;
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
use crate::kafka::{KafkaConnectorError, KafkaSource, SourceOptions};
use crate::metrics::Metrics;
use crate::pipeline::PipelineError;
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
    #[error(transparent)]
    Output(crate::sink::SinkError),
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
    #[error(transparent)]
    Unsplittable(#[from] partitioning::Unsplittable),
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
        partitioning::check(&program, config, |stream| {
            let input = inputs.inputs.iter().find(|i| i.name == stream)?;
            let count = source.partition_count(&input.topic, METADATA_TIMEOUT);
            if count.is_none() {
                tracing::warn!(
                    "topic `{}` has no metadata yet: cannot check that the rules fit its \
                     partitions; taken as one partition",
                    input.topic
                );
            }
            count
        })?;
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

    fn summary(&self) -> JobSummary {
        JobSummary {
            messages_in: self.messages_in,
            events_out: self.outputs.events_out(),
            rejected: self.outputs.rejected().clone(),
            checkpoints: self.checkpoints,
        }
    }
}
