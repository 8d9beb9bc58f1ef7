//! Opening a connection and a channel, shared by the consumer and the
//! publisher, and remembering why the broker closed them: amqprs reports a
//! broker-side close only to callbacks, while the call that provoked it
//! just sees its reply channel dropped. The recorded reply code and text
//! turn that into a precise error (404 NOT_FOUND: missing queue).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use amqprs::callbacks::{ChannelCallback, ConnectionCallback};
use amqprs::channel::Channel;
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{Close, CloseChannel};

use crate::error::AmqpError;
use crate::url::Target;

/// Bounds connecting (TCP, handshake, login): a broker that accepts the TCP
/// connection but never answers must not hang the caller.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// AMQP's reply code for a missing queue or exchange.
pub const NOT_FOUND: u16 = 404;

/// The broker's reason for closing a connection or channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub code: u16,
    pub text: String,
}

/// Shared between a callback (which writes) and the owner (which reads).
#[derive(Debug, Clone, Default)]
pub struct CloseRecord(Arc<Mutex<Option<Closed>>>);

impl CloseRecord {
    pub fn set(&self, code: u16, text: &str) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // The first reason is the cause; later ones are consequences.
        slot.get_or_insert(Closed {
            code,
            text: text.to_string(),
        });
    }

    pub fn get(&self) -> Option<Closed> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Records the broker's connection.close (e.g. 320 CONNECTION_FORCED when
/// the broker shuts down).
struct ConnectionCloseRecorder(CloseRecord);

#[async_trait::async_trait]
impl ConnectionCallback for ConnectionCloseRecorder {
    async fn close(&mut self, _: &Connection, close: Close) -> Result<(), amqprs::error::Error> {
        self.0.set(close.reply_code(), close.reply_text());
        Ok(())
    }
    async fn blocked(&mut self, _: &Connection, reason: String) {
        tracing::warn!(%reason, "the AMQP broker blocks publishing on this connection");
    }
    async fn unblocked(&mut self, _: &Connection) {
        tracing::info!("the AMQP broker unblocked this connection");
    }
    async fn secret_updated(&mut self, _: &Connection) {}
}

/// Records a channel.close from the broker; the channel callbacks of the
/// consumer and publisher call it from their own `close`.
pub fn record_channel_close(record: &CloseRecord, close: &CloseChannel) {
    record.set(close.reply_code(), close.reply_text());
}

/// An open connection with one channel.
pub struct Link {
    pub connection: Connection,
    pub channel: Channel,
    /// Why the broker closed the connection or the channel, once it has.
    pub closed: CloseRecord,
}

impl Link {
    /// Opens a connection named `name` (shown in RabbitMQ's management
    /// tools) and one channel with `callback`, which must record the
    /// channel's close into `closed` (see [`record_channel_close`]).
    pub async fn open<C>(
        target: &Target,
        name: &str,
        closed: CloseRecord,
        callback: C,
    ) -> Result<Link, AmqpError>
    where
        C: ChannelCallback + Send + 'static,
    {
        let connect_error = |reason: String| AmqpError::Connect {
            url: target.redacted.clone(),
            reason,
        };
        let args =
            OpenConnectionArguments::new(&target.host, target.port, &target.user, &target.password)
                .virtual_host(&target.vhost)
                .connection_name(name)
                .finish();
        let connection = match tokio::time::timeout(CONNECT_TIMEOUT, Connection::open(&args)).await
        {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => return Err(connect_error(e.to_string())),
            Err(_) => {
                return Err(connect_error(format!(
                    "no answer within {CONNECT_TIMEOUT:?}"
                )))
            }
        };
        connection
            .register_callback(ConnectionCloseRecorder(closed.clone()))
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        let channel = connection
            .open_channel(None)
            .await
            .map_err(|e| connect_error(format!("opening a channel: {e}")))?;
        channel
            .register_callback(callback)
            .await
            .map_err(|e| connect_error(format!("registering the channel callback: {e}")))?;
        Ok(Link {
            connection,
            channel,
            closed,
        })
    }

    /// Whether both the connection and the channel are still open.
    pub fn is_open(&self) -> bool {
        self.connection.is_open() && self.channel.is_open()
    }

    /// Why the link is unusable, for [`AmqpError::Disconnected`].
    pub fn disconnected(&self) -> AmqpError {
        let reason = match self.closed.get() {
            Some(Closed { code, text }) => format!("closed by the broker: {text} ({code})"),
            None if !self.connection.is_open() => "the connection was lost".to_string(),
            None => "the channel was closed".to_string(),
        };
        AmqpError::Disconnected { reason }
    }

    /// Maps a failed call: a closed link is [`AmqpError::Disconnected`]
    /// (with the broker's reason), anything else a protocol error.
    pub fn failed(&self, operation: &'static str, error: amqprs::error::Error) -> AmqpError {
        if self.is_open() && self.closed.get().is_none() {
            AmqpError::Protocol {
                operation,
                reason: error.to_string(),
            }
        } else {
            self.disconnected()
        }
    }

    /// Closes the channel and the connection, politely and within bounded
    /// time; errors are moot (the link is being dropped anyway). Closing
    /// returns unacknowledged deliveries to their queue.
    pub async fn close(self) {
        let wait = Duration::from_secs(5);
        if self.channel.is_open() {
            let _ = tokio::time::timeout(wait, self.channel.close()).await;
        }
        if self.connection.is_open() {
            let _ = tokio::time::timeout(wait, self.connection.close()).await;
        }
    }
}
