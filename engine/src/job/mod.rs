//! `eddy run --config`: the long-lived streaming job on Kafka or on the
//! event mesh (HTTP, AMQP), on the one driver ([`crate::driver`]).
//!
//! A mesh job ([`mesh`]) is one task fed by its HTTP streams' write-ahead
//! logs and its AMQP queues. On Kafka, one consumer in the group reads every input topic and the job's
//! internal repartition topics ([`input`]); the partitions it is given are
//! tasks of the driver (partition N of every input topic, or of every
//! internal topic of one group of rules: one pipeline, one checkpoint
//! series). Which rules run where is the job's [`layout`]: rules whose
//! topics are not split by their key read them re-keyed ([`repartition`]).
//! The driver runs on a thread of its own; this module's loop, on tokio,
//! turns signals, reload requests and timers into driver [`Command`]s:
//!
//! - every `checkpoint.interval`, a barrier: the sinks acknowledge
//!   everything handed to them, every task's checkpoint is stored, then the
//!   offsets they record are committed. Offsets are never committed before
//!   the derived events of the messages before them are acknowledged, and
//!   never without the state that goes with them: after a crash the job
//!   resumes from the last checkpoint and replays what followed, and the
//!   replayed derived events carry the ids they had the first time;
//! - on SIGHUP, `POST /reload` or a changed rule file, the rules are
//!   compiled again and, if they are accepted, swapped in every task;
//! - at SIGTERM or SIGINT, a last barrier, then the job stops.
//!
//! Backpressure: the driver hands a batch to the sinks before reading the
//! next one, and a sink with too many unacknowledged messages is waited
//! for, so a slow broker slows consumption instead of growing memory.

mod input;
mod inputs;
mod layout;
mod mesh;
mod observer;
mod repartition;
mod resume;
pub mod rules;
mod sinks;
mod store;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use dsl::plan::Program;
use operators::Limits;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::CheckpointError;
use crate::config::Config;
use crate::decode::DecodeError;
use crate::driver::{Command, Control as DriverControl, Driver, Reload, RunError, Source};
use crate::kafka::topics::{ensure_topics, partition_counts};
use crate::kafka::{KafkaConnectorError, KafkaSource, SourceOptions};
use crate::metrics::Metrics;
use crate::pipeline::PipelineError;
use crate::reject::RejectReason;

use input::{InputSettings, KafkaInput};
use inputs::JobInputs;
use layout::{JobLayout, LayoutShapes, Topology};
use mesh::http::HttpListeners;
use mesh::{MeshInput, MeshPlan};
use observer::JobObserver;
use repartition::{Forwarder, Repartition, Upstreams};
use resume::CheckpointCatalog;
use rules::RuleWatch;
use sinks::{JobDeadLetter, JobSinks};
use store::CatalogStore;

pub use rules::JobRules;

