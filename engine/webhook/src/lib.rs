//! Derived events POSTed to a webhook as CloudEvents (the HTTP protocol
//! binding: binary, structured or batched mode), for alerting tools.
//!
//! A delivery is retried on connection errors, timeouts, 408, 429 and 5xx,
//! with exponential backoff and jitter, honouring `Retry-After`, up to a
//! limit; any other answer is final. [`WebhookSink::barrier`] waits for
//! every delivery under way and returns the events that could not be
//! delivered, so the job dead-letters them before its checkpoint: a
//! checkpoint covers only events accepted (2xx) or dead-lettered. Requests
//! may be signed by the Standard Webhooks scheme ([`signature`]), so that
//! receivers can verify them and drop repeats by `webhook-id`.

pub mod retry;
pub mod signature;
mod sink;

pub use retry::RetryPolicy;
pub use signature::Signer;
pub use sink::{Mode, Outgoing, Undelivered, WebhookError, WebhookSettings, WebhookSink};
