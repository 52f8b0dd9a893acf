//! `stackctl build` on a real project: the fixture `tests/fixtures/build-project`
//! (one function, crate `hello`, its own cargo workspace) is copied to a
//! temporary directory and built with the real cargo.

mod common;

use common::stackctl;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::process::Output;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn fixture() -> tempfile::TempDir {
    common::copy_fixture("build-project")
}

/// Runs `stackctl -C DIR build ARGS`. Each test builds in its own copy with
/// its own target directory: cargo's fingerprints of a workspace member do
/// not depend on where the workspace is, so copies sharing one target
/// directory could take each other's executables.
fn build(dir: &Path, args: &[&str]) -> Output {
    stackctl()
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .arg("-C")
        .arg(dir)
        .arg("build")
        .args(args)
        .output()
        .unwrap()
}

fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn builds_a_deterministic_zip_of_bootstrap() {
    let dir = fixture();
    let out = build(dir.path(), &["--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    let functions = report["functions"].as_array().unwrap();
    assert_eq!(functions.len(), 1, "{report:#}");
    let f = &functions[0];
    assert_eq!(f["crate_name"], "hello");
    assert_eq!(f["rebuilt"], true);
    assert_eq!(f["reason"], "no earlier build");
    assert_eq!(
        f["functions"],
        serde_json::json!([{"stack": "app", "resource": "hello"}])
    );
    assert_eq!(f["architecture"], "x86_64");
    assert_eq!(f["zip"], "target/zips/hello/bootstrap.zip");
    assert_eq!(f["built_with"], "cargo build");
    assert_eq!(report["glibc_limit"], "2.34");

    // The glibc check ran on the real executable: a glibc build on Linux
    // needs some GLIBC_2.x, and at most the runtime's 2.34 (or it would
    // have been rebuilt or refused).
    let glibc = f["glibc"].as_str().expect("a glibc version");
    let minor: u32 = glibc.split('.').nth(1).unwrap().parse().unwrap();
    assert!(glibc.starts_with("2.") && minor <= 34, "{glibc}");

    let zip_path = dir.path().join("target/zips/hello/bootstrap.zip");
    let sha = sha256_file(&zip_path);
    assert_eq!(f["sha256"], sha.as_str());
    assert_eq!(
        f["size"].as_u64(),
        Some(std::fs::metadata(&zip_path).unwrap().len())
    );
    assert_eq!(f["artefact_key"], format!("functions/hello/{sha}.zip"));

    // One entry, `bootstrap`, executable, and it is the program.
    let file = std::fs::File::open(&zip_path).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    assert_eq!(archive.len(), 1);
    let mut entry = archive.by_index(0).unwrap();
    assert_eq!(entry.name(), "bootstrap");
    assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
    let mut exe = Vec::new();
    entry.read_to_end(&mut exe).unwrap();
    assert!(exe.starts_with(b"\x7fELF"));
    let unpacked = dir.path().join("bootstrap");
    std::fs::write(&unpacked, &exe).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&unpacked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ran = std::process::Command::new(&unpacked).output().unwrap();
    assert_eq!(text(&ran.stdout), "hello from bootstrap\n");

    // Again, with nothing changed: the same bytes.
    let again = build(dir.path(), &["--output", "json", "--quiet"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let report2: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report2["functions"][0]["sha256"], sha.as_str());
    assert_eq!(sha256_file(&zip_path), sha);
    assert_eq!(text(&again.stderr), "", "--quiet prints nothing on success");
}

#[test]
fn text_output_is_a_table_and_progress_goes_to_stderr() {
    let dir = fixture();
    let out = build(dir.path(), &["hello"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("hello  "), "{stdout}");
    assert!(stdout.contains(" sha256 "), "{stdout}");
    assert!(stdout.contains(" ok "), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].ends_with("  built  target/zips/hello/bootstrap.zip"),
        "{stdout}"
    );
    assert_eq!(lines[1], "compiled hello: no earlier build", "{stdout}");
    // Not a terminal: plain lines, one per function.
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("building 1 function with cargo build: hello"),
        "{stderr}"
    );
    assert!(stderr.contains(": hello ("), "{stderr}");
}

#[test]
fn unknown_function_exits_3_with_a_hint() {
    let dir = fixture();
    let out = build(dir.path(), &["helo"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("unknown function `helo`"), "{stderr}");
    assert!(stderr.contains("hint: did you mean `hello`?"), "{stderr}");
    assert!(
        !dir.path().join("target/zips/hello/bootstrap.zip").exists(),
        "nothing is built"
    );
}

#[test]
fn a_compile_error_reaches_stderr_and_exits_1() {
    let dir = fixture();
    std::fs::write(
        dir.path().join("lambdas/hello/src/main.rs"),
        "fn main() { let x: u32 = \"not a number\"; }\n",
    )
    .unwrap();
    let out = build(dir.path(), &["--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error[E0308]: mismatched types"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: building `hello` failed"),
        "{stderr}"
    );
}

#[test]
fn invalid_project_builds_nothing() {
    let dir = fixture();
    std::fs::write(
        dir.path().join("stacks/app.yaml"),
        "resources:\n  hello:\n    type: function\n    memroy: 256\n",
    )
    .unwrap();
    let out = build(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("unknown field `memroy`"));
    assert!(!dir.path().join("target").exists(), "nothing is built");
}

#[test]
fn help_lists_build() {
    let out = stackctl().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert!(
        help.contains("build ") && help.contains("Build the Rust Lambda functions"),
        "{help}"
    );
    let out = stackctl().args(["build", "--help"]).output().unwrap();
    let help = text(&out.stdout);
    assert!(
        help.contains("Example: stackctl build create-upload"),
        "{help}"
    );
    assert!(help.contains("[FUNCTION]..."), "{help}");
}

/// Every package and its features, as cargo resolves them for building
/// `packages` together (`cargo tree -e normal`, so proc macros and their
/// syn count too).
fn resolved(packages: &[String]) -> std::collections::BTreeMap<String, String> {
    let mut cmd = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
    cmd.current_dir(common::repo()).args([
        "tree", "--locked", "-e", "normal", "-f", "{p} {f}", "--prefix", "none",
    ]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(' ').filter(|p| !p.starts_with('('));
            let package = format!("{} {}", parts.next()?, parts.next()?);
            Some((package, parts.next().unwrap_or_default().to_string()))
        })
        .collect()
}

/// `stackctl build` compiles the functions together, then each alone for
/// its own executable. A dependency that resolves other features alone
/// than together (getrandom through the PostgreSQL client, syn through
/// async-trait, ...) is compiled twice, and with it everything above it:
/// the whole AWS SDK, once more per function. lambda-shared pins those
/// features; this finds the next one.
#[test]
fn each_function_alone_resolves_the_features_all_functions_do() {
    assert_each_alone_as_together("lambdas", 13);
}

#[test]
fn each_service_alone_resolves_the_features_all_services_do() {
    // `stackctl build` compiles the services together, then each alone:
    // a difference would compile that service (fat LTO) twice.
    assert_each_alone_as_together("services", 3);
}

/// Every crate with a binary under `dir` resolves, alone, the features it
/// resolves together with the others there.
fn assert_each_alone_as_together(dir: &str, at_least: usize) {
    let functions: Vec<String> = std::fs::read_dir(common::repo().join(dir))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("src/main.rs").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(functions.len() >= at_least, "{functions:?}");
    let together = resolved(&functions);
    let mut differences = Vec::new();
    for f in &functions {
        for (package, features) in resolved(std::slice::from_ref(f)) {
            if let Some(all) = together.get(&package).filter(|all| **all != features) {
                differences.push(format!(
                    "{f}: {package} alone [{features}], together [{all}]"
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Whether this machine can build aarch64 Lambda executables: the Rust
/// target's standard library and cargo-zigbuild (the same test stackctl
/// makes before compiling).
fn builds_aarch64_here() -> bool {
    let sysroot = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .unwrap();
    let lib =
        Path::new(text(&sysroot.stdout).trim()).join("lib/rustlib/aarch64-unknown-linux-gnu/lib");
    let std_installed = std::fs::read_dir(lib)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"));
    let zigbuild = std::process::Command::new("cargo")
        .args(["zigbuild", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    std_installed && zigbuild
}

/// A function on arm64 except in `local`: `build --env local` makes the
/// x86_64 zip; building for arm64 needs the aarch64 target and a cross
/// linker. Where they are missing, nothing compiles and the error says
/// what to install; where they are installed, the arm64 zip holds an
/// aarch64 executable under its own path and key.
#[test]
fn architectures_are_per_environment_and_arm64_needs_its_target() {
    let dir = fixture();
    let edit = |file: &str, from: &str, to: &str| {
        let path = dir.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file}: {from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit(
        "stacks/app.yaml",
        "    crate: hello\n",
        "    crate: hello\n    architecture: {default: arm64, local: x86_64}\n",
    );
    edit(
        "stackctl.yaml",
        "environments:\n",
        "environments:\n  dev:\n    region: us-east-1\n",
    );

    if builds_aarch64_here() {
        let out = build(dir.path(), &["--env", "dev", "--output", "json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let f = &report["functions"][0];
        assert_eq!(f["architecture"], "arm64");
        assert_eq!(f["zip"], "target/zips-arm64/hello/bootstrap.zip");
        assert!(f["artefact_key"]
            .as_str()
            .unwrap()
            .starts_with("functions/hello/arm64/"));
        let zip = std::fs::File::open(dir.path().join("target/zips-arm64/hello/bootstrap.zip"));
        let mut archive = zip::ZipArchive::new(zip.unwrap()).unwrap();
        let mut exe = Vec::new();
        archive
            .by_name("bootstrap")
            .unwrap()
            .read_to_end(&mut exe)
            .unwrap();
        // e_machine (little-endian u16 at 18): 183 is EM_AARCH64.
        assert_eq!(u16::from_le_bytes([exe[18], exe[19]]), 183);
    } else {
        // Every environment's architecture: arm64 is among them.
        let out = build(dir.path(), &[]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("cannot build for another machine here; nothing was compiled"),
            "{stderr}"
        );
        assert!(
            stderr.contains("function `hello` (crate `hello`, stack `app`) is arm64 but this machine builds x86_64"),
            "{stderr}"
        );
        assert!(stderr.contains("missing: "), "{stderr}");
        assert!(
            stderr.contains("hint: install what is missing:"),
            "{stderr}"
        );
        assert!(
            stderr.contains("rustup target add aarch64-unknown-linux-gnu")
                || stderr.contains("pip install ziglang cargo-zigbuild"),
            "{stderr}"
        );
        assert!(!stderr.contains("Compiling"), "nothing compiled: {stderr}");
        assert!(
            !dir.path().join("target/lambda").exists(),
            "nothing compiled"
        );
        for zips in ["target/zips/hello", "target/zips-arm64/hello"] {
            assert!(!dir.path().join(zips).exists(), "nothing zipped: {zips}");
        }
    }

    // `local` runs x86_64 here: only that zip is built.
    let out = build(dir.path(), &["--env", "local", "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let functions = report["functions"].as_array().unwrap();
    assert_eq!(functions.len(), 1, "{report:#}");
    assert_eq!(functions[0]["architecture"], "x86_64");
    assert_eq!(functions[0]["zip"], "target/zips/hello/bootstrap.zip");

    // An unknown environment is a usage error.
    let out = build(dir.path(), &["--env", "qa"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("unknown environment `qa`"));
}
