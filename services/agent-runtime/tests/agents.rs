//! agent-runtime run as a process against moto (DynamoDB), a real Redis,
//! a local Management API, and (for the LLM path) llm-integration itself
//! in front of a local Bedrock runtime API: agents, memories, and
//! simulation steps (events written, pushes received, a gone connection
//! deleted, the lock honoured).

use serde_json::{json, Value};
use world_testing::{redis_env, FakeBedrock, FakeManagementApi, Fixture, Service};

const BIN: &str = env!("CARGO_BIN_EXE_agent-runtime");

fn env(fx: &Fixture, api: &FakeManagementApi) -> Vec<(String, String)> {
    let mut env = fx.env();
    env.extend(redis_env());
    env.push(("WEBSOCKET_ENDPOINT".into(), api.endpoint.clone()));
    env
}

/// A running world with two agents; returns (world id, agent ids).
fn world(fx: &Fixture, svc: &Service, status: &str) -> (String, Vec<String>) {
    let id = format!("w-{}", lambda_shared::testing::unique("world"));
    fx.put("WORLDS_TABLE", json!({"world_id": id, "owner_id": "o", "name": "W", "status": status, "tick": 0, "created_at": "t", "updated_at": "t"}));
    let mut agents = Vec::new();
    for (name, loc) in [("Ada", "market"), ("Bo", "square")] {
        let r = svc.post(
            "/agents",
            &json!({"world_id": id, "name": name, "persona": "a curious baker", "location": loc}),
        );
        assert_eq!(r.status, 201, "{:?}", r.body);
        agents.push(r.body["agent_id"].as_str().unwrap().to_string());
    }
    (id, agents)
}

#[test]
fn agents_and_memories() {
    let fx = Fixture::new();
    let api = FakeManagementApi::start();
    let svc = Service::start(BIN, &env(&fx, &api));
    eprintln!("agent-runtime: first /health {:?} after spawn", svc.startup);
    assert_eq!(svc.get("/agents/health").body["service"], "agent-runtime");
    let (world_id, agents) = world(&fx, &svc, "running");
    let a = &agents[0];
    let r = svc.get(&format!("/agents/{a}"));
    assert_eq!(
        (r.status, r.body["name"].as_str(), r.body["state"].as_str()),
        (200, Some("Ada"), Some("idle"))
    );
    let r = svc.get(&format!("/agents?world_id={world_id}&limit=1"));
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let cursor = r.body["next_cursor"].as_str().unwrap().to_string();
    let r = svc.get(&format!(
        "/agents?world_id={world_id}&limit=1&cursor={cursor}"
    ));
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);

    for (content, importance) in [("met Bo", 3), ("the oven broke", 9), ("bought flour", 5)] {
        let r = svc.post(
            &format!("/agents/{a}/memories"),
            &json!({"content": content, "importance": importance}),
        );
        assert_eq!(r.status, 201, "{:?}", r.body);
        assert!(r.body["memory_id"].as_str().unwrap().contains('#'));
        assert!(
            r.body.get("embedding").is_none(),
            "no LLM_URL, no embedding"
        );
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
    let newest: Vec<String> = svc.get(&format!("/agents/{a}/memories")).body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(newest, ["bought flour", "the oven broke", "met Bo"]);
    let top: Vec<u64> = svc
        .get(&format!("/agents/{a}/memories?top=importance&limit=2"))
        .body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["importance"].as_u64().unwrap())
        .collect();
    assert_eq!(top, [9, 5]);

    // Errors.
    let r = svc.post(
        "/agents",
        &json!({"world_id": "nope", "name": "x", "persona": "p", "location": "l"}),
    );
    assert_eq!(r.status, 404);
    let r = svc.post(
        "/agents",
        &json!({"world_id": world_id, "name": "x", "persona": "p"}),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("location"),
        "{:?}",
        r.body
    );
    assert_eq!(
        svc.post(
            &format!("/agents/{a}/memories"),
            &json!({"content": "x", "importance": 11})
        )
        .status,
        400
    );
    assert_eq!(
        svc.post(&format!("/agents/{a}/memories"), &json!({"content": "x"}))
            .status,
        400
    );
    assert_eq!(
        svc.post(
            "/agents/nope/memories",
            &json!({"content": "x", "importance": 1})
        )
        .status,
        404
    );
    assert_eq!(
        svc.get(&format!("/agents/{a}/memories?top=colour")).status,
        400
    );
    assert_eq!(svc.get("/agents").status, 400);
    assert_eq!(svc.get("/agents/nope").status, 404);
}

