//! Test harness of the world services and world-connections (a
//! dev-dependency only, so no service's build includes the CLI it starts
//! Redis through):
//!
//! - [`Fixture`]: the seven world tables (keys and indexes as
//!   stacks/world.yaml declares them) and the snapshot bucket, fresh names
//!   per test, in one moto server per test process;
//! - [`redis`]: a real Redis (Debian's `redis-server`, started the way
//!   `stackctl deploy --env local` starts it);
//! - [`FakeBedrock`]: a local Bedrock runtime API (Converse and
//!   InvokeModel, the documented shapes), recording each request;
//! - [`FakeManagementApi`]: a local API Gateway Management API
//!   (`POST /{stage}/@connections/{id}`, 410 for ids starting `gone`);
//! - [`Service`]: a service binary run as a process, ready once `/health`
//!   answers, stopped with SIGTERM.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use lambda_shared::testing::{free_port, unique, Moto};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// One Tokio runtime for the SDK calls of a test process.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a Tokio runtime")
    })
    .block_on(f)
}

/// A table's key and indexes: (name, type) pairs.
struct TableSpec {
    env: &'static str,
    prefix: &'static str,
    key: &'static [(&'static str, ScalarAttributeType)],
    indexes: &'static [(&'static str, &'static [(&'static str, ScalarAttributeType)])],
}

const S: ScalarAttributeType = ScalarAttributeType::S;
const N: ScalarAttributeType = ScalarAttributeType::N;

/// The world tables, as stacks/world.yaml declares them.
const TABLES: &[TableSpec] = &[
    TableSpec {
        env: "WORLDS_TABLE",
        prefix: "worlds",
        key: &[("world_id", S)],
        indexes: &[("by_owner", &[("owner_id", S), ("created_at", S)])],
    },
    TableSpec {
        env: "AGENTS_TABLE",
        prefix: "agents",
        key: &[("agent_id", S)],
        indexes: &[("by_world", &[("world_id", S), ("agent_id", S)])],
    },
    TableSpec {
        env: "MEMORY_TABLE",
        prefix: "memory",
        key: &[("agent_id", S), ("memory_id", S)],
        indexes: &[("by_importance", &[("agent_id", S), ("importance", N)])],
    },
    TableSpec {
        env: "OBJECTS_TABLE",
        prefix: "objects",
        key: &[("world_id", S), ("object_id", S)],
        indexes: &[],
    },
    TableSpec {
        env: "EVENTS_TABLE",
        prefix: "events",
        key: &[("world_id", S), ("event_id", S)],
        indexes: &[("by_agent", &[("agent_id", S), ("event_id", S)])],
    },
    TableSpec {
        env: "SNAPSHOTS_TABLE",
        prefix: "snapshots",
        key: &[("world_id", S), ("snapshot_id", S)],
        indexes: &[],
    },
    TableSpec {
        env: "CONNECTIONS_TABLE",
        prefix: "connections",
        key: &[("connection_id", S)],
        indexes: &[("by_world", &[("world_id", S), ("connection_id", S)])],
    },
];

fn schema(key: &[(&str, ScalarAttributeType)]) -> Vec<KeySchemaElement> {
    key.iter()
        .enumerate()
        .map(|(i, (name, _))| {
            KeySchemaElement::builder()
                .attribute_name(*name)
                .key_type(if i == 0 {
                    KeyType::Hash
                } else {
                    KeyType::Range
                })
                .build()
                .expect("key")
        })
        .collect()
}

/// Fresh world tables and a snapshot bucket in the shared moto server.
pub struct Fixture {
    /// SDK configuration pointing at moto.
    pub sdk: aws_config::SdkConfig,
    /// DynamoDB.
    pub ddb: aws_sdk_dynamodb::Client,
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// (env var, table name) of each table.
    pub tables: Vec<(String, String)>,
    /// The snapshot bucket.
    pub bucket: String,
}

