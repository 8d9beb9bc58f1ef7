//! The job's rules: the files they come from, and reading them again for
//! a reload (on SIGHUP, `POST /reload`, or a change of the files).

use std::path::PathBuf;
use std::time::SystemTime;

use dsl::plan::Program;
use dsl::Severity;

use crate::checkpoint::RuleSet;

/// The running rules and where they were read from.
pub struct JobRules {
    /// Rule files, in load order.
    pub files: Vec<PathBuf>,
    pub program: Program,
    pub rules: RuleSet,
}

/// Why a reload was not applied.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The rendered diagnostics, one after the other.
    #[error("the rules have errors:\n{0}")]
    RuleErrors(String),
    #[error("{0}; restart eddy to apply this change")]
    NeedsRestart(String),
}

/// Watches the rule files' modification times.
pub struct RuleWatch {
    files: Vec<PathBuf>,
    seen: Vec<Option<SystemTime>>,
}

impl RuleWatch {
    pub fn new(files: &[PathBuf]) -> Self {
        RuleWatch {
            seen: files.iter().map(modified).collect(),
            files: files.to_vec(),
        }
    }

    /// Whether a file changed since the last call (or since `new`).
    pub fn changed(&mut self) -> bool {
        let now: Vec<Option<SystemTime>> = self.files.iter().map(modified).collect();
        let changed = now != self.seen;
        self.seen = now;
        changed
    }
}

fn modified(path: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reads and compiles `files` again, for a reload of `running`.
pub fn recompile(files: &[PathBuf], running: &Program) -> Result<JobRules, Refusal> {
    let sources = files
        .iter()
        .map(|path| {
            std::fs::read_to_string(path)
                .map(|text| dsl::Source {
                    name: path.display().to_string(),
                    text,
                })
                .map_err(|source| Refusal::Read {
                    path: path.clone(),
                    source,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (program, diagnostics) = dsl::compile(&sources);
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| dsl::render(d, &sources))
        .collect();
    let program = match program {
        Some(program) if errors.is_empty() => program,
        _ => return Err(Refusal::RuleErrors(errors.join("\n"))),
    };
    check_same_inputs(running, &program)?;
    Ok(JobRules {
        files: files.to_vec(),
        rules: RuleSet::of(&sources),
        program,
    })
}

/// A reload swaps operators, not sources: the declared streams and the
/// streams the rules read must stay as they are.
fn check_same_inputs(running: &Program, new: &Program) -> Result<(), Refusal> {
    let declared = |p: &Program| {
        p.catalog
            .streams
            .iter()
            .filter(|s| s.derived_from.is_none())
            .cloned()
            .collect::<Vec<_>>()
    };
    if declared(running) != declared(new) {
        return Err(Refusal::NeedsRestart(
            "the stream declarations changed".into(),
        ));
    }
    let read = |p: &Program| {
        let mut streams: Vec<String> = p
            .rules
            .iter()
            .flat_map(|r| r.inputs())
            .filter(|s| {
                p.catalog
                    .stream(s)
                    .is_some_and(|s| s.derived_from.is_none())
            })
            .map(str::to_string)
            .collect();
        streams.sort();
        streams.dedup();
        streams
    };
    let (before, after) = (read(running), read(new));
    if before != after {
        return Err(Refusal::NeedsRestart(format!(
            "the rules read other input streams ({} before, {} now)",
            before.join(", "),
            after.join(", ")
        )));
    }
    Ok(())
}
