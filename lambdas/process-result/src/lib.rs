//! process-result: the results queue's consumer (seed 004). Each message is
//! a finished prediction ([`ResultMessage`]), from the webhook or the
//! stuck-job checker. For each:
//!
//! - the job is found by prediction id (the realtime table, else
//!   PostgreSQL); an unknown prediction, an unreadable or unfinished message
//!   is logged and dropped, a job already finished is left alone (delivery
//!   is at least once);
//! - a succeeded prediction's outputs are downloaded (at most
//!   `MAX_OUTPUT_BYTES` each) and stored in the media bucket at the layout's
//!   keys with their content type, server-side encryption and SHA-256,
//!   beside a `metadata.json`; then the job succeeds in PostgreSQL (jobs and
//!   media_outputs, one transaction), the realtime table and the status
//!   cache, and `JobsCompleted` is counted;
//! - a failed or canceled prediction, or outputs that can never be stored
//!   (not URLs, too large), fail the job in the same stores and count
//!   `JobsFailed`.
//!
//! A transient failure (download, S3, PostgreSQL, DynamoDB) puts that
//! message in the batch's `batchItemFailures`, so SQS delivers it again and,
//! after its maxReceiveCount, moves it to the dead-letter queue; the other
//! messages of the batch are acknowledged. The Redis status cache is best
//! effort: PostgreSQL is the record.

#![warn(missing_docs)]

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use media_core::job::{Job, JobStatus};
use media_core::layout::{self, KeyError};
use media_core::metrics::{self, Counter};
use media_core::queue::ResultMessage;
use media_core::replicate::{self, Prediction, PredictionStatus, ReplicateError, UnexpectedOutput};
use media_core::MediaType;
use media_stores::cache::{Cache, CacheConfig};
use media_stores::postgres::{DbConfig, Jobs, StoredOutput};
use media_stores::realtime::Realtime;
use media_stores::StoreError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};

/// `MAX_OUTPUT_BYTES` when unset: 1 GiB.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 1 << 30;

/// How long one output's download may take, connection included.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// A message after the batch's first is not started with less time than
/// this left before the invocation's deadline: it is handed back to SQS
/// instead, so a timeout does not make SQS deliver the whole batch again.
pub const START_MARGIN: Duration = Duration::from_secs(30);

/// The S3 object metadata entry holding an output's SHA-256 (hex).
pub const SHA256_METADATA: &str = "sha256";

/// The function's settings, read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// PostgreSQL: `DB_HOST`, `DB_PORT`, `DB_NAME`, `DB_SECRET_ARN`, `DB_TLS`.
    pub db: DbConfig,
    /// Redis: `CACHE_HOST`, `CACHE_PORT`, `CACHE_TLS`, `CACHE_AUTH_SECRET_ARN`.
    pub cache: CacheConfig,
    /// The realtime-jobs table: `REALTIME_TABLE`.
    pub realtime_table: String,
    /// The media bucket: `MEDIA_BUCKET`.
    pub media_bucket: String,
    /// The largest output stored: `MAX_OUTPUT_BYTES` (default 1 GiB).
    pub max_output_bytes: u64,
}

impl Config {
    /// Reads the environment; a missing or invalid variable is named in
    /// the error. The Replicate token's secret is read by
    /// [`media_stores::replicate_config`].
    pub fn from_env() -> Result<Config, StoreError> {
        use lambda_shared::config::{parse_or, var};
        Ok(Config {
            db: DbConfig::from_env("DB")?,
            cache: CacheConfig::from_env("CACHE")?,
            realtime_table: var("REALTIME_TABLE")?,
            media_bucket: var("MEDIA_BUCKET")?,
            max_output_bytes: parse_or("MAX_OUTPUT_BYTES", DEFAULT_MAX_OUTPUT_BYTES)?,
        })
    }
}

/// One output in `metadata.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputMetadata {
    /// Its bucket key.
    pub key: String,
    /// Its Content-Type.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

impl From<&StoredOutput> for OutputMetadata {
    fn from(o: &StoredOutput) -> Self {
        OutputMetadata {
            key: o.key.clone(),
            content_type: o.content_type.clone(),
            size: o.size,
            sha256: o.sha256.clone(),
        }
    }
}

