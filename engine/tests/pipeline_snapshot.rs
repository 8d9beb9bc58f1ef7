//! Checkpointing the pipeline: a run that at seeded points snapshots its
//! pipeline, builds a fresh one of the same program, restores it and goes on
//! gives exactly the derived events (ids, data, order) of a run that never
//! stopped; and a snapshot that does not fit is refused with an error.
//!
//! Runs are driven like the file runner drives them (the next chunk comes
//! from the unfinished input with the lowest watermark), or like a source
//! with partitions that reports its progress coarsely (to the minute), which
//! puts the watermark exactly on window ends: the only time derived events
//! wait in the output buffer, since a derived event is never later than the
//! watermark that released it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::RecordBatch;
use dsl::plan::*;
use engine::checkpoint::OperatorState;
use engine::decode::StreamDecoder;
use engine::pipeline::{OutputEvent, Pipeline, PipelineError, PIPELINE_STATE_ENTRY};
use engine::sink::CloudEventEncoder;
use engine::source::{LineReader, DEFAULT_MAX_LINE_BYTES};
use engine::time::SourceProgress;
use operators::Operator;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

mod pipeline_fakes;
use pipeline_fakes::*;

// ---------------------------------------------------------------- the driver

/// The input of one stream, cut into chunks.
struct Feed {
    /// Catalog index of the stream.
    stream: usize,
    time_field: String,
    lateness: Millis,
    chunks: Vec<RecordBatch>,
}

/// How the input clocks move.
#[derive(Debug, Clone, Copy)]
enum Clocks {
    /// On the streams' own events, as for files.
    OwnEvents,
    /// Driven by a source that reports its progress rounded down to `grain`
    /// (the watermark lands on multiples of it).
    CoarseProgress { grain: Millis },
}

/// What the pipeline showed after one step of a run, besides its output.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    /// Events waiting in the reorder buffer and derived events waiting for output.
    reorder: usize,
    output: usize,
    /// Per feed: the stream's watermark; then the global one.
    watermarks: Vec<Option<Millis>>,
    global_watermark: Millis,
    /// (row, time, watermark) of the events refused as late.
    late: Vec<(usize, Millis, engine::time::Untimely)>,
}

impl Step {
    fn both_buffers_busy(&self) -> bool {
        self.reorder > 0 && self.output > 0
    }
}

struct RunResult {
    output: Vec<Derived>,
    steps: Vec<Step>,
}

/// A derived event, comparable.
#[derive(Debug, PartialEq)]
struct Derived {
    rule: usize,
    /// As the sink writes it: id, rule, time, emitted data, evidence.
    line: String,
    /// Every column of its row, the hidden ones included.
    row: String,
}

fn describe(encoder: &CloudEventEncoder, event: &OutputEvent) -> Derived {
    let mut line = Vec::new();
    encoder.encode(event, &mut line);
    Derived {
        rule: event.rule,
        line: String::from_utf8(line).unwrap(),
        row: format!("{:?}", event.batch.slice(event.row, 1).columns()),
    }
}

