//! Window operator checkpoints: running to a point, taking a snapshot,
//! restoring it into a freshly built operator and feeding the rest gives
//! exactly the derived batches (data, ids, evidence, offsets) of an
//! uninterrupted run; and so does the operator the snapshot was taken from.

use std::sync::Arc;

use arrow_array::{
    Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array,
};
use dsl::plan::{Millis, Program, RuleKind};
use operators::schema::stream_schema;
use operators::window::WindowOperator;
use operators::{DerivedBatch, Operator};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn compile(text: &str) -> Program {
    let source = dsl::Source {
        name: "test.eddy".into(),
        text: text.into(),
    };
    let (program, diagnostics) = dsl::compile(&[source]);
    program.unwrap_or_else(|| panic!("rules compile: {diagnostics:?}\n{text}"))
}

/// One call into the operator.
#[derive(Debug, Clone)]
enum Step {
    Batch(Arc<RecordBatch>),
    Watermark(Millis),
}

/// Builds the operator of a window rule afresh, as after a restart.
struct Rule<'p> {
    program: &'p Program,
    index: usize,
    stream: String,
}

impl<'p> Rule<'p> {
    fn new(program: &'p Program, index: usize) -> Self {
        let RuleKind::Window(plan) = &program.rules[index].kind else {
            panic!("rule {index} is not a window rule");
        };
        Self {
            program,
            index,
            stream: plan.stream.clone(),
        }
    }

    fn operator(&self) -> WindowOperator {
        WindowOperator::new(
            self.index,
            &self.program.rules[self.index],
            &self.program.catalog,
        )
        .unwrap()
    }

    fn run(&self, op: &mut WindowOperator, steps: &[Step], out: &mut Vec<DerivedBatch>) {
        for step in steps {
            match step {
                Step::Batch(batch) => op.on_batch(&self.stream, batch, out).unwrap(),
                Step::Watermark(w) => op.on_watermark(*w, out).unwrap(),
            }
        }
    }

    /// The derived batches of `steps` run without interruption.
    fn uninterrupted(&self, steps: &[Step]) -> Vec<DerivedBatch> {
        let mut out = Vec::new();
        self.run(&mut self.operator(), steps, &mut out);
        out
    }

    /// Runs `steps`, moving to a freshly built operator restored from a
    /// snapshot before each step in `cuts` (ascending).
    fn restarted_at(&self, steps: &[Step], cuts: &[usize]) -> Vec<DerivedBatch> {
        let mut out = Vec::new();
        let mut op = self.operator();
        let mut done = 0;
        for &cut in cuts {
            self.run(&mut op, &steps[done..cut], &mut out);
            done = cut;
            let bytes = op.snapshot().unwrap();
            let mut restored = self.operator();
            restored.restore(&bytes).unwrap();
            assert_eq!(restored.state_size(), op.state_size());
            op = restored;
        }
        self.run(&mut op, &steps[done..], &mut out);
        out
    }

    /// Runs `steps` on one operator, taking (and dropping) a snapshot
    /// before each step in `cuts`: taking one changes nothing.
    fn snapshotted_at(&self, steps: &[Step], cuts: &[usize]) -> Vec<DerivedBatch> {
        let mut out = Vec::new();
        let mut op = self.operator();
        let mut done = 0;
        for &cut in cuts {
            self.run(&mut op, &steps[done..cut], &mut out);
            done = cut;
            op.snapshot().unwrap();
        }
        self.run(&mut op, &steps[done..], &mut out);
        out
    }
}

/// Derived batches are compared whole: rule, data (offsets and hashes
/// included) and meta (ids, evidence, windows).
fn assert_same_output(got: &[DerivedBatch], want: &[DerivedBatch], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: number of derived batches");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.rule, w.rule, "{what}: batch {i}");
        assert_eq!(g.data, w.data, "{what}: data of batch {i}");
        assert_eq!(g.meta, w.meta, "{what}: meta of batch {i}");
    }
}

// ---- generated rules and inputs ----

const STREAM: &str = "stream ev (ts timestamp, user string?, value int, amount float?) time ts";

