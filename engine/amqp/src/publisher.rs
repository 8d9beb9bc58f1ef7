//! Publishing with publisher confirms: every message is either confirmed by
//! the broker (routed and, for durable queues, written), or handed back by
//! [`AmqpPublisher::barrier`] with the broker's reason so the caller can
//! dead-letter it. Nothing is silently lost: unroutable messages are
//! published `mandatory` and come back through basic.return.

use std::collections::BTreeMap;
use std::time::Duration;

use amqprs::callbacks::ChannelCallback;
use amqprs::channel::{
    BasicPublishArguments, Channel, ConfirmSelectArguments, ExchangeDeclareArguments,
};
use amqprs::{Ack, BasicProperties, Cancel, CloseChannel, Nack, Return, DELIVERY_MODE_PERSISTENT};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::time::Instant;

use crate::connection::{record_channel_close, CloseRecord, Link, NOT_FOUND};
use crate::error::AmqpError;
use crate::headers;
use crate::url::{self, Target};

/// Unconfirmed messages allowed before `publish` waits for confirms: each
/// is kept (for handing back if refused) until confirmed.
pub const DEFAULT_MAX_UNCONFIRMED: usize = 10_000;
/// How long `barrier` (and a `publish` waiting for room) waits for the
/// broker's confirms.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// Where to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherSettings {
    /// `amqp://user:password@host:port/vhost`.
    pub url: String,
    /// An existing exchange ("" is the default exchange, which routes by
    /// queue name); the publisher never declares it.
    pub exchange: String,
    /// See [`DEFAULT_MAX_UNCONFIRMED`]; at least 1.
    pub max_unconfirmed: usize,
    /// See [`DEFAULT_CONFIRM_TIMEOUT`].
    pub confirm_timeout: Duration,
}

impl PublisherSettings {
    /// Settings with the default bounds.
    pub fn new(url: impl Into<String>, exchange: impl Into<String>) -> Self {
        PublisherSettings {
            url: url.into(),
            exchange: exchange.into(),
            max_unconfirmed: DEFAULT_MAX_UNCONFIRMED,
            confirm_timeout: DEFAULT_CONFIRM_TIMEOUT,
        }
    }
}

/// One message to publish. Delivery mode is always persistent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutgoingMessage {
    pub routing_key: String,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub message_id: Option<String>,
    /// Application headers, sent as long strings.
    pub headers: Vec<(String, String)>,
}

/// A published message the broker refused: nacked, or returned as
/// unroutable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unconfirmed {
    pub message: OutgoingMessage,
    /// The broker's reason, e.g. "unroutable: NO_ROUTE (312) ...".
    pub reason: String,
}

/// What the channel callback forwards.
#[derive(Debug)]
enum Confirm {
    Ack {
        tag: u64,
        multiple: bool,
    },
    Nack {
        tag: u64,
        multiple: bool,
    },
    Return {
        reason: String,
        routing_key: String,
        message_id: Option<String>,
        body: Vec<u8>,
    },
}

/// Forwards confirms and returns from amqprs's dispatcher task to the
/// publisher, in the order the broker sent them (one unbounded channel:
/// its size is bounded by the publisher's `max_unconfirmed`).
struct ConfirmForwarder {
    events: UnboundedSender<Confirm>,
    closed: CloseRecord,
}

#[async_trait::async_trait]
impl ChannelCallback for ConfirmForwarder {
    async fn close(
        &mut self,
        _: &Channel,
        close: CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
        record_channel_close(&self.closed, &close);
        Ok(())
    }
    async fn cancel(&mut self, _: &Channel, _: Cancel) -> Result<(), amqprs::error::Error> {
        Ok(())
    }
    async fn flow(&mut self, _: &Channel, active: bool) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }
    async fn publish_ack(&mut self, _: &Channel, ack: Ack) {
        let _ = self.events.send(Confirm::Ack {
            tag: ack.delivery_tag(),
            multiple: ack.mutiple(),
        });
    }
    async fn publish_nack(&mut self, _: &Channel, nack: Nack) {
        let _ = self.events.send(Confirm::Nack {
            tag: nack.delivery_tag(),
            multiple: nack.multiple(),
        });
    }
    async fn publish_return(
        &mut self,
        _: &Channel,
        ret: Return,
        properties: BasicProperties,
        body: Vec<u8>,
    ) {
        let reason = format!(
            "unroutable: {} ({}) from exchange `{}` with routing key `{}`",
            ret.reply_text(),
            ret.reply_code(),
            ret.exchange(),
            ret.routing_key()
        );
        let _ = self.events.send(Confirm::Return {
            reason,
            routing_key: ret.routing_key().clone(),
            message_id: properties.message_id().cloned(),
            body,
        });
    }
}

/// A message awaiting its confirm.
struct Pending {
    message: OutgoingMessage,
    /// Set when the broker returned it: its ack then means "handled", not
    /// "routed".
    returned: Option<String>,
}

