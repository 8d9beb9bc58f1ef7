//! An [`Automaton`]'s candidates as a serde structure, for checkpoints.
//!
//! The automaton does not know what its keys and events are, so saving
//! maps them (the operator turns keys into rows of a key table and events
//! into numbers of an event table) and loading maps them back. A loaded
//! state is checked before it replaces the current one: the automaton
//! relies on invariants (positions of its own NFA, unique candidate
//! numbers, members oldest first, ...) that a corrupt snapshot could break,
//! and a corrupt snapshot must be an error, never a panic later.
//!
//! Saved: the cohorts of every key and the counters. Not saved, because
//! they follow from the rest: the deadline index and the candidate count
//! (rebuilt from the members, so they cannot disagree with them), the
//! closures cache (rebuilt from the NFA on demand), and `moved` (scratch of
//! one `on_event` call, cleared at the start of the next).

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::hash::Hash;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::{Automaton, Capture, Cohort, Member, Phase, Sharing};

/// Why a saved automaton state cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pattern automaton state: {0}")]
pub struct InvalidState(String);

fn invalid(what: impl Into<String>) -> InvalidState {
    InvalidState(what.into())
}

/// An [`Automaton`]'s state with keys of type `K` and events of type `E`
/// (as saved: indices into the operator's key and event tables).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AutomatonState<K, E> {
    /// Follows from the rule; saved to refuse a state whose cohorts were
    /// formed under another sharing mode.
    sharing: Sharing,
    events_seen: u64,
    next_seq: u64,
    /// Every key holding candidates, with its cohorts (oldest first).
    keys: Vec<(K, Vec<Cohort<E>>)>,
}

impl<K: Clone + Eq + Hash, E: Clone> Automaton<K, E> {
    /// The state, with every key mapped by `key` (once per key) and every
    /// captured event by `event` (once per capture: an event taken by
    /// several candidates is mapped several times).
    pub fn save_with<K2, E2>(
        &self,
        mut key: impl FnMut(&K) -> K2,
        mut event: impl FnMut(&E) -> E2,
    ) -> AutomatonState<K2, E2> {
        let mut event = |e: &E| Ok::<E2, Infallible>(event(e));
        let keys = self
            .keys
            .iter()
            .map(|(k, cohorts)| {
                let cohorts = cohorts
                    .iter()
                    .map(|c| match c.try_map_events(&mut event) {
                        Ok(cohort) => cohort,
                        Err(never) => match never {},
                    })
                    .collect();
                (key(k), cohorts)
            })
            .collect();
        AutomatonState {
            sharing: self.sharing,
            events_seen: self.events_seen,
            next_seq: self.next_seq,
            keys,
        }
    }

    /// Replaces the state with a saved one whose keys and events `key` and
    /// `event` map back. Nothing changes when it fails.
    pub fn load_with<K2, E2, X: From<InvalidState>>(
        &mut self,
        state: AutomatonState<K2, E2>,
        mut key: impl FnMut(K2) -> Result<K, X>,
        mut event: impl FnMut(&E2) -> Result<E, X>,
    ) -> Result<(), X> {
        if state.sharing != self.sharing {
            return Err(invalid("candidates were shared under another rule").into());
        }
        let mut keys = FxHashMap::with_capacity_and_hasher(state.keys.len(), Default::default());
        let mut deadlines = BTreeMap::new();
        let mut seqs = HashSet::new();
        for (saved_key, saved_cohorts) in state.keys {
            let cohorts = saved_cohorts
                .iter()
                .map(|c| c.try_map_events(&mut event))
                .collect::<Result<Vec<_>, X>>()?;
            self.check_cohorts(&cohorts, state.next_seq, &mut seqs)?;
            let k = key(saved_key)?;
            for member in cohorts.iter().flat_map(|c| &c.members) {
                deadlines.insert(member.timer(), k.clone());
            }
            if keys.insert(k, cohorts).is_some() {
                return Err(invalid("a key saved twice").into());
            }
        }
        self.events_seen = state.events_seen;
        self.next_seq = state.next_seq;
        self.keys = keys;
        self.candidate_count = deadlines.len();
        self.deadlines = deadlines;
        self.moved.clear();
        Ok(())
    }

    /// Checks what the automaton takes for granted about a key's cohorts;
    /// `seqs` collects the candidate numbers seen so far, which must be
    /// unique over all keys and below `next_seq`.
    fn check_cohorts(
        &self,
        cohorts: &[Cohort<E>],
        next_seq: u64,
        seqs: &mut HashSet<u64>,
    ) -> Result<(), InvalidState> {
        if cohorts.is_empty() {
            return Err(invalid("a key without candidates"));
        }
        if !cohorts
            .windows(2)
            .all(|w| w[0].oldest_seq() < w[1].oldest_seq())
        {
            return Err(invalid("cohorts out of order"));
        }
        for cohort in cohorts {
            self.check_cohort(cohort)?;
            for member in &cohort.members {
                if member.seq >= next_seq || !seqs.insert(member.seq) {
                    return Err(invalid(format!("candidate number {} reused", member.seq)));
                }
            }
        }
        Ok(())
    }

