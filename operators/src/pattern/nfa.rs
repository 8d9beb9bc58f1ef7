//! Compiles a pattern's shape ([`PatternNode`]) into a small automaton whose
//! transitions are ORDERED: when several moves could take an event, the
//! first one wins. That order is what makes a candidate one deterministic
//! thread instead of a set of threads:
//!
//! - a quantified node whose minimum is reached tries to exit to what
//!   follows before it tries to repeat ("advance-first");
//! - an alternation tries its branches left to right;
//! - `all(a, b, ...)` tries its untaken members in text order.
//!
//! Bounded quantifiers `{n,m}` are unrolled into copies of their node;
//! unbounded ones (`*`, `+`, `{n,}`) become loops. `not x` is an epsilon
//! move that carries a guard: it does not consume, it records that an event
//! satisfying `x` forbids the path.

use std::collections::HashSet;

use dsl::plan::{PatternNode, StepId};
use serde::{Deserialize, Serialize};

// The bounds live in `dsl` so that `eddy check` refuses exactly what this
// compiler refuses (see `dsl::limits`).
pub use dsl::limits::{MAX_REPEAT, MAX_STATES, MAX_STEPS};

/// Why a pattern cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NfaError {
    #[error("quantifier bound {0} is over the limit of {MAX_REPEAT}")]
    RepeatTooLarge(u32),
    #[error("quantifier {{{min},{max}}} has its minimum above its maximum")]
    InvertedRange { min: u32, max: u32 },
    #[error("the pattern has {0} steps; at most {MAX_STEPS} are supported")]
    TooManySteps(usize),
    #[error("the pattern names step {0}, which does not exist")]
    UnknownStep(StepId),
    #[error("the pattern unrolls to more than {MAX_STATES} states")]
    TooManyStates,
    #[error("the pattern can complete without taking any event")]
    MatchesNothing,
    #[error("an empty alternation or all(...)")]
    EmptyChoice,
}

/// A set of [`StepId`]s (all below [`MAX_STEPS`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StepSet(u64);

impl StepSet {
    pub const EMPTY: StepSet = StepSet(0);

    pub fn single(step: StepId) -> StepSet {
        StepSet(1u64 << step)
    }

    pub fn from_bits(bits: u64) -> StepSet {
        StepSet(bits)
    }

    pub fn bits(self) -> u64 {
        self.0
    }

    pub fn contains(self, step: StepId) -> bool {
        step < MAX_STEPS && self.0 & (1u64 << step) != 0
    }

    pub fn insert(&mut self, step: StepId) {
        self.0 |= 1u64 << step;
    }

    pub fn union(self, other: StepSet) -> StepSet {
        StepSet(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members in increasing order.
    pub fn iter(self) -> impl Iterator<Item = StepId> {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            if rest == 0 {
                return None;
            }
            let step = rest.trailing_zeros() as StepId;
            rest &= rest - 1;
            Some(step)
        })
    }
}

impl FromIterator<StepId> for StepSet {
    fn from_iter<I: IntoIterator<Item = StepId>>(iter: I) -> Self {
        let mut set = StepSet::EMPTY;
        for s in iter {
            set.insert(s);
        }
        set
    }
}

pub type StateId = usize;

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// Takes one event satisfying `step`, then moves to `next`.
    Consume {
        step: StepId,
        next: StateId,
    },
    /// Epsilon moves, tried in order.
    Split(Vec<StateId>),
    /// `not step`: an epsilon move to `next` guarded by the absence of `step`.
    Guard {
        step: StepId,
        next: StateId,
    },
    /// `all(members)`: each member once, in any order, then `next`. The
    /// members taken so far live in [`Position::taken`].
    All {
        members: Vec<StepId>,
        next: StateId,
    },
    Accept,
}

/// Where a candidate stands: a state, plus the members taken so far when
/// that state is an `all(...)` (0 elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    state: StateId,
    taken: u64,
}

/// One way to take an event from a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Take {
    pub step: StepId,
    pub to: Position,
}

/// Whether the pattern can complete from a position without another event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// No: more events are needed.
    No,
    /// Yes, now.
    Now,
    /// Only through trailing `not` steps: the candidate completes when its
    /// `within` window closes, unless an event satisfying one of `guards`
    /// arrives first.
    AfterAbsence { guards: StepSet },
}

