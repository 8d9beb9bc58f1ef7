//! `suppress D`: after a rule emits for a key at time `t`, further
//! emissions for that key before `t + D` (event time) are dropped.
//!
//! State is bounded by the keys that emitted within the last `D`: every
//! entry is indexed by its expiry, and [`Suppressor::advance`] (called with
//! the watermark, and implicitly by every admission) forgets entries whose
//! quiet period is over.

use std::collections::{BTreeMap, HashMap};

use dsl::plan::Millis;

use crate::key::Key;

/// Per-key time of the last emission. Rules without `by` have one shared
/// entry (key `None`).
#[derive(Debug, Clone)]
pub struct Suppressor {
    period: Millis,
    last_emitted: HashMap<Option<Key>, Millis>,
    /// Expiry time -> keys whose entry may expire then. An entry renewed
    /// since is left in place here and skipped when its old expiry comes.
    expiries: BTreeMap<Millis, Vec<Option<Key>>>,
    dropped: u64,
}

impl Suppressor {
    /// Suppresses repeats for `period` milliseconds after each emission.
    pub fn new(period: Millis) -> Self {
        Self {
            period: period.max(0),
            last_emitted: HashMap::new(),
            expiries: BTreeMap::new(),
            dropped: 0,
        }
    }

    /// Whether an emission for `key` at `time` goes out. An admitted
    /// emission starts a new quiet period; a dropped one is counted and does
    /// not extend the current period.
    pub fn admit(&mut self, key: Option<&Key>, time: Millis) -> bool {
        self.advance(time);
        let key = key.cloned();
        if let Some(&last) = self.last_emitted.get(&key) {
            if time < last.saturating_add(self.period) {
                self.dropped += 1;
                return false;
            }
        }
        let expiry = time.saturating_add(self.period);
        self.expiries.entry(expiry).or_default().push(key.clone());
        self.last_emitted.insert(key, time);
        true
    }

    /// Event time has reached `time`: forget every key whose quiet period
    /// ended at or before it.
    pub fn advance(&mut self, time: Millis) {
        while let Some(entry) = self.expiries.first_entry() {
            if *entry.key() > time {
                break;
            }
            let (expiry, keys) = entry.remove_entry();
            for key in keys {
                let renewed = self
                    .last_emitted
                    .get(&key)
                    .is_some_and(|&last| last.saturating_add(self.period) != expiry);
                if !renewed {
                    self.last_emitted.remove(&key);
                }
            }
        }
    }

    /// Emissions dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Keys currently in a quiet period.
    pub fn len(&self) -> usize {
        self.last_emitted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last_emitted.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_common::ScalarValue;

    fn key(s: &str) -> Key {
        Key::new(vec![ScalarValue::Utf8(Some(s.into()))])
    }

    #[test]
    fn drops_repeats_within_the_period_per_key() {
        let mut s = Suppressor::new(10);
        let a = key("a");
        let b = key("b");
        assert!(s.admit(Some(&a), 0));
        assert!(s.admit(Some(&b), 1));
        assert!(!s.admit(Some(&a), 9));
        assert!(s.admit(Some(&a), 10));
        assert!(!s.admit(Some(&a), 19));
        assert_eq!(s.dropped(), 2);
    }

    #[test]
    fn unkeyed_rules_share_one_entry() {
        let mut s = Suppressor::new(5);
        assert!(s.admit(None, 0));
        assert!(!s.admit(None, 4));
        assert!(s.admit(None, 5));
    }

    #[test]
    fn state_expires_when_time_passes() {
        let mut s = Suppressor::new(10);
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            assert!(s.admit(Some(&key(name)), i as Millis));
        }
        assert_eq!(s.len(), 3);
        s.advance(10);
        assert_eq!(s.len(), 2);
        s.advance(12);
        assert!(s.is_empty());
    }

    #[test]
    fn a_renewed_entry_survives_its_old_expiry() {
        let mut s = Suppressor::new(10);
        let a = key("a");
        assert!(s.admit(Some(&a), 0));
        assert!(s.admit(Some(&a), 10)); // advance(10) expired, then renewed
        s.advance(15);
        assert_eq!(s.len(), 1);
        assert!(!s.admit(Some(&a), 19));
        s.advance(20);
        assert!(s.is_empty());
    }
}