/// How long a graceful shutdown may take to drain, checkpoint and commit.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the gauges (open state, watermark lag) are refreshed and the
/// rule files looked at.
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
    #[error(transparent)]
    Run(#[from] RunError),
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
    #[error(
        "stream `{kafka}` reads Kafka and stream `{mesh}` the event mesh (http, amqp); \
         a job reads one or the other: run two jobs"
    )]
    KafkaAndMesh { kafka: String, mesh: String },
    #[error("http source: {0}")]
    HttpListener(String),
    #[error(transparent)]
    Wal(#[from] http_source::WalError),
    #[error(transparent)]
    Amqp(#[from] amqp::AmqpError),
    #[error("the webhook signing secret in ${var} {problem}")]
    WebhookSecret { var: String, problem: String },
    #[error("the shutdown did not finish within {0:?}; offsets after the last checkpoint were not committed")]
    DrainTimeout(Duration),
    #[error("cannot start the driver thread: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("the driver thread stopped without a word")]
    DriverLost,
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

/// The driver's commands, as the job's loop sends them.
struct Commands(std_mpsc::Receiver<Command>);

impl DriverControl for Commands {
    fn poll(&mut self) -> Option<Command> {
        self.0.try_recv().ok()
    }
}

/// Runs `rules` as configured until `control.shutdown` completes, then
/// drains, checkpoints and commits. Reloads the rules on SIGHUP, on a
/// message of `control.reloads`, and when a rule file changes.
pub async fn run(
    rules: JobRules,
    config: &Config,
    control: Control<impl Future<Output = ()>>,
) -> Result<JobSummary, JobError> {
    let JobRules {
        files,
        program,
        rules,
    } = rules;
    let messages_in = Arc::new(AtomicU64::new(0));
    let started = match mesh::plan(&program, config)? {
        Some(plan) => {
            start_mesh(
                &program,
                rules,
                config,
                plan,
                &control.metrics,
                &messages_in,
            )
            .await?
        }
        None => start_kafka(&program, rules, config, &control.metrics, &messages_in).await?,
    };
    supervise(started, files, program, config, control, messages_in).await
}

/// A job whose driver is ready to run.
struct Started {
    driver: DriverThread,
    catalog: Arc<CheckpointCatalog>,
    /// Kafka jobs: the input topology and the layout the job started with.
    layout: Option<(Topology, JobLayout)>,
    /// Mesh jobs: the HTTP listeners, closed first at shutdown.
    listeners: Option<HttpListeners>,
}

/// A job reading Kafka topics: every input topic and the internal
/// repartition topics, through one consumer of the group.
async fn start_kafka(
    program: &Program,
    rules: crate::checkpoint::RuleSet,
    config: &Config,
    metrics: &Arc<Metrics>,
    messages_in: &Arc<AtomicU64>,
) -> Result<Started, JobError> {
    let runtime = tokio::runtime::Handle::current();
    let inputs = JobInputs::new(program, config)?;
    let input_topics = inputs.topics();
    let (topology, upstream_counts) = input_topology(config, &inputs)?;
    let layout = JobLayout::plan(program, &topology);
    for group in layout.describe(program) {
        tracing::info!("{group}");
    }
    let internal: Vec<(String, i32)> = layout
        .routes()
        .map(|(_, route)| (route.topic.clone(), route.partitions))
        .collect();
    ensure_topics(
        &config.kafka,
        &internal,
        config.kafka.repartition_replication,
        METADATA_TIMEOUT,
    )
    .await?;
    let groups = layout
        .routes()
        .map(|(group, route)| (route.topic.clone(), group))
        .collect();
    let catalog = Arc::new(CheckpointCatalog::open(
        store::open_storage(&config.checkpoint)?,
        rules,
        groups,
    )?);
    let sinks = JobSinks::open(runtime.clone(), program, config)?;
    let dead_letter = JobDeadLetter::open(runtime.clone(), config)?;
    let mut topics: Vec<&str> = input_topics.clone();
    topics.extend(internal.iter().map(|(topic, _)| topic.as_str()));
    let source = KafkaSource::open_resuming(
        &config.kafka,
        &topics,
        catalog.clone(),
        SourceOptions::from_config(config),
    )?;
    let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
    let repartition = Repartition {
        forwarder: Forwarder::open(&config.kafka, program, &layout)?,
        layout: layout.clone(),
        upstreams: Upstreams::default(),
        upstream_counts,
    };
    let mut outputs = sinks.describe();
    outputs.push(dead_letter.describe());
    tracing::info!(
        "eddy job: group `{}` on {}, reading {}; writing {}; checkpoints in {}",
        config.kafka.group_id,
        config.kafka.brokers,
        topics.join(", "),
        outputs.join(", "),
        config.checkpoint.dir,
    );
    let input = KafkaInput::spawn(
        runtime,
        source,
        inputs,
        catalog.clone(),
        metrics.clone(),
        repartition,
        InputSettings {
            max_message_bytes: config.max_message_bytes.get(),
            idle_timeout: config.idle_partition_timeout,
            messages_in: messages_in.clone(),
            capacity: config.channel_capacity.get(),
        },
    );
    Ok(Started {
        driver: DriverThread::new(
            program,
            config,
            sinks,
            dead_letter,
            Box::new(input),
            &catalog,
            metrics,
        )
        .shaped(LayoutShapes(topology.clone())),
        catalog,
        layout: Some((topology, layout)),
        listeners: None,
    })
}

/// A job reading the event mesh (HTTP streams, AMQP queues): one task,
/// resumed from its checkpoint before any input is taken.
async fn start_mesh(
    program: &Program,
    rules: crate::checkpoint::RuleSet,
    config: &Config,
    plan: MeshPlan,
    metrics: &Arc<Metrics>,
    messages_in: &Arc<AtomicU64>,
) -> Result<Started, JobError> {
    let runtime = tokio::runtime::Handle::current();
    let catalog = Arc::new(CheckpointCatalog::open(
        store::open_storage(&config.checkpoint)?,
        rules,
        BTreeMap::new(),
    )?);
    let restored = catalog.claim_ahead(mesh::MESH_TASK)?;
    let sinks = JobSinks::open(runtime.clone(), program, config)?;
    let dead_letter = JobDeadLetter::open(runtime.clone(), config)?;
    let (feeds, received) = mpsc::channel(config.channel_capacity.get());
    let (mut committers, listeners) = mesh::http::start(
        program,
        config,
        &plan.http,
        restored.as_ref(),
        &feeds,
        metrics,
        messages_in,
    )
    .await?;
    committers.extend(
        mesh::amqp::start(
            program,
            config,
            &plan.amqp,
            restored.as_ref(),
            &feeds,
            messages_in,
        )
        .await?,
    );
    let mut outputs = sinks.describe();
    outputs.push(dead_letter.describe());
    tracing::info!(
        "eddy job: reading {}; writing {}; checkpoints in {}",
        plan.describe(),
        outputs.join(", "),
        config.checkpoint.dir,
    );
    let input = MeshInput::new(
        runtime,
        received,
        committers,
        plan.streams(),
        config.idle_partition_timeout,
    );
    Ok(Started {
        driver: DriverThread::new(
            program,
            config,
            sinks,
            dead_letter,
            Box::new(input),
            &catalog,
            metrics,
        ),
        catalog,
        layout: None,
        listeners: Some(listeners),
    })
}

/// Runs the driver on a thread of its own and turns signals, reload
/// requests and rule-file changes into its commands until shutdown.
async fn supervise(
    started: Started,
    files: Vec<std::path::PathBuf>,
    program: Program,
    config: &Config,
    control: Control<impl Future<Output = ()>>,
    messages_in: Arc<AtomicU64>,
) -> Result<JobSummary, JobError> {
    let Control {
        shutdown,
        mut reloads,
        metrics,
    } = control;
    let Started {
        mut driver,
        catalog,
        layout,
        listeners,
    } = started;
    let (commands, received) = std_mpsc::channel();
    driver.commands = Some(Commands(received));
    let (done, finished) = oneshot::channel();
    std::thread::Builder::new()
        .name("eddy-driver".into())
        .spawn(move || {
            // The receiver is gone only when the job already stopped.
            let _ = done.send(driver.run());
        })
        .map_err(JobError::Spawn)?;

    let mut reloader = Reloader {
        files,
        started: program,
        catalog,
        metrics: metrics.clone(),
        layout,
        config: config.clone(),
    };
    let mut watch = RuleWatch::new(&reloader.files);
    let mut hangups = hangup_signals();
    let mut rule_files = tokio::time::interval(GAUGE_INTERVAL);
    tokio::pin!(shutdown);
    tokio::pin!(finished);
    let send = |command: Command| commands.send(command).is_ok();
    loop {
        tokio::select! {
            biased;
            result = &mut finished => {
                // The driver stops by itself only on an error.
                return Err(match result {
                    Ok(Err(error)) => error,
                    _ => JobError::DriverLost,
                });
            }
            () = &mut shutdown => break,
            Some(()) = reloads.recv() => {
                if let Some(command) = reloader.reload("POST /reload") {
                    send(command);
                }
            }
            Some(()) = next_hangup(&mut hangups) => {
                if let Some(command) = reloader.reload("SIGHUP") {
                    send(command);
                }
            }
            _ = rule_files.tick() => {
                if watch.changed() {
                    if let Some(command) = reloader.reload("a rule file changed") {
                        send(command);
                    }
                }
            }
        }
    }
    metrics.set_ready(false);
    if let Some(listeners) = listeners {
        // Nothing is accepted that the last checkpoint might not cover.
        for server in listeners.servers {
            server.task.abort();
        }
    }
    tracing::info!("shutting down: draining, checkpointing, committing");
    send(Command::Stop);
    let stopped = tokio::time::timeout(DRAIN_TIMEOUT, finished)
        .await
        .map_err(|_| JobError::DrainTimeout(DRAIN_TIMEOUT))?;
    let (run, events_out, checkpoints) = stopped.map_err(|_| JobError::DriverLost)??;
    Ok(JobSummary {
        messages_in: messages_in.load(Ordering::Relaxed),
        events_out,
        rejected: run.rejected,
        checkpoints,
    })
}

/// The input topics as the layout needs them (their keys and partition
/// counts), and per input stream (catalog index) its partition count.
fn input_topology(
    config: &Config,
    inputs: &JobInputs,
) -> Result<(Topology, BTreeMap<usize, usize>), JobError> {
    let counts = partition_counts(&config.kafka, &inputs.topics(), METADATA_TIMEOUT)?;
    let mut partitions: BTreeMap<String, Option<usize>> = BTreeMap::new();
    let mut upstream_counts = BTreeMap::new();
    for input in &inputs.inputs {
        let count = counts.get(&input.topic).copied().flatten();
        if count.is_none() {
            tracing::warn!(
                "topic `{}` of stream `{}` has no metadata yet: taken as one partition",
                input.topic,
                input.name
            );
        }
        partitions.insert(input.name.clone(), count);
        upstream_counts.insert(input.stream, count.unwrap_or(1));
    }
    Ok((Topology::new(config, partitions), upstream_counts))
}

/// Everything the driver thread owns.
struct DriverThread {
    program: Program,
    limits: Limits,
    sinks: JobSinks,
    dead_letter: JobDeadLetter,
    input: Box<dyn Source + Send>,
    catalog: Arc<CheckpointCatalog>,
    metrics: Arc<Metrics>,
    /// Set when the thread starts.
    commands: Option<Commands>,
    checkpoint_interval: Duration,
    /// Which rules each task runs, where not every task runs them all.
    shapes: Option<LayoutShapes>,
}

impl DriverThread {
    fn new(
        program: &Program,
        config: &Config,
        sinks: JobSinks,
        dead_letter: JobDeadLetter,
        input: Box<dyn Source + Send>,
        catalog: &Arc<CheckpointCatalog>,
        metrics: &Arc<Metrics>,
    ) -> Self {
        DriverThread {
            program: program.clone(),
            limits: limits(config),
            sinks,
            dead_letter,
            input,
            catalog: catalog.clone(),
            metrics: metrics.clone(),
            commands: None,
            checkpoint_interval: config.checkpoint.interval,
            shapes: None,
        }
    }

    fn shaped(mut self, shapes: LayoutShapes) -> Self {
        self.shapes = Some(shapes);
        self
    }

    /// Runs the driver until it is told to stop: what it did, derived
    /// events handed to a sink, checkpoints taken.
    fn run(mut self) -> Result<(crate::driver::RunSummary, u64, u64), JobError> {
        let mut store = CatalogStore(self.catalog);
        let mut observer = JobObserver {
            metrics: self.metrics,
            checkpoints: 0,
        };
        let mut commands = self.commands.take().unwrap_or_else(|| {
            // Never without a sender: the thread then runs until its input ends.
            Commands(std_mpsc::channel().1)
        });
        let mut sources: Vec<Box<dyn Source>> = vec![self.input];
        let mut driver = Driver::new(&self.program, &mut self.sinks, &mut self.dead_letter)
            .limits(self.limits)
            .tasks_on_demand()
            .checkpoints(&mut store)
            .observer(&mut observer)
            .control(&mut commands)
            .checkpoint_every(self.checkpoint_interval)
            .refresh_every(GAUGE_INTERVAL);
        if let Some(shapes) = &self.shapes {
            driver = driver.shapes(shapes);
        }
        let run = driver.run(&mut sources)?;
        Ok((run, self.sinks.events_out(), observer.checkpoints))
    }
}

/// Compiles the rule files again for a reload.
struct Reloader {
    files: Vec<std::path::PathBuf>,
    /// The rules the job started with. No reload changes which streams are
    /// read, so new rules are checked against these for their inputs; what
    /// keeps state is decided by the driver against the rules it runs.
    started: Program,
    catalog: Arc<CheckpointCatalog>,
    metrics: Arc<Metrics>,
    /// Kafka jobs: the input topology, and the layout the job started
    /// with (its internal topics are the ones the consumer reads and the
    /// forwarder writes).
    layout: Option<(Topology, JobLayout)>,
    /// For the sinks new rules' events would go to.
    config: Config,
}

impl Reloader {
    /// The reload command, or `None` (logged and counted) when the files
    /// are refused or unchanged.
    fn reload(&mut self, trigger: &str) -> Option<Command> {
        let refused = |metrics: &Metrics, refusal: &dyn std::fmt::Display| {
            tracing::warn!("reload ({trigger}) refused, the running rules go on: {refusal}");
            metrics.reload("refused");
        };
        let new = match rules::recompile(&self.files, &self.started) {
            Ok(new) => new,
            Err(refusal) => {
                refused(&self.metrics, &refusal);
                return None;
            }
        };
        if new.rules.fingerprint == self.catalog.ruleset() {
            tracing::info!("reload ({trigger}): the rules are unchanged");
            return None;
        }
        if let Err(refusal) = self.config.check_routing(&new.program) {
            refused(&self.metrics, &refusal);
            return None;
        }
        let regrouped = self.layout.as_ref().is_some_and(|(topology, layout)| {
            !JobLayout::plan(&new.program, topology).same_topics(layout)
        });
        if regrouped {
            refused(
                &self.metrics,
                &"the new rules group their streams by other keys, which needs other \
                  repartition topics; restart eddy to run them",
            );
            return None;
        }
        Some(Command::Reload(Box::new(Reload {
            program: new.program,
            rules: new.rules,
            trigger: trigger.to_string(),
        })))
    }
}

fn limits(config: &Config) -> Limits {
    Limits {
        max_candidates_per_key: Some(config.limits.max_candidates_per_key.get()),
        max_candidates_per_rule: Some(config.limits.max_candidates_per_rule.get()),
        max_windows_per_rule: Some(config.limits.max_windows_per_rule.get()),
    }
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
