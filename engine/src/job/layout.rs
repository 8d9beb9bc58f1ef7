//! Where each rule of a job runs, decided at startup from the rules, the
//! partition counts of the input topics and the fields they are keyed by.
//!
//! A task sees one partition, so a stateful rule is complete only if all
//! events of one of its keys meet in one partition of every stream it
//! reads. Rules are put in task *groups* (Kafka Streams calls them
//! sub-topologies):
//!
//! - group 0 reads the input topics' own partitions (task N: partition N
//!   of every topic). Its rules: the stateless ones over input streams, and
//!   the stateful ones whose topics are already split right: keyed by the
//!   rule's `by` field (`key_field`) with one partition count, or of one
//!   partition each (then every event is in task 0);
//! - every other stateful rule reads its streams re-keyed through internal
//!   topics, `<group_id>-repartition-<stream>-<key>`, with as many
//!   partitions as the largest of its input topics. Rules whose keys agree
//!   on every stream they share form one group and share the topics;
//! - rules that keep state without a key, or over derived events (whose
//!   keys may have been spread by another key), run in one group on
//!   one-partition topics `<group_id>-repartition-<stream>`, together with
//!   every rule whose derived events they read, directly or not;
//! - a stateless rule over derived events runs wherever those are derived.
//!
//! The input topics' tasks (group 0) forward each event of a re-keyed
//! stream to the partition of its key (see [`super::repartition`]).

use std::collections::{BTreeMap, BTreeSet};

use dsl::partitioning::is_stateful;
use dsl::plan::{Program, RulePlan};

use crate::config::{Config, StreamSource};
use crate::driver::{task_group, TaskId, TaskShape, TaskShapes};

/// How one stream reaches a repartitioned group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Catalog index of the (declared) stream.
    pub stream: usize,
    /// The internal topic.
    pub topic: String,
    /// The field path its events are keyed by (`None`: one partition).
    pub key: Option<Vec<String>>,
    pub partitions: i32,
}

/// One group of tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Per rule index: whether this group runs the rule.
    pub rules: Vec<bool>,
    /// The declared streams its rules read, by catalog index.
    pub streams: BTreeSet<usize>,
    /// Group 0: none (it reads the input topics); others: one per stream.
    pub routes: Vec<Route>,
}

impl Group {
    /// The names of the rules it runs, in rule order.
    pub fn rule_names<'p>(&self, program: &'p Program) -> Vec<&'p str> {
        program
            .rules
            .iter()
            .zip(&self.rules)
            .filter(|(_, on)| **on)
            .map(|(r, _)| r.name.as_str())
            .collect()
    }
}

/// The groups of one program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLayout {
    /// Group 0 first (always there, possibly without rules).
    pub groups: Vec<Group>,
    /// Per internal topic: its group and the index of its route there.
    /// The consumer asks for every message it reads, so it is a lookup.
    by_topic: BTreeMap<String, (usize, usize)>,
}

/// What the layout is decided from besides the rules: the input topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub group_id: String,
    /// Per stream name: the field its topic's messages are keyed by.
    pub key_fields: BTreeMap<String, String>,
    /// Per stream name: its topic's partition count (`None`: unknown, taken as one).
    pub partitions: BTreeMap<String, Option<usize>>,
}

impl Topology {
    pub fn new(config: &Config, partitions: BTreeMap<String, Option<usize>>) -> Self {
        let key_fields = config
            .streams
            .iter()
            .filter_map(|(name, source)| match source {
                StreamSource::Kafka(kafka) => Some((name.clone(), kafka.key_field.clone()?)),
                StreamSource::File(_) | StreamSource::Http(_) | StreamSource::Amqp(_) => None,
            })
            .collect();
        Topology {
            group_id: config.kafka.group_id.clone(),
            key_fields,
            partitions,
        }
    }

    fn partitions_of(&self, stream: &str) -> i32 {
        let count = self.partitions.get(stream).copied().flatten().unwrap_or(1);
        i32::try_from(count.max(1)).unwrap_or(i32::MAX)
    }

    /// Whether the topics of `streams` are split by `paths` already.
    fn split_by(&self, paths: &BTreeMap<String, Vec<String>>) -> bool {
        let counts: BTreeSet<i32> = paths.keys().map(|s| self.partitions_of(s)).collect();
        match counts.iter().collect::<Vec<_>>()[..] {
            [1] => true,
            [_] => paths
                .iter()
                .all(|(stream, path)| self.key_fields.get(stream) == Some(&path.join("."))),
            _ => false,
        }
    }
}

