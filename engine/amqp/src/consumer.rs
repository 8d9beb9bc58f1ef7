//! Consuming one existing queue with manual acknowledgements and a bounded
//! prefetch: the broker keeps every delivery until the caller acknowledges
//! it (after its effects are durable), and never has more than `prefetch`
//! unacknowledged deliveries in flight to us, which bounds our memory.

use std::time::Duration;

use amqprs::callbacks::ChannelCallback;
use amqprs::channel::{
    BasicAckArguments, BasicConsumeArguments, BasicQosArguments, Channel, ConsumerMessage,
};
use amqprs::{Ack, BasicProperties, Cancel, CloseChannel, Nack, Return};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::connection::{record_channel_close, CloseRecord, Link, NOT_FOUND};
use crate::error::AmqpError;
use crate::headers;
use crate::identity::identity;
use crate::url::{self, Target};

/// Prefetch when none is configured: enough to keep a fast pipeline busy
/// between acknowledgements, bounded so a backlog stays in the broker.
pub const DEFAULT_PREFETCH: u16 = 10_000;

/// Where to consume from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// `amqp://user:password@host:port/vhost`.
    pub url: String,
    /// An existing queue; the consumer never declares it.
    pub queue: String,
    /// The most unacknowledged deliveries the broker sends (basic.qos);
    /// 0 (unlimited in AMQP) is refused.
    pub prefetch: u16,
}

impl ConsumerSettings {
    /// Settings with [`DEFAULT_PREFETCH`].
    pub fn new(url: impl Into<String>, queue: impl Into<String>) -> Self {
        ConsumerSettings {
            url: url.into(),
            queue: queue.into(),
            prefetch: DEFAULT_PREFETCH,
        }
    }
}

/// One message as delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Acknowledge up to here with [`AmqpConsumer::ack_through`]. Valid on
    /// the channel that delivered it only: tags restart after a reconnect.
    pub tag: u64,
    /// The broker delivered this message before (to us or another
    /// consumer) without it being acknowledged.
    pub redelivered: bool,
    /// Identifies the message across redeliveries (see
    /// [`crate::identity::identity`]): the AMQP message id, else the
    /// CloudEvent id and source headers, else body and headers. Two
    /// byte-identical messages without ids share an identity.
    pub identity: u64,
    pub payload: Vec<u8>,
    pub content_type: Option<String>,
    /// Application headers, values rendered as strings, sorted by name.
    pub headers: Vec<(String, String)>,
    pub message_id: Option<String>,
}

impl Delivery {
    fn from_message(message: ConsumerMessage) -> Delivery {
        let (tag, redelivered) = message
            .deliver
            .as_ref()
            .map_or((0, false), |d| (d.delivery_tag(), d.redelivered()));
        let properties = message.basic_properties.unwrap_or_default();
        let payload = message.content.unwrap_or_default();
        let headers = headers::render(properties.headers());
        let message_id = properties.message_id().cloned();
        Delivery {
            tag,
            redelivered,
            identity: identity(message_id.as_deref(), &headers, &payload),
            payload,
            content_type: properties.content_type().cloned(),
            headers,
            message_id,
        }
    }
}

/// Records the broker's channel.close and consumer cancellation (RabbitMQ
/// cancels a consumer whose queue is deleted), so `next` can tell why
/// deliveries stopped.
struct ConsumerCallback {
    closed: CloseRecord,
}

#[async_trait::async_trait]
impl ChannelCallback for ConsumerCallback {
    async fn close(
        &mut self,
        _: &Channel,
        close: CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
        record_channel_close(&self.closed, &close);
        Ok(())
    }
    async fn cancel(&mut self, _: &Channel, cancel: Cancel) -> Result<(), amqprs::error::Error> {
        self.closed.set(
            NOT_FOUND,
            &format!(
                "the broker cancelled consumer `{}` (was its queue deleted?)",
                cancel.consumer_tag()
            ),
        );
        Ok(())
    }
    async fn flow(&mut self, _: &Channel, active: bool) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }
    async fn publish_ack(&mut self, _: &Channel, _: Ack) {}
    async fn publish_nack(&mut self, _: &Channel, _: Nack) {}
    async fn publish_return(&mut self, _: &Channel, _: Return, _: BasicProperties, _: Vec<u8>) {}
}

/// A live consumption: the link and the deliveries amqprs forwards.
struct Session {
    link: Link,
    deliveries: UnboundedReceiver<ConsumerMessage>,
}

