//! Whether the job can run a program on its topics' partitions, decided
//! at startup from the plan-level analysis that `--workers` uses too
//! ([`dsl::partitioning`]).
//!
//! A partition task sees partition N of every input topic, so a stateful
//! rule is complete only if every event of one key is in the same
//! partition number of every topic it reads: the topics must be keyed by
//! the rule's `by` key (co-partitioned), which `[streams.NAME] key_field`
//! declares. Until eddy repartitions by itself, a program that would run
//! incompletely on a multi-partition topic is refused, never run partially.
//! With one partition per topic every program is complete.

use dsl::partitioning::{is_stateful, Obstacle, Partitioning};
use dsl::plan::Program;

use crate::config::{Config, StreamSource};

/// Why the job refuses a program: the rule, the stream and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule `{rule}` cannot run on the partitions of stream `{stream}`: {problem}; {fix}")]
pub struct Unsplittable {
    pub rule: String,
    pub stream: String,
    pub problem: String,
    pub fix: String,
}

/// Refuses the first rule (in rule order) that would see only part of its
/// keys' events. `partitions(stream)`: the partition count of an input
/// stream's topic; `None` where the broker did not say (the caller warns),
/// taken as one.
pub fn check(
    program: &Program,
    config: &Config,
    partitions: impl Fn(&str) -> Option<usize>,
) -> Result<(), Unsplittable> {
    let multi = |stream: &str| partitions(stream).is_some_and(|n| n > 1);
    let analysis = Partitioning::of(program);
    let any_multi = analysis
        .streams
        .iter()
        .any(|(index, _)| multi(&program.catalog.streams[*index].name));
    for obstacle in &analysis.obstacles {
        let rule_inputs = || {
            program
                .rules
                .iter()
                .find(|r| r.name == obstacle.rule())
                .map(|r| r.inputs().into_iter().map(str::to_string).collect())
                .unwrap_or_else(Vec::<String>::new)
        };
        let refused = match obstacle {
            // Each task derives the events of its own keys; a stateless
            // rule over them is as complete as its upstream rule.
            Obstacle::ReadsDerived {
                stateful: false, ..
            } => false,
            Obstacle::ReadsDerived { stateful: true, .. } => any_multi,
            Obstacle::Unkeyed { .. } => rule_inputs().iter().any(|s| multi(s)),
            Obstacle::KeysDiffer { stream, .. } => multi(stream),
        };
        if refused {
            return Err(Unsplittable {
                rule: obstacle.rule().to_string(),
                stream: obstacle.stream().to_string(),
                problem: obstacle.to_string(),
                fix: "run it on topics of one partition, or with `eddy run` on files".into(),
            });
        }
    }
    for (index, split) in &analysis.streams {
        let stream = &program.catalog.streams[*index].name;
        let Some(grouped_by) = split.key_path(stream) else {
            continue;
        };
        if !multi(stream) {
            continue;
        }
        let keyed_by = match config.streams.get(stream) {
            Some(StreamSource::Kafka(source)) => source.key_field.as_deref(),
            _ => None,
        };
        if keyed_by == Some(grouped_by.as_str()) {
            continue;
        }
        let rule = program
            .rules
            .iter()
            .find(|r| is_stateful(r) && r.inputs().contains(&stream.as_str()))
            .map_or_else(String::new, |r| r.name.clone());
        let keying = match keyed_by {
            Some(field) => format!("its topic is keyed by `{field}`"),
            None => format!("`[streams.{stream}]` names no `key_field`"),
        };
        return Err(Unsplittable {
            rule,
            stream: stream.clone(),
            problem: format!(
                "it groups `{stream}` by `{grouped_by}` but {keying}, so one key's events \
                 may be in several partitions"
            ),
            fix: format!(
                "key the topic's messages by `{grouped_by}` and declare `key_field = \
                 \"{grouped_by}\"` under `[streams.{stream}]`, or use a topic of one partition"
            ),
        });
    }
    Ok(())
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
rule all from auth where ip == "x" emit e3 { ip }
rule chained from e1 emit e4 { user_id }
"#;

    fn keyed_by(field: &str) -> Config {
        Config::parse(
            &format!("[streams.auth]\ntopic = \"auth\"\nkey_field = \"{field}\"\n"),
            "eddy.toml",
        )
        .unwrap()
    }

    #[test]
    fn co_partitioned_topics_and_stateless_chains_are_accepted() {
        let program = program(RULES);
        assert_eq!(check(&program, &keyed_by("user_id"), |_| Some(3)), Ok(()));
    }

    #[test]
    fn a_topic_keyed_by_another_field_is_refused_unless_it_has_one_partition() {
        let program = program(RULES);
        let refusal = check(&program, &keyed_by("ip"), |_| Some(3)).unwrap_err();
        assert_eq!(
            (refusal.rule.as_str(), refusal.stream.as_str()),
            ("by_user", "auth")
        );
        assert!(
            refusal.to_string().contains("its topic is keyed by `ip`"),
            "{refusal}"
        );
        assert!(refusal.fix.contains("key_field = \"user_id\""), "{refusal}");
        assert_eq!(check(&program, &keyed_by("ip"), |_| Some(1)), Ok(()));
        let refusal = check(&program, &Config::default(), |_| Some(2)).unwrap_err();
        assert!(
            refusal.problem.contains("names no `key_field`"),
            "{refusal}"
        );
    }

    #[test]
    fn state_without_a_key_and_two_groupings_are_refused_on_several_partitions() {
        let unkeyed = program(
            "stream auth ( ts timestamp, user_id string, ip string ) time ts\n\
             rule s from auth emit o { ip } suppress 1s\n",
        );
        let refusal = check(&unkeyed, &keyed_by("user_id"), |_| Some(2)).unwrap_err();
        assert_eq!(refusal.rule, "s");
        assert_eq!(check(&unkeyed, &keyed_by("user_id"), |_| Some(1)), Ok(()));

        let two_ways = program(&format!(
            "{RULES}\nrule by_ip from auth by ip window 1m emit e2 {{ ip, n: count() }}"
        ));
        let refusal = check(&two_ways, &keyed_by("user_id"), |_| Some(2)).unwrap_err();
        assert_eq!(refusal.rule, "by_ip");
        assert!(
            refusal.problem.contains("grouped by different keys"),
            "{refusal}"
        );
    }
}
