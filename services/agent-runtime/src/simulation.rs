//! The simulation step, `POST /simulation/{world_id}/step`, for a running
//! world and under a Redis lock per world (`SET lock:world:{id} NX PX`):
//!
//! 1. the world's tick advances by one (a conditional update: tick and
//!    status as read, so a stop or another step in between wins);
//! 2. each agent, in id order, decides an action: by fixed rules from its
//!    id and the tick (deterministic), or, with `LLM_URL`, by asking
//!    llm-integration (falling back to the rules if it fails);
//! 3. the events (`{tick:010}#{seq:04}`), one memory per agent and the
//!    agents' new state are written, and the state cached in Redis;
//! 4. the step's events are posted to the world's WebSocket connections
//!    (Connections `by_world`); gone ones are deleted.

use crate::push::PostError;
use crate::App;
use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;
use world_core::dynamo::{self, s};
use world_core::error;
use world_core::model::{self, Agent, Connection, Event, Memory, WorldStatus};
use world_core::time::{now_ms, now_secs, rfc3339};
use world_core::ApiError;

/// How long a step may hold its world's lock.
pub const LOCK_MS: u64 = 60_000;

/// The actions agents take.
pub const ACTIONS: [&str; 5] = ["observe", "move", "talk", "reflect", "rest"];

/// What one agent did in a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// One of [`ACTIONS`].
    pub kind: String,
    /// What happened, in words.
    pub detail: String,
    /// Where the agent is afterwards.
    pub location: String,
    /// How much it matters to the agent (its memory's importance).
    pub importance: u8,
}

/// FNV-1a: a stable hash (std's is randomised per process).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn importance(kind: &str) -> u8 {
    match kind {
        "talk" => 5,
        "reflect" => 6,
        "move" => 3,
        "observe" => 2,
        _ => 1,
    }
}

/// The rule-based decision of `agent` at `tick` among `agents` (all of the
/// world's, sorted by id): the same inputs always give the same decision.
pub fn decide(agent: &Agent, tick: u64, agents: &[Agent]) -> Decision {
    let h = fnv1a(&[agent.agent_id.as_bytes(), &tick.to_be_bytes()]);
    let places: Vec<&str> = agents
        .iter()
        .map(|a| a.location.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let others: Vec<&Agent> = agents
        .iter()
        .filter(|a| a.agent_id != agent.agent_id)
        .collect();
    let mut kind = ACTIONS[(h % ACTIONS.len() as u64) as usize];
    if kind == "move" && places.len() < 2 {
        kind = "observe";
    }
    if kind == "talk" && others.is_empty() {
        kind = "reflect";
    }
    let here = agent.location.clone();
    let (detail, location) = match kind {
        "move" => {
            let i = places.iter().position(|p| *p == here).unwrap_or(0);
            let to = places[(i + 1) % places.len()].to_string();
            (format!("{} walked from {here} to {to}", agent.name), to)
        }
        "talk" => {
            let other = others[((h / 7) % others.len() as u64) as usize];
            (
                format!("{} talked with {} at {here}", agent.name, other.name),
                here,
            )
        }
        "reflect" => {
            let persona: String = agent.persona.chars().take(80).collect();
            (format!("{} reflected on being {persona}", agent.name), here)
        }
        "rest" => (format!("{} rested at {here}", agent.name), here),
        _ => (format!("{} looked around {here}", agent.name), here),
    };
    Decision {
        importance: importance(kind),
        kind: kind.to_string(),
        detail,
        location,
    }
}

/// The decision in an LLM's answer: its first word, if it is an action;
/// otherwise the agent observes, with the answer as the detail. The LLM
/// does not move agents: places come from the world.
pub fn parse_decision(agent: &Agent, text: &str) -> Decision {
    let text = text.trim();
    let first = text
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())
        .unwrap_or_default()
        .to_lowercase();
    let kind = ACTIONS
        .iter()
        .find(|a| **a == first && **a != "move")
        .copied()
        .unwrap_or("observe");
    let said: String = text.chars().take(500).collect();
    Decision {
        importance: importance(kind),
        kind: kind.to_string(),
        detail: format!("{}: {said}", agent.name),
        location: agent.location.clone(),
    }
}

