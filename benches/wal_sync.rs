//! What `202 Accepted` costs: the HTTP source's write-ahead log appends a
//! request's events and syncs them before it answers. Three ways to write
//! the same records, measured in one run so that the ratios hold on a
//! noisy machine:
//!
//! - `write only`: the records written to a file, never synced (the
//!   baseline: what the log would cost without durability);
//! - `sync per request`: one request at a time through the log (each pays
//!   a whole `fdatasync`);
//! - `group commit`: 16 requests at a time through the log (they share
//!   syncs, as concurrent producers do).
//!
//! `cargo bench -p engine --bench wal_sync` (in a directory on the disk the
//! log would use: `TMPDIR=/var/lib/eddy cargo bench ...`).

use std::io::Write;
use std::time::{Duration, Instant};

use http_source::{Record, Wal};

/// Requests per measurement, each of `EVENTS` events of `EVENT_BYTES`.
const REQUESTS: usize = 400;
const EVENTS: usize = 10;
const EVENT_BYTES: usize = 200;
const CONCURRENT: usize = 16;

fn records() -> Vec<Record> {
    (0..EVENTS)
        .map(|_| Record::Event(vec![b'x'; EVENT_BYTES]))
        .collect()
}

fn write_only(dir: &std::path::Path) -> Duration {
    let mut file = std::fs::File::create(dir.join("plain")).expect("create");
    let bytes = vec![b'x'; EVENTS * (EVENT_BYTES + 13)];
    let started = Instant::now();
    for _ in 0..REQUESTS {
        file.write_all(&bytes).expect("write");
    }
    started.elapsed()
}

fn through_the_log(dir: &std::path::Path, concurrent: usize) -> Duration {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (_wal, writer) = Wal::open(&dir.join(format!("wal-{concurrent}"))).expect("open");
    let started = Instant::now();
    runtime.block_on(async {
        for _ in 0..REQUESTS / concurrent {
            let appends: Vec<_> = (0..concurrent)
                .map(|_| {
                    let writer = writer.clone();
                    tokio::spawn(async move { writer.append(records()).await })
                })
                .collect();
            for append in appends {
                append.await.expect("joins").expect("appends");
            }
        }
    });
    started.elapsed()
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let baseline = write_only(dir.path());
    let per_request = through_the_log(dir.path(), 1);
    let grouped = through_the_log(dir.path(), CONCURRENT);
    let per = |took: Duration| took.as_secs_f64() * 1e6 / REQUESTS as f64;
    println!(
        "{REQUESTS} requests of {EVENTS} events x {EVENT_BYTES} B, in {}",
        dir.path().display()
    );
    println!("write only        {:>9.1} us/request   1.0x", per(baseline));
    for (name, took) in [
        ("sync per request", per_request),
        ("group commit (16)", grouped),
    ] {
        println!(
            "{name:<17} {:>9.1} us/request {:>5.0}x write only",
            per(took),
            took.as_secs_f64() / baseline.as_secs_f64()
        );
    }
    println!(
        "group commit: {:.1}x the requests per second of a sync per request",
        per_request.as_secs_f64() / grouped.as_secs_f64()
    );
}
