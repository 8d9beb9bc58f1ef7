//! What the job reports as the driver goes: Prometheus metrics and log
//! lines (one per batch with rejected messages, checkpoint, task and
//! reload, never one per event).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dsl::plan::{Millis, Program};

use crate::driver::{task_name, Observer, RunError, Task, TaskId};
use crate::metrics::Metrics;
use crate::pipeline::reload::RuleChange;
use crate::reject::RejectReason;

pub struct JobObserver {
    pub metrics: Arc<Metrics>,
    /// Checkpoints taken, for the job's summary.
    pub checkpoints: u64,
}

impl Observer for JobObserver {
    fn events_in(&mut self, stream: &str, count: u64) {
        self.metrics.events_in(stream, count);
    }

    fn rejected(&mut self, stream: &str, reason: RejectReason) {
        self.metrics.rejected(reason);
        if reason == RejectReason::Late {
            self.metrics.late(stream);
        }
    }

    fn rejected_batch(&mut self, source: &str, counts: &BTreeMap<RejectReason, usize>) {
        let total: usize = counts.values().sum();
        let by_reason: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
        tracing::warn!(
            "{source}: {total} messages rejected ({}) and sent to the dead-letter output",
            by_reason.join(", ")
        );
    }

    fn derived(&mut self, rule: &str) {
        self.metrics.derived(rule);
    }

    fn latency(&mut self, took: Duration, events: u64) {
        self.metrics.latency(took, events);
    }

    fn task_resumed_across_rules(
        &mut self,
        task: TaskId,
        from: u64,
        changes: &[(String, RuleChange)],
    ) {
        let task = task_name(task);
        tracing::info!(
            "{task}: checkpoint {from} was written by other rules; \
             carrying its state over as a reload would"
        );
        for (rule, change) in changes {
            tracing::info!("{task}: rule {rule}: {}", change.describe());
        }
    }

    fn task_started(&mut self, task: TaskId, resumed_from: Option<u64>) {
        if let Some(id) = resumed_from {
            tracing::info!("{}: resumed from checkpoint {id}", task_name(task));
        }
    }

    fn task_fenced(&mut self, task: TaskId) {
        tracing::warn!(
            "{}: another instance has taken its checkpoints over, so this one \
             no longer owns it: dropped without storing its state (the new owner replays from \
             its own checkpoint); its input is left to the new owner",
            task_name(task)
        );
    }

    fn tasks_changed(&mut self, count: usize) {
        self.metrics.set_partitions(count);
        self.metrics.set_ready(count > 0);
    }

    fn checkpointed(&mut self, tasks: &[TaskId], took: Duration, bytes: u64) {
        self.checkpoints += 1;
        self.metrics.checkpoint(took, bytes);
        let tasks: Vec<String> = tasks.iter().map(|&t| task_name(t)).collect();
        tracing::info!(
            "checkpoint of {} stored and committed: {bytes} bytes of state in {} ms",
            tasks.join(", "),
            took.as_millis()
        );
    }

    fn reloaded(&mut self, trigger: &str, changes: &[(String, RuleChange)]) {
        self.metrics.reload("applied");
        tracing::info!(
            "reloaded the rules ({trigger}): {}",
            describe_changes(changes)
        );
    }

    fn reload_refused(&mut self, trigger: &str, error: &RunError) {
        self.metrics.reload("refused");
        tracing::warn!(
            "reload ({trigger}) refused, the running rules go on: {}",
            crate::error_chain::with_causes(error)
        );
    }

    /// Open state per rule, limit hits, and watermark lag per stream, over
    /// the tasks.
    fn refresh(&mut self, program: &Program, tasks: &BTreeMap<TaskId, Task>) {
        let mut open: BTreeMap<String, i64> = BTreeMap::new();
        let mut lag: BTreeMap<String, f64> = BTreeMap::new();
        let mut hits: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
        let now_ms = chrono::Utc::now().timestamp_millis();
        for pipeline in tasks.values().filter_map(|t| t.pipelines.single()) {
            for (rule, size) in pipeline.rule_states() {
                *open.entry(rule.to_string()).or_default() += size.entries as i64;
            }
            for (rule, hit) in pipeline.limit_hits() {
                for (limit, count) in [
                    ("max_candidates_per_key", hit.candidates_evicted),
                    ("max_candidates_per_rule", hit.candidates_refused),
                    ("max_windows_per_rule", hit.windows_refused),
                ] {
                    *hits.entry((rule.to_string(), limit)).or_default() += count;
                }
            }
            for (index, stream) in program.input_streams() {
                let Some(watermark) = pipeline.stream_watermark(index) else {
                    continue;
                };
                if watermark == Millis::MIN {
                    continue;
                }
                let seconds = now_ms.saturating_sub(watermark) as f64 / 1000.0;
                let entry = lag.entry(stream.name.clone()).or_insert(seconds);
                *entry = entry.max(seconds);
            }
        }
        self.metrics.set_open_state(open);
        self.metrics.set_limit_hits(hits);
        self.metrics.set_watermark_lag(lag);
    }
}

/// Rule names grouped as kept (with state), changed, added and removed,
/// for the reload's log line.
fn describe_changes(changes: &[(String, RuleChange)]) -> String {
    let list = |wanted: RuleChange| {
        let names: Vec<&str> = changes
            .iter()
            .filter(|(_, change)| *change == wanted)
            .map(|(name, _)| name.as_str())
            .collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    format!(
        "kept {}; changed (state dropped) {}; added {}; removed {}",
        list(RuleChange::Kept),
        list(RuleChange::Changed),
        list(RuleChange::Added),
        list(RuleChange::Removed)
    )
}
