//! The aggregate functions of the rule language as DataFusion accumulators.
//!
//! An [`AggregateSpec`] is compiled once per distinct aggregate of a rule
//! (`count()`, `sum(amount)`, `percentile(latency, 0.95)`); state lives in
//! the `Box<dyn Accumulator>`s it creates, one per window or candidate.
//! Values are fed a batch (or a selection of rows) at a time:
//!
//! ```ignore
//! let spec = AggregateSpec::new(AggFunc::Sum, Some(amount), &schema)?;
//! let mut acc = spec.accumulator()?;
//! let args = spec.arguments(&batch)?;          // evaluate once per batch
//! spec.update_rows(acc.as_mut(), &args, &[0, 2, 5])?; // rows of one group
//! let total = spec.evaluate(acc.as_mut())?;    // ScalarValue of output_type()
//! ```
//!
//! Result types are the ones the checker gives: `count` and
//! `count_distinct` Int64, `sum`/`min`/`max`/`first`/`last` the argument's
//! type, `avg` and `percentile` Float64. `first` and `last` are in feed
//! order (event-time order, ties in arrival order), nulls included;
//! `percentile` is exact (linear interpolation, as `percentile_cont`).

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::{DataType as ArrowType, SchemaRef};
use arrow_select::take::take;
use datafusion_common::ScalarValue;
use datafusion_expr::{Accumulator, AggregateUDF};
use datafusion_physical_expr::aggregate::{AggregateExprBuilder, AggregateFunctionExpr};
use datafusion_physical_expr::expressions::Literal as LiteralExpr;
use dsl::plan::{AggFunc, Expr, ExprKind};

use crate::error::{OperatorError, Result};
use crate::expr::{cast_to, evaluate, lower, Leaves, PhysExpr};

/// One aggregate of a rule, compiled against the schema of the events it
/// reads.
#[derive(Debug, Clone)]
pub struct AggregateSpec {
    func: AggFunc,
    expr: Arc<AggregateFunctionExpr>,
    /// What `update_batch` is fed, evaluated against input batches.
    args: Vec<PhysExpr>,
    output_type: ArrowType,
    /// Floating-point sums depend on how the values are grouped (DataFusion
    /// sums a batch in SIMD lanes, then adds it to the total), so such
    /// accumulators are fed one row at a time, in event order: the result
    /// is then the same however the input was cut into batches, from a file
    /// or from Kafka.
    row_by_row: bool,
}

