//! The project as the user wrote it: `stackctl.yaml` and `stacks/*.yaml`,
//! read into typed values with every structural problem located.
//! Checks that need the whole project (references, names, ranges) live in
//! [`crate::validate`].

pub mod probe;
pub mod project;
pub mod source;
pub mod stack;
pub mod typed;
pub mod value;

use crate::diagnostics::{Diagnostic, Diagnostics};
use serde::de::DeserializeOwned;
use source::{join, Source};
use stack::{Resource, StackFile, KINDS};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use typed::{entry, key_text, unknown_field, Typed};

pub use project::{Environment, ProjectFile, Settings, StackEntry};
pub use typed::typed;

/// The project file's name at the root of a project.
pub const PROJECT_FILE: &str = "stackctl.yaml";

/// A loaded project.
#[derive(Debug, Clone)]
pub struct Project {
    /// Directory holding `stackctl.yaml`.
    pub root: PathBuf,
    /// `stackctl.yaml` as parsed.
    pub file: ProjectFile,
    /// Its source, for locating problems.
    pub source: Source,
    /// Every stack, by name.
    pub stacks: BTreeMap<String, Stack>,
}

/// A loaded stack.
#[derive(Debug, Clone)]
pub struct Stack {
    /// The stack's name in `stackctl.yaml`.
    pub name: String,
    /// The stack file as parsed.
    pub file: StackFile,
    /// Its source, for locating problems.
    pub source: Source,
    /// Typed resources by key.
    pub resources: BTreeMap<String, Resource>,
    /// Typed probes by name, each checked on its own (see [`probe`]); one
    /// that could not be read is left out (reported).
    pub probes: BTreeMap<String, probe::Probe>,
}

/// Finds the project root: `dir` itself if given, else the nearest ancestor
/// of the current directory holding `stackctl.yaml`.
pub fn find_root(dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(d) = dir {
        if d.join(PROJECT_FILE).is_file() {
            return Ok(d.to_path_buf());
        }
        anyhow::bail!(
            "no {PROJECT_FILE} in {}\nhint: pass the directory that holds {PROJECT_FILE} to --project-dir",
            d.display()
        );
    }
    let cwd = std::env::current_dir()?;
    for d in cwd.ancestors() {
        if d.join(PROJECT_FILE).is_file() {
            return Ok(d.to_path_buf());
        }
    }
    anyhow::bail!(
        "no {PROJECT_FILE} in {} or any parent directory\nhint: run stackctl inside a project, or pass --project-dir DIR",
        cwd.display()
    )
}

/// Reads and parses one file; problems become diagnostics.
fn read_source(root: &Path, rel: &Path) -> Result<Source, Diagnostic> {
    let text = std::fs::read_to_string(root.join(rel)).map_err(|e| {
        Diagnostic::new(rel, "", format!("cannot read file: {e}"))
            .hint("check that the file exists and is readable")
    })?;
    Source::parse(rel, &text)
}

/// A project as far as it could be read, with every problem found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// What could be read: unreadable parts are left out or defaulted.
    pub project: Project,
    /// Every structural problem of every file, unsorted.
    pub diags: Diagnostics,
    /// What was left out, so later checks skip what depends on it.
    pub gaps: Gaps,
}

/// What could not be read. Later checks skip what depends on it instead of
/// reporting the consequences of a problem that is already reported.
#[derive(Debug, Clone, Default)]
pub struct Gaps {
    /// `project:` is missing or unreadable.
    pub project_name: bool,
    /// Environments of `stackctl.yaml` not read as written.
    pub environments: Section,
    /// Stack entries of `stackctl.yaml` not read as written.
    pub stacks: Section,
    /// Stacks whose file was not loaded, or lost a parameter or a resource.
    pub incomplete: BTreeSet<String>,
    /// Stacks that lost an output: the stacks that depend on them would
    /// find an import unknown.
    pub lost_outputs: BTreeSet<String>,
    /// Per stack, the YAML paths of stand-ins: resources read without a
    /// field whose type is wrong. What rendering says under these paths is
    /// a consequence of the reported problem.
    pub stand_ins: BTreeMap<String, Vec<String>>,
}

/// Gaps in a section of `stackctl.yaml` (`environments:` or `stacks:`).
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// The section is missing or is not a mapping.
    pub unreadable: bool,
    /// Entries that are left out or read without some field.
    pub entries: BTreeSet<String>,
}

impl Section {
    /// True when every entry was read as written.
    pub fn is_complete(&self) -> bool {
        !self.unreadable && self.entries.is_empty()
    }

    /// True when `name` is declared here, even if it could not be read.
    pub fn knows(&self, name: &str) -> bool {
        self.unreadable || self.entries.contains(name)
    }
}

