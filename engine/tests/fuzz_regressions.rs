//! The fuzz targets' checks (tests/fuzz/src/lib.rs) over every input kept
//! in `tests/fuzz/regressions/<target>/`: inputs that once stopped, crashed
//! or fooled eddy (found by fuzzing or reported), each of which must now be
//! handled as eddy promises. The seed corpora the fuzzers start from are
//! checked too (`tests/fuzz/seeds/<target>/`).

#[path = "../../tests/fuzz/src/lib.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz")
}

/// Runs `check` on every file of `regressions/<target>` and
/// `seeds/<target>`; there must be some of each.
fn each_kept_input(target: &str, check: fn(&[u8])) {
    for kind in ["regressions", "seeds"] {
        let dir = fuzz_dir().join(kind).join(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no inputs in {}", dir.display());
        for file in files {
            let data = std::fs::read(&file).expect("a kept input");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{} fails its check", file.display());
        }
    }
}

#[test]
fn rules() {
    each_kept_input("rules", harness::rules);
}

#[test]
fn lines() {
    each_kept_input("lines", harness::lines);
}

#[test]
fn messages() {
    each_kept_input("messages", harness::messages);
}

#[test]
fn checkpoint() {
    each_kept_input("checkpoint", harness::checkpoint);
}

#[test]
fn config() {
    each_kept_input("config", harness::config);
}

/// The checkpoint seed is a real checkpoint of the current format: it
/// decodes, and restores into the pipeline it came from.
#[test]
fn the_checkpoint_seed_is_current() {
    let seed = harness::checkpoint_seed();
    let kept = fuzz_dir().join("seeds/checkpoint/fraud.ckpt");
    let checkpoint =
        runtime::checkpoint::Checkpoint::decode(&kept, &seed).expect("the seed decodes");
    assert!(!checkpoint.operators.is_empty());
    if std::env::var_os("EDDY_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::write(&kept, &seed).expect("writing the seed");
    }
    assert_eq!(
        std::fs::read(&kept).ok(),
        Some(seed),
        "the kept seed is stale: rerun with EDDY_WRITE_FUZZ_SEEDS=1"
    );
}
