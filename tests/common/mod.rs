//! Helpers shared by the integration tests.
#![allow(dead_code)]

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
