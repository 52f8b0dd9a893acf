//! The repository's own system, its three stacks with their thirteen
//! functions, deployed to a moto server started by each test, once per
//! deploy method, from a copy of the repository whose local PostgreSQL and
//! Redis listen on free ports. What the emulator created is read back
//! through each service's API: the functions (runtime, handler,
//! environment, and the code of the zip `stackctl build` made), their
//! roles' policies, the tables, the log groups, the schedules, and the
//! media database's migrated schema.

mod common;

use common::{block, stackctl, system_copy};
use lambda_shared::testing::Moto;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn run(dir: &Path, moto: &Moto, args: &[&str]) -> Output {
    stackctl()
        .env_remove("CARGO_TARGET_DIR")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .current_dir(dir)
        .args(["--endpoint-url", &moto.endpoint])
        .args(args)
        .output()
        .unwrap()
}

fn json(dir: &Path, moto: &Moto, args: &[&str]) -> Value {
    let out = run(dir, moto, &[args, &["--output", "json"]].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn outcomes(report: &Value) -> Vec<(String, String)> {
    report["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stack"].as_str().unwrap().to_string(),
                s["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The sha256 (hex) of each function's zip, as the deploy published it.
fn published(report: &Value) -> Vec<(String, String)> {
    report["artefacts"]["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["crate_name"].as_str().unwrap().to_string(),
                f["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Checks, through the services' APIs, what the deploy created.
fn check_resources(moto: &Moto, zips: &[(String, String)]) {
    block(async {
        let sdk = moto.sdk_config().await;

        // Functions: runtime, handler, environment, code = the published zip.
        // moto answers GetFunction with the numbers of Ref'd Number
        // parameters as JSON numbers where AWS has strings, which the Rust
        // SDK rejects; the configuration is read as plain HTTP (moto checks
        // no signatures) and values compared as text.
        let functions = [
            ("studio-upload-create-upload-local", "create-upload"),
            ("studio-upload-upload-parts-local", "upload-parts"),
            ("studio-upload-complete-upload-local", "complete-upload"),
            ("studio-upload-process-object-local", "process-object"),
            ("studio-upload-cleanup-local", "cleanup"),
            ("studio-qr-upload-http-api-local", "qr-http-api"),
            (
                "studio-qr-upload-websocket-event-local",
                "qr-websocket-event",
            ),
            ("studio-media-media-authorizer-local", "media-authorizer"),
            ("studio-media-generate-media-local", "generate-media"),
            ("studio-media-replicate-webhook-local", "replicate-webhook"),
            ("studio-media-process-result-local", "process-result"),
            ("studio-media-get-status-local", "get-status"),
            ("studio-media-check-stuck-jobs-local", "check-stuck-jobs"),
        ];
        let mut role_of_create = String::new();
        for (name, krate) in functions {
            let f = common::function_description(moto, name);
            let c = &f["Configuration"];
            assert_eq!(c["Runtime"], "provided.al2023", "{name}");
            assert_eq!(c["Handler"], "bootstrap", "{name}");
            let sha = &zips.iter().find(|(k, _)| k == krate).unwrap().1;
            assert_eq!(
                c["CodeSha256"],
                base64_of_hex(sha),
                "{name} runs the published zip"
            );
            let key = format!("functions/{krate}/{sha}.zip");
            assert!(
                f["Code"]["Location"].as_str().unwrap().ends_with(&key),
                "{name}: {}",
                f["Code"]
            );
            let var = |k: &str| -> String {
                match &c["Environment"]["Variables"][k] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }
            };
            if name.starts_with("studio-media-") {
                if krate != "media-authorizer" {
                    // Bound to the PostgreSQL and Redis deploy started.
                    assert_eq!(var("CACHE_HOST"), "127.0.0.1", "{name}");
                    assert_eq!(var("CACHE_TLS"), "false", "{name}");
                    assert_eq!(
                        c["VpcConfig"]["SubnetIds"].as_array().map(Vec::len),
                        Some(2),
                        "{name}"
                    );
                }
                if krate == "generate-media" {
                    assert_eq!(var("DB_HOST"), "127.0.0.1");
                    assert_eq!(var("DB_TLS"), "false");
                    assert_eq!(var("DB_NAME"), "media");
                    assert_eq!(var("REALTIME_TABLE"), "studio-media-realtime-jobs-local");
                    assert!(var("MODELS").contains("flux-schnell"));
                }
            } else if krate.starts_with("qr-") {
                assert_eq!(
                    var("SESSIONS_TABLE_NAME"),
                    "studio-qr-upload-sessions-local"
                );
            } else {
                assert_eq!(var("TABLE_NAME"), "studio-upload-sessions-local", "{name}");
                assert_eq!(var("BUCKET_NAME"), "studio-upload-ingest-local", "{name}");
            }
            if krate == "create-upload" {
                assert_eq!(var("SINGLE_MAX_BYTES"), "26214400");
                assert_eq!(var("PART_SIZE"), "5242880");
                assert_eq!(var("URL_EXPIRY_SECONDS"), "300");
                role_of_create = c["Role"].as_str().unwrap().to_string();
            }
        }

        // Roles: one per function, exact actions on exact resources.
        let iam = aws_sdk_iam::Client::new(&sdk);
        let role = role_of_create.rsplit('/').next().unwrap();
        let names = iam
            .list_role_policies()
            .role_name(role)
            .send()
            .await
            .unwrap();
        assert_eq!(names.policy_names().len(), 1, "{:?}", names.policy_names());
        let doc = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(&names.policy_names()[0])
            .send()
            .await
            .unwrap();
        // AWS sends the document URL-encoded JSON; moto 5.2 sends Python's
        // repr of it (single quotes). Neither holds a quote of its own here.
        let doc = urlencoding_decode(doc.policy_document()).replace('\'', "\"");
        let doc: Value = serde_json::from_str(&doc).unwrap_or_else(|e| panic!("{e}: {doc}"));
        let statements = doc["Statement"].as_array().unwrap();
        let actions: Vec<String> = statements
            .iter()
            .flat_map(|s| match &s["Action"] {
                Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
                Value::String(x) => vec![x.clone()],
                _ => vec![],
            })
            .collect();
        assert!(
            actions.contains(&"dynamodb:PutItem".to_string()),
            "{actions:?}"
        );
        assert!(actions.contains(&"s3:PutObject".to_string()), "{actions:?}");
        assert!(
            !actions.iter().any(|a| a.contains("Delete")),
            "create-upload deletes nothing: {actions:?}"
        );
        for s in statements {
            assert_ne!(s["Resource"], "*", "no wildcard resource: {s}");
        }

        // Tables: keys, indexes, streams.
        assert_eq!(
            common::table_shape(moto, "studio-upload-sessions-local").await,
            common::TableShape {
                key: "uploadSessionId".into(),
                indexes: vec!["by-object-key".into()],
                stream: None,
            }
        );
        assert_eq!(
            common::table_shape(moto, "studio-qr-upload-sessions-local").await,
            common::TableShape {
                key: "sessionId".into(),
                indexes: vec!["by-connection".into()],
                stream: Some("NEW_AND_OLD_IMAGES".into()),
            }
        );

        assert_eq!(
            common::table_shape(moto, "studio-media-realtime-jobs-local").await,
            common::TableShape {
                key: "jobId".into(),
                indexes: vec!["byPrediction".into(), "byUser".into()],
                stream: None,
            }
        );

        // The world's tables: the design's six and the WebSocket
        // connections, with the keys and indexes the services use.
        for (table, key, indexes) in [
            ("worlds", "world_id", vec!["by_owner"]),
            ("agents", "agent_id", vec!["by_world"]),
            ("memory-streams", "agent_id", vec!["by_importance"]),
            ("world-objects", "world_id", vec![]),
            ("events", "world_id", vec!["by_agent"]),
            ("snapshots", "world_id", vec![]),
            ("connections", "connection_id", vec!["by_world"]),
        ] {
            assert_eq!(
                common::table_shape(moto, &format!("studio-world-{table}-local")).await,
                common::TableShape {
                    key: key.into(),
                    indexes: indexes.into_iter().map(String::from).collect(),
                    stream: None,
                },
                "{table}"
            );
        }

        // Log groups: one per function (22 of them), with the local retention.
        let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
        let groups = logs
            .describe_log_groups()
            .log_group_name_prefix("/aws/lambda/studio-")
            .send()
            .await
            .unwrap();
        let groups = groups.log_groups();
        assert_eq!(groups.len(), 22, "{groups:?}");
        assert!(
            groups.iter().all(|g| g.retention_in_days() == Some(1)),
            "{groups:?}"
        );

        // The cleanup schedule the seed left manual.
        let events = aws_sdk_eventbridge::Client::new(&sdk);
        let rules = events
            .list_rules()
            .name_prefix("studio-upload-cleanup")
            .send()
            .await
            .unwrap();
        let rule = &rules.rules()[0];
        assert_eq!(rule.schedule_expression(), Some("rate(1 hour)"));
        let targets = events
            .list_targets_by_rule()
            .rule(rule.name().unwrap())
            .send()
            .await
            .unwrap();
        assert!(targets.targets()[0]
            .arn()
            .ends_with(":function:studio-upload-cleanup-local"));
        let rules = events
            .list_rules()
            .name_prefix("studio-media-check-stuck-jobs")
            .send()
            .await
            .unwrap();
        assert_eq!(
            rules.rules()[0].schedule_expression(),
            Some("rate(5 minutes)")
        );
    });
}

/// The world stack as deployed, through the services' own APIs: its ECR
/// repositories; the task definitions naming each image by the digest
/// pushed to the local registry (which serves that manifest), with their
/// port and environment; the load balancer's target groups and listener
/// rules; the REST API's resources and methods.
fn check_world(moto: &Moto, report: &Value, registry_port: u16) {
    let images = report["images"]["services"]
        .as_array()
        .expect("images reported");
    let digests: std::collections::BTreeMap<String, String> = images
        .iter()
        .map(|i| {
            (
                i["crate_name"].as_str().unwrap().to_string(),
                i["push"]["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(digests.len(), 3, "{images:?}");
    block(async {
        let sdk = moto.sdk_config().await;
        let ecr = aws_sdk_ecr::Client::new(&sdk);
        let repos = ecr.describe_repositories().send().await.unwrap();
        let mut names: Vec<&str> = repos
            .repositories()
            .iter()
            .filter_map(|r| r.repository_name())
            .filter(|n| n.starts_with("studio-world-"))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "studio-world-agent-runtime-local",
                "studio-world-llm-integration-local",
                "studio-world-world-management-local"
            ]
        );

        let ecs = aws_sdk_ecs::Client::new(&sdk);
        for (crate_name, digest) in &digests {
            let family = format!("studio-world-{crate_name}-local");
            let td = ecs
                .describe_task_definition()
                .task_definition(&family)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{family}: {e:?}"));
            let c = &td.task_definition().unwrap().container_definitions()[0];
            let image = format!("127.0.0.1:{registry_port}/{family}@{digest}");
            assert_eq!(c.image(), Some(image.as_str()), "{family}");
            assert_eq!(
                c.port_mappings()[0].container_port(),
                Some(8080),
                "{family}"
            );
            let env: Vec<(&str, &str)> = c
                .environment()
                .iter()
                .map(|e| (e.name().unwrap_or_default(), e.value().unwrap_or_default()))
                .collect();
            assert!(env.contains(&("PORT", "8080")), "{family}: {env:?}");
            // The registry serves the manifest the task definition names.
            let url = format!("http://127.0.0.1:{registry_port}/v2/{family}/manifests/{digest}");
            let got = ureq::head(&url)
                .header("Accept", "application/vnd.oci.image.manifest.v1+json")
                .call()
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(
                got.headers()
                    .get("Docker-Content-Digest")
                    .and_then(|v| v.to_str().ok()),
                Some(digest.as_str())
            );
        }
        let env_of = |family: &'static str| {
            let ecs = ecs.clone();
            async move {
                let td = ecs
                    .describe_task_definition()
                    .task_definition(family)
                    .send()
                    .await
                    .unwrap();
                td.task_definition().unwrap().container_definitions()[0]
                    .environment()
                    .iter()
                    .map(|e| e.name().unwrap_or_default().to_string())
                    .collect::<Vec<_>>()
            }
        };
        let agent = env_of("studio-world-agent-runtime-local").await;
        for var in [
            "AGENTS_TABLE",
            "CONNECTIONS_TABLE",
            "WEBSOCKET_ENDPOINT",
            "CACHE_HOST",
            "LLM_URL",
        ] {
            assert!(agent.contains(&var.to_string()), "{var} in {agent:?}");
        }

        // The load balancer: one target group per service, checked on
        // /health, and a rule per service with its paths.
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
        let lbs = elb.describe_load_balancers().send().await.unwrap();
        let lb = lbs
            .load_balancers()
            .iter()
            .find(|l| {
                l.load_balancer_name()
                    .is_some_and(|n| n.starts_with("studio-world-lb"))
            })
            .expect("the world's load balancer");
        let groups = elb.describe_target_groups().send().await.unwrap();
        let services: Vec<_> = groups
            .target_groups()
            .iter()
            .filter(|g| g.port() == Some(8080))
            .collect();
        assert_eq!(services.len(), 3, "{groups:?}");
        for g in &services {
            assert_eq!(g.health_check_path(), Some("/health"));
            assert_eq!(g.target_type().map(|t| t.as_str()), Some("ip"));
        }
        let listeners = elb
            .describe_listeners()
            .load_balancer_arn(lb.load_balancer_arn().unwrap())
            .send()
            .await
            .unwrap();
        let listener = listeners
            .listeners()
            .iter()
            .find(|l| l.port() == Some(80))
            .expect("the HTTP listener");
        let rules = elb
            .describe_rules()
            .listener_arn(listener.listener_arn().unwrap())
            .send()
            .await
            .unwrap();
        let mut paths: Vec<String> = rules
            .rules()
            .iter()
            .flat_map(|r| r.conditions())
            .flat_map(|c| {
                c.values().iter().cloned().chain(
                    c.path_pattern_config()
                        .map(|p| p.values().to_vec())
                        .unwrap_or_default(),
                )
            })
            .collect();
        paths.sort();
        paths.dedup();
        assert_eq!(
            paths,
            [
                "/agents",
                "/agents/*",
                "/llm/*",
                "/simulation/*",
                "/worlds",
                "/worlds/*"
            ],
            "{rules:?}"
        );

        // The REST API: a resource per path segment, the declared methods.
        let methods = common::rest_api_methods(&sdk, "studio-world-local-api").await;
        assert_eq!(
            methods,
            [
                "GET /agents",
                "GET /agents/{id}",
                "GET /agents/{id}/memories",
                "GET /worlds",
                "GET /worlds/{id}",
                "GET /worlds/{id}/snapshots",
                "POST /agents",
                "POST /agents/{id}/memories",
                "POST /llm/embed",
                "POST /llm/generate",
                "POST /simulation/{world_id}/step",
                "POST /worlds",
                "POST /worlds/{id}/snapshots",
                "POST /worlds/{id}/snapshots/{snapshot_id}/restore",
                "POST /worlds/{id}/start",
                "POST /worlds/{id}/stop",
            ]
        );
    });
}

fn base64_of_hex(hex: &str) -> String {
    use base64::Engine;
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// IAM returns policy documents URL-encoded.
fn urlencoding_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// A policy document as IAM answers it: URL-encoded JSON from AWS, the
/// repr of a Python dict from moto 5.2 (no quote of its own in ours).
fn policy_json(doc: &str) -> Value {
    let text = urlencoding_decode(doc).replace('\'', "\"");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The clips stack, read back through the services' APIs: the functions'
/// settings and code, the rules (patterns, targets, retry, dead-letter
/// queue), the REST API's resources and methods, the MediaConvert role's
/// trust and policy, and PassRole on the function that hands it over.
fn check_clips(moto: &Moto, zips: &[(String, String)]) {
    block(async {
        let sdk = moto.sdk_config().await;
        let functions = [
            ("create-episode", "episodes-api"),
            ("list-episodes", "episodes-api"),
            ("get-episode", "episodes-api"),
            ("update-episode", "episodes-api"),
            ("on-object-created", "on-object-created"),
            ("start-chunking", "start-chunking"),
            ("on-mediaconvert-state", "on-mediaconvert-state"),
            ("analyze-transcript", "analyze-transcript"),
        ];
        let mut chunking_role = String::new();
        let mut create_role = String::new();
        for (key, krate) in functions {
            let name = format!("studio-clips-{key}-local");
            let f = common::function_description(moto, &name);
            let c = &f["Configuration"];
            assert_eq!(c["Runtime"], "provided.al2023", "{name}");
            assert_eq!(c["MemorySize"], 1024, "{name}");
            assert_eq!(c["Timeout"], 25, "{name}");
            // X-Ray tracing (`Mode: Active`) is in the template; moto 5.2
            // keeps `PassThrough` whatever it is given.
            let sha = &zips.iter().find(|(k, _)| k == krate).unwrap().1;
            assert_eq!(c["CodeSha256"], base64_of_hex(sha), "{name}");
            let vars = &c["Environment"]["Variables"];
            assert_eq!(vars["TABLE_NAME"], "studio-clips-clips-local", "{name}");
            if key == "create-episode" {
                create_role = c["Role"].as_str().unwrap().to_string();
            }
            if key == "start-chunking" {
                // moto answers Ref'd Number parameters as JSON numbers.
                assert_eq!(vars["CHUNK_SECONDS"].to_string().trim_matches('"'), "120");
                assert_eq!(vars["STACK_NAME"], "studio-clips-local");
                chunking_role = c["Role"].as_str().unwrap().to_string();
            }
            if key == "analyze-transcript" {
                assert_eq!(vars["MEMORY_ID"], "clipAgentMemory_local");
                assert_eq!(vars["MODEL_ID"], "anthropic.claude-3-haiku-20240307-v1:0");
            }
        }

        // The rules: patterns as declared, each to its function, with the
        // retry policy and the one dead-letter queue.
        let events = aws_sdk_eventbridge::Client::new(&sdk);
        let rule = events
            .describe_rule()
            .name("studio-clips-video-uploaded-local")
            .send()
            .await
            .unwrap();
        let pattern: Value = serde_json::from_str(rule.event_pattern().unwrap()).unwrap();
        assert_eq!(
            pattern,
            serde_json::json!({
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {"name": ["studio-clips-transcripts-local"]},
                    "object": {"key": [{"prefix": "uploads/"}]}
                }
            })
        );
        for (rule, function) in [
            ("video-uploaded", "on-object-created"),
            ("upload-completed", "start-chunking"),
            ("chunking-state", "on-mediaconvert-state"),
            ("transcript-uploaded", "analyze-transcript"),
        ] {
            let name = format!("studio-clips-{rule}-local");
            let described = events.describe_rule().name(&name).send().await.unwrap();
            assert_eq!(described.state().map(|s| s.as_str()), Some("ENABLED"));
            let targets = events
                .list_targets_by_rule()
                .rule(&name)
                .send()
                .await
                .unwrap();
            let [target] = targets.targets() else {
                panic!("{name}: {:?}", targets.targets());
            };
            assert!(
                target
                    .arn()
                    .ends_with(&format!(":function:studio-clips-{function}-local")),
                "{name}: {}",
                target.arn()
            );
            let retry = target.retry_policy().unwrap();
            assert_eq!(retry.maximum_retry_attempts(), Some(8), "{name}");
            assert_eq!(retry.maximum_event_age_in_seconds(), Some(3600), "{name}");
            assert_eq!(
                target.dead_letter_config().and_then(|d| d.arn()),
                Some("arn:aws:sqs:us-east-1:123456789012:studio-clips-events-dlq-local"),
                "{name}"
            );
        }

        // The REST API: a resource per path segment, the declared methods.
        let methods = common::rest_api_methods(&sdk, "studio-clips-local-api").await;
        assert_eq!(
            methods,
            [
                "GET /episodes",
                "GET /episodes/{episode_id}",
                "PATCH /episodes/{episode_id}",
                "POST /episodes",
                "POST /episodes/{episode_id}/transcript",
            ]
        );

        // The MediaConvert role: trusted by MediaConvert for this account
        // only; it reads and writes the transcripts bucket and nothing else.
        let iam = aws_sdk_iam::Client::new(&sdk);
        let roles = iam.list_roles().max_items(1000).send().await.unwrap();
        let role = roles
            .roles()
            .iter()
            .find(|r| r.role_name().contains("MediaconvertRole"))
            .unwrap_or_else(|| panic!("no MediaConvert role"));
        let trust = policy_json(role.assume_role_policy_document().unwrap());
        let statement = &trust["Statement"][0];
        assert_eq!(
            statement["Principal"]["Service"],
            "mediaconvert.amazonaws.com"
        );
        assert_eq!(statement["Action"], "sts:AssumeRole");
        assert_eq!(
            statement["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
        let inline = |role: String| {
            let iam = iam.clone();
            async move {
                let names = iam
                    .list_role_policies()
                    .role_name(&role)
                    .send()
                    .await
                    .unwrap();
                let name = names.policy_names()[0].clone();
                let doc = iam
                    .get_role_policy()
                    .role_name(&role)
                    .policy_name(name)
                    .send()
                    .await
                    .unwrap();
                policy_json(doc.policy_document())
            }
        };
        let policy = inline(role.role_name().to_string()).await;
        let text = policy.to_string();
        assert!(
            text.contains("s3:GetObject") && text.contains("s3:PutObject"),
            "{text}"
        );
        for s in policy["Statement"].as_array().unwrap() {
            let resources = s["Resource"].to_string();
            assert!(
                resources.contains("studio-clips-transcripts-local") || resources.contains(":key/"),
                "only the bucket (and its key): {s}"
            );
        }

        // create-episode presigns PUTs under uploads/ and transcripts/ only.
        let policy = inline(create_role.rsplit('/').next().unwrap().to_string()).await;
        let put = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Action"].to_string().contains("s3:PutObject"))
            .unwrap_or_else(|| panic!("no PutObject in {policy}"));
        assert_eq!(
            put["Resource"],
            serde_json::json!([
                "arn:aws:s3:::studio-clips-transcripts-local/uploads/*",
                "arn:aws:s3:::studio-clips-transcripts-local/transcripts/*"
            ]),
            "{put}"
        );

        // The function that hands the role to MediaConvert may pass that
        // role, to MediaConvert only.
        let policy = inline(chunking_role.rsplit('/').next().unwrap().to_string()).await;
        let pass = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Action"].to_string().contains("iam:PassRole"))
            .unwrap_or_else(|| panic!("no PassRole in {policy}"));
        assert!(
            pass["Resource"].to_string().contains("MediaconvertRole"),
            "{pass}"
        );
        assert_eq!(
            pass["Condition"]["StringEquals"]["iam:PassedToService"],
            "mediaconvert.amazonaws.com"
        );
    });
}

const STACKS: [&str; 5] = ["clips", "media", "qr-upload", "upload", "world"];

fn each(outcome: &str) -> Vec<(String, String)> {
    STACKS
        .iter()
        .map(|s| (s.to_string(), outcome.to_string()))
        .collect()
}

/// What the first deploy of the media stack did beyond CloudFormation: the
/// local servers it started, and the two migrations it applied.
fn check_media_settled(report: &Value) {
    let servers: Vec<(&str, bool)> = report["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["server"].as_str().unwrap(),
                s["started"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(servers, [("redis", true), ("postgres", true)], "{report:#}");
    let migrations = &report["migrations"][0];
    assert_eq!(migrations["stack"], "media");
    assert_eq!(
        migrations["applied"],
        serde_json::json!([
            "stacks/media/migrations/0001_jobs.sql",
            "stacks/media/migrations/0002_media_outputs.sql"
        ]),
        "{report:#}"
    );
}

#[test]
fn the_system_deploys_directly_with_its_functions_and_redeploys_as_no_changes() {
    let moto = Moto::start();
    let copy = system_copy();
    let dir = &copy.project;
    let report = json(dir, &moto, &["deploy", "--env", "local", "--yes"]);
    assert_eq!(report["method"], "direct");
    assert_eq!(outcomes(&report), each("created"));
    check_media_settled(&report);
    let zips = published(&report);
    assert_eq!(zips.len(), 19);
    check_resources(&moto, &zips);
    check_clips(&moto, &zips);
    check_world(&moto, &report, copy.registry_port);
    // The direct method keeps outputs (moto's change sets lose them).
    let upload = &report["stacks"][3];
    assert_eq!(
        upload["outputs"]["BucketName"],
        "studio-upload-ingest-local"
    );

    let again = json(dir, &moto, &["deploy", "--env", "local", "--yes"]);
    assert_eq!(outcomes(&again), each("unchanged"));
    // Nothing changes: nothing is published (not even checked), no
    // migration runs again.
    assert_eq!(again["artefacts"], Value::Null, "{again:#}");
    assert_eq!(again["migrations"][0]["applied"], serde_json::json!([]));
    let diff = json(dir, &moto, &["diff", "--env", "local", "--exit-code"]);
    assert_eq!(diff["changes"], false);

    // Destroy removes every stack. moto cannot delete a VPC's route
    // tables, so locally the media and world networks' VPCs are kept (and
    // said so);
    // the secrets made outside the templates go too.
    let gone = json(dir, &moto, &["destroy", "--env", "local", "--yes"]);
    let kept: Vec<&str> = gone["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["resource_type"].as_str().unwrap())
        .collect();
    assert_eq!(kept, ["AWS::EC2::VPC", "AWS::EC2::VPC"], "{gone:#}");
    let deleted = gone["secrets_deleted"].as_array().unwrap();
    assert!(
        deleted
            .iter()
            .any(|s| s.as_str().unwrap().starts_with("studio-local-postgres-")),
        "{gone:#}"
    );
    block(async {
        let cfn = aws_sdk_cloudformation::Client::new(&moto.sdk_config().await);
        let stacks = cfn.describe_stacks().send().await.unwrap();
        let left: Vec<&str> = stacks
            .stacks()
            .iter()
            .filter(|s| {
                s.stack_status()
                    .is_some_and(|st| st.as_str() != "DELETE_COMPLETE")
            })
            .filter_map(|s| s.stack_name())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    });
}

#[test]
fn the_system_deploys_through_change_sets_and_a_redeploy_makes_none() {
    let moto = Moto::start();
    let copy = system_copy();
    let dir = &copy.project;
    let change_sets = |stack: &str| -> usize {
        block(async {
            let cfn = aws_sdk_cloudformation::Client::new(&moto.sdk_config().await);
            cfn.list_change_sets()
                .stack_name(stack)
                .send()
                .await
                .unwrap()
                .summaries()
                .len()
        })
    };
    let deploy = || {
        json(
            dir,
            &moto,
            &[
                "deploy",
                "--env",
                "local",
                "--yes",
                "--method",
                "change-set",
            ],
        )
    };
    let report = deploy();
    assert_eq!(report["method"], "change-set");
    assert_eq!(outcomes(&report), each("created"));
    check_media_settled(&report);
    let changes = report["stacks"][3]["changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c["logical_id"] == "CreateUpload" && c["action"] == "Add"),
        "{changes:?}"
    );
    check_resources(&moto, &published(&report));

    // moto's change sets drop every output: the next deploy sees that,
    // and updates the stacks directly to restore them (no change set).
    assert_eq!(report["stacks"][3]["outputs"], serde_json::json!({}));
    let before = change_sets("studio-upload-local");
    let repaired = deploy();
    // The world stack's parameters are all text, and moto's UpdateStack
    // finds no change in the same template and text parameters
    // ("No updates are to be performed"), so its outputs stay lost on
    // moto: the deploy says so and changes nothing.
    let mut expected = each("updated");
    expected[4].1 = "unchanged".into();
    assert_eq!(outcomes(&repaired), expected);
    assert!(
        repaired["stacks"][4]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("lacks outputs its template declares"),
        "{repaired:#}"
    );
    assert!(
        repaired["stacks"][3]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("lacks outputs its template declares"),
        "{repaired:#}"
    );
    assert_eq!(
        repaired["stacks"][3]["outputs"]["BucketName"],
        "studio-upload-ingest-local"
    );
    let again = deploy();
    assert_eq!(outcomes(&again), each("unchanged"));
    assert_eq!(
        change_sets("studio-upload-local"),
        before,
        "no change set was created"
    );
}