#[test]
fn a_simulation_step_records_and_pushes() {
    let fx = Fixture::new();
    let api = FakeManagementApi::start();
    let svc = Service::start(BIN, &env(&fx, &api));
    let (world_id, agents) = world(&fx, &svc, "running");
    for (conn, world) in [
        ("live-1", world_id.as_str()),
        ("gone-1", world_id.as_str()),
        ("live-other", "another-world"),
    ] {
        fx.put(
            "CONNECTIONS_TABLE",
            json!({"connection_id": conn, "world_id": world, "expires_at": 4_000_000_000u64}),
        );
    }

    let r = svc.post_empty(&format!("/simulation/{world_id}/step"));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["tick"], 1);
    assert_eq!(
        (
            r.body["pushed"].as_u64(),
            r.body["gone"].as_u64(),
            r.body["failed"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );
    let events = r.body["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["event_id"], "0000000001#0000");
    assert_eq!(events[1]["event_id"], "0000000001#0001");

    // Stored: events (with a TTL), one memory per agent, the world's tick, agent state.
    let mut stored = fx.scan("EVENTS_TABLE");
    stored.sort_by_key(|e| e["event_id"].as_str().unwrap().to_string());
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0]["detail"], events[0]["detail"]);
    assert!(stored[0]["expires_at"].as_u64().unwrap() > 1_700_000_000);
    let memories = fx.scan("MEMORY_TABLE");
    assert_eq!(memories.len(), 2);
    assert!(memories
        .iter()
        .all(|m| m["content"].as_str().unwrap().starts_with("Tick 1: ")));
    let w = fx
        .scan("WORLDS_TABLE")
        .into_iter()
        .find(|w| w["world_id"] == world_id.as_str())
        .unwrap();
    assert_eq!(w["tick"], 1);
    let agent = svc.get(&format!("/agents/{}", agents[0])).body;
    let mine = events
        .iter()
        .find(|e| e["agent_id"] == agents[0].as_str())
        .unwrap();
    assert_eq!(agent["state"], mine["kind"]);

    // The push: the step's events, to the live connection of this world only.
    let posts = api.posts();
    let paths: Vec<&str> = posts.iter().map(|p| p.path.as_str()).collect();
    assert!(paths.contains(&"/local/@connections/live-1"), "{paths:?}");
    assert!(paths.contains(&"/local/@connections/gone-1"), "{paths:?}");
    assert!(!paths.iter().any(|p| p.ends_with("live-other")));
    let live = posts.iter().find(|p| p.path.ends_with("live-1")).unwrap();
    let msg: Value = live.json();
    assert_eq!(msg["type"], "step");
    assert_eq!(msg["tick"], 1);
    assert_eq!(msg["events"], json!(events));
    // The gone connection was deleted; the others stay.
    let mut conns: Vec<String> = fx
        .scan("CONNECTIONS_TABLE")
        .iter()
        .map(|c| c["connection_id"].as_str().unwrap().to_string())
        .collect();
    conns.sort();
    assert_eq!(conns, ["live-1", "live-other"]);

    // A second step: tick 2, events keyed after tick 1's.
    let r = svc.post_empty(&format!("/simulation/{world_id}/step"));
    assert_eq!(r.body["tick"], 2);
    assert_eq!(r.body["events"][0]["event_id"], "0000000002#0000");
    assert_eq!(fx.scan("EVENTS_TABLE").len(), 4);

    // Held lock: 409 and nothing written.
    let port = world_testing::redis();
    let mut redis = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    let key = format!("lock:world:{world_id}");
    write!(
        redis,
        "*5\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$5\r\nother\r\n$2\r\nPX\r\n$5\r\n60000\r\n",
        key.len()
    )
    .unwrap();
    let mut buf = [0u8; 16];
    let n = redis.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"+OK\r\n");
    let r = svc.post_empty(&format!("/simulation/{world_id}/step"));
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already running"));
    assert_eq!(fx.scan("EVENTS_TABLE").len(), 4);
    write!(redis, "*2\r\n$3\r\nDEL\r\n${}\r\n{key}\r\n", key.len()).unwrap();
    let _ = redis.read(&mut buf).unwrap();

    // A stopped world does not step; an unknown one is 404.
    let (stopped, _) = world(&fx, &svc, "stopped");
    assert_eq!(
        svc.post_empty(&format!("/simulation/{stopped}/step"))
            .status,
        409
    );
    assert_eq!(svc.post_empty("/simulation/nope/step").status, 404);
}

#[test]
fn with_llm_url_agents_decide_through_llm_integration() {
    let fx = Fixture::new();
    let api = FakeManagementApi::start();
    let bedrock = FakeBedrock::start();
    let mut llm_env = redis_env();
    llm_env.extend([
        (
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME".to_string(),
            bedrock.endpoint.clone(),
        ),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
    ]);
    let llm = Service::start(&llm_integration_bin(), &llm_env);
    let mut env = env(&fx, &api);
    env.push(("LLM_URL".into(), llm.url.clone()));
    let svc = Service::start(BIN, &env);
    let (world_id, agents) = world(&fx, &svc, "running");

    let r = svc.post(
        &format!("/agents/{}/memories", agents[0]),
        &json!({"content": "hello", "importance": 2}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body["embedding"],
        json!([5.0, 0.5, -0.25]),
        "embedded through llm-integration"
    );

    let r = svc.post_empty(&format!("/simulation/{world_id}/step"));
    assert_eq!(r.status, 200, "{:?}", r.body);
    for e in r.body["events"].as_array().unwrap() {
        assert_eq!(e["kind"], "talk", "{e}");
        assert!(
            e["detail"]
                .as_str()
                .unwrap()
                .contains("talk. You said: You are "),
            "{e}"
        );
    }
    let converse = bedrock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/converse"))
        .count();
    assert_eq!(converse, 2, "one decision per agent");
}

/// llm-integration's binary: another package's, so cargo does not build
/// it for these tests; built here (a no-op when up to date).
fn llm_integration_bin() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "-p", "llm-integration"])
        .current_dir(&root)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p llm-integration failed");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    target
        .join("debug/llm-integration")
        .to_string_lossy()
        .into_owned()
}
