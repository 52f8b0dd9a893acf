//! complete-upload: finishes a session. A multipart upload is completed
//! from the client's part list; a single PUT is confirmed by finding the
//! object. Either way the session becomes `uploaded`. Repeating the call
//! for an uploaded session answers the same again.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_shared::http::{parse_body, ApiError, Reply};
use lambda_shared::objects::{CompleteError, Objects};
use lambda_shared::upload::{Changes, Mode, Session, Sessions, Status};
use serde::{Deserialize, Serialize};

/// One uploaded part as the client saw it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    /// 1-based part number.
    pub part_number: u32,
    /// The ETag S3 returned for the part's PUT.
    #[serde(alias = "ETag", alias = "etag")]
    pub e_tag: String,
}

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The session from create-upload.
    pub session_id: String,
    /// Every part (multipart sessions only).
    #[serde(default)]
    pub parts: Vec<Part>,
}

/// The response body.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The session.
    pub session_id: String,
    /// Where the object is.
    pub key: String,
    /// `uploaded` (or `processed` if processing already ran).
    pub status: Status,
}

fn done(s: &Session, status: Status) -> Reply {
    Reply::ok(Response {
        session_id: s.upload_session_id.clone(),
        key: s.object_key.clone(),
        status,
    })
}

/// Handles one request at time `now`.
pub async fn handle<O: Objects, S: Sessions>(
    objects: &O,
    sessions: &S,
    req: &ApiGatewayV2httpRequest,
    now: i64,
) -> Result<Reply, ApiError> {
    let body: Request = parse_body(req)?;
    if body.session_id.trim().is_empty() {
        return Err(ApiError::field("sessionId", "must not be empty"));
    }
    let session = sessions
        .get(&body.session_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no upload session `{}`", body.session_id)))?;
    match session.status {
        Status::Uploaded | Status::Processed => return Ok(done(&session, session.status)),
        Status::Expired => {
            return Err(ApiError::Conflict(
                "this session expired; start a new upload".into(),
            ))
        }
        Status::Created => {}
    }
    match session.mode {
        Mode::Single => {
            if !body.parts.is_empty() {
                return Err(ApiError::field(
                    "parts",
                    "a single-part session takes no parts",
                ));
            }
            if objects.head(&session.object_key).await?.is_none() {
                return Err(ApiError::Conflict(format!(
                    "nothing has been uploaded to `{}` yet",
                    session.object_key
                )));
            }
        }
        Mode::Multipart => complete_parts(objects, &session, &body.parts).await?,
    }
    let changes = Changes {
        uploaded_at: Some(now),
        ..Changes::default()
    };
    if !sessions
        .transition(
            &session.upload_session_id,
            &[Status::Created],
            Status::Uploaded,
            &changes,
        )
        .await?
    {
        // Another call (or processing) moved it on first; report where it is.
        let now_status = sessions
            .get(&session.upload_session_id)
            .await?
            .map(|s| s.status)
            .unwrap_or(Status::Uploaded);
        return Ok(done(&session, now_status));
    }
    tracing::info!(session = %session.upload_session_id, key = %session.object_key, "upload completed");
    Ok(done(&session, Status::Uploaded))
}

async fn complete_parts<O: Objects>(
    objects: &O,
    session: &Session,
    parts: &[Part],
) -> Result<(), ApiError> {
    let count = session.part_count.unwrap_or(0);
    let upload_id = session.upload_id.as_deref().ok_or_else(|| {
        ApiError::Internal(format!(
            "multipart session {} has no upload id",
            session.upload_session_id
        ))
    })?;
    if parts.is_empty() {
        return Err(ApiError::field(
            "parts",
            format!("list all {count} parts with their ETags"),
        ));
    }
    let mut list: Vec<(u32, String)> = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        if p.part_number == 0 || p.part_number > count {
            return Err(ApiError::field(
                &format!("parts[{i}].partNumber"),
                format!("part {} is outside 1..={count}", p.part_number),
            ));
        }
        if p.e_tag.trim().is_empty() {
            return Err(ApiError::field(
                &format!("parts[{i}].eTag"),
                "must not be empty",
            ));
        }
        if list.iter().any(|(n, _)| *n == p.part_number) {
            return Err(ApiError::field(
                &format!("parts[{i}].partNumber"),
                format!("part {} is listed twice", p.part_number),
            ));
        }
        list.push((p.part_number, p.e_tag.clone()));
    }
    list.sort_by_key(|(n, _)| *n);
    match objects
        .complete_multipart(&session.object_key, upload_id, &list)
        .await
    {
        Ok(()) => Ok(()),
        Err(CompleteError::Rejected(why)) => Err(ApiError::field(
            "parts",
            format!("S3 rejected the parts: {why}"),
        )),
        // Completed by an earlier call whose response was lost.
        Err(CompleteError::NoSuchUpload) if objects.head(&session.object_key).await?.is_some() => {
            Ok(())
        }
        Err(CompleteError::NoSuchUpload) => Err(ApiError::Conflict(
            "the multipart upload was aborted; start a new upload".into(),
        )),
        Err(CompleteError::Aws(e)) => Err(e.into()),
    }
}
