//! Where the job's derived events and rejected messages go, and the
//! barrier that waits until everything handed to them is written.
//!
//! Kafka outputs are acknowledged by the broker; stdout and files are
//! flushed (files also synced) at the barrier. Nothing handed over before
//! a barrier is lost once the barrier has passed.

use std::collections::BTreeMap;

use dsl::plan::Program;

use super::JobError;
use crate::config::{Config, DeadLetterTarget, SinkTarget};
use crate::driver::EventSink;
use crate::kafka::{KafkaDeadLetter, KafkaSink, RejectedMessage, SourceMessage};
use crate::pipeline::OutputEvent;
use crate::reject::{RejectReason, Rejection};
use crate::sink::{dead_letter, CloudEventEncoder, CloudEventLines, LineWriter, SinkError};

/// Unacknowledged Kafka messages at most before the job waits for acks: a
/// slow broker slows consumption instead of growing memory.
const MAX_UNACKNOWLEDGED: usize = 100_000;

enum Sink {
    Kafka(KafkaSink),
    /// Stdout, or a file appended to (a restarted job goes on writing it).
    Lines(CloudEventLines),
}

enum DeadLetter {
    Kafka(KafkaDeadLetter),
    Lines(LineWriter),
    /// No `[dead_letter]`: rejections are counted and logged only.
    CountOnly,
}

/// The derived-event sinks and the dead-letter output of a job.
pub struct Outputs {
    encoder: CloudEventEncoder,
    /// Per rule: its sink's index in `sinks`; `None` when not output.
    routes: Vec<Option<usize>>,
    /// What each of `sinks` writes to.
    targets: Vec<SinkTarget>,
    sinks: Vec<Sink>,
    dead_letter: DeadLetter,
    rejected: BTreeMap<RejectReason, u64>,
    events_out: u64,
    buffer: Vec<u8>,
}

impl Outputs {
    pub fn open(program: &Program, config: &Config) -> Result<Self, JobError> {
        let dead_letter = match &config.dead_letter {
            Some(DeadLetterTarget::Kafka { topic }) => {
                DeadLetter::Kafka(KafkaDeadLetter::new(&config.kafka, topic)?)
            }
            Some(DeadLetterTarget::File { path }) => {
                DeadLetter::Lines(LineWriter::append(path).map_err(output_error)?)
            }
            None => DeadLetter::CountOnly,
        };
        let mut outputs = Outputs {
            encoder: CloudEventEncoder::for_kafka(program),
            routes: Vec::new(),
            targets: Vec::new(),
            sinks: Vec::new(),
            dead_letter,
            rejected: BTreeMap::new(),
            events_out: 0,
            buffer: Vec::new(),
        };
        outputs.route(program, config)?;
        Ok(outputs)
    }

    /// Routes every rule of `program` to its sink, opening the sinks not
    /// open yet: after a reload, sinks of the previous rules stay open.
    pub fn route(&mut self, program: &Program, config: &Config) -> Result<(), JobError> {
        self.encoder = CloudEventEncoder::for_kafka(program);
        for sink in &mut self.sinks {
            if let Sink::Lines(lines) = sink {
                lines.set_encoder(self.encoder.clone());
            }
        }
        let mut routes = Vec::with_capacity(program.rules.len());
        for rule in &program.rules {
            let route = match config.sink_for(&rule.emit.name) {
                Some(target) => Some(self.sink_for(target, config)?),
                None => None,
            };
            routes.push(route);
        }
        self.routes = routes;
        Ok(())
    }

    /// The index of `target`'s sink, opened if needed.
    fn sink_for(&mut self, target: &SinkTarget, config: &Config) -> Result<usize, JobError> {
        if let Some(index) = self.targets.iter().position(|t| t == target) {
            return Ok(index);
        }
        self.sinks.push(match target {
            SinkTarget::Kafka { topic, mode } => {
                Sink::Kafka(KafkaSink::new(&config.kafka, topic, *mode)?)
            }
            SinkTarget::Stdout => Sink::Lines(self.lines(LineWriter::stdout())),
            SinkTarget::File { path } => {
                Sink::Lines(self.lines(LineWriter::append(path).map_err(output_error)?))
            }
        });
        self.targets.push(target.clone());
        Ok(self.sinks.len() - 1)
    }

