//! The reader thread of one input: reads chunks of lines and decodes them.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread;

use dsl::plan::StreamPlan;

use super::RunError;
use crate::decode::{Decoded, StreamDecoder};
use crate::source::{Chunk, InputLocation, LineReader};

/// Chunks in flight per input: enough to overlap decoding with the
/// pipeline, few enough to bound memory.
const CHANNEL_CHUNKS: usize = 2;

pub enum ReaderMessage {
    /// A decoded chunk; the raw lines stay with it for late-event records.
    Chunk {
        chunk: Chunk,
        decoded: Decoded,
    },
    Failed(RunError),
    End,
}

pub fn spawn_reader(
    stream: StreamPlan,
    location: InputLocation,
    batch_size: usize,
    max_line_bytes: usize,
) -> std::io::Result<Receiver<ReaderMessage>> {
    let (tx, rx) = sync_channel(CHANNEL_CHUNKS);
    thread::Builder::new()
        .name(format!("eddy-read-{}", stream.name))
        .spawn(move || {
            let last = match read_all(&stream, &location, batch_size, max_line_bytes, &tx) {
                Ok(()) => ReaderMessage::End,
                Err(error) => ReaderMessage::Failed(error),
            };
            // The receiver is gone only when the run already stopped.
            let _ = tx.send(last);
        })?;
    Ok(rx)
}

fn read_all(
    stream: &StreamPlan,
    location: &InputLocation,
    batch_size: usize,
    max_line_bytes: usize,
    tx: &SyncSender<ReaderMessage>,
) -> Result<(), RunError> {
    let mut decoder = StreamDecoder::new(stream)?;
    // Stdin may be a live feed: hand over what has arrived rather than wait
    // for a full chunk, so derived events are not held back by silence.
    let live = matches!(location, InputLocation::Stdin);
    let mut lines = LineReader::new(location.open()?, location.display_name(), max_line_bytes)
        .hand_over_partial_chunks(live);
    // Each round consumes a chunk of the finite input.
    while let Some(chunk) = lines.next_chunk(batch_size)? {
        let decoded = decoder.decode(&chunk)?;
        if tx.send(ReaderMessage::Chunk { chunk, decoded }).is_err() {
            return Ok(());
        }
    }
    Ok(())
}
