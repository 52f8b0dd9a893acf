//! `stackctl health`: runbook checks of a deployed environment (see
//! [`crate::health`]). Read-only: no build, no upload, no change.

use super::{runtime, Scope};
use crate::aws::cloudformation::SdkCloudFormation;
use crate::aws::resources::SdkResources;
use crate::cli::{GlobalArgs, HealthArgs, HealthFailOn};
use crate::exit::{ExitStatus, UsageError};
use crate::health::run::{Input, StackScope};
use crate::health::stack::Code;
use crate::health::{Report, Settings};
use crate::output::Printer;
use crate::ui::timings;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Most reads at the same time.
const CONCURRENCY: usize = 8;

/// Checks the environment; the report and its exit status.
pub fn run(
    root: &Path,
    args: HealthArgs,
    global: &GlobalArgs,
    printer: Printer,
) -> anyhow::Result<(Report, ExitStatus)> {
    let HealthArgs {
        env,
        stacks,
        only,
        timeout,
        fail_on,
        skip_probes,
        // `--print-policy` is [`policy`]'s.
        print_policy: _,
        window,
    } = args;
    if skip_probes && only.iter().any(|k| k == crate::health::probe::KIND) {
        return Err(UsageError::new(
            "--only probe and --skip-probes leave nothing to check\nhint: keep one of them",
        )
        .into());
    }
    let scope = Scope::load(root, &env, &stacks)?;
    let settings = Settings {
        timeout,
        concurrency: CONCURRENCY,
        only: kinds(&only)?,
        skip_probes,
        window: crate::health::metrics::Window::new(window)
            .map_err(|e| UsageError::new(format!("--window: {e}")))?,
    };
    let mut code = code(&scope);
    timings::lap("load, validate and render the project");
    let emulated = scope.environment().emulator.is_some();
    let project = &scope.project;
    let mut stacks = Vec::new();
    for s in &scope.stacks {
        let migrations = crate::migrations::load(project, &project.stacks[s])
            .map_err(|d| anyhow::anyhow!("{d}"))?;
        stacks.push(StackScope {
            rendered: scope.rendered(s),
            resources: &project.stacks[s].resources,
            code: code.remove(s).unwrap_or_default(),
            bindings: bindings(&scope, s),
            migrations,
        });
    }
    let input = Input {
        env: &scope.env,
        region: &scope.environment().region,
        emulated,
        rendered: &scope.rendered,
        stacks,
    };
    let rt = runtime()?;
    let mut report = rt.block_on(async {
        // Nothing is deployed on an emulator that is not running: say so,
        // do not start a fresh one.
        let sdk = scope
            .connect(global.endpoint_url.as_deref(), false, printer)
            .await?;
        timings::lap("connect (emulator check, SDK setup)");
        let cfn = SdkCloudFormation::new(&sdk);
        let aws = SdkResources::new(&sdk);
        anyhow::Ok(crate::health::run(&cfn, &aws, &input, &settings).await)
    })?;
    timings::lap("AWS calls (the checks)");
    report.verbose = global.verbose;
    let status = report.status(fail_on == Some(HealthFailOn::Warn));
    Ok((report, status))
}

/// `--print-policy`: the read-only IAM policy the checks of `args` need,
/// derived from the rendered stacks; nothing is read from AWS.
pub fn policy(root: &Path, args: HealthArgs) -> anyhow::Result<Policy> {
    let HealthArgs {
        env,
        stacks,
        only,
        // How a run goes, not what it reads.
        timeout: _,
        fail_on: _,
        print_policy: _,
    } = args;
    let scope = Scope::load(root, &env, &stacks)?;
    let only = kinds(&only)?;
    let selected: Vec<_> = scope
        .stacks
        .iter()
        .map(|s| (scope.rendered(s), &scope.project.stacks[s].resources))
        .collect();
    let region = &scope.environment().region;
    let access = crate::health::access::needed(region, &scope.rendered, &selected, &only);
    Ok(Policy(crate::health::access::policy(&access)))
}

/// An IAM policy document, printed as JSON whatever `--output` says.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(transparent)]
pub struct Policy(pub serde_json::Value);

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = serde_json::to_string_pretty(&self.0).map_err(|_| std::fmt::Error)?;
        writeln!(f, "{text}")
    }
}

/// The servers the environment binds `stack`'s resources to, by key.
fn bindings(scope: &Scope, stack: &str) -> BTreeMap<String, crate::model::project::Bound> {
    let file = &scope.project.file;
    file.environments[&scope.env]
        .bind
        .get(stack)
        .map(|b| {
            b.iter()
                .map(|(key, b)| (key.clone(), b.bound(&file.project, &scope.env)))
                .collect()
        })
        .unwrap_or_default()
}

/// `--only` values: `stack` or kinds with checks; an unknown one is a usage
/// error naming the closest.
fn kinds(only: &[String]) -> Result<BTreeSet<String>, UsageError> {
    let known: Vec<&str> = std::iter::once("stack")
        .chain(crate::kinds::health_kinds())
        .chain(std::iter::once(crate::health::probe::KIND))
        .collect();
    for k in only {
        if known.contains(&k.as_str()) {
            continue;
        }
        let without = crate::kinds::KINDS.contains(&k.as_str());
        let hint = match crate::diagnostics::closest(k, known.iter().copied()) {
            Some(c) if !without => format!("did you mean `{c}`?"),
            _ => format!("kinds with checks: {}", known.join(", ")),
        };
        let what = if without {
            format!("kind `{k}` has no health checks yet")
        } else {
            format!("unknown kind `{k}` for --only")
        };
        return Err(UsageError::new(format!("{what}\nhint: {hint}")));
    }
    Ok(only.iter().cloned().collect())
}

/// Per stack, the code this checkout would deploy: the code keys of the
/// functions whose zips are current (known from fingerprints, nothing
/// built), and the functions that changed since their last build.
fn code(scope: &Scope) -> BTreeMap<String, Code> {
    let current = scope
        .function_plan()
        .map(|plan| plan.current())
        .unwrap_or_default();
    let bucket = scope
        .environment()
        .artefact_bucket(&scope.project.file.project, &scope.env);
    let mut keys = crate::publish::code_parameters(&bucket, &current, &scope.rendered, &scope.env);
    scope
        .stacks
        .iter()
        .map(|s| {
            let r = scope.rendered(s);
            let keys = keys.remove(s).unwrap_or_default();
            let stale = r
                .code_parameters
                .iter()
                .filter(|(_, param)| !keys.contains_key(*param))
                .map(|(resource, _)| resource.clone())
                .collect();
            (s.clone(), Code { keys, stale })
        })
        .collect()
}
