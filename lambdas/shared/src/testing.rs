//! Test harness (feature `testing`): a real moto server on a free port, and
//! built `bootstrap` binaries run as Lambda runs them, on lambda-local's
//! Runtime API (the one `stackctl serve` uses). Nothing here is used by the functions.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Region, key and secret every test uses with moto.
pub const REGION: &str = "us-east-1";

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs moto's server in-process with a thread that exits as soon as the
/// parent (the test binary) is gone.
const WATCHDOG: &str = "import os, sys, threading, time
parent = os.getppid()
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from moto.server import main
main(sys.argv[1:])
";

/// A moto server, stopped when dropped (or when the test process exits).
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Moto {
    /// Starts a moto server on a free port and waits until it answers.
    /// It runs under a watchdog that exits when this process does, so a
    /// server shared by a whole test binary never outlives it. Panics with
    /// install instructions if moto is missing.
    pub fn start() -> Moto {
        let port = free_port().to_string();
        let child = Command::new("python3")
            .args(["-c", WATCHDOG, "-H", "127.0.0.1", "-p", &port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 for the moto server ({e})"));
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("the moto server exited at start ({status}): install it with `pip install 'moto[server]'` (bash .ci/test does)");
            }
            if ureq::get(&format!("{}/", moto.endpoint)).call().is_ok() {
                return moto;
            }
            assert!(
                Instant::now() < deadline,
                "the moto server did not answer within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One server for the whole test binary, started on first use. Tests
    /// sharing it use their own bucket and table names.
    pub fn shared() -> &'static Moto {
        static SHARED: std::sync::OnceLock<Moto> = std::sync::OnceLock::new();
        SHARED.get_or_init(Moto::start)
    }

    /// AWS configuration pointing at this server, with test credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_sdk_s3::config::Region::new(REGION))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await
    }

    /// Environment variables that point a function process at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_DEFAULT_REGION".into(), REGION.into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a function answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Posted to `/invocation/{id}/response`.
    Response(serde_json::Value),
    /// Posted to `/invocation/{id}/error`.
    Error(serde_json::Value),
    /// Posted to `/init/error`.
    InitError(serde_json::Value),
}

/// The deployed name, ARN, memory size and timeout every function binary
/// runs with here.
fn test_function(bin: &str, env: Vec<(String, String)>) -> lambda_local::runtime::FunctionSpec {
    lambda_local::runtime::FunctionSpec {
        name: "test".into(),
        arn: "arn:aws:lambda:us-east-1:123456789012:function:test".into(),
        executable: bin.into(),
        env,
        timeout: Duration::from_secs(60),
        memory_mb: 256,
        // One process, so the events of one call go to one warm process in
        // turn, as the tests expect.
        max_processes: 1,
    }
}

/// Runs `work` on a pool of `spec` on a runtime of its own, on a thread of
/// its own (the callers may be inside a tokio runtime already), with the
/// function's output kept; a panic in `work` reaches the caller.
fn with_pool<T: Send + 'static>(
    spec: lambda_local::runtime::FunctionSpec,
    work: impl FnOnce(lambda_local::runtime::Pool, Logs) -> BoxFuture<T> + Send + 'static,
) -> T {
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let logs = Logs::default();
        let kept = logs.clone();
        let sink: lambda_local::runtime::LogSink = Arc::new(move |l| kept.push(l));
        let pool = lambda_local::runtime::Pool::new(spec, sink);
        let out = runtime.block_on(work(pool.clone(), logs));
        pool.shutdown();
        out
    });
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// The lines a function process wrote.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<lambda_local::runtime::LogLine>>>);

impl Logs {
    fn push(&self, line: lambda_local::runtime::LogLine) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    /// Its stderr, one line after another.
    fn stderr(&self) -> String {
        let lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lines
            .iter()
            .filter(|l| l.stderr)
            .map(|l| format!("{}\n", l.line))
            .collect()
    }
}

