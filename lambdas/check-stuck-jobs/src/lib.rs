//! check-stuck-jobs: runs every five minutes (seed 004's
//! check-replicate-status, the backup for lost webhooks). It takes the
//! unfinished jobs that have not moved for `STUCK_AFTER_SECS`, oldest
//! first and at most [`BATCH_LIMIT`] per run, and decides for each:
//!
//! - no prediction id: the prediction was never created (generate-media
//!   stopped half-way), so the job is failed;
//! - the prediction is finished on Replicate: it goes to the results queue
//!   as a [`ResultMessage`] from [`Source::Poll`], and process-result
//!   stores it exactly as it stores a webhook's;
//! - still running, but the job is older than `MAX_JOB_AGE_SECS`: the
//!   prediction is canceled on Replicate and the job failed;
//! - still running and younger: left alone (polled again next run);
//! - Replicate no longer knows the prediction: the job is failed.
//!
//! A job is failed in PostgreSQL first (which refuses to touch a job that
//! finished meanwhile), then in the realtime table and Redis, and counted
//! as `JobsFailed`. One job's error is logged and counted and the run goes
//! on; Replicate throttling (429) ends the run early without failing
//! anything, and so does the invocation's deadline drawing near. The run
//! answers a [`Summary`] of what it did.

#![warn(missing_docs)]

use aws_sdk_sqs::error::DisplayErrorContext;
use lambda_shared::config;
use media_core::job::Job;
use media_core::metrics::Counter;
use media_core::queue::{ResultMessage, Source};
use media_core::replicate::{Client, Prediction, PredictionStatus, ReplicateError};
use media_core::MediaType;
use media_stores::cache::{Cache, CacheConfig};
use media_stores::postgres::{DbConfig, Jobs};
use media_stores::realtime::Realtime;
use media_stores::StoreError;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::{Duration, Instant};

/// Most jobs looked at per run.
pub const BATCH_LIMIT: i64 = 100;
/// Idle time after which a job is stuck, when `STUCK_AFTER_SECS` is not set.
pub const DEFAULT_STUCK_AFTER_SECS: i64 = 900;
/// Age after which a running prediction is canceled, when
/// `MAX_JOB_AGE_SECS` is not set.
pub const DEFAULT_MAX_JOB_AGE_SECS: i64 = 3600;
/// How long one Replicate call may take here: a slow answer is retried next
/// run rather than eating the invocation's time.
pub const REPLICATE_TIMEOUT: Duration = Duration::from_secs(5);
/// No job is started with less than this left before the deadline: enough
/// for a poll, a cancel and the store writes of one job.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(12);
/// How long one Redis call may take before it counts as failed.
pub const CACHE_TIMEOUT: Duration = Duration::from_secs(2);

/// The function's own settings, read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The results queue (`QUEUE_URL`).
    pub queue_url: String,
    /// Idle seconds before a job is looked at (`STUCK_AFTER_SECS`, default 900).
    pub stuck_after_secs: i64,
    /// Age in seconds after which a running prediction is canceled
    /// (`MAX_JOB_AGE_SECS`, default 3600).
    pub max_job_age_secs: i64,
}

/// A configuration problem; each names the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable is missing or does not parse.
    #[error(transparent)]
    Env(#[from] config::ConfigError),
    /// A store's variables are missing or invalid.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A variable has a value outside what it accepts.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
}

impl Config {
    /// Reads `QUEUE_URL`, `STUCK_AFTER_SECS` and `MAX_JOB_AGE_SECS`.
    pub fn from_env() -> Result<Config, ConfigError> {
        let queue_url = config::var("QUEUE_URL")?;
        let stuck_after_secs = config::parse_or("STUCK_AFTER_SECS", DEFAULT_STUCK_AFTER_SECS)?;
        let max_job_age_secs = config::parse_or("MAX_JOB_AGE_SECS", DEFAULT_MAX_JOB_AGE_SECS)?;
        for (name, value) in [
            ("STUCK_AFTER_SECS", stuck_after_secs),
            ("MAX_JOB_AGE_SECS", max_job_age_secs),
        ] {
            if value < 1 {
                return Err(ConfigError::Invalid {
                    name,
                    value: value.to_string(),
                    reason: "must be at least 1",
                });
            }
        }
        Ok(Config {
            queue_url,
            stuck_after_secs,
            max_job_age_secs,
        })
    }
}

/// The three stores a failed job is written to.
pub struct Stores {
    /// PostgreSQL: the permanent record, and where stuck jobs are found.
    pub jobs: Jobs,
    /// Redis: the status cache.
    pub cache: Cache,
    /// DynamoDB: the realtime-jobs table.
    pub realtime: Realtime,
}

