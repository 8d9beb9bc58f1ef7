//! Window update: rule W (by user, failed logins in 1-minute tumbling
//! windows, `having count() >= 5`) fed pre-decoded batches, so only the
//! window operator is measured: the `where` filter, key lookup, aggregate
//! update, and the windows closing as event time passes each minute (the
//! final watermark closes the rest).

#[path = "workload.rs"]
mod workload;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dsl::plan::Millis;
use operators::window::WindowOperator;
use operators::Operator;
use std::hint::black_box;

/// Events per iteration: 100 s of event time, about 100 events per user.
const EVENTS: usize = 100_000;

fn window(c: &mut Criterion) {
    let program = workload::program(workload::RULE_W);
    let rule = &program.rules[0];
    let batches = workload::batches(&program, EVENTS);

    let mut group = c.benchmark_group("window");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    group.bench_function("rule_w_on_batch", |b| {
        b.iter_batched_ref(
            || WindowOperator::new(0, rule, &program.catalog).expect("rule W builds"),
            |operator| {
                let mut out = Vec::new();
                for batch in &batches {
                    operator
                        .on_batch("auth", black_box(batch), &mut out)
                        .expect("updates");
                }
                operator
                    .on_watermark(Millis::MAX, &mut out)
                    .expect("closes the windows");
                black_box(out.len())
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, window);
criterion_main!(benches);
