//! A diff that reads like a code review, against a real moto server, on
//! `tests/fixtures/fingerprint-project` with a table that function `alpha`
//! may read: a grant widened to `scan` shows the added action on its own
//! line and flags the broadening, `--fail-on broadening` exits 4, the
//! Markdown form carries the warning, and deploy shows its plan and asks
//! (or, with nothing to ask on, changes nothing).

mod common;

use common::{copy_fixture, run, text};
use lambda_shared::testing::Moto;
use serde_json::Value;
use std::path::Path;

const TABLE: &str = "  items:
    type: table
    attributes: {id: string}
    key: [id]
";

/// The fixture's stack file with table `items`, and alpha granted
/// `levels` on it (no grant at all with `None`).
fn grant(dir: &Path, levels: Option<&str>) {
    let original = std::fs::read_to_string(
        common::repo().join("tests/fixtures/fingerprint-project/stacks/app.yaml"),
    )
    .unwrap();
    let alpha = "    description: Greets from alpha\n";
    assert!(original.contains(alpha));
    let text = match levels {
        Some(levels) => original.replace(
            alpha,
            &format!("{alpha}    grants:\n      items: [{levels}]\n"),
        ),
        None => original,
    };
    std::fs::write(dir.join("stacks/app.yaml"), format!("{text}{TABLE}")).unwrap();
}

#[test]
fn a_widened_grant_is_shown_flagged_and_can_fail_ci() {
    let moto = Moto::start();
    let dir = copy_fixture("fingerprint-project");
    let dir = dir.path();
    grant(dir, Some("read"));
    let out = run(dir, &moto, &["deploy", "--env", "local", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Nothing changed: CI's checks pass.
    let out = run(
        dir,
        &moto,
        &[
            "diff",
            "--env",
            "local",
            "--exit-code",
            "--fail-on",
            "broadening",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    grant(dir, Some("read, scan"));
    let out = run(dir, &moto, &["diff", "--env", "local"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The added action on a line of its own, in the role's policy and in
    // the IAM section, flagged.
    assert!(
        stdout.lines().any(|l| l.trim_start().starts_with(
            "+ Properties.Policies[PolicyName=AlphaAccess].PolicyDocument.Statement[Sid=ItemsScan]"
        )),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.trim() == "- dynamodb:Scan"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("+ Allow dynamodb:Scan on ") && l.contains("⚠ new action")),
        "{stdout}"
    );
    assert!(stdout.contains("⚠ broadens access"), "{stdout}");
    assert!(
        !stdout.lines().any(|l| l.contains("Statement: [{")),
        "no statement list as one JSON line: {stdout}"
    );

    let out = run(
        dir,
        &moto,
        &[
            "diff",
            "--env",
            "local",
            "--exit-code",
            "--fail-on",
            "broadening",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let out = run(dir, &moto, &["diff", "--env", "local", "--exit-code"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    let out = run(dir, &moto, &["diff", "--env", "local", "--output", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stack = &report["stacks"][0];
    assert_eq!(stack["access"], "broadens", "{report:#}");
    assert_eq!(stack["broadening"][0]["kind"], "new_action", "{report:#}");
    assert!(
        stack["broadening"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("dynamodb:Scan"),
        "{report:#}"
    );

    let out = run(
        dir,
        &moto,
        &["diff", "--env", "local", "--output", "markdown"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.starts_with("## stackctl diff: local\n"), "{md}");
    assert!(md.contains("> [!WARNING]"), "{md}");
    assert!(md.contains("`dynamodb:Scan`"), "{md}");
    assert!(md.contains("```diff"), "{md}");

    // Narrowing again is not broadening.
    grant(dir, Some("read"));
    let out = run(dir, &moto, &["deploy", "--env", "local", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    grant(dir, None);
    let out = run(
        dir,
        &moto,
        &["diff", "--env", "local", "--fail-on", "broadening"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn deploy_shows_one_plan_and_without_a_terminal_changes_nothing() {
    let moto = Moto::start();
    let dir = copy_fixture("fingerprint-project");
    let dir = dir.path();
    let out = run(dir, &moto, &["deploy", "--env", "local", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("plan for local:"), "{stderr}");
    assert!(
        stderr.contains("+ fpfixture-app-local (app): not deployed"),
        "{stderr}"
    );

    // Nothing to change: no question, so no terminal needed.
    let out = run(dir, &moto, &["deploy", "--env", "local"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no changes"),
        "{}",
        text(&out)
    );

    // A change, and no terminal to ask on: refused, and nothing changed.
    grant(dir, Some("read"));
    let out = run(dir, &moto, &["deploy", "--env", "local"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("+ Items  AWS::DynamoDB::Table"),
        "the plan is shown first: {stderr}"
    );
    assert!(
        stderr.contains("stdin is not a terminal; nothing was changed"),
        "{stderr}"
    );
    let out = run(dir, &moto, &["diff", "--env", "local", "--exit-code"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "still to deploy: {}",
        text(&out)
    );
}
