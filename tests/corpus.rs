//! The broken-input corpus: every file under tests/corpus is a project that
//! `stackctl validate` must reject with exit code 3 and a located message.
//!
//! - `tests/corpus/stack/NAME.yaml` is used as `stacks/app.yaml` of a small
//!   valid project;
//! - `tests/corpus/project/NAME.yaml` is used as `stackctl.yaml`, with a
//!   valid one-bucket stack file for every stack it names.
//!
//! Each case's `# expect: TEXT` lines must all appear in stderr; the whole
//! stderr is also kept as an insta snapshot so message changes are reviewed.
//! Every case also checks that problems come top to bottom (by file, line
//! and column) and that the closing count matches them, in the singular
//! for one.

mod common;

use common::{stackctl, write_project, PROJECT, STACK};
use std::path::{Path, PathBuf};

fn expectations(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(str::to_string)
        .collect()
}

/// Runs one case; returns what did not match (the snapshot is checked by insta).
fn check(case: &Path, dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(case).unwrap();
    let expected = expectations(&text);
    let out = stackctl()
        .arg("-C")
        .arg(dir)
        .arg("validate")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let mut problems = Vec::new();
    if expected.is_empty() {
        problems.push("no `# expect:` line".to_string());
    }
    if out.status.code() != Some(3) {
        problems.push(format!("exit code {:?}, expected 3", out.status.code()));
    }
    if !out.stdout.is_empty() {
        problems.push("printed on stdout".to_string());
    }
    if stderr.contains("panicked") {
        problems.push("panicked".to_string());
    }
    for e in &expected {
        if !stderr.contains(e.as_str()) {
            problems.push(format!("missing `{e}`"));
        }
    }
    let found = locations(&stderr);
    let mut sorted = found.clone();
    sorted.sort();
    if found != sorted {
        problems.push(format!("not in file and line order: {found:?}"));
    }
    let n = stderr.lines().filter(|l| l.starts_with("error: ")).count();
    let total = format!(
        "validation failed: {n} {}",
        if n == 1 { "problem" } else { "problems" }
    );
    if stderr.trim_end().lines().last() != Some(total.as_str()) {
        problems.push(format!("does not end with `{total}`"));
    }
    let name = case.file_stem().unwrap().to_string_lossy().to_string();
    insta::with_settings!({snapshot_suffix => name, prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("corpus", stderr);
    });
    problems
        .into_iter()
        .map(|p| format!("{}: {p}\n--- stderr:\n{stderr}", case.display()))
        .collect()
}

/// Every `--> FILE:LINE:COL` of `stderr`, in the order printed.
fn locations(stderr: &str) -> Vec<(PathBuf, usize, usize)> {
    stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--> "))
        .map(|at| {
            let mut parts = at.rsplitn(3, ':');
            let col = parts.next().and_then(|c| c.parse().ok());
            let line = parts.next().and_then(|l| l.parse().ok());
            match (parts.next(), line, col) {
                (Some(file), Some(line), Some(col)) => (PathBuf::from(file), line, col),
                _ => (PathBuf::from(at), 0, 0),
            }
        })
        .collect()
}

#[test]
fn locations_are_read_with_their_line_and_column() {
    assert_eq!(
        locations("error: x\n  --> stacks/app.yaml:12:5\nerror: y\n  --> stackctl.yaml\n"),
        vec![
            (PathBuf::from("stacks/app.yaml"), 12, 5),
            (PathBuf::from("stackctl.yaml"), 0, 0)
        ]
    );
}

fn run_cases(pattern: &str, min: usize, setup: impl Fn(&Path, &str)) {
    let mut n = 0;
    let mut failures = Vec::new();
    insta::glob!(pattern, |case| {
        let dir = tempfile::tempdir().unwrap();
        setup(dir.path(), &std::fs::read_to_string(case).unwrap());
        failures.extend(check(case, dir.path()));
        n += 1;
    });
    assert!(n >= min, "only {n} cases for {pattern}");
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Creates `lambdas/CRATE/Cargo.toml` for every function a case declares,
/// so each case fails for its own reason; a `# crates: a, b` line creates
/// exactly those instead.
fn write_crates(dir: &Path, text: &str) {
    let mk = |name: &str| {
        let crate_dir = dir.join("lambdas").join(name);
        std::fs::create_dir_all(&crate_dir).unwrap();
        std::fs::write(crate_dir.join("Cargo.toml"), "[package]\n").unwrap();
    };
    if let Some(list) = text.lines().find_map(|l| l.strip_prefix("# crates: ")) {
        list.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .for_each(mk);
        return;
    }
    let Ok(doc) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return;
    };
    let Some(resources) = doc.get("resources").and_then(|r| r.as_mapping()) else {
        return;
    };
    for (key, r) in resources {
        if r.get("type").and_then(|t| t.as_str()) == Some("function") {
            let key = key.as_str().unwrap_or_default().replace('_', "-");
            mk(r.get("crate").and_then(|c| c.as_str()).unwrap_or(&key));
        }
    }
}

#[test]
fn broken_stack_files() {
    run_cases("corpus/stack/*.yaml", 25, |dir, text| {
        write_project(dir, PROJECT, &[("app", text)]);
        write_crates(dir, text);
    });
}

#[test]
fn broken_project_files() {
    run_cases("corpus/project/*.yaml", 10, |dir, text| {
        // Give every stack the case names a valid file, so the project file is what fails.
        let names: Vec<String> = serde_yaml::from_str::<serde_yaml::Value>(text)
            .ok()
            .and_then(|v| v.get("stacks").and_then(|s| s.as_mapping()).cloned())
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let stacks: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), STACK)).collect();
        write_project(dir, text, &stacks);
    });
}
