//! What a feeder read, decoded into the driver's batch: the same decoding,
//! size limit and dead-letter records for every mesh input.

use std::sync::Arc;
use std::time::Instant;

use dsl::plan::Program;

use crate::decode::{DecodeError, StreamDecoder};
use crate::driver::{Origins, SourceBatch};
use crate::reject::{RejectReason, Rejection, SourcedRejection};
use crate::source::lines::OVERSIZE_KEPT_BYTES;
use crate::source::Chunk;

use super::MESH_TASK;

/// One thing a feeder read.
pub enum Item {
    /// An event's JSON, for the stream to decode.
    Event(Vec<u8>),
    /// Not an event (its envelope was wrong): dead-lettered as it is.
    Refused {
        reason: RejectReason,
        detail: String,
        raw: Vec<u8>,
    },
}

/// Decodes the items of one stream.
pub struct Batcher {
    stream: usize,
    /// What dead-letter records name as the source (`http:auth`).
    source: Arc<str>,
    decoder: StreamDecoder,
    max_message_bytes: usize,
}

impl Batcher {
    pub fn new(
        program: &Program,
        stream: usize,
        source: &str,
        max_message_bytes: usize,
    ) -> Result<Self, DecodeError> {
        Ok(Batcher {
            stream,
            source: Arc::from(source),
            decoder: StreamDecoder::new(&program.catalog.streams[stream])?,
            max_message_bytes,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The batch of `items`, each with its number (its position in the
    /// source); `consumed`: the read position the batch takes the task past.
    pub fn batch(
        &mut self,
        items: Vec<(i64, Item)>,
        consumed: Option<i64>,
    ) -> Result<SourceBatch, DecodeError> {
        let received = Instant::now();
        let mut chunk = Chunk::default();
        let mut refused = Vec::new();
        for (number, item) in items {
            match item {
                Item::Event(bytes) if bytes.len() > self.max_message_bytes => {
                    chunk.oversize.push(Rejection {
                        line: number,
                        reason: RejectReason::Oversize,
                        detail: format!(
                            "event of {} bytes; the limit (max_message_bytes) is {}",
                            bytes.len(),
                            self.max_message_bytes
                        ),
                        raw: bytes[..OVERSIZE_KEPT_BYTES.min(bytes.len())].to_vec(),
                    })
                }
                Item::Event(bytes) => chunk.push_line(number, &bytes),
                Item::Refused {
                    reason,
                    detail,
                    raw,
                } => refused.push(Rejection {
                    line: number,
                    reason,
                    detail,
                    raw,
                }),
            }
        }
        let decoded = self.decoder.decode(&chunk)?;
        let mut rejections = decoded.rejects;
        rejections.extend(refused);
        rejections.sort_by_key(|r| r.line);
        Ok(SourceBatch {
            task: MESH_TASK,
            stream: self.stream,
            events: decoded.batch,
            rejected: rejections
                .into_iter()
                .map(|rejection| SourcedRejection {
                    source: self.source.clone(),
                    rejection,
                    record: None,
                })
                .collect(),
            origins: Origins::Chunk {
                source: self.source.clone(),
                chunk,
                chunk_lines: decoded.chunk_lines,
            },
            consumed: consumed
                .map(|next| vec![(self.source.to_string(), next)])
                .unwrap_or_default(),
            received: Some(received),
        })
    }
}
