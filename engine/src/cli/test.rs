//! `eddy test [DIR_OR_FILE...]`: run the rule tests (`*.test.toml`) and
//! print `PASS`/`FAIL` per case, with a diff for each failure.
//!
//! Exit codes: 0 when every case passes, 1 when one fails, 2 when a test
//! file cannot be used (the error names its file and line).

use std::path::PathBuf;

use super::{exit, CliError};
use crate::ruletest::{self, discover, format, RuleCache, TestFileError};

/// Exit code: some case failed.
const SOME_FAILED: u8 = 1;

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Test files, or directories searched for `*.test.toml` (default: `.`).
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
}

pub fn execute(args: &TestArgs) -> Result<u8, CliError> {
    match run(args) {
        Ok(code) => Ok(code),
        Err(error) => {
            eprintln!("error: {error}");
            Ok(exit::USAGE_OR_IO)
        }
    }
}

fn run(args: &TestArgs) -> Result<u8, TestFileError> {
    // Every file is read before any case runs, so that a broken file
    // stops the run before it prints half a report.
    let files = discover::test_files(&args.paths)?
        .iter()
        .map(|path| format::read(path))
        .collect::<Result<Vec<_>, _>>()?;
    let mut cache = RuleCache::default();
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        for result in ruletest::run_file(file, &mut cache)? {
            let verdict = if result.passed { "PASS" } else { "FAIL" };
            println!("{verdict} {}: {}", result.file.display(), result.name);
            print!("{}", result.details);
            if result.passed {
                passed += 1;
            } else {
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 { exit::OK } else { SOME_FAILED })
}