/// Every aggregate function, over ints, floats (with nulls) and strings.
const AGGREGATES: &str = "n: count(), present: count(amount), users: count_distinct(user), \
    values: count_distinct(value), total: sum(value), amount_total: sum(amount), \
    mean: avg(amount), mean_value: avg(value), low: min(value), high: max(amount), \
    first_amount: first(amount), last_user: last(user), first_value: first(value), \
    median: percentile(value, 0.5), p95_amount: p95(amount), p99_value: p99(value)";

#[derive(Debug, Clone)]
struct RuleShape {
    window: String,
    by_user: bool,
    having: bool,
    suppress: Option<Millis>,
}

impl RuleShape {
    fn text(&self) -> String {
        let by = if self.by_user { "by user" } else { "" };
        let having = if self.having {
            "having count() >= 2 and max(value) > 3"
        } else {
            ""
        };
        let key_field = if self.by_user { "user, " } else { "" };
        let suppress = self
            .suppress
            .map(|d| format!("suppress {d}ms"))
            .unwrap_or_default();
        format!(
            "{STREAM}\nrule r\n  from ev where value != 7\n  {by}\n  {}\n  {having}\n  \
             emit out {{ {key_field}{AGGREGATES} }}\n  {suppress}\n",
            self.window
        )
    }
}

fn shape_strategy() -> impl Strategy<Value = RuleShape> {
    let window = prop_oneof![
        (1i64..40).prop_map(|size| format!("window {size}ms")),
        (1i64..40)
            .prop_flat_map(|size| (Just(size), 1..=size))
            .prop_map(|(size, slide)| format!("window {size}ms every {slide}ms")),
        (1i64..40).prop_map(|gap| format!("window session {gap}ms")),
    ];
    (
        window,
        any::<bool>(),
        any::<bool>(),
        prop::option::of(1i64..30),
    )
        .prop_map(|(window, by_user, having, suppress)| RuleShape {
            window,
            by_user,
            having,
            suppress,
        })
}

#[derive(Debug, Clone)]
struct Event {
    ts: Millis,
    user: Option<&'static str>,
    value: i64,
    amount: Option<f64>,
}

fn events_strategy() -> impl Strategy<Value = Vec<Event>> {
    let event = (
        0i64..12,
        0usize..4,
        -5i64..20,
        prop::option::weighted(0.8, -8i64..40),
    );
    (-50i64..50, prop::collection::vec(event, 0..80)).prop_map(|(base, raw)| {
        let mut ts = base;
        raw.into_iter()
            .map(|(dt, user, value, quarters)| {
                ts += dt;
                Event {
                    ts,
                    // 3: no user, so no window when keyed by user.
                    user: ["a", "b", "c"].get(user).copied(),
                    value,
                    amount: quarters.map(|q| q as f64 * 0.25),
                }
            })
            .collect()
    })
}

/// `events[first..]` (offsets count from 1 over the whole input) as a batch of `ev`.
fn batch(program: &Program, events: &[Event], first: usize) -> RecordBatch {
    let offsets = (first as i64 + 1)..(first + events.len()) as i64 + 1;
    RecordBatch::try_new(
        stream_schema(program.catalog.stream("ev").unwrap()),
        vec![
            Arc::new(TimestampMillisecondArray::from_iter_values(
                events.iter().map(|e| e.ts),
            )),
            Arc::new(StringArray::from_iter(events.iter().map(|e| e.user))),
            Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.value))),
            Arc::new(Float64Array::from_iter(events.iter().map(|e| e.amount))),
            Arc::new(Int64Array::from_iter_values(offsets.clone())),
            Arc::new(UInt64Array::from_iter_values(
                offsets.map(|o| xxhash_rust::xxh3::xxh3_64(&o.to_le_bytes())),
            )),
        ],
    )
    .unwrap()
}

/// The input cut into batches at `cuts`, each batch followed (when
/// `watermarks`) by a watermark at the next batch's first time, and the
/// final watermark.
fn steps(program: &Program, events: &[Event], cuts: &[usize], watermarks: bool) -> Vec<Step> {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (events.len() + 1)).collect();
    bounds.extend([0, events.len()]);
    bounds.sort();
    bounds.dedup();
    let mut steps = Vec::new();
    for pair in bounds.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        steps.push(Step::Batch(Arc::new(batch(
            program,
            &events[from..to],
            from,
        ))));
        if let (true, Some(next)) = (watermarks, events.get(to)) {
            steps.push(Step::Watermark(next.ts));
        }
    }
    steps.push(Step::Watermark(Millis::MAX));
    steps
}

