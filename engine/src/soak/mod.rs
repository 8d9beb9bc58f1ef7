//! `eddy soak`: the fraud pack's rules over a generated live stream at a
//! fixed rate, with hostile lines mixed in (5% bad lines, events far in the
//! future and late ones), for as long as asked; every few seconds it
//! records the process's resident memory, the rules' open state, the
//! events waiting for the watermark and how far the watermark trails the
//! newest event. Memory and state must level off: the key space is bounded
//! and every rule's state expires with event time.
//!
//! It runs the real driver in this process: the sources decode their lines
//! as files' are decoded, the derived events and dead letters are written
//! to files. Writes `samples.csv`, `soak.png` (the plot), `derived.jsonl`
//! and `dead-letter.jsonl` into the output folder.

pub mod generator;
mod plot;
mod png;
mod source;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dsl::plan::{Millis, Program};

use crate::decode::StreamDecoder;
use crate::driver::{Driver, Observer, RunError, Source, Task, TaskId};
use crate::reject::RejectReason;
use crate::sink::{CloudEventEncoder, CloudEventLines, DeadLetterSink, LineWriter};
use generator::{wall_clock_ms, EventClock, FraudStream, LineGenerator};
use plot::Series;
use source::GeneratedSource;

#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    #[error("soak output folder {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the fraud pack's rules do not compile")]
    Rules,
    #[error(transparent)]
    Run(#[from] RunError),
}

#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub duration: Duration,
    /// Events per second over the three streams.
    pub rate: f64,
    pub sample_every: Duration,
    /// Event time runs this many times as fast as the wall clock (ending
    /// at now), so that a short soak covers the rules' windows many times.
    pub speedup: f64,
    pub out: PathBuf,
    pub seed: u64,
}

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub seconds: f64,
    pub rss_bytes: u64,
    /// Open pattern candidates, windows and suppression entries.
    pub open_state: u64,
    /// Events admitted and waiting for the watermark.
    pub waiting: u64,
    /// How far the global watermark trails the newest event time made.
    pub lag_ms: Millis,
    pub events_in: u64,
    pub rejected: u64,
}

pub struct SoakReport {
    pub samples: Vec<Sample>,
    pub rejected: BTreeMap<RejectReason, u64>,
    pub derived: u64,
    pub events_in: u64,
    pub csv: PathBuf,
    pub plot: PathBuf,
}

impl SoakReport {
    /// Whether resident memory and open state level off (see [`levels_off`]).
    pub fn levelled(&self) -> (bool, bool) {
        let rss: Vec<f64> = self.samples.iter().map(|s| s.rss_bytes as f64).collect();
        let state: Vec<f64> = self.samples.iter().map(|s| s.open_state as f64).collect();
        (levels_off(&rss, 0.2), levels_off(&state, 0.2))
    }
}

/// Whether `values`, sampled at equal intervals, level off: a least-squares
/// line through their second half rises, over that half, by less than
/// `tolerance` times the half's mean. (A first half ramps up while state
/// fills to the rules' windows; what matters is that it then stops.)
pub fn levels_off(values: &[f64], tolerance: f64) -> bool {
    let half = &values[values.len() / 2..];
    if half.len() < 3 {
        return true;
    }
    let n = half.len() as f64;
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = half.iter().sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for (i, y) in half.iter().enumerate() {
        let dx = i as f64 - mean_x;
        covariance += dx * (y - mean_y);
        variance += dx * dx;
    }
    let rise = covariance / variance * (n - 1.0);
    mean_y <= 0.0 || rise < tolerance * mean_y
}

/// Runs the soak; `progress` gets each sample as it is taken.
pub fn run(
    options: &SoakOptions,
    progress: &mut dyn FnMut(&Sample),
) -> Result<SoakReport, SoakError> {
    let out = &options.out;
    std::fs::create_dir_all(out).map_err(|source| io(out, source))?;
    let pack = crate::embedded::FRAUD;
    let sources = [dsl::Source {
        name: pack.rules_name.into(),
        text: pack.rules.into(),
    }];
    let program = dsl::compile(&sources).0.ok_or(SoakError::Rules)?;

    let clock = EventClock::new(wall_clock_ms(), options.duration, options.speedup);
    let payments = Arc::new(AtomicU64::new(0));
    let mut inputs: Vec<Box<dyn Source>> = Vec::new();
    let mut names = Vec::new();
    for stream in FraudStream::ALL {
        let index = program
            .catalog
            .stream_index(stream.name())
            .ok_or(SoakError::Rules)?;
        let decoder = StreamDecoder::new(&program.catalog.streams[index])
            .map_err(|e| SoakError::Run(e.into()))?;
        let generator = LineGenerator::new(stream, options.seed, clock, payments.clone());
        let rate = options.rate / FraudStream::ALL.len() as f64;
        inputs.push(Box::new(GeneratedSource::new(
            index,
            decoder,
            generator,
            rate,
            options.duration,
        )));
        names.push(stream.name());
    }

    let derived_path = out.join("derived.jsonl");
    let mut events = CloudEventLines::new(
        CloudEventEncoder::new(&program),
        LineWriter::create(&derived_path).map_err(RunError::from)?,
    );
    let mut dead_letter = DeadLetterSink::new(out.join("dead-letter.jsonl"), inputs.len());
    let mut sampler = Sampler {
        started: Instant::now(),
        clock,
        events_in: 0,
        rejected: BTreeMap::new(),
        derived: 0,
        samples: Vec::new(),
        progress,
    };
    Driver::new(&program, &mut events, &mut dead_letter)
        .inputs(&names)
        .observer(&mut sampler)
        .refresh_every(options.sample_every)
        .run(&mut inputs)?;
    // A sample taken as the inputs ended sees the state emptied by the
    // end of time, not the running job.
    let until = options.duration.as_secs_f64() - 0.5;
    sampler.samples.retain(|s| s.seconds < until);

    let csv = out.join("samples.csv");
    std::fs::write(&csv, samples_csv(&sampler.samples)).map_err(|source| io(&csv, source))?;
    let plot_path = out.join("soak.png");
    let png = plot_samples(&sampler.samples, options);
    std::fs::write(&plot_path, png).map_err(|source| io(&plot_path, source))?;
    Ok(SoakReport {
        samples: sampler.samples,
        rejected: sampler.rejected,
        derived: sampler.derived,
        events_in: sampler.events_in,
        csv,
        plot: plot_path,
    })
}

