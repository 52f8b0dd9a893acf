//! get-status: `GET /status/{jobId}` (seed 004). The job is looked up in
//! Redis first, then in the realtime table, then in PostgreSQL; what a
//! lower layer returned is cached in Redis again. A succeeded job's outputs
//! come with presigned S3 GET URLs.
//!
//! Only the caller's own jobs are shown: the caller is the media
//! authorizer's `userId`. A job of another user, an unknown id and an id
//! that is not a UUID all get the same `404`, so the answer says nothing
//! about other users' jobs.
//!
//! Redis and the realtime table are accelerators: when either fails (or
//! Redis does not answer within [`CACHE_TIMEOUT`]) a warning is logged and
//! the next layer answers (the design's graceful degradation). Only
//! PostgreSQL failing is an error (`500`).

#![warn(missing_docs)]

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_sdk_s3::presigning::PresigningConfig;
use lambda_shared::config;
use media_core::job::{Job, JobStatus};
use media_core::MediaType;
use media_stores::cache::{Cache, CacheConfig};
use media_stores::postgres::{DbConfig, Jobs};
use media_stores::realtime::Realtime;
use media_stores::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::future::Future;
use std::time::Duration;

/// Lifetime of the presigned URLs when `URL_TTL_SECS` is not set.
pub const DEFAULT_URL_TTL_SECS: u64 = 3600;
/// The longest lifetime SigV4 allows a presigned URL (7 days).
pub const MAX_URL_TTL_SECS: u64 = 7 * 24 * 3600;
/// How long one Redis call may take before the next layer is asked (the
/// connection manager retries a dead server for several seconds).
pub const CACHE_TIMEOUT: Duration = Duration::from_secs(1);

/// The function's own settings, read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The media bucket (`MEDIA_BUCKET`).
    pub bucket: String,
    /// Lifetime of the presigned URLs (`URL_TTL_SECS`, default 3600).
    pub url_ttl: Duration,
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
    /// Reads `MEDIA_BUCKET` and `URL_TTL_SECS`.
    pub fn from_env() -> Result<Config, ConfigError> {
        let bucket = config::var("MEDIA_BUCKET")?;
        let ttl = config::parse_or("URL_TTL_SECS", DEFAULT_URL_TTL_SECS)?;
        if !(1..=MAX_URL_TTL_SECS).contains(&ttl) {
            return Err(ConfigError::Invalid {
                name: "URL_TTL_SECS",
                value: ttl.to_string(),
                reason: "must be 1 to 604800 (7 days)",
            });
        }
        Ok(Config {
            bucket,
            url_ttl: Duration::from_secs(ttl),
        })
    }
}

/// The three stores, in the order they are asked.
pub struct Stores {
    /// PostgreSQL: the permanent record.
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

/// Which layer answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Redis.
    Cache,
    /// The realtime table.
    Realtime,
    /// PostgreSQL.
    Database,
}

/// One stored output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// Its bucket key.
    pub key: String,
    /// A presigned GET URL for it.
    pub url: String,
}

/// The `200` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    /// The job's id.
    pub job_id: String,
    /// Where it is.
    pub status: JobStatus,
    /// What it generates.
    pub media_type: MediaType,
    /// The registry name of the model.
    pub model: String,
    /// When it was created (Unix seconds).
    pub created_at: i64,
    /// When it last changed (Unix seconds).
    pub updated_at: i64,
    /// Why it failed or was canceled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The outputs of a succeeded job, in order; empty otherwise.
    pub outputs: Vec<Output>,
    /// Which layer answered.
    pub source: Source,
}

/// Why a request gets no job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// The route gave no caller (the authorizer is not attached).
    #[error("the request carries no authenticated user")]
    Unauthenticated,
    /// No such job for this caller (or a malformed id).
    #[error("job not found")]
    NotFound,
    /// Something failed on our side; the detail is logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

impl StatusError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            StatusError::Unauthenticated => 401,
            StatusError::NotFound => 404,
            StatusError::Internal(_) => 500,
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

/// A job id as the stores hold it: a UUID in its hyphenated form,
/// lowercase. Anything else is `None`.
pub fn normalize_job_id(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let ok = bytes.iter().enumerate().all(|(i, b)| match i {
        8 | 13 | 18 | 23 => *b == b'-',
        _ => b.is_ascii_hexdigit(),
    });
    ok.then(|| raw.to_ascii_lowercase())
}

/// Runs a cache call with [`CACHE_TIMEOUT`]; a timeout is an error.
async fn bounded<T>(call: impl Future<Output = Result<T, StoreError>>) -> Result<T, String> {
    match tokio::time::timeout(CACHE_TIMEOUT, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", CACHE_TIMEOUT.as_millis())),
    }
}

/// Everything a request needs.
pub struct Service {
    /// The function's settings.
    pub config: Config,
    /// The stores.
    pub stores: Stores,
    /// S3, for presigning (path-style when an endpoint is set).
    pub s3: aws_sdk_s3::Client,
}

