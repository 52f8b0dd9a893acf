//! `stackctl destroy`: an environment's stacks deleted in reverse
//! dependency order, after everything that could stop the delete half-way
//! was checked and the user agreed. Protected environments need their name
//! as confirmation and keep their retained data; buckets that hold objects
//! are emptied only when asked; the artefact bucket stays unless asked.

use super::{interrupted, runtime, Scope};
use crate::aws::buckets::{Buckets, S3Buckets};
use crate::aws::cloudformation::SdkCloudFormation;
use crate::cli::{DestroyArgs, GlobalArgs, OutputFormat};
use crate::deploy::destroy::{
    Absent, BucketObjects, Consent, DestroyPlan, Kept, Options, StackToDelete,
};
use crate::deploy::wait::SystemClock;
use crate::deploy::{AssumeYes, Confirm, Engine, Outcome, StackReport};
use crate::exit::{Declined, ExitStatus};
use crate::output::Printer;
use crate::ui::progress::{Mode, Progress};
use crate::ui::prompt;
use serde::Serialize;
use std::fmt;
use std::path::Path;

/// What `destroy` did.
#[derive(Debug, Serialize)]
pub struct DestroyReport {
    /// Environment.
    pub env: String,
    /// Per stack, in the order they were deleted.
    pub stacks: Vec<StackReport>,
    /// Buckets emptied first.
    pub emptied: Vec<BucketObjects>,
    /// Resources left in place by their deletion policy.
    pub kept: Vec<Kept>,
    /// The artefact bucket, when --artefacts deleted it.
    pub artefact_bucket: Option<BucketObjects>,
    /// Secrets an emulator environment had outside its templates, deleted
    /// with their stacks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets_deleted: Vec<String>,
    /// The local image registry, stopped and emptied with the whole
    /// environment (`registry: {local: true}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<crate::servers::RegistryStopped>,
}

impl DestroyReport {
    /// Success unless a stack failed or was skipped.
    pub fn status(&self) -> ExitStatus {
        crate::deploy::exit_status(&self.stacks)
    }
}

impl fmt::Display for DestroyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.emptied {
            writeln!(
                f,
                "emptied s3://{} ({})",
                b.bucket,
                crate::diagnostics::count(b.objects, "object")
            )?;
        }
        let width = self
            .stacks
            .iter()
            .map(|s| s.stack_name.len())
            .max()
            .unwrap_or(0);
        for s in &self.stacks {
            writeln!(f, "{:width$}  {}", s.stack_name, crate::deploy::summary(s))?;
            if let Some(m) = &s.message {
                for line in m.lines() {
                    writeln!(f, "    {line}")?;
                }
            }
        }
        for k in &self.kept {
            writeln!(
                f,
                "kept {} {} ({}, DeletionPolicy Retain)",
                k.resource_type,
                k.physical_id.as_deref().unwrap_or(&k.logical_id),
                k.stack
            )?;
        }
        for name in &self.secrets_deleted {
            writeln!(f, "deleted secret {name} (made outside the template)")?;
        }
        if let Some(r) = &self.registry {
            let pid = r.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            writeln!(
                f,
                "stopped the image registry on 127.0.0.1:{}{pid} and removed its storage",
                r.port
            )?;
        }
        if let Some(a) = &self.artefact_bucket {
            writeln!(
                f,
                "deleted artefact bucket s3://{} ({})",
                a.bucket,
                crate::diagnostics::count(a.objects, "object")
            )?;
        }
        let deleted = self
            .stacks
            .iter()
            .filter(|s| s.outcome == Outcome::Deleted)
            .count();
        write!(
            f,
            "{deleted} stack{} deleted in {}",
            if deleted == 1 { "" } else { "s" },
            self.env
        )
    }
}

/// Settings of one destroy, resolved from the arguments.
struct Settings {
    options: Options,
    quiet: bool,
    verbose: bool,
    endpoint: Option<String>,
}

/// Destroys the selected stacks.
pub fn run(
    root: &Path,
    args: DestroyArgs,
    global: &GlobalArgs,
    printer: Printer,
) -> anyhow::Result<DestroyReport> {
    let DestroyArgs {
        env,
        stacks,
        empty_buckets,
        confirm_env,
        artefacts,
    } = args;
    let s = Settings {
        options: Options {
            empty_buckets,
            confirm_env,
            artefacts,
            yes: global.yes,
        },
        quiet: global.quiet || global.output == OutputFormat::Json,
        verbose: global.verbose,
        endpoint: global.endpoint_url.clone(),
    };
    let scope = Scope::load(root, &env, &stacks)?;
    s.options.check(&env, scope.environment().protected)?;
    // What would stop the delete is found first (read-only), so that a
    // full bucket is reported before the question a script cannot answer.
    runtime()?.block_on(destroy(&scope, &s, printer))
}