impl Stores {
    /// From `DB_*`, `CACHE_*` and `REALTIME_TABLE`; nothing connects yet.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Stores, ConfigError> {
        Ok(Stores::new(
            sdk,
            DbConfig::from_env("DB")?,
            CacheConfig::from_env("CACHE")?,
            config::var("REALTIME_TABLE")?,
        ))
    }

    /// The stores for these settings.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        db: DbConfig,
        cache: CacheConfig,
        realtime_table: String,
    ) -> Stores {
        Stores {
            jobs: Jobs::new(db, sdk),
            cache: Cache::new(cache, sdk),
            realtime: Realtime::new(sdk, realtime_table),
        }
    }
}

/// Where the job counters go.
pub trait Metrics: Send + Sync {
    /// Counts one `counter` for a job of `media_type` on the registry model
    /// `model`.
    fn count(&self, counter: Counter, media_type: MediaType, model: &str);
}

/// CloudWatch's embedded metric format on stdout, in `METRICS_NAMESPACE`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Emf;

impl Metrics for Emf {
    fn count(&self, counter: Counter, media_type: MediaType, model: &str) {
        media_core::metrics::count(counter, media_type, model);
    }
}

/// Why a run ended before it looked at every stuck job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stop {
    /// Replicate answered 429.
    Throttled,
    /// The invocation's deadline was near.
    Deadline,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Stuck jobs found (at most [`BATCH_LIMIT`]).
    pub stuck: usize,
    /// Finished predictions sent to the results queue.
    pub queued: usize,
    /// Jobs failed: no prediction, or one Replicate no longer knows.
    pub failed: usize,
    /// Jobs whose prediction ran too long: canceled, and the job failed.
    pub canceled: usize,
    /// Jobs still running (or finished meanwhile), left as they are.
    pub left: usize,
    /// Jobs whose check failed; they are checked again next run.
    pub errors: usize,
    /// Jobs not looked at because the run stopped early.
    pub unchecked: usize,
    /// Why the run stopped early, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<Stop>,
}

/// What was done with one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Its finished prediction was queued.
    Queued,
    /// It was failed.
    Failed,
    /// Its prediction was canceled and it was failed.
    Canceled,
    /// Nothing: still running, or it finished meanwhile.
    Left,
}

impl Decision {
    fn as_str(self) -> &'static str {
        match self {
            Decision::Queued => "queued",
            Decision::Failed => "failed",
            Decision::Canceled => "canceled",
            Decision::Left => "left",
        }
    }
}

/// Why one job could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Replicate failed or refused.
    #[error(transparent)]
    Replicate(#[from] ReplicateError),
    /// PostgreSQL failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The results queue refused the message.
    #[error("sending to the results queue: {0}")]
    Queue(String),
}

/// Runs a cache call with [`CACHE_TIMEOUT`]; a timeout is an error.
async fn bounded<T>(call: impl Future<Output = Result<T, StoreError>>) -> Result<T, String> {
    match tokio::time::timeout(CACHE_TIMEOUT, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", CACHE_TIMEOUT.as_millis())),
    }
}

/// Everything a run needs.
pub struct Checker<M = Emf> {
    /// The function's settings.
    pub config: Config,
    /// The stores.
    pub stores: Stores,
    /// Replicate (blocking: called on the blocking thread pool).
    pub replicate: Client,
    /// The results queue's client.
    pub sqs: aws_sdk_sqs::Client,
    /// The job counters.
    pub metrics: M,
}

impl<M: Metrics> Checker<M> {
    /// One run at `now` (Unix seconds); no job is started when less than
    /// [`DEADLINE_MARGIN`] is left before `deadline`. Fails only when the
    /// stuck jobs cannot be read.
    pub async fn run(&self, now: i64, deadline: Option<Instant>) -> Result<Summary, StoreError> {
        let before = now.saturating_sub(self.config.stuck_after_secs);
        let jobs = self.stores.jobs.stuck(before, BATCH_LIMIT).await?;
        let mut summary = Summary {
            stuck: jobs.len(),
            ..Summary::default()
        };
        for job in jobs {
            if deadline.is_some_and(|d| Instant::now() + DEADLINE_MARGIN >= d) {
                summary.stopped_early = Some(Stop::Deadline);
                break;
            }
            let (job_id, prediction_id) = (job.job_id.clone(), job.prediction_id.clone());
            match self.check(job, now).await {
                Ok(decision) => {
                    match decision {
                        Decision::Queued => summary.queued += 1,
                        Decision::Failed => summary.failed += 1,
                        Decision::Canceled => summary.canceled += 1,
                        Decision::Left => summary.left += 1,
                    }
                    tracing::info!(
                        job_id,
                        prediction_id,
                        decision = decision.as_str(),
                        "stuck job checked"
                    );
                }
                Err(CheckError::Replicate(e @ ReplicateError::RateLimited { .. })) => {
                    tracing::warn!(job_id, prediction_id, error = %e, "Replicate is throttling; the run stops here");
                    summary.stopped_early = Some(Stop::Throttled);
                    break;
                }
                Err(e) => {
                    summary.errors += 1;
                    tracing::error!(job_id, prediction_id, error = %e, "stuck job not checked; next run tries again");
                }
            }
        }
        summary.unchecked = summary.stuck
            - (summary.queued + summary.failed + summary.canceled + summary.left + summary.errors);
        tracing::info!(
            stuck = summary.stuck,
            queued = summary.queued,
            failed = summary.failed,
            canceled = summary.canceled,
            left = summary.left,
            errors = summary.errors,
            unchecked = summary.unchecked,
            stopped_early = ?summary.stopped_early,
            "run finished"
        );
        Ok(summary)
    }

