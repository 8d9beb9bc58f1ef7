//! The automaton core against the reference matcher (tests/reference), on
//! random linear patterns and random event streams, with a fixed seed.

mod reference;

use operators::pattern::automaton::{Automaton, EventInput, Match};
use operators::pattern::nfa::{Nfa, StepSet};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use reference::gen::{cross_steps, events, local_steps, pattern, to_node, SameV};
use reference::{Element, Event, LinearPattern, Millis, RefMatch};

fn config() -> Config {
    Config {
        cases: 2000,
        rng_seed: RngSeed::Fixed(0x5eed_edd1),
        failure_persistence: None,
        ..Config::default()
    }
}

/// How the automaton is told about the cross condition `v == s0.v`.
#[derive(Debug, Clone, Copy)]
enum CrossHint {
    /// Only that some steps have one: candidates are never shared.
    None,
    /// That it reads only the latest event of step 0: candidates at the
    /// same place with the same latest step-0 event are shared.
    LatestOfFirstStep,
}

fn automaton(pattern: &LinearPattern, hint: CrossHint) -> Automaton<u8, usize> {
    let nfa = Nfa::compile(&to_node(pattern), pattern.elements.len()).expect("pattern compiles");
    let automaton = Automaton::new(nfa, pattern.within, cross_steps(pattern));
    match hint {
        CrossHint::None => automaton,
        CrossHint::LatestOfFirstStep => {
            automaton.cross_conditions_read_only_latest(StepSet::single(0))
        }
    }
}

fn to_ref(m: Match<u8, usize>) -> RefMatch {
    RefMatch {
        time: m.time,
        key: m.key,
        taken: m.captures.into_iter().map(|c| (c.step, c.event)).collect(),
    }
}

/// Runs the automaton; before event `i`, advances time to `watermarks[i]`
/// when given (a watermark between the previous and this event's time).
fn run_automaton(
    pattern: &LinearPattern,
    events: &[Event],
    watermarks: &[Option<Millis>],
) -> Vec<RefMatch> {
    run_automaton_with(pattern, events, watermarks, CrossHint::LatestOfFirstStep)
}

fn run_automaton_with(
    pattern: &LinearPattern,
    events: &[Event],
    watermarks: &[Option<Millis>],
    hint: CrossHint,
) -> Vec<RefMatch> {
    let mut automaton = automaton(pattern, hint);
    let mut out = Vec::new();
    for (index, e) in events.iter().enumerate() {
        if let Some(Some(w)) = watermarks.get(index) {
            automaton.advance_time(*w, &mut out);
        }
        let input = EventInput {
            key: e.key,
            time: e.time,
            local: local_steps(pattern, e.letter),
            payload: index,
        };
        automaton
            .on_event(input, &mut SameV { events }, &mut out)
            .expect("the cross condition cannot fail");
    }
    automaton.advance_time(Millis::MAX, &mut out);
    assert_eq!(
        automaton.state_size().entries,
        0,
        "end of input leaves no candidate"
    );
    assert_eq!(automaton.state_size().keys, 0, "end of input leaves no key");
    out.into_iter().map(to_ref).collect()
}

/// Watermarks: before some events, a time between the previous event's
/// time and this one's (never ahead of an event still to come).
fn with_watermarks() -> impl Strategy<Value = (Vec<Event>, Vec<Option<Millis>>)> {
    events().prop_flat_map(|events| {
        let bounds: Vec<(Millis, Millis)> = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                (
                    if i == 0 {
                        e.time - 5
                    } else {
                        events[i - 1].time
                    },
                    e.time,
                )
            })
            .collect();
        let marks = bounds
            .into_iter()
            .map(|(lo, hi)| prop::option::of(lo..=hi))
            .collect::<Vec<_>>();
        (Just(events), marks)
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn automaton_emits_what_the_reference_emits(pattern in pattern(), events in events()) {
        let expected = reference::run(&pattern, &events);
        let actual = run_automaton_with(&pattern, &events, &[], CrossHint::None);
        prop_assert_eq!(actual, expected.clone());
        let shared = run_automaton_with(&pattern, &events, &[], CrossHint::LatestOfFirstStep);
        prop_assert_eq!(shared, expected);
    }

    #[test]
    fn watermarks_between_events_change_nothing(pattern in pattern(), (events, marks) in with_watermarks()) {
        let plain = run_automaton(&pattern, &events, &[]);
        let marked = run_automaton(&pattern, &events, &marks);
        prop_assert_eq!(marked, plain);
    }
}

