//! The pattern automaton's pure core: candidates per key, driven by events
//! and by time. It knows nothing of Arrow: an event is its time, the set of
//! steps whose local condition it satisfies, and an opaque payload `E` that
//! is handed back in matches; cross conditions (those that read earlier
//! steps) are asked of the caller through [`CrossCondition`].
//!
//! Semantics (the contract in docs/rules.md, "skip-till-next-match"):
//!
//! - Every event that the start of the pattern can take starts a candidate,
//!   in addition to being offered to the key's existing candidates.
//! - A candidate offered an event tries its moves in priority order (see
//!   [`super::nfa`]); the first move whose step's local and cross
//!   conditions hold takes the event. Otherwise the event is skipped, unless
//!   it satisfies a `not` step the candidate stands before: then the
//!   candidate dies. An event that satisfies the next step advances the
//!   candidate even when it also satisfies the forbidden step: the `not`
//!   forbids events *before* the next step is taken, and this event is the
//!   next step.
//! - A candidate may take events for `within` after its first event; once
//!   time passes `first + within` it dies, or, when only trailing `not`
//!   steps are left, it completes at `first + within`.
//! - When candidates of a key complete on an event, the earliest started is
//!   emitted and every candidate of that key is discarded; the completing
//!   event starts nothing. A trailing-`not` completion at its deadline
//!   likewise discards every candidate of its key (the key starts afresh
//!   after the completion time, as after any other completion).
//! - Deadlines fire in (deadline, candidate creation) order, before any
//!   event later than the deadline.
//! - A key with no candidate holds no state.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::hash::Hash;
use std::sync::Arc;

use dsl::plan::{Millis, StepId};

use super::nfa::{Closure, Completion, Nfa, Position, StepSet};
use crate::operator::StateSize;

/// One event taken by a candidate, under the step that took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture<E> {
    pub step: StepId,
    pub event: E,
}

/// A completed match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<K, E> {
    pub key: K,
    /// The event time at which the match completed: its last event's time,
    /// or the deadline for a trailing `not`.
    pub time: Millis,
    /// The events taken, in the order they were taken.
    pub captures: Vec<Capture<E>>,
}

/// Evaluates the cross condition of a step (the part that reads earlier
/// steps) for one candidate and one event. Only asked for steps listed as
/// having one, and only when the step's local condition holds.
pub trait CrossCondition<E> {
    type Error;
    fn holds(
        &mut self,
        step: StepId,
        captures: &[Capture<E>],
        event: &E,
    ) -> Result<bool, Self::Error>;
}

/// For patterns without cross conditions.
pub struct NoCrossConditions;

impl<E> CrossCondition<E> for NoCrossConditions {
    type Error = Infallible;
    fn holds(&mut self, _: StepId, _: &[Capture<E>], _: &E) -> Result<bool, Infallible> {
        Ok(true)
    }
}

/// What the automaton is told about one event.
#[derive(Debug, Clone)]
pub struct EventInput<K, E> {
    pub key: K,
    pub time: Millis,
    /// The steps whose stream is the event's stream and whose local
    /// condition holds for it.
    pub local: StepSet,
    pub payload: E,
}

#[derive(Debug, Clone)]
enum Phase {
    /// Still taking events, from this position.
    Taking(Position),
    /// Only trailing `not` steps are left: completes at the deadline unless
    /// an event satisfying one of `guards` comes first.
    AwaitingAbsence { guards: StepSet },
}

#[derive(Debug, Clone)]
struct Candidate<E> {
    /// Creation order, unique for the automaton's life.
    seq: u64,
    first: Millis,
    phase: Phase,
    captures: Vec<Capture<E>>,
}

/// What an offered event did to a candidate.
enum Outcome {
    Unchanged,
    Killed,
    Completed,
}

/// The candidates of every key, and their deadlines.
pub struct Automaton<K, E> {
    nfa: Nfa,
    within: Millis,
    /// Steps with a cross condition: only these are asked of [`CrossCondition`].
    cross_steps: StepSet,
    closures: HashMap<Position, Arc<Closure>>,
    /// Candidates per key, in creation (= start) order.
    keys: HashMap<K, Vec<Candidate<E>>>,
    /// Every live candidate's deadline: (first + within, seq) -> key.
    deadlines: BTreeMap<(Millis, u64), K>,
    next_seq: u64,
    candidate_count: usize,
}

