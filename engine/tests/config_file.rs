//! `eddy.toml`: defaults, every kind of setting, environment overrides, and
//! errors that name the line, the key and the problem.

use std::path::PathBuf;
use std::time::Duration;

use engine::config::{
    AmqpStream, AmqpTarget, CheckpointLocation, CloudEventMode, Config, ConfigError,
    DeadLetterTarget, Format, HttpStream, KafkaStream, SinkTarget, StreamSource, TimestampSource,
    WebhookMode, WebhookTarget, DEFAULT_MAX_MESSAGE_BYTES,
};

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "eddy.toml")
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The rendered error of `text`.
fn error(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn an_empty_file_gives_the_documented_defaults() {
    let config = parse("").unwrap();
    assert_eq!(config.kafka.brokers, "127.0.0.1:9092");
    assert_eq!(config.kafka.group_id, "eddy");
    assert_eq!(config.kafka.batch_size.get(), 1024);
    assert_eq!(config.kafka.batch_wait, Duration::from_millis(100));
    assert!(config.kafka.client.is_empty());
    assert_eq!(
        config.checkpoint.dir,
        CheckpointLocation::Local(PathBuf::from("eddy-checkpoints"))
    );
    assert_eq!(config.checkpoint.interval, Duration::from_secs(10));
    assert_eq!(config.idle_partition_timeout, Duration::from_secs(30));
    assert_eq!(config.max_message_bytes.get(), DEFAULT_MAX_MESSAGE_BYTES);
    assert_eq!(config.max_message_bytes.get(), 1024 * 1024);
    assert_eq!(config.channel_capacity.get(), 64);
    assert_eq!(config.max_chunk_bytes.get(), 16 << 20);
    assert!(config.rules.is_empty());
    assert!(config.streams.is_empty());
    assert_eq!(config.dead_letter, None);
    // No sinks: everything goes to stdout.
    assert_eq!(config.sink_for("anything"), Some(&SinkTarget::Stdout));
    let default = Config::default();
    assert_eq!(config.kafka, default.kafka);
    assert_eq!(config.checkpoint, default.checkpoint);
}

#[test]
fn the_example_config_parses() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/eddy.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let config = Config::parse(&text, path).unwrap();
    assert!(!config.streams.is_empty());
    assert!(config.sink_for("account_takeover").is_some());
}

#[test]
fn the_event_mesh_example_configs_parse() {
    for (name, kind) in [("http.toml", "http"), ("amqp.toml", "amqp")] {
        let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let config = Config::parse(&text, &path).unwrap();
        assert_eq!(config.streams.len(), 3, "{name}");
        assert!(config.streams.values().all(|s| s.kind() == kind), "{name}");
    }
}

#[test]
fn every_kind_of_stream_sink_and_dead_letter_is_read() {
    let config = parse(
        r#"
rules = ["rules/a.eddy", "rules/b.eddy"]
idle_partition_timeout = "5s"
max_message_bytes = 2048
channel_capacity = 8
max_chunk_bytes = 65536

[kafka]
brokers = "k1:9092,k2:9092"
group_id = "fraud"

[kafka.client]
"security.protocol" = "SASL_SSL"
sasl.mechanism = "PLAIN"
"socket.keepalive.enable" = true
"message.timeout.ms" = 30000

[checkpoint]
dir = "/var/lib/eddy"
interval = "1m"

[streams.auth]
topic = "auth-events"
key_field = "user_id"
timestamp = "kafka"

[streams.payments]

[streams.replay]
type = "file"
path = "data/replay.jsonl"

[sinks.account_takeover]
type = "kafka"
topic = "alerts"
mode = "structured"

[sinks."*"]
type = "file"
path = "out.jsonl"

[sinks.debug]
type = "stdout"

[dead_letter]
type = "kafka"
topic = "eddy-dlq"
"#,
    )
    .unwrap();
    assert_eq!(
        config.rules,
        vec![PathBuf::from("rules/a.eddy"), PathBuf::from("rules/b.eddy")]
    );
    assert_eq!(config.idle_partition_timeout, Duration::from_secs(5));
    assert_eq!(config.max_message_bytes.get(), 2048);
    assert_eq!(config.channel_capacity.get(), 8);
    assert_eq!(config.max_chunk_bytes.get(), 65536);
    assert_eq!(config.kafka.brokers, "k1:9092,k2:9092");
    assert_eq!(config.kafka.client["security.protocol"], "SASL_SSL");
    assert_eq!(config.kafka.client["sasl.mechanism"], "PLAIN");
    assert_eq!(config.kafka.client["socket.keepalive.enable"], "true");
    assert_eq!(config.kafka.client["message.timeout.ms"], "30000");
    assert_eq!(config.checkpoint.interval, Duration::from_secs(60));
    assert_eq!(
        config.streams["auth"],
        StreamSource::Kafka(KafkaStream {
            topic: "auth-events".into(),
            format: Format::Json,
            key_field: Some("user_id".into()),
            timestamp: TimestampSource::Kafka,
        })
    );
    // A bare stream table reads the topic named after the stream.
    assert_eq!(
        config.streams["payments"],
        StreamSource::Kafka(KafkaStream {
            topic: "payments".into(),
            format: Format::Json,
            key_field: None,
            timestamp: TimestampSource::Field,
        })
    );
    assert!(
        matches!(&config.streams["replay"], StreamSource::File(f) if f.path.as_os_str() == "data/replay.jsonl")
    );
    assert_eq!(
        config.sink_for("account_takeover"),
        Some(&SinkTarget::Kafka {
            topic: "alerts".into(),
            mode: CloudEventMode::Structured
        })
    );
    assert_eq!(config.sink_for("debug"), Some(&SinkTarget::Stdout));
    assert_eq!(
        config.sink_for("other"),
        Some(&SinkTarget::File {
            path: "out.jsonl".into()
        })
    );
    assert_eq!(
        config.dead_letter,
        Some(DeadLetterTarget::Kafka {
            topic: "eddy-dlq".into()
        })
    );
    assert_eq!(config.locations.streams["replay"].line, 29);
}

