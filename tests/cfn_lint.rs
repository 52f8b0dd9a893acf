//! Every rendered template passes cfn-lint with no errors. cfn-lint comes
//! from PyPI (`.ci/run` installs it); without it this test fails, it never
//! passes silently.

mod common;

use std::process::Command;

#[test]
fn cfn_lint_finds_no_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for root in [
        common::repo(),
        common::repo().join("examples/minimal"),
        common::repo().join("tests/fixtures/kinds-project"),
        common::repo().join("tests/fixtures/edge-project"),
        common::repo().join("tests/fixtures/service-project"),
        common::repo().join("tests/fixtures/events-project"),
    ] {
        let (_, rendered) = stackctl::validate::project(&root).unwrap_or_else(|d| panic!("{d}"));
        for r in rendered {
            let path = dir.path().join(format!("{}.yaml", r.stack_name));
            std::fs::write(&path, &r.template).unwrap();
            files.push(path);
        }
    }
    assert_eq!(files.len(), 25 + 3 + 3 + 3);
    common::assert_cfn_lint_clean(&files);
}

#[test]
fn cfn_lint_would_catch_a_broken_template() {
    // Guards the test above: a template with a real error must fail cfn-lint.
    let (_, rendered) = stackctl::validate::project(&common::repo()).unwrap();
    let broken = rendered[0]
        .template
        .replace("Runtime: provided.al2023", "Runtime: nodejs1.x");
    assert_ne!(broken, rendered[0].template);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, broken).unwrap();
    let out = Command::new("cfn-lint")
        .arg(&path)
        .output()
        .expect("cfn-lint installed");
    assert!(
        out.status.code().unwrap_or(0) & 2 != 0,
        "cfn-lint accepted a broken template"
    );
}

#[test]
fn service_roles_agent_memory_and_service_grants_pass_cfn_lint() {
    // tests/fixtures/iam-project in each of its environments (local leaves
    // the memory out).
    let dir = tempfile::tempdir().unwrap();
    let root = common::repo().join("tests/fixtures/iam-project");
    let (_, rendered) = stackctl::validate::project(&root).unwrap_or_else(|d| panic!("{d}"));
    let mut files = Vec::new();
    for r in rendered {
        assert!(r.template.contains("AWS::IAM::Role"), "{}", r.stack_name);
        let path = dir.path().join(format!("{}.yaml", r.stack_name));
        std::fs::write(&path, &r.template).unwrap();
        files.push(path);
    }
    assert_eq!(files.len(), 3);
    common::assert_cfn_lint_clean(&files);
}
