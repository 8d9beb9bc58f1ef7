//! The `eddy` binary: see [`engine::cli`] for the commands and exit codes.

/// mimalloc rather than the system allocator: the operators allocate and
/// free small objects per event (keys, captures, accumulators), where glibc
/// malloc showed up as about a quarter of the pattern workload's profile.
/// Set here, in the binary only, so the library stays allocator-neutral.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    engine::cli::main()
}
