//! Checked expressions back to rule text: `kind == "login_ok" and ip != f.ip`.
//! Implicit casts are invisible (the analyst did not write them), and
//! parentheses appear only where precedence needs them.

use dsl::plan::{AggFunc, BinaryOp, DataType, Expr, ExprKind, Literal, ScalarFunc, UnaryOp};

/// Names that expressions refer to by index.
pub struct Names<'a> {
    /// Pattern step names by `StepId` (empty outside patterns).
    pub steps: Vec<&'a str>,
    /// Key part names by index.
    pub key: Vec<&'a str>,
}

/// Binding strength, loosest first, as the parser reads them.
fn precedence(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 1,
        BinaryOp::And => 2,
        BinaryOp::Eq
        | BinaryOp::NotEq
        | BinaryOp::Lt
        | BinaryOp::LtEq
        | BinaryOp::Gt
        | BinaryOp::GtEq => 4,
        BinaryOp::Add | BinaryOp::Sub => 5,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 6,
    }
}

/// Above every binary operator: literals, fields, calls.
const ATOM: u8 = 9;
/// `not x` binds looser than comparisons and tighter than `and`.
const NOT: u8 = 3;

fn operator(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::And => "and",
        BinaryOp::Or => "or",
        BinaryOp::Eq => "==",
        BinaryOp::NotEq => "!=",
        BinaryOp::Lt => "<",
        BinaryOp::LtEq => "<=",
        BinaryOp::Gt => ">",
        BinaryOp::GtEq => ">=",
        BinaryOp::Add => "+",
        BinaryOp::Sub => "-",
        BinaryOp::Mul => "*",
        BinaryOp::Div => "/",
        BinaryOp::Mod => "%",
    }
}

/// `expr` as rule text.
pub fn render(expr: &Expr, names: &Names<'_>) -> String {
    render_with(expr, names).0
}

/// The text and the binding strength of its outermost operator.
fn render_with(expr: &Expr, names: &Names<'_>) -> (String, u8) {
    match &expr.kind {
        ExprKind::Literal(literal) => (render_literal(literal), ATOM),
        ExprKind::Field(path) => (path.join("."), ATOM),
        ExprKind::StepField { step, path } => (
            format!("{}.{}", step_name(names, *step), path.join(".")),
            ATOM,
        ),
        ExprKind::Key(index) => (
            names.key.get(*index).copied().unwrap_or("?").to_string(),
            ATOM,
        ),
        ExprKind::Aggregate { func, step, arg } => {
            (render_aggregate(*func, *step, arg.as_deref(), names), ATOM)
        }
        ExprKind::Unary { op, expr } => match op {
            UnaryOp::Not => (format!("not {}", operand(expr, NOT, names)), NOT),
            UnaryOp::Neg => (format!("-{}", operand(expr, ATOM, names)), ATOM),
        },
        ExprKind::Binary { op, left, right } => {
            let p = precedence(*op);
            // Left-associative: the right operand needs parentheses at equal strength.
            let text = format!(
                "{} {} {}",
                operand(left, p, names),
                operator(*op),
                operand(right, p + 1, names)
            );
            (text, p)
        }
        ExprKind::InList {
            expr,
            list,
            negated,
        } => {
            let items: Vec<String> = list.iter().map(|e| render(e, names)).collect();
            let keyword = if *negated { "not in" } else { "in" };
            (
                format!(
                    "{} {keyword} ({})",
                    operand(expr, 5, names),
                    items.join(", ")
                ),
                4,
            )
        }
        ExprKind::IsNull { expr, negated } => {
            let keyword = if *negated { "is not null" } else { "is null" };
            (format!("{} {keyword}", operand(expr, 5, names),), 4)
        }
        ExprKind::Call { func, args } => {
            let args: Vec<String> = args.iter().map(|e| render(e, names)).collect();
            (
                format!("{}({})", function_name(*func), args.join(", ")),
                ATOM,
            )
        }
        ExprKind::Cast { expr, .. } => render_with(expr, names),
    }
}