proptest! {
    #![proptest_config(Config {
        cases: 160,
        rng_seed: RngSeed::Fixed(0x5a4e_ba5e),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn a_restored_operator_continues_exactly_like_an_uninterrupted_one(
        shape in shape_strategy(),
        events in events_strategy(),
        batch_cuts in prop::collection::vec(0usize..100, 0..8),
        watermarks in any::<bool>(),
        restarts in prop::collection::vec(0usize..1000, 1..4),
    ) {
        let program = compile(&shape.text());
        let rule = Rule::new(&program, 0);
        let steps = steps(&program, &events, &batch_cuts, watermarks);
        // Cut points anywhere: before the first step, between a batch and
        // its watermark, after the final watermark.
        let mut cuts: Vec<usize> = restarts.iter().map(|r| r % (steps.len() + 1)).collect();
        cuts.sort();

        let whole = rule.uninterrupted(&steps);
        assert_same_output(&rule.restarted_at(&steps, &cuts), &whole, "restored");
        assert_same_output(&rule.snapshotted_at(&steps, &cuts), &whole, "snapshotted");
    }
}

#[test]
fn every_aggregate_function_survives_a_restore_mid_window() {
    let shape = RuleShape {
        window: "window 100ms".into(),
        by_user: true,
        having: false,
        suppress: None,
    };
    let program = compile(&shape.text());
    let rule = Rule::new(&program, 0);
    let events: Vec<Event> = (0..40)
        .map(|i| Event {
            ts: i * 4,
            user: ["a", "b", "c", "a"].get(i as usize % 4).copied(),
            value: (i * 7) % 23 - 5,
            amount: (i % 5 != 0).then_some(i as f64 * 0.75 - 3.0),
        })
        .collect();
    let steps = steps(&program, &events, &[5, 13, 22, 31], true);
    let whole = rule.uninterrupted(&steps);
    let fired: usize = whole.iter().map(|b| b.meta.len()).sum();
    assert_eq!(fired, 6, "two windows of three users");
    for cut in 0..=steps.len() {
        let what = format!("cut {cut}");
        assert_same_output(&rule.restarted_at(&steps, &[cut]), &whole, &what);
        assert_same_output(&rule.snapshotted_at(&steps, &[cut]), &whole, &what);
    }
}

#[test]
fn evidence_left_out_survives_a_restore() {
    let shape = RuleShape {
        window: "window 1000ms".into(),
        by_user: false,
        having: false,
        suppress: None,
    };
    let program = compile(&shape.text());
    let rule = Rule::new(&program, 0);
    // 50 events in one window: 32 listed, 18 left out, some of them
    // before the restore and some after.
    let events: Vec<Event> = (0..50)
        .map(|i| Event {
            ts: i,
            user: Some("a"),
            value: 1,
            amount: None,
        })
        .collect();
    let steps = steps(&program, &events, &[20, 40], false);
    let whole = rule.uninterrupted(&steps);
    let meta: Vec<_> = whole.iter().flat_map(|b| &b.meta).collect();
    assert_eq!(meta.len(), 1);
    assert_eq!(meta[0].evidence.len(), operators::window::MAX_EVIDENCE);
    assert_eq!(meta[0].evidence_omitted, 18);
    for cut in 0..=steps.len() {
        let what = format!("cut {cut}");
        assert_same_output(&rule.restarted_at(&steps, &[cut]), &whole, &what);
    }
}

// ---- the example packs ----

#[test]
fn window_rules_of_the_example_packs_restore_mid_input() {
    let mut fired = 0;
    for pack in json_events::PACKS {
        let program = json_events::compile_pack(pack);
        for (index, plan) in program.rules.iter().enumerate() {
            let RuleKind::Window(window) = &plan.kind else {
                continue;
            };
            let chunks = json_events::load(pack, &program, &window.stream, 50);
            let rule = Rule::new(&program, index);
            // Batches of 50 events, each followed by a watermark.
            let mut steps = Vec::new();
            for chunk in chunks {
                steps.push(Step::Batch(Arc::new(chunk.batch)));
                steps.push(Step::Watermark(chunk.last_time));
            }
            steps.push(Step::Watermark(Millis::MAX));

            let whole = rule.uninterrupted(&steps);
            fired += whole.iter().map(|b| b.meta.len()).sum::<usize>();
            let middle = steps.len() / 2;
            for cuts in [vec![middle], vec![middle - 1], vec![1, middle, middle + 3]] {
                let what = format!("{pack}/{} cut at {cuts:?}", plan.name);
                assert_same_output(&rule.restarted_at(&steps, &cuts), &whole, &what);
                assert_same_output(&rule.snapshotted_at(&steps, &cuts), &whole, &what);
            }
        }
    }
    assert!(
        fired > 0,
        "the example windows fire, so the comparison means something"
    );
}

