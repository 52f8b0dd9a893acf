//! `stackctl diff`: what a deploy would change, stack by stack, without
//! changing anything (no change set, no upload).

use super::deploy::{build_functions, outputs_of, Outputs};
use super::{runtime, Scope};
use crate::aws::cloudformation::{CloudFormation, SdkCloudFormation};
use crate::cli::{DiffArgs, GlobalArgs};
use crate::deploy::effective_parameters;
use crate::diff::{parse_template, DeployedState, DesiredState, StackDiff};
use crate::exit::ExitStatus;
use crate::output::Printer;
use anyhow::Context;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The differences of every selected stack.
#[derive(Debug, Serialize)]
pub struct DiffReport {
    /// Environment.
    pub env: String,
    /// Whether any stack would change.
    pub changes: bool,
    /// Whether function code was compared (false with --no-build).
    pub code_compared: bool,
    /// Per stack, in dependency order.
    pub stacks: Vec<StackDiff>,
}

impl fmt::Display for DiffReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.stacks {
            write!(f, "{s}")?;
            if !s.to_string().ends_with('\n') {
                writeln!(f)?;
            }
        }
        let changed = self.stacks.iter().filter(|s| s.has_changes()).count();
        write!(
            f,
            "{changed} of {} stack{} in {} would change",
            self.stacks.len(),
            if self.stacks.len() == 1 { "" } else { "s" },
            self.env
        )?;
        if !self.code_compared {
            write!(f, " (function code not compared: --no-build)")?;
        }
        Ok(())
    }
}

/// Compares; the report and the exit status (2 for changes with --exit-code).
pub fn run(
    root: &Path,
    args: DiffArgs,
    global: &GlobalArgs,
    printer: Printer,
) -> anyhow::Result<(DiffReport, ExitStatus)> {
    let DiffArgs {
        env,
        stacks,
        exit_code,
        no_build,
    } = args;
    let scope = Scope::load(root, &env, &stacks)?;
    let e = scope.environment();
    let bucket = e.artefact_bucket(&scope.project.file.project, &scope.env);
    let rt = runtime()?;
    let sdk = rt.block_on(scope.preflight(global.endpoint_url.as_deref(), printer))?;
    let code = if no_build {
        None
    } else {
        let built = build_functions(&scope, printer)?;
        Some(crate::publish::code_parameters(
            &bucket,
            &built,
            &scope.rendered,
            &scope.env,
        ))
    };
    let report = rt.block_on(async {
        let cfn = SdkCloudFormation::new(&sdk);
        let outputs: RefCell<Outputs> = RefCell::new(BTreeMap::new());
        let mut diffs = Vec::new();
        for stack in &scope.stacks {
            diffs.push(stack_diff(&scope, stack, code.as_ref(), &cfn, &outputs).await?);
        }
        anyhow::Ok(DiffReport {
            env: scope.env.clone(),
            changes: diffs.iter().any(StackDiff::has_changes),
            code_compared: code.is_some(),
            stacks: diffs,
        })
    })?;
    let status = if exit_code && report.changes {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    };
    Ok((report, status))
}

async fn stack_diff<C: CloudFormation>(
    scope: &Scope,
    stack: &str,
    code: Option<&BTreeMap<String, BTreeMap<String, String>>>,
    cfn: &C,
    outputs: &RefCell<Outputs>,
) -> anyhow::Result<StackDiff> {
    let r = scope.rendered(stack);
    let info = cfn.describe(&r.stack_name).await?;
    let deployed = match &info {
        Some(i) if i.status != "REVIEW_IN_PROGRESS" => {
            let body = cfn.template(&r.stack_name).await?;
            let template = parse_template(&body)
                .with_context(|| format!("reading the deployed template of {}", r.stack_name))?;
            Some(DeployedState {
                template,
                parameters: i.parameters.clone(),
                tags: i.tags.clone(),
            })
        }
        _ => None,
    };
    let mut params = r.parameters.clone();
    match (code, &info) {
        (Some(code), _) => params.extend(code.get(stack).cloned().unwrap_or_default()),
        // Without a build the code is taken as deployed.
        (None, Some(i)) => {
            let bucket = crate::render::context::ARTEFACT_BUCKET_PARAM.to_string();
            for key in r.code_parameters.values().chain([&bucket]) {
                if let Some(v) = i.parameters.get(key) {
                    params.insert(key.clone(), v.clone());
                }
            }
        }
        (None, None) => {}
    }
    for (param, (other, output)) in &r.output_parameters {
        let value = outputs_of(cfn, scope, outputs, other)
            .await?
            .and_then(|o| o.get(output).cloned())
            // Known only once that stack is deployed.
            .unwrap_or_else(|| format!("(output {output} of {other}, after its deploy)"));
        params.insert(param.clone(), value);
    }
    let desired = DesiredState {
        template: parse_template(&r.template)?,
        parameters: effective_parameters(&r.template, &params),
        tags: r.tags.clone(),
    };
    Ok(StackDiff::new(
        stack,
        &r.stack_name,
        deployed.as_ref(),
        &desired,
    ))
}
