//! The automaton step: rule P (by user, 3+ failed logins -> a successful
//! one -> a transfer over 1000, within 10m) fed pre-decoded batches, so
//! only the pattern operator is measured: step conditions, per-key
//! candidates, emission, and the final watermark that expires what is left.

#[path = "workload.rs"]
mod workload;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dsl::plan::Millis;
use operators::pattern::PatternOperator;
use operators::Operator;
use std::hint::black_box;

/// Events per iteration: 100 s of event time, about 100 events per user.
const EVENTS: usize = 100_000;

fn pattern(c: &mut Criterion) {
    let program = workload::program(workload::RULE_P);
    let rule = &program.rules[0];
    let batches = workload::batches(&program, EVENTS);

    let mut group = c.benchmark_group("pattern");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    group.bench_function("rule_p_on_batch", |b| {
        b.iter_batched_ref(
            || PatternOperator::new(0, rule, &program.catalog).expect("rule P builds"),
            |operator| {
                let mut out = Vec::new();
                for batch in &batches {
                    operator
                        .on_batch("auth", black_box(batch), &mut out)
                        .expect("steps");
                }
                operator
                    .on_watermark(Millis::MAX, &mut out)
                    .expect("expires");
                black_box(out.len())
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, pattern);
criterion_main!(benches);
