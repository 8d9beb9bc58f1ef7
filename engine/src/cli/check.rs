//! `eddy check RULES...`: compile and report.

use std::path::PathBuf;

use super::{exit, rules, CliError};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Rule files; streams declared in one are visible in all.
    #[arg(required = true)]
    pub rules: Vec<PathBuf>,
}

pub fn execute(args: &CheckArgs) -> Result<u8, CliError> {
    let sources = rules::load(&args.rules)?;
    let compiled = rules::compile_and_report(&sources);
    if compiled.errors > 0 || compiled.program.is_none() {
        eprintln!(
            "eddy: {} error(s), {} warning(s)",
            compiled.errors, compiled.warnings
        );
        return Ok(exit::RULE_ERRORS);
    }
    if compiled.warnings > 0 {
        eprintln!("eddy: no errors, {} warning(s)", compiled.warnings);
    }
    Ok(exit::OK)
}
