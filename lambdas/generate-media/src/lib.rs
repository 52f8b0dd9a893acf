//! generate-media: `POST /generate-media` (seed 004). It validates the body
//! against the model registry, rate-limits the caller in Redis, records the
//! pending job in PostgreSQL (the permanent record) and in the realtime
//! table, starts the prediction on Replicate with the webhook URL (events
//! `completed` only), records the prediction's id, and answers `202` with
//! the job's id and where to poll it.
//!
//! Who the caller is comes only from the media authorizer
//! (`requestContext.authorizer.lambda.userId`). A body may still carry the
//! registry's optional `user_id`, but only the caller's own: any other is
//! refused with `403` rather than silently ignored, so a client that thinks
//! it acts for someone else learns that it does not.
//!
//! PostgreSQL is the store that decides: a job that cannot be written there
//! is not started (`500`). The realtime item and the Redis status are
//! written too, but a failure there is logged and the request goes on: the
//! webhook processor and get-status fall back to PostgreSQL. The rate
//! limit is different: it guards the Replicate bill, so when Redis cannot
//! count, the request is refused with `503` (fail closed).
//!
//! When Replicate refuses or cannot be reached, the job is marked failed in
//! every store, `JobsFailed` is counted, and the client gets `502` (a
//! refusal) or `503` (throttling, a Replicate outage, no connection; with
//! `Retry-After` when Replicate sent one). Neither the response nor the
//! logs ever hold the API token.

#![warn(missing_docs)]

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::http::{header, HeaderValue};
use lambda_shared::config;
use media_core::job::{Job, JobStatus};
use media_core::metrics::Counter;
use media_core::registry::{ModelRegistry, RegistryError, ValidatedRequest};
use media_core::replicate::{self, Prediction, ReplicateError, WebhookEvent};
use media_core::MediaType;
use media_stores::cache::{Cache, CacheConfig, RateDecision};
use media_stores::postgres::{DbConfig, Jobs, NewJob};
use media_stores::realtime::Realtime;
use media_stores::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::future::Future;
use std::time::Duration;

/// Requests per window when `RATE_LIMIT` is not set.
pub const DEFAULT_RATE_LIMIT: u64 = 30;
/// The rate limit's window when `RATE_WINDOW_SECS` is not set.
pub const DEFAULT_RATE_WINDOW_SECS: u64 = 3600;
/// How long one Redis call may take before it counts as failed (the
/// connection manager retries a dead server for several seconds).
pub const CACHE_TIMEOUT: Duration = Duration::from_secs(2);

/// The function's own settings, read once at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// The models clients may ask for (`MODELS`).
    pub registry: ModelRegistry,
    /// Where Replicate posts finished predictions (`WEBHOOK_URL`).
    pub webhook_url: String,
    /// Requests a user may make per window (`RATE_LIMIT`, default 30).
    pub rate_limit: u64,
    /// The window, seconds (`RATE_WINDOW_SECS`, default 3600).
    pub rate_window_secs: u64,
}

/// A configuration problem; each names the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable is missing or does not parse.
    #[error(transparent)]
    Env(#[from] config::ConfigError),
    /// `MODELS` is missing or not a usable registry.
    #[error("environment variable MODELS: {0}")]
    Registry(#[from] RegistryError),
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
    /// Reads `MODELS`, `WEBHOOK_URL`, `RATE_LIMIT` and `RATE_WINDOW_SECS`.
    pub fn from_env() -> Result<Config, ConfigError> {
        let registry = ModelRegistry::from_env("MODELS")?;
        let webhook_url = config::var("WEBHOOK_URL")?;
        if !(webhook_url.starts_with("https://") || webhook_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "WEBHOOK_URL",
                value: webhook_url,
                reason: "expected an http:// or https:// URL",
            });
        }
        let rate_limit = config::parse_or("RATE_LIMIT", DEFAULT_RATE_LIMIT)?;
        let rate_window_secs = config::parse_or("RATE_WINDOW_SECS", DEFAULT_RATE_WINDOW_SECS)?;
        for (name, value) in [
            ("RATE_LIMIT", rate_limit),
            ("RATE_WINDOW_SECS", rate_window_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    name,
                    value: value.to_string(),
                    reason: "must be at least 1",
                });
            }
        }
        Ok(Config {
            registry,
            webhook_url,
            rate_limit,
            rate_window_secs,
        })
    }
}

