//! The job's metrics, shared between the job loop (which updates them) and
//! the HTTP endpoint (which renders them in the Prometheus text format).
//!
//! Names follow Prometheus conventions: `eddy_` prefix, base units
//! (seconds, bytes), `_total` for counters. Labels are bounded by the rule
//! set and config (stream, rule, reason, topic), never by event data.

mod exposition;
pub mod server;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::reject::RejectReason;

pub use exposition::render;

/// Latency quantiles exported from the histogram.
pub const QUANTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 1.0];

/// Everything the job reports. Cheap to update from one thread; the
/// endpoint reads it under the same locks.
pub struct Metrics {
    events_in: Labelled,
    rejected: Labelled,
    late: Labelled,
    derived: Labelled,
    /// Gauges, replaced at each update.
    open_state: Mutex<BTreeMap<String, i64>>,
    watermark_lag_seconds: Mutex<BTreeMap<String, f64>>,
    consumer_lag: Mutex<BTreeMap<String, i64>>,
    state_bytes: AtomicU64,
    checkpoints: AtomicU64,
    checkpoint_seconds: Mutex<f64>,
    checkpoint_bytes: AtomicU64,
    partitions: AtomicU64,
    reloads: Labelled,
    /// Answers of the HTTP source, per status.
    http_answers: Labelled,
    /// (rule, limit) -> times the limit bit, over the running tasks.
    limit_hits: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Microseconds from reading a message to emitting what it completed.
    latency_us: Mutex<Histogram<u64>>,
    ready: AtomicBool,
}

/// A counter per label value.
#[derive(Default)]
struct Labelled(Mutex<BTreeMap<String, u64>>);

impl Labelled {
    fn add(&self, label: &str, n: u64) {
        let mut map = lock(&self.0);
        match map.get_mut(label) {
            Some(count) => *count += n,
            None => {
                map.insert(label.to_string(), n);
            }
        }
    }

    fn snapshot(&self) -> BTreeMap<String, u64> {
        lock(&self.0).clone()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        // 1 µs to 1 hour at 3 significant digits: a few tens of KiB.
        let histogram = Histogram::new_with_bounds(1, 3_600_000_000, 3)
            .unwrap_or_else(|_| Histogram::new(3).expect("3 significant digits are valid"));
        Metrics {
            events_in: Labelled::default(),
            rejected: Labelled::default(),
            late: Labelled::default(),
            derived: Labelled::default(),
            open_state: Mutex::new(BTreeMap::new()),
            watermark_lag_seconds: Mutex::new(BTreeMap::new()),
            consumer_lag: Mutex::new(BTreeMap::new()),
            state_bytes: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            checkpoint_seconds: Mutex::new(0.0),
            checkpoint_bytes: AtomicU64::new(0),
            partitions: AtomicU64::new(0),
            reloads: Labelled::default(),
            http_answers: Labelled::default(),
            limit_hits: Mutex::new(BTreeMap::new()),
            latency_us: Mutex::new(histogram),
            ready: AtomicBool::new(false),
        }
    }

    pub fn events_in(&self, stream: &str, n: u64) {
        self.events_in.add(stream, n);
    }

    pub fn rejected(&self, reason: RejectReason) {
        self.rejected.add(reason.as_str(), 1);
    }

    pub fn late(&self, stream: &str) {
        self.late.add(stream, 1);
    }

    pub fn derived(&self, rule: &str) {
        self.derived.add(rule, 1);
    }

    /// The HTTP source answered a request with `status`.
    pub fn http_answer(&self, status: u16) {
        self.http_answers.add(&status.to_string(), 1);
    }

    /// A reload's outcome: `applied` or `refused`.
    pub fn reload(&self, outcome: &str) {
        self.reloads.add(outcome, 1);
    }

    /// How often each state limit bit, per rule, summed over the partitions.
    pub fn set_limit_hits(&self, hits: BTreeMap<(String, &'static str), u64>) {
        *lock(&self.limit_hits) = hits;
    }

    /// Open candidates or windows per rule, summed over the partitions.
    pub fn set_open_state(&self, per_rule: BTreeMap<String, i64>) {
        *lock(&self.open_state) = per_rule;
    }

    /// Processing time minus the stream's watermark, per stream.
    pub fn set_watermark_lag(&self, per_stream: BTreeMap<String, f64>) {
        *lock(&self.watermark_lag_seconds) = per_stream;
    }

    /// Messages not yet read, per topic.
    pub fn set_consumer_lag(&self, per_topic: BTreeMap<String, i64>) {
        *lock(&self.consumer_lag) = per_topic;
    }

    pub fn checkpoint(&self, took: Duration, bytes: u64) {
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
        *lock(&self.checkpoint_seconds) = took.as_secs_f64();
        self.checkpoint_bytes.store(bytes, Ordering::Relaxed);
        self.state_bytes.store(bytes, Ordering::Relaxed);
    }

    pub fn set_partitions(&self, count: usize) {
        self.partitions.store(count as u64, Ordering::Relaxed);
    }

    /// `events` derived events took `took` from read to emit.
    pub fn latency(&self, took: Duration, events: u64) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        // Saturates at the histogram's bound rather than failing.
        lock(&self.latency_us).saturating_record_n(micros, events);
    }

    /// Assigned partitions restored and consuming (for `/readyz`).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The latency quantiles in seconds, with the count of samples.
    fn latency_quantiles(&self) -> (Vec<(f64, f64)>, u64) {
        let histogram = lock(&self.latency_us);
        let quantiles = QUANTILES
            .iter()
            .map(|&q| (q, histogram.value_at_quantile(q) as f64 / 1e6))
            .collect();
        (quantiles, histogram.len())
    }
}

/// A panic elsewhere must not take the metrics down.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
