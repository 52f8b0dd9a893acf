//! `stackctl health` against a moto server started by the test:
//! `tests/fixtures/health-project` (a function, a table with TTL and an
//! index, a queue with a dead-letter queue, a private bucket; and a second
//! stack) is deployed and found healthy, then broken through the services'
//! own APIs, one thing at a time, and each break is found with its check
//! id, status and exit code.
//!
//! moto's CloudFormation applies neither TTL nor a bucket's public access
//! block, so on a fresh deploy both checks are `skip`. The test sets them
//! through the APIs first, as CloudFormation does on AWS, and then turns
//! them off: a TTL or a block that was set and is now off is judged (and
//! fails) on moto too.

mod common;

use common::{block, copy_fixture, json, run, text};
use lambda_shared::testing::Moto;
use serde_json::Value;
use std::io::Write;
use std::path::Path;

const TABLE: &str = "healthfix-app-sessions-local";
const BUCKET: &str = "healthfix-app-files-local";
const FUNCTION: &str = "healthfix-app-greeter-local";
const DLQ: &str = "healthfix-app-jobs-local-dlq";

/// `health --env local ARGS --output json`, expecting exit `code`.
fn health(dir: &Path, moto: &Moto, args: &[&str], code: i32) -> Value {
    let mut all = vec!["health", "--env", "local"];
    all.extend(args);
    json(dir, moto, &all, code)
}

/// Check `id` of `report`: its status and reason.
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

