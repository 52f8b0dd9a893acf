//! `stackctl deploy`: validate, render, build and publish the functions,
//! then every selected stack through the deploy engine, in dependency
//! order, with live progress; a stack's outputs feed the parameters of the
//! stacks that depend on it.

use super::{interrupted, runtime, Scope};
use crate::aws::artefacts::{ArtefactStore, S3Artefacts};
use crate::aws::cloudformation::{
    CfnError, ErrorKind, SdkCloudFormation, TemplateSource, MAX_TEMPLATE_BODY,
};
use crate::aws::functions::SdkFunctions;
use crate::build::zip::sha256_hex;
use crate::cli::{DeployArgs, GlobalArgs, OutputFormat};
use crate::deploy::desired::{self, Apply, CodeKeys, Inputs, Upstream};
use crate::deploy::hotswap::{self, Swapper};
use crate::deploy::observe::Observer;
use crate::deploy::schedule::{in_order, Ran};
use crate::deploy::wait::SystemClock;
use crate::deploy::{
    AssumeYes, Confirm, Desired, Engine, Method, Outcome, PlanAction, StackPlan, StackReport,
};
use crate::exit::ExitStatus;
use crate::output::Printer;
use crate::publish::PublishReport;
use crate::render::Rendered;
use crate::ui::progress::{Mode, Progress};
use crate::ui::prompt::TerminalConfirm;
use crate::ui::timings;
use anyhow::Context;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// What `deploy` did.
#[derive(Debug, Serialize)]
pub struct DeployReport {
    /// Environment.
    pub env: String,
    /// How templates were applied.
    pub method: Method,
    /// The function artefacts: uploaded or already there.
    pub artefacts: Option<PublishReport>,
    /// The services' images: pushed or already there, by digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images: Option<crate::image::project::ImagePublishReport>,
    /// One entry per selected stack, in dependency order.
    pub stacks: Vec<StackReport>,
    /// The secrets of the deployed stacks that were created outside their
    /// templates (emulator) or still need their value set (external).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretState>,
    /// The local servers of the environment's bindings (`local:`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<crate::servers::Running>,
    /// Each database's migrations: applied now, or pending and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<crate::deploy::databases::MigrationState>,
    /// With `--wait-healthy`, after a successful deploy: the last health
    /// run of the wait (schema `stackctl.health/v1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::Report>,
}

/// A secret `deploy` created or found without a value. Never its value.
#[derive(Debug, Clone, Serialize)]
pub struct SecretState {
    /// Its stack.
    pub stack: String,
    /// Resource key.
    pub key: String,
    /// The secret's name.
    pub name: String,
    /// Created now through the Secrets Manager API (emulator environments).
    pub created: bool,
    /// It has no value yet: set it with `set_with`.
    pub needs_value: bool,
    /// The command that sets its value from a file, when it needs one.
    pub set_with: Option<String>,
}