#[test]
fn a_kafka_sink_is_binary_unless_told_otherwise() {
    let config = parse("[sinks.x]\ntype = \"kafka\"\ntopic = \"t\"\n").unwrap();
    assert_eq!(
        config.sink_for("x"),
        Some(&SinkTarget::Kafka {
            topic: "t".into(),
            mode: CloudEventMode::Binary
        })
    );
    // With sinks configured, an event with no entry and no `*` goes nowhere.
    assert_eq!(config.sink_for("y"), None);
}

#[test]
fn environment_overrides_win_over_the_file() {
    let config = parse("[kafka]\nbrokers = \"file:9092\"\n[checkpoint]\ninterval = \"1m\"\n")
        .unwrap()
        .with_env(env(&[
            ("EDDY_KAFKA_BROKERS", "env:9092"),
            ("EDDY_KAFKA_GROUP_ID", "g2"),
            ("EDDY_CHECKPOINT_DIR", "/tmp/ck"),
            ("EDDY_CHECKPOINT_INTERVAL", "500ms"),
            ("EDDY_IDLE_PARTITION_TIMEOUT", "2m"),
            ("EDDY_MAX_MESSAGE_BYTES", "4096"),
            ("EDDY_CHANNEL_CAPACITY", "3"),
            ("EDDY_MAX_CHUNK_BYTES", "1000"),
            ("EDDY_KAFKA_CLIENT_SASL_PASSWORD", "secret"),
            ("EDDY_RULES", "a.eddy:b.eddy"),
            // Not eddy's, and not eddy config: ignored.
            ("HOME", "/root"),
            ("EDDY_UPDATE_GOLDEN", "1"),
        ]))
        .unwrap();
    assert_eq!(config.kafka.brokers, "env:9092");
    assert_eq!(config.kafka.group_id, "g2");
    assert_eq!(
        config.checkpoint.dir,
        CheckpointLocation::Local(PathBuf::from("/tmp/ck"))
    );
    assert_eq!(config.checkpoint.interval, Duration::from_millis(500));
    assert_eq!(config.idle_partition_timeout, Duration::from_secs(120));
    assert_eq!(config.max_message_bytes.get(), 4096);
    assert_eq!(config.channel_capacity.get(), 3);
    assert_eq!(config.max_chunk_bytes.get(), 1000);
    assert_eq!(config.kafka.client["sasl.password"], "secret");
    assert_eq!(
        config.rules,
        vec![PathBuf::from("a.eddy"), PathBuf::from("b.eddy")]
    );
}

