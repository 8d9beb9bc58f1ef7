//! A reference matcher for linear patterns, written straight from the
//! contract in docs/rules.md ("Semantics: the contract"), plain and slow:
//! every candidate is an explicit (element, count, taken events) record and
//! every event re-examines all of them. It knows nothing of the automaton.
//!
//! Events are abstract: (time, key, letter, v); a step matches an event
//! when its letter is the event's letter and, for the steps listed in
//! `LinearPattern::same_v`, when the event's `v` equals the `v` of the
//! latest event the candidate took as step 0 (a cross condition: false
//! while step 0 took none).
//!
//! How the contract is read (the same reading the automaton documents):
//! - "the next step" of a quantified step whose minimum is reached is the
//!   following step, or, when that one is optional (min 0), any step after
//!   it that can be reached by skipping optional steps; the farthest one
//!   is tried first (advance-first applied at every optional step);
//! - a `not` between steps is watched once the candidate has done what
//!   precedes it (the step before has reached its minimum); an event that
//!   is taken as the next step is not also a forbidden one;
//! - a trailing `not` makes the candidate wait until `first + within`;
//!   an event satisfying it at or before that time kills the candidate;
//!   after that time the candidate completes, at `first + within`, and
//!   like any completion it discards every candidate of its key;
//! - a candidate takes events while `time - first <= within`.

#![allow(dead_code)]

pub mod gen;

pub type Millis = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub time: Millis,
    pub key: u8,
    pub letter: char,
    pub v: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element {
    Step {
        letter: char,
        min: u32,
        max: Option<u32>,
    },
    Not {
        letter: char,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinearPattern {
    pub elements: Vec<Element>,
    pub within: Millis,
    /// Elements whose condition also asks `v == <step 0>.v`.
    pub same_v: Vec<usize>,
}

/// A match: when it completed, its key, and the events taken as
/// (element index, event index in the input), in the order taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefMatch {
    pub time: Millis,
    pub key: u8,
    pub taken: Vec<(usize, usize)>,
}

#[derive(Debug, Clone)]
struct Candidate {
    id: u64,
    key: u8,
    first: Millis,
    /// The element the candidate is filling, and how many events it took there.
    at: usize,
    count: u32,
    taken: Vec<(usize, usize)>,
    /// Only trailing `not` steps are left.
    waiting: bool,
}

impl LinearPattern {
    fn min(&self, i: usize) -> u32 {
        match &self.elements[i] {
            Element::Step { min, .. } => *min,
            Element::Not { .. } => 0,
        }
    }

    fn below_max(&self, i: usize, count: u32) -> bool {
        match &self.elements[i] {
            Element::Step { max, .. } => max.is_none_or(|m| count < m),
            Element::Not { .. } => false,
        }
    }

    fn letter(&self, i: usize) -> char {
        match &self.elements[i] {
            Element::Step { letter, .. } | Element::Not { letter } => *letter,
        }
    }

    /// What lies after element `i` (exclusive) up to the first mandatory
    /// step: the steps that count as "the next step", farthest first; the
    /// `not` elements passed; and whether the end of the pattern is reached
    /// (only optional steps and `not`s remain).
    fn ahead(&self, i: Option<usize>) -> (Vec<usize>, Vec<usize>, bool) {
        let mut steps = Vec::new();
        let mut nots = Vec::new();
        let mut j = i.map_or(0, |i| i + 1);
        while j < self.elements.len() {
            match &self.elements[j] {
                Element::Not { .. } => nots.push(j),
                Element::Step { min, .. } => {
                    steps.push(j);
                    if *min > 0 {
                        steps.reverse();
                        return (steps, nots, false);
                    }
                }
            }
            j += 1;
        }
        steps.reverse();
        (steps, nots, true)
    }
}

/// Runs the pattern over `events` (sorted by time), partitioned by key,
/// then closes time (end of input).
pub fn run(pattern: &LinearPattern, events: &[Event]) -> Vec<RefMatch> {
    let mut state = Reference {
        pattern,
        events,
        candidates: Vec::new(),
        next_id: 0,
        out: Vec::new(),
    };
    for (index, event) in events.iter().enumerate() {
        state.close_before(event.time);
        state.on_event(index, event);
    }
    state.close_before(Millis::MAX);
    state.out
}

struct Reference<'a> {
    pattern: &'a LinearPattern,
    events: &'a [Event],
    /// Every live candidate of every key, in creation order.
    candidates: Vec<Candidate>,
    next_id: u64,
    out: Vec<RefMatch>,
}

