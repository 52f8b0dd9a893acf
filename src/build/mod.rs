//! Building the project's Rust Lambda functions into deterministic zips.
//!
//! Each `function` resource names a crate under `lambdas/` (its `crate:`, or
//! the resource key with `_` as `-`) that defines a binary named after the crate. A
//! build compiles the selected crates with the `lambda` cargo profile
//! ([`cargo`]), checks that each executable runs on `provided.al2023`
//! (machine, and glibc at most 2.34: [`glibc`]), rebuilds with
//! `cargo zigbuild` against glibc 2.34 when it does not, and packages each
//! as `target/zips/CRATE/bootstrap.zip` ([`zip`]), byte-identical for the
//! same executable. `deploy` uploads it under [`artefact_key`].

pub mod cargo;
pub mod fingerprint;
pub mod glibc;
pub mod progress;
pub mod zip;

use crate::exit::UsageError;
use crate::model::stack::Resource;
use crate::model::Project;
use crate::output::Printer;
use anyhow::{bail, Context};
use cargo::Tool;
use fingerprint::{Fingerprint, Record};
use glibc::{GlibcVersion, LAMBDA_GLIBC};
use progress::Progress;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The S3 key under which `deploy` stores a function's zip: content-addressed,
/// so an unchanged function is never uploaded twice.
pub fn artefact_key(crate_name: &str, arch: Arch, sha256: &str) -> String {
    match arch {
        // x86_64 keeps the keys it had before architectures were per
        // environment, so that no deployed function sees its code change.
        Arch::X86_64 => format!("functions/{crate_name}/{sha256}.zip"),
        other => format!("functions/{crate_name}/{other}/{sha256}.zip"),
    }
}

/// Where a function's zip for `arch` is written, relative to the project
/// root: `target/zips/CRATE/` for x86_64, `target/zips-arm64/CRATE/` for
/// arm64 (one crate may run on both, in different environments).
pub fn zip_path(crate_name: &str, arch: Arch) -> PathBuf {
    // Beside, not inside, cargo's `target/lambda/`, where each crate's
    // executable is a file named after the crate.
    let dir = match arch {
        Arch::X86_64 => "zips".to_string(),
        other => format!("zips-{other}"),
    };
    Path::new("target")
        .join(dir)
        .join(crate_name)
        .join("bootstrap.zip")
}

/// A Lambda instruction set.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Arch {
    /// `x86_64` (the default).
    #[default]
    #[serde(rename = "x86_64")]
    X86_64,
    /// `arm64` (Graviton).
    #[serde(rename = "arm64")]
    Arm64,
}

impl Arch {
    /// The machine stackctl runs on, when plain cargo builds Lambda
    /// executables here (Linux on x86_64 or aarch64).
    pub fn host() -> Option<Self> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// The target triple for `cargo zigbuild`, with the runtime's glibc.
    pub fn zig_target(self) -> String {
        let cpu = match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "aarch64",
        };
        format!("{cpu}-unknown-linux-gnu.{LAMBDA_GLIBC}")
    }

    /// The rustup target to install for a cross build.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        })
    }
}

/// Which functions to build.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Crate names or resource keys; empty means every function.
    pub names: Vec<String>,
    /// The environment whose architectures are built; `None`: every
    /// architecture any environment runs.
    pub env: Option<String>,
}

/// A resource that runs a crate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Use {
    /// The stack declaring it.
    pub stack: String,
    /// Its resource key.
    pub resource: String,
}

/// One crate to build, with every function resource that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// The crate under `lambdas/`.
    pub crate_name: String,
    /// Where the project uses it.
    pub uses: Vec<Use>,
    /// Its instruction set.
    pub arch: Arch,
}

