//! Snapshots: a world with its agents, objects and (optionally) their
//! memories, as gzip JSON at
//! `s3://SNAPSHOT_BUCKET/snapshots/{world_id}/{snapshot_id}.json.gz`, with
//! the object's SHA-256 recorded in the Snapshots table and checked before
//! a restore uses a byte of it.

use crate::App;
use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::sync::Arc;
use world_core::dynamo::{self, s, Item, Page};
use world_core::error::{self, parse_json};
use world_core::model::{self, Agent, Memory, Snapshot, World, WorldObject, WorldStatus};
use world_core::time::{now_ms, now_rfc3339, rfc3339};
use world_core::{sha256_hex, ApiError};

/// The snapshot document's format version.
pub const FORMAT: u32 = 1;

/// The most a snapshot may inflate to on restore (a guard against a
/// decompression bomb planted in the bucket).
pub const MAX_INFLATED: u64 = 1 << 30;

/// What a snapshot object holds (before gzip).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Document {
    /// [`FORMAT`].
    pub format: u32,
    /// The world as it was.
    pub world: World,
    /// Its agents, by id.
    pub agents: Vec<Agent>,
    /// Its objects, by id.
    pub objects: Vec<WorldObject>,
    /// Its agents' memories, when taken with memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memories: Option<Vec<Memory>>,
}

/// The object key of a snapshot.
pub fn key(world_id: &str, snapshot_id: &str) -> String {
    format!("snapshots/{world_id}/{snapshot_id}.json.gz")
}

/// `doc` as gzip JSON.
pub fn encode(doc: &Document) -> Result<Vec<u8>, ApiError> {
    let json =
        serde_json::to_vec(doc).map_err(|e| ApiError::internal("encoding a snapshot", &e))?;
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json)
        .and_then(|()| gz.finish())
        .map_err(|e| ApiError::internal("compressing a snapshot", &e))
}

/// The document in gzip JSON `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Document, ApiError> {
    let corrupt = |what: String| ApiError::Unprocessable {
        code: "snapshot_corrupt",
        message: format!("the snapshot cannot be read: {what}"),
    };
    let mut json = Vec::new();
    GzDecoder::new(bytes)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut json)
        .map_err(|e| corrupt(e.to_string()))?;
    if json.len() as u64 > MAX_INFLATED {
        return Err(corrupt(format!(
            "it inflates to more than {MAX_INFLATED} bytes"
        )));
    }
    let doc: Document = serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))?;
    if doc.format != FORMAT {
        return Err(corrupt(format!("format {} is not {FORMAT}", doc.format)));
    }
    Ok(doc)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct SaveRequest {
    /// Whether to save the agents' memories too (default true).
    include_memory: Option<bool>,
}

/// Everything of `world` as stored now.
async fn collect(app: &App, world: World, include_memory: bool) -> Result<Document, ApiError> {
    let c = &app.config;
    let agents: Vec<Agent> = items(
        dynamo::query_all(
            app.ddb
                .query()
                .table_name(&c.agents)
                .index_name(model::BY_WORLD)
                .key_condition_expression("world_id = :w")
                .expression_attribute_values(":w", s(&world.world_id)),
            &c.agents,
        )
        .await?,
    )?;
    let objects: Vec<WorldObject> = items(
        dynamo::query_all(
            app.ddb
                .query()
                .table_name(&c.objects)
                .key_condition_expression("world_id = :w")
                .expression_attribute_values(":w", s(&world.world_id))
                .consistent_read(true),
            &c.objects,
        )
        .await?,
    )?;
    let memories = if include_memory {
        let mut all = Vec::new();
        for agent in &agents {
            all.extend(memories_of(app, &agent.agent_id).await?);
        }
        Some(all)
    } else {
        None
    };
    let mut doc = Document {
        format: FORMAT,
        world,
        agents,
        objects,
        memories,
    };
    doc.agents.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
    doc.objects.sort_by(|a, b| a.object_id.cmp(&b.object_id));
    Ok(doc)
}

async fn memories_of(app: &App, agent_id: &str) -> Result<Vec<Memory>, ApiError> {
    items(
        dynamo::query_all(
            app.ddb
                .query()
                .table_name(&app.config.memory)
                .key_condition_expression("agent_id = :a")
                .expression_attribute_values(":a", s(agent_id))
                .consistent_read(true),
            &app.config.memory,
        )
        .await?,
    )
}

fn items<T: serde::de::DeserializeOwned>(items: Vec<Item>) -> Result<Vec<T>, ApiError> {
    items.into_iter().map(dynamo::from_item).collect()
}

