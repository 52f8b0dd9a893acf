//! One module per command: each turns its arguments into settings, does
//! the work, and returns a printable result.

pub mod build;
pub mod config;
pub mod publish;
pub mod render;
pub mod validate;

use crate::exit::UsageError;
use crate::model::Project;

/// Checks that `env` is an environment of the project.
pub fn check_env(project: &Project, env: &str) -> Result<(), UsageError> {
    if project.file.environments.contains_key(env) {
        return Ok(());
    }
    let names: Vec<&str> = project
        .file
        .environments
        .keys()
        .map(String::as_str)
        .collect();
    let hint = match crate::diagnostics::closest(env, names.iter().copied()) {
        Some(b) => format!("did you mean `{b}`?"),
        None => format!("environments: {}", names.join(", ")),
    };
    Err(UsageError::new(format!(
        "unknown environment `{env}`\nhint: {hint}"
    )))
}

/// The requested stacks in deployment order; all of them when none is named.
pub fn select_stacks(
    project: &Project,
    order: &[String],
    wanted: &[String],
) -> Result<Vec<String>, UsageError> {
    for w in wanted {
        if !project.stacks.contains_key(w) {
            let hint = match crate::diagnostics::closest(w, order.iter().map(String::as_str)) {
                Some(b) => format!("did you mean `{b}`?"),
                None => format!("stacks: {}", order.join(", ")),
            };
            return Err(UsageError::new(format!(
                "unknown stack `{w}`\nhint: {hint}"
            )));
        }
    }
    Ok(order
        .iter()
        .filter(|s| wanted.is_empty() || wanted.contains(s))
        .cloned()
        .collect())
}