impl Gaps {
    /// Whether `stack` can be rendered in `env` without reporting the
    /// consequences of problems already reported: the project name and both
    /// sections of `stackctl.yaml` read, with every environment kept (a
    /// dropped one would make per-environment values look unknown), every
    /// stack file loaded (for imports), and the environment, the stack's
    /// entry and file, and the outputs of the stacks it depends on, all read
    /// as written.
    pub fn renderable(&self, project: &Project, stack: &str, env: &str) -> bool {
        let f = &project.file;
        let envs_kept = self
            .environments
            .entries
            .iter()
            .all(|e| f.environments.contains_key(e));
        let stacks_kept = self.stacks.entries.iter().all(|s| f.stacks.contains_key(s))
            && f.stacks.keys().all(|s| project.stacks.contains_key(s));
        let deps_complete = f
            .stacks
            .get(stack)
            .is_some_and(|e| e.depends_on.iter().all(|d| !self.lost_outputs.contains(d)));
        !self.project_name
            && !self.environments.unreadable
            && !self.stacks.unreadable
            && envs_kept
            && stacks_kept
            && !self.environments.entries.contains(env)
            && !self.stacks.entries.contains(stack)
            && !self.incomplete.contains(stack)
            && deps_complete
    }

    /// True when `d` lies under a stand-in of `stack`, in `file`.
    pub fn under_stand_in(&self, stack: &str, file: &Path, d: &Diagnostic) -> bool {
        d.file == file
            && self.stand_ins.get(stack).is_some_and(|paths| {
                paths.iter().any(|p| {
                    d.path == *p
                        || d.path
                            .strip_prefix(p.as_str())
                            .is_some_and(|rest| rest.starts_with(['.', '[']))
                })
            })
    }
}

/// Loads the project at `root`, reporting every structural problem of every file.
pub fn load(root: &Path) -> Result<Project, Diagnostics> {
    let loaded = load_all(root)?;
    if loaded.diags.is_empty() {
        Ok(loaded.project)
    } else {
        Err(loaded.diags.sorted())
    }
}

/// Loads as much of the project at `root` as can be read. Fails only when
/// `stackctl.yaml` itself cannot be read as a mapping.
pub fn load_all(root: &Path) -> Result<Loaded, Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut gaps = Gaps::default();
    let source = read_source(root, Path::new(PROJECT_FILE)).map_err(|d| Diagnostics(vec![d]))?;
    let file =
        project_file(&source, &mut diags, &mut gaps).ok_or_else(|| std::mem::take(&mut diags))?;

    let mut stacks = BTreeMap::new();
    for (name, entry) in &file.stacks {
        let file_written = source
            .value
            .get("stacks")
            .and_then(|s| s.get(name.as_str()))
            .and_then(|e| e.get("file"))
            .is_some();
        if entry.file.is_none() && file_written {
            // `file:` is the unreadable field: which file is meant is unknown.
            gaps.incomplete.insert(name.clone());
            continue;
        }
        let rel = PathBuf::from(
            entry
                .file
                .clone()
                .unwrap_or_else(|| format!("stacks/{name}.yaml")),
        );
        if !root.join(&rel).is_file() {
            diags.push(
                source
                    .error(
                        join("stacks", name),
                        format!("stack `{name}` has no file {}", rel.display()),
                    )
                    .hint(format!(
                        "create {} or set `file:` for this stack",
                        rel.display()
                    )),
            );
            gaps.incomplete.insert(name.clone());
            continue;
        }
        if let Some(stack) = read_stack(root, name, &rel, &mut diags, &mut gaps) {
            stacks.insert(name.clone(), stack);
        }
    }
    Ok(Loaded {
        project: Project {
            root: root.to_path_buf(),
            file,
            source,
            stacks,
        },
        diags,
        gaps,
    })
}

/// Reads `stackctl.yaml` section by section and entry by entry, so one
/// problem hides no other. None when it is not a mapping at all.
fn project_file(source: &Source, diags: &mut Diagnostics, gaps: &mut Gaps) -> Option<ProjectFile> {
    let map = match &source.value {
        serde_yaml::Value::Mapping(m) => m,
        serde_yaml::Value::Null => {
            diags.push(
                source
                    .error("", format!("{PROJECT_FILE} is empty"))
                    .hint("declare `project:`, `stacks:` and `environments:`"),
            );
            return None;
        }
        _ => {
            diags.push(
                source
                    .error("", format!("{PROJECT_FILE} must be a mapping"))
                    .hint("declare `project:`, `stacks:` and `environments:`"),
            );
            return None;
        }
    };
    unknown_keys(source, "", map, project::FIELDS, diags);
    let project = match map.get("project") {
        None => {
            diags.push(missing_field(source, "", "project"));
            None
        }
        Some(v) => typed::typed::<String>(source, "project", v.clone())
            .map_err(|d| diags.push(d))
            .ok(),
    };
    gaps.project_name = project.is_none();
    let naming = map.get("naming").and_then(|v| {
        typed::typed::<Option<String>>(source, "naming", v.clone())
            .map_err(|d| diags.push(d))
            .ok()
            .flatten()
    });
    let tags = map
        .get("tags")
        .and_then(|v| entry(source, "tags", v.clone(), true, diags).value())
        .unwrap_or_default();
    let settings = map
        .get("settings")
        .and_then(|v| entry(source, "settings", v.clone(), true, diags).value())
        .unwrap_or_default();
    let environments = section(source, map, "environments", diags, &mut gaps.environments);
    let stacks = section(source, map, "stacks", diags, &mut gaps.stacks);
    Some(ProjectFile {
        project: project.unwrap_or_default(),
        naming,
        tags,
        settings,
        environments,
        stacks,
    })
}

