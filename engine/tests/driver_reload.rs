//! A reload the driver cannot apply is refused as a whole: every task goes
//! on with the running rules, and the run gives exactly the derived events
//! of a run without the reload.

use std::sync::atomic::{AtomicUsize, Ordering};

use dsl::plan::Program;
use engine::checkpoint::RuleSet;
use engine::driver::Source;
use engine::driver::{Command, Control, Driver, EventSink, Observer, Reload, RunError};
use engine::pipeline::reload::RuleChange;
use engine::pipeline::OutputEvent;
use engine::sink::{DeadLetterSink, SinkError};
use engine::source::reader::{LineOptions, LineSource};
use engine::source::InputLocation;

const PAYMENTS: &str = "stream payments ( ts timestamp, user_id string, amount float ) time ts\n";

fn compile(rules: &str) -> Program {
    let sources = [dsl::Source {
        name: "r.eddy".into(),
        text: rules.into(),
    }];
    dsl::compile(&sources).0.expect("the rules compile")
}

/// Derived events as (rule, time).
#[derive(Default)]
struct Collect(Vec<(usize, i64)>);

impl EventSink for Collect {
    fn write(&mut self, events: &[OutputEvent]) -> Result<(), SinkError> {
        self.0.extend(events.iter().map(|e| (e.rule, e.meta.time)));
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Sends one reload at the first poll.
struct ReloadOnce(Option<Reload>);

impl Control for ReloadOnce {
    fn poll(&mut self) -> Option<Command> {
        self.0.take().map(|r| Command::Reload(Box::new(r)))
    }
}

static REFUSED: AtomicUsize = AtomicUsize::new(0);
static APPLIED: AtomicUsize = AtomicUsize::new(0);

struct Count;

impl Observer for Count {
    fn reloaded(&mut self, _trigger: &str, _changes: &[(String, RuleChange)]) {
        APPLIED.fetch_add(1, Ordering::SeqCst);
    }
    fn reload_refused(&mut self, _trigger: &str, _error: &RunError) {
        REFUSED.fetch_add(1, Ordering::SeqCst);
    }
}

fn run(program: &Program, reload: Option<Reload>) -> Vec<(usize, i64)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.jsonl");
    let lines: String = (0..50)
        .map(|i| {
            format!(
                "{{\"ts\":{},\"user_id\":\"u{}\",\"amount\":{}}}\n",
                1_000 * i,
                i % 3,
                i * 10
            )
        })
        .collect();
    std::fs::write(&path, lines).unwrap();
    let stream = program.catalog.stream_index("payments").unwrap();
    let options = LineOptions {
        batch_size: 7,
        max_chunk_bytes: 1 << 20,
        max_line_bytes: 1 << 20,
        capacity: 2,
    };
    let source = LineSource::spawn(
        stream,
        program.catalog.streams[stream].clone(),
        InputLocation::File(path),
        options,
    )
    .unwrap();
    let mut sources: Vec<Box<dyn Source>> = vec![Box::new(source)];
    let mut events = Collect::default();
    let mut dead_letter = DeadLetterSink::new(dir.path().join("dead.jsonl"), 1);
    let mut control = ReloadOnce(reload);
    let mut observer = Count;
    Driver::new(program, &mut events, &mut dead_letter)
        .inputs(&["payments"])
        .control(&mut control)
        .observer(&mut observer)
        .run(&mut sources)
        .expect("the run ends");
    events.0
}

#[test]
fn a_reload_that_cannot_be_applied_leaves_the_running_rules_running() {
    let running = compile(&format!(
        "{PAYMENTS}rule big from payments where amount > 100 emit big {{ user_id }}\n\
         rule busy from payments by user_id window 10s having count() >= 2 emit busy {{ user_id }}\n"
    ));
    let baseline = run(&running, None);
    assert!(baseline.len() > 10);

    // Does not declare `payments`, the task's input: no task can take it.
    let other_inputs = compile(
        "stream auth ( ts timestamp, user_id string ) time ts\n\
         rule login from auth emit login { user_id }\n",
    );
    let refused = run(
        &running,
        Some(Reload {
            program: other_inputs,
            rules: RuleSet::of(&[]),
            trigger: "test".into(),
        }),
    );
    assert_eq!(REFUSED.load(Ordering::SeqCst), 1);
    assert_eq!(APPLIED.load(Ordering::SeqCst), 0);
    assert_eq!(refused, baseline, "the running rules went on untouched");
}
