//! agent-runtime: agents and their memory streams on DynamoDB (agent state
//! cached in Redis), and the simulation step.
//!
//! | route | what |
//! |---|---|
//! | `POST /agents` `{world_id, name, persona, location}` | create (201), state `idle` |
//! | `GET /agents/{id}` | one agent (Redis first, then DynamoDB) |
//! | `GET /agents?world_id=&limit=&cursor=` | a world's agents (`by_world`) |
//! | `POST /agents/{id}/memories` `{content, importance}` | remember (201); embedded through `LLM_URL` when set |
//! | `GET /agents/{id}/memories?top=importance&limit=&cursor=` | newest first, or most important first (`by_importance`) |
//! | `POST /simulation/{world_id}/step` | one step of a running world (see [`simulation`]) |

pub mod llm;
pub mod push;
pub mod simulation;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use world_core::cache::{Cache, CacheConfig};
use world_core::config::{self, ConfigError};
use world_core::dynamo::{self, s, Listing, Page};
use world_core::error::{self, parse_json};
use world_core::model::{self, Agent, Memory, World};
use world_core::server::Service;
use world_core::time::{now_ms, now_rfc3339, rfc3339};
use world_core::ApiError;

/// Who this service is.
pub const SERVICE: Service = Service {
    name: "agent-runtime",
    prefix: "/agents",
    version: env!("CARGO_PKG_VERSION"),
};

/// Settings from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `WORLDS_TABLE`.
    pub worlds: String,
    /// `AGENTS_TABLE`.
    pub agents: String,
    /// `MEMORY_TABLE`.
    pub memory: String,
    /// `EVENTS_TABLE`.
    pub events: String,
    /// `CONNECTIONS_TABLE`.
    pub connections: String,
    /// `WEBSOCKET_ENDPOINT`: the world WebSocket API's Management API.
    pub websocket_endpoint: String,
    /// `LLM_URL`: llm-integration's base URL; unset, agents decide by rule.
    pub llm_url: Option<String>,
    /// `CACHE_TTL_SECONDS` (default 300): how long agent state stays cached.
    pub cache_ttl: u64,
    /// `EVENTS_TTL_DAYS` (default 30): when DynamoDB may expire events.
    pub events_ttl_days: u64,
    /// `CACHE_*`.
    pub cache: CacheConfig,
}

impl Config {
    /// Reads the tables, the endpoints and Redis's location.
    pub fn from_env() -> Result<Config, ConfigError> {
        Ok(Config {
            worlds: config::var(model::WORLDS_TABLE)?,
            agents: config::var(model::AGENTS_TABLE)?,
            memory: config::var(model::MEMORY_TABLE)?,
            events: config::var(model::EVENTS_TABLE)?,
            connections: config::var(model::CONNECTIONS_TABLE)?,
            websocket_endpoint: config::url("WEBSOCKET_ENDPOINT")?
                .ok_or_else(|| ConfigError::Missing("WEBSOCKET_ENDPOINT".into()))?,
            llm_url: config::url("LLM_URL")?,
            cache_ttl: config::parse_or("CACHE_TTL_SECONDS", 300)?,
            events_ttl_days: config::parse_or("EVENTS_TTL_DAYS", 30)?,
            cache: CacheConfig::from_env()?,
        })
    }
}

/// What every request uses.
pub struct App {
    /// DynamoDB.
    pub ddb: aws_sdk_dynamodb::Client,
    /// Redis.
    pub cache: Cache,
    /// The Management API.
    pub connections: push::Connections,
    /// llm-integration, when configured.
    pub llm: Option<llm::Llm>,
    /// Settings.
    pub config: Config,
}

impl App {
    /// Clients for `sdk`.
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> Result<Arc<App>, redis::RedisError> {
        Ok(Arc::new(App {
            ddb: aws_sdk_dynamodb::Client::new(sdk),
            cache: Cache::new(&config.cache)?,
            connections: push::Connections::new(sdk, &config.websocket_endpoint),
            llm: config.llm_url.as_deref().map(llm::Llm::new),
            config,
        }))
    }

    /// The world `id`, or a 404.
    pub async fn world(&self, id: &str) -> Result<World, ApiError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config.worlds)
            .key("world_id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo::error("GetItem", &self.config.worlds, e))?;
        out.item
            .map(dynamo::from_item)
            .transpose()?
            .ok_or_else(|| ApiError::NotFound(format!("world {id} not found")))
    }

    /// The agent `id` from DynamoDB, or a 404.
    pub async fn stored_agent(&self, id: &str) -> Result<Agent, ApiError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config.agents)
            .key("agent_id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo::error("GetItem", &self.config.agents, e))?;
        out.item
            .map(dynamo::from_item)
            .transpose()?
            .ok_or_else(|| ApiError::NotFound(format!("agent {id} not found")))
    }

    /// Caches `agent`'s state; a cache failure is only logged.
    pub async fn cache_agent(&self, agent: &Agent) {
        if let Err(e) = self
            .cache
            .set_json(&agent_key(&agent.agent_id), agent, self.config.cache_ttl)
            .await
        {
            tracing::warn!(agent_id = %agent.agent_id, error = %e, "caching the agent failed");
        }
    }
}

/// The Redis key of an agent's cached state.
pub fn agent_key(agent_id: &str) -> String {
    format!("agent:state:{agent_id}")
}

