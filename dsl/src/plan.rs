//! The checked plan: what `check` hands to the operators.
//!
//! Everything here is resolved and typed: names point at streams, steps and
//! fields that exist, every expression carries its type, and implicit
//! numeric widenings are explicit `Cast` nodes. The operators compile this
//! plan and never see rule text or spans.

/// Event time and durations are whole milliseconds since the Unix epoch.
pub type Millis = i64;

/// How far ahead of the wall clock an event may be when its stream does not
/// say (`ahead 1d`). One event stamped in the far future would otherwise
/// move its stream's watermark there and make every later event late.
pub const DEFAULT_AHEAD: Millis = 86_400_000;

/// The event times eddy accepts: the years 0000 to 9999, what RFC 3339
/// can write (`0000-01-01T00:00:00.000Z` to `9999-12-31T23:59:59.999Z`).
pub const TIME_RANGE: std::ops::RangeInclusive<Millis> = -62_167_219_200_000..=253_402_300_799_999;

/// The name of the event-time field of every derived stream.
pub const DERIVED_TIME_FIELD: &str = "time";

/// A value type of the rule language.
#[derive(Debug, Clone, PartialEq)]
pub enum DataType {
    String,
    Int,
    Float,
    Bool,
    Timestamp,
    /// A nested record, reached with dots (`device.os`).
    Record(Vec<Field>),
    /// The type of the literal `null`: compatible with every type.
    Null,
}

impl DataType {
    pub fn is_numeric(&self) -> bool {
        matches!(self, DataType::Int | DataType::Float)
    }
}

/// A field of a stream or of a nested record.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub ty: DataType,
    /// Declared with `?`: the value may be null or absent.
    pub nullable: bool,
}

/// A stream: declared with `stream`, or the derived events of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPlan {
    pub name: String,
    pub fields: Vec<Field>,
    /// The event-time field (a top-level `timestamp` field).
    pub time_field: String,
    /// How far out of order events may arrive.
    pub lateness: Millis,
    /// How far ahead of the wall clock an event's time may be; later ones
    /// are refused as `future` (see [`DEFAULT_AHEAD`]).
    pub ahead: Millis,
    /// `Some(rule index)` when this stream is the derived events of a rule:
    /// its fields are the rule's emitted fields plus [`DERIVED_TIME_FIELD`].
    pub derived_from: Option<usize>,
}

/// Every stream known to a rule set: the declared ones in declaration order,
/// then one per distinct `emit` name in rule order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Catalog {
    pub streams: Vec<StreamPlan>,
}

impl Catalog {
    pub fn stream(&self, name: &str) -> Option<&StreamPlan> {
        self.streams.iter().find(|s| s.name == name)
    }

    pub fn stream_index(&self, name: &str) -> Option<usize> {
        self.streams.iter().position(|s| s.name == name)
    }
}

/// A whole checked rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub catalog: Catalog,
    /// Rules in an order where every rule comes after the rules whose
    /// derived events it reads (declaration order otherwise).
    pub rules: Vec<RulePlan>,
}

/// `10m`, `30s`, `250ms`, `2h`: a duration in milliseconds as the rule
/// language writes it (the largest unit that divides it).
pub fn rule_duration(millis: Millis) -> String {
    const UNITS: [(Millis, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    UNITS
        .iter()
        .find(|(size, _)| millis != 0 && millis % size == 0)
        .map(|(size, unit)| format!("{}{unit}", millis / size))
        .unwrap_or_else(|| format!("{millis}ms"))
}

impl Program {
    /// The declared (not derived) streams some rule reads, with their
    /// catalog index, in declaration order: what a run must be given.
    pub fn input_streams(&self) -> impl Iterator<Item = (usize, &StreamPlan)> + '_ {
        self.catalog
            .streams
            .iter()
            .enumerate()
            .filter(|(_, stream)| {
                stream.derived_from.is_none()
                    && self
                        .rules
                        .iter()
                        .any(|r| r.inputs().contains(&stream.name.as_str()))
            })
    }
}

/// How sensitive a rule's derived events are, for routing them only to
/// sinks cleared for it (`accepts` in the job's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Classification {
    Public,
    /// A rule that declares none.
    #[default]
    Internal,
    Restricted,
}

