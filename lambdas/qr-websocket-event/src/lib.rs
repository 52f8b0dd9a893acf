//! qr-websocket-event: the WebSocket and S3 side of the QR upload (seed 002).
//!
//! One function takes two kinds of events, told apart by their shape:
//!
//! - WebSocket events (`requestContext.eventType`): `$connect` with
//!   `?sessionId=` links the browser's connection to its session,
//!   `$disconnect` unlinks it, and a message `{"action": "status",
//!   "sessionId": ...}` is answered with the session's status.
//! - S3 `ObjectCreated` notifications for `session-uploads/<sessionId>/...`:
//!   the session becomes `UPLOADED` and its browser, if connected, is told
//!   `{"type": "uploaded", ...}` through the API Gateway Management API.
//!
//! Messages to connections are serialised from structs (never from a
//! `serde_json::Value`), so their bytes do not depend on serde_json's map
//! order features.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_shared::config::{self, ConfigError};
use lambda_shared::http::{parse_json, ApiError};
use lambda_shared::qr::{self, PublicSession, QrSessions};
use lambda_shared::AwsError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::future::Future;

/// Settings from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The sessions table.
    pub table: String,
    /// The Management API endpoint, `https://{apiId}.execute-api.{region}.amazonaws.com/{stage}`.
    pub ws_endpoint: String,
}

impl Config {
    /// Reads `SESSIONS_TABLE_NAME` and `WS_API_ENDPOINT` (a missing scheme means `https://`).
    pub fn from_env() -> Result<Self, ConfigError> {
        let table = config::var("SESSIONS_TABLE_NAME")?;
        let raw = config::var("WS_API_ENDPOINT")?;
        let ws_endpoint = management_endpoint(&raw).map_err(|reason| ConfigError::Invalid {
            name: "WS_API_ENDPOINT".into(),
            value: raw.clone(),
            reason,
        })?;
        Ok(Self { table, ws_endpoint })
    }
}

/// `endpoint` as a URL without a trailing slash; `https://` is added when
/// no scheme is given (the seed's form, `{apiId}.execute-api.../{stage}`).
pub fn management_endpoint(endpoint: &str) -> Result<String, String> {
    let trimmed = endpoint.trim().trim_end_matches('/');
    let url = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("https://{trimmed}")
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| "must be an http(s) URL".to_string())?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(
            "must name a host, as in https://{apiId}.execute-api.{region}.amazonaws.com/{stage}"
                .into(),
        );
    }
    Ok(url)
}

/// Why a message could not be posted to a connection.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The connection no longer exists (HTTP 410, GoneException).
    #[error("the connection is gone")]
    Gone,
    /// Anything else.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// Sending to WebSocket connections.
pub trait Connections: Send + Sync {
    /// Posts `data` to the connection (PostToConnection).
    fn post(
        &self,
        connection_id: &str,
        data: &[u8],
    ) -> impl Future<Output = Result<(), PostError>> + Send;
}

/// [`Connections`] through the API Gateway Management API.
#[derive(Clone, Debug)]
pub struct ApiConnections {
    /// The client, bound to one API's stage.
    pub client: aws_sdk_apigatewaymanagement::Client,
}

impl ApiConnections {
    /// A client for the Management API at `endpoint`. The endpoint is set
    /// on the client's own configuration, so it wins over a general
    /// `AWS_ENDPOINT_URL` (which points the other clients at an emulator).
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let conf = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build();
        Self {
            client: aws_sdk_apigatewaymanagement::Client::from_conf(conf),
        }
    }
}

impl Connections for ApiConnections {
    async fn post(&self, connection_id: &str, data: &[u8]) -> Result<(), PostError> {
        let result = self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(data))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(|s| s.is_gone_exception())
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 410) =>
            {
                Err(PostError::Gone)
            }
            Err(e) => Err(AwsError::from_sdk("PostToConnection", e).into()),
        }
    }
}

/// An event this function cannot handle as a whole.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Neither an S3 notification nor a WebSocket event.
    #[error("unrecognised event: {0}")]
    Unrecognised(String),
    /// An AWS call failed while handling S3 records; Lambda retries the event.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// `{"type": "uploaded", ...}`, posted when a session's upload lands.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadedMessage<'a> {
    /// Always `uploaded`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The session.
    pub session_id: &'a str,
    /// The uploaded object's key.
    pub upload_key: &'a str,
}

