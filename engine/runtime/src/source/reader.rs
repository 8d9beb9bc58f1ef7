//! [`LineSource`]: a file, stdin or embedded text as a driver [`Source`].
//!
//! A reader thread reads chunks of lines and decodes them, and hands them
//! over a bounded channel: `capacity` chunks in flight, so memory stays
//! bounded (by about `max_chunk_bytes` × (`capacity` + 2): the chunks in
//! the channel, the one being read and the one in the pipeline, each with
//! its decoded batch) and decoding overlaps with the pipeline, and a slow pipeline
//! slows the reader instead of growing a queue.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread;

use dsl::plan::StreamPlan;

use super::{Chunk, InputLocation, LineReader};
use crate::decode::StreamDecoder;
use crate::driver::{Origins, RunError, Source, SourceBatch, SourceEvent};
use crate::reject::SourcedRejection;

/// How a [`LineSource`] reads.
#[derive(Debug, Clone, Copy)]
pub struct LineOptions {
    /// Lines per chunk.
    pub batch_size: usize,
    /// Bytes of lines per chunk (a chunk takes one line at least).
    pub max_chunk_bytes: usize,
    pub max_line_bytes: usize,
    /// Decoded chunks in flight between the reader thread and the driver.
    pub capacity: usize,
}

enum ReaderMessage {
    Batch(SourceBatch),
    Failed(RunError),
    End,
}

/// JSON lines of one input stream, read and decoded on a thread.
pub struct LineSource {
    stream: usize,
    name: String,
    messages: Receiver<ReaderMessage>,
}

impl LineSource {
    /// Starts reading `location` as stream `plan` (catalog index `stream`).
    pub fn spawn(
        stream: usize,
        plan: StreamPlan,
        location: InputLocation,
        options: LineOptions,
    ) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(options.capacity.max(1));
        let name = location.display_name();
        thread::Builder::new()
            .name(format!("eddy-read-{}", plan.name))
            .spawn(move || {
                let last = match read_all(stream, &plan, &location, options, &tx) {
                    Ok(()) => ReaderMessage::End,
                    Err(error) => ReaderMessage::Failed(error),
                };
                // The receiver is gone only when the run already stopped.
                let _ = tx.send(last);
            })?;
        Ok(LineSource {
            stream,
            name,
            messages: rx,
        })
    }

    fn event(&self, message: ReaderMessage) -> Result<SourceEvent, RunError> {
        match message {
            ReaderMessage::Batch(batch) => Ok(SourceEvent::Batch(Box::new(batch))),
            ReaderMessage::Failed(error) => Err(error),
            ReaderMessage::End => Ok(SourceEvent::End),
        }
    }
}

impl Source for LineSource {
    fn stream(&self) -> Option<usize> {
        Some(self.stream)
    }

    fn next(&mut self) -> Result<SourceEvent, RunError> {
        let message = self
            .messages
            .recv()
            .map_err(|_| RunError::ReaderLost(self.name.clone()))?;
        self.event(message)
    }

    fn try_next(&mut self) -> Result<Option<SourceEvent>, RunError> {
        match self.messages.try_recv() {
            Ok(message) => self.event(message).map(Some),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(RunError::ReaderLost(self.name.clone())),
        }
    }
}

fn read_all(
    index: usize,
    stream: &StreamPlan,
    location: &InputLocation,
    options: LineOptions,
    tx: &SyncSender<ReaderMessage>,
) -> Result<(), RunError> {
    let mut decoder = StreamDecoder::new(stream)?;
    let source: Arc<str> = Arc::from(location.display_name());
    // Stdin may be a live feed: hand over what has arrived rather than wait
    // for a full chunk, so derived events are not held back by silence.
    let live = matches!(location, InputLocation::Stdin);
    let mut lines = LineReader::new(
        location.open()?,
        location.display_name(),
        options.max_line_bytes,
    )
    .max_chunk_bytes(options.max_chunk_bytes)
    .hand_over_partial_chunks(live);
    // Each round consumes a chunk of the finite input.
    while let Some(chunk) = lines.next_chunk(options.batch_size)? {
        let batch = decode_chunk(index, &source, &mut decoder, chunk)?;
        if tx.send(ReaderMessage::Batch(batch)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// A chunk of lines of stream `index`, read from `source`, as the driver
/// takes it: decoded events and rejected lines, the chunk kept for the
/// dead-letter records of late and future events.
pub fn decode_chunk(
    index: usize,
    source: &Arc<str>,
    decoder: &mut StreamDecoder,
    chunk: Chunk,
) -> Result<SourceBatch, RunError> {
    let decoded = decoder.decode(&chunk)?;
    let rejected = decoded
        .rejects
        .into_iter()
        .map(|rejection| SourcedRejection {
            source: source.clone(),
            rejection,
            record: None,
        })
        .collect();
    Ok(SourceBatch {
        task: 0,
        stream: index,
        events: decoded.batch,
        rejected,
        origins: Origins::Chunk {
            source: source.clone(),
            chunk,
            chunk_lines: decoded.chunk_lines,
        },
        consumed: Vec::new(),
        received: None,
    })
}
