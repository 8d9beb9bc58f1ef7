//! Messages in, derived events and dead letters out: decoding a batch per
//! partition, pushing it to the partition's task, and handing what comes
//! out to the outputs.

use std::collections::BTreeMap;
use std::time::Instant;

use super::{Job, JobError};
use crate::driver::late_detail;
use crate::kafka::SourceMessage;
use crate::pipeline::Progress;
use crate::position::split_record_number;
use crate::reject::RejectReason;

impl Job {
    pub(super) async fn process(
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
                        let lateness = self.program.catalog.streams[stream].lateness;
                        let detail = late_detail(late.time, late.watermark, &name, lateness);
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

    pub(super) async fn idle_check(&mut self) -> Result<(), JobError> {
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
    pub(super) async fn emit(
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
            self.metrics
                .latency(received.elapsed(), progress.ready.len() as u64);
        }
        Ok(())
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
