//! `deploy --hotswap` against a real moto server, on
//! `tests/fixtures/fingerprint-project` (functions `alpha` and `beta`):
//! a code change reaches the function through Lambda without a stack
//! update, `status` and `diff` say the stack and its functions differ, the
//! next normal deploy reconciles, a change of anything else falls back to a
//! normal deploy and says why, and protected environments refuse it.

mod common;

use base64::Engine;
use common::{block, copy_fixture, edit, json, run, text};
use lambda_shared::testing::Moto;
use serde_json::Value;

/// Lambda's CodeSha256 of a function. Read as plain HTTP: moto answers
/// with the Number parameter in the environment as a JSON number, which the
/// Rust SDK rejects (stackctl itself reads around it; see
/// src/aws/functions.rs). moto routes an unsigned request by the service
/// in its credential scope.
fn code_sha(moto: &Moto, function: &str) -> String {
    let url = format!(
        "{}/2015-03-31/functions/{function}/configuration",
        moto.endpoint
    );
    let body = ureq::get(&url)
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0",
        )
        .call()
        .unwrap_or_else(|e| panic!("{function}: {e}"))
        .body_mut()
        .read_to_string()
        .unwrap();
    let config: Value = serde_json::from_str(&body).unwrap();
    config["CodeSha256"].as_str().unwrap().to_string()
}

/// Lambda's form of a zip's hex sha256.
fn lambda_form(hex: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(hex::decode(hex).unwrap())
}

/// The stack's update time and its parameters.
fn stack_state(moto: &Moto, name: &str) -> (Option<String>, Vec<(String, String)>) {
    block(async {
        let cfn = aws_sdk_cloudformation::Client::new(&moto.sdk_config().await);
        let out = cfn.describe_stacks().stack_name(name).send().await.unwrap();
        let s = &out.stacks()[0];
        let mut params: Vec<(String, String)> = s
            .parameters()
            .iter()
            .map(|p| {
                (
                    p.parameter_key().unwrap().to_string(),
                    p.parameter_value().unwrap().to_string(),
                )
            })
            .collect();
        params.sort();
        (s.last_updated_time().map(|t| t.to_string()), params)
    })
}

