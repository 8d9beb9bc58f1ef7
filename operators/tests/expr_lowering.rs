//! Every operator and function of the rule language, lowered to DataFusion
//! and evaluated over a small batch.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, StructArray,
    TimestampMillisecondArray,
};
use arrow_schema::{DataType as ArrowType, Field as ArrowField, Schema, SchemaRef, TimeUnit};
use dsl::plan::{BinaryOp, DataType, Expr, ExprKind, Literal, ScalarFunc, UnaryOp};
use operators::expr::{evaluate, evaluate_predicate, lower, ColumnLeaves, FieldLeaves};

fn schema() -> SchemaRef {
    let device = ArrowType::Struct(vec![ArrowField::new("os", ArrowType::Utf8, true)].into());
    Arc::new(Schema::new(vec![
        ArrowField::new("s", ArrowType::Utf8, true),
        ArrowField::new("i", ArrowType::Int64, true),
        ArrowField::new("f", ArrowType::Float64, true),
        ArrowField::new("b", ArrowType::Boolean, true),
        ArrowField::new(
            "ts",
            ArrowType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        ArrowField::new("device", device, true),
    ]))
}

/// Three rows: ("Alice", 3, 1.5, true, 1000, ios), ("bob", -2, -0.5,
/// false, 2000, android), (null, null, null, null, 3000, null).
fn batch() -> RecordBatch {
    let os: ArrayRef = Arc::new(StringArray::from(vec![Some("ios"), Some("android"), None]));
    let device = StructArray::from(vec![(
        Arc::new(ArrowField::new("os", ArrowType::Utf8, true)),
        os,
    )]);
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(vec![Some("Alice"), Some("bob"), None])),
            Arc::new(Int64Array::from(vec![Some(3), Some(-2), None])),
            Arc::new(Float64Array::from(vec![Some(1.5), Some(-0.5), None])),
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            Arc::new(TimestampMillisecondArray::from(vec![1000, 2000, 3000])),
            Arc::new(device),
        ],
    )
    .unwrap()
}

fn field(name: &str, ty: DataType) -> Expr {
    Expr {
        kind: ExprKind::Field(vec![name.into()]),
        ty,
    }
}

fn s() -> Expr {
    field("s", DataType::String)
}
fn i() -> Expr {
    field("i", DataType::Int)
}
fn f() -> Expr {
    field("f", DataType::Float)
}

fn lit(l: Literal) -> Expr {
    let ty = match &l {
        Literal::String(_) => DataType::String,
        Literal::Int(_) => DataType::Int,
        Literal::Float(_) => DataType::Float,
        Literal::Bool(_) => DataType::Bool,
        Literal::Null => DataType::Null,
    };
    Expr {
        kind: ExprKind::Literal(l),
        ty,
    }
}
fn text(v: &str) -> Expr {
    lit(Literal::String(v.into()))
}
fn int(v: i64) -> Expr {
    lit(Literal::Int(v))
}

fn bin(op: BinaryOp, left: Expr, right: Expr, ty: DataType) -> Expr {
    Expr {
        kind: ExprKind::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        },
        ty,
    }
}
fn cmp(op: BinaryOp, left: Expr, right: Expr) -> Expr {
    bin(op, left, right, DataType::Bool)
}
fn call(func: ScalarFunc, args: Vec<Expr>, ty: DataType) -> Expr {
    Expr {
        kind: ExprKind::Call { func, args },
        ty,
    }
}
fn to_float(e: Expr) -> Expr {
    Expr {
        kind: ExprKind::Cast {
            expr: Box::new(e),
            to: DataType::Float,
        },
        ty: DataType::Float,
    }
}

fn eval(e: &Expr) -> ArrayRef {
    let b = batch();
    let p = lower(e, b.schema().as_ref(), &FieldLeaves).unwrap();
    evaluate(p.as_ref(), &b).unwrap()
}

fn bools(e: &Expr) -> Vec<Option<bool>> {
    let a = eval(e);
    a.as_any()
        .downcast_ref::<BooleanArray>()
        .unwrap()
        .iter()
        .collect()
}
fn ints(e: &Expr) -> Vec<Option<i64>> {
    let a = eval(e);
    a.as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .iter()
        .collect()
}
fn floats(e: &Expr) -> Vec<Option<f64>> {
    let a = eval(e);
    a.as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .iter()
        .collect()
}
fn strings(e: &Expr) -> Vec<Option<String>> {
    let a = eval(e);
    a.as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect()
}

