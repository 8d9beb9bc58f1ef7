//! Event-time progress of one topic across its assigned partitions.
//!
//! Each partition is read in order, so its progress is the latest event
//! time seen on it. The topic's frontier is the minimum over the partitions
//! that are not idle: a partition that has had no message for the idle
//! timeout stops holding time back (it comes back as soon as a message
//! arrives). Idleness is wall-clock time by design — it measures whether
//! data is flowing, not event time — and `now` is passed in, so tests drive
//! it without sleeping.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dsl::plan::Millis;

/// How far the events of a topic have come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frontier {
    /// Every active partition has passed this event time.
    At(Millis),
    /// An active partition has no event yet: nothing can be said.
    Unknown,
    /// Every assigned partition is idle (or none is assigned): the topic
    /// should not hold the pipeline's time back at all.
    Idle,
}

#[derive(Debug, Clone)]
struct PartitionClock {
    /// Latest event time seen; `None` before the first event.
    latest: Option<Millis>,
    /// When a message last arrived (or the partition was assigned).
    last_activity: Instant,
}

/// The partitions of one topic that this instance owns.
#[derive(Debug, Clone)]
pub struct PartitionClocks {
    idle_timeout: Duration,
    partitions: BTreeMap<i32, PartitionClock>,
}

impl PartitionClocks {
    pub fn new(idle_timeout: Duration) -> Self {
        PartitionClocks {
            idle_timeout,
            partitions: BTreeMap::new(),
        }
    }

    /// `partition` is now ours; its idle time counts from `now`.
    pub fn assign(&mut self, partition: i32, now: Instant) {
        self.partitions.entry(partition).or_insert(PartitionClock {
            latest: None,
            last_activity: now,
        });
    }

    /// Restores a partition's progress from a checkpoint.
    pub fn restore(&mut self, partition: i32, latest: Millis, now: Instant) {
        self.assign(partition, now);
        if let Some(clock) = self.partitions.get_mut(&partition) {
            clock.latest = Some(clock.latest.map_or(latest, |l| l.max(latest)));
        }
    }

    /// `partition` is no longer ours: it stops counting.
    pub fn revoke(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }

    /// A message arrived on `partition` (decoded or not): it is active.
    pub fn touch(&mut self, partition: i32, now: Instant) {
        self.assign(partition, now);
        if let Some(clock) = self.partitions.get_mut(&partition) {
            clock.last_activity = clock.last_activity.max(now);
        }
    }

    /// An event of time `time` was read from `partition`.
    pub fn observe(&mut self, partition: i32, time: Millis, now: Instant) {
        self.touch(partition, now);
        if let Some(clock) = self.partitions.get_mut(&partition) {
            clock.latest = Some(clock.latest.map_or(time, |l| l.max(time)));
        }
    }

    /// The latest event time of `partition`, for checkpoints.
    pub fn latest(&self, partition: i32) -> Option<Millis> {
        self.partitions.get(&partition).and_then(|c| c.latest)
    }

    /// Assigned partitions and their latest event times, for checkpoints.
    pub fn partitions(&self) -> impl Iterator<Item = (i32, Option<Millis>)> + '_ {
        self.partitions.iter().map(|(p, c)| (*p, c.latest))
    }

    pub fn is_idle(&self, partition: i32, now: Instant) -> bool {
        self.partitions
            .get(&partition)
            .is_some_and(|c| now.saturating_duration_since(c.last_activity) >= self.idle_timeout)
    }

    /// The minimum latest event time over the partitions not idle at `now`.
    pub fn frontier(&self, now: Instant) -> Frontier {
        let mut frontier: Option<Millis> = None;
        let mut any_active = false;
        for (&partition, clock) in &self.partitions {
            if self.is_idle(partition, now) {
                continue;
            }
            any_active = true;
            match clock.latest {
                None => return Frontier::Unknown,
                Some(latest) => frontier = Some(frontier.map_or(latest, |f| f.min(latest))),
            }
        }
        match frontier {
            Some(at) => Frontier::At(at),
            None if any_active => Frontier::Unknown,
            None => Frontier::Idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(30);

    fn at(start: Instant, seconds: u64) -> Instant {
        start + Duration::from_secs(seconds)
    }

    #[test]
    fn the_frontier_is_the_slowest_active_partition() {
        let t0 = Instant::now();
        let mut clocks = PartitionClocks::new(IDLE);
        clocks.assign(0, t0);
        clocks.assign(1, t0);
        clocks.observe(0, 5_000, t0);
        assert_eq!(clocks.frontier(t0), Frontier::Unknown);
        clocks.observe(1, 2_000, t0);
        assert_eq!(clocks.frontier(t0), Frontier::At(2_000));
        // Out-of-order events within a partition do not move it back.
        clocks.observe(1, 1_000, t0);
        assert_eq!(clocks.frontier(t0), Frontier::At(2_000));
    }

    #[test]
    fn a_quiet_partition_stops_holding_time_back_and_returns_with_data() {
        let t0 = Instant::now();
        let mut clocks = PartitionClocks::new(IDLE);
        clocks.observe(0, 1_000, t0);
        clocks.observe(1, 9_000, t0);
        // Partition 1 keeps receiving, partition 0 falls quiet.
        clocks.observe(1, 20_000, at(t0, 29));
        assert_eq!(clocks.frontier(at(t0, 29)), Frontier::At(1_000));
        assert_eq!(clocks.frontier(at(t0, 30)), Frontier::At(20_000));
        assert!(clocks.is_idle(0, at(t0, 30)));
        clocks.observe(0, 15_000, at(t0, 31));
        assert_eq!(clocks.frontier(at(t0, 31)), Frontier::At(15_000));
    }

    #[test]
    fn a_partition_without_events_is_unknown_until_idle() {
        let t0 = Instant::now();
        let mut clocks = PartitionClocks::new(IDLE);
        clocks.observe(0, 1_000, t0);
        clocks.assign(1, t0);
        assert_eq!(clocks.frontier(at(t0, 10)), Frontier::Unknown);
        clocks.touch(0, at(t0, 40));
        assert_eq!(clocks.frontier(at(t0, 40)), Frontier::At(1_000));
    }

    #[test]
    fn all_idle_or_nothing_assigned_is_idle() {
        let t0 = Instant::now();
        let mut clocks = PartitionClocks::new(IDLE);
        assert_eq!(clocks.frontier(t0), Frontier::Idle);
        clocks.observe(0, 1_000, t0);
        assert_eq!(clocks.frontier(at(t0, 60)), Frontier::Idle);
    }

    #[test]
    fn revoked_partitions_no_longer_count_and_restored_ones_do() {
        let t0 = Instant::now();
        let mut clocks = PartitionClocks::new(IDLE);
        clocks.observe(0, 1_000, t0);
        clocks.observe(1, 5_000, t0);
        clocks.revoke(0);
        assert_eq!(clocks.frontier(t0), Frontier::At(5_000));
        clocks.restore(2, 3_000, t0);
        assert_eq!(clocks.frontier(t0), Frontier::At(3_000));
        assert_eq!(clocks.latest(2), Some(3_000));
    }
}
