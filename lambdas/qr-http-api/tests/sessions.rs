//! qr-http-api against a real moto server: a session whose presigned PUT
//! really stores bytes, its status over time (awaiting, uploaded,
//! expired), every validation rule, malformed requests, and the built
//! binary answering through the Lambda Runtime API.

use lambda_shared::qr::{QrSession, QrSessions, QrStatus};
use lambda_shared::testing::{
    http_event, http_event_json, invoke_binary, put, reply, start_failure, Moto, Outcome, QrFixture,
};
use qr_http_api::{handle, Config, CreateResponse};
use serde_json::{json, Value};
use std::time::Duration;

const NOW: i64 = 1_795_305_600; // 2026-11-22
const TTL: i64 = 1800;

fn config(fx: &QrFixture) -> Config {
    Config {
        table: fx.table.clone(),
        bucket: fx.bucket.clone(),
        session_ttl_seconds: TTL,
        url_expiry: Duration::from_secs(300),
    }
}

/// `GET /sessions/{sessionId}` for `id` (no path parameter when `None`).
fn get_event_json(id: Option<&str>) -> Value {
    let mut e = http_event_json("GET /sessions/{sessionId}", &Value::Null);
    e["body"] = Value::Null;
    if let Some(id) = id {
        e["rawPath"] = json!(format!("/sessions/{id}"));
        e["pathParameters"] = json!({"sessionId": id});
    }
    e
}

fn get_event(id: Option<&str>) -> aws_lambda_events::apigw::ApiGatewayV2httpRequest {
    serde_json::from_value(get_event_json(id)).unwrap()
}

/// `POST /sessions` with a raw body (`None`: no body at all).
fn post_event(body: Option<&str>) -> aws_lambda_events::apigw::ApiGatewayV2httpRequest {
    let mut e = http_event("POST /sessions", &Value::Null);
    e.body = body.map(str::to_string);
    e
}

async fn create(fx: &QrFixture, body: Option<&str>) -> CreateResponse {
    let (status, resp) = reply(
        &handle(
            &config(fx),
            &fx.objects,
            &fx.sessions,
            &post_event(body),
            NOW,
        )
        .await,
    );
    assert_eq!(status, 201, "{resp}");
    serde_json::from_value(resp).unwrap()
}

async fn status_at(fx: &QrFixture, id: &str, now: i64) -> (u16, Value) {
    reply(
        &handle(
            &config(fx),
            &fx.objects,
            &fx.sessions,
            &get_event(Some(id)),
            now,
        )
        .await,
    )
}

