//! Checkpoints of the pattern operator: running to a cut, snapshotting,
//! restoring into a freshly built operator and feeding the rest gives the
//! same derived batches (data, ids, evidence, order) as one uninterrupted
//! run, and the snapshotted operator itself carries on unchanged. Random
//! inputs use a fixed seed.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow_array::{Float64Array, UInt64Array};
use dsl::plan::{Catalog, Millis, Program, RulePlan};
use dsl::Source;
use operators::derived::DerivedMeta;
use operators::pattern::PatternOperator;
use operators::schema::stream_schema;
use operators::{DerivedBatch, Operator};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config() -> Config {
    Config {
        cases: 256,
        rng_seed: RngSeed::Fixed(0x5eed_c4ec),
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------
// Driving an operator and comparing runs.

/// One call into the operator.
#[derive(Debug, Clone)]
enum Action {
    Batch(String, RecordBatch),
    Watermark(Millis),
}

/// A derived batch in comparable form.
type Emitted = (usize, RecordBatch, Vec<DerivedMeta>);

/// A compiled rule to build operators from.
struct Rule {
    plan: RulePlan,
    catalog: Catalog,
}

impl Rule {
    /// `text` holds streams and rules; the first rule is the one run.
    fn compile(text: &str) -> Self {
        let source = Source {
            name: "test.eddy".into(),
            text: text.into(),
        };
        let (program, diagnostics) = dsl::compile(&[source]);
        let Program {
            mut rules, catalog, ..
        } = program.unwrap_or_else(|| panic!("rules compile: {diagnostics:?}"));
        Self {
            plan: rules.remove(0),
            catalog,
        }
    }

    fn operator(&self) -> PatternOperator {
        PatternOperator::new(0, &self.plan, &self.catalog).expect("pattern compiles")
    }

    fn stream_schema(&self, stream: &str) -> arrow_schema::SchemaRef {
        stream_schema(self.catalog.stream(stream).expect("known stream"))
    }
}

fn run(op: &mut PatternOperator, actions: &[Action]) -> Vec<Emitted> {
    let mut out: Vec<DerivedBatch> = Vec::new();
    for action in actions {
        match action {
            Action::Batch(stream, batch) => op.on_batch(stream, batch, &mut out),
            Action::Watermark(w) => op.on_watermark(*w, &mut out),
        }
        .expect("the operator accepts the input");
    }
    out.into_iter().map(|b| (b.rule, b.data, b.meta)).collect()
}

/// The snapshot of `op` restored into a freshly built operator.
fn restored(rule: &Rule, op: &mut PatternOperator) -> PatternOperator {
    let bytes = op.snapshot().expect("snapshot");
    let mut fresh = rule.operator();
    fresh.restore(&bytes).expect("restore");
    assert_eq!(fresh.state_size(), op.state_size(), "restored state size");
    fresh
}

/// Cuts the run before `actions[cut]`: both the restored operator and the
/// snapshotted one continue exactly like the uninterrupted run.
fn check_cut(rule: &Rule, actions: &[Action], whole: &[Emitted], cut: usize) {
    let mut original = rule.operator();
    let mut emitted = run(&mut original, &actions[..cut]);
    let mut restored = restored(rule, &mut original);
    let from_original = run(&mut original, &actions[cut..]);
    let from_restored = run(&mut restored, &actions[cut..]);
    assert_eq!(from_restored, from_original, "restored at cut {cut}");
    emitted.extend(from_restored);
    assert_eq!(emitted, whole, "cut at {cut}");
}

/// Snapshots and restores into a fresh operator before every action.
fn run_restoring_at_every_action(rule: &Rule, actions: &[Action]) -> Vec<Emitted> {
    let mut op = rule.operator();
    let mut emitted = Vec::new();
    for action in actions {
        op = restored(rule, &mut op);
        emitted.extend(run(&mut op, std::slice::from_ref(action)));
    }
    emitted
}

// ---------------------------------------------------------------------------
// Random inputs over two streams of letters.

const LETTER_STREAMS: &str = r#"
stream ev (
    ts      timestamp,
    k       string,
    letter  string,
    v       int
) time ts lateness 5s

stream other (
    ts      timestamp,
    k       string,
    letter  string,
    v       int
) time ts lateness 5s
"#;

/// Rules covering the pattern language and the automaton's sharing modes.
const LETTER_RULES: &[&str] = &[
    // `{n,}`, a cross condition on the latest event, a second stream.
    r#"rule r by k
  pattern a: ev where letter == "a" {2,}
       -> b: ev where letter == "b" and v != a.v
       -> c: other where letter == "c"
  within 30ms
  emit r { k, n: count(a), first_a: first(a.v), vb: b.v, vc: c.v }"#,
    // `+` and `not` in the middle.
    r#"rule r by k
  pattern a: ev where letter == "a" +
       -> not x: ev where letter == "x"
       -> b: ev where letter == "b"
  within 20ms
  emit r { k, n: count(a), total: sum(a.v) }"#,
    // A trailing `not`.
    r#"rule r by k
  pattern p: ev where letter == "a" -> not q: ev where letter == "b" and v == p.v
  within 15ms
  emit r { k, pv: p.v }"#,
    // `all(...)` and alternation, across both streams.
    r#"rule r by k
  pattern all(a: ev where letter == "a", c: other where letter == "c")
       -> (b: ev where letter == "b" | x: other where letter == "x")
  within 25ms
  emit r { k, av: a.v, cv: c.v }"#,
    // No `by`, a cross condition, `suppress`.
    r#"rule r
  pattern a: ev where letter == "a" -> b: ev where letter == "b" and v == a.v
  within 10ms
  emit r { av: a.v, bk: b.k }
  suppress 7ms"#,
    // A cross condition over all of a step's events: candidates never share.
    r#"rule r by k
  pattern a: ev where letter == "a" {1,3}
       -> b: ev where letter != "a" and v >= max(a.v)
       -> c: other where letter == "c" ?
       -> d: ev where letter == "b"
  within 40ms
  emit r { k, n: count(a), m: max(a.v), dv: d.v }"#,
    // Quantified group, `*`, trailing `not` after a repeat, `suppress` by key.
    r#"rule r by k
  pattern (a: ev where letter == "a" -> b: other where letter == "b"){1,2}
       -> x: ev where letter == "x" *
       -> not c: ev where letter == "c"
  within 12ms
  emit r { k, pairs: count(a), xs: count(x) }
  suppress 5ms"#,
];

/// One generated event.
#[derive(Debug, Clone)]
struct Letter {
    gap: Millis,
    other: bool,
    key: u8,
    letter: char,
    v: i64,
}

impl Letter {
    fn stream(&self) -> &'static str {
        if self.other {
            "other"
        } else {
            "ev"
        }
    }
}

/// How the events are cut into calls: a batch of up to `len` events of
/// one stream, then maybe a watermark.
#[derive(Debug, Clone, Copy)]
struct Call {
    len: usize,
    /// 0: none; 1: at the batch's last time; 2: at the next event's time;
    /// 3: between.
    watermark: u8,
}

fn letter() -> impl Strategy<Value = Letter> {
    (
        0..4i64,
        prop::bool::weighted(0.3),
        0..3u8,
        prop::sample::select(vec!['a', 'a', 'b', 'c', 'x']),
        0..3i64,
    )
        .prop_map(|(gap, other, key, letter, v)| Letter {
            gap,
            other,
            key,
            letter,
            v,
        })
}

fn calls() -> impl Strategy<Value = Vec<Call>> {
    prop::collection::vec(
        (1..5usize, 0..4u8).prop_map(|(len, watermark)| Call { len, watermark }),
        60,
    )
}

fn letter_batch(
    rule: &Rule,
    events: &[Letter],
    times: &[Millis],
    range: std::ops::Range<usize>,
) -> Action {
    let stream = events[range.start].stream();
    let picked = &events[range.clone()];
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from_iter_values(
            times[range.clone()].iter().copied(),
        )),
        Arc::new(StringArray::from_iter_values(
            picked.iter().map(|e| format!("k{}", e.key)),
        )),
        Arc::new(StringArray::from_iter_values(
            picked.iter().map(|e| e.letter.to_string()),
        )),
        Arc::new(Int64Array::from_iter_values(picked.iter().map(|e| e.v))),
        Arc::new(Int64Array::from_iter_values(
            range.clone().map(|i| i as i64),
        )),
        Arc::new(UInt64Array::from_iter_values(
            range.map(|i| 0x9e37_79b9 ^ ((i as u64) * 7919)),
        )),
    ];
    let batch = RecordBatch::try_new(rule.stream_schema(stream), columns)
        .expect("batch matches the stream schema");
    Action::Batch(stream.into(), batch)
}