/// `POST /worlds/{id}/snapshots`.
pub(crate) async fn save(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Snapshot>), ApiError> {
    error::id("world_id", &id)?;
    let req: SaveRequest = parse_json(&body)?;
    let world = app.existing_world(&id).await?;
    let tick = world.tick;
    let doc = collect(&app, world, req.include_memory.unwrap_or(true)).await?;
    let bytes = encode(&doc)?;
    let created = now_ms();
    let snapshot_id = format!("{created:013}-{}", uuid::Uuid::new_v4().simple());
    let snapshot = Snapshot {
        world_id: id.clone(),
        s3_key: key(&id, &snapshot_id),
        snapshot_id,
        sha256: sha256_hex(&bytes),
        size: bytes.len() as u64,
        tick,
        created_at: rfc3339(created),
        agents: doc.agents.len() as u64,
        objects: doc.objects.len() as u64,
        memories: doc.memories.as_ref().map_or(0, |m| m.len() as u64),
    };
    app.s3
        .put_object()
        .bucket(&app.config.bucket)
        .key(&snapshot.s3_key)
        .body(bytes.into())
        .content_type("application/json")
        .content_encoding("gzip")
        .metadata("sha256", &snapshot.sha256)
        .send()
        .await
        .map_err(|e| ApiError::internal("S3 PutObject of a snapshot", &e))?;
    app.ddb
        .put_item()
        .table_name(&app.config.snapshots)
        .set_item(Some(dynamo::to_item(&snapshot)?))
        .condition_expression("attribute_not_exists(snapshot_id)")
        .send()
        .await
        .map_err(|e| dynamo::error("PutItem", &app.config.snapshots, e))?;
    tracing::info!(world_id = %id, snapshot_id = %snapshot.snapshot_id, size = snapshot.size, tick, "snapshot saved");
    Ok((StatusCode::CREATED, Json(snapshot)))
}

/// `GET /worlds/{id}/snapshots?limit=&cursor=`: newest first.
pub(crate) async fn list(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Page<Snapshot>>, ApiError> {
    error::id("world_id", &id)?;
    let limit = dynamo::limit(params.get("limit").map(String::as_str), 20, 100)?;
    let cursor = params
        .get("cursor")
        .map(|c| dynamo::decode_cursor(c, "world_id", &id))
        .transpose()?;
    app.existing_world(&id).await?;
    let query = app
        .ddb
        .query()
        .table_name(&app.config.snapshots)
        .key_condition_expression("world_id = :w")
        .expression_attribute_values(":w", s(&id))
        .scan_index_forward(false);
    Ok(Json(
        dynamo::page(query, &app.config.snapshots, limit, cursor).await?,
    ))
}

/// What a restore wrote and removed.
#[derive(Debug, Serialize)]
pub struct Restored {
    /// The world, stopped at the snapshot's tick.
    pub world: World,
    /// The snapshot restored.
    pub snapshot_id: String,
    /// Items written back.
    pub restored: Counts,
    /// Items that were not in the snapshot, deleted.
    pub removed: Counts,
}

/// Item counts.
#[derive(Debug, Serialize, Default)]
pub struct Counts {
    /// Agents.
    pub agents: usize,
    /// Objects.
    pub objects: usize,
    /// Memories.
    pub memories: usize,
}

/// `POST /worlds/{id}/snapshots/{sid}/restore`.
pub(crate) async fn restore(
    State(app): State<Arc<App>>,
    Path((id, sid)): Path<(String, String)>,
) -> Result<Json<Restored>, ApiError> {
    error::id("world_id", &id)?;
    error::id("snapshot_id", &sid)?;
    let c = &app.config;
    let item = app
        .ddb
        .get_item()
        .table_name(&c.snapshots)
        .key("world_id", s(&id))
        .key("snapshot_id", s(&sid))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| dynamo::error("GetItem", &c.snapshots, e))?
        .item
        .ok_or_else(|| ApiError::NotFound(format!("snapshot {sid} of world {id} not found")))?;
    let snapshot: Snapshot = dynamo::from_item(item)?;
    let world = app.existing_world(&id).await?;
    if world.status == WorldStatus::Running {
        return Err(ApiError::Conflict(format!(
            "world {id} is running; stop it before restoring a snapshot"
        )));
    }
    let object = app
        .s3
        .get_object()
        .bucket(&c.bucket)
        .key(&snapshot.s3_key)
        .send()
        .await
        .map_err(|e| ApiError::internal("S3 GetObject of a snapshot", &e))?;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| ApiError::internal("reading a snapshot from S3", &e))?
        .into_bytes();
    let actual = sha256_hex(&bytes);
    if actual != snapshot.sha256 || bytes.len() as u64 != snapshot.size {
        tracing::error!(world_id = %id, snapshot_id = %sid, expected = %snapshot.sha256, actual, size = bytes.len(), "snapshot checksum mismatch");
        return Err(ApiError::Unprocessable {
            code: "snapshot_corrupt",
            message: format!(
                "snapshot {sid} does not match its recorded SHA-256; nothing was restored"
            ),
        });
    }
    let doc = decode(&bytes)?;
    if doc.world.world_id != id {
        return Err(ApiError::Unprocessable {
            code: "snapshot_corrupt",
            message: format!(
                "snapshot {sid} holds world {}, not {id}",
                doc.world.world_id
            ),
        });
    }

    // The world first: stopped at the snapshot's tick, unless someone
    // started it meanwhile (then nothing else is touched).
    let restored_world = World {
        status: WorldStatus::Stopped,
        updated_at: now_rfc3339(),
        ..doc.world.clone()
    };
    match app
        .ddb
        .put_item()
        .table_name(&c.worlds)
        .set_item(Some(dynamo::to_item(&restored_world)?))
        .condition_expression("attribute_exists(world_id) AND #s <> :running")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":running", s("running"))
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if dynamo::is_conditional_failure(&e) => {
            return Err(ApiError::Conflict(format!(
                "world {id} was started during the restore; stop it and retry"
            )))
        }
        Err(e) => return Err(dynamo::error("PutItem", &c.worlds, e)),
    }

    let current = collect(&app, world, true).await?;
    let keep_agents: BTreeSet<&str> = doc.agents.iter().map(|a| a.agent_id.as_str()).collect();
    let keep_objects: BTreeSet<&str> = doc.objects.iter().map(|o| o.object_id.as_str()).collect();
    let mut removed = Counts::default();

    // Agents.
    let mut writes = Vec::new();
    for a in &doc.agents {
        writes.push(dynamo::put_request(dynamo::to_item(a)?)?);
    }
    for a in current
        .agents
        .iter()
        .filter(|a| !keep_agents.contains(a.agent_id.as_str()))
    {
        writes.push(dynamo::delete_request(
            [("agent_id".to_string(), s(&a.agent_id))].into(),
        )?);
        removed.agents += 1;
    }
    dynamo::batch_write(&app.ddb, &c.agents, writes).await?;

    // Objects.
    let mut writes = Vec::new();
    for o in &doc.objects {
        writes.push(dynamo::put_request(dynamo::to_item(o)?)?);
    }
    for o in current
        .objects
        .iter()
        .filter(|o| !keep_objects.contains(o.object_id.as_str()))
    {
        writes.push(dynamo::delete_request(object_key(&id, &o.object_id))?);
        removed.objects += 1;
    }
    dynamo::batch_write(&app.ddb, &c.objects, writes).await?;

    // Memories: those of agents the snapshot does not have go; with a
    // snapshot taken with memory, the streams become exactly the saved ones.
    let mut writes = Vec::new();
    let saved: Option<BTreeSet<(&str, &str)>> = doc.memories.as_ref().map(|ms| {
        ms.iter()
            .map(|m| (m.agent_id.as_str(), m.memory_id.as_str()))
            .collect()
    });
    for m in current.memories.iter().flatten() {
        let gone_agent = !keep_agents.contains(m.agent_id.as_str());
        let not_saved = saved
            .as_ref()
            .is_some_and(|s| !s.contains(&(m.agent_id.as_str(), m.memory_id.as_str())));
        if gone_agent || not_saved {
            writes.push(dynamo::delete_request(memory_key(
                &m.agent_id,
                &m.memory_id,
            ))?);
            removed.memories += 1;
        }
    }
    for m in doc.memories.iter().flatten() {
        writes.push(dynamo::put_request(dynamo::to_item(m)?)?);
    }
    dynamo::batch_write(&app.ddb, &c.memory, writes).await?;

    let restored = Counts {
        agents: doc.agents.len(),
        objects: doc.objects.len(),
        memories: doc.memories.as_ref().map_or(0, Vec::len),
    };
    tracing::info!(world_id = %id, snapshot_id = %sid, tick = restored_world.tick, ?restored, ?removed, "snapshot restored");
    Ok(Json(Restored {
        world: restored_world,
        snapshot_id: sid,
        restored,
        removed,
    }))
}

