//! `stackctl render`: CloudFormation for one environment, to stdout or files.

use crate::cli::RenderArgs;
use crate::render::Rendered;
use crate::validate;
use anyhow::Context;
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// What `render` produced.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Report {
    /// Templates for stdout.
    Templates(Vec<Rendered>),
    /// Files written with `--out`.
    Files(Vec<Written>),
}

/// One stack written to disk.
#[derive(Debug, Serialize)]
pub struct Written {
    /// Stack name.
    pub stack: String,
    /// CloudFormation stack name.
    pub stack_name: String,
    /// The template file.
    pub template: PathBuf,
    /// The parameters file.
    pub parameters: PathBuf,
    /// Code parameters the file lacks: their functions are not built, or
    /// changed since their last build.
    pub missing_code: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::Templates(list) if list.len() == 1 => f.write_str(&list[0].template),
            Report::Templates(list) => {
                for r in list {
                    writeln!(f, "---\n# stack: {} ({})", r.stack, r.stack_name)?;
                    f.write_str(&r.template)?;
                }
                Ok(())
            }
            Report::Files(list) => {
                for w in list {
                    writeln!(
                        f,
                        "{}: {} and {}",
                        w.stack,
                        w.template.display(),
                        w.parameters.display()
                    )?;
                    if !w.missing_code.is_empty() {
                        writeln!(
                            f,
                            "  {} lacks {}: those functions are not built, or changed since; run `stackctl build` (or `stackctl publish --env ENV`, which uploads them too), then render again",
                            w.parameters.display(),
                            w.missing_code.join(", ")
                        )?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Settings of one `render` run, resolved from the arguments.
struct Settings {
    env: String,
    stacks: Vec<String>,
    out: Option<PathBuf>,
}

/// Renders the requested stacks.
pub fn run(root: &Path, args: RenderArgs) -> anyhow::Result<Report> {
    let RenderArgs { env, stacks, out } = args;
    let (project, rendered) = validate::project(root)?;
    super::check_env(&project, &env)?;
    let order = validate::order(&project).unwrap_or_default();
    let settings = Settings {
        stacks: super::select_stacks(&project, &order, &stacks)?,
        env,
        out,
    };
    let mut selected: Vec<Rendered> = settings
        .stacks
        .iter()
        .filter_map(|s| {
            rendered
                .iter()
                .find(|r| &r.stack == s && r.env == settings.env)
                .cloned()
        })
        .collect();
    let Some(dir) = settings.out else {
        return Ok(Report::Templates(selected));
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // The code parameters of every function whose zip is current (read
    // from the build's fingerprints; nothing is built), so that the files
    // deploy on their own with `aws cloudformation deploy`.
    let current = crate::build::plan(
        &project,
        &crate::build::Selection {
            names: Vec::new(),
            env: Some(settings.env.clone()),
        },
    )
    .map(|p| p.current())
    .unwrap_or_default();
    let bucket = project.file.environments[&settings.env]
        .artefact_bucket(&project.file.project, &settings.env);
    let code = crate::publish::code_parameters(&bucket, &current, &selected, &settings.env);
    let mut written = Vec::new();
    for r in selected.drain(..) {
        let template = dir.join(format!("{}.yaml", r.stack));
        let parameters = dir.join(format!("{}.parameters.json", r.stack));
        std::fs::write(&template, &r.template)
            .with_context(|| format!("writing {}", template.display()))?;
        let mut values = r.parameters.clone();
        if let Some(code) = code.get(&r.stack) {
            values.extend(code.clone());
        }
        let missing_code: Vec<String> = r
            .code_parameters
            .values()
            .filter(|p| !values.contains_key(*p))
            .cloned()
            .collect();
        let params: Vec<serde_json::Value> = values
            .iter()
            .map(|(k, v)| serde_json::json!({"ParameterKey": k, "ParameterValue": v}))
            .collect();
        std::fs::write(&parameters, serde_json::to_string_pretty(&params)? + "\n")
            .with_context(|| format!("writing {}", parameters.display()))?;
        written.push(Written {
            stack: r.stack,
            stack_name: r.stack_name,
            template,
            parameters,
            missing_code,
        });
    }
    Ok(Report::Files(written))
}