/// The calls feeding `events`, ending with the end-of-input watermark.
fn letter_actions(rule: &Rule, events: &[Letter], calls: &[Call]) -> Vec<Action> {
    let times: Vec<Millis> = events
        .iter()
        .scan(1_000, |t, e| {
            *t += e.gap;
            Some(*t)
        })
        .collect();
    let mut actions = Vec::new();
    let mut start = 0;
    let mut calls = calls.iter().cycle();
    while start < events.len() {
        let call = calls.next().expect("cycled");
        let mut end = start + 1;
        while end < events.len()
            && end - start < call.len
            && events[end].other == events[start].other
        {
            end += 1;
        }
        // The engine hands a rule only the streams it reads.
        if rule.plan.inputs().contains(&events[start].stream()) {
            actions.push(letter_batch(rule, events, &times, start..end));
        }
        let last = times[end - 1];
        let next = times.get(end).copied().unwrap_or(last + 10);
        match call.watermark {
            1 => actions.push(Action::Watermark(last)),
            2 => actions.push(Action::Watermark(next)),
            3 => actions.push(Action::Watermark((last + next) / 2)),
            _ => {}
        }
        start = end;
    }
    actions.push(Action::Watermark(Millis::MAX));
    actions
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_restored_operator_continues_like_the_uninterrupted_run(
        rule_index in 0..LETTER_RULES.len(),
        events in prop::collection::vec(letter(), 0..40),
        calls in calls(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 3),
    ) {
        let rule = Rule::compile(&format!("{LETTER_STREAMS}\n{}", LETTER_RULES[rule_index]));
        let actions = letter_actions(&rule, &events, &calls);
        let whole = run(&mut rule.operator(), &actions);
        for cut in &cuts {
            check_cut(&rule, &actions, &whole, cut.index(actions.len() + 1));
        }
        prop_assert_eq!(run_restoring_at_every_action(&rule, &actions), whole);
    }
}

