//! The replacement table (`src/diff/replacement_table.rs`) is what
//! `.ci/gen-replacement` generates from the CloudFormation registry schemas
//! cfn-lint ships (the version in `.ci/cfn-lint-version`): a table edited by
//! hand, or one left behind by a schema update, fails here.

mod common;

#[test]
fn the_replacement_table_is_generated_from_the_registry_schemas() {
    let script = common::repo().join(".ci/gen-replacement");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg("--check")
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{}{}\nhint: `bash .ci/test` installs the pinned cfn-lint; after changing .ci/gen-replacement run it again",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
