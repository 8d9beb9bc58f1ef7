//! Checkpoints in an S3-protocol object store (AWS S3, MinIO, Ceph, moto),
//! through the `object_store` crate DataFusion uses: the [`Storage`] of a
//! `checkpoint.dir = "s3://BUCKET/PREFIX"`.
//!
//! A checkpoint is created with a conditional put (`If-None-Match: *`), so
//! two instances writing one partition's series meet on the same key and
//! the store refuses the second: that is the fence of
//! [`runtime::checkpoint::CheckpointStore`]. Stores without conditional
//! puts cannot fence and are not supported.
//!
//! The driver and the rebalance callback are synchronous; each request runs
//! on this storage's own small tokio runtime and the caller waits for it,
//! which works from any thread, in a tokio runtime or not.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig};
use runtime::checkpoint::{CheckpointError, Created, Listing, Storage};

/// Where a bucket is and how to reach it; credentials come from the usual
/// `AWS_*` environment variables only, never from a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// Key prefix of every object, without leading or trailing `/`.
    pub prefix: String,
    /// Overrides `AWS_ENDPOINT_URL`; `http://` endpoints are allowed.
    pub endpoint: Option<String>,
    /// Overrides `AWS_REGION`.
    pub region: Option<String>,
    /// Overrides `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`: for
    /// programs that embed eddy, and tests. The `eddy` binary never sets
    /// it: its credentials come from the environment.
    pub credentials: Option<S3Credentials>,
}

/// A static access key.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A bucket prefix as checkpoint [`Storage`].
#[derive(Debug)]
pub struct S3Storage {
    store: Arc<AmazonS3>,
    bucket: String,
    prefix: String,
    /// `None` only while dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

/// How long one request may be retried for before the error is reported.
const RETRY_TIMEOUT: Duration = Duration::from_secs(30);

impl S3Storage {
    /// Connects to the bucket of `settings` (no request is made yet).
    pub fn open(settings: &S3Settings) -> Result<Self, CheckpointError> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&settings.bucket)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_retry(RetryConfig {
                max_retries: 5,
                retry_timeout: RETRY_TIMEOUT,
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &settings.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &settings.credentials {
            builder = builder
                .with_access_key_id(&key.access_key_id)
                .with_secret_access_key(&key.secret_access_key);
        }
        // A plain-HTTP endpoint (a store on the same host or network) is
        // allowed when it is named: the operator chose it.
        let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
        if endpoint.is_some_and(|e| e.starts_with("http://")) {
            builder = builder.with_allow_http(true);
        }
        let location = format!("s3://{}/{}", settings.bucket, settings.prefix);
        let store = builder.build().map_err(|e| remote(&location, e))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("eddy-s3")
            .enable_all()
            .build()
            .map_err(|e| remote(&location, e))?;
        Ok(S3Storage {
            store: Arc::new(store),
            bucket: settings.bucket.clone(),
            prefix: settings.prefix.trim_matches('/').to_string(),
            runtime: Some(runtime),
        })
    }

    fn path(&self, key: &str) -> Path {
        let key = key.trim_matches('/');
        match (self.prefix.is_empty(), key.is_empty()) {
            (true, _) => Path::from(key),
            (false, true) => Path::from(self.prefix.as_str()),
            (false, false) => Path::from(format!("{}/{key}", self.prefix)),
        }
    }

    /// Runs `request` on this storage's runtime and waits for its result.
    fn wait<T: Send + 'static>(
        &self,
        key: &str,
        request: impl Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> Result<T, CheckpointError> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        match &self.runtime {
            Some(runtime) => {
                runtime.spawn(async move {
                    // The receiver waits until this is sent.
                    let _ = sender.send(request.await);
                });
            }
            // Only while dropped: nothing will answer.
            None => drop(sender),
        }
        match receiver.recv() {
            Ok(result) => result.map_err(|e| remote(&self.location(key), e)),
            Err(dropped) => Err(remote(&self.location(key), dropped)),
        }
    }
}

impl Drop for S3Storage {
    /// Dropping a runtime blocks, which tokio forbids inside another
    /// runtime, where the job drops its storage: let it end in the background.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Storage for S3Storage {
    fn list(&self, prefix: &str) -> Result<Listing, CheckpointError> {
        let store = Arc::clone(&self.store);
        let path = self.path(prefix);
        let listed = self.wait(prefix, async move {
            let under = (!path.as_ref().is_empty()).then_some(&path);
            store.list_with_delimiter(under).await
        })?;
        let name = |path: &Path| path.filename().map(str::to_string);
        let mut listing = Listing {
            objects: listed
                .objects
                .iter()
                .filter_map(|o| name(&o.location))
                .collect(),
            prefixes: listed.common_prefixes.iter().filter_map(name).collect(),
        };
        listing.objects.sort();
        listing.prefixes.sort();
        Ok(listing)
    }

    fn read(&self, key: &str) -> Result<Option<Vec<u8>>, CheckpointError> {
        let store = Arc::clone(&self.store);
        let path = self.path(key);
        self.wait(key, async move {
            match store.get(&path).await {
                Ok(got) => Ok(Some(got.bytes().await?.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(other) => Err(other),
            }
        })
    }

    fn create(&self, key: &str, bytes: &[u8]) -> Result<Created, CheckpointError> {
        let store = Arc::clone(&self.store);
        let path = self.path(key);
        let payload = PutPayload::from(bytes.to_vec());
        self.wait(key, async move {
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            match store.put_opts(&path, payload, options).await {
                Ok(_) => Ok(Created::Yes),
                Err(object_store::Error::AlreadyExists { .. }) => Ok(Created::AlreadyExists),
                Err(other) => Err(other),
            }
        })
    }

    fn delete(&self, key: &str) -> Result<(), CheckpointError> {
        let store = Arc::clone(&self.store);
        let path = self.path(key);
        self.wait(key, async move {
            match store.delete(&path).await {
                Err(object_store::Error::NotFound { .. }) => Ok(()),
                other => other,
            }
        })
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.path(key))
    }
}

fn remote(
    location: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> CheckpointError {
    CheckpointError::Remote {
        location: location.to_string(),
        source: Box::new(source),
    }
}
