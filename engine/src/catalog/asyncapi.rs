//! The catalog as an AsyncAPI 3.0 document.
//!
//! - `channels`: one per place events pass through: the Kafka topic (or
//!   file) of each input stream and the sink of each derived event, with the
//!   messages seen there.
//! - `operations`: `receive_STREAM` for each input stream and `send_EVENT`
//!   for each derived event that has a sink.
//! - `components.messages`: `STREAM` for input events; `eddy.EVENT` (the
//!   CloudEvents `type`) for derived events.
//! - `components.schemas`: `STREAM` (an input event), `eddy.EVENT` (the
//!   whole CloudEvent), `eddy.EVENT.data` (its `data`), `eddy.EVENT.headers`
//!   (the `ce_*` headers, for Kafka sinks in binary mode), and the shared
//!   `eddy.evidence` and `eddy.window`.
//!
//! Every map is sorted by key, so the same rules and config always give the
//! same document.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Value};

use super::cloudevent::{
    data_schema, envelope_schema, evidence_schema, headers_schema, window_schema, EVIDENCE_SCHEMA,
    JSON, WINDOW_SCHEMA,
};
use super::model::{Catalog, DerivedEvent, InputStream};
use super::schema::{self, Direction};
use crate::config::{CloudEventMode, SinkTarget, StreamSource, WebhookMode};

pub const ASYNCAPI_VERSION: &str = "3.0.0";
/// The version of the Kafka bindings used for message keys.
const KAFKA_BINDING_VERSION: &str = "0.5.0";
const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";
/// The versions of the AMQP and HTTP bindings.
const AMQP_BINDING_VERSION: &str = "0.3.0";
const HTTP_BINDING_VERSION: &str = "0.3.0";

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub asyncapi: &'static str,
    pub info: Info,
    pub default_content_type: &'static str,
    pub channels: BTreeMap<String, Channel>,
    pub operations: BTreeMap<String, Operation>,
    pub components: Components,
}

#[derive(Debug, Clone, Serialize)]
pub struct Info {
    pub title: String,
    pub version: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    pub address: String,
    pub description: String,
    pub messages: BTreeMap<String, Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bindings: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    pub action: Action,
    pub channel: Reference,
    pub summary: String,
    pub messages: Vec<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bindings: Option<Value>,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Send,
    Receive,
}

#[derive(Debug, Clone, Serialize)]
pub struct Components {
    pub messages: BTreeMap<String, Message>,
    pub schemas: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub name: String,
    pub title: String,
    pub summary: String,
    pub content_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Reference>,
    pub payload: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bindings: Option<Value>,
    /// Who answers for it (`owner:TEAM`) and how sensitive it is
    /// (`classification:NAME`), from its rules; none for input streams.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

/// An AsyncAPI tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Tag {
    pub name: String,
}

/// `$ref: '#/...'`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    #[serde(rename = "$ref")]
    pub target: String,
}

impl Reference {
    fn to(target: String) -> Self {
        Reference { target }
    }

    fn schema(name: &str) -> Self {
        Reference::to(format!("#/components/schemas/{name}"))
    }

    fn message(name: &str) -> Self {
        Reference::to(format!("#/components/messages/{name}"))
    }
}

/// What the document says about itself.
#[derive(Debug, Clone)]
pub struct Header {
    pub title: String,
    pub version: String,
}

/// Where events are read or written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    Kafka(String),
    File(String),
    Stdout,
    /// A webhook's URL.
    Http(String),
    /// The URL producers POST a stream's events to.
    Endpoint(String),
    /// A RabbitMQ queue.
    Queue(String),
    /// A RabbitMQ exchange and the routing key template of what is
    /// published to it.
    Exchange {
        exchange: String,
        routing_key: String,
    },
}

