//! The `eddy` command line: `check`, `run`, `generate`, `test`, `explain`,
//! `catalog`, `bench`, `backtest` and `soak`.
//!
//! Exit codes:
//! - `0`: success (`check`: no errors, warnings allowed; `run`: ran and
//!   rejected no input);
//! - `1`: the rules have errors (or a rule cannot be compiled);
//! - `2`: usage error, I/O error, or a runtime failure;
//! - `3`: `run` ran to the end but some input went to the dead-letter output.

pub mod backtest;
pub mod bench;
pub mod catalog;
pub mod check;
pub mod error;
pub mod explain;
pub mod job;
pub mod outcome;
pub mod rules;
pub mod run;
pub mod soak;
pub mod test;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use error::CliError;

/// The exit codes of `eddy`.
pub mod exit {
    pub const OK: u8 = 0;
    pub const RULE_ERRORS: u8 = 1;
    pub const USAGE_OR_IO: u8 = 2;
    pub const INPUT_REJECTED: u8 = 3;
}

#[derive(Debug, Parser)]
#[command(
    name = "eddy",
    version,
    about = "Complex event processing over JSON lines"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check rule files and print every diagnostic.
    Check(check::CheckArgs),
    /// Run rules over JSON-lines inputs and write derived events as CloudEvents.
    Run(run::RunArgs),
    /// Write seeded sample events for an example pack.
    Generate(crate::generate::GenerateArgs),
    /// Run the rule tests next to rule files: a line per case, a diff on failure.
    Test(test::TestArgs),
    /// Show a rule's compiled plan in words and its automaton as a diagram.
    Explain(explain::ExplainArgs),
    /// Describe the consumed streams and derived events as an AsyncAPI document.
    Catalog(catalog::CatalogArgs),
    /// Measure throughput, memory and latency of the benchmark workloads.
    Bench(bench::BenchArgs),
    /// Replay history (JSON lines, CSV, Parquet) through rules and sum up the matches.
    Backtest(backtest::BacktestArgs),
    /// Run the fraud pack over a generated hostile stream for a long time and plot memory, state and lag.
    Soak(soak::SoakArgs),
}

/// `eddy generate`: the generators are the examples' business; this only
/// reports what was written.
fn generate(args: &crate::generate::GenerateArgs) -> Result<u8, CliError> {
    for (stream, lines) in crate::generate::run(args)? {
        eprintln!("eddy: wrote {lines} events of stream `{stream}`");
    }
    Ok(exit::OK)
}

/// Parses the command line, runs the command, and returns its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Check(args) => check::execute(args),
        Command::Run(args) => run::execute(args),
        Command::Generate(args) => generate(args),
        Command::Test(args) => test::execute(args),
        Command::Explain(args) => explain::execute(args),
        Command::Catalog(args) => catalog::execute(args),
        Command::Bench(args) => bench::execute(args),
        Command::Backtest(args) => backtest::execute(args),
        Command::Soak(args) => soak::execute(args),
    };
    match code {
        Ok(code) => ExitCode::from(code),
        Err(CliError::Run(crate::runner::RunError::OutputClosed)) => ExitCode::from(exit::OK),
        Err(error) => {
            eprintln!("error: {}", error.report());
            ExitCode::from(error.exit_code())
        }
    }
}
