//! `stackctl publish` against a real moto server: the fixture project's one
//! function is built, its artefact bucket created private, encrypted and
//! versioned, the zip uploaded under its content-addressed key, and a
//! second run uploads nothing.

mod common;

use common::{copy_fixture, stackctl};
use lambda_shared::testing::Moto;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn publish(dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    stackctl()
        .env_remove("CARGO_TARGET_DIR")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .arg("-C")
        .arg(dir)
        .args(["publish", "--env", "local", "--endpoint-url", endpoint])
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_bucket_is_created_safe_and_each_zip_uploaded_once() {
    let moto = Moto::start();
    let dir = copy_fixture("build-project");
    let first = json(&publish(dir.path(), &moto.endpoint, &["--output", "json"]));
    let bucket = "buildfixture-local-artefacts-us-east-1";
    assert_eq!(first["bucket"], bucket);
    assert_eq!(first["bucket_created"], true);
    let f = &first["functions"][0];
    assert_eq!(f["uploaded"], true);
    let sha = f["sha256"].as_str().unwrap();
    assert_eq!(f["key"], format!("functions/hello/{sha}.zip"));
    assert_eq!(first["parameters"]["app"]["ArtefactBucket"], bucket);
    assert_eq!(first["parameters"]["app"]["HelloCodeKey"], f["key"]);

    // What S3 really holds. moto 5.2 names the root element of these
    // answers `...Response` where S3 says e.g. `VersioningConfiguration`, which
    // the Rust SDK rejects, so they are read as plain HTTP (moto checks no
    // signatures).
    let get = |query: &str| -> String {
        let url = format!("{}/{bucket}?{query}", moto.endpoint);
        ureq::get(&url)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    };
    assert!(
        get("versioning").contains("<Status>Enabled</Status>"),
        "{}",
        get("versioning")
    );
    assert!(
        get("encryption").contains("<SSEAlgorithm>AES256</SSEAlgorithm>"),
        "{}",
        get("encryption")
    );
    let pab = get("publicAccessBlock");
    for setting in [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ] {
        assert!(
            pab.contains(&format!("<{setting}>true</{setting}>")),
            "{setting}: {pab}"
        );
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sdk = moto.sdk_config().await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(f["key"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), f["size"].as_i64());
        assert_eq!(head.metadata().unwrap()["sha256"], sha);
    });

    // Nothing changed: nothing is uploaded.
    let again = json(&publish(dir.path(), &moto.endpoint, &["--output", "json"]));
    assert_eq!(again["bucket_created"], false);
    assert_eq!(again["functions"][0]["uploaded"], false);
    assert_eq!(again["functions"][0]["key"], f["key"]);
    let text = publish(dir.path(), &moto.endpoint, &["--quiet"]);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(
        out.contains("already there") && out.ends_with("0 uploaded, 1 unchanged\n"),
        "{out}"
    );
}

#[test]
fn an_unreachable_endpoint_is_one_clear_error() {
    let dir = copy_fixture("build-project");
    let port = lambda_shared::testing::free_port();
    let out = publish(
        dir.path(),
        &format!("http://127.0.0.1:{port}"),
        &["--quiet"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(
            "error: checking s3://buildfixture-local-artefacts-us-east-1/functions/hello/"
        ) && err.contains(": cannot reach the endpoint"),
        "{err}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "one line and a hint: {err}");
    assert!(lines[1].starts_with("hint: check the network"), "{err}");
}

#[test]
fn an_unknown_environment_is_a_usage_error() {
    let dir = copy_fixture("build-project");
    let out = stackctl()
        .arg("-C")
        .arg(dir.path())
        .args(["publish", "--env", "lcoal"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `local`?"));
}
