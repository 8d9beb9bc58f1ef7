//! Where the job's derived events and rejected messages go, as the
//! driver's [`EventSink`] and [`DeadLetterOutput`].
//!
//! At a barrier, Kafka outputs are acknowledged by the broker; stdout and
//! files are flushed (files also synced). Nothing handed over before a
//! barrier is lost once the barrier has passed.
//!
//! A webhook's deliveries all end before the barrier passes: accepted
//! (2xx), or dead-lettered with the last error after their retries.
//!
//! Kafka sinks write each derived event once across a crash: checkpoints
//! record where the sink topics ended, and a task restored from one drops
//! the events it derives again that the topics already hold after that
//! point (see `kafka_connector::written`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use dsl::plan::Program;
use tokio::runtime::Handle;

use super::JobError;
use crate::checkpoint::SourceOffset;
use crate::config::{
    AmqpTarget, CloudEventMode, Config, DeadLetterTarget, SinkTarget, WebhookMode, WebhookTarget,
};
use crate::driver::{task_name, DeadLetterOutput, EventSink, TaskId};
use crate::kafka::cloudevent::DEFAULT_DATA_CONTENT_TYPE;
use crate::kafka::written::written_ids;
use crate::kafka::{KafkaConnectorError, KafkaDeadLetter, KafkaSink, RejectedMessage};
use crate::pipeline::OutputEvent;
use crate::reject::{RejectReason, Rejection, SourcedRejection};
use crate::sink::{dead_letter, CloudEventEncoder, CloudEventLines, LineWriter, SinkError};
use amqp::{binding, AmqpPublisher, CloudEvent, OutgoingMessage, PublisherSettings};
use webhook::{Mode, Outgoing, RetryPolicy, Signer, WebhookSettings, WebhookSink};

/// Unacknowledged Kafka messages at most before the job waits for acks: a
/// slow broker slows consumption instead of growing memory.
const MAX_UNACKNOWLEDGED: usize = 100_000;

/// Bound on asking the broker where a sink topic ends.
const END_OFFSETS_TIMEOUT: Duration = Duration::from_secs(10);

/// Bound on reading a sink topic back when a task is restored.
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(60);

enum Sink {
    Kafka(KafkaSink),
    /// Stdout, or a file appended to (a restarted job goes on writing it).
    Lines(CloudEventLines),
    Webhook(WebhookSink),
    Amqp {
        publisher: Box<AmqpPublisher>,
        target: AmqpTarget,
    },
}

/// The derived-event sinks of a job, one per target, and which rule goes
/// to which.
pub struct JobSinks {
    runtime: Handle,
    config: Config,
    encoder: CloudEventEncoder,
    /// Per rule: its sink's index in `sinks`; `None` when not output.
    routes: Vec<Option<usize>>,
    /// What each of `sinks` writes to.
    targets: Vec<SinkTarget>,
    sinks: Vec<Sink>,
    events_out: u64,
    /// Per restored task still replaying events a sink topic holds already.
    replays: HashMap<TaskId, Replay>,
    /// Where events a webhook or an exchange could not take go: the job's
    /// dead-letter output, opened once such a sink is.
    undeliverable: Option<JobDeadLetter>,
}

/// What a restored task derived after its checkpoint and a sink topic
/// holds already: each is dropped when it comes again.
struct Replay {
    ids: HashSet<String>,
    /// Their latest event time: the task derives in time order, so a later
    /// event means the rest will not come again.
    last_time: Option<i64>,
    /// The sink positions of the checkpoint the task was restored from.
    from: Vec<SourceOffset>,
}

impl Replay {
    /// Whether `event` was written already; updates what is left.
    fn written(&mut self, event: &OutputEvent) -> bool {
        if self.ids.remove(&event.meta.id) {
            return true;
        }
        if self.last_time.is_some_and(|last| event.meta.time > last) {
            self.ids.clear();
        }
        false
    }
}

impl JobSinks {
    pub fn open(runtime: Handle, program: &Program, config: &Config) -> Result<Self, JobError> {
        let mut sinks = JobSinks {
            runtime,
            config: config.clone(),
            encoder: CloudEventEncoder::for_kafka(program),
            routes: Vec::new(),
            targets: Vec::new(),
            sinks: Vec::new(),
            events_out: 0,
            replays: HashMap::new(),
            undeliverable: None,
        };
        sinks.route(program)?;
        Ok(sinks)
    }

