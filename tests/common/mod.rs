//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod serve;

use lambda_shared::testing::Moto;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The repository root (the stackctl project itself).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The stackctl binary under test.
pub fn stackctl() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("stackctl").expect("binary built");
    cmd.env_remove("AWS_ENDPOINT_URL");
    cmd
}

/// A project of one stack `app` with environments local, dev and prod.
pub const PROJECT: &str = "\
project: corpus
stacks:
  app: {}
environments:
  local:
    region: us-east-1
    endpoint_url: http://127.0.0.1:5000
  dev:
    region: us-east-1
  prod:
    region: us-east-1
    protected: true
";

/// A valid stack with one bucket.
pub const STACK: &str = "\
resources:
  files:
    type: bucket
";

/// Writes a project into `dir`: `project` as stackctl.yaml and `stacks` as stack files.
pub fn write_project(dir: &Path, project: &str, stacks: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join("stacks")).unwrap();
    std::fs::write(dir.join("stackctl.yaml"), project).unwrap();
    for (name, text) in stacks {
        std::fs::write(dir.join("stacks").join(format!("{name}.yaml")), text).unwrap();
    }
}

/// A copy of `tests/fixtures/NAME` (without its `target/`) in a temporary directory.
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap().flatten() {
            let name = entry.file_name();
            if name == "target" {
                continue;
            }
            if entry.path().is_dir() {
                copy_dir(&entry.path(), &to.join(&name));
            } else {
                std::fs::copy(entry.path(), to.join(&name)).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("tests/fixtures").join(name), dir.path());
    dir
}

/// Runs a future to its end on a fresh single-threaded runtime.
pub fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// What DynamoDB says of a table: partition key, index names, stream view.
#[derive(Debug, PartialEq, Eq)]
pub struct TableShape {
    /// The partition key's attribute.
    pub key: String,
    /// Global secondary index names.
    pub indexes: Vec<String>,
    /// The stream's view type, when the stream is on.
    pub stream: Option<String>,
}

/// Reads `table` from the moto server through the DynamoDB API.
pub async fn table_shape(moto: &lambda_shared::testing::Moto, table: &str) -> TableShape {
    let ddb = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let out = ddb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{table}: {e:?}"));
    let t = out.table().expect("a table description");
    TableShape {
        key: t.key_schema()[0].attribute_name().to_string(),
        indexes: t
            .global_secondary_indexes()
            .iter()
            .filter_map(|i| i.index_name().map(str::to_string))
            .collect(),
        stream: t
            .stream_specification()
            .filter(|s| s.stream_enabled())
            .and_then(|s| s.stream_view_type())
            .map(|v| v.as_str().to_string()),
    }
}

/// Runs stackctl in project `dir` against `moto`, with test credentials.
pub fn run(dir: &Path, moto: &Moto, args: &[&str]) -> Output {
    stackctl()
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .arg("-C")
        .arg(dir)
        .args(["--endpoint-url", &moto.endpoint])
        .args(args)
        .output()
        .unwrap()
}

/// A command's exit code, stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs with `--output json`, expects exit `code`, and parses stdout.
pub fn json(dir: &Path, moto: &Moto, args: &[&str], code: i32) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let out = run(dir, moto, &all);
    assert_eq!(out.status.code(), Some(code), "{}", text(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(&out)))
}

/// Replaces `from` with `to`, once, in the file `rel` of `dir`, which must
/// hold it.
pub fn edit(dir: &Path, rel: &str, from: &str, to: &str) {
    let path = dir.join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{rel} holds no `{from}`");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// A port nothing listens on, and one this test process has not handed out
/// before: two picks in a row (or in tests running side by side) may
/// otherwise get the same port back from the system, and one server would
/// find the other's.
pub fn free_port() -> u16 {
    static HANDED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed = HANDED.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if !handed.contains(&port) {
            handed.push(port);
            return port;
        }
    }
}

/// Runs cfn-lint over `files` and fails on any error (warnings pass).
pub fn assert_cfn_lint_clean(files: &[PathBuf]) {
    let out = std::process::Command::new("cfn-lint")
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run cfn-lint ({e}); install it with `pip install cfn-lint` (.ci/run does)"
            )
        });
    let text = String::from_utf8_lossy(&out.stdout);
    // Exit code bits: 2 = errors, 4 = warnings, 8 = informational.
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code >= 0 && code & 2 == 0 && code & 1 == 0,
        "cfn-lint exit {code}:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("\nE") && !text.starts_with('E'),
        "cfn-lint errors:\n{text}"
    );
}