#[test]
fn bad_environment_overrides_name_the_variable() {
    let bad = |pairs: &[(&str, &str)]| {
        Config::default()
            .with_env(env(pairs))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        bad(&[("EDDY_CHECKPOINT_INTERVAL", "soon")]),
        r#"EDDY_CHECKPOINT_INTERVAL: expected a duration like "500ms", "30s", "5m" or "1h", found "soon""#
    );
    assert_eq!(
        bad(&[("EDDY_CHANNEL_CAPACITY", "0")]),
        r#"EDDY_CHANNEL_CAPACITY: expected a positive integer, found "0""#
    );
    assert_eq!(
        bad(&[("EDDY_KAFKA_BROKER", "x")]),
        "EDDY_KAFKA_BROKER: unknown override; did you mean `EDDY_KAFKA_BROKERS`?"
    );
    assert!(bad(&[("EDDY_CHECKPOINT_EVERY", "1s")])
        .starts_with("EDDY_CHECKPOINT_EVERY: unknown override; the known ones are EDDY_RULES"));
    assert_eq!(
        bad(&[("EDDY_KAFKA_BROKERS", " ")]),
        "<config>: kafka.brokers: must not be empty"
    );
}

#[test]
fn a_misspelt_mode_names_line_key_and_choices() {
    let text = "[kafka]\nbrokers = \"b:9092\"\n\n[sinks.takeover]\ntype = \"kafka\"\ntopic = \"alerts\"\nmode = \"binery\"\n";
    assert_eq!(
        error(text),
        "eddy.toml:7:8: sinks.takeover.mode: unknown variant `binery`, expected one of `binary`, `structured`, `batch`"
    );
}

#[test]
fn unknown_keys_are_refused_with_the_known_ones() {
    let message = error("[kafka]\nbrokers = \"b\"\ngroup = \"g\"\n");
    assert!(
        message.starts_with("eddy.toml:3:1: kafka.group: unknown field `group`, expected one of"),
        "{message}"
    );
    let message = error("channel_capacty = 3\n");
    assert!(
        message.starts_with("eddy.toml:1:1: channel_capacty: unknown field `channel_capacty`"),
        "{message}"
    );
    let message = error("[streams.auth]\ntopic = \"a\"\npartitions = 3\n");
    assert!(
        message.contains("streams.auth.partitions: unknown field `partitions`"),
        "{message}"
    );
}

#[test]
fn wrong_types_and_values_name_the_key() {
    assert_eq!(
        error("channel_capacity = 0\n"),
        "eddy.toml:1:20: channel_capacity: invalid value: integer `0`, expected a nonzero usize"
    );
    assert_eq!(
        error("[checkpoint]\ninterval = \"10 seconds\"\n"),
        r#"eddy.toml:2:12: checkpoint.interval: expected a duration like "500ms", "30s", "5m" or "1h", found "10 seconds""#
    );
    assert_eq!(
        error("[kafka]\nbrokers = 9092\n"),
        "eddy.toml:2:11: kafka.brokers: invalid type: integer `9092`, expected a string"
    );
    assert_eq!(
        error("[streams.auth]\ntimestamp = \"wallclock\"\n"),
        "eddy.toml:2:13: streams.auth.timestamp: unknown variant `wallclock`, expected `field` or `kafka`"
    );
    let message = error("[kafka.client]\n\"ssl.ca.location\" = [\"a\"]\n");
    assert!(
        message.starts_with("eddy.toml:2:21: kafka.client.ssl.ca.location: invalid type: sequence"),
        "{message}"
    );
}

#[test]
fn incomplete_or_contradictory_tables_are_refused() {
    assert_eq!(
        error("[sinks.x]\ntype = \"kafka\"\n"),
        "eddy.toml:1:1: sinks.x.topic: a kafka sink needs a `topic`"
    );
    assert_eq!(
        error("[sinks.x]\ntype = \"file\"\n"),
        "eddy.toml:1:1: sinks.x.path: a file sink needs a `path`"
    );
    assert_eq!(
        error("[sinks.x]\ntype = \"stdout\"\nmode = \"binary\"\n"),
        "eddy.toml:1:1: sinks.x.mode: only a kafka, http or amqp sink has this setting"
    );
    let message = error("[sinks.x]\ntopic = \"t\"\n");
    assert!(
        message.contains("sinks.x.type: missing field `type`")
            || message.contains("sinks.x: missing field `type`"),
        "{message}"
    );
    assert_eq!(
        error("\n[streams.replay]\ntype = \"file\"\n"),
        "eddy.toml:2:1: streams.replay.path: a file stream needs a `path`"
    );
    assert_eq!(
        error("[streams.replay]\ntype = \"file\"\npath = \"a\"\ntopic = \"t\"\n"),
        "eddy.toml:1:1: streams.replay.topic: only a kafka stream has this setting"
    );
    assert_eq!(
        error("[streams.auth]\ntopic = \"\"\n"),
        "eddy.toml:1:1: streams.auth.topic: must not be empty"
    );
    assert_eq!(
        error("[dead_letter]\ntype = \"kafka\"\n"),
        "eddy.toml:1:1: dead_letter.topic: a kafka dead-letter output needs a `topic`"
    );
}

