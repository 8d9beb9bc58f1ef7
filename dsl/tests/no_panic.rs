//! compile() and render() never panic, whatever the text: random strings,
//! random soups of the language's tokens, and valid rules with tokens
//! deleted, duplicated, swapped or inserted. Fixed seeds: failures replay.

use dsl::{compile, render, Severity, Source};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

const VALID: &str = include_str!("fixtures/rules_md.eddy");

const VOCABULARY: &[&str] = &[
    "rule",
    "stream",
    "from",
    "where",
    "by",
    "pattern",
    "within",
    "window",
    "every",
    "session",
    "having",
    "emit",
    "suppress",
    "severity",
    "not",
    "and",
    "or",
    "in",
    "is",
    "null",
    "all",
    "time",
    "lateness",
    "auth",
    "payments",
    "f",
    "s",
    "ip",
    "user_id",
    "amount",
    "count",
    "first",
    "percentile",
    "(",
    ")",
    "{",
    "}",
    ",",
    ":",
    ".",
    "->",
    "|",
    "?",
    "+",
    "*",
    "/",
    "%",
    "-",
    "==",
    "!=",
    "<",
    ">=",
    "=",
    "5m",
    "10x",
    "3",
    "0.95",
    "\"x\"",
    "\"open",
    "/*",
    "//",
    "é",
    "\t",
    "\n",
    "{3,1}",
    "{0}",
];

fn config(seed: u64, cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Compiles and renders everything; checks the invariants callers rely on.
fn compile_and_render(text: &str) {
    let sources = [Source {
        name: "fuzz.eddy".into(),
        text: text.into(),
    }];
    let (program, diags) = compile(&sources);
    assert_eq!(
        program.is_none(),
        diags.iter().any(|d| d.severity == Severity::Error),
        "a program exactly when there is no error"
    );
    for d in &diags {
        assert_ne!(
            d.code, "E0499",
            "a rule failed without a diagnostic: {text}"
        );
        for label in &d.labels {
            assert!(
                label.span.start <= label.span.end && label.span.end <= text.len(),
                "span out of text: {d:?}"
            );
        }
        let out = render(d, &sources);
        assert!(!out.contains("fuzz.eddy:0:"), "line 0 in:\n{out}");
    }
}

/// The valid text as (whitespace-and-comments before, token) pairs, so a
/// mutation keeps the rest of the layout.
fn pieces() -> Vec<(String, String)> {
    let mut diags = Vec::new();
    let tokens = dsl::lexer::lex(VALID, 0, &mut diags);
    let mut out = Vec::new();
    let mut last = 0;
    for t in tokens {
        out.push((
            VALID[last..t.span.start].to_string(),
            VALID[t.span.clone()].to_string(),
        ));
        last = t.span.end;
    }
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Insert(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Insert(a, b)),
    ]
}

fn mutate(mut parts: Vec<(String, String)>, mutations: &[Mutation]) -> String {
    for m in mutations {
        let n = parts.len();
        if n == 0 {
            break;
        }
        match *m {
            Mutation::Delete(i) => {
                parts.remove(i % n);
            }
            Mutation::Duplicate(i) => {
                let p = parts[i % n].clone();
                parts.insert(i % n, p);
            }
            Mutation::Swap(a, b) => {
                let (a, b) = (a % n, b % n);
                let (ta, tb) = (parts[a].1.clone(), parts[b].1.clone());
                parts[a].1 = tb;
                parts[b].1 = ta;
            }
            Mutation::Insert(i, w) => {
                parts.insert(i % n, (" ".into(), VOCABULARY[w % VOCABULARY.len()].into()));
            }
        }
    }
    parts.into_iter().map(|(gap, tok)| gap + &tok).collect()
}

#[test]
fn the_valid_fixture_survives_the_harness() {
    compile_and_render(VALID);
    assert_eq!(mutate(pieces(), &[]), VALID);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let stream = "stream s (ts timestamp, x int) time ts\n";
    let deep = format!(
        "{stream}rule r from s where {}x{} > 1 emit e {{ x }}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    let long = format!(
        "{stream}rule r from s where x{} > 1 emit e {{ x }}",
        " + x".repeat(50_000)
    );
    let negations = format!(
        "{stream}rule r from s where {}x > 1 emit e {{ x }}",
        "not ".repeat(5000)
    );
    let groups = format!(
        "{stream}rule r pattern {}a: s{} within 1m emit e {{ x: 1 }}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    for text in [deep, long, negations, groups] {
        let (program, diags) = compile(&[Source {
            name: "deep.eddy".into(),
            text,
        }]);
        assert!(program.is_none());
        assert!(diags.iter().any(|d| d.code == "E0115"), "{diags:?}");
    }
}

proptest! {
    #![proptest_config(config(0xEDD1, 1500))]
    #[test]
    fn arbitrary_strings(text in any::<String>()) {
        compile_and_render(&text);
    }
}

proptest! {
    #![proptest_config(config(0xEDD2, 1500))]
    #[test]
    fn token_soup(words in proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..80)) {
        compile_and_render(&words.join(" "));
    }
}

proptest! {
    #![proptest_config(config(0xEDD3, 2500))]
    #[test]
    fn mutated_valid_rules(mutations in proptest::collection::vec(mutation(), 1..5)) {
        compile_and_render(&mutate(pieces(), &mutations));
    }
}
