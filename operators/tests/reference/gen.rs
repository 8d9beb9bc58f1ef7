//! Random linear patterns and event streams for the property tests, and
//! their encodings for the automaton (plan shape, local conditions).

use std::convert::Infallible;

use dsl::plan::{PatternNode, StepId};
use operators::pattern::automaton::{Capture, CrossCondition};
use operators::pattern::nfa::StepSet;
use proptest::prelude::*;

use super::{Element, Event, LinearPattern};

pub const LETTERS: [char; 3] = ['a', 'b', 'c'];

/// The plan shape of a linear pattern: element `i` is step `i`.
pub fn to_node(pattern: &LinearPattern) -> PatternNode {
    let nodes = pattern
        .elements
        .iter()
        .enumerate()
        .map(|(i, e)| match e {
            Element::Not { .. } => PatternNode::Not(i),
            Element::Step {
                min: 1,
                max: Some(1),
                ..
            } => PatternNode::Step(i),
            Element::Step { min, max, .. } => PatternNode::Repeat {
                node: Box::new(PatternNode::Step(i)),
                min: *min,
                max: *max,
            },
        })
        .collect();
    PatternNode::Seq(nodes)
}

/// The steps whose letter is the event's: the local conditions that hold.
pub fn local_steps(pattern: &LinearPattern, letter: char) -> StepSet {
    pattern
        .elements
        .iter()
        .enumerate()
        .filter(|(_, e)| match e {
            Element::Step { letter: l, .. } | Element::Not { letter: l } => *l == letter,
        })
        .map(|(i, _)| i)
        .collect()
}

pub fn quantifier() -> impl Strategy<Value = (u32, Option<u32>)> {
    prop_oneof![
        4 => Just((1, Some(1))),
        1 => Just((0, Some(1))),
        1 => Just((1, None)),
        1 => Just((0, None)),
        1 => Just((2, Some(2))),
        1 => Just((1, Some(3))),
        1 => Just((2, None)),
        1 => Just((0, Some(2))),
    ]
}

pub fn element() -> impl Strategy<Value = Element> {
    let letter = prop::sample::select(LETTERS.to_vec());
    prop_oneof![
        4 => (letter.clone(), quantifier()).prop_map(|(letter, (min, max))| Element::Step { letter, min, max }),
        1 => letter.prop_map(|letter| Element::Not { letter }),
    ]
}

pub fn pattern() -> impl Strategy<Value = LinearPattern> {
    (
        element().prop_map(|e| match e {
            // The first element is a step: a leading `not` means nothing.
            Element::Not { letter } => Element::Step {
                letter,
                min: 1,
                max: Some(1),
            },
            step => step,
        }),
        prop::collection::vec(element(), 1..4),
        1i64..15,
        prop::collection::vec(prop::bool::weighted(0.25), 4),
    )
        .prop_map(|(first, rest, within, cross)| {
            let mut elements = vec![first];
            elements.extend(rest);
            // A pattern that needs no event is rejected by the compiler.
            let needs_an_event = elements
                .iter()
                .any(|e| matches!(e, Element::Step { min, .. } if *min > 0));
            if !needs_an_event {
                if let Element::Step { min, .. } = &mut elements[0] {
                    *min = 1;
                }
            }
            // Any element but the first may also ask `v == <step 0>.v`.
            let same_v = (1..elements.len()).filter(|&i| cross[i]).collect();
            LinearPattern {
                elements,
                within,
                same_v,
            }
        })
}

pub fn events() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec(
        (
            0i64..4,
            0u8..3,
            prop::sample::select(LETTERS.to_vec()),
            0u8..2,
        ),
        0..40,
    )
    .prop_map(|raw| {
        let mut time = 0;
        raw.into_iter()
            .map(|(gap, key, letter, v)| {
                time += gap;
                Event {
                    time,
                    key,
                    letter,
                    v,
                }
            })
            .collect()
    })
}

/// The steps with a cross condition.
pub fn cross_steps(pattern: &LinearPattern) -> StepSet {
    pattern.same_v.iter().copied().collect()
}

/// The cross condition `v == <step 0>.v` of the abstract encoding, for the
/// automaton core: payloads are indices into `events`.
pub struct SameV<'a> {
    pub events: &'a [Event],
}

impl CrossCondition<usize> for SameV<'_> {
    type Error = Infallible;

    fn holds(
        &mut self,
        _step: StepId,
        captures: &[Capture<usize>],
        event: &usize,
    ) -> Result<bool, Infallible> {
        let latest_first = captures.iter().rev().find(|c| c.step == 0);
        Ok(latest_first.is_some_and(|c| self.events[c.event].v == self.events[*event].v))
    }
}