async fn decide_with_llm(app: &App, agent: &Agent, tick: u64, agents: &[Agent]) -> Decision {
    let Some(llm) = &app.llm else {
        return decide(agent, tick, agents);
    };
    let others: Vec<&str> = agents
        .iter()
        .filter(|a| a.agent_id != agent.agent_id)
        .map(|a| a.name.as_str())
        .collect();
    let system = "You decide what a character in a simulated world does next. Answer with one of: observe, talk, reflect, rest; then one short sentence.";
    let prompt = format!(
        "You are {name}: {persona}. You are at {location}, tick {tick}. Others here: {others}. What do you do?",
        name = agent.name,
        persona = agent.persona,
        location = agent.location,
        others = if others.is_empty() { "nobody".to_string() } else { others.join(", ") },
    );
    match llm.generate(system, &prompt).await {
        Ok(text) => parse_decision(agent, &text),
        Err(e) => {
            tracing::warn!(agent_id = %agent.agent_id, error = %e, "the LLM decision failed; using the rules");
            decide(agent, tick, agents)
        }
    }
}

/// What a step did.
#[derive(Debug, Serialize)]
pub struct StepResult {
    /// The world.
    pub world_id: String,
    /// Its tick now.
    pub tick: u64,
    /// The events recorded.
    pub events: Vec<Event>,
    /// Connections the events reached.
    pub pushed: usize,
    /// Connections found gone, and deleted.
    pub gone: usize,
    /// Connections a post failed for otherwise.
    pub failed: usize,
}

/// What WebSocket clients receive after a step.
#[derive(Debug, Serialize)]
pub struct StepMessage<'a> {
    /// Always `step`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The world.
    pub world_id: &'a str,
    /// The new tick.
    pub tick: u64,
    /// The step's events.
    pub events: &'a [Event],
}

/// `POST /simulation/{world_id}/step`.
pub async fn step(
    State(app): State<Arc<App>>,
    Path(world_id): Path<String>,
) -> Result<Json<StepResult>, ApiError> {
    error::id("world_id", &world_id)?;
    let world = app.world(&world_id).await?;
    if world.status != WorldStatus::Running {
        return Err(ApiError::Conflict(format!(
            "world {world_id} is {}; start it before stepping",
            world.status.as_str()
        )));
    }
    let lock = app
        .cache
        .lock(&format!("lock:world:{world_id}"), LOCK_MS)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!("a step of world {world_id} is already running"))
        })?;
    let result = locked_step(&app, &world_id, world.tick).await;
    match app.cache.unlock(lock).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(world_id, "the step outlived its lock"),
        Err(e) => tracing::warn!(world_id, error = %e, "releasing the step lock failed"),
    }
    result.map(Json)
}

async fn locked_step(app: &App, world_id: &str, tick: u64) -> Result<StepResult, ApiError> {
    let c = &app.config;
    let mut agents: Vec<Agent> = dynamo::query_all(
        app.ddb
            .query()
            .table_name(&c.agents)
            .index_name(model::BY_WORLD)
            .key_condition_expression("world_id = :w")
            .expression_attribute_values(":w", s(world_id)),
        &c.agents,
    )
    .await?
    .into_iter()
    .map(dynamo::from_item)
    .collect::<Result<_, _>>()?;
    agents.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));

    let next = tick + 1;
    let now = now_ms();
    let at = rfc3339(now);
    match app
        .ddb
        .update_item()
        .table_name(&c.worlds)
        .key("world_id", s(world_id))
        .update_expression("SET tick = :next, updated_at = :now")
        .condition_expression("tick = :tick AND #s = :running")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":next", dynamo::n(next))
        .expression_attribute_values(":tick", dynamo::n(tick))
        .expression_attribute_values(":running", s("running"))
        .expression_attribute_values(":now", s(&at))
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if dynamo::is_conditional_failure(&e) => {
            return Err(ApiError::Conflict(format!(
            "world {world_id} changed during the step (stopped, or stepped elsewhere); try again"
        )))
        }
        Err(e) => return Err(dynamo::error("UpdateItem", &c.worlds, e)),
    }

    let expires_at = now_secs() + c.events_ttl_days * 86_400;
    let mut events = Vec::new();
    let mut memories = Vec::new();
    let mut updated = Vec::new();
    for (seq, agent) in agents.iter().enumerate() {
        let d = decide_with_llm(app, agent, next, &agents).await;
        events.push(Event {
            world_id: world_id.to_string(),
            event_id: model::event_id(next, seq),
            tick: next,
            agent_id: agent.agent_id.clone(),
            kind: d.kind.clone(),
            detail: d.detail.clone(),
            created_at: at.clone(),
            expires_at,
        });
        memories.push(Memory {
            agent_id: agent.agent_id.clone(),
            memory_id: model::memory_id(now, &uuid::Uuid::new_v4()),
            content: format!("Tick {next}: {}", d.detail),
            importance: d.importance,
            embedding: None,
            world_id: world_id.to_string(),
            created_at: at.clone(),
        });
        updated.push(Agent {
            location: d.location,
            state: d.kind,
            updated_at: at.clone(),
            ..agent.clone()
        });
    }
    let puts = |items: Vec<dynamo::Item>| -> Result<Vec<_>, ApiError> {
        items.into_iter().map(dynamo::put_request).collect()
    };
    dynamo::batch_write(
        &app.ddb,
        &c.events,
        puts(
            events
                .iter()
                .map(dynamo::to_item)
                .collect::<Result<_, _>>()?,
        )?,
    )
    .await?;
    dynamo::batch_write(
        &app.ddb,
        &c.memory,
        puts(
            memories
                .iter()
                .map(dynamo::to_item)
                .collect::<Result<_, _>>()?,
        )?,
    )
    .await?;
    dynamo::batch_write(
        &app.ddb,
        &c.agents,
        puts(
            updated
                .iter()
                .map(dynamo::to_item)
                .collect::<Result<_, _>>()?,
        )?,
    )
    .await?;
    for agent in &updated {
        app.cache_agent(agent).await;
    }

    let (pushed, gone, failed) = push_events(app, world_id, next, &events).await?;
    tracing::info!(
        world_id,
        tick = next,
        events = events.len(),
        pushed,
        gone,
        failed,
        "step done"
    );
    Ok(StepResult {
        world_id: world_id.to_string(),
        tick: next,
        events,
        pushed,
        gone,
        failed,
    })
}