/// Runs `feeds` through pipelines made by `build`; after each step listed in
/// `cuts` the pipeline is snapshotted and replaced by a fresh one restored
/// from the snapshot.
fn run(
    build: &dyn Fn() -> Pipeline,
    encoder: &CloudEventEncoder,
    feeds: &[Feed],
    clocks: Clocks,
    cuts: &BTreeSet<usize>,
) -> RunResult {
    let mut pipeline = build();
    let mut output = Vec::new();
    let mut steps = Vec::new();
    let mut positions = vec![0usize; feeds.len()];
    let mut finished = vec![false; feeds.len()];
    let mut newest = vec![Millis::MIN; feeds.len()];
    while let Some(next) = next_feed(&pipeline, feeds, &finished) {
        let feed = &feeds[next];
        let progress = match feed.chunks.get(positions[next]) {
            Some(chunk) => {
                positions[next] += 1;
                let mut progress = pipeline.push(feed.stream, chunk).unwrap();
                if let Clocks::CoarseProgress { grain } = clocks {
                    newest[next] = newest[next].max(max_time(chunk, &feed.time_field));
                    if newest[next] > Millis::MIN {
                        let watermark = (newest[next] - feed.lateness).div_euclid(grain) * grain;
                        let driven = SourceProgress::At(watermark + feed.lateness);
                        let driven = pipeline.drive_stream(feed.stream, driven).unwrap();
                        progress.ready.extend(driven.ready);
                    }
                }
                progress
            }
            None => {
                finished[next] = true;
                pipeline.finish_stream(feed.stream).unwrap()
            }
        };
        output.extend(progress.ready.iter().map(|e| describe(encoder, e)));
        steps.push(Step {
            reorder: pipeline.buffered_events(),
            output: pipeline.waiting_output(),
            watermarks: feeds
                .iter()
                .map(|f| pipeline.stream_watermark(f.stream))
                .collect(),
            global_watermark: pipeline.global_watermark(),
            late: progress
                .untimely
                .iter()
                .map(|l| (l.row, l.time, l.kind))
                .collect(),
        });
        if cuts.contains(&(steps.len() - 1)) {
            let states = pipeline.snapshot().unwrap();
            pipeline = build();
            pipeline.restore(&states).unwrap();
        }
    }
    let rest = pipeline.finish().unwrap();
    output.extend(rest.iter().map(|e| describe(encoder, e)));
    RunResult { output, steps }
}

/// The unfinished feed whose stream has the lowest watermark (ties: the
/// first declared), as the file runner picks its next input.
fn next_feed(pipeline: &Pipeline, feeds: &[Feed], finished: &[bool]) -> Option<usize> {
    (0..feeds.len()).filter(|&i| !finished[i]).min_by_key(|&i| {
        let stream = feeds[i].stream;
        (
            pipeline.stream_watermark(stream).unwrap_or(Millis::MIN),
            stream,
        )
    })
}

fn max_time(batch: &RecordBatch, time_field: &str) -> Millis {
    batch
        .column_by_name(time_field)
        .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
        .and_then(|times| times.values().iter().copied().max())
        .unwrap_or(Millis::MIN)
}

/// Seeded cut points among the steps of `reference`: half of them where
/// both buffers hold something (if there are such steps), half anywhere.
fn choose_cuts(reference: &RunResult, seed: u64) -> BTreeSet<usize> {
    const CUTS: usize = 6;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut busy: Vec<usize> = (0..reference.steps.len())
        .filter(|&i| reference.steps[i].both_buffers_busy())
        .collect();
    busy.shuffle(&mut rng);
    let mut cuts: BTreeSet<usize> = busy.into_iter().take(CUTS / 2).collect();
    while cuts.len() < CUTS.min(reference.steps.len()) {
        cuts.insert(rng.random_range(0..reference.steps.len()));
    }
    cuts
}

/// What [`assert_cuts_change_nothing`] saw.
struct Checked {
    /// The uninterrupted run's derived events.
    output: Vec<Derived>,
    /// Cuts taken while both buffers held something.
    busy_cuts: usize,
    /// Events refused as late in the uninterrupted run.
    late: usize,
}

/// The uninterrupted run against runs cut at seeded points: the same
/// derived events, and the same watermarks, buffers and late events after
/// every step.
fn assert_cuts_change_nothing(
    what: &str,
    build: &dyn Fn() -> Pipeline,
    encoder: &CloudEventEncoder,
    feeds: &[Feed],
    clocks: Clocks,
) -> Checked {
    let mut busy_cuts = 0;
    let reference = run(build, encoder, feeds, clocks, &BTreeSet::new());
    assert!(
        !reference.output.is_empty(),
        "{what}: no derived events at all"
    );
    for seed in [1, 2] {
        let cuts = choose_cuts(&reference, seed);
        assert!(
            cuts.len() >= 5,
            "{what}: only {} steps",
            reference.steps.len()
        );
        let cut = run(build, encoder, feeds, clocks, &cuts);
        let at_cuts: Vec<&Step> = cuts.iter().map(|&i| &cut.steps[i]).collect();
        assert!(
            at_cuts.iter().any(|step| step.reorder > 0),
            "{what}, seed {seed}: no cut with events waiting to be reordered: {at_cuts:?}"
        );
        busy_cuts += at_cuts.iter().filter(|s| s.both_buffers_busy()).count();
        let context = format!("{what}, seed {seed}, cuts {cuts:?}");
        assert_same(&context, "derived event", &reference.output, &cut.output);
        assert_same(&context, "step", &reference.steps, &cut.steps);
    }
    Checked {
        late: reference.steps.iter().map(|s| s.late.len()).sum(),
        output: reference.output,
        busy_cuts,
    }
}