async fn destroy(scope: &Scope, s: &Settings, printer: Printer) -> anyhow::Result<DestroyReport> {
    let env = &scope.env;
    let sdk = scope.connect(s.endpoint.as_deref(), false, printer).await?;
    let cfn = SdkCloudFormation::new(&sdk);
    let buckets = S3Buckets::new(&sdk);

    // Find everything first: nothing is deleted when something would fail.
    let plan = crate::deploy::destroy::plan(&cfn, &buckets, scope, &s.options).await?;
    if plan.nothing_to_delete() {
        return Ok(DestroyReport {
            env: env.clone(),
            stacks: plan.absent.iter().map(not_deployed).collect(),
            emptied: Vec::new(),
            kept: Vec::new(),
            artefact_bucket: None,
            secrets_deleted: Vec::new(),
            registry: stop_registry(scope, true)?,
        });
    }
    confirm(&plan, &s.options, printer)?;

    let clock = SystemClock::default();
    let progress = Progress::new(Mode::detect(s.quiet), s.verbose);
    let engine = Engine {
        cfn: &cfn,
        clock: &clock,
        observer: &progress,
        confirm: &AssumeYes,
    };
    let work = async {
        let mut reports = Vec::new();
        let mut emptied = Vec::new();
        let mut failed = None;
        for f in &plan.stacks {
            if let Some(stack) = &failed {
                reports.push(StackReport::skipped(
                    &f.stack,
                    &f.name,
                    format!("not deleted: deleting `{stack}` failed first"),
                ));
                continue;
            }
            for b in &f.full {
                let n = buckets.empty(&b.bucket).await?;
                emptied.push(BucketObjects {
                    objects: n,
                    ..b.clone()
                });
            }
            let report = engine.destroy(&f.stack, &f.name, plan.protected).await;
            if !report.outcome.ok() {
                failed = Some(f.stack.clone());
            }
            reports.push(report);
        }
        anyhow::Ok((reports, emptied, failed))
    };
    let (mut reports, emptied, failed) = tokio::select! {
        r = work => r?,
        _ = tokio::signal::ctrl_c() => {
            progress.abandon();
            return Err(interrupted(&progress, env).into());
        }
    };
    reports.extend(plan.absent.iter().map(not_deployed));
    let mut deleted_artefacts = None;
    if let (Some(artefact_bucket), None) = (&plan.artefact_bucket, &failed) {
        if buckets.count(artefact_bucket, 1).await?.is_some() {
            let objects = buckets.empty(artefact_bucket).await?;
            buckets.delete(artefact_bucket).await?;
            deleted_artefacts = Some(BucketObjects {
                stack: None,
                bucket: artefact_bucket.clone(),
                objects,
            });
        } else {
            printer.note(format!("artefact bucket {artefact_bucket} does not exist"));
        }
    }
    // Secrets made outside the templates (emulator environments) go with
    // their stacks, unless retained.
    let mut secrets_deleted = Vec::new();
    let mut kept_secrets = Vec::new();
    let deleted = |stack: &str| {
        reports
            .iter()
            .any(|r| r.stack == stack && r.outcome == Outcome::Deleted)
    };
    let deleted_stacks: Vec<&StackToDelete> =
        plan.stacks.iter().filter(|f| deleted(&f.stack)).collect();
    if deleted_stacks.iter().any(|f| !f.local_secrets.is_empty()) {
        let sm = crate::aws::secrets::SdkSecrets::new(&sdk);
        for f in &deleted_stacks {
            for l in &f.local_secrets {
                if l.retain {
                    kept_secrets.push(Kept {
                        stack: f.stack.clone(),
                        logical_id: crate::names::pascal(&l.key),
                        resource_type: "AWS::SecretsManager::Secret".into(),
                        physical_id: Some(l.name.clone()),
                    });
                } else if sm.delete_now(&l.name).await? {
                    secrets_deleted.push(l.name.clone());
                }
            }
        }
    }
    // Only what deleted stacks left behind is kept; a stack that was not
    // deleted keeps everything, and says why.
    let kept = plan
        .stacks
        .into_iter()
        .flat_map(|f| f.kept)
        .filter(|k| deleted(&k.stack))
        .chain(kept_secrets)
        .collect();
    Ok(DestroyReport {
        env: env.clone(),
        stacks: reports,
        emptied,
        kept,
        artefact_bucket: deleted_artefacts,
        secrets_deleted,
        registry: stop_registry(scope, failed.is_none())?,
    })
}

/// Stops the environment's local image registry and removes its storage
/// when the whole environment is gone (every stack selected, none failed):
/// its images belong to every stack's services.
fn stop_registry(
    scope: &Scope,
    all_deleted: bool,
) -> anyhow::Result<Option<crate::servers::RegistryStopped>> {
    let project = &scope.project;
    let whole = project.file.stacks.keys().all(|s| scope.stacks.contains(s));
    let port = scope
        .environment()
        .registry
        .as_ref()
        .and_then(|r| r.local_port());
    match port {
        Some(port) if whole && all_deleted => {
            let state = project.root.join(".stackctl");
            let stopped = crate::servers::stop_registry(&state, port)?;
            Ok((stopped.pid.is_some() || stopped.storage_removed).then_some(stopped))
        }
        _ => Ok(None),
    }
}

fn not_deployed(a: &Absent) -> StackReport {
    let mut r = StackReport::new(&a.stack, &a.name);
    r.outcome = Outcome::NotDeployed;
    r
}

/// Gets the user's agreement to `plan`, or checks the flags that stand for
/// it; `plan` is shown either way.
fn confirm(plan: &DestroyPlan, options: &Options, printer: Printer) -> anyhow::Result<()> {
    let env = &plan.env;
    match plan.consent(options, prompt::interactive())? {
        Consent::Given => {
            printer.note(plan);
            Ok(())
        }
        Consent::TypeName => {
            eprintln!("{plan}");
            if prompt::typed(&format!("`{env}` is a protected environment."), env) {
                Ok(())
            } else {
                Err(Declined::new("not confirmed: nothing was deleted").into())
            }
        }
        Consent::Ask => {
            eprintln!("{plan}");
            let terminal = prompt::TerminalConfirm {
                view: &crate::deploy::observe::Silent,
            };
            if terminal.confirm("Delete these stacks?") {
                Ok(())
            } else {
                Err(Declined::new("not confirmed: nothing was deleted").into())
            }
        }
    }
}
