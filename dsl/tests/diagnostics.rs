//! Snapshots of the messages an analyst sees for common mistakes. Each
//! snapshot was read and judged: it says what is wrong, where, and how to
//! fix it.

mod common;

use common::{diagnose, diagnose_alone};
use insta::assert_snapshot;

#[test]
fn misspelt_field() {
    assert_snapshot!(diagnose(
        "rule big\n  from payments\n  where amout > 10000\n  emit big { payment_id }\n"
    ));
}

#[test]
fn misspelt_stream() {
    assert_snapshot!(diagnose(
        "rule big\n  from paymnts\n  emit big { payment_id }\n"
    ));
}

#[test]
fn misspelt_clause_keyword() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern f: auth -> p: payments\n  withn 10m\n  emit e { user_id }\n"
    ));
}

#[test]
fn misspelt_function() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth where lowr(kind) == \"x\"\n  emit e { ip }\n"
    ));
}

#[test]
fn misspelt_aggregate() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth\n  by ip\n  window 5m\n  having cont() > 3\n  emit e { ip }\n"
    ));
}

#[test]
fn missing_within() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern f: auth -> p: payments\n  emit e { user_id }\n"
    ));
}

#[test]
fn comparing_number_with_string() {
    assert_snapshot!(diagnose(
        "rule r\n  from payments where amount > \"1000\"\n  emit e { payment_id }\n"
    ));
}

#[test]
fn condition_is_not_a_bool() {
    assert_snapshot!(diagnose(
        "rule r\n  from payments where amount\n  emit e { payment_id }\n"
    ));
}

#[test]
fn arithmetic_on_a_string() {
    assert_snapshot!(diagnose(
        "rule r\n  from payments where currency * 2 > 1\n  emit e { payment_id }\n"
    ));
}

#[test]
fn unknown_step_reference() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern f: auth -> s: auth where ip != g.ip\n  within 10m\n  emit e { user_id }\n"
    ));
}

#[test]
fn step_refers_to_itself() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern f: auth where ip != f.ip -> s: auth\n  within 10m\n  emit e { user_id }\n"
    ));
}

#[test]
fn step_refers_to_later_step() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern f: auth where ip != s.ip -> s: auth\n  within 10m\n  emit e { user_id }\n"
    ));
}

#[test]
fn bad_duration_unit() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern f: auth -> s: auth\n  within 10min\n  emit e { user_id }\n"
    ));
}

#[test]
fn duration_without_unit() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern f: auth -> s: auth\n  within 10\n  emit e { user_id }\n"
    ));
}

#[test]
fn unterminated_string() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth where kind == \"login_failed\n  emit e { ip }\n"
    ));
}

#[test]
fn missing_emit() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth where kind == \"login_failed\"\n"
    ));
}

#[test]
fn duplicate_rule() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth\n  emit a { ip }\n\nrule r\n  from payments\n  emit b { amount }\n"
    ));
}

#[test]
fn key_field_missing_from_one_stream() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern p: payments -> s: settlements\n  within 1h\n  emit e { user_id }\n"
    ));
}

#[test]
fn key_types_differ() {
    assert_snapshot!(diagnose(
        "rule r\n  by auth.user_id = payments.amount\n  pattern a: auth -> p: payments\n  within 1h\n  emit e { user_id }\n"
    ));
}

#[test]
fn having_without_window() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth\n  having count() > 3\n  emit e { ip }\n"
    ));
}

#[test]
fn bare_field_in_window_emit() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth\n  by ip\n  window 5m\n  emit e { ip, user_id, n: count() }\n"
    ));
}

#[test]
fn bare_field_in_pattern_emit() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern a: auth -> p: payments\n  within 1h\n  emit e { user_id, amount }\n"
    ));
}

#[test]
fn not_at_start_of_pattern() {
    assert_snapshot!(diagnose(
        "rule r\n  by payment_id\n  pattern not settlements -> p: payments\n  within 30m\n  emit e { payment_id }\n"
    ));
}

#[test]
fn quantifier_on_not() {
    assert_snapshot!(diagnose(
        "rule r\n  by payment_id\n  pattern p: payments -> not settlements+ -> q: payments\n  within 30m\n  emit e { payment_id }\n"
    ));
}