#[test]
fn properties_eddy_sets_itself_cannot_be_passed_through() {
    assert_eq!(
        error("[kafka.client]\n\"enable.auto.commit\" = true\n"),
        "eddy.toml: kafka.client.\"enable.auto.commit\": eddy sets this property itself: eddy commits offsets itself, after a checkpoint"
    );
    assert_eq!(
        error("[kafka.client]\n\"group.id\" = \"g\"\n"),
        "eddy.toml: kafka.client.\"group.id\": eddy sets this property itself: set `kafka.group_id` instead"
    );
}

#[test]
fn a_syntax_error_has_a_location() {
    let message = error("[kafka\nbrokers = 1\n");
    assert!(message.starts_with("eddy.toml:1:"), "{message}");
}

#[test]
fn a_missing_file_is_a_read_error() {
    let e = Config::load(std::path::Path::new("/nonexistent/eddy.toml")).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e
        .to_string()
        .starts_with("cannot read /nonexistent/eddy.toml: "));
}

#[test]
fn stream_and_sink_names_are_checked_against_the_rules() {
    let config = parse(
        "[streams.auth]\n\n[streams.paymnts]\n\n[sinks.\"*\"]\ntype = \"stdout\"\n\n[sinks.takeover]\ntype = \"stdout\"\n",
    )
    .unwrap();
    assert_eq!(
        config
            .check_names(&["auth", "payments"], &["takeover"])
            .unwrap_err()
            .to_string(),
        "eddy.toml:3:1: streams.paymnts: the rules declare no `paymnts`; did you mean `payments`?"
    );
    assert_eq!(
        config
            .check_names(&["auth", "paymnts"], &["large_payment"])
            .unwrap_err()
            .to_string(),
        "eddy.toml:8:1: sinks.takeover: the rules emit no `takeover`; they emit large_payment"
    );
    config
        .check_names(&["auth", "paymnts"], &["takeover"])
        .unwrap();
}

#[test]
fn a_webhook_sink_takes_its_url_mode_bounds_and_secret_variable() {
    let config = parse(
        "[sinks.takeover]\ntype = \"http\"\nurl = \"https://alerts.internal/hook\"\n\
         mode = \"batch\"\ntimeout = \"2s\"\nmax_attempts = 3\nconcurrency = 2\nmax_batch = 50\n\
         secret_env = \"EDDY_WEBHOOK_SECRET\"\naccepts = [\"restricted\"]\n\
         [sinks.other]\ntype = \"http\"\nurl = \"http://127.0.0.1:8080/\"\n",
    )
    .unwrap();
    assert_eq!(
        config.sinks["takeover"],
        SinkTarget::Http(WebhookTarget {
            url: "https://alerts.internal/hook".into(),
            mode: WebhookMode::Batch,
            timeout: Duration::from_secs(2),
            max_attempts: 3,
            concurrency: 2,
            max_batch: 50,
            secret_env: Some("EDDY_WEBHOOK_SECRET".into()),
        })
    );
    assert_eq!(
        config.sinks["other"],
        SinkTarget::Http(WebhookTarget {
            url: "http://127.0.0.1:8080/".into(),
            mode: WebhookMode::Binary,
            timeout: WebhookTarget::DEFAULT_TIMEOUT,
            max_attempts: WebhookTarget::DEFAULT_MAX_ATTEMPTS,
            concurrency: WebhookTarget::DEFAULT_CONCURRENCY,
            max_batch: WebhookTarget::DEFAULT_MAX_BATCH,
            secret_env: None,
        })
    );
    assert_eq!(
        error("[sinks.x]\ntype = \"http\"\nurl = \"ftp://x\"\n"),
        "eddy.toml:1:1: sinks.x.url: an http sink needs a `url` starting with http:// or https://"
    );
    assert_eq!(
        error("[sinks.x]\ntype = \"kafka\"\ntopic = \"t\"\nmode = \"batch\"\n"),
        "eddy.toml:1:1: sinks.x.mode: `batch` is for http sinks; a kafka sink is `binary` or `structured`"
    );
    assert_eq!(
        error("[sinks.x]\ntype = \"kafka\"\ntopic = \"t\"\nurl = \"http://x\"\n"),
        "eddy.toml:1:1: sinks.x.url: only an http or amqp sink has this setting"
    );
    assert_eq!(
        error("[sinks.x]\ntype = \"http\"\nurl = \"http://x\"\ntimeout = \"soon\"\n"),
        "eddy.toml:1:1: sinks.x.timeout: `soon` is not a duration like \"10s\" or \"500ms\""
    );
}

