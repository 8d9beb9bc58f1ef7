//! The job's HTTP endpoint: `GET /metrics` (Prometheus), `GET /healthz`
//! (the process answers), `GET /readyz` (partitions assigned, restored and
//! consuming) and `POST /reload` (re-read the rules).
//!
//! A deliberately small HTTP/1.1 server: one request per connection, the
//! request head bounded in size and time, no body read. It binds where the
//! config says, 127.0.0.1 by default.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::exposition::{render, CONTENT_TYPE};
use super::Metrics;

/// Longest request head read.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long a client may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `address`; the returned listener is handed to [`serve`].
pub async fn bind(address: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// Answers requests until the task is dropped. `reload` receives a message
/// per `POST /reload` (`None`: reloads are not offered).
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, reload: Option<mpsc::Sender<()>>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            // Out of file descriptors and the like: wait, then go on.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let metrics = metrics.clone();
        let reload = reload.clone();
        tokio::spawn(async move {
            if let Err(error) = answer(stream, &metrics, reload.as_ref()).await {
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
) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => return respond(&mut stream, 408, "text/plain", "request timeout\n").await,
    };
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
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

/// Reads up to the end of the request head (or [`MAX_HEAD_BYTES`]); returns
/// its first line.
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
    let first_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(String::from_utf8_lossy(first_line).trim().to_string())
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
        404 => "Not Found",
        408 => "Request Timeout",
        _ => "Service Unavailable",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
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
        let server = tokio::spawn(serve(listener, metrics.clone(), Some(reload)));

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
}
