//! process-object: for each object created under `uploads/`, finds its
//! session by key, records the stored size and content type, and marks it
//! `processed`. Objects with no session are logged and skipped; AWS
//! failures fail the invocation so Lambda retries it.

use aws_lambda_events::s3::S3Event;
use lambda_shared::objects::Objects;
use lambda_shared::upload::{Changes, Sessions, Status};
use lambda_shared::AwsError;
use serde::{Deserialize, Serialize};

/// What one invocation did.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Sessions marked processed.
    pub processed: u32,
    /// Objects no session knows.
    pub unknown: u32,
    /// Records skipped (not an ObjectCreated event, object already gone, session already processed).
    pub skipped: u32,
}

/// S3 event keys are URL-encoded, with `+` for spaces.
pub fn decode_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Handles one S3 event at time `now`.
pub async fn handle<O: Objects, S: Sessions>(
    objects: &O,
    sessions: &S,
    event: &S3Event,
    now: i64,
) -> Result<Summary, AwsError> {
    let mut summary = Summary::default();
    for record in &event.records {
        let created = record
            .event_name
            .as_deref()
            .is_some_and(|n| n.starts_with("ObjectCreated"));
        let Some(raw) = record.s3.object.key.as_deref().filter(|_| created) else {
            summary.skipped += 1;
            continue;
        };
        let key = decode_key(raw);
        let Some(id) = sessions.find_by_key(&key).await? else {
            tracing::warn!(%key, "object has no upload session; skipped");
            summary.unknown += 1;
            continue;
        };
        let Some(info) = objects.head(&key).await? else {
            tracing::warn!(%key, session = %id, "object is gone; skipped");
            summary.skipped += 1;
            continue;
        };
        let changes = Changes {
            processed_at: Some(now),
            object_size_bytes: Some(info.size),
            object_content_type: info.content_type.clone(),
            ..Changes::default()
        };
        if sessions
            .transition(
                &id,
                &[Status::Created, Status::Uploaded],
                Status::Processed,
                &changes,
            )
            .await?
        {
            tracing::info!(%key, session = %id, size = info.size, "object processed");
            summary.processed += 1;
        } else {
            tracing::info!(%key, session = %id, "session already processed or expired; skipped");
            summary.skipped += 1;
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_decoded() {
        assert_eq!(
            super::decode_key("uploads/2026-11-22/a+b%2Bc%C3%A9"),
            "uploads/2026-11-22/a b+cé"
        );
    }
}