/// Every letter rule does match, through candidates that live across cuts
/// (else the property above would prove little); checked at every cut.
#[test]
fn every_letter_rule_matches_across_a_cut() {
    for text in LETTER_RULES {
        let rule = Rule::compile(&format!("{LETTER_STREAMS}\n{text}"));
        let events: Vec<Letter> = "aabacxbcaabbxcabxbcc"
            .chars()
            .enumerate()
            .map(|(i, letter)| Letter {
                gap: 1,
                other: matches!(letter, 'c') || (letter == 'b' && i % 3 == 0),
                key: 0,
                letter,
                v: (i % 2) as i64,
            })
            .collect();
        let calls = [Call {
            len: 2,
            watermark: 3,
        }];
        let actions = letter_actions(&rule, &events, &calls);
        let whole = run(&mut rule.operator(), &actions);
        assert!(!whole.is_empty(), "no match for {text}");
        for cut in 0..=actions.len() {
            check_cut(&rule, &actions, &whole, cut);
        }
    }
}

// ---------------------------------------------------------------------------
// The examples of docs/rules.md.

mod rules_md;
use rules_md::{ACCOUNT_TAKEOVER, STREAMS as EXAMPLE_STREAMS, UNSETTLED};

const SECOND: Millis = 1000;
const MINUTE: Millis = 60 * SECOND;

/// Builds one-event batches of the example streams, offsets counting up.
struct Examples<'a> {
    rule: &'a Rule,
    actions: Vec<Action>,
}

