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
//!
//! Candidates of a key that stand at the same place and will act alike
//! (no cross conditions, or cross conditions that read only the latest
//! events of steps, and the same such events) are kept as one cohort:
//! offered each event once, sharing the events taken since they met. This
//! keeps a flood of first-step events (`f{3,}` under attack) linear in
//! time and memory, and has no effect on output (the reference tests check
//! it with and without sharing).
//!
//! Memory is bounded by [`Limits`] when set (none by default):
//!
//! - per key (`max_candidates_per_key`): starting a candidate on a key at
//!   its cap first evicts the key's oldest candidate. The oldest is the
//!   nearest its deadline and, under a flood, the one holding the most
//!   events; the newest keep the key watching the latest events.
//! - per rule (`max_candidates_per_rule`): at the cap, events start no
//!   candidate; the open ones go on. Evicting across keys would let one
//!   busy key push out the candidates of quiet ones.
//!
//! Both are counted in [`LimitHits`]. A candidate evicted or never started
//! changes the output (that is the point of a cap), so the counters say
//! when it happened; without caps the automaton is exactly as above.

mod state;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::hash::Hash;
use std::sync::Arc;

use dsl::plan::{Millis, StepId};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::nfa::{Closure, Completion, Nfa, Position, StepSet};
use crate::limits::{LimitHits, Limits};
use crate::operator::StateSize;

pub use state::{AutomatonState, InvalidState};

/// One event taken by a candidate, under the step that took it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    /// Still taking events, from this position.
    Taking(Position),
    /// Only trailing `not` steps are left: completes at the deadline unless
    /// an event satisfying one of `guards` comes first.
    AwaitingAbsence { guards: StepSet },
}

/// One candidate: its timer, and the events it took before it joined its
/// cohort.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Member<E> {
    /// Creation order, unique for the automaton's life.
    seq: u64,
    /// `first event's time + within`: after it, the candidate dies or,
    /// awaiting absence, completes.
    deadline: Millis,
    prefix: Vec<Capture<E>>,
    /// The length of the cohort's log when the candidate joined.
    joined: usize,
}

impl<E> Member<E> {
    fn timer(&self) -> (Millis, u64) {
        (self.deadline, self.seq)
    }
}

/// Candidates of one key that stand at the same place (see [`Sharing`]):
/// they act alike from then on, so the cohort is offered each event once,
/// and its members share the events taken since they met (`log`).
/// (Otherwise every candidate would keep its own copy: quadratic in the
/// events of a busy key for patterns like `f{3,}`.) Without sharing every
/// cohort has one member, whose captures are exactly the log.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cohort<E> {
    phase: Phase,
    log: Vec<Capture<E>>,
    /// The latest capture of every step that took an event, and the
    /// event's number (the same for every member).
    latest: Vec<Capture<E>>,
    latest_ids: Vec<u64>,
    /// Oldest first; never empty.
    members: Vec<Member<E>>,
}

/// When candidates of a key may share a cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Sharing {
    /// Cross conditions may read anything the candidate took: never.
    Never,
    /// No cross conditions: what a candidate does with an event depends
    /// only on where it stands.
    ByPlace,
    /// Cross conditions read only the latest event of these steps: at the
    /// same place and with the same latest events of them.
    ByPlaceAndLatest(StepSet),
}

impl<E: Clone> Cohort<E> {
    fn new(phase: Phase, first: Capture<E>, event_id: u64, member: Member<E>) -> Self {
        Cohort {
            phase,
            latest: vec![first.clone()],
            latest_ids: vec![event_id],
            log: vec![first],
            members: vec![member],
        }
    }

    /// Records an event taken by every member.
    fn take(&mut self, capture: Capture<E>, event_id: u64) {
        if let Some(i) = self.latest.iter().position(|c| c.step == capture.step) {
            self.latest.remove(i);
            self.latest_ids.remove(i);
        }
        self.latest.push(capture.clone());
        self.latest_ids.push(event_id);
        self.log.push(capture);
    }

    fn latest_id(&self, step: StepId) -> Option<u64> {
        let i = self.latest.iter().position(|c| c.step == step)?;
        Some(self.latest_ids[i])
    }

    /// What cross conditions see: every capture when cohorts are not
    /// shared, else the latest capture of each step (all they may read).
    fn cross_view(&self, sharing: Sharing) -> &[Capture<E>] {
        match sharing {
            Sharing::Never | Sharing::ByPlace => &self.log,
            Sharing::ByPlaceAndLatest(_) => &self.latest,
        }
    }

