//! The listener: routes `POST`s to their stream's log and answers as a
//! Knative sink must.
//!
//! | answer | when |
//! |---|---|
//! | `202` | the request's events are in the log, synced; the body counts accepted and rejected ones |
//! | `400` | nothing in it could be accepted (each reason in the body) |
//! | `401` | a token is required and was not given |
//! | `404`, `405` | no stream at this path; not a `POST` |
//! | `413` | the body is over `max_request_bytes` |
//! | `415` | a content type that carries no events |
//! | `429` + `Retry-After` | the job is behind (`max_backlog` records not yet read) or the log's queue is full: nothing is queued in memory |
//! | `503` + `Retry-After` | the log could not be written |
//!
//! Rejected events of a request that also had good ones are still written
//! to the log, so the job sends them to its dead-letter output exactly once
//! with their reason. `GET /healthz` (the process answers) and `GET
//! /readyz` (the job reads its input) are open without the token.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::auth::bearer_matches;
use crate::binding::{envelopes, Envelope};
use crate::wal::{Record, WalError, WalWriter};

/// How long a client may take to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send its body.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Rejections itemised in an answer at most (the counts are complete).
const ERRORS_LISTED: usize = 100;

/// Decides which events of a request fit their stream: per event, `None`
/// or the reason (a dead-letter reason) and a detail.
pub type Check = Arc<dyn Fn(&[Vec<u8>]) -> Vec<Option<(String, String)>> + Send + Sync>;

/// One stream's path on a listener.
#[derive(Clone)]
pub struct Route {
    pub path: String,
    pub wal: WalWriter,
    pub check: Check,
    /// Records appended but not yet read by the job at most before `429`.
    pub max_backlog: u64,
}

/// Told the status of every answer (the job counts them per status).
pub type Answered = Arc<dyn Fn(u16) + Send + Sync>;

/// How a listener answers.
#[derive(Clone)]
pub struct ServerSettings {
    pub listen: String,
    /// When set, `POST`s need `Authorization: Bearer <token>`.
    pub token: Option<String>,
    pub max_request_bytes: usize,
    pub answered: Option<Answered>,
}

/// Whether the job reads its input (`/readyz`).
pub type Ready = Arc<dyn Fn() -> bool + Send + Sync>;

/// A listener, started.
pub struct HttpServer {
    pub address: SocketAddr,
    pub task: JoinHandle<()>,
}

struct State {
    routes: BTreeMap<String, Route>,
    token: Option<String>,
    max_request_bytes: usize,
    ready: Ready,
    answered: Option<Answered>,
}

impl HttpServer {
    /// Binds `settings.listen` and answers requests on the current runtime
    /// until the task is aborted. `ready` is what `/readyz` reports.
    pub async fn start(
        settings: ServerSettings,
        routes: Vec<Route>,
        ready: Ready,
    ) -> std::io::Result<HttpServer> {
        let listener = TcpListener::bind(&settings.listen).await?;
        let address = listener.local_addr()?;
        let state = Arc::new(State {
            routes: routes.into_iter().map(|r| (r.path.clone(), r)).collect(),
            token: settings.token,
            max_request_bytes: settings.max_request_bytes,
            ready,
            answered: settings.answered,
        });
        let task = tokio::spawn(accept(listener, state));
        Ok(HttpServer { address, task })
    }
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            // Out of file descriptors and the like: wait, then go on.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(|request| answer(request, state.clone()));
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!("http source, client {peer}: {error}");
            }
        });
    }
}

