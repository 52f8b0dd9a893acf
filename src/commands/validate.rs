//! `stackctl validate`: the whole project, every environment, no AWS calls.

use crate::diagnostics::count;
use crate::validate;
use serde::Serialize;
use std::fmt;
use std::path::Path;

/// What was checked.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Always true in a report (failures are errors).
    pub valid: bool,
    /// Project name.
    pub project: String,
    /// Stacks checked, in deployment order.
    pub stacks: Vec<String>,
    /// Environments checked.
    pub environments: Vec<String>,
    /// Templates rendered while checking.
    pub templates: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ok: {} ({}) valid in {} ({}); {} rendered",
            count(self.stacks.len(), "stack"),
            self.stacks.join(", "),
            count(self.environments.len(), "environment"),
            self.environments.join(", "),
            count(self.templates, "template"),
        )
    }
}

/// Runs the validation.
pub fn run(root: &Path) -> anyhow::Result<Report> {
    let (project, rendered) = validate::project(root)?;
    let stacks = validate::order(&project).unwrap_or_default();
    Ok(Report {
        valid: true,
        project: project.file.project.clone(),
        stacks,
        environments: project.file.environments.keys().cloned().collect(),
        templates: rendered.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_each_is_singular() {
        let report = Report {
            valid: true,
            project: "p".into(),
            stacks: vec!["app".into()],
            environments: vec!["dev".into()],
            templates: 1,
        };
        assert_eq!(
            report.to_string(),
            "ok: 1 stack (app) valid in 1 environment (dev); 1 template rendered"
        );
    }
}
