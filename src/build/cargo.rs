//! Running cargo (or `cargo zigbuild`) for the function crates and reading
//! its JSON messages: which executable each crate produced, and progress.
//!
//! Every function crate defines a binary named after the crate (the zip
//! ships it as `bootstrap`), so crates built together never overwrite each
//! other's executable. A build of several crates is still two steps: one
//! cargo command compiles all of them (in parallel, sharing dependencies),
//! then one cargo command per crate, usually with nothing left to do, gives
//! the executable that crate alone would have: if feature unification across
//! the selection changed a dependency, that command rebuilds it, so a zip
//! never depends on which other functions were selected.

use super::progress::Progress;
use anyhow::{bail, Context};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The cargo profile functions are built with (defined in the workspace's
/// `Cargo.toml`).
pub const PROFILE: &str = "lambda";

/// How to compile: plain cargo for the host, or `cargo zigbuild` for a
/// target triple with a glibc suffix (`x86_64-unknown-linux-gnu.2.34`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tool {
    /// `cargo build` for the host.
    Cargo,
    /// `cargo zigbuild --target TARGET`.
    Zigbuild {
        /// Target triple with the glibc version to link against.
        target: String,
    },
}

impl Tool {
    /// The cargo subcommand.
    fn subcommand(&self) -> &'static str {
        match self {
            Tool::Cargo => "build",
            Tool::Zigbuild { .. } => "zigbuild",
        }
    }

    /// How the tool is named in progress and messages.
    pub fn describe(&self) -> String {
        match self {
            Tool::Cargo => "cargo build".to_string(),
            Tool::Zigbuild { target } => format!("cargo zigbuild --target {target}"),
        }
    }

    /// The arguments after the program for building `crates`.
    pub fn args(&self, crates: &[String]) -> Vec<String> {
        let mut args = vec![
            self.subcommand().to_string(),
            "--profile".to_string(),
            PROFILE.to_string(),
        ];
        if let Tool::Zigbuild { target } = self {
            args.extend(["--target".to_string(), target.clone()]);
        }
        for c in crates {
            args.extend(["-p".to_string(), c.clone()]);
        }
        for c in crates {
            args.extend(["--bin".to_string(), c.clone()]);
        }
        args.push("--message-format=json-render-diagnostics".to_string());
        args
    }
}

