//! The checker: resolves names against the catalog, types expressions,
//! orders rules by the derived streams they read, and lowers everything to
//! a [`Program`]. It keeps going after an error so that every error in the
//! rule set is reported; only a rule set without errors gives a program.

mod catalog;
mod emit;
mod expr;
mod key;
mod pattern;
mod regexp;
mod rule;
mod window;

use std::collections::HashMap;

use crate::ast::{self, PatternKind, RuleDecl};
use crate::codes;
use crate::diagnostic::{Diagnostic, Severity, Span};
use crate::plan::{Catalog, Program, StreamPlan, DEFAULT_AHEAD, DERIVED_TIME_FIELD};

use emit::{derived_fields, describe_fields};
use rule::RuleChecker;

/// A rule and the file it was written in.
struct RuleRef<'f> {
    file: usize,
    decl: &'f RuleDecl,
}

pub fn check(files: &[(usize, &ast::File)], diags: &mut Vec<Diagnostic>) -> Option<Program> {
    let before = diags.len();
    let mut env = catalog::declare_streams(files, diags);
    let rules: Vec<RuleRef> = files
        .iter()
        .flat_map(|(file, tree)| {
            tree.rules
                .iter()
                .map(move |decl| RuleRef { file: *file, decl })
        })
        .collect();
    check_rule_names(&rules, diags);
    for r in &rules {
        if let Some(emit) = &r.decl.emit {
            if env.declared.iter().any(|s| s.name == emit.name.name)
                || env.broken.contains(&emit.name.name)
            {
                diags.push(
                    Diagnostic::error(
                        codes::STREAM_EMIT_CLASH,
                        r.file,
                        emit.name.span.clone(),
                        format!("`{}` is already a declared stream", emit.name.name),
                        "emitted under a declared stream's name",
                    )
                    .with_help("derived events are a stream of their own: give them a new name"),
                );
            }
            env.emitted.insert(emit.name.name.clone());
        }
    }
    let order = rule_order(&rules, diags);

    let mut plans = Vec::new();
    let mut emitted_by: HashMap<String, String> = HashMap::new();
    for &i in &order {
        let r = &rules[i];
        let mut checker = RuleChecker {
            file: r.file,
            env: &env,
            diags,
        };
        let errors_before = checker.diags.len();
        let Some(plan) = checker.check(r.decl) else {
            let any_error = diags.iter().any(|d| d.severity == Severity::Error);
            if diags.len() == errors_before && !any_error {
                // Every failure path reports or follows a reported error;
                // never hand out a program that silently lacks a rule.
                diags.push(Diagnostic::error(
                    codes::INTERNAL,
                    r.file,
                    r.decl.head.clone(),
                    "this rule could not be checked",
                    "here",
                ));
            }
            continue;
        };
        let fields = derived_fields(&plan.emit);
        let emit_span = r
            .decl
            .emit
            .as_ref()
            .map_or(r.decl.head.clone(), |e| e.name.span.clone());
        if let Some(existing) = env.derived.iter().find(|s| s.name == plan.emit.name) {
            if existing.fields != fields {
                let other = emitted_by.get(&plan.emit.name).cloned().unwrap_or_default();
                diags.push(
                    Diagnostic::error(
                        codes::DERIVED_CONFLICT,
                        r.file,
                        emit_span,
                        format!("`{}` is emitted with different fields by rule `{other}`", plan.emit.name),
                        format!("emits {}", describe_fields(&fields)),
                    )
                    .with_help(format!(
                        "rules emitting the same name must emit the same fields and types; `{other}` emits {}",
                        describe_fields(&existing.fields)
                    )),
                );
                continue;
            }
        } else {
            emitted_by.insert(plan.emit.name.clone(), plan.name.clone());
            env.derived.push(StreamPlan {
                name: plan.emit.name.clone(),
                fields,
                time_field: DERIVED_TIME_FIELD.into(),
                lateness: 0,
                ahead: DEFAULT_AHEAD,
                derived_from: Some(plans.len()),
            });
        }
        plans.push(plan);
    }
    if diags.len() > before {
        return None;
    }
    let mut streams = env.declared;
    streams.extend(env.derived);
    Some(Program {
        catalog: Catalog { streams },
        rules: plans,
    })
}

fn check_rule_names(rules: &[RuleRef], diags: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, (usize, Span)> = HashMap::new();
    for r in rules {
        let Some(name) = &r.decl.name else { continue };
        if let Some((file, first)) = seen.get(name.name.as_str()) {
            let mut d = Diagnostic::error(
                codes::DUPLICATE_NAME,
                r.file,
                name.span.clone(),
                format!("rule `{}` is defined twice", name.name),
                "defined again here",
            )
            .with_help("give each rule its own name");
            if *file == r.file {
                d = d.with_label(first.clone(), "first defined here");
            }
            diags.push(d);
        } else {
            seen.insert(&name.name, (r.file, name.span.clone()));
        }
    }
}

/// The streams a rule reads, as written.
fn rule_inputs(rule: &RuleDecl) -> Vec<&str> {
    fn walk<'a>(p: &'a ast::Pattern, out: &mut Vec<&'a str>) {
        match &p.kind {
            PatternKind::Step(s) => out.push(&s.stream.name),
            PatternKind::Not(inner, _) | PatternKind::Group(inner) => walk(inner, out),
            PatternKind::Repeat { inner, .. } => walk(inner, out),
            PatternKind::All(parts) | PatternKind::Seq(parts) | PatternKind::Alt(parts) => {
                parts.iter().for_each(|q| walk(q, out))
            }
        }
    }
    let mut out = Vec::new();
    if let Some(from) = &rule.from {
        out.push(from.stream.name.as_str());
    }
    if let Some(p) = &rule.pattern {
        walk(&p.pattern, &mut out);
    }
    out
}

/// Rule indices in an order where a rule comes after the rules whose
/// derived events it reads (declaration order where free). Rules in a cycle
/// are reported and come last.
fn rule_order(rules: &[RuleRef], diags: &mut Vec<Diagnostic>) -> Vec<usize> {
    let emits: Vec<Option<&str>> = rules
        .iter()
        .map(|r| r.decl.emit.as_ref().map(|e| e.name.name.as_str()))
        .collect();
    let depends_on: Vec<Vec<usize>> = rules
        .iter()
        .map(|r| {
            let inputs = rule_inputs(r.decl);
            (0..rules.len())
                .filter(|&j| emits[j].is_some_and(|e| inputs.contains(&e)))
                .collect()
        })
        .collect();
    let mut done = vec![false; rules.len()];
    let mut order = Vec::with_capacity(rules.len());
    while let Some(next) =
        (0..rules.len()).find(|&i| !done[i] && depends_on[i].iter().all(|&j| done[j]))
    {
        done[next] = true;
        order.push(next);
    }
    let stuck: Vec<usize> = (0..rules.len()).filter(|&i| !done[i]).collect();
    if let Some(&first) = stuck.first() {
        let names: Vec<String> = stuck
            .iter()
            .filter_map(|&i| rules[i].decl.name.as_ref().map(|n| format!("`{}`", n.name)))
            .collect();
        let r = &rules[first];
        diags.push(
            Diagnostic::error(
                codes::RULE_CYCLE,
                r.file,
                r.decl.head.clone(),
                match names.as_slice() {
                    [one] => format!("rule {one} reads its own derived events"),
                    _ => format!(
                        "rules {} read each other's derived events in a cycle",
                        names.join(", ")
                    ),
                },
                "part of the cycle",
            )
            .with_help("a rule cannot read, directly or through other rules, the events it emits"),
        );
        order.extend(stuck);
    }
    order
}
