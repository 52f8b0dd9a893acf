//! The video upload sessions (seed 000): the record each upload function
//! reads and moves through its statuses, behind a narrow trait;
//! [`DynamoSessions`] is the DynamoDB implementation.

use crate::AwsError;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;

/// The index that finds a session by its object key.
pub const KEY_INDEX: &str = "by-object-key";

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// URLs handed out, nothing uploaded yet.
    Created,
    /// The object is in the bucket.
    Uploaded,
    /// process-object recorded the object's size and type.
    Processed,
    /// URLs expired before the upload completed.
    Expired,
}

impl Status {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Uploaded => "uploaded",
            Status::Processed => "processed",
            Status::Expired => "expired",
        }
    }
}

/// How the client uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One presigned PUT.
    Single,
    /// A multipart upload with presigned parts.
    Multipart,
}

/// One upload session, as stored in the UploadSessions table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Partition key.
    pub upload_session_id: String,
    /// `uploads/YYYY-MM-DD/<id>`.
    pub object_key: String,
    /// Life-cycle status.
    pub status: Status,
    /// Single PUT or multipart.
    pub mode: Mode,
    /// Multipart upload id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// Size the client announced.
    pub file_size_bytes: u64,
    /// Content type the client announced.
    pub content_type: String,
    /// Part size (multipart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_size: Option<u64>,
    /// Number of parts (multipart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_count: Option<u32>,
    /// Epoch seconds.
    pub created_at: i64,
    /// When the presigned URLs stop working (epoch seconds).
    pub expires_at: i64,
    /// When DynamoDB may delete the record (epoch seconds, the table's TTL attribute).
    pub ttl: i64,
    /// When the upload completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<i64>,
    /// When process-object recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<i64>,
    /// Size of the stored object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_size_bytes: Option<u64>,
    /// Content type of the stored object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_content_type: Option<String>,
}

/// Attributes set together with a status change.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    /// Upload completion time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<i64>,
    /// Processing time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<i64>,
    /// New expiry of the session's URLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Stored size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_size_bytes: Option<u64>,
    /// Stored content type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_content_type: Option<String>,
}

/// Session storage.
pub trait Sessions: Send + Sync {
    /// Stores a new session (fails if the id exists).
    fn create(&self, s: &Session) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The session, if it exists.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<Session>, AwsError>> + Send;
    /// Moves the session to `to` with `changes` if its status is one of
    /// `from`; `false` when it was not (or the session does not exist).
    fn transition(
        &self,
        id: &str,
        from: &[Status],
        to: Status,
        changes: &Changes,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// The id of the session whose object key is `key`.
    fn find_by_key(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// Sessions still `created` whose URLs expired before `now`.
    fn expired(&self, now: i64) -> impl Future<Output = Result<Vec<Session>, AwsError>> + Send;
}

/// [`Sessions`] in a DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoSessions {
    /// The client.
    pub client: aws_sdk_dynamodb::Client,
    /// The table.
    pub table: String,
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

impl Sessions for DynamoSessions {
    async fn create(&self, session: &Session) -> Result<(), AwsError> {
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(session)
            .map_err(|e| AwsError(format!("encoding session: {e}")))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(uploadSessionId)")
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutItem", e))?;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<Session>, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("uploadSessionId", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetItem", e))?;
        out.item
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|e| AwsError(format!("decoding session {id}: {e}")))
            })
            .transpose()
    }

    async fn transition(
        &self,
        id: &str,
        from: &[Status],
        to: Status,
        changes: &Changes,
    ) -> Result<bool, AwsError> {
        let mut names = HashMap::from([("#status".to_string(), "status".to_string())]);
        let mut values = HashMap::from([(":to".to_string(), s(to.as_str()))]);
        let mut sets = vec!["#status = :to".to_string()];
        let extra: HashMap<String, AttributeValue> = serde_dynamo::to_item(changes)
            .map_err(|e| AwsError(format!("encoding changes: {e}")))?;
        let mut extra: Vec<_> = extra.into_iter().collect();
        extra.sort_by(|a, b| a.0.cmp(&b.0));
        for (i, (k, v)) in extra.into_iter().enumerate() {
            names.insert(format!("#c{i}"), k);
            values.insert(format!(":c{i}"), v);
            sets.push(format!("#c{i} = :c{i}"));
        }
        let mut allowed = Vec::new();
        for (i, f) in from.iter().enumerate() {
            values.insert(format!(":f{i}"), s(f.as_str()));
            allowed.push(format!(":f{i}"));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("uploadSessionId", s(id))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(format!(
                "attribute_exists(uploadSessionId) AND #status IN ({})",
                allowed.join(", ")
            ))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(AwsError::from_sdk("UpdateItem", e)),
        }
    }

    async fn find_by_key(&self, key: &str) -> Result<Option<String>, AwsError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(KEY_INDEX)
            .key_condition_expression("objectKey = :k")
            .expression_attribute_values(":k", s(key))
            .limit(1)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("Query", e))?;
        Ok(out
            .items()
            .first()
            .and_then(|i| i.get("uploadSessionId"))
            .and_then(|v| v.as_s().ok())
            .cloned())
    }

    async fn expired(&self, now: i64) -> Result<Vec<Session>, AwsError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#status = :created AND expiresAt < :now")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":created", s(Status::Created.as_str()))
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("Scan", e))?;
            for item in page.items() {
                out.push(
                    serde_dynamo::from_item(item.clone())
                        .map_err(|e| AwsError(format!("decoding session: {e}")))?,
                );
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(out);
            }
        }
    }
}

/// The ingest bucket and sessions table named by `BUCKET_NAME` and `TABLE_NAME`.
pub async fn from_env(
) -> Result<(crate::objects::S3Objects, DynamoSessions), crate::config::ConfigError> {
    let bucket = crate::config::var("BUCKET_NAME")?;
    let table = crate::config::var("TABLE_NAME")?;
    let sdk = crate::config::aws().await;
    Ok((
        crate::objects::S3Objects {
            client: crate::config::s3_client(&sdk),
            bucket,
        },
        DynamoSessions {
            client: aws_sdk_dynamodb::Client::new(&sdk),
            table,
        },
    ))
}
