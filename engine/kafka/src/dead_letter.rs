//! Rejected input to a dead-letter topic: the message unchanged (key,
//! value, timestamp) with headers that say why and where it came from:
//!
//! | header                  | value                                    |
//! |-------------------------|------------------------------------------|
//! | `eddy_reason`           | `malformed_json`, `late`, … ([`RejectReason`]) |
//! | `eddy_detail`           | a human message: which field, what was expected |
//! | `eddy_source_topic`     | the topic it was read from               |
//! | `eddy_source_partition` | its partition, in decimal                |
//! | `eddy_source_offset`    | its offset, in decimal                   |
//!
//! A payload larger than [`DEAD_LETTER_MAX_BYTES`] is cut to that size and
//! gets an `eddy_truncated_from` header with its original length.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};

use super::ack::{AckedProducer, Delivered, Outgoing};
use super::error::KafkaConnectorError;
use crate::config::KafkaConfig;
use crate::reject::RejectReason;

/// The largest payload kept whole; the producer accepts messages this
/// large (plus headers) so an oversize input still lands unchanged.
pub const DEAD_LETTER_MAX_BYTES: usize = 32 << 20;

/// A consumed message that could not be used.
#[derive(Debug, Clone, Copy)]
pub struct RejectedMessage<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch, as the source message had it.
    pub timestamp: Option<i64>,
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
}

/// A producer of rejected messages to one topic, counting them by reason.
pub struct KafkaDeadLetter {
    out: AckedProducer,
    counts: BTreeMap<RejectReason, u64>,
}

impl KafkaDeadLetter {
    pub fn new(kafka: &KafkaConfig, topic: &str) -> Result<Self, KafkaConnectorError> {
        let mut config = super::client::producer(kafka);
        if config.get("message.max.bytes").is_none() {
            // Room for the payload and its headers.
            config.set(
                "message.max.bytes",
                (DEAD_LETTER_MAX_BYTES + (1 << 20)).to_string(),
            );
        }
        let producer = config
            .create()
            .map_err(|source| KafkaConnectorError::Create {
                role: "dead-letter producer",
                source,
            })?;
        Ok(KafkaDeadLetter {
            out: AckedProducer::new(producer, topic),
            counts: BTreeMap::new(),
        })
    }

    pub fn topic(&self) -> &str {
        self.out.topic()
    }

    /// Enqueues `message` with its reason. Counted when enqueued.
    pub async fn send(
        &mut self,
        message: &RejectedMessage<'_>,
        reason: RejectReason,
        detail: &str,
    ) -> Result<(), KafkaConnectorError> {
        let partition = message.partition.to_string();
        let offset = message.offset.to_string();
        let mut headers = OwnedHeaders::new_with_capacity(6)
            .insert(Header {
                key: "eddy_reason",
                value: Some(reason.as_str()),
            })
            .insert(Header {
                key: "eddy_detail",
                value: Some(detail),
            })
            .insert(Header {
                key: "eddy_source_topic",
                value: Some(message.topic),
            })
            .insert(Header {
                key: "eddy_source_partition",
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: "eddy_source_offset",
                value: Some(offset.as_str()),
            });
        let mut payload = message.payload;
        if payload.len() > DEAD_LETTER_MAX_BYTES {
            headers = headers.insert(Header {
                key: "eddy_truncated_from",
                value: Some(payload.len().to_string().as_str()),
            });
            payload = &payload[..DEAD_LETTER_MAX_BYTES];
        }
        self.out
            .send(Outgoing {
                key: message.key,
                payload,
                headers,
                timestamp: message.timestamp,
                partition: None,
            })
            .await?;
        *self.counts.entry(reason).or_default() += 1;
        Ok(())
    }

    /// Rejections so far, per reason, in a stable order.
    pub fn counts(&self) -> &BTreeMap<RejectReason, u64> {
        &self.counts
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Waits until the broker has acknowledged every rejected message sent
    /// so far; the source offsets past them may be committed only then.
    pub async fn wait_for_acks(&mut self) -> Result<Vec<Delivered>, KafkaConnectorError> {
        self.out.wait_for_acks().await
    }

    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaConnectorError> {
        self.out.flush(timeout)
    }
}
