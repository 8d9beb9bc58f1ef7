//! librdkafka client properties from `[kafka]`: what eddy sets itself and
//! what passes through from `[kafka.client]`.

use rdkafka::ClientConfig;

use crate::config::KafkaConfig;

/// Properties every eddy client shares: the brokers, then `[kafka.client]`
/// (security and tuning) unchanged.
pub fn base(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &kafka.brokers);
    for (key, value) in &kafka.client {
        config.set(key, value);
    }
    config
}

/// The consumer: in `kafka.group_id`, with the range assignor (partition N
/// of every input topic to one instance), from the earliest offset when the
/// group has none, and with offsets committed only by eddy, after a
/// checkpoint (never automatically, never stored per message).
pub fn consumer(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = base(kafka);
    config
        .set("group.id", &kafka.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set_default("auto.offset.reset", "earliest")
        // Co-partitioned topics: partition N of every input topic goes to
        // the same instance, which keeps the state of partition N's keys.
        .set_default("partition.assignment.strategy", "range")
        .set_default("enable.partition.eof", "false");
    config
}

/// A consumer outside any group that reads partitions it is given and
/// commits nothing: for reading a sink topic back.
pub fn reader(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = base(kafka);
    config
        .set("group.id", format!("{}-read-back", kafka.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set_default("enable.partition.eof", "false");
    config
}

/// A producer that writes each message once, in order per partition, and
/// reports delivery only once every in-sync replica has it.
pub fn producer(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = base(kafka);
    config
        .set_default("enable.idempotence", "true")
        .set_default("acks", "all");
    config
}

/// `set` unless the user's `[kafka.client]` already set the property.
trait SetDefault {
    fn set_default(&mut self, key: &str, value: &str) -> &mut Self;
}

impl SetDefault for ClientConfig {
    fn set_default(&mut self, key: &str, value: &str) -> &mut Self {
        if self.get(key).is_none() {
            self.set(key, value);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consumer_never_commits_by_itself() {
        let mut kafka = KafkaConfig::default();
        kafka
            .client
            .insert("security.protocol".into(), "SASL_SSL".into());
        kafka
            .client
            .insert("auto.offset.reset".into(), "latest".into());
        let config = consumer(&kafka);
        assert_eq!(config.get("bootstrap.servers"), Some("127.0.0.1:9092"));
        assert_eq!(config.get("group.id"), Some("eddy"));
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(config.get("security.protocol"), Some("SASL_SSL"));
        // A user's choice of a non-reserved property wins over eddy's default.
        assert_eq!(config.get("auto.offset.reset"), Some("latest"));
    }

    #[test]
    fn the_producer_is_idempotent_by_default() {
        let config = producer(&KafkaConfig::default());
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("acks"), Some("all"));
    }
}
