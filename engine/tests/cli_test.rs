//! `eddy test`: the example packs' rule tests pass and cover every rule; a
//! failing case prints a diff and exits 1; an unusable test file exits 2
//! naming its file and line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use engine::ruletest::{discover, format};

const PACKS: [&str; 3] = ["fraud", "security", "iot"];

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn eddy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const RULES: &str = r#"
stream payments (
    ts          timestamp,
    payment_id  string,
    amount      float
) time ts lateness 5s

rule big
  from payments
  where amount > 100
  emit big { payment_id, amount }
"#;

/// A directory with `rules.eddy` and `tests/case.test.toml` holding `test`.
fn pack_with_test(test: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.eddy"), RULES).unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    let file = dir.path().join("tests/case.test.toml");
    std::fs::write(&file, test).unwrap();
    (dir, file)
}

#[test]
fn the_example_packs_tests_all_pass() {
    let out = eddy(&["test", examples().to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(!text.contains("FAIL"), "{text}");
    let passed = text.lines().filter(|l| l.starts_with("PASS ")).count();
    assert!(passed >= 15, "{text}");
    assert!(
        text.ends_with(&format!("{passed} passed, 0 failed\n")),
        "{text}"
    );
}

/// Every rule of every pack is named by the `only` of some case that
/// expects its derived event; each pack has an `expect = "none"` case.
#[test]
fn every_example_rule_has_a_test_case() {
    for pack in PACKS {
        let dir = examples().join(pack);
        let rules = std::fs::read_to_string(dir.join("rules.eddy")).unwrap();
        let (program, _) = dsl::compile(&[dsl::Source {
            name: "rules.eddy".into(),
            text: rules,
        }]);
        let program = program.unwrap();
        let mut covered = BTreeSet::new();
        let mut expects_none = false;
        for path in discover::test_files(&[dir.join("tests")]).unwrap() {
            for case in format::read(&path).unwrap().cases {
                expects_none |= case.expect.is_empty();
                for rule in program.rules.iter() {
                    let named = case.only.iter().flatten().any(|r| *r == rule.name);
                    if named && case.expect.iter().any(|e| e.name == rule.emit.name) {
                        covered.insert(rule.name.clone());
                    }
                }
            }
        }
        let all: BTreeSet<String> = program.rules.iter().map(|r| r.name.clone()).collect();
        assert_eq!(covered, all, "rules of {pack} without a test case");
        assert!(expects_none, "{pack} has no `expect = \"none\"` case");
    }
}

#[test]
fn a_failing_case_exits_1_with_a_diff() {
    let (dir, _) = pack_with_test(
        r#"
rules = ["../rules.eddy"]

[[case]]
name = "right"
input.payments = '{"ts":"2026-01-01T08:00:00Z","payment_id":"p1","amount":500.0}'
expect = [{ type = "big", data = { payment_id = "p1", amount = 500.0 } }]

[[case]]
name = "wrong amount and a missing event"
input.payments = '{"ts":"2026-01-01T08:00:00Z","payment_id":"p1","amount":500.0}'
expect = [
  { type = "big", data = { payment_id = "p1", amount = 5.0 } },
  { type = "big", data = { payment_id = "p2" } },
]

[[case]]
name = "nothing expected"
input.payments = '{"ts":"2026-01-01T08:00:00Z","payment_id":"p3","amount":700.0}'
expect = "none"
"#,
    );
    let out = eddy(&["test", dir.path().to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    let file = dir.path().join("tests/case.test.toml");
    let file = file.display();
    let expected = format!(
        "PASS {file}: right
FAIL {file}: wrong amount and a missing event
  expected 2 derived event(s), got 1:
  event 1: differs
    expected: big {{ amount = 5.0, payment_id = \"p1\" }}
    got:      big {{\"amount\":500.0,\"payment_id\":\"p1\"}}
      data.amount: expected 5.0, got 500.0
  event 2: missing
    expected: big {{ payment_id = \"p2\" }}
FAIL {file}: nothing expected
  expected 0 derived event(s), got 1:
  event 1: not expected
    got:      big {{\"amount\":700.0,\"payment_id\":\"p3\"}}
1 passed, 2 failed
"
    );
    assert_eq!(text, expected);
}

#[test]
fn a_malformed_test_file_exits_2_naming_its_line() {
    let (dir, file) = pack_with_test(
        "rules = [\"../rules.eddy\"]\n\n[[case]]\nname = \"x\"\nexpect = \"nothing\"\n",
    );
    let out = eddy(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:5:", file.display())),
        "no file:line in {err}"
    );
    assert!(err.contains("\"none\" or a list of events"), "{err}");
    assert!(stdout(&out).is_empty(), "nothing runs: {}", stdout(&out));
}

#[test]
fn an_unknown_input_stream_exits_2_naming_its_line() {
    let (_dir, file) = pack_with_test(
        "rules = [\"../rules.eddy\"]\n\n[[case]]\nname = \"x\"\ninput.paymnts = ''\nexpect = \"none\"\n",
    );
    let out = eddy(&["test", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:5:", file.display())) && err.contains("unknown stream `paymnts`"),
        "{err}"
    );
}

#[test]
fn a_directory_without_tests_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = eddy(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no test files"), "{}", stderr(&out));
}

#[test]
fn rules_with_errors_fail_their_cases_with_the_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.eddy"),
        RULES.replace("where amount > 100", "where amout > 100"),
    )
    .unwrap();
    let file = dir.path().join("broken.test.toml");
    std::fs::write(
        &file,
        "rules = [\"rules.eddy\"]\n[[case]]\nname = \"x\"\nexpect = \"none\"\n",
    )
    .unwrap();
    let out = eddy(&["test", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.contains(&format!("FAIL {}: x", file.display())),
        "{text}"
    );
    assert!(text.contains("the rules have errors"), "{text}");
    assert!(text.contains("unknown field `amout`"), "{text}");
}
