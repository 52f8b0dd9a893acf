//! Knowing, without starting cargo, that a function's zip is current.
//!
//! A function's fingerprint covers every input of its build:
//!
//! - the source files of each workspace package in its dependency closure
//!   (the function's own crate, the shared crate, any path dependency),
//!   found through `Cargo.lock` and the manifests, not guessed from
//!   folders; a package's `tests/`, `benches/` and `examples/` do not enter
//!   a `--bin` build and are left out;
//! - the `Cargo.lock` entries of that closure (a dependency bumped for one
//!   function rebuilds that function only);
//! - the workspace-wide parts of the root manifest (`[workspace]`,
//!   `[profile]`, `[patch]`, `[replace]`) and cargo's configuration files;
//! - the toolchain (`rustc -vV`), the profile, the architecture;
//! - the environment that changes what cargo produces (`RUSTFLAGS`,
//!   `CARGO_PROFILE_*`, `CC`, ... see [`ENV_EXACT`] and [`ENV_PREFIXES`]);
//! - stackctl's own zip format.
//!
//! After a build, the fingerprint taken *before* cargo ran is stored beside
//! the zip ([`Record`]), so an edit made during the build is seen by the
//! next one. When the stored fingerprint matches, no cargo process starts.
//! When it does not, the record says which input changed first, which is
//! what `build` reports as the reason to compile.
//!
//! `rustc -vV` costs a process (about 50 ms through rustup), so its text is
//! cached under a key made of cheap file metadata: the `rustc` that would
//! run, rustup's settings and installed toolchains, and any
//! `rust-toolchain` file above the project ([`Toolchain`]).

use super::glibc::GlibcVersion;
use super::Arch;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variables that change what cargo builds, by exact name.
pub const ENV_EXACT: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CC",
    "CXX",
    "AR",
    "CFLAGS",
    "CXXFLAGS",
    "LDFLAGS",
];

/// Environment variables that change what cargo builds, by prefix (for
/// example `CARGO_PROFILE_LAMBDA_OPT_LEVEL`, `CARGO_TARGET_<TRIPLE>_LINKER`,
/// `CC_x86_64_unknown_linux_gnu`). `CARGO_TARGET_DIR` and
/// `CARGO_TARGET_TMPDIR` only say where files go, and are left out.
pub const ENV_PREFIXES: &[&str] = &[
    "CARGO_BUILD_",
    "CARGO_PROFILE_",
    "CARGO_TARGET_",
    "CC_",
    "CXX_",
    "AR_",
    "CFLAGS_",
    "CXXFLAGS_",
    "TARGET_CC",
    "TARGET_CFLAGS",
];

const ENV_IGNORED: &[&str] = &["CARGO_TARGET_DIR", "CARGO_TARGET_TMPDIR"];

/// Version of the record format; a record of another version is not read.
pub const RECORD_VERSION: u32 = 1;

/// Everything a function's build depends on, each input with its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint {
    /// Input name (`file lambdas/shared/src/lib.rs`, `Cargo.lock`,
    /// `toolchain`, ...) -> a hash or short text of its content.
    pub inputs: BTreeMap<String, String>,
}

impl Fingerprint {
    /// One hash of all inputs.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for (k, v) in &self.inputs {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())
    }

    /// The first input that differs from `old`, said for a person:
    /// `lambdas/shared/src/lib.rs changed`, `Cargo.lock changed`, ...
    pub fn changed_since(&self, old: &Fingerprint) -> Option<String> {
        let names: BTreeSet<&String> = self.inputs.keys().chain(old.inputs.keys()).collect();
        // Files last: a toolchain or lock change explains a rebuild better
        // than the files it happens to come with.
        let (files, others): (Vec<&String>, Vec<&String>) =
            names.into_iter().partition(|n| n.starts_with(FILE));
        for name in others.into_iter().chain(files) {
            let (new, was) = (self.inputs.get(name), old.inputs.get(name));
            if new == was {
                continue;
            }
            let what = name.strip_prefix(FILE).unwrap_or(name);
            return Some(match (was, new) {
                (None, Some(_)) if name.starts_with(FILE) => format!("{what} added"),
                (Some(_), None) if name.starts_with(FILE) => format!("{what} removed"),
                (Some(a), Some(b)) if name == TOOLCHAIN => {
                    format!(
                        "the toolchain changed ({} -> {})",
                        first_line(a),
                        first_line(b)
                    )
                }
                _ => format!("{what} changed"),
            });
        }
        None
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Prefix of file inputs in [`Fingerprint::inputs`].
const FILE: &str = "file ";
/// The toolchain input.
const TOOLCHAIN: &str = "toolchain";

/// What a successful build of one function left, stored beside its zip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// [`Fingerprint::digest`] of `inputs`.
    pub digest: String,
    /// The inputs as they were when the build started.
    pub inputs: Fingerprint,
    /// The zip's sha256, hex.
    pub sha256: String,
    /// The zip's size in bytes.
    pub size: u64,
    /// The glibc its executable needs.
    pub glibc: Option<GlibcVersion>,
    /// The tool that compiled it (`cargo build`, `cargo zigbuild --target ...`).
    pub built_with: String,
}

