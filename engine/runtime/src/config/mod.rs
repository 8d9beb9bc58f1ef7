//! `eddy.toml`: where eddy reads its streams from, where derived events and
//! rejected input go, and how it talks to Kafka. `examples/eddy.toml` is the
//! commented reference; every key has the default written here.
//!
//! ```toml
//! rules = ["rules/security.eddy"]     # default: none (given on the command line)
//! idle_partition_timeout = "30s"      # a quiet partition stops holding time back
//! max_message_bytes = 1048576         # larger input messages are dead-lettered
//! channel_capacity = 64               # decoded batches in flight, source to pipeline
//! max_chunk_bytes = 16777216          # bytes of input per decoded batch, at most
//! log_format = "text"                 # or "json"
//!
//! [metrics]
//! listen = "127.0.0.1:9464"           # default: no HTTP endpoint; token: EDDY_API_TOKEN
//!
//! [limits]                            # state bounds, per rule and partition
//! max_candidates_per_key = 1000       # past it, a key's oldest candidate goes
//! max_candidates_per_rule = 5000000   # past it, no new candidate starts
//! max_windows_per_rule = 5000000      # past it, no new window opens
//!
//! [kafka]
//! brokers = "127.0.0.1:9092"
//! group_id = "eddy"
//! batch_size = 1024                   # messages per source batch, at most
//! batch_wait = "100ms"                # how long a batch waits to fill
//! repartition_replication = -1        # internal topics' replication factor
//! [kafka.client]                      # passed to librdkafka unchanged
//! "security.protocol" = "SASL_SSL"
//!
//! [checkpoint]
//! dir = "eddy-checkpoints"            # or "s3://bucket/prefix" (see [`location`])
//! interval = "10s"
//! s3_endpoint = "http://127.0.0.1:9000"  # default: AWS_ENDPOINT_URL, else AWS itself
//! s3_region = "eu-west-1"             # default: AWS_REGION (credentials: AWS_* only)
//!
//! [streams.auth]                      # one per input stream of the rules
//! type = "kafka"                      # or "file" (with `path`)
//! topic = "auth"                      # default: the stream name
//! format = "json"
//! key_field = "user_id"               # optional
//! timestamp = "field"                 # or "kafka": the message timestamp
//!
//! [sinks."*"]                         # a derived-event name, or "*" for the rest
//! type = "kafka"                      # or "stdout", or "file" (with `path`)
//! topic = "eddy-alerts"
//! mode = "binary"                     # or "structured"
//!
//! [dead_letter]                       # default: none (rejections are counted only)
//! type = "kafka"                      # or "file" (with `path`)
//! topic = "eddy-dead-letter"
//! ```
//!
//! Relative paths are relative to the directory eddy runs in.
//!
//! Environment variables override the file; see [`env`] for the names.

pub mod duration;
pub mod env;
pub mod error;
pub mod governance;
pub mod location;
mod raw;

pub use raw::dotted_key;

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dsl::plan::Classification;
use serde::Deserialize;

pub use error::{ConfigError, Location};
pub use location::CheckpointLocation;

/// The origin named in errors for config text that comes from no file.
pub const NO_FILE: &str = "<config>";

pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";
pub const DEFAULT_GROUP_ID: &str = "eddy";
pub const DEFAULT_BATCH_SIZE: usize = 1024;
pub const DEFAULT_BATCH_WAIT: Duration = Duration::from_millis(100);
pub const DEFAULT_CHECKPOINT_DIR: &str = "eddy-checkpoints";
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_IDLE_PARTITION_TIMEOUT: Duration = Duration::from_secs(30);
/// 1 MiB, librdkafka's own default for `message.max.bytes`.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1 << 20;
pub const DEFAULT_CHANNEL_CAPACITY: usize = 64;
/// The sink key that binds every derived event without a sink of its own.
pub const ANY_EVENT: &str = "*";

/// librdkafka properties eddy sets itself; `[kafka.client]` may not set them,
/// because at-least-once delivery depends on their values.
pub const RESERVED_CLIENT_KEYS: [&str; 4] = [
    "bootstrap.servers",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
];