/// `{"type": "status", ...}`, the answer to a `status` message.
#[derive(Debug, Serialize)]
struct StatusMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    session: &'a PublicSession,
}

/// `{"type": "error", ...}`, the answer to a message that cannot be served.
#[derive(Debug, Serialize)]
struct ErrorMessage<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

/// A message a client sends on the `$default` route.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientMessage {
    action: String,
    #[serde(default)]
    session_id: Option<String>,
}

/// Handles one event at time `now` (epoch seconds). WebSocket events get
/// an API Gateway response (`statusCode`, `body`); S3 notifications a
/// summary of what was marked uploaded, notified or skipped.
pub async fn handle<S: QrSessions, C: Connections>(
    sessions: &S,
    connections: &C,
    event: Value,
    now: i64,
) -> Result<Value, EventError> {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        if records
            .iter()
            .any(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:s3"))
        {
            return s3_records(sessions, connections, records, now).await;
        }
    }
    let Some(kind) = event
        .pointer("/requestContext/eventType")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        tracing::warn!(
            "skipping an event that is neither an S3 notification nor a WebSocket event"
        );
        return Err(EventError::Unrecognised(
            "expected an S3 notification (Records[].eventSource aws:s3) or a WebSocket event (requestContext.eventType)".into(),
        ));
    };
    let req: ApiGatewayWebsocketProxyRequest = match serde_json::from_value(event) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, event_type = %kind, "malformed WebSocket event");
            return Ok(ws_response(
                400,
                &json!({"error": format!("malformed WebSocket event: {e}")}),
            ));
        }
    };
    let Some(connection_id) = req
        .request_context
        .connection_id
        .clone()
        .filter(|c| !c.is_empty())
    else {
        tracing::warn!(event_type = %kind, "WebSocket event without a connection id");
        return Ok(ws_response(
            400,
            &json!({"error": "the event has no requestContext.connectionId"}),
        ));
    };
    let request_id = req.request_context.request_id.clone().unwrap_or_default();
    let outcome = match kind.as_str() {
        "CONNECT" => connect(sessions, &req, &connection_id, now).await,
        "DISCONNECT" => disconnect(sessions, &connection_id).await,
        "MESSAGE" => return Ok(message(sessions, connections, &req, &connection_id, now).await),
        other => Err(ApiError::BadRequest {
            field: Some("requestContext.eventType".into()),
            message: format!("unknown WebSocket event type `{other}`"),
        }),
    };
    Ok(match outcome {
        Ok(body) => ws_response(200, &body),
        Err(e) => error_response(&e, &request_id, &connection_id),
    })
}

/// An API Gateway WebSocket integration response.
fn ws_response(status: u16, body: &Value) -> Value {
    json!({"statusCode": status, "body": body.to_string()})
}

/// The response for a failed request; internal details are only logged.
fn error_response(e: &ApiError, request_id: &str, connection_id: &str) -> Value {
    match e {
        ApiError::Internal(detail) => {
            tracing::error!(request_id, connection_id, error = %detail, "WebSocket event failed");
            ws_response(
                500,
                &json!({"error": "internal error", "requestId": request_id}),
            )
        }
        e => {
            tracing::info!(request_id, connection_id, status = e.status(), error = %e, "WebSocket request rejected");
            let mut body = json!({"error": e.to_string()});
            if let ApiError::BadRequest { field: Some(f), .. } = e {
                body["field"] = json!(f);
            }
            ws_response(e.status(), &body)
        }
    }
}

/// A session id from a client: present and shaped like the UUIDs qr-http-api issues.
fn session_id_param(value: Option<&str>) -> Result<&str, ApiError> {
    let id = value
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::field("sessionId", "sessionId is required"))?;
    if uuid::Uuid::try_parse(id).is_err() {
        return Err(ApiError::field("sessionId", "is not a session id"));
    }
    Ok(id)
}