impl Record {
    /// Where the record of the zip at `zip` is kept.
    pub fn path(zip: &Path) -> PathBuf {
        zip.with_extension("zip.inputs")
    }

    /// The stored record of `zip`, if there is a readable one of this version.
    pub fn load(zip: &Path) -> Option<Record> {
        let text = std::fs::read(Self::path(zip)).ok()?;
        let record: Record = serde_json::from_slice(&text).ok()?;
        (record.version == RECORD_VERSION).then_some(record)
    }

    /// Whether the zip at `zip` is still the one this record describes
    /// (present, same size); the hash is not recomputed.
    pub fn zip_present(&self, zip: &Path) -> bool {
        std::fs::metadata(zip).is_ok_and(|m| m.is_file() && m.len() == self.size)
    }
}

/// Why a function must be compiled, or `None` when its zip is current.
/// `zip` is the zip's path relative to `root`.
pub fn stale(
    record: Option<&Record>,
    now: &Fingerprint,
    root: &Path,
    zip: &Path,
) -> Option<String> {
    let Some(r) = record else {
        return Some("no earlier build".to_string());
    };
    if !r.zip_present(&root.join(zip)) {
        return Some(format!("{} is missing or changed", zip.display()));
    }
    if r.digest == now.digest() {
        return None;
    }
    Some(
        now.changed_since(&r.inputs)
            .unwrap_or_else(|| "its inputs changed".to_string()),
    )
}

/// A package of the workspace (a member or a path dependency).
#[derive(Debug, Clone, PartialEq, Eq)]
struct LocalPackage {
    /// Its directory, relative to the root.
    dir: PathBuf,
    /// The packages its normal and build dependencies name (not its
    /// dev-dependencies, which a `--bin` build does not compile).
    uses: BTreeSet<String>,
}

/// The cargo workspace of a project, read once for all its functions.
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
    /// Local packages by name.
    packages: BTreeMap<String, LocalPackage>,
    lock: Option<Lock>,
    /// Inputs every function shares.
    shared: BTreeMap<String, String>,
    /// Each local package's files with their hashes, read once for all the
    /// functions that depend on it.
    files: std::sync::Mutex<BTreeMap<String, Vec<(String, String)>>>,
}

impl Workspace {
    /// Reads the workspace at `root`: its manifests, `Cargo.lock`, cargo's
    /// configuration, the build environment and the toolchain.
    pub fn load(root: &Path) -> anyhow::Result<Self> {
        let manifest = read_toml(&root.join("Cargo.toml"))?;
        let mut shared = BTreeMap::new();
        shared.insert(
            "stackctl".to_string(),
            format!("{} {}", env!("CARGO_PKG_VERSION"), super::zip::FORMAT),
        );
        shared.insert(
            "workspace manifest".to_string(),
            workspace_tables(&manifest),
        );
        shared.insert("cargo configuration".to_string(), cargo_config(root));
        shared.insert(
            "build environment".to_string(),
            build_env(std::env::vars_os()),
        );
        let toolchain = Toolchain::discover(root).version(root)?;
        shared.insert(TOOLCHAIN.to_string(), toolchain);
        let lock = match std::fs::read_to_string(root.join("Cargo.lock")) {
            Ok(text) => Some(Lock::parse(&text).context("reading Cargo.lock")?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).context("reading Cargo.lock"),
        };
        Ok(Self {
            root: root.to_path_buf(),
            packages: local_packages(root, &manifest)?,
            lock,
            shared,
            files: Default::default(),
        })
    }

