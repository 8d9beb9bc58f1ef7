//! Predicate evaluation: rule F's `where` condition (`type == "transfer"
//! and amount > 4000`) over one decoded batch, first as the bare DataFusion
//! expression, then through the whole filter operator (filter the batch,
//! shape the ~1% that pass into derived events).

#[path = "workload.rs"]
mod workload;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dsl::plan::RuleKind;
use operators::expr::{evaluate_predicate, lower, FieldLeaves};
use operators::filter::FilterOperator;
use operators::schema::stream_schema;
use operators::Operator;
use std::hint::black_box;

fn predicate(c: &mut Criterion) {
    let program = workload::program(workload::RULE_F);
    let rule = &program.rules[0];
    let RuleKind::Simple(plan) = &rule.kind else {
        panic!("rule F is a simple rule");
    };
    let condition = plan.filter.as_ref().expect("rule F has a where clause");
    let stream = program.catalog.stream("auth").expect("auth is declared");
    let expr = lower(condition, &stream_schema(stream), &FieldLeaves).expect("lowers");
    let batch = workload::batches(&program, workload::CHUNK_LINES)
        .pop()
        .expect("one batch");

    let mut group = c.benchmark_group("predicate");
    group.throughput(Throughput::Elements(batch.num_rows() as u64));
    group.bench_function("evaluate_where", |b| {
        b.iter(|| {
            let mask = evaluate_predicate(expr.as_ref(), black_box(&batch)).expect("evaluates");
            black_box(mask.true_count())
        })
    });
    group.bench_function("filter_operator", |b| {
        b.iter_batched_ref(
            || FilterOperator::new(0, rule, &program.catalog).expect("rule F builds"),
            |operator| {
                let mut out = Vec::new();
                operator
                    .on_batch("auth", black_box(&batch), &mut out)
                    .expect("filters");
                black_box(out.len())
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, predicate);
criterion_main!(benches);
