//! The records of the world tables, as the stack file (stacks/world.yaml)
//! declares them. Attribute types are S unless noted; the key attributes
//! and indexes here must match the stack's `table` resources.
//!
//! | table (env var) | key | indexes |
//! |---|---|---|
//! | Worlds (`WORLDS_TABLE`) | `world_id` | `by_owner` (`owner_id`, `created_at`) |
//! | Agents (`AGENTS_TABLE`) | `agent_id` | `by_world` (`world_id`, `agent_id`) |
//! | MemoryStreams (`MEMORY_TABLE`) | `agent_id`, `memory_id` | `by_importance` (`agent_id`, `importance` N) |
//! | WorldObjects (`OBJECTS_TABLE`) | `world_id`, `object_id` | |
//! | Events (`EVENTS_TABLE`) | `world_id`, `event_id` | `by_agent` (`agent_id`, `event_id`); TTL `expires_at` |
//! | Snapshots (`SNAPSHOTS_TABLE`) | `world_id`, `snapshot_id` | |
//! | Connections (`CONNECTIONS_TABLE`) | `connection_id` | `by_world` (`world_id`, `connection_id`); TTL `expires_at` |

use serde::{Deserialize, Serialize};

/// Environment variable naming the Worlds table.
pub const WORLDS_TABLE: &str = "WORLDS_TABLE";
/// Environment variable naming the Agents table.
pub const AGENTS_TABLE: &str = "AGENTS_TABLE";
/// Environment variable naming the MemoryStreams table.
pub const MEMORY_TABLE: &str = "MEMORY_TABLE";
/// Environment variable naming the WorldObjects table.
pub const OBJECTS_TABLE: &str = "OBJECTS_TABLE";
/// Environment variable naming the Events table.
pub const EVENTS_TABLE: &str = "EVENTS_TABLE";
/// Environment variable naming the Snapshots table.
pub const SNAPSHOTS_TABLE: &str = "SNAPSHOTS_TABLE";
/// Environment variable naming the Connections table.
pub const CONNECTIONS_TABLE: &str = "CONNECTIONS_TABLE";

/// Worlds by owner, newest last (`owner_id`, `created_at`).
pub const BY_OWNER: &str = "by_owner";
/// Agents and connections by world (`world_id`, then the item's own id).
pub const BY_WORLD: &str = "by_world";
/// Memories by importance (`agent_id`, `importance` N).
pub const BY_IMPORTANCE: &str = "by_importance";
/// Events by agent (`agent_id`, `event_id`).
pub const BY_AGENT: &str = "by_agent";

/// Where a world is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorldStatus {
    /// Made, never started.
    Created,
    /// Simulation steps are allowed.
    Running,
    /// Paused; snapshots restore only into stopped worlds.
    Stopped,
}

impl WorldStatus {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            WorldStatus::Created => "created",
            WorldStatus::Running => "running",
            WorldStatus::Stopped => "stopped",
        }
    }
}

/// A Worlds item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct World {
    /// Key (a UUID).
    pub world_id: String,
    /// Who made it (`by_owner` partition).
    pub owner_id: String,
    /// Display name.
    pub name: String,
    /// Status.
    pub status: WorldStatus,
    /// Simulation steps taken (N).
    pub tick: u64,
    /// RFC 3339 (`by_owner` sort key).
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// An Agents item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Key (a UUID).
    pub agent_id: String,
    /// Its world (`by_world` partition).
    pub world_id: String,
    /// Display name.
    pub name: String,
    /// Who it is, in words (the LLM prompt's character).
    pub persona: String,
    /// Where it is.
    pub location: String,
    /// What it last did (`idle` at first).
    pub state: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A MemoryStreams item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Partition key.
    pub agent_id: String,
    /// Sort key: [`memory_id`] (creation time first, so the stream sorts
    /// by time).
    pub memory_id: String,
    /// What is remembered.
    pub content: String,
    /// 1 (trivial) to 10 (life-changing) (N; `by_importance` sort key).
    pub importance: u8,
    /// The content's embedding (list of N), when one was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
    /// The agent's world.
    pub world_id: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A WorldObjects item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldObject {
    /// Partition key.
    pub world_id: String,
    /// Sort key.
    pub object_id: String,
    /// What sort of thing (`building`, `item`, ...).
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Where it is.
    pub location: String,
    /// Anything else (map).
    #[serde(default)]
    pub properties: serde_json::Map<String, serde_json::Value>,
}

