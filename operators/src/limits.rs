//! Bounds on operator state, and how often they bit.
//!
//! eddy runs for months: a flood of events for one key, or millions of
//! keys, must not grow an operator's memory without bound. [`Limits`] caps
//! what an operator keeps open; [`LimitHits`] counts the events a cap
//! changed the outcome of, so operators can see when rules lose matches to
//! a cap. Caps are configuration, hits are metrics: neither is part of an
//! operator's snapshot.

use std::ops::{Add, AddAssign};

/// Caps on an operator's open state; `None` is unlimited (the default),
/// and an operator without a cap behaves exactly as if it had none.
///
/// A cap applies to what is started after it is set: state restored from a
/// snapshot above a cap is kept, and shrinks as it completes or expires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Pattern rules: open candidates of one key. Starting one more evicts
    /// the key's oldest candidate (the least likely to still complete
    /// within its window, and the one a flood has kept longest); counted
    /// in [`LimitHits::candidates_evicted`]. `Some(0)` starts none
    /// (counted as refused).
    pub max_candidates_per_key: Option<usize>,
    /// Pattern rules: open candidates over all keys. At the cap, events
    /// start no new candidate (counted in
    /// [`LimitHits::candidates_refused`]); existing candidates go on, so
    /// matches already under way are not lost to newcomers, and one busy
    /// key cannot evict the candidates of others.
    pub max_candidates_per_rule: Option<usize>,
    /// Window rules: open windows over all keys. At the cap, an event does
    /// not open a new window (counted in [`LimitHits::windows_refused`],
    /// once per window not opened); windows already open still take it.
    pub max_windows_per_rule: Option<usize>,
}

/// How many times each cap of [`Limits`] changed what an operator did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitHits {
    /// Candidates dropped to make room under `max_candidates_per_key`.
    pub candidates_evicted: u64,
    /// Candidates not started because of `max_candidates_per_rule` (or a
    /// per-key cap of zero).
    pub candidates_refused: u64,
    /// Windows not opened because of `max_windows_per_rule`.
    pub windows_refused: u64,
}

impl LimitHits {
    /// Whether no cap has bitten.
    pub fn is_empty(&self) -> bool {
        *self == LimitHits::default()
    }
}

impl Add for LimitHits {
    type Output = LimitHits;

    fn add(self, other: LimitHits) -> LimitHits {
        LimitHits {
            candidates_evicted: self.candidates_evicted + other.candidates_evicted,
            candidates_refused: self.candidates_refused + other.candidates_refused,
            windows_refused: self.windows_refused + other.windows_refused,
        }
    }
}

impl AddAssign for LimitHits {
    fn add_assign(&mut self, other: LimitHits) {
        *self = *self + other;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_add_field_by_field() {
        let a = LimitHits {
            candidates_evicted: 1,
            candidates_refused: 2,
            windows_refused: 3,
        };
        let mut sum = a + a;
        sum += LimitHits::default();
        assert_eq!(
            sum,
            LimitHits {
                candidates_evicted: 2,
                candidates_refused: 4,
                windows_refused: 6,
            }
        );
        assert!(LimitHits::default().is_empty() && !sum.is_empty());
        assert_eq!(Limits::default().max_candidates_per_key, None);
    }
}
