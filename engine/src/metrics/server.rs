//! The job's HTTP endpoint: `GET /metrics` (Prometheus), `GET /healthz`
//! (the process answers), `GET /readyz` (partitions assigned, restored and
//! consuming) and `POST /reload` (re-read the rules).
//!
//! A deliberately small HTTP/1.1 server: one request per connection, the
//! request head bounded in size and time, no body read. It binds where the
//! config says, 127.0.0.1 by default, with a warning for any other address.
//!
//! With a token (the environment variable [`TOKEN_VARIABLE`], never the
//! config file, which is often shared), `POST /reload` and `GET /metrics`
//! need `Authorization: Bearer TOKEN` and answer 401 otherwise; the probes
//! `/healthz` and `/readyz` stay open. Reload requests are coalesced: while
//! one is pending, another answers 202 without queueing a second reload.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use http_source::auth::bearer_matches;

use super::exposition::{render, CONTENT_TYPE};
use super::Metrics;

/// Longest request head read.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long a client may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The environment variable holding the endpoint's bearer token.
pub const TOKEN_VARIABLE: &str = "EDDY_API_TOKEN";

/// The bearer token of [`TOKEN_VARIABLE`], if set and not empty.
pub fn token_from_env() -> Option<Arc<str>> {
    std::env::var(TOKEN_VARIABLE)
        .ok()
        .filter(|t| !t.is_empty())
        .map(Arc::from)
}

/// Warns when the endpoint listens beyond this machine: the metrics name
/// rules and streams, and `/reload` acts on the job.
pub fn warn_if_exposed(address: SocketAddr, token: bool) {
    if !address.ip().is_loopback() {
        tracing::warn!(
            "the metrics endpoint listens on {address}, not a loopback address: other machines can reach it{}",
            if token { "" } else { " (set EDDY_API_TOKEN to require a token for /metrics and /reload)" }
        );
    }
}

/// Binds `address`; the returned listener is handed to [`serve`].
pub async fn bind(address: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// Answers requests until the task is dropped. `reload` receives a message
/// per `POST /reload` (`None`: reloads are not offered); `token`, when
/// given, is required for `/reload` and `/metrics`.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    reload: Option<mpsc::Sender<()>>,
    token: Option<Arc<str>>,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            // Out of file descriptors and the like: wait, then go on.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let metrics = metrics.clone();
        let reload = reload.clone();
        let token = token.clone();
        tokio::spawn(async move {
            if let Err(error) = answer(stream, &metrics, reload.as_ref(), token.as_deref()).await {
                tracing::debug!("metrics endpoint, client {peer}: {error}");
            }
        });
    }
}

/// The address a listener is bound to, for the startup log.
pub fn local_address(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}

async fn answer(
    mut stream: TcpStream,
    metrics: &Metrics,
    reload: Option<&mpsc::Sender<()>>,
    token: Option<&str>,
) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => return respond(&mut stream, 408, "text/plain", "request timeout\n").await,
    };
    let first_line = head.lines().next().unwrap_or_default();
    let mut words = first_line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let guarded = matches!(path, "/metrics" | "/reload");
    if guarded && !authorized(&head, token) {
        return respond(
            &mut stream,
            401,
            "text/plain",
            "a bearer token is required\n",
        )
        .await;
    }
    match (method, path) {
        ("GET", "/metrics") => respond(&mut stream, 200, CONTENT_TYPE, &render(metrics)).await,
        ("GET", "/healthz") => respond(&mut stream, 200, "text/plain", "ok\n").await,
        ("GET", "/readyz") if metrics.is_ready() => {
            respond(&mut stream, 200, "text/plain", "ready\n").await
        }
        ("GET", "/readyz") => respond(&mut stream, 503, "text/plain", "not ready\n").await,
        ("POST", "/reload") => match reload {
            Some(sender) if sender.try_send(()).is_ok() => {
                respond(&mut stream, 202, "text/plain", "reload requested\n").await
            }
            // One pending request is enough: it will read the files as they are then.
            Some(_) => respond(&mut stream, 202, "text/plain", "reload already pending\n").await,
            None => respond(&mut stream, 404, "text/plain", "reload is not offered\n").await,
        },
        _ => respond(&mut stream, 404, "text/plain", "not found\n").await,
    }
}