#[test]
fn comparisons() {
    use BinaryOp::*;
    assert_eq!(
        bools(&cmp(Eq, s(), text("bob"))),
        [Some(false), Some(true), None]
    );
    assert_eq!(
        bools(&cmp(NotEq, s(), text("bob"))),
        [Some(true), Some(false), None]
    );
    assert_eq!(
        bools(&cmp(Lt, i(), int(0))),
        [Some(false), Some(true), None]
    );
    assert_eq!(
        bools(&cmp(LtEq, i(), int(3))),
        [Some(true), Some(true), None]
    );
    assert_eq!(
        bools(&cmp(Gt, i(), int(0))),
        [Some(true), Some(false), None]
    );
    assert_eq!(
        bools(&cmp(GtEq, i(), int(-2))),
        [Some(true), Some(true), None]
    );
    // The checker's int-to-float widening.
    assert_eq!(
        bools(&cmp(Gt, f(), to_float(int(1)))),
        [Some(true), Some(false), None]
    );
}

#[test]
fn comparisons_with_mismatched_operand_types_are_coerced() {
    // No Cast from the checker: an int column against a float literal, a
    // timestamp against epoch milliseconds.
    assert_eq!(
        bools(&cmp(BinaryOp::Gt, i(), lit(Literal::Float(2.5)))),
        [Some(true), Some(false), None]
    );
    let ts = field("ts", DataType::Timestamp);
    assert_eq!(
        bools(&cmp(BinaryOp::GtEq, ts, int(2000))),
        [Some(false), Some(true), Some(true)]
    );
}

#[test]
fn boolean_logic_and_not() {
    let b = field("b", DataType::Bool);
    let pos = cmp(BinaryOp::Gt, i(), int(0));
    assert_eq!(
        bools(&bin(BinaryOp::And, b.clone(), pos.clone(), DataType::Bool)),
        [Some(true), Some(false), None]
    );
    assert_eq!(
        bools(&bin(BinaryOp::Or, b.clone(), pos, DataType::Bool)),
        [Some(true), Some(false), None]
    );
    let not = Expr {
        kind: ExprKind::Unary {
            op: UnaryOp::Not,
            expr: Box::new(b),
        },
        ty: DataType::Bool,
    };
    assert_eq!(bools(&not), [Some(false), Some(true), None]);
}

#[test]
fn arithmetic() {
    use BinaryOp::*;
    assert_eq!(
        ints(&bin(Add, i(), int(1), DataType::Int)),
        [Some(4), Some(-1), None]
    );
    assert_eq!(
        ints(&bin(Sub, i(), int(1), DataType::Int)),
        [Some(2), Some(-3), None]
    );
    assert_eq!(
        ints(&bin(Mul, i(), int(2), DataType::Int)),
        [Some(6), Some(-4), None]
    );
    assert_eq!(
        ints(&bin(Div, i(), int(2), DataType::Int)),
        [Some(1), Some(-1), None]
    );
    assert_eq!(
        ints(&bin(Mod, i(), int(2), DataType::Int)),
        [Some(1), Some(0), None]
    );
    assert_eq!(
        floats(&bin(Mul, f(), to_float(i()), DataType::Float)),
        [Some(4.5), Some(1.0), None]
    );
    let neg = Expr {
        kind: ExprKind::Unary {
            op: UnaryOp::Neg,
            expr: Box::new(i()),
        },
        ty: DataType::Int,
    };
    assert_eq!(ints(&neg), [Some(-3), Some(2), None]);
}

#[test]
fn division_by_zero_is_null_not_an_error() {
    assert_eq!(
        ints(&bin(BinaryOp::Div, i(), int(0), DataType::Int)),
        [None, None, None]
    );
    assert_eq!(
        ints(&bin(BinaryOp::Mod, i(), int(0), DataType::Int)),
        [None, None, None]
    );
    let zero = lit(Literal::Float(0.0));
    assert_eq!(
        floats(&bin(BinaryOp::Div, f(), zero, DataType::Float)),
        [None, None, None]
    );
}

#[test]
fn timestamp_difference_is_milliseconds() {
    let ts = field("ts", DataType::Timestamp);
    let diff = bin(BinaryOp::Sub, ts, int(500), DataType::Int);
    assert_eq!(ints(&diff), [Some(500), Some(1500), Some(2500)]);
}

