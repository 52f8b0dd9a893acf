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
        // moto does not speak CloudWatch's protocol of the Rust SDK
        // (RPC v2 CBOR): metric checks skip, saying so.
        ("app/function/greeter/errors", "skip"),
        ("app/function/greeter/state", "pass"),
        ("app/function/greeter/throttles", "skip"),
        ("app/queue/jobs/dead_letter", "pass"),
        ("app/queue/jobs/dead_letter_age", "skip"),
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
    assert_eq!(
        check(&report, "app/function/greeter/errors").1,
        stackctl::health::metrics::EMULATOR_SKIP
    );
    assert_eq!(report["counts"]["skip"], 6);
    // The text report: nothing needs a look, so only the verdict.
    let out = run(dir, &moto, &["health", "--env", "local"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("healthy in local: 12 passed, 6 skipped (18 checks in "),
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

/// Minimal CBOR for a GetMetricData answer: maps, arrays, text, doubles.
enum Cbor {
    Map(Vec<(&'static str, Cbor)>),
    List(Vec<Cbor>),
    Text(String),
    Double(f64),
}

impl Cbor {
    fn head(out: &mut Vec<u8>, major: u8, n: usize) {
        match n {
            0..=23 => out.push(major << 5 | n as u8),
            24..=255 => out.extend([major << 5 | 24, n as u8]),
            _ => {
                out.push(major << 5 | 25);
                out.extend((n as u16).to_be_bytes());
            }
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Cbor::Map(entries) => {
                Self::head(out, 5, entries.len());
                for (k, v) in entries {
                    Cbor::Text(k.to_string()).encode(out);
                    v.encode(out);
                }
            }
            Cbor::List(items) => {
                Self::head(out, 4, items.len());
                for i in items {
                    i.encode(out);
                }
            }
            Cbor::Text(s) => {
                Self::head(out, 3, s.len());
                out.extend(s.as_bytes());
            }
            Cbor::Double(d) => {
                out.push(0xfb);
                out.extend(d.to_be_bytes());
            }
        }
    }
}

/// One GetMetricData result in CBOR.
fn metric_result(id: &str, values: &[f64], status: &str) -> Cbor {
    Cbor::Map(vec![
        ("Id", Cbor::Text(id.into())),
        (
            "Values",
            Cbor::List(values.iter().map(|v| Cbor::Double(*v)).collect()),
        ),
        ("StatusCode", Cbor::Text(status.into())),
    ])
}

/// Reads one HTTP request from `stream`: its head and body.
fn read_request(stream: &mut std::net::TcpStream) -> (String, Vec<u8>) {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (head, body)
}

/// The SDK calls of `health`'s metric reads, against a local server that
/// answers GetMetricData in CloudWatch's RPC v2 CBOR protocol (moto does
/// not speak it): the queries go out with their ids, metric, dimension and
/// statistic, and both pages come back with each result's values and
/// status.
#[test]
fn get_metric_data_is_asked_and_read_in_cloudwatchs_protocol() {
    use stackctl::aws::resources::{MetricQuery, MetricRequest, Resources, SdkResources, Stat};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let pages = [
            Cbor::Map(vec![
                (
                    "MetricDataResults",
                    Cbor::List(vec![
                        metric_result("m0", &[2.0], "PartialData"),
                        metric_result("m1", &[], "Forbidden"),
                    ]),
                ),
                ("NextToken", Cbor::Text("page-2".into())),
            ]),
            Cbor::Map(vec![(
                "MetricDataResults",
                Cbor::List(vec![metric_result("m0", &[3.5], "Complete")]),
            )]),
        ];
        let mut seen = Vec::new();
        for page in pages {
            let (mut stream, _) = listener.accept().unwrap();
            let (head, body) = read_request(&mut stream);
            let mut out = Vec::new();
            page.encode(&mut out);
            let response = format!(
                "HTTP/1.1 200 OK\r\nsmithy-protocol: rpc-v2-cbor\r\ncontent-type: application/cbor\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                out.len()
            );
            std::io::Write::write_all(&mut stream, response.as_bytes()).unwrap();
            std::io::Write::write_all(&mut stream, &out).unwrap();
            seen.push((head, body));
        }
        seen
    });
    let page = |token: Option<&str>| MetricRequest {
        queries: vec![
            (
                "m0".into(),
                MetricQuery::new("AWS/Lambda", "Errors", "FunctionName", "fn-a", Stat::Sum),
            ),
            (
                "m1".into(),
                MetricQuery::new(
                    "AWS/SQS",
                    "ApproximateAgeOfOldestMessage",
                    "QueueName",
                    "q-dlq",
                    Stat::Maximum,
                ),
            ),
        ],
        start: std::time::SystemTime::now() - std::time::Duration::from_secs(900),
        end: std::time::SystemTime::now(),
        period_s: 900,
        next_token: token.map(str::to_string),
    };
    let (first, second) = block(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "a", "b", None, None, "test",
            ))
            .load()
            .await;
        let aws = SdkResources::new(&config);
        let first = aws.metric_data(&page(None)).await.unwrap();
        let second = aws.metric_data(&page(Some("page-2"))).await.unwrap();
        (first, second)
    });
    assert_eq!(first.next_token.as_deref(), Some("page-2"));
    assert_eq!(
        first
            .results
            .iter()
            .map(|r| (r.id.as_str(), r.values.clone(), r.status.as_str()))
            .collect::<Vec<_>>(),
        [
            ("m0", vec![2.0], "PartialData"),
            ("m1", vec![], "Forbidden")
        ]
    );
    assert_eq!(second.next_token, None);
    assert_eq!(second.results[0].values, vec![3.5]);
    let seen = server.join().unwrap();
    let (head, body) = &seen[0];
    assert!(
        head.starts_with("POST /service/GraniteServiceVersion20100801/operation/GetMetricData "),
        "{head}"
    );
    let has = |b: &[u8], s: &str| b.windows(s.len()).any(|w| w == s.as_bytes());
    for text in [
        "m0",
        "m1",
        "AWS/Lambda",
        "Errors",
        "FunctionName",
        "fn-a",
        "Sum",
        "QueueName",
        "q-dlq",
        "Maximum",
    ] {
        assert!(has(body, text), "{text} not in the request");
    }
    assert!(!has(body, "page-2"));
    assert!(has(&seen[1].1, "page-2"));
}