fn step(letter: char, min: u32, max: Option<u32>) -> Element {
    Element::Step { letter, min, max }
}

fn events_of(spec: &[(Millis, u8, char)]) -> Vec<Event> {
    spec.iter()
        .map(|&(time, key, letter)| Event {
            time,
            key,
            letter,
            v: 0,
        })
        .collect()
}

#[test]
fn five_failures_then_success_give_one_match_with_five_failures() {
    // f{3,} -> s within 10
    let pattern = LinearPattern {
        elements: vec![step('f', 3, None), step('s', 1, Some(1))],
        within: 10,
        same_v: vec![],
    };
    let events = events_of(&[
        (0, 0, 'f'),
        (1, 0, 'f'),
        (2, 0, 'f'),
        (3, 0, 'f'),
        (4, 0, 'f'),
        (5, 0, 's'),
    ]);
    let expected = vec![RefMatch {
        time: 5,
        key: 0,
        taken: vec![(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (1, 5)],
    }];
    assert_eq!(reference::run(&pattern, &events), expected);
    assert_eq!(run_automaton(&pattern, &events, &[]), expected);
}

#[test]
fn trailing_not_fires_at_the_deadline_unless_the_forbidden_event_comes() {
    // p -> not s within 30
    let pattern = LinearPattern {
        elements: vec![step('p', 1, Some(1)), Element::Not { letter: 's' }],
        within: 30,
        same_v: vec![],
    };
    // Key 0 is settled at exactly the deadline; key 1 never is.
    let events = events_of(&[(0, 0, 'p'), (5, 1, 'p'), (30, 0, 's'), (50, 2, 's')]);
    let expected = vec![RefMatch {
        time: 35,
        key: 1,
        taken: vec![(0, 1)],
    }];
    assert_eq!(reference::run(&pattern, &events), expected);
    assert_eq!(run_automaton(&pattern, &events, &[]), expected);
}

#[test]
fn a_not_between_steps_kills_unless_the_next_step_comes_first() {
    // a -> not x -> b within 100
    let pattern = LinearPattern {
        elements: vec![
            step('a', 1, Some(1)),
            Element::Not { letter: 'x' },
            step('b', 1, Some(1)),
        ],
        within: 100,
        same_v: vec![],
    };
    let events = events_of(&[
        (0, 0, 'a'),
        (1, 0, 'x'),
        (2, 0, 'b'),
        (3, 1, 'a'),
        (4, 1, 'b'),
        (5, 1, 'x'),
    ]);
    let expected = vec![RefMatch {
        time: 4,
        key: 1,
        taken: vec![(0, 3), (2, 4)],
    }];
    assert_eq!(reference::run(&pattern, &events), expected);
    assert_eq!(run_automaton(&pattern, &events, &[]), expected);
}

#[test]
fn candidates_at_one_place_with_different_latest_events_stay_apart() {
    // a -> x -> b where v == a.v: the first candidate waits for b with
    // a's v = 1, the second (after the second x) with v = 2.
    let pattern = LinearPattern {
        elements: vec![
            step('a', 1, Some(1)),
            step('x', 1, Some(1)),
            step('b', 1, Some(1)),
        ],
        within: 100,
        same_v: vec![2],
    };
    let events: Vec<Event> = [('a', 1), ('x', 0), ('a', 2), ('x', 0), ('b', 2)]
        .iter()
        .enumerate()
        .map(|(i, &(letter, v))| Event {
            time: i as Millis,
            key: 0,
            letter,
            v,
        })
        .collect();
    let expected = vec![RefMatch {
        time: 4,
        key: 0,
        taken: vec![(0, 2), (1, 3), (2, 4)],
    }];
    assert_eq!(reference::run(&pattern, &events), expected);
    assert_eq!(
        run_automaton_with(&pattern, &events, &[], CrossHint::LatestOfFirstStep),
        expected
    );
    assert_eq!(
        run_automaton_with(&pattern, &events, &[], CrossHint::None),
        expected
    );
}
