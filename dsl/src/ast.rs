//! The syntax tree, as written, with byte spans. Parts the parser could not
//! read are absent (`None`) or `ExprKind::Error`, so the checker can still
//! look at the rest.

use crate::diagnostic::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    pub streams: Vec<StreamDecl>,
    pub rules: Vec<RuleDecl>,
    /// Names of streams whose declaration did not parse: rules that read
    /// them are not also told the stream is unknown.
    pub broken_streams: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamDecl {
    pub name: Ident,
    pub fields: Vec<FieldDecl>,
    pub time: Option<Ident>,
    pub lateness: Option<Duration>,
    pub ahead: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldDecl {
    pub name: Ident,
    pub ty: TypeExpr,
    pub nullable: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeExpr {
    Named(Ident),
    Record(Vec<FieldDecl>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration {
    pub millis: i64,
}

/// A duration with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleDecl {
    pub name: Option<Ident>,
    /// The `rule` keyword and name, for errors about the rule as a whole.
    pub head: Span,
    pub severity: Option<Ident>,
    /// `owner "team"`: who answers for the rule's derived events.
    pub owner: Option<Spanned<String>>,
    /// `classification public | internal | restricted`.
    pub classification: Option<Ident>,
    pub from: Option<FromClause>,
    pub by: Option<ByClause>,
    pub pattern: Option<PatternClause>,
    pub within: Option<Spanned<Duration>>,
    pub window: Option<Spanned<WindowDecl>>,
    pub having: Option<Spanned<Expr>>,
    pub emit: Option<EmitDecl>,
    pub suppress: Option<Spanned<Duration>>,
    /// The token that ended the rule (next `rule`/`stream`, or end of
    /// file), for "expected `emit`, found ..." messages.
    pub end: Option<(String, Span)>,
    /// The parser reported errors inside this rule, so a missing clause may
    /// just be one it could not read.
    pub had_errors: bool,
    /// Every clause keyword written in the rule, even where the clause
    /// itself did not parse, so the checker does not also call it missing.
    pub written: Vec<&'static str>,
}

impl RuleDecl {
    pub fn wrote(&self, clause: &str) -> bool {
        self.written.contains(&clause)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FromClause {
    pub keyword: Span,
    pub stream: Ident,
    pub filter: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ByClause {
    pub keyword: Span,
    pub keys: Vec<KeyDecl>,
}

/// `user_id`, `device.os`, or `auth.user_id = payments.owner`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyDecl {
    pub paths: Vec<Vec<Ident>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatternClause {
    pub keyword: Span,
    pub pattern: Pattern,
    /// The token right after the pattern, for "expected `within` after the
    /// pattern, found ...".
    pub next: (String, Span),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub kind: PatternKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PatternKind {
    Step(StepDecl),
    /// `not X`, with the span of the `not` keyword.
    Not(Box<Pattern>, Span),
    Group(Box<Pattern>),
    All(Vec<Pattern>),
    Seq(Vec<Pattern>),
    Alt(Vec<Pattern>),
    Repeat {
        inner: Box<Pattern>,
        quantifier: Spanned<Quantifier>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantifier {
    pub min: u32,
    pub max: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepDecl {
    pub name: Option<Ident>,
    pub stream: Ident,
    pub filter: Option<Expr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowDecl {
    Tumbling(Duration),
    Hopping(Duration, Duration),
    Session(Duration),
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmitDecl {
    pub keyword: Span,
    pub name: Ident,
    pub fields: Vec<EmitFieldDecl>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmitFieldDecl {
    /// `None` for the shorthand `a` (meaning `a: a`).
    pub name: Option<Ident>,
    pub expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    /// `a`, `a.b`, `f.ip`: resolved by the checker.
    Path(Vec<Ident>),
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    /// Text the parser could not read; already reported.
    Error,
}

pub use crate::plan::{BinaryOp, UnaryOp};
