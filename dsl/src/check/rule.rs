//! Checks one rule: which kind it is, its clauses, and its expressions in
//! the scope each position gives them.

use crate::ast::{self, Expr as AstExpr, ExprKind as AstKind, Ident, RuleDecl};
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::plan::{
    BinaryOp, Classification, DataType, EmitPlan, Expr, ExprKind, Governance, KeyPlan, PatternPlan,
    RuleKind, RulePlan, SimplePlan, StepPlan, StreamPlan, WindowPlan,
};
use crate::suggest;

use super::catalog::{Lookup, StreamEnv};
use super::emit::check_emit;
use super::expr::{reads_steps, ExprChecker, Scope, StepInfo};
use super::{key, pattern, window};

const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];

pub struct RuleChecker<'e, 'd> {
    pub file: usize,
    pub env: &'e StreamEnv,
    pub diags: &'d mut Vec<Diagnostic>,
}

impl<'e> RuleChecker<'e, '_> {
    pub fn check(&mut self, rule: &RuleDecl) -> Option<RulePlan> {
        let before = self.diags.len();
        let severity = rule.severity.as_ref().and_then(|s| self.severity(s));
        let governance = self.governance(rule);
        self.structure(rule);
        let kind = match (&rule.pattern, &rule.from) {
            (Some(pattern), _) => self
                .pattern_rule(rule, pattern)
                .map(|(k, e)| (RuleKind::Pattern(k), e)),
            (None, Some(from)) if rule.window.is_some() => self
                .window_rule(rule, from)
                .map(|(k, e)| (RuleKind::Window(k), e)),
            (None, Some(from)) => self
                .simple_rule(rule, from)
                .map(|(k, e)| (RuleKind::Simple(k), e)),
            (None, None) => None,
        };
        let suppress = rule.suppress.as_ref().map(|s| {
            if s.value.millis <= 0 {
                self.diags.push(Diagnostic::error(
                    codes::BAD_WINDOW,
                    self.file,
                    s.span.clone(),
                    "`suppress` needs a duration longer than zero",
                    "zero",
                ));
            }
            s.value.millis
        });
        let (kind, emit) = kind?;
        if self.diags.len() > before {
            return None;
        }
        Some(RulePlan {
            name: rule.name.as_ref()?.name.clone(),
            severity,
            governance,
            kind,
            emit,
            suppress,
        })
    }

    /// `owner` and `classification` (internal when not declared).
    fn governance(&mut self, rule: &RuleDecl) -> Governance {
        let owner = rule.owner.as_ref().and_then(|owner| {
            if !owner.value.trim().is_empty() {
                return Some(owner.value.clone());
            }
            self.error(
                Diagnostic::error(
                    codes::EMPTY_OWNER,
                    self.file,
                    owner.span.clone(),
                    "`owner` names no one",
                    "empty",
                )
                .with_help("name the team that answers for this rule, like `owner \"fraud-ops\"`"),
            );
            None
        });
        let classification = match &rule.classification {
            None => Classification::default(),
            Some(c) => Classification::parse(&c.name).unwrap_or_else(|| {
                let names: Vec<&str> = Classification::ALL.iter().map(|c| c.name()).collect();
                self.unknown_word(
                    codes::UNKNOWN_CLASSIFICATION,
                    c,
                    "classification",
                    &names,
                    "classifications are public, internal and restricted",
                );
                Classification::default()
            }),
        };
        Governance {
            owner,
            classification,
        }
    }

    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn severity(&mut self, s: &Ident) -> Option<String> {
        if SEVERITIES.contains(&s.name.as_str()) {
            return Some(s.name.clone());
        }
        self.unknown_word(
            codes::UNKNOWN_SEVERITY,
            s,
            "severity",
            SEVERITIES,
            "severities are low, medium, high and critical",
        );
        None
    }

    /// `word` is not one of `known` (a `what`): reported with the closest
    /// one, if any, and `list` (what they are).
    fn unknown_word(
        &mut self,
        code: &'static str,
        word: &Ident,
        what: &str,
        known: &[&str],
        list: &str,
    ) {
        let help = suggest::did_you_mean(&word.name, known)
            .map(|d| format!("{d} {list}"))
            .unwrap_or_else(|| list.to_string());
        self.error(
            Diagnostic::error(
                code,
                self.file,
                word.span.clone(),
                format!("unknown {what} `{}`", word.name),
                format!("not a {what}"),
            )
            .with_help(help),
        );
    }

    /// Clauses that do not fit the rule's kind, and missing ones.
    fn structure(&mut self, rule: &RuleDecl) {
        let file = self.file;
        let name = rule.name.as_ref().map_or("", |n| n.name.as_str());
        let windowed = rule.wrote("window");
        let patterned = rule.wrote("pattern");
        if let (Some(pattern), Some(from)) = (&rule.pattern, &rule.from) {
            self.error(
                Diagnostic::error(
                    codes::PATTERN_WITH_FROM,
                    file,
                    from.keyword.clone(),
                    "a rule has either `from` or `pattern`, not both",
                    "`from` here",
                )
                .with_label(pattern.keyword.clone(), "`pattern` here")
                .with_help("a pattern names its streams in its steps (`f: auth where ...`); remove `from`, or split the rule in two"),
            );
        }
        if let Some(pattern) = &rule.pattern {
            if let Some(w) = &rule.window {
                self.error(
                    Diagnostic::error(codes::MISPLACED_CLAUSE, file, w.span.clone(), "a pattern rule cannot have a `window`", "not with `pattern`")
                        .with_help("a pattern is bounded by `within D`; windows belong to `from STREAM ... window D` rules"),
                );
            }
            if rule.within.is_none() && !rule.had_errors {
                let (found, span) = &pattern.next;
                self.error(
                    Diagnostic::error(
                        codes::MISSING_WITHIN,
                        file,
                        span.clone(),
                        format!("expected `within` after the pattern, found {found}"),
                        "expected `within DURATION` before this",
                    )
                    .with_label(pattern.keyword.clone(), "this pattern has no time bound")
                    .with_help("say how far apart the first and last events of a match may be, for example `within 10m`"),
                );
            }
        } else if !patterned {
            if let Some(within) = &rule.within {
                self.error(
                    Diagnostic::error(
                        codes::MISPLACED_CLAUSE,
                        file,
                        within.span.clone(),
                        "`within` needs a `pattern`",
                        "no pattern in this rule",
                    )
                    .with_help(
                        "`within` bounds a pattern; to group events over time, use `window D`",
                    ),
                );
            }
            if !windowed {
                if let (Some(by), true) = (&rule.by, rule.wrote("from")) {
                    self.error(
                        Diagnostic::error(
                            codes::BY_ON_SIMPLE_RULE,
                            file,
                            by.keyword.clone(),
                            "`by` needs a `window` or a `pattern`",
                            "nothing to partition",
                        )
                        .with_help("this rule handles each event on its own; to group events add `window 5m`, otherwise remove `by`"),
                    );
                }
            }
        }
        if !windowed {
            if let Some(having) = &rule.having {
                self.error(
                    Diagnostic::error(codes::HAVING_WITHOUT_WINDOW, file, having.span.clone(), "`having` needs a `window`", "no window in this rule")
                        .with_help("`having` filters aggregated windows; put conditions on single events in `where`, or add `window D`"),
                );
            }
        }
        if !patterned && !rule.wrote("from") && !rule.had_errors && !name.is_empty() {
            self.error(
                Diagnostic::error(
                    codes::NO_SOURCE,
                    file,
                    rule.head.clone(),
                    format!("rule `{name}` reads no events"),
                    "expected `from` or `pattern` in this rule",
                )
                .with_help(
                    "start with `from STREAM [where COND]`, or `pattern STEP -> STEP ... within D`",
                ),
            );
        }
        if !rule.wrote("emit") && !rule.had_errors && !name.is_empty() {
            let (found, span) = rule
                .end
                .clone()
                .unwrap_or_else(|| ("end of rule".into(), rule.head.clone()));
            self.error(
                Diagnostic::error(
                    codes::MISSING_EMIT,
                    file,
                    span,
                    format!("expected `emit` in rule `{name}`, found {found}"),
                    "the rule ends here without `emit`",
                )
                .with_label(rule.head.clone(), "rule starts here")
                .with_help("end the rule with what it produces: `emit NAME { field, name: expr }`"),
            );
        }
    }

    fn stream(&mut self, name: &Ident) -> Option<&'e StreamPlan> {
        match self.env.lookup(&name.name) {
            Lookup::Found(s) => Some(s),
            Lookup::Broken => None,
            Lookup::Unknown => {
                let d = self.env.unknown_stream(self.file, name);
                self.error(d);
                None
            }
        }
    }

    fn checker<'a>(&mut self, scope: Scope<'a>) -> ExprChecker<'_, 'a> {
        ExprChecker {
            diags: &mut *self.diags,
            file: self.file,
            scope,
        }
    }

    fn emit(&mut self, rule: &RuleDecl, scope: Scope) -> Option<EmitPlan> {
        let emit = rule.emit.as_ref()?;
        check_emit(&mut self.checker(scope), emit)
    }

    fn simple_rule(
        &mut self,
        rule: &RuleDecl,
        from: &ast::FromClause,
    ) -> Option<(SimplePlan, EmitPlan)> {
        let stream = self.stream(&from.stream)?;
        let scope = Scope::Event {
            stream,
            no_aggregate: "a rule without `window` handles one event at a time; to aggregate add `by KEY` and `window D`",
        };
        let filter = from
            .filter
            .as_ref()
            .map(|f| self.checker(scope).condition(f));
        let emit = self.emit(rule, scope);
        Some((
            SimplePlan {
                stream: stream.name.clone(),
                filter: filter.flatten(),
            },
            emit?,
        ))
    }

    fn window_rule(
        &mut self,
        rule: &RuleDecl,
        from: &ast::FromClause,
    ) -> Option<(WindowPlan, EmitPlan)> {
        let stream = self.stream(&from.stream)?;
        let filter = from.filter.as_ref().map(|f| {
            self.checker(Scope::Event {
                stream,
                no_aggregate: "the `where` after `from` filters single events before they enter the window; conditions on aggregates go in `having`",
            })
            .condition(f)
        });
        let key = self.key(rule, &[(stream.name.as_str(), Some(stream))])?;
        let spec = rule
            .window
            .as_ref()
            .and_then(|w| window::window_spec(self.file, w, self.diags));
        let scope = Scope::WindowOut {
            stream,
            key: key.as_ref(),
        };
        let having = rule
            .having
            .as_ref()
            .map(|h| self.checker(scope).condition(&h.value));
        let emit = self.emit(rule, scope);
        Some((
            WindowPlan {
                stream: stream.name.clone(),
                filter: filter.flatten(),
                key,
                window: spec?,
                having: having.flatten(),
            },
            emit?,
        ))
    }

    /// `Some(None)` without `by`; `None` when `by` had errors.
    fn key(&mut self, rule: &RuleDecl, inputs: &[key::Input]) -> Option<Option<KeyPlan>> {
        match &rule.by {
            None => Some(None),
            Some(by) => key::resolve(self.file, by, inputs, self.diags).map(Some),
        }
    }

    fn pattern_rule(
        &mut self,
        rule: &RuleDecl,
        clause: &ast::PatternClause,
    ) -> Option<(PatternPlan, EmitPlan)> {
        let lowered = pattern::lower(self.file, &clause.pattern, self.diags);
        let mut infos: Vec<StepInfo> = Vec::with_capacity(lowered.steps.len());
        for (i, slot) in lowered.steps.iter().enumerate() {
            let name = match &slot.decl.name {
                Some(n) => {
                    if infos.iter().any(|s| s.name == n.name) {
                        self.error(
                            Diagnostic::error(
                                codes::DUPLICATE_STEP,
                                self.file,
                                n.span.clone(),
                                format!("step name `{}` is used twice in this pattern", n.name),
                                "second step with this name",
                            )
                            .with_help("give each step its own name"),
                        );
                    }
                    n.name.clone()
                }
                None => format!("_{i}"),
            };
            let stream = self.stream(&slot.decl.stream);
            infos.push(StepInfo {
                name,
                stream,
                negated: slot.negated,
            });
        }
        let mut inputs: Vec<key::Input> = Vec::new();
        for (slot, info) in lowered.steps.iter().zip(&infos) {
            let name = slot.decl.stream.name.as_str();
            if !inputs.iter().any(|(n, _)| *n == name) {
                inputs.push((name, info.stream));
            }
        }
        let key = self.key(rule, &inputs);
        let mut steps = Vec::with_capacity(infos.len());
        for (i, slot) in lowered.steps.iter().enumerate() {
            let (local, cross) = match &slot.decl.filter {
                Some(cond) => self.step_condition(&infos, i, cond),
                None => (None, None),
            };
            steps.push(StepPlan {
                name: infos[i].name.clone(),
                stream: slot.decl.stream.name.clone(),
                local,
                cross,
            });
        }
        let within = match &rule.within {
            Some(w) if w.value.millis <= 0 => {
                self.error(Diagnostic::error(
                    codes::BAD_WINDOW,
                    self.file,
                    w.span.clone(),
                    "`within` needs a duration longer than zero",
                    "zero",
                ));
                None
            }
            Some(w) => Some(w.value.millis),
            None => None,
        };
        let key = key?;
        let emit = self.emit(
            rule,
            Scope::PatternOut {
                steps: &infos,
                key: key.as_ref(),
            },
        );
        Some((
            PatternPlan {
                key,
                steps,
                root: lowered.root?,
                within: within?,
            },
            emit?,
        ))
    }

    /// Splits a step condition into the conjuncts that read only the
    /// current event (`local`) and those that read earlier steps (`cross`).
    fn step_condition(
        &mut self,
        infos: &[StepInfo],
        current: usize,
        cond: &AstExpr,
    ) -> (Option<Expr>, Option<Expr>) {
        let mut conjuncts = Vec::new();
        split_and(cond, &mut conjuncts);
        let mut local = Vec::new();
        let mut cross = Vec::new();
        for conjunct in conjuncts {
            let mut checker = self.checker(Scope::Step {
                steps: infos,
                current,
            });
            if let Some(e) = checker.condition(conjunct) {
                if reads_steps(&e) {
                    cross.push(e);
                } else {
                    local.push(e);
                }
            }
        }
        (join_and(local), join_and(cross))
    }
}

fn split_and<'a>(e: &'a AstExpr, out: &mut Vec<&'a AstExpr>) {
    match &e.kind {
        AstKind::Binary {
            op: BinaryOp::And,
            left,
            right,
        } => {
            split_and(left, out);
            split_and(right, out);
        }
        _ => out.push(e),
    }
}

fn join_and(parts: Vec<Expr>) -> Option<Expr> {
    parts.into_iter().reduce(|left, right| Expr {
        kind: ExprKind::Binary {
            op: BinaryOp::And,
            left: Box::new(left),
            right: Box::new(right),
        },
        ty: DataType::Bool,
    })
}