#[test]
fn reversed_quantifier_bounds() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern f: auth where kind == \"login_failed\" {3,1} -> s: auth\n  within 10m\n  emit e { user_id }\n"
    ));
}

#[test]
fn by_on_simple_rule() {
    assert_snapshot!(diagnose("rule r\n  from auth\n  by ip\n  emit e { ip }\n"));
}

#[test]
fn from_and_pattern_together() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth\n  by user_id\n  pattern f: auth -> s: auth\n  within 10m\n  emit e { user_id }\n"
    ));
}

#[test]
fn unknown_severity() {
    assert_snapshot!(diagnose(
        "rule r\n  severity hihg\n  from auth\n  emit e { ip }\n"
    ));
}

#[test]
fn emit_step_field_without_name() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern f: auth -> s: auth\n  within 10m\n  emit e { user_id, s.ip }\n"
    ));
}

#[test]
fn duplicate_emit_field() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth\n  emit e { ip, ip: user_id }\n"
    ));
}

#[test]
fn aggregate_in_simple_rule() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth where count() > 3\n  emit e { ip }\n"
    ));
}

#[test]
fn unknown_type_in_stream() {
    assert_snapshot!(diagnose_alone(
        "stream s (\n  ts timestamp,\n  amount flot\n) time ts\n"
    ));
}

#[test]
fn time_field_not_a_timestamp() {
    assert_snapshot!(diagnose_alone(
        "stream s (\n  ts string,\n  amount float\n) time ts\n"
    ));
}

#[test]
fn reserved_field_name() {
    assert_snapshot!(diagnose_alone(
        "stream s (\n  ts timestamp,\n  __offset int\n) time ts\n"
    ));
}

#[test]
fn single_equals_in_condition() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth where kind = \"login_ok\"\n  emit e { ip }\n"
    ));
}

#[test]
fn rules_reading_each_other() {
    assert_snapshot!(diagnose(
        "rule a\n  from b_out\n  emit a_out { x }\n\nrule b\n  from a_out\n  emit b_out { x }\n"
    ));
}

#[test]
fn same_emit_name_different_fields() {
    assert_snapshot!(diagnose(
        "rule a\n  from auth\n  emit alert { ip }\n\nrule b\n  from payments\n  emit alert { amount }\n"
    ));
}

#[test]
fn emit_name_is_a_declared_stream() {
    assert_snapshot!(diagnose("rule r\n  from auth\n  emit payments { ip }\n"));
}

#[test]
fn quantified_member_of_all() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern all(a: auth+, p: payments)\n  within 10m\n  emit e { user_id }\n"
    ));
}

#[test]
fn missing_arrow_between_steps() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern f: auth where kind == \"x\" s: auth\n  within 10m\n  emit e { user_id }\n"
    ));
}

#[test]
fn wrong_number_of_arguments() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth where lower(kind, ip) == \"x\"\n  emit e { ip }\n"
    ));
}

#[test]
fn misspelt_top_level_keyword() {
    assert_snapshot!(diagnose("rul r\n  from auth\n  emit e { ip }\n"));
}

#[test]
fn duplicate_step_name() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern f: auth -> f: auth\n  within 10m\n  emit e { user_id }\n"
    ));
}

#[test]
fn hop_longer_than_window() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth\n  by ip\n  window 1m every 5m\n  emit e { ip, n: count() }\n"
    ));
}

