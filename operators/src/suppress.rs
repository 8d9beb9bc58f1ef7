//! `suppress D`: after a rule emits for a key at time `t`, further
//! emissions for that key before `t + D` (event time) are dropped.
//!
//! State is bounded by the keys that emitted within the last `D`: every
//! entry is indexed by its expiry, and [`Suppressor::advance`] (called with
//! the watermark, and implicitly by every admission) forgets entries whose
//! quiet period is over.

use std::collections::BTreeMap;

use dsl::plan::Millis;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::{OperatorError, Result};
use crate::key::Key;
use crate::state::{KeyTable, StateReader, StateWriter};

/// Per-key time of the last emission. Rules without `by` have one shared
/// entry (key `None`).
#[derive(Debug, Clone)]
pub struct Suppressor {
    period: Millis,
    last_emitted: FxHashMap<Option<Key>, Millis>,
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
            last_emitted: FxHashMap::default(),
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

    /// The state for a snapshot; its keys go to `writer`'s tables.
    pub fn save(&self, writer: &mut StateWriter) -> Result<SuppressorState> {
        let (last_keys, last_times): (Vec<_>, Vec<_>) = self
            .last_emitted
            .iter()
            .map(|(k, &t)| (k.as_ref(), t))
            .unzip();
        let expiry_keys = self.expiries.values().flatten().map(Option::as_ref);
        Ok(SuppressorState {
            last_keys: writer.keys(last_keys)?,
            last_times,
            expiry_keys: writer.keys(expiry_keys)?,
            expiries: self
                .expiries
                .iter()
                .map(|(&t, keys)| (t, keys.len() as u32))
                .collect(),
            dropped: self.dropped,
        })
    }

    /// Replaces the state with a saved one.
    pub fn load(&mut self, state: SuppressorState, reader: &StateReader) -> Result<()> {
        let last_keys = reader.keys(&state.last_keys)?;
        if last_keys.len() != state.last_times.len() {
            return Err(OperatorError::State(
                "suppression keys and times differ in number".into(),
            ));
        }
        self.last_emitted = last_keys.into_iter().zip(state.last_times).collect();
        let mut expiry_keys = reader.keys(&state.expiry_keys)?.into_iter();
        self.expiries = state
            .expiries
            .into_iter()
            .map(|(time, count)| (time, expiry_keys.by_ref().take(count as usize).collect()))
            .collect();
        self.dropped = state.dropped;
        Ok(())
    }

    /// Keys currently in a quiet period.
    pub fn len(&self) -> usize {
        self.last_emitted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last_emitted.is_empty()
    }
}

/// A [`Suppressor`]'s state in a snapshot.
#[derive(Debug, Serialize, Deserialize)]
pub struct SuppressorState {
    last_keys: KeyTable,
    last_times: Vec<Millis>,
    /// Every key of `expiries`, flattened in order.
    expiry_keys: KeyTable,
    /// Expiry time and how many of `expiry_keys` expire then.
    expiries: Vec<(Millis, u32)>,
    dropped: u64,
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
    fn a_restored_suppressor_behaves_like_the_original() {
        let mut s = Suppressor::new(10);
        assert!(s.admit(Some(&key("a")), 0));
        assert!(s.admit(None, 3));
        assert!(!s.admit(Some(&key("a")), 4));
        let mut writer = StateWriter::new();
        let saved = s.save(&mut writer).unwrap();
        let bytes = writer.finish(&saved).unwrap();
        let (saved, reader) = StateReader::open::<SuppressorState>(&bytes).unwrap();
        let mut restored = Suppressor::new(10);
        restored.load(saved, &reader).unwrap();
        assert_eq!(restored.dropped(), 1);
        for (k, t) in [(Some("a"), 9), (None, 12), (Some("a"), 10), (None, 13)] {
            let k = k.map(key);
            assert_eq!(
                restored.admit(k.as_ref(), t),
                s.admit(k.as_ref(), t),
                "{k:?} at {t}"
            );
        }
        assert_eq!(restored.len(), s.len());
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
