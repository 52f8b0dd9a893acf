//! Rendered templates: one insta snapshot per stack and environment of the
//! repository's project and of every example, so a template change is
//! reviewed as a diff; plus determinism.

mod common;

use common::repo;
use std::path::Path;

fn snapshot_project(root: &Path, prefix: &str) -> usize {
    let (_, rendered) = stackctl::validate::project(root).unwrap_or_else(|d| panic!("{d}"));
    for r in &rendered {
        insta::assert_snapshot!(format!("{prefix}{}-{}", r.stack, r.env), r.template);
    }
    rendered.len()
}

#[test]
fn every_stack_in_every_environment() {
    let n = snapshot_project(&repo(), "");
    assert_eq!(n, 20, "5 stacks x 4 environments");
}

#[test]
fn examples_render() {
    let n = snapshot_project(&repo().join("examples/minimal"), "minimal-");
    assert_eq!(n, 2);
}

#[test]
fn rendering_is_byte_identical_across_runs() {
    let (_, a) = stackctl::validate::project(&repo()).unwrap();
    let (_, b) = stackctl::validate::project(&repo()).unwrap();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.template, y.template, "{} {}", x.stack, x.env);
        assert_eq!(x.parameters, y.parameters);
    }
}

#[test]
fn environments_differ_where_the_design_says() {
    let (_, all) = stackctl::validate::project(&repo()).unwrap();
    let get = |stack: &str, env: &str| {
        all.iter()
            .find(|r| r.stack == stack && r.env == env)
            .unwrap()
    };
    // Log retention: 7 days in dev, 90 in prod.
    assert!(get("qr-upload", "dev")
        .template
        .contains("RetentionInDays: 7\n"));
    assert!(get("qr-upload", "prod")
        .template
        .contains("RetentionInDays: 90\n"));
    assert!(!get("qr-upload", "prod")
        .template
        .contains("RetentionInDays: 7\n"));
    // Upload lifecycle: 30 days in dev, 90 in prod.
    assert!(get("qr-upload", "dev")
        .template
        .contains("ExpirationInDays: 30\n"));
    assert!(get("qr-upload", "prod")
        .template
        .contains("ExpirationInDays: 90\n"));
    // Data is retained in prod only.
    assert!(get("upload", "prod")
        .template
        .contains("DeletionPolicy: Retain"));
    assert!(!get("upload", "dev")
        .template
        .contains("DeletionPolicy: Retain"));
    // The website is public in dev and private in prod.
    assert!(get("qr-upload", "dev")
        .template
        .contains("PublicReadForWebsite"));
    assert!(!get("qr-upload", "prod")
        .template
        .contains("PublicReadForWebsite"));
    // Notifications are switched off for the emulator through the parameter.
    assert_eq!(
        get("upload", "local").parameters["EnableNotifications"],
        "false"
    );
    assert_eq!(
        get("upload", "dev").parameters["EnableNotifications"],
        "true"
    );
}

#[test]
fn no_data_access_is_granted_on_every_resource() {
    let (_, all) = stackctl::validate::project(&repo()).unwrap();
    for r in &all {
        let doc: serde_json::Value = serde_yaml::from_str(&r.template).unwrap();
        for (id, res) in doc["Resources"].as_object().unwrap() {
            if res["Type"] != "AWS::IAM::Role" {
                continue;
            }
            for policy in res["Properties"]["Policies"].as_array().unwrap() {
                for st in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
                    let actions = st["Action"].to_string();
                    let data = actions.contains("s3:")
                        || actions.contains("dynamodb:")
                        || actions.contains("execute-api:");
                    if data {
                        assert_ne!(st["Resource"], "*", "{} {id}: {st}", r.stack_name);
                        assert!(
                            !st["Resource"].to_string().contains("\"*\""),
                            "{} {id}: {st}",
                            r.stack_name
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn private_buckets_block_public_access_and_all_are_encrypted() {
    let (_, all) = stackctl::validate::project(&repo()).unwrap();
    for r in &all {
        let doc: serde_json::Value = serde_yaml::from_str(&r.template).unwrap();
        for (id, res) in doc["Resources"].as_object().unwrap() {
            if res["Type"] != "AWS::S3::Bucket" {
                continue;
            }
            let p = &res["Properties"];
            // SSE-S3, or the stack's own key (named, not AWS's default).
            let default = &p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
                ["ServerSideEncryptionByDefault"];
            match default["SSEAlgorithm"].as_str() {
                Some("AES256") => {}
                Some("aws:kms") => assert!(default["KMSMasterKeyID"].is_object(), "{id}"),
                other => panic!("{} {id}: encryption {other:?}", r.stack_name),
            }
            let public_website = r.template.contains("PublicReadForWebsite") && id == "Website";
            assert_eq!(
                p["PublicAccessBlockConfiguration"]["BlockPublicPolicy"], !public_website,
                "{} {id}",
                r.stack_name
            );
            assert_eq!(
                p["PublicAccessBlockConfiguration"]["BlockPublicAcls"], true,
                "{id}"
            );
        }
    }
}
