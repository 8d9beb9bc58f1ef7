//! What each fuzz target checks on one input. A check returns when eddy
//! handled the input as it promises (an error is a fine answer to garbage)
//! and panics when it did not. The fuzz targets call these; the workspace's
//! tests run them over every input kept in `regressions/<target>/`.
//!
//! No dependency beyond eddy's own crates, arrow, serde and xxhash,
//! so that the workspace tests can include this file as a module.

use std::path::Path;

use arrow_array::RecordBatch;
use dsl::plan::{DataType, Field, Program, StreamPlan};
use runtime::checkpoint::Checkpoint;
use runtime::config::Config;
use runtime::decode::StreamDecoder;
use runtime::pipeline::Pipeline;
use runtime::source::stamp::with_time_field;
use runtime::source::{Chunk, LineReader};

/// Rule text through the lexer, parser and checker. A rule set the checker
/// accepts must build and run: `eddy check` passing means `eddy run`
/// cannot fail on the rules.
pub fn rules(data: &[u8]) {
    let sources = [dsl::Source {
        name: "fuzz.eddy".into(),
        text: String::from_utf8_lossy(data).into_owned(),
    }];
    let (program, diagnostics) = dsl::compile(&sources);
    for diagnostic in &diagnostics {
        dsl::render(diagnostic, &sources);
    }
    if let Some(program) = program {
        run_on_synthetic_events(&program);
    }
}

/// Bytes as the line reader and the decoder of each stream shape see them:
/// every line is an event or a rejection, an accepted line is UTF-8 JSON,
/// and nothing panics.
pub fn lines(data: &[u8]) {
    let program = compile(
        "stream nested ( ts timestamp, s string, i int, f float, b bool, n string?, \
           r ( x int, y ( z string? ) ), t timestamp? ) time ts lateness 5s\n\
         stream flat ( ts timestamp, s string?, i int?, f float?, b bool? ) time ts\n\
         rule a from nested emit a { s }\n\
         rule b from flat emit b { s }\n",
    );
    let mut decoders: Vec<StreamDecoder> = program
        .input_streams()
        .map(|(_, stream)| StreamDecoder::new(stream).expect("a decoder for a checked stream"))
        .collect();
    let mut reader = LineReader::new(data, "fuzz", 4096).max_chunk_bytes(1 << 14);
    while let Ok(Some(chunk)) = reader.next_chunk(64) {
        for decoder in &mut decoders {
            check_decoded(decoder, &chunk);
        }
    }
}

/// Kafka messages (a timestamp flag and 8 bytes of timestamp, then the
/// payload; messages separated by newlines) as a stream timed by Kafka
/// reads them: stamped, then decoded. Stamping must not hide what the
/// decoder would refuse: a payload with a key named twice is refused.
pub fn messages(data: &[u8]) {
    let program = compile(
        "stream clicks ( ts timestamp, url string, n int? ) time ts\n\
         rule r from clicks emit r { url }\n",
    );
    let stream = &program.catalog.streams[0];
    let mut decoder = StreamDecoder::new(stream).expect("a decoder for a checked stream");
    let mut chunk = Chunk::default();
    for (number, message) in data.split(|&b| b == b'\n').enumerate() {
        let (timestamp, payload) = match message {
            [flag, time @ ..] if *flag & 1 == 1 && time.len() >= 8 => {
                let (time, payload) = time.split_at(8);
                let time = i64::from_le_bytes(time.try_into().expect("8 bytes"));
                (Some(time), payload)
            }
            [_, payload @ ..] => (None, payload),
            [] => continue,
        };
        let stamped = timestamp.and_then(|time| with_time_field(payload, &stream.time_field, time));
        if let Some(stamped) = &stamped {
            if let Ok(text) = std::str::from_utf8(stamped) {
                let original_keys = top_level_keys(payload);
                let stamped_keys = top_level_keys(text.as_bytes());
                let others = |keys: &[String]| -> Vec<String> {
                    keys.iter().filter(|k| *k != "ts").cloned().collect()
                };
                assert_eq!(
                    others(&original_keys),
                    others(&stamped_keys),
                    "stamping changed the other members of {text}"
                );
            }
        }
        chunk.push_line(number as i64 + 1, stamped.as_deref().unwrap_or(payload));
    }
    check_decoded(&mut decoder, &chunk);
}

/// A checkpoint file, its checksum fixed up so the fuzzer gets past it,
/// read and restored into the fraud pack's pipeline, which then runs.
pub fn checkpoint(data: &[u8]) {
    let mut bytes = data.to_vec();
    if bytes.len() >= 20 {
        let checksum = xxhash_rust::xxh3::xxh3_64(&bytes[20..]);
        bytes[12..20].copy_from_slice(&checksum.to_le_bytes());
    }
    let Ok(checkpoint) = Checkpoint::decode(Path::new("fuzz.ckpt"), &bytes) else {
        return;
    };
    let program = fraud_program();
    let mut pipeline = input_pipeline(&program);
    if pipeline.restore(&checkpoint.operators).is_ok() {
        // Restored state passed every check: running on must not panic
        // (an error is still a fine answer to a forged checkpoint).
        let _ = feed_synthetic_events(&program, &mut pipeline);
    }
}

/// A job config file's text.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = Config::parse(&text, "fuzz.toml") {
        let _ = config.with_env(std::iter::empty());
    }
}