    /// Routes every rule of `program` to its sink, opening the sinks not
    /// open yet: after a reload, sinks of the previous rules stay open.
    fn route(&mut self, program: &Program) -> Result<(), JobError> {
        self.encoder = CloudEventEncoder::for_kafka(program);
        for sink in &mut self.sinks {
            if let Sink::Lines(lines) = sink {
                lines.set_encoder(self.encoder.clone());
            }
        }
        let mut routes = Vec::with_capacity(program.rules.len());
        for rule in &program.rules {
            let route = match self.config.sink_for(&rule.emit.name).cloned() {
                Some(target) => Some(self.sink_for(&target)?),
                None => None,
            };
            routes.push(route);
        }
        self.routes = routes;
        Ok(())
    }

    /// The index of `target`'s sink, opened if needed.
    fn sink_for(&mut self, target: &SinkTarget) -> Result<usize, JobError> {
        if let Some(index) = self.targets.iter().position(|t| t == target) {
            return Ok(index);
        }
        let encoder = self.encoder.clone();
        let lines = |out| CloudEventLines::new(encoder.clone(), out);
        let sink = match target {
            SinkTarget::Kafka { topic, mode } => {
                Sink::Kafka(KafkaSink::new(&self.config.kafka, topic, *mode)?)
            }
            SinkTarget::Stdout => Sink::Lines(lines(LineWriter::stdout())),
            SinkTarget::File { path } => {
                Sink::Lines(lines(LineWriter::append(path).map_err(JobError::Output)?))
            }
            SinkTarget::Http(target) => {
                self.open_undeliverable()?;
                Sink::Webhook(webhook_sink(target)?)
            }
            SinkTarget::Amqp(target) => {
                self.open_undeliverable()?;
                binding::check_template(&target.routing_key).map_err(|problem| {
                    JobError::Output(SinkError::connector(std::io::Error::other(problem)))
                })?;
                let settings = PublisherSettings::new(&target.url, &target.exchange);
                let open = AmqpPublisher::open(&settings);
                // Opened at startup (on the job's runtime) or at a reload
                // (on the driver's thread).
                let publisher = match Handle::try_current() {
                    Ok(_) => tokio::task::block_in_place(|| self.runtime.block_on(open)),
                    Err(_) => self.runtime.block_on(open),
                }?;
                Sink::Amqp {
                    publisher: Box::new(publisher),
                    target: target.clone(),
                }
            }
        };
        self.sinks.push(sink);
        self.targets.push(target.clone());
        Ok(self.sinks.len() - 1)
    }

    fn open_undeliverable(&mut self) -> Result<(), JobError> {
        if self.undeliverable.is_none() {
            self.undeliverable = Some(JobDeadLetter::open(self.runtime.clone(), &self.config)?);
        }
        Ok(())
    }

    /// Derived events handed to a sink.
    pub fn events_out(&self) -> u64 {
        self.events_out
    }

    /// Where everything goes, for the startup log.
    pub fn describe(&self) -> Vec<String> {
        self.sinks
            .iter()
            .map(|s| match s {
                Sink::Kafka(k) => format!("kafka topic {}", k.topic()),
                Sink::Lines(l) => l.name().display().to_string(),
                Sink::Webhook(w) => format!("webhook {}", w.url()),
                Sink::Amqp { target, .. } => exchange_name(target),
            })
            .collect()
    }
}

impl Drop for JobSinks {
    /// AMQP publishers close their channels by spawning a task as they
    /// drop, so they are dropped inside the job's runtime (the driver's
    /// thread is outside it).
    fn drop(&mut self) {
        let sinks = std::mem::take(&mut self.sinks);
        let _runtime = self.runtime.enter();
        drop(sinks);
    }
}

impl EventSink for JobSinks {
    fn write(&mut self, events: &[OutputEvent]) -> Result<(), SinkError> {
        self.write_from(None, events)
    }