impl Session {
    async fn open(target: &Target, settings: &ConsumerSettings) -> Result<Session, AmqpError> {
        let closed = CloseRecord::default();
        let link = Link::open(
            target,
            &format!("eddy consumer of {}", settings.queue),
            closed.clone(),
            ConsumerCallback { closed },
        )
        .await?;
        let channel = &link.channel;
        channel
            .basic_qos(BasicQosArguments::new(0, settings.prefetch, false))
            .await
            .map_err(|e| link.failed("basic.qos", e))?;
        let args = BasicConsumeArguments::new(&settings.queue, "")
            .manual_ack(true)
            .finish();
        match channel.basic_consume_rx(args).await {
            Ok((_tag, deliveries)) => Ok(Session { link, deliveries }),
            Err(e) => {
                let error = match link.closed.get() {
                    Some(closed) if closed.code == NOT_FOUND => AmqpError::MissingQueue {
                        queue: settings.queue.clone(),
                        url: target.redacted.clone(),
                        reason: closed.text,
                    },
                    _ => link.failed("basic.consume", e),
                };
                link.close().await;
                Err(error)
            }
        }
    }
}

/// Consumes one queue: [`next`](Self::next) delivery,
/// [`ack_through`](Self::ack_through) once processed,
/// [`reconnect`](Self::reconnect) after [`AmqpError::Disconnected`].
pub struct AmqpConsumer {
    settings: ConsumerSettings,
    target: Target,
    /// None after a failed reconnect: `next` then reports the disconnection.
    session: Option<Session>,
}

impl AmqpConsumer {
    /// Connects, sets the prefetch and starts consuming `settings.queue`,
    /// which must exist ([`AmqpError::MissingQueue`] otherwise).
    pub async fn open(settings: &ConsumerSettings) -> Result<AmqpConsumer, AmqpError> {
        if settings.prefetch == 0 {
            return Err(AmqpError::Settings(
                "prefetch must be at least 1 (0 would let the broker send the whole queue)".into(),
            ));
        }
        let target = url::parse(&settings.url)?;
        let session = Session::open(&target, settings).await?;
        Ok(AmqpConsumer {
            settings: settings.clone(),
            target,
            session: Some(session),
        })
    }

    /// The next delivery, or `None` when none arrived within `wait`.
    /// [`AmqpError::Disconnected`] when the connection or channel is gone:
    /// deliveries still buffered from the dead channel are dropped rather
    /// than returned, since the broker redelivers them after a reconnect
    /// and their tags can no longer be acknowledged.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<Delivery>, AmqpError> {
        let Some(session) = self.session.as_mut() else {
            return Err(not_connected());
        };
        let received = tokio::time::timeout(wait, session.deliveries.recv()).await;
        if !session.link.is_open() || session.link.closed.get().is_some() {
            return Err(session.link.disconnected());
        }
        match received {
            Ok(Some(message)) => Ok(Some(Delivery::from_message(message))),
            Ok(None) => Err(session.link.disconnected()),
            Err(_elapsed) => Ok(None),
        }
    }

    /// Acknowledges every delivery up to and including `tag` (basic.ack
    /// with multiple). Tag 0 is no delivery and acknowledges nothing (to
    /// AMQP it would mean "everything outstanding").
    pub async fn ack_through(&mut self, tag: u64) -> Result<(), AmqpError> {
        let Some(session) = self.session.as_ref() else {
            return Err(not_connected());
        };
        if tag == 0 {
            return Ok(());
        }
        if !session.link.is_open() {
            return Err(session.link.disconnected());
        }
        session
            .link
            .channel
            .basic_ack(BasicAckArguments::new(tag, true))
            .await
            .map_err(|e| session.link.failed("basic.ack", e))
    }

    /// Replaces the connection and channel with new ones. What was not
    /// acknowledged on the old channel comes back with `redelivered` set;
    /// delivery tags restart from 1. On error the consumer stays
    /// disconnected and `reconnect` can be called again.
    pub async fn reconnect(&mut self) -> Result<(), AmqpError> {
        if let Some(old) = self.session.take() {
            old.link.close().await;
        }
        self.session = Some(Session::open(&self.target, &self.settings).await?);
        Ok(())
    }

    /// Closes the channel and connection: the broker requeues every
    /// unacknowledged delivery. (Dropping the consumer closes the
    /// connection too, without waiting.)
    pub async fn close(mut self) {
        if let Some(session) = self.session.take() {
            session.link.close().await;
        }
    }

    /// The queue consumed.
    pub fn queue(&self) -> &str {
        &self.settings.queue
    }
}

fn not_connected() -> AmqpError {
    AmqpError::Disconnected {
        reason: "not connected (the last reconnect failed)".into(),
    }
}
