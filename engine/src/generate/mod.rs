//! Seeded generators of sample events for the example packs and the
//! benchmark workload. The same pack, seed and size always give the same files.

pub mod bench;
mod fraud;
mod iot;
mod recorder;
mod rng;
mod security;

use std::path::PathBuf;

pub use recorder::{rfc3339, Recorder, EPOCH_2026};
pub use rng::Rng;

/// The data sets `eddy generate` knows.
pub const PACKS: &[&str] = &["fraud", "security", "iot", "bench"];

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Which data set: fraud, security, iot, or bench (the benchmark workload).
    pub pack: String,
    /// Folder to write the JSON-lines files into (one per stream).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Roughly how many events.
    #[arg(long, default_value_t = 2000)]
    pub events: usize,
    /// Distinct users (bench only; default 10000); other data sets ignore it.
    #[arg(long)]
    pub users: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("unknown data set `{0}`; expected one of: {list}", list = PACKS.join(", "))]
    UnknownPack(String),
    #[error("cannot write to {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes the pack's files and returns (stream, lines written) per file.
pub fn run(args: &GenerateArgs) -> Result<Vec<(String, usize)>, GenerateError> {
    let mut rng = Rng::new(args.seed);
    let io_error = |source| GenerateError::Io {
        path: args.out.clone(),
        source,
    };
    if args.pack == "bench" {
        let users = args.users.unwrap_or(bench::DEFAULT_USERS);
        return bench::write(&mut rng, &args.out, args.events, users).map_err(io_error);
    }
    let mut out = Recorder::default();
    match args.pack.as_str() {
        "fraud" => fraud::generate(&mut rng, &mut out, args.events),
        "security" => security::generate(&mut rng, &mut out, args.events),
        "iot" => iot::generate(&mut rng, &mut out, args.events),
        other => return Err(GenerateError::UnknownPack(other.to_string())),
    }
    out.write(&args.out).map_err(io_error)
}
