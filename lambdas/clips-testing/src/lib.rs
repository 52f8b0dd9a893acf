//! Test harness of the clips functions (a dev-dependency only), usable from
//! the functions' tests and from the root package's `tests/`:
//!
//! - [`Servers::shared`]: one moto server and one of each fake per test
//!   process, with the process environment pointing the AWS SDK at them
//!   through the standard variables (`AWS_ENDPOINT_URL` → moto,
//!   `AWS_ENDPOINT_URL_MEDIACONVERT`, `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`,
//!   `AWS_ENDPOINT_URL_BEDROCK_AGENTCORE` → the fakes), so the functions'
//!   own client set-up is what the tests run; [`Servers::env`] gives the
//!   same variables for a function run as a process;
//! - [`FakeMediaConvert`]: `POST /2017-08-29/jobs` (CreateJob) and
//!   `GET /2017-08-29/jobs/{id}` (GetJob), recording the jobs, and the
//!   "MediaConvert Job State Change" events their completion or failure
//!   would send;
//! - [`FakeAgentCore`]: the Bedrock AgentCore data plane's CreateEvent
//!   (`POST /memories/{memoryId}/events`) and ListEvents
//!   (`POST /memories/{memoryId}/actor/{actorId}/sessions/{sessionId}`),
//!   events kept in memory;
//! - [`FakeBedrock`]: the Bedrock runtime (shared with the world services:
//!   `lambda_shared::fakes`);
//! - [`Fixture`]: a fresh clips table (keys, `GSI1`, TTL as
//!   stacks/clips.yaml declares them), bucket and cursor secret in moto;
//! - [`Capture`]: an EventBridge rule on the default bus with an SQS
//!   target, to read back the events a function put.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use lambda_shared::fakes::{aws_error, json_answer, serve, Log};
pub use lambda_shared::fakes::{FakeBedrock, Received};
use lambda_shared::testing::{unique, Moto};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The memory id [`Servers::shared`]'s [`FakeAgentCore`] serves.
pub const MEMORY_ID: &str = "clipAgentMemory-TEST12345";

/// moto and the fakes, one each per test process.
pub struct Servers {
    /// moto.
    pub moto: &'static Moto,
    /// MediaConvert.
    pub mediaconvert: FakeMediaConvert,
    /// The Bedrock runtime.
    pub bedrock: FakeBedrock,
    /// The AgentCore data plane, serving [`MEMORY_ID`].
    pub agentcore: FakeAgentCore,
}

impl Servers {
    /// Starts them on first use and points this process's AWS SDK
    /// configuration at them (the variables are set once, before any test
    /// of the process can read them, as every test starts here).
    pub fn shared() -> &'static Servers {
        static SHARED: OnceLock<Servers> = OnceLock::new();
        SHARED.get_or_init(|| {
            let servers = Servers {
                moto: Moto::shared(),
                mediaconvert: FakeMediaConvert::start(),
                bedrock: FakeBedrock::start(),
                agentcore: FakeAgentCore::start(MEMORY_ID),
            };
            for (k, v) in servers.env() {
                std::env::set_var(k, v);
            }
            servers
        })
    }

    /// The variables that point a function at these servers.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = self.moto.env();
        env.extend([
            (
                "AWS_ENDPOINT_URL_MEDIACONVERT".to_string(),
                self.mediaconvert.endpoint.clone(),
            ),
            (
                "AWS_ENDPOINT_URL_BEDROCK_RUNTIME".to_string(),
                self.bedrock.endpoint.clone(),
            ),
            (
                "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE".to_string(),
                self.agentcore.endpoint.clone(),
            ),
        ]);
        env
    }

    /// The SDK configuration a function loads (from this environment).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await
    }
}