impl Place {
    fn of_source(source: &StreamSource) -> Place {
        match source {
            StreamSource::Kafka(k) => Place::Kafka(k.topic.clone()),
            StreamSource::File(f) => Place::File(f.path.display().to_string()),
            StreamSource::Http(h) => Place::Endpoint(format!("http://{}{}", h.listen, h.path)),
            StreamSource::Amqp(a) => Place::Queue(a.queue.clone()),
        }
    }

    fn of_sink(sink: &SinkTarget) -> Place {
        match sink {
            SinkTarget::Kafka { topic, .. } => Place::Kafka(topic.clone()),
            SinkTarget::File { path } => Place::File(path.display().to_string()),
            SinkTarget::Stdout => Place::Stdout,
            SinkTarget::Http(webhook) => Place::Http(webhook.url.clone()),
            SinkTarget::Amqp(amqp) => Place::Exchange {
                exchange: amqp.exchange.clone(),
                routing_key: amqp.routing_key.clone(),
            },
        }
    }

    fn address(&self) -> &str {
        match self {
            Place::Kafka(topic) => topic,
            Place::File(path) => path,
            Place::Stdout => "stdout",
            Place::Http(url) | Place::Endpoint(url) => url,
            Place::Queue(queue) => queue,
            Place::Exchange { routing_key, .. } => routing_key,
        }
    }

    fn describe(&self) -> String {
        match self {
            Place::Kafka(topic) => format!("Kafka topic `{topic}`"),
            Place::File(path) => format!("JSON-lines file `{path}`"),
            Place::Stdout => "eddy's standard output, as JSON lines".into(),
            Place::Http(url) => format!("webhook `{url}` (HTTP POST)"),
            Place::Endpoint(url) => format!(
                "HTTP endpoint `{url}` (POSTed CloudEvents: binary, structured or batched; or JSON)"
            ),
            Place::Queue(queue) => format!("RabbitMQ queue `{queue}` (AMQP 0-9-1)"),
            Place::Exchange {
                exchange,
                routing_key,
            } => {
                format!("RabbitMQ exchange `{exchange}` (AMQP 0-9-1), routing key `{routing_key}`")
            }
        }
    }

    /// The channel's AsyncAPI bindings (AMQP: queue or exchange).
    fn channel_bindings(&self) -> Option<Value> {
        let amqp = match self {
            Place::Queue(queue) => json!({
                "is": "queue",
                "queue": { "name": queue, "durable": true },
            }),
            Place::Exchange { exchange, .. } => json!({
                "is": "routingKey",
                "exchange": { "name": exchange },
            }),
            _ => return None,
        };
        Some(binding("amqp", amqp))
    }

    /// The AsyncAPI bindings of an operation on this place.
    fn operation_bindings(&self, action: Action) -> Option<Value> {
        match (self, action) {
            (Place::Endpoint(_), _) | (Place::Http(_), _) => {
                Some(binding("http", json!({ "method": "POST" })))
            }
            // Acknowledged once a checkpoint covers the message.
            (Place::Queue(_), _) => Some(binding("amqp", json!({ "ack": true }))),
            (Place::Exchange { .. }, _) => Some(binding(
                "amqp",
                json!({ "deliveryMode": 2, "mandatory": true }),
            )),
            _ => None,
        }
    }
}

/// Channel ids (AsyncAPI allows `[A-Za-z0-9_-]`) for every place, made
/// unique with a numeric suffix where two addresses clean up alike.
fn channel_ids(places: &BTreeSet<Place>) -> BTreeMap<Place, String> {
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut ids = BTreeMap::new();
    for place in places {
        let base: String = place
            .address()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut id = base.clone();
        let mut n = 2;
        while taken.contains(&id) {
            id = format!("{base}_{n}");
            n += 1;
        }
        taken.insert(id.clone());
        ids.insert(place.clone(), id);
    }
    ids
}

