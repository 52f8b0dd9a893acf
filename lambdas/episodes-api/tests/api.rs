//! The episodes API in-process against moto (table, bucket, cursor secret
//! from clips-testing), and its built binary through the Runtime API.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use clips_testing::{rest_event, Fixture, Servers};
use episodes_api::{Api, Config};
use lambda_shared::testing::{invoke_binary_timed, start_failure, Outcome};
use serde_json::{json, Value};
use std::time::Duration;

fn config(fx: &Fixture) -> Config {
    Config {
        table: fx.table.clone(),
        bucket: fx.bucket.clone(),
        cursor_secret_arn: fx.cursor_secret_arn.clone(),
        origin: "https://studio.example.com".into(),
        upload_ttl: Duration::from_secs(600),
    }
}

async fn call(api: &Api, event: Value) -> (i64, Value, ApiGatewayProxyResponse) {
    let req: ApiGatewayProxyRequest = serde_json::from_value(event).expect("a proxy event");
    let res = api.handle(&req, "req-1").await;
    let body = match &res.body {
        Some(Body::Text(t)) => serde_json::from_str(t).expect("JSON"),
        other => panic!("unexpected body {other:?}"),
    };
    (res.status_code, body, res)
}

#[tokio::test]
async fn create_list_get_update_and_transcript() {
    let fx = Fixture::new().await;
    let sdk = Servers::shared().sdk_config().await;
    let api = Api::new(&sdk, config(&fx));

    // Create three episodes; each gets a presigned PUT that works.
    let mut ids = Vec::new();
    for title in ["First", "Second", "Third"] {
        let (status, body, res) = call(
            &api,
            rest_event(
                "POST",
                "/episodes",
                None,
                json!(null),
                Some(json!({"title": format!("  {title} "), "description": "live"})),
            ),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(
            res.headers["access-control-allow-origin"],
            "https://studio.example.com"
        );
        let id = body["episode"]["id"].as_str().unwrap().to_string();
        assert_eq!(body["episode"]["title"], title);
        assert_eq!(body["episode"]["status"], "created");
        assert_eq!(body["upload"]["method"], "PUT");
        assert_eq!(body["upload"]["key"], format!("uploads/{id}/video"));
        assert_eq!(body["upload"]["expires_in"], 600);
        let url = body["upload"]["url"].as_str().unwrap();
        assert!(url.contains("X-Amz-Signature="), "{url}");
        ids.push(id);
        std::thread::sleep(Duration::from_millis(5));
    }
    let url = {
        let (_, body, _) = call(
            &api,
            rest_event(
                "POST",
                "/episodes/{episode_id}/transcript",
                Some(&ids[0]),
                json!(null),
                None,
            ),
        )
        .await;
        assert_eq!(
            body["upload"]["key"],
            format!("transcripts/{}/transcript.txt", ids[0])
        );
        body["upload"]["url"].as_str().unwrap().to_string()
    };
    let put = ureq::put(&url)
        .send(b"hello transcript".as_slice())
        .expect("presigned PUT");
    assert_eq!(put.status(), 200);
    let stored = fx
        .s3
        .get_object()
        .bucket(&fx.bucket)
        .key(format!("transcripts/{}/transcript.txt", ids[0]))
        .send()
        .await
        .expect("uploaded object");
    assert_eq!(
        stored.body.collect().await.unwrap().into_bytes().as_ref(),
        b"hello transcript"
    );

    // Bad bodies name the field; nothing is created.
    for (body, field) in [
        (json!({}), json!("title")),
        (json!({"title": "   "}), json!("title")),
        (json!({"title": "x".repeat(201)}), json!("title")),
        (json!({"title": "ok", "owner": "me"}), json!("owner")),
    ] {
        let (status, answer, _) = call(
            &api,
            rest_event("POST", "/episodes", None, json!(null), Some(body.clone())),
        )
        .await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert_eq!(
            answer.get("field").cloned().unwrap_or(Value::Null),
            field,
            "{answer}"
        );
    }
    let (status, _, _) = call(
        &api,
        rest_event("POST", "/episodes", None, json!(null), None),
    )
    .await;
    assert_eq!(status, 400);

    // Newest first, two pages.
    let (status, page1, _) = call(
        &api,
        rest_event("GET", "/episodes", None, json!({"limit": "2"}), None),
    )
    .await;
    assert_eq!(status, 200, "{page1}");
    let titles = |p: &Value| -> Vec<String> {
        p["episodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["title"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(titles(&page1), ["Third", "Second"]);
    let cursor = page1["next_cursor"]
        .as_str()
        .expect("a next cursor")
        .to_string();
    let (status, page2, _) = call(
        &api,
        rest_event(
            "GET",
            "/episodes",
            None,
            json!({"limit": "2", "cursor": cursor}),
            None,
        ),
    )
    .await;
    assert_eq!(status, 200, "{page2}");
    assert_eq!(titles(&page2), ["First"]);
    assert_eq!(page2["next_cursor"], Value::Null);

    // A forged or altered cursor is refused.
    let (payload, tag) = cursor.split_once('.').unwrap();
    let mut flipped = payload.to_string().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    for bad in [
        format!("{}.{tag}", String::from_utf8(flipped).unwrap()),
        format!("{payload}.{}", "A".repeat(tag.len())),
        "eyJwayI6IkVQSVNPREUjeCJ9".to_string(),
        "not a cursor".to_string(),
    ] {
        let (status, body, _) = call(
            &api,
            rest_event("GET", "/episodes", None, json!({"cursor": bad}), None),
        )
        .await;
        assert_eq!(status, 400, "{bad} → {body}");
        assert_eq!(body["field"], "cursor");
    }
    for limit in ["0", "101", "ten"] {
        let (status, _, _) = call(
            &api,
            rest_event("GET", "/episodes", None, json!({"limit": limit}), None),
        )
        .await;
        assert_eq!(status, 400, "limit {limit}");
    }

    // Get, update, get.
    let (status, got, _) = call(
        &api,
        rest_event(
            "GET",
            "/episodes/{episode_id}",
            Some(&ids[1]),
            json!(null),
            None,
        ),
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["episode"]["title"], "Second");
    assert_eq!(got["chunks"], json!([]));
    assert_eq!(got["clips"], json!([]));
    let (status, updated, _) = call(
        &api,
        rest_event(
            "PATCH",
            "/episodes/{episode_id}",
            Some(&ids[1]),
            json!(null),
            Some(json!({"title": "Renamed"})),
        ),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["episode"]["title"], "Renamed");
    assert_eq!(updated["episode"]["description"], "live");
    let (_, got, _) = call(
        &api,
        rest_event(
            "GET",
            "/episodes/{episode_id}",
            Some(&ids[1]),
            json!(null),
            None,
        ),
    )
    .await;
    assert_eq!(got["episode"]["title"], "Renamed");
    assert!(got["episode"]["updated_at"].as_i64() > got["episode"]["created_at"].as_i64());
    let (status, _, _) = call(
        &api,
        rest_event(
            "PATCH",
            "/episodes/{episode_id}",
            Some(&ids[1]),
            json!(null),
            Some(json!({})),
        ),
    )
    .await;
    assert_eq!(status, 400);

    // Unknown episodes and routes: 404, and never created by an update.
    let unknown = "0b9f1c3e-7d1a-4a53-9c1e-2f4b5a6c7d8e";
    for ev in [
        rest_event(
            "GET",
            "/episodes/{episode_id}",
            Some(unknown),
            json!(null),
            None,
        ),
        rest_event(
            "GET",
            "/episodes/{episode_id}",
            Some("EPISODE#x"),
            json!(null),
            None,
        ),
        rest_event(
            "PATCH",
            "/episodes/{episode_id}",
            Some(unknown),
            json!(null),
            Some(json!({"title": "x"})),
        ),
        rest_event(
            "POST",
            "/episodes/{episode_id}/transcript",
            Some(unknown),
            json!(null),
            None,
        ),
        rest_event(
            "DELETE",
            "/episodes/{episode_id}",
            Some(&ids[0]),
            json!(null),
            None,
        ),
    ] {
        let (status, body, _) = call(&api, ev).await;
        assert_eq!(status, 404, "{body}");
        assert!(body["error"].is_string());
    }
    assert!(fx
        .item(&format!("EPISODE#{unknown}"), "EPISODE")
        .await
        .is_none());
}

#[tokio::test]
async fn internal_failures_answer_500_without_details() {
    let fx = Fixture::new().await;
    let sdk = Servers::shared().sdk_config().await;
    let mut cfg = config(&fx);
    cfg.table = "no-such-table".into();
    cfg.cursor_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing".into();
    let api = Api::new(&sdk, cfg);
    let (status, body, _) = call(
        &api,
        rest_event("GET", "/episodes", None, json!(null), None),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        json!({"error": "internal error", "requestId": "req-1"})
    );
}

#[test]
fn the_built_binary_serves_the_api_and_refuses_to_start_without_its_configuration() {
    let servers = Servers::shared();
    let fx = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(Fixture::new());
    let mut env = servers.env();
    env.extend([
        ("TABLE_NAME".to_string(), fx.table.clone()),
        ("BUCKET_NAME".to_string(), fx.bucket.clone()),
        (
            "CURSOR_KEY_SECRET_ARN".to_string(),
            fx.cursor_secret_arn.clone(),
        ),
        ("ORIGIN".to_string(), "*".to_string()),
    ]);
    let (outcomes, init) = invoke_binary_timed(
        env!("CARGO_BIN_EXE_episodes-api"),
        vec![
            rest_event(
                "POST",
                "/episodes",
                None,
                json!(null),
                Some(json!({"title": "Cold"})),
            ),
            rest_event("GET", "/episodes", None, json!({"limit": "1"}), None),
        ],
        &env,
    );
    let Outcome::Response(created) = &outcomes[0] else {
        panic!("{outcomes:?}")
    };
    assert_eq!(created["statusCode"], 201, "{created}");
    let Outcome::Response(listed) = &outcomes[1] else {
        panic!("{outcomes:?}")
    };
    let body: Value = serde_json::from_str(listed["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["episodes"][0]["title"], "Cold");
    eprintln!("COLD START episodes-api: {:?}", init.expect("init time"));

    env.retain(|(k, _)| k != "ORIGIN");
    let stderr = start_failure(env!("CARGO_BIN_EXE_episodes-api"), &env);
    assert!(stderr.contains("ORIGIN"), "{stderr}");
}