/// The three stores the function writes.
pub struct Stores {
    /// PostgreSQL: the permanent record.
    pub jobs: Jobs,
    /// Redis: rate limits and the status cache.
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

/// Everything a request needs.
pub struct Service<M = Emf> {
    /// The function's settings.
    pub config: Config,
    /// The stores.
    pub stores: Stores,
    /// Replicate (blocking: called on the blocking thread pool).
    pub replicate: replicate::Client,
    /// The job counters.
    pub metrics: M,
}

/// The `202` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The new job's id (UUID v4).
    pub job_id: String,
    /// Its status: `pending` as a rule.
    pub status: JobStatus,
    /// Where to poll it: `/status/{jobId}`.
    pub status_url: String,
}

/// Why a request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    /// The route gave no caller (the authorizer is not attached).
    #[error("the request carries no authenticated user")]
    Unauthenticated,
    /// The body is not a valid request; `field` names what is wrong.
    #[error("{message}")]
    BadRequest {
        /// The field to blame, when there is one.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The body's `user_id` is not the caller's.
    #[error("user_id: the body's user_id is not the authenticated caller's")]
    Forbidden,
    /// The caller used up the window's requests.
    #[error("rate limit exceeded: {limit} requests per {window_secs} s; retry in {retry_after} s")]
    RateLimited {
        /// Requests per window.
        limit: u64,
        /// The window, seconds.
        window_secs: u64,
        /// Seconds until the next window.
        retry_after: u64,
    },
    /// The rate limiter (Redis) could not count the request.
    #[error("the rate limiter is unavailable: {0}")]
    LimiterUnavailable(String),
    /// Replicate refused or could not be reached; the job was marked
    /// failed. `message` is for the client and holds no secret.
    #[error("{message}")]
    Upstream {
        /// The failed job.
        job_id: String,
        /// Whether trying later may work (`503`), or not (`502`).
        retryable: bool,
        /// Replicate's `Retry-After`, seconds.
        retry_after: Option<u64>,
        /// What the client is told.
        message: String,
    },
    /// Something failed on our side; the detail is logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

impl GenerateError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            GenerateError::Unauthenticated => 401,
            GenerateError::BadRequest { .. } => 400,
            GenerateError::Forbidden => 403,
            GenerateError::RateLimited { .. } => 429,
            GenerateError::LimiterUnavailable(_) => 503,
            GenerateError::Upstream { retryable, .. } => {
                if *retryable {
                    503
                } else {
                    502
                }
            }
            GenerateError::Internal(_) => 500,
        }
    }
}

/// The caller's user id, as the media authorizer passed it on.
pub fn caller(req: &ApiGatewayV2httpRequest) -> Option<&str> {
    req.request_context
        .authorizer
        .as_ref()?
        .fields
        .get("userId")?
        .as_str()
        .filter(|u| !u.is_empty())
}

/// Runs a cache call with [`CACHE_TIMEOUT`]; a timeout is an error.
async fn bounded<T>(call: impl Future<Output = Result<T, StoreError>>) -> Result<T, String> {
    match tokio::time::timeout(CACHE_TIMEOUT, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", CACHE_TIMEOUT.as_millis())),
    }
}

/// What the job's record and the client are told about a Replicate error:
/// a short reason without Replicate's internals (token problems included).
fn upstream_reason(e: &ReplicateError) -> String {
    match e {
        ReplicateError::InvalidInput(detail) => {
            format!("the model rejected the request: {detail}")
        }
        ReplicateError::RateLimited { .. } => "the model provider is throttling requests".into(),
        ReplicateError::Server { .. } | ReplicateError::Transport(_) => {
            "the model provider is unavailable".into()
        }
        _ => "the model provider refused the request".into(),
    }
}