impl Examples<'_> {
    /// An event of `stream` at `time`: its string fields take `strings` in
    /// order, `amount` is the payment's, `country` is null.
    fn event(&mut self, stream: &str, time: Millis, strings: &[&str], amount: Option<f64>) {
        let schema = self.rule.stream_schema(stream);
        let mut strings = strings.iter();
        let offset = self.actions.len() as i64;
        let mut columns: Vec<ArrayRef> =
            vec![Arc::new(TimestampMillisecondArray::from(vec![time]))];
        for field in schema.fields().iter().skip(1) {
            let column: ArrayRef = match field.name().as_str() {
                "amount" => Arc::new(Float64Array::from(vec![amount.unwrap_or_default()])),
                "country" => Arc::new(StringArray::from(vec![None::<&str>])),
                "__offset" => Arc::new(Int64Array::from(vec![offset])),
                "__hash" => Arc::new(UInt64Array::from(vec![0xabc0 + offset as u64])),
                _ => Arc::new(StringArray::from(vec![*strings
                    .next()
                    .expect("a value for every string field")])),
            };
            columns.push(column);
        }
        let batch = RecordBatch::try_new(schema, columns).expect("event has the stream's shape");
        self.actions.push(Action::Batch(stream.into(), batch));
    }

    fn auth(&mut self, time: Millis, user: &str, kind: &str, ip: &str) {
        self.event("auth", time, &[user, kind, ip], None);
    }

    fn payment(&mut self, time: Millis, id: &str, user: &str, amount: f64) {
        self.event("payments", time, &[id, user, "EUR"], Some(amount));
    }

    fn settlement(&mut self, time: Millis, id: &str) {
        self.event("settlements", time, &[id, "ok"], None);
    }

    fn watermark(&mut self, time: Millis) {
        self.actions.push(Action::Watermark(time));
    }
}

/// Checks every cut of the example input; returns the derived events.
fn check_every_cut(rule: &Rule, actions: &[Action]) -> Vec<DerivedMeta> {
    let whole = run(&mut rule.operator(), actions);
    for cut in 0..=actions.len() {
        check_cut(rule, actions, &whole, cut);
    }
    whole.into_iter().flat_map(|(_, _, meta)| meta).collect()
}

#[test]
fn account_takeover_survives_a_checkpoint_in_the_middle() {
    let rule = Rule::compile(&format!("{EXAMPLE_STREAMS}\n{ACCOUNT_TAKEOVER}"));
    let mut input = Examples {
        rule: &rule,
        actions: Vec::new(),
    };
    for i in 0..5 {
        input.auth(i * SECOND, "u1", "login_failed", "10.0.0.1");
        input.auth(i * SECOND + 1, "u2", "login_failed", "10.0.0.2");
    }
    input.watermark(4 * SECOND + 1);
    input.auth(5 * SECOND, "u1", "login_ok", "10.0.0.1");
    input.auth(6 * SECOND, "u1", "login_ok", "192.168.1.1");
    input.auth(6 * SECOND + 1, "u2", "login_ok", "192.168.1.2");
    input.watermark(7 * SECOND);
    input.payment(7 * SECOND, "p1", "u1", 5000.0);
    input.payment(11 * MINUTE, "p2", "u2", 5000.0);
    input.watermark(Millis::MAX);
    let derived = check_every_cut(&rule, &input.actions);
    let keys: Vec<_> = derived.iter().map(|m| m.key.as_deref()).collect();
    assert_eq!(keys, vec![Some("u1")], "u2's transfer came too late");
    assert_eq!(derived[0].evidence.len(), 7);
}

