//! `deploy`, `diff`, `status`, `outputs` and `destroy` against a real moto
//! server started by each test, on `tests/fixtures/deploy-project` (two
//! stacks, no functions): dependency order, an output feeding a parameter,
//! an import, no-change redeploys, a parameter change seen by `diff` and
//! applied by the next deploy, a template CloudFormation rejects, and a
//! destroy that leaves nothing behind. What the emulator holds is read back
//! through the services' own APIs.

mod common;

use common::{block, copy_fixture, json, run, stackctl, text};
use lambda_shared::testing::Moto;
use serde_json::Value;

/// The stack as CloudFormation describes it, `None` when it does not exist.
fn describe(moto: &Moto, name: &str) -> Option<aws_sdk_cloudformation::types::Stack> {
    block(async {
        let cfn = aws_sdk_cloudformation::Client::new(&moto.sdk_config().await);
        match cfn.describe_stacks().stack_name(name).send().await {
            Ok(out) => out.stacks().first().cloned(),
            Err(e) => {
                let msg = format!("{:?}", e.as_service_error());
                assert!(msg.contains("does not exist"), "{msg}");
                None
            }
        }
    })
}

fn outcome(report: &Value, stack: &str) -> String {
    report["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stack"] == stack)
        .unwrap_or_else(|| panic!("no {stack} in {report}"))["outcome"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn stacks_deploy_in_order_outputs_feed_parameters_and_redeploys_change_nothing() {
    let moto = Moto::start();
    let dir = copy_fixture("deploy-project");
    let dir = dir.path();

    // Not deployed yet: everything is new, and --exit-code says so.
    let diff = json(dir, &moto, &["diff", "--env", "local", "--exit-code"], 2);
    assert_eq!(diff["changes"], true);
    assert_eq!(diff["stacks"][0]["deployed"], false);
    assert!(diff["stacks"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["action"] == "add"));

    let report = json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    assert_eq!(report["method"], "direct");
    assert_eq!(outcome(&report, "base"), "created");
    assert_eq!(outcome(&report, "app"), "created");

    // The emulator's view: base's bucket output became app's parameter,
    // and app imported base's export.
    let base = describe(&moto, "deployfix-base-local").expect("base exists");
    let app = describe(&moto, "deployfix-app-local").expect("app exists");
    let output = |s: &aws_sdk_cloudformation::types::Stack, k: &str| {
        s.outputs()
            .iter()
            .find(|o| o.output_key() == Some(k))
            .and_then(|o| o.output_value())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(output(&base, "FilesBucket"), "deployfix-base-files-local");
    assert_eq!(
        output(&app, "FilesBucketSeen"),
        "deployfix-base-files-local"
    );
    assert_eq!(
        output(&app, "ItemsTableImported"),
        "deployfix-base-items-local"
    );
    let tags: Vec<(String, String)> = app
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().into(), t.value().unwrap().into()))
        .collect();
    assert_eq!(tags, [("team".to_string(), "platform".to_string())]);

    // The table as DynamoDB has it: key, index and stream of base.yaml.
    let table = block(common::table_shape(&moto, "deployfix-base-items-local"));
    assert_eq!(
        table,
        common::TableShape {
            key: "id".into(),
            indexes: vec!["by-owner".into()],
            stream: Some("NEW_AND_OLD_IMAGES".into()),
        }
    );

    // Nothing changed: nothing is sent, and the exit code is 0.
    let again = json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    assert_eq!(outcome(&again, "base"), "unchanged");
    assert_eq!(outcome(&again, "app"), "unchanged");
    let app_again = describe(&moto, "deployfix-app-local").unwrap();
    assert_eq!(app_again.last_updated_time(), app.last_updated_time());
    json(dir, &moto, &["diff", "--env", "local", "--exit-code"], 0);

    // status and outputs, as text and as JSON.
    let status = json(dir, &moto, &["status", "--env", "local"], 0);
    assert_eq!(status["stacks"][0]["status"], "CREATE_COMPLETE");
    assert_eq!(status["stacks"][1]["deployed"], true);
    let outputs = json(dir, &moto, &["outputs", "--env", "local", "app"], 0);
    assert_eq!(
        outputs["stacks"][0]["outputs"]["FilesBucketSeen"],
        "deployfix-base-files-local"
    );
    let out = run(dir, &moto, &["outputs", "--env", "local"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("app (deployfix-app-local)"), "{shown}");
    assert!(
        shown.contains("FilesBucket  deployfix-base-files-local"),
        "{shown}"
    );

    // One parameter changes: diff shows exactly that, the deploy applies it.
    let project = dir.join("stackctl.yaml");
    let yaml = std::fs::read_to_string(&project).unwrap().replace(
        "    deploy_method: direct\n  # Change sets",
        "    deploy_method: direct\n    parameters:\n      app: {greeting: hi}\n  # Change sets",
    );
    std::fs::write(&project, yaml).unwrap();
    let diff = json(dir, &moto, &["diff", "--env", "local", "--exit-code"], 2);
    assert_eq!(diff["stacks"][0]["parameters"], serde_json::json!([]));
    assert_eq!(diff["stacks"][1]["resources"], serde_json::json!([]));
    assert_eq!(
        diff["stacks"][1]["parameters"],
        serde_json::json!([{"name": "Greeting", "before": "hello", "after": "hi"}])
    );
    let out = run(dir, &moto, &["diff", "--env", "local"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "without --exit-code: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("~ Greeting: hello -> hi"),
        "{}",
        text(&out)
    );
    let report = json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    assert_eq!(outcome(&report, "base"), "unchanged");
    assert_eq!(outcome(&report, "app"), "updated");
    let app = describe(&moto, "deployfix-app-local").unwrap();
    let greeting = app
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("Greeting"))
        .and_then(|p| p.parameter_value());
    assert_eq!(greeting, Some("hi"));
    json(dir, &moto, &["diff", "--env", "local", "--exit-code"], 0);
}

#[test]
fn without_a_terminal_deploy_and_destroy_need_yes() {
    let moto = Moto::start();
    let dir = copy_fixture("deploy-project");
    let refused = |args: &[&str]| {
        let out = run(dir.path(), &moto, args);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.contains("stdin is not a terminal"), "{err}");
        assert!(err.contains("hint: pass --yes"), "{err}");
        err
    };
    let err = refused(&["deploy", "--env", "local"]);
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(
        describe(&moto, "deployfix-base-local").is_none(),
        "nothing was deployed"
    );
    // Nothing deployed: nothing to delete, nothing to ask.
    let out = run(dir.path(), &moto, &["destroy", "--env", "local"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    json(dir.path(), &moto, &["deploy", "--env", "local", "--yes"], 0);
    refused(&["destroy", "--env", "local"]);
    assert!(
        describe(&moto, "deployfix-base-local").is_some(),
        "nothing was deleted"
    );
}

#[test]
fn an_endpoint_override_never_starts_an_emulator() {
    let dir = copy_fixture("deploy-project");
    let port = lambda_shared::testing::free_port();
    let out = stackctl()
        .arg("-C")
        .arg(dir.path())
        .args(["--endpoint-url", &format!("http://127.0.0.1:{port}")])
        .args(["deploy", "--env", "local", "--yes", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("error: nothing answers at http://127.0.0.1:{port}\nhint: check --endpoint-url / AWS_ENDPOINT_URL")),
        "{err}"
    );
    assert!(
        !dir.path()
            .join(format!(".stackctl/moto-{port}.pid"))
            .exists(),
        "nothing was started"
    );
}

#[test]
fn a_template_cloudformation_rejects_fails_in_one_clear_line() {
    let moto = Moto::start();
    let dir = copy_fixture("deploy-project");
    let app = dir.path().join("stacks/app.yaml");
    let yaml = std::fs::read_to_string(&app).unwrap().replace(
        "        - {Key: files, Value: {Ref: FilesBucket}}",
        // An export nothing provides: validate cannot know (exports come
        // from other stacks, even other tools), CloudFormation rejects it.
        "        - {Key: files, Value: {\"Fn::ImportValue\": deployfix-nowhere}}",
    );
    std::fs::write(&app, yaml).unwrap();
    let report = json(dir.path(), &moto, &["deploy", "--env", "local", "--yes"], 1);
    assert_eq!(outcome(&report, "base"), "created");
    assert_eq!(outcome(&report, "app"), "failed");
    let message = report["stacks"][1]["message"].as_str().unwrap();
    assert!(
        message.contains("No export named deployfix-nowhere found"),
        "CloudFormation's reason is shown: {message}"
    );

    // moto keeps a broken record of the rejected stack and answers every
    // later call about it with HTTP 500 and an HTML page: one clear line.
    let out = run(dir.path(), &moto, &["deploy", "--env", "local", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("deployfix-base-local  no changes"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains("deployfix-app-local   FAILED"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains("answered HTTP 500 with an HTML error page"),
        "{}",
        text(&out)
    );
    assert!(
        !stdout.contains("<html") && !stdout.contains("<!doctype"),
        "{}",
        text(&out)
    );
}

#[test]
fn destroy_refuses_to_strand_data_then_leaves_nothing_behind() {
    let moto = Moto::start();
    let dir = copy_fixture("deploy-project");
    let dir = dir.path();
    json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    block(async {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&moto.sdk_config().await)
                .force_path_style(true)
                .build(),
        );
        s3.put_object()
            .bucket("deployfix-base-files-local")
            .key("report.csv")
            .body(b"a,b\n".to_vec().into())
            .send()
            .await
            .unwrap();
    });

    // Only base: app depends on it and is still deployed.
    let out = run(dir, &moto, &["destroy", "--env", "local", "--yes", "base"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stack `app` depends on `base`"));

    // The bucket holds an object: refused before anything is deleted.
    let out = run(dir, &moto, &["destroy", "--env", "local", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("s3://deployfix-base-files-local (stack base): 1 object"),
        "{err}"
    );
    assert!(err.contains("--empty-buckets"), "{err}");
    assert!(
        describe(&moto, "deployfix-app-local").is_some(),
        "nothing was deleted"
    );

    let report = json(
        dir,
        &moto,
        &["destroy", "--env", "local", "--yes", "--empty-buckets"],
        0,
    );
    assert_eq!(report["stacks"][0]["stack"], "app", "dependents go first");
    assert_eq!(outcome(&report, "app"), "deleted");
    assert_eq!(outcome(&report, "base"), "deleted");
    assert_eq!(report["emptied"][0]["objects"], 1);
    assert!(describe(&moto, "deployfix-base-local").is_none());
    assert!(describe(&moto, "deployfix-app-local").is_none());
    block(async {
        let sdk = moto.sdk_config().await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        let buckets = s3.list_buckets().send().await.unwrap();
        let names: Vec<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
        assert!(names.is_empty(), "buckets left: {names:?}");
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        let tables = ddb.list_tables().send().await.unwrap();
        assert!(
            tables.table_names().is_empty(),
            "{:?}",
            tables.table_names()
        );
    });

    // Again: nothing is deployed, nothing to do.
    let report = json(dir, &moto, &["destroy", "--env", "local", "--yes"], 0);
    assert_eq!(outcome(&report, "base"), "not_deployed");
}

#[test]
fn a_protected_environment_needs_its_name_and_keeps_its_data() {
    let moto = Moto::start();
    let dir = copy_fixture("deploy-project");
    let dir = dir.path();
    json(dir, &moto, &["deploy", "--env", "prod", "--yes"], 0);

    let out = run(dir, &moto, &["destroy", "--env", "prod", "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --confirm-env prod"));
    let out = run(
        dir,
        &moto,
        &["destroy", "--env", "prod", "--confirm-env", "dev"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = run(
        dir,
        &moto,
        &[
            "destroy",
            "--env",
            "prod",
            "--confirm-env",
            "prod",
            "--empty-buckets",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("never deletes its data"));
    assert!(describe(&moto, "deployfix-base-prod").is_some());

    let report = json(
        dir,
        &moto,
        &["destroy", "--env", "prod", "--confirm-env", "prod"],
        0,
    );
    assert_eq!(outcome(&report, "base"), "deleted");
    let kept: Vec<&str> = report["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["logical_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        kept,
        ["AccessLogs", "Files", "Items"],
        "prod retains its bucket, its table and the bucket's access logs"
    );
    assert!(describe(&moto, "deployfix-base-prod").is_none());
}

#[test]
fn an_unreachable_endpoint_and_missing_credentials_are_one_line_each() {
    let dir = copy_fixture("deploy-project");
    // A loopback endpoint where nothing listens: status starts no emulator.
    let port = lambda_shared::testing::free_port();
    let out = stackctl()
        .arg("-C")
        .arg(dir.path())
        .args(["status", "--env", "local", "--endpoint-url"])
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("hint:"),
        "{err}"
    );

    // A name that does not resolve.
    let out = stackctl()
        .arg("-C")
        .arg(dir.path())
        .args([
            "status",
            "--env",
            "local",
            "--endpoint-url",
            "http://aws.invalid:4566",
        ])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach the endpoint"), "{err}");
    assert_eq!(err.lines().count(), 2, "one line and a hint: {err}");

    // Real AWS (no endpoint) without any credentials.
    let home = tempfile::tempdir().unwrap();
    let project = dir.path().join("stackctl.yaml");
    let yaml = std::fs::read_to_string(&project).unwrap().replace(
        "    endpoint_url: http://127.0.0.1:5000\n    emulator: moto\n    deploy_method: direct\n",
        "    deploy_method: direct\n",
    );
    std::fs::write(&project, yaml).unwrap();
    let without_credentials = |args: &[&str]| {
        let mut cmd = stackctl();
        for var in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", home.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", home.path().join("config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                home.path().join("credentials"),
            )
            .arg("-C")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = without_credentials(&["status", "--env", "local"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no AWS credentials"), "{err}");
    assert!(err.contains("hint: set AWS_PROFILE"), "{err}");
    // deploy and diff stop at their first call, as one error (not a
    // failed stack in a report).
    for args in [
        &["deploy", "--env", "local", "--yes"][..],
        &["diff", "--env", "local"][..],
    ] {
        let out = without_credentials(args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(out.stdout.is_empty(), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error: describing stack deployfix-base-local: no AWS credentials"),
            "{err}"
        );
    }
}

/// Kills the moto server a command started, even when an assertion fails.
struct Started(Option<String>);

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(pid) = &self.0 {
            let _ = std::process::Command::new("kill").arg(pid).status();
        }
    }
}

#[test]
fn deploy_starts_the_local_emulator_when_nothing_answers() {
    let dir = copy_fixture("deploy-project");
    let port = lambda_shared::testing::free_port();
    let project = dir.path().join("stackctl.yaml");
    let yaml = std::fs::read_to_string(&project).unwrap().replacen(
        "endpoint_url: http://127.0.0.1:5000",
        &format!("endpoint_url: http://127.0.0.1:{port}"),
        1,
    );
    std::fs::write(&project, yaml).unwrap();
    let out = stackctl()
        .arg("-C")
        .arg(dir.path())
        .args(["deploy", "--env", "local", "--yes"])
        .output()
        .unwrap();
    let pid_file = dir.path().join(format!(".stackctl/moto-{port}.pid"));
    let _guard = Started(
        std::fs::read_to_string(&pid_file)
            .ok()
            .map(|p| p.trim().to_string()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let pid = _guard.0.clone().expect("a pid file");
    assert!(
        err.contains(&format!(
            "started the local AWS emulator (moto) at http://127.0.0.1:{port}"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("kill {pid}")),
        "says how to stop it: {err}"
    );
    // CI logs get one line per stack event.
    assert!(
        err.contains("base  deployfix-base-local  AWS::CloudFormation::Stack  CREATE_COMPLETE"),
        "{err}"
    );

    // The emulator outlives the command: the next one finds the stacks.
    let out = stackctl()
        .arg("-C")
        .arg(dir.path())
        .args(["status", "--env", "local", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["stacks"][0]["status"], "CREATE_COMPLETE");
    assert!(out.stderr.is_empty(), "no second start: {}", text(&out));

    // --quiet: only the result.
    let out = stackctl()
        .arg("-C")
        .arg(dir.path())
        .args(["deploy", "--env", "local", "--yes", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stderr.is_empty(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).ends_with("2 stacks in local: 2 unchanged\n"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_ci_example_diffs_deploys_then_finds_nothing_to_change() {
    let moto = Moto::start();
    let dir = copy_fixture("deploy-project");
    let script = common::repo().join("examples/ci/pipeline.sh");
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_stackctl"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // dev, at the emulator's endpoint through AWS_ENDPOINT_URL.
    let pipeline = |deploy: &str| {
        std::process::Command::new("bash")
            .arg(&script)
            .arg("dev")
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("DEPLOY", deploy)
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .unwrap()
    };
    let out = pipeline("1");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("+ deployfix-base-dev (base): not deployed"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains("2 stacks in dev: 2 created"),
        "{}",
        text(&out)
    );
    // moto's change sets drop outputs: at a local endpoint deploy is direct.
    let outputs: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("stack-outputs.json")).unwrap())
            .unwrap();
    assert_eq!(
        outputs["stacks"][0]["outputs"]["FilesBucket"],
        "deployfix-base-files-dev"
    );
    assert_eq!(
        outputs["stacks"][1]["outputs"]["FilesBucketSeen"],
        "deployfix-base-files-dev"
    );

    let out = pipeline("1");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).ends_with("no changes in dev\n"),
        "{}",
        text(&out)
    );
}

#[test]
fn an_emulator_environment_ignores_a_stray_aws_profile() {
    let moto = Moto::start();
    let dir = copy_fixture("deploy-project");
    let out = stackctl()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_PROFILE", "no-such-profile")
        .arg("-C")
        .arg(dir.path())
        .args(["--endpoint-url", &moto.endpoint])
        .args(["status", "--env", "local"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn another_program_on_the_port_is_named_as_such() {
    // Answers every request with 404 and an empty body, as a web server
    // that is not AWS would.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let dir = copy_fixture("deploy-project");
    let out = stackctl()
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .arg("-C")
        .arg(dir.path())
        .args(["--endpoint-url", &format!("http://127.0.0.1:{port}")])
        .args(["status", "--env", "local"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the endpoint answered HTTP 404 with an empty body, not an AWS response (is something other than AWS or an emulator listening at the endpoint?)"),
        "{err}"
    );
    assert!(!err.contains("unhandled error"), "{err}");
}
