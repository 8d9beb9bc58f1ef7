//! `eddy explain`: snapshots of the text and Graphviz output for the fraud
//! pack, and a structural check of the dot output of every pack.
//!
//! `INSTA_UPDATE=always cargo test -p engine --test cli_explain` rewrites
//! the snapshots; review the diff.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rules(pack: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../examples/{pack}/rules.eddy"))
}

fn eddy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(args)
        .output()
        .unwrap()
}

fn explain(args: &[&str]) -> String {
    let out = eddy(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn fraud_pack_in_words() {
    let fraud = rules("fraud");
    insta::assert_snapshot!("fraud_text", explain(&["explain", fraud.to_str().unwrap()]));
}

#[test]
fn fraud_pack_as_dot() {
    let fraud = rules("fraud");
    insta::assert_snapshot!(
        "fraud_dot",
        explain(&["explain", fraud.to_str().unwrap(), "--dot"])
    );
}

#[test]
fn one_rule_by_name() {
    let fraud = rules("fraud");
    let text = explain(&[
        "explain",
        fraud.to_str().unwrap(),
        "--rule",
        "account_takeover",
    ]);
    assert!(text.starts_with("rule account_takeover\n"), "{text}");
    assert_eq!(text.matches("\nrule ").count(), 0, "{text}");
    assert!(text.contains("pattern:  f{3,} -> s -> t"), "{text}");
}

#[test]
fn an_unknown_rule_name_exits_2() {
    let fraud = rules("fraud");
    let out = eddy(&["explain", fraud.to_str().unwrap(), "--rule", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no rule named `nope`") && err.contains("account_takeover"),
        "{err}"
    );
}

/// A digraph's declared node ids and its edges (from, to).
type Digraph = (BTreeSet<String>, Vec<(String, String)>);

/// The digraphs of `text`, after checking that braces balance outside
/// quoted strings.
fn parse_digraphs(text: &str) -> Vec<Digraph> {
    let mut graphs: Vec<Digraph> = Vec::new();
    let mut depth = 0i32;
    for line in text.lines() {
        let unquoted = strip_quoted(line);
        for c in unquoted.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            assert!(depth >= 0, "unbalanced `}}` in {line}");
        }
        let statement = unquoted.trim();
        if statement.starts_with("digraph ") {
            assert_eq!(depth, 1, "a digraph inside another: {line}");
            graphs.push((BTreeSet::new(), Vec::new()));
            continue;
        }
        let Some((nodes, edges)) = graphs.last_mut() else {
            assert!(
                statement.is_empty(),
                "a statement outside a digraph: {line}"
            );
            continue;
        };
        let head = statement
            .split('[')
            .next()
            .unwrap()
            .trim()
            .trim_end_matches(';')
            .trim();
        if let Some((from, to)) = head.split_once("->") {
            edges.push((from.trim().to_string(), to.trim().to_string()));
        } else if !head.is_empty() && !["node", "edge", "}"].contains(&head) && !head.contains('=')
        {
            nodes.insert(head.to_string());
        }
    }
    assert_eq!(depth, 0, "unbalanced braces");
    graphs
}

/// `line` with the content of double-quoted strings removed.
fn strip_quoted(line: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in line.chars() {
        match (quoted, escaped, c) {
            (true, false, '\\') => escaped = true,
            (true, true, _) => escaped = false,
            (_, false, '"') => {
                quoted = !quoted;
                out.push('"');
            }
            (false, _, c) => out.push(c),
            (true, false, _) => {}
        }
    }
    assert!(!quoted, "an unterminated string in {line}");
    out
}

#[test]
fn dot_output_is_well_formed_for_every_pack() {
    for pack in ["fraud", "security", "iot"] {
        let path = rules(pack);
        let dot = explain(&["explain", path.to_str().unwrap(), "--dot"]);
        let rules = explain(&["explain", path.to_str().unwrap()])
            .lines()
            .filter(|l| l.starts_with("rule "))
            .count();
        let graphs = parse_digraphs(&dot);
        assert_eq!(graphs.len(), rules, "one digraph per rule of {pack}");
        for (nodes, edges) in graphs {
            assert!(!edges.is_empty(), "a digraph without edges in {pack}");
            for (from, to) in edges {
                assert!(
                    nodes.contains(&from) && nodes.contains(&to),
                    "edge {from} -> {to} has an undeclared end in {pack}: {nodes:?}"
                );
            }
        }
    }
}