/// The document of `catalog`.
pub fn document(catalog: &Catalog, header: &Header) -> Document {
    let places: BTreeSet<Place> = catalog
        .inputs
        .iter()
        .map(|i| Place::of_source(&i.source))
        .chain(
            catalog
                .events
                .iter()
                .filter_map(|e| e.sink.as_ref().map(Place::of_sink)),
        )
        .collect();
    let ids = channel_ids(&places);
    let mut channels: BTreeMap<String, Channel> = ids
        .iter()
        .map(|(place, id)| {
            let channel = Channel {
                address: place.address().to_string(),
                description: place.describe(),
                messages: BTreeMap::new(),
                bindings: place.channel_bindings(),
            };
            (id.clone(), channel)
        })
        .collect();
    let mut operations = BTreeMap::new();
    let mut messages = BTreeMap::new();
    let mut schemas = BTreeMap::new();

    for input in &catalog.inputs {
        let place = Place::of_source(&input.source);
        let channel_id = &ids[&place];
        add_to_channel(&mut channels, channel_id, &input.name, &input.name);
        operations.insert(
            format!("receive_{}", input.name),
            Operation {
                action: Action::Receive,
                channel: Reference::to(format!("#/channels/{channel_id}")),
                summary: format!(
                    "eddy reads stream `{}` from {}",
                    input.name,
                    place.describe()
                ),
                messages: vec![Reference::to(format!(
                    "#/channels/{channel_id}/messages/{}",
                    input.name
                ))],
                bindings: place.operation_bindings(Action::Receive),
            },
        );
        messages.insert(input.name.clone(), input_message(input));
        schemas.insert(input.name.clone(), schema::sorted(input_schema(input)));
    }

    for event in &catalog.events {
        let component = event.cloudevent_type();
        if let Some(sink) = &event.sink {
            let place = Place::of_sink(sink);
            let channel_id = &ids[&place];
            add_to_channel(&mut channels, channel_id, &event.name, &component);
            operations.insert(
                format!("send_{}", event.name),
                Operation {
                    action: Action::Send,
                    channel: Reference::to(format!("#/channels/{channel_id}")),
                    summary: format!(
                        "eddy sends derived event `{}` to {}",
                        event.name,
                        place.describe()
                    ),
                    messages: vec![Reference::to(format!(
                        "#/channels/{channel_id}/messages/{}",
                        event.name
                    ))],
                    bindings: place.operation_bindings(Action::Send),
                },
            );
        }
        messages.insert(component.clone(), event_message(event));
        schemas.insert(component.clone(), schema::sorted(envelope_schema(event)));
        schemas.insert(
            format!("{component}.data"),
            schema::sorted(data_schema(event)),
        );
        if is_binary_kafka(event) {
            schemas.insert(
                format!("{component}.headers"),
                schema::sorted(headers_schema(event)),
            );
        }
    }
    if !catalog.events.is_empty() {
        schemas.insert(EVIDENCE_SCHEMA.into(), schema::sorted(evidence_schema()));
    }
    if catalog.events.iter().any(DerivedEvent::any_windowed) {
        schemas.insert(WINDOW_SCHEMA.into(), schema::sorted(window_schema()));
    }

    Document {
        asyncapi: ASYNCAPI_VERSION,
        info: Info {
            title: header.title.clone(),
            version: header.version.clone(),
            description: "The streams eddy reads and the derived events its rules emit, as \
                          CloudEvents 1.0. Written by `eddy catalog`; check a change with \
                          `eddy catalog RULES... --check PREVIOUS.yaml`."
                .into(),
        },
        default_content_type: JSON,
        channels,
        operations,
        components: Components { messages, schemas },
    }
}

fn add_to_channel(
    channels: &mut BTreeMap<String, Channel>,
    channel_id: &str,
    message_id: &str,
    component: &str,
) {
    if let Some(channel) = channels.get_mut(channel_id) {
        channel
            .messages
            .insert(message_id.to_string(), Reference::message(component));
    }
}