/// Every check's id and status.
fn statuses(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A zip holding one `bootstrap` that is not the deployed one.
fn other_zip() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    zip.start_file("bootstrap", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"#!/bin/sh\necho replaced by hand\n")
        .unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

#[test]
fn a_deployed_environment_is_healthy_and_each_break_is_found() {
    let moto = Moto::start();
    let dir = copy_fixture("health-project");
    let dir = dir.path();
    json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);

    // Healthy: every check, in id order; what moto never applies is skip.
    let started = std::time::Instant::now();
    let report = health(dir, &moto, &[], 0);
    let took = started.elapsed();
    eprintln!(
        "health --env local: {:.0} ms wall time, {} checks",
        took.as_secs_f64() * 1000.0,
        report["checks"].as_array().unwrap().len()
    );
    assert_eq!(report["schema"], "stackctl.health/v1");
    assert_eq!(report["verdict"], "healthy", "{report:#}");
    let want = [
        ("app/bucket/files/exists", "pass"),
        ("app/bucket/files/public_access", "skip"),
        ("app/function/greeter/code", "pass"),
        ("app/function/greeter/concurrency", "pass"),
        ("app/function/greeter/state", "pass"),
        ("app/queue/jobs/dead_letter", "pass"),
        // moto lists the bucket policy (a placeholder there) without an id.
        ("app/stack/resources", "skip"),
        ("app/stack/status", "pass"),
        ("app/stack/template", "pass"),
        ("app/table/sessions/indexes", "pass"),
        ("app/table/sessions/status", "pass"),
        ("app/table/sessions/ttl", "skip"),
        ("extra/stack/resources", "pass"),
        ("extra/stack/status", "pass"),
        ("extra/stack/template", "pass"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(i, s)| (i.to_string(), s.to_string()))
        .collect();
    assert_eq!(statuses(&report), want, "{report:#}");
    assert_eq!(report["counts"]["pass"], 12);
    assert_eq!(report["counts"]["skip"], 3);
    // The text report: nothing needs a look, so only the verdict.
    let out = run(dir, &moto, &["health", "--env", "local"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("healthy in local: 12 passed, 3 skipped (15 checks in "),
        "{}",
        text(&out)
    );

    block(async {
        let config = moto.sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let ddb = aws_sdk_dynamodb::Client::new(&config);
        let s3 = stackctl::aws::s3_client(&config);
        let lambda = aws_sdk_lambda::Client::new(&config);
        let cfn = aws_sdk_cloudformation::Client::new(&config);

        // Messages left in the dead-letter queue: a warning, exit 0
        // unless --fail-on warn.
        let dlq = sqs
            .get_queue_url()
            .queue_name(DLQ)
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_string();
        for i in 0..2 {
            sqs.send_message()
                .queue_url(&dlq)
                .message_body(format!("failed job {i}"))
                .send()
                .await
                .unwrap();
        }
        let report = health(dir, &moto, &["--only", "queue"], 0);
        assert_eq!(report["verdict"], "degraded");
        assert_eq!(
            check(&report, "app/queue/jobs/dead_letter"),
            ("warn".into(), "2 messages in the dead-letter queue".into())
        );
        assert_eq!(report["checks"].as_array().unwrap().len(), 1);
        health(dir, &moto, &["--only", "queue", "--fail-on", "warn"], 1);

        // TTL: set as CloudFormation sets it on AWS (pass), then turned
        // off (fail).
        let ttl = |on: bool| {
            ddb.update_time_to_live()
                .table_name(TABLE)
                .time_to_live_specification(
                    aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                        .attribute_name("expires_at")
                        .enabled(on)
                        .build()
                        .unwrap(),
                )
                .send()
        };
        ttl(true).await.unwrap();
        let report = health(dir, &moto, &["--only", "table"], 0);
        assert_eq!(
            check(&report, "app/table/sessions/ttl"),
            ("pass".into(), "on expires_at".into())
        );
        ttl(false).await.unwrap();
        let report = health(dir, &moto, &["--only", "table"], 1);
        assert_eq!(
            check(&report, "app/table/sessions/ttl"),
            (
                "fail".into(),
                "TTL is off: expired items are never deleted".into()
            )
        );

        // The public access block: set as CloudFormation sets it on AWS
        // (pass), then partly turned off, making the bucket public (fail).
        let block = |policy: bool| {
            s3.put_public_access_block()
                .bucket(BUCKET)
                .public_access_block_configuration(
                    aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                        .block_public_acls(true)
                        .ignore_public_acls(true)
                        .block_public_policy(policy)
                        .restrict_public_buckets(policy)
                        .build(),
                )
                .send()
        };
        block(true).await.unwrap();
        let report = health(dir, &moto, &["--only", "bucket"], 0);
        assert_eq!(check(&report, "app/bucket/files/public_access").0, "pass");
        block(false).await.unwrap();
        let report = health(dir, &moto, &["--only", "bucket"], 1);
        assert_eq!(
            check(&report, "app/bucket/files/public_access"),
            (
                "fail".into(),
                "public access block turned off: BlockPublicPolicy, RestrictPublicBuckets".into()
            )
        );

        // The function's code replaced out of band.
        lambda
            .update_function_code()
            .function_name(FUNCTION)
            .zip_file(aws_sdk_lambda::primitives::Blob::new(other_zip()))
            .send()
            .await
            .unwrap();
        let report = health(dir, &moto, &["--only", "function"], 1);
        assert_eq!(
            check(&report, "app/function/greeter/code"),
            ("fail".into(), "runs other code than its stack names".into())
        );
        assert_eq!(check(&report, "app/function/greeter/state").0, "pass");

        // A stack deleted: it fails, its resources are skipped, and the
        // other stack is still checked.
        cfn.delete_stack()
            .stack_name("healthfix-extra-local")
            .send()
            .await
            .unwrap();
    });
    let report = health(dir, &moto, &["--only", "stack"], 1);
    assert_eq!(
        check(&report, "extra/stack/status"),
        (
            "fail".into(),
            "stack healthfix-extra-local is not deployed in local".into()
        )
    );
    assert_eq!(check(&report, "extra/stack/template").0, "skip");
    assert_eq!(check(&report, "app/stack/status").0, "pass");

    // Everything at once, as text: failures first, then warnings, then
    // the verdict.
    let out = run(dir, &moto, &["health", "--env", "local"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let firsts: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(
        firsts,
        [
            "FAIL    app/bucket/files/public_access",
            "FAIL    app/function/greeter/code",
            "FAIL    app/table/sessions/ttl",
            "FAIL    extra/stack/status",
            "WARN    app/queue/jobs/dead_letter",
            "unhealthy in local",
        ],
        "{stdout}"
    );
    assert!(
        stdout.contains("          hint: stackctl deploy --env local extra\n"),
        "{stdout}"
    );
}

#[test]
fn the_ci_example_deploys_then_waits_until_healthy_and_writes_junit() {
    let moto = Moto::start();
    let dir = copy_fixture("health-project");
    let dir = dir.path();

    // examples/ci/deploy-and-check.sh: deploy, then health --wait 5m
    // --junit health.xml; healthy after two good runs, so exit 0.
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_stackctl"));
    let out = std::process::Command::new("bash")
        .arg(common::repo().join("examples/ci/deploy-and-check.sh"))
        .arg("local")
        .current_dir(dir)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("2 stacks in local: 2 created\n"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains(
            " (2 runs): every check passed 2 runs in a row\nhealthy in local: 12 passed, 3 skipped"
        ),
        "{}",
        text(&out)
    );
    // Not a terminal: one progress line per run on stderr.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("] health run "))
            .count(),
        2,
        "{}",
        text(&out)
    );
    let junit = dir.join("health.xml");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"<testsuites name="stackctl health local" tests="15" failures="0" errors="0" skipped="3""#),
        "{xml}"
    );
    assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 15, "{xml}");
    assert!(
        xml.contains(
            r#"<testcase name="app/function/greeter/state" classname="app.function.greeter""#
        ),
        "{xml}"
    );

    // deploy --wait-healthy: nothing to deploy, then health's wait over
    // the stacks, its report in the deploy's JSON.
    let report = json(
        dir,
        &moto,
        &["deploy", "--env", "local", "--yes", "--wait-healthy", "1m"],
        0,
    );
    assert_eq!(report["stacks"][0]["outcome"], "unchanged", "{report:#}");
    let waited = &report["health"];
    assert_eq!(waited["schema"], "stackctl.health/v1");
    assert_eq!(waited["verdict"], "healthy", "{waited:#}");
    assert_eq!(waited["wait"]["ended"], "passed", "{waited:#}");
    assert_eq!(waited["wait"]["runs"], 2);
    assert!(waited["wait"]["duration_ms"].as_u64().unwrap() >= 2000);
    let junit_arg = junit.to_str().unwrap();

    // A warning that --fail-on warn makes bad: waited on until the time
    // is up (runs at 0 and 2 s of 3 s), then exit 1; the JUnit file shows
    // the warning as a passing test with its reason.
    block(async {
        let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
        let dlq = sqs
            .get_queue_url()
            .queue_name(DLQ)
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_string();
        sqs.send_message()
            .queue_url(&dlq)
            .message_body("failed job")
            .send()
            .await
            .unwrap();
    });
    let report = health(
        dir,
        &moto,
        &[
            "--only",
            "queue",
            "--wait",
            "3s",
            "--fail-on",
            "warn",
            "--junit",
            junit_arg,
        ],
        1,
    );
    assert_eq!(report["wait"]["ended"], "time_up", "{report:#}");
    assert_eq!(report["wait"]["runs"], 2, "{report:#}");
    assert_eq!(report["verdict"], "degraded");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<system-out>WARN: 1 message in the dead-letter queue"),
        "{xml}"
    );

    // --junit into a folder that does not exist: invalid input, found
    // before any check runs.
    let out = run(
        dir,
        &moto,
        &["health", "--env", "local", "--junit", "nowhere/health.xml"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: --junit nowhere/health.xml: folder nowhere does not exist\nhint: create it first (mkdir -p nowhere)\n"
    );
}