/// Names the first difference rather than printing both sequences.
fn assert_same<T: PartialEq + std::fmt::Debug>(context: &str, item: &str, want: &[T], got: &[T]) {
    if let Some(i) = (0..want.len().max(got.len())).find(|&i| want.get(i) != got.get(i)) {
        panic!(
            "{context}: {item} {i} of {} differs ({} after the cuts):\n  uninterrupted {:?}\n  cut           {:?}",
            want.len(),
            got.len(),
            want.get(i),
            got.get(i)
        );
    }
}

// ---------------------------------------------------------------- rule text and JSON lines

fn compile(text: &str) -> Program {
    let (program, diagnostics) = dsl::compile(&[dsl::Source {
        name: "rules.eddy".into(),
        text: text.into(),
    }]);
    program.unwrap_or_else(|| panic!("rules do not compile: {diagnostics:?}"))
}

/// Decodes JSON lines of stream `name` in chunks of `chunk` lines, as the
/// file runner does (rejected lines simply drop out).
fn decode(program: &Program, name: &str, text: &[u8], chunk: usize) -> Feed {
    let stream = program.catalog.stream_index(name).unwrap();
    let plan = &program.catalog.streams[stream];
    let mut decoder = StreamDecoder::new(plan).unwrap();
    let mut lines = LineReader::new(Cursor::new(text.to_vec()), name, DEFAULT_MAX_LINE_BYTES);
    let mut chunks = Vec::new();
    while let Some(lines) = lines.next_chunk(chunk).unwrap() {
        chunks.push(decoder.decode(&lines).unwrap().batch);
    }
    Feed {
        stream,
        time_field: plan.time_field.clone(),
        lateness: plan.lateness,
        chunks,
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An example pack: its rules and, per input stream, its JSON lines.
struct Pack {
    name: String,
    program: Program,
    inputs: Vec<(String, Vec<u8>)>,
}

fn packs() -> Vec<Pack> {
    let mut packs = Vec::new();
    for name in ["fraud", "iot", "security"] {
        let dir = repo_root().join("examples").join(name);
        let program = compile(&fs::read_to_string(dir.join("rules.eddy")).unwrap());
        let mut inputs: Vec<(String, Vec<u8>)> = fs::read_dir(dir.join("data"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .map(|p| {
                let stream = p.file_stem().unwrap().to_string_lossy().into_owned();
                (stream, fs::read(&p).unwrap())
            })
            .collect();
        inputs.sort();
        packs.push(Pack {
            name: name.to_string(),
            program,
            inputs,
        });
    }
    packs
}

// ---------------------------------------------------------------- the example packs

#[test]
fn example_packs_resume_exactly_after_restores() {
    for Pack {
        name,
        program,
        inputs,
    } in packs()
    {
        let stream_names: Vec<&str> = inputs.iter().map(|(s, _)| s.as_str()).collect();
        let build = || Pipeline::build(&program, &stream_names).unwrap();
        let encoder = CloudEventEncoder::new(&program);
        let expected =
            fs::read_to_string(repo_root().join(format!("examples/{name}/expected/derived.jsonl")))
                .unwrap();
        let mut busy_cuts = 0;
        for chunk in [5, 64, 700] {
            let feeds: Vec<Feed> = inputs
                .iter()
                .map(|(stream, text)| decode(&program, stream, text, chunk))
                .collect();
            let what = format!("{name}, chunks of {chunk}, clocks on their own events");
            let checked =
                assert_cuts_change_nothing(&what, &build, &encoder, &feeds, Clocks::OwnEvents);
            busy_cuts += checked.busy_cuts;
            // The driver runs the pack as `eddy run` does.
            let lines: String = checked.output.iter().map(|d| d.line.as_str()).collect();
            assert!(lines == expected, "{what}: not the golden output");

            let what = format!("{name}, chunks of {chunk}, clocks driven to the minute");
            let clocks = Clocks::CoarseProgress { grain: 60_000 };
            busy_cuts +=
                assert_cuts_change_nothing(&what, &build, &encoder, &feeds, clocks).busy_cuts;
        }
        assert!(
            busy_cuts > 0,
            "{name}: no cut with events waiting in both buffers"
        );
    }
}

// ---------------------------------------------------------------- simple rules

const SIMPLE_RULES: &str = r#"
stream readings (
    ts           timestamp,
    device_id    string,
    temperature  float
) time ts lateness 30s

stream requests (
    ts       timestamp,
    service  string,
    status   int
) time ts lateness 5s

rule hot
  from readings
  where temperature > 60
  emit hot { device_id, temperature }
  suppress 2m

rule failed
  from requests
  where status >= 500
  emit failed { service, status }
  suppress 30s

rule very_hot
  from hot
  where temperature > 80
  emit very_hot { device_id }
"#;

/// JSON lines of `readings` and `requests`: arrival order within the
/// lateness of event-time order but for a few late events, times on a
/// 100 ms grid so that ties occur.
fn simple_inputs(seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let start: Millis = 1_767_254_400_000;
    let mut readings = Vec::new();
    for i in 0..600 {
        let time = start + i * 2_000 + rng.random_range(0..300) * 100;
        let line = format!(
            r#"{{"ts":{time},"device_id":"d{}","temperature":{}}}"#,
            rng.random_range(0..4),
            rng.random_range(0..100)
        );
        // One in 25 arrives after its lateness: late, refused.
        let delay = if rng.random_range(0..25) == 0 {
            60_000
        } else {
            rng.random_range(0..29_000)
        };
        readings.push((time + delay, line));
    }
    let mut requests = Vec::new();
    for i in 0..900 {
        let time = start + i * 1_300 + rng.random_range(0..40) * 100;
        let line = format!(
            r#"{{"ts":{time},"service":"s{}","status":{}}}"#,
            rng.random_range(0..3),
            [200, 200, 404, 500, 503][rng.random_range(0..5)]
        );
        let delay = if rng.random_range(0..25) == 0 {
            20_000
        } else {
            rng.random_range(0..4_900)
        };
        requests.push((time + delay, line));
    }
    [("readings", readings), ("requests", requests)]
        .into_iter()
        .map(|(name, mut lines)| {
            lines.sort_by_key(|(arrival, _)| *arrival);
            let text: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
            (name.to_string(), text.into_bytes())
        })
        .collect()
}

#[test]
fn simple_rules_with_suppression_resume_exactly_after_restores() {
    let program = compile(SIMPLE_RULES);
    let inputs = simple_inputs(7);
    let build = || Pipeline::build(&program, &["readings", "requests"]).unwrap();
    let encoder = CloudEventEncoder::new(&program);
    for chunk in [1, 9, 120] {
        let feeds: Vec<Feed> = inputs
            .iter()
            .map(|(stream, text)| decode(&program, stream, text, chunk))
            .collect();
        // A filter's derived events are never later than the watermark that
        // released their input, so its output buffer is always empty here.
        for clocks in [Clocks::OwnEvents, Clocks::CoarseProgress { grain: 60_000 }] {
            let what = format!("simple rules, chunks of {chunk}, {clocks:?}");
            let checked = assert_cuts_change_nothing(&what, &build, &encoder, &feeds, clocks);
            assert!(checked.late > 0, "{what}: no late event");
        }
    }
}

/// Streams `a` and `b` (lateness 3 s), rule 0 echoes `a`, rule 1 counts
/// `a` and `b` in 10 s windows, rule 2 echoes rule 0's events.
fn fake_program() -> Program {
    Program {
        catalog: Catalog {
            streams: vec![
                input_stream("a", 3_000),
                input_stream("b", 3_000),
                derived_stream("echo_a", 0),
                derived_stream("counts", 1),
                derived_stream("echo_echo", 2),
            ],
        },
        rules: vec![
            rule("echo", simple("a"), "echo_a"),
            rule("count", reads(&["a", "b"]), "counts"),
            rule("echo_again", simple("echo_a"), "echo_echo"),
        ],
    }
}

fn fake_pipeline(program: &Program, inputs: &[&str]) -> Result<Pipeline, PipelineError> {
    let time_fields: BTreeMap<String, String> = [("a", "ts"), ("b", "ts"), ("echo_a", "time")]
        .into_iter()
        .map(|(s, f)| (s.to_string(), f.to_string()))
        .collect();
    let echo = |rule: usize, name: &str| -> Box<dyn Operator> {
        Box::new(Echo {
            rule,
            name: name.into(),
            time_fields: time_fields.clone(),
            sequence: 0,
            log: None,
        })
    };
    let tumbling = Box::new(Tumbling {
        rule: 1,
        name: "count".into(),
        size: 10_000,
        time_fields: time_fields.clone(),
        open: BTreeMap::new(),
        sequence: 0,
        last_time: Millis::MIN,
    });
    Pipeline::with_operators(
        program,
        vec![echo(0, "echo"), tumbling, echo(2, "echo_again")],
        inputs,
    )
}

/// Streams `a` and `b` of the fake program, in chunks of `chunk`: events on
/// a 1 s grid (so the watermark lands on window ends), arriving up to the
/// lateness out of order but for a few late ones, some sharing a time.
fn fake_feeds(seed: u64, chunk: usize) -> Vec<Feed> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..2)
        .map(|stream| {
            let mut events: Vec<(Millis, Millis, i64)> = (0..400)
                .map(|offset| {
                    let time = (offset / 2 + rng.random_range(0..3)) * 1_000;
                    // One in 20 arrives after its lateness: late, refused.
                    let delay = if rng.random_range(0..20) == 0 {
                        8
                    } else {
                        rng.random_range(0..4)
                    };
                    let arrival = time + delay * 1_000;
                    (arrival, time, offset)
                })
                .collect();
            events.sort();
            let rows: Vec<(Millis, i64)> = events.iter().map(|e| (e.1, e.2)).collect();
            Feed {
                stream,
                time_field: "ts".into(),
                lateness: 3_000,
                chunks: rows.chunks(chunk).map(batch).collect(),
            }
        })
        .collect()
}

#[test]
fn fake_operators_resume_exactly_after_restores() {
    let program = fake_program();
    let build = || fake_pipeline(&program, &["a", "b"]).unwrap();
    let encoder = CloudEventEncoder::new(&program);
    let mut busy_cuts = 0;
    for chunk in [1, 6, 50] {
        for clocks in [Clocks::OwnEvents, Clocks::CoarseProgress { grain: 5_000 }] {
            let what = format!("fake operators, chunks of {chunk}, {clocks:?}");
            let feeds = fake_feeds(3, chunk);
            let checked = assert_cuts_change_nothing(&what, &build, &encoder, &feeds, clocks);
            assert!(checked.late > 0, "{what}: no late event");
            busy_cuts += checked.busy_cuts;
        }
    }
    assert!(busy_cuts > 0, "no cut with events waiting in both buffers");
}

// ---------------------------------------------------------------- refusals

/// A fake pipeline run part way, with events waiting in both buffers.
fn busy_fake_pipeline() -> Pipeline {
    let program = fake_program();
    let mut pipeline = fake_pipeline(&program, &["a", "b"]).unwrap();
    // Both watermarks at 10 s: the window [0 s, 10 s) fires at 10 s, which
    // is not before the watermark, so its event waits for output.
    pipeline
        .push(0, &batch(&[(1_000, 1), (13_000, 2)]))
        .unwrap();
    pipeline
        .push(1, &batch(&[(13_000, 1), (11_000, 2)]))
        .unwrap();
    assert!(pipeline.buffered_events() > 0);
    assert!(pipeline.waiting_output() > 0);
    pipeline
}

fn restore_fresh(states: &[OperatorState]) -> Result<(), PipelineError> {
    fake_pipeline(&fake_program(), &["a", "b"])
        .unwrap()
        .restore(states)
}

#[test]
fn the_snapshot_names_every_rule_and_the_pipeline() {
    let states = busy_fake_pipeline().snapshot().unwrap();
    let names: Vec<&str> = states.iter().map(|s| s.rule.as_str()).collect();
    assert_eq!(names, ["echo", "count", "echo_again", PIPELINE_STATE_ENTRY]);
    restore_fresh(&states).unwrap();
}

#[test]
fn missing_unknown_and_repeated_entries_are_refused_by_name() {
    let states = busy_fake_pipeline().snapshot().unwrap();

    for missing in ["count", PIPELINE_STATE_ENTRY] {
        let fewer: Vec<OperatorState> = states
            .iter()
            .filter(|s| s.rule != missing)
            .cloned()
            .collect();
        match restore_fresh(&fewer) {
            Err(PipelineError::StateMissing(name)) => assert_eq!(name, missing),
            other => panic!("without `{missing}`: {other:?}"),
        }
    }

    let mut more = states.clone();
    more.push(OperatorState {
        rule: "stranger".into(),
        state: states[0].state.clone(),
    });
    match restore_fresh(&more) {
        Err(PipelineError::StateUnknown(name)) => assert_eq!(name, "stranger"),
        other => panic!("with an extra entry: {other:?}"),
    }

    let mut twice = states.clone();
    twice.push(states[1].clone());
    match restore_fresh(&twice) {
        Err(PipelineError::StateDuplicate(name)) => assert_eq!(name, "count"),
        other => panic!("with an entry twice: {other:?}"),
    }
}

#[test]
fn state_of_another_program_is_refused() {
    // Other rule names: the entries do not match.
    let simple = compile(SIMPLE_RULES);
    let mut other = Pipeline::build(&simple, &["readings", "requests"]).unwrap();
    let states = busy_fake_pipeline().snapshot().unwrap();
    match other.restore(&states) {
        Err(PipelineError::StateMissing(name)) => assert_eq!(name, "hot"),
        other => panic!("fake state into the simple rules: {other:?}"),
    }

    // The same rules over other inputs: the pipeline's own state does not fit.
    let mut one_input = fake_pipeline(&fake_program(), &["a"]).unwrap();
    match one_input.restore(&states) {
        Err(PipelineError::State { part, source }) => {
            assert_eq!(part, PIPELINE_STATE_ENTRY);
            assert!(source.to_string().contains("`b`"), "{source}");
        }
        other => panic!("two inputs' state into one input: {other:?}"),
    }

    // A catalog with one more stream: the pipeline's own state does not fit.
    let mut program = fake_program();
    program.catalog.streams.push(input_stream("c", 0));
    let mut wider = fake_pipeline(&program, &["a", "b"]).unwrap();
    assert!(matches!(
        wider.restore(&states),
        Err(PipelineError::State { .. })
    ));
}

#[test]
fn garbage_state_is_an_error_not_a_panic() {
    let states = busy_fake_pipeline().snapshot().unwrap();
    let with = |index: usize, bytes: Vec<u8>| -> Vec<OperatorState> {
        let mut changed = states.clone();
        changed[index].state = bytes;
        changed
    };
    let own = states.len() - 1;
    for bytes in [
        Vec::new(),
        b"garbage".to_vec(),
        states[own].state[..states[own].state.len() / 2].to_vec(),
    ] {
        match restore_fresh(&with(own, bytes.clone())) {
            Err(PipelineError::State { part, .. }) => assert_eq!(part, PIPELINE_STATE_ENTRY),
            other => panic!("pipeline state {bytes:?}: {other:?}"),
        }
        match restore_fresh(&with(1, bytes.clone())) {
            Err(PipelineError::State { part, .. }) => assert_eq!(part, "count"),
            other => panic!("operator state {bytes:?}: {other:?}"),
        }
    }
    // Bytes changed at random: refused or, when they still decode, restored
    // into something; never a panic.
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..300 {
        let mut bytes = states[own].state.clone();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..bytes.len());
            bytes[at] = rng.random();
        }
        let _ = restore_fresh(&with(own, bytes));
    }
}
