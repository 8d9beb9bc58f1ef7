//! Reading rule files and compiling them, with diagnostics on stderr.

use std::path::PathBuf;

use dsl::plan::Program;
use dsl::{Severity, Source};

use super::CliError;

pub fn load(paths: &[PathBuf]) -> Result<Vec<Source>, CliError> {
    paths
        .iter()
        .map(|path| {
            std::fs::read_to_string(path)
                .map(|text| Source {
                    name: path.display().to_string(),
                    text,
                })
                .map_err(|source| CliError::ReadRules {
                    path: path.clone(),
                    source,
                })
        })
        .collect()
}

/// What compiling found.
pub struct Compiled {
    pub program: Option<Program>,
    pub errors: usize,
    pub warnings: usize,
}

/// Compiles `sources` and renders every diagnostic to stderr.
pub fn compile_and_report(sources: &[Source]) -> Compiled {
    let (program, diagnostics) = dsl::compile(sources);
    let mut errors = 0;
    let mut warnings = 0;
    for diagnostic in &diagnostics {
        match diagnostic.severity {
            Severity::Error => errors += 1,
            Severity::Warning => warnings += 1,
        }
        eprintln!("{}", dsl::render(diagnostic, sources));
    }
    Compiled {
        program: if errors == 0 { program } else { None },
        errors,
        warnings,
    }
}