async fn connect<S: QrSessions>(
    sessions: &S,
    req: &ApiGatewayWebsocketProxyRequest,
    connection_id: &str,
    now: i64,
) -> Result<Value, ApiError> {
    let id = session_id_param(req.query_string_parameters.first("sessionId"))?;
    if !sessions.link_connection(id, connection_id, now).await? {
        // API Gateway refuses the connection on any non-2xx answer.
        return Err(ApiError::NotFound(format!(
            "session {id} not found or expired"
        )));
    }
    tracing::info!(session = %id, connection_id, "connection linked");
    Ok(json!({"sessionId": id, "connected": true}))
}

async fn disconnect<S: QrSessions>(sessions: &S, connection_id: &str) -> Result<Value, ApiError> {
    let mut cleared = 0;
    for id in sessions.find_by_connection(connection_id).await? {
        if sessions.clear_connection(&id, connection_id).await? {
            cleared += 1;
            tracing::info!(session = %id, connection_id, "connection unlinked");
        }
    }
    Ok(json!({"cleared": cleared}))
}

/// A `$default` message: the answer is posted to the connection (the
/// stack declares no route response, so API Gateway would drop a returned
/// body) and also returned, with its status code.
async fn message<S: QrSessions, C: Connections>(
    sessions: &S,
    connections: &C,
    req: &ApiGatewayWebsocketProxyRequest,
    connection_id: &str,
    now: i64,
) -> Value {
    let request_id = req.request_context.request_id.clone().unwrap_or_default();
    let (status, bytes) = match status_message(sessions, req, now).await {
        Ok(session) => {
            let msg = StatusMessage {
                kind: "status",
                session: &session,
            };
            (200, serde_json::to_vec(&msg).unwrap_or_default())
        }
        Err(ApiError::Internal(detail)) => {
            tracing::error!(request_id, connection_id, error = %detail, "WebSocket message failed");
            let msg = ErrorMessage {
                kind: "error",
                error: "internal error",
                field: None,
            };
            (500, serde_json::to_vec(&msg).unwrap_or_default())
        }
        Err(e) => {
            tracing::info!(request_id, connection_id, status = e.status(), error = %e, "WebSocket message rejected");
            let field = match &e {
                ApiError::BadRequest { field, .. } => field.as_deref(),
                _ => None,
            };
            let text = e.to_string();
            let msg = ErrorMessage {
                kind: "error",
                error: &text,
                field,
            };
            (e.status(), serde_json::to_vec(&msg).unwrap_or_default())
        }
    };
    match connections.post(connection_id, &bytes).await {
        Ok(()) => {}
        Err(PostError::Gone) => {
            tracing::info!(connection_id, "the connection left before its answer")
        }
        Err(PostError::Aws(e)) => {
            tracing::error!(connection_id, error = %e, "posting the answer failed")
        }
    }
    json!({"statusCode": status, "body": String::from_utf8_lossy(&bytes)})
}

async fn status_message<S: QrSessions>(
    sessions: &S,
    req: &ApiGatewayWebsocketProxyRequest,
    now: i64,
) -> Result<PublicSession, ApiError> {
    let text = req.body.as_deref().filter(|b| !b.trim().is_empty()).ok_or_else(|| ApiError::BadRequest {
        field: None,
        message: "a JSON message such as {\"action\": \"status\", \"sessionId\": \"...\"} is required".into(),
    })?;
    let msg: ClientMessage = parse_json(text)?;
    match msg.action.as_str() {
        "status" => {
            let id = session_id_param(msg.session_id.as_deref())?;
            match sessions.get(id).await? {
                Some(s) => Ok(s.public(now)),
                None => Err(ApiError::NotFound(format!("session {id} not found"))),
            }
        }
        other => {
            let shown: String = other.chars().take(64).collect();
            Err(ApiError::field(
                "action",
                format!("unknown action `{shown}`; the only action is `status`"),
            ))
        }
    }
}

/// An S3 object key as sent in notifications (URL-encoded, `+` for
/// spaces), decoded; `None` when it is not UTF-8 once decoded.
pub fn decode_key(raw: &str) -> Option<String> {
    let plus = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .ok()
        .map(|k| k.into_owned())
}

