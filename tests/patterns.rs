//! The pattern corpus: public serverless patterns
//! (github.com/aws-samples/serverless-patterns) expressed as stackctl
//! stacks under tests/patterns, one stack file per pattern. Every stack
//! renders in every environment and passes cfn-lint with no errors; every
//! stack file names its source, and every `raw` resource says why no kind
//! covers it. cfn-lint comes from PyPI (`.ci/run` installs it); without it
//! this test fails, it never passes silently.

mod common;

use std::path::{Path, PathBuf};

/// The environments of tests/patterns/stackctl.yaml.
const ENVIRONMENTS: usize = 3;

fn root() -> PathBuf {
    common::repo().join("tests/patterns")
}

/// The stack files under tests/patterns/stacks, sorted.
fn stack_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("stacks"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn patterns_render_and_pass_cfn_lint() {
    let root = root();
    let stacks = stack_files(&root).len();
    let (_, rendered) = stackctl::validate::project(&root).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(rendered.len(), stacks * ENVIRONMENTS);
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for r in rendered {
        let path = dir.path().join(format!("{}.yaml", r.stack_name));
        assert!(!path.exists(), "two templates named {}", r.stack_name);
        std::fs::write(&path, &r.template).unwrap();
        files.push(path);
    }
    common::assert_cfn_lint_clean(&files);
}

#[test]
fn patterns_name_their_source_and_explain_raw_resources() {
    let root = root();
    let files = stack_files(&root);
    assert!(
        files.len() >= 10,
        "only {} pattern stacks; the corpus holds at least 10",
        files.len()
    );

    // Every stack file is a stack of the project, and the other way round.
    let project: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(root.join("stackctl.yaml")).unwrap())
            .unwrap();
    let mut listed: Vec<String> = project["stacks"]
        .as_mapping()
        .expect("stackctl.yaml lists stacks")
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    listed.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(listed, names, "stackctl.yaml and stacks/ differ");

    let (mut raw, mut typed) = (0, 0);
    let mut problems = Vec::new();
    let mut summary = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let first = text.lines().next().unwrap_or_default();
        if !first.starts_with("# Source: https://") {
            problems.push(format!(
                "{name}: first line is not `# Source: https://...`: {first:?}"
            ));
        }
        let stack: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let resources = stack["resources"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{name} has no resources"));
        let (mut stack_raw, mut stack_typed) = (0, 0);
        for (key, resource) in resources {
            let key = key.as_str().unwrap();
            if resource["type"].as_str() == Some("raw") {
                stack_raw += 1;
                // The comment just above the resource says why it is raw.
                let lines: Vec<&str> = text.lines().collect();
                let at = lines
                    .iter()
                    .position(|l| *l == format!("  {key}:"))
                    .unwrap_or_else(|| panic!("{name}: resource `{key}` not found"));
                let comment = lines[..at]
                    .iter()
                    .rev()
                    .take_while(|l| l.trim_start().starts_with('#'))
                    .last();
                if !comment.is_some_and(|c| c.trim_start().starts_with("# raw:")) {
                    problems.push(format!(
                        "{name}: raw resource `{key}` has no `# raw: WHY` comment above it"
                    ));
                }
            } else {
                stack_typed += 1;
            }
        }
        summary.push(format!("{name}: {stack_typed} typed, {stack_raw} raw"));
        raw += stack_raw;
        typed += stack_typed;
    }
    println!("{}\ntotal: {typed} typed, {raw} raw", summary.join("\n"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        typed > raw,
        "{raw} raw resources against {typed} typed: the corpus is meant to use the kinds"
    );
}
