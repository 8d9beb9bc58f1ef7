//! Finding test files: `*.test.toml` under the given directories (or the
//! files themselves), in a stable order.

use std::path::{Path, PathBuf};

use super::error::TestFileError;

/// The suffix that marks a rule test file.
pub const TEST_FILE_SUFFIX: &str = ".test.toml";

/// Directories never searched: build output and hidden folders (`.git`).
fn skipped(dir: &Path) -> bool {
    dir.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "target" || n.starts_with('.') && n.len() > 1)
}

/// Every test file named by `paths`: files as given, directories searched
/// recursively. Sorted per argument; a directory without any is an error.
pub fn test_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, TestFileError> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            let before = found.len();
            walk(path, &mut found)?;
            // `eddy test` (the default `.`) shows `examples/...`, not `./examples/...`.
            for file in &mut found[before..] {
                if let Ok(relative) = file.strip_prefix(".") {
                    *file = relative.to_path_buf();
                }
            }
            found[before..].sort();
            if found.len() == before {
                return Err(TestFileError::NoTests(path.clone()));
            }
        } else {
            found.push(path.clone());
        }
    }
    Ok(found)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), TestFileError> {
    let entries = std::fs::read_dir(dir).map_err(|source| TestFileError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| TestFileError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.is_dir() {
            if !skipped(&path) {
                walk(&path, found)?;
            }
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(TEST_FILE_SUFFIX))
        {
            found.push(path);
        }
    }
    Ok(())
}
