//! A rule's compiled plan in words: what it reads, filters, groups by,
//! waits for, emits, and the state it keeps.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use dsl::plan::{
    Catalog, Expr, ExprKind, PatternNode, PatternPlan, RuleKind, RulePlan, WindowPlan, WindowSpec,
};
use operators::expr::for_each_leaf;
use operators::window::MAX_EVIDENCE;

use super::expr::{aggregate_name, duration, render, type_name, Names};

/// The names expressions of `rule` refer to.
pub fn names(rule: &RulePlan) -> Names<'_> {
    let steps = match &rule.kind {
        RuleKind::Pattern(p) => p.steps.iter().map(|s| s.name.as_str()).collect(),
        _ => Vec::new(),
    };
    let key = rule
        .key()
        .map(|k| k.parts.iter().map(|p| p.name.as_str()).collect())
        .unwrap_or_default();
    Names { steps, key }
}

/// The plan of `rule` as indented lines, without the automaton.
pub fn describe(rule: &RulePlan, catalog: &Catalog, rules: &[RulePlan]) -> String {
    let names = names(rule);
    let mut out = String::new();
    let kind = match &rule.kind {
        RuleKind::Simple(_) => "simple (filter and shape, one event at a time)",
        RuleKind::Pattern(_) => "pattern (a sequence of steps matched per key)",
        RuleKind::Window(_) => "window (aggregation over time windows per key)",
    };
    let _ = writeln!(out, "rule {}", rule.name);
    line(&mut out, "kind", kind);
    if let Some(severity) = &rule.severity {
        line(&mut out, "severity", severity);
    }
    line(&mut out, "reads", &reads(rule, catalog, rules));
    match &rule.kind {
        RuleKind::Simple(simple) => {
            line(
                &mut out,
                "filter",
                &condition(simple.filter.as_ref(), &names),
            );
            line(&mut out, "key", "none (every event on its own)");
        }
        RuleKind::Window(window) => {
            line(
                &mut out,
                "filter",
                &condition(window.filter.as_ref(), &names),
            );
            line(&mut out, "key", &key(rule));
            line(&mut out, "window", &window_spec(window.window));
            line(
                &mut out,
                "having",
                &condition(window.having.as_ref(), &names),
            );
        }
        RuleKind::Pattern(pattern) => {
            line(&mut out, "key", &key(rule));
            line(&mut out, "pattern", &pattern_text(&pattern.root, &names));
            line(
                &mut out,
                "within",
                &format!(
                    "{} (the last event of a match is at most {0} after its first)",
                    duration(pattern.within)
                ),
            );
            let _ = writeln!(out, "  steps:");
            for step in &pattern.steps {
                // Unnamed steps (`not settlements`) get `_N` from the checker.
                let unnamed = if step.name.starts_with('_') {
                    " (unnamed)"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "    {}{unnamed}: {}{}",
                    step.name,
                    step.stream,
                    step_condition(step.local.as_ref(), step.cross.as_ref(), &names)
                );
            }
        }
    }
    let when = match &rule.kind {
        RuleKind::Simple(_) => "one per event that passes the filter, at its event time",
        RuleKind::Pattern(p) if ends_with_absence(&p.root) => {
            "one per match, when `within` has passed without the forbidden event"
        }
        RuleKind::Pattern(_) => "one per match, at the time of its last event",
        RuleKind::Window(_) => {
            "one per window and key where `having` holds, when the window closes"
        }
    };
    line(
        &mut out,
        "emits",
        &format!("{} (CloudEvent type eddy.{0}), {when}", rule.emit.name),
    );
    let width = rule
        .emit
        .fields
        .iter()
        .map(|f| f.name.len())
        .max()
        .unwrap_or(0);
    for field in &rule.emit.fields {
        let ty = type_name(&field.expr.ty);
        let _ = writeln!(
            out,
            "    {:width$}  {ty:9}  = {}",
            field.name,
            render(&field.expr, &names)
        );
    }
    let extra = match &rule.kind {
        RuleKind::Simple(_) => "and `evidence`: the input event",
        RuleKind::Pattern(_) => "and `evidence`: the input events of the match",
        RuleKind::Window(_) => {
            "and `window` {start, end}, and `evidence`: the window's first events"
        }
    };
    let _ = writeln!(out, "    ({extra})");
    let suppress = match rule.suppress {
        Some(d) => format!(
            "{} (after an emission, repeats for the same key are dropped for {0})",
            duration(d)
        ),
        None => "none".to_string(),
    };
    line(&mut out, "suppress", &suppress);
    let _ = writeln!(out, "  state:");
    for item in state(rule, &names) {
        let _ = writeln!(out, "    - {item}");
    }
    out
}