    /// Whether `other`'s members act like this cohort's from now on.
    fn acts_like(&self, other: &Cohort<E>, sharing: Sharing) -> bool {
        match sharing {
            Sharing::Never => false,
            Sharing::ByPlace => self.phase == other.phase,
            Sharing::ByPlaceAndLatest(steps) => {
                self.phase == other.phase
                    && steps
                        .iter()
                        .all(|s| self.latest_id(s) == other.latest_id(s))
            }
        }
    }

    fn oldest_seq(&self) -> u64 {
        self.members.first().map_or(u64::MAX, |m| m.seq)
    }

    /// Every event `member` took, in order.
    fn captures_of(&self, member: &Member<E>) -> Vec<Capture<E>> {
        let shared = self.log.get(member.joined..).unwrap_or_default();
        member.prefix.iter().chain(shared).cloned().collect()
    }

    /// Takes in the members of `other`, which stands at the same place.
    fn absorb(&mut self, other: Cohort<E>) {
        for member in &other.members {
            let captures = other.captures_of(member);
            self.members.push(Member {
                seq: member.seq,
                deadline: member.deadline,
                prefix: captures,
                joined: self.log.len(),
            });
        }
        self.members.sort_by_key(|m| m.seq);
    }

    /// Removes member `seq`; returns its captures when asked to.
    fn remove(&mut self, seq: u64, with_captures: bool) -> Option<Vec<Capture<E>>> {
        let index = self.members.iter().position(|m| m.seq == seq)?;
        let captures = with_captures.then(|| self.captures_of(&self.members[index]));
        self.members.remove(index);
        // Log entries no remaining member reads are dropped, once they are
        // half of it (amortised).
        let unread = self.members.iter().map(|m| m.joined).min().unwrap_or(0);
        if unread > 0 && unread * 2 >= self.log.len() {
            self.log.drain(..unread);
            self.members.iter_mut().for_each(|m| m.joined -= unread);
        }
        Some(captures.unwrap_or_default())
    }
}

/// What an offered event did to a cohort.
enum Outcome {
    /// Skipped.
    Unchanged,
    /// Taken, and the pattern is not complete yet.
    Moved,
    Killed,
    Completed,
}

/// The compiled pattern and what a candidate may do with an event.
struct Moves {
    nfa: Nfa,
    /// Steps with a cross condition: only these are asked of [`CrossCondition`].
    cross_steps: StepSet,
    closures: FxHashMap<Position, Arc<Closure>>,
}

impl Moves {
    fn closure(&mut self, pos: Position) -> Arc<Closure> {
        let nfa = &self.nfa;
        Arc::clone(
            self.closures
                .entry(pos)
                .or_insert_with(|| Arc::new(nfa.closure(pos))),
        )
    }

    /// Offers event number `event_id` to a cohort: taken by the first move
    /// whose step holds, else a kill when it satisfies a step the cohort
    /// must not see, else skipped.
    fn offer<K, E: Clone, X: CrossCondition<E>>(
        &mut self,
        cohort: &mut Cohort<E>,
        sharing: Sharing,
        event: &EventInput<K, E>,
        event_id: u64,
        cross: &mut X,
    ) -> Result<Outcome, X::Error> {
        let closure = match cohort.phase {
            Phase::AwaitingAbsence { guards } => {
                let view = cohort.cross_view(sharing);
                let killed = self.any_holds(guards, view, event, cross)?;
                return Ok(if killed {
                    Outcome::Killed
                } else {
                    Outcome::Unchanged
                });
            }
            Phase::Taking(pos) => self.closure(pos),
        };
        for take in &closure.takes {
            if self.step_holds(take.step, cohort.cross_view(sharing), event, cross)? {
                let capture = Capture {
                    step: take.step,
                    event: event.payload.clone(),
                };
                cohort.take(capture, event_id);
                return Ok(self.moved_to(&mut cohort.phase, take.to));
            }
        }
        // Not taken: a `not` step the candidate stands before kills it.
        let view = cohort.cross_view(sharing);
        let killed = self.any_holds(closure.guards, view, event, cross)?;
        Ok(if killed {
            Outcome::Killed
        } else {
            Outcome::Unchanged
        })
    }

