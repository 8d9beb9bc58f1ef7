//! The sink: each event (or batch) is one delivery task, at most
//! `concurrency` under way; the caller hands events in and, at a barrier,
//! learns which could not be delivered.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::SeedableRng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::retry::{Attempt, RetryPolicy};
use crate::signature::Signer;

/// How derived events are laid out in requests (the CloudEvents HTTP
/// protocol binding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// One event per request: attributes in `ce-*` headers, the data as
    /// the body.
    #[default]
    Binary,
    /// One event per request: the whole CloudEvent as the body
    /// (`application/cloudevents+json`).
    Structured,
    /// Several events per request: a JSON array of CloudEvents
    /// (`application/cloudevents-batch+json`).
    Batch,
}

/// How a sink delivers.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub url: String,
    pub mode: Mode,
    /// Bound on one attempt (connecting, sending, the answer).
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Deliveries under way at most; more wait.
    pub concurrency: usize,
    /// Events per request at most in batch mode.
    pub max_batch: usize,
    /// Signs requests when set.
    pub signer: Option<Signer>,
}

/// One derived event, encoded both ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The CloudEvent `id` (the request's `webhook-id`).
    pub id: String,
    /// The whole CloudEvent as JSON (structured mode, batches, and what
    /// the dead-letter output keeps).
    pub structured: Vec<u8>,
    /// Binary mode: the attributes (without `ce-`) and the data.
    pub attributes: Vec<(String, String)>,
    pub data: Vec<u8>,
    pub data_content_type: String,
}

/// Events the receiver refused, or could not be reached for, after every
/// retry, with the last error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    pub events: Vec<Outgoing>,
    pub error: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("`{0}` is not an http:// or https:// URL")]
    Url(String),
}

/// A webhook sink on the caller's tokio runtime.
pub struct WebhookSink {
    client: reqwest::Client,
    settings: Arc<WebhookSettings>,
    permits: Arc<Semaphore>,
    deliveries: JoinSet<Option<Undelivered>>,
    /// Deliveries that failed, collected before the next barrier.
    failed: Vec<Undelivered>,
    /// Batch mode: events not sent yet.
    batch: Vec<Outgoing>,
}

/// One request, ready to send (and send again).
struct Request {
    id: String,
    headers: HeaderMap,
    body: Vec<u8>,
    events: Vec<Outgoing>,
}

impl WebhookSink {
    pub fn new(settings: WebhookSettings) -> Result<Self, WebhookError> {
        if !(settings.url.starts_with("http://") || settings.url.starts_with("https://")) {
            return Err(WebhookError::Url(settings.url));
        }
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(WebhookError::Client)?;
        Ok(WebhookSink {
            client,
            permits: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            settings: Arc::new(settings),
            deliveries: JoinSet::new(),
            failed: Vec::new(),
            batch: Vec::new(),
        })
    }

    pub fn url(&self) -> &str {
        &self.settings.url
    }

    /// Hands an event over; waits while `concurrency` deliveries are under way.
    pub async fn send(&mut self, event: Outgoing) {
        match self.settings.mode {
            Mode::Batch => {
                self.batch.push(event);
                if self.batch.len() >= self.settings.max_batch.max(1) {
                    self.send_batch().await;
                }
            }
            Mode::Binary | Mode::Structured => {
                let request = self.request(vec![event]);
                self.start(request).await;
            }
        }
    }

    /// Sends what batch mode holds (a flush of the pipeline's output).
    pub async fn flush(&mut self) {
        if !self.batch.is_empty() {
            self.send_batch().await;
        }
    }

    /// Waits for every delivery under way: what could not be delivered.
    pub async fn barrier(&mut self) -> Vec<Undelivered> {
        self.flush().await;
        let mut undelivered = std::mem::take(&mut self.failed);
        while let Some(done) = self.deliveries.join_next().await {
            match done {
                Ok(Some(failed)) => undelivered.push(failed),
                Ok(None) => {}
                // A delivery task that panicked delivered nothing it can
                // name; it cannot happen short of a bug in reqwest.
                Err(error) => tracing::error!("a webhook delivery task failed: {error}"),
            }
        }
        undelivered
    }

