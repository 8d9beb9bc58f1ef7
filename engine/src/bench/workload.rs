//! The benchmark workloads: which rules run over which data, and the
//! figures the performance issue sets for them.
//!
//! The rule texts are those of `benches/rules/`, built into the binary so
//! that `eddy bench` runs from any folder and always measures the rules it
//! was built with.

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSet {
    /// A filter: transfers over 4000.
    Filter,
    /// A pattern: failed logins, a login, a large transfer, within 10 minutes.
    Pattern,
    /// A window: five failed logins in a one-minute tumbling window.
    Window,
}

impl RuleSet {
    pub fn file(self) -> RuleFile {
        match self {
            RuleSet::Filter => RuleFile {
                name: "f.eddy",
                text: include_str!("../../../benches/rules/f.eddy"),
            },
            RuleSet::Pattern => RuleFile {
                name: "p.eddy",
                text: include_str!("../../../benches/rules/p.eddy"),
            },
            RuleSet::Window => RuleFile {
                name: "w.eddy",
                text: include_str!("../../../benches/rules/w.eddy"),
            },
        }
    }
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
}

pub const F: Workload = Workload {
    label: "F",
    rules: RuleSet::Filter,
    users: USERS,
    target_events_per_second: Some(3_000_000),
    streaming_latency: true,
};

pub const P: Workload = Workload {
    label: "P",
    rules: RuleSet::Pattern,
    users: USERS,
    target_events_per_second: Some(1_000_000),
    streaming_latency: true,
};

pub const W: Workload = Workload {
    label: "W",
    rules: RuleSet::Window,
    users: USERS,
    target_events_per_second: Some(1_500_000),
    streaming_latency: false,
};

/// P over a million users: many keys, each with a short-lived candidate.
pub const P_SCALED: Workload = Workload {
    label: "P-1M",
    rules: RuleSet::Pattern,
    users: SCALED_USERS,
    target_events_per_second: None,
    streaming_latency: false,
};

/// F over the scaled data set: the same reading, decoding and output with
/// no open state, so P-1M's peak memory minus this one's is its state.
pub const F_SCALED: Workload = Workload {
    label: "F-1M",
    rules: RuleSet::Filter,
    users: SCALED_USERS,
    target_events_per_second: None,
    streaming_latency: false,
};

/// The peak memory the issue allows P at a million events, in bytes.
pub const P_PEAK_RSS_TARGET_BYTES: u64 = 100 * 1_000_000;
/// The memory the issue allows per open candidate with a million users.
pub const BYTES_PER_CANDIDATE_TARGET: u64 = 200;
/// The streaming p99 the issue asks for at 100K events/s, in microseconds.
pub const P99_TARGET_MICROS: f64 = 1_000.0;