/// `expr` in a place that binds with strength `needed`.
fn operand(expr: &Expr, needed: u8, names: &Names<'_>) -> String {
    let (text, strength) = render_with(expr, names);
    if strength < needed {
        format!("({text})")
    } else {
        text
    }
}

fn step_name<'a>(names: &Names<'a>, step: usize) -> &'a str {
    names.steps.get(step).copied().unwrap_or("?")
}

fn render_aggregate(
    func: AggFunc,
    step: Option<usize>,
    arg: Option<&Expr>,
    names: &Names<'_>,
) -> String {
    let prefix = step.map(|s| format!("{}.", step_name(names, s)));
    let argument = match (arg, &prefix) {
        // `count(f)`: a step's events, no field.
        (None, Some(prefix)) => prefix.trim_end_matches('.').to_string(),
        (None, None) => String::new(),
        (Some(arg), prefix) => {
            format!("{}{}", prefix.as_deref().unwrap_or(""), render(arg, names))
        }
    };
    match func {
        AggFunc::Percentile(fraction) => format!("percentile({argument}, {fraction})"),
        _ => format!("{}({argument})", aggregate_name(func)),
    }
}

pub fn aggregate_name(func: AggFunc) -> &'static str {
    match func {
        AggFunc::Count => "count",
        AggFunc::CountDistinct => "count_distinct",
        AggFunc::Sum => "sum",
        AggFunc::Avg => "avg",
        AggFunc::Min => "min",
        AggFunc::Max => "max",
        AggFunc::First => "first",
        AggFunc::Last => "last",
        AggFunc::Percentile(_) => "percentile",
    }
}

fn function_name(func: ScalarFunc) -> &'static str {
    ScalarFunc::ALL
        .iter()
        .find(|(_, f)| *f == func)
        .map(|(name, _)| *name)
        .unwrap_or("?")
}

fn render_literal(literal: &Literal) -> String {
    match literal {
        Literal::String(s) => format!("{s:?}"),
        Literal::Int(i) => i.to_string(),
        // `{:?}` keeps the `.0` of whole floats, as they were written.
        Literal::Float(f) => format!("{f:?}"),
        Literal::Bool(b) => b.to_string(),
        Literal::Null => "null".into(),
    }
}

/// A type as the stream declarations write it.
pub fn type_name(ty: &DataType) -> String {
    match ty {
        DataType::String => "string".into(),
        DataType::Int => "int".into(),
        DataType::Float => "float".into(),
        DataType::Bool => "bool".into(),
        DataType::Timestamp => "timestamp".into(),
        DataType::Null => "null".into(),
        DataType::Record(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| {
                    format!(
                        "{} {}{}",
                        f.name,
                        type_name(&f.ty),
                        if f.nullable { "?" } else { "" }
                    )
                })
                .collect();
            format!("({})", inner.join(", "))
        }
    }
}

/// A duration as rules write it.
pub use dsl::plan::rule_duration as duration;

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, ty: DataType) -> Expr {
        Expr {
            kind: ExprKind::Field(vec![name.into()]),
            ty,
        }
    }

    fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
        Expr {
            kind: ExprKind::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
            },
            ty: DataType::Bool,
        }
    }

    #[test]
    fn parentheses_only_where_precedence_needs_them() {
        let names = Names {
            steps: vec![],
            key: vec![],
        };
        let a = field("a", DataType::Bool);
        let b = field("b", DataType::Bool);
        let c = field("c", DataType::Bool);
        let or = binary(BinaryOp::Or, a.clone(), b.clone());
        assert_eq!(
            render(&binary(BinaryOp::And, or, c.clone()), &names),
            "(a or b) and c"
        );
        let and = binary(BinaryOp::And, b, c);
        assert_eq!(
            render(&binary(BinaryOp::Or, a, and), &names),
            "a or b and c"
        );
    }

    #[test]
    fn durations_use_the_largest_whole_unit() {
        assert_eq!(duration(600_000), "10m");
        assert_eq!(duration(7_200_000), "2h");
        assert_eq!(duration(1_500), "1500ms");
    }
}