/// Everything reachable from a position by epsilon moves.
#[derive(Debug, Clone, PartialEq)]
pub struct Closure {
    /// The moves that take an event, highest priority first.
    pub takes: Vec<Take>,
    /// The `not` steps passed on the way to any move or to acceptance: an
    /// event satisfying one of them, and taken by no move, kills the candidate.
    pub guards: StepSet,
    pub completion: Completion,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Nfa {
    states: Vec<State>,
    start: StateId,
    step_count: usize,
}

impl Nfa {
    /// Compiles `root`, whose steps are numbered `0..step_count`.
    pub fn compile(root: &PatternNode, step_count: usize) -> Result<Nfa, NfaError> {
        if step_count > MAX_STEPS {
            return Err(NfaError::TooManySteps(step_count));
        }
        let mut builder = Builder {
            states: Vec::new(),
            step_count,
        };
        let accept = builder.push(State::Accept)?;
        let start = builder.compile(root, accept)?;
        let nfa = Nfa {
            states: builder.states,
            start,
            step_count,
        };
        if nfa.closure(nfa.start()).completion != Completion::No {
            return Err(NfaError::MatchesNothing);
        }
        Ok(nfa)
    }

    pub fn start(&self) -> Position {
        Position {
            state: self.start,
            taken: 0,
        }
    }

    pub fn step_count(&self) -> usize {
        self.step_count
    }

    /// Whether `pos` is a place of this automaton: a state it has, with
    /// members taken only of an `all(...)` that has them. A restored
    /// candidate must stand at one (the walks index states by it).
    pub fn contains(&self, pos: Position) -> bool {
        match self.states.get(pos.state) {
            Some(State::All { members, .. }) => {
                members.len() >= 64 || pos.taken >> members.len() == 0
            }
            Some(_) => pos.taken == 0,
            None => false,
        }
    }

    /// Every step the automaton can take an event into.
    pub fn consuming_steps(&self) -> StepSet {
        let mut set = StepSet::EMPTY;
        for state in &self.states {
            match state {
                State::Consume { step, .. } => set.insert(*step),
                State::All { members, .. } => members.iter().for_each(|m| set.insert(*m)),
                _ => {}
            }
        }
        set
    }

    /// The epsilon closure of `from`, in priority order.
    pub fn closure(&self, from: Position) -> Closure {
        let mut walk = ClosureWalk {
            nfa: self,
            visited: HashSet::new(),
            out: Closure {
                takes: Vec::new(),
                guards: StepSet::EMPTY,
                completion: Completion::No,
            },
        };
        walk.visit(from, StepSet::EMPTY);
        walk.out
    }
}

/// A depth-first walk over epsilon moves; the first visit of a position
/// wins, which keeps priorities and ends epsilon cycles (`(a?)*`).
struct ClosureWalk<'a> {
    nfa: &'a Nfa,
    visited: HashSet<Position>,
    out: Closure,
}

impl ClosureWalk<'_> {
    fn visit(&mut self, pos: Position, path_guards: StepSet) {
        // Acceptance is not marked visited: every path to it counts.
        let is_accept = matches!(self.nfa.states[pos.state], State::Accept);
        if !is_accept && !self.visited.insert(pos) {
            return;
        }
        match &self.nfa.states[pos.state] {
            State::Consume { step, next } => self.out.takes.push(Take {
                step: *step,
                to: entry(*next),
            }),
            State::Split(targets) => {
                for t in targets {
                    self.visit(entry(*t), path_guards);
                }
            }
            State::Guard { step, next } => {
                self.out.guards.insert(*step);
                let mut guards = path_guards;
                guards.insert(*step);
                self.visit(entry(*next), guards);
            }
            State::All { members, next } => {
                let full = if members.len() >= 64 {
                    u64::MAX
                } else {
                    (1u64 << members.len()) - 1
                };
                if pos.taken == full {
                    self.visit(entry(*next), path_guards);
                } else {
                    for (i, step) in members.iter().enumerate() {
                        if pos.taken & (1u64 << i) == 0 {
                            self.out.takes.push(Take {
                                step: *step,
                                to: Position {
                                    state: pos.state,
                                    taken: pos.taken | (1u64 << i),
                                },
                            });
                        }
                    }
                }
            }
            State::Accept => {
                // An unguarded path to acceptance completes the pattern now,
                // whatever guarded paths exist; guarded paths add up.
                self.out.completion = match (self.out.completion, path_guards.is_empty()) {
                    (Completion::Now, _) | (_, true) => Completion::Now,
                    (Completion::AfterAbsence { guards }, false) => Completion::AfterAbsence {
                        guards: guards.union(path_guards),
                    },
                    (Completion::No, false) => Completion::AfterAbsence {
                        guards: path_guards,
                    },
                };
            }
        }
    }
}