/// What a rule needs of the split of its input.
enum Need {
    /// Stateless: runs wherever its input is.
    Any,
    /// Per stream it reads (by name), the field path equal keys share.
    Keyed(BTreeMap<String, Vec<String>>),
    /// All of its input in one task.
    One,
}

impl JobLayout {
    pub fn plan(program: &Program, topology: &Topology) -> Self {
        let catalog = &program.catalog;
        let rules = &program.rules;
        let declared = |name: &str| {
            catalog
                .stream(name)
                .is_some_and(|s| s.derived_from.is_none())
        };
        let needs: Vec<Need> = rules.iter().map(|r| need(r, topology, &declared)).collect();

        // Rules that must run in one task: those that need it, and every
        // rule whose derived events they read, directly or not.
        let mut together: BTreeSet<usize> = BTreeSet::new();
        let mut pending: Vec<usize> = (0..rules.len())
            .filter(|&i| matches!(needs[i], Need::One))
            .collect();
        while let Some(rule) = pending.pop() {
            if !together.insert(rule) {
                continue;
            }
            for input in rules[rule].inputs() {
                pending.extend(producers(program, input));
            }
        }
        let together_direct = together.iter().all(|&rule| {
            rules[rule]
                .inputs()
                .iter()
                .filter(|s| declared(s))
                .all(|s| topology.partitions_of(s) == 1)
        });

        let none = || vec![false; rules.len()];
        let mut groups = vec![Group {
            rules: none(),
            streams: BTreeSet::new(),
            routes: Vec::new(),
        }];
        // Per keyed group: the path of each stream it has split so far.
        let mut keyed: Vec<(usize, BTreeMap<String, Vec<String>>)> = Vec::new();
        let mut one_group = None;
        for (index, rule) in rules.iter().enumerate() {
            let mut placed: Vec<usize> = Vec::new();
            if together.contains(&index) {
                if together_direct {
                    placed.push(0);
                } else {
                    let group = *one_group.get_or_insert_with(|| {
                        groups.push(Group {
                            rules: none(),
                            streams: BTreeSet::new(),
                            routes: Vec::new(),
                        });
                        groups.len() - 1
                    });
                    placed.push(group);
                }
            } else {
                match &needs[index] {
                    Need::Keyed(paths) if !topology.split_by(paths) => {
                        let fits = |split: &BTreeMap<String, Vec<String>>| {
                            paths
                                .iter()
                                .all(|(s, p)| split.get(s).is_none_or(|q| q == p))
                        };
                        let group = match keyed.iter_mut().find(|(_, split)| fits(split)) {
                            Some((group, split)) => {
                                split.extend(paths.clone());
                                *group
                            }
                            None => {
                                groups.push(Group {
                                    rules: none(),
                                    streams: BTreeSet::new(),
                                    routes: Vec::new(),
                                });
                                keyed.push((groups.len() - 1, paths.clone()));
                                groups.len() - 1
                            }
                        };
                        placed.push(group);
                    }
                    Need::Keyed(_) | Need::One => placed.push(0),
                    Need::Any => {
                        for input in rule.inputs() {
                            if declared(input) {
                                placed.push(0);
                            }
                            for producer in producers(program, input) {
                                placed.extend(
                                    (0..groups.len()).filter(|&g| groups[g].rules[producer]),
                                );
                            }
                        }
                    }
                }
            }
            for group in placed {
                groups[group].rules[index] = true;
                for input in rule.inputs() {
                    if let Some(stream) = catalog.stream_index(input).filter(|_| declared(input)) {
                        groups[group].streams.insert(stream);
                    }
                }
            }
        }

        let mut topics: BTreeSet<String> = BTreeSet::new();
        for (group_index, group) in groups.iter_mut().enumerate().skip(1) {
            let split = keyed
                .iter()
                .find(|(g, _)| *g == group_index)
                .map(|(_, split)| split);
            let partitions = match split {
                Some(_) => group
                    .streams
                    .iter()
                    .map(|&s| topology.partitions_of(&catalog.streams[s].name))
                    .max()
                    .unwrap_or(1),
                None => 1,
            };
            for &stream in &group.streams {
                let name = &catalog.streams[stream].name;
                let key = split.and_then(|split| split.get(name)).cloned();
                let mut topic = match &key {
                    Some(path) => format!(
                        "{}-repartition-{name}-{}",
                        topology.group_id,
                        path.join(".")
                    ),
                    None => format!("{}-repartition-{name}", topology.group_id),
                };
                // Two groups splitting a stream alike, but differing on
                // another stream: each has its own topic.
                if topics.contains(&topic) {
                    topic = format!("{topic}-{group_index}");
                }
                topics.insert(topic.clone());
                group.routes.push(Route {
                    stream,
                    topic,
                    key,
                    partitions,
                });
            }
        }
        let by_topic = groups
            .iter()
            .enumerate()
            .flat_map(|(g, group)| {
                group
                    .routes
                    .iter()
                    .enumerate()
                    .map(move |(r, route)| (route.topic.clone(), (g, r)))
            })
            .collect();
        JobLayout { groups, by_topic }
    }

