//! world-management run as a process against moto (DynamoDB, S3): the
//! world lifecycle, pagination, a snapshot saved and restored (the S3
//! object and the Snapshots item checked), a tampered snapshot refused,
//! error statuses, startup time and graceful shutdown.

use serde_json::{json, Value};
use world_testing::{block_on, Fixture, Service};

const BIN: &str = env!("CARGO_BIN_EXE_world-management");

fn start(fx: &Fixture) -> Service {
    Service::start(BIN, &fx.env())
}

#[test]
fn health_on_both_paths_and_sigterm_stops_it() {
    let fx = Fixture::new();
    let svc = start(&fx);
    eprintln!(
        "world-management: first /health {:?} after spawn",
        svc.startup
    );
    for path in ["/health", "/worlds/health"] {
        let r = svc.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body["status"], "ok");
        assert_eq!(r.body["service"], "world-management");
        assert_eq!(r.body["version"], env!("CARGO_PKG_VERSION"));
    }
    let r = svc.get("/nowhere");
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["code"], "not_found");
    let r = svc.delete("/worlds");
    assert_eq!(r.status, 405);
    assert_eq!(r.body["error"]["code"], "method_not_allowed");
    let (status, output) = svc.terminate();
    assert!(status.success(), "{status}: {output}");
    assert!(output.contains("shutting down"), "{output}");
    let line = output.lines().next().unwrap_or_default();
    let first: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(first["fields"]["message"], "listening", "{first}");
}

#[test]
fn a_missing_variable_stops_it_at_start() {
    let fx = Fixture::new();
    let env: Vec<_> = fx
        .env()
        .into_iter()
        .filter(|(k, _)| k != "SNAPSHOT_BUCKET")
        .collect();
    let (status, output) = Service::fail_to_start(BIN, &env);
    assert!(!status.success());
    assert!(
        output.contains("environment variable SNAPSHOT_BUCKET is not set"),
        "{output}"
    );
}

