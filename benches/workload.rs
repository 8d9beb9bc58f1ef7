//! The benchmark workload, in memory, for the criterion benches: the rules
//! of `benches/rules/` compiled, and a seeded stream of `auth` events of the
//! shape `eddy generate bench` writes (one event per millisecond, in time
//! order; 80% `login_failed`, 15% `login_ok`, 5% `transfer`; amount uniform
//! in `[1, 5000)` with two decimals).
//!
//! The generator here is a local SplitMix64 rather than the engine's (which
//! is private to `engine::generate`): the benches need the same *shape*, and
//! a fixed seed makes every run measure the same events.

#![allow(dead_code)] // each bench uses a part of it

use arrow_array::RecordBatch;
use dsl::plan::Program;
use engine::decode::StreamDecoder;
use engine::source::{Chunk, LineReader};

/// The seed every bench uses.
pub const SEED: u64 = 0xEDD1;
/// Users in the generated stream: enough keys for the per-key state to
/// matter, few enough that rule P finds matches within its 10 minutes.
pub const USERS: u64 = 1_000;
/// Lines per chunk, as `eddy run` reads them (`RunConfig::new`).
pub const CHUNK_LINES: usize = 8192;
/// The first event's time: 2026-01-01T00:00:00Z in epoch milliseconds.
const START_MS: i64 = 1_767_225_600_000;

/// The rule files, shared with `eddy bench` and `benches/compare.sh`.
const STREAM: &str = include_str!("rules/stream.eddy");
pub const RULE_F: &str = include_str!("rules/f.eddy");
pub const RULE_P: &str = include_str!("rules/p.eddy");
pub const RULE_W: &str = include_str!("rules/w.eddy");

/// Compiles the `auth` stream and one rule file. Panics on a diagnostic:
/// the rule files are part of the repository and must compile.
pub fn program(rule: &str) -> Program {
    let sources = [
        dsl::Source {
            name: "stream.eddy".into(),
            text: STREAM.into(),
        },
        dsl::Source {
            name: "rule.eddy".into(),
            text: rule.into(),
        },
    ];
    let (program, diagnostics) = dsl::compile(&sources);
    match program {
        Some(program) => program,
        None => {
            let text: Vec<String> = diagnostics
                .iter()
                .map(|d| dsl::render(d, &sources))
                .collect();
            panic!("the bench rules do not compile:\n{}", text.join("\n"));
        }
    }
}

/// SplitMix64, the same tiny generator the engine's sample data uses.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `events` JSON lines of the bench workload, each ending in `\n`.
pub fn json_lines(events: usize, seed: u64) -> Vec<u8> {
    use std::io::Write;
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(events * 80);
    for i in 0..events {
        let user = rng.next_u64() % USERS;
        let kind = match rng.unit() {
            d if d < 0.80 => "login_failed",
            d if d < 0.95 => "login_ok",
            _ => "transfer",
        };
        let cents = 100 + rng.next_u64() % (499_900);
        let ts = START_MS + i as i64;
        writeln!(
            out,
            r#"{{"ts":{ts},"user":"u{user}","type":"{kind}","amount":{}.{:02}}}"#,
            cents / 100,
            cents % 100
        )
        .expect("writing to a Vec cannot fail");
    }
    out
}

/// Splits JSON lines into chunks of `CHUNK_LINES`, as the file source does.
pub fn chunks(lines: &[u8]) -> Vec<Chunk> {
    let mut reader = LineReader::new(lines, "bench", usize::MAX);
    let mut chunks = Vec::new();
    while let Some(chunk) = reader
        .next_chunk(CHUNK_LINES)
        .expect("reading from memory cannot fail")
    {
        chunks.push(chunk);
    }
    chunks
}

/// The decoder of the `auth` stream of `program`.
pub fn decoder(program: &Program) -> StreamDecoder {
    let stream = program
        .catalog
        .stream("auth")
        .expect("the bench rules declare `auth`");
    StreamDecoder::new(stream).expect("the auth stream has a decoder")
}

/// `events` events decoded into in-flight batches of `CHUNK_LINES` rows,
/// ready for an operator.
pub fn batches(program: &Program, events: usize) -> Vec<RecordBatch> {
    let mut decoder = decoder(program);
    chunks(&json_lines(events, SEED))
        .iter()
        .map(|chunk| {
            let decoded = decoder.decode(chunk).expect("the bench events decode");
            assert!(decoded.rejects.is_empty(), "the bench events are all valid");
            decoded.batch
        })
        .collect()
}