/// The checkpoint of the fraud pack's pipeline after some synthetic
/// events: the seed of the `checkpoint` target.
pub fn checkpoint_seed() -> Vec<u8> {
    let program = fraud_program();
    let mut pipeline = input_pipeline(&program);
    let mut checkpoint = Checkpoint::new(1, runtime::checkpoint::RulesetFingerprint::of([""]));
    for (index, stream) in program.input_streams() {
        let batch = synthetic_batch(stream, 3);
        pipeline.push(index, &batch).expect("synthetic events run");
    }
    checkpoint.operators = pipeline.snapshot().expect("a snapshot");
    checkpoint.encode()
}

/// The fraud example pack's rules.
pub fn fraud_program() -> Program {
    compile(include_str!("../../../examples/fraud/rules.eddy"))
}

fn compile(text: &str) -> Program {
    let sources = [dsl::Source {
        name: "fixed.eddy".into(),
        text: text.into(),
    }];
    dsl::compile(&sources).0.expect("the fixed rules compile")
}

fn input_pipeline(program: &Program) -> Pipeline {
    let inputs: Vec<&str> = program
        .input_streams()
        .map(|(_, s)| s.name.as_str())
        .collect();
    Pipeline::build(program, &inputs).expect("a checked program builds its pipeline")
}

/// Builds the pipeline of `program` and runs it to the end over a few
/// synthetic events of each input stream: none of it may fail.
fn run_on_synthetic_events(program: &Program) {
    let mut pipeline = input_pipeline(program);
    if let Err(error) = feed_synthetic_events(program, &mut pipeline) {
        panic!("a checked program failed at run time: {error}");
    }
}

fn feed_synthetic_events(program: &Program, pipeline: &mut Pipeline) -> Result<(), String> {
    for (index, stream) in program.input_streams() {
        let batch = synthetic_batch(stream, 4);
        pipeline.push(index, &batch).map_err(|e| e.to_string())?;
    }
    pipeline.finish().map(drop).map_err(|e| e.to_string())
}

/// `count` valid events of `stream`, decoded as a source would.
fn synthetic_batch(stream: &StreamPlan, count: usize) -> RecordBatch {
    let mut decoder = StreamDecoder::new(stream).expect("a decoder for a checked stream");
    let mut chunk = Chunk::default();
    for row in 0..count {
        let line = object(&stream.fields, row);
        chunk.push_line(row as i64 + 1, line.as_bytes());
    }
    let decoded = decoder.decode(&chunk).expect("decoding synthetic events");
    assert!(
        decoded.rejects.is_empty(),
        "synthetic events refused: {:?}",
        decoded.rejects
    );
    decoded.batch
}

/// A JSON object with a value of the right type for every field; values
/// repeat every few rows so that keys meet and patterns can complete.
fn object(fields: &[Field], row: usize) -> String {
    let members: Vec<String> = fields
        .iter()
        .map(|field| {
            let value = if field.nullable && row % 4 == 3 {
                "null".to_string()
            } else {
                value(&field.ty, row)
            };
            format!("{}:{value}", json_string(&field.name))
        })
        .collect();
    format!("{{{}}}", members.join(","))
}

fn value(ty: &DataType, row: usize) -> String {
    match ty {
        DataType::String => json_string(["a", "b", "EUR", "login_failed"][row % 4]),
        DataType::Int => ((row % 3) as i64 * 1000 - 1).to_string(),
        DataType::Float => format!("{}.5", row * 7000),
        DataType::Bool => row.is_multiple_of(2).to_string(),
        DataType::Timestamp => (1_700_000_000_000 + row as i64 * 1000).to_string(),
        DataType::Record(fields) => object(fields, row),
        DataType::Null => "null".to_string(),
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Decodes `chunk` and checks that every line is accounted for once and
/// that only UTF-8 JSON is accepted.
fn check_decoded(decoder: &mut StreamDecoder, chunk: &Chunk) {
    let decoded = decoder
        .decode(chunk)
        .expect("bad lines are rejections, not errors");
    assert_eq!(
        decoded.batch.num_rows() + decoded.rejects.len(),
        chunk.lines.len() + chunk.oversize.len(),
        "every line is an event or a rejection"
    );
    assert_eq!(decoded.chunk_lines.len(), decoded.batch.num_rows());
    assert!(decoded.chunk_lines.windows(2).all(|w| w[0] < w[1]));
    for &line in &decoded.chunk_lines {
        let bytes = chunk.line_bytes(line);
        let text = std::str::from_utf8(bytes).expect("an accepted line is UTF-8");
        assert!(
            !has_duplicate_keys(text.as_bytes()),
            "an accepted line names a key twice: {text}"
        );
    }
}

/// The keys of a JSON object's top level, in order (empty if it is not a
/// UTF-8 JSON object). Validity is the grammar's: a number too large for a
/// float is still JSON (found by the `messages` target, where a
/// `serde_json::Value` check refused what the stamping rightly accepted).
fn top_level_keys(json: &[u8]) -> Vec<String> {
    let text = json.trim_ascii();
    if std::str::from_utf8(text).is_err()
        || serde_json::from_slice::<serde::de::IgnoredAny>(text).is_err()
    {
        return Vec::new();
    }
    runtime::decode::members::top_level_members(text)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(key, _)| serde_json::from_slice::<String>(key).ok())
        .collect()
}

fn has_duplicate_keys(json: &[u8]) -> bool {
    let mut keys = top_level_keys(json);
    let count = keys.len();
    keys.sort();
    keys.dedup();
    keys.len() != count
}
