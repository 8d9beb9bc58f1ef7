//! The gauges refreshed from the tasks: open state, limit hits and
//! watermark lag.

use std::collections::BTreeMap;

use super::Job;

impl Job {
    /// Open state per rule and watermark lag per stream, over the tasks.
    pub(super) fn refresh_gauges(&self) {
        let mut open: BTreeMap<String, i64> = BTreeMap::new();
        let mut lag: BTreeMap<String, f64> = BTreeMap::new();
        let mut hits: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
        let now_ms = chrono::Utc::now().timestamp_millis();
        for task in self.tasks.values() {
            for (rule, size) in task.pipeline_ref().rule_states() {
                *open.entry(rule.to_string()).or_default() += size.entries as i64;
            }
            for (rule, hit) in task.pipeline_ref().limit_hits() {
                for (limit, count) in [
                    ("max_candidates_per_key", hit.candidates_evicted),
                    ("max_candidates_per_rule", hit.candidates_refused),
                    ("max_windows_per_rule", hit.windows_refused),
                ] {
                    *hits.entry((rule.to_string(), limit)).or_default() += count;
                }
            }
            for input in &self.inputs.inputs {
                let Some(watermark) = task.pipeline_ref().stream_watermark(input.stream) else {
                    continue;
                };
                if watermark == dsl::plan::Millis::MIN {
                    continue;
                }
                let seconds = now_ms.saturating_sub(watermark) as f64 / 1000.0;
                let entry = lag.entry(input.name.clone()).or_insert(seconds);
                *entry = entry.max(seconds);
            }
        }
        self.metrics.set_open_state(open);
        self.metrics.set_limit_hits(hits);
        self.metrics.set_watermark_lag(lag);
    }
}
