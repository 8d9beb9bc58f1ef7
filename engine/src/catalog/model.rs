//! What a catalog describes, taken from the checked program and the config:
//! the input streams the rules read, where each comes from, and every
//! derived event with its fields, the rules that emit it and its sink.

use dsl::plan::{Classification, Field, Program, RuleKind};

use crate::config::{Config, SinkTarget, StreamSource, TimestampSource};

/// The streams and derived events of one rule set, sorted by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub inputs: Vec<InputStream>,
    pub events: Vec<DerivedEvent>,
}

/// A declared stream that at least one rule reads.
#[derive(Debug, Clone, PartialEq)]
pub struct InputStream {
    pub name: String,
    pub fields: Vec<Field>,
    pub time_field: String,
    pub lateness_ms: i64,
    /// How far ahead of the wall clock an event may be (`ahead`).
    pub ahead_ms: i64,
    /// Where it is read from: the config's `[streams.NAME]`, else the Kafka
    /// topic of the stream's name (what `eddy run --config` does).
    pub source: StreamSource,
}

impl InputStream {
    /// Whether the event's time is the Kafka message timestamp rather than
    /// a field the producer writes.
    pub fn time_from_kafka(&self) -> bool {
        matches!(&self.source, StreamSource::Kafka(k) if k.timestamp == TimestampSource::Kafka)
    }

    /// The event field the producer keys Kafka messages by, if declared.
    pub fn key_field(&self) -> Option<&str> {
        match &self.source {
            StreamSource::Kafka(k) => k.key_field.as_deref(),
            StreamSource::File(_) | StreamSource::Http(_) | StreamSource::Amqp(_) => None,
        }
    }
}

/// The events of one `emit` name (several rules may emit the same name,
/// always with the same fields).
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedEvent {
    pub name: String,
    /// The emitted fields in emit order, typed as the derived stream is.
    pub fields: Vec<Field>,
    /// Sorted by rule name.
    pub producers: Vec<Producer>,
    /// `None`: the config's `[sinks]` send it nowhere (other rules may
    /// still read it).
    pub sink: Option<SinkTarget>,
}

impl DerivedEvent {
    /// The CloudEvents `type`.
    pub fn cloudevent_type(&self) -> String {
        format!("eddy.{}", self.name)
    }

    /// Some rule that emits it has a key, so events may carry a `subject`.
    pub fn any_keyed(&self) -> bool {
        self.producers.iter().any(|p| p.keyed)
    }

    pub fn all_keyed(&self) -> bool {
        self.producers.iter().all(|p| p.keyed)
    }

    pub fn any_windowed(&self) -> bool {
        self.producers.iter().any(|p| p.windowed)
    }

    pub fn all_windowed(&self) -> bool {
        self.producers.iter().all(|p| p.windowed)
    }

    /// The distinct severities of its rules, sorted.
    pub fn severities(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .producers
            .iter()
            .filter_map(|p| p.severity.as_deref())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    pub fn all_have_severity(&self) -> bool {
        self.producers.iter().all(|p| p.severity.is_some())
    }
}

/// A rule that emits a derived event, as far as its envelope shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Producer {
    pub rule: String,
    pub severity: Option<String>,
    /// `owner "team"`.
    pub owner: Option<String>,
    pub classification: Classification,
    /// `by ...`: the event's `subject` is the key.
    pub keyed: bool,
    /// A window rule: the data carries `window`.
    pub windowed: bool,
}

impl Producer {
    /// The CloudEvents `source` of its events.
    pub fn cloudevent_source(&self) -> String {
        format!("eddy/rules/{}", self.rule)
    }
}

impl Catalog {
    /// The catalog of `program` deployed as `config` says (a default
    /// config: Kafka topics named after the streams, derived events to stdout).
    pub fn of(program: &Program, config: &Config) -> Catalog {
        Catalog {
            inputs: inputs(program, config),
            events: events(program, config),
        }
    }
}

fn inputs(program: &Program, config: &Config) -> Vec<InputStream> {
    let mut inputs: Vec<InputStream> = program
        .catalog
        .streams
        .iter()
        .filter(|s| s.derived_from.is_none())
        .filter(|s| {
            program
                .rules
                .iter()
                .any(|r| r.inputs().contains(&s.name.as_str()))
        })
        .map(|s| InputStream {
            name: s.name.clone(),
            fields: s.fields.clone(),
            time_field: s.time_field.clone(),
            lateness_ms: s.lateness,
            ahead_ms: s.ahead,
            source: config
                .streams
                .get(&s.name)
                .cloned()
                .unwrap_or_else(|| default_source(&s.name)),
        })
        .collect();
    inputs.sort_by(|a, b| a.name.cmp(&b.name));
    inputs
}

/// A stream without a `[streams.NAME]` table: the topic of its name.
fn default_source(stream: &str) -> StreamSource {
    StreamSource::Kafka(crate::config::KafkaStream {
        topic: stream.to_string(),
        format: crate::config::Format::default(),
        key_field: None,
        timestamp: TimestampSource::default(),
    })
}

fn events(program: &Program, config: &Config) -> Vec<DerivedEvent> {
    let mut events: Vec<DerivedEvent> = Vec::new();
    for rule in &program.rules {
        let producer = Producer {
            rule: rule.name.clone(),
            severity: rule.severity.clone(),
            owner: rule.governance.owner.clone(),
            classification: rule.governance.classification,
            keyed: rule.key().is_some(),
            windowed: matches!(rule.kind, RuleKind::Window(_)),
        };
        let name = &rule.emit.name;
        if let Some(event) = events.iter_mut().find(|e| &e.name == name) {
            event.producers.push(producer);
            continue;
        }
        events.push(DerivedEvent {
            name: name.clone(),
            fields: emitted_fields(program, rule),
            producers: vec![producer],
            sink: config.sink_for(name).cloned(),
        });
    }
    for event in &mut events {
        event.producers.sort_by(|a, b| a.rule.cmp(&b.rule));
    }
    events.sort_by(|a, b| a.name.cmp(&b.name));
    events
}

/// The emitted fields with the types (and nullability) of the derived
/// stream the checker made for them; from the emit's expressions should
/// that stream be missing.
fn emitted_fields(program: &Program, rule: &dsl::plan::RulePlan) -> Vec<Field> {
    let derived = program
        .catalog
        .stream(&rule.emit.name)
        .filter(|s| s.derived_from.is_some());
    rule.emit
        .fields
        .iter()
        .map(|emitted| {
            derived
                .and_then(|s| s.fields.iter().find(|f| f.name == emitted.name))
                .cloned()
                .unwrap_or_else(|| Field {
                    name: emitted.name.clone(),
                    ty: emitted.expr.ty.clone(),
                    nullable: true,
                })
        })
        .collect()
}
