//! `eddy backtest RULES... --input STREAM=PATH ...`: replay history through
//! rules and print a summary of what they derived.

use std::path::PathBuf;

use super::outcome::{default_dead_letter, exit_code, report};
use super::run::resolve_inputs;
use super::{rules, CliError};
use crate::backtest::source::{Format, HistoryInput, ReadOptions};
use crate::backtest::time_range::TimeRange;
use crate::backtest::{self, BacktestConfig, BacktestError};
use crate::runner::{InputSpec, OutputTarget};
use crate::source::{InputLocation, DEFAULT_MAX_LINE_BYTES};

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// Rule files; streams declared in one are visible in all.
    #[arg(required = true)]
    pub rules: Vec<PathBuf>,
    /// `STREAM=PATH`: the history of stream STREAM in a file, a folder or a
    /// glob (`data/*.parquet`; quote it), read in path order.
    #[arg(long = "input", value_name = "STREAM=PATH")]
    pub inputs: Vec<String>,
    /// The format of every input: json (JSON lines), csv or parquet
    /// (default: from each path's extension: .jsonl/.json/.ndjson, .csv, .parquet).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Replay events from this time on (RFC 3339 or epoch milliseconds).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Replay events before this time (exclusive).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Write derived events as CloudEvents JSON lines to PATH (default: only
    /// counted in the summary).
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Where rejected rows go (default: next to the output as
    /// `NAME.dead-letter.jsonl`, or `eddy-dead-letter.jsonl`).
    #[arg(long, value_name = "PATH")]
    pub dead_letter: Option<PathBuf>,
    /// Keys shown per rule in the summary (the ones with most derived events).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub top: usize,
    /// Show progress on stderr even when it is not a terminal.
    #[arg(long)]
    pub progress: bool,
    /// Rows per batch handed to the rules.
    #[arg(long, default_value_t = 8192)]
    pub batch_size: usize,
    /// Longest accepted JSON line, in bytes; longer ones are dead-lettered.
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES)]
    pub max_line_bytes: usize,
}

pub fn execute(args: &BacktestArgs) -> Result<u8, CliError> {
    if args.batch_size == 0 {
        return Err(CliError::BatchSize);
    }
    let range = TimeRange::parse(args.from.as_deref(), args.to.as_deref())?;
    let forced = args
        .format
        .as_deref()
        .map(|name| Format::from_name(name).ok_or_else(|| BacktestError::FormatName(name.into())))
        .transpose()?;
    let sources = rules::load(&args.rules)?;
    let compiled = rules::compile_and_report(&sources);
    let Some(program) = compiled.program else {
        return Err(CliError::RuleErrors);
    };
    let inputs = resolve_inputs(&program, &args.inputs)?
        .into_iter()
        .map(|spec| history_input(spec, forced))
        .collect::<Result<Vec<_>, _>>()?;
    let output = match &args.output {
        Some(path) => OutputTarget::File(path.clone()),
        None => OutputTarget::Stdout,
    };
    let config = BacktestConfig {
        inputs,
        output: args.output.clone(),
        dead_letter: args
            .dead_letter
            .clone()
            .unwrap_or_else(|| default_dead_letter(&output)),
        read: ReadOptions {
            range,
            batch_size: args.batch_size,
            max_line_bytes: args.max_line_bytes,
        },
        progress: args.progress,
    };
    let summary = backtest::run(&program, &config)?;
    print!("{}", summary.render(args.top));
    report(&summary.run);
    Ok(exit_code(&summary.run))
}

/// A checked `--input` with its format.
fn history_input(spec: InputSpec, forced: Option<Format>) -> Result<HistoryInput, BacktestError> {
    let path = match spec.location {
        InputLocation::File(path) => path.display().to_string(),
        _ => return Err(BacktestError::Stdin(spec.stream)),
    };
    let format = match forced {
        Some(format) => format,
        None => {
            Format::from_path(&path).ok_or_else(|| BacktestError::UnknownFormat(path.clone()))?
        }
    };
    Ok(HistoryInput {
        stream: spec.stream,
        path,
        format,
    })
}