/// The executable to test for the function whose cargo-built binary is
/// `bin`: that binary, or, when `STACKCTL_ZIPS` names a directory of
/// `stackctl build` zips (`target/zips`), the `bootstrap` inside
/// `CRATE/bootstrap.zip`, so the tests run the artefact that ships.
pub fn shipped(bin: &str) -> String {
    let Some(zips) = std::env::var_os("STACKCTL_ZIPS") else {
        return bin.to_string();
    };
    let name = std::path::Path::new(bin)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let zip_path = std::path::Path::new(&zips)
        .join(&name)
        .join("bootstrap.zip");
    let file = std::fs::File::open(&zip_path).unwrap_or_else(|e| {
        panic!(
            "STACKCTL_ZIPS is set but {} cannot be read: {e}",
            zip_path.display()
        )
    });
    let mut archive = zip::ZipArchive::new(file).expect("a zip");
    let mut entry = archive.by_name("bootstrap").expect("bootstrap in the zip");
    // One directory per call: tests running in parallel must not rewrite an
    // executable another is running ("text file busy").
    let dir = std::env::temp_dir()
        .join(unique("stackctl-shipped"))
        .join(&name);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join("bootstrap");
    let mut f = std::fs::File::create(&out).expect("unpack bootstrap");
    std::io::copy(&mut entry, &mut f).expect("unpack bootstrap");
    drop(f);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    out.to_string_lossy().into_owned()
}

/// Runs the function binary at `bin` (see [`shipped`]) as Lambda runs it
/// ([`lambda_local::runtime`], what `stackctl serve` runs functions with),
/// with `env` added, and returns one outcome per event: the events go to one
/// warm process in turn. Stops at an init error; panics, showing the
/// function's stderr, if the process exits or does not answer within 60 s.
pub fn invoke_binary(
    bin: &str,
    events: Vec<serde_json::Value>,
    env: &[(String, String)],
) -> Vec<Outcome> {
    invoke_binary_timed(bin, events, env).0
}

/// [`invoke_binary`], also returning the function's init time: from the
/// process's start to its first request for an event (what Lambda reports
/// as `Init Duration`, less the sandbox's own start).
pub fn invoke_binary_timed(
    bin: &str,
    events: Vec<serde_json::Value>,
    env: &[(String, String)],
) -> (Vec<Outcome>, Option<Duration>) {
    use lambda_local::runtime::Outcome as Ran;
    let bin = shipped(bin);
    // The process sees the test's own environment too, as a child would.
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.extend(env.iter().cloned());
    let spec = test_function(&bin, vars);
    with_pool(spec, move |pool, logs| {
        Box::pin(async move {
            let n = events.len();
            let mut outcomes = Vec::new();
            let mut init = None;
            for (i, event) in events.into_iter().enumerate() {
                let ran = pool.invoke(event).await;
                if i == 0 {
                    init = ran.init;
                }
                let error =
                    |t: String, m: String| serde_json::json!({"errorType": t, "errorMessage": m});
                match ran.outcome {
                    Ran::Response(body) => outcomes.push(Outcome::Response(
                        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                    )),
                    Ran::Error {
                        error_type,
                        error_message,
                    } => outcomes.push(Outcome::Error(error(error_type, error_message))),
                    Ran::InitError {
                        error_type,
                        error_message,
                    } if error_type.starts_with("Runtime.") => panic!(
                        "{bin} did not start ({error_type}: {error_message}) after {i} of {n} events:\n{}",
                        logs.stderr()
                    ),
                    Ran::InitError {
                        error_type,
                        error_message,
                    } => {
                        outcomes.push(Outcome::InitError(error(error_type, error_message)));
                        break;
                    }
                    Ran::Timeout => panic!(
                        "{bin} answered {i} of {n} events within 60 s:\n{}",
                        logs.stderr()
                    ),
                    Ran::Crashed { status } => panic!(
                        "{bin} exited with {status} after {i} of {n} events:\n{}",
                        logs.stderr()
                    ),
                }
            }
            (outcomes, init)
        })
    })
}

/// A unique, valid resource name for one test.
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A fresh bucket and a fresh on-demand table keyed on one string attribute
/// with one string-keyed global index: what both upload stacks declare.
struct Base {
    sdk: aws_config::SdkConfig,
    s3: aws_sdk_s3::Client,
    bucket: String,
    ddb: aws_sdk_dynamodb::Client,
    table: String,
}

