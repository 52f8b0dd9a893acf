//! `stackctl health` against a moto server started by the test:
//! `tests/fixtures/health-project` (a function on a schedule with an alarm,
//! a table with TTL, PITR and an index, a queue with a dead-letter queue, a
//! private bucket; and a second stack) is deployed and found healthy, then
//! broken through the services' own APIs, one thing at a time, and each
//! break is found with its check id, status and exit code.
//!
//! moto's CloudFormation applies neither TTL, PITR nor a bucket's public
//! access block, so on a fresh deploy those checks are `skip`. The test sets
//! them through the APIs first, as CloudFormation does on AWS, and then
//! turns them off: a TTL or a block that was set and is now off is judged
//! (and fails) on moto too. moto creates no alarms either: the test puts
//! one under the rendered name (PutMetricAlarm) and sets it to ALARM.

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
const RULE: &str = "healthfix-app-nightly-local";
const ALARM: &str = "healthfix-app-greeter-errors-local";

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
        // moto creates no alarms.
        ("app/alarm/greeter_errors/state", "skip"),
        ("app/bucket/files/encryption", "pass"),
        ("app/bucket/files/exists", "pass"),
        ("app/bucket/files/public_access", "skip"),
        ("app/function/greeter/code", "pass"),
        ("app/function/greeter/concurrency", "pass"),
        // No invocations in the window: nothing to judge, a pass.
        ("app/function/greeter/errors", "pass"),
        ("app/function/greeter/role", "pass"),
        ("app/function/greeter/state", "pass"),
        ("app/function/greeter/throttles", "pass"),
        ("app/queue/jobs/dead_letter", "pass"),
        ("app/queue/jobs/dead_letter_age", "pass"),
        ("app/schedule/nightly/enabled", "pass"),
        ("app/schedule/nightly/target", "pass"),
        // moto lists the bucket policy and the alarm (placeholders there)
        // without ids.
        ("app/stack/resources", "skip"),
        ("app/stack/status", "pass"),
        ("app/stack/template", "pass"),
        ("app/table/sessions/indexes", "pass"),
        ("app/table/sessions/pitr", "skip"),
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
    assert_eq!(report["counts"]["pass"], 19);
    assert_eq!(report["counts"]["skip"], 5);
    // A stack named as an option is selected as a STACK argument is.
    let extra = health(dir, &moto, &["--stack", "extra"], 0);
    let ids: Vec<String> = statuses(&extra).into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        ids,
        [
            "extra/stack/resources",
            "extra/stack/status",
            "extra/stack/template"
        ],
        "{extra:#}"
    );
    // The text report: nothing needs a look, so only the verdict.
    let out = run(dir, &moto, &["health", "--env", "local"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("healthy in local: 19 passed, 5 skipped (24 checks in "),
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
        let iam = aws_sdk_iam::Client::new(&config);
        let events = aws_sdk_eventbridge::Client::new(&config);
        let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);

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
        assert_eq!(report["checks"].as_array().unwrap().len(), 2);
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

        // Point-in-time recovery: turned on as CloudFormation does on AWS,
        // it is judged (pass).
        ddb.update_continuous_backups()
            .table_name(TABLE)
            .point_in_time_recovery_specification(
                aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(true)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let report = health(dir, &moto, &["--only", "table"], 1);
        assert_eq!(
            check(&report, "app/table/sessions/pitr"),
            (
                "pass".into(),
                "point-in-time recovery on, as declared".into()
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
        assert_eq!(check(&report, "app/bucket/files/encryption").0, "pass");

        // Default encryption removed (moto applies the template's, so it
        // is judged there): fail.
        s3.delete_bucket_encryption()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        let report = health(dir, &moto, &["--only", "bucket"], 1);
        assert_eq!(
            check(&report, "app/bucket/files/encryption"),
            ("fail".into(), "no default encryption".into())
        );

        // A statement with Resource `*` added by hand to the function's
        // role: fail, naming the statement.
        let role = cfn
            .list_stack_resources()
            .stack_name("healthfix-app-local")
            .send()
            .await
            .unwrap()
            .stack_resource_summaries()
            .iter()
            .find(|r| r.logical_resource_id() == Some("GreeterRole"))
            .and_then(|r| r.physical_resource_id())
            .expect("the role in the stack")
            .to_string();
        let doc = iam
            .get_role_policy()
            .role_name(&role)
            .policy_name("GreeterAccess")
            .send()
            .await
            .unwrap()
            .policy_document()
            .to_string();
        let mut doc = stackctl::health::iam::parse_document(&doc).expect("a policy document");
        doc["Statement"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(
                {"Sid": "HandAdded", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
            ));
        iam.put_role_policy()
            .role_name(&role)
            .policy_name("GreeterAccess")
            .policy_document(doc.to_string())
            .send()
            .await
            .unwrap();
        let report = health(dir, &moto, &["--only", "function"], 1);
        assert_eq!(
            check(&report, "app/function/greeter/role"),
            (
                "fail".into(),
                "allows a `*` resource: GreeterAccess: statement `HandAdded` allows s3:GetObject on *".into()
            )
        );
        assert_eq!(check(&report, "app/function/greeter/state").0, "pass");

        // The schedule's rule disabled out of band: fail.
        events.disable_rule().name(RULE).send().await.unwrap();
        let report = health(dir, &moto, &["--only", "schedule"], 1);
        assert_eq!(
            check(&report, "app/schedule/nightly/enabled"),
            (
                "fail".into(),
                "the rule is DISABLED: the function is not invoked on schedule".into()
            )
        );
        assert_eq!(check(&report, "app/schedule/nightly/target").0, "pass");

        // The alarm, put under its rendered name (moto's CloudFormation
        // creates none) and set to ALARM: fail, with its reason.
        cloudwatch
            .put_metric_alarm()
            .alarm_name(ALARM)
            .namespace("AWS/Lambda")
            .metric_name("Errors")
            .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
            .period(300)
            .evaluation_periods(1)
            .threshold(0.0)
            .comparison_operator(
                aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold,
            )
            .send()
            .await
            .unwrap();
        let report = health(dir, &moto, &["--only", "alarm"], 0);
        assert_eq!(check(&report, "app/alarm/greeter_errors/state").0, "pass");
        cloudwatch
            .set_alarm_state()
            .alarm_name(ALARM)
            .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
            .state_reason(
                "Threshold Crossed: 1 datapoint [2.0] was greater than the threshold (0.0)",
            )
            .send()
            .await
            .unwrap();
        let report = health(dir, &moto, &["--only", "alarm"], 1);
        let (status, reason) = check(&report, "app/alarm/greeter_errors/state");
        assert_eq!(status, "fail");
        assert!(reason.starts_with("in ALARM since 20"), "{reason}");
        assert!(
            reason.ends_with(
                ": Threshold Crossed: 1 datapoint [2.0] was greater than the threshold (0.0)"
            ),
            "{reason}"
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
            "FAIL    app/alarm/greeter_errors/state",
            "FAIL    app/bucket/files/encryption",
            "FAIL    app/bucket/files/public_access",
            "FAIL    app/function/greeter/code",
            "FAIL    app/function/greeter/role",
            "FAIL    app/schedule/nightly/enabled",
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

/// `--print-policy`: valid JSON, read-only actions of every checked kind on
/// the fixture's exact resources, never `*` but where IAM takes only `*`;
/// nothing is read from AWS (no server runs).
#[test]
fn the_printed_policy_is_read_only_and_names_exact_resources() {
    let dir = copy_fixture("health-project");
    let out = common::stackctl()
        .current_dir(dir.path())
        .args(["health", "--print-policy", "--env", "local"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let policy: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(policy["Version"], "2012-10-17");
    let statements = policy["Statement"].as_array().unwrap();
    let mut actions: Vec<String> = Vec::new();
    for s in statements {
        assert_eq!(s["Effect"], "Allow");
        let these: Vec<&str> = s["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        for a in &these {
            let verb = a.split(':').nth(1).unwrap();
            assert!(
                ["Get", "List", "Describe"]
                    .iter()
                    .any(|p| verb.starts_with(p)),
                "{a} is not read-only"
            );
        }
        // Nothing on `*` but what IAM grants only on `*`, which says so.
        if s["Sid"].as_str().unwrap().ends_with("OnlyStar") {
            assert_eq!(s["Resource"], "*", "{s}");
            actions.extend(these.iter().map(|a| a.to_string()));
            continue;
        }
        assert_ne!(s["Resource"], "*", "{s}");
        for r in s["Resource"].as_array().unwrap() {
            let r = r.as_str().unwrap();
            assert!(r.starts_with("arn:aws:"), "{r}");
        }
        actions.extend(these.iter().map(|a| a.to_string()));
    }
    for want in [
        "cloudformation:DescribeStacks",
        "cloudformation:GetTemplate",
        "cloudformation:ListStackResources",
        "lambda:GetFunction",
        "iam:GetRolePolicy",
        "iam:ListAttachedRolePolicies",
        "dynamodb:DescribeTable",
        "dynamodb:DescribeContinuousBackups",
        "sqs:GetQueueAttributes",
        "s3:GetEncryptionConfiguration",
        "events:DescribeRule",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:GetMetricData",
    ] {
        assert!(
            actions.iter().any(|a| a == want),
            "{want} missing from {policy:#}"
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("\"arn:aws:dynamodb:us-east-1:${aws:PrincipalAccount}:table/healthfix-app-sessions-local\""),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "\"arn:aws:iam::${aws:PrincipalAccount}:role/healthfix-app-local-GreeterRole-*\""
        ),
        "{stdout}"
    );
    // --only narrows it to that kind's reads (and the stacks' own).
    let out = common::stackctl()
        .current_dir(dir.path())
        .args([
            "health",
            "--print-policy",
            "--env",
            "local",
            "--only",
            "alarm",
            "app",
        ])
        .output()
        .unwrap();
    let policy: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let sids: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids, ["ReadAlarms", "ReadStacks"]);
}

/// moto's CloudFormation makes API Gateway v2 resources placeholders, so
/// the API checks skip there (see the unit tests for their judgements);
/// its API Gateway v2 *API* works. An API made through it, out of band,
/// is read by stackctl's SDK calls and judged as `health` judges a
/// deployed one: routes to the right function or not, and the function's
/// resource policy naming the API or not.
#[test]
fn an_api_made_through_the_emulators_own_api_is_read_and_judged() {
    use aws_sdk_apigatewayv2::types::{IntegrationType, ProtocolType};
    use stackctl::aws::cloudformation::ErrorKind;
    use stackctl::aws::resources::{Resources, SdkResources};
    use stackctl::health::Status;
    use stackctl::kinds::api;

    let moto = Moto::start();
    block(async {
        let config = moto.sdk_config().await;
        let iam = aws_sdk_iam::Client::new(&config);
        let lambda = aws_sdk_lambda::Client::new(&config);
        let gw = aws_sdk_apigatewayv2::Client::new(&config);
        let role = iam
            .create_role()
            .role_name("oob")
            .assume_role_policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            )
            .send()
            .await
            .unwrap();
        let role_arn = role.role().unwrap().arn().to_string();
        let mut arns = Vec::new();
        for name in ["oob-greeter", "oob-other"] {
            let f = lambda
                .create_function()
                .function_name(name)
                .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
                .handler("bootstrap")
                .role(&role_arn)
                .code(
                    aws_sdk_lambda::types::FunctionCode::builder()
                        .zip_file(aws_sdk_lambda::primitives::Blob::new(other_zip()))
                        .build(),
                )
                .send()
                .await
                .unwrap();
            arns.push(f.function_arn().unwrap().to_string());
        }
        let made = gw
            .create_api()
            .name("oob")
            .protocol_type(ProtocolType::Http)
            .send()
            .await
            .unwrap();
        let id = made.api_id().unwrap().to_string();
        let mut integrations = Vec::new();
        for arn in &arns {
            let i = gw
                .create_integration()
                .api_id(&id)
                .integration_type(IntegrationType::AwsProxy)
                .integration_uri(arn)
                .payload_format_version("2.0")
                .send()
                .await
                .unwrap();
            integrations.push(i.integration_id().unwrap().to_string());
        }
        for (key, integration) in [
            ("GET /hello", &integrations[0]),
            ("POST /other", &integrations[1]),
        ] {
            gw.create_route()
                .api_id(&id)
                .route_key(key)
                .target(format!("integrations/{integration}"))
                .send()
                .await
                .unwrap();
        }
        gw.create_stage()
            .api_id(&id)
            .stage_name("local")
            .auto_deploy(true)
            .send()
            .await
            .unwrap();

        let aws = SdkResources::new(&config);
        let state = aws.api(&id).await.unwrap();
        assert_eq!(state.protocol, "HTTP");
        assert_eq!(state.stages, ["local"]);
        let mut routes = state.routes.clone();
        routes.sort();
        assert_eq!(
            routes,
            [
                (
                    "GET /hello".to_string(),
                    Some(format!("integrations/{}", integrations[0]))
                ),
                (
                    "POST /other".to_string(),
                    Some(format!("integrations/{}", integrations[1]))
                ),
            ]
        );
        let functions = [
            ("Greeter".to_string(), "oob-greeter".to_string()),
            ("Other".to_string(), "oob-other".to_string()),
        ]
        .into();
        let declared = |other: &str| api::Declared {
            stage: Some("local".into()),
            routes: vec![
                ("GET /hello".into(), Some("Greeter".into())),
                ("POST /other".into(), Some(other.into())),
            ],
            invokers: ["Greeter".to_string(), "Other".to_string()].into(),
        };
        assert_eq!(api::health_api(&state, "HTTP").status, Status::Pass);
        assert_eq!(
            api::health_stage(&state, &declared("Other"), "local", "app").status,
            Status::Pass
        );
        let routes = api::health_routes(&state, &declared("Other"), &functions, "local");
        assert_eq!(routes.status, Status::Pass, "{routes:?}");
        // Declared to invoke the greeter, deployed to invoke the other.
        let routes = api::health_routes(&state, &declared("Greeter"), &functions, "local");
        assert_eq!(
            (routes.status, routes.reason.as_str()),
            (
                Status::Fail,
                "route `POST /other` invokes oob-other, not oob-greeter"
            )
        );

        // No policy yet: the API may not invoke the function.
        assert_eq!(aws.function_policy("oob-greeter").await.unwrap(), None);
        let permission = api::health_permission(&id, &[("oob-greeter".into(), None)], "local");
        assert_eq!(permission.status, Status::Fail);
        // Another API's permission does not count; this API's does.
        for (sid, api_id) in [("other-api", "zzz999"), ("this-api", id.as_str())] {
            lambda
                .add_permission()
                .function_name("oob-greeter")
                .statement_id(sid)
                .action("lambda:InvokeFunction")
                .principal("apigateway.amazonaws.com")
                .source_arn(format!(
                    "arn:aws:execute-api:us-east-1:123456789012:{api_id}/*"
                ))
                .send()
                .await
                .unwrap();
            let policy = aws.function_policy("oob-greeter").await.unwrap();
            let want = sid == "this-api";
            assert_eq!(
                api::policy_allows(policy.as_deref().unwrap(), &id) == Some(true),
                want,
                "{policy:?}"
            );
        }
        let policy = aws.function_policy("oob-greeter").await.unwrap();
        let permission = api::health_permission(&id, &[("oob-greeter".into(), policy)], "local");
        assert_eq!(permission.status, Status::Pass, "{permission:?}");

        // An API that does not exist is told from one that cannot be read.
        let e = aws.api("nope0000").await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound, "{e:?}");
    });
}

/// Metric windows through GetMetricData, against moto: data points put
/// for the fixture's function and dead-letter queue are read back in one
/// batch and judged (a 50 % error rate fails, a throttle warns, an old
/// dead letter warns).
#[test]
fn metric_windows_are_read_and_judged() {
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
    let moto = Moto::start();
    let dir = copy_fixture("health-project");
    let dir = dir.path();
    json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    block(async {
        let config = moto.sdk_config().await;
        let cw = aws_sdk_cloudwatch::Client::new(&config);
        let datum = |metric: &str, dimension: &str, value: &str, n: f64| {
            MetricDatum::builder()
                .metric_name(metric)
                .dimensions(Dimension::builder().name(dimension).value(value).build())
                .value(n)
                .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(
                    std::time::SystemTime::now() - std::time::Duration::from_secs(60),
                ))
                .build()
        };
        cw.put_metric_data()
            .namespace("AWS/Lambda")
            .metric_data(datum("Invocations", "FunctionName", FUNCTION, 10.0))
            .metric_data(datum("Errors", "FunctionName", FUNCTION, 5.0))
            .metric_data(datum("Throttles", "FunctionName", FUNCTION, 1.0))
            .send()
            .await
            .unwrap();
        cw.put_metric_data()
            .namespace("AWS/SQS")
            .metric_data(datum(
                "ApproximateAgeOfOldestMessage",
                "QueueName",
                DLQ,
                120.0,
            ))
            .send()
            .await
            .unwrap();
    });
    let report = health(dir, &moto, &["--only", "function", "--only", "queue"], 1);
    let (status, why) = check(&report, "app/function/greeter/errors");
    assert_eq!(status, "fail", "{report:#}");
    assert!(why.contains("50"), "{why}");
    let (status, why) = check(&report, "app/function/greeter/throttles");
    assert_eq!(status, "warn", "{report:#}");
    assert!(why.starts_with("1 invocation throttled"), "{why}");
    let (status, _) = check(&report, "app/queue/jobs/dead_letter_age");
    assert_eq!(status, "warn", "{report:#}");
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
            " (2 runs): every check passed 2 runs in a row\nhealthy in local: 19 passed, 5 skipped"
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
        xml.contains(r#"<testsuites name="stackctl health local" tests="24" failures="0" errors="0" skipped="5""#),
        "{xml}"
    );
    assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 24, "{xml}");
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
