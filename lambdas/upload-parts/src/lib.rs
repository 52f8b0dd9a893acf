//! upload-parts: presigned URLs for the requested parts of a multipart
//! session that is still open; each call extends the session's expiry.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_shared::config::{self, ConfigError};
use lambda_shared::http::{parse_body, ApiError, Reply};
use lambda_shared::objects::Objects;
use lambda_shared::upload::{Changes, Mode, Sessions, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// Most part URLs one request may ask for.
pub const MAX_PER_REQUEST: usize = 1000;

/// Settings from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Lifetime of presigned URLs.
    pub url_expiry: Duration,
}

impl Config {
    /// Reads `URL_EXPIRY_SECONDS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            url_expiry: Duration::from_secs(config::parse("URL_EXPIRY_SECONDS")?),
        })
    }
}

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The session from create-upload.
    pub session_id: String,
    /// 1-based part numbers.
    pub part_numbers: Vec<u32>,
}

/// One part's URL.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PartUrl {
    /// Part number.
    pub part_number: u32,
    /// Presigned UploadPart URL.
    pub url: String,
}

/// The response body.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The session.
    pub session_id: String,
    /// Multipart upload id.
    pub upload_id: String,
    /// URLs in ascending part order.
    pub parts: Vec<PartUrl>,
    /// When they stop working (epoch seconds).
    pub expires_at: i64,
}

/// Handles one request at time `now`.
pub async fn handle<O: Objects, S: Sessions>(
    cfg: &Config,
    objects: &O,
    sessions: &S,
    req: &ApiGatewayV2httpRequest,
    now: i64,
) -> Result<Reply, ApiError> {
    let body: Request = parse_body(req)?;
    if body.session_id.trim().is_empty() {
        return Err(ApiError::field("sessionId", "must not be empty"));
    }
    if body.part_numbers.is_empty() {
        return Err(ApiError::field("partNumbers", "ask for at least one part"));
    }
    if body.part_numbers.len() > MAX_PER_REQUEST {
        return Err(ApiError::field(
            "partNumbers",
            format!("at most {MAX_PER_REQUEST} parts per request"),
        ));
    }
    let session = sessions
        .get(&body.session_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no upload session `{}`", body.session_id)))?;
    if session.mode != Mode::Multipart {
        return Err(ApiError::Conflict(
            "this session is a single-part upload: PUT the file to the URL from create".into(),
        ));
    }
    if session.status != Status::Created {
        return Err(ApiError::Conflict(format!(
            "this session is {}; parts can no longer be uploaded",
            session.status.as_str()
        )));
    }
    let (Some(upload_id), Some(count)) = (session.upload_id.clone(), session.part_count) else {
        return Err(ApiError::Internal(format!(
            "multipart session {} has no upload id or part count",
            session.upload_session_id
        )));
    };
    let mut wanted = BTreeSet::new();
    for (i, n) in body.part_numbers.iter().enumerate() {
        if *n == 0 || *n > count {
            return Err(ApiError::field(
                &format!("partNumbers[{i}]"),
                format!("part {n} is outside 1..={count}"),
            ));
        }
        wanted.insert(*n);
    }
    let expires_at = now + cfg.url_expiry.as_secs() as i64;
    let mut parts = Vec::with_capacity(wanted.len());
    for n in wanted {
        parts.push(PartUrl {
            part_number: n,
            url: objects
                .presign_part(&session.object_key, &upload_id, n, cfg.url_expiry)
                .await?,
        });
    }
    let extended = Changes {
        expires_at: Some(expires_at.max(session.expires_at)),
        ..Changes::default()
    };
    if !sessions
        .transition(
            &session.upload_session_id,
            &[Status::Created],
            Status::Created,
            &extended,
        )
        .await?
    {
        return Err(ApiError::Conflict(
            "the session changed while its parts were requested; try again".into(),
        ));
    }
    Ok(Reply::ok(Response {
        session_id: session.upload_session_id,
        upload_id,
        parts,
        expires_at,
    }))
}