/// Reads a required section of named entries, each on its own. An entry
/// with a wrong-typed field is kept without it (and noted in `gaps`) so
/// that checks of other entries still know its name.
fn section<T: DeserializeOwned>(
    source: &Source,
    map: &serde_yaml::Mapping,
    name: &str,
    diags: &mut Diagnostics,
    gaps: &mut Section,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    let entries = match map.get(name) {
        None => {
            diags.push(missing_field(source, "", name));
            gaps.unreadable = true;
            return out;
        }
        Some(serde_yaml::Value::Null) => return out,
        Some(serde_yaml::Value::Mapping(m)) => m,
        Some(other) => {
            if let Err(d) =
                typed::typed::<BTreeMap<String, serde_yaml::Value>>(source, name, other.clone())
            {
                diags.push(d);
            }
            gaps.unreadable = true;
            return out;
        }
    };
    for (key, value) in entries {
        let Some(key) = key_text(key) else {
            diags.push(
                source
                    .error(name, format!("a key of `{name}` is not a name"))
                    .hint("use plain names such as `dev` as keys"),
            );
            gaps.unreadable = true;
            continue;
        };
        let path = join(name, &key);
        match entry(source, &path, value.clone(), true, diags) {
            Typed::Full(t) => {
                out.insert(key, t);
            }
            Typed::StandIn(t) => {
                out.insert(key.clone(), t);
                gaps.entries.insert(key);
            }
            Typed::Dropped => {
                gaps.entries.insert(key);
            }
        }
    }
    out
}

/// Reports every key of `map` (at `path`) that is not one of `fields`.
fn unknown_keys(
    source: &Source,
    path: &str,
    map: &serde_yaml::Mapping,
    fields: &[&str],
    diags: &mut Diagnostics,
) {
    for key in map.keys() {
        let text = key_text(key).unwrap_or_else(|| "?".to_string());
        if !fields.contains(&text.as_str()) {
            diags.push(unknown_field(source, &join(path, &text), &text, fields));
        }
    }
}

fn missing_field(source: &Source, path: &str, field: &str) -> Diagnostic {
    source
        .error(path, format!("missing field `{field}`"))
        .hint(format!("add `{field}:` here"))
}

