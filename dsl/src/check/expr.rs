//! Name resolution and typing of expressions. Each position in a rule has
//! a [`Scope`] that says which names mean what there.

use crate::ast::{self, Ident};
use crate::codes;
use crate::diagnostic::{Diagnostic, Span};
use crate::plan::{
    AggFunc, BinaryOp, DataType, Expr, ExprKind, KeyPlan, Literal, ScalarFunc, StreamPlan, UnaryOp,
};
use crate::suggest;

use super::catalog::{self, type_name};

/// A pattern step as expressions see it.
pub struct StepInfo<'a> {
    pub name: String,
    /// `None` when the step's stream is unknown (already reported).
    pub stream: Option<&'a StreamPlan>,
    pub negated: bool,
}

#[derive(Clone, Copy)]
pub enum Scope<'a> {
    /// The fields of one event: simple rules, filters, aggregate arguments.
    /// `no_aggregate` explains why aggregates are not allowed here.
    Event {
        stream: &'a StreamPlan,
        no_aggregate: &'static str,
    },
    /// The condition of step `current`: its own fields, earlier steps.
    Step {
        steps: &'a [StepInfo<'a>],
        current: usize,
    },
    /// `having` and `emit` of a window rule: keys and aggregates.
    WindowOut {
        stream: &'a StreamPlan,
        key: Option<&'a KeyPlan>,
    },
    /// `emit` of a pattern rule: keys, step fields, aggregates over steps.
    PatternOut {
        steps: &'a [StepInfo<'a>],
        key: Option<&'a KeyPlan>,
    },
}

pub struct ExprChecker<'d, 'a> {
    pub diags: &'d mut Vec<Diagnostic>,
    pub file: usize,
    pub scope: Scope<'a>,
}

fn typed(kind: ExprKind, ty: DataType) -> Expr {
    Expr { kind, ty }
}

fn cast_to_float(e: Expr) -> Expr {
    if e.ty == DataType::Int {
        typed(
            ExprKind::Cast {
                expr: Box::new(e),
                to: DataType::Float,
            },
            DataType::Float,
        )
    } else {
        e
    }
}

/// Whether a checked expression reads earlier pattern steps.
pub fn reads_steps(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::StepField { .. } => true,
        ExprKind::Aggregate { step, .. } => step.is_some(),
        ExprKind::Literal(_) | ExprKind::Field(_) | ExprKind::Key(_) => false,
        ExprKind::Unary { expr, .. }
        | ExprKind::IsNull { expr, .. }
        | ExprKind::Cast { expr, .. } => reads_steps(expr),
        ExprKind::Binary { left, right, .. } => reads_steps(left) || reads_steps(right),
        ExprKind::InList { expr, list, .. } => reads_steps(expr) || list.iter().any(reads_steps),
        ExprKind::Call { args, .. } => args.iter().any(reads_steps),
    }
}