    /// Every repartition topic, with the group that reads it.
    pub fn routes(&self) -> impl Iterator<Item = (i32, &Route)> + '_ {
        self.groups
            .iter()
            .enumerate()
            .flat_map(|(g, group)| group.routes.iter().map(move |r| (g as i32, r)))
    }

    /// The group reading internal topic `topic`, with its route.
    pub fn route_of(&self, topic: &str) -> Option<(i32, &Route)> {
        let &(group, route) = self.by_topic.get(topic)?;
        Some((group as i32, &self.groups[group].routes[route]))
    }

    /// The shape of a task of group `group` of `program`.
    pub fn shape(&self, program: &Program, group: i32) -> TaskShape {
        let Some(group) = usize::try_from(group).ok().and_then(|g| self.groups.get(g)) else {
            return TaskShape {
                inputs: Vec::new(),
                rules: vec![false; program.rules.len()],
            };
        };
        TaskShape {
            inputs: group
                .streams
                .iter()
                .map(|&s| program.catalog.streams[s].name.clone())
                .collect(),
            rules: group.rules.clone(),
        }
    }

    /// Whether two layouts read the same internal topics (a reload may
    /// change the rules, not the topics the job reads).
    pub fn same_topics(&self, other: &JobLayout) -> bool {
        let topics = |layout: &JobLayout| -> Vec<(i32, String, i32)> {
            layout
                .routes()
                .map(|(g, r)| (g, r.topic.clone(), r.partitions))
                .collect()
        };
        topics(self) == topics(other)
    }

    /// One line per group for the startup log.
    pub fn describe(&self, program: &Program) -> Vec<String> {
        self.groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.rules.iter().any(|on| *on))
            .map(|(index, group)| {
                let rules = group.rule_names(program);
                let reads = if index == 0 {
                    "the input topics".to_string()
                } else {
                    group
                        .routes
                        .iter()
                        .map(|r| format!("{} ({} partitions)", r.topic, r.partitions))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!("task group {index}: rules {} on {reads}", rules.join(", "))
            })
            .collect()
    }
}

/// The job's task shapes: the layout of whatever program the driver runs.
pub struct LayoutShapes(pub Topology);

impl TaskShapes for LayoutShapes {
    fn shape(&self, program: &Program, task: TaskId) -> TaskShape {
        JobLayout::plan(program, &self.0).shape(program, task_group(task))
    }
}

/// The rules whose derived events form stream `name`.
fn producers<'p>(program: &'p Program, name: &'p str) -> impl Iterator<Item = usize> + 'p {
    program
        .rules
        .iter()
        .enumerate()
        .filter(move |(_, r)| r.emit.name == name)
        .map(|(i, _)| i)
}

