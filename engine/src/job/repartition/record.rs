//! What travels on a repartition topic: the input message, unchanged, and
//! in its headers where it came from and how far its upstream task has
//! come; and, between data, markers carrying only the latter.

use dsl::plan::Millis;
use rdkafka::message::{Header, OwnedHeaders};

use crate::kafka::SourceMessage;

/// The partition of the input topic the record was read from.
const FROM: &str = "eddy_from";
/// Its offset there (data records only): replays are recognised by it.
const OFFSET: &str = "eddy_offset";
/// The newest event time the upstream task has seen on that partition.
const PROGRESS: &str = "eddy_progress";
/// Present (`1`) when that partition has been quiet for the idle timeout.
const IDLE: &str = "eddy_idle";
/// The input message's Kafka timestamp, for streams timed by it.
const TIMESTAMP: &str = "eddy_timestamp";

/// How far one upstream task has come on one input partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamProgress {
    /// The input partition.
    pub from: i32,
    /// The newest event time seen there (`None`: none yet).
    pub newest: Option<Millis>,
    pub idle: bool,
}

/// One record of a repartition topic, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// An input message: its input offset, and the upstream's progress
    /// including it.
    Data {
        offset: i64,
        progress: UpstreamProgress,
        timestamp: Option<Millis>,
    },
    Marker(UpstreamProgress),
}

/// The headers of a forwarded input message at `offset` of partition
/// `progress.from`, or of a marker (`offset` `None`).
pub fn headers(
    progress: &UpstreamProgress,
    offset: Option<i64>,
    timestamp: Option<Millis>,
) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new_with_capacity(4).insert(Header {
        key: FROM,
        value: Some(&progress.from.to_string()),
    });
    let mut add = |key: &str, value: String| {
        headers = std::mem::replace(&mut headers, OwnedHeaders::new()).insert(Header {
            key,
            value: Some(&value),
        });
    };
    if let Some(offset) = offset {
        add(OFFSET, offset.to_string());
    }
    if let Some(newest) = progress.newest {
        add(PROGRESS, newest.to_string());
    }
    if progress.idle {
        add(IDLE, "1".into());
    }
    if let Some(timestamp) = timestamp {
        add(TIMESTAMP, timestamp.to_string());
    }
    headers
}

/// Reads a repartition record; `None` for a message eddy did not write
/// (no upstream partition), which is skipped.
pub fn parse(message: &SourceMessage) -> Option<Received> {
    let header = |key: &str| -> Option<i64> {
        let (_, value) = message.headers.iter().find(|(k, _)| k == key)?;
        std::str::from_utf8(value).ok()?.parse().ok()
    };
    let progress = UpstreamProgress {
        from: i32::try_from(header(FROM)?).ok()?,
        newest: header(PROGRESS),
        idle: header(IDLE) == Some(1),
    };
    Some(match header(OFFSET) {
        Some(offset) => Received::Data {
            offset,
            progress,
            timestamp: header(TIMESTAMP),
        },
        None => Received::Marker(progress),
    })
}

#[cfg(test)]
mod tests {
    use rdkafka::message::Headers;

    use super::*;

    fn message(headers: OwnedHeaders) -> SourceMessage {
        SourceMessage {
            topic: "g-repartition-auth-ip".into(),
            partition: 1,
            offset: 7,
            timestamp: None,
            key: None,
            payload: Vec::new(),
            headers: headers
                .iter()
                .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn data_and_markers_read_back_as_written() {
        let progress = UpstreamProgress {
            from: 3,
            newest: Some(1_000),
            idle: false,
        };
        assert_eq!(
            parse(&message(headers(&progress, Some(41), Some(5)))),
            Some(Received::Data {
                offset: 41,
                progress,
                timestamp: Some(5)
            })
        );
        let idle = UpstreamProgress {
            from: 0,
            newest: None,
            idle: true,
        };
        assert_eq!(
            parse(&message(headers(&idle, None, None))),
            Some(Received::Marker(idle))
        );
        assert_eq!(parse(&message(OwnedHeaders::new())), None);
    }
}
