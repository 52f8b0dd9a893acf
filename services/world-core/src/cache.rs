//! Redis (ElastiCache in AWS, a local redis-server in `local` and the
//! tests): where it is comes from `CACHE_HOST`, `CACHE_PORT` (default 6379)
//! and `CACHE_TLS` (default true: ElastiCache encrypts in transit); its
//! AUTH token from `CACHE_AUTH_TOKEN`, which ECS injects from Secrets
//! Manager (unset: no AUTH, as a local Redis).
//!
//! The connection is made on first use and remade by itself after a
//! failure; a Redis that does not answer costs each call at most the
//! connection or response timeout (2 s), never a hung request.

use crate::config::{self, ConfigError};
use crate::error::ApiError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// Where Redis is and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether to speak TLS.
    pub tls: bool,
    /// The AUTH token, if Redis requires one.
    pub auth_token: Option<String>,
}

impl std::fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl CacheConfig {
    /// Reads `CACHE_HOST` (required), `CACHE_PORT`, `CACHE_TLS` and
    /// `CACHE_AUTH_TOKEN`.
    pub fn from_env() -> Result<CacheConfig, ConfigError> {
        Ok(CacheConfig {
            host: config::var("CACHE_HOST")?,
            port: config::parse_or("CACHE_PORT", 6379)?,
            tls: config::parse_or("CACHE_TLS", true)?,
            auth_token: config::optional("CACHE_AUTH_TOKEN"),
        })
    }
}

/// A Redis connection shared by all requests.
#[derive(Clone)]
pub struct Cache {
    conn: ConnectionManager,
}

/// A lock taken with [`Cache::lock`]; only its holder's token releases it.
#[derive(Debug)]
pub struct Lock {
    /// The key.
    pub key: String,
    token: String,
}

/// Deletes the key only while it still holds the caller's token, so a lock
/// that expired and was taken by someone else is left alone.
const UNLOCK: &str = r#"if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end"#;

impl Cache {
    /// A connection manager for `config`; it connects on first use. Must
    /// be called inside the Tokio runtime.
    pub fn new(config: &CacheConfig) -> Result<Cache, redis::RedisError> {
        let addr = if config.tls {
            redis::ConnectionAddr::TcpTls {
                host: config.host.clone(),
                port: config.port,
                insecure: false,
                tls_params: None,
            }
        } else {
            redis::ConnectionAddr::Tcp(config.host.clone(), config.port)
        };
        let mut settings = redis::RedisConnectionInfo::default();
        if let Some(token) = &config.auth_token {
            settings = settings.set_password(token);
        }
        let info =
            redis::IntoConnectionInfo::into_connection_info(addr)?.set_redis_settings(settings);
        let client = redis::Client::open(info)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config)?;
        Ok(Cache { conn })
    }

    /// The connection, to run other commands on.
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The JSON value at `key`; an entry that no longer parses counts as
    /// absent.
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ApiError> {
        let text: Option<String> = self.conn().get(key).await.map_err(unavailable)?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Stores `value` as JSON at `key` for `ttl_secs`.
    pub async fn set_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl_secs: u64,
    ) -> Result<(), ApiError> {
        let text =
            serde_json::to_string(value).map_err(|e| ApiError::internal("encoding JSON", &e))?;
        let _: () = self
            .conn()
            .set_ex(key, text, ttl_secs.max(1))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Takes the lock `key` for `ttl_ms` (`SET key token NX PX ttl`):
    /// `None` when someone else holds it.
    pub async fn lock(&self, key: &str, ttl_ms: u64) -> Result<Option<Lock>, ApiError> {
        let token = uuid::Uuid::new_v4().to_string();
        let taken: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms.max(1))
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(taken.map(|_| Lock {
            key: key.to_string(),
            token,
        }))
    }

    /// Releases `lock`; false when it had already expired (and maybe been
    /// taken by someone else, whose lock stays).
    pub async fn unlock(&self, lock: Lock) -> Result<bool, ApiError> {
        // EVAL rather than redis::Script: no extra redis feature for one
        // short script.
        let deleted: i64 = redis::cmd("EVAL")
            .arg(UNLOCK)
            .arg(1)
            .arg(&lock.key)
            .arg(&lock.token)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(deleted == 1)
    }
}

/// A 503 for a Redis failure.
pub fn unavailable(e: redis::RedisError) -> ApiError {
    ApiError::Unavailable(format!("the cache is unavailable: {e}"))
}
