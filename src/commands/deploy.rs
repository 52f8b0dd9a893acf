//! `stackctl deploy`: validate, render, build and publish the functions,
//! then every selected stack through the deploy engine, in dependency
//! order, with live progress; a stack's outputs feed the parameters of the
//! stacks that depend on it.

use super::{runtime, Scope};
use crate::aws::artefacts::{ArtefactStore, S3Artefacts};
use crate::aws::cloudformation::{
    CloudFormation, SdkCloudFormation, StackRequest, TemplateSource, MAX_TEMPLATE_BODY,
};
use crate::build::zip::sha256_hex;
use crate::build::Selection;
use crate::cli::{DeployArgs, GlobalArgs, OutputFormat};
use crate::deploy::schedule::{in_order, Ran};
use crate::deploy::wait::SystemClock;
use crate::deploy::{AssumeYes, Confirm, Desired, Engine, Method, Outcome, StackReport};
use crate::exit::{ExitStatus, Interrupted};
use crate::output::Printer;
use crate::publish::PublishReport;
use crate::render::Rendered;
use crate::ui::progress::{Mode, Progress};
use crate::ui::prompt::{require_terminal, TerminalConfirm};
use anyhow::Context;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// Outputs by stack, then output key.
pub type Outputs = BTreeMap<String, BTreeMap<String, String>>;

/// What `deploy` did.
#[derive(Debug, Serialize)]
pub struct DeployReport {
    /// Environment.
    pub env: String,
    /// How templates were applied.
    pub method: Method,
    /// The function artefacts: uploaded or already there.
    pub artefacts: Option<PublishReport>,
    /// One entry per selected stack, in dependency order.
    pub stacks: Vec<StackReport>,
}

impl DeployReport {
    /// Success unless a stack failed or was skipped.
    pub fn status(&self) -> ExitStatus {
        crate::deploy::exit_status(&self.stacks)
    }
}

impl fmt::Display for DeployReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(a) = &self.artefacts {
            let uploaded = a.functions.iter().filter(|p| p.uploaded).count();
            writeln!(
                f,
                "functions: {uploaded} uploaded, {} unchanged (s3://{})",
                a.functions.len() - uploaded,
                a.bucket
            )?;
        }
        let width = self
            .stacks
            .iter()
            .map(|s| s.stack_name.len())
            .max()
            .unwrap_or(0);
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &self.stacks {
            let what = crate::deploy::summary(s);
            *counts
                .entry(match s.outcome {
                    Outcome::Created => "created",
                    Outcome::Updated => "updated",
                    Outcome::Unchanged => "unchanged",
                    Outcome::Declined => "declined",
                    Outcome::Failed => "failed",
                    Outcome::Skipped => "skipped",
                    Outcome::Deleted | Outcome::NotDeployed => "other",
                })
                .or_default() += 1;
            let changes = match (s.outcome, s.changes.len()) {
                (Outcome::Updated, 0) => "  (parameters or tags)".to_string(),
                (Outcome::Created | Outcome::Updated, n) => {
                    format!("  ({n} resource change{})", if n == 1 { "" } else { "s" })
                }
                _ => String::new(),
            };
            writeln!(f, "{:width$}  {what}{changes}", s.stack_name)?;
            if let Some(m) = &s.message {
                for line in m.lines() {
                    writeln!(f, "    {line}")?;
                }
            }
            if matches!(s.outcome, Outcome::Created | Outcome::Updated) {
                for (k, v) in &s.outputs {
                    writeln!(f, "    {k} = {v}")?;
                }
            }
        }
        let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
        write!(
            f,
            "{} stack{} in {}: {}",
            self.stacks.len(),
            if self.stacks.len() == 1 { "" } else { "s" },
            self.env,
            parts.join(", ")
        )
    }
}

/// Settings of one deploy, resolved from the arguments.
struct Settings {
    env: String,
    stacks: Vec<String>,
    method: Option<Method>,
    concurrency: usize,
    yes: bool,
    verbose: bool,
    quiet: bool,
    endpoint: Option<String>,
}

