//! `eddy explain RULES... [--rule NAME] [--dot]`: each rule's compiled plan
//! in words and its automaton, or Graphviz digraphs with `--dot`.

use std::path::PathBuf;

use super::{exit, rules, CliError};
use crate::explain;

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// Rule files; streams declared in one are visible in all.
    #[arg(required = true)]
    pub rules: Vec<PathBuf>,
    /// Explain only this rule.
    #[arg(long, value_name = "NAME")]
    pub rule: Option<String>,
    /// Print Graphviz digraphs (pattern automata; the data flow of other
    /// rules) instead of text, for `dot -Tsvg`.
    #[arg(long)]
    pub dot: bool,
}

pub fn execute(args: &ExplainArgs) -> Result<u8, CliError> {
    let sources = rules::load(&args.rules)?;
    let compiled = rules::compile_and_report(&sources);
    let Some(program) = compiled.program else {
        return Err(CliError::RuleErrors);
    };
    let chosen: Vec<_> = match &args.rule {
        None => program.rules.iter().collect(),
        Some(name) => {
            let Some(rule) = program.rules.iter().find(|r| &r.name == name) else {
                let names: Vec<&str> = program.rules.iter().map(|r| r.name.as_str()).collect();
                eprintln!(
                    "error: no rule named `{name}` (rules: {})",
                    names.join(", ")
                );
                return Ok(exit::USAGE_OR_IO);
            };
            vec![rule]
        }
    };
    let pages: Vec<String> = chosen
        .iter()
        .map(|rule| {
            if args.dot {
                explain::dot(rule)
            } else {
                explain::text(&program, rule)
            }
        })
        .collect();
    print!("{}", pages.join("\n"));
    Ok(exit::OK)
}