impl<K: Clone + Eq + Hash, E: Clone> Automaton<K, E> {
    pub fn new(nfa: Nfa, within: Millis, cross_steps: StepSet) -> Self {
        Automaton {
            nfa,
            within,
            cross_steps,
            closures: HashMap::new(),
            keys: HashMap::new(),
            deadlines: BTreeMap::new(),
            next_seq: 0,
            candidate_count: 0,
        }
    }

    pub fn state_size(&self) -> StateSize {
        StateSize {
            entries: self.candidate_count,
            keys: self.keys.len(),
        }
    }

    /// Time has reached `now` (an event at `now`, or a watermark): every
    /// candidate whose deadline is before `now` dies or, awaiting absence,
    /// completes. `Millis::MAX` (end of input) fires every deadline.
    pub fn advance_time(&mut self, now: Millis, out: &mut Vec<Match<K, E>>) {
        while let Some((&(deadline, seq), _)) = self.deadlines.first_key_value() {
            if deadline >= now && now != Millis::MAX {
                break;
            }
            let Some(key) = self.deadlines.remove(&(deadline, seq)) else {
                break;
            };
            let Some(candidates) = self.keys.get_mut(&key) else {
                continue;
            };
            let Some(index) = candidates.iter().position(|c| c.seq == seq) else {
                continue;
            };
            match candidates[index].phase {
                Phase::AwaitingAbsence { .. } => {
                    let candidate = candidates.remove(index);
                    self.candidate_count -= 1;
                    self.discard_key(&key);
                    out.push(Match {
                        key,
                        time: deadline,
                        captures: candidate.captures,
                    });
                }
                Phase::Taking(_) => {
                    candidates.remove(index);
                    self.candidate_count -= 1;
                    if candidates.is_empty() {
                        self.keys.remove(&key);
                    }
                }
            }
        }
    }

    /// Offers one event (events come in time order; equal times keep their
    /// order). Fires the deadlines before it first.
    pub fn on_event<X: CrossCondition<E>>(
        &mut self,
        event: EventInput<K, E>,
        cross: &mut X,
        out: &mut Vec<Match<K, E>>,
    ) -> Result<(), X::Error> {
        self.advance_time(event.time, out);
        if let Some(completed) = self.offer_to_candidates(&event, cross)? {
            self.discard_key(&event.key);
            out.push(Match {
                key: event.key,
                time: event.time,
                captures: completed.captures,
            });
            return Ok(());
        }
        self.maybe_start(event, cross, out)
    }

    /// Offers the event to the key's candidates in start order; stops at the
    /// first that completes (the earliest started) and returns it.
    fn offer_to_candidates<X: CrossCondition<E>>(
        &mut self,
        event: &EventInput<K, E>,
        cross: &mut X,
    ) -> Result<Option<Candidate<E>>, X::Error> {
        let Some(mut candidates) = self.keys.remove(&event.key) else {
            return Ok(None);
        };
        let mut index = 0;
        let mut completed = None;
        while index < candidates.len() {
            match self.offer(&mut candidates[index], event, cross)? {
                Outcome::Unchanged => index += 1,
                Outcome::Killed => {
                    let dead = candidates.remove(index);
                    self.forget(&dead);
                }
                Outcome::Completed => {
                    completed = Some(candidates.remove(index));
                    break;
                }
            }
        }
        if let Some(c) = &completed {
            self.forget(c);
        }
        if !candidates.is_empty() {
            self.keys.insert(event.key.clone(), candidates);
        }
        Ok(completed)
    }

