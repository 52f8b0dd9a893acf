//! The project as the user wrote it: `stackctl.yaml` and `stacks/*.yaml`,
//! read into typed values with every structural problem located.
//! Checks that need the whole project (references, names, ranges) live in
//! [`crate::validate`].

pub mod project;
pub mod source;
pub mod stack;
pub mod value;

use crate::diagnostics::{closest, Diagnostic, Diagnostics};
use serde::de::DeserializeOwned;
use source::{join, Source};
use stack::{Resource, StackFile, KINDS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use project::{Environment, ProjectFile, Settings, StackEntry};

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

/// Loads the project at `root`, reporting every structural problem of every file.
pub fn load(root: &Path) -> Result<Project, Diagnostics> {
    let mut diags = Diagnostics::default();
    let source = read_source(root, Path::new(PROJECT_FILE)).map_err(|d| Diagnostics(vec![d]))?;
    let file: ProjectFile =
        typed(&source, "", source.value.clone()).map_err(|d| Diagnostics(vec![d]))?;

    let mut stacks = BTreeMap::new();
    for (name, entry) in &file.stacks {
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
            continue;
        }
        match read_stack(root, name, &rel) {
            Ok(stack) => {
                stacks.insert(name.clone(), stack);
            }
            Err(mut d) => diags.0.append(&mut d.0),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(Project {
        root: root.to_path_buf(),
        file,
        source,
        stacks,
    })
}

fn read_stack(root: &Path, name: &str, rel: &Path) -> Result<Stack, Diagnostics> {
    let source = read_source(root, rel).map_err(|d| Diagnostics(vec![d]))?;
    if source.value.is_null() {
        return Err(Diagnostics(vec![source
            .error("", "the stack file is empty")
            .hint("declare at least `resources:`")]));
    }
    let file: StackFile =
        typed(&source, "", source.value.clone()).map_err(|d| Diagnostics(vec![d]))?;
    let mut diags = Diagnostics::default();
    let mut resources = BTreeMap::new();
    for (key, value) in &file.resources {
        match resource(&source, key, value.clone()) {
            Ok(r) => {
                resources.insert(key.clone(), r);
            }
            Err(d) => diags.push(d),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(Stack {
        name: name.to_string(),
        file,
        source,
        resources,
    })
}

/// Reads one resource: `type` first, then the rest into that kind's struct.
fn resource(source: &Source, key: &str, value: serde_yaml::Value) -> Result<Resource, Diagnostic> {
    let path = join("resources", key);
    let serde_yaml::Value::Mapping(mut map) = value else {
        return Err(source
            .error(
                &path,
                format!("resource `{key}` must be a mapping with a `type`"),
            )
            .hint(format!("expected one of {}", list(KINDS))));
    };
    let kind = match map.remove("type") {
        Some(serde_yaml::Value::String(s)) => s,
        Some(_) => {
            return Err(source
                .error(join(&path, "type"), "`type` must be a string")
                .hint(format!("expected one of {}", list(KINDS))))
        }
        None => {
            return Err(source
                .error(&path, format!("resource `{key}` has no `type`"))
                .hint(format!("add `type:` with one of {}", list(KINDS))))
        }
    };
    let rest = serde_yaml::Value::Mapping(map);
    Ok(match kind.as_str() {
        "bucket" => Resource::Bucket(typed(source, &path, rest)?),
        "table" => Resource::Table(typed(source, &path, rest)?),
        "function" => Resource::Function(typed(source, &path, rest)?),
        "http_api" => Resource::HttpApi(typed(source, &path, rest)?),
        "websocket_api" => Resource::WebsocketApi(typed(source, &path, rest)?),
        "schedule" => Resource::Schedule(typed(source, &path, rest)?),
        "alarm" => Resource::Alarm(typed(source, &path, rest)?),
        "raw" => Resource::Raw(typed(source, &path, rest)?),
        other => {
            return Err(source
                .error(
                    join(&path, "type"),
                    format!("unknown resource type `{other}`"),
                )
                .suggest(other, KINDS.iter().copied()))
        }
    })
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Deserializes `value` (found at `base` in `source`) into `T`, turning serde's
/// first error into a located diagnostic with a hint.
pub fn typed<T: DeserializeOwned>(
    source: &Source,
    base: &str,
    value: serde_yaml::Value,
) -> Result<T, Diagnostic> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let mut path = base.to_string();
        if inner != "." {
            path = if inner.starts_with('[') {
                format!("{path}{inner}")
            } else {
                join(&path, &inner)
            };
        }
        let message = e.inner().to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        explain(source, &path, &message)
    })
}

/// Rewrites serde's messages into stackctl's: unknown fields and variants get
/// a "did you mean" hint, missing fields name the field to add.
fn explain(source: &Source, path: &str, message: &str) -> Diagnostic {
    if let Some((given, expected)) = unknown(message, "unknown field `") {
        // serde_path_to_error already ends the path with the unknown key.
        let d = source.error(path, format!("unknown field `{given}`"));
        return match closest(&given, expected.iter().map(String::as_str)) {
            Some(best) => d.hint(format!("did you mean `{best}`?")),
            None if expected.is_empty() => d.hint("this mapping takes no fields"),
            None => d.hint(format!("allowed fields: {}", expected.join(", "))),
        };
    }
    if let Some((given, expected)) = unknown(message, "unknown variant `") {
        let d = source.error(path, format!("unknown value `{given}`"));
        return match closest(&given, expected.iter().map(String::as_str)) {
            Some(best) => d.hint(format!("did you mean `{best}`?")),
            None => d.hint(format!("expected one of {}", expected.join(", "))),
        };
    }
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        return source
            .error(path, format!("missing field `{field}`"))
            .hint(format!("add `{field}:` here"));
    }
    if message.starts_with("invalid ") {
        return source
            .error(
                path,
                format!(
                    "wrong type: {}",
                    message.replacen("invalid type: ", "found ", 1)
                ),
            )
            .hint("check the value's type against the configuration reference in README.md");
    }
    // Untagged enums report only their `expecting` text.
    source
        .error(path, format!("wrong type: expected {message}"))
        .hint("check the value's type against the configuration reference in README.md")
}

/// Parses serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`").
fn unknown(message: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix(prefix)?;
    let (given, tail) = rest.split_once('`')?;
    let expected = tail
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((given.to_string(), expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        Source::parse(Path::new("stacks/t.yaml"), text).unwrap()
    }

    #[test]
    fn unknown_fields_are_located_with_a_suggestion() {
        let s = src("resources:\n  f:\n    type: function\n    memroy: 128\n");
        let d = resource(&s, "f", s.value["resources"]["f"].clone()).unwrap_err();
        assert_eq!(d.message, "unknown field `memroy`");
        assert_eq!(d.path, "resources.f.memroy");
        assert_eq!(d.line, Some(4));
        assert_eq!(d.hint.as_deref(), Some("did you mean `memory`?"));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let s = src("resources:\n  f:\n    type: function\n    timeout: soon\n");
        let d = resource(&s, "f", s.value["resources"]["f"].clone()).unwrap_err();
        assert_eq!(d.path, "resources.f.timeout");
        assert_eq!(d.line, Some(4));
        assert!(d.message.starts_with("wrong type"), "{}", d.message);
    }

    #[test]
    fn unknown_kinds_suggest_the_closest() {
        let s = src("resources:\n  b:\n    type: buckt\n");
        let d = resource(&s, "b", s.value["resources"]["b"].clone()).unwrap_err();
        assert_eq!(d.message, "unknown resource type `buckt`");
        assert_eq!(d.hint.as_deref(), Some("did you mean `bucket`?"));
        assert_eq!(d.line, Some(3));
    }

    #[test]
    fn nested_errors_keep_their_sequence_index() {
        let s = src("resources:\n  b:\n    type: bucket\n    cors:\n      - methods: [GET]\n      - metods: [PUT]\n");
        let d = resource(&s, "b", s.value["resources"]["b"].clone()).unwrap_err();
        assert_eq!(d.path, "resources.b.cors[1].metods");
        assert_eq!(d.line, Some(6));
    }
}
