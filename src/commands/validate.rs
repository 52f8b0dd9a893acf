//! `stackctl validate`: the whole project, every environment, no AWS calls.

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
            "ok: {} stack{} ({}) valid in {} environment{} ({}); {} templates rendered",
            self.stacks.len(),
            if self.stacks.len() == 1 { "" } else { "s" },
            self.stacks.join(", "),
            self.environments.len(),
            if self.environments.len() == 1 {
                ""
            } else {
                "s"
            },
            self.environments.join(", "),
            self.templates
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