impl<'a> ExprChecker<'_, 'a> {
    fn report(&mut self, d: Diagnostic) -> Option<Expr> {
        self.diags.push(d);
        None
    }

    fn error(
        &mut self,
        code: &'static str,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::error(code, self.file, span, message, label)
    }

    /// A condition: must be a bool.
    pub fn condition(&mut self, e: &ast::Expr) -> Option<Expr> {
        let checked = self.check(e)?;
        if checked.ty == DataType::Bool || checked.ty == DataType::Null {
            return Some(checked);
        }
        let found = type_name(&checked.ty);
        let d = self
            .error(
                codes::NOT_BOOL,
                e.span.clone(),
                format!("expected bool, found {found}"),
                format!("this is {found}, not a condition"),
            )
            .with_help("a condition is true or false, for example `amount > 1000`");
        self.report(d)
    }

    pub fn check(&mut self, e: &ast::Expr) -> Option<Expr> {
        use ast::ExprKind as A;
        let lit = |l, ty| Some(typed(ExprKind::Literal(l), ty));
        match &e.kind {
            A::String(s) => lit(Literal::String(s.clone()), DataType::String),
            A::Int(i) => lit(Literal::Int(*i), DataType::Int),
            A::Float(f) => lit(Literal::Float(*f), DataType::Float),
            A::Bool(b) => lit(Literal::Bool(*b), DataType::Bool),
            A::Null => lit(Literal::Null, DataType::Null),
            A::Error => None,
            A::Path(path) => self.path(path),
            A::Call { func, args } => self.call(func, args, e.span.clone()),
            A::Unary { op, expr } => {
                let inner = self.check(expr)?;
                match op {
                    UnaryOp::Not => {
                        self.require_bool(&inner, &expr.span, "`not`")?;
                        Some(typed(
                            ExprKind::Unary {
                                op: *op,
                                expr: Box::new(inner),
                            },
                            DataType::Bool,
                        ))
                    }
                    UnaryOp::Neg => {
                        self.require_number(&inner, &expr.span, "`-`")?;
                        let ty = inner.ty.clone();
                        Some(typed(
                            ExprKind::Unary {
                                op: *op,
                                expr: Box::new(inner),
                            },
                            ty,
                        ))
                    }
                }
            }
            A::Binary { op, left, right } => {
                let l = self.check(left);
                let r = self.check(right);
                self.binary(*op, l?, r?, &left.span, &right.span)
            }
            A::InList {
                expr,
                list,
                negated,
            } => {
                let head = self.check(expr);
                let items: Vec<Option<Expr>> = list.iter().map(|i| self.check(i)).collect();
                let mut head = head?;
                let mut checked = Vec::with_capacity(items.len());
                let mut ok = true;
                let widen = head.ty.is_numeric()
                    && items
                        .iter()
                        .flatten()
                        .any(|i| i.ty == DataType::Float || head.ty == DataType::Float);
                for (item, ast_item) in items.into_iter().zip(list) {
                    let Some(item) = item else {
                        ok = false;
                        continue;
                    };
                    if !compatible(&head.ty, &item.ty) {
                        let d =
                            self.mismatch(&head.ty, &item.ty, &expr.span, &ast_item.span, "`in`");
                        self.diags.push(d);
                        ok = false;
                        continue;
                    }
                    checked.push(if widen { cast_to_float(item) } else { item });
                }
                if !ok {
                    return None;
                }
                if widen {
                    head = cast_to_float(head);
                }
                Some(typed(
                    ExprKind::InList {
                        expr: Box::new(head),
                        list: checked,
                        negated: *negated,
                    },
                    DataType::Bool,
                ))
            }
            A::IsNull { expr, negated } => {
                let inner = self.check(expr)?;
                Some(typed(
                    ExprKind::IsNull {
                        expr: Box::new(inner),
                        negated: *negated,
                    },
                    DataType::Bool,
                ))
            }
        }
    }

    fn require_bool(&mut self, e: &Expr, span: &Span, what: &str) -> Option<()> {
        if matches!(e.ty, DataType::Bool | DataType::Null) {
            return Some(());
        }
        let found = type_name(&e.ty);
        let d = self
            .error(
                codes::TYPE_MISMATCH,
                span.clone(),
                format!("expected bool, found {found}"),
                format!("this is {found}"),
            )
            .with_help(format!(
                "{what} combines conditions (true or false), for example `amount > 1000`"
            ));
        self.diags.push(d);
        None
    }

    fn require_number(&mut self, e: &Expr, span: &Span, what: &str) -> Option<()> {
        if e.ty.is_numeric() || e.ty == DataType::Null {
            return Some(());
        }
        let found = type_name(&e.ty);
        let d = self
            .error(
                codes::TYPE_MISMATCH,
                span.clone(),
                format!("expected a number, found {found}"),
                format!("this is {found}"),
            )
            .with_help(format!("{what} works on int and float values"));
        self.diags.push(d);
        None
    }

    fn mismatch(
        &self,
        left: &DataType,
        right: &DataType,
        ls: &Span,
        rs: &Span,
        op: &str,
    ) -> Diagnostic {
        let (l, r) = (type_name(left), type_name(right));
        let mut d = Diagnostic::error(
            codes::TYPE_MISMATCH,
            self.file,
            rs.clone(),
            format!("expected {l}, found {r}"),
            format!("this is {r}"),
        )
        .with_label(ls.clone(), format!("this is {l}"));
        d.help = Some(match (left, right) {
            (DataType::Record(_), _) | (_, DataType::Record(_)) => {
                "records cannot be compared; compare their fields, like `device.os`".into()
            }
            (DataType::String, t) | (t, DataType::String) if t.is_numeric() => {
                format!("both sides of {op} need the same type; text is compared with text (\"...\"), numbers with numbers")
            }
            _ => format!("both sides of {op} need the same type"),
        });
        d
    }

    fn binary(&mut self, op: BinaryOp, l: Expr, r: Expr, ls: &Span, rs: &Span) -> Option<Expr> {
        use BinaryOp::*;
        let make = |l: Expr, r: Expr, ty| {
            Some(typed(
                ExprKind::Binary {
                    op,
                    left: Box::new(l),
                    right: Box::new(r),
                },
                ty,
            ))
        };
        match op {
            And | Or => {
                let name = if op == And { "`and`" } else { "`or`" };
                let left_ok = self.require_bool(&l, ls, name);
                let right_ok = self.require_bool(&r, rs, name);
                left_ok?;
                right_ok?;
                make(l, r, DataType::Bool)
            }
            Eq | NotEq | Lt | LtEq | Gt | GtEq => {
                let ordered = !matches!(op, Eq | NotEq);
                let op_text = format!("`{}`", op_symbol(op));
                if !compatible(&l.ty, &r.ty)
                    || (ordered && (l.ty == DataType::Bool || r.ty == DataType::Bool))
                {
                    let d = self.mismatch(&l.ty, &r.ty, ls, rs, &op_text);
                    return self.report(d);
                }
                let (l, r) = widen_pair(l, r);
                make(l, r, DataType::Bool)
            }
            Add | Sub | Mul | Div | Mod => {
                let op_text = format!("`{}`", op_symbol(op));
                let left_ok = self.require_number(&l, ls, &op_text);
                let right_ok = self.require_number(&r, rs, &op_text);
                left_ok?;
                right_ok?;
                let (l, r) = widen_pair(l, r);
                let ty = if l.ty == DataType::Null {
                    r.ty.clone()
                } else {
                    l.ty.clone()
                };
                make(l, r, ty)
            }
        }
    }

    // ----- names -----

    fn path(&mut self, path: &[Ident]) -> Option<Expr> {
        let first = path.first()?;
        match self.scope {
            Scope::Event { stream, .. } => self.field(stream, path),
            Scope::Step { steps, current } => {
                if let Some(j) = steps.iter().position(|s| s.name == first.name) {
                    return self.step_field(steps, j, Some(current), path);
                }
                let stream = steps.get(current)?.stream?;
                if path.len() > 1 && !catalog::field_exists(stream, &first.name) {
                    return self.unknown_step(steps, first, stream);
                }
                self.field(stream, path)
            }
            Scope::WindowOut { stream, key } => {
                if let Some(e) = key_ref(key, path) {
                    return Some(e);
                }
                if catalog::field_exists(stream, &first.name) {
                    let d = self
                        .error(
                            codes::BARE_FIELD_IN_WINDOW,
                            first.span.clone(),
                            format!("field `{}` is neither a key nor inside an aggregate", first.name),
                            "a window has many events; which one's value?",
                        )
                        .with_help(format!(
                            "wrap it in an aggregate such as `last({0})`, `count_distinct({0})`, or add it to `by`",
                            path_text(path)
                        ));
                    return self.report(d);
                }
                let mut names: Vec<&str> = key
                    .map(|k| k.parts.iter().map(|p| p.name.as_str()).collect())
                    .unwrap_or_default();
                names.extend(stream.fields.iter().map(|f| f.name.as_str()));
                let help = suggest::did_you_mean(&first.name, names.iter()).unwrap_or_else(|| {
                    format!(
                        "here you can read the keys and aggregates over the fields of `{}`",
                        stream.name
                    )
                });
                let d = self
                    .error(
                        codes::UNKNOWN_NAME,
                        first.span.clone(),
                        format!("unknown name `{}`", first.name),
                        format!("not a key or a field of `{}`", stream.name),
                    )
                    .with_help(help);
                self.report(d)
            }
            Scope::PatternOut { steps, key } => {
                if let Some(j) = steps.iter().position(|s| s.name == first.name) {
                    return self.step_field(steps, j, None, path);
                }
                if let Some(e) = key_ref(key, path) {
                    return Some(e);
                }
                self.unknown_in_pattern(steps, key, path)
            }
        }
    }

    /// `g.ip` where `g` is neither a step nor a record field.
    fn unknown_step(
        &mut self,
        steps: &[StepInfo],
        name: &Ident,
        stream: &StreamPlan,
    ) -> Option<Expr> {
        let names: Vec<&str> = steps
            .iter()
            .map(|s| s.name.as_str())
            .filter(|n| !n.starts_with('_'))
            .collect();
        let list = if names.is_empty() {
            "no step of this pattern has a name; name one with `f: stream`".to_string()
        } else {
            format!("named steps: {}", names.join(", "))
        };
        let help = match suggest::closest(&name.name, names.iter()) {
            Some(c) => format!("did you mean `{c}`? {list}"),
            None => list,
        };
        let d = self
            .error(
                codes::UNKNOWN_NAME,
                name.span.clone(),
                format!("unknown step `{}`", name.name),
                format!(
                    "not a step of this pattern, nor a record field of `{}`",
                    stream.name
                ),
            )
            .with_help(help);
        self.report(d)
    }

    fn field(&mut self, stream: &StreamPlan, path: &[Ident]) -> Option<Expr> {
        match catalog::resolve_path(self.file, stream, path) {
            Ok((names, ty)) => Some(typed(ExprKind::Field(names), ty)),
            Err(d) => self.report(d),
        }
    }

    /// `f.ip`: the latest event of step `j`. `current` is the step whose
    /// condition this is (`None` in `emit`, where every step is visible).
    fn step_field(
        &mut self,
        steps: &[StepInfo],
        j: usize,
        current: Option<usize>,
        path: &[Ident],
    ) -> Option<Expr> {
        let first = &path[0];
        self.step_visible(steps, j, current, first)?;
        if path.len() == 1 {
            let d = self
                .error(
                    codes::STEP_AS_VALUE,
                    first.span.clone(),
                    format!("step `{}` is not a value", first.name),
                    "a step, not a field",
                )
                .with_help(format!(
                    "read one of its fields, like `{0}.<field>`, or count its events with `count({0})`",
                    first.name
                ));
            return self.report(d);
        }
        let stream = steps[j].stream?;
        match catalog::resolve_path(self.file, stream, &path[1..]) {
            Ok((names, ty)) => Some(typed(
                ExprKind::StepField {
                    step: j,
                    path: names,
                },
                ty,
            )),
            Err(d) => self.report(d),
        }
    }

    fn step_visible(
        &mut self,
        steps: &[StepInfo],
        j: usize,
        current: Option<usize>,
        name: &Ident,
    ) -> Option<()> {
        if steps[j].negated {
            let d = self
                .error(
                    codes::STEP_AS_VALUE,
                    name.span.clone(),
                    format!(
                        "step `{}` is a `not` step and never takes an event",
                        name.name
                    ),
                    "nothing to read",
                )
                .with_help("only steps that match events can be read");
            self.diags.push(d);
            return None;
        }
        match current {
            Some(c) if j == c => {
                let d = self
                    .error(
                        codes::STEP_NOT_EARLIER,
                        name.span.clone(),
                        format!("step `{}` refers to itself", name.name),
                        "this is the step being matched",
                    )
                    .with_help("a step's own fields are read without a prefix: write `ip`, not `f.ip`; to compare with an earlier event, name an earlier step");
                self.diags.push(d);
                None
            }
            Some(c) if j > c => {
                let d = self
                    .error(
                        codes::STEP_NOT_EARLIER,
                        name.span.clone(),
                        format!("step `{}` comes later in the pattern", name.name),
                        "not matched yet when this condition runs",
                    )
                    .with_help(format!(
                        "a condition can only read earlier steps; move the condition to step `{}`",
                        name.name
                    ));
                self.diags.push(d);
                None
            }
            _ => Some(()),
        }
    }

    fn unknown_in_pattern(
        &mut self,
        steps: &[StepInfo],
        key: Option<&KeyPlan>,
        path: &[Ident],
    ) -> Option<Expr> {
        let first = &path[0];
        let owner = steps.iter().find(|s| {
            !s.negated
                && s.stream
                    .is_some_and(|st| catalog::field_exists(st, &first.name))
        });
        let help = match owner {
            Some(step) => format!(
                "fields are read through a step: `{0}: {1}.{0}`",
                first.name, step.name
            ),
            None => {
                let mut names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
                if let Some(k) = key {
                    names.extend(k.parts.iter().map(|p| p.name.as_str()));
                }
                suggest::did_you_mean(&first.name, names.iter()).unwrap_or_else(|| {
                    "here you can read keys, `step.field`, and aggregates like `count(step)`".into()
                })
            }
        };
        let d = self
            .error(
                codes::UNKNOWN_NAME,
                first.span.clone(),
                format!("unknown name `{}`", first.name),
                "not a key or a step of this pattern",
            )
            .with_help(help);
        self.report(d)
    }

    // ----- calls -----

    fn call(&mut self, func: &Ident, args: &[ast::Expr], span: Span) -> Option<Expr> {
        if let Some((_, f)) = ScalarFunc::ALL.iter().find(|(n, _)| *n == func.name) {
            return self.scalar(*f, func, args, span);
        }
        if AggFunc::NAMES.contains(&func.name.as_str()) {
            return self.aggregate(func, args, span);
        }
        let mut names: Vec<&str> = ScalarFunc::ALL.iter().map(|(n, _)| *n).collect();
        names.extend(AggFunc::NAMES);
        let help = suggest::did_you_mean(&func.name, names.iter())
            .unwrap_or_else(|| format!("functions are: {}", names.join(", ")));
        let d = self
            .error(
                codes::UNKNOWN_FUNCTION,
                func.span.clone(),
                format!("unknown function `{}`", func.name),
                "no function has this name",
            )
            .with_help(help);
        self.report(d)
    }

    fn arity(
        &mut self,
        func: &Ident,
        args: &[ast::Expr],
        span: &Span,
        expected: usize,
        usage: &str,
    ) -> Option<()> {
        if args.len() == expected {
            return Some(());
        }
        let plural = if expected == 1 { "" } else { "s" };
        let d = self
            .error(
                codes::BAD_ARGUMENTS,
                span.clone(),
                format!(
                    "`{}` takes {expected} argument{plural}, found {}",
                    func.name,
                    args.len()
                ),
                "wrong number of arguments",
            )
            .with_help(format!("write it as `{usage}`"));
        self.diags.push(d);
        None
    }

    fn scalar(
        &mut self,
        f: ScalarFunc,
        func: &Ident,
        args: &[ast::Expr],
        span: Span,
    ) -> Option<Expr> {
        use ScalarFunc::*;
        let (params, usage, result): (&[&str], &str, DataType) = match f {
            Lower => (&["string"], "lower(s)", DataType::String),
            Upper => (&["string"], "upper(s)", DataType::String),
            Contains => (
                &["string", "string"],
                "contains(s, \"part\")",
                DataType::Bool,
            ),
            StartsWith => (
                &["string", "string"],
                "starts_with(s, \"prefix\")",
                DataType::Bool,
            ),
            EndsWith => (
                &["string", "string"],
                "ends_with(s, \"suffix\")",
                DataType::Bool,
            ),
            Matches => (
                &["string", "pattern"],
                "matches(s, \"regex\")",
                DataType::Bool,
            ),
            Length => (&["string"], "length(s)", DataType::Int),
            Abs => (&["number"], "abs(x)", DataType::Null),
        };
        self.arity(func, args, &span, params.len(), usage)?;
        let checked: Vec<Option<Expr>> = args.iter().map(|a| self.check(a)).collect();
        let mut out = Vec::with_capacity(args.len());
        let mut ok = true;
        for ((arg, ast_arg), param) in checked.into_iter().zip(args).zip(params) {
            let Some(arg) = arg else {
                ok = false;
                continue;
            };
            let fits = match *param {
                "string" => matches!(arg.ty, DataType::String | DataType::Null),
                "number" => arg.ty.is_numeric() || arg.ty == DataType::Null,
                _ => matches!(ast_arg.kind, ast::ExprKind::String(_)),
            };
            if !fits {
                let found = type_name(&arg.ty);
                let (message, help) = match *param {
                    "pattern" => (
                        "expected a string literal as the regular expression".to_string(),
                        "the pattern must be written in quotes in the rule, like `matches(path, \"^/admin\")`".to_string(),
                    ),
                    "number" => (format!("expected a number, found {found}"), format!("write it as `{usage}`")),
                    _ => (format!("expected string, found {found}"), format!("write it as `{usage}`")),
                };
                let d = self
                    .error(
                        codes::TYPE_MISMATCH,
                        ast_arg.span.clone(),
                        message,
                        format!("argument of `{}`", func.name),
                    )
                    .with_help(help);
                self.diags.push(d);
                ok = false;
                continue;
            }
            if let ("pattern", ast::ExprKind::String(pattern)) = (*param, &ast_arg.kind) {
                if let Some(d) = super::regexp::check(self.file, &ast_arg.span, pattern) {
                    self.diags.push(d);
                    ok = false;
                    continue;
                }
            }
            out.push(arg);
        }
        if !ok {
            return None;
        }
        let ty = if f == Abs { out[0].ty.clone() } else { result };
        Some(typed(ExprKind::Call { func: f, args: out }, ty))
    }

    fn aggregate(&mut self, func: &Ident, args: &[ast::Expr], span: Span) -> Option<Expr> {
        if let Scope::Event { no_aggregate, .. } = self.scope {
            let d = self
                .error(
                    codes::AGGREGATE_NOT_ALLOWED,
                    func.span.clone(),
                    format!("aggregate `{}` is not allowed here", func.name),
                    "there is one event here, nothing to aggregate",
                )
                .with_help(no_aggregate);
            return self.report(d);
        }
        let (agg, value_args) = self.agg_func(func, args, &span)?;
        let max_args = 1;
        let min_args = if agg == AggFunc::Count { 0 } else { 1 };
        if value_args.len() < min_args || value_args.len() > max_args {
            let usage = match self.scope {
                Scope::WindowOut { .. } => format!("{}(field)", func.name),
                _ => format!("{}(step.field)", func.name),
            };
            let usage = if agg == AggFunc::Count {
                "count() or count(step)".to_string()
            } else {
                usage
            };
            let d = self
                .error(
                    codes::BAD_ARGUMENTS,
                    span.clone(),
                    format!(
                        "`{}` takes one value to aggregate, found {}",
                        func.name,
                        value_args.len()
                    ),
                    "wrong number of arguments",
                )
                .with_help(format!("write it as `{usage}`"));
            return self.report(d);
        }
        let (step, arg) = match self.scope {
            Scope::WindowOut { stream, .. } => {
                let mut inner = ExprChecker {
                    diags: &mut *self.diags,
                    file: self.file,
                    scope: Scope::Event {
                        stream,
                        no_aggregate: "aggregates cannot be nested",
                    },
                };
                let arg = match value_args.first() {
                    Some(a) => Some(inner.check(a)?),
                    None => None,
                };
                (None, arg)
            }
            Scope::Step { steps, current } => {
                self.step_aggregate(func, agg, value_args.first(), steps, Some(current), &span)?
            }
            Scope::PatternOut { steps, .. } => {
                self.step_aggregate(func, agg, value_args.first(), steps, None, &span)?
            }
            Scope::Event { .. } => return None,
        };
        let arg_ty = arg.as_ref().map_or(DataType::Int, |a| a.ty.clone());
        let ty = match agg {
            AggFunc::Count | AggFunc::CountDistinct => DataType::Int,
            AggFunc::Sum | AggFunc::Avg | AggFunc::Percentile(_) => {
                if !(arg_ty.is_numeric() || arg_ty == DataType::Null) {
                    let found = type_name(&arg_ty);
                    let d = self
                        .error(
                            codes::TYPE_MISMATCH,
                            value_args[0].span.clone(),
                            format!("expected a number, found {found}"),
                            format!("`{}` needs numbers", func.name),
                        )
                        .with_help(
                            "`count_distinct`, `min`, `max`, `first` and `last` work on any type",
                        );
                    return self.report(d);
                }
                if agg == AggFunc::Sum {
                    arg_ty
                } else {
                    DataType::Float
                }
            }
            AggFunc::Min | AggFunc::Max | AggFunc::First | AggFunc::Last => arg_ty,
        };
        Some(typed(
            ExprKind::Aggregate {
                func: agg,
                step,
                arg: arg.map(Box::new),
            },
            ty,
        ))
    }

    /// The aggregate function and the arguments that are values (the
    /// fraction of `percentile` is part of the function).
    fn agg_func<'e>(
        &mut self,
        func: &Ident,
        args: &'e [ast::Expr],
        span: &Span,
    ) -> Option<(AggFunc, &'e [ast::Expr])> {
        let agg = match func.name.as_str() {
            "count" => AggFunc::Count,
            "count_distinct" => AggFunc::CountDistinct,
            "sum" => AggFunc::Sum,
            "avg" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "first" => AggFunc::First,
            "last" => AggFunc::Last,
            "p50" => AggFunc::Percentile(0.5),
            "p90" => AggFunc::Percentile(0.9),
            "p95" => AggFunc::Percentile(0.95),
            "p99" => AggFunc::Percentile(0.99),
            _ => {
                let fraction = match args {
                    [_, f] => match f.kind {
                        ast::ExprKind::Float(x) => Some(x),
                        ast::ExprKind::Int(i) => Some(i as f64),
                        _ => None,
                    },
                    _ => None,
                };
                return match fraction {
                    Some(p) if (0.0..=1.0).contains(&p) => {
                        Some((AggFunc::Percentile(p), &args[..1]))
                    }
                    _ => {
                        let d = self
                            .error(
                                codes::BAD_ARGUMENTS,
                                span.clone(),
                                "expected `percentile(value, fraction)` with a fraction between 0 and 1",
                                "bad percentile",
                            )
                            .with_help("for example `percentile(amount, 0.95)`, or the shorthands p50, p90, p95, p99");
                        self.diags.push(d);
                        None
                    }
                };
            }
        };
        Some((agg, args))
    }

    /// `count(f)`, `sum(f.amount)`: an aggregate over a pattern step.
    fn step_aggregate(
        &mut self,
        func: &Ident,
        agg: AggFunc,
        arg: Option<&ast::Expr>,
        steps: &[StepInfo],
        current: Option<usize>,
        span: &Span,
    ) -> Option<(Option<usize>, Option<Expr>)> {
        let path = match arg.map(|a| &a.kind) {
            Some(ast::ExprKind::Path(p)) => Some(p),
            _ => None,
        };
        let step = path.and_then(|p| steps.iter().position(|s| s.name == p[0].name));
        let (Some(path), Some(j)) = (path, step) else {
            let example = steps
                .iter()
                .find(|s| !s.negated)
                .map_or("f", |s| s.name.as_str());
            let d = self
                .error(
                    codes::BAD_ARGUMENTS,
                    arg.map_or(span.clone(), |a| a.span.clone()),
                    format!("expected a pattern step in `{}`", func.name),
                    "in a pattern, aggregates read the events of a step",
                )
                .with_help(format!(
                    "write `count({example})` or `{}({example}.field)`",
                    func.name
                ));
            self.diags.push(d);
            return None;
        };
        self.step_visible(steps, j, current, &path[0])?;
        if path.len() == 1 {
            if agg == AggFunc::Count {
                return Some((Some(j), None));
            }
            let d = self
                .error(
                    codes::BAD_ARGUMENTS,
                    path[0].span.clone(),
                    format!("`{}` needs a field of step `{}`", func.name, path[0].name),
                    "a step, not a value",
                )
                .with_help(format!("write `{}({}.field)`", func.name, path[0].name));
            self.diags.push(d);
            return None;
        }
        let stream = steps[j].stream?;
        match catalog::resolve_path(self.file, stream, &path[1..]) {
            Ok((names, ty)) => Some((Some(j), Some(typed(ExprKind::Field(names), ty)))),
            Err(d) => {
                self.diags.push(d);
                None
            }
        }
    }
}