/// Entering a state by an epsilon move or after a take: a fresh `all(...)`.
fn entry(state: StateId) -> Position {
    Position { state, taken: 0 }
}

struct Builder {
    states: Vec<State>,
    step_count: usize,
}

impl Builder {
    fn push(&mut self, state: State) -> Result<StateId, NfaError> {
        if self.states.len() >= MAX_STATES {
            return Err(NfaError::TooManyStates);
        }
        self.states.push(state);
        Ok(self.states.len() - 1)
    }

    fn check_step(&self, step: StepId) -> Result<StepId, NfaError> {
        if step < self.step_count {
            Ok(step)
        } else {
            Err(NfaError::UnknownStep(step))
        }
    }

    /// Compiles `node` followed by the already compiled `next`; returns the
    /// entry state.
    fn compile(&mut self, node: &PatternNode, next: StateId) -> Result<StateId, NfaError> {
        match node {
            PatternNode::Step(step) => {
                let step = self.check_step(*step)?;
                self.push(State::Consume { step, next })
            }
            PatternNode::Not(step) => {
                let step = self.check_step(*step)?;
                self.push(State::Guard { step, next })
            }
            PatternNode::Seq(nodes) => {
                let mut tail = next;
                for n in nodes.iter().rev() {
                    tail = self.compile(n, tail)?;
                }
                Ok(tail)
            }
            PatternNode::Alt(branches) => {
                if branches.is_empty() {
                    return Err(NfaError::EmptyChoice);
                }
                let entries = branches
                    .iter()
                    .map(|b| self.compile(b, next))
                    .collect::<Result<Vec<_>, _>>()?;
                self.push(State::Split(entries))
            }
            PatternNode::All(members) => {
                if members.is_empty() {
                    return Err(NfaError::EmptyChoice);
                }
                if members.len() > MAX_STEPS {
                    return Err(NfaError::TooManySteps(members.len()));
                }
                for m in members {
                    self.check_step(*m)?;
                }
                self.push(State::All {
                    members: members.clone(),
                    next,
                })
            }
            PatternNode::Repeat { node, min, max } => self.compile_repeat(node, *min, *max, next),
        }
    }