/// Whether `head` carries `Authorization: Bearer TOKEN` (always, without a token).
fn authorized(head: &str, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
    head.lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("authorization"))
        .any(|(_, value)| bearer_matches(Some(value), token))
}

/// Reads up to the end of the request head (or [`MAX_HEAD_BYTES`]); returns
/// it as text.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::with_capacity(512);
    let mut buffer = [0u8; 1024];
    while head.len() < MAX_HEAD_BYTES && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        401 => "Unauthorized",
        404 => "Not Found",
        408 => "Request Timeout",
        _ => "Service Unavailable",
    };
    let challenge = if status == 401 {
        "WWW-Authenticate: Bearer\r\n"
    } else {
        ""
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{challenge}Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(address: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn serves_metrics_health_readiness_and_reload() {
        let listener = bind("127.0.0.1:0").await.unwrap();
        let address = local_address(&listener).unwrap();
        let metrics = Arc::new(Metrics::new());
        metrics.events_in("auth", 7);
        let (reload, mut reloads) = mpsc::channel(1);
        let server = tokio::spawn(serve(listener, metrics.clone(), Some(reload), None));

        let response = get(address, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.contains("eddy_events_in_total{stream=\"auth\"} 7"));
        assert!(get(address, "GET /healthz HTTP/1.1\r\n\r\n")
            .await
            .contains("200 OK"));
        assert!(get(address, "GET /readyz HTTP/1.1\r\n\r\n")
            .await
            .contains("503"));
        metrics.set_ready(true);
        assert!(get(address, "GET /readyz HTTP/1.1\r\n\r\n")
            .await
            .contains("200 OK"));
        assert!(get(address, "POST /reload HTTP/1.1\r\n\r\n")
            .await
            .contains("202"));
        assert_eq!(reloads.recv().await, Some(()));
        assert!(get(address, "GET /nope HTTP/1.1\r\n\r\n")
            .await
            .contains("404"));
        server.abort();
    }

    #[tokio::test]
    async fn with_a_token_reload_and_metrics_need_it_and_reloads_coalesce() {
        let listener = bind("127.0.0.1:0").await.unwrap();
        let address = local_address(&listener).unwrap();
        let (reload, mut reloads) = mpsc::channel(1);
        let token: Arc<str> = Arc::from("s3cret-token");
        let server = tokio::spawn(serve(
            listener,
            Arc::new(Metrics::new()),
            Some(reload),
            Some(token),
        ));
        let status = |response: String| response.split(' ').nth(1).unwrap_or("").to_string();
        for request in [
            "POST /reload HTTP/1.1\r\n\r\n",
            "POST /reload HTTP/1.1\r\nAuthorization: Bearer wrong-token!\r\n\r\n",
            "POST /reload HTTP/1.1\r\nAuthorization: Bearer s3cret-tokeN\r\n\r\n",
            "POST /reload HTTP/1.1\r\nAuthorization: Basic s3cret-token\r\n\r\n",
            "GET /metrics HTTP/1.1\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n",
        ] {
            let response = get(address, request).await;
            assert_eq!(status(response.clone()), "401", "{request}: {response}");
            assert!(response.contains("WWW-Authenticate: Bearer\r\n"));
        }
        assert!(reloads.try_recv().is_err(), "no reload without the token");
        // The probes stay open.
        assert_eq!(
            status(get(address, "GET /healthz HTTP/1.1\r\n\r\n").await),
            "200"
        );
        assert_eq!(
            status(get(address, "GET /readyz HTTP/1.1\r\n\r\n").await),
            "503"
        );
        let good = "GET /metrics HTTP/1.1\r\nauthorization:  Bearer s3cret-token\r\n\r\n";
        assert_eq!(status(get(address, good).await), "200");
        // Ten requests while none is taken: all accepted, one reload queued.
        let post = "POST /reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-token\r\n\r\n";
        let mut bodies = Vec::new();
        for _ in 0..10 {
            let response = get(address, post).await;
            assert_eq!(status(response.clone()), "202", "{response}");
            bodies.push(response.ends_with("reload already pending\n"));
        }
        assert_eq!(bodies.iter().filter(|pending| **pending).count(), 9);
        assert_eq!(reloads.recv().await, Some(()));
        assert!(reloads.try_recv().is_err(), "coalesced into one");
        server.abort();
    }
}
