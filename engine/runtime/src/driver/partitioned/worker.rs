//! One worker: a pipeline on its own thread, over its share of the keys.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use arrow_array::RecordBatch;

use crate::pipeline::{OutputEvent, Pipeline, PipelineError, Progress};
use crate::time::SourceProgress;

/// What the runner asks of a worker.
pub(super) enum Command {
    /// Take these events of `stream`, then let the stream's clock follow
    /// `progress`: the progress of the runner's own clock, which saw every
    /// event, so all workers keep the same watermark.
    Push {
        stream: usize,
        batch: RecordBatch,
        progress: SourceProgress,
    },
    FinishStream(usize),
    Finish,
}

pub(super) enum Reply {
    Progress(Progress),
    Finished(Vec<OutputEvent>),
}

pub(super) struct Worker {
    commands: Option<SyncSender<Command>>,
    replies: Receiver<Result<Reply, PipelineError>>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    pub(super) fn spawn(index: usize, mut pipeline: Pipeline) -> std::io::Result<Self> {
        // Room for one command: the runner hands out a step while the
        // worker is on the one before, then collects that one's reply, so a
        // deeper queue would only hold memory.
        let (commands, inbox) = sync_channel::<Command>(1);
        let (outbox, replies) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name(format!("eddy-worker-{index}"))
            .spawn(move || {
                for command in inbox {
                    let reply = execute(&mut pipeline, command);
                    if outbox.send(reply).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Worker {
            commands: Some(commands),
            replies,
            thread: Some(thread),
        })
    }

    /// `false` if the worker has stopped.
    pub(super) fn send(&self, command: Command) -> bool {
        self.commands
            .as_ref()
            .is_some_and(|c| c.send(command).is_ok())
    }

    /// The reply to the last command; `None` if the worker has stopped.
    pub(super) fn receive(&self) -> Option<Result<Reply, PipelineError>> {
        self.replies.recv().ok()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the channel ends the worker's loop.
        self.commands = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn execute(pipeline: &mut Pipeline, command: Command) -> Result<Reply, PipelineError> {
    Ok(match command {
        Command::Push {
            stream,
            batch,
            progress,
        } => {
            let mut pushed = if batch.num_rows() > 0 {
                pipeline.push(stream, &batch)?
            } else {
                Progress::default()
            };
            let driven = pipeline.drive_stream(stream, progress)?;
            pushed.ready.extend(driven.ready);
            Reply::Progress(pushed)
        }
        Command::FinishStream(stream) => Reply::Progress(pipeline.finish_stream(stream)?),
        Command::Finish => Reply::Finished(pipeline.finish()?),
    })
}