    fn compile_repeat(
        &mut self,
        node: &PatternNode,
        min: u32,
        max: Option<u32>,
        next: StateId,
    ) -> Result<StateId, NfaError> {
        if min > MAX_REPEAT {
            return Err(NfaError::RepeatTooLarge(min));
        }
        // After the mandatory copies: either a loop or `max - min` optional
        // copies, each of which prefers to exit (advance-first).
        let mut tail = match max {
            Some(max) if max > MAX_REPEAT => return Err(NfaError::RepeatTooLarge(max)),
            Some(max) if max < min => return Err(NfaError::InvertedRange { min, max }),
            Some(max) => {
                let mut tail = next;
                for _ in min..max {
                    let body = self.compile(node, tail)?;
                    tail = self.push(State::Split(vec![next, body]))?;
                }
                tail
            }
            None => {
                let loop_head = self.push(State::Split(Vec::new()))?;
                let body = self.compile(node, loop_head)?;
                self.states[loop_head] = State::Split(vec![next, body]);
                loop_head
            }
        };
        for _ in 0..min {
            tail = self.compile(node, tail)?;
        }
        Ok(tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(s: StepId) -> PatternNode {
        PatternNode::Step(s)
    }

    fn repeat(node: PatternNode, min: u32, max: Option<u32>) -> PatternNode {
        PatternNode::Repeat {
            node: Box::new(node),
            min,
            max,
        }
    }

    fn take_steps(c: &Closure) -> Vec<StepId> {
        c.takes.iter().map(|t| t.step).collect()
    }

    #[test]
    fn quantified_step_prefers_advancing_once_its_minimum_is_reached() {
        // a{2,} -> b
        let nfa = Nfa::compile(
            &PatternNode::Seq(vec![repeat(step(0), 2, None), step(1)]),
            2,
        )
        .unwrap();
        let c0 = nfa.closure(nfa.start());
        assert_eq!(take_steps(&c0), vec![0]);
        let c1 = nfa.closure(c0.takes[0].to);
        assert_eq!(take_steps(&c1), vec![0]);
        let c2 = nfa.closure(c1.takes[0].to);
        assert_eq!(take_steps(&c2), vec![1, 0]);
    }

    #[test]
    fn optional_steps_are_skipped_first() {
        // a -> b? -> c: after a, c is tried before b.
        let nfa = Nfa::compile(
            &PatternNode::Seq(vec![step(0), repeat(step(1), 0, Some(1)), step(2)]),
            3,
        )
        .unwrap();
        let after_a = nfa.closure(nfa.closure(nfa.start()).takes[0].to);
        assert_eq!(take_steps(&after_a), vec![2, 1]);
    }

    #[test]
    fn trailing_not_completes_after_absence() {
        let nfa = Nfa::compile(&PatternNode::Seq(vec![step(0), PatternNode::Not(1)]), 2).unwrap();
        let after = nfa.closure(nfa.closure(nfa.start()).takes[0].to);
        assert_eq!(
            after.completion,
            Completion::AfterAbsence {
                guards: StepSet::single(1)
            }
        );
        assert!(after.takes.is_empty());
    }

    #[test]
    fn all_takes_members_in_any_order_once() {
        let nfa = Nfa::compile(
            &PatternNode::Seq(vec![PatternNode::All(vec![0, 1]), step(2)]),
            3,
        )
        .unwrap();
        let start = nfa.closure(nfa.start());
        assert_eq!(take_steps(&start), vec![0, 1]);
        let after_b = nfa.closure(start.takes[1].to);
        assert_eq!(take_steps(&after_b), vec![0]);
        let after_ba = nfa.closure(after_b.takes[0].to);
        assert_eq!(take_steps(&after_ba), vec![2]);
    }

    #[test]
    fn rejects_patterns_that_match_nothing_and_huge_bounds() {
        assert_eq!(
            Nfa::compile(&repeat(step(0), 0, None), 1),
            Err(NfaError::MatchesNothing)
        );
        assert_eq!(
            Nfa::compile(&repeat(step(0), 1, Some(5000)), 1),
            Err(NfaError::RepeatTooLarge(5000))
        );
        assert_eq!(
            Nfa::compile(
                &repeat(repeat(step(0), 1000, Some(1000)), 1000, Some(1000)),
                1
            ),
            Err(NfaError::TooManyStates)
        );
        assert_eq!(Nfa::compile(&step(3), 1), Err(NfaError::UnknownStep(3)));
    }

    #[test]
    fn the_checker_counts_states_as_the_compiler_builds_them() {
        // `eddy check` refuses patterns over MAX_STATES with this count, so
        // it must agree with the compiler's.
        for root in [
            step(0),
            PatternNode::Seq(vec![
                repeat(step(0), 2, Some(5)),
                PatternNode::Not(1),
                step(2),
            ]),
            PatternNode::Alt(vec![repeat(step(0), 1, None), repeat(step(1), 3, None)]),
            repeat(
                PatternNode::Seq(vec![
                    PatternNode::All(vec![0, 1]),
                    repeat(step(2), 1, Some(4)),
                ]),
                2,
                Some(3),
            ),
        ] {
            let nfa = Nfa::compile(&root, 3).unwrap();
            assert_eq!(
                dsl::limits::automaton_states(&root),
                nfa.states.len() as u64,
                "{root:?}"
            );
        }
    }

    #[test]
    fn epsilon_cycles_terminate() {
        // (a?)* -> b
        let nfa = Nfa::compile(
            &PatternNode::Seq(vec![repeat(repeat(step(0), 0, Some(1)), 0, None), step(1)]),
            2,
        )
        .unwrap();
        assert_eq!(take_steps(&nfa.closure(nfa.start())), vec![1, 0]);
    }
}