/// Every (crate, architecture) the project's function resources run in
/// environment `env` (every environment when `None`), deduplicated, by
/// crate name then architecture.
pub fn functions(project: &Project, env: Option<&str>) -> anyhow::Result<Vec<Function>> {
    let envs: Vec<&str> = match env {
        Some(e) => vec![e],
        None => project
            .file
            .environments
            .keys()
            .map(String::as_str)
            .collect(),
    };
    let mut by_crate: BTreeMap<(String, Arch), Function> = BTreeMap::new();
    // What each crate is built for in each environment, by whom first.
    let mut chosen: BTreeMap<(String, &str), (Arch, Use)> = BTreeMap::new();
    for (stack_name, stack) in &project.stacks {
        for (key, resource) in &stack.resources {
            let Resource::Function(f) = resource else {
                continue;
            };
            let crate_name = f
                .crate_name
                .clone()
                .unwrap_or_else(|| key.replace('_', "-"));
            let using = Use {
                stack: stack_name.clone(),
                resource: key.clone(),
            };
            for env in &envs {
                let arch = crate::kinds::function::architecture(f, env);
                match chosen.get(&(crate_name.clone(), *env)) {
                    Some((other, first)) if *other != arch => {
                        return Err(UsageError::new(format!(
                            "crate `{crate_name}` is built for {other} by `{}.{}` and for {arch} by `{stack_name}.{key}` in environment `{env}`\nhint: one crate gives one zip per environment: set the same `architecture:` on both, or give one its own crate",
                            first.stack, first.resource
                        ))
                        .into());
                    }
                    Some(_) => {}
                    None => {
                        chosen.insert((crate_name.clone(), *env), (arch, using.clone()));
                    }
                }
                let entry = by_crate
                    .entry((crate_name.clone(), arch))
                    .or_insert_with(|| Function {
                        crate_name: crate_name.clone(),
                        uses: Vec::new(),
                        arch,
                    });
                if !entry.uses.contains(&using) {
                    entry.uses.push(using.clone());
                }
            }
        }
    }
    Ok(by_crate.into_values().collect())
}

/// The functions `names` ask for (by crate name or resource key); all of
/// them when `names` is empty.
pub fn select(all: Vec<Function>, names: &[String]) -> Result<Vec<Function>, UsageError> {
    if names.is_empty() {
        return Ok(all);
    }
    let matches =
        |f: &Function, n: &str| f.crate_name == n || f.uses.iter().any(|u| u.resource == n);
    for n in names {
        if all.iter().any(|f| matches(f, n)) {
            continue;
        }
        let mut known: Vec<&str> = all
            .iter()
            .flat_map(|f| {
                std::iter::once(f.crate_name.as_str())
                    .chain(f.uses.iter().map(|u| u.resource.as_str()))
            })
            .collect();
        known.sort_unstable();
        known.dedup();
        let hint = if known.is_empty() {
            "the project declares no `function` resources".to_string()
        } else {
            match crate::diagnostics::closest(n, known.iter().copied()) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!(
                    "functions: {}",
                    all.iter()
                        .map(|f| f.crate_name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        };
        return Err(UsageError::new(format!(
            "unknown function `{n}`\nhint: {hint}"
        )));
    }
    Ok(all
        .into_iter()
        .filter(|f| names.iter().any(|n| matches(f, n)))
        .collect())
}

/// One built function.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltFunction {
    /// The crate under `lambdas/`.
    pub crate_name: String,
    /// The function resources that run it.
    pub functions: Vec<Use>,
    /// Its instruction set.
    pub architecture: Arch,
    /// The zip, relative to the project root.
    pub zip: PathBuf,
    /// The zip's size in bytes.
    pub size: u64,
    /// The zip's sha256, hex.
    pub sha256: String,
    /// Where `deploy` uploads it.
    pub artefact_key: String,
    /// The highest glibc version the executable needs (`null`: none, static).
    pub glibc: Option<GlibcVersion>,
    /// How it was compiled: `cargo build`, or `cargo zigbuild --target ...`.
    pub built_with: String,
    /// Whether cargo ran for it this time (false: its fingerprint matched
    /// the stored one, and the zip on disk was used as it is).
    pub rebuilt: bool,
    /// Why it was compiled: the first input that changed, `no earlier
    /// build`, ... (`null` when it was not).
    pub reason: Option<String>,
}

/// What `build` produced.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// The glibc of the Lambda runtime every function was checked against.
    pub glibc_limit: GlibcVersion,
    /// One entry per crate, by crate name.
    pub functions: Vec<BuiltFunction>,
}