/// The `metadata.json` stored beside a job's outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// The job.
    pub job_id: String,
    /// Who asked for it.
    pub user_id: String,
    /// What it generated.
    pub media_type: MediaType,
    /// The registry name of the model.
    pub model: String,
    /// The model version the prediction ran, when Replicate said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// Replicate's prediction id.
    pub prediction_id: String,
    /// When the job was created (Unix seconds).
    pub created_at: i64,
    /// When its outputs were stored (Unix seconds).
    pub completed_at: i64,
    /// When the prediction started and finished, as Replicate reported
    /// (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_started_at: Option<String>,
    /// See `prediction_started_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_completed_at: Option<String>,
    /// The stored outputs, in Replicate's order.
    pub outputs: Vec<OutputMetadata>,
    /// The prediction's metrics (`predict_time`, ...), as Replicate sent them.
    pub metrics: Option<serde_json::Value>,
}

impl Metadata {
    /// The metadata of `job`'s outputs `stored` from prediction `p`, stored
    /// at `now`.
    pub fn new(job: &Job, p: &Prediction, stored: &[StoredOutput], now: i64) -> Metadata {
        Metadata {
            job_id: job.job_id.clone(),
            user_id: job.user_id.clone(),
            media_type: job.media_type,
            model: job.model.clone(),
            model_version: p.version.clone(),
            prediction_id: p.id.clone(),
            created_at: job.created_at,
            completed_at: now,
            prediction_started_at: p.started_at.clone(),
            prediction_completed_at: p.completed_at.clone(),
            outputs: stored.iter().map(OutputMetadata::from).collect(),
            metrics: p.metrics.clone(),
        }
    }
}

/// What became of one message that needs no retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The outputs were stored and the job succeeded.
    Stored {
        /// The job.
        job_id: String,
        /// How many outputs.
        outputs: usize,
    },
    /// The job failed or was canceled (by the prediction, or because its
    /// outputs cannot be stored).
    Failed {
        /// The job.
        job_id: String,
        /// `failed` or `canceled`.
        status: JobStatus,
    },
    /// The job had already finished: a repeated message.
    AlreadyFinished {
        /// The job.
        job_id: String,
    },
    /// No job has this prediction.
    UnknownPrediction {
        /// The prediction.
        prediction_id: String,
    },
    /// The prediction in the message is not finished.
    NotFinished {
        /// The prediction.
        prediction_id: String,
    },
    /// The message is not a result message.
    Unreadable,
}

/// A failure that may pass: the message is retried.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// An output could not be downloaded (network, Replicate, 404).
    #[error("downloading output {index}: {source}")]
    Download {
        /// Which output (from 0).
        index: usize,
        /// Why.
        source: ReplicateError,
    },
    /// A download's thread stopped.
    #[error("downloading output {index}: {reason}")]
    Interrupted {
        /// Which output.
        index: usize,
        /// Why.
        reason: String,
    },
    /// S3 refused or failed.
    #[error("S3: {0}")]
    S3(String),
    /// PostgreSQL or DynamoDB refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a succeeded prediction's outputs can never be stored: the job
