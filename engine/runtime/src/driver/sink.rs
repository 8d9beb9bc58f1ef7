//! What a sink is to the driver: derived events go to an [`EventSink`],
//! rejected input to a [`DeadLetterOutput`]. Each serializes its own way
//! (CloudEvents JSON lines, Kafka messages, a summary) and makes what it
//! was handed durable at [`EventSink::flush`].

use dsl::plan::Program;

use super::TaskId;
use crate::checkpoint::SourceOffset;
use crate::pipeline::OutputEvent;
use crate::reject::SourcedRejection;
use crate::sink::{DeadLetterSink, SinkError};

/// Where derived events go.
pub trait EventSink {
    /// Takes derived events, in output order.
    fn write(&mut self, events: &[OutputEvent]) -> Result<(), SinkError>;

    /// Takes derived events of task `task` (`None` where the driver merged
    /// several tasks' events). Sinks that write each event once across a
    /// restore (see [`EventSink::resume`]) need the task.
    fn write_from(
        &mut self,
        _task: Option<TaskId>,
        events: &[OutputEvent],
    ) -> Result<(), SinkError> {
        self.write(events)
    }

    /// Where the sink's outputs end now, recorded in each checkpoint after
    /// the barrier; empty for sinks that cannot be read back.
    fn positions(&mut self) -> Result<Vec<SourceOffset>, SinkError> {
        Ok(Vec::new())
    }

    /// Task `task` was restored from a checkpoint whose sink positions were
    /// `from`, and replays what followed: what it derived after `from` and
    /// the sink still holds must not be written again.
    fn resume(&mut self, _task: TaskId, _from: &[SourceOffset]) -> Result<(), SinkError> {
        Ok(())
    }

    /// While task `task` replays events the sink holds already, the
    /// positions its checkpoints must keep: those it was restored from (a
    /// checkpoint with later positions would lose track of what it has yet
    /// to derive again). `None` when it is not replaying.
    fn replaying_from(&self, _task: TaskId) -> Option<Vec<SourceOffset>> {
        None
    }

    /// What was written so far is visible to a reader (buffers flushed):
    /// after each batch with derived events, for a live reader.
    fn flush(&mut self) -> Result<(), SinkError>;

    /// Everything written so far is durable (synced, acknowledged by the
    /// broker): at a barrier, before positions are committed, and at the
    /// end. By default the same as [`EventSink::flush`].
    fn barrier(&mut self) -> Result<(), SinkError> {
        self.flush()
    }

    /// The rules were reloaded: events of `program`'s rules follow.
    fn set_program(&mut self, _program: &Program) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Where rejected input goes, with its reason.
pub trait DeadLetterOutput {
    /// A rejected record of input `input` (the driver's source index),
    /// which feeds stream `stream`.
    fn reject(
        &mut self,
        input: usize,
        stream: &str,
        rejected: &SourcedRejection,
    ) -> Result<(), SinkError>;

    /// Everything rejected so far is out, at a barrier. Outputs that
    /// write everything at the end (a grouped dead-letter file) need not.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Everything rejected so far is out; called once, at the end of a
    /// finite run.
    fn finish(&mut self) -> Result<(), SinkError>;
}

impl DeadLetterOutput for DeadLetterSink {
    fn reject(
        &mut self,
        input: usize,
        stream: &str,
        rejected: &SourcedRejection,
    ) -> Result<(), SinkError> {
        self.write(input, stream, &rejected.source, &rejected.rejection)
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        DeadLetterSink::finish(self)
    }
}
