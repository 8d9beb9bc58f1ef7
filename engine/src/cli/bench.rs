//! `eddy bench`: measure the benchmark workloads end to end (see
//! [`crate::bench`]) and print the figures.

use std::path::PathBuf;

use super::{exit, CliError};
use crate::bench::{self, Options, Pace, Selection};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkloadChoice {
    /// The filter.
    F,
    /// The pattern over 10000 users, on one thread and on two workers.
    P,
    /// The tumbling window.
    W,
    /// The pattern over a million users, with its memory per open candidate.
    P1m,
    /// 1, 10 and 100 similar filter rules.
    Rules,
    All,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Events per workload.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    #[arg(long, value_enum, default_value_t = WorkloadChoice::All)]
    pub workload: WorkloadChoice,
    /// Folder for the generated data (kept and reused), rules and outputs.
    #[arg(long, default_value = "target/eddy-bench")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Events per second fed to the streaming-latency runs.
    #[arg(long, default_value_t = 100_000)]
    pub rate: u64,
    /// Lines per write in the streaming-latency runs.
    #[arg(long, default_value_t = 10)]
    pub lines_per_write: usize,
    /// Skip the streaming-latency runs.
    #[arg(long)]
    pub no_latency: bool,
}

pub fn execute(args: &BenchArgs) -> Result<u8, CliError> {
    let options = Options {
        events: args.events,
        selection: match args.workload {
            WorkloadChoice::F => Selection::Filter,
            WorkloadChoice::P => Selection::Pattern,
            WorkloadChoice::W => Selection::Window,
            WorkloadChoice::P1m => Selection::PatternScaled,
            WorkloadChoice::Rules => Selection::Rules,
            WorkloadChoice::All => Selection::All,
        },
        dir: args.dir.clone(),
        seed: args.seed,
        pace: (!args.no_latency).then_some(Pace {
            rate: args.rate.max(1),
            lines_per_write: args.lines_per_write.max(1),
        }),
    };
    bench::run(&options, &mut std::io::stdout().lock())?;
    Ok(exit::OK)
}
