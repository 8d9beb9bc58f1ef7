//! What the job can say at startup about how the rules fit the topics'
//! partitioning.
//!
//! A partition task sees only its own partition of each topic, so a
//! stateful rule is complete only if every event of one key is in the same
//! partition number of every topic it reads: the topics must be keyed by
//! the rule's `by` key (Kafka Streams calls this co-partitioning). Each
//! `[streams.NAME] key_field` says which field its producers key by; these
//! notes point out rules that group by something else. With one partition
//! per topic every rule is complete, whatever the keys.

use dsl::plan::{Program, RuleKind};

use crate::config::{Config, StreamSource};

/// One warning per (rule, stream) whose grouping the topic's key does not
/// guarantee, in rule order. `partitioned(stream)`: whether the stream's
/// topic has more than one partition (with one, every rule is complete).
pub fn notes(
    program: &Program,
    config: &Config,
    partitioned: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut notes = Vec::new();
    for rule in &program.rules {
        if matches!(rule.kind, RuleKind::Simple(_)) {
            continue;
        }
        for stream in rule.inputs() {
            let is_input = program
                .catalog
                .stream(stream)
                .is_some_and(|s| s.derived_from.is_none());
            if !is_input || !partitioned(stream) {
                continue;
            }
            let keyed_by = match config.streams.get(stream) {
                Some(StreamSource::Kafka(source)) => source.key_field.as_deref(),
                _ => None,
            };
            let grouped_by = grouping(rule, stream);
            if keyed_by.is_none() || grouped_by.as_deref() != keyed_by {
                notes.push(note(&rule.name, stream, grouped_by, keyed_by));
            }
        }
    }
    notes
}

/// The single field rule `rule` groups `stream` by, if it has one.
fn grouping(rule: &dsl::plan::RulePlan, stream: &str) -> Option<String> {
    let key = rule.key()?;
    match key.parts.as_slice() {
        [part] => part.path_in(stream).map(|path| path.join(".")),
        _ => None,
    }
}

fn note(rule: &str, stream: &str, grouped_by: Option<String>, keyed_by: Option<&str>) -> String {
    let grouping = match grouped_by {
        Some(field) => format!("groups `{stream}` by `{field}`"),
        None => format!("reads `{stream}` without a single-field `by`"),
    };
    let keying = match keyed_by {
        Some(field) => format!("its topic is keyed by `{field}`"),
        None => format!("`[streams.{stream}]` names no `key_field`"),
    };
    format!(
        "rule `{rule}` {grouping} but {keying}: with its topic in several partitions, it only \
         correlates events that share a partition number"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(text: &str) -> Program {
        let sources = [dsl::Source {
            name: "r.eddy".into(),
            text: text.into(),
        }];
        dsl::compile(&sources).0.expect("rules compile")
    }

    const RULES: &str = r#"
stream auth ( ts timestamp, user_id string, ip string ) time ts
rule by_user by user_id pattern a: auth -> b: auth within 1m emit e1 { user_id }
rule by_ip from auth by ip window 1m emit e2 { ip, n: count() }
rule all from auth where ip == "x" emit e3 { ip }
"#;

    #[test]
    fn rules_grouping_by_another_field_than_the_topic_key_are_named() {
        let config = Config::parse(
            "[streams.auth]\ntopic = \"auth\"\nkey_field = \"user_id\"\n",
            "eddy.toml",
        )
        .unwrap();
        let notes = notes(&program(RULES), &config, |_| true);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0]
            .starts_with("rule `by_ip` groups `auth` by `ip` but its topic is keyed by `user_id`"));
    }

    #[test]
    fn without_key_fields_every_stateful_rule_is_named() {
        let notes = notes(&program(RULES), &Config::default(), |_| true);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("names no `key_field`"));
        assert!(super::notes(&program(RULES), &Config::default(), |_| false).is_empty());
    }
}
