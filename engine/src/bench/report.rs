//! The figures as text: whitespace-separated columns under a header, one
//! row per run, so that both a person and a script can read them.

use std::io::{self, Write};

use super::child::Timed;
use super::inprocess::DecodeBaseline;
use super::latency::LatencyRun;
use super::workload::{Workload, BYTES_PER_CANDIDATE_TARGET, P99_TARGET_MICROS};

const MB: f64 = 1_000_000.0;

/// A table whose columns are padded to their widest cell.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self, out: &mut dyn Write) -> io::Result<()> {
        let columns = self.header.len();
        let width = |c: usize| {
            self.rows
                .iter()
                .filter_map(|r| r.get(c))
                .chain(std::iter::once(&self.header[c]))
                .map(String::len)
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..columns).map(width).collect();
        for cells in std::iter::once(&self.header).chain(&self.rows) {
            let line: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            writeln!(out, "{}", line.join("  ").trim_end())?;
        }
        Ok(())
    }
}

pub fn decode_table() -> Table {
    Table::new(&[
        "data",
        "events",
        "wall_s",
        "events/s",
        "cpu_s",
        "events/cpu_s",
    ])
}

pub fn decode_row(name: &str, baseline: &DecodeBaseline) -> Vec<String> {
    vec![
        name.to_string(),
        baseline.events.to_string(),
        format!("{:.3}", baseline.wall.as_secs_f64()),
        format!("{:.0}", baseline.events_per_second()),
        format!("{:.3}", baseline.cpu.as_secs_f64()),
        format!("{:.0}", baseline.events_per_cpu_second()),
    ]
}

pub fn throughput_table() -> Table {
    Table::new(&[
        "workload",
        "users",
        "events",
        "derived",
        "wall_s",
        "events/s",
        "x_decode",
        "cpu_s",
        "events/cpu_s",
        "x_decode_cpu",
        "peak_rss_mb",
        "target_events/s",
    ])
}

/// One throughput row; `x_decode` is events/s over the decode baseline's,
/// `x_decode_cpu` the same per CPU second.
pub fn throughput_row(
    workload: &Workload,
    events: u64,
    derived: u64,
    timed: &Timed,
    baseline: &DecodeBaseline,
) -> Vec<String> {
    let per_second = events as f64 / timed.wall.as_secs_f64().max(f64::MIN_POSITIVE);
    let cpu = timed.usage.cpu.as_secs_f64();
    let per_cpu_second = events as f64 / cpu.max(f64::MIN_POSITIVE);
    vec![
        workload.label.to_string(),
        workload.users.to_string(),
        events.to_string(),
        derived.to_string(),
        format!("{:.3}", timed.wall.as_secs_f64()),
        format!("{per_second:.0}"),
        format!("{:.3}", per_second / baseline.events_per_second()),
        format!("{cpu:.3}"),
        format!("{per_cpu_second:.0}"),
        format!("{:.3}", per_cpu_second / baseline.events_per_cpu_second()),
        format!("{:.1}", timed.usage.peak_rss_bytes as f64 / MB),
        workload
            .target_events_per_second
            .map_or("-".to_string(), |t| t.to_string()),
    ]
}

/// The state size of the scaled pattern workload.
pub struct CandidateState {
    pub peak_candidates: usize,
    pub pattern_rss_bytes: u64,
    pub filter_rss_bytes: u64,
}

impl CandidateState {
    /// Peak RSS above the stateless run's, per candidate open at the peak.
    pub fn bytes_per_candidate(&self) -> Option<f64> {
        (self.peak_candidates > 0).then(|| {
            self.pattern_rss_bytes.saturating_sub(self.filter_rss_bytes) as f64
                / self.peak_candidates as f64
        })
    }

    pub fn print(&self, out: &mut dyn Write) -> io::Result<()> {
        let per = self
            .bytes_per_candidate()
            .map_or("-".to_string(), |b| format!("{b:.0}"));
        writeln!(
            out,
            "state: peak_candidates={} rss_P-1M_mb={:.1} rss_F-1M_mb={:.1} \
             bytes_per_candidate={per} target_bytes_per_candidate={BYTES_PER_CANDIDATE_TARGET}",
            self.peak_candidates,
            self.pattern_rss_bytes as f64 / MB,
            self.filter_rss_bytes as f64 / MB,
        )
    }
}

pub fn latency_table() -> Table {
    Table::new(&[
        "workload",
        "events",
        "derived",
        "achieved_events/s",
        "p50_us",
        "p90_us",
        "p99_us",
        "p99.9_us",
        "max_us",
        "peak_rss_mb",
        "target_p99_us",
    ])
}

pub fn latency_row(workload: &Workload, run: &LatencyRun) -> Vec<String> {
    let micros = |q: f64| {
        if run.histogram.is_empty() {
            "-".to_string()
        } else {
            format!("{:.1}", run.histogram.value_at_quantile(q) as f64 / 1_000.0)
        }
    };
    vec![
        workload.label.to_string(),
        run.events.to_string(),
        run.derived.to_string(),
        format!("{:.0}", run.achieved_rate),
        micros(0.50),
        micros(0.90),
        micros(0.99),
        micros(0.999),
        micros(1.0),
        format!("{:.1}", run.usage.peak_rss_bytes as f64 / MB),
        format!("{P99_TARGET_MICROS:.0}"),
    ]
}
