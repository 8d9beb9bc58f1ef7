//! Event time through the pipeline: late detection, the global order of
//! released events, the watermark as the minimum over input streams,
//! finishing, and output that does not depend on how input is chunked.
//! The operators here are small fakes that record what they are handed.

use std::collections::BTreeMap;

use dsl::plan::*;
use engine::pipeline::{OutputEvent, Pipeline};
use engine::time::{
    Admission, ReorderBuffer, SourceProgress, StreamClock, Untimely, UntimelyEvent,
};
use operators::Operator;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod pipeline_fakes;
use pipeline_fakes::*;

// ---------------------------------------------------------------- helpers

/// Streams `a` and `b` (lateness `lateness`), rule 0 echoes `a`, rule 1
/// counts `a` and `b` in 10 s windows, rule 2 echoes rule 0's events.
fn program(lateness: Millis) -> Program {
    Program {
        catalog: Catalog {
            streams: vec![
                input_stream("a", lateness),
                input_stream("b", lateness),
                derived_stream("echo_a", 0),
                derived_stream("counts", 1),
                derived_stream("echo_echo", 2),
            ],
        },
        rules: vec![
            rule("echo", simple("a"), "echo_a"),
            rule("count", reads(&["a", "b"]), "counts"),
            rule("echo_again", simple("echo_a"), "echo_echo"),
        ],
    }
}

fn time_fields() -> BTreeMap<String, String> {
    [("a", "ts"), ("b", "ts"), ("echo_a", "time")]
        .into_iter()
        .map(|(s, f)| (s.to_string(), f.to_string()))
        .collect()
}

fn pipeline(lateness: Millis, log: &Log) -> Pipeline {
    let echo = |rule: usize, name: &str| -> Box<dyn Operator> {
        Box::new(Echo {
            rule,
            name: name.into(),
            time_fields: time_fields(),
            sequence: 0,
            log: Some(log.clone()),
        })
    };
    let tumbling = Box::new(Tumbling {
        rule: 1,
        name: "count".into(),
        size: 10_000,
        time_fields: time_fields(),
        open: BTreeMap::new(),
        sequence: 0,
        last_time: Millis::MIN,
    });
    Pipeline::with_operators(
        &program(lateness),
        vec![echo(0, "echo"), tumbling, echo(2, "echo_again")],
        &["a", "b"],
    )
    .unwrap()
}

/// (rule, time, id) of a derived event.
type OutputSummary = (usize, Millis, String);

fn summary(events: &[OutputEvent]) -> Vec<OutputSummary> {
    events
        .iter()
        .map(|e| (e.rule, e.meta.time, e.meta.id.clone()))
        .collect()
}

