//! Rule tests (`eddy test`): files named `*.test.toml` next to the rules,
//! each with cases of input events and the derived events expected.
//!
//! - [`discover`] finds the test files;
//! - [`format`] reads one into cases (errors name file and line);
//! - [`execute`] runs a case through the real runner, as `eddy run` would;
//! - [`compare`] and [`report`] judge the result and explain a failure.
//!
//! The format is documented in docs/testing.md.

pub mod compare;
pub mod discover;
pub mod error;
pub mod execute;
pub mod format;
pub mod report;

use std::path::PathBuf;

pub use error::TestFileError;
pub use execute::RuleCache;
pub use format::TestFile;

use compare::EventDiff;
use execute::CaseRun;

/// The verdict on one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub file: PathBuf,
    pub name: String,
    pub passed: bool,
    /// Why it failed, as indented lines (empty when it passed).
    pub details: String,
}

/// Runs every case of `file`.
pub fn run_file(file: &TestFile, cache: &mut RuleCache) -> Result<Vec<CaseResult>, TestFileError> {
    file.cases
        .iter()
        .map(|case| {
            let run = execute::run_case(&file.path, case, cache)?;
            let (passed, details) = match run {
                CaseRun::RuleErrors(diagnostics) => (
                    false,
                    format!("  the rules have errors:\n{}", indent(&diagnostics)),
                ),
                CaseRun::Failed(error) => (false, format!("  the run failed: {error}\n")),
                CaseRun::Ran { events, rejected } => {
                    let diffs = compare::compare(&case.expect, &events);
                    let passed = diffs.iter().all(|d| *d == EventDiff::Same)
                        && report::rejected_reasons(&rejected) == case.rejected;
                    let details = if passed {
                        String::new()
                    } else {
                        report::mismatch(&case.expect, &events, &diffs, &case.rejected, &rejected)
                    };
                    (passed, details)
                }
            };
            Ok(CaseResult {
                file: file.path.clone(),
                name: case.name.clone(),
                passed,
                details,
            })
        })
        .collect()
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}