type Answer = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Answer {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

fn json_reply(status: StatusCode, body: serde_json::Value) -> Answer {
    let mut response = reply(status, body.to_string());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn retry_later(status: StatusCode, why: String) -> Answer {
    let mut response = json_reply(status, serde_json::json!({ "error": why }));
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

async fn answer(request: Request<Incoming>, state: Arc<State>) -> Result<Answer, Infallible> {
    let answer = route(request, &state).await;
    if let Some(answered) = &state.answered {
        answered(answer.status().as_u16());
    }
    Ok(answer)
}

async fn route(request: Request<Incoming>, state: &State) -> Answer {
    let path = request.uri().path().to_string();
    match (request.method(), path.as_str()) {
        (&Method::GET, "/healthz") => reply(StatusCode::OK, "ok\n"),
        (&Method::GET, "/readyz") if (state.ready)() => reply(StatusCode::OK, "ready\n"),
        (&Method::GET, "/readyz") => reply(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        _ => match state.routes.get(&path) {
            None => reply(StatusCode::NOT_FOUND, format!("no stream at {path}\n")),
            Some(_) if request.method() != Method::POST => {
                let mut response = reply(StatusCode::METHOD_NOT_ALLOWED, "POST events here\n");
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("POST"));
                response
            }
            Some(route) => post(request, route, state).await,
        },
    }
}

async fn post(request: Request<Incoming>, route: &Route, state: &State) -> Answer {
    if let Some(token) = &state.token {
        let given = request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !bearer_matches(given, token) {
            let mut response = reply(StatusCode::UNAUTHORIZED, "a bearer token is required\n");
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    let too_large = || {
        reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {} bytes\n", state.max_request_bytes),
        )
    };
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > state.max_request_bytes as u64) {
        return too_large();
    }
    if route.wal.backlog() >= route.max_backlog {
        return retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{} events wait to be read", route.wal.backlog()),
        );
    }
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, state.max_request_bytes).collect();
    let body = match tokio::time::timeout(BODY_TIMEOUT, body).await {
        Err(_) => return reply(StatusCode::REQUEST_TIMEOUT, "the body took too long\n"),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => return too_large(),
        Ok(Err(error)) => return reply(StatusCode::BAD_REQUEST, format!("{error}\n")),
        Ok(Ok(body)) => body.to_bytes(),
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let items = match envelopes(header("content-type"), header, &body) {
        Ok(items) => items,
        Err(unsupported) => {
            return reply(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "content type `{}` carries no events: send CloudEvents or JSON\n",
                    unsupported.0
                ),
            )
        }
    };
    if items.is_empty() {
        return reply(StatusCode::BAD_REQUEST, "no events in the body\n");
    }
    let (records, errors) = judge(route, items);
    let accepted = records.len() - errors.len();
    if let Err(error) = route.wal.append(records).await {
        return match error {
            WalError::Busy(_) => retry_later(StatusCode::TOO_MANY_REQUESTS, error.to_string()),
            other => {
                tracing::error!("http source {}: {other}", route.path);
                retry_later(StatusCode::SERVICE_UNAVAILABLE, other.to_string())
            }
        };
    }
    let status = if accepted == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::ACCEPTED
    };
    json_reply(
        status,
        serde_json::json!({
            "accepted": accepted,
            "rejected": errors.len(),
            "errors": errors.iter().take(ERRORS_LISTED).collect::<Vec<_>>(),
        }),
    )
}

/// The log records of a request's items, and a description of each one
/// rejected.
fn judge(route: &Route, items: Vec<Envelope>) -> (Vec<Record>, Vec<serde_json::Value>) {
    let events: Vec<Vec<u8>> = items
        .iter()
        .filter_map(|item| item.as_ref().ok().cloned())
        .collect();
    let mut verdicts = (route.check)(&events).into_iter();
    let mut errors = Vec::new();
    let records = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| match item {
            Ok(event) => {
                if let Some(Some((reason, detail))) = verdicts.next() {
                    errors.push(serde_json::json!({
                        "index": index, "reason": reason, "detail": detail,
                    }));
                }
                Record::Event(event)
            }
            Err(refusal) => {
                errors.push(serde_json::json!({
                    "index": index, "reason": refusal.reason, "detail": refusal.detail,
                }));
                Record::Refused {
                    reason: refusal.reason.to_string(),
                    detail: refusal.detail,
                    raw: refusal.raw,
                }
            }
        })
        .collect();
    (records, errors)
}