/// The whole `eddy.toml`, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Rule files, in addition to those given on the command line.
    pub rules: Vec<PathBuf>,
    pub kafka: KafkaConfig,
    pub checkpoint: CheckpointConfig,
    /// Input stream name (as declared in the rules) to where it is read from.
    pub streams: BTreeMap<String, StreamSource>,
    /// Derived-event name, or [`ANY_EVENT`], to where it goes. Without any
    /// entry every derived event goes to stdout.
    pub sinks: BTreeMap<String, SinkTarget>,
    /// Per `[sinks]` entry that says: the classifications of derived
    /// events it accepts (see [`governance`]; others accept the default).
    pub sink_accepts: BTreeMap<String, BTreeSet<Classification>>,
    /// Where rejected input goes; `None` counts and logs rejections only.
    pub dead_letter: Option<DeadLetterTarget>,
    /// A partition with no message for this long no longer holds its
    /// stream's watermark back (default 30 s).
    pub idle_partition_timeout: Duration,
    /// Input messages larger than this are dead-lettered as `oversize`
    /// (default 1 MiB).
    pub max_message_bytes: NonZeroUsize,
    /// Decoded batches in flight between a source and the pipeline
    /// (default 64): a slow pipeline or sink slows consumption instead of
    /// growing memory.
    pub channel_capacity: NonZeroUsize,
    /// Bytes of input lines or messages in one decoded batch, at most
    /// (default 16 MiB; a batch always takes one): with `channel_capacity`
    /// it bounds the memory in flight whatever the width of the lines.
    pub max_chunk_bytes: NonZeroUsize,
    /// The HTTP endpoint for metrics, health and reload.
    pub metrics: MetricsConfig,
    pub limits: LimitsConfig,
    /// How log lines on stderr look (default text).
    pub log_format: LogFormat,
    /// Where each stream and sink entry is in the file, for later errors
    /// (e.g. a stream the rules do not declare).
    pub locations: KeyLocations,
}

/// `[limits]`: bounds on operator state, so memory stays bounded whatever
/// the input; `eddy_limit_hits_total` counts when they bite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Open pattern candidates per key and rule; past it the key's oldest
    /// candidate is dropped (default 1000).
    pub max_candidates_per_key: NonZeroUsize,
    /// Open pattern candidates per rule and partition; past it no new
    /// candidate starts (default 5,000,000).
    pub max_candidates_per_rule: NonZeroUsize,
    /// Open windows per rule and partition; past it an event opens no new
    /// window (default 5,000,000).
    pub max_windows_per_rule: NonZeroUsize,
}