/// Stops the local servers a deploy reported (`servers` of its JSON: each
/// `server`, `pid` and `port`), however the test ends, and removes the
/// PostgreSQL cluster stackctl keeps under /var/tmp when it runs as root.
pub struct StopServers(pub Vec<(String, u32, u16)>);

impl StopServers {
    /// The servers of a deploy's JSON report that this deploy started.
    pub fn of(report: &serde_json::Value) -> StopServers {
        let servers = report["servers"].as_array().cloned().unwrap_or_default();
        StopServers(
            servers
                .iter()
                .filter(|s| s["started"] == true)
                .filter_map(|s| {
                    Some((
                        s["server"].as_str()?.to_string(),
                        u32::try_from(s["pid"].as_u64()?).ok()?,
                        u16::try_from(s["port"].as_u64()?).ok()?,
                    ))
                })
                .collect(),
        )
    }
}

impl Drop for StopServers {
    fn drop(&mut self) {
        for (server, pid, port) in &self.0 {
            // PostgreSQL's fast shutdown: it does not wait for sessions.
            let signal = if server == "postgres" {
                "-INT"
            } else {
                "-TERM"
            };
            let _ = std::process::Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
            if server == "postgres" {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while std::path::Path::new(&format!("/proc/{pid}")).exists()
                    && std::time::Instant::now() < deadline
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                let prefix = format!("stackctl-postgres-{port}-");
                for entry in std::fs::read_dir("/var/tmp")
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    if entry.file_name().to_string_lossy().starts_with(&prefix) {
                        let _ = std::fs::remove_dir_all(entry.path());
                    }
                }
            }
        }
    }
}