impl AggregateSpec {
    /// `arg` is the lowered argument (read from events of `input_schema`);
    /// `None` only for `count()`, which counts events.
    pub fn new(func: AggFunc, arg: Option<PhysExpr>, input_schema: &SchemaRef) -> Result<Self> {
        let schema = input_schema.as_ref();
        let arg = match (func, arg) {
            (_, Some(arg)) => arg,
            // `count()` counts rows: count a never-null literal.
            (AggFunc::Count, None) => {
                Arc::new(LiteralExpr::new(ScalarValue::Int64(Some(1)))) as PhysExpr
            }
            (other, None) => {
                return Err(OperatorError::Plan(format!(
                    "aggregate {other:?} needs an argument"
                )))
            }
        };
        let arg_type = arg.data_type(schema)?;
        let row_by_row = match func {
            AggFunc::Avg => true,
            AggFunc::Sum => arg_type.is_floating(),
            _ => false,
        };
        let (udaf, args, distinct, output_type): (
            Arc<AggregateUDF>,
            Vec<PhysExpr>,
            bool,
            ArrowType,
        ) = {
            use datafusion_functions_aggregate::{
                average, count, first_last, min_max, percentile_cont, sum,
            };
            match func {
                AggFunc::Count => (count::count_udaf(), vec![arg], false, ArrowType::Int64),
                AggFunc::CountDistinct => (count::count_udaf(), vec![arg], true, ArrowType::Int64),
                AggFunc::Sum => (sum::sum_udaf(), vec![arg], false, arg_type),
                AggFunc::Avg => (
                    average::avg_udaf(),
                    vec![cast_to(arg, &ArrowType::Float64, schema)?],
                    false,
                    ArrowType::Float64,
                ),
                AggFunc::Min => (min_max::min_udaf(), vec![arg], false, arg_type),
                AggFunc::Max => (min_max::max_udaf(), vec![arg], false, arg_type),
                AggFunc::First => (first_last::first_value_udaf(), vec![arg], false, arg_type),
                AggFunc::Last => (first_last::last_value_udaf(), vec![arg], false, arg_type),
                AggFunc::Percentile(fraction) => {
                    if !(0.0..=1.0).contains(&fraction) {
                        return Err(OperatorError::Plan(format!(
                            "percentile {fraction} is not within 0..=1"
                        )));
                    }
                    let fraction: PhysExpr =
                        Arc::new(LiteralExpr::new(ScalarValue::Float64(Some(fraction))));
                    (
                        percentile_cont::percentile_cont_udaf(),
                        vec![cast_to(arg, &ArrowType::Float64, schema)?, fraction],
                        false,
                        ArrowType::Float64,
                    )
                }
            }
        };
        let expr = AggregateExprBuilder::new(udaf, args.clone())
            .schema(Arc::clone(input_schema))
            .alias(format!("{func:?}"))
            .with_distinct(distinct)
            .build()?;
        Ok(Self {
            func,
            expr: Arc::new(expr),
            args,
            output_type,
            row_by_row,
        })
    }

    /// Compiles an `ExprKind::Aggregate` leaf, lowering its argument with
    /// `leaves` (typically [`crate::expr::FieldLeaves`]).
    pub fn from_leaf(leaf: &Expr, input_schema: &SchemaRef, leaves: &dyn Leaves) -> Result<Self> {
        let ExprKind::Aggregate { func, arg, .. } = &leaf.kind else {
            return Err(OperatorError::Plan(format!(
                "not an aggregate: {:?}",
                leaf.kind
            )));
        };
        let arg = arg
            .as_deref()
            .map(|a| lower(a, input_schema.as_ref(), leaves))
            .transpose()?;
        Self::new(*func, arg, input_schema)
    }

    pub fn func(&self) -> AggFunc {
        self.func
    }

    /// The Arrow type of [`AggregateSpec::evaluate`]'s results.
    pub fn output_type(&self) -> &ArrowType {
        &self.output_type
    }

    /// Fresh, empty state.
    pub fn accumulator(&self) -> Result<Box<dyn Accumulator>> {
        Ok(self.expr.create_accumulator()?)
    }

    /// The accumulator's inputs for every row of `batch`: evaluate once per
    /// batch, then feed row selections with [`AggregateSpec::update_rows`].
    pub fn arguments(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        self.args
            .iter()
            .map(|a| evaluate(a.as_ref(), batch))
            .collect()
    }

    /// Feeds every row of `batch`, in order.
    pub fn update(&self, acc: &mut dyn Accumulator, batch: &RecordBatch) -> Result<()> {
        let arguments = self.arguments(batch)?;
        self.feed(acc, &arguments)
    }

    /// Feeds `arguments` (columns of equal length) in row order.
    fn feed(&self, acc: &mut dyn Accumulator, arguments: &[ArrayRef]) -> Result<()> {
        if !self.row_by_row {
            return Ok(acc.update_batch(arguments)?);
        }
        let rows = arguments.first().map_or(0, |a| a.len());
        for row in 0..rows {
            let one: Vec<ArrayRef> = arguments.iter().map(|a| a.slice(row, 1)).collect();
            acc.update_batch(&one)?;
        }
        Ok(())
    }

