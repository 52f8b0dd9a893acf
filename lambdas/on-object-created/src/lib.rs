//! S3 "Object Created" (through EventBridge) for `uploads/{episode_id}/...`:
//! records the upload on the episode (status `uploaded`, key, size, ETag)
//! and puts "Video Upload Completed" `{episode_id, bucket, key, size}` on
//! `EVENT_BUS_NAME` with source `EVENT_SOURCE`.
//!
//! Retries are safe: recording is a conditional write that accepts an
//! episode already `uploaded`, and the event is put again (start_chunking
//! starts one job per episode). An object of no episode, or of an episode
//! past its upload, is logged and dropped (returning success, so
//! EventBridge does not retry it for hours). A failed write or a failed
//! PutEvents entry is an error, so EventBridge retries the event.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use clips_core::config::{var, ConfigError};
use clips_core::episode::{Recorded, Store};
use clips_core::events::{
    EventBridgeEvent, ObjectCreated, VideoUploadCompleted, VIDEO_UPLOAD_COMPLETED,
};
use clips_core::{keys, AwsError};
use serde::Serialize;

/// Configuration from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TABLE_NAME`.
    pub table: String,
    /// `EVENT_BUS_NAME`.
    pub bus: String,
    /// `EVENT_SOURCE`.
    pub source: String,
}

impl Config {
    /// Reads it.
    pub fn from_env() -> Result<Config, ConfigError> {
        Ok(Config {
            table: var("TABLE_NAME")?,
            bus: var("EVENT_BUS_NAME")?,
            source: var("EVENT_SOURCE")?,
        })
    }
}

/// What became of an event (the function's result, for the logs).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Recorded, and "Video Upload Completed" put.
    Emitted {
        /// The episode.
        episode_id: String,
    },
    /// Nothing to do.
    Dropped {
        /// Why.
        reason: String,
    },
}

/// The function.
pub struct Recorder {
    store: Store,
    events: aws_sdk_eventbridge::Client,
    config: Config,
}

impl Recorder {
    /// On `sdk`'s clients.
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> Recorder {
        Recorder {
            store: Store::new(aws_sdk_dynamodb::Client::new(sdk), &config.table),
            events: aws_sdk_eventbridge::Client::new(sdk),
            config,
        }
    }

    /// Handles one event.
    pub async fn handle(
        &self,
        event: &EventBridgeEvent<ObjectCreated>,
    ) -> Result<Outcome, AwsError> {
        let detail = &event.detail;
        let key = detail.object.key.as_str();
        let drop = |reason: String| {
            tracing::warn!(key, bucket = %detail.bucket.name, %reason, "event dropped");
            Ok(Outcome::Dropped { reason })
        };
        let Some(id) = keys::episode_of(key, "uploads/") else {
            return drop(format!("{key} is not an episode upload"));
        };
        let size = detail.object.size.unwrap_or_default();
        let etag = detail.object.etag.as_deref().unwrap_or_default();
        match self
            .store
            .record_upload(id, key, size, etag, clips_core::now_ms())
            .await?
        {
            Recorded::Uploaded => {}
            Recorded::Unknown => return drop(format!("no episode {id}")),
            Recorded::Past(status) => {
                return drop(format!("episode {id} is already {}", status.as_str()))
            }
        }
        let completed = VideoUploadCompleted {
            episode_id: id.to_string(),
            bucket: detail.bucket.name.clone(),
            key: key.to_string(),
            size,
        };
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.config.bus)
            .source(&self.config.source)
            .detail_type(VIDEO_UPLOAD_COMPLETED)
            .detail(serde_json::to_string(&completed).map_err(|e| AwsError(e.to_string()))?)
            .build();
        let out = self
            .events
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutEvents", e))?;
        if out.failed_entry_count > 0 {
            let why = out
                .entries()
                .iter()
                .filter_map(|e| {
                    e.error_code()
                        .map(|c| format!("{c}: {}", e.error_message().unwrap_or_default()))
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(AwsError(format!("PutEvents refused the event: {why}")));
        }
        tracing::info!(episode_id = id, key, size, "upload recorded");
        Ok(Outcome::Emitted {
            episode_id: id.to_string(),
        })
    }
}
