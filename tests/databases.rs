//! `local:` bindings and migrations, for real: deploy to moto starts a
//! PostgreSQL and a Redis on free ports (Debian's packages), makes the
//! database and the credentials secret, applies the migrations in order
//! once each, stops at a broken one with its file, line and PostgreSQL's
//! message, and refuses a migration changed after it ran.

mod common;

use common::{block, free_port, json, run, text, write_project, StopServers};
use lambda_shared::testing::Moto;
use serde_json::Value;
use std::path::Path;

const STACK: &str = "\
resources:
  main:
    type: network
  db:
    type: database
    network: main
    engine_version: \"16.8\"
    instance_class: db.t4g.micro
    database: media
  cache_token:
    type: secret
    generate: {length: 32, punctuation: false}
  cache:
    type: cache
    network: main
    node_type: cache.t4g.micro
    auth_token: cache_token
";

fn project(pg: u16, redis: u16) -> String {
    format!(
        "project: dbfix
stacks:
  app: {{}}
environments:
  local:
    region: us-east-1
    endpoint_url: http://127.0.0.1:5000
    emulator: moto
    deploy_method: direct
    bind:
      app:
        db: {{local: postgres, port: {pg}}}
        cache: {{local: redis, port: {redis}}}
"
    )
}

/// Check `id` of health report `report`: its status and reason.
fn check(report: &Value, id: &str) -> (String, String) {
    let c = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"));
    (
        c["status"].as_str().unwrap().to_string(),
        c["reason"].as_str().unwrap().to_string(),
    )
}

fn migration(dir: &Path, name: &str, sql: &str) {
    let folder = dir.join("stacks/app/migrations");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(name), sql).unwrap();
}

