//! Seeded generators of sample events for the example packs (and, later,
//! the benches). The same pack, seed and size always give the same files.

mod fraud;
mod iot;
mod recorder;
mod rng;
mod security;

use std::path::PathBuf;

pub use recorder::{rfc3339, Recorder, EPOCH_2026};
pub use rng::Rng;

/// The data sets `eddy generate` knows.
pub const PACKS: &[&str] = &["fraud", "security", "iot"];

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Which data set: fraud, security or iot.
    pub pack: String,
    /// Folder to write the JSON-lines files into (one per stream).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Roughly how many events.
    #[arg(long, default_value_t = 2000)]
    pub events: usize,
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
    let mut out = Recorder::default();
    match args.pack.as_str() {
        "fraud" => fraud::generate(&mut rng, &mut out, args.events),
        "security" => security::generate(&mut rng, &mut out, args.events),
        "iot" => iot::generate(&mut rng, &mut out, args.events),
        other => return Err(GenerateError::UnknownPack(other.to_string())),
    }
    out.write(&args.out).map_err(|source| GenerateError::Io {
        path: args.out.clone(),
        source,
    })
}
