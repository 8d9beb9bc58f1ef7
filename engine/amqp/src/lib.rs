//! eddy's AMQP 0-9-1 connector (RabbitMQ), independent of eddy's runtime:
//!
//! - [`AmqpConsumer`]: one existing queue, manual acknowledgements, bounded
//!   prefetch, an identity per message to deduplicate redeliveries, and
//!   reconnection after [`AmqpError::Disconnected`];
//! - [`AmqpPublisher`]: publisher confirms, mandatory routing, and a
//!   [`barrier`](AmqpPublisher::barrier) that hands back what the broker
//!   refused, for dead-lettering;
//! - [`binding`]: the CloudEvents AMQP binding (binary and structured
//!   modes, routing-key templates, and decoding deliveries into events).
//!
//! Built on `amqprs` (tokio-native, no TLS).

pub mod binding;
mod connection;
pub mod consumer;
pub mod error;
mod headers;
pub mod identity;
pub mod publisher;
pub mod url;

pub use binding::{CloudEvent, EnvelopeError};
pub use consumer::{AmqpConsumer, ConsumerSettings, Delivery, DEFAULT_PREFETCH};
pub use error::AmqpError;
pub use publisher::{
    AmqpPublisher, OutgoingMessage, PublisherSettings, Unconfirmed, DEFAULT_CONFIRM_TIMEOUT,
    DEFAULT_MAX_UNCONFIRMED,
};