#[test]
fn in_list_and_is_null() {
    let list = vec![text("bob"), text("carol")];
    let inl = Expr {
        kind: ExprKind::InList {
            expr: Box::new(s()),
            list: list.clone(),
            negated: false,
        },
        ty: DataType::Bool,
    };
    assert_eq!(bools(&inl), [Some(false), Some(true), None]);
    let not_in = Expr {
        kind: ExprKind::InList {
            expr: Box::new(s()),
            list,
            negated: true,
        },
        ty: DataType::Bool,
    };
    assert_eq!(bools(&not_in), [Some(true), Some(false), None]);
    let is_null = Expr {
        kind: ExprKind::IsNull {
            expr: Box::new(s()),
            negated: false,
        },
        ty: DataType::Bool,
    };
    assert_eq!(bools(&is_null), [Some(false), Some(false), Some(true)]);
    let not_null = Expr {
        kind: ExprKind::IsNull {
            expr: Box::new(s()),
            negated: true,
        },
        ty: DataType::Bool,
    };
    assert_eq!(bools(&not_null), [Some(true), Some(true), Some(false)]);
}

#[test]
fn comparison_with_null_literal_is_null() {
    assert_eq!(
        bools(&cmp(BinaryOp::Eq, s(), lit(Literal::Null))),
        [None, None, None]
    );
}

#[test]
fn string_functions() {
    use ScalarFunc::*;
    assert_eq!(
        strings(&call(Lower, vec![s()], DataType::String)),
        [Some("alice".into()), Some("bob".into()), None]
    );
    assert_eq!(
        strings(&call(Upper, vec![s()], DataType::String)),
        [Some("ALICE".into()), Some("BOB".into()), None]
    );
    assert_eq!(
        bools(&call(Contains, vec![s(), text("li")], DataType::Bool)),
        [Some(true), Some(false), None]
    );
    assert_eq!(
        bools(&call(StartsWith, vec![s(), text("A")], DataType::Bool)),
        [Some(true), Some(false), None]
    );
    assert_eq!(
        bools(&call(EndsWith, vec![s(), text("ob")], DataType::Bool)),
        [Some(false), Some(true), None]
    );
    assert_eq!(
        ints(&call(Length, vec![s()], DataType::Int)),
        [Some(5), Some(3), None]
    );
}

#[test]
fn matches_is_a_regex_search() {
    let m = call(
        ScalarFunc::Matches,
        vec![s(), text("^[a-z]+$")],
        DataType::Bool,
    );
    assert_eq!(bools(&m), [Some(false), Some(true), None]);
}

#[test]
fn abs_of_int_and_float() {
    assert_eq!(
        ints(&call(ScalarFunc::Abs, vec![i()], DataType::Int)),
        [Some(3), Some(2), None]
    );
    assert_eq!(
        floats(&call(ScalarFunc::Abs, vec![f()], DataType::Float)),
        [Some(1.5), Some(0.5), None]
    );
}

#[test]
fn nested_fields_read_struct_members() {
    let os = Expr {
        kind: ExprKind::Field(vec!["device".into(), "os".into()]),
        ty: DataType::String,
    };
    assert_eq!(
        strings(&os),
        [Some("ios".into()), Some("android".into()), None]
    );
}

#[test]
fn predicates_treat_null_as_false() {
    let b = batch();
    let e = cmp(BinaryOp::Gt, i(), int(-10));
    let p = lower(&e, b.schema().as_ref(), &FieldLeaves).unwrap();
    let mask = evaluate_predicate(p.as_ref(), &b).unwrap();
    assert_eq!(mask.null_count(), 0);
    assert_eq!(
        mask.iter().collect::<Vec<_>>(),
        [Some(true), Some(true), Some(false)]
    );
}

#[test]
fn column_leaves_bind_keys_and_aggregates_to_columns() {
    let schema = Schema::new(vec![
        ArrowField::new("k", ArrowType::Utf8, true),
        ArrowField::new("n", ArrowType::Int64, true),
    ]);
    let b = RecordBatch::try_new(
        Arc::new(schema.clone()),
        vec![
            Arc::new(StringArray::from(vec!["x", "y"])),
            Arc::new(Int64Array::from(vec![5, 50])),
        ],
    )
    .unwrap();
    let count = ExprKind::Aggregate {
        func: dsl::plan::AggFunc::Count,
        step: None,
        arg: None,
    };
    let leaves = ColumnLeaves::new()
        .bind(ExprKind::Key(0), "k")
        .bind(count.clone(), "n");
    let having = bin(
        BinaryOp::And,
        cmp(
            BinaryOp::GtEq,
            Expr {
                kind: count,
                ty: DataType::Int,
            },
            int(20),
        ),
        cmp(
            BinaryOp::Eq,
            Expr {
                kind: ExprKind::Key(0),
                ty: DataType::String,
            },
            text("y"),
        ),
        DataType::Bool,
    );
    let p = lower(&having, &schema, &leaves).unwrap();
    assert_eq!(
        evaluate_predicate(p.as_ref(), &b)
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [Some(false), Some(true)]
    );
    // An unbound leaf is a plan error, not a panic.
    assert!(lower(&s(), &schema, &leaves).is_err());
}