/// fails instead of the message being retried.
#[derive(Debug, thiserror::Error)]
pub enum Unstorable {
    /// The output is not a URL or a list of URLs.
    #[error(transparent)]
    NotUrls(#[from] UnexpectedOutput),
    /// The prediction succeeded with no output.
    #[error("the prediction succeeded without output")]
    NoOutput,
    /// An output is larger than `MAX_OUTPUT_BYTES`.
    #[error("output {index} is larger than {limit} bytes")]
    TooLarge {
        /// Which output.
        index: usize,
        /// The limit.
        limit: u64,
    },
    /// An output's URL cannot be downloaded from (not http or https).
    #[error("output {index} is not a download URL: {reason}")]
    BadUrl {
        /// Which output.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The job's ids do not make a bucket key.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Storing outputs failed, for now or for good.
enum StoreFailure {
    Transient(ProcessError),
    Permanent(Unstorable),
}

impl From<ProcessError> for StoreFailure {
    fn from(e: ProcessError) -> Self {
        StoreFailure::Transient(e)
    }
}

impl From<Unstorable> for StoreFailure {
    fn from(e: Unstorable) -> Self {
        StoreFailure::Permanent(e)
    }
}

fn s3_error(e: impl std::error::Error + 'static) -> ProcessError {
    ProcessError::S3(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
}

/// The consumer and its stores.
pub struct Processor {
    /// Downloads the outputs (the API token is never sent with them).
    pub replicate: replicate::Client,
    /// The permanent record.
    pub jobs: Jobs,
    /// The status cache (best effort).
    pub cache: Cache,
    /// The realtime-jobs table.
    pub realtime: Realtime,
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// The media bucket.
    pub bucket: String,
    /// The largest output stored.
    pub max_output_bytes: u64,
}

impl Processor {
    /// Handles a batch at time `now` (Unix seconds): the ids of the
    /// messages to retry are the response's `batchItemFailures`. With a
    /// `deadline` (the invocation's), the messages after the first are
    /// not started within [`START_MARGIN`] of it and are retried instead;
    /// the first always is, so every invocation makes progress.
    pub async fn handle(
        &self,
        event: &SqsEvent,
        now: i64,
        deadline: Option<SystemTime>,
    ) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for (n, record) in event.records.iter().enumerate() {
            let message_id = record.message_id.clone().unwrap_or_default();
            let left = deadline.map(|d| d.duration_since(SystemTime::now()).unwrap_or_default());
            if n > 0 && left.is_some_and(|left| left < START_MARGIN) {
                tracing::warn!(
                    message_id,
                    left_ms = left.unwrap_or_default().as_millis(),
                    "too little time left; message handed back to SQS"
                );
                response.add_failure(message_id);
                continue;
            }
            let receive_count = record
                .attributes
                .get("ApproximateReceiveCount")
                .map(String::as_str)
                .unwrap_or("");
            match self
                .process(record.body.as_deref().unwrap_or(""), now)
                .await
            {
                Ok(outcome) => {
                    tracing::info!(message_id, ?outcome, "message done");
                }
                Err(e) => {
                    tracing::error!(message_id, receive_count, error = %e, "message failed; SQS will deliver it again");
                    response.add_failure(message_id);
                }
            }
        }
        response
    }

    /// Processes one message body at `now`; an error means it is to be
    /// retried.
    pub async fn process(&self, body: &str, now: i64) -> Result<Outcome, ProcessError> {
        let message: ResultMessage = match serde_json::from_str(body) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, body_bytes = body.len(), "not a result message; dropped");
                return Ok(Outcome::Unreadable);
            }
        };
        let p = message.prediction;
        let prediction_id = p.id.clone();
        if !p.status.is_terminal() {
            tracing::warn!(prediction_id, status = ?p.status, "prediction not finished; dropped");
            return Ok(Outcome::NotFinished { prediction_id });
        }
        let Some(job) = self.find(&prediction_id).await? else {
            tracing::warn!(prediction_id, source = ?message.source, "no job has this prediction; dropped");
            return Ok(Outcome::UnknownPrediction { prediction_id });
        };
        if job.status.is_terminal() {
            tracing::info!(job_id = %job.job_id, prediction_id, status = %job.status, "job already finished");
            return Ok(Outcome::AlreadyFinished { job_id: job.job_id });
        }
        let mut job = job;
        if let Err(e) = job.apply_prediction(&p, now) {
            tracing::warn!(job_id = %job.job_id, prediction_id, error = %e, "prediction does not move the job; dropped");
            return Ok(Outcome::AlreadyFinished { job_id: job.job_id });
        }
        if p.status != PredictionStatus::Succeeded {
            return self.record_failure(job).await;
        }
        // PostgreSQL is the record: a job it holds as finished (the
        // realtime item lagging behind) is not downloaded and stored again.
        if let Some(recorded) = self.jobs.get(&job.job_id).await? {
            if recorded.status.is_terminal() {
                return self.repair(recorded).await;
            }
        }
        match self.store_outputs(&job, &p, now).await {
            Ok(stored) => self.record_success(job, stored, now).await,
            Err(StoreFailure::Transient(e)) => Err(e),
            Err(StoreFailure::Permanent(reason)) => {
                tracing::warn!(job_id = %job.job_id, prediction_id, error = %reason, "outputs cannot be stored; the job fails");
                let error = format!("the outputs could not be stored: {reason}");
                if let Err(e) = job.fail(error, now) {
                    tracing::warn!(job_id = %job.job_id, error = %e, "job not failed");
                    return Ok(Outcome::AlreadyFinished { job_id: job.job_id });
                }
                self.record_failure(job).await
            }
        }
    }

