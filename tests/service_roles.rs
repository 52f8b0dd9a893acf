//! A service role and a function passing it, deployed to a moto server
//! started by the test from `tests/fixtures/iam-project`, read back through
//! IAM: the role's trust policy (its one service, this account only) and
//! inline policy (its grants), and the function role's PassRole statement
//! with its `iam:PassedToService` condition. The agent memory, which moto
//! cannot create, is left out locally and its id reaches the function as
//! the memory's physical name.

mod common;

use common::{block, copy_fixture, function_description, function_env, json};
use lambda_shared::testing::Moto;
use serde_json::{json, Value};

/// Inline policy `policy` of role `role`, as IAM holds it.
async fn inline(iam: &aws_sdk_iam::Client, role: &str, policy: &str) -> Value {
    let out = iam
        .get_role_policy()
        .role_name(role)
        .policy_name(policy)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{role}/{policy}: {e:?}"));
    stackctl::health::iam::parse_document(out.policy_document()).expect("a JSON policy")
}

/// The statement with id `sid` of `doc`.
fn statement(doc: &Value, sid: &str) -> Value {
    doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid} in {doc}"))
        .clone()
}

#[test]
fn a_service_role_and_the_function_passing_it_read_back_through_iam() {
    let moto = Moto::start();
    let dir = copy_fixture("iam-project");
    let dir = dir.path();
    let report = json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    assert_eq!(report["stacks"][0]["outcome"], "created", "{report}");
    let role_arn = report["stacks"][0]["outputs"]["MediaconvertRoleArn"]
        .as_str()
        .unwrap_or_else(|| panic!("no role ARN in {report}"))
        .to_string();
    let role_name = role_arn.rsplit('/').next().unwrap().to_string();

    block(async {
        let sdk = moto.sdk_config().await;
        let iam = aws_sdk_iam::Client::new(&sdk);
        let cfn = aws_sdk_cloudformation::Client::new(&sdk);

        // The trust: MediaConvert only, on behalf of this account only.
        let role = iam.get_role().role_name(&role_name).send().await.unwrap();
        let role = role.role().unwrap();
        assert_eq!(role.arn(), role_arn);
        let account = role_arn.split(':').nth(4).unwrap().to_string();
        let trust = stackctl::health::iam::parse_document(
            role.assume_role_policy_document().expect("a trust policy"),
        )
        .unwrap();
        assert_eq!(
            trust["Statement"],
            json!([{
                "Effect": "Allow",
                "Principal": {"Service": "mediaconvert.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }])
        );

        // Its grants: the bucket's objects, read and write, and the key.
        let policy = inline(&iam, &role_name, "MediaconvertRoleAccess").await;
        let objects = json!(["arn:aws:s3:::iamfix-media-transcripts-local/*"]);
        assert_eq!(
            statement(&policy, "TranscriptsRead")["Action"],
            json!(["s3:GetObject"])
        );
        assert_eq!(statement(&policy, "TranscriptsRead")["Resource"], objects);
        assert_eq!(
            statement(&policy, "TranscriptsWrite")["Action"],
            json!(["s3:PutObject"])
        );
        assert_eq!(statement(&policy, "TranscriptsWrite")["Resource"], objects);
        assert_eq!(
            statement(&policy, "TranscriptsKey")["Action"],
            json!(["kms:Decrypt", "kms:GenerateDataKey"])
        );
        assert_eq!(policy["Statement"].as_array().unwrap().len(), 3, "{policy}");

        // The function's role: PassRole on that role only, to MediaConvert
        // only; CreateJob on the Default queue.
        let resources = cfn
            .list_stack_resources()
            .stack_name("iamfix-media-local")
            .send()
            .await
            .unwrap();
        let physical = |logical: &str| {
            resources
                .stack_resource_summaries()
                .iter()
                .find(|r| r.logical_resource_id() == Some(logical))
                .and_then(|r| r.physical_resource_id())
                .unwrap_or_else(|| panic!("no {logical}"))
                .to_string()
        };
        let function_role = physical("StartChunkingRole");
        let policy = inline(&iam, &function_role, "StartChunkingAccess").await;
        assert_eq!(
            statement(&policy, "MediaconvertRolePass"),
            json!({
                "Sid": "MediaconvertRolePass",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [role_arn],
                "Condition": {"StringEquals": {"iam:PassedToService": "mediaconvert.amazonaws.com"}},
            })
        );
        assert_eq!(
            statement(&policy, "MediaconvertCreateJob")["Resource"],
            json!([format!(
                "arn:aws:mediaconvert:us-east-1:{account}:queues/Default"
            )])
        );
        // Nothing else passes a role.
        let other = inline(
            &iam,
            &physical("AnalyzeTranscriptRole"),
            "AnalyzeTranscriptAccess",
        )
        .await;
        assert!(
            other["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| !s["Action"].to_string().contains("iam:PassRole")),
            "{other}"
        );
        assert!(
            resources
                .stack_resource_summaries()
                .iter()
                .all(|r| r.logical_resource_id() != Some("ClipMemory")),
            "moto cannot create the memory: it is left out"
        );
    });

    // What the functions were given: the role's ARN, and the memory's id
    // as a local stand-in knows it.
    let env = |name: &str| function_env(&function_description(&moto, name));
    let start = env("iamfix-media-start-chunking-local");
    assert!(
        start.contains(&("MEDIACONVERT_ROLE_ARN".to_string(), role_arn.clone())),
        "{start:?}"
    );
    let analyze = env("iamfix-media-analyze-transcript-local");
    assert!(
        analyze.contains(&("MEMORY_ID".to_string(), "clipAgentMemory_local".to_string())),
        "{analyze:?}"
    );
}
