//! The media pipeline end to end, after `stackctl deploy --env local`: the
//! shipped function binaries (the `bootstrap` of each zip the deploy
//! published) run through the Lambda Runtime API harness with the
//! environment the stack gave them in moto, against the PostgreSQL and
//! Redis the deploy started and a fake Replicate that speaks the
//! prediction API.
//!
//! authorizer → generate-media → the provider finishes and signs its
//! webhook → replicate-webhook → the results queue → process-result →
//! get-status returns a URL that downloads the stored media; PostgreSQL,
//! DynamoDB, Redis and S3 hold what the design says.

mod common;

use common::{
    answer, block, function_description, function_env, http_answer, shipped_bootstrap, stackctl,
    system_copy,
};
use lambda_shared::testing::Moto;
use media_core::testing::FakeReplicate;
use media_core::webhook::WebhookSecret;
use serde_json::{json, Value};
use sha2::Digest;
use std::io::{Read, Write};
use std::path::PathBuf;

const TOKEN: &str = "r8_e2e_token";
const API_KEY: &str = "key-e2e";
const USER: &str = "user-e2e";

/// A function's environment as the stack gave it in moto, plus what points
/// a process at moto and at the fake provider.
fn env_of(moto: &Moto, function: &str, replicate: &str) -> Vec<(String, String)> {
    let description = function_description(moto, &format!("studio-media-{function}-local"));
    let mut env = function_env(&description);
    env.extend(moto.env());
    env.push(("REPLICATE_BASE_URL".into(), replicate.into()));
    env
}

fn var<'e>(env: &'e [(String, String)], name: &str) -> &'e str {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{name} is not set"))
}

fn http_event(route: &str, path: &str, headers: Value, body: &str, user: Option<&str>) -> Value {
    let (method, _) = route.split_once(' ').unwrap();
    let mut context = json!({
        "accountId": "123456789012",
        "apiId": "api",
        "domainName": "api.example.com",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "e2e"},
        "requestId": "req-e2e",
        "routeKey": route,
        "stage": "local",
        "time": "01/Dec/2026:00:00:00 +0000",
        "timeEpoch": 0
    });
    if let Some(user) = user {
        context["authorizer"] = json!({"lambda": {"userId": user}});
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": false
    });
    if let Some(id) = path.strip_prefix("/status/") {
        event["pathParameters"] = json!({"jobId": id});
    }
    event
}

/// `GET key` on Redis at 127.0.0.1:`port`, in RESP.
fn redis_get(port: u16, key: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).unwrap();
    let mut reader = std::io::BufReader::new(s);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
    let len: i64 = line.trim_end().strip_prefix('$')?.parse().ok()?;
    if len < 0 {
        return None;
    }
    let mut value = vec![0u8; usize::try_from(len).unwrap() + 2];
    reader.read_exact(&mut value).unwrap();
    value.truncate(value.len() - 2);
    Some(String::from_utf8(value).unwrap())
}