/// Deploys; the report and the exit status it calls for.
pub fn run(
    root: &Path,
    args: DeployArgs,
    global: &GlobalArgs,
    printer: Printer,
) -> anyhow::Result<DeployReport> {
    let DeployArgs {
        env,
        stacks,
        method,
        concurrency,
    } = args;
    let settings = Settings {
        env,
        stacks,
        method,
        concurrency: usize::from(concurrency),
        yes: global.yes,
        verbose: global.verbose,
        quiet: global.quiet || global.output == OutputFormat::Json,
        endpoint: global.endpoint_url.clone(),
    };
    let scope = Scope::load(root, &settings.env, &settings.stacks)?;
    require_terminal(settings.yes, "deploy")?;
    let rt = runtime()?;
    // Credentials, endpoint and permission are checked before a build that
    // may take minutes.
    let sdk = rt.block_on(scope.preflight(settings.endpoint.as_deref(), printer))?;
    let built = build_functions(&scope, printer)?;
    rt.block_on(deploy(&scope, &settings, &sdk, built))
}

/// Builds the functions of the selected stacks.
pub fn build_functions(
    scope: &Scope,
    printer: Printer,
) -> anyhow::Result<Vec<crate::build::BuiltFunction>> {
    let crates: Vec<String> = crate::build::functions(&scope.project)?
        .into_iter()
        .filter(|f| f.uses.iter().any(|u| scope.stacks.contains(&u.stack)))
        .map(|f| f.crate_name)
        .collect();
    if crates.is_empty() {
        return Ok(Vec::new());
    }
    let report =
        crate::build::build_project(&scope.project, &Selection { names: crates }, printer)?;
    Ok(report.functions)
}

async fn deploy(
    scope: &Scope,
    s: &Settings,
    sdk: &aws_config::SdkConfig,
    built: Vec<crate::build::BuiltFunction>,
) -> anyhow::Result<DeployReport> {
    let e = scope.environment();
    let store = S3Artefacts::new(sdk);
    let bucket = e.artefact_bucket(&scope.project.file.project, &scope.env);
    let artefacts = if built.is_empty() {
        None
    } else {
        let root = &scope.project.root;
        Some(
            crate::publish::publish(
                &store,
                root,
                &scope.env,
                &bucket,
                &e.region,
                &built,
                &scope.rendered,
            )
            .await
            .context("publishing the functions")?,
        )
    };
    let code = artefacts
        .as_ref()
        .map(|a| a.parameters.clone())
        .unwrap_or_default();
    let cfn = &SdkCloudFormation::new(sdk);
    let clock = SystemClock::default();
    let progress = Progress::new(Mode::detect(s.quiet), s.verbose);
    let terminal = TerminalConfirm { view: &progress };
    let confirm: &dyn Confirm = if s.yes { &AssumeYes } else { &terminal };
    let engine = Engine {
        cfn,
        clock: &clock,
        observer: &progress,
        confirm,
    };
    let method = s.method.unwrap_or_else(|| e.method());
    // Questions on a terminal come one stack at a time.
    let limit = if s.yes { s.concurrency } else { 1 };
    let outputs: RefCell<Outputs> = RefCell::new(BTreeMap::new());
    let dependencies = scope.dependencies();
    let work = in_order(
        &scope.stacks,
        &dependencies,
        limit,
        |r: &StackReport| r.outcome.ok(),
        |stack| {
            let (engine, outputs, code) = (&engine, &outputs, &code);
            let (store, bucket) = (&store, &bucket);
            async move {
                let r = scope.rendered(&stack);
                let desired = async {
                    let params = parameters(r, code.get(&stack), cfn, outputs, scope).await?;
                    let template = template_source(store, bucket, r).await?;
                    anyhow::Ok(Desired {
                        stack: stack.clone(),
                        request: StackRequest {
                            name: r.stack_name.clone(),
                            template,
                            parameters: params,
                            tags: r.tags.clone(),
                            termination_protection: e.protect_stacks(),
                        },
                        template: r.template.clone(),
                        method,
                    })
                }
                .await;
                let report = match desired {
                    Ok(d) => engine.deploy(&d).await,
                    Err(err) => {
                        let mut report = StackReport::new(&stack, &r.stack_name);
                        report.message = Some(format!("{err:#}"));
                        report
                    }
                };
                if report.outcome.ok() {
                    outputs
                        .borrow_mut()
                        .insert(stack.clone(), report.outputs.clone());
                }
                report
            }
        },
    );
    let results = tokio::select! {
        results = work => results,
        _ = tokio::signal::ctrl_c() => {
            progress.abandon();
            return Err(interrupted(&progress, &scope.env).into());
        }
    };
    let stacks = results
        .into_iter()
        .map(|(stack, ran)| match ran {
            Ran::Done(report) => report,
            Ran::Skipped { because } => StackReport::skipped(
                &stack,
                &scope.rendered(&stack).stack_name,
                format!("not deployed: stack `{because}`, which it depends on, did not deploy"),
            ),
        })
        .collect();
    Ok(DeployReport {
        env: scope.env.clone(),
        method,
        artefacts,
        stacks,
    })
}

