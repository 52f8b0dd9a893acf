//! "MediaConvert Job State Change" for this stack's chunking jobs:
//!
//! - `COMPLETE`: the chunks are the HLS segments of the job's one output:
//!   its media playlist `s3://BUCKET/chunks/{id}/{base}-chunk.m3u8` (from
//!   `outputGroupDetails[].outputDetails[].outputFilePaths`) names them
//!   (`{base}-chunk_{n:05}.ts`, n from 1), and `durationInMs` divided into
//!   `CHUNK_SECONDS` pieces says how many there are and where each starts
//!   and ends. They become `CHUNK#` items (expiring with their objects)
//!   and the episode becomes `chunked` with `chunk_count`;
//! - `ERROR`: the episode becomes `failed` with `error_code` and
//!   `error_message`.
//!
//! Both are conditional on the episode being `chunking` with this job, so a
//! retried or stale event changes nothing (it is logged and dropped). An
//! event whose output is not where this stack's jobs write is an error.

use clips_core::config::{var, ConfigError};
use clips_core::episode::{Chunk, Status, Store};
use clips_core::events::{split_s3_url, EventBridgeEvent, JobStateChange};
use clips_core::{keys, AwsError};
use serde::Serialize;

/// Configuration from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TABLE_NAME`.
    pub table: String,
    /// `BUCKET_NAME`.
    pub bucket: String,
    /// `CHUNK_SECONDS`: the segment length the jobs were created with.
    pub chunk_seconds: u32,
}

impl Config {
    /// Reads it.
    pub fn from_env() -> Result<Config, ConfigError> {
        let chunk_seconds = clips_core::chunk_seconds()?;
        Ok(Config {
            table: var("TABLE_NAME")?,
            bucket: var("BUCKET_NAME")?,
            chunk_seconds,
        })
    }
}

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Chunks recorded.
    Chunked {
        /// The episode.
        episode_id: String,
        /// How many.
        chunk_count: usize,
    },
    /// The episode failed.
    Failed {
        /// The episode.
        episode_id: String,
    },
    /// Nothing to do.
    Dropped {
        /// Why.
        reason: String,
    },
}

/// The chunks of a video `duration_ms` long cut into `chunk_seconds`
/// segments, named after the media playlist key `playlist`.
pub fn chunks(playlist: &str, duration_ms: i64, chunk_seconds: u32) -> Vec<Chunk> {
    let base = playlist.strip_suffix(".m3u8").unwrap_or(playlist);
    let step = i64::from(chunk_seconds) * 1000;
    let count = (duration_ms.max(0) + step - 1) / step;
    (1..=count)
        .map(|n| Chunk {
            index: n as u32,
            key: format!("{base}_{n:05}.ts"),
            start_seconds: ((n - 1) * step) as f64 / 1000.0,
            end_seconds: (n * step).min(duration_ms) as f64 / 1000.0,
        })
        .collect()
}

/// The function.
pub struct Recorder {
    store: Store,
    config: Config,
}

impl Recorder {
    /// On `sdk`'s clients.
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> Recorder {
        Recorder {
            store: Store::new(aws_sdk_dynamodb::Client::new(sdk), &config.table),
            config,
        }
    }

    /// Handles one event.
    pub async fn handle(
        &self,
        event: &EventBridgeEvent<JobStateChange>,
    ) -> Result<Outcome, AwsError> {
        let detail = &event.detail;
        let job = detail.job_id.as_str();
        let drop = |reason: String| {
            tracing::warn!(job_id = job, %reason, "event dropped");
            Ok(Outcome::Dropped { reason })
        };
        let Some(id) = detail
            .user_metadata
            .get("episode_id")
            .map(String::as_str)
            .filter(|id| keys::valid_id(id))
        else {
            return drop("the job names no episode".into());
        };
        let Some(episode) = self.store.get(id).await? else {
            return drop(format!("no episode {id}"));
        };
        if episode.status != Status::Chunking || episode.job_id.as_deref() != Some(job) {
            return drop(format!(
                "episode {id} is {} with job {:?}, not chunking with {job}",
                episode.status.as_str(),
                episode.job_id
            ));
        }
        let now = clips_core::now_ms();
        match detail.status.as_str() {
            "COMPLETE" => {
                let output = detail
                    .output_group_details
                    .iter()
                    .flat_map(|g| &g.output_details)
                    .find(|o| !o.output_file_paths.is_empty())
                    .ok_or_else(|| AwsError(format!("job {job} completed with no output")))?;
                let (bucket, playlist) = split_s3_url(&output.output_file_paths[0])
                    .filter(|(b, k)| {
                        *b == self.config.bucket && k.starts_with(&keys::chunks_prefix(id))
                    })
                    .ok_or_else(|| {
                        AwsError(format!(
                            "job {job} wrote {} outside s3://{}/{}",
                            output.output_file_paths[0],
                            self.config.bucket,
                            keys::chunks_prefix(id)
                        ))
                    })?;
                let duration = output
                    .duration_in_ms
                    .filter(|d| *d > 0)
                    .ok_or_else(|| AwsError(format!("job {job} completed with no duration")))?;
                let chunks = chunks(playlist, duration, self.config.chunk_seconds);
                if !self.store.chunked(&episode, job, &chunks, now).await? {
                    return drop(format!(
                        "episode {id} changed while its chunks were recorded"
                    ));
                }
                tracing::info!(
                    episode_id = id,
                    job_id = job,
                    bucket,
                    count = chunks.len(),
                    "chunks recorded"
                );
                Ok(Outcome::Chunked {
                    episode_id: id.to_string(),
                    chunk_count: chunks.len(),
                })
            }
            "ERROR" => {
                let message = detail
                    .error_message
                    .as_deref()
                    .unwrap_or("the chunking job failed");
                if !self
                    .store
                    .failed(id, job, detail.error_code, message, now)
                    .await?
                {
                    return drop(format!(
                        "episode {id} changed before its failure was recorded"
                    ));
                }
                tracing::warn!(episode_id = id, job_id = job, code = ?detail.error_code, message, "chunking failed");
                Ok(Outcome::Failed {
                    episode_id: id.to_string(),
                })
            }
            other => drop(format!("status {other} needs nothing")),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_cover_the_video_exactly() {
        let c = super::chunks("chunks/e/video-chunk.m3u8", 250_500, 120);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].key, "chunks/e/video-chunk_00001.ts");
        assert_eq!((c[2].start_seconds, c[2].end_seconds), (240.0, 250.5));
        assert_eq!(super::chunks("p.m3u8", 240_000, 120).len(), 2);
        assert!(super::chunks("p.m3u8", 0, 120).is_empty());
    }
}
