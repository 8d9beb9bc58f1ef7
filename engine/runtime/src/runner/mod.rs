//! `eddy run` over finite or live line inputs (files, stdin, embedded
//! text): one [`LineSource`] per input, CloudEvents JSON lines to stdout or
//! a file, rejected lines to the dead-letter file, all on the one
//! [`Driver`].

use std::path::PathBuf;

use dsl::plan::Program;

pub use crate::driver::{untimely_detail, RunError, RunSummary};
use crate::driver::{Driver, Source};
use crate::sink::{CloudEventEncoder, CloudEventLines, DeadLetterSink, LineWriter};
use crate::source::reader::{LineOptions, LineSource};
use crate::source::{InputLocation, DEFAULT_MAX_CHUNK_BYTES, DEFAULT_MAX_LINE_BYTES};

/// Decoded chunks in flight per input when nothing else is said: enough to
/// overlap decoding with the pipeline, few enough to bound memory.
pub const DEFAULT_CHANNEL_CAPACITY: usize = 2;

/// One input: a declared stream and where to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    pub stream: String,
    pub location: InputLocation,
}

/// Where derived events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    Stdout,
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub inputs: Vec<InputSpec>,
    pub output: OutputTarget,
    pub dead_letter: PathBuf,
    /// Lines per chunk.
    pub batch_size: usize,
    /// Bytes of lines per chunk, whatever their number: with
    /// `channel_capacity`, what bounds the memory of wide lines.
    pub max_chunk_bytes: usize,
    pub max_line_bytes: usize,
    /// Pipelines on their own threads, the keys split between them; 1: the
    /// pipeline runs on the calling thread.
    pub workers: usize,
    /// Decoded chunks in flight per input (`channel_capacity` of a config).
    pub channel_capacity: usize,
}

impl RunConfig {
    pub fn new(inputs: Vec<InputSpec>, output: OutputTarget, dead_letter: PathBuf) -> Self {
        RunConfig {
            inputs,
            output,
            dead_letter,
            batch_size: 8192,
            max_chunk_bytes: DEFAULT_MAX_CHUNK_BYTES,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            workers: 1,
            channel_capacity: DEFAULT_CHANNEL_CAPACITY,
        }
    }
}

/// Runs `program` over the configured inputs.
pub fn run(program: &Program, config: &RunConfig) -> Result<RunSummary, RunError> {
    let input_names: Vec<&str> = config.inputs.iter().map(|i| i.stream.as_str()).collect();
    let out = match &config.output {
        OutputTarget::Stdout => LineWriter::stdout(),
        OutputTarget::File(path) => LineWriter::create(path)?,
    };
    let mut events = CloudEventLines::new(CloudEventEncoder::new(program), out);
    let mut dead_letter = DeadLetterSink::new(config.dead_letter.clone(), config.inputs.len());
    let options = LineOptions {
        batch_size: config.batch_size,
        max_chunk_bytes: config.max_chunk_bytes,
        max_line_bytes: config.max_line_bytes,
        capacity: config.channel_capacity,
    };
    let mut sources: Vec<Box<dyn Source>> = Vec::with_capacity(config.inputs.len());
    for spec in &config.inputs {
        let stream = program
            .catalog
            .stream_index(&spec.stream)
            .ok_or_else(|| RunError::UnknownStream(spec.stream.clone()))?;
        let plan = program.catalog.streams[stream].clone();
        let source = LineSource::spawn(stream, plan, spec.location.clone(), options)
            .map_err(RunError::Spawn)?;
        sources.push(Box::new(source));
    }
    let mut summary = Driver::new(program, &mut events, &mut dead_letter)
        .inputs(&input_names)
        .workers(config.workers)
        .run(&mut sources)?;
    if dead_letter.total() > 0 {
        summary.dead_letter = Some(dead_letter.path().to_path_buf());
    }
    Ok(summary)
}
