//! world-management: worlds on DynamoDB and their snapshots in S3.
//!
//! | route | what |
//! |---|---|
//! | `POST /worlds` `{name, owner_id}` | create (201), status `created`, tick 0 |
//! | `GET /worlds/{id}` | one world |
//! | `GET /worlds?owner_id=&limit=&cursor=` | an owner's worlds, newest first (`by_owner`) |
//! | `POST /worlds/{id}/start`, `/stop` | status transitions; 409 from a wrong state |
//! | `POST /worlds/{id}/snapshots` `{include_memory?}` | save to S3 (201) |
//! | `GET /worlds/{id}/snapshots` | the world's snapshots, newest first |
//! | `POST /worlds/{id}/snapshots/{sid}/restore` | verify and write back; the world stops at the snapshot's tick |

pub mod snapshots;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use world_core::config::{self, ConfigError};
use world_core::dynamo::{self, s, Listing, Page};
use world_core::error::{self, parse_json};
use world_core::model::{self, World, WorldStatus};
use world_core::server::Service;
use world_core::time::now_rfc3339;
use world_core::ApiError;

/// Who this service is.
pub const SERVICE: Service = Service {
    name: "world-management",
    prefix: "/worlds",
    version: env!("CARGO_PKG_VERSION"),
};

/// Settings from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `WORLDS_TABLE`.
    pub worlds: String,
    /// `AGENTS_TABLE` (snapshots).
    pub agents: String,
    /// `OBJECTS_TABLE` (snapshots).
    pub objects: String,
    /// `MEMORY_TABLE` (snapshots).
    pub memory: String,
    /// `SNAPSHOTS_TABLE`.
    pub snapshots: String,
    /// `SNAPSHOT_BUCKET`.
    pub bucket: String,
}

impl Config {
    /// Reads the tables and the bucket; each is required.
    pub fn from_env() -> Result<Config, ConfigError> {
        Ok(Config {
            worlds: config::var(model::WORLDS_TABLE)?,
            agents: config::var(model::AGENTS_TABLE)?,
            objects: config::var(model::OBJECTS_TABLE)?,
            memory: config::var(model::MEMORY_TABLE)?,
            snapshots: config::var(model::SNAPSHOTS_TABLE)?,
            bucket: config::var("SNAPSHOT_BUCKET")?,
        })
    }
}

/// What every request uses.
pub struct App {
    /// DynamoDB.
    pub ddb: aws_sdk_dynamodb::Client,
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// Settings.
    pub config: Config,
}

impl App {
    /// Clients for `sdk`.
    pub fn new(sdk: &aws_config::SdkConfig, config: Config) -> Arc<App> {
        Arc::new(App {
            ddb: aws_sdk_dynamodb::Client::new(sdk),
            s3: world_core::s3_client(sdk),
            config,
        })
    }

    /// The world `id`, if it exists.
    pub async fn world(&self, id: &str) -> Result<Option<World>, ApiError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config.worlds)
            .key("world_id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| dynamo::error("GetItem", &self.config.worlds, e))?;
        out.item.map(dynamo::from_item).transpose()
    }

    /// The world `id`, or a 404.
    pub async fn existing_world(&self, id: &str) -> Result<World, ApiError> {
        self.world(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("world {id} not found")))
    }
}

/// The routes, with `app` as their state.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/worlds", post(create).get(list))
        .route("/worlds/{id}", get(show))
        .route("/worlds/{id}/start", post(start))
        .route("/worlds/{id}/stop", post(stop))
        .route(
            "/worlds/{id}/snapshots",
            post(snapshots::save).get(snapshots::list),
        )
        .route(
            "/worlds/{id}/snapshots/{sid}/restore",
            post(snapshots::restore),
        )
        .with_state(app)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWorld {
    name: Option<String>,
    owner_id: Option<String>,
}

