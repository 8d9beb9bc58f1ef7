//! `eddy bench`: end-to-end throughput, peak memory and streaming latency
//! of the benchmark workloads (see `benches/rules/` and
//! [`crate::generate::bench`]).
//!
//! Every workload runs as its own `eddy run` child process over a generated
//! file (JSON lines in, CloudEvents written to a file), so wall time, CPU
//! time and peak RSS are those of the real command and of that workload
//! alone. The machine is shared and noisy, so each throughput is also given
//! as a ratio to a read-and-decode pass over the same file measured in the
//! same invocation.

mod child;
mod dataset;
mod inprocess;
mod latency;
mod machine;
mod report;
pub mod workload;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use latency::Pace;
use workload::{
    Workload, F, F_SCALED, P, P_PEAK_RSS_TARGET_BYTES, P_SCALED, P_TWO_WORKERS, RULE_SCALING,
    TWO_WORKERS_SPEEDUP_TARGET, W,
};

/// Which workloads to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    Filter,
    /// The pattern on one thread and on two workers.
    Pattern,
    Window,
    /// The filters at 1, 10 and 100 rules.
    Rules,
    /// The pattern over a million users, with its state per candidate.
    PatternScaled,
    All,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub events: usize,
    pub selection: Selection,
    /// Generated data, rule files and outputs go here.
    pub dir: PathBuf,
    pub seed: u64,
    /// `None`: no streaming-latency runs.
    pub pace: Option<Pace>,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the built-in rules {rules} do not compile:\n{diagnostics}")]
    Rules { rules: String, diagnostics: String },
    #[error("the benchmark rules declare no stream `auth`")]
    NoAuthStream,
    #[error("cannot find the eddy executable: {0}")]
    CurrentExe(#[source] std::io::Error),
    #[error("cannot start `eddy run`: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("cannot wait for `eddy run`: {0}")]
    Wait(#[source] std::io::Error),
    #[error(
        "`eddy run` for workload {workload} exited with {}: {last_lines} (stderr in {})",
        exit_code.map_or("a signal".to_string(), |c| format!("code {c}")),
        stderr.display()
    )]
    ChildFailed {
        workload: String,
        exit_code: Option<i32>,
        stderr: PathBuf,
        last_lines: String,
    },
    #[error("the thread feeding `eddy run` stopped unexpectedly")]
    FeedLost,
    #[error("unexpected output line from `eddy run` ({detail}): {line}")]
    BadOutput { detail: String, line: String },
    #[error("cannot make a latency histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error(transparent)]
    Decode(#[from] crate::decode::DecodeError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error("cannot print the report: {0}")]
    Print(#[source] std::io::Error),
}

impl BenchError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        BenchError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<std::io::Error> for BenchError {
    fn from(error: std::io::Error) -> Self {
        BenchError::Print(error)
    }
}

/// Runs the selected workloads and prints the figures to `out` (progress
/// notes go to stderr).
pub fn run(options: &Options, out: &mut dyn Write) -> Result<(), BenchError> {
    let mut bench = Bench::new(options)?;
    writeln!(
        out,
        "eddy bench: {} events per workload, seed {}, files in {}",
        options.events,
        options.seed,
        options.dir.display()
    )?;
    writeln!(out, "machine: {}", machine::describe())?;
    writeln!(
        out,
        "x_decode: events/s over those of reading and decoding the same file \
         (one thread, in this process, same invocation); x_decode_cpu: the same \
         per CPU second (eddy run uses a reader thread and a pipeline thread)"
    )?;

    let selection = options.selection;
    let wants = |s: Selection| selection == s || selection == Selection::All;
    let mut throughput = Vec::new();
    for (selected, workload) in [
        (wants(Selection::Filter), F),
        (wants(Selection::Pattern), P),
        (wants(Selection::Pattern), P_TWO_WORKERS),
        (wants(Selection::Window), W),
        (wants(Selection::PatternScaled), P_SCALED),
        (wants(Selection::PatternScaled), F_SCALED),
    ]
    .into_iter()
    .chain(RULE_SCALING.map(|w| (wants(Selection::Rules), w)))
    {
        if selected {
            throughput.push((workload, bench.throughput(&workload)?));
        }
    }
    let state = if wants(Selection::PatternScaled) {
        Some(bench.candidate_state(&throughput)?)
    } else {
        None
    };
    let mut latencies = Vec::new();
    if let Some(pace) = options.pace {
        for (workload, _) in &throughput {
            if workload.streaming_latency {
                latencies.push((*workload, bench.latency(workload, pace)?));
            }
        }
    }

    writeln!(out)?;
    let mut decode = report::decode_table();
    for (name, baseline) in &bench.baselines {
        decode.row(report::decode_row(name, &baseline.1));
    }
    decode.print(out)?;
    writeln!(out)?;
    let mut table = report::throughput_table();
    for (workload, measured) in &throughput {
        let baseline = &bench.baselines[&bench.data_name(workload.users)].1;
        table.row(report::throughput_row(
            workload,
            options.events as u64,
            measured.derived,
            &measured.timed,
            baseline,
        ));
    }
    table.print(out)?;
    if let Some((_, p)) = throughput.iter().find(|(w, _)| *w == P) {
        writeln!(
            out,
            "memory: P peak_rss_mb={:.1} target_peak_rss_mb={}",
            p.timed.usage.peak_rss_bytes as f64 / 1e6,
            P_PEAK_RSS_TARGET_BYTES / 1_000_000
        )?;
    }
    let events_per_second = |w: Workload| {
        throughput
            .iter()
            .find(|(m, _)| *m == w)
            .map(|(_, m)| options.events as f64 / m.timed.wall.as_secs_f64().max(f64::MIN_POSITIVE))
    };
    if let (Some(one), Some(two)) = (events_per_second(P), events_per_second(P_TWO_WORKERS)) {
        writeln!(
            out,
            "workers: P-2w/P={:.2} target={TWO_WORKERS_SPEEDUP_TARGET}",
            two / one
        )?;
    }
    let scaling: Vec<(Workload, f64)> = RULE_SCALING
        .iter()
        .filter_map(|&w| Some((w, events_per_second(w)?)))
        .collect();
    if let Some(&(_, one_rule)) = scaling.first() {
        let ratios: Vec<String> = scaling
            .iter()
            .map(|(w, eps)| format!("{}/F-r1={:.2}", w.label, eps / one_rule))
            .collect();
        writeln!(out, "rules: {} (events/s; flat is 1.00)", ratios.join(" "))?;
    }
    if let Some(state) = &state {
        state.print(out)?;
    }
    if let Some(pace) = options.pace.filter(|_| !latencies.is_empty()) {
        writeln!(out)?;
        writeln!(
            out,
            "streaming latency: eddy run --input auth=- at {} events/s, {} lines per write; \
             from writing the line that completes a match to reading its derived event",
            pace.rate, pace.lines_per_write
        )?;
        let mut table = report::latency_table();
        for (workload, run) in &latencies {
            table.row(report::latency_row(workload, run));
        }
        table.print(out)?;
    }
    Ok(())
}

/// A finished throughput run.
struct Measured {
    timed: child::Timed,
    derived: u64,
}

/// The state of one invocation: the folder, the rule files, the data files
/// and their decode baselines.
struct Bench<'a> {
    options: &'a Options,
    rules: dataset::RulePaths,
    out_dir: PathBuf,
    /// Per data set name: the file and its read-and-decode baseline.
    baselines: BTreeMap<String, (PathBuf, inprocess::DecodeBaseline)>,
}

