//! Reloading rules without a restart: a pipeline of the new rule set takes
//! over the running one's state. Unchanged rules keep theirs, so a pattern
//! half matched before the reload completes after it; changed and new rules
//! start empty; removed rules drop theirs.

use dsl::plan::Program;
use engine::decode::StreamDecoder;
use engine::pipeline::{OutputEvent, Pipeline};
use engine::source::Chunk;

const STREAMS: &str = r#"
stream auth ( ts timestamp, user_id string, kind string ) time ts lateness 1s
stream payments ( ts timestamp, user_id string, amount float ) time ts lateness 1s
"#;

const TAKEOVER: &str = r#"
rule account_takeover by user_id
  pattern f: auth where kind == "login_failed" {3,} -> s: auth where kind == "login_ok"
          -> t: payments where amount > 1000
  within 10m
  emit takeover { user_id, failures: count(f) }
"#;

const BIG: &str = "rule big from payments where amount > 100 emit big { user_id, amount }\n";
const BIG_CHANGED: &str =
    "rule big from payments where amount > 5000 emit big { user_id, amount }\n";
const LOGINS: &str = "rule logins from auth where kind == \"login_ok\" emit login { user_id }\n";

const AUTH_BEFORE: &str = r#"{"ts":1000,"user_id":"u1","kind":"login_failed"}
{"ts":2000,"user_id":"u1","kind":"login_failed"}
{"ts":3000,"user_id":"u1","kind":"login_failed"}
{"ts":4000,"user_id":"u1","kind":"login_ok"}
"#;
const AUTH_AFTER: &str = r#"{"ts":9000,"user_id":"u2","kind":"login_ok"}
"#;
const PAYMENTS_AFTER: &str = r#"{"ts":10000,"user_id":"u1","amount":2000.0}
"#;

fn compile(rules: &[&str]) -> Program {
    let text = format!("{STREAMS}{}", rules.concat());
    let sources = [dsl::Source {
        name: "rules.eddy".into(),
        text,
    }];
    dsl::compile(&sources).0.expect("the rules compile")
}

fn pipeline(program: &Program) -> Pipeline {
    Pipeline::build(program, &["auth", "payments"]).unwrap()
}

/// Decodes `lines` of `stream` and pushes them; returns what came out.
fn push(pipeline: &mut Pipeline, program: &Program, stream: &str, lines: &str) -> Vec<OutputEvent> {
    let index = program.catalog.stream_index(stream).unwrap();
    let mut decoder = StreamDecoder::new(&program.catalog.streams[index]).unwrap();
    let mut chunk = Chunk::default();
    for (number, line) in lines.lines().enumerate() {
        chunk.push_line(number as i64 + 1, line.as_bytes());
    }
    let decoded = decoder.decode(&chunk).unwrap();
    assert!(decoded.rejects.is_empty(), "{:?}", decoded.rejects);
    pipeline.push(index, &decoded.batch).unwrap().ready
}

/// (rule name, derived event name's data as `Debug`) of each event.
fn names(program: &Program, events: &[OutputEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| program.rules[e.rule].name.clone())
        .collect()
}

/// Runs the "before" input on rule set `old`, reloads to `new` (carrying the
/// state over unless `carry` is false), runs the "after" input, finishes.
/// Returns the rules that fired before and after, and those that kept state.
fn run_with_reload(
    old: &[&str],
    new: &[&str],
    carry: bool,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let old_program = compile(old);
    let mut running = pipeline(&old_program);
    let before = push(&mut running, &old_program, "auth", AUTH_BEFORE);

    let new_program = compile(new);
    let mut reloaded = pipeline(&new_program);
    let mut kept = Vec::new();
    if carry {
        let keep = |name: &str| {
            let find = |p: &Program| p.rules.iter().find(|r| r.name == name).cloned();
            find(&old_program) == find(&new_program)
        };
        kept = reloaded.carry_over_from(&mut running, keep).unwrap().kept;
    }
    let mut after = push(&mut reloaded, &new_program, "auth", AUTH_AFTER);
    after.extend(push(
        &mut reloaded,
        &new_program,
        "payments",
        PAYMENTS_AFTER,
    ));
    after.extend(reloaded.finish().unwrap());
    (
        names(&old_program, &before),
        names(&new_program, &after),
        kept,
    )
}

#[test]
fn a_pattern_half_matched_before_a_reload_fires_after_it() {
    // The takeover rule moves from index 1 to 0; `big` changes; `logins` is new.
    let (before, after, kept) =
        run_with_reload(&[BIG, TAKEOVER], &[TAKEOVER, LOGINS, BIG_CHANGED], true);
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(kept, ["account_takeover"], "the changed `big` starts empty");
    // u1's login at 4 s was still waiting to be reordered at the reload, so
    // the new rule sees it; big's new threshold drops the 2000 payment.
    assert_eq!(after, ["logins", "logins", "account_takeover"]);
}

#[test]
fn without_carrying_the_state_over_the_half_match_is_lost() {
    let (_, after, _) = run_with_reload(&[BIG, TAKEOVER], &[TAKEOVER, LOGINS, BIG_CHANGED], false);
    assert_eq!(after, ["logins"]);
}

#[test]
fn a_removed_rule_drops_its_state_and_other_inputs_are_refused() {
    let (_, after, kept) = run_with_reload(&[BIG, TAKEOVER], &[BIG], true);
    assert_eq!(kept, ["big"]);
    assert_eq!(after, ["big"]);

    // A rule set reading only `auth` cannot take over a pipeline reading both.
    let old_program = compile(&[BIG, TAKEOVER]);
    let mut running = pipeline(&old_program);
    let narrow = compile(&[LOGINS]);
    let mut reloaded = Pipeline::build(&narrow, &["auth"]).unwrap();
    assert!(reloaded.carry_over_from(&mut running, |_| true).is_err());
}
