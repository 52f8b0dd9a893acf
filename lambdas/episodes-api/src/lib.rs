//! The episodes REST API, served through API Gateway REST proxy events. One
//! crate, deployed as four functions (each with only its own grants), so a
//! request is dispatched on its resource path and method:
//!
//! | route                                  | function         | does                                   |
//! |----------------------------------------|------------------|----------------------------------------|
//! | `POST /episodes`                       | create_episode   | 201 `{episode, upload}`                |
//! | `POST /episodes/{episode_id}/transcript` | create_episode | 201 `{episode_id, upload}`             |
//! | `GET /episodes?limit&cursor`           | list_episodes    | 200 `{episodes, next_cursor}`          |
//! | `GET /episodes/{episode_id}`           | get_episode      | 200 `{episode, chunks, clips}`         |
//! | `PATCH /episodes/{episode_id}`         | update_episode   | 200 `{episode}`                        |
//!
//! `upload` is a presigned PUT: `{url, method: "PUT", key, expires_in}`
//! (`uploads/{id}/video`, `transcripts/{id}/transcript.txt`). Errors are
//! `{"error": ...}` (plus `field` for a 400) with 400, 404, 409 or 500.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_sdk_s3::presigning::PresigningConfig;
use clips_core::config::{parse_or, var, ConfigError};
use clips_core::cursor::LazyCursorKey;
use clips_core::episode::{Episode, Store};
use clips_core::http::{respond, ApiError, Reply};
use clips_core::keys;
use lambda_shared::http::{body_text, parse_json};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 5_000;
/// Default and largest page size of the list.
pub const DEFAULT_LIMIT: i32 = 20;
/// Largest page size.
pub const MAX_LIMIT: i32 = 100;

/// Configuration from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `TABLE_NAME`.
    pub table: String,
    /// `BUCKET_NAME`.
    pub bucket: String,
    /// `CURSOR_KEY_SECRET_ARN` (read only by the list route).
    pub cursor_secret_arn: String,
    /// `ORIGIN`: `Access-Control-Allow-Origin` of every response.
    pub origin: String,
    /// `UPLOAD_URL_TTL_SECS` (default 900, 1 to 604800).
    pub upload_ttl: Duration,
}

impl Config {
    /// Reads it.
    pub fn from_env() -> Result<Config, ConfigError> {
        let ttl: u64 = parse_or("UPLOAD_URL_TTL_SECS", 900)?;
        if !(1..=604_800).contains(&ttl) {
            return Err(ConfigError::Invalid {
                name: "UPLOAD_URL_TTL_SECS".into(),
                value: ttl.to_string(),
                reason: "must be 1 to 604800 seconds (S3's presigning limit)".into(),
            });
        }
        Ok(Config {
            table: var("TABLE_NAME")?,
            bucket: var("BUCKET_NAME")?,
            cursor_secret_arn: var("CURSOR_KEY_SECRET_ARN")?,
            origin: var("ORIGIN")?,
            upload_ttl: Duration::from_secs(ttl),
        })
    }
}