    fn offer<X: CrossCondition<E>>(
        &mut self,
        candidate: &mut Candidate<E>,
        event: &EventInput<K, E>,
        cross: &mut X,
    ) -> Result<Outcome, X::Error> {
        let closure = match candidate.phase {
            Phase::AwaitingAbsence { guards } => {
                return Ok(
                    if self.any_holds(guards, &candidate.captures, event, cross)? {
                        Outcome::Killed
                    } else {
                        Outcome::Unchanged
                    },
                );
            }
            Phase::Taking(pos) => self.closure(pos),
        };
        for take in &closure.takes {
            if self.step_holds(take.step, &candidate.captures, event, cross)? {
                candidate.captures.push(Capture {
                    step: take.step,
                    event: event.payload.clone(),
                });
                return Ok(self.moved_to(candidate, take.to));
            }
        }
        Ok(
            if self.any_holds(closure.guards, &candidate.captures, event, cross)? {
                Outcome::Killed
            } else {
                Outcome::Unchanged
            },
        )
    }

    /// The candidate has taken an event and stands at `to`.
    fn moved_to(&mut self, candidate: &mut Candidate<E>, to: Position) -> Outcome {
        match self.closure(to).completion {
            Completion::Now => Outcome::Completed,
            Completion::AfterAbsence { guards } => {
                candidate.phase = Phase::AwaitingAbsence { guards };
                Outcome::Unchanged
            }
            Completion::No => {
                candidate.phase = Phase::Taking(to);
                Outcome::Unchanged
            }
        }
    }

    /// Starts a candidate when the start of the pattern takes the event.
    fn maybe_start<X: CrossCondition<E>>(
        &mut self,
        event: EventInput<K, E>,
        cross: &mut X,
        out: &mut Vec<Match<K, E>>,
    ) -> Result<(), X::Error> {
        let start = self.nfa.start();
        let closure = self.closure(start);
        let mut candidate = Candidate {
            seq: self.next_seq,
            first: event.time,
            phase: Phase::Taking(start),
            captures: Vec::new(),
        };
        for take in &closure.takes {
            if !self.step_holds(take.step, &[], &event, cross)? {
                continue;
            }
            self.next_seq += 1;
            candidate.captures.push(Capture {
                step: take.step,
                event: event.payload.clone(),
            });
            match self.moved_to(&mut candidate, take.to) {
                Outcome::Completed => {
                    self.discard_key(&event.key);
                    out.push(Match {
                        key: event.key,
                        time: event.time,
                        captures: candidate.captures,
                    });
                }
                _ => {
                    let deadline = candidate.first.saturating_add(self.within);
                    self.deadlines
                        .insert((deadline, candidate.seq), event.key.clone());
                    self.candidate_count += 1;
                    self.keys.entry(event.key).or_default().push(candidate);
                }
            }
            return Ok(());
        }
        Ok(())
    }

    fn step_holds<X: CrossCondition<E>>(
        &self,
        step: StepId,
        captures: &[Capture<E>],
        event: &EventInput<K, E>,
        cross: &mut X,
    ) -> Result<bool, X::Error> {
        if !event.local.contains(step) {
            return Ok(false);
        }
        if !self.cross_steps.contains(step) {
            return Ok(true);
        }
        cross.holds(step, captures, &event.payload)
    }

    fn any_holds<X: CrossCondition<E>>(
        &self,
        steps: StepSet,
        captures: &[Capture<E>],
        event: &EventInput<K, E>,
        cross: &mut X,
    ) -> Result<bool, X::Error> {
        for step in steps.iter() {
            if self.step_holds(step, captures, event, cross)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn closure(&mut self, pos: Position) -> Arc<Closure> {
        let nfa = &self.nfa;
        self.closures
            .entry(pos)
            .or_insert_with(|| Arc::new(nfa.closure(pos)))
            .clone()
    }

    /// Drops a candidate already taken out of its key's list.
    fn forget(&mut self, candidate: &Candidate<E>) {
        self.deadlines
            .remove(&(candidate.first.saturating_add(self.within), candidate.seq));
        self.candidate_count -= 1;
    }

    /// Drops every candidate of `key`.
    fn discard_key(&mut self, key: &K) {
        if let Some(candidates) = self.keys.remove(key) {
            for c in &candidates {
                self.forget(c);
            }
        }
    }
}