    async fn send_batch(&mut self) {
        let events = std::mem::take(&mut self.batch);
        let request = self.request(events);
        self.start(request).await;
    }

    async fn start(&mut self, request: Request) {
        // The semaphore is never closed.
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return;
        };
        let client = self.client.clone();
        let settings = self.settings.clone();
        self.deliveries.spawn(async move {
            let outcome = deliver(&client, &settings, &request).await;
            drop(permit);
            outcome.err().map(|error| Undelivered {
                events: request.events,
                error,
            })
        });
        // Finished deliveries are collected as we go, so the set stays
        // as small as the deliveries under way.
        while let Some(done) = self.deliveries.try_join_next() {
            if let Ok(Some(failed)) = done {
                self.failed.push(failed);
            }
        }
    }

    fn request(&self, events: Vec<Outgoing>) -> Request {
        let mut headers = HeaderMap::new();
        let (id, body) = match self.settings.mode {
            Mode::Binary => {
                let event = &events[0];
                for (name, value) in &event.attributes {
                    if let (Ok(name), Ok(value)) = (
                        HeaderName::try_from(format!("ce-{name}")),
                        HeaderValue::try_from(value.as_str()),
                    ) {
                        headers.insert(name, value);
                    }
                }
                insert(&mut headers, CONTENT_TYPE, &event.data_content_type);
                (event.id.clone(), event.data.clone())
            }
            Mode::Structured => {
                insert(&mut headers, CONTENT_TYPE, "application/cloudevents+json");
                (events[0].id.clone(), events[0].structured.clone())
            }
            Mode::Batch => {
                insert(
                    &mut headers,
                    CONTENT_TYPE,
                    "application/cloudevents-batch+json",
                );
                let mut body = b"[".to_vec();
                for (n, event) in events.iter().enumerate() {
                    if n > 0 {
                        body.push(b',');
                    }
                    body.extend_from_slice(event.structured.trim_ascii_end());
                }
                body.push(b']');
                // One id per request: the first event's, and how many.
                (format!("{}+{}", events[0].id, events.len()), body)
            }
        };
        Request {
            id,
            headers,
            body,
            events,
        }
    }
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(name, value);
    }
}

/// Tries `request` until it is delivered, refused, or out of attempts:
/// the last error if it was not delivered.
async fn deliver(
    client: &reqwest::Client,
    settings: &WebhookSettings,
    request: &Request,
) -> Result<(), String> {
    // Jitter only spreads retries apart: any seed does.
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos().into());
    let mut rng = StdRng::seed_from_u64(seed ^ request.id.len() as u64);
    let mut attempt = 1;
    loop {
        let mut headers = request.headers.clone();
        if let Some(signer) = &settings.signer {
            // Signed again at each attempt: the timestamp is the attempt's.
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            insert(
                &mut headers,
                HeaderName::from_static("webhook-id"),
                &request.id,
            );
            insert(
                &mut headers,
                HeaderName::from_static("webhook-timestamp"),
                &now.to_string(),
            );
            insert(
                &mut headers,
                HeaderName::from_static("webhook-signature"),
                &signer.sign(&request.id, now, &request.body),
            );
        }
        let sent = client
            .post(&settings.url)
            .headers(headers)
            .body(request.body.clone())
            .send()
            .await;
        let outcome = match sent {
            Ok(answer) => {
                let retry_after = answer
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                Attempt::of_status(answer.status().as_u16(), retry_after.as_deref())
            }
            Err(error) => Attempt::Retryable {
                error: error_chain(&error),
                retry_after: None,
            },
        };
        match outcome {
            Attempt::Delivered => return Ok(()),
            Attempt::Final { error } => return Err(error),
            Attempt::Retryable { error, .. } if attempt >= settings.retry.max_attempts => {
                return Err(format!("{error} (after {attempt} attempts)"))
            }
            Attempt::Retryable { error, retry_after } => {
                attempt += 1;
                let wait = settings.retry.wait(attempt, retry_after, &mut rng);
                tracing::debug!(
                    "webhook {}: {error}; attempt {attempt} in {wait:?}",
                    settings.url
                );
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// An error with its causes, `: `-separated (reqwest's own message names
/// only the request).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