    /// Feeds the rows `rows` (indices into `arguments`, in feed order).
    pub fn update_rows(
        &self,
        acc: &mut dyn Accumulator,
        arguments: &[ArrayRef],
        rows: &[u32],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let first = rows[0] as usize;
        let contiguous = rows
            .iter()
            .enumerate()
            .all(|(i, &r)| r as usize == first + i);
        let selected = if contiguous {
            // A run of consecutive rows: a zero-copy slice.
            arguments
                .iter()
                .map(|a| a.slice(first, rows.len()))
                .collect()
        } else {
            let indices = UInt32Array::from(rows.to_vec());
            arguments
                .iter()
                .map(|a| take(a.as_ref(), &indices, None))
                .collect::<Result<Vec<_>, _>>()?
        };
        self.feed(acc, &selected)
    }

    /// The current result, of [`AggregateSpec::output_type`]. The state is
    /// kept: more rows may be fed afterwards.
    pub fn evaluate(&self, acc: &mut dyn Accumulator) -> Result<ScalarValue> {
        let value = acc.evaluate()?;
        if value.data_type() == self.output_type {
            Ok(value)
        } else {
            Ok(value.cast_to(&self.output_type)?)
        }
    }

    /// A copy of `acc`'s state in a new accumulator (accumulators are not
    /// `Clone`): for candidates that fork.
    pub fn fork(&self, acc: &mut Box<dyn Accumulator>) -> Result<Box<dyn Accumulator>> {
        let state = self.take_state(acc)?;
        self.from_state(&state)
    }

    /// `acc`'s partial state (DataFusion's `Accumulator::state`), to be
    /// merged into a fresh accumulator by [`AggregateSpec::from_state`].
    ///
    /// Some accumulators hand their state out destructively, and a merged
    /// state need not be bit-identical to the original (float sums), so
    /// `acc` itself is replaced by one rebuilt from the state returned:
    /// `acc` and every accumulator rebuilt from that state then continue
    /// identically.
    pub fn take_state(&self, acc: &mut Box<dyn Accumulator>) -> Result<Vec<ScalarValue>> {
        let state = acc.state()?;
        *acc = self.from_state(&state)?;
        Ok(state)
    }

    /// A fresh accumulator holding `state` (one of [`AggregateSpec::take_state`]),
    /// merged the way DataFusion's two-phase aggregation merges partial
    /// states. `state` must have the [`AggregateSpec::state_types`]: DataFusion's
    /// accumulators assume it.
    pub fn from_state(&self, state: &[ScalarValue]) -> Result<Box<dyn Accumulator>> {
        let columns = state
            .iter()
            .map(ScalarValue::to_array)
            .collect::<Result<Vec<_>, _>>()?;
        let mut acc = self.accumulator()?;
        acc.merge_batch(&columns)?;
        Ok(acc)
    }