fn line(out: &mut String, label: &str, text: &str) {
    let _ = writeln!(out, "  {:9} {text}", format!("{label}:"));
}

/// `auth, payments`; a derived stream names the rule it comes from.
fn reads(rule: &RulePlan, catalog: &Catalog, rules: &[RulePlan]) -> String {
    rule.inputs()
        .iter()
        .map(|name| {
            match catalog
                .stream(name)
                .and_then(|s| s.derived_from)
                .and_then(|i| rules.get(i))
            {
                Some(source) => format!("{name} (derived by rule {})", source.name),
                None => name.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn condition(expr: Option<&Expr>, names: &Names<'_>) -> String {
    expr.map(|e| render(e, names))
        .unwrap_or_else(|| "none (every event)".into())
}

fn step_condition(local: Option<&Expr>, cross: Option<&Expr>, names: &Names<'_>) -> String {
    match (local, cross) {
        (None, None) => String::new(),
        (Some(l), None) => format!(" where {}", render(l, names)),
        (None, Some(c)) => format!(" where {}  [against earlier steps]", render(c, names)),
        (Some(l), Some(c)) => format!(
            " where {} and {}  [the second part against earlier steps]",
            render(l, names),
            render(c, names)
        ),
    }
}

/// `user_id (auth.user_id, payments.user_id)`.
fn key(rule: &RulePlan) -> String {
    let Some(key) = rule.key() else {
        return "none (one group for all events)".into();
    };
    key.parts
        .iter()
        .map(|part| {
            let places: Vec<String> = part
                .per_stream
                .iter()
                .map(|(stream, path)| format!("{stream}.{}", path.join(".")))
                .collect();
            format!(
                "{} {} ({})",
                part.name,
                type_name(&part.ty),
                places.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn window_spec(spec: WindowSpec) -> String {
    match spec {
        WindowSpec::Tumbling { size } => format!(
            "tumbling {} (back-to-back windows aligned to the epoch)",
            duration(size)
        ),
        WindowSpec::Hopping { size, slide } => format!(
            "{} every {} (a window starts every {1}; each event is in {} windows)",
            duration(size),
            duration(slide),
            (size + slide - 1) / slide.max(1)
        ),
        WindowSpec::Session { gap } => format!(
            "session, gap {} (a window closes after {0} without events for its key)",
            duration(gap)
        ),
    }
}

/// The pattern's shape as the rule language writes it.
pub fn pattern_text(node: &PatternNode, names: &Names<'_>) -> String {
    let step = |s: usize| names.steps.get(s).copied().unwrap_or("?").to_string();
    match node {
        PatternNode::Step(s) => step(*s),
        PatternNode::Not(s) => format!("not {}", step(*s)),
        PatternNode::Seq(nodes) => nodes
            .iter()
            .map(|n| pattern_text(n, names))
            .collect::<Vec<_>>()
            .join(" -> "),
        PatternNode::Alt(nodes) => format!(
            "({})",
            nodes
                .iter()
                .map(|n| pattern_text(n, names))
                .collect::<Vec<_>>()
                .join(" | ")
        ),
        PatternNode::All(steps) => format!(
            "all({})",
            steps
                .iter()
                .map(|s| step(*s))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        PatternNode::Repeat { node, min, max } => {
            let inner = match node.as_ref() {
                PatternNode::Seq(_) => format!("({})", pattern_text(node, names)),
                _ => pattern_text(node, names),
            };
            let quantifier = match (min, max) {
                (0, None) => "*".to_string(),
                (1, None) => "+".to_string(),
                (0, Some(1)) => "?".to_string(),
                (n, None) => format!("{{{n},}}"),
                (n, Some(m)) if n == m => format!("{{{n}}}"),
                (n, Some(m)) => format!("{{{n},{m}}}"),
            };
            format!("{inner}{quantifier}")
        }
    }
}

fn ends_with_absence(node: &PatternNode) -> bool {
    match node {
        PatternNode::Not(_) => true,
        PatternNode::Seq(nodes) => nodes.last().is_some_and(ends_with_absence),
        _ => false,
    }
}

/// What the rule remembers between events, one item per kind of state.
fn state(rule: &RulePlan, names: &Names<'_>) -> Vec<String> {
    let mut items = match &rule.kind {
        RuleKind::Simple(_) if rule.suppress.is_none() => {
            vec!["none: each event is judged on its own".to_string()]
        }
        RuleKind::Simple(_) => Vec::new(),
        RuleKind::Pattern(pattern) => pattern_state(rule, pattern, names),
        RuleKind::Window(window) => vec![window_state(rule, window, names)],
    };
    if rule.suppress.is_some() {
        let scope = if rule.key().is_some() {
            "per key"
        } else {
            "for the rule"
        };
        items.push(format!(
            "{scope}, the time of the last emission (for `suppress`)"
        ));
    }
    items
}

fn pattern_state(rule: &RulePlan, pattern: &PatternPlan, names: &Names<'_>) -> Vec<String> {
    // The fields of each step that cross conditions and emit read: the
    // only columns a candidate copies out of the events it takes.
    let mut kept: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    let mut exprs: Vec<&Expr> = pattern
        .steps
        .iter()
        .filter_map(|s| s.cross.as_ref())
        .collect();
    exprs.extend(rule.emit.fields.iter().map(|f| &f.expr));
    for expr in exprs {
        for_each_leaf(expr, &mut |leaf| match &leaf.kind {
            ExprKind::StepField { step, path } => {
                kept.entry(*step).or_default().extend(path.first().cloned());
            }
            ExprKind::Aggregate {
                step: Some(step),
                arg,
                ..
            } => {
                let fields = kept.entry(*step).or_default();
                if let Some(arg) = arg {
                    for_each_leaf(arg, &mut |inner| {
                        if let ExprKind::Field(path) = &inner.kind {
                            fields.extend(path.first().cloned());
                        }
                    });
                }
            }
            _ => {}
        });
    }
    let fields: Vec<String> = kept
        .iter()
        .filter(|(_, f)| !f.is_empty())
        .map(|(step, f)| {
            let list: Vec<&str> = f.iter().map(String::as_str).collect();
            format!(
                "{}: {}",
                names.steps.get(*step).copied().unwrap_or("?"),
                list.join(", ")
            )
        })
        .collect();
    let kept_text = if fields.is_empty() {
        "no field".to_string()
    } else {
        format!("only the fields {}", fields.join("; "))
    };
    let scope = if rule.key().is_some() {
        "per key"
    } else {
        "for all events"
    };
    vec![
        format!(
            "{scope}, the partial matches in progress, each dropped {} after its first event",
            duration(pattern.within)
        ),
        format!(
            "per partial match, the events it took: their offsets (for evidence) and {kept_text}"
        ),
    ]
}

fn window_state(rule: &RulePlan, window: &WindowPlan, names: &Names<'_>) -> String {
    let mut aggregates: BTreeMap<String, &'static str> = BTreeMap::new();
    let mut exprs: Vec<&Expr> = window.having.iter().collect();
    exprs.extend(rule.emit.fields.iter().map(|f| &f.expr));
    for expr in exprs {
        for_each_leaf(expr, &mut |leaf| {
            if let ExprKind::Aggregate { func, .. } = &leaf.kind {
                let keeps = match aggregate_name(*func) {
                    "count_distinct" => "the distinct values seen",
                    "percentile" => "every value",
                    "avg" => "a sum and a count",
                    _ => "one value",
                };
                aggregates.insert(render(leaf, names), keeps);
            }
        });
    }
    let open = match window.window {
        WindowSpec::Tumbling { .. } | WindowSpec::Session { .. } => "the open window".to_string(),
        WindowSpec::Hopping { size, slide } => {
            format!(
                "each of the up to {} open windows",
                (size + slide - 1) / slide.max(1)
            )
        }
    };
    let list: Vec<String> = aggregates
        .iter()
        .map(|(agg, keeps)| format!("{agg} ({keeps})"))
        .collect();
    let scope = if rule.key().is_some() {
        "per key"
    } else {
        "for all events"
    };
    format!(
        "{scope}, for {open}: {} and the offsets of its first {MAX_EVIDENCE} events (for \
         evidence)",
        if list.is_empty() {
            "a count".to_string()
        } else {
            list.join(", ")
        }
    )
}