#[test]
fn event_mesh_streams_and_an_exchange_sink() {
    let config = parse(
        r#"
[streams.auth]
type = "http"
path = "/auth"
token_env = "EDDY_HTTP_TOKEN"

[streams.payments]
type = "amqp"
url = "amqp://eddy:secret@127.0.0.1:5672/%2f"
queue = "payments"
prefetch = 100

[streams.settlements]
type = "http"
listen = "127.0.0.1:9000"
wal = "/var/lib/eddy/wal"
max_request_bytes = 1024
max_backlog = 10

[sinks."*"]
type = "amqp"
url = "amqp://127.0.0.1"
exchange = "alerts"
routing_key = "eddy.{type}.{subject}"
mode = "structured"
"#,
    )
    .expect("a valid config");
    assert_eq!(
        config.streams["auth"],
        StreamSource::Http(HttpStream {
            listen: HttpStream::DEFAULT_LISTEN.into(),
            path: "/auth".into(),
            wal: PathBuf::from("eddy-wal/auth"),
            token_env: Some("EDDY_HTTP_TOKEN".into()),
            max_request_bytes: HttpStream::DEFAULT_MAX_REQUEST_BYTES,
            max_backlog: HttpStream::DEFAULT_MAX_BACKLOG,
        })
    );
    assert_eq!(
        config.streams["settlements"],
        StreamSource::Http(HttpStream {
            listen: "127.0.0.1:9000".into(),
            path: "/".into(),
            wal: PathBuf::from("/var/lib/eddy/wal"),
            token_env: None,
            max_request_bytes: 1024,
            max_backlog: 10,
        })
    );
    assert_eq!(
        config.streams["payments"],
        StreamSource::Amqp(AmqpStream {
            url: "amqp://eddy:secret@127.0.0.1:5672/%2f".into(),
            queue: "payments".into(),
            prefetch: 100,
        })
    );
    assert_eq!(
        config.sink_for("anything"),
        Some(&SinkTarget::Amqp(AmqpTarget {
            url: "amqp://127.0.0.1".into(),
            exchange: "alerts".into(),
            routing_key: "eddy.{type}.{subject}".into(),
            mode: CloudEventMode::Structured,
        }))
    );
}

#[test]
fn event_mesh_tables_are_checked() {
    assert_eq!(
        error("[streams.auth]\ntype = \"http\"\npath = \"auth\"\n"),
        "eddy.toml:1:1: streams.auth.path: an http stream's `path` is a URL path starting with `/`"
    );
    assert_eq!(
        error("[streams.auth]\ntype = \"http\"\nqueue = \"q\"\n"),
        "eddy.toml:1:1: streams.auth.queue: only an amqp stream has this setting"
    );
    assert_eq!(
        error("[streams.auth]\ntype = \"amqp\"\nurl = \"amqp://h\"\n"),
        "eddy.toml:1:1: streams.auth.queue: an amqp stream needs a `queue`"
    );
    assert_eq!(
        error("[streams.auth]\ntype = \"amqp\"\nurl = \"amqps://h\"\nqueue = \"q\"\n"),
        "eddy.toml:1:1: streams.auth.url: an amqp `url` starts with amqp:// (amqp://user:password@host:5672/vhost)"
    );
    assert_eq!(
        error("[streams.auth]\ntype = \"kafka\"\nlisten = \"127.0.0.1:1\"\n"),
        "eddy.toml:1:1: streams.auth.listen: only an http stream has this setting"
    );
    assert_eq!(
        error("[sinks.x]\ntype = \"amqp\"\nurl = \"amqp://h\"\nmode = \"batch\"\n"),
        "eddy.toml:1:1: sinks.x.mode: `batch` is for http sinks; an amqp sink is `binary` or `structured`"
    );
    assert_eq!(
        error("[sinks.x]\ntype = \"http\"\nurl = \"http://h\"\nexchange = \"e\"\n"),
        "eddy.toml:1:1: sinks.x.exchange: only an amqp sink has this setting"
    );
}
