//! The example pack built into the binary: what `eddy run` runs when it is
//! given no rules, so a newcomer sees eddy work without preparing anything.

/// One input stream's sample events.
pub struct EmbeddedInput {
    pub stream: &'static str,
    pub jsonl: &'static str,
}

pub struct EmbeddedPack {
    pub name: &'static str,
    pub rules: &'static str,
    pub inputs: &'static [EmbeddedInput],
}

/// The fraud pack of `examples/fraud`: the rule-language reference's examples.
pub const FRAUD: EmbeddedPack = EmbeddedPack {
    name: "examples/fraud/rules.eddy",
    rules: include_str!("../../examples/fraud/rules.eddy"),
    inputs: &[
        EmbeddedInput { stream: "auth", jsonl: include_str!("../../examples/fraud/data/auth.jsonl") },
        EmbeddedInput { stream: "payments", jsonl: include_str!("../../examples/fraud/data/payments.jsonl") },
        EmbeddedInput { stream: "settlements", jsonl: include_str!("../../examples/fraud/data/settlements.jsonl") },
    ],
};