/// The cargo to run: `$CARGO` when set (as cargo sets it for the programs it
/// runs), else `cargo` from the PATH.
pub fn program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Whether `cargo zigbuild` is installed. (`--help`, because
/// `cargo zigbuild --version` is an error in cargo-zigbuild 0.24.)
pub fn zigbuild_available() -> bool {
    Command::new(program())
        .args(["zigbuild", "--help"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Compiles the function executable of each crate in `crates` (directories under
/// `ROOT/lambdas/`) with `tool`, and returns each executable's bytes.
pub fn compile(
    root: &Path,
    crates: &[String],
    tool: &Tool,
    progress: &Progress,
) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    compile_in(root, "lambdas", crates, tool, progress)
}

/// As [`compile`], for crates under `ROOT/FOLDER/` (`services/` for the
/// container images of services).
pub fn compile_in(
    root: &Path,
    folder: &str,
    crates: &[String],
    tool: &Tool,
    progress: &Progress,
) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let manifests = manifests(root, folder, crates)?;
    progress.start(&tool.describe(), crates);
    let built = run(root, crates, tool, &manifests, progress, true)?;
    let missing: Vec<&String> = crates.iter().filter(|c| !built.contains_key(*c)).collect();
    if !missing.is_empty() {
        let list = join_quoted(missing.iter().map(|s| s.as_str()));
        bail!(
            "{tool} built no executable for {list}\nhint: each function crate needs a binary target named after the crate: add\n  [[bin]]\n  name = \"CRATE\"\n  path = \"src/main.rs\"\nto its Cargo.toml",
            tool = tool.describe()
        );
    }
    let mut executables = BTreeMap::new();
    if let [only] = crates {
        executables.insert(only.clone(), read(&built[only])?);
        return Ok(executables);
    }
    for c in crates {
        let one = run(
            root,
            std::slice::from_ref(c),
            tool,
            &manifests,
            progress,
            false,
        )?;
        let path = one
            .get(c)
            .with_context(|| format!("cargo reported no executable for `{c}` when built alone"))?;
        executables.insert(c.clone(), read(path)?);
    }
    Ok(executables)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Each crate's manifest, canonical, as cargo names it in its messages.
fn manifests(
    root: &Path,
    folder: &str,
    crates: &[String],
) -> anyhow::Result<BTreeMap<PathBuf, String>> {
    crates
        .iter()
        .map(|c| {
            let path = root.join(folder).join(c).join("Cargo.toml");
            let canonical = path
                .canonicalize()
                .with_context(|| format!("finding {}", path.display()))?;
            Ok((canonical, c.clone()))
        })
        .collect()
}

/// One JSON message of `cargo build --message-format=json`; only the fields
/// stackctl reads.
#[derive(Debug, Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    manifest_path: Option<PathBuf>,
    #[serde(default)]
    target: Option<Target>,
    #[serde(default)]
    executable: Option<PathBuf>,
    #[serde(default)]
    fresh: bool,
}

#[derive(Debug, Deserialize)]
struct Target {
    name: String,
    #[serde(default)]
    kind: Vec<String>,
}

/// What cargo's stderr showed, beyond what was forwarded.
#[derive(Debug, Default)]
struct StderrSummary {
    missing_profile: bool,
    not_a_member: bool,
}

/// Runs one cargo command and returns the executable each crate
/// reported. `report` says whether this run drives the progress display.
fn run(
    root: &Path,
    crates: &[String],
    tool: &Tool,
    manifests: &BTreeMap<PathBuf, String>,
    progress: &Progress,
    report: bool,
) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let program = program();
    let args = tool.args(crates);
    let mut child = Command::new(&program)
        .args(&args)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "cannot run `{} {}`",
                program.to_string_lossy(),
                args.join(" ")
            )
        })?;
    let stdout = child.stdout.take().context("cargo's stdout")?;
    let stderr = child.stderr.take().context("cargo's stderr")?;
    let mut found = BTreeMap::new();
    let (status, summary) = std::thread::scope(|scope| -> anyhow::Result<_> {
        let errors = scope.spawn(|| forward_stderr(stderr, progress, report));
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading cargo's output")?;
            let Ok(msg) = serde_json::from_str::<Message>(&line) else {
                // Not a cargo message (a wrapper's own output): pass it on.
                progress.diagnostic(&line);
                continue;
            };
            if msg.reason != "compiler-artifact" {
                continue;
            }
            if report || !msg.fresh {
                progress.unit_done();
            }
            if let Some((c, exe)) = bootstrap_of(&msg, manifests) {
                if report {
                    progress.function_compiled(&c, msg.fresh);
                }
                found.insert(c, exe);
            }
        }
        let summary = errors.join().unwrap_or_default();
        let status = child.wait().context("waiting for cargo")?;
        Ok((status, summary))
    })?;
    if !status.success() {
        progress.failed();
        let ended = match status.code() {
            Some(code) => format!("exited with code {code}"),
            None => "was killed".to_string(),
        };
        let mut text = format!(
            "building {} failed: `{}` {ended} (its messages are above)",
            join_quoted(crates.iter().map(String::as_str)),
            tool.describe()
        );
        if summary.missing_profile {
            text.push_str(&format!(
                "\nhint: add the `{PROFILE}` profile to the workspace's Cargo.toml:\n  [profile.{PROFILE}]\n  inherits = \"release\"\n  opt-level = \"s\"\n  lto = true\n  codegen-units = 1\n  panic = \"abort\"\n  strip = true"
            ));
        }
        if summary.not_a_member {
            text.push_str(
                "\nhint: every function crate must be a member of the workspace: list `lambdas/CRATE` under [workspace] members in the root Cargo.toml",
            );
        }
        bail!(text);
    }
    Ok(found)
}

/// The crate and executable of an artifact message for a crate's own binary.
fn bootstrap_of(msg: &Message, manifests: &BTreeMap<PathBuf, String>) -> Option<(String, PathBuf)> {
    let target = msg.target.as_ref()?;
    let manifest = msg.manifest_path.as_ref()?;
    let manifest = manifest.canonicalize().unwrap_or_else(|_| manifest.clone());
    let c = manifests.get(&manifest)?;
    if target.name != *c || !target.kind.iter().any(|k| k == "bin") {
        return None;
    }
    Some((c.clone(), msg.executable.clone()?))
}

/// Reads cargo's stderr: status lines ("Compiling x") drive the progress,
/// everything else (rendered compiler diagnostics) is passed on.
fn forward_stderr(stderr: impl std::io::Read, progress: &Progress, report: bool) -> StderrSummary {
    let mut summary = StderrSummary::default();
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if line.contains("profile `lambda` is not defined") {
            summary.missing_profile = true;
        }
        if line.contains("did not match any packages") {
            summary.not_a_member = true;
        }
        match status_line(&line) {
            Some(("Compiling", rest)) => {
                if report {
                    progress.compiling(rest.split(' ').next().unwrap_or(rest));
                }
            }
            Some(("Blocking", rest)) => progress.waiting(rest),
            Some(_) => {}
            None => progress.diagnostic(&line),
        }
    }
    summary
}