/// Copies a directory tree, leaving out `target`, `.git` and `.stackctl`.
pub fn copy_repo(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        let n = name.to_string_lossy();
        if matches!(&*n, "target" | ".git" | ".stackctl") {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_repo(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// The repository's system in a temporary copy: its functions built once
/// in the repository (cargo's target directory is shared with the other
/// tests) and their zips copied along, so the copy's deploys start no
/// compiler; the `local` environment's PostgreSQL and Redis on free ports,
/// so tests run side by side and never meet a developer's servers. The
/// servers a deploy starts there are stopped when the copy is dropped.
pub struct SystemCopy {
    /// The project's root.
    pub project: PathBuf,
    /// The port of the media database's PostgreSQL.
    pub postgres_port: u16,
    /// The port of the media cache's Redis.
    pub redis_port: u16,
    /// The port of the local image registry.
    pub registry_port: u16,
    dir: tempfile::TempDir,
}

impl SystemCopy {
    /// A scratch directory that goes with the copy.
    pub fn scratch(&self) -> PathBuf {
        let d = self.dir.path().join("scratch");
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

impl Drop for SystemCopy {
    fn drop(&mut self) {
        let state = self.project.join(".stackctl");
        let pid_in = |file: PathBuf| -> Option<u32> {
            std::fs::read_to_string(file)
                .ok()?
                .lines()
                .next()?
                .trim()
                .parse()
                .ok()
        };
        let mut servers = Vec::new();
        if let Some(pid) = pid_in(state.join(format!("redis-{}.pid", self.redis_port))) {
            servers.push(("redis".to_string(), pid, self.redis_port));
        }
        // The cluster is in the state directory, or under /var/tmp as root.
        let own = state.join(format!(
            "postgres-{}/data/postmaster.pid",
            self.postgres_port
        ));
        let prefix = format!("stackctl-postgres-{}-", self.postgres_port);
        let under_var_tmp = std::fs::read_dir("/var/tmp")
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path().join("data/postmaster.pid"));
        if let Some(pid) = pid_in(own).or_else(|| under_var_tmp.and_then(pid_in)) {
            servers.push(("postgres".to_string(), pid, self.postgres_port));
        }
        drop(StopServers(servers));
        // The registry goes with its storage.
        let _ = stackctl::servers::stop_registry(&state, self.registry_port);
    }
}

/// Copies the repository's system for a test (see [`SystemCopy`]).
pub fn system_copy() -> SystemCopy {
    let repo = repo();
    let out = stackctl()
        .arg("-C")
        .arg(&repo)
        .args(["build", "--env", "local", "--quiet"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("studio");
    copy_repo(&repo, &project);
    copy_repo(&repo.join("target/zips"), &project.join("target/zips"));
    // The world's images, with their records: no cargo in the copy.
    copy_repo(&repo.join("target/images"), &project.join("target/images"));
    let (postgres_port, redis_port, registry_port) = (free_port(), free_port(), free_port());
    edit(
        &project,
        "stackctl.yaml",
        "registry: {local: true, port: 5050}",
        &format!("registry: {{local: true, port: {registry_port}}}"),
    );
    edit(
        &project,
        "stackctl.yaml",
        "db: {local: postgres}",
        &format!("db: {{local: postgres, port: {postgres_port}}}"),
    );
    // The media and world stacks share one Redis.
    for _ in ["media", "world"] {
        edit(
            &project,
            "stackctl.yaml",
            "cache: {local: redis}",
            &format!("cache: {{local: redis, port: {redis_port}}}"),
        );
    }
    SystemCopy {
        project,
        postgres_port,
        redis_port,
        registry_port,
        dir,
    }
}

/// What moto's Lambda says of function `name` (GetFunction:
/// `Configuration`, `Code`). moto answers with the numbers of Ref'd Number
/// parameters as JSON numbers where AWS has strings, which the Rust SDK
/// rejects; so this is plain HTTP (moto checks no signatures), and
/// [`function_env`] reads values as text.
pub fn function_description(moto: &Moto, name: &str) -> serde_json::Value {
    let url = format!("{}/2015-03-31/functions/{name}", moto.endpoint);
    // moto routes an unsigned request by the service in its credential scope.
    let body = ureq::get(&url)
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0",
        )
        .call()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

/// The environment variables of a function description, as text.
pub fn function_env(description: &serde_json::Value) -> Vec<(String, String)> {
    stackctl::aws::functions::variables(&description["Configuration"])
}

/// The `bootstrap` of the shipped zip of crate `krate` in `project`,
/// unpacked into `dir` as an executable named after the crate.
pub fn shipped_bootstrap(project: &Path, krate: &str, dir: &Path) -> String {
    use std::io::Read;
    let zip = project
        .join("target/zips")
        .join(krate)
        .join("bootstrap.zip");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    let mut entry = archive.by_name("bootstrap").unwrap();
    let out = dir.join(krate);
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    std::fs::write(&out, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755)).unwrap();
    out.to_string_lossy().into_owned()
}

/// The one answer of a function binary to one event, through the Lambda
/// Runtime API harness. Each invocation is a cold start; its init time
/// (process start to the first request for an event) is printed for the
/// benchmarks and closing notes, never asserted.
pub fn answer(bin: &str, event: serde_json::Value, env: &[(String, String)]) -> serde_json::Value {
    use lambda_shared::testing::{invoke_binary_timed, Outcome};
    let (mut outcomes, init) = invoke_binary_timed(bin, vec![event], env);
    let name = Path::new(bin).file_name().unwrap().to_string_lossy();
    if let Some(init) = init {
        eprintln!(
            "cold start: {name} init {:.1} ms",
            init.as_secs_f64() * 1000.0
        );
    }
    match outcomes.remove(0) {
        Outcome::Response(v) => v,
        other => panic!("{bin}: {other:?}"),
    }
}

/// [`answer`] to an HTTP API event: the status and the JSON body (a body
/// that is not JSON as a string).
pub fn http_answer(
    bin: &str,
    event: serde_json::Value,
    env: &[(String, String)],
) -> (u64, serde_json::Value) {
    let r = answer(bin, event, env);
    let body = r["body"].as_str().unwrap_or("null");
    (
        r["statusCode"].as_u64().unwrap(),
        serde_json::from_str(body).unwrap_or_else(|_| serde_json::json!(body)),
    )
}

/// `METHOD /path` of every method of REST API `name` (API Gateway v1),
/// sorted.
pub async fn rest_api_methods(sdk: &aws_config::SdkConfig, name: &str) -> Vec<String> {
    let apigw = aws_sdk_apigateway::Client::new(sdk);
    let apis = apigw.get_rest_apis().send().await.unwrap();
    let api = apis
        .items()
        .iter()
        .find(|a| a.name() == Some(name))
        .unwrap_or_else(|| panic!("no REST API {name} in {apis:?}"));
    let resources = apigw
        .get_resources()
        .rest_api_id(api.id().unwrap())
        .limit(500)
        .embed("methods")
        .send()
        .await
        .unwrap();
    let mut methods: Vec<String> = resources
        .items()
        .iter()
        .flat_map(|r| {
            let path = r.path().unwrap_or_default().to_string();
            r.resource_methods()
                .map(|m| m.keys().map(|k| format!("{k} {path}")).collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect();
    methods.sort();
    methods
}