/// The tables of database `media`, through the credentials in the secret
/// deploy made.
async fn tables(moto: &Moto, secret: &str) -> Vec<String> {
    let config = moto.sdk_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let value = sm
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .unwrap();
    let creds: Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    let (client, conn) = tokio_postgres::Config::new()
        .host(creds["host"].as_str().unwrap())
        .port(creds["port"].as_u64().unwrap() as u16)
        .user(creds["username"].as_str().unwrap())
        .password(creds["password"].as_str().unwrap())
        .dbname(creds["dbname"].as_str().unwrap())
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn local_servers_start_and_migrations_run_once_in_order() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (pg, redis) = (free_port(), free_port());
    write_project(dir, &project(pg, redis), &[("app", STACK)]);
    migration(
        dir,
        "0001_jobs.sql",
        "CREATE TABLE jobs (id text PRIMARY KEY, status text NOT NULL);\n",
    );
    migration(
        dir,
        "0002_media_outputs.sql",
        "CREATE TABLE media_outputs (\n  job_id text REFERENCES jobs (id),\n  key text NOT NULL\n);\n",
    );

    let report = json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    let servers = report["servers"].as_array().expect("servers reported");
    let _stop = StopServers::of(&report);
    let started: Vec<(&str, u64, bool)> = servers
        .iter()
        .map(|s| {
            (
                s["server"].as_str().unwrap(),
                s["port"].as_u64().unwrap(),
                s["started"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(started.contains(&("postgres", pg as u64, true)), "{report}");
    assert!(started.contains(&("redis", redis as u64, true)), "{report}");
    let applied = &report["migrations"][0]["applied"];
    assert_eq!(
        applied,
        &serde_json::json!([
            "stacks/app/migrations/0001_jobs.sql",
            "stacks/app/migrations/0002_media_outputs.sql"
        ]),
        "{report}"
    );
    let secret = format!("dbfix-local-postgres-{pg}");
    let found = block(tables(&moto, &secret));
    assert_eq!(found, ["jobs", "media_outputs", "stackctl_migrations"]);

    // diff reads what ran from the database: a new file is pending.
    migration(dir, "0003_audit.sql", "CREATE TABLE audit (id text);\n");
    let diff = json(dir, &moto, &["diff", "--env", "local", "--no-build"], 0);
    assert_eq!(
        diff["migrations"][0]["pending"],
        serde_json::json!(["stacks/app/migrations/0003_audit.sql"]),
        "{diff}"
    );
    assert_eq!(diff["changes"], true, "{diff}");
    let out = run(dir, &moto, &["diff", "--env", "local", "--no-build"]);
    assert!(
        text(&out)
            .contains("app.db: 1 pending migration\n  + stacks/app/migrations/0003_audit.sql"),
        "{}",
        text(&out)
    );

    // health reaches both bound servers and sees the pending file.
    let h = json(dir, &moto, &["health", "--env", "local"], 0);
    let (status, why) = check(&h, "app/database/db/available");
    assert_eq!(status, "pass", "{h:#}");
    assert!(
        why.starts_with("PostgreSQL ") && why.ends_with(&format!("answers at 127.0.0.1:{pg}")),
        "{why}"
    );
    let (status, why) = check(&h, "app/database/db/migrations");
    assert_eq!(status, "warn", "{h:#}");
    assert!(
        why.contains("stacks/app/migrations/0003_audit.sql"),
        "{why}"
    );
    let (status, why) = check(&h, "app/cache/cache/available");
    assert_eq!(status, "pass", "{h:#}");
    assert!(why.starts_with("Redis "), "{why}");
    std::fs::remove_file(dir.join("stacks/app/migrations/0003_audit.sql")).unwrap();
    let h = json(dir, &moto, &["health", "--env", "local"], 0);
    assert_eq!(check(&h, "app/database/db/migrations").0, "pass", "{h:#}");

    // Again: the servers are found running, nothing runs twice.
    let again = json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    assert!(
        again["servers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["started"] == false),
        "{again}"
    );
    assert_eq!(again["migrations"][0]["applied"], serde_json::json!([]));

    // A broken migration stops the deploy with its file, line and
    // PostgreSQL's message; nothing of it stays.
    migration(
        dir,
        "0003_broken.sql",
        "CREATE TABLE audit (id text);\n\nALTER TABLE jobz ADD COLUMN user_id text;\n",
    );
    let out = run(dir, &moto, &["deploy", "--env", "local", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("stacks/app/migrations/0003_broken.sql:3: relation \"jobz\" does not exist"),
        "{all}"
    );
    let found = block(tables(&moto, &secret));
    assert!(!found.contains(&"audit".to_string()), "{found:?}");

    // A migration that ran may not change.
    std::fs::remove_file(dir.join("stacks/app/migrations/0003_broken.sql")).unwrap();
    migration(
        dir,
        "0001_jobs.sql",
        "CREATE TABLE jobs (id text PRIMARY KEY);\n",
    );
    let out = run(dir, &moto, &["deploy", "--env", "local", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("0001_jobs.sql changed after it was applied"),
        "{}",
        text(&out)
    );

    // health finds the changed file, and a Redis that stopped.
    let h = json(dir, &moto, &["health", "--env", "local"], 1);
    let (status, why) = check(&h, "app/database/db/migrations");
    assert_eq!(status, "fail", "{h:#}");
    assert!(
        why.contains("0001_jobs.sql changed after it was applied"),
        "{why}"
    );
    let pid = servers
        .iter()
        .find(|s| s["server"] == "redis")
        .and_then(|s| s["pid"].as_u64())
        .expect("the Redis deploy started");
    std::process::Command::new("kill")
        .arg(pid.to_string())
        .status()
        .unwrap();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let h = json(dir, &moto, &["health", "--env", "local"], 1);
    let c = h["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "app/cache/cache/available")
        .unwrap();
    assert_eq!(c["status"], "fail", "{c:#}");
    assert_eq!(c["observed"], "does not answer", "{c:#}");
    assert!(
        c["hint"]
            .as_str()
            .unwrap()
            .contains("`stackctl deploy --env local` starts it"),
        "{c:#}"
    );

    // Destroy takes the stack and the credentials secret stackctl made;
    // the servers keep running (their data outlives the stack).
    let gone = json(dir, &moto, &["destroy", "--env", "local", "--yes"], 0);
    assert!(
        gone["secrets_deleted"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == secret.as_str()),
        "{gone}"
    );
}

#[test]
fn migration_files_are_checked_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write_project(dir, &project(free_port(), free_port()), &[("app", STACK)]);
    migration(dir, "0001_jobs.sql", "SELECT 1;\n");
    migration(dir, "0001_again.sql", "SELECT 1;\n");
    migration(dir, "2_outputs.sql", "SELECT 1;\n");
    let out = common::stackctl()
        .arg("-C")
        .arg(dir)
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`2_outputs.sql` is not a migration file name"),
        "{err}"
    );
    assert!(
        err.contains("migration 0001 is also stacks/app/migrations/0001_again.sql"),
        "{err}"
    );
}

#[test]
fn health_reads_an_rds_instance_the_stack_made() {
    // Without a binding, moto's CloudFormation records an RDS instance
    // (nothing behind it): health asks RDS, not a server.
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let stack = "\
resources:
  main:
    type: network
  db:
    type: database
    network: main
    engine_version: \"16.8\"
    instance_class: db.t4g.micro
";
    let project = "project: rdsfix
stacks:
  app: {}
environments:
  local:
    region: us-east-1
    endpoint_url: http://127.0.0.1:5000
    emulator: moto
    deploy_method: direct
";
    write_project(dir, project, &[("app", stack)]);
    json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    let h = json(
        dir,
        &moto,
        &["health", "--env", "local", "--only", "database"],
        0,
    );
    let (status, why) = check(&h, "app/database/db/available");
    assert_eq!(status, "pass", "{h:#}");
    assert!(
        why.starts_with("RDS instance ") && why.ends_with(" is available"),
        "{why}"
    );
    let (status, why) = check(&h, "app/database/db/maintenance");
    assert_eq!(status, "skip", "{h:#}");
    assert!(why.contains("moto"), "{why}");
    assert_eq!(check(&h, "app/database/db/migrations").0, "skip", "{h:#}");
}