/// What Ctrl-C leaves behind.
pub fn interrupted(progress: &Progress, env: &str) -> Interrupted {
    let running = progress.in_progress();
    let mut message = String::from("interrupted: stackctl stopped waiting");
    if running.is_empty() {
        message.push_str("; no CloudFormation operation was running");
    } else {
        for (stack, status) in &running {
            let status = if status.is_empty() {
                "in progress"
            } else {
                status
            };
            message.push_str(&format!(
                "\n  {stack}: {status}; CloudFormation goes on with it"
            ));
        }
        message.push_str(&format!(
            "\nhint: `stackctl status --env {env}` shows where it is; the next deploy or destroy waits for it to finish"
        ));
    }
    Interrupted { message }
}

/// The parameter values of a stack: the environment's, the code keys of
/// its functions, and the outputs of the stacks it takes values from
/// (deployed in this run, or read from CloudFormation).
pub async fn parameters<C: CloudFormation>(
    r: &Rendered,
    code: Option<&BTreeMap<String, String>>,
    cfn: &C,
    outputs: &RefCell<Outputs>,
    scope: &Scope,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut params = r.parameters.clone();
    if let Some(code) = code {
        params.extend(code.clone());
    }
    for (param, (stack, output)) in &r.output_parameters {
        let values = outputs_of(cfn, scope, outputs, stack).await?.ok_or_else(|| {
            anyhow::anyhow!(
                "parameter {param} takes output {output} of stack `{stack}`, which is not deployed in {}\nhint: deploy `{stack}` first (or both together)",
                scope.env
            )
        })?;
        let value = values.get(output).ok_or_else(|| {
            anyhow::anyhow!(
                "parameter {param} takes output {output} of stack `{stack}`, which has no such output\nhint: deploy `{stack}` again; with the local emulator, deploy it with --method direct (moto's change sets lose outputs)"
            )
        })?;
        params.insert(param.clone(), value.clone());
    }
    Ok(params)
}

/// The outputs of `stack` (`None`: not deployed): from this run when it
/// deployed the stack, else from CloudFormation (then remembered).
pub async fn outputs_of<C: CloudFormation>(
    cfn: &C,
    scope: &Scope,
    cache: &RefCell<Outputs>,
    stack: &str,
) -> anyhow::Result<Option<BTreeMap<String, String>>> {
    if let Some(known) = cache.borrow().get(stack) {
        return Ok(Some(known.clone()));
    }
    let info = cfn.describe(&scope.rendered(stack).stack_name).await?;
    Ok(info.map(|i| {
        cache
            .borrow_mut()
            .insert(stack.to_string(), i.outputs.clone());
        i.outputs
    }))
}

/// The template inline, or, when it is too large for that, uploaded to
/// the artefact bucket under a content-addressed key and passed by URL.
async fn template_source<S: ArtefactStore>(
    store: &S,
    bucket: &str,
    r: &Rendered,
) -> anyhow::Result<TemplateSource> {
    if r.template.len() <= MAX_TEMPLATE_BODY {
        return Ok(TemplateSource::Body(r.template.clone()));
    }
    let key = format!(
        "templates/{}/{}.yaml",
        r.stack,
        sha256_hex(r.template.as_bytes())
    );
    if !store.exists(bucket, &key).await? {
        store
            .put(bucket, &key, r.template.clone().into_bytes())
            .await?;
    }
    Ok(TemplateSource::Url(store.url(bucket, &key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::observe::{Observer, Operation};

    #[test]
    fn ctrl_c_names_what_cloudformation_goes_on_with() {
        let progress = Progress::new(Mode::Quiet, false);
        assert!(interrupted(&progress, "dev")
            .message
            .ends_with("no CloudFormation operation was running"));
        progress.begin("upload", Operation::Update, 30);
        progress.status("upload", "UPDATE_IN_PROGRESS");
        progress.begin("media", Operation::Create, 12);
        progress.end("media", "created in 3.0 s", true);
        let message = interrupted(&progress, "dev").message;
        assert_eq!(
            message,
            "interrupted: stackctl stopped waiting\n  upload: UPDATE_IN_PROGRESS; CloudFormation goes on with it\nhint: `stackctl status --env dev` shows where it is; the next deploy or destroy waits for it to finish"
        );
    }
}