    /// The fingerprint of crate `crate_name` built for `arch`.
    pub fn fingerprint(&self, crate_name: &str, arch: Arch) -> anyhow::Result<Fingerprint> {
        let mut inputs = self.shared.clone();
        inputs.insert(
            "target".to_string(),
            format!("{arch} profile {}", super::cargo::PROFILE),
        );
        let closure = match &self.lock {
            Some(lock) => {
                let uses: BTreeMap<&str, &BTreeSet<String>> = self
                    .packages
                    .iter()
                    .map(|(name, p)| (name.as_str(), &p.uses))
                    .collect();
                let (entries, locals) = lock.closure(crate_name, &uses)?;
                inputs.insert("Cargo.lock".to_string(), sha256_hex(entries.as_bytes()));
                locals
            }
            // Before the first build there is no lock: cargo writes one,
            // and the next fingerprint differs, which costs one no-op build.
            None => {
                inputs.insert("Cargo.lock".to_string(), "absent".to_string());
                BTreeSet::from([crate_name.to_string()])
            }
        };
        for package in &closure {
            for (name, hash) in self.package_hashes(package)? {
                inputs.insert(name, hash);
            }
        }
        Ok(Fingerprint { inputs })
    }
}

impl Workspace {
    /// The inputs of one local package's files (`file PATH` -> sha256).
    fn package_hashes(&self, package: &str) -> anyhow::Result<Vec<(String, String)>> {
        if let Some(known) = self.files.lock().ok().and_then(|f| f.get(package).cloned()) {
            return Ok(known);
        }
        let local = self.packages.get(package).with_context(|| {
            format!("`{package}` is in Cargo.lock but no workspace manifest names its directory")
        })?;
        let mut hashes = Vec::new();
        for file in package_files(&self.root, &local.dir)? {
            let bytes = std::fs::read(self.root.join(&file))
                .with_context(|| format!("reading {}", file.display()))?;
            hashes.push((
                format!("{FILE}{}", file.to_string_lossy()),
                sha256_hex(&bytes),
            ));
        }
        if let Ok(mut f) = self.files.lock() {
            f.insert(package.to_string(), hashes.clone());
        }
        Ok(hashes)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn read_toml(path: &Path) -> anyhow::Result<toml::Table> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.parse::<toml::Table>()
        .with_context(|| format!("parsing {}", path.display()))
}

/// The root manifest's tables that apply to every package, as canonical text.
fn workspace_tables(manifest: &toml::Table) -> String {
    let mut out = String::new();
    for key in ["workspace", "profile", "patch", "replace"] {
        if let Some(v) = manifest.get(key) {
            out.push_str(key);
            out.push('=');
            out.push_str(&canonical(v));
            out.push('\n');
        }
    }
    sha256_hex(out.as_bytes())
}

/// A TOML value as text with sorted keys (toml's tables are sorted maps).
fn canonical(v: &toml::Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Cargo's configuration files that apply to a build in `root`: those in
/// `root` and its ancestors, and `$CARGO_HOME`'s.
fn cargo_config(root: &Path) -> String {
    let mut h = Sha256::new();
    let mut dirs: Vec<PathBuf> = root.ancestors().map(|d| d.join(".cargo")).collect();
    if let Some(home) = cargo_home() {
        dirs.push(home);
    }
    for dir in dirs {
        for name in ["config.toml", "config"] {
            let path = dir.join(name);
            if let Ok(bytes) = std::fs::read(&path) {
                h.update(path.to_string_lossy().as_bytes());
                h.update([0]);
                h.update(&bytes);
            }
        }
    }
    hex::encode(h.finalize())
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".cargo")))
}

fn rustup_home() -> Option<PathBuf> {
    std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".rustup")))
}

/// The variables of `vars` that change what cargo produces, as one hash.
pub fn build_env(vars: impl Iterator<Item = (OsString, OsString)>) -> String {
    let relevant: BTreeMap<String, String> = vars
        .filter_map(|(k, v)| {
            let k = k.into_string().ok()?;
            let wanted = ENV_EXACT.contains(&k.as_str())
                || (ENV_PREFIXES.iter().any(|p| k.starts_with(p))
                    && !ENV_IGNORED.contains(&k.as_str()));
            wanted.then(|| (k, v.to_string_lossy().into_owned()))
        })
        .collect();
    sha256_hex(canonical_map(&relevant).as_bytes())
}

fn canonical_map(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_default()
}