pub const DEFAULT_MAX_CANDIDATES_PER_KEY: usize = 1000;
pub const DEFAULT_MAX_CANDIDATES_PER_RULE: usize = 5_000_000;
pub const DEFAULT_MAX_WINDOWS_PER_RULE: usize = 5_000_000;

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_candidates_per_key: nonzero(DEFAULT_MAX_CANDIDATES_PER_KEY),
            max_candidates_per_rule: nonzero(DEFAULT_MAX_CANDIDATES_PER_RULE),
            max_windows_per_rule: nonzero(DEFAULT_MAX_WINDOWS_PER_RULE),
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` of `/metrics`, `/healthz`, `/readyz` and `POST /reload`,
    /// e.g. `127.0.0.1:9464` (default: no endpoint). Port 0 picks a free
    /// port, named in the log.
    pub listen: Option<String>,
}

/// Log lines on stderr: human-readable text or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[kafka]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: comma-separated `host:port` (default `127.0.0.1:9092`).
    pub brokers: String,
    /// The consumer group (default `eddy`). Instances with the same group
    /// split the partitions between them.
    pub group_id: String,
    /// Most messages in one source batch (default 1024).
    pub batch_size: NonZeroUsize,
    /// How long a source batch waits to fill before it is handed on
    /// (default 100 ms).
    #[serde(deserialize_with = "duration::deserialize")]
    pub batch_wait: Duration,
    /// librdkafka properties passed through unchanged (security.protocol,
    /// sasl.*, ssl.*, …), for the consumer and the producers alike.
    #[serde(deserialize_with = "raw::client_properties")]
    pub client: BTreeMap<String, String>,
    /// The replication factor of the internal repartition topics eddy
    /// creates (default -1: the broker's `default.replication.factor`).
    pub repartition_replication: i32,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: DEFAULT_BROKERS.into(),
            group_id: DEFAULT_GROUP_ID.into(),
            batch_size: nonzero(DEFAULT_BATCH_SIZE),
            batch_wait: DEFAULT_BATCH_WAIT,
            client: BTreeMap::new(),
            repartition_replication: -1,
        }
    }
}

/// `[checkpoint]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Where checkpoints are written: a local directory (default
    /// `eddy-checkpoints`) or an `s3://` bucket prefix.
    pub dir: CheckpointLocation,
    /// Time between checkpoints (default 10 s); offsets are committed at
    /// each one, so this bounds how much input is replayed after a crash.
    #[serde(deserialize_with = "duration::deserialize")]
    pub interval: Duration,
    /// The S3 endpoint, for a store other than AWS (MinIO, Ceph, moto).
    /// Credentials are never read from the file: the usual `AWS_*`
    /// environment variables give them.
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            dir: CheckpointLocation::Local(PathBuf::from(DEFAULT_CHECKPOINT_DIR)),
            interval: DEFAULT_CHECKPOINT_INTERVAL,
            s3_endpoint: None,
            s3_region: None,
        }
    }
}

/// Where one input stream is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamSource {
    Kafka(KafkaStream),
    File(FileStream),
    /// Events POSTed to eddy (the HTTP source).
    Http(HttpStream),
    /// A RabbitMQ queue.
    Amqp(AmqpStream),
}

impl StreamSource {
    /// The kind, as `type = "..."` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            StreamSource::Kafka(_) => "kafka",
            StreamSource::File(_) => "file",
            StreamSource::Http(_) => "http",
            StreamSource::Amqp(_) => "amqp",
        }
    }

    /// Whether a job reads it as part of the event mesh (HTTP, AMQP): one
    /// task, not partitioned like Kafka topics.
    pub fn is_mesh(&self) -> bool {
        matches!(self, StreamSource::Http(_) | StreamSource::Amqp(_))
    }
}

/// `type = "http"`: a listener that producers POST events to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpStream {
    /// Where to listen (default `127.0.0.1:8080`); streams may share a
    /// listener at different paths.
    pub listen: String,
    /// The URL path of this stream's events (default `/`).
    pub path: String,
    /// The directory of the stream's write-ahead log (default
    /// `eddy-wal/<stream>`).
    pub wal: PathBuf,
    /// The environment variable holding the bearer token POSTs need; open
    /// without.
    pub token_env: Option<String>,
    /// Bodies over this size are refused (`413`).
    pub max_request_bytes: usize,
    /// Events in the log not yet read by the job at most; past it POSTs
    /// are answered `429` (the job is behind).
    pub max_backlog: u64,
}

impl HttpStream {
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:8080";
    pub const DEFAULT_MAX_REQUEST_BYTES: usize = 10 << 20;
    pub const DEFAULT_MAX_BACKLOG: u64 = 100_000;
}

/// `type = "amqp"`: a RabbitMQ queue (AMQP 0-9-1), read with manual
/// acknowledgements sent after the checkpoint that covers each message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpStream {
    /// `amqp://user:password@host:port/vhost`.
    pub url: String,
    pub queue: String,
    /// Messages delivered and not yet acknowledged at most.
    pub prefetch: u16,
}

impl AmqpStream {
    pub const DEFAULT_PREFETCH: u16 = 10_000;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaStream {
    pub topic: String,
    pub format: Format,
    /// An event field that holds the same value as the Kafka message key
    /// (the producer's partitioning key); `None` when the key is unrelated.
    pub key_field: Option<String>,
    pub timestamp: TimestampSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStream {
    pub path: PathBuf,
    pub format: Format,
}

/// The encoding of input messages (JSON only, for now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Json,
}

/// Where an event's time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampSource {
    /// The event-time field the rules declare for the stream (default).
    #[default]
    Field,
    /// The Kafka message timestamp (CreateTime or LogAppendTime).
    Kafka,
}

