//! The connector's errors: typed so the caller can tell a configuration
//! mistake (bad URL, missing queue or exchange), which retrying cannot fix,
//! from a lost connection, which [`reconnect`](crate::AmqpConsumer::reconnect)
//! can.

use std::time::Duration;

use thiserror::Error;

/// Everything the consumer and the publisher can fail with. URLs in the
/// messages never show the password (see [`crate::url::redact`]).
#[derive(Debug, Error)]
pub enum AmqpError {
    /// The `amqp://` URL does not parse.
    #[error("invalid AMQP URL `{url}`: {reason}")]
    Url { url: String, reason: String },

    /// A setting is out of range (caught before connecting).
    #[error("invalid AMQP settings: {0}")]
    Settings(String),

    /// The broker did not accept the connection (unreachable, refused,
    /// authentication failed, unknown virtual host, timed out).
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },

    /// The consumer's queue does not exist: the consumer never declares it,
    /// so whoever owns the topology must.
    #[error(
        "queue `{queue}` does not exist on {url} (the consumer does not declare queues): {reason}"
    )]
    MissingQueue {
        queue: String,
        url: String,
        reason: String,
    },

    /// The publisher's exchange does not exist (it is never declared here).
    #[error("exchange `{exchange}` does not exist on {url} (the publisher does not declare exchanges): {reason}")]
    MissingExchange {
        exchange: String,
        url: String,
        reason: String,
    },

    /// The connection or the channel is gone (network failure, broker
    /// shutdown, channel closed by the broker, consumer cancelled because
    /// its queue was deleted). Recoverable: reconnect and carry on; the
    /// broker redelivers what was not acknowledged.
    #[error("disconnected from the AMQP broker: {reason}")]
    Disconnected { reason: String },

    /// The broker or the client library refused an operation on an open
    /// channel.
    #[error("AMQP {operation} failed: {reason}")]
    Protocol {
        operation: &'static str,
        reason: String,
    },

    /// Published messages were neither confirmed nor refused in time.
    #[error(
        "{outstanding} published message(s) were not confirmed by the broker within {timeout:?}"
    )]
    ConfirmTimeout {
        outstanding: usize,
        timeout: Duration,
    },

    /// A message AMQP 0-9-1 cannot carry (a routing key, message id,
    /// content type or header name over 255 bytes). Not published; the
    /// caller dead-letters it.
    #[error("message cannot be published: {0}")]
    Unpublishable(String),
}

impl AmqpError {
    /// Whether reconnecting may help: the connection or channel was lost.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, AmqpError::Disconnected { .. })
    }
}
