//! S3 buckets as `destroy` sees them: whether one holds objects, emptying
//! it (every version and delete marker), and deleting it.

use super::explain;
use anyhow::{bail, Result};
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use std::future::Future;

/// The bucket calls `destroy` makes.
pub trait Buckets {
    /// How many objects (versions and delete markers included) the bucket
    /// holds, counted up to `limit`; `None` when the bucket does not exist.
    fn count(&self, bucket: &str, limit: usize) -> impl Future<Output = Result<Option<usize>>>;
    /// Deletes every object version and delete marker; returns how many.
    fn empty(&self, bucket: &str) -> impl Future<Output = Result<usize>>;
    /// Deletes the (empty) bucket.
    fn delete(&self, bucket: &str) -> impl Future<Output = Result<()>>;
}

/// [`Buckets`] on S3.
pub struct S3Buckets {
    client: aws_sdk_s3::Client,
}

impl S3Buckets {
    /// A client for `sdk` (path-style when an endpoint is set).
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: super::s3_client(sdk),
        }
    }

    /// One page of versions and delete markers, as identifiers.
    async fn page(
        &self,
        bucket: &str,
        key_marker: Option<String>,
        version_marker: Option<String>,
    ) -> Result<Option<(Vec<ObjectIdentifier>, Option<(String, Option<String>)>)>> {
        let out = match self
            .client
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
                return Ok(None)
            }
            Err(e) => bail!(explain(&format!("listing the objects of {bucket}"), &e)),
        };
        let mut ids = Vec::new();
        let versions = out.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = out
            .delete_markers()
            .iter()
            .map(|m| (m.key(), m.version_id()));
        for (key, version) in versions.chain(markers) {
            let Some(key) = key else { continue };
            ids.push(
                ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version.filter(|v| *v != "null").map(str::to_string))
                    .build()?,
            );
        }
        let next = if out.is_truncated() == Some(true) {
            out.next_key_marker().map(|k| {
                (
                    k.to_string(),
                    out.next_version_id_marker().map(str::to_string),
                )
            })
        } else {
            None
        };
        Ok(Some((ids, next)))
    }
}

impl Buckets for S3Buckets {
    async fn count(&self, bucket: &str, limit: usize) -> Result<Option<usize>> {
        let mut n = 0;
        let mut marker = None;
        loop {
            let (k, v) = marker.map_or((None, None), |(k, v)| (Some(k), v));
            let Some((ids, next)) = self.page(bucket, k, v).await? else {
                return Ok(None);
            };
            n += ids.len();
            match next {
                Some(m) if n < limit => marker = Some(m),
                _ => return Ok(Some(n)),
            }
        }
    }

    async fn empty(&self, bucket: &str) -> Result<usize> {
        let mut deleted = 0;
        // Deleting changes the listing, so always start again from the top.
        loop {
            let Some((ids, _)) = self.page(bucket, None, None).await? else {
                return Ok(deleted);
            };
            if ids.is_empty() {
                return Ok(deleted);
            }
            for chunk in ids.chunks(1000) {
                let out = self
                    .client
                    .delete_objects()
                    .bucket(bucket)
                    .delete(
                        Delete::builder()
                            .set_objects(Some(chunk.to_vec()))
                            .build()?,
                    )
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!(explain(&format!("emptying {bucket}"), &e)))?;
                if let Some(err) = out.errors().first() {
                    bail!(
                        "emptying {bucket}: {} of {} objects could not be deleted; the first: {} ({})",
                        out.errors().len(),
                        chunk.len(),
                        err.key().unwrap_or("?"),
                        err.message().unwrap_or("no reason given"),
                    );
                }
                deleted += chunk.len();
            }
        }
    }

    async fn delete(&self, bucket: &str) -> Result<()> {
        self.client
            .delete_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(explain(&format!("deleting bucket {bucket}"), &e)))?;
        Ok(())
    }
}