impl Service {
    /// Handles one request.
    pub async fn handle(&self, req: &ApiGatewayV2httpRequest) -> Result<JobView, StatusError> {
        let user_id = caller(req).ok_or(StatusError::Unauthenticated)?;
        let raw = req
            .path_parameters
            .get("jobId")
            .map(String::as_str)
            .unwrap_or_default();
        let Some(job_id) = normalize_job_id(raw) else {
            tracing::info!(user_id, "malformed job id");
            return Err(StatusError::NotFound);
        };
        let Some((job, source)) = self.lookup(&job_id).await? else {
            tracing::info!(job_id, user_id, "no such job");
            return Err(StatusError::NotFound);
        };
        if job.user_id != user_id {
            tracing::warn!(job_id, user_id, "job of another user asked for");
            return Err(StatusError::NotFound);
        }
        let mut outputs = Vec::new();
        if job.status == JobStatus::Succeeded {
            for key in &job.outputs {
                outputs.push(Output {
                    url: self.presign(key).await?,
                    key: key.clone(),
                });
            }
        }
        tracing::info!(job_id, user_id, status = %job.status, source = ?source, "status served");
        Ok(JobView {
            job_id: job.job_id,
            status: job.status,
            media_type: job.media_type,
            model: job.model,
            created_at: job.created_at,
            updated_at: job.updated_at,
            error: job.error,
            outputs,
            source,
        })
    }

    /// The job from the first layer that has it; a job found below Redis
    /// is cached there again (unless Redis just failed).
    pub async fn lookup(&self, job_id: &str) -> Result<Option<(Job, Source)>, StatusError> {
        let mut cache_up = true;
        match bounded(self.stores.cache.status(job_id)).await {
            Ok(Some(job)) => return Ok(Some((job, Source::Cache))),
            Ok(None) => {}
            Err(e) => {
                cache_up = false;
                tracing::warn!(job_id, error = %e, layer = "cache", "Redis unavailable; asking the next layer");
            }
        }
        let found = match self.stores.realtime.get(job_id).await {
            Ok(Some(job)) => Some((job, Source::Realtime)),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(job_id, error = %e, layer = "realtime", "realtime table unavailable; asking PostgreSQL");
                None
            }
        };
        let found = match found {
            Some(f) => Some(f),
            None => self
                .stores
                .jobs
                .get(job_id)
                .await
                .map_err(|e| StatusError::Internal(format!("reading job {job_id}: {e}")))?
                .map(|job| (job, Source::Database)),
        };
        if let (Some((job, _)), true) = (&found, cache_up) {
            if let Err(e) = bounded(self.stores.cache.put_status(job)).await {
                tracing::warn!(job_id, error = %e, "the status was not cached again");
            }
        }
        Ok(found)
    }

    /// A presigned GET URL for `key` in the media bucket.
    async fn presign(&self, key: &str) -> Result<String, StatusError> {
        let presigning = PresigningConfig::expires_in(self.config.url_ttl)
            .map_err(|e| StatusError::Internal(format!("presigning: {e}")))?;
        let request = self
            .s3
            .get_object()
            .bucket(&self.config.bucket)
            .key(key)
            .presigned(presigning)
            .await
            .map_err(|e| {
                StatusError::Internal(format!(
                    "presigning {key}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(e)
                ))
            })?;
        Ok(request.uri().to_string())
    }
}

/// The HTTP response for a request's outcome: `200` with the job, or the
/// error's status with `{"error"}`. Internal errors are logged with the
/// request id, which is all the client gets.
pub fn respond(
    outcome: Result<JobView, StatusError>,
    request_id: &str,
) -> ApiGatewayV2httpResponse {
    use lambda_shared::http::json_response;
    match outcome {
        Ok(view) => json_response(200, &serde_json::to_value(&view).unwrap_or_default()),
        Err(StatusError::Internal(detail)) => {
            tracing::error!(request_id, error = %detail, "request failed");
            json_response(
                500,
                &json!({"error": "internal error", "requestId": request_id}),
            )
        }
        Err(e) => json_response(e.status(), &json!({"error": e.to_string()})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_hyphenated_uuids() {
        let id = "0b5f3c1e-7a4d-4e2b-9c3a-1d2e3f4a5b6c";
        assert_eq!(normalize_job_id(id).as_deref(), Some(id));
        assert_eq!(
            normalize_job_id(&id.to_uppercase()).as_deref(),
            Some(id),
            "uppercase is the same id"
        );
        for bad in [
            "",
            "not-a-uuid",
            "0b5f3c1e7a4d4e2b9c3a1d2e3f4a5b6c",
            "0b5f3c1e-7a4d-4e2b-9c3a-1d2e3f4a5b6g",
            "0b5f3c1e-7a4d-4e2b-9c3a_1d2e3f4a5b6c",
            "../../../../etc/passwd-0000000000000",
        ] {
            assert_eq!(normalize_job_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn errors_hide_their_detail() {
        let r = respond(Err(StatusError::Internal("db at 10.0.0.1".into())), "req-1");
        assert_eq!(r.status_code, 500);
        let Some(aws_lambda_events::encodings::Body::Text(body)) = r.body else {
            panic!()
        };
        assert!(
            !body.contains("10.0.0.1") && body.contains("req-1"),
            "{body}"
        );
        assert_eq!(respond(Err(StatusError::NotFound), "r").status_code, 404);
        assert_eq!(
            respond(Err(StatusError::Unauthenticated), "r").status_code,
            401
        );
    }
}