fn input_message(input: &InputStream) -> Message {
    let time = if input.time_from_kafka() {
        "the Kafka message timestamp".to_string()
    } else {
        format!("field `{}`", input.time_field)
    };
    let bindings = input.key_field().map(|field| {
        kafka_key_binding(format!(
            "The producer keys messages by field `{field}`, so one key's events stay in \
             one partition"
        ))
    });
    Message {
        name: input.name.clone(),
        title: format!("Stream `{}`", input.name),
        summary: format!(
            "An event of stream `{}`, one JSON object per message; event time: {time}, \
             up to {} ms out of order and at most {} ms ahead of the consumer's clock \
             (later ones are refused). Fields not declared are ignored.",
            input.name, input.lateness_ms, input.ahead_ms
        ),
        content_type: JSON,
        headers: None,
        payload: Reference::schema(&input.name),
        bindings,
        tags: Vec::new(),
    }
}

/// The declared fields; the time field is required even if declared
/// nullable (an event without a time cannot be placed), unless eddy takes
/// the time from the Kafka message.
fn input_schema(input: &InputStream) -> Value {
    let mut schema = schema::record(&input.fields, Direction::Input);
    if !input.time_from_kafka() {
        let required = schema.as_object_mut().and_then(|o| {
            o.entry("required")
                .or_insert_with(|| json!([]))
                .as_array_mut()
        });
        if let Some(required) = required {
            let time = json!(input.time_field);
            if !required.contains(&time) {
                required.push(time);
                required.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    } else if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|name| name != input.time_field.as_str());
    }
    schema
}

fn is_binary_kafka(event: &DerivedEvent) -> bool {
    matches!(
        event.sink,
        Some(SinkTarget::Kafka {
            mode: CloudEventMode::Binary,
            ..
        })
    )
}

fn event_message(event: &DerivedEvent) -> Message {
    let component = event.cloudevent_type();
    let rules: Vec<String> = event
        .producers
        .iter()
        .map(|p| {
            let mut about = Vec::new();
            if let Some(severity) = &p.severity {
                about.push(format!("severity {severity}"));
            }
            if let Some(owner) = &p.owner {
                about.push(format!("owner {owner}"));
            }
            about.push(p.classification.to_string());
            format!("`{}` ({})", p.rule, about.join(", "))
        })
        .collect();
    let tags: std::collections::BTreeSet<Tag> = event
        .producers
        .iter()
        .flat_map(|p| {
            let owner = p.owner.as_ref().map(|o| format!("owner:{o}"));
            let class = Some(format!("classification:{}", p.classification));
            owner.into_iter().chain(class).map(|name| Tag { name })
        })
        .collect();
    let (layout, content_type, headers, payload) = match &event.sink {
        Some(SinkTarget::Kafka {
            mode: CloudEventMode::Binary,
            ..
        }) => (
            "Kafka binary mode: the attributes are `ce_*` headers and the value is the `data`",
            JSON,
            Some(Reference::schema(&format!("{component}.headers"))),
            Reference::schema(&format!("{component}.data")),
        ),
        Some(SinkTarget::Kafka {
            mode: CloudEventMode::Structured,
            ..
        }) => (
            "Kafka structured mode: the value is the whole CloudEvent",
            CLOUDEVENTS_JSON,
            None,
            Reference::schema(&component),
        ),
        Some(SinkTarget::Http(webhook)) => match webhook.mode {
            WebhookMode::Binary => (
                "HTTP binary mode: the attributes are `ce-*` headers and the body is the `data`",
                JSON,
                None,
                Reference::schema(&format!("{component}.data")),
            ),
            WebhookMode::Structured => (
                "HTTP structured mode: the body is the whole CloudEvent",
                CLOUDEVENTS_JSON,
                None,
                Reference::schema(&component),
            ),
            WebhookMode::Batch => (
                "HTTP batched mode: the body is a JSON array of CloudEvents",
                "application/cloudevents-batch+json",
                None,
                Reference::schema(&component),
            ),
        },
        Some(SinkTarget::Amqp(amqp)) => match amqp.mode {
            CloudEventMode::Binary => (
                "AMQP binary mode: the attributes are `cloudEvents:*` application properties and the body is the `data`",
                JSON,
                None,
                Reference::schema(&format!("{component}.data")),
            ),
            CloudEventMode::Structured => (
                "AMQP structured mode: the body is the whole CloudEvent",
                CLOUDEVENTS_JSON,
                None,
                Reference::schema(&component),
            ),
        },
        Some(SinkTarget::Stdout | SinkTarget::File { .. }) => (
            "one CloudEvent per line",
            CLOUDEVENTS_JSON,
            None,
            Reference::schema(&component),
        ),
        None => (
            "not sent anywhere: the config's [sinks] have no entry for it and no `*`",
            CLOUDEVENTS_JSON,
            None,
            Reference::schema(&component),
        ),
    };
    let bindings = match &event.sink {
        Some(SinkTarget::Kafka { .. }) if event.any_keyed() => Some(kafka_key_binding(
            "The event's subject: the rule's key".into(),
        )),
        _ => None,
    };
    Message {
        name: component.clone(),
        title: format!("Derived event `{}`", event.name),
        summary: format!("Emitted by rule {}; {layout}.", rules.join(", ")),
        content_type,
        headers,
        payload,
        bindings,
        tags: tags.into_iter().collect(),
    }
}