impl fmt::Display for BuildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.functions.is_empty() {
            return writeln!(f, "no function resources in the project: nothing to build");
        }
        let rows: Vec<[String; 6]> = self
            .functions
            .iter()
            .map(|b| {
                let glibc = match b.glibc {
                    Some(v) => format!("glibc {v} ok"),
                    None => "glibc none (static)".to_string(),
                };
                let glibc = match &b.built_with[..] {
                    "cargo build" => glibc,
                    other => format!("{glibc} ({})", other.trim_start_matches("cargo ")),
                };
                [
                    b.crate_name.clone(),
                    human_size(b.size),
                    format!("sha256 {}…", &b.sha256[..b.sha256.len().min(12)]),
                    glibc,
                    if b.rebuilt { "built" } else { "unchanged" }.to_string(),
                    b.zip.display().to_string(),
                ]
            })
            .collect();
        let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
        let (w0, w1, w3, w4) = (width(0), width(1), width(3), width(4));
        for [name, size, sha, glibc, what, zip] in &rows {
            writeln!(
                f,
                "{name:<w0$}  {size:>w1$}  {sha}  {glibc:<w3$}  {what:<w4$}  {zip}"
            )?;
        }
        let built: Vec<&BuiltFunction> = self.functions.iter().filter(|b| b.rebuilt).collect();
        if built.is_empty() {
            writeln!(
                f,
                "nothing to compile: every function's inputs are as at its last build"
            )?;
        } else {
            for b in built {
                writeln!(
                    f,
                    "compiled {}: {}",
                    b.crate_name,
                    b.reason.as_deref().unwrap_or("asked to")
                )?;
            }
        }
        Ok(())
    }
}

/// `n` bytes as B, KiB or MiB.
fn human_size(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let x = n as f64;
    if x < KIB {
        format!("{n} B")
    } else if x < KIB * KIB {
        format!("{:.1} KiB", x / KIB)
    } else {
        format!("{:.1} MiB", x / (KIB * KIB))
    }
}

/// Validates the project at `root`, then builds the selected functions.
/// Nothing is compiled when the project is invalid.
pub fn build(root: &Path, selection: &Selection, printer: Printer) -> anyhow::Result<BuildReport> {
    let (project, _) = crate::validate::project(root)?;
    build_project(&project, selection, printer)
}

/// Builds the selected functions of a loaded, valid project.
pub fn build_project(
    project: &Project,
    selection: &Selection,
    printer: Printer,
) -> anyhow::Result<BuildReport> {
    plan(project, selection)?.execute(printer)
}

/// Which selected functions need cargo, decided from fingerprints alone
/// (no process started): the first step of a build, apart so that a
/// caller can do something else (check AWS access) before a long compile.
#[derive(Debug)]
pub struct BuildPlan {
    root: PathBuf,
    /// Selected crates with their architecture, in report order.
    order: Vec<(String, Arch)>,
    /// Functions whose zips are current, by crate and architecture.
    current: BTreeMap<(String, Arch), BuiltFunction>,
    /// Functions to compile: with the fingerprint their build starts
    /// from (none when it could not be taken) and why they are compiled.
    stale: Vec<(Function, Option<Fingerprint>, String)>,
}

