//! Limits on operator state: a capped operator keeps at most what its caps
//! allow and counts every time a cap bit; without caps it behaves exactly
//! as before; caps and snapshots go together (limits are configuration,
//! not state, so a restored operator is given them again).

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array,
};
use dsl::plan::{Millis, Program};
use operators::schema::stream_schema;
use operators::{DerivedBatch, LimitHits, Limits, Operator};

const STREAM: &str = r#"
stream ev (
    ts      timestamp,
    k       string,
    letter  string,
    v       int
) time ts lateness 5s
"#;

fn compile(rule: &str) -> Program {
    let source = dsl::Source {
        name: "test.eddy".into(),
        text: format!("{STREAM}\n{rule}"),
    };
    let (program, diagnostics) = dsl::compile(&[source]);
    program.unwrap_or_else(|| panic!("rules compile: {diagnostics:?}\n{rule}"))
}

fn operator(program: &Program) -> Box<dyn Operator> {
    operators::build(0, &program.rules[0], &program.catalog).expect("rule builds")
}

/// One input event of `ev`.
#[derive(Debug, Clone)]
struct Event {
    ts: Millis,
    key: String,
    letter: char,
    v: i64,
}

fn event(ts: Millis, key: &str, letter: char, v: i64) -> Event {
    Event {
        ts,
        key: key.into(),
        letter,
        v,
    }
}

/// One call into an operator.
#[derive(Debug, Clone)]
enum Step {
    Batch(RecordBatch),
    Watermark(Millis),
}

/// `events` as a batch of `ev`; offsets count from `first_offset`.
fn batch(program: &Program, events: &[Event], first_offset: i64) -> RecordBatch {
    let offsets = first_offset..first_offset + events.len() as i64;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from_iter_values(
            events.iter().map(|e| e.ts),
        )),
        Arc::new(StringArray::from_iter_values(
            events.iter().map(|e| e.key.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            events.iter().map(|e| e.letter.to_string()),
        )),
        Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.v))),
        Arc::new(Int64Array::from_iter_values(offsets.clone())),
        Arc::new(UInt64Array::from_iter_values(
            offsets.map(|o| xxhash_rust::xxh3::xxh3_64(&o.to_le_bytes())),
        )),
    ];
    RecordBatch::try_new(
        stream_schema(program.catalog.stream("ev").unwrap()),
        columns,
    )
    .expect("a batch of ev")
}

/// `events` cut into batches of `len`, each followed by a watermark at its
/// last time, then the end of input.
fn steps(program: &Program, events: &[Event], len: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, chunk) in events.chunks(len).enumerate() {
        steps.push(Step::Batch(batch(program, chunk, (i * len) as i64)));
        steps.push(Step::Watermark(chunk[chunk.len() - 1].ts));
    }
    steps.push(Step::Watermark(Millis::MAX));
    steps
}

fn run(op: &mut dyn Operator, steps: &[Step]) -> Vec<DerivedBatch> {
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::Batch(batch) => op.on_batch("ev", batch, &mut out),
            Step::Watermark(w) => op.on_watermark(*w, &mut out),
        }
        .expect("the operator accepts the input");
    }
    out
}

/// Derived batches compared whole: rule, data (offsets and hashes
/// included) and meta (ids, evidence, windows).
fn assert_same_output(got: &[DerivedBatch], want: &[DerivedBatch], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: number of derived batches");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.rule, w.rule, "{what}: batch {i}");
        assert_eq!(g.data, w.data, "{what}: data of batch {i}");
        assert_eq!(g.meta, w.meta, "{what}: meta of batch {i}");
    }
}

