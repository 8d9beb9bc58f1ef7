//! The job's inputs: which topic feeds which stream, and how a partition's
//! messages become decoded batches of each stream.

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use dsl::plan::{Millis, Program};

use super::JobError;
use crate::config::{Config, StreamSource, TimestampSource};
use crate::decode::{Decoded, StreamDecoder};
use crate::kafka::chunk::chunks_by_topic;
use crate::kafka::SourceMessage;
use crate::position::record_number;
use crate::source::stamp::with_time_field;
use crate::source::Chunk;

/// One input stream read from a topic.
pub struct KafkaInput {
    /// The stream's index in the program's catalog.
    pub stream: usize,
    pub name: String,
    pub topic: String,
    timestamp: TimestampSource,
    pub time_field: String,
    decoder: StreamDecoder,
}

/// A decoded chunk of one input, with the messages it came from.
pub struct DecodedChunk<'m> {
    /// Index into [`JobInputs::inputs`].
    pub input: usize,
    pub chunk: Chunk,
    pub decoded: Decoded,
    /// The chunk's messages by record number (partition and offset), for
    /// dead-letter records.
    pub messages: BTreeMap<i64, &'m SourceMessage>,
}

impl DecodedChunk<'_> {
    /// The accepted events, each with its message and event time, in order.
    pub fn accepted(&self, time_field: &str) -> Vec<(&SourceMessage, Millis)> {
        let Some(times) = self
            .decoded
            .batch
            .column_by_name(time_field)
            .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
        else {
            return Vec::new();
        };
        self.decoded
            .chunk_lines
            .iter()
            .enumerate()
            .filter_map(|(row, &line)| {
                let number = self.chunk.lines.get(line)?.0;
                Some((*self.messages.get(&number)?, times.value(row)))
            })
            .collect()
    }
}

pub struct JobInputs {
    pub inputs: Vec<KafkaInput>,
}

impl JobInputs {
    /// Binds every declared stream a rule reads to its `[streams.NAME]`
    /// table (default: the topic of the stream's name, JSON, the event's
    /// time field).
    pub fn new(program: &Program, config: &Config) -> Result<Self, JobError> {
        let mut inputs = Vec::new();
        for (index, stream) in program.input_streams() {
            let (topic, timestamp) = match config.streams.get(&stream.name) {
                None => (stream.name.clone(), TimestampSource::Field),
                Some(StreamSource::Kafka(kafka)) => (kafka.topic.clone(), kafka.timestamp),
                // The job's mesh plan takes a job with these elsewhere.
                Some(StreamSource::File(_) | StreamSource::Http(_) | StreamSource::Amqp(_)) => {
                    return Err(JobError::MixedSources(stream.name.clone()))
                }
            };
            if let Some(other) = inputs.iter().find(|i: &&KafkaInput| i.topic == topic) {
                return Err(JobError::SharedTopic {
                    topic,
                    first: other.name.clone(),
                    second: stream.name.clone(),
                });
            }
            inputs.push(KafkaInput {
                stream: index,
                name: stream.name.clone(),
                topic,
                timestamp,
                time_field: stream.time_field.clone(),
                decoder: StreamDecoder::new(stream)?,
            });
        }
        Ok(JobInputs { inputs })
    }

    /// A batch of no events of input `input`.
    pub fn empty_batch(&self, input: usize) -> arrow_array::RecordBatch {
        arrow_array::RecordBatch::new_empty(self.inputs[input].decoder.in_flight_schema().clone())
    }

    pub fn topics(&self) -> Vec<&str> {
        self.inputs.iter().map(|i| i.topic.as_str()).collect()
    }

    /// Decodes the messages of one partition number, a chunk per topic, in
    /// input order.
    pub fn decode<'m>(
        &mut self,
        messages: &'m [SourceMessage],
        max_message_bytes: usize,
    ) -> Result<Vec<DecodedChunk<'m>>, JobError> {
        let stamped: Vec<SourceMessage>;
        let to_chunk = if self
            .inputs
            .iter()
            .any(|i| i.timestamp == TimestampSource::Kafka)
        {
            stamped = messages.iter().map(|m| self.stamp(m)).collect();
            stamped.as_slice()
        } else {
            messages
        };
        let mut chunks = chunks_by_topic(to_chunk, max_message_bytes);
        let mut decoded = Vec::new();
        for (index, input) in self.inputs.iter_mut().enumerate() {
            let Some(chunk) = chunks.remove(&input.topic) else {
                continue;
            };
            decoded.push(DecodedChunk {
                input: index,
                decoded: input.decoder.decode(&chunk)?,
                chunk,
                messages: messages
                    .iter()
                    .filter(|m| m.topic == input.topic)
                    .map(|m| (record_number(m.partition, m.offset), m))
                    .collect(),
            });
        }
        Ok(decoded)
    }

    /// The message with its Kafka timestamp written into the event's time
    /// field, for streams whose time is the message's. A message without
    /// a timestamp keeps its payload and is rejected for its missing time.
    fn stamp(&self, message: &SourceMessage) -> SourceMessage {
        let input = self.inputs.iter().find(|i| i.topic == message.topic);
        match (input, message.timestamp) {
            (Some(input), Some(time)) if input.timestamp == TimestampSource::Kafka => {
                SourceMessage {
                    payload: with_time_field(&message.payload, &input.time_field, time)
                        .unwrap_or_else(|| message.payload.clone()),
                    ..message.clone()
                }
            }
            _ => message.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reject::RejectReason;

    fn message(offset: i64, timestamp: Option<i64>, payload: &str) -> SourceMessage {
        SourceMessage {
            topic: "clicks".into(),
            partition: 0,
            offset,
            timestamp,
            key: None,
            payload: payload.as_bytes().to_vec(),
            headers: Vec::new(),
        }
    }

    #[test]
    fn a_stream_timed_by_kafka_takes_the_message_timestamp() {
        let sources = [dsl::Source {
            name: "r.eddy".into(),
            text: "stream clicks ( ts timestamp, url string ) time ts\n\
                   rule r from clicks emit e { url }"
                .into(),
        }];
        let program = dsl::compile(&sources).0.expect("rules compile");
        let config = Config::parse("[streams.clicks]\ntimestamp = \"kafka\"\n", "t").unwrap();
        let mut inputs = JobInputs::new(&program, &config).unwrap();
        let messages = [
            message(0, Some(5_000), r#"{"url":"/a"}"#),
            // The Kafka timestamp wins over a field of the same name.
            message(1, Some(6_000), r#"{"url":"/b","ts":1}"#),
            message(2, None, r#"{"url":"/c"}"#),
            // Stamping the time must not hide a key named twice.
            message(3, Some(7_000), r#"{"url":"/d","url":"/e"}"#),
        ];
        let chunks = inputs.decode(&messages, 1 << 20).unwrap();
        let decoded = &chunks[0].decoded;
        let times = decoded
            .batch
            .column(0)
            .as_primitive::<TimestampMillisecondType>();
        assert_eq!(times.values().to_vec(), vec![5_000, 6_000]);
        let reasons: Vec<_> = decoded.rejects.iter().map(|r| r.reason).collect();
        assert_eq!(
            reasons,
            [RejectReason::MissingField, RejectReason::DuplicateField],
            "no timestamp: no event time"
        );
    }
}
