//! `stackctl health`: runbook checks of a deployed environment (see
//! [`crate::health`]). Read-only: no build, no upload, no change.

use super::{runtime, Scope};
use crate::aws::cloudformation::SdkCloudFormation;
use crate::aws::resources::SdkResources;
use crate::cli::{GlobalArgs, HealthArgs, HealthFailOn, OutputFormat};
use crate::deploy::wait::SystemClock;
use crate::exit::{ExitStatus, UsageError};
use crate::health::run::{Input, StackScope};
use crate::health::stack::Code;
use crate::health::wait::WaitSettings;
use crate::health::{Report, Settings};
use crate::output::Printer;
use crate::ui::progress::Mode;
use crate::ui::timings;
use crate::ui::wait::WaitProgress;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

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
        stack: named,
        only,
        timeout,
        fail_on,
        skip_probes,
        // `--print-policy` is [`policy`]'s.
        print_policy: _,
        window,
        wait,
        junit,
    } = args;
    if skip_probes && only.iter().any(|k| k == crate::health::probe::KIND) {
        return Err(UsageError::new(
            "--only probe and --skip-probes leave nothing to check\nhint: keep one of them",
        )
        .into());
    }
    let stacks: Vec<String> = stacks.into_iter().chain(named).collect();
    let scope = Scope::load(root, &env, &stacks)?;
    let fail_on_warn = fail_on == Some(HealthFailOn::Warn);
    let settings = Settings {
        timeout,
        concurrency: CONCURRENCY,
        only: kinds(&only)?,
        skip_probes,
        window: crate::health::metrics::Window::new(window)
            .map_err(|e| UsageError::new(format!("--window: {e}")))?,
        waiting: wait.is_some(),
    };
    if let Some(path) = &junit {
        junit_target(path)?;
    }
    timings::lap("load, validate and render the project");
    let quiet = global.quiet || global.output == OutputFormat::Json;
    let rt = runtime()?;
    let mut report = rt.block_on(async {
        // Nothing is deployed on an emulator that is not running: say so,
        // do not start a fresh one.
        let sdk = scope
            .connect(global.endpoint_url.as_deref(), false, printer)
            .await?;
        timings::lap("connect (emulator check, SDK setup)");
        anyhow::Ok(
            check(
                &scope,
                &sdk,
                &settings,
                wait,
                fail_on_warn,
                Mode::detect(quiet),
            )
            .await,
        )
    })?;
    timings::lap("AWS calls (the checks)");
    if let Some(path) = &junit {
        crate::health::junit::write(path, &report)?;
    }
    report.verbose = global.verbose;
    let status = report.status(fail_on_warn);
    Ok((report, status))
}

/// Checks the selected stacks of `scope` through `sdk` once, or, with
/// `wait`, again and again until they are healthy or the time is up
/// ([`crate::health::wait`]; progress on stderr in `progress`'s mode).
/// `deploy --wait-healthy` calls this too.
pub async fn check(
    scope: &Scope,
    sdk: &aws_config::SdkConfig,
    settings: &Settings,
    wait: Option<Duration>,
    fail_on_warn: bool,
    progress: Mode,
) -> Report {
    let mut code = code(scope);
    let project = &scope.project;
    let stacks = scope
        .stacks
        .iter()
        .map(|s| StackScope {
            rendered: scope.rendered(s),
            resources: &project.stacks[s].resources,
            code: code.remove(s).unwrap_or_default(),
            bindings: bindings(scope, s),
            // Loaded (and checked) by `Scope::load` already.
            migrations: crate::migrations::load(project, &project.stacks[s]).unwrap_or_default(),
        })
        .collect();
    let input = Input {
        env: &scope.env,
        region: &scope.environment().region,
        emulated: scope.environment().emulator.is_some(),
        rendered: &scope.rendered,
        stacks,
    };
    let cfn = SdkCloudFormation::new(sdk);
    let aws = SdkResources::new(sdk);
    let Some(limit) = wait else {
        return crate::health::run(&cfn, &aws, &input, settings).await;
    };
    let (cfn, aws, input) = (&cfn, &aws, &input);
    let watch = WaitProgress::new(progress);
    let report = crate::health::wait::wait(
        &SystemClock::default(),
        &watch,
        WaitSettings {
            limit,
            timeout: settings.timeout,
            fail_on_warn,
        },
        |timeout| {
            let settings = Settings {
                timeout,
                waiting: true,
                ..settings.clone()
            };
            async move { crate::health::run(cfn, aws, input, &settings).await }
        },
    )
    .await;
    watch.clear();
    report
}

/// The settings of the health checks `deploy --wait-healthy` runs: every
/// kind, the default per-run timeout.
pub fn after_deploy() -> Settings {
    Settings {
        timeout: Duration::from_secs(60),
        concurrency: CONCURRENCY,
        only: BTreeSet::new(),
        skip_probes: false,
        window: crate::health::metrics::Window::DEFAULT,
        waiting: true,
    }
}

/// `--junit FILE` is checked before anything runs (a wait may take
/// minutes): its folder must exist, and it must not be a folder itself.
fn junit_target(path: &Path) -> Result<(), UsageError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if path.is_dir() || path.file_name().is_none() {
        return Err(UsageError::new(format!(
            "--junit {}: is a folder\nhint: name the file to write, such as {}",
            path.display(),
            path.join("health.xml").display()
        )));
    }
    if !dir.is_dir() {
        return Err(UsageError::new(format!(
            "--junit {}: folder {} does not exist\nhint: create it first (mkdir -p {})",
            path.display(),
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// `--print-policy`: the read-only IAM policy the checks of `args` need,
/// derived from the rendered stacks; nothing is read from AWS.
pub fn policy(root: &Path, args: HealthArgs) -> anyhow::Result<Policy> {
    let HealthArgs {
        env,
        stacks,
        stack: named,
        only,
        // How a run goes, not what it reads.
        timeout: _,
        fail_on: _,
        print_policy: _,
        window: _,
        wait: _,
        junit: _,
        // Probes' secrets are not derived (see the README).
        skip_probes: _,
    } = args;
    let stacks: Vec<String> = stacks.into_iter().chain(named).collect();
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