fn need(rule: &RulePlan, topology: &Topology, declared: &impl Fn(&str) -> bool) -> Need {
    if !is_stateful(rule) {
        return Need::Any;
    }
    let inputs = rule.inputs();
    if inputs.iter().any(|s| !declared(s)) {
        return Need::One;
    }
    let Some(key) = rule.key() else {
        return Need::One;
    };
    let candidates: Vec<BTreeMap<String, Vec<String>>> = key
        .parts
        .iter()
        .filter_map(|part| {
            inputs
                .iter()
                .map(|s| Some((s.to_string(), part.path_in(s)?.to_vec())))
                .collect()
        })
        .collect();
    // A key component the topics are already split by spares a repartition.
    let chosen = candidates
        .iter()
        .find(|paths| topology.split_by(paths))
        .or(candidates.first());
    match chosen {
        Some(paths) => Need::Keyed(paths.clone()),
        None => Need::One,
    }
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

    const STREAMS: &str = "
stream auth ( ts timestamp, user_id string, ip string ) time ts
stream payments ( ts timestamp, owner string, amount float ) time ts
";

    fn topology(partitions: usize, key_fields: &[(&str, &str)]) -> Topology {
        Topology {
            group_id: "g".into(),
            key_fields: key_fields
                .iter()
                .map(|(s, k)| (s.to_string(), k.to_string()))
                .collect(),
            partitions: ["auth", "payments"]
                .iter()
                .map(|s| (s.to_string(), Some(partitions)))
                .collect(),
        }
    }

    /// The rule names of each group, and the topics of each.
    fn summary(layout: &JobLayout, program: &Program) -> Vec<(Vec<String>, Vec<String>)> {
        layout
            .groups
            .iter()
            .map(|g| {
                let rules = g
                    .rule_names(program)
                    .iter()
                    .map(|r| r.to_string())
                    .collect();
                let topics = g
                    .routes
                    .iter()
                    .map(|r| format!("{}/{}", r.topic, r.partitions))
                    .collect();
                (rules, topics)
            })
            .collect()
    }

    fn names(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    const RULES: &str = "
rule by_user by auth.user_id = payments.owner pattern a: auth -> b: payments within 1m emit e1 { user_id }
rule by_ip from auth by ip window 1m emit e2 { ip, n: count() }
rule filter from payments where amount > 10.0 emit e3 { owner }
rule chained from e1 emit e4 { user_id }
";

    #[test]
    fn co_partitioned_topics_run_in_place_and_other_keys_are_re_keyed() {
        let p = program(&format!("{STREAMS}{RULES}"));
        let keyed = topology(3, &[("auth", "user_id"), ("payments", "owner")]);
        let layout = JobLayout::plan(&p, &keyed);
        assert_eq!(
            summary(&layout, &p),
            [
                (names(&["by_user", "filter", "chained"]), vec![]),
                (names(&["by_ip"]), names(&["g-repartition-auth-ip/3"])),
            ]
        );
        // The same rules on randomly keyed topics: both keys re-keyed.
        let layout = JobLayout::plan(&p, &topology(4, &[]));
        assert_eq!(
            summary(&layout, &p),
            [
                (names(&["filter"]), vec![]),
                (
                    names(&["by_user", "chained"]),
                    names(&[
                        "g-repartition-auth-user_id/4",
                        "g-repartition-payments-owner/4"
                    ])
                ),
                (names(&["by_ip"]), names(&["g-repartition-auth-ip/4"])),
            ]
        );
        let shape = layout.shape(&p, 2);
        assert_eq!(shape.inputs, names(&["auth"]));
        assert_eq!(shape.rules, [false, true, false, false]);
    }

    #[test]
    fn one_partition_topics_run_everything_in_place() {
        let p = program(&format!(
            "{STREAMS}{RULES}rule s from auth emit o {{ ip }} suppress 1s\n\
             rule w from e1 by user_id window 1m emit e5 {{ user_id, n: count() }}"
        ));
        let layout = JobLayout::plan(&p, &topology(1, &[]));
        assert_eq!(layout.groups.len(), 1);
        assert!(layout.groups[0].rules.iter().all(|on| *on));
    }

    #[test]
    fn state_without_a_key_or_over_derived_events_runs_on_one_partition_with_its_producers() {
        let p = program(&format!(
            "{STREAMS}{RULES}rule s from auth emit o {{ ip }} suppress 1s\n\
             rule w from e1 by user_id window 1m emit e5 {{ user_id, n: count() }}\n\
             rule after from e5 emit e6 {{ user_id }}"
        ));
        let layout = JobLayout::plan(&p, &topology(2, &[("auth", "user_id")]));
        assert_eq!(
            summary(&layout, &p),
            [
                (names(&["filter"]), vec![]),
                (
                    names(&["by_user", "chained", "s", "w", "after"]),
                    names(&["g-repartition-auth/1", "g-repartition-payments/1"])
                ),
                (names(&["by_ip"]), names(&["g-repartition-auth-ip/2"])),
            ]
        );
        assert!(layout.route_of("g-repartition-auth-ip").is_some());
        assert!(!layout.same_topics(&JobLayout::plan(&p, &topology(3, &[]))));
    }
}
