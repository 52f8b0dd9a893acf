//! Located problems in the files a user wrote: what is wrong, where (file,
//! YAML path, line and column) and a hint. Validation collects every
//! diagnostic before reporting, so one run shows all of them.

use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a user's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file, relative to the project root where possible.
    pub file: PathBuf,
    /// Dotted YAML path, e.g. `resources.create_upload.memory` (empty for the whole file).
    pub path: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// 1-based column, where known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, where there is something useful to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The environments it is found in, when not all of them (empty: the
    /// problem is not about environments, or is found in every one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
}

impl Diagnostic {
    /// A diagnostic at `path` in `file`, located later by [`crate::model::locate`].
    pub fn new(file: &Path, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            path: path.into(),
            line: None,
            column: None,
            message: message.into(),
            hint: None,
            environments: Vec::new(),
        }
    }

    /// Marks it as found in environment `env`.
    pub fn in_env(mut self, env: &str) -> Self {
        self.environments = vec![env.to_string()];
        self
    }

    /// The message as shown: with the environments it is found in, when
    /// not all.
    pub fn full_message(&self) -> String {
        match self.environments.as_slice() {
            [] => self.message.clone(),
            [one] => format!("in environment `{one}`: {}", self.message),
            many => {
                let names: Vec<String> = many.iter().map(|e| format!("`{e}`")).collect();
                format!("in environments {}: {}", names.join(", "), self.message)
            }
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint naming the closest candidate, if one is close enough.
    pub fn suggest<'a>(
        mut self,
        given: &str,
        candidates: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Self {
        if let Some(best) = closest(given, candidates.clone()) {
            self.hint = Some(format!("did you mean `{best}`?"));
        } else {
            let all: Vec<String> = candidates.into_iter().map(|c| format!("`{c}`")).collect();
            if !all.is_empty() && all.len() <= 12 {
                self.hint = Some(format!("expected one of {}", all.join(", ")));
            }
        }
        self
    }

    /// Sets line and column (1-based).
    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }
}

