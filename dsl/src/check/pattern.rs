//! Lowers a pattern's shape to `PatternNode`, numbering its steps in text
//! order and checking where `not`, quantifiers and `all` may appear.

use crate::ast::{Pattern, PatternKind, StepDecl};
use crate::codes;
use crate::diagnostic::{Diagnostic, Span};
use crate::limits::{automaton_states, MAX_REPEAT, MAX_STATES, MAX_STEPS};
use crate::plan::PatternNode;

/// A step found in the pattern, in text order.
pub struct StepSlot<'p> {
    pub decl: &'p StepDecl,
    pub negated: bool,
}

pub struct Lowered<'p> {
    pub steps: Vec<StepSlot<'p>>,
    /// `None` when the shape had errors (reported).
    pub root: Option<PatternNode>,
}

pub fn lower<'p>(file: usize, pattern: &'p Pattern, diags: &mut Vec<Diagnostic>) -> Lowered<'p> {
    let mut lowering = Lowering {
        file,
        diags,
        steps: Vec::new(),
    };
    let mut root = lowering.node(pattern, Position::Root);
    // The operators refuse these at `eddy run`; refuse them here first, on
    // the pattern, so that a checked rule always compiles.
    if lowering.steps.len() > MAX_STEPS {
        let first_over = lowering.steps[MAX_STEPS].decl;
        let start = first_over
            .name
            .as_ref()
            .map_or(first_over.stream.span.start, |n| n.span.start);
        lowering.diags.push(
            Diagnostic::error(
                codes::TOO_MANY_STEPS,
                file,
                start..first_over.stream.span.end,
                format!(
                    "expected at most {MAX_STEPS} steps in a pattern, found {}",
                    lowering.steps.len()
                ),
                format!("step {} of the pattern", MAX_STEPS + 1),
            )
            .with_help(format!(
                "the automaton tracks steps in {MAX_STEPS}-bit sets (`not` steps count too); \
                 split the pattern into rules that chain through derived events"
            )),
        );
        root = None;
    }
    if root.is_some() && !needs_event(pattern) {
        // The automaton would complete before any event: the operators
        // refuse it, and no reading of it would be useful.
        lowering.diags.push(
            Diagnostic::error(
                codes::MATCHES_NOTHING,
                file,
                pattern.span.clone(),
                "expected a pattern that needs at least one event, found one whose steps are all optional",
                "can match without any event",
            )
            .with_help("make a step required: `a` or `a+` instead of `a?` or `a*`"),
        );
        root = None;
    }
    if let Some(node) = &root {
        let states = automaton_states(node);
        if states > MAX_STATES as u64 {
            lowering.diags.push(
                Diagnostic::error(
                    codes::PATTERN_TOO_LARGE,
                    file,
                    pattern.span.clone(),
                    format!(
                        "this pattern unrolls to {states} automaton states, over the limit of {MAX_STATES}"
                    ),
                    "too large once its quantifiers are unrolled",
                )
                .with_help(
                    "nested quantifiers multiply: `(a{100}){100}` is 10000 copies of `a`; \
                     use smaller bounds, or `+` / `{n,}` which do not unroll",
                ),
            );
            root = None;
        }
    }
    Lowered {
        steps: lowering.steps,
        root,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    /// The whole pattern.
    Root,
    /// An element of the top-level sequence.
    TopSeq { first: bool, last: bool },
    /// An element of a nested sequence (inside a group).
    InnerSeq { first: bool, last: bool },
    /// Anywhere else: alternatives, `all`, under a quantifier.
    Other,
}

struct Lowering<'p, 'd> {
    file: usize,
    diags: &'d mut Vec<Diagnostic>,
    steps: Vec<StepSlot<'p>>,
}

