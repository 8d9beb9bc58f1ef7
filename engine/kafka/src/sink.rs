//! Derived events to a Kafka topic as CloudEvents (see [`super::cloudevent`]
//! for the layout), keyed by the match's partition key so every event of
//! one key lands in one partition, in order.
//!
//! Sending only enqueues; the delivery reports collect in the sink until
//! [`KafkaSink::wait_for_acks`], which the runtime calls at a checkpoint
//! barrier before it commits the source offsets.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};

use super::ack::{AckedProducer, Delivered, Outgoing};
use super::cloudevent::{CloudEvent, DEFAULT_DATA_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE};
use super::error::KafkaConnectorError;
use super::written::TASK_HEADER;
use crate::config::{CloudEventMode, KafkaConfig};
use crate::pipeline::OutputEvent;
use runtime::sink::CloudEventEncoder;

/// A producer of CloudEvents to one topic.
pub struct KafkaSink {
    out: AckedProducer,
    mode: CloudEventMode,
    sent: u64,
    /// Reused for encoding, so a send allocates nothing in the steady state.
    buffer: Vec<u8>,
}

impl KafkaSink {
    pub fn new(
        kafka: &KafkaConfig,
        topic: &str,
        mode: CloudEventMode,
    ) -> Result<Self, KafkaConnectorError> {
        let producer = super::client::producer(kafka).create().map_err(|source| {
            KafkaConnectorError::Create {
                role: "producer",
                source,
            }
        })?;
        Ok(KafkaSink {
            out: AckedProducer::new(producer, topic),
            mode,
            sent: 0,
            buffer: Vec::new(),
        })
    }

    pub fn topic(&self) -> &str {
        self.out.topic()
    }

    pub fn mode(&self) -> CloudEventMode {
        self.mode
    }

    /// Events sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Events sent whose delivery has not been awaited yet.
    pub fn unacknowledged(&self) -> usize {
        self.out.unacknowledged()
    }

    /// Enqueues one event: `cloudevent_json` is its structured JSON (as the
    /// file sink writes it), `key` the partition key of the match (no key:
    /// librdkafka spreads keyless messages over the partitions).
    pub async fn send(
        &mut self,
        key: Option<&str>,
        cloudevent_json: &[u8],
    ) -> Result<(), KafkaConnectorError> {
        let event = CloudEvent::parse(cloudevent_json)?;
        let (headers, payload) = match self.mode {
            CloudEventMode::Binary => (binary_headers(&event), event.data.unwrap_or_default()),
            CloudEventMode::Structured => (structured_headers(), event.structured),
        };
        self.out
            .send(Outgoing {
                key: key.map(str::as_bytes),
                payload,
                headers,
                timestamp: None,
                partition: None,
            })
            .await?;
        self.sent += 1;
        Ok(())
    }

    /// Enqueues a derived event of the pipeline, encoded as the file sink
    /// encodes it and keyed by the match's partition key; `task`, the task
    /// that derived it, goes in the [`TASK_HEADER`] header.
    pub async fn send_output(
        &mut self,
        encoder: &CloudEventEncoder,
        event: &OutputEvent,
        task: Option<i32>,
    ) -> Result<(), KafkaConnectorError> {
        // Encoded once: the binary mode sends the `data` span of the
        // structured form and the attributes the encoder lists, so nothing
        // is parsed back.
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        let data = encoder.encode(event, &mut buffer);
        let (headers, payload) = match self.mode {
            CloudEventMode::Binary => {
                let attributes = encoder.attributes(event);
                let attributes = attributes.iter().map(|(n, v)| (*n, v.as_str()));
                (
                    ce_headers(attributes, DEFAULT_DATA_CONTENT_TYPE),
                    &buffer[data],
                )
            }
            CloudEventMode::Structured => (structured_headers(), buffer.trim_ascii_end()),
        };
        let headers = match task {
            Some(task) => headers.insert(Header {
                key: TASK_HEADER,
                value: Some(&task.to_string()),
            }),
            None => headers,
        };
        let sent = self
            .out
            .send(Outgoing {
                key: event.meta.key.as_deref().map(str::as_bytes),
                payload,
                headers,
                timestamp: None,
                partition: None,
            })
            .await;
        self.buffer = buffer;
        sent?;
        self.sent += 1;
        Ok(())
    }

    /// Waits until the broker has acknowledged every event sent so far.
    /// An error means some event may not be written: do not commit.
    pub async fn wait_for_acks(&mut self) -> Result<Vec<Delivered>, KafkaConnectorError> {
        self.out.wait_for_acks().await
    }

    /// The end offset of every partition of the topic: where a reader of
    /// what is written after now starts.
    pub fn end_offsets(
        &self,
        timeout: Duration,
    ) -> Result<Vec<crate::checkpoint::SourceOffset>, KafkaConnectorError> {
        self.out.end_offsets(timeout)
    }

    /// Sends what librdkafka still holds, waiting at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaConnectorError> {
        self.out.flush(timeout)
    }
}

/// `ce_<attribute>` for each attribute, and `content-type` for the data.
fn binary_headers(event: &CloudEvent<'_>) -> OwnedHeaders {
    let attributes = event
        .attributes
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()));
    ce_headers(attributes, &event.data_content_type)
}

fn ce_headers<'a>(
    attributes: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    data_content_type: &str,
) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new_with_capacity(attributes.len() + 1);
    for (name, value) in attributes {
        headers = headers.insert(Header {
            key: &format!("ce_{name}"),
            value: Some(value),
        });
    }
    headers.insert(Header {
        key: "content-type",
        value: Some(data_content_type),
    })
}

/// The `content-type` of a structured-mode message.
fn structured_headers() -> OwnedHeaders {
    OwnedHeaders::new().insert(Header {
        key: "content-type",
        value: Some(STRUCTURED_CONTENT_TYPE),
    })
}
