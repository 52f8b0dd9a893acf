//! qr-http-api: the HTTP API of the QR upload (seed 002). `POST /sessions`
//! creates a session and returns a presigned PUT URL for its object key
//! (the browser shows it as a QR code, the phone uploads to it);
//! `GET /sessions/{sessionId}` reports where the session is.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_shared::config::{self, ConfigError};
use lambda_shared::http::{body_text, parse_json, respond, ApiError, Reply};
use lambda_shared::objects::Objects;
use lambda_shared::qr::{self, QrSession, QrSessions, QrStatus};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The content type of a session created without one.
pub const DEFAULT_CONTENT_TYPE: &str = "image/jpeg";
/// The longest presigned URL lifetime S3 (SigV4) accepts.
pub const MAX_URL_EXPIRY_SECONDS: u64 = 604_800;
/// The longest content type accepted.
const MAX_CONTENT_TYPE_LEN: usize = 127;

/// Settings from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The sessions table.
    pub table: String,
    /// The uploads bucket.
    pub bucket: String,
    /// How long a session waits for its upload, seconds.
    pub session_ttl_seconds: i64,
    /// Lifetime of presigned upload URLs.
    pub url_expiry: Duration,
}

impl Config {
    /// Reads `SESSIONS_TABLE_NAME`, `UPLOAD_BUCKET_NAME`, `SESSION_TTL_SECONDS`, `URL_EXPIRY_SECONDS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let table = config::var("SESSIONS_TABLE_NAME")?;
        let bucket = config::var("UPLOAD_BUCKET_NAME")?;
        let ttl: u32 = config::parse("SESSION_TTL_SECONDS")?;
        let expiry: u64 = config::parse("URL_EXPIRY_SECONDS")?;
        let invalid = |name: &str, value: String, reason: &str| ConfigError::Invalid {
            name: name.to_string(),
            value,
            reason: reason.to_string(),
        };
        if ttl == 0 {
            return Err(invalid(
                "SESSION_TTL_SECONDS",
                ttl.to_string(),
                "must be at least 1",
            ));
        }
        if expiry == 0 || expiry > MAX_URL_EXPIRY_SECONDS {
            return Err(invalid(
                "URL_EXPIRY_SECONDS",
                expiry.to_string(),
                "must be between 1 and 604800 (7 days)",
            ));
        }
        Ok(Self {
            table,
            bucket,
            session_ttl_seconds: i64::from(ttl),
            url_expiry: Duration::from_secs(expiry),
        })
    }
}

/// The body of `POST /sessions` (optional, as is each field).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRequest {
    /// The MIME type the phone will upload; `image/*` only.
    #[serde(default)]
    pub content_type: Option<String>,
}

/// The answer to `POST /sessions`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateResponse {
    /// The new session.
    pub session_id: String,
    /// Presigned PUT for `uploadKey`.
    pub upload_url: String,
    /// Where the upload goes.
    pub upload_key: String,
    /// When the session stops waiting (epoch seconds).
    pub expires_at: i64,
    /// `AWAITING_SCAN`.
    pub status: QrStatus,
    /// The Content-Type the PUT must send (it is signed).
    pub content_type: String,
}

/// The normalised content type if it is a plain `image/<subtype>`.
pub fn check_content_type(content_type: &str) -> Result<String, String> {
    let ct = content_type.trim().to_ascii_lowercase();
    let token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
    };
    match ct.split_once('/') {
        _ if ct.len() > MAX_CONTENT_TYPE_LEN => {
            Err(format!("must be at most {MAX_CONTENT_TYPE_LEN} characters"))
        }
        Some(("image", sub)) if token(sub) => Ok(ct),
        Some((t, sub)) if token(t) && token(sub) => Err(format!(
            "`{content_type}` is not accepted; only image/* types are"
        )),
        _ => Err(format!(
            "`{content_type}` is not a MIME type such as image/jpeg"
        )),
    }
}

/// The HTTP API request in a raw event; anything else is a 400 naming
/// the first field that does not fit (API Gateway never sends such events,
/// but a test console or a misrouted invocation can).
pub fn request_from(event: serde_json::Value) -> Result<ApiGatewayV2httpRequest, ApiError> {
    serde_path_to_error::deserialize(event).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner().to_string();
        let field = if path == "." {
            inner
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
                .map(str::to_string)
        } else {
            Some(path)
        };
        ApiError::BadRequest {
            field,
            message: format!("not an HTTP API (payload 2.0) request: {inner}"),
        }
    })
}