impl<'p> Lowering<'p, '_> {
    fn push_step(&mut self, decl: &'p StepDecl, negated: bool) -> usize {
        self.steps.push(StepSlot { decl, negated });
        self.steps.len() - 1
    }

    fn error(&mut self, code: &'static str, span: Span, message: &str, label: &str, help: &str) {
        self.diags
            .push(Diagnostic::error(code, self.file, span, message, label).with_help(help));
    }

    fn node(&mut self, p: &'p Pattern, pos: Position) -> Option<PatternNode> {
        match &p.kind {
            PatternKind::Step(decl) => Some(PatternNode::Step(self.push_step(decl, false))),
            PatternKind::Group(inner) => self.node(inner, pos),
            PatternKind::Not(inner, keyword) => self.not(inner, keyword, pos),
            PatternKind::Seq(parts) => {
                let nested = !matches!(pos, Position::Root);
                let mut nodes = Vec::with_capacity(parts.len());
                let mut ok = true;
                let n = parts.len();
                for (i, part) in parts.iter().enumerate() {
                    let (first, last) = (i == 0, i + 1 == n);
                    let child = if nested {
                        Position::InnerSeq { first, last }
                    } else {
                        Position::TopSeq { first, last }
                    };
                    match self.node(part, child) {
                        // `(a -> b) -> c` is the same as `a -> b -> c`.
                        Some(PatternNode::Seq(inner))
                            if matches!(part.kind, PatternKind::Group(_)) =>
                        {
                            nodes.extend(inner)
                        }
                        Some(node) => nodes.push(node),
                        None => ok = false,
                    }
                }
                // A sequence flattened into its parent is checked there, with
                // the parent's later steps in view.
                if matches!(pos, Position::Root | Position::Other) {
                    self.check_not_followers(parts);
                }
                ok.then_some(PatternNode::Seq(nodes))
            }
            PatternKind::Alt(parts) => {
                let nodes: Vec<Option<PatternNode>> = parts
                    .iter()
                    .map(|q| self.node(q, Position::Other))
                    .collect();
                nodes
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(PatternNode::Alt)
            }
            PatternKind::All(members) => {
                let mut ids = Vec::with_capacity(members.len());
                let mut ok = true;
                for member in members {
                    match &member.kind {
                        PatternKind::Step(decl) => ids.push(self.push_step(decl, false)),
                        _ => {
                            self.error(
                                codes::BAD_ALL_MEMBER,
                                member.span.clone(),
                                "expected a single step in `all(...)`",
                                "not a single step",
                                "`all(a, b)` lists plain steps (`name: stream where cond`), without quantifiers, groups or `not`",
                            );
                            ok = false;
                        }
                    }
                }
                if members.is_empty() {
                    self.error(
                        codes::BAD_ALL_MEMBER,
                        p.span.clone(),
                        "expected steps in `all(...)`, found none",
                        "empty",
                        "list the steps that must all match: `all(a: auth, b: payments)`",
                    );
                    ok = false;
                }
                ok.then_some(PatternNode::All(ids))
            }
            PatternKind::Repeat { inner, quantifier } => {
                let q = quantifier.value;
                let mut ok = true;
                if let PatternKind::Not(_, _) = inner.kind {
                    self.error(
                        codes::QUANTIFIED_NOT,
                        quantifier.span.clone(),
                        "a `not` step cannot have a quantifier",
                        "quantifier on `not`",
                        "`not x` already forbids any number of `x` events; remove the quantifier",
                    );
                    // Number the negated step anyway so later steps keep their ids.
                    let _ = self.node(
                        inner,
                        Position::TopSeq {
                            first: false,
                            last: false,
                        },
                    );
                    return None;
                }
                if let Some(over) = [Some(q.min), q.max]
                    .into_iter()
                    .flatten()
                    .find(|&b| b > MAX_REPEAT)
                {
                    self.error(
                        codes::REPEAT_TOO_LARGE,
                        quantifier.span.clone(),
                        &format!("expected a quantifier bound of at most {MAX_REPEAT}, found {over}"),
                        "bound over the limit",
                        &format!(
                            "`{{n,m}}` is unrolled into n to m copies of the step, so bounds are capped at {MAX_REPEAT}; \
                             for \"at least n\" of a large n, count in a window rule instead (`having count() >= n`)"
                        ),
                    );
                    ok = false;
                }
                match q.max {
                    Some(max) if max < q.min => {
                        self.error(
                            codes::BAD_QUANTIFIER,
                            quantifier.span.clone(),
                            &format!("expected a maximum of at least {}, found {max}", q.min),
                            "minimum is above maximum",
                            &format!(
                                "`{{n,m}}` means n to m times; did you mean `{{{max},{}}}`?",
                                q.min
                            ),
                        );
                        ok = false;
                    }
                    Some(0) => {
                        self.error(
                            codes::BAD_QUANTIFIER,
                            quantifier.span.clone(),
                            "a step repeated zero times never matches",
                            "at most zero times",
                            "to forbid a step, write `not step` between two steps",
                        );
                        ok = false;
                    }
                    _ => {}
                }
                let node = self.node(inner, Position::Other)?;
                ok.then(|| PatternNode::Repeat {
                    node: Box::new(node),
                    min: q.min,
                    max: q.max,
                })
            }
        }
    }

    fn not(&mut self, inner: &'p Pattern, keyword: &Span, pos: Position) -> Option<PatternNode> {
        let decl = match &inner.kind {
            PatternKind::Step(decl) => Some(decl),
            PatternKind::Group(g) => match &g.kind {
                PatternKind::Step(decl) => Some(decl),
                _ => None,
            },
            _ => None,
        };
        let Some(decl) = decl else {
            self.error(
                codes::MISPLACED_NOT,
                inner.span.clone(),
                "expected a single step after `not`",
                "not a single step",
                "`not` forbids one step: `a -> not b -> c`",
            );
            return None;
        };
        let id = self.push_step(decl, true);
        let span = keyword.start..inner.span.end;
        match pos {
            Position::Root
            | Position::TopSeq { first: true, .. }
            | Position::InnerSeq { first: true, .. } => {
                self.error(
                    codes::NOT_FIRST,
                    span,
                    "a pattern cannot start with `not`",
                    "nothing comes before this `not`",
                    "`not x` forbids x between two steps, or after the last one: `a -> not x`",
                );
                None
            }
            Position::InnerSeq { last: true, .. } => {
                self.error(
                    codes::MISPLACED_NOT,
                    span,
                    "a trailing `not` must end the whole pattern, not a group",
                    "trailing `not` inside a group",
                    "put a step after it inside the group, or move it to the end of the pattern",
                );
                None
            }
            Position::Other => {
                self.error(
                    codes::MISPLACED_NOT,
                    span,
                    "`not` must stand between steps of a sequence",
                    "not in a sequence",
                    "write it as `a -> not x -> b`, or `a -> not x` at the end",
                );
                None
            }
            _ => Some(PatternNode::Not(id)),
        }
    }

    /// A `not` that is not last must be followed by something that needs an
    /// event: `a -> not x -> c?` has no reading an analyst would guess (the
    /// contract's Clarifications make it an error). Reports the first such
    /// `not` of the sequence; any later one has the same followers.
    fn check_not_followers(&mut self, parts: &'p [Pattern]) {
        let mut flat = Vec::with_capacity(parts.len());
        flatten_seq(parts, &mut flat);
        // The first element is `NOT_FIRST`'s business, the last is a
        // trailing `not`.
        let Some(i) = (1..flat.len().saturating_sub(1)).find(|&i| {
            matches!(flat[i].kind, PatternKind::Not(..))
                && !flat[i + 1..].iter().any(|p| needs_event(p))
        }) else {
            return;
        };
        let PatternKind::Not(_, keyword) = &flat[i].kind else {
            return;
        };
        let mut diag = Diagnostic::error(
            codes::NOT_BEFORE_OPTIONAL,
            self.file,
            keyword.start..flat[i].span.end,
            "expected a required step after `not`, found only optional steps",
            "this `not` is followed only by optional steps",
        )
        .with_help(
            "make a step after the `not` required (`c` or `c+` instead of `c?` or `c*`), \
             or put the `not` last to mean \"absent until the window closes\"",
        );
        for follower in flat[i + 1..]
            .iter()
            .filter(|p| !matches!(p.kind, PatternKind::Not(..)))
        {
            diag = diag.with_label(follower.span.clone(), "may match no event");
        }
        self.diags.push(diag);
    }
}

/// The elements of a sequence as the lowering sees them: a group holding a
/// sequence is spliced into its parent, other groups are unwrapped.
fn flatten_seq<'p>(parts: &'p [Pattern], out: &mut Vec<&'p Pattern>) {
    for part in parts {
        let mut inner = part;
        while let PatternKind::Group(g) = &inner.kind {
            inner = g;
        }
        match &inner.kind {
            PatternKind::Seq(nested) if !std::ptr::eq(inner, part) => flatten_seq(nested, out),
            _ => out.push(inner),
        }
    }
}

/// Whether every match of `p` takes at least one event.
fn needs_event(p: &Pattern) -> bool {
    match &p.kind {
        PatternKind::Step(_) => true,
        PatternKind::Not(..) => false,
        PatternKind::Group(inner) => needs_event(inner),
        PatternKind::Seq(parts) => parts.iter().any(needs_event),
        PatternKind::Alt(parts) => !parts.is_empty() && parts.iter().all(needs_event),
        PatternKind::All(members) => !members.is_empty(),
        PatternKind::Repeat { inner, quantifier } => quantifier.value.min > 0 && needs_event(inner),
    }
}