impl<M: Metrics> Service<M> {
    /// Handles one request at `now` (Unix seconds).
    pub async fn handle(
        &self,
        req: &ApiGatewayV2httpRequest,
        now: i64,
    ) -> Result<Accepted, GenerateError> {
        let user_id = caller(req).ok_or(GenerateError::Unauthenticated)?;
        let body = lambda_shared::http::body_text(req.body.as_deref(), req.is_base64_encoded)
            .map_err(|e| GenerateError::BadRequest {
                field: None,
                message: e.to_string(),
            })?;
        let request =
            self.config
                .registry
                .validate_json(&body)
                .map_err(|e| GenerateError::BadRequest {
                    field: e.field().map(str::to_string),
                    message: e.to_string(),
                })?;
        if request.user_id.as_deref().is_some_and(|u| u != user_id) {
            tracing::warn!(
                user_id,
                "body user_id differs from the authenticated caller"
            );
            return Err(GenerateError::Forbidden);
        }
        // The user id becomes part of the outputs' bucket keys.
        media_core::layout::validate_id("user_id", user_id).map_err(|e| {
            GenerateError::Internal(format!("the authorizer's user id is unusable: {e}"))
        })?;
        self.check_rate(user_id, now).await?;

        let job_id = uuid::Uuid::new_v4().to_string();
        let mut job = Job::new(
            &job_id,
            user_id,
            request.media_type,
            &request.model_name,
            now,
        );
        let input = serde_json::Value::Object(request.input.clone());
        self.stores
            .jobs
            .insert(&NewJob {
                job: &job,
                model_version: &request.version,
                input: &input,
            })
            .await
            .map_err(|e| GenerateError::Internal(format!("recording job {job_id}: {e}")))?;
        if let Err(e) = self.stores.realtime.put(&job).await {
            tracing::error!(job_id, error = %e, "the realtime item was not written; going on");
        }

        match self.create_prediction(&request).await {
            Ok(prediction) => self.started(&mut job, &prediction, now).await,
            Err(e) => Err(self.refused(&mut job, &e, now).await),
        }
    }

    /// Counts the request against the caller's limit.
    async fn check_rate(&self, user_id: &str, now: i64) -> Result<(), GenerateError> {
        let (limit, window_secs) = (self.config.rate_limit, self.config.rate_window_secs);
        let decision = bounded(
            self.stores
                .cache
                .rate_limit(user_id, limit, window_secs, now),
        )
        .await
        .map_err(GenerateError::LimiterUnavailable)?;
        match decision {
            RateDecision::Allowed { .. } => Ok(()),
            RateDecision::Limited { retry_after } => {
                tracing::info!(user_id, retry_after, "rate limited");
                Err(GenerateError::RateLimited {
                    limit,
                    window_secs,
                    retry_after,
                })
            }
        }
    }

    /// Starts the prediction, on the blocking pool.
    async fn create_prediction(
        &self,
        request: &ValidatedRequest,
    ) -> Result<Prediction, ReplicateError> {
        let client = self.replicate.clone();
        let version = request.version.clone();
        let input = request.input.clone();
        let webhook = self.config.webhook_url.clone();
        tokio::task::spawn_blocking(move || {
            client.create_prediction(&version, &input, Some(&webhook), &[WebhookEvent::Completed])
        })
        .await
        .unwrap_or_else(|e| {
            Err(ReplicateError::Transport(format!(
                "the request thread failed: {e}"
            )))
        })
    }

    /// Records a started prediction in every store.
    async fn started(
        &self,
        job: &mut Job,
        prediction: &Prediction,
        now: i64,
    ) -> Result<Accepted, GenerateError> {
        let job_id = job.job_id.clone();
        if let Err(e) = job.apply_prediction(prediction, now) {
            // A brand-new job takes any status; should Replicate answer
            // something odd, keep the id and go on.
            tracing::warn!(job_id, error = %e, "prediction status not applied");
            job.prediction_id = Some(prediction.id.clone());
        }
        match self.stores.jobs.update(job).await {
            Ok(true) => {}
            Ok(false) => {
                // Already finished (a very fast webhook): that record wins.
                let current =
                    self.stores.jobs.get(&job_id).await.map_err(|e| {
                        GenerateError::Internal(format!("reading job {job_id}: {e}"))
                    })?;
                if let Some(current) = current {
                    *job = current;
                }
                tracing::info!(job_id, status = %job.status, "job already finished when its prediction was recorded");
                self.metrics
                    .count(Counter::JobsStarted, job.media_type, &job.model);
                return Ok(accepted(job));
            }
            Err(e) => {
                // Without the prediction's id in the permanent record
                // nothing could match its result: stop it.
                let detail = format!(
                    "recording prediction {} of job {job_id}: {e}",
                    prediction.id
                );
                self.abandon(job, &prediction.id, now).await;
                return Err(GenerateError::Internal(detail));
            }
        }
        if let Err(e) = self.stores.realtime.put(job).await {
            tracing::error!(job_id, error = %e, "the realtime item was not updated; going on");
        }
        if let Err(e) = bounded(self.stores.cache.put_status(job)).await {
            tracing::warn!(job_id, error = %e, "the status was not cached; going on");
        }
        self.metrics
            .count(Counter::JobsStarted, job.media_type, &job.model);
        tracing::info!(
            job_id,
            user_id = %job.user_id,
            model = %job.model,
            media_type = %job.media_type,
            prediction_id = %prediction.id,
            action = "started",
            "prediction started"
        );
        Ok(accepted(job))
    }