fn rule0_batches(log: &Log) -> Vec<Vec<(Millis, i64)>> {
    log.lock()
        .unwrap()
        .iter()
        .filter_map(|c| match c {
            Call::Batch(0, _, rows) => Some(rows.clone()),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------- tests

fn late(row: usize, time: Millis, watermark: Millis) -> UntimelyEvent {
    UntimelyEvent {
        row,
        time,
        kind: Untimely::Late { watermark },
    }
}

/// The wall clock of the clock tests: far after their event times.
const NOW: Millis = 1_000_000_000;

#[test]
fn stream_clock_trails_the_newest_event_by_the_lateness() {
    let mut clock = StreamClock::new(5_000, DEFAULT_AHEAD);
    assert_eq!(clock.watermark(), Millis::MIN);
    assert_eq!(clock.admit(10_000, NOW), Admission::OnTime);
    assert_eq!(clock.watermark(), 5_000);
    assert_eq!(
        clock.admit(5_000, NOW),
        Admission::OnTime,
        "exactly at the watermark is in time"
    );
    assert_eq!(
        clock.admit(4_999, NOW),
        Admission::Late,
        "before the watermark is late"
    );
    assert_eq!(
        clock.admit(7_000, NOW),
        Admission::OnTime,
        "out of order within the lateness"
    );
    assert_eq!(clock.watermark(), 5_000, "older events do not move it");
    clock.finish();
    assert_eq!(clock.watermark(), Millis::MAX);
}

#[test]
fn an_event_too_far_ahead_of_the_wall_clock_is_future_and_moves_nothing() {
    let mut clock = StreamClock::new(5_000, 60_000);
    assert_eq!(clock.admit(10_000, NOW), Admission::OnTime);
    assert_eq!(
        clock.admit(NOW + 60_000, NOW),
        Admission::OnTime,
        "exactly at the bound"
    );
    assert_eq!(clock.admit(NOW + 60_001, NOW), Admission::Future);
    assert_eq!(clock.admit(Millis::MAX, NOW), Admission::Future);
    assert_eq!(
        clock.watermark(),
        NOW + 55_000,
        "the future events did not move the watermark"
    );
    // A gap in the stream is no reason to refuse: only the wall clock bounds it.
    let mut quiet = StreamClock::new(0, 60_000);
    assert_eq!(quiet.admit(1_000, NOW), Admission::OnTime);
    assert_eq!(quiet.admit(NOW, NOW), Admission::OnTime);
}

#[test]
fn reorder_buffer_releases_by_time_then_stream_then_offset() {
    let mut buffer = ReorderBuffer::new();
    let b1 = batch(&[(30, 1), (10, 2), (20, 3)]);
    buffer.insert(1, b1, &[30, 10, 20], &[1, 2, 3]);
    let b0 = batch(&[(20, 7), (20, 5)]);
    buffer.insert(0, b0, &[20, 20], &[7, 5]);
    let runs = buffer.release_before(Some(30)).unwrap();
    let shape: Vec<(usize, Vec<i64>)> = runs
        .iter()
        .map(|r| (r.stream, rows(&r.batch, "ts").iter().map(|x| x.1).collect()))
        .collect();
    assert_eq!(shape, vec![(1, vec![2]), (0, vec![5, 7]), (1, vec![3])]);
    assert_eq!(buffer.len(), 1);
    let rest = buffer.release_before(None).unwrap();
    assert_eq!(rest.len(), 1);
    assert!(buffer.is_empty());
}

#[test]
fn late_events_are_reported_and_not_processed() {
    let log: Log = Default::default();
    let mut p = pipeline(1_000, &log);
    let progress = p
        .push(
            0,
            &batch(&[
                (10_000, 1),
                (9_500, 2),
                (8_999, 3),
                (12_000, 4),
                (10_999, 5),
            ]),
        )
        .unwrap();
    assert_eq!(
        progress.untimely,
        vec![late(2, 8_999, 9_000), late(4, 10_999, 11_000)]
    );
    p.finish().unwrap();
    let seen: Vec<i64> = rule0_batches(&log).concat().iter().map(|r| r.1).collect();
    assert_eq!(
        seen,
        vec![2, 1, 4],
        "admitted events in time order, late ones dropped"
    );
}

#[test]
fn nothing_is_released_until_every_input_has_a_watermark() {
    let log: Log = Default::default();
    let mut p = pipeline(1_000, &log);
    p.push(0, &batch(&[(10_000, 1), (20_000, 2), (30_000, 3)]))
        .unwrap();
    assert_eq!(p.global_watermark(), Millis::MIN, "b has not started");
    assert_eq!(p.buffered_events(), 3);
    assert!(log.lock().unwrap().is_empty());

    let mut ready = p.push(1, &batch(&[(15_000, 1)])).unwrap().ready;
    assert_eq!(p.global_watermark(), 14_000, "the minimum over the streams");
    assert_eq!(rule0_batches(&log), vec![vec![(10_000, 1)]]);
    assert!(log.lock().unwrap().contains(&Call::Watermark(0, 14_000)));

    ready.extend(p.finish_stream(1).unwrap().ready);
    assert_eq!(
        p.global_watermark(),
        29_000,
        "a finished stream no longer holds time back"
    );
    assert_eq!(rule0_batches(&log).concat(), vec![(10_000, 1), (20_000, 2)]);

    let rest = p.finish().unwrap();
    assert_eq!(rule0_batches(&log).concat().len(), 3);
    let calls = log.lock().unwrap();
    assert_eq!(
        calls.last(),
        Some(&Call::Watermark(2, Millis::MAX)),
        "the end of time comes last"
    );
    drop(calls);
    // Before the end: the echoes of a@10s and a@20s (and their echoes), and
    // the window [10s, 20s) closed by the watermark 29s.
    let mut expected_ready = vec![
        (0, 10_000),
        (2, 10_000),
        (0, 20_000),
        (1, 20_000),
        (2, 20_000),
    ];
    let got: Vec<(usize, Millis)> = ready.iter().map(|e| (e.rule, e.meta.time)).collect();
    assert_eq!(got, expected_ready);
    // At the end: the echoes of a@30s and the windows ending at 30s and 40s.
    let got: Vec<(usize, Millis)> = rest.iter().map(|e| (e.rule, e.meta.time)).collect();
    expected_ready = vec![(0, 30_000), (1, 30_000), (2, 30_000), (1, 40_000)];
    assert_eq!(got, expected_ready);
}

#[test]
fn equal_times_are_released_in_stream_declaration_order() {
    let log: Log = Default::default();
    let mut p = pipeline(0, &log);
    p.push(1, &batch(&[(1_000, 1)])).unwrap();
    p.push(0, &batch(&[(1_000, 1)])).unwrap();
    p.finish().unwrap();
    let order: Vec<(usize, String)> = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|c| match c {
            Call::Batch(rule, stream, _) => Some((*rule, stream.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        order,
        vec![(0, "a".to_string()), (2, "echo_a".to_string())],
        "a before b; the derived event of rule 0 goes to rule 2 right away"
    );
}

/// Simulates the file runner: the next chunk comes from the unfinished
/// input with the lowest watermark.
fn run_chunked(
    inputs: &[Vec<(Millis, i64)>],
    chunk: usize,
) -> (Vec<OutputSummary>, Vec<(usize, Millis)>) {
    let log: Log = Default::default();
    let mut p = pipeline(3_000, &log);
    let mut positions = vec![0usize; inputs.len()];
    let mut output = Vec::new();
    let mut late = Vec::new();
    let total: usize = inputs.iter().map(Vec::len).sum();
    for _ in 0..=total + inputs.len() {
        let next = (0..inputs.len())
            .filter(|&i| {
                positions[i] <= inputs[i].len()
                    && !(positions[i] == inputs[i].len()
                        && p.stream_watermark(i) == Some(Millis::MAX))
            })
            .min_by_key(|&i| (p.stream_watermark(i).unwrap(), i));
        let Some(i) = next else { break };
        if positions[i] == inputs[i].len() {
            output.extend(p.finish_stream(i).unwrap().ready);
            continue;
        }
        let end = (positions[i] + chunk).min(inputs[i].len());
        let progress = p.push(i, &batch(&inputs[i][positions[i]..end])).unwrap();
        late.extend(progress.untimely.iter().map(|l| (i, l.time)));
        output.extend(progress.ready);
        positions[i] = end;
    }
    output.extend(p.finish().unwrap());
    // Which events are late depends only on each stream's own arrival order;
    // how pushes of different streams interleave does not matter.
    late.sort();
    (summary(&output), late)
}

#[test]
fn output_does_not_depend_on_chunk_sizes() {
    let mut rng = StdRng::seed_from_u64(7);
    let inputs: Vec<Vec<(Millis, i64)>> = (0..2)
        .map(|_| {
            (0..400)
                .map(|i| {
                    // Mostly in order, some jitter inside the lateness, a few very late.
                    let jitter = if rng.random_bool(0.03) {
                        -10_000
                    } else {
                        rng.random_range(-2_500..2_500)
                    };
                    (i * 1_000 + jitter, i + 1)
                })
                .collect()
        })
        .collect();
    let (reference, late) = run_chunked(&inputs, 1);
    assert!(!late.is_empty(), "the data has late events");
    assert!(reference.len() > 700, "{}", reference.len());
    let keys: Vec<(Millis, usize)> = reference.iter().map(|e| (e.1, e.0)).collect();
    assert!(
        keys.windows(2).all(|w| w[0] <= w[1]),
        "output sorted by (time, rule)"
    );
    for chunk in [7, 1000] {
        let (output, late_again) = run_chunked(&inputs, chunk);
        assert_eq!(output, reference, "chunk size {chunk}");
        assert_eq!(late_again, late, "chunk size {chunk}");
    }
}

#[test]
fn a_driving_source_sets_the_watermark_and_idle_streams_do_not_hold_time_back() {
    let log: Log = Default::default();
    let mut p = pipeline(1_000, &log);
    // Stream a is driven (say, by partitions): its own newest event does not count.
    p.drive_stream(0, SourceProgress::Unknown).unwrap();
    p.push(0, &batch(&[(50_000, 1)])).unwrap();
    p.push(1, &batch(&[(20_000, 1)])).unwrap();
    assert_eq!(p.stream_watermark(0), Some(Millis::MIN));
    assert_eq!(
        p.global_watermark(),
        Millis::MIN,
        "a has not said how far it is"
    );

    p.drive_stream(0, SourceProgress::At(30_000)).unwrap();
    assert_eq!(p.stream_watermark(0), Some(29_000));
    assert_eq!(p.global_watermark(), 19_000, "b is behind");

    p.drive_stream(0, SourceProgress::Idle).unwrap();
    p.push(1, &batch(&[(40_000, 2)])).unwrap();
    assert_eq!(
        p.global_watermark(),
        39_000,
        "idle a does not hold time back"
    );
    assert_eq!(
        rule0_batches(&log),
        Vec::<Vec<(Millis, i64)>>::new(),
        "a's event at 50s waits"
    );

    // a comes back with an event the pipeline has already moved past: late.
    let progress = p.push(0, &batch(&[(35_000, 2), (60_000, 3)])).unwrap();
    assert_eq!(progress.untimely, vec![late(0, 35_000, 39_000)]);

    p.drive_stream(1, SourceProgress::Idle).unwrap();
    assert_eq!(
        p.global_watermark(),
        39_000,
        "every input idle: time goes as far as the furthest input"
    );
    p.drive_stream(0, SourceProgress::At(70_000)).unwrap();
    assert_eq!(p.global_watermark(), 69_000);
    assert_eq!(rule0_batches(&log).concat(), vec![(50_000, 1), (60_000, 3)]);
}

#[test]
fn reorder_buffer_matches_a_sort_for_random_input() {
    let mut rng = StdRng::seed_from_u64(11);
    for round in 0..20 {
        let mut buffer = ReorderBuffer::new();
        let mut expected: Vec<(Millis, usize, i64)> = Vec::new();
        let mut released: Vec<(Millis, usize, i64)> = Vec::new();
        let mut next_offset = [1i64; 3];
        let mut watermark = Millis::MIN;
        for _ in 0..30 {
            let stream = rng.random_range(0..3usize);
            let events: Vec<(Millis, i64)> = (0..rng.random_range(0..20))
                .map(|_| {
                    let offset = next_offset[stream];
                    next_offset[stream] += 1;
                    (watermark.max(0) + rng.random_range(0..1_000), offset)
                })
                .collect();
            let times: Vec<Millis> = events.iter().map(|e| e.0).collect();
            let offsets: Vec<i64> = events.iter().map(|e| e.1).collect();
            expected.extend(events.iter().map(|e| (e.0, stream, e.1)));
            buffer.insert(stream, batch(&events), &times, &offsets);
            watermark = watermark.max(0) + rng.random_range(0..500);
            for run in buffer.release_before(Some(watermark)).unwrap() {
                assert!(run.batch.num_rows() > 0);
                for (time, offset, _) in rows(&run.batch, "ts") {
                    assert!(time < watermark, "round {round}: released too early");
                    released.push((time, run.stream, offset));
                }
            }
        }
        for run in buffer.release_before(None).unwrap() {
            released.extend(
                rows(&run.batch, "ts")
                    .iter()
                    .map(|r| (r.0, run.stream, r.1)),
            );
        }
        expected.sort();
        assert_eq!(released, expected, "round {round}");
        assert!(buffer.is_empty());
    }
}
