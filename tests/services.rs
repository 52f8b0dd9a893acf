//! The `service` kind deployed to a moto server started by the test, from
//! `tests/fixtures/service-project` (two services on one cluster), and read
//! back through ECR, CloudWatch Logs, IAM and ECS.
//!
//! A deploy without images (nothing pushed yet) makes the repositories,
//! log groups, roles and the cluster, and leaves out the task definitions
//! and services; destroy removes it all. The same template created with
//! the image parameters set (what deploy sets after pushing) makes the task
//! definitions (image by digest, port, plain environment, secrets by
//! reference) and the services. moto keeps ECS as records: nothing runs,
//! and `health` says so.

mod common;

use common::{block, copy_fixture, json};
use lambda_shared::testing::Moto;
use std::collections::BTreeMap;

const WORKER_IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/svcfix-world-worker-local@sha256:4f5e6d7c8b9a0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899a";
const RUNNER_IMAGE: &str = "127.0.0.1:5050/svcfix-world-runner-local@sha256:0011223344556677889900aabbccddeeff00112233445566778899aabbccddee";

/// The statement ids of the inline policy of the stack's role `logical`
/// (its name is CloudFormation's, `STACK-<Logical>-<random>`).
async fn sids(sdk: &aws_config::SdkConfig, logical: &str) -> Vec<String> {
    let iam = aws_sdk_iam::Client::new(sdk);
    let roles = iam.list_roles().send().await.unwrap();
    let role = roles
        .roles()
        .iter()
        .find(|r| r.role_name().contains(&format!("-{logical}-")))
        .unwrap_or_else(|| panic!("no role {logical} in {roles:?}"));
    let policy = iam
        .get_role_policy()
        .role_name(role.role_name())
        .policy_name(format!("{logical}Access"))
        .send()
        .await
        .unwrap();
    let doc =
        stackctl::health::iam::parse_document(policy.policy_document()).expect("a policy document");
    doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn services_wait_for_their_image_then_run_it_by_digest() {
    let moto = Moto::start();
    let dir = copy_fixture("service-project");
    let dir = dir.path();
    let report = json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    assert_eq!(report["stacks"][0]["outcome"], "created", "{report}");
    // This environment names no local registry, and moto's ECR takes no
    // pushes: the services wait for their images, and the report says why.
    assert!(
        report["images"]["unpushable"]
            .as_str()
            .is_some_and(|w| w.contains("`registry: {local: true}`")),
        "{report}"
    );
    block(async {
        let sdk = moto.sdk_config().await;
        let ecr = aws_sdk_ecr::Client::new(&sdk);
        let ecs = aws_sdk_ecs::Client::new(&sdk);
        let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);

        // The repositories, named explicitly in lower case, with immutable
        // tags. moto 5.2.1 (measured) keeps a template's
        // ImageScanningConfiguration and EncryptionConfiguration in
        // CloudFormation's capitalised keys, which its API then does not
        // answer with, and ignores LifecyclePolicy: those are checked in
        // the rendered template (src/kinds/service_tests.rs), not here.
        let repos = ecr.describe_repositories().send().await.unwrap();
        let by_name: BTreeMap<&str, _> = repos
            .repositories()
            .iter()
            .map(|r| (r.repository_name().unwrap(), r))
            .collect();
        assert_eq!(
            by_name.keys().copied().collect::<Vec<_>>(),
            ["svcfix-world-runner-local", "svcfix-world-worker-local"]
        );
        for repo in by_name.values() {
            assert_eq!(
                repo.image_tag_mutability().map(|m| m.as_str()),
                Some("IMMUTABLE")
            );
        }
        assert!(by_name["svcfix-world-worker-local"]
            .repository_uri()
            .unwrap()
            .ends_with("/svcfix-world-worker-local"));

        // Log groups with the environment's retention.
        let groups = logs
            .describe_log_groups()
            .log_group_name_prefix("/ecs/")
            .send()
            .await
            .unwrap();
        let names: Vec<(&str, Option<i32>)> = groups
            .log_groups()
            .iter()
            .map(|g| (g.log_group_name().unwrap(), g.retention_in_days()))
            .collect();
        assert_eq!(
            names,
            [
                ("/ecs/svcfix-world-runner-local", Some(14)),
                ("/ecs/svcfix-world-worker-local", Some(14))
            ]
        );

        // One cluster; nothing runs before an image is pushed.
        let clusters = ecs.list_clusters().send().await.unwrap();
        assert_eq!(clusters.cluster_arns().len(), 1, "{clusters:?}");
        assert!(clusters.cluster_arns()[0].ends_with("/svcfix-world-local"));
        let defs = ecs.list_task_definitions().send().await.unwrap();
        assert!(defs.task_definition_arns().is_empty(), "{defs:?}");
    });

    // Gone with the stack, images and all (EmptyOnDelete outside
    // protected environments).
    let report = json(dir, &moto, &["destroy", "--env", "local", "--yes"], 0);
    assert_eq!(report["stacks"][0]["outcome"], "deleted", "{report}");

    // With the images by digest (what deploy sets after pushing). moto
    // 5.2.1 (measured) cannot take them in an update: its UpdateStack
    // drops a task definition's containers and never creates the service a
    // condition adds; so the stack is created with them here, as a deploy
    // to the emulator, whose registry is local, can do from the start.
    let rendered = dir.join("rendered");
    let out = common::run(
        dir,
        &moto,
        &[
            "render",
            "--env",
            "local",
            "--out",
            rendered.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", common::text(&out));
    let template = std::fs::read_to_string(rendered.join("world.yaml")).unwrap();
    block(async {
        let sdk = moto.sdk_config().await;
        let ecr = aws_sdk_ecr::Client::new(&sdk);
        let ecs = aws_sdk_ecs::Client::new(&sdk);
        let cfn = aws_sdk_cloudformation::Client::new(&sdk);
        let repos = ecr.describe_repositories().send().await.unwrap();
        assert!(repos.repositories().is_empty(), "{repos:?}");
        let param = |k: &str, v: &str| {
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        };
        cfn.create_stack()
            .stack_name("svcfix-world-local")
            .template_body(template)
            .parameters(param("WorkerImage", WORKER_IMAGE))
            .parameters(param("RunnerImage", RUNNER_IMAGE))
            .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
            .send()
            .await
            .unwrap();

        let td = ecs
            .describe_task_definition()
            .task_definition("svcfix-world-worker-local")
            .send()
            .await
            .unwrap();
        let td = td.task_definition().unwrap();
        let c = &td.container_definitions()[0];
        assert_eq!(c.image(), Some(WORKER_IMAGE));
        assert_eq!(c.name(), Some("worker"));
        assert_eq!(c.port_mappings()[0].container_port(), Some(8080));
        let env: BTreeMap<&str, &str> = c
            .environment()
            .iter()
            .map(|e| (e.name().unwrap(), e.value().unwrap()))
            .collect();
        assert_eq!(env["PORT"], "8080");
        assert_eq!(env["WORLDS_TABLE"], "svcfix-world-worlds-local");
        // The cache is bound to a server here: its host, no token.
        assert_eq!(env["CACHE_HOST"], "127.0.0.1");
        assert!(
            !env.keys()
                .any(|k| k.contains("SECRET") || k.contains("TOKEN") || *k == "API_KEY"),
            "{env:?}"
        );
        // The secret by reference (moto's CloudFormation makes no secret:
        // deploy made it through the API, and its name is its reference).
        let secrets: Vec<(&str, &str)> = c
            .secrets()
            .iter()
            .map(|s| (s.name(), s.value_from()))
            .collect();
        assert_eq!(secrets, [("API_KEY", "svcfix-world-api-key-local")]);
        // moto's task definition drops its roles (measured); IAM has them:
        // the execution role reads the secret it injects, the task role
        // does what the grants say and never reads that secret.
        assert_eq!(
            sids(&sdk, "WorkerExecutionRole").await,
            [
                "PullOwnImage",
                "RegistryLogin",
                "WriteOwnLogs",
                "ApiKeyRead",
                // The cache is bound to a server without a token here:
                // nothing to read.
            ]
        );
        let task = sids(&sdk, "WorkerTaskRole").await;
        assert!(
            task.contains(&"WorldsWrite".to_string())
                && task.contains(&"InvokeModels".to_string())
                && !task.contains(&"ApiKeyRead".to_string()),
            "{task:?}"
        );
        let runner = ecs
            .describe_task_definition()
            .task_definition("svcfix-world-runner-local")
            .send()
            .await
            .unwrap();
        let rc = &runner.task_definition().unwrap().container_definitions()[0];
        assert_eq!(rc.image(), Some(RUNNER_IMAGE));
        assert_eq!(rc.port_mappings()[0].container_port(), Some(9000));

        // Both services, on the one cluster, with their task definitions.
        let services = ecs
            .describe_services()
            .cluster("svcfix-world-local")
            .services("svcfix-world-worker-local")
            .services("svcfix-world-runner-local")
            .send()
            .await
            .unwrap();
        let mut got: Vec<(&str, &str)> = services
            .services()
            .iter()
            .map(|s| (s.service_name().unwrap(), s.task_definition().unwrap()))
            .collect();
        got.sort();
        assert_eq!(got.len(), 2, "{services:?}");
        assert!(
            got[0]
                .1
                .contains("task-definition/svcfix-world-runner-local:"),
            "{got:?}"
        );
        assert!(
            got[1]
                .1
                .contains("task-definition/svcfix-world-worker-local:"),
            "{got:?}"
        );
    });

    // moto keeps ECS as records: health skips, with the reason, never passes.
    let health = json(
        dir,
        &moto,
        &["health", "--env", "local", "--only", "service"],
        0,
    );
    let checks = health["checks"].as_array().expect("checks");
    let service_checks: Vec<&serde_json::Value> =
        checks.iter().filter(|c| c["kind"] == "service").collect();
    assert_eq!(service_checks.len(), 4, "{health}");
    for c in service_checks {
        assert_eq!(c["status"], "skip", "{c}");
        assert!(c["reason"].as_str().unwrap().contains("records"), "{c}");
    }
}
