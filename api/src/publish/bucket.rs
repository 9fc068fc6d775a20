//! The bucket, through `object_store`'s S3 client (SigV4 signing, retries of transient
//! errors): create-only writes of immutable objects, the one overwritten object
//! (`checkpoint`), reads and listings, all under the configured prefix.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt as _, PutMode,
    PutOptions, RetryConfig,
};

use super::credentials::Credentials;
use super::PublishError;
use crate::config::PublishSettings;

/// `Cache-Control` of tiles, bundles and stamps: their bytes never change (C2SP
/// tlog-tiles), so a CDN may keep them for a week without asking again.
pub const IMMUTABLE: &str = "public, max-age=604800, immutable";
/// `Cache-Control` of `checkpoint`, which every publication replaces.
pub const MUTABLE: &str = "no-cache";
pub const OCTETS: &str = "application/octet-stream";
pub const TEXT: &str = "text/plain; charset=utf-8";

/// Timeout of one request to the bucket.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What a create-only write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Written,
    /// The object was there already with the same bytes (a publication before a crash).
    Equal,
}

/// A bucket and the prefix inside it.
#[derive(Debug, Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl Bucket {
    /// The S3 client of the settings: the standard `AWS_*` variables first, then what
    /// the settings name. `credentials` replaces the variables' access key when given.
    pub fn open(
        settings: &PublishSettings,
        credentials: Option<Credentials>,
    ) -> Result<Bucket, PublishError> {
        let bucket = settings
            .bucket
            .as_deref()
            .ok_or_else(|| PublishError::Client("`publish_bucket` is not set".into()))?;
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_allow_http(settings.allow_http)
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(settings.allow_http)
                    .with_timeout(REQUEST_TIMEOUT)
                    .with_connect_timeout(Duration::from_secs(2)),
            )
            // The client retries a few times quickly; the publisher's own loop backs
            // off beyond that, so a stopped bucket never holds a request for minutes.
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(50),
                    max_backoff: Duration::from_millis(500),
                    base: 2.0,
                },
                max_retries: 2,
                retry_timeout: Duration::from_secs(15),
            });
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &settings.region {
            builder = builder.with_region(region);
        }
        if let Some(c) = credentials {
            builder = builder
                .with_access_key_id(c.access_key_id)
                .with_secret_access_key(c.secret_access_key);
        }
        let store = builder
            .build()
            .map_err(|e| PublishError::Client(e.to_string()))?;
        Ok(Bucket::from_store(Arc::new(store), &settings.prefix))
    }

    /// A bucket over any object store (tests, tools), with keys under `prefix`.
    pub fn from_store(store: Arc<dyn ObjectStore>, prefix: &str) -> Bucket {
        Bucket {
            store,
            prefix: prefix.trim_matches('/').to_string(),
        }
    }

    /// The object's full name in the bucket.
    pub fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    fn path(&self, key: &str) -> Result<Path, PublishError> {
        let full = self.full_key(key);
        Path::parse(&full).map_err(|e| PublishError::Client(format!("object key {full}: {e}")))
    }

    /// Writes an immutable object only if the key is free (`If-None-Match: *`). When it
    /// is taken, the stored bytes are read back: equal is success, anything else is a
    /// [`PublishError::Conflict`], and the stored object is left as it is.
    pub async fn put_immutable(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &'static str,
    ) -> Result<PutOutcome, PublishError> {
        let path = self.path(key)?;
        let opts = put_options(PutMode::Create, IMMUTABLE, content_type);
        match self.store.put_opts(&path, bytes.clone().into(), opts).await {
            Ok(_) => Ok(PutOutcome::Written),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let stored = self.get(key).await?.unwrap_or_default();
                if stored == bytes {
                    Ok(PutOutcome::Equal)
                } else {
                    Err(PublishError::Conflict {
                        key: self.full_key(key),
                        bucket_len: stored.len(),
                        log_len: bytes.len(),
                    })
                }
            }
            Err(e) => Err(store_error("writing", &self.full_key(key), e)),
        }
    }

    /// Replaces `checkpoint` (the one mutable object).
    pub async fn put_checkpoint(&self, note: Bytes) -> Result<(), PublishError> {
        let path = self.path("checkpoint")?;
        let opts = put_options(PutMode::Overwrite, MUTABLE, TEXT);
        self.store
            .put_opts(&path, note.into(), opts)
            .await
            .map(|_| ())
            .map_err(|e| store_error("writing", &self.full_key("checkpoint"), e))
    }

    /// The object's bytes, `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, PublishError> {
        let path = self.path(key)?;
        let found = match self.store.get(&path).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_error("reading", &self.full_key(key), e)),
        };
        found
            .bytes()
            .await
            .map(Some)
            .map_err(|e| store_error("reading", &self.full_key(key), e))
    }

    /// Every key under `under` (relative to the prefix), in no particular order.
    pub async fn list(&self, under: &str) -> Result<Vec<String>, PublishError> {
        let base = self.path(under)?;
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut stream = self.store.list(Some(&base));
        let mut keys = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|e| store_error("listing", &self.full_key(under), e))?;
            let full = meta.location.to_string();
            keys.push(full.strip_prefix(&strip).unwrap_or(&full).to_string());
        }
        Ok(keys)
    }
}

fn put_options(mode: PutMode, cache: &'static str, content_type: &'static str) -> PutOptions {
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::CacheControl, cache.into());
    attributes.insert(Attribute::ContentType, content_type.into());
    PutOptions {
        mode,
        attributes,
        ..PutOptions::default()
    }
}

fn store_error(doing: &str, key: &str, e: object_store::Error) -> PublishError {
    PublishError::Bucket(format!("{doing} {key}: {e}"))
}