#[test]
fn unterminated_block_comment() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth /* the logins\n  emit e { ip }\n"
    ));
}

#[test]
fn misspelt_nested_field() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth where device.oss == \"ios\"\n  emit e { ip }\n"
    ));
}

#[test]
fn missing_condition_after_where() {
    assert_snapshot!(diagnose("rule r\n  from auth where\n  emit e { ip }\n"));
}

#[test]
fn several_errors_in_one_file_are_all_reported() {
    let out = diagnose(concat!(
        "rule first\n",
        "  from paymnts\n",
        "  emit a { x }\n",
        "\n",
        "rule second\n",
        "  by user_id\n",
        "  pattern f: auth where kind == \"x\" -> s: auth where ip != t.ip\n",
        "  emit b { user_id }\n",
        "\n",
        "rule third\n",
        "  from auth where kind == 3\n",
        "  withn 5m\n",
        "  emit c { ip }\n",
    ));
    for code in ["E0202", "E0205", "E0401", "E0301", "E0111"] {
        assert!(out.contains(code), "missing {code} in:\n{out}");
    }
    assert_snapshot!(out);
}

#[test]
fn misspelt_key_field() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth\n  by ipp\n  window 5m\n  emit e { n: count() }\n"
    ));
}

#[test]
fn missing_comma_in_emit() {
    assert_snapshot!(diagnose("rule r\n  from auth\n  emit e { ip user_id }\n"));
}

#[test]
fn duplicate_clause() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth\n  from payments\n  emit e { ip }\n"
    ));
}

#[test]
fn within_without_pattern() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth\n  within 5m\n  emit e { ip }\n"
    ));
}

#[test]
fn rule_without_source() {
    assert_snapshot!(diagnose("rule r\n  severity high\n  emit e { x: 1 }\n"));
}

#[test]
fn not_step_read_in_emit() {
    assert_snapshot!(diagnose(
        "rule r\n  by payment_id\n  pattern p: payments -> not n: settlements\n  within 30m\n  emit e { payment_id, status: n.status }\n"
    ));
}

#[test]
fn and_on_a_number() {
    assert_snapshot!(diagnose(
        "rule r\n  from payments where amount and currency == \"EUR\"\n  emit e { payment_id }\n"
    ));
}

#[test]
fn bad_percentile_fraction() {
    assert_snapshot!(diagnose(
        "rule r\n  from payments\n  by user_id\n  window 1h\n  emit e { user_id, p: percentile(amount, 95) }\n"
    ));
}

#[test]
fn zero_repeat_quantifier() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern f: auth{0} -> s: auth\n  within 10m\n  emit e { user_id }\n"
    ));
}

#[test]
fn not_after_step_name() {
    assert_snapshot!(diagnose(
        "rule r\n  by payment_id\n  pattern p: payments -> n: not settlements\n  within 30m\n  emit e { payment_id }\n"
    ));
}

#[test]
fn misspelt_where() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth wher kind == \"x\"\n  emit e { ip }\n"
    ));
}

#[test]
fn missing_arrow_before_unnamed_step() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern f: auth where kind == \"x\" auth\n  within 10m\n  emit e { user_id }\n"
    ));
}

#[test]
fn record_as_key() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth\n  by device\n  window 5m\n  emit e { n: count() }\n"
    ));
}

#[test]
fn not_followed_only_by_optional_steps() {
    assert_snapshot!(diagnose(
        "rule r\n  by payment_id\n  pattern p: payments -> not settlements -> q: payments{0,2}\n  within 30m\n  emit e { payment_id }\n"
    ));
}

/// Codes of the diagnostics for `pattern` in a rule keyed by payment_id
/// (empty when it compiles).
fn pattern_codes(pattern: &str) -> Vec<&'static str> {
    let rules = format!(
        "rule r\n  by payment_id\n  pattern {pattern}\n  within 30m\n  emit e {{ payment_id }}\n"
    );
    let sources = vec![
        dsl::Source {
            name: "streams.eddy".into(),
            text: common::STREAMS.into(),
        },
        dsl::Source {
            name: "rules.eddy".into(),
            text: rules,
        },
    ];
    dsl::compile(&sources).1.iter().map(|d| d.code).collect()
}

#[test]
fn not_needs_a_required_step_after_it_or_must_be_last() {
    for optional in [
        "p: payments -> not settlements -> q: payments?",
        "p: payments -> not settlements -> q: payments*",
        "p: payments -> not settlements -> q: payments{0,2}",
        "p: payments -> not settlements -> q: payments? -> r: payments*",
        "p: payments -> not settlements -> (q: payments | r: payments?)",
        "p: payments -> (q: payments -> not settlements -> r: payments?)+ -> s: payments",
        "p: payments -> not settlements -> q: payments? -> not settlements",
    ] {
        let codes = pattern_codes(optional);
        assert!(codes.contains(&"E0421"), "{optional}: {codes:?}");
    }
    for fine in [
        "p: payments -> not settlements",
        "p: payments -> not settlements -> q: payments",
        "p: payments -> not settlements -> q: payments? -> r: payments",
        "p: payments -> not settlements -> q: payments{1,2}",
        "p: payments -> (q: payments -> not settlements -> r: payments?) -> s: payments",
        "p: payments -> not settlements -> (q: payments? -> r: payments)",
    ] {
        assert_eq!(pattern_codes(fine), Vec::<&str>::new(), "{fine}");
    }
}

// Limits: whatever `eddy run` would refuse, `eddy check` refuses first.

#[test]
fn invalid_regex() {
    assert_snapshot!(diagnose(
        "rule r\n  from payments where matches(currency, \"(a+\")\n  emit e { payment_id }\n"
    ));
}

#[test]
fn regex_over_the_size_limit() {
    assert_snapshot!(diagnose(
        "rule r\n  from payments where matches(currency, \"((a{100}){100}){100}\")\n  emit e { payment_id }\n"
    ));
}

#[test]
fn regex_with_an_unknown_class() {
    assert_snapshot!(diagnose(
        "rule r\n  from payments where matches(currency, \"\\\\p{Bogus}\")\n  emit e { payment_id }\n"
    ));
}

#[test]
fn quantifier_over_the_limit() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern f: auth{1000000} -> p: payments\n  within 10m\n  emit e { user_id }\n"
    ));
}

#[test]
fn pattern_with_too_many_steps() {
    let steps: Vec<String> = (0..65).map(|i| format!("s{i}: auth")).collect();
    assert_snapshot!(diagnose(&format!(
        "rule r\n  by user_id\n  pattern {}\n  within 10m\n  emit e {{ user_id }}\n",
        steps.join(" -> ")
    )));
}

#[test]
fn pattern_unrolling_too_large() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern (f: auth{1000}){1000} -> p: payments\n  within 10m\n  emit e { user_id }\n"
    ));
}

#[test]
fn hopping_window_with_too_many_windows_per_event() {
    assert_snapshot!(diagnose(
        "rule r\n  from auth\n  by ip\n  window 30d every 1ms\n  emit e { ip, n: count() }\n"
    ));
}

#[test]
fn pattern_of_only_optional_steps() {
    assert_snapshot!(diagnose(
        "rule r\n  by user_id\n  pattern f: auth? -> p: payments*\n  within 10m\n  emit e { user_id }\n"
    ));
}

#[test]
fn limits_are_inclusive() {
    let ok = |rules: &str| {
        let sources = vec![
            dsl::Source {
                name: "streams.eddy".into(),
                text: common::STREAMS.into(),
            },
            dsl::Source {
                name: "rules.eddy".into(),
                text: rules.into(),
            },
        ];
        let (program, diags) = dsl::compile(&sources);
        assert!(program.is_some(), "{rules}: {diags:?}");
    };
    ok("rule r\n  from auth\n  by ip\n  window 1000ms every 1ms\n  emit e { ip, n: count() }\n");
    ok("rule r\n  by user_id\n  pattern f: auth{1000} -> p: payments\n  within 10m\n  emit e { user_id }\n");
    let steps: Vec<String> = (0..64).map(|i| format!("s{i}: auth")).collect();
    ok(&format!(
        "rule r\n  by user_id\n  pattern {}\n  within 10m\n  emit e {{ user_id }}\n",
        steps.join(" -> ")
    ));
    ok("rule r\n  from payments where matches(currency, \"^[A-Z]{3}$\")\n  emit e { payment_id }\n");
}

#[test]
fn misspelt_classification() {
    assert_snapshot!(diagnose(
        "rule r\n  classification restricetd\n  from payments\n  emit e { payment_id }\n"
    ));
}

#[test]
fn owner_without_quotes_and_empty_owner() {
    assert_snapshot!(diagnose(
        "rule r\n  owner fraud\n  from payments\n  emit e { payment_id }\n\
         rule s\n  owner \"  \"\n  from payments\n  emit f { payment_id }\n"
    ));
}