    fn write_from(
        &mut self,
        task: Option<TaskId>,
        events: &[OutputEvent],
    ) -> Result<(), SinkError> {
        for event in events {
            let Some(&Some(sink)) = self.routes.get(event.rule) else {
                continue;
            };
            if let Some(task) = task {
                if let Some(replay) = self.replays.get_mut(&task) {
                    let written = replay.written(event);
                    if replay.ids.is_empty() {
                        self.replays.remove(&task);
                    }
                    if written {
                        continue;
                    }
                }
            }
            self.events_out += 1;
            match &mut self.sinks[sink] {
                Sink::Kafka(kafka) => self
                    .runtime
                    .block_on(async {
                        kafka.send_output(&self.encoder, event, task).await?;
                        if kafka.unacknowledged() >= MAX_UNACKNOWLEDGED {
                            kafka.wait_for_acks().await?;
                        }
                        Ok::<_, KafkaConnectorError>(())
                    })
                    .map_err(SinkError::connector)?,
                Sink::Lines(lines) => lines.write(std::slice::from_ref(event))?,
                Sink::Webhook(webhook) => {
                    let outgoing = outgoing(&self.encoder, event);
                    self.runtime.block_on(webhook.send(outgoing));
                }
                Sink::Amqp { publisher, target } => {
                    let message = amqp_message(&outgoing(&self.encoder, event), target);
                    self.runtime
                        .block_on(publisher.publish(message))
                        .map_err(SinkError::connector)?;
                }
            }
        }
        Ok(())
    }

    /// Lines reach their files, a webhook's batch goes out; Kafka messages
    /// are on their way already.
    fn flush(&mut self) -> Result<(), SinkError> {
        for sink in &mut self.sinks {
            match sink {
                Sink::Lines(lines) => lines.flush()?,
                Sink::Webhook(webhook) => self.runtime.block_on(webhook.flush()),
                Sink::Kafka(_) | Sink::Amqp { .. } => {}
            }
        }
        Ok(())
    }

