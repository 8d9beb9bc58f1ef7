//! Hand-built plans and batches for the operator tests: the parser is not
//! needed to test the operators.
#![allow(dead_code)]

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array};
use datafusion_common::arrow::util::display::array_value_to_string;
use dsl::plan::{
    AggFunc, Catalog, DataType, EmitField, EmitPlan, Expr, ExprKind, Field, KeyPart, KeyPlan,
    Literal, Millis, RuleKind, RulePlan, StreamPlan, DERIVED_TIME_FIELD,
};
use operators::schema::stream_schema;
use operators::DerivedBatch;

pub const STREAM: &str = "ev";

/// `stream ev (ts timestamp, user string?, value int) time ts`.
pub fn input_stream() -> StreamPlan {
    StreamPlan {
        name: STREAM.into(),
        fields: vec![
            field("ts", DataType::Timestamp, false),
            field("user", DataType::String, true),
            field("value", DataType::Int, false),
        ],
        time_field: "ts".into(),
        lateness: 0,
        ahead: dsl::plan::DEFAULT_AHEAD,
        derived_from: None,
    }
}

pub fn field(name: &str, ty: DataType, nullable: bool) -> Field {
    Field {
        name: name.into(),
        ty,
        nullable,
    }
}

/// The catalog: the input stream and the derived stream of `rule`
/// (its emitted fields, nullable, plus `time`).
pub fn catalog(rule: &RulePlan) -> Catalog {
    let mut fields: Vec<Field> = rule
        .emit
        .fields
        .iter()
        .map(|f| field(&f.name, f.expr.ty.clone(), true))
        .collect();
    fields.push(field(DERIVED_TIME_FIELD, DataType::Timestamp, false));
    Catalog {
        streams: vec![
            input_stream(),
            StreamPlan {
                name: rule.emit.name.clone(),
                fields,
                time_field: DERIVED_TIME_FIELD.into(),
                lateness: 0,
                ahead: dsl::plan::DEFAULT_AHEAD,
                derived_from: Some(0),
            },
        ],
    }
}

pub fn by_user() -> KeyPlan {
    KeyPlan {
        parts: vec![KeyPart {
            name: "user".into(),
            ty: DataType::String,
            per_stream: vec![(STREAM.into(), vec!["user".into()])],
        }],
    }
}

pub fn field_ref(name: &str, ty: DataType) -> Expr {
    Expr {
        kind: ExprKind::Field(vec![name.into()]),
        ty,
    }
}

pub fn key_ref(i: usize) -> Expr {
    Expr {
        kind: ExprKind::Key(i),
        ty: DataType::String,
    }
}

pub fn int(v: i64) -> Expr {
    Expr {
        kind: ExprKind::Literal(Literal::Int(v)),
        ty: DataType::Int,
    }
}

pub fn text(v: &str) -> Expr {
    Expr {
        kind: ExprKind::Literal(Literal::String(v.into())),
        ty: DataType::String,
    }
}

pub fn agg(func: AggFunc, arg: Option<Expr>, ty: DataType) -> Expr {
    Expr {
        kind: ExprKind::Aggregate {
            func,
            step: None,
            arg: arg.map(Box::new),
        },
        ty,
    }
}

pub fn count() -> Expr {
    agg(AggFunc::Count, None, DataType::Int)
}

pub fn value_sum() -> Expr {
    agg(
        AggFunc::Sum,
        Some(field_ref("value", DataType::Int)),
        DataType::Int,
    )
}

pub fn emit(name: &str, fields: Vec<(&str, Expr)>) -> EmitPlan {
    EmitPlan {
        name: name.into(),
        fields: fields
            .into_iter()
            .map(|(n, expr)| EmitField {
                name: n.into(),
                expr,
            })
            .collect(),
    }
}

pub fn rule(kind: RuleKind, emit: EmitPlan, suppress: Option<Millis>) -> RulePlan {
    RulePlan {
        name: "r".into(),
        severity: None,
        governance: Default::default(),
        kind,
        emit,
        suppress,
    }
}

/// One input event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub ts: Millis,
    pub user: Option<String>,
    pub value: i64,
    /// `__offset`; `__hash` is derived from it.
    pub offset: i64,
}

pub fn event(ts: Millis, user: &str, value: i64, offset: i64) -> Event {
    Event {
        ts,
        user: Some(user.into()),
        value,
        offset,
    }
}

pub fn event_hash(offset: i64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(&offset.to_le_bytes())
}

/// A batch of `ev` in its in-flight schema.
pub fn batch(events: &[Event]) -> RecordBatch {
    RecordBatch::try_new(
        stream_schema(&input_stream()),
        vec![
            Arc::new(TimestampMillisecondArray::from_iter_values(
                events.iter().map(|e| e.ts),
            )),
            Arc::new(StringArray::from_iter(
                events.iter().map(|e| e.user.clone()),
            )),
            Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.value))),
            Arc::new(Int64Array::from_iter_values(
                events.iter().map(|e| e.offset),
            )),
            Arc::new(UInt64Array::from_iter_values(
                events.iter().map(|e| event_hash(e.offset)),
            )),
        ],
    )
    .unwrap()
}

/// A derived event as plain values, for comparisons.
#[derive(Debug, Clone, PartialEq)]
pub struct Out {
    pub key: Option<String>,
    pub time: Millis,
    pub window: Option<(Millis, Millis)>,
    /// Every column of `data`, rendered, by name.
    pub data: Vec<(String, String)>,
    pub evidence: Vec<i64>,
    pub evidence_omitted: u64,
    pub id: String,
}

pub fn flatten(batches: &[DerivedBatch]) -> Vec<Out> {
    let mut out = Vec::new();
    for b in batches {
        assert_eq!(b.data.num_rows(), b.meta.len());
        for (row, meta) in b.meta.iter().enumerate() {
            let data = b
                .data
                .schema()
                .fields()
                .iter()
                .enumerate()
                .map(|(c, f)| {
                    (
                        f.name().clone(),
                        array_value_to_string(b.data.column(c), row).unwrap(),
                    )
                })
                .collect();
            out.push(Out {
                key: meta.key.clone(),
                time: meta.time,
                window: meta.window,
                data,
                evidence: meta
                    .evidence
                    .iter()
                    .map(|e| e.at.offset().unwrap())
                    .collect(),
                evidence_omitted: meta.evidence_omitted,
                id: meta.id.clone(),
            });
        }
    }
    out
}

impl Out {
    pub fn get(&self, name: &str) -> &str {
        &self
            .data
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no column {name}"))
            .1
    }
}
