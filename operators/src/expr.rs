//! Lowering checked rule expressions ([`dsl::plan::Expr`]) to DataFusion
//! physical expressions, evaluated a whole record batch at a time.
//!
//! The lowering is structural: operators, literals, casts and functions map
//! one to one onto DataFusion's physical expressions. What a *leaf* means
//! (`Field`, `StepField`, `Key`, `Aggregate`) depends on who evaluates the
//! expression — a filter reads the current event's columns, a window's
//! `having` reads a row of aggregate results, the automaton reads a row of
//! candidate values — so leaves are resolved by a caller-supplied [`Leaves`].
//!
//! Conventions the operators rely on:
//! - Types follow [`crate::schema::arrow_type`]: Int64, Float64, Utf8,
//!   Boolean, Timestamp(Millisecond, None). Where the operands of a binary
//!   operator still differ (a literal `null`, an Int compared with a
//!   Timestamp, a nested field typed differently), the lowering casts to a
//!   common type instead of failing.
//! - Arithmetic is computed in Int64 or Float64 (the type the checker gave
//!   the expression) and cast back to the expression's type, so
//!   `t.ts - f.ts` typed `int` is a plain subtraction of milliseconds.
//! - Division and modulo by zero give null (not an error that would fail
//!   the whole batch).
//! - In predicates null counts as false ([`evaluate_predicate`]).

use std::sync::{Arc, OnceLock};

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::{DataType as ArrowType, Schema, TimeUnit};
use arrow_select::filter::prep_null_mask_filter;
use datafusion_common::config::ConfigOptions;
use datafusion_common::ScalarValue;
use datafusion_expr::{Operator, ScalarUDF};
use datafusion_physical_expr::expressions::{
    BinaryExpr, CastExpr, Column, InListExpr, IsNotNullExpr, IsNullExpr, Literal as LiteralExpr,
    NegativeExpr, NotExpr,
};
use datafusion_physical_expr::{PhysicalExpr, ScalarFunctionExpr};
use dsl::plan::{BinaryOp, DataType, Expr, ExprKind, Literal, ScalarFunc, UnaryOp};

use crate::error::{OperatorError, Result};
use crate::schema::arrow_type;

/// A lowered expression, ready to evaluate against batches of the schema it
/// was lowered for.
pub type PhysExpr = Arc<dyn PhysicalExpr>;

/// Resolves the leaves of an expression: `Field`, `StepField`, `Key` and
/// `Aggregate` (the lowering never descends into an `Aggregate`'s argument;
/// whoever computes the aggregate lowers that on its own).
///
/// Closures `Fn(&Expr, &Schema) -> Result<PhysExpr>` implement it.
pub trait Leaves {
    /// The physical expression standing for `leaf` in batches of `schema`.
    fn leaf(&self, leaf: &Expr, schema: &Schema) -> Result<PhysExpr>;
}

impl<F> Leaves for F
where
    F: Fn(&Expr, &Schema) -> Result<PhysExpr>,
{
    fn leaf(&self, leaf: &Expr, schema: &Schema) -> Result<PhysExpr> {
        self(leaf, schema)
    }
}

/// Resolves `Field(path)` against the input schema: the first element by
/// column name, the rest with `get_field` into nested structs. Any other
/// leaf is a plan error.
#[derive(Debug, Clone, Copy, Default)]
pub struct FieldLeaves;

impl Leaves for FieldLeaves {
    fn leaf(&self, leaf: &Expr, schema: &Schema) -> Result<PhysExpr> {
        match &leaf.kind {
            ExprKind::Field(path) => field_path(path, schema),
            other => Err(unexpected_leaf(other)),
        }
    }
}

/// Resolves leaves by looking them up in a list of bindings to columns:
/// `bind(leaf_kind, column_name)`. Lookup is by structural equality of the
/// [`ExprKind`], so `count()` in `having` and `count()` in `emit` resolve to
/// the same column. Unbound `Field` leaves fall back to [`FieldLeaves`]
/// when [`ColumnLeaves::with_fields`] was called.
#[derive(Debug, Clone, Default)]
pub struct ColumnLeaves {
    bindings: Vec<(ExprKind, String)>,
    fields: bool,
}

impl ColumnLeaves {
    pub fn new() -> Self {
        Self::default()
    }

    /// The leaf `kind` is the column named `column` of the input.
    pub fn bind(mut self, kind: ExprKind, column: impl Into<String>) -> Self {
        self.bindings.push((kind, column.into()));
        self
    }

    /// Adds a binding in place (for building the list in a loop).
    pub fn push(&mut self, kind: ExprKind, column: impl Into<String>) {
        self.bindings.push((kind, column.into()));
    }

    /// Unbound `Field(path)` leaves resolve by column name (as [`FieldLeaves`]).
    pub fn with_fields(mut self) -> Self {
        self.fields = true;
        self
    }
}