/// Decides, for each selected function of a loaded, valid project, whether
/// its zip is current.
pub fn plan(project: &Project, selection: &Selection) -> anyhow::Result<BuildPlan> {
    let selected = select(
        functions(project, selection.env.as_deref())?,
        &selection.names,
    )?;
    let root = project.root.as_path();
    let mut plan = BuildPlan {
        root: root.to_path_buf(),
        order: selected
            .iter()
            .map(|f| (f.crate_name.clone(), f.arch))
            .collect(),
        current: BTreeMap::new(),
        stale: Vec::new(),
    };
    if selected.is_empty() {
        return Ok(plan);
    }
    check_crates(root, &selected)?;
    // What each function's build depends on, read before cargo runs so an
    // edit made during the build shows up in the next one.
    let workspace = fingerprint::Workspace::load(root);
    for f in selected {
        let zip = zip_path(&f.crate_name, f.arch);
        let print = workspace
            .as_ref()
            .map_err(|e| format!("{e:#}"))
            .and_then(|w| {
                w.fingerprint(&f.crate_name, f.arch)
                    .map_err(|e| format!("{e:#}"))
            });
        match print {
            Ok(now) => {
                let record = Record::load(&root.join(&zip));
                match (
                    fingerprint::stale(record.as_ref(), &now, root, &zip),
                    record,
                ) {
                    (None, Some(record)) => {
                        let built = from_record(&f, record);
                        plan.current.insert((f.crate_name.clone(), f.arch), built);
                    }
                    (reason, _) => {
                        let reason = reason.unwrap_or_else(|| "no earlier build".into());
                        plan.stale.push((f, Some(now), reason));
                    }
                }
            }
            // No fingerprint, no shortcut: cargo decides.
            Err(e) => plan.stale.push((f, None, format!("no fingerprint ({e})"))),
        }
    }
    Ok(plan)
}

impl BuildPlan {
    /// A plan with no functions.
    pub fn empty(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            order: Vec::new(),
            current: BTreeMap::new(),
            stale: Vec::new(),
        }
    }

    /// Whether cargo has to run.
    pub fn needs_compile(&self) -> bool {
        !self.stale.is_empty()
    }

    /// The functions whose zips are current (their inputs as at their last
    /// build), without building anything.
    pub fn current(&self) -> Vec<BuiltFunction> {
        self.order
            .iter()
            .filter_map(|c| self.current.get(c).cloned())
            .collect()
    }

    /// Compiles what is stale (progress as `printer` says) and reports
    /// every selected function.
    pub fn execute(self, printer: Printer) -> anyhow::Result<BuildReport> {
        let BuildPlan {
            root,
            order,
            mut current,
            stale,
        } = self;
        if !stale.is_empty() {
            let functions: Vec<Function> = stale.iter().map(|(f, _, _)| f.clone()).collect();
            let progress = Progress::new(printer);
            let result = compile_all(&root, &functions, &progress);
            progress.finish();
            let executables = result?;
            for (f, print, reason) in stale {
                let (exe, glibc, tool) = &executables[&(f.crate_name.clone(), f.arch)];
                let mut built = package(&root, &f, exe, *glibc, tool)?;
                built.reason = Some(reason);
                if let Some(print) = print {
                    store_record(&root, &built, print)?;
                }
                current.insert((f.crate_name.clone(), f.arch), built);
            }
        }
        Ok(BuildReport {
            glibc_limit: LAMBDA_GLIBC,
            functions: order.iter().filter_map(|c| current.remove(c)).collect(),
        })
    }
}

/// A function whose stored record still describes its inputs: its zip as
/// it is, with no cargo process.
fn from_record(f: &Function, r: Record) -> BuiltFunction {
    BuiltFunction {
        crate_name: f.crate_name.clone(),
        functions: f.uses.clone(),
        architecture: f.arch,
        zip: zip_path(&f.crate_name, f.arch),
        size: r.size,
        artefact_key: artefact_key(&f.crate_name, f.arch, &r.sha256),
        sha256: r.sha256,
        glibc: r.glibc,
        built_with: r.built_with,
        rebuilt: false,
        reason: None,
    }
}

/// Stores, beside a new zip, the fingerprint its build started from.
fn store_record(root: &Path, b: &BuiltFunction, inputs: Fingerprint) -> anyhow::Result<()> {
    let record = Record {
        version: fingerprint::RECORD_VERSION,
        digest: inputs.digest(),
        inputs,
        sha256: b.sha256.clone(),
        size: b.size,
        glibc: b.glibc,
        built_with: b.built_with.clone(),
    };
    let path = Record::path(&root.join(&b.zip));
    replace_file(&path, &serde_json::to_vec_pretty(&record)?)
}

