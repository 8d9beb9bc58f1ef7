//! The `eddy` binary: see [`engine::cli`] for the commands and exit codes.

fn main() -> std::process::ExitCode {
    engine::cli::main()
}
