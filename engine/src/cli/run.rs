//! `eddy run RULES... --input STREAM=PATH ...`: run rules over JSON lines.

use std::collections::BTreeSet;
use std::path::PathBuf;

use dsl::plan::Program;

use super::outcome::{default_dead_letter, exit_code, report};
use super::{rules, CliError};
use crate::embedded::BuiltInPack;
use crate::runner::{self, InputSpec, OutputTarget, RunConfig};
use crate::source::{InputLocation, DEFAULT_MAX_CHUNK_BYTES, DEFAULT_MAX_LINE_BYTES};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Rule files; streams declared in one are visible in all.
    pub rules: Vec<PathBuf>,
    /// `STREAM=PATH`: read the declared stream STREAM from PATH (`-` is stdin).
    #[arg(long = "input", value_name = "STREAM=PATH")]
    pub inputs: Vec<String>,
    /// Where derived events go, as CloudEvents JSON lines (default: stdout).
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Where rejected input lines go (default: next to the output as
    /// `NAME.dead-letter.jsonl`, or `eddy-dead-letter.jsonl` in the current
    /// directory when the output is stdout). Created only if something is rejected.
    #[arg(long, value_name = "PATH")]
    pub dead_letter: Option<PathBuf>,
    /// Input lines read and decoded per chunk.
    #[arg(long, default_value_t = 8192)]
    pub batch_size: usize,
    /// Input bytes read and decoded per chunk, whatever the number of lines
    /// (a chunk takes one line at least): bounds memory with wide lines.
    #[arg(long, default_value_t = DEFAULT_MAX_CHUNK_BYTES, value_name = "BYTES")]
    pub max_chunk_bytes: usize,
    /// Longest accepted input line, in bytes; longer ones are dead-lettered.
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES)]
    pub max_line_bytes: usize,
    /// Pipelines on N threads with the keys split between them: every
    /// stateful rule must group a stream by one shared field, and no rule
    /// may read derived events. The derived events are the same as with
    /// one; those of one time and rule come ordered by key, then id.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub workers: usize,
    /// Run as a streaming job on Kafka as this config file says (see
    /// examples/eddy.toml), until SIGTERM or SIGINT.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["inputs", "output", "dead_letter"])]
    pub config: Option<PathBuf>,
}

pub fn execute(args: &RunArgs) -> Result<u8, CliError> {
    if let Some(config) = &args.config {
        return super::job::execute(config, &args.rules);
    }
    if args.rules.is_empty() {
        return execute_built_in(&crate::embedded::FRAUD, args);
    }
    let sources = rules::load(&args.rules)?;
    let compiled = rules::compile_and_report(&sources);
    let Some(program) = compiled.program else {
        return Err(CliError::RuleErrors);
    };
    let inputs = resolve_inputs(&program, &args.inputs)?;
    run_program(&program, inputs, args)
}

/// Runs a built-in pack (`inputs` are (stream, name to show, text)); the
/// output options of `args` apply, `--input` flags must be absent.
pub fn execute_built_in(pack: &BuiltInPack<'_>, args: &RunArgs) -> Result<u8, CliError> {
    if !args.inputs.is_empty() {
        return Err(CliError::NoRules);
    }
    let sources = vec![dsl::Source {
        name: pack.rules_name.to_string(),
        text: pack.rules.to_string(),
    }];
    let compiled = rules::compile_and_report(&sources);
    let Some(program) = compiled.program else {
        return Err(CliError::RuleErrors);
    };
    let mut inputs: Vec<InputSpec> = pack
        .inputs
        .iter()
        .map(|(stream, name, text)| InputSpec {
            stream: stream.to_string(),
            location: InputLocation::Embedded { name, text },
        })
        .collect();
    inputs.sort_by_key(|i| program.catalog.stream_index(&i.stream));
    run_program(&program, inputs, args)
}

fn run_program(program: &Program, inputs: Vec<InputSpec>, args: &RunArgs) -> Result<u8, CliError> {
    if args.batch_size == 0 {
        return Err(CliError::BatchSize);
    }
    let output = match &args.output {
        Some(path) if path.as_os_str() != "-" => OutputTarget::File(path.clone()),
        _ => OutputTarget::Stdout,
    };
    let dead_letter = args
        .dead_letter
        .clone()
        .unwrap_or_else(|| default_dead_letter(&output));
    let mut config = RunConfig::new(inputs, output, dead_letter);
    config.batch_size = args.batch_size;
    config.max_chunk_bytes = args.max_chunk_bytes;
    config.max_line_bytes = args.max_line_bytes;
    config.workers = args.workers;
    let summary = runner::run(program, &config)?;
    report(&summary);
    Ok(exit_code(&summary))
}

/// Checks the `--input` flags against the program: every declared stream a
/// rule reads needs exactly one; unknown and derived streams are refused.
/// Inputs for declared streams no rule reads are ignored with a note.
pub fn resolve_inputs(program: &Program, specs: &[String]) -> Result<Vec<InputSpec>, CliError> {
    let catalog = &program.catalog;
    let needed: BTreeSet<&str> = program
        .rules
        .iter()
        .flat_map(|r| r.inputs())
        .filter(|s| {
            catalog
                .stream(s)
                .is_some_and(|plan| plan.derived_from.is_none())
        })
        .collect();
    let mut inputs: Vec<InputSpec> = Vec::new();
    let mut stdin_used = false;
    for spec in specs {
        let (stream, path) = spec
            .split_once('=')
            .filter(|(s, p)| !s.is_empty() && !p.is_empty())
            .ok_or_else(|| CliError::InputSyntax(spec.clone()))?;
        let Some(plan) = catalog.stream(stream) else {
            let names = catalog
                .streams
                .iter()
                .filter(|s| s.derived_from.is_none())
                .map(|s| s.name.as_str());
            return Err(CliError::UnknownStream {
                name: stream.to_string(),
                suggestion: closest(stream, names),
            });
        };
        if plan.derived_from.is_some() {
            return Err(CliError::DerivedInput(stream.to_string()));
        }
        if inputs.iter().any(|i| i.stream == stream) {
            return Err(CliError::DuplicateInput(stream.to_string()));
        }
        let location = InputLocation::parse(path);
        if location == InputLocation::Stdin {
            if stdin_used {
                return Err(CliError::StdinTwice);
            }
            stdin_used = true;
        }
        if !needed.contains(stream) {
            eprintln!("eddy: note: no rule reads stream `{stream}`; --input {spec} is ignored");
            continue;
        }
        inputs.push(InputSpec {
            stream: stream.to_string(),
            location,
        });
    }
    if let Some(missing) = needed
        .iter()
        .find(|s| !inputs.iter().any(|i| i.stream == **s))
    {
        return Err(CliError::MissingInput(missing.to_string()));
    }
    // Declaration order, so that runs do not depend on the order of the flags.
    inputs.sort_by_key(|i| catalog.stream_index(&i.stream));
    Ok(inputs)
}

/// The known name closest to `name`, if it is close enough to be a typo.
fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    known
        .map(|k| (strsim::damerau_levenshtein(name, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_closest_name() {
        let known = ["auth", "payments", "settlements"];
        assert_eq!(
            closest("paymnts", known.into_iter()),
            Some("payments".into())
        );
        assert_eq!(
            closest("settlement", known.into_iter()),
            Some("settlements".into())
        );
        assert_eq!(closest("xyz", known.into_iter()), None);
    }
}
