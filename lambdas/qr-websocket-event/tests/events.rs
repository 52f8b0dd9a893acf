//! qr-websocket-event against a real moto server (sessions table and
//! bucket) and a local API Gateway Management API.
//!
//! moto 5.2.1 does implement PostToConnection (`apigatewaymanagementapi`),
//! but only as a sink: the posted bytes are appended to an in-memory
//! connection that no API returns (GetConnection answers only
//! `connectedAt`, `lastActiveAt` and `identity`), any connection id is
//! accepted (it never answers 410 Gone), and it only routes requests whose
//! path starts with `/@connections`, so a `/{stage}` endpoint cannot be
//! tested through it. So one test checks that moto accepts the client's
//! request, and the rest use [`ManagementApi`]: lambda-local's Management
//! API (the one `stackctl serve` runs) over a `Recorder`, which knows the
//! connections a test opened, answers 410 GoneException for any other id
//! and 403 for another stage, and records the exact bytes posted.

use lambda_local::apigw::management::{self, Recorder};
use lambda_shared::qr::{QrSession, QrSessions, QrStatus, CONNECTION_INDEX};
use lambda_shared::testing::{
    invoke_binary, s3_event_json, start_failure, Moto, Outcome, QrFixture,
};
use qr_websocket_event::{handle, ApiConnections, Connections, EventError, PostError};
use serde_json::{json, Value};
use std::sync::Arc;

const NOW: i64 = 1_795_305_600; // 2026-11-22
const STAGE: &str = "local";

/// One message the Management API delivered: (connection id, bytes).
type Post = (String, Vec<u8>);

/// The Management API on a free port, serving [`STAGE`].
struct ManagementApi {
    /// `http://127.0.0.1:PORT/local`, for `WS_API_ENDPOINT`.
    endpoint: String,
    recorder: Arc<Recorder>,
}

impl ManagementApi {
    /// Serves with `live` as the open connections.
    fn start(live: &[&str]) -> ManagementApi {
        let recorder = Arc::new(Recorder::new(STAGE));
        for id in live {
            recorder.open(id);
        }
        let addr = management::spawn(recorder.clone()).unwrap();
        ManagementApi {
            endpoint: format!("http://{addr}/{STAGE}"),
            recorder,
        }
    }

    fn posts(&self) -> Vec<Post> {
        self.recorder.posts()
    }

    /// A client for this API built from moto's SDK configuration, whose
    /// `endpoint_url` (moto) the explicit endpoint must override.
    async fn connections(&self) -> ApiConnections {
        ApiConnections::new(&Moto::shared().sdk_config().await, &self.endpoint)
    }
}

/// A WebSocket event as API Gateway sends it.
fn ws_event(event_type: &str, connection_id: &str, query: Value, body: Option<&str>) -> Value {
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
            "stage": STAGE,
            "connectedAt": NOW * 1000,
            "requestTimeEpoch": NOW * 1000,
            "identity": {"sourceIp": "127.0.0.1"},
            "requestId": "req-ws",
            "domainName": "ws.example.com",
            "connectionId": connection_id,
            "apiId": "wsapi"
        },
        "queryStringParameters": query,
        "body": body,
        "isBase64Encoded": false
    })
}

fn connect_event(connection_id: &str, session_id: &str) -> Value {
    ws_event(
        "CONNECT",
        connection_id,
        json!({"sessionId": session_id}),
        None,
    )
}