    /// Cancels a prediction whose job could not be recorded, and fails the
    /// job wherever that still works.
    async fn abandon(&self, job: &mut Job, prediction_id: &str, now: i64) {
        let client = self.replicate.clone();
        let id = prediction_id.to_string();
        let canceled = tokio::task::spawn_blocking(move || client.cancel_prediction(&id)).await;
        match canceled {
            Ok(Ok(_)) => {
                tracing::warn!(job_id = %job.job_id, prediction_id, "prediction canceled: its job could not be recorded")
            }
            Ok(Err(e)) => {
                tracing::error!(job_id = %job.job_id, prediction_id, error = %e, "the unrecorded prediction could not be canceled")
            }
            Err(e) => {
                tracing::error!(job_id = %job.job_id, prediction_id, error = %e, "the unrecorded prediction could not be canceled")
            }
        }
        self.fail_everywhere(job, "the job could not be recorded".into(), now)
            .await;
    }

    /// Fails the job after Replicate refused or could not be reached.
    async fn refused(&self, job: &mut Job, e: &ReplicateError, now: i64) -> GenerateError {
        let reason = upstream_reason(e);
        tracing::error!(
            job_id = %job.job_id,
            user_id = %job.user_id,
            model = %job.model,
            error = %e,
            retryable = e.is_retryable(),
            action = "refused",
            "the prediction could not be created"
        );
        self.fail_everywhere(
            job,
            format!("the prediction could not be created: {reason}"),
            now,
        )
        .await;
        let retry_after = match e {
            ReplicateError::RateLimited { retry_after, .. } => retry_after.map(|d| d.as_secs()),
            _ => None,
        };
        GenerateError::Upstream {
            job_id: job.job_id.clone(),
            retryable: e.is_retryable(),
            retry_after,
            message: reason,
        }
    }

    /// Marks the job failed in PostgreSQL, the realtime table and Redis
    /// (each as far as it works) and counts `JobsFailed`.
    async fn fail_everywhere(&self, job: &mut Job, error: String, now: i64) {
        let job_id = job.job_id.clone();
        if let Err(e) = job.fail(error, now) {
            tracing::warn!(job_id, error = %e, "job not failed");
            return;
        }
        match self.stores.jobs.update(job).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(job_id, "job already finished; not failed again");
                return;
            }
            Err(e) => {
                tracing::error!(job_id, error = %e, "the failure was not recorded in PostgreSQL")
            }
        }
        if let Err(e) = self.stores.realtime.put(job).await {
            tracing::error!(job_id, error = %e, "the failure was not recorded in the realtime table");
        }
        if let Err(e) = bounded(self.stores.cache.put_status(job)).await {
            tracing::warn!(job_id, error = %e, "the failure was not cached");
        }
        self.metrics
            .count(Counter::JobsFailed, job.media_type, &job.model);
    }
}

fn accepted(job: &Job) -> Accepted {
    Accepted {
        job_id: job.job_id.clone(),
        status: job.status,
        status_url: format!("/status/{}", job.job_id),
    }
}

