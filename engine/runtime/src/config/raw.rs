//! The file as serde reads it, and its checks into the typed [`Config`]:
//! stream, sink and dead-letter tables are read as flat tables with a
//! `type` key and checked here, so every error names its key and line.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use dsl::plan::Classification;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, Location};
use super::{
    duration, AmqpStream, AmqpTarget, CheckpointConfig, CloudEventMode, Config, DeadLetterTarget,
    FileStream, Format, HttpStream, KafkaConfig, KafkaStream, KeyLocations, LimitsConfig,
    LogFormat, MetricsConfig, SinkTarget, StreamSource, TimestampSource, WebhookMode,
    WebhookTarget, DEFAULT_CHANNEL_CAPACITY, DEFAULT_IDLE_PARTITION_TIMEOUT,
    DEFAULT_MAX_MESSAGE_BYTES,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    rules: Vec<PathBuf>,
    #[serde(default)]
    kafka: KafkaConfig,
    #[serde(default)]
    checkpoint: CheckpointConfig,
    #[serde(default)]
    streams: BTreeMap<String, Spanned<RawStream>>,
    #[serde(default)]
    sinks: BTreeMap<String, Spanned<RawSink>>,
    #[serde(default)]
    dead_letter: Option<Spanned<RawDeadLetter>>,
    #[serde(default = "default_idle", deserialize_with = "duration::deserialize")]
    idle_partition_timeout: Duration,
    #[serde(default = "default_max_message_bytes")]
    max_message_bytes: NonZeroUsize,
    #[serde(default = "default_channel_capacity")]
    channel_capacity: NonZeroUsize,
    #[serde(default = "default_max_chunk_bytes")]
    max_chunk_bytes: NonZeroUsize,
    #[serde(default)]
    metrics: MetricsConfig,
    #[serde(default)]
    limits: LimitsConfig,
    #[serde(default)]
    log_format: LogFormat,
}

fn default_idle() -> Duration {
    DEFAULT_IDLE_PARTITION_TIMEOUT
}

fn default_max_message_bytes() -> NonZeroUsize {
    super::nonzero(DEFAULT_MAX_MESSAGE_BYTES)
}

fn default_channel_capacity() -> NonZeroUsize {
    super::nonzero(DEFAULT_CHANNEL_CAPACITY)
}

fn default_max_chunk_bytes() -> NonZeroUsize {
    super::nonzero(crate::source::DEFAULT_MAX_CHUNK_BYTES)
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SourceKind {
    #[default]
    Kafka,
    File,
    Http,
    Amqp,
}

impl SourceKind {
    fn name(self) -> &'static str {
        match self {
            SourceKind::Kafka => "kafka",
            SourceKind::File => "file",
            SourceKind::Http => "http",
            SourceKind::Amqp => "amqp",
        }
    }
}