/// Every selected crate must exist under `lambdas/`.
fn check_crates(root: &Path, selected: &[Function]) -> Result<(), UsageError> {
    for f in selected {
        let manifest = Path::new("lambdas").join(&f.crate_name).join("Cargo.toml");
        if !root.join(&manifest).is_file() {
            let u = &f.uses[0];
            return Err(UsageError::new(format!(
                "function `{}` of stack `{}` runs crate `{}`, but {} does not exist\nhint: create the crate there with a binary named after the crate, or set `crate:` on the resource",
                u.resource,
                u.stack,
                f.crate_name,
                manifest.display()
            )));
        }
    }
    Ok(())
}

/// An executable, the glibc it needs, and the tool that built it.
type Executable = (Vec<u8>, Option<GlibcVersion>, Tool);
/// Executables by crate and architecture.
type Executables = BTreeMap<(String, Arch), Executable>;

/// Compiles every selected crate: on the host where it can, else (another
/// machine, or a glibc newer than the runtime's) with `cargo zigbuild`.
fn compile_all(
    root: &Path,
    selected: &[Function],
    progress: &Progress,
) -> anyhow::Result<Executables> {
    let host = Arch::host();
    let mut done = BTreeMap::new();
    // Crates that need zigbuild, with the reason, by architecture.
    let mut cross: BTreeMap<Arch, Vec<(&Function, String)>> = BTreeMap::new();

    let native: Vec<&Function> = selected.iter().filter(|f| Some(f.arch) == host).collect();
    for f in selected.iter().filter(|f| Some(f.arch) != host) {
        let reason = match host {
            Some(h) => format!("is {} but this machine builds {h}", f.arch),
            None => format!(
                "is {} but this machine ({} {}) does not build Linux executables",
                f.arch,
                std::env::consts::OS,
                std::env::consts::ARCH
            ),
        };
        cross.entry(f.arch).or_default().push((f, reason));
    }
    // Another machine's executables need its Rust target and a linker for
    // it: say what is missing before anything compiles, not after the
    // host's crates took minutes.
    if !cross.is_empty() {
        let missing = cross_missing(cross.keys().copied(), cargo::zigbuild_available());
        if !missing.is_empty() {
            bail!(cross_missing_error(&cross, &missing));
        }
    }
    if !native.is_empty() {
        let crates: Vec<String> = native.iter().map(|f| f.crate_name.clone()).collect();
        let built = cargo::compile(root, &crates, &Tool::Cargo, progress)?;
        for f in native {
            let exe = &built[&f.crate_name];
            let glibc = check_executable(f, exe)?;
            if glibc::fits_lambda(glibc) {
                done.insert(
                    (f.crate_name.clone(), f.arch),
                    (exe.clone(), glibc, Tool::Cargo),
                );
            } else {
                let need = glibc.map(|v| v.to_string()).unwrap_or_default();
                cross
                    .entry(f.arch)
                    .or_default()
                    .push((f, format!("needs glibc {need}")));
            }
        }
    }
    if cross.is_empty() {
        return Ok(done);
    }
    if !cargo::zigbuild_available() {
        bail!(zigbuild_missing(&cross));
    }
    for (arch, list) in &cross {
        let tool = Tool::Zigbuild {
            target: arch.zig_target(),
        };
        for (f, reason) in list {
            progress.note(&format!(
                "{} {reason}: building it with {}",
                f.crate_name,
                tool.describe()
            ));
        }
        let crates: Vec<String> = list.iter().map(|(f, _)| f.crate_name.clone()).collect();
        let built = cargo::compile(root, &crates, &tool, progress)?;
        for (f, _) in list {
            let exe = &built[&f.crate_name];
            let glibc = check_executable(f, exe)?;
            if !glibc::fits_lambda(glibc) {
                bail!(
                    "function crate `{}` still needs glibc {} after `{}`; provided.al2023 has {LAMBDA_GLIBC}",
                    f.crate_name,
                    glibc.map(|v| v.to_string()).unwrap_or_default(),
                    tool.describe()
                );
            }
            done.insert(
                (f.crate_name.clone(), f.arch),
                (exe.clone(), glibc, tool.clone()),
            );
        }
    }
    Ok(done)
}