fn io(path: &Path, source: std::io::Error) -> SoakError {
    SoakError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Takes a [`Sample`] each time the driver refreshes its gauges.
struct Sampler<'p> {
    started: Instant,
    clock: EventClock,
    events_in: u64,
    rejected: BTreeMap<RejectReason, u64>,
    derived: u64,
    samples: Vec<Sample>,
    progress: &'p mut dyn FnMut(&Sample),
}

impl Observer for Sampler<'_> {
    fn events_in(&mut self, _stream: &str, count: u64) {
        self.events_in += count;
    }

    fn rejected(&mut self, _stream: &str, reason: RejectReason) {
        *self.rejected.entry(reason).or_default() += 1;
    }

    fn derived(&mut self, _rule: &str) {
        self.derived += 1;
    }

    fn refresh(&mut self, _program: &Program, tasks: &BTreeMap<TaskId, Task>) {
        let pipelines = tasks.values().filter_map(|t| t.pipelines.single());
        let (mut open_state, mut waiting, mut watermark) = (0u64, 0u64, Millis::MAX);
        for pipeline in pipelines {
            open_state += pipeline.state_entries() as u64;
            waiting += pipeline.buffered_events() as u64;
            watermark = watermark.min(pipeline.global_watermark());
        }
        let newest = self.clock.now();
        let lag_ms = if watermark == Millis::MIN || watermark == Millis::MAX {
            0
        } else {
            (newest - watermark).max(0)
        };
        let sample = Sample {
            seconds: self.started.elapsed().as_secs_f64(),
            rss_bytes: resident_bytes().unwrap_or(0),
            open_state,
            waiting,
            lag_ms,
            events_in: self.events_in,
            rejected: self.rejected.values().sum(),
        };
        (self.progress)(&sample);
        self.samples.push(sample);
    }
}

/// The process's resident memory (`VmRSS`), in bytes.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

pub const CSV_HEADER: &str =
    "seconds,rss_bytes,open_state,waiting_events,lag_ms,events_in,rejected";

fn samples_csv(samples: &[Sample]) -> String {
    let mut csv = format!("{CSV_HEADER}\n");
    for s in samples {
        csv.push_str(&format!(
            "{:.1},{},{},{},{},{},{}\n",
            s.seconds, s.rss_bytes, s.open_state, s.waiting, s.lag_ms, s.events_in, s.rejected
        ));
    }
    csv
}

fn plot_samples(samples: &[Sample], options: &SoakOptions) -> Vec<u8> {
    let series = |title, value: fn(&Sample) -> f64| Series {
        title,
        points: samples.iter().map(|s| (s.seconds, value(s))).collect(),
    };
    let title = format!(
        "EDDY SOAK: FRAUD PACK, {:.0} EVENTS/S, 5% BAD LINES, EVENT TIME X{}",
        options.rate, options.speedup
    );
    plot::plot(
        &title,
        &[
            series("RESIDENT MEMORY (MB)", |s| s.rss_bytes as f64 / 1e6),
            series("OPEN STATE (CANDIDATES, WINDOWS)", |s| s.open_state as f64),
            series("WATERMARK LAG (S OF EVENT TIME)", |s| s.lag_ms as f64 / 1e3),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plateau_levels_off_and_a_ramp_does_not() {
        let plateau: Vec<f64> = (0..40)
            .map(|i| 100.0 + f64::from(i.min(15)) * 10.0)
            .collect();
        assert!(levels_off(&plateau, 0.2));
        let ramp: Vec<f64> = (0..40).map(|i| 100.0 + f64::from(i) * 10.0).collect();
        assert!(!levels_off(&ramp, 0.2));
        let noisy: Vec<f64> = (0..40)
            .map(|i| 1000.0 + if i % 2 == 0 { 30.0 } else { -30.0 })
            .collect();
        assert!(levels_off(&noisy, 0.2));
    }
}