impl Base {
    async fn new(
        moto: &Moto,
        bucket_prefix: &str,
        table_prefix: &str,
        key: &str,
        (index, index_key, projection): (&str, &str, aws_sdk_dynamodb::types::ProjectionType),
        extra: impl FnOnce(
            aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder,
        ) -> aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder,
    ) -> Base {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
            Projection, ScalarAttributeType,
        };
        let sdk = moto.sdk_config().await;
        let s3 = crate::config::s3_client(&sdk);
        let bucket = unique(bucket_prefix);
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create bucket");
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        let table = unique(table_prefix);
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attr")
        };
        let hash = |n: &str| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(KeyType::Hash)
                .build()
                .expect("key")
        };
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(index)
            .key_schema(hash(index_key))
            .projection(Projection::builder().projection_type(projection).build())
            .build()
            .expect("gsi");
        let create = ddb
            .create_table()
            .table_name(&table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(key))
            .attribute_definitions(attr(index_key))
            .key_schema(hash(key))
            .global_secondary_indexes(gsi);
        extra(create).send().await.expect("create table");
        Base {
            sdk,
            s3,
            bucket,
            ddb,
            table,
        }
    }
}

/// A bucket and an upload-sessions table on moto, shaped as in `stacks/upload.yaml`.
pub struct UploadFixture {
    /// SDK configuration for moto.
    pub sdk: aws_config::SdkConfig,
    /// S3 client (path style).
    pub s3: aws_sdk_s3::Client,
    /// The bucket.
    pub bucket: String,
    /// The table.
    pub table: String,
    /// [`crate::objects::Objects`] on the bucket (the SDK, but for moto's
    /// CompleteMultipartUpload answer; see [`MotoObjects`]).
    pub objects: MotoObjects,
    /// [`crate::upload::Sessions`] on the table.
    pub sessions: crate::upload::DynamoSessions,
}

impl UploadFixture {
    /// Creates a fresh bucket and table on `moto`.
    pub async fn new(moto: &Moto) -> UploadFixture {
        use aws_sdk_dynamodb::types::ProjectionType;
        let index = (
            crate::upload::KEY_INDEX,
            "objectKey",
            ProjectionType::KeysOnly,
        );
        let Base {
            sdk,
            s3,
            bucket,
            ddb,
            table,
        } = Base::new(moto, "ingest", "sessions", "uploadSessionId", index, |t| t).await;
        UploadFixture {
            objects: MotoObjects {
                sdk: crate::objects::S3Objects {
                    client: s3.clone(),
                    bucket: bucket.clone(),
                },
                endpoint: moto.endpoint.clone(),
            },
            sessions: crate::upload::DynamoSessions {
                client: ddb,
                table: table.clone(),
            },
            sdk,
            s3,
            bucket,
            table,
        }
    }

    /// The stored object's bytes.
    pub async fn object(&self, key: &str) -> Vec<u8> {
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .expect("get object");
        out.body
            .collect()
            .await
            .expect("body")
            .into_bytes()
            .to_vec()
    }

    /// Environment for a function process using this bucket and table.
    pub fn env(&self, moto: &Moto) -> Vec<(String, String)> {
        let mut env = moto.env();
        env.push(("BUCKET_NAME".into(), self.bucket.clone()));
        env.push(("TABLE_NAME".into(), self.table.clone()));
        env
    }
}

/// An API Gateway HTTP API (payload 2.0) event as JSON.
pub fn http_event_json(route: &str, body: &serde_json::Value) -> serde_json::Value {
    let (method, path) = route.split_once(' ').unwrap_or(("POST", route));
    serde_json::json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "req",
            "routeKey": route,
            "stage": "$default",
            "time": "22/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    })
}

/// The same event, typed.
pub fn http_event(
    route: &str,
    body: &serde_json::Value,
) -> aws_lambda_events::apigw::ApiGatewayV2httpRequest {
    serde_json::from_value(http_event_json(route, body)).expect("valid API Gateway event")
}