/// A local MediaConvert API (REST JSON, the `2017-08-29` paths):
///
/// - `POST /2017-08-29/jobs`: needs `role` (an IAM role ARN) and
///   `settings` (else 400 BadRequestException); answers 201 `{"job": {"id", "arn", "status":
///   "SUBMITTED", "role", "settings", "userMetadata", "createdAt", ...}}`.
///   A `clientRequestToken` seen before answers the job it created (the
///   real API's idempotency);
/// - `GET /2017-08-29/jobs/{id}`: 200 `{"job": ...}` or 404
///   NotFoundException.
pub struct FakeMediaConvert {
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_MEDIACONVERT`.
    pub endpoint: String,
    log: Log,
    jobs: Arc<Mutex<Vec<Value>>>,
}

impl FakeMediaConvert {
    /// Starts it on a free port.
    pub fn start() -> FakeMediaConvert {
        let jobs: Arc<Mutex<Vec<Value>>> = Arc::default();
        let store = jobs.clone();
        let (addr, log) = serve(move |req| {
            let mut jobs = store.lock().expect("lock");
            if req.method == "POST" && req.path == "/2017-08-29/jobs" {
                let body = req.json();
                let (Some(role), Some(settings)) = (
                    body.get("role").and_then(Value::as_str),
                    body.get("settings").filter(|s| s.is_object()),
                ) else {
                    return aws_error(400, "BadRequestException", "role and settings are required");
                };
                if !role.starts_with("arn:aws:iam::") || !role.contains(":role/") {
                    return aws_error(400, "BadRequestException", "role must be an IAM role ARN");
                }
                if let Some(token) = body.get("clientRequestToken").and_then(Value::as_str) {
                    if let Some(job) = jobs.iter().find(|j| j["clientRequestToken"] == token) {
                        return json_answer(201, vec![], json!({"job": job}));
                    }
                }
                let n = jobs.len();
                let id = format!("1764600000{n:03}-fake{n:02}");
                let job = json!({
                    "id": id,
                    "arn": format!("arn:aws:mediaconvert:us-east-1:123456789012:jobs/{id}"),
                    "status": "SUBMITTED",
                    "role": role,
                    "settings": settings,
                    "userMetadata": body.get("userMetadata").cloned().unwrap_or(json!({})),
                    "clientRequestToken": body.get("clientRequestToken").cloned().unwrap_or(Value::Null),
                    "queue": body.get("queue").cloned().unwrap_or(json!("arn:aws:mediaconvert:us-east-1:123456789012:queues/Default")),
                    "createdAt": 1_764_600_000,
                    "timing": {"submitTime": 1_764_600_000},
                    "priority": 0,
                    "statusUpdateInterval": "SECONDS_60",
                });
                jobs.push(job.clone());
                json_answer(201, vec![], json!({"job": job}))
            } else if req.method == "GET" && req.path.starts_with("/2017-08-29/jobs/") {
                let id = &req.path["/2017-08-29/jobs/".len()..];
                match jobs.iter().find(|j| j["id"] == id) {
                    Some(job) => json_answer(200, vec![], json!({"job": job})),
                    None => aws_error(404, "NotFoundException", "The specified job was not found"),
                }
            } else {
                aws_error(404, "NotFoundException", "no such operation")
            }
        });
        FakeMediaConvert {
            endpoint: format!("http://{addr}"),
            log,
            jobs,
        }
    }

    /// The jobs created so far (as GetJob shows them).
    pub fn jobs(&self) -> Vec<Value> {
        self.jobs.lock().expect("lock").clone()
    }

    /// The job whose `userMetadata.episode_id` is `episode_id`.
    pub fn jobs_of(&self, episode_id: &str) -> Vec<Value> {
        self.jobs()
            .into_iter()
            .filter(|j| j["userMetadata"]["episode_id"] == episode_id)
            .collect()
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Received> {
        self.log.lock().expect("lock").clone()
    }

    /// The "MediaConvert Job State Change" event MediaConvert sends when
    /// `job` (as [`FakeMediaConvert::jobs`] shows it) completes with a
    /// video `duration_ms` long: for each HLS output group, the output's
    /// media playlist (destination + input base name + name modifier +
    /// `.m3u8`) and the duration.
    pub fn complete_event(job: &Value, duration_ms: i64) -> Value {
        let input = job["settings"]["inputs"][0]["fileInput"]
            .as_str()
            .unwrap_or_default();
        let base = input.rsplit('/').next().unwrap_or_default();
        let base = base.split('.').next().unwrap_or_default();
        let groups: Vec<Value> = job["settings"]["outputGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                let dest = g["outputGroupSettings"]["hlsGroupSettings"]["destination"]
                    .as_str()
                    .unwrap_or_default();
                let outputs: Vec<Value> = g["outputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| {
                        let modifier = o["nameModifier"].as_str().unwrap_or_default();
                        json!({
                            "outputFilePaths": [format!("{dest}{base}{modifier}.m3u8")],
                            "durationInMs": duration_ms,
                            "videoDetails": {"widthInPx": 1280, "heightInPx": 720}
                        })
                    })
                    .collect();
                json!({
                    "outputDetails": outputs,
                    "playlistFilePaths": [format!("{dest}{base}.m3u8")],
                    "type": "HLS_GROUP"
                })
            })
            .collect();
        Self::event(
            job,
            json!({"status": "COMPLETE", "outputGroupDetails": groups}),
        )
    }

    /// The event MediaConvert sends when `job` fails.
    pub fn error_event(job: &Value, code: i64, message: &str) -> Value {
        Self::event(
            job,
            json!({"status": "ERROR", "errorCode": code, "errorMessage": message}),
        )
    }

    fn event(job: &Value, extra: Value) -> Value {
        let mut detail = json!({
            "timestamp": 1_764_600_100_000_i64,
            "accountId": "123456789012",
            "queue": job["queue"],
            "jobId": job["id"],
            "userMetadata": job["userMetadata"],
        });
        if let (Some(d), Some(e)) = (detail.as_object_mut(), extra.as_object()) {
            d.extend(e.clone());
        }
        json!({
            "version": "0",
            "id": format!("event-{}", job["id"].as_str().unwrap_or_default()),
            "detail-type": "MediaConvert Job State Change",
            "source": "aws.mediaconvert",
            "account": "123456789012",
            "time": "2026-12-01T12:00:00Z",
            "region": "us-east-1",
            "resources": [job["arn"]],
            "detail": detail
        })
    }
}

/// A local Bedrock AgentCore data plane for one memory:
///
/// - `POST /memories/{memoryId}/events` (CreateEvent): needs `actorId`,
///   `sessionId`, `eventTimestamp` and a non-empty `payload` (else 400
///   ValidationException); stores the event and answers 201
///   `{"event": {"memoryId", "actorId", "sessionId", "eventId",
///   "eventTimestamp", "payload"}}`;
/// - `POST /memories/{memoryId}/actor/{actorId}/sessions/{sessionId}`
///   (ListEvents): the session's events, oldest first, `maxResults` per
///   page with `nextToken`; payloads only with `includePayloads` (default
///   true, as the API documents);
/// - another memory id: 404 ResourceNotFoundException.
pub struct FakeAgentCore {
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`.
    pub endpoint: String,
    /// The memory it serves.
    pub memory_id: String,
    log: Log,
    events: Arc<Mutex<Vec<Value>>>,
}

impl FakeAgentCore {
    /// Starts it on a free port, serving `memory_id`.
    pub fn start(memory_id: &str) -> FakeAgentCore {
        let events: Arc<Mutex<Vec<Value>>> = Arc::default();
        let store = events.clone();
        let memory = memory_id.to_string();
        let (addr, log) = serve(move |req| {
            let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
            if req.method != "POST" || parts.first() != Some(&"memories") || parts.len() < 3 {
                return aws_error(404, "UnknownOperationException", "no such operation");
            }
            if parts[1] != memory {
                return aws_error(404, "ResourceNotFoundException", "Memory not found");
            }
            let body = req.json();
            let mut events = store.lock().expect("lock");
            match parts.as_slice() {
                [_, _, "events"] => {
                    let (Some(actor), Some(session), Some(ts), Some(payload)) = (
                        body.get("actorId").and_then(Value::as_str),
                        body.get("sessionId").and_then(Value::as_str),
                        body.get("eventTimestamp").filter(|t| t.is_number()),
                        body.get("payload")
                            .and_then(Value::as_array)
                            .filter(|p| !p.is_empty()),
                    ) else {
                        return aws_error(
                            400,
                            "ValidationException",
                            "actorId, sessionId, eventTimestamp and payload are required",
                        );
                    };
                    let event = json!({
                        "memoryId": memory,
                        "actorId": actor,
                        "sessionId": session,
                        "eventId": format!("0000001764600000000#{:08x}", events.len() + 1),
                        "eventTimestamp": ts,
                        "payload": payload,
                    });
                    events.push(event.clone());
                    json_answer(201, vec![], json!({"event": event}))
                }
                [_, _, "actor", actor, "sessions", session] => {
                    let max = body
                        .get("maxResults")
                        .and_then(Value::as_u64)
                        .unwrap_or(20)
                        .clamp(1, 100) as usize;
                    let from: usize = body
                        .get("nextToken")
                        .and_then(Value::as_str)
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0);
                    let payloads = body
                        .get("includePayloads")
                        .and_then(Value::as_bool)
                        .unwrap_or(true);
                    let all: Vec<Value> = events
                        .iter()
                        .filter(|e| e["actorId"] == *actor && e["sessionId"] == *session)
                        .cloned()
                        .map(|mut e| {
                            if !payloads {
                                e.as_object_mut().map(|o| o.remove("payload"));
                            }
                            e
                        })
                        .collect();
                    let page: Vec<Value> = all.iter().skip(from).take(max).cloned().collect();
                    let mut answer = json!({"events": page});
                    if from + max < all.len() {
                        answer["nextToken"] = json!((from + max).to_string());
                    }
                    json_answer(200, vec![], answer)
                }
                _ => aws_error(404, "UnknownOperationException", "no such operation"),
            }
        });
        FakeAgentCore {
            endpoint: format!("http://{addr}"),
            memory_id: memory_id.to_string(),
            log,
            events,
        }
    }

    /// Adds an event as if CreateEvent had stored it (earlier context).
    pub fn seed(&self, actor_id: &str, session_id: &str, payload: Value) {
        let mut events = self.events.lock().expect("lock");
        let n = events.len() + 1;
        events.push(json!({
            "memoryId": self.memory_id,
            "actorId": actor_id,
            "sessionId": session_id,
            "eventId": format!("0000001764500000000#{n:08x}"),
            "eventTimestamp": 1_764_500_000,
            "payload": payload,
        }));
    }

    /// The events of one session, oldest first.
    pub fn events(&self, actor_id: &str, session_id: &str) -> Vec<Value> {
        self.events
            .lock()
            .expect("lock")
            .iter()
            .filter(|e| e["actorId"] == actor_id && e["sessionId"] == session_id)
            .cloned()
            .collect()
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Received> {
        self.log.lock().expect("lock").clone()
    }
}

/// A fresh clips table, bucket and cursor secret in moto.
pub struct Fixture {
    /// moto's configuration (from the process environment).
    pub sdk: aws_config::SdkConfig,
    /// DynamoDB.
    pub ddb: aws_sdk_dynamodb::Client,
    /// S3 (path-style).
    pub s3: aws_sdk_s3::Client,
    /// The table.
    pub table: String,
    /// The bucket.
    pub bucket: String,
    /// The cursor key secret's ARN.
    pub cursor_secret_arn: String,
}

impl Fixture {
    /// Creates them, with fresh names.
    pub async fn new() -> Fixture {
        let servers = Servers::shared();
        let sdk = servers.sdk_config().await;
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        let s3 = lambda_shared::config::s3_client(&sdk);
        let table = unique("clips");
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute")
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .expect("key")
        };
        ddb.create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(["pk", "sk", "GSI1PK", "GSI1SK"].map(attr).to_vec()))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name("GSI1")
                    .key_schema(key("GSI1PK", KeyType::Hash))
                    .key_schema(key("GSI1SK", KeyType::Range))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .expect("index"),
            )
            .send()
            .await
            .expect("create table");
        ddb.update_time_to_live()
            .table_name(&table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("ttl")
                    .enabled(true)
                    .build()
                    .expect("ttl"),
            )
            .send()
            .await
            .expect("ttl");
        let bucket = unique("transcripts");
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create bucket");
        let sm = aws_sdk_secretsmanager::Client::new(&sdk);
        let cursor_secret_arn = sm
            .create_secret()
            .name(unique("cursor-key"))
            .secret_string("k".repeat(20) + &"e".repeat(22) + &"y".repeat(22))
            .send()
            .await
            .expect("create secret")
            .arn
            .expect("arn");
        Fixture {
            sdk,
            ddb,
            s3,
            table,
            bucket,
            cursor_secret_arn,
        }
    }

    /// The table's item `pk`/`sk`, as JSON-ish strings of its attributes.
    pub async fn item(&self, pk: &str, sk: &str) -> Option<HashMap<String, String>> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .send()
            .await
            .expect("get item");
        out.item.map(|item| {
            item.into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        AttributeValue::S(s) => s,
                        AttributeValue::N(n) => n,
                        AttributeValue::Null(_) => "null".into(),
                        other => format!("{other:?}"),
                    };
                    (k, text)
                })
                .collect()
        })
    }

    /// Every item of episode `id`'s partition, by sort key.
    pub async fn partition(&self, id: &str) -> Vec<String> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let out = self
            .ddb
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(format!("EPISODE#{id}")))
            .send()
            .await
            .expect("query");
        out.items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|i| i.get("sk").and_then(|s| s.as_s().ok()).cloned())
            .collect()
    }

    /// Puts an object.
    pub async fn put_object(&self, key: &str, body: &[u8]) {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body.to_vec().into())
            .send()
            .await
            .expect("put object");
    }
}

/// The S3 "Object Created" event EventBridge delivers for `key` in
/// `bucket` (the documented shape).
pub fn object_created_event(bucket: &str, key: &str, size: i64, etag: &str) -> Value {
    json!({
        "version": "0",
        "id": format!("s3-{key}"),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-12-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "etag": etag, "sequencer": "0062E99A88DC407460"},
            "request-id": "57H08PA84AB1JZW0",
            "requester": "123456789012",
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject"
        }
    })
}

/// An EventBridge rule on the default bus matching `source`, delivering to
/// a fresh SQS queue: what a function put arrives there.
pub struct Capture {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Capture {
    /// Creates the queue, the rule and its target.
    pub async fn new(sdk: &aws_config::SdkConfig, source: &str) -> Capture {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let events = aws_sdk_eventbridge::Client::new(sdk);
        let name = unique("capture");
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("queue arn");
        events
            .put_rule()
            .name(&name)
            .event_pattern(json!({"source": [source]}).to_string())
            .send()
            .await
            .expect("put rule");
        events
            .put_targets()
            .rule(&name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("put targets");
        Capture { sqs, queue_url }
    }

    /// The events delivered so far (waiting up to a few seconds for the
    /// first), as JSON.
    pub async fn events(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for _ in 0..5 {
            let page = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive");
            let got = page.messages.unwrap_or_default();
            let done = got.is_empty() && !out.is_empty();
            for m in got {
                out.push(serde_json::from_str(m.body().unwrap_or_default()).unwrap_or(Value::Null));
            }
            if done {
                break;
            }
        }
        out
    }
}

/// The REST API proxy event API Gateway sends the episodes functions for
/// `method` on `resource` (`/episodes/{episode_id}` with `id` filled in),
/// stage `api`.
pub fn rest_event(
    method: &str,
    resource: &str,
    id: Option<&str>,
    query: Value,
    body: Option<Value>,
) -> Value {
    let path = match id {
        Some(id) => resource.replace("{episode_id}", id),
        None => resource.to_string(),
    };
    json!({
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {},
        "pathParameters": id.map(|id| json!({"episode_id": id})),
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012", "resourceId": "abc", "stage": "api",
            "requestId": "req-1", "httpMethod": method, "resourcePath": resource,
            "path": format!("/api{path}"), "identity": {}, "apiId": "a1b2c3"
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}