    /// The Arrow types of this aggregate's partial state, one per value of
    /// [`AggregateSpec::take_state`]: for checking restored states, which
    /// DataFusion's `merge_batch` would otherwise trust (and panic on).
    pub fn state_types(&self) -> Result<Vec<ArrowType>> {
        Ok(self
            .accumulator()?
            .state()?
            .iter()
            .map(ScalarValue::data_type)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array};
    use arrow_schema::{Field, Schema};
    use datafusion_physical_expr::expressions::Column;

    fn input() -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("i", ArrowType::Int64, true),
            Field::new("f", ArrowType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![Some(5), None, Some(1), Some(5)])),
                Arc::new(Float64Array::from(vec![
                    Some(1.0),
                    Some(2.0),
                    Some(3.0),
                    Some(4.0),
                ])),
            ],
        )
        .unwrap();
        (schema, batch)
    }

    fn column(name: &str, schema: &Schema) -> PhysExpr {
        Arc::new(Column::new_with_schema(name, schema).unwrap())
    }

    fn run(func: AggFunc, arg: Option<&str>) -> ScalarValue {
        let (schema, batch) = input();
        let spec = AggregateSpec::new(func, arg.map(|a| column(a, &schema)), &schema).unwrap();
        let mut acc = spec.accumulator().unwrap();
        spec.update(acc.as_mut(), &batch).unwrap();
        let value = spec.evaluate(acc.as_mut()).unwrap();
        assert_eq!(&value.data_type(), spec.output_type());
        value
    }

    #[test]
    fn results_and_types_per_function() {
        use ScalarValue::{Float64, Int64};
        assert_eq!(
            run(AggFunc::Count, None),
            Int64(Some(4)),
            "count() counts rows, nulls included"
        );
        assert_eq!(
            run(AggFunc::Count, Some("i")),
            Int64(Some(3)),
            "count(x) skips nulls"
        );
        assert_eq!(run(AggFunc::CountDistinct, Some("i")), Int64(Some(2)));
        assert_eq!(run(AggFunc::Sum, Some("i")), Int64(Some(11)));
        assert_eq!(run(AggFunc::Sum, Some("f")), Float64(Some(10.0)));
        assert_eq!(run(AggFunc::Avg, Some("i")), Float64(Some(11.0 / 3.0)));
        assert_eq!(run(AggFunc::Min, Some("i")), Int64(Some(1)));
        assert_eq!(run(AggFunc::Max, Some("f")), Float64(Some(4.0)));
        assert_eq!(run(AggFunc::First, Some("i")), Int64(Some(5)));
        assert_eq!(run(AggFunc::Last, Some("f")), Float64(Some(4.0)));
        assert_eq!(run(AggFunc::Percentile(0.5), Some("f")), Float64(Some(2.5)));
        assert_eq!(run(AggFunc::Percentile(1.0), Some("i")), Float64(Some(5.0)));
    }

    #[test]
    fn empty_state_evaluates_to_zero_count_and_null_sum() {
        let (schema, _) = input();
        let count = AggregateSpec::new(AggFunc::Count, None, &schema).unwrap();
        assert_eq!(
            count
                .evaluate(count.accumulator().unwrap().as_mut())
                .unwrap(),
            ScalarValue::Int64(Some(0))
        );
        let sum = AggregateSpec::new(AggFunc::Sum, Some(column("i", &schema)), &schema).unwrap();
        assert_eq!(
            sum.evaluate(sum.accumulator().unwrap().as_mut()).unwrap(),
            ScalarValue::Int64(None)
        );
    }

    #[test]
    fn rows_are_fed_by_selection_and_forks_are_independent() {
        let (schema, batch) = input();
        for func in [
            AggFunc::Sum,
            AggFunc::First,
            AggFunc::Last,
            AggFunc::CountDistinct,
            AggFunc::Percentile(0.5),
        ] {
            let spec = AggregateSpec::new(func, Some(column("f", &schema)), &schema).unwrap();
            let args = spec.arguments(&batch).unwrap();
            let mut acc = spec.accumulator().unwrap();
            spec.update_rows(acc.as_mut(), &args, &[1, 2]).unwrap();
            let mut fork = spec.fork(&mut acc).unwrap();
            spec.update_rows(fork.as_mut(), &args, &[3]).unwrap();

            let mut reference = spec.accumulator().unwrap();
            spec.update_rows(reference.as_mut(), &args, &[1, 2])
                .unwrap();
            assert_eq!(
                spec.evaluate(acc.as_mut()).unwrap(),
                spec.evaluate(reference.as_mut()).unwrap(),
                "{func:?}"
            );
            spec.update_rows(reference.as_mut(), &args, &[3]).unwrap();
            assert_eq!(
                spec.evaluate(fork.as_mut()).unwrap(),
                spec.evaluate(reference.as_mut()).unwrap(),
                "{func:?}"
            );
        }
    }

    #[test]
    fn bad_plans_are_errors() {
        let (schema, _) = input();
        assert!(AggregateSpec::new(AggFunc::Sum, None, &schema).is_err());
        assert!(AggregateSpec::new(
            AggFunc::Percentile(1.5),
            Some(column("f", &schema)),
            &schema
        )
        .is_err());
    }
}