    /// The job of `prediction_id`: the realtime table first, PostgreSQL
    /// when the table has none or fails.
    async fn find(&self, prediction_id: &str) -> Result<Option<Job>, ProcessError> {
        match self.realtime.by_prediction(prediction_id).await {
            Ok(Some(job)) => return Ok(Some(job)),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(prediction_id, error = %e, "realtime lookup failed; reading PostgreSQL");
            }
        }
        Ok(self.jobs.by_prediction(prediction_id).await?)
    }

    /// Downloads each output and stores it, then `metadata.json`.
    async fn store_outputs(
        &self,
        job: &Job,
        p: &Prediction,
        now: i64,
    ) -> Result<Vec<StoredOutput>, StoreFailure> {
        let urls = p.output_urls().map_err(Unstorable::from)?;
        if urls.is_empty() {
            return Err(Unstorable::NoOutput.into());
        }
        // Every key first: ids that make no key fail before anything is stored.
        let keys = urls
            .iter()
            .enumerate()
            .map(|(i, url)| {
                let name = layout::output_file_name(i, url, job.media_type);
                let key = layout::media_key(
                    job.media_type,
                    &job.user_id,
                    &job.job_id,
                    job.created_at,
                    &name,
                )?;
                Ok((key, layout::content_type(&name)))
            })
            .collect::<Result<Vec<_>, KeyError>>()
            .map_err(Unstorable::from)?;
        let metadata_key =
            layout::metadata_key(job.media_type, &job.user_id, &job.job_id, job.created_at)
                .map_err(Unstorable::from)?;

        let mut stored: Vec<StoredOutput> = Vec::with_capacity(urls.len());
        for (index, (url, (key, content_type))) in urls.iter().zip(keys).enumerate() {
            let bytes = match self.download(index, url).await {
                Ok(bytes) => bytes,
                Err(StoreFailure::Permanent(reason)) => {
                    self.remove(&stored).await;
                    return Err(StoreFailure::Permanent(reason));
                }
                Err(transient) => return Err(transient),
            };
            let output = StoredOutput {
                sha256: hex::encode(Sha256::digest(&bytes)),
                size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
                content_type: content_type.to_string(),
                key,
            };
            self.put(&output.key, bytes, &output.content_type, &output.sha256)
                .await?;
            tracing::info!(job_id = %job.job_id, index, key = %output.key, size = output.size, "output stored");
            stored.push(output);
        }
        let metadata = Metadata::new(job, p, &stored, now);
        let json = serde_json::to_vec_pretty(&metadata).unwrap_or_default();
        let sha = hex::encode(Sha256::digest(&json));
        self.put(&metadata_key, json, "application/json", &sha)
            .await?;
        Ok(stored)
    }

    /// Downloads output `index` from `url`, off the async threads.
    async fn download(&self, index: usize, url: &str) -> Result<Vec<u8>, StoreFailure> {
        let client = self.replicate.clone();
        let url = url.to_string();
        let max = self.max_output_bytes;
        let result = tokio::task::spawn_blocking(move || client.download(&url, max))
            .await
            .map_err(|e| ProcessError::Interrupted {
                index,
                reason: e.to_string(),
            })?;
        match result {
            Ok(bytes) => Ok(bytes),
            Err(ReplicateError::TooLarge { limit }) => {
                Err(Unstorable::TooLarge { index, limit }.into())
            }
            Err(ReplicateError::Config(reason)) => Err(Unstorable::BadUrl { index, reason }.into()),
            Err(source) => Err(ProcessError::Download { index, source }.into()),
        }
    }

    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        sha256: &str,
    ) -> Result<(), ProcessError> {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .metadata(SHA256_METADATA, sha256)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(s3_error)?;
        Ok(())
    }

    /// Deletes outputs stored before the job turned out to be unstorable
    /// (best effort: a leftover only costs storage).
    async fn remove(&self, stored: &[StoredOutput]) {
        for o in stored {
            if let Err(e) = self
                .s3
                .delete_object()
                .bucket(&self.bucket)
                .key(&o.key)
                .send()
                .await
            {
                tracing::warn!(key = %o.key, error = %s3_error(e), "partial output not removed");
            }
        }
    }

    /// Records a succeeded job: PostgreSQL (the record) first, then the
    /// realtime table and the status cache.
    async fn record_success(
        &self,
        mut job: Job,
        stored: Vec<StoredOutput>,
        now: i64,
    ) -> Result<Outcome, ProcessError> {
        let keys = stored.iter().map(|o| o.key.clone()).collect();
        if let Err(e) = job.succeed(keys, now) {
            tracing::warn!(job_id = %job.job_id, error = %e, "job not succeeded");
            return Ok(Outcome::AlreadyFinished { job_id: job.job_id });
        }
        if !self.jobs.finish(&job, &stored).await? {
            return self.converge(&job.job_id).await;
        }
        metrics::count(Counter::JobsCompleted, job.media_type, &job.model);
        self.realtime.put(&job).await?;
        self.cache_status(&job).await;
        tracing::info!(job_id = %job.job_id, user_id = %job.user_id, media_type = %job.media_type, model = %job.model, outputs = stored.len(), "job succeeded");
        Ok(Outcome::Stored {
            job_id: job.job_id,
            outputs: stored.len(),
        })
    }

    /// Records a failed or canceled job in every store.
    async fn record_failure(&self, job: Job) -> Result<Outcome, ProcessError> {
        if !self.jobs.update(&job).await? {
            return self.converge(&job.job_id).await;
        }
        metrics::count(Counter::JobsFailed, job.media_type, &job.model);
        self.realtime.put(&job).await?;
        self.cache_status(&job).await;
        tracing::info!(job_id = %job.job_id, user_id = %job.user_id, status = %job.status, error = job.error.as_deref().unwrap_or(""), "job did not succeed");
        Ok(Outcome::Failed {
            job_id: job.job_id,
            status: job.status,
        })
    }

    /// PostgreSQL already holds a finished job (an earlier delivery got
    /// that far, or the checker and the webhook raced): the realtime table
    /// and the cache are brought in line with it.
    async fn converge(&self, job_id: &str) -> Result<Outcome, ProcessError> {
        match self.jobs.get(job_id).await? {
            Some(stored) if stored.status.is_terminal() => self.repair(stored).await,
            other => Err(ProcessError::Store(StoreError::Corrupt {
                job_id: job_id.to_string(),
                reason: match other {
                    Some(j) => format!(
                        "PostgreSQL did not take the update but holds it as {}",
                        j.status
                    ),
                    None => "the job is not in PostgreSQL".to_string(),
                },
            })),
        }
    }

    /// Writes the finished job PostgreSQL holds to the realtime table and
    /// the cache.
    async fn repair(&self, recorded: Job) -> Result<Outcome, ProcessError> {
        self.realtime.put(&recorded).await?;
        self.cache_status(&recorded).await;
        tracing::info!(job_id = %recorded.job_id, status = %recorded.status, "job already finished in PostgreSQL; realtime item and cache brought in line");
        Ok(Outcome::AlreadyFinished {
            job_id: recorded.job_id,
        })
    }

    /// Caches the job's status; Redis failing is only logged.
    async fn cache_status(&self, job: &Job) {
        if let Err(e) = self.cache.put_status(job).await {
            tracing::warn!(job_id = %job.job_id, error = %e, "status cache not updated; PostgreSQL holds the result");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_names_the_job_its_outputs_and_the_metrics() {
        let mut job = Job::new("j-1", "u-1", MediaType::Audio, "musicgen", 1_772_927_999);
        job.prediction_id = Some("p-1".into());
        let p: Prediction = serde_json::from_value(json!({
            "id": "p-1", "status": "succeeded", "version": "abc",
            "output": "http://x/out.wav", "metrics": {"predict_time": 4.25},
            "started_at": "2026-03-07T23:59:59Z", "completed_at": "2026-03-08T00:00:04Z"
        }))
        .unwrap();
        let stored = [StoredOutput {
            key: "audio/u-1/2026/03/07/j-1/original.wav".into(),
            content_type: "audio/wav".into(),
            size: 4,
            sha256: "ab".repeat(32),
        }];
        let m = Metadata::new(&job, &p, &stored, 1_772_928_100);
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({
                "jobId": "j-1", "userId": "u-1", "mediaType": "audio", "model": "musicgen",
                "modelVersion": "abc", "predictionId": "p-1",
                "createdAt": 1_772_927_999, "completedAt": 1_772_928_100,
                "predictionStartedAt": "2026-03-07T23:59:59Z",
                "predictionCompletedAt": "2026-03-08T00:00:04Z",
                "outputs": [{"key": "audio/u-1/2026/03/07/j-1/original.wav",
                             "contentType": "audio/wav", "size": 4, "sha256": "ab".repeat(32)}],
                "metrics": {"predict_time": 4.25}
            })
        );
    }
}