fn key_ref(key: Option<&KeyPlan>, path: &[Ident]) -> Option<Expr> {
    if path.len() != 1 {
        return None;
    }
    let key = key?;
    let i = key.parts.iter().position(|p| p.name == path[0].name)?;
    Some(typed(ExprKind::Key(i), key.parts[i].ty.clone()))
}

fn path_text(path: &[Ident]) -> String {
    path.iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether two types can be compared or listed together.
fn compatible(a: &DataType, b: &DataType) -> bool {
    match (a, b) {
        (DataType::Null, _) | (_, DataType::Null) => true,
        (DataType::Record(_), _) | (_, DataType::Record(_)) => false,
        _ => a == b || (a.is_numeric() && b.is_numeric()),
    }
}

/// Int op Float: the int side becomes a `Cast` to Float.
fn widen_pair(l: Expr, r: Expr) -> (Expr, Expr) {
    match (&l.ty, &r.ty) {
        (DataType::Int, DataType::Float) => (cast_to_float(l), r),
        (DataType::Float, DataType::Int) => (l, cast_to_float(r)),
        _ => (l, r),
    }
}

pub fn op_symbol(op: BinaryOp) -> &'static str {
    use BinaryOp::*;
    match op {
        And => "and",
        Or => "or",
        Eq => "==",
        NotEq => "!=",
        Lt => "<",
        LtEq => "<=",
        Gt => ">",
        GtEq => ">=",
        Add => "+",
        Sub => "-",
        Mul => "*",
        Div => "/",
        Mod => "%",
    }
}
