//! The QR upload sessions (seed 002): the record qr-http-api creates and
//! qr-websocket-event links to a browser's WebSocket connection and marks
//! uploaded, behind a narrow trait; [`DynamoQrSessions`] is the DynamoDB
//! implementation.
//!
//! The table (`stacks/qr-upload.yaml`): partition key `sessionId`, TTL on
//! `expiresAt` (epoch seconds), and the index [`CONNECTION_INDEX`] on
//! `wsConnectionId` (projection ALL). DynamoDB deletes expired items lazily
//! (up to days later), so readers decide expiry from `expiresAt` with
//! [`QrSession::effective_status`], never from the item's presence.

use crate::AwsError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;

/// The index that finds sessions by their WebSocket connection id.
pub const CONNECTION_INDEX: &str = "by-connection";

/// Every uploaded object lives under `session-uploads/<sessionId>/`.
pub const UPLOAD_PREFIX: &str = "session-uploads/";

/// The object key a session's presigned URL writes.
pub fn upload_key(session_id: &str) -> String {
    format!("{UPLOAD_PREFIX}{session_id}/upload")
}

/// The session id of an object key under [`UPLOAD_PREFIX`]
/// (`session-uploads/<sessionId>/<anything>`), or `None` for any other key.
pub fn session_of_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(UPLOAD_PREFIX)?;
    let (id, name) = rest.split_once('/')?;
    (!id.is_empty() && !name.is_empty()).then_some(id)
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QrStatus {
    /// Created; waiting for the phone to scan the code and upload.
    AwaitingScan,
    /// The photo is in the bucket.
    Uploaded,
    /// Past `expiresAt` without an upload. Only reported (see
    /// [`QrSession::effective_status`]); never stored.
    Expired,
}

impl QrStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            QrStatus::AwaitingScan => "AWAITING_SCAN",
            QrStatus::Uploaded => "UPLOADED",
            QrStatus::Expired => "EXPIRED",
        }
    }
}

/// One session, as stored in the sessions table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QrSession {
    /// Partition key (a UUID v4).
    pub session_id: String,
    /// Stored status: `AWAITING_SCAN` or `UPLOADED`.
    pub status: QrStatus,
    /// Epoch seconds.
    pub created_at: i64,
    /// When the session stops waiting for its upload (epoch seconds; the
    /// table's TTL attribute).
    pub expires_at: i64,
    /// The object key the upload goes to.
    pub upload_key: String,
    /// The Content-Type the presigned PUT was signed for.
    pub content_type: String,
    /// The browser's WebSocket connection, while it is connected. Absent
    /// (never null) when unset: it is the key of [`CONNECTION_INDEX`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws_connection_id: Option<String>,
    /// When the upload landed (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<i64>,
}

impl QrSession {
    /// The status a client is told at `now`: `EXPIRED` once `expiresAt` has
    /// passed without an upload, whether or not DynamoDB deleted the item yet.
    pub fn effective_status(&self, now: i64) -> QrStatus {
        if self.status == QrStatus::AwaitingScan && now >= self.expires_at {
            QrStatus::Expired
        } else {
            self.status
        }
    }

    /// What clients may see of the session at `now`.
    pub fn public(&self, now: i64) -> PublicSession {
        PublicSession {
            session_id: self.session_id.clone(),
            status: self.effective_status(now),
            expires_at: self.expires_at,
            upload_key: self.upload_key.clone(),
            uploaded_at: self.uploaded_at,
        }
    }
}

/// The public fields of a session (no connection id, no internals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicSession {
    /// The session.
    pub session_id: String,
    /// Its status at the time of the answer.
    pub status: QrStatus,
    /// When it stops waiting (epoch seconds).
    pub expires_at: i64,
    /// Where the upload goes (or went).
    pub upload_key: String,
    /// When the upload landed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<i64>,
}