/// Handles one raw event at time `now`: the response API Gateway returns.
pub async fn handle_event<O: Objects, S: QrSessions>(
    cfg: &Config,
    objects: &O,
    sessions: &S,
    event: serde_json::Value,
    request_id: &str,
    now: i64,
) -> ApiGatewayV2httpResponse {
    let outcome = match request_from(event) {
        Ok(req) => handle(cfg, objects, sessions, &req, now).await,
        Err(e) => Err(e),
    };
    respond(outcome, request_id)
}

/// Handles one request at time `now` (epoch seconds).
pub async fn handle<O: Objects, S: QrSessions>(
    cfg: &Config,
    objects: &O,
    sessions: &S,
    req: &ApiGatewayV2httpRequest,
    now: i64,
) -> Result<Reply, ApiError> {
    match req.route_key.as_deref() {
        Some("POST /sessions") => create(cfg, objects, sessions, req, now).await,
        Some("GET /sessions/{sessionId}") => status(sessions, req, now).await,
        _ => {
            let path: String = req
                .raw_path
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            Err(ApiError::NotFound(format!(
                "no route for {} {path}",
                req.request_context.http.method
            )))
        }
    }
}

async fn create<O: Objects, S: QrSessions>(
    cfg: &Config,
    objects: &O,
    sessions: &S,
    req: &ApiGatewayV2httpRequest,
    now: i64,
) -> Result<Reply, ApiError> {
    let body = match req.body.as_deref() {
        Some(b) if !b.trim().is_empty() => {
            let text = body_text(Some(b), req.is_base64_encoded)?;
            if text.trim().is_empty() {
                CreateRequest::default()
            } else {
                parse_json::<CreateRequest>(&text)?
            }
        }
        _ => CreateRequest::default(),
    };
    let content_type =
        check_content_type(body.content_type.as_deref().unwrap_or(DEFAULT_CONTENT_TYPE))
            .map_err(|m| ApiError::field("contentType", m))?;

    let session_id = uuid::Uuid::new_v4().to_string();
    let upload_key = qr::upload_key(&session_id);
    let upload_url = objects
        .presign_put(&upload_key, &content_type, cfg.url_expiry)
        .await?;
    let session = QrSession {
        session_id: session_id.clone(),
        status: QrStatus::AwaitingScan,
        created_at: now,
        expires_at: now + cfg.session_ttl_seconds,
        upload_key: upload_key.clone(),
        content_type: content_type.clone(),
        ws_connection_id: None,
        uploaded_at: None,
    };
    sessions.create(&session).await?;
    tracing::info!(session = %session_id, content_type = %content_type, "QR session created");
    Ok(Reply::created(CreateResponse {
        session_id,
        upload_url,
        upload_key,
        expires_at: session.expires_at,
        status: session.status,
        content_type,
    }))
}

async fn status<S: QrSessions>(
    sessions: &S,
    req: &ApiGatewayV2httpRequest,
    now: i64,
) -> Result<Reply, ApiError> {
    let id = req
        .path_parameters
        .get("sessionId")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::field("sessionId", "the sessionId path parameter is required"))?;
    // Session ids are UUIDs; anything else cannot exist (and must not reach
    // DynamoDB, which rejects over-long keys with a 500-worthy error).
    if uuid::Uuid::try_parse(id).is_err() {
        return Err(ApiError::field("sessionId", "is not a session id"));
    }
    match sessions.get(id).await? {
        Some(session) => Ok(Reply::ok(session.public(now))),
        None => Err(ApiError::NotFound(format!("session {id} not found"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_image_types_pass() {
        assert_eq!(
            check_content_type("image/jpeg").as_deref(),
            Ok("image/jpeg")
        );
        assert_eq!(
            check_content_type(" Image/PNG ").as_deref(),
            Ok("image/png")
        );
        assert_eq!(
            check_content_type("image/svg+xml").as_deref(),
            Ok("image/svg+xml")
        );
        for bad in [
            "video/mp4",
            "image/",
            "image",
            "",
            "image/jpeg; q=1",
            "imagex/jpeg",
            "image/jp eg",
        ] {
            assert!(check_content_type(bad).is_err(), "{bad:?}");
        }
        assert!(check_content_type(&format!("image/{}", "a".repeat(200))).is_err());
    }
}
