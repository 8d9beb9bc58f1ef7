//! `eddy explain`: a rule's compiled plan in words, and for pattern rules
//! its automaton, as text or as a Graphviz digraph.
//!
//! - [`expr`] turns checked expressions back into rule text;
//! - [`plan`] describes inputs, filter, key, window, `within`, emit,
//!   suppression and state;
//! - [`automaton`] walks the compiled pattern automaton.

pub mod automaton;
pub mod expr;
pub mod plan;

use std::fmt::Write;

use dsl::plan::{Program, RuleKind, RulePlan};

use automaton::{escape, Automaton};

/// The plan of `rule` in words, then its automaton for pattern rules.
pub fn text(program: &Program, rule: &RulePlan) -> String {
    let mut out = plan::describe(rule, &program.catalog, &program.rules);
    if let RuleKind::Pattern(pattern) = &rule.kind {
        match Automaton::of(pattern) {
            Ok(automaton) => {
                out.push_str(&automaton::text(&automaton, pattern, &plan::names(rule)))
            }
            Err(error) => {
                let _ = writeln!(out, "  automaton: cannot be built: {error}");
            }
        }
    }
    out
}

/// A Graphviz digraph for `rule`: the automaton of a pattern rule; for
/// other rules, the flow from the streams read to the event emitted.
pub fn dot(rule: &RulePlan) -> String {
    if let RuleKind::Pattern(pattern) = &rule.kind {
        if let Ok(automaton) = Automaton::of(pattern) {
            return automaton::dot(rule, &automaton, pattern, &plan::names(rule));
        }
    }
    flow_dot(rule)
}

/// `payments -> large_payment -> large_payment (event)`.
fn flow_dot(rule: &RulePlan) -> String {
    let names = plan::names(rule);
    let condition = match &rule.kind {
        RuleKind::Simple(simple) => simple.filter.as_ref(),
        RuleKind::Window(window) => window.filter.as_ref(),
        RuleKind::Pattern(_) => None,
    };
    let mut label = escape(&rule.name);
    if let Some(condition) = condition {
        label.push_str(&format!(
            "\\nwhere {}",
            escape(&expr::render(condition, &names))
        ));
    }
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", escape(&rule.name));
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  node [fontname=\"Helvetica\"];");
    let _ = writeln!(out, "  rule [shape=box, label=\"{label}\"];");
    let _ = writeln!(
        out,
        "  emitted [shape=note, label=\"{}\"];",
        escape(&format!("eddy.{}", rule.emit.name))
    );
    for (i, stream) in rule.inputs().iter().enumerate() {
        let _ = writeln!(
            out,
            "  input{i} [shape=cylinder, label=\"{}\"];",
            escape(stream)
        );
        let _ = writeln!(out, "  input{i} -> rule;");
    }
    let _ = writeln!(out, "  rule -> emitted;");
    let _ = writeln!(out, "}}");
    out
}