/// An Events item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Partition key.
    pub world_id: String,
    /// Sort key: [`event_id`].
    pub event_id: String,
    /// The step (N).
    pub tick: u64,
    /// Who acted (`by_agent` partition).
    pub agent_id: String,
    /// The action (`move`, `talk`, `observe`, `reflect`, `rest`).
    pub kind: String,
    /// What happened, in words.
    pub detail: String,
    /// RFC 3339.
    pub created_at: String,
    /// When DynamoDB may delete it (epoch seconds, N; the table's TTL).
    pub expires_at: u64,
}

/// A Snapshots item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Partition key.
    pub world_id: String,
    /// Sort key: creation time in ms (13 digits), `-`, a UUID.
    pub snapshot_id: String,
    /// The object in the snapshot bucket.
    pub s3_key: String,
    /// SHA-256 (hex) of the stored object's bytes.
    pub sha256: String,
    /// The object's size in bytes (N).
    pub size: u64,
    /// The world's tick when it was taken (N).
    pub tick: u64,
    /// RFC 3339.
    pub created_at: String,
    /// Agents saved (N).
    pub agents: u64,
    /// Objects saved (N).
    pub objects: u64,
    /// Memories saved (N; 0 when taken without memory).
    pub memories: u64,
}

/// A Connections item, as lambdas/world-connections writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// Key: API Gateway's connection id.
    pub connection_id: String,
    /// The world it watches (`by_world` partition).
    pub world_id: String,
    /// Epoch seconds after which DynamoDB may delete it (N; the TTL).
    pub expires_at: u64,
}

/// A memory's sort key: `{created_ms:013}#{uuid}`.
pub fn memory_id(created_ms: u64, uuid: &uuid::Uuid) -> String {
    format!("{created_ms:013}#{uuid}")
}

/// An event's sort key: `{tick:010}#{seq:04}` (events sort by step, then
/// by their order within it).
pub fn event_id(tick: u64, seq: usize) -> String {
    format!("{tick:010}#{seq:04}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_sort_by_time() {
        let u = uuid::Uuid::nil();
        assert_eq!(
            memory_id(1_795_305_600_000, &u),
            "1795305600000#00000000-0000-0000-0000-000000000000"
        );
        assert!(memory_id(999, &u) < memory_id(1000, &u));
        assert_eq!(event_id(12, 3), "0000000012#0003");
        assert!(event_id(9, 9999) < event_id(10, 0));
    }

    #[test]
    fn items_have_the_declared_types() {
        use aws_sdk_dynamodb::types::AttributeValue;
        let m = Memory {
            agent_id: "a".into(),
            memory_id: "m".into(),
            content: "c".into(),
            importance: 7,
            embedding: Some(vec![0.5, -1.0]),
            world_id: "w".into(),
            created_at: "t".into(),
        };
        let item = crate::dynamo::to_item(&m).unwrap();
        assert_eq!(item["importance"], AttributeValue::N("7".into()));
        assert_eq!(
            item["embedding"],
            AttributeValue::L(vec![
                AttributeValue::N("0.5".into()),
                AttributeValue::N("-1".into())
            ])
        );
        let back: Memory = crate::dynamo::from_item(item).unwrap();
        assert_eq!(back, m);
        let w = World {
            world_id: "w".into(),
            owner_id: "o".into(),
            name: "n".into(),
            status: WorldStatus::Running,
            tick: 3,
            created_at: "t".into(),
            updated_at: "t".into(),
        };
        let item = crate::dynamo::to_item(&w).unwrap();
        assert_eq!(item["status"], AttributeValue::S("running".into()));
        assert_eq!(item["tick"], AttributeValue::N("3".into()));
    }
}
