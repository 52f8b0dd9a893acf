//! Redis (seed 004): the status cache, per-user rate limits and webhook
//! de-duplication. Keys and lifetimes are the design's:
//!
//! | key | value | lifetime |
//! |---|---|---|
//! | `job:status:{jobId}` | the job, JSON | 5 minutes |
//! | `ratelimit:user:{userId}:{window}` | requests in the window | the window |
//! | `webhook:processed:{predictionId}` | when it was taken | 2 hours |

use crate::{secrets, StoreError};
use lambda_shared::config;
use media_core::job::Job;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tokio::sync::OnceCell;

/// How long a job's status stays cached.
pub const STATUS_TTL_SECS: u64 = 300;
/// How long a prediction's webhook is remembered as taken.
pub const DEDUPE_TTL_SECS: u64 = 7200;

/// Where Redis is: the variables a `connect` grant on the cache resource
/// `KEY` gives (`KEY_HOST`, `KEY_PORT`, `KEY_TLS`, and
/// `KEY_AUTH_SECRET_ARN` when it takes a token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether it speaks TLS.
    pub tls: bool,
    /// The secret holding its auth token.
    pub auth_secret: Option<String>,
}

impl CacheConfig {
    /// Reads `PREFIX_HOST`, `PREFIX_PORT`, `PREFIX_TLS` (default true) and
    /// `PREFIX_AUTH_SECRET_ARN` (optional).
    pub fn from_env(prefix: &str) -> Result<CacheConfig, StoreError> {
        Ok(CacheConfig {
            host: config::var(&format!("{prefix}_HOST"))?,
            port: config::parse(&format!("{prefix}_PORT"))?,
            tls: config::parse_or(&format!("{prefix}_TLS"), true)?,
            auth_secret: config::var(&format!("{prefix}_AUTH_SECRET_ARN")).ok(),
        })
    }
}

/// What a rate limit decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Under the limit; this many requests are left in the window.
    Allowed {
        /// Requests left.
        remaining: u64,
    },
    /// Over the limit until the window ends.
    Limited {
        /// Seconds until the next window.
        retry_after: u64,
    },
}

/// The Redis store. It connects on first use and reconnects by itself.
pub struct Cache {
    config: CacheConfig,
    sdk: aws_config::SdkConfig,
    conn: OnceCell<ConnectionManager>,
}

impl Cache {
    /// The store; it connects on first use.
    pub fn new(config: CacheConfig, sdk: &aws_config::SdkConfig) -> Cache {
        Cache {
            config,
            sdk: sdk.clone(),
            conn: OnceCell::new(),
        }
    }

    async fn conn(&self) -> Result<ConnectionManager, StoreError> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let addr = if self.config.tls {
                    redis::ConnectionAddr::TcpTls {
                        host: self.config.host.clone(),
                        port: self.config.port,
                        insecure: false,
                        tls_params: None,
                    }
                } else {
                    redis::ConnectionAddr::Tcp(self.config.host.clone(), self.config.port)
                };
                let mut settings = redis::RedisConnectionInfo::default();
                if let Some(secret) = &self.config.auth_secret {
                    settings = settings.set_password(secrets::read(&self.sdk, secret).await?);
                }
                let info = redis::IntoConnectionInfo::into_connection_info(addr)?
                    .set_redis_settings(settings);
                let client = redis::Client::open(info)?;
                Ok::<_, StoreError>(client.get_connection_manager().await?)
            })
            .await?;
        Ok(conn.clone())
    }

    /// Counts one request of `user_id` against `limit` per `window_secs`
    /// (a fixed window) at `now`.
    pub async fn rate_limit(
        &self,
        user_id: &str,
        limit: u64,
        window_secs: u64,
        now: i64,
    ) -> Result<RateDecision, StoreError> {
        let window_secs = window_secs.max(1);
        let now = now.max(0).unsigned_abs();
        let window = now / window_secs;
        let key = format!("ratelimit:user:{user_id}:{window}");
        let mut c = self.conn().await?;
        let (count,): (u64,) = redis::pipe()
            .atomic()
            .incr(&key, 1u64)
            .expire(&key, i64::try_from(window_secs).unwrap_or(i64::MAX))
            .ignore()
            .query_async(&mut c)
            .await?;
        Ok(if count <= limit {
            RateDecision::Allowed {
                remaining: limit - count,
            }
        } else {
            RateDecision::Limited {
                retry_after: (window + 1) * window_secs - now,
            }
        })
    }

    /// Takes the webhook of `prediction_id`: true the first time within
    /// two hours, false when it was already taken (a redelivery).
    pub async fn claim_webhook(&self, prediction_id: &str, now: i64) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let taken: Option<String> = redis::cmd("SET")
            .arg(dedupe_key(prediction_id))
            .arg(now)
            .arg("NX")
            .arg("EX")
            .arg(DEDUPE_TTL_SECS)
            .query_async(&mut c)
            .await?;
        Ok(taken.is_some())
    }

    /// Gives a webhook back, when handing it on failed, so the provider's
    /// retry is taken.
    pub async fn release_webhook(&self, prediction_id: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let _: u64 = c.del(dedupe_key(prediction_id)).await?;
        Ok(())
    }

    /// Caches the job's status for five minutes.
    pub async fn put_status(&self, job: &Job) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let json = serde_json::to_string(job).expect("a job serializes");
        let _: () = c
            .set_ex(status_key(&job.job_id), json, STATUS_TTL_SECS)
            .await?;
        Ok(())
    }

    /// The cached status of `job_id`, if any (an unreadable entry counts as
    /// none).
    pub async fn status(&self, job_id: &str) -> Result<Option<Job>, StoreError> {
        let mut c = self.conn().await?;
        let json: Option<String> = c.get(status_key(job_id)).await?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }
}

/// The status key of a job.
pub fn status_key(job_id: &str) -> String {
    format!("job:status:{job_id}")
}

/// The de-duplication key of a prediction's webhook.
pub fn dedupe_key(prediction_id: &str) -> String {
    format!("webhook:processed:{prediction_id}")
}