impl Leaves for ColumnLeaves {
    fn leaf(&self, leaf: &Expr, schema: &Schema) -> Result<PhysExpr> {
        if let Some((_, column)) = self.bindings.iter().find(|(kind, _)| *kind == leaf.kind) {
            return column_expr(column, schema);
        }
        match &leaf.kind {
            ExprKind::Field(path) if self.fields => field_path(path, schema),
            other => Err(unexpected_leaf(other)),
        }
    }
}

fn unexpected_leaf(kind: &ExprKind) -> OperatorError {
    OperatorError::Plan(format!("no value for {kind:?} in this context"))
}

/// A top-level column by name.
pub fn column_expr(name: &str, schema: &Schema) -> Result<PhysExpr> {
    Ok(Arc::new(Column::new_with_schema(name, schema)?))
}

/// A (possibly nested) field: `["device", "os"]` is column `device`, then
/// its struct field `os`.
pub fn field_path(path: &[String], schema: &Schema) -> Result<PhysExpr> {
    let (first, rest) = path
        .split_first()
        .ok_or_else(|| OperatorError::Plan("empty field path".into()))?;
    let mut expr = column_expr(first, schema)?;
    for name in rest {
        let key: PhysExpr = Arc::new(LiteralExpr::new(ScalarValue::Utf8(Some(name.clone()))));
        expr = call(
            datafusion_functions::core::get_field(),
            vec![expr, key],
            schema,
        )?;
    }
    Ok(expr)
}

/// Lowers `expr` for batches of `schema`, resolving leaves with `leaves`.
pub fn lower(expr: &Expr, schema: &Schema, leaves: &dyn Leaves) -> Result<PhysExpr> {
    Lowering { schema, leaves }.lower(expr)
}

/// Evaluates `expr` over `batch` to one value per row.
pub fn evaluate(expr: &dyn PhysicalExpr, batch: &RecordBatch) -> Result<ArrayRef> {
    Ok(expr.evaluate(batch)?.into_array(batch.num_rows())?)
}

/// Evaluates a boolean `expr` over `batch`; null counts as false, so the
/// result has no nulls and can be handed to `filter_record_batch`.
/// The rows of `batch` for which `predicate` holds (all rows without one).
pub fn filter_batch(predicate: Option<&PhysExpr>, batch: &RecordBatch) -> Result<RecordBatch> {
    match predicate {
        Some(predicate) => {
            let mask = evaluate_predicate(predicate.as_ref(), batch)?;
            Ok(arrow_select::filter::filter_record_batch(batch, &mask)?)
        }
        None => Ok(batch.clone()),
    }
}

pub fn evaluate_predicate(expr: &dyn PhysicalExpr, batch: &RecordBatch) -> Result<BooleanArray> {
    let values = evaluate(expr, batch)?;
    if values.data_type() == &ArrowType::Null {
        // A condition that is the literal `null`: false everywhere.
        return Ok(BooleanArray::from(vec![false; batch.num_rows()]));
    }
    let bools = values
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| {
            OperatorError::Input(format!(
                "predicate evaluated to {}, not bool",
                values.data_type()
            ))
        })?;
    Ok(if bools.null_count() > 0 {
        prep_null_mask_filter(bools)
    } else {
        bools.clone()
    })
}

/// Calls `f` on every leaf of `expr` (`Field`, `StepField`, `Key`,
/// `Aggregate`), in text order, not descending into aggregate arguments.
pub fn for_each_leaf<'a>(expr: &'a Expr, f: &mut dyn FnMut(&'a Expr)) {
    match &expr.kind {
        ExprKind::Literal(_) => {}
        ExprKind::Field(_)
        | ExprKind::StepField { .. }
        | ExprKind::Key(_)
        | ExprKind::Aggregate { .. } => f(expr),
        ExprKind::Unary { expr, .. }
        | ExprKind::Cast { expr, .. }
        | ExprKind::IsNull { expr, .. } => for_each_leaf(expr, f),
        ExprKind::Binary { left, right, .. } => {
            for_each_leaf(left, f);
            for_each_leaf(right, f);
        }
        ExprKind::InList { expr, list, .. } => {
            for_each_leaf(expr, f);
            for item in list {
                for_each_leaf(item, f);
            }
        }
        ExprKind::Call { args, .. } => {
            for arg in args {
                for_each_leaf(arg, f);
            }
        }
    }
}

/// The distinct `Aggregate` leaves of `exprs`, in first-use order.
pub fn distinct_aggregates<'a>(exprs: impl IntoIterator<Item = &'a Expr>) -> Vec<&'a Expr> {
    let mut out: Vec<&Expr> = Vec::new();
    for expr in exprs {
        for_each_leaf(expr, &mut |leaf| {
            if matches!(leaf.kind, ExprKind::Aggregate { .. })
                && !out.iter().any(|seen| seen.kind == leaf.kind)
            {
                out.push(leaf);
            }
        });
    }
    out
}