// ---- bad snapshots ----

/// A snapshot with open windows, suppression state and every aggregate.
fn busy_snapshot() -> (Program, Vec<u8>) {
    let shape = RuleShape {
        window: "window 50ms every 10ms".into(),
        by_user: true,
        having: true,
        suppress: Some(20),
    };
    let program = compile(&shape.text());
    let events: Vec<Event> = (0..30)
        .map(|i| Event {
            ts: i * 3,
            user: ["a", "b"].get(i as usize % 3).copied(),
            value: i % 9,
            amount: Some(i as f64),
        })
        .collect();
    let rule = Rule::new(&program, 0);
    let mut op = rule.operator();
    let mut out = Vec::new();
    let steps = steps(&program, &events, &[10, 20], true);
    rule.run(&mut op, &steps[..steps.len() - 1], &mut out);
    assert!(op.state_size().entries > 0);
    let bytes = op.snapshot().unwrap();
    (program, bytes)
}

/// Positions in a snapshot of `len` bytes to cut or corrupt: every one
/// near both ends (the envelope's framing, the last table's end), and
/// about 400 spread over the rest (every one would be slow).
fn probe_positions(len: usize) -> impl Iterator<Item = usize> {
    let ends = (0..len.min(64)).chain(len.saturating_sub(64)..len);
    ends.chain((0..len).step_by((len / 400).max(1)))
}

#[test]
fn truncated_snapshots_are_errors() {
    let (program, bytes) = busy_snapshot();
    let rule = Rule::new(&program, 0);
    for len in probe_positions(bytes.len()) {
        let result = rule.operator().restore(&bytes[..len]);
        assert!(result.is_err(), "{len} of {} bytes restored", bytes.len());
    }
    rule.operator().restore(&bytes).unwrap();
}

#[test]
fn garbage_is_an_error_and_corrupted_bytes_never_panic() {
    let (program, bytes) = busy_snapshot();
    let rule = Rule::new(&program, 0);
    for garbage in [
        &b""[..],
        b"\x00",
        b"\xff\xff\xff\xff\xff\xff\xff\xff",
        b"not a snapshot at all",
    ] {
        assert!(rule.operator().restore(garbage).is_err(), "{garbage:?}");
    }
    // A corrupted byte: an error or some state, never a panic (nor an
    // abort on a huge allocation).
    for i in probe_positions(bytes.len()) {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut corrupted = bytes.clone();
            corrupted[i] ^= flip;
            let mut op = rule.operator();
            if op.restore(&corrupted).is_ok() {
                let mut out = Vec::new();
                // What a restored operator does next must not panic either.
                let _ = op.on_watermark(Millis::MAX, &mut out);
            }
        }
    }
}

#[test]
fn state_of_another_rule_shape_is_refused() {
    let (_, bytes) = busy_snapshot();
    let unkeyed = compile(
        &RuleShape {
            window: "window 50ms every 10ms".into(),
            by_user: false,
            having: true,
            suppress: Some(20),
        }
        .text(),
    );
    assert!(Rule::new(&unkeyed, 0).operator().restore(&bytes).is_err());
    let fewer_aggregates = compile(&format!(
        "{STREAM}\nrule r\n  from ev\n  by user\n  window 50ms every 10ms\n  \
         emit out {{ user, n: count() }}\n  suppress 20ms\n"
    ));
    assert!(Rule::new(&fewer_aggregates, 0)
        .operator()
        .restore(&bytes)
        .is_err());
}

/// The example packs' events (examples/PACK/data/STREAM.jsonl) as batches,
/// in event-time order: a small JSON reader is enough for their flat lines.
mod json_events {
    use std::path::PathBuf;

