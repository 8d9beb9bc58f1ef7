//! The benchmark workloads: which rules run over which data, and the
//! figures the performance issue sets for them.
//!
//! The rule texts are those of `benches/rules/`, built into the binary so
//! that `eddy bench` runs from any folder and always measures the rules it
//! was built with.

use std::borrow::Cow;

/// The stream declaration every workload shares.
pub const STREAM_RULES: RuleFile = RuleFile {
    name: "stream.eddy",
    text: include_str!("../../../benches/rules/stream.eddy"),
};

/// One rule file of `benches/rules/`.
#[derive(Debug, Clone, Copy)]
pub struct RuleFile {
    pub name: &'static str,
    pub text: &'static str,
}

/// The rule sets of the workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RuleSet {
    /// A filter: transfers over 4000.
    Filter,
    /// A pattern: failed logins, a login, a large transfer, within 10 minutes.
    Pattern,
    /// A window: five failed logins in a one-minute tumbling window.
    Window,
    /// This many filters sharing two conditions (see [`many_filters`]).
    Filters(u32),
}

impl RuleSet {
    /// The name of its rule file.
    pub fn file_name(self) -> String {
        match self {
            RuleSet::Filter => "f.eddy".into(),
            RuleSet::Pattern => "p.eddy".into(),
            RuleSet::Window => "w.eddy".into(),
            RuleSet::Filters(n) => format!("f-x{n}.eddy"),
        }
    }

    /// The text of its rule file.
    pub fn text(self) -> Cow<'static, str> {
        match self {
            RuleSet::Filter => include_str!("../../../benches/rules/f.eddy").into(),
            RuleSet::Pattern => include_str!("../../../benches/rules/p.eddy").into(),
            RuleSet::Window => include_str!("../../../benches/rules/w.eddy").into(),
            RuleSet::Filters(n) => many_filters(n).into(),
        }
    }
}

/// Every rule set a bench run may use.
pub fn rule_sets() -> impl Iterator<Item = RuleSet> {
    [RuleSet::Filter, RuleSet::Pattern, RuleSet::Window]
        .into_iter()
        .chain(RULE_COUNTS.into_iter().map(RuleSet::Filters))
}

/// The rule counts of the scaling workloads.
pub const RULE_COUNTS: [u32; 3] = [1, 10, 100];

/// `count` similar filter rules: each emits the large transfers of one
/// user, so they share `type == "transfer"` and `amount > 4000` and differ
/// in the user. The output stays small, so the cost measured is that of
/// evaluating the rules.
pub fn many_filters(count: u32) -> String {
    let mut text =
        format!("// {count} filters sharing two conditions, written by `eddy bench`\n\n");
    for i in 0..count {
        text.push_str(&format!(
            "rule transfer_{i}\n  from auth where type == \"transfer\" and amount > 4000 \
             and user == \"u{i}\"\n  emit transfer_{i} {{ user, amount }}\n\n"
        ));
    }
    text
}

/// Users of the default data set and of the scaled one.
pub const USERS: u64 = 10_000;
pub const SCALED_USERS: u64 = 1_000_000;

/// One measured run: a rule set over a data set with `users` users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    pub label: &'static str,
    pub rules: RuleSet,
    pub users: u64,
    /// The throughput the performance issue asks for, in events/s.
    pub target_events_per_second: Option<u64>,
    /// Whether a single input event completes each derived event, so the
    /// streaming latency from that event to its derived event means
    /// something (a window completes on the watermark, not on an event).
    pub streaming_latency: bool,
    /// `eddy run --workers`.
    pub workers: usize,
}

pub const F: Workload = Workload {
    label: "F",
    rules: RuleSet::Filter,
    users: USERS,
    target_events_per_second: Some(3_000_000),
    streaming_latency: true,
    workers: 1,
};

pub const P: Workload = Workload {
    label: "P",
    rules: RuleSet::Pattern,
    users: USERS,
    target_events_per_second: Some(1_000_000),
    streaming_latency: true,
    workers: 1,
};

pub const W: Workload = Workload {
    label: "W",
    rules: RuleSet::Window,
    users: USERS,
    target_events_per_second: Some(1_500_000),
    streaming_latency: false,
    workers: 1,
};

/// P over a million users: many keys, each with a short-lived candidate.
pub const P_SCALED: Workload = Workload {
    label: "P-1M",
    rules: RuleSet::Pattern,
    users: SCALED_USERS,
    target_events_per_second: None,
    streaming_latency: false,
    workers: 1,
};

/// F over the scaled data set: the same reading, decoding and output with
/// no open state, so P-1M's peak memory minus this one's is its state.
pub const F_SCALED: Workload = Workload {
    label: "F-1M",
    rules: RuleSet::Filter,
    users: SCALED_USERS,
    target_events_per_second: None,
    streaming_latency: false,
    workers: 1,
};

/// P with its keys split between two worker threads.
pub const P_TWO_WORKERS: Workload = Workload {
    label: "P-2w",
    workers: 2,
    target_events_per_second: None,
    streaming_latency: false,
    ..P
};

/// The speed-up over one thread the issue asks of [`P_TWO_WORKERS`].
pub const TWO_WORKERS_SPEEDUP_TARGET: f64 = 1.7;

/// The filters of [`many_filters`] at each of [`RULE_COUNTS`].
pub const RULE_SCALING: [Workload; 3] = [
    filters("F-r1", RULE_COUNTS[0]),
    filters("F-r10", RULE_COUNTS[1]),
    filters("F-r100", RULE_COUNTS[2]),
];

const fn filters(label: &'static str, count: u32) -> Workload {
    Workload {
        label,
        rules: RuleSet::Filters(count),
        users: USERS,
        target_events_per_second: None,
        streaming_latency: false,
        workers: 1,
    }
}

/// The peak memory the issue allows P at a million events, in bytes.
pub const P_PEAK_RSS_TARGET_BYTES: u64 = 100 * 1_000_000;
/// The memory the issue allows per open candidate with a million users.
pub const BYTES_PER_CANDIDATE_TARGET: u64 = 200;
/// The streaming p99 the issue asks for at 100K events/s, in microseconds.
pub const P99_TARGET_MICROS: f64 = 1_000.0;
