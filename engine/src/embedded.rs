//! The example pack built into the binary: what `eddy run` runs when it is
//! given no rules, so a newcomer sees eddy work without preparing anything.

/// A rule pack built into the binary: its rules and one JSON-lines text per
/// input stream.
pub struct BuiltInPack<'a> {
    pub rules_name: &'static str,
    pub rules: &'static str,
    pub inputs: &'a [(&'static str, &'static str, &'static str)],
}

/// The fraud pack of `examples/fraud`: the rule-language reference's examples.
pub const FRAUD: BuiltInPack<'static> = BuiltInPack {
    rules_name: "examples/fraud/rules.eddy",
    rules: include_str!("../../examples/fraud/rules.eddy"),
    inputs: &[
        (
            "auth",
            "examples/fraud/data/auth.jsonl",
            include_str!("../../examples/fraud/data/auth.jsonl"),
        ),
        (
            "payments",
            "examples/fraud/data/payments.jsonl",
            include_str!("../../examples/fraud/data/payments.jsonl"),
        ),
        (
            "settlements",
            "examples/fraud/data/settlements.jsonl",
            include_str!("../../examples/fraud/data/settlements.jsonl"),
        ),
    ],
};
