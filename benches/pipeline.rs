//! The whole pipeline for rule F, as `eddy run` drives it: a JSON-lines
//! file read on a reader thread in chunks, decoded, passed through the
//! reorder buffer and the filter operator, the ~1% of matches encoded as
//! CloudEvents and written out.

#[path = "workload.rs"]
mod workload;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::runner::{run, InputSpec, OutputTarget, RunConfig};
use engine::source::InputLocation;
use std::hint::black_box;

/// Events per iteration.
const EVENTS: usize = 200_000;

fn pipeline(c: &mut Criterion) {
    let program = workload::program(workload::RULE_F);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let input = dir.path().join("auth.jsonl");
    std::fs::write(&input, workload::json_lines(EVENTS, workload::SEED))
        .expect("writes the events");
    let config = RunConfig::new(
        vec![InputSpec {
            stream: "auth".into(),
            location: InputLocation::File(input.clone()),
        }],
        OutputTarget::File(dir.path().join("out.jsonl")),
        dir.path().join("dead.jsonl"),
    );

    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    group.bench_function("rule_f_file_run", |b| {
        b.iter(|| {
            let summary = run(&program, &config).expect("runs");
            assert_eq!(summary.events_in, EVENTS as u64);
            black_box(summary.events_out)
        })
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
