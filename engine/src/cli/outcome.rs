//! What `eddy run` and the runs of a config over files share: where the
//! dead letters go by default, the report of rejections, the exit code.

use std::path::{Path, PathBuf};

use super::exit;
use crate::runner::{OutputTarget, RunSummary};

/// The dead-letter file when the output is stdout.
pub const DEFAULT_DEAD_LETTER: &str = "eddy-dead-letter.jsonl";

/// 0, or 3 when some input went to the dead-letter output.
pub fn exit_code(summary: &RunSummary) -> u8 {
    if summary.rejected_total() > 0 {
        exit::INPUT_REJECTED
    } else {
        exit::OK
    }
}

/// `out/alerts.jsonl` gives `out/alerts.dead-letter.jsonl`.
pub fn default_dead_letter(output: &OutputTarget) -> PathBuf {
    match output {
        OutputTarget::Stdout => PathBuf::from(DEFAULT_DEAD_LETTER),
        OutputTarget::File(path) => {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "eddy".into());
            let name = format!("{stem}.dead-letter.jsonl");
            match path.parent() {
                Some(dir) if dir != Path::new("") => dir.join(name),
                _ => PathBuf::from(name),
            }
        }
    }
}

/// One line on stderr per rejection reason.
pub fn report(summary: &RunSummary) {
    let place = summary
        .dead_letter
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    for (reason, count) in &summary.rejected {
        let lines = if *count == 1 { "line" } else { "lines" };
        eprintln!("eddy: {count} input {lines} rejected as {reason} (written to {place})");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dead_letter_file_sits_next_to_the_output() {
        assert_eq!(
            default_dead_letter(&OutputTarget::Stdout),
            PathBuf::from("eddy-dead-letter.jsonl")
        );
        assert_eq!(
            default_dead_letter(&OutputTarget::File(PathBuf::from("out/alerts.jsonl"))),
            PathBuf::from("out/alerts.dead-letter.jsonl")
        );
        assert_eq!(
            default_dead_letter(&OutputTarget::File(PathBuf::from("alerts"))),
            PathBuf::from("alerts.dead-letter.jsonl")
        );
    }
}
