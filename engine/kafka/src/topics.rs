//! Topic metadata and the creation of internal topics, outside any
//! consumer group.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use super::error::KafkaConnectorError;
use crate::config::KafkaConfig;

/// The partition count of each of `topics` (`None` where the broker does
/// not know the topic yet).
pub fn partition_counts(
    kafka: &KafkaConfig,
    topics: &[&str],
    timeout: Duration,
) -> Result<BTreeMap<String, Option<usize>>, KafkaConnectorError> {
    let client: BaseConsumer =
        super::client::reader(kafka)
            .create()
            .map_err(|source| KafkaConnectorError::Create {
                role: "metadata client",
                source,
            })?;
    let mut counts = BTreeMap::new();
    for &topic in topics {
        let metadata = client
            .fetch_metadata(Some(topic), timeout)
            .map_err(|source| KafkaConnectorError::Metadata {
                topics: topic.to_string(),
                source,
            })?;
        let count = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len())
            .filter(|&n| n > 0);
        counts.insert(topic.to_string(), count);
    }
    Ok(counts)
}

/// Creates each of `topics` (name, partitions) that does not exist yet;
/// one that exists must have that many partitions.
pub async fn ensure_topics(
    kafka: &KafkaConfig,
    topics: &[(String, i32)],
    replication: i32,
    timeout: Duration,
) -> Result<(), KafkaConnectorError> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> =
        super::client::base(kafka)
            .create()
            .map_err(|source| KafkaConnectorError::Create {
                role: "admin client",
                source,
            })?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(name, partitions)| {
            NewTopic::new(name, *partitions, TopicReplication::Fixed(replication))
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    let results = admin
        .create_topics(&new, &options)
        .await
        .map_err(|source| KafkaConnectorError::CreateTopic {
            topic: topics
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            problem: source.to_string(),
        })?;
    for result in results {
        if let Err((topic, code)) = result {
            if code != RDKafkaErrorCode::TopicAlreadyExists {
                return Err(KafkaConnectorError::CreateTopic {
                    topic,
                    problem: code.to_string(),
                });
            }
        }
    }
    let names: Vec<&str> = topics.iter().map(|(n, _)| n.as_str()).collect();
    // A topic just created may take a moment to show all its partitions.
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let counts = partition_counts(kafka, &names, timeout)?;
        let wrong = topics.iter().find_map(|(name, expected)| {
            let found = counts.get(name).copied().flatten().unwrap_or(0);
            (usize::try_from(*expected).ok() != Some(found)).then_some((name, *expected, found))
        });
        match wrong {
            None => return Ok(()),
            Some((name, expected, found)) if found > 0 || std::time::Instant::now() >= deadline => {
                return Err(KafkaConnectorError::TopicPartitions {
                    topic: name.clone(),
                    expected,
                    found,
                })
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
