//! Routing governance: a rule's derived events go only to sinks cleared
//! for its classification (`classification` in the rule, `accepts` in the
//! sink's table). A sink that does not say accepts public and internal
//! events; restricted ones only go where a sink says so.

use std::collections::BTreeSet;

use dsl::plan::{Classification, Program};

use super::{Config, ConfigError, ANY_EVENT};

/// What a sink accepts when its table has no `accepts`.
pub const DEFAULT_ACCEPTS: [Classification; 2] = [Classification::Public, Classification::Internal];

impl Config {
    /// The classifications sink entry `sink` (a `[sinks.NAME]` name, or
    /// none: the stdout every event goes to without any sink) accepts.
    pub fn accepts(&self, sink: Option<&str>) -> BTreeSet<Classification> {
        sink.and_then(|name| self.sink_accepts.get(name))
            .cloned()
            .unwrap_or_else(|| DEFAULT_ACCEPTS.into_iter().collect())
    }

    /// The `[sinks]` entry that events named `event` go to: their own, or
    /// `*`; `None` when there is no sink at all (they go to stdout) or no
    /// entry for them (they go nowhere).
    fn sink_entry(&self, event: &str) -> Option<&str> {
        [event, ANY_EVENT]
            .into_iter()
            .find_map(|name| self.sinks.get_key_value(name).map(|(key, _)| key.as_str()))
    }

    /// Refuses the first rule (in rule order) whose derived events would go
    /// to a sink not cleared for its classification, naming the rule, the
    /// sink and the fix.
    pub fn check_routing(&self, program: &Program) -> Result<(), ConfigError> {
        for rule in &program.rules {
            let class = rule.governance.classification;
            let event = &rule.emit.name;
            let entry = self.sink_entry(event);
            if entry.is_none() && !self.sinks.is_empty() {
                continue; // sent nowhere
            }
            let accepted = self.accepts(entry);
            if accepted.contains(&class) {
                continue;
            }
            let accepted: Vec<&str> = accepted.iter().map(|c| c.name()).collect();
            let (key, sink, fix) = match entry {
                Some(sink) => (
                    format!("sinks.{sink}.accepts"),
                    format!("sink `{sink}`"),
                    format!(
                        "add \"{class}\" to `accepts` under [sinks.{}] if it is cleared for them, \
                         or give `{event}` a sink of its own that is ([sinks.{event}] with \
                         accepts = [\"{class}\"])",
                        quoted(sink)
                    ),
                ),
                None => (
                    "sinks".to_string(),
                    "stdout (the config has no [sinks])".to_string(),
                    format!(
                        "give `{event}` a sink that is cleared for them ([sinks.{event}] with \
                         accepts = [\"{class}\"])"
                    ),
                ),
            };
            return Err(ConfigError::Invalid {
                origin: self.locations.origin.clone(),
                location: entry.and_then(|s| self.locations.sinks.get(s).copied()),
                key,
                message: format!(
                    "rule `{}` emits {class} events (`{event}`), and they would go to {sink}, \
                     which accepts only {}; {fix}",
                    rule.name,
                    accepted.join(" and ")
                ),
            });
        }
        Ok(())
    }
}

/// A sink name as a TOML key: `*` needs quotes.
fn quoted(sink: &str) -> String {
    if sink == ANY_EVENT {
        format!("\"{sink}\"")
    } else {
        sink.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(classification: &str) -> Program {
        let sources = [dsl::Source {
            name: "r.eddy".into(),
            text: format!(
                "stream auth ( ts timestamp, user_id string ) time ts\n\
                 rule watch owner \"fraud-ops\" {classification} from auth emit seen {{ user_id }}\n"
            ),
        }];
        dsl::compile(&sources).0.expect("rules compile")
    }

    fn config(text: &str) -> Config {
        Config::parse(text, "eddy.toml").expect("config parses")
    }

    #[test]
    fn restricted_events_go_only_to_sinks_that_accept_them() {
        let restricted = program("classification restricted");
        assert_eq!(
            restricted.rules[0].governance,
            dsl::plan::Governance {
                owner: Some("fraud-ops".into()),
                classification: Classification::Restricted
            }
        );
        let refusal = config("[sinks.\"*\"]\ntype = \"stdout\"\n")
            .check_routing(&restricted)
            .unwrap_err()
            .to_string();
        assert!(
            refusal.contains("rule `watch` emits restricted events (`seen`)")
                && refusal.contains("sink `*`")
                && refusal.contains("accepts only public and internal")
                && refusal.contains("[sinks.seen] with accepts = [\"restricted\"]"),
            "{refusal}"
        );
        let refusal = Config::default()
            .check_routing(&restricted)
            .unwrap_err()
            .to_string();
        assert!(
            refusal.contains("stdout (the config has no [sinks])"),
            "{refusal}"
        );
        let cleared = config("[sinks.seen]\ntype = \"stdout\"\naccepts = [\"restricted\"]\n");
        assert!(cleared.check_routing(&restricted).is_ok());
        // Sent nowhere: nothing to refuse.
        let elsewhere = config("[sinks.other]\ntype = \"stdout\"\n");
        assert!(elsewhere.check_routing(&restricted).is_ok());
    }

    #[test]
    fn a_sink_may_refuse_what_others_take_by_default() {
        let internal = program("");
        assert!(Config::default().check_routing(&internal).is_ok());
        let public_only = config("[sinks.seen]\ntype = \"stdout\"\naccepts = [\"public\"]\n");
        let refusal = public_only
            .check_routing(&internal)
            .unwrap_err()
            .to_string();
        assert!(refusal.contains("emits internal events"), "{refusal}");
        assert!(public_only
            .check_routing(&program("classification public"))
            .is_ok());
    }
}
