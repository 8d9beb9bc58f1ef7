//! Running one case the way `eddy run` would: its inputs are written to
//! files in a temporary directory and go through [`runner::run`], and the
//! derived events are read back from the output file. Streams the rules
//! read but the case does not give are empty files.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use dsl::plan::Program;
use serde_json::Value;

use super::error::TestFileError;
use super::format::{InputText, TestCase};
use crate::reject::RejectReason;
use crate::runner::{self, InputSpec, OutputTarget, RunConfig};
use crate::source::InputLocation;

/// What a case's run produced.
#[derive(Debug, Clone)]
pub enum CaseRun {
    /// The rules do not compile: their diagnostics, rendered.
    RuleErrors(String),
    /// The run stopped with an error.
    Failed(String),
    Ran {
        /// The derived events (CloudEvents) in output order, after `only`.
        events: Vec<Value>,
        /// The dead-letter records, in output order.
        rejected: Vec<Value>,
    },
}

/// Compiled rule sets, by the list of rule files, so that cases sharing
/// rules compile them once.
#[derive(Default)]
pub struct RuleCache {
    compiled: HashMap<Vec<PathBuf>, Result<Program, String>>,
}

impl RuleCache {
    fn get(
        &mut self,
        file: &Path,
        case: &TestCase,
    ) -> Result<&Result<Program, String>, TestFileError> {
        if !self.compiled.contains_key(&case.rules) {
            let mut sources = Vec::with_capacity(case.rules.len());
            for path in &case.rules {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    TestFileError::at_line(
                        file,
                        case.line,
                        format!("cannot read rule file {}: {e}", path.display()),
                    )
                })?;
                sources.push(dsl::Source {
                    name: path.display().to_string(),
                    text,
                });
            }
            let (program, diagnostics) = dsl::compile(&sources);
            let errors: Vec<String> = diagnostics
                .iter()
                .filter(|d| d.severity == dsl::Severity::Error)
                .map(|d| dsl::render(d, &sources))
                .collect();
            let compiled = match program {
                Some(program) if errors.is_empty() => Ok(program),
                _ => Err(errors.join("\n")),
            };
            self.compiled.insert(case.rules.clone(), compiled);
        }
        Ok(&self.compiled[&case.rules])
    }
}

/// Runs `case` of the test file at `file`.
pub fn run_case(
    file: &Path,
    case: &TestCase,
    cache: &mut RuleCache,
) -> Result<CaseRun, TestFileError> {
    let program = match cache.get(file, case)? {
        Ok(program) => program,
        Err(diagnostics) => return Ok(CaseRun::RuleErrors(diagnostics.clone())),
    };
    check_case(file, case, program)?;

    let scratch = tempfile::tempdir().map_err(TestFileError::Scratch)?;
    let inputs = write_inputs(file, case, program, scratch.path())?;
    let output = scratch.path().join("derived.jsonl");
    let dead_letter = scratch.path().join("dead-letter.jsonl");
    let config = RunConfig::new(
        inputs,
        OutputTarget::File(output.clone()),
        dead_letter.clone(),
    );
    if let Err(error) = runner::run(program, &config) {
        return Ok(CaseRun::Failed(crate::error_chain::with_causes(&error)));
    }
    let mut events = read_json_lines(&output)?;
    if let Some(only) = &case.only {
        let sources: BTreeSet<String> = only.iter().map(|r| format!("eddy/rules/{r}")).collect();
        events.retain(|e| e["source"].as_str().is_some_and(|s| sources.contains(s)));
    }
    let rejected = if dead_letter.exists() {
        read_json_lines(&dead_letter)?
    } else {
        Vec::new()
    };
    Ok(CaseRun::Ran { events, rejected })
}

/// What the case names must exist in the program: input streams (declared,
/// not derived), the rules of `only`, the reasons of `rejected`.
fn check_case(file: &Path, case: &TestCase, program: &Program) -> Result<(), TestFileError> {
    for input in &case.inputs {
        let message = match program.catalog.stream(&input.stream) {
            None => format!(
                "input names an unknown stream `{}` (declared: {})",
                input.stream,
                declared_streams(program).join(", ")
            ),
            Some(plan) if plan.derived_from.is_some() => format!(
                "input names `{}`, which a rule derives; give the events of the streams it is \
                 derived from instead",
                input.stream
            ),
            Some(_) => continue,
        };
        return Err(TestFileError::at_line(file, input.line, message));
    }
    for rule in case.only.iter().flatten() {
        if !program.rules.iter().any(|r| &r.name == rule) {
            let names: Vec<&str> = program.rules.iter().map(|r| r.name.as_str()).collect();
            return Err(TestFileError::at_line(
                file,
                case.line,
                format!(
                    "`only` names an unknown rule `{rule}` (rules: {})",
                    names.join(", ")
                ),
            ));
        }
    }
    for reason in &case.rejected {
        if !RejectReason::ALL.iter().any(|r| r.as_str() == reason) {
            let names: Vec<&str> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
            return Err(TestFileError::at_line(
                file,
                case.line,
                format!(
                    "`rejected` names an unknown reason `{reason}` (reasons: {})",
                    names.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn declared_streams(program: &Program) -> Vec<&str> {
    program
        .catalog
        .streams
        .iter()
        .filter(|s| s.derived_from.is_none())
        .map(|s| s.name.as_str())
        .collect()
}

/// One input per declared stream a rule reads, in declaration order (as
/// `eddy run` orders them): the case's text or file, or an empty file.
fn write_inputs(
    file: &Path,
    case: &TestCase,
    program: &Program,
    scratch: &Path,
) -> Result<Vec<InputSpec>, TestFileError> {
    let read: BTreeSet<&str> = program.rules.iter().flat_map(|r| r.inputs()).collect();
    let mut specs = Vec::new();
    for stream in declared_streams(program) {
        if !read.contains(stream) {
            continue;
        }
        let given = case.inputs.iter().find(|i| i.stream == stream);
        let path = match given.map(|i| (i, &i.source)) {
            Some((input, InputText::File(path))) => {
                if !path.is_file() {
                    return Err(TestFileError::at_line(
                        file,
                        input.line,
                        format!("input file {} does not exist", path.display()),
                    ));
                }
                path.clone()
            }
            Some((_, InputText::Inline(text))) => write_scratch(scratch, stream, text)?,
            None => write_scratch(scratch, stream, "")?,
        };
        specs.push(InputSpec {
            stream: stream.to_string(),
            location: InputLocation::File(path),
        });
    }
    Ok(specs)
}

fn write_scratch(scratch: &Path, stream: &str, text: &str) -> Result<PathBuf, TestFileError> {
    let path = scratch.join(format!("{stream}.jsonl"));
    std::fs::write(&path, text).map_err(TestFileError::Scratch)?;
    Ok(path)
}

fn read_json_lines(path: &Path) -> Result<Vec<Value>, TestFileError> {
    let text = std::fs::read_to_string(path).map_err(TestFileError::Scratch)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| {
                TestFileError::Scratch(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            })
        })
        .collect()
}