/// Every local package of the workspace: the root package, the members
/// (`*` globs in the last segment), and path dependencies, by name.
fn local_packages(
    root: &Path,
    manifest: &toml::Table,
) -> anyhow::Result<BTreeMap<String, LocalPackage>> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if manifest.contains_key("package") {
        dirs.push(PathBuf::new());
    }
    let workspace = manifest.get("workspace").and_then(|w| w.as_table());
    let members = workspace
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .map(|m| m.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>())
        .unwrap_or_default();
    for member in members {
        dirs.extend(expand_member(root, member));
    }
    let mut packages = BTreeMap::new();
    let mut seen = BTreeSet::new();
    // Path dependencies of the workspace table resolve against the root.
    let mut pending: Vec<(PathBuf, Option<toml::Table>)> = vec![];
    if let Some(deps) = workspace
        .and_then(|w| w.get("dependencies"))
        .and_then(|d| d.as_table())
    {
        dirs.extend(path_dependencies(deps, Path::new("")));
    }
    pending.extend(dirs.into_iter().map(|d| (d, None)));
    while let Some((dir, parsed)) = pending.pop() {
        let dir = normalize(&dir);
        if !seen.insert(dir.clone()) {
            continue;
        }
        let manifest = match parsed {
            Some(m) => m,
            None => match read_toml(&root.join(&dir).join("Cargo.toml")) {
                Ok(m) => m,
                // A member glob may match a folder that is not a package.
                Err(_) => continue,
            },
        };
        let Some(name) = manifest
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
        else {
            continue;
        };
        let mut uses = BTreeSet::new();
        for table in dependency_tables(&manifest) {
            for d in path_dependencies(table, &dir) {
                pending.push((d, None));
            }
            uses.extend(package_names(table));
        }
        packages.insert(
            name.to_string(),
            LocalPackage {
                dir: dir.clone(),
                uses,
            },
        );
    }
    if packages.is_empty() {
        bail!("no packages found in {}", root.join("Cargo.toml").display());
    }
    Ok(packages)
}

/// `lambdas/*` -> every folder under `lambdas`; anything else as written.
fn expand_member(root: &Path, member: &str) -> Vec<PathBuf> {
    match member.strip_suffix("/*") {
        Some(parent) => {
            let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(parent))
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| Path::new(parent).join(e.file_name()))
                .collect();
            found.sort();
            found
        }
        None => vec![PathBuf::from(member)],
    }
}

/// The dependency tables of a manifest, target-specific ones included.
fn dependency_tables(manifest: &toml::Table) -> Vec<&toml::Table> {
    let mut tables = Vec::new();
    let kinds = ["dependencies", "build-dependencies"];
    for k in kinds {
        if let Some(t) = manifest.get(k).and_then(|t| t.as_table()) {
            tables.push(t);
        }
    }
    if let Some(targets) = manifest.get("target").and_then(|t| t.as_table()) {
        for t in targets.values().filter_map(|t| t.as_table()) {
            for k in kinds {
                if let Some(t) = t.get(k).and_then(|t| t.as_table()) {
                    tables.push(t);
                }
            }
        }
    }
    tables
}

/// The package names a dependency table refers to: each key, or its
/// `package = "..."` when it renames one.
fn package_names(table: &toml::Table) -> impl Iterator<Item = String> + '_ {
    table.iter().map(|(key, d)| {
        d.get("package")
            .and_then(|p| p.as_str())
            .unwrap_or(key)
            .to_string()
    })
}

/// The folders of the `path = "..."` dependencies in `table`, relative to
/// the project root (`base` is the declaring manifest's folder).
fn path_dependencies(table: &toml::Table, base: &Path) -> Vec<PathBuf> {
    table
        .values()
        .filter_map(|d| d.get("path").and_then(|p| p.as_str()))
        .map(|p| base.join(p))
        .collect()
}

