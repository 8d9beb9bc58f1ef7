//! The consumer's rebalance handling: librdkafka calls it (inside `recv`)
//! when the group hands partitions to this instance or takes them away.
//!
//! On assignment, partitions with a known resume offset (from the last
//! checkpoint, or the last commit) start there rather than at the group's
//! committed offset, which can be older after a crash between storing a
//! checkpoint and committing. Every assignment and revocation is recorded
//! as a [`RebalanceEvent`] for the runtime to act on.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// One topic partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

/// A change of the partitions this instance reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebalanceEvent {
    /// These partitions are now ours (in addition to those we had, under
    /// the cooperative protocol; instead of them, under the eager one).
    Assigned(Vec<TopicPartition>),
    /// These partitions were taken away; messages already read from them
    /// stay read, but their offsets can no longer be committed by us.
    Revoked(Vec<TopicPartition>),
    /// The group reported an error and this instance has no partitions.
    Failed(String),
}

/// Where newly assigned partitions start, decided inside the rebalance
/// callback: the partitions' checkpoints may have been written by another
/// instance a moment ago, so they are read at assignment, not at startup.
pub trait ResumeSource: Send + Sync {
    /// For `partitions`, just assigned to this instance: the next offset to
    /// read of those with a known one.
    fn resume_offsets(&self, partitions: &[TopicPartition]) -> Vec<(TopicPartition, i64)>;
}

/// The consumer context: resume offsets in, rebalance events out.
#[derive(Default)]
pub struct RebalanceRecorder {
    resume: Mutex<BTreeMap<TopicPartition, i64>>,
    /// Consulted first at each assignment; its answers replace `resume`'s.
    source: Option<Arc<dyn ResumeSource>>,
    events: Mutex<VecDeque<RebalanceEvent>>,
}

impl RebalanceRecorder {
    /// A recorder that asks `source` where assigned partitions resume.
    pub fn with_resume_source(source: Arc<dyn ResumeSource>) -> Self {
        RebalanceRecorder {
            source: Some(source),
            ..RebalanceRecorder::default()
        }
    }

    /// Where `partition` should start when it is next assigned (the offset
    /// of the next message to read). Later calls for one partition keep the
    /// larger offset.
    pub fn set_resume_offset(&self, partition: TopicPartition, next_offset: i64) {
        let mut resume = lock(&self.resume);
        let entry = resume.entry(partition).or_insert(next_offset);
        *entry = (*entry).max(next_offset);
    }

    pub fn resume_offset(&self, partition: &TopicPartition) -> Option<i64> {
        lock(&self.resume).get(partition).copied()
    }

    /// The events recorded since the last call, oldest first.
    pub fn take_events(&self) -> Vec<RebalanceEvent> {
        lock(&self.events).drain(..).collect()
    }

    pub fn has_events(&self) -> bool {
        !lock(&self.events).is_empty()
    }

    fn record(&self, event: RebalanceEvent) {
        lock(&self.events).push_back(event);
    }

    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let partitions = partitions_of(tpl);
        if let Some(source) = &self.source {
            let mut resume = lock(&self.resume);
            for (partition, offset) in source.resume_offsets(&partitions) {
                resume.insert(partition, offset);
            }
        }
        {
            let resume = lock(&self.resume);
            for partition in &partitions {
                if let Some(&offset) = resume.get(partition) {
                    // Cannot fail: the partition is in the list.
                    let _ = tpl.set_partition_offset(
                        &partition.topic,
                        partition.partition,
                        Offset::Offset(offset),
                    );
                }
            }
        }
        let result = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_assign(tpl),
            _ => consumer.assign(tpl),
        };
        match result {
            Ok(()) => self.record(RebalanceEvent::Assigned(partitions)),
            Err(error) => self.record(RebalanceEvent::Failed(format!(
                "cannot take the assigned partitions: {error}"
            ))),
        }
    }

    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let result = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => consumer.incremental_unassign(tpl),
            _ => consumer.unassign(),
        };
        if let Err(error) = result {
            tracing::warn!("releasing revoked partitions: {error}");
        }
        self.record(RebalanceEvent::Revoked(partitions_of(tpl)));
    }
}

impl ClientContext for RebalanceRecorder {}

impl ConsumerContext for RebalanceRecorder {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.revoke(consumer, tpl),
            other => {
                // librdkafka's advice for a failed rebalance: drop the assignment.
                let _ = consumer.unassign();
                self.record(RebalanceEvent::Failed(format!("rebalance error {other:?}")));
            }
        }
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    let mut partitions: Vec<TopicPartition> = tpl
        .elements()
        .iter()
        .map(|e| TopicPartition {
            topic: e.topic().to_string(),
            partition: e.partition(),
        })
        .collect();
    partitions.sort();
    partitions
}

/// A panic elsewhere must not stop rebalancing: the data is still sound.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