async fn create(
    State(app): State<Arc<App>>,
    body: Bytes,
) -> Result<(StatusCode, Json<World>), ApiError> {
    let req: NewWorld = parse_json(&body)?;
    let name = error::required("name", req.name.as_deref(), 200)?;
    let owner_id = error::required("owner_id", req.owner_id.as_deref(), 128)?;
    error::id("owner_id", &owner_id)?;
    let now = now_rfc3339();
    let world = World {
        world_id: uuid::Uuid::new_v4().to_string(),
        owner_id,
        name,
        status: WorldStatus::Created,
        tick: 0,
        created_at: now.clone(),
        updated_at: now,
    };
    app.ddb
        .put_item()
        .table_name(&app.config.worlds)
        .set_item(Some(dynamo::to_item(&world)?))
        .condition_expression("attribute_not_exists(world_id)")
        .send()
        .await
        .map_err(|e| dynamo::error("PutItem", &app.config.worlds, e))?;
    tracing::info!(world_id = %world.world_id, owner_id = %world.owner_id, "world created");
    Ok((StatusCode::CREATED, Json(world)))
}

async fn show(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<World>, ApiError> {
    error::id("world_id", &id)?;
    Ok(Json(app.existing_world(&id).await?))
}

async fn list(
    State(app): State<Arc<App>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Page<World>>, ApiError> {
    let Listing {
        value: owner,
        limit,
        cursor,
    } = Listing::of(&params, "owner_id", "worlds are listed per owner", 20)?;
    let query = app
        .ddb
        .query()
        .table_name(&app.config.worlds)
        .index_name(model::BY_OWNER)
        .key_condition_expression("owner_id = :o")
        .expression_attribute_values(":o", s(owner))
        .scan_index_forward(false);
    Ok(Json(
        dynamo::page(query, &app.config.worlds, limit, cursor).await?,
    ))
}

async fn start(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<World>, ApiError> {
    error::id("world_id", &id)?;
    transition(
        &app,
        &id,
        WorldStatus::Running,
        &[WorldStatus::Created, WorldStatus::Stopped],
        "started",
    )
    .await
    .map(Json)
}

async fn stop(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<World>, ApiError> {
    error::id("world_id", &id)?;
    transition(
        &app,
        &id,
        WorldStatus::Stopped,
        &[WorldStatus::Running],
        "stopped",
    )
    .await
    .map(Json)
}

/// Sets the world's status to `to` if it is one of `from` (a conditional
/// update, so two callers cannot both win); 404 or 409 otherwise.
async fn transition(
    app: &App,
    id: &str,
    to: WorldStatus,
    from: &[WorldStatus],
    verb: &str,
) -> Result<World, ApiError> {
    let placeholders: Vec<String> = (0..from.len()).map(|i| format!(":f{i}")).collect();
    let mut update = app
        .ddb
        .update_item()
        .table_name(&app.config.worlds)
        .key("world_id", s(id))
        .update_expression("SET #s = :to, updated_at = :now")
        .condition_expression(format!(
            "attribute_exists(world_id) AND #s IN ({})",
            placeholders.join(", ")
        ))
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":to", s(to.as_str()))
        .expression_attribute_values(":now", s(now_rfc3339()))
        .return_values(ReturnValue::AllNew);
    for (p, status) in placeholders.iter().zip(from) {
        update = update.expression_attribute_values(p, AttributeValue::S(status.as_str().into()));
    }
    match update.send().await {
        Ok(out) => {
            let world: World = dynamo::from_item(out.attributes.unwrap_or_default())?;
            tracing::info!(world_id = id, status = to.as_str(), "world {verb}");
            Ok(world)
        }
        Err(e) if dynamo::is_conditional_failure(&e) => {
            let world = app.existing_world(id).await?;
            let allowed: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
            Err(ApiError::Conflict(format!(
                "world {id} is {}; it can be {verb} only when {}",
                world.status.as_str(),
                allowed.join(" or ")
            )))
        }
        Err(e) => Err(dynamo::error("UpdateItem", &app.config.worlds, e)),
    }
}
