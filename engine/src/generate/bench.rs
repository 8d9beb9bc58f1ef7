//! The benchmark workload (`eddy generate bench`): one stream `auth` of
//! login and transfer events, one per millisecond, in time order.
//!
//! Each event draws, in this order, a user uniform in `u0..u<U-1>`, a type
//! (`login_failed` 80%, `login_ok` 15%, `transfer` 5%) and an amount uniform
//! in `[1, 5000)` rounded to cents. Lines are written straight to the file
//! (not through the [`super::Recorder`]): the workload has no out-of-order or
//! broken lines, and a million events should not be held in memory.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::recorder::EPOCH_2026;
use super::rng::Rng;

/// Users when `--users` is not given.
pub const DEFAULT_USERS: u64 = 10_000;

/// The event types and their cumulative probabilities.
const TYPES: [(&str, f64); 3] = [
    ("login_failed", 0.80),
    ("login_ok", 0.95),
    ("transfer", 1.0),
];

/// The file name of the one stream, in the output folder.
pub const FILE_NAME: &str = "auth.jsonl";

/// Writes `dir/auth.jsonl` with `events` events over `users` users; returns
/// the stream and the lines written.
pub fn write(
    rng: &mut Rng,
    dir: &Path,
    events: usize,
    users: u64,
) -> io::Result<Vec<(String, usize)>> {
    fs::create_dir_all(dir)?;
    let mut out = BufWriter::with_capacity(1 << 20, File::create(dir.join(FILE_NAME))?);
    let users = users.max(1);
    for i in 0..events {
        write_event(rng, &mut out, EPOCH_2026 + i as i64, users)?;
    }
    out.flush()?;
    Ok(vec![("auth".to_string(), events)])
}

fn write_event(rng: &mut Rng, out: &mut impl Write, ts: i64, users: u64) -> io::Result<()> {
    let user = rng.below(users);
    let draw = rng.unit();
    let kind = TYPES
        .iter()
        .find(|(_, upto)| draw < *upto)
        .map_or("transfer", |(name, _)| name);
    let amount = rng.money(1.0, 5000.0);
    // Two decimals always, so every amount reads as a JSON float.
    writeln!(
        out,
        r#"{{"ts":{ts},"user":"u{user}","type":"{kind}","amount":{amount:.2}}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_documented_shape() {
        let mut rng = Rng::new(1);
        let mut text = Vec::new();
        write_event(&mut rng, &mut text, EPOCH_2026, 10).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(value["ts"], EPOCH_2026);
        assert!(value["user"].as_str().unwrap().starts_with('u'));
        let kind = value["type"].as_str().unwrap();
        assert!(TYPES.iter().any(|(name, _)| *name == kind));
        let amount = value["amount"].as_f64().unwrap();
        assert!((1.0..=5000.0).contains(&amount));
    }
}