/// Checks an executable's machine and returns the glibc it needs.
fn check_executable(f: &Function, exe: &[u8]) -> anyhow::Result<Option<GlibcVersion>> {
    let info = glibc::inspect(exe)
        .with_context(|| format!("inspecting the `bootstrap` of crate `{}`", f.crate_name))?;
    if info.arch != Some(f.arch) {
        bail!(
            "the `bootstrap` of crate `{}` is built for ELF machine {} but the function is {}",
            f.crate_name,
            info.arch
                .map(|a| a.to_string())
                .unwrap_or_else(|| format!("#{}", info.machine)),
            f.arch
        );
    }
    Ok(info.glibc)
}

/// What building for `arches` (not this machine's) lacks here: the Rust
/// target of each (its standard library under the sysroot) and, once,
/// `cargo zigbuild` (the linker for another machine's glibc 2.34), each
/// with the command that installs it.
fn cross_missing(arches: impl Iterator<Item = Arch>, zigbuild: bool) -> Vec<(String, String)> {
    let mut missing = Vec::new();
    let sysroot = std::process::Command::new(std::env::var_os("RUSTC").unwrap_or("rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    for arch in arches {
        let triple = arch.rust_target();
        let installed = sysroot
            .as_ref()
            .is_some_and(|root| rust_target_installed(root, triple));
        if !installed {
            missing.push((
                format!("the Rust target {triple} (its standard library)"),
                format!("rustup target add {triple}"),
            ));
        }
    }
    if !zigbuild {
        missing.push((
            "cargo-zigbuild and zig (the linker for another machine's glibc 2.34)".to_string(),
            "pip install ziglang cargo-zigbuild".to_string(),
        ));
    }
    missing
}

/// Whether the toolchain at `sysroot` has the standard library of `triple`.
fn rust_target_installed(sysroot: &Path, triple: &str) -> bool {
    std::fs::read_dir(sysroot.join("lib/rustlib").join(triple).join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
}

/// The error when functions are for another machine and what builds for
/// it is missing: which functions, what is missing, how to install it.
fn cross_missing_error(
    cross: &BTreeMap<Arch, Vec<(&Function, String)>>,
    missing: &[(String, String)],
) -> String {
    let mut text = String::from("cannot build for another machine here; nothing was compiled:");
    for list in cross.values() {
        for (f, reason) in list {
            let u = &f.uses[0];
            text.push_str(&format!(
                "\n  function `{}` (crate `{}`, stack `{}`) {reason}",
                u.resource, f.crate_name, u.stack
            ));
        }
    }
    for (what, _) in missing {
        text.push_str(&format!("\n  missing: {what}"));
    }
    text.push_str("\nhint: install what is missing:");
    for (_, how) in missing {
        text.push_str(&format!("\n  {how}"));
    }
    text.push_str("\n  or build for this machine in this environment: `architecture: {default: arm64, local: x86_64}`, then `stackctl build --env local`");
    text
}

/// The error when functions need `cargo zigbuild` and it is not installed.
fn zigbuild_missing(cross: &BTreeMap<Arch, Vec<(&Function, String)>>) -> String {
    let mut text = String::from(
        "cannot build for the Lambda runtime provided.al2023 (glibc 2.34) on this machine:",
    );
    let mut targets = Vec::new();
    for (arch, list) in cross {
        for (f, reason) in list {
            let u = &f.uses[0];
            text.push_str(&format!(
                "\n  function `{}` (crate `{}`, stack `{}`) {reason}",
                u.resource, f.crate_name, u.stack
            ));
        }
        if Some(*arch) != Arch::host() {
            targets.push(arch.rust_target());
        }
    }
    text.push_str(
        "\nhint: install cargo-zigbuild and zig, which link against glibc 2.34 for any machine:\n  pip install ziglang cargo-zigbuild\n  (or: cargo install cargo-zigbuild && pip install ziglang)",
    );
    if !targets.is_empty() {
        text.push_str(&format!("\n  rustup target add {}", targets.join(" ")));
    }
    text
}

/// Zips one executable into `target/zips/CRATE/bootstrap.zip`.
fn package(
    root: &Path,
    f: &Function,
    exe: &[u8],
    glibc: Option<GlibcVersion>,
    tool: &Tool,
) -> anyhow::Result<BuiltFunction> {
    let rel = zip_path(&f.crate_name, f.arch);
    let path = root.join(&rel);
    // The zip is a pure function of the executable: when the stamp beside
    // it names this executable's sha256, the zip on disk is the one
    // zipping would give, and deflating tens of MB again is skipped.
    let stamp_path = path.with_extension("zip.source");
    let stamp = format!("{} {}\n", zip::FORMAT, zip::sha256_hex(exe));
    let cached = match (std::fs::read_to_string(&stamp_path), std::fs::read(&path)) {
        (Ok(s), Ok(bytes)) if s == stamp => Some(bytes),
        _ => None,
    };
    let bytes = match cached {
        Some(bytes) => bytes,
        None => {
            let bytes = zip::bootstrap_zip(exe)
                .with_context(|| format!("zipping the `bootstrap` of crate `{}`", f.crate_name))?;
            let dir = path.parent().unwrap_or(root);
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            replace_file(&path, &bytes)?;
            replace_file(&stamp_path, stamp.as_bytes())?;
            bytes
        }
    };
    let sha256 = zip::sha256_hex(&bytes);
    Ok(BuiltFunction {
        crate_name: f.crate_name.clone(),
        functions: f.uses.clone(),
        architecture: f.arch,
        zip: rel,
        size: bytes.len() as u64,
        artefact_key: artefact_key(&f.crate_name, f.arch, &sha256),
        sha256,
        glibc,
        built_with: tool.describe(),
        rebuilt: true,
        reason: None,
    })
}

/// Writes `bytes` to `path` through a file of this process's own beside
/// it, then renames: a reader never sees half a file, and two builds of
/// the same project at once (which write the same bytes) do not collide.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".partial-{}", std::process::id()));
    let partial = PathBuf::from(partial);
    std::fs::write(&partial, bytes).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(crate_name: &str, keys: &[(&str, &str)]) -> Function {
        Function {
            crate_name: crate_name.into(),
            uses: keys
                .iter()
                .map(|(s, r)| Use {
                    stack: s.to_string(),
                    resource: r.to_string(),
                })
                .collect(),
            arch: Arch::X86_64,
        }
    }

    fn all() -> Vec<Function> {
        vec![
            function("create-upload", &[("upload", "create_upload")]),
            function("shared-fn", &[("a", "one"), ("b", "two")]),
        ]
    }

    #[test]
    fn artefact_keys_are_content_addressed() {
        assert_eq!(
            artefact_key("create-upload", Arch::X86_64, "3f2a"),
            "functions/create-upload/3f2a.zip"
        );
        assert_eq!(
            zip_path("hello", Arch::X86_64),
            Path::new("target/zips/hello/bootstrap.zip")
        );
        // One crate may run on both; its zips and keys never collide.
        assert_eq!(
            artefact_key("create-upload", Arch::Arm64, "3f2a"),
            "functions/create-upload/arm64/3f2a.zip"
        );
        assert_eq!(
            zip_path("hello", Arch::Arm64),
            Path::new("target/zips-arm64/hello/bootstrap.zip")
        );
    }

    #[test]
    fn selection_by_crate_or_resource_key() {
        assert_eq!(select(all(), &[]).unwrap(), all());
        let by_crate = select(all(), &["create-upload".into()]).unwrap();
        assert_eq!(by_crate, vec![all()[0].clone()]);
        let by_key = select(all(), &["two".into()]).unwrap();
        assert_eq!(by_key, vec![all()[1].clone()]);
        let both = select(all(), &["one".into(), "shared-fn".into()]).unwrap();
        assert_eq!(both.len(), 1, "one crate is built once");
    }

    #[test]
    fn unknown_function_gets_a_hint() {
        let err = select(all(), &["create-uplaod".into()]).unwrap_err();
        assert_eq!(
            err.message,
            "unknown function `create-uplaod`\nhint: did you mean `create-upload`?"
        );
        let err = select(all(), &["zzz".into()]).unwrap_err();
        assert!(
            err.message.ends_with("functions: create-upload, shared-fn"),
            "{}",
            err.message
        );
        let err = select(Vec::new(), &["x".into()]).unwrap_err();
        assert!(
            err.message.contains("no `function` resources"),
            "{}",
            err.message
        );
    }

    #[test]
    fn architectures_and_targets() {
        assert_eq!(Arch::default(), Arch::X86_64);
        let arm: Arch = serde_yaml::from_str("arm64").unwrap();
        assert_eq!(arm, Arch::Arm64);
        assert!(serde_yaml::from_str::<Arch>("aarch64").is_err());
        assert_eq!(Arch::X86_64.zig_target(), "x86_64-unknown-linux-gnu.2.34");
        assert_eq!(Arch::Arm64.zig_target(), "aarch64-unknown-linux-gnu.2.34");
    }

    #[test]
    fn the_zigbuild_hint_names_function_version_and_fix() {
        let f = function("hello", &[("app", "hello")]);
        let mut cross = BTreeMap::new();
        cross.insert(Arch::X86_64, vec![(&f, "needs glibc 2.39".to_string())]);
        let text = zigbuild_missing(&cross);
        assert!(
            text.contains("function `hello` (crate `hello`, stack `app`) needs glibc 2.39"),
            "{text}"
        );
        assert!(
            text.contains("pip install ziglang cargo-zigbuild"),
            "{text}"
        );
        assert!(text.contains("cargo install cargo-zigbuild"), "{text}");
    }

    #[test]
    fn the_table_aligns_and_abbreviates() {
        let row = |name: &str, size: u64, glibc| BuiltFunction {
            crate_name: name.into(),
            functions: vec![],
            architecture: Arch::X86_64,
            zip: zip_path(name, Arch::X86_64),
            size,
            sha256: "3f2a9c01d2e4b5a6".repeat(4),
            artefact_key: String::new(),
            glibc,
            built_with: "cargo build".into(),
            rebuilt: name == "create-upload",
            reason: (name == "create-upload")
                .then(|| "lambdas/create-upload/src/lib.rs changed".into()),
        };
        let report = BuildReport {
            glibc_limit: LAMBDA_GLIBC,
            functions: vec![
                row(
                    "create-upload",
                    2_000_000,
                    Some(GlibcVersion::new(2, 34, 0)),
                ),
                row("cleanup", 900, None),
            ],
        };
        assert_eq!(
            report.to_string(),
            "create-upload  1.9 MiB  sha256 3f2a9c01d2e4…  glibc 2.34 ok        built      target/zips/create-upload/bootstrap.zip\n\
             cleanup          900 B  sha256 3f2a9c01d2e4…  glibc none (static)  unchanged  target/zips/cleanup/bootstrap.zip\n\
             compiled create-upload: lambdas/create-upload/src/lib.rs changed\n"
        );
        assert_eq!(human_size(1536), "1.5 KiB");
    }

    #[test]
    fn a_zip_is_made_once_per_executable() {
        let root = tempfile::tempdir().unwrap();
        let f = function("create-upload", &[("upload", "create_upload")]);
        let first = package(root.path(), &f, b"executable one", None, &Tool::Cargo).unwrap();
        let zip = root.path().join(&first.zip);
        assert_eq!(first.sha256, zip::sha256_hex(&std::fs::read(&zip).unwrap()));

        // Same executable: the zip on disk is reused, not made again (a
        // marker written into it survives).
        std::fs::write(&zip, b"marker").unwrap();
        let again = package(root.path(), &f, b"executable one", None, &Tool::Cargo).unwrap();
        assert_eq!(again.sha256, zip::sha256_hex(b"marker"));

        // Another executable: zipped afresh, same bytes as a fresh zip.
        let other = package(root.path(), &f, b"executable two", None, &Tool::Cargo).unwrap();
        let fresh = zip::bootstrap_zip(b"executable two").unwrap();
        assert_eq!(other.sha256, zip::sha256_hex(&fresh));
        assert_eq!(std::fs::read(&zip).unwrap(), fresh);
    }
}
