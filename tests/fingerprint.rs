//! `stackctl build` decides from fingerprints, without cargo, which
//! functions to compile: on `tests/fixtures/fingerprint-project` (functions
//! `alpha` and `beta`, both depending on the crate `shared`), built with the
//! real cargo, each input is edited in turn and exactly the functions it
//! affects are compiled again. A build with nothing changed runs with
//! `CARGO=false`, so starting cargo would fail it.
//!
//! `Cargo.lock` is covered in `src/build/fingerprint.rs` (a lock edit that
//! cargo accepts needs another version of a crate from crates.io).

mod common;

use common::{copy_fixture, edit, stackctl};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// `stackctl build --output json` in `dir` with `env`; the report.
fn build(dir: &Path, env: &[(&str, &str)]) -> Value {
    let mut cmd = stackctl();
    cmd.env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .arg("-C")
        .arg(dir)
        .args(["build", "--output", "json", "--quiet"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Crate -> the reason it was compiled, for the crates that were.
fn rebuilt(report: &Value) -> BTreeMap<String, String> {
    report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rebuilt"] == true)
        .map(|f| {
            (
                f["crate_name"].as_str().unwrap().to_string(),
                f["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn sha(report: &Value, crate_name: &str) -> String {
    report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["crate_name"] == crate_name)
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Nothing changed: no cargo process starts (`CARGO=false` would fail).
fn assert_nothing_compiles(dir: &Path) -> Value {
    let report = build(dir, &[("CARGO", "false")]);
    assert_eq!(rebuilt(&report), BTreeMap::new(), "{report:#}");
    report
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn each_input_rebuilds_exactly_the_functions_it_affects() {
    let dir = copy_fixture("fingerprint-project");
    let dir = dir.path();

    let first = build(dir, &[]);
    assert_eq!(
        rebuilt(&first),
        expect(&[("alpha", "no earlier build"), ("beta", "no earlier build")])
    );
    let unchanged = assert_nothing_compiles(dir);
    assert_eq!(sha(&unchanged, "alpha"), sha(&first, "alpha"));
    assert_eq!(sha(&unchanged, "beta"), sha(&first, "beta"));

    // One function's own source: that function only.
    edit(dir, "lambdas/alpha/src/main.rs", "\"alpha\"", "\"alpha!\"");
    let r = build(dir, &[]);
    assert_eq!(
        rebuilt(&r),
        expect(&[("alpha", "lambdas/alpha/src/main.rs changed")])
    );
    assert_ne!(sha(&r, "alpha"), sha(&first, "alpha"), "new code, new zip");
    assert_eq!(sha(&r, "beta"), sha(&first, "beta"));
    assert_nothing_compiles(dir);

    // The shared crate: both.
    edit(dir, "lambdas/shared/src/lib.rs", "hello from", "hi from");
    let r = build(dir, &[]);
    assert_eq!(
        rebuilt(&r),
        expect(&[
            ("alpha", "lambdas/shared/src/lib.rs changed"),
            ("beta", "lambdas/shared/src/lib.rs changed"),
        ])
    );
    assert_nothing_compiles(dir);

    // A new file in the shared crate is an input too, even before any
    // module uses it (cargo would see it once one does).
    std::fs::write(dir.join("lambdas/shared/src/extra.rs"), "// more\n").unwrap();
    let r = build(dir, &[]);
    assert_eq!(
        rebuilt(&r),
        expect(&[
            ("alpha", "lambdas/shared/src/extra.rs added"),
            ("beta", "lambdas/shared/src/extra.rs added"),
        ])
    );
    // A function's tests do not enter its executable.
    std::fs::create_dir_all(dir.join("lambdas/beta/tests")).unwrap();
    std::fs::write(dir.join("lambdas/beta/tests/t.rs"), "#[test]\nfn t() {}\n").unwrap();
    assert_nothing_compiles(dir);

    // The profile, in the workspace manifest: both.
    edit(dir, "Cargo.toml", "opt-level = \"s\"", "opt-level = \"z\"");
    let r = build(dir, &[]);
    assert_eq!(
        rebuilt(&r),
        expect(&[
            ("alpha", "workspace manifest changed"),
            ("beta", "workspace manifest changed"),
        ])
    );
    assert_nothing_compiles(dir);

    // The build environment: both, and again when it changes back.
    let flag = ("CARGO_PROFILE_LAMBDA_DEBUG_ASSERTIONS", "false");
    let r = build(dir, &[flag]);
    let env_changed = expect(&[
        ("alpha", "build environment changed"),
        ("beta", "build environment changed"),
    ]);
    assert_eq!(rebuilt(&r), env_changed);
    let r = build(dir, &[flag, ("CARGO", "false")]);
    assert_eq!(rebuilt(&r), BTreeMap::new());
    assert_eq!(rebuilt(&build(dir, &[])), env_changed);
}

#[test]
fn a_new_toolchain_rebuilds_every_function() {
    let dir = copy_fixture("fingerprint-project");
    let dir = dir.path();
    build(dir, &[]);
    assert_nothing_compiles(dir);

    // A rustc that reports another version (and is the same compiler
    // underneath), as after `rustup update`.
    let fake = dir.join("fake-rustc");
    std::fs::write(
        &fake,
        "#!/bin/sh\nif [ \"$1\" = -vV ]; then rustc -vV | sed '1s/$/ edited/'; else exec rustc \"$@\"; fi\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fake = fake.to_str().unwrap();
    let r = build(dir, &[("RUSTC", fake)]);
    let reasons = rebuilt(&r);
    assert_eq!(
        reasons.keys().collect::<Vec<_>>(),
        ["alpha", "beta"],
        "{r:#}"
    );
    for reason in reasons.values() {
        assert!(
            reason.starts_with("the toolchain changed (rustc ") && reason.ends_with(" edited)"),
            "{reason}"
        );
    }
    let again = build(dir, &[("RUSTC", fake), ("CARGO", "false")]);
    assert_eq!(rebuilt(&again), BTreeMap::new());
}

#[test]
fn a_missing_zip_is_built_again() {
    let dir = copy_fixture("fingerprint-project");
    let dir = dir.path();
    build(dir, &[]);
    std::fs::remove_file(dir.join("target/zips/beta/bootstrap.zip")).unwrap();
    let r = build(dir, &[]);
    assert_eq!(
        rebuilt(&r),
        expect(&[(
            "beta",
            "target/zips/beta/bootstrap.zip is missing or changed"
        )])
    );
}
