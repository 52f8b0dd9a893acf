//! The S3 calls the upload functions make, behind a narrow trait so
//! handlers can be exercised against any implementation; [`S3Objects`] is
//! the real one.

use crate::AwsError;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use std::future::Future;
use std::time::Duration;

/// Size and type of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Bytes.
    pub size: u64,
    /// Content-Type, if stored.
    pub content_type: Option<String>,
}

/// A multipart upload not yet completed or aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// Object key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// When it was started (epoch seconds).
    pub initiated: i64,
}

/// Why completing a multipart upload failed.
#[derive(Debug, thiserror::Error)]
pub enum CompleteError {
    /// S3 rejected the client's part list (wrong ETag, missing or too small part).
    #[error("{0}")]
    Rejected(String),
    /// The upload does not exist (already completed or aborted).
    #[error("the multipart upload no longer exists")]
    NoSuchUpload,
    /// Anything else.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// S3 operations on one bucket.
pub trait Objects: Send + Sync {
    /// A presigned PUT for `key` with `content_type`.
    fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires: Duration,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// Starts a multipart upload; returns its id.
    fn create_multipart(
        &self,
        key: &str,
        content_type: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// A presigned UploadPart for part `part` of an upload.
    fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        expires: Duration,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// Completes a multipart upload from `(part number, ETag)` pairs.
    fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> impl Future<Output = Result<(), CompleteError>> + Send;
    /// Size and type of `key`, or `None` when it does not exist.
    fn head(&self, key: &str) -> impl Future<Output = Result<Option<ObjectInfo>, AwsError>> + Send;
    /// Multipart uploads in progress under `prefix`.
    fn pending_uploads(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<PendingUpload>, AwsError>> + Send;
    /// Aborts a multipart upload (an already-gone upload is not an error).
    fn abort_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// [`Objects`] on a real bucket through the AWS SDK.
#[derive(Clone, Debug)]
pub struct S3Objects {
    /// The client.
    pub client: aws_sdk_s3::Client,
    /// The bucket.
    pub bucket: String,
}

fn presigning(expires: Duration) -> Result<PresigningConfig, AwsError> {
    PresigningConfig::expires_in(expires).map_err(|e| AwsError::from_sdk("presigning config", e))
}

impl Objects for S3Objects {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires: Duration,
    ) -> Result<String, AwsError> {
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .presigned(presigning(expires)?)
            .await
            .map_err(|e| AwsError::from_sdk("presigning PutObject", e))?;
        Ok(req.uri().to_string())
    }

    async fn create_multipart(&self, key: &str, content_type: &str) -> Result<String, AwsError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateMultipartUpload", e))?;
        out.upload_id()
            .map(str::to_string)
            .ok_or_else(|| AwsError("CreateMultipartUpload returned no upload id".into()))
    }

    async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        expires: Duration,
    ) -> Result<String, AwsError> {
        let req = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part as i32)
            .presigned(presigning(expires)?)
            .await
            .map_err(|e| AwsError::from_sdk("presigning UploadPart", e))?;
        Ok(req.uri().to_string())
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<(), CompleteError> {
        let parts = parts
            .iter()
            .map(|(n, etag)| {
                CompletedPart::builder()
                    .part_number(*n as i32)
                    .e_tag(etag)
                    .build()
            })
            .collect();
        let result = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // A 200 whose body is no `<Error>` completed the upload (S3
            // reports late failures as a 200 with an `<Error>` body); only
            // reading the answer failed, which nothing here uses. moto 5.2,
            // the local emulator, names the answer's root element
            // `CompleteMultipartUploadResponse`, which the SDK rejects.
            Err(e)
                if e.raw_response().is_some_and(|r| {
                    r.status().as_u16() == 200
                        && r.body()
                            .bytes()
                            .is_some_and(|b| !String::from_utf8_lossy(b).contains("<Error>"))
                }) =>
            {
                Ok(())
            }
            Err(e) => {
                let code = e.code().unwrap_or_default().to_string();
                match code.as_str() {
                    "NoSuchUpload" => Err(CompleteError::NoSuchUpload),
                    "InvalidPart" | "InvalidPartOrder" | "EntityTooSmall" | "MalformedXML" => Err(
                        CompleteError::Rejected(e.message().unwrap_or(&code).to_string()),
                    ),
                    _ => Err(AwsError::from_sdk("CompleteMultipartUpload", e).into()),
                }
            }
        }
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, AwsError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectInfo {
                size: out.content_length().unwrap_or_default().max(0) as u64,
                content_type: out.content_type().map(str::to_string),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(AwsError::from_sdk("HeadObject", e)),
        }
    }

    async fn pending_uploads(&self, prefix: &str) -> Result<Vec<PendingUpload>, AwsError> {
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.clone())
                .set_upload_id_marker(id_marker.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ListMultipartUploads", e))?;
            for u in page.uploads() {
                // An upload whose start time is unknown is never judged stale.
                if let (Some(key), Some(id), Some(initiated)) =
                    (u.key(), u.upload_id(), u.initiated())
                {
                    out.push(PendingUpload {
                        key: key.to_string(),
                        upload_id: id.to_string(),
                        initiated: initiated.secs(),
                    });
                }
            }
            if page.is_truncated() != Some(true) {
                return Ok(out);
            }
            key_marker = page.next_key_marker().map(str::to_string);
            id_marker = page.next_upload_id_marker().map(str::to_string);
            if key_marker.is_none() {
                return Ok(out);
            }
        }
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), AwsError> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("NoSuchUpload") => Ok(()),
            Err(e) => Err(AwsError::from_sdk("AbortMultipartUpload", e)),
        }
    }
}