impl Reference<'_> {
    fn deadline(&self, c: &Candidate) -> Millis {
        c.first.saturating_add(self.pattern.within)
    }

    /// Candidates whose window ended before `now` die, or complete when
    /// only a trailing `not` was left; in (deadline, creation) order.
    fn close_before(&mut self, now: Millis) {
        loop {
            let due = self
                .candidates
                .iter()
                .filter(|c| self.deadline(c) < now || now == Millis::MAX)
                .min_by_key(|c| (self.deadline(c), c.id))
                .cloned();
            let Some(c) = due else { return };
            if c.waiting {
                self.out.push(RefMatch {
                    time: self.deadline(&c),
                    key: c.key,
                    taken: c.taken.clone(),
                });
                self.candidates.retain(|o| o.key != c.key);
            } else {
                self.candidates.retain(|o| o.id != c.id);
            }
        }
    }

    fn on_event(&mut self, index: usize, event: &Event) {
        let p = self.pattern;
        let events = self.events;
        let mut completed: Option<Candidate> = None;
        let mut killed: Vec<u64> = Vec::new();
        for c in self.candidates.iter_mut().filter(|c| c.key == event.key) {
            if c.waiting {
                let (_, nots, _) = p.ahead(Some(c.at));
                if nots
                    .iter()
                    .any(|n| satisfies(p, events, *n, event, &c.taken))
                {
                    killed.push(c.id);
                }
                continue;
            }
            // The moves open to the candidate, in the contract's priority:
            // the next step once the minimum is reached, else more of this one.
            let mut moves = Vec::new();
            let mut forbidden = Vec::new();
            if c.count >= p.min(c.at) {
                let (next, nots, _) = p.ahead(Some(c.at));
                moves.extend(next);
                forbidden = nots;
            }
            if p.below_max(c.at, c.count) {
                moves.push(c.at);
            }
            match moves
                .into_iter()
                .find(|m| satisfies(p, events, *m, event, &c.taken))
            {
                Some(m) => {
                    if m == c.at {
                        c.count += 1;
                    } else {
                        c.at = m;
                        c.count = 1;
                    }
                    c.taken.push((m, index));
                    match done(p, c.at, c.count) {
                        Done::Now => {
                            completed = Some(c.clone());
                            break;
                        }
                        Done::Waiting => c.waiting = true,
                        Done::No => {}
                    }
                }
                None => {
                    if forbidden
                        .iter()
                        .any(|n| satisfies(p, events, *n, event, &c.taken))
                    {
                        killed.push(c.id);
                    }
                }
            }
        }
        self.candidates.retain(|c| !killed.contains(&c.id));
        if let Some(c) = completed {
            self.emit(c, event.time);
            return;
        }
        // Every event that satisfies the first step starts a candidate.
        let (first_steps, _, _) = p.ahead(None);
        if let Some(m) = first_steps
            .into_iter()
            .find(|m| satisfies(p, events, *m, event, &[]))
        {
            let mut c = Candidate {
                id: self.next_id,
                key: event.key,
                first: event.time,
                at: m,
                count: 1,
                taken: vec![(m, index)],
                waiting: false,
            };
            self.next_id += 1;
            match done(p, c.at, c.count) {
                Done::Now => self.emit(c, event.time),
                Done::Waiting => {
                    c.waiting = true;
                    self.candidates.push(c);
                }
                Done::No => self.candidates.push(c),
            }
        }
    }

    /// Emits `c` and discards every candidate of its key.
    fn emit(&mut self, c: Candidate, time: Millis) {
        self.candidates.retain(|o| o.key != c.key);
        self.out.push(RefMatch {
            time,
            key: c.key,
            taken: c.taken,
        });
    }
}

enum Done {
    No,
    Now,
    Waiting,
}

/// Whether a candidate at element `at` with `count` events there is done.
fn done(p: &LinearPattern, at: usize, count: u32) -> Done {
    if count < p.min(at) {
        return Done::No;
    }
    match p.ahead(Some(at)) {
        (_, _, false) => Done::No,
        (_, nots, true) if nots.is_empty() => Done::Now,
        _ => Done::Waiting,
    }
}

/// Whether `event` satisfies element `element` for a candidate that took
/// `taken`: the letter, and `v == <step 0>.v` where the pattern asks it.
fn satisfies(
    p: &LinearPattern,
    events: &[Event],
    element: usize,
    event: &Event,
    taken: &[(usize, usize)],
) -> bool {
    if p.letter(element) != event.letter {
        return false;
    }
    if !p.same_v.contains(&element) {
        return true;
    }
    let latest_first = taken.iter().rev().find(|(e, _)| *e == 0);
    latest_first.is_some_and(|(_, i)| events[*i].v == event.v)
}
