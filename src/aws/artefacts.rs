//! Where function zips go: one bucket per environment, objects under
//! content-addressed keys, so an unchanged function is never uploaded twice.

use super::explain;
use anyhow::{bail, Context, Result};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};
use std::future::Future;
use std::path::Path;

/// The calls publishing makes.
pub trait ArtefactStore {
    /// Whether the bucket exists (and is ours to use).
    fn bucket_exists(&self, bucket: &str) -> impl Future<Output = Result<bool>>;
    /// Creates the bucket private, encrypted and versioned.
    fn create_bucket(&self, bucket: &str, region: &str) -> impl Future<Output = Result<()>>;
    /// Whether `key` is already stored.
    fn exists(&self, bucket: &str, key: &str) -> impl Future<Output = Result<bool>>;
    /// Uploads the file at `path` to `key`.
    fn upload(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        sha256: &str,
    ) -> impl Future<Output = Result<()>>;
    /// Stores `body` at `key` (a template too large to pass inline, a
    /// hot-swap marker).
    fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> impl Future<Output = Result<()>>;
    /// The object at `key`, `None` when there is none.
    fn get(&self, bucket: &str, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>>>;
    /// Deletes the object at `key` (nothing when there is none).
    fn delete(&self, bucket: &str, key: &str) -> impl Future<Output = Result<()>>;
    /// The keys under `prefix`, sorted; none when the bucket does not exist.
    fn list(&self, bucket: &str, prefix: &str) -> impl Future<Output = Result<Vec<String>>>;
    /// The https URL of `key`, as CloudFormation's `TemplateURL` takes it.
    fn url(&self, bucket: &str, key: &str) -> String;
}

/// [`ArtefactStore`] on S3.
pub struct S3Artefacts {
    /// The client (path-style when an endpoint is set).
    pub client: aws_sdk_s3::Client,
    endpoint: Option<String>,
    region: String,
}

impl S3Artefacts {
    /// A store using `sdk`.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: super::s3_client(sdk),
            endpoint: sdk
                .endpoint_url()
                .map(|u| u.trim_end_matches('/').to_string()),
            region: sdk
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "us-east-1".into()),
        }
    }
}

impl ArtefactStore for S3Artefacts {
    async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => bail!(
                "artefact bucket {bucket} exists but this account may not use it\nhint: bucket names are global; set `artefact_bucket:` for this environment in stackctl.yaml"
            ),
            Err(e) => bail!(explain(&format!("checking artefact bucket {bucket}"), &e)),
        }
    }

    async fn create_bucket(&self, bucket: &str, region: &str) -> Result<()> {
        let mut create = self.client.create_bucket().bucket(bucket);
        // us-east-1 is the one region that takes no location constraint.
        if region != "us-east-1" {
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        create.send().await.map_err(|e| {
            anyhow::anyhow!(explain(&format!("creating artefact bucket {bucket}"), &e))
        })?;
        self.client
            .put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(explain(&format!("blocking public access to {bucket}"), &e))
            })?;
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::Aes256)
                    .build()?,
            )
            .bucket_key_enabled(true)
            .build();
        self.client
            .put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(explain(&format!("encrypting {bucket}"), &e)))?;
        self.client
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(explain(&format!("enabling versioning on {bucket}"), &e))
            })?;
        Ok(())
    }

    async fn exists(&self, bucket: &str, key: &str) -> Result<bool> {
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => bail!(explain(&format!("checking s3://{bucket}/{key}"), &e)),
        }
    }

    async fn upload(&self, bucket: &str, key: &str, path: &Path, sha256: &str) -> Result<()> {
        let body = aws_sdk_s3::primitives::ByteStream::from_path(path)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body)
            .content_type("application/zip")
            .metadata("sha256", sha256)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(explain(&format!("uploading s3://{bucket}/{key}"), &e)))?;
        Ok(())
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<()> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .content_type("application/x-yaml")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(explain(&format!("uploading s3://{bucket}/{key}"), &e)))?;
        Ok(())
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let body = out
                    .body
                    .collect()
                    .await
                    .with_context(|| format!("reading s3://{bucket}/{key}"))?;
                Ok(Some(body.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => bail!(explain(&format!("reading s3://{bucket}/{key}"), &e)),
        }
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(explain(&format!("deleting s3://{bucket}/{key}"), &e)))?;
        Ok(())
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = match self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_bucket()) => {
                    return Ok(keys)
                }
                Err(e) => bail!(explain(&format!("listing s3://{bucket}/{prefix}"), &e)),
            };
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match out.next_continuation_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn url(&self, bucket: &str, key: &str) -> String {
        match &self.endpoint {
            Some(e) => format!("{}/{bucket}/{key}", path_style_host(e)),
            None => format!("https://{bucket}.s3.{}.amazonaws.com/{key}", self.region),
        }
    }
}

/// A custom endpoint as an emulator's CloudFormation reads a `TemplateURL`
/// on it: moto (5.2) takes the bucket from the path only when the host is
/// `localhost`, and otherwise from the host's first label (`127` of
/// `127.0.0.1`), so a loopback address is named `localhost` (the same
/// server).
fn path_style_host(endpoint: &str) -> String {
    for loopback in ["://127.0.0.1", "://[::1]"] {
        if let Some(at) = endpoint.find(loopback) {
            let rest = &endpoint[at + loopback.len()..];
            return format!("{}://localhost{rest}", &endpoint[..at]);
        }
    }
    endpoint.to_string()
}

#[cfg(test)]
mod url_tests {
    use super::path_style_host;

    #[test]
    fn loopback_endpoints_are_named_localhost_for_template_urls() {
        assert_eq!(
            path_style_host("http://127.0.0.1:5000"),
            "http://localhost:5000"
        );
        assert_eq!(
            path_style_host("http://[::1]:4566"),
            "http://localhost:4566"
        );
        assert_eq!(
            path_style_host("https://s3.internal.example:9000"),
            "https://s3.internal.example:9000"
        );
    }
}
