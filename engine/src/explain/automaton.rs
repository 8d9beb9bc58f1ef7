//! A pattern's automaton as analysts see it: the places a partial match
//! can stand (after epsilon moves are folded away, exactly the positions the
//! operator's candidates take), the events each place can take, in the
//! order they are tried, and how it completes. Built from the public walk of
//! [`Nfa`] (`start`, `closure`), so it shows what runs, not a re-derivation.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write;

use dsl::plan::{PatternPlan, RulePlan};
use operators::pattern::nfa::{Completion, Nfa, NfaError, Position, StepSet};

use super::expr::{duration, render, Names};

/// Past this many states the diagram is cut (bounded quantifiers unroll,
/// `all(...)` of n steps has 2^n places).
pub const MAX_SHOWN_STATES: usize = 200;

/// One place of the automaton.
#[derive(Debug, Clone, PartialEq)]
pub struct StateNode {
    /// Events this place can take, highest priority first: (step, target).
    pub moves: Vec<(usize, usize)>,
    /// `not` steps whose event kills a partial match standing here.
    pub guards: Vec<usize>,
    pub completion: Completion,
}

/// The reachable places, `states[0]` the start.
#[derive(Debug, Clone, PartialEq)]
pub struct Automaton {
    pub states: Vec<StateNode>,
    /// Whether states were left out past [`MAX_SHOWN_STATES`].
    pub truncated: bool,
}

impl Automaton {
    /// Compiles `pattern` as the operator does and walks every reachable place.
    pub fn of(pattern: &PatternPlan) -> Result<Automaton, NfaError> {
        let nfa = Nfa::compile(&pattern.root, pattern.steps.len())?;
        let mut ids: HashMap<Position, usize> = HashMap::new();
        let mut queue = VecDeque::new();
        let mut states = Vec::new();
        let mut truncated = false;
        ids.insert(nfa.start(), 0);
        queue.push_back(nfa.start());
        while let Some(position) = queue.pop_front() {
            let closure = nfa.closure(position);
            let mut moves = Vec::with_capacity(closure.takes.len());
            for take in &closure.takes {
                let next_id = ids.len();
                let target = match ids.get(&take.to) {
                    Some(&id) => id,
                    None if next_id < MAX_SHOWN_STATES => {
                        ids.insert(take.to, next_id);
                        queue.push_back(take.to);
                        next_id
                    }
                    None => {
                        truncated = true;
                        continue;
                    }
                };
                moves.push((take.step, target));
            }
            states.push(StateNode {
                moves,
                guards: steps(closure.guards),
                completion: closure.completion,
            });
        }
        Ok(Automaton { states, truncated })
    }
}

fn steps(set: StepSet) -> Vec<usize> {
    set.iter().collect()
}

fn step_name<'a>(names: &Names<'a>, step: usize) -> &'a str {
    names.steps.get(step).copied().unwrap_or("?")
}

/// `f: auth where kind == "login_failed"`: what an event must be to take a step.
fn step_label(pattern: &PatternPlan, names: &Names<'_>, step: usize) -> String {
    let Some(plan) = pattern.steps.get(step) else {
        return "?".into();
    };
    let conditions: Vec<String> = [plan.local.as_ref(), plan.cross.as_ref()]
        .into_iter()
        .flatten()
        .map(|e| render(e, names))
        .collect();
    if conditions.is_empty() {
        format!("{}: any {} event", plan.name, plan.stream)
    } else {
        format!(
            "{}: {} where {}",
            plan.name,
            plan.stream,
            conditions.join(" and ")
        )
    }
}

fn guard_text(guards: &[usize], names: &Names<'_>) -> String {
    guards
        .iter()
        .map(|g| step_name(names, *g))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The automaton as indented text.
pub fn text(automaton: &Automaton, pattern: &PatternPlan, names: &Names<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  automaton: {} states, S0 the start; when several moves can take an event, the \
         first listed wins",
        automaton.states.len()
    );
    let within = duration(pattern.within);
    for (id, state) in automaton.states.iter().enumerate() {
        let mut notes = Vec::new();
        if id == 0 {
            notes.push("start".to_string());
        }
        match &state.completion {
            Completion::No => {}
            Completion::Now => notes.push("match".into()),
            Completion::AfterAbsence { guards } => notes.push(format!(
                "match once {within} have passed without {}",
                guard_text(&steps(*guards), names)
            )),
        }
        if !state.guards.is_empty() {
            notes.push(format!(
                "dropped by an event of {}",
                guard_text(&state.guards, names)
            ));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("  ({})", notes.join("; "))
        };
        let _ = writeln!(out, "    S{id}{notes}");
        for (step, target) in &state.moves {
            let _ = writeln!(
                out,
                "      --[{}]--> S{target}",
                step_label(pattern, names, *step)
            );
        }
    }
    if automaton.truncated {
        let _ = writeln!(out, "    (cut at {MAX_SHOWN_STATES} states)");
    }
    out
}

/// The automaton as a Graphviz digraph.
pub fn dot(
    rule: &RulePlan,
    automaton: &Automaton,
    pattern: &PatternPlan,
    names: &Names<'_>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&rule.name));
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  node [shape=circle, fontname=\"Helvetica\"];");
    let _ = writeln!(out, "  edge [fontname=\"Helvetica\"];");
    let mut absence = false;
    for (id, state) in automaton.states.iter().enumerate() {
        let mut label = format!("S{id}");
        if id == 0 {
            label.push_str("\\nstart");
        }
        if !state.guards.is_empty() {
            label.push_str(&format!(
                "\\ndropped by {}",
                escape(&guard_text(&state.guards, names))
            ));
        }
        let shape = if state.completion == Completion::Now {
            ", shape=doublecircle"
        } else {
            ""
        };
        let _ = writeln!(out, "  S{id} [label=\"{label}\"{shape}];");
        absence |= matches!(state.completion, Completion::AfterAbsence { .. });
    }
    if absence {
        let _ = writeln!(out, "  match [label=\"match\", shape=doublecircle];");
    }
    for (id, state) in automaton.states.iter().enumerate() {
        let numbered = state.moves.len() > 1;
        for (order, (step, target)) in state.moves.iter().enumerate() {
            let prefix = if numbered {
                format!("{}. ", order + 1)
            } else {
                String::new()
            };
            let label = escape(&format!("{prefix}{}", step_label(pattern, names, *step)));
            let _ = writeln!(out, "  S{id} -> S{target} [label=\"{label}\"];");
        }
        if let Completion::AfterAbsence { guards } = &state.completion {
            let label = escape(&format!(
                "after {} without {}",
                duration(pattern.within),
                guard_text(&steps(*guards), names)
            ));
            let _ = writeln!(out, "  S{id} -> match [label=\"{label}\", style=dashed];");
        }
    }
    let _ = writeln!(out, "}}");
    out
}

fn quote(text: &str) -> String {
    format!("\"{}\"", escape(text))
}

/// Escapes text for a double-quoted Graphviz string.
pub(super) fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