impl Fixture {
    /// Creates the tables and the bucket.
    pub fn new() -> Fixture {
        let moto = Moto::shared();
        block_on(async {
            let sdk = moto.sdk_config().await;
            let ddb = aws_sdk_dynamodb::Client::new(&sdk);
            let s3 = lambda_shared::config::s3_client(&sdk);
            let mut tables = Vec::new();
            for spec in TABLES {
                let name = unique(spec.prefix);
                let mut attrs: Vec<(&str, ScalarAttributeType)> = Vec::new();
                for (a, t) in spec
                    .key
                    .iter()
                    .chain(spec.indexes.iter().flat_map(|i| i.1.iter()))
                {
                    if !attrs.iter().any(|(x, _)| x == a) {
                        attrs.push((a, t.clone()));
                    }
                }
                let mut create = ddb
                    .create_table()
                    .table_name(&name)
                    .billing_mode(BillingMode::PayPerRequest)
                    .set_key_schema(Some(schema(spec.key)));
                for (a, t) in attrs {
                    create = create.attribute_definitions(
                        AttributeDefinition::builder()
                            .attribute_name(a)
                            .attribute_type(t)
                            .build()
                            .expect("attribute"),
                    );
                }
                for (index, key) in spec.indexes {
                    create = create.global_secondary_indexes(
                        GlobalSecondaryIndex::builder()
                            .index_name(*index)
                            .set_key_schema(Some(schema(key)))
                            .projection(
                                Projection::builder()
                                    .projection_type(ProjectionType::All)
                                    .build(),
                            )
                            .build()
                            .expect("index"),
                    );
                }
                create.send().await.expect("moto creates the table");
                tables.push((spec.env.to_string(), name));
            }
            let bucket = unique("snapshots");
            s3.create_bucket()
                .bucket(&bucket)
                .send()
                .await
                .expect("moto creates the bucket");
            Fixture {
                sdk,
                ddb,
                s3,
                tables,
                bucket,
            }
        })
    }

    /// The name of the table whose variable is `env` (`WORLDS_TABLE`).
    pub fn table(&self, env: &str) -> &str {
        &self
            .tables
            .iter()
            .find(|(e, _)| e == env)
            .unwrap_or_else(|| panic!("no table for {env}"))
            .1
    }

    /// moto's variables, every table's and `SNAPSHOT_BUCKET`.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = Moto::shared().env();
        env.extend(self.tables.iter().cloned());
        env.push(("SNAPSHOT_BUCKET".into(), self.bucket.clone()));
        env
    }

    /// Every item of `env`'s table (a scan).
    pub fn scan(&self, env: &str) -> Vec<Value> {
        let table = self.table(env).to_string();
        block_on(async {
            let out = self
                .ddb
                .scan()
                .table_name(&table)
                .send()
                .await
                .expect("scan");
            out.items
                .unwrap_or_default()
                .into_iter()
                .map(|i| serde_dynamo::from_item(i).expect("an item as JSON"))
                .collect()
        })
    }

    /// Puts `item` (JSON, numbers as N) into `env`'s table.
    pub fn put(&self, env: &str, item: Value) {
        let table = self.table(env).to_string();
        block_on(async {
            self.ddb
                .put_item()
                .table_name(&table)
                .set_item(Some(serde_dynamo::to_item(item).expect("an item")))
                .send()
                .await
                .expect("put item");
        });
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

/// The Redis of this test process: its port on 127.0.0.1.
pub fn redis() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("world-testing-redis")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        let port = free_port();
        let running = stackctl::servers::ensure_redis(&dir, port)
            .unwrap_or_else(|e| panic!("{e:#} (bash .ci/test installs redis-server)"));
        // It runs detached; a watchdog stops it, and removes its
        // directory, when this process exits.
        let script = format!(
            "while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill -TERM {pid} 2>/dev/null; sleep 1; rm -rf '{dir}'",
            parent = std::process::id(),
            pid = running.pid.unwrap_or(0),
            dir = dir.display(),
        );
        let mut watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs the Redis watchdog");
        std::thread::spawn(move || watchdog.wait());
        port
    })
}