/// The API.
pub struct Api {
    store: Store,
    s3: aws_sdk_s3::Client,
    cursor: LazyCursorKey,
    config: Config,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEpisode {
    title: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EpisodeChange {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

fn title(t: &str) -> Result<String, ApiError> {
    let t = t.trim();
    if t.is_empty() || t.chars().count() > MAX_TITLE {
        return Err(ApiError::field(
            "title",
            format!("title must be 1 to {MAX_TITLE} characters"),
        ));
    }
    Ok(t.to_string())
}

fn description(d: &str) -> Result<String, ApiError> {
    if d.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::field(
            "description",
            format!("description must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(d.to_string())
}

impl Api {
    /// The API on `sdk`'s clients.
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> Api {
        Api {
            store: Store::new(aws_sdk_dynamodb::Client::new(sdk), &config.table),
            s3: lambda_shared::config::s3_client(sdk),
            cursor: LazyCursorKey::new(
                aws_sdk_secretsmanager::Client::new(sdk),
                &config.cursor_secret_arn,
            ),
            config,
        }
    }

    /// Serves one request.
    pub async fn handle(
        &self,
        req: &ApiGatewayProxyRequest,
        request_id: &str,
    ) -> ApiGatewayProxyResponse {
        respond(self.route(req).await, request_id, &self.config.origin)
    }

    async fn route(&self, req: &ApiGatewayProxyRequest) -> Result<Reply, ApiError> {
        let resource = req.resource.as_deref().unwrap_or_default();
        let method = req.http_method.as_str();
        let id = || -> Result<&str, ApiError> {
            // Not an id of ours: no such episode (never a key lookup).
            req.path_parameters
                .get("episode_id")
                .map(String::as_str)
                .filter(|id| keys::valid_id(id))
                .ok_or_else(|| ApiError::NotFound("no such episode".into()))
        };
        match (method, resource) {
            ("POST", "/episodes") => self.create(req).await,
            ("GET", "/episodes") => self.list(req).await,
            ("GET", "/episodes/{episode_id}") => self.get(id()?).await,
            ("PATCH", "/episodes/{episode_id}") => self.update(id()?, req).await,
            ("POST", "/episodes/{episode_id}/transcript") => self.transcript(id()?).await,
            _ => Err(ApiError::NotFound(format!("no route {method} {resource}"))),
        }
    }

    async fn presign(&self, key: &str) -> Result<serde_json::Value, ApiError> {
        let presigning = PresigningConfig::expires_in(self.config.upload_ttl)
            .map_err(|e| ApiError::Internal(format!("presigning config: {e}")))?;
        let url = self
            .s3
            .put_object()
            .bucket(&self.config.bucket)
            .key(key)
            .presigned(presigning)
            .await
            .map_err(|e| ApiError::Internal(format!("presigning {key}: {e}")))?;
        Ok(json!({
            "url": url.uri(),
            "method": "PUT",
            "key": key,
            "expires_in": self.config.upload_ttl.as_secs(),
        }))
    }

    async fn create(&self, req: &ApiGatewayProxyRequest) -> Result<Reply, ApiError> {
        let body: NewEpisode = parse_json(&body_text(req.body.as_deref(), req.is_base64_encoded)?)?;
        let episode = Episode::new(
            uuid::Uuid::new_v4().to_string(),
            title(&body.title)?,
            body.description.as_deref().map(description).transpose()?,
            clips_core::now_ms(),
        );
        if !self.store.create(&episode).await? {
            return Err(ApiError::Conflict(
                "the episode id is taken; try again".into(),
            ));
        }
        let upload = self.presign(&keys::upload_key(&episode.id)).await?;
        Ok(Reply::created(
            json!({"episode": episode, "upload": upload}),
        ))
    }

    async fn transcript(&self, id: &str) -> Result<Reply, ApiError> {
        let key = keys::transcript_key(id);
        if !self
            .store
            .set_transcript_key(id, &key, clips_core::now_ms())
            .await?
        {
            return Err(ApiError::NotFound("no such episode".into()));
        }
        let upload = self.presign(&key).await?;
        Ok(Reply::created(json!({"episode_id": id, "upload": upload})))
    }

    async fn list(&self, req: &ApiGatewayProxyRequest) -> Result<Reply, ApiError> {
        let query = &req.query_string_parameters;
        let limit = match query.first("limit") {
            None => DEFAULT_LIMIT,
            Some(l) => l
                .parse::<i32>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| {
                    ApiError::field("limit", format!("limit must be 1 to {MAX_LIMIT}"))
                })?,
        };
        let start = match query.first("cursor").filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => {
                let key = self.cursor.get().await?;
                Some(
                    key.decode(c)
                        .map_err(|e| ApiError::field("cursor", e.to_string()))?,
                )
            }
        };
        let (episodes, last) = self.store.list(limit, start).await?;
        let next_cursor = match last {
            None => None,
            Some(last) => Some(
                self.cursor
                    .get()
                    .await?
                    .encode(&last)
                    .ok_or_else(|| ApiError::Internal("unexpected list key".into()))?,
            ),
        };
        Ok(Reply::ok(
            json!({"episodes": episodes, "next_cursor": next_cursor}),
        ))
    }

    async fn get(&self, id: &str) -> Result<Reply, ApiError> {
        let episode = self
            .store
            .get(id)
            .await?
            .ok_or_else(|| ApiError::NotFound("no such episode".into()))?;
        let chunks = self.store.chunks(id).await?;
        let clips = self.store.clips(id).await?;
        Ok(Reply::ok(
            json!({"episode": episode, "chunks": chunks, "clips": clips}),
        ))
    }

    async fn update(&self, id: &str, req: &ApiGatewayProxyRequest) -> Result<Reply, ApiError> {
        let change: EpisodeChange =
            parse_json(&body_text(req.body.as_deref(), req.is_base64_encoded)?)?;
        let new_title = change.title.as_deref().map(title).transpose()?;
        let new_description = change.description.as_deref().map(description).transpose()?;
        if new_title.is_none() && new_description.is_none() {
            return Err(ApiError::BadRequest {
                field: None,
                message: "give title and/or description".into(),
            });
        }
        let episode = self
            .store
            .update_text(
                id,
                new_title.as_deref(),
                new_description.as_deref(),
                clips_core::now_ms(),
            )
            .await?
            .ok_or_else(|| ApiError::NotFound("no such episode".into()))?;
        Ok(Reply::ok(json!({"episode": episode})))
    }
}