/// Which kinds of stream have each setting (`format` and `type`: all).
const STREAM_SETTINGS: &[(&str, &[&str])] = &[
    ("topic", &["kafka"]),
    ("key_field", &["kafka"]),
    ("timestamp", &["kafka"]),
    ("path", &["file", "http"]),
    ("listen", &["http"]),
    ("wal", &["http"]),
    ("token_env", &["http"]),
    ("max_request_bytes", &["http"]),
    ("max_backlog", &["http"]),
    ("url", &["amqp"]),
    ("queue", &["amqp"]),
    ("prefetch", &["amqp"]),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStream {
    #[serde(rename = "type", default)]
    kind: SourceKind,
    topic: Option<String>,
    path: Option<PathBuf>,
    #[serde(default)]
    format: Format,
    key_field: Option<String>,
    timestamp: Option<TimestampSource>,
    listen: Option<String>,
    wal: Option<PathBuf>,
    token_env: Option<String>,
    max_request_bytes: Option<NonZeroUsize>,
    max_backlog: Option<NonZeroUsize>,
    url: Option<String>,
    queue: Option<String>,
    prefetch: Option<std::num::NonZeroU16>,
}

impl RawStream {
    /// Which settings the table sets.
    fn set(&self) -> [(&'static str, bool); 12] {
        [
            ("topic", self.topic.is_some()),
            ("key_field", self.key_field.is_some()),
            ("timestamp", self.timestamp.is_some()),
            ("path", self.path.is_some()),
            ("listen", self.listen.is_some()),
            ("wal", self.wal.is_some()),
            ("token_env", self.token_env.is_some()),
            ("max_request_bytes", self.max_request_bytes.is_some()),
            ("max_backlog", self.max_backlog.is_some()),
            ("url", self.url.is_some()),
            ("queue", self.queue.is_some()),
            ("prefetch", self.prefetch.is_some()),
        ]
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SinkKind {
    Kafka,
    Stdout,
    File,
    Http,
    Amqp,
}

impl SinkKind {
    fn name(self) -> &'static str {
        match self {
            SinkKind::Kafka => "kafka",
            SinkKind::Stdout => "stdout",
            SinkKind::File => "file",
            SinkKind::Http => "http",
            SinkKind::Amqp => "amqp",
        }
    }
}

/// Which kinds of sink have each setting (`type` and `accepts`: all).
const SINK_SETTINGS: &[(&str, &[&str])] = &[
    ("topic", &["kafka"]),
    ("mode", &["kafka", "http", "amqp"]),
    ("path", &["file"]),
    ("url", &["http", "amqp"]),
    ("timeout", &["http"]),
    ("max_attempts", &["http"]),
    ("concurrency", &["http"]),
    ("max_batch", &["http"]),
    ("secret_env", &["http"]),
    ("exchange", &["amqp"]),
    ("routing_key", &["amqp"]),
];

/// `binary` or `structured` (kafka, http), `batch` (http only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawSinkMode {
    Binary,
    Structured,
    Batch,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    #[serde(rename = "type")]
    kind: SinkKind,
    topic: Option<String>,
    mode: Option<RawSinkMode>,
    path: Option<PathBuf>,
    url: Option<String>,
    /// A duration, as `timeout = "5s"`.
    timeout: Option<String>,
    max_attempts: Option<u32>,
    concurrency: Option<NonZeroUsize>,
    max_batch: Option<NonZeroUsize>,
    secret_env: Option<String>,
    exchange: Option<String>,
    routing_key: Option<String>,
    /// Classifications of derived events it is cleared for.
    accepts: Option<Vec<String>>,
}

impl RawSink {
    /// Which settings the table sets.
    fn set(&self) -> [(&'static str, bool); 11] {
        [
            ("topic", self.topic.is_some()),
            ("mode", self.mode.is_some()),
            ("path", self.path.is_some()),
            ("url", self.url.is_some()),
            ("timeout", self.timeout.is_some()),
            ("max_attempts", self.max_attempts.is_some()),
            ("concurrency", self.concurrency.is_some()),
            ("max_batch", self.max_batch.is_some()),
            ("secret_env", self.secret_env.is_some()),
            ("exchange", self.exchange.is_some()),
            ("routing_key", self.routing_key.is_some()),
        ]
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DeadLetterKind {
    Kafka,
    File,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeadLetter {
    #[serde(rename = "type")]
    kind: DeadLetterKind,
    topic: Option<String>,
    path: Option<PathBuf>,
}

/// Builds errors located in one text.
struct Errors<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Errors<'_> {
    fn at(&self, offset: Option<usize>, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin.to_string(),
            location: offset.map(|offset| Location::of_offset(self.text, offset)),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// Refuses the first setting in `set` that a `kind` table (of a
    /// `what`: stream, sink) does not have, naming the kinds that have it.
    fn only_settings_of(
        &self,
        start: usize,
        table: &str,
        kind: &str,
        what: &str,
        set: &[(&str, bool)],
        settings: &[(&str, &[&str])],
    ) -> Result<(), ConfigError> {
        for (field, _) in set.iter().filter(|(_, set)| *set) {
            let Some((_, kinds)) = settings.iter().find(|(name, _)| name == field) else {
                continue;
            };
            if !kinds.contains(&kind) {
                let article = if kinds[0].starts_with(['a', 'e', 'i', 'o', 'u', 'h']) {
                    "an"
                } else {
                    "a"
                };
                let named = match kinds {
                    [one] => one.to_string(),
                    [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
                    [] => String::new(),
                };
                return Err(self.at(
                    Some(start),
                    &format!("{table}.{field}"),
                    format!("only {article} {named} {what} has this setting"),
                ));
            }
        }
        Ok(())
    }

    fn location(&self, offset: usize) -> Location {
        Location::of_offset(self.text, offset)
    }
}

pub(super) fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let errors = Errors { text, origin };
    let document = toml::Deserializer::parse(text)
        .map_err(|e| errors.at(e.span().map(|s| s.start), "", e.message().trim()))?;
    let raw: RawConfig = serde_path_to_error::deserialize(document).map_err(|e| {
        let key = dotted_key(e.path());
        let inner = e.into_inner();
        errors.at(inner.span().map(|s| s.start), &key, inner.message().trim())
    })?;

    let mut locations = KeyLocations {
        origin: origin.to_string(),
        ..KeyLocations::default()
    };
    let mut streams = BTreeMap::new();
    for (name, spanned) in raw.streams {
        let start = spanned.span().start;
        locations
            .streams
            .insert(name.clone(), errors.location(start));
        let source = stream_source(&errors, &name, start, spanned.into_inner())?;
        streams.insert(name, source);
    }
    let mut sinks = BTreeMap::new();
    let mut sink_accepts = BTreeMap::new();
    for (name, spanned) in raw.sinks {
        let start = spanned.span().start;
        locations.sinks.insert(name.clone(), errors.location(start));
        let mut raw_sink = spanned.into_inner();
        if let Some(accepts) = raw_sink.accepts.take() {
            sink_accepts.insert(
                name.clone(),
                classifications(&errors, &name, start, &accepts)?,
            );
        }
        let target = sink_target(&errors, &name, start, raw_sink)?;
        sinks.insert(name, target);
    }
    let dead_letter = raw
        .dead_letter
        .map(|spanned| {
            let start = spanned.span().start;
            dead_letter_target(&errors, start, spanned.into_inner())
        })
        .transpose()?;

    let config = Config {
        rules: raw.rules,
        kafka: raw.kafka,
        checkpoint: raw.checkpoint,
        streams,
        sinks,
        sink_accepts,
        dead_letter,
        idle_partition_timeout: raw.idle_partition_timeout,
        max_message_bytes: raw.max_message_bytes,
        channel_capacity: raw.channel_capacity,
        max_chunk_bytes: raw.max_chunk_bytes,
        metrics: raw.metrics,
        limits: raw.limits,
        log_format: raw.log_format,
        locations,
    };
    config.validate()?;
    Ok(config)
}

/// The path serde took to an error, as a dotted key, without the private
/// fields of `toml::Spanned`.
pub fn dotted_key(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut parts = Vec::new();
    for segment in path.iter() {
        match segment {
            Segment::Map { key } if key.starts_with("$__serde_spanned_private") => {}
            Segment::Map { key } => parts.push(key.clone()),
            Segment::Seq { index } => parts.push(index.to_string()),
            Segment::Enum { variant } => parts.push(variant.clone()),
            Segment::Unknown => {}
        }
    }
    parts.join(".")
}

fn stream_source(
    errors: &Errors<'_>,
    name: &str,
    start: usize,
    raw: RawStream,
) -> Result<StreamSource, ConfigError> {
    let key = |field: &str| format!("streams.{name}.{field}");
    errors.only_settings_of(
        start,
        &format!("streams.{name}"),
        raw.kind.name(),
        "stream",
        &raw.set(),
        STREAM_SETTINGS,
    )?;
    match raw.kind {
        SourceKind::Kafka => Ok(StreamSource::Kafka(KafkaStream {
            topic: non_empty(errors, start, &key("topic"), raw.topic)?
                .unwrap_or_else(|| name.to_string()),
            format: raw.format,
            key_field: non_empty(errors, start, &key("key_field"), raw.key_field)?,
            timestamp: raw.timestamp.unwrap_or_default(),
        })),
        SourceKind::File => {
            let path = raw.path.ok_or_else(|| {
                errors.at(Some(start), &key("path"), "a file stream needs a `path`")
            })?;
            Ok(StreamSource::File(FileStream {
                path,
                format: raw.format,
            }))
        }
        SourceKind::Http => {
            let path = match raw.path {
                None => "/".to_string(),
                Some(path) => path
                    .to_str()
                    .filter(|p| p.starts_with('/') && !p.contains(['?', '#']))
                    .map(str::to_string)
                    .ok_or_else(|| {
                        errors.at(
                            Some(start),
                            &key("path"),
                            "an http stream's `path` is a URL path starting with `/`",
                        )
                    })?,
            };
            Ok(StreamSource::Http(HttpStream {
                listen: non_empty(errors, start, &key("listen"), raw.listen)?
                    .unwrap_or_else(|| HttpStream::DEFAULT_LISTEN.to_string()),
                path,
                wal: raw
                    .wal
                    .unwrap_or_else(|| PathBuf::from("eddy-wal").join(name)),
                token_env: non_empty(errors, start, &key("token_env"), raw.token_env)?,
                max_request_bytes: raw
                    .max_request_bytes
                    .map_or(HttpStream::DEFAULT_MAX_REQUEST_BYTES, NonZeroUsize::get),
                max_backlog: raw
                    .max_backlog
                    .map_or(HttpStream::DEFAULT_MAX_BACKLOG, |n| n.get() as u64),
            }))
        }
        SourceKind::Amqp => {
            let needed = |field: &str, value: Option<String>| {
                non_empty(errors, start, &key(field), value)?.ok_or_else(|| {
                    errors.at(
                        Some(start),
                        &key(field),
                        format!("an amqp stream needs a `{field}`"),
                    )
                })
            };
            Ok(StreamSource::Amqp(AmqpStream {
                url: amqp_url(errors, start, &key("url"), needed("url", raw.url)?)?,
                queue: needed("queue", raw.queue)?,
                prefetch: raw
                    .prefetch
                    .map_or(AmqpStream::DEFAULT_PREFETCH, |n| n.get()),
            }))
        }
    }
}

/// An AMQP URL: `amqp://` (TLS, `amqps://`, is not built in).
fn amqp_url(
    errors: &Errors<'_>,
    start: usize,
    key: &str,
    url: String,
) -> Result<String, ConfigError> {
    if url.starts_with("amqp://") {
        Ok(url)
    } else {
        Err(errors.at(
            Some(start),
            key,
            "an amqp `url` starts with amqp:// (amqp://user:password@host:5672/vhost)",
        ))
    }
}

/// A sink's `accepts`: known classifications only.
fn classifications(
    errors: &Errors<'_>,
    name: &str,
    start: usize,
    accepts: &[String],
) -> Result<BTreeSet<Classification>, ConfigError> {
    accepts
        .iter()
        .map(|c| {
            Classification::parse(c).ok_or_else(|| {
                errors.at(
                    Some(start),
                    &format!("sinks.{name}.accepts"),
                    format!(
                        "unknown classification `{c}`; classifications are public, internal \
                         and restricted"
                    ),
                )
            })
        })
        .collect()
}

fn sink_target(
    errors: &Errors<'_>,
    name: &str,
    start: usize,
    raw: RawSink,
) -> Result<SinkTarget, ConfigError> {
    let key = |field: &str| format!("sinks.{name}.{field}");
    errors.only_settings_of(
        start,
        &format!("sinks.{name}"),
        raw.kind.name(),
        "sink",
        &raw.set(),
        SINK_SETTINGS,
    )?;
    match raw.kind {
        SinkKind::Kafka => {
            let topic = non_empty(errors, start, &key("topic"), raw.topic)?.ok_or_else(|| {
                errors.at(Some(start), &key("topic"), "a kafka sink needs a `topic`")
            })?;
            Ok(SinkTarget::Kafka {
                topic,
                mode: binary_or_structured(errors, start, &key("mode"), raw.mode, "a kafka")?,
            })
        }
        SinkKind::Stdout => Ok(SinkTarget::Stdout),
        SinkKind::File => {
            let path = raw.path.ok_or_else(|| {
                errors.at(Some(start), &key("path"), "a file sink needs a `path`")
            })?;
            Ok(SinkTarget::File { path })
        }
        SinkKind::Amqp => {
            let url = non_empty(errors, start, &key("url"), raw.url)?
                .ok_or_else(|| errors.at(Some(start), &key("url"), "an amqp sink needs a `url`"))?;
            let routing_key = raw
                .routing_key
                .unwrap_or_else(|| AmqpTarget::DEFAULT_ROUTING_KEY.to_string());
            Ok(SinkTarget::Amqp(AmqpTarget {
                url: amqp_url(errors, start, &key("url"), url)?,
                exchange: raw.exchange.unwrap_or_default(),
                routing_key,
                mode: binary_or_structured(errors, start, &key("mode"), raw.mode, "an amqp")?,
            }))
        }
        SinkKind::Http => {
            let url = non_empty(errors, start, &key("url"), raw.url.clone())?
                .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
                .ok_or_else(|| {
                    errors.at(
                        Some(start),
                        &key("url"),
                        "an http sink needs a `url` starting with http:// or https://",
                    )
                })?;
            let timeout = match &raw.timeout {
                None => WebhookTarget::DEFAULT_TIMEOUT,
                Some(text) => duration::parse_duration(text).ok_or_else(|| {
                    errors.at(
                        Some(start),
                        &key("timeout"),
                        format!("`{text}` is not a duration like \"10s\" or \"500ms\""),
                    )
                })?,
            };
            Ok(SinkTarget::Http(WebhookTarget {
                url,
                mode: match raw.mode {
                    None | Some(RawSinkMode::Binary) => WebhookMode::Binary,
                    Some(RawSinkMode::Structured) => WebhookMode::Structured,
                    Some(RawSinkMode::Batch) => WebhookMode::Batch,
                },
                timeout,
                max_attempts: raw
                    .max_attempts
                    .unwrap_or(WebhookTarget::DEFAULT_MAX_ATTEMPTS)
                    .max(1),
                concurrency: raw
                    .concurrency
                    .map_or(WebhookTarget::DEFAULT_CONCURRENCY, NonZeroUsize::get),
                max_batch: raw
                    .max_batch
                    .map_or(WebhookTarget::DEFAULT_MAX_BATCH, NonZeroUsize::get),
                secret_env: non_empty(errors, start, &key("secret_env"), raw.secret_env)?,
            }))
        }
    }
}

/// A CloudEvents mode of a sink that has no `batch` (`kind`: "a kafka").
fn binary_or_structured(
    errors: &Errors<'_>,
    start: usize,
    key: &str,
    mode: Option<RawSinkMode>,
    kind: &str,
) -> Result<CloudEventMode, ConfigError> {
    match mode {
        None | Some(RawSinkMode::Binary) => Ok(CloudEventMode::Binary),
        Some(RawSinkMode::Structured) => Ok(CloudEventMode::Structured),
        Some(RawSinkMode::Batch) => Err(errors.at(
            Some(start),
            key,
            format!("`batch` is for http sinks; {kind} sink is `binary` or `structured`"),
        )),
    }
}

fn dead_letter_target(
    errors: &Errors<'_>,
    start: usize,
    raw: RawDeadLetter,
) -> Result<DeadLetterTarget, ConfigError> {
    match raw.kind {
        DeadLetterKind::Kafka => {
            if raw.path.is_some() {
                return Err(errors.at(
                    Some(start),
                    "dead_letter.path",
                    "only a file dead-letter output has this setting",
                ));
            }
            let topic =
                non_empty(errors, start, "dead_letter.topic", raw.topic)?.ok_or_else(|| {
                    errors.at(
                        Some(start),
                        "dead_letter.topic",
                        "a kafka dead-letter output needs a `topic`",
                    )
                })?;
            Ok(DeadLetterTarget::Kafka { topic })
        }
        DeadLetterKind::File => {
            if raw.topic.is_some() {
                return Err(errors.at(
                    Some(start),
                    "dead_letter.topic",
                    "only a kafka dead-letter output has this setting",
                ));
            }
            let path = raw.path.ok_or_else(|| {
                errors.at(
                    Some(start),
                    "dead_letter.path",
                    "a file dead-letter output needs a `path`",
                )
            })?;
            Ok(DeadLetterTarget::File { path })
        }
    }
}

/// An optional string that, when given, must not be blank.
fn non_empty(
    errors: &Errors<'_>,
    start: usize,
    key: &str,
    value: Option<String>,
) -> Result<Option<String>, ConfigError> {
    match value {
        Some(text) if text.trim().is_empty() => {
            Err(errors.at(Some(start), key, "must not be empty"))
        }
        other => Ok(other),
    }
}

/// `[kafka.client]`: librdkafka takes every property as a string, so TOML
/// strings, integers, floats and booleans are all accepted and written as
/// text. Unquoted dotted keys (`security.protocol = "SSL"`) are nested tables
/// in TOML; they are flattened back into their dotted names.
pub(super) fn client_properties<'de, D>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_map(PropertiesVisitor)
}

struct PropertiesVisitor;

impl<'de> Visitor<'de> for PropertiesVisitor {
    type Value = BTreeMap<String, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of librdkafka properties")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut properties = BTreeMap::new();
        while let Some((key, value)) = map.next_entry::<String, PropertyValue>()? {
            match value {
                PropertyValue::Text(text) => {
                    properties.insert(key, text);
                }
                PropertyValue::Nested(nested) => {
                    for (suffix, text) in nested {
                        properties.insert(format!("{key}.{suffix}"), text);
                    }
                }
            }
        }
        Ok(properties)
    }
}

enum PropertyValue {
    Text(String),
    Nested(BTreeMap<String, String>),
}

impl<'de> Deserialize<'de> for PropertyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PropertyValueVisitor)
    }
}

struct PropertyValueVisitor;

impl<'de> Visitor<'de> for PropertyValueVisitor {
    type Value = PropertyValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a number or a boolean")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<PropertyValue, E> {
        Ok(PropertyValue::Text(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<PropertyValue, E> {
        Ok(PropertyValue::Text(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<PropertyValue, E> {
        Ok(PropertyValue::Text(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<PropertyValue, E> {
        Ok(PropertyValue::Text(v.to_string()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<PropertyValue, E> {
        Ok(PropertyValue::Text(v.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PropertyValue, A::Error> {
        PropertiesVisitor.visit_map(map).map(PropertyValue::Nested)
    }
}