/// Posts the step to every connection watching the world: (reached, gone,
/// failed).
async fn push_events(
    app: &App,
    world_id: &str,
    tick: u64,
    events: &[Event],
) -> Result<(usize, usize, usize), ApiError> {
    let c = &app.config;
    let connections: Vec<Connection> = dynamo::query_all(
        app.ddb
            .query()
            .table_name(&c.connections)
            .index_name(model::BY_WORLD)
            .key_condition_expression("world_id = :w")
            .expression_attribute_values(":w", s(world_id)),
        &c.connections,
    )
    .await?
    .into_iter()
    .map(dynamo::from_item)
    .collect::<Result<_, _>>()?;
    let message = serde_json::to_vec(&StepMessage {
        kind: "step",
        world_id,
        tick,
        events,
    })
    .map_err(|e| ApiError::internal("encoding the step message", &e))?;
    let (mut pushed, mut gone, mut failed) = (0, 0, 0);
    for conn in &connections {
        match app.connections.post(&conn.connection_id, &message).await {
            Ok(()) => pushed += 1,
            Err(PostError::Gone) => {
                gone += 1;
                tracing::info!(connection_id = %conn.connection_id, "connection gone; deleting it");
                if let Err(e) = app
                    .ddb
                    .delete_item()
                    .table_name(&c.connections)
                    .key("connection_id", s(&conn.connection_id))
                    .send()
                    .await
                {
                    tracing::warn!(connection_id = %conn.connection_id, error = %world_core::chain(&e), "deleting a gone connection failed");
                }
            }
            Err(PostError::Failed(e)) => {
                failed += 1;
                tracing::warn!(connection_id = %conn.connection_id, error = %e, "posting the step failed");
            }
        }
    }
    Ok((pushed, gone, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, location: &str) -> Agent {
        Agent {
            agent_id: id.into(),
            world_id: "w".into(),
            name: format!("N{id}"),
            persona: "a baker".into(),
            location: location.into(),
            state: "idle".into(),
            created_at: "t".into(),
            updated_at: "t".into(),
        }
    }

    #[test]
    fn rule_decisions_are_deterministic_and_valid() {
        let agents = vec![agent("a", "market"), agent("b", "square")];
        let mut kinds = BTreeSet::new();
        for tick in 1..50 {
            let d = decide(&agents[0], tick, &agents);
            assert_eq!(d, decide(&agents[0], tick, &agents));
            assert!(ACTIONS.contains(&d.kind.as_str()));
            if d.kind == "move" {
                assert_eq!(d.location, "square");
            } else {
                assert_eq!(d.location, "market");
            }
            kinds.insert(d.kind);
        }
        assert!(kinds.len() >= 4, "{kinds:?}");
    }

    #[test]
    fn a_lone_agent_neither_moves_nor_talks() {
        let agents = vec![agent("a", "market")];
        for tick in 1..50 {
            let d = decide(&agents[0], tick, &agents);
            assert!(d.kind != "move" && d.kind != "talk", "{d:?}");
        }
    }

    #[test]
    fn llm_answers_become_decisions() {
        let a = agent("a", "market");
        let d = parse_decision(&a, "Talk. I greet the baker.");
        assert_eq!(d.kind, "talk");
        assert_eq!(d.detail, "Na: Talk. I greet the baker.");
        assert_eq!(parse_decision(&a, "dance wildly").kind, "observe");
        assert_eq!(parse_decision(&a, "move to the moon").location, "market");
    }
}