impl Classification {
    pub const ALL: [Classification; 3] = [
        Classification::Public,
        Classification::Internal,
        Classification::Restricted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Classification::Public => "public",
            Classification::Internal => "internal",
            Classification::Restricted => "restricted",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl std::fmt::Display for Classification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Who answers for a rule's derived events and how sensitive they are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Governance {
    /// `owner "team"`.
    pub owner: Option<String>,
    pub classification: Classification,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RulePlan {
    pub name: String,
    pub severity: Option<String>,
    pub governance: Governance,
    pub kind: RuleKind,
    pub emit: EmitPlan,
    /// `suppress D`: drop repeats of this rule and key for D after an emission.
    pub suppress: Option<Millis>,
}

impl RulePlan {
    /// The streams this rule reads, without repeats, in first-use order.
    pub fn inputs(&self) -> Vec<&str> {
        let all: Vec<&str> = match &self.kind {
            RuleKind::Simple(s) => vec![s.stream.as_str()],
            RuleKind::Window(w) => vec![w.stream.as_str()],
            RuleKind::Pattern(p) => p.steps.iter().map(|s| s.stream.as_str()).collect(),
        };
        let mut out: Vec<&str> = Vec::with_capacity(all.len());
        for s in all {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    pub fn key(&self) -> Option<&KeyPlan> {
        match &self.kind {
            RuleKind::Simple(_) => None,
            RuleKind::Window(w) => w.key.as_ref(),
            RuleKind::Pattern(p) => p.key.as_ref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// `from S [where C] emit ...`: filter and shape, one derived event per
    /// matching input event.
    Simple(SimplePlan),
    Pattern(PatternPlan),
    Window(WindowPlan),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimplePlan {
    pub stream: String,
    /// Reads the current event only (`ExprKind::Field`).
    pub filter: Option<Expr>,
}

/// `by k1, k2` or `by auth.user_id = payments.owner`: the partition key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPlan {
    pub parts: Vec<KeyPart>,
}

/// One component of the key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPart {
    /// The name `emit` uses for it (the field name, or the left-hand name of
    /// `by a.x = b.y`).
    pub name: String,
    pub ty: DataType,
    /// For every stream the rule reads: the field path holding the key.
    pub per_stream: Vec<(String, Vec<String>)>,
}

impl KeyPart {
    pub fn path_in(&self, stream: &str) -> Option<&[String]> {
        self.per_stream
            .iter()
            .find(|(s, _)| s == stream)
            .map(|(_, p)| p.as_slice())
    }
}

pub type StepId = usize;

#[derive(Debug, Clone, PartialEq)]
pub struct PatternPlan {
    pub key: Option<KeyPlan>,
    /// Every step of the pattern, indexed by [`StepId`], in text order.
    pub steps: Vec<StepPlan>,
    pub root: PatternNode,
    /// `within D`: the last event of a match is at most D after its first.
    pub within: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepPlan {
    /// The name given with `name:`, or `_N` (N = step index) for unnamed steps.
    pub name: String,
    pub stream: String,
    /// The conjuncts of the step's condition that read only the current
    /// event; evaluated a batch at a time.
    pub local: Option<Expr>,
    /// The conjuncts that also read earlier steps (`ExprKind::StepField`,
    /// `ExprKind::Aggregate` over a step); evaluated per candidate.
    pub cross: Option<Expr>,
}

/// The shape of a pattern. Quantifiers wrap any node; `Not` forbids its step
/// between its neighbours in a `Seq` (or, last in the top-level `Seq`, until
/// the `within` window closes).
#[derive(Debug, Clone, PartialEq)]
pub enum PatternNode {
    Step(StepId),
    Not(StepId),
    Seq(Vec<PatternNode>),
    /// `a | b`: the first alternative (in text order) that accepts an event wins.
    Alt(Vec<PatternNode>),
    /// `all(a, b, ...)`: every listed step once, in any order.
    All(Vec<StepId>),
    Repeat {
        node: Box<PatternNode>,
        min: u32,
        /// `None` = unbounded.
        max: Option<u32>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct WindowPlan {
    pub stream: String,
    /// Applied before aggregation; reads the current event only.
    pub filter: Option<Expr>,
    pub key: Option<KeyPlan>,
    pub window: WindowSpec,
    /// Reads `Key` and `Aggregate` (step = None) only.
    pub having: Option<Expr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    /// `[start, start + size)` aligned to the epoch.
    Tumbling { size: Millis },
    /// Windows of `size` starting at every multiple of `slide`.
    Hopping { size: Millis, slide: Millis },
    /// Closes after `gap` without events for the key.
    Session { gap: Millis },
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmitPlan {
    /// The derived event's name: `type` is `eddy.NAME`, and other rules read
    /// it as the stream NAME.
    pub name: String,
    pub fields: Vec<EmitField>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmitField {
    pub name: String,
    pub expr: Expr,
}

/// A typed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: DataType,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    /// A field of the current event; more than one element for nested
    /// records (`device.os` is `["device", "os"]`).
    Field(Vec<String>),
    /// The latest event taken by an earlier pattern step (`f.ip`).
    StepField {
        step: StepId,
        path: Vec<String>,
    },
    /// A component of the partition key (index into `KeyPlan::parts`).
    Key(usize),
    /// `count(f)`, `first(f.ts)`, `sum(f.amount)` over a pattern step's
    /// events (`step = Some`), or `count()`, `count_distinct(user_id)` over a
    /// window's events (`step = None`). `arg` reads the aggregated events
    /// (`ExprKind::Field`).
    Aggregate {
        func: AggFunc,
        step: Option<StepId>,
        arg: Option<Box<Expr>>,
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
    Call {
        func: ScalarFunc,
        args: Vec<Expr>,
    },
    /// An implicit conversion the checker inserted (Int to Float).
    Cast {
        expr: Box<Expr>,
        to: DataType,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    And,
    Or,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarFunc {
    Lower,
    Upper,
    Contains,
    StartsWith,
    EndsWith,
    /// `matches(s, "regex")`: a linear-time regular expression match.
    Matches,
    Length,
    Abs,
}

impl ScalarFunc {
    pub const ALL: &'static [(&'static str, ScalarFunc)] = &[
        ("lower", ScalarFunc::Lower),
        ("upper", ScalarFunc::Upper),
        ("contains", ScalarFunc::Contains),
        ("starts_with", ScalarFunc::StartsWith),
        ("ends_with", ScalarFunc::EndsWith),
        ("matches", ScalarFunc::Matches),
        ("length", ScalarFunc::Length),
        ("abs", ScalarFunc::Abs),
    ];
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AggFunc {
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
    First,
    Last,
    /// `percentile(x, 0.95)`: the fraction is part of the function.
    Percentile(f64),
}

impl AggFunc {
    /// Names as written in rules; `percentile` takes its fraction as a
    /// second, literal argument, and `p50`, `p90`, `p95`, `p99` are shorthands.
    pub const NAMES: &'static [&'static str] = &[
        "count",
        "count_distinct",
        "sum",
        "avg",
        "min",
        "max",
        "first",
        "last",
        "percentile",
        "p50",
        "p90",
        "p95",
        "p99",
    ];
}
