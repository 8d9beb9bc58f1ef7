//! Messages we know are still poor. Each snapshot records today's output,
//! and the comment says what a good message would be, so an improvement
//! shows up as a snapshot diff.

mod common;

use common::diagnose;
use insta::assert_snapshot;

/// Good: "expected a condition after `and`, found `emit`", pointing at
/// the dangling `and`, not at `emit` on the next line.
#[test]
fn dangling_and_points_at_the_next_clause() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth where kind == \"x\" and\n  emit e { ip }\n"
    ));
}

/// Good: label every rule of the cycle and show the path
/// (`a` reads `b_out`, emitted by `b`, which reads `a_out`, emitted by `a`).
#[test]
fn rule_cycle_labels_only_the_first_rule() {
    assert_snapshot!(diagnose(
        "rule a\n  from b_out\n  emit a_out { x }\n\nrule b\n  from a_out\n  emit b_out { x }\n"
    ));
}

/// Good: say that timestamp literals are not supported, and suggest
/// comparing with another timestamp field instead of "expected timestamp,
/// found string".
#[test]
fn timestamp_compared_with_text() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth where ts > \"2024-01-01T00:00:00Z\"\n  emit e { ip }\n"
    ));
}

/// Good: "expected `,` or `}` after an emitted field, found `user_id`"
/// plus a help saying "did you forget a `,`?"; today there is no help.
#[test]
fn missing_comma_in_emit_has_no_hint() {
    assert_snapshot!(diagnose("rule r\n  from auth\n  emit e { ip user_id }\n"));
}

/// Good: "streams: auth, payments, settlements; derived events: ..."
/// without this rule's own emit name `e`, which cannot be what was meant.
#[test]
fn unknown_stream_lists_the_rules_own_emit_name() {
    assert_snapshot!(diagnose("rule r\n  from zzz\n  emit e { ip }\n"));
}