    /// A CloudEvents line sink with the current encoder.
    fn lines(&self, out: LineWriter) -> CloudEventLines {
        CloudEventLines::new(self.encoder.clone(), out)
    }

    /// Hands a derived event to its rule's sink.
    pub async fn emit(&mut self, event: &OutputEvent) -> Result<(), JobError> {
        let Some(&Some(sink)) = self.routes.get(event.rule) else {
            return Ok(());
        };
        self.events_out += 1;
        match &mut self.sinks[sink] {
            Sink::Kafka(kafka) => {
                kafka.send_output(&self.encoder, event).await?;
                if kafka.unacknowledged() >= MAX_UNACKNOWLEDGED {
                    kafka.wait_for_acks().await?;
                }
            }
            Sink::Lines(lines) => lines
                .write(std::slice::from_ref(event))
                .map_err(output_error)?,
        }
        Ok(())
    }

    /// Hands a rejected message of `stream` to the dead-letter output, unchanged.
    pub async fn reject(
        &mut self,
        stream: &str,
        message: &SourceMessage,
        reason: RejectReason,
        detail: &str,
    ) -> Result<(), JobError> {
        *self.rejected.entry(reason).or_default() += 1;
        match &mut self.dead_letter {
            DeadLetter::Kafka(kafka) => {
                let rejected = RejectedMessage {
                    topic: &message.topic,
                    partition: message.partition,
                    offset: message.offset,
                    timestamp: message.timestamp,
                    key: message.key.as_deref(),
                    payload: &message.payload,
                };
                kafka.send(&rejected, reason, detail).await?;
            }
            DeadLetter::Lines(lines) => {
                self.buffer.clear();
                let source = format!("{}/{}", message.topic, message.partition);
                let rejection = Rejection {
                    line: message.offset,
                    reason,
                    detail: detail.to_string(),
                    raw: message.payload.clone(),
                };
                dead_letter::encode(stream, &source, &rejection, &mut self.buffer);
                lines.write(&self.buffer).map_err(output_error)?;
            }
            // Counted, and logged a batch at a time by the job.
            DeadLetter::CountOnly => {}
        }
        Ok(())
    }

    /// Waits until everything handed over so far is acknowledged or written.
    pub async fn barrier(&mut self) -> Result<(), JobError> {
        for sink in &mut self.sinks {
            match sink {
                Sink::Kafka(kafka) => {
                    kafka.wait_for_acks().await?;
                }
                Sink::Lines(lines) => lines.flush().map_err(output_error)?,
            }
        }
        match &mut self.dead_letter {
            DeadLetter::Kafka(kafka) => {
                kafka.wait_for_acks().await?;
            }
            DeadLetter::Lines(lines) => lines.flush().map_err(output_error)?,
            DeadLetter::CountOnly => {}
        }
        Ok(())
    }

    pub fn events_out(&self) -> u64 {
        self.events_out
    }

    pub fn rejected(&self) -> &BTreeMap<RejectReason, u64> {
        &self.rejected
    }

    /// Where everything goes, for the startup log.
    pub fn describe(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .sinks
            .iter()
            .map(|s| match s {
                Sink::Kafka(k) => format!("kafka topic {}", k.topic()),
                Sink::Lines(l) => l.name().display().to_string(),
            })
            .collect();
        names.push(match &self.dead_letter {
            DeadLetter::Kafka(k) => format!("dead letters to kafka topic {}", k.topic()),
            DeadLetter::Lines(l) => format!("dead letters to {}", l.name().display()),
            DeadLetter::CountOnly => "dead letters counted only".into(),
        });
        names
    }
}

fn output_error(error: SinkError) -> JobError {
    JobError::Output(error)
}