#[test]
fn unsettled_payment_survives_a_checkpoint_in_the_middle() {
    let rule = Rule::compile(&format!("{EXAMPLE_STREAMS}\n{UNSETTLED}"));
    let mut input = Examples {
        rule: &rule,
        actions: Vec::new(),
    };
    input.payment(0, "p1", "u1", 10.0);
    input.payment(MINUTE, "p2", "u1", 20.0);
    input.payment(2 * MINUTE, "p3", "u2", 30.0);
    input.settlement(10 * MINUTE, "p1");
    input.watermark(31 * MINUTE);
    input.watermark(31 * MINUTE + 1);
    input.settlement(32 * MINUTE, "p3");
    input.payment(33 * MINUTE, "p4", "u2", 40.0);
    input.watermark(Millis::MAX);
    let derived = check_every_cut(&rule, &input.actions);
    let fired: Vec<_> = derived.iter().map(|m| (m.time, m.key.as_deref())).collect();
    assert_eq!(
        fired,
        vec![(31 * MINUTE, Some("p2")), (63 * MINUTE, Some("p4"))]
    );
}

// ---------------------------------------------------------------------------
// Bad snapshots.

/// An operator of the takeover rule holding candidates, and its snapshot.
fn busy_operator() -> (Rule, Vec<Action>, Vec<u8>) {
    let rule = Rule::compile(&format!("{EXAMPLE_STREAMS}\n{ACCOUNT_TAKEOVER}"));
    let mut input = Examples {
        rule: &rule,
        actions: Vec::new(),
    };
    for i in 0..4 {
        input.auth(i * SECOND, "u1", "login_failed", "10.0.0.1");
    }
    input.auth(5 * SECOND, "u1", "login_ok", "10.0.0.9");
    let mut op = rule.operator();
    run(&mut op, &input.actions);
    assert!(op.state_size().entries > 0);
    let bytes = op.snapshot().expect("snapshot");
    let Examples { actions, .. } = input;
    (rule, actions, bytes)
}

#[test]
fn garbage_and_truncated_snapshots_are_errors() {
    let (rule, _, bytes) = busy_operator();
    for garbage in [&b""[..], b"\x00", b"not a snapshot", &[0xff; 64]] {
        assert!(rule.operator().restore(garbage).is_err(), "{garbage:?}");
    }
    for len in 0..bytes.len() {
        assert!(
            rule.operator().restore(&bytes[..len]).is_err(),
            "truncated to {len} of {} bytes",
            bytes.len()
        );
    }
    // Another rule's snapshot does not fit this rule's operator.
    let other = Rule::compile(&format!("{EXAMPLE_STREAMS}\n{UNSETTLED}"));
    assert!(other.operator().restore(&bytes).is_err());
}

/// The outer layer of a snapshot, as `operators::state` writes it: the
/// operator's structure and its Arrow tables.
#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    root: Vec<u8>,
    tables: Vec<Vec<u8>>,
}

/// Corrupting any byte of the operator's structure (what refers to keys,
/// events and positions of the pattern) gives an error or some state, never
/// a panic, whether restoring or running on from it.
#[test]
fn corrupt_structures_never_panic() {
    let (rule, _, bytes) = busy_operator();
    let envelope: Envelope = postcard::from_bytes(&bytes).expect("a snapshot envelope");
    let mut more = Examples {
        rule: &rule,
        actions: Vec::new(),
    };
    more.auth(6 * SECOND, "u1", "login_failed", "10.0.0.1");
    more.auth(6 * SECOND, "u1", "login_ok", "10.0.0.7");
    more.payment(7 * SECOND, "p1", "u1", 5000.0);
    more.watermark(Millis::MAX);
    let mut restored = 0;
    for at in 0..envelope.root.len() {
        for flip in [0x01u8, 0x02, 0x80, 0xff] {
            let mut root = envelope.root.clone();
            root[at] ^= flip;
            let corrupt = postcard::to_allocvec(&Envelope {
                root,
                tables: envelope.tables.clone(),
            })
            .expect("encode");
            let mut op = rule.operator();
            if op.restore(&corrupt).is_err() {
                continue;
            }
            restored += 1;
            let mut out = Vec::new();
            for action in &more.actions {
                // Errors are fine; panics fail the test.
                let _ = match action {
                    Action::Batch(stream, batch) => op.on_batch(stream, batch, &mut out),
                    Action::Watermark(w) => op.on_watermark(*w, &mut out),
                };
            }
        }
    }
    assert!(
        restored > 0,
        "some corruptions still decode (times, counters)"
    );
}
