//! The partitions this instance runs: tasks built from checkpoints on
//! assignment, checkpointed and dropped on revocation, and the barrier
//! that checkpoints them all and commits their offsets.

use std::collections::BTreeSet;
use std::time::Instant;

use super::task::PartitionTask;
use super::{Job, JobError, LAG_TIMEOUT};
use crate::kafka::{RebalanceEvent, TopicPartition};

impl Job {
    pub(super) async fn rebalance(&mut self, event: &RebalanceEvent) -> Result<(), JobError> {
        match event {
            RebalanceEvent::Assigned(partitions) => {
                for number in partition_numbers(partitions) {
                    if self.tasks.contains_key(&number) {
                        continue;
                    }
                    let task = self.build_task(number)?;
                    self.tasks.insert(number, task);
                }
                tracing::info!("assigned {}", describe(partitions));
            }
            RebalanceEvent::Revoked(partitions) => {
                let numbers = partition_numbers(partitions);
                self.hand_back(&numbers).await?;
                tracing::info!("revoked {}", describe(partitions));
            }
            RebalanceEvent::Failed(problem) => {
                tracing::warn!("consumer group: {problem}; handing back every partition");
                let numbers: Vec<i32> = self.tasks.keys().copied().collect();
                self.hand_back(&numbers).await?;
            }
        }
        self.metrics.set_partitions(self.tasks.len());
        self.metrics.set_ready(!self.tasks.is_empty());
        Ok(())
    }

    pub(super) fn build_task(&self, number: i32) -> Result<PartitionTask, JobError> {
        let inputs: Vec<(usize, &str)> = self
            .inputs
            .inputs
            .iter()
            .map(|i| (i.stream, i.name.as_str()))
            .collect();
        let mut task =
            PartitionTask::new(&self.program, &inputs, number, &self.limits, Instant::now())?;
        if let Some(checkpoint) = self.catalog.take(number)? {
            task.restore(&checkpoint)?;
            tracing::info!(
                "partition {number}: resumed from checkpoint {}",
                checkpoint.id
            );
        }
        Ok(task)
    }

    /// Checkpoints the tasks of partitions this instance no longer owns, so
    /// their next owner resumes from their latest state, and drops them.
    pub(super) async fn hand_back(&mut self, numbers: &[i32]) -> Result<(), JobError> {
        if !numbers.iter().any(|n| self.tasks.contains_key(n)) {
            return Ok(());
        }
        self.outputs.barrier().await?;
        for number in numbers {
            if let Some(mut task) = self.tasks.remove(number) {
                task.checkpoint(&self.catalog)?;
            }
        }
        self.checkpoints += 1;
        Ok(())
    }

    /// The barrier: sinks acknowledged, every task's checkpoint stored,
    /// then the offsets committed.
    pub(super) async fn checkpoint(&mut self) -> Result<(), JobError> {
        let started = Instant::now();
        self.outputs.barrier().await?;
        if self.tasks.is_empty() {
            return Ok(());
        }
        let mut offsets = Vec::new();
        let mut bytes = 0;
        for task in self.tasks.values_mut() {
            let stored = task.checkpoint(&self.catalog)?;
            offsets.extend(stored.offsets);
            bytes += stored.state_bytes;
        }
        self.source.commit(&offsets)?;
        self.checkpoints += 1;
        self.metrics.checkpoint(started.elapsed(), bytes);
        self.metrics.set_consumer_lag(self.source.lag(LAG_TIMEOUT));
        tracing::info!(
            "checkpoint of partitions {:?} stored and committed: {bytes} bytes of state in {} ms",
            self.tasks.keys().collect::<Vec<_>>(),
            started.elapsed().as_millis()
        );
        Ok(())
    }
}

fn partition_numbers(partitions: &[TopicPartition]) -> Vec<i32> {
    partitions
        .iter()
        .map(|p| p.partition)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn describe(partitions: &[TopicPartition]) -> String {
    partitions
        .iter()
        .map(|p| format!("{}/{}", p.topic, p.partition))
        .collect::<Vec<_>>()
        .join(", ")
}
