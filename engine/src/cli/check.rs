//! `eddy check RULES... [--config eddy.toml]`: compile and report; with a
//! job's config, also check it against the rules (stream and sink names,
//! and that no derived event goes to a sink not cleared for it), as the
//! job's startup does.

use std::path::PathBuf;

use crate::config::Config;

use super::{exit, rules, CliError};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Rule files; streams declared in one are visible in all.
    #[arg(required_unless_present = "config")]
    pub rules: Vec<PathBuf>,
    /// A job's config (`eddy run --config`): its rule files are checked
    /// too, and the config against them.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn execute(args: &CheckArgs) -> Result<u8, CliError> {
    let config = args.config.as_deref().map(Config::load).transpose()?;
    let mut paths = args.rules.clone();
    if let Some(config) = &config {
        paths.extend(config.rules.iter().cloned());
    }
    let sources = rules::load(&paths)?;
    let compiled = rules::compile_and_report(&sources);
    let Some(program) = compiled.program.filter(|_| compiled.errors == 0) else {
        eprintln!(
            "eddy: {} error(s), {} warning(s)",
            compiled.errors, compiled.warnings
        );
        return Ok(exit::RULE_ERRORS);
    };
    if let Some(config) = &config {
        config.check_against(&program)?;
    }
    if compiled.warnings > 0 {
        eprintln!("eddy: no errors, {} warning(s)", compiled.warnings);
    }
    Ok(exit::OK)
}