/// The variables that point a service at [`redis`] (no TLS, no token).
pub fn redis_env() -> Vec<(String, String)> {
    vec![
        ("CACHE_HOST".into(), "127.0.0.1".into()),
        ("CACHE_PORT".into(), redis().to_string()),
        ("CACHE_TLS".into(), "false".into()),
    ]
}

use lambda_shared::fakes::{json_answer, serve};
pub use lambda_shared::fakes::{FakeBedrock, Received};

/// A local API Gateway Management API: `POST /{stage}/@connections/{id}`
/// answers 200, or 410 GoneException for ids starting with `gone`.
pub struct FakeManagementApi {
    /// `http://127.0.0.1:PORT/local`, for `WEBSOCKET_ENDPOINT`.
    pub endpoint: String,
    log: Arc<Mutex<Vec<Received>>>,
}

impl FakeManagementApi {
    /// Starts it on a free port.
    pub fn start() -> FakeManagementApi {
        let (addr, log) = serve(|req| {
            let id = req.path.rsplit('/').next().unwrap_or_default();
            if req.method != "POST" || !req.path.starts_with("/local/@connections/") {
                json_answer(404, vec![], json!({"message": "not found"}))
            } else if id.starts_with("gone") {
                json_answer(
                    410,
                    vec![("x-amzn-ErrorType".into(), "GoneException".into())],
                    json!({"message": "gone"}),
                )
            } else {
                json_answer(200, vec![], json!({}))
            }
        });
        FakeManagementApi {
            endpoint: format!("http://{addr}/local"),
            log,
        }
    }

    /// The posts so far.
    pub fn posts(&self) -> Vec<Received> {
        self.log.lock().expect("lock").clone()
    }
}

/// A service binary running as a process.
pub struct Service {
    child: Child,
    log: std::path::PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// From spawning the process to its first 200 on `/health`.
    pub startup: Duration,
    agent: ureq::Agent,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: u16,
    /// Body as JSON (null when it is not JSON).
    pub body: Value,
    /// `Retry-After`, if sent.
    pub retry_after: Option<String>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

impl Service {
    /// Runs `bin` with `env` on a free port and waits (60 s at most) until
    /// `GET /health` answers 200.
    pub fn start(bin: &str, env: &[(String, String)]) -> Service {
        let port = free_port();
        // Output to a file, not a pipe nobody drains while the test runs.
        let log = std::env::temp_dir().join(format!("{}.log", unique("world-service")));
        let file = std::fs::File::create(&log).expect("a log file");
        let spawned = Instant::now();
        let child = Command::new(bin)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
        let mut service = Service {
            child,
            log,
            url: format!("http://127.0.0.1:{port}"),
            startup: Duration::ZERO,
            agent: agent(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = service.child.try_wait() {
                panic!("{bin} exited at start ({status}):\n{}", service.output());
            }
            if service.get("/health").status == 200 {
                service.startup = spawned.elapsed();
                return service;
            }
            assert!(
                Instant::now() < deadline,
                "{bin} did not answer /health within 60 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs `bin` with `env` expecting it to refuse to start: its exit
    /// status and output.
    pub fn fail_to_start(
        bin: &str,
        env: &[(String, String)],
    ) -> (std::process::ExitStatus, String) {
        let out = Command::new(bin)
            .env_clear()
            .env("PORT", free_port().to_string())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status, text)
    }

    fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let url = format!("{}{path}", self.url);
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("POST", Some(b)) => self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send(b.to_string()),
            ("POST", None) => self.agent.post(&url).send_empty(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            _ => panic!("unsupported method {method}"),
        };
        let Ok(mut response) = result else {
            return Reply {
                status: 0,
                body: Value::Null,
                retry_after: None,
            };
        };
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Reply {
            status: response.status().as_u16(),
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            retry_after,
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.request("POST", path, Some(body))
    }

    /// `POST path` without a body.
    pub fn post_empty(&self, path: &str) -> Reply {
        self.request("POST", path, None)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Reply {
        self.request("DELETE", path, None)
    }

    /// Sends SIGTERM (as ECS does) and waits for the exit: its status and
    /// the process's output (JSON log lines).
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "the service ignored SIGTERM for 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        (status, self.output())
    }

    /// What the process printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