#[test]
fn world_lifecycle_and_listing() {
    let fx = Fixture::new();
    let svc = start(&fx);
    let owner = format!("owner-{}", std::process::id());

    let r = svc.post("/worlds", &json!({"name": "Smallville", "owner_id": owner}));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let w = r.body.clone();
    let id = w["world_id"].as_str().unwrap().to_string();
    assert_eq!(w["status"], "created");
    assert_eq!(w["tick"], 0);
    assert_eq!(svc.get(&format!("/worlds/{id}")).body, w);

    // Transitions: created -> running -> stopped -> running; wrong ones 409.
    assert_eq!(svc.post_empty(&format!("/worlds/{id}/stop")).status, 409);
    let r = svc.post_empty(&format!("/worlds/{id}/start"));
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("running"))
    );
    let r = svc.post_empty(&format!("/worlds/{id}/start"));
    assert_eq!(r.status, 409);
    assert_eq!(r.body["error"]["code"], "conflict");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is running"),
        "{:?}",
        r.body
    );
    let r = svc.post_empty(&format!("/worlds/{id}/stop"));
    assert_eq!(
        (r.status, r.body["status"].as_str()),
        (200, Some("stopped"))
    );
    assert_eq!(svc.post_empty(&format!("/worlds/{id}/start")).status, 200);
    let stored = fx.scan("WORLDS_TABLE");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["status"], "running");

    // Listing by owner through by_owner, two pages.
    for name in ["B", "C"] {
        assert_eq!(
            svc.post("/worlds", &json!({"name": name, "owner_id": owner}))
                .status,
            201
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let r = svc.get(&format!("/worlds?owner_id={owner}&limit=2"));
    assert_eq!(r.status, 200, "{:?}", r.body);
    let page1: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(page1, ["C", "B"], "newest first");
    let cursor = r.body["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_string();
    let r = svc.get(&format!("/worlds?owner_id={owner}&limit=2&cursor={cursor}"));
    let names: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Smallville"]);
    // A cursor is bound to its owner.
    let r = svc.get(&format!("/worlds?owner_id=someone-else&cursor={cursor}"));
    assert_eq!(r.status, 400);

    // Errors.
    assert_eq!(svc.get("/worlds/no-such-world").status, 404);
    assert_eq!(svc.post_empty("/worlds/no-such-world/start").status, 404);
    let r = svc.post("/worlds", &json!({"name": "x"}));
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("owner_id"));
    let r = svc.post(
        "/worlds",
        &json!({"name": "x", "owner_id": "o", "colour": 1}),
    );
    assert_eq!(r.status, 400, "unknown fields are refused");
    let r = svc.get("/worlds");
    assert_eq!(r.status, 400);
    assert_eq!(
        svc.get(&format!("/worlds?owner_id={owner}&limit=0")).status,
        400
    );
}

#[test]
fn snapshots_save_and_restore() {
    let fx = Fixture::new();
    let svc = start(&fx);
    let w = svc
        .post("/worlds", &json!({"name": "Snap", "owner_id": "o1"}))
        .body;
    let id = w["world_id"].as_str().unwrap().to_string();
    // The world's contents, as agent-runtime and the objects' writer leave them.
    let mut at7 = w.clone();
    at7["tick"] = json!(7);
    fx.put("WORLDS_TABLE", at7);
    for (agent, loc) in [("a1", "market"), ("a2", "square")] {
        fx.put("AGENTS_TABLE", json!({"agent_id": agent, "world_id": id, "name": agent, "persona": "p", "location": loc, "state": "idle", "created_at": "t", "updated_at": "t"}));
        fx.put("MEMORY_TABLE", json!({"agent_id": agent, "memory_id": "0000000000001#m", "content": "first", "importance": 4, "world_id": id, "created_at": "t", "embedding": [0.5, 1.0]}));
    }
    fx.put("OBJECTS_TABLE", json!({"world_id": id, "object_id": "o1", "kind": "building", "name": "Cafe", "location": "square", "properties": {"seats": 12, "open": true}}));

    let r = svc.post(&format!("/worlds/{id}/snapshots"), &json!({}));
    assert_eq!(r.status, 201, "{:?}", r.body);
    let snap = r.body.clone();
    let sid = snap["snapshot_id"].as_str().unwrap().to_string();
    assert_eq!(snap["tick"], 7);
    assert_eq!(
        (
            snap["agents"].as_u64(),
            snap["objects"].as_u64(),
            snap["memories"].as_u64()
        ),
        (Some(2), Some(1), Some(2))
    );
    let key = format!("snapshots/{id}/{sid}.json.gz");
    assert_eq!(snap["s3_key"], key.as_str());

    // The S3 object: gzip JSON whose SHA-256 and size the item records.
    let bytes = block_on(async {
        fx.s3
            .get_object()
            .bucket(&fx.bucket)
            .key(&key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes()
    });
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    assert_eq!(snap["size"].as_u64(), Some(bytes.len() as u64));
    assert_eq!(
        snap["sha256"].as_str().unwrap(),
        world_core::sha256_hex(&bytes)
    );
    let items = fx.scan("SNAPSHOTS_TABLE");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["sha256"], snap["sha256"]);
    assert_eq!(items[0]["s3_key"], key.as_str());
    let listed = svc.get(&format!("/worlds/{id}/snapshots")).body;
    assert_eq!(listed["items"][0]["snapshot_id"], sid.as_str());

    // The world moves on: tick 9, an agent changed, one added, an object gone, a memory added.
    let mut later = w.clone();
    later["tick"] = json!(9);
    fx.put("WORLDS_TABLE", later);
    fx.put("AGENTS_TABLE", json!({"agent_id": "a1", "world_id": id, "name": "a1", "persona": "p", "location": "far away", "state": "talk", "created_at": "t", "updated_at": "t2"}));
    fx.put("AGENTS_TABLE", json!({"agent_id": "a3", "world_id": id, "name": "a3", "persona": "p", "location": "x", "state": "idle", "created_at": "t", "updated_at": "t"}));
    fx.put("MEMORY_TABLE", json!({"agent_id": "a1", "memory_id": "0000000000002#n", "content": "later", "importance": 2, "world_id": id, "created_at": "t"}));
    fx.put("MEMORY_TABLE", json!({"agent_id": "a3", "memory_id": "0000000000003#o", "content": "new", "importance": 2, "world_id": id, "created_at": "t"}));
    block_on(async {
        fx.ddb
            .delete_item()
            .table_name(fx.table("OBJECTS_TABLE"))
            .key(
                "world_id",
                aws_sdk_dynamodb::types::AttributeValue::S(id.clone()),
            )
            .key(
                "object_id",
                aws_sdk_dynamodb::types::AttributeValue::S("o1".into()),
            )
            .send()
            .await
            .unwrap();
    });

    // A running world cannot be restored.
    assert_eq!(svc.post_empty(&format!("/worlds/{id}/start")).status, 200);
    let r = svc.post_empty(&format!("/worlds/{id}/snapshots/{sid}/restore"));
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(svc.post_empty(&format!("/worlds/{id}/stop")).status, 200);

    let r = svc.post_empty(&format!("/worlds/{id}/snapshots/{sid}/restore"));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["world"]["tick"], 7);
    assert_eq!(r.body["world"]["status"], "stopped");
    assert_eq!(
        r.body["restored"],
        json!({"agents": 2, "objects": 1, "memories": 2})
    );
    assert_eq!(
        r.body["removed"],
        json!({"agents": 1, "objects": 0, "memories": 2})
    );
    let world = svc.get(&format!("/worlds/{id}")).body;
    assert_eq!(
        (world["tick"].as_u64(), world["status"].as_str()),
        (Some(7), Some("stopped"))
    );
    let mut agents = fx.scan("AGENTS_TABLE");
    agents.sort_by_key(|a| a["agent_id"].as_str().unwrap().to_string());
    let locations: Vec<(&str, &str)> = agents
        .iter()
        .map(|a| {
            (
                a["agent_id"].as_str().unwrap(),
                a["location"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(locations, [("a1", "market"), ("a2", "square")]);
    let objects = fx.scan("OBJECTS_TABLE");
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0]["properties"], json!({"seats": 12, "open": true}));
    let mut memories: Vec<String> = fx
        .scan("MEMORY_TABLE")
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["agent_id"].as_str().unwrap(),
                m["content"].as_str().unwrap()
            )
        })
        .collect();
    memories.sort();
    assert_eq!(memories, ["a1/first", "a2/first"]);
    let embedding: Vec<f64> = fx.scan("MEMORY_TABLE")[0]["embedding"]
        .as_array()
        .expect("the embedding is restored")
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(embedding, [0.5, 1.0]);

    // A tampered object is refused before anything is written.
    block_on(async {
        fx.s3
            .put_object()
            .bucket(&fx.bucket)
            .key(&key)
            .body(b"tampered".to_vec().into())
            .send()
            .await
            .unwrap();
    });
    let r = svc.post_empty(&format!("/worlds/{id}/snapshots/{sid}/restore"));
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "snapshot_corrupt");
    assert_eq!(
        svc.post_empty(&format!("/worlds/{id}/snapshots/nope/restore"))
            .status,
        404
    );
    assert_eq!(
        svc.post(
            &format!("/worlds/{id}/snapshots"),
            &json!({"include_memory": "yes"})
        )
        .status,
        400
    );
}