    use arrow_array::{ArrayRef, Int64Array, RecordBatch, UInt64Array};
    use datafusion_common::scalar::ScalarStructBuilder;
    use datafusion_common::ScalarValue;
    use dsl::plan::{DataType, Field, Millis, Program};
    use operators::schema::{arrow_field, arrow_type, stream_schema};

    pub const PACKS: [&str; 3] = ["fraud", "iot", "security"];

    fn pack_dir(pack: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../examples")
            .join(pack)
    }

    pub fn compile_pack(pack: &str) -> Program {
        let path = pack_dir(pack).join("rules.eddy");
        super::compile(&std::fs::read_to_string(path).unwrap())
    }

    /// A batch of events and the time of its last one.
    pub struct Chunk {
        pub batch: RecordBatch,
        pub last_time: Millis,
    }

    /// The events of `stream`, sorted by time (ties in file order), in
    /// batches of `size`. `__offset` is the line number, `__hash` the
    /// line's hash. Lines the engine would dead-letter (bad JSON, types or
    /// timestamps, missing fields) are left out.
    pub fn load(pack: &str, program: &Program, stream: &str, size: usize) -> Vec<Chunk> {
        let plan = program.catalog.stream(stream).unwrap();
        let time_index = plan
            .fields
            .iter()
            .position(|f| f.name == plan.time_field)
            .unwrap();
        let path = pack_dir(pack).join("data").join(format!("{stream}.jsonl"));
        let text = std::fs::read_to_string(&path).unwrap();
        let mut events: Vec<(Millis, i64, u64, Vec<ScalarValue>)> = text
            .lines()
            .enumerate()
            .filter_map(|(i, line)| {
                let values = event(line, &plan.fields)?;
                let ScalarValue::TimestampMillisecond(Some(time), _) = values[time_index] else {
                    return None;
                };
                let hash = xxhash_rust::xxh3::xxh3_64(line.as_bytes());
                Some((time, i as i64 + 1, hash, values))
            })
            .collect();
        assert!(events.len() > 100, "{}: events read", path.display());
        events.sort_by_key(|e| e.0);

        let schema = stream_schema(plan);
        events
            .chunks(size)
            .map(|chunk| {
                let mut columns: Vec<ArrayRef> = (0..plan.fields.len())
                    .map(|c| {
                        ScalarValue::iter_to_array(chunk.iter().map(|e| e.3[c].clone())).unwrap()
                    })
                    .collect();
                columns.push(std::sync::Arc::new(Int64Array::from_iter_values(
                    chunk.iter().map(|e| e.1),
                )));
                columns.push(std::sync::Arc::new(UInt64Array::from_iter_values(
                    chunk.iter().map(|e| e.2),
                )));
                Chunk {
                    batch: RecordBatch::try_new(schema.clone(), columns).unwrap(),
                    last_time: chunk.last().unwrap().0,
                }
            })
            .collect()
    }

    /// One line's values of `fields`; `None` for a line to dead-letter.
    fn event(line: &str, fields: &[Field]) -> Option<Vec<ScalarValue>> {
        let mut parser = Parser::new(line);
        let Json::Object(members) = parser.value()? else {
            return None;
        };
        record(&members, fields)
    }

    fn record(members: &[(String, Json)], fields: &[Field]) -> Option<Vec<ScalarValue>> {
        fields
            .iter()
            .map(|f| {
                let value = members
                    .iter()
                    .find(|(n, _)| *n == f.name)
                    .map_or(&Json::Null, |(_, v)| v);
                match value {
                    Json::Null if !f.nullable => None,
                    value => scalar(value, &f.ty),
                }
            })
            .collect()
    }