fn object_key(world_id: &str, object_id: &str) -> Item {
    [
        ("world_id".to_string(), s(world_id)),
        ("object_id".to_string(), s(object_id)),
    ]
    .into()
}

fn memory_key(agent_id: &str, memory_id: &str) -> Item {
    [
        ("agent_id".to_string(), AttributeValue::S(agent_id.into())),
        ("memory_id".to_string(), AttributeValue::S(memory_id.into())),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Document {
        Document {
            format: FORMAT,
            world: World {
                world_id: "w".into(),
                owner_id: "o".into(),
                name: "n".into(),
                status: WorldStatus::Stopped,
                tick: 4,
                created_at: "t".into(),
                updated_at: "t".into(),
            },
            agents: vec![],
            objects: vec![],
            memories: None,
        }
    }

    #[test]
    fn documents_round_trip_through_gzip() {
        let d = doc();
        let bytes = encode(&d).unwrap();
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
        assert_eq!(decode(&bytes).unwrap(), d);
    }

    #[test]
    fn unreadable_snapshots_are_422() {
        let e = decode(b"not gzip").unwrap_err();
        assert_eq!(e.code(), "snapshot_corrupt");
        let mut d = doc();
        d.format = 9;
        let e = decode(&encode(&d).unwrap()).unwrap_err();
        assert!(e.to_string().contains("format 9"), "{e}");
    }

    #[test]
    fn keys() {
        assert_eq!(key("w", "s"), "snapshots/w/s.json.gz");
    }
}