/// Session storage.
pub trait QrSessions: Send + Sync {
    /// Stores a new session (fails if the id exists).
    fn create(&self, s: &QrSession) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The session, if the item exists (it may be past `expiresAt`).
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<QrSession>, AwsError>> + Send;
    /// Links `connection_id` to the session if it is live at `now` (not
    /// expired, or already uploaded); `false` when there is no such session.
    fn link_connection(
        &self,
        id: &str,
        connection_id: &str,
        now: i64,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Ids of the sessions linked to `connection_id`, through [`CONNECTION_INDEX`].
    fn find_by_connection(
        &self,
        connection_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
    /// Removes the session's link if it is still `connection_id`; `false`
    /// when it was not (another connection took over, or no session).
    fn clear_connection(
        &self,
        id: &str,
        connection_id: &str,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// Marks the session `UPLOADED` at `now` with the object's key; returns
    /// the updated session, or `None` when it does not exist.
    fn mark_uploaded(
        &self,
        id: &str,
        key: &str,
        now: i64,
    ) -> impl Future<Output = Result<Option<QrSession>, AwsError>> + Send;
}

/// [`QrSessions`] in a DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoQrSessions {
    /// The client.
    pub client: aws_sdk_dynamodb::Client,
    /// The table.
    pub table: String,
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn decode(item: HashMap<String, AttributeValue>, id: &str) -> Result<QrSession, AwsError> {
    serde_dynamo::from_item(item).map_err(|e| AwsError(format!("decoding session {id}: {e}")))
}

impl QrSessions for DynamoQrSessions {
    async fn create(&self, session: &QrSession) -> Result<(), AwsError> {
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(session)
            .map_err(|e| AwsError(format!("encoding session: {e}")))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(sessionId)")
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutItem", e))?;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<QrSession>, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("sessionId", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetItem", e))?;
        out.item.map(|item| decode(item, id)).transpose()
    }

    async fn link_connection(
        &self,
        id: &str,
        connection_id: &str,
        now: i64,
    ) -> Result<bool, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("sessionId", s(id))
            .update_expression("SET wsConnectionId = :c")
            .condition_expression(
                "attribute_exists(sessionId) AND (expiresAt > :now OR #status = :uploaded)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":c", s(connection_id))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":uploaded", s(QrStatus::Uploaded.as_str()))
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
            Err(e) => Err(AwsError::from_sdk("UpdateItem (link connection)", e)),
        }
    }

    async fn find_by_connection(&self, connection_id: &str) -> Result<Vec<String>, AwsError> {
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(CONNECTION_INDEX)
                .key_condition_expression("wsConnectionId = :c")
                .expression_attribute_values(":c", s(connection_id))
                .projection_expression("sessionId")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("Query", e))?;
            ids.extend(
                page.items()
                    .iter()
                    .filter_map(|i| i.get("sessionId"))
                    .filter_map(|v| v.as_s().ok())
                    .cloned(),
            );
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                ids.sort();
                ids.dedup();
                return Ok(ids);
            }
        }
    }

    async fn clear_connection(&self, id: &str, connection_id: &str) -> Result<bool, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("sessionId", s(id))
            .update_expression("REMOVE wsConnectionId")
            .condition_expression("wsConnectionId = :c")
            .expression_attribute_values(":c", s(connection_id))
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
            Err(e) => Err(AwsError::from_sdk("UpdateItem (clear connection)", e)),
        }
    }

    async fn mark_uploaded(
        &self,
        id: &str,
        key: &str,
        now: i64,
    ) -> Result<Option<QrSession>, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("sessionId", s(id))
            .update_expression("SET #status = :uploaded, uploadedAt = :now, uploadKey = :key")
            .condition_expression("attribute_exists(sessionId)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":uploaded", s(QrStatus::Uploaded.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":key", s(key))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => out.attributes.map(|item| decode(item, id)).transpose(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(AwsError::from_sdk("UpdateItem (mark uploaded)", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(status: QrStatus) -> QrSession {
        QrSession {
            session_id: "id".into(),
            status,
            created_at: 100,
            expires_at: 200,
            upload_key: upload_key("id"),
            content_type: "image/jpeg".into(),
            ws_connection_id: None,
            uploaded_at: None,
        }
    }

    #[test]
    fn a_session_expires_at_expires_at_unless_uploaded() {
        assert_eq!(
            session(QrStatus::AwaitingScan).effective_status(199),
            QrStatus::AwaitingScan
        );
        assert_eq!(
            session(QrStatus::AwaitingScan).effective_status(200),
            QrStatus::Expired
        );
        assert_eq!(
            session(QrStatus::Uploaded).effective_status(10_000),
            QrStatus::Uploaded
        );
    }

    #[test]
    fn keys_map_to_sessions() {
        assert_eq!(upload_key("abc"), "session-uploads/abc/upload");
        assert_eq!(session_of_key("session-uploads/abc/upload"), Some("abc"));
        assert_eq!(
            session_of_key("session-uploads/abc/my photo.jpg"),
            Some("abc")
        );
        assert_eq!(session_of_key("session-uploads/abc/"), None);
        assert_eq!(session_of_key("session-uploads//upload"), None);
        assert_eq!(session_of_key("session-uploads/abc"), None);
        assert_eq!(session_of_key("uploads/abc/upload"), None);
    }

    #[test]
    fn an_unlinked_session_has_no_connection_attribute() {
        // The attribute is the index key: it must be absent, not NULL.
        let item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(session(QrStatus::AwaitingScan)).unwrap();
        assert!(!item.contains_key("wsConnectionId"));
        assert_eq!(item["status"], s("AWAITING_SCAN"));
        assert_eq!(item["expiresAt"], n(200));
    }
}
