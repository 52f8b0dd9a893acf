//! Where the media functions (seed 004) keep their state, each store behind
//! a small type that names what the design does with it:
//!
//! - [`postgres::Jobs`]: the permanent record, tables `jobs` and
//!   `media_outputs` (schema: `stacks/media/migrations/`);
//! - [`cache::Cache`]: Redis, for the status cache (`job:status:{jobId}`,
//!   5 minutes), per-user rate limits (`ratelimit:user:{userId}:{window}`)
//!   and webhook de-duplication (`webhook:processed:{predictionId}`, 2 hours);
//! - [`realtime::Realtime`]: the realtime-jobs DynamoDB table, keyed by job
//!   id and creation time, with indexes by user and by prediction id, and a
//!   7-day TTL.
//!
//! Each is configured from the environment variables its stack's grants
//! give a function (`DB_HOST`, `CACHE_HOST`, ...) and connects once per
//! execution environment. The tests' PostgreSQL and Redis come from the
//! `media-testing` crate.

#![warn(missing_docs)]

pub mod cache;
pub mod postgres;
pub mod realtime;
mod secrets;
mod tls;

/// A store that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configuration (environment) is incomplete or wrong.
    #[error(transparent)]
    Config(#[from] lambda_shared::config::ConfigError),
    /// A secret could not be read or has the wrong shape.
    #[error("secret {secret}: {reason}")]
    Secret {
        /// Its name or ARN.
        secret: String,
        /// What went wrong.
        reason: String,
    },
    /// PostgreSQL refused or failed.
    #[error("PostgreSQL: {}", postgres_message(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// Redis refused or failed.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// DynamoDB refused or failed.
    #[error("DynamoDB: {0}")]
    Dynamo(String),
    /// A stored record does not read back.
    #[error("stored record of job {job_id} is invalid: {reason}")]
    Corrupt {
        /// The job.
        job_id: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The Replicate client's configuration: the API token from the secret
/// `REPLICATE_TOKEN_SECRET_ARN` (the stack's external secret) and
/// `REPLICATE_BASE_URL` (default `https://api.replicate.com`; a local fake
/// in tests).
pub async fn replicate_config(
    sdk: &aws_config::SdkConfig,
) -> Result<media_core::replicate::ReplicateConfig, StoreError> {
    let secret = lambda_shared::config::var("REPLICATE_TOKEN_SECRET_ARN")?;
    let token = secrets::read(sdk, &secret).await?;
    let mut config = media_core::replicate::ReplicateConfig::new(token.trim());
    if let Ok(base) = lambda_shared::config::var("REPLICATE_BASE_URL") {
        config.base_url = base;
    }
    Ok(config)
}

/// The database's own message when there is one (tokio-postgres shows only
/// "db error"), else the error and its cause.
fn postgres_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// Unix seconds as a `SystemTime`, as PostgreSQL's `timestamptz` takes it.
pub(crate) fn system_time(epoch: i64) -> std::time::SystemTime {
    let secs = std::time::Duration::from_secs(epoch.max(0).unsigned_abs());
    std::time::UNIX_EPOCH + secs
}

/// A `SystemTime` as Unix seconds.
pub(crate) fn epoch(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