/// Casts `expr` to `to` unless it already has that type.
pub fn cast_to(expr: PhysExpr, to: &ArrowType, schema: &Schema) -> Result<PhysExpr> {
    if expr.data_type(schema)? == *to {
        return Ok(expr);
    }
    Ok(Arc::new(CastExpr::new(expr, to.clone(), None)))
}

fn config() -> Arc<ConfigOptions> {
    static CONFIG: OnceLock<Arc<ConfigOptions>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| Arc::new(ConfigOptions::default())))
}

fn call(fun: Arc<ScalarUDF>, args: Vec<PhysExpr>, schema: &Schema) -> Result<PhysExpr> {
    Ok(Arc::new(ScalarFunctionExpr::try_new(
        fun,
        args,
        schema,
        config(),
    )?))
}

/// The Arrow type to compute in, or `None` when the rule type has no
/// scalar Arrow type (records, the type of `null`).
fn scalar_arrow_type(ty: &DataType) -> Option<ArrowType> {
    match ty {
        DataType::Record(_) | DataType::Null => None,
        other => Some(arrow_type(other)),
    }
}

const TIMESTAMP_MS: ArrowType = ArrowType::Timestamp(TimeUnit::Millisecond, None);

/// The type two operands of a comparison are brought to.
fn common_type(left: &ArrowType, right: &ArrowType) -> ArrowType {
    use ArrowType::*;
    match (left, right) {
        (l, r) if l == r => l.clone(),
        (Null, other) | (other, Null) => other.clone(),
        (Float64, _) | (_, Float64) => Float64,
        (Timestamp(..), Timestamp(..)) => TIMESTAMP_MS,
        (Timestamp(..), _) | (_, Timestamp(..)) => Int64,
        (Utf8View | LargeUtf8, _) | (_, Utf8View | LargeUtf8) => Utf8,
        (l, _) => l.clone(),
    }
}

/// An expression usable as a number: timestamps are read as their
/// milliseconds.
fn as_number(expr: PhysExpr, to: &ArrowType, schema: &Schema) -> Result<PhysExpr> {
    let expr = if matches!(expr.data_type(schema)?, ArrowType::Timestamp(..)) {
        cast_to(expr, &ArrowType::Int64, schema)?
    } else {
        expr
    };
    cast_to(expr, to, schema)
}

struct Lowering<'a> {
    schema: &'a Schema,
    leaves: &'a dyn Leaves,
}