/// The HTTP response for a request's outcome: `202` with a `Location`, or
/// the error's status with a JSON `{"error", ...}` body. Internal errors
/// are logged with the request id, which is all the client gets.
pub fn respond(
    outcome: Result<Accepted, GenerateError>,
    request_id: &str,
) -> ApiGatewayV2httpResponse {
    use lambda_shared::http::json_response;
    let e = match outcome {
        Ok(accepted) => {
            let mut r = json_response(202, &serde_json::to_value(&accepted).unwrap_or_default());
            if let Ok(v) = HeaderValue::from_str(&accepted.status_url) {
                r.headers.insert(header::LOCATION, v);
            }
            return r;
        }
        Err(e) => e,
    };
    let status = e.status();
    let (body, retry_after) = match &e {
        GenerateError::Internal(detail) => {
            tracing::error!(request_id, error = %detail, "request failed");
            (
                json!({"error": "internal error", "requestId": request_id}),
                None,
            )
        }
        GenerateError::LimiterUnavailable(detail) => {
            tracing::error!(request_id, error = %detail, "rate limiter unavailable; request refused");
            (
                json!({"error": "the service is busy; try again later", "requestId": request_id}),
                None,
            )
        }
        GenerateError::BadRequest { field, .. } => {
            let mut body = json!({"error": e.to_string()});
            if let Some(f) = field {
                body["field"] = json!(f);
            }
            (body, None)
        }
        GenerateError::Forbidden => (json!({"error": e.to_string(), "field": "user_id"}), None),
        GenerateError::RateLimited { retry_after, .. } => (
            json!({"error": e.to_string(), "retryAfter": retry_after}),
            Some(*retry_after),
        ),
        GenerateError::Upstream {
            job_id,
            retry_after,
            message,
            ..
        } => (
            json!({"error": message, "jobId": job_id, "status": JobStatus::Failed}),
            *retry_after,
        ),
        GenerateError::Unauthenticated => (json!({"error": e.to_string()}), None),
    };
    if status < 500 {
        tracing::info!(request_id, status, error = %e, "request refused");
    }
    let mut r = json_response(status, &body);
    if let Some(secs) = retry_after {
        r.headers
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &ApiGatewayV2httpResponse) -> serde_json::Value {
        match &r.body {
            Some(aws_lambda_events::encodings::Body::Text(t)) => serde_json::from_str(t).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_map_to_statuses_and_headers() {
        let r = respond(
            Err(GenerateError::RateLimited {
                limit: 3,
                window_secs: 60,
                retry_after: 12,
            }),
            "r",
        );
        assert_eq!(r.status_code, 429);
        assert_eq!(r.headers["retry-after"], "12");
        assert_eq!(body(&r)["retryAfter"], 12);

        let upstream = |retryable, retry_after| GenerateError::Upstream {
            job_id: "j".into(),
            retryable,
            retry_after,
            message: "m".into(),
        };
        let r = respond(Err(upstream(false, None)), "r");
        assert_eq!(r.status_code, 502);
        assert!(!r.headers.contains_key("retry-after"));
        assert_eq!(
            body(&r),
            json!({"error": "m", "jobId": "j", "status": "failed"})
        );
        let r = respond(Err(upstream(true, Some(7))), "r");
        assert_eq!(
            (r.status_code, &r.headers["retry-after"]),
            (503, &HeaderValue::from(7u64))
        );

        let r = respond(
            Err(GenerateError::Internal("postgres at 10.0.0.1".into())),
            "req-9",
        );
        assert_eq!(r.status_code, 500);
        assert_eq!(
            body(&r),
            json!({"error": "internal error", "requestId": "req-9"})
        );
        let r = respond(Err(GenerateError::LimiterUnavailable("redis".into())), "r");
        assert_eq!(r.status_code, 503);
        assert!(!body(&r).to_string().contains("redis"));
        assert_eq!(
            respond(Err(GenerateError::Unauthenticated), "r").status_code,
            401
        );
        let r = respond(Err(GenerateError::Forbidden), "r");
        assert_eq!(
            (r.status_code, body(&r)["field"].clone()),
            (403, json!("user_id"))
        );
    }

    #[test]
    fn accepted_answers_202_with_a_location() {
        let r = respond(
            Ok(Accepted {
                job_id: "j1".into(),
                status: JobStatus::Pending,
                status_url: "/status/j1".into(),
            }),
            "r",
        );
        assert_eq!(r.status_code, 202);
        assert_eq!(r.headers["location"], "/status/j1");
        assert_eq!(
            body(&r),
            json!({"jobId": "j1", "status": "pending", "statusUrl": "/status/j1"})
        );
    }

    #[test]
    fn replicate_errors_become_short_reasons() {
        let unauthorized = ReplicateError::Unauthorized {
            status: 401,
            detail: "bad token r8_x".into(),
        };
        assert_eq!(
            upstream_reason(&unauthorized),
            "the model provider refused the request"
        );
        assert_eq!(
            upstream_reason(&ReplicateError::InvalidInput(
                "- input.prompt: too long".into()
            )),
            "the model rejected the request: - input.prompt: too long"
        );
        assert_eq!(
            upstream_reason(&ReplicateError::Transport("refused".into())),
            "the model provider is unavailable"
        );
    }
}
