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
    duration, CheckpointConfig, CloudEventMode, Config, DeadLetterTarget, FileStream, Format,
    KafkaConfig, KafkaStream, KeyLocations, LimitsConfig, LogFormat, MetricsConfig, SinkTarget,
    StreamSource, TimestampSource, WebhookMode, WebhookTarget, DEFAULT_CHANNEL_CAPACITY,
    DEFAULT_IDLE_PARTITION_TIMEOUT, DEFAULT_MAX_MESSAGE_BYTES,
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
}

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
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SinkKind {
    Kafka,
    Stdout,
    File,
    Http,
}

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
    /// Classifications of derived events it is cleared for.
    accepts: Option<Vec<String>>,
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
    match raw.kind {
        SourceKind::Kafka => {
            if raw.path.is_some() {
                return Err(errors.at(
                    Some(start),
                    &key("path"),
                    "a kafka stream reads a topic, not a path (set `type = \"file\"` to read a file)",
                ));
            }
            Ok(StreamSource::Kafka(KafkaStream {
                topic: non_empty(errors, start, &key("topic"), raw.topic)?
                    .unwrap_or_else(|| name.to_string()),
                format: raw.format,
                key_field: non_empty(errors, start, &key("key_field"), raw.key_field)?,
                timestamp: raw.timestamp.unwrap_or_default(),
            }))
        }
        SourceKind::File => {
            for (field, set) in [
                ("topic", raw.topic.is_some()),
                ("key_field", raw.key_field.is_some()),
                ("timestamp", raw.timestamp.is_some()),
            ] {
                if set {
                    return Err(errors.at(
                        Some(start),
                        &key(field),
                        "only a kafka stream has this setting",
                    ));
                }
            }
            let path = raw.path.ok_or_else(|| {
                errors.at(Some(start), &key("path"), "a file stream needs a `path`")
            })?;
            Ok(StreamSource::File(FileStream {
                path,
                format: raw.format,
            }))
        }
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
    let only = |field: &str, kind: &str| {
        errors.at(
            Some(start),
            &key(field),
            format!("only {kind} sink has this setting"),
        )
    };
    let http_only = [
        ("url", raw.url.is_some()),
        ("timeout", raw.timeout.is_some()),
        ("max_attempts", raw.max_attempts.is_some()),
        ("concurrency", raw.concurrency.is_some()),
        ("max_batch", raw.max_batch.is_some()),
        ("secret_env", raw.secret_env.is_some()),
    ];
    let forbid = |fields: &[(&str, bool)], kind: &str| -> Result<(), ConfigError> {
        match fields.iter().find(|(_, set)| *set) {
            Some((field, _)) => Err(only(field, kind)),
            None => Ok(()),
        }
    };

    match raw.kind {
        SinkKind::Kafka => {
            forbid(&[("path", raw.path.is_some())], "a file")?;
            forbid(&http_only, "an http")?;
            let topic = non_empty(errors, start, &key("topic"), raw.topic)?.ok_or_else(|| {
                errors.at(Some(start), &key("topic"), "a kafka sink needs a `topic`")
            })?;
            let mode = match raw.mode {
                None | Some(RawSinkMode::Binary) => CloudEventMode::Binary,
                Some(RawSinkMode::Structured) => CloudEventMode::Structured,
                Some(RawSinkMode::Batch) => {
                    return Err(errors.at(
                        Some(start),
                        &key("mode"),
                        "`batch` is for http sinks; a kafka sink is `binary` or `structured`",
                    ))
                }
            };
            Ok(SinkTarget::Kafka { topic, mode })
        }
        SinkKind::Stdout => {
            forbid(
                &[("topic", raw.topic.is_some()), ("mode", raw.mode.is_some())],
                "a kafka or http",
            )?;
            forbid(&[("path", raw.path.is_some())], "a file")?;
            forbid(&http_only, "an http")?;
            Ok(SinkTarget::Stdout)
        }
        SinkKind::File => {
            forbid(
                &[("topic", raw.topic.is_some()), ("mode", raw.mode.is_some())],
                "a kafka or http",
            )?;
            forbid(&http_only, "an http")?;
            let path = raw.path.ok_or_else(|| {
                errors.at(Some(start), &key("path"), "a file sink needs a `path`")
            })?;
            Ok(SinkTarget::File { path })
        }
        SinkKind::Http => {
            forbid(&[("topic", raw.topic.is_some())], "a kafka")?;
            forbid(&[("path", raw.path.is_some())], "a file")?;
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