/// Publishes to one exchange with confirms; see the module documentation.
pub struct AmqpPublisher {
    settings: PublisherSettings,
    target: Target,
    link: Option<Link>,
    events: UnboundedReceiver<Confirm>,
    /// By publish sequence number: confirms count from 1 per channel.
    pending: BTreeMap<u64, Pending>,
    next_sequence: u64,
    refused: Vec<Unconfirmed>,
}

impl AmqpPublisher {
    /// Connects, checks that the exchange exists
    /// ([`AmqpError::MissingExchange`] otherwise) and enables confirms.
    pub async fn open(settings: &PublisherSettings) -> Result<AmqpPublisher, AmqpError> {
        if settings.max_unconfirmed == 0 {
            return Err(AmqpError::Settings(
                "max_unconfirmed must be at least 1".into(),
            ));
        }
        let target = url::parse(&settings.url)?;
        let (link, events) = connect(&target, settings).await?;
        Ok(AmqpPublisher {
            settings: settings.clone(),
            target,
            link: Some(link),
            events,
            pending: BTreeMap::new(),
            next_sequence: 1,
            refused: Vec::new(),
        })
    }

    /// Publishes `message` (mandatory, persistent). Returns once the
    /// message is handed to the connection, not when it is confirmed: see
    /// [`barrier`](Self::barrier). Waits first while
    /// `max_unconfirmed` messages are unconfirmed.
    /// [`AmqpError::Unpublishable`] for a message AMQP cannot carry (the
    /// publisher stays usable).
    pub async fn publish(&mut self, message: OutgoingMessage) -> Result<(), AmqpError> {
        let properties = properties(&message)?;
        let routing_key = headers::short(&message.routing_key, "routing key")?;
        self.drain_ready();
        if self.pending.len() >= self.settings.max_unconfirmed {
            let deadline = Instant::now() + self.settings.confirm_timeout;
            while self.pending.len() >= self.settings.max_unconfirmed {
                self.wait_event(deadline).await?;
            }
        }
        let link = self.link.as_ref().ok_or_else(not_connected)?;
        if !link.is_open() {
            return Err(link.disconnected());
        }
        let mut args = BasicPublishArguments::new(&self.settings.exchange, routing_key.as_ref());
        args.mandatory(true);
        link.channel
            .basic_publish(properties, message.body.clone(), args.finish())
            .await
            .map_err(|e| link.failed("basic.publish", e))?;
        self.pending.insert(
            self.next_sequence,
            Pending {
                message,
                returned: None,
            },
        );
        self.next_sequence += 1;
        Ok(())
    }

    /// Waits until the broker has answered for every message published so
    /// far, and hands back those it refused (nacked, or returned as
    /// unroutable) since the last barrier. [`AmqpError::ConfirmTimeout`]
    /// when answers take longer than `confirm_timeout`;
    /// [`AmqpError::Disconnected`] when the channel died first: then the
    /// fate of every message since the last barrier is unknown, and the
    /// caller republishes them after [`reconnect`](Self::reconnect).
    pub async fn barrier(&mut self) -> Result<Vec<Unconfirmed>, AmqpError> {
        let deadline = Instant::now() + self.settings.confirm_timeout;
        self.drain_ready();
        while !self.pending.is_empty() {
            self.wait_event(deadline).await?;
        }
        Ok(std::mem::take(&mut self.refused))
    }

    /// Opens a new connection and channel. Messages still unconfirmed on
    /// the old channel, and refusals not yet collected, are forgotten: the
    /// caller republishes from its last successful barrier.
    pub async fn reconnect(&mut self) -> Result<(), AmqpError> {
        if let Some(old) = self.link.take() {
            old.close().await;
        }
        self.pending.clear();
        self.refused.clear();
        self.next_sequence = 1;
        let (link, events) = connect(&self.target, &self.settings).await?;
        self.link = Some(link);
        self.events = events;
        Ok(())
    }

    /// Messages published and not yet answered by the broker.
    pub fn unconfirmed(&self) -> usize {
        self.pending.len()
    }

    /// Closes the channel and connection (after a barrier, nothing is lost).
    pub async fn close(mut self) {
        if let Some(link) = self.link.take() {
            link.close().await;
        }
    }

