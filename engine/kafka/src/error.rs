//! Errors of the Kafka source and sinks.

/// Errors of the Kafka connectors. The librdkafka error is kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum KafkaConnectorError {
    #[error("cannot create the Kafka {role}: {source}")]
    Create {
        role: &'static str,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("cannot subscribe to {topics}: {source}")]
    Subscribe {
        topics: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("consuming: {0}")]
    Consume(#[source] rdkafka::error::KafkaError),
    #[error("committing offsets: {0}")]
    Commit(#[source] rdkafka::error::KafkaError),
    #[error("producing to `{topic}`: {source}")]
    Produce {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("the producer's queue for `{topic}` stayed full for {waited_ms} ms")]
    QueueFull { topic: String, waited_ms: u128 },
    #[error("delivery to `{topic}` failed: {source}")]
    Delivery {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("the producer for `{topic}` was dropped before the delivery report")]
    DeliveryCanceled { topic: String },
    #[error("reading back what `{topic}` holds: {problem}")]
    ReadBack { topic: String, problem: String },
    #[error("reading the metadata of {topics}: {source}")]
    Metadata {
        topics: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("cannot create topic `{topic}`: {problem}")]
    CreateTopic { topic: String, problem: String },
    #[error(
        "topic `{topic}` has {found} partitions where eddy needs {expected}; \
         it is an internal topic of the group: delete it, or use another group_id"
    )]
    TopicPartitions {
        topic: String,
        expected: i32,
        found: usize,
    },
    #[error("not a CloudEvent: {0}")]
    NotCloudEvent(String),
}
