//! Shared by the tests against an S3-protocol server: find it (or skip),
//! make a bucket, open eddy's storage on it.
//!
//! The server is `EDDY_S3_ENDPOINT`, or http://127.0.0.1:9000 (`.ci/s3.sh`
//! starts moto there). Without one the tests print why and pass, so
//! `cargo test` works on a machine without it; under CI (`CI=true`) or
//! with `EDDY_REQUIRE_S3=1` they fail instead.

#![allow(dead_code)] // each test file uses a different part

// Each support is self-contained, so a test file using both loads this twice.
#[allow(clippy::duplicate_mod)]
#[path = "../ci_support/mod.rs"]
mod ci_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bucket::{S3Credentials, S3Settings, S3Storage};
use engine::checkpoint::Storage;

pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:9000";
/// Any key does for a test server; the environment the `eddy` binary reads.
pub const ACCESS_KEY_ID: &str = "eddy-test";
pub const SECRET_ACCESS_KEY: &str = "eddy-test-secret";
pub const REGION: &str = "us-east-1";

/// The endpoint to test against, or `None` (after printing why) to skip.
pub fn endpoint() -> Option<String> {
    let endpoint = std::env::var("EDDY_S3_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    if address(&endpoint)
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
    {
        return Some(endpoint);
    }
    assert!(
        !ci_support::server_required("EDDY_REQUIRE_S3"),
        "no S3-protocol server at {endpoint}, and CI or EDDY_REQUIRE_S3 requires one \
         (start one with .ci/s3.sh, or set EDDY_S3_ENDPOINT)"
    );
    eprintln!("skipped: no S3-protocol server at {endpoint} (start one with .ci/s3.sh)");
    None
}

/// Returns from the test when there is no server.
#[macro_export]
macro_rules! require_s3 {
    () => {
        match s3_support::endpoint() {
            Some(endpoint) => endpoint,
            None => return,
        }
    };
}

fn address(endpoint: &str) -> Option<SocketAddr> {
    let host = endpoint.strip_prefix("http://")?.trim_end_matches('/');
    host.to_socket_addrs().ok()?.next()
}

/// A bucket of its own for one test run: `name` and a unique suffix.
pub fn new_bucket(endpoint: &str, name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let bucket = format!("{name}-{}-{}", std::process::id(), nanos % 1_000_000_000);
    create_bucket(endpoint, &bucket);
    bucket
}

/// Creates `bucket` with a plain HTTP request (test servers take unsigned
/// bucket creation; object_store has no call for it).
pub fn create_bucket(endpoint: &str, bucket: &str) {
    let address = address(endpoint).expect("an http:// endpoint");
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap_or("");
    assert!(
        status == "200" || status == "409",
        "creating bucket {bucket}: {response}"
    );
}

pub fn settings(endpoint: &str, bucket: &str, prefix: &str) -> S3Settings {
    S3Settings {
        bucket: bucket.into(),
        prefix: prefix.into(),
        endpoint: Some(endpoint.into()),
        region: Some(REGION.into()),
        credentials: Some(S3Credentials {
            access_key_id: ACCESS_KEY_ID.into(),
            secret_access_key: SECRET_ACCESS_KEY.into(),
        }),
    }
}

pub fn storage(endpoint: &str, bucket: &str, prefix: &str) -> Arc<dyn Storage> {
    Arc::new(S3Storage::open(&settings(endpoint, bucket, prefix)).unwrap())
}

/// The environment that points an `eddy` process at the server.
pub fn eddy_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_REGION", REGION.to_string()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_string()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
    ]
}
