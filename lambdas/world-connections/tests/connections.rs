//! world-connections run as Lambda would run it (the built binary against
//! a local Runtime API) with its table in moto: `$connect` records the
//! connection for its world, `$disconnect` removes it, a connect without
//! `world_id` is refused.

use lambda_shared::testing::{invoke_binary, Moto, Outcome};
use serde_json::{json, Value};
use world_testing::Fixture;

const NOW: i64 = 1_795_305_600;

fn ws_event(event_type: &str, connection_id: &str, query: Value) -> Value {
    let route = match event_type {
        "CONNECT" => "$connect",
        "DISCONNECT" => "$disconnect",
        _ => "$default",
    };
    json!({
        "requestContext": {
            "routeKey": route,
            "eventType": event_type,
            "extendedRequestId": "ext",
            "requestTime": "22/Nov/2026:00:00:00 +0000",
            "messageDirection": "IN",
            "stage": "local",
            "connectedAt": NOW * 1000,
            "requestTimeEpoch": NOW * 1000,
            "identity": {"sourceIp": "127.0.0.1"},
            "requestId": "req-ws",
            "domainName": "ws.example.com",
            "connectionId": connection_id,
            "apiId": "wsapi"
        },
        "queryStringParameters": query,
        "isBase64Encoded": false
    })
}

fn status(outcome: &Outcome) -> (u64, Value) {
    match outcome {
        Outcome::Response(r) => (
            r["statusCode"].as_u64().unwrap(),
            serde_json::from_str(r["body"].as_str().unwrap()).unwrap(),
        ),
        other => panic!("not a response: {other:?}"),
    }
}

#[test]
fn connect_records_and_disconnect_forgets() {
    let fx = Fixture::new();
    let mut env = Moto::shared().env();
    env.push((
        "CONNECTIONS_TABLE".into(),
        fx.table("CONNECTIONS_TABLE").to_string(),
    ));
    let outcomes = invoke_binary(
        env!("CARGO_BIN_EXE_world-connections"),
        vec![
            ws_event("CONNECT", "c1", json!({"world_id": "w1"})),
            ws_event("CONNECT", "c2", json!({"world_id": "w1"})),
            ws_event("CONNECT", "c3", json!({})),
            ws_event("MESSAGE", "c1", json!({})),
            ws_event("DISCONNECT", "c2", json!({})),
        ],
        &env,
    );
    assert_eq!(outcomes.len(), 5);
    let (code, body) = status(&outcomes[0]);
    assert_eq!((code, body["world_id"].as_str()), (200, Some("w1")));
    let (code, body) = status(&outcomes[2]);
    assert_eq!(code, 400);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("world_id is required"));
    assert_eq!(status(&outcomes[3]).0, 400);
    assert_eq!(status(&outcomes[4]).0, 200);

    let items = fx.scan("CONNECTIONS_TABLE");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["connection_id"], "c1");
    assert_eq!(items[0]["world_id"], "w1");
    let expires = items[0]["expires_at"].as_i64().unwrap();
    let now = lambda_shared::now_epoch();
    assert!(
        (now + 7200 - 60..=now + 7200 + 60).contains(&expires),
        "{expires} vs {now}"
    );
}

#[test]
fn a_missing_table_variable_stops_it_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_world-connections"))
        .env_remove("CONNECTIONS_TABLE")
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CONNECTIONS_TABLE"), "{stderr}");
}
