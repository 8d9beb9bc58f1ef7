//! How a program may be split between pipelines that each see only part of
//! its input: `eddy run --workers N` splits the events of each input stream
//! by a hash of a key, the Kafka job by topic partition. Both ask this one
//! analysis, so they agree on what can be split and why not.
//!
//! A stateful rule is complete on a part of the input only if every event
//! of one of its keys is in that part. So each input stream read by
//! stateful rules must be split by one key component that all of them
//! share (Kafka Streams calls topics split alike "co-partitioned"). What
//! cannot be split that way is an [`Obstacle`], naming the rule.

use std::fmt;

use crate::plan::{KeyPart, Program, RuleKind, RulePlan};

/// How the events of one input stream may be split.
#[derive(Debug, Clone, PartialEq)]
pub enum Split {
    /// Only stateless rules read it: any split gives the same output.
    Any,
    /// Every stateful rule reading it groups by this key component: events
    /// with equal values of it must meet in one part.
    ByKey(KeyPart),
}

impl Split {
    /// The field path of the key component in `stream`, for [`Split::ByKey`].
    pub fn key_path(&self, stream: &str) -> Option<String> {
        match self {
            Split::Any => None,
            Split::ByKey(part) => part.path_in(stream).map(|path| path.join(".")),
        }
    }
}

/// Why a rule cannot run on part of its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Obstacle {
    /// The rule reads derived events of another rule. Stateless, it can
    /// still run wherever its upstream rule runs; stateful, its keys may
    /// span parts.
    ReadsDerived {
        rule: String,
        stream: String,
        stateful: bool,
    },
    /// The rule keeps state without `by` (a pattern or window without
    /// `by`, or `suppress` on a rule without `by`): all its events are one key.
    Unkeyed { rule: String, stream: String },
    /// Another stateful rule already splits `stream` by `field`, and this
    /// rule does not group by it.
    KeysDiffer {
        rule: String,
        stream: String,
        field: String,
    },
}

impl Obstacle {
    pub fn rule(&self) -> &str {
        match self {
            Obstacle::ReadsDerived { rule, .. }
            | Obstacle::Unkeyed { rule, .. }
            | Obstacle::KeysDiffer { rule, .. } => rule,
        }
    }

    pub fn stream(&self) -> &str {
        match self {
            Obstacle::ReadsDerived { stream, .. }
            | Obstacle::Unkeyed { stream, .. }
            | Obstacle::KeysDiffer { stream, .. } => stream,
        }
    }
}

impl fmt::Display for Obstacle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Obstacle::ReadsDerived {
                rule,
                stream,
                stateful: true,
            } => write!(
                f,
                "rule `{rule}` keeps state over derived stream `{stream}`, whose keys may span parts"
            ),
            Obstacle::ReadsDerived { rule, stream, .. } => {
                write!(f, "rule `{rule}` reads derived stream `{stream}`")
            }
            Obstacle::Unkeyed { rule, stream } => write!(
                f,
                "rule `{rule}` keeps state over `{stream}` without `by`, so no key can split its events"
            ),
            Obstacle::KeysDiffer {
                rule,
                stream,
                field,
            } => write!(
                f,
                "stream `{stream}` is grouped by different keys (rule `{rule}` does not group by `{field}`)"
            ),
        }
    }
}

/// The analysis of one program.
#[derive(Debug, Clone, PartialEq)]
pub struct Partitioning {
    /// Per input stream (catalog index): how it may be split.
    pub streams: Vec<(usize, Split)>,
    /// In rule order.
    pub obstacles: Vec<Obstacle>,
}

impl Partitioning {
    pub fn of(program: &Program) -> Self {
        let catalog = &program.catalog;
        let mut chosen: Vec<Option<KeyPart>> = vec![None; catalog.streams.len()];
        let mut obstacles = Vec::new();
        for rule in &program.rules {
            let stateful = is_stateful(rule);
            let mut reads = Vec::new();
            for name in rule.inputs() {
                let Some(index) = catalog.stream_index(name) else {
                    continue;
                };
                if catalog.streams[index].derived_from.is_some() {
                    obstacles.push(Obstacle::ReadsDerived {
                        rule: rule.name.clone(),
                        stream: name.to_string(),
                        stateful,
                    });
                } else {
                    reads.push(index);
                }
            }
            if !stateful || reads.is_empty() {
                continue;
            }
            let stream_name = |s: usize| catalog.streams[s].name.as_str();
            let Some(key) = rule.key() else {
                obstacles.push(Obstacle::Unkeyed {
                    rule: rule.name.clone(),
                    stream: stream_name(reads[0]).to_string(),
                });
                continue;
            };
            // One component of the key must be what every stream it reads
            // is split by, so that equal keys meet in one part.
            let fits = |part: &KeyPart, s: usize| {
                chosen[s].as_ref().is_none_or(|c| {
                    c.ty == part.ty && c.path_in(stream_name(s)) == part.path_in(stream_name(s))
                })
            };
            match key
                .parts
                .iter()
                .find(|part| reads.iter().all(|&s| fits(part, s)))
            {
                Some(part) => {
                    for &s in &reads {
                        chosen[s].get_or_insert_with(|| part.clone());
                    }
                }
                None => {
                    let stream = reads
                        .iter()
                        .copied()
                        .find(|&s| chosen[s].is_some())
                        .unwrap_or(reads[0]);
                    let field = chosen[stream]
                        .as_ref()
                        .and_then(|c| c.path_in(stream_name(stream)))
                        .unwrap_or_default()
                        .join(".");
                    obstacles.push(Obstacle::KeysDiffer {
                        rule: rule.name.clone(),
                        stream: stream_name(stream).to_string(),
                        field,
                    });
                }
            }
        }
        let streams = program
            .input_streams()
            .map(|(index, _)| {
                let split = match chosen[index].take() {
                    Some(part) => Split::ByKey(part),
                    None => Split::Any,
                };
                (index, split)
            })
            .collect();
        Partitioning { streams, obstacles }
    }

