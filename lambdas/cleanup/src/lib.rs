//! cleanup (hourly): aborts multipart uploads under `uploads/` started
//! longer than `STALE_UPLOAD_HOURS` ago, so their parts stop costing
//! storage, and marks sessions whose URLs expired before any upload as
//! `expired`.

use lambda_shared::config::{self, ConfigError};
use lambda_shared::objects::Objects;
use lambda_shared::upload::{Changes, Sessions, Status};
use lambda_shared::AwsError;
use serde::{Deserialize, Serialize};

/// Where uploads live.
pub const PREFIX: &str = "uploads/";

/// Settings from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Age after which an incomplete multipart upload is aborted, hours.
    pub stale_upload_hours: i64,
}

impl Config {
    /// Reads `STALE_UPLOAD_HOURS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            stale_upload_hours: config::parse("STALE_UPLOAD_HOURS")?,
        })
    }
}

/// What one run did.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Multipart uploads aborted.
    pub aborted_uploads: u32,
    /// Sessions marked expired.
    pub expired_sessions: u32,
}

/// Runs the cleanup at time `now`.
pub async fn handle<O: Objects, S: Sessions>(
    cfg: &Config,
    objects: &O,
    sessions: &S,
    now: i64,
) -> Result<Summary, AwsError> {
    let mut summary = Summary::default();
    let cutoff = now - cfg.stale_upload_hours * 3600;
    for upload in objects.pending_uploads(PREFIX).await? {
        if upload.initiated < cutoff {
            objects
                .abort_multipart(&upload.key, &upload.upload_id)
                .await?;
            tracing::info!(key = %upload.key, upload_id = %upload.upload_id, "stale multipart upload aborted");
            summary.aborted_uploads += 1;
        }
    }
    for s in sessions.expired(now).await? {
        if sessions
            .transition(
                &s.upload_session_id,
                &[Status::Created],
                Status::Expired,
                &Changes::default(),
            )
            .await?
        {
            summary.expired_sessions += 1;
        }
    }
    tracing::info!(
        aborted = summary.aborted_uploads,
        expired = summary.expired_sessions,
        "cleanup done"
    );
    Ok(summary)
}