    /// Candidates have taken an event and stand at `to`.
    fn moved_to(&mut self, phase: &mut Phase, to: Position) -> Outcome {
        match self.closure(to).completion {
            Completion::Now => Outcome::Completed,
            Completion::AfterAbsence { guards } => {
                *phase = Phase::AwaitingAbsence { guards };
                Outcome::Moved
            }
            Completion::No => {
                *phase = Phase::Taking(to);
                Outcome::Moved
            }
        }
    }

    fn step_holds<K, E, X: CrossCondition<E>>(
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

    fn any_holds<K, E, X: CrossCondition<E>>(
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
}

/// The candidates of every key, and their deadlines.
pub struct Automaton<K, E> {
    moves: Moves,
    within: Millis,
    sharing: Sharing,
    /// Numbers the events offered, to tell captures apart.
    events_seen: u64,
    /// The cohorts (by oldest member) that took the current event: only
    /// they can have come to act like another.
    moved: Vec<u64>,
    /// Cohorts per key, ordered by their oldest member; never empty.
    keys: FxHashMap<K, Vec<Cohort<E>>>,
    /// Every live candidate's timer: (deadline, seq) -> key.
    deadlines: BTreeMap<(Millis, u64), K>,
    next_seq: u64,
    candidate_count: usize,
    /// Caps on candidates: configuration, not state (kept over a load).
    limits: Limits,
    /// How often `limits` bit: metrics, not state (kept over a load).
    hits: LimitHits,
}

impl<K: Clone + Eq + Hash, E: Clone> Automaton<K, E> {
    pub fn new(nfa: Nfa, within: Millis, cross_steps: StepSet) -> Self {
        Automaton {
            moves: Moves {
                nfa,
                cross_steps,
                closures: FxHashMap::default(),
            },
            within,
            sharing: if cross_steps.is_empty() {
                Sharing::ByPlace
            } else {
                Sharing::Never
            },
            events_seen: 0,
            moved: Vec::new(),
            keys: FxHashMap::default(),
            deadlines: BTreeMap::new(),
            next_seq: 0,
            candidate_count: 0,
            limits: Limits::default(),
            hits: LimitHits::default(),
        }
    }

    /// Caps candidates from now on (see the module documentation); only the
    /// candidate fields of `limits` apply.
    pub fn set_limits(&mut self, limits: &Limits) {
        self.limits = *limits;
    }

    /// How often the caps bit so far.
    pub fn limit_hits(&self) -> LimitHits {
        self.hits
    }

    /// Declares that every cross condition reads only the latest event
    /// taken by `steps` (step fields, no aggregate over a step). Candidates
    /// at the same place that took the same latest events of them then act
    /// alike and are kept together, and cross conditions are shown only the
    /// latest capture of each step.
    pub fn cross_conditions_read_only_latest(mut self, steps: StepSet) -> Self {
        if self.sharing == Sharing::Never {
            self.sharing = Sharing::ByPlaceAndLatest(steps);
        }
        self
    }

    /// Open candidates, and keys holding any.
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
        while let Some(entry) = self.deadlines.first_entry() {
            let (deadline, seq) = *entry.key();
            if deadline >= now && now != Millis::MAX {
                break;
            }
            let key = entry.remove();
            let Some(cohorts) = self.keys.get_mut(&key) else {
                continue;
            };
            let Some(index) = cohorts
                .iter()
                .position(|c| c.members.iter().any(|m| m.seq == seq))
            else {
                continue;
            };
            let completes = matches!(cohorts[index].phase, Phase::AwaitingAbsence { .. });
            let Some(captures) = cohorts[index].remove(seq, completes) else {
                continue;
            };
            self.candidate_count -= 1;
            if completes {
                self.discard_key(&key);
                out.push(Match {
                    key,
                    time: deadline,
                    captures,
                });
                continue;
            }
            reorder_after_removal(cohorts, index);
            if cohorts.is_empty() {
                self.keys.remove(&key);
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
        self.events_seen += 1;
        self.moved.clear();
        if let Some(captures) = self.offer_to_cohorts(&event, cross)? {
            self.discard_key(&event.key);
            out.push(Match {
                key: event.key,
                time: event.time,
                captures,
            });
            return Ok(());
        }
        self.maybe_start(event, cross, out)?;
        Ok(())
    }

    /// Offers the event to the key's cohorts, oldest first; stops at the
    /// first that completes and returns the captures of its oldest member
    /// (the earliest started of all that complete).
    fn offer_to_cohorts<X: CrossCondition<E>>(
        &mut self,
        event: &EventInput<K, E>,
        cross: &mut X,
    ) -> Result<Option<Vec<Capture<E>>>, X::Error> {
        let Some(cohorts) = self.keys.get_mut(&event.key) else {
            return Ok(None);
        };
        let mut index = 0;
        let mut completed = None;
        while index < cohorts.len() {
            let outcome = self.moves.offer(
                &mut cohorts[index],
                self.sharing,
                event,
                self.events_seen,
                cross,
            )?;
            match outcome {
                Outcome::Unchanged => index += 1,
                Outcome::Moved => {
                    self.moved.push(cohorts[index].oldest_seq());
                    index += 1;
                }
                Outcome::Killed => {
                    let dead = cohorts.remove(index);
                    for m in &dead.members {
                        self.deadlines.remove(&m.timer());
                    }
                    self.candidate_count -= dead.members.len();
                }
                Outcome::Completed => {
                    let cohort = &cohorts[index];
                    completed = cohort.members.first().map(|m| cohort.captures_of(m));
                    break;
                }
            }
        }
        if completed.is_none() && cohorts.is_empty() {
            self.keys.remove(&event.key);
        }
        Ok(completed)
    }

    /// Starts a candidate when the start of the pattern takes the event.
    fn maybe_start<X: CrossCondition<E>>(
        &mut self,
        event: EventInput<K, E>,
        cross: &mut X,
        out: &mut Vec<Match<K, E>>,
    ) -> Result<(), X::Error> {
        let start = self.moves.nfa.start();
        let closure = self.moves.closure(start);
        for take in &closure.takes {
            if !self.moves.step_holds(take.step, &[], &event, cross)? {
                continue;
            }
            let mut phase = Phase::Taking(start);
            let capture = Capture {
                step: take.step,
                event: event.payload.clone(),
            };
            if let Outcome::Completed = self.moves.moved_to(&mut phase, take.to) {
                // A one-event match: it discards the key's candidates like
                // any other.
                self.discard_key(&event.key);
                out.push(Match {
                    key: event.key,
                    time: event.time,
                    captures: vec![capture],
                });
                return Ok(());
            }
            if !self.make_room(&event.key) {
                break;
            }
            let member = Member {
                seq: self.next_seq,
                deadline: event.time.saturating_add(self.within),
                prefix: Vec::new(),
                joined: 0,
            };
            self.next_seq += 1;
            self.deadlines.insert(member.timer(), event.key.clone());
            self.candidate_count += 1;
            let cohorts = self.keys.entry(event.key).or_default();
            self.moved.push(member.seq);
            cohorts.push(Cohort::new(phase, capture, self.events_seen, member));
            merge_alike(cohorts, self.sharing, &self.moved);
            return Ok(());
        }
        if let Some(cohorts) = self.keys.get_mut(&event.key) {
            merge_alike(cohorts, self.sharing, &self.moved);
        }
        Ok(())
    }

    /// Applies the caps before a candidate of `key` starts: evicts the
    /// key's oldest candidate when the key is at its cap, else refuses the
    /// start when the rule is at its cap. Returns whether it may start.
    fn make_room(&mut self, key: &K) -> bool {
        if let Some(per_key) = self.limits.max_candidates_per_key {
            if per_key == 0 {
                self.hits.candidates_refused += 1;
                return false;
            }
            let open = self.keys.get(key).map_or(0, |cohorts| {
                cohorts.iter().map(|c| c.members.len()).sum::<usize>()
            });
            if open >= per_key {
                // Evicting keeps the rule's total where it was: the new
                // candidate replaces the old, whatever the rule's cap.
                // (More than one only when a restored state or a lowered
                // cap left the key above it.)
                for _ in per_key..=open {
                    self.evict_oldest(key);
                    self.hits.candidates_evicted += 1;
                }
                return true;
            }
        }
        if let Some(per_rule) = self.limits.max_candidates_per_rule {
            if self.candidate_count >= per_rule {
                self.hits.candidates_refused += 1;
                return false;
            }
        }
        true
    }

    /// Drops the oldest candidate of `key` (it has one), keeping every
    /// index in step: its timer, the count, the cohorts' order, and the
    /// cohorts named in `moved` (by their oldest member, which may change).
    fn evict_oldest(&mut self, key: &K) {
        let Some(cohorts) = self.keys.get_mut(key) else {
            return;
        };
        // Cohorts are ordered by their oldest member.
        let Some(oldest) = cohorts.first().and_then(|c| c.members.first()) else {
            return;
        };
        let (timer, seq) = (oldest.timer(), oldest.seq);
        cohorts[0].remove(seq, false);
        self.deadlines.remove(&timer);
        self.candidate_count -= 1;
        let renamed = cohorts[0].members.first().map(|m| m.seq);
        if let Some(named) = self.moved.iter().position(|&s| s == seq) {
            match renamed {
                Some(next) => self.moved[named] = next,
                None => {
                    self.moved.remove(named);
                }
            }
        }
        reorder_after_removal(cohorts, 0);
        if cohorts.is_empty() {
            self.keys.remove(key);
        }
    }

    /// Drops every candidate of `key`.
    fn discard_key(&mut self, key: &K) {
        if let Some(cohorts) = self.keys.remove(key) {
            for m in cohorts.iter().flat_map(|c| &c.members) {
                self.deadlines.remove(&m.timer());
                self.candidate_count -= 1;
            }
        }
    }
}

/// After a member left `cohorts[index]`: drops the cohort if it is empty,
/// else moves it to its place in the order by oldest member (its oldest
/// may be younger now).
fn reorder_after_removal<E: Clone>(cohorts: &mut Vec<Cohort<E>>, index: usize) {
    if cohorts[index].members.is_empty() {
        cohorts.remove(index);
        return;
    }
    let mut i = index;
    while i + 1 < cohorts.len() && cohorts[i].oldest_seq() > cohorts[i + 1].oldest_seq() {
        cohorts.swap(i, i + 1);
        i += 1;
    }
}

/// Merges every cohort in `moved` (named by its oldest member) with any
/// cohort that now acts like it, into the older of the two. The others
/// were merged before, so only these can have met one. The order by oldest
/// member is kept.
fn merge_alike<E: Clone>(cohorts: &mut Vec<Cohort<E>>, sharing: Sharing, moved: &[u64]) {
    if sharing == Sharing::Never {
        return;
    }
    for &seq in moved {
        // A cohort merged into an older one earlier in this loop is gone.
        let Some(mut j) = cohorts.iter().position(|c| c.oldest_seq() == seq) else {
            continue;
        };
        while let Some(i) =
            (0..cohorts.len()).find(|&i| i != j && cohorts[i].acts_like(&cohorts[j], sharing))
        {
            let (older, younger) = if i < j { (i, j) } else { (j, i) };
            let other = cohorts.remove(younger);
            cohorts[older].absorb(other);
            j = older;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsl::plan::PatternNode;

    /// `a -> not x -> b` within 10, on key 1.
    fn automaton() -> Automaton<u8, usize> {
        let root = PatternNode::Seq(vec![
            PatternNode::Step(0),
            PatternNode::Not(1),
            PatternNode::Step(2),
        ]);
        Automaton::new(Nfa::compile(&root, 3).unwrap(), 10, StepSet::EMPTY)
    }

    fn offer(
        a: &mut Automaton<u8, usize>,
        time: Millis,
        step: StepId,
        out: &mut Vec<Match<u8, usize>>,
    ) {
        let input = EventInput {
            key: 1,
            time,
            local: StepSet::single(step),
            payload: time as usize,
        };
        a.on_event(input, &mut NoCrossConditions, out).unwrap();
    }

    #[test]
    fn a_key_without_candidates_holds_no_state() {
        let mut a = automaton();
        let mut out = Vec::new();
        offer(&mut a, 0, 0, &mut out);
        offer(&mut a, 1, 0, &mut out);
        assert_eq!(
            a.state_size(),
            StateSize {
                entries: 2,
                keys: 1
            }
        );
        // The forbidden event kills both candidates.
        offer(&mut a, 2, 1, &mut out);
        assert_eq!(
            a.state_size(),
            StateSize {
                entries: 0,
                keys: 0
            }
        );
        // A candidate whose window passed dies with time alone.
        offer(&mut a, 3, 0, &mut out);
        a.advance_time(14, &mut out);
        assert_eq!(
            a.state_size(),
            StateSize {
                entries: 0,
                keys: 0
            }
        );
        assert!(out.is_empty());
    }

    #[test]
    fn a_flood_of_first_steps_is_kept_in_linear_space() {
        // a{3,} -> b within 1000: every `a` starts a candidate and every
        // older candidate takes it.
        let root = PatternNode::Seq(vec![
            PatternNode::Repeat {
                node: Box::new(PatternNode::Step(0)),
                min: 3,
                max: None,
            },
            PatternNode::Step(1),
        ]);
        let mut a = Automaton::new(Nfa::compile(&root, 2).unwrap(), 1000, StepSet::EMPTY);
        let mut out = Vec::new();
        for t in 0..200 {
            offer(&mut a, t, 0, &mut out);
        }
        assert_eq!(a.state_size().entries, 200);
        let cohorts = &a.keys[&1];
        assert!(cohorts.len() <= 3, "{} cohorts", cohorts.len());
        let kept: usize = cohorts
            .iter()
            .map(|c| c.log.len() + c.members.iter().map(|m| m.prefix.len()).sum::<usize>())
            .sum();
        assert!(kept <= 4 * 200, "{kept} captures kept for 200 events");
        offer(&mut a, 200, 1, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].captures.len(),
            201,
            "the first candidate took every event"
        );
        assert_eq!(a.state_size(), StateSize::default());
    }

    /// Every index agrees with the cohorts: one timer per member, the
    /// count, no empty cohort or key, cohorts ordered by oldest member.
    fn assert_consistent<E: Clone>(a: &Automaton<u8, E>) {
        let members: usize = a.keys.values().flatten().map(|c| c.members.len()).sum();
        assert_eq!(a.candidate_count, members);
        assert_eq!(a.deadlines.len(), members);
        for (key, cohorts) in &a.keys {
            assert!(!cohorts.is_empty());
            assert!(cohorts.iter().all(|c| !c.members.is_empty()));
            assert!(cohorts
                .windows(2)
                .all(|w| w[0].oldest_seq() < w[1].oldest_seq()));
            for member in cohorts.iter().flat_map(|c| &c.members) {
                assert_eq!(a.deadlines.get(&member.timer()), Some(key));
            }
        }
    }

    #[test]
    fn evictions_keep_every_index_in_step_in_every_sharing_mode() {
        // a{2,} -> not x -> b within 50, over three keys.
        let root = PatternNode::Seq(vec![
            PatternNode::Repeat {
                node: Box::new(PatternNode::Step(0)),
                min: 2,
                max: None,
            },
            PatternNode::Not(1),
            PatternNode::Step(2),
        ]);
        let nfa = || Nfa::compile(&root, 3).unwrap();
        let modes = [
            Automaton::new(nfa(), 50, StepSet::EMPTY),
            Automaton::new(nfa(), 50, StepSet::single(2)),
            Automaton::new(nfa(), 50, StepSet::single(2))
                .cross_conditions_read_only_latest(StepSet::single(0)),
        ];
        for (mode, mut a) in modes.into_iter().enumerate() {
            a.set_limits(&Limits {
                max_candidates_per_key: Some(3),
                max_candidates_per_rule: Some(7),
                max_windows_per_rule: None,
            });
            let mut seed = 0x9e37_79b9_u64 + mode as u64;
            let mut out = Vec::new();
            for time in 0..2000 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let step = [0, 0, 0, 0, 0, 1, 2][(seed % 7) as usize];
                let input = EventInput {
                    key: (seed >> 8) as u8 % 3,
                    time,
                    local: StepSet::single(step),
                    payload: time as usize,
                };
                a.on_event(input, &mut NoCrossConditions, &mut out).unwrap();
                assert_consistent(&a);
                assert!(a.state_size().entries <= 7, "mode {mode}");
                for cohorts in a.keys.values() {
                    let open: usize = cohorts.iter().map(|c| c.members.len()).sum();
                    assert!(open <= 3, "mode {mode}: {open} candidates on a key");
                }
            }
            let hits = a.limit_hits();
            assert!(hits.candidates_evicted > 0, "mode {mode}: {hits:?}");
            assert!(hits.candidates_refused > 0, "mode {mode}: {hits:?}");
            assert!(!out.is_empty(), "mode {mode}: matches still complete");
            a.advance_time(Millis::MAX, &mut out);
            assert_consistent(&a);
            assert_eq!(a.state_size(), StateSize::default());
        }
    }

    #[test]
    fn the_earliest_started_candidate_is_emitted_and_the_key_starts_afresh() {
        let mut a = automaton();
        let mut out = Vec::new();
        offer(&mut a, 0, 0, &mut out);
        offer(&mut a, 1, 0, &mut out);
        offer(&mut a, 2, 2, &mut out);
        assert_eq!(
            out,
            vec![Match {
                key: 1,
                time: 2,
                captures: vec![Capture { step: 0, event: 0 }, Capture { step: 2, event: 2 }],
            }]
        );
        assert_eq!(
            a.state_size(),
            StateSize {
                entries: 0,
                keys: 0
            }
        );
    }
}