/// Status and parsed body of a WebSocket response.
fn ws_reply(resp: &Value) -> (i64, Value) {
    let body = resp["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (resp["statusCode"].as_i64().unwrap_or_default(), body)
}

async fn new_session(fx: &QrFixture, expires_at: i64) -> QrSession {
    let id = uuid::Uuid::new_v4().to_string();
    let s = QrSession {
        session_id: id.clone(),
        status: QrStatus::AwaitingScan,
        created_at: NOW - 60,
        expires_at,
        upload_key: lambda_shared::qr::upload_key(&id),
        content_type: "image/jpeg".into(),
        ws_connection_id: None,
        uploaded_at: None,
    };
    fx.sessions.create(&s).await.unwrap();
    s
}

/// Session ids the GSI holds for `connection_id`, queried directly.
async fn index_query(fx: &QrFixture, connection_id: &str) -> Vec<String> {
    let out = fx
        .ddb
        .query()
        .table_name(&fx.table)
        .index_name(CONNECTION_INDEX)
        .key_condition_expression("wsConnectionId = :c")
        .expression_attribute_values(
            ":c",
            aws_sdk_dynamodb::types::AttributeValue::S(connection_id.into()),
        )
        .send()
        .await
        .unwrap();
    out.items()
        .iter()
        .map(|i| i["sessionId"].as_s().unwrap().clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_links_the_connection_and_disconnect_clears_it() {
    let fx = QrFixture::new(Moto::shared()).await;
    let api = ManagementApi::start(&["L0SM9cOFvHcCIhw=", "second"]);
    let conns = api.connections().await;
    let session = new_session(&fx, NOW + 600).await;
    let other = new_session(&fx, NOW + 600).await;
    let conn = "L0SM9cOFvHcCIhw=";

    let (status, body) = ws_reply(
        &handle(
            &fx.sessions,
            &conns,
            connect_event(conn, &session.session_id),
            NOW,
        )
        .await
        .unwrap(),
    );
    assert_eq!(status, 200, "{body}");
    let item = fx.item(&session.session_id).await.unwrap();
    assert_eq!(item["wsConnectionId"].as_s().unwrap(), conn);
    assert_eq!(item["status"].as_s().unwrap(), "AWAITING_SCAN");
    assert!(!fx
        .item(&other.session_id)
        .await
        .unwrap()
        .contains_key("wsConnectionId"));
    assert_eq!(
        index_query(&fx, conn).await,
        vec![session.session_id.clone()]
    );
    assert_eq!(
        fx.sessions.find_by_connection(conn).await.unwrap(),
        vec![session.session_id.clone()]
    );

    // A reconnect replaces the link.
    let (status, _) = ws_reply(
        &handle(
            &fx.sessions,
            &conns,
            connect_event("second", &session.session_id),
            NOW,
        )
        .await
        .unwrap(),
    );
    assert_eq!(status, 200);
    assert!(index_query(&fx, conn).await.is_empty());
    // The old connection's disconnect leaves the new link alone.
    let (status, body) = ws_reply(
        &handle(
            &fx.sessions,
            &conns,
            ws_event("DISCONNECT", conn, Value::Null, None),
            NOW,
        )
        .await
        .unwrap(),
    );
    assert_eq!((status, body["cleared"].as_i64()), (200, Some(0)), "{body}");
    assert_eq!(
        fx.item(&session.session_id).await.unwrap()["wsConnectionId"]
            .as_s()
            .unwrap(),
        "second"
    );

    let (status, body) = ws_reply(
        &handle(
            &fx.sessions,
            &conns,
            ws_event("DISCONNECT", "second", Value::Null, None),
            NOW,
        )
        .await
        .unwrap(),
    );
    assert_eq!((status, body["cleared"].as_i64()), (200, Some(1)), "{body}");
    let item = fx.item(&session.session_id).await.unwrap();
    assert!(!item.contains_key("wsConnectionId"), "{item:?}");
    assert_eq!(item["status"].as_s().unwrap(), "AWAITING_SCAN");
    assert!(index_query(&fx, "second").await.is_empty());
    assert!(api.posts().is_empty(), "{:?}", api.posts());
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_refuses_unknown_expired_and_missing_sessions() {
    let fx = QrFixture::new(Moto::shared()).await;
    let api = ManagementApi::start(&[]);
    let conns = api.connections().await;
    let expired = new_session(&fx, NOW).await;
    let uploaded = new_session(&fx, NOW - 10).await;
    fx.sessions
        .mark_uploaded(&uploaded.session_id, &uploaded.upload_key, NOW - 20)
        .await
        .unwrap()
        .unwrap();
    let unknown = uuid::Uuid::new_v4().to_string();
    let cases = [
        (connect_event("c1", &unknown), 404, None),
        (connect_event("c2", &expired.session_id), 404, None),
        (
            ws_event("CONNECT", "c3", Value::Null, None),
            400,
            Some("sessionId"),
        ),
        (
            ws_event("CONNECT", "c4", json!({"other": "x"}), None),
            400,
            Some("sessionId"),
        ),
        (connect_event("c5", ""), 400, Some("sessionId")),
        (connect_event("c6", "not-a-session"), 400, Some("sessionId")),
    ];
    for (event, want, field) in cases {
        let (status, body) = ws_reply(
            &handle(&fx.sessions, &conns, event.clone(), NOW)
                .await
                .unwrap(),
        );
        assert_eq!(status, want, "{event}: {body}");
        assert_eq!(body["field"].as_str(), field, "{body}");
        assert!(body["error"].is_string(), "{body}");
    }
    assert!(!fx
        .item(&expired.session_id)
        .await
        .unwrap()
        .contains_key("wsConnectionId"));
    for c in ["c1", "c2", "c3", "c4", "c5", "c6"] {
        assert!(index_query(&fx, c).await.is_empty(), "{c}");
    }
    // An uploaded session is past waiting but not expired: the browser may
    // reconnect to it.
    let (status, _) = ws_reply(
        &handle(
            &fx.sessions,
            &conns,
            connect_event("c7", &uploaded.session_id),
            NOW,
        )
        .await
        .unwrap(),
    );
    assert_eq!(status, 200);
    assert_eq!(index_query(&fx, "c7").await, vec![uploaded.session_id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_marks_the_session_and_notifies_the_linked_connection() {
    let fx = QrFixture::new(Moto::shared()).await;
    let api = ManagementApi::start(&["Ab+c/d="]);
    let conns = api.connections().await;
    let session = new_session(&fx, NOW + 600).await;
    let conn = "Ab+c/d=";
    handle(
        &fx.sessions,
        &conns,
        connect_event(conn, &session.session_id),
        NOW,
    )
    .await
    .unwrap();

    // The phone's upload, with a key S3 URL-encodes in its notification.
    let key = format!("session-uploads/{}/my photo (1).jpg", session.session_id);
    fx.s3
        .put_object()
        .bucket(&fx.bucket)
        .key(&key)
        .body(b"jpeg bytes".to_vec().into())
        .send()
        .await
        .unwrap();
    let encoded = format!(
        "session-uploads/{}/my+photo+%281%29.jpg",
        session.session_id
    );
    let event = s3_event_json(&fx.bucket, &[("ObjectCreated:Put", &encoded)]);
    let summary = handle(&fx.sessions, &conns, event, NOW + 30).await.unwrap();
    assert_eq!(
        summary,
        json!({"records": 1, "uploaded": [{"sessionId": session.session_id, "uploadKey": key, "notified": true}], "skipped": []})
    );

    let stored = fx.sessions.get(&session.session_id).await.unwrap().unwrap();
    assert_eq!(stored.status, QrStatus::Uploaded);
    assert_eq!(stored.uploaded_at, Some(NOW + 30));
    assert_eq!(stored.upload_key, key);
    assert_eq!(stored.ws_connection_id.as_deref(), Some(conn));
    let expected = format!(
        r#"{{"type":"uploaded","sessionId":"{}","uploadKey":"{}"}}"#,
        session.session_id, key
    );
    assert_eq!(api.posts(), vec![(conn.to_string(), expected.into_bytes())]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gone_connection_is_unlinked_and_is_not_an_error() {
    let fx = QrFixture::new(Moto::shared()).await;
    let api = ManagementApi::start(&[]);
    let conns = api.connections().await;
    let session = new_session(&fx, NOW + 600).await;
    handle(
        &fx.sessions,
        &conns,
        connect_event("gone-1", &session.session_id),
        NOW,
    )
    .await
    .unwrap();
    assert!(matches!(
        conns.post("gone-1", b"x").await,
        Err(PostError::Gone)
    ));

    let event = s3_event_json(&fx.bucket, &[("ObjectCreated:Put", &session.upload_key)]);
    let summary = handle(&fx.sessions, &conns, event, NOW + 5).await.unwrap();
    assert_eq!(summary["uploaded"][0]["connectionGone"], true, "{summary}");
    assert_eq!(summary["uploaded"][0]["notified"], false, "{summary}");
    let item = fx.item(&session.session_id).await.unwrap();
    assert_eq!(item["status"].as_s().unwrap(), "UPLOADED");
    assert!(!item.contains_key("wsConnectionId"), "{item:?}");
    assert!(index_query(&fx, "gone-1").await.is_empty());
    // Both posts were answered 410: nothing was delivered.
    assert!(api.posts().is_empty(), "{:?}", api.posts());
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_outside_the_prefix_unknown_sessions_and_other_events_are_skipped() {
    let fx = QrFixture::new(Moto::shared()).await;
    let api = ManagementApi::start(&["c"]);
    let conns = api.connections().await;
    let session = new_session(&fx, NOW + 600).await;
    handle(
        &fx.sessions,
        &conns,
        connect_event("c", &session.session_id),
        NOW,
    )
    .await
    .unwrap();
    let unknown = format!("session-uploads/{}/upload", uuid::Uuid::new_v4());
    let removed = session.upload_key.clone();
    let mut event = s3_event_json(
        &fx.bucket,
        &[
            ("ObjectCreated:Put", "uploads/elsewhere.jpg"),
            (
                "ObjectCreated:Put",
                &format!("session-uploads/{}", session.session_id),
            ),
            ("ObjectCreated:Put", &unknown),
            ("ObjectRemoved:Delete", &removed),
            ("ObjectCreated:Put", "session-uploads/%FF/upload"),
        ],
    );
    event["Records"]
        .as_array_mut()
        .unwrap()
        .push(json!({"eventSource": "aws:sqs", "body": "x"}));
    let summary = handle(&fx.sessions, &conns, event, NOW).await.unwrap();
    assert_eq!(summary["records"], 6);
    assert_eq!(summary["uploaded"], json!([]), "{summary}");
    let reasons: Vec<&str> = summary["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "the key is outside session-uploads/<sessionId>/",
            "the key is outside session-uploads/<sessionId>/",
            "no such session",
            "not an ObjectCreated event",
            "the key is not valid URL-encoded UTF-8",
            "not an S3 record"
        ]
    );
    assert_eq!(
        fx.sessions
            .get(&session.session_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        QrStatus::AwaitingScan
    );
    assert!(
        fx.item(&unknown[16..52]).await.is_none(),
        "an unknown session must not be created"
    );
    assert!(api.posts().is_empty(), "{:?}", api.posts());
}

#[tokio::test(flavor = "multi_thread")]
async fn status_messages_are_answered_through_the_connection() {
    let fx = QrFixture::new(Moto::shared()).await;
    let api = ManagementApi::start(&["browser-1"]);
    let conns = api.connections().await;
    let session = new_session(&fx, NOW + 600).await;
    let ask = |body: &str| ws_event("MESSAGE", "browser-1", Value::Null, Some(body)).to_string();

    let msg = format!(
        r#"{{"action": "status", "sessionId": "{}"}}"#,
        session.session_id
    );
    let resp = handle(
        &fx.sessions,
        &conns,
        serde_json::from_str(&ask(&msg)).unwrap(),
        NOW,
    )
    .await
    .unwrap();
    let expected = format!(
        r#"{{"type":"status","sessionId":"{}","status":"AWAITING_SCAN","expiresAt":{},"uploadKey":"{}"}}"#,
        session.session_id,
        NOW + 600,
        session.upload_key
    );
    assert_eq!(resp, json!({"statusCode": 200, "body": expected}));
    assert_eq!(
        api.posts().last().unwrap(),
        &("browser-1".to_string(), expected.clone().into_bytes())
    );

    // Once expired, it says so.
    let resp = handle(
        &fx.sessions,
        &conns,
        serde_json::from_str(&ask(&msg)).unwrap(),
        NOW + 600,
    )
    .await
    .unwrap();
    assert_eq!(ws_reply(&resp).1["status"], "EXPIRED");

    let cases = [
        (
            r#"{"action": "dance"}"#.to_string(),
            400,
            Some("action"),
            "unknown action `dance`",
        ),
        (
            r#"{"sessionId": "x"}"#.to_string(),
            400,
            Some("action"),
            "missing field",
        ),
        (
            r#"{"action": 5}"#.to_string(),
            400,
            Some("action"),
            "invalid type",
        ),
        (
            r#"{"action": "status"}"#.to_string(),
            400,
            Some("sessionId"),
            "required",
        ),
        (
            r#"{"action": "status", "sessionId": 12}"#.to_string(),
            400,
            Some("sessionId"),
            "invalid type",
        ),
        (
            r#"{"action": "status", "sessionId": "nope"}"#.to_string(),
            400,
            Some("sessionId"),
            "not a session id",
        ),
        (
            format!(
                r#"{{"action": "status", "sessionId": "{}"}}"#,
                uuid::Uuid::new_v4()
            ),
            404,
            None,
            "not found",
        ),
        ("{nope".to_string(), 400, None, "JSON"),
        ("[1]".to_string(), 400, None, "JSON"),
        ("   ".to_string(), 400, None, "JSON message"),
    ];
    for (msg, want, field, text) in cases {
        let before = api.posts().len();
        let (status, body) = ws_reply(
            &handle(
                &fx.sessions,
                &conns,
                serde_json::from_str(&ask(&msg)).unwrap(),
                NOW,
            )
            .await
            .unwrap(),
        );
        assert_eq!(status, want, "{msg}: {body}");
        assert_eq!(body["type"], "error", "{msg}: {body}");
        assert_eq!(body["field"].as_str(), field, "{msg}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(text),
            "{msg}: {body}"
        );
        // The same answer went to the connection.
        let posts = api.posts();
        assert_eq!(posts.len(), before + 1, "{msg}");
        assert_eq!(
            serde_json::from_slice::<Value>(&posts[before].1).unwrap(),
            body,
            "{msg}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_events_are_rejected_or_skipped_without_panicking() {
    let fx = QrFixture::new(Moto::shared()).await;
    let api = ManagementApi::start(&["c"]);
    let conns = api.connections().await;
    // Neither kind of event: an error result.
    for event in [
        json!({}),
        json!([]),
        json!(null),
        json!("text"),
        json!({"Records": "x"}),
        json!({"Records": []}),
        json!({"Records": [{"eventSource": "aws:sqs"}]}),
        json!({"requestContext": {"eventType": 5}}),
        json!({"requestContext": "CONNECT"}),
    ] {
        let result = handle(&fx.sessions, &conns, event.clone(), NOW).await;
        assert!(
            matches!(result, Err(EventError::Unrecognised(_))),
            "{event}: {result:?}"
        );
    }
    // S3 records with missing or mistyped fields: logged and skipped.
    for record in [
        json!({"eventSource": "aws:s3"}),
        json!({"eventSource": "aws:s3", "eventName": 5, "s3": {"object": {"key": 7}}}),
        json!({"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"object": {"key": 7}}}),
        json!({"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": "x"}),
        json!("not a record"),
    ] {
        let summary = handle(&fx.sessions, &conns, json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"object": {"key": "x"}}}, record]}), NOW)
            .await
            .unwrap();
        assert_eq!(summary["skipped"].as_array().unwrap().len(), 2, "{summary}");
        assert_eq!(summary["uploaded"], json!([]), "{summary}");
    }
    // WebSocket events that do not fit: 4xx responses.
    let mut no_connection = connect_event("c", &uuid::Uuid::new_v4().to_string());
    no_connection["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("connectionId");
    let mut body_number = ws_event("MESSAGE", "c", Value::Null, None);
    body_number["body"] = json!(5);
    let mut query_number = ws_event("CONNECT", "c", Value::Null, None);
    query_number["queryStringParameters"] = json!({"sessionId": 5});
    for event in [
        json!({"requestContext": {"eventType": "CONNECT"}}),
        json!({"requestContext": {"eventType": "MESSAGE", "connectedAt": "yesterday", "requestTimeEpoch": 0}}),
        no_connection,
        body_number,
        query_number,
        ws_event("BOGUS", "c", Value::Null, None),
    ] {
        let (status, body) = ws_reply(
            &handle(&fx.sessions, &conns, event.clone(), NOW)
                .await
                .unwrap(),
        );
        assert!((400..500).contains(&status), "{event}: {status} {body}");
        assert!(body["error"].is_string(), "{event}: {body}");
    }
    assert_eq!(
        fx.ddb
            .scan()
            .table_name(&fx.table)
            .send()
            .await
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn moto_accepts_post_to_connection() {
    // moto routes the Management API only without a stage in the path and
    // keeps what is posted to itself (its GetConnection answers epoch
    // numbers the Rust SDK cannot parse, and no posted data). This shows
    // the client's signed request is one moto serves as PostToConnection:
    // a wrong method, path or signing name would not be routed to it.
    let moto = Moto::shared();
    let conns = ApiConnections::new(&moto.sdk_config().await, &moto.endpoint);
    let result = conns
        .post("L0SM9cOFvHcCIhw=", br#"{"type":"uploaded"}"#)
        .await;
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn the_built_binary_handles_connect_and_upload_events() {
    let moto = Moto::shared();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fx = rt.block_on(QrFixture::new(moto));
    let api = ManagementApi::start(&["conn-bin", "conn-2"]);
    let now = lambda_shared::now_epoch();
    let session = rt.block_on(new_session(&fx, now + 600));
    let mut env = fx.env(moto);
    // AWS_ENDPOINT_URL points every client at moto; the Management API
    // client must still use WS_API_ENDPOINT.
    env.push(("WS_API_ENDPOINT".into(), format!("{}/", api.endpoint)));
    let events = vec![
        connect_event("conn-bin", &session.session_id),
        s3_event_json(&fx.bucket, &[("ObjectCreated:Put", &session.upload_key)]),
        json!({}),
        connect_event("conn-2", &uuid::Uuid::new_v4().to_string()),
    ];
    let out = invoke_binary(env!("CARGO_BIN_EXE_qr-websocket-event"), events, &env);
    let Outcome::Response(connected) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(connected["statusCode"], 200, "{connected}");
    let Outcome::Response(summary) = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(summary["uploaded"][0]["notified"], true, "{summary}");
    let Outcome::Error(err) = &out[2] else {
        panic!("{out:?}")
    };
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("unrecognised event"),
        "{err}"
    );
    let Outcome::Response(refused) = &out[3] else {
        panic!("{out:?}")
    };
    assert_eq!(refused["statusCode"], 404, "{refused}");

    let stored = rt
        .block_on(fx.sessions.get(&session.session_id))
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.status, stored.ws_connection_id.as_deref()),
        (QrStatus::Uploaded, Some("conn-bin"))
    );
    let expected = format!(
        r#"{{"type":"uploaded","sessionId":"{}","uploadKey":"{}"}}"#,
        session.session_id, session.upload_key
    );
    assert_eq!(
        api.posts(),
        vec![("conn-bin".to_string(), expected.into_bytes())]
    );
}

#[test]
fn the_binary_refuses_to_start_without_its_configuration() {
    let moto = Moto::shared();
    let mut env = moto.env();
    env.push(("SESSIONS_TABLE_NAME".into(), "t".into()));
    let err = start_failure(env!("CARGO_BIN_EXE_qr-websocket-event"), &env);
    assert!(err.contains("WS_API_ENDPOINT"), "{err}");
    env.push(("WS_API_ENDPOINT".into(), "ftp://example.com/prod".into()));
    let err = start_failure(env!("CARGO_BIN_EXE_qr-websocket-event"), &env);
    assert!(
        err.contains("WS_API_ENDPOINT") && err.contains("ftp://"),
        "{err}"
    );
}
