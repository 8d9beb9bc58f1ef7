//! From a source batch to the decoder's input: the messages of each topic
//! as one [`Chunk`] of records, numbered by [`record_number`].

use std::collections::BTreeMap;

use super::source::SourceMessage;
use crate::position::record_number;
use crate::reject::{RejectReason, Rejection};
use runtime::source::lines::{Chunk, OVERSIZE_KEPT_BYTES};

/// The messages of `messages` per topic, as decoder chunks. A message over
/// `max_message_bytes` becomes an `oversize` rejection instead of a record
/// (its whole payload stays in the batch for the dead-letter topic).
pub fn chunks_by_topic(
    messages: &[SourceMessage],
    max_message_bytes: usize,
) -> BTreeMap<String, Chunk> {
    let mut chunks: BTreeMap<String, Chunk> = BTreeMap::new();
    for message in messages {
        let chunk = chunks.entry(message.topic.clone()).or_default();
        let number = record_number(message.partition, message.offset);
        if message.payload.len() > max_message_bytes {
            chunk.oversize.push(Rejection {
                line: number,
                reason: RejectReason::Oversize,
                detail: format!(
                    "message of {} bytes; the limit (max_message_bytes) is {max_message_bytes}",
                    message.payload.len()
                ),
                raw: message.payload[..OVERSIZE_KEPT_BYTES.min(message.payload.len())].to_vec(),
            });
        } else {
            chunk.push_line(number, &message.payload);
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(partition: i32, offset: i64, payload: &[u8]) -> SourceMessage {
        SourceMessage {
            topic: "auth".into(),
            partition,
            offset,
            timestamp: None,
            key: None,
            payload: payload.to_vec(),
            headers: Vec::new(),
        }
    }

    #[test]
    fn messages_become_records_and_oversize_ones_rejections() {
        let messages = [
            message(0, 3, br#"{"a":1}"#),
            message(1, 9, &[b'x'; 20]),
            message(1, 10, b"{}"),
        ];
        let chunks = chunks_by_topic(&messages, 10);
        let chunk = &chunks["auth"];
        assert_eq!(chunk.lines.len(), 2);
        assert_eq!(chunk.line_bytes(0), br#"{"a":1}"#);
        assert_eq!(chunk.lines[1].0, record_number(1, 10));
        assert_eq!(chunk.oversize.len(), 1);
        assert_eq!(chunk.oversize[0].line, record_number(1, 9));
        assert_eq!(chunk.oversize[0].reason, RejectReason::Oversize);
    }
}