/// PUTs `bytes` to a presigned URL as `content_type`; returns the ETag.
pub fn put(url: &str, content_type: &str, bytes: &[u8]) -> String {
    let resp = ureq::put(url)
        .header("Content-Type", content_type)
        .send(bytes)
        .unwrap_or_else(|e| panic!("PUT to presigned URL failed: {e}"));
    resp.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Status and JSON body of a handler's outcome, as the client would see them.
pub fn reply(
    outcome: &Result<crate::http::Reply, crate::http::ApiError>,
) -> (u16, serde_json::Value) {
    if let Err(crate::http::ApiError::Internal(detail)) = outcome {
        eprintln!("internal error behind a 500: {detail}");
    }
    let resp = crate::http::respond(outcome.clone(), "test");
    let body = match resp.body {
        Some(aws_lambda_events::encodings::Body::Text(t)) => {
            serde_json::from_str(&t).unwrap_or_default()
        }
        _ => serde_json::Value::Null,
    };
    (resp.status_code as u16, body)
}

/// Runs the binary with `env` (and Lambda's variables only) and expects
/// it to fail at start-up, as a function with bad configuration does:
/// exit with an error, or post an init error, before asking for an event.
/// Returns its stderr.
pub fn start_failure(bin: &str, env: &[(String, String)]) -> String {
    use lambda_local::runtime::Outcome as Ran;
    let bin = shipped(bin);
    let spec = test_function(&bin, env.to_vec());
    with_pool(spec, move |pool, logs| {
        Box::pin(async move {
            let ran = pool.invoke(serde_json::json!({})).await;
            match ran.outcome {
                Ran::InitError {
                    error_type,
                    error_message,
                } if error_type == "Runtime.InvalidEntrypoint"
                    || error_message.ends_with("without providing a reason") =>
                {
                    panic!("{bin} did not fail as expected: {error_message}")
                }
                Ran::InitError { .. } => logs.stderr(),
                other => panic!("{bin} started without its configuration: {other:?}"),
            }
        })
    })
}

/// An S3 notification event for `key` (given URL-encoded, as S3 sends it).
pub fn s3_event_json(bucket: &str, records: &[(&str, &str)]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = records
        .iter()
        .map(|(event, key)| {
            serde_json::json!({
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-11-22T00:00:00.000Z",
                "eventName": event,
                "userIdentity": {"principalId": "test"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "process-uploads",
                    "bucket": {"name": bucket, "ownerIdentity": {"principalId": "test"}, "arn": format!("arn:aws:s3:::{bucket}")},
                    "object": {"key": key, "size": 0, "eTag": "x", "sequencer": "0"}
                }
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// A bucket and a QR sessions table on moto, shaped as in `stacks/qr-upload.yaml`
/// (key `sessionId`, index `by-connection` on `wsConnectionId` with projection
/// ALL, TTL on `expiresAt`, stream on).
pub struct QrFixture {
    /// SDK configuration for moto.
    pub sdk: aws_config::SdkConfig,
    /// S3 client (path style).
    pub s3: aws_sdk_s3::Client,
    /// DynamoDB client.
    pub ddb: aws_sdk_dynamodb::Client,
    /// The uploads bucket.
    pub bucket: String,
    /// The sessions table.
    pub table: String,
    /// [`crate::objects::Objects`] on the bucket.
    pub objects: crate::objects::S3Objects,
    /// [`crate::qr::QrSessions`] on the table.
    pub sessions: crate::qr::DynamoQrSessions,
}

impl QrFixture {
    /// Creates a fresh bucket and sessions table on `moto`.
    pub async fn new(moto: &Moto) -> QrFixture {
        use aws_sdk_dynamodb::types::{
            ProjectionType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
        };
        let index = (
            crate::qr::CONNECTION_INDEX,
            "wsConnectionId",
            ProjectionType::All,
        );
        let stream = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::NewAndOldImages)
            .build()
            .expect("stream");
        let Base {
            sdk,
            s3,
            bucket,
            ddb,
            table,
        } = Base::new(moto, "qr-uploads", "qr-sessions", "sessionId", index, |t| {
            t.stream_specification(stream)
        })
        .await;
        ddb.update_time_to_live()
            .table_name(&table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expiresAt")
                    .enabled(true)
                    .build()
                    .expect("ttl"),
            )
            .send()
            .await
            .expect("enable TTL");
        QrFixture {
            objects: crate::objects::S3Objects {
                client: s3.clone(),
                bucket: bucket.clone(),
            },
            sessions: crate::qr::DynamoQrSessions {
                client: ddb.clone(),
                table: table.clone(),
            },
            sdk,
            s3,
            ddb,
            bucket,
            table,
        }
    }

    /// The stored object's bytes.
    pub async fn object(&self, key: &str) -> Vec<u8> {
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .expect("get object");
        out.body
            .collect()
            .await
            .expect("body")
            .into_bytes()
            .to_vec()
    }

    /// The raw item of a session, as DynamoDB holds it.
    pub async fn item(
        &self,
        session_id: &str,
    ) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.ddb
            .get_item()
            .table_name(&self.table)
            .key(
                "sessionId",
                aws_sdk_dynamodb::types::AttributeValue::S(session_id.into()),
            )
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item
    }

    /// Environment for a function process using this bucket and table
    /// (`SESSIONS_TABLE_NAME`, `UPLOAD_BUCKET_NAME`, and moto's).
    pub fn env(&self, moto: &Moto) -> Vec<(String, String)> {
        let mut env = moto.env();
        env.push(("SESSIONS_TABLE_NAME".into(), self.table.clone()));
        env.push(("UPLOAD_BUCKET_NAME".into(), self.bucket.clone()));
        env
    }
}

/// [`crate::objects::S3Objects`] for moto. moto 5.2 answers
/// CompleteMultipartUpload with a `CompleteMultipartUploadResponse` root
/// element where S3 sends `CompleteMultipartUploadResult`; botocore ignores
/// the root's name, the Rust SDK rejects it. So completion is sent as plain
/// HTTP (moto checks no signatures) and its answer read leniently; every
/// other call goes through the SDK unchanged.
#[derive(Clone, Debug)]
pub struct MotoObjects {
    /// The real implementation.
    pub sdk: crate::objects::S3Objects,
    /// moto's endpoint.
    pub endpoint: String,
}

impl crate::objects::Objects for MotoObjects {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires: Duration,
    ) -> Result<String, crate::AwsError> {
        self.sdk.presign_put(key, content_type, expires).await
    }
    async fn create_multipart(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<String, crate::AwsError> {
        self.sdk.create_multipart(key, content_type).await
    }
    async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        expires: Duration,
    ) -> Result<String, crate::AwsError> {
        self.sdk.presign_part(key, upload_id, part, expires).await
    }
    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<(), crate::objects::CompleteError> {
        use crate::objects::CompleteError;
        let escape = |t: &str| {
            t.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let body: String = parts
            .iter()
            .map(|(n, etag)| {
                format!(
                    "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
                    escape(etag)
                )
            })
            .collect();
        let url = format!(
            "{}/{}/{key}?uploadId={upload_id}",
            self.endpoint, self.sdk.bucket
        );
        let resp = ureq::post(&url)
            .config()
            .http_status_as_error(false)
            .build()
            .content_type("application/xml")
            .send(format!(
                "<CompleteMultipartUpload>{body}</CompleteMultipartUpload>"
            ));
        let mut resp =
            resp.map_err(|e| crate::AwsError(format!("CompleteMultipartUpload: {e}")))?;
        if resp.status().is_success() {
            return Ok(());
        }
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let tag = |name: &str| {
            text.split(&format!("<{name}>"))
                .nth(1)
                .and_then(|r| r.split(&format!("</{name}>")).next())
                .unwrap_or("")
                .to_string()
        };
        match tag("Code").as_str() {
            "NoSuchUpload" => Err(CompleteError::NoSuchUpload),
            "InvalidPart" | "InvalidPartOrder" | "EntityTooSmall" | "MalformedXML" => {
                Err(CompleteError::Rejected(tag("Message")))
            }
            code => Err(crate::AwsError(format!("CompleteMultipartUpload: {code}: {text}")).into()),
        }
    }
    async fn head(&self, key: &str) -> Result<Option<crate::objects::ObjectInfo>, crate::AwsError> {
        self.sdk.head(key).await
    }
    async fn pending_uploads(
        &self,
        prefix: &str,
    ) -> Result<Vec<crate::objects::PendingUpload>, crate::AwsError> {
        self.sdk.pending_uploads(prefix).await
    }
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), crate::AwsError> {
        self.sdk.abort_multipart(key, upload_id).await
    }
}