impl Lowering<'_> {
    fn lower(&self, expr: &Expr) -> Result<PhysExpr> {
        match &expr.kind {
            ExprKind::Literal(lit) => self.literal(lit, &expr.ty),
            ExprKind::Field(_)
            | ExprKind::StepField { .. }
            | ExprKind::Key(_)
            | ExprKind::Aggregate { .. } => self.leaves.leaf(expr, self.schema),
            ExprKind::Unary { op, expr: inner } => {
                let arg = self.lower(inner)?;
                Ok(match op {
                    UnaryOp::Not => Arc::new(NotExpr::new(cast_to(
                        arg,
                        &ArrowType::Boolean,
                        self.schema,
                    )?)),
                    UnaryOp::Neg => Arc::new(NegativeExpr::new(arg)),
                })
            }
            ExprKind::Binary { op, left, right } => self.binary(*op, left, right, &expr.ty),
            ExprKind::InList {
                expr: inner,
                list,
                negated,
            } => {
                let value = self.lower(inner)?;
                let value_type = value.data_type(self.schema)?;
                let items = list
                    .iter()
                    .map(|item| cast_to(self.lower(item)?, &value_type, self.schema))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Arc::new(InListExpr::try_new(
                    value,
                    items,
                    *negated,
                    self.schema,
                )?))
            }
            ExprKind::IsNull {
                expr: inner,
                negated,
            } => {
                let arg = self.lower(inner)?;
                Ok(if *negated {
                    Arc::new(IsNotNullExpr::new(arg))
                } else {
                    Arc::new(IsNullExpr::new(arg))
                })
            }
            ExprKind::Call { func, args } => self.call(*func, args, &expr.ty),
            ExprKind::Cast { expr: inner, to } => {
                let arg = self.lower(inner)?;
                match scalar_arrow_type(to) {
                    Some(to) => cast_to(arg, &to, self.schema),
                    None => Ok(arg),
                }
            }
        }
    }

    fn literal(&self, lit: &Literal, ty: &DataType) -> Result<PhysExpr> {
        let value = match lit {
            Literal::String(s) => ScalarValue::Utf8(Some(s.clone())),
            Literal::Int(i) => ScalarValue::Int64(Some(*i)),
            Literal::Float(f) => ScalarValue::Float64(Some(*f)),
            Literal::Bool(b) => ScalarValue::Boolean(Some(*b)),
            Literal::Null => ScalarValue::Null,
        };
        // The checker may type a literal more precisely than its spelling
        // (an int literal where a timestamp is expected).
        let value = match scalar_arrow_type(ty) {
            Some(to) if to != value.data_type() => value.cast_to(&to)?,
            _ => value,
        };
        Ok(Arc::new(LiteralExpr::new(value)))
    }

    fn binary(&self, op: BinaryOp, left: &Expr, right: &Expr, ty: &DataType) -> Result<PhysExpr> {
        let l = self.lower(left)?;
        let r = self.lower(right)?;
        let schema = self.schema;
        let (operator, arithmetic) = match op {
            BinaryOp::And => (Operator::And, false),
            BinaryOp::Or => (Operator::Or, false),
            BinaryOp::Eq => (Operator::Eq, false),
            BinaryOp::NotEq => (Operator::NotEq, false),
            BinaryOp::Lt => (Operator::Lt, false),
            BinaryOp::LtEq => (Operator::LtEq, false),
            BinaryOp::Gt => (Operator::Gt, false),
            BinaryOp::GtEq => (Operator::GtEq, false),
            BinaryOp::Add => (Operator::Plus, true),
            BinaryOp::Sub => (Operator::Minus, true),
            BinaryOp::Mul => (Operator::Multiply, true),
            BinaryOp::Div => (Operator::Divide, true),
            BinaryOp::Mod => (Operator::Modulo, true),
        };
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            let l = cast_to(l, &ArrowType::Boolean, schema)?;
            let r = cast_to(r, &ArrowType::Boolean, schema)?;
            return Ok(Arc::new(BinaryExpr::new(l, operator, r)));
        }
        if !arithmetic {
            let common = common_type(&l.data_type(schema)?, &r.data_type(schema)?);
            let l = cast_to(l, &common, schema)?;
            let r = cast_to(r, &common, schema)?;
            return Ok(Arc::new(BinaryExpr::new(l, operator, r)));
        }
        // Arithmetic: compute in Float64 when the result or an operand is
        // a float, else in Int64; then cast to the expression's type.
        let operand_types = [l.data_type(schema)?, r.data_type(schema)?];
        let compute = if *ty == DataType::Float || operand_types.contains(&ArrowType::Float64) {
            ArrowType::Float64
        } else {
            ArrowType::Int64
        };
        let l = as_number(l, &compute, schema)?;
        let mut r = as_number(r, &compute, schema)?;
        if matches!(op, BinaryOp::Div | BinaryOp::Mod) {
            r = self.null_if_zero(r, &compute)?;
        }
        let result: PhysExpr = Arc::new(BinaryExpr::new(l, operator, r));
        match scalar_arrow_type(ty) {
            Some(to) => cast_to(result, &to, schema),
            None => Ok(result),
        }
    }

    /// `nullif(divisor, 0)`: dividing by zero gives null instead of failing
    /// the batch.
    fn null_if_zero(&self, divisor: PhysExpr, ty: &ArrowType) -> Result<PhysExpr> {
        let zero: PhysExpr = Arc::new(LiteralExpr::new(ScalarValue::new_zero(ty)?));
        call(
            datafusion_functions::core::nullif(),
            vec![divisor, zero],
            self.schema,
        )
    }

    fn call(&self, func: ScalarFunc, args: &[Expr], ty: &DataType) -> Result<PhysExpr> {
        use datafusion_functions::{math, regex, string, unicode};
        let mut lowered = args
            .iter()
            .map(|a| self.lower(a))
            .collect::<Result<Vec<_>>>()?;
        let string_args = !matches!(func, ScalarFunc::Abs);
        if string_args {
            // Every string function takes Utf8: a nested field or a null
            // literal may arrive as something else.
            lowered = lowered
                .into_iter()
                .map(|a| cast_to(a, &ArrowType::Utf8, self.schema))
                .collect::<Result<_>>()?;
        }
        let udf = match func {
            ScalarFunc::Lower => string::lower(),
            ScalarFunc::Upper => string::upper(),
            ScalarFunc::Contains => string::contains(),
            ScalarFunc::StartsWith => string::starts_with(),
            ScalarFunc::EndsWith => string::ends_with(),
            ScalarFunc::Matches => regex::regexp_like(),
            ScalarFunc::Length => unicode::character_length(),
            ScalarFunc::Abs => math::abs(),
        };
        let result = call(udf, lowered, self.schema)?;
        // `length` is Int32 in DataFusion, Int64 in the rule language.
        match scalar_arrow_type(ty) {
            Some(to) => cast_to(result, &to, self.schema),
            None => Ok(result),
        }
    }
}