/// Where derived events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkTarget {
    Kafka {
        topic: String,
        mode: CloudEventMode,
    },
    Stdout,
    File {
        path: PathBuf,
    },
    /// A webhook: CloudEvents POSTed over HTTP.
    Http(WebhookTarget),
    /// An AMQP exchange (RabbitMQ), with publisher confirms.
    Amqp(AmqpTarget),
}

/// `type = "amqp"`: where derived events are published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpTarget {
    pub url: String,
    /// `""`: the default exchange (the routing key names a queue).
    pub exchange: String,
    /// With `{type}` and `{subject}` replaced by the event's (default
    /// `{type}`).
    pub routing_key: String,
    /// The CloudEvents AMQP binding's mode.
    pub mode: CloudEventMode,
}

impl AmqpTarget {
    pub const DEFAULT_ROUTING_KEY: &'static str = "{type}";
}

/// `type = "http"`: where and how derived events are POSTed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    pub url: String,
    pub mode: WebhookMode,
    /// Bound on one attempt (default 10 s).
    pub timeout: Duration,
    /// Attempts per request at most, retries included (default 8).
    pub max_attempts: u32,
    /// Requests under way at most (default 8).
    pub concurrency: usize,
    /// Events per request at most in batch mode (default 100).
    pub max_batch: usize,
    /// The environment variable holding the Standard Webhooks signing
    /// secret (`whsec_...`); never the secret itself in the file.
    pub secret_env: Option<String>,
}

impl WebhookTarget {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
    pub const DEFAULT_CONCURRENCY: usize = 8;
    pub const DEFAULT_MAX_BATCH: usize = 100;
}

/// How a webhook request carries derived events (the CloudEvents HTTP
/// protocol binding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookMode {
    /// One event per request, attributes in `ce-*` headers (default).
    #[default]
    Binary,
    /// One event per request, the whole CloudEvent as the body.
    Structured,
    /// Several events per request, a JSON array of CloudEvents.
    Batch,
}

/// How a derived event is laid out in a Kafka message (the CloudEvents
/// Kafka protocol binding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloudEventMode {
    /// Attributes in `ce_*` headers, the data as the value (default).
    #[default]
    Binary,
    /// The whole CloudEvent JSON as the value.
    Structured,
}

/// Where rejected input goes, unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterTarget {
    Kafka { topic: String },
    File { path: PathBuf },
}

/// Where the `[streams.NAME]` and `[sinks.NAME]` tables are in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyLocations {
    pub origin: String,
    pub streams: BTreeMap<String, Location>,
    pub sinks: BTreeMap<String, Location>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rules: Vec::new(),
            kafka: KafkaConfig::default(),
            checkpoint: CheckpointConfig::default(),
            streams: BTreeMap::new(),
            sinks: BTreeMap::new(),
            sink_accepts: BTreeMap::new(),
            dead_letter: None,
            idle_partition_timeout: DEFAULT_IDLE_PARTITION_TIMEOUT,
            max_message_bytes: nonzero(DEFAULT_MAX_MESSAGE_BYTES),
            channel_capacity: nonzero(DEFAULT_CHANNEL_CAPACITY),
            max_chunk_bytes: nonzero(crate::source::DEFAULT_MAX_CHUNK_BYTES),
            metrics: MetricsConfig::default(),
            limits: LimitsConfig::default(),
            log_format: LogFormat::default(),
            locations: KeyLocations {
                origin: NO_FILE.into(),
                ..KeyLocations::default()
            },
        }
    }
}