async fn item_count(fx: &QrFixture) -> i32 {
    fx.ddb
        .scan()
        .table_name(&fx.table)
        .send()
        .await
        .unwrap()
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_gets_a_presigned_put_that_stores_the_bytes() {
    let fx = QrFixture::new(Moto::shared()).await;
    let r = create(&fx, Some(r#"{"contentType": "image/png"}"#)).await;
    assert!(
        uuid::Uuid::try_parse(&r.session_id).is_ok(),
        "{}",
        r.session_id
    );
    assert_eq!(
        r.upload_key,
        format!("session-uploads/{}/upload", r.session_id)
    );
    assert_eq!(r.expires_at, NOW + TTL);
    assert_eq!(r.status, QrStatus::AwaitingScan);
    assert_eq!(r.content_type, "image/png");
    assert!(
        r.upload_url.contains(&format!(
            "/{}/session-uploads/{}/upload?",
            fx.bucket, r.session_id
        )),
        "{}",
        r.upload_url
    );
    assert!(
        r.upload_url.contains("X-Amz-Expires=300"),
        "{}",
        r.upload_url
    );
    assert!(
        r.upload_url.contains("content-type"),
        "the Content-Type must be signed: {}",
        r.upload_url
    );

    let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    put(&r.upload_url, "image/png", &bytes);
    assert_eq!(fx.object(&r.upload_key).await, bytes);

    let item = fx.item(&r.session_id).await.expect("session stored");
    assert_eq!(item["status"].as_s().unwrap(), "AWAITING_SCAN");
    assert_eq!(item["createdAt"].as_n().unwrap(), &NOW.to_string());
    assert_eq!(item["expiresAt"].as_n().unwrap(), &(NOW + TTL).to_string());
    assert_eq!(item["uploadKey"].as_s().unwrap(), &r.upload_key);
    assert_eq!(item["contentType"].as_s().unwrap(), "image/png");
    assert!(!item.contains_key("wsConnectionId"), "{item:?}");

    let (status, body) = status_at(&fx, &r.session_id, NOW + 1).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"sessionId": r.session_id, "status": "AWAITING_SCAN", "expiresAt": NOW + TTL, "uploadKey": r.upload_key})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_content_type_defaults_to_image_jpeg() {
    let fx = QrFixture::new(Moto::shared()).await;
    for body in [
        None,
        Some(""),
        Some("  "),
        Some("{}"),
        Some(r#"{"contentType": null}"#),
    ] {
        let r = create(&fx, body).await;
        assert_eq!(r.content_type, "image/jpeg", "{body:?}");
        let s = fx.sessions.get(&r.session_id).await.unwrap().unwrap();
        assert_eq!(s.content_type, "image/jpeg", "{body:?}");
    }
    assert_eq!(item_count(&fx).await, 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_follows_the_upload_and_expiry() {
    let fx = QrFixture::new(Moto::shared()).await;
    let waiting = create(&fx, None).await;
    let uploaded = create(&fx, None).await;

    // Not uploaded: waiting until expiresAt, EXPIRED from then on although
    // the item is still there (moto, like DynamoDB, deletes lazily).
    assert_eq!(
        status_at(&fx, &waiting.session_id, NOW + TTL - 1).await.1["status"],
        "AWAITING_SCAN"
    );
    let (status, body) = status_at(&fx, &waiting.session_id, NOW + TTL).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("EXPIRED")),
        "{body}"
    );
    assert!(fx.item(&waiting.session_id).await.is_some());

    // Uploaded: stays UPLOADED after expiresAt, with uploadedAt.
    let s = fx
        .sessions
        .mark_uploaded(&uploaded.session_id, &uploaded.upload_key, NOW + 60)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.status, QrStatus::Uploaded);
    let (status, body) = status_at(&fx, &uploaded.session_id, NOW + TTL + 10).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"sessionId": uploaded.session_id, "status": "UPLOADED", "expiresAt": NOW + TTL, "uploadKey": uploaded.upload_key, "uploadedAt": NOW + 60})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_session_is_a_404() {
    let fx = QrFixture::new(Moto::shared()).await;
    let id = uuid::Uuid::new_v4().to_string();
    let (status, body) = status_at(&fx, &id, NOW).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains(&id), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_validation_rule_gives_a_4xx_naming_the_field() {
    let fx = QrFixture::new(Moto::shared()).await;
    let post = |b: &str| post_event(Some(b));
    let mut base64_garbage = post("!!!");
    base64_garbage.is_base64_encoded = true;
    let mut unknown_route = http_event("DELETE /sessions/{sessionId}", &Value::Null);
    unknown_route
        .path_parameters
        .insert("sessionId".into(), uuid::Uuid::new_v4().to_string());
    let mut no_route = http_event("GET /sessions", &Value::Null);
    no_route.route_key = None;
    let mut blank_id = get_event(Some("x"));
    blank_id
        .path_parameters
        .insert("sessionId".into(), "  ".into());
    let cases = [
        (
            post(r#"{"contentType": "video/mp4"}"#),
            400,
            Some("contentType"),
            "only image/* types",
        ),
        (
            post(r#"{"contentType": "text/html"}"#),
            400,
            Some("contentType"),
            "only image/* types",
        ),
        (
            post(r#"{"contentType": "jpeg"}"#),
            400,
            Some("contentType"),
            "not a MIME type",
        ),
        (
            post(r#"{"contentType": "image/"}"#),
            400,
            Some("contentType"),
            "not a MIME type",
        ),
        (
            post(r#"{"contentType": "image/png; x=1"}"#),
            400,
            Some("contentType"),
            "not a MIME type",
        ),
        (
            post(r#"{"contentType": ""}"#),
            400,
            Some("contentType"),
            "not a MIME type",
        ),
        (
            post(r#"{"contentType": 5}"#),
            400,
            Some("contentType"),
            "invalid type",
        ),
        (
            post(r#"{"contentType": ["image/png"]}"#),
            400,
            Some("contentType"),
            "invalid type",
        ),
        (post("{nope"), 400, None, "not valid JSON"),
        (post("[1, 2]"), 400, None, "JSON"),
        (post("null"), 400, None, "JSON"),
        (post("\"image/png\""), 400, None, "JSON"),
        (base64_garbage, 400, None, "base64"),
        (get_event(None), 400, Some("sessionId"), "required"),
        (blank_id, 400, Some("sessionId"), "required"),
        (
            get_event(Some("not-a-uuid")),
            400,
            Some("sessionId"),
            "not a session id",
        ),
        (
            get_event(Some(&"a".repeat(5000))),
            400,
            Some("sessionId"),
            "not a session id",
        ),
        (unknown_route, 404, None, "no route for DELETE"),
        (no_route, 404, None, "no route for GET /sessions"),
        (
            http_event("POST /sessions/{sessionId}", &json!({})),
            404,
            None,
            "no route",
        ),
    ];
    for (req, want_status, want_field, text) in cases {
        let (status, body) =
            reply(&handle(&config(&fx), &fx.objects, &fx.sessions, &req, NOW).await);
        assert_eq!(status, want_status, "{:?}: {body}", req.body);
        assert_eq!(body["field"].as_str(), want_field, "{:?}: {body}", req.body);
        assert!(
            body["error"].as_str().unwrap().contains(text),
            "{:?}: {body}",
            req.body
        );
    }
    // None of these created a session.
    assert_eq!(item_count(&fx).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_failures_are_500s_without_internals() {
    let fx = QrFixture::new(Moto::shared()).await;
    let missing = lambda_shared::qr::DynamoQrSessions {
        client: fx.sessions.client.clone(),
        table: "no-such-table-secret".into(),
    };
    let (status, body) =
        reply(&handle(&config(&fx), &fx.objects, &missing, &post_event(None), NOW).await);
    assert_eq!(status, 500, "{body}");
    assert!(!body.to_string().contains("no-such-table-secret"), "{body}");
    let (status, body) = reply(
        &handle(
            &config(&fx),
            &fx.objects,
            &missing,
            &get_event(Some(&uuid::Uuid::new_v4().to_string())),
            NOW,
        )
        .await,
    );
    assert_eq!(status, 500, "{body}");
}

#[test]
fn the_built_binary_serves_requests_through_the_runtime_api() {
    let moto = Moto::shared();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(QrFixture::new(moto));
    let now = lambda_shared::now_epoch();
    let existing = QrSession {
        session_id: uuid::Uuid::new_v4().to_string(),
        status: QrStatus::AwaitingScan,
        created_at: now,
        expires_at: now + 600,
        upload_key: "session-uploads/x/upload".into(),
        content_type: "image/jpeg".into(),
        ws_connection_id: None,
        uploaded_at: None,
    };
    rt.block_on(fx.sessions.create(&existing)).unwrap();
    let mut env = fx.env(moto);
    env.push(("SESSION_TTL_SECONDS".into(), "900".into()));
    env.push(("URL_EXPIRY_SECONDS".into(), "120".into()));
    let events = vec![
        http_event_json("POST /sessions", &json!({"contentType": "image/webp"})),
        get_event_json(Some(&existing.session_id)),
        get_event_json(Some(&uuid::Uuid::new_v4().to_string())),
        http_event_json("POST /sessions", &json!({"contentType": "application/pdf"})),
    ];
    let out = invoke_binary(env!("CARGO_BIN_EXE_qr-http-api"), events, &env);
    let body = |o: &Outcome| -> (i64, Value) {
        let Outcome::Response(r) = o else {
            panic!("{out:?}")
        };
        (
            r["statusCode"].as_i64().unwrap(),
            serde_json::from_str(r["body"].as_str().unwrap()).unwrap(),
        )
    };

    let (status, created) = body(&out[0]);
    assert_eq!(status, 201, "{created}");
    let created: CreateResponse = serde_json::from_value(created).unwrap();
    assert!(
        created.upload_url.starts_with(&moto.endpoint),
        "{}",
        created.upload_url
    );
    assert!(
        created.upload_url.contains("X-Amz-Expires=120"),
        "{}",
        created.upload_url
    );
    assert!(
        (created.expires_at - now - 900).abs() <= 60,
        "{}",
        created.expires_at
    );
    put(&created.upload_url, "image/webp", b"RIFF....WEBP");
    assert_eq!(rt.block_on(fx.object(&created.upload_key)), b"RIFF....WEBP");

    let (status, got) = body(&out[1]);
    assert_eq!(
        (status, got["sessionId"].as_str(), got["status"].as_str()),
        (
            200,
            Some(existing.session_id.as_str()),
            Some("AWAITING_SCAN")
        ),
        "{got}"
    );
    assert_eq!(body(&out[2]).0, 404);
    let (status, bad) = body(&out[3]);
    assert_eq!(
        (status, bad["field"].as_str()),
        (400, Some("contentType")),
        "{bad}"
    );
}

/// Events API Gateway would never send, with the field each answer must name.
fn malformed_events() -> Vec<(Value, Option<&'static str>)> {
    let mut wrong_types = get_event_json(Some("x"));
    wrong_types["pathParameters"] = json!({"sessionId": 5});
    let mut body_object = http_event_json("POST /sessions", &Value::Null);
    body_object["body"] = json!({"contentType": "image/png"});
    let mut method_number = http_event_json("POST /sessions", &Value::Null);
    method_number["requestContext"]["http"]["method"] = json!(7);
    vec![
        (json!({}), Some("requestContext")),
        (json!([]), None),
        (json!(null), None),
        (json!("POST /sessions"), None),
        (json!({"routeKey": 5}), Some("routeKey")),
        (wrong_types, Some("pathParameters.sessionId")),
        (body_object, Some("body")),
        (method_number, Some("requestContext.http.method")),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_events_get_a_400_naming_the_field() {
    let fx = QrFixture::new(Moto::shared()).await;
    for (event, field) in malformed_events() {
        let resp = qr_http_api::handle_event(
            &config(&fx),
            &fx.objects,
            &fx.sessions,
            event.clone(),
            "req-1",
            NOW,
        )
        .await;
        assert_eq!(resp.status_code, 400, "{event}");
        let Some(aws_lambda_events::encodings::Body::Text(text)) = resp.body else {
            panic!("{event}")
        };
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["field"].as_str(), field, "{event}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("not an HTTP API (payload 2.0) request"),
            "{body}"
        );
    }
    assert_eq!(item_count(&fx).await, 0);
}

#[test]
fn malformed_events_never_crash_the_binary() {
    // Each gets a 400 and the process lives on to answer the valid request
    // that follows.
    let moto = Moto::shared();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(QrFixture::new(moto));
    let mut env = fx.env(moto);
    env.push(("SESSION_TTL_SECONDS".into(), "900".into()));
    env.push(("URL_EXPIRY_SECONDS".into(), "120".into()));
    let (mut events, fields): (Vec<Value>, Vec<Option<&str>>) =
        malformed_events().into_iter().unzip();
    events.push(http_event_json("POST /sessions", &json!({})));
    let n = events.len();
    let out = invoke_binary(env!("CARGO_BIN_EXE_qr-http-api"), events, &env);
    assert_eq!(out.len(), n, "{out:?}");
    for (o, field) in out.iter().zip(fields) {
        let Outcome::Response(r) = o else {
            panic!("{o:?}")
        };
        assert_eq!(r["statusCode"], 400, "{r}");
        let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["field"].as_str(), field, "{body}");
    }
    let Outcome::Response(ok) = &out[n - 1] else {
        panic!("{out:?}")
    };
    assert_eq!(ok["statusCode"], 201, "{ok}");
}

#[test]
fn the_binary_refuses_to_start_without_its_configuration() {
    let moto = Moto::shared();
    let err = start_failure(env!("CARGO_BIN_EXE_qr-http-api"), &moto.env());
    assert!(err.contains("SESSIONS_TABLE_NAME"), "{err}");
    let mut env = moto.env();
    for (k, v) in [
        ("SESSIONS_TABLE_NAME", "t"),
        ("UPLOAD_BUCKET_NAME", "b"),
        ("SESSION_TTL_SECONDS", "900"),
    ] {
        env.push((k.into(), v.into()));
    }
    let err = start_failure(env!("CARGO_BIN_EXE_qr-http-api"), &env);
    assert!(err.contains("URL_EXPIRY_SECONDS"), "{err}");
    env.push(("URL_EXPIRY_SECONDS".into(), "999999999".into()));
    let err = start_failure(env!("CARGO_BIN_EXE_qr-http-api"), &env);
    assert!(
        err.contains("URL_EXPIRY_SECONDS") && err.contains("999999999"),
        "{err}"
    );
}