    /// Decides about one stuck job.
    pub async fn check(&self, job: Job, now: i64) -> Result<Decision, CheckError> {
        let Some(prediction_id) = job.prediction_id.clone() else {
            return self
                .fail(
                    job,
                    "the prediction was never created".into(),
                    now,
                    Decision::Failed,
                )
                .await;
        };
        let id = prediction_id.clone();
        let prediction = match self.replicate(move |c| c.get_prediction(&id)).await {
            Ok(p) => p,
            Err(ReplicateError::NotFound(_)) => {
                return self
                    .fail(
                        job,
                        "the prediction no longer exists on Replicate".into(),
                        now,
                        Decision::Failed,
                    )
                    .await;
            }
            Err(e) => return Err(e.into()),
        };
        if prediction.status.is_terminal() {
            self.enqueue(&prediction, now).await?;
            return Ok(Decision::Queued);
        }
        let age = now.saturating_sub(job.created_at);
        if age < self.config.max_job_age_secs {
            return Ok(Decision::Left);
        }
        let id = prediction_id.clone();
        let canceled = self.replicate(move |c| c.cancel_prediction(&id)).await?;
        if canceled.status.is_terminal() && canceled.status != PredictionStatus::Canceled {
            // It finished before the cancel took: store its result.
            self.enqueue(&canceled, now).await?;
            return Ok(Decision::Queued);
        }
        tracing::warn!(job_id = %job.job_id, prediction_id, age, "prediction canceled: it ran too long");
        let error = format!(
            "the prediction ran for more than {} s and was canceled",
            self.config.max_job_age_secs
        );
        self.fail(job, error, now, Decision::Canceled).await
    }

    /// Calls Replicate on the blocking pool.
    async fn replicate<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Client) -> Result<T, ReplicateError> + Send + 'static,
    ) -> Result<T, ReplicateError> {
        let client = self.replicate.clone();
        tokio::task::spawn_blocking(move || call(&client))
            .await
            .unwrap_or_else(|e| {
                Err(ReplicateError::Transport(format!(
                    "the request thread failed: {e}"
                )))
            })
    }

    /// Puts a finished prediction on the results queue.
    async fn enqueue(&self, prediction: &Prediction, now: i64) -> Result<(), CheckError> {
        let message = ResultMessage::new(prediction.clone(), Source::Poll, now);
        let body = serde_json::to_string(&message).map_err(|e| CheckError::Queue(e.to_string()))?;
        let mut send = self
            .sqs
            .send_message()
            .queue_url(&self.config.queue_url)
            .message_body(body);
        if self.config.queue_url.ends_with(".fifo") {
            // One group per prediction; a repeated poll of the same result
            // within five minutes is dropped by the queue.
            send = send
                .message_group_id(&prediction.id)
                .message_deduplication_id(format!("{}-{}", prediction.id, now / 300));
        }
        send.send()
            .await
            .map_err(|e| CheckError::Queue(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// Fails the job in PostgreSQL, then the realtime table and Redis, and
    /// counts it; a job PostgreSQL says finished meanwhile is left.
    async fn fail(
        &self,
        mut job: Job,
        error: String,
        now: i64,
        decision: Decision,
    ) -> Result<Decision, CheckError> {
        let job_id = job.job_id.clone();
        if job.fail(error, now).is_err() {
            return Ok(Decision::Left);
        }
        if !self.stores.jobs.update(&job).await? {
            tracing::info!(job_id, "job finished meanwhile; left as it is");
            return Ok(Decision::Left);
        }
        if let Err(e) = self.stores.realtime.put(&job).await {
            tracing::error!(job_id, error = %e, "the failure was not recorded in the realtime table");
        }
        if let Err(e) = bounded(self.stores.cache.put_status(&job)).await {
            tracing::warn!(job_id, error = %e, "the failure was not cached");
        }
        self.metrics
            .count(Counter::JobsFailed, job.media_type, &job.model);
        tracing::info!(
            job_id,
            user_id = %job.user_id,
            model = %job.model,
            error = job.error.as_deref().unwrap_or_default(),
            action = "failed",
            "stuck job failed"
        );
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_camel_case_and_names_why_it_stopped() {
        let s = Summary {
            stuck: 3,
            queued: 1,
            unchecked: 2,
            stopped_early: Some(Stop::Throttled),
            ..Summary::default()
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"stuck": 3, "queued": 1, "failed": 0, "canceled": 0, "left": 0,
                               "errors": 0, "unchecked": 2, "stoppedEarly": "throttled"})
        );
        let done = serde_json::to_value(Summary::default()).unwrap();
        assert!(done.get("stoppedEarly").is_none(), "{done}");
    }
}
