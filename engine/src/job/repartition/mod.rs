//! Re-keying streams through internal topics, for rules whose input
//! topics are not split by their key (see [`super::layout`]): the input
//! topics' tasks forward ([`forward`]), the repartitioned tasks merge what
//! their upstream tasks sent ([`merge`]); [`record`] is what travels.

pub mod forward;
pub mod merge;
pub mod record;

use std::collections::BTreeMap;

pub use forward::Forwarder;
pub use merge::Upstreams;

use super::inputs::JobInputs;
use super::layout::JobLayout;
use crate::driver::{task_group, task_id, task_partition, TaskId};
use crate::kafka::SourceMessage;
use record::Received;

/// The job's re-keyed streams as its consumer sees them.
pub struct Repartition {
    pub layout: JobLayout,
    /// `None` when no stream is re-keyed.
    pub forwarder: Option<Forwarder>,
    pub upstreams: Upstreams,
    /// Per stream (catalog index): the partition count of its input topic,
    /// the number of upstream tasks of each internal topic of the stream.
    pub upstream_counts: BTreeMap<usize, usize>,
}

/// How far a task read one internal topic.
pub struct ReadTo {
    /// The stream (catalog index) and its input (index into the inputs).
    pub stream: usize,
    pub input: usize,
    /// The offset after the last message read.
    pub next: i64,
}

/// What a batch of a repartitioned task's messages carried.
pub struct Merged {
    /// Per internal topic read.
    pub read: BTreeMap<String, ReadTo>,
    /// The input messages forwarded, as they were read from their input
    /// topic (so decoding and dead letters treat them as such), less the
    /// ones forwarded again after an upstream restart.
    pub carried: Vec<SourceMessage>,
}

impl Repartition {
    /// The task of partition `partition` of `topic`.
    pub fn task_of(&self, topic: &str, partition: i32) -> TaskId {
        match self.layout.route_of(topic) {
            Some((group, _)) => task_id(group, partition),
            None => partition,
        }
    }

    /// Takes note of the markers and progress in `messages`, read by
    /// repartitioned task `task`, and of the replays among them.
    pub fn merge(
        &mut self,
        task: TaskId,
        messages: &[SourceMessage],
        inputs: &JobInputs,
    ) -> Merged {
        let mut read: BTreeMap<String, ReadTo> = BTreeMap::new();
        let mut carried = Vec::new();
        let mut replayed = 0;
        for message in messages {
            let Some((_, route)) = self.layout.route_of(&message.topic) else {
                continue;
            };
            let stream = route.stream;
            let Some(input) = inputs.inputs.iter().position(|i| i.stream == stream) else {
                continue;
            };
            let to = read.entry(message.topic.clone()).or_insert(ReadTo {
                stream,
                input,
                next: 0,
            });
            to.next = to.next.max(message.offset + 1);
            let count = self.upstream_counts.get(&stream).copied().unwrap_or(1);
            match record::parse(message) {
                None => tracing::warn!(
                    "skipped {}/{}@{}: not written by eddy",
                    message.topic,
                    message.partition,
                    message.offset
                ),
                Some(Received::Marker(progress)) => {
                    self.upstreams.observe(task, stream, count, progress)
                }
                Some(Received::Data {
                    offset,
                    progress,
                    timestamp,
                }) => {
                    self.upstreams.observe(task, stream, count, progress);
                    if self
                        .upstreams
                        .take(task, &message.topic, progress.from, offset)
                    {
                        carried.push(SourceMessage {
                            topic: inputs.inputs[input].topic.clone(),
                            partition: progress.from,
                            offset,
                            timestamp,
                            key: message.key.clone(),
                            payload: message.payload.clone(),
                            headers: Vec::new(),
                        });
                    } else {
                        replayed += 1;
                    }
                }
            }
        }
        if replayed > 0 {
            tracing::info!(
                "task {} of group {}: skipped {replayed} records forwarded again after a restart",
                task_partition(task),
                task_group(task)
            );
        }
        Merged { read, carried }
    }
}