    /// How input stream `stream` (catalog index) may be split.
    pub fn split_of(&self, stream: usize) -> Option<&Split> {
        self.streams
            .iter()
            .find(|(index, _)| *index == stream)
            .map(|(_, split)| split)
    }
}

/// Whether `rule` keeps state across events: patterns, windows, and any
/// rule that suppresses repeats.
pub fn is_stateful(rule: &RulePlan) -> bool {
    !matches!(rule.kind, RuleKind::Simple(_)) || rule.suppress.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;

    fn program(text: &str) -> Program {
        let sources = [Source {
            name: "r.eddy".into(),
            text: text.into(),
        }];
        let (program, diags) = crate::compile(&sources);
        program.unwrap_or_else(|| panic!("rules compile: {diags:?}"))
    }

    const STREAMS: &str = "
stream auth ( ts timestamp, user_id string, ip string ) time ts
stream payments ( ts timestamp, owner string, amount float ) time ts
";

    #[test]
    fn streams_read_by_stateful_rules_split_by_their_shared_key() {
        let p = program(&format!(
            "{STREAMS}
rule a by auth.user_id = payments.owner pattern x: auth -> y: payments within 1m emit e1 {{ user_id }}
rule b from auth where ip == \"x\" emit e2 {{ ip }}"
        ));
        let analysis = Partitioning::of(&p);
        assert!(analysis.obstacles.is_empty(), "{:?}", analysis.obstacles);
        let auth = p.catalog.stream_index("auth").unwrap();
        let payments = p.catalog.stream_index("payments").unwrap();
        let split = analysis.split_of(auth).unwrap();
        assert_eq!(split.key_path("auth").as_deref(), Some("user_id"));
        let split = analysis.split_of(payments).unwrap();
        assert_eq!(split.key_path("payments").as_deref(), Some("owner"));
    }

    #[test]
    fn stateless_rules_leave_their_streams_free() {
        let p = program(&format!("{STREAMS}\nrule b from auth emit e2 {{ ip }}"));
        let analysis = Partitioning::of(&p);
        let auth = p.catalog.stream_index("auth").unwrap();
        assert_eq!(analysis.split_of(auth), Some(&Split::Any));
        assert!(analysis.obstacles.is_empty());
    }

    #[test]
    fn suppress_without_by_is_state_without_a_key() {
        let p = program(&format!(
            "{STREAMS}\nrule s from auth emit o {{ ip }} suppress 1s"
        ));
        assert_eq!(
            Partitioning::of(&p).obstacles,
            [Obstacle::Unkeyed {
                rule: "s".into(),
                stream: "auth".into()
            }]
        );
    }

    #[test]
    fn a_stream_grouped_two_ways_and_chained_rules_are_obstacles() {
        let p = program(&format!(
            "{STREAMS}
rule by_user by user_id pattern a: auth -> b: auth within 1m emit e1 {{ user_id }}
rule by_ip from auth by ip window 1m emit e2 {{ ip, n: count() }}
rule chained from e1 emit e3 {{ user_id }}
rule chained_window from e1 by user_id window 1m emit e4 {{ user_id, n: count() }}"
        ));
        let obstacles = Partitioning::of(&p).obstacles;
        assert_eq!(
            obstacles,
            [
                Obstacle::KeysDiffer {
                    rule: "by_ip".into(),
                    stream: "auth".into(),
                    field: "user_id".into()
                },
                Obstacle::ReadsDerived {
                    rule: "chained".into(),
                    stream: "e1".into(),
                    stateful: false
                },
                Obstacle::ReadsDerived {
                    rule: "chained_window".into(),
                    stream: "e1".into(),
                    stateful: true
                },
            ]
        );
    }
}