impl<'a> Bench<'a> {
    fn new(options: &'a Options) -> Result<Self, BenchError> {
        let rules = dataset::write_rules(&options.dir)?;
        let out_dir = options.dir.join("out");
        std::fs::create_dir_all(&out_dir).map_err(|e| BenchError::io("create", &out_dir, e))?;
        Ok(Bench {
            options,
            rules,
            out_dir,
            baselines: BTreeMap::new(),
        })
    }

    fn data_name(&self, users: u64) -> String {
        format!("auth-n{}-u{users}", self.options.events)
    }

    /// The data file for `users`, generated and baselined on first use.
    fn data(&mut self, users: u64) -> Result<PathBuf, BenchError> {
        let name = self.data_name(users);
        if let Some((path, _)) = self.baselines.get(&name) {
            return Ok(path.clone());
        }
        let (path, generated) = dataset::ensure_data(
            &self.options.dir,
            self.options.events,
            users,
            self.options.seed,
        )?;
        if generated {
            eprintln!("eddy bench: generated {}", path.display());
        }
        eprintln!("eddy bench: read and decode {name} (baseline)");
        let baseline = inprocess::decode_only(&path)?;
        self.baselines.insert(name, (path.clone(), baseline));
        Ok(path)
    }

    fn throughput(&mut self, workload: &Workload) -> Result<Measured, BenchError> {
        let data = self.data(workload.users)?;
        eprintln!("eddy bench: {} over {}", workload.label, data.display());
        let output = self.out_dir.join(format!("{}.jsonl", workload.label));
        let command = child::eddy_run(
            &self.rules.for_rules(workload.rules),
            workload.workers,
            &data.display().to_string(),
            &output.display().to_string(),
            &self
                .out_dir
                .join(format!("{}.dead-letter.jsonl", workload.label)),
        )?;
        let stderr = self.out_dir.join(format!("{}.stderr", workload.label));
        let timed = child::run_to_end(workload.label, command, &stderr)?;
        Ok(Measured {
            timed,
            derived: child::count_lines(&output)?,
        })
    }

    /// Open candidates at the peak of P-1M, counted in process, against the
    /// peak RSS of P-1M over that of F-1M (same file, no state).
    fn candidate_state(
        &mut self,
        measured: &[(Workload, Measured)],
    ) -> Result<report::CandidateState, BenchError> {
        let rss = |w: Workload| {
            measured
                .iter()
                .find(|(m, _)| *m == w)
                .map_or(0, |(_, m)| m.timed.usage.peak_rss_bytes)
        };
        let data = self.data(P_SCALED.users)?;
        eprintln!("eddy bench: counting the open candidates of P-1M");
        Ok(report::CandidateState {
            peak_candidates: inprocess::peak_state_entries(P_SCALED.rules, &data)?,
            pattern_rss_bytes: rss(P_SCALED),
            filter_rss_bytes: rss(F_SCALED),
        })
    }

    fn latency(
        &mut self,
        workload: &Workload,
        pace: Pace,
    ) -> Result<latency::LatencyRun, BenchError> {
        let data = self.data(workload.users)?;
        eprintln!(
            "eddy bench: {} streamed on stdin at {} events/s",
            workload.label, pace.rate
        );
        let label = format!("{}-stream", workload.label);
        let command = child::eddy_run(
            &self.rules.for_rules(workload.rules),
            workload.workers,
            "-",
            "-",
            &self.out_dir.join(format!("{label}.dead-letter.jsonl")),
        )?;
        let stderr = self.out_dir.join(format!("{label}.stderr"));
        latency::measure(&label, command, &data, pace, &stderr)
    }
}