/// The candidate closest to `given`, if it is plausibly a typo of it.
pub fn closest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Case is compared apart: `Get` means `GET`, `avg` is near `Average`.
    let lower = given.to_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let score = if c.to_lowercase() == lower {
                2.0
            } else {
                strsim::jaro_winkler(&lower, &c.to_lowercase())
            };
            (score, c)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.full_message())?;
        write!(f, "  --> {}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        writeln!(f)?;
        if !self.path.is_empty() {
            writeln!(f, "   = at: {}", self.path)?;
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "   = hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in a project; the error type of validation.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Records one problem.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Sorted by file, then line, then column, so a user reads them top to
    /// bottom; problems at the same place keep the order they were found
    /// in. Exact duplicates (one problem seen in several environments) are
    /// kept once.
    pub fn sorted(mut self) -> Self {
        self.0.sort_by(|a, b| {
            (&a.file, a.line.unwrap_or(0), a.column.unwrap_or(0)).cmp(&(
                &b.file,
                b.line.unwrap_or(0),
                b.column.unwrap_or(0),
            ))
        });
        let mut seen: Vec<Diagnostic> = Vec::with_capacity(self.0.len());
        for d in self.0 {
            if !seen.contains(&d) {
                seen.push(d);
            }
        }
        Diagnostics(seen)
    }
}

/// `n` and the noun, plural unless `n` is 1: `1 stack`, `2 stacks`, `0 stacks`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A message with the environment's name and all numbers blanked, so that
/// `x-dev is 68 characters` and `x-prod is 69 characters` compare equal.
fn normalize(message: &str, env: &str) -> String {
    message
        .replace(env, "{env}")
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect()
}

impl Diagnostics {
    /// Merges diagnostics that differ only by environment: the same problem
    /// at the same place is reported once, naming the environments it
    /// affects, or none when it affects all of `envs`.
    pub fn collapse_environments(self, envs: &[String]) -> Self {
        let mut out: Vec<Diagnostic> = Vec::new();
        for d in self.0 {
            let [env] = d.environments.as_slice() else {
                out.push(d);
                continue;
            };
            let norm = normalize(&d.message, env);
            let same = out.iter_mut().find(|o| {
                o.environments.first().is_some_and(|oe| {
                    o.file == d.file
                        && o.path == d.path
                        && o.line == d.line
                        && normalize(&o.message, oe) == norm
                })
            });
            match same {
                Some(o) => o.environments.push(env.clone()),
                None => out.push(d),
            }
        }
        for d in &mut out {
            if !envs.is_empty() && d.environments.len() == envs.len() {
                d.environments.clear();
            }
        }
        Diagnostics(out)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        write!(f, "validation failed: {}", count(self.0.len(), "problem"))
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_and_ignores_unrelated_words() {
        assert_eq!(closest("memroy", ["memory", "timeout"]), Some("memory"));
        assert_eq!(closest("ingst", ["ingest", "sessions"]), Some("ingest"));
        assert_eq!(closest("zzz", ["memory", "timeout"]), None);
        assert_eq!(closest("Get", ["GET", "PUT", "DELETE"]), Some("GET"));
        assert_eq!(closest("retain", ["Delete", "Retain"]), Some("Retain"));
    }

    #[test]
    fn per_environment_duplicates_collapse() {
        let at = |env: &str, name: &str| {
            Diagnostic::new(
                Path::new("s.yaml"),
                "resources.b",
                format!("bucket name `x-{name}` is bad"),
            )
            .in_env(env)
            .at(3, 3)
        };
        let envs: Vec<String> = ["dev", "prod", "local"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let all = Diagnostics(vec![
            at("dev", "dev"),
            at("prod", "prod"),
            at("local", "local"),
        ])
        .collapse_environments(&envs);
        assert_eq!(all.len(), 1);
        assert_eq!(all.0[0].full_message(), "bucket name `x-dev` is bad");
        assert!(all.0[0].environments.is_empty());
        let some =
            Diagnostics(vec![at("dev", "dev"), at("prod", "prod")]).collapse_environments(&envs);
        assert_eq!(
            some.0[0].full_message(),
            "in environments `dev`, `prod`: bucket name `x-dev` is bad"
        );
        assert_eq!(some.0[0].environments, ["dev", "prod"]);
        let one = Diagnostics(vec![at("prod", "prod")]).collapse_environments(&envs);
        assert_eq!(
            one.0[0].full_message(),
            "in environment `prod`: bucket name `x-prod` is bad"
        );
    }

    #[test]
    fn sorted_reads_top_to_bottom_and_keeps_the_order_found_at_one_place() {
        let at = |file: &str, line: usize, col: usize, msg: &str| {
            Diagnostic::new(Path::new(file), "p", msg).at(line, col)
        };
        let d = Diagnostics(vec![
            at("stacks/a.yaml", 9, 1, "z"),
            at("stackctl.yaml", 12, 5, "b"),
            at("stackctl.yaml", 3, 7, "y"),
            at("stackctl.yaml", 3, 7, "a"),
            at("stackctl.yaml", 3, 2, "c"),
            Diagnostic::new(Path::new("stacks/a.yaml"), "", "unreadable"),
            at("stackctl.yaml", 12, 5, "b"),
        ])
        .sorted();
        let order: Vec<(&str, &str)> =
            d.0.iter()
                .map(|d| (d.file.to_str().unwrap(), d.message.as_str()))
                .collect();
        assert_eq!(
            order,
            vec![
                ("stackctl.yaml", "c"),
                ("stackctl.yaml", "y"),
                ("stackctl.yaml", "a"),
                ("stackctl.yaml", "b"),
                ("stacks/a.yaml", "unreadable"),
                ("stacks/a.yaml", "z"),
            ]
        );
    }

    #[test]
    fn counts_are_singular_for_one() {
        assert_eq!(count(1, "problem"), "1 problem");
        assert_eq!(count(0, "problem"), "0 problems");
        assert_eq!(count(8, "template"), "8 templates");
        let one = Diagnostics(vec![Diagnostic::new(Path::new("a"), "", "x")]);
        assert!(one.to_string().ends_with("validation failed: 1 problem"));
    }

    #[test]
    fn display_names_file_line_path_and_hint() {
        let d = Diagnostic::new(
            Path::new("stacks/a.yaml"),
            "resources.f.memroy",
            "unknown field `memroy`",
        )
        .at(12, 5)
        .suggest("memroy", ["memory"]);
        let text = d.to_string();
        assert!(text.contains("--> stacks/a.yaml:12:5"), "{text}");
        assert!(text.contains("= at: resources.f.memroy"), "{text}");
        assert!(text.contains("did you mean `memory`?"), "{text}");
    }
}