/// The AsyncAPI binding of `protocol` with its fields and version.
fn binding(protocol: &str, mut fields: Value) -> Value {
    let version = match protocol {
        "amqp" => AMQP_BINDING_VERSION,
        _ => HTTP_BINDING_VERSION,
    };
    if let Some(fields) = fields.as_object_mut() {
        fields.insert("bindingVersion".into(), json!(version));
    }
    schema::sorted(json!({ protocol: fields }))
}

fn kafka_key_binding(description: String) -> Value {
    schema::sorted(json!({
        "kafka": {
            "key": { "type": "string", "description": description },
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }))
}

/// The document as block YAML.
pub fn to_yaml(document: &Document) -> Result<String, serde_norway::Error> {
    serde_norway::to_string(document)
}

#[cfg(test)]
mod tests {
    use dsl::plan::{DataType, Field};

    use super::*;
    use crate::config::{Format, KafkaStream, TimestampSource};

    fn stream(name: &str, topic: &str, timestamp: TimestampSource) -> InputStream {
        InputStream {
            name: name.into(),
            fields: vec![
                Field {
                    name: "at".into(),
                    ty: DataType::Timestamp,
                    nullable: false,
                },
                Field {
                    name: "id".into(),
                    ty: DataType::String,
                    nullable: false,
                },
            ],
            time_field: "at".into(),
            lateness_ms: 0,
            ahead_ms: dsl::plan::DEFAULT_AHEAD,
            source: StreamSource::Kafka(KafkaStream {
                topic: topic.into(),
                format: Format::Json,
                key_field: None,
                timestamp,
            }),
        }
    }

    fn header() -> Header {
        Header {
            title: "t".into(),
            version: "1".into(),
        }
    }

    #[test]
    fn topics_that_clean_up_alike_get_distinct_channel_ids() {
        let catalog = Catalog {
            inputs: vec![
                stream("a", "orders.v1", TimestampSource::Field),
                stream("b", "orders_v1", TimestampSource::Field),
            ],
            events: Vec::new(),
        };
        let document = document(&catalog, &header());
        let ids: Vec<(&str, &str)> = document
            .channels
            .iter()
            .map(|(id, c)| (id.as_str(), c.address.as_str()))
            .collect();
        assert_eq!(
            ids,
            [("orders_v1", "orders.v1"), ("orders_v1_2", "orders_v1")]
        );
        assert_eq!(
            document.operations["receive_b"].channel.target,
            "#/channels/orders_v1_2"
        );
    }

    #[test]
    fn the_time_field_is_optional_when_kafka_stamps_the_time() {
        let required = |timestamp| {
            input_schema(&stream("a", "a", timestamp))["required"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(required(TimestampSource::Field), [json!("at"), json!("id")]);
        assert_eq!(required(TimestampSource::Kafka), [json!("id")]);
    }
}
