//! JSON decode: one chunk of `CHUNK_LINES` JSON lines into an Arrow batch
//! of the `auth` stream (validation with serde_json, then arrow-json, then
//! the hidden offset and hash columns), as `eddy run` does per chunk.

#[path = "workload.rs"]
mod workload;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

fn decode_chunk(c: &mut Criterion) {
    let program = workload::program(workload::RULE_F);
    let lines = workload::json_lines(workload::CHUNK_LINES, workload::SEED);
    let chunk = workload::chunks(&lines)
        .pop()
        .expect("one chunk of generated lines");
    let mut decoder = workload::decoder(&program);

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(chunk.lines.len() as u64));
    group.bench_function("json_chunk_to_batch", |b| {
        b.iter(|| {
            let decoded = decoder.decode(black_box(&chunk)).expect("decodes");
            black_box(decoded.batch.num_rows())
        })
    });
    group.finish();
}

criterion_group!(benches, decode_chunk);
criterion_main!(benches);
