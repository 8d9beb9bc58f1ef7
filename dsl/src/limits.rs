//! The bounds a rule must stay within. They live here, in the bottom crate,
//! so that `eddy check` refuses exactly what the operators would refuse at
//! `eddy run` (the operators import these constants instead of keeping their
//! own), and so that nothing the operators allocate is sized by rule text
//! without one of these bounds. `docs/language.md` ("Limits") lists them.

use crate::plan::PatternNode;

/// The largest quantifier bound: `{n,m}` is unrolled into copies of its
/// step, so bounds are capped to keep the automaton small.
pub const MAX_REPEAT: u32 = 1000;

/// The most steps a pattern may have (negated ones included): the automaton
/// tracks steps in 64-bit sets.
pub const MAX_STEPS: usize = 64;

/// The largest unrolled automaton (nested quantifiers multiply).
pub const MAX_STATES: usize = 100_000;

/// The most hopping windows one event may belong to: `window D every S`
/// puts each event in `ceil(D / S)` windows, each with its own accumulators,
/// so `30d every 1ms` would open billions of windows per event.
pub const MAX_WINDOWS_PER_EVENT: i64 = 1000;

/// The compiled size limit of a `matches` regular expression, in bytes. It is
/// the `regex` crate's default `size_limit`, which DataFusion's
/// `regexp_like` (what `matches` runs as) compiles with; a pattern over it
/// fails at run time.
pub const REGEX_SIZE_LIMIT: usize = 10 * (1 << 20);

/// The longest duration a rule may write (100 years): times derived from an
/// event's (`first + within`, window ends) stay within the years RFC 3339
/// can write.
pub const MAX_DURATION: i64 = 36_500 * 86_400_000;

/// The most diagnostics reported for one file; past it one note says how
/// many more there were. Garbage input would otherwise print one error per
/// few characters.
pub const MAX_DIAGNOSTICS_PER_FILE: usize = 100;

/// How many windows `window size every slide` puts one event in (both
/// durations above zero).
pub fn windows_per_event(size: i64, slide: i64) -> i64 {
    if slide <= 0 {
        return i64::MAX;
    }
    // ceil(size / slide) without overflow.
    size / slide + i64::from(size % slide != 0)
}

/// The number of automaton states `root` unrolls to, counted the way the
/// operators' compiler builds them (one accept state, one state per step,
/// `not` and `all`, one split per alternation and per optional or looping
/// copy). Saturates instead of overflowing.
pub fn automaton_states(root: &PatternNode) -> u64 {
    fn count(node: &PatternNode) -> u64 {
        match node {
            PatternNode::Step(_) | PatternNode::Not(_) | PatternNode::All(_) => 1,
            PatternNode::Seq(nodes) => nodes.iter().map(count).fold(0, u64::saturating_add),
            PatternNode::Alt(nodes) => nodes.iter().map(count).fold(1, u64::saturating_add),
            PatternNode::Repeat { node, min, max } => {
                let body = count(node);
                let mandatory = body.saturating_mul(u64::from(*min));
                let rest = match max {
                    // Each optional copy is the body plus a split.
                    Some(max) => body
                        .saturating_add(1)
                        .saturating_mul(u64::from(max.saturating_sub(*min))),
                    // One loop head and one body.
                    None => body.saturating_add(1),
                };
                mandatory.saturating_add(rest)
            }
        }
    }
    count(root).saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_per_event_rounds_up() {
        assert_eq!(windows_per_event(10, 5), 2);
        assert_eq!(windows_per_event(10, 3), 4);
        assert_eq!(windows_per_event(30 * 86_400_000, 1), 2_592_000_000);
        assert_eq!(windows_per_event(10, 0), i64::MAX);
    }

    #[test]
    fn nested_quantifiers_multiply_states() {
        let step = PatternNode::Step(0);
        let inner = PatternNode::Repeat {
            node: Box::new(step),
            min: 1000,
            max: Some(1000),
        };
        assert_eq!(automaton_states(&inner), 1001);
        let outer = PatternNode::Repeat {
            node: Box::new(inner),
            min: 1000,
            max: Some(1000),
        };
        assert_eq!(automaton_states(&outer), 1_000_001);
    }
}