impl Config {
    /// Reads `path` and applies the process environment's overrides.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())?.with_env(std::env::vars())
    }

    /// The config in `text`, without environment overrides; `origin` names
    /// the text in errors (a file name, or [`NO_FILE`]).
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        raw::parse(text, origin)
    }

    /// Applies the `EDDY_*` overrides among `vars` (see [`env`]).
    pub fn with_env<I>(mut self, vars: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        env::apply(&mut self, vars)?;
        self.validate()?;
        Ok(self)
    }

    /// The sink for derived events named `event`: its own entry, else `*`,
    /// else stdout when `[sinks]` is empty; `None` means the event is not output.
    pub fn sink_for(&self, event: &str) -> Option<&SinkTarget> {
        const STDOUT: &SinkTarget = &SinkTarget::Stdout;
        if self.sinks.is_empty() {
            return Some(STDOUT);
        }
        self.sinks.get(event).or_else(|| self.sinks.get(ANY_EVENT))
    }

    /// [`Config::check_names`] against `program`'s declared streams and
    /// emitted events, then [`Config::check_routing`].
    pub fn check_against(&self, program: &dsl::plan::Program) -> Result<(), ConfigError> {
        let declared: Vec<&str> = program
            .catalog
            .streams
            .iter()
            .filter(|s| s.derived_from.is_none())
            .map(|s| s.name.as_str())
            .collect();
        let emitted: Vec<&str> = program.rules.iter().map(|r| r.emit.name.as_str()).collect();
        self.check_names(&declared, &emitted)?;
        self.check_routing(program)
    }

    /// Checks the stream and sink names against the rules: every
    /// `[streams.NAME]` must be a stream the rules declare, and every
    /// `[sinks.NAME]` (but `*`) an event name they emit.
    pub fn check_names(
        &self,
        declared_streams: &[&str],
        emitted_events: &[&str],
    ) -> Result<(), ConfigError> {
        let unknown = |table: &str, name: &str, known: &[&str], what: &str| {
            let locations = if table == "streams" {
                &self.locations.streams
            } else {
                &self.locations.sinks
            };
            let mut message = format!("the rules {what} no `{name}`");
            if let Some(near) = known.iter().find(|k| strsim::levenshtein(k, name) <= 2) {
                message.push_str(&format!("; did you mean `{near}`?"));
            } else if !known.is_empty() {
                message.push_str(&format!("; they {what} {}", known.join(", ")));
            }
            ConfigError::Invalid {
                origin: self.locations.origin.clone(),
                location: locations.get(name).copied(),
                key: format!("{table}.{name}"),
                message,
            }
        };
        if let Some(name) = self
            .streams
            .keys()
            .find(|n| !declared_streams.contains(&n.as_str()))
        {
            return Err(unknown("streams", name, declared_streams, "declare"));
        }
        if let Some(name) = self
            .sinks
            .keys()
            .find(|n| n.as_str() != ANY_EVENT && !emitted_events.contains(&n.as_str()))
        {
            return Err(unknown("sinks", name, emitted_events, "emit"));
        }
        Ok(())
    }

    /// Checks what the file and the environment could both have set.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            origin: self.locations.origin.clone(),
            location: None,
            key: key.into(),
            message,
        };
        if self.kafka.brokers.trim().is_empty() {
            return Err(invalid("kafka.brokers", "must not be empty".into()));
        }
        if self.kafka.group_id.trim().is_empty() {
            return Err(invalid("kafka.group_id", "must not be empty".into()));
        }
        if let Some(reserved) = self
            .kafka
            .client
            .keys()
            .find(|key| RESERVED_CLIENT_KEYS.contains(&key.as_str()))
        {
            let hint = match reserved.as_str() {
                "bootstrap.servers" => "set `kafka.brokers` instead",
                "group.id" => "set `kafka.group_id` instead",
                _ => "eddy commits offsets itself, after a checkpoint",
            };
            return Err(invalid(
                &format!("kafka.client.\"{reserved}\""),
                format!("eddy sets this property itself: {hint}"),
            ));
        }
        Ok(())
    }
}

fn nonzero(value: usize) -> NonZeroUsize {
    NonZeroUsize::new(value).unwrap_or(NonZeroUsize::MIN)
}