/// The routes, with `app` as their state.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/agents", post(create).get(list))
        .route("/agents/{id}", get(show))
        .route("/agents/{id}/memories", post(remember).get(memories))
        .route("/simulation/{world_id}/step", post(simulation::step))
        .with_state(app)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAgent {
    world_id: Option<String>,
    name: Option<String>,
    persona: Option<String>,
    location: Option<String>,
}

async fn create(
    State(app): State<Arc<App>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Agent>), ApiError> {
    let req: NewAgent = parse_json(&body)?;
    let world_id = error::required("world_id", req.world_id.as_deref(), 128)?;
    let name = error::required("name", req.name.as_deref(), 200)?;
    let persona = error::required("persona", req.persona.as_deref(), 4000)?;
    let location = error::required("location", req.location.as_deref(), 200)?;
    error::id("world_id", &world_id)?;
    app.world(&world_id).await?;
    let now = now_rfc3339();
    let agent = Agent {
        agent_id: uuid::Uuid::new_v4().to_string(),
        world_id,
        name,
        persona,
        location,
        state: "idle".into(),
        created_at: now.clone(),
        updated_at: now,
    };
    app.ddb
        .put_item()
        .table_name(&app.config.agents)
        .set_item(Some(dynamo::to_item(&agent)?))
        .condition_expression("attribute_not_exists(agent_id)")
        .send()
        .await
        .map_err(|e| dynamo::error("PutItem", &app.config.agents, e))?;
    tracing::info!(agent_id = %agent.agent_id, world_id = %agent.world_id, "agent created");
    app.cache_agent(&agent).await;
    Ok((StatusCode::CREATED, Json(agent)))
}

async fn show(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<Agent>, ApiError> {
    error::id("agent_id", &id)?;
    match app.cache.get_json::<Agent>(&agent_key(&id)).await {
        Ok(Some(agent)) => return Ok(Json(agent)),
        Ok(None) => {}
        Err(e) => tracing::warn!(agent_id = %id, error = %e, "cache read failed; reading DynamoDB"),
    }
    let agent = app.stored_agent(&id).await?;
    app.cache_agent(&agent).await;
    Ok(Json(agent))
}

async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Page<Agent>>, ApiError> {
    let Listing {
        value: world,
        limit,
        cursor,
    } = Listing::of(&params, "world_id", "agents are listed per world", 50)?;
    let query = app
        .ddb
        .query()
        .table_name(&app.config.agents)
        .index_name(model::BY_WORLD)
        .key_condition_expression("world_id = :w")
        .expression_attribute_values(":w", s(world));
    Ok(Json(
        dynamo::page(query, &app.config.agents, limit, cursor).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMemory {
    content: Option<String>,
    importance: Option<u8>,
}

/// Stores a memory of `agent` (importance 1..=10), with an embedding when
/// llm-integration is configured and answers.
pub async fn store_memory(
    app: &App,
    agent: &Agent,
    content: String,
    importance: u8,
    embed: bool,
) -> Result<Memory, ApiError> {
    let created = now_ms();
    let embedding = match (&app.llm, embed) {
        (Some(llm), true) => match llm.embed(&content).await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(agent_id = %agent.agent_id, error = %e, "embedding the memory failed; storing it without");
                None
            }
        },
        _ => None,
    };
    let memory = Memory {
        agent_id: agent.agent_id.clone(),
        memory_id: model::memory_id(created, &uuid::Uuid::new_v4()),
        content,
        importance,
        embedding,
        world_id: agent.world_id.clone(),
        created_at: rfc3339(created),
    };
    app.ddb
        .put_item()
        .table_name(&app.config.memory)
        .set_item(Some(dynamo::to_item(&memory)?))
        .send()
        .await
        .map_err(|e| dynamo::error("PutItem", &app.config.memory, e))?;
    Ok(memory)
}

async fn remember(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Memory>), ApiError> {
    error::id("agent_id", &id)?;
    let req: NewMemory = parse_json(&body)?;
    let content = error::required("content", req.content.as_deref(), 8000)?;
    let importance = req
        .importance
        .ok_or_else(|| ApiError::field("importance", "is required (1 to 10)"))?;
    if !(1..=10).contains(&importance) {
        return Err(ApiError::field("importance", "must be from 1 to 10"));
    }
    let agent = app.stored_agent(&id).await?;
    let memory = store_memory(&app, &agent, content, importance, true).await?;
    Ok((StatusCode::CREATED, Json(memory)))
}

async fn memories(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Page<Memory>>, ApiError> {
    error::id("agent_id", &id)?;
    let limit = dynamo::limit(params.get("limit").map(String::as_str), 20, 100)?;
    let by_importance = match params.get("top").map(String::as_str) {
        None | Some("") | Some("recent") => false,
        Some("importance") => true,
        Some(other) => {
            return Err(ApiError::field(
                "top",
                format!("`{other}` is not `importance` or `recent`"),
            ))
        }
    };
    let cursor = params
        .get("cursor")
        .map(|c| dynamo::decode_cursor(c, "agent_id", &id))
        .transpose()?;
    app.stored_agent(&id).await?;
    let mut query = app
        .ddb
        .query()
        .table_name(&app.config.memory)
        .key_condition_expression("agent_id = :a")
        .expression_attribute_values(":a", s(&id))
        .scan_index_forward(false);
    if by_importance {
        query = query.index_name(model::BY_IMPORTANCE);
    }
    Ok(Json(
        dynamo::page(query, &app.config.memory, limit, cursor).await?,
    ))
}