    /// `value` as a scalar of `ty`; null values are typed nulls.
    fn scalar(value: &Json, ty: &DataType) -> Option<ScalarValue> {
        Some(match (ty, value) {
            (_, Json::Null) => ScalarValue::try_from(&arrow_type(ty)).ok()?,
            (DataType::String, Json::String(s)) => ScalarValue::Utf8(Some(s.clone())),
            (DataType::Int, Json::Number(n)) if n.fract() == 0.0 => {
                ScalarValue::Int64(Some(*n as i64))
            }
            (DataType::Float, Json::Number(n)) => ScalarValue::Float64(Some(*n)),
            (DataType::Bool, Json::Bool(b)) => ScalarValue::Boolean(Some(*b)),
            (DataType::Timestamp, Json::Number(n)) => {
                ScalarValue::TimestampMillisecond(Some(*n as i64), None)
            }
            (DataType::Timestamp, Json::String(s)) => {
                ScalarValue::TimestampMillisecond(Some(rfc3339_millis(s)?), None)
            }
            (DataType::Record(fields), Json::Object(members)) => fields
                .iter()
                .zip(record(members, fields)?)
                .fold(ScalarStructBuilder::new(), |builder, (f, value)| {
                    builder.with_scalar(arrow_field(f), value)
                })
                .build()
                .ok()?,
            _ => return None,
        })
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fff]Z` as milliseconds since the epoch.
    fn rfc3339_millis(text: &str) -> Option<Millis> {
        let number =
            |range: std::ops::Range<usize>| -> Option<i64> { text.get(range)?.parse().ok() };
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let seconds = number(11..13)? * 3600 + number(14..16)? * 60 + number(17..19)?;
        let fraction = text.get(19..)?.strip_suffix('Z')?.trim_start_matches('.');
        let millis = format!("{fraction:0<3}").get(..3)?.parse::<i64>().ok()?;
        // Days from the civil date (Howard Hinnant's algorithm).
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Some((days * 86_400 + seconds) * 1000 + millis)
    }

    #[derive(Debug)]
    enum Json {
        Null,
        Bool(bool),
        Number(f64),
        String(String),
        Array,
        Object(Vec<(String, Json)>),
    }

    /// Just enough JSON for the example data; `None` on anything malformed.
    struct Parser<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    impl<'a> Parser<'a> {
        fn new(text: &'a str) -> Self {
            Self {
                bytes: text.as_bytes(),
                at: 0,
            }
        }

        fn peek(&mut self) -> Option<u8> {
            while self.bytes.get(self.at)?.is_ascii_whitespace() {
                self.at += 1;
            }
            self.bytes.get(self.at).copied()
        }

        fn next(&mut self) -> Option<u8> {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            Some(byte)
        }

        fn expect(&mut self, byte: u8) -> Option<()> {
            (self.peek()? == byte).then(|| self.at += 1)
        }

        /// Members or elements up to `close`, separated by commas.
        fn sequence(
            &mut self,
            close: u8,
            mut item: impl FnMut(&mut Self) -> Option<()>,
        ) -> Option<()> {
            self.at += 1;
            while self.peek()? != close {
                item(self)?;
                if self.peek()? == b',' {
                    self.at += 1;
                }
            }
            self.at += 1;
            Some(())
        }

        fn value(&mut self) -> Option<Json> {
            Some(match self.peek()? {
                b'{' => {
                    let mut members = Vec::new();
                    self.sequence(b'}', |p| {
                        let name = p.string()?;
                        p.expect(b':')?;
                        members.push((name, p.value()?));
                        Some(())
                    })?;
                    Json::Object(members)
                }
                b'[' => {
                    self.sequence(b']', |p| p.value().map(drop))?;
                    Json::Array
                }
                b'"' => Json::String(self.string()?),
                _ => {
                    let start = self.at;
                    while self
                        .bytes
                        .get(self.at)
                        .is_some_and(|b| !matches!(b, b',' | b'}' | b']'))
                    {
                        self.at += 1;
                    }
                    match std::str::from_utf8(&self.bytes[start..self.at])
                        .ok()?
                        .trim()
                    {
                        "null" => Json::Null,
                        "true" => Json::Bool(true),
                        "false" => Json::Bool(false),
                        number => Json::Number(number.parse().ok()?),
                    }
                }
            })
        }

        fn string(&mut self) -> Option<String> {
            self.expect(b'"')?;
            let mut out = Vec::new();
            loop {
                match self.next()? {
                    b'"' => break,
                    b'\\' => match self.next()? {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = self.bytes.get(self.at..self.at + 4)?;
                            self.at += 4;
                            let code =
                                u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                            let c = char::from_u32(code).unwrap_or('\u{fffd}');
                            out.extend_from_slice(c.to_string().as_bytes());
                        }
                        other => out.push(other),
                    },
                    other => out.push(other),
                }
            }
            String::from_utf8(out).ok()
        }
    }
}