fn function_sha(report: &Value, crate_name: &str) -> String {
    report["artefacts"]["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["crate_name"] == crate_name)
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

const STACK: &str = "fpfixture-app-local";
const ALPHA: &str = "fpfixture-app-alpha-local";
const BETA: &str = "fpfixture-app-beta-local";

#[test]
fn a_code_change_is_hot_swapped_then_reconciled_and_anything_else_falls_back() {
    let moto = Moto::start();
    let dir = copy_fixture("fingerprint-project");
    let dir = dir.path();

    let first = json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    let alpha_v1 = function_sha(&first, "alpha");
    assert_eq!(code_sha(&moto, ALPHA), lambda_form(&alpha_v1));
    let before = stack_state(&moto, STACK);

    // A one-line change in alpha: its new code runs, the stack is untouched.
    edit(
        dir,
        "lambdas/alpha/src/main.rs",
        "\"alpha\"",
        "\"alpha v2\"",
    );
    let swapped = json(
        dir,
        &moto,
        &["deploy", "--env", "local", "--yes", "--hotswap"],
        0,
    );
    let alpha_v2 = function_sha(&swapped, "alpha");
    assert_ne!(alpha_v2, alpha_v1);
    assert_eq!(
        swapped["stacks"][0]["outcome"], "hot_swapped",
        "{swapped:#}"
    );
    assert_eq!(
        swapped["stacks"][0]["changes"][0]["logical_id"], "Alpha",
        "{swapped:#}"
    );
    assert_eq!(code_sha(&moto, ALPHA), lambda_form(&alpha_v2));
    assert_eq!(
        code_sha(&moto, BETA),
        lambda_form(&function_sha(&first, "beta"))
    );
    assert_eq!(
        stack_state(&moto, STACK),
        before,
        "no stack update happened"
    );

    // The stack names the old code: status and diff say what runs.
    let status = json(dir, &moto, &["status", "--env", "local"], 0);
    let hot = &status["stacks"][0]["hotswapped"];
    assert_eq!(hot[0]["logical_id"], "Alpha", "{status:#}");
    assert!(
        hot[0]["artefact_key"].as_str().unwrap().contains(&alpha_v2),
        "{status:#}"
    );
    let out = run(dir, &moto, &["status", "--env", "local"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hot-swapped: Alpha"),
        "{}",
        text(&out)
    );
    let diff = json(dir, &moto, &["diff", "--env", "local"], 0);
    assert_eq!(
        diff["stacks"][0]["hotswapped"][0]["logical_id"], "Alpha",
        "{diff:#}"
    );

    // A normal deploy records the code in the stack and drops the marker.
    let normal = json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    assert_eq!(normal["stacks"][0]["outcome"], "updated", "{normal:#}");
    let (_, params) = stack_state(&moto, STACK);
    assert!(
        params
            .iter()
            .any(|(k, v)| k == "AlphaCodeKey" && v.contains(&alpha_v2)),
        "{params:?}"
    );
    let status = json(dir, &moto, &["status", "--env", "local"], 0);
    assert_eq!(status["stacks"][0]["hotswapped"], serde_json::json!([]));

    // Hot-swap back to v1's code, then a normal deploy of v2's: the stack
    // is unchanged, so the deploy itself sets the function back.
    edit(
        dir,
        "lambdas/alpha/src/main.rs",
        "\"alpha v2\"",
        "\"alpha\"",
    );
    json(
        dir,
        &moto,
        &["deploy", "--env", "local", "--yes", "--hotswap"],
        0,
    );
    assert_eq!(code_sha(&moto, ALPHA), lambda_form(&alpha_v1));
    edit(
        dir,
        "lambdas/alpha/src/main.rs",
        "\"alpha\"",
        "\"alpha v2\"",
    );
    let back = json(dir, &moto, &["deploy", "--env", "local", "--yes"], 0);
    assert_eq!(back["stacks"][0]["outcome"], "unchanged", "{back:#}");
    assert!(
        back["stacks"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains(ALPHA),
        "{back:#}"
    );
    assert_eq!(code_sha(&moto, ALPHA), lambda_form(&alpha_v2));

    // Code and a setting change together: a normal deploy, which says why.
    edit(dir, "lambdas/beta/src/main.rs", "\"beta\"", "\"beta v2\"");
    edit(
        dir,
        "stacks/app.yaml",
        "description: Greets from beta",
        "description: Greets from beta\n    memory: 512",
    );
    let fell_back = json(
        dir,
        &moto,
        &["deploy", "--env", "local", "--yes", "--hotswap"],
        0,
    );
    let stack = &fell_back["stacks"][0];
    assert_eq!(stack["outcome"], "updated", "{fell_back:#}");
    assert!(
        stack["message"]
            .as_str()
            .unwrap()
            .starts_with("not hot-swappable (the template changed): a normal deploy"),
        "{fell_back:#}"
    );
    assert_eq!(
        code_sha(&moto, BETA),
        lambda_form(&function_sha(&fell_back, "beta"))
    );
}

#[test]
fn protected_environments_refuse_hot_swaps_unless_asked_twice() {
    let moto = Moto::start();
    let dir = copy_fixture("fingerprint-project");
    let dir = dir.path();
    let project = std::fs::read_to_string(dir.join("stackctl.yaml")).unwrap();
    std::fs::write(
        dir.join("stackctl.yaml"),
        format!(
            "{project}  prod:\n    region: us-east-1\n    protected: true\n    deploy_method: direct\n    # moto has no UpdateTerminationProtection\n    termination_protection: false\n"
        ),
    )
    .unwrap();
    let out = run(
        dir,
        &moto,
        &["deploy", "--env", "prod", "--yes", "--hotswap"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--hotswap is refused in the protected environment `prod`")
            && stderr.contains("--hotswap-protected"),
        "{stderr}"
    );
    let out = run(
        dir,
        &moto,
        &["deploy", "--env", "prod", "--yes", "--hotswap-protected"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