/// `a/b/../c` -> `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The files of the package in `dir` (relative to `root`) that a `--bin`
/// build can read: everything but `target/`, hidden folders, `tests/`,
/// `benches/`, `examples/` and nested packages. Sorted.
fn package_files(root: &Path, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let abs = root.join(&d);
        let entries =
            std::fs::read_dir(&abs).with_context(|| format!("listing {}", abs.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", abs.display()))?;
            let name = entry.file_name();
            let name_str = name.to_string_lossy();
            let rel = d.join(&name);
            let kind = entry.file_type()?;
            if kind.is_dir() {
                let top = d == dir;
                let skipped = name_str.starts_with('.')
                    || name_str == "target"
                    || (top && matches!(&*name_str, "tests" | "benches" | "examples"))
                    || entry.path().join("Cargo.toml").is_file();
                if !skipped {
                    stack.push(rel);
                }
            } else if !name_str.starts_with('.') || name_str == ".cargo_vcs_info.json" {
                files.push(rel);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// `Cargo.lock`, as far as fingerprints need it.
#[derive(Debug)]
struct Lock {
    packages: Vec<LockPackage>,
}

#[derive(Debug, Deserialize)]
struct LockPackage {
    name: String,
    version: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    checksum: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct LockFile {
    #[serde(default, rename = "package")]
    packages: Vec<LockPackage>,
}

impl Lock {
    fn parse(text: &str) -> anyhow::Result<Self> {
        let file: LockFile = toml::from_str(text)?;
        Ok(Self {
            packages: file.packages,
        })
    }

    /// The lock entries `root` depends on, directly or not, as one text,
    /// and the names of the local packages (no `source`) among them. The
    /// lock lists a workspace package's dev-dependencies with the others;
    /// `uses` names the packages a local package really builds with, and
    /// only those are followed (a registry package's entry holds no
    /// dev-dependencies).
    fn closure(
        &self,
        root: &str,
        uses: &BTreeMap<&str, &BTreeSet<String>>,
    ) -> anyhow::Result<(String, BTreeSet<String>)> {
        let start = self
            .packages
            .iter()
            .position(|p| p.name == root && p.source.is_none())
            .with_context(|| format!("package `{root}` is not in Cargo.lock"))?;
        let mut seen = BTreeSet::from([start]);
        let mut todo = vec![start];
        while let Some(i) = todo.pop() {
            let p = &self.packages[i];
            let builds_with = if p.source.is_none() {
                uses.get(p.name.as_str())
            } else {
                None
            };
            for dep in &p.dependencies {
                let dep_name = dep.split(' ').next().unwrap_or(dep);
                if builds_with.is_some_and(|u| !u.contains(dep_name)) {
                    continue;
                }
                let j = self.resolve(dep).with_context(|| {
                    format!(
                        "Cargo.lock: `{}` depends on `{dep}`, which it does not list",
                        self.packages[i].name
                    )
                })?;
                if seen.insert(j) {
                    todo.push(j);
                }
            }
        }
        let mut entries: Vec<String> = seen
            .iter()
            .map(|&i| {
                let p = &self.packages[i];
                format!(
                    "{} {} {} {} [{}]",
                    p.name,
                    p.version,
                    p.source.as_deref().unwrap_or("local"),
                    p.checksum.as_deref().unwrap_or("-"),
                    p.dependencies.join(", ")
                )
            })
            .collect();
        entries.sort();
        let locals = seen
            .iter()
            .map(|&i| &self.packages[i])
            .filter(|p| p.source.is_none())
            .map(|p| p.name.clone())
            .collect();
        Ok((entries.join("\n"), locals))
    }

    /// A dependency as the lock writes it: `name`, `name version` or
    /// `name version (source)`.
    fn resolve(&self, dep: &str) -> Option<usize> {
        let mut parts = dep.splitn(3, ' ');
        let name = parts.next()?;
        let version = parts.next();
        let source = parts
            .next()
            .map(|s| s.trim_start_matches('(').trim_end_matches(')'));
        let mut matching = self.packages.iter().enumerate().filter(|(_, p)| {
            p.name == name
                && version.is_none_or(|v| p.version == v)
                && source.is_none_or(|s| p.source.as_deref() == Some(s))
        });
        let (i, _) = matching.next()?;
        Some(i)
    }
}

/// The toolchain cargo would use in a project, identified by file metadata
/// so that `rustc -vV` runs only when something about it changed.
#[derive(Debug)]
pub struct Toolchain {
    /// The `rustc` to ask: `$RUSTC`, else `rustc` from the PATH.
    program: OsString,
    /// Cheap facts that change whenever the answer of `rustc -vV` can.
    key: String,
}

/// Where the toolchain's `rustc -vV` answer is cached, under the project.
const TOOLCHAIN_CACHE: &str = "target/zips/toolchain.json";

/// How many toolchain keys the cache remembers (a project run both as
/// `cargo run -- deploy` and as an installed `stackctl` has two).
const TOOLCHAIN_CACHE_ENTRIES: usize = 8;

/// Toolchain key -> `rustc -vV` text.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ToolchainCache {
    entries: Vec<(String, String)>,
}

impl Toolchain {
    /// The toolchain for builds in `root`.
    pub fn discover(root: &Path) -> Self {
        let program = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let mut facts = Vec::new();
        let mut fact = |label: &str, value: String| facts.push(format!("{label}={value}"));
        fact("program", program.to_string_lossy().into_owned());
        // rustup's proxies set RUSTUP_TOOLCHAIN for the programs cargo
        // runs (`cargo run -- deploy`), so it enters the key, not the
        // fingerprint: the version text it leads to is what counts.
        fact(
            "RUSTUP_TOOLCHAIN",
            std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_default(),
        );
        if let Some(exe) = which(&program) {
            fact(&exe.to_string_lossy(), metadata(&exe));
        }
        for dir in root.ancestors() {
            for name in ["rust-toolchain.toml", "rust-toolchain"] {
                let path = dir.join(name);
                if let Ok(text) = std::fs::read_to_string(&path) {
                    fact(&path.to_string_lossy(), text);
                }
            }
        }
        if let Some(rustup) = rustup_home() {
            fact("settings", metadata(&rustup.join("settings.toml")));
            let mut toolchains: Vec<PathBuf> = std::fs::read_dir(rustup.join("toolchains"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .collect();
            toolchains.sort();
            for t in toolchains {
                fact(&t.to_string_lossy(), metadata(&t.join("bin").join("rustc")));
            }
        }
        Self {
            program,
            key: sha256_hex(facts.join("\n").as_bytes()),
        }
    }

    /// `rustc -vV`, from the cache when nothing about the toolchain changed.
    pub fn version(&self, root: &Path) -> anyhow::Result<String> {
        let cache_path = root.join(TOOLCHAIN_CACHE);
        let mut cache: ToolchainCache = std::fs::read(&cache_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if let Some((_, version)) = cache.entries.iter().find(|(k, _)| *k == self.key) {
            return Ok(version.clone());
        }
        let out = Command::new(&self.program)
            .arg("-vV")
            .current_dir(root)
            .output()
            .with_context(|| format!("running `{} -vV`", self.program.to_string_lossy()))?;
        if !out.status.success() {
            bail!(
                "`{} -vV` failed: {}",
                self.program.to_string_lossy(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        cache.entries.insert(0, (self.key.clone(), version.clone()));
        cache.entries.truncate(TOOLCHAIN_CACHE_ENTRIES);
        if let Some(dir) = cache_path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // A cache that cannot be written only costs the next run a process.
        let _ = super::replace_file(&cache_path, &serde_json::to_vec(&cache).unwrap_or_default());
        Ok(version)
    }
}

/// The file `program` names: itself when it has a `/`, else the first
/// match on the PATH.
fn which(program: &OsString) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.components().count() > 1 {
        return Some(p.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(p))
        .find(|c| c.is_file())
}

/// Size, modification time and inode of `path` (following links), as text.
fn metadata(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) => format!("{} {} {} {}", m.len(), m.mtime(), m.mtime_nsec(), m.ino()),
        Err(_) => "absent".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "a"
version = "0.1.0"
dependencies = ["shared", "serde 1.0.0"]

[[package]]
name = "b"
version = "0.1.0"
dependencies = ["shared", "itoa"]

[[package]]
name = "shared"
version = "0.1.0"
dependencies = ["itoa"]

[[package]]
name = "itoa"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "abc"

[[package]]
name = "serde"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "def"

[[package]]
name = "serde"
version = "2.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "ghi"
"#;

    #[test]
    fn the_lock_closure_follows_dependencies_and_names_local_packages() {
        let lock = Lock::parse(LOCK).unwrap();
        let all = BTreeMap::new();
        let (entries, locals) = lock.closure("a", &all).unwrap();
        assert_eq!(
            locals,
            BTreeSet::from(["a".to_string(), "shared".to_string()])
        );
        assert!(entries.contains("serde 1.0.0"), "{entries}");
        assert!(!entries.contains("serde 2.0.0"), "{entries}");
        assert!(entries.contains("itoa 1.0.0"), "{entries}");
        let (b, _) = lock.closure("b", &all).unwrap();
        // A bump of serde 1 changes a's closure, not b's.
        let bumped =
            Lock::parse(&LOCK.replace("checksum = \"def\"", "checksum = \"xyz\"")).unwrap();
        assert_ne!(bumped.closure("a", &all).unwrap().0, entries);
        assert_eq!(bumped.closure("b", &all).unwrap().0, b);
        assert!(lock.closure("nope", &all).is_err());
        // A dependency a local package does not build with (a
        // dev-dependency) is not followed.
        let shared_only = BTreeSet::from(["shared".to_string()]);
        let no_dev = BTreeMap::from([("a", &shared_only)]);
        let (entries, _) = lock.closure("a", &no_dev).unwrap();
        assert!(!entries.contains("serde 1.0.0 registry"), "{entries}");
    }

    #[test]
    fn the_build_environment_keeps_what_changes_the_output() {
        let vars = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect::<Vec<_>>()
                .into_iter()
        };
        let base = build_env(vars(&[("HOME", "/root"), ("PATH", "/bin")]));
        // Irrelevant variables and where files go do not count.
        assert_eq!(
            base,
            build_env(vars(&[
                ("HOME", "/elsewhere"),
                ("CARGO_TARGET_DIR", "/tmp/t"),
                ("CARGO_PKG_NAME", "stackctl"),
            ]))
        );
        for relevant in [
            ("RUSTFLAGS", "-C target-cpu=native"),
            ("CARGO_PROFILE_LAMBDA_OPT_LEVEL", "3"),
            ("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER", "clang"),
            ("CC", "clang"),
        ] {
            assert_ne!(base, build_env(vars(&[relevant])), "{relevant:?}");
        }
    }

    #[test]
    fn a_changed_input_is_named() {
        let fp = |pairs: &[(&str, &str)]| Fingerprint {
            inputs: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let old = fp(&[
            ("toolchain", "rustc 1.95.0\nhost: x"),
            ("file lambdas/a/src/main.rs", "1"),
            ("Cargo.lock", "l"),
        ]);
        assert_eq!(old.changed_since(&old), None);
        let edited = fp(&[
            ("toolchain", "rustc 1.95.0\nhost: x"),
            ("file lambdas/a/src/main.rs", "2"),
            ("Cargo.lock", "l"),
        ]);
        assert_eq!(
            edited.changed_since(&old).as_deref(),
            Some("lambdas/a/src/main.rs changed")
        );
        assert_ne!(edited.digest(), old.digest());
        let added = fp(&[
            ("toolchain", "rustc 1.95.0\nhost: x"),
            ("file lambdas/a/src/main.rs", "1"),
            ("file lambdas/a/src/new.rs", "1"),
            ("Cargo.lock", "l"),
        ]);
        assert_eq!(
            added.changed_since(&old).as_deref(),
            Some("lambdas/a/src/new.rs added")
        );
        let toolchain = fp(&[
            ("toolchain", "rustc 1.96.0\nhost: x"),
            ("file lambdas/a/src/main.rs", "2"),
            ("Cargo.lock", "l"),
        ]);
        assert_eq!(
            toolchain.changed_since(&old).as_deref(),
            Some("the toolchain changed (rustc 1.95.0 -> rustc 1.96.0)")
        );
    }

    #[test]
    fn package_files_leave_out_what_a_bin_build_cannot_read() {
        let root = tempfile::tempdir().unwrap();
        let write = |rel: &str| {
            let p = root.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, rel).unwrap();
        };
        for f in [
            "lambdas/a/Cargo.toml",
            "lambdas/a/build.rs",
            "lambdas/a/src/main.rs",
            "lambdas/a/src/deep/mod.rs",
            "lambdas/a/data/table.json",
            "lambdas/a/tests/flow.rs",
            "lambdas/a/benches/b.rs",
            "lambdas/a/target/lambda/a",
            "lambdas/a/.git/HEAD",
            "lambdas/a/nested/Cargo.toml",
            "lambdas/a/nested/src/lib.rs",
        ] {
            write(f);
        }
        let files = package_files(root.path(), Path::new("lambdas/a")).unwrap();
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        assert_eq!(
            files,
            [
                "lambdas/a/Cargo.toml",
                "lambdas/a/build.rs",
                "lambdas/a/data/table.json",
                "lambdas/a/src/deep/mod.rs",
                "lambdas/a/src/main.rs",
            ]
        );
    }

    #[test]
    fn packages_come_from_members_and_path_dependencies() {
        let root = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let p = root.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"lambdas/*\"]\n[workspace.dependencies]\nutil = { path = \"libs/util\" }\n",
        );
        write(
            "lambdas/a/Cargo.toml",
            "[package]\nname = \"fn-a\"\n[dependencies]\nshared = { path = \"../shared\" }\n[dev-dependencies]\ntestkit = \"1\"\n",
        );
        write("lambdas/shared/Cargo.toml", "[package]\nname = \"shared\"\n[target.'cfg(unix)'.dependencies]\nextra = { path = \"../../libs/extra\" }\n");
        write("lambdas/notes/readme.txt", "not a package");
        write("libs/util/Cargo.toml", "[package]\nname = \"util\"\n");
        write("libs/extra/Cargo.toml", "[package]\nname = \"extra\"\n");
        let manifest = read_toml(&root.path().join("Cargo.toml")).unwrap();
        let packages = local_packages(root.path(), &manifest).unwrap();
        let shown: Vec<(String, String)> = packages
            .iter()
            .map(|(k, v)| (k.clone(), v.dir.display().to_string()))
            .collect();
        assert_eq!(
            packages["shared"].uses,
            BTreeSet::from(["extra".to_string()])
        );
        assert_eq!(
            shown,
            [
                ("extra".to_string(), "libs/extra".to_string()),
                ("fn-a".to_string(), "lambdas/a".to_string()),
                ("shared".to_string(), "lambdas/shared".to_string()),
                ("util".to_string(), "libs/util".to_string()),
            ]
        );
    }

    #[test]
    fn workspace_tables_ignore_the_root_packages_own_dependencies() {
        let a: toml::Table = "[package]\nname = \"x\"\n[dependencies]\nserde = \"1\"\n[profile.lambda]\nopt-level = \"s\"\n".parse().unwrap();
        let b: toml::Table = "[package]\nname = \"x\"\n[dependencies]\nserde = \"1\"\nanyhow = \"1\"\n[profile.lambda]\nopt-level = \"s\"\n".parse().unwrap();
        let c: toml::Table = "[package]\nname = \"x\"\n[dependencies]\nserde = \"1\"\n[profile.lambda]\nopt-level = \"z\"\n".parse().unwrap();
        assert_eq!(workspace_tables(&a), workspace_tables(&b));
        assert_ne!(workspace_tables(&a), workspace_tables(&c));
    }

    #[test]
    fn a_lock_change_reaches_only_the_functions_that_depend_on_it() {
        let root = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let p = root.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write("Cargo.toml", "[workspace]\nmembers = [\"lambdas/*\"]\n");
        write(
            "lambdas/a/Cargo.toml",
            "[package]\nname = \"a\"\n[dependencies]\nshared = { path = \"../shared\" }\nserde = \"1\"\n",
        );
        write("lambdas/a/src/main.rs", "fn main() {}\n");
        write(
            "lambdas/b/Cargo.toml",
            "[package]\nname = \"b\"\n[dependencies]\nshared = { path = \"../shared\" }\nitoa = \"1\"\n",
        );
        write("lambdas/b/src/main.rs", "fn main() {}\n");
        write(
            "lambdas/shared/Cargo.toml",
            "[package]\nname = \"shared\"\n[dependencies]\nitoa = \"1\"\n",
        );
        write("lambdas/shared/src/lib.rs", "\n");
        write("Cargo.lock", LOCK);
        let load = || Workspace::load(root.path()).unwrap();
        let ws = load();
        let (a, b) = (
            ws.fingerprint("a", Arch::X86_64).unwrap(),
            ws.fingerprint("b", Arch::X86_64).unwrap(),
        );
        assert!(a.inputs.contains_key("file lambdas/shared/src/lib.rs"));
        assert!(!a.inputs.contains_key("file lambdas/b/src/main.rs"));
        // serde 1.0.0 (a's only) moves: a's fingerprint changes, b's not.
        write(
            "Cargo.lock",
            &LOCK.replace("checksum = \"def\"", "checksum = \"xyz\""),
        );
        let ws = load();
        let a2 = ws.fingerprint("a", Arch::X86_64).unwrap();
        assert_ne!(a2.digest(), a.digest());
        assert_eq!(a2.changed_since(&a).as_deref(), Some("Cargo.lock changed"));
        assert_eq!(
            ws.fingerprint("b", Arch::X86_64).unwrap().digest(),
            b.digest()
        );
        // itoa (both) moves: both change.
        write(
            "Cargo.lock",
            &LOCK.replace("checksum = \"abc\"", "checksum = \"xyz\""),
        );
        let ws = load();
        assert_ne!(
            ws.fingerprint("a", Arch::X86_64).unwrap().digest(),
            a.digest()
        );
        assert_ne!(
            ws.fingerprint("b", Arch::X86_64).unwrap().digest(),
            b.digest()
        );
        // The architecture is an input.
        assert_ne!(
            ws.fingerprint("b", Arch::Arm64).unwrap().digest(),
            ws.fingerprint("b", Arch::X86_64).unwrap().digest()
        );
    }

    #[test]
    fn the_toolchain_answer_is_cached_until_its_facts_change() {
        let root = tempfile::tempdir().unwrap();
        let t = Toolchain::discover(root.path());
        let first = t.version(root.path()).unwrap();
        assert!(first.starts_with("rustc "), "{first}");
        // The cache answers: a planted text proves rustc did not run.
        let cache = root.path().join(TOOLCHAIN_CACHE);
        let planted = ToolchainCache {
            entries: vec![(t.key.clone(), "rustc 0.0.0-planted".into())],
        };
        std::fs::write(&cache, serde_json::to_vec(&planted).unwrap()).unwrap();
        assert_eq!(t.version(root.path()).unwrap(), "rustc 0.0.0-planted");
        // A rust-toolchain file changes the key: rustc runs again.
        std::fs::write(root.path().join("rust-toolchain"), "stable\n").unwrap();
        let t2 = Toolchain::discover(root.path());
        assert_ne!(t2.key, t.key);
        assert!(t2.version(root.path()).unwrap().starts_with("rustc 1."));
    }
}
