//! Passes over a data file inside the bench process, on one thread: the
//! read-and-decode baseline every throughput is quoted against, and the
//! count of open candidates that sizes the pattern state.

use std::path::Path;
use std::time::{Duration, Instant};

use dsl::plan::Program;

use super::child::thread_cpu;
use super::workload::{RuleSet, STREAM_RULES};
use super::BenchError;
use crate::decode::{Decoded, StreamDecoder};
use crate::pipeline::Pipeline;
use crate::source::{InputLocation, LineReader, DEFAULT_MAX_LINE_BYTES};

/// Lines per chunk, as `eddy run` reads by default.
const CHUNK_LINES: usize = 8192;

/// The program of the stream declaration and one rule set.
pub fn program(rules: RuleSet) -> Result<Program, BenchError> {
    let sources = vec![
        dsl::Source {
            name: STREAM_RULES.name.to_string(),
            text: STREAM_RULES.text.to_string(),
        },
        dsl::Source {
            name: rules.file_name(),
            text: rules.text().into_owned(),
        },
    ];
    let (program, diagnostics) = dsl::compile(&sources);
    program.ok_or_else(|| BenchError::Rules {
        rules: rules.file_name(),
        diagnostics: diagnostics
            .iter()
            .map(|d| dsl::render(d, &sources))
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

/// Reads and decodes `path` as stream `auth` of `program`, handing each
/// decoded chunk to `each`.
fn for_each_chunk(
    program: &Program,
    path: &Path,
    mut each: impl FnMut(&Decoded) -> Result<(), BenchError>,
) -> Result<(), BenchError> {
    let stream = program
        .catalog
        .stream("auth")
        .ok_or(BenchError::NoAuthStream)?;
    let location = InputLocation::File(path.to_path_buf());
    let mut decoder = StreamDecoder::new(stream)?;
    let mut lines = LineReader::new(
        location.open()?,
        location.display_name(),
        DEFAULT_MAX_LINE_BYTES,
    );
    while let Some(chunk) = lines.next_chunk(CHUNK_LINES)? {
        each(&decoder.decode(&chunk)?)?;
    }
    Ok(())
}

/// The read-and-decode pass: no pipeline, no output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeBaseline {
    pub events: u64,
    pub wall: Duration,
    /// CPU time of the pass (its one thread), which a busy machine inflates
    /// less than the wall time.
    pub cpu: Duration,
}

impl DecodeBaseline {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.wall.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    pub fn events_per_cpu_second(&self) -> f64 {
        self.events as f64 / self.cpu.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

pub fn decode_only(path: &Path) -> Result<DecodeBaseline, BenchError> {
    let program = program(RuleSet::Filter)?;
    let started = Instant::now();
    let cpu_before = thread_cpu();
    let mut events = 0u64;
    for_each_chunk(&program, path, |decoded| {
        events += decoded.batch.num_rows() as u64;
        Ok(())
    })?;
    Ok(DecodeBaseline {
        events,
        wall: started.elapsed(),
        cpu: thread_cpu().saturating_sub(cpu_before),
    })
}

/// The most candidates open at once (`Pipeline::state_entries`, sampled
/// after every chunk) when `rules` run over `path`.
pub fn peak_state_entries(rules: RuleSet, path: &Path) -> Result<usize, BenchError> {
    let program = program(rules)?;
    let mut pipeline = Pipeline::build(&program, &["auth"])?;
    let stream = program
        .catalog
        .stream_index("auth")
        .ok_or(BenchError::NoAuthStream)?;
    let mut peak = 0;
    for_each_chunk(&program, path, |decoded| {
        pipeline.push(stream, &decoded.batch)?;
        peak = peak.max(pipeline.state_entries());
        Ok(())
    })?;
    Ok(peak)
}