    /// Every Kafka message acknowledged, every file synced.
    fn barrier(&mut self) -> Result<(), SinkError> {
        for sink in &mut self.sinks {
            match sink {
                Sink::Kafka(kafka) => {
                    self.runtime
                        .block_on(kafka.wait_for_acks())
                        .map_err(SinkError::connector)?;
                }
                Sink::Lines(lines) => lines.barrier()?,
                Sink::Webhook(webhook) => {
                    let undelivered = self.runtime.block_on(webhook.barrier());
                    let failed = undelivered.iter().flat_map(|failed| {
                        failed.events.iter().map(|event| Failed {
                            kind: attribute(&event.attributes, "type"),
                            raw: event.structured.clone(),
                            error: failed.error.clone(),
                        })
                    });
                    if let Some(dead_letter) = self.undeliverable.as_mut() {
                        dead_letter_undelivered(
                            dead_letter,
                            &format!("webhook {}", webhook.url()),
                            failed,
                        )?;
                    }
                }
                Sink::Amqp { publisher, target } => {
                    let refused = self
                        .runtime
                        .block_on(publisher.barrier())
                        .map_err(SinkError::connector)?;
                    let failed = refused.into_iter().map(|refused| Failed {
                        kind: attribute(&refused.message.headers, "cloudEvents:type"),
                        error: refused.reason,
                        raw: refused.message.body,
                    });
                    if let Some(dead_letter) = self.undeliverable.as_mut() {
                        dead_letter_undelivered(dead_letter, &exchange_name(target), failed)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn set_program(&mut self, program: &Program) -> Result<(), SinkError> {
        self.route(program).map_err(SinkError::connector)
    }

    fn positions(&mut self) -> Result<Vec<SourceOffset>, SinkError> {
        let mut ends = Vec::new();
        for sink in &self.sinks {
            if let Sink::Kafka(kafka) = sink {
                ends.extend(
                    kafka
                        .end_offsets(END_OFFSETS_TIMEOUT)
                        .map_err(SinkError::connector)?,
                );
            }
        }
        Ok(ends)
    }

    fn resume(&mut self, task: TaskId, from: &[SourceOffset]) -> Result<(), SinkError> {
        let written = written_ids(&self.config.kafka, from, task, READ_BACK_TIMEOUT)
            .map_err(SinkError::connector)?;
        self.replays.remove(&task);
        if !written.ids.is_empty() {
            tracing::info!(
                "{}: {} derived events after its checkpoint are written \
                 already; they will not be written again",
                task_name(task),
                written.ids.len()
            );
            self.replays.insert(
                task,
                Replay {
                    ids: written.ids,
                    last_time: written.last_time,
                    from: from.to_vec(),
                },
            );
        }
        Ok(())
    }

    fn replaying_from(&self, task: TaskId) -> Option<Vec<SourceOffset>> {
        self.replays.get(&task).map(|replay| replay.from.clone())
    }
}

/// A webhook sink for `target`, its signing secret read from the
/// environment variable it names.
fn webhook_sink(target: &WebhookTarget) -> Result<WebhookSink, JobError> {
    let signer = match &target.secret_env {
        None => None,
        Some(var) => {
            let secret = std::env::var(var).map_err(|_| JobError::WebhookSecret {
                var: var.clone(),
                problem: "is not set".into(),
            })?;
            Some(Signer::new(&secret).map_err(|e| JobError::WebhookSecret {
                var: var.clone(),
                problem: e.to_string(),
            })?)
        }
    };
    WebhookSink::new(WebhookSettings {
        url: target.url.clone(),
        mode: match target.mode {
            WebhookMode::Binary => Mode::Binary,
            WebhookMode::Structured => Mode::Structured,
            WebhookMode::Batch => Mode::Batch,
        },
        timeout: target.timeout,
        retry: RetryPolicy {
            max_attempts: target.max_attempts,
            ..RetryPolicy::default()
        },
        concurrency: target.concurrency,
        max_batch: target.max_batch,
        signer,
    })
    .map_err(|e| JobError::Output(SinkError::connector(e)))
}

/// `event` encoded as a webhook request carries it (both modes).
fn outgoing(encoder: &CloudEventEncoder, event: &OutputEvent) -> Outgoing {
    let mut structured = Vec::new();
    let data = encoder.encode(event, &mut structured);
    Outgoing {
        id: event.meta.id.clone(),
        data: structured[data].to_vec(),
        attributes: encoder
            .attributes(event)
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect(),
        data_content_type: DEFAULT_DATA_CONTENT_TYPE.to_string(),
        structured: structured.trim_ascii_end().to_vec(),
    }
}

/// A derived event a sink could not take after every retry.
struct Failed {
    /// Its CloudEvent type (the rule's event name), when known.
    kind: String,
    /// What the sink was given.
    raw: Vec<u8>,
    error: String,
}

fn attribute(attributes: &[(String, String)], name: &str) -> String {
    attributes
        .iter()
        .find(|(n, _)| n == name)
        .map_or_else(String::new, |(_, value)| value.clone())
}

/// Events a sink (`sink` names it) could not take, each to the
/// dead-letter output with the last error (counted and logged, whatever
/// the output).
fn dead_letter_undelivered(
    dead_letter: &mut JobDeadLetter,
    sink: &str,
    failed: impl Iterator<Item = Failed>,
) -> Result<(), SinkError> {
    let source: std::sync::Arc<str> = std::sync::Arc::from(sink);
    let mut count = 0;
    let mut first_error = None;
    for failed in failed {
        count += 1;
        let record = SourcedRejection {
            source: source.clone(),
            rejection: Rejection {
                line: 0,
                reason: RejectReason::Undeliverable,
                detail: format!("{sink}: {}", failed.error),
                raw: failed.raw,
            },
            record: None,
        };
        dead_letter.reject(0, &failed.kind, &record)?;
        first_error.get_or_insert(failed.error);
    }
    if let Some(error) = first_error {
        dead_letter.flush()?;
        tracing::warn!(
            "{sink}: {count} derived events not delivered ({error}); sent to the dead-letter output",
        );
    }
    Ok(())
}

/// An exchange sink as logs and dead-letter records name it.
fn exchange_name(target: &AmqpTarget) -> String {
    let exchange = if target.exchange.is_empty() {
        "(default)"
    } else {
        &target.exchange
    };
    format!(
        "amqp exchange {exchange} at {}",
        amqp::url::redact(&target.url)
    )
}

/// `event` as the CloudEvents AMQP binding lays it out for `target`.
fn amqp_message(event: &Outgoing, target: &AmqpTarget) -> OutgoingMessage {
    let event_type = attribute(&event.attributes, "type");
    let subject = event
        .attributes
        .iter()
        .find(|(name, _)| name == "subject")
        .map(|(_, value)| value.as_str());
    let routing_key = binding::routing_key(&target.routing_key, &event_type, subject);
    let cloud_event = CloudEvent {
        id: &event.id,
        attributes: &event.attributes,
        data: &event.data,
        data_content_type: &event.data_content_type,
        structured: &event.structured,
    };
    match target.mode {
        CloudEventMode::Binary => binding::binary(&cloud_event, routing_key),
        CloudEventMode::Structured => binding::structured(&cloud_event, routing_key),
    }
}

/// The job's dead-letter output.
pub enum JobDeadLetter {
    /// Each rejected message unchanged, with `eddy_*` headers.
    Kafka {
        runtime: Handle,
        producer: KafkaDeadLetter,
    },
    /// One JSON record per rejected message, appended.
    Lines { out: LineWriter, buffer: Vec<u8> },
    /// No `[dead_letter]`: rejections are counted and logged only.
    CountOnly,
}

impl JobDeadLetter {
    pub fn open(runtime: Handle, config: &Config) -> Result<Self, JobError> {
        Ok(match &config.dead_letter {
            Some(DeadLetterTarget::Kafka { topic }) => JobDeadLetter::Kafka {
                runtime,
                producer: KafkaDeadLetter::new(&config.kafka, topic)?,
            },
            Some(DeadLetterTarget::File { path }) => JobDeadLetter::Lines {
                out: LineWriter::append(path).map_err(JobError::Output)?,
                buffer: Vec::new(),
            },
            None => JobDeadLetter::CountOnly,
        })
    }

    /// Where rejected messages go, for the startup log.
    pub fn describe(&self) -> String {
        match self {
            JobDeadLetter::Kafka { producer, .. } => {
                format!("dead letters to kafka topic {}", producer.topic())
            }
            JobDeadLetter::Lines { out, .. } => {
                format!("dead letters to {}", out.name().display())
            }
            JobDeadLetter::CountOnly => "dead letters counted only".into(),
        }
    }
}

impl DeadLetterOutput for JobDeadLetter {
    fn reject(
        &mut self,
        _input: usize,
        stream: &str,
        rejected: &SourcedRejection,
    ) -> Result<(), SinkError> {
        let rejection = &rejected.rejection;
        match self {
            JobDeadLetter::Kafka { runtime, producer } => {
                // Not a Kafka message (an HTTP or AMQP input, an event a
                // webhook refused): named by its source and position.
                let message = match &rejected.record {
                    Some(record) => RejectedMessage {
                        topic: &record.topic,
                        partition: record.partition,
                        offset: record.offset,
                        timestamp: record.timestamp,
                        key: record.key.as_deref(),
                        payload: &rejection.raw,
                    },
                    None => RejectedMessage {
                        topic: &rejected.source,
                        partition: 0,
                        offset: rejection.line,
                        timestamp: None,
                        key: None,
                        payload: &rejection.raw,
                    },
                };
                runtime
                    .block_on(producer.send(&message, rejection.reason, &rejection.detail))
                    .map_err(SinkError::connector)
            }
            JobDeadLetter::Lines { out, buffer } => {
                buffer.clear();
                dead_letter::encode(stream, &rejected.source, rejection, buffer);
                out.write(buffer)
            }
            // Counted, and logged a batch at a time by the observer.
            JobDeadLetter::CountOnly => Ok(()),
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        match self {
            JobDeadLetter::Kafka { runtime, producer } => runtime
                .block_on(producer.wait_for_acks())
                .map(|_| ())
                .map_err(SinkError::connector),
            JobDeadLetter::Lines { out, .. } => out.sync(),
            JobDeadLetter::CountOnly => Ok(()),
        }
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.flush()
    }
}
