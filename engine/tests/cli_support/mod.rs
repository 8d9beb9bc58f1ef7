//! Running the `eddy` binary from integration tests.

use std::path::Path;
use std::process::{Command, Output};

/// `eddy ARGS...` run in `dir`, to its end.
pub fn eddy_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}