impl DeployReport {
    /// Success unless a stack failed or was skipped; after a successful
    /// deploy with `--wait-healthy`, health's status (1 a check failed, 5
    /// some check could not be made).
    pub fn status(&self) -> ExitStatus {
        match (crate::deploy::exit_status(&self.stacks), &self.health) {
            (ExitStatus::Success, Some(health)) => health.status(false),
            (deployed, _) => deployed,
        }
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
                    Outcome::HotSwapped => "hot-swapped",
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
        for secret in &self.secrets {
            if secret.created {
                writeln!(
                    f,
                    "secret {}: created through the Secrets Manager API ({})",
                    secret.name,
                    if secret.needs_value {
                        "empty"
                    } else {
                        "generated value"
                    }
                )?;
            }
            if let Some(cmd) = &secret.set_with {
                writeln!(
                    f,
                    "secret {} has no value yet; set it from a file, so it stays out of shell history and logs:\n    {cmd}",
                    secret.name
                )?;
            }
        }
        for server in &self.servers {
            if let Some(note) = server.note() {
                writeln!(f, "{note}")?;
            }
        }
        for m in &self.migrations {
            for file in &m.applied {
                writeln!(
                    f,
                    "migration {} applied to {}.{}",
                    file.display(),
                    m.stack,
                    m.database
                )?;
            }
            if !m.pending.is_empty() {
                writeln!(
                    f,
                    "{} migration{} of {}.{} not applied",
                    m.pending.len(),
                    if m.pending.len() == 1 { "" } else { "s" },
                    m.stack,
                    m.database
                )?;
                if let Some(note) = &m.note {
                    for line in note.lines() {
                        writeln!(f, "    {line}")?;
                    }
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
        )?;
        if let Some(health) = &self.health {
            write!(f, "\n\n{health}")?;
        }
        Ok(())
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
    hotswap: bool,
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
        hotswap,
        hotswap_protected,
        wait_healthy,
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
        hotswap: hotswap || hotswap_protected,
    };
    let scope = Scope::load(root, &settings.env, &settings.stacks)?;
    timings::lap("load, validate and render the project");
    if settings.hotswap && scope.environment().protected && !hotswap_protected {
        return Err(crate::exit::UsageError::new(format!(
            "--hotswap is refused in the protected environment `{}`: the functions would run code their stacks do not name
hint: deploy without --hotswap, or pass --hotswap-protected if you mean it",
            settings.env
        ))
        .into());
    }
    let rt = runtime()?;
    let (sdk, built) = scope.connect_and_build(settings.endpoint.as_deref(), printer, &rt)?;
    // The images of the selected stacks' services: built, pushed (the
    // local registry, or ECR where the repository exists), named by digest.
    let images = crate::image::project::of_stacks(
        crate::image::project::service_images(&scope.project),
        &scope.stacks,
    );
    let built_images = crate::image::project::build_images(
        &scope.project.root,
        &images,
        &scope.rendered,
        printer,
    )?
    .images;
    let pushed = rt.block_on(crate::image::project::publish_images(
        &scope.project,
        &scope.env,
        &sdk,
        &built_images,
        &scope.rendered,
    ))?;
    // Quiet when every image was already there, as for function zips.
    let noteworthy = |p: &crate::image::project::ImagePublishReport| {
        p.pushed() > 0 || p.started.is_some() || !p.waiting().is_empty()
    };
    let unpushable = pushed.unpushable.is_some();
    if noteworthy(&pushed) {
        printer.note(&pushed);
    }
    let mut report = rt.block_on(deploy(
        &scope,
        &settings,
        &sdk,
        built.clone(),
        &pushed.parameters,
    ))?;
    // An ECR repository is made by its stack: a service deployed for the
    // first time waits for its image (the `<Key>Image` parameter is empty,
    // its task definition and service are left out); now that the
    // repository exists, push and deploy again with the digest.
    let mut pushed = pushed;
    if !unpushable && !pushed.waiting().is_empty() && report.status() == ExitStatus::Success {
        pushed = rt.block_on(crate::image::project::publish_images(
            &scope.project,
            &scope.env,
            &sdk,
            &built_images,
            &scope.rendered,
        ))?;
        printer.note(&pushed);
        if !pushed.parameters.is_empty() {
            report = rt.block_on(deploy(&scope, &settings, &sdk, built, &pushed.parameters))?;
        }
    }
    if !pushed.services.is_empty() {
        report.images = Some(pushed);
    }
    timings::lap("AWS calls (publish, deploy)");
    // --wait-healthy: health's wait over the deployed stacks, when the
    // deploy itself succeeded.
    if let Some(limit) = wait_healthy {
        if report.status() == ExitStatus::Success {
            let mut health = rt.block_on(super::health::check(
                &scope,
                &sdk,
                &super::health::after_deploy(),
                Some(limit),
                false,
                Mode::detect(settings.quiet),
            ));
            timings::lap("health checks (--wait-healthy)");
            health.verbose = settings.verbose;
            report.health = Some(health);
        }
    }
    Ok(report)
}

/// One stack planned: what to deploy and what that will do.
struct Planned {
    desired: Desired,
    plan: StackPlan,
}

/// What planning gave for one stack.
enum PlanResult {
    Planned(Box<Planned>),
    /// The report, and the error's kind where it was CloudFormation's.
    Failed(StackReport, Option<ErrorKind>),
}

async fn deploy(
    scope: &Scope,
    s: &Settings,
    sdk: &aws_config::SdkConfig,
    built: Vec<crate::build::BuiltFunction>,
    images: &BTreeMap<String, BTreeMap<String, String>>,
) -> anyhow::Result<DeployReport> {
    let e = scope.environment();
    let store = S3Artefacts::new(sdk);
    let cfn = &SdkCloudFormation::new(sdk);
    let functions = SdkFunctions::new(sdk);
    let bucket = e.artefact_bucket(&scope.project.file.project, &scope.env);
    // The code keys come from the build (fingerprints): what each stack
    // would deploy is known before anything is uploaded, and only the
    // functions of stacks that change are published, after the question.
    let mut code = crate::publish::code_parameters(&bucket, &built, &scope.rendered, &scope.env);
    // The services' images, by digest, as pushed before this run.
    for (stack, params) in images {
        code.entry(stack.clone())
            .or_default()
            .extend(params.clone());
    }
    // The hot-swap markers a normal deploy reconciles, read beside planning.
    let marked = async {
        if built.is_empty() {
            return Ok(BTreeMap::new());
        }
        hotswap::markers(&store, &bucket).await
    };
    // Templates too large to pass inline go to the artefact bucket first.
    let mut sources = BTreeMap::new();
    for stack in &scope.stacks {
        let source = template_source(&store, &bucket, &e.region, scope.rendered(stack)).await?;
        sources.insert(stack.clone(), source);
    }
    let clock = SystemClock::default();
    let progress = Progress::new(Mode::detect(s.quiet), s.verbose);
    let engine = Engine {
        cfn,
        clock: &clock,
        observer: &progress,
        confirm: &AssumeYes,
    };
    let method = s
        .method
        .unwrap_or_else(|| e.method(e.endpoint(s.endpoint.as_deref()).as_deref()));
    let upstream = Upstream::new(cfn, &scope.rendered);
    let dependencies = scope.dependencies();
    let apply = Apply {
        method,
        hotswap: s.hotswap,
        termination_protection: e.protect_stacks(),
    };
    let desired_of = |stack: &str, params: BTreeMap<String, String>| -> Desired {
        desired::desired(scope.rendered(stack), sources[stack].clone(), params, apply)
    };

    // 1. Plan every stack: nothing changes yet.
    let planned: RefCell<BTreeMap<String, StackPlan>> = RefCell::new(BTreeMap::new());
    let plan_work = in_order(
        &scope.stacks,
        &dependencies,
        s.concurrency,
        |r: &PlanResult| matches!(r, PlanResult::Planned(_)),
        |stack| {
            let (engine, upstream, code, planned) = (&engine, &upstream, &code, &planned);
            let desired_of = &desired_of;
            async move {
                let r = scope.rendered(&stack);
                // Inputs that come from stacks this run changes are known
                // only after those deploy.
                let known_after: Vec<String> = r
                    .output_parameters
                    .values()
                    .map(|(source, _)| source.clone())
                    .filter(|source| {
                        planned
                            .borrow()
                            .get(source)
                            .is_some_and(StackPlan::changes_anything)
                    })
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let result = async {
                    let inputs = if known_after.is_empty() {
                        Inputs::Required
                    } else {
                        Inputs::AfterDeploy
                    };
                    let code = CodeKeys::Built(code.get(&stack));
                    let params = upstream.parameters(r, code, inputs, &scope.env).await?;
                    let d = desired_of(&stack, params);
                    let mut plan = engine.plan(&d, known_after.is_empty()).await?;
                    plan.known_after = known_after;
                    anyhow::Ok((d, plan))
                }
                .await;
                match result {
                    Ok((desired, plan)) => {
                        if let (false, Some(i)) = (plan.changes_anything(), &plan.info) {
                            upstream.record(&stack, i.outputs.clone());
                        }
                        planned.borrow_mut().insert(stack.clone(), plan.clone());
                        PlanResult::Planned(Box::new(Planned { desired, plan }))
                    }
                    Err(err) => {
                        let kind = err.downcast_ref::<CfnError>().map(|e| e.kind);
                        let mut report = StackReport::new(&stack, &r.stack_name);
                        report.message = Some(format!("{err:#}"));
                        PlanResult::Failed(report, kind)
                    }
                }
            }
        },
    );
    let planning = async { tokio::join!(plan_work, marked) };
    let (plans, marked) = tokio::select! {
        results = planning => results,
        _ = tokio::signal::ctrl_c() => {
            progress.abandon();
            return Err(interrupted(&progress, &scope.env).into());
        }
    };
    let mut ready: BTreeMap<String, Planned> = BTreeMap::new();
    let mut failed: BTreeMap<String, StackReport> = BTreeMap::new();
    let mut fatal = None;
    for (stack, ran) in plans {
        match ran {
            Ran::Done(PlanResult::Planned(p)) => {
                ready.insert(stack, *p);
            }
            Ran::Done(PlanResult::Failed(report, kind)) => {
                // No credentials, no endpoint: one error for the command,
                // not the same one for every stack.
                if matches!(kind, Some(ErrorKind::Credentials | ErrorKind::Unreachable))
                    && fatal.is_none()
                {
                    fatal = report.message.clone();
                }
                failed.insert(stack, report);
            }
            Ran::Skipped { because } => {
                let name = &scope.rendered(&stack).stack_name;
                failed.insert(
                    stack.clone(),
                    StackReport::skipped(
                        &stack,
                        name,
                        format!("not planned: planning `{because}`, which it depends on, failed"),
                    ),
                );
            }
        }
    }
    if let Some(message) = fatal {
        progress.abandon();
        for p in ready.values() {
            engine.discard(&p.plan).await;
        }
        anyhow::bail!(message);
    }
    for report in failed.values() {
        progress.end(&report.stack, &crate::deploy::summary(report), false);
    }
    let markers = marked?;
    let changing: Vec<&StackPlan> = scope
        .stacks
        .iter()
        .filter_map(|st| ready.get(st))
        .map(|p| &p.plan)
        .filter(|p| p.changes_anything())
        .collect();
    let env_plan = EnvironmentPlan {
        env: &scope.env,
        plans: scope
            .stacks
            .iter()
            .filter_map(|st| ready.get(st))
            .map(|p| &p.plan)
            .collect(),
    };

    // 2. Show the whole plan, and ask once.
    let stop = if !failed.is_empty() {
        Some(Outcome::Skipped)
    } else if changing.is_empty() {
        None
    } else {
        if !s.quiet || !s.yes {
            progress.suspend(&mut || eprintln!("{env_plan}"));
        }
        if s.yes {
            None
        } else if !crate::ui::prompt::interactive() {
            // Nothing to ask on: nothing is changed.
            for p in ready.values() {
                engine.discard(&p.plan).await;
            }
            return Err(crate::exit::UsageError::new(
                "deploy asks for confirmation, and stdin is not a terminal; nothing was changed\nhint: pass --yes to go ahead without asking (in CI, say)",
            )
            .into());
        } else {
            let terminal = TerminalConfirm { view: &progress };
            let yes = terminal.confirm(&env_plan.question())
                && env_plan
                    .broadening_question()
                    .is_none_or(|q| terminal.confirm(&q));
            (!yes).then_some(Outcome::Declined)
        }
    };
    if let Some(outcome) = stop {
        let mut stacks = Vec::new();
        for stack in &scope.stacks {
            if let Some(report) = failed.remove(stack) {
                stacks.push(report);
                continue;
            }
            let Some(p) = ready.remove(stack) else {
                continue;
            };
            let report = if !p.plan.changes_anything() {
                engine.apply(&p.desired, p.plan).await
            } else if outcome == Outcome::Declined {
                engine.decline(&p.desired, p.plan).await
            } else {
                engine.discard(&p.plan).await;
                StackReport::skipped(
                    stack,
                    &p.plan.stack_name,
                    "not deployed: the plan of another stack failed, so nothing was changed"
                        .to_string(),
                )
            };
            stacks.push(report);
        }
        return Ok(DeployReport {
            env: scope.env.clone(),
            method,
            artefacts: None,
            images: None,
            stacks,
            secrets: Vec::new(),
            servers: Vec::new(),
            migrations: Vec::new(),
            health: None,
        });
    }

    // 3. Publish the code of the stacks that change (a hot-swap's too).
    let changing: std::collections::BTreeSet<&String> = ready
        .iter()
        .filter(|(_, p)| p.plan.changes_anything())
        .map(|(stack, _)| stack)
        .collect();
    let needed: Vec<crate::build::BuiltFunction> = built
        .iter()
        .filter(|b| b.functions.iter().any(|u| changing.contains(&u.stack)))
        .cloned()
        .collect();
    let artefacts = if needed.is_empty() {
        None
    } else {
        let published = crate::publish::publish(
            &store,
            &scope.project.root,
            &scope.env,
            &bucket,
            &e.region,
            &needed,
            &scope.rendered,
        )
        .await
        .context("publishing the functions");
        match published {
            Ok(p) => Some(p),
            Err(err) => {
                for p in ready.values() {
                    engine.discard(&p.plan).await;
                }
                return Err(err);
            }
        }
    };

    // 4. Carry the plan out, in dependency order.
    let ready = RefCell::new(ready);
    let swapper = Swapper {
        cfn,
        functions: &functions,
        store: &store,
        clock: &clock,
        observer: &progress,
        bucket: &bucket,
    };
    let work = in_order(
        &scope.stacks,
        &dependencies,
        s.concurrency,
        |r: &StackReport| r.outcome.ok(),
        |stack| {
            let (engine, upstream, code, ready) = (&engine, &upstream, &code, &ready);
            let (swapper, markers, desired_of) = (&swapper, &markers, &desired_of);
            async move {
                let r = scope.rendered(&stack);
                let Some(Planned { desired, plan }) = ready.borrow_mut().remove(&stack) else {
                    return StackReport::skipped(&stack, &r.stack_name, "not planned".into());
                };
                let mut report = match &plan.action {
                    PlanAction::Hotswap { swaps } => {
                        swapper
                            .apply(&desired, &plan, swaps, markers.get(&r.stack_name))
                            .await
                    }
                    _ if !plan.known_after.is_empty() => {
                        // Now that the stacks it takes outputs from are
                        // deployed, its inputs are known.
                        let again = async {
                            let code = CodeKeys::Built(code.get(&stack));
                            let params = upstream
                                .parameters(r, code, Inputs::Required, &scope.env)
                                .await?;
                            let d = desired_of(&stack, params);
                            let plan = engine
                                .plan(&d, true)
                                .await
                                .map_err(|e| anyhow::anyhow!(e.message))?;
                            anyhow::Ok((d, plan))
                        }
                        .await;
                        match again {
                            Ok((d, plan)) => engine.apply(&d, plan).await,
                            Err(err) => {
                                let mut report = StackReport::new(&stack, &r.stack_name);
                                report.message = Some(format!("{err:#}"));
                                report
                            }
                        }
                    }
                    _ => engine.apply(&desired, plan.clone()).await,
                };
                if let Some(note) = &plan.note {
                    report.message = Some(match report.message.take() {
                        Some(m) => format!("{note}\n{m}"),
                        None => note.clone(),
                    });
                }
                if report.outcome.ok() && report.outcome != Outcome::HotSwapped {
                    if let Some(marker) = markers.get(&r.stack_name) {
                        match swapper.reconcile(&desired, marker).await {
                            Ok(updated) => {
                                let what = if updated.is_empty() {
                                    "hot-swapped code now recorded in the stack".to_string()
                                } else {
                                    format!(
                                        "hot-swapped functions set back to the stack's code: {}",
                                        updated.join(", ")
                                    )
                                };
                                report.message = Some(match report.message.take() {
                                    Some(m) => format!("{m}\n{what}"),
                                    None => what,
                                });
                            }
                            Err(err) => {
                                report.outcome = Outcome::Failed;
                                report.message = Some(format!("reconciling the hot-swap: {err:#}"));
                            }
                        }
                    }
                }
                if report.outcome.ok() {
                    upstream.record(&stack, report.outputs.clone());
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
    let mut stacks: Vec<StackReport> = results
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
    let secrets = settle_secrets(scope, sdk, s.endpoint.as_deref(), &mut stacks).await;
    let settled = crate::deploy::databases::settle(scope, sdk, &mut stacks).await;
    Ok(DeployReport {
        env: scope.env.clone(),
        method,
        artefacts,
        images: None,
        stacks,
        secrets,
        servers: settled.servers,
        migrations: settled.migrations,
        health: None,
    })
}

/// After the stacks deployed: creates the secrets an emulator environment
/// gets outside its templates, and finds the external secrets still
/// without a value. A secret that cannot be created fails its stack.
async fn settle_secrets(
    scope: &Scope,
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
    stacks: &mut [StackReport],
) -> Vec<SecretState> {
    let mut states: Vec<SecretState> = Vec::new();
    let any = stacks.iter().any(|r| {
        let rd = scope.rendered(&r.stack);
        r.outcome.ok() && !(rd.local_secrets.is_empty() && rd.external_secrets.is_empty())
    });
    if !any {
        return states;
    }
    let e = scope.environment();
    let sm = crate::aws::secrets::SdkSecrets::new(sdk);
    let set_with = |name: &str| {
        let mut cmd = format!(
            "aws secretsmanager put-secret-value --region {} --secret-id {name} --secret-string file://VALUE_FILE",
            e.region
        );
        if let Some(url) = e.endpoint(endpoint) {
            cmd.push_str(&format!(" --endpoint-url {url}"));
        }
        cmd
    };
    for report in stacks.iter_mut().filter(|r| r.outcome.ok()) {
        let rd = scope.rendered(&report.stack);
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        for l in &rd.local_secrets {
            match sm.ensure(l).await {
                Ok(created) => states.push(SecretState {
                    stack: report.stack.clone(),
                    key: l.key.clone(),
                    name: l.name.clone(),
                    created,
                    needs_value: false,
                    set_with: None,
                }),
                Err(err) => problems.push(format!("{err:#}")),
            }
        }
        for x in &rd.external_secrets {
            match sm.has_value(&x.name).await {
                Ok(Some(false)) => {
                    let cmd = set_with(&x.name);
                    match states
                        .iter_mut()
                        .find(|s| s.stack == report.stack && s.key == x.key)
                    {
                        Some(state) => {
                            state.needs_value = true;
                            state.set_with = Some(cmd);
                        }
                        None => states.push(SecretState {
                            stack: report.stack.clone(),
                            key: x.key.clone(),
                            name: x.name.clone(),
                            created: false,
                            needs_value: true,
                            set_with: Some(cmd),
                        }),
                    }
                }
                Ok(_) => {}
                // The stack deployed; only the check could not be made.
                Err(err) => notes.push(format!(
                    "could not check whether secret {} has a value: {err:#}",
                    x.name
                )),
            }
        }
        if !problems.is_empty() {
            report.outcome = Outcome::Failed;
        }
        problems.extend(notes);
        if !problems.is_empty() {
            let text = problems.join("\n");
            report.message = Some(match report.message.take() {
                Some(m) => format!("{m}\n{text}"),
                None => text,
            });
        }
    }
    states.retain(|s| s.created || s.needs_value);
    states
}

/// The plans of every stack of a deploy, shown before anything changes.
pub struct EnvironmentPlan<'a> {
    /// Environment.
    pub env: &'a str,
    /// The stacks' plans, in dependency order.
    pub plans: Vec<&'a StackPlan>,
}

impl EnvironmentPlan<'_> {
    /// The second question, when the plan broadens the access of deployed
    /// stacks: each broadening named. (A new stack's access is all new; its
    /// plan shows it, and it asks nothing more.)
    pub fn broadening_question(&self) -> Option<String> {
        let mut lines = Vec::new();
        for p in &self.plans {
            let Some(diff) = &p.diff else { continue };
            if diff.access != crate::diff::AccessChange::Broadens {
                continue;
            }
            for b in diff.broadening() {
                lines.push(format!("  - {}: {b}", p.stack));
            }
        }
        if lines.is_empty() {
            return None;
        }
        Some(format!(
            "This deploy broadens access:\n{}\nDeploy it anyway?",
            lines.join("\n")
        ))
    }

    /// The one question for the whole plan.
    pub fn question(&self) -> String {
        let changing = self.plans.iter().filter(|p| p.changes_anything()).count();
        format!(
            "Deploy these changes to {changing} stack{} in {}?",
            if changing == 1 { "" } else { "s" },
            self.env
        )
    }
}

impl fmt::Display for EnvironmentPlan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plan for {}:", self.env)?;
        for p in &self.plans {
            writeln!(f, "{p}")?;
        }
        let changing = self.plans.iter().filter(|p| p.changes_anything()).count();
        write!(
            f,
            "{changing} of {} stack{} would change",
            self.plans.len(),
            if self.plans.len() == 1 { "" } else { "s" }
        )
    }
}

/// The template inline, or, when it is too large for that, uploaded to
/// the artefact bucket under a content-addressed key and passed by URL.
/// This runs before the functions are published, so on a first deploy it
/// may be what creates the bucket.
async fn template_source<S: ArtefactStore>(
    store: &S,
    bucket: &str,
    region: &str,
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
        if !store.bucket_exists(bucket).await? {
            store.create_bucket(bucket, region).await?;
        }
        store
            .put(bucket, &key, r.template.clone().into_bytes())
            .await?;
    }
    Ok(TemplateSource::Url(store.url(bucket, &key)))
}
