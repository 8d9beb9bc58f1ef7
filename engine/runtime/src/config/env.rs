//! Environment overrides. The rule: `EDDY_` + section + key, upper case,
//! dots and dashes as `_`; a top-level key has no section. They win over the
//! file.
//!
//! | variable                        | key                          |
//! |---------------------------------|------------------------------|
//! | `EDDY_RULES`                    | `rules` (paths joined by `:`)|
//! | `EDDY_KAFKA_BROKERS`            | `kafka.brokers`              |
//! | `EDDY_KAFKA_GROUP_ID`           | `kafka.group_id`             |
//! | `EDDY_KAFKA_BATCH_SIZE`         | `kafka.batch_size`           |
//! | `EDDY_KAFKA_BATCH_WAIT`         | `kafka.batch_wait`           |
//! | `EDDY_KAFKA_CLIENT_SASL_PASSWORD` | `kafka.client."sasl.password"` (`_` becomes `.`, lower case) |
//! | `EDDY_CHECKPOINT_DIR`           | `checkpoint.dir`             |
//! | `EDDY_CHECKPOINT_INTERVAL`      | `checkpoint.interval`        |
//! | `EDDY_IDLE_PARTITION_TIMEOUT`   | `idle_partition_timeout`     |
//! | `EDDY_MAX_MESSAGE_BYTES`        | `max_message_bytes`          |
//! | `EDDY_CHANNEL_CAPACITY`         | `channel_capacity`           |
//! | `EDDY_MAX_CHUNK_BYTES`          | `max_chunk_bytes`            |
//! | `EDDY_METRICS_LISTEN`           | `metrics.listen`             |
//! | `EDDY_LOG_FORMAT`               | `log_format`                 |
//!
//! Streams, sinks and the dead-letter output are named tables and are set
//! in the file only. An `EDDY_KAFKA_*` or `EDDY_CHECKPOINT_*` variable that
//! is not in the table, or a variable a typo away from one that is, is an
//! error rather than silently ignored; other `EDDY_*` variables belong to
//! other parts of eddy and are left alone.

use std::num::NonZeroUsize;
use std::time::Duration;

use super::duration::{parse_duration, DURATION_HINT};
use super::{CheckpointLocation, Config, ConfigError, LogFormat};

/// The prefix of every override.
pub const PREFIX: &str = "EDDY_";
/// Overrides of `[kafka.client]` properties start with this.
pub const CLIENT_PREFIX: &str = "EDDY_KAFKA_CLIENT_";
/// Every variable under these prefixes must be a known override.
const RESERVED_PREFIXES: [&str; 2] = ["EDDY_KAFKA_", "EDDY_CHECKPOINT_"];

/// The overrides with a fixed name, in the order of the table above.
pub const VARIABLES: [&str; 12] = [
    "EDDY_RULES",
    "EDDY_KAFKA_BROKERS",
    "EDDY_KAFKA_GROUP_ID",
    "EDDY_KAFKA_BATCH_SIZE",
    "EDDY_KAFKA_BATCH_WAIT",
    "EDDY_CHECKPOINT_DIR",
    "EDDY_CHECKPOINT_INTERVAL",
    "EDDY_IDLE_PARTITION_TIMEOUT",
    "EDDY_MAX_MESSAGE_BYTES",
    "EDDY_CHANNEL_CAPACITY",
    "EDDY_METRICS_LISTEN",
    "EDDY_LOG_FORMAT",
];

/// Applies the overrides among `vars` to `config`, in name order so the
/// result does not depend on the environment's order.
pub fn apply<I>(config: &mut Config, vars: I) -> Result<(), ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with(PREFIX))
        .collect();
    vars.sort();
    for (name, value) in vars {
        apply_one(config, &name, value)?;
    }
    Ok(())
}

fn apply_one(config: &mut Config, name: &str, value: String) -> Result<(), ConfigError> {
    let error = |message: String| ConfigError::Env {
        var: name.to_string(),
        message,
    };
    match name {
        "EDDY_RULES" => config.rules = std::env::split_paths(&value).collect(),
        "EDDY_KAFKA_BROKERS" => config.kafka.brokers = value,
        "EDDY_KAFKA_GROUP_ID" => config.kafka.group_id = value,
        "EDDY_KAFKA_BATCH_SIZE" => config.kafka.batch_size = positive(&value).map_err(error)?,
        "EDDY_KAFKA_BATCH_WAIT" => config.kafka.batch_wait = duration(&value).map_err(error)?,
        "EDDY_CHECKPOINT_DIR" => {
            config.checkpoint.dir = CheckpointLocation::parse(&value).map_err(error)?
        }
        "EDDY_CHECKPOINT_INTERVAL" => {
            config.checkpoint.interval = duration(&value).map_err(error)?
        }
        "EDDY_IDLE_PARTITION_TIMEOUT" => {
            config.idle_partition_timeout = duration(&value).map_err(error)?
        }
        "EDDY_MAX_MESSAGE_BYTES" => config.max_message_bytes = positive(&value).map_err(error)?,
        "EDDY_CHANNEL_CAPACITY" => config.channel_capacity = positive(&value).map_err(error)?,
        "EDDY_MAX_CHUNK_BYTES" => config.max_chunk_bytes = positive(&value).map_err(error)?,
        "EDDY_METRICS_LISTEN" => config.metrics.listen = Some(value),
        "EDDY_LOG_FORMAT" => {
            config.log_format = match value.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(error("expected `text` or `json`".into())),
            }
        }
        _ => {
            if let Some(property) = name.strip_prefix(CLIENT_PREFIX) {
                if property.is_empty() {
                    return Err(error(format!(
                        "name the librdkafka property after `{CLIENT_PREFIX}`"
                    )));
                }
                config
                    .kafka
                    .client
                    .insert(property.to_ascii_lowercase().replace('_', "."), value);
            } else if let Some(near) = VARIABLES
                .iter()
                .find(|known| strsim::levenshtein(known, name) <= 2)
            {
                return Err(error(format!("unknown override; did you mean `{near}`?")));
            } else if RESERVED_PREFIXES.iter().any(|p| name.starts_with(p)) {
                return Err(error(format!(
                    "unknown override; the known ones are {}",
                    VARIABLES.join(", ")
                )));
            }
        }
    }
    Ok(())
}

fn duration(value: &str) -> Result<Duration, String> {
    parse_duration(value).ok_or_else(|| format!("expected {DURATION_HINT}, found {value:?}"))
}

fn positive(value: &str) -> Result<NonZeroUsize, String> {
    value
        .trim()
        .parse::<NonZeroUsize>()
        .map_err(|_| format!("expected a positive integer, found {value:?}"))
}