#[test]
fn a_generation_flows_from_request_to_stored_media_through_the_shipped_functions() {
    let moto = Moto::start();
    let copy = system_copy();
    let project = copy.project.clone();
    let out = stackctl()
        .env_remove("CARGO_TARGET_DIR")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .current_dir(&project)
        .args(["--endpoint-url", &moto.endpoint])
        .args(["deploy", "--env", "local", "--yes", "--output", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let redis_port = copy.redis_port;

    let bins: PathBuf = copy.scratch();
    let bin = |krate: &str| shipped_bootstrap(&project, krate, &bins);

    let fake =
        FakeReplicate::start(TOKEN, WebhookSecret::from_key(b"e2e-signing-key".to_vec())).unwrap();
    let generate_env = env_of(&moto, "generate-media", &fake.base_url);
    let webhook_env = env_of(&moto, "replicate-webhook", &fake.base_url);
    let process_env = env_of(&moto, "process-result", &fake.base_url);
    let status_env = env_of(&moto, "get-status", &fake.base_url);
    let authorizer_env = env_of(&moto, "media-authorizer", &fake.base_url);

    // The two external secrets, set by hand after the first deploy on AWS.
    block(async {
        let sm = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
        let hash = hex::encode(sha2::Sha256::digest(API_KEY.as_bytes()));
        for (secret, value) in [
            (
                var(&generate_env, "REPLICATE_TOKEN_SECRET_ARN"),
                TOKEN.to_string(),
            ),
            (
                var(&authorizer_env, "API_KEYS_SECRET_ARN"),
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

    // The authorizer knows the caller by the API key.
    let decision = answer(
        &bin("media-authorizer"),
        json!({
            "version": "2.0",
            "type": "REQUEST",
            "routeKey": "POST /generate-media",
            "headers": {"authorization": format!("Bearer {API_KEY}")},
            "requestContext": {"http": {"method": "POST", "path": "/generate-media"}},
        }),
        &authorizer_env,
    );
    assert_eq!(decision["isAuthorized"], true, "{decision}");
    let user = decision["context"]["userId"].as_str().unwrap().to_string();
    assert_eq!(user, USER);

    // generate-media: 202 with the job id; the prediction was created with
    // the deployed API's webhook route.
    let request = json!({"model": "flux-schnell", "input": {"prompt": "a lighthouse at dusk"}});
    let (status, body) = http_answer(
        &bin("generate-media"),
        http_event(
            "POST /generate-media",
            "/generate-media",
            json!({"content-type": "application/json"}),
            &request.to_string(),
            Some(&user),
        ),
        &generate_env,
    );
    assert_eq!(status, 202, "{body}");
    let job_id = body["jobId"].as_str().unwrap().to_string();
    let predictions = fake.predictions();
    assert_eq!(predictions.len(), 1, "{predictions:?}");
    let prediction = predictions[0].id.clone();
    assert_eq!(
        fake.webhook_of(&prediction).unwrap(),
        var(&generate_env, "WEBHOOK_URL")
    );
    assert!(var(&generate_env, "WEBHOOK_URL").ends_with("/local/webhook/replicate"));

    // The provider finishes and signs its webhook; the handler queues it.
    let png = b"\x89PNG\r\n\x1a\n e2e image bytes".to_vec();
    let delivery = fake.complete(&prediction, &[("png", png.clone())]).unwrap();
    let headers = json!({
        "content-type": "application/json",
        "webhook-id": delivery.webhook_id,
        "webhook-timestamp": delivery.timestamp.to_string(),
        "webhook-signature": delivery.signature.clone().unwrap(),
    });
    let webhook = |headers: &Value| {
        http_answer(
            &bin("replicate-webhook"),
            http_event(
                "POST /webhook/replicate",
                "/webhook/replicate",
                headers.clone(),
                &delivery.body,
                None,
            ),
            &webhook_env,
        )
    };
    let (status, body) = webhook(&headers);
    assert_eq!(status, 202, "{body}");
    // A forged copy is refused.
    let mut forged = headers.clone();
    forged["webhook-signature"] = json!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    assert_eq!(webhook(&forged).0, 401);

    // The results queue holds exactly the one message; process-result
    // stores it.
    let queue_url = var(&webhook_env, "QUEUE_URL").to_string();
    let messages = block(async {
        let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
        sqs.receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default()
    });
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    let records = json!({"Records": [{
        "messageId": m.message_id(),
        "receiptHandle": m.receipt_handle(),
        "body": m.body(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "e2e", "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {},
        "md5OfBody": m.md5_of_body(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:results",
        "awsRegion": "us-east-1",
    }]});
    let processed = answer(&bin("process-result"), records, &process_env);
    assert_eq!(processed["batchItemFailures"], json!([]), "{processed}");

    // get-status: succeeded, with a URL that downloads the stored image.
    let (status, body) = http_answer(
        &bin("get-status"),
        http_event(
            "GET /status/{jobId}",
            &format!("/status/{job_id}"),
            json!({}),
            "",
            Some(&user),
        ),
        &status_env,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    let outputs = body["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1, "{body}");
    let key = outputs[0]["key"].as_str().unwrap().to_string();
    let day = {
        let d = lambda_shared::date(lambda_shared::now_epoch());
        d.replace('-', "/")
    };
    assert_eq!(key, format!("images/{USER}/{day}/{job_id}/original.png"));
    let url = outputs[0]["url"].as_str().unwrap();
    let downloaded = ureq::get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    assert_eq!(downloaded, png);

    // What each store holds.
    let bucket = var(&process_env, "MEDIA_BUCKET").to_string();
    let db_secret = var(&process_env, "DB_SECRET_ARN").to_string();
    let table = var(&process_env, "REALTIME_TABLE").to_string();
    block(async {
        let sdk = moto.sdk_config().await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        let prefix = key.rsplit_once('/').unwrap().0;
        let metadata = s3
            .get_object()
            .bucket(&bucket)
            .key(format!("{prefix}/metadata.json"))
            .send()
            .await
            .unwrap();
        let metadata: Value =
            serde_json::from_slice(&metadata.body.collect().await.unwrap().into_bytes()).unwrap();
        assert_eq!(metadata["jobId"], job_id.as_str(), "{metadata}");
        let image = s3
            .head_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(image.content_type(), Some("image/png"));

        // PostgreSQL: the job succeeded, its output recorded with its hash.
        let sm = aws_sdk_secretsmanager::Client::new(&sdk);
        let creds: Value = serde_json::from_str(
            sm.get_secret_value()
                .secret_id(&db_secret)
                .send()
                .await
                .unwrap()
                .secret_string()
                .unwrap(),
        )
        .unwrap();
        let (pg, conn) = tokio_postgres::Config::new()
            .host(creds["host"].as_str().unwrap())
            .port(creds["port"].as_u64().unwrap() as u16)
            .user(creds["username"].as_str().unwrap())
            .password(creds["password"].as_str().unwrap())
            .dbname(creds["dbname"].as_str().unwrap())
            .connect(tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let row = pg
            .query_one(
                "SELECT status, prediction_id, user_id, completed_at IS NOT NULL FROM jobs WHERE job_id::text = $1",
                &[&job_id],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "succeeded");
        assert_eq!(row.get::<_, String>(1), prediction);
        assert_eq!(row.get::<_, String>(2), USER);
        assert!(row.get::<_, bool>(3));
        let outputs = pg
            .query(
                "SELECT s3_key, content_type, size_bytes, sha256 FROM media_outputs WHERE job_id::text = $1",
                &[&job_id],
            )
            .await
            .unwrap();
        assert_eq!(outputs.len(), 1);
        assert_eq!(outputs[0].get::<_, String>(0), key);
        assert_eq!(outputs[0].get::<_, i64>(2), png.len() as i64);
        assert_eq!(
            outputs[0].get::<_, String>(3),
            hex::encode(sha2::Sha256::digest(&png))
        );

        // DynamoDB: the realtime item, found by the prediction's index.
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        let items = ddb
            .query()
            .table_name(&table)
            .index_name("byPrediction")
            .key_condition_expression("predictionId = :p")
            .expression_attribute_values(
                ":p",
                aws_sdk_dynamodb::types::AttributeValue::S(prediction.clone()),
            )
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default();
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0]["status"],
            aws_sdk_dynamodb::types::AttributeValue::S("succeeded".into())
        );
    });

    // Redis: the status cache says succeeded.
    let cached = redis_get(redis_port, &format!("job:status:{job_id}")).expect("status cached");
    let cached: Value = serde_json::from_str(&cached).unwrap();
    assert_eq!(cached["status"], "succeeded");
}
