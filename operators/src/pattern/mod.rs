//! The pattern automaton: `pattern ... within D` rules.
//!
//! - [`nfa`] compiles the pattern's shape into an automaton with ordered
//!   transitions;
//! - [`automaton`] runs candidates per key over abstract events (no Arrow);
//! - [`operator`] drives it from Arrow batches: local conditions a batch at
//!   a time, keys, cross conditions per candidate, and match rows for emit;
//! - [`snapshot`] writes and restores its state for checkpoints.

pub mod automaton;
mod capture;
mod cross;
mod matches;
pub mod nfa;
mod operator;
mod snapshot;
mod values;

pub use operator::PatternOperator;