    fn check_cohort(&self, cohort: &Cohort<E>) -> Result<(), InvalidState> {
        if let Phase::Taking(pos) = cohort.phase {
            if !self.moves.nfa.contains(pos) {
                return Err(invalid(format!(
                    "a candidate at {pos:?}, not in the pattern"
                )));
            }
        }
        if cohort.members.is_empty() {
            return Err(invalid("a cohort without members"));
        }
        if !cohort.members.windows(2).all(|w| w[0].seq < w[1].seq) {
            return Err(invalid("cohort members out of order"));
        }
        if cohort.latest.len() != cohort.latest_ids.len() {
            return Err(invalid(
                "latest captures and their numbers differ in number",
            ));
        }
        if cohort.members.iter().any(|m| m.joined > cohort.log.len()) {
            return Err(invalid("a member joined after the end of its cohort's log"));
        }
        let step_count = self.moves.nfa.step_count();
        let captures = cohort
            .log
            .iter()
            .chain(&cohort.latest)
            .chain(cohort.members.iter().flat_map(|m| &m.prefix));
        for capture in captures {
            if capture.step >= step_count {
                return Err(invalid(format!("a capture of step {}", capture.step)));
            }
        }
        Ok(())
    }
}

impl<E> Cohort<E> {
    /// The same cohort with every captured event mapped by `f`.
    fn try_map_events<E2, X>(
        &self,
        f: &mut impl FnMut(&E) -> Result<E2, X>,
    ) -> Result<Cohort<E2>, X> {
        let members = self
            .members
            .iter()
            .map(|m| {
                Ok(Member {
                    seq: m.seq,
                    deadline: m.deadline,
                    prefix: map_captures(&m.prefix, f)?,
                    joined: m.joined,
                })
            })
            .collect::<Result<_, X>>()?;
        Ok(Cohort {
            phase: self.phase,
            log: map_captures(&self.log, f)?,
            latest: map_captures(&self.latest, f)?,
            latest_ids: self.latest_ids.clone(),
            members,
        })
    }
}

fn map_captures<E, E2, X>(
    captures: &[Capture<E>],
    f: &mut impl FnMut(&E) -> Result<E2, X>,
) -> Result<Vec<Capture<E2>>, X> {
    captures
        .iter()
        .map(|c| {
            Ok(Capture {
                step: c.step,
                event: f(&c.event)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use dsl::plan::{Millis, PatternNode, StepId};

    use super::super::{EventInput, Match, NoCrossConditions};
    use super::*;
    use crate::pattern::nfa::{Nfa, StepSet};

    /// `a -> not x -> b` within 10; `cross_steps` only sets the sharing mode.
    fn automaton(cross_steps: StepSet) -> Automaton<u8, usize> {
        let root = PatternNode::Seq(vec![
            PatternNode::Step(0),
            PatternNode::Not(1),
            PatternNode::Step(2),
        ]);
        Automaton::new(Nfa::compile(&root, 3).unwrap(), 10, cross_steps)
    }

    fn offer(a: &mut Automaton<u8, usize>, time: Millis, step: StepId) -> Vec<Match<u8, usize>> {
        let mut out = Vec::new();
        let input = EventInput {
            key: 1,
            time,
            local: StepSet::single(step),
            payload: time as usize,
        };
        a.on_event(input, &mut NoCrossConditions, &mut out).unwrap();
        out
    }

    fn load(
        a: &mut Automaton<u8, usize>,
        state: AutomatonState<u8, usize>,
    ) -> Result<(), InvalidState> {
        a.load_with(state, Ok, |&e| Ok(e))
    }

    #[test]
    fn a_loaded_automaton_continues_like_the_saved_one() {
        let mut original = automaton(StepSet::EMPTY);
        offer(&mut original, 0, 0);
        offer(&mut original, 1, 0);
        let mut loaded = automaton(StepSet::EMPTY);
        load(&mut loaded, original.save_with(|k| *k, |e| *e)).unwrap();
        assert_eq!(loaded.state_size(), original.state_size());
        assert_eq!(offer(&mut loaded, 2, 2), offer(&mut original, 2, 2));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        loaded.advance_time(Millis::MAX, &mut a);
        original.advance_time(Millis::MAX, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn inconsistent_states_are_refused_and_change_nothing() {
        let mut original = automaton(StepSet::EMPTY);
        offer(&mut original, 0, 0);
        let state = original.save_with(|k| *k, |e| *e);

        let mut other_mode = automaton(StepSet::single(2));
        assert!(load(&mut other_mode, state.clone()).is_err());

        let mut twice = state.clone();
        twice.keys.push(twice.keys[0].clone());
        let mut target = automaton(StepSet::EMPTY);
        assert!(load(&mut target, twice).is_err(), "a key saved twice");

        let mut reused = state.clone();
        reused.next_seq = 0;
        assert!(load(&mut target, reused).is_err(), "a number not yet given");

        let mut late_joiner = state;
        late_joiner.keys[0].1[0].members[0].joined = 99;
        assert!(
            load(&mut target, late_joiner).is_err(),
            "joined past the log"
        );
        assert_eq!(target.state_size(), Default::default());
    }
}