/// Column `name` of every derived row, as text (`k`) or numbers.
fn strings(out: &[DerivedBatch], name: &str) -> Vec<String> {
    out.iter()
        .flat_map(|b| {
            let column = b.data.column_by_name(name).expect("emitted column");
            let column = column.as_any().downcast_ref::<StringArray>().unwrap();
            (0..column.len())
                .map(|i| column.value(i).to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn ints(out: &[DerivedBatch], name: &str) -> Vec<i64> {
    out.iter()
        .flat_map(|b| {
            let column = b.data.column_by_name(name).expect("emitted column");
            let column = column.as_any().downcast_ref::<Int64Array>().unwrap();
            column.values().to_vec()
        })
        .collect()
}

/// A fixed-seed xorshift: random inputs, the same every run.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Events over three keys and the letters the rules below read.
fn random_events(seed: u64, count: usize) -> Vec<Event> {
    let mut random = Random(seed);
    let mut ts = 0;
    (0..count)
        .map(|_| {
            ts += random.below(4) as Millis;
            let key = format!("k{}", random.below(3));
            let letter = ['a', 'a', 'a', 'b', 'c', 'x'][random.below(6) as usize];
            event(ts, &key, letter, random.below(3) as i64)
        })
        .collect()
}

/// Pattern rules covering the automaton's sharing modes: shared by place,
/// shared by place and latest events, never shared; and a window rule of
/// each kind.
const RULES: &[&str] = &[
    r#"rule r by k
  pattern a: ev where letter == "a" {2,}
       -> not x: ev where letter == "x"
       -> b: ev where letter == "b"
  within 30ms
  emit r { k, n: count(a), first_a: first(a.v) }"#,
    r#"rule r by k
  pattern a: ev where letter == "a" +
       -> b: ev where letter == "b" and v != a.v
       -> c: ev where letter == "c"
  within 25ms
  emit r { k, n: count(a), vb: b.v }"#,
    r#"rule r by k
  pattern a: ev where letter == "a" {1,3}
       -> b: ev where letter != "a" and v >= max(a.v)
       -> not q: ev where letter == "x"
  within 20ms
  emit r { k, n: count(a), m: max(a.v) }"#,
    r#"rule r from ev by k window 10ms emit w { k, n: count(), total: sum(v) }"#,
    r#"rule r from ev by k window 20ms every 5ms emit w { k, n: count(), total: sum(v) }"#,
    r#"rule r from ev by k window session 6ms emit w { k, n: count(), total: sum(v) }"#,
];

// ---------------------------------------------------------------------------
// Without caps nothing changes.

#[test]
fn without_caps_output_is_identical_to_a_run_without_set_limits() {
    for (i, rule) in RULES.iter().enumerate() {
        let program = compile(rule);
        let steps = steps(&program, &random_events(0x11e0 + i as u64, 400), 7);
        let plain = run(operator(&program).as_mut(), &steps);
        assert!(
            !plain.is_empty(),
            "rule {i} matches, so the comparison means something"
        );

        let mut unlimited = operator(&program);
        unlimited.set_limits(&Limits::default());
        assert_same_output(&run(unlimited.as_mut(), &steps), &plain, "limits None");
        assert_eq!(unlimited.limit_hits(), LimitHits::default());

        // Caps that never bite change nothing either.
        let mut roomy = operator(&program);
        roomy.set_limits(&Limits {
            max_candidates_per_key: Some(10_000),
            max_candidates_per_rule: Some(10_000),
            max_windows_per_rule: Some(10_000),
        });
        assert_same_output(&run(roomy.as_mut(), &steps), &plain, "caps not reached");
        assert_eq!(roomy.limit_hits(), LimitHits::default());
    }
}

// ---------------------------------------------------------------------------
// Pattern rules.

const PAIR: &str = r#"rule r by k
  pattern a: ev where letter == "a" -> b: ev where letter == "b"
  within 1s
  emit r { k, av: a.v }"#;

#[test]
fn a_flooded_key_keeps_its_newest_candidates() {
    let program = compile(PAIR);
    let mut flood: Vec<Event> = (0..100).map(|i| event(i, "k0", 'a', i)).collect();
    flood.push(event(100, "k1", 'a', 1000));
    let mut op = operator(&program);
    op.set_limits(&Limits {
        max_candidates_per_key: Some(5),
        ..Limits::default()
    });
    let out = run(op.as_mut(), &[Step::Batch(batch(&program, &flood, 0))]);
    assert!(out.is_empty());
    let size = op.state_size();
    assert_eq!((size.entries, size.keys), (6, 2), "5 of k0, 1 of k1");
    assert_eq!(
        op.limit_hits(),
        LimitHits {
            candidates_evicted: 95,
            ..LimitHits::default()
        }
    );

    // The earliest started of those left completes: the one started by a95.
    let b = [event(101, "k0", 'b', 0), event(102, "k1", 'b', 0)];
    let out = run(op.as_mut(), &[Step::Batch(batch(&program, &b, 101))]);
    assert_eq!(strings(&out, "k"), ["k0", "k1"]);
    assert_eq!(ints(&out, "av"), [95, 1000]);
    assert_eq!(op.state_size().entries, 0);

    // Uncapped, the first `a` would have been kept and matched.
    let mut uncapped = operator(&program);
    let all: Vec<Event> = flood.iter().chain(&b).cloned().collect();
    let out = run(uncapped.as_mut(), &[Step::Batch(batch(&program, &all, 0))]);
    assert_eq!(ints(&out, "av"), [0, 1000]);
}

#[test]
fn evicting_from_shared_cohorts_keeps_the_newest_candidates_whole() {
    // Every `a` starts a candidate and every older one takes it: the
    // candidates share cohorts, and eviction takes members out of them.
    let program = compile(
        r#"rule r by k
  pattern a: ev where letter == "a" {2,} -> b: ev where letter == "b"
  within 1s
  emit r { k, n: count(a), first_a: first(a.v) }"#,
    );
    let mut events: Vec<Event> = (0..100).map(|i| event(i, "k0", 'a', i)).collect();
    events.push(event(100, "k0", 'b', 0));
    let mut op = operator(&program);
    op.set_limits(&Limits {
        max_candidates_per_key: Some(4),
        ..Limits::default()
    });
    let mut out = run(
        op.as_mut(),
        &[Step::Batch(batch(&program, &events[..100], 0))],
    );
    assert_eq!(op.state_size().entries, 4);
    assert_eq!(op.limit_hits().candidates_evicted, 96);
    out.extend(run(
        op.as_mut(),
        &[Step::Batch(batch(&program, &events[100..], 100))],
    ));
    // The oldest left started at a96 and took every `a` since.
    assert_eq!(ints(&out, "first_a"), [96]);
    assert_eq!(ints(&out, "n"), [4]);
    assert_eq!(op.state_size().entries, 0);
}

#[test]
fn the_rule_cap_refuses_new_candidates_and_lets_open_ones_finish() {
    let program = compile(PAIR);
    let mut op = operator(&program);
    op.set_limits(&Limits {
        max_candidates_per_rule: Some(3),
        ..Limits::default()
    });
    // Keys k0..k4 each start one: k3 and k4 are refused.
    let starts: Vec<Event> = (0..5).map(|i| event(i, &format!("k{i}"), 'a', i)).collect();
    let out = run(op.as_mut(), &[Step::Batch(batch(&program, &starts, 0))]);
    assert!(out.is_empty());
    assert_eq!(op.state_size().entries, 3);
    assert_eq!(
        op.limit_hits(),
        LimitHits {
            candidates_refused: 2,
            ..LimitHits::default()
        }
    );

    // Open candidates go on; a refused key has nothing to complete.
    let more = [
        event(10, "k0", 'a', 10),
        event(11, "k0", 'b', 0),
        event(12, "k4", 'b', 0),
        event(13, "k4", 'a', 13),
        event(14, "k4", 'b', 0),
    ];
    let out = run(op.as_mut(), &[Step::Batch(batch(&program, &more, 5))]);
    // a10 was refused (3 open); k0 completing made room for k4's a13.
    assert_eq!(strings(&out, "k"), ["k0", "k4"]);
    assert_eq!(ints(&out, "av"), [0, 13]);
    assert_eq!(op.limit_hits().candidates_refused, 3);
    assert_eq!(op.state_size().entries, 2, "k1 and k2 still open");
}

#[test]
fn capped_pattern_state_stays_bounded_on_random_input() {
    for (i, rule) in RULES[..3].iter().enumerate() {
        let program = compile(rule);
        let steps = steps(&program, &random_events(0xf100d + i as u64, 600), 5);
        let mut op = operator(&program);
        op.set_limits(&Limits {
            max_candidates_per_key: Some(3),
            max_candidates_per_rule: Some(7),
            ..Limits::default()
        });
        for step in &steps {
            run(op.as_mut(), std::slice::from_ref(step));
            let size = op.state_size();
            assert!(size.entries <= 7, "rule {i}: {size:?}");
            assert!(size.entries <= 3 * size.keys, "rule {i}: {size:?}");
        }
        let hits = op.limit_hits();
        assert!(
            hits.candidates_evicted > 0 && hits.candidates_refused > 0,
            "rule {i}: both caps bit on this input: {hits:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Window rules.

#[test]
fn the_window_cap_refuses_new_windows_and_feeds_open_ones() {
    let program =
        compile(r#"rule r from ev by k window 10ms emit w { k, n: count(), total: sum(v) }"#);
    let mut op = operator(&program);
    op.set_limits(&Limits {
        max_windows_per_rule: Some(2),
        ..Limits::default()
    });
    let events = [
        event(0, "k0", 'a', 1),
        event(1, "k1", 'a', 2),
        event(2, "k2", 'a', 4),
        event(3, "k0", 'a', 8),
        event(4, "k2", 'a', 16),
        // The first windows closed: room again.
        event(10, "k2", 'a', 32),
    ];
    let out = run(
        op.as_mut(),
        &[
            Step::Batch(batch(&program, &events, 0)),
            Step::Watermark(Millis::MAX),
        ],
    );
    assert_eq!(strings(&out, "k"), ["k0", "k1", "k2"]);
    assert_eq!(ints(&out, "total"), [9, 2, 32]);
    assert_eq!(
        op.limit_hits(),
        LimitHits {
            windows_refused: 2,
            ..LimitHits::default()
        }
    );
}

#[test]
fn a_hopping_event_goes_to_the_windows_it_may_open() {
    let program = compile(
        r#"rule r from ev by k window 20ms every 10ms emit w { k, n: count(), total: sum(v) }"#,
    );
    let mut op = operator(&program);
    op.set_limits(&Limits {
        max_windows_per_rule: Some(1),
        ..Limits::default()
    });
    // 15 and 16 belong to [0,20) and [10,30): only [0,20) opens.
    // 25 belongs to [10,30) and [20,40): [0,20) has fired, so [10,30) opens.
    let events = [
        event(15, "k0", 'a', 1),
        event(16, "k0", 'a', 2),
        event(25, "k0", 'a', 4),
    ];
    let out = run(
        op.as_mut(),
        &[
            Step::Batch(batch(&program, &events, 0)),
            Step::Watermark(Millis::MAX),
        ],
    );
    let windows: Vec<_> = out.iter().flat_map(|b| &b.meta).map(|m| m.window).collect();
    assert_eq!(windows, [Some((0, 20)), Some((10, 30))]);
    assert_eq!(ints(&out, "total"), [3, 4]);
    // [10,30) twice (each event of the pane asks again), [20,40) once.
    assert_eq!(op.limit_hits().windows_refused, 3);
}

#[test]
fn a_refused_session_opens_once_room_is_made() {
    let program = compile(
        r#"rule r from ev by k window session 5ms emit w { k, n: count(), total: sum(v) }"#,
    );
    let mut op = operator(&program);
    op.set_limits(&Limits {
        max_windows_per_rule: Some(1),
        ..Limits::default()
    });
    let events = [
        event(0, "k0", 'a', 1),
        event(1, "k1", 'a', 2),
        event(2, "k0", 'a', 4),
        event(3, "k1", 'a', 8),
        // k0's session ended at 7: k1 may open one now.
        event(9, "k1", 'a', 16),
    ];
    let out = run(
        op.as_mut(),
        &[
            Step::Batch(batch(&program, &events, 0)),
            Step::Watermark(Millis::MAX),
        ],
    );
    assert_eq!(strings(&out, "k"), ["k0", "k1"]);
    assert_eq!(ints(&out, "total"), [5, 16]);
    assert_eq!(op.limit_hits().windows_refused, 2);
}

// ---------------------------------------------------------------------------
// Snapshots.

#[test]
fn capped_operators_restore_and_carry_on_like_uninterrupted_ones() {
    let limits = Limits {
        max_candidates_per_key: Some(2),
        max_candidates_per_rule: Some(4),
        max_windows_per_rule: Some(2),
    };
    for (i, rule) in RULES.iter().enumerate() {
        let program = compile(rule);
        let steps = steps(&program, &random_events(0x5a4e + i as u64, 300), 6);
        let capped = || {
            let mut op = operator(&program);
            op.set_limits(&limits);
            op
        };
        let mut whole_op = capped();
        let whole = run(whole_op.as_mut(), &steps);
        assert!(!whole_op.limit_hits().is_empty(), "rule {i}: the caps bite");

        for cut in (1..steps.len()).step_by(7) {
            let mut original = capped();
            let mut out = run(original.as_mut(), &steps[..cut]);
            let bytes = original.snapshot().expect("snapshot");
            let mut restored = capped();
            restored.restore(&bytes).expect("restore");
            assert_eq!(restored.state_size(), original.state_size(), "rule {i}");
            assert_eq!(
                restored.limit_hits(),
                LimitHits::default(),
                "hits are metrics, not state"
            );
            out.extend(run(restored.as_mut(), &steps[cut..]));
            assert_same_output(&out, &whole, &format!("rule {i}, cut at {cut}"));
        }
    }
}