async fn s3_records<S: QrSessions, C: Connections>(
    sessions: &S,
    connections: &C,
    records: &[Value],
    now: i64,
) -> Result<Value, EventError> {
    let mut uploaded = Vec::new();
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    for record in records {
        let raw_key = record.pointer("/s3/object/key").and_then(Value::as_str);
        let mut skip = |reason: &str| {
            tracing::warn!(
                key = raw_key.unwrap_or_default(),
                reason,
                "skipping S3 record"
            );
            skipped.push(json!({"key": raw_key, "reason": reason}));
        };
        if record.get("eventSource").and_then(Value::as_str) != Some("aws:s3") {
            skip("not an S3 record");
            continue;
        }
        let name = record
            .get("eventName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !name.starts_with("ObjectCreated:") {
            skip("not an ObjectCreated event");
            continue;
        }
        let Some(raw) = raw_key else {
            skip("the record has no s3.object.key");
            continue;
        };
        let Some(key) = decode_key(raw) else {
            skip("the key is not valid URL-encoded UTF-8");
            continue;
        };
        let Some(id) = qr::session_of_key(&key) else {
            skip("the key is outside session-uploads/<sessionId>/");
            continue;
        };
        let session = match sessions.mark_uploaded(id, &key, now).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                skip("no such session");
                continue;
            }
            Err(e) => {
                tracing::error!(session = %id, key = %key, error = %e, "marking the session uploaded failed");
                failures.push(e.0);
                continue;
            }
        };
        tracing::info!(session = %id, key = %key, "session uploaded");
        let mut entry = json!({"sessionId": id, "uploadKey": key, "notified": false});
        if let Some(conn) = session.ws_connection_id.as_deref() {
            let msg = UploadedMessage {
                kind: "uploaded",
                session_id: id,
                upload_key: &key,
            };
            let bytes = serde_json::to_vec(&msg).unwrap_or_default();
            match connections.post(conn, &bytes).await {
                Ok(()) => {
                    tracing::info!(session = %id, connection_id = conn, "browser notified");
                    entry["notified"] = json!(true);
                }
                Err(PostError::Gone) => {
                    tracing::info!(session = %id, connection_id = conn, "the browser's connection is gone; unlinking it");
                    entry["connectionGone"] = json!(true);
                    if let Err(e) = sessions.clear_connection(id, conn).await {
                        tracing::error!(session = %id, error = %e, "unlinking a gone connection failed");
                        failures.push(e.0);
                    }
                }
                Err(PostError::Aws(e)) => {
                    tracing::error!(session = %id, connection_id = conn, error = %e, "notifying the browser failed");
                    failures.push(e.0);
                }
            }
        }
        uploaded.push(entry);
    }
    if !failures.is_empty() {
        // Lambda retries the notification; marking and posting are idempotent
        // enough (the browser may be told twice).
        return Err(AwsError(format!(
            "{} of {} records failed: {}",
            failures.len(),
            records.len(),
            failures.join("; ")
        ))
        .into());
    }
    Ok(json!({"records": records.len(), "uploaded": uploaded, "skipped": skipped}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_decoded() {
        assert_eq!(
            decode_key("session-uploads/a/my+photo%281%29.jpg").as_deref(),
            Some("session-uploads/a/my photo(1).jpg")
        );
        assert_eq!(decode_key("a%2Bb").as_deref(), Some("a+b"));
        assert_eq!(decode_key("%FF"), None);
    }

    #[test]
    fn endpoints_get_a_scheme_and_lose_a_trailing_slash() {
        assert_eq!(
            management_endpoint("abc.execute-api.eu-west-1.amazonaws.com/prod/").unwrap(),
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
        );
        assert_eq!(
            management_endpoint("http://127.0.0.1:5000/local").unwrap(),
            "http://127.0.0.1:5000/local"
        );
        assert!(management_endpoint("ftp://x").is_err());
        assert!(management_endpoint("https:///stage").is_err());
    }

    #[test]
    fn the_uploaded_message_has_a_fixed_shape() {
        let msg = UploadedMessage {
            kind: "uploaded",
            session_id: "s",
            upload_key: "session-uploads/s/upload",
        };
        assert_eq!(
            serde_json::to_string(&msg).unwrap(),
            r#"{"type":"uploaded","sessionId":"s","uploadKey":"session-uploads/s/upload"}"#
        );
    }
}
