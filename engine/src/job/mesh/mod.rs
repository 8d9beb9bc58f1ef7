//! The job's inputs from the event mesh: HTTP streams ([`http`]) and AMQP
//! queues ([`amqp`]), as one driver [`Source`].
//!
//! Unlike Kafka topics, these inputs have no partitions to split between
//! instances: a mesh job is one task (task 0, one checkpoint series), and
//! a job reads either Kafka topics or mesh inputs, never both. Each input
//! has a feeder (a thread reading an HTTP stream's write-ahead log, a task
//! consuming a queue) that decodes what arrives and hands it over one
//! bounded channel: a slow pipeline slows the feeders, which then push back
//! on their producers (`429`, the AMQP prefetch).
//!
//! A stream with no input for `idle_partition_timeout` is reported idle,
//! so a quiet stream does not hold back the others' time.

pub mod amqp;
mod batch;
pub mod http;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use dsl::plan::Program;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::JobError;
use crate::checkpoint::{SourceOffset, Unacknowledged};
use crate::config::{Config, StreamSource};
use crate::driver::{RunError, Source, SourceBatch, SourceEvent};

/// How long the driver's wait for input lasts before it looks at its
/// commands again.
const WAIT: Duration = Duration::from_millis(100);

/// The task of every mesh input.
pub const MESH_TASK: crate::driver::TaskId = 0;

/// The mesh inputs of a job's rules.
#[derive(Default)]
pub struct MeshPlan {
    pub http: Vec<http::HttpInput>,
    pub amqp: Vec<amqp::AmqpInput>,
}

impl MeshPlan {
    /// The streams read (catalog indexes).
    pub fn streams(&self) -> Vec<usize> {
        let http = self.http.iter().map(|i| i.stream);
        http.chain(self.amqp.iter().map(|i| i.stream)).collect()
    }

    /// Where each stream is read, for the startup log.
    pub fn describe(&self) -> String {
        let http = self.http.iter().map(|i| {
            format!(
                "`{}` from http://{}{}",
                i.name, i.settings.listen, i.settings.path
            )
        });
        let amqp = self.amqp.iter().map(|i| {
            let url = ::amqp::url::redact(&i.settings.url);
            format!("`{}` from queue `{}` at {url}", i.name, i.settings.queue)
        });
        http.chain(amqp).collect::<Vec<_>>().join(", ")
    }
}

/// The mesh inputs of `program`'s input streams as `config` binds them;
/// `None` when they read Kafka. A job reads one or the other.
pub fn plan(program: &Program, config: &Config) -> Result<Option<MeshPlan>, JobError> {
    let mut plan = MeshPlan::default();
    let mut kafka = None;
    for (stream, plan_of) in program.input_streams() {
        let name = plan_of.name.clone();
        match config.streams.get(&name) {
            Some(StreamSource::Http(settings)) => {
                let clash = plan.http.iter().find(|other| {
                    other.settings.listen == settings.listen && other.settings.path == settings.path
                });
                if let Some(other) = clash {
                    return Err(JobError::HttpListener(format!(
                        "streams `{}` and `{name}` both take POSTs at {}{}; give each its own `path`",
                        other.name, settings.listen, settings.path
                    )));
                }
                plan.http.push(http::HttpInput {
                    stream,
                    name,
                    settings: settings.clone(),
                });
            }
            Some(StreamSource::Amqp(settings)) => plan.amqp.push(amqp::AmqpInput {
                stream,
                name,
                settings: settings.clone(),
            }),
            Some(StreamSource::File(_)) => return Err(JobError::MixedSources(name)),
            Some(StreamSource::Kafka(_)) | None => {
                kafka.get_or_insert(name);
            }
        }
    }
    let Some(first) = plan
        .http
        .first()
        .map(|i| &i.name)
        .or(plan.amqp.first().map(|i| &i.name))
    else {
        return Ok(None);
    };
    if let Some(kafka) = kafka {
        return Err(JobError::KafkaAndMesh {
            kafka,
            mesh: first.clone(),
        });
    }
    Ok(Some(plan))
}

/// What a feeder hands over.
pub enum Feed {
    Batch {
        batch: Box<SourceBatch>,
        /// AMQP messages of the batch, acknowledged once a checkpoint
        /// covers them.
        deliveries: Option<amqp::Handed>,
    },
    /// The feeder cannot go on (its log or its broker failed): the job stops.
    Failed(String),
}