/// Reads one stack file section by section; None when there is nothing to
/// render from (unreadable, empty, not a mapping). Whatever is left out is
/// reported and noted in `gaps`.
fn read_stack(
    root: &Path,
    name: &str,
    rel: &Path,
    diags: &mut Diagnostics,
    gaps: &mut Gaps,
) -> Option<Stack> {
    let lost = |gaps: &mut Gaps| {
        gaps.incomplete.insert(name.to_string());
    };
    let source = match read_source(root, rel) {
        Ok(s) => s,
        Err(d) => {
            diags.push(d);
            lost(gaps);
            return None;
        }
    };
    let map = match &source.value {
        serde_yaml::Value::Mapping(m) => m.clone(),
        serde_yaml::Value::Null => {
            diags.push(
                source
                    .error("", "the stack file is empty")
                    .hint("declare at least `resources:`"),
            );
            lost(gaps);
            return None;
        }
        _ => {
            diags.push(
                source
                    .error("", "a stack file must be a mapping")
                    .hint("declare `resources:` (and `parameters:`, `outputs:` if needed)"),
            );
            lost(gaps);
            return None;
        }
    };
    unknown_keys(&source, "", &map, stack::FIELDS, diags);
    let description = map.get("description").and_then(|v| {
        typed::typed::<Option<String>>(&source, "description", v.clone())
            .map_err(|d| diags.push(d))
            .ok()
            .flatten()
    });
    let mut complete = true;
    let mut stand_ins = Vec::new();
    let mut entries = |section: &str, complete: &mut bool| -> Vec<(String, serde_yaml::Value)> {
        match map.get(section) {
            None | Some(serde_yaml::Value::Null) => Vec::new(),
            Some(v) => {
                match typed::typed::<BTreeMap<String, serde_yaml::Value>>(
                    &source,
                    section,
                    v.clone(),
                ) {
                    Ok(m) => m.into_iter().collect(),
                    Err(d) => {
                        diags.push(d);
                        *complete = false;
                        Vec::new()
                    }
                }
            }
        }
    };
    let raw_parameters = entries("parameters", &mut complete);
    let raw_resources = entries("resources", &mut complete);
    let mut outputs_complete = true;
    let raw_outputs = entries("outputs", &mut outputs_complete);
    // Probes do not render: one that cannot be read leaves the stack
    // complete.
    let raw_probes = entries("probes", &mut true);

    let mut parameters = BTreeMap::new();
    for (key, value) in raw_parameters {
        match entry(&source, &join("parameters", &key), value, false, diags) {
            Typed::Full(p) => {
                parameters.insert(key, p);
            }
            _ => complete = false,
        }
    }
    let mut outputs = BTreeMap::new();
    for (key, value) in raw_outputs {
        match entry(&source, &join("outputs", &key), value, false, diags) {
            Typed::Full(o) => {
                outputs.insert(key, o);
            }
            _ => outputs_complete = false,
        }
    }
    let mut resources = BTreeMap::new();
    for (key, value) in &raw_resources {
        match resource(&source, key, value.clone(), diags) {
            Typed::Full(r) => {
                resources.insert(key.clone(), r);
            }
            Typed::StandIn(r) => {
                resources.insert(key.clone(), r);
                stand_ins.push(join("resources", key));
            }
            Typed::Dropped => complete = false,
        }
    }
    let mut probes = BTreeMap::new();
    for (key, value) in &raw_probes {
        let path = join("probes", key);
        if let Some(p) = crate::limits::identifier_problem("probe name", key, '_', 64) {
            diags.push(
                source
                    .error(&path, p)
                    .hint("use snake_case names such as `status_endpoint`"),
            );
            continue;
        }
        let before = diags.len();
        if let Typed::Full(w) = entry::<probe::Written>(&source, &path, value.clone(), false, diags)
        {
            // A misspelt `http:` is reported already, not again as missing.
            let misspelt = diags.len() > before && w.http.is_none() && w.websocket.is_none();
            if misspelt {
                continue;
            }
            if let Some(p) = w.probe(&source, &path, diags) {
                p.check(&source, &path, diags);
                probes.insert(key.clone(), p);
            }
        }
    }
    if !complete {
        lost(gaps);
    }
    if !outputs_complete {
        gaps.lost_outputs.insert(name.to_string());
    }
    if !stand_ins.is_empty() {
        gaps.stand_ins.insert(name.to_string(), stand_ins);
    }
    Some(Stack {
        name: name.to_string(),
        file: StackFile {
            description,
            parameters,
            resources: raw_resources.into_iter().collect(),
            outputs,
            probes: raw_probes.into_iter().collect(),
        },
        source,
        resources,
        probes,
    })
}

/// Reads one resource: `type` first, then the rest into that kind's struct.
/// A field of the wrong type gives a stand-in (see [`typed::entry`]).
fn resource(
    source: &Source,
    key: &str,
    value: serde_yaml::Value,
    diags: &mut Diagnostics,
) -> Typed<Resource> {
    let path = join("resources", key);
    let serde_yaml::Value::Mapping(mut map) = value else {
        diags.push(
            source
                .error(
                    &path,
                    format!("resource `{key}` must be a mapping with a `type`"),
                )
                .hint(format!("expected one of {}", list(KINDS))),
        );
        return Typed::Dropped;
    };
    let kind = match map.shift_remove("type") {
        Some(serde_yaml::Value::String(s)) => s,
        Some(_) => {
            diags.push(
                source
                    .error(join(&path, "type"), "`type` must be a string")
                    .hint(format!("expected one of {}", list(KINDS))),
            );
            return Typed::Dropped;
        }
        None => {
            diags.push(
                source
                    .error(&path, format!("resource `{key}` has no `type`"))
                    .hint(format!("add `type:` with one of {}", list(KINDS))),
            );
            return Typed::Dropped;
        }
    };
    // Every kind takes `overrides:`; the stack resolves them (see
    // `render::context`), the kinds never see them.
    map.shift_remove("overrides");
    let rest = serde_yaml::Value::Mapping(map);
    match crate::kinds::read(&kind, source, &path, rest, diags) {
        Some(typed) => typed,
        None => {
            diags.push(
                source
                    .error(
                        join(&path, "type"),
                        format!("unknown resource type `{kind}`"),
                    )
                    .suggest(&kind, KINDS.iter().copied()),
            );
            Typed::Dropped
        }
    }
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
