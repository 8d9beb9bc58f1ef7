//! The downstream side of a repartition topic: each of its partitions
//! interleaves the records of every upstream task (one per input
//! partition), each in that task's order. Two things are kept per
//! downstream task:
//!
//! - the progress of each upstream task, so the stream's watermark is the
//!   minimum over the upstream tasks that are not idle: an event can only
//!   be late downstream if it was behind its own input partition already;
//! - the input offset of the last record taken from each upstream task, so
//!   the records an upstream task forwards again after a crash (from its
//!   last checkpoint) are recognised and skipped. These positions are kept
//!   in the task's checkpoint, next to its read positions, under
//!   `<topic>#<input partition>` (a name no topic can have).

use std::collections::BTreeMap;

use dsl::plan::Millis;

use super::record::UpstreamProgress;
use crate::driver::TaskId;
use crate::time::SourceProgress;

/// Marks the checkpoint positions that are an upstream's, not a topic's.
const UPSTREAM_SEPARATOR: char = '#';

/// The checkpoint position name of upstream partition `from` of `topic`.
pub fn upstream_position(topic: &str, from: i32) -> String {
    format!("{topic}{UPSTREAM_SEPARATOR}{from}")
}

/// The topic and upstream partition of a checkpoint position name made by
/// [`upstream_position`]; `None` for a topic's own position.
pub fn parse_upstream_position(name: &str) -> Option<(&str, i32)> {
    let (topic, from) = name.rsplit_once(UPSTREAM_SEPARATOR)?;
    Some((topic, from.parse().ok()?))
}

/// How far the upstream tasks of one stream of one task have come.
#[derive(Debug, Default)]
struct Merge {
    /// How many input partitions feed it.
    upstream_count: usize,
    upstreams: BTreeMap<i32, UpstreamProgress>,
    /// What the driver was last told.
    reported: Option<SourceProgress>,
}

impl Merge {
    fn progress(&self) -> SourceProgress {
        if self.upstreams.len() < self.upstream_count {
            return SourceProgress::Unknown;
        }
        let active: Vec<Option<Millis>> = self
            .upstreams
            .values()
            .filter(|u| !u.idle)
            .map(|u| u.newest)
            .collect();
        if active.is_empty() {
            return SourceProgress::Idle;
        }
        match active.iter().copied().collect::<Option<Vec<Millis>>>() {
            Some(times) => times
                .into_iter()
                .min()
                .map_or(SourceProgress::Unknown, SourceProgress::At),
            None => SourceProgress::Unknown,
        }
    }
}

/// The upstream tasks of every stream of this instance's downstream tasks.
#[derive(Debug, Default)]
pub struct Upstreams {
    merges: BTreeMap<(TaskId, usize), Merge>,
    /// Per (task, topic, input partition): the next input offset to take.
    next: BTreeMap<(TaskId, String, i32), i64>,
}

impl Upstreams {
    /// Task `task` resumes with these positions from its checkpoint.
    pub fn resume(&mut self, task: TaskId, positions: &[(String, i64)]) {
        for (name, next) in positions {
            if let Some((topic, from)) = parse_upstream_position(name) {
                self.next.insert((task, topic.to_string(), from), *next);
            }
        }
    }

    /// Task `task` is gone from this instance.
    pub fn forget(&mut self, task: TaskId) {
        self.merges.retain(|(t, _), _| *t != task);
        self.next.retain(|(t, _, _), _| *t != task);
    }

    /// Whether the record at input offset `offset` of partition `from`,
    /// read from `topic` by task `task`, is new (not a replay); notes it.
    pub fn take(&mut self, task: TaskId, topic: &str, from: i32, offset: i64) -> bool {
        let next = self
            .next
            .entry((task, topic.to_string(), from))
            .or_insert(0);
        if offset < *next {
            return false;
        }
        *next = offset + 1;
        true
    }

    /// The positions to record for task `task` on `topic`.
    pub fn positions(&self, task: TaskId, topic: &str) -> Vec<(String, i64)> {
        self.next
            .iter()
            .filter(|((t, name, _), _)| *t == task && name == topic)
            .map(|((_, _, from), next)| (upstream_position(topic, *from), *next))
            .collect()
    }

    /// Upstream progress of stream `stream` of task `task`, which
    /// `upstream_count` input partitions feed.
    pub fn observe(
        &mut self,
        task: TaskId,
        stream: usize,
        upstream_count: usize,
        progress: UpstreamProgress,
    ) {
        let merge = self.merges.entry((task, stream)).or_default();
        merge.upstream_count = upstream_count;
        let known = merge.upstreams.entry(progress.from).or_insert(progress);
        known.idle = progress.idle;
        known.newest = known.newest.max(progress.newest);
    }

    /// The progress reports the driver has not had yet.
    pub fn changed(&mut self) -> Vec<(TaskId, usize, SourceProgress)> {
        let mut changed = Vec::new();
        for (&(task, stream), merge) in &mut self.merges {
            let now = merge.progress();
            if merge.reported != Some(now) {
                merge.reported = Some(now);
                changed.push((task, stream, now));
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(from: i32, newest: Option<Millis>, idle: bool) -> UpstreamProgress {
        UpstreamProgress { from, newest, idle }
    }

    #[test]
    fn the_watermark_waits_for_every_upstream_and_follows_the_slowest_active_one() {
        let mut upstreams = Upstreams::default();
        upstreams.observe(5, 0, 3, at(0, Some(100), false));
        upstreams.observe(5, 0, 3, at(1, Some(50), false));
        assert_eq!(
            upstreams.changed(),
            [(5, 0, SourceProgress::Unknown)],
            "one upstream not heard from"
        );
        upstreams.observe(5, 0, 3, at(2, None, false));
        assert_eq!(upstreams.changed(), [], "still unknown: no event upstream");
        upstreams.observe(5, 0, 3, at(2, Some(70), false));
        assert_eq!(upstreams.changed(), [(5, 0, SourceProgress::At(50))]);
        // Progress never goes back, and an idle upstream holds nothing back.
        upstreams.observe(5, 0, 3, at(1, Some(10), true));
        assert_eq!(upstreams.changed(), [(5, 0, SourceProgress::At(70))]);
        upstreams.observe(5, 0, 3, at(0, Some(100), true));
        upstreams.observe(5, 0, 3, at(2, Some(70), true));
        assert_eq!(upstreams.changed(), [(5, 0, SourceProgress::Idle)]);
        upstreams.observe(5, 0, 3, at(1, Some(60), false));
        assert_eq!(upstreams.changed(), [(5, 0, SourceProgress::At(60))]);
    }

    #[test]
    fn replays_of_an_upstream_are_skipped_across_a_restart() {
        let mut upstreams = Upstreams::default();
        assert!(upstreams.take(1, "t", 0, 10));
        assert!(upstreams.take(1, "t", 0, 11));
        assert!(upstreams.take(1, "t", 1, 3));
        assert!(!upstreams.take(1, "t", 0, 10), "forwarded again");
        let positions = upstreams.positions(1, "t");
        assert_eq!(positions, [("t#0".into(), 12), ("t#1".into(), 4)]);

        let mut restarted = Upstreams::default();
        restarted.resume(1, &positions);
        assert!(!restarted.take(1, "t", 0, 11));
        assert!(restarted.take(1, "t", 0, 12));
        assert_eq!(parse_upstream_position("a.b-c#7"), Some(("a.b-c", 7)));
        assert_eq!(parse_upstream_position("auth"), None);
    }
}
