//! The system on loopback: the repository's upload, qr-upload and media
//! stacks deployed to a moto server the test starts (`deploy --env
//! local`), then `stackctl serve` runs their APIs, functions (the shipped
//! zips) and event sources, and real HTTP and WebSocket clients go through
//! the designs' flows:
//!
//! - upload: create → presigned PUT → complete, single and multipart
//!   (3 × 5 MiB); the S3 notification runs process-object, and the session
//!   shows the object's size and type; the cleanup schedule runs.
//! - qr-upload: the browser's WebSocket session, the phone's upload over
//!   HTTP, and the notification pushed to the browser through the
//!   Management API.
//! - media: generate → the provider (a local server speaking Replicate's
//!   API) calls the webhook → the results queue's consumer → status gives
//!   the media's URL.

use crate::common::serve::{free_serve_ports, Served};
use crate::common::{block, edit, function_description, function_env, run, system_copy, text};
use lambda_shared::testing::Moto;
use media_core::testing::FakeReplicate;
use media_core::webhook::WebhookSecret;
use serde_json::{json, Value};
use sha2::Digest;
use std::collections::BTreeMap;
use std::time::Duration;

const TOKEN: &str = "r8_serve_token";
const API_KEY: &str = "key-serve";
const USER: &str = "user-serve";

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// `METHOD url` with a JSON body (or none) and headers: status and JSON body.
fn call(method: &str, url: &str, body: Option<Value>, headers: &[(&str, &str)]) -> (u16, Value) {
    let agent = agent();
    let mut resp = match body {
        Some(b) => {
            let mut req = agent.post(url);
            if method == "PUT" {
                req = agent.put(url);
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.content_type("application/json").send(b.to_string())
        }
        None => {
            let mut req = agent.get(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.call()
        }
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// PUTs `bytes` to a presigned URL; the ETag.
fn put(url: &str, content_type: &str, bytes: &[u8]) -> String {
    let resp = agent()
        .put(url)
        .header("Content-Type", content_type)
        .send(bytes)
        .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
    assert_eq!(resp.status().as_u16(), 200, "PUT {url}");
    resp.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The environment a deployed function has in moto.
fn env_of(moto: &Moto, name: &str) -> BTreeMap<String, String> {
    function_env(&function_description(moto, name))
        .into_iter()
        .collect()
}

/// An item of `table` by its string key, as JSON (strings and numbers).
fn item(moto: &Moto, table: &str, key: &str, value: &str) -> Value {
    block(async {
        let ddb = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
        let out = ddb
            .get_item()
            .table_name(table)
            .key(
                key,
                aws_sdk_dynamodb::types::AttributeValue::S(value.into()),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        let mut json = serde_json::Map::new();
        for (k, v) in out.item.unwrap_or_default() {
            let v = match v {
                aws_sdk_dynamodb::types::AttributeValue::S(s) => json!(s),
                aws_sdk_dynamodb::types::AttributeValue::N(n) => json!(n),
                other => json!(format!("{other:?}")),
            };
            json.insert(k, v);
        }
        Value::Object(json)
    })
}

/// Waits until `f` gives Some, for up to 20 s; else fails with what
/// serve printed.
fn eventually<T>(what: &str, served: &Served, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if std::time::Instant::now() >= deadline {
            let lines: Vec<String> = served.lines().iter().map(Value::to_string).collect();
            panic!(
                "{what}: not within 20 s; serve printed:\n{}\nstderr:\n{}",
                lines.join("\n"),
                served.stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_designs_flows_run_on_loopback_through_serve() {
    let moto = Moto::start();
    let copy = system_copy();
    let project = copy.project.clone();
    let ports: BTreeMap<u16, u16> = free_serve_ports(&project).into_iter().collect();
    let fake = FakeReplicate::start(
        TOKEN,
        WebhookSecret::from_key(b"serve-signing-key".to_vec()),
    )
    .unwrap();
    // Above 1 MiB an upload is multipart; Replicate is the local server.
    edit(
        &project,
        "stackctl.yaml",
        "      upload:\n        enable_notifications: false\n",
        &format!(
            "      upload:\n        enable_notifications: false\n        single_max_bytes: 1048576\n      media:\n        replicate_base_url: {}\n",
            fake.base_url
        ),
    );
    let out = run(
        &project,
        &moto,
        &[
            "deploy",
            "--env",
            "local",
            "--yes",
            "upload",
            "qr-upload",
            "media",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    // The media stack's two external secrets, set by hand on AWS.
    let generate_env = env_of(&moto, "studio-media-generate-media-local");
    let authorizer_env = env_of(&moto, "studio-media-media-authorizer-local");
    assert_eq!(generate_env["REPLICATE_BASE_URL"], fake.base_url);
    block(async {
        let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
        let hash = hex::encode(sha2::Sha256::digest(API_KEY.as_bytes()));
        for (secret, value) in [
            (
                &generate_env["REPLICATE_TOKEN_SECRET_ARN"],
                TOKEN.to_string(),
            ),
            (
                &authorizer_env["API_KEYS_SECRET_ARN"],
                json!({"keys": {hash: {"user_id": USER}}}).to_string(),
            ),
        ] {
            sm.put_secret_value()
                .secret_id(secret)
                .secret_string(value)
                .send()
                .await
                .unwrap();
        }
    });

    let mut served = Served::start(
        &project,
        &moto,
        &["upload", "qr-upload", "media", "--schedules", "now"],
    );
    // Each API is served on its port, and it is the API's URL in `local`.
    let upload = format!("http://127.0.0.1:{}/local", ports[&4001]);
    let qr = format!("http://127.0.0.1:{}/local", ports[&4011]);
    let socket = format!("ws://127.0.0.1:{}/local", ports[&4012]);
    let media = format!("http://127.0.0.1:{}/local", ports[&4021]);
    assert_eq!(
        generate_env["WEBHOOK_URL"],
        format!("{media}/webhook/replicate")
    );

    // The cleanup schedule ran once at start, against the real table.
    served.wait_for("cleanup's run", Duration::from_secs(30), |l| {
        l["event"] == "invocation" && l["function"] == "upload/cleanup" && l["outcome"] == "ok"
    });

    // upload, single PUT.
    let table = env_of(&moto, "studio-upload-process-object-local")["TABLE_NAME"].clone();
    let (status, created) = call(
        "POST",
        &format!("{upload}/video/upload/create"),
        Some(json!({"fileSizeBytes": 4096, "contentType": "video/mp4"})),
        &[],
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["mode"], "single");
    let session = created["sessionId"].as_str().unwrap().to_string();
    put(created["url"].as_str().unwrap(), "video/mp4", &[7u8; 4096]);
    let (status, done) = call(
        "POST",
        &format!("{upload}/video/upload/complete"),
        Some(json!({"sessionId": session})),
        &[],
    );
    assert_eq!(status, 200, "{done}");
    let stored = eventually("process-object on the single upload", &served, || {
        let i = item(&moto, &table, "uploadSessionId", &session);
        (i["objectSizeBytes"] == "4096").then_some(i)
    });
    assert_eq!(stored["objectContentType"], "video/mp4", "{stored}");

    // upload, multipart: 3 × 5 MiB.
    let size: u64 = 3 * 5 * 1024 * 1024;
    let (status, created) = call(
        "POST",
        &format!("{upload}/video/upload/create"),
        Some(json!({"fileSizeBytes": size, "contentType": "video/webm"})),
        &[],
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["mode"], "multipart", "{created}");
    let parts = created["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3, "{created}");
    let session = created["sessionId"].as_str().unwrap().to_string();
    let etags: Vec<Value> = parts
        .iter()
        .map(|p| {
            let n = p["partNumber"].as_u64().unwrap();
            let etag = put(
                p["url"].as_str().unwrap(),
                "video/webm",
                &vec![n as u8; 5 * 1024 * 1024],
            );
            json!({"partNumber": n, "eTag": etag})
        })
        .collect();
    let (status, done) = call(
        "POST",
        &format!("{upload}/video/upload/complete"),
        Some(json!({"sessionId": session, "parts": etags})),
        &[],
    );
    assert_eq!(status, 200, "{done}");
    let stored = eventually("process-object on the multipart upload", &served, || {
        let i = item(&moto, &table, "uploadSessionId", &session);
        (i["objectSizeBytes"]
            .as_str()
            .and_then(|n| n.parse::<u64>().ok())
            == Some(size))
        .then_some(i)
    });
    assert_eq!(stored["objectContentType"], "video/webm", "{stored}");

    // qr-upload: the browser waits on its WebSocket, the phone uploads.
    let (status, qr_session) = call(
        "POST",
        &format!("{qr}/sessions"),
        Some(json!({"contentType": "image/png"})),
        &[],
    );
    assert_eq!(status, 201, "{qr_session}");
    let id = qr_session["sessionId"].as_str().unwrap();
    let (mut browser, _) =
        tungstenite::connect(format!("{socket}?sessionId={id}")).expect("the browser connects");
    let content_type = qr_session["contentType"].as_str().unwrap_or("image/png");
    put(
        qr_session["uploadUrl"].as_str().unwrap(),
        content_type,
        b"\x89PNG\r\n\x1a\n phone photo",
    );
    let pushed = loop {
        match browser.read().expect("a frame for the browser") {
            tungstenite::Message::Text(t) => break t.to_string(),
            _ => continue,
        }
    };
    let pushed: Value = serde_json::from_str(&pushed).unwrap();
    assert_eq!(pushed["type"], "uploaded", "{pushed}");
    let (status, state) = call("GET", &format!("{qr}/sessions/{id}"), None, &[]);
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["status"], "UPLOADED", "{state}");
    browser.close(None).ok();

    // media: the authorizer knows the key; the provider calls back.
    let auth = format!("Bearer {API_KEY}");
    let (status, _) = call(
        "POST",
        &format!("{media}/generate-media"),
        Some(json!({"model": "flux-schnell", "input": {"prompt": "x"}})),
        &[("Authorization", "Bearer wrong")],
    );
    assert_eq!(status, 403);
    let (status, job) = call(
        "POST",
        &format!("{media}/generate-media"),
        Some(json!({"model": "flux-schnell", "input": {"prompt": "a lighthouse at dusk"}})),
        &[("Authorization", &auth)],
    );
    assert_eq!(status, 202, "{job}");
    let job_id = job["jobId"].as_str().unwrap().to_string();
    let prediction = fake.predictions()[0].id.clone();
    let png = b"\x89PNG\r\n\x1a\n served image".to_vec();
    let delivery = fake.complete(&prediction, &[("png", png.clone())]).unwrap();
    assert_eq!(delivery.status, Some(202), "{delivery:?}");
    let status_url = format!("{media}/status/{job_id}");
    let body = eventually("the queue consumer's result", &served, || {
        let (status, body) = call("GET", &status_url, None, &[("Authorization", &auth)]);
        (status == 200 && body["status"] == "succeeded").then_some(body)
    });
    let url = body["outputs"][0]["url"].as_str().unwrap();
    let downloaded = agent()
        .get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    assert_eq!(downloaded, png);
    served.wait_for("the queue delivery", Duration::from_secs(5), |l| {
        l["event"] == "delivery" && l["function"] == "process_result" && l["outcome"] == "ok"
    });
}
