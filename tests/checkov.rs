//! Every rendered template, of every project here (the pattern corpus
//! included) in every environment,
//! passes checkov (PyPI) with no finding left unexplained: a check that
//! does not apply is skipped in the kind's template with a one-line reason
//! (`Metadata: checkov: skip: [{id, comment}]`). `.ci/test` installs the
//! pinned checkov into a virtualenv of its own and sets `CHECKOV`; without
//! checkov this test fails, it never passes silently.

mod common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn checkov() -> String {
    std::env::var("CHECKOV").unwrap_or_else(|_| "checkov".to_string())
}

/// Every template of the projects here, each in every environment.
fn render_all(dir: &Path) -> usize {
    let mut n = 0;
    for root in [
        common::repo(),
        common::repo().join("examples/minimal"),
        common::repo().join("tests/fixtures/kinds-project"),
        common::repo().join("tests/fixtures/edge-project"),
        common::repo().join("tests/fixtures/service-project"),
        common::repo().join("tests/fixtures/events-project"),
        common::repo().join("tests/patterns"),
    ] {
        let (_, rendered) = stackctl::validate::project(&root).unwrap_or_else(|d| panic!("{d}"));
        for r in rendered {
            std::fs::write(dir.join(format!("{}.yaml", r.stack_name)), &r.template).unwrap();
            n += 1;
        }
    }
    n
}

/// checkov's report on `dir`: one entry per file it checked.
fn scan(dir: &Path) -> Vec<Value> {
    let out = Command::new(checkov())
        .arg("-d")
        .arg(dir)
        .args(["--framework", "cloudformation", "--output", "json"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run checkov ({e}); run the tests with `bash .ci/test`, which installs it, or set CHECKOV"
            )
        });
    let text = String::from_utf8_lossy(&out.stdout);
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(reports)) => reports,
        Ok(report @ Value::Object(_)) => vec![report],
        _ => panic!(
            "checkov gave no JSON report (exit {:?}):\n{text}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn checks<'a>(reports: &'a [Value], which: &str) -> Vec<&'a Value> {
    reports
        .iter()
        .flat_map(|r| r["results"][which].as_array().into_iter().flatten())
        .collect()
}

fn describe(c: &Value) -> String {
    format!(
        "{} {} in {} ({})",
        c["check_id"].as_str().unwrap_or("?"),
        c["resource"].as_str().unwrap_or("?"),
        PathBuf::from(c["file_path"].as_str().unwrap_or("?")).display(),
        c["check_name"].as_str().unwrap_or("?")
    )
}

#[test]
fn checkov_finds_nothing_unexplained() {
    let dir = tempfile::tempdir().unwrap();
    let n = render_all(dir.path());
    assert_eq!(n, 25 + 14 * 3 + 3 + 3 + 3);
    let reports = scan(dir.path());
    let failed: Vec<String> = checks(&reports, "failed_checks")
        .into_iter()
        .map(describe)
        .collect();
    assert!(
        failed.is_empty(),
        "{} checkov findings; fix them in the kind, or skip them in its template with a reason:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert!(
        !checks(&reports, "passed_checks").is_empty(),
        "checkov checked nothing"
    );
    // Every skip says why.
    let unexplained: Vec<String> = checks(&reports, "skipped_checks")
        .into_iter()
        .filter(|c| {
            c["check_result"]["suppress_comment"]
                .as_str()
                .is_none_or(|s| s.trim().is_empty() || s == "No comment provided")
        })
        .map(describe)
        .collect();
    assert!(
        unexplained.is_empty(),
        "skips without a reason:\n{}",
        unexplained.join("\n")
    );
}

#[test]
fn checkov_would_catch_an_insecure_template() {
    // Guards the test above: a bucket without its encryption and public
    // access block must be found.
    let (_, rendered) =
        stackctl::validate::project(&common::repo().join("examples/minimal")).unwrap();
    let template = &rendered[0].template;
    let cut = template
        .find("      BucketEncryption:")
        .expect("encryption rendered");
    let end = template
        .find("      VersioningConfiguration:")
        .expect("versioning rendered");
    let broken = format!("{}{}", &template[..cut], &template[end..]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.yaml"), broken).unwrap();
    let failed: Vec<String> = checks(&scan(dir.path()), "failed_checks")
        .into_iter()
        .map(|c| c["check_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(failed.contains(&"CKV_AWS_55".to_string()), "{failed:?}");
}

#[test]
fn service_roles_agent_memory_and_service_grants_pass_checkov() {
    let dir = tempfile::tempdir().unwrap();
    let root = common::repo().join("tests/fixtures/iam-project");
    let (_, rendered) = stackctl::validate::project(&root).unwrap_or_else(|d| panic!("{d}"));
    let mut memories = 0;
    for r in &rendered {
        memories += usize::from(r.template.contains("AWS::BedrockAgentCore::Memory"));
        std::fs::write(
            dir.path().join(format!("{}.yaml", r.stack_name)),
            &r.template,
        )
        .unwrap();
    }
    assert_eq!(
        (rendered.len(), memories),
        (3, 2),
        "dev and prod hold the memory"
    );
    let reports = scan(dir.path());
    let failed: Vec<String> = checks(&reports, "failed_checks")
        .into_iter()
        .map(describe)
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert!(!checks(&reports, "passed_checks").is_empty());
    let unexplained: Vec<String> = checks(&reports, "skipped_checks")
        .into_iter()
        .filter(|c| {
            c["check_result"]["suppress_comment"]
                .as_str()
                .is_none_or(|s| s.trim().is_empty() || s == "No comment provided")
        })
        .map(describe)
        .collect();
    assert!(unexplained.is_empty(), "{}", unexplained.join("\n"));
}
