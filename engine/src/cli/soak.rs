//! `eddy soak`: run the fraud pack over a generated hostile stream and
//! record memory, open state and watermark lag (see [`crate::soak`]).

use std::path::PathBuf;
use std::time::Duration;

use super::{exit, CliError};
use crate::config::duration::{format_duration, parse_duration};
use crate::soak::{self, SoakOptions};

#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// How long to run: `1h`, `2m`, `90s`.
    #[arg(long, default_value = "1h", value_parser = duration)]
    pub duration: Duration,
    /// Events per second, over the three streams.
    #[arg(long, default_value_t = 3000.0)]
    pub rate: f64,
    /// How often to sample.
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub sample: Duration,
    /// Event time runs this many times as fast as the wall clock, ending at
    /// now (1: live).
    #[arg(long, default_value_t = 1.0)]
    pub speedup: f64,
    /// Folder for samples.csv, soak.png, derived.jsonl and dead-letter.jsonl.
    #[arg(long, default_value = "target/eddy-soak")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 11)]
    pub seed: u64,
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text).ok_or_else(|| format!("`{text}` is not a duration (e.g. 1h, 2m, 90s)"))
}

pub fn execute(args: &SoakArgs) -> Result<u8, CliError> {
    let options = SoakOptions {
        duration: args.duration,
        rate: args.rate,
        sample_every: args.sample,
        speedup: args.speedup.max(1.0),
        out: args.out.clone(),
        seed: args.seed,
    };
    eprintln!(
        "eddy soak: {} at {} events/s, a sample every {}; writing to {}",
        format_duration(options.duration),
        options.rate,
        format_duration(options.sample_every),
        options.out.display()
    );
    let report = soak::run(&options, &mut |s| {
        eprintln!(
            "{:>7.0} s  rss {:>6.1} MB  open state {:>8}  waiting {:>6}  lag {:>7} ms  in {:>10}  rejected {:>8}",
            s.seconds,
            s.rss_bytes as f64 / 1e6,
            s.open_state,
            s.waiting,
            s.lag_ms,
            s.events_in,
            s.rejected
        )
    })?;
    let rejected: Vec<String> = report
        .rejected
        .iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect();
    let (memory, state) = report.levelled();
    let verdict = |flat: bool| if flat { "levels off" } else { "still rising" };
    eprintln!(
        "eddy soak: {} events in, {} derived, rejected: {}",
        report.events_in,
        report.derived,
        rejected.join(", ")
    );
    eprintln!(
        "eddy soak: resident memory {}, open state {}; {} and {}",
        verdict(memory),
        verdict(state),
        report.csv.display(),
        report.plot.display()
    );
    Ok(if memory && state {
        exit::OK
    } else {
        exit::INPUT_REJECTED
    })
}
