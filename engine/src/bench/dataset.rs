//! The files a bench run works on, in its folder: the rule files, and the
//! generated data, made once per (events, users, seed) and reused after.

use std::fs;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use super::workload::{rule_sets, RuleSet, STREAM_RULES};
use super::BenchError;
use crate::generate::{bench as generator, Rng};

/// Writes the rule files into `dir/rules/` (every time, so they are the
/// ones this binary was built with) and returns their paths per rule set.
pub fn write_rules(dir: &Path) -> Result<RulePaths, BenchError> {
    let rules_dir = dir.join("rules");
    fs::create_dir_all(&rules_dir).map_err(|e| BenchError::io("create", &rules_dir, e))?;
    let write = |name: &str, text: &str| -> Result<PathBuf, BenchError> {
        let path = rules_dir.join(name);
        fs::write(&path, text).map_err(|e| BenchError::io("write", &path, e))?;
        Ok(path)
    };
    Ok(RulePaths {
        stream: write(STREAM_RULES.name, STREAM_RULES.text)?,
        sets: rule_sets()
            .map(|set| Ok((set, write(&set.file_name(), &set.text())?)))
            .collect::<Result<_, BenchError>>()?,
    })
}

/// Where the rule files of a bench run are.
#[derive(Debug, Clone)]
pub struct RulePaths {
    pub stream: PathBuf,
    pub sets: BTreeMap<RuleSet, PathBuf>,
}

impl RulePaths {
    /// The files to give `eddy run` for `rules`: the stream, then the rules.
    pub fn for_rules(&self, rules: RuleSet) -> [&Path; 2] {
        [&self.stream, &self.sets[&rules]]
    }
}

/// The data file of `events` events over `users` users, generated into
/// `dir` unless a previous run left it there. Returns the path and whether
/// it was generated now.
pub fn ensure_data(
    dir: &Path,
    events: usize,
    users: u64,
    seed: u64,
) -> Result<(PathBuf, bool), BenchError> {
    let folder = dir.join(format!("auth-n{events}-u{users}-s{seed}"));
    let path = folder.join(generator::FILE_NAME);
    if path.is_file() {
        return Ok((path, false));
    }
    // Generated beside, then renamed: an interrupted run leaves no partial
    // file that a later run would take for a complete one.
    let partial = dir.join(format!(".partial-n{events}-u{users}-s{seed}"));
    let _ = fs::remove_dir_all(&partial);
    generator::write(&mut Rng::new(seed), &partial, events, users)
        .map_err(|e| BenchError::io("generate", &partial, e))?;
    let _ = fs::remove_dir_all(&folder);
    fs::rename(&partial, &folder).map_err(|e| BenchError::io("rename", &partial, e))?;
    Ok((path, true))
}