/// Splits a cargo status line (`   Compiling serde v1.0.0`: a capitalised
/// verb right-aligned in 12 columns) into the verb and the rest.
fn status_line(line: &str) -> Option<(&str, &str)> {
    let (head, rest) = (line.get(..12)?, line.get(12..)?);
    let verb = head.trim_start();
    let rest = rest.strip_prefix(' ')?;
    let first = verb.chars().next()?;
    if first.is_ascii_uppercase() && verb.chars().all(|c| c.is_ascii_alphabetic()) {
        Some((verb, rest))
    } else {
        None
    }
}

fn join_quoted<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_told_from_diagnostics() {
        assert_eq!(
            status_line("   Compiling serde v1.0.219"),
            Some(("Compiling", "serde v1.0.219"))
        );
        assert_eq!(
            status_line("    Finished `lambda` profile [optimized] target(s) in 1.2s"),
            Some(("Finished", "`lambda` profile [optimized] target(s) in 1.2s"))
        );
        assert_eq!(
            status_line("    Blocking waiting for file lock on build directory"),
            Some(("Blocking", "waiting for file lock on build directory"))
        );
        for diag in [
            "error[E0425]: cannot find value `x` in this scope",
            "warning: unused variable: `y`",
            " --> lambdas/hello/src/main.rs:2:5",
            "  |",
            "2 |     x",
            "error: could not compile `hello` (bin \"bootstrap\") due to 1 previous error",
            "",
        ] {
            assert_eq!(status_line(diag), None, "{diag}");
        }
    }

    #[test]
    fn stderr_passes_diagnostics_and_keeps_status_lines_for_progress() {
        let stderr = "   Compiling b v0.1.0 (/p/lambdas/b)
error[E0308]: mismatched types
 --> lambdas/b/src/main.rs:1:26
  |
1 | fn main() { let x: u32 = \"\"; }
  |                          ^^ expected `u32`, found `&str`

error: profile `lambda` is not defined
error: package ID specification `nope` did not match any packages
";
        let progress = Progress::silent();
        let summary = forward_stderr(stderr.as_bytes(), &progress, true);
        let held = progress.held();
        assert_eq!(held[0], "error[E0308]: mismatched types");
        assert_eq!(held.len(), 8, "{held:#?}");
        assert!(!held.iter().any(|l| l.contains("Compiling")));
        assert!(summary.missing_profile);
        assert!(summary.not_a_member);
    }

    #[test]
    fn arguments_select_the_profile_the_crates_and_the_bin() {
        let crates = ["a".to_string(), "b".to_string()];
        assert_eq!(
            Tool::Cargo.args(&crates).join(" "),
            "build --profile lambda -p a -p b --bin a --bin b --message-format=json-render-diagnostics"
        );
        let zig = Tool::Zigbuild {
            target: "aarch64-unknown-linux-gnu.2.34".into(),
        };
        assert_eq!(
            zig.args(&crates[..1]).join(" "),
            "zigbuild --profile lambda --target aarch64-unknown-linux-gnu.2.34 -p a --bin a --message-format=json-render-diagnostics"
        );
    }

    #[test]
    fn artifact_messages_name_the_crate_by_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("lambdas/hello/Cargo.toml");
        std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
        std::fs::write(&manifest, "").unwrap();
        let manifests = super::manifests(dir.path(), "lambdas", &["hello".to_string()]).unwrap();
        let line = serde_json::json!({
            "reason": "compiler-artifact",
            "package_id": "path+file:///x/lambdas/hello#0.1.0",
            "manifest_path": manifest,
            "target": {"kind": ["bin"], "crate_types": ["bin"], "name": "hello", "src_path": "/x/src/main.rs"},
            "executable": "/x/target/lambda/hello",
            "fresh": false,
        })
        .to_string();
        let msg: Message = serde_json::from_str(&line).unwrap();
        assert_eq!(
            bootstrap_of(&msg, &manifests),
            Some(("hello".into(), PathBuf::from("/x/target/lambda/hello")))
        );
        // Another binary of the same crate is not the function.
        let other = line.replace("\"name\":\"hello\"", "\"name\":\"tool\"");
        let msg: Message = serde_json::from_str(&other).unwrap();
        assert_eq!(bootstrap_of(&msg, &manifests), None);
        let lib = line.replace("\"bin\"", "\"lib\"");
        let msg: Message = serde_json::from_str(&lib).unwrap();
        assert_eq!(bootstrap_of(&msg, &manifests), None);
    }
}
