//! create-upload: checks the announced size and content type, creates the
//! session, and returns one presigned PUT (up to `SINGLE_MAX_BYTES`) or a
//! multipart upload with presigned part URLs.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_shared::config::{self, ConfigError};
use lambda_shared::http::{parse_body, ApiError, Reply};
use lambda_shared::objects::Objects;
use lambda_shared::upload::{Mode, Session, Sessions, Status};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// S3's limit on the number of parts of one upload.
pub const MAX_PARTS: u64 = 10_000;
/// Part URLs returned with the session; the rest come from upload-parts.
pub const INITIAL_PART_URLS: u32 = 100;
/// How long a session record is kept after its URLs expire.
pub const RECORD_DAYS: i64 = 7;

/// Settings from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest single PUT.
    pub single_max_bytes: u64,
    /// Multipart part size.
    pub part_size: u64,
    /// Largest file accepted.
    pub max_file_bytes: u64,
    /// Accepted content types; `type/*` matches a family.
    pub allowed_types: Vec<String>,
    /// Lifetime of presigned URLs.
    pub url_expiry: Duration,
}

impl Config {
    /// Reads `SINGLE_MAX_BYTES`, `PART_SIZE`, `MAX_FILE_BYTES`, `ALLOWED_CONTENT_TYPES`, `URL_EXPIRY_SECONDS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            single_max_bytes: config::parse("SINGLE_MAX_BYTES")?,
            part_size: config::parse("PART_SIZE")?,
            max_file_bytes: config::parse("MAX_FILE_BYTES")?,
            allowed_types: config::var("ALLOWED_CONTENT_TYPES")?
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
            url_expiry: Duration::from_secs(config::parse("URL_EXPIRY_SECONDS")?),
        })
    }
}

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// Size of the file, bytes.
    pub file_size_bytes: u64,
    /// Its MIME type.
    pub content_type: String,
}

/// A presigned URL for one part.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PartUrl {
    /// 1-based part number.
    pub part_number: u32,
    /// Presigned UploadPart URL.
    pub url: String,
}

/// The response body.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// Session id for upload-parts and complete-upload.
    pub session_id: String,
    /// `single` or `multipart`.
    pub mode: Mode,
    /// Object key.
    pub key: String,
    /// When the URLs stop working (epoch seconds).
    pub expires_at: i64,
    /// The PUT URL (single).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Content-Type the PUT must send (it is signed).
    pub content_type: String,
    /// Multipart upload id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// Bytes per part (the last may be smaller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_size: Option<u64>,
    /// Number of parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_count: Option<u32>,
    /// URLs of the first parts (up to 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartUrl>,
}

/// Whether `content_type` is a well-formed `type/subtype` in the allow-list.
pub fn content_type_allowed(content_type: &str, allowed: &[String]) -> Result<(), String> {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
    };
    match ct.split_once('/') {
        Some((t, sub)) if token(t) && token(sub) => {}
        _ => {
            return Err(format!(
                "`{content_type}` is not a MIME type such as video/mp4"
            ))
        }
    }
    let ok = allowed.iter().any(|a| match a.strip_suffix("/*") {
        Some(family) => ct.split('/').next() == Some(family),
        None => *a == ct,
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{content_type}` is not accepted; allowed: {}",
            allowed.join(", ")
        ))
    }
}

/// Handles one request at time `now` (epoch seconds).
pub async fn handle<O: Objects, S: Sessions>(
    cfg: &Config,
    objects: &O,
    sessions: &S,
    req: &ApiGatewayV2httpRequest,
    now: i64,
) -> Result<Reply, ApiError> {
    let body: Request = parse_body(req)?;
    if body.file_size_bytes == 0 {
        return Err(ApiError::field("fileSizeBytes", "must be at least 1 byte"));
    }
    if body.file_size_bytes > cfg.max_file_bytes {
        return Err(ApiError::field(
            "fileSizeBytes",
            format!(
                "{} bytes is more than the {} bytes accepted",
                body.file_size_bytes, cfg.max_file_bytes
            ),
        ));
    }
    content_type_allowed(&body.content_type, &cfg.allowed_types)
        .map_err(|m| ApiError::field("contentType", m))?;
    let multipart = body.file_size_bytes > cfg.single_max_bytes;
    let part_count = body.file_size_bytes.div_ceil(cfg.part_size);
    if multipart && part_count > MAX_PARTS {
        return Err(ApiError::field(
            "fileSizeBytes",
            format!(
                "{} bytes needs {part_count} parts of {} bytes; S3 allows {MAX_PARTS}",
                body.file_size_bytes, cfg.part_size
            ),
        ));
    }

    let id = uuid::Uuid::new_v4().to_string();
    let key = format!("uploads/{}/{id}", lambda_shared::date(now));
    let expires_at = now + cfg.url_expiry.as_secs() as i64;
    let mut response = Response {
        session_id: id.clone(),
        mode: if multipart {
            Mode::Multipart
        } else {
            Mode::Single
        },
        key: key.clone(),
        expires_at,
        url: None,
        content_type: body.content_type.clone(),
        upload_id: None,
        part_size: None,
        part_count: None,
        parts: vec![],
    };
    if multipart {
        let upload_id = objects.create_multipart(&key, &body.content_type).await?;
        let count = part_count as u32;
        for n in 1..=count.min(INITIAL_PART_URLS) {
            let url = objects
                .presign_part(&key, &upload_id, n, cfg.url_expiry)
                .await?;
            response.parts.push(PartUrl {
                part_number: n,
                url,
            });
        }
        response.upload_id = Some(upload_id);
        response.part_size = Some(cfg.part_size);
        response.part_count = Some(count);
    } else {
        response.url = Some(
            objects
                .presign_put(&key, &body.content_type, cfg.url_expiry)
                .await?,
        );
    }
    let session = Session {
        upload_session_id: id,
        object_key: key,
        status: Status::Created,
        mode: response.mode,
        upload_id: response.upload_id.clone(),
        file_size_bytes: body.file_size_bytes,
        content_type: body.content_type,
        part_size: response.part_size,
        part_count: response.part_count,
        created_at: now,
        expires_at,
        ttl: expires_at + RECORD_DAYS * 86_400,
        uploaded_at: None,
        processed_at: None,
        object_size_bytes: None,
        object_content_type: None,
    };
    sessions.create(&session).await?;
    tracing::info!(session = %session.upload_session_id, mode = ?session.mode, size = session.file_size_bytes, "upload session created");
    Ok(Reply::created(response))
}