/// What an input does when a checkpoint is stored.
pub trait Committer: Send {
    /// A checkpoint covers `positions` (and everything handed before it).
    fn commit(&mut self, runtime: &Handle, positions: &[SourceOffset]) -> Result<(), RunError>;
    /// Messages covered by the next checkpoint but not yet acknowledged.
    fn unacknowledged(&self) -> Option<Unacknowledged> {
        None
    }
    /// Records the AMQP messages of a batch handed to the driver.
    fn handed(&mut self, _deliveries: &amqp::Handed) {}
    /// Whether so much is unacknowledged that a checkpoint should come
    /// before the broker stops delivering (the prefetch is nearly used up).
    fn wants_checkpoint(&self) -> bool {
        false
    }
}

/// When a stream last had input.
struct Activity {
    last: Instant,
    idle: bool,
}

/// Every mesh input of a job, as one source of several streams.
pub struct MeshInput {
    runtime: Handle,
    feeds: mpsc::Receiver<Feed>,
    committers: Vec<Box<dyn Committer>>,
    pending: VecDeque<SourceEvent>,
    /// Per stream (catalog index).
    activity: BTreeMap<usize, Activity>,
    idle_timeout: Duration,
    assigned: bool,
}

impl MeshInput {
    pub fn new(
        runtime: Handle,
        feeds: mpsc::Receiver<Feed>,
        committers: Vec<Box<dyn Committer>>,
        streams: impl IntoIterator<Item = usize>,
        idle_timeout: Duration,
    ) -> Self {
        let now = Instant::now();
        MeshInput {
            runtime,
            feeds,
            committers,
            pending: VecDeque::new(),
            activity: streams
                .into_iter()
                .map(|s| {
                    (
                        s,
                        Activity {
                            last: now,
                            idle: false,
                        },
                    )
                })
                .collect(),
            idle_timeout,
            assigned: false,
        }
    }

    fn take(&mut self, feed: Option<Feed>) -> Result<SourceEvent, RunError> {
        match feed {
            None => Err(RunError::ReaderLost("the event mesh inputs".into())),
            Some(Feed::Failed(why)) => Err(RunError::Connector(why.into())),
            Some(Feed::Batch { batch, deliveries }) => {
                if let Some(deliveries) = &deliveries {
                    for committer in &mut self.committers {
                        committer.handed(deliveries);
                    }
                }
                let stream = batch.stream;
                let event = SourceEvent::Batch(batch);
                match self.activity.get_mut(&stream) {
                    Some(activity) => {
                        activity.last = Instant::now();
                        if std::mem::take(&mut activity.idle) {
                            self.pending.push_back(event);
                            return Ok(SourceEvent::Idle {
                                task: MESH_TASK,
                                stream,
                                idle: false,
                            });
                        }
                        Ok(event)
                    }
                    None => Ok(event),
                }
            }
        }
    }

    /// Streams quiet for the idle timeout, reported once each.
    fn idle_streams(&mut self) -> Option<SourceEvent> {
        let timeout = self.idle_timeout;
        let (&stream, activity) = self
            .activity
            .iter_mut()
            .find(|(_, a)| !a.idle && a.last.elapsed() >= timeout)?;
        activity.idle = true;
        Some(SourceEvent::Idle {
            task: MESH_TASK,
            stream,
            idle: true,
        })
    }
}

impl Source for MeshInput {
    fn stream(&self) -> Option<usize> {
        None
    }

    fn next(&mut self) -> Result<SourceEvent, RunError> {
        if let Some(event) = self.try_next()? {
            return Ok(event);
        }
        let feeds = &mut self.feeds;
        match self
            .runtime
            .block_on(async { tokio::time::timeout(WAIT, feeds.recv()).await })
        {
            Ok(feed) => self.take(feed),
            Err(_) => Ok(self.idle_streams().unwrap_or(SourceEvent::Quiet)),
        }
    }

    fn try_next(&mut self) -> Result<Option<SourceEvent>, RunError> {
        if !self.assigned {
            self.assigned = true;
            return Ok(Some(SourceEvent::Assigned(vec![MESH_TASK])));
        }
        if let Some(event) = self.pending.pop_front() {
            return Ok(Some(event));
        }
        match self.feeds.try_recv() {
            Ok(feed) => self.take(Some(feed)).map(Some),
            Err(mpsc::error::TryRecvError::Empty) => Ok(self.idle_streams()),
            Err(mpsc::error::TryRecvError::Disconnected) => self.take(None).map(Some),
        }
    }

    fn unacknowledged(&self) -> Vec<Unacknowledged> {
        self.committers
            .iter()
            .filter_map(|c| c.unacknowledged())
            .collect()
    }

    fn wants_checkpoint(&self) -> bool {
        self.committers.iter().any(|c| c.wants_checkpoint())
    }

    fn commit(&mut self, positions: &[SourceOffset]) -> Result<(), RunError> {
        for committer in &mut self.committers {
            committer.commit(&self.runtime, positions)?;
        }
        Ok(())
    }
}
