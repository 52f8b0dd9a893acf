//! world-connections: the world WebSocket API's `$connect` and
//! `$disconnect` routes.
//!
//! - `$connect?world_id=W` records `{connection_id, world_id, expires_at}`
//!   (now + 2 h, the longest API Gateway keeps a WebSocket open) in
//!   `CONNECTIONS_TABLE`, where agent-runtime finds the world's clients
//!   (`by_world`); no `world_id` is a 400, which refuses the connection.
//! - `$disconnect` deletes the record.
//! - Anything else (the `$default` route) is a 400: clients only listen.

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_shared::config::{self, ConfigError};
use lambda_shared::AwsError;
use serde::Serialize;
use serde_json::{json, Value};
use std::future::Future;

/// Seconds a connection record lives (API Gateway closes WebSockets after
/// 2 hours).
pub const CONNECTION_TTL: i64 = 2 * 3600;

/// Settings from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `CONNECTIONS_TABLE`.
    pub table: String,
}

impl Config {
    /// Reads `CONNECTIONS_TABLE`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table: config::var("CONNECTIONS_TABLE")?,
        })
    }
}

/// A Connections item.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Connection {
    /// Key.
    pub connection_id: String,
    /// The world it watches.
    pub world_id: String,
    /// Epoch seconds; the table's TTL attribute.
    pub expires_at: i64,
}

/// Where connections are kept.
pub trait Connections: Send + Sync {
    /// Stores `connection`.
    fn put(&self, connection: &Connection) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Deletes the connection `id` (absent is fine).
    fn delete(&self, id: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// [`Connections`] in DynamoDB.
pub struct DynamoConnections {
    /// The client.
    pub client: aws_sdk_dynamodb::Client,
    /// The table.
    pub table: String,
}

impl Connections for DynamoConnections {
    async fn put(&self, connection: &Connection) -> Result<(), AwsError> {
        let item = serde_dynamo::to_item(connection)
            .map_err(|e| AwsError(format!("encoding the connection: {e}")))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutItem", e))?;
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<(), AwsError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(
                "connection_id",
                aws_sdk_dynamodb::types::AttributeValue::S(id.to_string()),
            )
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeleteItem", e))?;
        Ok(())
    }
}

fn response(status: u16, body: Value) -> Value {
    json!({"statusCode": status, "body": body.to_string()})
}

/// A world id as the world services issue them: 1 to 128 characters, no
/// control characters.
fn world_id(value: Option<&str>) -> Result<&str, &'static str> {
    let id = value
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or("world_id is required: connect with ?world_id=WORLD")?;
    if id.chars().count() > 128 || id.chars().any(char::is_control) {
        return Err("world_id is not a valid id");
    }
    Ok(id)
}

/// Handles one WebSocket event at `now` (epoch seconds); the answer is
/// API Gateway's integration response.
pub async fn handle<C: Connections>(connections: &C, event: Value, now: i64) -> Value {
    let req: ApiGatewayWebsocketProxyRequest = match serde_json::from_value(event) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "malformed WebSocket event");
            return response(
                400,
                json!({"error": format!("malformed WebSocket event: {e}")}),
            );
        }
    };
    let ctx = &req.request_context;
    let Some(connection_id) = ctx.connection_id.as_deref().filter(|c| !c.is_empty()) else {
        return response(
            400,
            json!({"error": "the event has no requestContext.connectionId"}),
        );
    };
    let kind = ctx.event_type.as_deref().unwrap_or_default();
    let route = ctx.route_key.as_deref().unwrap_or_default();
    match (kind, route) {
        ("CONNECT", _) | (_, "$connect") => {
            let world = match world_id(req.query_string_parameters.first("world_id")) {
                Ok(w) => w,
                Err(msg) => {
                    tracing::info!(connection_id, "connection refused: {msg}");
                    return response(400, json!({"error": msg}));
                }
            };
            let record = Connection {
                connection_id: connection_id.to_string(),
                world_id: world.to_string(),
                expires_at: now + CONNECTION_TTL,
            };
            match connections.put(&record).await {
                Ok(()) => {
                    tracing::info!(connection_id, world_id = world, "connected");
                    response(200, json!({"connected": true, "world_id": world}))
                }
                Err(e) => {
                    tracing::error!(connection_id, error = %e, "storing the connection failed");
                    response(500, json!({"error": "internal error"}))
                }
            }
        }
        ("DISCONNECT", _) | (_, "$disconnect") => match connections.delete(connection_id).await {
            Ok(()) => {
                tracing::info!(connection_id, "disconnected");
                response(200, json!({"disconnected": true}))
            }
            Err(e) => {
                tracing::error!(connection_id, error = %e, "deleting the connection failed");
                response(500, json!({"error": "internal error"}))
            }
        },
        _ => response(
            400,
            json!({"error": "this API only pushes world events; send nothing"}),
        ),
    }
}