    /// Applies the confirms already received, without waiting.
    fn drain_ready(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            self.apply(event);
        }
    }

    /// Waits for one confirm or return until `deadline`.
    async fn wait_event(&mut self, deadline: Instant) -> Result<(), AmqpError> {
        // Confirms may stop because the channel died: look at least every
        // 100 ms rather than sleeping to the deadline.
        loop {
            let step = (Instant::now() + Duration::from_millis(100)).min(deadline);
            match tokio::time::timeout_at(step, self.events.recv()).await {
                Ok(Some(event)) => {
                    self.apply(event);
                    return Ok(());
                }
                Ok(None) => {
                    let link = self.link.as_ref().ok_or_else(not_connected)?;
                    return Err(link.disconnected());
                }
                Err(_) => {
                    let link = self.link.as_ref().ok_or_else(not_connected)?;
                    if !link.is_open() || link.closed.get().is_some() {
                        return Err(link.disconnected());
                    }
                    if Instant::now() >= deadline {
                        return Err(AmqpError::ConfirmTimeout {
                            outstanding: self.pending.len(),
                            timeout: self.settings.confirm_timeout,
                        });
                    }
                }
            }
        }
    }

    fn apply(&mut self, event: Confirm) {
        match event {
            Confirm::Ack { tag, multiple } => {
                for (_, pending) in self.settle(tag, multiple) {
                    if let Some(reason) = pending.returned {
                        self.refused.push(Unconfirmed {
                            message: pending.message,
                            reason,
                        });
                    }
                }
            }
            Confirm::Nack { tag, multiple } => {
                for (_, pending) in self.settle(tag, multiple) {
                    let reason = pending
                        .returned
                        .unwrap_or_else(|| "nacked by the broker".to_string());
                    self.refused.push(Unconfirmed {
                        message: pending.message,
                        reason,
                    });
                }
            }
            Confirm::Return {
                reason,
                routing_key,
                message_id,
                body,
            } => self.mark_returned(reason, &routing_key, message_id.as_deref(), &body),
        }
    }

    /// Removes the messages a confirm answers: `tag` alone, or every one up
    /// to it when `multiple`.
    fn settle(&mut self, tag: u64, multiple: bool) -> Vec<(u64, Pending)> {
        if multiple {
            let rest = self.pending.split_off(&(tag + 1));
            std::mem::replace(&mut self.pending, rest)
                .into_iter()
                .collect()
        } else {
            self.pending
                .remove(&tag)
                .map(|p| vec![(tag, p)])
                .unwrap_or_default()
        }
    }

    /// basic.return carries no sequence number; the broker sends it before
    /// the message's ack, so it matches the earliest unconfirmed, not yet
    /// returned message with the same routing key, id and body. (Among
    /// byte-identical messages, which one is marked does not matter.)
    fn mark_returned(
        &mut self,
        reason: String,
        routing_key: &str,
        message_id: Option<&str>,
        body: &[u8],
    ) {
        let found = self.pending.values_mut().find(|p| {
            p.returned.is_none()
                && p.message.routing_key == routing_key
                && p.message.message_id.as_deref() == message_id
                && p.message.body == body
        });
        match found {
            Some(pending) => pending.returned = Some(reason),
            None => tracing::warn!(%reason, "a returned message matches no unconfirmed publish"),
        }
    }
}

async fn connect(
    target: &Target,
    settings: &PublisherSettings,
) -> Result<(Link, UnboundedReceiver<Confirm>), AmqpError> {
    let (sender, events) = mpsc::unbounded_channel();
    let closed = CloseRecord::default();
    let name = format!("eddy publisher to exchange `{}`", settings.exchange);
    let link = Link::open(
        target,
        &name,
        closed.clone(),
        ConfirmForwarder {
            events: sender,
            closed,
        },
    )
    .await?;
    // The default exchange always exists and cannot be declared, even
    // passively.
    if !settings.exchange.is_empty() {
        let check = ExchangeDeclareArguments::new(&settings.exchange, "direct")
            .passive(true)
            .finish();
        if let Err(e) = link.channel.exchange_declare(check).await {
            let error = match link.closed.get() {
                Some(closed) if closed.code == NOT_FOUND => AmqpError::MissingExchange {
                    exchange: settings.exchange.clone(),
                    url: target.redacted.clone(),
                    reason: closed.text,
                },
                _ => link.failed("exchange.declare (passive)", e),
            };
            link.close().await;
            return Err(error);
        }
    }
    if let Err(e) = link
        .channel
        .confirm_select(ConfirmSelectArguments::new(false))
        .await
    {
        let error = link.failed("confirm.select", e);
        link.close().await;
        return Err(error);
    }
    Ok((link, events))
}

fn properties(message: &OutgoingMessage) -> Result<BasicProperties, AmqpError> {
    let mut properties = BasicProperties::default();
    properties.with_delivery_mode(DELIVERY_MODE_PERSISTENT);
    if let Some(content_type) = &message.content_type {
        headers::short(content_type, "content type")?;
        properties.with_content_type(content_type);
    }
    if let Some(id) = &message.message_id {
        headers::short(id, "message id")?;
        properties.with_message_id(id);
    }
    if !message.headers.is_empty() {
        properties.with_headers(headers::table(&message.headers)?);
    }
    Ok(properties.finish())
}

fn not_connected() -> AmqpError {
    AmqpError::Disconnected {
        reason: "not connected (the last reconnect failed)".into(),
    }
}
